//! The AWS adapters (`hookline::aws`) against moto, a local AWS emulator.
//!
//! Needs `HOOKLINE_TEST_AWS_ENDPOINT` (started by `tests/aws/moto.sh`); without it every test here fails with
//! instructions rather than skipping. Each test creates its own uniquely named table, queues or secrets, so
//! tests run in parallel against one server without seeing each other's data.

use std::{sync::Arc, time::Duration};

use aws_config::{Region, SdkConfig};
use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use hookline::{
    aws::{sqs::fifo_id, DynamoStore, SecretsManagerSecrets, SqsQueue},
    clock::ManualClock,
    domain::{Actor, IdentityLink, Provider, QueueMessage, RunRecord, RunState, SourceRef},
    error::PortError,
    github::{GithubSource, GithubTarget},
    ports::{Claim, DeliveryStore, IdentityStore, Queue, RunStore, Secrets, ThreadClaim},
};

const ENDPOINT_VAR: &str = "HOOKLINE_TEST_AWS_ENDPOINT";
const TTL: Duration = Duration::from_secs(60);

/// The moto endpoint; panics with instructions when it is not configured (these tests never skip).
fn endpoint() -> String {
    match std::env::var(ENDPOINT_VAR) {
        Ok(value) if !value.trim().is_empty() => value.trim().to_owned(),
        _ => panic!(
            "{ENDPOINT_VAR} is not set: the AWS adapter tests need a moto server.\n\
             Start one and run the tests with:\n\
             \n    export {ENDPOINT_VAR}=\"$(tests/aws/moto.sh)\"\n    cargo test -p hookline-tests\n    \
             tests/aws/moto-stop.sh\n"
        ),
    }
}

/// SDK configuration pointing at moto with dummy credentials.
async fn config() -> SdkConfig {
    hookline::aws::sdk_loader()
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "hookline-tests",
        ))
        .endpoint_url(endpoint())
        .load()
        .await
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A fresh table with the store's layout, and the raw client for white-box checks.
async fn store() -> (DynamoStore, aws_sdk_dynamodb::Client) {
    let client = aws_sdk_dynamodb::Client::new(&config().await);
    let table = unique("hl-table");
    DynamoStore::create_table(&client, &table)
        .await
        .expect("create table");
    (DynamoStore::new(client.clone(), table), client)
}

