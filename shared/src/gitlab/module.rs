//! [`GitlabModule`]: GitLab's webhook intake (tenant from the URL → verify → prefilter → trim) and trigger
//! decisions.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::value::RawValue;

use super::{
    config::GitlabTenant,
    event::{thread_key, GitlabEvent, GitlabUser, HookKind, PayloadError, RawEvent},
    verify::{self, AuthError, SignedHeaders},
    GitlabConfig, GitlabSource, GitlabTarget, Noteable,
};
use crate::{
    domain::{Actor, Envelope, PromptParts, Provider, SourceRef, Trigger, ENVELOPE_VERSION},
    error::{PortError, ProcessError, WebhookError},
    http::HttpRequest,
    outbound::MARKER_PREFIX,
    ports::{Secrets, SourceClient},
    provider::{route_tenant, verification_secret, Decision, Intake, ProviderModule},
    secret::SecretString,
    text,
};

/// Delivery ids are UUIDs (`Idempotency-Key`, `X-Gitlab-Event-UUID`) or `msg_…` (`webhook-id`); anything long
/// or odd is refused before it reaches a key.
const MAX_DELIVERY_ID_LEN: usize = 128;
/// GitLab's internal bot users (they have no bot flag in webhook payloads).
const INTERNAL_BOTS: &[&str] = &[
    "ghost",
    "alert-bot",
    "support-bot",
    "visual-review-bot",
    "automation-bot",
    "security-bot",
    "security-policy-bot",
    "gitlab-admin-bot",
    "duo-code-review-bot",
    "gitlab-llm-bot",
];

/// The GitLab provider module: every configured instance (tenant) behind one route.
pub struct GitlabModule {
    config: GitlabConfig,
    secrets: Arc<dyn Secrets>,
    client: Arc<dyn SourceClient>,
    link_help: String,
}

impl GitlabModule {
    /// `link_help` is the Markdown appended to the notice for people whose account is not linked yet.
    pub fn new(
        config: GitlabConfig,
        secrets: Arc<dyn Secrets>,
        client: Arc<dyn SourceClient>,
        link_help: String,
    ) -> Self {
        Self {
            config,
            secrets,
            client,
            link_help,
        }
    }

    /// The tenant named by the URL: `…/webhooks/gitlab/<tenant>`. A bare `…/webhooks/gitlab` is accepted only
    /// when exactly one tenant is configured (so a single-instance deployment needs no tenant route).
    fn tenant_for(&self, path: &str) -> Result<&GitlabTenant, WebhookError> {
        route_tenant(path, "gitlab", &self.config.tenants, |name| {
            self.config.tenant(name)
        })
    }

    async fn secret(&self, name: &str, what: &'static str) -> Result<SecretString, WebhookError> {
        verification_secret(self.secrets.as_ref(), name, what).await
    }

    /// Every check the tenant enables must pass. Returns whether a signature was verified (then the signed
    /// `webhook-id` is the delivery id).
    async fn verify(
        &self,
        tenant: &GitlabTenant,
        request: &HttpRequest<'_>,
        now: u64,
    ) -> Result<bool, WebhookError> {
        if tenant.verify.token {
            let expected = self
                .secret(&tenant.webhook_token_secret, "gitlab webhook token")
                .await?;
            verify::token(expected.expose(), request.header("x-gitlab-token")).map_err(rejected)?;
        }
        if tenant.verify.signature {
            let secret = self
                .secret(&tenant.signing_secret_secret, "gitlab signing secret")
                .await?;
            let key = verify::signing_key(secret.expose()).map_err(|err| {
                WebhookError::Unavailable(PortError::permanent("gitlab signing secret", err))
            })?;
            let headers = SignedHeaders {
                id: request.header("webhook-id"),
                timestamp: request.header("webhook-timestamp"),
                signature: request.header("webhook-signature"),
            };
            verify::signature(&key, headers, request.body, now).map_err(rejected)?;
        }
        Ok(tenant.verify.signature)
    }

