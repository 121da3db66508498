//! GitHub: a label added to an issue on `/webhooks/github`, signed with `X-Hub-Signature-256`, redelivered by
//! GitHub under the same `X-GitHub-Delivery`; the follow-up is a comment mentioning the App on the same issue.

use hookline::{domain::Provider, verify::sign_hex};
use hookline_tests::{
    fake_github::{
        test_app_private_key_pem, test_app_public_key_pem, FakeGithub, FakeGithubOptions, ReactionTarget,
        FAKE_APP_ID, FAKE_APP_SLUG,
    },
    harness::{issue_comment, labeled, user, ALICE_ID, REPO, WEBHOOK_SECRET},
};

use super::{json_delivery, Deployment, Rig, StartFacts, FOLLOW_UP, REQUEST};
use crate::lambda_world::{body_of, owned, unique, Delivery, Wiring};

const ISSUE: u64 = 7;
const FOLLOW_UP_COMMENT: u64 = 9001;
const BOB_ID: u64 = 4343;
const STOP_COMMENT: u64 = 9101;
const ASK_COMMENT: u64 = 9200;
/// The assignable machine user (`GITHUB_ASSIGNEE`).
const MACHINE: &str = "hookline-machine";

pub struct Github<D> {
    world: D,
    github: FakeGithub,
}

/// The App's settings against `github`, with its secrets under `<prefix>/github`.
pub fn wiring(prefix: &str, github: &FakeGithub, webhook_secret: &str) -> Wiring {
    let secret_prefix = format!("{prefix}/github");
    Wiring {
        settings: owned(&[
            ("GITHUB_TENANTS", "github.com"),
            ("GITHUB_APP_ID", FAKE_APP_ID),
            ("GITHUB_APP_SLUG", FAKE_APP_SLUG),
            ("GITHUB_API_URL", github.url()),
            ("GITHUB_SECRET_PREFIX", &secret_prefix),
            ("GITHUB_ASSIGNEE", MACHINE),
        ]),
        secrets: owned(&[
            (&format!("{secret_prefix}/webhook-secret"), webhook_secret),
            (
                &format!("{secret_prefix}/private-key"),
                test_app_private_key_pem(),
            ),
        ]),
    }
}

/// A delivery as GitHub sends it, signed with `secret`.
pub fn delivery(event: &str, id: &str, body: Vec<u8>, secret: &str) -> Delivery {
    let signature = format!("sha256={}", sign_hex(secret.as_bytes(), &body));
    json_delivery("/webhooks/github", body, "GitHub-Hookshot/test")
        .with_header("x-github-event", event)
        .with_header("x-github-delivery", id)
        .with_header("x-hub-signature-256", signature)
}

impl<D: Deployment> Rig for Github<D> {
    type Host = D;

    const PULL_REQUEST: &'static str = "https://github.com/octo-org/hello/pull/12";

    async fn start() -> Self {
        let github = FakeGithub::start_with(FakeGithubOptions::new(test_app_public_key_pem())).await;
        github.set_role("alice", "write");
        github.set_role("bob", "write");
        let world = D::start(|prefix| wiring(prefix, &github, WEBHOOK_SECRET)).await;
        world
            .link(Provider::Github, "github.com", &ALICE_ID.to_string(), "alice")
            .await;
        world
            .link(Provider::Github, "github.com", &BOB_ID.to_string(), "bob")
            .await;
        Github { world, github }
    }

    fn world(&self) -> &D {
        &self.world
    }

    fn trigger(&self) -> Delivery {
        // The label is the trigger; the request is the issue's own text plus what alice asks in it.
        let mut payload = labeled(ISSUE, "openhands", user("alice", ALICE_ID));
        payload["issue"]["body"] = serde_json::json!(REQUEST);
        delivery("issues", "d-trigger", body_of(&payload), WEBHOOK_SECRET)
    }

    fn replay(&self, delivery: &Delivery) -> Delivery {
        delivery
            .clone()
            .with_header("x-github-delivery", unique("d-replay"))
    }

    fn follow_up(&self) -> Delivery {
        let text = format!("@openhands {FOLLOW_UP}");
        let payload = issue_comment(ISSUE, FOLLOW_UP_COMMENT, &text, user("alice", ALICE_ID), false);
        delivery("issue_comment", "d-follow-up", body_of(&payload), WEBHOOK_SECRET)
    }

    fn follow_up_by_someone_else(&self) -> Delivery {
        let text = format!("@openhands {FOLLOW_UP}");
        let payload = issue_comment(ISSUE, FOLLOW_UP_COMMENT + 1, &text, user("bob", BOB_ID), false);
        delivery("issue_comment", "d-bob", body_of(&payload), WEBHOOK_SECRET)
    }

    fn asking(&self, n: u32, text: &str) -> Delivery {
        let text = format!("@openhands {text}");
        let payload = issue_comment(
            ISSUE,
            ASK_COMMENT + u64::from(n),
            &text,
            user("alice", ALICE_ID),
            false,
        );
        delivery(
            "issue_comment",
            &format!("d-ask-{n}"),
            body_of(&payload),
            WEBHOOK_SECRET,
        )
    }

    fn stop(&self) -> Delivery {
        let payload = issue_comment(
            ISSUE,
            STOP_COMMENT,
            "@openhands stop",
            user("alice", ALICE_ID),
            false,
        );
        delivery("issue_comment", "d-stop", body_of(&payload), WEBHOOK_SECRET)
    }

