//! The Gitlab provider (being built): webhook intake, trigger decisions and API client.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Lookup};

/// Where a Gitlab run reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitlabSource {
    /// Tenant the source belongs to.
    pub tenant: String,
}

/// Gitlab settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitlabConfig {}

impl GitlabConfig {
    /// Load from the environment; `None` when Gitlab is not configured.
    pub fn load(_env: &Lookup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(None)
    }
}
