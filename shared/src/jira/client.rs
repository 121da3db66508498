//! Jira Cloud REST v3 client implementing [`crate::ports::SourceClient`].
//!
//! - A [`SourceRef`] is interpreted in one place, `JiraClient::target`: the site it names must be configured
//!   and the ids are checked (digits only) before they go into a URL.
//! - Every call goes through `JiraClient::call`: Basic auth with the site's service account (email + API
//!   token, read from the secret store per call so a rotation takes effect), JSON in and out.
//! - Answers are classified by the outbound toolkit (`outbound::classify`); `JiraApi` says only where
//!   Jira's error messages are, and that a 404 means the issue or comment is gone.
//!
//! Comment bodies are ADF (REST v3 refuses strings). The run's status comment carries an entity property
//! (`hookline` → `{"marker": …}`) instead of a visible marker, so a retry can find it again after a crash
//! (`POST /rest/api/3/comment/list?expand=properties`).
//!
//! Transitions (when work starts, when a pull request is opened) are looked up by name, id or target status
//! among the issue's available transitions; an issue whose status category is done, or whose status reads
//! as cancelled, is never moved.

use std::{ops::ControlFlow, time::Duration};

use async_trait::async_trait;
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use reqwest::{
    header::{ACCEPT, AUTHORIZATION, USER_AGENT},
    Method,
};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};

use super::{
    adf::{self, MentionStyle},
    JiraConfig, JiraSource, JiraTenant,
};
use crate::{
    domain::{Actor, SourceRef, StatusRef},
    error::PortError,
    outbound::{
        self, checked_marker, parse_json, parse_timestamp, scan_pages, Answer, Call, Dialect, Page, Signals,
        INTAKE_TIMEOUT, REQUEST_TIMEOUT,
    },
    ports::{foreign_source, Access, ContextMessage, SourceClient},
    provider::Outbound,
    secret::SecretString,
    text,
};

/// Page size for comment listings (Jira's maximum for this resource).
pub const PAGE_SIZE: u32 = 100;
/// Most pages read when scanning an issue's comments.
pub const MAX_PAGES: usize = 5;
/// Comment entity property that marks Hookline's status comments.
pub const PROPERTY_KEY: &str = "hookline";
/// Wait after a 429 that names no time.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// `User-Agent` sent on every request.
pub const USER_AGENT_VALUE: &str = concat!("hookline/", env!("CARGO_PKG_VERSION"));

/// Names the marker check in errors.
const STATUS_MARKER: &str = "Jira status marker";
/// Status names that read as "cancelled" (case-insensitive substrings); such issues are never moved.
const CANCELLED_WORDS: &[&str] = &[
    "cancel",
    "won't",
    "wont",
    "reject",
    "declin",
    "abandon",
    "obsolete",
    "duplicate",
    "invalid",
];

fn what(op: &str) -> String {
    format!("Jira API ({op})")
}

/// Reads issue fields on the webhook path (the description, which comment events do not carry).
#[async_trait]
pub trait IssueReader: Send + Sync {
    /// The description of issue `issue_id` on `site` as text; `None` when it has none.
    async fn issue_description(&self, site: &str, issue_id: &str) -> Result<Option<String>, PortError>;
}

/// [`SourceClient`] for Jira Cloud, acting as each site's service account.
#[derive(Debug)]
pub struct JiraClient {
    out: Outbound,
    config: JiraConfig,
}

/// A checked source: its site and the issue's REST URL.
struct Thread<'a> {
    site: &'a JiraTenant,
    source: &'a JiraSource,
    /// `{base}/rest/api/3/issue/{id}`.
    issue_url: String,
}

impl Thread<'_> {
    /// The issue's comment `id`, with the link that opens the issue at it.
    fn comment_ref(&self, id: String) -> StatusRef {
        StatusRef {
            url: Some(format!(
                "{}/browse/{}?focusedCommentId={id}",
                self.site.base_url, self.source.issue_key
            )),
            id,
        }
    }
}

impl JiraClient {
    /// A client for every site in `config`; API tokens are read through `out` on use.
    pub fn new(config: JiraConfig, out: &Outbound) -> Self {
        let out = out.clone();
        Self { out, config }
    }

