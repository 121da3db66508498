//! Building the handlers' services from a [`Config`] and a set of storage adapters: the one composition step
//! shared by the local host and every Lambda function. The providers come from [`crate::registry`], so nothing
//! here names one.

use std::sync::Arc;

use crate::{
    clock::Clock,
    config::Config,
    domain::Provider,
    error::PortError,
    handlers::{IntakeServices, Services, WorkerServices},
    openhands::OpenHandsClient,
    ports::{DeliveryLog, DeliveryStore, IdentityStore, Inbox, RunStore, Secrets},
    provider::{Outbound, ProviderIntake, ProviderModule, Wiring},
    registry::{LiveSet, ProviderConfigs, ProviderSwitch},
};

/// The storage side of a deployment (AWS or embedded) that the worker, the callbacks and the sweep use.
pub struct Adapters {
    pub deliveries: Arc<dyn DeliveryStore>,
    pub runs: Arc<dyn RunStore>,
    pub identities: Arc<dyn IdentityStore>,
    pub decisions: Arc<dyn DeliveryLog>,
    pub secrets: Arc<dyn Secrets>,
    pub clock: Arc<dyn Clock>,
}

/// One HTTP client for every outbound API: rustls, pooled, with sane timeouts.
pub fn http_client(config: &Config) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(concat!("hookline/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(config.openhands.request_timeout)
        .redirect(same_origin_redirects())
        .build()
}

/// Follow a redirect only to the same scheme, host and port, at most five times. Credentials travel in headers
/// reqwest does not know to drop (`PRIVATE-TOKEN`, `X-Session-API-Key`), so no redirect may carry them to
/// another host; the 3xx is then the answer, and an error.
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = |url: &reqwest::Url| {
            (
                url.scheme().to_owned(),
                url.host_str().map(str::to_owned),
                url.port_or_known_default(),
            )
        };
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| origin(first) == origin(attempt.url()));
        if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else if same {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Webhook intake: every configured provider's webhook side over `inbox`. No API client is built (or linked).
pub fn intake_services(
    config: &Config,
    inbox: Arc<dyn Inbox>,
    secrets: &Arc<dyn Secrets>,
    clock: Arc<dyn Clock>,
) -> IntakeServices {
    IntakeServices {
        inbox,
        intakes: config.providers.intakes(secrets).into(),
        clock,
        settings: config.settings.clone(),
    }
}

/// What every provider's worker side is built with.
fn wiring(
    config: &Config,
    secrets: &Arc<dyn Secrets>,
    clock: &Arc<dyn Clock>,
    http: &reqwest::Client,
) -> Wiring {
    Wiring {
        outbound: Outbound {
            http: http.clone(),
            secrets: secrets.clone(),
            clock: clock.clone(),
        },
        link_help: config.link_help.clone(),
    }
}

/// The worker's services (and, inside them, the callbacks' and the sweep's): every configured provider's worker
/// side and the OpenHands client over `adapters`.
pub fn worker_services(config: &Config, adapters: Adapters, http: reqwest::Client) -> WorkerServices {
    let wiring = wiring(config, &adapters.secrets, &adapters.clock, &http);
    WorkerServices {
        run: Services {
            runs: adapters.runs,
            secrets: adapters.secrets,
            conversations: Arc::new(OpenHandsClient::new(http, config.openhands.clone())),
            providers: config.providers.modules(&wiring).into(),
            clock: adapters.clock,
            settings: config.settings.clone(),
            lookups: Default::default(),
        },
        deliveries: adapters.deliveries,
        identities: adapters.identities,
        decisions: adapters.decisions,
        // A host whose console takes invitations sets them ([`Config::invites`]).
        invites: None,
    }
}

/// A process's [`ProviderSwitch`]: reloads the registered apps into the provider sets its intake and worker
/// services share, so both serve a newly registered provider at once.
pub struct LiveProviders {
    providers: ProviderConfigs,
    secrets: Arc<dyn Secrets>,
    wiring: Wiring,
    intakes: LiveSet<dyn ProviderIntake>,
    modules: LiveSet<dyn ProviderModule>,
}

impl LiveProviders {
    pub fn new(
        config: &Config,
        intake: &IntakeServices,
        worker: &WorkerServices,
        http: &reqwest::Client,
    ) -> Self {
        Self {
            providers: config.providers.clone(),
            secrets: worker.secrets.clone(),
            wiring: wiring(config, &worker.secrets, &worker.clock, http),
            intakes: intake.intakes.clone(),
            modules: worker.providers.clone(),
        }
    }
}

#[async_trait::async_trait]
impl ProviderSwitch for LiveProviders {
    async fn reload(&self) -> Result<Vec<Provider>, PortError> {
        let mut providers = self.providers.clone();
        providers.add_registered_apps(self.secrets.as_ref()).await?;
        self.intakes.replace(providers.intakes(&self.secrets));
        self.modules.replace(providers.modules(&self.wiring));
        let on = providers.configured();
        tracing::info!(providers = ?on, "providers reloaded");
        Ok(on)
    }
}
