//! GitLab on the Lambda handlers: note hooks on `/webhooks/gitlab/<tenant>` with `X-Gitlab-Token`, retried by
//! GitLab under the same `Idempotency-Key`.

use hookline::{
    clock::{Clock, SystemClock},
    config::tenant_key,
    domain::Provider,
    gitlab::Noteable,
};
use hookline_tests::fake_gitlab::{hook_timestamp, FakeGitlab, FAKE_BOT_ID, FAKE_BOT_USERNAME};
use serde_json::{json, Value};

use super::{json_delivery, Deployment, Rig, StartFacts, FOLLOW_UP, REQUEST};
use crate::lambda_world::{body_of, owned, unique, Delivery, Wiring};

const TOKEN: &str = "gl-lambda-webhook-token";
const API_TOKEN: &str = "glpat-lambda-api-token";
const OTHER_TOKEN: &str = "gl-lambda-other-webhook-token";
const PROJECT: u64 = 5;
const PROJECT_PATH: &str = "acme/hello";
const ALICE: u64 = 101;
const BOB: u64 = 102;
const ISSUE: u64 = 21;

/// This test's instance, and a second one whose token must not open it (names unique per test).
fn tenants(prefix: &str) -> (String, String) {
    (format!("{prefix}.gitlab.test"), format!("{prefix}.other.test"))
}

pub struct Gitlab<D> {
    world: D,
    gitlab: FakeGitlab,
    tenant: String,
}

impl<D: Deployment> Gitlab<D> {
    /// A note by alice on the issue, seeded in the fake, as its note hook with the token.
    fn note(&self, key: &str, text: &str) -> Delivery {
        self.note_by(("alice", ALICE), key, text)
    }

    /// `payload` as GitLab delivers a `gitlab_event` hook, with the instance's token.
    fn hook(&self, payload: &Value, gitlab_event: &str, key: &str) -> Delivery {
        let path = format!("/webhooks/gitlab/{}", self.tenant);
        json_delivery(path, body_of(payload), "GitLab/17.6.0")
            .with_header("x-gitlab-event", gitlab_event)
            .with_header("x-gitlab-instance", "https://gitlab.example")
            .with_header("idempotency-key", key)
            .with_header("x-gitlab-event-uuid", format!("uuid-{key}"))
            .with_header("x-gitlab-token", TOKEN)
    }

    /// The same by `author` (username, id).
    fn note_by(&self, (username, id): (&str, u64), key: &str, text: &str) -> Delivery {
        let body = format!("@{FAKE_BOT_USERNAME} {text}");
        let (note_id, discussion) = self.gitlab.seed_note(
            PROJECT,
            Noteable::Issue,
            ISSUE,
            username,
            id,
            &body,
            SystemClock.now_secs(),
            None,
        );
        let payload = note_hook((username, id), note_id, &discussion, &body);
        self.gitlab.seed_from_hook(&payload);
        self.hook(&payload, "Note Hook", key)
    }
}

/// A note hook on issue [`ISSUE`] by `username` (the documented shape).
fn note_hook((username, id): (&str, u64), note_id: u64, discussion: &str, body: &str) -> Value {
    let author = json!({"id": id, "name": username, "username": username, "avatar_url": null});
    json!({
        "object_kind": "note", "event_type": "note", "user": author, "project_id": PROJECT,
        "project": {"id": PROJECT, "name": "hello", "path_with_namespace": PROJECT_PATH,
                    "web_url": "https://gitlab.example/acme/hello", "default_branch": "main"},
        "object_attributes": {"id": note_id, "note": body, "author_id": id, "system": false, "internal": false,
            "action": "create", "discussion_id": discussion, "type": null, "noteable_type": "Issue"},
        "issue": {"id": 900 + ISSUE, "iid": ISSUE, "title": "Crash on save",
                  "description": "Saving twice panics.", "state": "opened"},
    })
}