    fn site(&self, name: &str) -> Result<&JiraTenant, PortError> {
        self.config
            .tenant(name)
            .ok_or_else(|| PortError::permanent("jira client", format!("site {name:?} is not configured")))
    }

    /// The one place a [`SourceRef`] is interpreted.
    fn thread<'a>(&'a self, source: &'a SourceRef) -> Result<Thread<'a>, PortError> {
        let SourceRef::Jira(source) = source else {
            return Err(foreign_source("jira client", source));
        };
        let site = self.site(&source.tenant)?;
        let issue_url = format!(
            "{}/rest/api/3/issue/{}",
            site.base_url,
            checked_id(&source.issue_id)?
        );
        Ok(Thread {
            site,
            source,
            issue_url,
        })
    }

    /// `Basic base64(email:api_token)` for the site's service account.
    async fn authorization(&self, site: &JiraTenant) -> Result<SecretString, PortError> {
        const WHAT: &str = "jira service account";
        let secrets = self.out.secrets.as_ref();
        let email = outbound::credential(secrets, &site.email_secret_name, WHAT).await?;
        let token = outbound::credential(secrets, &site.api_token_secret_name, WHAT).await?;
        let pair = format!("{}:{}", email.expose().trim(), token.expose().trim());
        Ok(SecretString::new(format!("Basic {}", BASE64.encode(pair))))
    }

    async fn call(
        &self,
        site: &JiraTenant,
        op: &'static str,
        method: Method,
        url: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Answer, PortError> {
        let what = what(op);
        let authorization = self.authorization(site).await?;
        let mut request = self
            .out
            .http
            .request(method, url)
            .header(AUTHORIZATION, authorization.expose())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE);
        if let Some(body) = body {
            request = request.json(body);
        }
        let credentials = [&authorization];
        let call = Call::new(&what).credentials(&credentials).timeout(timeout);
        let response = outbound::send(&call, request).await.inspect_err(|err| {
            tracing::warn!(op, site = %site.name, error = %err, "Jira request failed");
        })?;
        let result = outbound::classify(&JiraApi, &call, &response);
        outbound::log_outcome!(&result, "Jira", status = response.status, op, site = %site.name);
        result.map(|()| response)
    }

    /// `GET` of `url` within the [`REQUEST_TIMEOUT`], its answer read as `T`.
    async fn get<T: DeserializeOwned>(
        &self,
        site: &JiraTenant,
        op: &'static str,
        url: &str,
    ) -> Result<T, PortError> {
        let response = self
            .call(site, op, Method::GET, url, None, REQUEST_TIMEOUT)
            .await?;
        parse_json(&what(op), &response.body)
    }

    /// `POST` of `body` to `url`, within the [`REQUEST_TIMEOUT`].
    async fn post(
        &self,
        site: &JiraTenant,
        op: &'static str,
        url: &str,
        body: &Value,
    ) -> Result<Answer, PortError> {
        self.call(site, op, Method::POST, url, Some(body), REQUEST_TIMEOUT)
            .await
    }

    /// Feed the issue's comments to `visit`, newest first, for at most [`MAX_PAGES`] pages, until it breaks.
    async fn scan_comments(
        &self,
        target: &Thread<'_>,
        visit: impl FnMut(ListedComment) -> ControlFlow<()>,
    ) -> Result<(), PortError> {
        const OP: &str = "list comments";
        let fetch = move |start_at: u32| async move {
            let url = format!(
                "{}/comment?startAt={start_at}&maxResults={PAGE_SIZE}&orderBy=-created",
                target.issue_url
            );
            let listing: CommentPage = self.get(target.site, OP, &url).await?;
            let next = (!listing.is_last(start_at)).then_some(start_at + PAGE_SIZE);
            Ok::<_, PortError>(Page {
                items: listing.comments,
                next,
            })
        };
        scan_pages(MAX_PAGES, 0, fetch, visit).await?;
        Ok(())
    }

