//! The Slack provider (Events API over HTTP): signed intake of `app_mention` events, trigger decisions, and the
//! Web API client that implements [`crate::ports::SourceClient`].
//!
//! # Tenants and secrets
//!
//! The tenant is the Slack team (workspace) id. Two routes select the signing secret:
//!
//! - `POST /webhooks/slack/<team>` (one Slack app per workspace): the request must be signed with that team's
//!   secret `<prefix>/<team>/signing-secret`, and the verified body's `team_id` must be `<team>`. A request
//!   signed with another team's secret, or a verified body of another team, is rejected with 401.
//! - `POST /webhooks/slack` (one app distributed to several workspaces, which Slack signs with the one app
//!   secret): the secret is `<prefix>/signing-secret`, and the tenant is the `team_id` of the verified body.
//!
//! Either way the Web API is called with the team's bot token `<prefix>/<team>/bot-token`. `<prefix>` is
//! `SLACK_SECRET_PREFIX` (default `slack`). Secrets are read through the [`crate::ports::Secrets`] port.
//!
//! # Seams
//! - [`signature`]: the `v0` request signature and its 5-minute window.
//! - [`event`]: the payload as Slack sends it and the trimmed [`event::SlackEvent`] that is queued.
//! - `module`: intake (route → secret → verify → parse) and the [`SlackModule`].
//! - `triggers`: the pure decision (mention, bots, edits, thread key, repository: named in the message, see
//!   [`crate::repo_hint`], else the channel's default).
//! - `mrkdwn`: Slack's text format, in (mentions, entities, links) and out (Markdown → mrkdwn).
//! - [`client`]: the Web API client (reactions, thread replies, ephemeral notices, thread context).

pub mod client;
pub mod event;
mod module;
mod mrkdwn;
pub mod signature;
mod triggers;

pub use module::SlackModule;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    config::{ConfigError, Lookup},
    repo_hint::{self, RepoRef, GIT_PROVIDERS},
};

/// Default Web API base URL.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";
/// Default prefix of Slack secret names.
pub const DEFAULT_SECRET_PREFIX: &str = "slack";

/// Where a Slack run reports: a thread in a channel of one workspace, and who asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackSource {
    /// Tenant the source belongs to: the Slack team (workspace) id.
    pub tenant: String,
    /// Channel id (`C…`, `G…`).
    pub channel: String,
    /// The thread's root message ts; replies go there (`thread_ts`).
    pub thread_ts: String,
    /// The triggering message's ts (gets the 👀; context newer than it is left out).
    pub message_ts: String,
    /// The Slack user who mentioned the bot.
    pub user: String,
    /// The bot's own user id in this workspace (its messages are never context and mark its status).
    pub bot_user_id: String,
    /// How a notice reaches the person.
    #[serde(default)]
    pub notice: SlackNotice,
}

/// How [`crate::ports::SourceClient::post_notice`] delivers a notice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlackNotice {
    /// Only the person sees it (`chat.postEphemeral` in the thread): the unlinked-account notice.
    #[default]
    Ephemeral,
    /// A normal thread reply everyone sees (e.g. "which repository?").
    Thread,
}

/// Slack settings (typed config; secrets are referenced by name, never held here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackConfig {
    /// Web API base URL without a trailing slash (`https://slack.com/api`, or a fake in tests).
    pub api_url: String,
    /// Prefix of the secret names (see the module docs).
    pub secret_prefix: String,
    /// Channel id → the repository used when a message names none.
    pub channel_repos: BTreeMap<String, RepoRef>,
    /// Git provider of a bare `owner/repo` in a message and of channel defaults without a `provider:` prefix.
    pub git_provider: String,
}

