//! A local fake of the OpenHands V1 app server, for integration tests. It answers the endpoints Hookline
//! calls the way the real server does, and serves the agent server's `ask_agent` on the
//! same port, so a conversation's `conversation_url` is `{url}/api/conversations/{id}`.
//!
//! Modelled behaviour:
//! - `POST /api/v1/app-conversations` answers a start task with `status: WORKING` and 32-hex ids. The
//!   conversation appears in `?ids=` after a configurable delay (none by default); until then the task reads
//!   `WAITING_FOR_SANDBOX`, afterwards `READY`. `trigger` and `git_provider` are validated (422 with a
//!   FastAPI-style `detail` list); the request `title` is ignored, as 1.11.0 does. Starting an id that
//!   already exists yields a task that ends in `ERROR` (the sandbox id is the conversation id).
//! - `GET /api/v1/app-conversations?ids=` answers in request order with `null` for unknown ids, 422 for an
//!   invalid UUID or no ids, and 500 for 100 or more ids (the server's assertion).
//! - Each conversation gets a random `session_api_key`, `sandbox_status: RUNNING` and
//!   `execution_status: running`; `ask_agent` and `interrupt` (which leaves it `paused`) require that key in
//!   `X-Session-API-Key`.
//! - Auth is ignored (a local single-user server) unless [`FakeOpenHands::require_bearer`] is set.
//!
//! Every request is recorded (method, path, query, JSON body, auth headers) for inspection. Helpers at the
//! bottom play the agent server's webhook role towards Hookline ([`post_event`], [`post_conversation_info`]).

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, Request, State},
    http::{HeaderMap, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, patch, post},
    Json, Router,
};
use hookline::openhands::normalize_id;
use serde_json::{json, Value};
use tokio::time::Instant;

pub use crate::fake_core::RecordedRequest;
use crate::fake_core::{query_map, query_pairs, FakeServer, InjectedFailure, Listener, Locked, Recording};

/// Triggers the real server accepts (`ConversationTrigger`).
pub const TRIGGERS: &[&str] = &[
    "resolver",
    "gui",
    "suggested_task",
    "openhands_api",
    "slack",
    "microagent_management",
    "jira",
    "jira_dc",
    "linear",
    "bitbucket",
    "automation",
];

/// Git providers the real server accepts (`ProviderType`).
pub const GIT_PROVIDERS: &[&str] = &[
    "github",
    "gitlab",
    "bitbucket",
    "bitbucket_data_center",
    "forgejo",
    "azure_devops",
    "enterprise_sso",
];

/// Request headers kept in [`RecordedRequest::headers`] (lowercase).
const RECORDED_HEADERS: &[&str] = &["authorization", "x-session-api-key", "content-type"];

/// An accepted `POST /api/v1/app-conversations`.
#[derive(Clone, Debug, PartialEq)]
pub struct StartedConversation {
    /// Start task id, 32 hex.
    pub task_id: String,
    /// Conversation id, 32 hex (generated when the request had none).
    pub conversation_id: String,
    /// The request body as received.
    pub request: Value,
    /// Whether `initial_message.run` was `true` (the server's default is `false`).
    pub run: bool,
}

impl StartedConversation {
    /// The text of the initial message: the prompt Hookline built.
    pub fn text(&self) -> &str {
        self.request["initial_message"]["content"][0]["text"]
            .as_str()
            .expect("the initial message has a text")
    }
}

/// A follow-up message received on `send-message`.
#[derive(Clone, Debug, PartialEq)]
pub struct SentMessage {
    /// Conversation id, 32 hex.
    pub conversation_id: String,
    /// The text parts, joined with newlines.
    pub text: String,
    pub run: bool,
}

/// The running fake. Dropping it stops the server.
pub struct FakeOpenHands {
    shared: Arc<Shared>,
    server: FakeServer,
}

struct Shared {
    url: String,
    state: Locked<FakeState>,
}

#[derive(Default)]
struct FakeState {
    starts: Vec<StartedConversation>,
    tasks: HashMap<String, TaskRecord>,
    conversations: HashMap<String, ConversationRecord>,
    messages: Vec<SentMessage>,
    summary: String,
    ready_delay: Duration,
    next_start_failure: Option<InjectedFailure>,
    next_start_error: Option<String>,
    required_bearer: Option<String>,
    resumes: usize,
}

