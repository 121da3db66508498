//! GitLab intake and trigger matrix: tenants from the URL, token and signature cases, delivery ids, the
//! prefilter, trimming, and which events start runs.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{
    config::{GitlabTenant, Verification},
    event::{Assignment, GitlabEvent, HookKind, LabelAdded, RawEvent, ReadBack, MAX_FIELD_BYTES},
    verify, GitlabConfig, GitlabIntake, GitlabSource, GitlabTarget, Noteable,
};
use crate::{
    domain::{Envelope, Provider, SourceRef, Trigger},
    error::WebhookError,
    memory::MemorySecrets,
    provider::{BothSides, Decision, Intake, ProviderModule},
    test_support::{accepted, ignore_reason, post, run},
};

const NOW: u64 = 1_800_000_000;
const COM_TOKEN: &str = "com-webhook-token";
const OWN_TOKEN: &str = "own-webhook-token";
/// `whsec_` + base64 of 32 bytes.
const OWN_SIGNING: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";
const BOTH_TOKEN: &str = "both-webhook-token";

fn tenant(name: &str, token: bool, signature: bool) -> GitlabTenant {
    GitlabTenant {
        name: name.into(),
        base_url: format!("https://{name}"),
        api_url: format!("https://{name}/api/v4"),
        bot_username: "hookline-bot".into(),
        bot_user_id: Some(9000),
        label: "openhands".into(),
        mention: "@hookline-bot".into(),
        verify: Verification { token, signature },
        webhook_token_secret: format!("gitlab/{name}/webhook-token"),
        signing_secret_secret: format!("gitlab/{name}/signing-secret"),
        api_token_secret: format!("gitlab/{name}/api-token"),
        oauth_client_id: None,
        oauth_client_secret_secret: format!("gitlab/{name}/oauth-client-secret"),
    }
}

fn config(tenants: Vec<GitlabTenant>) -> GitlabConfig {
    GitlabConfig { tenants }
}

fn three_tenants() -> GitlabConfig {
    config(vec![
        tenant("gitlab.com", true, false),
        tenant("git.example.com", false, true),
        tenant("both.example.com", true, true),
    ])
}

fn module_with(config: GitlabConfig) -> BothSides {
    let secrets = MemorySecrets::new()
        .with("gitlab/gitlab.com/webhook-token", COM_TOKEN)
        .with("gitlab/git.example.com/webhook-token", OWN_TOKEN)
        .with("gitlab/git.example.com/signing-secret", OWN_SIGNING)
        .with("gitlab/both.example.com/webhook-token", BOTH_TOKEN)
        .with("gitlab/both.example.com/signing-secret", OWN_SIGNING);
    BothSides::offline(config, secrets)
}

fn module() -> BothSides {
    module_with(three_tenants())
}

fn user(username: &str, id: u64) -> Value {
    json!({"id": id, "name": "Someone", "username": username})
}

fn project() -> Value {
    json!({"id": 5, "name": "Hello", "path_with_namespace": "acme/backend/hello", "web_url": "https://gitlab.com/acme/backend/hello", "default_branch": "main"})
}

fn issue_hook(action: &str, previous: &[&str], current: &[&str], by: Value) -> Value {
    let labels = |names: &[&str]| -> Vec<Value> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"id": i, "title": n}))
            .collect()
    };
    json!({
        "object_kind": "issue", "event_type": "issue", "user": by, "project": project(),
        "object_attributes": {"id": 301, "iid": 23, "title": "Crash on start\nsecond line", "description": "Steps…",
            "state": "opened", "action": action, "url": "https://gitlab.com/acme/backend/hello/-/issues/23",
            "updated_at": "2026-11-28 10:00:00 UTC", "author_id": 51, "project_id": 5},
        "labels": labels(current),
        "changes": {"labels": {"previous": labels(previous), "current": labels(current)}}
    })
}

fn mr_hook(action: &str, previous: &[&str], current: &[&str], by: Value) -> Value {
    let mut v = issue_hook(action, previous, current, by);
    v["object_kind"] = json!("merge_request");
    v["event_type"] = json!("merge_request");
    v["object_attributes"] = json!({"id": 99, "iid": 1, "title": "Speed up", "description": "MR body",
        "state": "opened", "action": action, "source_branch": "feature/speed", "target_branch": "main",
        "source_project_id": 5, "target_project_id": 5,
        "url": "https://gitlab.com/acme/backend/hello/-/merge_requests/1", "updated_at": "2026-11-28 10:00:00 UTC"});
    v
}

fn note_hook(noteable: &str, body: &str, by: Value) -> Value {
    let mut v = json!({
        "object_kind": "note", "event_type": "note", "user": by.clone(), "project_id": 5, "project": project(),
        "object_attributes": {"id": 1241, "note": body, "noteable_type": noteable, "author_id": by["id"],
            "system": false, "internal": false, "action": "create", "discussion_id": "7a7c0ffee",
            "type": null, "url": "https://gitlab.com/acme/backend/hello/-/issues/17#note_1241"},
    });
    if noteable == "Issue" {
        v["issue"] = json!({"id": 92, "iid": 17, "title": "test", "description": "Issue body", "state": "opened", "labels": []});
    } else {
        v["merge_request"] = json!({"id": 7, "iid": 1, "title": "Speed up", "description": "MR body",
            "source_branch": "feature/speed", "target_branch": "main", "source_project_id": 5, "target_project_id": 5,
            "state": "opened", "url": "https://gitlab.com/acme/backend/hello/-/merge_requests/1"});
    }
    v
}

