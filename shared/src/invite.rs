//! Invitations to link oneself: the notice an unlinked person gets carries a link to the console with a signed,
//! expiring invitation for exactly that provider account. It is only worth something to that account: the
//! console makes the person sign in with the provider and compares the account before anything is stored, and
//! an invitation is spent when its link is made.

use std::time::Duration;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde::{Deserialize, Serialize};

use crate::{
    domain::Provider,
    secret::SecretString,
    verify::{constant_time_eq, sign_hex},
};

/// An invitation for one provider account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub provider: Provider,
    pub tenant: String,
    /// The provider's stable user id (GitHub's numeric id).
    pub external_id: String,
    /// The handle it was made for, to show.
    pub login: String,
    /// Epoch second it is good until.
    pub expires_at: u64,
    /// Random: tells invitations apart, so each is spent once.
    pub nonce: String,
}

/// Why an invitation link is no good.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    #[error("not an invitation this host made")]
    Forged,
    #[error("the invitation expired")]
    Expired,
}

impl Invitation {
    pub fn new(provider: Provider, tenant: &str, external_id: &str, login: &str, expires_at: u64) -> Self {
        Self {
            provider,
            tenant: tenant.to_owned(),
            external_id: external_id.to_owned(),
            login: login.to_owned(),
            expires_at,
            nonce: crate::verify::random_hex(16),
        }
    }

    /// `{payload}.{mac}`: the invitation as base64url JSON and an HMAC-SHA256 over it with `key`.
    pub fn token(&self, key: &SecretString) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("an invitation serializes"));
        let mac = sign_hex(key.expose().as_bytes(), format!("invite|{payload}").as_bytes());
        format!("{payload}.{mac}")
    }

    /// The invitation `token` carries, if `key` signed it and it has not expired at `now`.
    pub fn from_token(token: &str, key: &SecretString, now: u64) -> Result<Self, InviteError> {
        let (payload, mac) = token.split_once('.').ok_or(InviteError::Forged)?;
        let expected = sign_hex(key.expose().as_bytes(), format!("invite|{payload}").as_bytes());
        if !constant_time_eq(expected.as_bytes(), mac.as_bytes()) {
            return Err(InviteError::Forged);
        }
        let invitation: Self = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(InviteError::Forged)?;
        if now >= invitation.expires_at {
            return Err(InviteError::Expired);
        }
        Ok(invitation)
    }

    /// The key its one use is claimed under.
    pub fn spent_key(&self) -> String {
        format!("link-invite#{}", self.nonce)
    }
}

/// How the worker invites unlinked people (set when the console can take them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invites {
    /// The console's address (`https://hookline.example.com/console`).
    pub console_url: String,
    /// The secret whose key signs invitations (the console's session key).
    pub key_secret: String,
    pub ttl: Duration,
    /// The providers whose people can sign in to link themselves, each with the secret its sign-in needs (the
    /// OAuth client secret): a notice carries an invitation only while that secret exists, so nobody is sent
    /// to a sign-in that cannot work.
    pub sign_ins: Vec<(Provider, String)>,
}

impl Invites {
    /// The client secret `provider`'s sign-in needs, if its people can sign in.
    pub fn client_secret_of(&self, provider: Provider) -> Option<&str> {
        self.sign_ins
            .iter()
            .find(|(p, _)| *p == provider)
            .map(|(_, name)| name.as_str())
    }
}

impl Invites {
    /// The link for `invitation`, signed with `key`.
    pub fn link(&self, invitation: &Invitation, key: &SecretString) -> String {
        format!("{}/link?invite={}", self.console_url, invitation.token(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretString {
        SecretString::from("k".repeat(64).as_str())
    }

    #[test]
    fn an_invitation_comes_back_whole_only_signed_and_in_time() {
        let invitation = Invitation::new(Provider::Github, "github.com", "5151", "bob", 2_000);
        let token = invitation.token(&key());
        assert_eq!(
            Invitation::from_token(&token, &key(), 1_999),
            Ok(invitation.clone())
        );
        assert_eq!(
            Invitation::from_token(&token, &key(), 2_000),
            Err(InviteError::Expired)
        );
        assert_eq!(
            Invitation::from_token(&token, &SecretString::from("other"), 1_000),
            Err(InviteError::Forged)
        );
        // Another account's id in the same envelope: the MAC no longer fits.
        let (payload, mac) = token.split_once('.').unwrap();
        let mut json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        json["external_id"] = "1".into();
        let forged = format!("{}.{mac}", URL_SAFE_NO_PAD.encode(json.to_string()));
        assert_eq!(
            Invitation::from_token(&forged, &key(), 1_000),
            Err(InviteError::Forged)
        );
        for junk in ["", ".", "abc", "abc.def"] {
            assert_eq!(
                Invitation::from_token(junk, &key(), 1_000),
                Err(InviteError::Forged),
                "{junk:?}"
            );
        }
        assert_ne!(
            Invitation::new(Provider::Github, "github.com", "5151", "bob", 2_000).spent_key(),
            invitation.spent_key(),
            "each invitation is spent on its own"
        );
    }
}