fn run(conversation_id: &str, state: RunState, created_at: u64) -> RunRecord {
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

fn ids(runs: Vec<RunRecord>) -> Vec<String> {
    runs.into_iter().map(|r| r.conversation_id).collect()
}

/// GIVEN an empty table WHEN a delivery is claimed twice THEN the conditional put makes the second a duplicate;
/// a completed record stays a duplicate until its own expiry.
#[tokio::test]
async fn delivery_claim_is_conditional() {
    let (store, _) = store().await;
    let now = 1_000;
    assert_eq!(
        store.claim("github#github.com#d1", now, TTL).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store.claim("github#github.com#d1", now + 1, TTL).await.unwrap(),
        Claim::Duplicate
    );
    assert_eq!(
        store.claim("github#github.com#d2", now + 1, TTL).await.unwrap(),
        Claim::Claimed
    );

    store
        .complete("github#github.com#d1", now + 2, Duration::from_secs(1_000))
        .await
        .unwrap();
    assert_eq!(
        store.claim("github#github.com#d1", now + 500, TTL).await.unwrap(),
        Claim::Duplicate
    );
    assert_eq!(
        store
            .claim("github#github.com#d1", now + 1_002, TTL)
            .await
            .unwrap(),
        Claim::Claimed
    );
}

/// GIVEN a claimed delivery WHEN processing fails and the claim is released THEN the redelivery claims it.
#[tokio::test]
async fn released_delivery_can_be_claimed_again() {
    let (store, _) = store().await;
    assert_eq!(store.claim("k", 10, TTL).await.unwrap(), Claim::Claimed);
    store.release("k").await.unwrap();
    assert_eq!(store.claim("k", 11, TTL).await.unwrap(), Claim::Claimed);
    store.release("never-claimed").await.unwrap();
}

/// GIVEN a claim nobody completed WHEN its expiry passes (TTL has not deleted it yet) THEN it is taken over.
#[tokio::test]
async fn expired_claim_is_taken_over() {
    let (store, _) = store().await;
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

/// GIVEN a new table WHEN deliveries are claimed and completed THEN TTL is enabled on `expires_at` and each
/// record carries its expiry there in epoch seconds.
#[tokio::test]
async fn delivery_records_carry_the_ttl_attribute() {
    let (store, client) = store().await;
    let ttl = client
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let description = ttl.time_to_live_description().expect("TTL description");
    assert_eq!(
        description.time_to_live_status(),
        Some(&TimeToLiveStatus::Enabled)
    );
    assert_eq!(description.attribute_name(), Some("expires_at"));

    let raw_item = |key: &str| {
        let request = client
            .get_item()
            .table_name(store.table())
            .key("pk", AttributeValue::S(format!("DELIVERY#{key}")))
            .key("sk", AttributeValue::S("DELIVERY".to_owned()))
            .consistent_read(true);
        async move { request.send().await.unwrap().item.expect("delivery item") }
    };
    store.claim("k", 1_700_000_000, TTL).await.unwrap();
    let item = raw_item("k").await;
    assert_eq!(item["expires_at"], AttributeValue::N("1700000060".to_owned()));
    assert_eq!(item["status"], AttributeValue::S("accepted".to_owned()));

    store
        .complete("k", 1_700_000_010, Duration::from_secs(7 * 86_400))
        .await
        .unwrap();
    let item = raw_item("k").await;
    assert_eq!(item["expires_at"], AttributeValue::N("1700604810".to_owned()));
    assert_eq!(item["status"], AttributeValue::S("done".to_owned()));

    // Creating the same table again is a no-op (local setup can run it every time).
    DynamoStore::create_table(&client, store.table()).await.unwrap();
}

/// GIVEN a stored run WHEN the same conversation id is inserted again THEN nothing is written.
#[tokio::test]
async fn run_is_inserted_once() {
    let (store, _) = store().await;
    let first = run("c1", RunState::Claimed, 10);
    assert!(store.insert_run(&first).await.unwrap());
    let mut second = run("c1", RunState::Running, 99);
    second.outcome = Some("other".to_owned());
    assert!(!store.insert_run(&second).await.unwrap());
    assert_eq!(store.get_run("c1").await.unwrap(), Some(first));
    assert_eq!(store.get_run("missing").await.unwrap(), None);
}

/// GIVEN two copies of a run WHEN both are updated THEN only the first wins and versions advance by one.
#[tokio::test]
async fn run_updates_are_optimistic() {
    let (store, _) = store().await;
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

/// GIVEN runs in several states WHEN the sweep lists some states THEN the index gives those, oldest first,
/// capped, and a state change moves a run between lists.
#[tokio::test]
async fn runs_in_states_use_the_state_index() {
    let (store, _) = store().await;
    for (id, state, created_at) in [
        ("c-new", RunState::Running, 300),
        ("c-old", RunState::Claimed, 100),
        ("c-done", RunState::Reported, 50),
        ("c-mid-b", RunState::Running, 200),
        ("c-mid-a", RunState::Claimed, 200),
        ("c-failed", RunState::Failed, 150),
        // Numerically older but lexically larger than the others: the index must order by number.
        ("c-ancient", RunState::Running, 9),
    ] {
        assert!(store.insert_run(&run(id, state, created_at)).await.unwrap());
    }

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
        "the index returns whole records"
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

/// GIVEN a thread WHEN conversations claim and release it THEN one holds it at a time, the loser learns who,
/// and only the holder releases it.
#[tokio::test]
async fn thread_pointer_is_claimed_conditionally() {
    let (store, _) = store().await;
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

    store.release_thread("t1", "c2").await.unwrap();
    assert_eq!(
        store.claim_thread("t1", "c2").await.unwrap(),
        ThreadClaim::Active {
            conversation_id: "c1".to_owned()
        },
        "only the holder releases"
    );
    store.release_thread("t1", "c1").await.unwrap();
    assert_eq!(
        store.claim_thread("t1", "c2").await.unwrap(),
        ThreadClaim::Claimed
    );
    store.release_thread("missing", "c1").await.unwrap();
}

/// GIVEN identity links WHEN they are put, replaced, listed and removed THEN lookups follow, and separators in
/// tenants or ids cannot make two links collide.
#[tokio::test]
async fn identity_links_round_trip() {
    let (store, _) = store().await;
    assert_eq!(
        store
            .get_link(Provider::Github, "github.com", "42")
            .await
            .unwrap(),
        None
    );
    assert!(store.list_links().await.unwrap().is_empty());

    let octo = link(Provider::Github, "github.com", "42", "octocat");
    let other_tenant = link(Provider::Github, "ghe.example.com", "42", "octocat-ghe");
    let slack = link(Provider::Slack, "T01", "U42", "octo");
    let hash_a = link(Provider::Jira, "a#b", "c", "hash-a");
    let hash_b = link(Provider::Jira, "a", "b#c", "hash-b");
    for l in [&slack, &octo, &hash_b, &other_tenant, &hash_a] {
        store.put_link(l).await.unwrap();
    }
    assert_eq!(
        store
            .get_link(Provider::Github, "github.com", "42")
            .await
            .unwrap(),
        Some(octo.clone())
    );
    assert_eq!(
        store
            .get_link(Provider::Gitlab, "github.com", "42")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_link(Provider::Jira, "a#b", "c").await.unwrap(),
        Some(hash_a.clone())
    );
    assert_eq!(
        store.get_link(Provider::Jira, "a", "b#c").await.unwrap(),
        Some(hash_b.clone())
    );

    let renamed = link(Provider::Github, "github.com", "42", "octo-renamed");
    store.put_link(&renamed).await.unwrap();
    assert_eq!(
        store
            .get_link(Provider::Github, "github.com", "42")
            .await
            .unwrap(),
        Some(renamed.clone())
    );

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

    assert!(store
        .remove_link(Provider::Github, "github.com", "42")
        .await
        .unwrap());
    assert!(!store
        .remove_link(Provider::Github, "github.com", "42")
        .await
        .unwrap());
    assert_eq!(
        store
            .get_link(Provider::Github, "github.com", "42")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.list_links().await.unwrap(),
        [other_tenant, hash_b, hash_a, slack]
    );
}

/// GIVEN a store whose endpoint refuses connections, or a table that does not exist, WHEN it is used THEN the
/// first is transient (retry later) and the second permanent.
#[tokio::test]
async fn sdk_failures_are_classified() {
    let shared = config().await;
    let unreachable = aws_sdk_dynamodb::config::Builder::from(&shared)
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        .endpoint_url("http://127.0.0.1:1")
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(unreachable), "any");
    let err = store.claim("k", 1, TTL).await.unwrap_err();
    assert!(err.is_transient(), "{err}");

    let missing = DynamoStore::new(aws_sdk_dynamodb::Client::new(&shared), unique("hl-missing"));
    let err = missing.claim("k", 1, TTL).await.unwrap_err();
    assert!(
        matches!(
            err,
            PortError::Permanent {
                status: Some(400),
                ..
            }
        ),
        "{err}"
    );
}

async fn sqs_client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&config().await)
}

/// Create a FIFO queue named `{name}.fifo` with extra attributes; returns its URL.
async fn create_fifo_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    extra: &[(QueueAttributeName, String)],
) -> String {
    let mut request = client
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true");
    for (attribute, value) in extra {
        request = request.attributes(attribute.clone(), value);
    }
    request.send().await.unwrap().queue_url.expect("queue url")
}

