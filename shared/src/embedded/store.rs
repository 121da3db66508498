//! SQLite implementation of [`DeliveryStore`], [`RunStore`], [`IdentityStore`] and [`DeliveryLog`].
//!
//! Runs and identity links are stored as JSON documents next to the columns that are queried (state, creation
//! time, version, key parts); the `version` column is authoritative for optimistic concurrency.

use std::{path::Path, time::Duration};

use async_trait::async_trait;
use rusqlite::{OptionalExtension, ToSql, TransactionBehavior};

use super::{sql_time, stored_u64, Database, PurgeSql, SQL_CLAIM};
use crate::{
    domain::{DeliveryDecision, IdentityLink, Provider, RunRecord, RunState},
    error::PortError,
    memory::expiry,
    ports::{
        decision_position, ordered_page, parse_position, Claim, DeliveryLog, DeliveryPage, DeliveryQuery,
        DeliveryStore, IdentityStore, RunPage, RunQuery, RunStore, ThreadClaim,
    },
};

/// Durable store over a [`Database`]. Clones share the connection.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    db: Database,
}

impl SqliteStore {
    /// Open (creating if needed) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, PortError> {
        Ok(Database::open(path)?.store())
    }

    /// A store over a private in-memory database.
    pub fn open_in_memory() -> Result<Self, PortError> {
        Ok(Database::open_in_memory()?.store())
    }

    pub(super) fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database this store writes to (to build a queue on the same file).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Delete delivery records, decisions and their envelopes that expired at or before `now`; returns how many.
    /// Run it periodically: expired records already count as absent, so this only reclaims space. Works through
    /// each table a chunk at a time, releasing the lock in between, so webhook requests interleave with a large
    /// purge.
    pub fn purge_expired(&self, now: u64) -> Result<usize, PortError> {
        Ok(self.db.purge(&PURGE_DELIVERIES, now)?
            + self.db.purge(&PURGE_DECISIONS, now)?
            + self.db.purge(&PURGE_ENVELOPES, now)?)
    }

    /// The one text column a `SELECT` of at most one row returns, if it found the row.
    fn select_text(&self, sql: &str, params: impl rusqlite::Params) -> Result<Option<String>, PortError> {
        Ok(self
            .db
            .lock()
            .prepare_cached(sql)?
            .query_row(params, |row| row.get(0))
            .optional()?)
    }

    /// The runs a `SELECT conversation_id, version, record FROM runs …` statement returns, in its order.
    fn query_runs(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<RunRecord>, PortError> {
        self.db.select_all(
            sql,
            params,
            |row| <(String, i64, String)>::try_from(row),
            |(conversation_id, version, record)| decode_run(&conversation_id, version, &record),
        )
    }
}

const PURGE_DECISIONS: PurgeSql = PurgeSql {
    scan: "SELECT key, expires_at FROM delivery_decisions WHERE key >= ?1 ORDER BY key LIMIT ?2",
    delete: "DELETE FROM delivery_decisions WHERE key = ?1 AND expires_at <= ?2",
};

const PURGE_ENVELOPES: PurgeSql = PurgeSql {
    scan: "SELECT key, expires_at FROM delivery_envelopes WHERE key >= ?1 ORDER BY key LIMIT ?2",
    delete: "DELETE FROM delivery_envelopes WHERE key = ?1 AND expires_at <= ?2",
};

/// The listing statement for the filters a query sets (one cached statement per combination). Parameters:
/// `?1` the row limit, then the provider, tenant and cursor position, each only when set.
fn decisions_sql(query: &DeliveryQuery, after: bool) -> String {
    let mut conditions = Vec::new();
    let mut next = 2;
    let mut condition = |set: bool, column: &str, op: &str| {
        if set {
            conditions.push(format!("{column} {op} ?{next}"));
            next += 1;
        }
    };
    condition(query.provider.is_some(), "provider", "=");
    condition(query.tenant.is_some(), "tenant", "=");
    condition(after, "position", "<");
    let filter = where_clause(&conditions);
    format!("SELECT record FROM delivery_decisions {filter} ORDER BY position DESC LIMIT ?1")
}

/// `WHERE` and the `conditions` joined by `AND`; nothing when there are none.
fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

