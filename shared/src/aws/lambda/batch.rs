//! SQS batches for the worker function (FIFO queue, `ReportBatchItemFailures`).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use tracing::{error, info, info_span, warn, Instrument};

use crate::{
    aws::SqsQueue,
    config::Config,
    error::Disposition,
    handlers::{worker, WorkerServices},
};

/// One record of a batch, as the worker needs it.
struct Record {
    /// Position in the batch, to report failures in batch order.
    index: usize,
    message_id: Option<String>,
    receipt_handle: Option<String>,
    body: String,
    receive_count: u32,
}

impl Record {
    fn from_message(index: usize, message: SqsMessage) -> Self {
        let receive_count = match message.attributes.get("ApproximateReceiveCount") {
            Some(raw) => raw.parse().unwrap_or_else(|_| {
                warn!(message_id = ?message.message_id, raw, "unreadable ApproximateReceiveCount; assuming 1");
                1
            }),
            None => 1,
        };
        Self {
            index,
            message_id: message.message_id,
            receipt_handle: message.receipt_handle,
            body: message.body.unwrap_or_default(),
            receive_count,
        }
    }
}

/// Process an SQS batch and report which records must be retried (`ReportBatchItemFailures`).
///
/// Records of different message groups run concurrently; records of one group run in batch order. When a
/// record must be retried, it and every later record of its group go back to the queue unprocessed, as a FIFO
/// queue requires. Each group runs in its own task, so a panic while processing a record fails only that
/// group's remaining records (from the one that panicked on), never the rest of the batch. Records without a
/// `messageId` cannot be reported; a failure among them is logged as lost. With `queue` (the worker's own queue),
/// records going back after a `Retry-After` come back when it says (see `redeliver_later`).
///
/// A record is not started with less than `start_margin` (see [`start_margin`]) left before the invocation's
/// deadline: it and the rest of its group go back to the queue (at once, with `queue`), while the records
/// already started finish, so the function answers before Lambda times it out and fails the whole batch. A
/// context without a deadline (`0`, as `Context::default()` has) sets no limit.
pub async fn sqs_handler(
    services: &WorkerServices,
    queue: Option<&SqsQueue>,
    start_margin: Duration,
    event: LambdaEvent<SqsEvent>,
) -> SqsBatchResponse {
    let cutoff = StartCutoff::new(event.context.deadline, start_margin);
    // Group in batch order; a record without a group (standard queue) is its own group.
    let mut groups: Vec<Vec<Record>> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    for (index, message) in event.payload.records.into_iter().enumerate() {
        let existing = match message.attributes.get("MessageGroupId") {
            Some(group) => {
                let existing = group_of.get(group).copied();
                if existing.is_none() {
                    group_of.insert(group.clone(), groups.len());
                }
                existing
            }
            None => None,
        };
        let record = Record::from_message(index, message);
        match existing {
            Some(slot) => groups[slot].push(record),
            None => groups.push(vec![record]),
        }
    }

    let mut running = Vec::with_capacity(groups.len());
    for records in groups {
        // Kept outside the task, so the records it did not finish can be reported even if it panics.
        let reportable: Vec<(usize, Option<String>, Option<String>)> = records
            .iter()
            .map(|r| (r.index, r.message_id.clone(), r.receipt_handle.clone()))
            .collect();
        let completed = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(run_group(services.clone(), records, completed.clone(), cutoff));
        running.push((task, completed, reportable));
    }

    let mut failed: Vec<(usize, Option<String>)> = Vec::new();
    let mut delayed: Vec<(Option<String>, Duration)> = Vec::new();
    for (task, completed, reportable) in running {
        let outcome = match task.await {
            Ok(outcome) => outcome,
            Err(join_error) => {
                let completed = completed.load(Ordering::SeqCst);
                error!(
                    error = %join_error,
                    message_id = ?reportable.get(completed).and_then(|(_, id, _)| id.as_deref()),
                    "processing a message panicked; it and the rest of its group go back to the queue"
                );
                GroupOutcome {
                    completed,
                    retry_after: None,
                }
            }
        };
        for (index, message_id, receipt_handle) in reportable.into_iter().skip(outcome.completed) {
            if let Some(after) = outcome.retry_after {
                delayed.push((receipt_handle, after));
            }
            failed.push((index, message_id));
        }
    }
    failed.sort_by_key(|(index, _)| *index);
    if let Some(queue) = queue {
        redeliver_later(queue, &delayed).await;
    }

    let mut response = SqsBatchResponse::default();
    for (index, message_id) in failed {
        match message_id {
            Some(id) => response.add_failure(id),
            None => error!(
                batch_index = index,
                "a record without messageId must be retried but cannot be reported; it is lost"
            ),
        }
    }
    response
}

