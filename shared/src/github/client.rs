//! GitHub REST client implementing [`crate::ports::SourceClient`].
//!
//! - A [`SourceRef`] is interpreted in one place, `GithubClient::thread`; everything else works on the
//!   checked [`GithubSource`] it yields.
//! - Every REST call goes through `GithubClient::call`: installation token, the headers GitHub requires,
//!   and one retry with a fresh token after a 401.
//! - Answers are classified by the outbound toolkit (`outbound::classify`); `GithubApi` says only how
//!   GitHub signals a rate limit (429, or a 403 with quota headers or a secondary-limit message) and where its
//!   error message is.
//!
//! Hookline's comments carry an invisible marker (`<!-- hookline:… -->`) so a status comment can be found
//! again after a crash and so Hookline's own text never feeds back into a prompt.

use std::{
    collections::HashMap,
    fmt,
    ops::ControlFlow,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};

use async_trait::async_trait;
use reqwest::{
    header::{HeaderMap, ACCEPT, LINK, RETRY_AFTER, USER_AGENT},
    Method, RequestBuilder,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{GithubConfig, GithubSource, GithubTarget};
use crate::{
    domain::{Actor, SourceRef, StatusRef},
    error::PortError,
    outbound::{
        self, edited, encode_path_segment, fit, found, header_str, header_u64, is_status, parse_json,
        parse_timestamp, scan_pages, status_id, stop_at, string_field, Answer, Call, Dialect, Page, Scanned,
        Signals, StatusFormat,
    },
    ports::{foreign_source, Access, ContextMessage, HeadBranch, SourceClient},
    provider::Outbound,
    secret::SecretString,
    text,
};

/// REST API version pinned on every request.
pub const API_VERSION: &str = "2022-11-28";
/// Media type GitHub recommends for REST calls.
pub const ACCEPT_GITHUB_JSON: &str = "application/vnd.github+json";
/// `User-Agent` sent on every request (GitHub rejects requests without one).
pub const USER_AGENT_VALUE: &str = "hookline";
/// Page size for comment listings (GitHub's maximum).
pub const PAGE_SIZE: u32 = 100;
/// Most pages read when scanning a thread's comments.
pub const MAX_PAGES: usize = 5;
/// Wait for a secondary rate limit (or a 429) that names no time: GitHub says "at least one minute".
pub const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// GitHub's limit on a comment body, in characters.
const MAX_COMMENT_CHARS: usize = 65_536;

/// How an operation is named in errors: `GitHub API (create issue comment)`.
fn what(op: &str) -> String {
    format!("GitHub API ({op})")
}

/// [`SourceClient`] for GitHub, acting as a GitHub App installation.
pub struct GithubClient {
    out: Outbound,
    /// REST base URL without a trailing slash.
    api_url: String,
    /// `{app_slug}[bot]`: the author of Hookline's comments.
    bot_login: String,
    auth: GithubAppAuth,
}

impl GithubClient {
    /// A client for the App in `config`; the App's private key is read through `out` when a token is minted.
    pub fn new(config: GithubConfig, out: &Outbound) -> Self {
        Self {
            out: out.clone(),
            api_url: config.api_url.trim_end_matches('/').to_owned(),
            bot_login: format!("{}[bot]", config.app_slug),
            auth: GithubAppAuth::new(&config, out),
        }
    }

    /// The App authentication (token cache) this client uses.
    pub fn app_auth(&self) -> &GithubAppAuth {
        &self.auth
    }

    /// The one place a [`SourceRef`] is interpreted: other providers' variants are refused here, and the
    /// repository name is checked before it goes into a URL.
    fn thread<'a>(&self, source: &'a SourceRef) -> Result<Thread<'a>, PortError> {
        match source {
            SourceRef::Github(source) => {
                let repo_url = format!("{}/repos/{}", self.api_url, repo_path(&source.repository)?);
                Ok(Thread { source, repo_url })
            }
            other => Err(foreign_source("github client", other)),
        }
    }

    /// One REST call with the installation token. After a 401 the token is dropped and the call retried once
    /// with a fresh one (GitHub did not act on a request it refused, so a retried POST cannot double-post).
    async fn call(
        &self,
        thread: &Thread<'_>,
        op: &'static str,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, PortError> {
        let source = thread.source;
        let what = what(op);
        let mut retried = false;
        loop {
            let token = self.auth.installation_token(source.installation_id).await?;
            let credentials = [&token];
            let call = Call::new(&what)
                .credentials(&credentials)
                .at(self.out.clock.now_millis());
            let request = request(&self.out.http, method.clone(), url, &token, body);
            let response = outbound::send(&call, request).await.inspect_err(|err| {
                tracing::warn!(
                    op,
                    repo = %source.repository,
                    number = source.number,
                    error = %err,
                    "GitHub request failed"
                );
            })?;
            if response.status == 401 && !retried {
                tracing::warn!(
                    op,
                    repo = %source.repository,
                    number = source.number,
                    status = 401,
                    "GitHub refused the installation token; retrying once with a fresh one"
                );
                self.auth.invalidate_token(source.installation_id, &token);
                retried = true;
                continue;
            }
            let result = outbound::classify(&GithubApi, &call, &response);
            outbound::log_outcome!(
                &result,
                "GitHub",
                status = response.status,
                op,
                repo = %source.repository,
                number = source.number
            );
            return result.map(|()| response);
        }
    }

    /// Feed the thread's comments of `kind` to `visit`, oldest page first, following `Link: rel="next"` for
    /// at most [`MAX_PAGES`] pages. Returns what `visit` broke with, if it did.
    async fn scan_comments<B>(
        &self,
        thread: &Thread<'_>,
        kind: CommentKind,
        visit: impl FnMut(Comment) -> ControlFlow<B>,
    ) -> Result<Option<B>, PortError> {
        let op = match kind {
            CommentKind::Issue => "list issue comments",
            CommentKind::Review => "list review comments",
        };
        let fetch = move |url: String| async move {
            let response = self.call(thread, op, Method::GET, &url, None).await?;
            let items: Vec<Comment> = parse_json(&what(op), &response.body)?;
            // Never send the token anywhere but the API we were configured with.
            let next = next_page_url(&response.headers).filter(|next| {
                let ours = next.starts_with(&format!("{}/", self.api_url));
                if !ours {
                    tracing::warn!(
                        op,
                        repo = %thread.source.repository,
                        number = thread.source.number,
                        "ignoring a pagination link outside the API base URL"
                    );
                }
                ours
            });
            Ok::<_, PortError>(Page { items, next })
        };
        let scanned = scan_pages(MAX_PAGES, thread.comments_url(kind), fetch, visit).await?;
        if matches!(scanned, Scanned::PageLimit) {
            tracing::info!(
                op,
                repo = %thread.source.repository,
                number = thread.source.number,
                pages = MAX_PAGES,
                "stopped reading comments at the page limit"
            );
        }
        Ok(scanned.found())
    }

    /// Create a comment where this thread's messages go: a reply in the review thread for review comments,
    /// an issue comment otherwise.
    async fn create_comment(&self, thread: &Thread<'_>, body: String) -> Result<Comment, PortError> {
        let source = thread.source;
        let (op, url) = match source.target {
            GithubTarget::ReviewComment { thread_root_id, .. } => (
                "reply in review thread",
                format!(
                    "{}/pulls/{}/comments/{thread_root_id}/replies",
                    thread.repo_url, source.number
                ),
            ),
            GithubTarget::Issue | GithubTarget::IssueComment { .. } | GithubTarget::Review { .. } => (
                "create issue comment",
                format!("{}/issues/{}/comments", thread.repo_url, source.number),
            ),
        };
        let response = self
            .call(thread, op, Method::POST, &url, Some(&json!({ "body": body })))
            .await?;
        parse_json(&what(op), &response.body)
    }

    fn is_own(&self, comment: &Comment) -> bool {
        comment
            .user
            .as_ref()
            .is_some_and(|user| user.login.eq_ignore_ascii_case(&self.bot_login))
    }

    /// The prompt entry for one comment, or `None` when it must be left out.
    fn context_entry(
        &self,
        comment: Comment,
        root: Option<u64>,
        until: u64,
    ) -> Option<((u64, u64), ContextMessage)> {
        if let Some(root) = root {
            if comment.id != root && comment.in_reply_to_id != Some(root) {
                return None;
            }
        }
        // A comment without a readable time cannot be shown to predate the trigger: leave it out.
        let created_at = comment.created_at.as_deref().and_then(parse_timestamp)?;
        if created_at > until || self.is_own(&comment) {
            return None;
        }
        let text = comment.body.as_deref().unwrap_or_default();
        let message = ContextMessage::earlier(comment.user.map(|user| user.login), "ghost", text)?;
        Some(((created_at, comment.id), message))
    }
}

