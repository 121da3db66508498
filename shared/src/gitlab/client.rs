//! GitLab REST v4 client implementing [`crate::ports::SourceClient`] (providers.md §2.4).
//!
//! - A [`SourceRef`] is interpreted in one place, `GitlabClient::thread`: it picks the tenant (base URL and
//!   API token) the source belongs to and builds the issue / merge request URL from numeric ids only.
//! - Every call goes through `GitlabClient::call` with `PRIVATE-TOKEN` (a bot user's or service account's
//!   personal access token, or a project/group access token) read from `gitlab/<tenant>/api-token`.
//! - `classify_response` is the only place a GitLab answer becomes a [`PortError`]: 429 is transient with the
//!   wait GitLab asks for (`Retry-After`, else `RateLimit-Reset`), 5xx are transient, other 4xx permanent.
//!
//! Hookline's notes carry an invisible marker (`<!-- hookline:… -->`) so a status note can be found again
//! after a crash and so Hookline's own text never feeds back into a prompt.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use reqwest::{
    header::{ACCEPT, RETRY_AFTER},
    Method,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{config::GitlabTenant, module::valid_discussion_id, GitlabConfig, GitlabSource, GitlabTarget};
use crate::{
    clock::Clock,
    domain::{SourceRef, StatusRef},
    error::PortError,
    http_api::{
        header_str, header_u64, parse_json, parse_timestamp, secs_until, transport_error, ApiResponse,
    },
    ports::{ContextMessage, Secrets, SourceClient},
    text,
};

/// Upper bound for one request, so a stalled connection cannot eat a Lambda's whole budget.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Page size for note listings (GitLab's maximum).
pub const PAGE_SIZE: u32 = 100;
/// Most pages read when scanning a thread's notes.
pub const MAX_PAGES: u32 = 5;
/// Most earlier messages [`SourceClient::thread_context`] returns (the newest ones are kept).
pub const MAX_CONTEXT_MESSAGES: usize = 50;
/// Wait for a 429 that names no time (some GitLab limiters send none).
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// Lowest access level that may trigger runs: Developer.
pub const MIN_ACCESS_LEVEL: u64 = 30;
/// Start of the invisible marker in Hookline's notes.
pub const MARKER_PREFIX: &str = "<!-- hookline:";

/// Longest wait taken from rate-limit headers; guards against a skewed clock or a nonsense header.
const MAX_RATE_LIMIT_WAIT_SECS: u64 = 3600;
/// GitLab's limit on a note body, in characters.
const MAX_NOTE_CHARS: usize = 1_000_000;
const MAX_MARKER_LEN: usize = 200;
const TRUNCATION_NOTE: &str = "\n\n… (truncated)";
const MAX_ERROR_MESSAGE_CHARS: usize = 200;

/// How an operation is named in errors: `GitLab API (create note)`.
fn what(op: &str) -> String {
    format!("GitLab API ({op})")
}

/// The marker embedded in a status note: `<!-- hookline:{marker} -->`.
pub fn marker_tag(marker: &str) -> String {
    format!("{MARKER_PREFIX}{marker} -->")
}

/// What the client needs of one tenant.
#[derive(Clone, Debug)]
struct TenantApi {
    api_url: String,
    bot_username: String,
    api_token_secret: String,
}

/// [`SourceClient`] for GitLab, acting as each tenant's bot account.
pub struct GitlabClient {
    http: reqwest::Client,
    tenants: HashMap<String, TenantApi>,
    secrets: Arc<dyn Secrets>,
    clock: Arc<dyn Clock>,
}

impl GitlabClient {
    /// A client for every tenant in `config`; API tokens are read from `secrets` on use.
    pub fn new(
        http: reqwest::Client,
        config: GitlabConfig,
        secrets: Arc<dyn Secrets>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let tenants = config
            .tenants
            .iter()
            .map(|t: &GitlabTenant| {
                (
                    t.name.clone(),
                    TenantApi {
                        api_url: t.api_url.trim_end_matches('/').to_owned(),
                        bot_username: t.bot_username.clone(),
                        api_token_secret: t.api_token_secret.clone(),
                    },
                )
            })
            .collect();
        Self {
            http,
            tenants,
            secrets,
            clock,
        }
    }

