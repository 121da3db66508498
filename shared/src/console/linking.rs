//! People linking themselves: an [`Invitation`] from the unlinked-person notice brings them here; they sign in
//! with the provider (GitHub: the App's user authorization, OAuth), the signed-in account must be the one the
//! invitation was made for, and they enter their OpenHands user and API key. The key goes to the secret store
//! under a name of their own; the link record holds only that name, as `hookline-admin link add` writes it.
//!
//! Who could abuse it: someone else who sees the notice (the sign-in must be the invited account); a replay of
//! a spent invitation (spent once, in the delivery store's one-shot claims); a forged return from the provider
//! (its `state` belongs to the browser session that left, and to this invitation); a page of another site
//! posting the key form (origin check and form token).

use std::{sync::Arc, time::Duration};

use serde::Deserialize;
use serde_json::json;

use crate::{
    domain::{IdentityLink, Provider},
    error::PortError,
    invite::Invitation,
    outbound::{self, Call},
    ports::{Claim, DeliveryStore, IdentityStore},
    secret::SecretString,
};

use super::app_setup::{AppSetup, AppState};

/// How long after signing in the key form may be sent.
pub const GRANT_TTL_SECS: u64 = 15 * 60;

/// What linking writes besides the secrets (which go through the App setup's writer).
#[derive(Clone)]
pub struct Linking {
    pub identities: Arc<dyn IdentityStore>,
    /// Where invitations are spent (one-shot claims).
    pub claims: Arc<dyn DeliveryStore>,
}

/// Why a sign-in did not prove the account.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// GitHub refused the code (used, expired, or not for this App).
    #[error("the provider did not accept this sign-in")]
    Refused,
    /// Signed in as someone else than the invitation's account.
    #[error("signed in as another account")]
    OtherAccount { login: String },
    /// The App cannot sign people in (no client id or client secret).
    #[error("sign-in is not set up")]
    Unavailable,
    #[error(transparent)]
    Store(#[from] PortError),
}

/// The provider account a sign-in proved.
#[derive(Clone, Debug, Deserialize)]
pub struct Account {
    pub id: u64,
    pub login: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
}

/// The App's OAuth client id: the registered App's, or a configured client id (`Iv…`; a numeric App id is no
/// client id).
pub async fn client_id(
    setup: &AppSetup,
    secrets: &dyn crate::ports::Secrets,
) -> Result<Option<String>, PortError> {
    Ok(match setup.state(secrets).await? {
        AppState::Registered(app) => Some(app.client_id),
        AppState::Configured { app_id, .. } => {
            (!app_id.bytes().all(|b| b.is_ascii_digit())).then_some(app_id)
        }
        AppState::None => None,
    })
}

/// Where the person signs in with GitHub to come back to `callback` with a code and `state`.
pub fn github_authorize_url(setup: &AppSetup, client_id: &str, callback: &str, state: &str) -> String {
    let encode = |value: &str| form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    format!(
        "{}/login/oauth/authorize?client_id={}&redirect_uri={}&state={}",
        setup.github.web_url.trim_end_matches('/'),
        encode(client_id),
        encode(callback),
        encode(state)
    )
}

/// Exchange GitHub's `code` for a user token and read whose it is; `Ok` only for the invited account.
pub async fn invited_account(
    setup: &AppSetup,
    secrets: &dyn crate::ports::Secrets,
    invitation: &Invitation,
    code: &str,
    callback: &str,
) -> Result<(), SignInError> {
    let account = github_account(setup, secrets, code, callback).await?;
    if account.id.to_string() != invitation.external_id {
        tracing::warn!(
            invited = %invitation.login,
            signed_in = %account.login,
            "link invitation opened by another GitHub account"
        );
        return Err(SignInError::OtherAccount { login: account.login });
    }
    Ok(())
}

