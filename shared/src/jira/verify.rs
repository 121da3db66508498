//! Jira's webhook side: [`JiraIntake`] (site from the URL → verify with that site's secret → prefilter →
//! trim). Admin webhooks with a secret are the supported registration mode: Jira signs the raw body as
//! `X-Hub-Signature: sha256=<hex>`.

use async_trait::async_trait;

use super::{event::RawEvent, triggers, JiraConfig, JiraTenant};
use crate::{
    domain::{Envelope, Provider, ENVELOPE_VERSION},
    error::WebhookError,
    http::HttpRequest,
    provider::{queued_payload, route_tenant, verify_hub_signature, Intake, ProviderIntake, WebhookSide},
    text, verify,
};

/// Header carrying the delivery id, the same across Jira's retries.
const DELIVERY_HEADER: &str = "x-atlassian-webhook-identifier";

/// Jira's webhook side.
pub type JiraIntake = WebhookSide<JiraConfig>;

impl JiraIntake {
    /// The site a request is for: the path segment after `/webhooks/jira/`. A bare `/webhooks/jira` is
    /// accepted only when exactly one site is configured.
    fn tenant_for(&self, path: &str) -> Result<&JiraTenant, WebhookError> {
        route_tenant(path, "jira", &self.config.tenants, |name| {
            self.config.tenant(name)
        })
    }

    async fn verify(&self, site: &JiraTenant, request: &HttpRequest<'_>) -> Result<(), WebhookError> {
        let name = &site.webhook_secret_name;
        verify_hub_signature(
            self.secrets.as_ref(),
            name,
            "jira webhook secret",
            request,
            "x-hub-signature",
        )
        .await
    }

    /// Cheap test on the webhook path: can this event possibly trigger?
    fn relevant(&self, site: &JiraTenant, raw: &RawEvent) -> bool {
        let names_bot = |body: String| {
            text::contains_ignore_ascii_case(&body, &self.config.mention)
                || (!site.bot_account_id.is_empty() && body.contains(&site.bot_account_id))
        };
        match raw.webhook_event() {
            "comment_created" => raw.comment_mention_text().is_some_and(names_bot),
            "jira:issue_updated" | "jira:issue_created" => {
                raw.added_labels()
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(&self.config.label))
                    || raw.created_mention_text().is_some_and(names_bot)
                    || (!site.bot_account_id.is_empty()
                        && raw.assigned_to().as_deref() == Some(site.bot_account_id.as_str()))
            }
            _ => false,
        }
    }
}

#[async_trait]
impl ProviderIntake for JiraIntake {
    fn provider(&self) -> Provider {
        Provider::Jira
    }

    async fn intake(&self, request: &HttpRequest<'_>, now: u64) -> Result<Intake, WebhookError> {
        let site = self.tenant_for(request.path)?;
        self.verify(site, request).await?;
        let delivery_id = request
            .header(DELIVERY_HEADER)
            .map(str::trim)
            .ok_or(WebhookError::Malformed("missing X-Atlassian-Webhook-Identifier"))?;
        // UUID-like.
        if !verify::is_delivery_id(delivery_id, b"-_.:") {
            return Err(WebhookError::Malformed("invalid X-Atlassian-Webhook-Identifier"));
        }
        let raw = RawEvent::parse(request.body).map_err(|_| WebhookError::Malformed("malformed JSON"))?;
        if !self.relevant(site, &raw) {
            return Ok(Intake::Ignore("cannot trigger"));
        }
        let event = raw.into_event()?;
        // Apps, customers and the service account never trigger: drop them before any API read.
        if let Some(reason) = triggers::ignored_author(&event.actor, site) {
            return Ok(Intake::Ignore(reason));
        }
        let payload = queued_payload(&event)?;
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
}
