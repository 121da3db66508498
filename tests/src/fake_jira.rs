//! A local fake of the Jira Cloud REST v3 subset Hookline uses, for integration tests.
//!
//! Modelled behaviour:
//! - Every call needs `Authorization: Basic base64(email:api_token)` of the configured service account, else
//!   401 (`{"errorMessages": […]}` like Jira).
//! - `GET /rest/api/3/issue/{id}` (summary, description, status with its category).
//! - `GET /rest/api/3/issue/{id}/comment` with `startAt`, `maxResults` (at most 100) and `orderBy`
//!   (`created` / `-created`), answering `{startAt, maxResults, total, comments}`.
//! - `POST /rest/api/3/issue/{id}/comment`: the body must be an ADF document (a string is 400, as on REST v3);
//!   optional `properties` are stored; the author is the service account; 201 with the comment.
//! - `PUT /rest/api/3/issue/{id}/comment/{commentId}`: ADF again; 404 for an unknown comment.
//! - `POST /rest/api/3/comment/list?expand=properties` with `{"ids": […]}`.
//! - `GET`/`POST /rest/api/3/issue/{id}/transitions`: the issue's transitions; applying one moves the status
//!   (204), an unavailable one is 400.
//! - `POST /rest/api/3/permissions/check` with `accountId` and `projectPermissions` (issue ids): an account's
//!   project permissions are those given with [`FakeJira::set_permissions`], else `EDIT_ISSUES` (a member); the
//!   grants list the asked issues that exist.
//! - Failures queued with [`FakeJira::fail_next`] are answered before authentication, one per matching
//!   request, in order.
//!
//! Time comes from a [`Clock`] so comment timestamps follow a test's manual clock. Every request is recorded.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use hookline::clock::Clock;
use serde_json::{json, Value};

use crate::fake_core::{self, query_map, FakeServer, Incoming, Listener, Locked, Recording};
use crate::fake_oauth::{OAuthDesk, SignInRoutes};

/// Service account e-mail the fake expects.
pub const FAKE_EMAIL: &str = "hookline-bot@example.test";
/// Service account API token the fake expects.
pub const FAKE_API_TOKEN: &str = "jira-api-token-for-tests";
/// `accountId` of the service account (author of comments created through the API).
pub const FAKE_BOT_ACCOUNT_ID: &str = "557058:hookline-bot";
/// Display name of the service account.
pub const FAKE_BOT_NAME: &str = "Hookline Bot";

/// One request the fake received: its `Authorization` header, and the rest of the record (method, path,
/// query, JSON body) also read through `Deref` (`request.path`).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    pub authorization: Option<String>,
    pub request: fake_core::RecordedRequest,
}

impl From<fake_core::RecordedRequest> for RecordedRequest {
    fn from(request: fake_core::RecordedRequest) -> Self {
        Self {
            authorization: request.header("authorization").map(str::to_owned),
            request,
        }
    }
}

impl std::ops::Deref for RecordedRequest {
    type Target = fake_core::RecordedRequest;

    fn deref(&self) -> &Self::Target {
        &self.request
    }
}

/// An answer to give instead of the normal one (see [`FakeJira::fail_next`]).
pub type InjectedFailure = fake_core::InjectedFailure<FakeJira>;

impl InjectedFailure {
    /// `status` with Jira's error document (`injected failure`).
    pub fn status(status: u16) -> Self {
        Self::new(status, errors_body("injected failure"))
    }
}

/// A transition available on an issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeTransition {
    pub id: String,
    pub name: String,
    /// Target status name and its category key (`new`, `indeterminate`, `done`).
    pub to: String,
    pub to_category: String,
}

impl FakeTransition {
    pub fn new(id: &str, name: &str, to: &str, to_category: &str) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            to: to.into(),
            to_category: to_category.into(),
        }
    }
}

/// An issue as the fake stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeIssue {
    pub id: String,
    pub key: String,
    pub summary: String,
    /// ADF document (or null).
    pub description: Value,
    pub status: String,
    pub status_category: String,
    pub transitions: Vec<FakeTransition>,
}

