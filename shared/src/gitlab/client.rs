//! GitLab REST v4 client implementing [`crate::ports::SourceClient`].
//!
//! - A [`SourceRef`] is interpreted in one place, `GitlabClient::thread`: it picks the tenant (base URL and
//!   API token) the source belongs to and builds the issue / merge request URL from numeric ids only.
//! - Every call goes through `GitlabClient::call` with `PRIVATE-TOKEN` (a bot user's or service account's
//!   personal access token, or a project/group access token) read from `gitlab/<tenant>/api-token`.
//! - Answers are classified by the outbound toolkit (`outbound::classify`); `GitlabApi` says only
//!   when GitLab's quota resets (`RateLimit-Reset`) and where its error message is.
//!
//! Hookline's notes carry an invisible marker (`<!-- hookline:… -->`) so a status note can be found again
//! after a crash and so Hookline's own text never feeds back into a prompt.

use std::{borrow::Cow, collections::HashMap, ops::ControlFlow, time::Duration};

use async_trait::async_trait;
use reqwest::{header::ACCEPT, Method};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};

use super::{
    config::GitlabTenant,
    event::{valid_discussion_id, Assignment, GitlabUser, LabelAdded, MAX_FIELD_BYTES},
    GitlabConfig, GitlabSource, GitlabTarget, Noteable,
};
use crate::{
    domain::{Actor, SourceRef, StatusRef},
    error::PortError,
    outbound::{
        self, edited, fit, found, header_str, header_u64, is_status, parse_json, parse_timestamp, scan_pages,
        status_id, string_field, Answer, Call, Dialect, Page, Scanned, Signals, StatusFormat,
    },
    ports::{foreign_source, Access, ContextMessage, SourceClient},
    provider::Outbound,
    text,
};

/// Page size for note listings (GitLab's maximum).
pub const PAGE_SIZE: u32 = 100;
/// Most pages read when scanning a thread's notes.
pub const MAX_PAGES: usize = 5;
/// Wait for a 429 that names no time (some GitLab limiters send none).
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// Lowest access level that may trigger runs: Developer.
pub const MIN_ACCESS_LEVEL: u64 = 30;
/// Maintainer (40) and above may also steer runs someone else started.
pub const MAINTAINER_ACCESS_LEVEL: u64 = 40;

/// GitLab's limit on a note body, in characters.
const MAX_NOTE_CHARS: usize = 1_000_000;
/// Names the marker check in errors.
const STATUS_MARKER: &str = "GitLab status marker";
/// Status notes: the marker check as errors name it, and GitLab's limit on a note.
const STATUS: StatusFormat = StatusFormat {
    check: STATUS_MARKER,
    max_chars: MAX_NOTE_CHARS,
};

/// How an operation is named in errors: `GitLab API (create note)`.
fn what(op: &str) -> String {
    format!("GitLab API ({op})")
}

/// What the client needs of one tenant.
#[derive(Clone, Debug)]
struct TenantApi {
    api_url: String,
    bot_username: String,
    api_token_secret: String,
}

/// [`SourceClient`] for GitLab, acting as each tenant's bot account.
#[derive(Debug)]
pub struct GitlabClient {
    out: Outbound,
    tenants: HashMap<String, TenantApi>,
}

impl GitlabClient {
    /// A client for every tenant in `config`; API tokens are read through `out` on use.
    pub fn new(config: GitlabConfig, out: &Outbound) -> Self {
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
        let out = out.clone();
        Self { out, tenants }
    }

    /// The one place a [`SourceRef`] is interpreted: other providers' variants and unknown tenants are refused.
    fn thread<'a>(&'a self, source: &'a SourceRef) -> Result<Thread<'a>, PortError> {
        let SourceRef::Gitlab(source) = source else {
            return Err(foreign_source("gitlab client", source));
        };
        self.checked(Cow::Borrowed(source))
    }

