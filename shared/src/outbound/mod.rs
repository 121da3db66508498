//! The one outbound HTTP toolkit: every API client (the five providers' and OpenHands') sends, reads and
//! classifies its requests here, so a timeout, a rate limit or an error body means the same thing whoever
//! answered.
//!
//! - [`Call`]: one request as errors name it, with the credentials it carries (never echoed in an error), its
//!   timeout ([`REQUEST_TIMEOUT`] unless the call says otherwise) and, for reset headers, the time it was made.
//! - [`send`]: the request sent and its [`Answer`] read (a 2xx in full, an error body up to
//!   [`MAX_ERROR_BODY_BYTES`]); only a missing answer is an error here, classified by [`transport_error`].
//! - [`classify`]: the single mapping from an answer to success or a [`PortError`]. A client supplies only its
//!   [`Dialect`]: how its API signals a rate limit and which body fields word its errors. Clients call [`send`]
//!   and [`classify`] apart, to log the outcome with their own fields ([`log_outcome!`]; GitHub retries a 401
//!   first); [`found`] reads a 404 as an object that is not there.
//! - [`scan_pages`]: a listing read page after page, up to a page limit, whatever its cursor.
//! - [`body`]: the hidden status marker and bodies cut to a provider's size limit.
//! - [`status`]: the status message every provider posts, finds and edits: its tagged body, the test for our
//!   own tagged message, the id its [`StatusRef`](crate::domain::StatusRef) holds, an edit's outcome.
//! - JSON bodies, headers, timestamps, credentials from the secret store and URL encoding, read and built
//!   without leaking their contents into errors.

mod body;
mod classify;
mod pages;
mod status;

use std::{fmt::Write as _, time::Duration};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use reqwest::{header::HeaderMap, RequestBuilder, Response};
use serde::de::DeserializeOwned;

#[cfg(test)]
pub(crate) use self::body::status_tag;
pub(crate) use self::{
    body::{checked_marker, fit, MARKER_PREFIX},
    classify::{classify, retry_after, string_field, Dialect, Signals},
    pages::{scan_pages, Page, Scanned},
    status::{edited, is_status, status_id, stop_at, StatusFormat},
};
use crate::{error::PortError, ports::Secrets, secret::SecretString};

/// Upper bound for one request, so a stalled connection cannot eat a Lambda's whole budget.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound for a request made while a webhook waits for its answer (the provider gives up after a few
/// seconds and redelivers).
pub(crate) const INTAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait taken from `Retry-After` or a rate-limit reset; guards against a skewed clock or a nonsense
/// header.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Most bytes of an error body read while looking for its message.
pub(crate) const MAX_ERROR_BODY_BYTES: usize = 16 * 1024;
/// Most a 2xx answer may hold. Every answer Hookline reads is a page of JSON far below this; a larger one (a
/// sandbox's runaway `ask_agent` reply, say) is refused before it can exhaust a small Lambda's memory.
pub(crate) const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Longest remote-provided text (an error message, a transport failure) copied into an error detail.
pub(crate) const MAX_DETAIL_CHARS: usize = 200;

/// One outbound request as errors and classification see it.
#[derive(Clone, Copy)]
pub(crate) struct Call<'a> {
    what: &'a str,
    credentials: &'a [&'a SecretString],
    timeout: Duration,
    now_ms: Option<u64>,
    status_is_enough: bool,
}

impl<'a> Call<'a> {
    /// A call named `what` in errors (`GitHub API (add reaction)`), with the [`REQUEST_TIMEOUT`].
    pub(crate) fn new(what: &'a str) -> Self {
        Self {
            what,
            credentials: &[],
            timeout: REQUEST_TIMEOUT,
            now_ms: None,
            status_is_enough: false,
        }
    }

