//! Linear webhook payloads: the raw `EntityWebhookPayload` as delivered (only the fields
//! Hookline reads) and the trimmed [`LinearEvent`] that travels on the queue. Long text is cut so a queue
//! message stays small whatever the issue holds.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Longest text field kept in a queued event; longer text is cut at a character boundary and flagged.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// What kind of trigger candidate a queued event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinearEventKind {
    /// `type: Comment`, `action: create`, whose body may mention the handle.
    Comment,
    /// `type: Issue`, `action: update`, where labels were added.
    LabelsAdded,
    /// `type: Issue`, `action: create`, whose description may mention the handle or which has the label.
    Created,
    /// `type: Issue`, `action: update`, assigned or delegated to Hookline's service account.
    Assigned,
}

/// The trimmed event on the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearEvent {
    pub kind: LinearEventKind,
    pub issue: LinearIssue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<LinearComment>,
    /// Who did it: the comment's author, or the actor who changed the labels.
    pub author: LinearAuthor,
    /// Labels present now that were not before (label events).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_labels: Vec<LinearLabel>,
    /// The entity's `updatedAt` (label events): stable across redeliveries, so it names the label event.
    #[serde(default)]
    pub updated_at: String,
}

/// The issue an event is about.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearIssue {
    /// UUID.
    pub id: String,
    /// `ENG-123`.
    pub identifier: String,
    pub title: String,
    /// Markdown; absent from comment events (fetched with the thread context instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub url: String,
    #[serde(default)]
    pub team_key: String,
}

/// The triggering comment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearComment {
    pub id: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// True when Linear says it was edited (never a trigger).
    #[serde(default)]
    pub edited: bool,
}

/// The person (or app) behind an event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearAuthor {
    /// Linear user id (empty when the event names none).
    pub id: String,
    pub name: String,
    /// The webhook `actor.type` (`user` for people), empty when absent.
    #[serde(default)]
    pub actor_type: String,
    /// `botActor` was set: an app or integration wrote it.
    #[serde(default)]
    pub bot_actor: bool,
}

impl LinearAuthor {
    /// Apps, integrations and anything but a user never trigger.
    pub fn is_bot(&self) -> bool {
        self.bot_actor || (!self.actor_type.is_empty() && !self.actor_type.eq_ignore_ascii_case("user"))
    }
}

/// A label, by id and (when the payload carried it) name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearLabel {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

impl LinearEvent {
    /// The ordering group and thread: one per issue (`linear:<tenant>:<issue uuid>`).
    pub fn thread_key(&self, tenant: &str) -> String {
        format!("linear:{tenant}:{}", self.issue.id)
    }
}

// ---- raw payload, as Linear sends it ----

/// The envelope of every Linear webhook (`EntityWebhookPayload`), reduced to what Hookline reads.
#[derive(Deserialize)]
pub(crate) struct RawPayload {
    #[serde(default)]
    action: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    actor: Option<RawActor>,
    #[serde(default, rename = "createdAt")]
    created_at: Option<String>,
    #[serde(default)]
    data: Option<RawData>,
    #[serde(default, rename = "updatedFrom")]
    updated_from: Option<RawUpdatedFrom>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "organizationId")]
    organization_id: Option<String>,
    #[serde(default, rename = "webhookId")]
    webhook_id: Option<String>,
    #[serde(default, rename = "webhookTimestamp")]
    webhook_timestamp: Option<Value>,
}

#[derive(Deserialize)]
struct RawActor {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// `data`: fields of an Issue or a Comment (each event fills its own).
#[derive(Deserialize)]
struct RawData {
    #[serde(default)]
    id: Option<String>,
    // Comment fields.
    #[serde(default)]
    body: Option<String>,
    #[serde(default, rename = "issueId")]
    issue_id: Option<String>,
    #[serde(default)]
    issue: Option<RawIssueRef>,
    #[serde(default, rename = "userId")]
    user_id: Option<String>,
    #[serde(default)]
    user: Option<RawUser>,
    #[serde(default, rename = "botActor")]
    bot_actor: Option<Value>,
    #[serde(default, rename = "parentId")]
    parent_id: Option<String>,
    #[serde(default)]
    edited: Option<bool>,
    #[serde(default, rename = "editedAt")]
    edited_at: Option<String>,
    // Issue fields.
    #[serde(default)]
    identifier: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    team: Option<RawTeam>,
    #[serde(default, rename = "labelIds")]
    label_ids: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<Vec<RawLabel>>,
    #[serde(default, rename = "updatedAt")]
    updated_at: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "assigneeId")]
    assignee_id: Option<String>,
    #[serde(default, rename = "delegateId")]
    delegate_id: Option<String>,
}

