//! A local fake of the GitLab REST v4 subset Hookline uses, for integration tests. One fake is
//! one GitLab instance (tenant); start two for a gitlab.com + self-managed setup.
//!
//! Modelled behaviour:
//! - Everything lives under `/api/v4`. Each call needs the configured token in `PRIVATE-TOKEN` (or
//!   `Authorization: Bearer`), else `401 {"message": "401 Unauthorized"}`.
//! - Notes on issues and merge requests (`/projects/:id/{issues|merge_requests}/:iid/notes`: list with
//!   `sort`, `order_by`, `per_page` (default 20, at most 100), `page` and GitLab's `X-Next-Page` / `X-Total` /
//!   `Link` headers; create; edit with `PUT …/notes/:note_id`), discussions (`GET …/discussions/:id`,
//!   `POST …/discussions/:id/notes`, 404 for an unknown discussion), award emoji on the item and on notes (a
//!   second identical award answers 404 "has already been taken", as GitLab does), project membership
//!   (`/projects/:id/members/all/:user_id`, 404 for non-members), one note (`GET …/notes/:note_id`, 404 when it
//!   is not on that item), resource label events (`GET …/resource_label_events`, from
//!   [`FakeGitlab::seed_label_added`], with ids and times), projects (`GET /projects/:id`) and issues and merge
//!   requests (`GET …/issues/:iid`, `GET …/merge_requests/:iid`, with their assignees and `updated_at`; 404
//!   unless seeded, with [`FakeGitlab::seed_item`] or [`FakeGitlab::seed_from_hook`]).
//! - Assignments ([`FakeGitlab::seed_assignment`]): the assignee joins the item's assignees, the item's
//!   `updated_at` moves, and a system note `assigned to @<assignee>` by the assigner is listed with its notes.
//! - Notes created through the API are authored by the bot account ([`FAKE_BOT_USERNAME`]).
//! - People signing in with an OAuth application ([`FakeGitlab::enable_oauth`], [`crate::fake_oauth`]):
//!   `GET /oauth/authorize`, `POST /oauth/token`, and `GET /api/v4/user` with the user token.
//! - Failures queued with [`FakeGitlab::fail_next`] are answered before authentication, one per matching
//!   request, in order.
//!
//! Every request is recorded (method, path, query, JSON body and a few headers) for inspection.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use hookline::{
    clock::{Clock, SystemClock},
    gitlab::Noteable,
};
use serde_json::{json, Value};

pub use crate::fake_core::RecordedRequest;
use crate::fake_core::{self, query_map, reason, FakeServer, Incoming, Listener, Locked, Page, Recording};
use crate::fake_oauth::{OAuthDesk, SignInRoutes};

/// The instance's OAuth sign-in.
const SIGN_IN: SignInRoutes = SignInRoutes {
    authorize: "/oauth/authorize",
    token: "/oauth/token",
    user: ("GET", "/api/v4/user"),
};

/// Username of the account whose token Hookline uses.
pub const FAKE_BOT_USERNAME: &str = "hookline-bot";
/// Its user id.
pub const FAKE_BOT_ID: u64 = 9000;

/// Every path is under this prefix; recorded paths are without it.
const API_PREFIX: &str = "/api/v4";

/// Request headers kept in [`RecordedRequest::headers`] (lowercase).
const RECORDED_HEADERS: &[&str] = &["private-token", "authorization", "accept", "content-type"];

/// A note as the fake stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeNote {
    pub id: u64,
    pub project_id: u64,
    pub noteable: Noteable,
    pub iid: u64,
    pub body: String,
    pub author_username: String,
    pub author_id: u64,
    pub system: bool,
    pub internal: bool,
    /// Every note belongs to a discussion (a one-note discussion for a plain note).
    pub discussion_id: String,
    /// Epoch seconds.
    pub created_at: u64,
    pub updated_at: u64,
}

/// An award emoji as the fake stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeAward {
    pub project_id: u64,
    pub noteable: Noteable,
    pub iid: u64,
    /// `None` when awarded on the issue / merge request itself.
    pub note_id: Option<u64>,
    pub name: String,
    pub username: String,
}

/// An answer to give instead of the normal one (see [`FakeGitlab::fail_next`]).
pub type InjectedFailure = fake_core::InjectedFailure<FakeGitlab>;

