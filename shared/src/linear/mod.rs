//! The Linear provider: webhook side (verify `Linear-Signature` on the raw body, check `webhookTimestamp`
//! freshness and the organization, prefilter, trim), trigger decisions (label newly added, exact mention in a new
//! comment) and the GraphQL client that implements [`crate::ports::SourceClient`].
//!
//! Tenancy: one tenant per Linear organization, named by the URL (`POST /webhooks/linear/<tenant>`). The tenant
//! selects its secrets (`<prefix>/<tenant>/webhook-secret`, `…/api-key`; `<prefix>` is `LINEAR_SECRET_PREFIX`,
//! by default `linear`) and its configured
//! organization id, which must equal the verified body's `organizationId`.
//!
//! Files: [`config`] (settings), `verify` (the webhook side, [`LinearIntake`]), [`event`] (payloads as delivered
//! and as queued), `triggers` (the pure trigger decision and repository resolution), `module` (the worker side,
//! [`LinearModule`]), [`client`] (GraphQL API).

pub mod client;
pub mod config;
pub mod event;
mod module;
mod triggers;
mod verify;

pub use config::{LinearConfig, LinearTenant, TeamRepository};
pub use module::LinearModule;
pub use verify::{LinearIntake, MAX_SKEW_MS};

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::provider::{ProviderModule, Wiring};

/// Linear's worker side, with its GraphQL client, for the registry.
pub fn module(config: &LinearConfig, wiring: &Wiring) -> Arc<dyn ProviderModule> {
    let client = client::LinearClient::new(config.clone(), &wiring.outbound);
    wiring.module(config, Arc::new(client), ())
}

/// Where a Linear run reports: the issue, and the comment that triggered it (if any).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearSource {
    /// Tenant the source belongs to (the URL segment; selects the API key).
    pub tenant: String,
    /// Issue UUID.
    pub issue_id: String,
    /// Issue key, e.g. `ENG-123`.
    pub issue_identifier: String,
    /// The triggering comment (absent for a label trigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<String>,
    /// Thread root Hookline replies under: the triggering comment's parent, or the comment itself. Linear
    /// threads are one level deep, so replies always go to the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_root_id: Option<String>,
}

#[cfg(test)]
mod tests;