    /// The credentials sent with the request: remote text containing one is never copied into an error.
    pub(crate) fn credentials(self, credentials: &'a [&'a SecretString]) -> Self {
        Self { credentials, ..self }
    }

    pub(crate) fn timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// When the call is made (epoch milliseconds), for waits counted to a rate-limit reset. A call without it
    /// never waits for a reset, only for `Retry-After` or the dialect's default.
    pub(crate) fn at(self, now_ms: u64) -> Self {
        Self {
            now_ms: Some(now_ms),
            ..self
        }
    }

    /// For a call whose 2xx status is the whole contract: a 2xx body that breaks off reads as empty rather
    /// than failing a request the remote has already acted on.
    pub(crate) fn status_is_enough(self) -> Self {
        Self {
            status_is_enough: true,
            ..self
        }
    }

    pub(crate) fn what(&self) -> &'a str {
        self.what
    }
}

/// A remote's answer: a 2xx read in full up to [`MAX_BODY_BYTES`], an error body read up to
/// [`MAX_ERROR_BODY_BYTES`].
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Read `response`. A 2xx body that breaks off is a transport error like a failed send (unless the call's
    /// status is enough); an error body that breaks off just ends there, since its status already decides.
    async fn read(mut response: Response, call: &Call<'_>) -> Result<Self, PortError> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = if response.status().is_success() {
            let too_large = || {
                PortError::permanent(
                    call.what(),
                    format!("the answer is larger than {MAX_BODY_BYTES} bytes"),
                )
            };
            if response
                .content_length()
                .is_some_and(|length| length > MAX_BODY_BYTES as u64)
            {
                return Err(too_large());
            }
            let mut body = Vec::new();
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) if body.len() + chunk.len() > MAX_BODY_BYTES => return Err(too_large()),
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    Ok(None) => break,
                    Err(_) if call.status_is_enough => break,
                    Err(err) => return Err(transport_error(call, err)),
                }
            }
            body
        } else {
            let mut body = Vec::new();
            while body.len() < MAX_ERROR_BODY_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            body.truncate(MAX_ERROR_BODY_BYTES);
            body
        };
        Ok(Self {
            status,
            headers,
            body,
        })
    }
}

/// Send `request` with the call's timeout and read the answer. Only a missing answer is an error here; its
/// status is left to [`classify`].
pub(crate) async fn send(call: &Call<'_>, request: RequestBuilder) -> Result<Answer, PortError> {
    let response = request
        .timeout(call.timeout)
        .send()
        .await
        .map_err(|err| transport_error(call, err))?;
    Answer::read(response, call).await
}

/// Log a classified call's outcome with the client's own fields, then `status` and (on failure) `error`: done
/// at DEBUG, a failure a retry may fix at WARN, a refusal at INFO. `$api` names the remote in the messages
/// (`"Jira"`: `Jira API call`, `Jira API call failed; retryable`, `Jira API call refused`). A macro because a
/// log line's level and fields are fixed where it is written.
macro_rules! log_outcome {
    ($outcome:expr, $api:literal, status = $status:expr, $($field:tt)+) => {
        match $outcome {
            Ok(_) => tracing::debug!($($field)+, status = $status, concat!($api, " API call")),
            Err(err) if err.is_transient() => tracing::warn!(
                $($field)+,
                status = $status,
                error = %err,
                concat!($api, " API call failed; retryable")
            ),
            Err(err) => tracing::info!(
                $($field)+,
                status = $status,
                error = %err,
                concat!($api, " API call refused")
            ),
        }
    };
}
pub(crate) use log_outcome;

/// A call's result, with "the object asked for is not there" (HTTP 404) as `None`; other errors as they came.
pub(crate) fn found<T>(result: Result<T, PortError>) -> Result<Option<T>, PortError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.status() == Some(404) => Ok(None),
        Err(err) => Err(err),
    }
}

/// A request that got no answer: transient (timed out, connection refused or reset), except what retrying
/// cannot fix (a request that could not be built, a redirect loop). The detail names the kind of failure and
/// then the cause chain, without the URL (the call's name says what was asked).
pub(crate) fn transport_error(call: &Call<'_>, err: reqwest::Error) -> PortError {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_builder() {
        "could not build the request"
    } else {
        "request failed"
    };
    let permanent = err.is_builder() || err.is_redirect();
    let err = err.without_url();
    let mut detail = kind.to_owned();
    let mut cause: Option<&dyn std::error::Error> = Some(&err);
    while let Some(current) = cause {
        let text = current.to_string();
        // Layers often repeat their source's text; say each thing once.
        if !detail.contains(&text) {
            let _ = write!(detail, ": {text}");
        }
        cause = current.source();
    }
    let detail = classify::truncate(&detail, MAX_DETAIL_CHARS);
    if permanent {
        PortError::permanent(call.what, detail)
    } else {
        PortError::transient(call.what, detail)
    }
}

