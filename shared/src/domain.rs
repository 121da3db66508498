//! Provider-neutral domain types: what travels on the queue, what a trigger is, what a run records.
//! No AWS, SQLite or HTTP-framework types appear here.

use serde::{Deserialize, Serialize};

/// A source of triggers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Github,
    Gitlab,
    Slack,
    Jira,
    Linear,
}

impl Provider {
    pub const ALL: [Provider; 5] = [
        Provider::Github,
        Provider::Gitlab,
        Provider::Slack,
        Provider::Jira,
        Provider::Linear,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Github => "github",
            Provider::Gitlab => "gitlab",
            Provider::Slack => "slack",
            Provider::Jira => "jira",
            Provider::Linear => "linear",
        }
    }

    /// The name people know it by.
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Github => "GitHub",
            Provider::Gitlab => "GitLab",
            Provider::Slack => "Slack",
            Provider::Jira => "Jira",
            Provider::Linear => "Linear",
        }
    }

    /// The `trigger` a conversation started from here carries, as OpenHands' own integrations name theirs (its
    /// GitHub and GitLab resolvers share one).
    pub fn conversation_trigger(self) -> &'static str {
        match self {
            Provider::Github | Provider::Gitlab => "resolver",
            Provider::Slack => "slack",
            Provider::Jira => "jira",
            Provider::Linear => "linear",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "github" => Provider::Github,
            "gitlab" => Provider::Gitlab,
            "slack" => Provider::Slack,
            "jira" => Provider::Jira,
            "linear" => Provider::Linear,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identity of one delivery from a provider: the transport-level dedup key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeliveryKey {
    pub provider: Provider,
    pub tenant: String,
    pub delivery_id: String,
}

impl DeliveryKey {
    /// Flat key used by the stores, e.g. `github#github.com#72d3162e-…`.
    pub fn storage_key(&self) -> String {
        storage_key(self.provider, &self.tenant, &self.delivery_id)
    }
}

/// [`DeliveryKey::storage_key`] from its parts; built directly, as every webhook makes one.
fn storage_key(provider: Provider, tenant: &str, delivery_id: &str) -> String {
    let provider = provider.as_str();
    let mut key = String::with_capacity(provider.len() + tenant.len() + delivery_id.len() + 2);
    key.push_str(provider);
    key.push('#');
    key.push_str(tenant);
    key.push('#');
    key.push_str(delivery_id);
    key
}

/// Current version of [`Envelope`]; bump when its shape changes incompatibly.
pub const ENVELOPE_VERSION: u32 = 1;

/// The queue message: small, self-contained and versioned. `payload` is the verified body trimmed to what the
/// worker needs (provider-specific shape), so a huge issue body never exceeds the queue's size limit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub version: u32,
    pub provider: Provider,
    pub tenant: String,
    pub delivery_id: String,
    /// Provider event name (e.g. GitHub's `X-GitHub-Event`).
    pub event: String,
    /// Ordering group: events for one thread are processed in order (FIFO message group).
    pub group: String,
    /// Epoch seconds when the webhook accepted it.
    pub received_at: u64,
    /// Provider-specific trimmed event, kept as raw JSON so it is serialized once.
    pub payload: Box<serde_json::value::RawValue>,
}

impl Envelope {
    /// The storage key of [`Self::delivery_key`], without building the key first.
    pub fn storage_key(&self) -> String {
        storage_key(self.provider, &self.tenant, &self.delivery_id)
    }

    pub fn delivery_key(&self) -> DeliveryKey {
        DeliveryKey {
            provider: self.provider,
            tenant: self.tenant.clone(),
            delivery_id: self.delivery_id.clone(),
        }
    }
}

/// One message as handed to a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueMessage {
    /// Ordering group (FIFO `MessageGroupId`).
    pub group: String,
    /// Deduplication id (FIFO `MessageDeduplicationId`): the delivery's storage key.
    pub dedup_id: String,
    /// Serialized [`Envelope`] (JSON).
    pub body: String,
}

/// The person who triggered something, as the provider names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Stable provider user id (GitHub numeric id, Slack user id, …).
    pub id: String,
    /// Display handle (GitHub login, …) for messages.
    pub login: String,
}

/// Where a run reports back. Provider-specific, serialized into run records; only that provider's
/// [`crate::ports::SourceClient`] interprets it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum SourceRef {
    Github(crate::github::GithubSource),
    Gitlab(crate::gitlab::GitlabSource),
    Slack(crate::slack::SlackSource),
    Jira(crate::jira::JiraSource),
    Linear(crate::linear::LinearSource),
}

