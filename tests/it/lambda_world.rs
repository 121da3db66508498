//! The moto world of the Lambda handler tests (`lambda_handlers` for GitHub, `lambda_providers` for GitLab,
//! Slack, Jira and Linear): per test a DynamoDB table, a FIFO work queue and a FIFO dead-letter queue (redrive
//! after [`MAX_RECEIVE_COUNT`] receives), Secrets Manager secrets, the fake OpenHands, and both kinds of
//! functions' services built from one settings lookup, as each function's `main` builds them. Providers other
//! than GitHub describe their deliveries as a [`Delivery`] (route, headers, body), which becomes an HTTP API
//! (v2) event of the fixture's shape.
//!
//! Webhook events go through [`http_handler`] with the webhook function's services and land on the real queue;
//! [`World::pump`] then plays the SQS event source mapping: it receives from the queue, hands the batch to
//! [`sqs_handler`] as the Lambda event, deletes what succeeded and makes the reported failures visible again,
//! so receive counts, FIFO order and the DLQ are moto's own. The agent server's callbacks and the schedule go
//! through [`callback_handler`].
//!
//! Needs `HOOKLINE_TEST_AWS_ENDPOINT` (started by `tests/aws/moto.sh`); without it every test fails with
//! instructions rather than skipping.

use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use base64::Engine;
use hookline::{
    aws::{
        lambda::{callback_handler, http_handler, sqs_handler, webhook_services, worker_services, AwsConfig},
        DynamoStore, SqsQueue,
    },
    clock::{Clock, SystemClock},
    config::Config,
    domain::{IdentityLink, Provider},
    handlers::{IntakeServices, WorkerServices},
    routes::Served,
};
use hookline_tests::{
    fake_openhands::{execution_status_event, FakeOpenHands},
    harness::ALICE_KEY,
};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, value::RawValue, Value};

pub const ENDPOINT_VAR: &str = "HOOKLINE_TEST_AWS_ENDPOINT";
/// The work queue's `maxReceiveCount`, and the worker's `HOOKLINE_MAX_RECEIVES`.
pub const MAX_RECEIVE_COUNT: u32 = 3;
/// The worker's start margin (`hookline::aws::lambda::start_margin` of the default settings); only an event
/// whose context has a deadline meets it.
pub const START_MARGIN: Duration = Duration::from_secs(50);

pub const V2_WEBHOOK: &str = include_str!("../fixtures/lambda/apigw-v2-webhook-github.json");
pub const V2_CALLBACK_EVENTS: &str = include_str!("../fixtures/lambda/apigw-v2-callback-events.json");
pub const V1_CALLBACK_CONVERSATIONS: &str =
    include_str!("../fixtures/lambda/apigw-v1-callback-conversations.json");
pub const SQS_BATCH: &str = include_str!("../fixtures/lambda/sqs-fifo-batch.json");
pub const SCHEDULE: &str = include_str!("../fixtures/lambda/eventbridge-schedule.json");

/// The moto endpoint; panics with instructions when it is not configured (these tests never skip).
pub fn endpoint() -> String {
    match std::env::var(ENDPOINT_VAR) {
        Ok(value) if !value.trim().is_empty() => value.trim().to_owned(),
        _ => panic!(
            "{ENDPOINT_VAR} is not set: the AWS adapter and Lambda handler tests need a moto server.\n\
             Start one and run the tests with:\n\
             \n    export {ENDPOINT_VAR}=\"$(tests/aws/moto.sh)\"\n    cargo test -p hookline-tests\n    \
             tests/aws/moto-stop.sh\n"
        ),
    }
}

/// SDK configuration pointing at moto with dummy credentials (what `AWS_ENDPOINT_URL` does in a deployment).
pub async fn sdk_config() -> SdkConfig {
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

/// Create each `(name, value)` secret in moto's Secrets Manager.
pub async fn create_secrets<'a>(sdk: &SdkConfig, secrets: impl IntoIterator<Item = (&'a str, &'a str)>) {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    for (name, value) in secrets {
        client
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap_or_else(|err| panic!("create secret {name}: {err:?}"));
    }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub fn fixture(raw: &str) -> Value {
    serde_json::from_str(raw).expect("fixture is JSON")
}

