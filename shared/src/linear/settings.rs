//! Linear settings, read from the environment once at start. Secrets are referenced by name (derived from the
//! tenant), never held here.
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `LINEAR_ORGANIZATIONS` | unset (Linear off) | `tenant=organization-id,…`: the tenants (URL segment of `/webhooks/linear/<tenant>`) and the Linear organization id each must match |
//! | `LINEAR_BOT_USER_IDS` | required with the above | `tenant=user-id,…`: the service account whose API key Hookline uses; its comments never trigger |
//! | `LINEAR_API_URL` | `https://api.linear.app/graphql` | GraphQL endpoint |
//! | `LINEAR_LABEL` | `HOOKLINE_LABEL`, else `openhands` | label name (case-insensitive) that triggers a run when newly added |
//! | `LINEAR_LABEL_ID` | unset | label id that also triggers (when names are ambiguous or renamed) |
//! | `LINEAR_MENTION` | `HOOKLINE_MENTION`, else `@openhands` | handle whose exact mention in a new comment triggers a run |
//! | `LINEAR_TEAM_REPOSITORIES` | empty | `TEAM=owner/repo,…` (or `tenant/TEAM=…`, or `TEAM=gitlab:group/project`): repository for issues of a team when the text names none |
//! | `LINEAR_GIT_PROVIDER` | `github` | git provider (`github`, `gitlab` or `bitbucket`) for repositories named without a URL or provider prefix |
//! | `LINEAR_MOVE_TO_STARTED` | `true` | when work begins, move the issue to the team's first `started` state |
//! | `LINEAR_START_FROM_STATES` | `backlog,unstarted,triage` | state types that move; `started`, `completed` and `canceled` never do |

use crate::{
    config::{ConfigError, Lookup},
    repo_hint::{self, RepoRef, GIT_PROVIDERS},
};

/// Default GraphQL endpoint.
pub const DEFAULT_API_URL: &str = "https://api.linear.app/graphql";
/// State types an issue is never moved out of (and never moved from by the start hook).
pub const NEVER_MOVED_STATE_TYPES: [&str; 3] = ["started", "completed", "canceled"];

/// One Linear organization Hookline serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearTenant {
    /// Name used in the URL, keys and secret names (e.g. the organization's `urlKey`).
    pub name: String,
    /// Organization id the verified body's `organizationId` must equal.
    pub organization_id: String,
    /// User id of the service account Hookline posts as; its comments are ignored.
    pub bot_user_id: String,
}

impl LinearTenant {
    /// Secret holding the webhook signing secret.
    pub fn webhook_secret_name(&self) -> String {
        format!("linear/{}/webhook-secret", self.name)
    }
    /// Secret holding the service account's API key (or `Bearer <oauth token>`).
    pub fn api_key_secret_name(&self) -> String {
        format!("linear/{}/api-key", self.name)
    }
}

/// A team → repository default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamRepository {
    /// Only for this tenant; `None` for every tenant.
    pub tenant: Option<String>,
    /// Team key, e.g. `ENG` (compared case-insensitively).
    pub team_key: String,
    /// The repository, on [`LinearConfig::git_provider`] unless given with a prefix (`gitlab:group/project`).
    pub repo: RepoRef,
}

/// Linear settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearConfig {
    /// GraphQL endpoint.
    pub api_url: String,
    pub tenants: Vec<LinearTenant>,
    /// Label name that triggers a run when newly added (case-insensitive).
    pub label: String,
    /// Label id that triggers as well.
    pub label_id: Option<String>,
    /// Handle that triggers a run when mentioned, including the `@`.
    pub mention: String,
    /// Git provider for repositories named without URL or prefix.
    pub git_provider: String,
    pub team_repositories: Vec<TeamRepository>,
    /// Move the issue to the team's first `started` state when work begins.
    pub move_to_started: bool,
    /// State types moved by the start hook.
    pub start_from_states: Vec<String>,
}

