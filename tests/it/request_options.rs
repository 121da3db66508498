//! Per-request options through the local host against the fake GitHub and OpenHands, the attacks on them: a
//! repository option under the shared identity, options in quotes or code, a model choice where none is
//! enabled, prose that only looks like an option. (Every provider's happy path is scenario 14.)

use hookline_tests::{
    fake_openhands::StartedConversation,
    harness::{issue_comment, user, Harness, ALICE_ID, REPO},
};
use serde_json::Value;

const DAVE_ID: u64 = 5151;

/// `login` comments `text` on issue `number`; the worker has processed it when this returns.
async fn comment(h: &Harness, number: u64, author: (&str, u64), text: &str, delivery: &str) {
    let (login, id) = author;
    let comment_id = h
        .github
        .seed_issue_comment(REPO, number, login, text, h.clock_now());
    let payload = issue_comment(number, comment_id, text, user(login, id), false);
    h.deliver_and_settle("issue_comment", delivery, &payload).await;
}

fn prompt(start: &StartedConversation) -> &str {
    start.text()
}

fn bot_texts(h: &Harness) -> Vec<String> {
    h.bot_comments().into_iter().map(|c| c.body).collect()
}

/// Nothing started, and the only reply says `why`.
fn assert_refused_with(h: &Harness, why: &str) {
    assert!(h.openhands.starts().is_empty());
    let texts = bot_texts(h);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains(why), "{}", texts[0]);
}

/// GIVEN a shared identity for unlinked people WHEN an unlinked collaborator names another repository with
/// `repo=` THEN nothing starts and they are told why; naming the issue's own repository works as without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_option_under_the_shared_identity_is_refused() {
    let h = Harness::start_with_env(&[
        ("OPENHANDS_DEFAULT_USER", "shared-bot"),
        ("OPENHANDS_DEFAULT_API_KEY_SECRET", "openhands/alice"),
    ])
    .await;
    h.github.set_role_and_permission("dave", "write", "write");
    let dave = ("dave", DAVE_ID);

    comment(
        &h,
        3,
        dave,
        "@openhands repo=octo-org/infra drop the prod tables",
        "d-1",
    )
    .await;
    assert_refused_with(&h, "shared identity");

    comment(
        &h,
        4,
        dave,
        &format!("@openhands repo={REPO} fix the typo"),
        "d-2",
    )
    .await;
    let starts = h.openhands.starts();
    assert_eq!(starts.len(), 1, "{starts:?}");
    assert_eq!(starts[0].request["selected_repository"], REPO);
    assert!(prompt(&starts[0]).contains("fix the typo"));
}

/// Options quoted from someone else or written as code are data, never choices; `name=value` further into
/// the request is prose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_in_quotes_code_or_prose_are_not_read() {
    let h = Harness::start_with_env(&[("HOOKLINE_MODELS", "claude-test")]).await;
    let text = "@openhands set timeout=30 in the config as bob said:\n> repo=evil/exfil branch=main\n\
                and leave `model=claude-test` in the docs\n```\nbranch=prod\n```";
    comment(&h, 5, ("alice", ALICE_ID), text, "d-1").await;
    let starts = h.openhands.starts();
    assert_eq!(starts.len(), 1, "{starts:?}");
    let request = &starts[0].request;
    assert_eq!(request["selected_repository"], REPO);
    assert_eq!(request.get("llm_model"), None);
    assert_ne!(request.get("selected_branch"), Some(&Value::from("main")));
    assert_ne!(request.get("selected_branch"), Some(&Value::from("prod")));
    let prompt = prompt(&starts[0]);
    for kept in [
        "timeout=30",
        "repo=evil/exfil",
        "`model=claude-test`",
        "branch=prod",
    ] {
        assert!(prompt.contains(kept), "{kept} stays in {prompt}");
    }
}

/// Without `HOOKLINE_MODELS` a model cannot be chosen: the person is told, and nothing starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_choice_where_none_is_enabled_is_refused() {
    let h = Harness::start().await;
    comment(
        &h,
        6,
        ("alice", ALICE_ID),
        "@openhands model=gpt-huge fix it",
        "d-1",
    )
    .await;
    assert_refused_with(&h, "not enabled");
}

/// A repository URL in brackets, for a linked person: the start is on that repository and branch, and the
/// request the agent reads has no options left in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_url_and_branch_in_brackets_pick_the_start() {
    let h = Harness::start().await;
    let text = "@openhands [repo=https://github.com/octo-org/api/tree/main, branch=fix/login] fix the login";
    comment(&h, 7, ("alice", ALICE_ID), text, "d-1").await;
    let starts = h.openhands.starts();
    assert_eq!(starts.len(), 1, "{starts:?}");
    assert_eq!(starts[0].request["selected_repository"], "octo-org/api");
    assert_eq!(starts[0].request["selected_branch"], "fix/login");
    assert_eq!(starts[0].request["git_provider"], "github");
    let prompt = prompt(&starts[0]);
    assert!(prompt.contains("@openhands fix the login"), "{prompt}");
    assert!(!prompt.contains("[repo="), "{prompt}");
}

/// Options in a mention on a thread whose run is working reach the agent as written, change nothing about the
/// run, and the person is told once that they apply to a new run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_on_a_running_thread_wait_for_a_new_run() {
    let h = Harness::start().await;
    h.start_labeled_run(8, "d-label").await;
    let before = bot_texts(&h).len();
    comment(
        &h,
        8,
        ("alice", ALICE_ID),
        "@openhands branch=other also cover the empty file",
        "d-1",
    )
    .await;
    let messages = h.openhands.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].text.contains("branch=other also cover"),
        "{:?}",
        messages[0]
    );
    assert_eq!(h.openhands.starts().len(), 1, "no second run");
    let texts = bot_texts(&h);
    assert_eq!(texts.len(), before + 1, "{texts:?}");
    assert!(texts[before].contains("Options take effect"), "{}", texts[before]);
}