impl std::fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubClient")
            .field("api_url", &self.api_url)
            .field("bot_login", &self.bot_login)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SourceClient for GithubClient {
    async fn access(&self, source: &SourceRef, actor: &Actor) -> Result<Access, PortError> {
        const OP: &str = "read collaborator permission";
        let thread = self.thread(source)?;
        let actor_login = actor.login.as_str();
        if actor_login.is_empty() {
            return Ok(Access::None);
        }
        let url = format!(
            "{}/collaborators/{}/permission",
            thread.repo_url,
            encode_path_segment(actor_login)
        );
        let Some(response) = found(self.call(&thread, OP, Method::GET, &url, None).await)? else {
            // Not a collaborator (or no such user): no access.
            return Ok(Access::None);
        };
        let permission: CollaboratorPermission = parse_json(&what(OP), &response.body)?;
        let access = access_of(permission.role_name.as_deref(), permission.permission.as_deref());
        tracing::debug!(
            repo = %thread.source.repository,
            number = thread.source.number,
            actor = actor_login,
            role = ?permission.role_name,
            ?access,
            "checked access"
        );
        Ok(access)
    }

    async fn acknowledge(&self, source: &SourceRef) -> Result<(), PortError> {
        let thread = self.thread(source)?;
        let url = match thread.source.target {
            GithubTarget::Issue => format!("{}/issues/{}/reactions", thread.repo_url, thread.source.number),
            GithubTarget::IssueComment { comment_id } => {
                format!("{}/issues/comments/{comment_id}/reactions", thread.repo_url)
            }
            GithubTarget::ReviewComment { comment_id, .. } => {
                format!("{}/pulls/comments/{comment_id}/reactions", thread.repo_url)
            }
            // GitHub has no reaction API for submitted reviews.
            GithubTarget::Review { .. } => return Ok(()),
        };
        // 201 (created) and 200 (already there) both count as done.
        self.call(
            &thread,
            "add reaction",
            Method::POST,
            &url,
            Some(&json!({ "content": "eyes" })),
        )
        .await?;
        Ok(())
    }

    async fn post_status(
        &self,
        source: &SourceRef,
        marker: &str,
        text: &str,
        _live: bool,
    ) -> Result<StatusRef, PortError> {
        let thread = self.thread(source)?;
        let comment = self.create_comment(&thread, STATUS.body(marker, text)?).await?;
        tracing::info!(
            repo = %thread.source.repository,
            number = thread.source.number,
            comment_id = comment.id,
            "posted status comment"
        );
        Ok(comment.status_ref())
    }

    async fn find_status(&self, source: &SourceRef, marker: &str) -> Result<Option<StatusRef>, PortError> {
        let thread = self.thread(source)?;
        let tag = STATUS.tag(marker)?;
        let found = self
            .scan_comments(&thread, thread.status_kind(), |comment| {
                let found = is_status(self.is_own(&comment), comment.body.as_deref(), &tag);
                stop_at(comment, found)
            })
            .await?;
        Ok(found.map(Comment::status_ref))
    }

    async fn edit_status(
        &self,
        source: &SourceRef,
        status: &StatusRef,
        marker: &str,
        text: &str,
        _live: bool,
    ) -> Result<(), PortError> {
        let thread = self.thread(source)?;
        let body = STATUS.body(marker, text)?;
        let comment_id: u64 = status_id(status, "GitHub API (edit comment)", "comment id")?;
        let (op, url) = match thread.status_kind() {
            CommentKind::Issue => (
                "edit issue comment",
                format!("{}/issues/comments/{comment_id}", thread.repo_url),
            ),
            CommentKind::Review => (
                "edit review comment",
                format!("{}/pulls/comments/{comment_id}", thread.repo_url),
            ),
        };
        let result = self
            .call(&thread, op, Method::PATCH, &url, Some(&json!({ "body": body })))
            .await;
        edited(result, || format!("GitHub status comment {comment_id}"))
    }

    async fn post_notice(&self, source: &SourceRef, text: &str) -> Result<(), PortError> {
        let thread = self.thread(source)?;
        let comment = self
            .create_comment(&thread, fit(text, MAX_COMMENT_CHARS, None))
            .await?;
        tracing::info!(
            repo = %thread.source.repository,
            number = thread.source.number,
            comment_id = comment.id,
            "posted notice"
        );
        Ok(())
    }

    async fn thread_context(&self, source: &SourceRef, until: u64) -> Result<Vec<ContextMessage>, PortError> {
        let thread = self.thread(source)?;
        let (kind, root) = match thread.source.target {
            GithubTarget::ReviewComment { thread_root_id, .. } => (CommentKind::Review, Some(thread_root_id)),
            GithubTarget::Issue | GithubTarget::IssueComment { .. } | GithubTarget::Review { .. } => {
                (CommentKind::Issue, None)
            }
        };
        let mut entries = Vec::new();
        self.scan_comments(&thread, kind, |comment| {
            entries.extend(self.context_entry(comment, root, until));
            ControlFlow::<()>::Continue(())
        })
        .await?;
        Ok(text::newest_context(entries))
    }

    async fn resolve_branch(&self, source: &SourceRef) -> Result<Option<HeadBranch>, PortError> {
        const OP: &str = "read pull request";
        let thread = self.thread(source)?;
        let is_pull_request = thread.source.is_pull_request
            || matches!(
                thread.source.target,
                GithubTarget::ReviewComment { .. } | GithubTarget::Review { .. }
            );
        if !is_pull_request {
            return Ok(None);
        }
        let url = format!("{}/pulls/{}", thread.repo_url, thread.source.number);
        let response = self.call(&thread, OP, Method::GET, &url, None).await?;
        let pull: PullRequest = parse_json(&what(OP), &response.body)?;
        Ok(head_branch(&thread.source.repository, pull.head))
    }
}

