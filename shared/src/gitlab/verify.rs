//! GitLab's webhook side ([`GitlabIntake`]: tenant from the URL → authenticate → prefilter → trim) and its
//! authentication, constant-time throughout and over the raw body:
//!
//! - the classic secret token: `X-Gitlab-Token` equals the configured token;
//! - the signing token, which follows Standard Webhooks: `webhook-signature` carries one or more space-separated
//!   `v1,<base64 HMAC-SHA256>` over `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the base64-decoded part
//!   of the `whsec_…` secret, and `webhook-timestamp` must be within [`TOLERANCE_SECS`] of now.

use async_trait::async_trait;
use base64::{engine::general_purpose::STANDARD, Engine as _};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{
    config::GitlabTenant,
    event::{HookKind, RawEvent},
    GitlabConfig,
};
use crate::{
    domain::{Envelope, Provider, ENVELOPE_VERSION},
    error::{PortError, WebhookError},
    http::HttpRequest,
    provider::{queued_payload, route_tenant, verify_with_secret, Intake, ProviderIntake, WebhookSide},
    text,
    verify::{constant_time_eq, is_delivery_id},
};

type HmacSha256 = Hmac<Sha256>;

/// Standard Webhooks' recommended timestamp tolerance, both ways.
pub const TOLERANCE_SECS: u64 = 300;
/// Most signatures looked at in one `webhook-signature` header (key rotation needs two or three).
const MAX_SIGNATURES: usize = 8;
/// Prefix of a Standard Webhooks secret.
const SECRET_PREFIX: &str = "whsec_";

/// Why a request was not authenticated (logged, never returned in detail).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("authentication header missing")]
    Missing,
    #[error("authentication header malformed")]
    Malformed,
    #[error("token or signature mismatch")]
    Mismatch,
    #[error("timestamp outside the allowed window")]
    Stale,
}

impl AuthError {
    /// Short reason for logs.
    pub fn reason(self) -> &'static str {
        match self {
            AuthError::Missing => "authentication header missing",
            AuthError::Malformed => "authentication header malformed",
            AuthError::Mismatch => "token or signature mismatch",
            AuthError::Stale => "timestamp outside the allowed window",
        }
    }
}

/// The configured signing secret could not be used as a key (an operator error, not the sender's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the signing secret is not `whsec_` followed by base64")]
pub struct BadSigningSecret;

/// `X-Gitlab-Token` against the tenant's token, in constant time.
pub fn token(expected: &str, header: Option<&str>) -> Result<(), AuthError> {
    let header = header.ok_or(AuthError::Missing)?;
    if expected.is_empty() {
        // An empty configured token would accept an empty header: never.
        return Err(AuthError::Mismatch);
    }
    if constant_time_eq(header.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// The HMAC key of a Standard Webhooks secret: base64-decode of what follows `whsec_` (the prefix is optional).
pub fn signing_key(secret: &str) -> Result<Vec<u8>, BadSigningSecret> {
    let encoded = secret.trim();
    let encoded = encoded.strip_prefix(SECRET_PREFIX).unwrap_or(encoded);
    match STANDARD.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(BadSigningSecret),
    }
}

/// The three Standard Webhooks headers of one request.
#[derive(Clone, Copy, Debug, Default)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Verify a Standard Webhooks signature with `key` (see [`signing_key`]) at `now` (epoch seconds).
pub fn signature(key: &[u8], headers: SignedHeaders<'_>, body: &[u8], now: u64) -> Result<(), AuthError> {
    let id = headers.id.ok_or(AuthError::Missing)?;
    let timestamp = headers.timestamp.ok_or(AuthError::Missing)?;
    let signatures = headers.signature.ok_or(AuthError::Missing)?;
    // `webhook-id` goes into the signed content; a '.' inside it would make the split ambiguous.
    if id.is_empty() || id.contains('.') {
        return Err(AuthError::Malformed);
    }
    let sent_at: u64 = timestamp.trim().parse().map_err(|_| AuthError::Malformed)?;
    if now.abs_diff(sent_at) > TOLERANCE_SECS {
        return Err(AuthError::Stale);
    }
    let mut mac = HmacSha256::new_from_slice(key).map_err(|_| AuthError::Malformed)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.trim().as_bytes());
    mac.update(b".");
    mac.update(body);
    let mut saw_v1 = false;
    for candidate in signatures.split_whitespace().take(MAX_SIGNATURES) {
        // Other versions (e.g. `v1a,` asymmetric signatures) are not ours to check.
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            continue;
        };
        saw_v1 = true;
        let Ok(expected) = STANDARD.decode(encoded) else {
            continue;
        };
        if mac.clone().verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err(if saw_v1 {
        AuthError::Mismatch
    } else {
        AuthError::Malformed
    })
}

