//! What a function is built from at cold start: its AWS resources ([`AwsConfig`]) and its services, each
//! with only what its handlers use.

use std::{sync::Arc, time::Duration};

use aws_config::SdkConfig;

use crate::{
    assemble::{self, Adapters},
    aws::{DynamoStore, SecretsManagerSecrets, SqsQueue},
    clock::SystemClock,
    config::{Config, ConfigError},
    handlers::{IntakeServices, Services, WorkerServices},
    ports::{ClaimThenSend, Secrets},
};

/// Default lifetime of a cached secret (`HOOKLINE_SECRETS_TTL_SECS`).
const DEFAULT_SECRETS_TTL_SECS: u64 = 300;

/// The AWS resources a function uses, from its environment (the names come from the SAM template).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsConfig {
    /// DynamoDB table of the [`DynamoStore`] (`HOOKLINE_TABLE`, required).
    pub table: String,
    /// URL of the SQS FIFO work queue (`HOOKLINE_QUEUE_URL`); only webhook functions send, so only they
    /// require it (see [`AwsConfig::queue_url`]).
    pub queue_url: Option<String>,
    /// How long a secret read from Secrets Manager is served from memory (`HOOKLINE_SECRETS_TTL_SECS`,
    /// default 300), so a rotation takes effect within this bound without a redeploy.
    pub secrets_ttl: Duration,
}

impl AwsConfig {
    /// Load from the process environment; blank values count as missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Load from any lookup (tests pass a map); blank values count as missing.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let table = get("HOOKLINE_TABLE").ok_or_else(|| ConfigError::missing("HOOKLINE_TABLE"))?;
        let secrets_ttl = match get("HOOKLINE_SECRETS_TTL_SECS") {
            None => DEFAULT_SECRETS_TTL_SECS,
            Some(raw) => raw.parse().map_err(|err: std::num::ParseIntError| {
                ConfigError::invalid("HOOKLINE_SECRETS_TTL_SECS", err.to_string())
            })?,
        };
        Ok(Self {
            table,
            queue_url: get("HOOKLINE_QUEUE_URL"),
            secrets_ttl: Duration::from_secs(secrets_ttl),
        })
    }

    /// The work queue's URL, or the error naming the setting a webhook function is missing.
    pub fn queue_url(&self) -> Result<&str, ConfigError> {
        self.queue_url
            .as_deref()
            .ok_or_else(|| ConfigError::missing("HOOKLINE_QUEUE_URL"))
    }
}

/// Why a function could not be wired at cold start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A setting is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The outbound HTTP client (provider APIs, OpenHands) could not be built.
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// No provider is configured.
    #[error("no provider is configured: set <PROVIDER>_TENANTS (e.g. GITHUB_TENANTS) and its settings")]
    NoProvider,
}

/// Services for a provider's webhook function: verify, dedupe, enqueue. Only the inbox (a DynamoDB claim, then
/// an SQS send), the secrets and the provider's webhook side are built; no provider API or OpenHands client is,
/// which keeps them out of the webhook binary (smaller package, faster cold start). The function is configured
/// with its own provider's settings only ([`Config::from_env_for`]).
///
/// Fails, naming the setting, without `HOOKLINE_QUEUE_URL`, or when no provider is configured.
pub fn webhook_services(
    config: &Config,
    aws: &AwsConfig,
    sdk: &SdkConfig,
) -> Result<IntakeServices, SetupError> {
    let queue_url = aws.queue_url()?;
    if config.providers.is_empty() {
        // A webhook function without its provider would answer 404 to every delivery.
        return Err(SetupError::NoProvider);
    }
    let store = Arc::new(DynamoStore::from_conf(sdk, &aws.table));
    let secrets: Arc<dyn Secrets> = Arc::new(secrets(aws, sdk));
    let inbox = Arc::new(ClaimThenSend {
        deliveries: store,
        queue: Arc::new(SqsQueue::from_conf(sdk, queue_url)),
    });
    Ok(assemble::intake_services(
        config,
        inbox,
        &secrets,
        Arc::new(SystemClock),
    ))
}

