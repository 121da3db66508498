//! Embedded adapters for the local host: a SQLite store and durable FIFO queue, and secrets from a file or
//! the environment.
//!
//! One SQLite file holds everything: delivery claims and decisions, runs, thread pointers, identity links and the
//! queue.
//! [`Database`] owns the single connection (behind a std `Mutex`) and hands out [`SqliteStore`] and
//! [`SqliteQueue`] views of it; [`Database::accept`] claims a delivery and enqueues its envelope in one
//! transaction for the webhook hot path.
//!
//! Every operation is one or a few short prepared statements, so the port methods run them inline on the async
//! task (no `spawn_blocking`): the lock is held for microseconds, far less than a thread hand-off costs.

mod queue;
mod secrets;
mod store;
#[cfg(test)]
mod testing;

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{self, RecvTimeoutError},
        Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak,
    },
    time::Duration,
};

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

pub use self::{
    queue::{Received, RetryOutcome, SqliteQueue, DEDUP_WINDOW, DEFAULT_MAX_RECEIVES},
    secrets::{env_var_name, EnvSecrets, FileSecrets, LayeredSecrets, ENV_PREFIX},
    store::SqliteStore,
};
use crate::{domain::QueueMessage, error::PortError, memory::expiry, ports::Claim};

/// Schema version this build writes, kept in SQLite's `user_version` pragma. Opening a database written by a
/// newer build fails instead of misreading it.
pub const SCHEMA_VERSION: i64 = 2;

/// How long a statement waits for another process's lock (e.g. an admin tool on the same file) before the
/// operation fails as transient.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Enough for every distinct statement the adapters prepare (the listings one per combination of filters), so
/// none is evicted and re-prepared.
const STATEMENT_CACHE: usize = 128;

/// WAL size (pages) at which the serving connection checkpoints by itself. Only a backstop, should the background
/// checkpointer fall behind (it restarts the WAL far earlier), so requests never wait for a checkpoint.
const AUTOCHECKPOINT_BACKSTOP: i64 = 16 * WAL_RESTART_FRAMES;

/// How often the background checkpointer runs while the database is being written, and while it is idle.
const CHECKPOINT_BUSY_INTERVAL: Duration = Duration::from_millis(20);
const CHECKPOINT_IDLE_INTERVAL: Duration = Duration::from_millis(100);

/// Rows a purge examines per lock hold, so housekeeping never stalls the hot path for long.
const PURGE_CHUNK: i64 = 1_000;

const SCHEMA: &str = "
-- No index on expires_at: it would cost every claim a page write; purges scan in key order instead.
CREATE TABLE IF NOT EXISTS deliveries (
    key        TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('accepted', 'done')),
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS runs (
    conversation_id TEXT PRIMARY KEY,
    state           TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    record          TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_state_created ON runs (state, created_at, conversation_id);
-- Operators' listing, newest first across states (`RunStore::recent_runs`). Created by any build that opens an
-- older file; an older build opening a newer file keeps it up to date without knowing it.
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at, conversation_id);

CREATE TABLE IF NOT EXISTS threads (
    thread_key      TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL
) WITHOUT ROWID;

