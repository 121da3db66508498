//! Test support.
pub mod fake_github;
pub mod fake_gitlab;
pub mod fake_jira;
pub mod fake_linear;
pub mod fake_openhands;
pub mod fake_slack;
pub mod harness;