#[derive(Deserialize)]
struct RawIssueRef {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    identifier: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    team: Option<RawTeam>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct RawTeam {
    #[serde(default)]
    key: Option<String>,
}

#[derive(Deserialize)]
struct RawUser {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "displayName")]
    display_name: Option<String>,
}

#[derive(Deserialize)]
struct RawLabel {
    id: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawUpdatedFrom {
    #[serde(default, rename = "labelIds")]
    label_ids: Option<Vec<String>>,
    /// Present (the old value, perhaps null) only when the update changed it.
    #[serde(default, rename = "assigneeId", deserialize_with = "present")]
    assignee_id: Option<Option<String>>,
    #[serde(default, rename = "delegateId", deserialize_with = "present")]
    delegate_id: Option<Option<String>>,
}

/// A field that may be null, told apart from one that is absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub(crate) use crate::provider::PayloadError;

impl RawPayload {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        crate::http::parse_json_body(body).ok_or(PayloadError::Json)
    }

    /// `webhookTimestamp` in epoch milliseconds, if the body carries a usable one.
    pub(crate) fn webhook_timestamp_ms(&self) -> Option<u64> {
        let value = self.webhook_timestamp.as_ref()?;
        value.as_u64().or_else(|| {
            value
                .as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        })
    }

    pub(crate) fn organization_id(&self) -> Option<&str> {
        self.organization_id.as_deref()
    }