impl FakeIssue {
    /// A `To Do` issue with the usual workflow: Start work (→ In Progress), Review (→ In Review), Done.
    pub fn new(id: &str, key: &str, summary: &str, description: Value) -> Self {
        Self {
            id: id.into(),
            key: key.into(),
            summary: summary.into(),
            description,
            status: "To Do".into(),
            status_category: "new".into(),
            transitions: vec![
                FakeTransition::new("11", "Start work", "In Progress", "indeterminate"),
                FakeTransition::new("21", "Ready for review", "In Review", "indeterminate"),
                FakeTransition::new("31", "Close", "Done", "done"),
            ],
        }
    }

    /// The scenarios' issue `PROJ-7`, "Crash on save", with issue id `id`.
    pub fn crash_on_save(id: &str) -> Self {
        Self::new(
            id,
            "PROJ-7",
            "Crash on save",
            json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
                {"type": "text", "text": "Saving twice panics."}
            ]}]}),
        )
    }
}

/// A comment as the fake stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeComment {
    pub id: String,
    pub issue_id: String,
    pub author_account_id: String,
    pub author_name: String,
    /// ADF document (or a string for seeded wiki comments).
    pub body: Value,
    pub properties: BTreeMap<String, Value>,
    pub created: u64,
    pub updated: u64,
    /// `{"type": "role", "value": "Developers"}` and the like, for a comment restricted to some.
    pub visibility: Option<Value>,
}

/// The running fake. Dropping it stops the server.
pub struct FakeJira {
    shared: Arc<Shared>,
    server: FakeServer,
}

struct Shared {
    clock: Arc<dyn Clock>,
    state: Locked<FakeState>,
    /// Atlassian's OAuth 2.0 (3LO) sign-in, served by the same fake.
    oauth: Locked<OAuthDesk>,
}

/// Atlassian's sign-in: `auth.atlassian.com`'s `/authorize` and `/oauth/token`, `api.atlassian.com`'s `/me`.
const SIGN_IN: SignInRoutes = SignInRoutes {
    authorize: "/authorize",
    token: "/oauth/token",
    user: ("GET", "/me"),
};

#[derive(Default)]
struct FakeState {
    issues: HashMap<String, FakeIssue>,
    comments: Vec<FakeComment>,
    next_comment_id: u64,
    /// Account id → its project permissions, where they are not a member's.
    permissions: HashMap<String, Vec<String>>,
}

impl FakeJira {
    /// Let people sign in with the OAuth app `client_id` whose secret is `client_secret`.
    pub fn enable_sign_in(&self, client_id: &str, client_secret: &str) {
        self.shared.oauth.lock().enable(client_id, client_secret);
    }

    /// The account signed in from now on.
    pub fn sign_in_as(&self, name: &str, account_id: &str) {
        self.shared.oauth.lock().sign_in_as(name, account_id);
    }

    /// Bind `127.0.0.1:0` and serve until dropped.
    ///
    /// # Panics
    /// If no local port can be bound (the test cannot run anyway).
    pub async fn start(clock: Arc<dyn Clock>) -> FakeJira {
        let listener = Listener::bind("fake Jira").await;
        let shared = Arc::new(Shared {
            clock,
            state: Locked::new(FakeState {
                next_comment_id: 20_000,
                ..FakeState::default()
            }),
            oauth: Locked::default(),
        });
        let server = listener.serve_fallback(shared.clone(), handle, Recording::headers(&["authorization"]));
        FakeJira { shared, server }
    }

    /// Base URL of the site, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// Give `account_id` exactly these project permissions (on every issue).
    pub fn set_permissions(&self, account_id: &str, permissions: &[&str]) {
        let permissions = permissions.iter().map(|p| (*p).to_owned()).collect();
        self.shared
            .state
            .lock()
            .permissions
            .insert(account_id.to_owned(), permissions);
    }

    pub fn add_issue(&self, issue: FakeIssue) {
        self.shared.state.lock().issues.insert(issue.id.clone(), issue);
    }

    pub fn issue(&self, id: &str) -> Option<FakeIssue> {
        self.shared.state.lock().issues.get(id).cloned()
    }

    /// Set an issue's status (name and category key).
    pub fn set_status(&self, id: &str, status: &str, category: &str) {
        if let Some(issue) = self.shared.state.lock().issues.get_mut(id) {
            issue.status = status.into();
            issue.status_category = category.into();
        }
    }

