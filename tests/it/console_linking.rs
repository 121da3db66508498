//! People linking themselves, in a real browser against the local host and the fake GitHub's sign-in: the
//! unlinked-person notice carries an invitation; the person signs in with GitHub, enters an OpenHands key, and
//! their next mention starts a run as them — and the attacks: the invitation opened by another GitHub account,
//! used twice, forged, or expired; a forged `state`; the key form from another site.

use hookline::ports::{IdentityStore, Secrets};
use hookline_tests::{
    browser::{serve_page, Browser},
    harness::{issue_comment, user, Harness, HarnessOptions},
};

const BOB_ID: u64 = 5151;
const BOB_KEY: &str = "oh-api-key-bob";
const CLIENT_SECRET: &str = "fake-client-secret-configured";

async fn harness() -> Harness {
    harness_with(Vec::new()).await
}

async fn harness_with(extra_env: Vec<(String, String)>) -> Harness {
    let h = Harness::start_with(HarnessOptions {
        workers: 1,
        extra_env,
        extra_secrets: vec![
            (
                "console/operator-token".to_owned(),
                "operator-token-linking-tests-0123".to_owned(),
            ),
            ("console/session-key".to_owned(), "s".repeat(64)),
            ("github/client-secret".to_owned(), CLIENT_SECRET.to_owned()),
        ],
        ..HarnessOptions::default()
    })
    .await;
    h.github.accept_client_secret(CLIENT_SECRET);
    h.github.set_role("bob", "write");
    h
}

/// The invitation link in the newest notice for `login`.
fn invitation_link(h: &Harness, login: &str) -> String {
    let notice = h
        .github
        .bot_comments()
        .into_iter()
        .rev()
        .find(|c| c.body.contains(&format!("@{login}")) && c.body.contains("not linked"))
        .expect("a notice for the unlinked person");
    let at = notice.body.find("](").expect("a Markdown link in the notice") + 2;
    notice.body[at..].split(')').next().unwrap().to_owned()
}

/// Bob's identity link, which the test expects to exist.
async fn bobs_link(h: &Harness) -> hookline::domain::IdentityLink {
    h.host()
        .store()
        .get_link(
            hookline::domain::Provider::Github,
            "github.com",
            &BOB_ID.to_string(),
        )
        .await
        .unwrap()
        .expect("bob is linked")
}

/// Follow an invitation `link` through GitHub's sign-in (as whoever the fake has signed in) and back.
async fn sign_in_with_github(browser: &Browser, link: &str) {
    let steps = ["#sign-in-with-provider", "#authorize", "#continue-link"];
    browser.click_through(link, &steps).await.unwrap();
}

/// GIVEN bob (write access, not linked) mentions Hookline WHEN he follows the notice's link, signs in with
/// GitHub as himself and enters his key THEN he is linked (the key in the secret store, the link naming it) and
/// his next mention starts a run with his key. Mallory, signed in to GitHub, cannot use bob's link; a forged
/// state and a cross-site key form are refused; the link works once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_links_themselves_and_their_next_mention_runs_as_them() {
    let h = harness().await;
    let bob = user("bob", BOB_ID);
    let first = issue_comment(9, 901, "@openhands please fix", bob.clone(), false);
    h.deliver_and_settle("issue_comment", "bob-unlinked", &first)
        .await;
    let link = invitation_link(&h, "bob");
    assert!(
        link.starts_with(&format!("{}/link?invite=", h.host().console_url())),
        "{link}"
    );
    assert!(h.openhands.starts().is_empty());

    let browser = Browser::open().await;

    // Mallory saw the notice and is signed in to GitHub as herself.
    h.github.sign_in_as("mallory", 6666);
    browser.goto(&link).await.unwrap();
    browser.screenshot("console-link").await.unwrap();
    browser.click("#sign-in-with-provider").await.unwrap();
    browser.click("#authorize").await.unwrap();
    browser.click("#continue-link").await.unwrap();
    browser
        .text_once("main", "another account than the one")
        .await
        .expect("another account is refused");

    // A forged way back (someone's own code, a made-up state).
    h.github.sign_in_as("bob", BOB_ID);
    browser
        .goto(&format!(
            "{}/link/github/callback?code=usercode9&state=x~1.forged",
            h.host().console_url()
        ))
        .await
        .unwrap();
    browser.click("#continue-link").await.unwrap();
    browser.text_once("main", "not one Hookline made").await.unwrap();

    // Bob himself.
    sign_in_with_github(&browser, &link).await;
    browser.fill("#openhands-user", "bob@example.com").await.unwrap();
    browser.fill("#api-key", BOB_KEY).await.unwrap();

    // The key form posted from another site (with bob's session cookie riding along) is refused.
    let (attacker, _attacker_page) = serve_page(&format!(
        "<form method=post action=\"{}/link/key\"><input name=invite value=x><input name=api_key value=evil>\
         <button id=go>win a prize</button></form>",
        h.host().console_url()
    ))
    .await;
    browser.click("#link").await.unwrap();
    browser.text_once(".notice", "is linked").await.unwrap();
    browser.screenshot("console-linked").await.unwrap();
    browser.post_from_another_site(&attacker).await.unwrap();

    let store = h.host().store();
    let linked = bobs_link(&h).await;
    assert_eq!(linked.openhands_user, "bob@example.com");
    let name = linked.api_key_secret.expect("the link names the key's secret");
    assert_eq!(h.secrets.get(&name).await.unwrap().expose(), BOB_KEY);
    let links = format!("{:?}", store.list_links().await.unwrap());
    assert!(!links.contains(BOB_KEY), "the link holds only the secret's name");

    // The link works once.
    sign_in_with_github(&browser, &link).await;
    browser
        .fill("#openhands-user", "mallory@example.com")
        .await
        .unwrap();
    browser.fill("#api-key", "another-key").await.unwrap();
    browser.click("#link").await.unwrap();
    browser.text_once("main", "used already").await.unwrap();
    browser.close().await.unwrap();

    // Bob's next mention runs with his key.
    h.openhands.require_bearer(BOB_KEY);
    let again = issue_comment(9, 902, "@openhands please fix", bob, false);
    h.deliver_and_settle("issue_comment", "bob-linked", &again).await;
    assert_eq!(h.openhands.starts().len(), 1, "the run started with bob's key");

    // Bob sees his link and removes it: the record and the key he stored are gone.
    let browser = Browser::open().await;
    sign_in_with_github(&browser, &link).await;
    browser
        .text_once("#current-link", "bob@example.com")
        .await
        .unwrap();
    browser.click("#remove-link").await.unwrap();
    browser.text_once(".notice", "no longer linked").await.unwrap();
    browser.close().await.unwrap();
    assert!(store
        .get_link(
            hookline::domain::Provider::Github,
            "github.com",
            &BOB_ID.to_string()
        )
        .await
        .unwrap()
        .is_none());
    assert!(h.secrets.get(&name).await.is_err(), "his key is deleted");
}

