//! The console's rules on the in-memory stores: who may see what, forms only from the console's own pages,
//! text from outside shown as text.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;

use super::*;
use crate::{
    clock::ManualClock,
    conformance::{decision, run},
    domain::{DecisionKind, RunState},
    invite::Invitation,
    memory::{MemoryQueue, MemorySecrets, MemoryStore},
    ports::{DeadLetter, DeliveryLog, IdentityStore},
};

const TOKEN: &str = "operator-token-0123456789";
const NOW: u64 = 1_800_000_000;

#[derive(Default)]
struct Letters(Mutex<Vec<DeadLetter>>);

#[async_trait]
impl DeadLetters for Letters {
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, PortError> {
        Ok(self.0.lock().unwrap().iter().take(limit).cloned().collect())
    }
    async fn retry_dead_letter(&self, id: &str) -> Result<bool, PortError> {
        let mut letters = self.0.lock().unwrap();
        let before = letters.len();
        letters.retain(|letter| letter.id != id);
        Ok(letters.len() < before)
    }
}

struct World {
    console: ConsoleServices,
    store: Arc<MemoryStore>,
    letters: Arc<Letters>,
    queue: Arc<MemoryQueue>,
}

fn world() -> World {
    let store = Arc::new(MemoryStore::new());
    let letters = Arc::new(Letters::default());
    let queue = Arc::new(MemoryQueue::new());
    let settings = ConsoleSettings::default();
    let secrets = MemorySecrets::new()
        .with(&settings.token_secret, TOKEN)
        .with(&settings.session_key_secret, "k".repeat(64));
    World {
        console: ConsoleServices {
            decisions: store.clone(),
            runs: store.clone(),
            dead_letters: Some(letters.clone()),
            redeliver: Some(queue.clone()),
            secrets: Arc::new(secrets),
            clock: Arc::new(ManualClock::at(NOW)),
            settings,
            openhands_web_url: "https://openhands.example".to_owned(),
            setup: None,
            linking: None,
        },
        store,
        letters,
        queue,
    }
}

/// A browser: keeps the console's cookie between requests, as one would.
struct Browser<'w> {
    world: &'w World,
    cookie: Option<String>,
}

struct Page {
    status: u16,
    body: String,
    location: Option<String>,
    headers: http::HeaderMap,
    queued: bool,
}

impl<'w> Browser<'w> {
    fn new(world: &'w World) -> Self {
        Self { world, cookie: None }
    }

    async fn send(&mut self, method: &str, target: &str, body: &str, extra: &[(&str, &str)]) -> Page {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "hookline.test".parse().unwrap());
        if let Some(cookie) = &self.cookie {
            headers.insert("cookie", cookie.parse().unwrap());
        }
        for (name, value) in extra {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let handled = handle(
            &self.world.console,
            HttpRequest {
                method,
                path,
                query,
                headers: &headers,
                body: body.as_bytes(),
            },
        )
        .await;
        let response: http::Response<String> = handled.reply.into_response();
        if let Some(set) = response.headers().get("set-cookie") {
            self.cookie = Some(set.to_str().unwrap().split(';').next().unwrap().to_owned());
        }
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned()),
            headers: response.headers().clone(),
            queued: handled.queued,
            body: response.into_body(),
        }
    }

    /// POST `form` to the way back from GitHub's App setup with `extra` headers.
    async fn finish_setup(&mut self, form: &str, extra: &[(&str, &str)]) -> Page {
        self.send("POST", "/console/setup/github/done", form, extra).await
    }

    /// POST `form` to the retry route with `extra` headers; the answer's status.
    async fn retry(&mut self, form: &str, extra: &[(&str, &str)]) -> u16 {
        self.send("POST", "/console/dead-letters/retry", form, extra)
            .await
            .status
    }

    async fn get(&mut self, target: &str) -> Page {
        self.send("GET", target, "", &[]).await
    }

    /// The CSRF token of the form on the page last fetched.
    fn csrf(page: &Page) -> String {
        let at = page
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a token")
            + 19;
        page.body[at..at + 64].to_owned()
    }

    /// Open the console and sign in with the operator token; the answer to the sign-in form.
    async fn submit_sign_in(&mut self) -> Page {
        let page = self.get("/console").await;
        let form = format!("csrf={}&token={TOKEN}", Self::csrf(&page));
        self.send("POST", "/console/sign-in", &form, &[]).await
    }

    async fn sign_in(&mut self) {
        let signed_in = self.submit_sign_in().await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        let first = signed_in.location.unwrap_or_default();
        assert!(
            first == "/console/deliveries" || first == "/console/setup",
            "{first}"
        );
    }
}

