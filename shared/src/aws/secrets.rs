//! [`SecretsManagerSecrets`]: secrets from AWS Secrets Manager, cached in memory for a bounded time.
//!
//! A warm Lambda container reads each secret once per TTL (default five minutes, the same bound as the AWS
//! Parameters and Secrets extension), so a rotated secret takes effect without a redeploy, and
//! [`SecretsManagerSecrets::refresh`] lets a caller that sees a signature mismatch re-read at once.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;

use super::classify;
use crate::{
    clock::{Clock, SystemClock},
    error::PortError,
    ports::{SecretWriter, Secrets},
    secret::SecretString,
};

/// How long a secret is served from memory before it is read again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// How long a secret found missing is answered as missing without asking again: an unauthenticated request for
/// an unknown tenant must not cost a Secrets Manager call each time.
pub const MISSING_TTL: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct Cached {
    /// `None`: Secrets Manager said there is no such secret.
    value: Option<SecretString>,
    /// Epoch seconds when it was read.
    fetched_at: u64,
}

/// Secrets Manager implementation of [`Secrets`], looked up by secret name or ARN (`AWSCURRENT` version).
pub struct SecretsManagerSecrets {
    client: Client,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<String, Cached>>,
    /// When each secret was last re-read after a mismatch (epoch seconds).
    rereads: Mutex<HashMap<String, u64>>,
}

/// Most often a secret is re-read because a signature did not match: a flood of forged requests costs at most
/// one Secrets Manager call a minute per secret.
pub const REREAD_INTERVAL: Duration = Duration::from_secs(60);

impl std::fmt::Debug for SecretsManagerSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManagerSecrets")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SecretsManagerSecrets {
    /// Secrets read through `client`, cached for [`DEFAULT_TTL`] by the system clock.
    pub fn new(client: Client) -> Self {
        Self::with_clock(client, DEFAULT_TTL, Arc::new(SystemClock))
    }

    /// Secrets with a client built from shared configuration (see [`super::sdk_config`]).
    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }

    /// Secrets cached for `ttl` as measured by `clock` (a zero `ttl` disables the cache).
    pub fn with_clock(client: Client, ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            ttl,
            clock,
            cache: Mutex::new(HashMap::new()),
            rereads: Mutex::new(HashMap::new()),
        }
    }

    /// Read `name` from Secrets Manager now, bypassing and then updating the cache (e.g. after a signature
    /// mismatch that a just-rotated secret would explain).
    pub async fn refresh(&self, name: &str) -> Result<SecretString, PortError> {
        let fetched = self.fetch(name).await;
        let value = match &fetched {
            Ok(value) => Some(value.clone()),
            Err(PortError::NotFound { .. }) => None,
            Err(_) => return fetched,
        };
        self.remember(name, value);
        fetched
    }

    /// Cache `value` as what `name` holds now (`None`: Secrets Manager has no such secret).
    fn remember(&self, name: &str, value: Option<SecretString>) {
        let fetched_at = self.clock.now_secs();
        self.lock().insert(name.to_owned(), Cached { value, fetched_at });
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Cached>> {
        // The map is consistent between statements, so a poisoned lock is still usable.
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cached(&self, name: &str) -> Option<Result<SecretString, PortError>> {
        let now = self.clock.now_secs();
        let cache = self.lock();
        let entry = cache.get(name)?;
        let ttl = match entry.value {
            Some(_) => self.ttl,
            None => self.ttl.min(MISSING_TTL),
        };
        // A clock that went backwards counts as fresh; the entry still expires `ttl` after that point.
        if now.saturating_sub(entry.fetched_at) >= ttl.as_secs() {
            return None;
        }
        Some(
            entry
                .value
                .clone()
                .ok_or_else(|| PortError::not_found(format!("secret {name}"))),
        )
    }

    async fn fetch(&self, name: &str) -> Result<SecretString, PortError> {
        let what = format!("secret {name}");
        let output = match self.client.get_secret_value().secret_id(name).send().await {
            Ok(output) => output,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Err(PortError::not_found(what));
            }
            Err(err) => return Err(classify(&what, err)),
        };
        if let Some(text) = output.secret_string() {
            return Ok(SecretString::new(text));
        }
        match output.secret_binary {
            Some(blob) => String::from_utf8(blob.into_inner())
                .map(SecretString::new)
                .map_err(|_| PortError::permanent(what, "binary secret is not UTF-8 text")),
            None => Err(PortError::permanent(what, "secret has no value")),
        }
    }
}

#[async_trait]
impl Secrets for SecretsManagerSecrets {
    async fn get(&self, name: &str) -> Result<SecretString, PortError> {
        match self.cached(name) {
            Some(answer) => answer,
            None => self.refresh(name).await,
        }
    }

    async fn reread(&self, name: &str) -> Result<Option<SecretString>, PortError> {
        let now = self.clock.now_secs();
        {
            let mut rereads = self
                .rereads
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if rereads
                .get(name)
                .is_some_and(|at| now.saturating_sub(*at) < REREAD_INTERVAL.as_secs())
            {
                return Ok(None);
            }
            rereads.insert(name.to_owned(), now);
        }
        self.refresh(name).await.map(Some)
    }
}

#[async_trait]
impl SecretWriter for SecretsManagerSecrets {
    /// One secret at a time, in order (a caller puts what turns something on last): created, or given a new
    /// current version when it exists.
    async fn put_secrets(&self, entries: &[(String, SecretString)]) -> Result<(), PortError> {
        for (name, value) in entries {
            let what = format!("secret {name}");
            let created = self
                .client
                .create_secret()
                .name(name)
                .secret_string(value.expose())
                .send()
                .await;
            match created {
                Ok(_) => {}
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_exists_exception()) =>
                {
                    self.client
                        .put_secret_value()
                        .secret_id(name)
                        .secret_string(value.expose())
                        .send()
                        .await
                        .map_err(|err| classify(&what, err))?;
                }
                Err(err) => return Err(classify(&what, err)),
            }
            self.remember(name, Some(value.clone()));
        }
        Ok(())
    }

    /// Without a recovery window: the same name may be created again at once.
    async fn remove_secrets(&self, names: &[String]) -> Result<(), PortError> {
        for name in names {
            let deleted = self
                .client
                .delete_secret()
                .secret_id(name)
                .force_delete_without_recovery(true)
                .send()
                .await;
            match deleted {
                Ok(_) => {}
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) => {}
                Err(err) => return Err(classify(&format!("secret {name}"), err)),
            }
            self.remember(name, None);
        }
        Ok(())
    }
}
