//! Slack settings, in the grammar every provider shares ([`ProviderEnv`]):
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `SLACK_TENANTS` | unset (Slack off) | the team (workspace) ids served, or `*` for any workspace of a distributed app |
//! | `SLACK_API_URL` | `https://slack.com/api` | Web API base URL |
//! | `SLACK_GIT_PROVIDER` | `github` | git provider of a bare `owner/repo` and of channel defaults without a `provider:` prefix |
//! | `SLACK_REPOS` | empty | `C123=octo/hello,C456=gitlab:group/project`: the repository of a channel when a message names none; `C789=octo/api\|octo/web` lists several, and a message naming none gets a picker of them |
//! | `SLACK_CHOICE_EXPIRES_SECS` | `900` | how long after it was posted a repository picker still starts a run |
//! | `SLACK_CHANNELS` | unset (every channel) | `C123,C456`: the only channels where a mention starts or steers a run |
//! | `SLACK_USERGROUPS` | unset (everyone) | `S123,S456`: only members of these user groups may trigger (needs `usergroups:read`) |
//! | `SLACK_ALLOW_EXTERNAL` | `false` | whether people from other organizations (Slack Connect) may trigger |
//! | `SLACK_SECRET_PREFIX` | `slack` | secrets: `<prefix>/<team>/signing-secret` or the app's `<prefix>/signing-secret`, and `<prefix>/<team>/bot-token` |
//! | `SLACK_OAUTH_CLIENT_ID` | unset | the app's client id: people "Sign in with Slack" (OpenID Connect) to link themselves; its secret is `<prefix>/oauth-client-secret` |

use std::{collections::BTreeMap, time::Duration};

use super::is_slack_id;
use crate::{
    config::{ConfigError, Lookup, ProviderEnv},
    domain::Provider,
    repo_hint::{self, RepoRef},
    sign_in::OAuthApp,
};

/// Default Web API base URL.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";
/// Default prefix of Slack secret names.
pub const DEFAULT_SECRET_PREFIX: &str = "slack";
/// How long a repository picker starts a run by default (`SLACK_CHOICE_EXPIRES_SECS`).
pub const DEFAULT_CHOICE_EXPIRES: Duration = Duration::from_secs(15 * 60);

/// Slack settings (typed config; secrets are referenced by name, never held here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackConfig {
    /// Web API base URL without a trailing slash (`https://slack.com/api`, or a fake in tests).
    pub api_url: String,
    /// Prefix of the secret names (see the module docs).
    pub secret_prefix: String,
    /// The workspaces served (`SLACK_TENANTS`); `None` serves any the app is installed in (`*`).
    pub teams: Option<Vec<String>>,
    /// The app's client id, when people sign in with Slack to link themselves (`SLACK_OAUTH_CLIENT_ID`).
    pub oauth_client_id: Option<String>,
    /// Channel id → its repositories, each once: one is the channel's default when a message names none; of
    /// several, the person picks (see [`SlackConfig::channel_default`]).
    pub channel_repos: BTreeMap<String, Vec<RepoRef>>,
    /// Git provider of a bare `owner/repo` in a message and of channel defaults without a `provider:` prefix.
    pub git_provider: String,
    /// Who may trigger, checked in the worker before anything happens.
    pub access: SlackAccessRules,
}

/// Who may trigger runs in Slack, where a workspace has no repository permissions to ask about, and until when a
/// repository picker may start one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackAccessRules {
    /// The only channels served (`SLACK_CHANNELS`); `None` serves every channel the bot is in.
    pub channels: Option<Vec<String>>,
    /// User groups whose members may trigger (`SLACK_USERGROUPS`); empty lets every member.
    pub usergroups: Vec<String>,
    /// People of other organizations in shared channels (Slack Connect) may trigger (`SLACK_ALLOW_EXTERNAL`).
    pub allow_external: bool,
    /// How long after its own ts a repository picker still starts a run (`SLACK_CHOICE_EXPIRES_SECS`); later
    /// picks are told the request expired.
    pub choice_expires: Duration,
}

impl Default for SlackAccessRules {
    fn default() -> Self {
        Self {
            channels: None,
            usergroups: Vec::new(),
            allow_external: false,
            choice_expires: DEFAULT_CHOICE_EXPIRES,
        }
    }
}