    fn decide_event(&self, tenant: &GitlabTenant, envelope: &Envelope, event: GitlabEvent) -> Decision {
        if let Some(reason) = own_or_bot(tenant, &event.user) {
            return Decision::Ignore(reason);
        }
        let item = &event.item;
        let thread = thread_key(&tenant.name, event.project.id, item.noteable, item.iid);
        let (target, request, run_suffix, internal) = match event.hook {
            HookKind::Issue | HookKind::MergeRequest => {
                if !matches!(event.action.as_str(), "open" | "reopen" | "update") {
                    return Decision::Ignore("action never triggers (close, merge, approval, …)");
                }
                let Some(label) = event
                    .labels_added
                    .iter()
                    .find(|l| l.eq_ignore_ascii_case(&tenant.label))
                else {
                    return Decision::Ignore("the label was not newly added");
                };
                // `updated_at` is the same for every hook reporting this change (project and group hooks).
                let when = if item.updated_at.is_empty() {
                    envelope.delivery_id.as_str()
                } else {
                    item.updated_at.as_str()
                };
                let suffix = format!("label:{}:{when}", label.to_ascii_lowercase());
                (GitlabTarget::Item, String::new(), suffix, false)
            }
            HookKind::Note => {
                let Some(note) = event.note.as_ref() else {
                    return Decision::Ignore("no note");
                };
                if note.system {
                    return Decision::Ignore("system note");
                }
                if !(event.action.is_empty() || event.action == "create") {
                    return Decision::Ignore("action never triggers (edit, delete, …)");
                }
                if note.body.contains(MARKER_PREFIX) {
                    return Decision::Ignore("hookline's own note");
                }
                if !text::mentions(&note.body, &tenant.mention) {
                    return Decision::Ignore("no exact mention");
                }
                let target = match note.note_type.as_str() {
                    "DiffNote" | "DiscussionNote" if valid_discussion_id(&note.discussion_id) => {
                        GitlabTarget::Discussion {
                            note_id: note.id,
                            discussion_id: note.discussion_id.clone(),
                            inline: note.note_type == "DiffNote",
                        }
                    }
                    _ => GitlabTarget::Note { note_id: note.id },
                };
                (
                    target,
                    note.body.clone(),
                    format!("note:{}", note.id),
                    note.internal,
                )
            }
        };

        let is_mr = item.noteable == Noteable::MergeRequest;
        let branch = item.source_branch.clone().filter(|_| is_mr);
        let repository = item
            .fork_path
            .clone()
            .filter(|_| is_mr)
            .unwrap_or_else(|| event.project.path.clone());
        let reference = format!("{}{}{}", event.project.path, item.noteable.sigil(), item.iid);
        let (kind, title_prefix) = if is_mr {
            ("merge request", format!("GitLab MR !{}", item.iid))
        } else {
            ("issue", format!("GitLab Issue #{}", item.iid))
        };
        let location = event.note.as_ref().and_then(|n| n.location.clone());
        let instructions = instructions_for(item.noteable, &target, item.iid, branch.as_deref());
        let trigger = Trigger {
            provider: Provider::Gitlab,
            tenant: tenant.name.clone(),
            run_key: format!("{thread}:{run_suffix}"),
            thread_key: thread,
            actor: Actor {
                id: event.user.id.to_string(),
                login: event.user.username.clone(),
            },
            source: SourceRef::Gitlab(GitlabSource {
                tenant: tenant.name.clone(),
                project_id: event.project.id,
                project_path: event.project.path.clone(),
                noteable: item.noteable,
                iid: item.iid,
                web_url: item.url.clone(),
                target,
                actor_id: event.user.id,
                internal,
            }),
            repository: Some(repository),
            branch,
            git_provider: "gitlab".to_owned(),
            title: format!("{title_prefix}: {}", one_line(&item.title)),
            prompt: PromptParts {
                subject: format!("GitLab {kind} {reference} ({})", item.url),
                subject_title: item.title.clone(),
                subject_body: item.description.clone(),
                request,
                location,
                instructions,
            },
            occurred_at: envelope.received_at,
        };
        Decision::Run(Box::new(trigger))
    }
}

/// Events caused by Hookline's own account, by GitLab's bot users, or by access-token / service-account bots
/// never trigger (no loops, no bot-driven runs).
fn own_or_bot(tenant: &GitlabTenant, user: &GitlabUser) -> Option<&'static str> {
    if user.username.eq_ignore_ascii_case(&tenant.bot_username) || tenant.bot_user_id == Some(user.id) {
        return Some("hookline's own account");
    }
    if is_bot_username(&user.username) {
        return Some("author is a bot");
    }
    None
}

/// Project / group access-token bots (`project_<id>_bot…`, `group_<id>_bot…`), service accounts
/// (`service_account_…`) and GitLab's internal bot users.
pub(crate) fn is_bot_username(username: &str) -> bool {
    let lower = username.to_ascii_lowercase();
    let token_bot = ["project_", "group_"].iter().any(|prefix| {
        lower.strip_prefix(prefix).is_some_and(|rest| {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            digits > 0 && rest[digits..].starts_with("_bot")
        })
    });
    token_bot || lower.starts_with("service_account_") || INTERNAL_BOTS.contains(&lower.as_str())
}

/// Discussion ids are hex SHA-1s; anything else is not put into a URL.
pub(crate) fn valid_discussion_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn rejected(err: AuthError) -> WebhookError {
    match err {
        AuthError::Stale => WebhookError::Stale,
        other => WebhookError::Unauthorized(other.reason()),
    }
}

