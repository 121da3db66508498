//! `hookline-worker`: the SQS worker Lambda (FIFO queue, `ReportBatchItemFailures`).
//!
//! Wiring only: settings and clients are built once per cold start, then every batch goes through
//! [`hookline::aws::lambda::sqs_handler`], which reports the records to retry.

use std::convert::Infallible;

use hookline::{
    aws::{
        lambda::{full_services, sqs_handler, AwsConfig},
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
    let services = full_services(&config, &aws, &sdk_config().await)?;
    let services = &services;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| async move {
        Ok::<_, Infallible>(sqs_handler(services, event).await)
    }))
    .await
}
