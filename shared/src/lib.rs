//! Hookline core: everything that decides what happens to a webhook, written once and wired to AWS, to the
//! embedded local host, or to in-memory fakes through the ports in [`ports`].
//!
//! Crate map:
//! - [`domain`]: provider-neutral types (envelopes, triggers, runs, identity links).
//! - [`ports`]: the traits every adapter implements (queue, stores, secrets, OpenHands, provider APIs).
//! - [`error`]: one error type per boundary and the single place each maps to HTTP status or queue retry.
//! - [`verify`], [`text`]: signature checks and untrusted-text handling.
//! - [`github`], [`gitlab`], [`slack`], [`jira`], [`linear`]: the providers (webhook intake, triggers, API
//!   clients), each behind [`provider::ProviderModule`].
//! - [`openhands`]: the OpenHands V1 app-server client.
//! - `outbound`: the one HTTP toolkit those six API clients share (timeouts, answer classification, rate-limit
//!   waits, error details that never echo credentials, status markers, bodies cut to size).
//! - [`repo_hint`]: which repository a run works on when its trigger names one only in text (Slack, Jira,
//!   Linear).
//! - [`handlers`]: the webhook, worker and callback handlers, generic over the ports.
//! - `console` (feature): the operator console's pages (deliveries, runs, dead letters).
//! - [`memory`]: in-memory adapters for unit tests; `embedded` (SQLite) and `aws` behind features.
//! - `conformance` (tests, or the `conformance` feature): the storage-port checks every store adapter passes.

pub mod assemble;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod github;
pub mod gitlab;
pub mod handlers;
pub mod http;
pub mod invite;
pub mod jira;
pub mod linear;
pub mod memory;
pub mod openhands;
pub mod options;
mod outbound;
pub mod ports;
pub mod provider;
pub mod registry;
pub mod repo_hint;
pub mod routes;
pub mod secret;
pub mod sign_in;
pub mod slack;
pub mod text;
pub mod verify;

#[cfg(test)]
mod test_support;

#[cfg(feature = "embedded")]
pub mod embedded;

#[cfg(feature = "console")]
pub mod console;

#[cfg(feature = "aws")]
pub mod aws;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
