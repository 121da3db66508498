//! Linear GraphQL client implementing [`crate::ports::SourceClient`].
//!
//! - Every call is a `POST` to the GraphQL endpoint with the tenant's API key (`Authorization: <key>`, no
//!   `Bearer`; a secret stored as `Bearer <token>` is sent as it is, for OAuth tokens).
//! - Answers are classified by the outbound toolkit (`outbound::classify`); `LinearApi` reads what
//!   is Linear's own: refusals come as HTTP 200 with `errors`, so `errors` are failures whatever the status
//!   (`RATELIMITED` a rate limit, with the `x-ratelimit-*-reset` epoch-ms headers), and mutations must say
//!   `success: true`.
//! - The status comment is created with an id Hookline derives from the run's marker (`CommentCreateInput.id`),
//!   so a retry after a lost answer finds it again instead of posting a second one; Linear's Markdown keeps no
//!   hidden HTML, so no text marker is needed.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{config::NEVER_MOVED_STATE_TYPES, LinearConfig, LinearSource, LinearTenant};
use crate::{
    domain::{Actor, SourceRef, StatusRef},
    error::PortError,
    outbound::{self, fit, header_u64, parse_timestamp, parse_value, Answer, Call, Dialect, Signals},
    ports::{foreign_source, Access, ContextMessage, SourceClient},
    provider::Outbound,
    text,
};

/// Wait after a rate limit that names no time.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// Reaction put on the triggering comment (or issue) as the immediate acknowledgement.
pub const ACK_EMOJI: &str = "eyes";

/// Longest comment body Hookline sends, in characters.
const MAX_COMMENT_CHARS: usize = 50_000;

const COMMENT_CREATE: &str = "mutation HooklineCommentCreate($input: CommentCreateInput!) { \
    commentCreate(input: $input) { success comment { id url } } }";
const COMMENT_UPDATE: &str = "mutation HooklineCommentUpdate($id: String!, $input: CommentUpdateInput!) { \
    commentUpdate(id: $id, input: $input) { success comment { id url } } }";
const COMMENT_FIND: &str = "query HooklineComment($id: String!) { \
    comment(id: $id) { id url issue { id } user { id } } }";
const REACTION_CREATE: &str = "mutation HooklineReactionCreate($input: ReactionCreateInput!) { \
    reactionCreate(input: $input) { success } }";
const ISSUE_THREAD: &str = "query HooklineIssueThread($id: String!) { issue(id: $id) { id description \
    creator { name displayName } comments(first: 100) { nodes { id body createdAt user { id name displayName } \
    botActor { id } } } } }";
const ISSUE_STATE: &str = "query HooklineIssueState($id: String!) { issue(id: $id) { id state { id type } \
    team { states { nodes { id name type position } } } } }";
const TEAM_MEMBER: &str =
    "query HooklineTeamMember($id: String!, $user: ID!) { issue(id: $id) { id team { id \
    members(filter: { id: { eq: $user } }) { nodes { id active guest admin } } } } }";
const ISSUE_UPDATE: &str = "mutation HooklineIssueUpdate($id: String!, $input: IssueUpdateInput!) { \
    issueUpdate(id: $id, input: $input) { success } }";

/// How an operation is named in errors: `Linear API (create comment)`.
fn what(op: &str) -> String {
    format!("Linear API ({op})")
}

