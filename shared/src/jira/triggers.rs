//! Jira trigger rules, pure: which events start a run, how a mention of the bot is recognised (the `@handle`
//! text and Jira's picker mention of the service account), and which repository the run works on.

use super::{
    config::{JiraConfig, JiraTenant},
    event::{JiraEvent, JiraUser},
    JiraSource,
};
use crate::{
    domain::{Actor, Envelope, Intent, PromptParts, Provider, SourceRef, Trigger},
    provider::Decision,
    repo_hint::{self, named_as, Choice, Naming, Step},
    text,
};

/// Decide whether a trimmed event on `site` is a trigger.
pub fn decide(config: &JiraConfig, site: &JiraTenant, envelope: &Envelope, event: &JiraEvent) -> Decision {
    // A new issue asks in its description as a comment would (the description is its request).
    let asked_when_created = event.webhook_event == "jira:issue_created"
        && mentions_bot(&event.issue.mention_text, &config.mention, &site.bot_account_id);
    let (actor, request, run_suffix, comment_id) = match event.webhook_event.as_str() {
        "comment_created" => {
            let Some(comment) = &event.comment else {
                return Decision::Ignore("no comment");
            };
            if let Some(reason) = ignored_author(&comment.author, site) {
                return Decision::Ignore(reason);
            }
            if !mentions_bot(&comment.mention_text, &config.mention, &site.bot_account_id) {
                return Decision::Ignore("no exact mention");
            }
            (
                &comment.author,
                comment.body.clone(),
                format!("comment:{}", comment.id),
                Some(comment.id.clone()),
            )
        }
        "jira:issue_updated" | "jira:issue_created" => {
            if let Some(reason) = ignored_author(&event.actor, site) {
                return Decision::Ignore(reason);
            }
            let labelled = event
                .added_labels
                .iter()
                .any(|l| l.eq_ignore_ascii_case(&config.label));
            // Handing the issue to the service account asks it to do the issue.
            let assigned = !site.bot_account_id.is_empty()
                && event.assigned_to.as_deref() == Some(site.bot_account_id.as_str());
            if !labelled && !asked_when_created && !assigned {
                return Decision::Ignore(
                    "the label was not newly added, nor the bot asked in a new issue or assigned",
                );
            }
            // Keyed on the signed body (the changelog entry), never on the delivery id a replay can refresh.
            let change = match (&event.webhook_event[..], &event.changelog_id) {
                ("jira:issue_created", _) => "created".to_owned(),
                (_, Some(id)) => id.clone(),
                (_, None) => return Decision::Ignore("no changelog id to key the run on"),
            };
            (&event.actor, String::new(), format!("label:{change}"), None)
        }
        "comment_updated" | "comment_deleted" => {
            return Decision::Ignore("comment edits and deletions never trigger")
        }
        _ => return Decision::Ignore("event never triggers"),
    };

    let issue = &event.issue;
    let thread_key = event.thread_key(&site.name);
    let run_key = format!("{thread_key}:{run_suffix}");
    let source = JiraSource {
        tenant: site.name.clone(),
        issue_id: issue.id.clone(),
        issue_key: issue.key.clone(),
        comment_id,
    };
    let description = issue.description.clone().unwrap_or_default();
    let issue_text = format!("{}\n{description}", issue.summary);
    let intent = Intent::of_request(&comment_mention_text(event));
    let repo = match resolve_repository(site, &issue.project_key, &request, &issue_text) {
        Choice::Found(target) => Some(target),
        // A stop names the thread's run, not a repository.
        _ if intent == Intent::Stop => None,
        Choice::Missing => {
            return Decision::Notice {
                source: Box::new(SourceRef::Jira(source)),
                key: format!("{run_key}:repository"),
                text: format!(
                    "[~accountid:{}] I can't tell which repository to work on for {}. Mention me again with the \
                     repository (`owner/repo` or its URL), or ask an admin to map project {} to a repository.",
                    actor.account_id, issue.key, issue.project_key
                ),
            }
        }
        Choice::Ambiguous(names) => {
            return Decision::Notice {
                source: Box::new(SourceRef::Jira(source)),
                key: format!("{run_key}:repository"),
                text: format!(
                    "[~accountid:{}] I found several repositories ({}). Mention me again naming exactly one.",
                    actor.account_id,
                    names
                        .iter()
                        .map(|n| format!("`{}:{}`", n.git_provider, n.repository))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    };

    let browse = format!("{}/browse/{}", site.base_url, issue.key);
    let instructions = instructions(&issue.key, &browse, request.is_empty());
    let trigger = Trigger {
        provider: Provider::Jira,
        tenant: site.name.clone(),
        thread_key,
        run_key,
        actor: Actor {
            id: actor.account_id.clone(),
            login: if actor.display_name.is_empty() {
                actor.account_id.clone()
            } else {
                actor.display_name.clone()
            },
        },
        source: SourceRef::Jira(source),
        repository_named: repo
            .as_ref()
            .is_some_and(|repo| repo.is_beyond(site.project_repository(&issue.project_key))),
        repository: repo.as_ref().map(|repo| repo.repository.clone()),
        branch: None,
        git_provider: repo.map(|repo| repo.git_provider).unwrap_or_default(),
        title: format!("Jira Issue {}: {}", issue.key, text::one_line(&issue.summary)),
        prompt: PromptParts {
            subject: format!("Jira issue {} ({browse})", issue.key),
            subject_title: issue.summary.clone(),
            subject_body: description,
            request,
            request_in_body: asked_when_created,
            request_mention_form: Some(if asked_when_created {
                event.issue.mention_text.clone()
            } else {
                comment_mention_text(event)
            }),
            location: None,
            instructions,
        },
        occurred_at: envelope.received_at,
        intent,
        stop_only: None,
    };
    Decision::Run(Box::new(trigger))
}

/// The comment's text in mention form (empty for a label), where a stop is recognised.
fn comment_mention_text(event: &JiraEvent) -> String {
    match (&event.webhook_event[..], &event.comment) {
        ("comment_created", Some(comment)) => comment.mention_text.clone(),
        _ => String::new(),
    }
}

/// Apps (automation included), service-desk customers and the service account itself never trigger.
pub fn ignored_author(author: &JiraUser, site: &JiraTenant) -> Option<&'static str> {
    if author.account_id.is_empty() {
        return Some("no author");
    }
    if author.account_id == site.bot_account_id {
        return Some("written by the service account");
    }
    match author.account_type.as_str() {
        "app" => Some("author is an app"),
        "customer" => Some("author is a service-desk customer"),
        _ => None,
    }
}

/// Does the comment (mention form, see [`super::adf::MentionStyle::Token`]) address the bot, by the exact
/// `@handle` or by a picker mention of the service account, outside quotes and code?
pub fn mentions_bot(mention_text: &str, handle: &str, bot_account_id: &str) -> bool {
    let visible = strip_wiki_quotes_and_code(mention_text);
    if text::mentions(&visible, handle) {
        return true;
    }
    if bot_account_id.is_empty() {
        return false;
    }
    let token = format!("[~accountid:{bot_account_id}]");
    let mut in_fence = false;
    for line in visible.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || trimmed.starts_with('>') {
            continue;
        }
        if strip_backtick_spans(line).contains(&token) {
            return true;
        }
    }
    false
}

/// Drop wiki-markup quotes and code (`{quote}…{quote}`, `{code…}…{code}`, `{noformat}…{noformat}`, `bq.`
/// lines, `{{monospace}}`), so mentions in them do not count.
pub fn strip_wiki_quotes_and_code(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    loop {
        let lower = rest.to_ascii_lowercase();
        let next = ["{quote", "{code", "{noformat", "{{"]
            .iter()
            .filter_map(|tag| lower.find(tag).map(|at| (at, *tag)))
            .min_by_key(|(at, _)| *at);
        let Some((at, tag)) = next else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let after_lower = &lower[at..];
        if tag == "{{" {
            match after[2..].find("}}") {
                Some(end) => rest = &after[2 + end + 2..],
                None => {
                    out.push_str(after);
                    break;
                }
            }
            continue;
        }
        // The opening tag may carry parameters: `{code:java}`.
        let Some(open_end) = after.find('}') else {
            out.push_str(after);
            break;
        };
        // The closing tag repeats the opening one without parameters: `{code}`.
        match after_lower[open_end + 1..].find(tag) {
            Some(close) => {
                let close_at = open_end + 1 + close;
                let close_end = after[close_at..]
                    .find('}')
                    .map_or(after.len(), |e| close_at + e + 1);
                out.push(' ');
                rest = &after[close_end..];
            }
            // An unclosed block runs to the end of the text.
            None => break,
        }
    }
    out.lines()
        .filter(|line| !line.trim_start().starts_with("bq."))
        .collect::<Vec<_>>()
        .join("\n")
}

fn strip_backtick_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut inside = false;
    for ch in line.chars() {
        if ch == '`' {
            inside = !inside;
        } else if !inside {
            out.push(ch);
        }
    }
    out
}

