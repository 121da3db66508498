//! Jira settings: which sites (tenants) are served, and per site its base URL, its service account, its
//! project → repository map and its transitions. Secrets (webhook secret, service account email and API token)
//! are referenced by name and read through the [`crate::ports::Secrets`] port, never held here.
//!
//! Variables, in the grammar every provider shares ([`ProviderEnv`]; `<SITE>` is the site name upper-cased with
//! every character other than `A-Z0-9` turned into `_`; a per-site setting may also be given for every site as
//! `JIRA_<SETTING>`):
//! - `JIRA_TENANTS`: comma-separated site names; Jira is off when unset. A site name is what the webhook URL
//!   ends with (`/webhooks/jira/<site>`), e.g. `acme` or `acme.atlassian.net`.
//! - `JIRA_<SITE>_URL`: base URL (`https://acme.atlassian.net`); defaults to `https://<site>` when the name is a
//!   host name (contains a dot).
//! - `JIRA_<SITE>_BOT_ACCOUNT_ID` (required): the service account's `accountId`; its comments are ignored and a
//!   picker mention of it triggers.
//! - `JIRA_<SITE>_REPOS`: `PROJ=owner/repo,OPS=gitlab:group/project` (optional).
//! - `JIRA_<SITE>_TRANSITION_STARTED` / `_TRANSITION_PR_OPENED`: transition name or id, or the target status
//!   name (optional; no move if unset).
//! - `JIRA_LABEL` (default `HOOKLINE_LABEL`, else `openhands`), `JIRA_MENTION` (default `HOOKLINE_MENTION`,
//!   else `@openhands`).
//! - `JIRA_GIT_PROVIDER`: git provider of repositories named without one (default `github`).
//! - `JIRA_SECRET_PREFIX` (default `jira`): secrets are `<prefix>/<site>/webhook-secret`, `…/email`,
//!   `…/api-token`.
//! - `JIRA_OAUTH_CLIENT_ID`: an Atlassian OAuth 2.0 (3LO) app (scope `read:me`) people sign in with to link
//!   themselves; its secret is `<prefix>/oauth-client-secret`. `JIRA_OAUTH_URL` (`https://auth.atlassian.com`)
//!   and `JIRA_ACCOUNTS_URL` (`https://api.atlassian.com`) are where it signs in and reads `/me`.

use std::collections::BTreeMap;

use crate::{
    config::{check_url, ConfigError, Lookup, ProviderEnv},
    domain::Provider,
    repo_hint::{self, RepoRef},
    sign_in::OAuthApp,
};

/// Jira settings: one entry per served site plus what all sites share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JiraConfig {
    pub tenants: Vec<JiraTenant>,
    /// The OAuth app people sign in with to link themselves, if there is one.
    pub oauth: Option<JiraOAuth>,
    /// Label whose addition triggers a run.
    pub label: String,
    /// Handle whose exact mention triggers a run, including the `@`.
    pub mention: String,
}

/// An Atlassian OAuth 2.0 (3LO) app: one for every site (Atlassian accounts span sites).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JiraOAuth {
    pub client_id: String,
    pub client_secret_name: String,
    /// `https://auth.atlassian.com` (authorize, token).
    pub auth_url: String,
    /// `https://api.atlassian.com` (`/me`).
    pub accounts_url: String,
}

/// One Jira site (the tenant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JiraTenant {
    /// Site name as it appears in the webhook URL and in keys (lowercase).
    pub name: String,
    /// REST base URL without a trailing slash.
    pub base_url: String,
    /// `accountId` of the service account Hookline posts as.
    pub bot_account_id: String,
    pub webhook_secret_name: String,
    pub email_secret_name: String,
    pub api_token_secret_name: String,
    /// Project key (upper-case) → repository to work on when the issue text names none.
    pub projects: BTreeMap<String, RepoRef>,
    /// Git provider for repositories named without one.
    pub default_git_provider: String,
    /// Transition (name, id, or target status name) applied when work starts.
    pub transition_started: Option<String>,
    /// Transition applied when the run opened a pull request.
    pub transition_pr_opened: Option<String>,
}

