//! [`GithubModule`]: GitHub's webhook intake (verify → prefilter → trim) and trigger decisions.

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    event::{GithubEvent, PayloadError, RawEvent},
    GithubConfig, GithubSource, GithubTarget,
};
use crate::{
    domain::{Actor, Envelope, PromptParts, Provider, SourceRef, Trigger, ENVELOPE_VERSION},
    error::{ProcessError, WebhookError},
    http::{HttpReply, HttpRequest},
    ports::{Secrets, SourceClient},
    provider::{verification_secret, Decision, Intake, ProviderModule},
    text, verify,
};

/// Delivery ids are GUIDs; anything long or odd is refused before it reaches a key.
const MAX_DELIVERY_ID_LEN: usize = 128;

/// The GitHub provider module.
pub struct GithubModule {
    config: GithubConfig,
    secrets: Arc<dyn Secrets>,
    client: Arc<dyn SourceClient>,
    link_help: String,
    own_login: String,
}

impl GithubModule {
    /// `link_help` is the Markdown appended to the notice for people whose account is not linked yet.
    pub fn new(
        config: GithubConfig,
        secrets: Arc<dyn Secrets>,
        client: Arc<dyn SourceClient>,
        link_help: String,
    ) -> Self {
        let own_login = format!("{}[bot]", config.app_slug);
        Self {
            config,
            secrets,
            client,
            link_help,
            own_login,
        }
    }

    async fn verify(&self, request: &HttpRequest<'_>) -> Result<(), WebhookError> {
        let secret = verification_secret(
            self.secrets.as_ref(),
            &self.config.webhook_secret_name,
            "github webhook secret",
        )
        .await?;
        verify::prefixed_sha256(
            secret.expose().as_bytes(),
            request.body,
            request.header("x-hub-signature-256"),
        )
        .map_err(|e| WebhookError::Unauthorized(e.reason()))
    }

    fn decide_event(&self, envelope: &Envelope, event: GithubEvent) -> Decision {
        if event.sender.is_bot() || event.sender.login.eq_ignore_ascii_case(&self.own_login) {
            return Decision::Ignore("sender is a bot");
        }
        let Some(number) = event.number() else {
            return Decision::Ignore("no issue or pull request");
        };
        let thread_prefix = super::event::thread_key(&event.repository, number);
        let (target, request, run_suffix) = match (envelope.event.as_str(), event.action.as_str()) {
            ("issues", "labeled") => {
                let label_matches = event
                    .label
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case(&self.config.label));
                if !label_matches {
                    return Decision::Ignore("another label");
                }
                if event.issue.as_ref().is_some_and(|i| i.is_pull_request) {
                    return Decision::Ignore("label on a pull request");
                }
                (
                    GithubTarget::Issue,
                    String::new(),
                    format!("label:{}", envelope.delivery_id),
                )
            }
            ("issue_comment", "created") | ("pull_request_review_comment", "created") => {
                let Some(comment) = event.comment.as_ref() else {
                    return Decision::Ignore("no comment");
                };
                if let Some(reason) =
                    self.own_or_bot(&comment.user, comment.via_app_slug.as_deref(), &comment.body)
                {
                    return Decision::Ignore(reason);
                }
                if !text::mentions(&comment.body, &self.config.mention) {
                    return Decision::Ignore("no exact mention");
                }
                let target = if envelope.event == "issue_comment" {
                    GithubTarget::IssueComment {
                        comment_id: comment.id,
                    }
                } else {
                    GithubTarget::ReviewComment {
                        comment_id: comment.id,
                        thread_root_id: comment.in_reply_to_id.unwrap_or(comment.id),
                    }
                };
                (target, comment.body.clone(), format!("comment:{}", comment.id))
            }
            ("pull_request_review", "submitted") => {
                let Some(review) = event.review.as_ref() else {
                    return Decision::Ignore("no review");
                };
                if let Some(reason) = self.own_or_bot(&review.user, None, &review.body) {
                    return Decision::Ignore(reason);
                }
                if !text::mentions(&review.body, &self.config.mention) {
                    return Decision::Ignore("no exact mention");
                }
                (
                    GithubTarget::Review { review_id: review.id },
                    review.body.clone(),
                    format!("review:{}", review.id),
                )
            }
            ("issues", _)
            | ("issue_comment", _)
            | ("pull_request_review_comment", _)
            | ("pull_request_review", _) => {
                return Decision::Ignore("action never triggers (edit, delete, …)")
            }
            _ => return Decision::Ignore("event never triggers"),
        };

