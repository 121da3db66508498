//! Linear intake and trigger matrix: the computed vectors V7/V8, tamper / wrong-secret / missing-header / stale /
//! other-tenant cases, the prefilter and trimming, which events start runs, and repository resolution.

use serde_json::{json, Value};

use super::{
    config::LinearConfig,
    event::{LinearEvent, LinearEventKind},
    triggers::{mentions_handle, resolve_repository},
    LinearSource,
};
use crate::{
    config::ConfigError,
    domain::{Envelope, Provider, SourceRef},
    error::WebhookError,
    memory::MemorySecrets,
    provider::{BothSides, Decision, Intake, ProviderModule},
    test_support::{self, accepted, ignore_reason, post, run},
    verify::{self, sign_hex},
};

const ACME_SECRET: &str = "lin_wh_test_secret";
const GLOBEX_SECRET: &str = "globex-secret";
const BOT_USER: &str = "bot-user-1";
const ALICE: &str = "aacdca22-6266-4c0a-ab3c-8fa70a26765c";
/// 2024-04-30T12:00:00Z, the V8 body's `webhookTimestamp`, in seconds.
const V8_NOW: u64 = 1_714_478_400;

const V8_BODY: &str = r##"{"action":"create","type":"Comment","createdAt":"2024-04-30T12:00:00.000Z","data":{"id":"2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9","body":"@bot please fix","issueId":"539068e2-ae88-4d09-bd75-22eb4a59612f","userId":"aacdca22-6266-4c0a-ab3c-8fa70a26765c"},"url":"https://linear.app/acme/issue/ENG-1#comment-2174add1","organizationId":"org-1","webhookId":"wh-1","webhookTimestamp":1714478400000}"##;
const V8_SIGNATURE: &str = "b2f3de8df3fc69e912034aa8d8c05fd22d3bf4d65223ac1a724cb31609f8efbb";

fn load(pairs: &[(&str, &str)]) -> Result<Option<LinearConfig>, ConfigError> {
    let get = crate::config::pairs_lookup(pairs);
    LinearConfig::load(&crate::config::Lookup::new(&get))
}

fn config_with(extra: &[(&str, &str)]) -> LinearConfig {
    let mut pairs = vec![
        ("LINEAR_TENANTS", "acme,globex"),
        ("LINEAR_ACME_ORGANIZATION_ID", "org-1"),
        ("LINEAR_ACME_BOT_USER_ID", "bot-user-1"),
        ("LINEAR_GLOBEX_ORGANIZATION_ID", "org-2"),
        ("LINEAR_GLOBEX_BOT_USER_ID", "bot-user-2"),
        ("LINEAR_REPOS", "ENG=octo/hello"),
        ("LINEAR_GLOBEX_REPOS", "ENG=gitlab:globex/app"),
    ];
    pairs.extend_from_slice(extra);
    load(&pairs).expect("loads").expect("linear on")
}

fn config() -> LinearConfig {
    config_with(&[])
}

fn module_with(config: LinearConfig) -> BothSides {
    let secrets = MemorySecrets::new()
        .with("linear/acme/webhook-secret", ACME_SECRET)
        .with("linear/globex/webhook-secret", GLOBEX_SECRET);
    BothSides::offline(config, secrets)
}

fn module() -> BothSides {
    module_with(config())
}

fn headers(signature: Option<&str>, delivery: Option<&str>) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    h.insert("linear-event", "Comment".parse().unwrap());
    if let Some(signature) = signature {
        h.insert("Linear-Signature", signature.parse().unwrap());
    }
    if let Some(delivery) = delivery {
        h.insert("Linear-Delivery", delivery.parse().unwrap());
    }
    h
}

/// Sign `body` with acme's secret and post it to acme's route at `now`, with `delivery` as its delivery id.
async fn intake_signed(
    module: &BothSides,
    body: &[u8],
    delivery: Option<&str>,
    now: u64,
) -> Result<Intake, WebhookError> {
    let sig = sign_hex(ACME_SECRET.as_bytes(), body);
    post(
        module,
        "/webhooks/linear/acme",
        body,
        &headers(Some(&sig), delivery),
        now,
    )
    .await
}

