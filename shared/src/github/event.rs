//! GitHub webhook payloads: the raw shape as delivered (only the fields Hookline reads) and the trimmed
//! [`GithubEvent`] that travels on the queue. Trimming keeps messages far below the queue's size limit even
//! for a 900 kB issue body.
//!
//! The webhook writes the trimmed event straight from the delivery's bytes: its text fields are [`JsonText`], the
//! JSON strings exactly as GitHub wrote them, so a body is neither unescaped into a `String` nor escaped again on
//! the way to the queue. The worker reads the same shape back with `String` fields.

use std::borrow::Cow;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// Longest text field kept in a queued event; longer text is cut at a character boundary and flagged.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Most label names kept of an issue or pull request.
pub const MAX_LABELS: usize = 50;

/// The trimmed event on the queue. `S` is the text type: `String` when the worker reads it, [`JsonText`] when the
/// webhook writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubEvent<S = String> {
    pub action: S,
    pub installation_id: u64,
    pub repository: S,
    pub sender: GithubUser<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<GithubIssue<S>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<GithubComment<S>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<GithubPull<S>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<GithubReview<S>>,
    /// `assigned` / `unassigned`: the user assigned or unassigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<GithubUser<S>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubUser<S = String> {
    pub id: u64,
    pub login: S,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type")]
    pub kind: S,
}

impl GithubUser {
    pub fn is_bot(&self) -> bool {
        self.kind.eq_ignore_ascii_case("bot") || self.login.ends_with("[bot]")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubIssue<S = String> {
    pub number: u64,
    pub title: S,
    pub body: S,
    pub is_pull_request: bool,
    pub html_url: S,
    /// When the issue last changed (a label added, for `labeled`): part of the signed body, so it keys label runs
    /// where the unsigned delivery id cannot.
    #[serde(default)]
    pub updated_at: S,
    /// When it was opened: a label added within seconds of it came with the new issue.
    #[serde(default)]
    pub created_at: S,
    /// Its labels' names (the first [`MAX_LABELS`]), for an issue opened with the trigger label.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<S>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubComment<S = String> {
    pub id: u64,
    pub body: S,
    pub user: GithubUser<S>,
    pub html_url: S,
    pub created_at: S,
    // Absent rather than null when unset: issue comments have none of these, and every queued byte is written
    // to the WAL (and checkpointed) on the webhook path.
    /// Review comments: the comment this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_hunk: Option<S>,
    /// Set when an App wrote the comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_app_slug: Option<S>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubPull<S = String> {
    pub number: u64,
    pub title: S,
    pub body: S,
    pub head_ref: S,
    /// `owner/repo` holding the head branch: the base repository, a fork, or empty once the fork is deleted.
    #[serde(default)]
    pub head_repository: S,
    pub html_url: S,
    /// As for [`GithubIssue`]: what keys a label run, and when it was opened.
    #[serde(default)]
    pub updated_at: S,
    #[serde(default)]
    pub created_at: S,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<S>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubReview<S = String> {
    pub id: u64,
    pub body: S,
    pub user: GithubUser<S>,
    pub state: S,
    pub submitted_at: S,
}

impl<S> GithubEvent<S> {
    /// The issue or PR number the event is about.
    pub fn number(&self) -> Option<u64> {
        self.issue
            .as_ref()
            .map(|i| i.number)
            .or(self.pull_request.as_ref().map(|p| p.number))
    }
}

impl GithubEvent<JsonText<'_>> {
    /// The ordering group (see [`thread_key`]).
    pub(crate) fn thread_key(&self) -> String {
        thread_key(&self.repository.text(), self.number().unwrap_or(0))
    }
}

/// One issue or PR's key, `github:owner/repo#12` with the repository lowercased: the queue's ordering group and
/// the thread a run belongs to.
pub(crate) fn thread_key(repository: &str, number: u64) -> String {
    use std::fmt::Write;
    let mut key = String::with_capacity(repository.len() + 28);
    key.push_str("github:");
    key.extend(repository.chars().map(|c| c.to_ascii_lowercase()));
    // Writing to a String cannot fail.
    let _ = write!(key, "#{number}");
    key
}

/// A text field on its way from a delivery to the queue: the JSON string as the delivery wrote it, quotes and
/// escapes included (written out again byte for byte), or text that had to be cut. Only the parser makes `Raw`
/// ones, from JSON strings.
#[derive(Clone, Debug)]
pub(crate) enum JsonText<'a> {
    Raw(&'a RawValue),
    Owned(String),
}

impl JsonText<'_> {
    /// The text itself; borrowed unless the JSON string has escapes.
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match self {
            JsonText::Raw(raw) => {
                let quoted = raw.get();
                let inner = &quoted[1..quoted.len() - 1];
                if inner.contains('\\') {
                    // The parser has checked the string, so decoding it cannot fail.
                    Cow::Owned(serde_json::from_str(quoted).unwrap_or_default())
                } else {
                    Cow::Borrowed(inner)
                }
            }
            JsonText::Owned(text) => Cow::Borrowed(text),
        }
    }

