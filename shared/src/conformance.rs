//! The storage-port conformance suite: one set of async checks of the semantics of [`DeliveryStore`],
//! [`RunStore`], [`IdentityStore`] and [`DeliveryLog`], run against every adapter through [`store_conformance_tests!`] — the
//! memory store ([`crate::memory`]), the SQLite store (`embedded`) and, from the integration tests, the DynamoDB
//! store against moto.
//!
//! Compiled for this crate's own tests and, behind the `conformance` feature, for other crates' tests; it is not
//! part of any shipped binary.

use std::time::Duration;

use crate::{
    domain::{Actor, DecisionKind, DeliveryDecision, IdentityLink, Provider, RunRecord, RunState, SourceRef},
    error::PortError,
    github::{GithubSource, GithubTarget},
    ports::{
        run_position, Claim, DeliveryLog, DeliveryPage, DeliveryQuery, DeliveryStore, IdentityStore, RunPage,
        RunQuery, RunStore, ThreadClaim,
    },
};

const TTL: Duration = Duration::from_secs(60);

/// A run record for tests; only `conversation_id`, `state` and `created_at` vary.
pub fn run(conversation_id: &str, state: RunState, created_at: u64) -> RunRecord {
    RunRecord {
        conversation_id: conversation_id.to_owned(),
        run_key: format!("github:octo/hello#1:{conversation_id}"),
        provider: Provider::Github,
        tenant: "github.com".to_owned(),
        thread_key: "github:octo/hello#1".to_owned(),
        source: SourceRef::Github(GithubSource {
            installation_id: 7,
            repository: "octo/hello".to_owned(),
            number: 1,
            is_pull_request: false,
            target: GithubTarget::IssueComment { comment_id: 5 },
        }),
        actor: Actor {
            id: "42".to_owned(),
            login: "octocat".to_owned(),
        },
        openhands_user: "oh-user".to_owned(),
        api_key_secret: Some("openhands/oh-user".to_owned()),
        state,
        status: None,
        start_task_id: None,
        session_key_sha256: None,
        agent_server_url: None,
        created_at,
        updated_at: created_at,
        deadline_at: created_at + 3600,
        last_execution_status: None,
        outcome: None,
        title: String::new(),
        title_set: false,
        start_requested_at: None,
        pending_messages: Vec::new(),
        previous_conversation_id: None,
        sandbox_trouble: None,
        conclusion: None,
        progress: Default::default(),
        options: Default::default(),
        version: 0,
    }
}

fn link(provider: Provider, tenant: &str, user: &str, login: &str) -> IdentityLink {
    IdentityLink {
        provider,
        tenant: tenant.to_owned(),
        external_user_id: user.to_owned(),
        external_login: login.to_owned(),
        openhands_user: format!("oh-{login}"),
        api_key_secret: Some(format!("openhands/{login}")),
        created_at: 1_700_000_000,
    }
}

/// GIVEN an empty store WHEN a key is claimed twice THEN the second is a duplicate; completion keeps it a
/// duplicate until the done record expires. Keys have the shape the webhooks use (`provider#tenant#delivery`).
pub async fn claim_duplicate_complete<S: DeliveryStore>(store: &S) {
    let (d1, d2) = ("github#github.com#d1", "github#github.com#d2");
    let now = 1_000;
    assert_eq!(store.claim(d1, now, TTL).await.unwrap(), Claim::Claimed);
    assert_eq!(store.claim(d1, now + 1, TTL).await.unwrap(), Claim::Duplicate);
    assert_eq!(
        store.claim(d2, now + 1, TTL).await.unwrap(),
        Claim::Claimed,
        "keys are independent"
    );

    store
        .complete(d1, now + 2, Duration::from_secs(1_000))
        .await
        .unwrap();
    // Past the original claim's expiry, but the done record lives longer.
    assert_eq!(store.claim(d1, now + 500, TTL).await.unwrap(), Claim::Duplicate);
    assert_eq!(
        store.claim(d1, now + 1_002, TTL).await.unwrap(),
        Claim::Claimed,
        "done record expired"
    );
}

