//! `@openhands stop` (and Slack's Stop button): the thread's running run ends as stopped, by its actor or a
//! maintainer of the source. The conclusion does the rest exactly once ([`conclude`]): it interrupts the agent
//! on its agent server and replaces the status message with who stopped it and when, so two stops, or a stop
//! racing the finish, still end in one final message.

use tracing::info;

use super::{conclude, worker::post_notice_once, WorkerServices};
use crate::{
    domain::{Outcome, RunState, Trigger},
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
) -> Result<(), ProcessError> {
    let access = module.source().access(&trigger.source, &trigger.actor).await?;
    if access == Access::None {
        info!(
            decision = "denied",
            "person may not act here; the stop is ignored"
        );
        return Ok(());
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
        return post_notice_once(services, module, &trigger.source, &key, NOTHING_TO_STOP).await;
    };
    if run.actor.id != trigger.actor.id && access < Access::Maintain {
        info!(decision = "not_theirs", active_conversation = %run.conversation_id, "someone else's run");
        let key = format!("{}:not-theirs-to-stop", trigger.run_key);
        return post_notice_once(services, module, &trigger.source, &key, NOT_THEIRS_TO_STOP).await;
    }
    if let Err(err) = module.source().acknowledge(&trigger.source).await {
        tracing::warn!(error = %err, "could not add the reaction");
    }
    if run.state == RunState::Concluding {
        info!(active_conversation = %run.conversation_id, "the run is already ending");
        return Ok(());
    }
    info!(decision = "stop", active_conversation = %run.conversation_id, "stopping the thread's run");
    let stopped = Outcome::Stopped {
        by: trigger.actor.login.clone(),
        at: services.now(),
    };
    conclude::conclude(services, run, stopped).await.map(drop)
}