/// Sign `payload` with acme's secret and post it to acme's route at `V8_NOW`.
async fn intake(payload: &Value) -> Result<Intake, WebhookError> {
    let body = serde_json::to_vec(payload).unwrap();
    intake_signed(&module(), &body, Some("d-1"), V8_NOW).await
}

fn ignored(result: Result<Intake, WebhookError>) -> &'static str {
    match result {
        Ok(Intake::Ignore(reason)) => reason,
        other => panic!("expected Ignore, got {other:?}"),
    }
}

fn comment(body: &str) -> Value {
    json!({
        "action": "create",
        "type": "Comment",
        "actor": {"id": ALICE, "type": "user", "name": "Alice"},
        "createdAt": "2024-04-30T12:00:00.000Z",
        "data": {
            "id": "c-1",
            "body": body,
            "issueId": "issue-1",
            "issue": {"id": "issue-1", "identifier": "ENG-7", "title": "Crash on save", "teamId": "t-1",
                      "team": {"id": "t-1", "key": "ENG", "name": "Engineering"},
                      "url": "https://linear.app/acme/issue/ENG-7/crash-on-save"},
            "userId": ALICE,
            "user": {"id": ALICE, "name": "Alice Doe", "displayName": "alice"},
            "botActor": null,
            "parentId": null,
            "createdAt": "2024-04-30T12:00:00.000Z",
            "updatedAt": "2024-04-30T12:00:00.000Z"
        },
        "url": "https://linear.app/acme/issue/ENG-7#comment-c-1",
        "organizationId": "org-1",
        "webhookId": "wh-1",
        "webhookTimestamp": V8_NOW * 1000
    })
}

fn label_update(before: &[&str], now: &[&str]) -> Value {
    let labels: Vec<Value> = now
        .iter()
        .map(|id| json!({"id": id, "name": if *id == "l-oh" { "OpenHands" } else { "bug" }}))
        .collect();
    json!({
        "action": "update",
        "type": "Issue",
        "actor": {"id": ALICE, "type": "user", "name": "Alice"},
        "createdAt": "2024-04-30T12:00:00.000Z",
        "data": {
            "id": "issue-1", "identifier": "ENG-7", "number": 7, "title": "Crash on save",
            "description": "Saving an empty file panics.",
            "teamId": "t-1", "team": {"id": "t-1", "key": "ENG", "name": "Engineering"},
            "state": {"id": "s-1", "name": "Todo", "type": "unstarted"},
            "labelIds": now, "labels": labels,
            "botActor": null,
            "updatedAt": "2024-04-30T11:59:59.500Z",
            "url": "https://linear.app/acme/issue/ENG-7/crash-on-save"
        },
        "updatedFrom": {"labelIds": before, "updatedAt": "2024-04-29T10:00:00.000Z"},
        "url": "https://linear.app/acme/issue/ENG-7/crash-on-save",
        "organizationId": "org-1",
        "webhookId": "wh-1",
        "webhookTimestamp": V8_NOW * 1000
    })
}

fn decide(envelope: &Envelope) -> Decision {
    module().decide(envelope).expect("decides")
}

// ---- verification ----

#[test]
fn computed_vector_v7() {
    let sig = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(sign_hex(b"It's a Secret to Everybody", b"Hello, World!"), sig);
    assert_eq!(
        verify::hmac_sha256_hex(b"It's a Secret to Everybody", b"Hello, World!", sig),
        Ok(())
    );
}

