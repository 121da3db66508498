//! `OpenHandsClient` against the local `FakeOpenHands`: request shapes, id handling, auth and error
//! classification.

use std::time::Duration;

use hookline::{
    domain::conversation_id_for,
    error::PortError,
    openhands::{agent_server_url_from, OpenHandsClient, OpenHandsConfig, MAX_IDS_PER_REQUEST},
    ports::{
        ConversationStatus, Conversations, MessageDelivery, OpenHandsAuth, StartConversation, StartTask,
    },
    secret::SecretString,
};
use hookline_tests::{
    fake_openhands::{post_event, FakeOpenHands, RecordedRequest},
    harness::assert_permanent,
};
use serde_json::json;

const WEB_URL: &str = "https://openhands.example.test";

fn client_for(base_url: &str, request_timeout: Duration) -> OpenHandsClient {
    let config = OpenHandsConfig {
        base_url: base_url.to_owned(),
        web_url: WEB_URL.to_owned(),
        request_timeout,
    };
    OpenHandsClient::new(reqwest::Client::new(), config)
}

fn client(fake: &FakeOpenHands) -> OpenHandsClient {
    client_for(fake.url(), Duration::from_secs(5))
}

fn no_auth() -> OpenHandsAuth {
    OpenHandsAuth::default()
}

/// The start task `task_id`, which must exist.
async fn existing_start_task(fake: &FakeOpenHands, task_id: &str) -> StartTask {
    client(fake)
        .start_task(&no_auth(), task_id)
        .await
        .expect("lookup")
        .expect("task exists")
}

/// Whether the conversation `conversation_id` can be seen yet: its status, alone.
async fn status_alone(fake: &FakeOpenHands, conversation_id: &str) -> Vec<Option<ConversationStatus>> {
    client(fake)
        .statuses(&no_auth(), &[conversation_id.to_owned()])
        .await
        .expect("statuses")
}

fn start_request(run_key: &str) -> StartConversation {
    StartConversation {
        conversation_id: conversation_id_for(run_key),
        initial_message: "Please fix the README.".to_owned(),
        selected_repository: Some("octo/hello".to_owned()),
        selected_branch: Some("feature/x".to_owned()),
        git_provider: Some("github".to_owned()),
        title: "GitHub Issue #12: Fix the README".to_owned(),
        trigger: "resolver".to_owned(),
        llm_model: None,
    }
}

fn is_hex32(id: &str) -> bool {
    id.len() == 32 && id.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn dashed(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
    .to_uppercase()
}

fn requests_to(fake: &FakeOpenHands, method: &str, path: &str) -> Vec<RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == method && r.path == path)
        .collect()
}

/// Start a conversation and return its (32-hex) id.
async fn started(fake: &FakeOpenHands, run_key: &str) -> String {
    let request = start_request(run_key);
    client(fake).start(&no_auth(), &request).await.expect("start");
    request.conversation_id
}

#[tokio::test]
async fn start_sends_the_exact_request_body_with_run_true() {
    // GIVEN a fake app server
    let fake = FakeOpenHands::start().await;
    let request = start_request("github:octo/hello#12:comment:1");

    // WHEN a conversation is started
    let task = client(&fake).start(&no_auth(), &request).await.expect("start");

    // THEN the body has every field, run: true, and nothing else
    let posted = requests_to(&fake, "POST", "/api/v1/app-conversations");
    assert_eq!(posted.len(), 1);
    let expected = json!({
        "conversation_id": request.conversation_id,
        "initial_message": {
            "role": "user",
            "content": [{"type": "text", "text": "Please fix the README."}],
            "run": true,
        },
        "selected_repository": "octo/hello",
        "selected_branch": "feature/x",
        "git_provider": "github",
        "title": "GitHub Issue #12: Fix the README",
        "trigger": "resolver",
    });
    assert_eq!(posted[0].body.as_ref(), Some(&expected));
    assert_eq!(posted[0].header("content-type"), Some("application/json"));
    let starts = fake.starts();
    assert_eq!(starts.len(), 1);
    assert!(starts[0].run);
    // AND the task comes back WORKING with a 32-hex id, before any conversation id is known
    assert_eq!(task.status, "WORKING");
    assert!(is_hex32(&task.id), "{}", task.id);
    assert_eq!(task.id, starts[0].task_id);
    assert_eq!(task.app_conversation_id, None);
    assert!(!task.is_error());
}

