//! Jira Cloud on the Lambda handlers: `comment_created` webhooks on `/webhooks/jira/<site>` signed with the
//! site's secret (`X-Hub-Signature: sha256=…`), retried by Jira under the same
//! `X-Atlassian-Webhook-Identifier` with `X-Atlassian-Webhook-Retry`.

use std::sync::{
    atomic::{AtomicU32, Ordering},
    Arc,
};

use hookline::{clock::SystemClock, domain::Provider, verify::sign_hex};
use hookline_tests::fake_jira::{
    adf_mentioning_the_bot, adf_text, FakeIssue, FakeJira, FAKE_API_TOKEN, FAKE_BOT_ACCOUNT_ID, FAKE_EMAIL,
};
use serde_json::{json, Value};

use super::{json_delivery, Deployment, Rig, StartFacts, FOLLOW_UP, REQUEST};
use crate::lambda_world::{body_of, owned, unique, Delivery, Wiring};

const SITE: &str = "acme";
const OTHER_SITE: &str = "beta";
const SECRET: &str = "acme-jira-lambda-secret";
const OTHER_SECRET: &str = "beta-jira-lambda-secret";
const MIA: &str = "5b10ac8d82e05b22cc7d4ef5";
const BEN: &str = "5b10ac8d82e05b22cc7d4ef6";
const ISSUE_ID: &str = "10042";

pub struct Jira<D> {
    world: D,
    jira: FakeJira,
    next_comment: AtomicU32,
}

impl<D: Deployment> Jira<D> {
    /// A new comment by Mia mentioning the bot with the mention picker, as its signed `comment_created`.
    fn comment(&self, delivery: &str, text: &str) -> Delivery {
        self.comment_by(mia(), delivery, text)
    }

    /// The same by `author` (a Jira user object).
    fn comment_by(&self, author: Value, delivery: &str, text: &str) -> Delivery {
        let comment_id = 30_001 + self.next_comment.fetch_add(1, Ordering::SeqCst);
        let body = adf_mentioning_the_bot(&format!(" {text}"));
        let payload = json!({
            "timestamp": 1_714_478_400_000u64,
            "webhookEvent": "comment_created",
            "comment": {"id": comment_id.to_string(), "body": body, "author": author,
                        "created": "2024-04-30T12:00:00.000+0000"},
            "issue": {"id": ISSUE_ID, "key": "PROJ-7",
                      "fields": {"project": {"key": "PROJ"}, "summary": "Crash on save"}}
        });
        webhook(&payload, delivery)
    }
}

fn mia() -> Value {
    json!({"accountId": MIA, "displayName": "Mia Krystof", "accountType": "atlassian"})
}

/// `payload` as Jira posts it to [`SITE`]'s route, with the webhook `identifier`, signed with [`SECRET`].
fn webhook(payload: &Value, identifier: impl Into<String>) -> Delivery {
    let delivery = json_delivery(
        format!("/webhooks/jira/{SITE}"),
        body_of(payload),
        "Atlassian Webhook HTTP Client",
    )
    .with_header("x-atlassian-webhook-identifier", identifier);
    signed(delivery, SECRET)
}

/// `delivery` with Jira's signature header for `secret`.
fn signed(delivery: Delivery, secret: &str) -> Delivery {
    let signature = format!("sha256={}", sign_hex(secret.as_bytes(), &delivery.body));
    delivery.with_header("x-hub-signature", signature)
}

impl<D: Deployment> Rig for Jira<D> {
    type Host = D;

    const PULL_REQUEST: &'static str = "https://github.com/octo-org/hello/pull/99";

    async fn start() -> Self {
        let jira = FakeJira::start(Arc::new(SystemClock)).await;
        jira.add_issue(FakeIssue::crash_on_save(ISSUE_ID));
        let world = D::start(|prefix| {
            let secrets = format!("{prefix}/jira");
            Wiring {
                settings: owned(&[
                    ("JIRA_TENANTS", &format!("{SITE},{OTHER_SITE}")),
                    ("JIRA_SECRET_PREFIX", &secrets),
                    ("JIRA_ACME_URL", jira.url()),
                    ("JIRA_ACME_BOT_ACCOUNT_ID", FAKE_BOT_ACCOUNT_ID),
                    ("JIRA_ACME_REPOS", "PROJ=octo-org/hello"),
                    ("JIRA_BETA_URL", jira.url()),
                    ("JIRA_BETA_BOT_ACCOUNT_ID", FAKE_BOT_ACCOUNT_ID),
                    ("JIRA_TRANSITION_STARTED", "Start work"),
                ]),
                secrets: owned(&[
                    (&format!("{secrets}/{SITE}/webhook-secret"), SECRET),
                    (&format!("{secrets}/{SITE}/email"), FAKE_EMAIL),
                    (&format!("{secrets}/{SITE}/api-token"), FAKE_API_TOKEN),
                    (&format!("{secrets}/{OTHER_SITE}/webhook-secret"), OTHER_SECRET),
                    (&format!("{secrets}/{OTHER_SITE}/email"), FAKE_EMAIL),
                    (&format!("{secrets}/{OTHER_SITE}/api-token"), FAKE_API_TOKEN),
                ]),
            }
        })
        .await;
        world.link(Provider::Jira, SITE, MIA, "mia").await;
        world.link(Provider::Jira, SITE, BEN, "ben").await;
        Jira {
            world,
            jira,
            next_comment: AtomicU32::new(0),
        }
    }

