//! GitLab's trigger decisions: pure functions from a trimmed event to a [`Decision`].

use super::{
    config::GitlabTenant,
    event::{thread_key, valid_discussion_id, GitlabEvent, GitlabUser, HookKind, ReadBack},
    GitlabSource, GitlabTarget, Noteable,
};
use crate::{
    domain::{Actor, Envelope, Intent, PromptParts, Provider, SourceRef, Trigger},
    outbound::{parse_timestamp, MARKER_PREFIX},
    provider::Decision,
    text,
};

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

/// Longest time between adding the label (or assigning the bot) and the hook's arrival that still starts a run.
const MAX_LABEL_AGE_SECS: u64 = 3600;
/// Most seconds between the hook's `updated_at` and the time of GitLab's system note for the same assignment.
const ASSIGNMENT_SKEW_SECS: u64 = 60;

/// What a hook asks for, by the hook's own account (before GitLab confirms it).
struct Asked {
    target: GitlabTarget,
    /// The note's text; empty for a label.
    request: String,
    /// The label newly added, for a label trigger.
    label: Option<String>,
    /// A new item whose description mentions the handle.
    created: bool,
    /// An update that assigns the item to the bot.
    assigned: bool,
    internal: bool,
}

/// The rules that need only the hook: a reason to ignore it, or what it asks for.
fn asked(tenant: &GitlabTenant, event: &GitlabEvent) -> Result<Asked, &'static str> {
    if let Some(reason) = own_or_bot(tenant, &event.user) {
        return Err(reason);
    }
    match event.hook {
        HookKind::Issue | HookKind::MergeRequest => {
            if !matches!(event.action.as_str(), "open" | "reopen" | "update") {
                return Err("action never triggers (close, merge, approval, …)");
            }
            let label = event
                .labels_added
                .iter()
                .find(|l| l.eq_ignore_ascii_case(&tenant.label));
            // A new item asks in its description, as a note would.
            let created = event.action == "open" && text::mentions(&event.item.description, &tenant.mention);
            // Handing the item to the bot asks it to do the item.
            let assigned = assigns_bot(tenant, event);
            if label.is_none() && !created && !assigned {
                return Err("the label was not newly added, nor the bot asked in a new item or assigned");
            }
            Ok(Asked {
                target: GitlabTarget::Item,
                request: String::new(),
                label: label.cloned(),
                created,
                assigned,
                internal: false,
            })
        }
        HookKind::Note => {
            let note = event.note.as_ref().ok_or("no note")?;
            if note.system {
                return Err("system note");
            }
            if !(event.action.is_empty() || event.action == "create") {
                return Err("action never triggers (edit, delete, …)");
            }
            if note.body.contains(MARKER_PREFIX) {
                return Err("hookline's own note");
            }
            if !text::mentions(&note.body, &tenant.mention) {
                return Err("no exact mention");
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
            Ok(Asked {
                target,
                request: note.body.clone(),
                label: None,
                created: false,
                assigned: false,
                internal: note.internal,
            })
        }
    }
}

/// Whether the hook alone could start a run, so that reading it back from GitLab is worth the calls.
pub(super) fn worth_reading_back(tenant: &GitlabTenant, event: &GitlabEvent) -> bool {
    asked(tenant, event).is_ok()
}

/// Whether this issue or merge request update newly assigns the item to the bot (by the hook's account).
pub(super) fn assigns_bot(tenant: &GitlabTenant, event: &GitlabEvent) -> bool {
    matches!(event.hook, HookKind::Issue | HookKind::MergeRequest)
        && event.action == "update"
        && event
            .assignees_added
            .iter()
            .any(|user| is_bot_account(tenant, user))
}

/// Whether `user` is the tenant's bot account: by id when it is configured (robust to renames), else by name.
pub(super) fn is_bot_account(tenant: &GitlabTenant, user: &GitlabUser) -> bool {
    match tenant.bot_user_id {
        Some(id) => user.id == id,
        None => user.username.eq_ignore_ascii_case(&tenant.bot_username),
    }
}

