//! Lambda edge glue: the AWS twin of the local host's wiring. Each function's `main` loads its [`ColdStart`]
//! ([`Config`] and [`AwsConfig`]), builds its services once per cold start ([`setup`]), and hands one of these handlers to
//! `lambda_http::run` / `lambda_runtime::run`:
//!
//! - [`http_handler`] ([`http`]): API Gateway HTTP API (payload v2) and REST API (v1) requests, through the one
//!   route table ([`crate::routes`]). The body is taken as raw bytes, so signatures are checked on exactly what
//!   the provider sent (lambda_http has already undone any base64 transport encoding).
//! - [`sqs_handler`] ([`batch`]): SQS batches for the worker, with partial batch failures that respect FIFO order
//!   and the invocation's deadline.
//! - [`callback_handler`] and [`sweep_handler`] ([`schedule`]): the callback function's single entry point,
//!   which receives both API Gateway requests and the EventBridge schedule and answers each in the format its
//!   caller expects.
//!
//! Nothing here decides anything about a webhook; it only translates Lambda events to the shared handlers'
//! framework-neutral types and back.
//!
//! [`Config`]: crate::config::Config

pub mod batch;
pub mod http;
pub mod schedule;
pub mod setup;

pub use batch::{sqs_handler, start_margin};
pub use http::{http_handler, run_webhook_function};
pub use schedule::{callback_handler, is_scheduled_event, sweep_handler};
pub use setup::{callback_services, webhook_services, worker_services, AwsConfig, ColdStart, SetupError};
#[cfg(feature = "console")]
pub use {http::run_console_function, setup::console_services};
