//! `hookline-worker`: the SQS worker Lambda (FIFO queue, `ReportBatchItemFailures`).
//!
//! Wiring only: settings and clients are built once per cold start, then every batch goes through
//! [`hookline::aws::lambda::sqs_handler`], which reports the records to retry.

use std::convert::Infallible;

use hookline::{
    aws::{
        lambda::{sqs_handler, start_margin, worker_services, ColdStart},
        SqsQueue,
    },
    config::Config,
};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let ColdStart { config, aws, sdk } = ColdStart::load(Config::from_env).await?;
    let services = worker_services(&config, &aws, &sdk).await?;
    // Its own queue, to delay redelivery after a Retry-After (HOOKLINE_QUEUE_URL; without it the visibility
    // timeout decides).
    let queue = aws.queue_url.as_deref().map(|url| SqsQueue::from_conf(&sdk, url));
    // Records not started this long before the invocation's deadline go back to the queue.
    let margin = start_margin(&config);
    let (services, queue) = (&services, queue.as_ref());
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| async move {
        Ok::<_, Infallible>(sqs_handler(services, queue, margin, event).await)
    }))
    .await
}