/// The run listing statement for a query's filters: `states` placeholders (none: every state), the provider and
/// the cursor, each only when set (one cached statement per combination). Parameters: `?1` the row limit, then
/// the states, the provider, and the cursor's creation time and conversation id.
fn runs_sql(states: usize, provider: bool, after: bool) -> String {
    let mut conditions = Vec::new();
    let mut next = 2;
    if states > 0 {
        let placeholders = (next..next + states)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        conditions.push(format!("state IN ({placeholders})"));
        next += states;
    }
    if provider {
        // The provider is only in the document; the rows walked in listing order are checked one by one.
        conditions.push(format!("json_extract(record, '$.provider') = ?{next}"));
        next += 1;
    }
    if after {
        // A row value, so the scan of `runs_created` starts right after the cursor.
        conditions.push(format!(
            "(created_at, conversation_id) < (?{next}, ?{})",
            next + 1
        ));
    }
    let filter = where_clause(&conditions);
    format!(
        "SELECT conversation_id, version, record FROM runs {filter}
         ORDER BY created_at DESC, conversation_id DESC LIMIT ?1"
    )
}

const PURGE_DELIVERIES: PurgeSql = PurgeSql {
    scan: "SELECT key, expires_at FROM deliveries WHERE key >= ?1 ORDER BY key LIMIT ?2",
    delete: "DELETE FROM deliveries WHERE key = ?1 AND expires_at <= ?2",
};

fn decode_run(conversation_id: &str, version: i64, record: &str) -> Result<RunRecord, PortError> {
    let version = stored_u64(version, "run version")?;
    let mut run: RunRecord = serde_json::from_str(record).map_err(|err| {
        PortError::permanent(
            "run store",
            format!("stored run {conversation_id} is unreadable: {err}"),
        )
    })?;
    run.version = version;
    Ok(run)
}

fn encode<T: serde::Serialize>(what: &str, value: &T) -> Result<String, PortError> {
    serde_json::to_string(value).map_err(|err| PortError::permanent(what, format!("cannot serialize: {err}")))
}

fn decode_link(record: &str) -> Result<IdentityLink, PortError> {
    serde_json::from_str(record)
        .map_err(|err| PortError::permanent("identity store", format!("stored link is unreadable: {err}")))
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn claim(&self, key: &str, now: u64, ttl: Duration) -> Result<Claim, PortError> {
        let changed = self.db.lock().prepare_cached(SQL_CLAIM)?.execute((
            key,
            sql_time(expiry(now, ttl)),
            sql_time(now),
        ))?;
        Ok(if changed == 1 {
            Claim::Claimed
        } else {
            Claim::Duplicate
        })
    }

    async fn complete(&self, key: &str, now: u64, ttl: Duration) -> Result<(), PortError> {
        self.db
            .lock()
            .prepare_cached(
                "INSERT INTO deliveries (key, state, expires_at) VALUES (?1, 'done', ?2)
                 ON CONFLICT (key) DO UPDATE SET state = 'done', expires_at = excluded.expires_at",
            )?
            .execute((key, sql_time(expiry(now, ttl))))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        self.db
            .lock()
            .prepare_cached("DELETE FROM deliveries WHERE key = ?1")?
            .execute([key])?;
        Ok(())
    }
}

#[async_trait]
impl DeliveryLog for SqliteStore {
    async fn record(
        &self,
        decision: &DeliveryDecision,
        envelope: &str,
        ttl: Duration,
    ) -> Result<(), PortError> {
        let record = encode("delivery log", decision)?;
        let key = decision.storage_key();
        let expires_at = sql_time(expiry(decision.decided_at, ttl));
        let mut conn = self.db.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(
            "INSERT INTO delivery_envelopes (key, expires_at, envelope) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, envelope = excluded.envelope",
        )?
        .execute((&key, expires_at, envelope))?;
        tx
            .prepare_cached(
                "INSERT INTO delivery_decisions (key, provider, tenant, position, expires_at, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (key) DO UPDATE SET provider = excluded.provider, tenant = excluded.tenant,
                     position = excluded.position, expires_at = excluded.expires_at, record = excluded.record",
            )?
            .execute((
                &key,
                decision.provider.as_str(),
                &decision.tenant,
                decision_position(decision),
                expires_at,
                &record,
            ))?;
        tx.commit()?;
        Ok(())
    }

    async fn envelope(&self, key: &str) -> Result<Option<String>, PortError> {
        self.select_text("SELECT envelope FROM delivery_envelopes WHERE key = ?1", [key])
    }

