//! Every provider end to end, on both hosts ([`deployment`]): through the Lambda handlers (API Gateway HTTP API
//! (v2) events through the webhook function's [`http_handler`], the real SQS FIFO queue and DynamoDB table on
//! moto, SQS batches through the worker's [`sqs_handler`], the agent server's callback through
//! [`callback_handler`]) and through the local host (HTTP, SQLite, its in-process worker), against the fake
//! provider servers and the fake OpenHands. Each provider only says how its deliveries look and where its effects
//! land ([`Rig`]), and the same scenarios run for each provider on each host:
//!
//! 1. a trigger is acknowledged, starts exactly one conversation, and the `finished` callback edits the one
//!    status message once with the summary;
//! 2. the provider redelivering the same delivery starts one conversation;
//! 3. a mention on the running thread is a follow-up message to that conversation;
//! 4. a delivery signed with another tenant's secret, or badly, is 401 and queues (and claims) nothing;
//! 5. an agent error ends the run with a failure message in the status message, and frees the thread;
//! 6. without any callback, the scheduled sweep reports the result, and a late callback changes nothing;
//! 7. a captured trigger replayed under a fresh delivery id starts nothing new;
//! 8. someone else's mention on a thread whose run another person started does not reach that run;
//! 9. a whole run, from the trigger to the result, logs no secret, token or key;
//! 10. the agent's events show as progress in the status message, throttled, never with a command line or a
//!     tool's output, and the result replaces it;
//! 11. `stop` by the person who started the run interrupts the agent and ends the run with who stopped it; a late
//!     `finished` changes nothing, and the thread is free for a new run;
//! 12. `stop` by someone else is refused with a short answer, and the run goes on;
//! 13. (providers with items) a new item whose description asks the bot starts one run;
//! 14. options in the request (`repo=`, `branch=`, `model=`) choose the start's repository, branch and model, are
//!     echoed and left out of the prompt; unknown options or an unlisted model get a reply and start nothing;
//! 15. (all but Slack) assigning the issue to the bot starts one run, and again after it ended.
//!
//! Every test has its own tenant names or secret prefix, so tests share nothing on moto.
//!
//! [`http_handler`]: hookline::aws::lambda::http_handler
//! [`sqs_handler`]: hookline::aws::lambda::sqs_handler
//! [`callback_handler`]: hookline::aws::lambda::callback_handler

mod deployment;
pub mod github;
mod gitlab;
mod jira;
mod linear;
mod slack;

use hookline_tests::{
    fake_openhands::{action_event, task_list_event, terminal_output_event, StartedConversation},
    harness::ALICE_KEY,
    logs::CapturedLogs,
};
use serde_json::json;

use crate::lambda_world::Delivery;
use deployment::Deployment;

/// What the linked person asks for in every trigger.
const REQUEST: &str = "please fix the crash on save";
/// What they add on the running thread.
const FOLLOW_UP: &str = "also handle a missing file";
/// The agent's summary (the pull request link is the provider's).
const SUMMARY: &str = "Fixed the crash on save and added a test.";

/// The provider-specific facts of the conversation a trigger starts.
struct StartFacts {
    repository: &'static str,
    git_provider: &'static str,
    trigger: &'static str,
    title: String,
}

/// One provider wired into a [`Deployment`], with its fake server and one linked person.
/// A JSON webhook delivery to `path` as the provider's client `user_agent` posts it; the provider's own headers
/// (event, delivery id, signature) follow.
fn json_delivery(path: impl Into<String>, body: Vec<u8>, user_agent: &str) -> Delivery {
    Delivery::new(path, body)
        .with_header("content-type", "application/json")
        .with_header("user-agent", user_agent)
}

trait Rig: Sized {
    type Host: Deployment;

    /// The link the agent's summary names, which the result shows as the pull request.
    const PULL_REQUEST: &'static str;

    /// Start the host with this provider's settings and secrets, start its fake, link the person.
    async fn start() -> Self;

