//! A local fake of the Slack Web API subset Hookline uses, for integration tests.
//!
//! Modelled behaviour:
//! - Every method is `POST|GET {url}/api/{method}` and needs `Authorization: Bearer <bot token>` of a team added
//!   with [`FakeSlack::add_team`]; otherwise `{"ok": false, "error": "invalid_auth"}` (HTTP 200, as Slack does).
//! - Answers are `{"ok": true, …}` or `{"ok": false, "error": "<code>"}` with HTTP 200, like the real API.
//! - `reactions.add` (`already_reacted` on a repeat, `message_not_found` for an unknown message),
//!   `chat.postMessage` (thread replies with `thread_ts`, message `metadata` and `blocks` kept), `chat.update`
//!   (`message_not_found`, `cant_update_message` for someone else's message; `blocks` replaced when sent, an
//!   empty array removing them, and kept when left out), `chat.postEphemeral`, and
//!   `conversations.replies` (root first, then replies by ts; `limit` + `cursor` pagination with
//!   `response_metadata.next_cursor`; metadata only with `include_all_metadata=true`), and
//!   `usergroups.users.list` (`no_such_subteam` for a group not added with [`FakeSlack::add_usergroup`]).
//! - `blocks` must be an array of at most 50 blocks, each with a `type`, a section's text at most 3000
//!   characters, a `block_id` at most 255, a button's `value` at most 2000, and a `static_select` 1 to 100
//!   options, each with a plain text of at most 75 characters and a value of at most 150; otherwise
//!   `invalid_blocks`. A message keeps the blocks it was posted or last updated with ([`FakeMessage::blocks`],
//!   read with [`FakeMessage::buttons`] and [`FakeMessage::select`]), and each request keeps its body.
//! - Failures queued with [`FakeSlack::fail_next`] answer the next call of that method (HTTP status with an
//!   optional `Retry-After`, or `ok: false` with a code), one per call, in order.
//!
//! Every request is recorded (method name, query, JSON body, a few headers) for inspection.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use axum::{
    extract::State,
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use hookline::clock::{Clock, SystemClock};
use serde_json::{json, Value};

use crate::fake_core::{
    query_map, FakeServer, Incoming, InjectedFailure, Listener, Locked, RecordedRequest, Recording,
};
use crate::fake_oauth::{OAuthDesk, SignInRoutes};

/// "Sign in with Slack" (OpenID Connect): the site's authorize page, and two Web API methods.
const SIGN_IN: SignInRoutes = SignInRoutes {
    authorize: "/openid/connect/authorize",
    token: "/api/openid.connect.token",
    user: ("GET", "/api/openid.connect.userInfo"),
};

/// Every Web API method is `{API_PREFIX}{method}`.
const API_PREFIX: &str = "/api/";

/// Request headers kept in [`SlackRequest::headers`] (lowercase).
const RECORDED_HEADERS: &[&str] = &["authorization", "content-type"];

/// One request the fake received.
#[derive(Clone, Debug, PartialEq)]
pub struct SlackRequest {
    /// Web API method, e.g. `chat.postMessage`.
    pub method: String,
    pub http_method: String,
    /// Decoded query parameters.
    pub query: BTreeMap<String, String>,
    /// The JSON body; `None` when empty or not JSON.
    pub body: Option<Value>,
    pub headers: BTreeMap<String, String>,
}

impl From<RecordedRequest> for SlackRequest {
    fn from(request: RecordedRequest) -> Self {
        Self {
            query: query_map(request.query.as_deref()),
            method: request.path,
            http_method: request.method,
            body: request.body,
            headers: request.headers,
        }
    }
}

impl SlackRequest {
    /// A recorded header by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// A string field of the JSON body.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.body.as_ref()?.get(name)?.as_str()
    }
}

/// A message in a channel.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeMessage {
    pub channel: String,
    pub ts: String,
    /// Root ts for thread replies (`None` for a root).
    pub thread_ts: Option<String>,
    pub user: String,
    pub bot_id: Option<String>,
    pub text: String,
    pub metadata: Option<Value>,
    /// Block Kit blocks (empty: none, the text is shown).
    pub blocks: Vec<Value>,
    /// The workspace whose bot wrote it through the API (`None` for seeded messages).
    pub team: Option<String>,
    /// How many times `chat.update` changed it.
    pub updates: u32,
}

