//! The plumbing every fake server in this crate shares: a port on `127.0.0.1`, a request log, failures and
//! delays injected ahead of the fake's own handling, shutdown on drop, and state behind a lock that a panicking
//! test cannot poison.
//!
//! A fake is an axum [`Router`] over its own state. [`Listener::bind`] takes a port first, so that state can
//! know its base URL (for `Link` headers, `conversation_url`s …); [`Listener::serve`] wraps the router in the
//! recording layer and serves it until the returned [`FakeServer`] is dropped. For every request in the
//! [`Recording`]'s scope, in this order:
//!
//! 1. it is recorded as a [`RecordedRequest`] (method, path, query, JSON body, the chosen headers);
//! 2. the delay set with [`FakeServer::delay_next_request`] passes;
//! 3. the oldest queued [`InjectedFailure`] whose matcher accepts it answers instead of the fake (each is used
//!    once), before the fake's own authentication;
//! 4. otherwise the router answers, and the answer waits for [`FakeServer::delay_next_answer`], if set.
//!
//! A fake's catch-all handler takes the request as an [`Incoming`]; [`query_map`], [`percent_decode`],
//! [`status_code`] and [`reason`] are the small helpers the fakes share.

use std::{
    collections::{BTreeMap, VecDeque},
    marker::PhantomData,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::{FromRequest, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    Json, Router,
};
use serde_json::Value;

/// Largest request body a fake reads.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A mutex whose poisoning is ignored: a test that panicked while holding it must not hide its own failure
/// behind a poison error in the next assertion. Every critical section in the fakes leaves their state
/// consistent between statements.
#[derive(Debug, Default)]
pub struct Locked<T>(Mutex<T>);

impl<T> Locked<T> {
    pub fn new(value: T) -> Self {
        Self(Mutex::new(value))
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One request a fake received.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path, without the scope prefix of [`Recording::under`] (GitLab's `/api/v4`, for instance).
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// The body parsed as JSON; `None` when empty or not JSON.
    pub body: Option<Value>,
    /// The headers the fake's [`Recording`] keeps, by lowercase name, when present.
    pub headers: BTreeMap<String, String>,
    /// When the request arrived (wall clock), for latency figures.
    pub at: std::time::SystemTime,
}

impl RecordedRequest {
    /// A recorded header by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// A whole request, its body buffered: what a fake's catch-all handler takes.
#[derive(Debug)]
pub struct Incoming {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Incoming {
    type Rejection = Response;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| too_large())?;
        Ok(Incoming {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        })
    }
}

/// An answer to give instead of the fake's own (see [`FakeServer::fail_next`]): a status, headers and a JSON
/// body.
///
/// `Api`, the fake's type, only scopes constructors: each fake adds its own for its API's error shape
/// (`InjectedFailure::status` answers `{"message": "Not Found"}` as GitHub and `{"message": "404 Not Found"}`
/// as GitLab) and exports the type under its name, e.g. `fake_github::InjectedFailure`.
pub struct InjectedFailure<Api = ()> {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    api: PhantomData<fn() -> Api>,
}

impl<Api> InjectedFailure<Api> {
    /// `status` with `body` and no headers.
    pub fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
            api: PhantomData,
        }
    }

    /// Add a response header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Add `Retry-After: {seconds}` when given.
    pub fn with_retry_after(self, seconds: Option<u64>) -> Self {
        match seconds {
            Some(seconds) => self.with_header("retry-after", &seconds.to_string()),
            None => self,
        }
    }

    fn untyped(self) -> InjectedFailure {
        InjectedFailure::new(self.status, self.body).with_headers(self.headers)
    }

    fn with_headers(mut self, headers: Vec<(String, String)>) -> Self {
        self.headers = headers;
        self
    }
}

// By hand rather than derived: a derive would require `Api` itself to be `Clone`, `Debug` and `PartialEq`.
impl<Api> Clone for InjectedFailure<Api> {
    fn clone(&self) -> Self {
        Self::new(self.status, self.body.clone()).with_headers(self.headers.clone())
    }
}

impl<Api> std::fmt::Debug for InjectedFailure<Api> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InjectedFailure")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .finish()
    }
}

impl<Api> PartialEq for InjectedFailure<Api> {
    fn eq(&self, other: &Self) -> bool {
        (self.status, &self.headers, &self.body) == (other.status, &other.headers, &other.body)
    }
}

