//! OpenHands V1 app-server client implementing [`crate::ports::Conversations`].
//!
//! - Ids: the server answers with 32 hex characters without dashes and accepts either form. Every id this
//!   client sends, returns or compares goes through [`normalize_id`] (32 lowercase hex).
//! - Auth is per call, from [`OpenHandsAuth`]: an OpenHands Cloud API key as a bearer token, a self-hosted
//!   session key, or nothing at all (a local single-user server ignores auth).
//! - Every answer is classified by the outbound toolkit (`outbound::classify`): 2xx is success; 408, 429,
//!   5xx, timeouts and connection failures are transient (honouring `Retry-After`); any other status is
//!   permanent, with a short detail (FastAPI's `detail`, see `OpenHandsApi`) that never echoes credentials.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use reqwest::{
    header::{HeaderValue, AUTHORIZATION},
    RequestBuilder, Url,
};
use serde::{Deserialize, Serialize};

use crate::{
    error::PortError,
    outbound::{self, parse_json, scan_pages, stop_at, Answer, Call, Dialect, Page, Signals},
    ports::{
        ConversationStatus, Conversations, MessageDelivery, OpenHandsAuth, StartConversation, StartTask,
    },
    secret::SecretString,
};

/// Most ids `GET /api/v1/app-conversations?ids=` takes in one call (the server asserts fewer than 100).
pub const MAX_IDS_PER_REQUEST: usize = 99;

/// Timeout for `ask_agent`: the agent answers out of band with an LLM call, so it gets longer than the
/// ordinary request timeout (OpenHands itself uses 30 s).
pub const ASK_AGENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Header carrying a self-hosted server's or a sandbox's session key.
pub const SESSION_KEY_HEADER: &str = "X-Session-API-Key";

/// The start-task search looks this far before the recorded start time (clock skew between Hookline and the server).
const START_SEARCH_SLACK_SECS: u64 = 300;
/// Pages of recent start tasks searched for one conversation's (100 tasks a page).
const MAX_START_SEARCH_PAGES: usize = 5;

/// Where the OpenHands app server lives and how long to wait for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenHandsConfig {
    /// App server API base, e.g. `https://app.all-hands.dev` or `http://127.0.0.1:3000`.
    pub base_url: String,
    /// Web UI base for links people open: `{web_url}/conversations/{id}`.
    pub web_url: String,
    /// Timeout for each app-server request (connect to end of body).
    pub request_timeout: Duration,
}

/// Client for the OpenHands V1 app server and, for summaries, a conversation's agent server.
#[derive(Clone, Debug)]
pub struct OpenHandsClient {
    http: reqwest::Client,
    base_url: String,
    web_url: String,
    request_timeout: Duration,
}

impl OpenHandsClient {
    /// Build a client over a shared `reqwest::Client` (connection pool, TLS set up once per process).
    pub fn new(http: reqwest::Client, config: OpenHandsConfig) -> Self {
        Self {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            web_url: config.web_url.trim_end_matches('/').to_owned(),
            request_timeout: config.request_timeout,
        }
    }

    fn url(&self, path: &str, call: Op<'_>) -> Result<Url, PortError> {
        Url::parse(&format!("{}{path}", self.base_url))
            .map_err(|_| PortError::permanent(call.what(), "the OpenHands base URL is not a valid URL"))
    }

    /// Send an app-server request with the caller's credentials and classify the answer.
    async fn send(
        &self,
        call: Op<'_>,
        request: RequestBuilder,
        auth: &OpenHandsAuth,
    ) -> Result<Answer, PortError> {
        let request = authorize(request, auth, call)?;
        let credentials: Vec<&SecretString> = [auth.bearer.as_ref(), auth.session_key.as_ref()]
            .into_iter()
            .flatten()
            .collect();
        let what = call.what();
        let outbound = Call::new(&what)
            .credentials(&credentials)
            .timeout(self.request_timeout);
        exchange(call, outbound, request).await
    }