/// A `static_select` a message shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeSelect {
    pub action_id: String,
    /// The `block_id` of its actions block.
    pub block_id: String,
    /// Its options as `(value, text)`.
    pub options: Vec<(String, String)>,
}

impl FakeMessage {
    /// The first `static_select` it shows, if any.
    pub fn select(&self) -> Option<FakeSelect> {
        self.blocks
            .iter()
            .filter(|block| block["type"] == "actions")
            .find_map(|block| {
                let select = block["elements"]
                    .as_array()?
                    .iter()
                    .find(|e| e["type"] == "static_select")?;
                let options = select["options"]
                    .as_array()?
                    .iter()
                    .map(|o| {
                        let value = o["value"].as_str().unwrap_or_default().to_owned();
                        (value, o["text"]["text"].as_str().unwrap_or_default().to_owned())
                    })
                    .collect();
                Some(FakeSelect {
                    action_id: select["action_id"].as_str()?.to_owned(),
                    block_id: block["block_id"].as_str()?.to_owned(),
                    options,
                })
            })
    }

    /// The text of its blocks (sections and context lines), in order.
    pub fn block_texts(&self) -> Vec<String> {
        self.blocks
            .iter()
            .flat_map(|block| match block["type"].as_str() {
                Some("section") => vec![block["text"]["text"].clone()],
                Some("context") => block["elements"].as_array().cloned().unwrap_or_default(),
                _ => Vec::new(),
            })
            .filter_map(|text| text.as_str().or_else(|| text["text"].as_str()).map(str::to_owned))
            .collect()
    }

    /// The `action_id`s of the Block Kit buttons it shows.
    pub fn buttons(&self) -> Vec<String> {
        self.blocks
            .iter()
            .filter(|block| block["type"] == "actions")
            .filter_map(|block| block["elements"].as_array())
            .flatten()
            .filter_map(|element| element["action_id"].as_str().map(str::to_owned))
            .collect()
    }
}

/// A reaction added through the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeReaction {
    pub channel: String,
    pub timestamp: String,
    pub name: String,
    /// The bot user that reacted.
    pub user: String,
}

/// An ephemeral message (seen only by `user`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeEphemeral {
    pub channel: String,
    pub user: String,
    pub thread_ts: Option<String>,
    pub text: String,
}

/// An answer to give instead of the normal one.
#[derive(Clone, Debug, PartialEq)]
pub enum SlackFailure {
    /// A non-2xx status, with `Retry-After` when set.
    Http { status: u16, retry_after: Option<u64> },
    /// HTTP 200 with `{"ok": false, "error": code}` (and `Retry-After` when set).
    Error { code: String, retry_after: Option<u64> },
}

impl SlackFailure {
    /// HTTP 429 with `Retry-After: {secs}`.
    pub fn too_many_requests(secs: u64) -> Self {
        SlackFailure::Http {
            status: 429,
            retry_after: Some(secs),
        }
    }

    /// `ok: false` with `code`.
    pub fn error(code: &str) -> Self {
        SlackFailure::Error {
            code: code.to_owned(),
            retry_after: None,
        }
    }
}

impl From<SlackFailure> for InjectedFailure {
    fn from(failure: SlackFailure) -> Self {
        match failure {
            SlackFailure::Http { status, retry_after } => {
                InjectedFailure::new(status, json!({"ok": false, "error": "ratelimited"}))
                    .with_retry_after(retry_after)
            }
            SlackFailure::Error { code, retry_after } => {
                InjectedFailure::new(200, json!({"ok": false, "error": code})).with_retry_after(retry_after)
            }
        }
    }
}

#[derive(Clone)]
struct Team {
    id: String,
    bot_user_id: String,
    bot_id: String,
}

