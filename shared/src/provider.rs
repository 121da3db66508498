//! The seam where providers plug in: each provider brings a [`ProviderIntake`] (its webhook side) and a
//! [`ProviderModule`] (its trigger decisions and API client); [`crate::registry`] loads them from the
//! configuration. The handlers never name a provider.

use std::{borrow::Cow, sync::Arc};

use async_trait::async_trait;

use crate::{
    clock::Clock,
    domain::{Envelope, Provider, Trigger},
    error::{PortError, ProcessError, WebhookError},
    http::{HttpReply, HttpRequest},
    ports::{Secrets, SourceClient},
    secret::SecretString,
};

/// What a verified webhook request amounts to.
#[derive(Debug)]
pub enum Intake {
    /// Answer directly and enqueue nothing (GitHub `ping`, Slack `url_verification`).
    Reply(HttpReply),
    /// Verified, but can never trigger anything: answer 2xx and enqueue nothing.
    Ignore(&'static str),
    /// Verified and possibly a trigger: claim the delivery and enqueue it.
    Accept(Envelope),
}

/// The worker's verdict on one envelope.
#[derive(Debug)]
pub enum Decision {
    /// Not a trigger (edit, bot, own comment, no mention, …); the reason is logged.
    Ignore(&'static str),
    Run(Box<Trigger>),
    /// Not a run yet, but the person should hear back once (e.g. "which repository?"). `key` makes the notice
    /// one-shot across retries.
    Notice {
        source: Box<crate::domain::SourceRef>,
        key: String,
        text: String,
    },
}

/// A provider's webhook side, all a webhook function holds: verify a request and say what it amounts to. It
/// makes no outbound calls, so a webhook function links no API client.
#[async_trait]
pub trait ProviderIntake: Send + Sync {
    fn provider(&self) -> Provider;
    /// Verify the request on its raw bytes (401 on failure), then parse it. `now` is epoch seconds.
    async fn intake(&self, request: &HttpRequest<'_>, now: u64) -> Result<Intake, WebhookError>;
    /// Headers to send with a rejected webhook, e.g. asking the provider not to redeliver what a retry cannot
    /// fix. The default sends none.
    fn rejection_headers(&self, _rejection: &WebhookError) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// The answer a verified request gets, whether queued, ignored or a duplicate, when the provider asks for a
    /// particular one (Slack's interactivity: 200 with an empty body). The default is Hookline's own (202
    /// `accepted`, 202 `ignored`, 200 `duplicate`).
    fn acknowledgement(&self, _request: &HttpRequest<'_>) -> Option<HttpReply> {
        None
    }
}

/// A provider's worker side: decide what a queued envelope means, and talk back through its API client.
#[async_trait]
pub trait ProviderModule: Send + Sync {
    fn provider(&self) -> Provider;
    /// Fill in, before [`ProviderModule::decide`], what the delivery did not carry and only an API read can
    /// give (Jira comment events lack the issue description). Runs in the worker, where the API clients are, so
    /// the webhook path stays free of outbound calls; a transient failure retries through the queue. The
    /// default needs nothing.
    async fn enrich<'a>(&self, envelope: &'a Envelope) -> Result<Cow<'a, Envelope>, ProcessError> {
        Ok(Cow::Borrowed(envelope))
    }
    /// Decide whether a queued envelope is a trigger. Pure: no I/O.
    fn decide(&self, envelope: &Envelope) -> Result<Decision, ProcessError>;
    /// The provider's API client.
    fn source(&self) -> &dyn SourceClient;
    /// Text telling an unlinked person how to get linked (Markdown in the provider's flavour).
    fn unlinked_notice(&self, trigger: &Trigger) -> String;
}

/// A provider's webhook side: its settings and the store its verification secrets are read from. Each provider
/// implements [`ProviderIntake`] for its own `WebhookSide<Config>` (in its `verify.rs`).
pub struct WebhookSide<C> {
    pub(crate) config: C,
    pub(crate) secrets: Arc<dyn Secrets>,
}

impl<C> WebhookSide<C> {
    pub fn new(config: C, secrets: Arc<dyn Secrets>) -> Self {
        Self { config, secrets }
    }
}

/// A provider's trigger rules, implemented by its configuration type (in its `module.rs`): the event type its
/// webhook side queues, the pure decision over it, and how an unlinked person is addressed. [`WorkerSide`] turns
/// them into a [`ProviderModule`], so parsing the queued payload and the notice's wording live here once.
pub trait WorkerRules: Send + Sync + 'static {
    const PROVIDER: Provider;
    /// The trimmed event as the webhook side queued it.
    type Event: serde::de::DeserializeOwned;
    /// Whether `event` (the envelope's payload) is a trigger. Pure: no I/O.
    fn decide(&self, envelope: &Envelope, event: Self::Event) -> Result<Decision, ProcessError>;
    /// Who the unlinked-person notice speaks to (`@alice`) and which of their accounts is meant
    /// (`GitLab account on gitlab.com`).
    fn unlinked(&self, trigger: &Trigger) -> (String, String);
}

