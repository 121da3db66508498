//! Embedded adapters for the local host: a SQLite store and durable FIFO queue, and secrets from a file or
//! the environment.
//!
//! One SQLite file holds everything: delivery claims, runs, thread pointers, identity links and the queue.
//! [`Database`] owns the single connection (behind a std `Mutex`) and hands out [`SqliteStore`] and
//! [`SqliteQueue`] views of it; [`Database::accept`] claims a delivery and enqueues its envelope in one
//! transaction for the webhook hot path.
//!
//! Every operation is one or a few short prepared statements, so the port methods run them inline on the async
//! task (no `spawn_blocking`): the lock is held for microseconds, far less than a thread hand-off costs.

mod queue;
mod secrets;
mod store;

use std::{
    path::Path,
    sync::{
        atomic::AtomicI64,
        mpsc::{self, RecvTimeoutError},
        Arc, Mutex, MutexGuard,
    },
    time::Duration,
};

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

pub use self::{
    queue::{DeadLetter, Received, RetryOutcome, SqliteQueue, DEDUP_WINDOW, DEFAULT_MAX_RECEIVES},
    secrets::{env_var_name, EnvSecrets, FileSecrets, LayeredSecrets, ENV_PREFIX},
    store::SqliteStore,
};
use crate::{domain::QueueMessage, error::PortError, memory::expiry, ports::Claim};

/// Schema version this build writes, kept in SQLite's `user_version` pragma. Opening a database written by a
/// newer build fails instead of misreading it.
pub const SCHEMA_VERSION: i64 = 1;

/// How long a statement waits for another process's lock (e.g. an admin tool on the same file) before the
/// operation fails as transient.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Enough for every distinct statement the adapters prepare, so none is evicted and re-prepared.
const STATEMENT_CACHE: usize = 64;

/// WAL size (pages) at which the serving connection checkpoints by itself. Only a backstop: the background
/// checkpointer normally keeps the WAL far smaller, so requests never wait for a checkpoint's fsync.
const AUTOCHECKPOINT_BACKSTOP: i64 = 16_384;

/// How often the background checkpointer runs while the database is being written, and while it is idle.
const CHECKPOINT_BUSY_INTERVAL: Duration = Duration::from_millis(20);
const CHECKPOINT_IDLE_INTERVAL: Duration = Duration::from_millis(500);

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

CREATE TABLE IF NOT EXISTS threads (
    thread_key      TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS identity_links (
    provider         TEXT NOT NULL,
    tenant           TEXT NOT NULL,
    external_user_id TEXT NOT NULL,
    record           TEXT NOT NULL,
    PRIMARY KEY (provider, tenant, external_user_id)
) WITHOUT ROWID;

-- Ids are assigned by `queue::append`: increasing for the life of the process (so a late ack of a finished
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
    last_error    TEXT
);
CREATE INDEX IF NOT EXISTS queue_messages_group ON queue_messages (group_id, id);
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
/// its own connection, so the serving connection's lock is never held across an fsync.
///
/// Clones share the connection.
#[derive(Clone)]
pub struct Database {
    shared: Arc<Shared>,
}

struct Shared {
    conn: Mutex<Connection>,
    /// Lowest id the next queue message may take (see `queue::append`). Only touched with `conn` locked.
    next_message_id: AtomicI64,
    /// Dropping it (with the last clone) stops the background checkpointer.
    _stop_checkpointer: Option<mpsc::Sender<()>>,
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
        let conn = Self::init(conn)?;
        let stop = match spawn_checkpointer(path) {
            Ok(stop) => {
                conn.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_BACKSTOP)?;
                Some(stop)
            }
            Err(err) => {
                // SQLite's own checkpointing (every 1000 pages, on the serving connection) still works.
                tracing::warn!(error = %err, "background checkpointer unavailable; checkpointing inline");
                None
            }
        };
        Self::assemble(conn, stop)
    }

    /// A private in-memory database (tests, throwaway runs); nothing survives the process.
    pub fn open_in_memory() -> Result<Self, PortError> {
        Self::assemble(Self::init(Connection::open_in_memory()?)?, None)
    }

    fn assemble(conn: Connection, stop: Option<mpsc::Sender<()>>) -> Result<Self, PortError> {
        let highest: i64 = conn.query_row(
            "SELECT MAX((SELECT IFNULL(MAX(id), 0) FROM queue_messages),
                        (SELECT IFNULL(MAX(id), 0) FROM queue_dead_letters))",
            [],
            |row| row.get(0),
        )?;
        Ok(Self {
            shared: Arc::new(Shared {
                conn: Mutex::new(conn),
                next_message_id: AtomicI64::new(highest.saturating_add(1)),
                _stop_checkpointer: stop,
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
        queue::append(&tx, &self.shared.next_message_id, message)?;
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
        for (key, message) in items {
            if tx.prepare_cached(SQL_CLAIM)?.execute((key, expires_at, now))? == 0 {
                claims.push(Claim::Duplicate);
                continue;
            }
            queue::append(&tx, &self.shared.next_message_id, message)?;
            claims.push(Claim::Claimed);
        }
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

    /// The id floor for new queue messages.
    pub(crate) fn next_message_id(&self) -> &AtomicI64 {
        &self.shared.next_message_id
    }

    /// The connection. A panic while it was held cannot have left a transaction open (rusqlite rolls back on
    /// drop), so poisoning is cleared rather than turning every later call into an error; an open transaction is
    /// rolled back defensively all the same.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.shared.conn.lock().unwrap_or_else(|poisoned| {
            self.shared.conn.clear_poison();
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

/// Start the background checkpointer for the database at `path`: a thread with its own connection that runs
/// passive checkpoints (which never block the writer) until the returned sender is dropped.
fn spawn_checkpointer(path: &Path) -> Result<mpsc::Sender<()>, PortError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("hookline-sqlite-checkpoint".to_owned())
        .spawn(move || {
            let mut last = (0, 0);
            let mut wait = CHECKPOINT_IDLE_INTERVAL;
            // Ends when the sender is dropped (Disconnected); nothing is ever sent.
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                // Columns: busy flag, frames in the WAL, frames copied back.
                let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                    Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                });
                wait = match result {
                    // The WAL changed since the last run: writes are flowing, come back soon.
                    Ok(frames) if frames != last && frames.0 > 0 => {
                        last = frames;
                        CHECKPOINT_BUSY_INTERVAL
                    }
                    Ok(frames) => {
                        last = frames;
                        CHECKPOINT_IDLE_INTERVAL
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_version_is_recorded_and_newer_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookline.db");
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
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookline.db");
        drop(Database::open(&path).unwrap());
        Database::open(&path).unwrap();
    }

    #[test]
    fn unopenable_path_is_permanent() {
        let dir = tempfile::tempdir().unwrap();
        let err = Database::open(dir.path().join("missing-dir").join("db")).unwrap_err();
        assert!(matches!(err, PortError::Permanent { .. }), "{err}");
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
