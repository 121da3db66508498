//! A local fake of the Linear GraphQL API subset Hookline uses, for integration tests.
//!
//! Modelled behaviour:
//! - One endpoint, `POST /graphql`, taking `{query, variables}`. The operation is recognised by the root field
//!   the query selects (`commentCreate`, `commentUpdate`, `reactionCreate`, `issueUpdate`, `comment(…)`,
//!   `issue(…)`), not by operation name, as a real server would resolve it.
//! - `Authorization` must be a registered API key (no `Bearer` prefix for personal keys), else HTTP 400 with an
//!   `authentication error`, as Linear answers. Each key acts as one service-account user.
//! - Refusals are HTTP 200 with `errors[]` (`Entity not found: …`, `invalid input`), mutations answer
//!   `{success, …}`. A `commentCreate` with an `id` that already exists is refused.
//! - Issues with a team, workflow states (type and position), comments with authors, thread parents and
//!   timestamps, and reactions.
//! - Team members: `issue(…) { team { members(filter: { id: { eq: $user } }) { nodes { active guest admin } } } }`
//!   answers the user when they are in the team: every user added is a member of every team, unless
//!   [`FakeLinear::set_member`] says otherwise.
//! - Failures queued with [`FakeLinear::fail_next`] answer the next request selecting that root field.
//!
//! Every request is recorded (root field, authorization, query and variables) for inspection.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};

use axum::{
    extract::State,
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use hookline::clock::{Clock, SystemClock};
use serde_json::{json, Value};

use crate::fake_core::{self, FakeServer, Incoming, Listener, Locked, Recording};
use crate::fake_oauth::{OAuthDesk, SignInRoutes};

/// One request the fake received.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// Root field the query selects (`commentCreate`, `comment`, `issue`, …); `unknown` otherwise.
    pub field: String,
    pub authorization: Option<String>,
    pub query: String,
    pub variables: Value,
}

impl From<fake_core::RecordedRequest> for RecordedRequest {
    fn from(request: fake_core::RecordedRequest) -> Self {
        Self {
            field: selected_field(&request).to_owned(),
            authorization: request.header("authorization").map(str::to_owned),
            query: graphql_query(&request).to_owned(),
            variables: request
                .body
                .as_ref()
                .and_then(|body| body.get("variables"))
                .cloned()
                .unwrap_or(Value::Null),
        }
    }
}

/// A workflow state of a team.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeWorkflowState {
    pub id: String,
    pub name: String,
    /// `triage`, `backlog`, `unstarted`, `started`, `completed` or `canceled`.
    pub kind: String,
    pub position: f64,
}

impl FakeWorkflowState {
    pub fn new(id: &str, name: &str, kind: &str, position: f64) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            kind: kind.into(),
            position,
        }
    }
}

/// An issue as the fake stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeIssue {
    pub id: String,
    pub identifier: String,
    pub title: String,
    pub description: String,
    pub team_id: String,
    pub state_id: String,
    pub creator_name: String,
}

/// A comment as the fake stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeComment {
    pub id: String,
    pub issue_id: String,
    pub body: String,
    pub user_id: String,
    pub parent_id: Option<String>,
    /// Epoch seconds.
    pub created_at: u64,
    /// How often it was updated through the API.
    pub edits: u32,
}

/// A reaction as the fake stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeReaction {
    pub comment_id: Option<String>,
    pub issue_id: Option<String>,
    pub emoji: String,
    pub user_id: String,
}

/// An answer to give instead of the normal one (see [`FakeLinear::fail_next`]).
pub type InjectedFailure = fake_core::InjectedFailure<FakeLinear>;

impl InjectedFailure {
    /// HTTP `status` with a GraphQL error of `kind` (extensions.type).
    pub fn graphql(status: u16, kind: &str, message: &str) -> Self {
        Self::new(
            status,
            json!({"errors": [{"message": message, "extensions": {"type": kind}}]}),
        )
    }