#[tokio::test]
async fn the_sign_in_page_is_strict_about_what_it_loads_and_caches() {
    let world = world();
    let mut browser = Browser::new(&world);
    let page = browser.get("/console").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Operator token"));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert!(browser.cookie.is_some(), "a session for the form token");
    let style = browser.get("/console/style.css").await;
    assert_eq!(style.status, 200);
    assert_eq!(style.headers["content-type"], "text/css; charset=utf-8");
}

#[tokio::test]
async fn operator_pages_need_a_signed_in_operator() {
    let world = world();
    let mut browser = Browser::new(&world);
    for page in [
        "/console/deliveries",
        "/console/runs",
        "/console/dead-letters",
        "/console/setup",
    ] {
        let answer = browser.get(page).await;
        assert_eq!(answer.status, 401, "{page}");
        assert!(
            answer.body.contains("Operator token"),
            "{page} shows the sign-in form"
        );
    }
    // A forged cookie is no session.
    browser.cookie = Some(format!(
        "{}=00000000000000000000000000000000.9999999999.00",
        session::COOKIE
    ));
    assert_eq!(browser.get("/console/runs").await.status, 401);
}

#[tokio::test]
async fn a_wrong_token_signs_nobody_in_and_the_right_one_does() {
    let world = world();
    let mut browser = Browser::new(&world);
    let page = browser.get("/console").await;
    let form = format!("csrf={}&token=guess", Browser::csrf(&page));
    let refused = browser.send("POST", "/console/sign-in", &form, &[]).await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("not the operator token"));
    assert!(!refused.body.contains(TOKEN), "the token is never rendered");
    assert_eq!(browser.get("/console/deliveries").await.status, 401);

    browser.sign_in().await;
    assert_eq!(browser.get("/console/deliveries").await.status, 200);
    assert_eq!(
        browser.get("/console").await.location.as_deref(),
        Some("/console/deliveries")
    );

    // Signed in for the session's time only.
    let later = ManualClock::at(NOW + world.console.settings.session_ttl.as_secs());
    let expired = World {
        console: ConsoleServices {
            clock: Arc::new(later),
            ..world.console.clone()
        },
        store: world.store.clone(),
        letters: world.letters.clone(),
        queue: world.queue.clone(),
    };
    let mut same_cookie = Browser::new(&expired);
    same_cookie.cookie = browser.cookie.clone();
    assert_eq!(same_cookie.get("/console/deliveries").await.status, 401);
}

#[tokio::test]
async fn forms_without_the_session_token_or_from_another_site_are_refused() {
    let world = world();
    world.letters.0.lock().unwrap().push(letter("7"));
    let mut browser = Browser::new(&world);
    browser.sign_in().await;
    let page = browser.get("/console/dead-letters").await;
    let token = Browser::csrf(&page);

    assert_eq!(browser.retry("id=7", &[]).await, 403);
    let other_token = format!("csrf={}&id=7", "0".repeat(64));
    assert_eq!(browser.retry(&other_token, &[]).await, 403);
    let form = format!("csrf={token}&id=7");
    let cross_origin = [("origin", "https://evil.example")];
    assert_eq!(browser.retry(&form, &cross_origin).await, 403);
    let cross_site = [("sec-fetch-site", "cross-site")];
    assert_eq!(browser.retry(&form, &cross_site).await, 403);
    let sign_out = browser.send("POST", "/console/sign-out", "", &[]).await;
    assert_eq!(sign_out.status, 403, "signing out is a form too");
    assert_eq!(world.letters.0.lock().unwrap().len(), 1, "nothing was retried");

    let same_origin = [
        ("origin", "http://hookline.test"),
        ("sec-fetch-site", "same-origin"),
    ];
    let retried = browser
        .send("POST", "/console/dead-letters/retry", &form, &same_origin)
        .await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert!(retried.queued, "the host wakes a worker");
    assert!(retried.body.contains("Put back on the queue."));
    assert!(world.letters.0.lock().unwrap().is_empty());
    let again = browser
        .send("POST", "/console/dead-letters/retry", &form, &[])
        .await;
    assert!(again.body.contains("no longer there") && !again.queued);

    let out = browser
        .send("POST", "/console/sign-out", &format!("csrf={token}"), &[])
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(browser.get("/console/runs").await.status, 401);
}