/// The id of a run's status comment on an issue: a UUID (v4 layout, as `CommentCreateInput.id` asks) derived
/// from the tenant, the issue and the run's marker, so every attempt names the same comment.
pub fn status_comment_id(tenant: &str, issue_id: &str, marker: &str) -> String {
    let mut hash = Sha256::new();
    for part in ["hookline-linear-status", tenant, issue_id, marker] {
        hash.update(part.as_bytes());
        hash.update([0u8]);
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// [`SourceClient`] for Linear, acting as each tenant's service account.
#[derive(Debug)]
pub struct LinearClient {
    out: Outbound,
    config: LinearConfig,
}

/// A comment as `commentCreate` / `comment` return it.
#[derive(Debug, Deserialize)]
struct CommentNode {
    id: String,
    #[serde(default)]
    url: Option<String>,
}

impl From<CommentNode> for StatusRef {
    fn from(comment: CommentNode) -> Self {
        Self {
            id: comment.id,
            url: comment.url,
        }
    }
}

impl LinearClient {
    /// A client for the tenants in `config`; API keys are read through `out` per call.
    pub fn new(config: LinearConfig, out: &Outbound) -> Self {
        let out = out.clone();
        Self { out, config }
    }

    /// The one place a [`SourceRef`] is interpreted: other providers' variants and unknown tenants are refused.
    fn thread<'a>(&self, source: &'a SourceRef) -> Result<(&'a LinearSource, &LinearTenant), PortError> {
        match source {
            SourceRef::Linear(source) => {
                let tenant = self.config.tenant(&source.tenant).ok_or_else(|| {
                    PortError::permanent(
                        "linear client",
                        format!("tenant {:?} is not configured", source.tenant),
                    )
                })?;
                if source.issue_id.is_empty() {
                    return Err(PortError::permanent("linear client", "source has no issue id"));
                }
                Ok((source, tenant))
            }
            other => Err(foreign_source("linear client", other)),
        }
    }

    /// One GraphQL request; returns its `data` once the answer is classified.
    async fn graphql(
        &self,
        tenant: &LinearTenant,
        op: &'static str,
        query: &str,
        variables: Value,
    ) -> Result<Value, PortError> {
        const WHAT: &str = "Linear API key";
        let what = what(op);
        let name = tenant.api_key_secret_name();
        let key = outbound::credential(self.out.secrets.as_ref(), &name, WHAT).await?;
        let mut auth = HeaderValue::from_str(key.expose().trim())
            .map_err(|_| PortError::permanent(WHAT, format!("secret {name} is not a header value")))?;
        auth.set_sensitive(true);
        let request = self
            .out
            .http
            .post(&self.config.api_url)
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, "application/json")
            .json(&json!({ "query": query, "variables": variables }));
        let credentials = [&key];
        let call = Call::new(&what)
            .credentials(&credentials)
            .at(self.out.clock.now_millis());
        let answer = outbound::send(&call, request).await?;
        let result =
            outbound::classify(&LinearApi, &call, &answer).and_then(|()| graphql_data(&what, &answer));
        outbound::log_outcome!(&result, "Linear", status = answer.status, op, tenant = %tenant.name);
        result
    }

    /// `commentCreate`, requiring `success: true` and the created comment.
    async fn create_comment(
        &self,
        tenant: &LinearTenant,
        op: &'static str,
        input: Value,
    ) -> Result<CommentNode, PortError> {
        let data = self
            .graphql(tenant, op, COMMENT_CREATE, json!({ "input": input }))
            .await?;
        let payload = mutation_payload(&what(op), &data, "commentCreate")?;
        serde_json::from_value(payload.get("comment").cloned().unwrap_or(Value::Null))
            .map_err(|_| PortError::permanent(what(op), "commentCreate returned no comment"))
    }

    /// The comment `id` on this issue, written by this tenant's service account, if it exists.
    async fn find_comment(
        &self,
        tenant: &LinearTenant,
        source: &LinearSource,
        id: &str,
    ) -> Result<Option<StatusRef>, PortError> {
        const OP: &str = "find comment";
        let data = match self.graphql(tenant, OP, COMMENT_FIND, json!({ "id": id })).await {
            Ok(data) => data,
            Err(PortError::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        #[derive(Deserialize)]
        struct Found {
            id: String,
            #[serde(default)]
            url: Option<String>,
            #[serde(default)]
            issue: Option<IdOnly>,
            #[serde(default)]
            user: Option<IdOnly>,
        }
        let Some(found) = data
            .get("comment")
            .filter(|c| !c.is_null())
            .and_then(|c| serde_json::from_value::<Found>(c.clone()).ok())
        else {
            return Ok(None);
        };
        // Only our own comment on this issue counts.
        let on_issue = found.issue.as_ref().is_some_and(|i| i.id == source.issue_id);
        let ours = found.user.as_ref().is_some_and(|u| u.id == tenant.bot_user_id);
        Ok((on_issue && ours).then_some(StatusRef {
            id: found.id,
            url: found.url,
        }))
    }

    fn comment_input(source: &LinearSource, body: String) -> Value {
        let mut input = json!({ "issueId": source.issue_id, "body": body });
        if let Some(root) = &source.thread_root_id {
            input["parentId"] = json!(root);
        }
        input
    }
}

/// A member of the issue's team, as [`TEAM_MEMBER`] reads them.
#[derive(Deserialize)]
struct TeamMember {
    id: String,
    #[serde(default)]
    active: bool,
    #[serde(default)]
    guest: bool,
    #[serde(default)]
    admin: bool,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[async_trait]
impl SourceClient for LinearClient {
    /// Membership of the issue's team: an active member who is not a guest triggers; a workspace admin also
    /// steers others' runs. Anyone else (another team, a guest, a deactivated user) may not.
    async fn access(&self, source: &SourceRef, actor: &Actor) -> Result<Access, PortError> {
        const OP: &str = "read team member";
        let (source, tenant) = self.thread(source)?;
        if actor.id.is_empty() || actor.id == tenant.bot_user_id {
            return Ok(Access::None);
        }
        let variables = json!({ "id": source.issue_id, "user": actor.id });
        let data = self.graphql(tenant, OP, TEAM_MEMBER, variables).await?;
        let members: Vec<TeamMember> =
            parse_value(&what(OP), data["issue"]["team"]["members"]["nodes"].clone())?;
        let access = match members.iter().find(|m| m.id == actor.id) {
            Some(m) if m.active && !m.guest && m.admin => Access::Maintain,
            Some(m) if m.active && !m.guest => Access::Trigger,
            _ => Access::None,
        };
        tracing::debug!(tenant = %tenant.name, issue = %source.issue_identifier, actor = %actor.id, ?access, "checked access");
        Ok(access)
    }

    async fn acknowledge(&self, source: &SourceRef) -> Result<(), PortError> {
        const OP: &str = "add reaction";
        let (source, tenant) = self.thread(source)?;
        let input = match &source.comment_id {
            Some(comment_id) => json!({ "commentId": comment_id, "emoji": ACK_EMOJI }),
            None => json!({ "issueId": source.issue_id, "emoji": ACK_EMOJI }),
        };
        let data = self
            .graphql(tenant, OP, REACTION_CREATE, json!({ "input": input }))
            .await?;
        mutation_payload(&what(OP), &data, "reactionCreate")?;
        Ok(())
    }

    async fn post_status(
        &self,
        source: &SourceRef,
        marker: &str,
        text: &str,
        _live: bool,
    ) -> Result<StatusRef, PortError> {
        const OP: &str = "create status comment";
        let (source, tenant) = self.thread(source)?;
        let id = status_comment_id(&tenant.name, &source.issue_id, marker);
        let mut input = Self::comment_input(source, comment_body(text));
        input["id"] = json!(id);
        match self.create_comment(tenant, OP, input.clone()).await {
            Ok(comment) => {
                tracing::info!(tenant = %tenant.name, issue = %source.issue_identifier, comment_id = %comment.id, "posted status comment");
                Ok(comment.into())
            }
            Err(err) if !err.is_transient() => {
                // An earlier attempt may have created it and lost the answer: the id is ours, look it up.
                if let Some(found) = self.find_comment(tenant, source, &id).await? {
                    return Ok(found);
                }
                // Refused and absent (e.g. a deleted status comment still holds the id): post a fresh one.
                tracing::warn!(tenant = %tenant.name, issue = %source.issue_identifier, error = %err, "status comment id refused; posting without it");
                if let Some(object) = input.as_object_mut() {
                    object.remove("id");
                }
                Ok(self.create_comment(tenant, OP, input).await?.into())
            }
            Err(err) => Err(err),
        }
    }

    async fn find_status(&self, source: &SourceRef, marker: &str) -> Result<Option<StatusRef>, PortError> {
        let (source, tenant) = self.thread(source)?;
        let id = status_comment_id(&tenant.name, &source.issue_id, marker);
        self.find_comment(tenant, source, &id).await
    }

    async fn edit_status(
        &self,
        source: &SourceRef,
        status: &StatusRef,
        _marker: &str,
        text: &str,
        _live: bool,
    ) -> Result<(), PortError> {
        const OP: &str = "edit status comment";
        let (_, tenant) = self.thread(source)?;
        let variables = json!({ "id": status.id, "input": { "body": comment_body(text) } });
        match self.graphql(tenant, OP, COMMENT_UPDATE, variables).await {
            Ok(data) => {
                mutation_payload(&what(OP), &data, "commentUpdate")?;
                Ok(())
            }
            Err(PortError::NotFound { .. }) => Err(PortError::not_found(format!(
                "Linear status comment {}",
                status.id
            ))),
            Err(err) => Err(err),
        }
    }

    async fn post_notice(&self, source: &SourceRef, text: &str) -> Result<(), PortError> {
        let (source, tenant) = self.thread(source)?;
        let comment = self
            .create_comment(
                tenant,
                "create notice comment",
                Self::comment_input(source, comment_body(text)),
            )
            .await?;
        tracing::info!(tenant = %tenant.name, issue = %source.issue_identifier, comment_id = %comment.id, "posted notice");
        Ok(())
    }

    /// The issue description (for comment triggers, whose webhook does not carry it) and the issue's comments
    /// written at or before `until`, oldest first, leaving out Hookline's and apps' comments.
    async fn thread_context(&self, source: &SourceRef, until: u64) -> Result<Vec<ContextMessage>, PortError> {
        const OP: &str = "read issue thread";
        let (source, tenant) = self.thread(source)?;
        let data = self
            .graphql(tenant, OP, ISSUE_THREAD, json!({ "id": source.issue_id }))
            .await?;
        let issue: ThreadIssue = issue_of(&data, source)?;
        let mut entries: Vec<((u64, String), ContextMessage)> = Vec::new();
        for comment in issue.comments.nodes {
            let Some(created_at) = comment.created_at.as_deref().and_then(parse_timestamp) else {
                continue;
            };
            let own = comment.user.as_ref().is_some_and(|u| u.id == tenant.bot_user_id);
            if created_at > until || own || comment.bot_actor.is_some() {
                continue;
            }
            let text = comment.body.as_deref().unwrap_or_default();
            let author = comment.user.map(|u| u.display_name.or(u.name).unwrap_or(u.id));
            if let Some(message) = ContextMessage::earlier(author, "unknown", text) {
                entries.push(((created_at, comment.id), message));
            }
        }
        let mut messages = Vec::new();
        if source.comment_id.is_some() {
            if let Some(description) = text::context_text(issue.description.as_deref().unwrap_or_default()) {
                let creator = issue
                    .creator
                    .and_then(|c| c.display_name.or(c.name))
                    .unwrap_or_else(|| "the reporter".to_owned());
                messages.push(ContextMessage {
                    author: format!("{creator} (issue description)"),
                    body: description,
                });
            }
        }
        messages.extend(text::newest_context(entries));
        Ok(messages)
    }

    /// Move an issue that has not started (state type in `LINEAR_START_FROM_STATES`) to its team's `started`
    /// state with the lowest position. Started, completed and canceled issues are never touched.
    async fn run_started(&self, source: &SourceRef) -> Result<(), PortError> {
        if !self.config.move_to_started {
            return Ok(());
        }
        let (source, tenant) = self.thread(source)?;
        let data = self
            .graphql(
                tenant,
                "read issue state",
                ISSUE_STATE,
                json!({ "id": source.issue_id }),
            )
            .await?;
        let issue: StateIssue = issue_of(&data, source)?;
        let Some(target) = started_state_for(&issue, &self.config.start_from_states) else {
            tracing::debug!(tenant = %tenant.name, issue = %source.issue_identifier, state = ?issue.state.as_ref().map(|s| &s.kind), "issue state left as it is");
            return Ok(());
        };
        const OP: &str = "move issue to started";
        let data = self
            .graphql(
                tenant,
                OP,
                ISSUE_UPDATE,
                json!({ "id": source.issue_id, "input": { "stateId": target.id } }),
            )
            .await?;
        mutation_payload(&what(OP), &data, "issueUpdate")?;
        tracing::info!(tenant = %tenant.name, issue = %source.issue_identifier, state = %target.name, "moved issue to started");
        Ok(())
    }
}

#[derive(Deserialize)]
struct ThreadIssue {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    creator: Option<ThreadUser>,
    #[serde(default)]
    comments: Connection<ThreadComment>,
}

#[derive(Deserialize)]
struct Connection<T> {
    #[serde(default = "Vec::new")]
    nodes: Vec<T>,
}

impl<T> Default for Connection<T> {
    fn default() -> Self {
        Self { nodes: Vec::new() }
    }
}

#[derive(Deserialize)]
struct ThreadComment {
    id: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default, rename = "createdAt")]
    created_at: Option<String>,
    #[serde(default)]
    user: Option<ThreadUser>,
    #[serde(default, rename = "botActor")]
    bot_actor: Option<Value>,
}

#[derive(Deserialize)]
struct ThreadUser {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "displayName")]
    display_name: Option<String>,
}