    /// A thread for `source`, on a configured tenant and with a well-formed discussion id.
    fn checked<'a>(&'a self, source: Cow<'a, GitlabSource>) -> Result<Thread<'a>, PortError> {
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
    ) -> Result<Answer, PortError> {
        let what = what(op);
        let secret = &thread.tenant.api_token_secret;
        let token = outbound::credential(self.out.secrets.as_ref(), secret, "gitlab api token").await?;
        let mut request = self
            .out
            .http
            .request(method, url)
            .header("private-token", token.expose())
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let credentials = [&token];
        let call = Call::new(&what)
            .credentials(&credentials)
            .at(self.out.clock.now_millis());
        let source = &thread.source;
        let response = outbound::send(&call, request).await.inspect_err(|err| {
            tracing::warn!(op, tenant = %source.tenant, project = source.project_id, iid = source.iid, error = %err, "GitLab request failed");
        })?;
        let result = outbound::classify(&GitlabApi, &call, &response);
        outbound::log_outcome!(
            &result,
            "GitLab",
            status = response.status,
            op,
            tenant = %source.tenant,
            project = source.project_id,
            iid = source.iid
        );
        result.map(|()| response)
    }

    /// The notes of the issue / merge request, oldest first.
    async fn notes(&self, thread: &Thread<'_>) -> Result<Vec<Note>, PortError> {
        let url = format!("{}/notes?sort=asc&order_by=created_at", thread.item_url);
        self.pages(thread, "list notes", &url).await
    }

    /// Every item of a listing at `url`, at most [`MAX_PAGES`] pages. Pages are followed with `X-Next-Page` (while
    /// it moves on) on URLs built here, so the token never goes anywhere but the configured API.
    async fn pages<T: DeserializeOwned>(
        &self,
        thread: &Thread<'_>,
        op: &'static str,
        url: &str,
    ) -> Result<Vec<T>, PortError> {
        let joiner = if url.contains('?') { '&' } else { '?' };
        let fetch = move |page: u32| async move {
            let url = format!("{url}{joiner}per_page={PAGE_SIZE}&page={page}");
            let response = self.call(thread, op, Method::GET, &url, None).await?;
            let items: Vec<T> = parse_json(&what(op), &response.body)?;
            let next = header_str(&response.headers, "x-next-page").and_then(|v| v.parse::<u32>().ok());
            Ok::<_, PortError>(Page {
                items,
                next: next.filter(|next| *next > page),
            })
        };
        let mut all = Vec::new();
        let scanned = scan_pages(MAX_PAGES, 1, fetch, |item| {
            all.push(item);
            ControlFlow::<()>::Continue(())
        })
        .await?;
        if matches!(scanned, Scanned::PageLimit) {
            tracing::info!(op, tenant = %thread.source.tenant, project = thread.source.project_id, iid = thread.source.iid, "stopped reading at the page limit");
        }
        Ok(all)
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
    ) -> Option<((u64, u64), ContextMessage)> {
        if note.system || self.is_own(thread, &note) {
            return None;
        }
        // Internal notes are for project members only; the result of a run asked for in public is public, so
        // they stay out of its prompt (a run asked for in an internal note answers internally).
        if (note.internal || note.confidential) && !thread.source.internal {
            return None;
        }
        // A note without a readable time cannot be shown to predate the trigger: leave it out.
        let created_at = note.created_at.as_deref().and_then(parse_timestamp)?;
        if created_at > until {
            return None;
        }
        let text = note.body.as_deref().unwrap_or_default();
        let message = ContextMessage::earlier(note.author.map(|a| a.username), "ghost", text)?;
        Some(((created_at, note.id), message))
    }
}

