//! In-memory adapters of the storage, queue and secret ports, for unit tests.
//!
//! They keep the same semantics as the durable adapters (the `conformance` suite runs against all of them),
//! hold their state behind a std `Mutex`, and are cheap to clone: clones share state, so a test can
//! hand one clone to the code under test and inspect another.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use async_trait::async_trait;

use crate::{
    domain::{DeliveryDecision, IdentityLink, Provider, QueueMessage, RunRecord, RunState},
    error::PortError,
    ports::{
        decision_position, newest_first_page, run_position, Claim, DeliveryLog, DeliveryPage, DeliveryQuery,
        DeliveryStore, IdentityStore, Queue, RunPage, RunQuery, RunStore, Secrets, ThreadClaim,
    },
    secret::SecretString,
};

/// Expiry instant for a record written at `now` (epoch seconds) that lives `ttl`; sub-second remainders round
/// up so a non-zero ttl never expires immediately. Shared with the embedded adapters so both agree.
pub(crate) fn expiry(now: u64, ttl: Duration) -> u64 {
    let secs = ttl.as_secs().saturating_add(u64::from(ttl.subsec_nanos() > 0));
    now.saturating_add(secs)
}

/// Lock `mutex`, recovering from poisoning: every critical section here leaves the maps consistent between
/// statements, so a panic elsewhere while holding the lock must not take the fake down with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// State of a delivery record (see [`DeliveryStore`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Claimed, being processed.
    Accepted,
    /// Processed; kept so redeliveries are recognised.
    Done,
}

#[derive(Clone, Copy, Debug)]
struct DeliveryRecord {
    state: DeliveryState,
    expires_at: u64,
}

#[derive(Debug, Default)]
struct StoreState {
    deliveries: HashMap<String, DeliveryRecord>,
    runs: HashMap<String, RunRecord>,
    threads: HashMap<String, String>,
    /// Keyed by (provider, tenant, external user id); ordered so listings are stable.
    links: BTreeMap<(&'static str, String, String), IdentityLink>,
    /// Delivery decisions by storage key, with their expiry.
    decisions: HashMap<String, (DeliveryDecision, u64)>,
    /// The envelope each decision was made on, by storage key.
    envelopes: HashMap<String, String>,
}

/// In-memory [`DeliveryStore`], [`RunStore`], [`IdentityStore`] and [`DeliveryLog`].
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<StoreState>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state of the delivery record for `key` as of `now`, `None` if absent or expired (for assertions).
    pub fn delivery_state(&self, key: &str, now: u64) -> Option<DeliveryState> {
        lock(&self.state)
            .deliveries
            .get(key)
            .filter(|record| record.expires_at > now)
            .map(|record| record.state)
    }

    /// Every stored run, oldest first (for assertions).
    pub fn runs(&self) -> Vec<RunRecord> {
        let mut runs: Vec<RunRecord> = lock(&self.state).runs.values().cloned().collect();
        runs.sort_by(run_order);
        runs
    }

    /// The conversation `thread_key` points at, if any (for assertions).
    pub fn thread(&self, thread_key: &str) -> Option<String> {
        lock(&self.state).threads.get(thread_key).cloned()
    }
}

/// Oldest first; the conversation id breaks ties so the order is total (the SQLite adapter sorts the same way).
/// Shared with the DynamoDB adapter, which merges its partitions in this order.
pub(crate) fn run_order(a: &RunRecord, b: &RunRecord) -> std::cmp::Ordering {
    (a.created_at, &a.conversation_id).cmp(&(b.created_at, &b.conversation_id))
}

fn link_key(provider: Provider, tenant: &str, external_user_id: &str) -> (&'static str, String, String) {
    (provider.as_str(), tenant.to_owned(), external_user_id.to_owned())
}

#[async_trait]
impl DeliveryStore for MemoryStore {
    async fn claim(&self, key: &str, now: u64, ttl: Duration) -> Result<Claim, PortError> {
        let mut state = lock(&self.state);
        if let Some(existing) = state.deliveries.get(key) {
            if existing.expires_at > now {
                return Ok(Claim::Duplicate);
            }
        }
        let record = DeliveryRecord {
            state: DeliveryState::Accepted,
            expires_at: expiry(now, ttl),
        };
        state.deliveries.insert(key.to_owned(), record);
        Ok(Claim::Claimed)
    }

    async fn complete(&self, key: &str, now: u64, ttl: Duration) -> Result<(), PortError> {
        let record = DeliveryRecord {
            state: DeliveryState::Done,
            expires_at: expiry(now, ttl),
        };
        lock(&self.state).deliveries.insert(key.to_owned(), record);
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        lock(&self.state).deliveries.remove(key);
        Ok(())
    }
}