    async fn recent(&self, query: &DeliveryQuery) -> Result<DeliveryPage, PortError> {
        let after = query.after_position()?;
        let page = query.page_size();
        let limit = i64::try_from(page + 1).unwrap_or(i64::MAX);
        let provider = query.provider.map(Provider::as_str);
        let mut params: Vec<&dyn ToSql> = vec![&limit];
        params.extend(provider.as_ref().map(|p| p as &dyn ToSql));
        params.extend(query.tenant.as_ref().map(|t| t as &dyn ToSql));
        params.extend(after.as_ref().map(|a| a as &dyn ToSql));

        let decisions: Vec<DeliveryDecision> = self.db.select_all(
            &decisions_sql(query, after.is_some()),
            &params[..],
            |row| row.get::<_, String>(0),
            |record| {
                serde_json::from_str(&record).map_err(|err| {
                    PortError::permanent("delivery log", format!("stored decision is unreadable: {err}"))
                })
            },
        )?;
        Ok(ordered_page(decisions, page))
    }
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn insert_run(&self, run: &RunRecord) -> Result<bool, PortError> {
        let record = encode("run store", run)?;
        let inserted = self
            .db
            .lock()
            .prepare_cached(
                "INSERT INTO runs (conversation_id, state, created_at, version, record)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (conversation_id) DO NOTHING",
            )?
            .execute((
                &run.conversation_id,
                run.state.as_str(),
                sql_time(run.created_at),
                sql_time(run.version),
                &record,
            ))?;
        Ok(inserted == 1)
    }

