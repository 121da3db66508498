//! Slack end to end through the local host: signed Events API deliveries in, the real worker and callback, the
//! fake Slack Web API and the fake OpenHands. Each test asserts on what was actually sent to them.

use std::time::{Duration, Instant};

use hookline::{
    domain::{Outcome, Provider, RunState},
    ports::RunStore,
    slack::{verify as signature, PICK_ACTION_ID, STOP_ACTION_ID},
};
use hookline_tests::{
    fake_slack::{interaction_form, FakeEphemeral, FakeMessage, FakeSlack, SlackFailure},
    harness::{eventually, status_and_text, Harness, HarnessOptions, ALICE_KEY},
};
use serde_json::{json, Value};

const TEAM: &str = "T0HOOKLN1";
const OTHER_TEAM: &str = "T0OTHER02";
const SIGNING_SECRET: &str = "slack-e2e-signing-secret";
const OTHER_SECRET: &str = "slack-e2e-other-workspace-secret";
/// The app-wide secret of the shared route: the V4 vector's secret.
const APP_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TOKEN: &str = "xoxb-e2e-token";
/// The Slack app's client secret for "Sign in with Slack".
const SIGN_IN_SECRET: &str = "slack-e2e-oauth-client-secret";
const BOT: &str = "U0BOT0001";
const ALICE: &str = "U0ALICE01";
const DAVE: &str = "U0DAVE001";
const CHANNEL: &str = "C0GENERAL";
const DEFAULT_CHANNEL: &str = "C0DEFAULT";
/// A channel listing several repositories: a mention naming none gets the picker.
const PICKER_CHANNEL: &str = "C0PICKER1";

struct Slack {
    h: Harness,
    slack: FakeSlack,
}

impl Slack {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`Self::start`] with more settings.
    async fn start_with(settings: &[(&str, &str)]) -> Self {
        let slack = FakeSlack::start().await;
        slack.add_team(TEAM, TOKEN, BOT);
        let mut env = vec![
            ("SLACK_TENANTS", "*"),
            ("SLACK_API_URL", slack.url()),
            (
                "SLACK_REPOS",
                "C0DEFAULT=octo-org/default,C0PICKER1=octo-org/api|octo-org/web|gitlab:octo-group/infra",
            ),
        ];
        env.extend_from_slice(settings);
        let secrets = [
            (format!("slack/{TEAM}/signing-secret"), SIGNING_SECRET),
            (format!("slack/{OTHER_TEAM}/signing-secret"), OTHER_SECRET),
            ("slack/signing-secret".to_owned(), APP_SECRET),
            (format!("slack/{TEAM}/bot-token"), TOKEN),
            ("slack/oauth-client-secret".to_owned(), SIGN_IN_SECRET),
            (
                "console/operator-token".to_owned(),
                "operator-token-slack-tests-0123456789",
            ),
            (
                "console/session-key".to_owned(),
                "s-slack-session-key-0123456789abcdef0123456789abcdef",
            ),
        ];
        let h = Harness::start_with(HarnessOptions {
            extra_env: hookline_tests::harness::owned(&env),
            extra_secrets: secrets
                .iter()
                .map(|(k, v)| (k.clone(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        })
        .await;
        h.link_to(Provider::Slack, TEAM, ALICE, "alice").await;
        Slack { h, slack }
    }

    /// A message ts `offset` microseconds into the current second of the harness clock.
    fn ts(&self, offset: u32) -> String {
        format!("{}.{:06}", self.h.clock_now(), offset)
    }

    /// POST `body` to `path`, signed with `secret` at the harness's now (or `timestamp`).
    async fn post(
        &self,
        path: &str,
        body: &[u8],
        secret: Option<&str>,
        timestamp: Option<u64>,
        extra: &[(&str, &str)],
    ) -> (u16, String) {
        status_and_text(self.send(path, body, secret, timestamp, extra).await).await
    }

    /// A POST of `body` to `path` as `content_type`, signed with `secret` (none: unsigned) at the harness's now
    /// (or `timestamp`).
    fn signed(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
        secret: Option<&str>,
        timestamp: Option<u64>,
    ) -> reqwest::RequestBuilder {
        let ts = timestamp.unwrap_or_else(|| self.h.clock_now()).to_string();
        let request = self
            .h
            .http
            .post(format!("{}{path}", self.h.url()))
            .header("Content-Type", content_type)
            .header("X-Slack-Request-Timestamp", &ts)
            .body(body.to_vec());
        match secret {
            Some(secret) => {
                request.header("X-Slack-Signature", signature::sign(secret.as_bytes(), &ts, body))
            }
            None => request,
        }
    }

    /// [`Self::post`], returning the whole response.
    async fn send(
        &self,
        path: &str,
        body: &[u8],
        secret: Option<&str>,
        timestamp: Option<u64>,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.signed(path, "application/json", body, secret, timestamp);
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        request.send().await.expect("hookline answers")
    }

    /// Deliver `event` for TEAM on its own route, correctly signed.
    async fn deliver(&self, event_id: &str, event: Value) -> (u16, String) {
        self.post(
            &format!("/webhooks/slack/{TEAM}"),
            &callback(event_id, event),
            Some(SIGNING_SECRET),
            None,
            &[],
        )
        .await
    }

    /// Seed `user`'s message asking the bot `request` (at `ts`, in the thread `thread_ts` if any) in CHANNEL, and
    /// deliver its `app_mention`.
    async fn ask(
        &self,
        event_id: &str,
        user: &str,
        request: &str,
        ts: &str,
        thread_ts: Option<&str>,
    ) -> (u16, String) {
        let text = format!("<@{BOT}> {request}");
        self.slack.seed_message(CHANNEL, ts, thread_ts, user, &text);
        self.deliver(event_id, app_mention(CHANNEL, user, &text, ts, thread_ts))
            .await
    }

    /// Post a click on the Stop button of the status message `status_ts` (in the thread `root`) by `user`, signed
    /// and form-encoded as Slack's interactivity sends it, to the events URL.
    async fn click_stop(
        &self,
        user: &str,
        status_ts: &str,
        root: &str,
        action_ts: &str,
        value: &str,
    ) -> (u16, String) {
        let body = stop_click_form(user, status_ts, root, action_ts, value);
        self.interact(&body, Some(SIGNING_SECRET)).await
    }

    /// Post the interaction `form` to TEAM's events URL, form-encoded, signed with `secret` (none: unsigned) at
    /// the harness's now.
    async fn interact(&self, form: &[u8], secret: Option<&str>) -> (u16, String) {
        let path = format!("/webhooks/slack/{TEAM}");
        let request = self.signed(&path, "application/x-www-form-urlencoded", form, secret, None);
        status_and_text(request.send().await.expect("hookline answers")).await
    }

    /// No run started, and no 👀 on any message.
    fn assert_nothing_started(&self) {
        let starts = self.h.openhands.starts();
        assert!(starts.is_empty(), "{starts:?}");
        assert!(self.slack.reactions().is_empty());
    }

    /// Seed `user`'s message asking the bot `request` (at `ts`) in the picker channel, deliver its
    /// `app_mention`, and wait for the picker Hookline posts.
    async fn ask_for_a_picker(&self, event_id: &str, user: &str, request: &str, ts: &str) -> FakeMessage {
        let text = format!("<@{BOT}> {request}");
        self.slack.seed_message(PICKER_CHANNEL, ts, None, user, &text);
        let (status, _) = self
            .deliver(event_id, app_mention(PICKER_CHANNEL, user, &text, ts, None))
            .await;
        assert_eq!(status, 202);
        eventually("picker posted", || async {
            self.slack.bot_messages().iter().any(|m| m.select().is_some())
        })
        .await;
        self.h.settle().await;
        self.slack
            .bot_messages()
            .into_iter()
            .find(|m| m.select().is_some())
            .expect("the picker")
    }

    /// Post `user`'s pick of `value` in `picker`, as Slack's interactivity sends it (the picker's own blocks in the
    /// payload), signed with `secret` (none: unsigned) at the harness's now.
    async fn pick(
        &self,
        user: &str,
        picker: &FakeMessage,
        value: &str,
        action_ts: &str,
        secret: Option<&str>,
    ) -> (u16, String) {
        let block_id = picker.select().expect("a select").block_id;
        let body = pick_form(user, picker, &block_id, value, action_ts);
        self.interact(&body, secret).await
    }

    /// Wait for Hookline's first private notice and for the queue to drain; asserts it is the only one.
    async fn the_only_ephemeral(&self) -> FakeEphemeral {
        eventually("a private notice", || async {
            !self.slack.ephemerals().is_empty()
        })
        .await;
        self.h.settle().await;
        let ephemerals = self.slack.ephemerals();
        assert_eq!(ephemerals.len(), 1);
        ephemerals[0].clone()
    }

    /// [`Self::pick`], correctly signed.
    async fn pick_signed(
        &self,
        user: &str,
        picker: &FakeMessage,
        value: &str,
        action_ts: &str,
    ) -> (u16, String) {
        self.pick(user, picker, value, action_ts, Some(SIGNING_SECRET))
            .await
    }

    async fn run(&self, conversation_id: &str) -> hookline::domain::RunRecord {
        self.h
            .host()
            .store()
            .get_run(conversation_id)
            .await
            .expect("store")
            .expect("run")
    }

    /// Wait for the first start, and assert it works in `repository`.
    async fn first_start_works_in(&self, repository: &str) {
        self.first_start().await;
        assert_eq!(
            self.h.openhands.starts()[0].request["selected_repository"],
            repository
        );
    }

    async fn first_start(&self) -> String {
        eventually("conversation started", || async {
            !self.h.openhands.starts().is_empty()
        })
        .await;
        self.h.settle().await;
        self.h.openhands.starts()[0].conversation_id.clone()
    }
}

fn callback(event_id: &str, event: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "token": "legacy-token",
        "team_id": TEAM,
        "api_app_id": "A0HOOKLN1",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "authorizations": [{"enterprise_id": null, "team_id": TEAM, "user_id": BOT, "is_bot": true, "is_enterprise_install": false}],
        "is_ext_shared_channel": false,
        "event_context": "EC0001",
    }))
    .expect("json")
}