impl InjectedFailure {
    /// `status` with a GitLab-style `{"message": "<status> <reason>"}` body.
    pub fn status(status: u16) -> Self {
        Self::new(
            status,
            json!({ "message": format!("{status} {}", reason(status)) }),
        )
    }

    /// 429 with `Retry-After: {seconds}` and GitLab's `RateLimit-*` headers.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::status(429)
            .with_header("retry-after", &retry_after_secs.to_string())
            .with_header("ratelimit-limit", "2000")
            .with_header("ratelimit-remaining", "0")
            .with_header("ratelimit-name", "throttle_authenticated_api")
    }

    /// 429 with only `RateLimit-Reset: {epoch}` (a limiter that sends no `Retry-After`).
    pub fn rate_limit_reset(reset_at: u64) -> Self {
        Self::new(429, json!({ "message": "Retry later" }))
            .with_header("ratelimit-remaining", "0")
            .with_header("ratelimit-reset", &reset_at.to_string())
    }
}

/// An issue or merge request as the fake stores it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeItem {
    pub title: String,
    pub description: String,
    pub web_url: String,
    /// Merge requests: the source branch, and the project it lives in (a fork when not the item's own).
    pub source_branch: Option<String>,
    pub source_project_id: Option<u64>,
    /// Who opened it.
    pub author_id: Option<u64>,
    /// Who it is assigned to: (id, username).
    pub assignees: Vec<(u64, String)>,
    /// When it last changed (epoch seconds).
    pub updated_at: Option<u64>,
}

/// A label event as the fake stores it.
#[derive(Clone, Debug)]
struct FakeLabelEvent {
    id: u64,
    label: String,
    user_id: u64,
    created_at: u64,
}

#[derive(Clone, Debug)]
struct Member {
    access_level: u64,
    state: String,
}

/// The running fake. Dropping it stops the server.
pub struct FakeGitlab {
    shared: Arc<Shared>,
    server: FakeServer,
}

struct Shared {
    token: String,
    clock: Arc<dyn Clock>,
    state: Locked<FakeState>,
    oauth: Locked<OAuthDesk>,
}

#[derive(Default)]
struct FakeState {
    next_id: u64,
    notes: Vec<FakeNote>,
    awards: Vec<FakeAward>,
    members: HashMap<(u64, u64), Member>,
    /// Project id → `path_with_namespace`.
    projects: HashMap<u64, String>,
    /// Per item (project, issue or MR, iid).
    items: HashMap<(u64, bool, u64), FakeItem>,
    /// Per item: labels added, oldest first.
    label_events: HashMap<(u64, bool, u64), Vec<FakeLabelEvent>>,
}

impl FakeGitlab {
    /// Make note `note_id` internal (visible to project members only).
    pub fn make_internal(&self, note_id: u64) {
        let mut state = self.shared.state.lock();
        if let Some(note) = state.notes.iter_mut().find(|n| n.id == note_id) {
            note.internal = true;
        }
    }

    /// Start a fake instance that accepts `token`, on the system clock.
    ///
    /// # Panics
    /// If no local port can be bound (the test cannot run anyway).
    pub async fn start(token: &str) -> FakeGitlab {
        Self::start_with_clock(token, Arc::new(SystemClock)).await
    }

