//! Slack's payloads: an Events API callback as delivered (only the fields Hookline reads) and the trimmed
//! [`SlackEvent`] that travels on the queue; an interaction (a form whose one `payload` field is JSON) and the
//! [`SlackClick`] of the Stop button or of the repository picker that is queued. Ids are checked here, before
//! they reach a key, a secret name or a URL; message text is capped.

use serde::{de::IgnoredAny, Deserialize, Serialize};

use super::{is_slack_id, is_slack_ts, PICK_ACTION_ID, STOP_ACTION_ID};
use crate::repo_hint::{self, RepoRef, GIT_PROVIDERS};

/// Longest message text kept in a queued event (Slack caps messages at 40 000 characters anyway).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Longest accepted `event_id` (they look like `Ev0123ABCD`).
const MAX_EVENT_ID_LEN: usize = 128;
/// Longest `url_verification` challenge echoed back.
const MAX_CHALLENGE_LEN: usize = 256;

/// Message subtypes that are still a person writing a new message; every other subtype (edits, deletions,
/// joins, bot messages, …) never triggers.
const TRIGGERING_SUBTYPES: &[&str] = &["thread_broadcast", "file_share"];

/// The trimmed event on the queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackEvent {
    /// Workspace (tenant).
    pub team_id: String,
    /// Delivery id, the same on every retry.
    pub event_id: String,
    /// Inner event type (`app_mention`).
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// Author's user id (empty for some bot messages).
    #[serde(default)]
    pub user: String,
    /// Set when a bot or app wrote the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<String>,
    /// The bot's own user id in this workspace, from the verified `authorizations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_user_id: Option<String>,
    pub text: String,
    pub ts: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    pub channel: String,
    /// The message was edited (Slack re-sends an `app_mention` with `edited` set).
    #[serde(default)]
    pub edited: bool,
    /// The author belongs to another organization (Slack Connect), or the shared channel does not say.
    #[serde(default)]
    pub external: bool,
}

impl SlackEvent {
    /// The thread's root ts: `thread_ts` for a reply, the message's own ts otherwise.
    pub fn root_ts(&self) -> &str {
        self.thread_ts.as_deref().unwrap_or(&self.ts)
    }

    /// Posted as a reply inside an existing thread (not the root of one).
    pub fn is_thread_reply(&self) -> bool {
        self.thread_ts.as_deref().is_some_and(|root| root != self.ts)
    }

    /// The thread (and ordering group): `slack:{team}:{channel}:{root ts}`.
    pub fn thread_key(&self) -> String {
        super::thread_key(&self.team_id, &self.channel, self.root_ts())
    }

    /// Why this message can never trigger (bot, edit, deletion or other subtype), if it cannot.
    pub fn never_triggers(&self) -> Option<&'static str> {
        if self.bot_id.is_some() {
            return Some("written by a bot");
        }
        if self.edited {
            return Some("edited message");
        }
        if let Some(subtype) = &self.subtype {
            if !TRIGGERING_SUBTYPES.contains(&subtype.as_str()) {
                return Some("message subtype never triggers (edit, deletion, …)");
            }
        }
        if self.bot_user_id.as_deref().is_some_and(|bot| bot == self.user) {
            return Some("the bot's own message");
        }
        None
    }
}

