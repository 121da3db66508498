//! GitHub's worker side: its trigger rules ([`super::triggers`]) over the REST client.

use super::{event::GithubEvent, triggers, GithubConfig};
use crate::{
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    provider::{Decision, WorkerRules, WorkerSide},
};

/// GitHub's worker side.
pub type GithubModule = WorkerSide<GithubConfig>;

impl WorkerRules for GithubConfig {
    const PROVIDER: Provider = Provider::Github;
    type Event = GithubEvent;

    fn decide(&self, envelope: &Envelope, event: GithubEvent) -> Result<Decision, ProcessError> {
        Ok(triggers::decide(self, envelope, event))
    }

    fn unlinked(&self, trigger: &Trigger) -> (String, String) {
        (format!("@{}", trigger.actor.login), "GitHub account".into())
    }
}
