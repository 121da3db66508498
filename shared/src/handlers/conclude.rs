//! Ending a run, exactly once. Whoever decides that a run is over (a callback, the sweep, the worker) first
//! claims the conclusion: the `Concluding` state with a holder id and a lease, in one version-checked write.
//! Only the holder asks the agent for its summary and edits the status message, then records the terminal
//! state. A holder that cannot finish (summary not fetchable yet, provider down) sets when to try next and lets
//! go; the sweep, or the next callback, takes it up from where it stopped. The text is kept on the run once
//! composed, so the agent is asked for its summary once however often publishing is retried.

use tracing::{error, info, warn};

use super::{prompt, Services};
use crate::{
    domain::{Conclusion, Outcome, RunRecord, RunState},
    error::{PortError, ProcessError},
    ports::SourceClient,
    text::{self, cut_to},
};

/// How long a holder has for its effects before another party may take the conclusion over. Longer than a
/// summary call and an edit together.
const LEASE_SECS: u64 = 120;
/// Publishing attempts before a run is given up as failed without its message.
const MAX_PUBLISH_ATTEMPTS: u32 = 8;
/// Longest error detail from elsewhere (OpenHands' start error, a sandbox's state) put in a status message.
const MAX_DETAIL_CHARS: usize = 300;

/// Wait before asking again for a summary that could not be fetched.
const SUMMARY_RETRY_SECS: u64 = 15;
/// Largest result text stored on a run (and posted); providers cut further to their own limits.
const MAX_OUTCOME_BYTES: usize = 60_000;
/// Claim attempts when other writes keep landing first.
const CLAIM_TRIES: usize = 5;

/// Marker embedded (invisibly) in a run's status message.
pub(crate) fn marker_for(conversation_id: &str) -> String {
    format!("run:{conversation_id}")
}

/// Conclude `run` with `outcome`. Returns whether this call finished the run (`false`: someone else holds or
/// finished the conclusion, or it will be taken up again later).
pub(crate) async fn conclude(
    services: &Services,
    run: RunRecord,
    outcome: Outcome,
) -> Result<bool, ProcessError> {
    match claim(services, run, Some(outcome)).await? {
        Some(run) => settle(services, run).await,
        None => Ok(false),
    }
}

/// Take up a conclusion whose holder let go or whose lease ran out (the sweep, a later callback).
pub(crate) async fn resume(services: &Services, run: RunRecord) -> Result<bool, ProcessError> {
    match claim(services, run, None).await? {
        Some(run) => settle(services, run).await,
        None => Ok(false),
    }
}

/// The version-checked claim. A write that landed first (a deadline push, a learnt session key) is re-read
/// and the claim tried again; a conclusion someone else holds is left to them.
async fn claim(
    services: &Services,
    mut run: RunRecord,
    outcome: Option<Outcome>,
) -> Result<Option<RunRecord>, ProcessError> {
    for _ in 0..CLAIM_TRIES {
        let now = services.now();
        if run.state.is_terminal() {
            return Ok(None);
        }
        let holder = uuid::Uuid::new_v4().simple().to_string();
        match (run.state, run.conclusion.as_mut()) {
            (RunState::Concluding, Some(conclusion)) => {
                if conclusion.lease_until > now {
                    return Ok(None);
                }
                conclusion.holder = holder;
                conclusion.lease_until = now + LEASE_SECS;
            }
            _ => {
                let Some(outcome) = outcome.clone() else {
                    return Ok(None);
                };
                run.conclusion = Some(Conclusion {
                    outcome,
                    holder,
                    lease_until: now + LEASE_SECS,
                    since: now,
                    attempts: 0,
                    last_error: None,
                });
                run.state = RunState::Concluding;
            }
        }
        run.updated_at = now;
        if services.runs.update_run(&mut run).await? {
            return Ok(Some(run));
        }
        run = services
            .runs
            .get_run(&run.conversation_id)
            .await?
            .ok_or_else(|| ProcessError::Transient("run vanished while concluding".into(), None))?;
    }
    Err(ProcessError::Transient(
        "the run kept changing while concluding".into(),
        None,
    ))
}