impl SlackConfig {
    /// Load from the environment; `None` when Slack is not configured (`SLACK_ENABLED` unset or false).
    ///
    /// - `SLACK_ENABLED`: `true`/`1`/`yes` turns Slack on.
    /// - `SLACK_API_URL` (default `https://slack.com/api`).
    /// - `SLACK_SECRET_PREFIX` (default `slack`).
    /// - `SLACK_GIT_PROVIDER` (default `github`).
    /// - `SLACK_CHANNEL_REPOS`: `C123=octo/hello,C456=gitlab:group/project`.
    ///
    /// Another `SLACK_*` setting without `SLACK_ENABLED` is a half configuration and fails naming it.
    pub fn load(env: &Lookup<'_>) -> Result<Option<Self>, ConfigError> {
        const OTHERS: [&str; 4] = [
            "SLACK_API_URL",
            "SLACK_SECRET_PREFIX",
            "SLACK_GIT_PROVIDER",
            "SLACK_CHANNEL_REPOS",
        ];
        let enabled = match env.get("SLACK_ENABLED") {
            None => false,
            Some(raw) => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                other => {
                    return Err(ConfigError::Invalid {
                        name: "SLACK_ENABLED",
                        reason: format!("{other:?} is not true or false"),
                    })
                }
            },
        };
        if !enabled {
            if OTHERS.iter().any(|name| env.get(name).is_some()) {
                return Err(ConfigError::Missing("SLACK_ENABLED"));
            }
            return Ok(None);
        }
        let api_url = env
            .or("SLACK_API_URL", DEFAULT_API_URL)
            .trim()
            .trim_end_matches('/')
            .to_owned();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "SLACK_API_URL",
                reason: "must be an http(s) URL".into(),
            });
        }
        let secret_prefix = env
            .or("SLACK_SECRET_PREFIX", DEFAULT_SECRET_PREFIX)
            .trim()
            .trim_matches('/')
            .to_owned();
        if secret_prefix.is_empty() {
            return Err(ConfigError::Invalid {
                name: "SLACK_SECRET_PREFIX",
                reason: "must not be empty".into(),
            });
        }
        let git_provider = env.or("SLACK_GIT_PROVIDER", "github").trim().to_ascii_lowercase();
        if !GIT_PROVIDERS.contains(&git_provider.as_str()) {
            return Err(ConfigError::Invalid {
                name: "SLACK_GIT_PROVIDER",
                reason: format!("{git_provider:?} is not one of {}", GIT_PROVIDERS.join(", ")),
            });
        }
        let channel_repos = match env.get("SLACK_CHANNEL_REPOS") {
            None => BTreeMap::new(),
            Some(raw) => parse_channel_repos(&raw, &git_provider).map_err(|reason| ConfigError::Invalid {
                name: "SLACK_CHANNEL_REPOS",
                reason,
            })?,
        };
        Ok(Some(SlackConfig {
            api_url,
            secret_prefix,
            channel_repos,
            git_provider,
        }))
    }

    /// Secret that verifies requests: the team's own (`/webhooks/slack/<team>`) or the app-wide one
    /// (`/webhooks/slack`).
    pub fn signing_secret_name(&self, team: Option<&str>) -> String {
        match team {
            Some(team) => format!("{}/{team}/signing-secret", self.secret_prefix),
            None => format!("{}/signing-secret", self.secret_prefix),
        }
    }

    /// Secret holding the team's bot token (`xoxb-…`).
    pub fn bot_token_name(&self, team: &str) -> String {
        format!("{}/{team}/bot-token", self.secret_prefix)
    }
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

/// A ts as a comparable `(seconds, fraction)` pair, parsed as integers (Slack pads the fraction to 6 digits).
pub(crate) fn ts_key(ts: &str) -> Option<(u64, u64)> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, "0"));
    let frac = format!("{frac:0<6}");
    Some((secs.parse().ok()?, frac.get(..6)?.parse().ok()?))
}

/// `CHANNEL=[provider:]owner/repo,…`.
fn parse_channel_repos(raw: &str, default_provider: &str) -> Result<BTreeMap<String, RepoRef>, String> {
    repo_hint::parse_defaults(raw, default_provider)?
        .into_iter()
        .map(|(channel, repo)| {
            if is_slack_id(&channel) {
                Ok((channel, repo))
            } else {
                Err(format!("{channel:?} is not a channel id"))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
