//! `hookline-console`: the console Lambda. The operator console's pages (deliveries, runs) behind API Gateway,
//! reading the deployment's DynamoDB table; the operator token and session key come from Secrets Manager.
//!
//! Wiring only: see [`hookline::aws::lambda::run_console_function`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookline::aws::lambda::run_console_function().await
}