#[tokio::test]
async fn start_omits_absent_optionals_and_normalizes_a_dashed_id() {
    let fake = FakeOpenHands::start().await;
    let mut request = start_request("slack:T1:C1:1.2");
    let hex = request.conversation_id.clone();
    request.conversation_id = dashed(&hex);
    request.selected_repository = None;
    request.selected_branch = None;
    request.git_provider = None;
    request.trigger = "slack".to_owned();

    client(&fake).start(&no_auth(), &request).await.expect("start");

    let body = fake.starts()[0].request.clone();
    let object = body.as_object().expect("object body");
    for absent in ["selected_repository", "selected_branch", "git_provider"] {
        assert!(!object.contains_key(absent), "{absent} should be omitted: {body}");
    }
    assert_eq!(body["conversation_id"], json!(hex));
    assert_eq!(fake.starts()[0].conversation_id, hex);
}

#[tokio::test]
async fn set_title_patches_the_conversation() {
    let fake = FakeOpenHands::start().await;
    let id = started(&fake, "run-title").await;
    // The fake, like 1.11.0, ignores the title given at start.
    assert_eq!(fake.title(&id), None);

    client(&fake)
        .set_title(&no_auth(), &dashed(&id), "GitHub Issue #12: Fix")
        .await
        .expect("set title");

    assert_eq!(fake.title(&id).as_deref(), Some("GitHub Issue #12: Fix"));
    let patches = requests_to(&fake, "PATCH", &format!("/api/v1/app-conversations/{id}"));
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].body, Some(json!({"title": "GitHub Issue #12: Fix"})));
}

#[tokio::test]
async fn set_title_on_an_unknown_conversation_is_permanent_404() {
    let fake = FakeOpenHands::start().await;
    let unknown = conversation_id_for("never-started");

    let err = client(&fake)
        .set_title(&no_auth(), &unknown, "t")
        .await
        .expect_err("404");

    assert_permanent(&err, 404);
    assert!(err.to_string().contains("unknown_app_conversation"), "{err}");
}

#[tokio::test]
async fn statuses_keep_request_order_with_nulls_for_unknown_ids() {
    // GIVEN two started conversations and one that never existed
    let fake = FakeOpenHands::start().await;
    let a = started(&fake, "run-a").await;
    let b = started(&fake, "run-b").await;
    let unknown = conversation_id_for("run-unknown");
    fake.set_execution_status(&b, "finished");

    // WHEN asked in the order B (dashed), unknown, A
    let ids = vec![dashed(&b), unknown, a.clone()];
    let statuses = client(&fake).statuses(&no_auth(), &ids).await.expect("statuses");

    // THEN the answer follows the request order, with None for the unknown one and normalized ids
    assert_eq!(statuses.len(), 3);
    let first = statuses[0].as_ref().expect("b exists");
    assert_eq!(first.id, b);
    assert_eq!(first.execution_status.as_deref(), Some("finished"));
    assert!(statuses[1].is_none());
    let third = statuses[2].as_ref().expect("a exists");
    assert_eq!(third.id, a);
    assert_eq!(third.sandbox_status.as_deref(), Some("RUNNING"));
    assert_eq!(third.execution_status.as_deref(), Some("running"));
    // AND the session key is carried as a secret, and the conversation URL leads to the agent server
    let key = third.session_api_key.as_ref().expect("session key");
    assert_eq!(Some(key.expose()), fake.session_key(&a).as_deref());
    assert_eq!(format!("{key:?}"), "[redacted]");
    let url = third.conversation_url.as_deref().expect("conversation url");
    assert_eq!(agent_server_url_from(url).as_deref(), Some(fake.url()));
}

