//! Registering Hookline's GitHub App from a manifest (GitHub's "registering a GitHub App from a manifest"): the
//! setup page posts a manifest (webhook URL, permissions, events) to GitHub with a `state` only the operator's
//! session can bring back; GitHub sends the browser back with a code valid for an hour, which is exchanged
//! (`POST /app-manifests/{code}/conversions`, no credentials) for the App's id, slug and secrets. They go to
//! the secret store, and the host turns GitHub on ([`ProviderSwitch`]).
//!
//! Who could abuse it: a forged return (someone's own App code, to make Hookline trust their webhook secret) is
//! refused because its `state` is not this session's; a second registration is refused while an App is
//! configured; everything here needs an operator session.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use crate::{
    error::PortError,
    github::{AppRegistration, GithubSetup},
    outbound::{self, Call},
    ports::{SecretWriter, Secrets},
    registry::{ProviderConfigs, ProviderSwitch},
    secret::SecretString,
};

/// The events the App subscribes to and the permissions its calls need (README, "Providers").
const EVENTS: &[&str] = &[
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
];

/// How long a setup's `state` (and GitHub's code) is good for.
pub const STATE_TTL_SECS: u64 = 3600;

/// What the setup needs besides the console's own services.
#[derive(Clone)]
pub struct AppSetup {
    pub github: GithubSetup,
    pub writer: Arc<dyn SecretWriter>,
    pub http: reqwest::Client,
    pub switch: Arc<dyn ProviderSwitch>,
    /// The App when `GITHUB_APP_ID` and `GITHUB_APP_SLUG` configure it (no setup then).
    pub configured: Option<ConfiguredApp>,
}

/// An App the environment configures.
#[derive(Clone, Debug)]
pub struct ConfiguredApp {
    /// `GITHUB_APP_ID`: its client id or numeric id.
    pub app_id: String,
    pub slug: String,
}

impl ConfiguredApp {
    /// The App `providers` configure, before any registered one joins.
    pub fn of(providers: &ProviderConfigs) -> Option<Self> {
        providers.github_app().map(|(app_id, slug)| Self {
            app_id: app_id.to_owned(),
            slug: slug.to_owned(),
        })
    }
}

/// Where GitHub stands for the setup page.
pub enum AppState {
    /// No App: offer to create one.
    None,
    /// Configured by the environment.
    Configured { app_id: String, slug: String },
    /// Registered from this console.
    Registered(AppRegistration),
}

/// What GitHub handed back for a code: the App and its three secrets.
#[derive(Deserialize)]
struct Conversion {
    id: u64,
    slug: String,
    name: String,
    client_id: String,
    client_secret: String,
    webhook_secret: Option<String>,
    pem: String,
    html_url: String,
    owner: Owner,
}

#[derive(Deserialize)]
struct Owner {
    login: String,
}

/// Why a code was not turned into an App.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// GitHub refused the code: used already, over an hour old, or not one of its codes.
    #[error("GitHub did not accept this code")]
    CodeRefused,
    /// An App is configured already.
    #[error("an App is configured")]
    AlreadyConfigured,
    #[error(transparent)]
    Store(#[from] PortError),
}

impl AppSetup {
    /// The App as the configuration and the secret store have it.
    pub async fn state(&self, secrets: &dyn Secrets) -> Result<AppState, PortError> {
        if let Some(app) = &self.configured {
            return Ok(AppState::Configured {
                app_id: app.app_id.clone(),
                slug: app.slug.clone(),
            });
        }
        Ok(match self.github.registration(secrets, false).await? {
            Some(app) => AppState::Registered(app),
            None => AppState::None,
        })
    }

    /// The manifest GitHub registers the App from.
    pub fn manifest(&self, public_base: &str, console_base_url: &str) -> String {
        json!({
            "name": "Hookline",
            "url": public_base,
            "description": "Starts OpenHands conversations from issues and pull requests.",
            "hook_attributes": { "url": format!("{public_base}/webhooks/github"), "active": true },
            "redirect_url": format!("{console_base_url}/setup/github/done"),
            // People sign in with the App to link themselves.
            "callback_urls": [format!("{console_base_url}/link/github/callback")],
            "public": false,
            "default_permissions": { "issues": "write", "pull_requests": "write", "metadata": "read" },
            "default_events": EVENTS,
        })
        .to_string()
    }

    /// Where the manifest is posted: the person's own account, or `organization`'s.
    pub fn creation_url(&self, organization: Option<&str>, state: &str) -> String {
        let web = self.github.web_url.trim_end_matches('/');
        match organization {
            None => format!("{web}/settings/apps/new?state={state}"),
            Some(org) => format!("{web}/organizations/{org}/settings/apps/new?state={state}"),
        }
    }

    /// GitHub's web origin (`https://github.com`), which the setup page's form may post to.
    pub fn web_origin(&self) -> String {
        origin_of(&self.github.web_url)
    }

    /// Exchange `code` for the App, store its secrets (the registration last, so a half-written one never turns
    /// GitHub on), and turn GitHub on.
    pub async fn complete(&self, secrets: &dyn Secrets, code: &str) -> Result<AppRegistration, SetupError> {
        if !matches!(self.state(secrets).await?, AppState::None) {
            return Err(SetupError::AlreadyConfigured);
        }
        if code.is_empty()
            || code.len() > 100
            || !code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(SetupError::CodeRefused);
        }
        let url = format!(
            "{}/app-manifests/{code}/conversions",
            self.github.api_url().trim_end_matches('/')
        );
        let call = Call::new("GitHub API (app manifest conversion)");
        let request = self
            .http
            .post(&url)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28");
        let answer = outbound::send(&call, request).await?;
        if matches!(answer.status, 404 | 410 | 422) {
            return Err(SetupError::CodeRefused);
        }
        if !answer.is_success() {
            let status = answer.status;
            return Err(PortError::transient(call.what(), format!("answered {status}")).into());
        }
        let app: Conversion = outbound::parse_json(call.what(), &answer.body)?;
        let webhook_secret = app
            .webhook_secret
            .filter(|s| !s.is_empty())
            .ok_or_else(|| PortError::permanent("GitHub", "the App came without a webhook secret"))?;
        if !(app.html_url.starts_with("https://") || app.html_url.starts_with("http://")) {
            return Err(PortError::permanent("GitHub", "the App's page is not a web address").into());
        }
        let registration = AppRegistration {
            id: app.id,
            client_id: app.client_id,
            slug: app.slug,
            name: app.name,
            owner: app.owner.login,
            html_url: app.html_url,
        };
        let [webhook_secret_name, private_key_name] = self.github.app_secrets();
        let entries = [
            (webhook_secret_name.to_owned(), SecretString::new(webhook_secret)),
            (private_key_name.to_owned(), SecretString::new(app.pem)),
            (
                self.github.client_secret_name.clone(),
                SecretString::new(app.client_secret),
            ),
            (
                self.github.registration_secret_name.clone(),
                SecretString::new(serde_json::to_string(&registration).expect("a registration serializes")),
            ),
        ];
        self.writer.put_secrets(&entries).await?;
        tracing::info!(app = %registration.slug, owner = %registration.owner, "GitHub App registered from the console");
        self.switch.reload().await?;
        Ok(registration)
    }
}

/// `scheme://host[:port]` of `url`.
fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or_default()),
        None => url.to_owned(),
    }
}

/// Whether `name` can be a GitHub organization's login (letters, digits, inner single hyphens, at most 39).
pub fn valid_organization(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 39
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
