//! The agent server's webhook routes (the push path). A callback is a hint that a run moved; what it may decide
//! depends on who sent it:
//! - a sender proven by the conversation's own session key (`X-Session-API-Key`, compared with the key the app
//!   server lists for that conversation) is that conversation's sandbox: its `finished`/`error`/`stuck` conclude;
//! - a sender with only the operator's shared key (`X-Hookline-Callback-Key`) could be any sandbox, so its
//!   callback only makes Hookline look at the conversation now, and the app server's answer decides.
//!
//! Requests are authenticated before their body is read (the conversation id comes from the path; the
//! `conversations` route reads only the `id` first). A callback that arrives before the app server lists its
//! conversation cannot be verified yet: it gets a 503 that names why, which the agent server retries. At most
//! one lookup per conversation runs at a time in a process.

use serde::Deserialize;
use tracing::{info_span, warn, Instrument};

use super::{
    conclude,
    progress::{self, AgentEvent},
    reconcile,
    reconcile::sha256_hex,
    Services,
};
use crate::{
    domain::{Outcome, RunRecord, RunState},
    error::{ProcessError, WebhookError},
    http::{HttpReply, HttpRequest},
    openhands::normalize_id,
    verify::constant_time_eq,
};

/// Header carrying the sandbox's session key (sent by the agent server).
pub const SESSION_KEY_HEADER: &str = "x-session-api-key";
/// Header carrying the operator-configured shared key (set through `OH_WEBHOOKS_<n>_HEADERS`).
pub const SHARED_KEY_HEADER: &str = "x-hookline-callback-key";

const EVENTS_PREFIX: &str = "/api/v1/webhooks/events/";
const CONVERSATIONS_PATH: &str = "/api/v1/webhooks/conversations";

/// Most a callback body read before its sender is authenticated may hold (a conversation's info is a few KiB).
pub const MAX_UNAUTHENTICATED_BYTES: usize = 64 * 1024;

/// Handle a callback route. Never fails: errors become their HTTP answer here.
pub async fn handle(services: &Services, request: HttpRequest<'_>) -> HttpReply {
    match route(services, &request).await {
        Ok(reply) => reply,
        Err(err) => err.into_reply(),
    }
}

/// Is this path one of the callback routes? (Lets hosts route by suffix whatever their stage prefix.)
pub fn is_callback_path(path: &str) -> bool {
    path.contains(EVENTS_PREFIX) || path.ends_with(CONVERSATIONS_PATH)
}

/// The `conversations` body's id, read before the sender is authenticated.
#[derive(Deserialize)]
struct ConversationId {
    id: String,
}

#[derive(Deserialize)]
struct ConversationInfo {
    #[serde(default)]
    execution_status: Option<String>,
}

/// Who sent a callback, as far as it could be verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sender {
    /// The conversation's own sandbox (its session key).
    Sandbox,
    /// Someone with the operator's shared key.
    SharedKey,
}

/// What one callback says of its conversation, and who said it.
struct Report {
    sender: Sender,
    /// The last execution status it names.
    status: Option<String>,
    /// The agent's events; `None` for the conversation-info form.
    events: Option<Vec<AgentEvent>>,
}

impl Report {
    fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }
}