/// What a verified request body is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Callback {
    /// The URL handshake: echo the challenge.
    UrlVerification { challenge: String },
    /// An event for a workspace.
    Event(Box<SlackEvent>),
    /// Verified, well formed, but nothing Hookline acts on.
    Other(&'static str),
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PayloadError {
    /// Not JSON (or not an object).
    Json,
    /// JSON, but a required field is missing or not a plausible id.
    Shape(&'static str),
}

#[derive(Deserialize)]
struct RawCallback {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    event: Option<RawEvent>,
    #[serde(default)]
    authorizations: Option<Vec<RawAuthorization>>,
    #[serde(default)]
    is_ext_shared_channel: bool,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    edited: Option<IgnoredAny>,
    /// The author's own workspace, in shared channels.
    #[serde(default)]
    user_team: Option<String>,
}

#[derive(Deserialize)]
struct RawAuthorization {
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    is_bot: bool,
}

/// Parse a verified body.
pub(crate) fn parse(body: &[u8]) -> Result<Callback, PayloadError> {
    let raw: RawCallback = crate::http::parse_json_body(body).ok_or(PayloadError::Json)?;
    match raw.kind.as_str() {
        "url_verification" => {
            let challenge = raw.challenge.ok_or(PayloadError::Shape("missing challenge"))?;
            let printable =
                challenge.len() <= MAX_CHALLENGE_LEN && challenge.bytes().all(|b| b.is_ascii_graphic());
            if challenge.is_empty() || !printable {
                return Err(PayloadError::Shape("unusable challenge"));
            }
            Ok(Callback::UrlVerification { challenge })
        }
        "event_callback" => into_event(raw).map(|event| Callback::Event(Box::new(event))),
        "app_rate_limited" => Ok(Callback::Other("app rate limited notice")),
        _ => Ok(Callback::Other("callback type never triggers")),
    }
}

fn into_event(raw: RawCallback) -> Result<SlackEvent, PayloadError> {
    let team_id = raw
        .team_id
        .filter(|t| is_slack_id(t))
        .ok_or(PayloadError::Shape("missing or invalid team_id"))?;
    let event_id = raw
        .event_id
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_EVENT_ID_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or(PayloadError::Shape("missing or invalid event_id"))?;
    let event = raw.event.ok_or(PayloadError::Shape("missing event"))?;
    // The installation this delivery is for: the bot authorization of this team, else any bot authorization.
    let authorizations = raw.authorizations.unwrap_or_default();
    let bot_user_id = authorizations
        .iter()
        .filter(|a| a.is_bot)
        .find(|a| a.team_id.as_deref() == Some(team_id.as_str()))
        .or_else(|| authorizations.iter().find(|a| a.is_bot))
        .and_then(|a| a.user_id.clone())
        .filter(|id| is_slack_id(id));
    let user = event.user.unwrap_or_default();
    if !user.is_empty() && !is_slack_id(&user) {
        return Err(PayloadError::Shape("invalid user"));
    }
    // In a shared channel only a message whose author's workspace is this one is from inside.
    let external = match event.user_team.as_deref() {
        Some(user_team) => user_team != team_id,
        None => raw.is_ext_shared_channel,
    };
    let channel = event.channel.unwrap_or_default();
    let ts = event.ts.unwrap_or_default();
    let thread_ts = event.thread_ts.filter(|t| !t.is_empty());
    if event.kind == "app_mention" {
        if !is_slack_id(&channel) {
            return Err(PayloadError::Shape("missing or invalid channel"));
        }
        if !is_slack_ts(&ts) || thread_ts.as_deref().is_some_and(|t| !is_slack_ts(t)) {
            return Err(PayloadError::Shape("missing or invalid ts"));
        }
    }
    Ok(SlackEvent {
        team_id,
        event_id,
        event_type: event.kind,
        subtype: event.subtype,
        user,
        bot_id: event.bot_id.filter(|b| !b.is_empty()),
        bot_user_id,
        text: trim_text(event.text.unwrap_or_default()),
        ts,
        thread_ts,
        channel,
        edited: event.edited.is_some(),
        external,
    })
}

/// Cut `text` to [`MAX_TEXT_BYTES`] (see [`crate::text::cut_to`]).
fn trim_text(text: String) -> String {
    crate::text::cut_to(text, MAX_TEXT_BYTES)
}

// ---- Interactions (the Stop button, the repository picker) ----

/// Envelope event name of a queued [`SlackClick`].
pub const BLOCK_ACTIONS: &str = "block_actions";
/// The media type of interaction requests.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// Longest username kept from a click.
const MAX_USER_NAME_CHARS: usize = 80;
/// Longest button value accepted (Hookline's are a 32-hex conversation id).
const MAX_VALUE_LEN: usize = 64;
/// Slack's limit on an option's value, which carries a picked repository.
pub(crate) const MAX_OPTION_VALUE_LEN: usize = 150;
/// How the picker's `block_id` starts; then `<mention ts>:<requester>`.
const PICK_BLOCK_PREFIX: &str = "hookline_pick:";

/// A click on the Stop button of a status message, or a pick in the repository picker, trimmed to what the
/// worker needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackClick {
    /// Workspace (tenant) where the click happened.
    pub team_id: String,
    pub channel: String,
    /// Who clicked.
    pub user: String,
    /// Their Slack username, informational only (the login is the id: names can change).
    #[serde(default)]
    pub user_name: String,
    /// The status message that carries the button.
    pub message_ts: String,
    /// The thread's root ts (the status message is a reply in it).
    pub thread_ts: String,
    /// When Slack saw the click; the same on Slack's redeliveries of it.
    pub action_ts: String,
    /// The button's value: the conversation id of the run the status message belongs to (empty for a pick).
    #[serde(default)]
    pub value: String,
    /// The bot's own user id: the author of the clicked bot message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_user_id: Option<String>,
    /// The person belongs to another workspace than the one the click came from.
    #[serde(default)]
    pub external: bool,
    /// Set for a pick in the repository picker (whose message is `message_ts`): what it is about and the pick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pick: Option<SlackPick>,
}

/// A repository picked in the picker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackPick {
    /// The mention the picker asks about, and its author (from the picker's `block_id`).
    pub request_ts: String,
    pub requester: String,
    /// The picked option.
    pub repository: RepoRef,
    /// What the worker read before deciding; never taken from the click.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<PickRead>,
}

