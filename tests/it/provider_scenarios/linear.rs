//! Linear on the Lambda handlers: `Comment` `create` webhooks on `/webhooks/linear/<tenant>` signed with the
//! tenant's secret (`Linear-Signature`, hex HMAC of the body), retried by Linear under the same
//! `Linear-Delivery`.

use std::sync::atomic::{AtomicU32, Ordering};

use hookline::{
    clock::{Clock, SystemClock},
    domain::Provider,
    linear::client::status_comment_id,
    verify::sign_hex,
};
use hookline_tests::fake_linear::{FakeIssue, FakeLinear, FakeWorkflowState};
use serde_json::json;

use super::{json_delivery, Deployment, Rig, StartFacts, FOLLOW_UP, REQUEST};
use crate::lambda_world::{body_of, owned, unique, Delivery, Wiring};

/// `LINEAR_<TENANT>_<setting>`.
fn tenant_var(tenant: &str, setting: &str) -> String {
    format!("LINEAR_{}_{setting}", hookline::config::tenant_key(tenant))
}

const ORG: &str = "org-acme";
const OTHER_ORG: &str = "org-globex";
const SECRET: &str = "lin-lambda-acme-secret";
const OTHER_SECRET: &str = "lin-lambda-globex-secret";
const API_KEY: &str = "lin_api_lambda_key";
const BOT: &str = "user-hookline-bot";
const ALICE: &str = "user-alice";
const BOB: &str = "user-bob";
const ISSUE: &str = "issue-eng-7";
const TRIGGER_COMMENT: &str = "c-1";

/// This test's tenant, and a second one whose secret must not open it (names unique per test).
fn tenants(prefix: &str) -> (String, String) {
    (prefix.to_owned(), format!("{prefix}-other"))
}

pub struct Linear<D> {
    world: D,
    linear: FakeLinear,
    tenant: String,
    other_tenant: String,
    next_comment: AtomicU32,
}

impl<D: Deployment> Linear<D> {
    /// A new comment by alice on the issue, seeded in the fake, as its signed webhook.
    fn comment(&self, delivery: &str, text: &str) -> Delivery {
        self.comment_by((ALICE, "alice"), delivery, text)
    }

    /// `payload` as Linear delivers a `linear_event` webhook, signed.
    fn webhook(&self, payload: &serde_json::Value, linear_event: &str, delivery: &str) -> Delivery {
        signed(
            json_delivery(
                format!("/webhooks/linear/{}", self.tenant),
                body_of(payload),
                "Linear-Webhook",
            )
            .with_header("linear-event", linear_event)
            .with_header("linear-delivery", delivery),
            SECRET,
        )
    }

    /// The same by `author` (user id, name).
    fn comment_by(&self, (user, name): (&str, &str), delivery: &str, text: &str) -> Delivery {
        let comment_id = format!("c-{}", 1 + self.next_comment.fetch_add(1, Ordering::SeqCst));
        let body = format!("@openhands {text}");
        let payload = self.linear.comment_webhook(
            ORG,
            ISSUE,
            &comment_id,
            (user, name),
            &body,
            SystemClock.now_secs(),
        );
        self.webhook(&payload, "Comment", delivery)
    }
}

/// `delivery` with Linear's signature header for `secret`.
fn signed(delivery: Delivery, secret: &str) -> Delivery {
    let signature = sign_hex(secret.as_bytes(), &delivery.body);
    delivery.with_header("linear-signature", signature)
}

impl<D: Deployment> Rig for Linear<D> {
    type Host = D;

    const PULL_REQUEST: &'static str = "https://github.com/octo-org/hello/pull/5";