/// The holder's effects: compose the text (once), publish it, record the terminal state.
async fn settle(services: &Services, mut run: RunRecord) -> Result<bool, ProcessError> {
    let Some(module) = services.module(run.provider) else {
        return give_up(services, run, "its provider is not configured").await;
    };
    let module = module.as_ref();
    let source = module.source();
    if run.outcome.is_none() {
        if let Some(Outcome::Stopped { .. }) = run.conclusion.as_ref().map(|c| &c.outcome) {
            if let Err(reason) = stop_agent(services, &run).await {
                info!(conversation_id = %run.conversation_id, reason, "the agent cannot be stopped yet; trying again soon");
                return let_go(services, run, SUMMARY_RETRY_SECS, reason, false).await;
            }
        }
    }
    let text = match run.outcome.clone() {
        Some(text) => text,
        None => match compose(services, source, &run).await {
            Composed::Text(text) => {
                run.outcome = Some(cut_to(text, MAX_OUTCOME_BYTES));
                keep(services, &mut run).await?;
                run.outcome.clone().unwrap_or_default()
            }
            Composed::NotYet(reason) => {
                info!(conversation_id = %run.conversation_id, reason, "summary not available yet; trying again soon");
                return let_go(services, run, SUMMARY_RETRY_SECS, reason, false).await;
            }
        },
    };
    super::progress::wait_for_edit_in_flight(services, &run).await;
    if let Err(err) = publish(source, &mut run, &text).await {
        let attempts = run.conclusion.as_ref().map_or(0, |c| c.attempts) + 1;
        if attempts >= MAX_PUBLISH_ATTEMPTS {
            error!(conversation_id = %run.conversation_id, error = %err, attempts, "could not publish the result; giving up");
            return give_up(services, run, "the result could not be published").await;
        }
        warn!(conversation_id = %run.conversation_id, error = %err, attempts, "could not publish the result; will retry");
        let wait =
            publish_backoff(attempts).max(err.retry_after().map_or(0, |d| d.as_secs_f64().ceil() as u64));
        let_go(services, run, wait, err.to_string(), true).await?;
        // Transient for whoever called: a callback's sender retries (a 5xx), the sweep counts it.
        return Err(ProcessError::Transient(
            format!("could not publish the result: {err}"),
            Some(std::time::Duration::from_secs(wait)),
        ));
    }
    finish(services, run).await
}

/// Wait before the `attempts`-th publishing retry: 5 s, 15 s, then doubling from a minute to about an hour.
fn publish_backoff(attempts: u32) -> u64 {
    match attempts {
        0 | 1 => 5,
        2 => 15,
        n => 60u64.saturating_mul(1 << (n - 3).min(6)),
    }
}

/// The run reached its terminal state with its message published.
async fn finish(services: &Services, mut run: RunRecord) -> Result<bool, ProcessError> {
    let outcome = run
        .conclusion
        .as_ref()
        .map(|c| c.outcome.clone())
        .unwrap_or(Outcome::Stalled);
    run.state = match outcome {
        Outcome::Finished => RunState::Reported,
        _ => RunState::Failed,
    };
    keep(services, &mut run).await?;
    best_effort_title(services, &run).await;
    info!(
        conversation_id = %run.conversation_id,
        outcome = outcome.label(),
        state = run.state.as_str(),
        "run concluded"
    );
    Ok(true)
}

/// After repeated refusals: record the run as failed without its message, so it stops costing retries.
async fn give_up(services: &Services, mut run: RunRecord, why: &str) -> Result<bool, ProcessError> {
    run.state = RunState::Failed;
    if let Some(conclusion) = run.conclusion.as_mut() {
        conclusion.last_error = Some(why.to_owned());
    }
    keep(services, &mut run).await?;
    error!(conversation_id = %run.conversation_id, why, "run concluded as failed without its message");
    Ok(true)
}

/// Release the claim until `wait` from now, noting why.
async fn let_go(
    services: &Services,
    mut run: RunRecord,
    wait: u64,
    reason: String,
    count_attempt: bool,
) -> Result<bool, ProcessError> {
    let now = services.now();
    if let Some(conclusion) = run.conclusion.as_mut() {
        conclusion.lease_until = now + wait;
        conclusion.last_error = Some(cut_to(reason, 500));
        if count_attempt {
            conclusion.attempts += 1;
        }
    }
    keep(services, &mut run).await?;
    Ok(false)
}

