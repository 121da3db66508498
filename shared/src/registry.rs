//! The provider registry: the one place that lists the providers. Each provider loads its own settings from the
//! configuration (`<provider>::config`); its webhook side is a [`WebhookSide`] over those settings (verified in
//! `<provider>::verify`), and it builds its own worker side (`<provider>::module`, with whatever else it needs,
//! such as Jira's issue reader); everything generic (the
//! configuration, the wiring, the Lambda glue, the local host) goes through this module and names no provider.
//!
//! Building the webhook sides never touches a provider's API client, so a webhook function does not link one.

use std::sync::{Arc, PoisonError, RwLock};

use crate::{
    config::{ConfigError, Lookup},
    domain::Provider,
    error::PortError,
    github, gitlab, jira, linear,
    ports::Secrets,
    provider::{ProviderIntake, ProviderModule, WebhookSide, Wiring},
    slack,
};

/// Every configured provider's settings, loaded once at start.
#[derive(Clone, Debug, Default)]
pub struct ProviderConfigs {
    github: Option<github::GithubConfig>,
    gitlab: Option<gitlab::GitlabConfig>,
    slack: Option<slack::SlackConfig>,
    jira: Option<jira::JiraConfig>,
    linear: Option<linear::LinearConfig>,
    /// GitHub's settings before its App is known (loaded whenever GitHub is wanted), for the console's App setup
    /// and for an App stored by it.
    github_setup: Option<github::GithubSetup>,
}

impl ProviderConfigs {
    /// Load every provider's settings, or with `only` just that one's (a webhook function, which must not fail
    /// over another provider's settings). A provider whose `<P>_TENANTS` is unset is off.
    pub fn load(env: &Lookup<'_>, only: Option<Provider>) -> Result<Self, ConfigError> {
        let wanted = |provider: Provider| only.is_none_or(|only| only == provider);
        let mut configs = Self::default();
        if wanted(Provider::Github) {
            configs.github = github::GithubConfig::load(env)?;
            configs.github_setup = Some(github::GithubSetup::load(env)?);
        }
        if wanted(Provider::Gitlab) {
            configs.gitlab = gitlab::GitlabConfig::load(env)?;
        }
        if wanted(Provider::Slack) {
            configs.slack = slack::SlackConfig::load(env)?;
        }
        if wanted(Provider::Jira) {
            configs.jira = jira::JiraConfig::load(env)?;
        }
        if wanted(Provider::Linear) {
            configs.linear = linear::LinearConfig::load(env)?;
        }
        Ok(configs)
    }

    /// Turn on the providers whose app is registered in the secret store rather than configured (a GitHub App
    /// set up from the console), as a host does at start and, `fresh` (past a secret store's cache), after a
    /// registration. A malformed registration is an error naming its secret.
    pub async fn add_registered_apps(&mut self, secrets: &dyn Secrets, fresh: bool) -> Result<(), PortError> {
        let (None, Some(setup)) = (&self.github, &self.github_setup) else {
            return Ok(());
        };
        let Some(app) = setup.registration(secrets, fresh).await? else {
            return Ok(());
        };
        self.github = Some(setup.with_registration(&app));
        Ok(())
    }

    /// The GitHub App's id and slug, when GitHub is on.
    pub fn github_app(&self) -> Option<(&str, &str)> {
        self.github
            .as_ref()
            .map(|c| (c.app_id.as_str(), c.app_slug.as_str()))
    }

    /// The providers whose people can sign in on the console to link themselves (GitHub through its App,
    /// the others through their OAuth apps), each with the client secret its sign-in needs.
    pub fn sign_ins(&self) -> Vec<(Provider, String)> {
        let mut sign_ins: Vec<(Provider, String)> = self
            .github_setup
            .iter()
            .map(|setup| (Provider::Github, setup.client_secret_name.clone()))
            .collect();
        for app in self.oauth_apps() {
            if !sign_ins.iter().any(|(provider, _)| *provider == app.provider) {
                sign_ins.push((app.provider, app.client_secret_name));
            }
        }
        sign_ins
    }

    /// The OAuth applications people sign in with, besides the GitHub App (whose client id its registration
    /// gives).
    pub fn oauth_apps(&self) -> Vec<crate::sign_in::OAuthApp> {
        let gitlab = self
            .gitlab
            .iter()
            .flat_map(|gitlab| gitlab.tenants.iter().filter_map(|tenant| tenant.sign_in()));
        let slack = self.slack.iter().flat_map(|slack| slack.sign_ins());
        let jira = self.jira.iter().flat_map(|jira| jira.sign_ins());
        let linear = self.linear.iter().flat_map(|linear| linear.sign_ins());
        gitlab.chain(slack).chain(jira).chain(linear).collect()
    }

    /// Whether a provider is meant to be on but waits for its app to be registered (`GITHUB_TENANTS` set
    /// without `GITHUB_APP_ID`, and no App stored yet).
    pub fn awaits_registration(&self) -> bool {
        self.github.is_none() && self.github_setup.as_ref().is_some_and(|setup| setup.tenants_set)
    }

    /// GitHub's settings before its App is known, when GitHub was wanted.
    pub fn github_setup(&self) -> Option<&github::GithubSetup> {
        self.github_setup.as_ref()
    }