/// One receive call (no long polling), returning the messages with their system attributes.
async fn receive(client: &aws_sdk_sqs::Client, queue_url: &str, visibility: Option<i32>) -> Vec<Message> {
    client
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .set_visibility_timeout(visibility)
        .wait_time_seconds(0)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
}

async fn delete(client: &aws_sdk_sqs::Client, queue_url: &str, message: &Message) {
    client
        .delete_message()
        .queue_url(queue_url)
        .receipt_handle(message.receipt_handle().expect("receipt handle"))
        .send()
        .await
        .unwrap();
}

/// Receive and delete until the queue is empty; returns (group, body) in delivery order.
async fn drain(client: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<(String, String)> {
    let mut delivered = Vec::new();
    for _ in 0..20 {
        let batch = receive(client, queue_url, None).await;
        if batch.is_empty() {
            return delivered;
        }
        for message in &batch {
            let group = system_attribute(message, MessageSystemAttributeName::MessageGroupId);
            delivered.push((group, message.body().unwrap_or_default().to_owned()));
            delete(client, queue_url, message).await;
        }
    }
    panic!("queue {queue_url} did not drain");
}

fn system_attribute(message: &Message, name: MessageSystemAttributeName) -> String {
    message
        .attributes()
        .and_then(|attributes| attributes.get(&name))
        .cloned()
        .unwrap_or_default()
}

fn message(group: &str, dedup_id: &str, body: &str) -> QueueMessage {
    QueueMessage {
        group: group.to_owned(),
        dedup_id: dedup_id.to_owned(),
        body: body.to_owned(),
    }
}

/// GIVEN a FIFO queue WHEN the same dedup id is sent twice and several groups interleave THEN each message is
/// delivered once and every group keeps its send order.
#[tokio::test]
async fn fifo_queue_deduplicates_and_orders_per_group() {
    let client = sqs_client().await;
    let queue_url = create_fifo_queue(&client, &unique("hl-q"), &[]).await;
    let queue = SqsQueue::new(client.clone(), &queue_url);

    queue.send(message("g1", "d1", "g1-first")).await.unwrap();
    queue.send(message("g1", "d1", "g1-first-resent")).await.unwrap();
    queue.send(message("g2", "d2", "g2-first")).await.unwrap();
    queue.send(message("g1", "d3", "g1-second")).await.unwrap();
    queue.send(message("g2", "d4", "g2-second")).await.unwrap();
    queue.send(message("g1", "d5", "g1-third")).await.unwrap();

    let delivered = drain(&client, &queue_url).await;
    assert_eq!(delivered.len(), 5, "the resend was deduplicated: {delivered:?}");
    let bodies_of = |group: &str| {
        delivered
            .iter()
            .filter(|(g, _)| g == group)
            .map(|(_, body)| body.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(bodies_of("g1"), ["g1-first", "g1-second", "g1-third"]);
    assert_eq!(bodies_of("g2"), ["g2-first", "g2-second"]);
}

/// GIVEN ids SQS would reject (too long, spaces) WHEN messages are sent with them THEN their SHA-256 is used,
/// so sending works and equal ids still deduplicate and group.
#[tokio::test]
async fn fifo_ids_sqs_rejects_are_hashed() {
    let client = sqs_client().await;
    let queue_url = create_fifo_queue(&client, &unique("hl-q"), &[]).await;
    let queue = SqsQueue::new(client.clone(), &queue_url);
    let long_dedup = format!("github#github.com#{}", "x".repeat(200));
    let spaced_group = "slack:T01 C42 1700000000.000100";

    queue
        .send(message(spaced_group, &long_dedup, "once"))
        .await
        .unwrap();
    queue
        .send(message(spaced_group, &long_dedup, "twice"))
        .await
        .unwrap();

    let batch = receive(&client, &queue_url, None).await;
    assert_eq!(batch.len(), 1, "{batch:?}");
    assert_eq!(batch[0].body(), Some("once"));
    assert_eq!(
        system_attribute(&batch[0], MessageSystemAttributeName::MessageDeduplicationId),
        fifo_id(&long_dedup)
    );
    assert_eq!(
        system_attribute(&batch[0], MessageSystemAttributeName::MessageGroupId),
        fifo_id(spaced_group)
    );
    assert_eq!(fifo_id(&long_dedup).len(), 64);
}

/// GIVEN a FIFO queue with a redrive policy WHEN a message is received `maxReceiveCount` times without being
/// deleted THEN it moves to the dead-letter queue.
#[tokio::test]
async fn failing_message_moves_to_the_dead_letter_queue() {
    let client = sqs_client().await;
    let name = unique("hl-q");
    let dlq_url = create_fifo_queue(&client, &format!("{name}-dlq"), &[]).await;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .expect("dlq arn");
    let max_receive_count = 2;
    let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count });
    let queue_url = create_fifo_queue(
        &client,
        &name,
        &[(QueueAttributeName::RedrivePolicy, redrive.to_string())],
    )
    .await;
    SqsQueue::new(client.clone(), &queue_url)
        .send(message("g", "poison", "poison-body"))
        .await
        .unwrap();

    // Each receive without a delete is a failed attempt; a zero visibility timeout makes it visible again at once.
    for attempt in 1..=max_receive_count {
        let batch = receive(&client, &queue_url, Some(0)).await;
        assert_eq!(batch.len(), 1, "attempt {attempt}: {batch:?}");
        let count = system_attribute(&batch[0], MessageSystemAttributeName::ApproximateReceiveCount);
        assert_eq!(count, attempt.to_string());
    }
    assert!(
        receive(&client, &queue_url, Some(0)).await.is_empty(),
        "past maxReceiveCount it leaves the queue"
    );

    let dead = receive(&client, &dlq_url, None).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].body(), Some("poison-body"));
}

