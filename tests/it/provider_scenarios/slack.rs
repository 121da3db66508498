//! Slack on the Lambda handlers: Events API `app_mention` callbacks on `/webhooks/slack/<team>`, signed with
//! the workspace's signing secret (`v0=` HMAC over `v0:<timestamp>:<body>`), retried by Slack with
//! `X-Slack-Retry-Num` and the same event id.

use std::sync::atomic::{AtomicU32, Ordering};

use hookline::{
    clock::{Clock, SystemClock},
    domain::Provider,
    slack::verify as signature,
};
use hookline_tests::fake_slack::{interaction_form, FakeMessage, FakeSlack};
use serde_json::{json, Value};

use super::{json_delivery, Deployment, Rig, StartFacts, FOLLOW_UP, REQUEST};
use crate::lambda_world::{owned, Delivery, Wiring};

const TEAM: &str = "T0HOOKLN1";
const OTHER_TEAM: &str = "T0OTHER02";
const SIGNING_SECRET: &str = "slack-lambda-signing-secret";
const OTHER_SECRET: &str = "slack-lambda-other-workspace-secret";
const TOKEN: &str = "xoxb-lambda-token";
const BOT: &str = "U0BOT0001";
const ALICE: &str = "U0ALICE01";
const BOB: &str = "U0BOB0001";
const CHANNEL: &str = "C0GENERAL";

pub struct Slack<D> {
    world: D,
    slack: FakeSlack,
    /// The thread every mention of a test is in: the trigger's ts.
    root: String,
    next_message: AtomicU32,
}

impl<D: Deployment> Slack<D> {
    /// A new message by alice mentioning the bot (a reply in the trigger's thread unless it is the trigger),
    /// seeded in the fake, as its signed `app_mention` callback.
    fn mention(&self, event_id: &str, text: &str) -> Delivery {
        self.mention_by(ALICE, event_id, text)
    }

    /// The same by `user`.
    fn mention_by(&self, user: &str, event_id: &str, text: &str) -> Delivery {
        let n = self.next_message.fetch_add(1, Ordering::SeqCst);
        let ts = if n == 0 {
            self.root.clone()
        } else {
            format!("{}{n:02}", &self.root[..self.root.len() - 2])
        };
        let thread_ts = (n > 0).then_some(self.root.as_str());
        let text = format!("<@{BOT}> {text}");
        self.slack.seed_message(CHANNEL, &ts, thread_ts, user, &text);
        let mut event = json!({
            "type": "app_mention", "user": user, "text": text, "ts": ts, "channel": CHANNEL, "event_ts": ts,
            "client_msg_id": format!("3f0c2f7e-0000-4000-8000-{n:012}"), "team": TEAM,
        });
        if let Some(thread_ts) = thread_ts {
            event["thread_ts"] = json!(thread_ts);
        }
        let body = serde_json::to_vec(&json!({
            "token": "legacy-token", "team_id": TEAM, "api_app_id": "A0HOOKLN1", "event": event,
            "type": "event_callback", "event_id": event_id, "event_time": SystemClock.now_secs(),
            "authorizations": [{"enterprise_id": null, "team_id": TEAM, "user_id": BOT, "is_bot": true,
                                "is_enterprise_install": false}],
            "is_ext_shared_channel": false, "event_context": "EC0001",
        }))
        .expect("json");
        signed(
            json_delivery(
                format!("/webhooks/slack/{TEAM}"),
                body,
                "Slackbot 1.0 (+https://api.slack.com/robots)",
            ),
            SIGNING_SECRET,
            SystemClock.now_secs(),
        )
    }
}

/// `delivery` with Slack's timestamp and signature headers for `secret` at `timestamp`.
fn signed(delivery: Delivery, secret: &str, timestamp: u64) -> Delivery {
    let timestamp = timestamp.to_string();
    let signature = signature::sign(secret.as_bytes(), &timestamp, &delivery.body);
    delivery
        .with_header("x-slack-request-timestamp", timestamp)
        .with_header("x-slack-signature", signature)
}

impl<D: Deployment> Rig for Slack<D> {
    type Host = D;

    const PULL_REQUEST: &'static str = "https://github.com/octo-org/hello/pull/99";

