//! Live progress and stop through the local host on the harness's manual clock (GitHub): how many edits a
//! minute of agent events makes and that the newest state is the last one shown, the coarse state the sweep
//! fills in when no event comes, a maintainer's stop, a stop with no run going, and a stop racing `finished`.
//! The same behaviour on every provider and on both hosts is in `provider_scenarios` (scenarios 10–12).

use hookline::{
    domain::{Outcome, RunState},
    ports::RunStore,
};
use hookline_tests::{
    fake_openhands::{action_event, post_event, post_events, task_list_event},
    harness::{eventually, issue_comment, user, Harness, ALICE_ID},
};
use serde_json::json;

/// The status comment's texts as GitHub received them: the first post, then every edit, in order.
fn status_history(h: &Harness) -> Vec<String> {
    h.github
        .requests()
        .into_iter()
        .filter(|r| {
            (r.method == "PATCH" && r.path.contains("/issues/comments/"))
                || (r.method == "POST" && r.path.ends_with("/comments"))
        })
        .filter_map(|r| r.body.and_then(|b| b["body"].as_str().map(str::to_owned)))
        .collect()
}

/// The agent server's timestamp of the `batch`-th batch, 0.6 s apart.
fn at(batch: u32) -> String {
    let millis = batch * 600;
    format!(
        "2026-12-02T10:{:02}:{:02}.{:06}",
        millis / 60_000,
        millis / 1000 % 60,
        millis % 1000 * 1000
    )
}

/// `done` of `n` tasks finished, the next one in progress.
fn tasks_event(batch: u32, done: usize, n: usize) -> serde_json::Value {
    let titles: Vec<String> = (1..=n).map(|i| format!("Task number {i}")).collect();
    let tasks: Vec<(&str, &str)> = titles
        .iter()
        .enumerate()
        .map(|(i, title)| {
            let status = match i.cmp(&done) {
                std::cmp::Ordering::Less => "done",
                std::cmp::Ordering::Equal => "in_progress",
                std::cmp::Ordering::Greater => "todo",
            };
            (title.as_str(), status)
        })
        .collect();
    task_list_event(&at(batch), &tasks)
}

async fn run(h: &Harness, number: u64) -> hookline::domain::RunRecord {
    let id = h.start_labeled_run(number, &format!("d-run-{number}")).await;
    // The first callback finds the conversation listed and makes the run running.
    let key = h.openhands.expect_session_key(&id);
    assert_eq!(post_event(&h.url(), &id, "running", &key).await.status(), 200);
    h.host().store().get_run(&id).await.unwrap().expect("run")
}

/// GIVEN a running run WHEN the agent sends 200 events over a minute, batches out of order THEN the status
/// comment gets a handful of edits, each newer than the last, the newest state is what it shows once the sweep
/// passes, and the result then replaces it.
#[tokio::test]
async fn a_minute_of_200_events_makes_a_handful_of_ordered_edits_and_the_newest_state_wins() {
    let h = Harness::start().await;
    let run = run(&h, 40).await;
    let id = run.conversation_id.clone();
    let key = h.openhands.expect_session_key(&id);
    const TASKS: usize = 10;
    // 100 batches of two events (an action, then the task list), 0.6 s apart; every fifth batch is an old one
    // redelivered late, which must never show.
    for batch in 0..100u32 {
        let done = (batch as usize * TASKS) / 100;
        let events = if batch % 5 == 4 {
            vec![
                action_event(&at(0), "think", json!({"kind": "ThinkAction"})),
                tasks_event(0, 0, TASKS),
            ]
        } else {
            vec![
                action_event(
                    &at(batch),
                    "file_editor",
                    json!({"kind": "FileEditorAction", "command": "str_replace", "path": format!("/w/hello/src/f{batch}.rs")}),
                ),
                tasks_event(batch, done, TASKS),
            ]
        };
        assert_eq!(post_events(&h.url(), &id, events, &key).await.status(), 200);
        if batch % 5 == 0 {
            h.clock.advance(3);
        }
    }
    let history = status_history(&h);
    let edits = history.len() - 1;
    assert!(
        (3..=6).contains(&edits),
        "{edits} edits for 200 events in a minute: {history:#?}"
    );
    // Each edit shows more tasks done than the one before: no older text over a newer one.
    let done_in = |text: &str| text.matches("- [x]").count();
    let shown: Vec<usize> = history[1..].iter().map(|t| done_in(t)).collect();
    assert!(shown.windows(2).all(|w| w[0] <= w[1]), "{shown:?}");

    // The last state of the burst came within the throttle: the sweep shows it once it is due.
    h.clock.advance(20);
    h.host().sweep_now().await;
    let history = status_history(&h);
    let last = history.last().expect("a status");
    assert_eq!(done_in(last), TASKS - 1, "{last}");
    assert!(last.contains("Now: editing `hello/src/f98.rs`."), "{last}");
    let stored = h.host().store().get_run(&id).await.unwrap().unwrap();
    assert_eq!(stored.progress.editing_until, 0, "no edit left in flight");

    // The result replaces the block; an old batch arriving afterwards changes nothing.
    h.openhands.set_summary("All ten tasks done.");
    h.openhands.set_execution_status(&id, "finished");
    assert_eq!(post_event(&h.url(), &id, "finished", &key).await.status(), 200);
    let late = vec![tasks_event(1, 1, TASKS)];
    assert_eq!(post_events(&h.url(), &id, late, &key).await.status(), 200);
    h.clock.advance(60);
    h.host().sweep_now().await;
    let comments = h.bot_comments();
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body.contains("All ten tasks done."),
        "{}",
        comments[0].body
    );
    assert!(!comments[0].body.contains("- [ ]"), "{}", comments[0].body);
}

