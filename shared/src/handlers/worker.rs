//! The queue worker: decide whether an envelope is a trigger, check who asked, map them to an OpenHands
//! identity, acknowledge on the source, start the conversation (or send a follow-up), record the run.
//!
//! Every step is safe to repeat: the run record is claimed before any effect, the conversation id derives from
//! the trigger, the status message carries a marker a retry can find, and a retry asks OpenHands whether the
//! conversation already exists before starting it.

use tracing::{error, info, info_span, warn, Instrument};

use super::{conclude, prompt, Settings, WorkerServices};
use crate::{
    domain::{
        conversation_id_for, DecisionKind, DeliveryDecision, Envelope, Intent, Outcome, RunRecord, RunState,
        SourceRef, Trigger, ENVELOPE_VERSION,
    },
    error::{Disposition, PortError, ProcessError},
    invite::Invitation,
    options::{self, RequestOptions},
    ports::{Access, Claim, MessageDelivery, StartConversation, StartTask, ThreadClaim},
    provider::{Decision, ProviderModule},
    repo_hint::RepoRef,
};

/// Process one queue message delivered for the `receive_count`-th time (1 on first delivery) and say what the
/// queue should do with it. Never panics on message content.
pub async fn process(services: &WorkerServices, body: &str, receive_count: u32) -> Disposition {
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
            Ok(verdict) => {
                record(services, &envelope, body, verdict).await;
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
                let reason = if giving_up {
                    "failed; given up"
                } else {
                    "failed; will retry"
                };
                record(
                    services,
                    &envelope,
                    body,
                    Verdict::new(DecisionKind::Failed, reason),
                )
                .await;
                disposition
            }
        }
    }
    .instrument(span)
    .await
}

/// What [`process_envelope`] decided, for the delivery log: a kind, a fixed reason, and the run and person
/// when there are some.
pub(super) struct Verdict {
    kind: DecisionKind,
    reason: &'static str,
    conversation_id: Option<String>,
    actor: Option<String>,
}

impl Verdict {
    fn new(kind: DecisionKind, reason: &'static str) -> Self {
        Self {
            kind,
            reason,
            conversation_id: None,
            actor: None,
        }
    }

    /// The same, about `trigger`'s person and, when given, its run.
    pub(super) fn on(
        kind: DecisionKind,
        reason: &'static str,
        trigger: &Trigger,
        conversation_id: Option<&str>,
    ) -> Self {
        Self {
            conversation_id: conversation_id.map(str::to_owned),
            actor: Some(trigger.actor.login.clone()),
            ..Self::new(kind, reason)
        }
    }

    /// A run driven from its claim: started, or found past its start (an earlier delivery started it).
    fn driven(trigger: &Trigger, run: &RunRecord, existed: bool) -> Self {
        let (kind, reason) = match (run.state, existed) {
            (RunState::Claimed, false) => (DecisionKind::Run, "run started"),
            (RunState::Claimed, true) => (DecisionKind::Run, "run start resumed"),
            _ => (DecisionKind::Duplicate, "run already started"),
        };
        Self::on(kind, reason, trigger, Some(&run.conversation_id))
    }
}

/// Write the decision about `envelope` (queued as `body`) to the delivery log, with the body. Best effort: a
/// failure is logged, never retried.
async fn record(services: &WorkerServices, envelope: &Envelope, body: &str, verdict: Verdict) {
    let decision = DeliveryDecision {
        provider: envelope.provider,
        tenant: envelope.tenant.clone(),
        delivery_id: envelope.delivery_id.clone(),
        event: envelope.event.clone(),
        received_at: envelope.received_at,
        decided_at: services.now(),
        kind: verdict.kind,
        reason: verdict.reason.to_owned(),
        conversation_id: verdict.conversation_id,
        actor: verdict.actor,
    };
    if let Err(err) = services
        .decisions
        .record(&decision, body, services.settings.delivery_ttl)
        .await
    {
        warn!(error = %err, "could not record the delivery's decision");
    }
}

