//! `webhook-github`: the GitHub webhook Lambda behind API Gateway (HTTP API v2 or REST v1 events).
//!
//! Wiring only: settings and clients are built once per cold start, then every request goes through
//! [`hookline::aws::lambda::http_handler`] (verify the signature on the raw body, claim the delivery in
//! DynamoDB, enqueue it on SQS, answer).

use std::convert::Infallible;

use hookline::{
    aws::{
        lambda::{http_handler, webhook_services, AwsConfig},
        sdk_config,
    },
    config::Config,
};
use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let aws = AwsConfig::from_env()?;
    let services = webhook_services(&config, &aws, &sdk_config().await)?;
    let services = &services;
    lambda_http::run(service_fn(|request: Request| async move {
        Ok::<_, Infallible>(http_handler(services, request).await)
    }))
    .await
}
