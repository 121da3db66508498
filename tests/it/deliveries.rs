//! The delivery log through the real path: GitHub deliveries into the local host, the worker deciding on each,
//! and `hookline-admin deliveries` (its library entry point) listing what it decided, on the host's database.

use clap::Parser;
use hookline::domain::{DecisionKind, DeliveryDecision, Provider};
use hookline_local::admin::{self, Cli, Store};
use hookline_tests::harness::{issue_comment, user, Harness, ALICE_ID, ALICE_KEY, WEBHOOK_SECRET};
use serde_json::Value;

/// A decision's delivery id, kind, reason, actor and run.
type Summary<'a> = (&'a str, DecisionKind, &'a str, Option<&'a str>, Option<&'a str>);

fn summarize(decisions: &[DeliveryDecision]) -> Vec<Summary<'_>> {
    decisions
        .iter()
        .map(|d| {
            (
                d.delivery_id.as_str(),
                d.kind,
                d.reason.as_str(),
                d.actor.as_deref(),
                d.conversation_id.as_deref(),
            )
        })
        .collect()
}

async fn admin(h: &Harness, args: &[&str]) -> String {
    let cli = Cli::try_parse_from(std::iter::once("hookline-admin").chain(args.iter().copied()))
        .expect("the command line parses");
    let store = Store::sqlite(h.host().store().database().clone());
    admin::execute(&cli.command, &store, &|_| None)
        .await
        .expect("the command succeeds")
}

/// Deliver a comment and wait until the worker has dealt with it.
async fn comment(h: &Harness, delivery: &str, number: u64, comment_id: u64, body: &str, author: Value) {
    let payload = issue_comment(number, comment_id, body, author, false);
    let (status, _) = h.deliver("issue_comment", delivery, &payload).await;
    assert!(status == 200 || status == 202, "delivery {delivery}: {status}");
    h.settle().await;
}

/// GIVEN comments that are ignored, denied, start a run, and come again WHEN the operator lists deliveries THEN
/// each has one decision with its fixed reason, newest first, and nothing secret is stored.
#[tokio::test]
async fn each_delivery_has_one_decision_with_its_reason() {
    let h = Harness::start().await;
    let alice = || user("alice", ALICE_ID);

    // GIVEN a mention that is not exact (the webhook lets it through; the worker ignores it)
    comment(&h, "d-ignored", 1, 101, "thanks @openhands-fan", alice()).await;
    h.clock.advance(1);
    // AND a mention by someone with read access only
    comment(
        &h,
        "d-denied",
        2,
        102,
        "@openhands please fix",
        user("mallory", 666),
    )
    .await;
    h.clock.advance(1);
    // AND a mention by a linked collaborator
    comment(&h, "d-run", 3, 103, "@openhands please fix", alice()).await;
    let conversation_id = h.openhands.last_conversation_id();
    h.clock.advance(1);
    // AND the provider redelivering that delivery (the webhook answers it as a duplicate), then the same comment
    // under a new delivery id (the run exists already)
    comment(&h, "d-run", 3, 103, "@openhands please fix", alice()).await;
    comment(&h, "d-run-again", 3, 103, "@openhands please fix", alice()).await;
    assert_eq!(h.openhands.starts().len(), 1, "one run");

    // WHEN the operator lists them as JSON
    let listing: Value =
        serde_json::from_str(&admin(&h, &["deliveries", "--json"]).await).expect("JSON listing");
    let decisions: Vec<DeliveryDecision> =
        serde_json::from_value(listing["decisions"].clone()).expect("decisions");
    assert_eq!(listing["next"], Value::Null);

    // THEN one decision per delivery, newest first, each with its kind, reason, actor and run
    let summary = summarize(&decisions);
    let run = Some(conversation_id.as_str());
    assert_eq!(
        summary,
        [
            (
                "d-run-again",
                DecisionKind::Duplicate,
                "run already started",
                Some("alice"),
                run
            ),
            ("d-run", DecisionKind::Run, "run started", Some("alice"), run),
            (
                "d-denied",
                DecisionKind::Denied,
                "no write access",
                Some("mallory"),
                None
            ),
            ("d-ignored", DecisionKind::Ignored, "no exact mention", None, None),
        ]
    );
    for d in &decisions {
        assert_eq!((d.provider, d.tenant.as_str()), (Provider::Github, "github.com"));
        assert_eq!(d.event, "issue_comment");
        assert!(d.received_at <= d.decided_at);
    }

    // AND the table, filtered and paged, says the same
    let table = admin(&h, &["deliveries", "--provider", "github", "--limit", "2"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("decided_at\tprovider\ttenant\tdelivery_id"),
        "{table}"
    );
    assert!(lines[1].contains("\td-run-again\tissue_comment\tduplicate\trun already started\talice\t"));
    assert!(lines[2].contains("\td-run\tissue_comment\trun\trun started\talice\t"));
    let cursor = lines[3]
        .strip_prefix("more: --after ")
        .expect("a cursor for more");
    let rest = admin(&h, &["deliveries", "--limit", "2", "--after", cursor]).await;
    assert!(
        rest.contains("\td-denied\tissue_comment\tdenied\tno write access\tmallory\t-"),
        "{rest}"
    );
    assert!(
        rest.contains("\td-ignored\tissue_comment\tignored\tno exact mention\t-\t-"),
        "{rest}"
    );
    assert!(!rest.contains("more:"), "{rest}");
    let other = admin(&h, &["deliveries", "--tenant", "ghe.example.com"]).await;
    assert_eq!(other.lines().count(), 1, "only the header: {other}");

    // AND no decision holds the webhook secret or the API key: not as listed, nor anywhere in the database files
    let listed = listing.to_string();
    assert!(
        !listed.contains(WEBHOOK_SECRET) && !listed.contains(ALICE_KEY),
        "{listed}"
    );
    for file in ["hookline.db", "hookline.db-wal"] {
        let bytes = std::fs::read(h.dir.path().join(file)).unwrap_or_default();
        for secret in [WEBHOOK_SECRET, ALICE_KEY] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{file} holds a secret"
            );
        }
    }
}