#[derive(Default)]
struct FakeState {
    teams: HashMap<String, Team>,
    messages: Vec<FakeMessage>,
    reactions: Vec<FakeReaction>,
    ephemerals: Vec<FakeEphemeral>,
    /// User group id → its members.
    usergroups: HashMap<String, Vec<String>>,
    seq: u64,
}

struct Shared {
    clock: Arc<dyn Clock>,
    state: Locked<FakeState>,
    /// "Sign in with Slack", and the signed-in person's team.
    sign_in: Locked<(OAuthDesk, String)>,
}

/// The running fake. Dropping it stops the server.
pub struct FakeSlack {
    shared: Arc<Shared>,
    server: FakeServer,
    url: String,
}

impl FakeSlack {
    /// Bind `127.0.0.1:0` and serve until dropped.
    ///
    /// # Panics
    /// If no local port can be bound (the test cannot run anyway).
    pub async fn start() -> FakeSlack {
        let listener = Listener::bind("fake Slack").await;
        let url = format!("{}/api", listener.url());
        let shared = Arc::new(Shared {
            clock: Arc::new(SystemClock),
            state: Locked::default(),
            sign_in: Locked::default(),
        });
        let server = listener.serve_fallback(
            shared.clone(),
            handle,
            Recording::headers(RECORDED_HEADERS).under(API_PREFIX),
        );
        FakeSlack { shared, server, url }
    }

    /// Web API base URL (what `SLACK_API_URL` should be), e.g. `http://127.0.0.1:41234/api`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Let people "Sign in with Slack" with the app `client_id` whose secret is `client_secret`.
    pub fn enable_sign_in(&self, client_id: &str, client_secret: &str) {
        self.shared.sign_in.lock().0.enable(client_id, client_secret);
    }

    /// The person signed in to Slack from now on: user `user_id` named `name` of `team`.
    pub fn sign_in_as(&self, name: &str, user_id: &str, team: &str) {
        let mut sign_in = self.shared.sign_in.lock();
        sign_in.0.sign_in_as(name, user_id);
        sign_in.1 = team.to_owned();
    }

    /// Install the app in `team`: calls with `token` act as bot user `bot_user_id`.
    pub fn add_team(&self, team: &str, token: &str, bot_user_id: &str) {
        self.shared.state.lock().teams.insert(
            token.to_owned(),
            Team {
                id: team.to_owned(),
                bot_user_id: bot_user_id.to_owned(),
                bot_id: format!("B{bot_user_id}"),
            },
        );
    }

    /// Add a user group with `members`.
    pub fn add_usergroup(&self, usergroup: &str, members: &[&str]) {
        let members = members.iter().map(|m| (*m).to_owned()).collect();
        self.shared
            .state
            .lock()
            .usergroups
            .insert(usergroup.to_owned(), members);
    }

    /// Add an existing message written by `user` (a reply when `thread_ts` is set).
    pub fn seed_message(&self, channel: &str, ts: &str, thread_ts: Option<&str>, user: &str, text: &str) {
        self.shared.state.lock().messages.push(FakeMessage {
            channel: channel.to_owned(),
            ts: ts.to_owned(),
            thread_ts: thread_ts.map(str::to_owned),
            user: user.to_owned(),
            bot_id: None,
            text: text.to_owned(),
            metadata: None,
            blocks: Vec::new(),
            team: None,
            updates: 0,
        });
    }

    /// Change the text of a message, as its author editing it would.
    pub fn edit_message(&self, channel: &str, ts: &str, text: &str) {
        let mut state = self.shared.state.lock();
        if let Some(message) = state
            .messages
            .iter_mut()
            .find(|m| m.channel == channel && m.ts == ts)
        {
            message.text = text.to_owned();
        }
    }