/// The worker's reading of the mention a pick is about ([`super::module::PickReader`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickRead {
    /// Epoch seconds of the worker's clock when it read.
    pub at: u64,
    /// The mention as Slack has it now; `None` when it is gone or cannot be read.
    pub request: Option<SlackMessage>,
}

/// A message as read back from Slack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackMessage {
    /// Author's user id (empty for a bot's).
    pub user: String,
    /// Raw mrkdwn text, capped at [`MAX_TEXT_BYTES`].
    pub text: String,
}

impl SlackMessage {
    pub fn new(user: Option<String>, text: Option<String>) -> Self {
        Self {
            user: user.unwrap_or_default(),
            text: trim_text(text.unwrap_or_default()),
        }
    }
}

impl SlackClick {
    /// The thread (and ordering group), the same key its mention had.
    pub fn thread_key(&self) -> String {
        super::thread_key(&self.team_id, &self.channel, &self.thread_ts)
    }

    /// Stable for one click, so Slack's redeliveries of it are one delivery.
    pub fn delivery_id(&self) -> String {
        format!("click:{}:{}", self.user, self.action_ts)
    }
}

/// What a verified interaction request is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Interaction {
    /// The Stop button was clicked.
    Stop(Box<SlackClick>),
    /// A repository was picked in the picker.
    Pick(Box<SlackClick>),
    /// Verified, well formed, but nothing Hookline acts on (another action, a shortcut, a slash command, …).
    Other(&'static str),
}

/// Whether a request body is a form (interactivity, slash commands) rather than an Events API JSON body. Slack
/// sends interactions as `application/x-www-form-urlencoded`; a body that starts like one counts too, as a JSON
/// body never does.
pub(crate) fn is_form(content_type: Option<&str>, body: &[u8]) -> bool {
    let declared = content_type.is_some_and(|ct| {
        let media_type = ct.split(';').next().unwrap_or_default().trim();
        media_type.eq_ignore_ascii_case(FORM_CONTENT_TYPE)
    });
    declared || body.starts_with(b"payload=")
}