        let is_pull_request =
            event.pull_request.is_some() || event.issue.as_ref().is_some_and(|i| i.is_pull_request);
        let (subject_title, subject_body, html_url) = match (&event.pull_request, &event.issue) {
            (Some(pr), _) => (pr.title.clone(), pr.body.clone(), pr.html_url.clone()),
            (None, Some(issue)) => (issue.title.clone(), issue.body.clone(), issue.html_url.clone()),
            (None, None) => (String::new(), String::new(), String::new()),
        };
        let branch = event
            .pull_request
            .as_ref()
            .map(|p| p.head_ref.clone())
            .filter(|b| !b.is_empty());
        let kind = if is_pull_request { "pull request" } else { "issue" };
        let location = event.comment.as_ref().and_then(|c| {
            c.path.as_ref().map(|path| {
                let line = c.line.map(|l| format!(":{l}")).unwrap_or_default();
                match &c.diff_hunk {
                    Some(hunk) if !hunk.is_empty() => format!("{path}{line}\n{hunk}"),
                    _ => format!("{path}{line}"),
                }
            })
        });
        let instructions = instructions_for(&target, is_pull_request, number, branch.as_deref());
        let title_prefix = if is_pull_request {
            "GitHub PR"
        } else {
            "GitHub Issue"
        };
        let trigger = Trigger {
            provider: Provider::Github,
            tenant: self.config.tenant.clone(),
            thread_key: thread_prefix.clone(),
            run_key: format!("{thread_prefix}:{run_suffix}"),
            actor: Actor {
                id: event.sender.id.to_string(),
                login: event.sender.login.clone(),
            },
            source: SourceRef::Github(GithubSource {
                installation_id: event.installation_id,
                repository: event.repository.clone(),
                number,
                is_pull_request,
                target,
            }),
            repository: Some(event.repository.clone()),
            branch,
            git_provider: "github".to_owned(),
            title: format!("{title_prefix} #{number}: {}", one_line(&subject_title)),
            prompt: PromptParts {
                subject: format!("GitHub {kind} {}#{number} ({html_url})", event.repository),
                subject_title,
                subject_body,
                request,
                location,
                instructions,
            },
            occurred_at: envelope.received_at,
        };
        Decision::Run(Box::new(trigger))
    }

    /// Comments by bots, by this App, or carrying Hookline's own marker never trigger (no loops).
    fn own_or_bot(
        &self,
        author: &super::event::GithubUser,
        via_app: Option<&str>,
        body: &str,
    ) -> Option<&'static str> {
        if author.is_bot() || author.login.eq_ignore_ascii_case(&self.own_login) {
            return Some("author is a bot");
        }
        if via_app.is_some_and(|slug| slug.eq_ignore_ascii_case(&self.config.app_slug)) {
            return Some("written by this app");
        }
        if body.contains(crate::outbound::MARKER_PREFIX) {
            return Some("hookline's own comment");
        }
        None
    }
}

