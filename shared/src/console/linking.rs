//! People linking themselves: an [`Invitation`] from the unlinked-person notice brings them here; they sign in
//! with the provider ([`OAuthApp`]: GitHub's App user authorization, a GitLab OAuth application), the
//! signed-in account must be the one the
//! invitation was made for, and they enter their OpenHands user and API key (or, where the operator keeps the shared
//! identity for those who choose it, pick that). The key goes to the secret store under a name of their own; the
//! link record holds only that name, as `hookline-admin link add` writes it.
//!
//! Who could abuse it: someone else who sees the notice (the sign-in must be the invited account); a replay of
//! a spent invitation (spent once, in the delivery store's one-shot claims); a forged return from the provider
//! (its `state` belongs to the browser session that left, and to this invitation); a page of another site
//! posting the key form (origin check and form token).

use std::{sync::Arc, time::Duration};

use serde::Deserialize;

use crate::{
    domain::IdentityLink,
    error::PortError,
    handlers::DefaultIdentity,
    invite::Invitation,
    outbound::{self, Call},
    ports::{Claim, DeliveryStore, IdentityStore},
    secret::SecretString,
};

use super::app_setup::{AppSetup, AppState};
use crate::{ports::SecretWriter, sign_in::OAuthApp};

/// How long after signing in the key form may be sent.
pub const GRANT_TTL_SECS: u64 = 15 * 60;

/// What linking reads and writes.
#[derive(Clone)]
pub struct Linking {
    pub identities: Arc<dyn IdentityStore>,
    /// Where invitations are spent (one-shot claims).
    pub claims: Arc<dyn DeliveryStore>,
    /// Where people's keys go.
    pub writer: Arc<dyn SecretWriter>,
    pub http: reqwest::Client,
    /// The providers' OAuth applications besides GitHub's App (whose client id comes from its registration).
    pub apps: Vec<OAuthApp>,
    /// The operator's shared identity, offered instead of a key when it is only for those who choose it.
    pub shared_identity: Option<DefaultIdentity>,
}

impl Linking {
    /// The shared identity a person may pick on the link page, if the operator allows it.
    pub fn offered_identity(&self) -> Option<&DefaultIdentity> {
        self.shared_identity.as_ref().filter(|shared| shared.chosen_only)
    }
}

