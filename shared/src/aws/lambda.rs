//! Lambda edge glue: the AWS twin of the local host's wiring. Each function's `main` loads [`Config`] and
//! [`AwsConfig`], builds its [`Services`] once per cold start with [`webhook_services`] or [`full_services`],
//! and hands one of the handlers here to `lambda_http::run` / `lambda_runtime::run`:
//!
//! - [`http_handler`]: API Gateway HTTP API (payload v2) and REST API (v1) requests, routed by path suffix to
//!   the webhook or the callback handler. The body is taken as raw bytes, so signatures are checked on exactly
//!   what the provider sent (lambda_http has already undone any base64 transport encoding).
//! - [`sqs_handler`]: SQS batches for the worker, with partial batch failures that respect FIFO order and the
//!   invocation's deadline.
//! - [`sweep_handler`]: the EventBridge schedule.
//! - [`callback_handler`]: the callback function's single entry point, which receives both API Gateway
//!   requests and the schedule and answers each in the format its caller expects.
//!
//! Nothing here decides anything about a webhook; it only translates Lambda events to the shared handlers'
//! framework-neutral types and back.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_http::{request::LambdaRequest, tower::ServiceExt, Adapter, Body, Request, Response};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::value::RawValue;
use tracing::{error, info, info_span, warn, Instrument};

use super::{DynamoStore, SecretsManagerSecrets, SqsQueue};
use crate::{
    assemble::{self, Adapters},
    clock::SystemClock,
    config::{Config, ConfigError},
    domain::{IdentityLink, Provider, QueueMessage, RunRecord, RunState, SourceRef, StatusRef},
    error::{Disposition, PortError, WebhookError},
    handlers::{
        callback,
        sweep::{self, SweepReport},
        webhook, worker, Services,
    },
    http::HttpRequest,
    jira::client::IssueReader,
    ports::{
        Claim, ClaimThenSend, ContextMessage, ConversationStatus, Conversations, IdentityStore, Inbox,
        MessageDelivery, OpenHandsAuth, RunStore, Secrets, SourceClient, StartConversation, StartTask,
        ThreadClaim,
    },
};

/// Default lifetime of a cached secret (`HOOKLINE_SECRETS_TTL_SECS`).
const DEFAULT_SECRETS_TTL_SECS: u64 = 300;

/// The AWS resources a function uses, from its environment (the names come from the SAM template).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsConfig {
    /// DynamoDB table of the [`DynamoStore`] (`HOOKLINE_TABLE`, required).
    pub table: String,
    /// URL of the SQS FIFO work queue (`HOOKLINE_QUEUE_URL`); only webhook functions send, so only they
    /// require it (see [`AwsConfig::queue_url`]).
    pub queue_url: Option<String>,
    /// How long a secret read from Secrets Manager is served from memory (`HOOKLINE_SECRETS_TTL_SECS`,
    /// default 300), so a rotation takes effect within this bound without a redeploy.
    pub secrets_ttl: Duration,
}

impl AwsConfig {
    /// Load from the process environment; blank values count as missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Load from any lookup (tests pass a map); blank values count as missing.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let table = get("HOOKLINE_TABLE").ok_or(ConfigError::Missing("HOOKLINE_TABLE"))?;
        let secrets_ttl = match get("HOOKLINE_SECRETS_TTL_SECS") {
            None => DEFAULT_SECRETS_TTL_SECS,
            Some(raw) => raw
                .parse()
                .map_err(|err: std::num::ParseIntError| ConfigError::Invalid {
                    name: "HOOKLINE_SECRETS_TTL_SECS",
                    reason: err.to_string(),
                })?,
        };
        Ok(Self {
            table,
            queue_url: get("HOOKLINE_QUEUE_URL"),
            secrets_ttl: Duration::from_secs(secrets_ttl),
        })
    }

    /// The work queue's URL, or the error naming the setting a webhook function is missing.
    pub fn queue_url(&self) -> Result<&str, ConfigError> {
        self.queue_url
            .as_deref()
            .ok_or(ConfigError::Missing("HOOKLINE_QUEUE_URL"))
    }
}