#[derive(Deserialize)]
struct StateIssue {
    #[serde(default)]
    state: Option<WorkflowState>,
    #[serde(default)]
    team: Option<StateTeam>,
}

#[derive(Deserialize)]
struct StateTeam {
    #[serde(default)]
    states: Connection<WorkflowState>,
}

#[derive(Clone, Debug, Deserialize)]
struct WorkflowState {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    position: f64,
}

/// The state to move `issue` to, if it should move: only from `start_from` types (never from started,
/// completed or canceled), to the team's `started` state with the lowest position.
fn started_state_for(issue: &StateIssue, start_from: &[String]) -> Option<WorkflowState> {
    let current = issue.state.as_ref()?;
    let kind = current.kind.to_ascii_lowercase();
    if NEVER_MOVED_STATE_TYPES.contains(&kind.as_str()) || !start_from.contains(&kind) {
        return None;
    }
    issue
        .team
        .as_ref()?
        .states
        .nodes
        .iter()
        .filter(|s| s.kind.eq_ignore_ascii_case("started"))
        .min_by(|a, b| a.position.total_cmp(&b.position))
        .cloned()
}

/// `data.issue` of a query about `source`'s issue; an issue Linear does not return is not found.
fn issue_of<T: serde::de::DeserializeOwned>(data: &Value, source: &LinearSource) -> Result<T, PortError> {
    data.get("issue")
        .filter(|i| !i.is_null())
        .and_then(|i| serde_json::from_value(i.clone()).ok())
        .ok_or_else(|| PortError::not_found(format!("Linear issue {}", source.issue_identifier)))
}