    fn world(&self) -> &Self::Host;

    /// A fresh, correctly signed trigger by the linked person asking for [`REQUEST`] (anything it refers to is
    /// seeded in the fake first).
    fn trigger(&self) -> Delivery;

    /// `delivery` as the provider sends it again on its `attempt`-th retry; by default the very same request
    /// (the same body, signature and delivery id), with no header counting the retries.
    fn redelivery(&self, delivery: &Delivery, _attempt: u32) -> Delivery {
        delivery.clone()
    }

    /// `delivery` captured and sent again by someone else: the same signed body and signature, with every header
    /// the signature does not cover that names the delivery made fresh.
    fn replay(&self, delivery: &Delivery) -> Delivery;

    /// A correctly signed mention by the linked person, on the thread of [`Rig::trigger`], adding [`FOLLOW_UP`].
    fn follow_up(&self) -> Delivery;

    /// The same as [`Rig::follow_up`], by a second linked person who may trigger runs but is no maintainer.
    fn follow_up_by_someone_else(&self) -> Delivery;

    /// A correctly signed mention by the linked person, on the thread of [`Rig::trigger`], saying `stop`.
    fn stop(&self) -> Delivery;

    /// A correctly signed mention by the linked person, on the thread of [`Rig::trigger`], saying `text`; `n`
    /// tells the mentions of one test apart.
    fn asking(&self, n: u32, text: &str) -> Delivery;

    /// The same as [`Rig::stop`], by the second person of [`Rig::follow_up_by_someone_else`].
    fn stop_by_someone_else(&self) -> Delivery;

    /// Everything Hookline wrote to people: status messages and notices, ephemeral ones included; by default
    /// [`Rig::status_texts`], for providers whose notices are bot comments like the status messages.
    fn bot_texts(&self) -> Vec<String> {
        self.status_texts()
    }

    /// The secret values this provider was configured with (webhook secrets, API tokens), which no log may show.
    fn secrets(&self) -> Vec<String>;

