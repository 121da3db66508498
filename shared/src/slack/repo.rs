//! Repositories named in a Slack message: GitHub / GitLab URLs (Slack sends them as `<url>` or `<url|label>`)
//! and bare `owner/repo` tokens. Slack has no repository of its own, so this is how a request says where to work.
//!
//! Bare tokens are a heuristic: `and/or`, `n/a`, dates and the like are not repositories. A message naming
//! several repositories is ambiguous; the caller asks which one.

use super::RepoRef;

/// Slash-separated words that are not repositories.
const NOT_REPOSITORIES: &[&str] = &[
    "and/or",
    "either/or",
    "w/o",
    "n/a",
    "i/o",
    "on/off",
    "yes/no",
    "true/false",
    "read/write",
    "input/output",
    "client/server",
    "he/him",
    "she/her",
    "they/them",
    "ci/cd",
    "tcp/ip",
    "km/h",
];

/// Repositories in `text` (Slack's raw message text), in order, without duplicates. A bare `owner/repo` is
/// hosted on `default_provider`.
pub fn find_repositories(text: &str, default_provider: &str) -> Vec<RepoRef> {
    let mut found: Vec<RepoRef> = Vec::new();
    let mut push = |repo: RepoRef| {
        let duplicate = found.iter().any(|f| {
            f.git_provider == repo.git_provider && f.repository.eq_ignore_ascii_case(&repo.repository)
        });
        if !duplicate {
            found.push(repo);
        }
    };
    // Links first; everything inside `<…>` is then blanked so mentions and URLs are not read as tokens.
    let mut outside = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        outside.push_str(&rest[..start]);
        outside.push(' ');
        let Some(len) = rest[start..].find('>') else {
            rest = "";
            break;
        };
        let inner = &rest[start + 1..start + len];
        let target = inner.split('|').next().unwrap_or_default();
        if let Some(repo) = repository_from_url(target) {
            push(repo);
        }
        rest = &rest[start + len + 1..];
    }
    outside.push_str(rest);
    for token in outside.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '[' | ']'))
    {
        let token = token
            .trim_matches(|c: char| matches!(c, '`' | '*' | '"' | '\'' | '~'))
            .trim_end_matches(['.', ':', '!', '?']);
        let token = token.strip_prefix("repo:").unwrap_or(token);
        if let Some(repo) = repository_from_url(token) {
            push(repo);
        } else if is_bare_repository(token) {
            push(RepoRef {
                repository: token.to_owned(),
                git_provider: default_provider.to_owned(),
            });
        }
    }
    found
}

/// `owner/name` as GitHub spells them, or (for GitLab) `group/…/project`.
pub fn is_repository_path(path: &str, nested: bool) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let count_ok = if nested {
        parts.len() >= 2 && parts.len() <= 20
    } else {
        parts.len() == 2
    };
    count_ok
        && parts.iter().all(|part| {
            !part.is_empty()
                && part.len() <= 100
                && *part != "."
                && *part != ".."
                && !part.starts_with('.')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

fn is_bare_repository(token: &str) -> bool {
    let Some((owner, name)) = token.split_once('/') else {
        return false;
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    is_repository_path(token, false)
        && owner.len() <= 39
        && owner.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !all_digits(owner)
        && !all_digits(name)
        && !NOT_REPOSITORIES.iter().any(|n| n.eq_ignore_ascii_case(token))
}

/// The repository a GitHub or GitLab URL points into (`https://github.com/o/r/pull/1` → `o/r`).
fn repository_from_url(url: &str) -> Option<RepoRef> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let host = host.to_ascii_lowercase();
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if host == "github.com" || host == "www.github.com" {
        let owner = segments.first()?;
        let name = segments.get(1)?.trim_end_matches(".git");
        let repository = format!("{owner}/{name}");
        return is_repository_path(&repository, false).then(|| RepoRef {
            repository,
            git_provider: "github".into(),
        });
    }
    if host == "gitlab.com" || host.starts_with("gitlab.") {
        // The project path ends where GitLab's `/-/` (issues, merge requests, tree, …) begins.
        let project: Vec<&str> = segments.iter().take_while(|s| **s != "-").copied().collect();
        let mut repository = project.join("/");
        if let Some(stripped) = repository.strip_suffix(".git") {
            repository = stripped.to_owned();
        }
        return is_repository_path(&repository, true).then(|| RepoRef {
            repository,
            git_provider: "gitlab".into(),
        });
    }
    if host == "bitbucket.org" {
        let repository = format!("{}/{}", segments.first()?, segments.get(1)?);
        return is_repository_path(&repository, false).then(|| RepoRef {
            repository,
            git_provider: "bitbucket".into(),
        });
    }
    None
}