    /// One `?ids=` call of `call` for at most [`MAX_IDS_PER_REQUEST`] normalized ids, answered in request order.
    async fn statuses_chunk(
        &self,
        call: Op<'_>,
        auth: &OpenHandsAuth,
        ids: &[String],
    ) -> Result<Vec<Option<ConversationStatus>>, PortError> {
        let mut url = self.url("/api/v1/app-conversations", call)?;
        url.query_pairs_mut()
            .extend_pairs(ids.iter().map(|id| ("ids", id.as_str())));
        let response = self.send(call, self.http.get(url), auth).await?;
        let items: Vec<Option<RawConversation>> = decode(call, &response)?;
        if items.len() != ids.len() {
            tracing::warn!(
                requested = ids.len(),
                returned = items.len(),
                "OpenHands statuses length mismatch"
            );
        }
        // Matched by id rather than position, so a reordered or short answer can never attach one
        // conversation's status (and session key) to another.
        let mut by_id = HashMap::with_capacity(items.len());
        for item in items.into_iter().flatten() {
            let status = item.into_status(call)?;
            by_id.insert(status.id.clone(), status);
        }
        Ok(ids.iter().map(|id| by_id.get(id).cloned()).collect())
    }

    /// A `POST {agent_server_url}/api/conversations/{id}/{action}` to the conversation's own agent server, with
    /// its session key (an agent server without session keys configured takes the call unauthenticated).
    fn agent_server_call(
        &self,
        call: Op<'_>,
        conversation: &ConversationStatus,
        agent_server_url: &str,
        action: &str,
    ) -> Result<RequestBuilder, PortError> {
        let id = require_id(call, &conversation.id)?;
        let url = Url::parse(&format!(
            "{}/api/conversations/{id}/{action}",
            agent_server_url.trim_end_matches('/')
        ))
        .map_err(|_| PortError::permanent(call.what(), "the agent server URL is not a valid URL"))?;
        let mut request = self.http.post(url);
        if let Some(key) = conversation
            .session_api_key
            .as_ref()
            .filter(|key| !key.is_empty())
        {
            request = request.header(SESSION_KEY_HEADER, secret_header(call, key.expose())?);
        }
        Ok(request)
    }
}

#[async_trait]
impl Conversations for OpenHandsClient {
    async fn start(&self, auth: &OpenHandsAuth, request: &StartConversation) -> Result<StartTask, PortError> {
        let call = Op::new("start conversation", Some(&request.conversation_id));
        let conversation_id = require_id(call, &request.conversation_id)?;
        let body = StartBody {
            conversation_id: &conversation_id,
            initial_message: MessageBody::user(&request.initial_message),
            selected_repository: request.selected_repository.as_deref(),
            selected_branch: request.selected_branch.as_deref(),
            git_provider: request.git_provider.as_deref(),
            title: &request.title,
            trigger: &request.trigger,
            llm_model: request.llm_model.as_deref(),
        };
        let url = self.url("/api/v1/app-conversations", call)?;
        let response = self.send(call, self.http.post(url).json(&body), auth).await?;
        let task = decode::<RawStartTask>(call, &response)?.into_task(call)?;
        tracing::info!(
            conversation_id = %conversation_id,
            task_id = %task.id,
            task_status = %task.status,
            "OpenHands conversation start accepted"
        );
        Ok(task)
    }

    async fn statuses(
        &self,
        auth: &OpenHandsAuth,
        conversation_ids: &[String],
    ) -> Result<Vec<Option<ConversationStatus>>, PortError> {
        let call = Op::new("conversation statuses", None);
        let ids = conversation_ids
            .iter()
            .map(|id| require_id(call, id))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(ids.len());
        // Sequential on purpose: the app server throttles each client by sleeping, so parallel calls gain
        // little and only hold more connections.
        for chunk in ids.chunks(MAX_IDS_PER_REQUEST) {
            out.extend(self.statuses_chunk(call, auth, chunk).await?);
        }
        Ok(out)
    }

