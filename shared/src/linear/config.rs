//! Linear settings, read from the environment once at start. Secrets are referenced by name (derived from the
//! tenant), never held here.
//!
//! In the grammar every provider shares ([`ProviderEnv`]):
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `LINEAR_TENANTS` | unset (Linear off) | the tenants: URL segment of `/webhooks/linear/<tenant>`, e.g. the organization's `urlKey` |
//! | `LINEAR_<TENANT>_ORGANIZATION_ID` | required | the Linear organization id the verified body's `organizationId` must equal |
//! | `LINEAR_<TENANT>_BOT_USER_ID` | required | the service account whose API key Hookline uses; its comments never trigger |
//! | `LINEAR_API_URL` | `https://api.linear.app/graphql` | GraphQL endpoint |
//! | `LINEAR_LABEL` | `HOOKLINE_LABEL`, else `openhands` | label name (case-insensitive) that triggers a run when newly added |
//! | `LINEAR_LABEL_ID` | unset | label id that also triggers (when names are ambiguous or renamed) |
//! | `LINEAR_MENTION` | `HOOKLINE_MENTION`, else `@openhands` | handle whose exact mention in a new comment triggers a run |
//! | `LINEAR_REPOS`, `LINEAR_<TENANT>_REPOS` | empty | `TEAM=owner/repo,…` (or `TEAM=gitlab:group/project`): repository for issues of a team when the text names none; a tenant's own entry wins |
//! | `LINEAR_GIT_PROVIDER` | `github` | git provider (`github`, `gitlab` or `bitbucket`) for repositories named without a URL or provider prefix |
//! | `LINEAR_MOVE_TO_STARTED` | `true` | when work begins, move the issue to the team's first `started` state |
//! | `LINEAR_START_FROM_STATES` | `backlog,unstarted,triage` | state types that move; `started`, `completed` and `canceled` never do |
//! | `LINEAR_SECRET_PREFIX` | `linear` | secrets: `<prefix>/<tenant>/webhook-secret`, `<prefix>/<tenant>/api-key` |
//! | `LINEAR_OAUTH_CLIENT_ID` | unset | an OAuth app people sign in with to link themselves; its secret is `<prefix>/oauth-client-secret` |
//! | `LINEAR_WEB_URL` | `https://linear.app` | where people sign in (`/oauth/authorize`) |

use crate::{
    config::{ConfigError, Lookup, ProviderEnv},
    domain::Provider,
    repo_hint::{self, RepoRef},
    sign_in::OAuthApp,
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
    /// Prefix of its secret names (`LINEAR_SECRET_PREFIX`).
    pub secret_prefix: String,
}

impl LinearTenant {
    /// Secret holding the webhook signing secret.
    pub fn webhook_secret_name(&self) -> String {
        format!("{}/{}/webhook-secret", self.secret_prefix, self.name)
    }
    /// Secret holding the service account's API key (or `Bearer <oauth token>`).
    pub fn api_key_secret_name(&self) -> String {
        format!("{}/{}/api-key", self.secret_prefix, self.name)
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
    /// The OAuth app people sign in with to link themselves (client id, its secret's name, the web URL).
    pub oauth: Option<(String, String, String)>,
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
    /// Each tenant's sign-in with the OAuth app, when there is one: the account is the GraphQL `viewer`.
    pub fn sign_ins(&self) -> Vec<OAuthApp> {
        let Some((client_id, client_secret_name, web_url)) = &self.oauth else {
            return Vec::new();
        };
        let api = self.api_url.strip_suffix("/graphql").unwrap_or(&self.api_url);
        self.tenants
            .iter()
            .map(|tenant| OAuthApp {
                provider: Provider::Linear,
                tenant: tenant.name.clone(),
                authorize_url: format!("{web_url}/oauth/authorize"),
                token_url: format!("{api}/oauth/token"),
                user_url: self.api_url.clone(),
                client_id: client_id.clone(),
                client_secret_name: client_secret_name.clone(),
                scope: Some("read"),
                authorize_params: "",
                token_json: false,
                user_query: Some("query { viewer { id name } }"),
                id_field: "/data/viewer/id",
                login_field: "/data/viewer/name",
                tenant_field: None,
            })
            .collect()
    }

    /// Load from the environment; `None` when Linear is not configured (`LINEAR_TENANTS` unset).
    pub fn load(env: &Lookup<'_>) -> Result<Option<Self>, ConfigError> {
        let env = ProviderEnv::new(env, "LINEAR");
        let Some(names) = env.tenants()? else {
            return Ok(None);
        };
        let git_provider = env.git_provider()?;
        let secret_prefix = env.secret_prefix()?;
        let mut tenants: Vec<LinearTenant> = Vec::new();
        let mut team_repositories = match env.get("REPOS") {
            Some(raw) => parse_team_repositories(&raw, None, &git_provider)
                .map_err(|reason| env.invalid("REPOS", reason))?,
            None => Vec::new(),
        };
        for name in names {
            if !valid_tenant_name(&name) {
                return Err(env.invalid(
                    "TENANTS",
                    format!("tenant {name:?} must be 1–64 letters, digits, '-' or '_'"),
                ));
            }
            let tenant = env.tenant(&name);
            if let Some(raw) = tenant.own("REPOS") {
                let own = parse_team_repositories(&raw, Some(&name), &git_provider)
                    .map_err(|reason| tenant.invalid("REPOS", reason))?;
                team_repositories.extend(own);
            }
            tenants.push(LinearTenant {
                organization_id: tenant.require("ORGANIZATION_ID")?,
                bot_user_id: tenant.require("BOT_USER_ID")?,
                secret_prefix: secret_prefix.clone(),
                name,
            });
        }
        let start_from_states: Vec<String> = env
            .or("START_FROM_STATES", "backlog,unstarted,triage")
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(bad) = start_from_states
            .iter()
            .find(|s| NEVER_MOVED_STATE_TYPES.contains(&s.as_str()))
        {
            return Err(env.invalid("START_FROM_STATES", format!("{bad:?} issues are never moved")));
        }
        let oauth = match env.get("OAUTH_CLIENT_ID") {
            None => None,
            Some(client_id) => Some((
                client_id,
                format!("{}/oauth-client-secret", env.secret_prefix()?),
                env.url("WEB_URL", "https://linear.app")?,
            )),
        };
        Ok(Some(LinearConfig {
            api_url: env.url("API_URL", DEFAULT_API_URL)?,
            oauth,
            tenants,
            label: env.label(),
            label_id: env.get("LABEL_ID"),
            mention: env.mention(),
            git_provider,
            team_repositories,
            move_to_started: env.flag("MOVE_TO_STARTED", true)?,
            start_from_states,
        }))
    }

    /// Every tenant's name.
    pub fn tenant_names(&self) -> Vec<String> {
        self.tenants.iter().map(|t| t.name.clone()).collect()
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

/// Tenant names go into URLs, keys and secret names: keep them plain.
pub(crate) fn valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `TEAM=owner/repo,…` entries: of one tenant (`LINEAR_<TENANT>_REPOS`, which win), or of all (`tenant` `None`).
fn parse_team_repositories(
    raw: &str,
    tenant: Option<&str>,
    git_provider: &str,
) -> Result<Vec<TeamRepository>, String> {
    repo_hint::parse_defaults(raw, git_provider)?
        .into_iter()
        .map(|(team_key, repo)| {
            if team_key.is_empty() || team_key.contains('/') {
                return Err(format!("{team_key:?} is not a team key"));
            }
            Ok(TeamRepository {
                tenant: tenant.map(str::to_owned),
                team_key,
                repo,
            })
        })
        .collect()
}
