//! [`SqsDeadLetters`]: the operator's view of the SQS dead-letter queue, and putting one message back.
//!
//! SQS has no way to read a queue without receiving from it. Listing receives with a visibility timeout of zero,
//! so every message stays visible (and a retry or a redrive sees it at once); retrying receives until it meets
//! the message, sends its body to the work queue as a new message of its group, deletes it from the dead-letter
//! queue, and makes whatever else it received visible again.

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_sqs::{
    types::{Message, MessageSystemAttributeName},
    Client,
};

use super::{classify, sqs::fifo_id};
use crate::{
    error::PortError,
    ports::{DeadLetter, DeadLetters},
};

/// Most messages one receive returns.
const BATCH: i32 = 10;
/// Receives a listing or a retry makes at most (a FIFO queue returns a group's messages in order, so a message
/// behind many may take several).
const MAX_ROUNDS: usize = 20;
/// How long a retry hides what it received while it looks for its message.
const LOOKING_SECS: i32 = 30;

/// The dead-letter queue at `dead_letter_url`, and the work queue at `queue_url` retried messages go back to.
#[derive(Clone, Debug)]
pub struct SqsDeadLetters {
    client: Client,
    dead_letter_url: String,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: Client, dead_letter_url: impl Into<String>, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            dead_letter_url: dead_letter_url.into(),
            queue_url: queue_url.into(),
        }
    }

    async fn receive(&self, visibility_secs: i32) -> Result<Vec<Message>, PortError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.dead_letter_url)
            .max_number_of_messages(BATCH)
            .visibility_timeout(visibility_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|err| classify("SQS dead-letter queue", err))?;
        Ok(output.messages.unwrap_or_default())
    }

    /// Make `message` visible again at once.
    async fn release(&self, message: &Message) {
        if let Some(receipt) = message.receipt_handle() {
            let _ = self
                .client
                .change_message_visibility()
                .queue_url(&self.dead_letter_url)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await;
        }
    }
}

fn attribute<'m>(message: &'m Message, name: &MessageSystemAttributeName) -> Option<&'m str> {
    message.attributes()?.get(name).map(String::as_str)
}

fn dead_letter(message: &Message) -> DeadLetter {
    let receive_count = attribute(message, &MessageSystemAttributeName::ApproximateReceiveCount)
        .and_then(|n| n.parse().ok())
        .unwrap_or_default();
    DeadLetter {
        id: message.message_id().unwrap_or_default().to_owned(),
        group: attribute(message, &MessageSystemAttributeName::MessageGroupId)
            .unwrap_or_default()
            .to_owned(),
        dedup_id: attribute(message, &MessageSystemAttributeName::MessageDeduplicationId)
            .unwrap_or_default()
            .to_owned(),
        body: message.body().unwrap_or_default().to_owned(),
        receive_count,
        reason: "moved to the dead-letter queue after its last receive failed (see the worker's logs)"
            .to_owned(),
        failed_at: attribute(message, &MessageSystemAttributeName::SentTimestamp)
            .and_then(|ms| ms.parse::<u64>().ok())
            .map_or(0, |ms| ms / 1000),
    }
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, PortError> {
        let mut seen = HashSet::new();
        let mut letters = Vec::new();
        for _ in 0..MAX_ROUNDS {
            let received = self.receive(0).await?;
            let before = letters.len();
            for message in &received {
                if seen.insert(message.message_id().unwrap_or_default().to_owned()) {
                    letters.push(dead_letter(message));
                }
            }
            if received.is_empty() || letters.len() == before || letters.len() >= limit {
                break;
            }
        }
        letters.sort_by_key(|letter| std::cmp::Reverse(letter.failed_at));
        letters.truncate(limit);
        Ok(letters)
    }

    async fn retry_dead_letter(&self, id: &str) -> Result<bool, PortError> {
        let mut passed = Vec::new();
        let mut found = None;
        for _ in 0..MAX_ROUNDS {
            let received = self.receive(LOOKING_SECS).await?;
            if received.is_empty() {
                break;
            }
            for message in received {
                if found.is_none() && message.message_id() == Some(id) {
                    found = Some(message);
                } else {
                    passed.push(message);
                }
            }
            if found.is_some() {
                break;
            }
        }
        for message in &passed {
            self.release(message).await;
        }
        let Some(message) = found else {
            return Ok(false);
        };
        let letter = dead_letter(&message);
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_group_id(fifo_id(&letter.group))
            // A new message: the original's id may still be inside SQS's five-minute deduplication window.
            .message_deduplication_id(fifo_id(&format!("retry:{id}")))
            .message_body(letter.body)
            .send()
            .await
            .map_err(|err| classify("SQS queue", err))?;
        if let Some(receipt) = message.receipt_handle() {
            self.client
                .delete_message()
                .queue_url(&self.dead_letter_url)
                .receipt_handle(receipt)
                .send()
                .await
                .map_err(|err| classify("SQS dead-letter queue", err))?;
        }
        tracing::info!(dead_letter = %id, group = %letter.group, "dead letter put back on the work queue");
        Ok(true)
    }
}