#[derive(Deserialize)]
struct RawInteraction {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    team: Option<RawId>,
    #[serde(default)]
    user: Option<RawUser>,
    #[serde(default)]
    channel: Option<RawId>,
    #[serde(default)]
    container: Option<RawContainer>,
    #[serde(default)]
    message: Option<RawMessage>,
    #[serde(default)]
    actions: Option<Vec<RawAction>>,
}

/// An object of which only the id is read (`team`, `channel`).
#[derive(Deserialize)]
struct RawId {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawUser {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawContainer {
    #[serde(default)]
    message_ts: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
}

#[derive(Deserialize)]
struct RawAction {
    #[serde(default)]
    action_id: Option<String>,
    #[serde(default)]
    block_id: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    selected_option: Option<RawOption>,
    #[serde(default)]
    action_ts: Option<String>,
}

#[derive(Deserialize)]
struct RawOption {
    #[serde(default)]
    value: Option<String>,
}

/// Parse a verified form body: its one `payload` field, JSON, as a click on the Stop button, a pick in the
/// repository picker, or something else.
pub(crate) fn parse_interaction(body: &[u8]) -> Result<Interaction, PayloadError> {
    let fields = form_fields(body)?;
    let mut payloads = fields.iter().filter(|(name, _)| name == "payload");
    let payload = match (payloads.next(), payloads.next()) {
        (Some((_, payload)), None) => payload,
        (Some(_), Some(_)) => return Err(PayloadError::Shape("more than one payload field")),
        (None, _) if fields.iter().any(|(name, _)| name == "command") => {
            return Ok(Interaction::Other("slash commands are not served"))
        }
        (None, _) => return Err(PayloadError::Shape("form body without a payload")),
    };
    let mut raw: RawInteraction =
        crate::http::parse_json_body(payload.as_bytes()).ok_or(PayloadError::Json)?;
    if raw.kind != BLOCK_ACTIONS {
        return Ok(Interaction::Other("interaction type never triggers"));
    }
    let ours = raw
        .actions
        .take()
        .unwrap_or_default()
        .into_iter()
        .find(|a| matches!(a.action_id.as_deref(), Some(STOP_ACTION_ID | PICK_ACTION_ID)));
    let Some(action) = ours else {
        return Ok(Interaction::Other(
            "neither the Stop button nor the repository picker",
        ));
    };
    let click = into_click(raw, action)?;
    Ok(if click.pick.is_some() {
        Interaction::Pick(Box::new(click))
    } else {
        Interaction::Stop(Box::new(click))
    })
}

fn into_click(raw: RawInteraction, mut action: RawAction) -> Result<SlackClick, PayloadError> {
    let team_id = raw
        .team
        .and_then(|t| t.id)
        .filter(|t| is_slack_id(t))
        .ok_or(PayloadError::Shape("missing or invalid team"))?;
    let user = raw.user.ok_or(PayloadError::Shape("missing user"))?;
    let user_id = user
        .id
        .filter(|u| is_slack_id(u))
        .ok_or(PayloadError::Shape("missing or invalid user"))?;
    let container = raw.container.unwrap_or_default();
    let message = raw.message;
    let channel = container
        .channel_id
        .or_else(|| raw.channel.and_then(|c| c.id))
        .filter(|c| is_slack_id(c))
        .ok_or(PayloadError::Shape("missing or invalid channel"))?;
    let message_ts = container
        .message_ts
        .or_else(|| message.as_ref().and_then(|m| m.ts.clone()))
        .filter(|ts| is_slack_ts(ts))
        .ok_or(PayloadError::Shape("missing or invalid message ts"))?;
    // The status message is a reply, so its thread is the root; a message that is no reply is its own root.
    let thread_ts = container
        .thread_ts
        .or_else(|| message.as_ref().and_then(|m| m.thread_ts.clone()))
        .filter(|ts| !ts.is_empty())
        .unwrap_or_else(|| message_ts.clone());
    if !is_slack_ts(&thread_ts) {
        return Err(PayloadError::Shape("invalid thread ts"));
    }
    let action_ts = action
        .action_ts
        .take()
        .filter(|ts| is_slack_ts(ts))
        .ok_or(PayloadError::Shape("missing or invalid action_ts"))?;
    let (value, pick) = if action.action_id.as_deref() == Some(PICK_ACTION_ID) {
        (String::new(), Some(into_pick(action)?))
    } else {
        let value = action
            .value
            .filter(|v| is_button_value(v))
            .ok_or(PayloadError::Shape("missing or invalid button value"))?;
        (value, None)
    };
    // Only the app that posted a message receives its clicks, so a bot author of it is this app's bot user.
    let bot_user_id = message
        .filter(|m| m.bot_id.as_deref().is_some_and(|b| !b.is_empty()))
        .and_then(|m| m.user)
        .filter(|u| is_slack_id(u));
    let external = user.team_id.is_some_and(|home| home != team_id);
    let user_name: String = user
        .username
        .or(user.name)
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_NAME_CHARS)
        .collect();
    Ok(SlackClick {
        team_id,
        channel,
        user: user_id,
        user_name,
        message_ts,
        thread_ts,
        action_ts,
        value,
        bot_user_id,
        external,
        pick,
    })
}

/// The pick of a picker click: the asking mention from the `block_id`, the repository from the selected option.
fn into_pick(action: RawAction) -> Result<SlackPick, PayloadError> {
    let (request_ts, requester) = action
        .block_id
        .as_deref()
        .and_then(parse_pick_block_id)
        .ok_or(PayloadError::Shape("missing or invalid picker block id"))?;
    let repository = action
        .selected_option
        .and_then(|option| option.value)
        .as_deref()
        .and_then(parse_pick_value)
        .ok_or(PayloadError::Shape("missing or invalid picked repository"))?;
    Ok(SlackPick {
        request_ts,
        requester,
        repository,
        read: None,
    })
}

/// The picker's `block_id` for the mention `request_ts` by `requester`.
pub(crate) fn pick_block_id(request_ts: &str, requester: &str) -> String {
    format!("{PICK_BLOCK_PREFIX}{request_ts}:{requester}")
}

/// `(mention ts, requester)` of a picker's `block_id`, each checked.
fn parse_pick_block_id(block_id: &str) -> Option<(String, String)> {
    let (ts, user) = block_id.strip_prefix(PICK_BLOCK_PREFIX)?.split_once(':')?;
    (is_slack_ts(ts) && is_slack_id(user)).then(|| (ts.to_owned(), user.to_owned()))
}

/// An option's value for `repo`: `<git provider>:<path>`, the provider always written.
pub(crate) fn pick_value(repo: &RepoRef) -> String {
    format!("{}:{}", repo.git_provider, repo.repository)
}

/// The repository of an option's value, as [`pick_value`] writes it.
fn parse_pick_value(value: &str) -> Option<RepoRef> {
    let (provider, _) = value.split_once(':')?;
    let known = GIT_PROVIDERS.contains(&provider);
    let repo = repo_hint::parse_target(value, "").filter(|_| known && value.len() <= MAX_OPTION_VALUE_LEN)?;
    (pick_value(&repo) == value).then_some(repo)
}

/// A conversation id as Hookline writes it into the button (hex, maybe with dashes).
fn is_button_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_VALUE_LEN
        && value.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The `name=value` pairs of an `application/x-www-form-urlencoded` body, decoded (`+` is a space).
fn form_fields(body: &[u8]) -> Result<Vec<(String, String)>, PayloadError> {
    let text = std::str::from_utf8(body).map_err(|_| PayloadError::Shape("form body is not UTF-8"))?;
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((form_decode(name)?, form_decode(value)?))
        })
        .collect()
}

/// One form-encoded component. A `%` not followed by two hex digits is refused rather than kept literally, so the
/// JSON read is exactly what was encoded.
fn form_decode(raw: &str) -> Result<String, PayloadError> {
    let bytes = raw.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return Err(PayloadError::Shape("malformed percent-encoding"));
    }
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| PayloadError::Shape("form field is not UTF-8"))
}
