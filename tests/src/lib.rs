//! Test support.
pub mod fake_github;
pub mod fake_openhands;
pub mod harness;