impl SourceRef {
    pub fn provider(&self) -> Provider {
        match self {
            SourceRef::Github(_) => Provider::Github,
            SourceRef::Gitlab(_) => Provider::Gitlab,
            SourceRef::Slack(_) => Provider::Slack,
            SourceRef::Jira(_) => Provider::Jira,
            SourceRef::Linear(_) => Provider::Linear,
        }
    }
}

/// The id of the one status message a run posts and later edits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRef {
    pub id: String,
    pub url: Option<String>,
}

/// A decided trigger, provider-neutral from here on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    pub provider: Provider,
    pub tenant: String,
    /// The thread (issue, PR, Slack thread, …) this belongs to; one active conversation per thread.
    pub thread_key: String,
    /// Identity of this trigger (thread + triggering comment / label event); the conversation id derives from it.
    pub run_key: String,
    pub actor: Actor,
    pub source: SourceRef,
    /// `owner/repo` (or provider equivalent) the agent works on, if known.
    pub repository: Option<String>,
    /// The repository was named in the request's text and is not the one configured for this channel, project
    /// or team (nor the source's own): only a person's own linked identity works on it, never the shared default.
    #[serde(default)]
    pub repository_named: bool,
    /// Branch to work on (PR head for PR comments).
    pub branch: Option<String>,
    /// Git provider name as OpenHands validates it (`github`, `gitlab`, …).
    pub git_provider: String,
    /// Conversation title, e.g. `GitHub Issue #12: Fix the README`.
    pub title: String,
    /// What the prompt is built from (raw text as it was at trigger time; sanitized when rendered).
    pub prompt: PromptParts,
    /// Epoch seconds of the triggering event (context newer than this is ignored).
    pub occurred_at: u64,
    /// Whether the person asks for work or to stop the thread's run.
    #[serde(default)]
    pub intent: Intent,
    /// For a stop from a run's own Stop button: that run's conversation id; the stop names no other run.
    #[serde(default)]
    pub stop_only: Option<String>,
}

/// What a person's message asks of the bot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Work: start a run, or add to the thread's running one.
    #[default]
    Work,
    /// Stop the thread's running run (`@openhands stop`, Slack's Stop button).
    Stop,
}

impl Intent {
    /// What a mention's text asks for (empty for a label: work).
    pub fn of_request(text: &str) -> Self {
        if crate::text::asks_to_stop(text) {
            Intent::Stop
        } else {
            Intent::Work
        }
    }
}

/// The pieces of the initial message a provider contributes; [`crate::handlers::prompt`] renders them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptParts {
    /// What and where, e.g. `GitHub issue octo/hello#12`.
    pub subject: String,
    pub subject_title: String,
    pub subject_body: String,
    /// The triggering comment or review text (empty for a label).
    pub request: String,
    /// The request is `subject_body`: a new item whose description asks the bot (options are read there).
    #[serde(default)]
    pub request_in_body: bool,
    /// The request with mentions as the provider's tokens, where a mention's display name may have spaces
    /// (Jira's `@Hookline Bot`): the start of the request, where unknown options are looked for, is read there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_mention_form: Option<String>,
    /// File and line for inline review comments, with the diff hunk.
    pub location: Option<String>,
    /// Task-specific instructions (fix the issue and open a PR / push to the PR branch / answer).
    pub instructions: String,
}

impl PromptParts {
    /// The text the person asked in: the request, or the new item's description.
    pub fn asking_text(&self) -> &str {
        if self.request.trim().is_empty() && self.request_in_body {
            &self.subject_body
        } else {
            &self.request
        }
    }
}

/// Where a run is in its life. `Reported` and `Failed` are terminal.
///
/// `Claimed → Starting → Running → Concluding → Reported | Failed`; any open state may go to `Concluding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Record written before any external effect; the worker owns it.
    Claimed,
    /// OpenHands accepted the start; the conversation does not exist yet (its sandbox is coming up).
    Starting,
    /// The conversation exists (OpenHands lists it).
    Running,
    /// One party holds the conclusion (see [`Conclusion`]) and is doing its effects: summary, final edit.
    Concluding,
    /// The result was posted (status message edited with the summary).
    Reported,
    /// A failure message was posted (or, after repeated refusals, could not be).
    Failed,
}

impl RunState {
    /// Every state, for listings.
    pub const ALL: [RunState; 6] = [
        RunState::Claimed,
        RunState::Starting,
        RunState::Running,
        RunState::Concluding,
        RunState::Reported,
        RunState::Failed,
    ];
    /// The states the sweep looks after.
    pub const OPEN: [RunState; 4] = [
        RunState::Claimed,
        RunState::Starting,
        RunState::Running,
        RunState::Concluding,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(self, RunState::Reported | RunState::Failed)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Claimed => "claimed",
            RunState::Starting => "starting",
            RunState::Running => "running",
            RunState::Concluding => "concluding",
            RunState::Reported => "reported",
            RunState::Failed => "failed",
        }
    }
}

