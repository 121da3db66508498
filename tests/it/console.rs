//! The operator console in a real browser (headless Chromium through WebDriver) against the local host: real
//! deliveries, the worker's decisions, a run and a dead letter, seen and acted on the way an operator would —
//! and the attacks on it: no session, a wrong token, a form posted from another site, markup in an issue title.

use hookline_tests::{
    browser::Browser,
    harness::{issue_comment, mallorys_mention, user, Harness, HarnessOptions, ALICE_ID},
};

const OPERATOR_TOKEN: &str = "console-operator-token-for-tests-0123456789";
const HOSTILE_TITLE: &str =
    "Crash <img src=x onerror=\"document.title='owned'\"> <script>document.title='owned'</script>";

async fn console_harness(workers: usize) -> Harness {
    Harness::start_with(HarnessOptions {
        workers,
        extra_secrets: vec![
            ("console/operator-token".to_owned(), OPERATOR_TOKEN.to_owned()),
            ("console/session-key".to_owned(), "s".repeat(64)),
        ],
        ..HarnessOptions::default()
    })
    .await
}

async fn sign_in(browser: &Browser, console: &str, token: &str) {
    browser.sign_in(console, token).await.expect("the sign-in form");
}

/// GIVEN a run started by a mention on an issue whose title carries markup, and a denied mention WHEN the operator
/// signs in THEN the deliveries page shows both decisions with the run's conversation, and the runs page shows
/// the title as text (no script ran).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_deliveries_decisions_and_runs() {
    let h = console_harness(1).await;
    let mut mention = issue_comment(5, 501, "@openhands please fix", user("alice", ALICE_ID), false);
    mention["issue"]["title"] = HOSTILE_TITLE.into();
    assert_eq!(h.deliver("issue_comment", "console-run", &mention).await.0, 202);
    h.clock.advance(1);
    h.deliver_and_settle("issue_comment", "console-denied", &mallorys_mention())
        .await;
    let conversation = h.openhands.last_conversation_id();

    let browser = Browser::open().await;
    let console = h.host().console_url();

    // Not signed in: every operator page is the sign-in form.
    browser.goto(&format!("{console}/runs")).await.unwrap();
    assert!(browser.text_of("main").await.unwrap().contains("Operator token"));
    browser.screenshot("console-sign-in").await.unwrap();

    sign_in(&browser, &console, "a guess").await;
    assert!(browser
        .text_of(".error")
        .await
        .unwrap()
        .contains("not the operator token"));
    sign_in(&browser, &console, OPERATOR_TOKEN).await;

    let rows = browser.text_of("#deliveries tbody").await.unwrap();
    assert!(
        rows.contains("denied") && rows.contains("no write access"),
        "{rows}"
    );
    assert!(
        rows.contains("run") && rows.contains(&conversation[..8]),
        "{rows}"
    );
    assert!(rows.contains("mallory") && rows.contains("alice"), "{rows}");
    browser.screenshot("console-deliveries").await.unwrap();

    // Filters go through the query string.
    browser
        .goto(&format!("{console}/deliveries?provider=slack"))
        .await
        .unwrap();
    assert!(browser
        .text_of("main")
        .await
        .unwrap()
        .contains("No deliveries recorded."));

    browser.goto(&format!("{console}/runs")).await.unwrap();
    let title = browser.text_of("#runs td.title").await.unwrap();
    assert!(
        title.contains("<script>document.title='owned'</script>"),
        "shown as text: {title}"
    );
    assert_ne!(
        browser.client().title().await.unwrap(),
        "owned",
        "no script from the title ran"
    );
    let link = browser.href_of("#runs a").await.unwrap();
    assert_eq!(
        link.as_deref(),
        Some(format!("https://app.example.test/conversations/{conversation}").as_str())
    );
    browser.screenshot("console-runs").await.unwrap();

    // Signing out ends it.
    browser.click(".sign-out button").await.unwrap();
    browser.text_once("main", "Operator token").await.unwrap();
    browser.goto(&format!("{console}/deliveries")).await.unwrap();
    assert!(browser.text_of("main").await.unwrap().contains("Operator token"));
    browser.close().await.unwrap();
}

/// GIVEN a delivery given up on (a dead letter) WHEN a page on another site makes the signed-in operator's browser
/// post "retry" THEN it is refused; WHEN the operator presses Retry THEN the message is worked on again and its
/// run starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_a_dead_letter_processes_it_and_no_other_site_can() {
    let h = console_harness(0).await;
    let mention = issue_comment(6, 601, "@openhands please fix", user("alice", ALICE_ID), false);
    assert_eq!(h.deliver("issue_comment", "console-dead", &mention).await.0, 202);
    let queue = h.host().queue();
    let received = queue
        .receive(h.clock_now(), 1, std::time::Duration::from_secs(60))
        .unwrap();
    assert_eq!(received.len(), 1);
    assert!(queue
        .dead_letter(received[0].id, h.clock_now(), "provider answered 502")
        .unwrap());
    assert_eq!(h.host().drain().await, 0, "nothing left on the queue");

    let browser = Browser::open().await;
    let console = h.host().console_url();
    sign_in(&browser, &console, OPERATOR_TOKEN).await;
    browser.goto(&format!("{console}/dead-letters")).await.unwrap();
    let listed = browser.text_of("#dead-letters").await.unwrap();
    assert!(
        listed.contains("provider answered 502") && listed.contains("console-dead"),
        "{listed}"
    );
    browser.screenshot("console-dead-letters").await.unwrap();

    // A page of another origin (same host, other port: the same site, so SameSite alone would not stop it).
    let (attacker, _attacker_page) = hookline_tests::browser::serve_page(&format!(
        "<form method=post action=\"{console}/dead-letters/retry\"><input name=id value=\"{}\">\
         <input name=csrf value=guess><button id=go>win a prize</button></form>",
        received[0].id
    ))
    .await;
    browser.post_from_another_site(&attacker).await.unwrap();
    assert_eq!(queue.dead_letters().unwrap().len(), 1, "still a dead letter");

    browser.goto(&format!("{console}/dead-letters")).await.unwrap();
    browser.click("button.retry").await.unwrap();
    browser
        .text_once(".notice", "Put back on the queue.")
        .await
        .unwrap();
    assert!(queue.dead_letters().unwrap().is_empty());
    assert_eq!(h.host().drain().await, 1, "the retried message is worked on");
    assert_eq!(h.openhands.starts().len(), 1, "and its run started");
    browser.close().await.unwrap();
}
