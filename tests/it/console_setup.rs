//! Registering the GitHub App from the console, in a real browser against the local host and the fake GitHub's
//! manifest pages: a host that starts with no App creates one in a few clicks and then serves GitHub webhooks
//! signed with the new secret, without a restart — and the attacks on it: a forged `state`, a form posted
//! from another site, a second registration.

use hookline::ports::Secrets;
use hookline_tests::{
    browser::{serve_page, Browser},
    fake_github::FAKE_APP_SLUG,
    harness::{issue_comment, user, Harness, HarnessOptions, ALICE_ID},
};

const OPERATOR_TOKEN: &str = "console-operator-token-for-setup-tests-0123";

async fn harness_without_app() -> Harness {
    Harness::start_with(HarnessOptions {
        workers: 1,
        without_github_app: true,
        extra_secrets: vec![
            ("console/operator-token".to_owned(), OPERATOR_TOKEN.to_owned()),
            ("console/session-key".to_owned(), "s".repeat(64)),
        ],
        ..HarnessOptions::default()
    })
    .await
}

/// GIVEN a host with no GitHub App WHEN the operator opens the setup page, creates the App on GitHub and
/// finishes THEN the App's secrets are stored, the page links to installing it, and a mention signed with the
/// new webhook secret starts a run (the worker signs in as the new App) — no restart, and after one too. An attacker's code with
/// a forged state, and a form from another site, are refused first and store nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_creates_the_github_app_and_github_is_served_at_once() {
    let h = harness_without_app().await;
    let mention = issue_comment(7, 701, "@openhands please fix", user("alice", ALICE_ID), false);
    assert_eq!(
        h.deliver_signed("anything", "issue_comment", "before-setup", &mention)
            .await
            .0,
        404,
        "GitHub is off until its App exists"
    );
    let browser = Browser::open().await;
    let console = h.host().console_url();

    // Not signed in: the setup page is the sign-in form; signed in, the setup is the first page.
    browser.goto(&format!("{console}/setup")).await.unwrap();
    assert!(browser.text_of("main").await.unwrap().contains("Operator token"));
    browser.sign_in(&console, OPERATOR_TOKEN).await.unwrap();
    browser
        .element("#create-personal")
        .await
        .expect("the setup page after sign-in");

    // An attacker registers an App of their own and sends the operator the way back with their code.
    let attacker_code = h
        .github
        .register_app_from_manifest(
            &format!(r#"{{"name":"evil","url":"https://evil.example","redirect_url":"{console}/setup/github/done"}}"#),
            "forged",
        )
        .await;
    browser
        .goto(&format!(
            "{console}/setup/github/done?code={attacker_code}&state=1.forged"
        ))
        .await
        .unwrap();
    browser.click("#finish-setup").await.unwrap();
    browser
        .text_once("main", "not started from this console")
        .await
        .expect("a forged state is refused");
    assert!(
        h.github.created_apps().is_empty(),
        "the attacker's code was never exchanged"
    );

    // The real setup.
    browser.goto(&format!("{console}/setup")).await.unwrap();
    let explained = browser.text_of("main").await.unwrap();
    assert!(
        explained.contains(&format!("{}/webhooks/github", h.url())),
        "{explained}"
    );
    browser.screenshot("console-setup").await.unwrap();
    browser.click("#create-personal").await.unwrap();
    // GitHub's page (the fake's), with its "Create GitHub App" button.
    browser
        .element("#create-app")
        .await
        .expect("GitHub's create page");
    assert!(browser
        .text_of("h1")
        .await
        .unwrap()
        .contains("Create GitHub App Hookline"));
    let posted = h
        .github
        .posted_manifests()
        .pop()
        .expect("the manifest reached GitHub");
    let manifest = posted.manifest;
    assert_eq!(
        manifest["hook_attributes"]["url"],
        format!("{}/webhooks/github", h.url())
    );
    assert_eq!(manifest["redirect_url"], format!("{console}/setup/github/done"));
    assert_eq!(manifest["public"], false);
    assert_eq!(manifest["default_permissions"]["issues"], "write");
    assert_eq!(manifest["default_permissions"]["pull_requests"], "write");
    assert!(manifest["default_events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "issue_comment"));

    browser.click("#create-app").await.unwrap();
    let code = h.github.posted_manifests().len();
    // A page of another origin posting the way back (with the real code) is refused.
    let (attacker, _attacker_page) = serve_page(&format!(
        "<form method=post action=\"{console}/setup/github/done\"><input name=code value=\"fakecode{code}\">\
         <input name=state value=\"{}\"><button id=go>win a prize</button></form>",
        posted.state.clone().unwrap()
    ))
    .await;
    let landing = browser.client().current_url().await.unwrap();
    browser.post_from_another_site(&attacker).await.unwrap();
    assert!(h.github.created_apps().is_empty());

    browser.goto(landing.as_str()).await.unwrap();
    browser.click("#finish-setup").await.unwrap();
    browser.text_once(".notice", "is set up").await.unwrap();
    let install = browser.href_of("#install").await.unwrap();
    assert_eq!(
        install.as_deref(),
        Some(format!("{}/apps/{FAKE_APP_SLUG}/installations/new", h.github.url()).as_str())
    );
    browser.screenshot("console-github-app").await.unwrap();

    let secret = h
        .secrets
        .get("github/webhook-secret")
        .await
        .expect("webhook secret stored");
    assert_eq!(secret.expose(), format!("fake-webhook-secret-fakecode{code}"));
    assert!(h.secrets.get("github/private-key").await.is_ok());
    assert!(h.secrets.get("github/client-secret").await.is_ok());
    let stored = h.secrets.get("github/app").await.unwrap();
    assert!(stored.expose().contains(FAKE_APP_SLUG));

    // GitHub is served now: the old secret is refused, the new one starts a run as the new App.
    assert_eq!(
        h.deliver_signed("anything", "issue_comment", "forged", &mention)
            .await
            .0,
        401
    );
    assert_eq!(
        h.deliver_signed(secret.expose(), "issue_comment", "after-setup", &mention)
            .await
            .0,
        202
    );
    h.settle().await;
    assert_eq!(h.openhands.starts().len(), 1, "the mention started a run");
    assert_eq!(h.github.bot_comments().len(), 1, "and the App posted its status");

    // A second registration is refused: the page offers none, and the way back again stores nothing.
    browser.goto(&format!("{console}/setup")).await.unwrap();
    assert!(browser.text_of("main").await.unwrap().contains("is set up"));
    browser.goto(landing.as_str()).await.unwrap();
    browser.click("#finish-setup").await.unwrap();
    browser.text_once("main", "configured already").await.unwrap();
    assert_eq!(h.github.created_apps().len(), 1);
    browser.close().await.unwrap();

    // A restart finds the registered App in the secret store.
    let mut h = h;
    h.stop().await;
    h.boot().await;
    let again = issue_comment(8, 801, "@openhands please fix", user("alice", ALICE_ID), false);
    assert_eq!(
        h.deliver_signed(secret.expose(), "issue_comment", "after-restart", &again)
            .await
            .0,
        202
    );
}