/// GIVEN a claimed key WHEN it is released THEN the next claim succeeds.
pub async fn release_allows_reclaim<S: DeliveryStore>(store: &S) {
    assert_eq!(store.claim("k", 10, TTL).await.unwrap(), Claim::Claimed);
    store.release("k").await.unwrap();
    assert_eq!(store.claim("k", 11, TTL).await.unwrap(), Claim::Claimed);
    store.release("never-claimed").await.unwrap();
}

/// GIVEN a claim that was never completed WHEN its expiry passes THEN another caller takes it over.
pub async fn expired_claim_is_taken_over<S: DeliveryStore>(store: &S) {
    assert_eq!(store.claim("k", 100, TTL).await.unwrap(), Claim::Claimed);
    assert_eq!(
        store.claim("k", 159, TTL).await.unwrap(),
        Claim::Duplicate,
        "still held one second before"
    );
    assert_eq!(
        store.claim("k", 160, TTL).await.unwrap(),
        Claim::Claimed,
        "expired at now + ttl"
    );
    assert_eq!(
        store.claim("k", 200, TTL).await.unwrap(),
        Claim::Duplicate,
        "the takeover restarted the expiry"
    );
}

/// GIVEN a stored run WHEN the same conversation id is inserted again THEN nothing is written.
pub async fn insert_run_once<S: RunStore>(store: &S) {
    let first = run("c1", RunState::Claimed, 10);
    assert!(store.insert_run(&first).await.unwrap());
    let mut second = run("c1", RunState::Running, 99);
    second.outcome = Some("other".to_owned());
    assert!(!store.insert_run(&second).await.unwrap());
    assert_eq!(store.get_run("c1").await.unwrap(), Some(first));
    assert_eq!(store.get_run("missing").await.unwrap(), None);
}

/// GIVEN two copies of a run WHEN both are updated THEN only the first wins and versions advance by one.
pub async fn update_run_is_optimistic<S: RunStore>(store: &S) {
    assert!(store.insert_run(&run("c1", RunState::Claimed, 10)).await.unwrap());
    let mut mine = store.get_run("c1").await.unwrap().unwrap();
    let mut theirs = mine.clone();

    mine.state = RunState::Running;
    mine.start_task_id = Some("task-1".to_owned());
    assert!(store.update_run(&mut mine).await.unwrap());
    assert_eq!(mine.version, 1);
    assert_eq!(store.get_run("c1").await.unwrap(), Some(mine.clone()));

    theirs.state = RunState::Failed;
    assert!(
        !store.update_run(&mut theirs).await.unwrap(),
        "stale version must lose"
    );
    assert_eq!(
        theirs.version, 0,
        "a lost update leaves the caller's version alone"
    );
    assert_eq!(store.get_run("c1").await.unwrap(), Some(mine.clone()));

    mine.state = RunState::Reported;
    assert!(store.update_run(&mut mine).await.unwrap());
    assert_eq!(mine.version, 2);
    assert_eq!(
        store.get_run("c1").await.unwrap().map(|r| (r.state, r.version)),
        Some((RunState::Reported, 2))
    );

    let mut ghost = run("ghost", RunState::Running, 1);
    assert!(
        !store.update_run(&mut ghost).await.unwrap(),
        "an absent run is not updated"
    );
    assert_eq!(store.get_run("ghost").await.unwrap(), None);
}

