//! [`SlackModule`]: Slack's webhook intake (route → tenant secret → verify → parse → prefilter → trim) and the
//! trigger decision.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::value::RawValue;

use super::{
    event::{self, Callback, PayloadError, SlackEvent},
    is_slack_id,
    signature::{self, SlackAuthError},
    triggers, SlackConfig,
};
use crate::{
    domain::{Envelope, Provider, Trigger, ENVELOPE_VERSION},
    error::{PortError, ProcessError, WebhookError},
    http::{HttpReply, HttpRequest, ReplyBody},
    ports::{Secrets, SourceClient},
    provider::{Decision, Intake, ProviderModule},
    text,
};

/// Which secret verifies a request, from the route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/webhooks/slack`: the app-wide signing secret; the tenant is the verified body's `team_id`.
    Shared,
    /// `/webhooks/slack/<team>`: that team's signing secret; the body must be that team's.
    Team(String),
}

impl Route {
    /// Read the route from the request path (any prefix before `/webhooks/slack` is allowed).
    pub(crate) fn from_path(path: &str) -> Result<Route, WebhookError> {
        let path = path.strip_suffix('/').unwrap_or(path);
        if path.ends_with("/webhooks/slack") || path == "webhooks/slack" {
            return Ok(Route::Shared);
        }
        match path.rsplit_once('/') {
            Some((prefix, team)) if prefix.ends_with("/webhooks/slack") || prefix == "webhooks/slack" => {
                if is_slack_id(team) {
                    Ok(Route::Team(team.to_owned()))
                } else {
                    Err(WebhookError::NotFound)
                }
            }
            _ => Err(WebhookError::NotFound),
        }
    }

    fn team(&self) -> Option<&str> {
        match self {
            Route::Shared => None,
            Route::Team(team) => Some(team),
        }
    }
}

/// The Slack provider module.
pub struct SlackModule {
    config: SlackConfig,
    secrets: Arc<dyn Secrets>,
    client: Arc<dyn SourceClient>,
    link_help: String,
}

impl SlackModule {
    /// `link_help` is the Markdown appended to the notice for people whose account is not linked yet.
    pub fn new(
        config: SlackConfig,
        secrets: Arc<dyn Secrets>,
        client: Arc<dyn SourceClient>,
        link_help: String,
    ) -> Self {
        Self {
            config,
            secrets,
            client,
            link_help,
        }
    }

    async fn verify(&self, route: &Route, request: &HttpRequest<'_>, now: u64) -> Result<(), WebhookError> {
        let name = self.config.signing_secret_name(route.team());
        let secret = self.secrets.get(&name).await.map_err(|err| match (err, route) {
            // An unknown team in the URL is the caller's choice, not an outage.
            (PortError::NotFound { .. }, Route::Team(_)) => WebhookError::NotFound,
            (PortError::NotFound { .. }, Route::Shared) => {
                WebhookError::Unavailable(PortError::permanent("slack signing secret", "not configured"))
            }
            (other, _) => WebhookError::Unavailable(other),
        })?;
        signature::verify(
            secret.expose().as_bytes(),
            request.header(signature::TIMESTAMP_HEADER),
            request.header(signature::SIGNATURE_HEADER),
            request.body,
            now,
        )
        .map_err(|err| match err {
            SlackAuthError::Stale => WebhookError::Stale,
            other => WebhookError::Unauthorized(other.reason()),
        })
    }

    /// The webhook's cheap filter: only a person's new message that mentions the bot is queued.
    fn prefilter(event: &SlackEvent) -> Option<&'static str> {
        if event.event_type != "app_mention" {
            return Some("event never triggers");
        }
        if let Some(reason) = event.never_triggers() {
            return Some(reason);
        }
        if let Some(bot) = &event.bot_user_id {
            if !text::contains_ignore_ascii_case(&event.text, &format!("<@{bot}")) {
                return Some("does not mention the bot");
            }
        }
        None
    }
}

#[async_trait]
impl ProviderModule for SlackModule {
    fn provider(&self) -> Provider {
        Provider::Slack
    }

    async fn intake(&self, request: &HttpRequest<'_>, now: u64) -> Result<Intake, WebhookError> {
        let route = Route::from_path(request.path)?;
        self.verify(&route, request, now).await?;
        let callback = event::parse(request.body).map_err(|err| match err {
            PayloadError::Json => WebhookError::Malformed("malformed JSON"),
            PayloadError::Shape(what) => WebhookError::Malformed(what),
        })?;
        let event = match callback {
            // Answered only now, after verification (the body is signed like any other).
            Callback::UrlVerification { challenge } => {
                return Ok(Intake::Reply(HttpReply {
                    status: 200,
                    content_type: "text/plain; charset=utf-8",
                    headers: &[],
                    body: ReplyBody::Owned(challenge),
                }));
            }
            Callback::Other(reason) => return Ok(Intake::Ignore(reason)),
            Callback::Event(event) => *event,
        };
        if let Route::Team(team) = &route {
            if *team != event.team_id {
                return Err(WebhookError::Unauthorized("event belongs to another team"));
            }
        }
        if let Some(retry) = request.header("x-slack-retry-num") {
            tracing::info!(
                retry,
                reason = request.header("x-slack-retry-reason").unwrap_or(""),
                event_id = %event.event_id,
                "slack redelivery"
            );
        }
        if let Some(reason) = Self::prefilter(&event) {
            return Ok(Intake::Ignore(reason));
        }
        let payload = serde_json::to_string(&event)
            .ok()
            .and_then(|s| RawValue::from_string(s).ok())
            .ok_or(WebhookError::Malformed("unexpected payload shape"))?;
        Ok(Intake::Accept(Envelope {
            version: ENVELOPE_VERSION,
            provider: Provider::Slack,
            tenant: event.team_id.clone(),
            delivery_id: event.event_id.clone(),
            event: event.event_type.clone(),
            group: event.thread_key(),
            received_at: now,
            payload,
        }))
    }

    fn decide(&self, envelope: &Envelope) -> Result<Decision, ProcessError> {
        let event: SlackEvent = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("slack payload does not parse: {e}")))?;
        if event.team_id != envelope.tenant {
            return Err(ProcessError::Permanent("slack envelope tenant mismatch".into()));
        }
        Ok(triggers::decide(&self.config, envelope, &event))
    }

    fn source(&self) -> &dyn SourceClient {
        self.client.as_ref()
    }

    /// Slack redelivers any non-2xx answer up to three times (at once, after 1 and after 5 minutes). A request whose
    /// signature, body, size or method is wrong will be as wrong then, so Slack is asked not to (`X-Slack-No-Retry`).
    /// A stale timestamp (each delivery carries its own), an unknown workspace (which an operator may be adding)
    /// and a 5xx keep their redeliveries.
    fn rejection_headers(&self, rejection: &WebhookError) -> &'static [(&'static str, &'static str)] {
        match rejection {
            WebhookError::Unauthorized(_)
            | WebhookError::Malformed(_)
            | WebhookError::TooLarge
            | WebhookError::MethodNotAllowed => &[("x-slack-no-retry", "1")],
            WebhookError::Stale
            | WebhookError::NotFound
            | WebhookError::NotYetVerifiable(_)
            | WebhookError::Unavailable(_) => &[],
        }
    }

    fn unlinked_notice(&self, trigger: &Trigger) -> String {
        format!(
            "@{} I can't start OpenHands for you yet: your Slack account (user `{}` in workspace `{}`) is not \
             linked to an OpenHands identity. {}",
            trigger.actor.id,
            trigger.actor.id,
            trigger.tenant, self.link_help
        )
    }
}