fn app_mention(channel: &str, user: &str, text: &str, ts: &str, thread_ts: Option<&str>) -> Value {
    let mut event = json!({
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "client_msg_id": "3f0c2f7e-0000-4000-8000-000000000001",
        "team": TEAM,
    });
    if let Some(thread_ts) = thread_ts {
        event["thread_ts"] = json!(thread_ts);
    }
    event
}

/// A `block_actions` interaction, form-encoded as Slack posts it: `user`'s `action` on the bot's message
/// `message` (its `ts` and `thread_ts` are the container's) in `channel` (named `channel_name`), with the view's
/// `state`.
fn block_actions_form(
    user: &str,
    (channel, channel_name): (&str, &str),
    message: Value,
    state: Value,
    action: Value,
) -> Vec<u8> {
    let mut message_with_sender = json!({
        "type": "message", "subtype": "bot_message", "user": BOT, "bot_id": format!("B{BOT}"),
    });
    for (key, value) in message.as_object().expect("a message object") {
        message_with_sender[key] = value.clone();
    }
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": TEAM},
        "api_app_id": "A0HOOKLN1",
        "token": "legacy-token",
        "container": {
            "type": "message", "message_ts": message["ts"], "channel_id": channel, "is_ephemeral": false,
            "thread_ts": message["thread_ts"]
        },
        "trigger_id": "1.2.abc",
        "team": {"id": TEAM, "domain": "hookline"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": channel, "name": channel_name},
        "message": message_with_sender,
        "state": {"values": state},
        "response_url": "https://hooks.slack.com/actions/T0HOOKLN1/1/abc",
        "actions": [action]
    });
    interaction_form(&payload)
}

/// A `block_actions` interaction for a click on the Stop button, as Slack posts it.
fn stop_click_form(user: &str, status_ts: &str, root: &str, action_ts: &str, value: &str) -> Vec<u8> {
    block_actions_form(
        user,
        (CHANNEL, "general"),
        json!({"text": "I'm on it", "ts": status_ts, "thread_ts": root}),
        json!({}),
        json!({
            "action_id": STOP_ACTION_ID, "block_id": "hookline_status_actions", "type": "button",
            "text": {"type": "plain_text", "text": "Stop"}, "value": value, "style": "danger",
            "action_ts": action_ts
        }),
    )
}