    /// The message `ts` in `channel`, as it is now.
    pub fn message(&self, channel: &str, ts: &str) -> Option<FakeMessage> {
        self.shared
            .state
            .lock()
            .messages
            .iter()
            .find(|m| m.channel == channel && m.ts == ts)
            .cloned()
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<SlackRequest> {
        self.server.requests()
    }

    /// Requests to one Web API method.
    pub fn requests_to(&self, method: &str) -> Vec<SlackRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method)
            .collect()
    }

    /// All messages, in the order they were added.
    pub fn messages(&self) -> Vec<FakeMessage> {
        self.shared.state.lock().messages.clone()
    }

    /// Messages written through the API by an installed bot.
    pub fn bot_messages(&self) -> Vec<FakeMessage> {
        let state = self.shared.state.lock();
        state
            .messages
            .iter()
            .filter(|m| state.teams.values().any(|t| t.bot_user_id == m.user))
            .cloned()
            .collect()
    }

    /// All reactions, in order.
    pub fn reactions(&self) -> Vec<FakeReaction> {
        self.shared.state.lock().reactions.clone()
    }

    /// All ephemeral messages, in order.
    pub fn ephemerals(&self) -> Vec<FakeEphemeral> {
        self.shared.state.lock().ephemerals.clone()
    }

    /// Answer the next call of `method` with `failure` (queued in order; each used once).
    pub fn fail_next(&self, method: &str, failure: SlackFailure) {
        let method = method.to_owned();
        self.server
            .fail_next_matching(move |r| r.path == method, InjectedFailure::from(failure));
    }
}

/// The body Slack's interactivity posts for `payload`: `payload=<JSON>`, form-encoded as browsers do (`*-._` and
/// alphanumerics kept, a space as `+`, every other byte `%XX`).
pub fn interaction_form(payload: &Value) -> Vec<u8> {
    let json = serde_json::to_string(payload).expect("a JSON value serializes");
    let mut body = b"payload=".to_vec();
    for byte in json.bytes() {
        match byte {
            b' ' => body.push(b'+'),
            b'*' | b'-' | b'.' | b'_' => body.push(byte),
            _ if byte.is_ascii_alphanumeric() => body.push(byte),
            _ => body.extend_from_slice(format!("%{byte:02X}").as_bytes()),
        }
    }
    body
}