/// `v1,<base64>` for `{id}.{timestamp}.{body}`: for tests and fixtures.
pub fn sign(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac =
        HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

// ---- The webhook side ----

/// GitLab's webhook side: every configured instance (tenant) behind one route.
pub type GitlabIntake = WebhookSide<GitlabConfig>;

impl GitlabIntake {
    /// The tenant named by the URL: `…/webhooks/gitlab/<tenant>`. A bare `…/webhooks/gitlab` is accepted only
    /// when exactly one tenant is configured (so a single-instance deployment needs no tenant route).
    fn tenant_for(&self, path: &str) -> Result<&GitlabTenant, WebhookError> {
        route_tenant(path, "gitlab", &self.config.tenants, |name| {
            self.config.tenant(name)
        })
    }

    /// Every check the tenant enables must pass; after a mismatch the secret is read again (at most once a
    /// minute), so a rotated token or signing secret is honoured at once. Returns whether a signature was
    /// verified (then the signed `webhook-id` is the delivery id).
    async fn verify(
        &self,
        tenant: &GitlabTenant,
        request: &HttpRequest<'_>,
        now: u64,
    ) -> Result<bool, WebhookError> {
        let secrets = self.secrets.as_ref();
        if tenant.verify.token {
            verify_with_secret(
                secrets,
                &tenant.webhook_token_secret,
                "gitlab webhook token",
                |expected| token(expected.expose(), request.header("x-gitlab-token")).map_err(rejected),
            )
            .await?;
        }
        if tenant.verify.signature {
            let headers = SignedHeaders {
                id: request.header("webhook-id"),
                timestamp: request.header("webhook-timestamp"),
                signature: request.header("webhook-signature"),
            };
            verify_with_secret(
                secrets,
                &tenant.signing_secret_secret,
                "gitlab signing secret",
                |secret| {
                    let key = signing_key(secret.expose()).map_err(|err| {
                        WebhookError::Unavailable(PortError::permanent("gitlab signing secret", err))
                    })?;
                    signature(&key, headers, request.body, now).map_err(rejected)
                },
            )
            .await?;
        }
        Ok(tenant.verify.signature)
    }
}

#[async_trait]
impl ProviderIntake for GitlabIntake {
    fn provider(&self) -> Provider {
        Provider::Gitlab
    }

    async fn intake(&self, request: &HttpRequest<'_>, now: u64) -> Result<Intake, WebhookError> {
        let tenant = self.tenant_for(request.path)?;
        let signed = self.verify(tenant, request, now).await?;
        let hook_header = request
            .header("x-gitlab-event")
            .ok_or(WebhookError::Malformed("missing X-Gitlab-Event"))?;
        let delivery_id = delivery_id(request, signed)?;
        let Some(hook) = HookKind::from_header(hook_header) else {
            return Ok(Intake::Ignore("event never triggers"));
        };
        let raw = RawEvent::parse(request.body).map_err(|_| WebhookError::Malformed("malformed JSON"))?;
        if !raw.matches(hook) {
            return Err(WebhookError::Malformed(
                "object_kind does not match X-Gitlab-Event",
            ));
        }
        let relevant = match hook {
            HookKind::Issue | HookKind::MergeRequest => {
                raw.labels_added()
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(&tenant.label))
                    || raw
                        .new_item_description()
                        .is_some_and(|body| text::contains_ignore_ascii_case(body, &tenant.mention))
                    || (raw.action() == "update"
                        && raw
                            .assignees_added()
                            .iter()
                            .any(|user| super::triggers::is_bot_account(tenant, user)))
            }
            HookKind::Note => raw
                .new_note_text()
                .is_some_and(|body| text::contains_ignore_ascii_case(body, &tenant.mention)),
        };
        if !relevant {
            return Ok(Intake::Ignore("cannot trigger"));
        }
        let trimmed = raw.into_event(hook)?;
        let payload = queued_payload(&trimmed)?;
        Ok(Intake::Accept(Envelope {
            version: ENVELOPE_VERSION,
            provider: Provider::Gitlab,
            tenant: tenant.name.clone(),
            delivery_id: delivery_id.to_owned(),
            event: hook_header.trim().to_owned(),
            group: trimmed.thread_key(&tenant.name),
            received_at: now,
            payload,
        }))
    }
}

fn rejected(err: AuthError) -> WebhookError {
    match err {
        AuthError::Stale => WebhookError::Stale,
        other => WebhookError::Unauthorized(other.reason()),
    }
}

