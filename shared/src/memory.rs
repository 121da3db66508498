//! In-memory adapters of the storage, queue and secret ports, for unit tests.
//!
//! They keep the same semantics as the durable adapters (the conformance suite in this module runs against
//! both), hold their state behind a std `Mutex`, and are cheap to clone: clones share state, so a test can
//! hand one clone to the code under test and inspect another.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use async_trait::async_trait;

use crate::{
    domain::{IdentityLink, Provider, QueueMessage, RunRecord, RunState},
    error::PortError,
    ports::{Claim, DeliveryStore, IdentityStore, Queue, RunStore, Secrets, ThreadClaim},
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
}

/// In-memory [`DeliveryStore`], [`RunStore`] and [`IdentityStore`].
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
fn run_order(a: &RunRecord, b: &RunRecord) -> std::cmp::Ordering {
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

/// The storage-port conformance suite: one set of async checks of the port semantics, run against every
/// adapter (`MemoryStore` below, `SqliteStore` in `embedded`) through [`store_conformance_tests!`].
/// A [`crate::ports::SourceClient`] that allows everything and does nothing, for provider unit tests that exercise intake and
/// trigger decisions only.
#[cfg(test)]
pub(crate) struct NoApiClient;

#[cfg(test)]
#[async_trait]
impl crate::ports::SourceClient for NoApiClient {
    async fn may_trigger(&self, _: &crate::domain::SourceRef, _: &str) -> Result<bool, PortError> {
        Ok(true)
    }
    async fn acknowledge(&self, _: &crate::domain::SourceRef) -> Result<(), PortError> {
        Ok(())
    }
    async fn post_status(
        &self,
        _: &crate::domain::SourceRef,
        _: &str,
        _: &str,
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
    async fn resolve_branch(&self, _: &crate::domain::SourceRef) -> Result<Option<String>, PortError> {
        Ok(None)
    }
}

#[cfg(test)]
pub(crate) mod conformance {
    use std::time::Duration;

    use crate::{
        domain::{Actor, IdentityLink, Provider, RunRecord, RunState, SourceRef},
        github::{GithubSource, GithubTarget},
        ports::{Claim, DeliveryStore, IdentityStore, RunStore, ThreadClaim},
    };

    const TTL: Duration = Duration::from_secs(60);

    /// A run record for tests; only `conversation_id`, `state` and `created_at` vary.
    pub(crate) fn run(conversation_id: &str, state: RunState, created_at: u64) -> RunRecord {
        RunRecord {
            conversation_id: conversation_id.to_owned(),
            run_key: format!("github:octo/hello#1:{conversation_id}"),
            provider: Provider::Github,
            tenant: "github.com".to_owned(),
            thread_key: "github:octo/hello#1".to_owned(),
            source: SourceRef::Github(GithubSource {
                installation_id: 7,
                repository: "octo/hello".to_owned(),
                number: 1,
                is_pull_request: false,
                target: GithubTarget::IssueComment { comment_id: 5 },
            }),
            actor: Actor {
                id: "42".to_owned(),
                login: "octocat".to_owned(),
            },
            openhands_user: "oh-user".to_owned(),
            api_key_secret: Some("openhands/oh-user".to_owned()),
            state,
            status: None,
            start_task_id: None,
            session_key_sha256: None,
            agent_server_url: None,
            created_at,
            updated_at: created_at,
            deadline_at: created_at + 3600,
            last_execution_status: None,
            outcome: None,
            title: String::new(),
            title_set: false,
            start_requested_at: None,
            pending_messages: Vec::new(),
            previous_conversation_id: None,
            sandbox_trouble: None,
            conclusion: None,
            version: 0,
        }
    }

    fn link(provider: Provider, tenant: &str, user: &str, login: &str) -> IdentityLink {
        IdentityLink {
            provider,
            tenant: tenant.to_owned(),
            external_user_id: user.to_owned(),
            external_login: login.to_owned(),
            openhands_user: format!("oh-{login}"),
            api_key_secret: Some(format!("openhands/{login}")),
            created_at: 1_700_000_000,
        }
    }

    /// GIVEN an empty store WHEN a key is claimed twice THEN the second is a duplicate; completion keeps it a
    /// duplicate until the done record expires.
    pub(crate) async fn claim_duplicate_complete<S: DeliveryStore>(store: &S) {
        let now = 1_000;
        assert_eq!(store.claim("k1", now, TTL).await.unwrap(), Claim::Claimed);
        assert_eq!(store.claim("k1", now + 1, TTL).await.unwrap(), Claim::Duplicate);
        assert_eq!(
            store.claim("k2", now + 1, TTL).await.unwrap(),
            Claim::Claimed,
            "keys are independent"
        );

        store
            .complete("k1", now + 2, Duration::from_secs(1_000))
            .await
            .unwrap();
        // Past the original claim's expiry, but the done record lives longer.
        assert_eq!(store.claim("k1", now + 500, TTL).await.unwrap(), Claim::Duplicate);
        assert_eq!(
            store.claim("k1", now + 1_002, TTL).await.unwrap(),
            Claim::Claimed,
            "done record expired"
        );
    }

    /// GIVEN a claimed key WHEN it is released THEN the next claim succeeds.
    pub(crate) async fn release_allows_reclaim<S: DeliveryStore>(store: &S) {
        assert_eq!(store.claim("k", 10, TTL).await.unwrap(), Claim::Claimed);
        store.release("k").await.unwrap();
        assert_eq!(store.claim("k", 11, TTL).await.unwrap(), Claim::Claimed);
        store.release("never-claimed").await.unwrap();
    }

    /// GIVEN a claim that was never completed WHEN its expiry passes THEN another caller takes it over.
    pub(crate) async fn expired_claim_is_taken_over<S: DeliveryStore>(store: &S) {
        assert_eq!(store.claim("k", 100, TTL).await.unwrap(), Claim::Claimed);
        assert_eq!(
            store.claim("k", 159, TTL).await.unwrap(),
            Claim::Duplicate,
            "still held one second before"
        );
        assert_eq!(
            store.claim("k", 160, TTL).await.unwrap(),
            Claim::Claimed,
            "expired at now + ttl"
        );
        // The takeover restarted the expiry.
        assert_eq!(store.claim("k", 200, TTL).await.unwrap(), Claim::Duplicate);
    }

    /// GIVEN a stored run WHEN the same conversation id is inserted again THEN nothing is written.
    pub(crate) async fn insert_run_once<S: RunStore>(store: &S) {
        let first = run("c1", RunState::Claimed, 10);
        assert!(store.insert_run(&first).await.unwrap());
        let mut second = run("c1", RunState::Running, 99);
        second.outcome = Some("other".to_owned());
        assert!(!store.insert_run(&second).await.unwrap());
        assert_eq!(store.get_run("c1").await.unwrap(), Some(first));
        assert_eq!(store.get_run("missing").await.unwrap(), None);
    }

    /// GIVEN two copies of a run WHEN both are updated THEN only the first wins and versions advance by one.
    pub(crate) async fn update_run_is_optimistic<S: RunStore>(store: &S) {
        assert!(store.insert_run(&run("c1", RunState::Claimed, 10)).await.unwrap());
        let mut mine = store.get_run("c1").await.unwrap().unwrap();
        let mut theirs = mine.clone();

        mine.state = RunState::Running;
        mine.start_task_id = Some("task-1".to_owned());
        assert!(store.update_run(&mut mine).await.unwrap());
        assert_eq!(mine.version, 1);
        assert_eq!(store.get_run("c1").await.unwrap(), Some(mine.clone()));

        theirs.state = RunState::Failed;
        assert!(
            !store.update_run(&mut theirs).await.unwrap(),
            "stale version must lose"
        );
        assert_eq!(
            theirs.version, 0,
            "a lost update leaves the caller's version alone"
        );
        assert_eq!(store.get_run("c1").await.unwrap(), Some(mine.clone()));

        mine.state = RunState::Reported;
        assert!(store.update_run(&mut mine).await.unwrap());
        assert_eq!(mine.version, 2);
        assert_eq!(
            store.get_run("c1").await.unwrap().map(|r| (r.state, r.version)),
            Some((RunState::Reported, 2))
        );

        let mut ghost = run("ghost", RunState::Running, 1);
        assert!(
            !store.update_run(&mut ghost).await.unwrap(),
            "an absent run is not updated"
        );
        assert_eq!(store.get_run("ghost").await.unwrap(), None);
    }

    /// GIVEN runs in several states WHEN the sweep lists some states THEN it gets those, oldest first, capped.
    pub(crate) async fn runs_in_states_order_and_limit<S: RunStore>(store: &S) {
        for (id, state, created_at) in [
            ("c-new", RunState::Running, 300),
            ("c-old", RunState::Claimed, 100),
            ("c-done", RunState::Reported, 50),
            ("c-mid-b", RunState::Running, 200),
            ("c-mid-a", RunState::Claimed, 200),
            ("c-failed", RunState::Failed, 150),
        ] {
            assert!(store.insert_run(&run(id, state, created_at)).await.unwrap());
        }
        let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.conversation_id).collect::<Vec<_>>();

        let open = store
            .runs_in_states(&[RunState::Claimed, RunState::Running], 10)
            .await
            .unwrap();
        assert_eq!(ids(open), ["c-old", "c-mid-a", "c-mid-b", "c-new"]);
        let capped = store
            .runs_in_states(&[RunState::Running, RunState::Claimed], 2)
            .await
            .unwrap();
        assert_eq!(ids(capped), ["c-old", "c-mid-a"]);
        let terminal = store
            .runs_in_states(&[RunState::Failed, RunState::Reported], 10)
            .await
            .unwrap();
        assert_eq!(ids(terminal), ["c-done", "c-failed"]);
        let repeated = store
            .runs_in_states(&[RunState::Running, RunState::Running], 10)
            .await
            .unwrap();
        assert_eq!(ids(repeated), ["c-mid-b", "c-new"]);
        assert!(store.runs_in_states(&[], 10).await.unwrap().is_empty());
        assert!(store
            .runs_in_states(&[RunState::Running], 0)
            .await
            .unwrap()
            .is_empty());

        // A state change moves a run between lists.
        let mut old = store.get_run("c-old").await.unwrap().unwrap();
        old.state = RunState::Reported;
        assert!(store.update_run(&mut old).await.unwrap());
        let open = store.runs_in_states(&[RunState::Claimed], 10).await.unwrap();
        assert_eq!(ids(open), ["c-mid-a"]);
    }

    /// GIVEN a thread WHEN conversations claim and release it THEN one holds it at a time and only the holder
    /// releases it.
    pub(crate) async fn thread_claims<S: RunStore>(store: &S) {
        assert_eq!(
            store.claim_thread("t1", "c1").await.unwrap(),
            ThreadClaim::Claimed
        );
        assert_eq!(
            store.claim_thread("t1", "c1").await.unwrap(),
            ThreadClaim::Claimed,
            "re-claim is idempotent"
        );
        assert_eq!(
            store.claim_thread("t1", "c2").await.unwrap(),
            ThreadClaim::Active {
                conversation_id: "c1".to_owned()
            }
        );
        assert_eq!(
            store.claim_thread("t2", "c2").await.unwrap(),
            ThreadClaim::Claimed,
            "threads are independent"
        );

        store.release_thread("t1", "c2").await.unwrap();
        assert_eq!(
            store.claim_thread("t1", "c2").await.unwrap(),
            ThreadClaim::Active {
                conversation_id: "c1".to_owned()
            },
            "only the holder releases"
        );
        store.release_thread("t1", "c1").await.unwrap();
        assert_eq!(
            store.claim_thread("t1", "c2").await.unwrap(),
            ThreadClaim::Claimed
        );
        store.release_thread("missing", "c1").await.unwrap();
    }

    /// GIVEN identity links WHEN they are put, replaced, listed and removed THEN lookups follow.
    pub(crate) async fn identity_links<S: IdentityStore>(store: &S) {
        assert_eq!(
            store
                .get_link(Provider::Github, "github.com", "42")
                .await
                .unwrap(),
            None
        );
        assert!(store.list_links().await.unwrap().is_empty());

        let octo = link(Provider::Github, "github.com", "42", "octocat");
        let other_tenant = link(Provider::Github, "ghe.example.com", "42", "octocat-ghe");
        let slack = link(Provider::Slack, "T01", "U42", "octo");
        for l in [&slack, &octo, &other_tenant] {
            store.put_link(l).await.unwrap();
        }
        assert_eq!(
            store
                .get_link(Provider::Github, "github.com", "42")
                .await
                .unwrap(),
            Some(octo.clone())
        );
        assert_eq!(
            store
                .get_link(Provider::Gitlab, "github.com", "42")
                .await
                .unwrap(),
            None
        );

        let renamed = link(Provider::Github, "github.com", "42", "octo-renamed");
        store.put_link(&renamed).await.unwrap();
        assert_eq!(
            store
                .get_link(Provider::Github, "github.com", "42")
                .await
                .unwrap(),
            Some(renamed.clone())
        );

        // Ordered by provider, tenant, external user id.
        assert_eq!(
            store.list_links().await.unwrap(),
            [other_tenant.clone(), renamed, slack.clone()]
        );

        assert!(store
            .remove_link(Provider::Github, "github.com", "42")
            .await
            .unwrap());
        assert!(!store
            .remove_link(Provider::Github, "github.com", "42")
            .await
            .unwrap());
        assert_eq!(
            store
                .get_link(Provider::Github, "github.com", "42")
                .await
                .unwrap(),
            None
        );
        assert_eq!(store.list_links().await.unwrap(), [other_tenant, slack]);
    }

    /// Generates one `#[tokio::test]` per conformance check; `$make` is an expression yielding a fresh store
    /// (it may use `?`-free setup such as opening a temp database).
    macro_rules! store_conformance_tests {
        ($make:expr) => {
            #[tokio::test]
            async fn conformance_claim_duplicate_complete() {
                $crate::memory::conformance::claim_duplicate_complete(&$make).await;
            }
            #[tokio::test]
            async fn conformance_release_allows_reclaim() {
                $crate::memory::conformance::release_allows_reclaim(&$make).await;
            }
            #[tokio::test]
            async fn conformance_expired_claim_is_taken_over() {
                $crate::memory::conformance::expired_claim_is_taken_over(&$make).await;
            }
            #[tokio::test]
            async fn conformance_insert_run_once() {
                $crate::memory::conformance::insert_run_once(&$make).await;
            }
            #[tokio::test]
            async fn conformance_update_run_is_optimistic() {
                $crate::memory::conformance::update_run_is_optimistic(&$make).await;
            }
            #[tokio::test]
            async fn conformance_runs_in_states_order_and_limit() {
                $crate::memory::conformance::runs_in_states_order_and_limit(&$make).await;
            }
            #[tokio::test]
            async fn conformance_thread_claims() {
                $crate::memory::conformance::thread_claims(&$make).await;
            }
            #[tokio::test]
            async fn conformance_identity_links() {
                $crate::memory::conformance::identity_links(&$make).await;
            }
        };
    }
    pub(crate) use store_conformance_tests;
}

#[cfg(test)]
mod tests {
    use super::*;

    conformance::store_conformance_tests!(MemoryStore::new());

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
            .insert_run(&conformance::run("b", RunState::Running, 2))
            .await
            .unwrap();
        store
            .insert_run(&conformance::run("a", RunState::Running, 3))
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