#[async_trait]
impl SourceClient for GitlabClient {
    /// Developer (30) or more on the project, inherited and shared memberships included
    /// (`/projects/:id/members/all/:user_id`); not a member (404) or not active → no.
    async fn access(&self, source: &SourceRef, actor: &Actor) -> Result<Access, PortError> {
        const OP: &str = "read project member";
        let thread = self.thread(source)?;
        if thread.source.actor_id == 0 {
            return Ok(Access::None);
        }
        if let Some(note_id) = thread.source.target.note_id() {
            if !self.confirms_note(&thread, note_id).await? {
                tracing::warn!(
                    tenant = %thread.source.tenant,
                    project = thread.source.project_id,
                    note_id,
                    actor = %actor.login,
                    "GitLab does not confirm the note as delivered (project, author or text); a forged hook?"
                );
                return Ok(Access::None);
            }
        }
        let url = format!("{}/members/all/{}", thread.project_url, thread.source.actor_id);
        let Some(response) = found(self.call(&thread, OP, Method::GET, &url, None).await)? else {
            return Ok(Access::None);
        };
        let member: Member = parse_json(&what(OP), &response.body)?;
        let active = member.state.as_deref().is_none_or(|s| s == "active");
        let access = match member.access_level {
            _ if !active => Access::None,
            level if level >= MAINTAINER_ACCESS_LEVEL => Access::Maintain,
            level if level >= MIN_ACCESS_LEVEL => Access::Trigger,
            _ => Access::None,
        };
        tracing::debug!(
            tenant = %thread.source.tenant,
            project = thread.source.project_id,
            actor = %actor.login,
            access_level = member.access_level,
            ?access,
            "checked access"
        );
        Ok(access)
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
        _live: bool,
    ) -> Result<StatusRef, PortError> {
        let thread = self.thread(source)?;
        let note = self.create_note(&thread, STATUS.body(marker, text)?).await?;
        tracing::info!(tenant = %thread.source.tenant, project = thread.source.project_id, iid = thread.source.iid, note_id = note.id, "posted status note");
        Ok(Self::status_ref(&thread, note.id))
    }

    async fn find_status(&self, source: &SourceRef, marker: &str) -> Result<Option<StatusRef>, PortError> {
        let thread = self.thread(source)?;
        let tag = STATUS.tag(marker)?;
        let notes = self.notes(&thread).await?;
        Ok(notes
            .into_iter()
            .find(|note| is_status(self.is_own(&thread, note), note.body.as_deref(), &tag))
            .map(|note| Self::status_ref(&thread, note.id)))
    }

    async fn edit_status(
        &self,
        source: &SourceRef,
        status: &StatusRef,
        marker: &str,
        text: &str,
        _live: bool,
    ) -> Result<(), PortError> {
        const OP: &str = "edit note";
        let thread = self.thread(source)?;
        let body = STATUS.body(marker, text)?;
        let note_id: u64 = status_id(status, &what(OP), "note id")?;
        // The notes endpoint edits any note of the issue / merge request, discussion replies included.
        let url = format!("{}/notes/{note_id}", thread.item_url);
        let result = self
            .call(&thread, OP, Method::PUT, &url, Some(&json!({ "body": body })))
            .await;
        edited(result, || format!("GitLab status note {note_id}"))
    }

    async fn post_notice(&self, source: &SourceRef, text: &str) -> Result<(), PortError> {
        let thread = self.thread(source)?;
        let note = self.create_note(&thread, fit(text, MAX_NOTE_CHARS, None)).await?;
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
        let entries: Vec<_> = notes
            .into_iter()
            .filter_map(|note| self.context_entry(&thread, note, until))
            .collect();
        Ok(text::newest_context(entries))
    }
}

impl GitlabClient {
    /// Whether GitLab, read with the bot's own token, has note `note_id` on this item, written by the trigger's
    /// actor, with the text that was delivered. A signed hook is only as trustworthy as everyone who knows the
    /// instance's webhook token.
    async fn confirms_note(&self, thread: &Thread<'_>, note_id: u64) -> Result<bool, PortError> {
        const OP: &str = "read note";
        let url = format!("{}/notes/{note_id}", thread.item_url);
        let Some(response) = found(self.call(thread, OP, Method::GET, &url, None).await)? else {
            return Ok(false);
        };
        let note: Note = parse_json(&what(OP), &response.body)?;
        let by_actor = note.author.as_ref().and_then(|a| a.id) == Some(thread.source.actor_id);
        let text = note.body.as_deref().unwrap_or_default();
        let same_text =
            thread.source.note_sha256.is_empty() || super::note_digest(text) == thread.source.note_sha256;
        Ok(note.id == note_id && by_actor && same_text)
    }
}

/// An issue or merge request on one tenant, by numeric ids only.
#[derive(Clone, Copy, Debug)]
pub struct ItemRef<'a> {
    pub tenant: &'a str,
    pub project_id: u64,
    pub noteable: Noteable,
    pub iid: u64,
}