/// A `block_actions` interaction for a pick of `value` in the picker `picker` (whose select has `block_id`), as
/// Slack posts it: the message with the blocks Hookline posted.
fn pick_form(user: &str, picker: &FakeMessage, block_id: &str, value: &str, action_ts: &str) -> Vec<u8> {
    let root = picker.thread_ts.clone().expect("a thread reply");
    let selected = json!({"text": {"type": "plain_text", "text": value}, "value": value});
    block_actions_form(
        user,
        (PICKER_CHANNEL, "picker"),
        json!({"text": picker.text, "ts": picker.ts, "thread_ts": root, "blocks": picker.blocks}),
        json!({block_id: {PICK_ACTION_ID: {"type": "static_select", "selected_option": selected}}}),
        json!({
            "type": "static_select", "action_id": PICK_ACTION_ID, "block_id": block_id,
            "selected_option": selected,
            "placeholder": {"type": "plain_text", "text": "Choose a repository"},
            "action_ts": action_ts
        }),
    )
}

fn start_text(h: &Harness, index: usize) -> String {
    h.openhands.starts()[index].text().to_owned()
}

#[tokio::test]
async fn a_mention_starts_one_conversation_acks_in_the_thread_and_edits_the_status_with_the_result() {
    let s = Slack::start().await;
    let ts = s.ts(100);
    let began = Instant::now();
    let (status, _) = s
        .ask(
            "Ev0001",
            ALICE,
            "please fix the flaky login test in octo-org/hello",
            &ts,
            None,
        )
        .await;
    assert_eq!(status, 202);
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "answered within Slack's 3 s"
    );
    let conversation_id = s.first_start().await;

    // One start with the documented fields; the prompt is the request, without the bot mention.
    let starts = s.h.openhands.starts();
    assert_eq!(starts.len(), 1);
    let request = &starts[0].request;
    assert_eq!(request["selected_repository"], "octo-org/hello");
    assert_eq!(request["git_provider"], "github");
    assert_eq!(request["trigger"], "slack");
    let text = start_text(&s.h, 0);
    assert!(
        text.contains("please fix the flaky login test in octo-org/hello"),
        "{text}"
    );
    assert!(!text.contains(BOT), "{text}");
    assert!(text.contains("untrusted data"));
    assert_eq!(
        s.h.openhands.start_authorization(),
        Some(format!("Bearer {ALICE_KEY}"))
    );

    // 👀 on the mention, and one status reply in its thread, marked with metadata.
    let reactions = s.slack.reactions();
    assert_eq!(reactions.len(), 1);
    assert_eq!(
        (reactions[0].channel.as_str(), reactions[0].timestamp.as_str()),
        (CHANNEL, ts.as_str())
    );
    assert_eq!(reactions[0].name, "eyes");
    let bot = s.slack.bot_messages();
    assert_eq!(bot.len(), 1);
    assert_eq!(bot[0].thread_ts.as_deref(), Some(ts.as_str()));
    assert!(bot[0].text.contains(&format!("<@{ALICE}>")), "{}", bot[0].text);
    assert!(
        bot[0].text.contains(&format!(
            "<https://app.example.test/conversations/{conversation_id}|track my progress here>"
        )),
        "{}",
        bot[0].text
    );
    let metadata = bot[0].metadata.clone().expect("metadata");
    assert_eq!(metadata["event_type"], "hookline_status");
    assert_eq!(
        metadata["event_payload"]["marker"],
        format!("run:{conversation_id}")
    );
    let post = &s.slack.requests_to("chat.postMessage")[0];
    assert_eq!(
        post.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        post.header("content-type"),
        Some("application/json; charset=utf-8")
    );

    // `finished`: the same message is edited with the summary; nothing new is posted.
    s.h.finish_with_summary(
        &conversation_id,
        "**Fixed** the race in the login test. Opened https://github.com/octo-org/hello/pull/99.",
        "Slack: please fix the flaky login test in octo-org/hello",
    )
    .await;
    let bot = s.slack.bot_messages();
    assert_eq!(bot.len(), 1, "one Hookline message per run");
    assert_eq!(bot[0].updates, 1);
    assert!(bot[0].text.contains("*Fixed* the race"), "{}", bot[0].text);
    assert!(
        bot[0].text.contains("https://github.com/octo-org/hello/pull/99"),
        "{}",
        bot[0].text
    );
    assert!(bot[0].text.contains("|See the conversation>"), "{}", bot[0].text);
    assert!(bot[0].buttons().is_empty(), "the Stop button goes with the run");
    assert_eq!(
        bot[0].metadata.as_ref().expect("metadata")["event_payload"]["marker"],
        format!("run:{conversation_id}")
    );

    // A repeated callback and a sweep change nothing.
    s.h.call_back(&conversation_id, "finished").await;
    s.h.host().sweep_now().await;
    assert_eq!(s.slack.requests_to("chat.update").len(), 1);
    assert_eq!(s.slack.bot_messages().len(), 1);
}

#[tokio::test]
async fn slack_retries_of_the_same_event_start_nothing_new() {
    let s = Slack::start().await;
    let ts = s.ts(200);
    let text = format!("<@{BOT}> add a changelog entry in octo-org/hello");
    s.slack.seed_message(CHANNEL, &ts, None, ALICE, &text);
    let body = callback("Ev0RETRY1", app_mention(CHANNEL, ALICE, &text, &ts, None));
    let path = format!("/webhooks/slack/{TEAM}");
    assert_eq!(s.post(&path, &body, Some(SIGNING_SECRET), None, &[]).await.0, 202);
    for retry in ["1", "2", "3"] {
        let headers = [
            ("X-Slack-Retry-Num", retry),
            ("X-Slack-Retry-Reason", "http_timeout"),
        ];
        let (status, answer) = s.post(&path, &body, Some(SIGNING_SECRET), None, &headers).await;
        assert_eq!((status, answer.as_str()), (200, "duplicate"), "retry {retry}");
    }
    s.first_start().await;
    // The same message under another event id (a second subscription, say) is the same run.
    assert_eq!(
        s.deliver("Ev0RETRY2", app_mention(CHANNEL, ALICE, &text, &ts, None))
            .await
            .0,
        202
    );
    s.h.settle().await;
    assert_eq!(s.h.openhands.starts().len(), 1);
    assert!(s.h.openhands.messages().is_empty());
    assert_eq!(s.slack.bot_messages().len(), 1);
}