    async fn start() -> Self {
        let slack = FakeSlack::start().await;
        slack.add_team(TEAM, TOKEN, BOT);
        let world = D::start(|prefix| {
            let secrets = format!("{prefix}/slack");
            Wiring {
                settings: owned(&[
                    ("SLACK_TENANTS", "*"),
                    ("SLACK_API_URL", slack.url()),
                    ("SLACK_SECRET_PREFIX", &secrets),
                    ("SLACK_REPOS", &format!("{CHANNEL}=octo-org/hello")),
                ]),
                secrets: owned(&[
                    (&format!("{secrets}/{TEAM}/signing-secret"), SIGNING_SECRET),
                    (&format!("{secrets}/{OTHER_TEAM}/signing-secret"), OTHER_SECRET),
                    (&format!("{secrets}/{TEAM}/bot-token"), TOKEN),
                ]),
            }
        })
        .await;
        world.link(Provider::Slack, TEAM, ALICE, "alice").await;
        world.link(Provider::Slack, TEAM, BOB, "bob").await;
        Slack {
            world,
            slack,
            root: format!("{}.000100", SystemClock.now_secs()),
            next_message: AtomicU32::new(0),
        }
    }

    fn world(&self) -> &D {
        &self.world
    }

    fn trigger(&self) -> Delivery {
        self.mention("Ev0TRIGGER", REQUEST)
    }

    fn redelivery(&self, delivery: &Delivery, attempt: u32) -> Delivery {
        // Slack retries the same signed request (same event id), saying which retry it is.
        delivery
            .clone()
            .with_header("x-slack-retry-num", attempt.to_string())
            .with_header("x-slack-retry-reason", "http_timeout")
    }

    /// Slack's signature covers its timestamp and the event id is in the body: a replay can only be the same
    /// request again.
    fn replay(&self, delivery: &Delivery) -> Delivery {
        delivery.clone()
    }

    fn follow_up(&self) -> Delivery {
        self.mention("Ev0FOLLOW", FOLLOW_UP)
    }

    fn follow_up_by_someone_else(&self) -> Delivery {
        self.mention_by(BOB, "Ev0BOB", FOLLOW_UP)
    }

    fn asking(&self, n: u32, text: &str) -> Delivery {
        self.mention(&format!("Ev0ASK{n}"), text)
    }

    fn stop(&self) -> Delivery {
        self.mention("Ev0STOP", "stop")
    }

    fn stop_by_someone_else(&self) -> Delivery {
        self.mention_by(BOB, "Ev0BOBSTOP", "stop")
    }

    fn secrets(&self) -> Vec<String> {
        [SIGNING_SECRET, OTHER_SECRET, TOKEN].map(str::to_owned).to_vec()
    }

    /// Status messages, then the ephemeral notices.
    fn bot_texts(&self) -> Vec<String> {
        let mut texts = self.status_texts();
        texts.extend(self.slack.ephemerals().into_iter().map(|e| e.text));
        texts
    }

    fn forgeries(&self, trigger: &Delivery) -> Vec<(&'static str, Delivery)> {
        let now = SystemClock.now_secs();
        let mut unsigned = trigger.clone();
        unsigned.headers.retain(|(name, _)| name != "x-slack-signature");
        let mut other_route = trigger.clone();
        other_route.path = format!("/webhooks/slack/{OTHER_TEAM}");
        vec![
            (
                "the other workspace's secret",
                signed(trigger.clone(), OTHER_SECRET, now),
            ),
            (
                "the other workspace's route and secret for this workspace's event",
                signed(other_route, OTHER_SECRET, now),
            ),
            (
                "a stale timestamp",
                signed(trigger.clone(), SIGNING_SECRET, now - 301),
            ),
            ("no signature", unsigned),
        ]
    }

    fn start_facts(&self) -> StartFacts {
        StartFacts {
            repository: "octo-org/hello",
            git_provider: "github",
            trigger: "slack",
            title: format!("Slack: {REQUEST}"),
        }
    }

    fn assert_acknowledged(&self) {
        let reactions = self.slack.reactions();
        assert_eq!(reactions.len(), 1, "{reactions:?}");
        assert_eq!(
            (
                reactions[0].channel.as_str(),
                reactions[0].timestamp.as_str(),
                reactions[0].name.as_str()
            ),
            (CHANNEL, self.root.as_str(), "eyes"),
            "👀 on the mention"
        );
        let status = &self.slack.bot_messages()[0];
        assert_eq!(
            status.thread_ts.as_deref(),
            Some(self.root.as_str()),
            "the status is a reply in the mention's thread"
        );
        let post = &self.slack.requests_to("chat.postMessage")[0];
        assert_eq!(
            post.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }

    fn status_texts(&self) -> Vec<String> {
        self.slack.bot_messages().into_iter().map(|m| m.text).collect()
    }

    fn status_edits(&self) -> usize {
        self.slack.requests_to("chat.update").len()
    }
}

super::scenarios!(Slack);

impl<D: Deployment> Slack<D> {
    /// A click on the Stop button of the status message `status` by `user`, as Slack posts it to the events URL:
    /// a form with the `block_actions` payload, signed with `secret`.
    fn click(&self, status: &FakeMessage, user: &str, action_ts: &str, secret: &str) -> Delivery {
        let button = &status
            .blocks
            .iter()
            .find(|b| b["type"] == "actions")
            .expect("a Stop button")["elements"][0];
        self.click_valued(status, user, action_ts, secret, &button["value"])
    }