    /// Add an existing comment by someone; returns its id.
    pub fn seed_comment(
        &self,
        issue_id: &str,
        account_id: &str,
        name: &str,
        body: Value,
        created: u64,
    ) -> String {
        let mut state = self.shared.state.lock();
        insert_comment(
            &mut state,
            issue_id,
            account_id,
            name,
            body,
            BTreeMap::new(),
            created,
        )
    }

    /// Restrict comment `id` to `visibility` (`{"type": "role" | "group", "value": …}`).
    pub fn restrict_comment(&self, id: &str, visibility: Value) {
        let mut state = self.shared.state.lock();
        if let Some(comment) = state.comments.iter_mut().find(|c| c.id == id) {
            comment.visibility = Some(visibility);
        }
    }

    pub fn comments(&self) -> Vec<FakeComment> {
        self.shared.state.lock().comments.clone()
    }

    /// Comments written by the service account.
    pub fn bot_comments(&self) -> Vec<FakeComment> {
        self.comments()
            .into_iter()
            .filter(|c| c.author_account_id == FAKE_BOT_ACCOUNT_ID)
            .collect()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.requests()
    }

    /// Requests with this method whose path starts with `prefix`.
    pub fn requests_to(&self, method: &str, prefix: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.starts_with(prefix))
            .collect()
    }

    /// Answer the next request whose path starts with `path_prefix` with `status` (and `Retry-After`).
    pub fn fail_next(&self, path_prefix: &str, status: u16, retry_after: Option<u64>) {
        let failure = InjectedFailure::status(status).with_retry_after(retry_after);
        self.server.fail_next(path_prefix, failure);
    }
}

/// An ADF document of one paragraph: the bot mentioned with Jira's mention picker, then `text` as given.
pub fn adf_mentioning_the_bot(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "mention", "attrs": {"id": FAKE_BOT_ACCOUNT_ID, "text": "@Hookline Bot"}},
        {"type": "text", "text": text}
    ]}]})
}

/// Flatten the text nodes of an ADF document (for assertions).
pub fn adf_text(doc: &Value) -> String {
    fn walk(node: &Value, out: &mut String) {
        if let Some(text) = node.get("text").and_then(Value::as_str) {
            out.push_str(text);
        }
        if node.get("type").and_then(Value::as_str) == Some("mention") {
            let id = node["attrs"]["id"].as_str().unwrap_or("");
            out.push_str(&format!("[~accountid:{id}]"));
        }
        if let Some(children) = node.get("content").and_then(Value::as_array) {
            for child in children {
                walk(child, out);
            }
            if node.get("type").and_then(Value::as_str) == Some("paragraph") {
                out.push('\n');
            }
        }
    }
    let mut out = String::new();
    match doc {
        Value::String(s) => out.push_str(s),
        other => walk(other, &mut out),
    }
    out
}

fn insert_comment(
    state: &mut FakeState,
    issue_id: &str,
    account_id: &str,
    name: &str,
    body: Value,
    properties: BTreeMap<String, Value>,
    created: u64,
) -> String {
    state.next_comment_id += 1;
    let id = state.next_comment_id.to_string();
    state.comments.push(FakeComment {
        id: id.clone(),
        issue_id: issue_id.into(),
        author_account_id: account_id.into(),
        author_name: name.into(),
        body,
        properties,
        created,
        updated: created,
        visibility: None,
    });
    id
}

/// `2024-04-30T12:00:00.000+0000`, as Jira writes times.
fn jira_time(secs: u64) -> String {
    let formatted = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_secs(secs)).to_string();
    format!("{}+0000", formatted.trim_end_matches('Z'))
}

fn comment_json(comment: &FakeComment, with_properties: bool) -> Value {
    let mut value = json!({
        "id": comment.id,
        "author": {"accountId": comment.author_account_id, "displayName": comment.author_name, "accountType": "atlassian"},
        "body": comment.body,
        "created": jira_time(comment.created),
        "updated": jira_time(comment.updated),
    });
    if let Some(visibility) = &comment.visibility {
        value["visibility"] = visibility.clone();
    }
    if with_properties {
        value["properties"] = comment
            .properties
            .iter()
            .map(|(key, value)| json!({"key": key, "value": value}))
            .collect();
    }
    value
}