/// An item as GitLab itself has it, read with the bot's token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemAsRead {
    /// The project's `path_with_namespace`.
    pub project_path: String,
    pub title: String,
    pub description: String,
    pub web_url: String,
    /// Merge requests: the source branch, when Hookline can reach the project it lives in.
    pub source_branch: Option<String>,
    /// Merge requests from a fork: the fork's `path_with_namespace`.
    pub fork_path: Option<String>,
    /// Who opened it (their numeric id), so a hook cannot name another person as its author.
    pub author_id: Option<u64>,
    /// Who it is assigned to now.
    pub assignees: Vec<GitlabUser>,
    /// When it last changed (epoch seconds).
    pub updated_at: Option<u64>,
}

/// Reads an event's item back from GitLab before the trigger rules see it: one instance-wide webhook token lets
/// any hook owner sign any payload, so the hook only says where to look.
#[async_trait]
pub trait ItemReader: Send + Sync {
    /// The item and its project; `None` when the bot cannot see either.
    async fn read_item(&self, item: ItemRef<'_>) -> Result<Option<ItemAsRead>, PortError>;
    /// Of `labels`, those GitLab's label events show `user_id` adding to the item: the newest such event of each.
    async fn labels_added(
        &self,
        item: ItemRef<'_>,
        user_id: u64,
        labels: &[String],
    ) -> Result<Vec<LabelAdded>, PortError>;
    /// GitLab's system notes, among the item's newest [`PAGE_SIZE`] notes, that show `user_id` assigning the item
    /// to `username`: newest first.
    async fn assignments(
        &self,
        item: ItemRef<'_>,
        user_id: u64,
        username: &str,
    ) -> Result<Vec<Assignment>, PortError>;
}

#[async_trait]
impl ItemReader for GitlabClient {
    async fn read_item(&self, item: ItemRef<'_>) -> Result<Option<ItemAsRead>, PortError> {
        const OP: &str = "read issue or merge request";
        let thread = self.item_thread(item)?;
        let Some(project_path) = self.project_path(&thread, item.project_id).await? else {
            return Ok(None);
        };
        let Some(response) = found(self.call(&thread, OP, Method::GET, &thread.item_url, None).await)? else {
            return Ok(None);
        };
        let read: Item = parse_json(&what(OP), &response.body)?;
        let mut source_branch = read.source_branch.filter(|b| !b.is_empty());
        let mut fork_path = None;
        if let (Some(from), Some(to)) = (read.source_project_id, read.target_project_id) {
            if from != to {
                // A fork the bot cannot see leaves no branch: the agent starts a new one rather than pushing the
                // fork's branch name to this project.
                fork_path = self.project_path(&thread, from).await?;
                if fork_path.is_none() {
                    source_branch = None;
                }
            }
        }
        let cut = |text: Option<String>| crate::text::cut_to(text.unwrap_or_default(), MAX_FIELD_BYTES);
        Ok(Some(ItemAsRead {
            project_path,
            title: cut(read.title),
            description: cut(read.description),
            web_url: read.web_url.unwrap_or_default(),
            source_branch: source_branch.filter(|_| item.noteable == Noteable::MergeRequest),
            fork_path: fork_path.filter(|_| item.noteable == Noteable::MergeRequest),
            author_id: read.author.and_then(|a| a.id),
            assignees: read
                .assignees
                .into_iter()
                .filter_map(|a| {
                    a.id.map(|id| GitlabUser {
                        id,
                        username: a.username,
                    })
                })
                .collect(),
            updated_at: read.updated_at.as_deref().and_then(parse_timestamp),
        }))
    }

    async fn labels_added(
        &self,
        item: ItemRef<'_>,
        user_id: u64,
        labels: &[String],
    ) -> Result<Vec<LabelAdded>, PortError> {
        let thread = self.item_thread(item)?;
        let url = format!("{}/resource_label_events", thread.item_url);
        let events: Vec<LabelEvent> = self.pages(&thread, "read label events", &url).await?;
        let mut newest: Vec<LabelAdded> = Vec::new();
        for event in events {
            if event.action != "add" || event.user.as_ref().and_then(|u| u.id) != Some(user_id) {
                continue;
            }
            let name = event.label.map(|l| l.name).unwrap_or_default();
            let Some(label) = labels.iter().find(|l| l.eq_ignore_ascii_case(&name)) else {
                continue;
            };
            let Some(added_at) = event.created_at.as_deref().and_then(parse_timestamp) else {
                continue;
            };
            let added = LabelAdded {
                label: label.clone(),
                event_id: event.id,
                added_at,
            };
            match newest.iter_mut().find(|n| n.label == added.label) {
                Some(known) if known.event_id < added.event_id => *known = added,
                Some(_) => {}
                None => newest.push(added),
            }
        }
        Ok(newest)
    }

