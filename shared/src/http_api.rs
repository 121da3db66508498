//! What every provider's HTTP API client shares: the answer read in full, transport failures classified once,
//! JSON bodies and headers read without leaking their contents into errors. Each client keeps its own status
//! classification, since the providers signal rate limits differently.

use std::fmt::Write as _;

use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

use crate::error::PortError;

/// A provider's answer, read in full.
pub(crate) struct ApiResponse {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl ApiResponse {
    /// Read `response` to the end; a failure while reading is a transport error like a failed send.
    pub(crate) async fn read(response: reqwest::Response, what: &str) -> Result<Self, PortError> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|err| transport_error(what, &err))?
            .to_vec();
        Ok(Self {
            status,
            headers,
            body,
        })
    }
}

/// A request that got no answer: transient (connection refused, reset, timed out), except what retrying cannot
/// fix (a request that could not be built, a redirect loop). The detail keeps the whole cause chain.
pub(crate) fn transport_error(what: &str, err: &reqwest::Error) -> PortError {
    let mut detail = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let _ = write!(detail, ": {cause}");
        source = cause.source();
    }
    if err.is_builder() || err.is_redirect() {
        PortError::permanent(what, detail)
    } else {
        PortError::transient(what, detail)
    }
}

/// A 2xx body as `T`; a body that does not parse is permanent, reported by position only (never its text).
pub(crate) fn parse_json<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, PortError> {
    serde_json::from_slice(body).map_err(|err| {
        PortError::permanent(
            what,
            format!(
                "unexpected response body ({:?} error at line {}, column {})",
                err.classify(),
                err.line(),
                err.column()
            ),
        )
    })
}

/// A header's value, trimmed, when it is text.
pub(crate) fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
}

/// A header's value as a number (`Retry-After` seconds, rate-limit resets).
pub(crate) fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header_str(headers, name).and_then(|value| value.parse().ok())
}

/// Whole seconds from `now_ms` until the epoch instant `reset_ms` (a rate-limit reset, both in milliseconds),
/// rounded up and at least one: a retry after that wait is never before the reset, whatever fraction of a
/// second `now` is at.
pub(crate) fn secs_until(reset_ms: u64, now_ms: u64) -> u64 {
    reset_ms.saturating_sub(now_ms).div_ceil(1000).max(1)
}

/// Epoch seconds of an RFC 3339 timestamp as the providers write them: `2024-05-01T12:00:00.000Z`, or with a
/// numeric offset (`+02:00`, as some GitLab instances do).
pub(crate) fn parse_timestamp(value: &str) -> Option<u64> {
    let value = value.trim();
    let parse_utc = |v: &str| {
        humantime::parse_rfc3339_weak(v)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs()))
    };
    if let Some(utc) = value.strip_suffix('Z') {
        return parse_utc(utc);
    }
    // `…±HH:MM`: parse the local time, then undo the offset.
    let split = value.len().checked_sub(6)?;
    let (local, offset) = (value.get(..split)?, value.get(split..)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1i64,
        b'-' => -1i64,
        _ => return parse_utc(value),
    };
    let (hours, minutes) = offset.get(1..)?.split_once(':')?;
    let offset_secs = sign * (hours.parse::<i64>().ok()? * 3600 + minutes.parse::<i64>().ok()? * 60);
    let local = i64::try_from(parse_utc(local)?).ok()?;
    u64::try_from(local - offset_secs).ok()
}