/// `data[field]` of a mutation, required to say `success: true`.
fn mutation_payload<'d>(what: &str, data: &'d Value, field: &str) -> Result<&'d Value, PortError> {
    let payload = data
        .get(field)
        .filter(|p| !p.is_null())
        .ok_or_else(|| PortError::permanent(what, format!("{field} returned nothing")))?;
    if payload.get("success").and_then(Value::as_bool) != Some(true) {
        return Err(PortError::permanent(
            what,
            format!("{field} answered success: false"),
        ));
    }
    Ok(payload)
}

/// Comment body, cut with a visible note beyond [`MAX_COMMENT_CHARS`].
fn comment_body(text: &str) -> String {
    fit(text, MAX_COMMENT_CHARS, None)
}

#[derive(Debug, Default, Deserialize)]
struct GraphqlResponse {
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    errors: Option<Vec<GraphqlError>>,
}

#[derive(Debug, Default, Deserialize)]
struct GraphqlError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    extensions: Option<ErrorExtensions>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorExtensions {
    #[serde(default)]
    code: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

impl GraphqlError {
    fn code_or_type_is(&self, code: &str, kind: &str) -> bool {
        self.extensions.as_ref().is_some_and(|e| {
            e.code.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(code))
                || e.kind.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(kind))
        })
    }
    fn is_rate_limit(&self) -> bool {
        self.code_or_type_is("RATELIMITED", "ratelimited")
    }
    fn is_transient(&self) -> bool {
        [
            "internal error",
            "network error",
            "lock timeout",
            "bootstrap error",
        ]
        .iter()
        .any(|kind| self.code_or_type_is("INTERNAL_SERVER_ERROR", kind))
    }
    fn is_not_found(&self) -> bool {
        self.code_or_type_is("ENTITY_NOT_FOUND", "not found")
            || self
                .message
                .as_deref()
                .is_some_and(|m| text::contains_ignore_ascii_case(m, "not found"))
    }
}

