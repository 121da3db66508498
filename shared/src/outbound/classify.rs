//! The single mapping from an [`Answer`] to success or a classified [`PortError`], the same for every remote
//! API. What differs between APIs — how they signal a rate limit, which body fields word an error — comes from
//! the client's [`Dialect`].
//!
//! 1. A rate limit (HTTP 429, or the dialect's own signal) is transient and waits what the remote asked for:
//!    `Retry-After` seconds, else until the spent quota resets (rounded up, so a retry is never early), else
//!    the dialect's default; capped at [`MAX_RETRY_AFTER`], at least a second. A 429 with no wait to name
//!    falls through to 2.
//! 2. 408, 429 and 5xx, or a body the dialect reads as a passing failure: transient, honouring `Retry-After`.
//! 3. A body (or status) the dialect reads as "no such object": [`PortError::NotFound`].
//! 4. Any other non-2xx status, or a 2xx whose body the dialect reads as a refusal: permanent, with the status.
//!
//! Details are `HTTP {status}[ {reason}][ ({kind})][: {message}]`: the status, and at most the error kind and
//! message the body states, with control characters blanked, cut to [`MAX_DETAIL_CHARS`], and left out when
//! they contain a credential sent with the request. Never the body or headers themselves.

use std::{fmt::Write as _, time::Duration};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::{header_u64, Answer, Call, MAX_DETAIL_CHARS, MAX_RETRY_AFTER};
use crate::{error::PortError, secret::SecretString};

/// How one remote API speaks, as far as classifying its answers goes.
pub(crate) trait Dialect {
    /// The wait for a rate limit that names none (no `Retry-After`, no reset); `None` (the default) where the
    /// API suggests none.
    const DEFAULT_RATE_LIMIT_WAIT: Option<Duration> = None;
    /// Whether details name the status with its reason phrase (`HTTP 404 Not Found`).
    const NAMES_REASON: bool = false;
    /// Whether a 2xx body can carry an error or a rate limit (GraphQL `errors`, an `ok: false` envelope):
    /// only then is [`Dialect::read`] called for a 2xx answer.
    const ERRORS_IN_SUCCESS: bool = false;

    /// What `answer` says beyond its status.
    fn read(&self, answer: &Answer) -> Signals;
}

/// What an answer says, in one API's words.
#[derive(Debug, Default)]
pub(crate) struct Signals {
    /// A rate limit whatever the status (e.g. a 403 with a spent quota, an error code in the body).
    pub(crate) rate_limited: bool,
    /// When the spent quota resets (epoch milliseconds).
    pub(crate) quota_reset_ms: Option<u64>,
    /// The body reports a failure that a retry may fix.
    pub(crate) transient: bool,
    /// The body (or status) says the object asked for does not exist.
    pub(crate) not_found: bool,
    /// The body reports a refusal, even under a 2xx status.
    pub(crate) refused: bool,
    /// The error's kind or code, as the body names it.
    pub(crate) error_kind: Option<String>,
    /// The error's message, as the body words it.
    pub(crate) error_message: Option<String>,
}

/// The single mapping from `answer` to success or a classified [`PortError`] (see the module docs).
pub(crate) fn classify<D: Dialect>(dialect: &D, call: &Call<'_>, answer: &Answer) -> Result<(), PortError> {
    let status = answer.status;
    let success = answer.is_success();
    let said = if success && !D::ERRORS_IN_SUCCESS {
        Signals::default()
    } else {
        dialect.read(answer)
    };
    let retry_after = retry_after(&answer.headers);
    if status == 429 || said.rate_limited {
        let until_reset = said
            .quota_reset_ms
            .zip(call.now_ms)
            .map(|(reset_ms, now_ms)| Duration::from_secs(secs_until(reset_ms, now_ms)));
        let wait = retry_after.or(until_reset).or(D::DEFAULT_RATE_LIMIT_WAIT);
        if let Some(wait) = wait.map(|wait| wait.clamp(Duration::from_secs(1), MAX_RETRY_AFTER)) {
            return Err(PortError::Transient {
                what: call.what.to_owned(),
                detail: format!("rate limited (HTTP {status}); retry in {} s", wait.as_secs()),
                retry_after: Some(wait),
            });
        }
    }
    if success && !said.transient && !said.not_found && !said.refused {
        return Ok(());
    }
    let detail = detail::<D>(status, &said, call.credentials);
    if matches!(status, 408 | 429 | 500..=599) || said.transient {
        return Err(PortError::Transient {
            what: call.what.to_owned(),
            detail,
            retry_after,
        });
    }
    if said.not_found {
        return Err(PortError::not_found(call.what));
    }
    Err(PortError::Permanent {
        what: call.what.to_owned(),
        status: (!success).then_some(status),
        detail,
    })
}

/// `Retry-After` in seconds, capped at [`MAX_RETRY_AFTER`]. The HTTP-date form is not read: none of the
/// remotes Hookline talks to send it.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_u64(headers, RETRY_AFTER.as_str()).map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Whole seconds from `now_ms` until the epoch instant `reset_ms` (a rate-limit reset, both in milliseconds),
/// rounded up and at least one: a retry after that wait is never before the reset, whatever fraction of a
/// second `now` is at.
fn secs_until(reset_ms: u64, now_ms: u64) -> u64 {
    reset_ms.saturating_sub(now_ms).div_ceil(1000).max(1)
}

/// The first of `fields` that is a string at the top of a JSON `body` (`{"message": "…"}`).
pub(crate) fn string_field(body: &[u8], fields: &[&str]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    fields
        .iter()
        .find_map(|field| value.get(*field)?.as_str().map(str::to_owned))
}

