//! The two hosts the provider scenarios run on, behind one [`Deployment`]: the Lambda functions' handlers on moto
//! ([`World`]) and the local host on its embedded store and queue ([`LocalHost`]).

use hookline::domain::Provider;
use hookline_tests::{
    fake_openhands::{post_conversation_info, post_events, FakeOpenHands},
    harness::{status_and_text, Harness, HarnessOptions},
};
use serde_json::Value;

use crate::lambda_world::{status_of, unique, Delivery, Wiring, World};

/// A running Hookline with one provider's settings, the fake OpenHands behind it, and a way to play the
/// provider's deliveries and the agent server's callbacks into it.
pub trait Deployment: Sized {
    /// Start with the settings and secrets `wire` gives for this test's unique name.
    async fn start(wire: impl FnOnce(&str) -> Wiring) -> Self;
    /// This test's unique name (tenants and secret prefixes are made from it).
    fn prefix(&self) -> &str;
    fn openhands(&self) -> &FakeOpenHands;
    /// Link a provider identity to the OpenHands identity whose key the fake OpenHands expects.
    async fn link(&self, provider: Provider, tenant: &str, user_id: &str, login: &str);
    /// Deliver as the provider does; returns (status, body).
    async fn post(&self, delivery: &Delivery) -> (u16, String);
    /// Let the worker process everything queued.
    async fn pump(&self);
    /// Messages queued or in flight.
    async fn queue_depth(&self) -> usize;
    /// The agent server's callback saying `conversation_id` is now `status`, with its session key; returns the
    /// HTTP status.
    async fn callback(&self, conversation_id: &str, status: &str) -> u16;
    /// The agent server's callback carrying `events` (actions, observations, state updates) of
    /// `conversation_id`, with its session key; returns the HTTP status.
    async fn events(&self, conversation_id: &str, events: Vec<Value>) -> u16;
    /// The same news in the agent server's other callback form, the conversation's info (on Lambda through a
    /// REST API (v1) event).
    async fn conversation_callback(&self, conversation_id: &str, status: &str) -> u16;
    /// Run one sweep; returns how many runs it concluded.
    async fn sweep_concluded(&self) -> u64;

    /// Deliver as the provider does, expect it accepted (202), and let the worker process it.
    async fn accept(&self, delivery: &Delivery) {
        let (status, body) = self.post(delivery).await;
        assert_eq!(status, 202, "{body}");
        self.pump().await;
    }

    /// The agent finishes with `summary` and says so through the callback; asserts the answer is 200.
    async fn finish(&self, conversation_id: &str, summary: &str) {
        self.openhands().set_summary(summary);
        self.openhands().set_execution_status(conversation_id, "finished");
        assert_eq!(self.callback(conversation_id, "finished").await, 200);
    }
}

/// The models people may choose with `model=` in the scenarios.
pub const MODELS: &str = "claude-test,gpt-test";

/// `wiring` with the scenarios' settings every provider shares.
fn shared(mut wiring: Wiring) -> Wiring {
    wiring
        .settings
        .push(("HOOKLINE_MODELS".to_owned(), MODELS.to_owned()));
    wiring
}

impl Deployment for World {
    async fn start(wire: impl FnOnce(&str) -> Wiring) -> Self {
        World::start(|prefix| shared(wire(prefix))).await
    }
    fn prefix(&self) -> &str {
        &self.prefix
    }
    fn openhands(&self) -> &FakeOpenHands {
        &self.openhands
    }
    async fn link(&self, provider: Provider, tenant: &str, user_id: &str, login: &str) {
        World::link(self, provider, tenant, user_id, login).await;
    }
    async fn post(&self, delivery: &Delivery) -> (u16, String) {
        World::post(self, delivery).await
    }
    async fn pump(&self) {
        World::pump(self).await;
    }
    async fn queue_depth(&self) -> usize {
        World::queue_depth(self).await
    }
    async fn callback(&self, conversation_id: &str, status: &str) -> u16 {
        let key = self.openhands().expect_session_key(conversation_id);
        let answer = self.callback_event_v2(conversation_id, status, &key).await;
        u16::try_from(status_of(&answer)).expect("an HTTP status")
    }
    async fn events(&self, conversation_id: &str, events: Vec<Value>) -> u16 {
        let key = self.openhands().expect_session_key(conversation_id);
        let answer = self.callback_events_v2(conversation_id, events, &key).await;
        u16::try_from(status_of(&answer)).expect("an HTTP status")
    }
    async fn conversation_callback(&self, conversation_id: &str, status: &str) -> u16 {
        let key = self.openhands().expect_session_key(conversation_id);
        let answer = self.callback_conversation_v1(conversation_id, status, &key).await;
        u16::try_from(status_of(&answer)).expect("an HTTP status")
    }
    async fn sweep_concluded(&self) -> u64 {
        let report = self.scheduled_sweep().await;
        report["concluded"].as_u64().expect("a sweep report")
    }
}

/// The local host (HTTP, SQLite store and queue) on the system clock. Like the Lambda world, it queues without
/// working until [`Deployment::pump`]: it runs without worker tasks, and a pump works the queue as a worker does
/// ([`hookline_local::Host::drain`]).
pub struct LocalHost {
    harness: Harness,
    prefix: String,
}

impl Deployment for LocalHost {
    async fn start(wire: impl FnOnce(&str) -> Wiring) -> Self {
        let prefix = unique("hl-local");
        let wiring = shared(wire(&prefix));
        let harness = Harness::start_with(HarnessOptions {
            workers: 0,
            extra_env: wiring.settings,
            extra_secrets: wiring.secrets,
            system_clock: true,
            ..Default::default()
        })
        .await;
        LocalHost { harness, prefix }
    }
    fn prefix(&self) -> &str {
        &self.prefix
    }
    fn openhands(&self) -> &FakeOpenHands {
        &self.harness.openhands
    }
    async fn link(&self, provider: Provider, tenant: &str, user_id: &str, login: &str) {
        self.harness.link_to(provider, tenant, user_id, login).await;
    }
    async fn post(&self, delivery: &Delivery) -> (u16, String) {
        let mut request = self
            .harness
            .http
            .post(format!("{}{}", self.harness.url(), delivery.path))
            .body(delivery.body.clone());
        for (name, value) in &delivery.headers {
            request = request.header(name, value);
        }
        status_and_text(request.send().await.expect("the local host answers")).await
    }
    async fn pump(&self) {
        self.harness.host().drain().await;
        self.harness.settle().await;
    }
    async fn queue_depth(&self) -> usize {
        let depth = self.harness.host().queue().depth().expect("queue depth");
        usize::try_from(depth).expect("a count")
    }
    async fn callback(&self, conversation_id: &str, status: &str) -> u16 {
        self.harness.call_back(conversation_id, status).await
    }
    async fn events(&self, conversation_id: &str, events: Vec<Value>) -> u16 {
        let key = self.openhands().expect_session_key(conversation_id);
        post_events(&self.harness.url(), conversation_id, events, &key)
            .await
            .status()
            .as_u16()
    }
    async fn conversation_callback(&self, conversation_id: &str, status: &str) -> u16 {
        let key = self.openhands().expect_session_key(conversation_id);
        post_conversation_info(&self.harness.url(), conversation_id, status, &key)
            .await
            .status()
            .as_u16()
    }
    async fn sweep_concluded(&self) -> u64 {
        let concluded = self.harness.host().sweep_now().await.concluded;
        u64::try_from(concluded).expect("a count")
    }
}