/// How Linear's GraphQL API speaks. Linear answers refusals with HTTP 200 and `errors`, so the body is read
/// whatever the status:
/// - a rate limit is a 429 or a `RATELIMITED` error; it lasts until the latest `x-ratelimit-*-reset` among
///   the spent quotas (any quota when none says it is spent), else [`DEFAULT_RATE_LIMIT_WAIT`];
/// - internal, network, lock-timeout and bootstrap errors are transient, an `Entity not found` error means the
///   object is gone, any other error is a refusal;
/// - the first error's `extensions.type` and `message` word it.
struct LinearApi;

impl Dialect for LinearApi {
    const DEFAULT_RATE_LIMIT_WAIT: Option<Duration> = Some(DEFAULT_RATE_LIMIT_WAIT);
    const ERRORS_IN_SUCCESS: bool = true;

    fn read(&self, answer: &Answer) -> Signals {
        let parsed: GraphqlResponse = serde_json::from_slice(&answer.body).unwrap_or_default();
        let errors = parsed.errors.unwrap_or_default();
        let first = errors.first();
        Signals {
            rate_limited: errors.iter().any(GraphqlError::is_rate_limit),
            quota_reset_ms: quota_reset_ms(&answer.headers),
            transient: errors.iter().any(GraphqlError::is_transient),
            not_found: errors.iter().any(GraphqlError::is_not_found),
            refused: !errors.is_empty(),
            error_kind: first.and_then(|e| e.extensions.as_ref()?.kind.clone()),
            error_message: first.and_then(|e| e.message.clone()),
        }
    }
}