/// Write the holder's part of the run. Another party's progress write (deadline, session key) landing first is
/// not a reason to stop: the holder's fields are carried over onto the fresh record and written again. Only a
/// conclusion taken over by another holder (after this one's lease ran out) ends it.
async fn keep(services: &Services, run: &mut RunRecord) -> Result<(), ProcessError> {
    let holder = run.conclusion.as_ref().map(|c| c.holder.clone());
    for _ in 0..CLAIM_TRIES {
        run.updated_at = services.now();
        if services.runs.update_run(run).await? {
            return Ok(());
        }
        let Some(mut fresh) = services.runs.get_run(&run.conversation_id).await? else {
            return Err(ProcessError::Transient(
                "run vanished while concluding".into(),
                None,
            ));
        };
        let still_ours = fresh.state == RunState::Concluding
            && fresh.conclusion.as_ref().map(|c| c.holder.clone()) == holder;
        if !still_ours {
            return Err(ProcessError::Transient(
                "the conclusion was taken over by another holder".into(),
                None,
            ));
        }
        fresh.state = run.state;
        fresh.conclusion = run.conclusion.take();
        fresh.outcome = run.outcome.take();
        fresh.status = run.status.take();
        *run = fresh;
    }
    Err(ProcessError::Transient(
        "the run kept changing while concluding".into(),
        None,
    ))
}

enum Composed {
    Text(String),
    /// The text cannot be composed yet (the summary is not fetchable right now).
    NotYet(String),
}

async fn compose(services: &Services, source: &dyn SourceClient, run: &RunRecord) -> Composed {
    let link = services.conversations.conversation_link(&run.conversation_id);
    let outcome = run
        .conclusion
        .as_ref()
        .map(|c| c.outcome.clone())
        .unwrap_or(Outcome::Stalled);
    let mut text = match &outcome {
        Outcome::Finished => {
            let since = run.conclusion.as_ref().map_or(0, |c| c.since);
            match fetch_summary(services, run).await {
                Ok(summary) => {
                    for url in prompt::pull_request_links(&summary) {
                        if let Err(err) = source.pull_request_opened(&run.source, &url).await {
                            warn!(error = %err, "could not mark the pull request on the source");
                        }
                    }
                    prompt::status_finished(&summary, &link)
                }
                Err(reason) if services.now() < since + services.settings.summary_patience.as_secs() => {
                    return Composed::NotYet(reason)
                }
                Err(reason) => {
                    warn!(conversation_id = %run.conversation_id, reason, "posting the result without the summary");
                    prompt::status_finished_without_summary(&link)
                }
            }
        }
        Outcome::AgentStopped(status) => prompt::status_failed(
            &format!(
                "OpenHands stopped with status `{}` before finishing the work.",
                text::short_detail(status, 40)
            ),
            &link,
        ),
        Outcome::Stalled => prompt::status_failed(
            &format!(
                "No progress for {}, so Hookline stopped waiting for this run.",
                prompt::duration_words(services.settings.stall_timeout)
            ),
            &link,
        ),
        Outcome::StartFailed(detail) => prompt::status_failed(
            &format!(
                "Could not start the OpenHands conversation: {}.",
                text::short_detail(detail, MAX_DETAIL_CHARS)
            ),
            &link,
        ),
        Outcome::Stopped { by, at } => prompt::status_stopped(by, *at, &link),
        Outcome::SandboxLost(detail) => prompt::status_failed(
            &format!(
                "The agent's sandbox stopped working ({}), so the run ended without a result.",
                text::short_detail(detail, MAX_DETAIL_CHARS)
            ),
            &link,
        ),
    };
    if !run.pending_messages.is_empty() && outcome != Outcome::Finished {
        text.push_str(&prompt::undelivered_follow_ups(run.pending_messages.len()));
    }
    Composed::Text(text)
}

/// Edit the status message with `text`; post one if it is missing (never posted, or deleted by someone).
async fn publish(source: &dyn SourceClient, run: &mut RunRecord, text: &str) -> Result<(), PortError> {
    let marker = marker_for(&run.conversation_id);
    if let Some(status) = &run.status {
        match source
            .edit_status(&run.source, status, &marker, text, false)
            .await
        {
            Ok(()) => return Ok(()),
            Err(PortError::NotFound { .. }) => warn!("status message is gone; posting a new one"),
            Err(err) => return Err(err),
        }
    } else if let Some(found) = source.find_status(&run.source, &marker).await? {
        source
            .edit_status(&run.source, &found, &marker, text, false)
            .await?;
        run.status = Some(found);
        return Ok(());
    }
    let status = source.post_status(&run.source, &marker, text, false).await?;
    run.status = Some(status);
    Ok(())
}

