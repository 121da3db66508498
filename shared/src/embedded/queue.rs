//! Durable FIFO queue with message groups in SQLite, modelled on SQS FIFO.
//!
//! - Messages of one group are delivered strictly in order: only the oldest message of a group (its head) is
//!   ever received, and not while it is in flight or waiting out a retry delay. Different groups flow
//!   independently.
//! - `receive` leases the heads it returns for the visibility timeout; `ack` deletes, `retry` makes the message
//!   visible again after a delay, and a lease that runs out (the process died mid-processing) makes it
//!   receivable again.
//! - A message received [`SqliteQueue::max_receives`] times without being acked moves to the dead-letter table
//!   with its last error, decided by `retry` or by the next `receive` after its lease expired. An operator puts
//!   one back ([`DeadLetters::retry_dead_letter`]) as a new message at the end of its group.
//! - `send` accepts a `dedup_id` seen in the last [`DEDUP_WINDOW`] without enqueuing it again
//!   ([`super::Database::accept`] relies on its delivery claim instead).
//!
//! Each message row carries `head` (maintained on send and removal), `next_id` (the group's next message, so a
//! group's order is a chain rather than an index every send would write) and `available_at` (0 when sent, the
//! lease end while in flight, the retry time after a retry), so a receive is an index range scan over group
//! heads rather than a scan of the whole backlog.

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::Duration,
};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::{sql_time, stored_u64, Database, PurgeSql};
use crate::{
    clock::{Clock, SystemClock},
    domain::QueueMessage,
    error::PortError,
    memory::expiry,
    ports::{DeadLetter, DeadLetters, Queue},
};

/// Receives after which a failing message is dead-lettered, unless the constructor says otherwise.
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

/// How long a `dedup_id` suppresses duplicates after it was first sent (as on SQS FIFO).
pub const DEDUP_WINDOW: Duration = Duration::from_secs(300);

/// One leased message handed to a consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Identifies the message for [`SqliteQueue::ack`], [`SqliteQueue::retry`] and
    /// [`SqliteQueue::dead_letter`]; not handed to another message while this process runs.
    pub id: i64,
    /// The message body as sent.
    pub body: String,
    /// The message group.
    pub group: String,
    /// How many times this message has been received, this time included (1 on first delivery).
    pub receive_count: u32,
}

/// What [`SqliteQueue::retry`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The message becomes receivable again at this instant (epoch seconds).
    Scheduled { visible_at: u64 },
    /// It had used up its receives and moved to the dead-letter table.
    DeadLettered,
}

/// Durable FIFO queue over a [`Database`]. Clones share the connection.
#[derive(Clone)]
pub struct SqliteQueue {
    db: Database,
    max_receives: u32,
    /// Only `send` reads it (the [`Queue`] port carries no time) to date the dedup window.
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("max_receives", &self.max_receives)
            .finish_non_exhaustive()
    }
}

impl SqliteQueue {
    /// Open (creating if needed) the database file at `path`, with [`DEFAULT_MAX_RECEIVES`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, PortError> {
        Ok(Database::open(path)?.queue())
    }

    /// A queue over `db` that dead-letters a message after `max_receives` receives (at least 1).
    pub fn new(db: Database, max_receives: u32) -> Self {
        Self {
            db,
            max_receives: max_receives.max(1),
            clock: Arc::new(SystemClock),
        }
    }

    /// Replace the clock `send` uses to date the dedup window (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The database this queue lives in.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Receives after which a failing message is dead-lettered.
    pub fn max_receives(&self) -> u32 {
        self.max_receives
    }

    /// Lease up to `max` messages, oldest first: the head of each group that is neither in flight nor delayed.
    /// Each returned message is invisible until `now + visibility` unless acked or retried first. A head that
    /// already used up its receives (its lease expired every time) is dead-lettered instead of returned.
    /// `now` is in whole epoch seconds, rounded down: a message due at second `S` needs `now >= S`, which holds
    /// only once that second has begun.
    pub fn receive(&self, now: u64, max: usize, visibility: Duration) -> Result<Vec<Received>, PortError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let lease_until = sql_time(expiry(now, visibility));
        let mut received = Vec::with_capacity(max.min(64));
        let mut dead_lettered = Vec::new();
        let mut conn = self.db.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        loop {
            let wanted = i64::try_from(max - received.len()).unwrap_or(i64::MAX);
            let candidates = {
                let mut stmt = tx.prepare_cached(
                    "SELECT id, group_id, body, receive_count, last_error FROM queue_messages
                     WHERE head = 1 AND available_at <= ?1 ORDER BY id LIMIT ?2",
                )?;
                let rows = stmt.query_map((sql_time(now), wanted), |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, Option<String>>(4)?,
                    ))
                })?;
                rows.collect::<Result<Vec<_>, _>>()?
            };
            if candidates.is_empty() {
                break;
            }
            let mut promoted = false;
            for (id, group, body, count, last_error) in candidates {
                let count = stored_count(count)?;
                if count >= self.max_receives {
                    let reason = last_error.unwrap_or_else(|| {
                        format!("not acknowledged after {count} receives (lease expired each time)")
                    });
                    move_to_dead_letters(&tx, id, now, &reason)?;
                    dead_lettered.push((id, group, reason));
                    // The group's next message may now be the head, so look again.
                    promoted = true;
                    continue;
                }
                tx.prepare_cached(
                    "UPDATE queue_messages SET receive_count = receive_count + 1, available_at = ?2 WHERE id = ?1",
                )?
                .execute((id, lease_until))?;
                received.push(Received {
                    id,
                    body,
                    group,
                    receive_count: count + 1,
                });
            }
            if !promoted || received.len() >= max {
                break;
            }
        }
        tx.commit()?;
        drop(conn);
        for (id, group, reason) in dead_lettered {
            tracing::warn!(message_id = id, group = %group, reason = %reason, "queue message dead-lettered");
        }
        Ok(received)
    }

    /// Delete a processed message; the next message of its group becomes receivable. Returns whether it was
    /// still there (a late ack after it was dead-lettered, or a second ack, finds nothing).
    pub fn ack(&self, id: i64) -> Result<bool, PortError> {
        let mut conn = self.db.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let removed = remove(&tx, id)?;
        tx.commit()?;
        Ok(removed)
    }

    /// Processing failed transiently: make the message receivable again once `delay` has passed since `now_ms`
    /// (epoch milliseconds), recording `error` as its last error. If it was already received
    /// [`Self::max_receives`] times it moves to the dead-letter table with `error` as the reason instead.
    /// `PortError::NotFound` if the message is gone.
    ///
    /// The queue keeps whole seconds, so that instant is rounded up to the next one: taking `now` in whole
    /// seconds instead would let a retry at 100.9 s with a 7 s `Retry-After` be received at 107.0 s, most of a
    /// second early.
    pub fn retry(
        &self,
        id: i64,
        now_ms: u64,
        delay: Duration,
        error: &str,
    ) -> Result<RetryOutcome, PortError> {
        let now = now_ms / 1000;
        let mut conn = self.db.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let count: Option<i64> = tx
            .prepare_cached("SELECT receive_count FROM queue_messages WHERE id = ?1")?
            .query_row([id], |row| row.get(0))
            .optional()?;
        let Some(count) = count else {
            return Err(PortError::not_found(format!("queue message {id}")));
        };
        if stored_count(count)? >= self.max_receives {
            move_to_dead_letters(&tx, id, now, error)?;
            tx.commit()?;
            drop(conn);
            tracing::warn!(message_id = id, reason = %error, "queue message dead-lettered after its last retry");
            return Ok(RetryOutcome::DeadLettered);
        }
        let visible_at = visible_at(now_ms, delay);
        tx.prepare_cached("UPDATE queue_messages SET available_at = ?2, last_error = ?3 WHERE id = ?1")?
            .execute((id, sql_time(visible_at), error))?;
        tx.commit()?;
        Ok(RetryOutcome::Scheduled { visible_at })
    }

    /// Give up on a message now (e.g. an envelope that cannot be parsed), recording `reason`. Returns whether it
    /// was still in the queue.
    pub fn dead_letter(&self, id: i64, now: u64, reason: &str) -> Result<bool, PortError> {
        let mut conn = self.db.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let moved = move_to_dead_letters(&tx, id, now, reason)?;
        tx.commit()?;
        drop(conn);
        if moved {
            tracing::warn!(message_id = id, reason = %reason, "queue message dead-lettered");
        }
        Ok(moved)
    }

    /// Every dead letter, oldest message first (the [`DeadLetters`] port lists the newest first).
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, PortError> {
        self.read_dead_letters(
            "SELECT id, group_id, dedup_id, body, receive_count, reason, failed_at
             FROM queue_dead_letters ORDER BY id",
            [],
        )
    }

    /// The dead letters a `SELECT id, group_id, dedup_id, body, receive_count, reason, failed_at …` returns.
    fn read_dead_letters(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<DeadLetter>, PortError> {
        self.db.select_all(
            sql,
            params,
            |row| <(i64, String, String, String, i64, String, i64)>::try_from(row),
            |(id, group, dedup_id, body, receive_count, reason, failed_at)| {
                Ok(DeadLetter {
                    id: id.to_string(),
                    group,
                    dedup_id,
                    body,
                    receive_count: stored_count(receive_count)?,
                    reason,
                    failed_at: stored_u64(failed_at, "dead-letter time")?,
                })
            },
        )
    }

    /// Messages in the queue, in flight and delayed ones included (dead letters excluded).
    pub fn depth(&self) -> Result<u64, PortError> {
        let count: i64 = self
            .db
            .lock()
            .prepare_cached("SELECT COUNT(*) FROM queue_messages")?
            .query_row([], |row| row.get(0))?;
        stored_u64(count, "queue depth")
    }

    /// Delete dedup records whose window ended at or before `now`; returns how many. Housekeeping only: an
    /// expired record already no longer suppresses a send.
    pub fn purge_expired(&self, now: u64) -> Result<usize, PortError> {
        self.db.purge(&PURGE_DEDUP, now)
    }
}

