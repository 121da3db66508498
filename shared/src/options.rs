//! Per-request options a person writes in the request itself: `repo=owner/name` (or a repository URL),
//! `branch=name`, `model=name`, anywhere in their own text (quotes and code do not count), or in brackets
//! (`[repo=octo/api, branch=dev]`). Any other `name=value` counts as an option only at the start of the
//! request, right after the mentions, so `timeout=30` further on stays prose while `@openhands depth=2 …` gets a
//! reply listing the options there are. Options are taken out of the text the agent reads.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{repo_hint, text};

/// What a person chose for their run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<repo_hint::RepoRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl RequestOptions {
    pub fn is_empty(&self) -> bool {
        self.repo.is_none() && self.branch.is_none() && self.model.is_none()
    }

    /// The options as a status message echoes them: ``repository `octo/api`, branch `dev` ``.
    pub fn echo(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.repo
                .as_ref()
                .map(|repo| format!("repository `{}`", repo.repository)),
            self.branch.as_ref().map(|branch| format!("branch `{branch}`")),
            self.model.as_ref().map(|model| format!("model `{model}`")),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// Why a request's options are refused; [`fmt::Display`] is the short reply the person gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `name=value` at the start of the request with a name that is no option.
    Unknown(Vec<String>),
    /// A known option with a value it cannot take.
    Invalid { name: &'static str, why: &'static str },
    /// The same option given twice with different values.
    Twice(&'static str),
    /// A model outside the operator's list (or none allowed).
    Model { allowed: Vec<String> },
}

/// What the person may write, for every refusal.
const VALID: &str = "`repo=owner/name` (or a repository URL), `branch=name` and `model=name`";

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Unknown(names) => {
                let names: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
                write!(
                    f,
                    "I don't know the option {}. The options are {VALID}.",
                    names.join(", ")
                )
            }
            Refusal::Invalid { name, why } => write!(f, "`{name}=` {why}. The options are {VALID}."),
            Refusal::Twice(name) => write!(f, "`{name}=` is given twice. The options are {VALID}."),
            Refusal::Model { allowed } if allowed.is_empty() => {
                write!(
                    f,
                    "Choosing a model is not enabled here; mention me again without `model=`."
                )
            }
            Refusal::Model { allowed } => {
                let allowed: Vec<String> = allowed.iter().map(|model| format!("`{model}`")).collect();
                write!(
                    f,
                    "That model is not available here. The models are {}.",
                    allowed.join(", ")
                )
            }
        }
    }
}

/// Longest option value kept (longer ones are refused).
const MAX_VALUE_CHARS: usize = 200;

/// Read the options in `request` (a person's text; repositories without a provider are on
/// `default_provider`); [`strip`] gives the text without them.
pub fn read(request: &str, default_provider: &str) -> Result<RequestOptions, Refusal> {
    scan(request, default_provider).1
}

/// `request` without the options it holds, valid or not: the text the agent reads.
pub fn strip(request: &str) -> String {
    scan(request, repo_hint::GIT_PROVIDERS[0]).0
}

/// The text without its options, and the options read (or why they are refused).
fn scan(request: &str, default_provider: &str) -> (String, Result<RequestOptions, Refusal>) {
    let mut options = RequestOptions::default();
    let mut unknown = Vec::new();
    let mut leading = true;
    let mut failure = None;
    let text = text::map_own_lines(request, |line| {
        let mut out = String::with_capacity(line.len());
        for piece in pieces(line) {
            let Piece::Word(word) = piece else {
                if let Piece::Code(code) = piece {
                    leading = false;
                    out.push_str(code);
                } else if let Piece::Space(space) = piece {
                    out.push_str(space);
                }
                continue;
            };
            if is_mention(word) {
                out.push_str(word);
                continue;
            }
            let Some((name, value)) = option_of(word) else {
                leading = false;
                out.push_str(word);
                continue;
            };
            let outcome = match name.to_ascii_lowercase().as_str() {
                "repo" | "repository" => set(
                    &mut options.repo,
                    "repo",
                    repository(value, default_provider),
                    repo_hint::RepoRef::is_same,
                ),
                "branch" => set(&mut options.branch, "branch", branch(value), String::eq),
                "model" => set(&mut options.model, "model", model(value), String::eq),
                _ if leading => {
                    unknown.push(format!("{name}="));
                    Ok(())
                }
                _ => {
                    out.push_str(word);
                    continue;
                }
            };
            if let Err(refusal) = outcome {
                failure.get_or_insert(refusal);
            }
            // The option leaves the text, with the brackets and comma around it.
        }
        let out = tidy(&out);
        // An option that opened the line leaves no indent behind (an indent would make the line code).
        if line.starts_with(char::is_whitespace) {
            out
        } else {
            out.trim_start().to_owned()
        }
    });
    let options = match failure {
        Some(refusal) => Err(refusal),
        None if !unknown.is_empty() => Err(Refusal::Unknown(unknown)),
        None => Ok(options),
    };
    (text, options)
}