    /// HTTP 429 with `retry-after: {seconds}`.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::graphql(429, "ratelimited", "Too many requests").with_retry_after(Some(retry_after_secs))
    }

    /// Linear's rate limit as an error: HTTP 400, `RATELIMITED`, the request quota spent until `reset_ms`.
    pub fn ratelimited(reset_ms: u64) -> Self {
        let body = json!({"errors": [{"message": "Rate limit exceeded",
            "extensions": {"code": "RATELIMITED", "type": "ratelimited"}}]});
        Self::new(400, body)
            .with_header("x-ratelimit-requests-limit", "1500")
            .with_header("x-ratelimit-requests-remaining", "0")
            .with_header("x-ratelimit-requests-reset", &reset_ms.to_string())
    }
}

/// The running fake. Dropping it stops the server.
pub struct FakeLinear {
    shared: Arc<Shared>,
    server: FakeServer,
}

struct Shared {
    clock: Locked<Arc<dyn Clock>>,
    state: Locked<FakeState>,
    /// Linear's OAuth sign-in; the signed-in account is the GraphQL `viewer` of its user token.
    oauth: Locked<OAuthDesk>,
}

/// Linear's sign-in: `linear.app/oauth/authorize`, `api.linear.app/oauth/token`, and `viewer` on the GraphQL
/// endpoint.
const SIGN_IN: SignInRoutes = SignInRoutes {
    authorize: "/oauth/authorize",
    token: "/oauth/token",
    user: ("POST", "/graphql"),
};

impl Shared {
    fn now(&self) -> u64 {
        self.clock.lock().now_secs()
    }
}

#[derive(Default)]
struct FakeState {
    /// API key → the service-account user it acts as.
    api_keys: HashMap<String, String>,
    /// User id → display name.
    users: HashMap<String, String>,
    /// User id → (team ids they belong to, guest, admin), where not a member of every team.
    members: HashMap<String, (Vec<String>, bool, bool)>,
    issues: Vec<FakeIssue>,
    /// Team id → its workflow states.
    teams: HashMap<String, Vec<FakeWorkflowState>>,
    comments: Vec<FakeComment>,
    reactions: Vec<FakeReaction>,
    next_id: u64,
}

impl FakeState {
    fn issue_index(&self, id: &str) -> Option<usize> {
        self.issues
            .iter()
            .position(|i| i.id == id || i.identifier.eq_ignore_ascii_case(id))
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("00000000-0000-4000-8000-{:012}", self.next_id)
    }
}

impl FakeLinear {
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
    pub async fn start() -> FakeLinear {
        let listener = Listener::bind("fake Linear").await;
        let shared = Arc::new(Shared {
            clock: Locked::new(Arc::new(SystemClock)),
            state: Locked::default(),
            oauth: Locked::default(),
        });
        let server = listener.serve_fallback(shared.clone(), handle, Recording::headers(&["authorization"]));
        FakeLinear { shared, server }
    }

