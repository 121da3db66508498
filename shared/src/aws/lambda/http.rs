//! API Gateway requests (HTTP API v2 and REST v1), answered through the one route table.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};

use super::setup::{webhook_services, ColdStart};
use crate::{
    config::Config,
    domain::Provider,
    http::HttpRequest,
    routes::{self, Served},
};

/// The whole main of a provider's webhook function: its own provider's settings and its clients once per cold
/// start, then every request through [`http_handler`]. Each provider's function is the same code configured
/// with its own provider's settings (and IAM access to that provider's secrets only).
pub async fn run_webhook_function(provider: Provider) -> Result<(), lambda_http::Error> {
    let start = ColdStart::load(|| Config::from_env_for(provider)).await?;
    let services = webhook_services(&start.config, &start.aws, &start.sdk).await?;
    serve(Served {
        intake: Some(&services),
        ..Default::default()
    })
    .await
}

/// The whole main of the console function: its settings and clients once per cold start, then every request
/// through [`http_handler`] with only the console's routes served.
#[cfg(feature = "console")]
pub async fn run_console_function() -> Result<(), lambda_http::Error> {
    let start = ColdStart::load(Config::from_env).await?;
    let console = super::setup::console_services(&start.config, &start.aws, &start.sdk)?;
    serve(Served {
        console: Some(&console),
        ..Default::default()
    })
    .await
}

/// Answer every request of this invocation environment with the routes `served` covers.
async fn serve(served: Served<'_>) -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(|request: Request| async move {
        Ok::<_, Infallible>(http_handler(served, request).await)
    }))
    .await
}

/// Answer one API Gateway request (lambda_http normalizes both payload versions into a [`Request`]) with the
/// routes `served` covers ([`routes::dispatch`]). Never fails: every error already is its HTTP answer.
pub async fn http_handler(served: Served<'_>, request: Request) -> Response<Body> {
    let http_request = HttpRequest {
        method: request.method().as_str(),
        path: request.uri().path(),
        query: request.uri().query().unwrap_or_default(),
        headers: request.headers(),
        body: request.body().as_ref(),
    };
    routes::dispatch(served, http_request).await.reply.into_response()
}

#[cfg(test)]
mod tests {
    use http::{header::CONTENT_TYPE, StatusCode};

    use super::*;
    use crate::http::HttpReply;

    #[test]
    fn a_reply_becomes_a_response_with_its_headers() {
        let response: Response<Body> = HttpReply::text(401, "invalid signature")
            .with_headers(&[("x-slack-no-retry", "1")])
            .into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["x-slack-no-retry"], "1");
        assert_eq!(response.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
    }
}
