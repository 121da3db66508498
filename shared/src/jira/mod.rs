//! The Jira provider (being built): webhook intake, trigger decisions and API client.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Lookup};

/// Where a Jira run reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraSource {
    /// Tenant the source belongs to.
    pub tenant: String,
}

/// Jira settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JiraConfig {}

impl JiraConfig {
    /// Load from the environment; `None` when Jira is not configured.
    pub fn load(_env: &Lookup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(None)
    }
}
