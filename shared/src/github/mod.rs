//! The GitHub provider: webhook intake (verify, prefilter, trim), trigger decisions, the REST client that
//! implements [`crate::ports::SourceClient`], and GitHub App authentication.

pub mod app_auth;
pub mod client;
pub mod event;
mod module;

pub use module::GithubModule;

use serde::{Deserialize, Serialize};

/// Where a GitHub run reports: the issue or PR, and what exactly triggered it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubSource {
    pub installation_id: u64,
    /// `owner/repo`.
    pub repository: String,
    /// Issue or pull request number.
    pub number: u64,
    pub is_pull_request: bool,
    pub target: GithubTarget,
}

/// What triggered a GitHub run; decides where the 👀 goes and where the status comment lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GithubTarget {
    /// The issue itself (label trigger): reaction on the issue, status as an issue comment.
    Issue,
    /// An issue or PR conversation comment: reaction on it, status as an issue comment.
    IssueComment { comment_id: u64 },
    /// An inline review comment: reaction on it, status as a reply in its review thread (`thread_root_id` is the
    /// top-level review comment, since GitHub does not take replies to replies).
    ReviewComment { comment_id: u64, thread_root_id: u64 },
    /// A submitted review: no reaction API exists for reviews; status as an issue comment on the PR.
    Review { review_id: u64 },
}

impl GithubTarget {
    /// Whether the status message is a review-thread reply (edited through the pulls comments API).
    pub fn status_is_review_reply(&self) -> bool {
        matches!(self, GithubTarget::ReviewComment { .. })
    }
}

/// GitHub settings (typed config; secrets are referenced by name, never held here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GithubConfig {
    /// REST base URL, `https://api.github.com` (or GHES `https://host/api/v3`, or a local fake in tests).
    pub api_url: String,
    /// Tenant name used in keys and links (`github.com` or the GHES host).
    pub tenant: String,
    /// JWT issuer: the App's client id (recommended) or numeric App id.
    pub app_id: String,
    /// The App's slug; its comments come from `<slug>[bot]` and are ignored.
    pub app_slug: String,
    /// Secret names in the secret store.
    pub webhook_secret_name: String,
    pub private_key_secret_name: String,
    /// Label that triggers a run when added to an issue.
    pub label: String,
    /// Handle that triggers a run when mentioned, including the `@`.
    pub mention: String,
}

#[cfg(test)]
mod tests;
