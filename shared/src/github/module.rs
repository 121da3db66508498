//! [`GithubModule`]: GitHub's worker side: trigger decisions ([`super::triggers`]) and the REST client.

use async_trait::async_trait;

use super::{event::GithubEvent, triggers, GithubConfig};
use crate::{
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    ports::SourceClient,
    provider::{Decision, ProviderModule, WorkerSide},
};

/// GitHub's worker side.
pub type GithubModule = WorkerSide<GithubConfig>;

#[async_trait]
impl ProviderModule for GithubModule {
    fn provider(&self) -> Provider {
        Provider::Github
    }

    fn decide(&self, envelope: &Envelope) -> Result<Decision, ProcessError> {
        let event: GithubEvent = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("github payload does not parse: {e}")))?;
        Ok(triggers::decide(&self.config, envelope, event))
    }

    fn source(&self) -> &dyn SourceClient {
        self.client.as_ref()
    }

    fn unlinked_notice(&self, trigger: &Trigger) -> String {
        format!(
            "@{} I can't start OpenHands for you yet: your GitHub account is not linked to an OpenHands \
             identity. {}",
            trigger.actor.login, self.link_help
        )
    }
}
