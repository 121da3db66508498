//! [`JiraModule`]: Jira's worker side: reading what a comment event lacks, the trigger decisions
//! ([`super::triggers`]) and the REST client.

use std::{borrow::Cow, sync::Arc};

use async_trait::async_trait;

use super::{client::IssueReader, event::JiraEvent, triggers, JiraConfig};
use crate::{
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    provider::{parse_event, with_event, Decision, Enrich, WorkerRules, WorkerSide},
};

/// Jira's worker side. Its `extra` reads the description in the worker when a comment event lacks it (usually
/// the same [`super::client::JiraClient`] as the client; `None` goes without it).
pub type JiraModule = WorkerSide<JiraConfig, Option<Arc<dyn IssueReader>>>;

impl WorkerRules for JiraConfig {
    const PROVIDER: Provider = Provider::Jira;
    type Event = JiraEvent;

    fn decide(&self, envelope: &Envelope, event: JiraEvent) -> Result<Decision, ProcessError> {
        let Some(site) = self.tenant(&envelope.tenant) else {
            return Ok(Decision::Ignore("site is no longer configured"));
        };
        Ok(triggers::decide(self, site, envelope, &event))
    }

    fn unlinked(&self, trigger: &Trigger) -> (String, String) {
        (
            format!("[~accountid:{}]", trigger.actor.id),
            "Jira account".into(),
        )
    }
}

#[async_trait]
impl Enrich for Option<Arc<dyn IssueReader>> {
    /// Comment events carry only a few issue fields; the description (where the repository is often named) is
    /// read here, once per attempt, so the decision can stay pure. A permanent failure goes on without it.
    async fn enrich<'a>(&self, envelope: &'a Envelope) -> Result<Cow<'a, Envelope>, ProcessError> {
        let Some(issues) = self else {
            return Ok(Cow::Borrowed(envelope));
        };
        let mut event = parse_event::<JiraConfig>(envelope)?;
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
        with_event::<JiraConfig>(envelope, &event)
    }
}
