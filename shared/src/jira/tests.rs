//! Jira intake and trigger matrix: the computed vectors V5/V6, signature and tenant cases, prefilter,
//! trimming, which events start runs, and where the repository comes from.

use std::{
    borrow::Cow,
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{
    client::IssueReader,
    config::{JiraConfig, JiraTenant},
    JiraIntake, JiraSource,
};
use crate::{
    domain::SourceRef,
    error::{PortError, ProcessError, WebhookError},
    memory::{MemorySecrets, NoApiClient},
    provider::{BothSides, Decision, Intake, ProviderIntake, ProviderModule},
    repo_hint::RepoRef,
    test_support::{self, accepted, run},
    verify::{self, sign_hex},
};

const SECRET: &str = "jira-test-secret";
const BETA_SECRET: &str = "beta-secret";
const BOT: &str = "557058:bot-account";
const ALICE: &str = "5b10ac8d82e05b22cc7d4ef5";
/// V6 body of the published test vectors, exact bytes.
const V6_BODY: &str = r#"{"timestamp":1714478400000,"webhookEvent":"comment_created","comment":{"id":"10001","body":"@bot please fix","author":{"accountId":"5b10ac8d82e05b22cc7d4ef5","accountType":"atlassian"}},"issue":{"id":"10042","key":"PROJ-7"}}"#;
const V6_SIG: &str = "sha256=ac82b6918e61aae949fd0d9f036e9520fc450bbd4f9d7749a69eb9baea45e752";

/// Answers description reads from a script and records them.
#[derive(Default)]
struct Issues {
    answer: Mutex<Option<Result<Option<String>, PortError>>>,
    reads: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl IssueReader for Issues {
    async fn issue_description(&self, site: &str, issue_id: &str) -> Result<Option<String>, PortError> {
        self.reads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((site.to_owned(), issue_id.to_owned()));
        self.answer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .unwrap_or(Ok(None))
    }
}

fn site(name: &str) -> JiraTenant {
    JiraTenant {
        name: name.into(),
        base_url: format!("https://{name}.atlassian.net"),
        bot_account_id: BOT.into(),
        webhook_secret_name: format!("jira/{name}/webhook-secret"),
        email_secret_name: format!("jira/{name}/email"),
        api_token_secret_name: format!("jira/{name}/api-token"),
        projects: BTreeMap::from([(
            "MAPPED".to_owned(),
            RepoRef {
                repository: "group/sub/svc".into(),
                git_provider: "gitlab".into(),
            },
        )]),
        default_git_provider: "github".into(),
        transition_started: None,
        transition_pr_opened: None,
    }
}

fn config(mention: &str) -> JiraConfig {
    JiraConfig {
        tenants: vec![site("acme"), site("beta")],
        oauth: None,
        label: "openhands".into(),
        mention: mention.into(),
    }
}

fn module_with(mention: &str, issues: Arc<Issues>) -> BothSides {
    let secrets = MemorySecrets::new()
        .with("jira/acme/webhook-secret", SECRET)
        .with("jira/beta/webhook-secret", BETA_SECRET);
    let issues: Arc<dyn IssueReader> = issues;
    BothSides::new(
        config(mention),
        Arc::new(secrets),
        Arc::new(NoApiClient),
        Some(issues),
    )
}

fn module() -> BothSides {
    module_with("@openhands", Arc::new(Issues::default()))
}

/// Request headers as (name, value) pairs.
type Headers<'h> = &'h [(&'h str, &'h str)];

/// Post `body` with `headers` to `path` at the tests' `now`.
async fn post(
    module: &dyn ProviderIntake,
    path: &str,
    body: &[u8],
    headers: Headers<'_>,
) -> Result<Intake, WebhookError> {
    test_support::post(module, path, body, &test_support::header_map(headers), 1_000).await
}

async fn deliver(module: &BothSides, payload: &Value) -> Result<Intake, WebhookError> {
    let body = serde_json::to_vec(payload).expect("json");
    let sig = format!("sha256={}", sign_hex(SECRET.as_bytes(), &body));
    post(
        module,
        "/webhooks/jira/acme",
        &body,
        &[
            ("X-Hub-Signature", &sig),
            ("X-Atlassian-Webhook-Identifier", "d-1"),
        ],
    )
    .await
}

async fn decision(module: &BothSides, payload: &Value) -> Decision {
    match deliver(module, payload).await {
        Ok(Intake::Accept(envelope)) => module.decide(&envelope).expect("decides"),
        Ok(Intake::Ignore(reason)) => Decision::Ignore(reason),
        other => panic!("unexpected intake {other:?}"),
    }
}

fn ignored(decision: &Decision) -> bool {
    matches!(decision, Decision::Ignore(_))
}

fn person(id: &str) -> Value {
    json!({"accountId": id, "displayName": "Mia Krystof", "accountType": "atlassian"})
}

fn issue(description: Option<&str>) -> Value {
    let mut fields = json!({"project": {"key": "PROJ"}, "summary": "Crash on save in octo/hello"});
    if let Some(d) = description {
        fields["description"] = json!(d);
    }
    json!({"id": "10042", "key": "PROJ-7", "fields": fields})
}

fn comment_event(event: &str, body: Value, author: Value) -> Value {
    json!({
        "timestamp": 1_714_478_400_000u64,
        "webhookEvent": event,
        "comment": {"id": "10001", "body": body, "author": author, "created": "2024-04-30T12:00:00.000+0000"},
        "issue": issue(Some("Steps: save twice.")),
    })
}

fn label_event(from: &str, to: &str) -> Value {
    json!({
        "timestamp": 1_714_478_400_000u64,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": person(ALICE),
        "issue": issue(Some("Steps: save twice.")),
        "changelog": {"id": "10100", "items": [
            {"field": "status", "fieldtype": "jira", "fromString": "To Do", "toString": "To Do"},
            {"field": "labels", "fieldtype": "jira", "fromString": from, "toString": to}
        ]}
    })
}

fn adf(content: Value) -> Value {
    json!({"type": "doc", "version": 1, "content": content})
}

// ---- vectors and verification ----

#[test]
fn computed_vectors_v5_and_v6() {
    let v5 = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(
        verify::prefixed_sha256(b"It's a Secret to Everybody", b"Hello, World!", Some(v5)),
        Ok(())
    );
    assert_eq!(V6_BODY.len(), 224);
    assert_eq!(
        verify::prefixed_sha256(SECRET.as_bytes(), V6_BODY.as_bytes(), Some(V6_SIG)),
        Ok(())
    );
}

#[tokio::test]
async fn v6_is_accepted_on_its_site_and_trimmed() {
    let issues = Arc::new(Issues::default());
    let module = module_with("@bot", issues.clone());
    let envelope = accepted(
        post(
            &module,
            "/webhooks/jira/acme",
            V6_BODY.as_bytes(),
            &[
                ("x-hub-signature", V6_SIG),
                ("x-atlassian-webhook-identifier", "a8b1-c2"),
            ],
        )
        .await,
    );
    assert_eq!(envelope.tenant, "acme");
    assert_eq!(envelope.delivery_id, "a8b1-c2");
    assert_eq!(envelope.event, "comment_created");
    assert_eq!(envelope.group, "jira:acme:10042");
    assert_eq!(envelope.received_at, 1_000);
    // The webhook path makes no API call; the worker reads the missing description once, on this site.
    assert!(issues.reads.lock().expect("reads").is_empty());
    let envelope = module.enrich(&envelope).await.expect("enriched").into_owned();
    assert_eq!(
        issues.reads.lock().expect("reads").clone(),
        vec![("acme".to_owned(), "10042".to_owned())]
    );
    let payload: Value = serde_json::from_str(envelope.payload.get()).expect("json");
    assert_eq!(payload["comment"]["body"], "@bot please fix");
    assert_eq!(payload["issue"]["project_key"], "PROJ");
    // Nothing names a repository and PROJ is not mapped: ask for one, once per trigger.
    match module.decide(&envelope).expect("decides") {
        Decision::Notice { key, text, source } => {
            assert_eq!(key, "jira:acme:10042:comment:10001:repository");
            assert!(text.starts_with(&format!("[~accountid:{ALICE}]")), "{text}");
            assert!(text.contains("owner/repo"));
            assert!(
                matches!(*source, SourceRef::Jira(JiraSource { ref issue_key, .. }) if issue_key == "PROJ-7")
            );
        }
        other => panic!("expected a notice, got {other:?}"),
    }
}

#[tokio::test]
async fn signatures_are_checked_per_site() {
    let module = module_with("@bot", Arc::new(Issues::default()));
    let body = V6_BODY.as_bytes();
    let id = ("x-atlassian-webhook-identifier", "d-2");
    let tampered = V6_BODY.replace("please fix", "please rm -rf");
    let sha1 = format!("sha1={}", &V6_SIG[7..47]);
    let beta_sig = format!("sha256={}", sign_hex(BETA_SECRET.as_bytes(), body));
    let refused: [(&str, &[u8], Headers); 6] = [
        // Tampered body.
        (
            "/webhooks/jira/acme",
            tampered.as_bytes(),
            &[("x-hub-signature", V6_SIG), id],
        ),
        // Missing header, sha1 prefix, garbage.
        ("/webhooks/jira/acme", body, &[id]),
        ("/webhooks/jira/acme", body, &[("x-hub-signature", &sha1), id]),
        (
            "/webhooks/jira/acme",
            body,
            &[("x-hub-signature", "sha256=zz"), id],
        ),
        // Signed with another site's secret: refused on this site (accepted on that one, below).
        ("/webhooks/jira/acme", body, &[("x-hub-signature", &beta_sig), id]),
        // The acme-signed V6 on beta's URL is refused too: the URL picks the secret, not the payload.
        ("/webhooks/jira/beta", body, &[("x-hub-signature", V6_SIG), id]),
    ];
    for (path, body, headers) in refused {
        let result = post(&module, path, body, headers).await;
        assert!(
            matches!(result, Err(WebhookError::Unauthorized(_))),
            "{path} {headers:?}: {result:?}"
        );
    }
    let beta_signed = [("x-hub-signature", beta_sig.as_str()), id];
    let envelope = accepted(post(&module, "/webhooks/jira/beta", body, &beta_signed).await);
    assert_eq!(envelope.tenant, "beta");
    // Unknown sites and a bare route with two sites are 404, before any secret is read.
    for path in ["/webhooks/jira/gamma", "/webhooks/jira"] {
        let result = post(&module, path, body, &[("x-hub-signature", V6_SIG), id]).await;
        assert!(
            matches!(result, Err(WebhookError::NotFound)),
            "{path}: {result:?}"
        );
    }
    // Verified but without a delivery id, or with one that is not an id: 400.
    let without_id: [Headers; 2] = [
        &[("x-hub-signature", V6_SIG)],
        &[
            ("x-hub-signature", V6_SIG),
            ("x-atlassian-webhook-identifier", "a b"),
        ],
    ];
    for headers in without_id {
        let result = post(&module, "/webhooks/jira/acme", body, headers).await;
        assert!(
            matches!(result, Err(WebhookError::Malformed(_))),
            "{headers:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_single_site_also_answers_on_the_bare_route_and_a_stage_prefix() {
    let secrets = MemorySecrets::new().with("jira/acme/webhook-secret", SECRET);
    let module = JiraIntake::new(
        JiraConfig {
            tenants: vec![site("acme")],
            oauth: None,
            label: "openhands".into(),
            mention: "@bot".into(),
        },
        Arc::new(secrets),
    );
    for path in [
        "/webhooks/jira",
        "/prod/webhooks/jira/acme/",
        "/webhooks/jira/ACME",
    ] {
        let envelope = accepted(
            post(
                &module,
                path,
                V6_BODY.as_bytes(),
                &[
                    ("x-hub-signature", V6_SIG),
                    ("x-atlassian-webhook-identifier", "d"),
                ],
            )
            .await,
        );
        assert_eq!(envelope.tenant, "acme", "{path}");
    }
}

#[tokio::test]
async fn description_reads_fail_softly_unless_transient() {
    let issues = Arc::new(Issues::default());
    let module = module_with("@bot", issues.clone());
    let headers = [
        ("x-hub-signature", V6_SIG),
        ("x-atlassian-webhook-identifier", "d"),
    ];
    let envelope = accepted(post(&module, "/webhooks/jira/acme", V6_BODY.as_bytes(), &headers).await);
    // Transient: the worker's attempt fails and the queue retries it.
    *issues.answer.lock().expect("lock") = Some(Err(PortError::transient("jira", "503")));
    assert!(matches!(
        module.enrich(&envelope).await,
        Err(ProcessError::Transient(..))
    ));
    // Permanent: go on without the description.
    *issues.answer.lock().expect("lock") = Some(Err(PortError::not_found("issue")));
    assert!(matches!(module.enrich(&envelope).await, Ok(Cow::Borrowed(_))));
    *issues.answer.lock().expect("lock") = Some(Ok(Some("Fix it in https://github.com/octo/hello".into())));
    let enriched = module.enrich(&envelope).await.expect("enriched");
    let trigger = run(module.decide(&enriched).expect("decides"));
    assert_eq!(trigger.repository.as_deref(), Some("octo/hello"));
    assert_eq!(
        trigger.prompt.subject_body,
        "Fix it in https://github.com/octo/hello"
    );
}

#[tokio::test]
async fn events_that_carry_the_description_are_not_enriched() {
    let issues = Arc::new(Issues::default());
    let module = module_with("@bot", issues.clone());
    let mut event: Value = serde_json::from_str(V6_BODY).expect("json");
    event["issue"]["fields"]["description"] = json!("In octo/hello");
    let body = serde_json::to_vec(&event).expect("body");
    let signature = format!("sha256={}", sign_hex(SECRET.as_bytes(), &body));
    let headers = [
        ("x-hub-signature", signature.as_str()),
        ("x-atlassian-webhook-identifier", "e"),
    ];
    let envelope = accepted(post(&module, "/webhooks/jira/acme", &body, &headers).await);
    assert!(matches!(module.enrich(&envelope).await, Ok(Cow::Borrowed(_))));
    assert!(issues.reads.lock().expect("reads").is_empty());
}

// ---- trigger matrix ----

#[tokio::test]
async fn comment_mentions_trigger_in_every_form() {
    let m = module();
    let plain = run(decision(
        &m,
        &comment_event("comment_created", json!("@openhands please fix"), person(ALICE)),
    )
    .await);
    assert_eq!(plain.run_key, "jira:acme:10042:comment:10001");
    assert_eq!(plain.thread_key, "jira:acme:10042");
    assert_eq!(plain.actor.id, ALICE);
    assert_eq!(plain.actor.login, "Mia Krystof");
    assert_eq!(plain.git_provider, "github");
    assert_eq!(
        plain.repository.as_deref(),
        Some("octo/hello"),
        "from the summary"
    );
    assert_eq!(plain.title, "Jira Issue PROJ-7: Crash on save in octo/hello");
    assert_eq!(plain.prompt.request, "@openhands please fix");
    assert!(plain
        .prompt
        .subject
        .contains("https://acme.atlassian.net/browse/PROJ-7"));
    assert!(plain.prompt.instructions.contains("[PROJ-7]"));
    match &plain.source {
        SourceRef::Jira(source) => {
            assert_eq!(source.comment_id.as_deref(), Some("10001"));
            assert_eq!(source.issue_id, "10042");
        }
        other => panic!("{other:?}"),
    }

    // Wiki-markup picker mention of the service account.
    let wiki = format!("[~accountid:{BOT}] please fix");
    run(decision(&m, &comment_event("comment_created", json!(wiki), person(ALICE))).await);
    // ADF mention node of the service account, whatever its display text.
    let body = adf(json!([{"type": "paragraph", "content": [
        {"type": "mention", "attrs": {"id": BOT, "text": "@Hookline Bot"}},
        {"type": "text", "text": " please fix"}
    ]}]));
    let t = run(decision(&m, &comment_event("comment_created", body, person(ALICE))).await);
    assert_eq!(
        t.prompt.request, "@Hookline Bot please fix",
        "people read display names"
    );
    // ADF text with the handle typed out.
    let body =
        adf(json!([{"type": "paragraph", "content": [{"type": "text", "text": "hey @OpenHands, fix it"}]}]));
    run(decision(&m, &comment_event("comment_created", body, person(ALICE))).await);
}

#[tokio::test]
async fn comments_that_must_not_trigger() {
    let m = module();
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "inexact handle",
            json!("@openhands-agent please fix"),
            person(ALICE),
        ),
        ("e-mail", json!("mail me@openhands.dev"), person(ALICE)),
        ("markdown quote", json!("> @openhands fix\nagreed"), person(ALICE)),
        (
            "wiki quote",
            json!("{quote}@openhands fix{quote} agreed"),
            person(ALICE),
        ),
        ("wiki bq", json!("bq. @openhands fix\nagreed"), person(ALICE)),
        ("wiki code", json!("{code:java}@openhands{code}"), person(ALICE)),
        (
            "wiki monospace",
            json!("use {{@openhands}} to ask"),
            person(ALICE),
        ),
        (
            "other person picked",
            json!("[~accountid:someone-else] please fix"),
            person(ALICE),
        ),
        (
            "picked inside a quote",
            json!(format!("{{quote}}[~accountid:{BOT}] fix{{quote}}")),
            person(ALICE),
        ),
        (
            "ADF quote",
            adf(
                json!([{"type": "blockquote", "content": [{"type": "paragraph", "content": [
                {"type": "mention", "attrs": {"id": BOT, "text": "@Hookline Bot"}}, {"type": "text", "text": " fix"}]}]}]),
            ),
            person(ALICE),
        ),
        (
            "ADF code",
            adf(json!([{"type": "codeBlock", "content": [{"type": "text", "text": "@openhands fix"}]}])),
            person(ALICE),
        ),
        (
            "app author",
            json!("@openhands fix"),
            json!({"accountId": "app-1", "accountType": "app"}),
        ),
        (
            "service account",
            json!("@openhands fix"),
            json!({"accountId": BOT, "accountType": "atlassian"}),
        ),
        (
            "customer",
            json!("@openhands fix"),
            json!({"accountId": "c-1", "accountType": "customer"}),
        ),
        ("no author", json!("@openhands fix"), json!({})),
    ];
    for (name, body, author) in cases {
        let d = decision(&m, &comment_event("comment_created", body, author)).await;
        assert!(ignored(&d), "{name}: {d:?}");
    }
    for event in ["comment_updated", "comment_deleted"] {
        let d = decision(&m, &comment_event(event, json!("@openhands fix"), person(ALICE))).await;
        assert!(ignored(&d), "{event}");
    }
}

#[tokio::test]
async fn label_only_when_newly_added_whatever_else_is_there() {
    let m = module();
    let t = run(decision(&m, &label_event("bug backend", "backend bug openhands")).await);
    assert_eq!(t.run_key, "jira:acme:10042:label:10100");
    assert_eq!(t.prompt.request, "");
    assert!(t.prompt.instructions.starts_with("Resolve Jira issue PROJ-7."));
    run(decision(&m, &label_event("", "OpenHands")).await);
    for (from, to) in [
        ("openhands", "openhands bug"),
        ("openhands bug", "bug"),
        ("bug", "bug frontend"),
        ("", "openhands-later"),
    ] {
        let d = decision(&m, &label_event(from, to)).await;
        assert!(ignored(&d), "{from:?} → {to:?}: {d:?}");
    }
    // An app (automation) adding the label does not trigger.
    let mut by_app = label_event("", "openhands");
    by_app["user"] = json!({"accountId": "app-9", "accountType": "app"});
    assert!(ignored(&decision(&m, &by_app).await));
    // An issue created with the label does.
    let created = json!({
        "webhookEvent": "jira:issue_created",
        "user": person(ALICE),
        "issue": {"id": "10050", "key": "PROJ-9", "fields": {"project": {"key": "PROJ"}, "summary": "New", "labels": ["ui", "openhands"], "description": "In octo/hello"}}
    });
    let t = run(decision(&m, &created).await);
    assert_eq!(t.run_key, "jira:acme:10050:label:created");
    // So does one whose description asks the bot (by handle or picker mention), once; not from a quote.
    let asking = |content: Value| {
        json!({
            "webhookEvent": "jira:issue_created",
            "user": person(ALICE),
            "issue": {"id": "10051", "key": "PROJ-10", "fields": {"project": {"key": "PROJ"}, "summary": "New",
                "labels": [], "description": {"type": "doc", "version": 1, "content": content}}}
        })
    };
    for content in [
        json!([{"type": "paragraph", "content": [{"type": "text", "text": "@openhands fix it in octo/hello"}]}]),
        json!([{"type": "paragraph", "content": [
            {"type": "mention", "attrs": {"id": BOT, "text": "@Hookline Bot"}},
            {"type": "text", "text": " fix it in octo/hello"}]}]),
    ] {
        let t = run(decision(&m, &asking(content)).await);
        assert_eq!(t.run_key, "jira:acme:10051:label:created");
        assert!(
            t.prompt.subject_body.contains("fix it"),
            "{}",
            t.prompt.subject_body
        );
    }
    let quoted = json!([{"type": "blockquote", "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "@openhands fix it in octo/hello"}]}]}]);
    assert!(ignored(&decision(&m, &asking(quoted)).await));
    // Other events never reach the queue.
    let other = json!({"webhookEvent": "jira:issue_deleted", "issue": {"id": "1", "key": "P-1"}});
    assert!(matches!(deliver(&m, &other).await, Ok(Intake::Ignore(_))));
}

#[tokio::test]
async fn repository_comes_from_the_request_the_issue_or_the_project_map() {
    let m = module();
    let mut event = comment_event(
        "comment_created",
        json!("@openhands fix it in https://gitlab.com/group/sub/proj/-/issues/3"),
        person(ALICE),
    );
    let t = run(decision(&m, &event).await);
    assert_eq!(t.repository.as_deref(), Some("group/sub/proj"));
    assert_eq!(t.git_provider, "gitlab");

    event["comment"]["body"] = json!("@openhands repo: bitbucket:team/app");
    let t = run(decision(&m, &event).await);
    assert_eq!(
        (t.repository.as_deref(), t.git_provider.as_str()),
        (Some("team/app"), "bitbucket")
    );

    // A mapped project wins over a bare name in the text, but not over an explicit one.
    let mut mapped = comment_event("comment_created", json!("@openhands fix"), person(ALICE));
    mapped["issue"]["fields"]["project"]["key"] = json!("MAPPED");
    let t = run(decision(&m, &mapped).await);
    assert_eq!(
        (t.repository.as_deref(), t.git_provider.as_str()),
        (Some("group/sub/svc"), "gitlab")
    );
    mapped["comment"]["body"] = json!("@openhands fix, see https://github.com/octo/other");
    assert_eq!(
        run(decision(&m, &mapped).await).repository.as_deref(),
        Some("octo/other")
    );

    // Two explicit names: ask which.
    event["comment"]["body"] = json!("@openhands https://github.com/a/one or https://github.com/b/two?");
    match decision(&m, &event).await {
        Decision::Notice { text, .. } => assert!(
            text.contains("github:a/one") && text.contains("github:b/two"),
            "{text}"
        ),
        other => panic!("expected a notice, got {other:?}"),
    }
    // Prose like and/or is not a repository.
    let mut prose = comment_event(
        "comment_created",
        json!("@openhands fix and/or explain"),
        person(ALICE),
    );
    prose["issue"]["fields"]["summary"] = json!("Crash on save");
    prose["issue"]["fields"]["description"] =
        json!("Happens on read/write, see https://acme.atlassian.net/browse/PROJ-1");
    assert!(matches!(decision(&m, &prose).await, Decision::Notice { .. }));
}

#[tokio::test]
async fn huge_descriptions_are_trimmed() {
    let m = module();
    let mut event = label_event("", "openhands");
    event["issue"]["fields"]["description"] = json!(format!("octo/hello {}", "x".repeat(900_000)));
    let envelope = accepted(deliver(&m, &event).await);
    assert!(envelope.payload.get().len() < 40_000);
    let t = run(m.decide(&envelope).expect("decides"));
    assert!(t.prompt.subject_body.contains("more bytes not included"));
}

#[test]
fn unlinked_notice_mentions_the_person() {
    let m = module();
    let source = SourceRef::Jira(JiraSource {
        tenant: "acme".into(),
        issue_id: "1".into(),
        issue_key: "P-1".into(),
        comment_id: None,
    });
    let mut trigger = test_support::trigger_by(ALICE, "Mia", "acme", source);
    let text = m.unlinked_notice(&trigger);
    assert!(text.starts_with(&format!("[~accountid:{ALICE}] ")), "{text}");
    assert!(text.contains("not linked") && text.ends_with("Ask an admin."));
    trigger.actor.id = "x".into();
    let doc = super::adf::from_markdown(&m.unlinked_notice(&trigger), true);
    assert_eq!(doc["content"][0]["content"][0]["type"], "mention");
}

/// GIVEN issue updates WHEN one assigns the issue to the service account THEN a run starts for whoever assigned
/// it, keyed on that change; an assignment to someone else, or by an app, starts nothing, and assigning again
/// later is a new run.
#[tokio::test]
async fn assigning_the_issue_to_the_service_account_starts_a_run() {
    let m = module();
    let assign = |to: &str, changelog: &str| {
        json!({
            "timestamp": 1_714_478_400_000u64,
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_assigned",
            "user": person(ALICE),
            "issue": issue(Some("Steps: save twice. In octo/hello.")),
            "changelog": {"id": changelog, "items": [
                {"field": "assignee", "fieldtype": "jira", "fieldId": "assignee", "from": null,
                 "fromString": null, "to": to, "toString": "Someone"}
            ]}
        })
    };
    let t = run(decision(&m, &assign(BOT, "10200")).await);
    assert_eq!(t.run_key, "jira:acme:10042:label:10200");
    assert_eq!(t.actor.id, ALICE);
    assert!(t.prompt.instructions.starts_with("Resolve Jira issue PROJ-7."));
    assert_ne!(run(decision(&m, &assign(BOT, "10300")).await).run_key, t.run_key);
    assert!(matches!(
        deliver(&m, &assign("someone-else", "10201")).await,
        Ok(Intake::Ignore(_))
    ));
    let mut by_app = assign(BOT, "10202");
    by_app["user"] = json!({"accountId": "app-9", "accountType": "app"});
    assert!(ignored(&decision(&m, &by_app).await));
}
