//! Jira settings: which sites (tenants) are served, and per site its base URL, its service account, its
//! project → repository map and its transitions. Secrets (webhook secret, service account email and API token)
//! are referenced by name and read through the [`crate::ports::Secrets`] port, never held here.
//!
//! Variables (`<SITE>` is the site name upper-cased with every other character than `A-Z0-9` turned into `_`):
//! - `JIRA_SITES`: comma-separated site names; Jira is off when unset. A site name is what the webhook URL
//!   ends with (`/webhooks/jira/<site>`), e.g. `acme` or `acme.atlassian.net`.
//! - `JIRA_SITE_<SITE>_URL`: base URL (`https://acme.atlassian.net`); defaults to `https://<site>` when the
//!   name is a host name (contains a dot).
//! - `JIRA_SITE_<SITE>_BOT_ACCOUNT_ID` (required): the service account's `accountId`; its comments are ignored
//!   and a picker mention of it triggers.
//! - `JIRA_SITE_<SITE>_PROJECT_REPOS`: `PROJ=owner/repo,OPS=gitlab:group/project` (optional).
//! - `JIRA_SITE_<SITE>_TRANSITION_STARTED` / `_TRANSITION_PR_OPENED`: override the global ones below.
//! - `JIRA_TRANSITION_STARTED`, `JIRA_TRANSITION_PR_OPENED`: transition name or id (optional; no move if unset).
//! - `JIRA_LABEL` (default `HOOKLINE_LABEL`, else `openhands`), `JIRA_MENTION` (default `HOOKLINE_MENTION`,
//!   else `@openhands`).
//! - `JIRA_DEFAULT_GIT_PROVIDER`: git provider of repositories named without one (default `github`).
//! - `JIRA_SECRET_PREFIX` (default `jira`): secrets are `<prefix>/<site>/webhook-secret`, `…/email`,
//!   `…/api-token`.

use std::collections::BTreeMap;

use crate::{
    config::{ConfigError, Lookup},
    repo_hint::{self, RepoRef, GIT_PROVIDERS},
};

/// Jira settings: one entry per served site plus what all sites share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JiraConfig {
    pub sites: Vec<JiraSite>,
    /// Label whose addition triggers a run.
    pub label: String,
    /// Handle whose exact mention triggers a run, including the `@`.
    pub mention: String,
}

/// One Jira site (the tenant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JiraSite {
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