/// GIVEN a cached secret WHEN it is rotated THEN reads stay on the old value within the TTL, see the new one
/// once the TTL passed, and `refresh` sees a rotation at once; a missing secret is NotFound and not cached.
#[tokio::test]
async fn secrets_are_cached_for_the_ttl() {
    let config = config().await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let name = unique("hookline/test");
    let created = client
        .create_secret()
        .name(&name)
        .secret_string("v1")
        .send()
        .await
        .unwrap();
    let arn = created.arn().expect("arn").to_owned();
    let clock = ManualClock::at(1_000);
    let secrets =
        SecretsManagerSecrets::with_clock(client.clone(), Duration::from_secs(300), Arc::new(clock.clone()));
    let rotate = |value: &'static str| {
        client
            .put_secret_value()
            .secret_id(&name)
            .secret_string(value)
            .send()
    };

    assert_eq!(secrets.get(&name).await.unwrap().expose(), "v1");
    rotate("v2").await.unwrap();
    clock.advance(299);
    assert_eq!(
        secrets.get(&name).await.unwrap().expose(),
        "v1",
        "stale within the TTL"
    );
    clock.advance(1);
    assert_eq!(
        secrets.get(&name).await.unwrap().expose(),
        "v2",
        "fresh once the TTL passed"
    );

    rotate("v3").await.unwrap();
    assert_eq!(secrets.get(&name).await.unwrap().expose(), "v2");
    assert_eq!(secrets.refresh(&name).await.unwrap().expose(), "v3");
    assert_eq!(
        secrets.get(&name).await.unwrap().expose(),
        "v3",
        "refresh updated the cache"
    );
    assert_eq!(secrets.get(&arn).await.unwrap().expose(), "v3", "lookup by ARN");

    let missing = unique("hookline/missing");
    assert!(matches!(
        secrets.get(&missing).await,
        Err(PortError::NotFound { .. })
    ));
    client
        .create_secret()
        .name(&missing)
        .secret_string("late")
        .send()
        .await
        .unwrap();
    assert_eq!(
        secrets.get(&missing).await.unwrap().expose(),
        "late",
        "NotFound is not cached"
    );

    let binary = unique("hookline/binary");
    client
        .create_secret()
        .name(&binary)
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new("pem-bytes"))
        .send()
        .await
        .unwrap();
    assert_eq!(secrets.get(&binary).await.unwrap().expose(), "pem-bytes");
}