    async fn start() -> Self {
        let linear = FakeLinear::start().await;
        linear.add_api_key(API_KEY, BOT, "Hookline");
        linear.add_user(ALICE, "alice");
        linear.add_user(BOB, "bob");
        linear.add_team(
            "team-eng",
            vec![
                FakeWorkflowState::new("s-todo", "Todo", "unstarted", 1.0),
                FakeWorkflowState::new("s-progress", "In Progress", "started", 2.0),
                FakeWorkflowState::new("s-done", "Done", "completed", 4.0),
            ],
        );
        linear.add_issue(FakeIssue {
            id: ISSUE.into(),
            identifier: "ENG-7".into(),
            title: "Crash on save".into(),
            description: "Saving twice panics.".into(),
            team_id: "team-eng".into(),
            state_id: "s-todo".into(),
            creator_name: "bob".into(),
        });
        let world = D::start(|prefix| {
            let (tenant, other) = tenants(prefix);
            Wiring {
                settings: owned(&[
                    ("LINEAR_TENANTS", &format!("{tenant},{other}")),
                    (&tenant_var(&tenant, "ORGANIZATION_ID"), ORG),
                    (&tenant_var(&tenant, "BOT_USER_ID"), BOT),
                    (&tenant_var(&other, "ORGANIZATION_ID"), OTHER_ORG),
                    (&tenant_var(&other, "BOT_USER_ID"), "user-globex-bot"),
                    ("LINEAR_API_URL", &linear.graphql_url()),
                    ("LINEAR_REPOS", "ENG=octo-org/hello"),
                ]),
                secrets: owned(&[
                    (&format!("linear/{tenant}/webhook-secret"), SECRET),
                    (&format!("linear/{tenant}/api-key"), API_KEY),
                    (&format!("linear/{other}/webhook-secret"), OTHER_SECRET),
                    (&format!("linear/{other}/api-key"), "lin_api_globex"),
                ]),
            }
        })
        .await;
        let (tenant, other_tenant) = tenants(world.prefix());
        world.link(Provider::Linear, &tenant, ALICE, "alice").await;
        world.link(Provider::Linear, &tenant, BOB, "bob").await;
        Linear {
            world,
            linear,
            tenant,
            other_tenant,
            next_comment: AtomicU32::new(0),
        }
    }

    fn world(&self) -> &D {
        &self.world
    }

    fn trigger(&self) -> Delivery {
        self.comment("ld-trigger", REQUEST)
    }

    fn replay(&self, delivery: &Delivery) -> Delivery {
        delivery
            .clone()
            .with_header("linear-delivery", unique("ld-replay"))
    }

    fn follow_up(&self) -> Delivery {
        self.comment("ld-follow-up", FOLLOW_UP)
    }

    fn follow_up_by_someone_else(&self) -> Delivery {
        self.comment_by((BOB, "bob"), "ld-bob", FOLLOW_UP)
    }

    fn asking(&self, n: u32, text: &str) -> Delivery {
        self.comment(&format!("ld-ask-{n}"), text)
    }

    fn stop(&self) -> Delivery {
        self.comment("ld-stop", "stop")
    }

    fn stop_by_someone_else(&self) -> Delivery {
        self.comment_by((BOB, "bob"), "ld-bob-stop", "stop")
    }

    fn secrets(&self) -> Vec<String> {
        [SECRET, OTHER_SECRET, API_KEY].map(str::to_owned).to_vec()
    }

    fn forgeries(&self, trigger: &Delivery) -> Vec<(&'static str, Delivery)> {
        let mut unsigned = trigger.clone();
        unsigned.headers.retain(|(name, _)| name != "linear-signature");
        let mut other_route = trigger.clone();
        other_route.path = format!("/webhooks/linear/{}", self.other_tenant);
        let mut tampered = trigger.clone();
        tampered.body.push(b' ');
        vec![
            ("the other tenant's secret", signed(trigger.clone(), OTHER_SECRET)),
            (
                "the other tenant's route and secret for this organization's event",
                signed(other_route, OTHER_SECRET),
            ),
            ("a body changed after signing", tampered),
            ("no signature", unsigned),
        ]
    }