/// Services for the worker function: every store on DynamoDB, secrets from Secrets Manager, the providers'
/// worker sides and the OpenHands client. It never enqueues, so `HOOKLINE_QUEUE_URL` is not needed.
///
/// Fails when no provider is configured (every envelope would be dropped, every run left unreported).
pub fn worker_services(
    config: &Config,
    aws: &AwsConfig,
    sdk: &SdkConfig,
) -> Result<WorkerServices, SetupError> {
    if config.providers.is_empty() {
        return Err(SetupError::NoProvider);
    }
    let store = Arc::new(DynamoStore::from_conf(sdk, &aws.table));
    let adapters = Adapters {
        deliveries: store.clone(),
        runs: store.clone(),
        identities: store.clone(),
        decisions: store,
        secrets: Arc::new(secrets(aws, sdk)),
        clock: Arc::new(SystemClock),
    };
    Ok(assemble::worker_services(
        config,
        adapters,
        assemble::http_client(config)?,
    ))
}

/// Services for the callback function (callbacks and the sweep): what a run's life needs, without the worker's
/// delivery claims and identity links.
pub fn callback_services(config: &Config, aws: &AwsConfig, sdk: &SdkConfig) -> Result<Services, SetupError> {
    worker_services(config, aws, sdk).map(|worker| worker.run)
}

/// Services for the console function: the delivery log and the runs on DynamoDB, the console's secrets from
/// Secrets Manager. Dead letters stay in the SQS dead-letter queue (redriven there), so it has none; it needs
/// no provider.
#[cfg(feature = "console")]
pub fn console_services(
    config: &Config,
    aws: &AwsConfig,
    sdk: &SdkConfig,
) -> crate::console::ConsoleServices {
    let store = Arc::new(DynamoStore::from_conf(sdk, &aws.table));
    crate::console::ConsoleServices {
        decisions: store.clone(),
        runs: store,
        dead_letters: None,
        secrets: Arc::new(secrets(aws, sdk)),
        clock: Arc::new(SystemClock),
        settings: config.console.clone(),
        openhands_web_url: config.openhands.web_url.clone(),
        setup: None,
        linking: None,
    }
}

fn secrets(aws: &AwsConfig, sdk: &SdkConfig) -> SecretsManagerSecrets {
    SecretsManagerSecrets::with_clock(
        aws_sdk_secretsmanager::Client::new(sdk),
        aws.secrets_ttl,
        Arc::new(SystemClock),
    )
}
#[cfg(test)]
mod tests {

    use super::*;

    fn aws(pairs: &[(&str, &str)]) -> Result<AwsConfig, ConfigError> {
        AwsConfig::from_lookup(crate::config::pairs_lookup(pairs))
    }

    #[test]
    fn aws_config_names_what_is_missing_or_wrong() {
        assert_eq!(aws(&[]), Err(ConfigError::missing("HOOKLINE_TABLE")));
        assert_eq!(
            aws(&[("HOOKLINE_TABLE", "  ")]),
            Err(ConfigError::missing("HOOKLINE_TABLE"))
        );
        let config = aws(&[("HOOKLINE_TABLE", "t")]).expect("loads");
        assert_eq!(config.secrets_ttl, Duration::from_secs(300));
        assert_eq!(
            config.queue_url(),
            Err(ConfigError::missing("HOOKLINE_QUEUE_URL"))
        );
        let config = aws(&[
            ("HOOKLINE_TABLE", "t"),
            ("HOOKLINE_QUEUE_URL", "https://sqs.example/1/q.fifo"),
            ("HOOKLINE_SECRETS_TTL_SECS", "60"),
        ])
        .expect("loads");
        assert_eq!(config.queue_url(), Ok("https://sqs.example/1/q.fifo"));
        assert_eq!(config.secrets_ttl, Duration::from_secs(60));
        assert!(matches!(
            aws(&[("HOOKLINE_TABLE", "t"), ("HOOKLINE_SECRETS_TTL_SECS", "soon")]),
            Err(ConfigError::Invalid { name, .. }) if name == "HOOKLINE_SECRETS_TTL_SECS"
        ));
    }
}