#[async_trait]
impl DeliveryLog for MemoryStore {
    async fn record(
        &self,
        decision: &DeliveryDecision,
        envelope: &str,
        ttl: Duration,
    ) -> Result<(), PortError> {
        let expires_at = expiry(decision.decided_at, ttl);
        let key = decision.storage_key();
        let mut state = lock(&self.state);
        state.envelopes.insert(key.clone(), envelope.to_owned());
        state.decisions.insert(key, (decision.clone(), expires_at));
        Ok(())
    }

    async fn envelope(&self, key: &str) -> Result<Option<String>, PortError> {
        Ok(lock(&self.state).envelopes.get(key).cloned())
    }

    async fn recent(&self, query: &DeliveryQuery) -> Result<DeliveryPage, PortError> {
        let after = query.after_position()?;
        let found = lock(&self.state)
            .decisions
            .values()
            .map(|(decision, _)| decision)
            .filter(|decision| query.matches(decision))
            .filter(|decision| after.is_none_or(|after| decision_position(decision).as_str() < after))
            .cloned()
            .collect();
        Ok(newest_first_page(found, query.page_size()))
    }
}

#[async_trait]
impl RunStore for MemoryStore {
    async fn insert_run(&self, run: &RunRecord) -> Result<bool, PortError> {
        let mut state = lock(&self.state);
        if state.runs.contains_key(&run.conversation_id) {
            return Ok(false);
        }
        state.runs.insert(run.conversation_id.clone(), run.clone());
        Ok(true)
    }

    async fn get_run(&self, conversation_id: &str) -> Result<Option<RunRecord>, PortError> {
        Ok(lock(&self.state).runs.get(conversation_id).cloned())
    }

    async fn update_run(&self, run: &mut RunRecord) -> Result<bool, PortError> {
        let mut state = lock(&self.state);
        let Some(stored) = state.runs.get_mut(&run.conversation_id) else {
            return Ok(false);
        };
        if stored.version != run.version {
            return Ok(false);
        }
        let next = run
            .version
            .checked_add(1)
            .ok_or_else(|| PortError::permanent("run store", "run version overflow"))?;
        run.version = next;
        stored.clone_from(run);
        Ok(true)
    }

    async fn runs_in_states(&self, states: &[RunState], limit: usize) -> Result<Vec<RunRecord>, PortError> {
        let state = lock(&self.state);
        let mut runs: Vec<&RunRecord> = state
            .runs
            .values()
            .filter(|run| states.contains(&run.state))
            .collect();
        runs.sort_by(|a, b| run_order(a, b));
        Ok(runs.into_iter().take(limit).cloned().collect())
    }

    async fn recent_runs(&self, query: &RunQuery) -> Result<RunPage, PortError> {
        let after = query.after_position()?;
        let found = lock(&self.state)
            .runs
            .values()
            .filter(|run| query.matches(run))
            .filter(|run| after.is_none_or(|after| run_position(run).as_str() < after))
            .cloned()
            .collect();
        Ok(newest_first_page(found, query.page_size()))
    }

    async fn claim_thread(&self, thread_key: &str, conversation_id: &str) -> Result<ThreadClaim, PortError> {
        let mut state = lock(&self.state);
        match state.threads.get(thread_key) {
            Some(holder) if holder != conversation_id => Ok(ThreadClaim::Active {
                conversation_id: holder.clone(),
            }),
            Some(_) => Ok(ThreadClaim::Claimed),
            None => {
                state
                    .threads
                    .insert(thread_key.to_owned(), conversation_id.to_owned());
                Ok(ThreadClaim::Claimed)
            }
        }
    }

    async fn thread_run(&self, thread_key: &str) -> Result<Option<String>, PortError> {
        Ok(lock(&self.state).threads.get(thread_key).cloned())
    }

    async fn release_thread(&self, thread_key: &str, conversation_id: &str) -> Result<(), PortError> {
        let mut state = lock(&self.state);
        if state
            .threads
            .get(thread_key)
            .is_some_and(|holder| holder == conversation_id)
        {
            state.threads.remove(thread_key);
        }
        Ok(())
    }
}

#[async_trait]
impl IdentityStore for MemoryStore {
    async fn get_link(
        &self,
        provider: Provider,
        tenant: &str,
        external_user_id: &str,
    ) -> Result<Option<IdentityLink>, PortError> {
        Ok(lock(&self.state)
            .links
            .get(&link_key(provider, tenant, external_user_id))
            .cloned())
    }