#[tokio::test]
async fn statuses_of_nothing_make_no_request() {
    let fake = FakeOpenHands::start().await;
    let statuses = client(&fake).statuses(&no_auth(), &[]).await.expect("statuses");
    assert!(statuses.is_empty());
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn statuses_split_more_than_99_ids_into_several_calls() {
    // GIVEN 150 ids, of which the 121st exists (the fake, like the server, fails 100 or more ids per call)
    let fake = FakeOpenHands::start().await;
    let existing = started(&fake, "run-120").await;
    let ids: Vec<String> = (0..150)
        .map(|i| {
            if i == 120 {
                existing.clone()
            } else {
                conversation_id_for(&format!("run-{i}"))
            }
        })
        .collect();

    // WHEN asked for all of them
    let statuses = client(&fake).statuses(&no_auth(), &ids).await.expect("statuses");

    // THEN two calls of at most 99 ids answer all 150 in order
    assert_eq!(statuses.len(), 150);
    for (i, status) in statuses.iter().enumerate() {
        assert_eq!(status.is_some(), i == 120, "index {i}");
    }
    let calls = requests_to(&fake, "GET", "/api/v1/app-conversations");
    assert_eq!(calls.len(), 2);
    for call in &calls {
        let count = call.query.as_deref().unwrap_or_default().matches("ids=").count();
        assert!(count <= MAX_IDS_PER_REQUEST, "{count} ids in one call");
    }
}

#[tokio::test]
async fn start_task_is_ready_with_the_conversation_once_started() {
    let fake = FakeOpenHands::start().await;
    let request = start_request("run-ready");
    let task = client(&fake).start(&no_auth(), &request).await.expect("start");

    let found = existing_start_task(&fake, &task.id).await;

    assert_eq!(found.id, task.id);
    assert_eq!(found.status, "READY");
    assert_eq!(
        found.app_conversation_id.as_deref(),
        Some(request.conversation_id.as_str())
    );
    assert_eq!(found.agent_server_url.as_deref(), Some(fake.url()));
    let lookups = requests_to(&fake, "GET", "/api/v1/app-conversations/start-tasks");
    assert_eq!(
        lookups[0].query.as_deref(),
        Some(format!("ids={}", task.id).as_str())
    );
}

#[tokio::test]
async fn start_task_waits_while_the_sandbox_comes_up() {
    // GIVEN a server whose sandboxes take a while
    let fake = FakeOpenHands::start().await;
    fake.set_ready_delay(Duration::from_secs(60));
    let request = start_request("run-slow");

    let task = client(&fake).start(&no_auth(), &request).await.expect("start");

    // THEN the task is still in progress and the conversation not yet visible
    let found = existing_start_task(&fake, &task.id).await;
    assert_eq!(found.status, "WAITING_FOR_SANDBOX");
    assert_eq!(found.app_conversation_id, None);
    let statuses = status_alone(&fake, &request.conversation_id).await;
    assert_eq!(statuses, vec![None]);
}

#[tokio::test]
async fn start_task_reports_error_and_the_conversation_never_appears() {
    let fake = FakeOpenHands::start().await;
    fake.make_next_start_error("Sandbox failed to start");
    let request = start_request("run-broken");

    let task = client(&fake)
        .start(&no_auth(), &request)
        .await
        .expect("start is accepted");
    assert_eq!(task.status, "WORKING");

    let found = existing_start_task(&fake, &task.id).await;
    assert!(found.is_error());
    assert_eq!(found.detail.as_deref(), Some("Sandbox failed to start"));
    assert_eq!(found.app_conversation_id, None);
    let statuses = status_alone(&fake, &request.conversation_id).await;
    assert_eq!(statuses, vec![None]);
}

#[tokio::test]
async fn start_task_lookup_of_an_unknown_task_is_none() {
    let fake = FakeOpenHands::start().await;
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        client(&fake)
            .start_task(&no_auth(), &unknown)
            .await
            .expect("lookup"),
        None
    );
}

