//! Which repository a run works on when the place it was triggered from has none of its own (a chat thread, a
//! tracker issue): the repositories named in its text, and the defaults an operator configured. This module
//! owns what counts as a repository name; each provider states its precedence as a list of [`Step`]s for
//! [`choose`], and keeps its own defaults (per channel, project or team).
//!
//! Names found by [`named_in`], from most to least explicit:
//! - [`Naming::Url`]: a URL into a repository on a known host: `https://github.com/o/r/pull/1`,
//!   `https://gitlab.com/group/sub/project/-/issues/3` (also self-managed `gitlab.*` hosts),
//!   `https://bitbucket.org/workspace/repo`;
//! - [`Naming::Labelled`]: `provider:path` (`gitlab:group/project`), or any name after `repo:` /
//!   `repository:` (or the option `repo=`);
//! - [`Naming::Bare`]: an `owner/repo` token. A heuristic: word pairs (`and/or`), dates and fractions
//!   (`12/05`) and file paths (`src/main.rs`) are not repositories; name those by URL or `repo:`.

/// Git providers a repository may be hosted on (the values OpenHands accepts as `git_provider`).
pub const GIT_PROVIDERS: &[&str] = &["github", "gitlab", "bitbucket"];

/// A repository and the git provider hosting it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RepoRef {
    /// `owner/repo` (GitLab: `group/subgroup/project`).
    pub repository: String,
    /// `github`, `gitlab` or `bitbucket`.
    pub git_provider: String,
}

impl RepoRef {
    /// The same repository, whatever the case it was written in.
    pub fn is_same(&self, other: &RepoRef) -> bool {
        self.git_provider == other.git_provider && self.repository.eq_ignore_ascii_case(&other.repository)
    }

    /// Whether this repository, chosen for a run, is other than the one `configured` for its channel, project
    /// or team: then it came from someone's text ([`crate::domain::Trigger::repository_named`]).
    pub fn is_beyond(&self, configured: Option<&RepoRef>) -> bool {
        !configured.is_some_and(|configured| configured.is_same(self))
    }
}

/// How explicitly a repository was named (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// A URL into the repository.
    Url,
    /// `provider:path`, or after `repo:`.
    Labelled,
    /// A bare `owner/repo` token.
    Bare,
}

/// A repository named in a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    pub repo: RepoRef,
    pub naming: Naming,
}

/// What a provider's precedence picked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    Found(RepoRef),
    /// No step had a candidate.
    Missing,
    /// A step that asks had several distinct candidates.
    Ambiguous(Vec<RepoRef>),
}

/// One rung of a provider's precedence: its candidates, and what several distinct ones mean.
#[derive(Debug)]
pub struct Step {
    candidates: Vec<RepoRef>,
    several: Several,
}

#[derive(Clone, Copy, Debug)]
enum Several {
    /// Stop and ask which one.
    Ask,
    /// Take the first.
    First,
    /// Not this step's to decide: go on to the next.
    Skip,
}

impl Step {
    /// Decides when it has candidates; several distinct ones are [`Choice::Ambiguous`].
    pub fn ask(candidates: impl IntoIterator<Item = RepoRef>) -> Self {
        Self::new(candidates, Several::Ask)
    }

    /// Decides when it has candidates, with the first of them.
    pub fn first(candidates: impl IntoIterator<Item = RepoRef>) -> Self {
        Self::new(candidates, Several::First)
    }

    /// Decides only when it has exactly one distinct candidate.
    pub fn only_one(candidates: impl IntoIterator<Item = RepoRef>) -> Self {
        Self::new(candidates, Several::Skip)
    }

    /// A configured default, when there is one.
    pub fn configured(default: Option<&RepoRef>) -> Self {
        Self::new(default.cloned(), Several::First)
    }

    fn new(candidates: impl IntoIterator<Item = RepoRef>, several: Several) -> Self {
        Self {
            candidates: distinct(candidates),
            several,
        }
    }
}