    /// Create a comment on the issue; `marker` becomes the `hookline` entity property.
    async fn create_comment(
        &self,
        target: &Thread<'_>,
        body: Value,
        marker: Option<&str>,
    ) -> Result<StatusRef, PortError> {
        const OP: &str = "add comment";
        let mut request = json!({ "body": body });
        if let Some(marker) = marker {
            request["properties"] = marker_properties(marker);
        }
        let url = format!("{}/comment", target.issue_url);
        let response = self.post(target.site, OP, &url, &request).await?;
        let created: CreatedComment = parse_json(&what(OP), &response.body)?;
        Ok(target.comment_ref(created.id))
    }

    /// Apply the transition named `wanted` (name, id or target status) unless the issue is done, cancelled,
    /// already there, or the transition is not available from where it is. Best effort: "not applicable" is
    /// not an error.
    async fn transition(&self, source: &SourceRef, wanted: Option<&str>, why: &str) -> Result<(), PortError> {
        let Some(wanted) = wanted.map(str::trim).filter(|w| !w.is_empty()) else {
            return Ok(());
        };
        let target = self.thread(source)?;
        let key = &target.source.issue_key;
        const READ: &str = "read issue status";
        let url = format!("{}?fields=status", target.issue_url);
        let issue: IssueStatus = self.get(target.site, READ, &url).await?;
        let status = issue.fields.status.unwrap_or_default();
        if status.is_done() {
            tracing::info!(issue = %key, status = %status.name, why, "issue is done or cancelled; not moving it");
            return Ok(());
        }
        const LIST: &str = "list transitions";
        let url = format!("{}/transitions", target.issue_url);
        let transitions: Transitions = self.get(target.site, LIST, &url).await?;
        let found = transitions.transitions.iter().find(|t| {
            t.id == wanted
                || t.name.eq_ignore_ascii_case(wanted)
                || t.to
                    .as_ref()
                    .is_some_and(|to| to.name.eq_ignore_ascii_case(wanted))
        });
        let Some(transition) = found else {
            tracing::info!(issue = %key, status = %status.name, transition = wanted, why, "transition not available; leaving the issue as it is");
            return Ok(());
        };
        let target_status = transition.to.as_ref().map(|to| to.name.as_str()).unwrap_or("");
        if !status.name.is_empty() && status.name.eq_ignore_ascii_case(target_status) {
            return Ok(());
        }
        const APPLY: &str = "transition issue";
        let body = json!({ "transition": { "id": transition.id } });
        self.post(target.site, APPLY, &url, &body).await?;
        tracing::info!(issue = %key, from = %status.name, to = target_status, why, "moved the issue");
        Ok(())
    }
}

#[async_trait]
impl IssueReader for JiraClient {
    async fn issue_description(&self, site: &str, issue_id: &str) -> Result<Option<String>, PortError> {
        const OP: &str = "read issue";
        let site = self.site(site)?;
        let url = format!(
            "{}/rest/api/3/issue/{}?fields=description",
            site.base_url,
            checked_id(issue_id)?
        );
        let response = self
            .call(site, OP, Method::GET, &url, None, INTAKE_TIMEOUT)
            .await?;
        let issue: IssueDescription = parse_json(&what(OP), &response.body)?;
        Ok(issue
            .fields
            .description
            .map(|d| adf::body_text(&d, MentionStyle::Display))
            .filter(|d| !d.trim().is_empty()))
    }
}

/// The project permission that lets a person trigger runs on an issue.
const TRIGGER_PERMISSION: &str = "EDIT_ISSUES";
/// The one that also lets them steer runs someone else started.
const MAINTAIN_PERMISSION: &str = "ADMINISTER_PROJECTS";

/// The part of the bulk permission check's answer Hookline reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PermissionGrants {
    #[serde(default)]
    project_permissions: Vec<PermissionGrant>,
}

#[derive(Deserialize)]
struct PermissionGrant {
    permission: String,
    #[serde(default)]
    issues: Vec<u64>,
}