/// Why a function could not be wired at cold start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A setting is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The outbound HTTP client (provider APIs, OpenHands) could not be built.
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// No provider is configured (e.g. `GITHUB_APP_ID` is unset).
    #[error("no provider is configured: set GITHUB_APP_ID (or another provider's settings)")]
    NoProvider,
}

/// Services for a webhook function: verify, dedupe, enqueue. Only the inbox (a DynamoDB claim, then an SQS
/// send), the secrets and the provider modules' intake are used there, so every other port is a
/// [`NotInThisFunction`] adapter. In particular no provider API or OpenHands client is constructed, which keeps
/// reqwest and the API clients out of the webhook binary (smaller package, faster cold start).
///
/// Every configured provider's intake is wired (each provider's function is configured with its own
/// provider's settings only). Intake makes no API calls (Jira's issue descriptions are read by the worker).
///
/// Fails, naming the setting, without `HOOKLINE_QUEUE_URL`, or when no provider is configured.
pub fn webhook_services(config: &Config, aws: &AwsConfig, sdk: &SdkConfig) -> Result<Services, SetupError> {
    let queue_url = aws.queue_url()?;
    let store = Arc::new(DynamoStore::from_conf(sdk, &aws.table));
    let secrets = Arc::new(secrets(aws, sdk));
    let absent = Arc::new(NotInThisFunction::new("webhook"));
    let secrets_port: Arc<dyn Secrets> = secrets.clone();
    let providers = assemble::provider_modules(config, &secrets_port, &NoApiClients(absent.clone()));
    if providers.is_empty() {
        // A webhook function without its provider would answer 404 to every delivery.
        return Err(SetupError::NoProvider);
    }
    Ok(Services {
        deliveries: store.clone(),
        runs: absent.clone(),
        identities: absent.clone(),
        inbox: Arc::new(ClaimThenSend {
            deliveries: store,
            queue: Arc::new(SqsQueue::from_conf(sdk, queue_url)),
        }),
        secrets,
        conversations: absent,
        providers,
        clock: Arc::new(SystemClock),
        settings: config.settings.clone(),
        lookups: Default::default(),
    })
}

/// The whole main of a provider's webhook function: settings and clients once per cold start, then every
/// request through [`http_handler`]. Each provider's function is the same code configured with its own
/// provider's settings (and IAM access to that provider's secrets only).
pub async fn run_webhook_function() -> Result<(), lambda_http::Error> {
    super::logging::init_tracing();
    let config = Config::from_env()?;
    let aws = AwsConfig::from_env()?;
    let services = webhook_services(&config, &aws, &super::sdk_config().await)?;
    let services = &services;
    lambda_http::run(lambda_http::service_fn(|request: Request| async move {
        Ok::<_, Infallible>(http_handler(services, request).await)
    }))
    .await
}

/// Services for the worker and callback functions: every store on DynamoDB, secrets from Secrets Manager,
/// the provider modules and the OpenHands client through [`assemble::services`]. They never enqueue, so the
/// inbox is a [`NotInThisFunction`] adapter and `HOOKLINE_QUEUE_URL` is not needed.
///
/// Fails when no provider is configured (every envelope would be dropped, every run left unreported).
pub fn full_services(config: &Config, aws: &AwsConfig, sdk: &SdkConfig) -> Result<Services, SetupError> {
    let store = Arc::new(DynamoStore::from_conf(sdk, &aws.table));
    let adapters = Adapters {
        deliveries: store.clone(),
        runs: store.clone(),
        identities: store,
        inbox: Arc::new(NotInThisFunction::new("worker/callback")),
        secrets: Arc::new(secrets(aws, sdk)),
        clock: Arc::new(SystemClock),
    };
    let services = assemble::services(config, adapters, assemble::http_client(config)?);
    if services.providers.is_empty() {
        return Err(SetupError::NoProvider);
    }
    Ok(services)
}

