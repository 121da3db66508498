//! GitHub intake and trigger matrix: signature cases, prefilter, trimming, and which events start runs.

use serde_json::{json, Value};

use super::{GithubConfig, GithubTarget};
use crate::{
    domain::{Envelope, SourceRef},
    error::WebhookError,
    memory::MemorySecrets,
    provider::{BothSides, Decision, Intake, ProviderModule},
    test_support::{accepted, ignore_reason, post, run},
    verify::sign_hex,
};

const SECRET: &str = "gh-test-secret";

fn config() -> GithubConfig {
    GithubConfig {
        api_url: "http://127.0.0.1:1".into(),
        tenant: "github.com".into(),
        app_id: "Iv1.test".into(),
        app_slug: "hookline-test".into(),
        webhook_secret_name: "github/webhook-secret".into(),
        private_key_secret_name: "github/private-key".into(),
        label: "openhands".into(),
        mention: "@openhands".into(),
        assignee: Some("hookline-machine".into()),
    }
}

fn module() -> BothSides {
    let secrets = MemorySecrets::new().with("github/webhook-secret", SECRET);
    BothSides::offline(config(), secrets)
}

fn user(login: &str, kind: &str) -> Value {
    json!({"login": login, "id": 4242, "type": kind})
}

fn base(action: &str) -> Value {
    json!({
        "action": action,
        "installation": {"id": 42},
        "repository": {"full_name": "Octo-Org/Hello", "name": "Hello"},
        "sender": user("alice", "User"),
    })
}

fn issue_labeled(label: &str) -> Value {
    let mut v = base("labeled");
    v["issue"] = json!({"number": 7, "title": "Crash on start", "body": "Steps…", "html_url": "https://github.com/Octo-Org/Hello/issues/7", "user": user("bob", "User"), "updated_at": "2026-11-30T09:00:00Z"});
    v["label"] = json!({"name": label});
    v
}

fn issue_comment(action: &str, body: &str, on_pr: bool) -> Value {
    let mut v = base(action);
    let mut issue = json!({"number": 7, "title": "Crash on start", "body": "Steps…", "html_url": "https://github.com/Octo-Org/Hello/issues/7"});
    if on_pr {
        issue["pull_request"] = json!({"url": "https://api.github.com/repos/Octo-Org/Hello/pulls/7"});
    }
    v["issue"] = issue;
    v["comment"] = json!({"id": 555, "body": body, "user": user("alice", "User"), "html_url": "https://github.com/x", "created_at": "2026-11-28T10:00:00Z"});
    v
}

fn review_comment(body: &str, in_reply_to: Option<u64>) -> Value {
    let mut v = base("created");
    v["comment"] = json!({"id": 900, "body": body, "user": user("alice", "User"), "path": "src/lib.rs", "line": 12, "diff_hunk": "@@ -1 +1 @@", "in_reply_to_id": in_reply_to});
    v["pull_request"] = json!({"number": 8, "title": "Speed up", "body": "PR body", "html_url": "https://github.com/Octo-Org/Hello/pull/8", "head": {"ref": "feature/speed", "repo": {"full_name": "Octo-Org/Hello"}}});
    v
}

fn review_submitted(body: &str) -> Value {
    let mut v = base("submitted");
    v["review"] = json!({"id": 31, "body": body, "user": user("alice", "User"), "state": "commented"});
    v["pull_request"] = json!({"number": 8, "title": "Speed up", "body": "", "html_url": "https://github.com/Octo-Org/Hello/pull/8", "head": {"ref": "feature/speed", "repo": {"full_name": "Octo-Org/Hello"}}});
    v
}

fn headers(event: &str, delivery: &str, body: &[u8], secret: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("x-github-event", event.parse().unwrap());
    h.insert("x-github-delivery", delivery.parse().unwrap());
    h.insert("content-type", "application/json".parse().unwrap());
    let sig = format!("sha256={}", sign_hex(secret.as_bytes(), body));
    h.insert("X-Hub-Signature-256", sig.parse().unwrap());
    h
}