fn alice() -> Value {
    user("alice", 101)
}

fn token_headers(event: &str, token: Option<&str>) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("x-gitlab-event", event.parse().unwrap());
    h.insert(
        "idempotency-key",
        "11111111-2222-3333-4444-555555555555".parse().unwrap(),
    );
    h.insert(
        "x-gitlab-event-uuid",
        "aaaaaaaa-2222-3333-4444-555555555555".parse().unwrap(),
    );
    h.insert("content-type", "application/json".parse().unwrap());
    if let Some(token) = token {
        h.insert("x-gitlab-token", token.parse().unwrap());
    }
    h
}

fn sign_into(h: &mut http::HeaderMap, secret: &str, id: &str, ts: u64, body: &[u8]) {
    let key = verify::signing_key(secret).unwrap();
    h.insert("webhook-id", id.parse().unwrap());
    h.insert("webhook-timestamp", ts.to_string().parse().unwrap());
    h.insert(
        "webhook-signature",
        verify::sign(&key, id, ts, body).parse().unwrap(),
    );
}

async fn intake(event: &str, payload: &Value) -> Result<Intake, WebhookError> {
    let body = serde_json::to_vec(payload).unwrap();
    post(
        &module(),
        "/webhooks/gitlab/gitlab.com",
        &body,
        &token_headers(event, Some(COM_TOKEN)),
        NOW,
    )
    .await
}

fn ignored_at_intake(result: Result<Intake, WebhookError>) {
    assert!(matches!(result, Ok(Intake::Ignore(_))), "{result:?}");
}

/// The queued event as the worker decides on it: read back from a GitLab that confirms everything the hook says
/// (the reading back itself is tested end to end against the fake GitLab).
fn envelope(hook: HookKind, event: &str, payload: &Value) -> Envelope {
    let mut trimmed = RawEvent::parse(&serde_json::to_vec(payload).unwrap())
        .unwrap()
        .into_event(hook)
        .unwrap();
    let labels = trimmed.labels_added.iter().map(|label| LabelAdded {
        label: label.clone(),
        event_id: 41,
        added_at: NOW,
    });
    // An assignment of the bot: GitLab shows it assigned, and alice's system note at the hook's time.
    let changed_at = crate::outbound::parse_timestamp(trimmed.item.updated_at.trim_end_matches(" UTC"));
    let assignments = match changed_at {
        Some(at) if !trimmed.assignees_added.is_empty() => vec![Assignment { note_id: 77, at }],
        _ => Vec::new(),
    };
    trimmed.read_back = Some(ReadBack {
        labels: labels.collect(),
        author_id: None,
        assignees: trimmed.assignees_added.clone(),
        updated_at: changed_at,
        assignments,
    });
    Envelope {
        version: 1,
        provider: Provider::Gitlab,
        tenant: "gitlab.com".into(),
        delivery_id: "d-1".into(),
        event: event.into(),
        group: "g".into(),
        received_at: NOW,
        payload: serde_json::value::to_raw_value(&trimmed).unwrap(),
    }
}

fn decide(hook: HookKind, payload: &Value) -> Decision {
    module().decide(&envelope(hook, "x", payload)).unwrap()
}

fn source(trigger: &Trigger) -> &GitlabSource {
    match &trigger.source {
        SourceRef::Gitlab(s) => s,
        other => panic!("not a gitlab source: {other:?}"),
    }
}

fn unauthorized(result: Result<Intake, WebhookError>) {
    assert!(matches!(result, Err(WebhookError::Unauthorized(_))), "{result:?}");
}

#[tokio::test]
async fn token_cases_and_tenant_isolation() {
    let m = module();
    let body = serde_json::to_vec(&issue_hook("update", &[], &["openhands"], alice())).unwrap();
    let path = "/webhooks/gitlab/gitlab.com";
    let ok = post(
        &m,
        path,
        &body,
        &token_headers("Issue Hook", Some(COM_TOKEN)),
        NOW,
    )
    .await;
    assert_eq!(accepted(ok).tenant, "gitlab.com");
    // A wrong or missing token, or another tenant's: that does not open this tenant, and the tenant comes from
    // the URL only.
    for token in [Some("nope"), None, Some(BOTH_TOKEN)] {
        unauthorized(post(&m, path, &body, &token_headers("Issue Hook", token), NOW).await);
    }
    let mut spoof = token_headers("Issue Hook", Some(COM_TOKEN));
    spoof.insert("x-gitlab-instance", "https://both.example.com".parse().unwrap());
    unauthorized(post(&m, "/webhooks/gitlab/both.example.com", &body, &spoof, NOW).await);
    // Stage prefixes and a trailing slash are fine; unknown tenants and extra segments are not routes.
    let headers = token_headers("Issue Hook", Some(COM_TOKEN));
    assert!(
        post(&m, "/prod/webhooks/gitlab/GitLab.com/", &body, &headers, NOW)
            .await
            .is_ok()
    );
    for bad in [
        "/webhooks/gitlab/unknown.example.com",
        "/webhooks/gitlab/gitlab.com/extra",
        "/webhooks/gitlab",
    ] {
        assert!(
            matches!(
                post(&m, bad, &body, &headers, NOW).await,
                Err(WebhookError::NotFound)
            ),
            "{bad}"
        );
    }
    // With a single tenant the bare route is that tenant.
    let single = module_with(config(vec![tenant("gitlab.com", true, false)]));
    assert!(matches!(
        post(&single, "/webhooks/gitlab", &body, &headers, NOW).await,
        Ok(Intake::Accept(_))
    ));
}

