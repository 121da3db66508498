//! GitHub settings, in the grammar every provider shares ([`ProviderEnv`]):
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `GITHUB_TENANTS` | unset (GitHub off unless an App is registered) | the one GitHub host the App lives on: `github.com` or a GHES host |
//! | `GITHUB_APP_ID` | the registered App's | JWT issuer: the App's client id (recommended) or numeric id |
//! | `GITHUB_APP_SLUG` | the registered App's | the App's slug; comments by `<slug>[bot]` are its own |
//! | `GITHUB_API_URL` | `https://api.github.com` | REST base URL (GHES: `https://<host>/api/v3`) |
//! | `GITHUB_WEB_URL` | `https://<tenant>` | where people register and install the App (the console's setup) |
//! | `GITHUB_LABEL`, `GITHUB_MENTION` | `HOOKLINE_LABEL`, `HOOKLINE_MENTION` | the label and the handle that trigger |
//! | `GITHUB_ASSIGNEE` | unset (off) | a machine user's login: assigning an issue or pull request to it triggers |
//! | `GITHUB_SECRET_PREFIX` | `github` | the App's secrets are `<prefix>/webhook-secret` and `<prefix>/private-key` |
//!
//! GitHub is on when `GITHUB_TENANTS` is set with `GITHUB_APP_ID` and `GITHUB_APP_SLUG`, or when an App
//! registered from the console's setup page is stored (`<prefix>/app`, with its other secrets); the App's id
//! and slug then come from there, and the tenant is `github.com` unless `GITHUB_TENANTS` names one.

use serde::{Deserialize, Serialize};

use crate::{
    config::{ConfigError, Lookup, ProviderEnv},
    domain::Provider,
    error::PortError,
    ports::Secrets,
    sign_in::OAuthApp,
};

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
    /// Load from the environment; `None` when `GITHUB_TENANTS` is unset, or set without `GITHUB_APP_ID` and
    /// `GITHUB_APP_SLUG` (the App then comes from a stored registration, [`GithubSetup`]).
    pub fn load(env: &Lookup<'_>) -> Result<Option<Self>, ConfigError> {
        let github = ProviderEnv::new(env, "GITHUB");
        if github.get("TENANTS").is_none()
            || (github.get("APP_ID").is_none() && github.get("APP_SLUG").is_none())
        {
            return Ok(None);
        }
        let setup = GithubSetup::load(env)?;
        Ok(Some(setup.with_app(
            &github.require("APP_ID")?,
            &github.require("APP_SLUG")?,
        )))
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

/// GitHub's settings before its App is known, read whether or not GitHub is on: everything but the App's id and
/// slug, where people register the App, and where its secrets go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GithubSetup {
    /// The settings an App joins; `app_id` and `app_slug` are empty.
    without_app: GithubConfig,
    /// GitHub's web UI (`https://github.com`, `https://<GHES host>`, a local fake in tests).
    pub web_url: String,
    /// Where a registered App is stored (`<prefix>/app`, [`AppRegistration`] as JSON).
    pub registration_secret_name: String,
    /// The App's OAuth client secret (`<prefix>/client-secret`), for signing people in.
    pub client_secret_name: String,
    /// `GITHUB_TENANTS` is set: GitHub is meant to be on, with an App from the environment or registered.
    pub tenants_set: bool,
}

impl GithubSetup {
    pub fn load(env: &Lookup<'_>) -> Result<Self, ConfigError> {
        let github = ProviderEnv::new(env, "GITHUB");
        let tenant = match github.get("TENANTS") {
            None => "github.com".to_owned(),
            Some(_) => match github.tenants()?.as_deref() {
                Some([tenant]) => tenant.to_ascii_lowercase(),
                _ => {
                    return Err(github.invalid("TENANTS", "one GitHub App serves one host: list exactly one"))
                }
            },
        };
        let secret_prefix = github.secret_prefix()?;
        let web_url = github.url("WEB_URL", &format!("https://{tenant}"))?;
        Ok(Self {
            without_app: GithubConfig {
                api_url: github.url("API_URL", "https://api.github.com")?,
                tenant,
                app_id: String::new(),
                app_slug: String::new(),
                webhook_secret_name: format!("{secret_prefix}/webhook-secret"),
                private_key_secret_name: format!("{secret_prefix}/private-key"),
                label: github.label(),
                mention: github.mention(),
                assignee: assignee(&github)?,
            },
            web_url,
            registration_secret_name: format!("{secret_prefix}/app"),
            client_secret_name: format!("{secret_prefix}/client-secret"),
            tenants_set: github.get("TENANTS").is_some(),
        })
    }

    /// GitHub's settings with the App `app_id` (JWT issuer) and `app_slug`.
    pub fn with_app(&self, app_id: &str, app_slug: &str) -> GithubConfig {
        GithubConfig {
            app_id: app_id.to_owned(),
            app_slug: app_slug.to_owned(),
            ..self.without_app.clone()
        }
    }

    /// The App registered in `secrets`, if one is; `fresh`: read past a store's cache (just after a
    /// registration). A malformed registration is an error naming its secret.
    pub async fn registration(
        &self,
        secrets: &dyn Secrets,
        fresh: bool,
    ) -> Result<Option<AppRegistration>, PortError> {
        let name = &self.registration_secret_name;
        let reread = match fresh {
            true => secrets.reread(name).await.transpose(),
            false => None,
        };
        let stored = match reread {
            Some(reread) => reread,
            None => secrets.get(name).await,
        };
        let stored = match stored {
            Ok(stored) => stored,
            Err(PortError::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        serde_json::from_str(stored.expose())
            .map(Some)
            .map_err(|_| PortError::permanent("secrets", format!("{name} is not a GitHub App registration")))
    }

    /// GitHub's settings with a registered App (its client id is the JWT issuer, as GitHub recommends).
    pub fn with_registration(&self, app: &AppRegistration) -> GithubConfig {
        self.with_app(&app.client_id, &app.slug)
    }

    /// The App as an OAuth application with `client_id` (GitHub's user authorization; no scope needed to read
    /// the account).
    pub fn sign_in(&self, client_id: &str) -> OAuthApp {
        let web = self.web_url.trim_end_matches('/');
        OAuthApp {
            provider: Provider::Github,
            tenant: self.without_app.tenant.clone(),
            authorize_url: format!("{web}/login/oauth/authorize"),
            token_url: format!("{web}/login/oauth/access_token"),
            user_url: format!("{}/user", self.api_url().trim_end_matches('/')),
            client_id: client_id.to_owned(),
            client_secret_name: self.client_secret_name.clone(),
            scope: None,
            authorize_params: "",
            token_json: false,
            user_query: None,
            id_field: "/id",
            login_field: "/login",
            tenant_field: None,
        }
    }

    /// GitHub's REST base URL.
    pub fn api_url(&self) -> &str {
        &self.without_app.api_url
    }

    /// The App's webhook secret and private key.
    pub fn app_secrets(&self) -> [&str; 2] {
        self.without_app.app_secrets()
    }
}

/// A GitHub App registered from a manifest: what GitHub said about it, kept (as JSON) next to its secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRegistration {
    pub id: u64,
    pub client_id: String,
    pub slug: String,
    pub name: String,
    /// The account that owns it (a user or an organization login).
    pub owner: String,
    /// Its page on GitHub; `/installations/new` under it installs it.
    pub html_url: String,
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
