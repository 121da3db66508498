//! Jira webhook payloads: the raw shape as delivered (only the fields Hookline reads) and
//! the trimmed [`JiraEvent`] that travels on the queue. Comment bodies arrive as wiki-markup strings or as ADF
//! documents; both are flattened to text here, once, so the worker never sees ADF.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::adf::{self, MentionStyle};

/// Longest text field kept in a queued event (each comment is kept twice: display and mention form).
pub const MAX_FIELD_BYTES: usize = 32 * 1024;

/// The trimmed event on the queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraEvent {
    /// `webhookEvent`: `comment_created`, `jira:issue_updated`, `jira:issue_created`, …
    pub webhook_event: String,
    /// Who caused the event: `user` for issue events, the comment's author for comment events.
    pub actor: JiraUser,
    pub issue: JiraIssue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<JiraComment>,
    /// Labels this event added: the changelog's `labels` item (to-set minus from-set) for updates, the
    /// issue's labels for creations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_labels: Vec<String>,
    /// The changelog id of an update (stable identity of the label change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog_id: Option<String>,
    /// The accountId this event assigned the issue to (an update's `assignee` change, a creation's assignee).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
}

/// A Jira user as a payload names them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraUser {
    pub account_id: String,
    pub display_name: String,
    /// `atlassian` (a person), `app` (apps, automation) or `customer` (service-desk customers).
    pub account_type: String,
}

/// The issue an event is about.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraIssue {
    pub id: String,
    pub key: String,
    pub project_key: String,
    pub summary: String,
    /// `None` when the payload did not carry it (comment events carry a few fields only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A new issue's description in mention form (as [`JiraComment::mention_text`]), where its creation may ask
    /// the bot; empty for other events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mention_text: String,
}

/// A comment, flattened to text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraComment {
    pub id: String,
    pub author: JiraUser,
    /// What people read (picker mentions as their display text).
    pub body: String,
    /// What trigger detection reads (picker mentions as `[~accountid:…]`, quotes and code marked).
    pub mention_text: String,
}

impl JiraEvent {
    /// The ordering group and thread: one per issue on one site (`jira:acme:10042`).
    pub fn thread_key(&self, site: &str) -> String {
        format!("jira:{site}:{}", self.issue.id)
    }
}

// ---- raw payload, as Jira sends it ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawEvent {
    #[serde(default)]
    webhook_event: String,
    #[serde(default)]
    user: Option<RawUser>,
    #[serde(default)]
    issue: Option<RawIssue>,
    #[serde(default)]
    comment: Option<RawComment>,
    #[serde(default)]
    changelog: Option<RawChangelog>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawUser {
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    account_type: Option<String>,
}

#[derive(Deserialize)]
struct RawIssue {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    fields: Option<RawFields>,
}

#[derive(Deserialize)]
struct RawFields {
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    description: Option<Value>,
    #[serde(default)]
    labels: Option<Vec<String>>,
    #[serde(default)]
    project: Option<RawProject>,
    #[serde(default)]
    assignee: Option<RawAssignee>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAssignee {
    #[serde(default)]
    account_id: Option<String>,
}

#[derive(Deserialize)]
struct RawProject {
    #[serde(default)]
    key: Option<String>,
}

#[derive(Deserialize)]
struct RawComment {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    body: Value,
    #[serde(default)]
    author: Option<RawUser>,
}

#[derive(Deserialize)]
struct RawChangelog {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    items: Vec<RawChangeItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawChangeItem {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    field_id: Option<String>,
    #[serde(default)]
    from_string: Option<String>,
    #[serde(default)]
    to_string: Option<String>,
    /// The new value's id (an accountId for `assignee`).
    #[serde(default)]
    to: Option<String>,
}

pub(crate) use crate::provider::PayloadError;

impl RawEvent {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        crate::http::parse_json_body(body).ok_or(PayloadError::Json)
    }

    pub(crate) fn webhook_event(&self) -> &str {
        &self.webhook_event
    }

    /// The accountId this event assigns the issue to (see [`JiraEvent::assigned_to`]).
    pub(crate) fn assigned_to(&self) -> Option<String> {
        let assigned = match self.webhook_event.as_str() {
            "jira:issue_created" => self
                .issue
                .as_ref()
                .and_then(|i| i.fields.as_ref())
                .and_then(|f| f.assignee.as_ref())
                .and_then(|a| a.account_id.clone()),
            _ => self.changes("assignee").next().and_then(|item| item.to.clone()),
        };
        assigned.filter(|id| !id.is_empty())
    }