async fn intake_with(_event: &str, body: &[u8], headers: &http::HeaderMap) -> Result<Intake, WebhookError> {
    post(&module(), "/webhooks/github", body, headers, 1_800_000_000).await
}

async fn intake(event: &str, payload: &Value) -> Result<Intake, WebhookError> {
    let body = serde_json::to_vec(payload).unwrap();
    intake_with(event, &body, &headers(event, "d-1", &body, SECRET)).await
}

fn decide(event: &str, payload: &Value) -> Decision {
    let envelope = Envelope {
        version: 1,
        provider: crate::domain::Provider::Github,
        tenant: "github.com".into(),
        delivery_id: "d-1".into(),
        event: event.into(),
        group: "g".into(),
        received_at: 1_800_000_000,
        payload: serde_json::value::to_raw_value(
            &super::event::RawEvent::parse(&serde_json::to_vec(payload).unwrap())
                .unwrap()
                .into_event()
                .unwrap(),
        )
        .unwrap(),
    };
    module().decide(&envelope).unwrap()
}

#[tokio::test]
async fn signature_cases() {
    let body = serde_json::to_vec(&issue_labeled("openhands")).unwrap();
    let good = headers("issues", "d-1", &body, SECRET);
    assert!(matches!(
        intake_with("issues", &body, &good).await,
        Ok(Intake::Accept(_))
    ));

    let wrong = headers("issues", "d-1", &body, "another secret");
    assert!(matches!(
        intake_with("issues", &body, &wrong).await,
        Err(WebhookError::Unauthorized(_))
    ));

    let mut missing = good.clone();
    missing.remove("x-hub-signature-256");
    assert!(matches!(
        intake_with("issues", &body, &missing).await,
        Err(WebhookError::Unauthorized(_))
    ));

    let mut tampered = body.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    assert!(matches!(
        intake_with("issues", &tampered, &good).await,
        Err(WebhookError::Unauthorized(_))
    ));

    // Re-serialized JSON (different bytes, same meaning) must fail: the signature covers raw bytes.
    let pretty = serde_json::to_vec_pretty(&issue_labeled("openhands")).unwrap();
    assert!(matches!(
        intake_with("issues", &pretty, &good).await,
        Err(WebhookError::Unauthorized(_))
    ));
}

#[tokio::test]
async fn ping_malformed_and_never_triggering_events() {
    let ping = json!({"zen": "Keep it logically awesome.", "hook_id": 1});
    assert!(matches!(intake("ping", &ping).await, Ok(Intake::Reply(r)) if r.status == 200));
    assert!(matches!(
        intake("push", &json!({"ref": "main"})).await,
        Ok(Intake::Ignore(_))
    ));
    assert!(matches!(
        intake("issues", &issue_labeled("bug")).await,
        Ok(Intake::Ignore(_))
    ));
    assert!(matches!(
        intake("issue_comment", &issue_comment("edited", "@openhands", false)).await,
        Ok(Intake::Ignore(_))
    ));
    assert!(matches!(
        intake("issue_comment", &issue_comment("created", "no mention", false)).await,
        Ok(Intake::Ignore(_))
    ));

    let body = b"{not json";
    let h = headers("issue_comment", "d-1", body, SECRET);
    assert!(matches!(
        intake_with("issue_comment", body, &h).await,
        Err(WebhookError::Malformed(_))
    ));

    let mut no_delivery = headers("issues", "d-1", b"{}", SECRET);
    no_delivery.remove("x-github-delivery");
    assert!(matches!(
        intake_with("issues", b"{}", &no_delivery).await,
        Err(WebhookError::Malformed(_))
    ));
}