impl<D: Deployment> Rig for Gitlab<D> {
    type Host = D;

    const PULL_REQUEST: &'static str = "https://gitlab.example/acme/hello/-/merge_requests/3";

    async fn start() -> Self {
        let gitlab = FakeGitlab::start(API_TOKEN).await;
        gitlab.set_access_level(PROJECT, ALICE, 30);
        gitlab.set_access_level(PROJECT, BOB, 30);
        let world = D::start(|prefix| {
            let (tenant, other) = tenants(prefix);
            let (ours, theirs) = (
                format!("GITLAB_{}", tenant_key(&tenant)),
                format!("GITLAB_{}", tenant_key(&other)),
            );
            let bot_id = FAKE_BOT_ID.to_string();
            Wiring {
                settings: owned(&[
                    ("GITLAB_TENANTS", &format!("{tenant},{other}")),
                    (&format!("{ours}_URL"), gitlab.url()),
                    (&format!("{ours}_BOT_USERNAME"), FAKE_BOT_USERNAME),
                    (&format!("{ours}_BOT_USER_ID"), &bot_id),
                    (&format!("{theirs}_URL"), gitlab.url()),
                    (&format!("{theirs}_BOT_USERNAME"), FAKE_BOT_USERNAME),
                ]),
                secrets: owned(&[
                    (&format!("gitlab/{tenant}/webhook-token"), TOKEN),
                    (&format!("gitlab/{tenant}/api-token"), API_TOKEN),
                    (&format!("gitlab/{other}/webhook-token"), OTHER_TOKEN),
                    (&format!("gitlab/{other}/api-token"), API_TOKEN),
                ]),
            }
        })
        .await;
        let (tenant, _) = tenants(world.prefix());
        world
            .link(Provider::Gitlab, &tenant, &ALICE.to_string(), "alice")
            .await;
        world
            .link(Provider::Gitlab, &tenant, &BOB.to_string(), "bob")
            .await;
        Gitlab {
            world,
            gitlab,
            tenant,
        }
    }

    fn world(&self) -> &D {
        &self.world
    }

    fn trigger(&self) -> Delivery {
        self.note("k-trigger", REQUEST)
    }

    fn replay(&self, delivery: &Delivery) -> Delivery {
        let key = unique("k-replay");
        delivery
            .clone()
            .with_header("x-gitlab-event-uuid", format!("uuid-{key}"))
            .with_header("idempotency-key", key)
    }

    fn follow_up(&self) -> Delivery {
        self.note("k-follow-up", FOLLOW_UP)
    }

    fn follow_up_by_someone_else(&self) -> Delivery {
        self.note_by(("bob", BOB), "k-bob", FOLLOW_UP)
    }

    fn asking(&self, n: u32, text: &str) -> Delivery {
        self.note(&format!("k-ask-{n}"), text)
    }

    fn stop(&self) -> Delivery {
        self.note("k-stop", "stop")
    }

    fn stop_by_someone_else(&self) -> Delivery {
        self.note_by(("bob", BOB), "k-bob-stop", "stop")
    }

    fn secrets(&self) -> Vec<String> {
        [TOKEN, OTHER_TOKEN, API_TOKEN].map(str::to_owned).to_vec()
    }

    fn forgeries(&self, trigger: &Delivery) -> Vec<(&'static str, Delivery)> {
        let mut missing = trigger.clone();
        missing.headers.retain(|(name, _)| name != "x-gitlab-token");
        vec![
            (
                "the other instance's token",
                trigger.clone().with_header("x-gitlab-token", OTHER_TOKEN),
            ),
            (
                "the API token",
                trigger.clone().with_header("x-gitlab-token", API_TOKEN),
            ),
            ("no token", missing),
        ]
    }

    fn start_facts(&self) -> StartFacts {
        StartFacts {
            repository: PROJECT_PATH,
            git_provider: "gitlab",
            trigger: "resolver",
            title: format!("GitLab Issue #{ISSUE}: Crash on save"),
        }
    }

