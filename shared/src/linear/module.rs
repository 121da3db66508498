//! [`LinearModule`]: Linear's worker side: trigger decisions ([`super::triggers`]) and the GraphQL client.

use std::sync::Arc;

use async_trait::async_trait;

use super::{event::LinearEvent, triggers, LinearConfig};
use crate::{
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    ports::SourceClient,
    provider::{Decision, ProviderModule},
};

/// Linear's worker side.
pub struct LinearModule {
    config: LinearConfig,
    client: Arc<dyn SourceClient>,
    link_help: String,
}

impl LinearModule {
    /// `link_help` is the Markdown appended to the notice for people whose account is not linked yet.
    pub fn new(config: LinearConfig, client: Arc<dyn SourceClient>, link_help: String) -> Self {
        Self {
            config,
            client,
            link_help,
        }
    }
}

#[async_trait]
impl ProviderModule for LinearModule {
    fn provider(&self) -> Provider {
        Provider::Linear
    }

    fn decide(&self, envelope: &Envelope) -> Result<Decision, ProcessError> {
        let tenant = self.config.tenant(&envelope.tenant).ok_or_else(|| {
            ProcessError::Permanent(format!("linear tenant {:?} is not configured", envelope.tenant))
        })?;
        let event: LinearEvent = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("linear payload does not parse: {e}")))?;
        Ok(triggers::decide(&self.config, tenant, envelope, event))
    }

    fn source(&self) -> &dyn SourceClient {
        self.client.as_ref()
    }

    fn unlinked_notice(&self, trigger: &Trigger) -> String {
        format!(
            "{}, I can't start OpenHands for you yet: your Linear account (user id `{}`) is not linked to an \
             OpenHands identity. {}",
            trigger.actor.login, trigger.actor.id, self.link_help
        )
    }
}
