//! The ports: small traits the handlers are written against. Each has an AWS adapter (`aws`), an embedded
//! adapter (`embedded`, SQLite) and an in-memory adapter (`memory`). SDK and driver types never cross them.

use std::time::Duration;

use async_trait::async_trait;

use crate::{
    domain::{
        Actor, DeliveryDecision, DeliveryKey, IdentityLink, Provider, QueueMessage, RunRecord, RunState,
        SourceRef, StatusRef,
    },
    error::PortError,
    secret::SecretString,
};

/// Sends envelopes to the work queue (SQS FIFO on AWS, a SQLite table locally).
#[async_trait]
pub trait Queue: Send + Sync {
    /// Durably enqueue. Sending the same `dedup_id` twice must not produce two deliveries (within the
    /// queue's dedup window; the delivery store covers longer).
    async fn send(&self, message: QueueMessage) -> Result<(), PortError>;
}

/// The webhook's one write: claim a delivery and, only if newly claimed, enqueue its envelope. Either both
/// happen or, on error, neither stays claimed (so the provider's redelivery is processed).
#[async_trait]
pub trait Inbox: Send + Sync {
    async fn accept(
        &self,
        key: &str,
        now: u64,
        ttl: Duration,
        message: QueueMessage,
    ) -> Result<Claim, PortError>;
}

/// [`Inbox`] over a separate [`DeliveryStore`] and [`Queue`] (DynamoDB + SQS): claim, send, and release the claim
/// if the send fails.
pub struct ClaimThenSend {
    pub deliveries: std::sync::Arc<dyn DeliveryStore>,
    pub queue: std::sync::Arc<dyn Queue>,
}

#[async_trait]
impl Inbox for ClaimThenSend {
    async fn accept(
        &self,
        key: &str,
        now: u64,
        ttl: Duration,
        message: QueueMessage,
    ) -> Result<Claim, PortError> {
        if self.deliveries.claim(key, now, ttl).await? == Claim::Duplicate {
            return Ok(Claim::Duplicate);
        }
        if let Err(err) = self.queue.send(message).await {
            if let Err(release_err) = self.deliveries.release(key).await {
                tracing::warn!(error = %release_err, delivery = key, "could not release delivery claim");
            }
            return Err(err);
        }
        Ok(Claim::Claimed)
    }
}

/// Outcome of claiming a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This caller owns the delivery now.
    Claimed,
    /// Someone already accepted or finished it: answer 2xx and do nothing.
    Duplicate,
}

/// Durable dedup of provider deliveries (and of other one-shot effects, keyed by any string).
/// State machine: absent → `accepted` (expires after `ttl`) → `done` (kept `ttl`); `release` deletes so a
/// redelivery can be processed. An expired record counts as absent.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Claim `key` if absent or expired. `now` and `ttl` set the record's expiry (`now + ttl`).
    async fn claim(&self, key: &str, now: u64, ttl: Duration) -> Result<Claim, PortError>;
    /// Mark a claimed key done, keeping it for `ttl` from `now`.
    async fn complete(&self, key: &str, now: u64, ttl: Duration) -> Result<(), PortError>;
    /// Forget a claim so the next delivery with this key is processed.
    async fn release(&self, key: &str) -> Result<(), PortError>;
}

/// Convenience for the common delivery key.
pub fn delivery_storage_key(key: &DeliveryKey) -> String {
    key.storage_key()
}

/// What the worker decided about each delivery, newest first, for operators, and the envelope it decided on (so an
/// operator can deliver it again). Rows expire with the delivery records (`ttl`, as [`DeliveryStore::complete`]);
/// recording is best effort and never holds a delivery up.
#[async_trait]
pub trait DeliveryLog: Send + Sync {
    /// Create or replace the decision on `decision.storage_key()` and its `envelope` (the queued body), both kept
    /// `ttl` from its `decided_at`. Listings never read the envelope.
    async fn record(
        &self,
        decision: &DeliveryDecision,
        envelope: &str,
        ttl: Duration,
    ) -> Result<(), PortError>;
    /// The envelope recorded with the decision on storage key `key`, while it is kept.
    async fn envelope(&self, key: &str) -> Result<Option<String>, PortError>;
    /// One page of decisions matching `query`, newest `decided_at` first (the storage key, descending, breaks
    /// ties), with the cursor of the next page when there is one.
    async fn recent(&self, query: &DeliveryQuery) -> Result<DeliveryPage, PortError>;
}