async fn process_envelope(
    services: &WorkerServices,
    envelope: &Envelope,
    final_attempt: bool,
) -> Result<Verdict, ProcessError> {
    let module = services
        .module_or_reload(envelope.provider)
        .await
        .ok_or_else(|| {
            ProcessError::Permanent(format!("provider {} is not configured", envelope.provider))
        })?;
    let module = module.as_ref();
    let envelope = module.enrich(envelope).await?;
    let mut trigger = match module.decide(&envelope)? {
        Decision::Ignore(reason) => {
            info!(reason, "not a trigger");
            return Ok(Verdict::new(DecisionKind::Ignored, reason));
        }
        Decision::Notice { source, key, text } => {
            info!(reason = "notice", "not a run yet; telling the person once");
            post_notice_once(services, module, &source, &key, &text).await?;
            return Ok(Verdict::new(DecisionKind::Notice, "provider notice"));
        }
        Decision::Run(trigger) => *trigger,
    };
    if trigger.intent == Intent::Stop {
        let span = info_span!("stop", run_key = %trigger.run_key, actor = %trigger.actor.login);
        return super::stop::stop(services, module, &trigger)
            .instrument(span)
            .await;
    }
    let chosen = choose(&services.settings, &mut trigger);
    let conversation_id = conversation_id_for(&trigger.run_key);
    let span = info_span!("trigger", run_key = %trigger.run_key, conversation_id = %conversation_id, actor = %trigger.actor.login);
    async {
        if let Some(run) = services.runs.get_run(&conversation_id).await? {
            info!(state = run.state.as_str(), "resuming an existing run");
            let verdict = Verdict::driven(&trigger, &run, true);
            drive_run(services, module, &trigger, run, true, final_attempt).await?;
            return Ok(verdict);
        }
        let source = module.source();
        let access = source.access(&trigger.source, &trigger.actor).await?;
        if access == Access::None {
            info!(
                decision = "denied",
                "person may not trigger runs here (no write access)"
            );
            return Ok(Verdict::on(DecisionKind::Denied, "no write access", &trigger, None));
        }
        let chosen = match chosen {
            Ok(chosen) => chosen,
            Err(refusal) => {
                info!(decision = "options_refused", "the request's options are refused");
                let key = format!("{}:options", trigger.run_key);
                post_notice_once(services, module, &trigger.source, &key, &refusal.to_string()).await?;
                return Ok(Verdict::on(DecisionKind::Notice, "options refused", &trigger, None));
            }
        };
        let shared = services.settings.default_identity.as_ref();
        // As whom the run works, and whether that is the shared identity: the person's link, else the shared
        // identity where it serves everyone unlinked.
        let identity = match services
            .identities
            .get_link(trigger.provider, &trigger.tenant, &trigger.actor.id)
            .await?
        {
            Some(link) => Some((
                shared.is_some_and(|shared| shared.is(&link)),
                link.openhands_user,
                link.api_key_secret,
            )),
            None => shared
                .filter(|shared| !shared.chosen_only)
                .map(|shared| (true, shared.openhands_user.clone(), shared.api_key_secret.clone())),
        };
        let Some((under_shared, openhands_user, api_key_secret)) = identity else {
            notify_unlinked(services, module, &trigger).await?;
            return Ok(Verdict::on(DecisionKind::Notice, "unlinked person", &trigger, None));
        };
        // The shared identity reaches whatever it can; a repository picked by whoever writes the message is only
        // for people working under their own.
        if under_shared && trigger.repository_named {
            info!(
                decision = "denied",
                "a repository named in the message, with the shared default identity"
            );
            let key = format!("{}:shared-identity", trigger.run_key);
            post_notice_once(services, module, &trigger.source, &key, SHARED_IDENTITY_REPOS).await?;
            let reason = "repository named under the shared identity";
            return Ok(Verdict::on(DecisionKind::Notice, reason, &trigger, None));
        }
        if under_shared {
            info!(decision = "default_identity", "working under the shared identity");
        }
        // One active conversation per thread: a mention on a busy thread becomes a follow-up. The thread points
        // at its latest conversation; one that has ended leaves the thread free, and the new run names it.
        let mut previous = None;
        for _ in 0..3 {
            match services
                .runs
                .claim_thread(&trigger.thread_key, &conversation_id)
                .await?
            {
                ThreadClaim::Claimed => break,
                ThreadClaim::Active {
                    conversation_id: active,
                } => {
                    if let Some(run) = services.runs.get_run(&active).await? {
                        if !run.state.is_terminal() {
                            // A follow-up speaks with the run's identity: only whoever started it, or a
                            // maintainer of the source, may steer it.
                            if run.actor.id != trigger.actor.id && access < Access::Maintain {
                                info!(decision = "not_theirs", active_conversation = %active, "someone else's run is active on this thread");
                                let key = format!("{}:not-theirs", trigger.run_key);
                                post_notice_once(services, module, &trigger.source, &key, NOT_THEIR_RUN).await?;
                                let reason = "someone else's run is active";
                                return Ok(Verdict::on(DecisionKind::Notice, reason, &trigger, Some(&active)));
                            }
                            let sent = Verdict::on(DecisionKind::FollowUp, "follow-up sent", &trigger, Some(&active));
                            match follow_up(services, module, &trigger, run, final_attempt).await? {
                                FollowUp::Handled if chosen.is_empty() => return Ok(sent),
                                FollowUp::Handled => {
                                    // The message went to the agent as written; the run keeps what it started with.
                                    let key = format!("{}:options-running", trigger.run_key);
                                    let notice = post_notice_once(
                                        services,
                                        module,
                                        &trigger.source,
                                        &key,
                                        OPTIONS_WHILE_RUNNING,
                                    );
                                    if let Err(err) = notice.await {
                                        warn!(error = %err, "could not say that options wait for a new run");
                                    }
                                    return Ok(Verdict {
                                        reason: "follow-up sent; options wait for a new run",
                                        ..sent
                                    });
                                }
                                FollowUp::Ended => {}
                            }
                        }
                    }
                    services.runs.release_thread(&trigger.thread_key, &active).await?;
                    previous = Some(active);
                }
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
            start_requested_at: None,
            pending_messages: Vec::new(),
            previous_conversation_id: previous,
            sandbox_trouble: None,
            conclusion: None,
            progress: Default::default(),
            options: chosen,
            version: 0,
        };
        if !services.runs.insert_run(&run).await? {
            let existing = services.runs.get_run(&conversation_id).await?.ok_or_else(|| {
                ProcessError::Transient("run vanished after a conflicting insert".into(), None)
            })?;
            let verdict = Verdict::driven(&trigger, &existing, true);
            drive_run(services, module, &trigger, existing, true, final_attempt).await?;
            return Ok(verdict);
        }
        let verdict = Verdict::driven(&trigger, &run, false);
        drive_run(services, module, &trigger, run, false, final_attempt).await?;
        Ok(verdict)
    }
    .instrument(span)
    .await
}

/// Take a claimed run through acknowledgement and start. `existed` says an earlier attempt may have done part
/// of this already.
async fn drive_run(
    services: &WorkerServices,
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
                        &prompt::status_started(&trigger.actor.login, &link, &run.options),
                        true,
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
        Err(err) => return start_failed(services, run, &short_reason(&err)).await,
    };
    if existed || run.start_requested_at.is_some() {
        // An earlier attempt may have asked OpenHands to start this conversation, and its answer may have been
        // lost. A second start with the same id makes the real server start a second sandbox and breaks both,
        // so follow the start that exists instead.
        match services
            .conversations
            .find_start_task(
                &auth,
                &run.conversation_id,
                run.start_requested_at.unwrap_or(run.created_at),
            )
            .await
        {
            Ok(Some(task)) => {
                info!(start_task_id = %task.id, status = %task.status, "following the start an earlier attempt made");
                return follow_start(services, run, task).await;
            }
            Ok(None) => {}
            Err(err) if err.is_transient() => return Err(err.into()),
            Err(err) => info!(error = %err, "start task search unavailable; asking for the conversation"),
        }
        if services
            .conversations
            .status(&auth, &run.conversation_id)
            .await?
            .is_some()
        {
            info!("conversation already exists; recording it as running");
            run.state = RunState::Running;
            run.deadline_at = services.now() + services.settings.stall_timeout.as_secs();
            return save(services, &mut run).await;
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
    // A repository chosen over the source's own starts on its default branch unless a branch was chosen too;
    // the source's head branch belongs to the source's repository.
    let chose_other_repository = run.options.repo.is_some() && trigger.repository_named;
    let (repository, branch) = match &trigger.branch {
        Some(branch) => (trigger.repository.clone(), Some(branch.clone())),
        None if chose_other_repository => (trigger.repository.clone(), None),
        None => match source.resolve_branch(&trigger.source).await? {
            Some(head) => (
                head.fork.or_else(|| trigger.repository.clone()),
                Some(head.branch),
            ),
            None => (trigger.repository.clone(), None),
        },
    };
    let earlier = run
        .previous_conversation_id
        .as_deref()
        .map(|id| services.conversations.conversation_link(id));
    let request = StartConversation {
        conversation_id: run.conversation_id.clone(),
        initial_message: prompt::initial_message(trigger, &run.options, &context, earlier.as_deref()),
        selected_repository: repository,
        selected_branch: branch,
        git_provider: Some(trigger.git_provider.clone()),
        title: trigger.title.clone(),
        trigger: trigger.provider.conversation_trigger().to_owned(),
        llm_model: run.options.model.clone(),
    };
    // Written before the request, so that a retry after a lost answer looks for this start first.
    run.start_requested_at = Some(services.now());
    save(services, &mut run).await?;
    match services.conversations.start(&auth, &request).await {
        Ok(task) => {
            info!(start_task_id = %task.id, "conversation start accepted");
            if let Err(err) = source.run_started(&trigger.source).await {
                warn!(error = %err, "could not mark the work as started on the source");
            }
            follow_start(services, run, task).await
        }
        Err(err) if err.is_transient() && !final_attempt => Err(err.into()),
        Err(err) => start_failed(services, run, &short_reason(&err)).await,
    }
}

/// Read the person's options and apply them to the trigger: a repository other than the one it had counts as
/// named in the message (only the person's own identity works on it), a branch replaces the source's, a model
/// must be on the operator's list. A refusal is the reply to post. The prompt leaves the options out.
fn choose(settings: &Settings, trigger: &mut Trigger) -> Result<RequestOptions, options::Refusal> {
    let chosen = options::read(trigger.prompt.asking_text(), &trigger.git_provider)?;
    if let Some(form) = &trigger.prompt.request_mention_form {
        if let Err(refusal @ options::Refusal::Unknown(_)) = options::read(form, &trigger.git_provider) {
            return Err(refusal);
        }
    }
    if let Some(model) = &chosen.model {
        options::allow_model(model, &settings.models)?;
    }
    if let Some(repo) = &chosen.repo {
        let current = trigger.repository.as_ref().map(|repository| RepoRef {
            repository: repository.clone(),
            git_provider: trigger.git_provider.clone(),
        });
        if !current.is_some_and(|current| current.is_same(repo)) {
            trigger.repository = Some(repo.repository.clone());
            trigger.git_provider = repo.git_provider.clone();
            trigger.repository_named = true;
            trigger.branch = None;
        }
    }
    if let Some(branch) = &chosen.branch {
        trigger.branch = Some(branch.clone());
    }
    Ok(chosen)
}

/// Record the start task; from here the sweep and the callbacks follow the conversation.
async fn follow_start(
    services: &WorkerServices,
    mut run: RunRecord,
    task: StartTask,
) -> Result<(), ProcessError> {
    if task.is_error() {
        let detail = task.detail.unwrap_or_else(|| "the start task failed".into());
        return start_failed(services, run, &detail).await;
    }
    run.start_task_id = Some(task.id);
    if task.agent_server_url.is_some() {
        run.agent_server_url = task.agent_server_url;
    }
    run.state = RunState::Starting;
    run.deadline_at = services.now() + services.settings.stall_timeout.as_secs();
    save(services, &mut run).await
}

async fn start_failed(services: &WorkerServices, run: RunRecord, detail: &str) -> Result<(), ProcessError> {
    conclude::conclude(services, run, Outcome::StartFailed(detail.to_owned()))
        .await
        .map(drop)
}

/// Conditional write; losing the race means another worker moved the run on, so retry from the top.
async fn save(services: &WorkerServices, run: &mut RunRecord) -> Result<(), ProcessError> {
    run.updated_at = services.now();
    if services.runs.update_run(run).await? {
        Ok(())
    } else {
        Err(ProcessError::Transient("run changed concurrently".into(), None))
    }
}

/// What became of a mention on a thread whose run is still open.
enum FollowUp {
    /// Sent to the agent, or kept with the run until its conversation exists.
    Handled,
    /// The run's conversation has ended or is gone: the mention starts a new run.
    Ended,
}

/// The answer to an unlinked person who names a repository while only the shared default identity could work.
const SHARED_IDENTITY_REPOS: &str =
    "Under the shared identity I work only on the repository configured here, not \
    on one named in a message. Link your account to your own OpenHands identity (ask an admin), or ask again \
    without naming a repository.";

/// The answer to someone who mentions the bot on a thread whose active run another person started.
const NOT_THEIR_RUN: &str = "I can't pass this on: the agent's current run on this thread was started by someone \
    else, and only they or a maintainer can add to it. Once it has finished, mention me again to start your own.";

const OPTIONS_WHILE_RUNNING: &str =
    "I passed your message on to the run already working on this thread; it keeps \
    the repository, branch and model it started with. Options take effect when you start a new run.";

/// Most follow-ups kept with a run while its conversation starts.
const MAX_PENDING_MESSAGES: usize = 20;

/// How long a follow-up is claimed while it is being sent; a crash before it is recorded as done lets a
/// redelivery send it after this.
const FOLLOW_UP_LEASE: std::time::Duration = std::time::Duration::from_secs(300);

async fn follow_up(
    services: &WorkerServices,
    module: &dyn ProviderModule,
    trigger: &Trigger,
    active: RunRecord,
    final_attempt: bool,
) -> Result<FollowUp, ProcessError> {
    let key = format!("followup#{}", trigger.run_key);
    let now = services.now();
    if services.deliveries.claim(&key, now, FOLLOW_UP_LEASE).await? == Claim::Duplicate {
        return Ok(FollowUp::Handled);
    }
    let result = hand_over(services, trigger, active, final_attempt).await;
    match &result {
        Ok(_) => {
            let _ = services
                .deliveries
                .complete(&key, services.now(), services.settings.delivery_ttl)
                .await;
        }
        Err(_) => {
            let _ = services.deliveries.release(&key).await;
        }
    }
    if matches!(result, Ok(FollowUp::Handled)) {
        if let Err(err) = module.source().acknowledge(&trigger.source).await {
            warn!(error = %err, "could not add the reaction");
        }
    }
    result
}

/// Get the follow-up to the agent: send it now, keep it with the run until the conversation exists, or say
/// that the conversation has ended.
async fn hand_over(
    services: &WorkerServices,
    trigger: &Trigger,
    mut active: RunRecord,
    final_attempt: bool,
) -> Result<FollowUp, ProcessError> {
    let text = prompt::follow_up_message(trigger);
    let auth = services.openhands_auth(active.api_key_secret.as_deref()).await?;
    for _ in 0..5 {
        match active.state {
            RunState::Concluding | RunState::Reported | RunState::Failed => {
                info!(active_conversation = %active.conversation_id, "the thread's conversation has ended; starting a new run");
                return Ok(FollowUp::Ended);
            }
            RunState::Claimed | RunState::Starting => {
                if active.state == RunState::Starting {
                    // It may exist by now: look, and let the reading move the run on.
                    let reading = services
                        .conversations
                        .status(&auth, &active.conversation_id)
                        .await?;
                    if reading.is_some() {
                        super::reconcile::apply(services, &auth, active.clone(), reading).await?;
                        active = reload(services, &active.conversation_id).await?;
                        continue;
                    }
                }
                if active.pending_messages.len() >= MAX_PENDING_MESSAGES {
                    return Err(ProcessError::Permanent(
                        "too many follow-ups wait for this run".into(),
                    ));
                }
                active.pending_messages.push(text.clone());
                active.updated_at = services.now();
                if services.runs.update_run(&mut active).await? {
                    info!(active_conversation = %active.conversation_id, "kept the follow-up until the conversation exists");
                    return Ok(FollowUp::Handled);
                }
                active = reload(services, &active.conversation_id).await?;
            }
            RunState::Running => {
                match services
                    .conversations
                    .send_message(&auth, &active.conversation_id, &text)
                    .await?
                {
                    MessageDelivery::Delivered => {
                        info!(active_conversation = %active.conversation_id, "sent as a follow-up to the running conversation");
                        return Ok(FollowUp::Handled);
                    }
                    MessageDelivery::SandboxNotRunning if !final_attempt => {
                        resume_if_paused(services, &auth, &active).await;
                        return Err(ProcessError::Transient(
                            "the sandbox is not running yet".into(),
                            Some(std::time::Duration::from_secs(5)),
                        ));
                    }
                    // Out of retries, or the conversation is not listed although it was: keep the message with
                    // the run, so the next reading that finds the sandbox running sends it.
                    MessageDelivery::SandboxNotRunning | MessageDelivery::NotYet => {
                        active.pending_messages.push(text.clone());
                        active.updated_at = services.now();
                        if services.runs.update_run(&mut active).await? {
                            return Ok(FollowUp::Handled);
                        }
                        active = reload(services, &active.conversation_id).await?;
                    }
                    MessageDelivery::Gone => {
                        info!(active_conversation = %active.conversation_id, "the conversation's sandbox is gone");
                        conclude::conclude(
                            services,
                            active,
                            Outcome::SandboxLost("the sandbox is gone".into()),
                        )
                        .await?;
                        return Ok(FollowUp::Ended);
                    }
                }
            }
        }
    }
    Err(ProcessError::Transient("the run kept changing".into(), None))
}

/// Wake a paused sandbox so it can take the message (best effort; the retry tells).
async fn resume_if_paused(services: &WorkerServices, auth: &crate::ports::OpenHandsAuth, run: &RunRecord) {
    let reading = match services.conversations.status(auth, &run.conversation_id).await {
        Ok(reading) => reading,
        Err(err) => {
            warn!(error = %err, "could not read the sandbox status");
            return;
        }
    };
    let Some(reading) = reading else { return };
    if !reading
        .sandbox_status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("PAUSED"))
    {
        return;
    }
    let sandbox_id = reading
        .sandbox_id
        .clone()
        .unwrap_or_else(|| run.conversation_id.clone());
    match services.conversations.resume_sandbox(auth, &sandbox_id).await {
        Ok(()) => info!(sandbox_id = %sandbox_id, "resumed the paused sandbox"),
        Err(err) => warn!(error = %err, "could not resume the sandbox"),
    }
}

async fn reload(services: &WorkerServices, conversation_id: &str) -> Result<RunRecord, ProcessError> {
    services
        .runs
        .get_run(conversation_id)
        .await?
        .ok_or_else(|| ProcessError::Transient("run vanished".into(), None))
}

async fn notify_unlinked(
    services: &WorkerServices,
    module: &dyn ProviderModule,
    trigger: &Trigger,
) -> Result<(), ProcessError> {
    info!(
        decision = "unlinked",
        "person is not linked to an OpenHands identity"
    );
    let mut text = module.unlinked_notice(trigger);
    if let Some(link) = invitation_link(services, trigger).await {
        text.push_str(&format!(
            "\n\nOr link it yourself: [sign in and link your account]({link}) (valid for {} hours, \
             for @{} only).",
            services.invites.as_ref().map_or(0, |i| i.ttl.as_secs() / 3600),
            trigger.actor.login
        ));
    }
    post_notice_once(services, module, &trigger.source, &trigger.run_key, &text).await
}

/// A link inviting the person to link themselves, where the console can take them. Without its key the notice
/// goes out without one rather than not at all.
async fn invitation_link(services: &WorkerServices, trigger: &Trigger) -> Option<String> {
    let invites = services.invites.as_ref()?;
    let client_secret = invites.client_secret_of(trigger.provider)?;
    if services.secrets.get(client_secret).await.is_err() {
        // No sign-in to send anyone to (a GitHub App configured by hand without its client secret).
        return None;
    }
    let key = match services.secrets.get(&invites.key_secret).await {
        Ok(key) => key,
        Err(err) => {
            warn!(error = %err, "no invitation key; the notice goes without a link");
            return None;
        }
    };
    let invitation = Invitation::new(
        trigger.provider,
        &trigger.tenant,
        &trigger.actor.id,
        &trigger.actor.login,
        services.now() + invites.ttl.as_secs(),
    );
    Some(invites.link(&invitation, &key))
}

/// How long a notice is claimed while it is being posted; a crash before it is recorded as done lets a
/// redelivery post it after this.
const NOTICE_LEASE: std::time::Duration = std::time::Duration::from_secs(300);

/// Post a notice at most once per `key`, across retries and redeliveries.
pub(super) async fn post_notice_once(
    services: &WorkerServices,
    module: &dyn ProviderModule,
    source: &SourceRef,
    key: &str,
    text: &str,
) -> Result<(), ProcessError> {
    let key = format!("notice#{key}");
    let now = services.now();
    if services.deliveries.claim(&key, now, NOTICE_LEASE).await? == Claim::Duplicate {
        return Ok(());
    }
    match module.source().post_notice(source, text).await {
        Ok(()) => {
            let _ = services
                .deliveries
                .complete(&key, services.now(), services.settings.delivery_ttl)
                .await;
            Ok(())
        }
        Err(err) => {
            let _ = services.deliveries.release(&key).await;
            Err(err.into())
        }
    }
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
