//! The pure trigger decision for Linear: who may trigger (people only, never Hookline's service account or an
//! app), what triggers (an exact mention in a new comment, the configured label newly added), and which
//! repository the run works on.

use super::{
    event::{LinearEvent, LinearEventKind, LinearLabel},
    LinearConfig, LinearSource, LinearTenant,
};
use crate::{
    domain::{Actor, Envelope, Intent, PromptParts, Provider, SourceRef, Trigger},
    provider::Decision,
    repo_hint::{self, named_as, Choice, Naming, RepoRef, Step},
    text,
};

/// Decide whether `event` (queued for `tenant`) starts a run.
pub(crate) fn decide(
    config: &LinearConfig,
    tenant: &LinearTenant,
    envelope: &Envelope,
    event: LinearEvent,
) -> Decision {
    if event.author.is_bot() {
        return Decision::Ignore("author is an app or integration");
    }
    if event.author.id.is_empty() {
        return Decision::Ignore("no author");
    }
    if event.author.id == tenant.bot_user_id {
        return Decision::Ignore("hookline's own service account");
    }
    if event.issue.id.is_empty() {
        return Decision::Ignore("no issue");
    }
    let thread_key = event.thread_key(&tenant.name);
    let description = event.issue.description.as_deref().unwrap_or_default();
    let asked_when_created =
        event.kind == LinearEventKind::Created && mentions_handle(description, &config.mention);
    let (request, run_suffix) = match event.kind {
        LinearEventKind::Comment => {
            let Some(comment) = &event.comment else {
                return Decision::Ignore("no comment");
            };
            if comment.edited {
                return Decision::Ignore("edited comment");
            }
            if comment.body.contains(crate::outbound::MARKER_PREFIX) {
                return Decision::Ignore("hookline's own comment");
            }
            if !mentions_handle(&comment.body, &config.mention) {
                return Decision::Ignore("no exact mention");
            }
            (comment.body.clone(), format!("comment:{}", comment.id))
        }
        LinearEventKind::LabelsAdded => {
            let Some(label) = event
                .added_labels
                .iter()
                .find(|label| is_trigger_label(config, label))
            else {
                return Decision::Ignore("another label");
            };
            // `updatedAt` is the same on every redelivery of this change and differs for a later re-label; it is
            // signed body, where the delivery id is not.
            if event.updated_at.is_empty() {
                return Decision::Ignore("no updatedAt to key the run on");
            }
            (String::new(), format!("label:{}:{}", label.id, event.updated_at))
        }
        LinearEventKind::Created => {
            let labelled = event
                .added_labels
                .iter()
                .any(|label| is_trigger_label(config, label));
            if !labelled && !asked_when_created {
                return Decision::Ignore("no exact mention or trigger label in the new issue");
            }
            // The description is the request, quoted once; an issue is created once.
            (String::new(), "created".to_owned())
        }
        // Handing the issue to the service account asks it to do the issue; keyed on the signed `updatedAt`.
        LinearEventKind::Assigned if !event.updated_at.is_empty() => {
            (String::new(), format!("assigned:{}", event.updated_at))
        }
        LinearEventKind::Assigned => return Decision::Ignore("no updatedAt to key the run on"),
    };
    let run_key = format!("{thread_key}:{run_suffix}");
    let comment = event.comment.as_ref();
    let source = SourceRef::Linear(LinearSource {
        tenant: tenant.name.clone(),
        issue_id: event.issue.id.clone(),
        issue_identifier: event.issue.identifier.clone(),
        comment_id: comment.map(|c| c.id.clone()),
        thread_root_id: comment.map(|c| c.parent_id.clone().unwrap_or_else(|| c.id.clone())),
    });
    let key = display_key(&event);
    let intent = Intent::of_request(&request);
    let choice = resolve_repository(config, &tenant.name, &event);
    // A stop names the thread's run, not a repository.
    if choice.is_none() && intent == Intent::Work {
        let team_hint = if event.issue.team_key.is_empty() {
            String::new()
        } else {
            format!(
                ", or ask a Hookline admin to map team `{}` to a repository",
                event.issue.team_key
            )
        };
        return Decision::Notice {
            source: Box::new(source),
            key: run_key,
            text: format!(
                "I need to know which repository to work on for {key}. Mention me again and name it \
                 (`owner/repo` or its URL){team_hint}."
            ),
        };
    }
    let repository = choice.as_ref().map(|c| c.repository.clone());
    let instructions = instructions_for(event.kind, &key, repository.as_deref().unwrap_or_default());
    let trigger = Trigger {
        provider: Provider::Linear,
        tenant: tenant.name.clone(),
        thread_key,
        run_key,
        actor: Actor {
            id: event.author.id.clone(),
            login: if event.author.name.is_empty() {
                event.author.id.clone()
            } else {
                event.author.name.clone()
            },
        },
        source,
        repository_named: choice.as_ref().is_some_and(|choice| {
            choice.is_beyond(
                config
                    .team_repository(&tenant.name, &event.issue.team_key)
                    .map(|entry| &entry.repo),
            )
        }),
        repository,
        branch: None,
        git_provider: choice.map(|c| c.git_provider).unwrap_or_default(),
        title: format!("Linear Issue {key}: {}", text::one_line(&event.issue.title)),
        prompt: PromptParts {
            subject: if event.issue.url.is_empty() {
                format!("Linear issue {key}")
            } else {
                format!("Linear issue {key} ({})", event.issue.url)
            },
            subject_title: event.issue.title.clone(),
            subject_body: event.issue.description.clone().unwrap_or_default(),
            request,
            request_in_body: asked_when_created,
            location: None,
            request_mention_form: None,
            instructions,
        },
        occurred_at: envelope.received_at,
        intent,
        stop_only: None,
    };
    Decision::Run(Box::new(trigger))
}