#[tokio::test]
async fn a_mention_in_a_running_thread_becomes_a_follow_up() {
    let s = Slack::start().await;
    let root = s.ts(300);
    s.ask(
        "Ev0F1",
        ALICE,
        "migrate octo-org/hello to the new API",
        &root,
        None,
    )
    .await;
    let conversation_id = s.first_start().await;
    let reply = s.ts(301);
    let (status, _) = s
        .ask(
            "Ev0F2",
            ALICE,
            "also keep the old endpoint working",
            &reply,
            Some(&root),
        )
        .await;
    assert_eq!(status, 202);
    s.h.assert_one_follow_up(&conversation_id, "also keep the old endpoint working")
        .await;
    assert_eq!(s.h.openhands.starts().len(), 1, "no second conversation");
    assert_eq!(s.slack.bot_messages().len(), 1, "no second status message");
    assert!(
        s.slack.reactions().iter().any(|r| r.timestamp == reply),
        "the follow-up is acknowledged"
    );
}

#[tokio::test]
async fn context_is_the_thread_only_without_the_bots_own_messages() {
    let s = Slack::start().await;
    let root = s.ts(400);
    s.slack.seed_message(
        CHANNEL,
        &root,
        None,
        "U0BOB0001",
        "The login page crashes on Safari",
    );
    s.slack.seed_message(
        CHANNEL,
        &s.ts(401),
        Some(&root),
        "U0CAROL01",
        "Stack trace points to auth.js &amp; session.js",
    );
    s.slack
        .seed_message(CHANNEL, &s.ts(402), Some(&root), BOT, "an earlier status of mine");
    s.slack.seed_message(
        CHANNEL,
        &s.ts(403),
        None,
        "U0EVE0001",
        "unrelated channel chatter",
    );
    let mention_ts = s.ts(404);
    let later = format!("{}.000100", s.h.clock_now() + 5);
    s.slack.seed_message(
        CHANNEL,
        &later,
        Some(&root),
        "U0BOB0001",
        "written after the mention",
    );
    s.ask(
        "Ev0C1",
        ALICE,
        "please fix this in octo-org/hello",
        &mention_ts,
        Some(&root),
    )
    .await;
    s.first_start().await;
    let text = start_text(&s.h, 0);
    assert!(text.contains("The login page crashes on Safari"), "{text}");
    assert!(
        text.contains("Stack trace points to auth.js & session.js"),
        "{text}"
    );
    assert!(!text.contains("an earlier status of mine"), "{text}");
    assert!(!text.contains("unrelated channel chatter"), "{text}");
    assert!(!text.contains("written after the mention"), "{text}");
    let replies = s.slack.requests_to("conversations.replies");
    assert!(!replies.is_empty());
    assert!(replies
        .iter()
        .all(|r| r.query.get("ts") == Some(&root)
            && r.query.get("channel").map(String::as_str) == Some(CHANNEL)));
    assert!(
        s.slack.requests_to("conversations.history").is_empty(),
        "never channel history"
    );
    // The status goes to the thread root.
    assert_eq!(
        s.slack.bot_messages()[0].thread_ts.as_deref(),
        Some(root.as_str())
    );
}

#[tokio::test]
async fn an_unlinked_person_gets_an_ephemeral_notice_and_no_conversation() {
    let s = Slack::start().await;
    let ts = s.ts(500);
    s.ask("Ev0U1", DAVE, "fix octo-org/hello", &ts, None).await;
    let ephemeral = s.the_only_ephemeral().await;
    assert_eq!(ephemeral.user, DAVE);
    assert_eq!(ephemeral.channel, CHANNEL);
    assert_eq!(ephemeral.thread_ts.as_deref(), Some(ts.as_str()));
    assert!(ephemeral.text.contains("not linked"), "{}", ephemeral.text);
    assert!(ephemeral.text.contains(&format!("<@{DAVE}>")));
    assert!(
        ephemeral.text.contains(TEAM),
        "the notice names the ids an admin links"
    );
    assert!(s.h.openhands.starts().is_empty());
    assert!(s.slack.bot_messages().is_empty(), "nothing public");
}

#[tokio::test]
async fn without_a_repository_the_thread_is_asked_once_and_a_channel_default_is_used() {
    let s = Slack::start().await;
    let ts = s.ts(600);
    let text = format!("<@{BOT}> fix the build and/or the tests");
    s.ask("Ev0R1", ALICE, "fix the build and/or the tests", &ts, None)
        .await;
    eventually("question posted", || async { !s.slack.bot_messages().is_empty() }).await;
    s.deliver("Ev0R2", app_mention(CHANNEL, ALICE, &text, &ts, None))
        .await;
    s.h.settle().await;
    let bot = s.slack.bot_messages();
    assert_eq!(bot.len(), 1, "asked once");
    assert_eq!(bot[0].thread_ts.as_deref(), Some(ts.as_str()));
    assert!(bot[0].text.contains("Which repository"), "{}", bot[0].text);
    assert!(s.h.openhands.starts().is_empty());

    let in_default = s.ts(601);
    s.slack
        .seed_message(DEFAULT_CHANNEL, &in_default, None, ALICE, "x");
    s.deliver(
        "Ev0R3",
        app_mention(
            DEFAULT_CHANNEL,
            ALICE,
            &format!("<@{BOT}> fix the build"),
            &in_default,
            None,
        ),
    )
    .await;
    s.first_start_works_in("octo-org/default").await;
}