    fn assert_acknowledged(&self) {
        let awards = self.gitlab.awards();
        assert_eq!(awards.len(), 1, "{awards:?}");
        let note_id = self.gitlab.notes()[0].id;
        assert_eq!(
            (
                awards[0].name.as_str(),
                awards[0].noteable,
                awards[0].iid,
                awards[0].note_id
            ),
            ("eyes", Noteable::Issue, ISSUE, Some(note_id)),
            "👀 on the triggering note"
        );
        let members = self
            .gitlab
            .requests_to(&format!("/projects/{PROJECT}/members/all/{ALICE}"));
        assert_eq!(members.len(), 1, "the permission was checked");
        assert_eq!(members[0].header("private-token"), Some(API_TOKEN));
    }

    fn status_texts(&self) -> Vec<String> {
        self.gitlab.bot_notes().into_iter().map(|n| n.body).collect()
    }

    fn status_edits(&self) -> usize {
        self.gitlab
            .requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.contains("/notes/"))
            .count()
    }
}

super::scenarios!(Gitlab);

impl<D: Deployment> super::Opens for Gitlab<D> {
    fn opened(&self) -> Delivery {
        let author = json!({"id": ALICE, "name": "alice", "username": "alice", "avatar_url": null});
        let payload = json!({
            "object_kind": "issue", "event_type": "issue", "user": author,
            "project": {"id": PROJECT, "name": "hello", "path_with_namespace": PROJECT_PATH,
                        "web_url": "https://gitlab.example/acme/hello", "default_branch": "main"},
            "object_attributes": {"id": 900 + ISSUE, "iid": ISSUE, "title": "Crash on save",
                "description": format!("@{FAKE_BOT_USERNAME} {REQUEST}"), "author_id": ALICE, "state": "opened",
                "action": "open", "url": format!("https://gitlab.example/acme/hello/-/issues/{ISSUE}")},
            "labels": []
        });
        self.gitlab.seed_from_hook(&payload);
        self.hook(&payload, "Issue Hook", "k-opened")
    }
}

impl<D: Deployment> super::Assigns for Gitlab<D> {
    fn assigned(&self, n: u32, to_the_bot: bool) -> Delivery {
        let assignee = if to_the_bot {
            (FAKE_BOT_ID, FAKE_BOT_USERNAME)
        } else {
            (BOB, "bob")
        };
        // GitLab records the assignment (the assignee and its system note) before it sends the hook.
        let at = self
            .gitlab
            .seed_assignment(PROJECT, Noteable::Issue, ISSUE, (ALICE, "alice"), assignee);
        let account = |(id, username): (u64, &str)| json!({"id": id, "name": username, "username": username, "avatar_url": null});
        let current = json!([account(assignee)]);
        let payload = json!({
            "object_kind": "issue", "event_type": "issue", "user": account((ALICE, "alice")),
            "project": {"id": PROJECT, "name": "hello", "path_with_namespace": PROJECT_PATH,
                        "web_url": "https://gitlab.example/acme/hello", "default_branch": "main"},
            "object_attributes": {"id": 900 + ISSUE, "iid": ISSUE, "title": "Crash on save",
                "description": "Saving twice panics.", "author_id": BOB, "state": "opened",
                "action": "update", "url": format!("https://gitlab.example/acme/hello/-/issues/{ISSUE}"),
                "assignee_ids": [assignee.0], "assignee_id": assignee.0, "updated_at": hook_timestamp(at)},
            "labels": [],
            "assignees": current,
            "changes": {"assignees": {"previous": [], "current": current}}
        });
        self.gitlab.seed_from_hook(&payload);
        self.hook(&payload, "Issue Hook", &format!("k-assigned-{n}"))
    }
}

super::item_scenarios!(Gitlab);