/// The envelope stored with GitHub delivery `d-7` (its payload carries markup the page must never show).
fn stored_envelope() -> String {
    serde_json::json!({
        "version": crate::domain::ENVELOPE_VERSION,
        "provider": "github",
        "tenant": "github.com",
        "delivery_id": "d-7",
        "event": "issue_comment",
        "group": "github:octo/hello#7",
        "received_at": NOW - 31,
        "payload": {"comment": "@openhands <b>fix</b>"},
    })
    .to_string()
}

/// GIVEN a decision stored with its envelope WHEN an operator redelivers it from the deliveries page THEN the
/// stored body goes to the work queue in its thread's group under a new dedup id, and the host wakes a worker;
/// without the session's token, or for a delivery no longer stored, nothing is queued.
#[tokio::test]
async fn an_operator_redelivers_a_stored_delivery() {
    let world = world();
    let mut notice = decision(Provider::Github, "github.com", "d-7", NOW - 30);
    notice.kind = DecisionKind::Notice;
    let envelope = stored_envelope();
    world
        .store
        .record(&notice, &envelope, Duration::from_secs(3600))
        .await
        .unwrap();
    let mut browser = Browser::new(&world);
    assert_eq!(
        browser
            .send(
                "POST",
                "/console/deliveries/redeliver",
                "key=github%23github.com%23d-7",
                &[]
            )
            .await
            .status,
        403,
        "no session, no token"
    );
    browser.sign_in().await;
    let page = browser.get("/console/deliveries").await;
    assert!(page.body.contains("Redeliver"), "{}", page.body);
    assert!(!page.body.contains("<b>fix"), "the envelope is never shown");
    let token = Browser::csrf(&page);
    let forged = format!("csrf={}&key=github%23github.com%23d-7", "0".repeat(64));
    let refused = browser
        .send("POST", "/console/deliveries/redeliver", &forged, &[])
        .await;
    assert_eq!(refused.status, 403);
    assert!(world.queue.is_empty());

    let form = format!("csrf={token}&key=github%23github.com%23d-7");
    let done = browser
        .send("POST", "/console/deliveries/redeliver", &form, &[])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.queued, "the host wakes a worker");
    assert!(done.body.contains("Delivered again"), "{}", done.body);
    let sent = world.queue.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, envelope, "the stored body, byte for byte");
    assert_eq!(sent[0].group, "github:octo/hello#7");
    assert_eq!(sent[0].dedup_id, format!("redeliver:github#github.com#d-7#{NOW}"));

    let gone = format!("csrf={token}&key=github%23github.com%23d-8");
    let answer = browser
        .send("POST", "/console/deliveries/redeliver", &gone, &[])
        .await;
    assert!(
        answer.body.contains("no longer stored") && !answer.queued,
        "{}",
        answer.body
    );
    let unreadable = decision(Provider::Github, "github.com", "d-9", NOW - 20);
    world
        .store
        .record(&unreadable, "{not an envelope", Duration::from_secs(3600))
        .await
        .unwrap();
    let bad = format!("csrf={token}&key=github%23github.com%23d-9");
    let answer = browser
        .send("POST", "/console/deliveries/redeliver", &bad, &[])
        .await;
    assert_eq!(answer.status, 409);
    assert_eq!(world.queue.len(), 1, "nothing more was queued");
}