/// How a run ended, as decided by whoever claimed its conclusion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    /// The agent finished: the result is its summary.
    Finished,
    /// The agent reported `error` or `stuck`.
    AgentStopped(String),
    /// No progress before the deadline.
    Stalled,
    /// The conversation never started.
    StartFailed(String),
    /// The sandbox died or stayed in error past the grace period.
    SandboxLost(String),
    /// A person stopped it from where it was asked for.
    Stopped { by: String, at: u64 },
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Finished => "finished",
            Outcome::AgentStopped(_) => "agent_stopped",
            Outcome::Stalled => "stalled",
            Outcome::StartFailed(_) => "start_failed",
            Outcome::SandboxLost(_) => "sandbox_lost",
            Outcome::Stopped { .. } => "stopped",
        }
    }
}

/// The claim on a run's conclusion: who holds it, until when, and how its effects are going. Written with the
/// `Concluding` state in one version-checked write, so exactly one party asks for the summary and edits the
/// status message; another may take over only once `lease_until` has passed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conclusion {
    pub outcome: Outcome,
    /// Random id of the current holder; a holder that finds another id has lost the claim.
    pub holder: String,
    /// Nobody else may take the conclusion before this (epoch s). Also the earliest next attempt after a
    /// failed one.
    pub lease_until: u64,
    /// When the conclusion was first claimed.
    pub since: u64,
    /// Attempts at the effects so far.
    pub attempts: u32,
    /// Why the last attempt did not finish, for operators.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// A sandbox reading that was not `RUNNING`, kept until it clears or the grace runs out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxTrouble {
    /// `MISSING` or `ERROR`.
    pub status: String,
    /// First bad reading (epoch s).
    pub since: u64,
    /// Consecutive bad readings.
    pub readings: u32,
}

/// One run: a trigger, its conversation, and where its result goes. Keyed by `conversation_id`.
/// Updated with optimistic concurrency: stores write it only if `version` still matches, then bump it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// OpenHands conversation id, 32 lowercase hex, derived from `run_key`.
    pub conversation_id: String,
    pub run_key: String,
    pub provider: Provider,
    pub tenant: String,
    pub thread_key: String,
    pub source: SourceRef,
    pub actor: Actor,
    /// OpenHands user this run acts as (from the identity link).
    pub openhands_user: String,
    /// Name of the secret holding that user's OpenHands API key; never the key itself.
    pub api_key_secret: Option<String>,
    pub state: RunState,
    pub status: Option<StatusRef>,
    pub start_task_id: Option<String>,
    /// SHA-256 (hex) of the sandbox's session API key, learnt from OpenHands, to authenticate its callbacks.
    pub session_key_sha256: Option<String>,
    /// Agent server URL of the conversation (for `ask_agent`).
    pub agent_server_url: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
    /// Epoch seconds after which a run with no progress is reported as stalled.
    pub deadline_at: u64,
    /// Last execution status seen (callback or sweep).
    pub last_execution_status: Option<String>,
    /// The final message posted (summary or failure), so a racing conclusion can re-apply the recorded one.
    pub outcome: Option<String>,
    /// Conversation title; OpenHands ignores it at start, so it is set once the conversation exists.
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub title_set: bool,
    /// When the worker last asked OpenHands to start this conversation (epoch s), written before the request:
    /// a retry that finds it looks for the start task instead of starting a second sandbox.
    #[serde(default)]
    pub start_requested_at: Option<u64>,
    /// Follow-up requests that came while the conversation did not exist yet; sent once it does.
    #[serde(default)]
    pub pending_messages: Vec<String>,
    /// The conversation this thread had before this run, when this run replaces one that ended or was lost.
    #[serde(default)]
    pub previous_conversation_id: Option<String>,
    /// Unhealthy sandbox readings since the last healthy one.
    #[serde(default)]
    pub sandbox_trouble: Option<SandboxTrouble>,
    /// Set with the `Concluding` state.
    #[serde(default)]
    pub conclusion: Option<Conclusion>,
    /// What the agent's event stream said so far, and what the status message last showed of it.
    #[serde(default)]
    pub progress: Progress,
    /// What the person chose in the request (`repo=`, `branch=`, `model=`), echoed in the status message.
    #[serde(default, skip_serializing_if = "crate::options::RequestOptions::is_empty")]
    pub options: crate::options::RequestOptions,
    pub version: u64,
}