    /// `trigger`'s body delivered with another tenant's secret, or with a wrong or missing signature; each with
    /// a name for the assertion message.
    fn forgeries(&self, trigger: &Delivery) -> Vec<(&'static str, Delivery)>;

    /// What the conversation of [`Rig::trigger`] is started with.
    fn start_facts(&self) -> StartFacts;

    /// Assert the trigger was acknowledged on the provider the way it does (reaction, award, transition…).
    fn assert_acknowledged(&self);

    /// The text of every status message Hookline wrote, oldest first.
    fn status_texts(&self) -> Vec<String>;

    /// How many times a status message was edited through the provider's API.
    fn status_edits(&self) -> usize;
}

/// Deliver the trigger and run the worker; returns the started conversation's id.
async fn start_run<R: Rig>(rig: &R) -> String {
    let world = rig.world();
    world.accept(&rig.trigger()).await;
    let starts = world.openhands().starts();
    assert_eq!(starts.len(), 1, "{starts:?}");
    starts[0].conversation_id.clone()
}

/// Send [`Rig::replay`] of `delivery`: accepted or refused, it is answered without a server error.
async fn post_a_replay<R: Rig>(rig: &R, delivery: &Delivery) {
    let (status, body) = rig.world().post(&rig.replay(delivery)).await;
    assert!(status < 500, "{status}: {body}");
}

/// Deliver `delivery` (accepted) and a replay of it, and let the worker run: one conversation starts, which this
/// returns.
async fn the_one_start_despite_a_replay<R: Rig>(rig: &R, delivery: &Delivery) -> StartedConversation {
    let world = rig.world();
    let (status, body) = world.post(delivery).await;
    assert_eq!(status, 202, "{body}");
    post_a_replay(rig, delivery).await;
    world.pump().await;
    let mut starts = world.openhands().starts();
    assert_eq!(starts.len(), 1, "{starts:?}");
    starts.remove(0)
}

fn start_text(start: &StartedConversation) -> &str {
    start.text()
}

/// Scenario 1: acknowledged, one conversation with the provider's facts, one result after `finished`.
async fn a_trigger_acks_starts_and_reports_once<R: Rig>() {
    let rig = R::start().await;
    let world = rig.world();
    let conversation_id = start_run(&rig).await;
    assert_eq!(world.queue_depth().await, 0, "the processed message was deleted");

    let start = &world.openhands().starts()[0];
    let facts = rig.start_facts();
    assert!(start.run);
    assert_eq!(start.request["selected_repository"], facts.repository);
    assert_eq!(start.request["git_provider"], facts.git_provider);
    assert_eq!(start.request["trigger"], facts.trigger);
    assert!(start_text(start).contains(REQUEST), "{}", start_text(start));
    assert_eq!(
        world.openhands().start_authorization(),
        Some(format!("Bearer {ALICE_KEY}")),
        "the linked identity's key, read from Secrets Manager"
    );

    rig.assert_acknowledged();
    let statuses = rig.status_texts();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert!(statuses[0].contains("I'm on it"), "{}", statuses[0]);
    assert!(
        statuses[0].contains(&format!(
            "https://app.example.test/conversations/{conversation_id}"
        )),
        "{}",
        statuses[0]
    );
    assert_eq!(rig.status_edits(), 0);

    // The summary is the agent's text: it must ping no one and run no tracker command when posted.
    world
        .finish(
            &conversation_id,
            &format!("{SUMMARY} Opened {}.\ncc @all\n/close", R::PULL_REQUEST),
        )
        .await;
    let statuses = rig.status_texts();
    assert_eq!(statuses.len(), 1, "one status message per run: {statuses:?}");
    assert!(statuses[0].contains(SUMMARY), "{}", statuses[0]);
    assert!(statuses[0].contains(R::PULL_REQUEST), "{}", statuses[0]);
    assert!(!statuses[0].contains("@all"), "{}", statuses[0]);
    assert!(
        statuses[0]
            .lines()
            .all(|line| !line.trim_start().starts_with("/close")),
        "{}",
        statuses[0]
    );
    assert_eq!(rig.status_edits(), 1, "the result is written once");
    // The title is set once the run ends: the server replaces an earlier one with its own.
    assert_eq!(
        world.openhands().title(&conversation_id).as_deref(),
        Some(facts.title.as_str())
    );

    // The agent server repeating the callback, and the schedule's sweep, change nothing.
    assert_eq!(world.callback(&conversation_id, "finished").await, 200);
    assert_eq!(world.sweep_concluded().await, 0);
    assert_eq!(rig.status_edits(), 1);
    assert_eq!(rig.status_texts().len(), 1);
    assert_eq!(world.openhands().starts().len(), 1);
}

/// Scenario 2: the provider's redeliveries of one delivery are duplicates; one conversation.
async fn redeliveries_start_one_conversation<R: Rig>() {
    let rig = R::start().await;
    let world = rig.world();
    let trigger = rig.trigger();
    assert_eq!(world.post(&trigger).await.0, 202);
    for attempt in 1..=4 {
        let answer = world.post(&rig.redelivery(&trigger, attempt)).await;
        assert_eq!(answer, (200, "duplicate".to_owned()), "redelivery {attempt}");
    }
    assert_eq!(world.queue_depth().await, 1, "queued once");
    world.pump().await;
    assert_eq!(world.openhands().starts().len(), 1);
    assert!(
        world.openhands().messages().is_empty(),
        "not a follow-up to itself"
    );
    assert_eq!(rig.status_texts().len(), 1);
}

/// Scenario 3: a mention on the running thread becomes a message to the same conversation.
async fn a_mention_on_the_running_thread_is_a_follow_up<R: Rig>() {
    let rig = R::start().await;
    let world = rig.world();
    let conversation_id = start_run(&rig).await;
    world.accept(&rig.follow_up()).await;
    let messages = world.openhands().messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].conversation_id, conversation_id);
    assert!(messages[0].text.contains(FOLLOW_UP), "{}", messages[0].text);
    assert!(messages[0].run);
    assert_eq!(world.openhands().starts().len(), 1, "no second conversation");
    assert_eq!(rig.status_texts().len(), 1, "no second status message");
    assert_eq!(world.queue_depth().await, 0);
}