/// A 2xx body as `T`; a body that does not parse is permanent (the remote speaks another protocol), reported
/// by position only: serde's text can quote values (tokens, session keys).
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

/// A JSON value already read from a 2xx body (a Web API object, GraphQL `data`) as `T`; one that does not fit is
/// permanent.
pub(crate) fn parse_value<T: DeserializeOwned>(what: &str, value: serde_json::Value) -> Result<T, PortError> {
    serde_json::from_value(value).map_err(|e| PortError::permanent(what, format!("unexpected answer: {e}")))
}

/// A header's value, trimmed, when it is text.
pub(crate) fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
}

/// A header's value as a number (`Retry-After` seconds, rate-limit resets and counters).
pub(crate) fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header_str(headers, name).and_then(|value| value.parse().ok())
}

/// A credential from the secret store. A missing one is configuration (permanent), never
/// [`PortError::NotFound`], which callers read as "the object asked for is gone".
pub(crate) async fn credential(
    secrets: &dyn Secrets,
    name: &str,
    what: &str,
) -> Result<SecretString, PortError> {
    match secrets.get(name).await {
        Err(PortError::NotFound { .. }) => Err(PortError::permanent(
            what,
            format!("secret {name} does not exist"),
        )),
        other => other,
    }
}

/// What a query value keeps: RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// What a path segment keeps: the unreserved characters but `.`, so `..` cannot become a dot segment.
const PATH_SEGMENT: &AsciiSet = &QUERY_VALUE.add(b'.');

/// Percent-encode one URL path segment. Dots are encoded too, so `..` cannot become a dot segment.
pub(crate) fn encode_path_segment(value: &str) -> String {
    utf8_percent_encode(value, PATH_SEGMENT).to_string()
}

/// Percent-encode a query value (unreserved characters kept).
pub(crate) fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// Epoch seconds of an RFC 3339 timestamp as the remotes write them: `2024-05-01T12:00:00.000Z`, or with a
/// numeric offset, with a colon (`+02:00`) or without one (`+0200`).
pub(crate) fn parse_timestamp(value: &str) -> Option<u64> {
    let value = value.trim();
    let parse_utc = |v: &str| {
        humantime::parse_rfc3339_weak(v)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs()))
    };
    if let Some(utc) = value.strip_suffix(['Z', 'z']) {
        return parse_utc(utc);
    }
    // `…±HH:MM` or `…±HHMM`: parse the local time, then undo the offset.
    let offset_at = |len: usize| {
        let at = value.len().checked_sub(len)?;
        matches!(value.as_bytes()[at], b'+' | b'-').then_some(at)
    };
    let Some(at) = offset_at(6).or_else(|| offset_at(5)) else {
        return parse_utc(value);
    };
    let (local, offset) = value.split_at(at);
    let digits = match offset.len() {
        6 if offset.as_bytes()[3] == b':' => format!("{}{}", &offset[1..3], &offset[4..]),
        5 => offset[1..].to_owned(),
        _ => return None,
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let offset_secs =
        sign * (digits[..2].parse::<i64>().ok()? * 3600 + digits[2..].parse::<i64>().ok()? * 60);
    let local = i64::try_from(parse_utc(local)?).ok()?;
    u64::try_from(local - offset_secs).ok()
}