fn errors(status: StatusCode, message: &str) -> Response {
    (status, Json(errors_body(message))).into_response()
}

/// Jira's error document.
fn errors_body(message: &str) -> Value {
    json!({"errorMessages": [message], "errors": {}})
}

async fn handle(State(shared): State<Arc<Shared>>, incoming: Incoming) -> Response {
    let me = |(name, id): &(String, String)| json!({ "account_id": id, "name": name, "account_type": "atlassian" });
    if let Some(answer) = shared.oauth.lock().route(&incoming, &SIGN_IN, me) {
        return answer;
    }
    let json_body = serde_json::from_slice::<Value>(&incoming.body).ok();
    let expected = format!(
        "Basic {}",
        BASE64.encode(format!("{FAKE_EMAIL}:{FAKE_API_TOKEN}"))
    );
    if incoming
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return errors(
            StatusCode::UNAUTHORIZED,
            "Client must be authenticated to access this resource.",
        );
    }
    if !incoming.body.is_empty() && json_body.is_none() {
        return errors(StatusCode::BAD_REQUEST, "Unexpected character in JSON");
    }
    let query = query_map(incoming.uri.query());
    let now = shared.clock.now_secs();
    let mut state = shared.state.lock();
    let segments: Vec<&str> = incoming.uri.path().trim_start_matches('/').split('/').collect();
    match (incoming.method.as_str(), segments.as_slice()) {
        ("GET", ["rest", "api", "3", "issue", id]) => match state.issues.get(*id) {
            Some(issue) => Json(json!({
                "id": issue.id, "key": issue.key,
                "fields": {
                    "summary": issue.summary, "description": issue.description,
                    "status": {"name": issue.status, "statusCategory": {"key": issue.status_category}}
                }
            }))
            .into_response(),
            None => errors(
                StatusCode::NOT_FOUND,
                "Issue does not exist or you do not have permission to see it.",
            ),
        },
        ("GET", ["rest", "api", "3", "issue", id, "comment"]) => {
            if !state.issues.contains_key(*id) {
                return errors(StatusCode::NOT_FOUND, "Issue does not exist");
            }
            let start_at: usize = query.get("startAt").and_then(|v| v.parse().ok()).unwrap_or(0);
            let max: usize = query
                .get("maxResults")
                .and_then(|v| v.parse().ok())
                .unwrap_or(50)
                .min(100);
            let mut comments: Vec<&FakeComment> =
                state.comments.iter().filter(|c| c.issue_id == *id).collect();
            comments.sort_by_key(|c| (c.created, c.id.parse::<u64>().unwrap_or(0)));
            if query.get("orderBy").map(String::as_str) == Some("-created") {
                comments.reverse();
            }
            let total = comments.len();
            let page: Vec<Value> = comments
                .into_iter()
                .skip(start_at)
                .take(max)
                .map(|c| comment_json(c, false))
                .collect();
            Json(json!({"startAt": start_at, "maxResults": max, "total": total, "comments": page}))
                .into_response()
        }
        ("POST", ["rest", "api", "3", "issue", id, "comment"]) => {
            if !state.issues.contains_key(*id) {
                return errors(StatusCode::NOT_FOUND, "Issue does not exist");
            }
            let Some(request) = json_body else {
                return errors(StatusCode::BAD_REQUEST, "Comment body can not be empty!");
            };
            if !is_adf(&request["body"]) {
                return errors(StatusCode::BAD_REQUEST, "Comment body is not valid!");
            }
            let properties = properties_of(&request);
            let comment_id = insert_comment(
                &mut state,
                id,
                FAKE_BOT_ACCOUNT_ID,
                FAKE_BOT_NAME,
                request["body"].clone(),
                properties,
                now,
            );
            let created = state
                .comments
                .iter()
                .find(|c| c.id == comment_id)
                .map(|c| comment_json(c, false));
            (StatusCode::CREATED, Json(created.unwrap_or(Value::Null))).into_response()
        }
        ("PUT", ["rest", "api", "3", "issue", id, "comment", comment_id]) => {
            let Some(request) = json_body else {
                return errors(StatusCode::BAD_REQUEST, "Comment body can not be empty!");
            };
            if !is_adf(&request["body"]) {
                return errors(StatusCode::BAD_REQUEST, "Comment body is not valid!");
            }
            let properties = properties_of(&request);
            let Some(comment) = state
                .comments
                .iter_mut()
                .find(|c| c.id == *comment_id && c.issue_id == *id)
            else {
                return errors(StatusCode::NOT_FOUND, "Can not find a comment for the id");
            };
            comment.body = request["body"].clone();
            comment.updated = now;
            if !properties.is_empty() {
                comment.properties = properties;
            }
            Json(comment_json(comment, false)).into_response()
        }
        ("POST", ["rest", "api", "3", "permissions", "check"]) => {
            let body = json_body.unwrap_or_default();
            let account = body["accountId"].as_str().unwrap_or_default();
            let held = state
                .permissions
                .get(account)
                .cloned()
                .unwrap_or_else(|| vec!["EDIT_ISSUES".to_owned()]);
            let mut grants = Vec::new();
            for asked in body["projectPermissions"].as_array().into_iter().flatten() {
                let issues: Vec<Value> = asked["issues"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|id| state.issues.contains_key(&id.to_string()))
                    .cloned()
                    .collect();
                for permission in asked["permissions"].as_array().into_iter().flatten() {
                    let name = permission.as_str().unwrap_or_default();
                    if held.iter().any(|h| h == name) {
                        grants.push(json!({"permission": name, "issues": issues, "projects": []}));
                    }
                }
            }
            Json(json!({"globalPermissions": [], "projectPermissions": grants})).into_response()
        }
        ("POST", ["rest", "api", "3", "comment", "list"]) => {
            let ids: Vec<String> = json_body
                .as_ref()
                .and_then(|b| b["ids"].as_array())
                .map(|ids| {
                    ids.iter()
                        .map(|id| id.to_string().trim_matches('"').to_owned())
                        .collect()
                })
                .unwrap_or_default();
            let with_properties = query.get("expand").is_some_and(|e| e.contains("properties"));
            let values: Vec<Value> = state
                .comments
                .iter()
                .filter(|c| ids.contains(&c.id))
                .map(|c| comment_json(c, with_properties))
                .collect();
            Json(json!({"startAt": 0, "maxResults": values.len(), "total": values.len(), "isLast": true, "values": values}))
                .into_response()
        }
        ("GET", ["rest", "api", "3", "issue", id, "transitions"]) => match state.issues.get(*id) {
            Some(issue) => {
                let transitions: Vec<Value> = issue
                    .transitions
                    .iter()
                    .filter(|t| t.to != issue.status)
                    .map(|t| json!({"id": t.id, "name": t.name, "to": {"name": t.to, "statusCategory": {"key": t.to_category}}}))
                    .collect();
                Json(json!({"transitions": transitions})).into_response()
            }
            None => errors(StatusCode::NOT_FOUND, "Issue does not exist"),
        },
        ("POST", ["rest", "api", "3", "issue", id, "transitions"]) => {
            let wanted = json_body
                .as_ref()
                .and_then(|b| b["transition"]["id"].as_str())
                .unwrap_or("")
                .to_owned();
            let Some(issue) = state.issues.get_mut(*id) else {
                return errors(StatusCode::NOT_FOUND, "Issue does not exist");
            };
            let Some(transition) = issue
                .transitions
                .iter()
                .find(|t| t.id == wanted && t.to != issue.status)
                .cloned()
            else {
                return errors(
                    StatusCode::BAD_REQUEST,
                    "Transition id is not valid for this issue.",
                );
            };
            issue.status = transition.to;
            issue.status_category = transition.to_category;
            StatusCode::NO_CONTENT.into_response()
        }
        _ => errors(StatusCode::NOT_FOUND, "Not found"),
    }
}

fn is_adf(body: &Value) -> bool {
    body.get("type").and_then(Value::as_str) == Some("doc")
        && body.get("version").and_then(Value::as_u64) == Some(1)
        && body.get("content").is_some_and(Value::is_array)
}

fn properties_of(request: &Value) -> BTreeMap<String, Value> {
    request
        .get("properties")
        .and_then(Value::as_array)
        .map(|properties| {
            properties
                .iter()
                .filter_map(|p| Some((p.get("key")?.as_str()?.to_owned(), p.get("value")?.clone())))
                .collect()
        })
        .unwrap_or_default()
}