#[tokio::test]
async fn send_message_posts_a_running_user_message() {
    let fake = FakeOpenHands::start().await;
    let id = started(&fake, "run-follow-up").await;
    fake.set_execution_status(&id, "finished");

    client(&fake)
        .send_message(&no_auth(), &id, "Also update the docs.")
        .await
        .expect("send");

    let sent = requests_to(
        &fake,
        "POST",
        &format!("/api/v1/app-conversations/{id}/send-message"),
    );
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].body,
        Some(
            json!({"role": "user", "content": [{"type": "text", "text": "Also update the docs."}], "run": true})
        )
    );
    let messages = fake.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].conversation_id, id);
    assert_eq!(messages[0].text, "Also update the docs.");
    assert!(messages[0].run);
}

#[tokio::test]
async fn send_message_answers_where_the_conversation_is() {
    let fake = FakeOpenHands::start().await;
    let client = client(&fake);
    // 404: not there (yet).
    let unknown = client
        .send_message(&no_auth(), &conversation_id_for("nope"), "hi")
        .await
        .expect("an outcome, not an error");
    assert_eq!(unknown, MessageDelivery::NotYet);
    // 409 while the sandbox is paused or starting, 410 once it is missing.
    let id = started(&fake, "run-where").await;
    fake.set_sandbox_status(&id, "PAUSED");
    assert_eq!(
        client.send_message(&no_auth(), &id, "hi").await.expect("outcome"),
        MessageDelivery::SandboxNotRunning
    );
    fake.set_sandbox_status(&id, "MISSING");
    assert_eq!(
        client.send_message(&no_auth(), &id, "hi").await.expect("outcome"),
        MessageDelivery::Gone
    );
    fake.set_sandbox_status(&id, "RUNNING");
    assert_eq!(
        client.send_message(&no_auth(), &id, "hi").await.expect("outcome"),
        MessageDelivery::Delivered
    );
    // Other refusals stay errors.
    fake.fail_next_request(400);
    let err = client
        .send_message(&no_auth(), &id, "hi")
        .await
        .expect_err("a 400 is an error");
    assert_permanent(&err, 400);
}

#[tokio::test]
async fn a_start_task_is_found_by_its_conversation() {
    let fake = FakeOpenHands::start().await;
    let client = client(&fake);
    assert_eq!(
        client
            .find_start_task(&no_auth(), &conversation_id_for("never-started"), 0)
            .await
            .expect("search"),
        None
    );
    let request = start_request("run-search");
    let task = client.start(&no_auth(), &request).await.expect("start");
    let found = client
        .find_start_task(&no_auth(), &request.conversation_id, 0)
        .await
        .expect("search")
        .expect("the task");
    assert_eq!(found.id, task.id);
    let searched = requests_to(&fake, "GET", "/api/v1/app-conversations/start-tasks/search");
    assert_eq!(searched.len(), 2);
    // Recent tasks newest first, matched by their request: a start still in progress is found too.
    assert!(searched[1].query.as_deref().is_some_and(
        |q| q.contains("sort_order=CREATED_AT_DESC") && q.contains("created_at__gte=1970-01-01T00")
    ));
}

#[tokio::test]
async fn a_paused_sandbox_is_resumed_by_its_id() {
    let fake = FakeOpenHands::start().await;
    let client = client(&fake);
    let id = started(&fake, "run-resume").await;
    fake.set_sandbox_status(&id, "PAUSED");
    client.resume_sandbox(&no_auth(), &id).await.expect("resume");
    assert_eq!(fake.resumes(), 1);
    assert_eq!(
        requests_to(&fake, "POST", &format!("/api/v1/sandboxes/{id}/resume")).len(),
        1
    );
    let bad = client.resume_sandbox(&no_auth(), "../../admin").await;
    assert!(bad.is_err(), "only URL-safe sandbox ids are sent");
}