struct TaskRecord {
    id: String,
    conversation_id: String,
    request: Value,
    ready_at: Instant,
    error: Option<String>,
    created_at: String,
}

struct ConversationRecord {
    id: String,
    request: Value,
    visible_at: Instant,
    session_api_key: String,
    sandbox_status: String,
    execution_status: String,
    title: Option<String>,
    created_at: String,
}

impl FakeOpenHands {
    /// Bind `127.0.0.1:0` and serve until dropped.
    ///
    /// # Panics
    /// If no local port can be bound (the test cannot run anyway).
    pub async fn start() -> FakeOpenHands {
        let listener = Listener::bind("fake OpenHands").await;
        let shared = Arc::new(Shared {
            url: listener.url().to_owned(),
            state: Locked::new(FakeState {
                summary: "Done.".to_owned(),
                ..FakeState::default()
            }),
        });
        let app = Router::new()
            .route(
                "/api/v1/app-conversations",
                post(start_conversation).get(batch_get_conversations),
            )
            .route(
                "/api/v1/app-conversations/start-tasks",
                get(batch_get_start_tasks),
            )
            .route(
                "/api/v1/app-conversations/start-tasks/search",
                get(search_start_tasks),
            )
            .route("/api/v1/sandboxes/{id}/resume", post(resume_sandbox))
            .route("/api/v1/app-conversations/{id}", patch(update_conversation))
            .route("/api/v1/app-conversations/{id}/send-message", post(send_message))
            .route("/api/conversations/{id}/ask_agent", post(ask_agent))
            .route("/api/conversations/{id}/interrupt", post(interrupt))
            .layer(middleware::from_fn_with_state(shared.clone(), check_bearer))
            .with_state(shared.clone());
        let server = listener.serve(app, Recording::headers(RECORDED_HEADERS));
        FakeOpenHands { shared, server }
    }

    /// How many sandbox resumes were asked for.
    pub fn resumes(&self) -> usize {
        self.shared.state.lock().resumes
    }