async fn handle(State(shared): State<Arc<Shared>>, incoming: Incoming) -> Response {
    {
        let mut sign_in = shared.sign_in.lock();
        let (desk, team) = &mut *sign_in;
        // `openid.connect.userInfo` names the user and their team.
        let user = |(name, user_id): &(String, String)| {
            json!({
                "ok": true,
                "sub": user_id,
                "https://slack.com/user_id": user_id,
                "https://slack.com/team_id": team,
                "name": name,
            })
        };
        if let Some(answer) = desk.route(&incoming, &SIGN_IN, user) {
            return answer;
        }
    }
    let Some(api_method) = incoming.uri.path().strip_prefix(API_PREFIX).map(str::to_owned) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let query = query_map(incoming.uri.query());
    let json_body: Option<Value> = serde_json::from_slice(&incoming.body).ok();
    let now = shared.clock.now_secs();
    let mut state = shared.state.lock();
    let token = incoming
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some(team) = state.teams.get(token).cloned() else {
        return refuse("invalid_auth");
    };
    let args = match (&incoming.method, json_body) {
        (&Method::POST, Some(Value::Object(map))) => {
            let is_json = incoming
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/json"));
            if !is_json {
                return refuse("invalid_arguments");
            }
            map.into_iter().collect::<BTreeMap<String, Value>>()
        }
        (&Method::GET, _) => query.into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
        _ => return refuse("invalid_arguments"),
    };
    let arg = |name: &str| args.get(name).and_then(Value::as_str).map(str::to_owned);
    match api_method.as_str() {
        "reactions.add" => {
            let (Some(channel), Some(timestamp), Some(name)) =
                (arg("channel"), arg("timestamp"), arg("name"))
            else {
                return refuse("invalid_arguments");
            };
            if !state
                .messages
                .iter()
                .any(|m| m.channel == channel && m.ts == timestamp)
            {
                return refuse("message_not_found");
            }
            let reaction = FakeReaction {
                channel,
                timestamp,
                name,
                user: team.bot_user_id.clone(),
            };
            if state.reactions.contains(&reaction) {
                return refuse("already_reacted");
            }
            state.reactions.push(reaction);
            ok(json!({}))
        }
        "chat.postMessage" => {
            let Some(channel) = arg("channel") else {
                return refuse("channel_not_found");
            };
            let Some(text) = arg("text").filter(|t| !t.is_empty()) else {
                return refuse("no_text");
            };
            let blocks = match blocks_arg(&args) {
                Ok(blocks) => blocks.unwrap_or_default(),
                Err(code) => return refuse(code),
            };
            let thread_ts = arg("thread_ts");
            if let Some(root) = &thread_ts {
                if !state
                    .messages
                    .iter()
                    .any(|m| m.channel == channel && &m.ts == root)
                {
                    return refuse("thread_not_found");
                }
            }
            state.seq += 1;
            let ts = format!("{now}.{:06}", 900_000 + state.seq);
            let message = FakeMessage {
                channel: channel.clone(),
                ts: ts.clone(),
                thread_ts,
                user: team.bot_user_id.clone(),
                bot_id: Some(team.bot_id.clone()),
                text,
                metadata: args.get("metadata").cloned(),
                blocks,
                team: Some(team.id.clone()),
                updates: 0,
            };
            let shown = message_json(&message, true);
            state.messages.push(message);
            ok(json!({"channel": channel, "ts": ts, "message": shown}))
        }
        "chat.update" => {
            let (Some(channel), Some(ts)) = (arg("channel"), arg("ts")) else {
                return refuse("invalid_arguments");
            };
            let text = arg("text");
            let metadata = args.get("metadata").cloned();
            let blocks = match blocks_arg(&args) {
                Ok(blocks) => blocks,
                Err(code) => return refuse(code),
            };
            let Some(message) = state
                .messages
                .iter_mut()
                .find(|m| m.channel == channel && m.ts == ts)
            else {
                return refuse("message_not_found");
            };
            if message.user != team.bot_user_id {
                return refuse("cant_update_message");
            }
            if let Some(text) = text {
                message.text = text;
            }
            if metadata.is_some() {
                message.metadata = metadata;
            }
            if let Some(blocks) = blocks {
                message.blocks = blocks;
            }
            message.updates += 1;
            let text = message.text.clone();
            ok(json!({"channel": channel, "ts": ts, "text": text}))
        }
        "chat.postEphemeral" => {
            let (Some(channel), Some(user)) = (arg("channel"), arg("user")) else {
                return refuse("invalid_arguments");
            };
            let Some(text) = arg("text").filter(|t| !t.is_empty()) else {
                return refuse("no_text");
            };
            state.ephemerals.push(FakeEphemeral {
                channel,
                user,
                thread_ts: arg("thread_ts"),
                text,
            });
            state.seq += 1;
            ok(json!({"message_ts": format!("{now}.{:06}", 900_000 + state.seq)}))
        }
        "usergroups.users.list" => match arg("usergroup").and_then(|g| state.usergroups.get(&g).cloned()) {
            Some(users) => ok(json!({ "users": users })),
            None => refuse("no_such_subteam"),
        },
        "conversations.replies" => {
            let (Some(channel), Some(ts)) = (arg("channel"), arg("ts")) else {
                return refuse("invalid_arguments");
            };
            let with_metadata = arg("include_all_metadata").as_deref() == Some("true");
            let limit: usize = arg("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(1000)
                .clamp(1, 1000);
            let offset: usize = arg("cursor")
                .and_then(|c| c.strip_prefix("next_").and_then(|n| n.parse().ok()))
                .unwrap_or(0);
            let Some(root) = state
                .messages
                .iter()
                .find(|m| m.channel == channel && m.ts == ts)
                .cloned()
            else {
                return refuse("thread_not_found");
            };
            let mut replies: Vec<&FakeMessage> = state
                .messages
                .iter()
                .filter(|m| m.channel == channel && m.thread_ts.as_deref() == Some(ts.as_str()) && m.ts != ts)
                .collect();
            replies.sort_by_key(|reply| ts_order(&reply.ts));
            let mut all = vec![&root];
            all.extend(replies);
            let page: Vec<Value> = all
                .iter()
                .skip(offset)
                .take(limit)
                .map(|m| message_json(m, with_metadata))
                .collect();
            let next = offset + limit;
            let next_cursor = if next < all.len() {
                format!("next_{next}")
            } else {
                String::new()
            };
            ok(json!({
                "messages": page,
                "has_more": !next_cursor.is_empty(),
                "response_metadata": {"next_cursor": next_cursor},
            }))
        }
        _ => refuse("unknown_method"),
    }
}

fn ok(mut body: Value) -> Response {
    if let Value::Object(map) = &mut body {
        map.insert("ok".into(), Value::Bool(true));
    }
    (StatusCode::OK, Json(body)).into_response()
}

fn refuse(code: &str) -> Response {
    (StatusCode::OK, Json(json!({"ok": false, "error": code}))).into_response()
}

/// Slack's limits on a message's blocks (those Hookline's status message could reach).
const MAX_BLOCKS: usize = 50;
const MAX_SECTION_TEXT_CHARS: usize = 3000;
const MAX_BUTTON_VALUE_CHARS: usize = 2000;
const MAX_BLOCK_ID_CHARS: usize = 255;
const MAX_SELECT_OPTIONS: usize = 100;
const MAX_OPTION_TEXT_CHARS: usize = 75;
const MAX_OPTION_VALUE_CHARS: usize = 150;

/// The `blocks` argument: `None` when left out, else the checked array (`invalid_blocks` as Slack answers).
fn blocks_arg(args: &BTreeMap<String, Value>) -> Result<Option<Vec<Value>>, &'static str> {
    let Some(blocks) = args.get("blocks") else {
        return Ok(None);
    };
    let Some(blocks) = blocks.as_array() else {
        return Err("invalid_blocks");
    };
    if blocks.len() > MAX_BLOCKS || !blocks.iter().all(valid_block) {
        return Err("invalid_blocks");
    }
    Ok(Some(blocks.clone()))
}