#[tokio::test]
async fn computed_vector_v8_passes_with_a_pinned_now() {
    assert_eq!(V8_BODY.len(), 388);
    let module = module_with(config_with(&[("LINEAR_MENTION", "@bot")]));
    let h = headers(Some(V8_SIGNATURE), None);
    let envelope = accepted(post(&module, "/webhooks/linear/acme", V8_BODY.as_bytes(), &h, V8_NOW).await);
    assert_eq!(envelope.tenant, "acme");
    assert_eq!(envelope.provider, Provider::Linear);
    // No Linear-Delivery header: the documented body-derived key.
    assert!(
        envelope.delivery_id.starts_with("body-"),
        "{}",
        envelope.delivery_id
    );
    assert_eq!(envelope.group, "linear:acme:539068e2-ae88-4d09-bd75-22eb4a59612f");
    // 60 s either way is fresh; 61 s is not.
    for now in [V8_NOW - 60, V8_NOW + 60] {
        assert!(
            post(&module, "/webhooks/linear/acme", V8_BODY.as_bytes(), &h, now)
                .await
                .is_ok()
        );
    }
    for now in [V8_NOW - 61, V8_NOW + 61] {
        let err = post(&module, "/webhooks/linear/acme", V8_BODY.as_bytes(), &h, now)
            .await
            .unwrap_err();
        assert!(matches!(err, WebhookError::Stale), "{err:?}");
        assert_eq!(err.into_reply().status, 401);
    }
}

#[tokio::test]
async fn tampered_unsigned_and_wrongly_signed_requests_are_401() {
    let module = module_with(config_with(&[("LINEAR_MENTION", "@bot")]));
    let path = "/webhooks/linear/acme";
    let tampered = V8_BODY.replace("please fix", "please fiz");
    let cases: Vec<(Vec<u8>, http::HeaderMap)> = vec![
        (tampered.into_bytes(), headers(Some(V8_SIGNATURE), None)),
        (V8_BODY.as_bytes().to_vec(), headers(None, None)),
        (V8_BODY.as_bytes().to_vec(), headers(Some(""), None)),
        (V8_BODY.as_bytes().to_vec(), headers(Some("not-hex"), None)),
        (
            V8_BODY.as_bytes().to_vec(),
            headers(Some(&format!("sha256={V8_SIGNATURE}")), None),
        ),
        (
            V8_BODY.as_bytes().to_vec(),
            headers(Some(&sign_hex(b"wrong secret", V8_BODY.as_bytes())), None),
        ),
        (
            V8_BODY.as_bytes().to_vec(),
            headers(Some(&V8_SIGNATURE[..62]), None),
        ),
    ];
    for (body, h) in cases {
        let err = post(&module, path, &body, &h, V8_NOW).await.unwrap_err();
        assert!(matches!(err, WebhookError::Unauthorized(_)), "{err:?}");
        assert_eq!(err.into_reply().status, 401);
    }
    // A body re-serialized by a JSON parser no longer matches the signature over the raw bytes.
    let reserialized = serde_json::to_vec(&serde_json::from_str::<Value>(V8_BODY).unwrap()).unwrap();
    assert_ne!(reserialized, V8_BODY.as_bytes());
    assert!(post(
        &module,
        path,
        &reserialized,
        &headers(Some(V8_SIGNATURE), None),
        V8_NOW
    )
    .await
    .is_err());
}

#[tokio::test]
async fn the_url_tenant_selects_the_secret_and_the_organization() {
    let module = module();
    let payload = comment("@openhands fix it");
    let body = serde_json::to_vec(&payload).unwrap();
    let globex_sig = sign_hex(GLOBEX_SECRET.as_bytes(), &body);
    for path in [
        // Signed with globex's secret but posted to acme.
        "/webhooks/linear/acme",
        // Signed with globex's secret and posted to globex, but the verified body is acme's organization.
        "/webhooks/linear/globex",
    ] {
        let err = post(&module, path, &body, &headers(Some(&globex_sig), None), V8_NOW)
            .await
            .unwrap_err();
        assert!(matches!(err, WebhookError::Unauthorized(_)), "{path}: {err:?}");
    }
    // Unknown or missing tenants have no route.
    let acme_sig = sign_hex(ACME_SECRET.as_bytes(), &body);
    for path in [
        "/webhooks/linear/initech",
        "/webhooks/linear",
        "/webhooks/linear/acme/x",
    ] {
        let err = post(&module, path, &body, &headers(Some(&acme_sig), None), V8_NOW)
            .await
            .unwrap_err();
        assert!(matches!(err, WebhookError::NotFound), "{path}: {err:?}");
    }
    // A stage prefix and a trailing slash are fine.
    for path in ["/prod/webhooks/linear/acme", "/webhooks/linear/acme/"] {
        let h = headers(Some(&acme_sig), Some("d-9"));
        accepted(post(&module, path, &body, &h, V8_NOW).await);
    }
}