    /// The one place a [`SourceRef`] is interpreted: other providers' variants and unknown tenants are refused.
    fn thread<'a>(&'a self, source: &'a SourceRef) -> Result<Thread<'a>, PortError> {
        let SourceRef::Gitlab(source) = source else {
            return Err(PortError::permanent(
                "gitlab client",
                format!("cannot act on a {} source", source.provider()),
            ));
        };
        let tenant = self.tenants.get(&source.tenant).ok_or_else(|| {
            PortError::permanent(
                "gitlab client",
                format!("tenant {:?} is not configured", source.tenant),
            )
        })?;
        if let Some(discussion) = source.target.discussion_id() {
            if !valid_discussion_id(discussion) {
                return Err(PortError::permanent(
                    "gitlab client",
                    format!("invalid discussion id {discussion:?}"),
                ));
            }
        }
        let project_url = format!("{}/projects/{}", tenant.api_url, source.project_id);
        let item_url = format!("{project_url}/{}/{}", source.noteable.api_segment(), source.iid);
        Ok(Thread {
            source,
            tenant,
            project_url,
            item_url,
        })
    }

    /// One REST call with the tenant's API token, classified.
    async fn call(
        &self,
        thread: &Thread<'_>,
        op: &'static str,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<ApiResponse, PortError> {
        let what = what(op);
        let token = match self.secrets.get(&thread.tenant.api_token_secret).await {
            Ok(token) => token,
            Err(PortError::NotFound { .. }) => {
                return Err(PortError::permanent(
                    "gitlab api token",
                    format!("secret {} does not exist", thread.tenant.api_token_secret),
                ))
            }
            Err(err) => return Err(err),
        };
        let mut request = self
            .http
            .request(method, url)
            .header("private-token", token.expose())
            .header(ACCEPT, "application/json")
            .timeout(REQUEST_TIMEOUT);
        if let Some(body) = body {
            request = request.json(body);
        }
        let source = thread.source;
        let response = async {
            let response = request.send().await.map_err(|e| transport_error(&what, &e))?;
            ApiResponse::read(response, &what).await
        }
        .await
        .inspect_err(|err| {
            tracing::warn!(op, tenant = %source.tenant, project = source.project_id, iid = source.iid, error = %err, "GitLab request failed");
        })?;
        match classify_response(&what, &response, self.clock.now_millis()) {
            Ok(()) => {
                tracing::debug!(op, tenant = %source.tenant, project = source.project_id, iid = source.iid, status = response.status, "GitLab API call");
                Ok(response)
            }
            Err(err) => {
                if err.is_transient() {
                    tracing::warn!(op, tenant = %source.tenant, project = source.project_id, iid = source.iid, status = response.status, error = %err, "GitLab API call failed; retryable");
                } else {
                    tracing::info!(op, tenant = %source.tenant, project = source.project_id, iid = source.iid, status = response.status, error = %err, "GitLab API call refused");
                }
                Err(err)
            }
        }
    }

    /// The notes of the issue / merge request, oldest first, at most [`MAX_PAGES`] pages. Pages are followed
    /// with `X-Next-Page` on URLs built here, so the token never goes anywhere but the configured API.
    async fn notes(&self, thread: &Thread<'_>) -> Result<Vec<Note>, PortError> {
        const OP: &str = "list notes";
        let mut all = Vec::new();
        let mut page = 1u32;
        loop {
            let url = format!(
                "{}/notes?sort=asc&order_by=created_at&per_page={PAGE_SIZE}&page={page}",
                thread.item_url
            );
            let response = self.call(thread, OP, Method::GET, &url, None).await?;
            let notes: Vec<Note> = parse_json(&what(OP), &response.body)?;
            all.extend(notes);
            let next = header_str(&response.headers, "x-next-page").and_then(|v| v.parse::<u32>().ok());
            match next {
                Some(next) if next > page && page < MAX_PAGES => page = next,
                Some(_) => {
                    tracing::info!(tenant = %thread.source.tenant, project = thread.source.project_id, iid = thread.source.iid, "stopped reading notes at the page limit");
                    return Ok(all);
                }
                None => return Ok(all),
            }
        }
    }

