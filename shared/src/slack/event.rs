//! Slack Events API payloads: the outer callback as delivered (only the fields Hookline reads) and the trimmed
//! [`SlackEvent`] that travels on the queue. Ids are checked here, before they reach a key, a secret name or a
//! URL; message text is capped.

use serde::{de::IgnoredAny, Deserialize, Serialize};

use super::{is_slack_id, is_slack_ts};

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
        format!("slack:{}:{}:{}", self.team_id, self.channel, self.root_ts())
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