fn instructions_for(
    target: &GithubTarget,
    is_pull_request: bool,
    number: u64,
    branch: Option<&str>,
) -> String {
    if is_pull_request {
        let branch = branch
            .map(|b| format!("`{b}`"))
            .unwrap_or_else(|| "the pull request's head branch".into());
        return format!(
            "Do what the request asks about this pull request. For code changes, commit and push to {branch}. \
             If the request only asks a question, answer it in your final message without changing code. \
             Do not post comments on the pull request yourself: your final message is posted for you."
        );
    }
    match target {
        GithubTarget::Issue => format!(
            "Resolve issue #{number}. Work on a new branch whose name starts with `openhands/`, add or update \
             tests where it makes sense, push the branch and open a pull request whose description says \
             `Fixes #{number}`. Do not post comments on the issue yourself: your final message is posted for you."
        ),
        _ => format!(
            "Do what the request asks about issue #{number}. For code changes, work on a new branch whose name \
             starts with `openhands/`, push it and open a pull request that says `Fixes #{number}`. If the request \
             only asks a question, answer it in your final message. Do not post comments on the issue yourself."
        ),
    }
}

fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    line.chars().take(200).collect()
}

#[async_trait]
impl ProviderModule for GithubModule {
    fn provider(&self) -> Provider {
        Provider::Github
    }

    async fn intake(&self, request: &HttpRequest<'_>, now: u64) -> Result<Intake, WebhookError> {
        self.verify(request).await?;
        let event = request
            .header("x-github-event")
            .ok_or(WebhookError::Malformed("missing X-GitHub-Event"))?;
        let delivery_id = request
            .header("x-github-delivery")
            .ok_or(WebhookError::Malformed("missing X-GitHub-Delivery"))?;
        if delivery_id.is_empty()
            || delivery_id.len() > MAX_DELIVERY_ID_LEN
            || !delivery_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(WebhookError::Malformed("invalid X-GitHub-Delivery"));
        }
        if request
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
        {
            return Err(WebhookError::Malformed(
                "expected a JSON payload (content type application/json)",
            ));
        }
        let may_trigger = matches!(
            event,
            "issues" | "issue_comment" | "pull_request_review_comment" | "pull_request_review"
        );
        if event == "ping" {
            return Ok(Intake::Reply(HttpReply::text(200, "pong")));
        }
        if !may_trigger {
            return Ok(Intake::Ignore("event never triggers"));
        }
        let raw = RawEvent::parse(request.body).map_err(|_| WebhookError::Malformed("malformed JSON"))?;
        let relevant = match (event, raw.action().as_ref()) {
            ("issues", "labeled") => raw
                .label_name()
                .is_some_and(|l| l.eq_ignore_ascii_case(&self.config.label)),
            ("issue_comment", "created")
            | ("pull_request_review_comment", "created")
            | ("pull_request_review", "submitted") => raw
                .mention_text()
                .is_some_and(|body| text::contains_ignore_ascii_case(&body, &self.config.mention)),
            _ => false,
        };
        if !relevant {
            return Ok(Intake::Ignore("cannot trigger"));
        }
        let trimmed = raw.into_event().map_err(|e| match e {
            PayloadError::Json => WebhookError::Malformed("malformed JSON"),
            PayloadError::Missing(_) => WebhookError::Malformed("unexpected payload shape"),
        })?;
        let payload = serde_json::value::to_raw_value(&trimmed)
            .map_err(|_| WebhookError::Malformed("unexpected payload shape"))?;
        Ok(Intake::Accept(Envelope {
            version: ENVELOPE_VERSION,
            provider: Provider::Github,
            tenant: self.config.tenant.clone(),
            delivery_id: delivery_id.to_owned(),
            event: event.to_owned(),
            group: trimmed.thread_key(),
            received_at: now,
            payload,
        }))
    }

    fn decide(&self, envelope: &Envelope) -> Result<Decision, ProcessError> {
        let event: GithubEvent = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("github payload does not parse: {e}")))?;
        Ok(self.decide_event(envelope, event))
    }

    fn source(&self) -> &dyn SourceClient {
        self.client.as_ref()
    }

    fn unlinked_notice(&self, trigger: &Trigger) -> String {
        format!(
            "@{} I can't start OpenHands for you yet: your GitHub account is not linked to an OpenHands \
             identity. {}",
            trigger.actor.login, self.link_help
        )
    }
}
