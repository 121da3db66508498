//! The run lifecycle against the REAL OpenHands app server (tests/openhands/: `openhands-ai` 1.11.0, process
//! sandboxes, the fake LLM): Hookline's local host with the fake GitHub, driven as a person would, on one server
//! with the scenarios in parallel. Host A receives every sandbox's callbacks; host B has none configured and
//! relies on its sweep. Each host reaches OpenHands through a counting proxy, so the calls per run are measured.
//!
//! `HOOKLINE_REAL_FIGURES=5` adds that many sequential timing runs per host after the scenarios and prints the
//! medians (the README's figures come from such a run).

use std::{
    collections::BTreeMap,
    future::Future,
    time::{Duration, Instant, SystemTime},
};

use hookline::{domain::RunState, ports::RunStore};
use hookline_tests::{
    counting_proxy::CountingProxy,
    fake_github::ReactionTarget,
    harness::{issue_comment, labeled, user, Harness, HarnessOptions, ALICE_ID, REPO},
    real_openhands::{RealOpenHands, RealOpenHandsOptions},
};
use serde_json::json;

/// Ports of this test's server (a slot of its own, away from the smoke test's automatic ones).
const APP_PORT: u16 = 18314;
const LLM_PORT: u16 = 18714;
const SANDBOX_BASE_PORT: u16 = 18680;
/// Both hosts sweep this often (production: every minute).
const SWEEP_SECS: u64 = 3;
/// Least time between two progress edits (production: 15 s), so a short scripted run shows several.
const PROGRESS_EVERY_SECS: u64 = 2;
/// Host A's sandbox grace.
const GRACE_SECS: u64 = 20;
/// Longest any scenario waits for one step.
const PATIENCE: Duration = Duration::from_secs(240);

async fn host(openhands_url: &str) -> Harness {
    Harness::start_with(HarnessOptions {
        workers: 2,
        openhands_url: Some(openhands_url.to_owned()),
        system_clock: true,
        sweep_interval: Duration::from_secs(SWEEP_SECS),
        extra_env: vec![
            ("HOOKLINE_SANDBOX_GRACE_SECS".into(), GRACE_SECS.to_string()),
            ("OPENHANDS_TIMEOUT_SECS".into(), "60".into()),
            (
                "HOOKLINE_PROGRESS_EVERY_SECS".into(),
                PROGRESS_EVERY_SECS.to_string(),
            ),
        ],
        ..Default::default()
    })
    .await
}

/// Poll `probe` every 200 ms until it answers, or fail with `what` after [`PATIENCE`].
async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn status_text(h: &Harness, number: u64) -> Option<String> {
    h.bot_comments()
        .into_iter()
        .find(|c| c.number == number)
        .map(|c| c.body)
}

async fn run_of(h: &Harness, number: u64) -> Option<hookline::domain::RunRecord> {
    let store = h.host().store();
    let runs = store.runs_in_states(&RunState::ALL, 1000).await.ok()?;
    runs.into_iter()
        .filter(|r| r.thread_key.ends_with(&format!("#{number}")))
        .max_by_key(|r| r.created_at)
}

/// Wait until issue `number`'s run is in `state` (recorded just after its message is edited).
async fn settled(h: &Harness, number: u64, state: RunState) -> hookline::domain::RunRecord {
    wait_for(&format!("#{number} {}", state.as_str()), || async {
        run_of(h, number).await.filter(|run| run.state == state)
    })
    .await
}

/// Label issue `number` whose body carries `body` (fake-LLM directives); returns when it was delivered.
async fn label(h: &Harness, number: u64, body: &str, delivery: &str) -> Instant {
    let mut payload = labeled(number, "openhands", user("alice", ALICE_ID));
    payload["issue"]["body"] = json!(body);
    let sent = Instant::now();
    let (status, _) = h.deliver("issues", delivery, &payload).await;
    assert_eq!(status, 202, "delivery {delivery}");
    sent
}

/// [`label`], as the delivery `real-<number>`.
async fn label_issue(h: &Harness, number: u64, body: &str) -> Instant {
    label(h, number, body, &format!("real-{number}")).await
}

/// Label issue `number` with `body` and wait until its conversation runs.
async fn running(h: &Harness, number: u64, body: &str) -> hookline::domain::RunRecord {
    label_issue(h, number, body).await;
    wait_for("running", || async {
        run_of(h, number).await.filter(|r| r.state == RunState::Running)
    })
    .await
}

/// Comment on issue `number`; returns the comment id.
async fn mention(h: &Harness, number: u64, text: &str, delivery: &str) -> u64 {
    let comment_id = h
        .github
        .seed_issue_comment(REPO, number, "alice", text, h.clock_now());
    let payload = issue_comment(number, comment_id, text, user("alice", ALICE_ID), false);
    assert_eq!(h.deliver("issue_comment", delivery, &payload).await.0, 202);
    comment_id
}