fn secrets(aws: &AwsConfig, sdk: &SdkConfig) -> SecretsManagerSecrets {
    SecretsManagerSecrets::with_clock(
        aws_sdk_secretsmanager::Client::new(sdk),
        aws.secrets_ttl,
        Arc::new(SystemClock),
    )
}

// ---- HTTP (API Gateway) ----

/// Answer one API Gateway request (HTTP API v2 or REST v1; lambda_http normalizes both into a
/// [`Request`]). Routes on the path's suffix, so a stage prefix (`/prod/webhooks/github`) or a custom-domain
/// base path does not matter: the callback routes go to [`callback::handle`], `…/webhooks/{provider}` to
/// [`webhook::handle`], anything else is 404. Never fails: every error already is its HTTP answer.
pub async fn http_handler(services: &Services, request: Request) -> Response<Body> {
    let path = request.uri().path();
    let http_request = HttpRequest {
        method: request.method().as_str(),
        path,
        headers: request.headers(),
        body: request.body().as_ref(),
    };
    // Callback paths first: `/api/v1/webhooks/conversations` would otherwise look like a provider route.
    let reply = if callback::is_callback_path(path) {
        callback::handle(services, http_request).await
    } else if let Some(provider) = webhook_provider(path) {
        webhook::handle(services, provider, http_request).await.reply
    } else {
        WebhookError::NotFound.into_reply()
    };
    reply.into_response()
}

/// The `{provider}` of a path ending in `/webhooks/{provider}` or `/webhooks/{provider}/{tenant}` (an optional
/// trailing slash allowed). The module reads the tenant from the path itself.
fn webhook_provider(path: &str) -> Option<&str> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let (prefix, last) = path.rsplit_once('/')?;
    if prefix.ends_with("/webhooks") && !last.is_empty() {
        return Some(last);
    }
    let (prefix, provider) = prefix.rsplit_once('/')?;
    (prefix.ends_with("/webhooks") && !provider.is_empty() && !last.is_empty()).then_some(provider)
}

/// Builds no API clients: the webhook functions only verify and enqueue.
struct NoApiClients(Arc<NotInThisFunction>);

impl assemble::ApiClients for NoApiClients {
    fn github(&self, _: &crate::github::GithubConfig) -> Arc<dyn SourceClient> {
        self.0.clone()
    }
    fn gitlab(&self, _: &crate::gitlab::GitlabConfig) -> Arc<dyn SourceClient> {
        self.0.clone()
    }
    fn slack(&self, _: &crate::slack::SlackConfig) -> Arc<dyn SourceClient> {
        self.0.clone()
    }
    fn jira(&self, _: &crate::jira::JiraConfig) -> (Arc<dyn SourceClient>, Option<Arc<dyn IssueReader>>) {
        (self.0.clone(), None)
    }
    fn linear(&self, _: &crate::linear::LinearConfig) -> Arc<dyn SourceClient> {
        self.0.clone()
    }
}

// ---- Schedule (EventBridge) ----

/// Run one sweep (the EventBridge schedule's invocation) and return its [`SweepReport`] as JSON
/// (`{"examined": …, "concluded": …, "failed": …}`), which ends up in the invocation log.
pub async fn sweep_handler(services: &Services) -> serde_json::Value {
    report_json(&sweep::sweep(services).await)
}

fn report_json(report: &SweepReport) -> serde_json::Value {
    serde_json::json!({
        "examined": report.examined,
        "concluded": report.concluded,
        "failed": report.failed,
        "deferred": report.deferred,
    })
}