const PURGE_DEDUP: PurgeSql = PurgeSql {
    scan: "SELECT dedup_id, expires_at FROM queue_dedup WHERE dedup_id >= ?1 ORDER BY dedup_id LIMIT ?2",
    delete: "DELETE FROM queue_dedup WHERE dedup_id = ?1 AND expires_at <= ?2",
};

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, message: QueueMessage) -> Result<(), PortError> {
        let now = self.clock.now_secs();
        let mut conn = self.db.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if enqueue(&tx, self.db.appends(), &message, now)? {
            tx.commit()?;
        }
        Ok(())
    }
}

/// The newest `?1` dead letters.
const SQL_DEAD_LETTERS_NEWEST: &str = "SELECT id, group_id, dedup_id, body, receive_count, reason, failed_at
    FROM queue_dead_letters ORDER BY failed_at DESC, id DESC LIMIT ?1";

#[async_trait]
impl DeadLetters for SqliteQueue {
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, PortError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read_dead_letters(SQL_DEAD_LETTERS_NEWEST, [limit])
    }

    /// The message joins the end of its group, visible at once with no receives yet. It is
    /// appended without consulting the dedup window, which would drop it whenever the original was sent less than
    /// [`DEDUP_WINDOW`] ago.
    async fn retry_dead_letter(&self, id: &str) -> Result<bool, PortError> {
        // Only the ids the listing gives (no sign, no leading zeros) name a dead letter.
        let Some(row_id) = id.parse::<i64>().ok().filter(|n| n.to_string() == id) else {
            return Ok(false);
        };
        let mut conn = self.db.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let letter: Option<QueueMessage> = tx
            .prepare_cached(
                "DELETE FROM queue_dead_letters WHERE id = ?1 RETURNING group_id, dedup_id, body",
            )?
            .query_row([row_id], |row| {
                Ok(QueueMessage {
                    group: row.get(0)?,
                    dedup_id: row.get(1)?,
                    body: row.get(2)?,
                })
            })
            .optional()?;
        let Some(message) = letter else {
            return Ok(false);
        };
        append_all(&tx, self.db.appends(), &[&message])?;
        tx.commit()?;
        drop(conn);
        tracing::info!(dead_letter = row_id, group = %message.group, "dead letter put back on the queue");
        Ok(true)
    }
}

/// The first whole epoch second at or after `now_ms` + `delay`. A message due then is received by no `receive`
/// before that instant, even one whose `now` is the current time rounded down.
fn visible_at(now_ms: u64, delay: Duration) -> u64 {
    let due_nanos = u128::from(now_ms) * 1_000_000 + delay.as_nanos();
    u64::try_from(due_nanos.div_ceil(1_000_000_000)).unwrap_or(u64::MAX)
}

fn stored_count(value: i64) -> Result<u32, PortError> {
    u32::try_from(value).map_err(|_| PortError::permanent("sqlite", "receive count out of range in database"))
}

/// Record `message.dedup_id` and append the message unless the id was seen within [`DEDUP_WINDOW`] of `now`.
/// Returns whether it was appended (nothing was written otherwise). Must run inside a transaction: the dedup
/// record and the message commit together.
fn enqueue(
    conn: &Connection,
    appends: &AppendState,
    message: &QueueMessage,
    now: u64,
) -> Result<bool, PortError> {
    let fresh = conn
        .prepare_cached(
            "INSERT INTO queue_dedup (dedup_id, expires_at) VALUES (?1, ?2)
             ON CONFLICT (dedup_id) DO UPDATE SET expires_at = excluded.expires_at
             WHERE queue_dedup.expires_at <= ?3",
        )?
        .execute((
            &message.dedup_id,
            sql_time(expiry(now, DEDUP_WINDOW)),
            sql_time(now),
        ))?;
    if fresh == 0 {
        return Ok(false);
    }
    append_all(conn, appends, &[message])?;
    Ok(true)
}

