//! AWS adapters of the ports: [`DynamoStore`] (delivery claims, runs, thread pointers and identity links in one
//! DynamoDB table), [`SqsQueue`] (an SQS FIFO queue) and [`SecretsManagerSecrets`] (Secrets Manager with an
//! in-memory TTL cache).
//!
//! SDK types stay inside this module: adapters take SDK clients in their constructors, but every port method
//! speaks domain types and reports failures as [`PortError`], classified in one place (`classify`).
//!
//! Configuration comes from the standard AWS sources through [`sdk_config`]; pointing the adapters at an
//! emulator (moto, see `tests/aws/moto.sh`) needs only the standard `AWS_ENDPOINT_URL` variable, no code.

pub mod dead_letters;
pub mod dynamo;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "lambda")]
pub mod logging;
pub mod secrets;
pub mod sqs;

pub use dead_letters::SqsDeadLetters;
pub use dynamo::DynamoStore;
pub use secrets::SecretsManagerSecrets;
pub use sqs::SqsQueue;

use aws_config::BehaviorVersion;
// Every service crate aliases the same smithy `SdkError` (and re-exports the same metadata trait), so one
// classifier serves all three; the alias is taken from DynamoDB's crate only because it has to come from one.
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::error::PortError;

/// Shared AWS configuration from the default provider chain: region, credentials (the Lambda execution role's,
/// from the environment), retry and timeout defaults of the latest behaviour version.
///
/// The standard `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_<SERVICE>`) environment variable overrides the
/// endpoint of every client built from it, which is how tests and local runs reach moto: no endpoint plumbing
/// exists in code.
pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_loader().load().await
}

/// The loader behind [`sdk_config`], for callers that set more (tests pin region, credentials and endpoint).
///
/// The HTTPS client is rustls on ring, built here because the SDK's default client brings aws-lc-rs, which
/// costs about 1.3 MB in every Lambda package and a little cold start.
pub fn sdk_loader() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::{
        tls::{rustls_provider::CryptoMode, Provider},
        Builder,
    };
    let http_client = Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client)
}

/// Error codes that mean "busy or briefly broken, try again later", in addition to any 5xx or 429 answer.
/// The list mirrors the SDK's own retry classifier plus the DynamoDB / SQS specific ones.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "RequestThrottled",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TransactionInProgressException",
    "TransactionConflictException",
    "ReplicatedWriteConflictException",
    "KmsThrottled",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalServerError",
    "InternalServiceError",
    "InternalFailure",
    "ServiceUnavailable",
];

/// Classify an SDK failure: throttling, 5xx, timeouts and connection failures are transient; anything else the
/// service refused is permanent. Callers handle the answers that mean "no" (conditional check failed, not
/// found) before falling back to this.
pub(crate) fn classify<E>(what: &str, err: SdkError<E>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let detail = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let code = err.code().unwrap_or_default();
            if status >= 500 || status == 429 || TRANSIENT_CODES.contains(&code) {
                PortError::transient(what, detail)
            } else {
                PortError::Permanent {
                    what: what.to_owned(),
                    status: Some(status),
                    detail,
                }
            }
        }
        // No answer, half an answer, or one we could not parse: the request may not have happened.
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => PortError::transient(what, detail),
        SdkError::DispatchFailure(failure) if !failure.is_user() => PortError::transient(what, detail),
        // Construction failures and user-caused dispatch failures (bad endpoint, missing credentials) will
        // fail the same way next time.
        _ => PortError::permanent(what, detail),
    }
}

/// Whether the service refused a request because its condition expression did not hold.
pub(crate) fn is_conditional_check_failed<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    matches!(err, SdkError::ServiceError(_)) && err.code() == Some("ConditionalCheckFailedException")
}