#[tokio::test]
async fn signatures_tenants_and_the_handshake() {
    let s = Slack::start().await;
    let path = format!("/webhooks/slack/{TEAM}");
    let body = callback(
        "Ev0S1",
        app_mention(
            CHANNEL,
            ALICE,
            &format!("<@{BOT}> fix octo-org/hello"),
            &s.ts(700),
            None,
        ),
    );
    // Another workspace's secret, no signature, a stale timestamp: 401. Slack redelivers any non-2xx answer; a
    // redelivery of the first two would be rejected alike, so they ask it not to, while each delivery carries its
    // own timestamp. The same for a body that is not JSON (400).
    let answer = |response: reqwest::Response| {
        let no_retry = response
            .headers()
            .get("x-slack-no-retry")
            .map(|v| v.to_str().expect("ascii").to_owned());
        (response.status().as_u16(), no_retry)
    };
    let no_retry = Some("1".to_owned());
    let forged = s.send(&path, &body, Some(OTHER_SECRET), None, &[]).await;
    assert_eq!(answer(forged), (401, no_retry.clone()));
    let unsigned = s.send(&path, &body, None, None, &[]).await;
    assert_eq!(answer(unsigned), (401, no_retry.clone()));
    let stale = s.h.clock_now() - 301;
    let stale = s.send(&path, &body, Some(SIGNING_SECRET), Some(stale), &[]).await;
    assert_eq!(answer(stale), (401, None));
    let malformed = s.send(&path, b"{not json", Some(SIGNING_SECRET), None, &[]).await;
    assert_eq!(answer(malformed), (400, no_retry));
    // Correctly signed by the other workspace, but the verified body belongs to this one: 401.
    assert_eq!(
        s.post(
            &format!("/webhooks/slack/{OTHER_TEAM}"),
            &body,
            Some(OTHER_SECRET),
            None,
            &[]
        )
        .await
        .0,
        401
    );
    // An unknown workspace: 404.
    assert_eq!(
        s.post(
            "/webhooks/slack/T0NOSUCH1",
            &body,
            Some(SIGNING_SECRET),
            None,
            &[]
        )
        .await
        .0,
        404
    );
    // The published V4 body with its own signature is a replay today.
    let v4 = include_bytes!("../fixtures/slack/v4-app-mention.json");
    let v4_sig = "v0=1a9809e2748f2f0c4b9bd3ceab396ded90126a1c43a628915422080c748be96f";
    // The V4 body, timestamp and signature as published, under these header names: the status.
    let replay = async |timestamp_header: &str, signature_header: &str| {
        s.h.http
            .post(format!("{}/webhooks/slack", s.h.url()))
            .header(timestamp_header, "1515449522")
            .header(signature_header, v4_sig)
            .body(v4.to_vec())
            .send()
            .await
            .expect("answer")
            .status()
            .as_u16()
    };
    assert_eq!(
        replay("X-Slack-Request-Timestamp", "X-Slack-Signature").await,
        401
    );
    // With its signature recomputed for now, the same bytes pass on the app-wide route.
    let (status, _) = s.post("/webhooks/slack", v4, Some(APP_SECRET), None, &[]).await;
    assert_eq!(status, 202);
    assert_eq!(
        replay("x-slack-request-timestamp", "x-slack-signature").await,
        401,
        "lowercase header names too"
    );
    s.h.settle().await;

    // The handshake: the challenge only after verification.
    let handshake = include_bytes!("../fixtures/slack/url-verification.json");
    let (status, answer) = s.post(&path, handshake, Some(SIGNING_SECRET), None, &[]).await;
    assert_eq!(
        (status, answer.as_str()),
        (200, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    );
    let (status, answer) = s.post(&path, handshake, Some(OTHER_SECRET), None, &[]).await;
    assert_eq!(status, 401);
    assert!(!answer.contains("3eZbrw"));

    // Nothing rejected was claimed: the correctly signed delivery with the same event id is accepted.
    assert_eq!(s.h.host().queue().depth().expect("depth"), 0);
    assert_eq!(s.post(&path, &body, Some(SIGNING_SECRET), None, &[]).await.0, 202);
}

/// GIVEN a workspace that serves two channels and only one user group WHEN a linked person outside the group, a
/// linked person in another channel, and a linked guest from another organization (Slack Connect) each mention
/// the bot THEN nothing starts and nothing is posted, checked against the group's members; a group member in a
/// served channel starts a run.
#[tokio::test]
async fn only_people_the_rules_allow_may_trigger() {
    let s = Slack::start_with(&[
        ("SLACK_CHANNELS", "C0GENERAL,C0DEFAULT"),
        ("SLACK_USERGROUPS", "S0DEVS001"),
    ])
    .await;
    s.slack.add_usergroup("S0DEVS001", &[ALICE]);
    s.h.link_to(Provider::Slack, TEAM, DAVE, "dave").await;
    const GUEST: &str = "U0GUEST01";
    s.h.link_to(Provider::Slack, TEAM, GUEST, "guest").await;
    s.slack.add_usergroup("S0DEVS001", &[ALICE, GUEST]);

    // Dave is in no listed group.
    let ts = s.ts(100);
    assert_eq!(
        s.ask("Ev0DAVE1", DAVE, "fix it in octo-org/hello", &ts, None)
            .await
            .0,
        202
    );
    // Alice, in a channel that is not served.
    let ts = s.ts(200);
    s.slack.seed_message("C0RANDOM", &ts, None, ALICE, "hi");
    let event = app_mention(
        "C0RANDOM",
        ALICE,
        &format!("<@{BOT}> fix it in octo-org/hello"),
        &ts,
        None,
    );
    assert_eq!(s.deliver("Ev0RANDOM", event).await.0, 202);
    // A guest from another organization in a shared channel, even in the group.
    let ts = s.ts(300);
    s.slack.seed_message(CHANNEL, &ts, None, GUEST, "hi");
    let mut event = app_mention(
        CHANNEL,
        GUEST,
        &format!("<@{BOT}> fix it in octo-org/hello"),
        &ts,
        None,
    );
    event["user_team"] = json!("T0EXTERNL");
    assert_eq!(s.deliver("Ev0GUEST1", event).await.0, 202);
    s.h.settle().await;
    s.assert_nothing_started();
    assert!(s.slack.bot_messages().is_empty());
    assert!(
        !s.slack.requests_to("usergroups.users.list").is_empty(),
        "the group was asked"
    );

    let ts = s.ts(400);
    s.ask("Ev0ALICE1", ALICE, "fix it in octo-org/hello", &ts, None)
        .await;
    s.first_start().await;
    assert_eq!(s.h.openhands.starts().len(), 1);
}

/// GIVEN a shared default identity for unlinked people WHEN an unlinked person names a repository other than
/// the channel's THEN nothing starts and they are told why, once; without naming one, the channel's repository
/// is worked on under the shared identity.
#[tokio::test]
async fn the_shared_identity_works_only_on_the_channels_repository() {
    let s = Slack::start_with(&[
        ("OPENHANDS_DEFAULT_USER", "shared-bot"),
        ("OPENHANDS_DEFAULT_API_KEY_SECRET", "openhands/alice"),
    ])
    .await;
    let ts = s.ts(100);
    s.slack.seed_message(DEFAULT_CHANNEL, &ts, None, DAVE, "hi");
    let text = format!("<@{BOT}> delete the prod config in octo-org/infra");
    let event = app_mention(DEFAULT_CHANNEL, DAVE, &text, &ts, None);
    assert_eq!(s.deliver("Ev0NAMED1", event).await.0, 202);
    eventually("notice", || async { !s.slack.ephemerals().is_empty() }).await;
    s.h.settle().await;
    assert!(s.h.openhands.starts().is_empty());
    let notices = s.slack.ephemerals();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].text.contains("shared identity"), "{}", notices[0].text);

    let ts = s.ts(200);
    s.slack.seed_message(DEFAULT_CHANNEL, &ts, None, DAVE, "hi");
    let event = app_mention(
        DEFAULT_CHANNEL,
        DAVE,
        &format!("<@{BOT}> fix the flaky test"),
        &ts,
        None,
    );
    assert_eq!(s.deliver("Ev0PLAIN1", event).await.0, 202);
    s.first_start_works_in("octo-org/default").await;
}

