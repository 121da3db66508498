//! The Lambda edge glue (`hookline::aws::lambda`) invoked in-process with real Lambda event JSON (the fixtures in
//! `tests/fixtures/lambda/`), on the AWS adapters against moto, with the fake GitHub and OpenHands servers.
//!
//! Each test gets its own [`World`] (see `lambda_world.rs`): its own DynamoDB table, FIFO work queue and FIFO
//! dead-letter queue (redrive after [`MAX_RECEIVE_COUNT`] receives) and its own secrets. Webhook events go
//! through [`http_handler`] with the webhook function's services and land on the real queue; [`World::pump`]
//! then plays the SQS event source mapping: it receives from the queue, hands the batch to [`sqs_handler`] as
//! the Lambda event, deletes what succeeded and makes the reported failures visible again, so receive counts,
//! FIFO order and the DLQ are moto's own.
//!
//! Needs `HOOKLINE_TEST_AWS_ENDPOINT` (started by `tests/aws/moto.sh`); without it every test here fails with
//! instructions rather than skipping.
//!
//! [`http_handler`]: hookline::aws::lambda::http_handler
//! [`sqs_handler`]: hookline::aws::lambda::sqs_handler

use std::{ops::Deref, sync::Arc, time::Duration};

use async_trait::async_trait;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use hookline::{
    aws::lambda::{callback_handler, webhook_services, AwsConfig},
    clock::{Clock, ManualClock, SystemClock},
    domain::{Envelope, Provider, Trigger},
    error::ProcessError,
    ports::SourceClient,
    provider::{Decision, ProviderModule},
    registry::LiveSet,
    verify::sign_hex,
};
use hookline_tests::{
    fake_github::{
        test_app_public_key_pem, FakeComment, FakeGithub, FakeGithubOptions, InjectedFailure, ReactionTarget,
    },
    harness::{daves_mention, issue_comment, labeled, mallorys_mention, user, ALICE_ID, ALICE_KEY, REPO},
};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, value::RawValue, Value};

use crate::lambda_world::{
    body_of, delivery_of, endpoint, failures, fixture, invoke_http, message_ids, queue_depth, set_body,
    set_v1_header, status_of, system_attribute, unique, Encoding, World, MAX_RECEIVE_COUNT, START_MARGIN,
    V2_WEBHOOK,
};

/// The secret the webhook fixtures are signed with (see `tests/fixtures/lambda/README.md`).
const WEBHOOK_SECRET: &str = "fixture-webhook-secret";

const V1_WEBHOOK: &str = include_str!("../fixtures/lambda/apigw-v1-webhook-github.json");

fn alice() -> Value {
    user("alice", ALICE_ID)
}