-- What the worker decided about each delivery, one row per delivery key. `position` is the listing order
-- (`ports::decision_position`: zero-padded decided_at, then the key), listed newest first. A table added since
-- version 2 without changing any other: an older build opening the file simply never reads it.
CREATE TABLE IF NOT EXISTS delivery_decisions (
    key        TEXT PRIMARY KEY,
    provider   TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    position   TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    record     TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS delivery_decisions_position ON delivery_decisions (position);
CREATE INDEX IF NOT EXISTS delivery_decisions_tenant ON delivery_decisions (provider, tenant, position);
-- One provider's decisions, newest first, without sorting them all (the console's provider filter).
CREATE INDEX IF NOT EXISTS delivery_decisions_provider ON delivery_decisions (provider, position);
-- The envelope each decision was made on (`DeliveryLog::envelope`), apart so that listings never read it. Added
-- like `delivery_decisions`.
CREATE TABLE IF NOT EXISTS delivery_envelopes (
    key        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    envelope   TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS identity_links (
    provider         TEXT NOT NULL,
    tenant           TEXT NOT NULL,
    external_user_id TEXT NOT NULL,
    record           TEXT NOT NULL,
    PRIMARY KEY (provider, tenant, external_user_id)
) WITHOUT ROWID;

-- Ids are assigned by `queue::append_all`: increasing for the life of the process (so a late ack of a finished
-- message cannot delete a newer one) without AUTOINCREMENT's extra page write per insert.
CREATE TABLE IF NOT EXISTS queue_messages (
    id            INTEGER PRIMARY KEY,
    group_id      TEXT NOT NULL,
    dedup_id      TEXT NOT NULL,
    body          TEXT NOT NULL,
    -- 1 for the oldest message of its group: only heads are ever received.
    head          INTEGER NOT NULL,
    -- Receivable from this instant: 0 when sent, the lease end while in flight, now + delay after a retry.
    available_at  INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    -- The group's next message; NULL for its newest. Last, as schema version 2 added it.
    next_id       INTEGER
);
CREATE INDEX IF NOT EXISTS queue_messages_group_head ON queue_messages (group_id) WHERE head = 1;
CREATE INDEX IF NOT EXISTS queue_messages_heads ON queue_messages (id, available_at) WHERE head = 1;

CREATE TABLE IF NOT EXISTS queue_dedup (
    dedup_id   TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS queue_dead_letters (
    id            INTEGER PRIMARY KEY,
    group_id      TEXT NOT NULL,
    dedup_id      TEXT NOT NULL,
    body          TEXT NOT NULL,
    receive_count INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    failed_at     INTEGER NOT NULL
);
-- Listing newest first (`ports::DeadLetters`), the id (the rowid) breaking ties: nothing purges dead letters.
CREATE INDEX IF NOT EXISTS queue_dead_letters_failed ON queue_dead_letters (failed_at);
";

/// Version 1 kept a group's order in an index over (group, id); version 2 links each message to the next.
/// The links are filled in from that index before it is dropped.
const MIGRATE_1_TO_2: &str = "
ALTER TABLE queue_messages ADD COLUMN next_id INTEGER;
UPDATE queue_messages SET next_id = (
    SELECT MIN(later.id) FROM queue_messages AS later
    WHERE later.group_id = queue_messages.group_id AND later.id > queue_messages.id
);
DROP INDEX IF EXISTS queue_messages_group;
";

/// Claim or take over an expired delivery record; one row changed means claimed.
pub(crate) const SQL_CLAIM: &str = "
    INSERT INTO deliveries (key, state, expires_at) VALUES (?1, 'accepted', ?2)
    ON CONFLICT (key) DO UPDATE SET state = 'accepted', expires_at = excluded.expires_at
    WHERE deliveries.expires_at <= ?3";

/// The two statements that purge one table of expiring records, walking it in key order:
/// `scan(?1 cursor, ?2 limit) -> (key, expires_at)` with `key >= ?1 ORDER BY key`, and
/// `delete(?1 key, ?2 now)` that re-checks the expiry.
pub(crate) struct PurgeSql {
    pub(crate) scan: &'static str,
    pub(crate) delete: &'static str,
}

/// Classifies SQLite failures once: contention and resource exhaustion are transient, anything else
/// (constraint violations, corruption, a bad path) will not fix itself.
impl From<rusqlite::Error> for PortError {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::OutOfMemory,
            ) => PortError::transient("sqlite", err),
            _ => PortError::permanent("sqlite", err),
        }
    }
}