#[tokio::test]
async fn signature_cases() {
    let m = module();
    let path = "/webhooks/gitlab/git.example.com";
    let body = serde_json::to_vec(&note_hook("Issue", "@hookline-bot fix it", alice())).unwrap();
    let mut h = token_headers("Note Hook", None);
    sign_into(&mut h, OWN_SIGNING, "msg_2xYz", NOW - 10, &body);
    let envelope = accepted(post(&m, path, &body, &h, NOW).await);
    assert_eq!(
        envelope.delivery_id, "msg_2xYz",
        "the signed webhook-id is the delivery id"
    );
    assert_eq!(envelope.tenant, "git.example.com");

    // Rotation: any of several signatures may match.
    let key = verify::signing_key(OWN_SIGNING).unwrap();
    let good = verify::sign(&key, "msg_2xYz", NOW - 10, &body);
    let mut rotated = h.clone();
    rotated.insert("webhook-signature", format!("v1,AAAA {good}").parse().unwrap());
    assert!(post(&m, path, &body, &rotated, NOW).await.is_ok());

    // Tampered body, stale or future timestamp, missing signature, wrong key.
    let mut tampered = body.clone();
    tampered[5] ^= 1;
    unauthorized(post(&m, path, &tampered, &h, NOW).await);
    assert!(matches!(
        post(&m, path, &body, &h, NOW + 311).await,
        Err(WebhookError::Stale)
    ));
    let mut future = token_headers("Note Hook", None);
    sign_into(&mut future, OWN_SIGNING, "msg_2xYz", NOW + 301, &body);
    assert!(matches!(
        post(&m, path, &body, &future, NOW).await,
        Err(WebhookError::Stale)
    ));
    let mut missing = h.clone();
    missing.remove("webhook-signature");
    unauthorized(post(&m, path, &body, &missing, NOW).await);
    let mut wrong = token_headers("Note Hook", None);
    sign_into(
        &mut wrong,
        "whsec_dGhpcyBpcyBhbm90aGVyIGtleQ==",
        "msg_2xYz",
        NOW,
        &body,
    );
    unauthorized(post(&m, path, &body, &wrong, NOW).await);
    // A valid token is no substitute for the signature this tenant requires.
    unauthorized(post(&m, path, &body, &token_headers("Note Hook", Some(OWN_TOKEN)), NOW).await);

    // A tenant requiring both needs both.
    let both = "/webhooks/gitlab/both.example.com";
    let mut all = token_headers("Note Hook", Some(BOTH_TOKEN));
    sign_into(&mut all, OWN_SIGNING, "msg_3", NOW, &body);
    assert!(post(&m, both, &body, &all, NOW).await.is_ok());
    let mut signature_only = all.clone();
    signature_only.remove("x-gitlab-token");
    for headers in [signature_only, token_headers("Note Hook", Some(BOTH_TOKEN))] {
        unauthorized(post(&m, both, &body, &headers, NOW).await);
    }
}

#[tokio::test]
async fn a_missing_or_bad_secret_is_unavailable_not_unauthorized() {
    let m = GitlabIntake::new(
        config(vec![
            tenant("gitlab.com", true, false),
            tenant("git.example.com", false, true),
        ]),
        Arc::new(MemorySecrets::new().with("gitlab/git.example.com/signing-secret", "whsec_???")),
    );
    let body = b"{}";
    let headers = token_headers("Issue Hook", Some("x"));
    for path in ["/webhooks/gitlab/gitlab.com", "/webhooks/gitlab/git.example.com"] {
        assert!(
            matches!(
                post(&m, path, body, &headers, NOW).await,
                Err(WebhookError::Unavailable(_))
            ),
            "{path}"
        );
    }
}