/// One delivery of a batch: its id, payload and GitHub event.
type Queued = (String, Value, &'static str);

/// Alice labels issue `number` `openhands`, as delivery `delivery`.
fn alice_labels(delivery: impl Into<String>, number: u64) -> Queued {
    (delivery.into(), labeled(number, "openhands", alice()), "issues")
}

/// Alice writes `text` on issue `number` in comment `comment_id`, as delivery `delivery`.
fn alice_comments(delivery: impl Into<String>, number: u64, comment_id: u64, text: &str) -> Queued {
    let comment = issue_comment(number, comment_id, text, alice(), false);
    (delivery.into(), comment, "issue_comment")
}

/// Alice labels issue `number` (delivery `{prefix}-1`), then mentions the bot on it once for each of
/// `follow_ups` (deliveries `{prefix}-2`, ..., comment ids `number * 10 + 1`, ...).
fn run_and_follow_ups(prefix: &str, number: u64, follow_ups: &[&str]) -> Vec<Queued> {
    let mut deliveries = vec![alice_labels(format!("{prefix}-1"), number)];
    for (n, text) in (1..).zip(follow_ups) {
        deliveries.push(alice_comments(
            format!("{prefix}-{}", n + 1),
            number,
            number * 10 + n,
            &format!("@openhands {text}"),
        ));
    }
    deliveries
}

fn signature(body: &[u8]) -> String {
    format!("sha256={}", sign_hex(WEBHOOK_SECRET.as_bytes(), body))
}

/// The HTTP API (v2) webhook fixture with this delivery: lowercase headers, no stage prefix.
fn webhook_v2(
    event: &str,
    delivery: &str,
    body: &[u8],
    signature: Option<&str>,
    encoding: Encoding,
) -> String {
    let mut v = fixture(V2_WEBHOOK);
    let headers = v["headers"].as_object_mut().expect("headers");
    headers.insert("x-github-event".into(), json!(event));
    headers.insert("x-github-delivery".into(), json!(delivery));
    headers.insert("content-length".into(), json!(body.len().to_string()));
    match signature {
        Some(signature) => headers.insert("x-hub-signature-256".into(), json!(signature)),
        None => headers.remove("x-hub-signature-256"),
    };
    set_body(&mut v, body, encoding);
    v.to_string()
}

/// The REST API (v1) webhook fixture with this delivery: GitHub's header casing, stage `prod`.
fn webhook_v1(event: &str, delivery: &str, body: &[u8], signature: Option<&str>) -> String {
    let mut v = fixture(V1_WEBHOOK);
    set_v1_header(&mut v, "X-GitHub-Event", Some(event));
    set_v1_header(&mut v, "X-GitHub-Delivery", Some(delivery));
    set_v1_header(&mut v, "X-Hub-Signature-256", signature);
    v["body"] = json!(String::from_utf8(body.to_vec()).expect("text body"));
    v.to_string()
}

/// One test's world with the GitHub App configured, and the fake GitHub.
struct Env {
    world: World,
    github: FakeGithub,
}

impl Deref for Env {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

impl Env {
    async fn start() -> Env {
        let github = FakeGithub::start_with(FakeGithubOptions::new(test_app_public_key_pem())).await;
        github.set_role("alice", "write");
        github.set_role("mallory", "read");
        let world =
            World::start(|prefix| crate::provider_scenarios::github::wiring(prefix, &github, WEBHOOK_SECRET))
                .await;
        let env = Env { world, github };
        env.link(ALICE_ID, "alice").await;
        env
    }

    async fn link(&self, github_id: u64, login: &str) {
        self.world
            .link(Provider::Github, "github.com", &github_id.to_string(), login)
            .await;
    }

    /// A correctly signed delivery as an HTTP API (v2) event through the webhook function.
    async fn deliver(&self, event: &str, delivery: &str, payload: &Value) -> (u16, String) {
        let body = body_of(payload);
        let signature = signature(&body);
        let event = webhook_v2(event, delivery, &body, Some(&signature), Encoding::Text);
        invoke_http(&self.webhook, &event).await
    }

    /// Alice labels issue `number` `openhands`: [`Self::deliver`] as `delivery`, its status.
    async fn label(&self, number: u64, delivery: &str) -> u16 {
        self.deliver("issues", delivery, &labeled(number, "openhands", alice()))
            .await
            .0
    }

    /// A correctly signed delivery as a REST API (v1) event through the webhook function.
    async fn deliver_v1(&self, event: &str, delivery: &str, payload: &Value) -> (u16, String) {
        let body = body_of(payload);
        let signature = signature(&body);
        invoke_http(
            &self.webhook,
            &webhook_v1(event, delivery, &body, Some(&signature)),
        )
        .await
    }

    /// [`Self::deliver`] each of `deliveries` (delivery id, payload, event), expecting each to be accepted.
    async fn deliver_all(&self, deliveries: &[Queued]) {
        for (delivery, payload, event) in deliveries {
            assert_eq!(self.deliver(event, delivery, payload).await.0, 202, "{delivery}");
        }
    }

    fn bot_comments(&self) -> Vec<FakeComment> {
        self.github.bot_comments()
    }

    /// Label an issue, run the worker, and return the started conversation's id.
    async fn start_labeled_run(&self, number: u64, delivery: &str) -> String {
        assert_eq!(self.label(number, delivery).await, 202);
        self.pump().await;
        self.openhands
            .starts()
            .last()
            .expect("a conversation was started")
            .conversation_id
            .clone()
    }
}

// ---- Webhook function ----

/// GIVEN the webhook function WHEN signed HTTP API (v2) events arrive, as text and base64, and one is delivered
/// again THEN the new ones are 202 and queued once each, the repeat is 200 and queues nothing; the unchanged
/// fixture (a `ping`) is answered directly and an unknown path is 404.
#[tokio::test]
async fn signed_v2_events_are_accepted_and_queued_once() {
    let env = Env::start().await;
    let (status, body) = invoke_http(&env.webhook, V2_WEBHOOK).await;
    assert_eq!((status, body.as_str()), (200, "pong"), "the fixture as is");

    let payload = labeled(12, "openhands", alice());
    assert_eq!(env.deliver("issues", "d-v2-1", &payload).await.0, 202);
    assert_eq!(env.queue_depth().await, 1);
    assert_eq!(
        env.deliver("issues", "d-v2-1", &payload).await,
        (200, "duplicate".to_owned())
    );
    assert_eq!(env.queue_depth().await, 1, "a duplicate delivery queues nothing");

    let body = body_of(&labeled(13, "openhands", alice()));
    let event = webhook_v2(
        "issues",
        "d-v2-2",
        &body,
        Some(&signature(&body)),
        Encoding::Base64,
    );
    assert_eq!(invoke_http(&env.webhook, &event).await.0, 202, "base64 body");
    assert_eq!(env.queue_depth().await, 2);

    let messages = env.receive().await;
    assert_eq!(messages.len(), 2);
    let deliveries: Vec<String> = messages.iter().map(delivery_of).collect();
    assert_eq!(deliveries, ["d-v2-1", "d-v2-2"]);
    assert_eq!(
        system_attribute(&messages[0], MessageSystemAttributeName::MessageGroupId),
        "github:octo-org/hello#12"
    );
    let dedup_id = system_attribute(&messages[0], MessageSystemAttributeName::MessageDeduplicationId);
    assert!(
        dedup_id.starts_with("github#github.com#d-v2-1#"),
        "the claim's id (delivery key and claim time): {dedup_id}"
    );

    let mut unknown = fixture(V2_WEBHOOK);
    unknown["rawPath"] = json!("/hooks/github");
    unknown["requestContext"]["http"]["path"] = json!("/hooks/github");
    assert_eq!(invoke_http(&env.webhook, &unknown.to_string()).await.0, 404);
    let mut other_provider = fixture(V2_WEBHOOK);
    other_provider["rawPath"] = json!("/webhooks/bitbucket");
    assert_eq!(
        invoke_http(&env.webhook, &other_provider.to_string()).await.0,
        404
    );
}

/// GIVEN the webhook function behind a REST API (v1) with stage `prod` WHEN a signed event arrives with
/// GitHub's header casing THEN it is routed despite the stage prefix, verified, and queued once.
#[tokio::test]
async fn signed_v1_rest_events_are_accepted_and_queued_once() {
    let env = Env::start().await;
    let (status, body) = invoke_http(&env.webhook, V1_WEBHOOK).await;
    assert_eq!((status, body.as_str()), (200, "pong"), "the fixture as is");

    let payload = issue_comment(5, 501, "@openhands please look", alice(), false);
    assert_eq!(env.deliver_v1("issue_comment", "d-v1-1", &payload).await.0, 202);
    assert_eq!(env.deliver_v1("issue_comment", "d-v1-1", &payload).await.0, 200);
    assert_eq!(env.queue_depth().await, 1);
    let messages = env.receive().await;
    assert_eq!(messages.iter().map(delivery_of).collect::<Vec<_>>(), ["d-v1-1"]);
}

/// GIVEN the webhook function WHEN a delivery has a wrong, missing or malformed signature (v2 and v1) THEN it
/// is 401, nothing is queued and nothing is claimed: the correctly signed delivery with the same id is accepted.
#[tokio::test]
async fn a_bad_signature_is_401_and_nothing_is_queued() {
    let env = Env::start().await;
    let body = body_of(&labeled(3, "openhands", alice()));
    let wrong = format!("sha256={}", sign_hex(b"not the secret", &body));
    let cases = [
        webhook_v2("issues", "d-bad-1", &body, Some(&wrong), Encoding::Text),
        webhook_v2("issues", "d-bad-1", &body, None, Encoding::Base64),
        webhook_v2("issues", "d-bad-1", &body, Some("sha1=abc"), Encoding::Text),
        webhook_v1("issues", "d-bad-1", &body, Some(&wrong)),
        webhook_v1("issues", "d-bad-1", &body, None),
    ];
    for event in &cases {
        assert_eq!(invoke_http(&env.webhook, event).await.0, 401);
    }
    // A body changed after signing fails too.
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let event = webhook_v2(
        "issues",
        "d-bad-1",
        &tampered,
        Some(&signature(&body)),
        Encoding::Text,
    );
    assert_eq!(invoke_http(&env.webhook, &event).await.0, 401);

    assert_eq!(env.queue_depth().await, 0);
    assert_eq!(env.label(3, "d-bad-1").await, 202);
    assert_eq!(env.queue_depth().await, 1);
}

/// GIVEN a webhook function whose queue does not exist WHEN a delivery arrives THEN it answers 5xx (so GitHub
/// redelivers) and releases its dedup claim: the redelivery to a working function is accepted, not a duplicate.
#[tokio::test]
async fn when_the_queue_is_unavailable_the_claim_is_released_for_the_redelivery() {
    let env = Env::start().await;
    let missing_queue = format!(
        "{}/123456789012/{}.fifo",
        endpoint().trim_end_matches('/'),
        unique("hl-missing")
    );
    let broken_aws = AwsConfig {
        queue_url: Some(missing_queue),
        ..env.aws.clone()
    };
    let broken = webhook_services(&env.config, &broken_aws, &env.sdk)
        .await
        .expect("services");
    let payload = labeled(7, "openhands", alice());
    let body = body_of(&payload);
    let event = webhook_v2("issues", "d-q-1", &body, Some(&signature(&body)), Encoding::Text);
    let (status, answer) = invoke_http(&broken, &event).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        !answer.contains("NonExistentQueue"),
        "no internals in the answer: {answer}"
    );
    assert_eq!(env.queue_depth().await, 0);

    assert_eq!(invoke_http(&env.webhook, &event).await.0, 202);
    assert_eq!(env.queue_depth().await, 1);
}

/// GIVEN a webhook function's services WHEN a delivery is verified and queued THEN nothing reaches GitHub or
/// OpenHands: the function holds only the provider's webhook side (no API client, run store or OpenHands client
/// is built at all).
#[tokio::test]
async fn webhook_services_carry_no_api_clients() {
    let env = Env::start().await;
    assert_eq!(env.webhook.intakes.all().len(), 1);
    assert_eq!(env.label(7, "d-only-intake").await, 202);
    assert_eq!(env.queue_depth().await, 1);
    assert!(env.github.requests().is_empty());
    assert!(env.openhands.starts().is_empty());
}

// ---- Worker function ----

/// GIVEN a labeled issue accepted by the webhook function WHEN the worker gets the SQS batch THEN it starts one
/// conversation, puts 👀 on the issue and posts one status comment, and the batch reports no failure.
#[tokio::test]
async fn an_sqs_batch_starts_the_conversation_and_acknowledges_on_github() {
    let env = Env::start().await;
    let conversation_id = env.start_labeled_run(12, "d-w-1").await;

    let starts = env.openhands.starts();
    assert_eq!(starts.len(), 1);
    assert!(starts[0].run);
    assert_eq!(starts[0].request["selected_repository"], REPO);
    assert_eq!(
        env.openhands.start_authorization(),
        Some(format!("Bearer {ALICE_KEY}")),
        "the linked identity's key, read from Secrets Manager"
    );
    env.github.assert_acknowledged_issue(12, &conversation_id);
    assert_eq!(env.queue_depth().await, 0, "the processed message was deleted");
}

/// GIVEN GitHub answers the acknowledgement with 429 and `Retry-After: 2` WHEN the worker processes the batch
/// THEN the message is reported for retry and comes back after about 2 s, not after the queue's 30 s visibility
/// timeout; then it is processed once.
#[tokio::test]
async fn a_retry_after_brings_the_message_back_when_it_says() {
    let env = Env::start().await;
    env.github.fail_next(
        "/repos/octo-org/hello/collaborators/alice/permission",
        InjectedFailure::too_many_requests(2),
    );
    assert_eq!(env.label(520, "d-retry-after").await, 202);
    let messages = env.receive().await;
    assert_eq!(messages.len(), 1);
    let response = env.invoke_worker(&env.full, env.lambda_event(&messages)).await;
    assert_eq!(failures(&response).len(), 1, "reported for retry");
    // What the event source mapping does with a failure: nothing; the message's visibility decides.
    assert!(env.receive().await.is_empty(), "hidden right after the failure");
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let again = env.receive().await;
    assert_eq!(
        again.len(),
        1,
        "back after the Retry-After, well before the visibility timeout"
    );
    let response = env.invoke_worker(&env.full, env.lambda_event(&again)).await;
    assert!(failures(&response).is_empty());
    env.settle(&again, &response).await;
    assert_eq!(env.openhands.starts().len(), 1);
    assert_eq!(env.queue_depth().await, 0);
}

/// GIVEN one batch of ten records in eight message groups WHEN the first record of one group fails transiently
/// THEN only that record and the two later records of its group are reported; every other group is processed;
/// after the retry everything is, with nothing lost.
#[tokio::test]
async fn one_transient_failure_in_a_batch_of_ten_fails_only_its_record_and_later_records_of_its_group() {
    let env = Env::start().await;
    env.github.fail_next(
        "/repos/octo-org/hello/issues/510/comments",
        InjectedFailure::status(503),
    );
    let labels =
        |numbers: std::ops::RangeInclusive<u64>| numbers.map(|n| alice_labels(format!("d-b-{n}"), n));
    let mut deliveries = vec![alice_labels("d-b-510a", 510)];
    deliveries.extend(labels(501..=503));
    deliveries.push(alice_comments(
        "d-b-510b",
        510,
        5101,
        "@openhands also handle a missing file",
    ));
    deliveries.extend(labels(504..=507));
    deliveries.push(alice_comments("d-b-510c", 510, 5102, "@openhands and add a test"));
    env.deliver_all(&deliveries).await;

    let messages = env.receive().await;
    assert_eq!(
        messages.iter().map(delivery_of).collect::<Vec<_>>(),
        deliveries.iter().map(|(d, _, _)| d.clone()).collect::<Vec<_>>(),
        "one batch of ten, in send order"
    );
    let response = env.invoke_worker(&env.full, env.lambda_event(&messages)).await;
    let failed = message_ids(&messages, &["d-b-510a", "d-b-510b", "d-b-510c"]);
    assert_eq!(failed.len(), 3);
    assert_eq!(failures(&response), failed);
    assert_eq!(env.openhands.starts().len(), 7, "every other group went through");
    assert!(
        env.openhands.messages().is_empty(),
        "later records of the failed group waited"
    );
    assert!(!env.github.reactions().iter().any(|r| matches!(
        r.target,
        ReactionTarget::IssueComment {
            comment_id: 5101 | 5102,
            ..
        }
    )));

    env.settle(&messages, &response).await;
    env.pump().await;
    assert_eq!(env.openhands.starts().len(), 8);
    let follow_ups = env.openhands.messages();
    assert_eq!(
        follow_ups.len(),
        2,
        "the group's later mentions became follow-ups, in order"
    );
    assert!(follow_ups[0].text.contains("missing file"));
    assert!(follow_ups[1].text.contains("add a test"));
    assert_eq!(env.queue_depth().await, 0);
    assert_eq!(queue_depth(&env.sqs, &env.dlq_url).await, 0);
}

/// A provider module that runs `hook` while deciding one delivery (panics, or time passing on a manual clock),
/// and otherwise is `inner`.
struct WhileDeciding {
    inner: Arc<dyn ProviderModule>,
    delivery_id: &'static str,
    hook: Box<dyn Fn() + Send + Sync>,
}

#[async_trait]
impl ProviderModule for WhileDeciding {
    fn provider(&self) -> Provider {
        self.inner.provider()
    }
    fn decide(&self, envelope: &Envelope) -> Result<Decision, ProcessError> {
        if envelope.delivery_id == self.delivery_id {
            (self.hook)();
        }
        self.inner.decide(envelope)
    }
    fn source(&self) -> &dyn SourceClient {
        self.inner.source()
    }
    fn unlinked_notice(&self, trigger: &Trigger) -> String {
        self.inner.unlinked_notice(trigger)
    }
}

/// GIVEN a batch with two groups WHEN processing the second record of one group panics THEN that record and
/// the rest of its group are reported, the record before it and the other group are done, and the batch as a
/// whole still answers.
#[tokio::test]
async fn a_panic_fails_only_the_rest_of_its_group() {
    let env = Env::start().await;
    let mut deliveries = run_and_follow_ups("d-p", 701, &["more", "even more"]);
    deliveries.push(alice_labels("d-p-4", 702));
    env.deliver_all(&deliveries).await;
    let mut panicky = env.full.clone();
    panicky.run.providers = LiveSet::new(vec![Arc::new(WhileDeciding {
        inner: env.full.providers.all()[0].clone(),
        delivery_id: "d-p-2",
        hook: Box::new(|| panic!("injected panic while deciding d-p-2")),
    })]);

    let messages = env.receive().await;
    assert_eq!(messages.len(), 4);
    let response = env.invoke_worker(&panicky, env.lambda_event(&messages)).await;
    assert_eq!(failures(&response), message_ids(&messages, &["d-p-2", "d-p-3"]));
    assert_eq!(env.openhands.starts().len(), 2, "d-p-1 and d-p-4 were processed");

    env.settle(&messages, &response).await;
    env.pump().await;
    assert_eq!(
        env.openhands.messages().len(),
        2,
        "the retried records became follow-ups"
    );
    assert_eq!(env.queue_depth().await, 0);
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

/// GIVEN a group of three records and an invocation with 1 s more than the start margin left WHEN the first
/// record takes 2 s THEN it finishes (a run is started), and the two after it are not started but reported, in
/// order; redelivered, they become the run's follow-ups in order.
#[tokio::test]
async fn records_not_started_before_the_deadline_margin_go_back_with_the_rest_of_their_group() {
    let env = Env::start().await;
    env.deliver_all(&run_and_follow_ups(
        "d-t",
        801,
        &["first follow-up", "second follow-up"],
    ))
    .await;
    let clock = ManualClock::at_millis(SystemClock.now_millis());
    let mut timed = env.full.clone();
    timed.run.clock = Arc::new(clock.clone());
    // Deciding the first record takes 2 s on the manual clock: the deadline draws near while it runs.
    let ticking = clock.clone();
    timed.run.providers = LiveSet::new(vec![Arc::new(WhileDeciding {
        inner: env.full.providers.all()[0].clone(),
        delivery_id: "d-t-1",
        hook: Box::new(move || ticking.advance_millis(millis(Duration::from_secs(2)))),
    })]);

    let messages = env.receive().await;
    assert_eq!(messages.len(), 3);
    let mut event = env.lambda_event(&messages);
    event.context.deadline = clock.now_millis() + millis(START_MARGIN) + 1_000;
    let response = env.invoke_worker(&timed, event).await;
    assert_eq!(
        failures(&response),
        message_ids(&messages, &["d-t-2", "d-t-3"]),
        "the records after the cut-off, in order"
    );
    assert_eq!(env.openhands.starts().len(), 1, "the started record finished");
    assert!(
        env.openhands.messages().is_empty(),
        "the later ones were not started"
    );

    env.settle(&messages, &response).await;
    env.pump().await;
    let follow_ups = env.openhands.messages();
    assert_eq!(follow_ups.len(), 2);
    assert!(follow_ups[0].text.contains("first follow-up"));
    assert!(follow_ups[1].text.contains("second follow-up"));
    assert_eq!(env.queue_depth().await, 0);
}

/// GIVEN a batch of two groups and an invocation with less than the start margin left THEN no record is
/// started, every one is reported in batch order and is receivable again at once (not after the visibility
/// timeout); the next invocation processes them all.
#[tokio::test]
async fn a_batch_with_less_than_the_margin_left_goes_back_whole_and_at_once() {
    let env = Env::start().await;
    let mut deliveries = run_and_follow_ups("d-n", 811, &["and more"]);
    deliveries.push(alice_labels("d-n-3", 812));
    env.deliver_all(&deliveries).await;
    let messages = env.receive().await;
    assert_eq!(messages.len(), 3);
    let mut event = env.lambda_event(&messages);
    event.context.deadline = SystemClock.now_millis() + millis(START_MARGIN) - 1_000;
    let response = env.invoke_worker(&env.full, event).await;
    assert_eq!(
        failures(&response),
        message_ids(&messages, &["d-n-1", "d-n-2", "d-n-3"])
    );
    assert!(env.openhands.starts().is_empty());
    assert!(env.github.reactions().is_empty(), "not even acknowledged");

    let again = env.receive().await;
    assert_eq!(
        again.iter().map(delivery_of).collect::<Vec<_>>(),
        ["d-n-1", "d-n-2", "d-n-3"],
        "visible again at once, in order"
    );
    let response = env.invoke_worker(&env.full, env.lambda_event(&again)).await;
    assert!(failures(&response).is_empty());
    env.settle(&again, &response).await;
    assert_eq!(env.openhands.starts().len(), 2);
    assert_eq!(env.openhands.messages().len(), 1);
    assert_eq!(env.queue_depth().await, 0);
}

/// GIVEN a message whose processing keeps failing transiently WHEN the worker gets it `maxReceiveCount` times
/// through real SQS receives THEN SQS moves it to the dead-letter queue, and every other message is processed.
#[tokio::test]
async fn a_poison_message_ends_in_the_dead_letter_queue_and_nothing_else_is_lost() {
    let env = Env::start().await;
    for _ in 0..10 {
        env.github.fail_next(
            "/repos/octo-org/hello/issues/601/comments",
            InjectedFailure::status(502),
        );
    }
    for n in 601..=604 {
        assert_eq!(env.label(n, &format!("d-x-{n}")).await, 202);
    }

    let batches = env.pump_with(&env.full).await;
    let poison_id = batches[0]
        .0
        .iter()
        .find(|(_, delivery)| delivery == "d-x-601")
        .map(|(id, _)| id.clone())
        .expect("the poison message was received");
    assert_eq!(batches.len(), MAX_RECEIVE_COUNT as usize, "{batches:?}");
    for (received, response) in &batches {
        assert_eq!(
            failures(response),
            std::slice::from_ref(&poison_id),
            "batch {received:?}"
        );
    }
    assert_eq!(batches[0].0.len(), 4);

    let dead = env
        .sqs
        .receive_message()
        .queue_url(&env.dlq_url)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive from the DLQ")
        .messages
        .unwrap_or_default();
    assert_eq!(dead.iter().map(delivery_of).collect::<Vec<_>>(), ["d-x-601"]);
    assert_eq!(env.queue_depth().await, 0);
    let started: Vec<String> = env
        .openhands
        .starts()
        .iter()
        .map(|s| s.request["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(started.len(), 3, "{started:?}");
    for n in 602..=604 {
        assert!(
            started.iter().any(|t| t.contains(&format!("#{n}"))),
            "{started:?}"
        );
    }
}

// ---- The first issue's scenarios on the AWS adapters ----

/// GIVEN a labeled issue WHEN the agent server reports `finished` through the callback function's HTTP path
/// (HTTP API v2 event, with the sandbox's session key) THEN the status comment is edited with the summary;
/// a repeated callback and a sweep change nothing; a wrong key is refused.
#[tokio::test]
async fn labeled_issue_reports_the_summary_after_the_finished_callback() {
    let env = Env::start().await;
    let conversation_id = env.start_labeled_run(12, "d-label-1").await;
    let key = env.openhands.expect_session_key(&conversation_id);

    let refused = env
        .callback_event_v2(&conversation_id, "finished", "not-the-key")
        .await;
    assert_eq!(status_of(&refused), 401);
    assert!(env.bot_comments()[0].body.contains("I'm on it"));

    env.openhands.set_summary(
        "Fixed the empty-config crash and added a test. Opened https://github.com/octo-org/hello/pull/99.",
    );
    env.openhands.set_execution_status(&conversation_id, "finished");
    let answer = env.callback_event_v2(&conversation_id, "finished", &key).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert_eq!(answer["body"], "ok");
    assert!(
        answer.get("cookies").is_some(),
        "an HTTP API (v2) response: {answer}"
    );
    assert_eq!(answer["headers"]["content-type"], "text/plain; charset=utf-8");

    let comments = env.bot_comments();
    assert_eq!(comments.len(), 1, "one Hookline comment per run");
    let body = &comments[0].body;
    assert!(body.contains("Fixed the empty-config crash"), "{body}");
    assert!(
        body.contains("https://github.com/octo-org/hello/pull/99"),
        "{body}"
    );

    let again = env.callback_event_v2(&conversation_id, "finished", &key).await;
    assert_eq!(status_of(&again), 200);
    let report = env.scheduled_sweep().await;
    assert_eq!(report["concluded"], 0, "{report}");
    assert_eq!(env.bot_comments().len(), 1);
    assert_eq!(env.openhands.asks(), 1, "the summary is asked once");
}

/// GIVEN the same delivery five times, through both API flavours WHEN the worker runs THEN one conversation
/// and one status comment exist, and the 👀 is on the triggering comment.
#[tokio::test]
async fn the_same_delivery_five_times_starts_one_conversation() {
    let env = Env::start().await;
    let comment_id = env.github.seed_issue_comment(
        REPO,
        5,
        "alice",
        "@openhands please fix this",
        SystemClock.now_secs(),
    );
    let payload = issue_comment(5, comment_id, "@openhands please fix this", alice(), false);
    let mut statuses = Vec::new();
    for attempt in 0..5 {
        let (status, _) = if attempt % 2 == 0 {
            env.deliver("issue_comment", "d-dup-1", &payload).await
        } else {
            env.deliver_v1("issue_comment", "d-dup-1", &payload).await
        };
        statuses.push(status);
    }
    assert_eq!(statuses, [202, 200, 200, 200, 200]);
    assert_eq!(env.queue_depth().await, 1);
    env.pump().await;
    assert_eq!(env.openhands.starts().len(), 1);
    assert_eq!(env.bot_comments().len(), 1);
    assert_eq!(
        env.github.reactions()[0].target,
        ReactionTarget::IssueComment {
            repo: REPO.into(),
            comment_id
        }
    );
}

/// GIVEN a running conversation WHEN the agent server calls back through a REST API (v1) event THEN the answer
/// is in the v1 format (the ending itself is a provider scenario, on both hosts).
#[tokio::test]
async fn a_rest_api_v1_callback_gets_a_v1_answer() {
    let env = Env::start().await;
    let conversation_id = env.start_labeled_run(31, "d-e-1").await;
    let key = env.openhands.expect_session_key(&conversation_id);
    let answer = env
        .callback_conversation_v1(&conversation_id, "error", &key)
        .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(
        answer.get("cookies").is_none(),
        "a REST API (v1) response: {answer}"
    );
    assert_eq!(
        answer["multiValueHeaders"]["content-type"],
        json!(["text/plain; charset=utf-8"])
    );
}

/// GIVEN the callback function WHEN it is invoked with an event that is neither a schedule nor an API Gateway
/// request THEN that is an invocation error.
#[tokio::test]
async fn an_event_of_another_kind_is_an_invocation_error() {
    let env = Env::start().await;
    let payload = RawValue::from_string(r#"{"hello": "world"}"#.to_owned()).expect("raw JSON");
    let err = callback_handler(&env.full, LambdaEvent::new(payload, Context::default()))
        .await
        .expect_err("not an event this function takes");
    assert!(err.to_string().contains("API Gateway"), "{err}");
}

/// GIVEN a collaborator without a linked OpenHands identity WHEN they mention the bot THEN the worker posts the
/// linking comment and starts nothing.
#[tokio::test]
async fn an_unlinked_user_gets_the_linking_comment_and_no_conversation() {
    let env = Env::start().await;
    env.github.set_role("dave", "write");
    let payload = daves_mention();
    assert_eq!(env.deliver("issue_comment", "d-u-1", &payload).await.0, 202);
    env.pump().await;
    env.github.assert_one_linking_comment_for("dave");
    assert!(env.openhands.starts().is_empty());
}

/// GIVEN someone with read access only WHEN they mention the bot THEN nothing is started, posted or reacted,
/// after the permission was checked with GitHub.
#[tokio::test]
async fn a_person_without_write_access_starts_nothing() {
    let env = Env::start().await;
    let payload = mallorys_mention();
    assert_eq!(env.deliver("issue_comment", "d-n-1", &payload).await.0, 202);
    env.pump().await;
    assert!(env.openhands.starts().is_empty());
    env.github.assert_untouched_after_checking("mallory");
}

/// GIVEN a delivery whose processing failed for good (GitHub refused the installation token) WHEN GitHub redelivers
/// it at once, well inside SQS FIFO's five-minute deduplication window THEN the redelivery is queued and processed.
/// (moto does not drop a repeated deduplication id once the first message is deleted, as SQS does; the unit test in
/// `handlers::webhook` covers that part over the memory queue, which does.)
#[tokio::test]
async fn a_redelivery_after_a_permanent_failure_is_queued_and_processed() {
    let env = Env::start().await;
    env.github
        .fail_next("/app/installations", InjectedFailure::status(401));
    let payload = labeled(21, "openhands", alice());
    assert_eq!(env.deliver("issues", "d-again-1", &payload).await.0, 202);
    env.pump().await;
    assert!(env.openhands.starts().is_empty(), "the first attempt failed");
    assert_eq!(env.queue_depth().await, 0, "given up on, not retried");

    let (status, answer) = env.deliver("issues", "d-again-1", &payload).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(env.queue_depth().await, 1, "the redelivery is queued");
    env.pump().await;
    assert_eq!(env.openhands.starts().len(), 1);
}