/// Most decisions one [`DeliveryLog::recent`] page holds; larger limits are cut to it.
pub const MAX_DECISION_PAGE: usize = 1000;

/// Which decisions [`DeliveryLog::recent`] lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// Only this provider's.
    pub provider: Option<Provider>,
    /// Only this tenant's.
    pub tenant: Option<String>,
    /// Most decisions on the page (at most [`MAX_DECISION_PAGE`]).
    pub limit: usize,
    /// A previous page's [`DeliveryPage::next`]: list what comes after it.
    pub after: Option<String>,
}

impl DeliveryQuery {
    /// Whether `decision` passes the provider and tenant filters.
    pub fn matches(&self, decision: &DeliveryDecision) -> bool {
        self.provider.is_none_or(|p| p == decision.provider)
            && self.tenant.as_deref().is_none_or(|t| t == decision.tenant)
    }

    /// The page size, cut to [`MAX_DECISION_PAGE`].
    pub fn page_size(&self) -> usize {
        self.limit.min(MAX_DECISION_PAGE)
    }

    /// The position to list after (see [`decision_position`]), checked.
    pub fn after_position(&self) -> Result<Option<&str>, PortError> {
        checked_position("delivery log", self.after.as_deref())
    }
}

/// One page of [`DeliveryLog::recent`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryPage {
    pub decisions: Vec<DeliveryDecision>,
    /// Pass as [`DeliveryQuery::after`] for the next page; `None` on the last one.
    pub next: Option<String>,
}

/// A decision's place in the listing order, which is also the cursor a page ends with: `decided_at` zero-padded
/// to a fixed width, `#`, the storage key. Its string order is the listing order (reversed), so every store
/// compares cursors as plain strings.
pub fn decision_position(decision: &DeliveryDecision) -> String {
    position(decision.decided_at, &decision.storage_key())
}

/// The position of the item with `time` and `key`: the time zero-padded to a fixed width, `#`, the key.
fn position(time: u64, key: &str) -> String {
    format!("{time:020}#{key}")
}

/// A position's time and key, `None` when `cursor` is not one [`decision_position`] or [`run_position`] gives.
pub fn parse_position(cursor: &str) -> Option<(u64, &str)> {
    let (time, key) = cursor.split_once('#')?;
    if time.len() != 20 || !time.bytes().all(|b| b.is_ascii_digit()) || key.is_empty() {
        return None;
    }
    Some((time.parse().ok()?, key))
}

/// `cursor`, when set, if it is a position; a cursor no listing gave is a permanent error of `what`.
fn checked_position<'a>(what: &str, cursor: Option<&'a str>) -> Result<Option<&'a str>, PortError> {
    match cursor {
        None => Ok(None),
        Some(cursor) if parse_position(cursor).is_some() => Ok(Some(cursor)),
        Some(_) => Err(PortError::permanent(what, "the cursor is not one a listing gave")),
    }
}

/// What a newest-first listing holds ([`DeliveryDecision`]s, [`RunRecord`]s): each item's place in it, and its
/// page type.
pub trait Listed: Sized {
    type Page;
    /// The item's position ([`decision_position`], [`run_position`]).
    fn position(&self) -> String;
    /// The page of `items` with the cursor `next`.
    fn page(items: Vec<Self>, next: Option<String>) -> Self::Page;
}

impl Listed for DeliveryDecision {
    type Page = DeliveryPage;
    fn position(&self) -> String {
        decision_position(self)
    }
    fn page(decisions: Vec<Self>, next: Option<String>) -> DeliveryPage {
        DeliveryPage { decisions, next }
    }
}

impl Listed for RunRecord {
    type Page = RunPage;
    fn position(&self) -> String {
        run_position(self)
    }
    fn page(runs: Vec<Self>, next: Option<String>) -> RunPage {
        RunPage { runs, next }
    }
}

/// A page of `items` (matching ones, in any order): sorted into listing order, then as [`ordered_page`].
pub fn newest_first_page<T: Listed>(items: Vec<T>, page_size: usize) -> T::Page {
    let mut found: Vec<(String, T)> = items.into_iter().map(|item| (item.position(), item)).collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.truncate(page_size + 1);
    ordered_page(found.into_iter().map(|(_, item)| item).collect(), page_size)
}

/// A page from up to `page_size + 1` matching items already in listing order: the first `page_size`, and the
/// cursor after them when there were more.
pub fn ordered_page<T: Listed>(mut items: Vec<T>, page_size: usize) -> T::Page {
    let more = items.len() > page_size;
    items.truncate(page_size);
    let next = if more { items.last().map(T::position) } else { None };
    T::page(items, next)
}

