//! [`JiraModule`]: Jira's webhook intake (site from the URL → verify with that site's secret → prefilter →
//! trim) and trigger decisions.

use std::{borrow::Cow, sync::Arc};

use async_trait::async_trait;
use serde_json::value::RawValue;

use super::{
    client::IssueReader,
    event::{JiraEvent, PayloadError, RawEvent},
    triggers, JiraConfig, JiraSite,
};
use crate::{
    domain::{Envelope, Provider, Trigger, ENVELOPE_VERSION},
    error::{ProcessError, WebhookError},
    http::HttpRequest,
    ports::{Secrets, SourceClient},
    provider::{route_tenant, verification_secret, Decision, Intake, ProviderModule},
    text, verify,
};

/// Delivery ids are UUID-like; anything long or odd is refused before it reaches a key.
const MAX_DELIVERY_ID_LEN: usize = 128;
/// Header carrying the delivery id, the same across Jira's retries (providers.md §4.1).
const DELIVERY_HEADER: &str = "x-atlassian-webhook-identifier";

/// The Jira provider module.
pub struct JiraModule {
    config: JiraConfig,
    secrets: Arc<dyn Secrets>,
    client: Arc<dyn SourceClient>,
    issues: Option<Arc<dyn IssueReader>>,
    link_help: String,
}

impl JiraModule {
    /// `issues` reads the description in the worker when a comment event lacks it (usually the same
    /// [`super::client::JiraClient`] as `client`; `None` in a webhook function, which never decides);
    /// `link_help` ends the notice for unlinked people.
    pub fn new(
        config: JiraConfig,
        secrets: Arc<dyn Secrets>,
        client: Arc<dyn SourceClient>,
        issues: Option<Arc<dyn IssueReader>>,
        link_help: String,
    ) -> Self {
        Self {
            config,
            secrets,
            client,
            issues,
            link_help,
        }
    }

    /// The site a request is for: the path segment after `/webhooks/jira/`. A bare `/webhooks/jira` is
    /// accepted only when exactly one site is configured.
    fn site_for(&self, path: &str) -> Result<&JiraSite, WebhookError> {
        route_tenant(path, "jira", &self.config.sites, |name| self.config.site(name))
    }

    async fn verify(&self, site: &JiraSite, request: &HttpRequest<'_>) -> Result<(), WebhookError> {
        let secret = verification_secret(
            self.secrets.as_ref(),
            &site.webhook_secret_name,
            "jira webhook secret",
        )
        .await?;
        verify::prefixed_sha256(
            secret.expose().as_bytes(),
            request.body,
            request.header("x-hub-signature"),
        )
        .map_err(|e| WebhookError::Unauthorized(e.reason()))
    }

    /// Cheap test on the webhook path: can this event possibly trigger?
    fn relevant(&self, site: &JiraSite, raw: &RawEvent) -> bool {
        match raw.webhook_event() {
            "comment_created" => raw.comment_mention_text().is_some_and(|body| {
                text::contains_ignore_ascii_case(&body, &self.config.mention)
                    || (!site.bot_account_id.is_empty() && body.contains(&site.bot_account_id))
            }),
            "jira:issue_updated" | "jira:issue_created" => raw
                .added_labels()
                .iter()
                .any(|l| l.eq_ignore_ascii_case(&self.config.label)),
            _ => false,
        }
    }
}

#[async_trait]
impl ProviderModule for JiraModule {
    fn provider(&self) -> Provider {
        Provider::Jira
    }

    async fn intake(&self, request: &HttpRequest<'_>, now: u64) -> Result<Intake, WebhookError> {
        let site = self.site_for(request.path)?;
        self.verify(site, request).await?;
        let delivery_id = request
            .header(DELIVERY_HEADER)
            .map(str::trim)
            .ok_or(WebhookError::Malformed("missing X-Atlassian-Webhook-Identifier"))?;
        if delivery_id.is_empty()
            || delivery_id.len() > MAX_DELIVERY_ID_LEN
            || !delivery_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        {
            return Err(WebhookError::Malformed("invalid X-Atlassian-Webhook-Identifier"));
        }
        let raw = RawEvent::parse(request.body).map_err(|_| WebhookError::Malformed("malformed JSON"))?;
        if !self.relevant(site, &raw) {
            return Ok(Intake::Ignore("cannot trigger"));
        }
        let event = raw.into_event().map_err(|e| match e {
            PayloadError::Json => WebhookError::Malformed("malformed JSON"),
            PayloadError::Missing(_) => WebhookError::Malformed("unexpected payload shape"),
        })?;
        // Apps, customers and the service account never trigger: drop them before any API read.
        if let Some(reason) = triggers::ignored_author(&event.actor, site) {
            return Ok(Intake::Ignore(reason));
        }
        let payload = serde_json::to_string(&event)
            .ok()
            .and_then(|s| RawValue::from_string(s).ok())
            .ok_or(WebhookError::Malformed("unexpected payload shape"))?;
        Ok(Intake::Accept(Envelope {
            version: ENVELOPE_VERSION,
            provider: Provider::Jira,
            tenant: site.name.clone(),
            delivery_id: delivery_id.to_owned(),
            event: event.webhook_event.clone(),
            group: event.thread_key(&site.name),
            received_at: now,
            payload,
        }))
    }

    /// Comment events carry only a few issue fields; the description (where the repository is often named) is
    /// read here, once per attempt, so the decision can stay pure. A permanent failure goes on without it.
    async fn enrich<'a>(&self, envelope: &'a Envelope) -> Result<Cow<'a, Envelope>, ProcessError> {
        let Some(issues) = &self.issues else {
            return Ok(Cow::Borrowed(envelope));
        };
        let mut event: JiraEvent = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("jira payload does not parse: {e}")))?;
        if event.issue.description.is_some() || event.comment.is_none() {
            return Ok(Cow::Borrowed(envelope));
        }
        let description = match issues.issue_description(&envelope.tenant, &event.issue.id).await {
            Ok(description) => description.unwrap_or_default(),
            Err(err) if err.is_transient() => return Err(err.into()),
            Err(err) => {
                tracing::warn!(site = %envelope.tenant, issue = %event.issue.key, error = %err, "could not read the issue description; going on without it");
                return Ok(Cow::Borrowed(envelope));
            }
        };
        event.issue.description = Some(description);
        let payload = serde_json::to_string(&event)
            .ok()
            .and_then(|s| RawValue::from_string(s).ok())
            .ok_or_else(|| ProcessError::Permanent("jira payload does not serialize".into()))?;
        Ok(Cow::Owned(Envelope {
            payload,
            ..envelope.clone()
        }))
    }

    fn decide(&self, envelope: &Envelope) -> Result<Decision, ProcessError> {
        let Some(site) = self.config.site(&envelope.tenant) else {
            return Ok(Decision::Ignore("site is no longer configured"));
        };
        let event: JiraEvent = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("jira payload does not parse: {e}")))?;
        Ok(triggers::decide(&self.config, site, envelope, &event))
    }

    fn source(&self) -> &dyn SourceClient {
        self.client.as_ref()
    }

    fn unlinked_notice(&self, trigger: &Trigger) -> String {
        format!(
            "[~accountid:{}] I can't start OpenHands for you yet: your Jira account is not linked to an OpenHands \
             identity. {}",
            trigger.actor.id, self.link_help
        )
    }
}