    /// Start with a clock (note timestamps), so a test can share a `ManualClock` with Hookline.
    ///
    /// # Panics
    /// As [`FakeGitlab::start`].
    pub async fn start_with_clock(token: &str, clock: Arc<dyn Clock>) -> FakeGitlab {
        let listener = Listener::bind("fake GitLab").await;
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            clock,
            state: Locked::new(FakeState {
                next_id: 5_000,
                ..FakeState::default()
            }),
            oauth: Locked::default(),
        });
        let server = listener.serve_fallback(
            shared.clone(),
            handle,
            Recording::headers(RECORDED_HEADERS).under(API_PREFIX),
        );
        FakeGitlab { shared, server }
    }

    /// The instance's base URL, e.g. `http://127.0.0.1:41234` (what `GITLAB_<TENANT>_URL` should be).
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// Let people sign in with an OAuth application `client_id` whose secret is `client_secret`.
    pub fn enable_oauth(&self, client_id: &str, client_secret: &str) {
        self.shared.oauth.lock().enable(client_id, client_secret);
    }

    /// The account signed in to the instance's web side from now on.
    pub fn sign_in_as(&self, username: &str, id: u64) {
        self.shared.oauth.lock().sign_in_as(username, id);
    }

    /// Every request under `/api/v4` so far, oldest first, with paths without `/api/v4`.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.requests()
    }

    /// Requests whose path (without `/api/v4`) starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<RecordedRequest> {
        self.server.requests_to(prefix)
    }

    /// All notes, in creation order.
    pub fn notes(&self) -> Vec<FakeNote> {
        self.shared.state.lock().notes.clone()
    }

    /// Notes written through the API (by the bot account).
    pub fn bot_notes(&self) -> Vec<FakeNote> {
        self.notes()
            .into_iter()
            .filter(|n| n.author_username == FAKE_BOT_USERNAME)
            .collect()
    }

    /// All award emoji, in creation order.
    pub fn awards(&self) -> Vec<FakeAward> {
        self.shared.state.lock().awards.clone()
    }

    /// Make `user_id` a member of `project_id` with `access_level` (10 guest … 30 developer … 50 owner).
    pub fn set_access_level(&self, project_id: u64, user_id: u64, access_level: u64) {
        self.shared.state.lock().members.insert(
            (project_id, user_id),
            Member {
                access_level,
                state: "active".to_owned(),
            },
        );
    }

    /// Block a member (state `blocked`), keeping the access level.
    pub fn block_member(&self, project_id: u64, user_id: u64) {
        if let Some(member) = self.shared.state.lock().members.get_mut(&(project_id, user_id)) {
            member.state = "blocked".to_owned();
        }
    }

    /// Record that `user_id` added `label` to the item now (its resource label events).
    pub fn seed_label_added(&self, project_id: u64, noteable: Noteable, iid: u64, label: &str, user_id: u64) {
        let key = (project_id, noteable == Noteable::MergeRequest, iid);
        let created_at = self.shared.clock.now_secs();
        let mut state = self.shared.state.lock();
        state.next_id += 1;
        let id = state.next_id;
        state.label_events.entry(key).or_default().push(FakeLabelEvent {
            id,
            label: label.to_owned(),
            user_id,
            created_at,
        });
    }

    /// Make project `id` exist at `path` (`group/project`).
    pub fn seed_project(&self, id: u64, path: &str) {
        self.shared.state.lock().projects.insert(id, path.to_owned());
    }

    /// Make the issue or merge request exist as `item` (replacing what was there).
    pub fn seed_item(&self, project_id: u64, noteable: Noteable, iid: u64, item: FakeItem) {
        let key = (project_id, noteable == Noteable::MergeRequest, iid);
        self.shared.state.lock().items.insert(key, item);
    }

    /// Make merge request `iid` of `project_id` come from `source_branch` of the project itself.
    pub fn set_merge_request(&self, project_id: u64, iid: u64, source_branch: &str) {
        let key = (project_id, true, iid);
        let mut state = self.shared.state.lock();
        let item = state.items.entry(key).or_default();
        item.source_branch = Some(source_branch.to_owned());
        item.source_project_id = Some(project_id);
    }

    /// Make GitLab hold what a (genuine) webhook `hook` says: its project, and its issue or merge request.
    pub fn seed_from_hook(&self, hook: &Value) {
        let project = &hook["project"];
        let Some(project_id) = project["id"].as_u64() else {
            return;
        };
        let path = project["path_with_namespace"].as_str().unwrap_or_default();
        self.seed_project(project_id, path);
        let (attrs, noteable) = match hook["object_kind"].as_str() {
            Some("issue") => (&hook["object_attributes"], Noteable::Issue),
            Some("merge_request") => (&hook["object_attributes"], Noteable::MergeRequest),
            _ if hook["merge_request"].is_object() => (&hook["merge_request"], Noteable::MergeRequest),
            _ => (&hook["issue"], Noteable::Issue),
        };
        let Some(iid) = attrs["iid"].as_u64() else {
            return;
        };
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let web_url = attrs["url"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}/-/{}/{iid}", text(&project["web_url"]), noteable.api_segment()));
        if let Some(source) = attrs["source"]["path_with_namespace"].as_str() {
            if let Some(id) = attrs["source_project_id"].as_u64() {
                self.seed_project(id, source);
            }
        }
        let item = FakeItem {
            title: text(&attrs["title"]),
            description: text(&attrs["description"]),
            web_url,
            source_branch: attrs["source_branch"].as_str().map(str::to_owned),
            source_project_id: attrs["source_project_id"].as_u64(),
            author_id: attrs["author_id"].as_u64(),
            assignees: hook["assignees"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| Some((a["id"].as_u64()?, text(&a["username"]))))
                .collect(),
            updated_at: attrs["updated_at"].as_str().and_then(parse_hook_time),
        };
        self.seed_item(project_id, noteable, iid, item);
    }

    /// Record that `by` (id, username) assigned the item to `assignee` (id, username) now: the assignee joins
    /// the item's assignees (the item is created if need be), its `updated_at` moves to now, and GitLab's system
    /// note `assigned to @<assignee>` by `by` is added. Returns the time (epoch seconds).
    pub fn seed_assignment(
        &self,
        project_id: u64,
        noteable: Noteable,
        iid: u64,
        by: (u64, &str),
        assignee: (u64, &str),
    ) -> u64 {
        let key = (project_id, noteable == Noteable::MergeRequest, iid);
        let now = self.shared.clock.now_secs();
        let mut state = self.shared.state.lock();
        let item = state.items.entry(key).or_default();
        if !item.assignees.iter().any(|(id, _)| *id == assignee.0) {
            item.assignees.push((assignee.0, assignee.1.to_owned()));
        }
        item.updated_at = Some(now);
        let body = format!("assigned to @{}", assignee.1);
        let note = NewNote {
            project_id,
            noteable,
            iid,
            body: &body,
            author: by.1,
            author_id: by.0,
            internal: false,
            discussion: None,
            created_at: now,
        };
        let id = insert_note(&mut state, note);
        if let Some(note) = state.notes.iter_mut().find(|n| n.id == id) {
            note.system = true;
        }
        now
    }

    /// Take `assignee_id` off the item's assignees (no system note).
    pub fn unassign(&self, project_id: u64, noteable: Noteable, iid: u64, assignee_id: u64) {
        let key = (project_id, noteable == Noteable::MergeRequest, iid);
        if let Some(item) = self.shared.state.lock().items.get_mut(&key) {
            item.assignees.retain(|(id, _)| *id != assignee_id);
        }
    }

    /// Answer the next request whose path (without `/api/v4`) starts with `path_prefix` with `failure`.
    pub fn fail_next(&self, path_prefix: &str, failure: InjectedFailure) {
        self.server.fail_next(path_prefix, failure);
    }

    /// Add an existing note by someone; in `discussion` when given (a reply in that thread), else in a new
    /// one-note discussion. Returns `(note id, discussion id)`.
    #[allow(clippy::too_many_arguments)] // a plain record constructor for tests
    pub fn seed_note(
        &self,
        project_id: u64,
        noteable: Noteable,
        iid: u64,
        author: &str,
        author_id: u64,
        body: &str,
        created_at: u64,
        discussion: Option<&str>,
    ) -> (u64, String) {
        let mut state = self.shared.state.lock();
        let note = NewNote {
            project_id,
            noteable,
            iid,
            body,
            author,
            author_id,
            internal: false,
            discussion: discussion.map(str::to_owned),
            created_at,
        };
        let id = insert_note(&mut state, note);
        let discussion_id = state
            .notes
            .iter()
            .find(|n| n.id == id)
            .map(|n| n.discussion_id.clone())
            .unwrap_or_default();
        (id, discussion_id)
    }
}