    async fn assignments(
        &self,
        item: ItemRef<'_>,
        user_id: u64,
        username: &str,
    ) -> Result<Vec<Assignment>, PortError> {
        const OP: &str = "read system notes";
        let thread = self.item_thread(item)?;
        // An assignment that can start a run is recent: the newest page holds it.
        let url = format!(
            "{}/notes?sort=desc&order_by=created_at&per_page={PAGE_SIZE}",
            thread.item_url
        );
        let response = self.call(&thread, OP, Method::GET, &url, None).await?;
        let notes: Vec<Note> = parse_json(&what(OP), &response.body)?;
        Ok(notes
            .into_iter()
            .filter(|note| note.system && note.author.as_ref().and_then(|a| a.id) == Some(user_id))
            .filter(|note| assigns(note.body.as_deref().unwrap_or_default(), username))
            .filter_map(|note| {
                let at = note.created_at.as_deref().and_then(parse_timestamp)?;
                Some(Assignment { note_id: note.id, at })
            })
            .collect())
    }
}

/// Whether a system note's text assigns the item to `username`: `assigned to @a, @b, and @c and unassigned @d`
/// (GitLab writes these in English whatever the locale).
fn assigns(body: &str, username: &str) -> bool {
    let body = body.trim();
    let Some(rest) = body
        .strip_prefix("assigned to ")
        .or_else(|| body.strip_prefix("reassigned to "))
    else {
        return false;
    };
    let added = rest.split(" and unassigned ").next().unwrap_or_default();
    added
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(|word| word.strip_prefix('@'))
        .any(|name| name.eq_ignore_ascii_case(username))
}

impl GitlabClient {
    /// A thread for reading an item alone (no run, no target).
    fn item_thread(&self, item: ItemRef<'_>) -> Result<Thread<'_>, PortError> {
        let source = GitlabSource {
            tenant: item.tenant.to_owned(),
            project_id: item.project_id,
            project_path: String::new(),
            noteable: item.noteable,
            iid: item.iid,
            web_url: String::new(),
            target: GitlabTarget::Item,
            actor_id: 0,
            internal: false,
            note_sha256: String::new(),
        };
        self.checked(Cow::Owned(source))
    }

    /// A project's `path_with_namespace`; `None` when the bot cannot see it.
    async fn project_path(&self, thread: &Thread<'_>, project_id: u64) -> Result<Option<String>, PortError> {
        const OP: &str = "read project";
        let url = format!("{}/projects/{project_id}", thread.tenant.api_url);
        let Some(response) = found(self.call(thread, OP, Method::GET, &url, None).await)? else {
            return Ok(None);
        };
        let project: Project = parse_json(&what(OP), &response.body)?;
        Ok(Some(project.path_with_namespace).filter(|p| !p.is_empty()))
    }
}

/// A GitLab source checked and ready for requests.
struct Thread<'a> {
    /// Borrowed from a run's source, or made up of an item alone for reading it back.
    source: Cow<'a, GitlabSource>,
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
    #[serde(default)]
    internal: bool,
    /// The older name of `internal`.
    #[serde(default)]
    confidential: bool,
}

/// One of an item's resource label events.
#[derive(Debug, Deserialize)]
struct LabelEvent {
    id: u64,
    #[serde(default)]
    action: String,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    user: Option<Author>,
    #[serde(default)]
    label: Option<LabelName>,
}

#[derive(Debug, Deserialize)]
struct LabelName {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Author {
    username: String,
    #[serde(default)]
    id: Option<u64>,
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

/// The fields of an issue or merge request that Hookline reads back; any of them may be missing.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Item {
    title: Option<String>,
    description: Option<String>,
    web_url: Option<String>,
    source_branch: Option<String>,
    source_project_id: Option<u64>,
    target_project_id: Option<u64>,
    author: Option<Author>,
    assignees: Vec<Author>,
    updated_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Project {
    #[serde(default)]
    path_with_namespace: String,
}

/// How GitLab's REST API speaks: a rate limit is a 429, whose quota resets at `RateLimit-Reset` (epoch seconds)
/// and which waits [`DEFAULT_RATE_LIMIT_WAIT`] when it names no time (some GitLab limiters send none); an
/// error's message is the body's `message` or `error`, when it is a string.
struct GitlabApi;

impl Dialect for GitlabApi {
    const DEFAULT_RATE_LIMIT_WAIT: Option<Duration> = Some(DEFAULT_RATE_LIMIT_WAIT);