/// Epoch seconds as SQLite stores them (signed 64-bit); far-future instants saturate.
pub(crate) fn sql_time(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// A stored integer that must not be negative (counts, versions, timestamps); anything else means the file was
/// written by something other than this adapter.
pub(crate) fn stored_u64(value: i64, what: &str) -> Result<u64, PortError> {
    u64::try_from(value).map_err(|_| PortError::permanent("sqlite", format!("negative {what} in database")))
}

/// Handle to one SQLite database file (or an in-memory database) shared by the store and the queue.
///
/// Durability: the database runs in WAL mode with `synchronous=NORMAL`. A committed transaction survives a
/// crash or kill of this process (the WAL is in the OS page cache and replayed on open); only an OS crash or
/// power loss can roll back the last few commits, which is the trade-off that makes a commit cost
/// microseconds instead of an fsync. Such a loss drops claim and message together (they commit together in
/// [`Database::accept`]), so nothing is left half-done, and a redelivery of a lost webhook is processed normally.
///
/// Checkpoints (copying the WAL back into the database file, with its fsyncs) run on a background thread with
/// its own connection; it holds the serving connection's lock only for the short WAL restarts, so the writer
/// itself never fsyncs (see `Checkpointer`).
///
/// Clones share the connection.
#[derive(Clone)]
pub struct Database {
    shared: Arc<Shared>,
}

struct Shared {
    conn: Mutex<Connection>,
    /// The queue's ids and remembered group tails (see `queue::append_all`). Only touched with `conn` locked.
    appends: queue::AppendState,
    /// Dropping it (with the last clone) stops the background checkpointer.
    stop_checkpointer: OnceLock<mpsc::Sender<()>>,
    /// Set while the checkpointer waits for or holds `conn` to restart the WAL; others then queue on
    /// `restart_gate` instead of re-taking `conn` ahead of it: std's mutex promises no fairness, and a writer that
    /// re-locks at once could keep the checkpointer out while the WAL grows.
    restart_pending: AtomicBool,
    restart_gate: Mutex<()>,
    /// WAL restarts the checkpointer has made (for tests and diagnostics).
    wal_restarts: AtomicU64,
}

impl Shared {
    /// The connection, after any pending WAL restart.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        if self.restart_pending.load(Ordering::Acquire) {
            drop(self.restart_gate.lock().unwrap_or_else(PoisonError::into_inner));
        }
        self.lock_conn()
    }

    /// Run `f` with the connection held and every other user of it waiting, ahead of anyone queued.
    fn exclusively<T>(&self, f: impl FnOnce() -> T) -> T {
        let _gate = self.restart_gate.lock().unwrap_or_else(PoisonError::into_inner);
        self.restart_pending.store(true, Ordering::Release);
        let result = {
            let _conn = self.lock_conn();
            f()
        };
        self.restart_pending.store(false, Ordering::Release);
        result
    }

    /// The connection. A panic while it was held cannot have left a transaction open (rusqlite rolls back on
    /// drop), so poisoning is cleared rather than turning every later call into an error; an open transaction is
    /// rolled back defensively all the same.
    fn lock_conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned| {
            self.conn.clear_poison();
            let conn = poisoned.into_inner();
            if !conn.is_autocommit() {
                if let Err(err) = conn.execute_batch("ROLLBACK") {
                    tracing::error!(error = %err, "rollback after a panic failed");
                }
            }
            conn
        })
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").finish_non_exhaustive()
    }
}

