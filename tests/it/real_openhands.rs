//! Hookline's own OpenHands client against the REAL OpenHands app server (PyPI `openhands-ai` 1.11.0, process
//! sandboxes, the fake LLM of `tests/openhands/`), through the counting proxy: two conversations started within
//! a second run in parallel, one to `finished` and one (`[[fake-llm: fail]]`) to `error`; the summary comes
//! from `ask_agent`, a follow-up reaches the agent, the sandboxes' callbacks reach a second target with the
//! configured header, and a killed sandbox reads `MISSING`.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    body::{to_bytes, Body},
    extract::{Request, State},
    http::StatusCode,
    Router,
};
use hookline::{
    openhands::{agent_server_url_from, OpenHandsClient, OpenHandsConfig},
    ports::{ConversationStatus, Conversations, MessageDelivery, OpenHandsAuth, StartConversation},
};
use hookline_tests::{
    counting_proxy::CountingProxy,
    real_openhands::{RealOpenHands, RealOpenHandsOptions},
};
use serde_json::{json, Value};

const CALLBACK_HEADER: &str = "x-hookline-callback-key";
const CALLBACK_KEY: &str = "real-openhands-smoke-key";
/// Generous for a 2-core machine where other builds may run: a run takes ~10–25 s here.
const RUN_DEADLINE: Duration = Duration::from_secs(240);

/// Records every POST a sandbox makes to the second webhook target.
struct CallbackReceiver {
    url: String,
    posts: Arc<Mutex<Vec<Callback>>>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone, Debug)]
struct Callback {
    path: String,
    key: Option<String>,
    body: Value,
}

impl CallbackReceiver {
    async fn start() -> CallbackReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the callback receiver");
        let url = format!("http://{}", listener.local_addr().expect("receiver address"));
        let posts: Arc<Mutex<Vec<Callback>>> = Arc::default();
        let app = Router::new().fallback(record).with_state(posts.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        CallbackReceiver { url, posts, server }
    }