    async fn start_task(&self, auth: &OpenHandsAuth, task_id: &str) -> Result<Option<StartTask>, PortError> {
        let call = Op::new("start task", None);
        let task_id = require_id(call, task_id)?;
        let mut url = self.url("/api/v1/app-conversations/start-tasks", call)?;
        url.query_pairs_mut().append_pair("ids", &task_id);
        let response = self.send(call, self.http.get(url), auth).await?;
        let tasks: Vec<Option<RawStartTask>> = decode(call, &response)?;
        tasks
            .into_iter()
            .next()
            .flatten()
            .map(|task| task.into_task(call))
            .transpose()
    }

    async fn set_title(
        &self,
        auth: &OpenHandsAuth,
        conversation_id: &str,
        title: &str,
    ) -> Result<(), PortError> {
        let call = Op::new("set title", Some(conversation_id));
        let id = require_id(call, conversation_id)?;
        let url = self.url(&format!("/api/v1/app-conversations/{id}"), call)?;
        self.send(call, self.http.patch(url).json(&TitleBody { title }), auth)
            .await?;
        Ok(())
    }

    async fn find_start_task(
        &self,
        auth: &OpenHandsAuth,
        conversation_id: &str,
        since: u64,
    ) -> Result<Option<StartTask>, PortError> {
        let call = Op::new("find start task", Some(conversation_id));
        let id = require_id(call, conversation_id)?;
        // Tasks are listed newest first; the window starts a little before `since` for clock skew.
        let window_start =
            std::time::UNIX_EPOCH + Duration::from_secs(since.saturating_sub(START_SEARCH_SLACK_SECS));
        let created_after = &humantime::format_rfc3339_seconds(window_start).to_string();
        let fetch = move |page_id: Option<String>| async move {
            let mut url = self.url("/api/v1/app-conversations/start-tasks/search", call)?;
            url.query_pairs_mut()
                .append_pair("created_at__gte", created_after)
                .append_pair("sort_order", "CREATED_AT_DESC")
                .append_pair("limit", "100");
            if let Some(page) = &page_id {
                url.query_pairs_mut().append_pair("page_id", page);
            }
            let response = self.send(call, self.http.get(url), auth).await?;
            let page: StartTaskPage = decode(call, &response)?;
            let next = page.next_page_id.filter(|next| !next.is_empty());
            Ok::<_, PortError>(Page {
                items: page.items,
                next: next.map(Some),
            })
        };
        let visit = |task: RawStartTask| {
            let found = task.is_for(&id);
            stop_at(task, found)
        };
        let scanned = scan_pages(MAX_START_SEARCH_PAGES, None, fetch, visit).await?;
        scanned.found().map(|task| task.into_task(call)).transpose()
    }

