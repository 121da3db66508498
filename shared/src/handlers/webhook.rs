//! Webhook intake: verify on the raw bytes, drop what can never trigger, claim the delivery, enqueue, answer.

use tracing::info;

use super::Services;
use crate::{
    domain::{Provider, QueueMessage},
    error::WebhookError,
    http::{HttpReply, HttpRequest},
    ports::Claim,
    provider::Intake,
};

/// Handle `POST /webhooks/{provider}`. Never fails: every error becomes its HTTP answer here.
pub async fn handle(services: &Services, provider: &str, request: HttpRequest<'_>) -> HttpReply {
    match accept(services, provider, &request).await {
        Ok(reply) => reply,
        Err(err) => err.into_reply(),
    }
}

async fn accept(
    services: &Services,
    provider: &str,
    request: &HttpRequest<'_>,
) -> Result<HttpReply, WebhookError> {
    let module = Provider::parse(provider)
        .and_then(|p| services.module(p))
        .ok_or(WebhookError::NotFound)?;
    if request.method != "POST" {
        return Err(WebhookError::MethodNotAllowed);
    }
    if request.body.len() > services.settings.max_body_bytes {
        return Err(WebhookError::TooLarge);
    }
    let now = services.now();
    let envelope = match module.intake(request, now).await? {
        Intake::Reply(reply) => return Ok(reply),
        Intake::Ignore(reason) => {
            info!(provider, reason, "webhook ignored");
            return Ok(HttpReply::text(202, "ignored"));
        }
        Intake::Accept(envelope) => envelope,
    };
    let key = envelope.delivery_key().storage_key();
    let body = serde_json::to_string(&envelope)
        .map_err(|e| WebhookError::Unavailable(crate::error::PortError::permanent("envelope", e)))?;
    let message = QueueMessage {
        group: envelope.group.clone(),
        dedup_id: key.clone(),
        body,
    };
    let claim = services
        .inbox
        .accept(&key, now, services.settings.delivery_ttl, message)
        .await
        .map_err(WebhookError::Unavailable)?;
    if claim == Claim::Duplicate {
        info!(provider, delivery_id = %envelope.delivery_id, "duplicate delivery");
        return Ok(HttpReply::text(200, "duplicate"));
    }
    info!(provider, delivery_id = %envelope.delivery_id, event = %envelope.event, group = %envelope.group, "accepted");
    Ok(HttpReply::text(202, "accepted"))
}