    /// Base URL of the app server (and of every conversation's agent server), e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.requests()
    }

    /// Every accepted start request, oldest first.
    /// The `Authorization` header of the first conversation start: whose key it was started with.
    pub fn start_authorization(&self) -> Option<String> {
        self.requests()
            .into_iter()
            .find(|r| r.method == "POST" && r.path == "/api/v1/app-conversations")
            .and_then(|r| r.header("authorization").map(str::to_owned))
    }

    pub fn starts(&self) -> Vec<StartedConversation> {
        self.shared.state.lock().starts.clone()
    }

    /// The conversation id of the newest start; panics when nothing was started.
    pub fn last_conversation_id(&self) -> String {
        let state = self.shared.state.lock();
        state.starts.last().expect("a start").conversation_id.clone()
    }

    /// How many times the summary was asked for (`ask_agent`), over all conversations.
    pub fn asks(&self) -> usize {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/ask_agent"))
            .count()
    }

    /// Every follow-up message received, oldest first.
    pub fn messages(&self) -> Vec<SentMessage> {
        self.shared.state.lock().messages.clone()
    }

    /// A conversation's current title (`None` until `PATCH` sets one, or for unknown conversations).
    pub fn title(&self, conversation_id: &str) -> Option<String> {
        self.read_conversation(conversation_id, |c| c.title.clone())
            .flatten()
    }

    /// A conversation's sandbox session key, if the conversation exists.
    pub fn session_key(&self, conversation_id: &str) -> Option<String> {
        self.read_conversation(conversation_id, |c| c.session_api_key.clone())
    }

    /// The sandbox session key of `conversation_id`, which its callbacks carry; panics without one.
    pub fn expect_session_key(&self, conversation_id: &str) -> String {
        self.session_key(conversation_id)
            .unwrap_or_else(|| panic!("no session key for {conversation_id}"))
    }

    fn read_conversation<T>(
        &self,
        conversation_id: &str,
        read: impl FnOnce(&ConversationRecord) -> T,
    ) -> Option<T> {
        let id = normalize_id(conversation_id)?;
        self.shared.state.lock().conversations.get(&id).map(read)
    }

    /// Set what `execution_status` reads (`running`, `finished`, `error`, …). No-op for unknown ids.
    pub fn set_execution_status(&self, conversation_id: &str, status: &str) {
        self.with_conversation(conversation_id, |c| c.execution_status = status.to_owned());
    }

    /// Set what `sandbox_status` reads (`RUNNING`, `PAUSED`, `ERROR`, …); `execution_status` reads `null`
    /// whenever it is not `RUNNING`. No-op for unknown ids.
    pub fn set_sandbox_status(&self, conversation_id: &str, status: &str) {
        self.with_conversation(conversation_id, |c| c.sandbox_status = status.to_owned());
    }

    /// The answer every `ask_agent` call gets (default `Done.`).
    pub fn set_summary(&self, text: &str) {
        self.shared.state.lock().summary = text.to_owned();
    }

    /// How long after a start its conversation becomes visible and its task `READY` (default: at once).
    pub fn set_ready_delay(&self, delay: Duration) {
        self.shared.state.lock().ready_delay = delay;
    }

    /// Answer the next start request with `status` (and a FastAPI-style `detail`) instead of a task.
    pub fn fail_next_start(&self, status: u16) {
        self.fail_start(status, None);
    }

    /// Like [`Self::fail_next_start`], with a `Retry-After: <seconds>` header.
    pub fn fail_next_start_with_retry_after(&self, status: u16, seconds: u64) {
        self.fail_start(status, Some(seconds));
    }

    fn fail_start(&self, status: u16, retry_after: Option<u64>) {
        let failure = InjectedFailure::new(status, json!({"detail": "injected start failure"}));
        self.shared.state.lock().next_start_failure = Some(failure.with_retry_after(retry_after));
    }

    /// Accept the next start, but let its task end in `ERROR` with `detail`; the conversation never appears.
    pub fn make_next_start_error(&self, detail: &str) {
        self.shared.state.lock().next_start_error = Some(detail.to_owned());
    }

    /// Answer the next request of any kind with `status` (after recording it).
    pub fn fail_next_request(&self, status: u16) {
        let failure: InjectedFailure = InjectedFailure::new(status, json!({"detail": "injected failure"}));
        self.server.fail_next_matching(|_| true, failure);
    }

    /// Hold the next request of any kind for `delay` before handling it (to provoke client timeouts).
    pub fn delay_next_request(&self, delay: Duration) {
        self.server.delay_next_request(delay);
    }

    /// Handle the next request of any kind at once, but hold its answer for `delay` (an answer lost to a
    /// client timeout, after the server acted on the request).
    pub fn delay_next_answer(&self, delay: Duration) {
        self.server.delay_next_answer(delay);
    }

    /// Behave like OpenHands Cloud: app-server calls without `Authorization: Bearer <key>` get 401.
    pub fn require_bearer(&self, key: &str) {
        self.shared.state.lock().required_bearer = Some(key.to_owned());
    }

    fn with_conversation(&self, conversation_id: &str, change: impl FnOnce(&mut ConversationRecord)) {
        let Some(id) = normalize_id(conversation_id) else {
            return;
        };
        if let Some(conversation) = self.shared.state.lock().conversations.get_mut(&id) {
            change(conversation);
        }
    }
}

