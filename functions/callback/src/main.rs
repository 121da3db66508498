//! `hookline-callback`: the callback Lambda. One function receives the agent server's webhooks through API
//! Gateway and the EventBridge schedule that runs the sweep.
//!
//! Wiring only: settings and clients are built once per cold start, then every event goes through
//! [`hookline::aws::lambda::callback_handler`], which tells the two kinds apart.

use hookline::{
    aws::{
        lambda::{callback_handler, callback_services, AwsConfig},
        sdk_config,
    },
    config::Config,
};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hookline::aws::logging::init_tracing();
    let config = Config::from_env()?;
    let aws = AwsConfig::from_env()?;
    let services = callback_services(&config, &aws, &sdk_config().await).await?;
    let services = &services;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        callback_handler(services, event)
    }))
    .await
}
