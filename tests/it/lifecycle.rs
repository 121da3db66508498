//! The run lifecycle through the local host (real HTTP, SQLite, worker, callbacks and sweep) against the fake
//! OpenHands: follow-ups that come while a conversation starts or while its sandbox is paused or gone, sandboxes
//! that die, summaries that cannot be fetched, conclusions that race, starts whose answer was lost, callbacks that
//! come too early or from a sender that cannot decide, and results that cannot be posted. Each test asserts on
//! what was sent to the fake GitHub and OpenHands.

use std::time::Duration;

use hookline::domain::RunState;
use hookline_tests::{
    fake_github::InjectedFailure,
    fake_openhands::post_event,
    harness::{eventually, issue_comment, user, Harness, HarnessOptions, ALICE_ID},
};

const SHARED_KEY: &str = "shared-callback-key";

fn alice() -> serde_json::Value {
    user("alice", ALICE_ID)
}

async fn harness(extra: &[(&str, &str)]) -> Harness {
    Harness::start_with(HarnessOptions {
        extra_env: hookline_tests::harness::owned(extra),
        extra_secrets: vec![("hookline/callback-key".into(), SHARED_KEY.into())],
        ..Default::default()
    })
    .await
}

async fn mention(h: &Harness, number: u64, text: &str, delivery: &str) {
    let comment_id = h.github.seed_issue_comment(
        hookline_tests::harness::REPO,
        number,
        "alice",
        text,
        h.clock_now(),
    );
    let payload = issue_comment(number, comment_id, text, alice(), false);
    h.deliver_and_settle("issue_comment", delivery, &payload).await;
}

fn state(h: &Harness, conversation_id: &str) -> RunState {
    run(h, conversation_id).state
}

fn run(h: &Harness, conversation_id: &str) -> hookline::domain::RunRecord {
    let store = h.host().store();
    futures_run(async move {
        use hookline::ports::RunStore;
        store.get_run(conversation_id).await.expect("store").expect("run")
    })
}

/// Run a store future to completion from sync test code (the store answers without awaiting I/O elsewhere).
fn futures_run<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

fn count(h: &Harness, method: &str, suffix: &str) -> usize {
    h.openhands
        .requests()
        .into_iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix))
        .count()
}

fn status_edits(h: &Harness) -> usize {
    h.github
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("/issues/comments/"))
        .count()
}

fn status_body(h: &Harness, number: u64) -> String {
    h.bot_comments()
        .into_iter()
        .find(|c| c.number == number)
        .map(|c| c.body)
        .unwrap_or_default()
}

/// Alice labels issue `number` (delivery `delivery`), its run starts, and one sweep looks at it; returns its id.
async fn start_run_seen_by_a_sweep(h: &Harness, number: u64, delivery: &str) -> String {
    let id = h.start_labeled_run(number, delivery).await;
    h.host().sweep_now().await;
    id
}

/// The sandbox of run `id` now reads `sandbox_status`; returns how many runs the next sweep concludes.
async fn sweep_reading(h: &Harness, id: &str, sandbox_status: &str) -> usize {
    h.openhands.set_sandbox_status(id, sandbox_status);
    h.host().sweep_now().await.concluded
}

/// Advance the clock by `secs` and sweep, expecting that sweep to conclude one run; returns the status comment on
/// `number` after it.
async fn sweep_concluding_one_after(h: &Harness, secs: u64, number: u64) -> String {
    h.clock.advance(secs);
    assert_eq!(h.host().sweep_now().await.concluded, 1);
    status_body(h, number)
}