/// Groups whose tail a handle remembers; past this the memory is dropped and rebuilt as groups are appended to.
const MAX_REMEMBERED_TAILS: usize = 16_384;

/// What a handle keeps between appends. Only touched with the connection locked.
#[derive(Debug, Default)]
pub(super) struct AppendState {
    /// Lowest id the next message may take (see [`append_all`]).
    next_id: AtomicI64,
    /// The newest message of recently appended groups: a hint, checked against the table before it is used,
    /// since another handle on the file may have appended or removed messages since.
    tails: Mutex<HashMap<String, i64>>,
}

impl AppendState {
    pub(super) fn new(next_id: i64) -> Self {
        Self {
            next_id: AtomicI64::new(next_id),
            tails: Mutex::default(),
        }
    }
}

/// Append `messages` in order, each to the end of its group (as the group's head if the group has nothing
/// queued). Must run inside a write transaction.
///
/// A group's order is a chain of `next_id` links, not an index over (group, id): such an index put one more
/// page (its tail leaf, rewritten by every commit) in each webhook commit. Messages of one group within the
/// call are linked as they are inserted, so the only other write is one link per group from its previous
/// tail, which is usually on the page being written anyway.
///
/// Ids are the larger of the remembered next id and one past the highest id in the table. The remembered one
/// only grows while the process runs, so an id freed by an ack is not handed out again (a late ack or retry by a
/// consumer whose lease had expired cannot hit a newer message); the table maximum keeps ids unique even if
/// another handle writes the same file. After a restart ids may repeat earlier ones, but no consumer of the old
/// process is left to confuse them.
pub(super) fn append_all(
    conn: &Connection,
    appends: &AppendState,
    messages: &[&QueueMessage],
) -> Result<(), PortError> {
    let Some(count) = i64::try_from(messages.len()).ok().filter(|n| *n > 0) else {
        return Ok(());
    };
    let highest: i64 = conn
        .prepare_cached("SELECT IFNULL(MAX(id), 0) FROM queue_messages")?
        .query_row([], |row| row.get(0))?;
    // Relaxed suffices: the connection lock orders every access.
    let first_id = appends
        .next_id
        .load(Ordering::Relaxed)
        .max(highest.saturating_add(1));
    let id_of = |index: usize| first_id + index as i64;

    // Walking backwards: each message's successor within the call, and each group's first message in it.
    let mut successor = vec![None; messages.len()];
    let mut first_of_group: HashMap<&str, i64> = HashMap::with_capacity(messages.len());
    for (index, message) in messages.iter().enumerate().rev() {
        successor[index] = first_of_group.insert(message.group.as_str(), id_of(index));
    }

    let mut tails = appends.tails.lock().unwrap_or_else(PoisonError::into_inner);
    let mut insert = conn.prepare_cached(
        "INSERT INTO queue_messages (id, group_id, dedup_id, body, head, next_id, available_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
    )?;
    for (index, message) in messages.iter().enumerate() {
        let id = id_of(index);
        let head = if first_of_group.get(message.group.as_str()) == Some(&id) {
            match group_tail(conn, &tails, &message.group)? {
                Some(tail) => {
                    conn.prepare_cached("UPDATE queue_messages SET next_id = ?2 WHERE id = ?1")?
                        .execute((tail, id))?;
                    false
                }
                None => true,
            }
        } else {
            false
        };
        insert.execute((
            id,
            &message.group,
            &message.dedup_id,
            &message.body,
            head,
            successor[index],
        ))?;
    }
    for (index, message) in messages.iter().enumerate() {
        if successor[index].is_some() {
            continue;
        }
        if let Some(tail) = tails.get_mut(message.group.as_str()) {
            *tail = id_of(index);
        } else {
            if tails.len() >= MAX_REMEMBERED_TAILS {
                tails.clear();
            }
            tails.insert(message.group.clone(), id_of(index));
        }
    }
    appends
        .next_id
        .fetch_max(first_id.saturating_add(count), Ordering::Relaxed);
    Ok(())
}