/// A GitHub source checked and ready for requests.
struct Thread<'a> {
    source: &'a GithubSource,
    /// `{api_url}/repos/{owner}/{repo}`.
    repo_url: String,
}

impl Thread<'_> {
    /// Which comment API holds this thread's status comment.
    fn status_kind(&self) -> CommentKind {
        if self.source.target.status_is_review_reply() {
            CommentKind::Review
        } else {
            CommentKind::Issue
        }
    }

    fn comments_url(&self, kind: CommentKind) -> String {
        let area = match kind {
            CommentKind::Issue => "issues",
            CommentKind::Review => "pulls",
        };
        format!(
            "{}/{area}/{}/comments?per_page={PAGE_SIZE}",
            self.repo_url, self.source.number
        )
    }
}

/// Issue (conversation) comments vs. pull request review (inline) comments: separate GitHub APIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CommentKind {
    Issue,
    Review,
}

/// The fields of an issue or review comment that Hookline reads.
#[derive(Debug, Deserialize)]
struct Comment {
    id: u64,
    body: Option<String>,
    html_url: Option<String>,
    user: Option<User>,
    created_at: Option<String>,
    in_reply_to_id: Option<u64>,
}

impl Comment {
    /// This comment as the status message it is.
    fn status_ref(self) -> StatusRef {
        StatusRef {
            id: self.id.to_string(),
            url: self.html_url,
        }
    }
}