async fn shared_key_callback(h: &Harness, conversation_id: &str, status: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks/events/{conversation_id}", h.url()))
        .header("X-Hookline-Callback-Key", SHARED_KEY)
        .json(&serde_json::json!([
            hookline_tests::fake_openhands::execution_status_event(status)
        ]))
        .send()
        .await
        .expect("hookline answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_while_the_conversation_starts_is_kept_and_sent_once_it_exists() {
    let h = harness(&[]).await;
    h.openhands.set_ready_delay(Duration::from_secs(3));
    let id = h.start_labeled_run(101, "lc-1").await;
    assert_eq!(state(&h, &id), RunState::Starting);
    mention(&h, 101, "@openhands also cover the empty file", "lc-2").await;
    // The person got the 👀 at once; nothing was sent yet (the server would answer 404).
    assert_eq!(h.github.reactions().len(), 2);
    assert!(h.openhands.messages().is_empty());
    assert_eq!(run(&h, &id).pending_messages.len(), 1);
    assert_eq!(
        count(&h, "POST", "/send-message"),
        0,
        "no send before the conversation exists"
    );
    // Once the conversation is listed, the sweep makes the run running and sends the waiting follow-up once.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    h.host().sweep_now().await;
    assert_eq!(state(&h, &id), RunState::Running);
    let messages = h.openhands.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].text.contains("also cover the empty file"));
    h.host().sweep_now().await;
    assert_eq!(h.openhands.messages().len(), 1, "sent once");
    assert_eq!(h.openhands.starts().len(), 1);
}