    /// Create a note where this thread's messages go: a reply in the discussion for discussion triggers, a
    /// top-level note otherwise.
    async fn create_note(&self, thread: &Thread<'_>, body: String) -> Result<Note, PortError> {
        let (op, url, payload) = match thread.source.target.discussion_id() {
            Some(discussion) => (
                "reply in discussion",
                format!("{}/discussions/{discussion}/notes", thread.item_url),
                json!({ "body": body }),
            ),
            None if thread.source.internal => (
                "create note",
                format!("{}/notes", thread.item_url),
                json!({ "body": body, "internal": true }),
            ),
            None => (
                "create note",
                format!("{}/notes", thread.item_url),
                json!({ "body": body }),
            ),
        };
        let response = self.call(thread, op, Method::POST, &url, Some(&payload)).await?;
        parse_json(&what(op), &response.body)
    }

    fn is_own(&self, thread: &Thread<'_>, note: &Note) -> bool {
        note.author
            .as_ref()
            .is_some_and(|a| a.username.eq_ignore_ascii_case(&thread.tenant.bot_username))
    }

    fn status_ref(thread: &Thread<'_>, note_id: u64) -> StatusRef {
        StatusRef {
            id: note_id.to_string(),
            url: (!thread.source.web_url.is_empty())
                .then(|| format!("{}#note_{note_id}", thread.source.web_url)),
        }
    }

    /// The prompt entry for one note, or `None` when it must be left out.
    fn context_entry(
        &self,
        thread: &Thread<'_>,
        note: Note,
        until: u64,
    ) -> Option<(u64, u64, ContextMessage)> {
        if note.system || self.is_own(thread, &note) {
            return None;
        }
        // A note without a readable time cannot be shown to predate the trigger: leave it out.
        let created_at = note.created_at.as_deref().and_then(parse_timestamp)?;
        if created_at > until {
            return None;
        }
        let body = note.body.as_deref().unwrap_or_default();
        if body.contains(MARKER_PREFIX) {
            return None;
        }
        let body = text::sanitize_untrusted(body);
        if body.trim().is_empty() {
            return None;
        }
        let author = note
            .author
            .map(|a| a.username)
            .unwrap_or_else(|| "ghost".to_owned());
        Some((created_at, note.id, ContextMessage { author, body }))
    }
}