#[async_trait]
impl SourceClient for JiraClient {
    /// The person's project permissions on the issue, from Jira's bulk permission check: editing the issue
    /// triggers, administering the project also steers others' runs. (Checking another account needs the
    /// service account to hold the Administer Jira global permission.)
    async fn access(&self, source: &SourceRef, actor: &Actor) -> Result<Access, PortError> {
        const OP: &str = "check permissions";
        let target = self.thread(source)?;
        let Ok(issue) = target.source.issue_id.parse::<u64>() else {
            return Ok(Access::None);
        };
        if actor.id.is_empty() || actor.id == target.site.bot_account_id {
            return Ok(Access::None);
        }
        let url = format!("{}/rest/api/3/permissions/check", target.site.base_url);
        let body = json!({
            "accountId": actor.id,
            "projectPermissions": [{ "issues": [issue], "permissions": [TRIGGER_PERMISSION, MAINTAIN_PERMISSION] }],
        });
        let response = self.post(target.site, OP, &url, &body).await?;
        let grants: PermissionGrants = parse_json(&what(OP), &response.body)?;
        let holds = |name: &str| {
            grants
                .project_permissions
                .iter()
                .any(|grant| grant.permission == name && grant.issues.contains(&issue))
        };
        let access = if !holds(TRIGGER_PERMISSION) {
            Access::None
        } else if holds(MAINTAIN_PERMISSION) {
            Access::Maintain
        } else {
            Access::Trigger
        };
        tracing::debug!(site = %target.site.name, issue = %target.source.issue_key, actor = %actor.id, ?access, "checked access");
        Ok(access)
    }

    /// Jira's REST API has no reactions; the status comment posted right after is the acknowledgement.
    async fn acknowledge(&self, source: &SourceRef) -> Result<(), PortError> {
        self.thread(source)?;
        Ok(())
    }

    async fn post_status(
        &self,
        source: &SourceRef,
        marker: &str,
        text: &str,
        _live: bool,
    ) -> Result<StatusRef, PortError> {
        let target = self.thread(source)?;
        let marker = checked_marker(marker, STATUS_MARKER)?;
        self.create_comment(&target, adf::from_markdown(text, false), Some(marker))
            .await
    }

    async fn find_status(&self, source: &SourceRef, marker: &str) -> Result<Option<StatusRef>, PortError> {
        let target = self.thread(source)?;
        let marker = checked_marker(marker, STATUS_MARKER)?;
        let mut own: Vec<u64> = Vec::new();
        self.scan_comments(&target, |comment| {
            if comment.is_by(&target.site.bot_account_id) {
                own.extend(comment.id.parse::<u64>().ok());
            }
            ControlFlow::Continue(())
        })
        .await?;
        if own.is_empty() {
            return Ok(None);
        }
        const OP: &str = "read comment properties";
        let url = format!(
            "{}/rest/api/3/comment/list?expand=properties",
            target.site.base_url
        );
        let response = self.post(target.site, OP, &url, &json!({ "ids": own })).await?;
        let listing: CommentList = parse_json(&what(OP), &response.body)?;
        let found = listing.values.into_iter().find(|c| {
            c.properties.iter().any(|p| {
                p.key == PROPERTY_KEY && p.value.get("marker").and_then(Value::as_str) == Some(marker)
            })
        });
        Ok(found.map(|c| target.comment_ref(c.id)))
    }

    async fn edit_status(
        &self,
        source: &SourceRef,
        status: &StatusRef,
        marker: &str,
        text: &str,
        _live: bool,
    ) -> Result<(), PortError> {
        const OP: &str = "update comment";
        let target = self.thread(source)?;
        let marker = checked_marker(marker, STATUS_MARKER)?;
        let url = format!("{}/comment/{}", target.issue_url, checked_id(&status.id)?);
        let body = json!({
            "body": adf::from_markdown(text, false),
            "properties": marker_properties(marker),
        });
        self.call(target.site, OP, Method::PUT, &url, Some(&body), REQUEST_TIMEOUT)
            .await?;
        Ok(())
    }

    async fn post_notice(&self, source: &SourceRef, text: &str) -> Result<(), PortError> {
        let target = self.thread(source)?;
        self.create_comment(&target, adf::from_markdown(text, true), None)
            .await?;
        Ok(())
    }