/// Behind the recording layer (which applies injected delays and failures first): the Cloud-style auth check
/// of [`FakeOpenHands::require_bearer`].
async fn check_bearer(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let required = shared.state.lock().required_bearer.clone();
    if let Some(key) = required {
        let expected = format!("Bearer {key}");
        let sent = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if request.uri().path().starts_with("/api/v1/") && sent != Some(expected.as_str()) {
            return detail(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
    }
    next.run(request).await
}

async fn start_conversation(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let mut state = shared.state.lock();
    if let Some(failure) = state.next_start_failure.take() {
        return failure.into_response();
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(value @ Value::Object(_)) => value,
        _ => return validation_error(json!(["body"]), "Input should be a valid dictionary", Value::Null),
    };
    if let Err(refusal) = validate_start(&request) {
        return refusal.into_response();
    }
    let conversation_id = match request.get("conversation_id") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().simple().to_string(),
        Some(value) => match value.as_str().and_then(normalize_id) {
            Some(id) => id,
            None => {
                return validation_error(
                    json!(["body", "conversation_id"]),
                    "Input should be a valid UUID",
                    value.clone(),
                )
            }
        },
    };
    let run = request
        .pointer("/initial_message/run")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let task_id = uuid::Uuid::new_v4().simple().to_string();
    let now = Instant::now();
    let ready_at = now + state.ready_delay;
    let created_at = timestamp();
    let error = match state.next_start_error.take() {
        Some(detail) => Some(detail),
        None if state.conversations.contains_key(&conversation_id) => {
            Some(format!("Conversation {conversation_id} already exists"))
        }
        None => None,
    };
    if error.is_none() {
        state.conversations.insert(
            conversation_id.clone(),
            ConversationRecord {
                id: conversation_id.clone(),
                request: request.clone(),
                visible_at: ready_at,
                session_api_key: format!("sk-oh-{}", uuid::Uuid::new_v4().simple()),
                sandbox_status: "RUNNING".to_owned(),
                execution_status: "running".to_owned(),
                title: None,
                created_at: created_at.clone(),
            },
        );
    }
    let task = TaskRecord {
        id: task_id.clone(),
        conversation_id: conversation_id.clone(),
        request: request.clone(),
        ready_at,
        error,
        created_at,
    };
    // The POST answers with the first state of the task, before any sandbox exists.
    let answer = task_json(&task, &shared.url, "WORKING", None);
    state.tasks.insert(task_id.clone(), task);
    state.starts.push(StartedConversation {
        task_id,
        conversation_id,
        request,
        run,
    });
    Json(answer).into_response()
}

fn validate_start(request: &Value) -> Result<(), Refusal> {
    for (field, allowed) in [("trigger", TRIGGERS), ("git_provider", GIT_PROVIDERS)] {
        match request.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(value)) if allowed.contains(&value.as_str()) => {}
            Some(other) => {
                let options = allowed
                    .iter()
                    .map(|v| format!("'{v}'"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let msg = format!("Input should be {options}");
                return Err(Refusal::invalid(json!(["body", field]), &msg, other.clone()));
            }
        }
    }
    Ok(())
}

async fn batch_get_conversations(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    batch_get(&shared, query.as_deref(), |state, id, now| {
        match state.conversations.get(id) {
            Some(conversation) if conversation.visible_at <= now => {
                conversation_json(conversation, &shared.url)
            }
            _ => Value::Null,
        }
    })
}

async fn batch_get_start_tasks(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    batch_get(&shared, query.as_deref(), |state, id, now| {
        match state.tasks.get(id) {
            Some(task) => match &task.error {
                Some(error) => task_json(task, &shared.url, "ERROR", Some(error)),
                None if task.ready_at <= now => task_json(task, &shared.url, "READY", None),
                None => task_json(task, &shared.url, "WAITING_FOR_SANDBOX", None),
            },
            None => Value::Null,
        }
    })
}

/// A batch `GET …?ids=`: one `item` per id, in request order (`null` for an unknown one).
fn batch_get(
    shared: &Shared,
    query: Option<&str>,
    item: impl Fn(&FakeState, &str, Instant) -> Value,
) -> Response {
    let ids = match parse_ids(query) {
        Ok(ids) => ids,
        Err(refusal) => return refusal.into_response(),
    };
    let state = shared.state.lock();
    let now = Instant::now();
    let items = ids.iter().map(|id| item(&state, id, now)).collect();
    Json(Value::Array(items)).into_response()
}

/// `GET …/start-tasks/search`: a page of tasks, newest first. As on the real server, `conversation_id__eq` matches
/// the task's `app_conversation_id`, which is set only once it is `READY`; `created_at__gte` bounds the age.
async fn search_start_tasks(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let pairs = query_map(query.as_deref());
    let wanted = pairs.get("conversation_id__eq").and_then(|v| normalize_id(v));
    let since = pairs
        .get("created_at__gte")
        .map(|v| v.trim_end_matches('Z').to_owned());
    let state = shared.state.lock();
    let now = Instant::now();
    let status = |task: &TaskRecord| match &task.error {
        Some(_) => "ERROR",
        None if task.ready_at <= now => "READY",
        None => "WAITING_FOR_SANDBOX",
    };
    let mut tasks: Vec<&TaskRecord> = state
        .tasks
        .values()
        .filter(|task| {
            wanted
                .as_deref()
                .is_none_or(|id| status(task) == "READY" && task.conversation_id == id)
        })
        .filter(|task| {
            since
                .as_deref()
                .is_none_or(|since| task.created_at.as_str() >= since)
        })
        .collect();
    tasks.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    let items: Vec<Value> = tasks
        .into_iter()
        .map(|task| task_json(task, &shared.url, status(task), task.error.as_deref()))
        .collect();
    Json(json!({"items": items, "next_page_id": null})).into_response()
}

/// `POST /api/v1/sandboxes/{id}/resume`: a paused sandbox runs again.
async fn resume_sandbox(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let mut state = shared.state.lock();
    let Some(conversation) = normalize_id(&id).and_then(|id| state.conversations.get_mut(&id)) else {
        return detail(StatusCode::NOT_FOUND, "sandbox not found");
    };
    if conversation.sandbox_status == "PAUSED" {
        conversation.sandbox_status = "RUNNING".to_owned();
    }
    state.resumes += 1;
    Json(json!(true)).into_response()
}

async fn update_conversation(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    // The real route parses the path with `UUID(...)` outside validation, so a bad id is a 500 there.
    let Some(id) = normalize_id(&id) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
    };
    let Ok(Value::Object(update)) = serde_json::from_slice::<Value>(&body) else {
        return validation_error(json!(["body"]), "Input should be a valid dictionary", Value::Null);
    };
    let mut state = shared.state.lock();
    let Some(conversation) = state.conversations.get_mut(&id) else {
        return detail(StatusCode::NOT_FOUND, "unknown_app_conversation");
    };
    if let Some(title) = update.get("title").and_then(Value::as_str) {
        conversation.title = Some(title.to_owned());
    }
    Json(conversation_json(conversation, &shared.url)).into_response()
}

