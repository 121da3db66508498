//! Slack's worker side: its trigger rules ([`super::triggers`]) over the Web API client.

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::{
    event::{SlackClick, SlackEvent, BLOCK_ACTIONS},
    triggers, SlackConfig,
};
use crate::{
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    provider::{Decision, WorkerRules, WorkerSide},
};

/// Slack's worker side.
pub type SlackModule = WorkerSide<SlackConfig>;

impl WorkerRules for SlackConfig {
    const PROVIDER: Provider = Provider::Slack;
    /// Kept raw: the envelope's event name says which of the two queued shapes it is ([`SlackEvent`], or a
    /// [`SlackClick`] for [`BLOCK_ACTIONS`]).
    type Event = Box<RawValue>;

    fn decide(&self, envelope: &Envelope, payload: Box<RawValue>) -> Result<Decision, ProcessError> {
        if envelope.event == BLOCK_ACTIONS {
            let click: SlackClick = read(&payload)?;
            same_tenant(envelope, &click.team_id)?;
            return Ok(triggers::decide_click(self, envelope, &click));
        }
        let event: SlackEvent = read(&payload)?;
        same_tenant(envelope, &event.team_id)?;
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

fn read<T: DeserializeOwned>(payload: &RawValue) -> Result<T, ProcessError> {
    serde_json::from_str(payload.get())
        .map_err(|e| ProcessError::Permanent(format!("slack payload does not parse: {e}")))
}

fn same_tenant(envelope: &Envelope, team: &str) -> Result<(), ProcessError> {
    if team == envelope.tenant {
        Ok(())
    } else {
        Err(ProcessError::Permanent("slack envelope tenant mismatch".into()))
    }
}