#[derive(Debug, Deserialize)]
struct User {
    login: String,
}

#[derive(Debug, Deserialize)]
struct CollaboratorPermission {
    permission: Option<String>,
    role_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PullRequest {
    head: PullHead,
}

#[derive(Debug, Deserialize)]
struct PullHead {
    #[serde(rename = "ref")]
    ref_name: String,
    /// `null` once the fork is deleted.
    #[serde(default)]
    repo: Option<PullHeadRepo>,
}

#[derive(Debug, Deserialize)]
struct PullHeadRepo {
    full_name: String,
}

/// Where the agent works on a pull request of `base`: its head branch, in the fork when the head is one. A head
/// whose repository is gone (a deleted fork) has no branch the agent could push to.
fn head_branch(base: &str, head: PullHead) -> Option<HeadBranch> {
    let repository = head.repo?.full_name;
    if head.ref_name.is_empty() {
        return None;
    }
    let fork = (!repository.eq_ignore_ascii_case(base)).then_some(repository);
    Some(HeadBranch {
        branch: head.ref_name,
        fork,
    })
}

/// Does this collaborator role allow triggering? Built-in roles decide by name (admin, maintain, write);
/// a custom role, or a missing `role_name`, by its base `permission` (admin or write).
fn access_of(role_name: Option<&str>, permission: Option<&str>) -> Access {
    const BUILT_IN: [&str; 5] = ["admin", "maintain", "write", "triage", "read"];
    let is = |value: &str, set: &[&str]| set.iter().any(|name| name.eq_ignore_ascii_case(value.trim()));
    let level = |value: &str, maintain: &[&str]| {
        if is(value, maintain) {
            Access::Maintain
        } else if is(value, &["write"]) {
            Access::Trigger
        } else {
            Access::None
        }
    };
    match role_name.filter(|role| !role.trim().is_empty()) {
        Some(role) if is(role, &BUILT_IN) => level(role, &["admin", "maintain"]),
        _ => permission.map_or(Access::None, |permission| level(permission, &["admin"])),
    }
}

/// `owner/repo`, checked so it cannot reshape the URL (no extra segments, no dot segments, no query).
fn repo_path(repository: &str) -> Result<&str, PortError> {
    let valid = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match repository.split_once('/') {
        Some((owner, name)) if valid(owner) && valid(name) => Ok(repository),
        _ => Err(PortError::permanent(
            "GitHub API",
            format!("invalid repository name {repository:?}"),
        )),
    }
}

/// Status comments: the marker check as errors name it, and GitHub's limit on a comment.
const STATUS: StatusFormat = StatusFormat {
    check: "GitHub status marker",
    max_chars: MAX_COMMENT_CHARS,
};

/// One request with GitHub's headers and `bearer` (an app JWT or installation token); sent and classified by
/// the caller through [`outbound`].
pub(crate) fn request(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    bearer: &SecretString,
    body: Option<&Value>,
) -> RequestBuilder {
    let request = http
        .request(method, url)
        .bearer_auth(bearer.expose())
        .header(ACCEPT, ACCEPT_GITHUB_JSON)
        .header("x-github-api-version", API_VERSION)
        .header(USER_AGENT, USER_AGENT_VALUE);
    match body {
        Some(body) => request.json(body),
        None => request,
    }
}

/// How GitHub's REST API speaks:
/// - a rate limit is a 429, or a 403 with `retry-after`, `x-ratelimit-remaining: 0` or a "secondary rate
///   limit" message; a spent quota resets at `x-ratelimit-reset` (epoch seconds), and a limit that names no
///   time waits [`SECONDARY_LIMIT_WAIT`];
/// - an error's message is the body's `message`.
///
/// A 401 reaches classification only after `GithubClient::call` has retried it once with a fresh token.
pub(crate) struct GithubApi;

impl Dialect for GithubApi {
    const DEFAULT_RATE_LIMIT_WAIT: Option<Duration> = Some(SECONDARY_LIMIT_WAIT);