    fn start_facts(&self) -> StartFacts {
        StartFacts {
            repository: "octo-org/hello",
            git_provider: "github",
            trigger: "linear",
            title: "Linear Issue ENG-7: Crash on save".to_owned(),
        }
    }

    fn assert_acknowledged(&self) {
        let reactions = self.linear.reactions();
        assert_eq!(reactions.len(), 1, "{reactions:?}");
        assert_eq!(
            (reactions[0].comment_id.as_deref(), reactions[0].emoji.as_str()),
            (Some(TRIGGER_COMMENT), "eyes"),
            "👀 on the triggering comment"
        );
        let status = &self.linear.comments_by(BOT)[0];
        assert_eq!(
            status.parent_id.as_deref(),
            Some(TRIGGER_COMMENT),
            "the status is a reply to the trigger"
        );
        let conversation_id = &self.world.openhands().starts()[0].conversation_id;
        assert_eq!(
            status.id,
            status_comment_id(&self.tenant, ISSUE, &format!("run:{conversation_id}"))
        );
        assert_eq!(
            self.linear.issue(ISSUE).expect("issue").state_id,
            "s-progress",
            "work began: moved to the first started state"
        );
        assert!(self
            .linear
            .requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(API_KEY)));
    }

    fn status_texts(&self) -> Vec<String> {
        self.linear.comments_by(BOT).into_iter().map(|c| c.body).collect()
    }

    fn status_edits(&self) -> usize {
        self.linear.requests_for("commentUpdate").len()
    }
}

super::scenarios!(Linear);

impl<D: Deployment> super::Opens for Linear<D> {
    fn opened(&self) -> Delivery {
        let now = SystemClock.now_secs();
        let payload = json!({
            "action": "create",
            "type": "Issue",
            "actor": {"id": ALICE, "type": "user", "name": "alice"},
            "createdAt": "2026-12-02T10:00:00.000Z",
            "data": {
                "id": ISSUE, "identifier": "ENG-7", "title": "Crash on save",
                "description": format!("@openhands {REQUEST}"),
                "team": {"id": "team-eng", "key": "ENG"}, "labelIds": [], "labels": [],
                "botActor": null, "url": "https://linear.app/acme/issue/ENG-7",
                "createdAt": "2026-12-02T10:00:00.000Z", "updatedAt": "2026-12-02T10:00:00.000Z"
            },
            "url": "https://linear.app/acme/issue/ENG-7",
            "organizationId": ORG,
            "webhookId": "wh-acme",
            "webhookTimestamp": now * 1000,
        });
        self.webhook(&payload, "Issue", "ld-opened")
    }
}

impl<D: Deployment> super::Assigns for Linear<D> {
    fn assigned(&self, n: u32, to_the_bot: bool) -> Delivery {
        let now = SystemClock.now_secs();
        let to = if to_the_bot { BOT } else { BOB };
        let updated_at = format!("2026-12-02T10:{n:02}:00.000Z");
        let payload = json!({
            "action": "update",
            "type": "Issue",
            "actor": {"id": ALICE, "type": "user", "name": "alice"},
            "createdAt": updated_at,
            "data": {
                "id": ISSUE, "identifier": "ENG-7", "title": "Crash on save",
                "description": "Saving twice panics.", "assigneeId": to,
                "team": {"id": "team-eng", "key": "ENG"}, "labelIds": [], "labels": [],
                "botActor": null, "url": "https://linear.app/acme/issue/ENG-7",
                "createdAt": "2026-12-02T09:00:00.000Z", "updatedAt": updated_at
            },
            "updatedFrom": {"assigneeId": null, "updatedAt": "2026-12-02T09:00:00.000Z"},
            "url": "https://linear.app/acme/issue/ENG-7",
            "organizationId": ORG,
            "webhookId": "wh-acme",
            "webhookTimestamp": now * 1000,
        });
        self.webhook(&payload, "Issue", &format!("ld-assigned-{n}"))
    }
}

super::item_scenarios!(Linear);