/// Why a conversation's agent server cannot be called now.
enum Unreachable {
    /// The app server does not list the conversation (not yet, or never).
    NotListed,
    /// Its sandbox is not running (`STARTING`, `PAUSED`, `MISSING`, …).
    Sandbox(String),
    /// No key, no URL, or a call failed.
    Other(String),
}

impl Unreachable {
    fn reason(self) -> String {
        match self {
            Unreachable::NotListed => "OpenHands does not list the conversation".into(),
            Unreachable::Sandbox(status) => format!("the sandbox reads {status}"),
            Unreachable::Other(reason) => reason,
        }
    }
}

/// The conversation as listed, with its agent server's URL, when its sandbox runs and can be called.
async fn reachable_agent(
    services: &Services,
    run: &RunRecord,
) -> Result<(crate::ports::ConversationStatus, String), Unreachable> {
    let failed = |err: PortError| Unreachable::Other(err.to_string());
    let auth = services
        .openhands_auth(run.api_key_secret.as_deref())
        .await
        .map_err(failed)?;
    let listed = services
        .conversations
        .status(&auth, &run.conversation_id)
        .await
        .map_err(failed)?;
    let Some(conversation) = listed else {
        return Err(Unreachable::NotListed);
    };
    if !conversation.sandbox_running() {
        let status = conversation.sandbox_status.as_deref().unwrap_or("unknown");
        return Err(Unreachable::Sandbox(status.to_owned()));
    }
    if conversation.session_api_key.is_none() {
        return Err(Unreachable::Other("no session key is listed".into()));
    }
    let agent_url = run.agent_server_url.clone().or_else(|| {
        conversation
            .conversation_url
            .as_deref()
            .and_then(crate::openhands::agent_server_url_from)
    });
    match agent_url {
        Some(url) => Ok((conversation, url)),
        None => Err(Unreachable::Other("no agent server URL is known".into())),
    }
}

/// Ask the agent for its final summary. `Err` says why it cannot be had now (sandbox not reachable, no key,
/// the agent server refused); the caller decides whether to wait or to post without it.
async fn fetch_summary(services: &Services, run: &RunRecord) -> Result<String, String> {
    let (conversation, agent_url) = reachable_agent(services, run)
        .await
        .map_err(Unreachable::reason)?;
    services
        .conversations
        .ask_agent(&conversation, &agent_url, prompt::SUMMARY_QUESTION)
        .await
        .map_err(|err| err.to_string())
}

/// Stop the agent of a run a person stopped. `Err` while it cannot be stopped yet but will be running soon (a
/// sandbox starting, or a start asked for within the start timeout); a conversation whose sandbox is gone or
/// paused has nothing left to stop.
async fn stop_agent(services: &Services, run: &RunRecord) -> Result<(), String> {
    let may_still_start = run
        .start_requested_at
        .is_some_and(|at| services.now() < at + services.settings.start_timeout.as_secs());
    match reachable_agent(services, run).await {
        Ok((conversation, agent_url)) => {
            let known = services
                .conversations
                .interrupt(&conversation, &agent_url)
                .await
                .map_err(|err| err.to_string())?;
            info!(conversation_id = %run.conversation_id, known, "asked the agent server to stop the agent");
            Ok(())
        }
        Err(Unreachable::NotListed) if may_still_start => Err(Unreachable::NotListed.reason()),
        Err(Unreachable::Sandbox(status)) if status.eq_ignore_ascii_case("STARTING") => {
            Err(Unreachable::Sandbox(status).reason())
        }
        Err(Unreachable::Other(reason)) => Err(reason),
        Err(unreachable) => {
            info!(conversation_id = %run.conversation_id, reason = unreachable.reason(), "nothing to stop");
            Ok(())
        }
    }
}

/// The server replaces a title set while the conversation starts with its own, generated from the first
/// message; by the end that has happened, so the title set now stays. One attempt, never retried.
async fn best_effort_title(services: &Services, run: &RunRecord) {
    if run.title.is_empty() {
        return;
    }
    let Ok(auth) = services.openhands_auth(run.api_key_secret.as_deref()).await else {
        return;
    };
    if let Err(err) = services
        .conversations
        .set_title(&auth, &run.conversation_id, &run.title)
        .await
    {
        info!(error = %err, "conversation title not set");
    }
}