#[tokio::test]
async fn delivery_ids() {
    let payload = issue_hook("update", &[], &["openhands"], alice());
    let body = serde_json::to_vec(&payload).unwrap();
    let m = module();
    let path = "/webhooks/gitlab/gitlab.com";
    let h = token_headers("Issue Hook", Some(COM_TOKEN));
    assert_eq!(
        accepted(post(&m, path, &body, &h, NOW).await).delivery_id,
        "11111111-2222-3333-4444-555555555555"
    );
    let mut fallback = h.clone();
    fallback.remove("idempotency-key");
    assert_eq!(
        accepted(post(&m, path, &body, &fallback, NOW).await).delivery_id,
        "aaaaaaaa-2222-3333-4444-555555555555"
    );
    let mut none = fallback.clone();
    none.remove("x-gitlab-event-uuid");
    assert!(matches!(
        post(&m, path, &body, &none, NOW).await,
        Err(WebhookError::Malformed(_))
    ));
    let mut odd = h.clone();
    odd.insert("idempotency-key", "../../etc#x".parse().unwrap());
    assert!(matches!(
        post(&m, path, &body, &odd, NOW).await,
        Err(WebhookError::Malformed(_))
    ));
}

#[tokio::test]
async fn prefilter_drops_what_can_never_trigger() {
    ignored_at_intake(intake("Push Hook", &json!({"object_kind": "push"})).await);
    ignored_at_intake(intake("Pipeline Hook", &json!({"object_kind": "pipeline"})).await);
    // The label was already there: not newly added.
    ignored_at_intake(
        intake(
            "Issue Hook",
            &issue_hook("update", &["openhands"], &["openhands", "bug"], alice()),
        )
        .await,
    );
    ignored_at_intake(intake("Issue Hook", &issue_hook("update", &[], &["bug"], alice())).await);
    ignored_at_intake(intake("Note Hook", &note_hook("Issue", "no mention here", alice())).await);
    let mut system = note_hook("Issue", "@hookline-bot added label", alice());
    system["object_attributes"]["system"] = json!(true);
    ignored_at_intake(intake("Note Hook", &system).await);
    let mut edit = note_hook("Issue", "@hookline-bot fix it", alice());
    edit["object_attributes"]["action"] = json!("update");
    ignored_at_intake(intake("Note Hook", &edit).await);
    let mut commit = note_hook("Issue", "@hookline-bot fix it", alice());
    commit["object_attributes"]["noteable_type"] = json!("Commit");
    ignored_at_intake(intake("Note Hook", &commit).await);
    // Malformed JSON and a body that contradicts the header are 400s.
    let body = b"{\"object_kind\": ";
    let h = token_headers("Note Hook", Some(COM_TOKEN));
    assert!(matches!(
        post(&module(), "/webhooks/gitlab/gitlab.com", body, &h, NOW).await,
        Err(WebhookError::Malformed(_))
    ));
    assert!(matches!(
        intake("Note Hook", &issue_hook("update", &[], &["openhands"], alice())).await,
        Err(WebhookError::Malformed(_))
    ));
}

#[tokio::test]
async fn accepted_events_are_trimmed_and_grouped_by_thread() {
    let mut payload = issue_hook("update", &[], &["OpenHands"], alice());
    payload["object_attributes"]["description"] = json!("x".repeat(900_000));
    payload["unrelated_blob"] = json!("y".repeat(100_000));
    let envelope = accepted(intake("Confidential Issue Hook", &payload).await);
    assert!(envelope.payload.get().len() < MAX_FIELD_BYTES + 4096);
    assert_eq!(envelope.group, "gitlab:gitlab.com:5:issue:23");
    assert_eq!(envelope.event, "Confidential Issue Hook");
    assert_eq!(envelope.received_at, NOW);
    let envelope = accepted(
        intake(
            "Note Hook",
            &note_hook("MergeRequest", "@hookline-bot go", alice()),
        )
        .await,
    );
    assert_eq!(envelope.group, "gitlab:gitlab.com:5:mr:1");
}

#[test]
fn newly_added_label_on_an_issue_runs() {
    let t = run(decide(
        HookKind::Issue,
        &issue_hook("update", &["bug"], &["bug", "OpenHands"], alice()),
    ));
    assert_eq!(t.provider, Provider::Gitlab);
    assert_eq!(t.tenant, "gitlab.com");
    assert_eq!(t.thread_key, "gitlab:gitlab.com:5:issue:23");
    assert_eq!(t.run_key, "gitlab:gitlab.com:5:issue:23:label:openhands:41");
    assert_eq!(t.actor.id, "101");
    assert_eq!(t.actor.login, "alice");
    assert_eq!(t.repository.as_deref(), Some("acme/backend/hello"));
    assert_eq!(t.branch, None);
    assert_eq!(t.git_provider, "gitlab");
    assert_eq!(t.title, "GitLab Issue #23: Crash on start");
    assert!(t.prompt.subject.contains("acme/backend/hello#23"));
    assert!(t.prompt.instructions.contains("Closes #23"));
    assert!(t.prompt.request.is_empty());
    let s = source(&t);
    assert_eq!(s.target, GitlabTarget::Item);
    assert_eq!(
        (s.project_id, s.iid, s.noteable, s.actor_id),
        (5, 23, Noteable::Issue, 101)
    );
    assert_eq!(s.web_url, "https://gitlab.com/acme/backend/hello/-/issues/23");
    // Opening an issue with the label counts too; closing one does not.
    run(decide(
        HookKind::Issue,
        &issue_hook("open", &[], &["openhands"], alice()),
    ));
    ignore_reason(decide(
        HookKind::Issue,
        &issue_hook("close", &[], &["openhands"], alice()),
    ));
    ignore_reason(decide(
        HookKind::Issue,
        &issue_hook("update", &["openhands"], &["openhands"], alice()),
    ));
}

