//! The Slack provider (being built): webhook intake, trigger decisions and API client.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Lookup};

/// Where a Slack run reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackSource {
    /// Tenant the source belongs to.
    pub tenant: String,
}

/// Slack settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackConfig {}

impl SlackConfig {
    /// Load from the environment; `None` when Slack is not configured.
    pub fn load(_env: &Lookup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(None)
    }
}