/// GIVEN a mention whose text is nothing but control characters, cut to the field limit yet six times longer
/// once encoded WHEN it arrives THEN it is refused once with 413, and nothing is queued to fail on every
/// redelivery.
#[tokio::test]
async fn a_body_too_large_to_queue_once_encoded_is_413() {
    let s = Slack::start().await;
    let ts = s.ts(100);
    let text = format!("<@{BOT}> {}", "\u{1}".repeat(70_000));
    let (status, body) = s
        .deliver("Ev0HUGE01", app_mention(CHANNEL, ALICE, &text, &ts, None))
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(s.h.host().queue().depth().expect("depth"), 0);
}

#[tokio::test]
async fn bots_edits_and_deletions_start_nothing() {
    let s = Slack::start().await;
    let text = format!("<@{BOT}> fix octo-org/hello");
    let mut from_bot = app_mention(CHANNEL, "U0OTHERB1", &text, &s.ts(800), None);
    from_bot["bot_id"] = json!("B0OTHER01");
    let own = app_mention(CHANNEL, BOT, &text, &s.ts(801), None);
    let mut edited = app_mention(CHANNEL, ALICE, &text, &s.ts(802), None);
    edited["edited"] = json!({"user": ALICE, "ts": s.ts(900)});
    let changed = json!({
        "type": "message", "subtype": "message_changed", "channel": CHANNEL, "ts": s.ts(803),
        "message": {"type": "message", "user": ALICE, "text": text, "ts": s.ts(802)}
    });
    let deleted = json!({"type": "message", "subtype": "message_deleted", "channel": CHANNEL, "ts": s.ts(804), "deleted_ts": s.ts(802)});
    let quoted = app_mention(CHANNEL, ALICE, &format!("&gt; {text}"), &s.ts(805), None);
    for (i, event) in [from_bot, own, edited, changed, deleted].into_iter().enumerate() {
        let (status, answer) = s.deliver(&format!("Ev0B{i}"), event).await;
        assert_eq!((status, answer.as_str()), (202, "ignored"), "case {i}");
    }
    // A quote of a mention reaches the worker (Slack sends `app_mention`) and is ignored there.
    assert_eq!(s.deliver("Ev0BQ", quoted).await.0, 202);
    s.h.settle().await;
    assert!(s.h.openhands.starts().is_empty());
    assert!(s.slack.requests().is_empty(), "nothing was said or done on Slack");
}

#[tokio::test]
async fn web_api_rate_limits_are_retried_after_retry_after() {
    let s = Slack::start().await;
    s.slack
        .fail_next("chat.postMessage", SlackFailure::too_many_requests(2));
    s.slack
        .fail_next("reactions.add", SlackFailure::error("invalid_auth"));
    let ts = s.ts(1000);
    s.ask("Ev0RL1", ALICE, "fix octo-org/hello", &ts, None).await;
    eventually("first attempt failed", || async {
        !s.slack.requests_to("chat.postMessage").is_empty()
    })
    .await;
    // Not retried before Retry-After has passed on the (manual) clock.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(s.h.openhands.starts().is_empty());
    assert_eq!(s.slack.requests_to("chat.postMessage").len(), 1);
    s.h.pass_retry_after(5, "the retry started a conversation", || async {
        !s.h.openhands.starts().is_empty()
    })
    .await;
    s.first_start().await;
    assert_eq!(s.h.openhands.starts().len(), 1);
    assert_eq!(s.slack.bot_messages().len(), 1, "one status despite the retry");
    assert_eq!(s.slack.requests_to("chat.postMessage").len(), 2);
}

/// GIVEN a running Slack run WHEN its status message is looked at THEN it carries a Stop button valued with the
/// conversation id. WHEN someone else clicks it THEN they are told, privately, that it is not theirs to stop, and
/// the run keeps going. WHEN the person who asked clicks it THEN the agent is interrupted, the run ends as stopped
/// and the status says so without the button; Slack's redelivery of that click changes nothing.
#[tokio::test]
async fn the_stop_button_stops_the_run_of_the_person_who_asked() {
    let s = Slack::start().await;
    let root = s.ts(100);
    s.ask(
        "Ev0STOP1",
        ALICE,
        "refactor the session code in octo-org/hello",
        &root,
        None,
    )
    .await;
    let conversation_id = s.first_start().await;
    let status = s.slack.bot_messages()[0].clone();
    assert_eq!(status.buttons(), [STOP_ACTION_ID], "{:?}", status.blocks);
    let post = &s.slack.requests_to("chat.postMessage")[0];
    let body = post.body.as_ref().expect("json body");
    assert_eq!(
        body["blocks"][0]["text"]["text"], body["text"],
        "the section shows the text"
    );
    let button = &body["blocks"][1]["elements"][0];
    assert_eq!(button["value"], conversation_id.as_str());
    assert_eq!(button["style"], "danger");

    // Dave (allowed to trigger, not the one who asked; in Slack no one is a maintainer) is refused, privately.
    let (answer, _) = s
        .click_stop(DAVE, &status.ts, &root, &s.ts(200), &conversation_id)
        .await;
    assert_eq!(answer, 200, "Slack wants a click acknowledged with 200");
    let ephemeral = s.the_only_ephemeral().await;
    assert_eq!(ephemeral.user, DAVE);
    assert_eq!(ephemeral.thread_ts.as_deref(), Some(root.as_str()));
    assert!(
        ephemeral.text.contains("can't stop this run"),
        "{}",
        ephemeral.text
    );
    assert!(!s.run(&conversation_id).await.state.is_terminal());
    let interrupts = |s: &Slack| {
        s.h.openhands
            .requests()
            .into_iter()
            .filter(|r| {
                r.method == "POST" && r.path == format!("/api/conversations/{conversation_id}/interrupt")
            })
            .count()
    };
    assert_eq!(interrupts(&s), 0);
    assert_eq!(s.slack.bot_messages()[0].buttons(), [STOP_ACTION_ID]);

    // Alice's click stops it.
    let action_ts = s.ts(300);
    let (answer, _) = s
        .click_stop(ALICE, &status.ts, &root, &action_ts, &conversation_id)
        .await;
    assert_eq!(answer, 200);
    eventually("stopped", || async {
        s.run(&conversation_id).await.state == RunState::Failed
    })
    .await;
    s.h.settle().await;
    let run = s.run(&conversation_id).await;
    assert!(
        matches!(
            run.conclusion.as_ref().map(|c| &c.outcome),
            Some(Outcome::Stopped { by, .. }) if by == ALICE
        ),
        "{:?}",
        run.conclusion
    );
    assert_eq!(interrupts(&s), 1);
    let bot = s.slack.bot_messages();
    assert_eq!(
        bot.len(),
        1,
        "the status message is edited, nothing new is posted"
    );
    assert!(bot[0].text.contains("Stopped by"), "{}", bot[0].text);
    assert!(bot[0].buttons().is_empty(), "{:?}", bot[0].blocks);
    let updates = s.slack.requests_to("chat.update");
    let last = updates.last().expect("an edit").body.clone().expect("json body");
    assert!(
        last["text"].as_str().is_some_and(|t| t.contains("Stopped by")),
        "{last}"
    );
    assert_eq!(last["blocks"], json!([]), "an empty array removes the button");

    // Slack's redelivery of the same click is a duplicate: nothing more happens.
    let (answer, text) = s
        .click_stop(ALICE, &status.ts, &root, &action_ts, &conversation_id)
        .await;
    assert_eq!(
        (answer, text.as_str()),
        (200, ""),
        "a duplicate click is acknowledged like any"
    );
    s.h.settle().await;
    assert_eq!(interrupts(&s), 1);
    assert_eq!(s.slack.requests_to("chat.update").len(), updates.len());
    assert_eq!(s.slack.ephemerals().len(), 1);
    assert_eq!(s.slack.bot_messages().len(), 1);
}

