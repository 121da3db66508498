//! Webhook signature verification primitives (constant-time).
