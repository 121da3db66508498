//! Redelivering a stored delivery from the console, in a real browser against the local host: a mention the worker
//! answered with the linking notice runs once the person is linked and the operator presses Redeliver — and only
//! once, however often it is pressed.

use hookline_tests::{
    browser::Browser,
    harness::{daves_mention, Harness, HarnessOptions},
};

const OPERATOR_TOKEN: &str = "console-operator-token-for-tests-0123456789";

/// A second later, press Redeliver on the deliveries page's row of `kind`, and let the worker decide it.
async fn redeliver(h: &Harness, browser: &Browser, kind: &str) {
    h.clock.advance(1);
    browser
        .click(&format!("#deliveries tr[data-kind={kind}] button.redeliver"))
        .await
        .unwrap();
    browser.text_once("main", "Delivered again").await.unwrap();
    h.settle().await;
}

/// GIVEN a mention by dave (write access, not linked), answered with the linking notice WHEN dave is linked and
/// the operator presses Redeliver on its row THEN the worker decides it anew: a run starts as dave and the row
/// says so; pressing Redeliver on it again starts no second run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_notice_runs_once_the_person_is_linked() {
    let h = Harness::start_with(HarnessOptions {
        extra_secrets: vec![
            ("console/operator-token".to_owned(), OPERATOR_TOKEN.to_owned()),
            ("console/session-key".to_owned(), "s".repeat(64)),
        ],
        ..HarnessOptions::default()
    })
    .await;
    h.github.set_role("dave", "write");
    h.deliver_and_settle("issue_comment", "redeliver-1", &daves_mention())
        .await;
    h.github.assert_one_linking_comment_for("dave");
    assert!(h.openhands.starts().is_empty());
    h.link(5151, "dave", "dave@openhands").await;

    let browser = Browser::open().await;
    let console = h.host().console_url();
    browser
        .sign_in(&console, OPERATOR_TOKEN)
        .await
        .expect("the sign-in form");
    let rows = browser.text_of("#deliveries tbody").await.unwrap();
    assert!(rows.contains("notice") && !rows.contains("run started"), "{rows}");

    redeliver(&h, &browser, "notice").await;
    let started = h.started().await;
    assert_eq!(started.len(), 1, "dave's run started");
    assert!(started[0].text().contains("fix it"), "{}", started[0].text());

    browser.goto(&format!("{console}/deliveries")).await.unwrap();
    let rows = browser.text_of("#deliveries tbody").await.unwrap();
    assert!(rows.contains("run started") && rows.contains("dave"), "{rows}");
    browser.screenshot("console-redelivered").await.unwrap();

    // The same delivery again: its run exists, so the worker finds it instead of starting another.
    redeliver(&h, &browser, "run").await;
    assert_eq!(h.started().await.len(), 1, "one run per trigger");
    browser.goto(&format!("{console}/deliveries")).await.unwrap();
    let rows = browser.text_of("#deliveries tbody").await.unwrap();
    assert!(rows.contains("run already started"), "{rows}");
    browser.close().await.unwrap();
}