impl Database {
    /// Open (creating if needed) the database at `path` and bring its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, PortError> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(|err| {
            PortError::permanent(
                "sqlite",
                format!("cannot open database {}: {err}", path.display()),
            )
        })?;
        let db = Self::assemble(Self::init(conn)?)?;
        match spawn_checkpointer(path, Arc::downgrade(&db.shared)) {
            Ok(stop) => {
                db.lock()
                    .pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_BACKSTOP)?;
                let _ = db.shared.stop_checkpointer.set(stop);
            }
            Err(err) => {
                // SQLite's own checkpointing (every 1000 pages, on the serving connection) still works.
                tracing::warn!(error = %err, "background checkpointer unavailable; checkpointing inline");
            }
        }
        Ok(db)
    }

    /// A private in-memory database (tests, throwaway runs); nothing survives the process.
    pub fn open_in_memory() -> Result<Self, PortError> {
        Self::assemble(Self::init(Connection::open_in_memory()?)?)
    }

    fn assemble(conn: Connection) -> Result<Self, PortError> {
        let highest: i64 = conn.query_row(
            "SELECT MAX((SELECT IFNULL(MAX(id), 0) FROM queue_messages),
                        (SELECT IFNULL(MAX(id), 0) FROM queue_dead_letters))",
            [],
            |row| row.get(0),
        )?;
        Ok(Self {
            shared: Arc::new(Shared {
                conn: Mutex::new(conn),
                appends: queue::AppendState::new(highest.saturating_add(1)),
                stop_checkpointer: OnceLock::new(),
                restart_pending: AtomicBool::new(false),
                restart_gate: Mutex::new(()),
                wal_restarts: AtomicU64::new(0),
            }),
        })
    }

    /// Configure the connection and bring the schema up to date.
    fn init(mut conn: Connection) -> Result<Connection, PortError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Returns the resulting mode; an in-memory database stays in `memory` mode, which is fine.
        let _mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // The page cache stays at SQLite's default (2 MiB): a larger one made every commit slower in profiles,
        // because SQLite scans the whole cache hash table when it ends a write transaction.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);

        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(PortError::permanent(
                "sqlite",
                format!(
                    "database schema version {version} is newer than this build supports ({SCHEMA_VERSION})"
                ),
            ));
        }
        if version == 1 {
            tx.execute_batch(MIGRATE_1_TO_2)?;
        }
        tx.execute_batch(SCHEMA)?;
        if version < SCHEMA_VERSION {
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        tx.commit()?;
        Ok(conn)
    }

    /// The store over this database.
    pub fn store(&self) -> SqliteStore {
        SqliteStore::new(self.clone())
    }

    /// The queue over this database, dead-lettering after [`DEFAULT_MAX_RECEIVES`] receives.
    pub fn queue(&self) -> SqliteQueue {
        SqliteQueue::new(self.clone(), DEFAULT_MAX_RECEIVES)
    }

    /// The webhook hot path in one transaction: claim delivery `key` (as [`crate::ports::DeliveryStore::claim`]
    /// with `now` and `ttl`) and, only if this call claimed it, append `message` to the queue.
    ///
    /// Either both are recorded or neither is, so a failure needs no compensating `release`, and the whole
    /// accept costs one commit instead of two. Returns [`Claim::Duplicate`] (and enqueues nothing) when the
    /// delivery was already accepted or done.
    ///
    /// The claim is the deduplication here: the queue's `dedup_id` window is neither consulted nor recorded,
    /// which saves two page writes per request. So a delivery that was released after a failure is enqueued
    /// again on redelivery, as it should be; a message sent with [`crate::ports::Queue::send`] and the same
    /// `dedup_id` is not deduplicated against one accepted here (use one path per key).
    pub fn accept(
        &self,
        key: &str,
        now: u64,
        ttl: Duration,
        message: &QueueMessage,
    ) -> Result<Claim, PortError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let claimed =
            tx.prepare_cached(SQL_CLAIM)?
                .execute((key, sql_time(expiry(now, ttl)), sql_time(now)))?;
        if claimed == 0 {
            // Nothing was written; dropping the transaction rolls back the empty BEGIN.
            return Ok(Claim::Duplicate);
        }
        queue::append_all(&tx, &self.shared.appends, &[message])?;
        tx.commit()?;
        Ok(Claim::Claimed)
    }

    /// [`Self::accept`] for several deliveries in one transaction, returning each one's claim in order (a key
    /// repeated within the batch is a duplicate the second time).
    ///
    /// A commit writes every page it touched (the database header, b-tree interior pages, the queue's tail
    /// page) whatever it carries, and that, not the statements, dominates the cost of a single accept. A host
    /// that gathers concurrent requests for a moment and accepts them together pays it once per batch. The
    /// batch commits or fails as a whole.
    pub fn accept_batch<'a>(
        &self,
        now: u64,
        ttl: Duration,
        items: impl IntoIterator<Item = (&'a str, &'a QueueMessage)>,
    ) -> Result<Vec<Claim>, PortError> {
        let expires_at = sql_time(expiry(now, ttl));
        let now = sql_time(now);
        let items = items.into_iter();
        let mut claims = Vec::with_capacity(items.size_hint().0);
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut claimed = Vec::with_capacity(claims.capacity());
        let mut claim = tx.prepare_cached(SQL_CLAIM)?;
        for (key, message) in items {
            if claim.execute((key, expires_at, now))? == 0 {
                claims.push(Claim::Duplicate);
                continue;
            }
            claimed.push(message);
            claims.push(Claim::Claimed);
        }
        drop(claim);
        queue::append_all(&tx, &self.shared.appends, &claimed)?;
        tx.commit()?;
        Ok(claims)
    }

    /// Delete the records of one table that expired at or before `now`, a chunk of keys per lock hold;
    /// returns how many were deleted.
    pub(crate) fn purge(&self, sql: &PurgeSql, now: u64) -> Result<usize, PortError> {
        let now = sql_time(now);
        let mut cursor = String::new();
        let mut total = 0;
        loop {
            let mut conn = self.lock();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut scanned = 0;
            let mut expired = Vec::new();
            {
                let mut stmt = tx.prepare_cached(sql.scan)?;
                let mut rows = stmt.query((&cursor, PURGE_CHUNK))?;
                while let Some(row) = rows.next()? {
                    scanned += 1;
                    let key: String = row.get(0)?;
                    if row.get::<_, i64>(1)? <= now {
                        expired.push(key.clone());
                    }
                    cursor = key;
                }
            }
            for key in &expired {
                total += tx.prepare_cached(sql.delete)?.execute((key, now))?;
            }
            tx.commit()?;
            // The cursor is inclusive, so a full chunk always advanced past at least one key.
            if scanned < PURGE_CHUNK {
                return Ok(total);
            }
        }
    }

    /// The queue's append-side state.
    fn appends(&self) -> &queue::AppendState {
        &self.shared.appends
    }

    /// How many times the background checkpointer has restarted the WAL.
    pub fn wal_restarts(&self) -> u64 {
        self.shared.wal_restarts.load(Ordering::Relaxed)
    }

    /// The connection (see `Shared::lock`).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.shared.lock()
    }

    /// Every row `sql` selects with `params`, in its order: each read by `read`, then made a value by `decode`,
    /// which may refuse what the file holds.
    pub(crate) fn select_all<R, T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        read: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
        mut decode: impl FnMut(R) -> Result<T, PortError>,
    ) -> Result<Vec<T>, PortError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(sql)?;
        let mut values = Vec::new();
        for row in stmt.query_map(params, read)? {
            values.push(decode(row?)?);
        }
        Ok(values)
    }
}

