//! Slack's worker side: its trigger rules ([`super::triggers`]) over the Web API client, and [`PickReader`],
//! which reads back the mention a pick in the repository picker is about before the decision.

use std::{borrow::Cow, sync::Arc};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::{
    client::SlackClient,
    event::{PickRead, SlackClick, SlackEvent, BLOCK_ACTIONS},
    triggers, SlackConfig, SlackNotice, SlackSource,
};
use crate::{
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    provider::{with_event, Decision, Enrich, WorkerRules, WorkerSide},
};

/// Slack's worker side.
pub type SlackModule = WorkerSide<SlackConfig, PickReader>;

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

/// Reads, for a pick in the repository picker, the mention it is about, so the run's request is Slack's text
/// (not anything in the click), and notes the worker's clock for the picker's expiry.
pub struct PickReader {
    client: Arc<SlackClient>,
}

impl PickReader {
    pub fn new(client: Arc<SlackClient>) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Enrich for PickReader {
    /// Once per attempt: a transient failure retries through the queue; a permanent one (the message or thread is
    /// gone, the bot left the channel) decides without the request.
    async fn enrich<'a>(&self, envelope: &'a Envelope) -> Result<Cow<'a, Envelope>, ProcessError> {
        if envelope.event != BLOCK_ACTIONS {
            return Ok(Cow::Borrowed(envelope));
        }
        let mut click: SlackClick = read(&envelope.payload)?;
        let Some(request_ts) = click.pick.as_ref().map(|pick| pick.request_ts.clone()) else {
            return Ok(Cow::Borrowed(envelope));
        };
        let mention = SlackSource {
            tenant: click.team_id.clone(),
            channel: click.channel.clone(),
            thread_ts: click.thread_ts.clone(),
            message_ts: request_ts,
            user: click.user.clone(),
            bot_user_id: click.bot_user_id.clone().unwrap_or_default(),
            notice: SlackNotice::Ephemeral,
            external: click.external,
        };
        let request = match self.client.read_message(&mention).await {
            Ok(request) => request,
            Err(err) if err.is_transient() => return Err(err.into()),
            Err(err) => {
                tracing::warn!(team = %click.team_id, channel = %click.channel, error = %err, "could not read the picked-for mention");
                None
            }
        };
        if let Some(pick) = click.pick.as_mut() {
            pick.read = Some(PickRead {
                at: self.client.now_secs(),
                request,
            });
        }
        let payload = serde_json::value::to_raw_value(&click)
            .map_err(|e| ProcessError::Permanent(format!("slack click does not serialize: {e}")))?;
        with_event::<SlackConfig>(envelope, &payload)
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