    async fn resume_sandbox(&self, auth: &OpenHandsAuth, sandbox_id: &str) -> Result<(), PortError> {
        let call = Op::new("resume sandbox", None);
        // Sandbox ids are server-chosen strings; only URL-safe ones are sent.
        if sandbox_id.is_empty()
            || !sandbox_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(PortError::permanent(call.what(), "sandbox id is not URL-safe"));
        }
        let url = self.url(&format!("/api/v1/sandboxes/{sandbox_id}/resume"), call)?;
        self.send(call, self.http.post(url), auth).await?;
        Ok(())
    }

    async fn send_message(
        &self,
        auth: &OpenHandsAuth,
        conversation_id: &str,
        text: &str,
    ) -> Result<MessageDelivery, PortError> {
        // The status code is the contract; the body only adds `success: false` when the sandbox could not
        // take the message, so an unreadable body is not an error.
        let call = Op::new("send message", Some(conversation_id)).status_is_enough();
        let id = require_id(call, conversation_id)?;
        let url = self.url(&format!("/api/v1/app-conversations/{id}/send-message"), call)?;
        let response = match self
            .send(call, self.http.post(url).json(&MessageBody::user(text)), auth)
            .await
        {
            Ok(response) => response,
            // 404 before the conversation exists, 409 while its sandbox is paused or starting, 410 once it is
            // gone: where the conversation is, not a failure of the call.
            Err(err) => {
                return match err.status() {
                    Some(404) => Ok(MessageDelivery::NotYet),
                    Some(409) => Ok(MessageDelivery::SandboxNotRunning),
                    Some(410) => Ok(MessageDelivery::Gone),
                    _ => Err(err),
                }
            }
        };
        let Ok(answer) = serde_json::from_slice::<SendMessageAnswer>(&response.body) else {
            return Ok(MessageDelivery::Delivered);
        };
        if answer.success != Some(false) {
            return Ok(MessageDelivery::Delivered);
        }
        let sandbox = answer.sandbox_status.unwrap_or_else(|| "unknown".to_owned());
        tracing::warn!(conversation_id = %id, sandbox_status = %sandbox, "OpenHands did not deliver the message");
        // A missing sandbox will not come back; a paused or starting one can take the message later.
        Ok(if sandbox.eq_ignore_ascii_case("MISSING") {
            MessageDelivery::Gone
        } else {
            MessageDelivery::SandboxNotRunning
        })
    }

    async fn ask_agent(
        &self,
        conversation: &ConversationStatus,
        agent_server_url: &str,
        question: &str,
    ) -> Result<String, PortError> {
        let call = Op::new("ask agent", Some(&conversation.id));
        let request = self.agent_server_call(call, conversation, agent_server_url, "ask_agent")?;
        let credentials: Vec<&SecretString> = conversation.session_api_key.iter().collect();
        let what = call.what();
        let outbound = Call::new(&what)
            .credentials(&credentials)
            .timeout(ASK_AGENT_TIMEOUT);
        let response = exchange(call, outbound, request.json(&AskBody { question })).await?;
        let answer: AskAnswer = decode(call, &response)?;
        Ok(answer.response)
    }

    async fn interrupt(
        &self,
        conversation: &ConversationStatus,
        agent_server_url: &str,
    ) -> Result<bool, PortError> {
        let call = Op::new("interrupt", Some(&conversation.id)).status_is_enough();
        let request = self.agent_server_call(call, conversation, agent_server_url, "interrupt")?;
        let credentials: Vec<&SecretString> = conversation.session_api_key.iter().collect();
        let what = call.what();
        match exchange(call, Call::new(&what).credentials(&credentials), request).await {
            Ok(_) => Ok(true),
            // The agent server answers 400 (not 404) for a conversation it does not hold.
            Err(err) if matches!(err.status(), Some(400 | 404)) => Ok(false),
            Err(err) => Err(err),
        }
    }

    fn conversation_link(&self, conversation_id: &str) -> String {
        conversation_link(&self.web_url, conversation_id)
    }
}

/// Link a person can open to follow a conversation in OpenHands' web app at `web_url`.
pub fn conversation_link(web_url: &str, conversation_id: &str) -> String {
    let id = normalize_id(conversation_id).unwrap_or_else(|| conversation_id.to_owned());
    format!("{web_url}/conversations/{id}")
}

/// Normalize a conversation or task id to 32 lowercase hex; accepts the dashed form (and any other form of
/// a UUID). `None` if it is not a UUID.
pub fn normalize_id(id: &str) -> Option<String> {
    uuid::Uuid::try_parse(id)
        .ok()
        .map(|uuid| uuid.simple().to_string())
}

/// The agent server base URL, derived from a conversation's `conversation_url`.
///
/// Assumes the app server builds `conversation_url` as `{agent_server_url}/api/conversations/{id}` (true of
/// the V1 app server: the agent server's REST path for the conversation), so the base is everything before
/// the last `/api/conversations/` segment. Any path prefix before it (a runtime proxy such as
/// `https://host/runtime/8000`) is kept. Returns `None` when the URL does not have that shape, is not
/// absolute `http(s)`, or does not end in a conversation id.
pub fn agent_server_url_from(conversation_url: &str) -> Option<String> {
    const MARKER: &str = "/api/conversations/";
    let trimmed = conversation_url.trim_end_matches('/');
    let at = trimmed.rfind(MARKER)?;
    let (base, id) = (&trimmed[..at], &trimmed[at + MARKER.len()..]);
    normalize_id(id)?;
    let parsed = Url::parse(base).ok()?;
    let web = matches!(parsed.scheme(), "http" | "https");
    (web && parsed.host().is_some()).then(|| base.to_owned())
}