impl LinearConfig {
    /// Load from the environment; `None` when Linear is not configured (`LINEAR_ORGANIZATIONS` unset).
    pub fn load(env: &Lookup<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(organizations) = env.get("LINEAR_ORGANIZATIONS") else {
            return Ok(None);
        };
        let organizations = pairs("LINEAR_ORGANIZATIONS", &organizations)?;
        if organizations.is_empty() {
            return Err(ConfigError::Missing("LINEAR_ORGANIZATIONS"));
        }
        let bot_users = pairs("LINEAR_BOT_USER_IDS", &env.require("LINEAR_BOT_USER_IDS")?)?;
        let mut tenants: Vec<LinearTenant> = Vec::new();
        for (name, organization_id) in organizations {
            if !valid_tenant_name(&name) {
                return Err(invalid(
                    "LINEAR_ORGANIZATIONS",
                    format!("tenant {name:?} must be 1–64 letters, digits, '-' or '_'"),
                ));
            }
            if tenants.iter().any(|t| t.name.eq_ignore_ascii_case(&name)) {
                return Err(invalid(
                    "LINEAR_ORGANIZATIONS",
                    format!("tenant {name:?} appears twice"),
                ));
            }
            let bot_user_id = bot_users
                .iter()
                .find(|(tenant, _)| tenant.eq_ignore_ascii_case(&name))
                .map(|(_, id)| id.clone())
                .ok_or_else(|| invalid("LINEAR_BOT_USER_IDS", format!("no entry for tenant {name:?}")))?;
            tenants.push(LinearTenant {
                name,
                organization_id,
                bot_user_id,
            });
        }
        let git_provider = env
            .or("LINEAR_GIT_PROVIDER", "github")
            .trim()
            .to_ascii_lowercase();
        if !GIT_PROVIDERS.contains(&git_provider.as_str()) {
            return Err(invalid(
                "LINEAR_GIT_PROVIDER",
                format!("{git_provider:?} is not one of {}", GIT_PROVIDERS.join(", ")),
            ));
        }
        let team_repositories = match env.get("LINEAR_TEAM_REPOSITORIES") {
            None => Vec::new(),
            Some(raw) => repo_hint::parse_defaults(&raw, &git_provider)
                .map_err(|reason| invalid("LINEAR_TEAM_REPOSITORIES", reason))?
                .into_iter()
                .map(|(team, repo)| team_repository(&team, repo))
                .collect::<Result<_, _>>()?,
        };
        let start_from_states: Vec<String> = env
            .or("LINEAR_START_FROM_STATES", "backlog,unstarted,triage")
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(bad) = start_from_states
            .iter()
            .find(|s| NEVER_MOVED_STATE_TYPES.contains(&s.as_str()))
        {
            return Err(invalid(
                "LINEAR_START_FROM_STATES",
                format!("{bad:?} issues are never moved"),
            ));
        }
        let move_to_started = match env.or("LINEAR_MOVE_TO_STARTED", "true").trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            other => {
                return Err(invalid(
                    "LINEAR_MOVE_TO_STARTED",
                    format!("{other:?} is not true or false"),
                ))
            }
        };
        let label = env
            .get("LINEAR_LABEL")
            .or_else(|| env.get("HOOKLINE_LABEL"))
            .unwrap_or_else(|| "openhands".to_owned());
        let mention = env
            .get("LINEAR_MENTION")
            .or_else(|| env.get("HOOKLINE_MENTION"))
            .unwrap_or_else(|| "@openhands".to_owned());
        Ok(Some(LinearConfig {
            api_url: env.or("LINEAR_API_URL", DEFAULT_API_URL).trim().to_owned(),
            tenants,
            label: label.trim().to_owned(),
            label_id: env.get("LINEAR_LABEL_ID").map(|id| id.trim().to_owned()),
            mention: with_at(mention.trim()),
            git_provider,
            team_repositories,
            move_to_started,
            start_from_states,
        }))
    }

    /// The tenant named `name` (case-insensitive).
    pub fn tenant(&self, name: &str) -> Option<&LinearTenant> {
        self.tenants.iter().find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// The repository configured for `team_key` in `tenant`: a tenant-specific entry wins over a general one.
    pub fn team_repository(&self, tenant: &str, team_key: &str) -> Option<&TeamRepository> {
        let matches_team = |entry: &&TeamRepository| entry.team_key.eq_ignore_ascii_case(team_key);
        self.team_repositories
            .iter()
            .filter(matches_team)
            .find(|entry| {
                entry
                    .tenant
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case(tenant))
            })
            .or_else(|| {
                self.team_repositories
                    .iter()
                    .filter(matches_team)
                    .find(|entry| entry.tenant.is_none())
            })
    }
}

fn invalid(name: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid { name, reason }
}

fn with_at(raw: &str) -> String {
    if raw.starts_with('@') {
        raw.to_owned()
    } else {
        format!("@{raw}")
    }
}

/// Tenant names go into URLs, keys and secret names: keep them plain.
pub(crate) fn valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `a=b,c=d` → `[(a, b), (c, d)]`; blank entries are skipped, an entry without `=` or with an empty side is an
/// error naming the variable.
fn pairs(name: &'static str, raw: &str) -> Result<Vec<(String, String)>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| match entry.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() && !value.trim().is_empty() => {
                Ok((key.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(invalid(name, format!("{entry:?} is not key=value"))),
        })
        .collect()
}

/// `TEAM` or `tenant/TEAM`, with its repository.
fn team_repository(team: &str, repo: RepoRef) -> Result<TeamRepository, ConfigError> {
    let (tenant, team_key) = match team.split_once('/') {
        Some((tenant, key)) => (Some(tenant.to_owned()), key.to_owned()),
        None => (None, team.to_owned()),
    };
    if team_key.is_empty() || tenant.as_deref().is_some_and(|t| !valid_tenant_name(t)) {
        return Err(invalid(
            "LINEAR_TEAM_REPOSITORIES",
            format!("{team:?} is not TEAM or tenant/TEAM"),
        ));
    }
    Ok(TeamRepository {
        tenant,
        team_key,
        repo,
    })
}