/// Scenario 4: forged deliveries are 401, queue nothing and claim nothing.
async fn forged_deliveries_are_401_and_queue_nothing<R: Rig>() {
    let rig = R::start().await;
    let world = rig.world();
    let trigger = rig.trigger();
    let forgeries = rig.forgeries(&trigger);
    assert!(!forgeries.is_empty());
    for (what, forged) in &forgeries {
        let (status, body) = world.post(forged).await;
        assert_eq!(status, 401, "{what}: {body}");
    }
    assert_eq!(world.queue_depth().await, 0, "nothing queued");
    // Nothing was claimed either: the genuine delivery with the same id is accepted.
    assert_eq!(world.post(&trigger).await.0, 202);
    assert_eq!(world.queue_depth().await, 1);
}

/// Scenario 5: the agent stopping with `error` ends the run with a failure message, and the next mention on the
/// thread starts a new run instead of following up on the ended one.
async fn an_agent_error_ends_the_run_with_a_failure_message<R: Rig>() {
    let rig = R::start().await;
    let world = rig.world();
    let conversation_id = start_run(&rig).await;
    world.openhands().set_execution_status(&conversation_id, "error");
    assert_eq!(world.callback(&conversation_id, "error").await, 200);
    let statuses = rig.status_texts();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    // (`error` is code where the format has code, plain text in Jira's.)
    assert!(
        statuses[0].contains("stopped with status") && statuses[0].contains("error"),
        "{}",
        statuses[0]
    );
    assert!(statuses[0].contains(&conversation_id), "{}", statuses[0]);
    assert_eq!(rig.status_edits(), 1);

    world.accept(&rig.follow_up()).await;
    assert_eq!(world.openhands().starts().len(), 2, "a new run");
    assert!(world.openhands().messages().is_empty(), "not a follow-up");
}

/// Scenario 6: with no callback at all, the sweep finds the finished conversation and reports it; a late
/// callback afterwards posts nothing.
async fn without_any_callback_the_sweep_reports_the_result<R: Rig>() {
    let rig = R::start().await;
    let world = rig.world();
    let conversation_id = start_run(&rig).await;
    world.openhands().set_summary(SUMMARY);
    world
        .openhands()
        .set_execution_status(&conversation_id, "finished");
    assert_eq!(world.sweep_concluded().await, 1);
    let statuses = rig.status_texts();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert!(statuses[0].contains(SUMMARY), "{}", statuses[0]);

    assert_eq!(
        world.conversation_callback(&conversation_id, "finished").await,
        200
    );
    assert_eq!(world.sweep_concluded().await, 0);
    assert_eq!(rig.status_edits(), 1, "the result is written once");
}

/// Scenario 7: run keys come from the signed body, so a replay that refreshes the unsigned delivery id is the same
/// run: accepted or refused, it starts no second conversation and posts nothing new.
async fn a_replayed_trigger_starts_nothing_new<R: Rig>() {
    let rig = R::start().await;
    let world = rig.world();
    let trigger = rig.trigger();
    world.accept(&trigger).await;
    assert_eq!(world.openhands().starts().len(), 1);
    for _ in 0..3 {
        post_a_replay(&rig, &trigger).await;
    }
    world.pump().await;
    assert_eq!(world.openhands().starts().len(), 1, "one conversation");
    assert!(world.openhands().messages().is_empty(), "not a follow-up either");
    assert_eq!(rig.status_texts().len(), 1);
    assert_eq!(world.queue_depth().await, 0);
}