async fn route(services: &Services, request: &HttpRequest<'_>) -> Result<HttpReply, WebhookError> {
    if request.method != "POST" {
        return Err(WebhookError::MethodNotAllowed);
    }
    if request.body.len() > services.settings.max_body_bytes {
        return Err(WebhookError::TooLarge);
    }
    let events_route = if let Some(pos) = request.path.find(EVENTS_PREFIX) {
        Some(&request.path[pos + EVENTS_PREFIX.len()..])
    } else if request.path.ends_with(CONVERSATIONS_PATH) {
        None
    } else {
        return Err(WebhookError::NotFound);
    };
    // The conversation-info form names its conversation in the body, read before its sender is known: only a
    // body the size of a conversation's info is read that way.
    if events_route.is_none() && request.body.len() > MAX_UNAUTHENTICATED_BYTES {
        return Err(WebhookError::TooLarge);
    }
    let conversation_id = match events_route {
        Some(id) => normalize_id(id.trim_matches('/')),
        None => serde_json::from_slice::<ConversationId>(request.body)
            .ok()
            .and_then(|info| normalize_id(&info.id)),
    }
    .ok_or(WebhookError::Malformed("invalid conversation id"))?;

    let run = services
        .runs
        .get_run(&conversation_id)
        .await
        .map_err(WebhookError::Unavailable)?;
    let sender = authenticate(services, request, run.as_ref()).await?;
    let Some(run) = run else {
        // A conversation Hookline did not start (every sandbox may report here): nothing to do.
        return Ok(HttpReply::text(200, "ignored"));
    };

    let report = match events_route {
        Some(_) => {
            let events: Vec<AgentEvent> = serde_json::from_slice(request.body)
                .map_err(|_| WebhookError::Malformed("expected a JSON array of events"))?;
            let status = events
                .iter()
                .filter_map(|e| e.execution_status().map(str::to_owned))
                .next_back();
            Report {
                sender,
                status,
                events: Some(events),
            }
        }
        None => {
            let info: ConversationInfo = serde_json::from_slice(request.body)
                .map_err(|_| WebhookError::Malformed("expected conversation info"))?;
            Report {
                sender,
                status: info.execution_status,
                events: None,
            }
        }
    };
    let span = info_span!(
        "callback",
        conversation_id = %conversation_id,
        sender = ?sender,
        status = report.status().unwrap_or("")
    );
    async {
        match observe(services, run, &report).await {
            Ok(()) => Ok(HttpReply::text(200, "ok")),
            Err(ProcessError::Transient(reason, _)) => {
                warn!(
                    reason,
                    "callback could not be completed; asking the sender to retry"
                );
                Err(WebhookError::Unavailable(crate::error::PortError::transient(
                    "callback", reason,
                )))
            }
            Err(ProcessError::Permanent(reason)) => {
                warn!(reason, "callback failed permanently");
                Ok(HttpReply::text(200, "ok"))
            }
        }
    }
    .instrument(span)
    .await
}

/// Decide who sent the request, before anything else of it is read.
async fn authenticate(
    services: &Services,
    request: &HttpRequest<'_>,
    run: Option<&RunRecord>,
) -> Result<Sender, WebhookError> {
    let session_key = request.header(SESSION_KEY_HEADER).filter(|k| !k.is_empty());
    if let (Some(given), Some(known)) = (session_key, run.and_then(|r| r.session_key_sha256.as_deref())) {
        if constant_time_eq(known.as_bytes(), sha256_hex(given).as_bytes()) {
            return Ok(Sender::Sandbox);
        }
    }
    if shared_key_valid(services, request).await? {
        return Ok(Sender::SharedKey);
    }
    let (Some(given), Some(run)) = (session_key, run) else {
        return Err(WebhookError::Unauthorized(if run.is_none() {
            "unknown conversation"
        } else {
            "no valid key"
        }));
    };
    if run.session_key_sha256.is_some() {
        return Err(WebhookError::Unauthorized("session key mismatch"));
    }
    match learn_session_key(services, &run.conversation_id).await? {
        Some(known) if constant_time_eq(known.as_bytes(), sha256_hex(given).as_bytes()) => {
            Ok(Sender::Sandbox)
        }
        Some(_) => Err(WebhookError::Unauthorized("session key mismatch")),
        None => Err(WebhookError::NotYetVerifiable(
            "conversation not listed by OpenHands yet; retry later",
        )),
    }
}

/// The hash of the conversation's session key, from the app server's listing, stored on the run. One lookup per
/// conversation at a time: callers that queue behind it find the hash already stored.
async fn learn_session_key(
    services: &Services,
    conversation_id: &str,
) -> Result<Option<String>, WebhookError> {
    let _one_at_a_time = services.lookups.lock(conversation_id).await;
    let unavailable = WebhookError::Unavailable;
    let Some(mut run) = services
        .runs
        .get_run(conversation_id)
        .await
        .map_err(unavailable)?
    else {
        return Ok(None);
    };
    if let Some(known) = run.session_key_sha256.clone() {
        return Ok(Some(known));
    }
    let auth = services
        .openhands_auth(run.api_key_secret.as_deref())
        .await
        .map_err(unavailable)?;
    let key = services
        .conversations
        .status(&auth, &run.conversation_id)
        .await
        .map_err(unavailable)?
        .and_then(|reading| reading.session_api_key)
        .filter(|key| !key.is_empty());
    let Some(key) = key else {
        return Ok(None);
    };
    let hash = sha256_hex(key.expose());
    for _ in 0..3 {
        run.session_key_sha256 = Some(hash.clone());
        run.updated_at = services.now();
        if services.runs.update_run(&mut run).await.map_err(unavailable)? {
            break;
        }
        match services
            .runs
            .get_run(conversation_id)
            .await
            .map_err(unavailable)?
        {
            Some(fresh) if fresh.session_key_sha256.is_none() => run = fresh,
            _ => break,
        }
    }
    Ok(Some(hash))
}