#[tokio::test]
async fn ask_agent_uses_the_sandbox_session_key() {
    // GIVEN a finished conversation whose agent has a summary
    let fake = FakeOpenHands::start().await;
    let id = started(&fake, "run-summary").await;
    fake.set_summary("I fixed the README and pushed to feature/x.");
    let client = client(&fake);
    let status = client
        .statuses(&no_auth(), std::slice::from_ref(&id))
        .await
        .expect("statuses")
        .remove(0);
    let status = status.expect("conversation exists");
    let agent_server = agent_server_url_from(status.conversation_url.as_deref().unwrap_or_default())
        .expect("agent server url");

    // WHEN the agent is asked for its summary
    let answer = client
        .ask_agent(&status, &agent_server, "Summarize your work.")
        .await
        .expect("ask");

    // THEN the answer is the summary, asked with the sandbox's key and the question as JSON
    assert_eq!(answer, "I fixed the README and pushed to feature/x.");
    let asks = requests_to(&fake, "POST", &format!("/api/conversations/{id}/ask_agent"));
    assert_eq!(asks.len(), 1);
    assert_eq!(
        asks[0].header("X-Session-API-Key"),
        fake.session_key(&id).as_deref()
    );
    assert_eq!(asks[0].header("authorization"), None);
    assert_eq!(asks[0].body, Some(json!({"question": "Summarize your work."})));
}

#[tokio::test]
async fn ask_agent_with_a_wrong_session_key_is_permanent_401() {
    let fake = FakeOpenHands::start().await;
    let id = started(&fake, "run-wrong-key").await;
    let client = client(&fake);
    let mut status = client
        .statuses(&no_auth(), &[id])
        .await
        .expect("statuses")
        .remove(0)
        .expect("exists");
    status.session_api_key = Some(SecretString::new("not-the-key"));

    let err = client
        .ask_agent(&status, fake.url(), "Summarize.")
        .await
        .expect_err("unauthorized");

    assert_permanent(&err, 401);
    assert!(!err.to_string().contains("not-the-key"));
}

#[tokio::test]
async fn auth_bearer_session_key_or_none() {
    let fake = FakeOpenHands::start().await;
    let client = client(&fake);
    let id = conversation_id_for("run-auth");
    let ids = std::slice::from_ref(&id);
    let bearer = OpenHandsAuth {
        bearer: Some(SecretString::new("oh-cloud-key")),
        session_key: None,
    };
    let session = OpenHandsAuth {
        bearer: None,
        session_key: Some(SecretString::new("self-hosted-key")),
    };

    client.statuses(&bearer, ids).await.expect("bearer");
    client.statuses(&session, ids).await.expect("session key");
    client.statuses(&no_auth(), ids).await.expect("no auth");

    let calls = requests_to(&fake, "GET", "/api/v1/app-conversations");
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].header("authorization"), Some("Bearer oh-cloud-key"));
    assert_eq!(calls[0].header("x-session-api-key"), None);
    assert_eq!(calls[1].header("authorization"), None);
    assert_eq!(calls[1].header("x-session-api-key"), Some("self-hosted-key"));
    assert_eq!(calls[2].header("authorization"), None);
    assert_eq!(calls[2].header("x-session-api-key"), None);
}

#[tokio::test]
async fn a_rejected_api_key_is_permanent_401_without_echoing_it() {
    let fake = FakeOpenHands::start().await;
    fake.require_bearer("right-key");
    let wrong = OpenHandsAuth {
        bearer: Some(SecretString::new("wrong-key")),
        session_key: None,
    };

    let err = client(&fake)
        .start(&wrong, &start_request("run-401"))
        .await
        .expect_err("401");

    assert_permanent(&err, 401);
    assert!(!format!("{err} {err:?}").contains("wrong-key"));
    let right = OpenHandsAuth {
        bearer: Some(SecretString::new("right-key")),
        session_key: None,
    };
    client(&fake)
        .start(&right, &start_request("run-401"))
        .await
        .expect("accepted with the right key");
}

#[tokio::test]
async fn too_many_requests_is_transient_with_retry_after() {
    let fake = FakeOpenHands::start().await;
    fake.fail_next_start_with_retry_after(429, 7);

    let err = client(&fake)
        .start(&no_auth(), &start_request("run-429"))
        .await
        .expect_err("429");

    match err {
        PortError::Transient { retry_after, .. } => assert_eq!(retry_after, Some(Duration::from_secs(7))),
        other => panic!("expected transient, got {other:?}"),
    }
    // The next attempt goes through.
    client(&fake)
        .start(&no_auth(), &start_request("run-429"))
        .await
        .expect("retry succeeds");
}