impl JiraTenant {
    /// The repository configured for `project_key` (`…_REPOS`), whatever its case.
    pub fn project_repository(&self, project_key: &str) -> Option<&RepoRef> {
        self.projects.get(&project_key.to_ascii_uppercase())
    }
}

impl JiraConfig {
    /// Load from the environment; `None` when `JIRA_TENANTS` is unset. A half-configured site fails, naming
    /// the missing or invalid variable.
    pub fn load(env: &Lookup<'_>) -> Result<Option<Self>, ConfigError> {
        let env = ProviderEnv::new(env, "JIRA");
        let Some(names) = env.tenants()? else {
            return Ok(None);
        };
        let default_git_provider = env.git_provider()?;
        let secret_prefix = env.secret_prefix()?;
        let mut tenants: Vec<JiraTenant> = Vec::new();
        for name in names {
            let name = name.to_ascii_lowercase();
            if !valid_site_name(&name) {
                return Err(env.invalid(
                    "TENANTS",
                    format!("{name:?} is not a site name (letters, digits, '.', '-')"),
                ));
            }
            let tenant = env.tenant(&name);
            let base_url = match tenant.get("URL") {
                Some(url) => url,
                None if name.contains('.') => format!("https://{name}"),
                None => return Err(ConfigError::missing(tenant.var("URL"))),
            };
            let base_url = check_url(&tenant.var("URL"), &base_url)?;
            let bot_account_id = tenant.require("BOT_ACCOUNT_ID")?;
            let projects = match tenant.get("REPOS") {
                Some(raw) => parse_project_map(&raw, &default_git_provider)
                    .map_err(|reason| tenant.invalid("REPOS", reason))?,
                None => BTreeMap::new(),
            };
            tenants.push(JiraTenant {
                webhook_secret_name: format!("{secret_prefix}/{name}/webhook-secret"),
                email_secret_name: format!("{secret_prefix}/{name}/email"),
                api_token_secret_name: format!("{secret_prefix}/{name}/api-token"),
                transition_started: tenant.get("TRANSITION_STARTED"),
                transition_pr_opened: tenant.get("TRANSITION_PR_OPENED"),
                name,
                base_url,
                bot_account_id,
                projects,
                default_git_provider: default_git_provider.clone(),
            });
        }
        let oauth = match env.get("OAUTH_CLIENT_ID") {
            None => None,
            Some(client_id) => Some(JiraOAuth {
                client_id,
                client_secret_name: format!("{secret_prefix}/oauth-client-secret"),
                auth_url: env.url("OAUTH_URL", "https://auth.atlassian.com")?,
                accounts_url: env.url("ACCOUNTS_URL", "https://api.atlassian.com")?,
            }),
        };
        Ok(Some(JiraConfig {
            tenants,
            oauth,
            label: env.label(),
            mention: env.mention(),
        }))
    }

    /// Each site's sign-in with the OAuth app, when there is one.
    pub fn sign_ins(&self) -> Vec<OAuthApp> {
        let Some(oauth) = &self.oauth else {
            return Vec::new();
        };
        self.tenants
            .iter()
            .map(|site| OAuthApp {
                provider: Provider::Jira,
                tenant: site.name.clone(),
                authorize_url: format!("{}/authorize", oauth.auth_url),
                token_url: format!("{}/oauth/token", oauth.auth_url),
                user_url: format!("{}/me", oauth.accounts_url),
                client_id: oauth.client_id.clone(),
                client_secret_name: oauth.client_secret_name.clone(),
                scope: Some("read:me"),
                authorize_params: "audience=api.atlassian.com&prompt=consent",
                token_json: true,
                user_query: None,
                id_field: "/account_id",
                login_field: "/name",
                tenant_field: None,
            })
            .collect()
    }

    /// Every site's name.
    pub fn tenant_names(&self) -> Vec<String> {
        self.tenants.iter().map(|s| s.name.clone()).collect()
    }