#[tokio::test]
async fn a_body_without_a_timestamp_is_refused() {
    let mut payload = comment("@openhands fix it");
    payload.as_object_mut().unwrap().remove("webhookTimestamp");
    let err = intake(&payload).await.unwrap_err();
    assert!(matches!(err, WebhookError::Stale));
    payload["webhookTimestamp"] = json!("soon");
    assert!(matches!(intake(&payload).await.unwrap_err(), WebhookError::Stale));
}

#[tokio::test]
async fn delivery_ids_come_from_the_header_or_the_verified_body() {
    let envelope = accepted(intake(&comment("@openhands fix it")).await);
    assert_eq!(envelope.delivery_id, "d-1");
    let payload = comment("@openhands fix it");
    let body = serde_json::to_vec(&payload).unwrap();
    let err = intake_signed(&module(), &body, Some("bad id with spaces"), V8_NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookError::Malformed(_)));
    // The fallback key ignores the per-attempt timestamp, so a re-stamped redelivery has the same key.
    let first = accepted(intake_signed(&module(), &body, None, V8_NOW).await);
    let mut later = payload.clone();
    later["webhookTimestamp"] = json!((V8_NOW + 3600) * 1000);
    let later_body = serde_json::to_vec(&later).unwrap();
    let second = accepted(intake_signed(&module(), &later_body, None, V8_NOW + 3600).await);
    assert_eq!(first.delivery_id, second.delivery_id);
}

// ---- prefilter and trimming ----

#[tokio::test]
async fn the_prefilter_drops_what_can_never_trigger() {
    assert_eq!(
        ignored(intake(&comment("no mention here")).await),
        "comment without a mention"
    );
    let mut edit = comment("@openhands fix it");
    edit["action"] = json!("update");
    assert_eq!(ignored(intake(&edit).await), "comment edit or removal");
    let mut removal = comment("@openhands fix it");
    removal["action"] = json!("remove");
    assert_eq!(ignored(intake(&removal).await), "comment edit or removal");
    // Labels: only a newly added trigger label passes.
    assert_eq!(
        ignored(intake(&label_update(&["l-oh"], &["l-oh", "l-bug"])).await),
        "no newly added trigger label"
    );
    assert_eq!(
        ignored(intake(&label_update(&[], &["l-bug"])).await),
        "no newly added trigger label"
    );
    let mut untouched = label_update(&[], &["l-oh"]);
    untouched["updatedFrom"] = json!({"title": "Old title"});
    assert_eq!(ignored(intake(&untouched).await), "no newly added trigger label");
    // A new issue only with a mention or the label (`a_new_issue_that_asks_starts_a_run`).
    let mut create = label_update(&[], &["l-bug"]);
    create["action"] = json!("create");
    assert_eq!(
        ignored(intake(&create).await),
        "new issue without a mention or the trigger label"
    );
    let mut project = comment("@openhands");
    project["type"] = json!("Project");
    assert_eq!(ignored(intake(&project).await), "event never triggers");
}

#[tokio::test]
async fn queued_events_are_trimmed() {
    let big = format!("@openhands fix it\n{}", "x".repeat(900_000));
    let envelope = accepted(intake(&comment(&big)).await);
    assert!(
        envelope.payload.get().len() < 80 * 1024,
        "{}",
        envelope.payload.get().len()
    );
    let event: LinearEvent = serde_json::from_str(envelope.payload.get()).unwrap();
    assert_eq!(event.kind, LinearEventKind::Comment);
    assert_eq!(event.issue.identifier, "ENG-7");
    assert_eq!(event.issue.team_key, "ENG");
    assert_eq!(event.author.name, "alice");
    assert!(event.comment.unwrap().body.contains("more bytes not included"));

    let envelope = accepted(intake(&label_update(&["l-bug"], &["l-bug", "l-oh"])).await);
    let event: LinearEvent = serde_json::from_str(envelope.payload.get()).unwrap();
    assert_eq!(event.kind, LinearEventKind::LabelsAdded);
    assert_eq!(event.added_labels.len(), 1);
    assert_eq!(event.added_labels[0].name, "OpenHands");
    assert_eq!(
        event.issue.description.as_deref(),
        Some("Saving an empty file panics.")
    );
}