#[test]
fn only_what_gitlab_confirms_starts_a_run() {
    let labeled = issue_hook("update", &["bug"], &["bug", "openhands"], alice());
    let decide_with = |read_back: Option<ReadBack>| {
        let mut e = envelope(HookKind::Issue, "x", &labeled);
        let mut event: super::event::GitlabEvent = serde_json::from_str(e.payload.get()).unwrap();
        event.read_back = read_back;
        e.payload = serde_json::value::to_raw_value(&event).unwrap();
        module().decide(&e).unwrap()
    };
    let added = |label: &str, added_at: u64| LabelAdded {
        label: label.into(),
        event_id: 7,
        added_at,
    };
    assert_eq!(
        ignore_reason(decide_with(None)),
        "GitLab did not confirm the item to the bot"
    );
    let nobody_added_it = ReadBack {
        labels: vec![added("bug", NOW)],
        ..ReadBack::default()
    };
    assert_eq!(
        ignore_reason(decide_with(Some(nobody_added_it))),
        "GitLab does not show this person adding the label"
    );
    let long_ago = ReadBack {
        labels: vec![added("openhands", NOW - 2 * 3600)],
        ..ReadBack::default()
    };
    assert_eq!(
        ignore_reason(decide_with(Some(long_ago))),
        "the label was added too long ago"
    );
    let confirmed = ReadBack {
        labels: vec![added("openhands", NOW - 60)],
        ..ReadBack::default()
    };
    assert!(run(decide_with(Some(confirmed)))
        .run_key
        .ends_with(":label:openhands:7"));
    // A note needs no label, only the item.
    let note = note_hook("Issue", "@hookline-bot fix it", alice());
    let mut e = envelope(HookKind::Note, "x", &note);
    let mut event: super::event::GitlabEvent = serde_json::from_str(e.payload.get()).unwrap();
    event.read_back = None;
    e.payload = serde_json::value::to_raw_value(&event).unwrap();
    ignore_reason(module().decide(&e).unwrap());
}

#[test]
fn newly_added_label_on_a_merge_request_works_on_its_source_branch() {
    let t = run(decide(
        HookKind::MergeRequest,
        &mr_hook("update", &[], &["openhands"], alice()),
    ));
    assert_eq!(t.branch.as_deref(), Some("feature/speed"));
    assert_eq!(t.title, "GitLab MR !1: Speed up");
    assert_eq!(t.thread_key, "gitlab:gitlab.com:5:mr:1");
    assert!(
        !t.prompt.instructions.contains("feature/speed"),
        "the branch name is the author's text: never in the instructions"
    );
    ignore_reason(decide(
        HookKind::MergeRequest,
        &mr_hook("merge", &[], &["openhands"], alice()),
    ));
}

#[test]
fn a_fork_merge_request_works_in_the_fork() {
    let mut payload = mr_hook("update", &[], &["openhands"], alice());
    payload["object_attributes"]["source_project_id"] = json!(77);
    payload["object_attributes"]["source"] = json!({"path_with_namespace": "alice/hello"});
    let t = run(decide(HookKind::MergeRequest, &payload));
    assert_eq!(t.repository.as_deref(), Some("alice/hello"));
    assert_eq!(source(&t).project_path, "acme/backend/hello");
}

#[test]
fn note_mentions_run_with_the_right_target() {
    let t = run(decide(
        HookKind::Note,
        &note_hook("Issue", "@hookline-bot please fix", alice()),
    ));
    assert_eq!(t.run_key, "gitlab:gitlab.com:5:issue:17:note:1241");
    assert_eq!(t.prompt.request, "@hookline-bot please fix");
    assert_eq!(source(&t).target, GitlabTarget::Note { note_id: 1241 });
    assert_eq!(t.title, "GitLab Issue #17: test");
    assert_eq!(
        source(&t).web_url,
        "https://gitlab.com/acme/backend/hello/-/issues/17",
        "built from the project URL when the payload has none"
    );

    let t = run(decide(
        HookKind::Note,
        &note_hook("MergeRequest", "Hey @Hookline-Bot, rename this.", alice()),
    ));
    assert_eq!(t.branch.as_deref(), Some("feature/speed"));
    assert_eq!(source(&t).target, GitlabTarget::Note { note_id: 1241 });

    let mut diff = note_hook("MergeRequest", "@hookline-bot rename this function", alice());
    diff["object_attributes"]["type"] = json!("DiffNote");
    diff["object_attributes"]["position"] =
        json!({"new_path": "src/lib.rs", "old_path": "src/lib.rs", "new_line": 12, "old_line": null});
    let t = run(decide(HookKind::Note, &diff));
    assert_eq!(
        source(&t).target,
        GitlabTarget::Discussion {
            note_id: 1241,
            discussion_id: "7a7c0ffee".into(),
            inline: true
        }
    );
    assert_eq!(t.prompt.location.as_deref(), Some("src/lib.rs:12"));

    let mut threaded = note_hook("Issue", "@hookline-bot and this?", alice());
    threaded["object_attributes"]["type"] = json!("DiscussionNote");
    let t = run(decide(HookKind::Note, &threaded));
    assert!(matches!(
        source(&t).target,
        GitlabTarget::Discussion { inline: false, .. }
    ));

    let mut internal = note_hook("Issue", "@hookline-bot look at the logs", alice());
    internal["object_attributes"]["internal"] = json!(true);
    assert!(source(&run(decide(HookKind::Note, &internal))).internal);
}