/// What a worker side reads before deciding, beyond the delivery ([`ProviderModule::enrich`]); `()` reads
/// nothing.
#[async_trait]
pub trait Enrich: Send + Sync {
    async fn enrich<'a>(&self, envelope: &'a Envelope) -> Result<Cow<'a, Envelope>, ProcessError>;
}

#[async_trait]
impl Enrich for () {
    async fn enrich<'a>(&self, envelope: &'a Envelope) -> Result<Cow<'a, Envelope>, ProcessError> {
        Ok(Cow::Borrowed(envelope))
    }
}

/// The queued payload as the provider's event type.
pub(crate) fn parse_event<R: WorkerRules>(envelope: &Envelope) -> Result<R::Event, ProcessError> {
    serde_json::from_str(envelope.payload.get())
        .map_err(|e| ProcessError::Permanent(format!("{} payload does not parse: {e}", R::PROVIDER)))
}

/// `envelope` carrying `event` (as enriched) instead of its queued payload.
pub(crate) fn with_event<'a, R: WorkerRules>(
    envelope: &Envelope,
    event: &R::Event,
) -> Result<Cow<'a, Envelope>, ProcessError>
where
    R::Event: serde::Serialize,
{
    let payload = serde_json::to_string(event)
        .ok()
        .and_then(|s| serde_json::value::RawValue::from_string(s).ok())
        .ok_or_else(|| ProcessError::Permanent(format!("{} payload does not serialize", R::PROVIDER)))?;
    Ok(Cow::Owned(Envelope {
        payload,
        ..envelope.clone()
    }))
}

/// A provider's worker side: its rules (the configuration), its API client, whatever it reads before deciding
/// (`extra`, e.g. Jira's issue reader), and the text that ends the notice for unlinked people.
pub struct WorkerSide<C, X = ()> {
    pub(crate) config: C,
    pub(crate) client: Arc<dyn SourceClient>,
    pub(crate) extra: X,
    pub(crate) link_help: String,
}

impl<C, X> WorkerSide<C, X> {
    pub fn new(config: C, client: Arc<dyn SourceClient>, extra: X, link_help: String) -> Self {
        Self {
            config,
            client,
            extra,
            link_help,
        }
    }
}

#[async_trait]
impl<C: WorkerRules, X: Enrich> ProviderModule for WorkerSide<C, X> {
    fn provider(&self) -> Provider {
        C::PROVIDER
    }

    async fn enrich<'a>(&self, envelope: &'a Envelope) -> Result<Cow<'a, Envelope>, ProcessError> {
        self.extra.enrich(envelope).await
    }

    fn decide(&self, envelope: &Envelope) -> Result<Decision, ProcessError> {
        self.config.decide(envelope, parse_event::<C>(envelope)?)
    }

    fn source(&self) -> &dyn SourceClient {
        self.client.as_ref()
    }

    fn unlinked_notice(&self, trigger: &Trigger) -> String {
        let (addressee, account) = self.config.unlinked(trigger);
        format!(
            "{addressee} I can't start OpenHands for you yet: your {account} is not linked to an OpenHands \
             identity. {}",
            self.link_help
        )
    }
}

/// What every API client is built from: the one HTTP client for all outbound calls, the secret store its
/// credentials are read from, and the clock.
#[derive(Clone)]
pub struct Outbound {
    pub http: reqwest::Client,
    pub secrets: Arc<dyn Secrets>,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").finish_non_exhaustive()
    }
}

/// What a provider's worker side is built from: what its API client needs, and the text that tells unlinked
/// people how to get linked.
#[derive(Clone)]
pub struct Wiring {
    pub outbound: Outbound,
    pub link_help: String,
}