/// The two top-level fields that tell an EventBridge event from an API Gateway request (which has neither).
#[derive(Deserialize)]
struct EventHead {
    #[serde(rename = "detail-type", default)]
    detail_type: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

/// Whether a raw invocation payload is the EventBridge schedule (`"source": "aws.events"`,
/// `"detail-type": "Scheduled Event"`).
pub fn is_scheduled_event(payload: &str) -> bool {
    serde_json::from_str::<EventHead>(payload).is_ok_and(|head| {
        head.source.as_deref() == Some("aws.events") || head.detail_type.as_deref() == Some("Scheduled Event")
    })
}

/// The callback function's entry point: one function receives the agent server's callbacks through API
/// Gateway and the sweep schedule through EventBridge, so it dispatches on the raw event. A schedule runs
/// [`sweep_handler`]; anything else must be an API Gateway request, which goes through [`http_handler`] and
/// is answered in the format of the request's payload version (lambda_http's own [`Adapter`], the same one
/// `lambda_http::run` uses). An event that is neither is an invocation error.
pub async fn callback_handler(
    services: &Services,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let LambdaEvent { payload, context } = event;
    if is_scheduled_event(payload.get()) {
        return Ok(sweep_handler(services).await);
    }
    let request: LambdaRequest = serde_json::from_str(payload.get())?;
    let adapter = Adapter::from(lambda_http::service_fn(|request: Request| async move {
        Ok::<_, Infallible>(http_handler(services, request).await)
    }));
    let response = adapter.oneshot(LambdaEvent::new(request, context)).await?;
    Ok(serde_json::to_value(response)?)
}

// ---- SQS (worker) ----

/// One record of a batch, as the worker needs it.
struct Record {
    /// Position in the batch, to report failures in batch order.
    index: usize,
    message_id: Option<String>,
    receipt_handle: Option<String>,
    body: String,
    receive_count: u32,
}

impl Record {
    fn from_message(index: usize, message: SqsMessage) -> Self {
        let receive_count = match message.attributes.get("ApproximateReceiveCount") {
            Some(raw) => raw.parse().unwrap_or_else(|_| {
                warn!(message_id = ?message.message_id, raw, "unreadable ApproximateReceiveCount; assuming 1");
                1
            }),
            None => 1,
        };
        Self {
            index,
            message_id: message.message_id,
            receipt_handle: message.receipt_handle,
            body: message.body.unwrap_or_default(),
            receive_count,
        }
    }
}

/// Process an SQS batch and report which records must be retried (`ReportBatchItemFailures`).
///
/// Records of different message groups run concurrently; records of one group run in batch order. When a
/// record must be retried, it and every later record of its group go back to the queue unprocessed, as a FIFO
/// queue requires. Each group runs in its own task, so a panic while processing a record fails only that
/// group's remaining records (from the one that panicked on), never the rest of the batch. Records without a
/// `messageId` cannot be reported; a failure among them is logged as lost. With `queue` (the worker's own queue),
/// records going back after a `Retry-After` come back when it says (see `redeliver_later`).
///
/// A record is not started with less than `start_margin` (see [`start_margin`]) left before the invocation's
/// deadline: it and the rest of its group go back to the queue (at once, with `queue`), while the records
/// already started finish, so the function answers before Lambda times it out and fails the whole batch. A
/// context without a deadline (`0`, as `Context::default()` has) sets no limit.
pub async fn sqs_handler(
    services: &Services,
    queue: Option<&SqsQueue>,
    start_margin: Duration,
    event: LambdaEvent<SqsEvent>,
) -> SqsBatchResponse {
    let cutoff = StartCutoff::new(event.context.deadline, start_margin);
    // Group in batch order; a record without a group (standard queue) is its own group.
    let mut groups: Vec<Vec<Record>> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    for (index, message) in event.payload.records.into_iter().enumerate() {
        let existing = match message.attributes.get("MessageGroupId") {
            Some(group) => {
                let existing = group_of.get(group).copied();
                if existing.is_none() {
                    group_of.insert(group.clone(), groups.len());
                }
                existing
            }
            None => None,
        };
        let record = Record::from_message(index, message);
        match existing {
            Some(slot) => groups[slot].push(record),
            None => groups.push(vec![record]),
        }
    }

    let mut running = Vec::with_capacity(groups.len());
    for records in groups {
        // Kept outside the task, so the records it did not finish can be reported even if it panics.
        let reportable: Vec<(usize, Option<String>, Option<String>)> = records
            .iter()
            .map(|r| (r.index, r.message_id.clone(), r.receipt_handle.clone()))
            .collect();
        let completed = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(run_group(services.clone(), records, completed.clone(), cutoff));
        running.push((task, completed, reportable));
    }

    let mut failed: Vec<(usize, Option<String>)> = Vec::new();
    let mut delayed: Vec<(Option<String>, Duration)> = Vec::new();
    for (task, completed, reportable) in running {
        let outcome = match task.await {
            Ok(outcome) => outcome,
            Err(join_error) => {
                let completed = completed.load(Ordering::SeqCst);
                error!(
                    error = %join_error,
                    message_id = ?reportable.get(completed).and_then(|(_, id, _)| id.as_deref()),
                    "processing a message panicked; it and the rest of its group go back to the queue"
                );
                GroupOutcome {
                    completed,
                    retry_after: None,
                }
            }
        };
        for (index, message_id, receipt_handle) in reportable.into_iter().skip(outcome.completed) {
            if let Some(after) = outcome.retry_after {
                delayed.push((receipt_handle, after));
            }
            failed.push((index, message_id));
        }
    }
    failed.sort_by_key(|(index, _)| *index);
    if let Some(queue) = queue {
        redeliver_later(queue, &delayed).await;
    }

    let mut response = SqsBatchResponse::default();
    for (index, message_id) in failed {
        match message_id {
            Some(id) => response.add_failure(id),
            None => error!(
                batch_index = index,
                "a record without messageId must be retried but cannot be reported; it is lost"
            ),
        }
    }
    response
}

/// How long before an invocation's deadline the worker stops starting records: one record that meets a stalled
/// OpenHands request and a stalled provider API request, each running to its timeout, still finishes in time.
/// Records slower than that are rare enough to leave to the function timeout (and the visibility timeout).
pub fn start_margin(config: &Config) -> Duration {
    config.openhands.request_timeout + crate::outbound::REQUEST_TIMEOUT
}

/// The last moment a record may start: the invocation's deadline (epoch milliseconds) less the start margin.
#[derive(Clone, Copy, Debug)]
struct StartCutoff {
    deadline_ms: u64,
    margin: Duration,
}

impl StartCutoff {
    /// `None` for a context without a deadline.
    fn new(deadline_ms: u64, margin: Duration) -> Option<Self> {
        (deadline_ms > 0).then_some(Self { deadline_ms, margin })
    }