    async fn thread_context(&self, source: &SourceRef, until: u64) -> Result<Vec<ContextMessage>, PortError> {
        let target = self.thread(source)?;
        let mut newest_first: Vec<ContextMessage> = Vec::new();
        self.scan_comments(&target, |comment| {
            if newest_first.len() >= text::MAX_CONTEXT_MESSAGES {
                return ControlFlow::Break(());
            }
            // Restricted comments (to a role or group, or internal to a service desk's agents) stay out of a
            // prompt whose result is posted for everyone who can see the issue.
            if comment.is_by(&target.site.bot_account_id) || comment.is_restricted() {
                return ControlFlow::Continue(());
            }
            // A comment without a readable time cannot be shown to predate the trigger: leave it out.
            let Some(created) = comment.created.as_deref().and_then(parse_timestamp) else {
                return ControlFlow::Continue(());
            };
            if created <= until {
                let text = adf::body_text(&comment.body, MentionStyle::Display);
                let author = comment.author.map(|a| a.display_name);
                newest_first.extend(ContextMessage::earlier(author, "unknown", &text));
            }
            ControlFlow::Continue(())
        })
        .await?;
        newest_first.reverse();
        Ok(newest_first)
    }

    async fn run_started(&self, source: &SourceRef) -> Result<(), PortError> {
        let SourceRef::Jira(jira) = source else {
            return self.thread(source).map(|_| ());
        };
        let wanted = self.site(&jira.tenant)?.transition_started.clone();
        self.transition(source, wanted.as_deref(), "work started").await
    }

    async fn pull_request_opened(&self, source: &SourceRef, _url: &str) -> Result<(), PortError> {
        let SourceRef::Jira(jira) = source else {
            return self.thread(source).map(|_| ());
        };
        let wanted = self.site(&jira.tenant)?.transition_pr_opened.clone();
        self.transition(source, wanted.as_deref(), "pull request opened")
            .await
    }
}

/// Jira ids (issues, comments) are decimal; anything else never reaches a URL.
/// The comment properties that carry a status comment's `marker`.
fn marker_properties(marker: &str) -> Value {
    json!([{ "key": PROPERTY_KEY, "value": { "marker": marker } }])
}

fn checked_id(id: &str) -> Result<&str, PortError> {
    if !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(PortError::permanent("Jira API", format!("invalid id {id:?}")))
    }
}

/// How Jira Cloud's REST API speaks: a rate limit is a 429, waiting `Retry-After` or else
/// [`DEFAULT_RATE_LIMIT_WAIT`]; a 404 means the issue or comment is gone ([`PortError::NotFound`], where other
/// APIs keep the status); an error's message is the first of `errorMessages`, else the first field of `errors`
/// (`field: message`).
struct JiraApi;

impl Dialect for JiraApi {
    const DEFAULT_RATE_LIMIT_WAIT: Option<Duration> = Some(DEFAULT_RATE_LIMIT_WAIT);

    fn read(&self, answer: &Answer) -> Signals {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct ErrorBody {
            #[serde(default)]
            error_messages: Vec<String>,
            #[serde(default)]
            errors: serde_json::Map<String, Value>,
        }
        let message = serde_json::from_slice::<ErrorBody>(&answer.body)
            .ok()
            .and_then(|e| {
                e.error_messages.into_iter().next().or_else(|| {
                    e.errors
                        .into_iter()
                        .next()
                        .map(|(field, v)| format!("{field}: {}", v.as_str().unwrap_or("invalid")))
                })
            });
        Signals {
            not_found: answer.status == 404,
            error_message: message,
            ..Signals::default()
        }
    }
}

// ---- response shapes ----

#[derive(Deserialize)]
struct CreatedComment {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentPage {
    #[serde(default)]
    total: Option<u32>,
    #[serde(default)]
    comments: Vec<ListedComment>,
}

impl CommentPage {
    fn is_last(&self, start_at: u32) -> bool {
        let seen = start_at + u32::try_from(self.comments.len()).unwrap_or(u32::MAX);
        self.comments.len() < PAGE_SIZE as usize || self.total.is_some_and(|total| seen >= total)
    }
}

#[derive(Deserialize)]
struct ListedComment {
    id: String,
    #[serde(default)]
    author: Option<Author>,
    #[serde(default)]
    body: Value,
    #[serde(default)]
    created: Option<String>,
    /// Set when the comment is visible to a role or group only.
    #[serde(default)]
    visibility: Option<Value>,
    /// `false` for a service desk's internal comment.
    #[serde(default, rename = "jsdPublic")]
    jsd_public: Option<bool>,
}

impl ListedComment {
    fn is_restricted(&self) -> bool {
        self.visibility.as_ref().is_some_and(|v| !v.is_null()) || self.jsd_public == Some(false)
    }