impl JiraConfig {
    /// Load from the environment; `None` when `JIRA_SITES` is unset. A half-configured site fails, naming
    /// the missing or invalid variable.
    pub fn load(env: &Lookup<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(raw_sites) = env.get("JIRA_SITES") else {
            return Ok(None);
        };
        let default_git_provider = env.or("JIRA_DEFAULT_GIT_PROVIDER", "github").to_ascii_lowercase();
        if !GIT_PROVIDERS.contains(&default_git_provider.as_str()) {
            return Err(ConfigError::Invalid {
                name: "JIRA_DEFAULT_GIT_PROVIDER",
                reason: format!(
                    "{default_git_provider:?} is not one of {}",
                    GIT_PROVIDERS.join(", ")
                ),
            });
        }
        let secret_prefix = env
            .or("JIRA_SECRET_PREFIX", "jira")
            .trim_end_matches('/')
            .to_owned();
        let started = env.get("JIRA_TRANSITION_STARTED");
        let pr_opened = env.get("JIRA_TRANSITION_PR_OPENED");
        let mut sites: Vec<JiraSite> = Vec::new();
        for name in raw_sites.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let name = name.to_ascii_lowercase();
            if !valid_site_name(&name) {
                return Err(ConfigError::Invalid {
                    name: "JIRA_SITES",
                    reason: format!("{name:?} is not a site name (letters, digits, '.', '-')"),
                });
            }
            if sites.iter().any(|s| s.name == name) {
                return Err(ConfigError::Invalid {
                    name: "JIRA_SITES",
                    reason: format!("{name:?} is listed twice"),
                });
            }
            let key = env_key(&name);
            // `Lookup` names variables by `&'static str`; the per-site names are built once at start.
            let var = |suffix: &str| -> &'static str {
                Box::leak(format!("JIRA_SITE_{key}_{suffix}").into_boxed_str())
            };
            let url_var = var("URL");
            let base_url = match env.get(url_var) {
                Some(url) => url,
                None if name.contains('.') => format!("https://{name}"),
                None => return Err(ConfigError::Missing(url_var)),
            };
            let base_url = base_url.trim().trim_end_matches('/').to_owned();
            if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
                return Err(ConfigError::Invalid {
                    name: url_var,
                    reason: "must be an http(s) URL".into(),
                });
            }
            let bot_account_id = env.require(var("BOT_ACCOUNT_ID"))?.trim().to_owned();
            let projects_var = var("PROJECT_REPOS");
            let projects = match env.get(projects_var) {
                Some(raw) => {
                    parse_project_map(&raw, &default_git_provider).map_err(|reason| ConfigError::Invalid {
                        name: projects_var,
                        reason,
                    })?
                }
                None => BTreeMap::new(),
            };
            sites.push(JiraSite {
                webhook_secret_name: format!("{secret_prefix}/{name}/webhook-secret"),
                email_secret_name: format!("{secret_prefix}/{name}/email"),
                api_token_secret_name: format!("{secret_prefix}/{name}/api-token"),
                transition_started: env.get(var("TRANSITION_STARTED")).or_else(|| started.clone()),
                transition_pr_opened: env.get(var("TRANSITION_PR_OPENED")).or_else(|| pr_opened.clone()),
                name,
                base_url,
                bot_account_id,
                projects,
                default_git_provider: default_git_provider.clone(),
            });
        }
        if sites.is_empty() {
            return Err(ConfigError::Invalid {
                name: "JIRA_SITES",
                reason: "names no site".into(),
            });
        }
        let label = env
            .get("JIRA_LABEL")
            .or_else(|| env.get("HOOKLINE_LABEL"))
            .unwrap_or_else(|| "openhands".into());
        let mention = env
            .get("JIRA_MENTION")
            .or_else(|| env.get("HOOKLINE_MENTION"))
            .unwrap_or_else(|| "@openhands".into());
        let mention = if mention.starts_with('@') {
            mention
        } else {
            format!("@{mention}")
        };
        Ok(Some(JiraConfig {
            sites,
            label,
            mention,
        }))
    }

    /// The site called `name` (case-insensitive).
    pub fn site(&self, name: &str) -> Option<&JiraSite> {
        self.sites.iter().find(|s| s.name.eq_ignore_ascii_case(name))
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

/// `acme.atlassian.net` → `ACME_ATLASSIAN_NET`.
pub fn env_key(site: &str) -> String {
    site.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
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
    use std::collections::HashMap;

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Option<JiraConfig>, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::config::Config::from_lookup(move |k| map.get(k).cloned()).map(|config| config.jira)
    }

    #[test]
    fn off_without_sites() {
        assert_eq!(load(&[]), Ok(None));
    }

    #[test]
    fn a_half_configured_site_names_the_missing_variable() {
        assert_eq!(
            load(&[("JIRA_SITES", "acme")]),
            Err(ConfigError::Missing("JIRA_SITE_ACME_URL"))
        );
        assert_eq!(
            load(&[("JIRA_SITES", "acme.atlassian.net")]),
            Err(ConfigError::Missing(
                "JIRA_SITE_ACME_ATLASSIAN_NET_BOT_ACCOUNT_ID"
            ))
        );
        let err = load(&[
            ("JIRA_SITES", "acme"),
            ("JIRA_SITE_ACME_URL", "https://acme.atlassian.net"),
            ("JIRA_SITE_ACME_BOT_ACCOUNT_ID", "bot-1"),
            ("JIRA_SITE_ACME_PROJECT_REPOS", "PROJ=not a repo"),
        ]);
        assert!(matches!(
            err,
            Err(ConfigError::Invalid {
                name: "JIRA_SITE_ACME_PROJECT_REPOS",
                ..
            })
        ));
    }

    #[test]
    fn loads_sites_maps_and_transitions() {
        let config = load(&[
            ("JIRA_SITES", "acme, globex.atlassian.net"),
            ("JIRA_SITE_ACME_URL", "https://acme.atlassian.net/"),
            ("JIRA_SITE_ACME_BOT_ACCOUNT_ID", "bot-1"),
            (
                "JIRA_SITE_ACME_PROJECT_REPOS",
                "proj=octo/hello, OPS=gitlab:group/sub/svc",
            ),
            ("JIRA_SITE_ACME_TRANSITION_STARTED", "Start work"),
            ("JIRA_SITE_GLOBEX_ATLASSIAN_NET_BOT_ACCOUNT_ID", "bot-2"),
            ("JIRA_TRANSITION_STARTED", "21"),
            ("JIRA_TRANSITION_PR_OPENED", "In Review"),
            ("HOOKLINE_MENTION", "bot"),
        ])
        .expect("loads")
        .expect("on");
        assert_eq!(config.mention, "@bot");
        assert_eq!(config.label, "openhands");
        let acme = config.site("ACME").expect("acme");
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
        let globex = config.site("globex.atlassian.net").expect("globex");
        assert_eq!(globex.base_url, "https://globex.atlassian.net");
        assert_eq!(globex.transition_started.as_deref(), Some("21"));
    }
}
