//! What a function is built from at cold start: its AWS resources ([`AwsConfig`]) and its services, each
//! with only what its handlers use.

use std::{sync::Arc, time::Duration};

use aws_config::SdkConfig;

use crate::{
    assemble::{self, Adapters, LiveProviders},
    aws::{DynamoStore, SecretsManagerSecrets, SqsQueue},
    clock::{Clock, SystemClock},
    config::{Config, ConfigError},
    error::PortError,
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
    /// URL of its dead-letter queue (`HOOKLINE_DEAD_LETTER_QUEUE_URL`), which the console lists and retries from.
    pub dead_letter_queue_url: Option<String>,
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
            dead_letter_queue_url: get("HOOKLINE_DEAD_LETTER_QUEUE_URL"),
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

/// What every function reads once per cold start: its settings, its AWS resources and the SDK's configuration.
pub struct ColdStart {
    pub config: Config,
    pub aws: AwsConfig,
    pub sdk: SdkConfig,
}

impl ColdStart {
    /// Set up logging, then load the settings with `load_config` (a webhook function loads only its own
    /// provider's), the AWS resources and the SDK's configuration.
    pub async fn load(
        load_config: impl FnOnce() -> Result<Config, ConfigError>,
    ) -> Result<Self, ConfigError> {
        crate::aws::logging::init_tracing();
        let config = load_config()?;
        let aws = AwsConfig::from_env()?;
        let sdk = crate::aws::sdk_config().await;
        Ok(Self { config, aws, sdk })
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
    /// The registered apps could not be read.
    #[error("could not read the registered apps: {0}")]
    Registered(PortError),
}

/// Services for a provider's webhook function: verify, dedupe, enqueue. Only the inbox (a DynamoDB claim, then
/// an SQS send), the secrets and the provider's webhook side are built; no provider API or OpenHands client is,
/// which keeps them out of the webhook binary (smaller package, faster cold start). The function is configured
/// with its own provider's settings only ([`Config::from_env_for`]).
///
/// A GitHub App registered from the console joins at cold start, and later through [`LiveProviders`] when a
/// webhook names GitHub while it is off (a warm function started before the registration).
///
/// Fails, naming the setting, without `HOOKLINE_QUEUE_URL`, or when no provider is configured or awaits its
/// app's registration.
pub async fn webhook_services(
    config: &Config,
    aws: &AwsConfig,
    sdk: &SdkConfig,
) -> Result<IntakeServices, SetupError> {
    let queue_url = aws.queue_url()?;
    let secrets: Arc<dyn Secrets> = Arc::new(secrets(aws, sdk));
    let registered = with_registered_apps(config, secrets.as_ref()).await?;
    if registered.providers.is_empty() && !registered.providers.awaits_registration() {
        // A webhook function without its provider would answer 404 to every delivery.
        return Err(SetupError::NoProvider);
    }
    let store = Arc::new(DynamoStore::from_conf(sdk, &aws.table));
    let inbox = Arc::new(ClaimThenSend {
        deliveries: store,
        queue: Arc::new(SqsQueue::from_conf(sdk, queue_url)),
    });
    let clock = Arc::new(SystemClock);
    let mut services = assemble::intake_services(&registered, inbox, &secrets, clock.clone());
    let switch = LiveProviders::new(config.providers.clone(), secrets, clock).for_intake(&services);
    services.switch = Some(Arc::new(switch));
    Ok(services)
}

/// `config` with the apps registered in the secret store (a GitHub App set up from the console).
async fn with_registered_apps(config: &Config, secrets: &dyn Secrets) -> Result<Config, SetupError> {
    let mut config = config.clone();
    config
        .providers
        .add_registered_apps(secrets, false)
        .await
        .map_err(SetupError::Registered)?;
    Ok(config)
}

/// Services for the worker function: every store on DynamoDB, secrets from Secrets Manager, the providers'
/// worker sides and the OpenHands client. It never enqueues, so `HOOKLINE_QUEUE_URL` is not needed.
///
/// Unlinked people are invited to link themselves on the console when `HOOKLINE_PUBLIC_URL` is set; a GitHub
/// App registered from the console joins as in [`webhook_services`].
///
/// Fails when no provider is configured or awaits its app's registration (every envelope would be dropped,
/// every run left unreported).
pub async fn worker_services(
    config: &Config,
    aws: &AwsConfig,
    sdk: &SdkConfig,
) -> Result<WorkerServices, SetupError> {
    let secrets: Arc<dyn Secrets> = Arc::new(secrets(aws, sdk));
    let registered = with_registered_apps(config, secrets.as_ref()).await?;
    if registered.providers.is_empty() && !registered.providers.awaits_registration() {
        return Err(SetupError::NoProvider);
    }
    let store = Arc::new(DynamoStore::from_conf(sdk, &aws.table));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let adapters = Adapters {
        deliveries: store.clone(),
        runs: store.clone(),
        identities: store.clone(),
        decisions: store,
        secrets: secrets.clone(),
        clock: clock.clone(),
    };
    let http = assemble::http_client(config)?;
    let mut services = assemble::worker_services(&registered, adapters, http.clone());
    services.invites = config.invites(None);
    let switch =
        LiveProviders::new(config.providers.clone(), secrets, clock).for_worker(config, &services, &http);
    services.run.switch = Some(Arc::new(switch));
    Ok(services)
}

/// Services for the callback function (callbacks and the sweep): what a run's life needs, without the worker's
/// delivery claims and identity links.
pub async fn callback_services(
    config: &Config,
    aws: &AwsConfig,
    sdk: &SdkConfig,
) -> Result<Services, SetupError> {
    worker_services(config, aws, sdk).await.map(|worker| worker.run)
}

/// Services for the console function: the delivery log and the runs on DynamoDB, the console's secrets from
/// Secrets Manager, where it also stores a GitHub App registered from the console and the keys of people who
/// link themselves (identity links and spent invitations on DynamoDB), and the SQS dead-letter queue (with
/// `HOOKLINE_DEAD_LETTER_QUEUE_URL` and `HOOKLINE_QUEUE_URL`), and the work queue a stored delivery goes to
/// again (`HOOKLINE_QUEUE_URL`). It serves no provider: the other functions pick
/// up a registered App at their next cold start or the next webhook that names GitHub.
#[cfg(feature = "console")]
pub fn console_services(
    config: &Config,
    aws: &AwsConfig,
    sdk: &SdkConfig,
) -> Result<crate::console::ConsoleServices, SetupError> {
    let store = Arc::new(DynamoStore::from_conf(sdk, &aws.table));
    let secrets = Arc::new(secrets(aws, sdk));
    let secrets_writer: Arc<dyn crate::ports::SecretWriter> = secrets.clone();
    // One client for GitHub and the sign-ins: building one (its TLS roots) is most of this function's start.
    let http = assemble::http_client(config)?;
    let setup = config
        .providers
        .github_setup()
        .map(|github| -> Result<_, SetupError> {
            Ok(crate::console::app_setup::AppSetup {
                github: github.clone(),
                writer: secrets.clone(),
                http: http.clone(),
                switch: Arc::new(ServesNoProvider),
                configured: crate::console::app_setup::ConfiguredApp::of(&config.providers),
            })
        })
        .transpose()?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dead_letters = match (&aws.dead_letter_queue_url, &aws.queue_url) {
        (Some(dead_letters), Some(queue)) => Some(Arc::new(crate::aws::SqsDeadLetters::new(
            sqs.clone(),
            dead_letters,
            queue,
        )) as Arc<dyn crate::ports::DeadLetters>),
        _ => None,
    };
    let redeliver = aws
        .queue_url
        .as_ref()
        .map(|queue| Arc::new(SqsQueue::new(sqs, queue)) as Arc<dyn crate::ports::Queue>);
    Ok(crate::console::ConsoleServices {
        decisions: store.clone(),
        runs: store.clone(),
        dead_letters,
        redeliver,
        secrets,
        clock: Arc::new(SystemClock),
        settings: config.console.clone(),
        openhands_web_url: config.openhands.web_url.clone(),
        setup,
        linking: Some(crate::console::linking::Linking {
            identities: store.clone(),
            claims: store,
            writer: secrets_writer,
            http,
            apps: config.providers.oauth_apps(),
            shared_identity: config.settings.default_identity.clone(),
        }),
    })
}

/// The console function's switch: it serves no provider, so a registration changes nothing here.
#[cfg(feature = "console")]
struct ServesNoProvider;

#[cfg(feature = "console")]
#[async_trait::async_trait]
impl crate::registry::ProviderSwitch for ServesNoProvider {
    async fn reload(&self) -> Result<Vec<crate::domain::Provider>, PortError> {
        Ok(Vec::new())
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
