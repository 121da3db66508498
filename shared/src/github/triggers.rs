//! GitHub's trigger decisions: pure functions from a trimmed event to a [`Decision`].

use super::{
    event::{GithubEvent, GithubPull, GithubUser},
    GithubConfig, GithubSource, GithubTarget,
};
use crate::{
    domain::{Actor, Envelope, Intent, PromptParts, Provider, SourceRef, Trigger},
    provider::Decision,
    text,
};

pub(super) fn decide(config: &GithubConfig, envelope: &Envelope, event: GithubEvent) -> Decision {
    if event.sender.is_bot() || event.sender.login.eq_ignore_ascii_case(&config.bot_login()) {
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
                .is_some_and(|l| l.eq_ignore_ascii_case(&config.label));
            if !label_matches {
                return Decision::Ignore("another label");
            }
            let Some(issue) = event.issue.as_ref() else {
                return Decision::Ignore("no issue");
            };
            if issue.is_pull_request {
                return Decision::Ignore("label on a pull request");
            }
            let Some(run_suffix) = label_run(config, &issue.created_at, &issue.updated_at) else {
                return Decision::Ignore("no updated_at to key the run on");
            };
            (GithubTarget::Issue, String::new(), run_suffix)
        }
        ("pull_request", "labeled") => {
            if !event
                .label
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case(&config.label))
            {
                return Decision::Ignore("another label");
            }
            let Some(pull) = event.pull_request.as_ref() else {
                return Decision::Ignore("no pull request");
            };
            let Some(run_suffix) = label_run(config, &pull.created_at, &pull.updated_at) else {
                return Decision::Ignore("no updated_at to key the run on");
            };
            (GithubTarget::Issue, String::new(), run_suffix)
        }
        ("issues", "assigned") | ("pull_request", "assigned") => {
            let Some(assignee) = config.assignee.as_deref() else {
                return Decision::Ignore("assignment triggers are off (no GITHUB_ASSIGNEE)");
            };
            if !event
                .assignee
                .as_ref()
                .is_some_and(|a| a.login.eq_ignore_ascii_case(assignee))
            {
                return Decision::Ignore("assigned to someone else");
            }
            if event.sender.login.eq_ignore_ascii_case(assignee) {
                return Decision::Ignore("the assignee assigned itself");
            }
            let (created_at, updated_at) = match (&event.pull_request, &event.issue) {
                (Some(pull), _) => (&pull.created_at, &pull.updated_at),
                (None, Some(issue)) if !issue.is_pull_request => (&issue.created_at, &issue.updated_at),
                // Its `pull_request` event, which names the head branch, is the one that runs.
                _ => return Decision::Ignore("assignment on a pull request as an issue"),
            };
            let change = format!("assigned:{}", assignee.to_ascii_lowercase());
            let Some(run_suffix) = change_run(&change, created_at, updated_at) else {
                return Decision::Ignore("no updated_at to key the run on");
            };
            (GithubTarget::Issue, String::new(), run_suffix)
        }
        ("issues", "opened") | ("pull_request", "opened") => {
            let (body, labels) = match (&event.pull_request, &event.issue) {
                (Some(pull), _) => (&pull.body, &pull.labels),
                (None, Some(issue)) if !issue.is_pull_request => (&issue.body, &issue.labels),
                _ => return Decision::Ignore("no new issue or pull request"),
            };
            let labelled = labels.iter().any(|l| l.eq_ignore_ascii_case(&config.label));
            if !labelled && !text::mentions(body, &config.mention) {
                return Decision::Ignore("no exact mention or trigger label in the new item");
            }
            // The body is the request, quoted once as the description. Opening happens once per number, and
            // a label that came with it keys the same run (below), so `opened` + `labeled` start one.
            (GithubTarget::Issue, String::new(), CREATED.to_owned())
        }
        ("issue_comment", "created") | ("pull_request_review_comment", "created") => {
            let Some(comment) = event.comment.as_ref() else {
                return Decision::Ignore("no comment");
            };
            if let Some(reason) = own_or_bot(
                config,
                &comment.user,
                comment.via_app_slug.as_deref(),
                &comment.body,
            ) {
                return Decision::Ignore(reason);
            }
            if !text::mentions(&comment.body, &config.mention) {
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
            if let Some(reason) = own_or_bot(config, &review.user, None, &review.body) {
                return Decision::Ignore(reason);
            }
            if !text::mentions(&review.body, &config.mention) {
                return Decision::Ignore("no exact mention");
            }
            (
                GithubTarget::Review { review_id: review.id },
                review.body.clone(),
                format!("review:{}", review.id),
            )
        }
        ("issues", _)
        | ("pull_request", _)
        | ("issue_comment", _)
        | ("pull_request_review_comment", _)
        | ("pull_request_review", _) => return Decision::Ignore("action never triggers (edit, delete, …)"),
        _ => return Decision::Ignore("event never triggers"),
    };

    let is_pull_request =
        event.pull_request.is_some() || event.issue.as_ref().is_some_and(|i| i.is_pull_request);
    let (subject_title, subject_body, html_url) = match (&event.pull_request, &event.issue) {
        (Some(pr), _) => (pr.title.clone(), pr.body.clone(), pr.html_url.clone()),
        (None, Some(issue)) => (issue.title.clone(), issue.body.clone(), issue.html_url.clone()),
        (None, None) => (String::new(), String::new(), String::new()),
    };
    let (repository, branch) = match &event.pull_request {
        Some(pull) => head(&event.repository, pull),
        None => (event.repository.clone(), None),
    };
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
    let instructions = instructions_for(&target, is_pull_request, number);
    let request_in_body = run_suffix == CREATED && text::mentions(&subject_body, &config.mention);
    let intent = Intent::of_request(&request);
    let title_prefix = if is_pull_request {
        "GitHub PR"
    } else {
        "GitHub Issue"
    };
    let trigger = Trigger {
        provider: Provider::Github,
        tenant: config.tenant.clone(),
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
        repository: Some(repository),
        repository_named: false,
        branch,
        git_provider: "github".to_owned(),
        title: format!("{title_prefix} #{number}: {}", text::one_line(&subject_title)),
        prompt: PromptParts {
            subject: format!("GitHub {kind} {}#{number} ({html_url})", event.repository),
            subject_title,
            subject_body,
            request,
            request_in_body,
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

/// The run key suffix of an item that was opened with the trigger (body mention or label).
const CREATED: &str = "created";
/// A label or assignee added this close to the item's creation came with it (GitHub sends `opened`, then
/// `labeled` and `assigned`).
const WITH_CREATION_SECS: u64 = 10;

/// The run key suffix of the trigger label added at `updated_at` to an item opened at `created_at` (see
/// [`change_run`]).
fn label_run(config: &GithubConfig, created_at: &str, updated_at: &str) -> Option<String> {
    let change = format!("label:{}", config.label.to_ascii_lowercase());
    change_run(&change, created_at, updated_at)
}

/// The run key suffix of `change` (a label or an assignee added) made at `updated_at` to an item opened at
/// `created_at`; `None` without an `updated_at`. Keyed on the signed body: a copy sent again under a fresh
/// delivery id (which the signature does not cover) is the same run, while a later re-label or re-assignment has
/// a later `updated_at`. A change that came with a new item is the item's creation run.
fn change_run(change: &str, created_at: &str, updated_at: &str) -> Option<String> {
    if updated_at.is_empty() {
        return None;
    }
    let at = |t: &str| humantime::parse_rfc3339(t).ok();
    if let (Some(created), Some(updated)) = (at(created_at), at(updated_at)) {
        let apart = updated.duration_since(created).unwrap_or_default().as_secs();
        if apart <= WITH_CREATION_SECS {
            return Some(CREATED.to_owned());
        }
    }
    Some(format!("{change}:{updated_at}"))
}

/// Comments by bots, by this App, or carrying Hookline's own marker never trigger (no loops).
fn own_or_bot(
    config: &GithubConfig,
    author: &GithubUser,
    via_app: Option<&str>,
    body: &str,
) -> Option<&'static str> {
    if author.is_bot() || author.login.eq_ignore_ascii_case(&config.bot_login()) {
        return Some("author is a bot");
    }
    if via_app.is_some_and(|slug| slug.eq_ignore_ascii_case(&config.app_slug)) {
        return Some("written by this app");
    }
    if body.contains(crate::outbound::MARKER_PREFIX) {
        return Some("hookline's own comment");
    }
    None
}

/// The repository and branch the agent works on for pull request `pull` of `base`: the head branch where it
/// lives, so a fork's branch is worked on in the fork and its name is never pushed to the base. A head whose
/// repository is gone (a deleted fork) leaves no branch: the agent starts its own.
fn head(base: &str, pull: &GithubPull) -> (String, Option<String>) {
    if pull.head_ref.is_empty() || pull.head_repository.is_empty() {
        return (base.to_owned(), None);
    }
    (pull.head_repository.clone(), Some(pull.head_ref.clone()))
}

/// The task. A branch name is the author's text, so it never appears here: the branch is checked out for the
/// agent instead.
fn instructions_for(target: &GithubTarget, is_pull_request: bool, number: u64) -> String {
    if is_pull_request {
        return "Do what the request asks about this pull request. For code changes, commit and push to the pull \
             request's head branch, which is checked out for you. \
             If the request only asks a question, answer it in your final message without changing code. \
             Do not post comments on the pull request yourself: your final message is posted for you."
            .to_owned();
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
