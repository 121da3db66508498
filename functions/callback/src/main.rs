//! `hookline-callback`: the callback Lambda. One function receives the agent server's webhooks through API
//! Gateway and the EventBridge schedule that runs the sweep.
//!
//! Wiring only: settings and clients are built once per cold start, then every event goes through
//! [`hookline::aws::lambda::callback_handler`], which tells the two kinds apart.

use hookline::{
    aws::lambda::{callback_handler, callback_services, ColdStart},
    config::Config,
};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let start = ColdStart::load(Config::from_env).await?;
    let services = callback_services(&start.config, &start.aws, &start.sdk).await?;
    let services = &services;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        callback_handler(services, event)
    }))
    .await
}