/// The newest message of `group`, or `None` if the group has nothing queued. Any message of a group leads
/// to its tail by following `next_id`; the remembered tail usually is it.
fn group_tail(
    conn: &Connection,
    tails: &HashMap<String, i64>,
    group: &str,
) -> Result<Option<i64>, PortError> {
    if let Some(&remembered) = tails.get(group) {
        let found: Option<(bool, Option<i64>)> = conn
            .prepare_cached("SELECT group_id = ?2, next_id FROM queue_messages WHERE id = ?1")?
            .query_row((remembered, group), |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        match found {
            Some((true, None)) => return Ok(Some(remembered)),
            Some((true, Some(_))) => return walk_to_tail(conn, remembered).map(Some),
            // Removed (and perhaps the id reused by another handle): ask the table.
            _ => {}
        }
    }
    let head: Option<i64> = conn
        .prepare_cached("SELECT id FROM queue_messages WHERE group_id = ?1 AND head = 1")?
        .query_row([group], |row| row.get(0))
        .optional()?;
    head.map(|head| walk_to_tail(conn, head)).transpose()
}

/// Follow `next_id` from message `from` to the end of its group.
fn walk_to_tail(conn: &Connection, from: i64) -> Result<i64, PortError> {
    // A chain visits distinct messages, so it is never longer than the id range; a longer one is a cycle.
    let bound: i64 = conn
        .prepare_cached("SELECT IFNULL(MAX(id) - MIN(id), 0) + 1 FROM queue_messages")?
        .query_row([], |row| row.get(0))?;
    let mut next = conn.prepare_cached("SELECT next_id FROM queue_messages WHERE id = ?1")?;
    let mut current = from;
    for _ in 0..bound {
        match next
            .query_row([current], |row| row.get::<_, Option<i64>>(0))
            .optional()?
        {
            Some(Some(following)) => current = following,
            Some(None) => return Ok(current),
            None => break,
        }
    }
    Err(PortError::permanent(
        "sqlite",
        "queue group chain is broken (database modified outside Hookline?)",
    ))
}

/// Delete message `id`, promoting the next message of its group to head. Returns whether it existed.
fn remove(conn: &Connection, id: i64) -> Result<bool, PortError> {
    let removed: Option<(String, bool, Option<i64>)> = conn
        .prepare_cached("DELETE FROM queue_messages WHERE id = ?1 RETURNING group_id, head, next_id")?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    let Some((group, was_head, next)) = removed else {
        return Ok(false);
    };
    if was_head {
        if let Some(next) = next {
            conn.prepare_cached("UPDATE queue_messages SET head = 1 WHERE id = ?1")?
                .execute([next])?;
        }
    } else {
        // Only heads are received, so only heads are acked or dead-lettered; should anything else be removed,
        // its predecessor is relinked past it (a scan, but never on a path that expects to take it).
        conn.prepare_cached("UPDATE queue_messages SET next_id = ?2 WHERE group_id = ?3 AND next_id = ?1")?
            .execute((id, next, &group))?;
    }
    Ok(true)
}

/// Move message `id` to the dead-letter table with `reason`. Returns whether it existed.
fn move_to_dead_letters(conn: &Connection, id: i64, now: u64, reason: &str) -> Result<bool, PortError> {
    let copied = conn
        .prepare_cached(
            "INSERT INTO queue_dead_letters (id, group_id, dedup_id, body, receive_count, reason, failed_at)
             SELECT id, group_id, dedup_id, body, receive_count, ?2, ?3 FROM queue_messages WHERE id = ?1",
        )?
        .execute((id, reason, sql_time(now)))?;
    if copied == 0 {
        return Ok(false);
    }
    remove(conn, id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::testing::{query_plan, temp_db};
    use crate::{
        clock::ManualClock,
        ports::{Claim, DeliveryStore},
    };

    const VISIBILITY: Duration = Duration::from_secs(30);

    fn message(group: &str, dedup_id: &str) -> QueueMessage {
        QueueMessage {
            group: group.to_owned(),
            dedup_id: dedup_id.to_owned(),
            body: format!("body-{dedup_id}"),
        }
    }

    fn queue() -> SqliteQueue {
        Database::open_in_memory().unwrap().queue()
    }

    /// Send a message for each `(group, dedup id)`, in order.
    async fn send_all(queue: &SqliteQueue, messages: &[(&str, &str)]) {
        for (group, dedup_id) in messages {
            queue.send(message(group, dedup_id)).await.unwrap();
        }
    }

    fn bodies(received: &[Received]) -> Vec<&str> {
        received.iter().map(|r| r.body.as_str()).collect()
    }

    #[tokio::test]
    async fn delivers_group_heads_in_order_one_at_a_time() {
        let queue = queue();
        for (group, id) in [("g1", "a"), ("g2", "b"), ("g1", "c"), ("g3", "d"), ("g2", "e")] {
            queue.send(message(group, id)).await.unwrap();
        }
        assert_eq!(queue.depth().unwrap(), 5);

        let first = queue.receive(100, 10, VISIBILITY).unwrap();
        assert_eq!(
            bodies(&first),
            ["body-a", "body-b", "body-d"],
            "only the head of each group, oldest first"
        );
        assert!(first.iter().all(|r| r.receive_count == 1));
        assert_eq!(first[0].group, "g1");

        // The groups are in flight: nothing else is receivable.
        assert!(queue.receive(101, 10, VISIBILITY).unwrap().is_empty());

        assert!(queue.ack(first[0].id).unwrap());
        let next = queue.receive(102, 10, VISIBILITY).unwrap();
        assert_eq!(
            bodies(&next),
            ["body-c"],
            "g1's next message follows its ack; g2 is still in flight"
        );

        assert!(queue.ack(first[1].id).unwrap());
        assert!(queue.ack(first[2].id).unwrap());
        assert!(queue.ack(next[0].id).unwrap());
        assert_eq!(bodies(&queue.receive(103, 10, VISIBILITY).unwrap()), ["body-e"]);
        assert!(!queue.ack(first[0].id).unwrap(), "a second ack finds nothing");
    }

    #[tokio::test]
    async fn receive_respects_max() {
        let queue = queue();
        for i in 0..5 {
            queue
                .send(message(&format!("g{i}"), &format!("m{i}")))
                .await
                .unwrap();
        }
        assert!(queue.receive(0, 0, VISIBILITY).unwrap().is_empty());
        assert_eq!(
            bodies(&queue.receive(0, 2, VISIBILITY).unwrap()),
            ["body-m0", "body-m1"]
        );
        assert_eq!(
            bodies(&queue.receive(0, 2, VISIBILITY).unwrap()),
            ["body-m2", "body-m3"]
        );
        assert_eq!(bodies(&queue.receive(0, 2, VISIBILITY).unwrap()), ["body-m4"]);
    }

    #[tokio::test]
    async fn expired_lease_makes_the_message_receivable_again() {
        let queue = queue();
        send_all(&queue, &[("g", "a"), ("g", "b")]).await;
        let first = queue.receive(100, 10, VISIBILITY).unwrap();
        assert_eq!(bodies(&first), ["body-a"]);
        assert!(queue.receive(129, 10, VISIBILITY).unwrap().is_empty());

        let again = queue.receive(130, 10, VISIBILITY).unwrap();
        assert_eq!(bodies(&again), ["body-a"], "the head is redelivered, not skipped");
        assert_eq!(again[0].id, first[0].id);
        assert_eq!(again[0].receive_count, 2);
    }

    #[tokio::test]
    async fn retry_delays_the_message_and_its_group() {
        let queue = queue();
        send_all(&queue, &[("g", "a"), ("g", "b"), ("other", "c")]).await;
        let got = queue.receive(100, 1, VISIBILITY).unwrap();
        assert_eq!(bodies(&got), ["body-a"]);

        let outcome = queue
            .retry(got[0].id, 100_000, Duration::from_secs(10), "OpenHands 503")
            .unwrap();
        assert_eq!(outcome, RetryOutcome::Scheduled { visible_at: 110 });
        assert_eq!(
            bodies(&queue.receive(109, 10, VISIBILITY).unwrap()),
            ["body-c"],
            "g waits for its head"
        );
        let again = queue.receive(110, 10, VISIBILITY).unwrap();
        assert_eq!(bodies(&again), ["body-a"]);
        assert_eq!(again[0].receive_count, 2);

        let err = queue.retry(9_999, 100_000, Duration::ZERO, "x").unwrap_err();
        assert!(matches!(err, PortError::NotFound { .. }), "{err}");
    }

    /// GIVEN a `Retry-After: 7` answered at t = 100.9 s WHEN the worker retries the message then THEN it is not
    /// received at 107.5 s (whose whole second, 107, is what `receive` is given), only from 108 s on.
    #[tokio::test]
    async fn a_retry_is_never_received_before_its_delay_has_fully_passed() {
        let clock = ManualClock::at_millis(100_900);
        let queue = queue();
        queue.send(message("g", "a")).await.unwrap();
        let got = queue.receive(clock.now_secs(), 1, VISIBILITY).unwrap();
        let outcome = queue
            .retry(got[0].id, clock.now_millis(), Duration::from_secs(7), "HTTP 429")
            .unwrap();
        assert_eq!(outcome, RetryOutcome::Scheduled { visible_at: 108 });

        clock.set_millis(107_500);
        assert!(
            queue.receive(clock.now_secs(), 1, VISIBILITY).unwrap().is_empty(),
            "107.5 s is 0.4 s before 100.9 s + 7 s"
        );
        clock.set_millis(107_999);
        assert!(queue.receive(clock.now_secs(), 1, VISIBILITY).unwrap().is_empty());
        clock.set_millis(108_000);
        assert_eq!(
            bodies(&queue.receive(clock.now_secs(), 1, VISIBILITY).unwrap()),
            ["body-a"]
        );
    }

    #[test]
    fn visible_at_rounds_up_to_a_whole_second() {
        let cases = [
            // A whole second plus whole seconds is exact: a ManualClock test at 100 s waits 10 s, not 11.
            (100_000, Duration::from_secs(10), 110),
            (100_900, Duration::from_secs(7), 108),
            (100_001, Duration::ZERO, 101),
            (100_000, Duration::ZERO, 100),
            (100_000, Duration::from_millis(1), 101),
            (100_000, Duration::from_nanos(1), 101),
            (99_500, Duration::from_millis(500), 100),
            (u64::MAX, Duration::MAX, u64::MAX),
        ];
        for (now_ms, delay, expected) in cases {
            assert_eq!(visible_at(now_ms, delay), expected, "{now_ms} ms + {delay:?}");
        }
    }

    #[tokio::test]
    async fn failing_message_is_dead_lettered_after_max_receives() {
        let queue = SqliteQueue::new(Database::open_in_memory().unwrap(), 3);
        send_all(&queue, &[("g", "poison"), ("g", "next")]).await;

        let mut now = 100;
        for attempt in 1..=3u32 {
            let got = queue.receive(now, 10, VISIBILITY).unwrap();
            assert_eq!(bodies(&got), ["body-poison"]);
            assert_eq!(got[0].receive_count, attempt);
            let outcome = queue
                .retry(
                    got[0].id,
                    now * 1000,
                    Duration::from_secs(1),
                    &format!("boom {attempt}"),
                )
                .unwrap();
            if attempt < 3 {
                assert_eq!(outcome, RetryOutcome::Scheduled { visible_at: now + 1 });
            } else {
                assert_eq!(outcome, RetryOutcome::DeadLettered);
            }
            now += 1;
        }

        let dead = queue.dead_letters().unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].body, "body-poison");
        assert_eq!(dead[0].dedup_id, "poison");
        assert_eq!(dead[0].group, "g");
        assert_eq!(dead[0].receive_count, 3);
        assert_eq!(dead[0].reason, "boom 3");
        assert_eq!(dead[0].failed_at, 102);
        assert_eq!(queue.depth().unwrap(), 1);
        assert_eq!(
            bodies(&queue.receive(now, 10, VISIBILITY).unwrap()),
            ["body-next"],
            "the group moves on"
        );
    }

    #[tokio::test]
    async fn message_whose_lease_keeps_expiring_is_dead_lettered_on_receive() {
        let queue = SqliteQueue::new(Database::open_in_memory().unwrap(), 2);
        send_all(&queue, &[("g", "crashy"), ("g", "next")]).await;
        let first = queue.receive(0, 10, VISIBILITY).unwrap();
        queue
            .retry(first[0].id, 0, Duration::ZERO, "timeout talking to GitHub")
            .unwrap();
        assert_eq!(queue.receive(0, 10, VISIBILITY).unwrap()[0].receive_count, 2);

        // The process "crashed": the lease runs out with nobody acking; the same receive moves on to the next.
        let got = queue.receive(30, 10, VISIBILITY).unwrap();
        assert_eq!(bodies(&got), ["body-next"]);
        let dead = queue.dead_letters().unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(
            dead[0].reason, "timeout talking to GitHub",
            "the last recorded error is kept"
        );
        assert!(queue.ack(got[0].id).unwrap());

        // Without a recorded error the reason says what happened.
        queue.send(message("h", "silent")).await.unwrap();
        for now in [100, 130] {
            assert_eq!(queue.receive(now, 10, VISIBILITY).unwrap().len(), 1);
        }
        assert!(queue.receive(160, 10, VISIBILITY).unwrap().is_empty());
        let dead = queue.dead_letters().unwrap();
        assert!(dead[1].reason.contains("2 receives"), "{}", dead[1].reason);
    }

    #[tokio::test]
    async fn explicit_dead_letter() {
        let queue = queue();
        send_all(&queue, &[("g", "bad"), ("g", "good")]).await;
        let got = queue.receive(5, 10, VISIBILITY).unwrap();
        assert!(queue.dead_letter(got[0].id, 5, "unparseable envelope").unwrap());
        assert!(!queue.dead_letter(got[0].id, 5, "again").unwrap());
        assert!(
            !queue.ack(got[0].id).unwrap(),
            "a late ack of a dead letter finds nothing"
        );
        assert_eq!(queue.dead_letters().unwrap()[0].reason, "unparseable envelope");
        assert_eq!(bodies(&queue.receive(5, 10, VISIBILITY).unwrap()), ["body-good"]);
    }

    /// GIVEN a message dead-lettered after its last receive WHEN an operator retries it THEN it joins the end of
    /// its group as a new message, although its dedup id was sent a moment ago, is received once more from a
    /// receive count of 0 and can be acked; the dead letter is gone, so a second retry finds nothing.
    #[tokio::test]
    async fn a_retried_dead_letter_is_received_again_at_the_end_of_its_group() {
        let queue = SqliteQueue::new(Database::open_in_memory().unwrap(), 2);
        send_all(&queue, &[("g", "poison"), ("g", "next")]).await;
        for now in [100, 101] {
            let got = queue.receive(now, 10, VISIBILITY).unwrap();
            assert_eq!(bodies(&got), ["body-poison"]);
            queue
                .retry(got[0].id, now * 1000, Duration::ZERO, "boom")
                .unwrap();
        }
        let dead = DeadLetters::dead_letters(&queue, 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        let next = queue.receive(102, 10, VISIBILITY).unwrap();
        assert_eq!(bodies(&next), ["body-next"], "the group moved on");

        assert!(queue.retry_dead_letter(&dead[0].id).await.unwrap());
        assert!(DeadLetters::dead_letters(&queue, 10).await.unwrap().is_empty());
        assert_eq!(queue.depth().unwrap(), 2);
        assert!(
            queue.receive(103, 10, VISIBILITY).unwrap().is_empty(),
            "behind the group's message in flight"
        );
        assert!(queue.ack(next[0].id).unwrap());
        let again = queue.receive(104, 10, VISIBILITY).unwrap();
        assert_eq!(bodies(&again), ["body-poison"]);
        assert_eq!((again[0].group.as_str(), again[0].receive_count), ("g", 1));
        assert!(queue.ack(again[0].id).unwrap());
        assert_eq!(queue.depth().unwrap(), 0);

        assert!(!queue.retry_dead_letter(&dead[0].id).await.unwrap());
        // The original send's dedup window still holds: the retry neither consulted nor restarted it.
        queue.send(message("g", "poison")).await.unwrap();
        assert_eq!(queue.depth().unwrap(), 0);
    }

    #[tokio::test]
    async fn retrying_an_unknown_dead_letter_finds_nothing() {
        let queue = queue();
        queue.send(message("g", "bad")).await.unwrap();
        let got = queue.receive(5, 10, VISIBILITY).unwrap();
        assert!(queue.dead_letter(got[0].id, 5, "unparseable envelope").unwrap());
        let id = got[0].id;
        for unknown in [
            format!("{}", id + 1),
            format!("0{id}"),
            format!("+{id}"),
            format!(" {id}"),
            "bad".to_owned(),
            String::new(),
        ] {
            assert!(!queue.retry_dead_letter(&unknown).await.unwrap(), "{unknown:?}");
        }
        assert_eq!(queue.depth().unwrap(), 0);
        assert_eq!(
            DeadLetters::dead_letters(&queue, 10).await.unwrap()[0].id,
            id.to_string()
        );
    }

    #[tokio::test]
    async fn dead_letters_are_listed_newest_first() {
        let queue = queue();
        let mut ids = HashMap::new();
        for (key, failed_at) in [("a", 10), ("b", 30), ("c", 30), ("d", 20)] {
            queue.send(message(key, key)).await.unwrap();
            let got = queue.receive(0, 1, VISIBILITY).unwrap().remove(0);
            assert!(queue.dead_letter(got.id, failed_at, "bad").unwrap());
            ids.insert(got.id.to_string(), key);
        }
        let listed = |letters: Vec<DeadLetter>| {
            letters
                .iter()
                .map(|letter| {
                    assert_eq!(letter.dedup_id, ids[&letter.id], "the id is the row's");
                    letter.dedup_id.clone()
                })
                .collect::<Vec<_>>()
        };
        // The same instant: the later message (higher id) first.
        assert_eq!(
            listed(DeadLetters::dead_letters(&queue, 10).await.unwrap()),
            ["c", "b", "d", "a"]
        );
        assert_eq!(
            listed(DeadLetters::dead_letters(&queue, 2).await.unwrap()),
            ["c", "b"]
        );
        assert!(DeadLetters::dead_letters(&queue, 0).await.unwrap().is_empty());
        assert_eq!(listed(queue.dead_letters().unwrap()), ["a", "b", "c", "d"]);
    }

    #[test]
    fn dead_letters_are_listed_by_the_failed_at_index() {
        let queue = queue();
        let conn = queue.database().lock();
        let plan = query_plan(&conn, SQL_DEAD_LETTERS_NEWEST, [10]);
        assert!(
            plan.iter().any(|step| step.contains("queue_dead_letters_failed")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "{plan:?}");
    }

    #[tokio::test]
    async fn duplicate_dedup_id_is_accepted_but_not_delivered_twice() {
        let clock = ManualClock::at(1_000);
        let queue = queue().with_clock(Arc::new(clock.clone()));
        queue.send(message("g", "d1")).await.unwrap();
        queue.send(message("g", "d1")).await.unwrap();
        assert_eq!(queue.depth().unwrap(), 1);

        // Still suppressed after the first copy was processed, until the window ends.
        let got = queue.receive(1_000, 10, VISIBILITY).unwrap();
        assert!(queue.ack(got[0].id).unwrap());
        clock.advance(DEDUP_WINDOW.as_secs() - 1);
        queue.send(message("g", "d1")).await.unwrap();
        assert_eq!(queue.depth().unwrap(), 0);
        clock.advance(1);
        queue.send(message("g", "d1")).await.unwrap();
        assert_eq!(queue.depth().unwrap(), 1, "a new window starts");

        assert_eq!(
            queue.purge_expired(1_000 + DEDUP_WINDOW.as_secs()).unwrap(),
            0,
            "renewed record is live"
        );
        assert_eq!(
            queue.purge_expired(1_000 + 2 * DEDUP_WINDOW.as_secs()).unwrap(),
            1
        );
    }

    #[tokio::test]
    async fn messages_and_leases_survive_a_restart() {
        let (_dir, path) = temp_db();
        let leased_id = {
            let queue = SqliteQueue::open(&path).unwrap();
            send_all(&queue, &[("g1", "in-flight"), ("g2", "waiting")]).await;
            let got = queue.receive(100, 1, VISIBILITY).unwrap();
            assert_eq!(bodies(&got), ["body-in-flight"]);
            got[0].id
            // Dropped without ack: the process "crashes" mid-processing.
        };
        let queue = SqliteQueue::open(&path).unwrap();
        assert_eq!(queue.depth().unwrap(), 2);
        assert_eq!(
            bodies(&queue.receive(101, 10, VISIBILITY).unwrap()),
            ["body-waiting"]
        );
        let redelivered = queue.receive(130, 10, VISIBILITY).unwrap();
        assert_eq!(redelivered.len(), 1);
        assert_eq!((redelivered[0].id, redelivered[0].receive_count), (leased_id, 2));
        // Dedup records survive too.
        queue.send(message("g1", "in-flight")).await.unwrap();
        assert_eq!(queue.depth().unwrap(), 2);
    }

    #[tokio::test]
    async fn message_ids_are_not_reused() {
        let (_dir, path) = temp_db();
        let dead_id = {
            let queue = SqliteQueue::open(&path).unwrap();
            queue.send(message("g", "a")).await.unwrap();
            let a = queue.receive(0, 1, VISIBILITY).unwrap().remove(0);
            assert!(queue.ack(a.id).unwrap());
            // The table is empty again; the next id still moves on.
            queue.send(message("g", "b")).await.unwrap();
            let b = queue.receive(0, 1, VISIBILITY).unwrap().remove(0);
            assert!(b.id > a.id, "{} after {}", b.id, a.id);
            assert!(queue.dead_letter(b.id, 0, "bad").unwrap());
            b.id
        };
        // After a restart with an empty queue, new ids stay clear of the dead letters.
        let queue = SqliteQueue::open(&path).unwrap();
        queue.send(message("g", "c")).await.unwrap();
        let c = queue.receive(0, 1, VISIBILITY).unwrap().remove(0);
        assert!(c.id > dead_id);
        assert!(queue.dead_letter(c.id, 0, "bad too").unwrap());
        assert_eq!(queue.dead_letters().unwrap().len(), 2);
    }

    /// Two queues opened on the same file (the directory lives as long as the first element).
    fn two_handles_on_one_file() -> (tempfile::TempDir, SqliteQueue, SqliteQueue) {
        let (dir, path) = temp_db();
        let (one, two) = (
            SqliteQueue::open(&path).unwrap(),
            SqliteQueue::open(&path).unwrap(),
        );
        (dir, one, two)
    }

    #[tokio::test]
    async fn two_handles_on_one_file_do_not_collide() {
        let (_dir, one, two) = two_handles_on_one_file();
        for i in 0..3 {
            one.send(message("g", &format!("one-{i}"))).await.unwrap();
            two.send(message("g", &format!("two-{i}"))).await.unwrap();
        }
        assert_eq!(one.depth().unwrap(), 6);
    }

    #[tokio::test]
    async fn accept_claims_and_enqueues_together() {
        let db = Database::open_in_memory().unwrap();
        let (store, queue) = (db.store(), db.queue());
        let ttl = Duration::from_secs(60);

        assert_eq!(
            db.accept("k1", 100, ttl, &message("g", "k1")).unwrap(),
            Claim::Claimed
        );
        assert_eq!(
            db.accept("k1", 101, ttl, &message("g", "k1")).unwrap(),
            Claim::Duplicate
        );
        assert_eq!(queue.depth().unwrap(), 1, "a duplicate enqueues nothing");
        assert_eq!(
            store.claim("k1", 102, ttl).await.unwrap(),
            Claim::Duplicate,
            "the claim is the store's"
        );

        // GIVEN an enqueue that fails WHEN accepting THEN the claim is rolled back with it.
        db.lock()
            .execute_batch(
                "CREATE TRIGGER fail_enqueue BEFORE INSERT ON queue_messages
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            )
            .unwrap();
        assert!(db.accept("k2", 100, ttl, &message("g", "k2")).is_err());
        db.lock().execute_batch("DROP TRIGGER fail_enqueue").unwrap();
        assert_eq!(
            store.claim("k2", 100, ttl).await.unwrap(),
            Claim::Claimed,
            "no claim was left behind"
        );
        assert_eq!(queue.depth().unwrap(), 1);
        queue.send(message("g", "k2")).await.unwrap();
        assert_eq!(
            queue.depth().unwrap(),
            2,
            "the failed accept left no dedup record either"
        );
    }

    #[tokio::test]
    async fn accept_persists_across_reopen() {
        let (_dir, path) = temp_db();
        {
            let db = Database::open(&path).unwrap();
            assert_eq!(
                db.accept("k", 100, Duration::from_secs(60), &message("g", "k"))
                    .unwrap(),
                Claim::Claimed
            );
        }
        let db = Database::open(&path).unwrap();
        assert_eq!(
            bodies(&db.queue().receive(100, 10, VISIBILITY).unwrap()),
            ["body-k"]
        );
        assert_eq!(
            db.store().claim("k", 101, Duration::from_secs(60)).await.unwrap(),
            Claim::Duplicate
        );
    }

    /// Receive (at `now`) and ack one message at a time until the queue is empty; the bodies in the order
    /// received.
    fn drain_in_order(queue: &SqliteQueue, now: u64) -> Vec<String> {
        let mut order = Vec::new();
        while let Some(next) = queue.receive(now, 1, VISIBILITY).unwrap().pop() {
            assert!(queue.ack(next.id).unwrap());
            order.push(next.body);
        }
        assert_eq!(queue.depth().unwrap(), 0);
        order
    }

    fn of_group<'a>(order: &'a [String], members: &[&str]) -> Vec<&'a str> {
        order
            .iter()
            .map(String::as_str)
            .filter(|body| members.iter().any(|m| body.ends_with(m)))
            .collect()
    }

    #[test]
    fn batches_with_interleaved_groups_keep_each_groups_order() {
        let db = Database::open_in_memory().unwrap();
        let ttl = Duration::from_secs(60);
        let first = [
            ("g1", "a1"),
            ("g2", "b1"),
            ("g1", "a2"),
            ("g2", "b2"),
            ("g1", "a3"),
        ]
        .map(|(g, k)| (k, message(g, k)));
        let second = [("g2", "b3"), ("g3", "c1"), ("g1", "a4")].map(|(g, k)| (k, message(g, k)));
        for batch in [&first[..], &second[..]] {
            let claims = db
                .accept_batch(100, ttl, batch.iter().map(|(k, m)| (*k, m)))
                .unwrap();
            assert!(claims.iter().all(|c| *c == Claim::Claimed));
        }
        let queue = db.queue();
        assert_eq!(
            bodies(&queue.receive(0, 10, VISIBILITY).unwrap()),
            ["body-a1", "body-b1", "body-c1"],
            "one head per group"
        );

        // Once those leases have run out, drain one message at a time.
        let order = drain_in_order(&queue, 100);
        assert_eq!(
            of_group(&order, &["a1", "a2", "a3", "a4"]),
            ["body-a1", "body-a2", "body-a3", "body-a4"]
        );
        assert_eq!(
            of_group(&order, &["b1", "b2", "b3"]),
            ["body-b1", "body-b2", "body-b3"]
        );
        assert_eq!(order.len(), 8);
    }

    /// GIVEN two handles on one file appending to the same group, so each one's remembered tail goes stale
    /// THEN the group still comes out in the order sent.
    #[tokio::test]
    async fn appends_from_two_handles_keep_the_group_in_order() {
        let (_dir, one, two) = two_handles_on_one_file();
        let mut sent = Vec::new();
        for i in 0..4 {
            for (name, handle) in [("one", &one), ("two", &two)] {
                let key = format!("{name}-{i}");
                handle.send(message("g", &key)).await.unwrap();
                sent.push(format!("body-{key}"));
            }
        }
        // One handle drains part of the group, so the other's remembered tail may be gone.
        let head = one.receive(0, 1, VISIBILITY).unwrap().remove(0);
        assert_eq!(head.body, "body-one-0");
        assert!(one.ack(head.id).unwrap());
        two.send(message("g", "two-late")).await.unwrap();
        sent.push("body-two-late".into());
        assert_eq!(drain_in_order(&two, 0), sent[1..]);
        // The group is empty now; the next send starts it afresh as its head.
        one.send(message("g", "one-again")).await.unwrap();
        assert_eq!(drain_in_order(&two, 0), ["body-one-again"]);
    }

    #[test]
    fn a_rolled_back_append_leaves_the_group_intact() {
        let queue = queue();
        let db = queue.database().clone();
        let append = |keys: &[&str], commit: bool| {
            let messages: Vec<QueueMessage> = keys.iter().map(|k| message("g", k)).collect();
            let refs: Vec<&QueueMessage> = messages.iter().collect();
            let mut conn = db.lock();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .unwrap();
            append_all(&tx, db.appends(), &refs).unwrap();
            if commit {
                tx.commit().unwrap();
            }
        };
        append(&["a", "b"], true);
        // Rolled back after the handle remembered "y" as the group's tail.
        append(&["x", "y"], false);
        append(&["c"], true);
        assert_eq!(drain_in_order(&queue, 0), ["body-a", "body-b", "body-c"]);
    }

    /// GIVEN a database written by schema version 1 (group order in an index), with a message in flight
    /// WHEN this build opens it THEN the queue keeps every group's order and new messages join the end.
    #[tokio::test]
    async fn a_version_1_database_is_migrated_in_place() {
        let (_dir, path) = temp_db();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE queue_messages (
                     id INTEGER PRIMARY KEY, group_id TEXT NOT NULL, dedup_id TEXT NOT NULL, body TEXT NOT NULL,
                     head INTEGER NOT NULL, available_at INTEGER NOT NULL,
                     receive_count INTEGER NOT NULL DEFAULT 0, last_error TEXT);
                 CREATE INDEX queue_messages_group ON queue_messages (group_id, id);
                 CREATE INDEX queue_messages_heads ON queue_messages (id, available_at) WHERE head = 1;
                 INSERT INTO queue_messages (id, group_id, dedup_id, body, head, available_at, receive_count) VALUES
                     (1, 'g1', 'k1', 'body-a1', 1, 5000, 1),
                     (2, 'g2', 'k2', 'body-b1', 1, 0, 0),
                     (4, 'g1', 'k4', 'body-a2', 0, 0, 0),
                     (7, 'g2', 'k7', 'body-b2', 0, 0, 0),
                     (9, 'g1', 'k9', 'body-a3', 0, 0, 0);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let db = Database::open(&path).unwrap();
        let (version, old_index): (i64, i64) = db
            .lock()
            .query_row(
                "SELECT (SELECT user_version FROM pragma_user_version),
                        (SELECT COUNT(*) FROM sqlite_schema WHERE name = 'queue_messages_group')",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!((version, old_index), (crate::embedded::SCHEMA_VERSION, 0));
        let queue = db.queue();
        send_all(&queue, &[("g1", "a4"), ("g3", "c1")]).await;
        // g1's head is still in flight (leased until 5000).
        assert_eq!(
            bodies(&queue.receive(100, 10, VISIBILITY).unwrap()),
            ["body-b1", "body-c1"]
        );
        let order = drain_in_order(&queue, 6_000);
        assert_eq!(
            of_group(&order, &["a1", "a2", "a3", "a4"]),
            ["body-a1", "body-a2", "body-a3", "body-a4"]
        );
        assert_eq!(of_group(&order, &["b1", "b2"]), ["body-b1", "body-b2"]);
    }

    #[test]
    fn receive_uses_the_head_index() {
        let queue = queue();
        let conn = queue.database().lock();
        let plan = query_plan(
            &conn,
            "SELECT id, group_id, body, receive_count, last_error FROM queue_messages
             WHERE head = 1 AND available_at <= ?1 ORDER BY id LIMIT ?2",
            (0, 10),
        );
        assert!(
            plan.iter().any(|step| step.contains("queue_messages_heads")),
            "{plan:?}"
        );
    }

    /// CPU cost and throughput of the webhook hot path on a file database, one request per transaction and in
    /// batches. Run with
    /// `cargo test -p hookline --release --lib -- --ignored --nocapture accept_throughput`
    /// (`BENCH_N` sets the number of requests, `BENCH_BODY` the message size).
    #[test]
    #[ignore = "benchmark; run in release"]
    fn accept_throughput() {
        use std::fmt::Write;

        let env = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let n = env("BENCH_N", 100_000);
        let body = "x".repeat(env("BENCH_BODY", 2_000));
        // CPU time of this thread (ns), where the kernel reports it.
        let cpu_ns = || -> Option<f64> {
            let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
            stat.split_whitespace().next()?.parse().ok()
        };
        // CPU time of the whole process (µs), background checkpointer included; Linux reports it in 1/100 s.
        let process_cpu_us = || -> Option<f64> {
            let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
            let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
            let (user, system): (f64, f64) = (fields.next()?.parse().ok()?, fields.next()?.parse().ok()?);
            Some((user + system) * 10_000.0)
        };
        for batch in [1, 8, 32] {
            let dir = tempfile::tempdir().unwrap();
            let db = Database::open(dir.path().join("bench.db")).unwrap();
            // Delivery ids are random UUIDs, so keys land all over the b-tree, as in production.
            let messages: Vec<(String, QueueMessage)> = (0..n)
                .map(|i| {
                    let scrambled = (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
                    let mut key = String::new();
                    write!(key, "github#github.com#{scrambled:032x}").unwrap();
                    let group = format!("github:octo/repo#{}", (i * 7_919) % 5_000);
                    let message = QueueMessage {
                        group,
                        dedup_id: key.clone(),
                        body: body.clone(),
                    };
                    (key, message)
                })
                .collect();
            let ttl = Duration::from_secs(3_600);
            let (cpu_start, process_start, start) = (cpu_ns(), process_cpu_us(), std::time::Instant::now());
            for chunk in messages.chunks(batch) {
                if batch == 1 {
                    let (key, message) = &chunk[0];
                    assert_eq!(db.accept(key, 1_000, ttl, message).unwrap(), Claim::Claimed);
                } else {
                    let claims = db
                        .accept_batch(1_000, ttl, chunk.iter().map(|(k, m)| (k.as_str(), m)))
                        .unwrap();
                    assert!(claims.iter().all(|c| *c == Claim::Claimed));
                }
            }
            let elapsed = start.elapsed();
            let cpu = match (cpu_start, cpu_ns()) {
                (Some(a), Some(b)) => format!("{:.1} µs CPU", (b - a) / 1e3 / n as f64),
                _ => "CPU n/a".to_owned(),
            };
            // Let the checkpointer catch up so its work is counted.
            drop(db);
            std::thread::sleep(Duration::from_millis(600));
            let process = match (process_start, process_cpu_us()) {
                (Some(a), Some(b)) => format!("{:.1} µs", (b - a) / n as f64),
                _ => "n/a".to_owned(),
            };
            println!(
                "accept, batch {batch:>2}: {n} in {elapsed:.2?}: {:.1} µs wall, {cpu} per request \
                 ({process} with checkpointing), {:.0}/s",
                elapsed.as_secs_f64() * 1e6 / n as f64,
                n as f64 / elapsed.as_secs_f64()
            );
        }
    }
}