/// Answers built by hand, for the clients' classification tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::time::Duration;

    use reqwest::header::{HeaderMap, HeaderValue};

    use super::{classify, Answer, Call, Dialect, MAX_RETRY_AFTER};
    use crate::error::PortError;

    /// [`classify`] of `answer` to a call made at `now_ms`.
    pub(crate) fn classify_at(dialect: &impl Dialect, answer: &Answer, now_ms: u64) -> Result<(), PortError> {
        classify(dialect, &Call::new("t").at(now_ms), answer)
    }

    /// The wait of `answer` classified at `now_ms`; panics unless it is a transient error.
    pub(crate) fn wait_at(dialect: &impl Dialect, answer: &Answer, now_ms: u64) -> Option<Duration> {
        wait(classify_at(dialect, answer, now_ms))
    }

    /// What [`classify`] does alike whatever the dialect: a 2xx succeeds; a 5xx waits its `Retry-After` or
    /// names no wait; a 429 waits its `Retry-After`, capped at [`MAX_RETRY_AFTER`], else the dialect's default.
    pub(crate) fn assert_common_classification<D: Dialect>(dialect: &D) {
        assert!(classify_at(dialect, &answer(201, &[], ""), 0).is_ok(), "HTTP 201");
        for (status, headers, expected) in [
            (503, &[("retry-after", "12")][..], Some(Duration::from_secs(12))),
            (502, &[], None),
            (429, &[("retry-after", "7")], Some(Duration::from_secs(7))),
            (429, &[("retry-after", "999999")], Some(MAX_RETRY_AFTER)),
            (429, &[], D::DEFAULT_RATE_LIMIT_WAIT),
        ] {
            let got = wait_at(dialect, &answer(status, headers, ""), 0);
            assert_eq!(got, expected, "HTTP {status} with {headers:?}");
        }
    }

    /// An answer with `status`, `headers` and `body`.
    pub(crate) fn answer(status: u16, headers: &[(&'static str, &str)], body: &str) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                map.insert(*name, value);
            }
        }
        Answer {
            status,
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    /// The wait of a transient error; panics on anything else.
    pub(crate) fn wait<T: std::fmt::Debug>(result: Result<T, PortError>) -> Option<Duration> {
        match result {
            Err(PortError::Transient { retry_after, .. }) => retry_after,
            other => panic!("expected a transient error, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_z_fraction_or_offset() {
        assert_eq!(parse_timestamp("2024-05-01T12:00:00Z"), Some(1_714_564_800));
        assert_eq!(parse_timestamp("2024-05-01T12:00:00.123Z"), Some(1_714_564_800));
        assert_eq!(
            parse_timestamp("2024-05-01T14:00:00.000+02:00"),
            Some(1_714_564_800)
        );
        assert_eq!(parse_timestamp("2024-05-01T10:30:00-01:30"), Some(1_714_564_800));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp(""), None);
    }

    #[test]
    fn timestamps_with_an_offset_without_a_colon() {
        assert_eq!(
            parse_timestamp("2024-04-30T12:00:00.000+0000"),
            Some(1_714_478_400)
        );
        assert_eq!(
            parse_timestamp("2024-04-30T14:00:00.000+0200"),
            Some(1_714_478_400)
        );
        assert_eq!(
            parse_timestamp("2024-04-30T07:00:00.5-05:00"),
            Some(1_714_478_400)
        );
        assert_eq!(parse_timestamp("2024-04-30T12:00:00Z"), Some(1_714_478_400));
        assert_eq!(parse_timestamp("2024-04-30T12:00:00.000+zz00"), None);
    }

    #[test]
    fn path_segments_and_query_values_are_encoded() {
        assert_eq!(encode_path_segment("dependabot[bot]"), "dependabot%5Bbot%5D");
        assert_eq!(encode_path_segment(".."), "%2E%2E");
        assert_eq!(
            encode_query_value("dXNlcjpVMEc5V0ZYTlo="),
            "dXNlcjpVMEc5V0ZYTlo%3D"
        );
        assert_eq!(encode_query_value("1515449522.000016"), "1515449522.000016");
        assert_eq!(encode_query_value("a&b c"), "a%26b%20c");
    }

    #[tokio::test]
    async fn a_missing_credential_is_configuration_not_a_missing_object() {
        let secrets = crate::memory::MemorySecrets::new();
        secrets.insert("svc/token", "t0ken");
        let found = credential(&secrets, "svc/token", "svc").await.expect("present");
        assert_eq!(found.expose(), "t0ken");
        let missing = credential(&secrets, "svc/other", "svc").await;
        assert!(
            matches!(&missing, Err(PortError::Permanent { detail, .. }) if detail == "secret svc/other does not exist"),
            "{missing:?}"
        );
    }
}