/// Scenario 8: a follow-up speaks with the run's identity, so a second person's mention on the running thread is
/// not passed on: they get a short answer, once, and the run goes on untouched.
async fn someone_elses_mention_does_not_steer_the_run<R: Rig>() {
    let rig = R::start().await;
    let world = rig.world();
    start_run(&rig).await;
    let before = rig.bot_texts().len();
    world.accept(&rig.follow_up_by_someone_else()).await;
    assert!(world.openhands().messages().is_empty(), "nothing reached the run");
    assert_eq!(world.openhands().starts().len(), 1, "and nothing new started");
    let texts = rig.bot_texts();
    assert_eq!(texts.len(), before + 1, "{texts:?}");
    assert!(texts[before].contains("started by someone"), "{}", texts[before]);
    assert_eq!(rig.status_edits(), 0, "the status message is untouched");
}

/// Scenario 9: everything logged while a run goes from the trigger through a follow-up to its result (at DEBUG,
/// more than production logs) holds none of the provider's secrets, the person's OpenHands key or the sandbox's
/// session key.
async fn a_whole_run_logs_no_secret<R: Rig>() {
    let logs = CapturedLogs::start();
    let rig = R::start().await;
    let world = rig.world();
    let conversation_id = start_run(&rig).await;
    world.accept(&rig.follow_up()).await;
    world.finish(&conversation_id, SUMMARY).await;
    let text = logs.text();
    assert!(text.contains(&conversation_id), "the run was logged");
    let session_key = world.openhands().expect_session_key(&conversation_id);
    let mut secrets = rig.secrets();
    secrets.extend([ALICE_KEY.to_owned(), session_key]);
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(!text.contains(&secret), "a secret was logged: {secret}");
    }
}

/// A moment of the agent server's clock (`minute:second` of one hour), as its events carry it.
fn at(second: u32) -> String {
    format!("2026-12-02T10:{:02}:{:02}.000000", second / 60, second % 60)
}

/// Scenario 10: the agent's event stream becomes the status message's progress block, throttled (a burst
/// makes a handful of edits), showing task titles and action kinds but never a command line or tool output; the
/// result then replaces it.
async fn agent_events_show_as_progress_then_one_result<R: Rig>() {
    const LEAK: &str = "ghp_leakedtoken000000000000000000000";
    let rig = R::start().await;
    let world = rig.world();
    let conversation_id = start_run(&rig).await;
    let plan = |explore: &str, fix: &str| {
        task_list_event(
            &at(0),
            &[
                ("Explore the repository", explore),
                ("Fix the crash on save", fix),
            ],
        )
    };
    let first = vec![
        action_event(
            &at(0),
            "task_tracker",
            json!({"kind": "TaskTrackerAction", "command": "plan"}),
        ),
        plan("in_progress", "todo"),
    ];
    assert_eq!(world.events(&conversation_id, first).await, 200);
    let statuses = rig.status_texts();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert!(statuses[0].contains("Working on it"), "{}", statuses[0]);
    assert!(statuses[0].contains("Explore the repository"), "{}", statuses[0]);
    assert!(statuses[0].contains("Fix the crash on save"), "{}", statuses[0]);
    assert!(
        statuses[0].contains(&conversation_id),
        "the link stays: {}",
        statuses[0]
    );
    assert_eq!(rig.status_edits(), 1, "the first progress is shown at once");

    // A burst: commands that carry a token, output that dumps it, the task list moving on.
    for second in 1..60 {
        let mut list = plan("done", "in_progress");
        list["timestamp"] = json!(at(second));
        let events = vec![
            action_event(
                &at(second),
                "terminal",
                json!({"kind": "TerminalAction", "command": format!("GH_TOKEN={LEAK} cargo test")}),
            ),
            terminal_output_event(&at(second), &format!("GH_TOKEN={LEAK}\nok")),
            list,
        ];
        assert_eq!(world.events(&conversation_id, events).await, 200);
    }
    let edits = rig.status_edits();
    assert!(
        (1..=3).contains(&edits),
        "a burst makes a handful of edits, not {edits}"
    );
    for text in rig.bot_texts() {
        assert!(!text.contains(LEAK) && !text.contains("GH_TOKEN"), "{text}");
    }

    world.finish(&conversation_id, SUMMARY).await;
    let statuses = rig.status_texts();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert!(statuses[0].contains(SUMMARY), "{}", statuses[0]);
    assert!(
        !statuses[0].contains("Working on it"),
        "the result replaces the progress: {}",
        statuses[0]
    );
    assert_eq!(rig.status_edits(), edits + 1, "the result is written once");
}