impl Wiring {
    /// A provider's worker side around its API client, for the registry.
    pub fn module<C, X>(&self, config: &C, client: Arc<dyn SourceClient>, extra: X) -> Arc<dyn ProviderModule>
    where
        C: WorkerRules + Clone,
        X: Enrich + 'static,
    {
        Arc::new(WorkerSide::new(
            config.clone(),
            client,
            extra,
            self.link_help.clone(),
        ))
    }
}

/// Why a verified body could not be read as the provider's payload.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PayloadError {
    /// Not JSON.
    Json,
    /// JSON, without a field the trimmed event needs.
    Missing(&'static str),
}

impl From<PayloadError> for WebhookError {
    fn from(err: PayloadError) -> Self {
        match err {
            PayloadError::Json => WebhookError::Malformed("malformed JSON"),
            PayloadError::Missing(_) => WebhookError::Malformed("unexpected payload shape"),
        }
    }
}

/// A trimmed event as the queued envelope's payload.
pub fn queued_payload(
    event: &impl serde::Serialize,
) -> Result<Box<serde_json::value::RawValue>, WebhookError> {
    serde_json::value::to_raw_value(event).map_err(|_| WebhookError::Malformed("unexpected payload shape"))
}

/// The secret that verifies a provider's webhooks. A missing one is the operator's to fix, not the sender's: the
/// request gets a 5xx (so the provider redelivers once it is set), never a 401. `what` names it in the error.
pub async fn verification_secret(
    secrets: &dyn Secrets,
    name: &str,
    what: &'static str,
) -> Result<SecretString, WebhookError> {
    stored_secret(secrets, name, what).await.map_err(|err| match err {
        PortError::NotFound { .. } => WebhookError::Unavailable(PortError::permanent(what, "not configured")),
        other => WebhookError::Unavailable(other),
    })
}

/// Verify a request with the secret `name`: `check` against the stored value, and once more against a freshly
/// read one when it does not match (a secret rotated since it was cached), so a rotation costs no minutes of
/// 401s; the store decides how often it reads again.
pub async fn verify_with_secret(
    secrets: &dyn Secrets,
    name: &str,
    what: &'static str,
    check: impl Fn(&SecretString) -> Result<(), WebhookError>,
) -> Result<(), WebhookError> {
    let secret = verification_secret(secrets, name, what).await?;
    check_with_reread(secrets, name, &secret, check).await
}

/// Verify a `sha256=<hex>` HMAC of the raw body in `header` (GitHub's `X-Hub-Signature-256`, Jira's
/// `X-Hub-Signature`) with the secret `name`.
pub async fn verify_hub_signature(
    secrets: &dyn Secrets,
    name: &str,
    what: &'static str,
    request: &HttpRequest<'_>,
    header: &str,
) -> Result<(), WebhookError> {
    verify_with_secret(secrets, name, what, |secret| {
        crate::verify::prefixed_sha256(secret.expose().as_bytes(), request.body, request.header(header))
            .map_err(|e| WebhookError::Unauthorized(e.reason()))
    })
    .await
}

/// `check` against `secret` (as read from `secrets` under `name`), and against a freshly read value when it
/// does not match; see [`verify_with_secret`].
pub async fn check_with_reread(
    secrets: &dyn Secrets,
    name: &str,
    secret: &SecretString,
    check: impl Fn(&SecretString) -> Result<(), WebhookError>,
) -> Result<(), WebhookError> {
    match check(secret) {
        Err(WebhookError::Unauthorized(reason)) => match secrets.reread(name).await {
            Ok(Some(fresh)) if fresh.expose() != secret.expose() && !fresh.expose().trim().is_empty() => {
                check(&fresh)
            }
            _ => Err(WebhookError::Unauthorized(reason)),
        },
        other => other,
    }
}

/// A verification secret as stored, refusing an empty one: an HMAC keyed with nothing, or a token compared with
/// nothing, verifies whatever anyone sends, so empty is an operator's mistake to report, never a pass.
pub async fn stored_secret(
    secrets: &dyn Secrets,
    name: &str,
    what: &'static str,
) -> Result<SecretString, PortError> {
    let secret = secrets.get(name).await?;
    if secret.expose().trim().is_empty() {
        return Err(PortError::permanent(what, "is empty"));
    }
    Ok(secret)
}

