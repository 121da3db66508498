//! `@openhands stop` (and Slack's Stop button): the thread's running run ends as stopped, by its actor or a
//! maintainer of the source. The conclusion does the rest exactly once ([`conclude`]): it interrupts the agent
//! on its agent server and replaces the status message with who stopped it and when, so two stops, or a stop
//! racing the finish, still end in one final message.

use tracing::info;

use super::{
    conclude,
    worker::{post_notice_once, Verdict},
    WorkerServices,
};
use crate::{
    domain::{DecisionKind, Outcome, RunState, Trigger},
    error::ProcessError,
    ports::Access,
    provider::ProviderModule,
};

/// The answer to a stop on a thread with no run going.
const NOTHING_TO_STOP: &str = "There is no run of mine going on this thread, so there is nothing to stop.";

/// The answer to someone who may not stop the thread's run.
const NOT_THEIRS_TO_STOP: &str =
    "I can't stop this run: only the person who started it, or a maintainer, can.";

pub(super) async fn stop(
    services: &WorkerServices,
    module: &dyn ProviderModule,
    trigger: &Trigger,
) -> Result<Verdict, ProcessError> {
    let access = module.source().access(&trigger.source, &trigger.actor).await?;
    if access == Access::None {
        info!(
            decision = "denied",
            "person may not act here; the stop is ignored"
        );
        return Ok(Verdict::on(
            DecisionKind::Denied,
            "no write access",
            trigger,
            None,
        ));
    }
    let active = match services.runs.thread_run(&trigger.thread_key).await? {
        Some(id) => services.runs.get_run(&id).await?,
        None => None,
    };
    let named = |run: &crate::domain::RunRecord| {
        trigger
            .stop_only
            .as_ref()
            .is_none_or(|id| *id == run.conversation_id)
    };
    let Some(run) = active.filter(|run| !run.state.is_terminal() && named(run)) else {
        info!(decision = "nothing_to_stop", "no run is going on this thread");
        let key = format!("{}:nothing-to-stop", trigger.run_key);
        post_notice_once(services, module, &trigger.source, &key, NOTHING_TO_STOP).await?;
        return Ok(Verdict::on(
            DecisionKind::Notice,
            "nothing to stop",
            trigger,
            None,
        ));
    };
    let stopping = |reason| Verdict::on(DecisionKind::Stop, reason, trigger, Some(&run.conversation_id));
    if run.actor.id != trigger.actor.id && access < Access::Maintain {
        info!(decision = "not_theirs", active_conversation = %run.conversation_id, "someone else's run");
        let key = format!("{}:not-theirs-to-stop", trigger.run_key);
        post_notice_once(services, module, &trigger.source, &key, NOT_THEIRS_TO_STOP).await?;
        let theirs = Some(run.conversation_id.as_str());
        return Ok(Verdict::on(
            DecisionKind::Notice,
            "someone else's run",
            trigger,
            theirs,
        ));
    }
    if let Err(err) = module.source().acknowledge(&trigger.source).await {
        tracing::warn!(error = %err, "could not add the reaction");
    }
    if run.state == RunState::Concluding {
        info!(active_conversation = %run.conversation_id, "the run is already ending");
        return Ok(stopping("run already ending"));
    }
    info!(decision = "stop", active_conversation = %run.conversation_id, "stopping the thread's run");
    let stopped = Outcome::Stopped {
        by: trigger.actor.login.clone(),
        at: services.now(),
    };
    let verdict = stopping("stop requested");
    conclude::conclude(services, run, stopped).await?;
    Ok(verdict)
}