/// The delivery id: the signed `webhook-id` when a signature was verified, else `Idempotency-Key` (stable
/// across retries and resends), else `X-Gitlab-Event-UUID`.
fn delivery_id<'r>(request: &'r HttpRequest<'_>, signed: bool) -> Result<&'r str, WebhookError> {
    let id = if signed {
        request.header("webhook-id")
    } else {
        request
            .header("idempotency-key")
            .or_else(|| request.header("x-gitlab-event-uuid"))
    }
    .map(str::trim)
    .ok_or(WebhookError::Malformed(
        "missing Idempotency-Key and X-Gitlab-Event-UUID",
    ))?;
    let valid = !id.is_empty()
        && id.len() <= MAX_DELIVERY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'));
    if valid {
        Ok(id)
    } else {
        Err(WebhookError::Malformed("invalid delivery id"))
    }
}

fn instructions_for(noteable: Noteable, target: &GitlabTarget, iid: u64, branch: Option<&str>) -> String {
    if noteable == Noteable::MergeRequest {
        let branch = branch
            .map(|b| format!("`{b}`"))
            .unwrap_or_else(|| "the merge request's source branch".into());
        return format!(
            "Do what the request asks about this merge request. For code changes, commit and push to {branch}. \
             If the request only asks a question, answer it in your final message without changing code. \
             Do not post notes on the merge request yourself: your final message is posted for you."
        );
    }
    match target {
        GitlabTarget::Item => format!(
            "Resolve issue #{iid}. Work on a new branch whose name starts with `openhands/`, add or update tests \
             where it makes sense, push the branch and open a merge request whose description says \
             `Closes #{iid}`. Do not post notes on the issue yourself: your final message is posted for you."
        ),
        _ => format!(
            "Do what the request asks about issue #{iid}. For code changes, work on a new branch whose name starts \
             with `openhands/`, push it and open a merge request that says `Closes #{iid}`. If the request only \
             asks a question, answer it in your final message. Do not post notes on the issue yourself."
        ),
    }
}

fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    line.chars().take(200).collect()
}

#[async_trait]
impl ProviderModule for GitlabModule {
    fn provider(&self) -> Provider {
        Provider::Gitlab
    }

    async fn intake(&self, request: &HttpRequest<'_>, now: u64) -> Result<Intake, WebhookError> {
        let tenant = self.tenant_for(request.path)?;
        let signed = self.verify(tenant, request, now).await?;
        let hook_header = request
            .header("x-gitlab-event")
            .ok_or(WebhookError::Malformed("missing X-Gitlab-Event"))?;
        let delivery_id = delivery_id(request, signed)?;
        let Some(hook) = HookKind::from_header(hook_header) else {
            return Ok(Intake::Ignore("event never triggers"));
        };
        let raw = RawEvent::parse(request.body).map_err(|_| WebhookError::Malformed("malformed JSON"))?;
        if !raw.matches(hook) {
            return Err(WebhookError::Malformed(
                "object_kind does not match X-Gitlab-Event",
            ));
        }
        let relevant = match hook {
            HookKind::Issue | HookKind::MergeRequest => raw
                .labels_added()
                .iter()
                .any(|l| l.eq_ignore_ascii_case(&tenant.label)),
            HookKind::Note => raw
                .new_note_text()
                .is_some_and(|body| text::contains_ignore_ascii_case(body, &tenant.mention)),
        };
        if !relevant {
            return Ok(Intake::Ignore("cannot trigger"));
        }
        let trimmed = raw.into_event(hook).map_err(|e| match e {
            PayloadError::Json => WebhookError::Malformed("malformed JSON"),
            PayloadError::Missing(_) => WebhookError::Malformed("unexpected payload shape"),
        })?;
        let payload = serde_json::to_string(&trimmed)
            .ok()
            .and_then(|s| RawValue::from_string(s).ok())
            .ok_or(WebhookError::Malformed("unexpected payload shape"))?;
        Ok(Intake::Accept(Envelope {
            version: ENVELOPE_VERSION,
            provider: Provider::Gitlab,
            tenant: tenant.name.clone(),
            delivery_id: delivery_id.to_owned(),
            event: hook_header.trim().to_owned(),
            group: trimmed.thread_key(&tenant.name),
            received_at: now,
            payload,
        }))
    }

    fn decide(&self, envelope: &Envelope) -> Result<Decision, ProcessError> {
        let Some(tenant) = self.config.tenant(&envelope.tenant) else {
            return Ok(Decision::Ignore("tenant is no longer configured"));
        };
        let event: GitlabEvent = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("gitlab payload does not parse: {e}")))?;
        Ok(self.decide_event(tenant, envelope, event))
    }

    fn source(&self) -> &dyn SourceClient {
        self.client.as_ref()
    }

    fn unlinked_notice(&self, trigger: &Trigger) -> String {
        format!(
            "@{} I can't start OpenHands for you yet: your GitLab account on {} is not linked to an OpenHands \
             identity. {}",
            trigger.actor.login, trigger.tenant, self.link_help
        )
    }
}
