//! [`GitlabModule`]: GitLab's worker side: trigger decisions ([`super::triggers`]) and the REST client.

use async_trait::async_trait;

use super::{event::GitlabEvent, triggers, GitlabConfig};
use crate::{
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    ports::SourceClient,
    provider::{Decision, ProviderModule, WorkerSide},
};

/// GitLab's worker side: every configured instance (tenant).
pub type GitlabModule = WorkerSide<GitlabConfig>;

#[async_trait]
impl ProviderModule for GitlabModule {
    fn provider(&self) -> Provider {
        Provider::Gitlab
    }

    fn decide(&self, envelope: &Envelope) -> Result<Decision, ProcessError> {
        let Some(tenant) = self.config.tenant(&envelope.tenant) else {
            return Ok(Decision::Ignore("tenant is no longer configured"));
        };
        let event: GitlabEvent = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("gitlab payload does not parse: {e}")))?;
        Ok(triggers::decide(tenant, envelope, event))
    }

    fn source(&self) -> &dyn SourceClient {
        self.client.as_ref()
    }

    fn unlinked_notice(&self, trigger: &Trigger) -> String {
        format!(
            "@{} I can't start OpenHands for you yet: your GitLab account on {} is not linked to an OpenHands \
             identity. {}",
            trigger.actor.login, trigger.tenant, self.link_help
        )
    }
}