/// GIVEN a channel listing three repositories WHEN a mention there names none THEN the thread gets one picker of
/// them, for the person who asked, and nothing starts. WHEN someone else picks THEN they are told, privately, and
/// nothing starts. WHEN the person who asked picks THEN the picker says where it works, without the select, and
/// one run starts there with the mention's text as Slack has it. A second pick starts nothing new.
#[tokio::test]
async fn a_pick_in_the_picker_starts_the_requesters_run_once() {
    let s = Slack::start().await;
    let ts = s.ts(100);
    let picker = s
        .ask_for_a_picker("Ev0PICK1", ALICE, "fix the flaky login test", &ts)
        .await;
    // Slack's redelivery of the mention asks nothing more.
    s.deliver(
        "Ev0PICK2",
        app_mention(
            PICKER_CHANNEL,
            ALICE,
            &format!("<@{BOT}> fix the flaky login test"),
            &ts,
            None,
        ),
    )
    .await;
    s.h.settle().await;
    assert_eq!(s.slack.bot_messages().len(), 1, "one picker");
    assert_eq!(
        picker.thread_ts.as_deref(),
        Some(ts.as_str()),
        "in the mention's thread"
    );
    let select = picker.select().expect("a select");
    assert_eq!(select.action_id, PICK_ACTION_ID);
    assert_eq!(select.block_id, format!("hookline_pick:{ts}:{ALICE}"));
    assert_eq!(
        select.options,
        [
            ("github:octo-org/api".to_owned(), "octo-org/api".to_owned()),
            ("github:octo-org/web".to_owned(), "octo-org/web".to_owned()),
            (
                "gitlab:octo-group/infra".to_owned(),
                "gitlab:octo-group/infra".to_owned()
            ),
        ]
    );
    let texts = picker.block_texts();
    assert!(
        texts[0].contains(&format!("<@{ALICE}> Which repository")),
        "{texts:?}"
    );
    assert!(
        texts[1].starts_with(&format!("For <@{ALICE}> only. Expires <!date^"))
            && texts[1].contains("in 15 minutes"),
        "{texts:?}"
    );
    assert!(
        picker.text.contains("Which repository"),
        "the notification text: {}",
        picker.text
    );
    s.assert_nothing_started();

    // Dave may trigger runs, but this choice is Alice's.
    s.h.link_to(Provider::Slack, TEAM, DAVE, "dave").await;
    let (status, body) = s
        .pick_signed(DAVE, &picker, "github:octo-org/api", &s.ts(200))
        .await;
    assert_eq!((status, body.as_str()), (200, ""), "acknowledged at once, empty");
    let ephemeral = s.the_only_ephemeral().await;
    assert_eq!(ephemeral.user, DAVE);
    assert_eq!(ephemeral.thread_ts.as_deref(), Some(ts.as_str()));
    assert!(
        ephemeral.text.contains(&format!("Only <@{ALICE}> can choose")),
        "{}",
        ephemeral.text
    );
    assert!(s.h.openhands.starts().is_empty());
    assert!(s
        .slack
        .message(PICKER_CHANNEL, &picker.ts)
        .expect("picker")
        .select()
        .is_some());

    // Alice edited her message since; the run asks what Slack has now, not anything from the click.
    s.slack.edit_message(
        PICKER_CHANNEL,
        &ts,
        &format!("<@{BOT}> fix the flaky login test on Safari"),
    );
    let (status, body) = s
        .pick_signed(ALICE, &picker, "github:octo-org/web", &s.ts(300))
        .await;
    assert_eq!((status, body.as_str()), (200, ""));
    let conversation_id = s.first_start().await;
    let start = &s.h.openhands.starts()[0].request;
    assert_eq!(start["selected_repository"], "octo-org/web");
    assert_eq!(start["git_provider"], "github");
    let text = start_text(&s.h, 0);
    assert!(text.contains("fix the flaky login test on Safari"), "{text}");
    assert_eq!(
        s.h.openhands.start_authorization(),
        Some(format!("Bearer {ALICE_KEY}")),
        "as Alice"
    );
    let run = s.run(&conversation_id).await;
    assert_eq!(run.actor.id, ALICE);
    assert!(run.run_key.ends_with(&format!(":msg:{ts}")), "{}", run.run_key);
    // The picker now says where it works, without the select; 👀 on the mention; the status in the thread.
    let edited = s.slack.message(PICKER_CHANNEL, &picker.ts).expect("picker");
    assert_eq!(edited.text, "Working in `octo-org/web`.");
    assert!(edited.blocks.is_empty(), "{:?}", edited.blocks);
    assert!(s
        .slack
        .reactions()
        .iter()
        .any(|r| r.timestamp == ts && r.name == "eyes"));
    let status_message = s
        .slack
        .bot_messages()
        .into_iter()
        .find(|m| m.ts != picker.ts)
        .expect("a status message");
    assert_eq!(status_message.thread_ts.as_deref(), Some(ts.as_str()));
    assert_eq!(status_message.buttons(), [STOP_ACTION_ID]);

    // A second pick (another repository, from a stale view of the picker) starts nothing new.
    let (status, _) = s
        .pick_signed(ALICE, &picker, "github:octo-org/api", &s.ts(400))
        .await;
    assert_eq!(status, 200);
    s.h.settle().await;
    assert_eq!(s.h.openhands.starts().len(), 1);
    assert_eq!(
        s.slack.bot_messages().len(),
        2,
        "the picker and one status message"
    );
    assert_eq!(s.slack.ephemerals().len(), 1);
}