async fn send_message(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    let Some(id) = normalize_id(&id) else {
        return validation_error(
            json!(["path", "conversation_id"]),
            "Input should be a valid UUID",
            json!(id),
        );
    };
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return validation_error(json!(["body"]), "Input should be a valid dictionary", Value::Null);
    };
    let Some(content) = message
        .get("content")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
    else {
        return validation_error(
            json!(["body", "content"]),
            "List should have at least 1 item",
            Value::Null,
        );
    };
    let text = content
        .iter()
        .filter(|part| part.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n");
    // Unlike `initial_message`, this endpoint's `run` defaults to true.
    let run = message.get("run").and_then(Value::as_bool).unwrap_or(true);
    let mut state = shared.state.lock();
    let now = Instant::now();
    let Some(conversation) = state.conversations.get_mut(&id).filter(|c| c.visible_at <= now) else {
        return detail(StatusCode::NOT_FOUND, "unknown_app_conversation");
    };
    match conversation.sandbox_status.as_str() {
        "PAUSED" | "STARTING" => return detail(StatusCode::CONFLICT, "sandbox_not_running"),
        "MISSING" => return detail(StatusCode::GONE, "sandbox_missing"),
        _ => {}
    }
    if run {
        conversation.execution_status = "running".to_owned();
    }
    let sandbox_status = conversation.sandbox_status.clone();
    state.messages.push(SentMessage {
        conversation_id: id,
        text,
        run,
    });
    Json(json!({"success": true, "sandbox_status": sandbox_status, "message": null})).into_response()
}

