//! The pure trigger decision for Linear: who may trigger (people only, never Hookline's service account or an
//! app), what triggers (an exact mention in a new comment, the configured label newly added), and which
//! repository the run works on.

use super::{
    event::{LinearEvent, LinearEventKind},
    LinearConfig, LinearSource, LinearTenant,
};
use crate::{
    domain::{Actor, Envelope, PromptParts, Provider, SourceRef, Trigger},
    provider::Decision,
    text,
};

/// Start of the invisible marker other Hookline comments carry; text holding it is never a trigger.
const HOOKLINE_MARKER: &str = "<!-- hookline:";

/// Hosts whose URLs name a repository, with the git provider OpenHands knows them by.
const REPOSITORY_HOSTS: [(&str, &str); 3] = [
    ("github.com/", "github"),
    ("gitlab.com/", "gitlab"),
    ("bitbucket.org/", "bitbucket"),
];

/// `a/b` word pairs that look like `owner/repo` but never are.
const NOT_REPOSITORIES: [&str; 12] = [
    "and/or",
    "i/o",
    "yes/no",
    "on/off",
    "read/write",
    "client/server",
    "input/output",
    "true/false",
    "either/or",
    "he/him",
    "she/her",
    "they/them",
];

/// File extensions that make `dir/file.ext` a path, not a repository.
const FILE_EXTENSIONS: [&str; 24] = [
    "rs", "py", "ts", "tsx", "js", "jsx", "go", "java", "kt", "rb", "c", "h", "cc", "cpp", "hpp", "md",
    "txt", "json", "toml", "yaml", "yml", "lock", "sh", "html",
];