/// Whether `model` may be chosen under the operator's list.
pub fn allow_model(model: &str, allowed: &[String]) -> Result<(), Refusal> {
    if allowed.iter().any(|known| known == model) {
        Ok(())
    } else {
        Err(Refusal::Model {
            allowed: allowed.to_vec(),
        })
    }
}

/// Fill `slot` with `value`; the same option written again must say the `same` thing.
fn set<T>(
    slot: &mut Option<T>,
    name: &'static str,
    value: Result<T, Refusal>,
    same: fn(&T, &T) -> bool,
) -> Result<(), Refusal> {
    let value = value?;
    match slot {
        Some(existing) if !same(existing, &value) => Err(Refusal::Twice(name)),
        Some(_) => Ok(()),
        None => {
            *slot = Some(value);
            Ok(())
        }
    }
}

fn repository(value: &str, default_provider: &str) -> Result<repo_hint::RepoRef, Refusal> {
    let invalid = Refusal::Invalid {
        name: "repo",
        why: "takes `owner/name` or a repository URL",
    };
    let value = value
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .unwrap_or(value);
    if value.contains("://") {
        let named = repo_hint::named_in(value, default_provider);
        return match named.as_slice() {
            [one] if one.naming == repo_hint::Naming::Url => Ok(one.repo.clone()),
            _ => Err(invalid),
        };
    }
    repo_hint::parse_target(value, default_provider).ok_or(invalid)
}

/// A branch name git and every host accept: plain characters, no `..`, no leading `-` or `/`, no `.lock` end.
fn branch(value: &str) -> Result<String, Refusal> {
    let valid = plain(value, &['-', '_', '.', '/'])
        && !value.starts_with(['-', '/', '.'])
        && !value.ends_with(['/', '.'])
        && !value.ends_with(".lock")
        && !value.contains("..")
        && !value.contains("//");
    valid.then(|| value.to_owned()).ok_or(Refusal::Invalid {
        name: "branch",
        why: "takes a branch name (letters, digits, `-`, `_`, `.` and `/`)",
    })
}

fn model(value: &str) -> Result<String, Refusal> {
    let valid = plain(value, &['-', '_', '.', '/', ':']);
    valid.then(|| value.to_owned()).ok_or(Refusal::Invalid {
        name: "model",
        why: "takes a model name",
    })
}

/// Whether `value` is at most [`MAX_VALUE_CHARS`] long and only ASCII letters, digits and the `punctuation`
/// given.
fn plain(value: &str, punctuation: &[char]) -> bool {
    value.len() <= MAX_VALUE_CHARS
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || punctuation.contains(&c))
}

/// `name=value` when `word` is shaped as an option (a name of letters, an `=`, a value), brackets and a trailing
/// comma set aside.
fn option_of(word: &str) -> Option<(&str, &str)> {
    let word = word
        .trim_start_matches(['[', '('])
        .trim_end_matches([']', ')', ',', ';']);
    let (name, value) = word.split_once('=')?;
    let name_ok = !name.is_empty()
        && name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    // A sentence's full stop is not part of the value.
    let value = value.trim_end_matches('.');
    (name_ok && !value.is_empty()).then_some((name, value))
}

/// A mention in any provider's form: `@name`, Slack's `<@U…>`, Jira's `[~accountid:…]`.
fn is_mention(word: &str) -> bool {
    word.starts_with('@') || word.starts_with("<@") || word.starts_with("[~")
}

