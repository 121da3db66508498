//! Building [`Services`] from a [`Config`] and a set of storage adapters: the one composition step shared by
//! the local host and every Lambda function.

use std::sync::Arc;

use crate::{
    clock::Clock,
    config::Config,
    github::{client::GithubClient, GithubConfig, GithubModule},
    gitlab::{GitlabClient, GitlabConfig, GitlabModule},
    handlers::Services,
    jira::{
        client::{IssueReader, JiraClient},
        JiraConfig, JiraModule,
    },
    linear::{client::LinearClient, LinearConfig, LinearModule},
    openhands::OpenHandsClient,
    ports::{DeliveryStore, IdentityStore, Inbox, RunStore, Secrets, SourceClient},
    provider::ProviderModule,
    slack::{client::SlackClient, SlackConfig, SlackModule},
};

/// The storage side of a deployment (AWS or embedded).
pub struct Adapters {
    pub deliveries: Arc<dyn DeliveryStore>,
    pub runs: Arc<dyn RunStore>,
    pub identities: Arc<dyn IdentityStore>,
    pub inbox: Arc<dyn Inbox>,
    pub secrets: Arc<dyn Secrets>,
    pub clock: Arc<dyn Clock>,
}

/// One HTTP client for every outbound API: rustls, pooled, with sane timeouts.
pub fn http_client(config: &Config) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(concat!("hookline/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(config.openhands.request_timeout)
        .build()
}

/// Builds each provider's API client. The worker and callback use [`HttpApiClients`]; a webhook function, which
/// only verifies and enqueues, passes one that builds none, and since [`provider_modules`] is generic over this
/// trait, the HTTP clients are not even linked into that binary.
pub trait ApiClients {
    fn github(&self, config: &GithubConfig) -> Arc<dyn SourceClient>;
    fn gitlab(&self, config: &GitlabConfig) -> Arc<dyn SourceClient>;
    fn slack(&self, config: &SlackConfig) -> Arc<dyn SourceClient>;
    /// Jira's client, and what reads an issue's description before deciding (`None`: go without it).
    fn jira(&self, config: &JiraConfig) -> (Arc<dyn SourceClient>, Option<Arc<dyn IssueReader>>);
    fn linear(&self, config: &LinearConfig) -> Arc<dyn SourceClient>;
}

/// The real API clients over one HTTP client.
pub struct HttpApiClients {
    pub http: reqwest::Client,
    pub secrets: Arc<dyn Secrets>,
    pub clock: Arc<dyn Clock>,
}

impl ApiClients for HttpApiClients {
    fn github(&self, config: &GithubConfig) -> Arc<dyn SourceClient> {
        Arc::new(GithubClient::new(
            self.http.clone(),
            config.clone(),
            self.secrets.clone(),
            self.clock.clone(),
        ))
    }
    fn gitlab(&self, config: &GitlabConfig) -> Arc<dyn SourceClient> {
        Arc::new(GitlabClient::new(
            self.http.clone(),
            config.clone(),
            self.secrets.clone(),
            self.clock.clone(),
        ))
    }
    fn slack(&self, config: &SlackConfig) -> Arc<dyn SourceClient> {
        Arc::new(SlackClient::new(
            self.http.clone(),
            config.clone(),
            self.secrets.clone(),
        ))
    }
    fn jira(&self, config: &JiraConfig) -> (Arc<dyn SourceClient>, Option<Arc<dyn IssueReader>>) {
        let client = Arc::new(JiraClient::new(
            self.http.clone(),
            config.clone(),
            self.secrets.clone(),
        ));
        (client.clone(), Some(client))
    }
    fn linear(&self, config: &LinearConfig) -> Arc<dyn SourceClient> {
        Arc::new(LinearClient::new(
            self.http.clone(),
            config.clone(),
            self.secrets.clone(),
            self.clock.clone(),
        ))
    }
}

/// One module per configured provider, in a fixed order.
pub fn provider_modules<C: ApiClients>(
    config: &Config,
    secrets: &Arc<dyn Secrets>,
    clients: &C,
) -> Vec<Arc<dyn ProviderModule>> {
    let help = || config.link_help.clone();
    let mut providers: Vec<Arc<dyn ProviderModule>> = Vec::new();
    if let Some(c) = &config.github {
        providers.push(Arc::new(GithubModule::new(
            c.clone(),
            secrets.clone(),
            clients.github(c),
            help(),
        )));
    }
    if let Some(c) = &config.gitlab {
        providers.push(Arc::new(GitlabModule::new(
            c.clone(),
            secrets.clone(),
            clients.gitlab(c),
            help(),
        )));
    }
    if let Some(c) = &config.slack {
        providers.push(Arc::new(SlackModule::new(
            c.clone(),
            secrets.clone(),
            clients.slack(c),
            help(),
        )));
    }
    if let Some(c) = &config.jira {
        let (client, reader) = clients.jira(c);
        providers.push(Arc::new(JiraModule::new(
            c.clone(),
            secrets.clone(),
            client,
            reader,
            help(),
        )));
    }
    if let Some(c) = &config.linear {
        providers.push(Arc::new(LinearModule::new(
            c.clone(),
            secrets.clone(),
            clients.linear(c),
            help(),
        )));
    }
    providers
}

/// Wire the provider modules and the OpenHands client over `adapters`.
pub fn services(config: &Config, adapters: Adapters, http: reqwest::Client) -> Services {
    let clients = HttpApiClients {
        http: http.clone(),
        secrets: adapters.secrets.clone(),
        clock: adapters.clock.clone(),
    };
    let providers = provider_modules(config, &adapters.secrets, &clients);
    Services {
        deliveries: adapters.deliveries,
        runs: adapters.runs,
        identities: adapters.identities,
        inbox: adapters.inbox,
        secrets: adapters.secrets,
        conversations: Arc::new(OpenHandsClient::new(http, config.openhands.clone())),
        providers,
        clock: adapters.clock,
        settings: config.settings.clone(),
        lookups: Default::default(),
    }
}
