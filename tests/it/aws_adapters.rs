//! The AWS adapters (`hookline::aws`) against moto, a local AWS emulator.
//!
//! The DynamoDB store runs the storage-port conformance suite (`hookline::conformance`, the checks the memory
//! and SQLite stores pass too); the tests written out here are the DynamoDB-, SQS- and Secrets Manager-specific
//! ones.
//!
//! Needs `HOOKLINE_TEST_AWS_ENDPOINT` (started by `tests/aws/moto.sh`; read through `lambda_world`'s
//! helpers, as the Lambda handler tests do); without it every test here fails with instructions rather than
//! skipping. Each test creates its own uniquely named table, queues or secrets, so
//! tests run in parallel against one server without seeing each other's data.

use std::{sync::Arc, time::Duration};

use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use hookline::{
    aws::{sqs::fifo_id, DynamoStore, SecretsManagerSecrets, SqsQueue},
    clock::ManualClock,
    domain::{DeliveryDecision, Provider, QueueMessage},
    error::PortError,
    ports::{DeliveryLog, DeliveryQuery, DeliveryStore, Queue, SecretWriter, Secrets},
    secret::SecretString,
};

use crate::lambda_world::{create_fifo_queue, create_secrets, endpoint, queue_arn, sdk_config, unique};

const TTL: Duration = Duration::from_secs(60);

/// A fresh table with the store's layout, and the raw client for white-box checks.
async fn store() -> (DynamoStore, aws_sdk_dynamodb::Client) {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = unique("hl-table");
    DynamoStore::create_table(&client, &table)
        .await
        .expect("create table");
    (DynamoStore::new(client.clone(), table), client)
}

// The storage-port semantics (claims, runs, threads, identity links), each check on a fresh table.
hookline::store_conformance_tests!(store().await.0);