/// The operation being performed, for error messages and log fields.
#[derive(Clone, Copy, Debug)]
struct Op<'a> {
    op: &'static str,
    conversation_id: Option<&'a str>,
    /// A 2xx status is the whole answer (see [`Call::status_is_enough`]).
    status_is_enough: bool,
}

impl<'a> Op<'a> {
    fn new(op: &'static str, conversation_id: Option<&'a str>) -> Self {
        Self {
            op,
            conversation_id,
            status_is_enough: false,
        }
    }

    fn status_is_enough(self) -> Self {
        Self {
            status_is_enough: true,
            ..self
        }
    }

    fn what(&self) -> String {
        format!("OpenHands {}", self.op)
    }
}

fn require_id(call: Op<'_>, id: &str) -> Result<String, PortError> {
    normalize_id(id).ok_or_else(|| PortError::permanent(call.what(), "id is not a UUID"))
}

fn authorize(
    request: RequestBuilder,
    auth: &OpenHandsAuth,
    call: Op<'_>,
) -> Result<RequestBuilder, PortError> {
    let mut request = request;
    // Empty keys count as unset: an empty environment variable should mean "no auth", not "Bearer ".
    if let Some(key) = auth.bearer.as_ref().filter(|key| !key.is_empty()) {
        request = request.header(
            AUTHORIZATION,
            secret_header(call, &format!("Bearer {}", key.expose()))?,
        );
    }
    if let Some(key) = auth.session_key.as_ref().filter(|key| !key.is_empty()) {
        request = request.header(SESSION_KEY_HEADER, secret_header(call, key.expose())?);
    }
    Ok(request)
}

/// A header value marked sensitive (kept out of HTTP-layer debug output).
fn secret_header(call: Op<'_>, value: &str) -> Result<HeaderValue, PortError> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| PortError::permanent(call.what(), "credential is not a valid HTTP header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Send `request` as `outbound` describes it and classify the answer, logging a failure with the operation.
async fn exchange(call: Op<'_>, outbound: Call<'_>, request: RequestBuilder) -> Result<Answer, PortError> {
    let outbound = if call.status_is_enough {
        outbound.status_is_enough()
    } else {
        outbound
    };
    let answer = outbound::send(&outbound, request).await.inspect_err(|error| {
        tracing::warn!(
            op = call.op,
            conversation_id = call.conversation_id,
            error = %error,
            "OpenHands request failed"
        );
    })?;
    outbound::classify(&OpenHandsApi, &outbound, &answer).inspect_err(|error| {
        tracing::warn!(
            op = call.op,
            conversation_id = call.conversation_id,
            status = answer.status,
            transient = error.is_transient(),
            retry_after_secs = error.retry_after().map(|after| after.as_secs()),
            "OpenHands refused the request"
        );
    })?;
    Ok(answer)
}

/// How the OpenHands servers (FastAPI) speak: no rate-limit signal beyond a 429 and its `Retry-After`, and no
/// wait suggested without one; statuses named with their reason phrase; an error's message is the body's
/// `detail`: a string, or a list of validation errors of which the first one's `loc` and `msg` are used (never
/// its `input`, which echoes what was sent).
struct OpenHandsApi;

impl Dialect for OpenHandsApi {
    const NAMES_REASON: bool = true;

    fn read(&self, answer: &Answer) -> Signals {
        Signals {
            error_message: server_detail(&answer.body),
            ..Signals::default()
        }
    }
}

fn server_detail(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    match value.get("detail")? {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Array(items) => {
            let first = items.first()?;
            let msg = first.get("msg")?.as_str()?;
            let loc = first.get("loc").and_then(|loc| loc.as_array()).map(|parts| {
                parts
                    .iter()
                    .map(|part| part.as_str().map_or_else(|| part.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(".")
            });
            Some(match loc {
                Some(loc) if !loc.is_empty() => format!("{loc}: {msg}"),
                _ => msg.to_owned(),
            })
        }
        _ => None,
    }
}

/// A 2xx body as `T` (see [`parse_json`]).
fn decode<T: serde::de::DeserializeOwned>(call: Op<'_>, answer: &Answer) -> Result<T, PortError> {
    parse_json(&call.what(), &answer.body)
}

#[derive(Serialize)]
struct StartBody<'a> {
    conversation_id: &'a str,
    initial_message: MessageBody<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    selected_repository: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    selected_branch: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    git_provider: Option<&'a str>,
    title: &'a str,
    trigger: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    llm_model: Option<&'a str>,
}

/// `SendMessageRequest`: a user text message. `run` defaults to false on the server, so it is always sent.
#[derive(Serialize)]
struct MessageBody<'a> {
    role: &'static str,
    content: [TextContent<'a>; 1],
    run: bool,
}

impl<'a> MessageBody<'a> {
    fn user(text: &'a str) -> Self {
        Self {
            role: "user",
            content: [TextContent { kind: "text", text }],
            run: true,
        }
    }
}

#[derive(Serialize)]
struct TextContent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct TitleBody<'a> {
    title: &'a str,
}

#[derive(Serialize)]
struct AskBody<'a> {
    question: &'a str,
}