/// Exchange GitHub's `code` (from signing in with the App) for a user token and read whose it is.
pub async fn github_account(
    setup: &AppSetup,
    secrets: &dyn crate::ports::Secrets,
    code: &str,
    callback: &str,
) -> Result<Account, SignInError> {
    let client_id = client_id(setup, secrets).await?.ok_or(SignInError::Unavailable)?;
    let client_secret = match secrets.get(&setup.github.client_secret_name).await {
        Ok(secret) => secret,
        Err(PortError::NotFound { .. }) => return Err(SignInError::Unavailable),
        Err(err) => return Err(err.into()),
    };
    let credentials = [&client_secret];
    let call = Call::new("GitHub (user sign-in)").credentials(&credentials);
    let request = setup
        .http
        .post(format!(
            "{}/login/oauth/access_token",
            setup.github.web_url.trim_end_matches('/')
        ))
        .header("accept", "application/json")
        .json(&json!({
            "client_id": client_id,
            "client_secret": client_secret.expose(),
            "code": code,
            "redirect_uri": callback,
        }));
    let answer = outbound::send(&call, request).await?;
    if !answer.is_success() {
        return Err(match answer.status {
            400..=499 => SignInError::Refused,
            status => PortError::transient(call.what(), format!("answered {status}")).into(),
        });
    }
    // GitHub answers a bad code with 200 and `{"error": …}`.
    let token: TokenAnswer = outbound::parse_json(call.what(), &answer.body)?;
    let token = SecretString::new(token.access_token.ok_or(SignInError::Refused)?);
    let credentials = [&token];
    let call = Call::new("GitHub API (signed-in user)").credentials(&credentials);
    let request = setup
        .http
        .get(format!("{}/user", setup.github.api_url().trim_end_matches('/')))
        .bearer_auth(token.expose())
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28");
    let answer = outbound::send(&call, request).await?;
    if !answer.is_success() {
        return Err(SignInError::Refused);
    }
    Ok(outbound::parse_json(call.what(), &answer.body)?)
}

/// The secret an invited person's API key is stored under, below `prefix`.
pub fn key_secret_name(prefix: &str, invitation: &Invitation) -> String {
    format!(
        "{prefix}/{}/{}/{}",
        invitation.provider.as_str(),
        invitation.tenant,
        invitation.external_id
    )
}

/// Spend `invitation` and link its account to `openhands_user` with `api_key`; `Ok(false)`: spent already.
pub async fn link(
    linking: &Linking,
    setup: &AppSetup,
    secret_prefix: &str,
    invitation: &Invitation,
    openhands_user: &str,
    api_key: SecretString,
    now: u64,
) -> Result<bool, PortError> {
    let spent = invitation.spent_key();
    let keep = Duration::from_secs(invitation.expires_at.saturating_sub(now).max(1));
    if linking.claims.claim(&spent, now, keep).await? == Claim::Duplicate {
        return Ok(false);
    }
    let name = key_secret_name(secret_prefix, invitation);
    let written = async {
        setup.writer.put_secrets(&[(name.clone(), api_key)]).await?;
        linking
            .identities
            .put_link(&IdentityLink {
                provider: invitation.provider,
                tenant: invitation.tenant.clone(),
                external_user_id: invitation.external_id.clone(),
                external_login: invitation.login.clone(),
                openhands_user: openhands_user.to_owned(),
                api_key_secret: Some(name),
                created_at: now,
            })
            .await
    };
    match written.await {
        Ok(()) => {
            linking.claims.complete(&spent, now, keep).await?;
            tracing::info!(provider = %invitation.provider, login = %invitation.login, "person linked themselves");
            Ok(true)
        }
        Err(err) => {
            let _ = linking.claims.release(&spent).await;
            Err(err)
        }
    }
}

/// The invited account's link, if it has one.
pub async fn current_link(
    linking: &Linking,
    invitation: &Invitation,
) -> Result<Option<IdentityLink>, PortError> {
    linking
        .identities
        .get_link(invitation.provider, &invitation.tenant, &invitation.external_id)
        .await
}

/// Remove the invited account's link, and its key where linking stored it (below `secret_prefix`; a key an
/// admin named stays, it may serve others). Whether there was a link.
pub async fn unlink(
    linking: &Linking,
    setup: &AppSetup,
    secret_prefix: &str,
    invitation: &Invitation,
) -> Result<bool, PortError> {
    let current = current_link(linking, invitation).await?;
    let removed = linking
        .identities
        .remove_link(invitation.provider, &invitation.tenant, &invitation.external_id)
        .await?;
    let own_key = current
        .and_then(|link| link.api_key_secret)
        .filter(|name| *name == key_secret_name(secret_prefix, invitation));
    if let Some(name) = own_key {
        setup.writer.remove_secrets(&[name]).await?;
    }
    if removed {
        tracing::info!(provider = %invitation.provider, login = %invitation.login, "person removed their link");
    }
    Ok(removed)
}

/// Whether `provider`'s people sign in here (GitHub only, for now).
pub fn signs_in(provider: Provider) -> bool {
    provider == Provider::Github
}
