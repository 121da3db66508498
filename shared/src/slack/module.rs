//! [`SlackModule`]: Slack's worker side: the trigger decision ([`super::triggers`]) and the Web API client.

use async_trait::async_trait;

use super::{event::SlackEvent, triggers, SlackConfig};
use crate::{
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    ports::SourceClient,
    provider::{Decision, ProviderModule, WorkerSide},
};

/// Slack's worker side.
pub type SlackModule = WorkerSide<SlackConfig>;

#[async_trait]
impl ProviderModule for SlackModule {
    fn provider(&self) -> Provider {
        Provider::Slack
    }

    fn decide(&self, envelope: &Envelope) -> Result<Decision, ProcessError> {
        let event: SlackEvent = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("slack payload does not parse: {e}")))?;
        if event.team_id != envelope.tenant {
            return Err(ProcessError::Permanent("slack envelope tenant mismatch".into()));
        }
        Ok(triggers::decide(&self.config, envelope, &event))
    }

    fn source(&self) -> &dyn SourceClient {
        self.client.as_ref()
    }

    fn unlinked_notice(&self, trigger: &Trigger) -> String {
        format!(
            "@{} I can't start OpenHands for you yet: your Slack account (user `{}` in workspace `{}`) is not \
             linked to an OpenHands identity. {}",
            trigger.actor.id,
            trigger.actor.id,
            trigger.tenant, self.link_help
        )
    }
}