    /// Whether less than the margin is left at `now_ms`.
    fn passed(&self, now_ms: u64) -> bool {
        let margin_ms = u64::try_from(self.margin.as_millis()).unwrap_or(u64::MAX);
        now_ms.saturating_add(margin_ms) > self.deadline_ms
    }
}

/// How far a group got: records processed, and when the records going back (the rest) should come back
/// (`None`: when the visibility timeout runs out).
struct GroupOutcome {
    completed: usize,
    retry_after: Option<Duration>,
}

/// Process one group's records in order until one must be retried or `cutoff` has passed; returns how many were
/// completed (all of them, or the position of the first to retry or not started). `completed` is updated as it
/// goes, for the panic path.
async fn run_group(
    services: Services,
    records: Vec<Record>,
    completed: Arc<AtomicUsize>,
    cutoff: Option<StartCutoff>,
) -> GroupOutcome {
    for (position, record) in records.iter().enumerate() {
        if cutoff.is_some_and(|cutoff| cutoff.passed(services.clock.now_millis())) {
            warn!(
                message_id = record.message_id.as_deref().unwrap_or(""),
                not_started = records.len() - position,
                "too close to the invocation deadline; handing this and the later messages of its group back"
            );
            // Nothing was tried, so nothing to wait out: back at once (when the queue can be told so).
            return GroupOutcome {
                completed: position,
                retry_after: Some(Duration::ZERO),
            };
        }
        let span = info_span!(
            "sqs_record",
            message_id = record.message_id.as_deref().unwrap_or(""),
            receive_count = record.receive_count
        );
        let disposition = worker::process(&services, &record.body, record.receive_count)
            .instrument(span.clone())
            .await;
        match disposition {
            Disposition::Done => {
                completed.store(position + 1, Ordering::SeqCst);
            }
            Disposition::Retry { after } => {
                info!(
                    parent: &span,
                    retry_after_secs = after.map(|a| a.as_secs()),
                    later_in_group = records.len() - position - 1,
                    "message will be retried; later messages of its group wait for it"
                );
                return GroupOutcome {
                    completed: position,
                    retry_after: after,
                };
            }
        }
    }
    GroupOutcome {
        completed: records.len(),
        retry_after: None,
    }
}

/// Honour a remote's `Retry-After` (or rate-limit reset) for the records going back to the queue: they become
/// visible again then, rather than when the queue's visibility timeout runs out, which may be too early (a
/// rate-limit reset an hour away would burn every receive and dead-letter the message) or needlessly late.
/// All of a group's returned records get the same delay, as FIFO holds the group until every one is visible.
/// Records handed back unstarted near the deadline come back at once. Failing to change it only means the
/// visibility timeout applies.
async fn redeliver_later(queue: &SqsQueue, records: &[(Option<String>, Duration)]) {
    for (receipt_handle, delay) in records {
        let Some(receipt_handle) = receipt_handle else {
            continue;
        };
        if let Err(err) = queue.redeliver_after(receipt_handle, *delay).await {
            warn!(error = %err, delay_secs = delay.as_secs(), "could not set when the message comes back; the visibility timeout applies");
        }
    }
}

// ---- Ports a function does not use ----

/// A port a function is deliberately wired without (e.g. the OpenHands client in a webhook function). Every
/// call fails permanently, naming the function, so a handler that unexpectedly needs it fails loudly instead
/// of the function carrying code it should not need.
#[derive(Clone, Copy, Debug)]
pub struct NotInThisFunction {
    function: &'static str,
}

impl NotInThisFunction {
    /// The adapter for the function named `function` (used in error messages).
    pub const fn new(function: &'static str) -> Self {
        Self { function }
    }

