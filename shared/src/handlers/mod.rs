//! The handlers, written once and generic over the ports: webhook intake ([`webhook`], on [`IntakeServices`]),
//! the queue worker ([`worker`], on [`WorkerServices`]), the agent server's callback routes ([`callback`]) and
//! the periodic [`sweep`] (on [`Services`]). Lambda mains and the local host only wire adapters into these and
//! call the handlers. A run's life between them is in
//! [`reconcile`] (what a reading of the conversation means) and [`conclude`] (ending it exactly once).

pub mod callback;
mod conclude;
mod progress;
pub mod prompt;
mod reconcile;
mod stop;
pub mod sweep;
pub mod webhook;
pub mod worker;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, Weak},
    time::Duration,
};

use crate::{
    clock::Clock,
    domain::{IdentityLink, Provider},
    error::PortError,
    invite::Invites,
    ports::{
        Conversations, DeliveryLog, DeliveryStore, IdentityStore, Inbox, OpenHandsAuth, RunStore, Secrets,
    },
    provider::{ProviderIntake, ProviderModule},
    registry::{LiveSet, ProviderSwitch},
};

/// How identities' OpenHands API keys are presented to the app server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// `Authorization: Bearer <key>` (OpenHands Cloud).
    Bearer,
    /// `X-Session-API-Key: <key>` (a self-hosted server with a session key).
    SessionKey,
    /// No auth header (a local single-user server).
    None,
}

/// The identity used for people without a link, when an operator chooses to allow that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultIdentity {
    pub openhands_user: String,
    pub api_key_secret: Option<String>,
    /// Only for people who chose it when linking themselves (`OPENHANDS_DEFAULT_USE=chosen`); everyone else is
    /// invited to link. Otherwise (`unlinked`) for everyone without a link.
    pub chosen_only: bool,
}

impl DefaultIdentity {
    /// Whether `link` points at this shared identity (chosen on the link page, or written so by an admin).
    pub fn is(&self, link: &IdentityLink) -> bool {
        link.openhands_user == self.openhands_user && link.api_key_secret == self.api_key_secret
    }
}

/// Behaviour settings shared by the handlers (typed config, loaded once).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Largest webhook body accepted (413 above).
    pub max_body_bytes: usize,
    /// How long a delivery id is remembered for dedup.
    pub delivery_ttl: Duration,
    /// A running conversation with no progress for this long is reported as stalled.
    pub stall_timeout: Duration,
    /// Receives after which a failing message is given up (and dead-lettered by the queue).
    pub max_receives: u32,
    /// A start whose conversation does not exist this long after it was requested has failed.
    pub start_timeout: Duration,
    /// How long a sandbox may read `ERROR` (or `MISSING`, confirmed by a second reading) before the run is
    /// concluded as failed.
    pub sandbox_grace: Duration,
    /// How long a finished run keeps trying to fetch the agent's summary before it posts without one.
    pub summary_patience: Duration,
    /// Longest one sweep works; the runs it did not reach wait for the next.
    pub sweep_budget: Duration,
    /// Least time between two progress edits of one run's status message (a burst of agent events makes a
    /// handful of edits, within every provider's rate limits).
    pub progress_every: Duration,
    pub auth_mode: AuthMode,
    pub default_identity: Option<DefaultIdentity>,
    /// Models a person may choose with `model=` (empty: choosing is off and the identity's own model is used).
    pub models: Vec<String>,
    /// Secret holding a shared key the agent server may send as `X-Hookline-Callback-Key` instead of the
    /// per-conversation session key.
    pub callback_key_secret: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_body_bytes: 5 * 1024 * 1024,
            delivery_ttl: Duration::from_secs(7 * 24 * 3600),
            stall_timeout: Duration::from_secs(2 * 3600),
            max_receives: 5,
            start_timeout: Duration::from_secs(15 * 60),
            sandbox_grace: Duration::from_secs(3 * 60),
            summary_patience: Duration::from_secs(5 * 60),
            sweep_budget: Duration::from_secs(50),
            progress_every: Duration::from_secs(15),
            auth_mode: AuthMode::Bearer,
            default_identity: None,
            models: Vec::new(),
            callback_key_secret: None,
        }
    }
}