fn valid_block(block: &Value) -> bool {
    let chars = |value: &Value| value.as_str().map(|s| s.chars().count());
    if chars(&block["block_id"]).is_some_and(|n| n > MAX_BLOCK_ID_CHARS) {
        return false;
    }
    let valid_option = |option: &Value| {
        option["text"]["type"] == "plain_text"
            && chars(&option["text"]["text"]).is_some_and(|n| (1..=MAX_OPTION_TEXT_CHARS).contains(&n))
            && chars(&option["value"]).is_some_and(|n| (1..=MAX_OPTION_VALUE_CHARS).contains(&n))
    };
    let valid_element = |element: &Value| match element["type"].as_str() {
        Some("static_select") => element["options"].as_array().is_some_and(|options| {
            (1..=MAX_SELECT_OPTIONS).contains(&options.len()) && options.iter().all(valid_option)
        }),
        _ => true,
    };
    match block.get("type").and_then(Value::as_str) {
        Some("section") => {
            chars(&block["text"]["text"]).is_some_and(|n| (1..=MAX_SECTION_TEXT_CHARS).contains(&n))
        }
        Some("actions") => block["elements"].as_array().is_some_and(|elements| {
            elements.iter().all(|e| {
                e["action_id"].as_str().is_some()
                    && chars(&e["value"]).is_none_or(|n| n <= MAX_BUTTON_VALUE_CHARS)
                    && valid_element(e)
            })
        }),
        Some(_) => true,
        None => false,
    }
}

fn message_json(message: &FakeMessage, with_metadata: bool) -> Value {
    let mut value = json!({
        "type": "message",
        "ts": message.ts,
        "user": message.user,
        "text": message.text,
    });
    if let Some(thread_ts) = &message.thread_ts {
        value["thread_ts"] = json!(thread_ts);
    }
    if let Some(bot_id) = &message.bot_id {
        value["bot_id"] = json!(bot_id);
    }
    if !message.blocks.is_empty() {
        value["blocks"] = json!(message.blocks);
    }
    if with_metadata {
        if let Some(metadata) = &message.metadata {
            value["metadata"] = metadata.clone();
        }
    }
    value
}

/// Order of message ts strings, compared as integers (never floats).
fn ts_order(ts: &str) -> (u64, u64) {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, "0"));
    (secs.parse().unwrap_or(0), frac.parse().unwrap_or(0))
}