impl SlackConfig {
    /// Load from the environment; `None` when `SLACK_TENANTS` is unset.
    pub fn load(env: &Lookup<'_>) -> Result<Option<Self>, ConfigError> {
        let env = ProviderEnv::new(env, "SLACK");
        let Some(tenants) = env.tenants()? else {
            return Ok(None);
        };
        let teams = if tenants.iter().any(|t| t == "*") {
            None
        } else {
            if let Some(bad) = tenants.iter().find(|t| !is_slack_id(t)) {
                return Err(env.invalid("TENANTS", format!("{bad:?} is not a team id (or `*`)")));
            }
            Some(tenants)
        };
        let git_provider = env.git_provider()?;
        let channel_repos = match env.get("REPOS") {
            None => BTreeMap::new(),
            Some(raw) => {
                parse_channel_repos(&raw, &git_provider).map_err(|reason| env.invalid("REPOS", reason))?
            }
        };
        let access = SlackAccessRules {
            channels: env
                .get("CHANNELS")
                .map(|raw| ids(&env, "CHANNELS", &raw))
                .transpose()?,
            usergroups: env
                .get("USERGROUPS")
                .map(|raw| ids(&env, "USERGROUPS", &raw))
                .transpose()?
                .unwrap_or_default(),
            allow_external: env.flag("ALLOW_EXTERNAL", false)?,
            choice_expires: match env.get("CHOICE_EXPIRES_SECS") {
                None => DEFAULT_CHOICE_EXPIRES,
                Some(raw) => match raw.trim().parse::<u64>() {
                    Ok(secs) if secs > 0 => Duration::from_secs(secs),
                    _ => {
                        return Err(
                            env.invalid("CHOICE_EXPIRES_SECS", "must be a number of seconds, at least 1")
                        )
                    }
                },
            },
        };
        Ok(Some(SlackConfig {
            api_url: env.url("API_URL", DEFAULT_API_URL)?,
            secret_prefix: env.secret_prefix()?,
            teams,
            oauth_client_id: env.get("OAUTH_CLIENT_ID"),
            channel_repos,
            git_provider,
            access,
        }))
    }

    /// Whether `team` is served: listed in `SLACK_TENANTS`, or any with `*`.
    pub fn serves(&self, team: &str) -> bool {
        self.teams
            .as_ref()
            .is_none_or(|teams| teams.iter().any(|t| t == team))
    }

    /// The served teams (`*` for any).
    pub fn tenant_names(&self) -> Vec<String> {
        self.teams.clone().unwrap_or_else(|| vec!["*".to_owned()])
    }

    /// Secret that verifies requests: the team's own (`/webhooks/slack/<team>`) or the app-wide one
    /// (`/webhooks/slack`).
    pub fn signing_secret_name(&self, team: Option<&str>) -> String {
        match team {
            Some(team) => format!("{}/{team}/signing-secret", self.secret_prefix),
            None => format!("{}/signing-secret", self.secret_prefix),
        }
    }

    /// The repositories configured for `channel`, in order (none when it has no entry).
    pub fn repositories_of(&self, channel: &str) -> &[RepoRef] {
        self.channel_repos.get(channel).map_or(&[], Vec::as_slice)
    }

    /// The channel's default repository: its only configured one. A channel listing several has none; its
    /// people pick.
    pub fn channel_default(&self, channel: &str) -> Option<&RepoRef> {
        match self.repositories_of(channel) {
            [only] => Some(only),
            _ => None,
        }
    }

    /// "Sign in with Slack" (OpenID Connect) for each team served, when the app has a client id. The user
    /// answer names the team, which must be the invitation's.
    pub fn sign_ins(&self) -> Vec<OAuthApp> {
        let Some(client_id) = &self.oauth_client_id else {
            return Vec::new();
        };
        // The Web API is `<site>/api`; the sign-in pages are on the site itself.
        let site = self.api_url.strip_suffix("/api").unwrap_or(&self.api_url);
        self.tenant_names()
            .into_iter()
            .map(|team| OAuthApp {
                provider: Provider::Slack,
                tenant: team,
                authorize_url: format!("{site}/openid/connect/authorize"),
                token_url: format!("{}/openid.connect.token", self.api_url),
                user_url: format!("{}/openid.connect.userInfo", self.api_url),
                client_id: client_id.clone(),
                client_secret_name: format!("{}/oauth-client-secret", self.secret_prefix),
                scope: Some("openid profile"),
                authorize_params: "",
                token_json: false,
                user_query: None,
                // The claims' names are URLs: `/` is `~1` in a JSON pointer.
                id_field: "/https:~1~1slack.com~1user_id",
                login_field: "/name",
                tenant_field: Some("/https:~1~1slack.com~1team_id"),
            })
            .collect()
    }

    /// Secret holding the team's bot token (`xoxb-…`).
    pub fn bot_token_name(&self, team: &str) -> String {
        format!("{}/{team}/bot-token", self.secret_prefix)
    }
}

/// A comma-separated list of Slack ids (channels, user groups), each checked.
fn ids(env: &ProviderEnv<'_>, setting: &str, raw: &str) -> Result<Vec<String>, ConfigError> {
    let ids: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    match ids.iter().find(|id| !is_slack_id(id)) {
        Some(bad) => Err(env.invalid(setting, format!("{bad:?} is not a Slack id"))),
        None => Ok(ids),
    }
}

/// `CHANNEL=[provider:]owner/repo[|…],…`.
fn parse_channel_repos(raw: &str, default_provider: &str) -> Result<BTreeMap<String, Vec<RepoRef>>, String> {
    repo_hint::parse_default_lists(raw, default_provider)?
        .into_iter()
        .map(|(channel, repos)| {
            if is_slack_id(&channel) {
                Ok((channel, repo_hint::distinct(repos)))
            } else {
                Err(format!("{channel:?} is not a channel id"))
            }
        })
        .collect()
}