struct NewNote<'a> {
    project_id: u64,
    noteable: Noteable,
    iid: u64,
    body: &'a str,
    author: &'a str,
    author_id: u64,
    internal: bool,
    discussion: Option<String>,
    created_at: u64,
}

fn insert_note(state: &mut FakeState, note: NewNote<'_>) -> u64 {
    state.next_id += 1;
    let id = state.next_id;
    let discussion_id = note
        .discussion
        .unwrap_or_else(|| format!("{:040x}", 0xd15c_0000_u64 + id));
    state.notes.push(FakeNote {
        id,
        project_id: note.project_id,
        noteable: note.noteable,
        iid: note.iid,
        body: note.body.to_owned(),
        author_username: note.author.to_owned(),
        author_id: note.author_id,
        system: false,
        internal: note.internal,
        discussion_id,
        created_at: note.created_at,
        updated_at: note.created_at,
    });
    id
}

async fn handle(State(shared): State<Arc<Shared>>, incoming: Incoming) -> Response {
    respond(&shared, &incoming)
}

fn respond(shared: &Shared, incoming: &Incoming) -> Response {
    let user = |(username, id): &(String, String)| json!({ "id": id.parse::<u64>().unwrap_or_default(), "username": username, "bot": false });
    if let Some(answer) = shared.oauth.lock().route(incoming, &SIGN_IN, user) {
        return answer;
    }
    let Some(path) = incoming.uri.path().strip_prefix(API_PREFIX) else {
        return message(StatusCode::NOT_FOUND, "404 Not Found");
    };
    if !authenticated(shared, &incoming.headers) {
        return message(StatusCode::UNAUTHORIZED, "401 Unauthorized");
    }
    let json_body = serde_json::from_slice::<Value>(&incoming.body).ok();
    if !incoming.body.is_empty() && json_body.is_none() {
        return message(StatusCode::BAD_REQUEST, "400 Bad request - invalid JSON");
    }
    let mut state = shared.state.lock();
    let query = query_map(incoming.uri.query());
    let now = shared.clock.now_secs();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let number = |s: &str| s.parse::<u64>().ok();
    let kind = |s: &str| match s {
        "issues" => Some(Noteable::Issue),
        "merge_requests" => Some(Noteable::MergeRequest),
        _ => None,
    };
    let request = Request {
        body: json_body.as_ref(),
        query: &query,
        now,
    };
    match (incoming.method.as_str(), segments.as_slice()) {
        ("GET", ["user"]) => reply(
            StatusCode::OK,
            json!({"id": FAKE_BOT_ID, "username": FAKE_BOT_USERNAME, "bot": true}),
        ),
        ("GET", ["projects", project, "members", "all", user]) => match (number(project), number(user)) {
            (Some(project), Some(user)) => member(&state, project, user),
            _ => not_found(),
        },
        ("GET", ["projects", project]) => {
            match number(project).and_then(|id| state.projects.get(&id).map(|p| (id, p))) {
                Some((id, path)) => reply(StatusCode::OK, json!({"id": id, "path_with_namespace": path})),
                None => message(StatusCode::NOT_FOUND, "404 Project Not Found"),
            }
        }
        (_, ["projects", project, area, iid, rest @ ..]) => {
            match (number(project), kind(area), number(iid)) {
                (Some(project), Some(noteable), Some(iid)) => {
                    let item = Item {
                        project,
                        noteable,
                        iid,
                    };
                    route_item(&request, &mut state, &incoming.method, &item, rest)
                }
                _ => not_found(),
            }
        }
        _ => not_found(),
    }
}

