//! What one reading of a run's conversation means for the run. The sweep and the callbacks both look at the
//! conversation as the app server lists it and come here, so a run moves the same way whichever noticed first:
//! a start task that failed or never came up ends the run; a listed conversation makes the run `Running` (and
//! sends the follow-ups that waited for it); a sandbox that is gone, or stays in error past the grace period,
//! ends the run as failed; `finished`, `error` and `stuck` conclude it; no progress before the deadline ends it
//! as stalled.

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::{conclude, Services};
use crate::{
    domain::{Outcome, RunRecord, RunState, SandboxTrouble},
    error::ProcessError,
    ports::{ConversationStatus, MessageDelivery, OpenHandsAuth},
};

/// Apply `reading` (the conversation as `?ids=` lists it; `None`: not listed) to `run`. Returns whether this
/// call concluded the run.
pub(crate) async fn apply(
    services: &Services,
    auth: &OpenHandsAuth,
    mut run: RunRecord,
    reading: Option<ConversationStatus>,
) -> Result<bool, ProcessError> {
    let now = services.now();
    match run.state {
        RunState::Reported | RunState::Failed => return Ok(false),
        RunState::Concluding => return conclude::resume(services, run).await,
        // The worker owns a claimed run until its deadline; past it the queue has given up on it.
        RunState::Claimed if reading.is_none() => {
            if now > run.deadline_at {
                return conclude::conclude(
                    services,
                    run,
                    Outcome::StartFailed("the start never completed".into()),
                )
                .await;
            }
            return Ok(false);
        }
        RunState::Claimed | RunState::Starting | RunState::Running => {}
    }
    let Some(conversation) = reading else {
        return not_listed(services, auth, run).await;
    };
    let mut changed = false;
    if run.state != RunState::Running {
        info!(conversation_id = %run.conversation_id, "the conversation exists; the run is running");
        run.state = RunState::Running;
        run.deadline_at = now + services.settings.stall_timeout.as_secs();
        changed = true;
    }
    if run.agent_server_url.is_none() {
        if let Some(url) = conversation
            .conversation_url
            .as_deref()
            .and_then(crate::openhands::agent_server_url_from)
        {
            run.agent_server_url = Some(url);
            changed = true;
        }
    }
    if run.session_key_sha256.is_none() {
        if let Some(key) = conversation.session_api_key.as_ref().filter(|k| !k.is_empty()) {
            run.session_key_sha256 = Some(sha256_hex(key.expose()));
            changed = true;
        }
    }
    if let Some(outcome) = sandbox_health(services, &mut run, &conversation, &mut changed) {
        return conclude::conclude(services, run, outcome).await;
    }
    if !run.pending_messages.is_empty() && conversation.sandbox_running() {
        let delivered = deliver_pending(services, auth, &mut run).await?;
        if delivered > 0 {
            // The agent has new work; whatever status it read before is not the end any more.
            save_delivered(services, run, delivered).await?;
            return Ok(false);
        }
    }
    let status = conversation.execution_status.as_deref();
    match status {
        Some("finished") => return conclude::conclude(services, run, Outcome::Finished).await,
        Some(s @ ("error" | "stuck")) => {
            return conclude::conclude(services, run, Outcome::AgentStopped(s.to_owned())).await
        }
        _ => {}
    }
    if status.is_some() && status != run.last_execution_status.as_deref() {
        run.last_execution_status = status.map(str::to_owned);
        run.deadline_at = now + services.settings.stall_timeout.as_secs();
        changed = true;
    } else if now > run.deadline_at {
        return conclude::conclude(services, run, Outcome::Stalled).await;
    }
    if changed {
        save(services, &mut run).await?;
    }
    Ok(false)
}

/// The conversation is not listed: the start is still under way, failed, or never came up.
async fn not_listed(
    services: &Services,
    auth: &OpenHandsAuth,
    mut run: RunRecord,
) -> Result<bool, ProcessError> {
    let now = services.now();
    // Listed before (its key or a status was learnt from a listing): the app server has lost it.
    let was_listed = run.session_key_sha256.is_some() || run.last_execution_status.is_some();
    if run.state == RunState::Running && was_listed {
        let trouble = SandboxTrouble {
            status: "MISSING".into(),
            since: now,
            readings: 0,
        };
        let trouble = run.sandbox_trouble.get_or_insert(trouble);
        trouble.readings += 1;
        if trouble.readings >= 2 || now >= trouble.since + services.settings.sandbox_grace.as_secs() {
            return conclude::conclude(
                services,
                run,
                Outcome::SandboxLost("OpenHands no longer lists the conversation".into()),
            )
            .await;
        }
        save(services, &mut run).await?;
        return Ok(false);
    }
    let task = match &run.start_task_id {
        Some(task_id) => services.conversations.start_task(auth, task_id).await?,
        None => services
            .conversations
            .find_start_task(
                auth,
                &run.conversation_id,
                run.start_requested_at.unwrap_or(run.created_at),
            )
            .await
            .unwrap_or_else(|err| {
                info!(error = %err, "start task search unavailable");
                None
            }),
    };
    if let Some(task) = &task {
        if task.is_error() {
            let detail = task
                .detail
                .clone()
                .unwrap_or_else(|| "the sandbox did not start".into());
            return conclude::conclude(services, run, Outcome::StartFailed(detail)).await;
        }
        let mut changed = false;
        if run.start_task_id.is_none() {
            run.start_task_id = Some(task.id.clone());
            changed = true;
        }
        if run.agent_server_url.is_none() && task.agent_server_url.is_some() {
            run.agent_server_url = task.agent_server_url.clone();
            changed = true;
        }
        if changed {
            save(services, &mut run).await?;
        }
    }
    let requested = run.start_requested_at.unwrap_or(run.created_at);
    if now > requested + services.settings.start_timeout.as_secs() {
        let detail = format!(
            "the conversation did not come up within {}",
            super::prompt::duration_words(services.settings.start_timeout)
        );
        return conclude::conclude(services, run, Outcome::StartFailed(detail)).await;
    }
    Ok(false)
}