    async fn put_link(&self, link: &IdentityLink) -> Result<(), PortError> {
        let key = link_key(link.provider, &link.tenant, &link.external_user_id);
        lock(&self.state).links.insert(key, link.clone());
        Ok(())
    }

    async fn remove_link(
        &self,
        provider: Provider,
        tenant: &str,
        external_user_id: &str,
    ) -> Result<bool, PortError> {
        Ok(lock(&self.state)
            .links
            .remove(&link_key(provider, tenant, external_user_id))
            .is_some())
    }

    async fn list_links(&self) -> Result<Vec<IdentityLink>, PortError> {
        Ok(lock(&self.state).links.values().cloned().collect())
    }
}

#[derive(Debug, Default)]
struct QueueState {
    messages: Vec<QueueMessage>,
    /// Every dedup id ever accepted. A test runs far shorter than a FIFO queue's 5-minute dedup window, so the
    /// fake never forgets one.
    seen: HashSet<String>,
    fail_sends: bool,
}

/// In-memory [`Queue`] that records what was sent.
///
/// Like an SQS FIFO queue it drops a message whose `dedup_id` was already sent (even after [`Self::drain`]).
#[derive(Clone, Debug, Default)]
pub struct MemoryQueue {
    state: Arc<Mutex<QueueState>>,
}

impl MemoryQueue {
    /// An empty queue that accepts sends.
    pub fn new() -> Self {
        Self::default()
    }

    /// While `fail` is set, `send` returns a transient error and records nothing.
    pub fn fail_sends(&self, fail: bool) {
        lock(&self.state).fail_sends = fail;
    }

    /// The messages sent so far, in order, without removing them.
    pub fn messages(&self) -> Vec<QueueMessage> {
        lock(&self.state).messages.clone()
    }

    /// Take the messages sent so far, in order. Their dedup ids stay remembered.
    pub fn drain(&self) -> Vec<QueueMessage> {
        std::mem::take(&mut lock(&self.state).messages)
    }

    /// How many messages are recorded.
    pub fn len(&self) -> usize {
        lock(&self.state).messages.len()
    }

    /// Whether no message is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, message: QueueMessage) -> Result<(), PortError> {
        let mut state = lock(&self.state);
        if state.fail_sends {
            return Err(PortError::transient(
                "memory queue",
                "sends are failing (test switch)",
            ));
        }
        // Accepted but not delivered twice, as a FIFO queue does within its dedup window.
        if state.seen.insert(message.dedup_id.clone()) {
            state.messages.push(message);
        }
        Ok(())
    }
}

/// In-memory [`Secrets`]: a map from name to value.
#[derive(Clone, Debug, Default)]
pub struct MemorySecrets {
    values: Arc<Mutex<HashMap<String, SecretString>>>,
}

impl MemorySecrets {
    /// No secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace a secret; clones see it too (a rotation, in a test).
    pub fn insert(&self, name: impl Into<String>, value: impl Into<String>) {
        lock(&self.values).insert(name.into(), SecretString::new(value));
    }

    /// Builder form of [`Self::insert`].
    pub fn with(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }
}

#[async_trait]
impl Secrets for MemorySecrets {
    async fn get(&self, name: &str) -> Result<SecretString, PortError> {
        lock(&self.values)
            .get(name)
            .cloned()
            .ok_or_else(|| PortError::not_found(format!("secret {name}")))
    }
}

#[async_trait]
impl crate::ports::SecretWriter for MemorySecrets {
    async fn put_secrets(&self, entries: &[(String, SecretString)]) -> Result<(), PortError> {
        let mut values = lock(&self.values);
        for (name, value) in entries {
            values.insert(name.clone(), value.clone());
        }
        Ok(())
    }

    async fn remove_secrets(&self, names: &[String]) -> Result<(), PortError> {
        let mut values = lock(&self.values);
        for name in names {
            values.remove(name);
        }
        Ok(())
    }
}

/// A [`crate::ports::SourceClient`] that allows everything and does nothing, for provider unit tests that exercise intake and
/// trigger decisions only.
#[cfg(test)]
pub(crate) struct NoApiClient;