/// The first step that decides.
pub fn choose(steps: impl IntoIterator<Item = Step>) -> Choice {
    for step in steps {
        let mut candidates = step.candidates;
        match (candidates.len(), step.several) {
            (0, _) | (2.., Several::Skip) => {}
            (1, _) | (_, Several::First) => return Choice::Found(candidates.swap_remove(0)),
            (_, Several::Ask) => return Choice::Ambiguous(candidates),
        }
    }
    Choice::Missing
}

/// `repos` in order, each repository once.
pub fn distinct(repos: impl IntoIterator<Item = RepoRef>) -> Vec<RepoRef> {
    let mut out: Vec<RepoRef> = Vec::new();
    for repo in repos {
        if !out.iter().any(|seen| seen.is_same(&repo)) {
            out.push(repo);
        }
    }
    out
}

/// The repositories of `named` named in one of the `namings`.
pub fn named_as<'n>(named: &'n [Named], namings: &'n [Naming]) -> impl Iterator<Item = RepoRef> + 'n {
    named
        .iter()
        .filter(|named| namings.contains(&named.naming))
        .map(|named| named.repo.clone())
}

/// Labels that make the name after them explicit.
const LABELS: [&str; 4] = ["repo:", "repository:", "repo=", "repository="];

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
    "he/she",
    "his/her",
    "s/he",
    "ci/cd",
    "tcp/ip",
    "km/h",
];

/// File extensions that make a bare `dir/file.ext` a path, not a repository.
const FILE_EXTENSIONS: &[&str] = &[
    "rs", "py", "ts", "tsx", "js", "jsx", "go", "java", "kt", "rb", "c", "h", "cc", "cpp", "hpp", "md",
    "txt", "json", "toml", "yaml", "yml", "lock", "sh", "html",
];

/// Every repository named in `text`, in order (a repeated name is kept each time). Names without a provider
/// are on `default_provider`.
pub fn named_in(text: &str, default_provider: &str) -> Vec<Named> {
    let mut out = Vec::new();
    let mut after_label = false;
    let separator = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '|' | '['
                    | ']'
                    | '('
                    | ')'
                    | '<'
                    | '>'
                    | '"'
                    | '\''
                    | ','
                    | ';'
                    | '`'
                    | '{'
                    | '}'
                    | '*'
                    | '~'
            )
    };
    for raw in text.split(separator) {
        if LABELS.iter().any(|label| raw.eq_ignore_ascii_case(label)) {
            after_label = true;
            continue;
        }
        let token = raw.trim_end_matches(['.', ':', '!', '?']);
        if token.is_empty() {
            continue;
        }
        let labelled = std::mem::take(&mut after_label);
        let (value, labelled) = match LABELS
            .iter()
            .find_map(|label| strip_prefix_ignore_case(token, label))
        {
            Some(value) => (value, true),
            None => (token, labelled),
        };
        let mut push = |repo: Option<RepoRef>, naming| out.extend(repo.map(|repo| Named { repo, naming }));
        if value.contains("://") {
            let url = ["https://", "http://"]
                .iter()
                .find_map(|scheme| value.find(scheme).map(|at| &value[at..]));
            push(url.and_then(from_url), Naming::Url);
        } else if labelled || has_provider(value) {
            push(parse_target(value, default_provider), Naming::Labelled);
        } else if is_bare(value) {
            push(parse_target(value, default_provider), Naming::Bare);
        }
    }
    out
}

/// `[provider:]path` as configured or written out (`octo/hello`, `gitlab:group/sub/project`): `None` when the
/// provider is unknown or the path is not a repository's (GitLab paths may nest, others are `owner/repo`).
pub fn parse_target(raw: &str, default_provider: &str) -> Option<RepoRef> {
    let (provider, path) = match raw.split_once(':') {
        Some((provider, path)) => (provider.trim().to_ascii_lowercase(), path.trim()),
        None => (default_provider.to_owned(), raw.trim()),
    };
    if !GIT_PROVIDERS.contains(&provider.as_str()) {
        return None;
    }
    let segments: Vec<&str> = path.split('/').collect();
    let most = if provider == "gitlab" { 20 } else { 2 };
    let valid = (2..=most).contains(&segments.len()) && segments.iter().all(|s| valid_segment(s));
    valid.then(|| RepoRef {
        repository: path.to_owned(),
        git_provider: provider,
    })
}