/// What webhook intake uses ([`webhook`]): the providers' webhook sides, the inbox that claims and enqueues,
/// the clock and the limits. All a webhook function holds.
#[derive(Clone)]
pub struct IntakeServices {
    pub inbox: Arc<dyn Inbox>,
    pub intakes: LiveSet<dyn ProviderIntake>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// Turns on a provider registered since start (a webhook for a provider that is off asks it).
    pub switch: Option<Arc<dyn ProviderSwitch>>,
}

impl IntakeServices {
    pub fn intake(&self, provider: Provider) -> Option<Arc<dyn ProviderIntake>> {
        self.intakes.get(provider)
    }

    /// `provider`'s webhook side, asking the switch when it is off here.
    pub async fn intake_or_reload(&self, provider: Provider) -> Option<Arc<dyn ProviderIntake>> {
        self.intakes.get_or_reload(provider, self.switch.as_deref()).await
    }
}

/// What a run's life uses once it is queued: the callbacks ([`callback`]), the [`sweep`] and the conclusion,
/// wired once per process (or Lambda cold start). The worker adds what only it needs ([`WorkerServices`]).
#[derive(Clone)]
pub struct Services {
    pub runs: Arc<dyn RunStore>,
    pub secrets: Arc<dyn Secrets>,
    pub conversations: Arc<dyn Conversations>,
    pub providers: LiveSet<dyn ProviderModule>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// Turns on a provider registered since start (work for a provider that is off asks it).
    pub switch: Option<Arc<dyn ProviderSwitch>>,
    /// Per-conversation locks, so concurrent callbacks make one OpenHands lookup, not one each.
    pub lookups: Arc<KeyedLocks>,
}

/// What the queue [`worker`] uses: a run's services, plus the delivery claims it settles, the identity links
/// it resolves and the log of what it decided about each delivery.
#[derive(Clone)]
pub struct WorkerServices {
    pub run: Services,
    pub deliveries: Arc<dyn DeliveryStore>,
    pub identities: Arc<dyn IdentityStore>,
    pub decisions: Arc<dyn DeliveryLog>,
    /// Inviting unlinked people to link themselves on the console; `None`: they are told to ask an admin.
    pub invites: Option<Invites>,
}

impl std::ops::Deref for WorkerServices {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.run
    }
}

/// Async locks by key, held only while someone uses them (the map keeps weak references).
#[derive(Debug, Default)]
pub struct KeyedLocks(Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>);

impl KeyedLocks {
    /// Wait for, and hold, the lock of `key`.
    pub async fn lock(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            map.retain(|_, lock| lock.strong_count() > 0);
            match map.get(key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(key.to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

impl Services {
    pub fn module(&self, provider: Provider) -> Option<Arc<dyn ProviderModule>> {
        self.providers.get(provider)
    }

    /// `provider`'s worker side, asking the switch when it is off here.
    pub async fn module_or_reload(&self, provider: Provider) -> Option<Arc<dyn ProviderModule>> {
        self.providers
            .get_or_reload(provider, self.switch.as_deref())
            .await
    }

    fn now(&self) -> u64 {
        self.clock.now_secs()
    }

    /// Resolve how to call OpenHands for an identity whose key lives in `api_key_secret`.
    async fn openhands_auth(&self, api_key_secret: Option<&str>) -> Result<OpenHandsAuth, PortError> {
        let Some(name) = api_key_secret.filter(|n| !n.is_empty()) else {
            return Ok(OpenHandsAuth::default());
        };
        if self.settings.auth_mode == AuthMode::None {
            return Ok(OpenHandsAuth::default());
        }
        let key = crate::outbound::credential(self.secrets.as_ref(), name, "openhands identity").await?;
        Ok(match self.settings.auth_mode {
            AuthMode::Bearer => OpenHandsAuth {
                bearer: Some(key),
                session_key: None,
            },
            AuthMode::SessionKey => OpenHandsAuth {
                bearer: None,
                session_key: Some(key),
            },
            AuthMode::None => OpenHandsAuth::default(),
        })
    }
}