/// Pick the repository: one named explicitly (a URL of a known host, `repo: …`, `gitlab:group/project`) in the
/// request, else in the issue; else the project's configured repository; else a bare `owner/repo` in the
/// request, else in the issue. Several distinct names at the deciding step are ambiguous.
pub fn resolve_repository(site: &JiraTenant, project_key: &str, request: &str, issue_text: &str) -> Choice {
    const EXPLICIT: &[Naming] = &[Naming::Url, Naming::Labelled];
    const BARE: &[Naming] = &[Naming::Bare];
    let provider = &site.default_git_provider;
    let request = repo_hint::named_in(request, provider);
    let issue = repo_hint::named_in(issue_text, provider);
    let project = site.project_repository(project_key);
    repo_hint::choose([
        Step::ask(named_as(&request, EXPLICIT)),
        Step::ask(named_as(&issue, EXPLICIT)),
        Step::configured(project),
        Step::ask(named_as(&request, BARE)),
        Step::ask(named_as(&issue, BARE)),
    ])
}

fn instructions(key: &str, browse: &str, from_label: bool) -> String {
    let what = if from_label {
        format!("Resolve Jira issue {key}.")
    } else {
        format!(
            "Do what the request asks about Jira issue {key}. If it only asks a question, answer it in your final \
             message without changing code."
        )
    };
    format!(
        "{what} For code changes, work on a new branch whose name starts with `{key}-`, add or update tests where \
         it makes sense, push the branch and open a pull request whose title starts with `[{key}]` and whose \
         description links {browse}. Do not post comments on the Jira issue yourself: your final message is \
         posted there for you."
    )
}