    fn read(&self, answer: &Answer) -> Signals {
        let headers = &answer.headers;
        let quota_spent = header_str(headers, "x-ratelimit-remaining") == Some("0");
        let secondary = || {
            text::contains_ignore_ascii_case(&String::from_utf8_lossy(&answer.body), "secondary rate limit")
        };
        Signals {
            rate_limited: answer.status == 403
                && (headers.contains_key(RETRY_AFTER) || quota_spent || secondary()),
            quota_reset_ms: quota_spent
                .then(|| header_u64(headers, "x-ratelimit-reset"))
                .flatten()
                .map(|secs| secs.saturating_mul(1000)),
            error_message: string_field(&answer.body, &["message"]),
            ..Signals::default()
        }
    }
}

/// The `rel="next"` target of the `Link` header(s), if any.
fn next_page_url(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().split_once(';')?;
            let url = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            params
                .split(';')
                .filter_map(|param| param.trim().strip_prefix("rel="))
                .any(|rel| rel.trim_matches('"').split_whitespace().any(|rel| rel == "next"))
                .then(|| url.to_owned())
        })
}

// ---- GitHub App authentication ----
//
// The App proves who it is with a short-lived RS256 JWT signed by its private key, trades that for an
// installation access token (valid one hour) and calls the REST API with the token. Tokens are cached per
// installation and refreshed `TOKEN_REFRESH_MARGIN_SECS` before they expire, or at once after GitHub rejects one
// (`GithubAppAuth::invalidate`). Tokens and the key are `SecretString`s and never logged.

