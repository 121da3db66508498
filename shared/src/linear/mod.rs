//! The Linear provider (being built): webhook intake, trigger decisions and API client.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Lookup};

/// Where a Linear run reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearSource {
    /// Tenant the source belongs to.
    pub tenant: String,
}

/// Linear settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearConfig {}

impl LinearConfig {
    /// Load from the environment; `None` when Linear is not configured.
    pub fn load(_env: &Lookup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(None)
    }
}