struct Request<'a> {
    body: Option<&'a Value>,
    query: &'a BTreeMap<String, String>,
    now: u64,
}

#[derive(Clone, Copy)]
struct Item {
    project: u64,
    noteable: Noteable,
    iid: u64,
}

fn route_item(
    request: &Request<'_>,
    state: &mut FakeState,
    method: &Method,
    item: &Item,
    rest: &[&str],
) -> Response {
    let number = |s: &str| s.parse::<u64>().ok();
    let key = (item.project, item.noteable == Noteable::MergeRequest, item.iid);
    match (method.as_str(), rest) {
        ("GET", []) => match state.items.get(&key) {
            Some(found) => reply(StatusCode::OK, item_json(item, found)),
            None => message(StatusCode::NOT_FOUND, "404 Not found"),
        },
        ("POST", ["award_emoji"]) => award(request, state, item, None),
        ("POST", ["notes", note, "award_emoji"]) => match number(note) {
            Some(note) => award(request, state, item, Some(note)),
            None => not_found(),
        },
        ("GET", ["notes"]) => list_notes(request, state, item),
        ("GET", ["resource_label_events"]) => {
            let events: Vec<Value> = state
                .label_events
                .get(&key)
                .into_iter()
                .flatten()
                .map(|event| {
                    json!({"id": event.id, "action": "add", "created_at": timestamp(event.created_at),
                           "user": {"id": event.user_id, "username": format!("user{}", event.user_id)},
                           "label": {"id": 100, "name": event.label}})
                })
                .collect();
            reply(StatusCode::OK, Value::Array(events))
        }
        ("GET", ["notes", note]) => {
            match number(note).and_then(|id| item_notes(state, item).find(|n| n.id == id)) {
                Some(note) => reply(StatusCode::OK, note_json(note)),
                None => message(StatusCode::NOT_FOUND, "404 Not found"),
            }
        }
        ("POST", ["notes"]) => create_note(request, state, item, None),
        ("PUT", ["notes", note]) => match number(note) {
            Some(note) => edit_note(request, state, item, note),
            None => not_found(),
        },
        ("GET", ["discussions", discussion]) => {
            let notes: Vec<Value> = item_notes(state, item)
                .filter(|n| n.discussion_id == *discussion)
                .map(note_json)
                .collect();
            if notes.is_empty() {
                return message(StatusCode::NOT_FOUND, "404 Discussion Not Found");
            }
            reply(
                StatusCode::OK,
                json!({"id": discussion, "individual_note": notes.len() == 1, "notes": notes}),
            )
        }
        ("POST", ["discussions", discussion, "notes"]) => {
            if !item_notes(state, item).any(|n| n.discussion_id == *discussion) {
                return message(StatusCode::NOT_FOUND, "404 Discussion Not Found");
            }
            create_note(request, state, item, Some((*discussion).to_owned()))
        }
        _ => not_found(),
    }
}