impl<Api> IntoResponse for InjectedFailure<Api> {
    fn into_response(self) -> Response {
        let mut response = (status_code(self.status), Json(self.body)).into_response();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(value))
            {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// Which requests a fake records, and what of them.
#[derive(Clone, Copy, Debug)]
pub struct Recording {
    headers: &'static [&'static str],
    scope: &'static str,
}

impl Recording {
    /// Record every request, keeping these headers (lowercase names).
    pub const fn headers(headers: &'static [&'static str]) -> Self {
        Self { headers, scope: "" }
    }

    /// Record (and inject into) only requests whose path starts with `prefix`, with `prefix` cut from the
    /// recorded path; the others go straight to the router.
    pub const fn under(self, prefix: &'static str) -> Self {
        Self {
            scope: prefix,
            ..self
        }
    }
}

/// A port taken on `127.0.0.1`, not yet served.
pub struct Listener {
    listener: tokio::net::TcpListener,
    url: String,
}

impl Listener {
    /// Bind `127.0.0.1:0`; `name` (e.g. `fake GitHub`) only labels the panic.
    ///
    /// # Panics
    /// If no local port can be bound (the test cannot run anyway).
    pub async fn bind(name: &str) -> Listener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|err| panic!("bind {name}: {err}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("{name} address: {err}"));
        Listener {
            listener,
            url: format!("http://{addr}"),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serve `app` behind the recording and injection layer until the [`FakeServer`] is dropped.
    pub fn serve(self, app: Router, recording: Recording) -> FakeServer {
        let traffic = Arc::new(Traffic {
            recording,
            state: Locked::default(),
        });
        let app = app.layer(middleware::from_fn_with_state(traffic.clone(), record_and_inject));
        FakeServer {
            url: self.url.clone(),
            traffic,
            _task: self.serve_plain(app),
        }
    }

    /// [`Self::serve`] an app that answers every route with `handle`, over the fake's `shared` state: the shape
    /// of every fake that routes requests itself.
    pub fn serve_fallback<S, H, T>(self, shared: Arc<S>, handle: H, recording: Recording) -> FakeServer
    where
        S: Send + Sync + 'static,
        H: axum::handler::Handler<T, Arc<S>>,
        T: 'static,
    {
        self.serve(Router::new().fallback(handle).with_state(shared), recording)
    }

    /// Serve `app` as it is (no recording, no injection) until the [`ServerTask`] is dropped.
    pub fn serve_plain(self, app: Router) -> ServerTask {
        ServerTask(tokio::spawn(async move {
            // Ends only when the task is aborted on drop.
            let _ = axum::serve(self.listener, app).await;
        }))
    }
}

/// A spawned server; dropping it stops the server.
#[derive(Debug)]
pub struct ServerTask(tokio::task::JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A fake being served: its URL, its request log and its injection queue. Dropping it stops the server.
pub struct FakeServer {
    url: String,
    traffic: Arc<Traffic>,
    _task: ServerTask,
}

impl FakeServer {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every recorded request so far, oldest first, as a [`RecordedRequest`] or a fake's own view of one.
    pub fn requests<T: From<RecordedRequest>>(&self) -> Vec<T> {
        let requests = self.traffic.state.lock().requests.clone();
        requests.into_iter().map(T::from).collect()
    }

    /// Recorded requests whose path starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<RecordedRequest> {
        self.traffic
            .state
            .lock()
            .requests
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Answer the next request whose (recorded) path starts with `path_prefix` with `failure`.
    pub fn fail_next<Api>(&self, path_prefix: &str, failure: InjectedFailure<Api>) {
        let prefix = path_prefix.to_owned();
        self.fail_next_matching(move |r| r.path.starts_with(&prefix), failure);
    }

    /// Answer the next request `matches` accepts with `failure`. Failures are queued in order; a request takes
    /// the oldest one that matches it.
    pub fn fail_next_matching<Api>(
        &self,
        matches: impl Fn(&RecordedRequest) -> bool + Send + Sync + 'static,
        failure: InjectedFailure<Api>,
    ) {
        self.traffic
            .state
            .lock()
            .failures
            .push_back((Box::new(matches), failure.untyped()));
    }

    /// Hold the next request for `delay` before handling it (to provoke client timeouts).
    pub fn delay_next_request(&self, delay: Duration) {
        self.traffic.state.lock().request_delay = Some(delay);
    }

    /// Handle the next request at once, but hold its answer for `delay` (an answer lost to a client timeout,
    /// after the server acted on the request).
    pub fn delay_next_answer(&self, delay: Duration) {
        self.traffic.state.lock().answer_delay = Some(delay);
    }
}

type Matcher = Box<dyn Fn(&RecordedRequest) -> bool + Send + Sync>;

struct Traffic {
    recording: Recording,
    state: Locked<TrafficState>,
}

#[derive(Default)]
struct TrafficState {
    requests: Vec<RecordedRequest>,
    failures: VecDeque<(Matcher, InjectedFailure)>,
    request_delay: Option<Duration>,
    answer_delay: Option<Duration>,
}

async fn record_and_inject(State(traffic): State<Arc<Traffic>>, request: Request, next: Next) -> Response {
    let Some(path) = request
        .uri()
        .path()
        .strip_prefix(traffic.recording.scope)
        .map(str::to_owned)
    else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return too_large();
    };
    let recorded = RecordedRequest {
        at: std::time::SystemTime::now(),
        method: parts.method.to_string(),
        path,
        query: parts.uri.query().map(str::to_owned),
        body: serde_json::from_slice(&bytes).ok(),
        headers: traffic
            .recording
            .headers
            .iter()
            .filter_map(|name| {
                let value = parts.headers.get(*name)?.to_str().ok()?;
                Some(((*name).to_owned(), value.to_owned()))
            })
            .collect(),
    };
    let (request_delay, failure, answer_delay) = {
        let mut state = traffic.state.lock();
        let failure = state
            .failures
            .iter()
            .position(|(matches, _)| matches(&recorded))
            .and_then(|at| state.failures.remove(at))
            .map(|(_, failure)| failure);
        state.requests.push(recorded);
        (state.request_delay.take(), failure, state.answer_delay.take())
    };
    if let Some(delay) = request_delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(failure) = failure {
        return failure.into_response();
    }
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    if let Some(delay) = answer_delay {
        tokio::time::sleep(delay).await;
    }
    response
}

fn too_large() -> Response {
    (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response()
}

/// `status` as a [`StatusCode`]; 500 for a number HTTP does not allow.
pub fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The reason phrase of `status` (`Not Found`), or `Error` for one without.
pub fn reason(status: u16) -> &'static str {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

/// Query parameters in order, form-decoded (`+` is a space, `%XX` a byte); a pair without `=` has an empty
/// value.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(key), form_decode(value))
        })
        .collect()
}