    pub(crate) fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("")
    }

    pub(crate) fn action(&self) -> &str {
        self.action.as_deref().unwrap_or("")
    }

    /// A new comment's body (for the webhook prefilter).
    pub(crate) fn comment_body(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.body.as_deref())
    }

    /// Whether this update assigned or delegated the issue to `user_id` (it was not before).
    pub(crate) fn assigned_to(&self, user_id: &str) -> bool {
        let (Some(data), Some(before)) = (&self.data, &self.updated_from) else {
            return false;
        };
        let newly = |now: &Option<String>, before: &Option<Option<String>>| {
            now.as_deref() == Some(user_id)
                && before.as_ref().is_some_and(|old| old.as_deref() != Some(user_id))
        };
        !user_id.is_empty()
            && (newly(&data.assignee_id, &before.assignee_id)
                || newly(&data.delegate_id, &before.delegate_id))
    }

    /// A new issue's description.
    pub(crate) fn description(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.description.as_deref())
    }

    /// Labels now on the issue that `updatedFrom.labelIds` shows were not there before. Empty when the update
    /// did not touch labels (`updatedFrom.labelIds` absent): an edit of an already labelled issue is no trigger.
    pub(crate) fn added_labels(&self) -> Vec<LinearLabel> {
        let none = Vec::new();
        // A new issue's labels are all new.
        let before = match self.updated_from.as_ref().and_then(|u| u.label_ids.as_ref()) {
            Some(before) => before,
            None if self.action() == "create" => &none,
            None => return Vec::new(),
        };
        let Some(data) = &self.data else {
            return Vec::new();
        };
        let now = data.label_ids.as_deref().unwrap_or_default();
        now.iter()
            .filter(|id| !before.contains(id))
            .map(|id| LinearLabel {
                id: id.clone(),
                name: data
                    .labels
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .find(|label| &label.id == id)
                    .and_then(|label| label.name.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// The fallback dedup key, for deliveries without a usable `Linear-Delivery` header: a hash of
    /// `webhookId`, `type`, `action`, `data.id` and `createdAt` — all from the verified body, all the same on a
    /// redelivery of one event (unlike `webhookTimestamp`, which Linear stamps per attempt).
    pub(crate) fn fallback_delivery_id(&self) -> Option<String> {
        let webhook_id = self.webhook_id.as_deref().filter(|s| !s.is_empty())?;
        let data_id = self
            .data
            .as_ref()
            .and_then(|d| d.id.as_deref())
            .filter(|s| !s.is_empty())?;
        let created_at = self.created_at.as_deref().unwrap_or_default();
        let mut hash = Sha256::new();
        for part in [webhook_id, self.kind(), self.action(), data_id, created_at] {
            hash.update(part.as_bytes());
            hash.update([0u8]);
        }
        let digest = hex::encode(hash.finalize());
        Some(format!("body-{}", &digest[..40]))
    }

    /// Trim to the queued shape. Requires the issue id and (for comments) the comment id.
    pub(crate) fn into_event(self, kind: LinearEventKind) -> Result<LinearEvent, PayloadError> {
        let added_labels = if kind != LinearEventKind::Comment {
            self.added_labels()
        } else {
            Vec::new()
        };
        let data = self.data.ok_or(PayloadError::Missing("data"))?;
        let actor = self.actor;
        let actor_type = actor.as_ref().and_then(|a| a.kind.clone()).unwrap_or_default();
        let bot_actor = data.bot_actor.as_ref().is_some_and(|v| !v.is_null());
        match kind {
            LinearEventKind::Comment => {
                let comment_id = data.id.ok_or(PayloadError::Missing("data.id"))?;
                let issue_ref = data.issue;
                let issue_id = data
                    .issue_id
                    .or_else(|| issue_ref.as_ref().and_then(|i| i.id.clone()))
                    .ok_or(PayloadError::Missing("data.issueId"))?;
                let (user_id, user_name) = match data.user {
                    Some(user) => (user.id, user.display_name.or(user.name)),
                    None => (None, None),
                };
                let author_id = data
                    .user_id
                    .or(user_id)
                    .or_else(|| actor.as_ref().and_then(|a| a.id.clone()))
                    .unwrap_or_default();
                let author_name = user_name
                    .or_else(|| actor.as_ref().and_then(|a| a.name.clone()))
                    .unwrap_or_default();
                let issue = match issue_ref {
                    Some(issue) => LinearIssue {
                        id: issue_id,
                        identifier: issue.identifier.unwrap_or_default(),
                        title: trim_field(issue.title.unwrap_or_default()),
                        description: issue.description.map(trim_field),
                        url: issue.url.unwrap_or_default(),
                        team_key: issue.team.and_then(|t| t.key).unwrap_or_default(),
                    },
                    None => LinearIssue {
                        id: issue_id,
                        url: self.url.clone().unwrap_or_default(),
                        ..LinearIssue::default()
                    },
                };
                Ok(LinearEvent {
                    kind,
                    issue,
                    comment: Some(LinearComment {
                        id: comment_id,
                        body: trim_field(data.body.unwrap_or_default()),
                        parent_id: data.parent_id,
                        edited: data.edited.unwrap_or(false) || data.edited_at.is_some(),
                    }),
                    author: LinearAuthor {
                        id: author_id,
                        name: author_name,
                        actor_type,
                        bot_actor,
                    },
                    added_labels,
                    updated_at: data.updated_at.unwrap_or_default(),
                })
            }
            LinearEventKind::LabelsAdded | LinearEventKind::Created | LinearEventKind::Assigned => {
                let issue_id = data.id.ok_or(PayloadError::Missing("data.id"))?;
                let actor = actor.ok_or(PayloadError::Missing("actor"))?;
                Ok(LinearEvent {
                    kind,
                    issue: LinearIssue {
                        id: issue_id,
                        identifier: data.identifier.unwrap_or_default(),
                        title: trim_field(data.title.unwrap_or_default()),
                        description: Some(trim_field(data.description.unwrap_or_default())),
                        url: data.url.or(self.url).unwrap_or_default(),
                        team_key: data.team.and_then(|t| t.key).unwrap_or_default(),
                    },
                    comment: None,
                    author: LinearAuthor {
                        id: actor.id.unwrap_or_default(),
                        name: actor.name.unwrap_or_default(),
                        actor_type,
                        // `data.botActor` on an issue names who created the issue, not who labelled it.
                        bot_actor: kind == LinearEventKind::Created && bot_actor,
                    },
                    added_labels,
                    updated_at: data.updated_at.unwrap_or_default(),
                })
            }
        }
    }
}

/// Cut `text` to [`MAX_FIELD_BYTES`] (see [`crate::text::cut_to`]).
fn trim_field(text: String) -> String {
    crate::text::cut_to(text, MAX_FIELD_BYTES)
}