/// The `data` of an answer classified as a success; one without it is permanent.
fn graphql_data(what: &str, answer: &Answer) -> Result<Value, PortError> {
    let parsed: GraphqlResponse = serde_json::from_slice(&answer.body).unwrap_or_default();
    parsed
        .data
        .filter(|d| !d.is_null())
        .ok_or_else(|| PortError::permanent(what, format!("HTTP {} without data", answer.status)))
}

/// When the rate limit ends (epoch ms): the latest reset among spent quotas, or among all quotas when none
/// says it is spent.
fn quota_reset_ms(headers: &HeaderMap) -> Option<u64> {
    let quotas = ["requests", "complexity"];
    let reset_of = |quota: &str| header_u64(headers, &format!("x-ratelimit-{quota}-reset"));
    let spent: Vec<u64> = quotas
        .iter()
        .filter(|q| header_u64(headers, &format!("x-ratelimit-{q}-remaining")) == Some(0))
        .filter_map(|q| reset_of(q))
        .collect();
    let resets = if spent.is_empty() {
        quotas.iter().filter_map(|q| reset_of(q)).collect()
    } else {
        spent
    };
    // Epoch milliseconds per Linear's docs; a value that small can only be seconds.
    resets.into_iter().max().map(|reset| {
        if reset < 100_000_000_000 {
            reset.saturating_mul(1000)
        } else {
            reset
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::testing::{answer, assert_common_classification, wait as retry_after};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        answer(200, pairs, "").headers
    }

    fn classify(
        what: &str,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now_ms: u64,
    ) -> Result<Value, PortError> {
        let answer = Answer {
            status,
            headers: headers.clone(),
            body: body.to_vec(),
        };
        outbound::classify(&LinearApi, &Call::new(what).at(now_ms), &answer)?;
        graphql_data(what, &answer)
    }

    const NOW_MS: u64 = 1_714_478_400_000;

    /// [`classify`] of `body` answered with `status` and no headers.
    fn classify_body(status: u16, body: &[u8]) -> Result<Value, PortError> {
        classify("t", status, &HeaderMap::new(), body, NOW_MS)
    }

    #[test]
    fn rate_limits_are_transient_with_linears_wait() {
        assert_common_classification(&LinearApi);
        let body = br#"{"errors":[{"message":"Rate limit exceeded","extensions":{"code":"RATELIMITED","type":"ratelimited"}}]}"#;
        let reset = (NOW_MS + 42_500).to_string();
        let h = headers(&[
            ("x-ratelimit-requests-remaining", "0"),
            ("x-ratelimit-requests-reset", &reset),
            ("x-ratelimit-complexity-remaining", "900"),
            ("x-ratelimit-complexity-reset", "99999999999999"),
        ]);
        assert_eq!(
            retry_after(classify("t", 400, &h, body, NOW_MS)),
            Some(Duration::from_secs(43))
        );
        // 42.5 s away seen 0.7 s into a second is 41.8 s away: still rounded up, never down.
        assert_eq!(
            retry_after(classify("t", 400, &h, body, NOW_MS + 700)),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            retry_after(classify_body(200, body)),
            Some(DEFAULT_RATE_LIMIT_WAIT)
        );
    }

    #[test]
    fn graphql_errors_and_statuses_are_classified() {
        let ok = classify_body(200, br#"{"data":{"x":1}}"#);
        assert_eq!(ok.ok(), Some(json!({"x": 1})));

        let refused = classify_body(200, br#"{"data":null,"errors":[{"message":"Argument Validation Error","extensions":{"type":"invalid input"}}]}"#);
        match refused {
            Err(PortError::Permanent {
                status: None, detail, ..
            }) => {
                assert_eq!(detail, "HTTP 200 (invalid input): Argument Validation Error")
            }
            other => panic!("expected permanent, got {other:?}"),
        }
        let missing = classify_body(200, br#"{"errors":[{"message":"Entity not found: Comment","extensions":{"type":"invalid input","code":"INPUT_ERROR"}}]}"#);
        assert!(matches!(missing, Err(PortError::NotFound { .. })));
        let internal = classify_body(
            200,
            br#"{"errors":[{"message":"boom","extensions":{"type":"internal error"}}]}"#,
        );
        assert!(matches!(internal, Err(PortError::Transient { .. })));
        let unauthorized = classify_body(401, br#"{"errors":[{"message":"Authentication required","extensions":{"type":"authentication error"}}]}"#);
        assert!(matches!(
            unauthorized,
            Err(PortError::Permanent {
                status: Some(401),
                ..
            })
        ));
        assert!(matches!(
            classify_body(200, b"not json"),
            Err(PortError::Permanent { .. })
        ));
    }

    #[test]
    fn mutations_must_succeed() {
        let data = json!({"commentCreate": {"success": false}});
        assert!(mutation_payload("t", &data, "commentCreate").is_err());
        assert!(mutation_payload("t", &json!({}), "commentCreate").is_err());
        let data = json!({"commentCreate": {"success": true, "comment": {"id": "c"}}});
        assert!(mutation_payload("t", &data, "commentCreate").is_ok());
    }

    #[test]
    fn status_ids_are_stable_uuid_v4_layout() {
        let a = status_comment_id("acme", "issue-1", "run:abc");
        assert_eq!(a, status_comment_id("acme", "issue-1", "run:abc"));
        assert_ne!(a, status_comment_id("acme", "issue-2", "run:abc"));
        assert_ne!(a, status_comment_id("globex", "issue-1", "run:abc"));
        let parsed = uuid::Uuid::parse_str(&a).expect("uuid");
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(a.len(), 36);
    }

    #[test]
    fn picks_the_first_started_state_and_never_moves_finished_issues() {
        let states = |current: &str| StateIssue {
            state: Some(WorkflowState {
                id: "s0".into(),
                name: "Now".into(),
                kind: current.into(),
                position: 0.0,
            }),
            team: Some(StateTeam {
                states: Connection {
                    nodes: vec![
                        WorkflowState {
                            id: "review".into(),
                            name: "In Review".into(),
                            kind: "started".into(),
                            position: 3.0,
                        },
                        WorkflowState {
                            id: "progress".into(),
                            name: "In Progress".into(),
                            kind: "started".into(),
                            position: 1.5,
                        },
                        WorkflowState {
                            id: "done".into(),
                            name: "Done".into(),
                            kind: "completed".into(),
                            position: 0.5,
                        },
                    ],
                },
            }),
        };
        let from: Vec<String> = ["backlog", "unstarted", "triage"].map(String::from).to_vec();
        for kind in ["backlog", "unstarted", "triage"] {
            assert_eq!(
                started_state_for(&states(kind), &from).map(|s| s.id).as_deref(),
                Some("progress"),
                "{kind}"
            );
        }
        for kind in ["started", "completed", "canceled"] {
            assert!(started_state_for(&states(kind), &from).is_none(), "{kind}");
        }
        let only_unstarted = vec!["unstarted".to_owned()];
        assert!(started_state_for(&states("backlog"), &only_unstarted).is_none());
    }

    #[test]
    fn timestamps_and_long_bodies() {
        assert_eq!(parse_timestamp("2024-04-30T12:00:00.000Z"), Some(1_714_478_400));
        assert_eq!(parse_timestamp("2024-04-30T12:00:00Z"), Some(1_714_478_400));
        assert_eq!(parse_timestamp("yesterday"), None);
        let long = comment_body(&"x".repeat(60_000));
        assert_eq!(long.chars().count(), MAX_COMMENT_CHARS);
        assert!(long.ends_with("(truncated)"));
        assert_eq!(comment_body("hi"), "hi");
    }
}