    /// The providers that are on, in a fixed order.
    pub fn configured(&self) -> Vec<Provider> {
        [
            self.github.as_ref().map(|_| Provider::Github),
            self.gitlab.as_ref().map(|_| Provider::Gitlab),
            self.slack.as_ref().map(|_| Provider::Slack),
            self.jira.as_ref().map(|_| Provider::Jira),
            self.linear.as_ref().map(|_| Provider::Linear),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.configured().is_empty()
    }

    /// The tenants of `provider`, as its webhook URLs name them (empty when it is off).
    pub fn tenants(&self, provider: Provider) -> Vec<String> {
        match provider {
            Provider::Github => self.github.iter().map(|c| c.tenant.clone()).collect(),
            Provider::Gitlab => self.gitlab.iter().flat_map(|c| c.tenant_names()).collect(),
            Provider::Slack => self.slack.iter().flat_map(|c| c.tenant_names()).collect(),
            Provider::Jira => self.jira.iter().flat_map(|c| c.tenant_names()).collect(),
            Provider::Linear => self.linear.iter().flat_map(|c| c.tenant_names()).collect(),
        }
    }

    /// Secrets without which a provider cannot serve anyone, so a host fails at start rather than at the first
    /// webhook: an app's own secrets (GitHub's App). A tenant's secrets are not among them: a missing one only
    /// stops that tenant, and its webhooks are answered 503 naming it.
    pub fn secrets_needed_at_start(&self) -> Vec<(Provider, String)> {
        let mut needed = Vec::new();
        if let Some(config) = &self.github {
            needed.extend(
                config
                    .app_secrets()
                    .map(|name| (Provider::Github, name.to_owned())),
            );
        }
        needed
    }

    /// Each configured provider's webhook side.
    pub fn intakes(&self, secrets: &Arc<dyn Secrets>) -> Vec<Arc<dyn ProviderIntake>> {
        let mut intakes: Vec<Arc<dyn ProviderIntake>> = Vec::new();
        if let Some(config) = &self.github {
            intakes.push(Arc::new(WebhookSide::new(config.clone(), secrets.clone())));
        }
        if let Some(config) = &self.gitlab {
            intakes.push(Arc::new(WebhookSide::new(config.clone(), secrets.clone())));
        }
        if let Some(config) = &self.slack {
            intakes.push(Arc::new(WebhookSide::new(config.clone(), secrets.clone())));
        }
        if let Some(config) = &self.jira {
            intakes.push(Arc::new(WebhookSide::new(config.clone(), secrets.clone())));
        }
        if let Some(config) = &self.linear {
            intakes.push(Arc::new(WebhookSide::new(config.clone(), secrets.clone())));
        }
        intakes
    }

    /// Each configured provider's worker side, with its API client.
    pub fn modules(&self, wiring: &Wiring) -> Vec<Arc<dyn ProviderModule>> {
        let mut modules: Vec<Arc<dyn ProviderModule>> = Vec::new();
        if let Some(config) = &self.github {
            modules.push(github::module(config, wiring));
        }
        if let Some(config) = &self.gitlab {
            modules.push(gitlab::module(config, wiring));
        }
        if let Some(config) = &self.slack {
            modules.push(slack::module(config, wiring));
        }
        if let Some(config) = &self.jira {
            modules.push(jira::module(config, wiring));
        }
        if let Some(config) = &self.linear {
            modules.push(linear::module(config, wiring));
        }
        modules
    }
}

/// The providers a process serves, shared by every clone of its services and replaceable while it runs: a GitHub
/// App registered from the console joins them without a restart. Reading is a lock held for an `Arc` clone.
pub struct LiveSet<T: ?Sized>(Arc<RwLock<Arc<[Arc<T>]>>>);

impl<T: ?Sized> Clone for LiveSet<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: ?Sized> Default for LiveSet<T> {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl<T: ?Sized> From<Vec<Arc<T>>> for LiveSet<T> {
    fn from(items: Vec<Arc<T>>) -> Self {
        Self::new(items)
    }
}

impl<T: ?Sized> LiveSet<T> {
    pub fn new(items: Vec<Arc<T>>) -> Self {
        Self(Arc::new(RwLock::new(items.into())))
    }

    /// The current members.
    pub fn all(&self) -> Arc<[Arc<T>]> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replace the members for every holder at once.
    pub fn replace(&self, items: Vec<Arc<T>>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = items.into();
    }
}

/// What a [`LiveSet`] holds: one provider's side.
pub trait OfProvider {
    fn of_provider(&self) -> Provider;
}

impl OfProvider for dyn ProviderIntake {
    fn of_provider(&self) -> Provider {
        self.provider()
    }
}

impl OfProvider for dyn ProviderModule {
    fn of_provider(&self) -> Provider {
        self.provider()
    }
}

impl<T: ?Sized + OfProvider> LiveSet<T> {
    /// `provider`'s side, if it is on.
    pub fn get(&self, provider: Provider) -> Option<Arc<T>> {
        self.all()
            .iter()
            .find(|side| side.of_provider() == provider)
            .cloned()
    }

    /// `provider`'s side, asking `switch` (when there is one) whether it joined since, when it is off.
    pub async fn get_or_reload(
        &self,
        provider: Provider,
        switch: Option<&dyn ProviderSwitch>,
    ) -> Option<Arc<T>> {
        if let Some(side) = self.get(provider) {
            return Some(side);
        }
        match switch {
            Some(switch) if switch.reload_on_miss(provider).await => self.get(provider),
            _ => None,
        }
    }
}

/// Turning on what was registered while the process runs (a GitHub App set up from the console).
#[async_trait::async_trait]
pub trait ProviderSwitch: Send + Sync {
    /// Load the registered apps and serve their providers from now on; returns the providers then on.
    async fn reload(&self) -> Result<Vec<Provider>, PortError>;

    /// A request named `provider`, which is off here: reload (not more often than the secret store answers
    /// anew) in case its app was registered since; whether it is on now.
    async fn reload_on_miss(&self, _provider: Provider) -> bool {
        false
    }
}