impl std::fmt::Debug for GitlabClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.tenants.keys().collect();
        names.sort();
        f.debug_struct("GitlabClient")
            .field("tenants", &names)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SourceClient for GitlabClient {
    /// Developer (30) or more on the project, inherited and shared memberships included
    /// (`/projects/:id/members/all/:user_id`); not a member (404) or not active → no.
    async fn may_trigger(&self, source: &SourceRef, actor_login: &str) -> Result<bool, PortError> {
        const OP: &str = "read project member";
        let thread = self.thread(source)?;
        if thread.source.actor_id == 0 {
            return Ok(false);
        }
        let url = format!("{}/members/all/{}", thread.project_url, thread.source.actor_id);
        let response = match self.call(&thread, OP, Method::GET, &url, None).await {
            Ok(response) => response,
            Err(err) if err.status() == Some(404) => return Ok(false),
            Err(err) => return Err(err),
        };
        let member: Member = parse_json(&what(OP), &response.body)?;
        let active = member.state.as_deref().is_none_or(|s| s == "active");
        let allowed = active && member.access_level >= MIN_ACCESS_LEVEL;
        tracing::debug!(
            tenant = %thread.source.tenant,
            project = thread.source.project_id,
            actor = actor_login,
            access_level = member.access_level,
            allowed,
            "checked trigger permission"
        );
        Ok(allowed)
    }

    async fn acknowledge(&self, source: &SourceRef) -> Result<(), PortError> {
        const OP: &str = "award emoji";
        let thread = self.thread(source)?;
        let url = match thread.source.target.note_id() {
            Some(note_id) => format!("{}/notes/{note_id}/award_emoji", thread.item_url),
            None => format!("{}/award_emoji", thread.item_url),
        };
        match self
            .call(&thread, OP, Method::POST, &url, Some(&json!({ "name": "eyes" })))
            .await
        {
            Ok(_) => Ok(()),
            // GitLab refuses a second identical award with 404 "… has already been taken": already done.
            Err(PortError::Permanent {
                status: Some(404),
                detail,
                ..
            }) if detail.contains("already been taken") => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn post_status(
        &self,
        source: &SourceRef,
        marker: &str,
        text: &str,
    ) -> Result<StatusRef, PortError> {
        let thread = self.thread(source)?;
        let body = note_body(text, Some(&checked_marker_tag(marker)?));
        let note = self.create_note(&thread, body).await?;
        tracing::info!(tenant = %thread.source.tenant, project = thread.source.project_id, iid = thread.source.iid, note_id = note.id, "posted status note");
        Ok(Self::status_ref(&thread, note.id))
    }

    async fn find_status(&self, source: &SourceRef, marker: &str) -> Result<Option<StatusRef>, PortError> {
        let thread = self.thread(source)?;
        let tag = checked_marker_tag(marker)?;
        // Only our own notes count: anyone can paste a marker into theirs.
        Ok(self
            .notes(&thread)
            .await?
            .into_iter()
            .find(|note| self.is_own(&thread, note) && note.body.as_deref().is_some_and(|b| b.contains(&tag)))
            .map(|note| Self::status_ref(&thread, note.id)))
    }

    async fn edit_status(
        &self,
        source: &SourceRef,
        status: &StatusRef,
        marker: &str,
        text: &str,
    ) -> Result<(), PortError> {
        const OP: &str = "edit note";
        let thread = self.thread(source)?;
        let body = note_body(text, Some(&checked_marker_tag(marker)?));
        let note_id: u64 = status.id.parse().map_err(|_| {
            PortError::permanent(what(OP), format!("status id {:?} is not a note id", status.id))
        })?;
        // The notes endpoint edits any note of the issue / merge request, discussion replies included.
        let url = format!("{}/notes/{note_id}", thread.item_url);
        match self
            .call(&thread, OP, Method::PUT, &url, Some(&json!({ "body": body })))
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if matches!(err.status(), Some(404 | 410)) => {
                Err(PortError::not_found(format!("GitLab status note {note_id}")))
            }
            Err(err) => Err(err),
        }
    }

    async fn post_notice(&self, source: &SourceRef, text: &str) -> Result<(), PortError> {
        let thread = self.thread(source)?;
        let note = self.create_note(&thread, note_body(text, None)).await?;
        tracing::info!(tenant = %thread.source.tenant, project = thread.source.project_id, iid = thread.source.iid, note_id = note.id, "posted notice");
        Ok(())
    }

    /// Inline diff discussions: that discussion's notes only (like a review thread). Otherwise every note of
    /// the issue or merge request. System notes, Hookline's own and anything after `until` are left out.
    async fn thread_context(&self, source: &SourceRef, until: u64) -> Result<Vec<ContextMessage>, PortError> {
        const OP: &str = "read discussion";
        let thread = self.thread(source)?;
        let notes = match &thread.source.target {
            GitlabTarget::Discussion {
                discussion_id,
                inline: true,
                ..
            } => {
                let url = format!("{}/discussions/{discussion_id}", thread.item_url);
                let response = self.call(&thread, OP, Method::GET, &url, None).await?;
                parse_json::<Discussion>(&what(OP), &response.body)?.notes
            }
            _ => self.notes(&thread).await?,
        };
        let mut entries: Vec<_> = notes
            .into_iter()
            .filter_map(|note| self.context_entry(&thread, note, until))
            .collect();
        entries.sort_by_key(|(created_at, id, _)| (*created_at, *id));
        let skip = entries.len().saturating_sub(MAX_CONTEXT_MESSAGES);
        Ok(entries.into_iter().skip(skip).map(|(_, _, m)| m).collect())
    }

    async fn resolve_branch(&self, source: &SourceRef) -> Result<Option<String>, PortError> {
        const OP: &str = "read merge request";
        let thread = self.thread(source)?;
        if thread.source.noteable != super::Noteable::MergeRequest {
            return Ok(None);
        }
        let response = self
            .call(&thread, OP, Method::GET, &thread.item_url, None)
            .await?;
        let mr: MergeRequest = parse_json(&what(OP), &response.body)?;
        Ok(mr.source_branch.filter(|b| !b.is_empty()))
    }
}

/// A GitLab source checked and ready for requests.
struct Thread<'a> {
    source: &'a GitlabSource,
    tenant: &'a TenantApi,
    /// `{api}/projects/{id}`.
    project_url: String,
    /// `{api}/projects/{id}/{issues|merge_requests}/{iid}`.
    item_url: String,
}