// ---- trigger matrix ----

#[tokio::test]
async fn a_new_comment_with_an_exact_mention_runs() {
    let envelope = accepted(intake(&comment("Hey @OpenHands, please fix this")).await);
    let trigger = run(decide(&envelope));
    assert_eq!(trigger.provider, Provider::Linear);
    assert_eq!(trigger.tenant, "acme");
    assert_eq!(trigger.thread_key, "linear:acme:issue-1");
    assert_eq!(trigger.run_key, "linear:acme:issue-1:comment:c-1");
    assert_eq!(trigger.actor.id, ALICE);
    assert_eq!(trigger.actor.login, "alice");
    assert_eq!(trigger.repository.as_deref(), Some("octo/hello"));
    assert_eq!(trigger.git_provider, "github");
    assert_eq!(trigger.title, "Linear Issue ENG-7: Crash on save");
    assert!(trigger.prompt.instructions.contains("eng-7"));
    assert_eq!(
        trigger.source,
        SourceRef::Linear(LinearSource {
            tenant: "acme".into(),
            issue_id: "issue-1".into(),
            issue_identifier: "ENG-7".into(),
            comment_id: Some("c-1".into()),
            thread_root_id: Some("c-1".into()),
        })
    );
}

#[tokio::test]
async fn a_reply_reports_under_its_thread_root() {
    let mut payload = comment("@openhands and this too");
    payload["data"]["parentId"] = json!("c-root");
    let trigger = run(decide(&accepted(intake(&payload).await)));
    match trigger.source {
        SourceRef::Linear(source) => assert_eq!(source.thread_root_id.as_deref(), Some("c-root")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn comments_that_must_not_trigger() {
    let mut by_app = comment("@openhands fix it");
    by_app["data"]["botActor"] = json!({"id": "app-1", "type": "oauthClient", "name": "Some app"});
    let mut integration = comment("@openhands fix it");
    integration["actor"]["type"] = json!("integration");
    let mut own = comment("@openhands finished: see @openhands summary");
    own["data"]["userId"] = json!(BOT_USER);
    own["data"]["user"]["id"] = json!(BOT_USER);
    own["actor"]["id"] = json!(BOT_USER);
    let mut edited = comment("@openhands fix it");
    edited["data"]["editedAt"] = json!("2024-04-30T12:00:01.000Z");
    let cases: Vec<(Value, &str)> = vec![
        (comment("@openhands-agent fix it"), "no exact mention"),
        (comment("mail me@openhands.dev"), "no exact mention"),
        (comment("> @openhands fix it\nI agree"), "no exact mention"),
        (comment("use `@openhands` to trigger"), "no exact mention"),
        (comment("```\n@openhands in code\n```"), "no exact mention"),
        (by_app, "author is an app or integration"),
        (integration, "author is an app or integration"),
        (own, "hookline's own service account"),
        (edited, "edited comment"),
    ];
    for (payload, reason) in cases {
        assert_eq!(
            ignore_reason(decide(&accepted(intake(&payload).await))),
            reason,
            "{payload}"
        );
    }
}

#[tokio::test]
async fn a_mention_written_as_a_profile_link_counts() {
    let payload = comment("[@openhands](https://linear.app/acme/profiles/openhands) please fix");
    run(decide(&accepted(intake(&payload).await)));
    let payload = comment("https://linear.app/acme/profiles/openhands please fix");
    run(decide(&accepted(intake(&payload).await)));
    assert!(!mentions_handle(
        "https://linear.app/acme/profiles/openhands-bot hi",
        "@openhands"
    ));
    assert!(!mentions_handle(
        "> https://linear.app/acme/profiles/openhands quoted",
        "@openhands"
    ));
    assert!(!mentions_handle(
        "https://example.com/profiles/openhands",
        "@openhands"
    ));
}

#[tokio::test]
async fn the_configured_label_runs_only_when_newly_added() {
    let envelope = accepted(intake(&label_update(&["l-bug"], &["l-bug", "l-oh"])).await);
    let trigger = run(decide(&envelope));
    assert_eq!(
        trigger.run_key,
        "linear:acme:issue-1:label:l-oh:2024-04-30T11:59:59.500Z"
    );
    assert_eq!(trigger.prompt.request, "");
    assert_eq!(trigger.prompt.subject_body, "Saving an empty file panics.");
    assert!(trigger
        .prompt
        .instructions
        .starts_with("Resolve Linear issue ENG-7"));
    match &trigger.source {
        SourceRef::Linear(source) => {
            assert_eq!(source.comment_id, None);
            assert_eq!(source.thread_root_id, None);
        }
        other => panic!("{other:?}"),
    }
    // Added by an app or by Hookline itself: ignored.
    let mut by_app = label_update(&[], &["l-oh"]);
    by_app["actor"]["type"] = json!("oauthClient");
    assert_eq!(
        ignore_reason(decide(&accepted(intake(&by_app).await))),
        "author is an app or integration"
    );
    let mut own = label_update(&[], &["l-oh"]);
    own["actor"]["id"] = json!(BOT_USER);
    assert_eq!(
        ignore_reason(decide(&accepted(intake(&own).await))),
        "hookline's own service account"
    );
}

#[tokio::test]
async fn the_label_can_be_configured_by_id() {
    let module = module_with(config_with(&[
        ("LINEAR_LABEL", "agent"),
        ("LINEAR_LABEL_ID", "l-bug"),
    ]));
    let payload = label_update(&[], &["l-bug"]);
    let body = serde_json::to_vec(&payload).unwrap();
    let envelope = accepted(intake_signed(&module, &body, Some("d-2"), V8_NOW).await);
    let trigger = run(module.decide(&envelope).unwrap());
    assert!(trigger.run_key.contains(":label:l-bug:"));
}

// ---- repository ----

fn event_with(comment_body: &str, title: &str, description: &str, team: &str) -> LinearEvent {
    LinearEvent {
        kind: LinearEventKind::Comment,
        issue: super::event::LinearIssue {
            id: "issue-1".into(),
            identifier: "ENG-7".into(),
            title: title.into(),
            description: Some(description.into()),
            url: String::new(),
            team_key: team.into(),
        },
        comment: Some(super::event::LinearComment {
            id: "c-1".into(),
            body: comment_body.into(),
            parent_id: None,
            edited: false,
        }),
        author: Default::default(),
        added_labels: Vec::new(),
        updated_at: String::new(),
    }
}

#[test]
fn repositories_come_from_urls_text_then_the_team_map() {
    let config = config();
    let repo = |c: &str, t: &str, d: &str, team: &str| {
        resolve_repository(&config, "acme", &event_with(c, t, d, team))
            .map(|r| (r.repository, r.git_provider))
    };
    // (comment, title, description, team) and the repository with its git provider.
    let cases = [
        (
            (
                "@openhands fix https://github.com/octo/app/issues/3.",
                "",
                "",
                "ENG",
            ),
            Some(("octo/app", "github")),
        ),
        (
            (
                "@openhands",
                "",
                "see https://gitlab.com/grp/sub/proj/-/issues/1",
                "OPS",
            ),
            Some(("grp/sub/proj", "gitlab")),
        ),
        (
            ("@openhands in `acme/api` please", "", "", "ENG"),
            Some(("acme/api", "github")),
        ),
        // Paths and word pairs are not repositories; the team map applies.
        (
            ("@openhands fix src/main.rs and/or lib", "", "", "ENG"),
            Some(("octo/hello", "github")),
        ),
        // Two candidates in the comment: ambiguous, so the team map decides.
        (
            ("@openhands a/b or c/d", "", "", "ENG"),
            Some(("octo/hello", "github")),
        ),
        // No map for the team: a single candidate in the description, else nothing.
        (
            ("@openhands", "", "Repo: acme/web", "OPS"),
            Some(("acme/web", "github")),
        ),
        (("@openhands", "", "nothing here", "OPS"), None),
    ];
    for ((c, t, d, team), expected) in cases {
        let expected = expected.map(|(r, p)| (r.to_owned(), p.to_owned()));
        assert_eq!(repo(c, t, d, team), expected, "{c:?} {d:?} {team}");
    }
    // A tenant-specific entry wins, with its git provider.
    let globex = resolve_repository(&config, "globex", &event_with("@openhands", "", "", "eng")).unwrap();
    assert_eq!(
        (globex.repository.as_str(), globex.git_provider.as_str()),
        ("globex/app", "gitlab")
    );
}

#[tokio::test]
async fn no_repository_asks_once_for_it() {
    let mut payload = comment("@openhands fix it");
    payload["data"]["issue"]["team"]["key"] = json!("OPS");
    match decide(&accepted(intake(&payload).await)) {
        Decision::Notice { source, key, text } => {
            assert_eq!(key, "linear:acme:issue-1:comment:c-1");
            assert!(text.contains("which repository"), "{text}");
            assert!(text.contains("`OPS`"), "{text}");
            assert!(matches!(*source, SourceRef::Linear(_)));
        }
        other => panic!("expected a notice, got {other:?}"),
    }
}

// ---- configuration ----

#[test]
fn configuration_is_off_until_tenants_are_set_and_names_what_is_missing() {
    assert_eq!(load(&[]), Ok(None));
    assert_eq!(
        load(&[("LINEAR_TENANTS", "acme"), ("LINEAR_ACME_BOT_USER_ID", "u")]),
        Err(ConfigError::missing("LINEAR_ACME_ORGANIZATION_ID"))
    );
    assert_eq!(
        load(&[
            ("LINEAR_TENANTS", "acme"),
            ("LINEAR_ACME_ORGANIZATION_ID", "org-1")
        ]),
        Err(ConfigError::missing("LINEAR_ACME_BOT_USER_ID"))
    );
    let invalid_name = |result: Result<Option<LinearConfig>, ConfigError>| match result {
        Err(ConfigError::Invalid { name, .. }) => name,
        other => panic!("expected invalid, got {other:?}"),
    };
    assert_eq!(invalid_name(load(&[("LINEAR_TENANTS", "a/b")])), "LINEAR_TENANTS");
    assert_eq!(invalid_name(load(&[("LINEAR_TENANTS", "a.b")])), "LINEAR_TENANTS");
    let base = [
        ("LINEAR_TENANTS", "acme"),
        ("LINEAR_ACME_ORGANIZATION_ID", "org-1"),
        ("LINEAR_ACME_BOT_USER_ID", "u"),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut pairs = base.to_vec();
        pairs.push(extra);
        load(&pairs)
    };
    assert_eq!(
        invalid_name(with(("LINEAR_START_FROM_STATES", "unstarted,completed"))),
        "LINEAR_START_FROM_STATES"
    );
    assert_eq!(
        invalid_name(with(("LINEAR_MOVE_TO_STARTED", "maybe"))),
        "LINEAR_MOVE_TO_STARTED"
    );
    assert_eq!(invalid_name(with(("LINEAR_REPOS", "ENG=nope"))), "LINEAR_REPOS");
    let config = load(&base).unwrap().unwrap();
    assert_eq!(config.api_url, "https://api.linear.app/graphql");
    assert_eq!(config.mention, "@openhands");
    assert_eq!(config.label, "openhands");
    assert!(config.move_to_started);
    assert_eq!(config.start_from_states, vec!["backlog", "unstarted", "triage"]);
    assert_eq!(
        config.tenants[0].webhook_secret_name(),
        "linear/acme/webhook-secret"
    );
    assert_eq!(config.tenants[0].api_key_secret_name(), "linear/acme/api-key");
    let prefixed = with(("LINEAR_SECRET_PREFIX", "prod/linear")).unwrap().unwrap();
    assert_eq!(
        prefixed.tenants[0].api_key_secret_name(),
        "prod/linear/acme/api-key"
    );
    let config = with(("HOOKLINE_MENTION", "helper")).unwrap().unwrap();
    assert_eq!(config.mention, "@helper");
}

#[test]
fn the_unlinked_notice_names_the_person_and_their_id() {
    let source = SourceRef::Linear(LinearSource {
        tenant: "acme".into(),
        issue_id: "i".into(),
        issue_identifier: "ENG-1".into(),
        comment_id: None,
        thread_root_id: None,
    });
    let trigger = test_support::trigger_by(ALICE, "alice", "acme", source);
    let text = module().unlinked_notice(&trigger);
    assert!(text.starts_with("alice, I can't start OpenHands"), "{text}");
    assert!(text.contains(ALICE) && text.contains("Ask an admin."), "{text}");
}

/// A new issue as Linear sends it (`Issue` `create`), with `description` and the labels it was created with.
fn issue_created(description: &str, now: &[&str]) -> Value {
    let mut created = label_update(&[], now);
    created["action"] = json!("create");
    created.as_object_mut().expect("object").remove("updatedFrom");
    created["data"]["description"] = json!(description);
    created
}

/// GIVEN new issues WHEN the description mentions the handle exactly, or the issue comes with the label THEN
/// one run keyed on the issue's creation; a mention in a quote, another label, or an app creating it start
/// nothing.
#[tokio::test]
async fn a_new_issue_that_asks_starts_a_run() {
    for created in [
        issue_created("Saving panics.\n\n@openhands please fix it", &[]),
        issue_created("Saving panics.", &["l-bug", "l-oh"]),
    ] {
        let trigger = run(decide(&accepted(intake(&created).await)));
        assert!(trigger.run_key.ends_with(":created"), "{}", trigger.run_key);
        assert!(trigger
            .prompt
            .instructions
            .starts_with("Resolve Linear issue ENG-7"));
        assert!(
            trigger.prompt.request.is_empty(),
            "the description is quoted once"
        );
    }
    assert!(ignored(intake(&issue_created("Saving panics.", &["l-bug"])).await).contains("new issue"));
    let quoted = issue_created("> @openhands please fix it\n\nquoted", &[]);
    assert!(ignore_reason(decide(&accepted(intake(&quoted).await))).contains("mention"));
    let mut by_app = issue_created("@openhands please fix it", &[]);
    by_app["data"]["botActor"] = json!({"id": "app-1", "type": "oauthClient", "name": "Zapier"});
    assert!(matches!(
        decide(&accepted(intake(&by_app).await)),
        Decision::Ignore(_)
    ));
}

/// GIVEN issue updates WHEN one assigns or delegates the issue to Hookline's service account THEN a run starts
/// for whoever did it; an unrelated edit of an issue already assigned to it, or an assignment to someone else,
/// starts nothing.
#[tokio::test]
async fn assigning_or_delegating_to_the_service_account_starts_a_run() {
    let assigned = |field: &str, before: Value, now: &str| {
        let mut update = label_update(&[], &[]);
        update.as_object_mut().expect("object").remove("updatedFrom");
        update["data"][field] = json!(now);
        update["updatedFrom"] = json!({ field: before, "updatedAt": "2024-04-29T10:00:00.000Z" });
        update
    };
    for field in ["assigneeId", "delegateId"] {
        let t = run(decide(&accepted(
            intake(&assigned(field, Value::Null, BOT_USER)).await,
        )));
        assert_eq!(t.run_key, "linear:acme:issue-1:assigned:2024-04-30T11:59:59.500Z");
        assert_eq!(t.actor.id, ALICE);
        assert!(t.prompt.instructions.starts_with("Resolve Linear issue ENG-7"));
        assert!(ignored(intake(&assigned(field, json!("u-other"), "u-someone")).await).contains("label"));
    }
    let mut edit = label_update(&[], &[]);
    edit["data"]["assigneeId"] = json!(BOT_USER);
    edit["updatedFrom"] = json!({"title": "Old", "updatedAt": "2024-04-29T10:00:00.000Z"});
    assert!(
        matches!(intake(&edit).await, Ok(Intake::Ignore(_))),
        "already the bot's: no new run"
    );
}