    /// The GraphQL endpoint (what `LINEAR_API_URL` should be).
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.server.url())
    }

    /// Use `clock` for comment timestamps (share the harness's manual clock).
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        *self.shared.clock.lock() = clock;
    }

    /// Accept `key`, acting as `user_id` (a service account named `name`).
    pub fn add_api_key(&self, key: &str, user_id: &str, name: &str) {
        let mut state = self.shared.state.lock();
        state.api_keys.insert(key.into(), user_id.into());
        state.users.insert(user_id.into(), name.into());
    }

    /// Register a person's display name.
    pub fn add_user(&self, user_id: &str, name: &str) {
        self.shared.state.lock().users.insert(user_id.into(), name.into());
    }

    /// Make `user_id` a member of `teams` only, a guest or not, an admin or not.
    pub fn set_member(&self, user_id: &str, teams: &[&str], guest: bool, admin: bool) {
        let teams = teams.iter().map(|t| (*t).to_owned()).collect();
        self.shared
            .state
            .lock()
            .members
            .insert(user_id.into(), (teams, guest, admin));
    }

    /// Add a team with its workflow states.
    pub fn add_team(&self, team_id: &str, states: Vec<FakeWorkflowState>) {
        self.shared.state.lock().teams.insert(team_id.into(), states);
    }

    pub fn add_issue(&self, issue: FakeIssue) {
        self.shared.state.lock().issues.push(issue);
    }

    /// The issue as stored now.
    pub fn issue(&self, id: &str) -> Option<FakeIssue> {
        let state = self.shared.state.lock();
        state.issue_index(id).map(|i| state.issues[i].clone())
    }

    /// Add a comment written by someone (not through the API); returns it.
    pub fn seed_comment(
        &self,
        id: &str,
        issue_id: &str,
        user_id: &str,
        body: &str,
        parent_id: Option<&str>,
        created_at: u64,
    ) -> FakeComment {
        let comment = FakeComment {
            id: id.into(),
            issue_id: issue_id.into(),
            body: body.into(),
            user_id: user_id.into(),
            parent_id: parent_id.map(str::to_owned),
            created_at,
            edits: 0,
        };
        self.shared.state.lock().comments.push(comment.clone());
        comment
    }

    /// `author` (user id, name) writes `body` on the issue `issue_id` at `now` (epoch seconds), in Linear's UI:
    /// the comment `comment_id` is stored, and the answer is the `Comment` `create` webhook Linear sends for it
    /// to the organization `organization_id` (workspace `acme`).
    pub fn comment_webhook(
        &self,
        organization_id: &str,
        issue_id: &str,
        comment_id: &str,
        (author, name): (&str, &str),
        body: &str,
        now: u64,
    ) -> Value {
        self.seed_comment(comment_id, issue_id, author, body, None, now);
        let issue = self.issue(issue_id).expect("a seeded issue");
        let team_key = issue.identifier.split('-').next().unwrap_or_default();
        let issue_url = format!("https://linear.app/acme/issue/{}", issue.identifier);
        json!({
            "action": "create",
            "type": "Comment",
            "actor": {"id": author, "type": "user", "name": name},
            "createdAt": "2026-11-28T10:00:00.000Z",
            "data": {
                "id": comment_id, "body": body, "issueId": issue_id, "userId": author,
                "issue": {"id": issue_id, "identifier": issue.identifier, "title": issue.title,
                          "team": {"id": issue.team_id, "key": team_key},
                          "url": issue_url},
                "user": {"id": author, "name": name},
                "botActor": null, "parentId": null,
                "createdAt": "2026-11-28T10:00:00.000Z", "updatedAt": "2026-11-28T10:00:00.000Z"
            },
            "url": format!("{issue_url}#comment-{comment_id}"),
            "organizationId": organization_id,
            "webhookId": "wh-acme",
            "webhookTimestamp": now * 1000,
        })
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.requests()
    }

    /// Requests selecting `field`.
    pub fn requests_for(&self, field: &str) -> Vec<RecordedRequest> {
        self.requests().into_iter().filter(|r| r.field == field).collect()
    }

    /// All comments, in creation order.
    pub fn comments(&self) -> Vec<FakeComment> {
        self.shared.state.lock().comments.clone()
    }

    /// Comments written by `user_id`.
    pub fn comments_by(&self, user_id: &str) -> Vec<FakeComment> {
        self.comments()
            .into_iter()
            .filter(|c| c.user_id == user_id)
            .collect()
    }

    pub fn reactions(&self) -> Vec<FakeReaction> {
        self.shared.state.lock().reactions.clone()
    }

    /// Answer the next request selecting `field` with `failure` (queued in order).
    pub fn fail_next(&self, field: &str, failure: InjectedFailure) {
        let field = field.to_owned();
        self.server
            .fail_next_matching(move |r| selected_field(r) == field, failure);
    }
}

/// The GraphQL query of a request (empty when there is none).
fn graphql_query(request: &fake_core::RecordedRequest) -> &str {
    request
        .body
        .as_ref()
        .and_then(|body| body["query"].as_str())
        .unwrap_or_default()
}

/// The root field a request's query selects.
fn selected_field(request: &fake_core::RecordedRequest) -> &'static str {
    root_field(graphql_query(request))
}

/// The root field a query selects.
fn root_field(query: &str) -> &'static str {
    for field in ["commentCreate", "commentUpdate", "reactionCreate", "issueUpdate"] {
        if query.contains(&format!("{field}(")) {
            return field;
        }
    }
    if query.contains("comment(") {
        return "comment";
    }
    if query.contains("issue(") {
        return "issue";
    }
    "unknown"
}

fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn graphql_error(kind: &str, message: &str) -> Value {
    json!({"data": null, "errors": [{"message": message, "extensions": {"type": kind}}]})
}

fn not_found(entity: &str) -> Value {
    json!({"data": null, "errors": [{"message": format!("Entity not found: {entity}"),
        "extensions": {"type": "invalid input", "code": "INPUT_ERROR"}}]})
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

async fn handle(State(shared): State<Arc<Shared>>, incoming: Incoming) -> Response {
    let viewer = |(name, id): &(String, String)| json!({ "data": { "viewer": { "id": id, "name": name } } });
    if let Some(answer) = shared.oauth.lock().route(&incoming, &SIGN_IN, viewer) {
        return answer;
    }
    if incoming.method != Method::POST || incoming.uri.path() != "/graphql" {
        return reply(StatusCode::NOT_FOUND, json!({"message": "not found"}));
    }
    let request: Value = match serde_json::from_slice(&incoming.body) {
        Ok(value) => value,
        Err(_) => {
            return reply(
                StatusCode::BAD_REQUEST,
                graphql_error("graphql error", "Body is not JSON"),
            )
        }
    };
    let query = request["query"].as_str().unwrap_or_default();
    let variables = request.get("variables").cloned().unwrap_or(Value::Null);
    let field = root_field(query);
    let authorization = incoming
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let now = shared.now();
    let mut state = shared.state.lock();
    let Some(viewer) = authorization.and_then(|key| state.api_keys.get(key).cloned()) else {
        return reply(
            StatusCode::BAD_REQUEST,
            graphql_error(
                "authentication error",
                "Authentication required, not authenticated",
            ),
        );
    };
    let body = match field {
        "commentCreate" => comment_create(&mut state, &viewer, &variables["input"], now),
        "commentUpdate" => comment_update(&mut state, &viewer, &variables),
        "reactionCreate" => reaction_create(&mut state, &viewer, &variables["input"]),
        "issueUpdate" => issue_update(&mut state, &variables),
        "comment" => comment_query(&state, &variables),
        "issue" => issue_query(&state, &variables),
        _ => graphql_error("graphql error", "Unknown query"),
    };
    reply(StatusCode::OK, body)
}

fn comment_url(state: &FakeState, issue_id: &str, comment_id: &str) -> String {
    let key = state
        .issue_index(issue_id)
        .map(|i| state.issues[i].identifier.clone())
        .unwrap_or_default();
    format!("https://linear.app/acme/issue/{key}#comment-{comment_id}")
}

fn comment_create(state: &mut FakeState, viewer: &str, input: &Value, now: u64) -> Value {
    let Some(issue_at) = input["issueId"].as_str().and_then(|id| state.issue_index(id)) else {
        return not_found("Issue");
    };
    let Some(body) = input["body"].as_str() else {
        return graphql_error("invalid input", "Argument Validation Error: body is required");
    };
    let id = match input["id"].as_str() {
        Some(id) if state.comments.iter().any(|c| c.id == id) => {
            return graphql_error("invalid input", "Argument Validation Error: id already exists")
        }
        Some(id) => id.to_owned(),
        None => state.new_id(),
    };
    let parent_id = input["parentId"].as_str().map(str::to_owned);
    if let Some(parent) = &parent_id {
        if !state.comments.iter().any(|c| &c.id == parent) {
            return not_found("Comment");
        }
    }
    let issue_id = state.issues[issue_at].id.clone();
    state.comments.push(FakeComment {
        id: id.clone(),
        issue_id: issue_id.clone(),
        body: body.to_owned(),
        user_id: viewer.to_owned(),
        parent_id,
        created_at: now,
        edits: 0,
    });
    let url = comment_url(state, &issue_id, &id);
    json!({"data": {"commentCreate": {"success": true, "comment": {"id": id, "url": url}}}})
}

fn comment_update(state: &mut FakeState, viewer: &str, variables: &Value) -> Value {
    let id = variables["id"].as_str().unwrap_or_default();
    let Some(comment) = state.comments.iter_mut().find(|c| c.id == id) else {
        return not_found("Comment");
    };
    if comment.user_id != viewer {
        return graphql_error("forbidden", "You can only edit your own comments");
    }
    if let Some(body) = variables["input"]["body"].as_str() {
        comment.body = body.to_owned();
        comment.edits += 1;
    }
    let issue_id = comment.issue_id.clone();
    let url = comment_url(state, &issue_id, id);
    json!({"data": {"commentUpdate": {"success": true, "comment": {"id": id, "url": url}}}})
}

fn reaction_create(state: &mut FakeState, viewer: &str, input: &Value) -> Value {
    let reaction = FakeReaction {
        comment_id: input["commentId"].as_str().map(str::to_owned),
        issue_id: input["issueId"].as_str().map(str::to_owned),
        emoji: input["emoji"].as_str().unwrap_or_default().to_owned(),
        user_id: viewer.to_owned(),
    };
    // Linear keeps one reaction per user, target and emoji.
    if !state.reactions.contains(&reaction) {
        state.reactions.push(reaction);
    }
    json!({"data": {"reactionCreate": {"success": true}}})
}

fn issue_update(state: &mut FakeState, variables: &Value) -> Value {
    let Some(at) = variables["id"].as_str().and_then(|id| state.issue_index(id)) else {
        return not_found("Issue");
    };
    if let Some(state_id) = variables["input"]["stateId"].as_str() {
        let team = state.issues[at].team_id.clone();
        let known = state
            .teams
            .get(&team)
            .is_some_and(|states| states.iter().any(|s| s.id == state_id));
        if !known {
            return not_found("WorkflowState");
        }
        state.issues[at].state_id = state_id.to_owned();
    }
    json!({"data": {"issueUpdate": {"success": true}}})
}

fn comment_query(state: &FakeState, variables: &Value) -> Value {
    let id = variables["id"].as_str().unwrap_or_default();
    let Some(comment) = state.comments.iter().find(|c| c.id == id) else {
        return not_found("Comment");
    };
    json!({"data": {"comment": {
        "id": comment.id,
        "url": comment_url(state, &comment.issue_id, &comment.id),
        "issue": {"id": comment.issue_id},
        "user": {"id": comment.user_id},
    }}})
}

/// `user` as a node of `team`'s members, when they are one.
fn team_member(state: &FakeState, team: &str, user: Option<&str>) -> Vec<Value> {
    let Some(user) = user.filter(|u| state.users.contains_key(*u)) else {
        return Vec::new();
    };
    let (member, guest, admin) = match state.members.get(user) {
        Some((teams, guest, admin)) => (teams.iter().any(|t| t == team), *guest, *admin),
        None => (true, false, false),
    };
    if !member {
        return Vec::new();
    }
    vec![json!({"id": user, "active": true, "guest": guest, "admin": admin})]
}

fn issue_query(state: &FakeState, variables: &Value) -> Value {
    let Some(at) = variables["id"].as_str().and_then(|id| state.issue_index(id)) else {
        return not_found("Issue");
    };
    let issue = &state.issues[at];
    let states = state.teams.get(&issue.team_id).cloned().unwrap_or_default();
    let current = states.iter().find(|s| s.id == issue.state_id);
    let state_json =
        |s: &FakeWorkflowState| json!({"id": s.id, "name": s.name, "type": s.kind, "position": s.position});
    let comments: Vec<Value> = state
        .comments
        .iter()
        .filter(|c| c.issue_id == issue.id)
        .map(|c| {
            let name = state.users.get(&c.user_id).cloned().unwrap_or_default();
            json!({
                "id": c.id, "body": c.body, "createdAt": rfc3339(c.created_at),
                "user": {"id": c.user_id, "name": name, "displayName": name},
                "botActor": null,
            })
        })
        .collect();
    json!({"data": {"issue": {
        "id": issue.id,
        "identifier": issue.identifier,
        "title": issue.title,
        "description": issue.description,
        "creator": {"name": issue.creator_name, "displayName": issue.creator_name},
        "state": current.map(state_json),
        "team": {
            "id": issue.team_id,
            "states": {"nodes": states.iter().map(state_json).collect::<Vec<_>>()},
            "members": {"nodes": team_member(state, &issue.team_id, variables["user"].as_str())},
        },
        "comments": {"nodes": comments},
    }}})
}