pub fn body_of(payload: &Value) -> Vec<u8> {
    serde_json::to_vec(payload).expect("payload serializes")
}

pub use hookline_tests::harness::owned;

/// How a webhook body travels in the event.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Text,
    Base64,
}

/// Put `body` into an API Gateway event as text or base64.
pub fn set_body(event: &mut Value, body: &[u8], encoding: Encoding) {
    match encoding {
        Encoding::Text => {
            event["body"] = json!(String::from_utf8(body.to_vec()).expect("text body"));
            event["isBase64Encoded"] = json!(false);
        }
        Encoding::Base64 => {
            event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
            event["isBase64Encoded"] = json!(true);
        }
    }
}

/// A provider's delivery as API Gateway hands it to a webhook function: the route's path, the provider's
/// headers (names as the provider sends them; HTTP APIs lowercase them) and the raw body.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// e.g. `/webhooks/gitlab/gitlab.com`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Delivery {
    pub fn new(path: impl Into<String>, body: Vec<u8>) -> Self {
        Self {
            path: path.into(),
            headers: Vec::new(),
            body,
        }
    }

    /// This delivery with one more header (replacing one of the same name).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }

    /// The HTTP API (v2) event: the GitHub webhook fixture's shape with this route, headers and body. The
    /// fixture's GitHub headers are dropped; its transport headers (host, trace id, forwarding) stay.
    pub fn v2_event(&self) -> String {
        let mut v = fixture(V2_WEBHOOK);
        let mut segments = self.path.trim_start_matches('/').split('/');
        let (provider, tenant) = (segments.nth(1).unwrap_or_default(), segments.next());
        let route = match tenant {
            Some(_) => format!("POST /webhooks/{provider}/{{tenant}}"),
            None => format!("POST /webhooks/{provider}"),
        };
        v["routeKey"] = json!(route);
        v["requestContext"]["routeKey"] = json!(route);
        v["rawPath"] = json!(self.path);
        v["requestContext"]["http"]["path"] = json!(self.path);
        v["pathParameters"] = match tenant {
            Some(tenant) => json!({ "tenant": tenant }),
            None => Value::Null,
        };
        let headers = v["headers"].as_object_mut().expect("headers");
        headers.retain(|name, _| !name.starts_with("x-github-") && !name.starts_with("x-hub-"));
        headers.insert("content-length".into(), json!(self.body.len().to_string()));
        for (name, value) in &self.headers {
            headers.insert(name.clone(), json!(value));
        }
        if let Some(agent) = self.headers.iter().find(|(n, _)| n == "user-agent") {
            v["requestContext"]["http"]["userAgent"] = json!(agent.1);
        }
        set_body(&mut v, &self.body, Encoding::Text);
        v.to_string()
    }
}

/// Set a header of a REST (v1) event in both `headers` and `multiValueHeaders` (lambda_http merges them).
pub fn set_v1_header(event: &mut Value, name: &str, value: Option<&str>) {
    for (field, wrapped) in [
        ("headers", value.map(|v| json!(v))),
        ("multiValueHeaders", value.map(|v| json!([v]))),
    ] {
        let map = event[field].as_object_mut().expect("header map");
        match wrapped {
            Some(wrapped) => map.insert(name.to_owned(), wrapped),
            None => map.remove(name),
        };
    }
}

/// Run one API Gateway event through the webhook function's handler; returns (status, body).
pub async fn invoke_http(services: &IntakeServices, event: &str) -> (u16, String) {
    let request = lambda_http::request::from_str(event).expect("an API Gateway event");
    let served = Served {
        intake: Some(services),
        ..Default::default()
    };
    let response = http_handler(served, request).await;
    let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    (response.status().as_u16(), body)
}