/// Which runs [`RunStore::recent_runs`] lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunQuery {
    /// Only runs in one of these states (empty: every state).
    pub states: Vec<RunState>,
    /// Only this provider's.
    pub provider: Option<Provider>,
    /// Most runs on the page (at most [`MAX_RUN_PAGE`]).
    pub limit: usize,
    /// A previous page's [`RunPage::next`]: list what comes after it.
    pub after: Option<String>,
}

impl RunQuery {
    /// Whether `run` passes the state and provider filters.
    pub fn matches(&self, run: &RunRecord) -> bool {
        (self.states.is_empty() || self.states.contains(&run.state))
            && self.provider.is_none_or(|p| p == run.provider)
    }

    /// The states listed, each once: those named, or every state when none is.
    pub fn listed_states(&self) -> Vec<RunState> {
        if self.states.is_empty() {
            return RunState::ALL.to_vec();
        }
        let mut states = Vec::with_capacity(self.states.len());
        for state in &self.states {
            if !states.contains(state) {
                states.push(*state);
            }
        }
        states
    }

    /// The page size, cut to [`MAX_RUN_PAGE`].
    pub fn page_size(&self) -> usize {
        self.limit.min(MAX_RUN_PAGE)
    }

    /// The position to list after (see [`run_position`]), checked.
    pub fn after_position(&self) -> Result<Option<&str>, PortError> {
        checked_position("run store", self.after.as_deref())
    }
}

/// Most runs one [`RunStore::recent_runs`] page holds; larger limits are cut to it.
pub const MAX_RUN_PAGE: usize = 1000;

/// One page of [`RunStore::recent_runs`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunPage {
    pub runs: Vec<RunRecord>,
    /// Pass as [`RunQuery::after`] for the next page; `None` on the last one.
    pub next: Option<String>,
}

/// A run's place in the listing order, which is also the cursor a page ends with: `created_at` zero-padded to a
/// fixed width, `#`, the conversation id (as `gsi1sk` of the DynamoDB state partitions). Its string order is the
/// listing order (reversed).
pub fn run_position(run: &RunRecord) -> String {
    position(run.created_at, &run.conversation_id)
}

/// A message the queue gave up on after its last receive (the SQLite dead-letter table locally).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Identifies it to [`DeadLetters::retry_dead_letter`].
    pub id: String,
    /// Its message group.
    pub group: String,
    /// Its deduplication id (the delivery's storage key for webhook envelopes).
    pub dedup_id: String,
    /// The message body as sent (a [`QueueMessage`] body: untrusted text, never rendered unescaped).
    pub body: String,
    /// How many times it was received.
    pub receive_count: u32,
    /// The last error, or why it was dead-lettered.
    pub reason: String,
    /// Epoch seconds when it was set aside.
    pub failed_at: u64,
}

/// The dead letters, for operators: list them and put one back on the queue.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// At most `limit` dead letters, newest `failed_at` first.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, PortError>;
    /// Put dead letter `id` back on the queue as a new message of its group (receives start again, no dedup
    /// window applies) and remove it from the dead letters. Returns `false` when there is no such dead letter
    /// (retried already, or never was).
    async fn retry_dead_letter(&self, id: &str) -> Result<bool, PortError>;
}

/// Outcome of pointing a thread at a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThreadClaim {
    /// The thread now points at the given conversation (or already did).
    Claimed,
    /// Another conversation is active on this thread.
    Active { conversation_id: String },
}

/// Runs (keyed by conversation id) and the thread → active conversation pointer.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Insert if no run with this conversation id exists. Returns `false` (and writes nothing) if one does.
    async fn insert_run(&self, run: &RunRecord) -> Result<bool, PortError>;
    async fn get_run(&self, conversation_id: &str) -> Result<Option<RunRecord>, PortError>;
    /// Write `run` only if the stored version equals `run.version`; on success the stored version becomes
    /// `run.version + 1` and so does `run.version`. Returns `false` when someone else changed it first.
    async fn update_run(&self, run: &mut RunRecord) -> Result<bool, PortError>;
    /// Runs in any of `states`, oldest first, at most `limit` (the sweep's work list).
    async fn runs_in_states(&self, states: &[RunState], limit: usize) -> Result<Vec<RunRecord>, PortError>;
    /// One page of runs matching `query`, newest `created_at` first (the conversation id, descending, breaks
    /// ties), with the cursor of the next page when there is one (operators' listing).
    async fn recent_runs(&self, query: &RunQuery) -> Result<RunPage, PortError>;
    /// Point `thread_key` at `conversation_id` unless another conversation holds it.
    async fn claim_thread(&self, thread_key: &str, conversation_id: &str) -> Result<ThreadClaim, PortError>;
    /// Clear the pointer if it still names `conversation_id`.
    async fn release_thread(&self, thread_key: &str, conversation_id: &str) -> Result<(), PortError>;
    /// The conversation `thread_key` points at, if any (it may have ended since).
    async fn thread_run(&self, thread_key: &str) -> Result<Option<String>, PortError>;
}

