//! Linear's webhook side: [`LinearIntake`] (tenant from the URL → verify `Linear-Signature` on the raw body →
//! `webhookTimestamp` freshness → organization → prefilter → trim).

use async_trait::async_trait;

use super::{
    event::{LinearEventKind, RawPayload},
    LinearConfig, LinearTenant,
};
use crate::{
    domain::{Envelope, Provider, ENVELOPE_VERSION},
    error::WebhookError,
    http::HttpRequest,
    provider::{queued_payload, route_tenant, verify_with_secret, Intake, ProviderIntake, WebhookSide},
    text, verify,
};

/// Largest accepted difference between `webhookTimestamp` and now, in milliseconds (Linear's SDK: one minute).
pub const MAX_SKEW_MS: u64 = 60_000;

/// Linear's webhook side.
pub type LinearIntake = WebhookSide<LinearConfig>;

impl LinearIntake {
    /// The tenant named by the path (`…/webhooks/linear/<tenant>`, a stage prefix or trailing slash allowed); the
    /// bare route only with exactly one organization. Unknown tenants are 404: there is no secret to check them
    /// against.
    fn tenant_for(&self, path: &str) -> Result<&LinearTenant, WebhookError> {
        route_tenant(path, "linear", &self.config.tenants, |name| {
            self.config.tenant(name)
        })
    }

    async fn verify(&self, tenant: &LinearTenant, request: &HttpRequest<'_>) -> Result<(), WebhookError> {
        let name = tenant.webhook_secret_name();
        let signature = request
            .header("linear-signature")
            .ok_or(WebhookError::Unauthorized("signature header missing"))?;
        verify_with_secret(self.secrets.as_ref(), &name, "linear webhook secret", |secret| {
            verify::hmac_sha256_hex(secret.expose().as_bytes(), request.body, signature)
                .map_err(|e| WebhookError::Unauthorized(e.reason()))
        })
        .await
    }

    /// Is this verified event worth queueing, and as what?
    fn classify(&self, tenant: &LinearTenant, raw: &RawPayload) -> Result<LinearEventKind, &'static str> {
        // The mention typed, or as Linear may store it: a profile link.
        let may_mention = |body: &str| {
            text::contains_ignore_ascii_case(body, &self.config.mention)
                || text::contains_ignore_ascii_case(body, "/profiles/")
        };
        let trigger_label_added = || {
            raw.added_labels().iter().any(|label| {
                label.name.eq_ignore_ascii_case(&self.config.label)
                    || self.config.label_id.as_deref() == Some(label.id.as_str())
            })
        };
        match (raw.kind(), raw.action()) {
            ("Comment", "create") => {
                if raw.comment_body().is_some_and(may_mention) {
                    Ok(LinearEventKind::Comment)
                } else {
                    Err("comment without a mention")
                }
            }
            ("Comment", _) => Err("comment edit or removal"),
            ("Issue", "update") => {
                if trigger_label_added() {
                    Ok(LinearEventKind::LabelsAdded)
                } else if raw.assigned_to(&tenant.bot_user_id) {
                    Ok(LinearEventKind::Assigned)
                } else {
                    Err("no newly added trigger label")
                }
            }
            ("Issue", "create") => {
                if raw.description().is_some_and(may_mention) || trigger_label_added() {
                    Ok(LinearEventKind::Created)
                } else {
                    Err("new issue without a mention or the trigger label")
                }
            }
            _ => Err("event never triggers"),
        }
    }
}

#[async_trait]
impl ProviderIntake for LinearIntake {
    fn provider(&self) -> Provider {
        Provider::Linear
    }

    async fn intake(&self, request: &HttpRequest<'_>, now: u64) -> Result<Intake, WebhookError> {
        let tenant = self.tenant_for(request.path)?;
        self.verify(tenant, request).await?;
        // Everything below reads the verified bytes only.
        let raw = RawPayload::parse(request.body).map_err(|_| WebhookError::Malformed("malformed JSON"))?;
        check_fresh(&raw, now)?;
        if raw.organization_id() != Some(tenant.organization_id.as_str()) {
            // Signed with this tenant's secret but for another organization: a shared or misplaced secret.
            return Err(WebhookError::Unauthorized(
                "organization does not match the tenant",
            ));
        }
        let kind = match self.classify(tenant, &raw) {
            Ok(kind) => kind,
            Err(reason) => return Ok(Intake::Ignore(reason)),
        };
        let delivery_id = delivery_id(request, &raw)?;
        let event = raw.into_event(kind)?;
        let payload = queued_payload(&event)?;
        Ok(Intake::Accept(Envelope {
            version: ENVELOPE_VERSION,
            provider: Provider::Linear,
            tenant: tenant.name.clone(),
            delivery_id,
            event: format!("{kind:?}"),
            group: event.thread_key(&tenant.name),
            received_at: now,
            payload,
        }))
    }
}

/// The delivery id: the `Linear-Delivery` header when present, else the documented body-derived key.
fn delivery_id(request: &HttpRequest<'_>, raw: &RawPayload) -> Result<String, WebhookError> {
    match request.header("linear-delivery").map(str::trim) {
        Some(id) if !id.is_empty() => {
            // A UUID.
            if verify::is_delivery_id(id, b"-") {
                Ok(id.to_owned())
            } else {
                Err(WebhookError::Malformed("invalid Linear-Delivery"))
            }
        }
        _ => raw
            .fallback_delivery_id()
            .ok_or(WebhookError::Malformed("missing Linear-Delivery")),
    }
}

/// `webhookTimestamp` (ms) within [`MAX_SKEW_MS`] of `now` (s). A body without one is refused: it would have
/// no replay window at all.
fn check_fresh(raw: &RawPayload, now: u64) -> Result<(), WebhookError> {
    let sent_ms = raw.webhook_timestamp_ms().ok_or(WebhookError::Stale)?;
    let now_ms = now.saturating_mul(1000);
    if sent_ms.abs_diff(now_ms) > MAX_SKEW_MS {
        return Err(WebhookError::Stale);
    }
    Ok(())
}
