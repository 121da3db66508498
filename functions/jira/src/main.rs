//! `webhook-jira`: the Jira Cloud webhook Lambda behind API Gateway (HTTP API v2 or REST v1 events).
//!
//! Wiring only: [`hookline::aws::lambda::run_webhook_function`] loads this provider's settings (and no other's)
//! once per cold start, then verifies each request on its raw body, claims the delivery in DynamoDB, enqueues it
//! on SQS and answers.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookline::aws::lambda::run_webhook_function(hookline::domain::Provider::Jira).await
}