#[tokio::test]
async fn huge_issue_body_is_trimmed_for_the_queue() {
    let mut payload = issue_labeled("openhands");
    payload["issue"]["body"] = Value::String("é".repeat(450_000)); // 900 kB
    let envelope = accepted(intake("issues", &payload).await);
    let queued = serde_json::to_string(&envelope).unwrap();
    assert!(
        queued.len() < 100 * 1024,
        "queued message is {} bytes",
        queued.len()
    );
    let trigger = run(decide("issues", &payload));
    assert!(trigger.prompt.subject_body.contains("more bytes not included"));
}

/// GIVEN text fields that GitHub wrote with JSON escapes (quotes, newlines, `\u` escapes, a surrogate pair, and a
/// mention spelled `\u0040openhands`) WHEN the delivery is accepted THEN the queued event, as the worker reads
/// it, carries exactly the decoded text, and the escaped mention passed the prefilter.
#[tokio::test]
async fn escaped_text_reaches_the_queue_decoded_exactly() {
    // As GitHub writes it inside the JSON string.
    let title = r#"Say \"hi\"\n\tand caf\u00e9 \\ \ud83d\ude00"#;
    let body = r#"{"action":"created","installation":{"id":42},"repository":{"full_name":"Octo-Org/Hello"},
        "sender":{"login":"alice","id":4242,"type":"User"},
        "issue":{"number":7,"title":"TITLE","body":"line 1\nline 2 \u003c!-- x --\u003e","html_url":"https://github.com/Octo-Org/Hello/issues/7"},
        "comment":{"id":555,"body":"\u0040openhands please \"fix\" it","user":{"login":"alice","id":4242,"type":"User"},
        "html_url":"https://github.com/x","created_at":"2026-11-28T10:00:00Z"}}"#
        .replace("TITLE", title);
    let envelope = accepted(
        intake_with(
            "issue_comment",
            body.as_bytes(),
            &headers("issue_comment", "d-1", body.as_bytes(), SECRET),
        )
        .await,
    );
    // Written to the queue as GitHub wrote it, not unescaped and escaped again.
    assert!(
        envelope.payload.get().contains(title),
        "{}",
        envelope.payload.get()
    );
    let queued: super::event::GithubEvent = serde_json::from_str(envelope.payload.get()).unwrap();
    let issue = queued.issue.unwrap();
    assert_eq!(issue.title, "Say \"hi\"\n\tand café \\ 😀");
    assert_eq!(issue.body, "line 1\nline 2 <!-- x -->");
    assert_eq!(queued.comment.unwrap().body, "@openhands please \"fix\" it");
    assert_eq!(queued.repository, "Octo-Org/Hello");
}

/// GIVEN a text field that is not a string WHEN it arrives THEN it is malformed (400), as it was when the
/// fields were parsed into `String`s.
#[tokio::test]
async fn a_text_field_that_is_not_a_string_is_malformed() {
    for (pointer, value) in [
        ("/issue/title", json!(12)),
        ("/comment/body", json!({"a": 1})),
        ("/sender/login", json!([])),
    ] {
        let mut payload = issue_comment("created", "@openhands fix", false);
        *payload.pointer_mut(pointer).unwrap() = value;
        assert!(
            matches!(
                intake("issue_comment", &payload).await,
                Err(WebhookError::Malformed(_))
            ),
            "{pointer}"
        );
    }
    let mut null_title = issue_comment("created", "@openhands fix", false);
    null_title["issue"]["title"] = Value::Null;
    let envelope = accepted(intake("issue_comment", &null_title).await);
    let queued: super::event::GithubEvent = serde_json::from_str(envelope.payload.get()).unwrap();
    assert_eq!(queued.issue.unwrap().title, "");
}

#[tokio::test]
async fn envelope_carries_thread_group_and_delivery() {
    let envelope = accepted(
        intake(
            "issue_comment",
            &issue_comment("created", "@openhands fix", false),
        )
        .await,
    );
    assert_eq!(envelope.group, "github:octo-org/hello#7");
    assert_eq!(envelope.delivery_id, "d-1");
    assert_eq!(envelope.event, "issue_comment");
}