    /// Cut to [`MAX_FIELD_BYTES`] if longer. An escape never decodes to more bytes than it is written with, so a
    /// string whose JSON fits is kept as written.
    fn trimmed(self) -> Self {
        match self {
            JsonText::Raw(raw) if raw.get().len() - 2 <= MAX_FIELD_BYTES => self,
            other => JsonText::Owned(trim_field(other.text().into_owned())),
        }
    }
}

impl Default for JsonText<'_> {
    fn default() -> Self {
        JsonText::Owned(String::new())
    }
}

impl Serialize for JsonText<'_> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        match self {
            JsonText::Raw(raw) => raw.serialize(serializer),
            JsonText::Owned(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonText<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&'a RawValue>::deserialize(deserializer)?;
        if !raw.get().starts_with('"') {
            return Err(de::Error::invalid_type(
                de::Unexpected::Other("another JSON value"),
                &"a string",
            ));
        }
        Ok(JsonText::Raw(raw))
    }
}

// ---- raw payload, as GitHub sends it ----

#[derive(Deserialize)]
pub(crate) struct RawEvent<'a> {
    #[serde(default, borrow)]
    action: Option<JsonText<'a>>,
    #[serde(default)]
    installation: Option<RawId>,
    #[serde(default, borrow)]
    repository: Option<RawRepo<'a>>,
    #[serde(default, borrow)]
    sender: Option<RawUser<'a>>,
    #[serde(default, borrow)]
    issue: Option<RawItem<'a>>,
    #[serde(default, borrow)]
    comment: Option<RawComment<'a>>,
    #[serde(default, borrow)]
    label: Option<RawLabel<'a>>,
    #[serde(default, borrow)]
    pull_request: Option<RawItem<'a>>,
    #[serde(default, borrow)]
    review: Option<RawReview<'a>>,
    #[serde(default, borrow)]
    assignee: Option<RawUser<'a>>,
}

#[derive(Deserialize)]
struct RawId {
    id: u64,
}

#[derive(Deserialize)]
struct RawRepo<'a> {
    #[serde(borrow)]
    full_name: JsonText<'a>,
}

#[derive(Deserialize)]
struct RawUser<'a> {
    #[serde(default)]
    id: u64,
    #[serde(default, borrow)]
    login: JsonText<'a>,
    #[serde(default, borrow, rename = "type")]
    kind: JsonText<'a>,
}

/// An issue or a pull request as the payload carries it. GitHub's pull request is an issue with a head: an
/// `issue` object has `pull_request` when it is one, a `pull_request` object has `head`.
#[derive(Deserialize)]
struct RawItem<'a> {
    number: u64,
    #[serde(default, borrow)]
    title: Option<JsonText<'a>>,
    #[serde(default, borrow)]
    body: Option<JsonText<'a>>,
    #[serde(default, borrow)]
    html_url: Option<JsonText<'a>>,
    #[serde(default, borrow)]
    updated_at: Option<JsonText<'a>>,
    #[serde(default, borrow)]
    created_at: Option<JsonText<'a>>,
    #[serde(default, borrow)]
    labels: Vec<RawLabel<'a>>,
    /// Present (an object) when the issue is a pull request.
    #[serde(default)]
    pull_request: Option<de::IgnoredAny>,
    #[serde(default, borrow)]
    head: Option<RawHead<'a>>,
}

#[derive(Deserialize)]
struct RawComment<'a> {
    id: u64,
    #[serde(default, borrow)]
    body: Option<JsonText<'a>>,
    #[serde(default, borrow)]
    user: Option<RawUser<'a>>,
    #[serde(default, borrow)]
    html_url: Option<JsonText<'a>>,
    #[serde(default, borrow)]
    created_at: Option<JsonText<'a>>,
    #[serde(default)]
    in_reply_to_id: Option<u64>,
    #[serde(default, borrow)]
    path: Option<JsonText<'a>>,
    #[serde(default)]
    line: Option<u64>,
    #[serde(default, borrow)]
    diff_hunk: Option<JsonText<'a>>,
    #[serde(default, borrow)]
    performed_via_github_app: Option<RawApp<'a>>,
}

#[derive(Deserialize)]
struct RawApp<'a> {
    #[serde(default, borrow)]
    slug: Option<JsonText<'a>>,
}

#[derive(Deserialize)]
struct RawLabel<'a> {
    #[serde(borrow)]
    name: JsonText<'a>,
}

#[derive(Deserialize)]
struct RawHead<'a> {
    #[serde(rename = "ref", default, borrow)]
    git_ref: JsonText<'a>,
    #[serde(default, borrow)]
    repo: Option<RawRepo<'a>>,
}

#[derive(Deserialize)]
struct RawReview<'a> {
    id: u64,
    #[serde(default, borrow)]
    body: Option<JsonText<'a>>,
    #[serde(default, borrow)]
    user: Option<RawUser<'a>>,
    #[serde(default, borrow)]
    state: Option<JsonText<'a>>,
    #[serde(default, borrow)]
    submitted_at: Option<JsonText<'a>>,
}

