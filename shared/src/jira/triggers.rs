//! Jira trigger rules, pure: which events start a run, how a mention of the bot is recognised (the `@handle`
//! text and Jira's picker mention of the service account), and which repository the run works on.

use super::{
    config::{parse_repo_target, JiraConfig, JiraSite, RepoTarget},
    event::{JiraEvent, JiraUser},
    JiraSource,
};
use crate::{
    domain::{Actor, Envelope, PromptParts, Provider, SourceRef, Trigger},
    provider::Decision,
    text,
};

/// Decide whether a trimmed event on `site` is a trigger.
pub fn decide(config: &JiraConfig, site: &JiraSite, envelope: &Envelope, event: &JiraEvent) -> Decision {
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
            if !event
                .added_labels
                .iter()
                .any(|l| l.eq_ignore_ascii_case(&config.label))
            {
                return Decision::Ignore("the label was not newly added");
            }
            let change = match (&event.webhook_event[..], &event.changelog_id) {
                ("jira:issue_created", _) => "created".to_owned(),
                (_, Some(id)) => id.clone(),
                (_, None) => envelope.delivery_id.clone(),
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
    let repo = match resolve_repository(site, &issue.project_key, &request, &issue_text) {
        RepoChoice::Found(target) => target,
        RepoChoice::Missing => {
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
        RepoChoice::Ambiguous(names) => {
            return Decision::Notice {
                source: Box::new(SourceRef::Jira(source)),
                key: format!("{run_key}:repository"),
                text: format!(
                    "[~accountid:{}] I found several repositories ({}). Mention me again naming exactly one.",
                    actor.account_id,
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
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
        repository: Some(repo.repository),
        branch: None,
        git_provider: repo.git_provider,
        title: format!("Jira Issue {}: {}", issue.key, one_line(&issue.summary)),
        prompt: PromptParts {
            subject: format!("Jira issue {} ({browse})", issue.key),
            subject_title: issue.summary.clone(),
            subject_body: description,
            request,
            location: None,
            instructions,
        },
        occurred_at: envelope.received_at,
    };
    Decision::Run(Box::new(trigger))
}

/// Apps (automation included), service-desk customers and the service account itself never trigger.
pub fn ignored_author(author: &JiraUser, site: &JiraSite) -> Option<&'static str> {
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

/// Where a run's repository came from.
#[derive(Debug, PartialEq, Eq)]
pub enum RepoChoice {
    Found(RepoTarget),
    /// Nothing named one and the project has no mapping.
    Missing,
    /// Several were named with equal weight.
    Ambiguous(Vec<String>),
}

/// Pick the repository: one named explicitly (a URL of a known host, `repo: …`, `gitlab:group/project`) in the
/// request, else in the issue; else the project's configured repository; else a bare `owner/repo` in the
/// request, else in the issue. Several distinct names at the deciding step are ambiguous.
pub fn resolve_repository(site: &JiraSite, project_key: &str, request: &str, issue_text: &str) -> RepoChoice {
    let provider = &site.default_git_provider;
    let request_candidates = candidates(request, provider);
    let issue_candidates = candidates(issue_text, provider);
    for strong in [true, false] {
        if !strong {
            if let Some(target) = site.projects.get(&project_key.to_ascii_uppercase()) {
                return RepoChoice::Found(target.clone());
            }
        }
        for found in [&request_candidates, &issue_candidates] {
            let mut picked: Vec<&RepoTarget> = Vec::new();
            for (target, is_strong) in found {
                if *is_strong == strong && !picked.iter().any(|p| same_repo(p, target)) {
                    picked.push(target);
                }
            }
            match picked.len() {
                0 => {}
                1 => return RepoChoice::Found(picked[0].clone()),
                _ => {
                    return RepoChoice::Ambiguous(
                        picked
                            .iter()
                            .map(|t| format!("{}:{}", t.git_provider, t.repository))
                            .collect(),
                    )
                }
            }
        }
    }
    RepoChoice::Missing
}

fn same_repo(a: &RepoTarget, b: &RepoTarget) -> bool {
    a.git_provider == b.git_provider && a.repository.eq_ignore_ascii_case(&b.repository)
}

/// Words that look like `owner/repo` but are prose.
const PROSE_PAIRS: &[&str] = &[
    "and/or",
    "either/or",
    "n/a",
    "i/o",
    "w/o",
    "yes/no",
    "true/false",
    "on/off",
    "read/write",
    "input/output",
    "client/server",
    "he/she",
    "his/her",
    "s/he",
];

/// Repository names in `text`, each with whether it was named explicitly.
fn candidates(text: &str, default_provider: &str) -> Vec<(RepoTarget, bool)> {
    let mut out = Vec::new();
    let mut labelled = false;
    for raw in text.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '|' | '[' | ']' | '(' | ')' | '<' | '>' | '"' | '\'' | ',' | ';' | '`' | '{' | '}' | '*'
            )
    }) {
        let lower_raw = raw.to_ascii_lowercase();
        if lower_raw == "repo:" || lower_raw == "repository:" {
            labelled = true;
            continue;
        }
        let token = raw.trim_end_matches(['.', ':', '!', '?']);
        if token.is_empty() {
            continue;
        }
        let was_labelled = std::mem::take(&mut labelled);
        let is_labelled_token = lower_raw.starts_with("repo:") || lower_raw.starts_with("repository:");
        let (value, prefixed) = match token.split_once(':') {
            Some((_, value)) if is_labelled_token => (value, true),
            _ => (token, was_labelled),
        };
        if value.starts_with("https://") || value.starts_with("http://") {
            if let Some(target) = from_url(value) {
                out.push((target, true));
            }
            continue;
        }
        if value.contains("://") {
            continue;
        }
        let has_provider = value
            .split_once(':')
            .is_some_and(|(p, _)| super::config::GIT_PROVIDERS.contains(&p.to_ascii_lowercase().as_str()));
        if has_provider || prefixed {
            if let Some(target) = parse_repo_target(value, default_provider) {
                out.push((target, true));
            }
            continue;
        }
        if looks_like_bare_repo(value) {
            if let Some(target) = parse_repo_target(value, default_provider) {
                out.push((target, false));
            }
        }
    }
    out
}

fn looks_like_bare_repo(token: &str) -> bool {
    let Some((owner, name)) = token.split_once('/') else {
        return false;
    };
    !name.contains('/')
        && !PROSE_PAIRS.contains(&token.to_ascii_lowercase().as_str())
        && [owner, name]
            .iter()
            .all(|part| valid_repo_segment(part) && part.chars().any(|c| c.is_ascii_alphabetic()))
        && !owner.starts_with('.')
}

/// `https://github.com/owner/repo/…`, `https://gitlab.com/group/sub/project/-/…`, `https://bitbucket.org/ws/repo`.
fn from_url(url: &str) -> Option<RepoTarget> {
    let rest = url.split_once("://")?.1;
    let (host, path) = rest.split_once('/')?;
    let host = host.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (provider, repo_segments): (&str, Vec<&str>) = match host {
        "github.com" => ("github", segments.iter().take(2).copied().collect()),
        "bitbucket.org" => ("bitbucket", segments.iter().take(2).copied().collect()),
        "gitlab.com" => (
            "gitlab",
            segments.iter().take_while(|s| **s != "-").copied().collect(),
        ),
        _ => return None,
    };
    if repo_segments.len() < 2 {
        return None;
    }
    let mut repository = repo_segments.join("/");
    if let Some(stripped) = repository.strip_suffix(".git") {
        repository = stripped.to_owned();
    }
    parse_repo_target(&format!("{provider}:{repository}"), provider)
}

/// A path segment of a repository name: letters, digits, `.`, `-`, `_`; not `.` or `..`.
pub fn valid_repo_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 100
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
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

fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    line.chars().take(200).collect()
}