/// What a person links their account to.
pub enum LinkTo<'a> {
    /// Their own OpenHands user and API key (stored under a per-person secret name).
    OwnKey {
        openhands_user: &'a str,
        api_key: SecretString,
    },
    /// The operator's shared identity (nothing stored but the link).
    Shared(&'a DefaultIdentity),
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
#[derive(Clone, Debug)]
pub struct Account {
    /// The provider's stable user id, as text (numbers written in decimal).
    pub id: String,
    pub login: String,
    /// The tenant the answer names, where the app's answers name one.
    pub tenant: Option<String>,
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

/// The GitHub App as an OAuth application, when it can sign people in (a client id).
pub async fn github_app(
    setup: &AppSetup,
    secrets: &dyn crate::ports::Secrets,
) -> Result<Option<OAuthApp>, PortError> {
    Ok(client_id(setup, secrets)
        .await?
        .map(|client_id| setup.github.sign_in(&client_id)))
}

/// Where the person signs in with `app` to come back to `callback` with a code and `state`.
pub fn authorize_url(app: &OAuthApp, callback: &str, state: &str) -> String {
    let encode = |value: &str| form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    let mut url = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&state={}",
        app.authorize_url,
        encode(&app.client_id),
        encode(callback),
        encode(state)
    );
    if let Some(scope) = app.scope {
        url.push_str(&format!("&scope={}", encode(scope)));
    }
    if !app.authorize_params.is_empty() {
        url.push('&');
        url.push_str(app.authorize_params);
    }
    url
}

/// Exchange `code` for a token and read whose it is; `Ok` only for the invited account.
pub async fn invited_account(
    http: &reqwest::Client,
    secrets: &dyn crate::ports::Secrets,
    app: &OAuthApp,
    invitation: &Invitation,
    code: &str,
    callback: &str,
) -> Result<(), SignInError> {
    let account = account(http, secrets, app, code, callback).await?;
    let other_tenant = account
        .tenant
        .as_deref()
        .is_some_and(|tenant| !tenant.eq_ignore_ascii_case(&invitation.tenant));
    if account.id != invitation.external_id || other_tenant {
        tracing::warn!(
            provider = %app.provider,
            invited = %invitation.login,
            signed_in = %account.login,
            "link invitation opened by another account"
        );
        return Err(SignInError::OtherAccount { login: account.login });
    }
    Ok(())
}

/// Exchange `code` (from signing in with `app`) for a token and read whose it is.
pub async fn account(
    http: &reqwest::Client,
    secrets: &dyn crate::ports::Secrets,
    app: &OAuthApp,
    code: &str,
    callback: &str,
) -> Result<Account, SignInError> {
    let client_secret = match secrets.get(&app.client_secret_name).await {
        Ok(secret) => secret,
        Err(PortError::NotFound { .. }) => return Err(SignInError::Unavailable),
        Err(err) => return Err(err.into()),
    };
    let what = format!("{} (sign-in)", app.provider);
    let credentials = [&client_secret];
    let call = Call::new(&what).credentials(&credentials);
    let fields = [
        ("grant_type", "authorization_code"),
        ("client_id", app.client_id.as_str()),
        ("client_secret", client_secret.expose()),
        ("code", code),
        ("redirect_uri", callback),
    ];
    let request = http.post(&app.token_url).header("accept", "application/json");
    let request = if app.token_json {
        let body: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).into()))
            .collect();
        request.json(&body)
    } else {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (name, value) in fields {
            form.append_pair(name, value);
        }
        request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.finish())
    };
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
    let what = format!("{} (signed-in user)", app.provider);
    let credentials = [&token];
    let call = Call::new(&what).credentials(&credentials);
    let request = match app.user_query {
        Some(query) => http
            .post(&app.user_url)
            .json(&serde_json::json!({ "query": query })),
        None => http.get(&app.user_url),
    }
    .bearer_auth(token.expose())
    .header("accept", "application/json");
    let answer = outbound::send(&call, request).await?;
    if !answer.is_success() {
        return Err(SignInError::Refused);
    }
    let user: serde_json::Value = outbound::parse_json(call.what(), &answer.body)?;
    let id = match user.pointer(app.id_field) {
        Some(serde_json::Value::Number(id)) => id.to_string(),
        Some(serde_json::Value::String(id)) if !id.is_empty() => id.clone(),
        _ => return Err(PortError::permanent(call.what(), "the answer names no account").into()),
    };
    let text = |pointer: &str| {
        user.pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let login = text(app.login_field);
    let tenant = app.tenant_field.map(text);
    Ok(Account { id, login, tenant })
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
    secret_prefix: &str,
    invitation: &Invitation,
    to: LinkTo<'_>,
    now: u64,
) -> Result<bool, PortError> {
    let spent = invitation.spent_key();
    let keep = Duration::from_secs(invitation.expires_at.saturating_sub(now).max(1));
    if linking.claims.claim(&spent, now, keep).await? == Claim::Duplicate {
        return Ok(false);
    }
    let written = async {
        let (openhands_user, api_key_secret) = match to {
            LinkTo::OwnKey {
                openhands_user,
                api_key,
            } => {
                let name = key_secret_name(secret_prefix, invitation);
                linking.writer.put_secrets(&[(name.clone(), api_key)]).await?;
                (openhands_user.to_owned(), Some(name))
            }
            LinkTo::Shared(shared) => (shared.openhands_user.clone(), shared.api_key_secret.clone()),
        };
        linking
            .identities
            .put_link(&IdentityLink {
                provider: invitation.provider,
                tenant: invitation.tenant.clone(),
                external_user_id: invitation.external_id.clone(),
                external_login: invitation.login.clone(),
                openhands_user,
                api_key_secret,
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
        linking.writer.remove_secrets(&[name]).await?;
    }
    if removed {
        tracing::info!(provider = %invitation.provider, login = %invitation.login, "person removed their link");
    }
    Ok(removed)
}