/// Set in the child process of [`sdk_config_honours_aws_endpoint_url`]: the table it should create.
const CHILD_TABLE_VAR: &str = "HOOKLINE_TEST_SDK_CONFIG_CHILD_TABLE";

/// GIVEN only the standard AWS environment (`AWS_ENDPOINT_URL`, region, credentials) WHEN `aws::sdk_config()`
/// builds the clients THEN they talk to that endpoint, with no endpoint code in the adapters.
///
/// Environment variables are process-wide and other tests run in parallel threads, so the check runs in a child
/// process (this same test binary, filtered to this test) that gets the variables from the start.
#[tokio::test]
async fn sdk_config_honours_aws_endpoint_url() {
    let endpoint = endpoint();
    if let Ok(table) = std::env::var(CHILD_TABLE_VAR) {
        let config = hookline::aws::sdk_config().await;
        assert_eq!(config.endpoint_url(), Some(endpoint.as_str()));
        DynamoStore::create_table(&aws_sdk_dynamodb::Client::new(&config), &table)
            .await
            .unwrap();
        return;
    }

    let table = unique("hl-env");
    let test_name = concat!(module_path!(), "::sdk_config_honours_aws_endpoint_url");
    let test_name = test_name.split_once("::").map_or(test_name, |(_, rest)| rest);
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_TABLE_VAR, &table)
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .output()
        .unwrap();
    let report = format!(
        "child exited with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("1 passed"),
        "the child ran no test: {report}"
    );

    // The table exists on moto, so the child's requests went there.
    let client = aws_sdk_dynamodb::Client::new(&config().await);
    if let Err(err) = client.describe_table().table_name(&table).send().await {
        panic!("table {table} is not on moto ({err:?}); {report}");
    }
}