/// How far the JWT's `iat` is backdated, to tolerate clock drift between us and GitHub.
pub const JWT_BACKDATE_SECS: u64 = 60;
/// JWT lifetime from now; GitHub refuses more than 10 minutes, 9 keeps a margin.
pub const JWT_LIFETIME_SECS: u64 = 540;
/// A cached installation token is replaced this long before its `expires_at`.
pub const TOKEN_REFRESH_MARGIN_SECS: u64 = 300;
/// Used when GitHub's `expires_at` cannot be read: well under the documented one-hour lifetime.
const FALLBACK_TOKEN_LIFETIME_SECS: u64 = 600;

const TOKEN_EXCHANGE: &str = "GitHub App token exchange";

/// Mints app JWTs and installation tokens for one GitHub App, caching tokens per installation.
///
/// Cheap to share behind an `Arc`; all methods take `&self`.
pub struct GithubAppAuth {
    out: Outbound,
    api_url: String,
    app_id: String,
    private_key_secret_name: String,
    tokens: Mutex<HashMap<u64, CachedToken>>,
    /// Serializes refreshes so concurrent callers that all miss the cache share one exchange.
    refresh: tokio::sync::Mutex<()>,
}

struct CachedToken {
    token: SecretString,
    /// Epoch seconds from which the token is no longer handed out.
    refresh_at: u64,
}

#[derive(Serialize)]
struct AppClaims<'a> {
    iat: u64,
    exp: u64,
    iss: &'a str,
}

/// The parts of `201 Created` from the exchange that we use. No `Debug`: it holds the token.
#[derive(Deserialize)]
struct AccessTokenResponse {
    token: String,
    expires_at: Option<String>,
}