/// The run key suffix of an assignment of the bot, only when GitLab confirms it: the bot among the item's
/// assignees now, the item changed at least as late as the hook says, and a system note of the hook's user
/// assigning the bot at the hook's `updated_at`. Keyed on that note, so a replay, or a forged copy with another
/// `updated_at`, is the same run, while a later re-assignment is a new note and a new run.
fn assignment_run(
    tenant: &GitlabTenant,
    envelope: &Envelope,
    event: &GitlabEvent,
    read_back: &ReadBack,
) -> Result<String, &'static str> {
    if !read_back
        .assignees
        .iter()
        .any(|user| is_bot_account(tenant, user))
    {
        return Err("GitLab does not show the bot among the assignees");
    }
    let changed_at = hook_time(&event.item.updated_at).ok_or("no updated_at to key the run on")?;
    if read_back.updated_at.is_none_or(|updated| updated < changed_at) {
        return Err("GitLab does not show the item changed when the hook says");
    }
    let Some(note) = read_back
        .assignments
        .iter()
        .filter(|a| a.at.abs_diff(changed_at) <= ASSIGNMENT_SKEW_SECS)
        .max_by_key(|a| a.note_id)
    else {
        return Err("GitLab does not show this person assigning the bot then");
    };
    // An assignment long before is an old hook resent, perhaps after its run's record expired.
    if note.at + MAX_LABEL_AGE_SECS < envelope.received_at {
        return Err("the bot was assigned too long ago");
    }
    Ok(format!("assigned:{}", note.note_id))
}

/// A hook's timestamp, `2026-11-28 10:00:12 UTC` or RFC 3339, in epoch seconds.
fn hook_time(value: &str) -> Option<u64> {
    let value = value.trim();
    parse_timestamp(value.strip_suffix(" UTC").unwrap_or(value))
}

pub(super) fn decide(tenant: &GitlabTenant, envelope: &Envelope, event: GitlabEvent) -> Decision {
    let Asked {
        target,
        request,
        label,
        created,
        assigned,
        internal,
    } = match asked(tenant, &event) {
        Ok(asked) => asked,
        Err(reason) => return Decision::Ignore(reason),
    };
    let Some(read_back) = &event.read_back else {
        return Decision::Ignore("GitLab did not confirm the item to the bot");
    };
    let item = &event.item;
    let thread = thread_key(&tenant.name, event.project.id, item.noteable, item.iid);
    let run_suffix = match (&label, target.note_id()) {
        (Some(label), _) => {
            let Some(added) = read_back
                .labels
                .iter()
                .find(|added| added.label.eq_ignore_ascii_case(label))
            else {
                return Decision::Ignore("GitLab does not show this person adding the label");
            };
            // A label added long before is an old hook resent, perhaps after its run's record expired.
            if added.added_at + MAX_LABEL_AGE_SECS < envelope.received_at {
                return Decision::Ignore("the label was added too long ago");
            }
            format!("label:{}:{}", label.to_ascii_lowercase(), added.event_id)
        }
        (None, Some(note_id)) => format!("note:{note_id}"),
        (None, None) if created => {
            // GitLab must show this person opening it, with the mention in what it holds now.
            if read_back.author_id != Some(event.user.id) {
                return Decision::Ignore("GitLab does not show this person opening the item");
            }
            if !text::mentions(&event.item.description, &tenant.mention) {
                return Decision::Ignore("the item GitLab holds does not mention the bot");
            }
            "created".to_owned()
        }
        (None, None) if assigned => match assignment_run(tenant, envelope, &event, read_back) {
            Ok(suffix) => suffix,
            Err(reason) => return Decision::Ignore(reason),
        },
        (None, None) => return Decision::Ignore("neither a label nor a note"),
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
    let instructions = instructions_for(item.noteable, &target, item.iid);
    let intent = Intent::of_request(&request);
    let note_sha256 = match target.note_id() {
        Some(_) => super::note_digest(&request),
        None => String::new(),
    };
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
            note_sha256,
        }),
        repository: Some(repository),
        repository_named: false,
        branch,
        git_provider: "gitlab".to_owned(),
        title: format!("{title_prefix}: {}", text::one_line(&item.title)),
        prompt: PromptParts {
            subject: format!("GitLab {kind} {reference} ({})", item.url),
            subject_title: item.title.clone(),
            subject_body: item.description.clone(),
            request,
            request_in_body: created,
            location,
            request_mention_form: None,
            instructions,
        },
        occurred_at: envelope.received_at,
        intent,
        stop_only: None,
    };
    Decision::Run(Box::new(trigger))
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

/// The task. A branch name is the author's text, so it never appears here: the branch is checked out for the
/// agent instead.
fn instructions_for(noteable: Noteable, target: &GitlabTarget, iid: u64) -> String {
    if noteable == Noteable::MergeRequest {
        return "Do what the request asks about this merge request. For code changes, commit and push to the merge \
             request's source branch, which is checked out for you. \
             If the request only asks a question, answer it in your final message without changing code. \
             Do not post notes on the merge request yourself: your final message is posted for you."
            .to_owned();
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
