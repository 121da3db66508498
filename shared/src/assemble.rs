//! Building [`Services`] from a [`Config`] and a set of storage adapters: the one composition step shared by
//! the local host and every Lambda function.

use std::sync::Arc;

use crate::{
    clock::Clock,
    config::Config,
    github::{client::GithubClient, GithubModule},
    handlers::Services,
    openhands::OpenHandsClient,
    ports::{DeliveryStore, IdentityStore, Inbox, RunStore, Secrets},
    provider::ProviderModule,
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

/// Wire the provider modules and the OpenHands client over `adapters`.
pub fn services(config: &Config, adapters: Adapters, http: reqwest::Client) -> Services {
    let mut providers: Vec<Arc<dyn ProviderModule>> = Vec::new();
    if let Some(github) = &config.github {
        let client = GithubClient::new(
            http.clone(),
            github.clone(),
            adapters.secrets.clone(),
            adapters.clock.clone(),
        );
        providers.push(Arc::new(GithubModule::new(
            github.clone(),
            adapters.secrets.clone(),
            Arc::new(client),
            config.link_help.clone(),
        )));
    }
    // Each further provider adds its module here when configured (one block per provider, in this order).
    // provider: gitlab
    if let Some(gitlab) = &config.gitlab {
        let client = crate::gitlab::GitlabClient::new(
            http.clone(),
            gitlab.clone(),
            adapters.secrets.clone(),
            adapters.clock.clone(),
        );
        providers.push(Arc::new(crate::gitlab::GitlabModule::new(
            gitlab.clone(),
            adapters.secrets.clone(),
            Arc::new(client),
            config.link_help.clone(),
        )));
    }
    // provider: slack
    if let Some(slack) = &config.slack {
        let client =
            crate::slack::client::SlackClient::new(http.clone(), slack.clone(), adapters.secrets.clone());
        providers.push(Arc::new(crate::slack::SlackModule::new(
            slack.clone(),
            adapters.secrets.clone(),
            Arc::new(client),
            config.link_help.clone(),
        )));
    }
    // provider: jira
    if let Some(jira) = &config.jira {
        let client = Arc::new(crate::jira::client::JiraClient::new(
            http.clone(),
            jira.clone(),
            adapters.secrets.clone(),
        ));
        providers.push(Arc::new(crate::jira::JiraModule::new(
            jira.clone(),
            adapters.secrets.clone(),
            client.clone(),
            Some(client),
            config.link_help.clone(),
        )));
    }
    // provider: linear
    if let Some(linear) = &config.linear {
        let client = crate::linear::client::LinearClient::new(
            http.clone(),
            linear.clone(),
            adapters.secrets.clone(),
            adapters.clock.clone(),
        );
        providers.push(Arc::new(crate::linear::LinearModule::new(
            linear.clone(),
            adapters.secrets.clone(),
            Arc::new(client),
            config.link_help.clone(),
        )));
    }
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
    }
}