#[test]
fn label_trigger() {
    let trigger = run(decide("issues", &issue_labeled("OpenHands")));
    assert_eq!(trigger.thread_key, "github:octo-org/hello#7");
    assert_eq!(
        trigger.run_key, "github:octo-org/hello#7:label:openhands:2026-11-30T09:00:00Z",
        "keyed on signed body fields, not on the delivery id"
    );
    assert_eq!(trigger.title, "GitHub Issue #7: Crash on start");
    assert_eq!(trigger.actor.login, "alice");
    assert_eq!(trigger.branch, None);
    let SourceRef::Github(source) = &trigger.source else {
        panic!("github source")
    };
    assert_eq!(source.target, GithubTarget::Issue);
    assert_eq!(source.installation_id, 42);
    assert!(ignore_reason(decide("issues", &issue_labeled("bug"))).contains("label"));

    // A later re-label is a later change, so a new run; a body without `updated_at` cannot be keyed safely.
    let mut later = issue_labeled("openhands");
    later["issue"]["updated_at"] = json!("2026-11-30T10:00:00Z");
    assert_ne!(run(decide("issues", &later)).run_key, trigger.run_key);
    let mut unkeyed = issue_labeled("openhands");
    unkeyed["issue"].as_object_mut().unwrap().remove("updated_at");
    assert!(ignore_reason(decide("issues", &unkeyed)).contains("updated_at"));
}

#[test]
fn comment_triggers_and_mention_matrix() {
    let trigger = run(decide(
        "issue_comment",
        &issue_comment("created", "Hey @openhands, please fix", false),
    ));
    assert_eq!(trigger.run_key, "github:octo-org/hello#7:comment:555");
    let SourceRef::Github(source) = &trigger.source else {
        panic!("github source")
    };
    assert_eq!(source.target, GithubTarget::IssueComment { comment_id: 555 });
    assert!(!source.is_pull_request);

    for body in [
        "@openhands-agent fix",
        "mail me@openhands.dev",
        "> @openhands fix\nagreed",
        "`@openhands`",
    ] {
        ignore_reason(decide("issue_comment", &issue_comment("created", body, false)));
    }
    for action in ["edited", "deleted"] {
        ignore_reason(decide(
            "issue_comment",
            &issue_comment(action, "@openhands fix", false),
        ));
    }
}

#[test]
fn pr_conversation_comment_works_on_the_pr() {
    let trigger = run(decide(
        "issue_comment",
        &issue_comment("created", "@openhands rebase", true),
    ));
    let SourceRef::Github(source) = &trigger.source else {
        panic!("github source")
    };
    assert!(source.is_pull_request);
    assert_eq!(trigger.title, "GitHub PR #7: Crash on start");
    // The head branch is not in issue_comment payloads; the worker resolves it through the API.
    assert_eq!(trigger.branch, None);
}

#[test]
fn review_comment_replies_in_thread_on_head_branch() {
    let trigger = run(decide(
        "pull_request_review_comment",
        &review_comment("@openhands rename this", Some(880)),
    ));
    let SourceRef::Github(source) = &trigger.source else {
        panic!("github source")
    };
    assert_eq!(
        source.target,
        GithubTarget::ReviewComment {
            comment_id: 900,
            thread_root_id: 880
        }
    );
    assert_eq!(trigger.branch.as_deref(), Some("feature/speed"));
    assert!(trigger
        .prompt
        .location
        .as_deref()
        .unwrap_or("")
        .starts_with("src/lib.rs:12"));
    let top = run(decide(
        "pull_request_review_comment",
        &review_comment("@openhands x", None),
    ));
    let SourceRef::Github(source) = &top.source else {
        panic!("github source")
    };
    assert_eq!(
        source.target,
        GithubTarget::ReviewComment {
            comment_id: 900,
            thread_root_id: 900
        }
    );
}

