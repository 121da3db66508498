//! Slack Web API client implementing [`crate::ports::SourceClient`].
//!
//! - Every call is authenticated with the team's bot token (`<prefix>/<team>/bot-token` from the secret store)
//!   and goes through `SlackClient::request`. The outbound toolkit classifies the HTTP answer (`SlackApi`: a
//!   rate limit is a 429 or a 2xx with `error: ratelimited`, waiting `Retry-After`); a 2xx whose JSON says
//!   `ok: false` is then an error too, classified by its `error` code (Slack-side failures transient,
//!   `message_not_found` not found, everything else — `invalid_auth`, `channel_not_found`, `not_in_channel`,
//!   … — permanent), unless the caller accepts that code.
//! - Acknowledgement is an `eyes` reaction on the mention (`reactions.add`); the status is one thread reply
//!   (`chat.postMessage` with `thread_ts`) that the result edits (`chat.update`). While the run is live the
//!   status also carries Block Kit blocks: its text and a Stop button ([`STOP_ACTION_ID`], valued with the
//!   conversation id); the final edit sends an empty `blocks` array, which removes them.
//! - Slack has no invisible text, so the status message carries the run marker as message metadata
//!   (`event_type` [`STATUS_EVENT_TYPE`], `event_payload.marker`). `find_status` reads the thread with
//!   `include_all_metadata` and takes only the bot's own message carrying that marker (anyone can write text,
//!   only this app can attach its metadata to its own message).
//! - Context is the thread only (`conversations.replies` on the root), up to the triggering message, without the
//!   bot's own messages; never channel history.
//! - Notices go as [`SlackNotice`] says: ephemeral, a thread reply, the repository picker (a thread reply with a
//!   `static_select` of the choices, [`PICK_ACTION_ID`], and a line naming who it is for and when it expires),
//!   or an edit of the picker. A run started from a pick edits its picker when it is acknowledged.

use std::{ops::ControlFlow, time::Duration};

use async_trait::async_trait;
use reqwest::{
    header::{AUTHORIZATION, CONTENT_TYPE},
    Method,
};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};

use super::{
    event::{self, SlackMessage},
    is_slack_id, is_slack_ts, mrkdwn, ts_key, SlackConfig, SlackNotice, SlackSource, MAX_CHOICES,
    PICK_ACTION_ID, STOP_ACTION_ID,
};
use crate::{
    domain::{Actor, SourceRef, StatusRef},
    error::PortError,
    outbound::{
        self, encode_query_value, parse_value, retry_after, scan_pages, stop_at, string_field, Answer, Call,
        Dialect, Page, Scanned, Signals,
    },
    ports::{foreign_source, Access, ContextMessage, SourceClient},
    provider::Outbound,
    repo_hint::RepoRef,
    text,
};

/// Metadata `event_type` of Hookline's status messages.
pub const STATUS_EVENT_TYPE: &str = "hookline_status";
/// Reaction that acknowledges a mention.
pub const ACK_REACTION: &str = "eyes";
/// Page size for `conversations.replies` (Slack recommends at most 200).
pub const PAGE_SIZE: u32 = 200;
/// Most pages read from one thread.
pub const MAX_PAGES: usize = 10;
/// Slack's limit on the text of a section block.
const MAX_SECTION_CHARS: usize = 3000;
/// Slack's limit on the blocks of a message.
const MAX_BLOCKS: usize = 50;
/// `block_id` of the status message's actions block.
const STOP_BLOCK_ID: &str = "hookline_status_actions";
/// Slack's limit on the text of an option.
const MAX_OPTION_TEXT_CHARS: usize = 75;
/// Wait for a rate limit that names no time.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(30);

/// `error` codes of a rate limit.
const RATE_LIMIT_ERRORS: &[&str] = &["ratelimited", "rate_limited"];
/// `error` codes that mean "Slack could not do it right now".
const TRANSIENT_ERRORS: &[&str] = &[
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
];
/// `error` codes that mean the message is gone.
const NOT_FOUND_ERRORS: &[&str] = &["message_not_found", "thread_not_found"];
/// Message subtypes kept as context (a person's message); joins, topic changes and the like are left out.
const CONTEXT_SUBTYPES: &[&str] = &["thread_broadcast", "file_share", "bot_message", "me_message"];