/// Whether a status comment is the run's final message (not "on it", not a progress block).
fn is_final(body: &str) -> bool {
    !body.contains("I'm on it") && !body.contains("Working on it")
}

/// Wait until issue `number`'s status comment is the run's final message (`what` names it if it never comes).
async fn final_status(h: &Harness, number: u64, what: &str) -> String {
    wait_for(what, || async { status_text(h, number).filter(|b| is_final(b)) }).await
}

/// Every text issue `number`'s status comment had, in order, with when GitHub received it.
fn status_history(h: &Harness, number: u64) -> Vec<(SystemTime, String)> {
    let Some(comment) = h.bot_comments().into_iter().find(|c| c.number == number) else {
        return Vec::new();
    };
    let path = format!("/repos/{REPO}/issues/comments/{}", comment.id);
    h.github
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path == path)
        .filter_map(|r| Some((r.at, r.body?["body"].as_str()?.to_owned())))
        .collect()
}

/// The agent runs a multi-step script with slow steps: its task list and steps show in the status comment while
/// it works, then the result replaces them. Returns how long after the agent server's event each progress edit
/// reached GitHub.
async fn progress_run(oh: &RealOpenHands, h: &Harness, number: u64) -> Vec<Duration> {
    let marker = format!("progress-{number}");
    label_issue(
        h,
        number,
        &format!("Step by step. [[fake-llm: script=work delay=3 marker={marker}]]"),
    )
    .await;
    let progress = wait_for("progress shown", || async {
        status_text(h, number).filter(|b| b.contains("Working on it") && b.contains("Explore the repository"))
    })
    .await;
    assert!(
        progress.contains("- [ ] Explore the repository (in progress)"),
        "#{number}: {progress}"
    );
    let body = final_status(h, number, "result").await;
    assert!(
        body.contains(&format!("Fake summary for {marker}")),
        "#{number}: {body}"
    );
    let run = settled(h, number, RunState::Reported).await;
    let history = status_history(h, number);
    let shown: Vec<&(SystemTime, String)> = history
        .iter()
        .filter(|(_, t)| t.contains("Working on it"))
        .collect();
    assert!(shown.len() >= 2, "#{number}: progress edits {history:#?}");
    assert!(
        shown.iter().any(|(_, t)| t.contains("Now: ")),
        "#{number}: the step is shown: {history:#?}"
    );
    assert!(
        is_final(&history.last().expect("edits").1),
        "the result is the last edit"
    );
    // Each edit against the newest event the agent server had sent by then.
    let events = agent_event_times(oh, &run.conversation_id).await;
    shown
        .iter()
        .filter_map(|(at, _)| {
            let before = events.iter().filter(|e| *e <= at).max()?;
            at.duration_since(*before).ok()
        })
        .collect()
}

/// When the app server says each event of a conversation happened (its timestamps are UTC without a zone).
async fn agent_event_times(oh: &RealOpenHands, conversation_id: &str) -> Vec<SystemTime> {
    let url = format!(
        "{}/api/v1/conversation/{conversation_id}/events/search?limit=100",
        oh.url()
    );
    let page: serde_json::Value = reqwest::get(&url)
        .await
        .expect("events")
        .json()
        .await
        .expect("JSON");
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["timestamp"].as_str())
        .filter_map(|t| humantime::parse_rfc3339_weak(t).ok())
        .collect()
}

/// `@openhands stop` while the agent is mid-step: the agent server reports the conversation `paused`, the
/// status comment says who stopped it, and no step follows. Returns how long after the comment was delivered
/// the server read `paused`.
async fn stopped_run(oh: &RealOpenHands, h: &Harness, number: u64) -> Duration {
    let run = running(h, number, "Take your time. [[fake-llm: script=work delay=45]]").await;
    let sent = Instant::now();
    mention(h, number, "@openhands stop", &format!("real-{number}-stop")).await;
    let url = format!(
        "{}/api/v1/app-conversations?ids={}",
        oh.url(),
        run.conversation_id
    );
    let paused_after = wait_for("the server reads the conversation paused", || async {
        let listed: serde_json::Value = reqwest::get(&url).await.ok()?.json().await.ok()?;
        (listed[0]["execution_status"] == "paused").then(|| sent.elapsed())
    })
    .await;
    let body = final_status(h, number, "stop posted").await;
    assert!(body.contains("Stopped by @alice"), "#{number}: {body}");
    settled(h, number, RunState::Failed).await;
    // The step in flight was cancelled and no other followed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let steps = oh
        .llm_requests()
        .into_iter()
        .filter(|r| r["kind"] == "agent_step" && r["conv"] == run.conversation_id.as_str())
        .count();
    assert!(steps <= 2, "#{number}: {steps} agent steps after a stop mid-step");
    paused_after
}