    /// Labels this event adds (see [`JiraEvent::added_labels`]).
    pub(crate) fn added_labels(&self) -> Vec<String> {
        match self.webhook_event.as_str() {
            "jira:issue_created" => self
                .issue
                .as_ref()
                .and_then(|i| i.fields.as_ref())
                .and_then(|f| f.labels.clone())
                .unwrap_or_default(),
            _ => self
                .changes("labels")
                .flat_map(|item| {
                    label_set_difference(
                        item.to_string.as_deref().unwrap_or(""),
                        item.from_string.as_deref().unwrap_or(""),
                    )
                })
                .collect(),
        }
    }

    /// The changelog's items for `field` (by id, or by name in any case).
    fn changes<'s>(&'s self, field: &'s str) -> impl Iterator<Item = &'s RawChangeItem> + 's {
        self.changelog
            .iter()
            .flat_map(|changelog| &changelog.items)
            .filter(move |item| {
                item.field_id.as_deref() == Some(field)
                    || item
                        .field
                        .as_deref()
                        .is_some_and(|f| f.eq_ignore_ascii_case(field))
            })
    }

    /// A new issue's description in mention form (`None` for other events).
    pub(crate) fn created_mention_text(&self) -> Option<String> {
        if self.webhook_event != "jira:issue_created" {
            return None;
        }
        let description = self.issue.as_ref()?.fields.as_ref()?.description.as_ref()?;
        Some(adf::body_text(description, MentionStyle::Token))
    }

    /// The comment's text in mention form, for the cheap webhook prefilter.
    pub(crate) fn comment_mention_text(&self) -> Option<String> {
        self.comment
            .as_ref()
            .map(|c| adf::body_text(&c.body, MentionStyle::Token))
    }

    /// Trim to the queued shape. Requires an issue with an id and a key.
    pub(crate) fn into_event(self) -> Result<JiraEvent, PayloadError> {
        let added_labels = self.added_labels();
        let assigned_to = self.assigned_to();
        let mention_text = self.created_mention_text().map(trim_field).unwrap_or_default();
        let issue = self.issue.ok_or(PayloadError::Missing("issue"))?;
        let id = id_string(&issue.id).ok_or(PayloadError::Missing("issue.id"))?;
        let key = issue
            .key
            .filter(|k| !k.is_empty())
            .ok_or(PayloadError::Missing("issue.key"))?;
        let fields = issue.fields;
        let project_key = fields
            .as_ref()
            .and_then(|f| f.project.as_ref())
            .and_then(|p| p.key.clone())
            .unwrap_or_else(|| {
                key.rsplit_once('-')
                    .map(|(p, _)| p.to_owned())
                    .unwrap_or_default()
            });
        let summary = fields
            .as_ref()
            .and_then(|f| f.summary.clone())
            .unwrap_or_default();
        let description = fields
            .as_ref()
            .and_then(|f| f.description.as_ref())
            .map(|d| trim_field(adf::body_text(d, MentionStyle::Display)));
        let comment = match self.comment {
            None => None,
            Some(raw) => {
                let id = id_string(&raw.id).ok_or(PayloadError::Missing("comment.id"))?;
                Some(JiraComment {
                    id,
                    author: raw.author.map(user).unwrap_or_default(),
                    body: trim_field(adf::body_text(&raw.body, MentionStyle::Display)),
                    mention_text: trim_field(adf::body_text(&raw.body, MentionStyle::Token)),
                })
            }
        };
        let actor = match (&comment, self.user) {
            (Some(comment), _) if self.webhook_event.starts_with("comment_") => comment.author.clone(),
            (_, Some(raw)) => user(raw),
            (_, None) => JiraUser::default(),
        };
        Ok(JiraEvent {
            webhook_event: self.webhook_event,
            actor,
            issue: JiraIssue {
                id,
                key,
                project_key,
                summary: trim_field(summary),
                description,
                mention_text,
            },
            comment,
            added_labels,
            changelog_id: self.changelog.as_ref().and_then(|c| id_string(&c.id)),
            assigned_to,
        })
    }
}

/// Labels in the space-separated `to` list that are not in `from` (Jira labels cannot contain spaces).
pub fn label_set_difference(to: &str, from: &str) -> Vec<String> {
    let before: BTreeSet<&str> = from.split_whitespace().collect();
    let mut added: Vec<String> = Vec::new();
    for label in to.split_whitespace() {
        if !before.contains(label) && !added.iter().any(|a| a == label) {
            added.push(label.to_owned());
        }
    }
    added
}

/// Jira ids are strings in payloads, but numbers have been seen; accept both, digits only.
fn id_string(value: &Value) -> Option<String> {
    let id = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

fn user(raw: RawUser) -> JiraUser {
    JiraUser {
        account_id: raw.account_id.unwrap_or_default(),
        display_name: raw.display_name.unwrap_or_default(),
        account_type: raw.account_type.unwrap_or_default(),
    }
}

/// Cut `text` to [`MAX_FIELD_BYTES`] (see [`crate::text::cut_to`]).
fn trim_field(text: String) -> String {
    crate::text::cut_to(text, MAX_FIELD_BYTES)
}