#[derive(Deserialize)]
struct AskAnswer {
    response: String,
}

#[derive(Deserialize)]
struct SendMessageAnswer {
    success: Option<bool>,
    sandbox_status: Option<String>,
}

/// `AppConversationStartTask`, the fields Hookline reads.
#[derive(Deserialize)]
struct RawStartTask {
    id: String,
    status: String,
    detail: Option<String>,
    app_conversation_id: Option<String>,
    agent_server_url: Option<String>,
    #[serde(default)]
    request: Option<RawStartRequest>,
}

/// A page of the start-task search.
#[derive(Deserialize)]
struct StartTaskPage {
    items: Vec<RawStartTask>,
    #[serde(default)]
    next_page_id: Option<String>,
}

/// The part of a task's `request` that names its conversation.
#[derive(Deserialize)]
struct RawStartRequest {
    #[serde(default)]
    conversation_id: Option<String>,
}

impl RawStartTask {
    fn into_task(self, call: Op<'_>) -> Result<StartTask, PortError> {
        let app_conversation_id = self
            .app_conversation_id
            .map(|id| normalize_id(&id).ok_or_else(|| bad_id(call, "app_conversation_id")))
            .transpose()?;
        Ok(StartTask {
            id: normalize_id(&self.id).ok_or_else(|| bad_id(call, "task id"))?,
            status: self.status,
            detail: self.detail,
            app_conversation_id,
            agent_server_url: self.agent_server_url,
        })
    }

    /// Is this a start of the conversation `id` (32 hex)? Its request says so from the first moment; the task's
    /// own `app_conversation_id` is set only once it is `READY`.
    fn is_for(&self, id: &str) -> bool {
        let named = |other: &Option<String>| other.as_deref().and_then(normalize_id).as_deref() == Some(id);
        named(&self.app_conversation_id) || self.request.as_ref().is_some_and(|r| named(&r.conversation_id))
    }
}

/// `AppConversation`, the fields Hookline reads.
#[derive(Deserialize)]
struct RawConversation {
    id: String,
    #[serde(default)]
    sandbox_id: Option<String>,
    sandbox_status: Option<String>,
    execution_status: Option<String>,
    conversation_url: Option<String>,
    session_api_key: Option<String>,
}

impl RawConversation {
    fn into_status(self, call: Op<'_>) -> Result<ConversationStatus, PortError> {
        Ok(ConversationStatus {
            id: normalize_id(&self.id).ok_or_else(|| bad_id(call, "conversation id"))?,
            sandbox_id: self.sandbox_id,
            sandbox_status: self.sandbox_status,
            execution_status: self.execution_status,
            conversation_url: self.conversation_url,
            session_api_key: self.session_api_key.map(SecretString::new),
        })
    }
}