/// [`query_pairs`] by name; a repeated name keeps its last value.
pub fn query_map(query: Option<&str>) -> BTreeMap<String, String> {
    query_pairs(query).into_iter().collect()
}

/// A query parameter as a number.
pub fn query_number(query: &BTreeMap<String, String>, key: &str) -> Option<usize> {
    query.get(key).and_then(|value| value.parse().ok())
}

/// One page of a listing, as the `per_page` (default `default_per_page`, 1 to 100) and `page` (from 1) query
/// parameters ask for it: GitHub's and GitLab's offset pagination.
pub struct Page {
    pub page: usize,
    pub per_page: usize,
    /// How many pages the listing has; at least one, even when empty.
    pub pages: usize,
}

impl Page {
    pub fn of(query: &BTreeMap<String, String>, default_per_page: usize, total: usize) -> Page {
        let per_page = query_number(query, "per_page")
            .unwrap_or(default_per_page)
            .clamp(1, 100);
        Page {
            page: query_number(query, "page").unwrap_or(1).max(1),
            per_page,
            pages: total.div_ceil(per_page).max(1),
        }
    }

    /// This page's share of `items`, as JSON by `json`.
    pub fn items<T>(&self, items: &[T], json: impl Fn(&T) -> Value) -> Value {
        let start = (self.page - 1) * self.per_page;
        Value::Array(items.iter().skip(start).take(self.per_page).map(json).collect())
    }
}

fn form_decode(text: &str) -> String {
    percent_decode(&text.replace('+', " "))
}

/// Decode `%XX` escapes (enough for logins and query values in tests); malformed escapes stay as they are.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_form_decoded() {
        assert_eq!(
            query_pairs(Some("a=1&b=x+y%2Bz&flag&&ids=1&ids=2")),
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x y+z".to_owned()),
                ("flag".to_owned(), String::new()),
                ("ids".to_owned(), "1".to_owned()),
                ("ids".to_owned(), "2".to_owned()),
            ]
        );
        assert_eq!(query_map(Some("ids=1&ids=2"))["ids"], "2");
        assert!(query_pairs(None).is_empty());
        assert_eq!(percent_decode("a%2fb%zz+%4"), "a/b%zz+%4");
    }
}