fn what(method: &str) -> String {
    format!("Slack API ({method})")
}

/// [`SourceClient`] for Slack, acting as each workspace's bot.
#[derive(Debug)]
pub struct SlackClient {
    out: Outbound,
    config: SlackConfig,
}

/// A Web API answer with `ok: false`.
#[derive(Debug)]
struct Refusal {
    code: String,
    retry_after: Option<Duration>,
}

impl SlackClient {
    /// A client for the Web API at `config.api_url`; bot tokens are read through `out` per call.
    pub fn new(config: SlackConfig, out: &Outbound) -> Self {
        let out = out.clone();
        Self { out, config }
    }

    /// The one place a [`SourceRef`] is interpreted: other providers' variants and implausible ids are refused.
    fn thread<'a>(&self, source: &'a SourceRef) -> Result<&'a SlackSource, PortError> {
        let SourceRef::Slack(slack) = source else {
            return Err(foreign_source("slack client", source));
        };
        let notice_valid = match &slack.notice {
            SlackNotice::Edit { ts } | SlackNotice::Picked { picker_ts: ts, .. } => is_slack_ts(ts),
            SlackNotice::Choice { choices } => choices.len() <= MAX_CHOICES,
            SlackNotice::Ephemeral | SlackNotice::Thread => true,
        };
        let valid = is_slack_id(&slack.tenant)
            && is_slack_id(&slack.channel)
            && is_slack_ts(&slack.thread_ts)
            && is_slack_ts(&slack.message_ts)
            && is_slack_id(&slack.bot_user_id)
            && (slack.user.is_empty() || is_slack_id(&slack.user))
            && notice_valid;
        if valid {
            Ok(slack)
        } else {
            Err(PortError::permanent("slack client", "source has invalid ids"))
        }
    }

    /// `POST {api}/{method}` with a JSON body (write methods).
    async fn post(
        &self,
        source: &SlackSource,
        method: &'static str,
        body: &Value,
    ) -> Result<Value, PortError> {
        self.request(source, method, Method::POST, Some(body), &[])
            .await?
            .map_err(|refusal| refused(method, refusal))
    }

    /// `GET {api}/{method}?{query}` (read methods), its answer read as `T`.
    async fn get<T: DeserializeOwned>(
        &self,
        source: &SlackSource,
        method: &'static str,
        query: &[(&str, &str)],
    ) -> Result<T, PortError> {
        let value = self
            .request(source, method, Method::GET, None, query)
            .await?
            .map_err(|refusal| refused(method, refusal))?;
        parse_value(&what(method), value)
    }

    /// One Web API call. Transport and HTTP-level failures are `Err`; an `ok: false` answer is `Ok(Err(_))` so
    /// a caller can accept a specific code (e.g. `already_reacted`).
    async fn request(
        &self,
        source: &SlackSource,
        method: &'static str,
        http_method: Method,
        body: Option<&Value>,
        query: &[(&str, &str)],
    ) -> Result<Result<Value, Refusal>, PortError> {
        let what = what(method);
        let name = self.config.bot_token_name(&source.tenant);
        let token = outbound::credential(self.out.secrets.as_ref(), &name, "Slack bot token").await?;
        let mut url = format!("{}/{method}", self.config.api_url);
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.push_str(&encode_query_value(value));
        }
        let mut request = self
            .out
            .http
            .request(http_method, &url)
            .header(AUTHORIZATION, format!("Bearer {}", token.expose()));
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| PortError::permanent(what.clone(), e))?;
            request = request
                .header(CONTENT_TYPE, "application/json; charset=utf-8")
                .body(bytes);
        }
        let credentials = [&token];
        let call = Call::new(&what).credentials(&credentials);
        let answer = outbound::send(&call, request).await?;
        let status = answer.status;
        let outcome = classify(&call, &answer);
        match &outcome {
            Ok(Ok(_)) => {
                tracing::debug!(method, team = %source.tenant, channel = %source.channel, status, "Slack API call")
            }
            Ok(Err(refusal)) => tracing::info!(
                method,
                team = %source.tenant,
                channel = %source.channel,
                error = %refusal.code,
                "Slack API refused the call"
            ),
            Err(err) => tracing::warn!(
                method,
                team = %source.tenant,
                channel = %source.channel,
                status,
                error = %err,
                "Slack API call failed"
            ),
        }
        outcome
    }

    /// Whether `user` is a member of one of the configured user groups.
    async fn in_usergroups(&self, source: &SlackSource, user: &str) -> Result<bool, PortError> {
        const METHOD: &str = "usergroups.users.list";
        for group in &self.config.access.usergroups {
            let query = [("usergroup", group.as_str())];
            let members: UsergroupMembers = self.get(source, METHOD, &query).await?;
            if members.users.iter().any(|member| member == user) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Feed the thread's messages (root first) to `visit`, following cursors for at most [`MAX_PAGES`] pages.
    /// Returns what `visit` broke with, if it did.
    async fn scan_thread<B>(
        &self,
        source: &SlackSource,
        with_metadata: bool,
        visit: impl FnMut(ThreadMessage) -> ControlFlow<B>,
    ) -> Result<Option<B>, PortError> {
        const METHOD: &str = "conversations.replies";
        let limit = &PAGE_SIZE.to_string();
        let fetch = move |cursor: String| async move {
            let mut query = vec![
                ("channel", source.channel.as_str()),
                ("ts", source.thread_ts.as_str()),
                ("limit", limit.as_str()),
            ];
            if with_metadata {
                query.push(("include_all_metadata", "true"));
            }
            if !cursor.is_empty() {
                query.push(("cursor", cursor.as_str()));
            }
            let page: RepliesPage = self.get(source, METHOD, &query).await?;
            let next = page.response_metadata.and_then(|m| m.next_cursor);
            Ok::<_, PortError>(Page {
                items: page.messages,
                next: next.filter(|next| !next.is_empty()),
            })
        };
        let scanned = scan_pages(MAX_PAGES, String::new(), fetch, visit).await?;
        if matches!(scanned, Scanned::PageLimit) {
            tracing::info!(team = %source.tenant, channel = %source.channel, pages = MAX_PAGES, "stopped reading the thread at the page limit");
        }
        Ok(scanned.found())
    }

    /// Hookline's text as this source's message: Markdown → mrkdwn, the person as a real mention.
    fn render(source: &SlackSource, text: &str) -> String {
        mrkdwn::link_user(&mrkdwn::to_mrkdwn(text), &source.user)
    }

    /// The message `source.message_ts` of the thread `source.thread_ts`, as Slack has it now; `None` when it or
    /// its thread is gone.
    pub(crate) async fn read_message(&self, source: &SlackSource) -> Result<Option<SlackMessage>, PortError> {
        let wanted = ts_key(&source.message_ts);
        let scanned = self
            .scan_thread(source, false, |message| {
                if message.ts == source.message_ts {
                    return ControlFlow::Break(Some(SlackMessage::new(message.user, message.text)));
                }
                // Replies come in ts order after the root: past the wanted one, it is not there.
                let root = message.ts == source.thread_ts;
                stop_at(None, !root && ts_key(&message.ts) > wanted)
            })
            .await;
        match scanned {
            Ok(found) => Ok(found.flatten()),
            Err(PortError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Epoch seconds of the worker's clock.
    pub(crate) fn now_secs(&self) -> u64 {
        self.out.clock.now_secs()
    }

    /// `chat.update` of Hookline's message `ts` to `text` (already rendered), its blocks removed.
    async fn replace(&self, source: &SlackSource, ts: &str, text: &str) -> Result<(), PortError> {
        const METHOD: &str = "chat.update";
        let body = json!({
            "channel": source.channel,
            "ts": ts,
            "text": text,
            "blocks": [],
        });
        self.post(source, METHOD, &body).await.map(drop)
    }
}

#[async_trait]
impl SourceClient for SlackClient {
    /// Slack has no repository permissions; the identity link (or the configured default identity) is the gate.
    /// Slack has no repository permissions: the rules are the configured channels, user groups and whether
    /// people of other organizations count (they do not, by default).
    async fn access(&self, source: &SourceRef, actor: &Actor) -> Result<Access, PortError> {
        let source = self.thread(source)?;
        let actor_login = actor.id.as_str();
        let rules = &self.config.access;
        let refused = if actor_login.is_empty() || actor_login == source.bot_user_id {
            Some("not a person")
        } else if source.external && !rules.allow_external {
            Some("from another organization")
        } else if rules
            .channels
            .as_ref()
            .is_some_and(|c| !c.contains(&source.channel))
        {
            Some("not a served channel")
        } else if !rules.usergroups.is_empty() && !self.in_usergroups(source, actor_login).await? {
            Some("in none of the user groups")
        } else {
            None
        };
        if let Some(reason) = refused {
            tracing::info!(team = %source.tenant, channel = %source.channel, user = actor_login, reason, "may not trigger");
            return Ok(Access::None);
        }
        Ok(Access::Trigger)
    }

    async fn acknowledge(&self, source: &SourceRef) -> Result<(), PortError> {
        const METHOD: &str = "reactions.add";
        let source = self.thread(source)?;
        let body = json!({
            "channel": source.channel,
            "timestamp": source.message_ts,
            "name": ACK_REACTION,
        });
        let reacted = match self
            .request(source, METHOD, Method::POST, Some(&body), &[])
            .await?
        {
            Ok(_) => Ok(()),
            Err(refusal) if refusal.code == "already_reacted" => Ok(()),
            Err(refusal) => Err(refused(METHOD, refusal)),
        };
        // A run started from the picker closes it: the select goes, so nobody picks again.
        if let SlackNotice::Picked {
            picker_ts,
            repository,
        } = &source.notice
        {
            let text = mrkdwn::to_mrkdwn(&format!("Working in `{repository}`."));
            self.replace(source, picker_ts, &text).await?;
        }
        reacted
    }

    async fn post_status(
        &self,
        source: &SourceRef,
        marker: &str,
        text: &str,
        live: bool,
    ) -> Result<StatusRef, PortError> {
        const METHOD: &str = "chat.postMessage";
        let source = self.thread(source)?;
        let text = Self::render(source, text);
        let mut body = json!({
            "channel": source.channel,
            "thread_ts": source.thread_ts,
            "text": text,
            "unfurl_links": false,
            "unfurl_media": false,
            "metadata": status_metadata(marker),
        });
        if live {
            body["blocks"] = live_blocks(&text, marker);
        }
        let answer: Posted = parse_value(&what(METHOD), self.post(source, METHOD, &body).await?)?;
        tracing::info!(team = %source.tenant, channel = %source.channel, ts = %answer.ts, "posted status message");
        Ok(StatusRef {
            id: answer.ts,
            url: None,
        })
    }

    async fn find_status(&self, source: &SourceRef, marker: &str) -> Result<Option<StatusRef>, PortError> {
        let source = self.thread(source)?;
        let found = self
            .scan_thread(source, true, |message| {
                let own = message.user.as_deref() == Some(source.bot_user_id.as_str());
                let found = own && message.marker() == Some(marker);
                stop_at(message.ts, found)
            })
            .await?;
        Ok(found.map(|ts| StatusRef { id: ts, url: None }))
    }

    async fn edit_status(
        &self,
        source: &SourceRef,
        status: &StatusRef,
        marker: &str,
        text: &str,
        live: bool,
    ) -> Result<(), PortError> {
        const METHOD: &str = "chat.update";
        let source = self.thread(source)?;
        if !is_slack_ts(&status.id) {
            return Err(PortError::permanent(
                what(METHOD),
                "status id is not a message ts",
            ));
        }
        let text = Self::render(source, text);
        // Blocks are always sent: left out, `chat.update` keeps the earlier ones, and with them the Stop button.
        let blocks = if live {
            live_blocks(&text, marker)
        } else {
            json!([])
        };
        let body = json!({
            "channel": source.channel,
            "ts": status.id,
            "text": text,
            "blocks": blocks,
            "metadata": status_metadata(marker),
        });
        self.post(source, METHOD, &body).await?;
        Ok(())
    }

    async fn post_notice(&self, source: &SourceRef, text: &str) -> Result<(), PortError> {
        let source = self.thread(source)?;
        // Notices are Hookline's own texts: every person they name (`@U…`) is a real mention.
        let text = mrkdwn::link_user_ids(&Self::render(source, text));
        match &source.notice {
            SlackNotice::Choice { choices } => {
                const METHOD: &str = "chat.postMessage";
                let expires = self.config.access.choice_expires;
                let expires_at = self.out.clock.now_secs() + expires.as_secs();
                let body = json!({
                    "channel": source.channel,
                    "thread_ts": source.thread_ts,
                    "text": text,
                    "blocks": choice_blocks(&text, source, choices, &self.config.git_provider, expires_at, expires),
                    "unfurl_links": false,
                    "unfurl_media": false,
                });
                self.post(source, METHOD, &body).await?;
            }
            SlackNotice::Edit { ts } => self.replace(source, ts, &text).await?,
            SlackNotice::Ephemeral | SlackNotice::Picked { .. } if !source.user.is_empty() => {
                const METHOD: &str = "chat.postEphemeral";
                let body = json!({
                    "channel": source.channel,
                    "user": source.user,
                    "thread_ts": source.thread_ts,
                    "text": text,
                });
                self.post(source, METHOD, &body).await?;
            }
            _ => {
                const METHOD: &str = "chat.postMessage";
                let body = json!({
                    "channel": source.channel,
                    "thread_ts": source.thread_ts,
                    "text": text,
                    "unfurl_links": false,
                    "unfurl_media": false,
                });
                self.post(source, METHOD, &body).await?;
            }
        }
        tracing::info!(team = %source.tenant, channel = %source.channel, notice = ?source.notice, "posted notice");
        Ok(())
    }

    async fn thread_context(&self, source: &SourceRef, until: u64) -> Result<Vec<ContextMessage>, PortError> {
        let source = self.thread(source)?;
        let mut entries = Vec::new();
        self.scan_thread(source, true, |message| {
            entries.extend(context_entry(source, &message, until));
            ControlFlow::<()>::Continue(())
        })
        .await?;
        Ok(text::newest_context(entries))
    }
}

/// The prompt entry for one message of `source`'s thread, or `None` when it must be left out: written after the
/// trigger (or `until`), Hookline's own, or not a person's message.
fn context_entry(
    source: &SlackSource,
    message: &ThreadMessage,
    until: u64,
) -> Option<((u64, u64), ContextMessage)> {
    let key = ts_key(&message.ts)?;
    let after_trigger = ts_key(&source.message_ts).is_some_and(|t| key > t) || key.0 > until;
    let own = message.user.as_deref() == Some(source.bot_user_id.as_str())
        || message.metadata_type() == Some(STATUS_EVENT_TYPE);
    let kept_subtype = message
        .subtype
        .as_deref()
        .is_none_or(|s| CONTEXT_SUBTYPES.contains(&s));
    if after_trigger || own || !kept_subtype {
        return None;
    }
    let plain = mrkdwn::plain_text(
        message.text.as_deref().unwrap_or_default(),
        Some(&source.bot_user_id),
    );
    let author = message
        .user
        .clone()
        .or_else(|| message.username.clone())
        .or_else(|| message.bot_id.clone());
    Some((key, ContextMessage::earlier(author, "unknown", &plain)?))
}

#[derive(Deserialize)]
struct UsergroupMembers {
    #[serde(default)]
    users: Vec<String>,
}

fn status_metadata(marker: &str) -> Value {
    json!({
        "event_type": STATUS_EVENT_TYPE,
        "event_payload": { "marker": marker },
    })
}

/// A live status message as Block Kit: its text in sections, then the Stop button. `text` stays on the message
/// for notifications; Slack shows the blocks.
fn live_blocks(rendered: &str, marker: &str) -> Value {
    let mut blocks: Vec<Value> = section_chunks(rendered, MAX_SECTION_CHARS)
        .into_iter()
        .take(MAX_BLOCKS - 1)
        .map(|chunk| {
            // `verbatim`: the text is already mrkdwn with explicit mentions and links; Slack adds none.
            json!({"type": "section", "text": {"type": "mrkdwn", "text": chunk, "verbatim": true}})
        })
        .collect();
    blocks.push(stop_button(marker));
    Value::Array(blocks)
}

/// The repository picker: the notice, the `static_select` of `choices` (its `block_id` names the mention and the
/// person it asks, each option's value is a repository as [`event::pick_value`] writes it), and who it is for
/// until when (`expires_at`, shown in the reader's time zone).
fn choice_blocks(
    rendered: &str,
    source: &SlackSource,
    choices: &[RepoRef],
    default_provider: &str,
    expires_at: u64,
    expires: Duration,
) -> Value {
    let options: Vec<Value> = choices
        .iter()
        .take(MAX_CHOICES)
        .map(|repo| {
            json!({
                "text": {"type": "plain_text", "text": option_label(repo, default_provider)},
                "value": event::pick_value(repo),
            })
        })
        .collect();
    let section = section_chunks(rendered, MAX_SECTION_CHARS)
        .first()
        .copied()
        .unwrap_or("Which repository should I work on?");
    let minutes = super::minutes(expires.as_secs());
    json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": section, "verbatim": true}},
        {
            "type": "actions",
            "block_id": event::pick_block_id(&source.message_ts, &source.user),
            "elements": [{
                "type": "static_select",
                "action_id": PICK_ACTION_ID,
                "placeholder": {"type": "plain_text", "text": "Choose a repository"},
                "options": options,
            }],
        },
        {"type": "context", "elements": [{
            "type": "mrkdwn",
            "text": format!(
                "For <@{}> only. Expires <!date^{expires_at}^{{date_short_pretty}} at {{time}}|in {minutes}>.",
                source.user
            ),
        }]},
    ])
}

/// How a repository is listed in the picker: its path, with its provider when not the default one, cut to Slack's
/// limit.
fn option_label(repo: &RepoRef, default_provider: &str) -> String {
    let label = if repo.git_provider == default_provider {
        repo.repository.clone()
    } else {
        format!("{}:{}", repo.git_provider, repo.repository)
    };
    if label.chars().count() <= MAX_OPTION_TEXT_CHARS {
        return label;
    }
    let mut cut: String = label.chars().take(MAX_OPTION_TEXT_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The actions block with the Stop button; its value is the run's conversation id (the marker is
/// `run:<conversation id>`).
fn stop_button(marker: &str) -> Value {
    let conversation_id = marker.strip_prefix("run:").unwrap_or(marker);
    json!({
        "type": "actions",
        "block_id": STOP_BLOCK_ID,
        "elements": [{
            "type": "button",
            "action_id": STOP_ACTION_ID,
            "text": {"type": "plain_text", "text": "Stop"},
            "style": "danger",
            "value": conversation_id,
        }],
    })
}

/// `text` in pieces of at most `max_chars` characters, each ending at a line break where one is near enough (a
/// section's text has a length limit, and a cut line would break its formatting).
fn section_chunks(text: &str, max_chars: usize) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.char_indices().nth(max_chars).map_or(rest.len(), |(i, _)| i);
        let cut = if end == rest.len() {
            end
        } else {
            rest[..end].rfind('\n').map_or(end, |newline| newline + 1)
        };
        let chunk = rest[..cut].trim_end();
        if !chunk.is_empty() {
            chunks.push(chunk);
        }
        rest = rest[cut..].trim_start_matches('\n');
    }
    chunks
}

#[derive(Deserialize)]
struct Posted {
    ts: String,
}

#[derive(Deserialize)]
struct RepliesPage {
    #[serde(default)]
    messages: Vec<ThreadMessage>,
    #[serde(default)]
    response_metadata: Option<ResponseMetadata>,
}

#[derive(Deserialize)]
struct ResponseMetadata {
    #[serde(default)]
    next_cursor: Option<String>,
}

/// The fields of a thread message that Hookline reads.
#[derive(Deserialize)]
struct ThreadMessage {
    #[serde(default)]
    ts: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    event_payload: Option<Value>,
}

impl ThreadMessage {
    fn metadata_type(&self) -> Option<&str> {
        self.metadata.as_ref()?.event_type.as_deref()
    }

    /// The run marker, when this is a Hookline status message.
    fn marker(&self) -> Option<&str> {
        if self.metadata_type() != Some(STATUS_EVENT_TYPE) {
            return None;
        }
        self.metadata
            .as_ref()?
            .event_payload
            .as_ref()?
            .get("marker")?
            .as_str()
    }
}

/// How Slack's Web API speaks, as far as the outbound toolkit classifies it: a rate limit is a 429, or a 2xx
/// whose `error` is `ratelimited`, waiting `Retry-After` or else [`DEFAULT_RATE_LIMIT_WAIT`]; an error's
/// message is its `error` code. Other `ok: false` answers are left to [`envelope`].
struct SlackApi;

impl Dialect for SlackApi {
    const DEFAULT_RATE_LIMIT_WAIT: Option<Duration> = Some(DEFAULT_RATE_LIMIT_WAIT);
    const ERRORS_IN_SUCCESS: bool = true;

    fn read(&self, answer: &Answer) -> Signals {
        let code = string_field(&answer.body, &["error"]);
        Signals {
            rate_limited: answer.is_success()
                && code.as_deref().is_some_and(|c| RATE_LIMIT_ERRORS.contains(&c)),
            error_message: code.filter(|_| !answer.is_success()),
            ..Signals::default()
        }
    }
}

/// The single mapping from an HTTP answer to a value, a refusal (`ok: false`) or a classified failure.
fn classify(call: &Call<'_>, answer: &Answer) -> Result<Result<Value, Refusal>, PortError> {
    outbound::classify(&SlackApi, call, answer)?;
    envelope(call.what(), answer)
}

/// A 2xx answer's Web API envelope: its value when it says `ok: true`, else the refusal with its `error` code.
fn envelope(what: &str, answer: &Answer) -> Result<Result<Value, Refusal>, PortError> {
    #[derive(Deserialize)]
    struct Envelope {
        ok: Option<bool>,
        #[serde(default)]
        error: Option<String>,
    }
    let value: Value = serde_json::from_slice(&answer.body).map_err(|_| {
        PortError::permanent(
            what,
            format!("HTTP {} with a body that is not JSON", answer.status),
        )
    })?;
    let envelope: Envelope = serde_json::from_value(value.clone())
        .map_err(|_| PortError::permanent(what, "answer is not a Web API object"))?;
    if envelope.ok == Some(true) {
        return Ok(Ok(value));
    }
    let code: String = envelope
        .error
        .unwrap_or_else(|| "unknown_error".to_owned())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    Ok(Err(Refusal {
        code,
        retry_after: retry_after(&answer.headers),
    }))
}

/// An `ok: false` answer as a [`PortError`].
fn refused(method: &str, refusal: Refusal) -> PortError {
    let what = what(method);
    let code = refusal.code;
    if TRANSIENT_ERRORS.contains(&code.as_str()) {
        return PortError::Transient {
            what,
            detail: format!("error {code}"),
            retry_after: refusal.retry_after,
        };
    }
    if NOT_FOUND_ERRORS.contains(&code.as_str()) {
        return PortError::NotFound {
            what: format!("{what} message"),
        };
    }
    PortError::Permanent {
        what,
        status: None,
        detail: format!("error {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(
        what: &str,
        status: u16,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> Result<Result<Value, Refusal>, PortError> {
        let secs = retry_after.map(|wait| wait.as_secs().to_string());
        let headers: Vec<_> = secs.as_deref().map(|s| ("retry-after", s)).into_iter().collect();
        let answer = outbound::testing::answer(status, &headers, &String::from_utf8_lossy(body));
        super::classify(&Call::new(what), &answer)
    }

    #[test]
    fn classification() {
        outbound::testing::assert_common_classification(&SlackApi);
        let w = "Slack API (chat.postMessage)";
        assert!(matches!(
            classify(w, 404, None, b"").unwrap_err(),
            PortError::Permanent {
                status: Some(404),
                ..
            }
        ));
        assert!(classify(w, 200, None, b"<html>").is_err());
        let ok = classify(w, 200, None, br#"{"ok":true,"ts":"1.2"}"#).expect("http ok");
        assert!(ok.is_ok());

        let ratelimited = br#"{"ok":false,"error":"ratelimited"}"#;
        let err = classify(w, 200, Some(Duration::from_secs(3)), ratelimited).unwrap_err();
        assert!(matches!(err, PortError::Transient { retry_after: Some(d), .. } if d.as_secs() == 3));
        let refusal = |body: &[u8]| classify(w, 200, Some(Duration::from_secs(3)), body).expect("http ok");
        for code in [
            "invalid_auth",
            "channel_not_found",
            "not_in_channel",
            "token_revoked",
        ] {
            let body = format!(r#"{{"ok":false,"error":"{code}"}}"#);
            let Err(r) = refusal(body.as_bytes()) else {
                panic!("refused")
            };
            let err = refused("m", r);
            assert!(matches!(err, PortError::Permanent { .. }), "{code}: {err}");
            assert!(err.to_string().contains(code));
        }
        let Err(r) = refusal(br#"{"ok":false,"error":"message_not_found"}"#) else {
            panic!("refused")
        };
        assert!(matches!(refused("m", r), PortError::NotFound { .. }));
        let Err(r) = refusal(br#"{"ok":false,"error":"internal_error"}"#) else {
            panic!("refused")
        };
        assert!(refused("m", r).is_transient());
        // `ok` missing counts as not ok.
        assert!(refusal(br#"{"error":"weird"}"#).is_err());
    }

    #[test]
    fn a_live_status_has_its_text_and_the_stop_button() {
        let blocks = live_blocks("👀 I'm on it! <@U1> can <https://x.test|track>.", "run:0123abcd");
        let blocks = blocks.as_array().expect("array");
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0]["type"], "section");
        assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
        assert_eq!(
            blocks[0]["text"]["text"],
            "👀 I'm on it! <@U1> can <https://x.test|track>."
        );
        assert_eq!(blocks[1]["type"], "actions");
        let button = &blocks[1]["elements"][0];
        assert_eq!(button["type"], "button");
        assert_eq!(button["action_id"], STOP_ACTION_ID);
        assert_eq!(button["text"]["text"], "Stop");
        assert_eq!(button["style"], "danger");
        assert_eq!(button["value"], "0123abcd");
    }

    #[test]
    fn the_picker_offers_the_choices_to_the_person_who_asked_until_it_expires() {
        let source = SlackSource {
            tenant: "T1".into(),
            channel: "C1".into(),
            thread_ts: "1700000000.000100".into(),
            message_ts: "1700000000.000100".into(),
            user: "U0ALICE01".into(),
            bot_user_id: "U0BOT0001".into(),
            notice: SlackNotice::Thread,
            external: false,
        };
        let choices = [
            RepoRef {
                repository: "octo/api".into(),
                git_provider: "github".into(),
            },
            RepoRef {
                repository: format!("group/{}", "p".repeat(80)),
                git_provider: "gitlab".into(),
            },
        ];
        let blocks = choice_blocks(
            "<@U0ALICE01> Which repository?",
            &source,
            &choices,
            "github",
            1_700_000_900,
            Duration::from_secs(900),
        );
        assert_eq!(blocks[0]["text"]["text"], "<@U0ALICE01> Which repository?");
        assert_eq!(blocks[1]["type"], "actions");
        assert_eq!(blocks[1]["block_id"], "hookline_pick:1700000000.000100:U0ALICE01");
        let select = &blocks[1]["elements"][0];
        assert_eq!(select["type"], "static_select");
        assert_eq!(select["action_id"], PICK_ACTION_ID);
        let options = select["options"].as_array().expect("options");
        assert_eq!(options.len(), 2);
        assert_eq!(options[0]["text"]["text"], "octo/api");
        assert_eq!(options[0]["value"], "github:octo/api");
        let label = options[1]["text"]["text"].as_str().expect("label");
        assert_eq!(label.chars().count(), MAX_OPTION_TEXT_CHARS);
        assert!(
            label.starts_with("gitlab:group/") && label.ends_with('…'),
            "{label}"
        );
        assert_eq!(options[1]["value"], format!("gitlab:group/{}", "p".repeat(80)));
        assert_eq!(
            blocks[2]["elements"][0]["text"],
            "For <@U0ALICE01> only. Expires <!date^1700000900^{date_short_pretty} at {time}|in 15 minutes>."
        );
    }

    #[test]
    fn long_text_is_split_into_sections_at_line_breaks() {
        let line = format!("{}\n", "a".repeat(999));
        let text = line.repeat(7);
        let chunks = section_chunks(&text, MAX_SECTION_CHARS);
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|c| c.chars().count() <= MAX_SECTION_CHARS));
        assert_eq!(chunks[0], line.repeat(3).trim_end());
        assert_eq!(chunks.join("\n"), text.trim_end(), "nothing is lost");
        // A line longer than a section is cut inside it; multi-byte characters stay whole.
        let wide = "é".repeat(MAX_SECTION_CHARS + 10);
        let chunks = section_chunks(&wide, MAX_SECTION_CHARS);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].chars().count(), MAX_SECTION_CHARS);
        assert_eq!(chunks[1].chars().count(), 10);
        assert!(section_chunks("", MAX_SECTION_CHARS).is_empty());
        let blocks = live_blocks(&"x".repeat(39_000), "run:ab");
        let blocks = blocks.as_array().expect("array");
        assert_eq!(blocks.len(), 14, "13 sections and the button");
    }
}
