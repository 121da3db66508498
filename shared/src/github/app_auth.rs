//! GitHub App authentication: RS256 app JWT → installation token, cached until shortly before expiry.
//!
//! The App proves who it is with a short-lived JWT signed by its private key (providers.md §1.4), trades
//! that for an installation access token (valid one hour) and calls the REST API with the token. Tokens
//! are cached per installation and refreshed [`TOKEN_REFRESH_MARGIN_SECS`] before they expire, or at once
//! after GitHub rejects one ([`GithubAppAuth::invalidate`]). Tokens and the key are [`SecretString`]s and
//! never logged.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{
    client::{self, GithubApi},
    GithubConfig,
};
use crate::{
    clock::Clock,
    error::PortError,
    outbound::{self, parse_json, parse_timestamp, Call},
    ports::Secrets,
    secret::SecretString,
};

/// How far the JWT's `iat` is backdated, to tolerate clock drift between us and GitHub.
pub const JWT_BACKDATE_SECS: u64 = 60;
/// JWT lifetime from now; GitHub refuses more than 10 minutes, 9 keeps a margin.
pub const JWT_LIFETIME_SECS: u64 = 540;
/// A cached installation token is replaced this long before its `expires_at`.
pub const TOKEN_REFRESH_MARGIN_SECS: u64 = 300;
/// Used when GitHub's `expires_at` cannot be read: well under the documented one-hour lifetime.
const FALLBACK_TOKEN_LIFETIME_SECS: u64 = 600;

const WHAT: &str = "GitHub App token exchange";

/// Mints app JWTs and installation tokens for one GitHub App, caching tokens per installation.
///
/// Cheap to share behind an `Arc`; all methods take `&self`.
pub struct GithubAppAuth {
    http: reqwest::Client,
    api_url: String,
    app_id: String,
    private_key_secret_name: String,
    secrets: Arc<dyn Secrets>,
    clock: Arc<dyn Clock>,
    tokens: Mutex<HashMap<u64, CachedToken>>,
    /// Serializes refreshes so concurrent callers that all miss the cache share one exchange.
    refresh: tokio::sync::Mutex<()>,
}

struct CachedToken {
    token: SecretString,
    /// Epoch seconds from which the token is no longer handed out.
    refresh_at: u64,
}

#[derive(Serialize)]
struct AppClaims<'a> {
    iat: u64,
    exp: u64,
    iss: &'a str,
}

/// The parts of `201 Created` from the exchange that we use. No `Debug`: it holds the token.
#[derive(Deserialize)]
struct AccessTokenResponse {
    token: String,
    expires_at: Option<String>,
}

impl GithubAppAuth {
    /// Authenticate as the App described by `config` (`api_url`, `app_id`, `private_key_secret_name`).
    pub fn new(
        http: reqwest::Client,
        config: &GithubConfig,
        secrets: Arc<dyn Secrets>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            http,
            api_url: config.api_url.trim_end_matches('/').to_owned(),
            app_id: config.app_id.clone(),
            private_key_secret_name: config.private_key_secret_name.clone(),
            secrets,
            clock,
            tokens: Mutex::new(HashMap::new()),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// A valid installation token for `installation_id`: the cached one, or a freshly exchanged one.
    pub async fn installation_token(&self, installation_id: u64) -> Result<SecretString, PortError> {
        if let Some(token) = self.cached(installation_id) {
            return Ok(token);
        }
        let _refreshing = self.refresh.lock().await;
        // Another caller may have refreshed it while we waited for the lock.
        if let Some(token) = self.cached(installation_id) {
            return Ok(token);
        }
        let fresh = self.exchange(installation_id).await?;
        let token = fresh.token.clone();
        self.lock_tokens().insert(installation_id, fresh);
        Ok(token)
    }

    /// Forget the cached token for `installation_id` (e.g. after GitHub answered 401 to it).
    pub fn invalidate(&self, installation_id: u64) {
        self.lock_tokens().remove(&installation_id);
    }

    /// Forget the cached token only if it is still `rejected`, so a token another caller has just refreshed
    /// survives a late 401 for the old one.
    pub(crate) fn invalidate_token(&self, installation_id: u64, rejected: &SecretString) {
        let mut tokens = self.lock_tokens();
        if tokens
            .get(&installation_id)
            .is_some_and(|cached| cached.token == *rejected)
        {
            tokens.remove(&installation_id);
        }
    }

    /// Sign a fresh app JWT (`iat = now - 60`, `exp = now + 540`, `iss = app_id`) with the App's private key,
    /// read from the secret store on every call so a rotated key takes effect without a restart.
    pub async fn app_jwt(&self) -> Result<SecretString, PortError> {
        let pem = outbound::credential(
            self.secrets.as_ref(),
            &self.private_key_secret_name,
            "GitHub App private key",
        )
        .await?;
        let key = EncodingKey::from_rsa_pem(pem.expose().as_bytes()).map_err(|_| {
            PortError::permanent(
                WHAT,
                "the GitHub App private key is not a valid RSA PEM (PKCS#1 or PKCS#8) key",
            )
        })?;
        let now = self.clock.now_secs();
        let claims = AppClaims {
            iat: now.saturating_sub(JWT_BACKDATE_SECS),
            exp: now + JWT_LIFETIME_SECS,
            iss: &self.app_id,
        };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)
            .map_err(|err| PortError::permanent(WHAT, format!("could not sign the app JWT: {err}")))?;
        Ok(SecretString::new(jwt))
    }

