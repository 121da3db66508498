//! GitLab webhook payloads: the raw shape as delivered (only the fields Hookline reads) and
//! the trimmed [`GitlabEvent`] that travels on the queue. Long text is cut so a huge description never
//! exceeds the queue's size limit.

use serde::{Deserialize, Serialize};

use super::Noteable;

/// Longest text field kept in a queued event; longer text is cut at a character boundary and flagged.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Which hook the event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    /// `Issue Hook` / `Confidential Issue Hook`.
    Issue,
    /// `Merge Request Hook`.
    MergeRequest,
    /// `Note Hook` / `Confidential Note Hook`.
    Note,
}

impl HookKind {
    /// The kind for an `X-Gitlab-Event` header value, `None` for hooks that never trigger.
    pub fn from_header(value: &str) -> Option<Self> {
        match value.trim() {
            "Issue Hook" | "Confidential Issue Hook" => Some(HookKind::Issue),
            "Merge Request Hook" => Some(HookKind::MergeRequest),
            "Note Hook" | "Confidential Note Hook" => Some(HookKind::Note),
            _ => None,
        }
    }

    /// The body's `object_kind` for this hook.
    fn object_kind(self) -> &'static str {
        match self {
            HookKind::Issue => "issue",
            HookKind::MergeRequest => "merge_request",
            HookKind::Note => "note",
        }
    }
}

/// The trimmed event on the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitlabEvent {
    pub hook: HookKind,
    /// `object_attributes.action` (`open`, `update`, `create`, …); empty when GitLab sent none.
    pub action: String,
    pub user: GitlabUser,
    pub project: GitlabProject,
    pub item: GitlabItem,
    /// Labels in `changes.labels.current` but not in `.previous` (issue and merge request hooks).
    #[serde(default)]
    pub labels_added: Vec<String>,
    /// Users in `changes.assignees.current` but not in `.previous` (issue and merge request hooks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignees_added: Vec<GitlabUser>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<GitlabNote>,
    /// What the worker read back from GitLab with the bot's token before deciding; never from the hook, whose
    /// one instance-wide token every hook owner knows. `None` until read back: such an event starts nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_back: Option<ReadBack>,
}

/// GitLab's own answer about the event's item, which replaces the hook's copy of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadBack {
    /// Of the labels in [`GitlabEvent::labels_added`], those GitLab's label events show the event's user
    /// adding: the newest such event of each.
    #[serde(default)]
    pub labels: Vec<LabelAdded>,
    /// Who opened the item, as GitLab says.
    #[serde(default)]
    pub author_id: Option<u64>,
    /// Its assignees now, as GitLab says (read for an assignment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignees: Vec<GitlabUser>,
    /// When it last changed, as GitLab says (epoch seconds; read for an assignment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<u64>,
    /// For an assignment of the bot: GitLab's system notes that show the event's user assigning the item to the
    /// bot, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignments: Vec<Assignment>,
}

/// One of GitLab's system notes: a person assigning the item to the bot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The note's id: it keys the run, so a replayed or forged hook starts nothing new.
    pub note_id: u64,
    /// When it was made (epoch seconds).
    pub at: u64,
}

/// One of GitLab's label events: a person adding a label to the item.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelAdded {
    pub label: String,
    /// The label event's id: it keys the run, so a replayed hook starts nothing new, and project and group hooks
    /// reporting one change start one run.
    pub event_id: u64,
    /// When it was added (epoch seconds).
    pub added_at: u64,
}

/// The person who caused the event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitlabUser {
    pub id: u64,
    pub username: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitlabProject {
    pub id: u64,
    /// `group/subgroup/project`.
    pub path: String,
    pub web_url: String,
}

/// The issue or merge request the event is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitlabItem {
    pub noteable: Noteable,
    pub iid: u64,
    pub title: String,
    pub description: String,
    pub url: String,
    /// Merge requests: the branch to work on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_branch: Option<String>,
    /// Merge requests from a fork: the fork's `path_with_namespace` (where the source branch lives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fork_path: Option<String>,
    /// `object_attributes.updated_at` as the hook writes it (issue and merge request hooks).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub updated_at: String,
}

/// The note of a `Note Hook`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitlabNote {
    pub id: u64,
    pub body: String,
    /// System notes (label changes and the like) never trigger.
    pub system: bool,
    /// Internal (confidential) note.
    pub internal: bool,
    pub discussion_id: String,
    /// `DiffNote`, `DiscussionNote`, or empty for a plain note.
    pub note_type: String,
    /// `path:line` for diff notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl GitlabEvent {
    /// The ordering group and thread: one per issue or merge request of a project on a tenant.
    pub fn thread_key(&self, tenant: &str) -> String {
        thread_key(tenant, self.project.id, self.item.noteable, self.item.iid)
    }
}

/// `gitlab:{tenant}:{project id}:{issue|mr}:{iid}`.
pub fn thread_key(tenant: &str, project_id: u64, noteable: Noteable, iid: u64) -> String {
    format!("gitlab:{tenant}:{project_id}:{}:{iid}", noteable.key())
}

