//! Integration tests: one binary, one module per area.
mod github_client;
mod openhands_client;
mod aws_adapters;
mod e2e_github;