    fn error(&self, port: &str) -> PortError {
        PortError::permanent(port, format!("not available in the {} function", self.function))
    }
}

#[async_trait]
impl Inbox for NotInThisFunction {
    async fn accept(&self, _: &str, _: u64, _: Duration, _: QueueMessage) -> Result<Claim, PortError> {
        Err(self.error("inbox"))
    }
}

#[async_trait]
impl RunStore for NotInThisFunction {
    async fn insert_run(&self, _: &RunRecord) -> Result<bool, PortError> {
        Err(self.error("run store"))
    }
    async fn get_run(&self, _: &str) -> Result<Option<RunRecord>, PortError> {
        Err(self.error("run store"))
    }
    async fn update_run(&self, _: &mut RunRecord) -> Result<bool, PortError> {
        Err(self.error("run store"))
    }
    async fn runs_in_states(&self, _: &[RunState], _: usize) -> Result<Vec<RunRecord>, PortError> {
        Err(self.error("run store"))
    }
    async fn claim_thread(&self, _: &str, _: &str) -> Result<ThreadClaim, PortError> {
        Err(self.error("run store"))
    }
    async fn release_thread(&self, _: &str, _: &str) -> Result<(), PortError> {
        Err(self.error("run store"))
    }
}

#[async_trait]
impl IdentityStore for NotInThisFunction {
    async fn get_link(&self, _: Provider, _: &str, _: &str) -> Result<Option<IdentityLink>, PortError> {
        Err(self.error("identity store"))
    }
    async fn put_link(&self, _: &IdentityLink) -> Result<(), PortError> {
        Err(self.error("identity store"))
    }
    async fn remove_link(&self, _: Provider, _: &str, _: &str) -> Result<bool, PortError> {
        Err(self.error("identity store"))
    }
    async fn list_links(&self) -> Result<Vec<IdentityLink>, PortError> {
        Err(self.error("identity store"))
    }
}

#[async_trait]
impl Conversations for NotInThisFunction {
    async fn start(&self, _: &OpenHandsAuth, _: &StartConversation) -> Result<StartTask, PortError> {
        Err(self.error("OpenHands"))
    }
    async fn statuses(
        &self,
        _: &OpenHandsAuth,
        _: &[String],
    ) -> Result<Vec<Option<ConversationStatus>>, PortError> {
        Err(self.error("OpenHands"))
    }
    async fn start_task(&self, _: &OpenHandsAuth, _: &str) -> Result<Option<StartTask>, PortError> {
        Err(self.error("OpenHands"))
    }
    async fn find_start_task(
        &self,
        _: &OpenHandsAuth,
        _: &str,
        _: u64,
    ) -> Result<Option<StartTask>, PortError> {
        Err(self.error("OpenHands"))
    }
    async fn resume_sandbox(&self, _: &OpenHandsAuth, _: &str) -> Result<(), PortError> {
        Err(self.error("OpenHands"))
    }
    async fn set_title(&self, _: &OpenHandsAuth, _: &str, _: &str) -> Result<(), PortError> {
        Err(self.error("OpenHands"))
    }
    async fn send_message(&self, _: &OpenHandsAuth, _: &str, _: &str) -> Result<MessageDelivery, PortError> {
        Err(self.error("OpenHands"))
    }
    async fn ask_agent(&self, _: &ConversationStatus, _: &str, _: &str) -> Result<String, PortError> {
        Err(self.error("OpenHands"))
    }
    fn conversation_link(&self, _: &str) -> String {
        String::new()
    }
}

#[async_trait]
impl SourceClient for NotInThisFunction {
    async fn may_trigger(&self, _: &SourceRef, _: &str) -> Result<bool, PortError> {
        Err(self.error("provider API"))
    }
    async fn acknowledge(&self, _: &SourceRef) -> Result<(), PortError> {
        Err(self.error("provider API"))
    }
    async fn post_status(&self, _: &SourceRef, _: &str, _: &str) -> Result<StatusRef, PortError> {
        Err(self.error("provider API"))
    }
    async fn find_status(&self, _: &SourceRef, _: &str) -> Result<Option<StatusRef>, PortError> {
        Err(self.error("provider API"))
    }
    async fn edit_status(&self, _: &SourceRef, _: &StatusRef, _: &str, _: &str) -> Result<(), PortError> {
        Err(self.error("provider API"))
    }
    async fn post_notice(&self, _: &SourceRef, _: &str) -> Result<(), PortError> {
        Err(self.error("provider API"))
    }
    async fn thread_context(&self, _: &SourceRef, _: u64) -> Result<Vec<ContextMessage>, PortError> {
        Err(self.error("provider API"))
    }
    async fn resolve_branch(&self, _: &SourceRef) -> Result<Option<String>, PortError> {
        Err(self.error("provider API"))
    }
}

#[cfg(test)]
mod tests {
    use http::{header::CONTENT_TYPE, StatusCode};

