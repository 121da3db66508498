//! A counting HTTP reverse proxy for tests: put it between a client and a server to count the calls a run
//! makes (e.g. Hookline → the real OpenHands app server).
//!
//! Every request is forwarded as it came (method, path, query, headers except hop-by-hop ones, body) to the
//! target, and the answer is returned as it is (status, headers, body; redirects are not followed). Requests
//! are counted by `"METHOD /path"`, with every path segment that is a UUID (32 hex or dashed) replaced by
//! `{id}`: `"POST /api/v1/app-conversations/{id}/send-message"`. The query is not part of the key.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    body::{to_bytes, Body},
    extract::{Request, State},
    http::{header, HeaderMap, HeaderName, StatusCode},
    response::{IntoResponse, Response},
    Router,
};

use crate::fake_core::{Listener, Locked, ServerTask};

/// Largest request body forwarded.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Headers that belong to one connection, not to the message (RFC 9110 §7.6.1), plus the ones the HTTP
/// stacks set themselves.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// A running proxy; it stops when dropped.
#[derive(Debug)]
pub struct CountingProxy {
    url: String,
    shared: Arc<Shared>,
    _server: ServerTask,
}

#[derive(Debug)]
struct Shared {
    target: String,
    http: reqwest::Client,
    counts: Locked<BTreeMap<String, usize>>,
}

impl CountingProxy {
    /// Listen on `127.0.0.1:0` and forward to `target_base_url` (e.g. `http://127.0.0.1:18300`).
    ///
    /// # Panics
    /// If no local port can be bound.
    pub async fn start(target_base_url: &str) -> CountingProxy {
        let listener = Listener::bind("the counting proxy").await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client for the counting proxy");
        let shared = Arc::new(Shared {
            target: target_base_url.trim_end_matches('/').to_owned(),
            http,
            counts: Locked::default(),
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        CountingProxy {
            url: listener.url().to_owned(),
            shared,
            _server: listener.serve_plain(app),
        }
    }

    /// Base URL to point the client at, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Requests forwarded so far, by `"METHOD /path"` (UUID segments as `{id}`).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.shared.counts.lock().clone()
    }

    /// How many requests had this key (0 if none).
    pub fn count(&self, key: &str) -> usize {
        self.counts().get(key).copied().unwrap_or(0)
    }

    /// Forget the counts so far.
    pub fn reset(&self) {
        self.shared.counts.lock().clear();
    }
}

/// `"GET /api/v1/app-conversations/{id}"` for `GET /api/v1/app-conversations/0123…?x=1`.
pub fn count_key(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let normalized: Vec<&str> = path
        .split('/')
        .map(|segment| {
            if uuid::Uuid::try_parse(segment).is_ok() {
                "{id}"
            } else {
                segment
            }
        })
        .collect();
    format!("{method} {}", normalized.join("/"))
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    *shared
        .counts
        .lock()
        .entry(count_key(parts.method.as_str(), parts.uri.path()))
        .or_default() += 1;
    let body = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(err) => return (StatusCode::BAD_REQUEST, format!("counting proxy: {err}")).into_response(),
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut headers = parts.headers;
    strip(&mut headers);
    headers.remove(header::HOST);
    headers.remove(header::CONTENT_LENGTH);
    let answer = shared
        .http
        .request(parts.method, format!("{}{path_and_query}", shared.target))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(err) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("counting proxy: target unreachable: {err}"),
            )
                .into_response()
        }
    };
    let status = answer.status();
    let mut headers = answer.headers().clone();
    let body = match answer.bytes().await {
        Ok(body) => body,
        Err(err) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("counting proxy: reading the answer failed: {err}"),
            )
                .into_response()
        }
    };
    strip(&mut headers);
    headers.remove(header::CONTENT_LENGTH);
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn strip(headers: &mut HeaderMap) {
    // Also whatever the Connection header names.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::count_key;

    #[test]
    fn keys_replace_uuid_segments_and_drop_the_query() {
        assert_eq!(
            count_key(
                "POST",
                "/api/v1/app-conversations/0123456789abcdef0123456789abcdef/send-message"
            ),
            "POST /api/v1/app-conversations/{id}/send-message"
        );
        assert_eq!(
            count_key(
                "GET",
                "/api/v1/app-conversations/01234567-89ab-cdef-0123-456789abcdef?x=1"
            ),
            "GET /api/v1/app-conversations/{id}"
        );
        assert_eq!(
            count_key("GET", "/api/v1/app-conversations"),
            "GET /api/v1/app-conversations"
        );
        assert_eq!(
            count_key("GET", "/api/v1/app-conversations/start-tasks"),
            "GET /api/v1/app-conversations/start-tasks"
        );
    }
}
