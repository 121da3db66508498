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

/// A provider's worker side: its settings, its API client, whatever else it reads before deciding (`extra`,
/// e.g. Jira's issue reader), and the text that ends the notice for unlinked people. Each provider implements
/// [`ProviderModule`] for its own `WorkerSide<Config, …>` (in its `module.rs`).
pub struct WorkerSide<C, X = ()> {
    pub(crate) config: C,
    pub(crate) client: Arc<dyn SourceClient>,
    pub(crate) extra: X,
    pub(crate) link_help: String,
}

impl<C> WorkerSide<C> {
    pub fn new(config: C, client: Arc<dyn SourceClient>, link_help: String) -> Self {
        Self::with_extra(config, client, (), link_help)
    }
}

impl<C, X> WorkerSide<C, X> {
    pub fn with_extra(config: C, client: Arc<dyn SourceClient>, extra: X, link_help: String) -> Self {
        Self {
            config,
            client,
            extra,
            link_help,
        }
    }
}

/// What a provider's worker side is built from: one HTTP client for every outbound API, the secret store its
/// client reads credentials from, the clock, and the text that tells unlinked people how to get linked.
#[derive(Clone)]
pub struct Wiring {
    pub http: reqwest::Client,
    pub secrets: Arc<dyn Secrets>,
    pub clock: Arc<dyn Clock>,
    pub link_help: String,
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
    secrets.get(name).await.map_err(|err| match err {
        PortError::NotFound { .. } => WebhookError::Unavailable(PortError::permanent(what, "not configured")),
        other => WebhookError::Unavailable(other),
    })
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
