//! The GitHub provider (a GitHub App): [`config`] (settings), [`verify`] (the webhook side: signature,
//! prefilter, trim), [`event`] (payloads), [`triggers`] (pure decisions), [`module`] (the worker side) and
//! [`client`] (the REST client, with the App's token exchange).

pub mod client;
mod config;
pub mod event;
mod module;
mod triggers;
mod verify;

pub use config::{AppRegistration, GithubConfig, GithubSetup};
pub use module::GithubModule;
pub use verify::GithubIntake;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::provider::{ProviderModule, Wiring};

/// GitHub's worker side, with its REST client, for the registry.
pub fn module(config: &GithubConfig, wiring: &Wiring) -> Arc<dyn ProviderModule> {
    let client = client::GithubClient::new(config.clone(), &wiring.outbound);
    wiring.module(config, Arc::new(client), ())
}

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

#[cfg(test)]
mod tests;