/// Whether the fake OpenHands was asked to interrupt `conversation_id`'s agent.
fn interrupted<D: Deployment>(world: &D, conversation_id: &str) -> bool {
    world
        .openhands()
        .requests()
        .iter()
        .any(|r| r.method == "POST" && r.path == format!("/api/conversations/{conversation_id}/interrupt"))
}

/// Scenario 11: `stop` by the run's own person interrupts the agent and ends the run with who stopped it; the
/// agent's late `finished` posts nothing more, and the next mention starts a new run.
async fn a_stop_by_the_actor_ends_the_run<R: Rig>() {
    let rig = R::start().await;
    let world = rig.world();
    let conversation_id = start_run(&rig).await;
    world.accept(&rig.stop()).await;
    assert!(interrupted(world, &conversation_id), "the agent was interrupted");
    assert!(world.openhands().messages().is_empty(), "a stop is no follow-up");
    let statuses = rig.status_texts();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert!(statuses[0].contains("Stopped by"), "{}", statuses[0]);
    assert!(statuses[0].contains(&conversation_id), "{}", statuses[0]);
    assert_eq!(rig.status_edits(), 1);

    world.finish(&conversation_id, SUMMARY).await;
    assert_eq!(world.sweep_concluded().await, 0);
    assert_eq!(rig.status_edits(), 1, "one final message");
    assert!(rig.status_texts()[0].contains("Stopped by"));

    world.accept(&rig.follow_up()).await;
    assert_eq!(
        world.openhands().starts().len(),
        2,
        "the thread is free for a new run"
    );
}

/// Scenario 12: `stop` by someone who did not start the run (and is no maintainer) is refused with a short
/// answer; the agent goes on and the status message is untouched.
async fn a_stop_by_someone_else_is_refused<R: Rig>() {
    let rig = R::start().await;
    let world = rig.world();
    let conversation_id = start_run(&rig).await;
    let before = rig.bot_texts().len();
    world.accept(&rig.stop_by_someone_else()).await;
    assert!(!interrupted(world, &conversation_id), "the agent goes on");
    let texts = rig.bot_texts();
    assert_eq!(texts.len(), before + 1, "{texts:?}");
    assert!(
        texts[before].contains("only the person who started it"),
        "{}",
        texts[before]
    );
    assert_eq!(rig.status_edits(), 0, "the status message is untouched");
}