fn bad_id(call: Op<'_>, field: &str) -> PortError {
    PortError::permanent(call.what(), format!("response has a malformed {field}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn ids_normalize_to_lowercase_hex() {
        assert_eq!(normalize_id(HEX).as_deref(), Some(HEX));
        assert_eq!(
            normalize_id("01234567-89AB-CDEF-0123-456789ABCDEF").as_deref(),
            Some(HEX)
        );
        assert_eq!(normalize_id("not-a-uuid"), None);
        assert_eq!(normalize_id(""), None);
    }

    #[test]
    fn agent_server_url_is_the_prefix_before_the_conversation_path() {
        let url = format!("http://127.0.0.1:8011/api/conversations/{HEX}");
        assert_eq!(
            agent_server_url_from(&url).as_deref(),
            Some("http://127.0.0.1:8011")
        );
        let proxied = format!("https://rt.example.com/runtime/8000/api/conversations/{HEX}/");
        assert_eq!(
            agent_server_url_from(&proxied).as_deref(),
            Some("https://rt.example.com/runtime/8000")
        );
    }

    #[test]
    fn agent_server_url_rejects_other_shapes() {
        assert_eq!(agent_server_url_from("http://host/conversations/abc"), None);
        assert_eq!(
            agent_server_url_from(&format!("http://host/api/conversations/{HEX}/events")),
            None
        );
        assert_eq!(agent_server_url_from(&format!("/api/conversations/{HEX}")), None);
        assert_eq!(
            agent_server_url_from(&format!("ftp://host/api/conversations/{HEX}")),
            None
        );
    }

    /// The detail of the error OpenHands' answer `status` with `body` becomes, given the call's credentials.
    fn error_detail(status: u16, body: &[u8], credentials: &[&SecretString]) -> String {
        let call = Call::new("t").credentials(credentials);
        let answer = crate::outbound::testing::answer(status, &[], &String::from_utf8_lossy(body));
        match outbound::classify(&OpenHandsApi, &call, &answer) {
            Err(PortError::Permanent { detail, .. } | PortError::Transient { detail, .. }) => detail,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn statuses_and_rate_limits_are_classified_like_every_api() {
        crate::outbound::testing::assert_common_classification(&OpenHandsApi);
    }

    #[test]
    fn error_detail_uses_short_server_detail() {
        let body = br#"{"detail":"unknown_app_conversation"}"#;
        assert_eq!(
            error_detail(404, body, &[]),
            "HTTP 404 Not Found: unknown_app_conversation"
        );
        let validation =
            br#"{"detail":[{"loc":["body","trigger"],"msg":"Input should be 'resolver'","input":"x"}]}"#;
        assert_eq!(
            error_detail(422, validation, &[]),
            "HTTP 422 Unprocessable Entity: body.trigger: Input should be 'resolver'"
        );
        assert_eq!(error_detail(502, b"<html>", &[]), "HTTP 502 Bad Gateway");
    }

    #[test]
    fn error_detail_never_echoes_credentials_and_stays_short() {
        let key = SecretString::new("sk-very-secret");
        let body = br#"{"detail":"bad key sk-very-secret"}"#;
        assert_eq!(error_detail(401, body, &[&key]), "HTTP 401 Unauthorized");
        let long = format!(r#"{{"detail":"{}"}}"#, "x".repeat(1000));
        let detail = error_detail(400, long.as_bytes(), &[]);
        assert!(
            detail.chars().count() < crate::outbound::MAX_DETAIL_CHARS + 40,
            "{detail}"
        );
    }

    #[test]
    fn start_body_omits_absent_optionals_and_always_runs() {
        let body = StartBody {
            conversation_id: HEX,
            initial_message: MessageBody::user("hi"),
            selected_repository: Some("octo/hello"),
            selected_branch: None,
            git_provider: None,
            title: "t",
            trigger: "resolver",
            llm_model: None,
        };
        let json = serde_json::to_value(&body).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({
                "conversation_id": HEX,
                "initial_message": {"role": "user", "content": [{"type": "text", "text": "hi"}], "run": true},
                "selected_repository": "octo/hello",
                "title": "t",
                "trigger": "resolver",
            })
        );
    }
}