    use super::*;
    use crate::http::HttpReply;

    fn aws(pairs: &[(&str, &str)]) -> Result<AwsConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AwsConfig::from_lookup(move |k| map.get(k).cloned())
    }

    #[test]
    fn records_start_only_with_the_margin_left() {
        let margin = Duration::from_secs(50);
        assert!(
            StartCutoff::new(0, margin).is_none(),
            "no deadline (Context::default()), no limit"
        );
        let cutoff = StartCutoff::new(1_000_000, margin).expect("a deadline");
        assert!(!cutoff.passed(900_000), "100 s left");
        assert!(!cutoff.passed(950_000), "exactly the margin left");
        assert!(cutoff.passed(950_001), "a millisecond less");
        assert!(cutoff.passed(1_200_000), "past the deadline");
        assert!(StartCutoff::new(10_000, margin).expect("a deadline").passed(0));
    }

    #[test]
    fn the_start_margin_covers_an_openhands_and_a_provider_request() {
        let load = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            Config::from_lookup(move |k| map.get(k).cloned()).expect("loads")
        };
        assert_eq!(start_margin(&load(&[])), Duration::from_secs(30 + 20));
        assert_eq!(
            start_margin(&load(&[("OPENHANDS_TIMEOUT_SECS", "60")])),
            Duration::from_secs(60 + 20)
        );
    }

    #[test]
    fn a_reply_becomes_a_response_with_its_headers() {
        let response: Response<Body> = HttpReply::text(401, "invalid signature")
            .with_headers(&[("x-slack-no-retry", "1")])
            .into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["x-slack-no-retry"], "1");
        assert_eq!(response.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
    }

    #[test]
    fn aws_config_names_what_is_missing_or_wrong() {
        assert_eq!(aws(&[]), Err(ConfigError::Missing("HOOKLINE_TABLE")));
        assert_eq!(
            aws(&[("HOOKLINE_TABLE", "  ")]),
            Err(ConfigError::Missing("HOOKLINE_TABLE"))
        );
        let config = aws(&[("HOOKLINE_TABLE", "t")]).expect("loads");
        assert_eq!(config.secrets_ttl, Duration::from_secs(300));
        assert_eq!(
            config.queue_url(),
            Err(ConfigError::Missing("HOOKLINE_QUEUE_URL"))
        );
        let config = aws(&[
            ("HOOKLINE_TABLE", "t"),
            ("HOOKLINE_QUEUE_URL", "https://sqs.example/1/q.fifo"),
            ("HOOKLINE_SECRETS_TTL_SECS", "60"),
        ])
        .expect("loads");
        assert_eq!(config.queue_url(), Ok("https://sqs.example/1/q.fifo"));
        assert_eq!(config.secrets_ttl, Duration::from_secs(60));
        assert!(matches!(
            aws(&[("HOOKLINE_TABLE", "t"), ("HOOKLINE_SECRETS_TTL_SECS", "soon")]),
            Err(ConfigError::Invalid {
                name: "HOOKLINE_SECRETS_TTL_SECS",
                ..
            })
        ));
    }

    #[test]
    fn webhook_routes_match_on_the_suffix() {
        assert_eq!(webhook_provider("/webhooks/github"), Some("github"));
        assert_eq!(webhook_provider("/prod/webhooks/github"), Some("github"));
        assert_eq!(webhook_provider("/webhooks/github/"), Some("github"));
        assert_eq!(webhook_provider("/webhooks/"), None);
        assert_eq!(webhook_provider("/webhooks"), None);
        assert_eq!(webhook_provider("/hooks/github"), None);
        assert_eq!(webhook_provider("/mywebhooks/github"), None);
        assert_eq!(
            webhook_provider("/webhooks/gitlab/git.example.com"),
            Some("gitlab")
        );
        assert_eq!(
            webhook_provider("/prod/webhooks/jira/acme.atlassian.net/"),
            Some("jira")
        );
        assert_eq!(webhook_provider("/webhooks/a/b/c"), None);
        assert_eq!(webhook_provider("/webhooks//tenant"), None);
    }

    #[test]
    fn schedule_events_are_told_from_http_events() {
        assert!(is_scheduled_event(
            r#"{"version":"0","source":"aws.events","detail-type":"Scheduled Event","detail":{}}"#
        ));
        assert!(!is_scheduled_event(
            r#"{"version":"2.0","rawPath":"/api/v1/webhooks/conversations","body":"{}"}"#
        ));
        assert!(!is_scheduled_event(
            r#"{"httpMethod":"POST","path":"/x","headers":{"source":"aws.events"}}"#
        ));
        assert!(!is_scheduled_event("[1, 2]"));
        assert!(!is_scheduled_event(r#"{"source": 3}"#));
    }
}