pub(crate) use crate::provider::PayloadError;

impl<'a> RawEvent<'a> {
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, PayloadError> {
        crate::http::parse_json_body(body).ok_or(PayloadError::Json)
    }

    pub(crate) fn action(&self) -> Cow<'_, str> {
        self.action.as_ref().map(JsonText::text).unwrap_or_default()
    }

    pub(crate) fn label_name(&self) -> Option<Cow<'_, str>> {
        self.label.as_ref().map(|l| l.name.text())
    }

    /// The login an `assigned` / `unassigned` event names.
    pub(crate) fn assignee_login(&self) -> Option<Cow<'_, str>> {
        self.assignee.as_ref().map(|a| a.login.text())
    }

    /// Text that might carry a mention, for the cheap webhook prefilter: the comment or review, else the body of
    /// the issue or pull request (a new one).
    pub(crate) fn mention_text(&self) -> Option<Cow<'_, str>> {
        self.comment
            .as_ref()
            .and_then(|c| c.body.as_ref())
            .or_else(|| self.review.as_ref().and_then(|r| r.body.as_ref()))
            .or_else(|| self.issue.as_ref().and_then(|i| i.body.as_ref()))
            .or_else(|| self.pull_request.as_ref().and_then(|p| p.body.as_ref()))
            .map(JsonText::text)
    }

    /// Whether the issue or pull request carries a label named `label` (any case).
    pub(crate) fn has_label(&self, label: &str) -> bool {
        let labels = match (&self.issue, &self.pull_request) {
            (Some(issue), _) => &issue.labels,
            (None, Some(pull)) => &pull.labels,
            (None, None) => return false,
        };
        labels.iter().any(|l| l.name.text().eq_ignore_ascii_case(label))
    }

    /// Trim to the queued shape. Requires what every trigger needs: installation, repository, sender and an
    /// issue or pull request.
    pub(crate) fn into_event(self) -> Result<GithubEvent<JsonText<'a>>, PayloadError> {
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
                title: trimmed(i.title),
                body: trimmed(i.body),
                is_pull_request: i.pull_request.is_some(),
                html_url: i.html_url.unwrap_or_default(),
                updated_at: i.updated_at.unwrap_or_default(),
                created_at: i.created_at.unwrap_or_default(),
                labels: label_names(i.labels),
            }),
            comment: self.comment.map(|c| GithubComment {
                id: c.id,
                body: trimmed(c.body),
                user: c.user.map(user).unwrap_or_default(),
                html_url: c.html_url.unwrap_or_default(),
                created_at: c.created_at.unwrap_or_default(),
                in_reply_to_id: c.in_reply_to_id,
                path: c.path,
                line: c.line,
                diff_hunk: c.diff_hunk.map(JsonText::trimmed),
                via_app_slug: c.performed_via_github_app.and_then(|a| a.slug),
            }),
            label: self.label.map(|l| l.name),
            pull_request: self.pull_request.map(|p| GithubPull {
                number: p.number,
                title: trimmed(p.title),
                body: trimmed(p.body),
                head_ref: p.head.as_ref().map(|h| h.git_ref.clone()).unwrap_or_default(),
                head_repository: p
                    .head
                    .and_then(|h| h.repo)
                    .map(|r| r.full_name)
                    .unwrap_or_default(),
                html_url: p.html_url.unwrap_or_default(),
                updated_at: p.updated_at.unwrap_or_default(),
                created_at: p.created_at.unwrap_or_default(),
                labels: label_names(p.labels),
            }),
            review: self.review.map(|r| GithubReview {
                id: r.id,
                body: trimmed(r.body),
                user: r.user.map(user).unwrap_or_default(),
                state: r.state.unwrap_or_default(),
                submitted_at: r.submitted_at.unwrap_or_default(),
            }),
            assignee: self.assignee.map(user),
        })
    }
}

fn user(raw: RawUser<'_>) -> GithubUser<JsonText<'_>> {
    GithubUser {
        id: raw.id,
        login: raw.login,
        kind: raw.kind,
    }
}

/// The names of the first [`MAX_LABELS`] labels, each cut when too long.
fn label_names(labels: Vec<RawLabel<'_>>) -> Vec<JsonText<'_>> {
    labels
        .into_iter()
        .take(MAX_LABELS)
        .map(|l| l.name.trimmed())
        .collect()
}

/// An optional text field as queued: empty when absent, cut when too long.
fn trimmed(text: Option<JsonText<'_>>) -> JsonText<'_> {
    text.map(JsonText::trimmed).unwrap_or_default()
}

/// Cut `text` to [`MAX_FIELD_BYTES`] (see [`crate::text::cut_to`]).
fn trim_field(text: String) -> String {
    crate::text::cut_to(text, MAX_FIELD_BYTES)
}