/// How long one run took to reach each point.
#[derive(Clone, Copy, Debug)]
struct Timing {
    status: Duration,
    running: Duration,
    result: Duration,
}

/// Label an issue and follow it to its result; asserts the result is the agent's summary.
async fn labeled_run(h: &Harness, number: u64, marker: &str, delivery: &str) -> (String, Timing) {
    let sent = label(
        h,
        number,
        &format!("Please look. [[fake-llm: marker={marker}]]"),
        delivery,
    )
    .await;
    let status = wait_for("status comment", || async {
        status_text(h, number).map(|_| sent.elapsed())
    })
    .await;
    let running = wait_for("conversation running", || async {
        let run = run_of(h, number).await?;
        matches!(
            run.state,
            RunState::Running | RunState::Concluding | RunState::Reported
        )
        .then(|| sent.elapsed())
    })
    .await;
    let expected = format!("Fake summary for {marker}");
    let (body, result) = wait_for("result", || async {
        let body = status_text(h, number)?;
        is_final(&body).then(|| (body, sent.elapsed()))
    })
    .await;
    assert!(body.contains(&expected), "#{number}: {body}");
    let run = settled(h, number, RunState::Reported).await;
    assert_eq!(h.bot_comments().iter().filter(|c| c.number == number).count(), 1);
    (
        run.conversation_id,
        Timing {
            status,
            running,
            result,
        },
    )
}

/// A mention reaches the agent: the fake LLM keeps the conversation going until it sees a follow-up, then
/// finishes; the result comes after it.
async fn follow_up_run(oh: &RealOpenHands, h: &Harness, number: u64, during_start: bool) {
    let marker = format!("follow-{number}");
    label_issue(
        h,
        number,
        &format!("Please look. [[fake-llm: await_follow_up=120 marker={marker}]]"),
    )
    .await;
    wait_for("status comment", || async { status_text(h, number) }).await;
    if during_start {
        let run = run_of(h, number).await.expect("run");
        assert!(
            matches!(run.state, RunState::Claimed | RunState::Starting),
            "the mention comes while the conversation starts: {:?}",
            run.state
        );
    } else {
        wait_for("running", || async {
            (run_of(h, number).await?.state == RunState::Running).then_some(())
        })
        .await;
    }
    let request = format!("also add a changelog line ({marker}-extra)");
    let comment_id = mention(
        h,
        number,
        &format!("@openhands {request}"),
        &format!("real-{number}-m"),
    )
    .await;
    let body = final_status(h, number, "result").await;
    assert!(
        body.contains(&format!("Fake summary for {marker}")),
        "#{number}: {body}"
    );
    let conversation_id = run_of(h, number).await.expect("run").conversation_id;
    let seen = seen_by_agent(oh, &conversation_id);
    assert!(
        seen.iter().any(|m| m.contains(&format!("{marker}-extra"))),
        "#{number}: the follow-up reached the agent: {seen:?}"
    );
    // The person got the 👀 on their mention.
    let acknowledged = h.github.reactions().into_iter().any(|r| {
        r.content == "eyes"
            && r.target
                == ReactionTarget::IssueComment {
                    repo: REPO.into(),
                    comment_id,
                }
    });
    assert!(acknowledged, "#{number}: 👀 on the mention");
}

/// Every user message the fake LLM saw in the agent steps of a conversation.
fn seen_by_agent(oh: &RealOpenHands, conversation_id: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for request in oh.llm_requests() {
        if request["kind"] != "agent_step" || request["conv"] != conversation_id {
            continue;
        }
        for message in request["user_messages"].as_array().into_iter().flatten() {
            if let Some(text) = message.as_str().filter(|t| !seen.iter().any(|s| s == t)) {
                seen.push(text.to_owned());
            }
        }
    }
    seen
}

async fn killed_sandbox_run(oh: &RealOpenHands, h: &Harness, number: u64) {
    let run = running(h, number, "Take your time. [[fake-llm: delay=120]]").await;
    let killed = oh.kill_sandbox(&run.conversation_id);
    assert!(!killed.is_empty());
    let at = Instant::now();
    let body = final_status(h, number, "failure posted").await;
    let took = at.elapsed();
    assert!(body.contains("sandbox stopped working"), "#{number}: {body}");
    assert!(
        took < Duration::from_secs(GRACE_SECS + 4 * SWEEP_SECS),
        "reported {took:?} after the kill"
    );
    // The terminal state is recorded just after the message is edited.
    settled(h, number, RunState::Failed).await;
    println!(
        "real-openhands: killed sandbox reported {:.1} s after the kill",
        took.as_secs_f64()
    );
}