/// Start the background checkpointer for the database at `path` (see [`Checkpointer`]); it runs until the
/// returned sender is dropped.
fn spawn_checkpointer(path: &Path, serving: Weak<Shared>) -> Result<mpsc::Sender<()>, PortError> {
    let mut checkpointer = Checkpointer::open(path, serving)?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("hookline-sqlite-checkpoint".to_owned())
        .spawn(move || {
            let mut wait = CHECKPOINT_IDLE_INTERVAL;
            // Ends when the sender is dropped (Disconnected); nothing is ever sent.
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                wait = match checkpointer.run_once() {
                    Ok(Activity::Writing) => CHECKPOINT_BUSY_INTERVAL,
                    Ok(Activity::Idle) => CHECKPOINT_IDLE_INTERVAL,
                    Err(err) => {
                        tracing::warn!(error = %err, "background checkpoint failed");
                        CHECKPOINT_IDLE_INTERVAL
                    }
                };
            }
        })
        .map_err(|err| {
            PortError::transient("sqlite", format!("cannot start the checkpoint thread: {err}"))
        })?;
    Ok(stop)
}

/// How long a RESTART checkpoint waits for another process's transaction (an admin tool) before giving up for
/// this round; never long, as this process's writers wait meanwhile.
const RESTART_WAIT: Duration = Duration::from_millis(100);

/// WAL size (frames, i.e. pages: 4 MiB) at which the checkpointer restarts the WAL. Measured on ext4 under the
/// load benchmark: the restart's pause grows with the WAL (about 2 ms here, 10 ms at 64 MiB, 50 ms at 512 MiB,
/// before the database file was synced ahead of the lock), so frequent small restarts keep the tail short. With
/// that sync, 16 MiB gave the same p99 and no measurable CPU saving, so the size stayed.
const WAL_RESTART_FRAMES: i64 = 1_024;

/// Whether the database was written since the checkpointer's previous round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Activity {
    Writing,
    Idle,
}

/// Checkpoints off the request path, and WAL restarts at a moment of its choosing.
///
/// Why restarts are its business: with `synchronous=NORMAL` the writer fsyncs in two cases, and on a busy disk
/// such an fsync queues behind the checkpoints' database writes for tens of milliseconds, stalling every request
/// of the batch. Past `wal_autocheckpoint` frames the writer checkpoints (with fsyncs) after every commit; and
/// under sustained writes a passive checkpoint never finds the WAL fully copied at the instant a writer begins,
/// so the WAL is never restarted and only grows until the writer does exactly that. So each round copies what it
/// can without blocking anyone, and once the WAL holds [`WAL_RESTART_FRAMES`] it takes the serving connection's
/// lock (no writer of this process can be mid-transaction then, nor start one) and runs a RESTART checkpoint,
/// which copies the short tail, syncs and lets the next write start the WAL over. Writers wait that long instead
/// of for their own fsyncs. The database file is synced before the lock is taken: that flush (everything the
/// passive rounds copied since the last one) was most of a restart's pause.
struct Checkpointer {
    /// Runs the checkpoints.
    conn: Connection,
    /// The database file, synced ahead of each restart (opened once: restarts come tens of times a second).
    database_file: std::fs::File,
    /// The serving connection, whose lock keeps this process's writers out during a restart.
    serving: Weak<Shared>,
    /// (frames in the WAL, frames checkpointed) after the previous round.
    last: (i64, i64),
}

