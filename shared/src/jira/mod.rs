//! The Jira Cloud provider: webhook intake (verify per site → prefilter → trim), trigger decisions, and the
//! REST v3 client that implements [`crate::ports::SourceClient`].
//!
//! Layout, along the domain's seams:
//! - [`config`]: typed settings, one [`JiraSite`] per Jira site (the tenant), loaded from the environment.
//! - [`event`]: the raw webhook payload as Jira sends it and the trimmed [`event::JiraEvent`] that is queued.
//! - [`adf`]: Atlassian Document Format both ways (text out of comment bodies; Markdown into comment bodies).
//! - [`triggers`]: pure trigger rules (label newly added, exact or picker mention, repository inference).
//! - `module`: [`JiraModule`], the [`crate::provider::ProviderModule`] tying intake and decisions together.
//! - [`client`]: [`client::JiraClient`], comments (status, notices, context) and tracker transitions.
//!
//! Admin webhooks with a secret are the supported registration mode (providers.md §4.1, mode 1): Jira signs
//! the raw body as `X-Hub-Signature: sha256=<hex>`. The site comes from the URL (`/webhooks/jira/<site>`),
//! never from the payload, and selects the secret.

pub mod adf;
pub mod client;
pub mod config;
pub mod event;
mod module;
pub mod triggers;

pub use config::{JiraConfig, JiraSite};
pub use module::JiraModule;

use serde::{Deserialize, Serialize};

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