/// The tenant a webhook request is for, from its path: `…/webhooks/{provider}/{tenant}` (any base path before,
/// one trailing slash allowed) selects `tenant` by name; the bare `…/webhooks/{provider}` is accepted only when
/// exactly one tenant is configured. Anything else is 404, before any secret is read.
pub fn route_tenant<'t, T>(
    path: &str,
    provider: &str,
    tenants: &'t [T],
    find: impl FnOnce(&str) -> Option<&'t T>,
) -> Result<&'t T, WebhookError> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let (_, rest) = path.rsplit_once("/webhooks/").ok_or(WebhookError::NotFound)?;
    match rest.split_once('/') {
        None if rest == provider => match tenants {
            [only] => Ok(only),
            _ => Err(WebhookError::NotFound),
        },
        Some((route, tenant)) if route == provider && !tenant.is_empty() && !tenant.contains('/') => {
            find(tenant).ok_or(WebhookError::NotFound)
        }
        _ => Err(WebhookError::NotFound),
    }
}

/// Both sides of one provider as one object, for the providers' unit tests, which drive a request through
/// intake and then decide on the envelope it produced.
#[cfg(test)]
pub(crate) struct BothSides {
    pub intake: Box<dyn ProviderIntake>,
    pub module: Box<dyn ProviderModule>,
}

#[cfg(test)]
impl BothSides {
    /// Both sides of the provider configured by `config`, its secrets in `secrets`, talking through `client`.
    pub fn new<C, X>(config: C, secrets: Arc<dyn Secrets>, client: Arc<dyn SourceClient>, extra: X) -> Self
    where
        C: WorkerRules + Clone,
        X: Enrich + 'static,
        WebhookSide<C>: ProviderIntake,
    {
        Self {
            intake: Box::new(WebhookSide::new(config.clone(), secrets)),
            module: Box::new(WorkerSide::new(config, client, extra, "Ask an admin.".into())),
        }
    }

    /// The same, with no API behind it (the decisions are pure).
    pub fn offline<C>(config: C, secrets: crate::memory::MemorySecrets) -> Self
    where
        C: WorkerRules + Clone,
        WebhookSide<C>: ProviderIntake,
    {
        Self::new(
            config,
            Arc::new(secrets),
            Arc::new(crate::memory::NoApiClient),
            (),
        )
    }
}

#[cfg(test)]
#[async_trait]
impl ProviderIntake for BothSides {
    fn provider(&self) -> Provider {
        self.intake.provider()
    }
    async fn intake(&self, request: &HttpRequest<'_>, now: u64) -> Result<Intake, WebhookError> {
        self.intake.intake(request, now).await
    }
    fn rejection_headers(&self, rejection: &WebhookError) -> &'static [(&'static str, &'static str)] {
        self.intake.rejection_headers(rejection)
    }
}

#[cfg(test)]
#[async_trait]
impl ProviderModule for BothSides {
    fn provider(&self) -> Provider {
        self.module.provider()
    }
    async fn enrich<'a>(&self, envelope: &'a Envelope) -> Result<Cow<'a, Envelope>, ProcessError> {
        self.module.enrich(envelope).await
    }
    fn decide(&self, envelope: &Envelope) -> Result<Decision, ProcessError> {
        self.module.decide(envelope)
    }
    fn source(&self) -> &dyn SourceClient {
        self.module.source()
    }
    fn unlinked_notice(&self, trigger: &Trigger) -> String {
        self.module.unlinked_notice(trigger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick<'t>(path: &str, tenants: &'t [&'static str]) -> Result<&'t &'static str, WebhookError> {
        route_tenant(path, "jira", tenants, |name| tenants.iter().find(|t| **t == name))
    }

    #[test]
    fn the_tenant_comes_from_the_path() {
        let two = ["acme", "beta"];
        assert_eq!(pick("/webhooks/jira/acme", &two).ok(), Some(&"acme"));
        assert_eq!(pick("/prod/webhooks/jira/beta/", &two).ok(), Some(&"beta"));
        for path in [
            "/webhooks/jira",
            "/webhooks/jira/",
            "/webhooks/jira/other",
            "/webhooks/jira/acme/x",
            "/webhooks/jira//",
            "/webhooks/gitlab/acme",
            "/webhooks/jiraacme",
            "/jira/acme",
        ] {
            assert!(matches!(pick(path, &two), Err(WebhookError::NotFound)), "{path}");
        }
    }

    #[test]
    fn the_bare_route_needs_exactly_one_tenant() {
        assert_eq!(pick("/webhooks/jira", &["acme"]).ok(), Some(&"acme"));
        assert_eq!(pick("/webhooks/jira/", &["acme"]).ok(), Some(&"acme"));
        assert!(matches!(pick("/webhooks/jira", &[]), Err(WebhookError::NotFound)));
    }
}
