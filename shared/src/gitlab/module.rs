//! GitLab's worker side: the item read back from GitLab, then its trigger rules ([`super::triggers`]) over the
//! REST client, per instance (tenant).

use std::{borrow::Cow, sync::Arc};

use async_trait::async_trait;

use super::{
    client::{ItemReader, ItemRef},
    event::{GitlabEvent, HookKind, ReadBack},
    triggers, GitlabConfig,
};
use crate::{
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    provider::{parse_event, with_event, Decision, Enrich, WorkerRules, WorkerSide},
};

/// GitLab's worker side: every configured instance (tenant). Its `extra` reads each event's item back from
/// GitLab before the rules decide.
pub type GitlabModule = WorkerSide<GitlabConfig, ReadBackFrom>;

/// Reads an event's item back from GitLab (usually through the same [`super::GitlabClient`] as the worker's
/// client), for events the rules could act on.
pub struct ReadBackFrom {
    pub config: GitlabConfig,
    pub items: Arc<dyn ItemReader>,
}

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

#[async_trait]
impl Enrich for ReadBackFrom {
    /// One instance-wide webhook token lets every hook owner sign any payload, so what a run is made of — the
    /// project's path, the item's title, description, link and branch, who added a label, who assigned the bot
    /// and when — is read back from GitLab with the bot's token and replaces the hook's copy. An item the bot
    /// cannot see is left unconfirmed, and the rules start nothing for it.
    async fn enrich<'a>(&self, envelope: &'a Envelope) -> Result<Cow<'a, Envelope>, ProcessError> {
        let mut event = parse_event::<GitlabConfig>(envelope)?;
        let worth_it = self
            .config
            .tenant(&envelope.tenant)
            .is_some_and(|tenant| triggers::worth_reading_back(tenant, &event));
        if !worth_it {
            return Ok(Cow::Borrowed(envelope));
        }
        let item = ItemRef {
            tenant: &envelope.tenant,
            project_id: event.project.id,
            noteable: event.item.noteable,
            iid: event.item.iid,
        };
        let read = match self.items.read_item(item).await {
            Ok(read) => read,
            Err(err) if err.is_transient() => return Err(err.into()),
            Err(err) => {
                tracing::warn!(tenant = %envelope.tenant, project = item.project_id, iid = item.iid, error = %err, "could not read the item back from GitLab");
                None
            }
        };
        let Some(read) = read else {
            tracing::warn!(tenant = %envelope.tenant, project = item.project_id, iid = item.iid, "GitLab does not show this item to the bot; a forged hook?");
            return Ok(Cow::Borrowed(envelope));
        };
        let labels = match event.hook {
            HookKind::Issue | HookKind::MergeRequest if !event.labels_added.is_empty() => {
                self.items
                    .labels_added(item, event.user.id, &event.labels_added)
                    .await?
            }
            _ => Vec::new(),
        };
        let assignments = match self.config.tenant(&envelope.tenant) {
            Some(tenant) if triggers::assigns_bot(tenant, &event) => {
                self.items
                    .assignments(item, event.user.id, &tenant.bot_username)
                    .await?
            }
            _ => Vec::new(),
        };
        event.project.path = read.project_path;
        event.item.title = read.title;
        event.item.description = read.description;
        if !read.web_url.is_empty() {
            event.item.url = read.web_url;
        }
        event.item.source_branch = read.source_branch;
        event.item.fork_path = read.fork_path;
        event.read_back = Some(ReadBack {
            labels,
            author_id: read.author_id,
            assignees: read.assignees,
            updated_at: read.updated_at,
            assignments,
        });
        with_event::<GitlabConfig>(envelope, &event)
    }
}