/// GIVEN a picker older than SLACK_CHOICE_EXPIRES_SECS (by the worker's clock) WHEN the person who asked picks
/// THEN the picker says the request expired, without the select, and nothing starts.
#[tokio::test]
async fn a_pick_after_the_expiry_says_so_and_starts_nothing() {
    let s = Slack::start_with(&[("SLACK_CHOICE_EXPIRES_SECS", "600")]).await;
    let ts = s.ts(100);
    let picker = s
        .ask_for_a_picker("Ev0LATE1", ALICE, "add a changelog entry", &ts)
        .await;
    assert!(
        picker.block_texts()[1].contains("in 10 minutes"),
        "{:?}",
        picker.block_texts()
    );
    s.h.clock.advance(700);
    let (status, _) = s
        .pick_signed(ALICE, &picker, "github:octo-org/api", &s.ts(200))
        .await;
    assert_eq!(status, 200);
    eventually("picker edited", || async {
        s.slack
            .message(PICKER_CHANNEL, &picker.ts)
            .is_some_and(|m| m.updates > 0)
    })
    .await;
    s.h.settle().await;
    let edited = s.slack.message(PICKER_CHANNEL, &picker.ts).expect("picker");
    assert!(edited.text.contains("expired"), "{}", edited.text);
    assert!(edited.text.contains(&format!("<@{ALICE}>")), "{}", edited.text);
    assert!(edited.blocks.is_empty());
    s.assert_nothing_started();
    assert_eq!(s.slack.bot_messages().len(), 1);
}

/// GIVEN a picker WHEN a pick arrives unsigned, signed with another workspace's secret or too old THEN it is
/// 401 and nothing is queued; WHEN a correctly signed, hand-made pick names a repository the channel does not list
/// THEN nothing starts (the person is told), and one whose value is no repository is 400.
#[tokio::test]
async fn forged_or_hand_made_picks_start_nothing() {
    let s = Slack::start().await;
    let ts = s.ts(100);
    let picker = s
        .ask_for_a_picker("Ev0FORGE1", ALICE, "rotate the keys", &ts)
        .await;
    let value = "github:octo-org/api";
    let (unsigned, _) = s.pick(ALICE, &picker, value, &s.ts(200), None).await;
    assert_eq!(unsigned, 401);
    let (forged, _) = s
        .pick(ALICE, &picker, value, &s.ts(201), Some(OTHER_SECRET))
        .await;
    assert_eq!(forged, 401);
    let block_id = picker.select().expect("a select").block_id;
    let body = pick_form(ALICE, &picker, &block_id, value, &s.ts(202));
    let path = format!("/webhooks/slack/{TEAM}");
    let stale = s.h.clock_now() - 301;
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, _) = s
        .post(&path, &body, Some(SIGNING_SECRET), Some(stale), &form)
        .await;
    assert_eq!(status, 401);
    assert_eq!(s.h.host().queue().depth().expect("depth"), 0, "nothing queued");

    let (status, _) = s
        .pick_signed(ALICE, &picker, "github:octo-org/elsewhere", &s.ts(300))
        .await;
    assert_eq!(status, 200);
    let ephemeral = s.the_only_ephemeral().await;
    assert!(
        ephemeral
            .text
            .contains("is not one of this channel's repositories"),
        "{}",
        ephemeral.text
    );
    let (status, _) = s.pick_signed(ALICE, &picker, "github:../x", &s.ts(301)).await;
    assert_eq!(status, 400);
    s.h.settle().await;
    s.assert_nothing_started();
    let unchanged = s.slack.message(PICKER_CHANNEL, &picker.ts).expect("picker");
    assert_eq!(unchanged.updates, 0);
    assert!(unchanged.select().is_some());
}

/// GIVEN "Sign in with Slack" for the app WHEN an unlinked person follows the invitation in their private
/// notice, signs in with Slack as themselves and enters their key THEN their next mention starts a run with that
/// key; the same user id signed in to another workspace is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlinked_person_links_themselves_with_sign_in_with_slack() {
    const DAVE_KEY: &str = "oh-api-key-dave-slack";
    let s = Slack::start_with(&[("SLACK_OAUTH_CLIENT_ID", "slack-e2e-client")]).await;
    s.slack.enable_sign_in("slack-e2e-client", SIGN_IN_SECRET);
    let ts = s.ts(600);
    s.ask("Ev0LINK1", DAVE, "fix octo-org/hello", &ts, None).await;
    let notice = s.the_only_ephemeral().await;
    let at = notice
        .text
        .find("<http")
        .expect("an invitation link in the notice")
        + 1;
    let link = notice.text[at..].split(['|', '>']).next().unwrap().to_owned();
    assert!(link.contains("/console/link?invite="), "{}", notice.text);

    hookline_tests::browser::Browser::open()
        .await
        .link_through_invitation(
            &link,
            || s.slack.sign_in_as("dave", DAVE, OTHER_TEAM),
            || s.slack.sign_in_as("dave", DAVE, TEAM),
            "dave@example.com",
            DAVE_KEY,
        )
        .await
        .expect("another workspace's account is refused, then the invited person links themselves");

    s.h.openhands.require_bearer(DAVE_KEY);
    let ts = s.ts(700);
    s.ask("Ev0LINK2", DAVE, "fix octo-org/hello", &ts, None).await;
    eventually("the run started", || async { !s.h.openhands.starts().is_empty() }).await;
}