/// External account → OpenHands identity links.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn get_link(
        &self,
        provider: Provider,
        tenant: &str,
        external_user_id: &str,
    ) -> Result<Option<IdentityLink>, PortError>;
    /// Create or replace.
    async fn put_link(&self, link: &IdentityLink) -> Result<(), PortError>;
    /// Returns whether a link was removed.
    async fn remove_link(
        &self,
        provider: Provider,
        tenant: &str,
        external_user_id: &str,
    ) -> Result<bool, PortError>;
    async fn list_links(&self) -> Result<Vec<IdentityLink>, PortError>;
}

/// Named secrets (Secrets Manager on AWS, a local file or environment locally).
#[async_trait]
pub trait Secrets: Send + Sync {
    /// The secret's current value; `PortError::NotFound` if it does not exist.
    async fn get(&self, name: &str) -> Result<SecretString, PortError>;
    /// After a signature did not match: the value read again past any cache, when this store keeps one and has
    /// not re-read `name` too recently (`None`: nothing newer to try). The default store reads live.
    async fn reread(&self, _name: &str) -> Result<Option<SecretString>, PortError> {
        Ok(None)
    }
}

/// Where secrets are written (the console stores a GitHub App's credentials that GitHub handed back).
#[async_trait]
pub trait SecretWriter: Send + Sync {
    /// Create or replace every entry; readers of the same store see the new values at once.
    async fn put_secrets(&self, entries: &[(String, SecretString)]) -> Result<(), PortError>;
    /// Delete `names` for good (one that is missing is no error).
    async fn remove_secrets(&self, names: &[String]) -> Result<(), PortError>;
}

/// How a caller authenticates to the OpenHands app server for one identity.
#[derive(Clone, Debug, Default)]
pub struct OpenHandsAuth {
    /// `Authorization: Bearer <key>` (OpenHands Cloud API key) when set.
    pub bearer: Option<SecretString>,
    /// `X-Session-API-Key: <key>` (self-hosted server session key) when set.
    pub session_key: Option<SecretString>,
}

/// What to start: the fields of `AppConversationStartRequest` Hookline uses.
#[derive(Clone, Debug, PartialEq)]
pub struct StartConversation {
    /// 32 hex; derived from the run key.
    pub conversation_id: String,
    pub initial_message: String,
    pub selected_repository: Option<String>,
    pub selected_branch: Option<String>,
    pub git_provider: Option<String>,
    pub title: String,
    /// `ConversationTrigger` value, e.g. `resolver`.
    pub trigger: String,
    /// The model the person chose (`model=`), from the operator's list; `None` is the identity's own setting.
    pub llm_model: Option<String>,
}

/// Start task as returned by `POST /api/v1/app-conversations` and the start-task endpoints.
#[derive(Clone, Debug, PartialEq)]
pub struct StartTask {
    pub id: String,
    /// `WORKING`, `WAITING_FOR_SANDBOX`, …, `READY`, `ERROR`.
    pub status: String,
    pub detail: Option<String>,
    pub app_conversation_id: Option<String>,
    pub agent_server_url: Option<String>,
}

impl StartTask {
    pub fn is_error(&self) -> bool {
        self.status.eq_ignore_ascii_case("ERROR")
    }
}

/// A conversation as `GET /api/v1/app-conversations?ids=` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct ConversationStatus {
    pub id: String,
    /// The sandbox running it (for `resume`); the server uses the conversation id's hex.
    pub sandbox_id: Option<String>,
    /// `STARTING|RUNNING|PAUSED|ERROR|MISSING`.
    pub sandbox_status: Option<String>,
    /// `idle|running|paused|waiting_for_confirmation|finished|error|stuck|deleting`, null while not running.
    pub execution_status: Option<String>,
    pub conversation_url: Option<String>,
    pub session_api_key: Option<SecretString>,
}