/// GIVEN an invitation WHEN it is older than its lifetime THEN the link says it expired and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_invitation_is_refused() {
    let h = harness().await;
    let first = issue_comment(10, 1001, "@openhands please fix", user("bob", BOB_ID), false);
    h.deliver_and_settle("issue_comment", "bob-expiring", &first)
        .await;
    let link = invitation_link(&h, "bob");
    h.clock.advance(24 * 3600);
    let page = h.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("expired"));
}

/// Sign in to the console with GitHub (as whoever the fake has signed in) and come back.
async fn operator_sign_in_with_github(browser: &Browser, console: &str) {
    let steps = ["#sign-in-with-github", "#authorize", "#continue-link"];
    browser.click_through(console, &steps).await.unwrap();
}

/// GIVEN operators listed by GitHub login WHEN someone signs in to the console with GitHub THEN a listed
/// account gets an operator session and any other account is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_operators_sign_in_with_github_and_nobody_else_does() {
    let h = harness_with(vec![(
        "HOOKLINE_CONSOLE_OPERATORS".to_owned(),
        "@Carol, 4242".to_owned(),
    )])
    .await;
    let console = h.host().console_url();
    let browser = Browser::open().await;
    h.github.sign_in_as("mallory", 6666);
    operator_sign_in_with_github(&browser, &console).await;
    browser
        .text_once("main", "not one of this console's operators")
        .await
        .unwrap();
    browser.goto(&format!("{console}/runs")).await.unwrap();
    browser
        .text_once("main", "Operator token")
        .await
        .expect("still signed out");

    h.github.sign_in_as("carol", 7777);
    operator_sign_in_with_github(&browser, &console).await;
    browser
        .text_once("nav", "Deliveries")
        .await
        .expect("an operator now");
    browser.goto(&format!("{console}/runs")).await.unwrap();
    browser.element("#runs, .empty").await.expect("the runs page");
    browser.close().await.unwrap();
}

/// GIVEN a shared identity kept for those who choose it (`OPENHANDS_DEFAULT_USE=chosen`) WHEN bob (not linked)
/// mentions Hookline THEN he is invited instead of working under it; WHEN he signs in and picks the shared
/// identity THEN his link names it (no key of his is stored), his next mention runs under it, and a repository
/// named in a message is still refused under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_picks_the_shared_identity_where_the_operator_allows_it() {
    let h = harness_with(hookline_tests::harness::owned(&[
        ("OPENHANDS_DEFAULT_USER", "shared-bot"),
        ("OPENHANDS_DEFAULT_API_KEY_SECRET", "openhands/alice"),
        ("OPENHANDS_DEFAULT_USE", "chosen"),
    ]))
    .await;
    let bob = user("bob", BOB_ID);
    let first = issue_comment(12, 1201, "@openhands please fix", bob.clone(), false);
    h.deliver_and_settle("issue_comment", "bob-shared-1", &first)
        .await;
    assert!(
        h.openhands.starts().is_empty(),
        "not under the shared identity unasked"
    );
    let link = invitation_link(&h, "bob");

    let browser = Browser::open().await;
    h.github.sign_in_as("bob", BOB_ID);
    sign_in_with_github(&browser, &link).await;
    browser.text_once("main", "shared-bot").await.unwrap();
    browser.click("#link-shared").await.unwrap();
    browser.text_once(".notice", "is linked").await.unwrap();
    let stored = bobs_link(&h).await;
    assert_eq!(stored.openhands_user, "shared-bot");
    assert_eq!(stored.api_key_secret.as_deref(), Some("openhands/alice"));
    browser.close().await.unwrap();

    let named = issue_comment(
        13,
        1301,
        "@openhands repo=octo-org/infra drop it",
        bob.clone(),
        false,
    );
    h.deliver_and_settle("issue_comment", "bob-shared-2", &named)
        .await;
    assert!(h.openhands.starts().is_empty());
    assert!(h
        .bot_comments()
        .iter()
        .any(|c| c.body.contains("Under the shared identity")));
    let again = issue_comment(14, 1401, "@openhands please fix", bob, false);
    h.deliver_and_settle("issue_comment", "bob-shared-3", &again)
        .await;
    assert_eq!(
        h.openhands.starts().len(),
        1,
        "bob's run, under the shared identity"
    );
}