#[test]
fn trigger_matrix_ignores() {
    let no = [
        "@hookline-bot-2 please fix",
        "mail me@hookline-bot.dev",
        "> @hookline-bot fix this\nI agree",
        "```\n@hookline-bot in a fence\n```",
        "use `@hookline-bot` to trigger",
        "no mention",
    ];
    for body in no {
        assert_eq!(
            ignore_reason(decide(HookKind::Note, &note_hook("Issue", body, alice()))),
            "no exact mention",
            "{body:?}"
        );
    }
    let own_by_name = note_hook("Issue", "@hookline-bot loop", user("Hookline-Bot", 1));
    assert_eq!(
        ignore_reason(decide(HookKind::Note, &own_by_name)),
        "hookline's own account"
    );
    let own_by_id = note_hook("Issue", "@hookline-bot loop", user("renamed", 9000));
    assert_eq!(
        ignore_reason(decide(HookKind::Note, &own_by_id)),
        "hookline's own account"
    );
    for bot in [
        "project_42_bot_3f2a",
        "group_7_bot",
        "service_account_group_9_abc",
        "alert-bot",
        "ghost",
    ] {
        let payload = note_hook("Issue", "@hookline-bot go", user(bot, 5));
        assert_eq!(
            ignore_reason(decide(HookKind::Note, &payload)),
            "author is a bot",
            "{bot}"
        );
    }
    let bot_label = issue_hook("update", &[], &["openhands"], user("project_5_bot_x", 8));
    assert_eq!(
        ignore_reason(decide(HookKind::Issue, &bot_label)),
        "author is a bot"
    );
    let mut marker = note_hook("Issue", "@hookline-bot done <!-- hookline:run:abc -->", alice());
    marker["user"] = alice();
    assert_eq!(
        ignore_reason(decide(HookKind::Note, &marker)),
        "hookline's own note"
    );
    let mut system = note_hook("Issue", "@hookline-bot", alice());
    system["object_attributes"]["system"] = json!(true);
    assert_eq!(ignore_reason(decide(HookKind::Note, &system)), "system note");
    let mut edit = note_hook("Issue", "@hookline-bot", alice());
    edit["object_attributes"]["action"] = json!("update");
    assert!(ignore_reason(decide(HookKind::Note, &edit)).contains("edit"));
    // Humans whose names merely contain "bot" are people.
    run(decide(
        HookKind::Note,
        &note_hook("Issue", "@hookline-bot go", user("abbott", 3)),
    ));
    run(decide(
        HookKind::Note,
        &note_hook("Issue", "@hookline-bot go", user("project_x_bot", 3)),
    ));
}

#[test]
fn a_tenant_removed_from_the_config_ignores_its_queued_events() {
    let m = module_with(config(vec![tenant("git.example.com", true, false)]));
    let envelope = envelope(
        HookKind::Note,
        "Note Hook",
        &note_hook("Issue", "@hookline-bot", alice()),
    );
    assert!(matches!(m.decide(&envelope), Ok(Decision::Ignore(_))));
}

#[test]
fn the_unlinked_notice_names_the_person_and_the_instance() {
    let t = run(decide(
        HookKind::Note,
        &note_hook("Issue", "@hookline-bot fix", alice()),
    ));
    let text = module().unlinked_notice(&t);
    assert!(text.starts_with("@alice "));
    assert!(text.contains("GitLab account on gitlab.com is not linked"));
    assert!(text.contains("Ask an admin."));
}

#[tokio::test]
async fn an_empty_token_verifies_nothing() {
    // An operator stored an empty webhook token: a request with an empty (or no) token header must not match it.
    let secrets = MemorySecrets::new().with("gitlab/gitlab.com/webhook-token", "");
    let sides = BothSides::offline(config(vec![tenant("gitlab.com", true, false)]), secrets);
    let body = serde_json::to_vec(&note_hook("Issue", "@hookline-bot fix", alice())).unwrap();
    for token in [Some(""), None] {
        let result = post(
            &sides,
            "/webhooks/gitlab/gitlab.com",
            &body,
            &token_headers("Note Hook", token),
            NOW,
        )
        .await;
        assert!(
            matches!(result, Err(WebhookError::Unavailable(_))),
            "{token:?}: {result:?}"
        );
    }
}

