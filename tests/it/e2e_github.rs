//! GitHub end to end through the local host: real HTTP in, real SQLite, real worker and callback, against the
//! fake GitHub and OpenHands servers. Each test asserts on what was actually sent to them.

use hookline::domain::Provider;
use hookline_tests::{
    fake_github::{InjectedFailure, ReactionTarget},
    fake_openhands::post_event,
    harness::{
        daves_mention, eventually, issue_comment, labeled, mallorys_mention, review_comment, user, Harness,
        HarnessOptions, ALICE_ID, ALICE_KEY, REPO,
    },
};

use serde_json::json;

fn alice() -> serde_json::Value {
    user("alice", ALICE_ID)
}

/// A `pull_request` event with `action` on alice's pull request `number` (head branch `feature/run`).
fn pull_request_event(number: u64, action: &str) -> serde_json::Value {
    let mut event = review_comment(number, 1, None, "", alice());
    event["action"] = json!(action);
    event.as_object_mut().expect("object").remove("comment");
    event
}

#[tokio::test]
async fn labeled_issue_starts_one_conversation_acks_and_reports_the_summary() {
    let h = Harness::start().await;
    let conversation_id = h.start_labeled_run(12, "d-label-1").await;

    // Exactly one start, with the documented fields.
    let starts = h.openhands.starts();
    assert_eq!(starts.len(), 1);
    let start = &starts[0];
    assert!(start.run, "initial_message.run must be true");
    assert_eq!(start.conversation_id.len(), 32);
    let request = &start.request;
    assert_eq!(request["selected_repository"], REPO);
    assert_eq!(request["git_provider"], "github");
    assert_eq!(request["trigger"], "resolver");
    assert!(request.get("selected_branch").is_none() || request["selected_branch"].is_null());
    let message = start.text();
    assert!(message.contains("Crash when config is empty"));
    assert!(message.contains("untrusted data"));
    assert!(
        !message.contains("ignore all instructions"),
        "hidden HTML comments are stripped"
    );
    assert!(message.contains("Fixes #12"));
    // Authenticated as alice's identity.
    assert_eq!(
        h.openhands.start_authorization(),
        Some(format!("Bearer {ALICE_KEY}"))
    );

    // 👀 on the issue and one status comment with the conversation link.
    h.github.assert_acknowledged_issue(12, &conversation_id);

    // The agent server reports `finished`: the same comment is edited with the summary and the PR link.
    h.finish_with_summary(
        &conversation_id,
        "Fixed the empty-config crash and added a test. Opened https://github.com/octo-org/hello/pull/99.",
        "GitHub Issue #12: Crash when config is empty",
    )
    .await;
    let comments = h.bot_comments();
    assert_eq!(comments.len(), 1, "one Hookline comment per run");
    let body = &comments[0].body;
    assert!(body.contains("Fixed the empty-config crash"), "{body}");
    assert!(
        body.matches("https://github.com/octo-org/hello/pull/99").count() == 1,
        "the pull request is named once: {body}"
    );
    assert!(body.contains("See the conversation"));

    // A repeated callback and a racing sweep change nothing.
    assert_eq!(h.call_back(&conversation_id, "finished").await, 200);
    h.host().sweep_now().await;
    assert_eq!(h.bot_comments().len(), 1);
    assert_eq!(h.openhands.asks(), 1, "the summary is asked once");
}

#[tokio::test]
async fn the_same_delivery_five_times_starts_one_conversation() {
    let h = Harness::start().await;
    let comment_id =
        h.github
            .seed_issue_comment(REPO, 5, "alice", "@openhands please fix this", h.clock_now());
    let payload = issue_comment(5, comment_id, "@openhands please fix this", alice(), false);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(h.deliver("issue_comment", "d-dup-1", &payload).await.0);
    }
    assert_eq!(statuses[0], 202);
    assert!(statuses[1..].iter().all(|s| *s == 200), "{statuses:?}");
    h.started().await;
    assert_eq!(h.openhands.starts().len(), 1);
    assert_eq!(h.bot_comments().len(), 1);
    // The reaction went on the triggering comment.
    assert_eq!(
        h.github.reactions()[0].target,
        ReactionTarget::IssueComment {
            repo: REPO.into(),
            comment_id
        }
    );
}

