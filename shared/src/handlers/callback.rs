//! The callback side: the agent server's webhook routes (push path) and the periodic sweep (pull path). Both
//! end in [`conclude`](super::conclude), so a lost callback still ends in a result and a repeated one does not
//! make a second.

use std::collections::BTreeMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tracing::{info, info_span, warn, Instrument};

use super::{
    conclude::{self, Outcome},
    Services,
};
use crate::{
    domain::{RunRecord, RunState},
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

#[derive(Deserialize)]
struct StateEvent {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    value: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ConversationInfo {
    id: String,
    #[serde(default)]
    execution_status: Option<String>,
}

async fn route(services: &Services, request: &HttpRequest<'_>) -> Result<HttpReply, WebhookError> {
    if request.method != "POST" {
        return Err(WebhookError::MethodNotAllowed);
    }
    if request.body.len() > services.settings.max_body_bytes {
        return Err(WebhookError::TooLarge);
    }
    let (conversation_id, status, events_seen) = if let Some(pos) = request.path.find(EVENTS_PREFIX) {
        let id = normalize_id(request.path[pos + EVENTS_PREFIX.len()..].trim_matches('/'))
            .ok_or(WebhookError::Malformed("invalid conversation id"))?;
        let events: Vec<StateEvent> = serde_json::from_slice(request.body)
            .map_err(|_| WebhookError::Malformed("expected a JSON array of events"))?;
        let status = events
            .iter()
            .filter(|e| {
                e.kind == "ConversationStateUpdateEvent" && e.key.as_deref() == Some("execution_status")
            })
            .filter_map(|e| e.value.as_ref().and_then(|v| v.as_str()).map(str::to_owned))
            .next_back();
        (id, status, !events.is_empty())
    } else if request.path.ends_with(CONVERSATIONS_PATH) {
        let info: ConversationInfo = serde_json::from_slice(request.body)
            .map_err(|_| WebhookError::Malformed("expected conversation info"))?;
        let id = normalize_id(&info.id).ok_or(WebhookError::Malformed("invalid conversation id"))?;
        (id, info.execution_status, true)
    } else {
        return Err(WebhookError::NotFound);
    };

    let shared_ok = shared_key_valid(services, request).await?;
    let run = services
        .runs
        .get_run(&conversation_id)
        .await
        .map_err(WebhookError::Unavailable)?;
    let Some(mut run) = run else {
        if shared_ok {
            // A conversation Hookline did not start (every sandbox may report here): nothing to do.
            return Ok(HttpReply::text(200, "ignored"));
        }
        return Err(WebhookError::Unauthorized("unknown conversation"));
    };
    if !shared_ok && !session_key_valid(services, request, &mut run).await? {
        return Err(WebhookError::Unauthorized("session key mismatch"));
    }
    let span =
        info_span!("callback", conversation_id = %conversation_id, status = status.as_deref().unwrap_or(""));
    async {
        match observe(services, run, status.as_deref(), events_seen).await {
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

/// The run moved: conclude on a terminal status, otherwise note the progress.
async fn observe(
    services: &Services,
    mut run: RunRecord,
    status: Option<&str>,
    progress: bool,
) -> Result<(), ProcessError> {
    if run.state.is_terminal() {
        return Ok(());
    }
    match status {
        Some("finished") => return conclude::conclude(services, run, Outcome::Finished).await,
        Some(s @ ("error" | "stuck")) => {
            return conclude::conclude(services, run, Outcome::AgentStopped(s.to_owned())).await
        }
        _ => {}
    }
    let now = services.now();
    let new_deadline = now + services.settings.stall_timeout.as_secs();
    let status_changed = status.is_some() && status != run.last_execution_status.as_deref();
    // Push the stall deadline on progress, but write at most about once a minute per run.
    if status_changed || (progress && new_deadline > run.deadline_at + 60) {
        if let Some(status) = status {
            run.last_execution_status = Some(status.to_owned());
        }
        run.deadline_at = new_deadline;
        run.updated_at = now;
        if run.state == RunState::Claimed {
            // The agent is reporting, so the start went through even if the worker has not recorded it yet.
            info!("callback for a run the worker has not marked running");
        }
        let _ = services.runs.update_run(&mut run).await?;
    }
    Ok(())
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

/// Compare the presented session key with the conversation's (learnt from OpenHands once, kept as a hash).
async fn session_key_valid(
    services: &Services,
    request: &HttpRequest<'_>,
    run: &mut RunRecord,
) -> Result<bool, WebhookError> {
    let Some(given) = request.header(SESSION_KEY_HEADER).filter(|k| !k.is_empty()) else {
        return Ok(false);
    };
    let given_hash = sha256_hex(given);
    if let Some(known) = &run.session_key_sha256 {
        return Ok(constant_time_eq(known.as_bytes(), given_hash.as_bytes()));
    }
    let auth = services
        .openhands_auth(run.api_key_secret.as_deref())
        .await
        .map_err(WebhookError::Unavailable)?;
    let statuses = services
        .conversations
        .statuses(&auth, std::slice::from_ref(&run.conversation_id))
        .await
        .map_err(WebhookError::Unavailable)?;
    let Some(key) = statuses
        .into_iter()
        .next()
        .flatten()
        .and_then(|c| c.session_api_key)
    else {
        return Ok(false);
    };
    let known_hash = sha256_hex(key.expose());
    if !constant_time_eq(known_hash.as_bytes(), given_hash.as_bytes()) {
        return Ok(false);
    }
    run.session_key_sha256 = Some(known_hash);
    run.updated_at = services.now();
    // Best effort: if this loses a race the next callback learns the hash again.
    let _ = services.runs.update_run(run).await;
    Ok(true)
}

fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub examined: usize,
    pub concluded: usize,
    pub failed: usize,
}

/// Most runs one sweep looks at; the next sweep takes the rest.
const SWEEP_LIMIT: usize = 500;

/// Poll OpenHands for every unfinished run and conclude those that finished, failed, never started or stalled.
pub async fn sweep(services: &Services) -> SweepReport {
    let mut report = SweepReport::default();
    let runs = match services
        .runs
        .runs_in_states(&[RunState::Claimed, RunState::Running], SWEEP_LIMIT)
        .await
    {
        Ok(runs) => runs,
        Err(err) => {
            warn!(error = %err, "sweep could not list runs");
            report.failed += 1;
            return report;
        }
    };
    report.examined = runs.len();
    // Runs are polled in groups sharing one identity (one API key per call).
    let mut by_identity: BTreeMap<Option<String>, Vec<RunRecord>> = BTreeMap::new();
    for run in runs {
        by_identity
            .entry(run.api_key_secret.clone())
            .or_default()
            .push(run);
    }
    for (secret, runs) in by_identity {
        match sweep_identity(services, secret.as_deref(), runs).await {
            Ok((concluded, failed)) => {
                report.concluded += concluded;
                report.failed += failed;
            }
            Err(err) => {
                warn!(error = %err, "sweep could not poll OpenHands");
                report.failed += 1;
            }
        }
    }
    if report.concluded > 0 || report.failed > 0 {
        info!(
            examined = report.examined,
            concluded = report.concluded,
            failed = report.failed,
            "sweep done"
        );
    }
    report
}

async fn sweep_identity(
    services: &Services,
    api_key_secret: Option<&str>,
    runs: Vec<RunRecord>,
) -> Result<(usize, usize), ProcessError> {
    let now = services.now();
    let auth = services.openhands_auth(api_key_secret).await?;
    let (claimed, running): (Vec<_>, Vec<_>) = runs.into_iter().partition(|r| r.state == RunState::Claimed);
    let mut outcomes: Vec<(RunRecord, Option<Outcome>)> = Vec::new();
    for run in claimed {
        // The worker owns claimed runs until their deadline; past it the queue has given up on them.
        if now > run.deadline_at {
            outcomes.push((
                run,
                Some(Outcome::StartFailed("the start never completed".into())),
            ));
        }
    }
    let ids: Vec<String> = running.iter().map(|r| r.conversation_id.clone()).collect();
    let statuses = if ids.is_empty() {
        Vec::new()
    } else {
        services.conversations.statuses(&auth, &ids).await?
    };
    for (mut run, status) in running
        .into_iter()
        .zip(statuses.into_iter().chain(std::iter::repeat(None)))
    {
        let outcome = match status {
            Some(conversation) => {
                if !run.title_set && !run.title.is_empty() {
                    match services
                        .conversations
                        .set_title(&auth, &run.conversation_id, &run.title)
                        .await
                    {
                        Ok(()) => {
                            run.title_set = true;
                            run.updated_at = now;
                            if let Err(err) = services.runs.update_run(&mut run).await {
                                warn!(error = %err, "could not record the title");
                            }
                        }
                        Err(err) => info!(error = %err, "title not set yet"),
                    }
                }
                match conversation.execution_status.as_deref() {
                    Some("finished") => Some(Outcome::Finished),
                    Some(s @ ("error" | "stuck")) => Some(Outcome::AgentStopped(s.to_owned())),
                    current => {
                        if current.is_some() && current != run.last_execution_status.as_deref() {
                            run.last_execution_status = current.map(str::to_owned);
                            run.deadline_at = now + services.settings.stall_timeout.as_secs();
                            run.updated_at = now;
                            let _ = services.runs.update_run(&mut run).await;
                            None
                        } else if now > run.deadline_at {
                            Some(Outcome::Stalled)
                        } else {
                            None
                        }
                    }
                }
            }
            None => {
                let task = match &run.start_task_id {
                    Some(task_id) => services.conversations.start_task(&auth, task_id).await?,
                    None => None,
                };
                match task {
                    Some(task) if task.is_error() => Some(Outcome::StartFailed(
                        task.detail.unwrap_or_else(|| "the sandbox did not start".into()),
                    )),
                    _ if now > run.deadline_at => Some(Outcome::Stalled),
                    _ => None,
                }
            }
        };
        outcomes.push((run, outcome));
    }
    let (mut concluded, mut failed) = (0, 0);
    for (run, outcome) in outcomes {
        let Some(outcome) = outcome else { continue };
        let id = run.conversation_id.clone();
        match conclude::conclude(services, run, outcome).await {
            Ok(()) => concluded += 1,
            Err(err) => {
                warn!(conversation_id = %id, error = %err, "sweep could not conclude a run");
                failed += 1;
            }
        }
    }
    Ok((concluded, failed))
}