/// A cached store whose cache still holds the token from before a rotation; a re-read finds the new one, at
/// most once until `allow` is called again (as Secrets Manager's adapter allows once a minute).
struct Rotated {
    rereads: std::sync::Mutex<u32>,
}

#[async_trait::async_trait]
impl crate::ports::Secrets for Rotated {
    async fn get(&self, _name: &str) -> Result<crate::secret::SecretString, crate::error::PortError> {
        Ok(crate::secret::SecretString::new("old-token"))
    }
    async fn reread(
        &self,
        _name: &str,
    ) -> Result<Option<crate::secret::SecretString>, crate::error::PortError> {
        *self.rereads.lock().unwrap() += 1;
        Ok(Some(crate::secret::SecretString::new("new-token")))
    }
}

#[tokio::test]
async fn a_rotated_token_is_honoured_at_once() {
    let secrets = Arc::new(Rotated {
        rereads: std::sync::Mutex::new(0),
    });
    let intake = GitlabIntake::new(config(vec![tenant("gitlab.com", true, false)]), secrets.clone());
    let body = serde_json::to_vec(&note_hook("Issue", "@hookline-bot fix", alice())).unwrap();
    let send = |token: &'static str| {
        let headers = token_headers("Note Hook", Some(token));
        let body = body.clone();
        let intake = &intake;
        async move { post(intake, "/webhooks/gitlab/gitlab.com", &body, &headers, NOW).await }
    };
    assert!(send("old-token").await.is_ok(), "the cached token");
    assert_eq!(*secrets.rereads.lock().unwrap(), 0, "a match reads nothing again");
    assert!(send("new-token").await.is_ok(), "the rotated token, read again");
    unauthorized(send("wrong-token").await);
    assert_eq!(*secrets.rereads.lock().unwrap(), 2);
}

/// The hook's `updated_at` of an assignment two minutes before [`NOW`].
const ASSIGNED_AT: &str = "2027-01-15 07:58:00 UTC";

/// An update of issue 23 (merge request 1 for `mr`) whose assignees went from `previous` to `current`, by `by`.
fn assignment_hook(mr: bool, previous: &[Value], current: &[Value], by: Value) -> Value {
    let mut v = if mr {
        mr_hook("update", &[], &[], by)
    } else {
        issue_hook("update", &[], &[], by)
    };
    v.as_object_mut().expect("object").remove("changes");
    v["object_attributes"]["updated_at"] = json!(ASSIGNED_AT);
    v["assignees"] = json!(current);
    v["changes"] = json!({"assignees": {"previous": previous, "current": current},
        "updated_at": {"previous": "2027-01-14 10:00:00 UTC", "current": ASSIGNED_AT}});
    v
}

fn bot() -> Value {
    user("hookline-bot", 9000)
}

/// GIVEN issue and merge request updates WHEN one newly assigns the bot THEN a run starts for whoever assigned
/// it, on the item (a merge request on its source branch), with no request text, keyed on GitLab's system note
/// of that assignment; an assignment to someone else, an unassignment, an update of an item already assigned to
/// the bot, and the bot assigning itself start nothing.
#[tokio::test]
async fn assigning_the_bot_starts_a_run_for_whoever_assigned_it() {
    let assigned = assignment_hook(false, &[user("bob", 55)], &[user("bob", 55), bot()], alice());
    let envelope = accepted(intake("Issue Hook", &assigned).await);
    let queued: GitlabEvent = serde_json::from_str(envelope.payload.get()).unwrap();
    assert_eq!(
        queued.assignees_added,
        vec![super::event::GitlabUser {
            id: 9000,
            username: "hookline-bot".into()
        }]
    );
    assert_eq!(queued.item.updated_at, ASSIGNED_AT);
    let t = run(decide(HookKind::Issue, &assigned));
    assert_eq!(t.run_key, "gitlab:gitlab.com:5:issue:23:assigned:77");
    assert_eq!((t.actor.id.as_str(), t.actor.login.as_str()), ("101", "alice"));
    assert!(t.prompt.request.is_empty());
    assert!(!t.prompt.request_in_body);
    assert!(t.prompt.instructions.contains("Closes #23"));
    assert_eq!(source(&t).target, GitlabTarget::Item);

    let mr = assignment_hook(true, &[], &[bot()], alice());
    accepted(intake("Merge Request Hook", &mr).await);
    let t = run(decide(HookKind::MergeRequest, &mr));
    assert_eq!(t.run_key, "gitlab:gitlab.com:5:mr:1:assigned:77");
    assert_eq!(t.branch.as_deref(), Some("feature/speed"));

    let someone_else = assignment_hook(false, &[], &[user("bob", 55)], alice());
    ignored_at_intake(intake("Issue Hook", &someone_else).await);
    let unassigned = assignment_hook(false, &[bot()], &[], alice());
    ignored_at_intake(intake("Issue Hook", &unassigned).await);
    let already = assignment_hook(false, &[bot()], &[bot(), user("bob", 55)], alice());
    ignored_at_intake(intake("Issue Hook", &already).await);
    // A bot renamed away: its id no longer matches the configured one.
    let namesake = assignment_hook(false, &[], &[user("hookline-bot", 4)], alice());
    ignored_at_intake(intake("Issue Hook", &namesake).await);
    let mut closed = assigned.clone();
    closed["object_attributes"]["action"] = json!("close");
    ignored_at_intake(intake("Issue Hook", &closed).await);
    let by_itself = assignment_hook(false, &[], &[bot()], bot());
    assert_eq!(
        ignore_reason(decide(HookKind::Issue, &by_itself)),
        "hookline's own account"
    );
    let by_token_bot = assignment_hook(false, &[], &[bot()], user("project_5_bot_1a2b", 77));
    assert_eq!(
        ignore_reason(decide(HookKind::Issue, &by_token_bot)),
        "author is a bot"
    );
}

