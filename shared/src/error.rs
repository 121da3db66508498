//! Errors, one type per boundary, and the one place each maps to an HTTP status or a queue decision.
//!
//! - [`PortError`]: what any adapter (store, queue, secrets, provider API, OpenHands) reports, already classified
//!   as transient (retry through the queue) or permanent (record, report, never retry forever).
//! - [`WebhookError`]: the webhook edge; [`WebhookError::into_reply`] is its only mapping to HTTP.
//! - [`ProcessError`]: the worker / callback edge; [`ProcessError::disposition`] is its only mapping to the queue.

use std::time::Duration;

use crate::http::HttpReply;

/// Failure reported by a port, classified where the adapter knows best.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Worth retrying later (timeouts, 5xx, 429, throttling, a store that is busy).
    #[error("{what} is temporarily unavailable: {detail}")]
    Transient {
        what: String,
        detail: String,
        retry_after: Option<Duration>,
    },
    /// Retrying will not help (4xx other than 429, bad data, missing configuration).
    #[error("{what} refused: {detail}")]
    Permanent {
        what: String,
        status: Option<u16>,
        detail: String,
    },
    /// The thing asked for does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
}

impl PortError {
    pub fn transient(what: impl Into<String>, detail: impl ToString) -> Self {
        PortError::Transient {
            what: what.into(),
            detail: detail.to_string(),
            retry_after: None,
        }
    }
    pub fn permanent(what: impl Into<String>, detail: impl ToString) -> Self {
        PortError::Permanent {
            what: what.into(),
            status: None,
            detail: detail.to_string(),
        }
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        PortError::NotFound { what: what.into() }
    }
    pub fn is_transient(&self) -> bool {
        matches!(self, PortError::Transient { .. })
    }
    /// How long the remote asked to wait, where it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PortError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
    /// HTTP status the remote answered, where there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            PortError::Permanent { status, .. } => *status,
            _ => None,
        }
    }
}

/// Why a webhook request was not accepted. Bodies are short and never carry internals.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("signature missing or invalid")]
    Unauthorized(&'static str),
    #[error("request timestamp outside the allowed window")]
    Stale,
    #[error("request body too large")]
    TooLarge,
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("unknown route")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request cannot be verified yet (a callback for a conversation OpenHands does not list yet); the
    /// sender should retry. The reason is a fixed sentence, safe to send back.
    #[error("cannot be verified yet: {0}")]
    NotYetVerifiable(&'static str),
    /// A dependency failed after verification; the provider should redeliver.
    #[error("temporarily unavailable")]
    Unavailable(#[source] PortError),
}

impl WebhookError {
    /// The single mapping from webhook errors to HTTP answers.
    pub fn into_reply(self) -> HttpReply {
        let (status, body) = match &self {
            WebhookError::Unauthorized(_) => (401, "invalid signature"),
            WebhookError::Stale => (401, "stale request"),
            WebhookError::TooLarge => (413, "payload too large"),
            WebhookError::Malformed(what) => (400, *what),
            WebhookError::NotFound => (404, "not found"),
            WebhookError::MethodNotAllowed => (405, "method not allowed"),
            WebhookError::NotYetVerifiable(why) => (503, *why),
            WebhookError::Unavailable(_) => (503, "temporarily unavailable, retry later"),
        };
        match &self {
            WebhookError::Unavailable(source) => {
                tracing::error!(error = %source, "webhook dependency failed")
            }
            WebhookError::Unauthorized(reason) => tracing::warn!(reason, "webhook rejected: unauthorized"),
            other => tracing::info!(status, reason = %other, "webhook rejected"),
        }
        HttpReply::text(status, body)
    }
}

/// What the worker or callback could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("transient: {0}")]
    Transient(String, Option<Duration>),
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<PortError> for ProcessError {
    fn from(err: PortError) -> Self {
        match err {
            PortError::Transient { retry_after, .. } => ProcessError::Transient(err.to_string(), retry_after),
            other => ProcessError::Permanent(other.to_string()),
        }
    }
}

/// What the queue should do with a message after processing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Delete it: processed, ignored, or failed permanently (already recorded/reported).
    Done,
    /// Make it visible again later (honouring a remote `Retry-After` where there was one).
    Retry { after: Option<Duration> },
}

impl ProcessError {
    /// The single mapping from processing errors to queue decisions.
    pub fn disposition(&self) -> Disposition {
        match self {
            ProcessError::Transient(_, after) => Disposition::Retry { after: *after },
            ProcessError::Permanent(_) => Disposition::Done,
        }
    }
}