/// Whether `label` is the configured trigger label: by its name (any case), or by the configured label id.
fn is_trigger_label(config: &LinearConfig, label: &LinearLabel) -> bool {
    (!label.name.is_empty() && label.name.eq_ignore_ascii_case(&config.label))
        || config.label_id.as_deref() == Some(label.id.as_str())
}

/// `ENG-123`, or the issue id when the payload carried no identifier.
fn display_key(event: &LinearEvent) -> String {
    if event.issue.identifier.is_empty() {
        event.issue.id.clone()
    } else {
        event.issue.identifier.clone()
    }
}

fn instructions_for(kind: LinearEventKind, key: &str, repository: &str) -> String {
    let branch = format!(
        "work on a new branch whose name starts with `openhands/` and contains `{}` (so Linear links it), \
         push it and open a pull request in `{repository}` whose title starts with `{key}`",
        key.to_ascii_lowercase()
    );
    match kind {
        LinearEventKind::LabelsAdded | LinearEventKind::Created | LinearEventKind::Assigned => format!(
            "Resolve Linear issue {key} in the repository `{repository}`: {branch}. Add or update tests where it \
             makes sense. Do not post comments on the Linear issue yourself: your final message is posted for \
             you."
        ),
        LinearEventKind::Comment => format!(
            "Do what the request asks about Linear issue {key}. For code changes, {branch}. If the request only \
             asks a question, answer it in your final message without changing code. Do not post comments on \
             the Linear issue yourself."
        ),
    }
}

/// Exact mention of `handle` (see [`text::mentions`]: not in quotes or code, not part of a longer name), also
/// when Linear wrote the mention as a profile link (`https://linear.app/<org>/profiles/<name>`).
pub(crate) fn mentions_handle(body: &str, handle: &str) -> bool {
    text::mentions(body, handle)
        || profile_links_as_mentions(body).is_some_and(|rewritten| text::mentions(&rewritten, handle))
}

/// Rewrite Linear profile links to `@name`, so a mention Linear stored as a link is matched like a typed one.
fn profile_links_as_mentions(body: &str) -> Option<String> {
    const PROFILES: &str = "/profiles/";
    if !body.contains(PROFILES) {
        return None;
    }
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find(PROFILES) {
        let head = &rest[..at];
        let start = head
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace() || matches!(c, '(' | '<' | '[' | '"' | '\''))
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(0);
        let url = &head[start..];
        let is_linear = ["https://linear.app/", "http://linear.app/", "linear.app/"]
            .iter()
            .any(|prefix| url.starts_with(prefix));
        if is_linear {
            out.push_str(&head[..start]);
            out.push('@');
        } else {
            out.push_str(head);
            out.push_str(PROFILES);
        }
        rest = &rest[at + PROFILES.len()..];
    }
    out.push_str(rest);
    Some(out)
}

/// The repository a run works on, in this order:
/// 1. a repository URL (GitHub, GitLab, Bitbucket) in the comment, the title or the description (the first);
/// 2. the one repository named otherwise (`owner/repo`, `repo: …`) in the triggering comment;
/// 3. the team's configured repository;
/// 4. the one repository named otherwise in the title or description.
///
/// A name outside a URL counts only when it is the single candidate in its texts.
pub(crate) fn resolve_repository(
    config: &LinearConfig,
    tenant: &str,
    event: &LinearEvent,
) -> Option<RepoRef> {
    const URL: &[Naming] = &[Naming::Url];
    const OTHERWISE: &[Naming] = &[Naming::Labelled, Naming::Bare];
    let provider = &config.git_provider;
    let named = |text: &str| repo_hint::named_in(text, provider);
    let comment = named(event.comment.as_ref().map(|c| c.body.as_str()).unwrap_or(""));
    let issue = [
        named(&event.issue.title),
        named(event.issue.description.as_deref().unwrap_or("")),
    ]
    .concat();
    let team = config.team_repository(tenant, &event.issue.team_key);
    let choice = repo_hint::choose([
        Step::first(named_as(&comment, URL).chain(named_as(&issue, URL))),
        Step::only_one(named_as(&comment, OTHERWISE)),
        Step::configured(team.map(|entry| &entry.repo)),
        Step::only_one(named_as(&issue, OTHERWISE)),
    ]);
    match choice {
        Choice::Found(repo) => Some(repo),
        Choice::Missing | Choice::Ambiguous(_) => None,
    }
}