impl ConversationStatus {
    /// `sandbox_status` is `RUNNING`.
    pub fn sandbox_running(&self) -> bool {
        self.sandbox_status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("RUNNING"))
    }
}

/// What became of a follow-up message (`send-message`), in the terms the real server answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageDelivery {
    /// 200: the agent has it.
    Delivered,
    /// 404: the conversation does not exist (yet): it is still starting, or was never created.
    NotYet,
    /// 409: the sandbox is paused or starting; it can take the message once it runs.
    SandboxNotRunning,
    /// 410: the sandbox is missing or the conversation archived; it will not come back.
    Gone,
}

/// The OpenHands V1 app server (and, for summaries, the conversation's agent server).
#[async_trait]
pub trait Conversations: Send + Sync {
    /// `POST /api/v1/app-conversations` with `run: true`.
    async fn start(&self, auth: &OpenHandsAuth, request: &StartConversation) -> Result<StartTask, PortError>;
    /// `GET /api/v1/app-conversations?ids=…` (≤ 99 ids); `None` where the conversation does not exist yet.
    async fn statuses(
        &self,
        auth: &OpenHandsAuth,
        conversation_ids: &[String],
    ) -> Result<Vec<Option<ConversationStatus>>, PortError>;
    /// One conversation's listing; `None` where it does not exist yet.
    async fn status(
        &self,
        auth: &OpenHandsAuth,
        conversation_id: &str,
    ) -> Result<Option<ConversationStatus>, PortError> {
        let ids = [conversation_id.to_owned()];
        Ok(self.statuses(auth, &ids).await?.into_iter().next().flatten())
    }
    /// `GET /api/v1/app-conversations/start-tasks?ids=<task id>`.
    async fn start_task(&self, auth: &OpenHandsAuth, task_id: &str) -> Result<Option<StartTask>, PortError>;
    /// The newest start task for a conversation created at or after `since` (epoch s), if the server has one.
    /// Found by the conversation id of its request, so a start still in progress is found too (the server's
    /// `conversation_id__eq` filter matches only tasks that reached `READY`).
    async fn find_start_task(
        &self,
        auth: &OpenHandsAuth,
        conversation_id: &str,
        since: u64,
    ) -> Result<Option<StartTask>, PortError>;
    /// `POST /api/v1/sandboxes/{id}/resume`: wake a paused sandbox.
    async fn resume_sandbox(&self, auth: &OpenHandsAuth, sandbox_id: &str) -> Result<(), PortError>;
    /// `PATCH /api/v1/app-conversations/{id}` with the title (the server ignores the title at start).
    async fn set_title(
        &self,
        auth: &OpenHandsAuth,
        conversation_id: &str,
        title: &str,
    ) -> Result<(), PortError>;
    /// `POST /api/v1/app-conversations/{id}/send-message` with `run: true`. The answers that say where the
    /// conversation is (404, 409, 410) are outcomes, not errors.
    async fn send_message(
        &self,
        auth: &OpenHandsAuth,
        conversation_id: &str,
        text: &str,
    ) -> Result<MessageDelivery, PortError>;
    /// Ask the agent for its final summary: `POST {agent_server_url}/api/conversations/{id}/ask_agent` with the
    /// sandbox's session key. Returns the answer text.
    async fn ask_agent(
        &self,
        conversation: &ConversationStatus,
        agent_server_url: &str,
        question: &str,
    ) -> Result<String, PortError>;
    /// Stop the agent at once: `POST {agent_server_url}/api/conversations/{id}/interrupt` with the sandbox's
    /// session key cancels the step in flight and leaves the conversation `paused` (it can be resumed from
    /// OpenHands). Returns whether the agent server knew the conversation.
    async fn interrupt(
        &self,
        conversation: &ConversationStatus,
        agent_server_url: &str,
    ) -> Result<bool, PortError>;
    /// Link a person can open to follow the conversation.
    fn conversation_link(&self, conversation_id: &str) -> String;
}

/// The provider's API, as the generic handlers need it. One implementation per provider; each interprets only
/// its own [`SourceRef`] variant.
/// What a person may do on a source, in increasing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing: no run starts, nothing is posted.
    None,
    /// Start runs, and steer the runs they started.
    Trigger,
    /// Also steer runs someone else started (GitHub maintain or admin, GitLab maintainer or owner).
    Maintain,
}

