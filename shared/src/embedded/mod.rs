//! Embedded adapters for the local host: SQLite store and durable queue, secrets from a file or env.