    /// [`Slack::click`] on a button carrying `value` (a run's conversation id).
    fn click_valued(
        &self,
        status: &FakeMessage,
        user: &str,
        action_ts: &str,
        secret: &str,
        value: &Value,
    ) -> Delivery {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": user, "username": "alice", "name": "alice", "team_id": TEAM},
            "api_app_id": "A0HOOKLN1",
            "container": {"type": "message", "message_ts": status.ts, "channel_id": CHANNEL,
                          "is_ephemeral": false, "thread_ts": self.root},
            "trigger_id": "1.2.abc",
            "team": {"id": TEAM, "domain": "hookline"},
            "channel": {"id": CHANNEL, "name": "general"},
            "message": {"type": "message", "user": BOT, "bot_id": "B0BOT0001", "text": status.text,
                        "ts": status.ts, "thread_ts": self.root},
            "actions": [{"action_id": hookline::slack::STOP_ACTION_ID, "block_id": "stop", "type": "button",
                         "value": value, "action_ts": action_ts}],
        });
        signed(
            Delivery::new(format!("/webhooks/slack/{TEAM}"), interaction_form(&payload))
                .with_header("content-type", "application/x-www-form-urlencoded"),
            secret,
            SystemClock.now_secs(),
        )
    }
}

/// GIVEN a running run with its Stop button WHEN forged clicks come, then the person's own THEN the forgeries are
/// 401 and queue nothing, the click is acknowledged 200 with an empty body, the agent is interrupted and the
/// status message says who stopped it, its button gone. On both hosts.
async fn the_stop_button_round_trip<D: Deployment>() {
    let rig = Slack::<D>::start().await;
    let world = rig.world();
    let conversation_id = super::start_run(&rig).await;
    let status = rig.slack.bot_messages()[0].clone();
    assert_eq!(status.buttons(), [hookline::slack::STOP_ACTION_ID]);
    let action_ts = format!("{}.000900", SystemClock.now_secs());

    let genuine = rig.click(&status, ALICE, &action_ts, SIGNING_SECRET);
    let mut tampered = genuine.clone();
    tampered.body.extend_from_slice(b"&x=1");
    let other_team = rig.click(&status, ALICE, &action_ts, OTHER_SECRET);
    for (what, forged) in [("tampered", tampered), ("another team's secret", other_team)] {
        assert_eq!(world.post(&forged).await.0, 401, "{what}");
    }
    assert_eq!(world.queue_depth().await, 0, "nothing queued");

    // A button of another run (an older message's) stops nothing here.
    let other_run = json!("0123456789abcdef0123456789abcdef");
    let stale = rig.click_valued(
        &status,
        ALICE,
        &format!("{}.000800", SystemClock.now_secs()),
        SIGNING_SECRET,
        &other_run,
    );
    assert_eq!(world.post(&stale).await, (200, String::new()));
    world.pump().await;
    assert!(
        !super::interrupted(world, &conversation_id),
        "another run's button"
    );
    let ephemerals = rig.slack.ephemerals();
    assert!(
        ephemerals
            .last()
            .is_some_and(|e| e.text.contains("nothing to stop")),
        "{ephemerals:?}"
    );

    assert_eq!(world.post(&genuine).await, (200, String::new()));
    world.pump().await;
    assert!(
        super::interrupted(world, &conversation_id),
        "the agent was interrupted"
    );
    let status = &rig.slack.bot_messages()[0];
    assert!(status.text.contains("Stopped by"), "{}", status.text);
    assert!(
        status.buttons().is_empty(),
        "the button is gone: {:?}",
        status.blocks
    );
}

#[tokio::test]
async fn the_stop_button_round_trip_on_lambda() {
    the_stop_button_round_trip::<crate::lambda_world::World>().await;
}

#[tokio::test]
async fn the_stop_button_round_trip_on_the_local_host() {
    the_stop_button_round_trip::<super::deployment::LocalHost>().await;
}