    fn stop_by_someone_else(&self) -> Delivery {
        let payload = issue_comment(
            ISSUE,
            STOP_COMMENT + 1,
            "@openhands stop",
            user("bob", BOB_ID),
            false,
        );
        delivery("issue_comment", "d-bob-stop", body_of(&payload), WEBHOOK_SECRET)
    }

    fn secrets(&self) -> Vec<String> {
        // The installation token the fake minted, and the App's private key (any of its lines).
        let key_line = test_app_private_key_pem()
            .lines()
            .nth(2)
            .expect("a key line")
            .to_owned();
        vec![WEBHOOK_SECRET.to_owned(), "ghs_fake_1".to_owned(), key_line]
    }

    fn forgeries(&self, trigger: &Delivery) -> Vec<(&'static str, Delivery)> {
        let mut missing = trigger.clone();
        missing.headers.retain(|(name, _)| name != "x-hub-signature-256");
        let mut tampered = trigger.clone();
        tampered.body.extend_from_slice(b" ");
        vec![
            (
                "another secret",
                delivery(
                    "issues",
                    "d-trigger",
                    trigger.body.clone(),
                    "not-the-webhook-secret",
                ),
            ),
            ("a tampered body", tampered),
            ("no signature", missing),
        ]
    }

    fn start_facts(&self) -> StartFacts {
        StartFacts {
            repository: REPO,
            git_provider: "github",
            trigger: "resolver",
            title: format!("GitHub Issue #{ISSUE}: Crash when config is empty"),
        }
    }

    fn assert_acknowledged(&self) {
        let reactions = self.github.reactions();
        assert_eq!(reactions.len(), 1, "{reactions:?}");
        assert_eq!(reactions[0].content, "eyes");
        assert_eq!(
            reactions[0].target,
            ReactionTarget::Issue {
                repo: REPO.into(),
                number: ISSUE
            },
            "👀 on the labeled issue"
        );
    }

    fn status_texts(&self) -> Vec<String> {
        self.github.bot_comments().into_iter().map(|c| c.body).collect()
    }

    fn status_edits(&self) -> usize {
        self.github
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH" && r.path.contains("/issues/comments/"))
            .count()
    }
}

super::scenarios!(Github);

impl<D: Deployment> super::Opens for Github<D> {
    fn opened(&self) -> Delivery {
        let mut payload = labeled(ISSUE, "openhands", user("alice", ALICE_ID));
        payload["action"] = serde_json::json!("opened");
        payload.as_object_mut().expect("an object").remove("label");
        payload["issue"]["body"] = serde_json::json!(format!("@openhands {REQUEST}"));
        payload["issue"]["created_at"] = serde_json::json!("2026-12-02T10:00:00Z");
        delivery("issues", "d-opened", body_of(&payload), WEBHOOK_SECRET)
    }
}

impl<D: Deployment> super::Assigns for Github<D> {
    fn assigned(&self, n: u32, to_the_bot: bool) -> Delivery {
        let assignee = if to_the_bot { MACHINE } else { "bob" };
        let mut payload = labeled(ISSUE, "openhands", user("alice", ALICE_ID));
        payload["action"] = serde_json::json!("assigned");
        payload.as_object_mut().expect("object").remove("label");
        payload["assignee"] = user(assignee, 9001);
        payload["issue"]["assignees"] = serde_json::json!([user(assignee, 9001)]);
        payload["issue"]["created_at"] = serde_json::json!("2026-11-30T08:00:00Z");
        payload["issue"]["updated_at"] = serde_json::json!(format!("2026-11-30T09:{n:02}:00Z"));
        delivery(
            "issues",
            &format!("d-assigned-{n}"),
            body_of(&payload),
            WEBHOOK_SECRET,
        )
    }
}

super::item_scenarios!(Github);

/// GIVEN the webhook function with its secret cached from Secrets Manager WHEN the secret is rotated and GitHub
/// signs with the new one THEN the first such delivery is accepted at once (a mismatch re-reads the secret);
/// a second rotation within the minute is not re-read again, so forged signatures cannot make every request
/// cost a Secrets Manager call.
#[tokio::test]
async fn a_rotated_secret_is_picked_up_at_the_first_mismatch_and_re_read_at_most_once_a_minute() {
    let github = FakeGithub::start_with(FakeGithubOptions::new(test_app_public_key_pem())).await;
    let world = crate::lambda_world::World::start(|prefix| wiring(prefix, &github, WEBHOOK_SECRET)).await;
    let name = format!("{}/github/webhook-secret", world.prefix);
    let sm = aws_sdk_secretsmanager::Client::new(&world.sdk);
    let rotate = |value: &'static str| sm.put_secret_value().secret_id(&name).secret_string(value).send();
    let body = body_of(&labeled(ISSUE, "bug", user("alice", ALICE_ID)));
    let signed = |id: &str, secret: &str| delivery("issues", id, body.clone(), secret);

    assert_eq!(
        world.post(&signed("d-rot-1", WEBHOOK_SECRET)).await.0,
        202,
        "the secret is now cached"
    );
    rotate("rotated-once").await.expect("rotate");
    assert_eq!(
        world.post(&signed("d-rot-2", "rotated-once")).await.0,
        202,
        "re-read at the mismatch"
    );
    rotate("rotated-twice").await.expect("rotate");
    assert_eq!(
        world.post(&signed("d-rot-3", "rotated-twice")).await.0,
        401,
        "not re-read again within the minute"
    );
    assert_eq!(world.post(&signed("d-rot-4", "rotated-once")).await.0, 202);
}
