//! [`SqsQueue`]: the work queue as an SQS FIFO queue.
//!
//! The message group orders the work of one thread; the deduplication id (the delivery's storage key) makes a
//! resend within SQS's 5-minute window a no-op. Receiving is not part of the port: on AWS the Lambda event
//! source mapping receives and deletes; the worker only shortens or lengthens how long a failed message stays
//! hidden ([`SqsQueue::redeliver_after`]).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use sha2::{Digest, Sha256};

use super::classify;
use crate::{domain::QueueMessage, error::PortError, ports::Queue};

/// Longest visibility timeout SQS accepts (12 hours).
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

/// Longest `MessageGroupId` / `MessageDeduplicationId` SQS accepts.
const MAX_FIFO_ID_LEN: usize = 128;

/// SQS FIFO implementation of [`Queue`]. Cheap to clone: the SDK client is reference-counted.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    /// A queue sending to `queue_url`, which must name a FIFO queue (`….fifo`).
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// A queue with a client built from shared configuration (see [`super::sdk_config`]).
    pub fn from_conf(config: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        Self::new(Client::new(config), queue_url)
    }

    /// The queue URL this adapter sends to.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Make the received message with `receipt_handle` visible again in `delay` (at most 12 hours) instead of
    /// when the queue's visibility timeout runs out. SQS takes whole seconds; a fraction rounds up, so the
    /// message never comes back before `delay` has passed.
    pub async fn redeliver_after(&self, receipt_handle: &str, delay: Duration) -> Result<(), PortError> {
        let seconds = visibility_secs(delay);
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|err| classify("SQS queue", err))?;
        Ok(())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, message: QueueMessage) -> Result<(), PortError> {
        let group = fifo_id(&message.group);
        let dedup = fifo_id(&message.dedup_id);
        let output = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_group_id(group)
            .message_deduplication_id(dedup)
            .message_body(message.body)
            .send()
            .await
            .map_err(|err| classify("SQS queue", err))?;
        tracing::debug!(
            group = %message.group,
            dedup_id = %message.dedup_id,
            message_id = output.message_id().unwrap_or_default(),
            "enqueued"
        );
        Ok(())
    }
}

/// `delay` as a visibility timeout: whole seconds rounded up, at most [`MAX_VISIBILITY`].
fn visibility_secs(delay: Duration) -> i32 {
    let delay = delay.min(MAX_VISIBILITY);
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    i32::try_from(secs).unwrap_or(i32::MAX)
}

/// `value` as a FIFO group or deduplication id: unchanged when SQS accepts it (1–128 characters, each printable
/// ASCII other than space), otherwise its SHA-256 in hex. Hashing is deterministic, so equal inputs still share
/// a group or deduplicate, and the 64-character result always fits.
pub fn fifo_id(value: &str) -> String {
    let acceptable = !value.is_empty()
        && value.len() <= MAX_FIFO_ID_LEN
        && value.bytes().all(|byte| byte.is_ascii_graphic());
    if acceptable {
        value.to_owned()
    } else {
        hex::encode(Sha256::digest(value.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visibility_timeout_never_brings_a_message_back_early() {
        for (delay, secs) in [
            (Duration::from_secs(7), 7),
            (Duration::from_millis(6_100), 7),
            (Duration::from_nanos(1), 1),
            (Duration::ZERO, 0),
            (MAX_VISIBILITY + Duration::from_millis(1), 43_200),
            (Duration::MAX, 43_200),
        ] {
            assert_eq!(visibility_secs(delay), secs, "{delay:?}");
        }
    }

    #[test]
    fn acceptable_ids_pass_through() {
        let key = "github#github.com#72d3162e-cc78-11e3-81ab-4c9367dc0958";
        assert_eq!(fifo_id(key), key);
        assert_eq!(fifo_id(&"x".repeat(128)), "x".repeat(128));
        assert_eq!(
            fifo_id("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
            "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
        );
    }

    #[test]
    fn unacceptable_ids_are_hashed() {
        for value in [
            "x".repeat(129),
            "has space".to_owned(),
            "ünïcode".to_owned(),
            "tab\t".to_owned(),
            String::new(),
        ] {
            let id = fifo_id(&value);
            assert_eq!(id.len(), 64, "{value:?}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(id, fifo_id(&value), "deterministic");
        }
        assert_ne!(fifo_id(&"x".repeat(129)), fifo_id(&"x".repeat(130)));
    }
}
