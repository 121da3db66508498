//! [`JiraModule`]: Jira's worker side: reading what a comment event lacks, the trigger decisions
//! ([`super::triggers`]) and the REST client.

use std::{borrow::Cow, sync::Arc};

use async_trait::async_trait;
use serde_json::value::RawValue;

use super::{client::IssueReader, event::JiraEvent, triggers, JiraConfig};
use crate::{
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    ports::SourceClient,
    provider::{Decision, ProviderModule, WorkerSide},
};

/// Jira's worker side. Its `extra` reads the description in the worker when a comment event lacks it (usually
/// the same [`super::client::JiraClient`] as the client; `None` goes without it).
pub type JiraModule = WorkerSide<JiraConfig, Option<Arc<dyn IssueReader>>>;

#[async_trait]
impl ProviderModule for JiraModule {
    fn provider(&self) -> Provider {
        Provider::Jira
    }

    /// Comment events carry only a few issue fields; the description (where the repository is often named) is
    /// read here, once per attempt, so the decision can stay pure. A permanent failure goes on without it.
    async fn enrich<'a>(&self, envelope: &'a Envelope) -> Result<Cow<'a, Envelope>, ProcessError> {
        let Some(issues) = &self.extra else {
            return Ok(Cow::Borrowed(envelope));
        };
        let mut event: JiraEvent = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("jira payload does not parse: {e}")))?;
        if event.issue.description.is_some() || event.comment.is_none() {
            return Ok(Cow::Borrowed(envelope));
        }
        let description = match issues.issue_description(&envelope.tenant, &event.issue.id).await {
            Ok(description) => description.unwrap_or_default(),
            Err(err) if err.is_transient() => return Err(err.into()),
            Err(err) => {
                tracing::warn!(site = %envelope.tenant, issue = %event.issue.key, error = %err, "could not read the issue description; going on without it");
                return Ok(Cow::Borrowed(envelope));
            }
        };
        event.issue.description = Some(description);
        let payload = serde_json::to_string(&event)
            .ok()
            .and_then(|s| RawValue::from_string(s).ok())
            .ok_or_else(|| ProcessError::Permanent("jira payload does not serialize".into()))?;
        Ok(Cow::Owned(Envelope {
            payload,
            ..envelope.clone()
        }))
    }

    fn decide(&self, envelope: &Envelope) -> Result<Decision, ProcessError> {
        let Some(site) = self.config.tenant(&envelope.tenant) else {
            return Ok(Decision::Ignore("site is no longer configured"));
        };
        let event: JiraEvent = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("jira payload does not parse: {e}")))?;
        Ok(triggers::decide(&self.config, site, envelope, &event))
    }

    fn source(&self) -> &dyn SourceClient {
        self.client.as_ref()
    }

    fn unlinked_notice(&self, trigger: &Trigger) -> String {
        format!(
            "[~accountid:{}] I can't start OpenHands for you yet: your Jira account is not linked to an OpenHands \
             identity. {}",
            trigger.actor.id, self.link_help
        )
    }
}