/// A pull or merge request's head: its branch, and the repository that holds it when that is not the source's
/// own (a fork), so the agent works where the branch is and never pushes a fork's branch name to the base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadBranch {
    pub branch: String,
    pub fork: Option<String>,
}

#[async_trait]
pub trait SourceClient: Send + Sync {
    /// What this person may do here (e.g. GitHub write access triggers, maintain steers others' runs), as the
    /// provider's API says.
    async fn access(&self, source: &SourceRef, actor: &Actor) -> Result<Access, PortError>;
    /// The immediate "seen it" signal (👀 reaction). Idempotent.
    async fn acknowledge(&self, source: &SourceRef) -> Result<(), PortError>;
    /// Post the run's one status message; `marker` is embedded invisibly so a retry can find it. `live` says the
    /// run is still going (a provider with buttons offers Stop); the final result is posted with `live` false.
    async fn post_status(
        &self,
        source: &SourceRef,
        marker: &str,
        text: &str,
        live: bool,
    ) -> Result<StatusRef, PortError>;
    /// Find a status message carrying `marker` (after a crash between posting and recording it).
    async fn find_status(&self, source: &SourceRef, marker: &str) -> Result<Option<StatusRef>, PortError>;
    /// Replace the status message's text (keeping the marker); `live` as for [`SourceClient::post_status`].
    async fn edit_status(
        &self,
        source: &SourceRef,
        status: &StatusRef,
        marker: &str,
        text: &str,
        live: bool,
    ) -> Result<(), PortError>;
    /// Post a one-off notice (e.g. how to get linked).
    async fn post_notice(&self, source: &SourceRef, text: &str) -> Result<(), PortError>;
    /// Text of earlier messages in the thread, oldest first, sanitized, written at or before `until` (epoch s),
    /// excluding Hookline's own; for the prompt.
    async fn thread_context(&self, source: &SourceRef, until: u64) -> Result<Vec<ContextMessage>, PortError>;
    /// Branch to work on when the trigger did not carry it (GitHub PR head for conversation comments). The
    /// default, for sources that are never pull or merge requests, is none.
    async fn resolve_branch(&self, _source: &SourceRef) -> Result<Option<HeadBranch>, PortError> {
        Ok(None)
    }
    /// The conversation started: trackers may move the issue (Jira transition, Linear state). Best effort.
    async fn run_started(&self, _source: &SourceRef) -> Result<(), PortError> {
        Ok(())
    }
    /// The run finished with a pull/merge request: trackers may move the issue again. Best effort.
    async fn pull_request_opened(&self, _source: &SourceRef, _url: &str) -> Result<(), PortError> {
        Ok(())
    }
}

/// The refusal of the [`SourceClient`] named `client` (`github client`) when handed another provider's `source`.
pub(crate) fn foreign_source(client: &str, source: &SourceRef) -> PortError {
    PortError::permanent(client, format!("cannot act on a {} source", source.provider()))
}

/// One earlier message of a thread, for the prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextMessage {
    pub author: String,
    pub body: String,
}

impl ContextMessage {
    /// An earlier message as context: its text sanitized (`None` when nothing is left of it) and its author,
    /// `unknown` when the provider names none.
    pub fn earlier(author: Option<String>, unknown: &str, text: &str) -> Option<Self> {
        Some(Self {
            body: crate::text::context_text(text)?,
            author: author
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| unknown.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_queries_cut_the_limit_check_the_cursor_and_name_each_state_once() {
        let query = RunQuery {
            limit: MAX_RUN_PAGE + 1,
            states: vec![RunState::Failed, RunState::Running, RunState::Failed],
            ..RunQuery::default()
        };
        assert_eq!(query.page_size(), MAX_RUN_PAGE);
        assert_eq!(query.listed_states(), [RunState::Failed, RunState::Running]);
        assert_eq!(RunQuery::default().listed_states(), RunState::ALL);
        assert_eq!(RunQuery::default().after_position().unwrap(), None);

        let run = crate::conformance::run("c1", RunState::Running, 42);
        let position = run_position(&run);
        assert_eq!(position, "00000000000000000042#c1");
        assert_eq!(parse_position(&position), Some((42, "c1")));
        let after = RunQuery {
            after: Some(position.clone()),
            ..RunQuery::default()
        };
        assert_eq!(after.after_position().unwrap(), Some(position.as_str()));
        let bad = RunQuery {
            after: Some("42#c1".to_owned()),
            ..RunQuery::default()
        };
        assert!(matches!(bad.after_position(), Err(PortError::Permanent { .. })));
    }
}