#[cfg(test)]
#[async_trait]
impl crate::ports::SourceClient for NoApiClient {
    async fn access(
        &self,
        _: &crate::domain::SourceRef,
        _: &crate::domain::Actor,
    ) -> Result<crate::ports::Access, PortError> {
        Ok(crate::ports::Access::Trigger)
    }
    async fn acknowledge(&self, _: &crate::domain::SourceRef) -> Result<(), PortError> {
        Ok(())
    }
    async fn post_status(
        &self,
        _: &crate::domain::SourceRef,
        _: &str,
        _: &str,
        _: bool,
    ) -> Result<crate::domain::StatusRef, PortError> {
        Ok(crate::domain::StatusRef {
            id: "1".into(),
            url: None,
        })
    }
    async fn find_status(
        &self,
        _: &crate::domain::SourceRef,
        _: &str,
    ) -> Result<Option<crate::domain::StatusRef>, PortError> {
        Ok(None)
    }
    async fn edit_status(
        &self,
        _: &crate::domain::SourceRef,
        _: &crate::domain::StatusRef,
        _: &str,
        _: &str,
        _: bool,
    ) -> Result<(), PortError> {
        Ok(())
    }
    async fn post_notice(&self, _: &crate::domain::SourceRef, _: &str) -> Result<(), PortError> {
        Ok(())
    }
    async fn thread_context(
        &self,
        _: &crate::domain::SourceRef,
        _: u64,
    ) -> Result<Vec<crate::ports::ContextMessage>, PortError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::store_conformance_tests!(MemoryStore::new());

    fn message(group: &str, dedup_id: &str) -> QueueMessage {
        QueueMessage {
            group: group.to_owned(),
            dedup_id: dedup_id.to_owned(),
            body: format!("body-{dedup_id}"),
        }
    }

    #[test]
    fn expiry_rounds_sub_seconds_up_and_saturates() {
        assert_eq!(expiry(10, Duration::from_secs(5)), 15);
        assert_eq!(expiry(10, Duration::from_millis(1)), 11);
        assert_eq!(expiry(10, Duration::ZERO), 10);
        assert_eq!(expiry(u64::MAX - 1, Duration::from_secs(5)), u64::MAX);
    }

    #[tokio::test]
    async fn queue_records_in_order_and_dedups() {
        let queue = MemoryQueue::new();
        queue.send(message("g1", "a")).await.unwrap();
        queue.send(message("g2", "b")).await.unwrap();
        queue.send(message("g1", "a")).await.unwrap();
        assert_eq!(queue.messages(), [message("g1", "a"), message("g2", "b")]);
        assert_eq!(queue.drain().len(), 2);
        assert!(queue.is_empty());
        // Dedup outlives a drain, as it outlives a receive on a FIFO queue.
        queue.send(message("g1", "a")).await.unwrap();
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn queue_failure_switch_is_transient_and_records_nothing() {
        let queue = MemoryQueue::new();
        let observer = queue.clone();
        queue.fail_sends(true);
        let err = queue.send(message("g", "a")).await.unwrap_err();
        assert!(err.is_transient());
        assert!(observer.is_empty());
        queue.fail_sends(false);
        queue.send(message("g", "a")).await.unwrap();
        assert_eq!(observer.len(), 1, "a failed send does not consume the dedup id");
    }

    #[tokio::test]
    async fn secrets_lookup_and_not_found() {
        let secrets = MemorySecrets::new().with("github/webhook", "s3cret");
        assert_eq!(secrets.get("github/webhook").await.unwrap().expose(), "s3cret");
        assert!(matches!(
            secrets.get("nope").await,
            Err(PortError::NotFound { .. })
        ));
        secrets.insert("github/webhook", "rotated");
        assert_eq!(secrets.get("github/webhook").await.unwrap().expose(), "rotated");
    }

    #[tokio::test]
    async fn store_assertion_helpers() {
        let store = MemoryStore::new();
        store.claim("k", 10, Duration::from_secs(5)).await.unwrap();
        assert_eq!(store.delivery_state("k", 14), Some(DeliveryState::Accepted));
        assert_eq!(store.delivery_state("k", 15), None);
        store.complete("k", 10, Duration::from_secs(5)).await.unwrap();
        assert_eq!(store.delivery_state("k", 10), Some(DeliveryState::Done));
        store.claim_thread("t", "c").await.unwrap();
        assert_eq!(store.thread("t").as_deref(), Some("c"));
        store
            .insert_run(&crate::conformance::run("b", RunState::Running, 2))
            .await
            .unwrap();
        store
            .insert_run(&crate::conformance::run("a", RunState::Running, 3))
            .await
            .unwrap();
        assert_eq!(
            store
                .runs()
                .iter()
                .map(|r| r.conversation_id.as_str())
                .collect::<Vec<_>>(),
            ["b", "a"]
        );
    }
}