/// The delivery id: the signed `webhook-id` when a signature was verified, else `Idempotency-Key` (stable
/// across retries and resends), else `X-Gitlab-Event-UUID`.
fn delivery_id<'r>(request: &'r HttpRequest<'_>, signed: bool) -> Result<&'r str, WebhookError> {
    let id = if signed {
        request.header("webhook-id")
    } else {
        request
            .header("idempotency-key")
            .or_else(|| request.header("x-gitlab-event-uuid"))
    }
    .map(str::trim)
    .ok_or(WebhookError::Malformed(
        "missing Idempotency-Key and X-Gitlab-Event-UUID",
    ))?;
    // UUIDs (`Idempotency-Key`, `X-Gitlab-Event-UUID`) or `msg_…` (`webhook-id`).
    if is_delivery_id(id, b"-_:.") {
        Ok(id)
    } else {
        Err(WebhookError::Malformed("invalid delivery id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Published vector V9 (Standard Webhooks).
    const V9_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const V9_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const V9_TS: u64 = 1_614_265_330;
    const V9_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const V9_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers<'a>(ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: Some(V9_ID),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    fn key() -> Vec<u8> {
        signing_key(V9_SECRET).expect("V9 secret decodes")
    }

    #[test]
    fn published_vector_v9() {
        let ts = V9_TS.to_string();
        assert_eq!(signature(&key(), headers(&ts, V9_SIG), V9_BODY, V9_TS), Ok(()));
        assert_eq!(sign(&key(), V9_ID, V9_TS, V9_BODY), V9_SIG);
    }

    #[test]
    fn several_signatures_any_one_may_match() {
        let ts = V9_TS.to_string();
        let rotated = format!("v1,Zm9vYmFy v1a,ignored {V9_SIG}");
        assert_eq!(signature(&key(), headers(&ts, &rotated), V9_BODY, V9_TS), Ok(()));
        assert_eq!(
            signature(&key(), headers(&ts, "v1,Zm9vYmFy v1,bm9wZQ=="), V9_BODY, V9_TS),
            Err(AuthError::Mismatch)
        );
        assert_eq!(
            signature(&key(), headers(&ts, "v2,abc"), V9_BODY, V9_TS),
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn tampering_and_wrong_keys_fail() {
        let ts = V9_TS.to_string();
        assert_eq!(
            signature(&key(), headers(&ts, V9_SIG), br#"{"test": 2432232315}"#, V9_TS),
            Err(AuthError::Mismatch)
        );
        let other = signing_key("whsec_dGhpcyBpcyBhbm90aGVyIGtleQ==").expect("decodes");
        assert_eq!(
            signature(&other, headers(&ts, V9_SIG), V9_BODY, V9_TS),
            Err(AuthError::Mismatch)
        );
        // The timestamp is signed: moving it breaks the signature.
        let moved = (V9_TS + 1).to_string();
        assert_eq!(
            signature(&key(), headers(&moved, V9_SIG), V9_BODY, V9_TS),
            Err(AuthError::Mismatch)
        );
        let mut other_id = headers(&ts, V9_SIG);
        other_id.id = Some("msg_other");
        assert_eq!(
            signature(&key(), other_id, V9_BODY, V9_TS),
            Err(AuthError::Mismatch)
        );
    }

    #[test]
    fn timestamp_window_is_five_minutes_both_ways() {
        let ts = V9_TS.to_string();
        assert_eq!(
            signature(&key(), headers(&ts, V9_SIG), V9_BODY, V9_TS + 300),
            Ok(())
        );
        assert_eq!(
            signature(&key(), headers(&ts, V9_SIG), V9_BODY, V9_TS - 300),
            Ok(())
        );
        assert_eq!(
            signature(&key(), headers(&ts, V9_SIG), V9_BODY, V9_TS + 301),
            Err(AuthError::Stale)
        );
        assert_eq!(
            signature(&key(), headers(&ts, V9_SIG), V9_BODY, V9_TS - 301),
            Err(AuthError::Stale)
        );
        assert_eq!(
            signature(&key(), headers("soon", V9_SIG), V9_BODY, V9_TS),
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn missing_headers_fail() {
        let ts = V9_TS.to_string();
        for missing in 0..3 {
            let mut h = headers(&ts, V9_SIG);
            match missing {
                0 => h.id = None,
                1 => h.timestamp = None,
                _ => h.signature = None,
            }
            assert_eq!(signature(&key(), h, V9_BODY, V9_TS), Err(AuthError::Missing));
        }
    }

    #[test]
    fn secrets_decode_with_or_without_prefix() {
        assert_eq!(signing_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Ok(key()));
        assert_eq!(signing_key("whsec_not base64!"), Err(BadSigningSecret));
        assert_eq!(signing_key("whsec_"), Err(BadSigningSecret));
    }

    #[test]
    fn token_compare() {
        assert_eq!(token("s3cret", Some("s3cret")), Ok(()));
        assert_eq!(token("s3cret", Some("s3cret ")), Err(AuthError::Mismatch));
        assert_eq!(token("s3cret", Some("other")), Err(AuthError::Mismatch));
        assert_eq!(token("s3cret", None), Err(AuthError::Missing));
        assert_eq!(token("", Some("")), Err(AuthError::Mismatch));
    }
}