enum Piece<'a> {
    Space(&'a str),
    Word(&'a str),
    /// An inline code span, kept as written and never read for options.
    Code(&'a str),
}

/// `line` as words, runs of spaces and inline code spans.
fn pieces(line: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let space = rest.len() - rest.trim_start().len();
        if space > 0 {
            out.push(Piece::Space(&rest[..space]));
            rest = &rest[space..];
            continue;
        }
        if rest.starts_with('`') {
            let ticks = rest.chars().take_while(|&c| c == '`').count();
            let fence = &rest[..ticks];
            if let Some(end) = rest[ticks..].find(fence) {
                let len = ticks + end + ticks;
                out.push(Piece::Code(&rest[..len]));
                rest = &rest[len..];
                continue;
            }
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '`')
            .filter(|&end| end > 0)
            .unwrap_or(rest.len());
        out.push(Piece::Word(&rest[..end]));
        rest = &rest[end..];
    }
    out
}

/// A line with options taken out: no doubled spaces, no empty brackets left behind, no trailing space.
fn tidy(line: &str) -> String {
    let mut out = line.replace("[]", "").replace("()", "");
    while out.contains("  ") {
        out = out.replace("  ", " ");
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options of a request and its text without them.
    struct Read {
        options: RequestOptions,
        text: String,
    }

    fn ok(text: &str) -> Read {
        Read {
            options: read(text, "github").unwrap(),
            text: strip(text),
        }
    }

    #[test]
    fn known_options_anywhere_in_own_text_are_taken_out() {
        let read = ok("@openhands please fix the login bug repo=octo/api branch=release/1.2 model=claude-x");
        assert_eq!(read.options.repo.as_ref().unwrap().repository, "octo/api");
        assert_eq!(read.options.branch.as_deref(), Some("release/1.2"));
        assert_eq!(read.options.model.as_deref(), Some("claude-x"));
        assert_eq!(read.text, "@openhands please fix the login bug");
    }

    #[test]
    fn brackets_urls_and_providers() {
        let read = ok("@openhands [repo=https://gitlab.com/group/sub/project, branch=dev] fix it");
        let repo = read.options.repo.unwrap();
        assert_eq!(
            (repo.git_provider.as_str(), repo.repository.as_str()),
            ("gitlab", "group/sub/project")
        );
        assert_eq!(read.options.branch.as_deref(), Some("dev"));
        assert_eq!(read.text, "@openhands fix it");
        let read = ok("<@U123> repo=gitlab:team/app go");
        assert_eq!(read.options.repo.unwrap().git_provider, "gitlab");
        assert_eq!(read.text, "<@U123> go");
    }

    #[test]
    fn quotes_and_code_never_count() {
        let text = "@openhands look at this\n> repo=evil/repo\n```\nbranch=main\n```\nand `model=x` here";
        let read = ok(text);
        assert!(read.options.is_empty());
        assert_eq!(read.text, text);
    }

    #[test]
    fn unknown_names_count_only_at_the_start() {
        assert_eq!(
            read("@openhands depth=2 fix it", "github"),
            Err(Refusal::Unknown(vec!["depth=".to_owned()]))
        );
        let read = ok("@openhands set timeout=30 in the config");
        assert!(read.options.is_empty());
        assert_eq!(read.text, "@openhands set timeout=30 in the config");
    }

    #[test]
    fn bad_values_are_refused() {
        for text in [
            "@openhands repo=not-a-repo",
            "@openhands branch=-rf",
            "@openhands branch=a..b",
            "@openhands branch=x.lock",
            "@openhands model=a;b",
            "@openhands repo=ftp://example.com/a/b",
        ] {
            assert!(
                matches!(read(text, "github"), Err(Refusal::Invalid { .. })),
                "{text}"
            );
        }
        assert_eq!(
            read("@openhands repo=a/b repo=c/d", "github"),
            Err(Refusal::Twice("repo"))
        );
        assert!(ok("@openhands repo=a/b and again repo=A/B")
            .options
            .repo
            .is_some());
    }

    #[test]
    fn refusals_list_the_options() {
        let text = Refusal::Unknown(vec!["depth=".to_owned()]).to_string();
        assert!(
            text.contains("`depth=`") && text.contains("`repo=owner/name`"),
            "{text}"
        );
        assert!(Refusal::Model { allowed: vec![] }
            .to_string()
            .contains("not enabled"));
        assert!(allow_model("b", &["a".to_owned(), "b".to_owned()]).is_ok());
        assert!(Refusal::Model {
            allowed: vec!["a".to_owned()]
        }
        .to_string()
        .contains("`a`"));
    }

    #[test]
    fn echo_names_what_was_chosen() {
        let read = ok("@openhands repo=octo/api branch=dev go");
        assert_eq!(
            read.options.echo().as_deref(),
            Some("repository `octo/api`, branch `dev`")
        );
        assert_eq!(RequestOptions::default().echo(), None);
    }
}