    fn cached(&self, installation_id: u64) -> Option<SecretString> {
        let now = self.clock.now_secs();
        self.lock_tokens()
            .get(&installation_id)
            .filter(|cached| now < cached.refresh_at)
            .map(|cached| cached.token.clone())
    }

    async fn exchange(&self, installation_id: u64) -> Result<CachedToken, PortError> {
        let jwt = self.app_jwt().await?;
        let url = format!(
            "{}/app/installations/{installation_id}/access_tokens",
            self.api_url
        );
        let credentials = [&jwt];
        let call = Call::new(WHAT)
            .credentials(&credentials)
            .at(self.clock.now_millis());
        let request = client::request(&self.http, Method::POST, &url, &jwt, None);
        let response = outbound::send(&call, request).await?;
        let now = self.clock.now_secs();
        if let Err(err) = outbound::classify(&GithubApi, &call, &response) {
            tracing::warn!(
                installation_id,
                status = response.status,
                error = %err,
                "installation token exchange failed"
            );
            return Err(err);
        }
        let parsed: AccessTokenResponse = parse_json(WHAT, &response.body)?;
        if parsed.token.is_empty() {
            return Err(PortError::permanent(
                WHAT,
                "GitHub returned an empty installation token",
            ));
        }
        let expires_at = parsed.expires_at.as_deref().and_then(parse_timestamp);
        let refresh_at = match expires_at {
            Some(expires_at) => {
                let refresh_at = expires_at.saturating_sub(TOKEN_REFRESH_MARGIN_SECS);
                if refresh_at <= now {
                    // Still usable for this call; it just will not be reused. Usually a skewed clock.
                    tracing::warn!(
                        installation_id,
                        expires_at,
                        now,
                        "installation token expires within the refresh margin; check the clock"
                    );
                }
                refresh_at
            }
            None => {
                tracing::warn!(
                    installation_id,
                    "installation token without a readable expires_at; caching it briefly"
                );
                now + FALLBACK_TOKEN_LIFETIME_SECS - TOKEN_REFRESH_MARGIN_SECS
            }
        };
        tracing::info!(installation_id, refresh_at, "minted GitHub installation token");
        Ok(CachedToken {
            token: SecretString::new(parsed.token),
            refresh_at,
        })
    }

    fn lock_tokens(&self) -> MutexGuard<'_, HashMap<u64, CachedToken>> {
        // The map stays consistent even if a holder panicked: every write is a single insert or remove.
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for GithubAppAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubAppAuth")
            .field("api_url", &self.api_url)
            .field("app_id", &self.app_id)
            .field("private_key_secret_name", &self.private_key_secret_name)
            .finish_non_exhaustive()
    }
}
