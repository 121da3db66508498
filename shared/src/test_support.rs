//! Helpers shared by the providers' unit tests.

use crate::{
    domain::{Actor, Envelope, SourceRef, Trigger},
    error::WebhookError,
    http::HttpRequest,
    provider::{Decision, Intake, ProviderIntake},
};

/// What `module` makes of a webhook POST of `body` with `headers` to `path`, at `now` (epoch seconds).
pub(crate) async fn post(
    module: &dyn ProviderIntake,
    path: &str,
    body: &[u8],
    headers: &http::HeaderMap,
    now: u64,
) -> Result<Intake, WebhookError> {
    let request = HttpRequest {
        method: "POST",
        path,
        query: "",
        headers,
        body,
    };
    module.intake(&request, now).await
}

/// A header map of `(name, value)` pairs.
pub(crate) fn header_map(pairs: &[(&str, &str)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            http::HeaderValue::from_str(value).expect("header value"),
        );
    }
    map
}

/// A trigger by the person with account `id` and name `login`, on `source` in `tenant`, that knows nothing else
/// (no repository, git provider, title or prompt): for tests of what is said to that person.
pub(crate) fn trigger_by(id: &str, login: &str, tenant: &str, source: SourceRef) -> Trigger {
    Trigger {
        provider: source.provider(),
        tenant: tenant.into(),
        thread_key: String::new(),
        run_key: String::new(),
        actor: Actor {
            id: id.into(),
            login: login.into(),
        },
        source,
        repository: None,
        repository_named: false,
        branch: None,
        git_provider: String::new(),
        title: String::new(),
        prompt: Default::default(),
        occurred_at: 0,
        intent: Default::default(),
        stop_only: None,
    }
}

/// The envelope an intake accepted.
pub(crate) fn accepted(result: Result<Intake, WebhookError>) -> Envelope {
    match result {
        Ok(Intake::Accept(envelope)) => envelope,
        other => panic!("expected Accept, got {other:?}"),
    }
}

/// The trigger a decision runs.
pub(crate) fn run(decision: Decision) -> Trigger {
    match decision {
        Decision::Run(trigger) => *trigger,
        other => panic!("expected Run, got {other:?}"),
    }
}

/// Why a decision ignores its event.
pub(crate) fn ignore_reason(decision: Decision) -> &'static str {
    match decision {
        Decision::Ignore(reason) => reason,
        other => panic!("expected Ignore, got {other:?}"),
    }
}
