//! Integration tests: one binary, one module per area.
mod openhands_client;
mod aws_adapters;
