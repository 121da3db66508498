//! The queue worker: decide whether an envelope is a trigger, check who asked, map them to an OpenHands
//! identity, acknowledge on the source, start the conversation (or send a follow-up), record the run.
//!
//! Every step is safe to repeat: the run record is claimed before any effect, the conversation id derives from
//! the trigger, the status message carries a marker a retry can find, and a retry asks OpenHands whether the
//! conversation already exists before starting it.

use tracing::{error, info, info_span, warn, Instrument};

use super::{conclude, prompt, Services};
use crate::{
    domain::{conversation_id_for, Envelope, RunRecord, RunState, SourceRef, Trigger, ENVELOPE_VERSION},
    error::{Disposition, PortError, ProcessError},
    ports::{Claim, StartConversation, ThreadClaim},
    provider::{Decision, ProviderModule},
};

/// Process one queue message delivered for the `receive_count`-th time (1 on first delivery) and say what the
/// queue should do with it. Never panics on message content.
pub async fn process(services: &Services, body: &str, receive_count: u32) -> Disposition {
    let envelope: Envelope = match serde_json::from_str(body) {
        Ok(envelope) => envelope,
        Err(err) => {
            error!(error = %err, "queue message is not an envelope; dropping it");
            return Disposition::Done;
        }
    };
    if envelope.version != ENVELOPE_VERSION {
        error!(
            version = envelope.version,
            "unsupported envelope version; dropping it"
        );
        return Disposition::Done;
    }
    let span = info_span!(
        "work",
        provider = %envelope.provider,
        delivery_id = %envelope.delivery_id,
        group = %envelope.group,
        receive_count
    );
    let final_attempt = receive_count >= services.settings.max_receives;
    let key = envelope.storage_key();
    async {
        let result = process_envelope(services, &envelope, final_attempt).await;
        let now = services.now();
        match result {
            Ok(()) => {
                if let Err(err) = services
                    .deliveries
                    .complete(&key, now, services.settings.delivery_ttl)
                    .await
                {
                    warn!(error = %err, "could not mark delivery done");
                }
                Disposition::Done
            }
            Err(err) => {
                let disposition = err.disposition();
                let giving_up = disposition == Disposition::Done || final_attempt;
                if giving_up {
                    error!(error = %err, final_attempt, "processing failed; giving up on this delivery");
                    // A later redelivery of the same delivery id may try again.
                    if let Err(release_err) = services.deliveries.release(&key).await {
                        warn!(error = %release_err, "could not release delivery claim");
                    }
                } else {
                    warn!(error = %err, "processing failed; will retry");
                }
                disposition
            }
        }
    }
    .instrument(span)
    .await
}

async fn process_envelope(
    services: &Services,
    envelope: &Envelope,
    final_attempt: bool,
) -> Result<(), ProcessError> {
    let module = services.module(envelope.provider).ok_or_else(|| {
        ProcessError::Permanent(format!("provider {} is not configured", envelope.provider))
    })?;
    let envelope = module.enrich(envelope).await?;
    let trigger = match module.decide(&envelope)? {
        Decision::Ignore(reason) => {
            info!(reason, "not a trigger");
            return Ok(());
        }
        Decision::Notice { source, key, text } => {
            info!(reason = "notice", "not a run yet; telling the person once");
            return post_notice_once(services, module, &source, &key, &text).await;
        }
        Decision::Run(trigger) => *trigger,
    };
    let conversation_id = conversation_id_for(&trigger.run_key);
    let span = info_span!("trigger", run_key = %trigger.run_key, conversation_id = %conversation_id, actor = %trigger.actor.login);
    async {
        if let Some(run) = services.runs.get_run(&conversation_id).await? {
            info!(state = run.state.as_str(), "resuming an existing run");
            return drive_run(services, module, &trigger, run, true, final_attempt).await;
        }
        let source = module.source();
        if !source.may_trigger(&trigger.source, &trigger.actor.login).await? {
            info!(
                decision = "denied",
                "person may not trigger runs here (no write access)"
            );
            return Ok(());
        }
        let (openhands_user, api_key_secret) = match services
            .identities
            .get_link(trigger.provider, &trigger.tenant, &trigger.actor.id)
            .await?
        {
            Some(link) => (link.openhands_user, link.api_key_secret),
            None => match &services.settings.default_identity {
                Some(default) => {
                    info!(
                        decision = "default_identity",
                        "unlinked person; using the default identity"
                    );
                    (default.openhands_user.clone(), default.api_key_secret.clone())
                }
                None => return notify_unlinked(services, module, &trigger).await,
            },
        };
        // One active conversation per thread: a mention on a busy thread becomes a follow-up.
        for _ in 0..2 {
            match services
                .runs
                .claim_thread(&trigger.thread_key, &conversation_id)
                .await?
            {
                ThreadClaim::Claimed => break,
                ThreadClaim::Active {
                    conversation_id: active,
                } => match services.runs.get_run(&active).await? {
                    Some(run) if !run.state.is_terminal() => {
                        return follow_up(services, module, &trigger, &run).await;
                    }
                    _ => services.runs.release_thread(&trigger.thread_key, &active).await?,
                },
            }
        }
        let now = services.now();
        let run = RunRecord {
            conversation_id: conversation_id.clone(),
            run_key: trigger.run_key.clone(),
            provider: trigger.provider,
            tenant: trigger.tenant.clone(),
            thread_key: trigger.thread_key.clone(),
            source: trigger.source.clone(),
            actor: trigger.actor.clone(),
            openhands_user,
            api_key_secret,
            state: RunState::Claimed,
            status: None,
            start_task_id: None,
            session_key_sha256: None,
            agent_server_url: None,
            created_at: now,
            updated_at: now,
            deadline_at: now + services.settings.stall_timeout.as_secs(),
            last_execution_status: None,
            outcome: None,
            title: trigger.title.clone(),
            title_set: false,
            version: 0,
        };
        if !services.runs.insert_run(&run).await? {
            let existing = services.runs.get_run(&conversation_id).await?.ok_or_else(|| {
                ProcessError::Transient("run vanished after a conflicting insert".into(), None)
            })?;
            return drive_run(services, module, &trigger, existing, true, final_attempt).await;
        }
        drive_run(services, module, &trigger, run, false, final_attempt).await
    }
    .instrument(span)
    .await
}