/// A run's live progress, from the agent server's events, as the status message shows it while the run goes.
/// Only safe words are kept: the agent's task titles, and the step it is on as an action kind and a file path,
/// never a command line or a tool's output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The agent's own task list, as its latest task-tracker event left it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<ProgressTask>,
    /// Timestamp of the event the task list came from (the agent server's, ISO 8601), so an older batch that
    /// arrives late never replaces a newer list.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tasks_at: String,
    /// Items of the list beyond those kept (the first twelve).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more_tasks: u32,
    /// What the agent is doing now, in a few words ("editing src/draft.rs").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub step_at: String,
    /// When the status message last got a progress edit (epoch s).
    #[serde(default)]
    pub shown_at: u64,
    /// Digest of what that edit showed, elapsed time aside, so an unchanged state is not posted again.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub shown: String,
    /// A progress edit is in flight until this time (epoch s): one editor at a time, and the final result
    /// waits for it rather than being overwritten by it.
    #[serde(default)]
    pub editing_until: u64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One item of the agent's task list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressTask {
    pub title: String,
    pub status: TaskStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Todo,
    InProgress,
    Done,
}

/// Link from an external account to the OpenHands identity that acts for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityLink {
    pub provider: Provider,
    pub tenant: String,
    pub external_user_id: String,
    /// Provider handle at link time, for listings.
    pub external_login: String,
    pub openhands_user: String,
    /// Name of the secret (in the secret store) that holds this user's OpenHands API key.
    pub api_key_secret: Option<String>,
    pub created_at: u64,
}

/// What the worker made of one delivery, for the operator ("why didn't it react?"). One per delivery: a later
/// decision on the same delivery (a retry, a redelivery) replaces it. Only static reasons and identifiers are kept,
/// never message text or secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryDecision {
    pub provider: Provider,
    pub tenant: String,
    pub delivery_id: String,
    /// The envelope's provider event name.
    pub event: String,
    /// Epoch seconds when the webhook accepted the delivery.
    pub received_at: u64,
    /// Epoch seconds when the worker decided.
    pub decided_at: u64,
    pub kind: DecisionKind,
    /// Why, in a few fixed words (e.g. `no mention`, `no write access`).
    pub reason: String,
    /// The run's conversation, when the decision concerns one.
    pub conversation_id: Option<String>,
    /// The person's handle at the provider, when known.
    pub actor: Option<String>,
}

impl DeliveryDecision {
    /// The delivery's storage key (as [`DeliveryKey::storage_key`]): one decision per key.
    pub fn storage_key(&self) -> String {
        storage_key(self.provider, &self.tenant, &self.delivery_id)
    }
}

/// The kind of a [`DeliveryDecision`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Not a trigger.
    Ignored,
    /// The person may not trigger runs here.
    Denied,
    /// A one-off notice was posted instead of a run (unlinked, options refused, someone else's run, …).
    Notice,
    /// A run was started (or an interrupted start resumed).
    Run,
    /// The message went to the thread's running run.
    FollowUp,
    /// The thread's run was asked to stop.
    Stop,
    /// The trigger's run had already been started by an earlier delivery.
    Duplicate,
    /// Processing failed (retried, or given up).
    Failed,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Ignored => "ignored",
            DecisionKind::Denied => "denied",
            DecisionKind::Notice => "notice",
            DecisionKind::Run => "run",
            DecisionKind::FollowUp => "follow_up",
            DecisionKind::Stop => "stop",
            DecisionKind::Duplicate => "duplicate",
            DecisionKind::Failed => "failed",
        }
    }
}

/// Derive the conversation id for a run key: UUIDv5 in Hookline's namespace, as 32 lowercase hex (the form
/// OpenHands returns). Every retry of the same trigger names the same conversation.
pub fn conversation_id_for(run_key: &str) -> String {
    uuid::Uuid::new_v5(&HOOKLINE_NAMESPACE, run_key.as_bytes())
        .simple()
        .to_string()
}

/// UUIDv5 namespace for conversation ids (a fixed random UUID).
const HOOKLINE_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f1c_2b7e_9a44_4d1a_b3de_5c0f_8e21_a7c9);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_id_is_deterministic_32_hex() {
        let a = conversation_id_for("github:octo/hello#1:comment:5");
        assert_eq!(a, conversation_id_for("github:octo/hello#1:comment:5"));
        assert_ne!(a, conversation_id_for("github:octo/hello#1:comment:6"));
        assert_eq!(a.len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn storage_key_joins_provider_tenant_and_delivery() {
        let envelope = Envelope {
            version: ENVELOPE_VERSION,
            provider: Provider::Github,
            tenant: "github.com".into(),
            delivery_id: "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
            event: "issues".into(),
            group: "github:octo/hello#1".into(),
            received_at: 1,
            payload: serde_json::value::to_raw_value(&serde_json::json!({})).unwrap(),
        };
        assert_eq!(
            envelope.storage_key(),
            "github#github.com#72d3162e-cc78-11e3-81ab-4c9367dc0958"
        );
        assert_eq!(envelope.storage_key(), envelope.delivery_key().storage_key());
    }
}