/// GIVEN an assignment hook WHEN GitLab, read back, does not show the bot among the assignees, shows the item
/// changed before the hook says, or has no system note of this person assigning the bot at the hook's time (or
/// only one long ago) THEN nothing starts; a forged copy with another `updated_at` near the real one is the same
/// run, keyed on the note.
#[test]
fn only_an_assignment_gitlab_confirms_starts_a_run() {
    let hook = assignment_hook(false, &[], &[bot()], alice());
    let at = NOW - 120;
    let bot_user = super::event::GitlabUser {
        id: 9000,
        username: "hookline-bot".into(),
    };
    let confirmed = ReadBack {
        assignees: vec![bot_user.clone()],
        updated_at: Some(at + 5),
        assignments: vec![Assignment { note_id: 80, at }],
        ..ReadBack::default()
    };
    let decide_on = |m: &BothSides, hook: &Value, read_back: Option<ReadBack>| {
        let mut e = envelope(HookKind::Issue, "x", hook);
        let mut event: GitlabEvent = serde_json::from_str(e.payload.get()).unwrap();
        event.read_back = read_back;
        e.payload = serde_json::value::to_raw_value(&event).unwrap();
        m.decide(&e).unwrap()
    };
    let decide_with = |hook: &Value, read_back| decide_on(&module(), hook, read_back);
    assert!(run(decide_with(&hook, Some(confirmed.clone())))
        .run_key
        .ends_with(":issue:23:assigned:80"));
    let with_assignments = |assignments| ReadBack {
        assignments,
        ..confirmed.clone()
    };
    let mut long_ago = hook.clone();
    long_ago["object_attributes"]["updated_at"] = json!("2027-01-15 06:00:00 UTC");
    let mut unkeyed = hook.clone();
    unkeyed["object_attributes"]["updated_at"] = json!("yesterday");
    let refused = [
        (&hook, None, "GitLab did not confirm the item to the bot"),
        (
            &hook,
            Some(ReadBack {
                assignees: vec![],
                ..confirmed.clone()
            }),
            "GitLab does not show the bot among the assignees",
        ),
        (
            &hook,
            Some(ReadBack {
                updated_at: Some(at - 1),
                ..confirmed.clone()
            }),
            "GitLab does not show the item changed when the hook says",
        ),
        (
            &hook,
            Some(with_assignments(vec![])),
            "GitLab does not show this person assigning the bot then",
        ),
        (
            &hook,
            Some(with_assignments(vec![Assignment {
                note_id: 80,
                at: at - 3600,
            }])),
            "GitLab does not show this person assigning the bot then",
        ),
        (
            &long_ago,
            Some(with_assignments(vec![Assignment {
                note_id: 60,
                at: NOW - 2 * 3600,
            }])),
            "the bot was assigned too long ago",
        ),
        (
            &unkeyed,
            Some(confirmed.clone()),
            "no updated_at to key the run on",
        ),
    ];
    for (hook, read_back, reason) in refused {
        assert_eq!(ignore_reason(decide_with(hook, read_back)), reason);
    }
    let mut shifted = hook.clone();
    shifted["object_attributes"]["updated_at"] = json!("2027-01-15T07:58:30Z");
    let with_an_older_one = ReadBack {
        updated_at: Some(at + 60),
        ..with_assignments(vec![
            Assignment { note_id: 80, at },
            Assignment {
                note_id: 12,
                at: at - 7200,
            },
        ])
    };
    assert!(run(decide_with(&shifted, Some(with_an_older_one)))
        .run_key
        .ends_with(":issue:23:assigned:80"));
    // Without a configured bot id the bot is known by its username.
    let mut by_name = tenant("gitlab.com", true, false);
    by_name.bot_user_id = None;
    let read_back = ReadBack {
        assignees: vec![super::event::GitlabUser {
            id: 4,
            username: "hookline-bot".into(),
        }],
        updated_at: Some(at),
        assignments: vec![Assignment { note_id: 81, at }],
        ..ReadBack::default()
    };
    let decision = decide_on(
        &module_with(config(vec![by_name])),
        &assignment_hook(false, &[], &[user("Hookline-Bot", 4)], alice()),
        Some(read_back),
    );
    assert!(matches!(decision, Decision::Run(t) if t.run_key.ends_with(":assigned:81")));
}