#[test]
fn review_submission_with_mention() {
    let trigger = run(decide(
        "pull_request_review",
        &review_submitted("Looks off. @openhands please fix the tests"),
    ));
    let SourceRef::Github(source) = &trigger.source else {
        panic!("github source")
    };
    assert_eq!(source.target, GithubTarget::Review { review_id: 31 });
    assert_eq!(trigger.branch.as_deref(), Some("feature/speed"));
    ignore_reason(decide("pull_request_review", &review_submitted("LGTM")));
}

#[test]
fn bots_and_our_own_comments_never_trigger() {
    let mut bot = issue_comment("created", "@openhands fix", false);
    bot["sender"] = user("dependabot[bot]", "Bot");
    bot["comment"]["user"] = user("dependabot[bot]", "Bot");
    ignore_reason(decide("issue_comment", &bot));

    let mut own = issue_comment("created", "@openhands fix", false);
    own["sender"] = user("hookline-test[bot]", "Bot");
    ignore_reason(decide("issue_comment", &own));

    let marker = issue_comment("created", "✅ done @openhands\n<!-- hookline:run:abc -->", false);
    ignore_reason(decide("issue_comment", &marker));

    let mut via_app = issue_comment("created", "@openhands fix", false);
    via_app["comment"]["performed_via_github_app"] = json!({"slug": "hookline-test"});
    ignore_reason(decide("issue_comment", &via_app));
}