    fn read(&self, answer: &Answer) -> Signals {
        Signals {
            quota_reset_ms: header_u64(&answer.headers, "ratelimit-reset")
                .map(|secs| secs.saturating_mul(1000)),
            error_message: string_field(&answer.body, &["message", "error"]),
            ..Signals::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::{
        status_tag,
        testing::{answer as response, assert_common_classification, classify_at, wait_at},
    };

    #[test]
    fn rate_limits_wait_as_gitlab_asks() {
        assert_common_classification(&GitlabApi);
        let secs = Duration::from_secs;
        for (headers, body, now_ms, wait) in [
            // `Retry-After` wins over the reset.
            (
                &[("retry-after", "7"), ("ratelimit-reset", "1100")][..],
                "",
                1_000_000,
                secs(7),
            ),
            (&[("ratelimit-reset", "1120")], "", 1_000_000, secs(120)),
            (&[("ratelimit-reset", "10")], "", 1_000_000, secs(1)),
            // Seen at 1000.3 s, a reset at second 1005 is 4.7 s away: waiting 4 would retry before it.
            (&[("ratelimit-reset", "1005")], "", 1_000_300, secs(5)),
            (
                &[],
                r#"{"message":"Retry later"}"#,
                1_000_000,
                DEFAULT_RATE_LIMIT_WAIT,
            ),
        ] {
            let answer = response(429, headers, body);
            assert_eq!(
                wait_at(&GitlabApi, &answer, now_ms),
                Some(wait),
                "{headers:?} at {now_ms} ms: {body}"
            );
        }
    }

    #[test]
    fn other_statuses() {
        match classify_at(
            &GitlabApi,
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
        match classify_at(
            &GitlabApi,
            &response(400, &[], r#"{"message":{"body":["is too long"]}}"#),
            0,
        ) {
            Err(PortError::Permanent { detail, .. }) => assert_eq!(detail, "HTTP 400"),
            other => panic!("expected permanent 400, got {other:?}"),
        }
        match classify_at(&GitlabApi, &response(401, &[], r#"{"error":"invalid_token"}"#), 0) {
            Err(PortError::Permanent { detail, .. }) => assert_eq!(detail, "HTTP 401: invalid_token"),
            other => panic!("expected permanent 401, got {other:?}"),
        }
    }

    #[test]
    fn system_notes_that_assign() {
        for body in [
            "assigned to @hookline-bot",
            "assigned to @alice, @Hookline-Bot, and @carol",
            "assigned to @alice and @hookline-bot and unassigned @bob",
            "reassigned to @hookline-bot",
        ] {
            assert!(assigns(body, "hookline-bot"), "{body}");
        }
        for body in [
            "unassigned @hookline-bot",
            "assigned to @alice and unassigned @hookline-bot",
            "assigned to @hookline-bot2",
            "mentioned in assigned to @hookline-bot",
            "requested review from @hookline-bot",
        ] {
            assert!(!assigns(body, "hookline-bot"), "{body}");
        }
    }

    #[test]
    fn bodies_keep_the_marker_and_markers_are_checked() {
        let tag = status_tag("run:abc", STATUS_MARKER).expect("a usable marker");
        assert_eq!(fit("hi", MAX_NOTE_CHARS, Some(&tag)), format!("hi\n\n{tag}"));
        let long = fit(&"x".repeat(MAX_NOTE_CHARS + 10), MAX_NOTE_CHARS, Some(&tag));
        assert_eq!(long.chars().count(), MAX_NOTE_CHARS);
        assert!(long.ends_with(&format!("(truncated)\n\n{tag}")));
        for bad in ["", "a-->", "a b", "a>b"] {
            assert!(status_tag(bad, STATUS_MARKER).is_err(), "{bad:?}");
        }
    }
}