// ---- raw payload, as GitLab sends it ----

#[derive(Deserialize)]
pub(crate) struct RawEvent {
    #[serde(default)]
    object_kind: Option<String>,
    #[serde(default)]
    user: Option<RawUser>,
    #[serde(default)]
    project: Option<RawProject>,
    #[serde(default)]
    object_attributes: Option<RawAttributes>,
    #[serde(default)]
    changes: Option<RawChanges>,
    #[serde(default)]
    issue: Option<RawItem>,
    #[serde(default)]
    merge_request: Option<RawItem>,
}

#[derive(Deserialize, PartialEq)]
struct RawUser {
    #[serde(default)]
    id: u64,
    #[serde(default)]
    username: String,
}

#[derive(Deserialize)]
struct RawProject {
    id: u64,
    #[serde(default)]
    path_with_namespace: String,
    #[serde(default)]
    web_url: Option<String>,
}

/// `object_attributes` of any hook, and the embedded `issue` / `merge_request` of a note hook.
#[derive(Deserialize)]
struct RawAttributes {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    iid: Option<u64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    source_branch: Option<String>,
    #[serde(default)]
    source_project_id: Option<u64>,
    #[serde(default)]
    target_project_id: Option<u64>,
    #[serde(default)]
    source: Option<RawSourceProject>,
    // Note hooks only.
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    noteable_type: Option<String>,
    #[serde(default)]
    system: Option<bool>,
    #[serde(default)]
    internal: Option<bool>,
    #[serde(default)]
    confidential: Option<bool>,
    #[serde(default)]
    discussion_id: Option<String>,
    #[serde(default, rename = "type")]
    note_type: Option<String>,
    #[serde(default)]
    position: Option<RawPosition>,
}

type RawItem = RawAttributes;

#[derive(Deserialize)]
struct RawSourceProject {
    #[serde(default)]
    path_with_namespace: Option<String>,
}

#[derive(Deserialize)]
struct RawPosition {
    #[serde(default)]
    new_path: Option<String>,
    #[serde(default)]
    old_path: Option<String>,
    #[serde(default)]
    new_line: Option<u64>,
    #[serde(default)]
    old_line: Option<u64>,
}

#[derive(Deserialize)]
struct RawChanges {
    #[serde(default)]
    labels: Option<RawListChange<RawLabel>>,
    #[serde(default)]
    assignees: Option<RawListChange<RawUser>>,
}

/// A list the event changed, as it was and as it is. Entries are told apart by all their fields: a label by its
/// title, a user by id and username.
#[derive(Deserialize)]
#[serde(bound = "T: Deserialize<'de>")]
struct RawListChange<T> {
    #[serde(default)]
    previous: Vec<T>,
    #[serde(default)]
    current: Vec<T>,
}

impl<T: PartialEq> RawListChange<T> {
    /// The entries in `current` but not in `previous`.
    fn added(&self) -> impl Iterator<Item = &T> + '_ {
        self.current.iter().filter(|entry| !self.previous.contains(entry))
    }
}

#[derive(Deserialize, PartialEq)]
struct RawLabel {
    #[serde(default)]
    title: String,
}

pub(crate) use crate::provider::PayloadError;