/// Track `MISSING`/`ERROR` readings; `Some` once the sandbox counts as lost. A single `ERROR` is the app
/// server's 5 s liveness probe timing out under load, so only a second `MISSING`, or trouble that outlasts the
/// grace period, ends the run.
fn sandbox_health(
    services: &Services,
    run: &mut RunRecord,
    conversation: &ConversationStatus,
    changed: &mut bool,
) -> Option<Outcome> {
    let now = services.now();
    let status = conversation
        .sandbox_status
        .as_deref()
        .map(str::to_ascii_uppercase)
        .unwrap_or_default();
    if status != "MISSING" && status != "ERROR" {
        if run.sandbox_trouble.take().is_some() {
            *changed = true;
        }
        return None;
    }
    let trouble = run.sandbox_trouble.get_or_insert(SandboxTrouble {
        status: status.clone(),
        since: now,
        readings: 0,
    });
    trouble.status = status.clone();
    trouble.readings += 1;
    *changed = true;
    let confirmed_missing = status == "MISSING" && trouble.readings >= 2;
    let outlasted = now >= trouble.since + services.settings.sandbox_grace.as_secs();
    if confirmed_missing || outlasted {
        warn!(conversation_id = %run.conversation_id, sandbox_status = %status, readings = trouble.readings, "sandbox lost");
        let detail = if status == "MISSING" {
            "the sandbox is gone".to_owned()
        } else {
            format!(
                "the sandbox stayed in error for {}",
                super::prompt::duration_words(std::time::Duration::from_secs(now - trouble.since))
            )
        };
        return Some(Outcome::SandboxLost(detail));
    }
    None
}

/// Send the follow-ups that waited for the conversation, oldest first, until one cannot be sent now.
pub(crate) async fn deliver_pending(
    services: &Services,
    auth: &OpenHandsAuth,
    run: &mut RunRecord,
) -> Result<usize, ProcessError> {
    let mut delivered = 0;
    while let Some(text) = run.pending_messages.first() {
        match services
            .conversations
            .send_message(auth, &run.conversation_id, text)
            .await?
        {
            MessageDelivery::Delivered => {
                run.pending_messages.remove(0);
                delivered += 1;
            }
            other => {
                info!(conversation_id = %run.conversation_id, delivery = ?other, "follow-up waits for the sandbox");
                break;
            }
        }
    }
    if delivered > 0 {
        info!(conversation_id = %run.conversation_id, delivered, "sent the follow-ups that waited for the conversation");
    }
    Ok(delivered)
}

/// Record that the first `delivered` pending follow-ups were sent. This write must land (or the messages would
/// be sent again), so a concurrent write is re-read and the sent ones removed from it; follow-ups queued in
/// the meantime were appended behind them and stay.
pub(crate) async fn save_delivered(
    services: &Services,
    mut run: RunRecord,
    delivered: usize,
) -> Result<(), ProcessError> {
    for _ in 0..5 {
        run.updated_at = services.now();
        if services.runs.update_run(&mut run).await? {
            return Ok(());
        }
        let Some(mut fresh) = services.runs.get_run(&run.conversation_id).await? else {
            return Ok(());
        };
        let sent = delivered.min(fresh.pending_messages.len());
        fresh.pending_messages.drain(..sent);
        if fresh.state == RunState::Starting {
            fresh.state = RunState::Running;
        }
        run = fresh;
    }
    Err(ProcessError::Transient(
        "the run kept changing while recording sent follow-ups".into(),
        None,
    ))
}

/// A progress write. Losing the race to another writer is fine: the next reading applies again.
async fn save(services: &Services, run: &mut RunRecord) -> Result<(), ProcessError> {
    run.updated_at = services.now();
    if !services.runs.update_run(run).await? {
        info!(conversation_id = %run.conversation_id, "run changed concurrently; the next reading applies again");
    }
    Ok(())
}

pub(crate) fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}