#[tokio::test]
async fn a_bad_signature_is_401_and_nothing_is_queued() {
    let h = Harness::start().await;
    let body = serde_json::to_vec(&labeled(3, "openhands", alice())).expect("json");
    let wrong = format!("sha256={}", hookline::verify::sign_hex(b"not the secret", &body));
    assert_eq!(
        h.post_raw("issues", "d-bad-1", body.clone(), Some(&wrong))
            .await
            .0,
        401
    );
    assert_eq!(h.post_raw("issues", "d-bad-2", body.clone(), None).await.0, 401);
    assert_eq!(
        h.post_raw("issues", "d-bad-3", body, Some("sha1=abc")).await.0,
        401
    );
    assert_eq!(h.host().queue().depth().expect("depth"), 0);
    // Nothing was claimed either: the correctly signed delivery with the same id is accepted.
    assert_eq!(h.label(3, "d-bad-1").await.0, 202);
}

#[tokio::test]
async fn bad_input_gets_short_4xx_answers() {
    let h = Harness::start_with_env(&[("HOOKLINE_MAX_BODY_BYTES", "2000000")]).await;
    let sign = |body: &[u8]| {
        format!(
            "sha256={}",
            hookline::verify::sign_hex(hookline_tests::harness::WEBHOOK_SECRET.as_bytes(), body)
        )
    };
    let malformed = b"{\"action\": \"created\", ".to_vec();
    let (status, body) = h
        .post_raw(
            "issue_comment",
            "d-m-1",
            malformed.clone(),
            Some(&sign(&malformed)),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.len() < 100);
    let huge = vec![b' '; 2_500_000];
    let (status, _) = h
        .post_raw("issue_comment", "d-m-2", huge.clone(), Some(&sign(&huge)))
        .await;
    assert_eq!(status, 413);
    let (status, _) = h
        .deliver(
            "ping",
            "d-ping",
            &serde_json::json!({"zen": "Design for failure.", "hook_id": 1}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = h
        .deliver("push", "d-push", &serde_json::json!({"ref": "refs/heads/main"}))
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        h.host().queue().depth().expect("depth"),
        0,
        "never-triggering events are not queued"
    );

    // A 900 kB issue body is accepted and starts a run with a trimmed body.
    let mut payload = labeled(4, "openhands", alice());
    payload["issue"]["body"] = serde_json::Value::String("x".repeat(900_000));
    assert_eq!(h.deliver("issues", "d-big", &payload).await.0, 202);
    eventually("conversation started", || async {
        !h.openhands.starts().is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_stalled_run_is_reported_after_the_deadline() {
    let h = Harness::start_with_env(&[("HOOKLINE_STALL_TIMEOUT_SECS", "600")]).await;
    let conversation_id = h.start_labeled_run(42, "d-st-1").await;
    // The first sweep sees `running` for the first time (progress); nothing changes after that.
    assert_eq!(h.host().sweep_now().await.concluded, 0);
    h.clock.advance(599);
    assert_eq!(h.host().sweep_now().await.concluded, 0);
    h.clock.advance(2);
    let report = h.host().sweep_now().await;
    assert_eq!(report.concluded, 1, "{report:?}");
    let body = &h.bot_comments()[0].body;
    assert!(body.contains("No progress for 10 minutes"), "{body}");
    assert!(body.contains(&conversation_id));
}

#[tokio::test]
async fn a_failed_start_is_reported_once() {
    let h = Harness::start().await;
    h.openhands.fail_next_start(422);
    h.label(51, "d-fs-1").await;
    eventually("failure posted", || async {
        h.bot_comments()
            .first()
            .is_some_and(|c| c.body.contains("Could not start"))
    })
    .await;
    h.settle().await;
    assert_eq!(h.bot_comments().len(), 1);
    assert!(h.bot_comments()[0].body.contains("HTTP 422"));

    // A start task that errors (sandbox never came up) is found by the sweep.
    h.openhands.make_next_start_error("sandbox quota exceeded");
    h.label(52, "d-fs-2").await;
    eventually("second run recorded", || async { h.bot_comments().len() == 2 }).await;
    h.settle().await;
    h.host().sweep_now().await;
    let failed = h
        .bot_comments()
        .into_iter()
        .find(|c| c.number == 52)
        .expect("status on #52");
    assert!(failed.body.contains("sandbox quota exceeded"), "{}", failed.body);
}

#[tokio::test]
async fn an_unlinked_user_gets_the_linking_comment_and_no_conversation() {
    let h = Harness::start().await;
    h.github.set_role("dave", "write");
    let payload = daves_mention();
    h.deliver("issue_comment", "d-u-1", &payload).await;
    eventually("notice posted", || async { !h.bot_comments().is_empty() }).await;
    h.settle().await;
    h.github.assert_one_linking_comment_for("dave");
    assert!(
        !h.bot_comments()[0].body.contains("/console/link"),
        "no invitation while the App cannot sign people in (no client secret)"
    );
    assert!(h.openhands.starts().is_empty());
}

#[tokio::test]
async fn a_person_without_write_access_starts_nothing() {
    let h = Harness::start().await;
    let payload = mallorys_mention();
    h.deliver_and_settle("issue_comment", "d-n-1", &payload).await;
    assert!(h.openhands.starts().is_empty());
    h.github.assert_untouched_after_checking("mallory");
}

#[tokio::test]
async fn a_review_comment_replies_in_its_thread_and_works_on_the_head_branch() {
    let h = Harness::start().await;
    let root = h
        .github
        .seed_review_comment(REPO, 8, "bob", "Why not rename this?", h.clock_now(), None);
    let reply = h.github.seed_review_comment(
        REPO,
        8,
        "alice",
        "@openhands rename this function",
        h.clock_now(),
        Some(root),
    );
    let payload = review_comment(8, reply, Some(root), "@openhands rename this function", alice());
    h.deliver("pull_request_review_comment", "d-r-1", &payload).await;
    let starts = h.started().await;
    let start = &starts[0];
    assert_eq!(start.request["selected_branch"], "feature/run");
    let message = start.text();
    assert!(
        message.contains("Why not rename this?"),
        "the review thread is context: {message}"
    );
    assert!(message.contains("src/main.rs:3"));
    let replies = h
        .github
        .requests_to(&format!("/repos/octo-org/hello/pulls/8/comments/{root}/replies"));
    assert_eq!(replies.len(), 1, "status posted as a reply to the thread root");
    assert_eq!(
        h.github.reactions()[0].target,
        ReactionTarget::ReviewComment {
            repo: REPO.into(),
            comment_id: reply
        }
    );
}

#[tokio::test]
async fn a_pr_conversation_comment_uses_the_pr_head_branch() {
    let h = Harness::start().await;
    h.github.set_pull_head(REPO, 9, "fix/typo");
    let payload = issue_comment(9, 9001, "@openhands fix the typo", alice(), true);
    h.deliver("issue_comment", "d-pr-1", &payload).await;
    eventually("conversation started", || async {
        !h.openhands.starts().is_empty()
    })
    .await;
    assert_eq!(h.openhands.starts()[0].request["selected_branch"], "fix/typo");
    assert!(h.openhands.starts()[0].request["title"]
        .as_str()
        .unwrap_or("")
        .starts_with("GitHub PR #9"));
}

/// GIVEN pull requests from forks, whose head branch is often named `main` WHEN someone asks on them THEN the
/// agent works on the head branch in the fork, never on a branch of that name in the base repository; a head
/// whose fork is gone leaves the agent on a branch of its own.
#[tokio::test]
async fn fork_pull_requests_are_worked_on_in_the_fork_never_on_the_base() {
    let h = Harness::start().await;
    let started = |n: usize| {
        let start = h.openhands.starts()[n].request.clone();
        (
            start["selected_repository"].clone(),
            start["selected_branch"].clone(),
        )
    };

    // A conversation comment: the head is read from the API.
    h.github.set_fork_pull_head(REPO, 9, "main", "mallory/hello");
    let payload = issue_comment(9, 9001, "@openhands fix the typo", alice(), true);
    h.deliver("issue_comment", "d-fork-1", &payload).await;
    eventually("first start", || async { h.openhands.starts().len() == 1 }).await;
    assert_eq!(started(0), (json!("mallory/hello"), json!("main")));

    // A review comment: the head comes with the event.
    let ask = "@openhands rename this";
    let comment = h
        .github
        .seed_review_comment(REPO, 10, "alice", ask, h.clock_now(), None);
    let mut payload = review_comment(10, comment, None, ask, alice());
    payload["pull_request"]["head"] =
        json!({"ref": "main", "sha": "abc", "repo": {"full_name": "mallory/hello"}});
    h.deliver("pull_request_review_comment", "d-fork-2", &payload)
        .await;
    eventually("second start", || async { h.openhands.starts().len() == 2 }).await;
    assert_eq!(started(1), (json!("mallory/hello"), json!("main")));

    // The fork was deleted: `head.repo` is null, and there is no branch to push to.
    h.github.set_fork_pull_head(REPO, 11, "main", "");
    let comment = h
        .github
        .seed_review_comment(REPO, 11, "alice", ask, h.clock_now(), None);
    let mut payload = review_comment(11, comment, None, ask, alice());
    payload["pull_request"]["head"] = json!({"ref": "main", "sha": "abc", "repo": null});
    h.deliver("pull_request_review_comment", "d-fork-3", &payload)
        .await;
    eventually("third start", || async { h.openhands.starts().len() == 3 }).await;
    assert_eq!(started(2).0, json!(REPO));
    assert!(started(2).1.is_null(), "{:?}", started(2));
}

/// GIVEN alice's running conversation on an issue WHEN a maintainer of the repository mentions the bot there
/// THEN their follow-up reaches the run (someone with write access only is refused: a provider scenario).
#[tokio::test]
async fn a_maintainer_may_steer_someone_elses_run() {
    let h = Harness::start().await;
    let conversation_id = h.start_labeled_run(23, "d-m-1").await;
    h.github.set_role("mona", "maintain");
    h.link_to(Provider::Github, "github.com", "5151", "mona").await;
    let payload = issue_comment(
        23,
        2301,
        "@openhands also update the docs",
        user("mona", 5151),
        false,
    );
    assert_eq!(h.deliver("issue_comment", "d-m-2", &payload).await.0, 202);
    eventually("follow-up sent", || async { !h.openhands.messages().is_empty() }).await;
    assert_eq!(h.openhands.messages()[0].conversation_id, conversation_id);
    assert_eq!(h.openhands.starts().len(), 1);
}

#[tokio::test]
async fn callbacks_need_the_conversations_session_key() {
    let h = Harness::start().await;
    let conversation_id = h.start_labeled_run(81, "d-c-1").await;
    let wrong = post_event(&h.url(), &conversation_id, "finished", "not-the-key").await;
    assert_eq!(wrong.status().as_u16(), 401);
    let unknown = post_event(
        &h.url(),
        "0123456789abcdef0123456789abcdef",
        "finished",
        "whatever",
    )
    .await;
    assert_eq!(unknown.status().as_u16(), 401);
    // The conversation-info form is read before its sender is known: a megabyte of it is refused unread.
    let padding = "x".repeat(1024 * 1024);
    let big = h
        .http
        .post(format!("{}/api/v1/webhooks/conversations", h.url()))
        .header("content-type", "application/json")
        .body(json!({"id": conversation_id, "padding": padding}).to_string())
        .send()
        .await
        .expect("answer");
    assert_eq!(big.status().as_u16(), 413);
    assert!(
        h.bot_comments()[0].body.contains("I'm on it"),
        "nothing was reported"
    );
}

#[tokio::test]
async fn rate_limited_github_calls_are_retried_through_the_queue() {
    let h = Harness::start().await;
    h.github.fail_next(
        "/repos/octo-org/hello/issues/91/comments",
        InjectedFailure::too_many_requests(1),
    );
    h.label(91, "d-rl-1").await;
    // First attempt hits the 429; the retry is scheduled after the Retry-After on the (manual) clock.
    eventually("first attempt failed", || async {
        !h.github
            .requests_to("/repos/octo-org/hello/issues/91/comments")
            .is_empty()
    })
    .await;
    h.pass_retry_after(5, "the retry started a conversation", || async {
        !h.openhands.starts().is_empty()
    })
    .await;
    h.started().await;
    assert_eq!(h.bot_comments().len(), 1);
    assert_eq!(h.openhands.starts().len(), 1);
}

#[tokio::test]
async fn a_webhook_accepted_before_a_stop_is_processed_after_restart() {
    let mut h = Harness::start_with(HarnessOptions {
        workers: 0,
        ..Default::default()
    })
    .await;
    assert_eq!(h.label(99, "d-rs-1").await.0, 202);
    assert_eq!(h.host().queue().depth().expect("depth"), 1);
    h.restart_with_workers(1).await;
    h.started().await;
    assert_eq!(h.openhands.starts().len(), 1);
    // The dedup record survived the restart too.
    assert_eq!(h.label(99, "d-rs-1").await.0, 200);
}

/// GIVEN deliveries the local host has claimed WHEN their records expire THEN the sweep's housekeeping deletes
/// them (and the queue's deduplication ids), so the database does not grow forever; live records stay.
#[tokio::test]
async fn expired_delivery_records_are_purged() {
    let h = Harness::start().await;
    h.start_labeled_run(91, "d-purge-1").await;
    h.settle().await;
    assert_eq!(h.host().purge_expired_now(), 0, "nothing has expired yet");
    h.clock.advance(8 * 24 * 3600);
    assert!(
        h.host().purge_expired_now() >= 1,
        "the week-old delivery record is gone"
    );
    assert_eq!(h.host().purge_expired_now(), 0);
}

/// GIVEN a client that sends a webhook's headers and then its body a trickle at a time, or its headers a trickle
/// at a time WHEN the host's read time passes (2 s in tests) THEN it is answered 408, or its connection closed,
/// and its slot is free again.
#[tokio::test]
async fn a_slow_client_is_cut_off() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::start().await;
    let address = h.url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST /webhooks/github HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         x-github-event: issues\r\ncontent-length: 1000\r\n\r\n{{\"action\":"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let started = std::time::Instant::now();
    let mut answer = vec![0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("answered before the test's own limit")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(8));

    // Headers a trickle at a time (slowloris): the connection is closed once the read time passes.
    let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(
            format!("POST /webhooks/github HTTP/1.1\r\nhost: {address}\r\nx-github-event: iss").as_bytes(),
        )
        .await
        .expect("write");
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("closed before the test's own limit")
        .ok();
    assert!(started.elapsed() < Duration::from_secs(8));
    // Meanwhile and afterwards, everyone else is served.
    let status = h
        .http
        .get(format!("{}/healthz", h.url()))
        .send()
        .await
        .expect("served")
        .status();
    assert!(status.is_success(), "{status}");
}

/// GIVEN an issue opened with the trigger label WHEN GitHub sends its `opened` and then its `labeled` THEN one
/// conversation starts, with one status comment.
#[tokio::test]
async fn an_issue_opened_with_the_label_starts_one_run() {
    let h = Harness::start().await;
    let mut opened = labeled(61, "openhands", alice());
    opened["action"] = json!("opened");
    opened.as_object_mut().expect("object").remove("label");
    opened["issue"]["labels"] = json!([{"id": 1, "name": "openhands"}]);
    opened["issue"]["created_at"] = json!("2026-12-02T10:00:00Z");
    opened["issue"]["updated_at"] = json!("2026-12-02T10:00:00Z");
    let mut label = opened.clone();
    label["action"] = json!("labeled");
    label["label"] = json!({"id": 1, "name": "openhands"});
    label["issue"]["updated_at"] = json!("2026-12-02T10:00:01Z");
    assert_eq!(h.deliver("issues", "d-open-61", &opened).await.0, 202);
    assert_eq!(h.deliver("issues", "d-label-61", &label).await.0, 202);
    h.started().await;
    assert_eq!(h.openhands.starts().len(), 1, "one run for opened + labeled");
    assert_eq!(h.bot_comments().len(), 1);
}

/// GIVEN a pull request opened whose description asks the bot WHEN GitHub sends `pull_request.opened` THEN the
/// run works on the pull request's head branch and reports on the pull request.
#[tokio::test]
async fn a_pull_request_opened_asking_works_on_its_head_branch() {
    let h = Harness::start().await;
    let mut opened = pull_request_event(62, "opened");
    opened["pull_request"]["body"] = json!("Calls run().\n\n@openhands please add a test for this");
    opened["pull_request"]["created_at"] = json!("2026-12-02T10:00:00Z");
    assert_eq!(h.deliver("pull_request", "d-pr-62", &opened).await.0, 202);
    let starts = h.started().await;
    let start = &starts[0];
    assert_eq!(start.request["selected_branch"], "feature/run");
    assert_eq!(start.request["selected_repository"], REPO);
    let message = start.text();
    assert!(message.contains("please add a test for this"), "{message}");
    let comments = h.bot_comments();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].number, 62);
}

/// The machine user assignments trigger for (`GITHUB_ASSIGNEE`).
const MACHINE: &str = "hookline-machine";

/// Hookline with `GITHUB_ASSIGNEE` set to [`MACHINE`].
async fn assigning_harness() -> Harness {
    Harness::start_with_env(&[("GITHUB_ASSIGNEE", MACHINE)]).await
}

/// `issues.<action>` of issue `number` (opened long before), naming `assignee`, sent by `sender`, the issue
/// last changed at `updated_at`.
fn assignment(
    number: u64,
    action: &str,
    assignee: &str,
    sender: serde_json::Value,
    updated_at: &str,
) -> serde_json::Value {
    let mut v = labeled(number, "openhands", sender);
    v["action"] = json!(action);
    v.as_object_mut().expect("object").remove("label");
    v["assignee"] = user(assignee, 9001);
    v["issue"]["assignees"] = json!([user(assignee, 9001)]);
    v["issue"]["created_at"] = json!("2026-11-30T08:00:00Z");
    v["issue"]["updated_at"] = json!(updated_at);
    v
}

/// GIVEN `GITHUB_ASSIGNEE` WHEN alice assigns an issue to the machine user, and GitHub's delivery is redelivered
/// and replayed under a fresh delivery id THEN one conversation starts, with one status comment; assigning
/// another issue to someone else, and unassigning the machine user, start and stop nothing; once the run has
/// finished, assigning it again starts a second run.
#[tokio::test]
async fn assigning_the_machine_user_starts_one_run_and_a_later_reassignment_another() {
    let h = assigning_harness().await;
    let first = assignment(81, "assigned", MACHINE, alice(), "2026-11-30T09:00:00Z");
    assert_eq!(h.deliver("issues", "d-as-1", &first).await.0, 202);
    assert_eq!(h.deliver("issues", "d-as-1", &first).await.0, 200, "a redelivery");
    assert_eq!(h.deliver("issues", "d-as-1-replay", &first).await.0, 202);
    let elsewhere = assignment(82, "assigned", "bob", alice(), "2026-11-30T09:00:00Z");
    assert_eq!(h.deliver("issues", "d-as-2", &elsewhere).await.0, 202);
    h.started().await;
    let starts = h.openhands.starts();
    assert_eq!(starts.len(), 1, "one run for the assignment and its replays");
    let message = starts[0].text();
    assert!(message.contains("Crash when config is empty"), "{message}");
    assert!(message.contains("Fixes #81"), "{message}");
    let comments = h.bot_comments();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].number, 81);
    assert_eq!(
        h.github.reactions()[0].target,
        ReactionTarget::Issue {
            repo: REPO.into(),
            number: 81
        }
    );

    let conversation_id = starts[0].conversation_id.clone();
    let unassigned = assignment(81, "unassigned", MACHINE, alice(), "2026-11-30T09:05:00Z");
    h.deliver_and_settle("issues", "d-as-3", &unassigned).await;
    assert!(
        !h.openhands
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/interrupt")),
        "an unassignment stops nothing"
    );

    h.finish(&conversation_id).await;
    let again = assignment(81, "assigned", MACHINE, alice(), "2026-11-30T10:00:00Z");
    assert_eq!(h.deliver("issues", "d-as-4", &again).await.0, 202);
    eventually("a second start", || async { h.openhands.starts().len() == 2 }).await;
    h.settle().await;
    assert_eq!(h.openhands.starts().len(), 2);
}

/// GIVEN `GITHUB_ASSIGNEE` WHEN the machine user is assigned by someone with read access only, by a bot, or by
/// itself THEN nothing starts and nothing is posted; assigned to a pull request by alice, the run works on its
/// head branch.
#[tokio::test]
async fn an_assignment_by_someone_without_write_access_or_a_bot_starts_nothing() {
    let h = assigning_harness().await;
    let by_mallory = assignment(
        91,
        "assigned",
        MACHINE,
        user("mallory", 666),
        "2026-11-30T09:00:00Z",
    );
    assert_eq!(h.deliver("issues", "d-an-1", &by_mallory).await.0, 202);
    let mut by_bot = assignment(
        92,
        "assigned",
        MACHINE,
        user("renovate[bot]", 29139614),
        "2026-11-30T09:00:00Z",
    );
    by_bot["sender"]["type"] = json!("Bot");
    assert_eq!(h.deliver("issues", "d-an-2", &by_bot).await.0, 202);
    let by_itself = assignment(
        93,
        "assigned",
        MACHINE,
        user(MACHINE, 9001),
        "2026-11-30T09:00:00Z",
    );
    h.deliver_and_settle("issues", "d-an-3", &by_itself).await;
    assert!(h.openhands.starts().is_empty());
    h.github.assert_untouched_after_checking("mallory");

    let mut pull = pull_request_event(94, "assigned");
    pull["assignee"] = user(MACHINE, 9001);
    pull["pull_request"]["created_at"] = json!("2026-11-30T08:00:00Z");
    pull["pull_request"]["updated_at"] = json!("2026-11-30T09:00:00Z");
    assert_eq!(h.deliver("pull_request", "d-an-4", &pull).await.0, 202);
    let starts = h.started().await;
    let start = &starts[0];
    assert_eq!(start.request["selected_branch"], "feature/run");
    assert_eq!(h.bot_comments()[0].number, 94);
}
