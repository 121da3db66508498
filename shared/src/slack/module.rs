//! Slack's worker side: its trigger rules ([`super::triggers`]) over the Web API client.

use super::{event::SlackEvent, triggers, SlackConfig};
use crate::{
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    provider::{Decision, WorkerRules, WorkerSide},
};

/// Slack's worker side.
pub type SlackModule = WorkerSide<SlackConfig>;

impl WorkerRules for SlackConfig {
    const PROVIDER: Provider = Provider::Slack;
    type Event = SlackEvent;

    fn decide(&self, envelope: &Envelope, event: SlackEvent) -> Result<Decision, ProcessError> {
        if event.team_id != envelope.tenant {
            return Err(ProcessError::Permanent("slack envelope tenant mismatch".into()));
        }
        Ok(triggers::decide(self, envelope, &event))
    }

    fn unlinked(&self, trigger: &Trigger) -> (String, String) {
        let account = format!(
            "Slack account (user `{}` in workspace `{}`)",
            trigger.actor.id, trigger.tenant
        );
        (format!("@{}", trigger.actor.id), account)
    }
}
