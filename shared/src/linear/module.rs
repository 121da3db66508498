//! [`LinearModule`]: Linear's worker side: trigger decisions ([`super::triggers`]) and the GraphQL client.

use async_trait::async_trait;

use super::{event::LinearEvent, triggers, LinearConfig};
use crate::{
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    ports::SourceClient,
    provider::{Decision, ProviderModule, WorkerSide},
};

/// Linear's worker side.
pub type LinearModule = WorkerSide<LinearConfig>;

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
