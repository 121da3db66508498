//! GitHub settings, in the grammar every provider shares ([`ProviderEnv`]):
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `GITHUB_TENANTS` | unset (GitHub off) | the one GitHub host the App lives on: `github.com` or a GHES host |
//! | `GITHUB_APP_ID` | required | JWT issuer: the App's client id (recommended) or numeric id |
//! | `GITHUB_APP_SLUG` | required | the App's slug; comments by `<slug>[bot]` are its own |
//! | `GITHUB_API_URL` | `https://api.github.com` | REST base URL (GHES: `https://<host>/api/v3`) |
//! | `GITHUB_LABEL`, `GITHUB_MENTION` | `HOOKLINE_LABEL`, `HOOKLINE_MENTION` | the label and the handle that trigger |
//! | `GITHUB_ASSIGNEE` | unset (off) | a machine user's login: assigning an issue or pull request to it triggers |
//! | `GITHUB_SECRET_PREFIX` | `github` | the App's secrets are `<prefix>/webhook-secret` and `<prefix>/private-key` |

use crate::config::{ConfigError, Lookup, ProviderEnv};

/// GitHub settings (typed config; secrets are referenced by name, never held here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GithubConfig {
    /// REST base URL, `https://api.github.com` (or GHES `https://host/api/v3`, or a local fake in tests).
    pub api_url: String,
    /// Tenant name used in keys and links (`github.com` or the GHES host).
    pub tenant: String,
    /// JWT issuer: the App's client id (recommended) or numeric App id.
    pub app_id: String,
    /// The App's slug; its comments come from `<slug>[bot]` and are ignored.
    pub app_slug: String,
    /// Secret names in the secret store.
    pub webhook_secret_name: String,
    pub private_key_secret_name: String,
    /// Label that triggers a run when added to an issue.
    pub label: String,
    /// Handle that triggers a run when mentioned, including the `@`.
    pub mention: String,
    /// Login (without `@`) of the machine user whose assignment to an issue or pull request triggers a run (an
    /// App cannot be an assignee); `None`: assignment triggers nothing.
    pub assignee: Option<String>,
}

impl GithubConfig {
    /// Load from the environment; `None` when `GITHUB_TENANTS` is unset.
    pub fn load(env: &Lookup<'_>) -> Result<Option<Self>, ConfigError> {
        let env = ProviderEnv::new(env, "GITHUB");
        let Some(tenants) = env.tenants()? else {
            return Ok(None);
        };
        let [tenant] = tenants.as_slice() else {
            return Err(env.invalid("TENANTS", "one GitHub App serves one host: list exactly one"));
        };
        let secret_prefix = env.secret_prefix()?;
        Ok(Some(Self {
            api_url: env.url("API_URL", "https://api.github.com")?,
            tenant: tenant.to_ascii_lowercase(),
            app_id: env.require("APP_ID")?,
            app_slug: env.require("APP_SLUG")?,
            webhook_secret_name: format!("{secret_prefix}/webhook-secret"),
            private_key_secret_name: format!("{secret_prefix}/private-key"),
            label: env.label(),
            mention: env.mention(),
            assignee: assignee(&env)?,
        }))
    }

    /// The App's own secrets: nothing works without them.
    pub fn app_secrets(&self) -> [&str; 2] {
        [&self.webhook_secret_name, &self.private_key_secret_name]
    }

    /// The login the App comments as.
    pub fn bot_login(&self) -> String {
        format!("{}[bot]", self.app_slug)
    }
}

/// `GITHUB_ASSIGNEE`: a GitHub login (letters, digits and single inner hyphens, at most 39), `@` optional.
fn assignee(env: &ProviderEnv<'_>) -> Result<Option<String>, ConfigError> {
    let Some(raw) = env.get("ASSIGNEE").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let login = raw.trim_start_matches('@');
    let valid = !login.is_empty()
        && login.len() <= 39
        && !login.starts_with('-')
        && !login.ends_with('-')
        && !login.contains("--")
        && login.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid {
        return Err(env.invalid("ASSIGNEE", "must be a GitHub user's login"));
    }
    Ok(Some(login.to_owned()))
}
