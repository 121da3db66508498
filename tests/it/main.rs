//! Integration tests: one binary, one module per area.
mod admin;
mod aws_adapters;
mod e2e_github;
mod e2e_gitlab;
mod e2e_jira;
mod e2e_linear;
mod e2e_slack;
mod github_client;
mod intake_properties;
mod lambda_handlers;
mod lambda_world;
mod lifecycle;
mod openhands_client;
mod provider_scenarios;
mod real_lifecycle;
mod real_openhands;
mod slack_client;