/// GIVEN a run whose agent server sends no events (no callbacks configured) WHEN the sweep looks at it over
/// time THEN the status comment shows a coarse "working for N minutes" every few minutes, not every minute.
#[tokio::test]
async fn without_events_the_sweep_shows_a_coarse_state_every_few_minutes() {
    let h = Harness::start().await;
    h.start_labeled_run(41, "d-coarse").await;
    for _ in 0..12 {
        h.clock.advance(60);
        h.host().sweep_now().await;
    }
    let history = status_history(&h);
    assert_eq!(history.len(), 3, "posted, then at 5 and 10 minutes: {history:#?}");
    assert!(
        history[1].contains("Working on it (5 minutes so far)"),
        "{}",
        history[1]
    );
    assert!(
        history[2].contains("Working on it (10 minutes so far)"),
        "{}",
        history[2]
    );
}

/// GIVEN alice's running run WHEN a maintainer says stop THEN the run ends as stopped by them; a second stop,
/// and a stop on an issue with no run going, are answered without a second final message.
#[tokio::test]
async fn a_maintainer_may_stop_and_a_stop_with_nothing_running_says_so() {
    let h = Harness::start().await;
    let run = run(&h, 42).await;
    let id = run.conversation_id;
    h.github.set_role("carol", "maintain");
    h.link_to(hookline::domain::Provider::Github, "github.com", "5252", "carol")
        .await;
    let stop = |comment: u64| issue_comment(42, comment, "@openhands cancel", user("carol", 5252), false);
    assert_eq!(h.deliver("issue_comment", "d-stop-1", &stop(4201)).await.0, 202);
    eventually("the run is stopped", || async {
        let run = h.host().store().get_run(&id).await.unwrap().unwrap();
        run.state == RunState::Failed
    })
    .await;
    let stored = h.host().store().get_run(&id).await.unwrap().unwrap();
    assert!(
        matches!(stored.conclusion.map(|c| c.outcome), Some(Outcome::Stopped { by, .. }) if by == "carol")
    );
    let body = &h.bot_comments()[0].body;
    assert!(body.contains("Stopped by @carol at "), "{body}");
    assert!(body.contains("UTC"), "{body}");

    h.deliver_and_settle("issue_comment", "d-stop-2", &stop(4202))
        .await;
    let comments = h.bot_comments();
    assert_eq!(comments.len(), 2, "the status comment and one answer");
    assert!(
        comments[1].body.contains("nothing to stop"),
        "{}",
        comments[1].body
    );
    assert!(comments[0].body.contains("Stopped by @carol"));
}

/// GIVEN a running run WHEN the agent's `finished` and alice's stop arrive together THEN the run ends once,
/// with one final message, whichever won.
#[tokio::test]
async fn a_stop_racing_finished_ends_in_one_final_message() {
    let h = Harness::start().await;
    let run = run(&h, 43).await;
    let id = run.conversation_id;
    let key = h.openhands.expect_session_key(&id);
    h.openhands.set_summary("Done before the stop.");
    h.openhands.set_execution_status(&id, "finished");
    let payload = issue_comment(43, 4301, "@openhands stop", user("alice", ALICE_ID), false);
    let url = h.url();
    let (finished, stopped) = tokio::join!(
        post_event(&url, &id, "finished", &key),
        h.deliver("issue_comment", "d-race-stop", &payload),
    );
    assert!(finished.status().as_u16() < 500);
    assert_eq!(stopped.0, 202);
    h.settle().await;
    h.clock.advance(60);
    h.host().sweep_now().await;
    let stored = h.host().store().get_run(&id).await.unwrap().unwrap();
    assert!(stored.state.is_terminal(), "{:?}", stored.state);
    let finals: Vec<String> = status_history(&h)
        .into_iter()
        .filter(|t| t.contains("Done before the stop.") || t.contains("Stopped by"))
        .collect();
    assert_eq!(finals.len(), 1, "one final message: {finals:#?}");
    let body = &h.bot_comments()[0].body;
    assert_eq!(body, &finals[0]);
}
