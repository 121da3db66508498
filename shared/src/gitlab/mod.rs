//! The GitLab provider (gitlab.com and self-managed instances).
//!
//! - [`config`]: the tenants (one per GitLab instance), loaded from `GITLAB_TENANTS` and `GITLAB_[<TENANT>_]*`.
//! - [`verify`]: the webhook side, [`GitlabIntake`]: `X-Gitlab-Token` and the Standard Webhooks signing mode.
//! - [`event`]: the webhook payloads as delivered, and the trimmed [`event::GitlabEvent`] that is queued.
//! - `triggers`: the trigger matrix, pure.
//! - `module`: the worker side, [`GitlabModule`].
//! - [`client`]: [`client::GitlabClient`], notes, discussions, award emoji and the members API.
//!
//! The tenant always comes from the webhook URL (`/webhooks/gitlab/<tenant>`), never from the payload, and
//! selects the secrets: `<prefix>/<tenant>/webhook-token`, `…/signing-secret` and `…/api-token` (`<prefix>` is
//! `GITLAB_SECRET_PREFIX`, by default `gitlab`).

pub mod client;
pub mod config;
pub mod event;
mod module;
mod triggers;
pub mod verify;

pub use client::GitlabClient;
pub use config::{GitlabConfig, GitlabTenant, Verification};
pub use module::GitlabModule;
pub use verify::GitlabIntake;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::provider::{ProviderModule, Wiring};

/// GitLab's worker side, for the registry: its REST client, which also reads each event's item back.
pub fn module(config: &GitlabConfig, wiring: &Wiring) -> Arc<dyn ProviderModule> {
    let client = Arc::new(client::GitlabClient::new(config.clone(), &wiring.outbound));
    let items = module::ReadBackFrom {
        config: config.clone(),
        items: client.clone(),
    };
    wiring.module(config, client, items)
}

/// Where a GitLab run reports: the issue or merge request, and what exactly triggered it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitlabSource {
    /// Tenant (GitLab instance) name, as in the webhook URL.
    pub tenant: String,
    /// Numeric project id (stable across renames and transfers).
    pub project_id: u64,
    /// `group/subgroup/project`, for messages and logs.
    pub project_path: String,
    pub noteable: Noteable,
    /// Per-project number of the issue or merge request.
    pub iid: u64,
    /// Web URL of the issue or merge request (links to the status note are built from it).
    pub web_url: String,
    pub target: GitlabTarget,
    /// GitLab user id of the person who triggered the run. Kept here because the members API is keyed by user
    /// id, while [`crate::ports::SourceClient::access`] is handed only the username.
    pub actor_id: u64,
    /// The trigger was an internal (confidential) note: Hookline's notes are internal too.
    #[serde(default)]
    pub internal: bool,
    /// SHA-256 (hex) of the triggering note's text as delivered: the worker re-reads the note and acts only
    /// when GitLab confirms it, since one instance-wide webhook token lets any hook owner sign anything.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note_sha256: String,
}

/// The digest [`GitlabSource::note_sha256`] holds: of the note's text, cut as the queued event cuts it.
pub fn note_digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let cut = crate::text::cut_to(text.to_owned(), event::MAX_FIELD_BYTES);
    hex::encode(Sha256::digest(cut.as_bytes()))
}

/// Issue or merge request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Noteable {
    Issue,
    MergeRequest,
}

impl Noteable {
    /// The REST path segment: `issues` or `merge_requests`.
    pub fn api_segment(self) -> &'static str {
        match self {
            Noteable::Issue => "issues",
            Noteable::MergeRequest => "merge_requests",
        }
    }

    /// `issue` or `mr`, for keys.
    pub fn key(self) -> &'static str {
        match self {
            Noteable::Issue => "issue",
            Noteable::MergeRequest => "mr",
        }
    }

    /// GitLab's reference sigil: `#` for issues, `!` for merge requests.
    pub fn sigil(self) -> char {
        match self {
            Noteable::Issue => '#',
            Noteable::MergeRequest => '!',
        }
    }
}

/// What triggered a GitLab run; decides where the `eyes` award goes and where the status note lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GitlabTarget {
    /// The issue or merge request itself (label trigger): award on it, status as a top-level note.
    Item,
    /// A top-level note: award on the note, status as a top-level note.
    Note { note_id: u64 },
    /// A note in a threaded discussion (an inline diff note when `inline`): award on the note, status as a
    /// reply in the same discussion.
    Discussion {
        note_id: u64,
        discussion_id: String,
        inline: bool,
    },
}

impl GitlabTarget {
    /// The triggering note, if a note triggered the run.
    pub fn note_id(&self) -> Option<u64> {
        match self {
            GitlabTarget::Item => None,
            GitlabTarget::Note { note_id } | GitlabTarget::Discussion { note_id, .. } => Some(*note_id),
        }
    }

    /// The discussion Hookline's notes go into, if any.
    pub fn discussion_id(&self) -> Option<&str> {
        match self {
            GitlabTarget::Discussion { discussion_id, .. } => Some(discussion_id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