/// The fields of a note that Hookline reads.
#[derive(Debug, Deserialize)]
struct Note {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    author: Option<Author>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    system: bool,
}

#[derive(Debug, Deserialize)]
struct Author {
    username: String,
}

#[derive(Debug, Deserialize)]
struct Discussion {
    #[serde(default)]
    notes: Vec<Note>,
}

#[derive(Debug, Deserialize)]
struct Member {
    access_level: u64,
    #[serde(default)]
    state: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MergeRequest {
    #[serde(default)]
    source_branch: Option<String>,
}

/// The marker tag, after checking the marker cannot end the HTML comment early or bloat the body.
fn checked_marker_tag(marker: &str) -> Result<String, PortError> {
    let valid = !marker.is_empty()
        && marker.len() <= MAX_MARKER_LEN
        && !marker.contains("--")
        && !marker
            .chars()
            .any(|c| c == '<' || c == '>' || c.is_whitespace() || c.is_control());
    if valid {
        Ok(marker_tag(marker))
    } else {
        Err(PortError::permanent(
            "GitLab status marker",
            format!("unusable marker {marker:?}"),
        ))
    }
}

/// Note body: `text`, then the marker tag (if any) after a blank line. Text beyond GitLab's body limit is cut
/// with a visible note; the tag always survives.
fn note_body(text: &str, tag: Option<&str>) -> String {
    let suffix = tag.map(|tag| format!("\n\n{tag}")).unwrap_or_default();
    let budget = MAX_NOTE_CHARS - suffix.chars().count();
    if text.chars().count() <= budget {
        return format!("{text}{suffix}");
    }
    let kept: String = text
        .chars()
        .take(budget - TRUNCATION_NOTE.chars().count())
        .collect();
    format!("{kept}{TRUNCATION_NOTE}{suffix}")
}

/// The single mapping from a GitLab answer to success or a classified [`PortError`]:
/// - 2xx: success;
/// - 429: transient, waiting `Retry-After` seconds, else until `RateLimit-Reset` (epoch seconds; counted from
///   `now_ms`, epoch milliseconds, and rounded up), else
///   [`DEFAULT_RATE_LIMIT_WAIT`];
/// - 5xx and 408: transient (honouring `Retry-After` if sent);
/// - anything else: permanent, with the status.
///
/// Details carry the status and at most GitLab's short error message, never the body or headers.
fn classify_response(what: &str, response: &ApiResponse, now_ms: u64) -> Result<(), PortError> {
    let status = response.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let retry_after = header_u64(&response.headers, RETRY_AFTER.as_str());
    if status == 429 {
        let reset_wait = || {
            header_u64(&response.headers, "ratelimit-reset")
                .map(|reset| secs_until(reset.saturating_mul(1000), now_ms))
        };
        let secs = retry_after
            .or_else(reset_wait)
            .unwrap_or(DEFAULT_RATE_LIMIT_WAIT.as_secs())
            .min(MAX_RATE_LIMIT_WAIT_SECS);
        return Err(PortError::Transient {
            what: what.to_owned(),
            detail: format!("rate limited (HTTP 429); retry in {secs} s"),
            retry_after: Some(Duration::from_secs(secs)),
        });
    }
    let detail = error_detail(status, &response.body);
    if status >= 500 || status == 408 {
        return Err(PortError::Transient {
            what: what.to_owned(),
            detail,
            retry_after: retry_after.map(|s| Duration::from_secs(s.min(MAX_RATE_LIMIT_WAIT_SECS))),
        });
    }
    Err(PortError::Permanent {
        what: what.to_owned(),
        status: Some(status),
        detail,
    })
}

/// `HTTP {status}`, plus GitLab's error text (`message` or `error` when it is a string; short, printable).
fn error_detail(status: u16, body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        message: Option<Value>,
        #[serde(default)]
        error: Option<Value>,
    }
    let message = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|e| {
            [e.message, e.error]
                .into_iter()
                .flatten()
                .find_map(|v| v.as_str().map(str::to_owned))
        })
        .map(|m| {
            m.chars()
                .filter(|c| !c.is_control())
                .take(MAX_ERROR_MESSAGE_CHARS)
                .collect::<String>()
        })
        .filter(|m| !m.is_empty());
    match message {
        Some(message) => format!("HTTP {status}: {message}"),
        None => format!("HTTP {status}"),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;
    use reqwest::header::HeaderMap;

    fn response(status: u16, headers: &[(&'static str, &str)], body: &str) -> ApiResponse {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                map.insert(*name, value);
            }
        }
        ApiResponse {
            status,
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    fn retry_after(result: Result<(), PortError>) -> Option<Duration> {
        match result {
            Err(PortError::Transient { retry_after, .. }) => retry_after,
            other => panic!("expected a transient error, got {other:?}"),
        }
    }

    #[test]
    fn rate_limits_wait_as_gitlab_asks() {
        let now = 1_000_000;
        let r = response(429, &[("retry-after", "7"), ("ratelimit-reset", "1100")], "");
        assert_eq!(
            retry_after(classify_response("t", &r, now)),
            Some(Duration::from_secs(7))
        );
        let r = response(429, &[("ratelimit-reset", "1120")], "");
        assert_eq!(
            retry_after(classify_response("t", &r, now)),
            Some(Duration::from_secs(120))
        );
        let r = response(429, &[("ratelimit-reset", "10")], "");
        assert_eq!(
            retry_after(classify_response("t", &r, now)),
            Some(Duration::from_secs(1))
        );
        // Seen at 1000.3 s, a reset at second 1005 is 4.7 s away: waiting 4 would retry before it.
        let r = response(429, &[("ratelimit-reset", "1005")], "");
        assert_eq!(
            retry_after(classify_response("t", &r, 1_000_300)),
            Some(Duration::from_secs(5))
        );
        let r = response(429, &[], r#"{"message":"Retry later"}"#);
        assert_eq!(
            retry_after(classify_response("t", &r, now)),
            Some(DEFAULT_RATE_LIMIT_WAIT)
        );
        let r = response(429, &[("retry-after", "999999")], "");
        assert_eq!(
            retry_after(classify_response("t", &r, now)),
            Some(Duration::from_secs(3600))
        );
    }

    #[test]
    fn other_statuses() {
        assert!(classify_response("t", &response(201, &[], ""), 0).is_ok());
        assert_eq!(
            retry_after(classify_response("t", &response(502, &[], ""), 0)),
            None
        );
        match classify_response(
            "t",
            &response(404, &[], r#"{"message":"404 Member Not Found"}"#),
            0,
        ) {
            Err(PortError::Permanent {
                status: Some(404),
                detail,
                ..
            }) => assert_eq!(detail, "HTTP 404: 404 Member Not Found"),
            other => panic!("expected permanent 404, got {other:?}"),
        }
        match classify_response(
            "t",
            &response(400, &[], r#"{"message":{"body":["is too long"]}}"#),
            0,
        ) {
            Err(PortError::Permanent { detail, .. }) => assert_eq!(detail, "HTTP 400"),
            other => panic!("expected permanent 400, got {other:?}"),
        }
        match classify_response("t", &response(401, &[], r#"{"error":"invalid_token"}"#), 0) {
            Err(PortError::Permanent { detail, .. }) => assert_eq!(detail, "HTTP 401: invalid_token"),
            other => panic!("expected permanent 401, got {other:?}"),
        }
    }

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
    fn bodies_keep_the_marker_and_markers_are_checked() {
        let tag = marker_tag("run:abc");
        assert_eq!(note_body("hi", Some(&tag)), format!("hi\n\n{tag}"));
        let long = note_body(&"x".repeat(MAX_NOTE_CHARS + 10), Some(&tag));
        assert_eq!(long.chars().count(), MAX_NOTE_CHARS);
        assert!(long.ends_with(&format!("(truncated)\n\n{tag}")));
        for bad in ["", "a-->", "a b", "a>b"] {
            assert!(checked_marker_tag(bad).is_err(), "{bad:?}");
        }
    }
}
