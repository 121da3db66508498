//! The callback function's entry point and the EventBridge schedule's sweep.

use std::convert::Infallible;

use lambda_http::{request::LambdaRequest, tower::ServiceExt, Adapter, Request};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::http::http_handler;
use crate::{
    handlers::{
        sweep::{self, SweepReport},
        Services,
    },
    routes::Served,
};

/// Run one sweep (the EventBridge schedule's invocation) and return its [`SweepReport`] as JSON
/// (`{"examined": …, "concluded": …, "failed": …}`), which ends up in the invocation log.
pub async fn sweep_handler(services: &Services) -> serde_json::Value {
    report_json(&sweep::sweep(services).await)
}

fn report_json(report: &SweepReport) -> serde_json::Value {
    serde_json::json!({
        "examined": report.examined,
        "concluded": report.concluded,
        "failed": report.failed,
        "deferred": report.deferred,
    })
}

/// The two top-level fields that tell an EventBridge event from an API Gateway request (which has neither).
#[derive(Deserialize)]
struct EventHead {
    #[serde(rename = "detail-type", default)]
    detail_type: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

/// Whether a raw invocation payload is the EventBridge schedule (`"source": "aws.events"`,
/// `"detail-type": "Scheduled Event"`).
pub fn is_scheduled_event(payload: &str) -> bool {
    serde_json::from_str::<EventHead>(payload).is_ok_and(|head| {
        head.source.as_deref() == Some("aws.events") || head.detail_type.as_deref() == Some("Scheduled Event")
    })
}

/// The callback function's entry point: one function receives the agent server's callbacks through API
/// Gateway and the sweep schedule through EventBridge, so it dispatches on the raw event. A schedule runs
/// [`sweep_handler`]; anything else must be an API Gateway request, which goes through [`http_handler`] and
/// is answered in the format of the request's payload version (lambda_http's own [`Adapter`], the same one
/// `lambda_http::run` uses). An event that is neither is an invocation error.
pub async fn callback_handler(
    services: &Services,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let LambdaEvent { payload, context } = event;
    if is_scheduled_event(payload.get()) {
        return Ok(sweep_handler(services).await);
    }
    let request: LambdaRequest = serde_json::from_str(payload.get())?;
    let served = Served {
        run: Some(services),
        ..Default::default()
    };
    let adapter = Adapter::from(lambda_http::service_fn(|request: Request| async move {
        Ok::<_, Infallible>(http_handler(served, request).await)
    }));
    let response = adapter.oneshot(LambdaEvent::new(request, context)).await?;
    Ok(serde_json::to_value(response)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_events_are_told_from_http_events() {
        assert!(is_scheduled_event(
            r#"{"version":"0","source":"aws.events","detail-type":"Scheduled Event","detail":{}}"#
        ));
        assert!(!is_scheduled_event(
            r#"{"version":"2.0","rawPath":"/api/v1/webhooks/conversations","body":"{}"}"#
        ));
        assert!(!is_scheduled_event(
            r#"{"httpMethod":"POST","path":"/x","headers":{"source":"aws.events"}}"#
        ));
        assert!(!is_scheduled_event("[1, 2]"));
        assert!(!is_scheduled_event(r#"{"source": 3}"#));
    }
}