/// GIVEN a running conversation WHEN a stop comes from someone without write access, from a collaborator who did
/// not start it, from the person who did, and again once nothing runs THEN each stop's decision says which it was,
/// with the run it was about.
#[tokio::test]
async fn each_stop_is_recorded_as_what_it_did() {
    let h = Harness::start().await;
    h.github.set_role("bob", "write");
    comment(
        &h,
        "s-run",
        4,
        401,
        "@openhands please fix",
        user("alice", ALICE_ID),
    )
    .await;
    let conversation_id = h.openhands.last_conversation_id();
    let stops = [
        ("s-denied", user("mallory", 666)),
        ("s-not-theirs", user("bob", 77)),
        ("s-stop", user("alice", ALICE_ID)),
        ("s-nothing", user("alice", ALICE_ID)),
    ];
    for (i, (delivery, person)) in stops.into_iter().enumerate() {
        h.clock.advance(1);
        comment(&h, delivery, 4, 410 + i as u64, "@openhands stop", person).await;
    }
    let listing: Value =
        serde_json::from_str(&admin(&h, &["deliveries", "--json"]).await).expect("JSON listing");
    let decisions: Vec<DeliveryDecision> =
        serde_json::from_value(listing["decisions"].clone()).expect("decisions");
    let summary = summarize(&decisions[..4]);
    let run = Some(conversation_id.as_str());
    assert_eq!(
        summary,
        [
            (
                "s-nothing",
                DecisionKind::Notice,
                "nothing to stop",
                Some("alice"),
                None
            ),
            ("s-stop", DecisionKind::Stop, "stop requested", Some("alice"), run),
            (
                "s-not-theirs",
                DecisionKind::Notice,
                "someone else's run",
                Some("bob"),
                run
            ),
            (
                "s-denied",
                DecisionKind::Denied,
                "no write access",
                Some("mallory"),
                None
            ),
        ]
    );
}
