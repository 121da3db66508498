//! The one route table, used by both hosts (the local host's HTTP server and the Lambda functions behind API
//! Gateway). Routes match on the path's suffix, so a stage prefix (`/prod/webhooks/github`) or a custom-domain
//! base path does not matter.
//!
//! | Route | Handler |
//! |---|---|
//! | `POST …/api/v1/webhooks/events/{id}`, `POST …/api/v1/webhooks/conversations` | [`callback::handle`] |
//! | `POST …/webhooks/{provider}`, `POST …/webhooks/{provider}/{tenant}` | [`webhook::handle`] |
//! | `GET …/healthz` | `ok` |
//! | `…/console`, `…/console/…` | `console::handle` (hosts built with the `console` feature) |
//!
//! A process serves the routes whose services it holds; any other path is 404.

use crate::{
    error::WebhookError,
    handlers::{
        callback,
        webhook::{self, Handled},
        IntakeServices, Services,
    },
    http::{HttpReply, HttpRequest},
};

/// Where a path goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'p> {
    /// A provider's webhook; the provider's intake reads the tenant from the path itself.
    Webhook {
        provider: &'p str,
    },
    /// The agent server's callbacks.
    Callback,
    /// The operator console's pages.
    Console,
    Health,
    NotFound,
}

impl<'p> Route<'p> {
    pub fn of(path: &'p str) -> Self {
        // Callback paths first: `/api/v1/webhooks/conversations` would otherwise look like a provider route.
        if callback::is_callback_path(path) {
            return Route::Callback;
        }
        if path.ends_with("/healthz") {
            return Route::Health;
        }
        match webhook_provider(path) {
            Some(provider) => Route::Webhook { provider },
            None if console_base(path).is_some() => Route::Console,
            None => Route::NotFound,
        }
    }
}

/// The services a process serves routes with; a route whose services are absent is 404.
#[derive(Clone, Copy, Default)]
pub struct Served<'s> {
    pub intake: Option<&'s IntakeServices>,
    pub run: Option<&'s Services>,
    #[cfg(feature = "console")]
    pub console: Option<&'s crate::console::ConsoleServices>,
}

/// Answer one request. Never fails: every error already is its HTTP answer.
pub async fn dispatch(served: Served<'_>, request: HttpRequest<'_>) -> Handled {
    let reply = match (Route::of(request.path), served) {
        (Route::Callback, Served { run: Some(run), .. }) => callback::handle(run, request).await,
        (
            Route::Webhook { provider },
            Served {
                intake: Some(intake), ..
            },
        ) => return webhook::handle(intake, provider, request).await,
        #[cfg(feature = "console")]
        (
            Route::Console,
            Served {
                console: Some(console),
                ..
            },
        ) => return crate::console::handle(console, request).await,
        (Route::Health, _) if request.method == "GET" => HttpReply::text(200, "ok"),
        _ => WebhookError::NotFound.into_reply(),
    };
    Handled::answer(reply)
}

/// The largest body a process with these services accepts, so a host can stop reading past it.
pub fn body_limit(served: Served<'_>) -> usize {
    served
        .intake
        .map(|s| s.settings.max_body_bytes)
        .or(served.run.map(|s| s.settings.max_body_bytes))
        .unwrap_or(0)
}

/// The console's base path in `path` (`…/console`) when `path` is the console or below it.
pub fn console_base(path: &str) -> Option<&str> {
    let at = path.find("/console")?;
    let end = at + "/console".len();
    matches!(path.as_bytes().get(end), None | Some(b'/')).then(|| &path[..end])
}

/// The `{provider}` of a path ending in `/webhooks/{provider}` or `/webhooks/{provider}/{tenant}` (an optional
/// trailing slash allowed).
fn webhook_provider(path: &str) -> Option<&str> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let (prefix, last) = path.rsplit_once('/')?;
    if prefix.ends_with("/webhooks") && !last.is_empty() {
        return Some(last);
    }
    let (prefix, provider) = prefix.rsplit_once('/')?;
    (prefix.ends_with("/webhooks") && !provider.is_empty() && !last.is_empty()).then_some(provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_on_the_suffix() {
        let webhook = |provider| Route::Webhook { provider };
        assert_eq!(Route::of("/webhooks/github"), webhook("github"));
        assert_eq!(Route::of("/prod/webhooks/github"), webhook("github"));
        assert_eq!(Route::of("/webhooks/github/"), webhook("github"));
        assert_eq!(Route::of("/webhooks/gitlab/git.example.com"), webhook("gitlab"));
        assert_eq!(
            Route::of("/prod/webhooks/jira/acme.atlassian.net/"),
            webhook("jira")
        );
        for path in [
            "/webhooks/",
            "/webhooks",
            "/hooks/github",
            "/mywebhooks/github",
            "/webhooks/a/b/c",
            "/webhooks//tenant",
        ] {
            assert_eq!(Route::of(path), Route::NotFound, "{path}");
        }
        assert_eq!(Route::of("/api/v1/webhooks/conversations"), Route::Callback);
        assert_eq!(Route::of("/prod/api/v1/webhooks/events/abc"), Route::Callback);
        assert_eq!(Route::of("/healthz"), Route::Health);
        assert_eq!(Route::of("/console"), Route::Console);
        assert_eq!(Route::of("/prod/console/runs"), Route::Console);
        assert_eq!(Route::of("/webhooks/console"), webhook("console"));
        assert_eq!(Route::of("/consoles"), Route::NotFound);
        assert_eq!(console_base("/prod/console/runs"), Some("/prod/console"));
    }
}