async fn failing_agent_run(h: &Harness, number: u64) {
    label_issue(h, number, "This one fails. [[fake-llm: fail]]").await;
    let body = final_status(h, number, "failure posted").await;
    assert!(body.contains("stopped with status `error`"), "#{number}: {body}");
    // The terminal state is recorded just after the message is edited.
    settled(h, number, RunState::Failed).await;
}

fn median(mut values: Vec<Duration>) -> f64 {
    values.sort();
    values[values.len() / 2].as_secs_f64()
}

/// Calls of one run, by route, as the proxy counted them.
fn calls(proxy: &CountingProxy) -> BTreeMap<String, usize> {
    proxy.counts()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_run_lifecycle_holds_on_the_real_server() {
    let target = format!("http://127.0.0.1:{APP_PORT}");
    let proxy_a = CountingProxy::start(&target).await;
    let proxy_b = CountingProxy::start(&target).await;
    let a = host(proxy_a.url()).await;
    let b = host(proxy_b.url()).await;
    let oh = RealOpenHands::start(RealOpenHandsOptions {
        callback_url: Some(format!("{}/api/v1/webhooks", a.url())),
        app_port: Some(APP_PORT),
        llm_port: Some(LLM_PORT),
        sandbox_base_port: Some(SANDBOX_BASE_PORT),
        repos: vec![REPO.to_owned()],
        ..Default::default()
    })
    .await;

    let labeled_and_redelivered = async {
        let (conversation_id, timing) = labeled_run(&a, 301, "s1", "real-301").await;
        // The same delivery again: a duplicate, no second conversation.
        let mut payload = labeled(301, "openhands", user("alice", ALICE_ID));
        payload["issue"]["body"] = json!("Please look. [[fake-llm: marker=s1]]");
        assert_eq!(a.deliver("issues", "real-301", &payload).await.0, 200);
        (conversation_id, timing)
    };
    let sweep_only = labeled_run(&b, 306, "s6", "real-306");
    let ((_, timing_a), _, _, _, _, (_, timing_b)) = tokio::join!(
        labeled_and_redelivered,
        follow_up_run(&oh, &a, 302, true),
        follow_up_run(&oh, &a, 303, false),
        killed_sandbox_run(&oh, &a, 304),
        failing_agent_run(&a, 305),
        sweep_only,
    );
    // Then the two slow scripted runs, so no more than six sandboxes start at once on two cores (eight made the
    // real server's agent servers fail a start with 500 now and then).
    let (event_to_edit, stop_to_paused) = tokio::join!(progress_run(&oh, &a, 307), stopped_run(&oh, &a, 308));
    // One start per run, whatever the callbacks and sweeps did: seven runs on A, one on B.
    let starts = |proxy: &CountingProxy| proxy.count("POST /api/v1/app-conversations");
    assert_eq!(starts(&proxy_a), 7, "{:?}", calls(&proxy_a));
    assert_eq!(starts(&proxy_b), 1, "{:?}", calls(&proxy_b));
    println!(
        "real-openhands: host A (callbacks) calls for 7 runs: {:?}",
        calls(&proxy_a)
    );
    println!(
        "real-openhands: host B (sweep only) calls for 1 run: {:?}",
        calls(&proxy_b)
    );
    println!("real-openhands: A {timing_a:?}; B {timing_b:?}");
    println!(
        "real-openhands: progress edits {} (every {PROGRESS_EVERY_SECS} s at most), event → edit median {:.2} s; \
         `@openhands stop` → server reads paused {:.2} s",
        event_to_edit.len(),
        median(event_to_edit.clone()),
        stop_to_paused.as_secs_f64()
    );

    let figures: usize = std::env::var("HOOKLINE_REAL_FIGURES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for (name, h, proxy, base) in [
        ("callbacks", &a, &proxy_a, 400u64),
        ("sweep only", &b, &proxy_b, 500),
    ] {
        if figures == 0 {
            break;
        }
        let mut timings = Vec::new();
        let mut per_run = Vec::new();
        for i in 0..figures as u64 {
            proxy.reset();
            let (_, timing) = labeled_run(
                h,
                base + i,
                &format!("fig-{base}-{i}"),
                &format!("fig-{base}-{i}"),
            )
            .await;
            timings.push(timing);
            per_run.push(calls(proxy));
        }
        println!(
            "real-openhands figures ({name}, {figures} sequential runs, sweep every {SWEEP_SECS} s): median webhook → \
             status {:.2} s, → running {:.1} s, → result {:.1} s; OpenHands calls per run: {:?}",
            median(timings.iter().map(|t| t.status).collect()),
            median(timings.iter().map(|t| t.running).collect()),
            median(timings.iter().map(|t| t.result).collect()),
            per_run
        );
    }
    drop(oh);
}