/// GIVEN runs in several states WHEN the sweep lists some states THEN it gets those, oldest first, capped, as
/// whole records, and a state change moves a run between lists.
pub async fn runs_in_states_order_and_limit<S: RunStore>(store: &S) {
    for (id, state, created_at) in [
        ("c-new", RunState::Running, 300),
        ("c-old", RunState::Claimed, 100),
        ("c-done", RunState::Reported, 50),
        ("c-mid-b", RunState::Running, 200),
        ("c-mid-a", RunState::Claimed, 200),
        ("c-failed", RunState::Failed, 150),
        // Numerically older but lexically larger than the others: the order must be by number.
        ("c-ancient", RunState::Running, 9),
    ] {
        assert!(store.insert_run(&run(id, state, created_at)).await.unwrap());
    }
    let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.conversation_id).collect::<Vec<_>>();

    let open = store
        .runs_in_states(&[RunState::Claimed, RunState::Running], 10)
        .await
        .unwrap();
    assert_eq!(ids(open), ["c-ancient", "c-old", "c-mid-a", "c-mid-b", "c-new"]);
    let capped = store
        .runs_in_states(&[RunState::Running, RunState::Claimed], 3)
        .await
        .unwrap();
    assert_eq!(ids(capped), ["c-ancient", "c-old", "c-mid-a"]);
    let terminal = store
        .runs_in_states(&[RunState::Failed, RunState::Reported], 10)
        .await
        .unwrap();
    assert_eq!(ids(terminal), ["c-done", "c-failed"]);
    let repeated = store
        .runs_in_states(&[RunState::Running, RunState::Running], 10)
        .await
        .unwrap();
    assert_eq!(ids(repeated), ["c-ancient", "c-mid-b", "c-new"]);
    assert!(store.runs_in_states(&[], 10).await.unwrap().is_empty());
    assert!(store
        .runs_in_states(&[RunState::Running], 0)
        .await
        .unwrap()
        .is_empty());

    let listed = store.runs_in_states(&[RunState::Claimed], 1).await.unwrap();
    assert_eq!(
        listed,
        [store.get_run("c-old").await.unwrap().unwrap()],
        "the listing returns whole records"
    );

    let mut old = store.get_run("c-old").await.unwrap().unwrap();
    old.state = RunState::Reported;
    assert!(store.update_run(&mut old).await.unwrap());
    assert_eq!(
        ids(store.runs_in_states(&[RunState::Claimed], 10).await.unwrap()),
        ["c-mid-a"]
    );
    assert_eq!(
        ids(store.runs_in_states(&[RunState::Reported], 10).await.unwrap()),
        ["c-done", "c-old"]
    );
}

/// Every item of a listing, read from its start page by page, and how many pages that took: `page(after)` reads
/// the page after the cursor `after` and gives its items and the next cursor. No page may hold more than
/// `page_size`.
async fn every_page<T, Page>(
    page_size: usize,
    mut page: impl FnMut(Option<String>) -> Page,
) -> (Vec<T>, usize)
where
    Page: std::future::Future<Output = (Vec<T>, Option<String>)>,
{
    let mut listed = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let (items, next) = page(after.take()).await;
        pages += 1;
        assert!(items.len() <= page_size);
        listed.extend(items);
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    (listed, pages)
}

async fn recent_runs<S: RunStore>(store: &S, query: RunQuery) -> RunPage {
    store.recent_runs(&query).await.unwrap()
}

fn run_query(limit: usize) -> RunQuery {
    RunQuery {
        limit,
        ..RunQuery::default()
    }
}

fn run_ids(runs: &[RunRecord]) -> Vec<&str> {
    runs.iter().map(|r| r.conversation_id.as_str()).collect()
}