/// How long before an invocation's deadline the worker stops starting records: one record that meets a stalled
/// OpenHands request and a stalled provider API request, each running to its timeout, still finishes in time.
/// Records slower than that are rare enough to leave to the function timeout (and the visibility timeout).
pub fn start_margin(config: &Config) -> Duration {
    config.openhands.request_timeout + crate::outbound::REQUEST_TIMEOUT
}

/// The last moment a record may start: the invocation's deadline (epoch milliseconds) less the start margin.
#[derive(Clone, Copy, Debug)]
struct StartCutoff {
    deadline_ms: u64,
    margin: Duration,
}

impl StartCutoff {
    /// `None` for a context without a deadline.
    fn new(deadline_ms: u64, margin: Duration) -> Option<Self> {
        (deadline_ms > 0).then_some(Self { deadline_ms, margin })
    }

    /// Whether less than the margin is left at `now_ms`.
    fn passed(&self, now_ms: u64) -> bool {
        let margin_ms = u64::try_from(self.margin.as_millis()).unwrap_or(u64::MAX);
        now_ms.saturating_add(margin_ms) > self.deadline_ms
    }
}

/// How far a group got: records processed, and when the records going back (the rest) should come back
/// (`None`: when the visibility timeout runs out).
struct GroupOutcome {
    completed: usize,
    retry_after: Option<Duration>,
}

/// Process one group's records in order until one must be retried or `cutoff` has passed; returns how many were
/// completed (all of them, or the position of the first to retry or not started). `completed` is updated as it
/// goes, for the panic path.
async fn run_group(
    services: WorkerServices,
    records: Vec<Record>,
    completed: Arc<AtomicUsize>,
    cutoff: Option<StartCutoff>,
) -> GroupOutcome {
    for (position, record) in records.iter().enumerate() {
        if cutoff.is_some_and(|cutoff| cutoff.passed(services.clock.now_millis())) {
            warn!(
                message_id = record.message_id.as_deref().unwrap_or(""),
                not_started = records.len() - position,
                "too close to the invocation deadline; handing this and the later messages of its group back"
            );
            // Nothing was tried, so nothing to wait out: back at once (when the queue can be told so).
            return GroupOutcome {
                completed: position,
                retry_after: Some(Duration::ZERO),
            };
        }
        let span = info_span!(
            "sqs_record",
            message_id = record.message_id.as_deref().unwrap_or(""),
            receive_count = record.receive_count
        );
        let disposition = worker::process(&services, &record.body, record.receive_count)
            .instrument(span.clone())
            .await;
        match disposition {
            Disposition::Done => {
                completed.store(position + 1, Ordering::SeqCst);
            }
            Disposition::Retry { after } => {
                info!(
                    parent: &span,
                    retry_after_secs = after.map(|a| a.as_secs()),
                    later_in_group = records.len() - position - 1,
                    "message will be retried; later messages of its group wait for it"
                );
                return GroupOutcome {
                    completed: position,
                    retry_after: after,
                };
            }
        }
    }
    GroupOutcome {
        completed: records.len(),
        retry_after: None,
    }
}

/// Honour a remote's `Retry-After` (or rate-limit reset) for the records going back to the queue: they become
/// visible again then, rather than when the queue's visibility timeout runs out, which may be too early (a
/// rate-limit reset an hour away would burn every receive and dead-letter the message) or needlessly late.
/// All of a group's returned records get the same delay, as FIFO holds the group until every one is visible.
/// Records handed back unstarted near the deadline come back at once. Failing to change it only means the
/// visibility timeout applies.
async fn redeliver_later(queue: &SqsQueue, records: &[(Option<String>, Duration)]) {
    for (receipt_handle, delay) in records {
        let Some(receipt_handle) = receipt_handle else {
            continue;
        };
        if let Err(err) = queue.redeliver_after(receipt_handle, *delay).await {
            warn!(error = %err, delay_secs = delay.as_secs(), "could not set when the message comes back; the visibility timeout applies");
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn records_start_only_with_the_margin_left() {
        let margin = Duration::from_secs(50);
        assert!(
            StartCutoff::new(0, margin).is_none(),
            "no deadline (Context::default()), no limit"
        );
        let cutoff = StartCutoff::new(1_000_000, margin).expect("a deadline");
        assert!(!cutoff.passed(900_000), "100 s left");
        assert!(!cutoff.passed(950_000), "exactly the margin left");
        assert!(cutoff.passed(950_001), "a millisecond less");
        assert!(cutoff.passed(1_200_000), "past the deadline");
        assert!(StartCutoff::new(10_000, margin).expect("a deadline").passed(0));
    }

    #[test]
    fn the_start_margin_covers_an_openhands_and_a_provider_request() {
        let load =
            |pairs: &[(&str, &str)]| Config::from_lookup(crate::config::pairs_lookup(pairs)).expect("loads");
        assert_eq!(start_margin(&load(&[])), Duration::from_secs(30 + 20));
        assert_eq!(
            start_margin(&load(&[("OPENHANDS_TIMEOUT_SECS", "60")])),
            Duration::from_secs(60 + 20)
        );
    }
}