/// GIVEN the deliveries page filtered to one provider and tenant WHEN the operator redelivers a row THEN the
/// answer lists the newest rows under the same filters (another tenant's row stays out), and its forms keep them.
#[tokio::test]
async fn a_redelivery_answers_with_the_listing_it_was_asked_from() {
    let world = world();
    let envelope = stored_envelope();
    let ours = decision(Provider::Github, "github.com", "d-7", NOW - 30);
    let theirs = decision(Provider::Github, "ghe.example", "d-8", NOW - 20);
    for row in [&ours, &theirs] {
        world
            .store
            .record(row, &envelope, Duration::from_secs(3600))
            .await
            .unwrap();
    }
    let mut browser = Browser::new(&world);
    browser.sign_in().await;
    let filtered = "provider=github&tenant=github.com";
    let page = browser.get(&format!("/console/deliveries?{filtered}")).await;
    let action = "/console/deliveries/redeliver?provider=github&amp;tenant=github.com";
    assert!(page.body.contains(action), "{}", page.body);
    assert!(!page.body.contains("ghe.example</td>"), "{}", page.body);

    let form = format!("csrf={}&key=github%23github.com%23d-7", Browser::csrf(&page));
    let target = format!("/console/deliveries/redeliver?{filtered}");
    let done = browser.send("POST", &target, &form, &[]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.queued && done.body.contains("Delivered again"),
        "{}",
        done.body
    );
    assert!(done.body.contains("github.com</td>"), "{}", done.body);
    assert!(
        !done.body.contains("ghe.example</td>"),
        "the filter holds: {}",
        done.body
    );
    assert!(
        done.body.contains(r#"value="github.com""#),
        "the tenant filter is kept: {}",
        done.body
    );
    assert!(done.body.contains(action), "{}", done.body);
}

#[tokio::test]
async fn a_token_planted_before_sign_in_is_worth_nothing_after() {
    let world = world();
    let mut browser = Browser::new(&world);
    let before = Browser::csrf(&browser.get("/console").await);
    browser.sign_in().await;
    let form = format!("csrf={before}");
    assert_eq!(
        browser.send("POST", "/console/sign-out", &form, &[]).await.status,
        403
    );
}

#[tokio::test]
async fn text_from_outside_is_shown_as_text() {
    let world = world();
    let mut hostile = decision(Provider::Github, "github.com", "d1", NOW - 5);
    hostile.kind = DecisionKind::Denied;
    hostile.actor = Some("<script>alert('login')</script>".to_owned());
    hostile.reason = "no write access\"><img src=x onerror=alert(1)>".to_owned();
    world
        .store
        .record(&hostile, "{}", Duration::from_secs(3600))
        .await
        .unwrap();
    let mut titled = run("c0ffee00c0ffee00c0ffee00c0ffee00", RunState::Failed, NOW - 60);
    titled.title = "<b>Fix</b> <script>alert('title')</script>".to_owned();
    world.store.insert_run(&titled).await.unwrap();
    let mut letter = letter("9");
    letter.reason = "<iframe src=//evil.example>".to_owned();
    world.letters.0.lock().unwrap().push(letter);

    let mut browser = Browser::new(&world);
    browser.sign_in().await;
    for (page, escaped) in [
        (
            "/console/deliveries",
            "&lt;script&gt;alert('login')&lt;/script&gt;",
        ),
        (
            "/console/runs",
            "&lt;b&gt;Fix&lt;/b&gt; &lt;script&gt;alert('title')&lt;/script&gt;",
        ),
        ("/console/dead-letters", "&lt;iframe src=//evil.example&gt;"),
    ] {
        let answer = browser.get(page).await;
        assert_eq!(answer.status, 200, "{page}");
        assert!(answer.body.contains(escaped), "{page}: {}", answer.body);
        for raw in ["<script>alert", "<img src=x", "<iframe", "<b>Fix"] {
            assert!(!answer.body.contains(raw), "{page} renders {raw}");
        }
    }
}

#[tokio::test]
async fn listings_filter_and_page_with_the_stores_cursors() {
    let world = world();
    for i in 0..(PAGE_ROWS as u64 + 5) {
        let mut recorded = decision(Provider::Github, "github.com", &format!("d{i}"), NOW - 1000 + i);
        recorded.kind = DecisionKind::Ignored;
        world
            .store
            .record(&recorded, "{}", Duration::from_secs(3600))
            .await
            .unwrap();
    }
    world
        .store
        .record(
            &decision(Provider::Slack, "T1", "s1", NOW - 1),
            "{}",
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let mut browser = Browser::new(&world);
    browser.sign_in().await;
    let first = browser.get("/console/deliveries?provider=github&tenant=").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body.matches("<tr data-kind=").count(), PAGE_ROWS);
    assert!(!first.body.contains(">T1<"), "filtered to GitHub");
    let next = first
        .body
        .split("class=\"next\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let next = next.replace("&amp;", "&");
    let second = browser.get(&next).await;
    assert_eq!(second.body.matches("<tr data-kind=").count(), 5, "{next}");
    assert!(!second.body.contains("class=\"next\""));

    assert_eq!(browser.get("/console/deliveries?provider=nope").await.status, 400);
    assert_eq!(browser.get("/console/deliveries?after=forged").await.status, 400);
    assert_eq!(browser.get("/console/runs?state=nope").await.status, 400);
    assert_eq!(browser.get("/console/nowhere").await.status, 404);
    assert_eq!(browser.send("DELETE", "/console/runs", "", &[]).await.status, 405);
}

#[tokio::test]
async fn runs_show_state_conversation_and_last_error() {
    let world = world();
    let mut failed = run("0123456789abcdef0123456789abcdef", RunState::Failed, NOW - 600);
    failed.updated_at = NOW - 480;
    failed.conclusion = Some(crate::domain::Conclusion {
        outcome: crate::domain::Outcome::SandboxLost("sandbox MISSING".to_owned()),
        holder: "h".to_owned(),
        lease_until: 0,
        since: NOW - 480,
        attempts: 1,
        last_error: None,
    });
    world.store.insert_run(&failed).await.unwrap();
    world
        .store
        .insert_run(&run(
            "fedcba9876543210fedcba9876543210",
            RunState::Running,
            NOW - 30,
        ))
        .await
        .unwrap();
    let mut browser = Browser::new(&world);
    browser.sign_in().await;
    let page = browser.get("/console/runs").await;
    assert!(
        page.body.contains("sandbox_lost: sandbox MISSING"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("https://openhands.example/conversations/0123456789abcdef0123456789abcdef"));
    assert!(
        page.body.contains("2 min 0 s"),
        "a finished run took until its last update"
    );
    let running = browser.get("/console/runs?state=running").await;
    assert_eq!(running.body.matches("<tr data-state=").count(), 1);
    assert!(running.body.contains("30 s"));
}

fn letter(id: &str) -> DeadLetter {
    DeadLetter {
        id: id.to_owned(),
        group: "github:octo/hello#1".to_owned(),
        dedup_id: format!("github:github.com:delivery-{id}"),
        body: "{}".to_owned(),
        receive_count: 5,
        reason: "provider answered 500".to_owned(),
        failed_at: NOW - 100,
    }
}

/// A [`ProviderSwitch`](crate::registry::ProviderSwitch) that counts its reloads.
#[derive(Default)]
struct CountingSwitch(Mutex<usize>);

#[async_trait]
impl crate::registry::ProviderSwitch for CountingSwitch {
    async fn reload(&self) -> Result<Vec<Provider>, PortError> {
        *self.0.lock().unwrap() += 1;
        Ok(vec![Provider::Github])
    }
}

/// A console that can register a GitHub App; GitHub's API is an address nothing answers on, so a test that
/// reaches it fails with 503 rather than passing by accident.
fn world_with_setup(configured_slug: Option<&str>) -> (World, Arc<MemorySecrets>, Arc<CountingSwitch>) {
    let mut world = world();
    let written = Arc::new(MemorySecrets::new());
    let switch = Arc::new(CountingSwitch::default());
    let env = crate::config::pairs_lookup(&[("GITHUB_API_URL", "http://127.0.0.1:9")]);
    world.console.setup = Some(app_setup::AppSetup {
        github: crate::github::GithubSetup::load(&crate::config::Lookup::new(&env)).unwrap(),
        writer: written.clone(),
        http: reqwest::Client::new(),
        switch: switch.clone(),
        configured: configured_slug.map(|slug| app_setup::ConfiguredApp {
            app_id: "Iv1.configured".to_owned(),
            slug: slug.to_owned(),
        }),
    });
    (world, written, switch)
}

/// The manifest form's `state`, from the setup page's form action.
fn setup_state(page: &Page) -> String {
    let at = page.body.find("state=").expect("a manifest form") + 6;
    page.body[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_setup_page_posts_a_manifest_to_github_and_only_its_page_may() {
    let (world, _, _) = world_with_setup(None);
    let mut browser = Browser::new(&world);
    let signed_in = browser.submit_sign_in().await;
    assert_eq!(
        signed_in.location.as_deref(),
        Some("/console/setup"),
        "no App yet: setup first"
    );
    let page = browser.get("/console/setup").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .body
        .contains("action=\"https://github.com/settings/apps/new?state="));
    assert!(
        page.body.contains("http://hookline.test/webhooks/github"),
        "the webhook URL as reached"
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self' https://github.com;"), "{csp}");
    // Every other page may post only to itself.
    let other = browser.get("/console/runs").await;
    let csp = other.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self';"), "{csp}");

    let org = browser.get("/console/setup?organization=octo-org").await;
    assert!(org
        .body
        .contains("https://github.com/organizations/octo-org/settings/apps/new?state="));
    let bad = browser.get("/console/setup?organization=..%2Fevil").await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn the_way_back_from_github_sets_no_cookie_and_shows_its_input_as_text() {
    let (world, _, _) = world_with_setup(None);
    let mut browser = Browser::new(&world);
    let page = browser
        .get("/console/setup/github/done?code=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=1.x")
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.headers.get("set-cookie").is_none(),
        "it would replace the operator's session"
    );
    assert!(!page.body.contains("<script>alert(1)"), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;alert(1)"));
}

#[tokio::test]
async fn a_forged_or_stale_state_or_a_strange_code_stores_nothing() {
    let (world, written, switch) = world_with_setup(None);
    let mut browser = Browser::new(&world);
    browser.sign_in().await;
    let state = setup_state(&browser.get("/console/setup").await);
    // Forged, missing, or with its signed issue time moved.
    for form in [
        "code=abc&state=1.forged".to_owned(),
        "code=abc".to_owned(),
        format!(
            "code=abc&state={}",
            state.replacen(&NOW.to_string(), &(NOW - 1).to_string(), 1)
        ),
    ] {
        let answer = browser.finish_setup(&form, &[]).await;
        assert_eq!(answer.status, 400, "{form}: {}", answer.body);
        assert!(
            answer.body.contains("not started from this console"),
            "{}",
            answer.body
        );
    }
    // The right state, but a code that is no GitHub code: refused before any request.
    let answer = browser
        .finish_setup(&format!("code=..%2F..%2Fx&state={state}"), &[])
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("did not accept this code"));
    // Another browser's session cannot use this one's state.
    let mut other = Browser::new(&world);
    other.sign_in().await;
    let answer = other.finish_setup(&format!("code=abc&state={state}"), &[]).await;
    assert_eq!(answer.status, 400);
    // Signed out, the way back is only the sign-in.
    let mut anonymous = Browser::new(&world);
    anonymous.get("/console").await;
    let answer = anonymous
        .finish_setup(&format!("code=abc&state={state}"), &[])
        .await;
    assert_eq!(answer.status, 401);
    // From another site, even with the right state: refused.
    let answer = browser
        .finish_setup(
            &format!("code=abc&state={state}"),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(answer.status, 403);
    assert!(written.get("github/app").await.is_err(), "nothing stored");
    assert_eq!(*switch.0.lock().unwrap(), 0, "nothing switched on");
}

#[tokio::test]
async fn an_app_configured_by_the_environment_leaves_nothing_to_set_up() {
    let (world, _, _) = world_with_setup(Some("hookline"));
    let mut browser = Browser::new(&world);
    browser.sign_in().await;
    let page = browser.get("/console/setup").await;
    assert!(page.body.contains("configured with the App"), "{}", page.body);
    assert!(!page.body.contains("settings/apps/new"));
    let state = "1.x";
    let answer = browser
        .finish_setup(&format!("code=abc&state={state}"), &[])
        .await;
    assert_eq!(answer.status, 400, "a state from no setup");
}

#[tokio::test]
async fn a_host_without_a_writable_secret_store_says_so() {
    let world = world();
    let mut browser = Browser::new(&world);
    browser.sign_in().await;
    let page = browser.get("/console/setup").await;
    assert!(page.body.contains("cannot store an App"), "{}", page.body);
}

/// A console that takes invitations, over `world_with_setup`'s GitHub.
fn world_with_linking() -> (World, Arc<MemorySecrets>) {
    let (mut world, written, _) = world_with_setup(Some("hookline"));
    world.console.linking = Some(linking::Linking {
        identities: world.store.clone(),
        claims: world.store.clone(),
        writer: written.clone(),
        http: reqwest::Client::new(),
        apps: Vec::new(),
        shared_identity: None,
    });
    (world, written)
}

fn invitation_token(expires_at: u64) -> String {
    Invitation::new(Provider::Github, "github.com", "5151", "bob<b>", expires_at)
        .token(&SecretString::new("k".repeat(64)))
}

#[tokio::test]
async fn an_invitation_page_offers_the_sign_in_only_for_a_genuine_fresh_invitation() {
    let (world, _) = world_with_linking();
    let mut browser = Browser::new(&world);
    let page = browser
        .get(&format!("/console/link?invite={}", invitation_token(NOW + 60)))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("@bob&lt;b&gt;"), "the login shown as text");
    let at = page
        .body
        .find("href=\"https://github.com/login/oauth/authorize?")
        .expect("the sign-in link");
    let link = &page.body[at..page.body[at..].find("\">").unwrap() + at];
    assert!(link.contains("client_id=Iv1.configured"), "{link}");
    assert!(
        link.contains("redirect_uri=http%3A%2F%2Fhookline.test%2Fconsole%2Flink%2Fgithub%2Fcallback"),
        "{link}"
    );
    assert!(link.contains("state="), "{link}");

    let expired = browser
        .get(&format!("/console/link?invite={}", invitation_token(NOW)))
        .await;
    assert_eq!(expired.status, 400);
    assert!(expired.body.contains("expired"));
    let forged = Invitation::new(Provider::Github, "github.com", "5151", "bob", NOW + 60)
        .token(&SecretString::from("another key"));
    let forged = browser.get(&format!("/console/link?invite={forged}")).await;
    assert_eq!(forged.status, 400);
    assert!(forged.body.contains("not one Hookline made"));
}

#[tokio::test]
async fn the_key_form_needs_this_sessions_sign_in() {
    let (world, written) = world_with_linking();
    let mut browser = Browser::new(&world);
    let page = browser.get("/console").await;
    let csrf = Browser::csrf(&page);
    let token = invitation_token(NOW + 60);
    for grant in ["", "1.forged"] {
        let form = format!("csrf={csrf}&invite={token}&grant={grant}&openhands_user=bob&api_key=k");
        let answer = browser.send("POST", "/console/link/key", &form, &[]).await;
        assert_eq!(answer.status, 400, "{grant:?}: {}", answer.body);
        assert!(answer.body.contains("Sign in again"));
    }
    // The way back with a state of no sign-in this browser started.
    let answer = browser
        .send(
            "POST",
            "/console/link/github/callback",
            &format!("code=c&state={token}~1.forged"),
            &[],
        )
        .await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains("not started from this browser"));
    assert!(world.store.list_links().await.unwrap().is_empty());
    assert!(written
        .get("openhands/links/github/github.com/5151")
        .await
        .is_err());
}

#[tokio::test]
async fn a_host_without_linking_has_no_invitation_pages() {
    let world = world();
    let mut browser = Browser::new(&world);
    let page = browser
        .get(&format!("/console/link?invite={}", invitation_token(NOW + 60)))
        .await;
    assert_eq!(page.status, 404);
}

#[tokio::test]
async fn operators_may_sign_in_with_github_only_where_listed_and_only_from_this_browser() {
    let (mut world, _) = world_with_linking();
    let mut browser = Browser::new(&world);
    assert!(
        !browser.get("/console").await.body.contains("sign-in-with-github"),
        "no operator list: the token only"
    );
    world.console.settings.operators = vec!["carol".to_owned()];
    let mut browser = Browser::new(&world);
    let page = browser.get("/console").await;
    assert!(page.body.contains("id=\"sign-in-with-github\""), "{}", page.body);
    assert!(page.body.contains("state=operator%7E"));
    let answer = browser
        .send(
            "POST",
            "/console/link/github/callback",
            "code=c&state=operator~1.forged",
            &[],
        )
        .await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains("not started from this browser"));
    assert_eq!(browser.get("/console/runs").await.status, 401, "still signed out");
}