/// Scenario 14: options in the request. Unknown ones, and a model off the operator's list, get a short reply
/// listing the valid options and start nothing; known ones pick the repository, branch and model of the start,
/// leave the text the agent reads, and are echoed in the status message.
async fn options_in_the_request_choose_repository_branch_and_model<R: Rig>() {
    let rig = R::start().await;
    let world = rig.world();
    for (n, text) in [
        (1, format!("depth=3 {REQUEST}")),
        (2, format!("model=unlisted-model {REQUEST}")),
    ] {
        let before = rig.bot_texts().len();
        world.accept(&rig.asking(n, &text)).await;
        assert!(world.openhands().starts().is_empty(), "{text}");
        let texts = rig.bot_texts();
        assert_eq!(texts.len(), before + 1, "one reply to {text}: {texts:?}");
        let reply = &texts[before];
        let listed = if n == 1 { "branch=name" } else { "claude-test" };
        assert!(reply.contains(listed), "{reply}");
    }

    let text = format!("[repo=octo-org/elsewhere, branch=release/2.0, model=claude-test] {REQUEST}");
    world.accept(&rig.asking(3, &text)).await;
    let starts = world.openhands().starts();
    assert_eq!(starts.len(), 1, "{starts:?}");
    let start = &starts[0];
    assert_eq!(start.request["selected_repository"], "octo-org/elsewhere");
    assert_eq!(start.request["git_provider"], rig.start_facts().git_provider);
    assert_eq!(start.request["selected_branch"], "release/2.0");
    assert_eq!(start.request["llm_model"], "claude-test");
    let prompt = start_text(start);
    assert!(prompt.contains(REQUEST), "{prompt}");
    assert!(!prompt.contains("branch=release"), "{prompt}");
    let statuses = rig.status_texts();
    let status = statuses.last().expect("a status message");
    assert!(status.contains("I'm on it"), "{statuses:?}");
    for echoed in ["octo-org/elsewhere", "release/2.0", "claude-test"] {
        assert!(status.contains(echoed), "{status}");
    }
}

/// A provider whose issues can be handed to the bot by assigning them.
trait Assigns: Rig {
    /// A correctly signed event of the linked person assigning the issue of [`Rig::trigger`], to the bot's
    /// account or to someone else; `n` tells the changes of one test apart.
    fn assigned(&self, n: u32, to_the_bot: bool) -> Delivery;
}

/// Scenario 15 (GitHub, GitLab, Jira, Linear): assigning the issue to the bot starts one run, however often the event comes;
/// an assignment to someone else starts nothing; assigning it again after the run ended starts a new one.
async fn assigning_the_issue_to_the_bot_starts_a_run<R: Assigns>() {
    let rig = R::start().await;
    let world = rig.world();
    let (status, body) = world.post(&rig.assigned(1, false)).await;
    assert!(status < 300, "{status}: {body}");
    world.pump().await;
    assert!(world.openhands().starts().is_empty());

    let start = the_one_start_despite_a_replay(&rig, &rig.assigned(2, true)).await;
    world.finish(&start.conversation_id, SUMMARY).await;

    world.accept(&rig.assigned(3, true)).await;
    assert_eq!(
        world.openhands().starts().len(),
        2,
        "a new assignment is a new run"
    );
}

/// A provider whose items (issues, pull or merge requests) can be opened asking the bot.
trait Opens: Rig {
    /// A correctly signed event of a new item, opened by the linked person, whose description asks for
    /// [`REQUEST`].
    fn opened(&self) -> Delivery;
}

/// Scenario 13 (GitHub, GitLab, Jira, Linear): a new item whose description asks the bot starts one
/// conversation with the request, however often the event comes, and gets one status message.
async fn a_new_item_that_asks_starts_one_run<R: Opens>() {
    let rig = R::start().await;
    let start = the_one_start_despite_a_replay(&rig, &rig.opened()).await;
    assert!(start_text(&start).contains(REQUEST), "{}", start_text(&start));
    assert_eq!(rig.status_texts().len(), 1);
}

/// Scenarios 13 and 15 as tests of a provider whose items can be opened asking the bot and assigned to it, on
/// both hosts.
macro_rules! item_scenarios {
    ($rig:ident) => {
        $crate::provider_scenarios::on_both_hosts!($rig:
            a_new_item_that_asks_starts_one_run =>
                a_new_item_that_asks_starts_one_run_on_lambda,
                a_new_item_that_asks_starts_one_run_on_the_local_host;
            assigning_the_issue_to_the_bot_starts_a_run =>
                assigning_the_issue_to_the_bot_starts_a_run_on_lambda,
                assigning_the_issue_to_the_bot_starts_a_run_on_the_local_host;
        );
    };
}
use item_scenarios;