impl Checkpointer {
    fn open(path: &Path, serving: Weak<Shared>) -> Result<Self, PortError> {
        let conn = Connection::open(path)?;
        // Only RESTART waits on the busy handler; PASSIVE never does.
        conn.busy_timeout(RESTART_WAIT)?;
        // `Connection::open` has created the file by now.
        let database_file = std::fs::File::open(path).map_err(|err| {
            PortError::transient(
                "sqlite",
                format!("cannot open {} for syncing: {err}", path.display()),
            )
        })?;
        Ok(Self {
            conn,
            database_file,
            serving,
            last: (0, 0),
        })
    }

    /// One round: copy what can be copied without waiting, then restart the WAL if it has grown.
    fn run_once(&mut self) -> Result<Activity, PortError> {
        let frames = self.checkpoint("PASSIVE")?;
        let activity = if frames != self.last && frames.0 > 0 {
            Activity::Writing
        } else {
            Activity::Idle
        };
        self.last = if frames.0 >= WAL_RESTART_FRAMES {
            self.restart()?
        } else {
            frames
        };
        Ok(activity)
    }

    /// Copy the rest back and make the next write start the WAL over, with this process's writers held off.
    fn restart(&self) -> Result<(i64, i64), PortError> {
        let Some(serving) = self.serving.upgrade() else {
            // The database is being closed.
            return self.checkpoint("PASSIVE");
        };
        // Durability is unchanged (the RESTART still syncs); this only moves the bulk of the flush out of the lock.
        if let Err(err) = self.database_file.sync_data() {
            tracing::warn!(error = %err, "syncing the database file ahead of a WAL restart failed");
        }
        let frames = serving.exclusively(|| self.checkpoint("RESTART"))?;
        if frames.0 == frames.1 {
            serving.wal_restarts.fetch_add(1, Ordering::Relaxed);
        }
        Ok(frames)
    }

    /// `PRAGMA wal_checkpoint(mode)`. Returns (frames in the WAL, frames copied back).
    fn checkpoint(&self, mode: &str) -> Result<(i64, i64), PortError> {
        Ok(self
            .conn
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
                Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
            })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::testing::temp_db;

    #[test]
    fn schema_version_is_recorded_and_newer_versions_are_refused() {
        let (_dir, path) = temp_db();
        drop(Database::open(&path).unwrap());
        {
            let conn = Connection::open(&path).unwrap();
            let version: i64 = conn
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .unwrap();
            assert_eq!(version, SCHEMA_VERSION);
            let mode: String = conn
                .pragma_query_value(None, "journal_mode", |row| row.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        let err = Database::open(&path).unwrap_err();
        assert!(matches!(err, PortError::Permanent { .. }), "{err}");
    }

    #[test]
    fn reopening_keeps_the_schema() {
        let (_dir, path) = temp_db();
        drop(Database::open(&path).unwrap());
        Database::open(&path).unwrap();
    }

    #[test]
    fn unopenable_path_is_permanent() {
        let dir = tempfile::tempdir().unwrap();
        let err = Database::open(dir.path().join("missing-dir").join("db")).unwrap_err();
        assert!(matches!(err, PortError::Permanent { .. }), "{err}");
    }

    /// GIVEN a writer that never pauses (each accept its own transaction, back to back) WHEN the background
    /// checkpointer runs THEN it still gets its turn and restarts the WAL over and over while the writes flow, and
    /// every accepted message is kept.
    #[test]
    fn the_checkpointer_restarts_the_wal_under_sustained_writes() {
        let (_dir, path) = temp_db();
        let db = Database::open(path).unwrap();
        let body = "x".repeat(1_000);
        let mut written = 0_u64;
        let started = std::time::Instant::now();
        // Far more than a restart's worth of WAL, and long enough for many checkpointer rounds on a slow machine.
        while started.elapsed() < Duration::from_secs(1) || written < 10_000 {
            let key = format!("github|github.com|d-{written}");
            let message = QueueMessage {
                group: format!("g-{}", written % 7),
                dedup_id: key.clone(),
                body: body.clone(),
            };
            db.accept(&key, 1_700_000_000, Duration::from_secs(3600), &message)
                .unwrap();
            written += 1;
        }
        let restarts = db.wal_restarts();
        let rows: i64 = db
            .lock()
            .query_row("SELECT COUNT(*) FROM queue_messages", [], |row| row.get(0))
            .unwrap();
        assert_eq!(u64::try_from(rows).unwrap(), written);
        assert!(
            restarts >= 3,
            "{restarts} WAL restarts during {written} back-to-back writes"
        );
    }

    #[test]
    fn busy_is_transient() {
        let err = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
        assert!(PortError::from(err).is_transient());
        let err =
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT), None);
        assert!(!PortError::from(err).is_transient());
    }
}