/// GIVEN a decision recorded twice for one delivery WHEN the item is read THEN it is one item under the delivery's
/// key, carrying its expiry (decided_at + the delivery TTL) in the table's TTL attribute.
#[tokio::test]
async fn delivery_decisions_carry_the_ttl_attribute() {
    let (store, client) = store().await;
    let week = Duration::from_secs(7 * 86_400);
    let first = hookline::conformance::decision(Provider::Github, "github.com", "d1", 1_700_000_000);
    store.record(&first, "{}", week).await.unwrap();
    let again = DeliveryDecision {
        decided_at: 1_700_000_100,
        ..first
    };
    store.record(&again, "{}", week).await.unwrap();
    let item = client
        .get_item()
        .table_name(store.table())
        .key(
            "pk",
            AttributeValue::S("DECISION#github#github.com#d1".to_owned()),
        )
        .key("sk", AttributeValue::S("DECISION".to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("decision item");
    assert_eq!(item["expires_at"], AttributeValue::N("1700604900".to_owned()));
    assert_eq!(item["gsi1pk"], AttributeValue::S("DECISIONS#github".to_owned()));
    let page = store
        .recent(&DeliveryQuery {
            limit: 10,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.decisions, [again]);
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

/// GIVEN a store whose endpoint refuses connections, or a table that does not exist, WHEN it is used THEN the
/// first is transient (retry later) and the second permanent.
#[tokio::test]
async fn sdk_failures_are_classified() {
    let shared = sdk_config().await;
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
    aws_sdk_sqs::Client::new(&sdk_config().await)
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
    let queue_url = create_fifo_queue(&client, &unique("hl-q"), Vec::new()).await;
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
    let queue_url = create_fifo_queue(&client, &unique("hl-q"), Vec::new()).await;
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
    let dlq_url = create_fifo_queue(&client, &format!("{name}-dlq"), Vec::new()).await;
    let dlq_arn = queue_arn(&client, &dlq_url).await;
    let max_receive_count = 2;
    let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count });
    let queue_url = create_fifo_queue(
        &client,
        &name,
        vec![(QueueAttributeName::RedrivePolicy, redrive.to_string())],
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

/// GIVEN a secret that does not exist (an unknown tenant in a webhook URL) WHEN it is asked for again and again
/// THEN Secrets Manager is asked at most once per 30 seconds: created meanwhile, it is seen after that.
#[tokio::test]
async fn missing_secrets_are_remembered_briefly() {
    let config = sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let name = unique("hookline/missing");
    let clock = ManualClock::at(1_000);
    let secrets =
        SecretsManagerSecrets::with_clock(client.clone(), Duration::from_secs(300), Arc::new(clock.clone()));
    assert!(matches!(
        secrets.get(&name).await,
        Err(PortError::NotFound { .. })
    ));
    create_secrets(&config, [(name.as_str(), "now here")]).await;
    clock.advance(29);
    assert!(
        matches!(secrets.get(&name).await, Err(PortError::NotFound { .. })),
        "remembered as missing"
    );
    clock.advance(1);
    assert_eq!(secrets.get(&name).await.unwrap().expose(), "now here");
}

/// GIVEN secrets written through the adapter (the console storing a GitHub App's) WHEN one is new and one exists
/// THEN the first is created and the second gets a new current version; both read back at once (from the
/// cache) and from Secrets Manager itself (a fresh adapter, as another function).
#[tokio::test]
async fn written_secrets_are_created_or_replaced_and_read_back() {
    let config = sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let (fresh, existing) = (unique("hookline/written"), unique("hookline/existing"));
    create_secrets(&config, [(existing.as_str(), "old")]).await;
    let clock = ManualClock::at(1_000);
    let secrets =
        SecretsManagerSecrets::with_clock(client.clone(), Duration::from_secs(300), Arc::new(clock.clone()));
    assert_eq!(secrets.get(&existing).await.unwrap().expose(), "old");
    assert!(secrets.get(&fresh).await.is_err(), "missing, and remembered so");
    secrets
        .put_secrets(&[
            (fresh.clone(), SecretString::new("pem")),
            (existing.clone(), SecretString::new("new")),
        ])
        .await
        .unwrap();
    assert_eq!(secrets.get(&fresh).await.unwrap().expose(), "pem");
    assert_eq!(secrets.get(&existing).await.unwrap().expose(), "new");
    let another = SecretsManagerSecrets::with_clock(client, Duration::from_secs(300), Arc::new(clock));
    assert_eq!(another.get(&fresh).await.unwrap().expose(), "pem");
    assert_eq!(another.get(&existing).await.unwrap().expose(), "new");

    // Removed for good, and at once: the name can be created again.
    secrets
        .remove_secrets(&[fresh.clone(), unique("hookline/never-there")])
        .await
        .unwrap();
    assert!(matches!(
        secrets.get(&fresh).await,
        Err(PortError::NotFound { .. })
    ));
    assert!(matches!(
        another.refresh(&fresh).await,
        Err(PortError::NotFound { .. })
    ));
    secrets
        .put_secrets(&[(fresh.clone(), SecretString::new("again"))])
        .await
        .unwrap();
    assert_eq!(another.refresh(&fresh).await.unwrap().expose(), "again");
}

/// GIVEN a cached secret WHEN it is rotated THEN reads stay on the old value within the TTL, see the new one
/// once the TTL passed, and `refresh` sees a rotation at once; a missing secret is NotFound and not cached.
#[tokio::test]
async fn secrets_are_cached_for_the_ttl() {
    let config = sdk_config().await;
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
    create_secrets(&config, [(missing.as_str(), "late")]).await;
    assert_eq!(
        secrets.refresh(&missing).await.unwrap().expose(),
        "late",
        "a refresh reads past a remembered miss"
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
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    if let Err(err) = client.describe_table().table_name(&table).send().await {
        panic!("table {table} is not on moto ({err:?}); {report}");
    }
}
