//! Linear's worker side: its trigger rules ([`super::triggers`]) over the GraphQL client.

use super::{event::LinearEvent, triggers, LinearConfig};
use crate::{
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    provider::{Decision, WorkerRules, WorkerSide},
};

/// Linear's worker side.
pub type LinearModule = WorkerSide<LinearConfig>;

impl WorkerRules for LinearConfig {
    const PROVIDER: Provider = Provider::Linear;
    type Event = LinearEvent;

    fn decide(&self, envelope: &Envelope, event: LinearEvent) -> Result<Decision, ProcessError> {
        let tenant = self.tenant(&envelope.tenant).ok_or_else(|| {
            ProcessError::Permanent(format!("linear tenant {:?} is not configured", envelope.tenant))
        })?;
        Ok(triggers::decide(self, tenant, envelope, event))
    }

    /// Linear has no mention syntax in plain comments: the notice opens with the person's name.
    fn unlinked(&self, trigger: &Trigger) -> (String, String) {
        let account = format!("Linear account (user id `{}`)", trigger.actor.id);
        (format!("{},", trigger.actor.login), account)
    }
}
