//! Ending a run: build the one result (summary or failure), edit the run's status message with it, and move the
//! run to its terminal state with a conditional write. Callback and sweep both come here, so a repeated or
//! racing conclusion edits the same message with the same text and records one outcome.

use tracing::{info, warn};

use super::{prompt, Services};
use crate::{
    domain::{RunRecord, RunState},
    error::{PortError, ProcessError},
    ports::SourceClient,
};

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Finished,
    /// The agent reported `error` or `stuck`.
    AgentStopped(String),
    /// No progress before the deadline.
    Stalled,
    /// The conversation never started.
    StartFailed(String),
}

/// Marker embedded (invisibly) in a run's status message.
pub(crate) fn marker_for(conversation_id: &str) -> String {
    format!("run:{conversation_id}")
}

pub(crate) async fn start_failed(
    services: &Services,
    run: RunRecord,
    detail: &str,
) -> Result<(), ProcessError> {
    conclude(services, run, Outcome::StartFailed(detail.to_owned())).await
}

/// Conclude `run` with `outcome` (no-op if it is already concluded).
pub(crate) async fn conclude(
    services: &Services,
    mut run: RunRecord,
    outcome: Outcome,
) -> Result<(), ProcessError> {
    if run.state.is_terminal() {
        return Ok(());
    }
    let module = services
        .module(run.provider)
        .ok_or_else(|| ProcessError::Permanent(format!("provider {} is not configured", run.provider)))?;
    let link = services.conversations.conversation_link(&run.conversation_id);
    let (text, state, label) = match &outcome {
        Outcome::Finished => {
            let summary = fetch_summary(services, &run).await?;
            let links = prompt::pull_request_links(&summary);
            for url in &links {
                if let Err(err) = module.source().pull_request_opened(&run.source, url).await {
                    warn!(error = %err, "could not mark the pull request on the source");
                }
            }
            (
                prompt::status_finished(&summary, &links, &link),
                RunState::Reported,
                "finished".to_owned(),
            )
        }
        Outcome::AgentStopped(status) => (
            prompt::status_failed(
                &format!("OpenHands stopped with status `{status}` before finishing the work."),
                &link,
            ),
            RunState::Failed,
            status.clone(),
        ),
        Outcome::Stalled => (
            prompt::status_failed(
                &format!(
                    "No progress for {} minutes, so Hookline stopped waiting for this run.",
                    services.settings.stall_timeout.as_secs() / 60
                ),
                &link,
            ),
            RunState::Failed,
            "stalled".to_owned(),
        ),
        Outcome::StartFailed(detail) => (
            prompt::status_failed(
                &format!("Could not start the OpenHands conversation: {detail}."),
                &link,
            ),
            RunState::Failed,
            "start_failed".to_owned(),
        ),
    };
    publish(module.source(), &mut run, &text).await?;
    run.state = state;
    run.outcome = Some(text);
    run.updated_at = services.now();
    if !services.runs.update_run(&mut run).await? {
        // Someone concluded it first. Make sure the message shows what was recorded.
        if let Some(winner) = services.runs.get_run(&run.conversation_id).await? {
            if let (Some(text), Some(status)) = (&winner.outcome, &winner.status) {
                let marker = marker_for(&winner.conversation_id);
                module
                    .source()
                    .edit_status(&winner.source, status, &marker, text)
                    .await?;
            }
        }
        info!(conversation_id = %run.conversation_id, "run was concluded concurrently");
        return Ok(());
    }
    if let Err(err) = services
        .runs
        .release_thread(&run.thread_key, &run.conversation_id)
        .await
    {
        warn!(error = %err, "could not release the thread; the next trigger will clear it");
    }
    info!(conversation_id = %run.conversation_id, outcome = %label, state = run.state.as_str(), "run concluded");
    Ok(())
}

/// Edit the status message with `text`; post one if it is missing (never posted, or deleted by someone).
async fn publish(source: &dyn SourceClient, run: &mut RunRecord, text: &str) -> Result<(), ProcessError> {
    let marker = marker_for(&run.conversation_id);
    if let Some(status) = &run.status {
        match source.edit_status(&run.source, status, &marker, text).await {
            Ok(()) => return Ok(()),
            Err(PortError::NotFound { .. }) => warn!("status message is gone; posting a new one"),
            Err(err) => return Err(err.into()),
        }
    } else if let Some(found) = source.find_status(&run.source, &marker).await? {
        source.edit_status(&run.source, &found, &marker, text).await?;
        run.status = Some(found);
        return Ok(());
    }
    let status = source.post_status(&run.source, &marker, text).await?;
    run.status = Some(status);
    Ok(())
}

/// Ask the agent for its final summary. An unreachable sandbox is retried; a refusal yields an empty summary.
async fn fetch_summary(services: &Services, run: &RunRecord) -> Result<String, ProcessError> {
    let auth = services.openhands_auth(run.api_key_secret.as_deref()).await?;
    let statuses = services
        .conversations
        .statuses(&auth, std::slice::from_ref(&run.conversation_id))
        .await?;
    let Some(conversation) = statuses.into_iter().next().flatten() else {
        warn!("conversation not found when asking for the summary");
        return Ok(String::new());
    };
    let agent_url = run.agent_server_url.clone().or_else(|| {
        conversation
            .conversation_url
            .as_deref()
            .and_then(crate::openhands::agent_server_url_from)
    });
    let Some(agent_url) = agent_url else {
        warn!("no agent server url; posting without a summary");
        return Ok(String::new());
    };
    match services
        .conversations
        .ask_agent(&conversation, &agent_url, prompt::SUMMARY_QUESTION)
        .await
    {
        Ok(summary) => Ok(summary),
        Err(err) if err.is_transient() => Err(err.into()),
        Err(err) => {
            warn!(error = %err, "the agent did not answer the summary question");
            Ok(String::new())
        }
    }
}