/// Each `$scenario` for `$rig` as two tests, `$on_lambda` and `$on_local`, one on each host.
macro_rules! on_both_hosts {
    ($rig:ident: $($scenario:ident => $on_lambda:ident, $on_local:ident;)+) => {
        $(
            #[tokio::test]
            async fn $on_lambda() {
                $crate::provider_scenarios::$scenario::<$rig<$crate::lambda_world::World>>().await;
            }

            #[tokio::test]
            async fn $on_local() {
                $crate::provider_scenarios::$scenario::<
                    $rig<$crate::provider_scenarios::deployment::LocalHost>,
                >()
                .await;
            }
        )+
    };
}
use on_both_hosts;

/// The scenarios as tests of one provider's module, on both hosts.
macro_rules! scenarios {
    ($rig:ident) => {
        mod lambda {
            $crate::provider_scenarios::scenarios!(@host super::$rig<$crate::lambda_world::World>);
        }
        mod local {
            $crate::provider_scenarios::scenarios!(@host super::$rig<$crate::provider_scenarios::deployment::LocalHost>);
        }
    };
    (@host $rig:ty) => {
        #[tokio::test]
        async fn a_trigger_acks_starts_and_reports_once() {
            $crate::provider_scenarios::a_trigger_acks_starts_and_reports_once::<$rig>().await;
        }

        #[tokio::test]
        async fn redeliveries_start_one_conversation() {
            $crate::provider_scenarios::redeliveries_start_one_conversation::<$rig>().await;
        }

        #[tokio::test]
        async fn a_mention_on_the_running_thread_is_a_follow_up() {
            $crate::provider_scenarios::a_mention_on_the_running_thread_is_a_follow_up::<$rig>().await;
        }

        #[tokio::test]
        async fn forged_deliveries_are_401_and_queue_nothing() {
            $crate::provider_scenarios::forged_deliveries_are_401_and_queue_nothing::<$rig>().await;
        }

        #[tokio::test]
        async fn an_agent_error_ends_the_run_with_a_failure_message() {
            $crate::provider_scenarios::an_agent_error_ends_the_run_with_a_failure_message::<$rig>().await;
        }

        #[tokio::test]
        async fn a_replayed_trigger_starts_nothing_new() {
            $crate::provider_scenarios::a_replayed_trigger_starts_nothing_new::<$rig>().await;
        }

        #[tokio::test]
        async fn someone_elses_mention_does_not_steer_the_run() {
            $crate::provider_scenarios::someone_elses_mention_does_not_steer_the_run::<$rig>().await;
        }

        #[tokio::test]
        async fn a_whole_run_logs_no_secret() {
            $crate::provider_scenarios::a_whole_run_logs_no_secret::<$rig>().await;
        }

        #[tokio::test]
        async fn agent_events_show_as_progress_then_one_result() {
            $crate::provider_scenarios::agent_events_show_as_progress_then_one_result::<$rig>().await;
        }

        #[tokio::test]
        async fn a_stop_by_the_actor_ends_the_run() {
            $crate::provider_scenarios::a_stop_by_the_actor_ends_the_run::<$rig>().await;
        }

        #[tokio::test]
        async fn a_stop_by_someone_else_is_refused() {
            $crate::provider_scenarios::a_stop_by_someone_else_is_refused::<$rig>().await;
        }

        #[tokio::test]
        async fn options_in_the_request_choose_repository_branch_and_model() {
            $crate::provider_scenarios::options_in_the_request_choose_repository_branch_and_model::<$rig>().await;
        }

        #[tokio::test]
        async fn without_any_callback_the_sweep_reports_the_result() {
            $crate::provider_scenarios::without_any_callback_the_sweep_reports_the_result::<$rig>().await;
        }
    };
}
use scenarios;