fn item_json(item: &Item, found: &FakeItem) -> Value {
    let mut v = json!({"id": item.iid + 10_000, "iid": item.iid, "project_id": item.project, "state": "opened",
                       "title": found.title, "description": found.description, "web_url": found.web_url});
    if let Some(id) = found.author_id {
        v["author"] = json!({"id": id, "username": format!("user{id}")});
    }
    let assignees: Vec<Value> = found
        .assignees
        .iter()
        .map(|(id, username)| json!({"id": id, "username": username, "name": username, "state": "active"}))
        .collect();
    v["assignee"] = assignees.first().cloned().unwrap_or(Value::Null);
    v["assignees"] = Value::Array(assignees);
    if let Some(at) = found.updated_at {
        v["updated_at"] = json!(timestamp(at));
    }
    if item.noteable == Noteable::MergeRequest {
        v["source_branch"] = json!(found.source_branch);
        v["source_project_id"] = json!(found.source_project_id.unwrap_or(item.project));
        v["target_project_id"] = json!(item.project);
        v["target_branch"] = json!("main");
    }
    v
}

fn item_notes<'s>(state: &'s FakeState, item: &Item) -> impl Iterator<Item = &'s FakeNote> {
    let item = *item;
    state
        .notes
        .iter()
        .filter(move |n| n.project_id == item.project && n.noteable == item.noteable && n.iid == item.iid)
}

fn authenticated(shared: &Shared, headers: &HeaderMap) -> bool {
    let private = headers.get("private-token").and_then(|v| v.to_str().ok());
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    private.or(bearer).is_some_and(|t| t == shared.token)
}

fn member(state: &FakeState, project: u64, user: u64) -> Response {
    match state.members.get(&(project, user)) {
        Some(member) => reply(
            StatusCode::OK,
            json!({"id": user, "username": format!("user{user}"), "name": "Member", "state": member.state,
                   "access_level": member.access_level, "expires_at": null}),
        ),
        None => message(StatusCode::NOT_FOUND, "404 Not found"),
    }
}

fn award(request: &Request<'_>, state: &mut FakeState, item: &Item, note_id: Option<u64>) -> Response {
    let Some(name) = request.body.and_then(|b| b.get("name")).and_then(Value::as_str) else {
        return message(StatusCode::BAD_REQUEST, "400 Bad request - name is missing");
    };
    if let Some(note_id) = note_id {
        if !item_notes(state, item).any(|n| n.id == note_id) {
            return message(StatusCode::NOT_FOUND, "404 Note Not Found");
        }
    }
    let award = FakeAward {
        project_id: item.project,
        noteable: item.noteable,
        iid: item.iid,
        note_id,
        name: name.to_owned(),
        username: FAKE_BOT_USERNAME.to_owned(),
    };
    if state.awards.contains(&award) {
        return message(
            StatusCode::NOT_FOUND,
            "404 Award Emoji Name has already been taken Not Found",
        );
    }
    state.awards.push(award);
    state.next_id += 1;
    reply(
        StatusCode::CREATED,
        json!({"id": state.next_id, "name": name, "user": {"id": FAKE_BOT_ID, "username": FAKE_BOT_USERNAME}}),
    )
}

