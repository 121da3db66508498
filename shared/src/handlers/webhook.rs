//! Webhook intake: verify on the raw bytes, drop what can never trigger, claim the delivery, enqueue, answer.

use tracing::{info, warn};

use super::IntakeServices;
use crate::{
    domain::{Envelope, Provider, QueueMessage},
    error::WebhookError,
    http::{HttpReply, HttpRequest},
    ports::Claim,
    provider::{Intake, ProviderIntake},
};

/// What intake did with a request.
#[derive(Debug)]
pub struct Handled {
    /// The answer to send.
    pub reply: HttpReply,
    /// A message was queued (a host with in-process workers wakes one).
    pub queued: bool,
}

impl Handled {
    /// An answer that queued nothing.
    pub fn answer(reply: HttpReply) -> Self {
        Self { reply, queued: false }
    }
}

/// Handle `POST /webhooks/{provider}`. Never fails: every error becomes its HTTP answer here, with whatever headers
/// the provider's module adds to a rejection.
pub async fn handle(services: &IntakeServices, provider: &str, request: HttpRequest<'_>) -> Handled {
    let module = match Provider::parse(provider) {
        Some(provider) => services.intake_or_reload(provider).await,
        None => None,
    };
    let Some(module) = module else {
        return Handled::answer(WebhookError::NotFound.into_reply());
    };
    let module = module.as_ref();
    match accept(services, module, provider, &request).await {
        Ok(handled) => handled,
        Err(err) => {
            let headers = module.rejection_headers(&err);
            Handled::answer(err.into_reply().with_headers(headers))
        }
    }
}

async fn accept(
    services: &IntakeServices,
    module: &dyn ProviderIntake,
    provider: &str,
    request: &HttpRequest<'_>,
) -> Result<Handled, WebhookError> {
    if request.method != "POST" {
        return Err(WebhookError::MethodNotAllowed);
    }
    if request.body.len() > services.settings.max_body_bytes {
        return Err(WebhookError::TooLarge);
    }
    let now = services.clock.now_secs();
    let envelope = match module.intake(request, now).await? {
        Intake::Reply(reply) => return Ok(Handled::answer(reply)),
        Intake::Ignore(reason) => {
            info!(provider, reason, "webhook ignored");
            let reply = module
                .acknowledgement(request)
                .unwrap_or(HttpReply::text(202, "ignored"));
            return Ok(Handled::answer(reply));
        }
        Intake::Accept(envelope) => envelope,
    };
    let key = envelope.storage_key();
    let body = envelope_json(&envelope)
        .map_err(|e| WebhookError::Unavailable(crate::error::PortError::permanent("envelope", e)))?;
    // Fields are cut before encoding; text heavy with escapes can still encode past what a queue message may
    // hold, and such a delivery would fail with 5xx on every redelivery. It is refused once, with a 4xx.
    if body.len() > MAX_QUEUED_BYTES {
        warn!(provider, delivery_id = %envelope.delivery_id, bytes = body.len(), "envelope too large to queue");
        return Err(WebhookError::TooLarge);
    }
    let message = queue_message(&envelope, &key, now, body);
    let claim = services
        .inbox
        .accept(&key, now, services.settings.delivery_ttl, message)
        .await
        .map_err(WebhookError::Unavailable)?;
    if claim == Claim::Duplicate {
        info!(provider, delivery_id = %envelope.delivery_id, "duplicate delivery");
        let reply = module
            .acknowledgement(request)
            .unwrap_or(HttpReply::text(200, "duplicate"));
        return Ok(Handled::answer(reply));
    }
    info!(provider, delivery_id = %envelope.delivery_id, event = %envelope.event, group = %envelope.group, "accepted");
    Ok(Handled {
        reply: module
            .acknowledgement(request)
            .unwrap_or(HttpReply::text(202, "accepted")),
        queued: true,
    })
}

/// Most an encoded envelope may hold: SQS takes 256 KiB per message, attributes included.
pub const MAX_QUEUED_BYTES: usize = 240 * 1024;

/// The message for a claimed delivery. Its queue deduplication id is the claim's (delivery key and claim time),
/// not the bare delivery key: the claim is what deduplicates deliveries, and SQS FIFO drops any send whose id it
/// saw in the last five minutes, even of a message long deleted. A delivery whose processing failed for good has
/// its claim released so that the provider's redelivery can run it again; with the bare key, a redelivery within
/// those five minutes would be answered 202 and silently dropped. The id still makes the SDK's own retries of one
/// send a single message.
fn queue_message(envelope: &Envelope, key: &str, claimed_at: u64, body: String) -> QueueMessage {
    use std::fmt::Write;
    let mut dedup_id = String::with_capacity(key.len() + 21);
    dedup_id.push_str(key);
    // Writing to a String cannot fail.
    let _ = write!(dedup_id, "#{claimed_at}");
    QueueMessage {
        group: envelope.group.clone(),
        dedup_id,
        body,
    }
}

/// The envelope as the queued body, written into a buffer sized for it up front (the payload is most of it).
fn envelope_json(envelope: &Envelope) -> serde_json::Result<String> {
    let mut body = Vec::with_capacity(envelope.payload.get().len() + ENVELOPE_OVERHEAD);
    serde_json::to_writer(&mut body, envelope)?;
    // serde_json writes UTF-8 only; the check is over ~1 kB.
    String::from_utf8(body).map_err(serde::ser::Error::custom)
}

/// Room for the envelope's own fields around the payload.
const ENVELOPE_OVERHEAD: usize = 256;

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use super::*;
    use crate::{
        memory::{MemoryQueue, MemoryStore},
        ports::{ClaimThenSend, DeliveryStore, Inbox},
    };

    fn envelope() -> Envelope {
        Envelope {
            version: crate::domain::ENVELOPE_VERSION,
            provider: Provider::Github,
            tenant: "github.com".into(),
            delivery_id: "d-1".into(),
            event: "issues".into(),
            group: "github:octo/hello#1".into(),
            received_at: 1_000,
            payload: serde_json::value::to_raw_value(&serde_json::json!({})).unwrap(),
        }
    }

    /// GIVEN a delivery accepted and then given up on (claim released) WHEN the provider redelivers it a minute
    /// later THEN the queue, which like SQS FIFO remembers sent ids for five minutes, takes the second send too.
    #[tokio::test]
    async fn a_redelivery_after_a_released_claim_is_not_dropped_as_a_queue_duplicate() {
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::new());
        let inbox = ClaimThenSend {
            deliveries: store.clone(),
            queue: queue.clone(),
        };
        let envelope = envelope();
        let key = envelope.storage_key();
        let ttl = Duration::from_secs(86_400);
        let first = queue_message(&envelope, &key, 1_000, "{}".into());
        assert_eq!(
            inbox.accept(&key, 1_000, ttl, first).await.unwrap(),
            Claim::Claimed
        );
        assert_eq!(queue.drain().len(), 1);
        store.release(&key).await.unwrap();

        let again = queue_message(&envelope, &key, 1_060, "{}".into());
        assert_eq!(
            inbox.accept(&key, 1_060, ttl, again).await.unwrap(),
            Claim::Claimed
        );
        assert_eq!(queue.len(), 1, "the redelivery reached the queue");
    }
}
