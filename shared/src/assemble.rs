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
        switch: None,
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
            switch: None,
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
    /// The providers as configured, before any registered app joined.
    providers: ProviderConfigs,
    secrets: Arc<dyn Secrets>,
    clock: Arc<dyn Clock>,
    intakes: Option<LiveSet<dyn ProviderIntake>>,
    /// The worker sides and how to build them. A closure made by [`Self::for_worker`], so that a webhook
    /// function, which never calls it, links no provider API client.
    modules: Option<(LiveSet<dyn ProviderModule>, BuildModules)>,
    /// When a miss last reloaded (epoch seconds).
    last_miss: std::sync::Mutex<Option<u64>>,
}

/// Builds every configured provider's worker side.
type BuildModules = Box<dyn Fn(&ProviderConfigs) -> Vec<Arc<dyn ProviderModule>> + Send + Sync>;

/// Least time between two reloads for a request naming a provider that is off: as long as a secret store
/// remembers a missing secret, so a flood of such requests costs nothing.
const RELOAD_ON_MISS_EVERY_SECS: u64 = 30;

impl LiveProviders {
    /// A switch over `providers` (as configured, before any registered app joins) that serves nothing yet
    /// ([`Self::for_intake`], [`Self::for_worker`]).
    pub fn new(providers: ProviderConfigs, secrets: Arc<dyn Secrets>, clock: Arc<dyn Clock>) -> Self {
        Self {
            providers,
            secrets,
            clock,
            intakes: None,
            modules: None,
            last_miss: std::sync::Mutex::new(None),
        }
    }

    /// Reload `intake`'s webhook sides too.
    pub fn for_intake(self, intake: &IntakeServices) -> Self {
        Self {
            intakes: Some(intake.intakes.clone()),
            ..self
        }
    }

    /// Reload `worker`'s worker sides too, built like [`worker_services`] builds them.
    pub fn for_worker(self, config: &Config, worker: &Services, http: &reqwest::Client) -> Self {
        let wiring = wiring(config, &worker.secrets, &worker.clock, http);
        let build: BuildModules = Box::new(move |providers| providers.modules(&wiring));
        Self {
            modules: Some((worker.providers.clone(), build)),
            ..self
        }
    }
}

#[async_trait::async_trait]
impl ProviderSwitch for LiveProviders {
    async fn reload(&self) -> Result<Vec<Provider>, PortError> {
        let mut providers = self.providers.clone();
        providers.add_registered_apps(self.secrets.as_ref(), true).await?;
        if let Some(intakes) = &self.intakes {
            intakes.replace(providers.intakes(&self.secrets));
        }
        if let Some((modules, build)) = &self.modules {
            modules.replace(build(&providers));
        }
        let on = providers.configured();
        tracing::info!(providers = ?on, "providers reloaded");
        Ok(on)
    }

    async fn reload_on_miss(&self, provider: Provider) -> bool {
        let now = self.clock.now_secs();
        {
            let mut last = self
                .last_miss
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|at| now.saturating_sub(at) < RELOAD_ON_MISS_EVERY_SECS) {
                return false;
            }
            *last = Some(now);
        }
        match self.reload().await {
            Ok(on) => on.contains(&provider),
            Err(err) => {
                tracing::warn!(error = %err, "could not reload the providers");
                false
            }
        }
    }
}
