//! Slack's webhook side ([`SlackIntake`]: route → tenant secret → verify → parse → prefilter → trim) and its
//! request signature: `X-Slack-Signature: v0=<hex>` where the hex is
//! HMAC-SHA256(signing secret, `v0:{X-Slack-Request-Timestamp}:{raw body}`), compared in constant time, and the
//! timestamp must be within five minutes of now (replay window). Interactions (the Stop button, the repository
//! picker) come to the same URL as a form body, signed alike, and are told apart only after verification.

use async_trait::async_trait;

use super::{
    event::{self, Callback, Interaction, PayloadError, SlackClick, SlackEvent},
    is_slack_id, SlackConfig,
};
use crate::{
    domain::{Envelope, Provider, ENVELOPE_VERSION},
    error::{PortError, WebhookError},
    http::{HttpReply, HttpRequest},
    provider::{check_with_reread, queued_payload, stored_secret, Intake, ProviderIntake, WebhookSide},
    text, verify,
};

/// Signature header.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// Timestamp header (epoch seconds).
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Largest accepted distance between the request timestamp and now, either way.
pub const MAX_SKEW_SECS: u64 = 5 * 60;

/// Why a request's signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlackAuthError {
    /// A header is absent.
    Missing(&'static str),
    /// A header does not have the documented form.
    Malformed(&'static str),
    /// The HMAC does not match (tampered body, wrong secret, other tenant's secret).
    Mismatch,
    /// The timestamp is outside the window (replay or badly skewed clock).
    Stale,
}

impl SlackAuthError {
    /// Short reason for logs.
    pub fn reason(self) -> &'static str {
        match self {
            SlackAuthError::Missing(what) | SlackAuthError::Malformed(what) => what,
            SlackAuthError::Mismatch => "signature mismatch",
            SlackAuthError::Stale => "timestamp outside the window",
        }
    }
}

/// Verify a request: `timestamp` and `signature` are the header values, `body` the raw bytes, `now` epoch
/// seconds. The signature is checked before the window so a forger learns nothing from the answer.
pub fn signature(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: u64,
) -> Result<(), SlackAuthError> {
    let timestamp = timestamp.ok_or(SlackAuthError::Missing("missing X-Slack-Request-Timestamp"))?;
    let signature = signature.ok_or(SlackAuthError::Missing("missing X-Slack-Signature"))?;
    let ts = timestamp.trim();
    if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SlackAuthError::Malformed("malformed X-Slack-Request-Timestamp"));
    }
    let ts_secs: u64 = ts
        .parse()
        .map_err(|_| SlackAuthError::Malformed("malformed X-Slack-Request-Timestamp"))?;
    let hex = signature
        .trim()
        .strip_prefix("v0=")
        .ok_or(SlackAuthError::Malformed("X-Slack-Signature is not v0"))?;
    verify::hmac_sha256_hex(secret, &base_string(ts, body), hex).map_err(|err| match err {
        verify::SignatureError::Mismatch => SlackAuthError::Mismatch,
        _ => SlackAuthError::Malformed("malformed X-Slack-Signature"),
    })?;
    if now.abs_diff(ts_secs) > MAX_SKEW_SECS {
        return Err(SlackAuthError::Stale);
    }
    Ok(())
}

/// `v0=<lowercase hex>` for `body` at `timestamp`: what Slack sends (for tests and fixtures).
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!("v0={}", verify::sign_hex(secret, &base_string(timestamp, body)))
}

fn base_string(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut base = Vec::with_capacity(body.len() + timestamp.len() + 4);
    base.extend_from_slice(b"v0:");
    base.extend_from_slice(timestamp.as_bytes());
    base.push(b':');
    base.extend_from_slice(body);
    base
}

// ---- The webhook side ----

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

/// Slack's webhook side.
pub type SlackIntake = WebhookSide<SlackConfig>;

