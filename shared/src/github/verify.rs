//! GitHub's webhook side: the `X-Hub-Signature-256` check on the raw body, then a cheap prefilter and the trim
//! into what is queued.

use async_trait::async_trait;

use super::{event::RawEvent, GithubConfig};
use crate::{
    domain::{Envelope, Provider, ENVELOPE_VERSION},
    error::WebhookError,
    http::{HttpReply, HttpRequest},
    provider::{queued_payload, route_tenant, verify_hub_signature, Intake, ProviderIntake, WebhookSide},
    text, verify,
};

/// GitHub's webhook side.
pub type GithubIntake = WebhookSide<GithubConfig>;

impl GithubIntake {
    async fn verify(&self, request: &HttpRequest<'_>) -> Result<(), WebhookError> {
        let name = &self.config.webhook_secret_name;
        verify_hub_signature(
            self.secrets.as_ref(),
            name,
            "github webhook secret",
            request,
            "x-hub-signature-256",
        )
        .await
    }
}

#[async_trait]
impl ProviderIntake for GithubIntake {
    fn provider(&self) -> Provider {
        Provider::Github
    }

    async fn intake(&self, request: &HttpRequest<'_>, now: u64) -> Result<Intake, WebhookError> {
        let tenant = route_tenant(
            request.path,
            "github",
            std::slice::from_ref(&self.config.tenant),
            |name| (name.eq_ignore_ascii_case(&self.config.tenant)).then_some(&self.config.tenant),
        )?;
        self.verify(request).await?;
        let event = request
            .header("x-github-event")
            .ok_or(WebhookError::Malformed("missing X-GitHub-Event"))?;
        let delivery_id = request
            .header("x-github-delivery")
            .ok_or(WebhookError::Malformed("missing X-GitHub-Delivery"))?;
        // A GUID.
        if !verify::is_delivery_id(delivery_id, b"-") {
            return Err(WebhookError::Malformed("invalid X-GitHub-Delivery"));
        }
        if request
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
        {
            return Err(WebhookError::Malformed(
                "expected a JSON payload (content type application/json)",
            ));
        }
        let may_trigger = matches!(
            event,
            "issues"
                | "pull_request"
                | "issue_comment"
                | "pull_request_review_comment"
                | "pull_request_review"
        );
        if event == "ping" {
            return Ok(Intake::Reply(HttpReply::text(200, "pong")));
        }
        if !may_trigger {
            return Ok(Intake::Ignore("event never triggers"));
        }
        let raw = RawEvent::parse(request.body).map_err(|_| WebhookError::Malformed("malformed JSON"))?;
        let mentions = |raw: &RawEvent<'_>| {
            raw.mention_text()
                .is_some_and(|body| text::contains_ignore_ascii_case(&body, &self.config.mention))
        };
        let relevant = match (event, raw.action().as_ref()) {
            ("issues" | "pull_request", "labeled") => raw
                .label_name()
                .is_some_and(|l| l.eq_ignore_ascii_case(&self.config.label)),
            // A new issue or pull request asks in its body, or comes with the label.
            ("issues" | "pull_request", "opened") => mentions(&raw) || raw.has_label(&self.config.label),
            // Assigned to the configured machine user.
            ("issues" | "pull_request", "assigned") => {
                self.config.assignee.as_deref().is_some_and(|assignee| {
                    raw.assignee_login()
                        .is_some_and(|login| login.eq_ignore_ascii_case(assignee))
                })
            }
            ("issue_comment", "created")
            | ("pull_request_review_comment", "created")
            | ("pull_request_review", "submitted") => mentions(&raw),
            _ => false,
        };
        if !relevant {
            return Ok(Intake::Ignore("cannot trigger"));
        }
        let trimmed = raw.into_event()?;
        let payload = queued_payload(&trimmed)?;
        Ok(Intake::Accept(Envelope {
            version: ENVELOPE_VERSION,
            provider: Provider::Github,
            tenant: tenant.clone(),
            delivery_id: delivery_id.to_owned(),
            event: event.to_owned(),
            group: trimmed.thread_key(),
            received_at: now,
            payload,
        }))
    }
}