    fn posts(&self) -> Vec<Callback> {
        self.posts.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for CallbackReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(State(posts): State<Arc<Mutex<Vec<Callback>>>>, request: Request<Body>) -> StatusCode {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let callback = Callback {
        path: parts.uri.path().to_owned(),
        key: parts
            .headers
            .get(CALLBACK_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    posts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(callback);
    StatusCode::OK
}

/// The model the first conversation is started with (the fake LLM answers under any name).
const CHOSEN_MODEL: &str = "fake-model-chosen";

fn request(text: &str) -> StartConversation {
    StartConversation {
        conversation_id: uuid::Uuid::new_v4().simple().to_string(),
        initial_message: text.to_owned(),
        selected_repository: Some("octo-org/hello".to_owned()),
        selected_branch: None,
        git_provider: Some("github".to_owned()),
        title: "Real OpenHands smoke test".to_owned(),
        trigger: "resolver".to_owned(),
        llm_model: None,
    }
}

fn execution(status: Option<&ConversationStatus>) -> Option<&str> {
    status.and_then(|s| s.execution_status.as_deref())
}

fn describe(statuses: &[Option<ConversationStatus>]) -> String {
    statuses
        .iter()
        .map(|s| match s {
            Some(s) => format!("{}: {:?}/{:?}", s.id, s.sandbox_status, s.execution_status),
            None => "null".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Poll `?ids=` until `done` holds for the conversation; panics with the app log after the deadline.
async fn wait_for(
    client: &OpenHandsClient,
    openhands: &RealOpenHands,
    id: &str,
    what: &str,
    done: impl Fn(Option<&ConversationStatus>) -> bool,
) -> Option<ConversationStatus> {
    let auth = OpenHandsAuth::default();
    let deadline = Instant::now() + RUN_DEADLINE;
    loop {
        let statuses = client.statuses(&auth, &[id.to_owned()]).await.expect("statuses");
        if done(statuses[0].as_ref()) {
            return statuses[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached after {RUN_DEADLINE:?}; last reading: {}\n--- app log:\n{}",
            describe(&statuses),
            openhands.app_log_tail(60)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_openhands_runs_conversations_through_the_hookline_client() {
    // GIVEN the real app server, its sandboxes calling back to a receiver with a key header, behind a counter
    let receiver = CallbackReceiver::start().await;
    let boot = Instant::now();
    let mut openhands = RealOpenHands::start(RealOpenHandsOptions {
        callback_url: Some(format!("{}/api/v1/webhooks", receiver.url)),
        callback_headers: Some(json!({ "X-Hookline-Callback-Key": CALLBACK_KEY })),
        repos: vec!["octo-org/hello".to_owned()],
        ..RealOpenHandsOptions::default()
    })
    .await;
    eprintln!(
        "real OpenHands: started in {:.1?} at {}",
        boot.elapsed(),
        openhands.url()
    );
    let proxy = CountingProxy::start(openhands.url()).await;
    let client = OpenHandsClient::new(
        reqwest::Client::new(),
        OpenHandsConfig {
            base_url: proxy.url().to_owned(),
            web_url: openhands.url().to_owned(),
            request_timeout: Duration::from_secs(30),
        },
    );
    let auth = OpenHandsAuth::default();
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let ok_marker = format!("smoke-ok-{tag}");
    let fail_marker = format!("smoke-fail-{tag}");
    // A person's `model=` choice: another name for the fake LLM than the server's default.
    let ok = StartConversation {
        llm_model: Some(format!("openai/{CHOSEN_MODEL}")),
        ..request(&format!(
            "Please fix the README. [[fake-llm: marker={ok_marker}]]"
        ))
    };
    let failing = request(&format!(
        "This one fails. [[fake-llm: fail marker={fail_marker}]]"
    ));

    // WHEN both start within a second of each other
    let posted = Instant::now();
    let ok_task = client.start(&auth, &ok).await.expect("start the conversation");
    let fail_task = client
        .start(&auth, &failing)
        .await
        .expect("start the failing conversation");

    // THEN each answers a start task at once, which ends READY with the conversation's id
    for task in [&ok_task, &fail_task] {
        assert_eq!(task.status, "WORKING", "{task:?}");
        assert_eq!(task.id.len(), 32, "{task:?}");
    }
    let ids = vec![ok.conversation_id.clone(), failing.conversation_id.clone()];
    let deadline = Instant::now() + RUN_DEADLINE;
    let mut ended: [Option<(Duration, ConversationStatus)>; 2] = [None, None];
    let mut ready = None;
    while ended.iter().any(Option::is_none) {
        let statuses = client.statuses(&auth, &ids).await.expect("statuses");
        for (slot, status) in ended.iter_mut().zip(&statuses) {
            if slot.is_none() && matches!(execution(status.as_ref()), Some("finished" | "error")) {
                *slot = status.clone().map(|s| (posted.elapsed(), s));
            }
        }
        if ready.is_none() {
            let task = client.start_task(&auth, &ok_task.id).await.expect("start task");
            let task = task.expect("the start task exists");
            assert!(
                !task.is_error(),
                "start task failed: {task:?}\n{}",
                openhands.app_log_tail(60)
            );
            if task.status == "READY" {
                assert_eq!(
                    task.app_conversation_id.as_deref(),
                    Some(ok.conversation_id.as_str())
                );
                ready = Some(posted.elapsed());
            }
        }
        assert!(
            Instant::now() < deadline,
            "conversations did not end within {RUN_DEADLINE:?}: {}\n--- app log:\n{}",
            describe(&statuses),
            openhands.app_log_tail(60)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if ready.is_none() {
        let task = client.start_task(&auth, &ok_task.id).await.expect("start task");
        assert_eq!(
            task.as_ref().map(|t| t.status.as_str()),
            Some("READY"),
            "{task:?}"
        );
    }
    let [Some((ok_after, ok_status)), Some((fail_after, fail_status))] = ended else {
        unreachable!("the loop ends when both have ended")
    };
    eprintln!(
        "real OpenHands: POST -> finished {ok_after:.1?} (start task READY seen at {ready:?}), \
         POST -> error {fail_after:.1?} (started within a second of each other)"
    );
    assert_eq!(
        ok_status.execution_status.as_deref(),
        Some("finished"),
        "{ok_status:?}"
    );
    assert_eq!(
        ok_status.sandbox_status.as_deref(),
        Some("RUNNING"),
        "{ok_status:?}"
    );
    assert_eq!(
        fail_status.execution_status.as_deref(),
        Some("error"),
        "{fail_status:?}"
    );

    // AND the summary comes from the agent server (the fake LLM names the conversation's marker)
    let conversation_url = ok_status
        .conversation_url
        .clone()
        .expect("a running conversation has a URL");
    let agent_server =
        agent_server_url_from(&conversation_url).expect("conversation_url has the usual shape");
    let summary = client
        .ask_agent(&ok_status, &agent_server, "Summarize what you did.")
        .await
        .expect("ask_agent");
    assert!(summary.contains(&ok_marker), "summary: {summary}");

    // AND the fake LLM saw each conversation under its own id; the failing one got a 400
    let requests = openhands.llm_requests();
    let steps_of = |id: &str| -> Vec<Value> {
        requests
            .iter()
            .filter(|r| r["kind"] == "agent_step" && r["conv"] == id)
            .cloned()
            .collect()
    };
    let ok_steps = steps_of(&ok.conversation_id);
    assert_eq!(ok_steps.len(), 1, "one finish step: {ok_steps:?}");
    assert_eq!(ok_steps[0]["tool"], "finish");
    assert_eq!(
        ok_steps[0]["model"], CHOSEN_MODEL,
        "the chosen model reached the LLM"
    );
    let fail_steps = steps_of(&failing.conversation_id);
    assert!(
        !fail_steps.is_empty() && fail_steps.iter().all(|r| r["status"] == 400),
        "{fail_steps:?}"
    );
    assert!(
        fail_steps.iter().all(|r| r["model"] == "fake-model"),
        "without a choice, the server's own model: {fail_steps:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r["kind"] == "ask_agent" && r["conv"] == ok.conversation_id.as_str()),
        "the ask_agent call was logged"
    );

    // WHEN a follow-up is sent to the finished conversation
    let follow_up = format!("One more thing for {ok_marker}: update the docs too.");
    let delivery = client
        .send_message(&auth, &ok.conversation_id, &follow_up)
        .await
        .expect("send_message");
    assert_eq!(delivery, MessageDelivery::Delivered, "follow-up");
    // THEN the agent sees it in a new step and finishes again
    let deadline = Instant::now() + RUN_DEADLINE;
    while !openhands.user_messages_of(&ok_marker).contains(&follow_up) {
        assert!(
            Instant::now() < deadline,
            "the follow-up never reached the LLM; it saw: {:?}",
            openhands.user_messages_of(&ok_marker)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(openhands.user_messages_of(&ok_marker).len(), 2);
    wait_for(
        &client,
        &openhands,
        &ok.conversation_id,
        "finished after the follow-up",
        |s| execution(s) == Some("finished") && steps_of_count(&openhands, &ok.conversation_id) >= 2,
    )
    .await;

    // AND the sandboxes called the second target with the configured header, one event per POST
    let events_path = format!("/api/v1/webhooks/events/{}", ok.conversation_id);
    let posts = receiver.posts();
    let events: Vec<&Callback> = posts.iter().filter(|p| p.path == events_path).collect();
    assert!(
        !events.is_empty(),
        "no event callbacks; got paths {:?}",
        posts.iter().map(|p| &p.path).collect::<Vec<_>>()
    );
    assert!(
        events.iter().all(|p| p.key.as_deref() == Some(CALLBACK_KEY)),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .all(|p| p.body.as_array().is_some_and(|a| a.len() == 1)),
        "one event per POST"
    );

    // AND the proxy counted exactly the calls made
    let counts = proxy.counts();
    eprintln!("real OpenHands: API calls {counts:?}");
    assert_eq!(
        counts.get("POST /api/v1/app-conversations"),
        Some(&2),
        "{counts:?}"
    );
    assert_eq!(
        counts.get("POST /api/v1/app-conversations/{id}/send-message"),
        Some(&1),
        "{counts:?}"
    );
    assert!(
        counts
            .get("GET /api/v1/app-conversations")
            .is_some_and(|n| *n >= 3),
        "{counts:?}"
    );
    assert!(
        counts
            .get("GET /api/v1/app-conversations/start-tasks")
            .is_some_and(|n| *n >= 1),
        "{counts:?}"
    );
    assert_eq!(counts.len(), 4, "no other endpoint was called: {counts:?}");

    // WHEN its sandbox is killed -9
    let killed = openhands.kill_sandbox(&ok.conversation_id);
    assert!(!killed.is_empty());
    // THEN the conversation reads MISSING with no execution status, and a message is refused for good (410 Gone)
    let gone = wait_for(
        &client,
        &openhands,
        &ok.conversation_id,
        "MISSING after kill -9",
        |s| s.is_some_and(|s| s.sandbox_status.as_deref() == Some("MISSING")),
    )
    .await
    .expect("a killed conversation is still listed");
    assert_eq!(gone.execution_status, None, "{gone:?}");
    assert_eq!(gone.conversation_url, None, "{gone:?}");
    // 410 Gone.
    let refused = client
        .send_message(&auth, &ok.conversation_id, "anyone there?")
        .await
        .expect("an outcome");
    assert_eq!(refused, MessageDelivery::Gone, "message to a killed sandbox");

    let stopping = Instant::now();
    openhands.stop();
    eprintln!("real OpenHands: stopped in {:.1?}", stopping.elapsed());
}

fn steps_of_count(openhands: &RealOpenHands, id: &str) -> usize {
    openhands
        .llm_requests()
        .iter()
        .filter(|r| r["kind"] == "agent_step" && r["conv"] == id)
        .count()
}
