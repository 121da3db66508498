//! Slack's request signature (providers.md §3.1): `X-Slack-Signature: v0=<hex>` where the hex is
//! HMAC-SHA256(signing secret, `v0:{X-Slack-Request-Timestamp}:{raw body}`), compared in constant time, and the
//! timestamp must be within five minutes of now (replay window).

use crate::verify;

/// Signature header.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// Timestamp header (epoch seconds).
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Largest accepted distance between the request timestamp and now, either way.
pub const MAX_SKEW_SECS: u64 = 5 * 60;

/// Why a request's signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlackAuthError {
    /// A header is absent.
    Missing(&'static str),
    /// A header does not have the documented form.
    Malformed(&'static str),
    /// The HMAC does not match (tampered body, wrong secret, other tenant's secret).
    Mismatch,
    /// The timestamp is outside the window (replay or badly skewed clock).
    Stale,
}

impl SlackAuthError {
    /// Short reason for logs.
    pub fn reason(self) -> &'static str {
        match self {
            SlackAuthError::Missing(what) | SlackAuthError::Malformed(what) => what,
            SlackAuthError::Mismatch => "signature mismatch",
            SlackAuthError::Stale => "timestamp outside the window",
        }
    }
}

/// Verify a request: `timestamp` and `signature` are the header values, `body` the raw bytes, `now` epoch
/// seconds. The signature is checked before the window so a forger learns nothing from the answer.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: u64,
) -> Result<(), SlackAuthError> {
    let timestamp = timestamp.ok_or(SlackAuthError::Missing("missing X-Slack-Request-Timestamp"))?;
    let signature = signature.ok_or(SlackAuthError::Missing("missing X-Slack-Signature"))?;
    let ts = timestamp.trim();
    if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SlackAuthError::Malformed("malformed X-Slack-Request-Timestamp"));
    }
    let ts_secs: u64 = ts
        .parse()
        .map_err(|_| SlackAuthError::Malformed("malformed X-Slack-Request-Timestamp"))?;
    let hex = signature
        .trim()
        .strip_prefix("v0=")
        .ok_or(SlackAuthError::Malformed("X-Slack-Signature is not v0"))?;
    verify::hmac_sha256_hex(secret, &base_string(ts, body), hex).map_err(|err| match err {
        verify::SignatureError::Mismatch => SlackAuthError::Mismatch,
        _ => SlackAuthError::Malformed("malformed X-Slack-Signature"),
    })?;
    if now.abs_diff(ts_secs) > MAX_SKEW_SECS {
        return Err(SlackAuthError::Stale);
    }
    Ok(())
}

/// `v0=<lowercase hex>` for `body` at `timestamp`: what Slack sends (for tests and fixtures).
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!("v0={}", verify::sign_hex(secret, &base_string(timestamp, body)))
}

fn base_string(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut base = Vec::with_capacity(body.len() + timestamp.len() + 4);
    base.extend_from_slice(b"v0:");
    base.extend_from_slice(timestamp.as_bytes());
    base.push(b':');
    base.extend_from_slice(body);
    base
}