/// GIVEN runs of several states and providers WHEN listed THEN newest first (the conversation id breaking ties,
/// descending) as whole records, the state and provider filters apply alone and together, a page that is not
/// the last ends with its last run's position as cursor, and a state change moves a run between listings.
pub async fn recent_runs_newest_first_and_filtered<S: RunStore>(store: &S) {
    for (id, provider, state, created_at) in [
        ("c-new", Provider::Github, RunState::Running, 300),
        ("c-old", Provider::Slack, RunState::Claimed, 100),
        ("c-done", Provider::Github, RunState::Reported, 50),
        ("c-mid-b", Provider::Gitlab, RunState::Running, 200),
        ("c-mid-a", Provider::Github, RunState::Failed, 200),
        ("c-mid-c", Provider::Slack, RunState::Running, 200),
        // Older than `c-done` by number, newer as unpadded text: the order must be by number.
        ("c-ancient", Provider::Slack, RunState::Running, 9),
    ] {
        let run = RunRecord {
            provider,
            ..run(id, state, created_at)
        };
        assert!(store.insert_run(&run).await.unwrap());
    }
    let listed = |page: RunPage| {
        assert_eq!(page.next, None, "one page holds them all");
        run_ids(&page.runs)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let states = |states: &[RunState]| RunQuery {
        states: states.to_vec(),
        ..run_query(10)
    };

    let all = recent_runs(store, run_query(10)).await;
    assert_eq!(
        run_ids(&all.runs),
        [
            "c-new",
            "c-mid-c",
            "c-mid-b",
            "c-mid-a",
            "c-old",
            "c-done",
            "c-ancient"
        ]
    );
    assert_eq!(
        all.runs[0],
        store.get_run("c-new").await.unwrap().unwrap(),
        "the listing returns whole records"
    );
    assert_eq!(
        recent_runs(store, states(&RunState::ALL)).await,
        all,
        "naming every state is no filter"
    );
    assert_eq!(
        listed(recent_runs(store, states(&[RunState::Running])).await),
        ["c-new", "c-mid-c", "c-mid-b", "c-ancient"]
    );
    assert_eq!(
        listed(
            recent_runs(
                store,
                states(&[RunState::Running, RunState::Claimed, RunState::Running])
            )
            .await
        ),
        ["c-new", "c-mid-c", "c-mid-b", "c-old", "c-ancient"]
    );
    let slack = RunQuery {
        provider: Some(Provider::Slack),
        ..run_query(10)
    };
    assert_eq!(
        listed(recent_runs(store, slack.clone()).await),
        ["c-mid-c", "c-old", "c-ancient"]
    );
    let slack_running = RunQuery {
        states: vec![RunState::Running],
        ..slack
    };
    assert_eq!(
        listed(recent_runs(store, slack_running).await),
        ["c-mid-c", "c-ancient"]
    );
    let jira = RunQuery {
        provider: Some(Provider::Jira),
        ..run_query(10)
    };
    assert_eq!(recent_runs(store, jira).await, RunPage::default());
    assert_eq!(
        recent_runs(store, states(&[RunState::Starting])).await,
        RunPage::default()
    );

    let first = recent_runs(store, run_query(3)).await;
    assert_eq!(run_ids(&first.runs), ["c-new", "c-mid-c", "c-mid-b"]);
    assert_eq!(first.next, Some(run_position(&first.runs[2])));
    let exact = recent_runs(store, run_query(7)).await;
    assert_eq!(
        (exact.runs.len(), exact.next),
        (7, None),
        "a full last page has no cursor"
    );
    assert_eq!(
        recent_runs(store, run_query(0)).await,
        RunPage::default(),
        "limit 0 lists nothing"
    );

    let mut old = store.get_run("c-old").await.unwrap().unwrap();
    old.state = RunState::Reported;
    assert!(store.update_run(&mut old).await.unwrap());
    assert_eq!(
        recent_runs(store, states(&[RunState::Claimed])).await,
        RunPage::default()
    );
    assert_eq!(
        listed(recent_runs(store, states(&[RunState::Reported])).await),
        ["c-old", "c-done"]
    );
}

/// GIVEN many runs WHEN listed a page at a time, each page after the previous one's cursor THEN the pages add
/// up to the whole listing, in order, each run once, and the last page has no cursor; with filters too. A cursor
/// no listing gave is a permanent error, whatever the limit.
pub async fn recent_runs_page_with_a_cursor<S: RunStore>(store: &S) {
    let mut all = Vec::new();
    for i in 0..230u64 {
        let state = [RunState::Running, RunState::Reported, RunState::Failed][(i % 3) as usize];
        let provider = if i % 4 == 0 {
            Provider::Slack
        } else {
            Provider::Github
        };
        // Pairs share an instant, and ids are in no relation to it, so ties are paged through too.
        let run = RunRecord {
            provider,
            ..run(&format!("c{:03}", i * 7_919 % 1_000), state, 1_000 + i / 2)
        };
        assert!(store.insert_run(&run).await.unwrap());
        all.push(run);
    }
    all.sort_by(|a, b| (b.created_at, &b.conversation_id).cmp(&(a.created_at, &a.conversation_id)));

    for (states, provider, page_size) in [
        (vec![], None, 40),
        (vec![RunState::Running, RunState::Failed], None, 25),
        (vec![], Some(Provider::Slack), 25),
        (vec![RunState::Reported], Some(Provider::Slack), 7),
    ] {
        let filter = RunQuery {
            states,
            provider,
            ..run_query(page_size)
        };
        let expected: Vec<&RunRecord> = all.iter().filter(|r| filter.matches(r)).collect();
        let (listed, pages) = every_page(page_size, |after| {
            let query = RunQuery {
                after,
                ..filter.clone()
            };
            async move {
                let page = recent_runs(store, query).await;
                (page.runs, page.next)
            }
        })
        .await;
        assert_eq!(listed.iter().collect::<Vec<_>>(), expected, "{filter:?}");
        assert_eq!(pages, expected.len().div_ceil(page_size), "{filter:?}");
    }

    for (cursor, limit) in [
        ("not a cursor".to_owned(), 10),
        ("1000#c001".to_owned(), 10),
        (format!("{:020}#", 1_000), 10),
        (format!("{:019}x#c001", 1_000), 10),
        ("not a cursor".to_owned(), 0),
    ] {
        let bad = RunQuery {
            after: Some(cursor.clone()),
            ..run_query(limit)
        };
        let err = store.recent_runs(&bad).await.unwrap_err();
        assert!(matches!(err, PortError::Permanent { .. }), "{cursor:?}: {err}");
    }
}

/// GIVEN a thread WHEN conversations claim and release it THEN one holds it at a time and only the holder
/// releases it.
pub async fn thread_claims<S: RunStore>(store: &S) {
    assert_eq!(
        store.claim_thread("t1", "c1").await.unwrap(),
        ThreadClaim::Claimed
    );
    assert_eq!(
        store.claim_thread("t1", "c1").await.unwrap(),
        ThreadClaim::Claimed,
        "re-claim is idempotent"
    );
    assert_eq!(
        store.claim_thread("t1", "c2").await.unwrap(),
        ThreadClaim::Active {
            conversation_id: "c1".to_owned()
        }
    );
    assert_eq!(
        store.claim_thread("t2", "c2").await.unwrap(),
        ThreadClaim::Claimed,
        "threads are independent"
    );
    assert_eq!(store.thread_run("t1").await.unwrap().as_deref(), Some("c1"));
    assert_eq!(store.thread_run("t2").await.unwrap().as_deref(), Some("c2"));
    assert_eq!(store.thread_run("t3").await.unwrap(), None);

    store.release_thread("t1", "c2").await.unwrap();
    assert_eq!(
        store.claim_thread("t1", "c2").await.unwrap(),
        ThreadClaim::Active {
            conversation_id: "c1".to_owned()
        },
        "only the holder releases"
    );
    store.release_thread("t1", "c1").await.unwrap();
    assert_eq!(store.thread_run("t1").await.unwrap(), None, "released");
    assert_eq!(
        store.claim_thread("t1", "c2").await.unwrap(),
        ThreadClaim::Claimed
    );
    store.release_thread("missing", "c1").await.unwrap();
}

/// GIVEN identity links WHEN they are put, replaced, listed and removed THEN lookups follow, and separators in
/// tenants or ids cannot make two links collide.
pub async fn identity_links<S: IdentityStore>(store: &S) {
    const OCTO: (Provider, &str, &str) = (Provider::Github, "github.com", "42");
    async fn get<S: IdentityStore>(
        store: &S,
        (provider, tenant, user): (Provider, &str, &str),
    ) -> Option<IdentityLink> {
        store.get_link(provider, tenant, user).await.unwrap()
    }
    assert_eq!(get(store, OCTO).await, None);
    assert!(store.list_links().await.unwrap().is_empty());

    let octo = link(Provider::Github, "github.com", "42", "octocat");
    let other_tenant = link(Provider::Github, "ghe.example.com", "42", "octocat-ghe");
    let slack = link(Provider::Slack, "T01", "U42", "octo");
    let hash_a = link(Provider::Jira, "a#b", "c", "hash-a");
    let hash_b = link(Provider::Jira, "a", "b#c", "hash-b");
    for l in [&slack, &octo, &hash_b, &other_tenant, &hash_a] {
        store.put_link(l).await.unwrap();
    }
    assert_eq!(get(store, OCTO).await, Some(octo.clone()));
    assert_eq!(get(store, (Provider::Gitlab, "github.com", "42")).await, None);
    assert_eq!(
        get(store, (Provider::Jira, "a#b", "c")).await,
        Some(hash_a.clone())
    );
    assert_eq!(
        get(store, (Provider::Jira, "a", "b#c")).await,
        Some(hash_b.clone())
    );

    let renamed = link(Provider::Github, "github.com", "42", "octo-renamed");
    store.put_link(&renamed).await.unwrap();
    assert_eq!(get(store, OCTO).await, Some(renamed.clone()));

    // Ordered by provider, tenant, external user id.
    assert_eq!(
        store.list_links().await.unwrap(),
        [
            other_tenant.clone(),
            renamed,
            hash_b.clone(),
            hash_a.clone(),
            slack.clone()
        ]
    );

    let (provider, tenant, user) = OCTO;
    assert!(store.remove_link(provider, tenant, user).await.unwrap());
    assert!(!store.remove_link(provider, tenant, user).await.unwrap());
    assert_eq!(get(store, OCTO).await, None);
    assert_eq!(
        store.list_links().await.unwrap(),
        [other_tenant, hash_b, hash_a, slack]
    );
}

/// A delivery decision for tests: an ignored comment unless changed.
pub fn decision(provider: Provider, tenant: &str, delivery_id: &str, decided_at: u64) -> DeliveryDecision {
    DeliveryDecision {
        provider,
        tenant: tenant.to_owned(),
        delivery_id: delivery_id.to_owned(),
        event: "issue_comment".to_owned(),
        received_at: decided_at.saturating_sub(1),
        decided_at,
        kind: DecisionKind::Ignored,
        reason: "no mention".to_owned(),
        conversation_id: None,
        actor: None,
    }
}

async fn recent<S: DeliveryLog>(store: &S, query: DeliveryQuery) -> DeliveryPage {
    store.recent(&query).await.unwrap()
}

fn query(limit: usize) -> DeliveryQuery {
    DeliveryQuery {
        limit,
        ..DeliveryQuery::default()
    }
}

/// GIVEN a recorded decision WHEN the same delivery is decided again (a retry, a redelivery) THEN the listing
/// holds only the newer decision, in its new place.
pub async fn decisions_overwrite_per_delivery<S: DeliveryLog>(store: &S) {
    let first = decision(Provider::Github, "github.com", "d1", 100);
    let other = decision(Provider::Github, "github.com", "d2", 150);
    store.record(&first, ENVELOPE, TTL).await.unwrap();
    store.record(&other, ENVELOPE, TTL).await.unwrap();
    assert_eq!(recent(store, query(10)).await.decisions, [other.clone(), first]);

    let again = DeliveryDecision {
        decided_at: 200,
        kind: DecisionKind::Run,
        reason: "run started".to_owned(),
        conversation_id: Some("c1".to_owned()),
        actor: Some("octocat".to_owned()),
        ..decision(Provider::Github, "github.com", "d1", 200)
    };
    store.record(&again, ENVELOPE, TTL).await.unwrap();
    let page = recent(store, query(10)).await;
    assert_eq!(page.decisions, [again, other]);
    assert_eq!(page.next, None);
}

/// A queued body for the decisions these checks record.
const ENVELOPE: &str = r#"{"version":1,"payload":{}}"#;

/// GIVEN a decision recorded with its envelope WHEN the delivery is decided again on another envelope THEN the
/// envelope read back by the delivery's key is the latest, byte for byte; a key never recorded has none.
pub async fn envelopes_are_kept_with_their_decision<S: DeliveryLog>(store: &S) {
    let first = decision(Provider::Gitlab, "gitlab.com", "e1", 100);
    let text = r#"{"payload":{"note":"naïve \"quoted\" <b>"}}"#;
    store.record(&first, text, TTL).await.unwrap();
    assert_eq!(
        store.envelope(&first.storage_key()).await.unwrap().as_deref(),
        Some(text)
    );

    let again = DeliveryDecision {
        kind: DecisionKind::Run,
        ..decision(Provider::Gitlab, "gitlab.com", "e1", 200)
    };
    store.record(&again, ENVELOPE, TTL).await.unwrap();
    assert_eq!(
        store.envelope(&first.storage_key()).await.unwrap().as_deref(),
        Some(ENVELOPE)
    );
    assert_eq!(recent(store, query(10)).await.decisions, [again]);
    assert_eq!(store.envelope("gitlab#gitlab.com#never").await.unwrap(), None);
}

/// GIVEN decisions of several providers and tenants WHEN listed THEN newest first (the delivery key breaking
/// ties, descending), and the provider and tenant filters apply alone and together.
pub async fn decisions_newest_first_and_filtered<S: DeliveryLog>(store: &S) {
    let a = decision(Provider::Github, "github.com", "a", 10);
    let b = decision(Provider::Gitlab, "gitlab.com", "b", 30);
    let c = decision(Provider::Gitlab, "git.example.com", "c", 20);
    let d = decision(Provider::Slack, "T01", "d", 30);
    let e = decision(Provider::Slack, "gitlab.com", "e", 5);
    for x in [&a, &b, &c, &d, &e] {
        store.record(x, ENVELOPE, TTL).await.unwrap();
    }
    // `slack#T01#d` sorts after `gitlab#gitlab.com#b`, so it comes first at the same instant.
    assert_eq!(
        recent(store, query(10)).await.decisions,
        [d.clone(), b.clone(), c.clone(), a.clone(), e.clone()]
    );
    let gitlab = DeliveryQuery {
        provider: Some(Provider::Gitlab),
        ..query(10)
    };
    assert_eq!(
        recent(store, gitlab.clone()).await.decisions,
        [b.clone(), c.clone()]
    );
    let one_tenant = DeliveryQuery {
        tenant: Some("gitlab.com".to_owned()),
        ..gitlab
    };
    assert_eq!(
        recent(store, one_tenant).await.decisions,
        std::slice::from_ref(&b)
    );
    let tenant_only = DeliveryQuery {
        tenant: Some("gitlab.com".to_owned()),
        ..query(10)
    };
    assert_eq!(recent(store, tenant_only).await.decisions, [b, e]);
    let none = DeliveryQuery {
        provider: Some(Provider::Jira),
        ..query(10)
    };
    assert_eq!(recent(store, none).await, DeliveryPage::default());
}

/// GIVEN many decisions WHEN listed a page at a time, each page after the previous one's cursor THEN the pages
/// add up to the whole listing, in order, without repeats, and the last page has no cursor; with a filter too. A
/// cursor no listing gave is refused.
pub async fn decisions_page_with_a_cursor<S: DeliveryLog>(store: &S) {
    let mut all = Vec::new();
    for i in 0..230u64 {
        let (provider, tenant) = if i % 3 == 0 {
            (Provider::Slack, "T01")
        } else {
            (Provider::Github, "github.com")
        };
        // Pairs share an instant, so ties are paged through too.
        let decision = decision(provider, tenant, &format!("d{i:03}"), 1_000 + i / 2);
        store.record(&decision, ENVELOPE, TTL).await.unwrap();
        all.push(decision);
    }
    let position = |d: &DeliveryDecision| (d.decided_at, d.storage_key());
    all.sort_by_key(|d| std::cmp::Reverse(position(d)));

    for (filter, page_size) in [(None, 40), (Some(Provider::Slack), 25)] {
        let expected: Vec<&DeliveryDecision> = all
            .iter()
            .filter(|d| filter.is_none_or(|p| d.provider == p))
            .collect();
        let (listed, pages) = every_page(page_size, |after| {
            let query = DeliveryQuery {
                provider: filter,
                after,
                ..query(page_size)
            };
            async move {
                let page = recent(store, query).await;
                (page.decisions, page.next)
            }
        })
        .await;
        assert_eq!(listed.iter().collect::<Vec<_>>(), expected, "filter {filter:?}");
        assert_eq!(pages, expected.len().div_ceil(page_size), "filter {filter:?}");
    }
    let bad = DeliveryQuery {
        after: Some("not a cursor".to_owned()),
        ..query(10)
    };
    assert!(store.recent(&bad).await.is_err());
}

/// Generates a module `conformance` with one `#[tokio::test]` per check of this suite, named after it, in the
/// module where it is invoked (which needs `tokio` with its `macros` feature, and no item of its own named
/// `conformance`). `$make` is an expression yielding a fresh store, resolved in the invoking module; it is
/// evaluated inside each async test, so it may `.await` (a new DynamoDB table) but not use `?`.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@checks $make;
            claim_duplicate_complete,
            release_allows_reclaim,
            expired_claim_is_taken_over,
            insert_run_once,
            update_run_is_optimistic,
            runs_in_states_order_and_limit,
            recent_runs_newest_first_and_filtered,
            recent_runs_page_with_a_cursor,
            thread_claims,
            identity_links,
            decisions_overwrite_per_delivery,
            envelopes_are_kept_with_their_decision,
            decisions_newest_first_and_filtered,
            decisions_page_with_a_cursor,
        );
    };
    (@checks $make:expr; $($check:ident,)*) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    $crate::conformance::$check(&$make).await;
                }
            )*
        }
    };
}
