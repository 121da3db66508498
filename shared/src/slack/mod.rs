//! The Slack provider (Events API over HTTP): signed intake of `app_mention` events and of clicks on the status
//! message's Stop button and in the repository picker (interactivity, on the same URL), trigger decisions, and
//! the Web API client that implements [`crate::ports::SourceClient`].
//!
//! # Tenants and secrets
//!
//! The tenant is the Slack team (workspace) id. Two routes select the signing secret:
//!
//! - `POST /webhooks/slack/<team>` (one Slack app per workspace): the request must be signed with that team's
//!   secret `<prefix>/<team>/signing-secret`, and the verified body's `team_id` (an interaction's `team.id`)
//!   must be `<team>`. A request signed with another team's secret, or a verified body of another team, is
//!   rejected with 401.
//! - `POST /webhooks/slack` (one app distributed to several workspaces, which Slack signs with the one app
//!   secret): the secret is `<prefix>/signing-secret`, and the tenant is the `team_id` of the verified body.
//!
//! Either way the Web API is called with the team's bot token `<prefix>/<team>/bot-token`. `<prefix>` is
//! `SLACK_SECRET_PREFIX` (default `slack`). `SLACK_TENANTS` lists the teams served (`*`: any). Secrets are read through the [`crate::ports::Secrets`] port.
//!
//! # Seams
//! - `config`: [`SlackConfig`], from `SLACK_*`.
//! - [`verify`]: the webhook side, [`SlackIntake`] (route → secret → verify → parse), with the `v0` request
//!   signature and its 5-minute window.
//! - [`event`]: the payloads as Slack sends them (an Events API callback as JSON, an interaction as a form with
//!   one `payload` field) and what is queued: the trimmed [`event::SlackEvent`], or an [`event::SlackClick`] of
//!   the Stop button.
//! - `module`: the worker side, [`SlackModule`].
//! - `triggers`: the pure decision (mention, bots, edits, thread key, repository: named in the message, see
//!   [`crate::repo_hint`], else the channel's default; a Stop click stops the thread's run).
//! - `mrkdwn`: Slack's text format, in (mentions, entities, links) and out (Markdown → mrkdwn).
//! - [`client`]: the Web API client (reactions, thread replies, ephemeral notices, thread context, the Stop
//!   button on a live status message).

pub mod client;
mod config;
pub mod event;
mod module;
mod mrkdwn;
mod triggers;
pub mod verify;

pub use config::{SlackConfig, DEFAULT_API_URL, DEFAULT_SECRET_PREFIX};
pub use module::SlackModule;
pub use verify::SlackIntake;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    provider::{ProviderModule, Wiring},
    repo_hint::RepoRef,
};

/// `action_id` of the Stop button on a live status message; a click on it stops the thread's run.
pub const STOP_ACTION_ID: &str = "hookline_stop";
/// `action_id` of the repository picker's `static_select`; a pick in it starts the asking mention's run.
pub const PICK_ACTION_ID: &str = "hookline_pick_repository";

/// Slack's worker side, with its Web API client, for the registry.
pub fn module(config: &SlackConfig, wiring: &Wiring) -> Arc<dyn ProviderModule> {
    let client = Arc::new(client::SlackClient::new(config.clone(), &wiring.outbound));
    wiring.module(config, client.clone(), module::PickReader::new(client))
}

/// Where a Slack run reports: a thread in a channel of one workspace, and who asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackSource {
    /// Tenant the source belongs to: the Slack team (workspace) id.
    pub tenant: String,
    /// Channel id (`C…`, `G…`).
    pub channel: String,
    /// The thread's root message ts; replies go there (`thread_ts`).
    pub thread_ts: String,
    /// The triggering message's ts (gets the 👀; context newer than it is left out); for a Stop click, the status
    /// message's.
    pub message_ts: String,
    /// The Slack user who mentioned the bot (or clicked Stop).
    pub user: String,
    /// The bot's own user id in this workspace (its messages are never context and mark its status).
    pub bot_user_id: String,
    /// How a notice reaches the person.
    #[serde(default)]
    pub notice: SlackNotice,
    /// The person belongs to another organization (Slack Connect).
    #[serde(default)]
    pub external: bool,
}

/// How [`crate::ports::SourceClient::post_notice`] delivers a notice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlackNotice {
    /// Only the person sees it (`chat.postEphemeral` in the thread): the unlinked-account notice.
    #[default]
    Ephemeral,
    /// A normal thread reply everyone sees (e.g. "which repository?").
    Thread,
    /// The repository picker: a thread reply with the notice and a select of `choices` (at most
    /// [`MAX_CHOICES`]), for `user` only, about the mention `message_ts`.
    Choice { choices: Vec<RepoRef> },
    /// An edit of Hookline's own message `ts` in the thread (a picker): the notice replaces its text, its blocks
    /// go.
    Edit { ts: String },
    /// Only the person sees it, as [`SlackNotice::Ephemeral`]. The source of a run started from the picker
    /// `picker_ts`: acknowledging the run edits the picker to say it works in `repository`.
    Picked { picker_ts: String, repository: String },
}

/// Most options of the repository picker (Slack's limit for a `static_select`).
pub const MAX_CHOICES: usize = 100;

/// The thread (and ordering group) of a message: `slack:{team}:{channel}:{root ts}`.
pub(crate) fn thread_key(team: &str, channel: &str, root_ts: &str) -> String {
    format!("slack:{team}:{channel}:{root_ts}")
}

/// Is this a plausible Slack id (team, enterprise, channel, user, bot)? Ids go into keys, secret names and
/// URLs, so anything else is refused.
pub(crate) fn is_slack_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Is this a plausible message ts (`1515449522.000016`)? Kept as an opaque string, never a float.
pub(crate) fn is_slack_ts(ts: &str) -> bool {
    match ts.split_once('.') {
        Some((secs, frac)) => {
            !secs.is_empty()
                && secs.len() <= 12
                && frac.len() <= 12
                && secs.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        None => !ts.is_empty() && ts.len() <= 24 && ts.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// `secs` as whole minutes for people to read (`1 minute`, `15 minutes`), rounded up.
pub(crate) fn minutes(secs: u64) -> String {
    match secs.div_ceil(60) {
        1 => "1 minute".to_owned(),
        n => format!("{n} minutes"),
    }
}

/// A ts as a comparable `(seconds, fraction)` pair, parsed as integers (Slack pads the fraction to 6 digits).
pub(crate) fn ts_key(ts: &str) -> Option<(u64, u64)> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, "0"));
    let frac = format!("{frac:0<6}");
    Some((secs.parse().ok()?, frac.get(..6)?.parse().ok()?))
}

#[cfg(test)]
mod tests;