/// Take a claimed run through acknowledgement and start. `existed` says an earlier attempt may have done part
/// of this already.
async fn drive_run(
    services: &Services,
    module: &dyn ProviderModule,
    trigger: &Trigger,
    mut run: RunRecord,
    existed: bool,
    final_attempt: bool,
) -> Result<(), ProcessError> {
    if run.state != RunState::Claimed {
        return Ok(());
    }
    let source = module.source();
    let marker = conclude::marker_for(&run.conversation_id);
    if let Err(err) = source.acknowledge(&trigger.source).await {
        // The reaction is a courtesy; the status message below is the acknowledgement that matters.
        warn!(error = %err, "could not add the reaction");
    }
    if run.status.is_none() {
        let found = if existed {
            source.find_status(&trigger.source, &marker).await?
        } else {
            None
        };
        let status = match found {
            Some(status) => status,
            None => {
                let link = services.conversations.conversation_link(&run.conversation_id);
                source
                    .post_status(
                        &trigger.source,
                        &marker,
                        &prompt::status_started(&trigger.actor.login, &link),
                    )
                    .await?
            }
        };
        run.status = Some(status);
        save(services, &mut run).await?;
    }
    let auth = match services.openhands_auth(run.api_key_secret.as_deref()).await {
        Ok(auth) => auth,
        Err(err) if err.is_transient() && !final_attempt => return Err(err.into()),
        Err(err) => return conclude::start_failed(services, run, &short_reason(&err)).await,
    };
    if existed {
        // A crash may have come after OpenHands accepted the start: ask before starting twice.
        let known = services
            .conversations
            .statuses(&auth, std::slice::from_ref(&run.conversation_id))
            .await?;
        if known.first().is_some_and(Option::is_some) {
            info!("conversation already exists; recording it as running");
            return mark_running(services, run, None).await;
        }
    }
    let context = match source.thread_context(&trigger.source, trigger.occurred_at).await {
        Ok(context) => context,
        Err(err) if err.is_transient() && !final_attempt => return Err(err.into()),
        Err(err) => {
            warn!(error = %err, "starting without earlier comments");
            Vec::new()
        }
    };
    let branch = match &trigger.branch {
        Some(branch) => Some(branch.clone()),
        None => source.resolve_branch(&trigger.source).await?,
    };
    let request = StartConversation {
        conversation_id: run.conversation_id.clone(),
        initial_message: prompt::initial_message(trigger, &context),
        selected_repository: trigger.repository.clone(),
        selected_branch: branch,
        git_provider: Some(trigger.git_provider.clone()),
        title: trigger.title.clone(),
        trigger: trigger_name(trigger),
    };
    match services.conversations.start(&auth, &request).await {
        Ok(task) if task.is_error() => {
            let detail = task.detail.unwrap_or_else(|| "the start task failed".into());
            conclude::start_failed(services, run, &detail).await
        }
        Ok(task) => {
            info!(start_task_id = %task.id, "conversation started");
            if let Err(err) = source.run_started(&trigger.source).await {
                warn!(error = %err, "could not mark the work as started on the source");
            }
            match services
                .conversations
                .set_title(&auth, &run.conversation_id, &run.title)
                .await
            {
                Ok(()) => run.title_set = true,
                // The conversation appears only once its sandbox is up; the sweep sets the title then.
                Err(err) => info!(error = %err, "title not set yet"),
            }
            mark_running(services, run, Some(task.id)).await
        }
        Err(err) if err.is_transient() && !final_attempt => Err(err.into()),
        Err(err) => conclude::start_failed(services, run, &short_reason(&err)).await,
    }
}