    async fn get_run(&self, conversation_id: &str) -> Result<Option<RunRecord>, PortError> {
        let row: Option<(i64, String)> = self
            .db
            .lock()
            .prepare_cached("SELECT version, record FROM runs WHERE conversation_id = ?1")?
            .query_row([conversation_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        row.map(|(version, record)| decode_run(conversation_id, version, &record))
            .transpose()
    }

    async fn update_run(&self, run: &mut RunRecord) -> Result<bool, PortError> {
        let expected = run.version;
        let next = expected
            .checked_add(1)
            .ok_or_else(|| PortError::permanent("run store", "run version overflow"))?;
        // The stored document carries the new version; the caller's copy only advances once the write landed.
        run.version = next;
        let record = encode("run store", run);
        run.version = expected;
        let record = record?;
        let updated = self
            .db
            .lock()
            .prepare_cached(
                "UPDATE runs SET state = ?1, created_at = ?2, version = ?3, record = ?4
                 WHERE conversation_id = ?5 AND version = ?6",
            )?
            .execute((
                run.state.as_str(),
                sql_time(run.created_at),
                sql_time(next),
                &record,
                &run.conversation_id,
                sql_time(expected),
            ))?;
        if updated == 1 {
            run.version = next;
        }
        Ok(updated == 1)
    }

    async fn runs_in_states(&self, states: &[RunState], limit: usize) -> Result<Vec<RunRecord>, PortError> {
        let mut wanted: Vec<&'static str> = Vec::with_capacity(states.len());
        for state in states {
            if !wanted.contains(&state.as_str()) {
                wanted.push(state.as_str());
            }
        }
        if wanted.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        // One cached statement per distinct number of states (at most one per RunState variant).
        let placeholders = (2..wanted.len() + 2)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT conversation_id, version, record FROM runs WHERE state IN ({placeholders})
             ORDER BY created_at, conversation_id LIMIT ?1"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut params: Vec<&dyn ToSql> = Vec::with_capacity(wanted.len() + 1);
        params.push(&limit);
        params.extend(wanted.iter().map(|state| state as &dyn ToSql));

        self.query_runs(&sql, &params)
    }

    async fn recent_runs(&self, query: &RunQuery) -> Result<RunPage, PortError> {
        let after = query
            .after_position()?
            .and_then(parse_position)
            .map(|(created_at, conversation_id)| (sql_time(created_at), conversation_id));
        let page = query.page_size();
        let limit = i64::try_from(page + 1).unwrap_or(i64::MAX);
        let mut states: Vec<&'static str> = query.listed_states().into_iter().map(RunState::as_str).collect();
        if states.len() == RunState::ALL.len() {
            // Every state is no filter, and lets the listing walk `runs_created` alone.
            states.clear();
        }
        let provider = query.provider.map(Provider::as_str);
        let mut params: Vec<&dyn ToSql> = vec![&limit];
        params.extend(states.iter().map(|state| state as &dyn ToSql));
        params.extend(provider.as_ref().map(|p| p as &dyn ToSql));
        if let Some((created_at, conversation_id)) = &after {
            params.push(created_at);
            params.push(conversation_id);
        }
        let sql = runs_sql(states.len(), provider.is_some(), after.is_some());
        Ok(ordered_page(self.query_runs(&sql, &params)?, page))
    }

    async fn claim_thread(&self, thread_key: &str, conversation_id: &str) -> Result<ThreadClaim, PortError> {
        // One atomic statement: inserts the pointer if absent, otherwise leaves it and returns the holder.
        let holder: String = self
            .db
            .lock()
            .prepare_cached(
                "INSERT INTO threads (thread_key, conversation_id) VALUES (?1, ?2)
                 ON CONFLICT (thread_key) DO UPDATE SET conversation_id = threads.conversation_id
                 RETURNING conversation_id",
            )?
            .query_row((thread_key, conversation_id), |row| row.get(0))?;
        Ok(if holder == conversation_id {
            ThreadClaim::Claimed
        } else {
            ThreadClaim::Active {
                conversation_id: holder,
            }
        })
    }

    async fn thread_run(&self, thread_key: &str) -> Result<Option<String>, PortError> {
        self.select_text(
            "SELECT conversation_id FROM threads WHERE thread_key = ?1",
            [thread_key],
        )
    }

    async fn release_thread(&self, thread_key: &str, conversation_id: &str) -> Result<(), PortError> {
        self.db
            .lock()
            .prepare_cached("DELETE FROM threads WHERE thread_key = ?1 AND conversation_id = ?2")?
            .execute((thread_key, conversation_id))?;
        Ok(())
    }
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn get_link(
        &self,
        provider: Provider,
        tenant: &str,
        external_user_id: &str,
    ) -> Result<Option<IdentityLink>, PortError> {
        let record = self.select_text(
            "SELECT record FROM identity_links
             WHERE provider = ?1 AND tenant = ?2 AND external_user_id = ?3",
            (provider.as_str(), tenant, external_user_id),
        )?;
        record.as_deref().map(decode_link).transpose()
    }

    async fn put_link(&self, link: &IdentityLink) -> Result<(), PortError> {
        let record = encode("identity store", link)?;
        self.db
            .lock()
            .prepare_cached(
                "INSERT INTO identity_links (provider, tenant, external_user_id, record) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (provider, tenant, external_user_id) DO UPDATE SET record = excluded.record",
            )?
            .execute((link.provider.as_str(), &link.tenant, &link.external_user_id, &record))?;
        Ok(())
    }

    async fn remove_link(
        &self,
        provider: Provider,
        tenant: &str,
        external_user_id: &str,
    ) -> Result<bool, PortError> {
        let removed = self
            .db
            .lock()
            .prepare_cached(
                "DELETE FROM identity_links WHERE provider = ?1 AND tenant = ?2 AND external_user_id = ?3",
            )?
            .execute((provider.as_str(), tenant, external_user_id))?;
        Ok(removed > 0)
    }

    async fn list_links(&self) -> Result<Vec<IdentityLink>, PortError> {
        self.db.select_all(
            "SELECT record FROM identity_links ORDER BY provider, tenant, external_user_id",
            [],
            |row| row.get::<_, String>(0),
            |record| decode_link(&record),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::testing::{query_plan, temp_db};

    crate::store_conformance_tests!(SqliteStore::open_in_memory().unwrap());

    const TTL: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn state_survives_reopen() {
        let (_dir, path) = temp_db();
        {
            let store = SqliteStore::open(&path).unwrap();
            assert_eq!(store.claim("k", 10, TTL).await.unwrap(), Claim::Claimed);
            store
                .insert_run(&crate::conformance::run("c1", RunState::Running, 5))
                .await
                .unwrap();
            store.claim_thread("t", "c1").await.unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.claim("k", 11, TTL).await.unwrap(), Claim::Duplicate);
        assert_eq!(
            store.get_run("c1").await.unwrap(),
            Some(crate::conformance::run("c1", RunState::Running, 5))
        );
        assert_eq!(
            store.claim_thread("t", "c2").await.unwrap(),
            ThreadClaim::Active {
                conversation_id: "c1".to_owned()
            }
        );
    }

    #[tokio::test]
    async fn purge_removes_only_expired_records() {
        let store = SqliteStore::open_in_memory().unwrap();
        // Several chunks' worth of keys, every third one still live, plus the empty key at the very start.
        let total = 2_345;
        let mut expired = 0;
        for i in 0..total {
            let ttl = if i % 3 == 0 { 1_000 } else { 10 };
            expired += usize::from(ttl == 10);
            store
                .claim(&format!("key-{i:05}"), 0, Duration::from_secs(ttl))
                .await
                .unwrap();
        }
        store.complete("", 0, Duration::from_secs(5)).await.unwrap();
        store
            .complete("done-live", 0, Duration::from_secs(1_000))
            .await
            .unwrap();

        assert_eq!(store.purge_expired(10).unwrap(), expired + 1);
        assert_eq!(store.purge_expired(10).unwrap(), 0);
        let remaining: i64 = store
            .database()
            .lock()
            .query_row("SELECT COUNT(*) FROM deliveries", [], |row| row.get(0))
            .unwrap();
        assert_eq!(usize::try_from(remaining).unwrap(), total - expired + 1);
        assert_eq!(store.claim("key-00000", 20, TTL).await.unwrap(), Claim::Duplicate);
        assert_eq!(store.claim("done-live", 20, TTL).await.unwrap(), Claim::Duplicate);
        assert_eq!(store.claim("key-00001", 20, TTL).await.unwrap(), Claim::Claimed);
    }

    #[tokio::test]
    async fn unreadable_rows_are_permanent_errors_not_panics() {
        let store = SqliteStore::open_in_memory().unwrap();
        store
            .database()
            .lock()
            .execute_batch(
                "INSERT INTO runs VALUES ('bad', 'running', 1, 0, '{not json');
                 INSERT INTO runs VALUES ('neg', 'running', 2, -1, '{}');
                 INSERT INTO identity_links VALUES ('github', 'github.com', '1', '[]');",
            )
            .unwrap();
        assert!(matches!(
            store.get_run("bad").await,
            Err(PortError::Permanent { .. })
        ));
        assert!(matches!(
            store.get_run("neg").await,
            Err(PortError::Permanent { .. })
        ));
        assert!(store.runs_in_states(&[RunState::Running], 10).await.is_err());
        assert!(matches!(
            store.get_link(Provider::Github, "github.com", "1").await,
            Err(PortError::Permanent { .. })
        ));
        assert!(store.list_links().await.is_err());
    }

    /// GIVEN the operators' listing, unfiltered or by provider, from a cursor or not WHEN SQLite plans it THEN it
    /// walks `runs_created` backwards, from the cursor on, and sorts nothing.
    #[test]
    fn run_listing_walks_the_creation_index() {
        let store = SqliteStore::open_in_memory().unwrap();
        let conn = store.database().lock();
        for (provider, after) in [(false, false), (false, true), (true, true)] {
            let sql = runs_sql(0, provider, after);
            let parameters = 1 + usize::from(provider) + 2 * usize::from(after);
            let plan = query_plan(
                &conn,
                &sql,
                rusqlite::params_from_iter(std::iter::repeat_n(0, parameters)),
            );
            let uses = |what: &str| plan.iter().any(|step| step.contains(what));
            assert!(uses("runs_created"), "{sql}: {plan:?}");
            assert!(!uses("TEMP B-TREE"), "{sql}: {plan:?}");
            assert_eq!(uses("SEARCH"), after, "{sql}: {plan:?}");
        }
    }

    /// GIVEN the decisions listing, unfiltered, by provider, or by provider and tenant, from a cursor or not WHEN
    /// SQLite plans it THEN it walks an index in listing order and sorts nothing.
    #[test]
    fn decision_listing_sorts_nothing() {
        let store = SqliteStore::open_in_memory().unwrap();
        let conn = store.database().lock();
        for (provider, tenant) in [
            (None, None),
            (Some(Provider::Jira), None),
            (Some(Provider::Jira), Some("t")),
        ] {
            for after in [false, true] {
                let query = DeliveryQuery {
                    provider,
                    tenant: tenant.map(str::to_owned),
                    ..DeliveryQuery::default()
                };
                let sql = decisions_sql(&query, after);
                let parameters =
                    1 + usize::from(provider.is_some()) + usize::from(tenant.is_some()) + usize::from(after);
                let plan = query_plan(
                    &conn,
                    &sql,
                    rusqlite::params_from_iter(std::iter::repeat_n(0, parameters)),
                );
                assert!(
                    !plan.iter().any(|step| step.contains("TEMP B-TREE")),
                    "{sql}: {plan:?}"
                );
            }
        }
    }

    /// GIVEN a database file from before the listing index WHEN this build opens it THEN the index is there.
    #[test]
    fn opening_an_older_file_adds_the_listing_index() {
        let (_dir, path) = temp_db();
        drop(SqliteStore::open(&path).unwrap());
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("DROP INDEX runs_created")
            .unwrap();
        let store = SqliteStore::open(&path).unwrap();
        let indexes: i64 = store
            .database()
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index' AND name = 'runs_created'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 1);
    }

    #[tokio::test]
    async fn version_column_is_authoritative() {
        let store = SqliteStore::open_in_memory().unwrap();
        let mut run = crate::conformance::run("c1", RunState::Claimed, 1);
        run.version = 7;
        assert!(store.insert_run(&run).await.unwrap());
        let mut stored = store.get_run("c1").await.unwrap().unwrap();
        assert_eq!(stored.version, 7);
        assert!(store.update_run(&mut stored).await.unwrap());
        assert_eq!(store.get_run("c1").await.unwrap().unwrap().version, 8);
    }
}
