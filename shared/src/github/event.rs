//! GitHub webhook payloads: the raw shape as delivered (only the fields Hookline reads) and the trimmed
//! [`GithubEvent`] that travels on the queue. Trimming keeps messages far below the queue's size limit even
//! for a 900 kB issue body.

use serde::{Deserialize, Serialize};

/// Longest text field kept in a queued event; longer text is cut at a character boundary and flagged.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// The trimmed event on the queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubEvent {
    pub action: String,
    pub installation_id: u64,
    pub repository: String,
    pub sender: GithubUser,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<GithubIssue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<GithubComment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<GithubPull>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<GithubReview>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubUser {
    pub id: u64,
    pub login: String,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl GithubUser {
    pub fn is_bot(&self) -> bool {
        self.kind.eq_ignore_ascii_case("bot") || self.login.ends_with("[bot]")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubIssue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub is_pull_request: bool,
    pub html_url: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubComment {
    pub id: u64,
    pub body: String,
    pub user: GithubUser,
    pub html_url: String,
    pub created_at: String,
    // Absent rather than null when unset: issue comments have none of these, and every queued byte is written
    // to the WAL (and checkpointed) on the webhook path.
    /// Review comments: the comment this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_hunk: Option<String>,
    /// Set when an App wrote the comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_app_slug: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubPull {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head_ref: String,
    pub html_url: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubReview {
    pub id: u64,
    pub body: String,
    pub user: GithubUser,
    pub state: String,
    pub submitted_at: String,
}

impl GithubEvent {
    /// The issue or PR number the event is about.
    pub fn number(&self) -> Option<u64> {
        self.issue
            .as_ref()
            .map(|i| i.number)
            .or(self.pull_request.as_ref().map(|p| p.number))
    }

    /// The ordering group: one per issue/PR (`github:owner/repo#12`, repository lowercased).
    pub fn thread_key(&self) -> String {
        format!(
            "github:{}#{}",
            self.repository.to_ascii_lowercase(),
            self.number().unwrap_or(0)
        )
    }
}

// ---- raw payload, as GitHub sends it ----

#[derive(Deserialize)]
pub(crate) struct RawEvent {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    installation: Option<RawId>,
    #[serde(default)]
    repository: Option<RawRepo>,
    #[serde(default)]
    sender: Option<RawUser>,
    #[serde(default)]
    issue: Option<RawIssue>,
    #[serde(default)]
    comment: Option<RawComment>,
    #[serde(default)]
    label: Option<RawLabel>,
    #[serde(default)]
    pull_request: Option<RawPull>,
    #[serde(default)]
    review: Option<RawReview>,
}

#[derive(Deserialize)]
struct RawId {
    id: u64,
}

#[derive(Deserialize)]
struct RawRepo {
    full_name: String,
}

#[derive(Deserialize)]
struct RawUser {
    #[serde(default)]
    id: u64,
    #[serde(default)]
    login: String,
    #[serde(default, rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct RawIssue {
    number: u64,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    /// Present (an object) when the issue is a pull request.
    #[serde(default)]
    pull_request: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct RawComment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<RawUser>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    in_reply_to_id: Option<u64>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    line: Option<u64>,
    #[serde(default)]
    diff_hunk: Option<String>,
    #[serde(default)]
    performed_via_github_app: Option<RawApp>,
}

#[derive(Deserialize)]
struct RawApp {
    #[serde(default)]
    slug: Option<String>,
}

#[derive(Deserialize)]
struct RawLabel {
    name: String,
}

#[derive(Deserialize)]
struct RawPull {
    number: u64,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    head: Option<RawHead>,
}

#[derive(Deserialize)]
struct RawHead {
    #[serde(rename = "ref", default)]
    git_ref: String,
}

#[derive(Deserialize)]
struct RawReview {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<RawUser>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    submitted_at: Option<String>,
}

/// Why a payload could not become a [`GithubEvent`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PayloadError {
    Json,
    Missing(&'static str),
}

impl RawEvent {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        crate::http::parse_json_body(body).ok_or(PayloadError::Json)
    }

    pub(crate) fn action(&self) -> &str {
        self.action.as_deref().unwrap_or("")
    }

    pub(crate) fn label_name(&self) -> Option<&str> {
        self.label.as_ref().map(|l| l.name.as_str())
    }

    /// Text that might carry a mention, for the cheap webhook prefilter.
    pub(crate) fn mention_text(&self) -> Option<&str> {
        self.comment
            .as_ref()
            .and_then(|c| c.body.as_deref())
            .or_else(|| self.review.as_ref().and_then(|r| r.body.as_deref()))
    }

    /// Trim to the queued shape. Requires what every trigger needs: installation, repository, sender and an
    /// issue or pull request.
    pub(crate) fn into_event(self) -> Result<GithubEvent, PayloadError> {
        let installation_id = self.installation.ok_or(PayloadError::Missing("installation"))?.id;
        let repository = self
            .repository
            .ok_or(PayloadError::Missing("repository"))?
            .full_name;
        let sender = self.sender.map(user).ok_or(PayloadError::Missing("sender"))?;
        if self.issue.is_none() && self.pull_request.is_none() {
            return Err(PayloadError::Missing("issue or pull_request"));
        }
        Ok(GithubEvent {
            action: self.action.unwrap_or_default(),
            installation_id,
            repository,
            sender,
            issue: self.issue.map(|i| GithubIssue {
                number: i.number,
                title: trim_field(i.title.unwrap_or_default()),
                body: trim_field(i.body.unwrap_or_default()),
                is_pull_request: i.pull_request.is_some(),
                html_url: i.html_url.unwrap_or_default(),
            }),
            comment: self.comment.map(|c| GithubComment {
                id: c.id,
                body: trim_field(c.body.unwrap_or_default()),
                user: c.user.map(user).unwrap_or_default(),
                html_url: c.html_url.unwrap_or_default(),
                created_at: c.created_at.unwrap_or_default(),
                in_reply_to_id: c.in_reply_to_id,
                path: c.path,
                line: c.line,
                diff_hunk: c.diff_hunk.map(trim_field),
                via_app_slug: c.performed_via_github_app.and_then(|a| a.slug),
            }),
            label: self.label.map(|l| l.name),
            pull_request: self.pull_request.map(|p| GithubPull {
                number: p.number,
                title: trim_field(p.title.unwrap_or_default()),
                body: trim_field(p.body.unwrap_or_default()),
                head_ref: p.head.map(|h| h.git_ref).unwrap_or_default(),
                html_url: p.html_url.unwrap_or_default(),
            }),
            review: self.review.map(|r| GithubReview {
                id: r.id,
                body: trim_field(r.body.unwrap_or_default()),
                user: r.user.map(user).unwrap_or_default(),
                state: r.state.unwrap_or_default(),
                submitted_at: r.submitted_at.unwrap_or_default(),
            }),
        })
    }
}

fn user(raw: RawUser) -> GithubUser {
    GithubUser {
        id: raw.id,
        login: raw.login,
        kind: raw.kind,
    }
}

/// Cut `text` to [`MAX_FIELD_BYTES`] at a character boundary, saying how much was dropped.
fn trim_field(mut text: String) -> String {
    if text.len() <= MAX_FIELD_BYTES {
        return text;
    }
    let mut cut = MAX_FIELD_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let dropped = text.len() - cut;
    text.truncate(cut);
    text.push_str(&format!("\n[… {dropped} more bytes not included]"));
    text
}