#[tokio::test]
async fn server_errors_are_transient() {
    let fake = FakeOpenHands::start().await;
    fake.fail_next_start(500);
    let err = client(&fake)
        .start(&no_auth(), &start_request("run-500"))
        .await
        .expect_err("500");
    assert!(err.is_transient(), "{err:?}");

    fake.fail_next_request(503);
    let err = client(&fake)
        .statuses(&no_auth(), &[conversation_id_for("x")])
        .await
        .expect_err("503");
    assert!(
        matches!(
            err,
            PortError::Transient {
                retry_after: None,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unknown_trigger_is_permanent_422_with_the_server_detail() {
    let fake = FakeOpenHands::start().await;
    let mut request = start_request("run-422");
    request.trigger = "carrier_pigeon".to_owned();

    let err = client(&fake).start(&no_auth(), &request).await.expect_err("422");

    assert_permanent(&err, 422);
    let text = err.to_string();
    assert!(text.contains("body.trigger"), "{text}");
    // The validation error's echoed `input` stays out of the message.
    assert!(!text.contains("carrier_pigeon"), "{text}");
    assert!(fake.starts().is_empty());
}

#[tokio::test]
async fn an_unknown_git_provider_is_permanent_422() {
    let fake = FakeOpenHands::start().await;
    let mut request = start_request("run-422-provider");
    request.git_provider = Some("sourceforge".to_owned());
    let err = client(&fake).start(&no_auth(), &request).await.expect_err("422");
    assert_permanent(&err, 422);
}

#[tokio::test]
async fn an_invalid_id_is_refused_before_any_request() {
    let fake = FakeOpenHands::start().await;
    let err = client(&fake)
        .statuses(&no_auth(), &["not-a-uuid".to_owned()])
        .await
        .expect_err("invalid id");
    assert!(
        matches!(err, PortError::Permanent { status: None, .. }),
        "{err:?}"
    );
    assert!(fake.requests().is_empty());
}

/// `err` is worth retrying, and says `why`.
fn assert_transient(err: &PortError, why: &str) {
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains(why), "{err}");
}

#[tokio::test]
async fn connection_refused_is_transient() {
    // A port that was just free: nothing listens there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let client = client_for(&format!("http://{addr}"), Duration::from_secs(5));

    let err = client
        .start(&no_auth(), &start_request("run-refused"))
        .await
        .expect_err("refused");

    assert_transient(&err, "connection failed");
}

#[tokio::test]
async fn a_timeout_is_transient() {
    let fake = FakeOpenHands::start().await;
    fake.delay_next_request(Duration::from_secs(5));
    let client = client_for(fake.url(), Duration::from_millis(200));

    let err = client
        .statuses(&no_auth(), &[conversation_id_for("slow")])
        .await
        .expect_err("timeout");

    assert_transient(&err, "timed out");
}

#[tokio::test]
async fn conversation_link_uses_the_web_url_and_32_hex() {
    let fake = FakeOpenHands::start().await;
    let id = conversation_id_for("run-link");
    assert_eq!(
        client(&fake).conversation_link(&dashed(&id)),
        format!("{WEB_URL}/conversations/{id}")
    );
}

#[tokio::test]
async fn post_event_sends_what_an_agent_server_sends() {
    // The fake records any request, so it doubles as a receiver for the webhook helper.
    let fake = FakeOpenHands::start().await;
    let id = conversation_id_for("run-webhook");

    let response = post_event(fake.url(), &dashed(&id), "finished", "sandbox-key").await;

    assert_eq!(response.status(), 404);
    let sent = requests_to(&fake, "POST", &format!("/api/v1/webhooks/events/{id}"));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("X-Session-API-Key"), Some("sandbox-key"));
    let events = sent[0]
        .body
        .as_ref()
        .and_then(|b| b.as_array())
        .expect("array body");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "ConversationStateUpdateEvent");
    assert_eq!(events[0]["key"], "execution_status");
    assert_eq!(events[0]["value"], "finished");
    assert_eq!(events[0]["source"], "environment");
}