#[test]
fn queued_comments_leave_out_unset_fields_and_still_read_older_messages() {
    use super::event::{GithubComment, GithubEvent};
    let event = GithubEvent {
        action: "created".into(),
        comment: Some(GithubComment {
            id: 7,
            body: "@openhands fix".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let json = serde_json::to_string(&event).unwrap();
    for field in ["in_reply_to_id", "path", "line", "diff_hunk", "via_app_slug"] {
        assert!(!json.contains(field), "{field} written though unset: {json}");
    }
    assert_eq!(serde_json::from_str::<GithubEvent>(&json).unwrap(), event);
    // Messages queued before this change carry explicit nulls.
    let older = json.replace(
        r#""created_at":"""#,
        r#""created_at":"","in_reply_to_id":null,"path":null,"line":null,"diff_hunk":null,"via_app_slug":null"#,
    );
    assert_ne!(older, json);
    assert_eq!(serde_json::from_str::<GithubEvent>(&older).unwrap(), event);
}

#[tokio::test]
async fn an_empty_webhook_secret_verifies_nothing() {
    // An HMAC keyed with nothing is one anyone can compute: an empty stored secret is "not configured", 503.
    let sides = BothSides::offline(config(), MemorySecrets::new().with("github/webhook-secret", ""));
    let body = serde_json::to_vec(&issue_labeled("openhands")).unwrap();
    let headers = headers("issues", "d-1", &body, "");
    let result = post(&sides, "/webhooks/github", &body, &headers, 1_800_000_000).await;
    assert!(matches!(result, Err(WebhookError::Unavailable(_))), "{result:?}");
}

fn issue_opened(body: &str, labels: &[&str]) -> Value {
    let mut v = base("opened");
    let labels: Vec<Value> = labels.iter().map(|l| json!({"name": l})).collect();
    v["issue"] = json!({"number": 9, "title": "Empty config crashes", "body": body,
        "html_url": "https://github.com/Octo-Org/Hello/issues/9", "labels": labels,
        "created_at": "2026-12-02T10:00:00Z", "updated_at": "2026-12-02T10:00:00Z"});
    v
}

fn pull_opened(action: &str, body: &str, labels: &[&str], updated_at: &str) -> Value {
    let mut v = base(action);
    let labels: Vec<Value> = labels.iter().map(|l| json!({"name": l})).collect();
    v["pull_request"] = json!({"number": 10, "title": "Faster start", "body": body,
        "html_url": "https://github.com/Octo-Org/Hello/pull/10", "labels": labels,
        "head": {"ref": "feature/fast", "repo": {"full_name": "alice/Hello"}},
        "created_at": "2026-12-02T10:00:00Z", "updated_at": updated_at});
    v
}

/// GIVEN new issues WHEN their body mentions the handle exactly, or they come with the label THEN one run each,
/// keyed on the issue's creation, so GitHub's `opened` and `labeled` for one new issue start one run; a mention
/// in a quote or code, another label, or a bot opening it start nothing.
#[tokio::test]
async fn a_new_issue_that_asks_starts_one_run() {
    let asked = issue_opened("It crashes.\n\n@openhands please fix", &[]);
    assert!(matches!(intake("issues", &asked).await, Ok(Intake::Accept(_))));
    let trigger = run(decide("issues", &asked));
    assert_eq!(trigger.run_key, "github:octo-org/hello#9:created");
    assert_eq!(
        trigger.prompt.subject_body,
        "It crashes.\n\n@openhands please fix"
    );
    assert!(trigger.prompt.request.is_empty(), "the body is quoted once");

    let with_label = issue_opened("It crashes.", &["bug", "OpenHands"]);
    assert!(matches!(
        intake("issues", &with_label).await,
        Ok(Intake::Accept(_))
    ));
    let opened = run(decide("issues", &with_label));
    let mut labeled = with_label.clone();
    labeled["action"] = json!("labeled");
    labeled["label"] = json!({"name": "openhands"});
    labeled["issue"]["updated_at"] = json!("2026-12-02T10:00:01Z");
    assert_eq!(
        run(decide("issues", &labeled)).run_key,
        opened.run_key,
        "one run for opened + labeled"
    );
    labeled["issue"]["updated_at"] = json!("2026-12-02T11:00:00Z");
    assert_ne!(
        run(decide("issues", &labeled)).run_key,
        opened.run_key,
        "a later label is a new run"
    );

    for body in [
        "> @openhands please fix\n\nquoted",
        "`@openhands` in code",
        "no mention",
    ] {
        let quiet = issue_opened(body, &["bug"]);
        assert!(matches!(
            intake("issues", &quiet).await,
            Ok(Intake::Ignore(_)) | Ok(Intake::Accept(_))
        ));
        assert!(
            ignore_reason(decide("issues", &quiet)).contains("mention"),
            "{body}"
        );
    }
    let mut by_bot = asked.clone();
    by_bot["sender"] = user("dependabot[bot]", "Bot");
    assert!(ignore_reason(decide("issues", &by_bot)).contains("bot"));
}

/// GIVEN pull requests WHEN one is opened asking or with the label, or labeled later THEN the run works on its
/// head branch in the head repository (a fork here); `opened` + `labeled` of one new pull request are one run.
#[tokio::test]
async fn a_pull_request_opened_or_labeled_works_on_its_head_branch() {
    let asked = pull_opened("opened", "@openhands tidy this up", &[], "2026-12-02T10:00:00Z");
    assert!(matches!(
        intake("pull_request", &asked).await,
        Ok(Intake::Accept(_))
    ));
    let trigger = run(decide("pull_request", &asked));
    assert_eq!(trigger.run_key, "github:octo-org/hello#10:created");
    assert_eq!(trigger.repository.as_deref(), Some("alice/Hello"));
    assert_eq!(trigger.branch.as_deref(), Some("feature/fast"));
    match &trigger.source {
        SourceRef::Github(source) => {
            assert!(source.is_pull_request);
            assert_eq!(source.number, 10);
        }
        other => panic!("{other:?}"),
    }

    let mut labeled = pull_opened("labeled", "", &["openhands"], "2026-12-02T10:00:02Z");
    labeled["label"] = json!({"name": "openhands"});
    assert!(matches!(
        intake("pull_request", &labeled).await,
        Ok(Intake::Accept(_))
    ));
    assert_eq!(run(decide("pull_request", &labeled)).run_key, trigger.run_key);
    labeled["pull_request"]["updated_at"] = json!("2026-12-03T08:00:00Z");
    let later = run(decide("pull_request", &labeled));
    assert_eq!(
        later.run_key,
        "github:octo-org/hello#10:label:openhands:2026-12-03T08:00:00Z"
    );
    assert_eq!(later.branch.as_deref(), Some("feature/fast"));

    let synchronize = pull_opened(
        "synchronize",
        "@openhands",
        &["openhands"],
        "2026-12-02T10:00:00Z",
    );
    assert!(matches!(
        intake("pull_request", &synchronize).await,
        Ok(Intake::Ignore(_))
    ));
    labeled["label"] = json!({"name": "bug"});
    assert!(matches!(
        intake("pull_request", &labeled).await,
        Ok(Intake::Ignore(_))
    ));
}

/// An `assigned` (or `unassigned`) event of issue 9 or pull request 10, opened at 10:00, naming `assignee`.
fn assignment(event: &str, action: &str, assignee: &str, updated_at: &str) -> Value {
    let mut v = if event == "pull_request" {
        pull_opened(action, "Faster start.", &[], updated_at)
    } else {
        let mut v = issue_opened("It crashes on an empty config.", &[]);
        v["action"] = json!(action);
        v["issue"]["updated_at"] = json!(updated_at);
        v
    };
    v["assignee"] = user(assignee, "User");
    v
}

/// Both sides with `assignee` as `GITHUB_ASSIGNEE`.
fn module_assigning(assignee: Option<&str>) -> BothSides {
    let secrets = MemorySecrets::new().with("github/webhook-secret", SECRET);
    let config = GithubConfig {
        assignee: assignee.map(str::to_owned),
        ..config()
    };
    BothSides::offline(config, secrets)
}

/// GIVEN issues assigned WHEN the assignee is the configured machine user (any case) THEN a run starts for the
/// sender, keyed on the issue's signed `updated_at` with an empty request (the body is the description): the
/// same body again is the same run, a later re-assignment a new one, an assignment that came with the new issue
/// its creation run. An assignment to someone else, an unassignment, one by a bot or by the machine user itself,
/// one without `updated_at`, or any assignment while the setting is off, starts nothing.
#[tokio::test]
async fn assigning_the_machine_user_starts_a_run_keyed_on_the_change() {
    let later = "2026-12-02T11:00:00Z";
    let assigned = assignment("issues", "assigned", "Hookline-Machine", later);
    assert!(matches!(intake("issues", &assigned).await, Ok(Intake::Accept(_))));
    let trigger = run(decide("issues", &assigned));
    assert_eq!(
        trigger.run_key,
        "github:octo-org/hello#9:assigned:hookline-machine:2026-12-02T11:00:00Z"
    );
    assert_eq!(trigger.actor.login, "alice");
    assert_eq!(trigger.branch, None);
    assert!(trigger.prompt.request.is_empty());
    assert!(!trigger.prompt.request_in_body);
    assert_eq!(trigger.prompt.subject_body, "It crashes on an empty config.");
    assert!(trigger.prompt.instructions.starts_with("Resolve issue #9."));
    let SourceRef::Github(source) = &trigger.source else {
        panic!("github source")
    };
    assert_eq!(source.target, GithubTarget::Issue);
    assert_eq!(
        run(decide("issues", &assigned)).run_key,
        trigger.run_key,
        "a replay"
    );
    let again = assignment("issues", "assigned", "hookline-machine", "2026-12-03T09:00:00Z");
    assert_ne!(run(decide("issues", &again)).run_key, trigger.run_key);
    let with_creation = assignment("issues", "assigned", "hookline-machine", "2026-12-02T10:00:02Z");
    assert_eq!(
        run(decide("issues", &with_creation)).run_key,
        "github:octo-org/hello#9:created"
    );

    let someone_else = assignment("issues", "assigned", "bob", later);
    assert!(matches!(
        intake("issues", &someone_else).await,
        Ok(Intake::Ignore(_))
    ));
    assert!(ignore_reason(decide("issues", &someone_else)).contains("someone else"));
    let unassigned = assignment("issues", "unassigned", "hookline-machine", later);
    assert!(matches!(
        intake("issues", &unassigned).await,
        Ok(Intake::Ignore(_))
    ));
    assert!(ignore_reason(decide("issues", &unassigned)).contains("never triggers"));
    let mut by_bot = assigned.clone();
    by_bot["sender"] = user("renovate[bot]", "Bot");
    assert!(ignore_reason(decide("issues", &by_bot)).contains("bot"));
    let mut by_itself = assigned.clone();
    by_itself["sender"] = user("hookline-machine", "User");
    assert!(ignore_reason(decide("issues", &by_itself)).contains("itself"));
    let mut unkeyed = assigned.clone();
    unkeyed["issue"].as_object_mut().unwrap().remove("updated_at");
    assert!(ignore_reason(decide("issues", &unkeyed)).contains("updated_at"));

    let off = module_assigning(None);
    let body = serde_json::to_vec(&assigned).unwrap();
    let headers = headers("issues", "d-1", &body, SECRET);
    assert!(matches!(
        post(&off, "/webhooks/github", &body, &headers, 1_800_000_000).await,
        Ok(Intake::Ignore(_))
    ));
    let envelope = accepted(intake_with("issues", &body, &headers).await);
    assert!(matches!(off.decide(&envelope).unwrap(), Decision::Ignore(r) if r.contains("off")));
    assert!(matches!(
        module_assigning(Some("hookline-machine"))
            .decide(&envelope)
            .unwrap(),
        Decision::Run(_)
    ));
}

/// GIVEN a pull request WHEN it is assigned to the machine user THEN the run works on its head branch in the
/// head repository and reports on the pull request, keyed on its `updated_at`.
#[tokio::test]
async fn assigning_a_pull_request_works_on_its_head_branch() {
    // The machine user assigned or unassigned at the same moment.
    let by_machine = |action| assignment("pull_request", action, "hookline-machine", "2026-12-02T12:00:00Z");
    let assigned = by_machine("assigned");
    assert!(matches!(
        intake("pull_request", &assigned).await,
        Ok(Intake::Accept(_))
    ));
    let trigger = run(decide("pull_request", &assigned));
    assert_eq!(
        trigger.run_key,
        "github:octo-org/hello#10:assigned:hookline-machine:2026-12-02T12:00:00Z"
    );
    assert_eq!(trigger.repository.as_deref(), Some("alice/Hello"));
    assert_eq!(trigger.branch.as_deref(), Some("feature/fast"));
    assert!(trigger.prompt.request.is_empty());
    match &trigger.source {
        SourceRef::Github(source) => assert!(source.is_pull_request),
        other => panic!("{other:?}"),
    }
    let unassigned = by_machine("unassigned");
    assert!(matches!(
        intake("pull_request", &unassigned).await,
        Ok(Intake::Ignore(_))
    ));
}

/// GIVEN `GITHUB_ASSIGNEE` WHEN it is a login (an `@` allowed), blank or unset, or not a login THEN it is that
/// login, off, or an error naming the variable.
#[test]
fn the_assignee_setting_is_a_login_or_off() {
    let load = |assignee: Option<&str>| {
        let mut pairs = vec![
            ("GITHUB_TENANTS", "github.com"),
            ("GITHUB_APP_ID", "Iv1.abc"),
            ("GITHUB_APP_SLUG", "hookline"),
        ];
        pairs.extend(assignee.map(|a| ("GITHUB_ASSIGNEE", a)));
        let get = crate::config::pairs_lookup(&pairs);
        GithubConfig::load(&crate::config::Lookup::new(&get)).map(|c| c.expect("on").assignee)
    };
    assert_eq!(load(None), Ok(None));
    assert_eq!(load(Some("  ")), Ok(None));
    assert_eq!(
        load(Some("@Hookline-Machine")),
        Ok(Some("Hookline-Machine".into()))
    );
    for bad in ["hookline[bot]", "a b", "-x", "@"] {
        let err = load(Some(bad)).unwrap_err();
        assert!(err.to_string().contains("GITHUB_ASSIGNEE"), "{bad}: {err}");
    }
}