    fn is_by(&self, account_id: &str) -> bool {
        self.author.as_ref().is_some_and(|a| a.account_id == account_id)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Author {
    #[serde(default)]
    account_id: String,
    #[serde(default)]
    display_name: String,
}

#[derive(Deserialize)]
struct CommentList {
    #[serde(default)]
    values: Vec<PropertiedComment>,
}

#[derive(Deserialize)]
struct PropertiedComment {
    id: String,
    #[serde(default)]
    properties: Vec<Property>,
}

#[derive(Deserialize)]
struct Property {
    key: String,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize)]
struct IssueStatus {
    fields: StatusFields,
}

#[derive(Deserialize)]
struct StatusFields {
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    #[serde(default)]
    name: String,
    #[serde(default)]
    status_category: Option<StatusCategory>,
}

impl Status {
    fn is_done(&self) -> bool {
        let category_done = self
            .status_category
            .as_ref()
            .is_some_and(|c| c.key.eq_ignore_ascii_case("done"));
        let name = self.name.to_ascii_lowercase();
        category_done || CANCELLED_WORDS.iter().any(|w| name.contains(w))
    }
}

#[derive(Deserialize)]
struct StatusCategory {
    #[serde(default)]
    key: String,
}

#[derive(Deserialize)]
struct Transitions {
    #[serde(default)]
    transitions: Vec<Transition>,
}

#[derive(Deserialize)]
struct Transition {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    to: Option<Status>,
}

#[derive(Deserialize)]
struct IssueDescription {
    fields: DescriptionFields,
}

#[derive(Deserialize)]
struct DescriptionFields {
    #[serde(default)]
    description: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::testing::{answer, assert_common_classification};

    fn classify(what: &str, response: &Answer) -> Result<(), PortError> {
        outbound::classify(&JiraApi, &Call::new(what), response)
    }

    #[test]
    fn rate_limits_and_outages_honour_retry_after() {
        assert_common_classification(&JiraApi);
    }

    #[test]
    fn other_statuses() {
        assert!(matches!(
            classify("t", &answer(404, &[], "")),
            Err(PortError::NotFound { .. })
        ));
        match classify(
            "t",
            &answer(
                400,
                &[],
                r#"{"errorMessages":[],"errors":{"body":"Comment body can not be empty!"}}"#,
            ),
        ) {
            Err(PortError::Permanent {
                status: Some(400),
                detail,
                ..
            }) => assert_eq!(detail, "HTTP 400: body: Comment body can not be empty!"),
            other => panic!("expected permanent, got {other:?}"),
        }
        match classify("t", &answer(403, &[], r#"{"errorMessages":["No permission"]}"#)) {
            Err(PortError::Permanent { detail, .. }) => assert_eq!(detail, "HTTP 403: No permission"),
            other => panic!("expected permanent, got {other:?}"),
        }
    }

    #[test]
    fn done_and_cancelled_statuses_are_left_alone() {
        let status = |name: &str, category: &str| Status {
            name: name.into(),
            status_category: Some(StatusCategory { key: category.into() }),
        };
        assert!(status("Done", "done").is_done());
        assert!(status("Shipped", "done").is_done());
        assert!(status("Cancelled", "indeterminate").is_done());
        assert!(status("Won't Do", "new").is_done());
        assert!(!status("To Do", "new").is_done());
        assert!(!status("In Progress", "indeterminate").is_done());
    }

    #[test]
    fn ids_and_markers_are_checked() {
        assert!(checked_id("10042").is_ok());
        for bad in ["", "10/../1", "PROJ-7", "1?x=1"] {
            assert!(checked_id(bad).is_err(), "{bad}");
        }
        assert!(checked_marker("run:abc", STATUS_MARKER).is_ok());
        assert!(checked_marker("a b", STATUS_MARKER).is_err());
    }
}