impl GithubAppAuth {
    /// Authenticate as the App described by `config` (`api_url`, `app_id`, `private_key_secret_name`).
    pub fn new(config: &GithubConfig, out: &Outbound) -> Self {
        Self {
            out: out.clone(),
            api_url: config.api_url.trim_end_matches('/').to_owned(),
            app_id: config.app_id.clone(),
            private_key_secret_name: config.private_key_secret_name.clone(),
            tokens: Mutex::new(HashMap::new()),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// A valid installation token for `installation_id`: the cached one, or a freshly exchanged one.
    pub async fn installation_token(&self, installation_id: u64) -> Result<SecretString, PortError> {
        if let Some(token) = self.cached(installation_id) {
            return Ok(token);
        }
        let _refreshing = self.refresh.lock().await;
        // Another caller may have refreshed it while we waited for the lock.
        if let Some(token) = self.cached(installation_id) {
            return Ok(token);
        }
        let fresh = self.exchange(installation_id).await?;
        let token = fresh.token.clone();
        self.lock_tokens().insert(installation_id, fresh);
        Ok(token)
    }

    /// Forget the cached token for `installation_id` (e.g. after GitHub answered 401 to it).
    pub fn invalidate(&self, installation_id: u64) {
        self.lock_tokens().remove(&installation_id);
    }

    /// Forget the cached token only if it is still `rejected`, so a token another caller has just refreshed
    /// survives a late 401 for the old one.
    pub(crate) fn invalidate_token(&self, installation_id: u64, rejected: &SecretString) {
        let mut tokens = self.lock_tokens();
        if tokens
            .get(&installation_id)
            .is_some_and(|cached| cached.token == *rejected)
        {
            tokens.remove(&installation_id);
        }
    }

    /// Sign a fresh app JWT (`iat = now - 60`, `exp = now + 540`, `iss = app_id`) with the App's private key,
    /// read from the secret store on every call so a rotated key takes effect without a restart.
    pub async fn app_jwt(&self) -> Result<SecretString, PortError> {
        let pem = outbound::credential(
            self.out.secrets.as_ref(),
            &self.private_key_secret_name,
            "GitHub App private key",
        )
        .await?;
        let key = EncodingKey::from_rsa_pem(pem.expose().as_bytes()).map_err(|_| {
            PortError::permanent(
                TOKEN_EXCHANGE,
                "the GitHub App private key is not a valid RSA PEM (PKCS#1 or PKCS#8) key",
            )
        })?;
        let now = self.out.clock.now_secs();
        let claims = AppClaims {
            iat: now.saturating_sub(JWT_BACKDATE_SECS),
            exp: now + JWT_LIFETIME_SECS,
            iss: &self.app_id,
        };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).map_err(|err| {
            PortError::permanent(TOKEN_EXCHANGE, format!("could not sign the app JWT: {err}"))
        })?;
        Ok(SecretString::new(jwt))
    }

    fn cached(&self, installation_id: u64) -> Option<SecretString> {
        let now = self.out.clock.now_secs();
        self.lock_tokens()
            .get(&installation_id)
            .filter(|cached| now < cached.refresh_at)
            .map(|cached| cached.token.clone())
    }

    async fn exchange(&self, installation_id: u64) -> Result<CachedToken, PortError> {
        let jwt = self.app_jwt().await?;
        let url = format!(
            "{}/app/installations/{installation_id}/access_tokens",
            self.api_url
        );
        let credentials = [&jwt];
        let call = Call::new(TOKEN_EXCHANGE)
            .credentials(&credentials)
            .at(self.out.clock.now_millis());
        let request = request(&self.out.http, Method::POST, &url, &jwt, None);
        let response = outbound::send(&call, request).await?;
        let now = self.out.clock.now_secs();
        if let Err(err) = outbound::classify(&GithubApi, &call, &response) {
            tracing::warn!(
                installation_id,
                status = response.status,
                error = %err,
                "installation token exchange failed"
            );
            return Err(err);
        }
        let parsed: AccessTokenResponse = parse_json(TOKEN_EXCHANGE, &response.body)?;
        if parsed.token.is_empty() {
            return Err(PortError::permanent(
                TOKEN_EXCHANGE,
                "GitHub returned an empty installation token",
            ));
        }
        let expires_at = parsed.expires_at.as_deref().and_then(parse_timestamp);
        let refresh_at = match expires_at {
            Some(expires_at) => {
                let refresh_at = expires_at.saturating_sub(TOKEN_REFRESH_MARGIN_SECS);
                if refresh_at <= now {
                    // Still usable for this call; it just will not be reused. Usually a skewed clock.
                    tracing::warn!(
                        installation_id,
                        expires_at,
                        now,
                        "installation token expires within the refresh margin; check the clock"
                    );
                }
                refresh_at
            }
            None => {
                tracing::warn!(
                    installation_id,
                    "installation token without a readable expires_at; caching it briefly"
                );
                now + FALLBACK_TOKEN_LIFETIME_SECS - TOKEN_REFRESH_MARGIN_SECS
            }
        };
        tracing::info!(installation_id, refresh_at, "minted GitHub installation token");
        Ok(CachedToken {
            token: SecretString::new(parsed.token),
            refresh_at,
        })
    }

    fn lock_tokens(&self) -> MutexGuard<'_, HashMap<u64, CachedToken>> {
        // The map stays consistent even if a holder panicked: every write is a single insert or remove.
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for GithubAppAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubAppAuth")
            .field("api_url", &self.api_url)
            .field("app_id", &self.app_id)
            .field("private_key_secret_name", &self.private_key_secret_name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;
    use crate::outbound::testing::{answer as response, assert_common_classification, classify_at, wait_at};

    /// `x-ratelimit-remaining: 0` with the quota resetting at epoch second `reset`.
    fn spent(reset: &str) -> [(&'static str, &str); 2] {
        [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", reset)]
    }

    #[test]
    fn classifies_rate_limits_with_the_wait_github_asks_for() {
        assert_common_classification(&GithubApi);
        let secondary = r#"{"message":"You have exceeded a secondary rate limit."}"#;
        for (status, headers, body, wait) in [
            (403, &spent("1120")[..], "{}", Duration::from_secs(120)),
            (403, &[], secondary, SECONDARY_LIMIT_WAIT),
            // A reset in the past (skewed clock) still waits a moment.
            (429, &spent("10"), "", Duration::from_secs(1)),
        ] {
            let answer = response(status, headers, body);
            assert_eq!(
                wait_at(&GithubApi, &answer, 1_000_000),
                Some(wait),
                "HTTP {status} with {headers:?}: {body}"
            );
        }
    }

    /// GIVEN a reset at second 1005 seen at 1000.3 s THEN the wait is 5 s: 4 would retry at 1004.3, before it.
    #[test]
    fn a_reset_wait_is_rounded_up_from_a_fractional_now() {
        for (now_ms, secs) in [(1_000_300, 5), (1_000_000, 5), (1_004_999, 1)] {
            let wait = wait_at(&GithubApi, &response(403, &spent("1005"), "{}"), now_ms).expect("a wait");
            assert_eq!(wait, Duration::from_secs(secs), "reset 1005 at {now_ms} ms");
            assert!(u128::from(now_ms) + wait.as_millis() >= 1_005_000);
        }
    }

    #[test]
    fn classifies_other_statuses() {
        let forbidden = classify_at(
            &GithubApi,
            &response(403, &[], r#"{"message":"Resource not accessible"}"#),
            0,
        );
        match forbidden {
            Err(PortError::Permanent {
                status: Some(403),
                detail,
                ..
            }) => {
                assert_eq!(detail, "HTTP 403: Resource not accessible");
            }
            other => panic!("expected permanent 403, got {other:?}"),
        }
        let unauthorized = classify_at(&GithubApi, &response(401, &[], "not json"), 0);
        assert!(matches!(
            unauthorized,
            Err(PortError::Permanent {
                status: Some(401),
                ..
            })
        ));
    }

    #[test]
    fn finds_the_next_link() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            HeaderValue::from_static(concat!(
                r#"<https://api.github.com/repositories/1/issues/2/comments?page=3>; rel="next", "#,
                r#"<https://api.github.com/repositories/1/issues/2/comments?page=9>; rel="last""#,
            )),
        );
        assert_eq!(
            next_page_url(&headers).as_deref(),
            Some("https://api.github.com/repositories/1/issues/2/comments?page=3")
        );
        headers.insert(
            LINK,
            HeaderValue::from_static(r#"<https://x/y?page=1>; rel="prev""#),
        );
        assert_eq!(next_page_url(&headers), None);
    }

    #[test]
    fn built_in_roles_decide_and_custom_roles_fall_back_to_permission() {
        for role in ["admin", "maintain"] {
            assert_eq!(access_of(Some(role), Some("read")), Access::Maintain, "{role}");
        }
        assert_eq!(access_of(Some("write"), Some("admin")), Access::Trigger);
        for role in ["triage", "read"] {
            assert_eq!(access_of(Some(role), Some("write")), Access::None, "{role}");
        }
        assert_eq!(access_of(None, Some("write")), Access::Trigger);
        assert_eq!(access_of(None, Some("admin")), Access::Maintain);
        assert_eq!(access_of(None, Some("none")), Access::None);
        assert_eq!(access_of(Some("release-manager"), Some("write")), Access::Trigger);
        assert_eq!(access_of(Some("auditor"), Some("read")), Access::None);
        assert_eq!(access_of(None, None), Access::None);
    }

    #[test]
    fn refuses_names_that_reshape_urls() {
        assert!(repo_path("octo/hello.rs").is_ok());
        for bad in [
            "octo",
            "octo/hello/x",
            "../x",
            "octo/..",
            "octo/a?b",
            "/x",
            "octo/",
        ] {
            assert!(repo_path(bad).is_err(), "{bad}");
        }
    }
}