/// The run moved: conclude on a terminal status from its own sandbox, look at the conversation where the
/// callback cannot decide alone, otherwise note the progress.
async fn observe(services: &Services, mut run: RunRecord, report: &Report) -> Result<(), ProcessError> {
    let status = report.status();
    if run.state.is_terminal() {
        return Ok(());
    }
    let terminal = matches!(status, Some("finished" | "error" | "stuck"));
    if run.state != RunState::Running || !run.pending_messages.is_empty() {
        // Starting (the listing makes it running and sends waiting follow-ups), or a conclusion to take up.
        look_now(services, &run.conversation_id, Look::UnlessRunning).await?;
        match services.runs.get_run(&run.conversation_id).await? {
            Some(fresh) if fresh.state == RunState::Running => run = fresh,
            _ => return Ok(()),
        }
    }
    if report.sender == Sender::Sandbox {
        // The conversation's own sandbox says how it ended.
        let outcome = match status {
            Some("finished") => Some(Outcome::Finished),
            Some(s @ ("error" | "stuck")) => Some(Outcome::AgentStopped(s.to_owned())),
            _ => None,
        };
        if let Some(outcome) = outcome {
            return conclude::conclude(services, run, outcome).await.map(drop);
        }
    } else if terminal {
        // Anyone with the shared key could say this: ask the app server.
        return look_now(services, &run.conversation_id, Look::Always).await;
    }
    note_progress(services, run, report).await
}

/// Whether [`look_now`] still looks once another caller has made the run running.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Look {
    Always,
    UnlessRunning,
}

/// Read the conversation from the app server and apply what it says (one look per conversation at a time).
async fn look_now(services: &Services, conversation_id: &str, look: Look) -> Result<(), ProcessError> {
    let _one_at_a_time = services.lookups.lock(conversation_id).await;
    let Some(run) = services.runs.get_run(conversation_id).await? else {
        return Ok(());
    };
    let settled = run.state == RunState::Running && run.pending_messages.is_empty();
    if run.state.is_terminal() || (look == Look::UnlessRunning && settled) {
        return Ok(());
    }
    let auth = services.openhands_auth(run.api_key_secret.as_deref()).await?;
    let reading = if run.state == RunState::Concluding {
        None
    } else {
        services.conversations.status(&auth, &run.conversation_id).await?
    };
    reconcile::apply(services, &auth, run, reading).await.map(drop)
}

/// Note what the callback says of a running run: its status, the stall deadline pushed (written about once a
/// minute when nothing else changes), and, from its own sandbox, the agent's progress, which may then be shown.
async fn note_progress(services: &Services, mut run: RunRecord, report: &Report) -> Result<(), ProcessError> {
    let status = report.status();
    // Anyone with the shared key could be any sandbox: only the conversation's own says what its agent does.
    let events = match (&report.events, report.sender) {
        (Some(events), Sender::Sandbox) => events.as_slice(),
        _ => &[],
    };
    for _ in 0..5 {
        let now = services.now();
        let new_deadline = now + services.settings.stall_timeout.as_secs();
        let status_changed = status.is_some() && status != run.last_execution_status.as_deref();
        let progressed = progress::fold(&mut run.progress, events);
        if !(status_changed || progressed || new_deadline > run.deadline_at + 60) {
            break;
        }
        if let Some(status) = status {
            run.last_execution_status = Some(status.to_owned());
        }
        run.deadline_at = new_deadline;
        run.updated_at = now;
        if services.runs.update_run(&mut run).await? {
            break;
        }
        match services.runs.get_run(&run.conversation_id).await? {
            Some(fresh) if fresh.state == RunState::Running => run = fresh,
            _ => return Ok(()),
        }
    }
    progress::show(services, run).await
}

async fn shared_key_valid(services: &Services, request: &HttpRequest<'_>) -> Result<bool, WebhookError> {
    let (Some(name), Some(given)) = (
        &services.settings.callback_key_secret,
        request.header(SHARED_KEY_HEADER),
    ) else {
        return Ok(false);
    };
    let expected = services
        .secrets
        .get(name)
        .await
        .map_err(WebhookError::Unavailable)?;
    Ok(!expected.is_empty() && constant_time_eq(expected.expose().as_bytes(), given.as_bytes()))
}
