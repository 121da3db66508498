//! GitLab's worker side: its trigger rules ([`super::triggers`]) over the REST client, per instance (tenant).

use super::{event::GitlabEvent, triggers, GitlabConfig};
use crate::{
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    provider::{Decision, WorkerRules, WorkerSide},
};

/// GitLab's worker side: every configured instance (tenant).
pub type GitlabModule = WorkerSide<GitlabConfig>;

impl WorkerRules for GitlabConfig {
    const PROVIDER: Provider = Provider::Gitlab;
    type Event = GitlabEvent;

    fn decide(&self, envelope: &Envelope, event: GitlabEvent) -> Result<Decision, ProcessError> {
        let Some(tenant) = self.tenant(&envelope.tenant) else {
            return Ok(Decision::Ignore("tenant is no longer configured"));
        };
        Ok(triggers::decide(tenant, envelope, event))
    }

    fn unlinked(&self, trigger: &Trigger) -> (String, String) {
        let account = format!("GitLab account on {}", trigger.tenant);
        (format!("@{}", trigger.actor.login), account)
    }
}