    fn world(&self) -> &D {
        &self.world
    }

    fn trigger(&self) -> Delivery {
        self.comment("wh-trigger", REQUEST)
    }

    fn redelivery(&self, delivery: &Delivery, attempt: u32) -> Delivery {
        // Jira retries with the same identifier and body, counting its retries.
        delivery
            .clone()
            .with_header("x-atlassian-webhook-retry", attempt.to_string())
    }

    fn replay(&self, delivery: &Delivery) -> Delivery {
        delivery
            .clone()
            .with_header("x-atlassian-webhook-identifier", unique("wh-replay"))
    }

    fn follow_up(&self) -> Delivery {
        self.comment("wh-follow-up", FOLLOW_UP)
    }

    fn follow_up_by_someone_else(&self) -> Delivery {
        let ben = json!({"accountId": BEN, "displayName": "Ben Ortiz", "accountType": "atlassian"});
        self.comment_by(ben, "wh-ben", FOLLOW_UP)
    }

    fn asking(&self, n: u32, text: &str) -> Delivery {
        self.comment(&format!("wh-ask-{n}"), text)
    }

    fn stop(&self) -> Delivery {
        self.comment("wh-stop", "stop")
    }

    fn stop_by_someone_else(&self) -> Delivery {
        let ben = json!({"accountId": BEN, "displayName": "Ben Ortiz", "accountType": "atlassian"});
        self.comment_by(ben, "wh-ben-stop", "stop")
    }

    fn secrets(&self) -> Vec<String> {
        [SECRET, OTHER_SECRET, FAKE_API_TOKEN].map(str::to_owned).to_vec()
    }

    fn forgeries(&self, trigger: &Delivery) -> Vec<(&'static str, Delivery)> {
        let mut unsigned = trigger.clone();
        unsigned.headers.retain(|(name, _)| name != "x-hub-signature");
        let mut other_site = trigger.clone();
        other_site.path = format!("/webhooks/jira/{OTHER_SITE}");
        vec![
            ("the other site's secret", signed(trigger.clone(), OTHER_SECRET)),
            ("this site's secret on the other site", other_site),
            ("a guessed secret", signed(trigger.clone(), "guess")),
            ("no signature", unsigned),
        ]
    }

    fn start_facts(&self) -> StartFacts {
        StartFacts {
            repository: "octo-org/hello",
            git_provider: "github",
            trigger: "jira",
            title: "Jira Issue PROJ-7: Crash on save".to_owned(),
        }
    }

    fn assert_acknowledged(&self) {
        // Jira has no reactions: the work is acknowledged by moving the issue and by the status comment.
        let issue = self.jira.issue(ISSUE_ID).expect("issue");
        assert_eq!(issue.status, "In Progress", "moved by the started transition");
        let status = &self.jira.bot_comments()[0];
        assert_eq!(status.issue_id, ISSUE_ID);
        let marker = &status.properties["hookline"]["marker"];
        assert!(marker.as_str().is_some_and(|m| m.starts_with("run:")), "{marker}");
        let post = &self
            .jira
            .requests_to("POST", &format!("/rest/api/3/issue/{ISSUE_ID}/comment"))[0];
        assert!(post
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")));
    }

    /// Each comment's text, then its ADF document: the conversation link lives in a link mark, not the text.
    fn status_texts(&self) -> Vec<String> {
        self.jira
            .bot_comments()
            .iter()
            .map(|c| format!("{}\n{}", adf_text(&c.body), c.body))
            .collect()
    }

    fn status_edits(&self) -> usize {
        self.jira
            .requests_to("PUT", &format!("/rest/api/3/issue/{ISSUE_ID}/comment/"))
            .len()
    }
}

super::scenarios!(Jira);

impl<D: Deployment> super::Opens for Jira<D> {
    fn opened(&self) -> Delivery {
        let description = adf_mentioning_the_bot(&format!(" {REQUEST}"));
        let payload = json!({
            "timestamp": 1_714_478_400_000u64,
            "webhookEvent": "jira:issue_created",
            "user": mia(),
            "issue": {"id": ISSUE_ID, "key": "PROJ-7", "fields": {"project": {"key": "PROJ"},
                      "summary": "Crash on save", "labels": [], "description": description}}
        });
        webhook(&payload, "wh-opened")
    }
}

impl<D: Deployment> super::Assigns for Jira<D> {
    fn assigned(&self, n: u32, to_the_bot: bool) -> Delivery {
        let to = if to_the_bot { FAKE_BOT_ACCOUNT_ID } else { BEN };
        let payload = json!({
            "timestamp": 1_714_478_400_000u64,
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_assigned",
            "user": mia(),
            "issue": {"id": ISSUE_ID, "key": "PROJ-7", "fields": {"project": {"key": "PROJ"},
                      "summary": "Crash on save", "labels": []}},
            "changelog": {"id": (10_200 + n).to_string(), "items": [
                {"field": "assignee", "fieldtype": "jira", "fieldId": "assignee", "from": null,
                 "fromString": null, "to": to, "toString": "Someone"}
            ]}
        });
        webhook(&payload, format!("wh-assigned-{n}"))
    }
}

super::item_scenarios!(Jira);