    /// The site called `name` (case-insensitive).
    pub fn tenant(&self, name: &str) -> Option<&JiraTenant> {
        self.tenants.iter().find(|s| s.name.eq_ignore_ascii_case(name))
    }
}

fn valid_site_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !name.starts_with('.')
        && !name.contains("..")
}

/// Parse `PROJ=owner/repo,OPS=gitlab:group/project`.
pub fn parse_project_map(raw: &str, default_git_provider: &str) -> Result<BTreeMap<String, RepoRef>, String> {
    repo_hint::parse_defaults(raw, default_git_provider)?
        .into_iter()
        .map(|(project, repo)| {
            let project = project.to_ascii_uppercase();
            if project.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                Ok((project, repo))
            } else {
                Err(format!("{project:?} is not a project key"))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Option<JiraConfig>, ConfigError> {
        let get = crate::config::pairs_lookup(pairs);
        JiraConfig::load(&Lookup::new(&get))
    }

    #[test]
    fn off_without_sites() {
        assert_eq!(load(&[]), Ok(None));
    }

    #[test]
    fn a_half_configured_site_names_the_missing_variable() {
        assert_eq!(
            load(&[("JIRA_TENANTS", "acme")]),
            Err(ConfigError::missing("JIRA_ACME_URL"))
        );
        assert_eq!(
            load(&[("JIRA_TENANTS", "acme.atlassian.net")]),
            Err(ConfigError::missing("JIRA_ACME_ATLASSIAN_NET_BOT_ACCOUNT_ID"))
        );
        let err = load(&[
            ("JIRA_TENANTS", "acme"),
            ("JIRA_ACME_URL", "https://acme.atlassian.net"),
            ("JIRA_ACME_BOT_ACCOUNT_ID", "bot-1"),
            ("JIRA_ACME_REPOS", "PROJ=not a repo"),
        ]);
        assert!(matches!(err, Err(ConfigError::Invalid { name, .. }) if name == "JIRA_ACME_REPOS"));
    }

    #[test]
    fn loads_sites_maps_and_transitions() {
        let config = load(&[
            ("JIRA_TENANTS", "acme, globex.atlassian.net"),
            ("JIRA_ACME_URL", "https://acme.atlassian.net/"),
            ("JIRA_ACME_BOT_ACCOUNT_ID", "bot-1"),
            ("JIRA_ACME_REPOS", "proj=octo/hello, OPS=gitlab:group/sub/svc"),
            ("JIRA_ACME_TRANSITION_STARTED", "Start work"),
            ("JIRA_GLOBEX_ATLASSIAN_NET_BOT_ACCOUNT_ID", "bot-2"),
            ("JIRA_TRANSITION_STARTED", "21"),
            ("JIRA_TRANSITION_PR_OPENED", "In Review"),
            ("HOOKLINE_MENTION", "bot"),
        ])
        .expect("loads")
        .expect("on");
        assert_eq!(config.mention, "@bot");
        assert_eq!(config.label, "openhands");
        let acme = config.tenant("ACME").expect("acme");
        assert_eq!(acme.base_url, "https://acme.atlassian.net");
        assert_eq!(acme.webhook_secret_name, "jira/acme/webhook-secret");
        assert_eq!(acme.transition_started.as_deref(), Some("Start work"));
        assert_eq!(acme.transition_pr_opened.as_deref(), Some("In Review"));
        assert_eq!(
            acme.projects.get("PROJ"),
            Some(&RepoRef {
                repository: "octo/hello".into(),
                git_provider: "github".into()
            })
        );
        assert_eq!(acme.projects["OPS"].git_provider, "gitlab");
        assert_eq!(acme.projects["OPS"].repository, "group/sub/svc");
        let globex = config.tenant("globex.atlassian.net").expect("globex");
        assert_eq!(globex.base_url, "https://globex.atlassian.net");
        assert_eq!(globex.transition_started.as_deref(), Some("21"));
    }
}