async fn mark_running(
    services: &Services,
    mut run: RunRecord,
    task_id: Option<String>,
) -> Result<(), ProcessError> {
    if task_id.is_some() {
        run.start_task_id = task_id;
    }
    run.state = RunState::Running;
    run.deadline_at = services.now() + services.settings.stall_timeout.as_secs();
    save(services, &mut run).await
}

/// Conditional write; losing the race means another worker moved the run on, so retry from the top.
async fn save(services: &Services, run: &mut RunRecord) -> Result<(), ProcessError> {
    run.updated_at = services.now();
    if services.runs.update_run(run).await? {
        Ok(())
    } else {
        Err(ProcessError::Transient("run changed concurrently".into(), None))
    }
}

async fn follow_up(
    services: &Services,
    module: &dyn ProviderModule,
    trigger: &Trigger,
    active: &RunRecord,
) -> Result<(), ProcessError> {
    let key = format!("followup#{}", trigger.run_key);
    let now = services.now();
    if services
        .deliveries
        .claim(&key, now, services.settings.delivery_ttl)
        .await?
        == Claim::Duplicate
    {
        return Ok(());
    }
    let sent = async {
        let auth = services.openhands_auth(active.api_key_secret.as_deref()).await?;
        services
            .conversations
            .send_message(
                &auth,
                &active.conversation_id,
                &prompt::follow_up_message(trigger),
            )
            .await
    }
    .await;
    if let Err(err) = sent {
        let _ = services.deliveries.release(&key).await;
        return Err(err.into());
    }
    let _ = services
        .deliveries
        .complete(&key, now, services.settings.delivery_ttl)
        .await;
    info!(active_conversation = %active.conversation_id, "sent as a follow-up to the running conversation");
    if let Err(err) = module.source().acknowledge(&trigger.source).await {
        warn!(error = %err, "could not add the reaction");
    }
    Ok(())
}

async fn notify_unlinked(
    services: &Services,
    module: &dyn ProviderModule,
    trigger: &Trigger,
) -> Result<(), ProcessError> {
    info!(
        decision = "unlinked",
        "person is not linked to an OpenHands identity"
    );
    let text = module.unlinked_notice(trigger);
    post_notice_once(services, module, &trigger.source, &trigger.run_key, &text).await
}

/// Post a notice at most once per `key`, across retries and redeliveries.
async fn post_notice_once(
    services: &Services,
    module: &dyn ProviderModule,
    source: &SourceRef,
    key: &str,
    text: &str,
) -> Result<(), ProcessError> {
    let key = format!("notice#{key}");
    let now = services.now();
    let ttl = services.settings.delivery_ttl;
    if services.deliveries.claim(&key, now, ttl).await? == Claim::Duplicate {
        return Ok(());
    }
    match module.source().post_notice(source, text).await {
        Ok(()) => {
            let _ = services.deliveries.complete(&key, now, ttl).await;
            Ok(())
        }
        Err(err) => {
            let _ = services.deliveries.release(&key).await;
            Err(err.into())
        }
    }
}

fn trigger_name(trigger: &Trigger) -> String {
    match trigger.provider {
        crate::domain::Provider::Github | crate::domain::Provider::Gitlab => "resolver",
        crate::domain::Provider::Slack => "slack",
        crate::domain::Provider::Jira => "jira",
        crate::domain::Provider::Linear => "linear",
    }
    .to_owned()
}

/// A reason short enough for a comment, with no internals beyond the remote's status.
fn short_reason(err: &PortError) -> String {
    match err {
        PortError::Permanent {
            what,
            status: Some(status),
            ..
        } => format!("{what} answered HTTP {status}"),
        PortError::Permanent { what, .. } => format!("{what} refused the request"),
        PortError::Transient { what, .. } => format!("{what} stayed unavailable"),
        PortError::NotFound { what } => format!("{what} not found"),
    }
}