/// `KEY=[provider:]path,…` (a configured default per channel, project or team), in order; the keys as written,
/// for the provider to check. One repository per key.
pub fn parse_defaults(raw: &str, default_provider: &str) -> Result<Vec<(String, RepoRef)>, String> {
    parse_default_lists(raw, default_provider)?
        .into_iter()
        .map(|(key, mut repos)| match repos.len() {
            1 => Ok((key, repos.swap_remove(0))),
            _ => Err(format!("{key:?} lists several repositories; one is allowed here")),
        })
        .collect()
}

/// `KEY=[provider:]path[|[provider:]path…],…`: [`parse_defaults`] where a key may list several repositories,
/// `|`-separated, in order as written (a repeated one included).
pub fn parse_default_lists(raw: &str, default_provider: &str) -> Result<Vec<(String, Vec<RepoRef>)>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (key, targets) = entry
                .split_once('=')
                .filter(|(key, _)| !key.trim().is_empty())
                .ok_or_else(|| format!("{entry:?} is not KEY=repository"))?;
            let repos = targets
                .split('|')
                .map(|target| {
                    parse_target(target.trim(), default_provider)
                        .ok_or_else(|| format!("{:?} is not [provider:]owner/repo", target.trim()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((key.trim().to_owned(), repos))
        })
        .collect()
}

fn strip_prefix_ignore_case<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

fn has_provider(value: &str) -> bool {
    value
        .split_once(':')
        .is_some_and(|(provider, _)| GIT_PROVIDERS.iter().any(|p| p.eq_ignore_ascii_case(provider)))
}

/// A path segment of a repository name: letters, digits, `.`, `-`, `_`; not `.` or `..`.
fn valid_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 100
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Could this token be an `owner/repo` written without a URL or label?
fn is_bare(token: &str) -> bool {
    let Some((owner, name)) = token.split_once('/') else {
        return false;
    };
    let is_file = name
        .rsplit_once('.')
        .is_some_and(|(_, ext)| FILE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)));
    !name.contains('/')
        && [owner, name]
            .iter()
            .all(|part| valid_segment(part) && part.bytes().any(|b| b.is_ascii_alphabetic()))
        && !owner.starts_with(['.', '-'])
        && !NOT_REPOSITORIES.iter().any(|n| n.eq_ignore_ascii_case(token))
        && !is_file
}