impl SlackIntake {
    async fn verify(&self, route: &Route, request: &HttpRequest<'_>, now: u64) -> Result<(), WebhookError> {
        if route.team().is_some_and(|team| !self.config.serves(team)) {
            return Err(WebhookError::NotFound);
        }
        let name = self.config.signing_secret_name(route.team());
        let secret = stored_secret(self.secrets.as_ref(), &name, "slack signing secret")
            .await
            .map_err(|err| match (err, route) {
                // An unknown team in the URL is the caller's choice, not an outage.
                (PortError::NotFound { .. }, Route::Team(_)) => WebhookError::NotFound,
                (PortError::NotFound { .. }, Route::Shared) => {
                    WebhookError::Unavailable(PortError::permanent("slack signing secret", "not configured"))
                }
                (other, _) => WebhookError::Unavailable(other),
            })?;
        check_with_reread(self.secrets.as_ref(), &name, &secret, |secret| {
            signature(
                secret.expose().as_bytes(),
                request.header(TIMESTAMP_HEADER),
                request.header(SIGNATURE_HEADER),
                request.body,
                now,
            )
            .map_err(|err| match err {
                SlackAuthError::Stale => WebhookError::Stale,
                other => WebhookError::Unauthorized(other.reason()),
            })
        })
        .await
    }

    /// A verified interaction (form body): only a click on the Stop button or a pick in the repository picker is
    /// queued, grouped with its thread.
    fn interaction(&self, route: &Route, body: &[u8], now: u64) -> Result<Intake, WebhookError> {
        let click = match event::parse_interaction(body).map_err(malformed)? {
            Interaction::Other(reason) => return Ok(Intake::Ignore(reason)),
            Interaction::Stop(click) | Interaction::Pick(click) => *click,
        };
        same_team(route, &click.team_id, "interaction belongs to another team")?;
        if !self.config.serves(&click.team_id) {
            return Ok(Intake::Ignore("workspace is not served (SLACK_TENANTS)"));
        }
        Ok(Intake::Accept(click_envelope(&click, now)?))
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

/// On a team's own route the verified body must be that team's: one team's secret never acts for another.
fn same_team(route: &Route, team: &str, refusal: &'static str) -> Result<(), WebhookError> {
    match route {
        Route::Team(expected) if expected != team => Err(WebhookError::Unauthorized(refusal)),
        _ => Ok(()),
    }
}

fn malformed(err: PayloadError) -> WebhookError {
    match err {
        PayloadError::Json => WebhookError::Malformed("malformed JSON"),
        PayloadError::Shape(what) => WebhookError::Malformed(what),
    }
}

/// The queued envelope of a click: in its thread's group, so it is ordered after the mention that started the
/// run (or asked which repository).
fn click_envelope(click: &SlackClick, now: u64) -> Result<Envelope, WebhookError> {
    Ok(Envelope {
        version: ENVELOPE_VERSION,
        provider: Provider::Slack,
        tenant: click.team_id.clone(),
        delivery_id: click.delivery_id(),
        event: event::BLOCK_ACTIONS.to_owned(),
        group: click.thread_key(),
        received_at: now,
        payload: queued_payload(click)?,
    })
}

#[async_trait]
impl ProviderIntake for SlackIntake {
    fn provider(&self) -> Provider {
        Provider::Slack
    }

    async fn intake(&self, request: &HttpRequest<'_>, now: u64) -> Result<Intake, WebhookError> {
        let route = Route::from_path(request.path)?;
        self.verify(&route, request, now).await?;
        // Interactivity shares the events URL, so the body's form says which it is; both are signed alike.
        if event::is_form(request.header("content-type"), request.body) {
            return self.interaction(&route, request.body, now);
        }
        let callback = event::parse(request.body).map_err(malformed)?;
        let event = match callback {
            // Answered only now, after verification (the body is signed like any other).
            Callback::UrlVerification { challenge } => {
                return Ok(Intake::Reply(HttpReply::owned_text(200, challenge)));
            }
            Callback::Other(reason) => return Ok(Intake::Ignore(reason)),
            Callback::Event(event) => *event,
        };
        same_team(&route, &event.team_id, "event belongs to another team")?;
        if !self.config.serves(&event.team_id) {
            return Ok(Intake::Ignore("workspace is not served (SLACK_TENANTS)"));
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
        let payload = queued_payload(&event)?;
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

    /// Slack redelivers any non-2xx answer up to three times (at once, after 1 and after 5 minutes). A request whose
    /// signature, body, size or method is wrong will be as wrong then, so Slack is asked not to (`X-Slack-No-Retry`).
    /// Interactions (the Stop button, the repository picker) are acknowledged as Slack asks: 200 with an empty body.
    fn acknowledgement(&self, request: &HttpRequest<'_>) -> Option<HttpReply> {
        event::is_form(request.header("content-type"), request.body).then(|| HttpReply::text(200, ""))
    }

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
}