/// GIVEN a run whose conversation is still starting WHEN its person says stop THEN the run holds the stop until
/// the conversation exists, then interrupts its agent there and says who stopped it: a sandbox that comes up
/// after the stop does not work on unwatched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_the_conversation_starts_interrupts_it_once_it_exists() {
    let h = harness(&[]).await;
    h.openhands.set_ready_delay(Duration::from_secs(3));
    let id = h.start_labeled_run(115, "lc-20").await;
    assert_eq!(state(&h, &id), RunState::Starting);
    mention(&h, 115, "@openhands stop", "lc-21").await;
    assert_eq!(state(&h, &id), RunState::Concluding, "the stop is held");
    assert_eq!(count(&h, "POST", "/interrupt"), 0, "nothing to interrupt yet");
    assert!(status_body(&h, 115).contains("I'm on it"));

    tokio::time::sleep(Duration::from_millis(3100)).await;
    h.clock.advance(20);
    h.host().sweep_now().await;
    assert_eq!(count(&h, "POST", "/interrupt"), 1);
    assert_eq!(state(&h, &id), RunState::Failed);
    assert!(
        status_body(&h, 115).contains("Stopped by @alice"),
        "{}",
        status_body(&h, 115)
    );
    h.host().sweep_now().await;
    assert_eq!(count(&h, "POST", "/interrupt"), 1, "once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_while_running_goes_straight_to_the_agent() {
    let h = harness(&[]).await;
    let id = h.start_labeled_run(102, "lc-3").await;
    mention(&h, 102, "@openhands one more thing", "lc-4").await;
    // The worker looked, found the conversation and sent the message itself.
    assert_eq!(state(&h, &id), RunState::Running);
    assert_eq!(h.openhands.messages().len(), 1);
    assert!(run(&h, &id).pending_messages.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_sandbox_is_resumed_and_then_gets_the_message() {
    let h = harness(&[]).await;
    let id = start_run_seen_by_a_sweep(&h, 103, "lc-5").await;
    assert_eq!(state(&h, &id), RunState::Running);
    h.openhands.set_sandbox_status(&id, "PAUSED");
    let payload = issue_comment(103, 5003, "@openhands continue please", alice(), false);
    assert_eq!(h.deliver("issue_comment", "lc-6", &payload).await.0, 202);
    // 409 → resume → retried through the queue (after its backoff) → delivered.
    eventually("sandbox resumed", || async { h.openhands.resumes() == 1 }).await;
    h.clock.advance(10);
    h.host().wake_workers();
    eventually("message delivered", || async {
        h.openhands.messages().len() == 1
    })
    .await;
    assert!(h.openhands.messages()[0].text.contains("continue please"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_on_a_gone_sandbox_ends_that_run_and_starts_a_new_one_that_links_it() {
    let h = harness(&[]).await;
    let first = start_run_seen_by_a_sweep(&h, 104, "lc-7").await;
    h.openhands.set_sandbox_status(&first, "MISSING");
    mention(&h, 104, "@openhands please retry", "lc-8").await;
    eventually("a second conversation", || async {
        h.openhands.starts().len() == 2
    })
    .await;
    h.settle().await;
    assert_eq!(state(&h, &first), RunState::Failed);
    let second = h.openhands.starts()[1].clone();
    let text = second.text().to_owned();
    assert!(text.contains(&format!("conversations/{first}")), "{text}");
    assert!(text.contains("please retry"), "{text}");
    // Each run has its own status comment; the first says why it ended.
    let bodies: Vec<String> = h.bot_comments().into_iter().map(|c| c.body).collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(
        bodies.iter().any(|b| b.contains("sandbox stopped working")),
        "{bodies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sandbox_is_reported_and_the_thread_freed() {
    let h = harness(&[("HOOKLINE_SANDBOX_GRACE_SECS", "120")]).await;
    let id = start_run_seen_by_a_sweep(&h, 105, "lc-9").await;
    // One ERROR reading is the liveness probe under load: nothing happens.
    assert_eq!(sweep_reading(&h, &id, "ERROR").await, 0);
    assert_eq!(sweep_reading(&h, &id, "RUNNING").await, 0);
    assert!(
        run(&h, &id).sandbox_trouble.is_none(),
        "a healthy reading clears it"
    );
    // kill -9: MISSING, twice → failed, with a clear message.
    assert_eq!(sweep_reading(&h, &id, "MISSING").await, 0);
    let body = sweep_concluding_one_after(&h, 30, 105).await;
    assert_eq!(state(&h, &id), RunState::Failed);
    assert!(
        body.contains("sandbox stopped working") && body.contains("gone"),
        "{body}"
    );
    // The thread is free: a new mention starts a new run.
    mention(&h, 105, "@openhands again", "lc-10").await;
    eventually("second start", || async { h.openhands.starts().len() == 2 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_in_error_past_the_grace_ends_the_run() {
    let h = harness(&[("HOOKLINE_SANDBOX_GRACE_SECS", "120")]).await;
    let id = start_run_seen_by_a_sweep(&h, 106, "lc-11").await;
    assert_eq!(sweep_reading(&h, &id, "ERROR").await, 0);
    h.clock.advance(60);
    assert_eq!(h.host().sweep_now().await.concluded, 0);
    let body = sweep_concluding_one_after(&h, 61, 106).await;
    assert!(body.contains("stayed in error for 2 minutes"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_that_cannot_be_fetched_is_retried_before_the_fallback() {
    let h = harness(&[("HOOKLINE_SUMMARY_PATIENCE_SECS", "300")]).await;
    let id = start_run_seen_by_a_sweep(&h, 107, "lc-12").await;
    // `finished`, but the listing is a busy ERROR reading without a session key.
    h.openhands.set_execution_status(&id, "finished");
    h.openhands.set_sandbox_status(&id, "ERROR");
    assert_eq!(h.call_back(&id, "finished").await, 200);
    assert!(
        status_body(&h, 107).contains("I'm on it"),
        "no finished result before the summary is settled"
    );
    assert_eq!(state(&h, &id), RunState::Concluding);
    // The reading clears; the next attempt (after its wait) gets the summary.
    h.openhands.set_sandbox_status(&id, "RUNNING");
    h.openhands
        .set_summary("Fixed it in https://github.com/octo-org/hello/pull/7.");
    h.host().sweep_now().await;
    assert!(
        status_body(&h, 107).contains("I'm on it"),
        "still waiting for the retry time"
    );
    let body = sweep_concluding_one_after(&h, 16, 107).await;
    assert!(body.contains("Fixed it"), "{body}");
    assert_eq!(body.matches("pull/7").count(), 1, "{body}");
    assert_eq!(count(&h, "POST", "/ask_agent"), 1);
    assert_eq!(state(&h, &id), RunState::Reported);

    // Another run whose summary never comes: after the patience, the fallback says so, with the link.
    let other = start_run_seen_by_a_sweep(&h, 108, "lc-13").await;
    h.openhands.set_execution_status(&other, "finished");
    h.openhands.set_sandbox_status(&other, "ERROR");
    assert_eq!(h.call_back(&other, "finished").await, 200);
    h.clock.advance(16);
    h.host().sweep_now().await;
    assert_eq!(state(&h, &other), RunState::Concluding);
    let body = sweep_concluding_one_after(&h, 301, 108).await;
    assert!(body.contains("could not fetch the agent's summary"), "{body}");
    assert!(body.contains(&format!("conversations/{other}")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_finished_callbacks_and_sweeps_conclude_once() {
    let h = harness(&[]).await;
    let id = start_run_seen_by_a_sweep(&h, 109, "lc-14").await;
    let key = h.openhands.expect_session_key(&id);
    h.openhands.set_execution_status(&id, "finished");
    let edits_before = status_edits(&h);
    let url = h.url();
    let callbacks = (0..6).map(|_| {
        let (url, id, key) = (url.clone(), id.clone(), key.clone());
        tokio::spawn(async move { post_event(&url, &id, "finished", &key).await.status().as_u16() })
    });
    let sweeps = (0..3).map(|_| h.host().sweep_now());
    let (statuses, reports) = tokio::join!(
        futures_join_all(callbacks.collect()),
        futures_join_all_local(sweeps.collect())
    );
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let concluded: usize = reports.iter().map(|r| r.concluded).sum();
    assert!(
        concluded <= 1,
        "a sweep counts only the conclusion it made: {reports:?}"
    );
    eventually("reported", || async { state(&h, &id) == RunState::Reported }).await;
    assert_eq!(count(&h, "POST", "/ask_agent"), 1, "one summary call");
    assert_eq!(status_edits(&h) - edits_before, 1, "one final edit");
    assert_eq!(h.bot_comments().len(), 1);
}

async fn futures_join_all(handles: Vec<tokio::task::JoinHandle<u16>>) -> Vec<u16> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}

async fn futures_join_all_local<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    for future in pinned.iter_mut() {
        out.push(future.await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_whose_answer_was_lost_is_followed_not_repeated() {
    let h = harness(&[("OPENHANDS_TIMEOUT_SECS", "1")]).await;
    // The server takes the start but answers after the client gave up.
    h.openhands.delay_next_answer(Duration::from_millis(1500));
    let (status, _) = h.label(110, "lc-15").await;
    assert_eq!(status, 202);
    eventually("start received", || async { h.openhands.starts().len() == 1 }).await;
    // The retry comes after its backoff.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    h.clock.advance(10);
    h.host().wake_workers();
    h.settle().await;
    let id = h.openhands.starts()[0].conversation_id.clone();
    eventually("run follows the start", || async {
        state(&h, &id) == RunState::Starting
    })
    .await;
    assert_eq!(
        h.openhands.starts().len(),
        1,
        "never a second start for the same conversation"
    );
    assert!(count(&h, "GET", "/start-tasks/search") >= 1);
    assert!(run(&h, &id).start_task_id.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_before_the_conversation_is_listed_are_asked_to_retry() {
    let h = harness(&[]).await;
    h.openhands.set_ready_delay(Duration::from_secs(2));
    let id = h.start_labeled_run(111, "lc-16").await;
    let reply = post_event(&h.url(), &id, "running", "sk-not-known-yet").await;
    assert_eq!(reply.status().as_u16(), 503);
    assert!(reply.text().await.unwrap_or_default().contains("not listed"));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let key = h.openhands.expect_session_key(&id);
    // Many at once: one lookup, every one verified.
    let url = h.url();
    let lookups_before = count(&h, "GET", "/api/v1/app-conversations");
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let (url, id, key) = (url.clone(), id.clone(), key.clone());
            tokio::spawn(async move { post_event(&url, &id, "running", &key).await.status().as_u16() })
        })
        .collect();
    let statuses = futures_join_all(handles).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let lookups = count(&h, "GET", "/api/v1/app-conversations") - lookups_before;
    assert!(
        lookups <= 2,
        "one lookup for the key (and one to make the run running), not one per callback: {lookups}"
    );
    assert_eq!(state(&h, &id), RunState::Running);
    // The wrong key stays out.
    assert_eq!(
        post_event(&h.url(), &id, "finished", "sk-wrong")
            .await
            .status()
            .as_u16(),
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_key_callback_cannot_end_a_run_that_openhands_says_is_running() {
    let h = harness(&[("HOOKLINE_CALLBACK_KEY_SECRET", "hookline/callback-key")]).await;
    let id = start_run_seen_by_a_sweep(&h, 112, "lc-17").await;
    assert_eq!(shared_key_callback(&h, &id, "finished").await, 200);
    assert_eq!(shared_key_callback(&h, &id, "error").await, 200);
    assert_eq!(state(&h, &id), RunState::Running, "the app server says running");
    assert!(status_body(&h, 112).contains("I'm on it"));
    // When the app server agrees, the hint concludes it.
    h.openhands.set_execution_status(&id, "finished");
    assert_eq!(shared_key_callback(&h, &id, "finished").await, 200);
    assert_eq!(state(&h, &id), RunState::Reported);
}

/// GIVEN the operator's shared callback key, which any sandbox may hold WHEN someone posts agent events with it
/// THEN nothing of them reaches the status message: only the conversation's own sandbox speaks for its agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_sent_with_the_shared_key_never_show_as_progress() {
    let h = harness(&[("HOOKLINE_CALLBACK_KEY_SECRET", "hookline/callback-key")]).await;
    let id = start_run_seen_by_a_sweep(&h, 114, "lc-19").await;
    let forged = serde_json::json!([hookline_tests::fake_openhands::task_list_event(
        "2026-12-02T10:00:00.000000",
        &[("Click https://evil.example to continue", "in_progress")]
    )]);
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks/events/{id}", h.url()))
        .header("X-Hookline-Callback-Key", SHARED_KEY)
        .json(&forged)
        .send()
        .await
        .expect("hookline answers");
    assert_eq!(answer.status().as_u16(), 200);
    assert!(run(&h, &id).progress.tasks.is_empty());
    let body = status_body(&h, 114);
    assert!(
        body.contains("I'm on it") && !body.contains("evil.example"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_that_can_never_be_posted_ends_as_failed_after_bounded_attempts() {
    let h = harness(&[]).await;
    let id = start_run_seen_by_a_sweep(&h, 113, "lc-18").await;
    h.openhands.set_execution_status(&id, "finished");
    let path = "/repos/octo-org/hello/issues/comments/";
    for _ in 0..20 {
        h.github
            .fail_next(path, InjectedFailure::status(403).with_message("Issue is locked"));
    }
    let mut sweeps = 0;
    while state(&h, &id) != RunState::Failed && sweeps < 30 {
        h.host().sweep_now().await;
        h.clock.advance(4000);
        sweeps += 1;
    }
    assert_eq!(
        state(&h, &id),
        RunState::Failed,
        "given up after bounded attempts"
    );
    assert!(sweeps < 12, "{sweeps}");
    assert_eq!(
        count(&h, "POST", "/ask_agent"),
        1,
        "the summary is asked once, however often posting fails"
    );
    let conclusion = run(&h, &id).conclusion.expect("conclusion");
    assert!(conclusion.last_error.is_some());
    // Nothing more is tried.
    let edits = status_edits(&h);
    h.host().sweep_now().await;
    assert_eq!(status_edits(&h), edits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_stall_timeout_is_said_in_seconds() {
    let h = harness(&[("HOOKLINE_STALL_TIMEOUT_SECS", "45")]).await;
    let id = start_run_seen_by_a_sweep(&h, 114, "lc-19").await;
    let body = sweep_concluding_one_after(&h, 46, 114).await;
    assert!(body.contains("No progress for 45 seconds"), "{body}");
    assert_eq!(state(&h, &id), RunState::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_never_comes_up_fails_after_the_start_timeout() {
    let h = harness(&[("HOOKLINE_START_TIMEOUT_SECS", "600")]).await;
    h.openhands.set_ready_delay(Duration::from_secs(3600));
    let id = h.start_labeled_run(115, "lc-20").await;
    assert_eq!(h.host().sweep_now().await.concluded, 0);
    let body = sweep_concluding_one_after(&h, 601, 115).await;
    assert!(body.contains("did not come up within 10 minutes"), "{body}");
    assert_eq!(state(&h, &id), RunState::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_out_of_time_leaves_the_rest_for_the_next() {
    let h = harness(&[("HOOKLINE_SWEEP_BUDGET_SECS", "0")]).await;
    let first = h.start_labeled_run(116, "lc-21").await;
    let second = h.start_labeled_run(117, "lc-22").await;
    h.openhands.set_execution_status(&first, "finished");
    h.openhands.set_execution_status(&second, "finished");
    let report = h.host().sweep_now().await;
    assert_eq!(
        (report.examined, report.concluded, report.deferred),
        (0, 0, 2),
        "{report:?}"
    );
    assert_eq!(state(&h, &first), RunState::Starting);
    assert_eq!(
        count(&h, "GET", "/api/v1/app-conversations"),
        0,
        "nothing polled past the budget"
    );
}