/// The repository a URL points into (`https://github.com/o/r/pull/1` → `github:o/r`).
fn from_url(url: &str) -> Option<RepoRef> {
    let rest = url.split_once("://")?.1;
    let (host, path) = rest.split_once('/')?;
    let host = host.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segments = path.split('/').filter(|s| !s.is_empty());
    let (provider, segments): (&str, Vec<&str>) = match host {
        "github.com" => ("github", segments.take(2).collect()),
        "bitbucket.org" => ("bitbucket", segments.take(2).collect()),
        // The project path ends where GitLab's `/-/` (issues, merge requests, tree, …) begins.
        _ if host == "gitlab.com" || host.starts_with("gitlab.") => {
            ("gitlab", segments.take_while(|s| *s != "-").collect())
        }
        _ => return None,
    };
    let repository = segments.join("/");
    let repository = repository.strip_suffix(".git").unwrap_or(&repository);
    parse_target(repository, provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        named_in(text, "github")
            .into_iter()
            .map(|n| format!("{:?} {}:{}", n.naming, n.repo.git_provider, n.repo.repository))
            .collect()
    }

    #[test]
    fn names_by_url_label_and_bare_token() {
        assert_eq!(
            names("see https://github.com/octo/app/pull/3. and (https://gitlab.com/g/sub/p/-/issues/1)"),
            ["Url github:octo/app", "Url gitlab:g/sub/p"]
        );
        assert_eq!(
            names("https://gitlab.example.com/a/b.git https://www.bitbucket.org/ws/r/src"),
            ["Url gitlab:a/b", "Url bitbucket:ws/r"]
        );
        assert_eq!(
            names("repo: bitbucket:team/app, Repository:octo/x gitlab:grp/sub/proj"),
            [
                "Labelled bitbucket:team/app",
                "Labelled github:octo/x",
                "Labelled gitlab:grp/sub/proj"
            ]
        );
        assert_eq!(names("fix `octo/hello`, please!"), ["Bare github:octo/hello"]);
        assert_eq!(
            names("octo/hello and Octo/Hello"),
            ["Bare github:octo/hello", "Bare github:Octo/Hello"]
        );
    }

    #[test]
    fn prose_dates_paths_and_other_hosts_are_not_repositories() {
        for none in [
            "and/or",
            "N/A",
            "on 12/05",
            "3/4 of it",
            "src/main.rs",
            "a/b/c",
            "../etc",
            ".x/y",
            "https://example.com/a/b",
            "ssh://github.com/a/b",
            "https://github.com/only-owner",
            "repo: not-a-repo",
            "svn:octo/hello",
        ] {
            assert!(names(none).is_empty(), "{none:?}: {:?}", names(none));
        }
    }

    #[test]
    fn targets_are_checked_per_provider() {
        assert!(parse_target("octo/hello", "github").is_some());
        assert!(parse_target("github:octo/a/b", "github").is_none());
        assert!(parse_target("gitlab:group/sub/proj", "github").is_some());
        assert!(parse_target("svn:octo/hello", "github").is_none());
        assert!(parse_target("octo", "github").is_none());
        assert!(parse_target("../x", "github").is_none());
        assert_eq!(
            parse_defaults("A=octo/hello, b=gitlab:g/p", "github"),
            Ok(vec![
                ("A".to_owned(), parse_target("octo/hello", "github").unwrap()),
                ("b".to_owned(), parse_target("gitlab:g/p", "github").unwrap()),
            ])
        );
        for bad in ["A", "=octo/hello", "A=octo", "A=svn:o/r", "A=o/a|o/b"] {
            assert!(parse_defaults(bad, "github").is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_default_lists("A=octo/a | gitlab:g/p,B=octo/b", "github"),
            Ok(vec![
                (
                    "A".to_owned(),
                    vec![
                        parse_target("octo/a", "github").unwrap(),
                        parse_target("gitlab:g/p", "github").unwrap()
                    ]
                ),
                ("B".to_owned(), vec![parse_target("octo/b", "github").unwrap()]),
            ])
        );
        for bad in ["A=octo/a|", "A=|octo/a", "A=octo/a|octo"] {
            assert!(parse_default_lists(bad, "github").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_first_step_that_decides_wins() {
        let repo = |r: &str| parse_target(r, "github").unwrap();
        let (a, b) = (repo("o/a"), repo("o/b"));
        assert_eq!(choose([]), Choice::Missing);
        assert_eq!(
            choose([Step::ask([]), Step::configured(Some(&a)), Step::ask([b.clone()])]),
            Choice::Found(a.clone())
        );
        assert_eq!(
            choose([Step::ask([a.clone(), repo("O/A"), b.clone()])]),
            Choice::Ambiguous(vec![a.clone(), b.clone()])
        );
        assert_eq!(
            choose([Step::first([b.clone(), a.clone()])]),
            Choice::Found(b.clone())
        );
        assert_eq!(
            choose([
                Step::only_one([a.clone(), b.clone()]),
                Step::configured(None),
                Step::only_one([b.clone()])
            ]),
            Choice::Found(b)
        );
    }
}