async fn ask_agent(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let state = shared.state.lock();
    let Some(conversation) = normalize_id(&id).and_then(|id| state.conversations.get(&id)) else {
        return detail(StatusCode::NOT_FOUND, "Conversation not found");
    };
    let sent_key = headers.get("x-session-api-key").and_then(|v| v.to_str().ok());
    if sent_key != Some(conversation.session_api_key.as_str()) {
        return detail(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let question = serde_json::from_slice::<Value>(&body).ok();
    if question
        .as_ref()
        .and_then(|q| q.get("question"))
        .and_then(Value::as_str)
        .is_none()
    {
        return validation_error(json!(["body", "question"]), "Field required", Value::Null);
    }
    Json(json!({"response": state.summary})).into_response()
}

/// The agent server's `interrupt`: the agent stops at once and the conversation reads `paused`; 400 for a
/// conversation it does not hold, as the real agent server answers.
async fn interrupt(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut state = shared.state.lock();
    let Some(conversation) = normalize_id(&id).and_then(|id| state.conversations.get_mut(&id)) else {
        return detail(StatusCode::BAD_REQUEST, "Bad Request");
    };
    let sent_key = headers.get("x-session-api-key").and_then(|v| v.to_str().ok());
    if sent_key != Some(conversation.session_api_key.as_str()) {
        return detail(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    conversation.execution_status = "paused".to_owned();
    Json(json!({"success": true})).into_response()
}

/// The `ids` query values, normalized; 422 for none or an invalid UUID, 500 for 100 or more.
fn parse_ids(query: Option<&str>) -> Result<Vec<String>, Refusal> {
    let raw: Vec<String> = query_pairs(query)
        .into_iter()
        .filter(|(k, _)| k == "ids")
        .map(|(_, v)| v)
        .collect();
    if raw.is_empty() {
        return Err(Refusal::invalid(
            json!(["query", "ids"]),
            "Field required",
            Value::Null,
        ));
    }
    let mut ids = Vec::with_capacity(raw.len());
    for (index, value) in raw.iter().enumerate() {
        match normalize_id(value) {
            Some(id) => ids.push(id),
            None => {
                let loc = json!(["query", "ids", index]);
                return Err(Refusal::invalid(
                    loc,
                    "Input should be a valid UUID",
                    json!(value),
                ));
            }
        }
    }
    if ids.len() >= 100 {
        return Err(Refusal::internal());
    }
    Ok(ids)
}

fn conversation_json(conversation: &ConversationRecord, url: &str) -> Value {
    let request = &conversation.request;
    let running = conversation.sandbox_status == "RUNNING";
    json!({
        "id": conversation.id,
        "created_by_user_id": null,
        "sandbox_id": conversation.id,
        "selected_repository": request.get("selected_repository"),
        "selected_branch": request.get("selected_branch"),
        "git_provider": request.get("git_provider"),
        "title": conversation.title,
        "trigger": request.get("trigger"),
        "pr_number": [],
        "llm_model": null,
        "agent_kind": "openhands",
        "metrics": null,
        "parent_conversation_id": null,
        "sub_conversation_ids": [],
        "public": null,
        "tags": {},
        "created_at": conversation.created_at,
        "updated_at": timestamp(),
        "sandbox_status": conversation.sandbox_status,
        "execution_status": if running { json!(conversation.execution_status) } else { Value::Null },
        "conversation_url": format!("{url}/api/conversations/{}", conversation.id),
        // A sandbox that is not running lists no key (as a busy `ERROR` reading of the real server does).
        "session_api_key": if running { json!(conversation.session_api_key) } else { Value::Null },
    })
}

fn task_json(task: &TaskRecord, url: &str, status: &str, error: Option<&str>) -> Value {
    let ready = status == "READY";
    json!({
        "id": task.id,
        "created_by_user_id": null,
        "status": status,
        "detail": error,
        "app_conversation_id": ready.then_some(&task.conversation_id),
        "sandbox_id": ready.then_some(&task.conversation_id),
        "agent_server_url": ready.then_some(url),
        "dependency_repos_cloned": [],
        "request": task.request,
        "created_at": task.created_at,
        "updated_at": timestamp(),
    })
}

/// A FastAPI `HTTPException`-style answer: `{"detail": "…"}`.
fn detail(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "detail": text }))).into_response()
}

/// A FastAPI request-validation answer (422).
fn validation_error(loc: Value, msg: &str, input: Value) -> Response {
    Refusal::invalid(loc, msg, input).into_response()
}

/// A refused request, kept small until a handler turns it into its response.
struct Refusal(StatusCode, Value);

impl Refusal {
    /// 422 with a FastAPI validation `detail` list.
    fn invalid(loc: Value, msg: &str, input: Value) -> Self {
        let body = json!({"detail": [{"type": "value_error", "loc": loc, "msg": msg, "input": input}]});
        Self(StatusCode::UNPROCESSABLE_ENTITY, body)
    }

    /// 500, as the server answers a failed assertion.
    fn internal() -> Self {
        Self(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"detail": "Internal Server Error"}),
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

/// Current UTC time the way the agent server writes it: `2026-11-28T11:48:21.034219` (no zone).
pub fn timestamp() -> String {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since_epoch.subsec_micros()
    )
}

/// Days since 1970-01-01 → proleptic Gregorian (year, month, day); the standard era-based conversion.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A `ConversationStateUpdateEvent` for `execution_status`, as the agent server sends it.
pub fn execution_status_event(execution_status: &str) -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "timestamp": timestamp(),
        "source": "environment",
        "key": "execution_status",
        "value": execution_status,
        "kind": "ConversationStateUpdateEvent",
    })
}