/// A repository choice and the git provider it lives on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RepositoryChoice {
    pub(crate) repository: String,
    pub(crate) git_provider: String,
}

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
    let (request, run_suffix) = match event.kind {
        LinearEventKind::Comment => {
            let Some(comment) = &event.comment else {
                return Decision::Ignore("no comment");
            };
            if comment.edited {
                return Decision::Ignore("edited comment");
            }
            if comment.body.contains(HOOKLINE_MARKER) {
                return Decision::Ignore("hookline's own comment");
            }
            if !mentions_handle(&comment.body, &config.mention) {
                return Decision::Ignore("no exact mention");
            }
            (comment.body.clone(), format!("comment:{}", comment.id))
        }
        LinearEventKind::LabelsAdded => {
            let Some(label) = event.added_labels.iter().find(|label| {
                (!label.name.is_empty() && label.name.eq_ignore_ascii_case(&config.label))
                    || config.label_id.as_deref() == Some(label.id.as_str())
            }) else {
                return Decision::Ignore("another label");
            };
            // `updatedAt` is the same on every redelivery of this change and differs for a later re-label.
            let at = if event.updated_at.is_empty() {
                envelope.delivery_id.as_str()
            } else {
                event.updated_at.as_str()
            };
            (String::new(), format!("label:{}:{at}", label.id))
        }
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
    let Some(choice) = resolve_repository(config, &tenant.name, &event) else {
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
    };
    let instructions = instructions_for(event.kind, &key, &choice.repository);
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
        repository: Some(choice.repository),
        branch: None,
        git_provider: choice.git_provider,
        title: format!("Linear Issue {key}: {}", one_line(&event.issue.title)),
        prompt: PromptParts {
            subject: if event.issue.url.is_empty() {
                format!("Linear issue {key}")
            } else {
                format!("Linear issue {key} ({})", event.issue.url)
            },
            subject_title: event.issue.title.clone(),
            subject_body: event.issue.description.clone().unwrap_or_default(),
            request,
            location: None,
            instructions,
        },
        occurred_at: envelope.received_at,
    };
    Decision::Run(Box::new(trigger))
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
        LinearEventKind::LabelsAdded => format!(
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

fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    line.chars().take(200).collect()
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
/// 1. a repository URL (GitHub, GitLab, Bitbucket) in the comment, the title or the description;
/// 2. the one `owner/repo` named in the triggering comment;
/// 3. the team's configured repository;
/// 4. the one `owner/repo` named in the title or description.
///
/// A bare `owner/repo` counts only when it is the single candidate in its texts (word pairs like `and/or` and
/// file paths like `src/main.rs` are not candidates).
pub(crate) fn resolve_repository(
    config: &LinearConfig,
    tenant: &str,
    event: &LinearEvent,
) -> Option<RepositoryChoice> {
    let comment = event.comment.as_ref().map(|c| c.body.as_str()).unwrap_or("");
    let description = event.issue.description.as_deref().unwrap_or("");
    let texts = [comment, event.issue.title.as_str(), description];
    if let Some(found) = texts.iter().find_map(|t| repository_url(t)) {
        return Some(found);
    }
    let bare = |texts: &[&str]| {
        single_bare_candidate(texts).map(|repository| RepositoryChoice {
            repository,
            git_provider: config.git_provider.clone(),
        })
    };
    if let Some(found) = bare(&[comment]) {
        return Some(found);
    }
    if let Some(entry) = config.team_repository(tenant, &event.issue.team_key) {
        return Some(RepositoryChoice {
            repository: entry.repository.clone(),
            git_provider: entry
                .git_provider
                .clone()
                .unwrap_or_else(|| config.git_provider.clone()),
        });
    }
    bare(&[event.issue.title.as_str(), description])
}

fn valid_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 100
        && segment != "."
        && segment != ".."
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The first repository URL in `text`.
fn repository_url(text: &str) -> Option<RepositoryChoice> {
    for (host, provider) in REPOSITORY_HOSTS {
        for scheme in ["https://", "http://"] {
            let prefix = format!("{scheme}{host}");
            let mut rest = text;
            while let Some(at) = rest.find(&prefix) {
                let tail = &rest[at + prefix.len()..];
                let end = tail
                    .find(|c: char| {
                        c.is_whitespace() || matches!(c, ')' | '>' | ']' | '"' | '\'' | '`' | '?' | '#')
                    })
                    .unwrap_or(tail.len());
                let path = tail[..end].trim_end_matches(['.', ',', ';', ':', '!']);
                let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
                if provider == "gitlab" {
                    // `group/sub/project/-/issues/1`: the project path ends before `-`.
                    if let Some(dash) = segments.iter().position(|s| *s == "-") {
                        segments.truncate(dash);
                    }
                } else {
                    segments.truncate(2);
                }
                if let Some(last) = segments.last_mut() {
                    *last = last.strip_suffix(".git").unwrap_or(last);
                }
                if segments.len() >= 2 && segments.iter().all(|s| valid_segment(s)) {
                    return Some(RepositoryChoice {
                        repository: segments.join("/"),
                        git_provider: provider.to_owned(),
                    });
                }
                rest = tail;
            }
        }
    }
    None
}

/// The single distinct `owner/repo` token in `texts`, if there is exactly one.
fn single_bare_candidate(texts: &[&str]) -> Option<String> {
    let mut found: Vec<String> = Vec::new();
    for text in texts {
        for token in text.split(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    '(' | ')' | '[' | ']' | '<' | '>' | '"' | '\'' | '`' | ',' | ';' | ':'
                )
        }) {
            let token = token.trim_end_matches(['.', '!', '?']);
            let Some((owner, repo)) = token.split_once('/') else {
                continue;
            };
            let plausible = valid_segment(owner)
                && valid_segment(repo)
                && !repo.contains('/')
                && !owner.starts_with(['.', '-'])
                && !owner.chars().all(|c| c.is_ascii_digit())
                && !repo.chars().all(|c| c.is_ascii_digit())
                && !NOT_REPOSITORIES.iter().any(|w| w.eq_ignore_ascii_case(token))
                && !repo
                    .rsplit_once('.')
                    .is_some_and(|(_, ext)| FILE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)));
            if plausible && !found.iter().any(|f| f.eq_ignore_ascii_case(token)) {
                found.push(token.to_owned());
            }
        }
    }
    match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}
