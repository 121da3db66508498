//! The Jira Cloud provider.
//!
//! Layout, along the domain's seams:
//! - [`config`]: typed settings, one [`JiraTenant`] per Jira site (the tenant), loaded from the environment.
//! - [`event`]: the raw webhook payload as Jira sends it and the trimmed [`event::JiraEvent`] that is queued.
//! - [`adf`]: Atlassian Document Format both ways (text out of comment bodies; Markdown into comment bodies).
//! - [`triggers`]: pure trigger rules (label newly added, exact or picker mention, repository inference).
//! - `verify`: the webhook side, [`JiraIntake`].
//! - `module`: the worker side, [`JiraModule`].
//! - [`client`]: [`client::JiraClient`], comments (status, notices, context) and tracker transitions.
//!
//! The site comes from the URL (`/webhooks/jira/<site>`), never from the payload, and selects the secret.

pub mod adf;
pub mod client;
pub mod config;
pub mod event;
mod module;
pub mod triggers;
mod verify;

pub use config::{JiraConfig, JiraTenant};
pub use module::JiraModule;
pub use verify::JiraIntake;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::provider::{ProviderModule, Wiring};

/// Jira's worker side, for the registry: its REST client, which also reads the issue descriptions that comment
/// events lack.
pub fn module(config: &JiraConfig, wiring: &Wiring) -> Arc<dyn ProviderModule> {
    let client = Arc::new(client::JiraClient::new(config.clone(), &wiring.outbound));
    let issues: Arc<dyn client::IssueReader> = client.clone();
    wiring.module(config, client, Some(issues))
}

/// Where a Jira run reports: the issue on one site, and the comment that triggered it (if any).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraSource {
    /// Tenant the source belongs to: the configured site name (selects base URL, credentials, transitions).
    pub tenant: String,
    /// Issue id (stable across project moves; used in API paths).
    pub issue_id: String,
    /// Issue key at trigger time (`PROJ-7`), for people and links.
    pub issue_key: String,
    /// The triggering comment, when a comment (not a label) triggered the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<String>,
}

#[cfg(test)]
mod tests;