fn list_notes(request: &Request<'_>, state: &FakeState, item: &Item) -> Response {
    let mut notes: Vec<&FakeNote> = item_notes(state, item).collect();
    notes.sort_by_key(|n| (n.created_at, n.id));
    // GitLab's default order is newest first.
    if request.query.get("sort").map(String::as_str) != Some("asc") {
        notes.reverse();
    }
    let listing = Page::of(request.query, 20, notes.len());
    let mut response = reply(StatusCode::OK, listing.items(&notes, |n| note_json(n)));
    let Page {
        page,
        per_page,
        pages: total_pages,
    } = listing;
    let next = if page < total_pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    for (name, value) in [
        ("x-page", page.to_string()),
        ("x-per-page", per_page.to_string()),
        ("x-total", notes.len().to_string()),
        ("x-total-pages", total_pages.to_string()),
        ("x-next-page", next),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn create_note(
    request: &Request<'_>,
    state: &mut FakeState,
    item: &Item,
    discussion: Option<String>,
) -> Response {
    let Some(body) = request.body.and_then(|b| b.get("body")).and_then(Value::as_str) else {
        return message(StatusCode::BAD_REQUEST, "400 Bad request - body is missing");
    };
    let internal = request
        .body
        .and_then(|b| b.get("internal"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let id = insert_note(
        state,
        NewNote {
            project_id: item.project,
            noteable: item.noteable,
            iid: item.iid,
            body,
            author: FAKE_BOT_USERNAME,
            author_id: FAKE_BOT_ID,
            internal,
            discussion,
            created_at: request.now,
        },
    );
    match state.notes.iter().find(|n| n.id == id) {
        Some(note) => reply(StatusCode::CREATED, note_json(note)),
        None => message(StatusCode::INTERNAL_SERVER_ERROR, "500 note vanished"),
    }
}

fn edit_note(request: &Request<'_>, state: &mut FakeState, item: &Item, note_id: u64) -> Response {
    let Some(body) = request.body.and_then(|b| b.get("body")).and_then(Value::as_str) else {
        return message(StatusCode::BAD_REQUEST, "400 Bad request - body is missing");
    };
    let item = *item;
    match state.notes.iter_mut().find(|n| {
        n.id == note_id && n.project_id == item.project && n.noteable == item.noteable && n.iid == item.iid
    }) {
        // Only the author may edit a note.
        Some(note) if note.author_username != FAKE_BOT_USERNAME => {
            message(StatusCode::FORBIDDEN, "403 Forbidden")
        }
        Some(note) => {
            note.body = body.to_owned();
            note.updated_at = request.now;
            reply(StatusCode::OK, note_json(note))
        }
        None => message(StatusCode::NOT_FOUND, "404 Note Not Found"),
    }
}

fn note_json(note: &FakeNote) -> Value {
    json!({
        "id": note.id,
        "type": null,
        "body": note.body,
        "author": {"id": note.author_id, "username": note.author_username, "name": note.author_username},
        "created_at": timestamp(note.created_at),
        "updated_at": timestamp(note.updated_at),
        "system": note.system,
        "noteable_type": match note.noteable { Noteable::Issue => "Issue", Noteable::MergeRequest => "MergeRequest" },
        "noteable_iid": note.iid,
        "project_id": note.project_id,
        "internal": note.internal,
        "confidential": note.internal,
        "resolvable": false,
    })
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn message(status: StatusCode, text: &str) -> Response {
    reply(status, json!({ "message": text }))
}

fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "404 Not Found")
}

/// A hook's timestamp (`2026-11-28 10:00:12 UTC` or RFC 3339) in epoch seconds.
fn parse_hook_time(value: &str) -> Option<u64> {
    let value = value.trim();
    let value = value.strip_suffix(" UTC").unwrap_or(value);
    humantime::parse_rfc3339_weak(value.trim_end_matches('Z'))
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// `2026-11-28 10:00:12 UTC`, as GitLab writes timestamps in hooks.
pub fn hook_timestamp(epoch_secs: u64) -> String {
    let rfc = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch_secs)).to_string();
    format!("{} UTC", rfc.trim_end_matches('Z').replacen('T', " ", 1))
}

/// `2026-11-28T11:48:21.000Z`, as GitLab writes timestamps.
pub fn timestamp(epoch_secs: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_secs(epoch_secs)).to_string()
}
