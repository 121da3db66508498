//! The seam where providers plug in: one [`ProviderModule`] per provider bundles its webhook intake, its trigger
//! decisions and its API client. The handlers never name a provider.

use std::borrow::Cow;

use async_trait::async_trait;

use crate::{
    domain::{Envelope, Provider, Trigger},
    error::{ProcessError, WebhookError},
    http::{HttpReply, HttpRequest},
    ports::SourceClient,
};

/// What a verified webhook request amounts to.
#[derive(Debug)]
pub enum Intake {
    /// Answer directly and enqueue nothing (GitHub `ping`, Slack `url_verification`).
    Reply(HttpReply),
    /// Verified, but can never trigger anything: answer 2xx and enqueue nothing.
    Ignore(&'static str),
    /// Verified and possibly a trigger: claim the delivery and enqueue it.
    Accept(Envelope),
}

/// The worker's verdict on one envelope.
#[derive(Debug)]
pub enum Decision {
    /// Not a trigger (edit, bot, own comment, no mention, …); the reason is logged.
    Ignore(&'static str),
    Run(Box<Trigger>),
    /// Not a run yet, but the person should hear back once (e.g. "which repository?"). `key` makes the notice
    /// one-shot across retries.
    Notice {
        source: Box<crate::domain::SourceRef>,
        key: String,
        text: String,
    },
}

/// Everything provider-specific, behind one object.
#[async_trait]
pub trait ProviderModule: Send + Sync {
    fn provider(&self) -> Provider;
    /// Verify the request on its raw bytes (401 on failure), then parse it. `now` is epoch seconds.
    async fn intake(&self, request: &HttpRequest<'_>, now: u64) -> Result<Intake, WebhookError>;
    /// Fill in, before [`ProviderModule::decide`], what the delivery did not carry and only an API read can
    /// give (Jira comment events lack the issue description). Runs in the worker, where the API clients are, so
    /// the webhook path stays free of outbound calls; a transient failure retries through the queue. The
    /// default needs nothing.
    async fn enrich<'a>(&self, envelope: &'a Envelope) -> Result<Cow<'a, Envelope>, ProcessError> {
        Ok(Cow::Borrowed(envelope))
    }
    /// Decide whether a queued envelope is a trigger. Pure: no I/O.
    fn decide(&self, envelope: &Envelope) -> Result<Decision, ProcessError>;
    /// The provider's API client.
    fn source(&self) -> &dyn SourceClient;
    /// Text telling an unlinked person how to get linked (Markdown in the provider's flavour).
    fn unlinked_notice(&self, trigger: &Trigger) -> String;
}
