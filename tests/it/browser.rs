//! The browser harness (`hookline_tests::browser`) against real headless Chromium and a tiny page served here:
//! a form is filled and posted, the answer page read, a screenshot written, and a `Secure; HttpOnly;
//! SameSite=Strict` cookie set over plain HTTP on loopback is kept and sent back.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test.sh` installs them); fails, never skips,
//! without them.

use std::sync::{Arc, Mutex};

use axum::{
    extract::State,
    http::{header, HeaderMap},
    response::{Html, IntoResponse},
    routing::{get, post},
    Router,
};
use fantoccini::Locator;
use hookline_tests::{
    browser::Browser,
    fake_core::{Listener, ServerTask},
};

const SESSION_COOKIE: &str = "hl_session=s3cr3t";

/// What the page's server received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    cookie: Option<String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn seen(log: &Log, method: &str, path: &str, headers: &HeaderMap, body: String) {
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    log.lock().expect("log").push(Seen {
        method: method.to_owned(),
        path: path.to_owned(),
        cookie,
        body,
    });
}

/// `GET /`: the form, and the session cookie with every restriction a console would put on it.
async fn form(State(log): State<Log>, headers: HeaderMap) -> impl IntoResponse {
    seen(&log, "GET", "/", &headers, String::new());
    (
        [(
            header::SET_COOKIE,
            format!("{SESSION_COOKIE}; Path=/; Secure; HttpOnly; SameSite=Strict"),
        )],
        Html(
            "<!doctype html><title>Form</title>\
             <form method=post action=/submit>\
             <label>Name <input id=name name=name></label> <button id=send type=submit>Send</button>\
             </form>",
        ),
    )
}

/// `POST /submit`: thanks the person by the posted name.
async fn submit(State(log): State<Log>, headers: HeaderMap, body: String) -> Html<String> {
    seen(&log, "POST", "/submit", &headers, body.clone());
    let name = body.strip_prefix("name=").unwrap_or_default().replace('+', " ");
    Html(format!(
        "<!doctype html><title>Thanks</title><p id=result>Thanks, {name}!</p>"
    ))
}

/// `GET /again`: a later request, to see the cookie sent back.
async fn again(State(log): State<Log>, headers: HeaderMap) -> Html<&'static str> {
    seen(&log, "GET", "/again", &headers, String::new());
    Html("<!doctype html><title>Again</title><p id=again>again</p>")
}

/// Serve the page; returns its port and what it received.
async fn serve_page() -> (u16, Log, ServerTask) {
    let log = Log::default();
    let app = Router::new()
        .route("/", get(form))
        .route("/submit", post(submit))
        .route("/again", get(again))
        .with_state(log.clone());
    let listener = Listener::bind("browser test page").await;
    let port = listener
        .url()
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("a port");
    (port, log, listener.serve_plain(app))
}

/// The cookie each request to `path` carried, oldest first.
fn cookies_to(log: &Log, path: &str) -> Vec<Option<String>> {
    let log = log.lock().expect("log");
    log.iter()
        .filter(|seen| seen.path == path)
        .map(|seen| seen.cookie.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_fills_a_form_screenshots_and_keeps_a_secure_cookie_on_loopback_http() {
    let (port, log, _server) = serve_page().await;
    let browser = Browser::start().await.expect("start headless Chromium");

    let base = format!("http://127.0.0.1:{port}");
    browser.goto(&format!("{base}/")).await.expect("load the form");
    let client = browser.client();
    client
        .find(Locator::Css("#name"))
        .await
        .expect("the name field")
        .send_keys("Ada Lovelace")
        .await
        .expect("type the name");
    client
        .find(Locator::Css("#send"))
        .await
        .expect("the button")
        .click()
        .await
        .expect("press Send");

    assert_eq!(
        browser.text_of("#result").await.expect("the answer page"),
        "Thanks, Ada Lovelace!"
    );
    let posts: Vec<Seen> = log
        .lock()
        .expect("log")
        .iter()
        .filter(|seen| seen.method == "POST")
        .cloned()
        .collect();
    assert_eq!(posts.len(), 1, "one POST: {posts:?}");
    assert_eq!(posts[0].body, "name=Ada+Lovelace");

    let shot = browser
        .screenshot("browser-form-answer")
        .await
        .expect("screenshot");
    let png = std::fs::read(&shot).expect("the screenshot file");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is a PNG",
        shot.display()
    );

    // Chromium counts http://127.0.0.1 (and http://localhost) as secure: the Secure cookie set over plain HTTP
    // is kept and sent back, with the form's POST and with a later GET. WebDriver sees it; scripts do not.
    browser.goto(&format!("{base}/again")).await.expect("load again");
    assert_eq!(browser.text_of("#again").await.expect("again"), "again");
    assert_eq!(cookies_to(&log, "/"), [None]);
    assert_eq!(cookies_to(&log, "/submit"), [Some(SESSION_COOKIE.to_owned())]);
    assert_eq!(cookies_to(&log, "/again"), [Some(SESSION_COOKIE.to_owned())]);
    let kept = client
        .get_named_cookie("hl_session")
        .await
        .expect("the cookie, seen by WebDriver");
    assert_eq!(kept.value(), "s3cr3t");
    assert_eq!(kept.secure(), Some(true));
    assert_eq!(kept.http_only(), Some(true));
    assert_eq!(
        kept.same_site().map(|same_site| same_site.to_string()),
        Some("Strict".to_owned())
    );
    let script_sees = client
        .execute("return document.cookie", vec![])
        .await
        .expect("read document.cookie");
    assert_eq!(script_sees, "", "HttpOnly hides the cookie from scripts");

    // The same on http://localhost, a site of its own with its own cookie jar entry.
    let localhost = format!("http://localhost:{port}");
    browser
        .goto(&format!("{localhost}/"))
        .await
        .expect("load the form on localhost");
    browser
        .goto(&format!("{localhost}/again"))
        .await
        .expect("load again on localhost");
    assert_eq!(cookies_to(&log, "/"), [None, None]);
    assert_eq!(
        cookies_to(&log, "/again"),
        [Some(SESSION_COOKIE.to_owned()), Some(SESSION_COOKIE.to_owned())]
    );

    browser.close().await.expect("close the browser");
}