impl RawEvent {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        crate::http::parse_json_body(body).ok_or(PayloadError::Json)
    }

    /// Does `object_kind` agree with the hook header (when present)?
    pub(crate) fn matches(&self, hook: HookKind) -> bool {
        self.object_kind
            .as_deref()
            .is_none_or(|kind| kind == hook.object_kind())
    }

    fn attributes(&self) -> Option<&RawAttributes> {
        self.object_attributes.as_ref()
    }

    /// Labels newly added by this event (titles in `current` but not in `previous`).
    pub(crate) fn labels_added(&self) -> Vec<String> {
        let added = self
            .changes
            .iter()
            .flat_map(|c| &c.labels)
            .flat_map(RawListChange::added);
        added.map(|label| label.title.clone()).collect()
    }

    /// Assignees newly added by this event (users in `current` but not in `previous`).
    pub(crate) fn assignees_added(&self) -> Vec<GitlabUser> {
        let added = self
            .changes
            .iter()
            .flat_map(|c| &c.assignees)
            .flat_map(RawListChange::added);
        added
            .map(|user| GitlabUser {
                id: user.id,
                username: user.username.clone(),
            })
            .collect()
    }

    /// The hook's `object_attributes.action`, empty when absent.
    pub(crate) fn action(&self) -> &str {
        self.attributes()
            .and_then(|a| a.action.as_deref())
            .unwrap_or_default()
    }

    /// For note hooks: the note's text, when it is a note on an issue or merge request that can trigger
    /// (not a system note, not an edit). The cheap webhook prefilter looks for the mention in it.
    pub(crate) fn new_note_text(&self) -> Option<&str> {
        let attrs = self.attributes()?;
        let on_item = matches!(attrs.noteable_type.as_deref(), Some("Issue" | "MergeRequest"));
        let is_new = attrs.action.as_deref().is_none_or(|a| a == "create");
        (on_item && is_new && attrs.system != Some(true))
            .then_some(attrs.note.as_deref())
            .flatten()
    }

    /// For issue and merge request hooks: the description of a newly opened one, where it may ask the bot.
    pub(crate) fn new_item_description(&self) -> Option<&str> {
        let attrs = self.attributes()?;
        (attrs.action.as_deref() == Some("open"))
            .then_some(attrs.description.as_deref())
            .flatten()
    }

    /// Trim to the queued shape. Requires what every trigger needs: a project, a user and an issue or merge
    /// request.
    pub(crate) fn into_event(self, hook: HookKind) -> Result<GitlabEvent, PayloadError> {
        let labels_added = self.labels_added();
        let assignees_added = self.assignees_added();
        let project = self.project.ok_or(PayloadError::Missing("project"))?;
        let user = self.user.ok_or(PayloadError::Missing("user"))?;
        let attrs = self
            .object_attributes
            .ok_or(PayloadError::Missing("object_attributes"))?;
        let web_url = project.web_url.unwrap_or_default();
        let (item_attrs, noteable, note) = match hook {
            HookKind::Issue => (attrs, Noteable::Issue, None),
            HookKind::MergeRequest => (attrs, Noteable::MergeRequest, None),
            HookKind::Note => {
                let (item, noteable) = match attrs.noteable_type.as_deref() {
                    Some("Issue") => (self.issue, Noteable::Issue),
                    Some("MergeRequest") => (self.merge_request, Noteable::MergeRequest),
                    _ => return Err(PayloadError::Missing("issue or merge_request")),
                };
                let item = item.ok_or(PayloadError::Missing("issue or merge_request"))?;
                let note = GitlabNote {
                    id: attrs.id.ok_or(PayloadError::Missing("note id"))?,
                    body: trim_field(attrs.note.unwrap_or_default()),
                    system: attrs.system.unwrap_or(false),
                    internal: attrs.internal.or(attrs.confidential).unwrap_or(false),
                    discussion_id: attrs.discussion_id.unwrap_or_default(),
                    note_type: attrs.note_type.unwrap_or_default(),
                    location: attrs.position.and_then(location),
                };
                let action = attrs.action.unwrap_or_default();
                return Ok(GitlabEvent {
                    hook,
                    action,
                    user: GitlabUser {
                        id: user.id,
                        username: user.username,
                    },
                    item: item_of(item, noteable, &web_url)?,
                    project: GitlabProject {
                        id: project.id,
                        path: project.path_with_namespace,
                        web_url,
                    },
                    labels_added: Vec::new(),
                    assignees_added: Vec::new(),
                    note: Some(note),
                    read_back: None,
                });
            }
        };
        let action = item_attrs.action.clone().unwrap_or_default();
        Ok(GitlabEvent {
            hook,
            action,
            user: GitlabUser {
                id: user.id,
                username: user.username,
            },
            item: item_of(item_attrs, noteable, &web_url)?,
            project: GitlabProject {
                id: project.id,
                path: project.path_with_namespace,
                web_url,
            },
            labels_added,
            assignees_added,
            note,
            read_back: None,
        })
    }
}

fn item_of(raw: RawItem, noteable: Noteable, project_web_url: &str) -> Result<GitlabItem, PayloadError> {
    let iid = raw.iid.ok_or(PayloadError::Missing("iid"))?;
    let url = raw
        .url
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("{project_web_url}/-/{}/{iid}", noteable.api_segment()));
    let is_fork = matches!((raw.source_project_id, raw.target_project_id), (Some(s), Some(t)) if s != t);
    let fork_path = is_fork
        .then(|| raw.source.and_then(|s| s.path_with_namespace))
        .flatten()
        .filter(|p| !p.is_empty());
    Ok(GitlabItem {
        noteable,
        iid,
        title: trim_field(raw.title.unwrap_or_default()),
        description: trim_field(raw.description.unwrap_or_default()),
        url,
        source_branch: raw
            .source_branch
            .filter(|b| !b.is_empty() && noteable == Noteable::MergeRequest),
        fork_path,
        updated_at: raw.updated_at.unwrap_or_default(),
    })
}

/// `path:line` of a diff note (the new side when the line exists there, else the old side).
fn location(position: RawPosition) -> Option<String> {
    match (
        position.new_path,
        position.new_line,
        position.old_path,
        position.old_line,
    ) {
        (Some(path), Some(line), _, _) => Some(format!("{path}:{line}")),
        (_, _, Some(path), Some(line)) => Some(format!("{path}:{line} (removed line)")),
        (Some(path), None, _, _) | (None, None, Some(path), None) => Some(path),
        _ => None,
    }
}

/// Cut `text` to [`MAX_FIELD_BYTES`] (see [`crate::text::cut_to`]).
fn trim_field(text: String) -> String {
    crate::text::cut_to(text, MAX_FIELD_BYTES)
}
/// Discussion ids are hex SHA-1s; anything else is not put into a URL.
pub(crate) fn valid_discussion_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}