/// `HTTP {status}[ {reason}][ ({kind})][: {message}]`.
fn detail<D: Dialect>(status: u16, said: &Signals, credentials: &[&SecretString]) -> String {
    let mut detail = format!("HTTP {status}");
    let reason = D::NAMES_REASON
        .then(|| http::StatusCode::from_u16(status).ok()?.canonical_reason())
        .flatten();
    if let Some(reason) = reason {
        let _ = write!(detail, " {reason}");
    }
    if let Some(kind) = said
        .error_kind
        .as_deref()
        .and_then(|kind| remote_text(kind, credentials))
    {
        let _ = write!(detail, " ({kind})");
    }
    if let Some(message) = said
        .error_message
        .as_deref()
        .and_then(|message| remote_text(message, credentials))
    {
        let _ = write!(detail, ": {message}");
    }
    detail
}

/// Text a remote wrote, fit for an error detail: `None` when it contains a credential sent with the request
/// (or is blank), else with control characters blanked and cut to [`MAX_DETAIL_CHARS`].
fn remote_text(text: &str, credentials: &[&SecretString]) -> Option<String> {
    let leaks = credentials.iter().any(|credential| {
        let secret = credential.expose().trim();
        // `Bearer <token>`, `Basic <base64>`: the token alone leaks as much as the whole header value.
        let token = secret.rsplit(' ').next().unwrap_or(secret);
        [secret, token]
            .iter()
            .any(|secret| !secret.is_empty() && text.contains(secret))
    });
    if leaks {
        return None;
    }
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| truncate(clean, MAX_DETAIL_CHARS))
}

/// `text` cut to `max_chars` characters, with `…` where it was cut.
pub(super) fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;
    use crate::outbound::testing::{answer, wait};

    /// A dialect that reads `{"message": …}` and, on a 2xx, `{"refused": …}`.
    struct Plain;

    impl Dialect for Plain {
        const ERRORS_IN_SUCCESS: bool = true;
        fn read(&self, answer: &Answer) -> Signals {
            Signals {
                refused: answer.is_success() && string_field(&answer.body, &["refused"]).is_some(),
                error_message: string_field(&answer.body, &["message"]),
                ..Signals::default()
            }
        }
    }

    fn classify_plain(status: u16, headers: &[(&'static str, &str)], body: &str) -> Result<(), PortError> {
        classify(&Plain, &Call::new("t"), &answer(status, headers, body))
    }

    #[test]
    fn statuses_are_classified_once_for_every_api() {
        assert!(classify_plain(204, &[], "").is_ok());
        assert_eq!(
            wait(classify_plain(503, &[("retry-after", "12")], "")),
            Some(Duration::from_secs(12))
        );
        assert_eq!(wait(classify_plain(408, &[], "")), None);
        // A 429 that names no wait, from an API that suggests none: transient without one.
        assert_eq!(wait(classify_plain(429, &[], "")), None);
        assert_eq!(
            wait(classify_plain(429, &[("retry-after", "0")], "")),
            Some(Duration::from_secs(1))
        );
        match classify_plain(409, &[], r#"{"message":"conflict"}"#) {
            Err(PortError::Permanent {
                status: Some(409),
                detail,
                ..
            }) => assert_eq!(detail, "HTTP 409: conflict"),
            other => panic!("expected permanent 409, got {other:?}"),
        }
        match classify_plain(200, &[], r#"{"refused":"yes","message":"no"}"#) {
            Err(PortError::Permanent {
                status: None, detail, ..
            }) => assert_eq!(detail, "HTTP 200: no"),
            other => panic!("expected a permanent refusal, got {other:?}"),
        }
    }

    #[test]
    fn details_never_echo_credentials_and_stay_short() {
        let token = SecretString::new("Bearer tok-123");
        let credentials = [&token];
        let call = Call::new("t").credentials(&credentials);
        let echoed = answer(401, &[], r#"{"message":"bad token tok-123"}"#);
        match classify(&Plain, &call, &echoed) {
            Err(PortError::Permanent { detail, .. }) => assert_eq!(detail, "HTTP 401"),
            other => panic!("expected permanent 401, got {other:?}"),
        }
        let long = format!(r#"{{"message":"a\nb{}"}}"#, "x".repeat(1000));
        match classify(&Plain, &call, &answer(400, &[], &long)) {
            Err(PortError::Permanent { detail, .. }) => {
                assert!(detail.starts_with("HTTP 400: a b"), "{detail}");
                assert_eq!(detail.chars().count(), "HTTP 400: ".len() + MAX_DETAIL_CHARS + 1);
            }
            other => panic!("expected permanent 400, got {other:?}"),
        }
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("999999"));
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
    }

    /// GIVEN a reset at second 1005 seen at 1000.3 s THEN the wait is 5 s: 4 would retry at 1004.3, before it.
    #[test]
    fn a_reset_wait_is_rounded_up_and_at_least_a_second() {
        for (reset_ms, now_ms, secs) in [
            (1_005_000, 1_000_300, 5),
            (1_005_000, 1_000_000, 5),
            (1_005_000, 1_004_999, 1),
            (1_005_000, 1_005_000, 1),
            (1_005_000, 2_000_000, 1),
        ] {
            let wait = secs_until(reset_ms, now_ms);
            assert_eq!(wait, secs, "reset {reset_ms} at {now_ms}");
            assert!(now_ms + wait * 1000 >= reset_ms);
        }
    }
}