/// An `ActionEvent` as the agent server sends it: the agent calls `tool` with `action` (its arguments and
/// `kind`), at `timestamp` (ISO 8601 without a zone, as the server writes it).
pub fn action_event(timestamp: &str, tool: &str, action: Value) -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "timestamp": timestamp,
        "source": "agent",
        "thought": [{"type": "text", "text": "Let me look."}],
        "action": action,
        "tool_name": tool,
        "summary": format!("step: {tool}"),
        "kind": "ActionEvent",
    })
}

/// The `ObservationEvent` of a task-tracker step: the agent's task list, each `(title, status)` with status
/// `todo`, `in_progress` or `done`.
pub fn task_list_event(timestamp: &str, tasks: &[(&str, &str)]) -> Value {
    let list: Vec<Value> = tasks
        .iter()
        .map(|(title, status)| json!({"title": title, "notes": "", "status": status}))
        .collect();
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "timestamp": timestamp,
        "source": "environment",
        "tool_name": "task_tracker",
        "observation": {
            "content": [{"type": "text", "text": format!("Task list has been updated with {} item(s).", list.len())}],
            "is_error": false, "command": "plan", "task_list": list, "kind": "TaskTrackerObservation",
        },
        "kind": "ObservationEvent",
    })
}

/// A terminal step's `ObservationEvent` with `output`, which may hold anything (environment dumps, tokens).
pub fn terminal_output_event(timestamp: &str, output: &str) -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "timestamp": timestamp,
        "source": "environment",
        "tool_name": "terminal",
        "observation": {"content": [{"type": "text", "text": output}], "exit_code": 0, "kind": "TerminalObservation"},
        "kind": "ObservationEvent",
    })
}

/// Play a sandbox's agent server: `POST {hookline_base_url}/api/v1/webhooks/events/{id as 32 hex}` with a
/// JSON array of `events` and `X-Session-API-Key: <session_key>`.
///
/// # Panics
/// If the request cannot be sent at all (Hookline is not listening): the calling test fails there.
pub async fn post_events(
    hookline_base_url: &str,
    conversation_id: &str,
    events: Vec<Value>,
    session_key: &str,
) -> reqwest::Response {
    let id = normalize_id(conversation_id).unwrap_or_else(|| conversation_id.to_owned());
    let url = format!(
        "{}/api/v1/webhooks/events/{id}",
        hookline_base_url.trim_end_matches('/')
    );
    post_json(&url, &Value::Array(events), session_key).await
}

/// [`post_events`] with one `execution_status` update (e.g. `finished`).
///
/// # Panics
/// As [`post_events`].
pub async fn post_event(
    hookline_base_url: &str,
    conversation_id: &str,
    execution_status: &str,
    session_key: &str,
) -> reqwest::Response {
    post_events(
        hookline_base_url,
        conversation_id,
        vec![execution_status_event(execution_status)],
        session_key,
    )
    .await
}

/// Play a sandbox's agent server: `POST {hookline_base_url}/api/v1/webhooks/conversations` with a
/// `ConversationInfo` (`id` as 32 hex, `execution_status`, …) and `X-Session-API-Key: <session_key>`.
///
/// # Panics
/// As [`post_events`].
pub async fn post_conversation_info(
    hookline_base_url: &str,
    conversation_id: &str,
    execution_status: &str,
    session_key: &str,
) -> reqwest::Response {
    let id = normalize_id(conversation_id).unwrap_or_else(|| conversation_id.to_owned());
    let now = timestamp();
    let info = json!({
        "id": id,
        "title": null,
        "metrics": null,
        "created_at": now,
        "updated_at": now,
        "execution_status": execution_status,
        "agent": {"kind": "Agent", "llm": {"model": "litellm_proxy/claude-sonnet-4"}},
        "stats": {"usage_to_metrics": {}},
        "tags": {},
    });
    let url = format!(
        "{}/api/v1/webhooks/conversations",
        hookline_base_url.trim_end_matches('/')
    );
    post_json(&url, &info, session_key).await
}

async fn post_json(url: &str, body: &Value, session_key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("X-Session-API-Key", session_key)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|err| panic!("agent-server webhook to {url} failed: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