pub fn system_attribute(message: &Message, name: MessageSystemAttributeName) -> String {
    message
        .attributes()
        .and_then(|attributes| attributes.get(&name))
        .cloned()
        .unwrap_or_default()
}

/// The delivery id inside a queued envelope.
pub fn delivery_of(message: &Message) -> String {
    let envelope: Value = serde_json::from_str(message.body().unwrap_or("{}")).expect("envelope JSON");
    envelope["delivery_id"].as_str().unwrap_or_default().to_owned()
}

/// The ids of those `messages` whose delivery id is one of `deliveries`, in the messages' order.
pub fn message_ids(messages: &[Message], deliveries: &[&str]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| deliveries.contains(&delivery_of(m).as_str()))
        .filter_map(|m| m.message_id().map(str::to_owned))
        .collect()
}

pub fn failures(response: &SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

pub fn status_of(answer: &Value) -> u64 {
    answer["statusCode"].as_u64().expect("an HTTP answer")
}

/// What a provider adds to the world: its settings (over the common OpenHands and AWS ones) and secrets.
#[derive(Default)]
pub struct Wiring {
    pub settings: Vec<(String, String)>,
    pub secrets: Vec<(String, String)>,
}

/// One test's world: AWS resources on moto, the fake OpenHands, and both functions' services.
pub struct World {
    pub openhands: FakeOpenHands,
    pub sdk: SdkConfig,
    pub sqs: aws_sdk_sqs::Client,
    /// The unique name of this test's table and queues; providers derive secret names from it.
    pub prefix: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub config: Config,
    pub aws: AwsConfig,
    /// The webhook function's services (inbox, secrets, intake only).
    pub webhook: IntakeServices,
    /// The worker's and callback function's services.
    pub full: WorkerServices,
    /// The worker's handle on its own queue, as its main builds it (delays redelivery after a Retry-After).
    pub worker_queue: SqsQueue,
    /// Where the linked people's OpenHands API key is (it is [`ALICE_KEY`], which the fake requires).
    pub openhands_key_secret: String,
}

impl World {
    /// Create the AWS resources and the fake OpenHands, then wire both functions with what `wire` adds for
    /// this test's unique prefix.
    pub async fn start(wire: impl FnOnce(&str) -> Wiring) -> World {
        let sdk = sdk_config().await;
        let prefix = unique("hl-lambda");
        let wiring = wire(&prefix);

        DynamoStore::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &prefix)
            .await
            .expect("create table");

        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let dlq_url = create_fifo_queue(&sqs, &format!("{prefix}-dlq"), Vec::new()).await;
        let dlq_arn = queue_arn(&sqs, &dlq_url).await;
        let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT});
        let queue_url = create_fifo_queue(
            &sqs,
            &prefix,
            vec![
                (QueueAttributeName::RedrivePolicy, redrive.to_string()),
                (QueueAttributeName::VisibilityTimeout, "30".to_owned()),
            ],
        )
        .await;
        let queue_arn = queue_arn(&sqs, &queue_url).await;

        let openhands_key_secret = format!("{prefix}/openhands/alice");
        let all_secrets = wiring
            .secrets
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .chain([(openhands_key_secret.as_str(), ALICE_KEY)]);
        create_secrets(&sdk, all_secrets).await;

        let openhands = FakeOpenHands::start().await;
        openhands.require_bearer(ALICE_KEY);

        let max_receives = MAX_RECEIVE_COUNT.to_string();
        let mut settings = owned(&[
            ("OPENHANDS_URL", openhands.url()),
            ("OPENHANDS_WEB_URL", "https://app.example.test"),
            ("OPENHANDS_AUTH", "bearer"),
            ("HOOKLINE_MAX_RECEIVES", &max_receives),
            ("HOOKLINE_TABLE", &prefix),
            ("HOOKLINE_QUEUE_URL", &queue_url),
        ]);
        settings.extend(wiring.settings);
        let lookup = |name: &str| {
            settings
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        let config = Config::from_lookup(lookup).expect("config loads");
        let aws = AwsConfig::from_lookup(lookup).expect("AWS config loads");
        let webhook = webhook_services(&config, &aws, &sdk)
            .await
            .expect("webhook services");
        let full = worker_services(&config, &aws, &sdk)
            .await
            .expect("worker services");
        let worker_queue = SqsQueue::from_conf(&sdk, aws.queue_url().expect("queue URL"));

        World {
            openhands,
            sdk,
            sqs,
            prefix,
            queue_url,
            queue_arn,
            dlq_url,
            config,
            aws,
            webhook,
            full,
            worker_queue,
            openhands_key_secret,
        }
    }

    /// Link a provider identity to an OpenHands user whose key is [`World::openhands_key_secret`].
    pub async fn link(&self, provider: Provider, tenant: &str, user_id: &str, login: &str) {
        self.full
            .identities
            .put_link(&IdentityLink {
                provider,
                tenant: tenant.into(),
                external_user_id: user_id.into(),
                external_login: login.into(),
                openhands_user: format!("{login}@openhands"),
                api_key_secret: Some(self.openhands_key_secret.clone()),
                created_at: SystemClock.now_secs(),
            })
            .await
            .expect("link stored");
    }

    /// A delivery as an HTTP API (v2) event through the webhook function; returns (status, body).
    pub async fn post(&self, delivery: &Delivery) -> (u16, String) {
        invoke_http(&self.webhook, &delivery.v2_event()).await
    }

    /// Messages on the work queue, visible or in flight.
    pub async fn queue_depth(&self) -> usize {
        queue_depth(&self.sqs, &self.queue_url).await
    }

    /// One receive of up to ten messages, as the event source mapping polls.
    pub async fn receive(&self) -> Vec<Message> {
        self.sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    }

    /// The Lambda event for received messages: the fixture's record shape, filled with the real messages.
    pub fn lambda_event(&self, messages: &[Message]) -> LambdaEvent<SqsEvent> {
        let template = fixture(SQS_BATCH)["Records"][0].clone();
        let records: Vec<Value> = messages
            .iter()
            .map(|message| {
                let mut record = template.clone();
                record["messageId"] = json!(message.message_id());
                record["receiptHandle"] = json!(message.receipt_handle());
                record["body"] = json!(message.body());
                record["md5OfBody"] = json!(message.md5_of_body());
                record["eventSourceARN"] = json!(self.queue_arn);
                let attributes: serde_json::Map<String, Value> = message
                    .attributes()
                    .into_iter()
                    .flatten()
                    .map(|(name, value)| (name.as_str().to_owned(), json!(value)))
                    .collect();
                record["attributes"] = Value::Object(attributes);
                record
            })
            .collect();
        let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).expect("an SQS event");
        LambdaEvent::new(event, Context::default())
    }

    /// What the event source mapping does with the function's answer: delete the successes, and return the
    /// reported failures to the queue (at once, standing in for the visibility timeout running out).
    pub async fn settle(&self, messages: &[Message], response: &SqsBatchResponse) {
        let failed = failures(response);
        for message in messages {
            let receipt = message.receipt_handle().expect("receipt handle");
            if failed.iter().any(|id| Some(id.as_str()) == message.message_id()) {
                self.sqs
                    .change_message_visibility()
                    .queue_url(&self.queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .expect("change visibility");
            } else {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }

    /// Hand `event` to the worker function with `services` (and the default start margin), as the event source
    /// mapping does.
    pub async fn invoke_worker(
        &self,
        services: &WorkerServices,
        event: LambdaEvent<SqsEvent>,
    ) -> SqsBatchResponse {
        sqs_handler(services, Some(&self.worker_queue), START_MARGIN, event).await
    }

    /// Play the event source mapping until the queue has nothing to receive; returns each batch's messages
    /// (message id, delivery id) and the function's answer.
    pub async fn pump_with(
        &self,
        services: &WorkerServices,
    ) -> Vec<(Vec<(String, String)>, SqsBatchResponse)> {
        let mut batches = Vec::new();
        for _ in 0..20 {
            let messages = self.receive().await;
            if messages.is_empty() {
                return batches;
            }
            let response = self.invoke_worker(services, self.lambda_event(&messages)).await;
            self.settle(&messages, &response).await;
            let received = messages
                .iter()
                .map(|m| (m.message_id().unwrap_or_default().to_owned(), delivery_of(m)))
                .collect();
            batches.push((received, response));
        }
        panic!("the queue did not drain in 20 batches");
    }

    /// [`World::pump_with`] the worker function's services, expecting no failures.
    pub async fn pump(&self) {
        for (received, response) in self.pump_with(&self.full).await {
            assert!(
                response.batch_item_failures.is_empty(),
                "unexpected failures {:?} in batch {received:?}",
                failures(&response)
            );
        }
    }

    /// Invoke the callback function with a raw event; returns its JSON answer.
    pub async fn invoke_callback(&self, event: String) -> Value {
        let payload = RawValue::from_string(event).expect("raw JSON");
        callback_handler(&self.full, LambdaEvent::new(payload, Context::default()))
            .await
            .expect("the callback function answers")
    }

    /// The agent server's `POST /api/v1/webhooks/events/{id}` as an HTTP API (v2) event.
    pub async fn callback_event_v2(&self, conversation_id: &str, status: &str, session_key: &str) -> Value {
        self.callback_events_v2(conversation_id, vec![execution_status_event(status)], session_key)
            .await
    }

    /// The agent server's `POST /api/v1/webhooks/events/{id}` with `events`, as an HTTP API (v2) event.
    pub async fn callback_events_v2(
        &self,
        conversation_id: &str,
        events: Vec<Value>,
        session_key: &str,
    ) -> Value {
        let mut v = fixture(V2_CALLBACK_EVENTS);
        let path = format!("/api/v1/webhooks/events/{conversation_id}");
        v["rawPath"] = json!(path);
        v["requestContext"]["http"]["path"] = json!(path);
        v["pathParameters"]["conversation_id"] = json!(conversation_id);
        v["headers"]["x-session-api-key"] = json!(session_key);
        v["body"] = json!(Value::Array(events).to_string());
        self.invoke_callback(v.to_string()).await
    }

    /// The agent server's `POST /api/v1/webhooks/conversations` as a REST API (v1) event with stage `prod`.
    pub async fn callback_conversation_v1(
        &self,
        conversation_id: &str,
        status: &str,
        session_key: &str,
    ) -> Value {
        let mut v = fixture(V1_CALLBACK_CONVERSATIONS);
        set_v1_header(&mut v, "X-Session-API-Key", Some(session_key));
        let mut info: Value = serde_json::from_str(v["body"].as_str().expect("body")).expect("info JSON");
        info["id"] = json!(conversation_id);
        info["execution_status"] = json!(status);
        v["body"] = json!(info.to_string());
        self.invoke_callback(v.to_string()).await
    }

    /// The EventBridge schedule through the callback function.
    pub async fn scheduled_sweep(&self) -> Value {
        self.invoke_callback(SCHEDULE.to_owned()).await
    }
}

/// Create a FIFO queue named `{name}.fifo` with these attributes as well; returns its URL.
pub async fn create_fifo_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attributes: Vec<(QueueAttributeName, String)>,
) -> String {
    let mut request = client
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true");
    for (attribute, value) in attributes {
        request = request.attributes(attribute, value);
    }
    request
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url")
}

/// The ARN of the queue at `queue_url`.
pub async fn queue_arn(client: &aws_sdk_sqs::Client, queue_url: &str) -> String {
    client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .expect("queue arn")
}

pub async fn queue_depth(client: &aws_sdk_sqs::Client, queue_url: &str) -> usize {
    let attributes = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .unwrap_or_default();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|name| {
        attributes
            .get(name)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
    })
    .sum()
}
