//! Jira Cloud end to end through the local host: signed webhooks in on `/webhooks/jira/<site>`, real SQLite,
//! real worker and callback, against the fake Jira and fake OpenHands. Each test asserts on what was actually
//! sent to them.

use std::sync::Arc;

use hookline::{
    clock::{Clock, SystemClock},
    domain::Provider,
    verify::sign_hex,
};
use hookline_tests::{
    fake_jira::{
        adf_mentioning_the_bot, adf_text, FakeIssue, FakeJira, FAKE_API_TOKEN, FAKE_BOT_ACCOUNT_ID,
        FAKE_EMAIL,
    },
    harness::{eventually, outbound, Harness, HarnessOptions, ALICE_KEY},
};
use serde_json::{json, Value};

const ACME_SECRET: &str = "acme-jira-webhook-secret";
const BETA_SECRET: &str = "beta-jira-webhook-secret";
const MIA: &str = "5b10ac8d82e05b22cc7d4ef5";
const ISSUE_ID: &str = "10042";
/// The Atlassian OAuth 2.0 (3LO) app people sign in with to link themselves.
const SIGN_IN_CLIENT: &str = "jira-e2e-client";
const SIGN_IN_SECRET: &str = "jira-e2e-client-secret";

struct JiraRig {
    h: Harness,
    jira: FakeJira,
}

async fn rig() -> JiraRig {
    let jira = FakeJira::start(Arc::new(SystemClock)).await;
    jira.add_issue(FakeIssue::crash_on_save(ISSUE_ID));
    let env = [
        ("JIRA_TENANTS", "acme,beta"),
        ("JIRA_ACME_URL", jira.url()),
        ("JIRA_ACME_BOT_ACCOUNT_ID", FAKE_BOT_ACCOUNT_ID),
        (
            "JIRA_ACME_REPOS",
            "PROJ=octo-org/hello,OPS=gitlab:platform/ops/infra",
        ),
        ("JIRA_BETA_URL", jira.url()),
        ("JIRA_BETA_BOT_ACCOUNT_ID", FAKE_BOT_ACCOUNT_ID),
        ("JIRA_TRANSITION_STARTED", "Start work"),
        ("JIRA_TRANSITION_PR_OPENED", "In Review"),
        ("JIRA_OAUTH_CLIENT_ID", SIGN_IN_CLIENT),
        ("JIRA_OAUTH_URL", jira.url()),
        ("JIRA_ACCOUNTS_URL", jira.url()),
    ];
    jira.enable_sign_in(SIGN_IN_CLIENT, SIGN_IN_SECRET);
    let secrets = [
        ("jira/acme/webhook-secret", ACME_SECRET),
        ("jira/acme/email", FAKE_EMAIL),
        ("jira/acme/api-token", FAKE_API_TOKEN),
        ("jira/beta/webhook-secret", BETA_SECRET),
        ("jira/beta/email", FAKE_EMAIL),
        ("jira/beta/api-token", FAKE_API_TOKEN),
        ("jira/oauth-client-secret", SIGN_IN_SECRET),
        ("console/operator-token", "operator-token-jira-0123456789"),
        (
            "console/session-key",
            "j-session-key-0123456789abcdef0123456789abcdef0123",
        ),
    ];
    let h = Harness::start_with(HarnessOptions {
        extra_env: hookline_tests::harness::owned(&env),
        extra_secrets: hookline_tests::harness::owned(&secrets),
        ..Default::default()
    })
    .await;
    link(&h, MIA).await;
    JiraRig { h, jira }
}

async fn link(h: &Harness, account_id: &str) {
    h.link_to(Provider::Jira, "acme", account_id, "Mia Krystof").await;
}

/// POST a delivery signed with `secret` to `/webhooks/jira/<site>`.
async fn post(h: &Harness, site: &str, secret: &str, delivery: &str, payload: &Value) -> u16 {
    let body = serde_json::to_vec(payload).expect("json");
    let signature = format!("sha256={}", sign_hex(secret.as_bytes(), &body));
    h.http
        .post(format!("{}/webhooks/jira/{site}", h.url()))
        .header("X-Hub-Signature", signature)
        .header("X-Atlassian-Webhook-Identifier", delivery)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("hookline answers")
        .status()
        .as_u16()
}

async fn deliver(h: &Harness, delivery: &str, payload: &Value) -> u16 {
    post(h, "acme", ACME_SECRET, delivery, payload).await
}

fn mia() -> Value {
    json!({"accountId": MIA, "displayName": "Mia Krystof", "accountType": "atlassian"})
}

fn issue(project: &str) -> Value {
    json!({"id": ISSUE_ID, "key": "PROJ-7", "fields": {"project": {"key": project}, "summary": "Crash on save",
        "description": "Saving twice panics.", "labels": ["bug", "openhands"]}})
}

fn labeled(project: &str) -> Value {
    json!({
        "timestamp": 1_714_478_400_000u64,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": mia(),
        "issue": issue(project),
        "changelog": {"id": "10100", "items": [{"field": "labels", "fieldtype": "jira", "fromString": "bug", "toString": "bug openhands"}]}
    })
}

/// A `comment_created` as Jira sends it: few issue fields (no description), body as given.
fn commented(comment_id: &str, body: Value, author: Value) -> Value {
    json!({
        "timestamp": 1_714_478_400_000u64,
        "webhookEvent": "comment_created",
        "comment": {"id": comment_id, "body": body, "author": author, "created": "2024-04-30T12:00:00.000+0000"},
        "issue": {"id": ISSUE_ID, "key": "PROJ-7", "fields": {"project": {"key": "PROJ"}, "summary": "Crash on save"}}
    })
}

async fn started(h: &Harness, n: usize) {
    eventually("conversation started", || async {
        h.openhands.starts().len() >= n
    })
    .await;
    h.settle().await;
}

#[tokio::test]
async fn a_label_starts_one_conversation_moves_the_issue_and_reports_in_the_same_comment() {
    let JiraRig { h, jira } = rig().await;
    assert_eq!(deliver(&h, "wh-label-1", &labeled("PROJ")).await, 202);
    started(&h, 1).await;

    let starts = h.openhands.starts();
    assert_eq!(starts.len(), 1);
    let start = &starts[0];
    let conversation_id = start.conversation_id.clone();
    assert!(start.run);
    assert_eq!(
        start.request["selected_repository"], "octo-org/hello",
        "from the project map"
    );
    assert_eq!(start.request["git_provider"], "github");
    assert_eq!(start.request["trigger"], "jira");
    let message = start.text();
    assert!(
        message.contains("Crash on save") && message.contains("Saving twice panics."),
        "{message}"
    );
    assert!(message.contains("[PROJ-7]"), "{message}");
    assert_eq!(
        h.openhands.start_authorization(),
        Some(format!("Bearer {ALICE_KEY}"))
    );

    // One status comment, in ADF, with the conversation link and the marker property; basic auth.
    let comments = jira.bot_comments();
    assert_eq!(comments.len(), 1);
    let status = &comments[0];
    let text = adf_text(&status.body);
    assert!(text.contains("I'm on it"), "{text}");
    let link_href = format!("https://app.example.test/conversations/{conversation_id}");
    assert!(status.body.to_string().contains(&link_href));
    assert_eq!(
        status.properties["hookline"]["marker"],
        format!("run:{conversation_id}")
    );
    let post = &jira.requests_to("POST", &format!("/rest/api/3/issue/{ISSUE_ID}/comment"))[0];
    assert!(post
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Basic ")));

    // Work started: the issue moved to In Progress.
    assert_eq!(jira.issue(ISSUE_ID).expect("issue").status, "In Progress");

    // `finished`: the same comment is edited with the summary, and the PR moves the issue to In Review.
    h.finish_with_summary(
        &conversation_id,
        "Fixed the double-save panic.\n\n- added a test\n\nOpened https://github.com/octo-org/hello/pull/99.",
        "Jira Issue PROJ-7: Crash on save",
    )
    .await;
    let comments = jira.bot_comments();
    assert_eq!(comments.len(), 1, "one Hookline comment per run");
    let text = adf_text(&comments[0].body);
    assert!(text.contains("Fixed the double-save panic"), "{text}");
    assert!(
        text.contains("https://github.com/octo-org/hello/pull/99"),
        "{text}"
    );
    assert_eq!(
        jira.requests_to("PUT", &format!("/rest/api/3/issue/{ISSUE_ID}/comment/"))
            .len(),
        1
    );
    assert_eq!(jira.issue(ISSUE_ID).expect("issue").status, "In Review");

    // A repeated callback and a sweep change nothing.
    h.call_back(&conversation_id, "finished").await;
    h.host().sweep_now().await;
    assert_eq!(jira.bot_comments().len(), 1);
    assert_eq!(jira.requests_to("PUT", "/rest/api/3/issue/").len(), 1);
}

#[tokio::test]
async fn redelivery_starts_nothing_new_and_a_follow_up_joins_the_running_conversation() {
    let JiraRig { h, jira } = rig().await;
    let earlier = jira.seed_comment(
        ISSUE_ID,
        "5b10ac8d82e05b22cc7d4ee0",
        "Bob Reporter",
        json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": "It only happens with autosave on."}]}]}),
        h.clock_now() - 120,
    );
    assert!(!earlier.is_empty());
    let payload = commented(
        "30001",
        adf_mentioning_the_bot(" please fix this in octo-org/hello"),
        mia(),
    );
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(deliver(&h, "wh-dup-1", &payload).await);
    }
    assert_eq!(statuses, [202, 200, 200]);
    started(&h, 1).await;
    assert_eq!(h.openhands.starts().len(), 1);
    let start = &h.openhands.starts()[0];
    let message = start.text();
    assert!(
        message.contains("It only happens with autosave on."),
        "earlier comments are context: {message}"
    );
    assert!(
        message.contains("Saving twice panics."),
        "the description was read for a comment event: {message}"
    );
    assert!(message.contains("@Hookline Bot please fix this"), "{message}");
    assert_eq!(jira.bot_comments().len(), 1);
    let conversation_id = start.conversation_id.clone();

    // Another mention while it runs is a follow-up, not a second conversation.
    let follow = commented("30002", json!("@openhands also handle autosave"), mia());
    assert_eq!(deliver(&h, "wh-dup-2", &follow).await, 202);
    h.assert_one_follow_up(&conversation_id, "also handle autosave")
        .await;
    assert_eq!(h.openhands.starts().len(), 1);
    assert_eq!(jira.bot_comments().len(), 1, "no second status comment");

    // Hookline's own comments, apps, quotes and edits start nothing.
    let own = commented(
        "30003",
        json!("@openhands I'm on it"),
        json!({"accountId": FAKE_BOT_ACCOUNT_ID, "accountType": "atlassian"}),
    );
    let app = commented(
        "30004",
        json!("@openhands run"),
        json!({"accountId": "app-1", "accountType": "app"}),
    );
    let quoted = commented(
        "30005",
        json!("{quote}@openhands fix{quote} did that work?"),
        mia(),
    );
    let mut edited = commented("30006", json!("@openhands fix"), mia());
    edited["webhookEvent"] = json!("comment_updated");
    for (i, payload) in [own, app, quoted, edited].iter().enumerate() {
        let status = deliver(&h, &format!("wh-no-{i}"), payload).await;
        assert!(status == 202, "{status}");
    }
    h.settle().await;
    assert_eq!(h.openhands.messages().len(), 1);
    assert_eq!(h.openhands.starts().len(), 1);
}

#[tokio::test]
async fn each_site_has_its_own_secret_and_rejections_store_nothing() {
    let JiraRig { h, .. } = rig().await;
    let payload = labeled("PROJ");
    assert_eq!(
        post(&h, "acme", BETA_SECRET, "wh-s-1", &payload).await,
        401,
        "another site's secret"
    );
    assert_eq!(post(&h, "beta", ACME_SECRET, "wh-s-1", &payload).await, 401);
    assert_eq!(post(&h, "acme", "guess", "wh-s-1", &payload).await, 401);
    assert_eq!(
        post(&h, "gamma", ACME_SECRET, "wh-s-1", &payload).await,
        404,
        "unknown site"
    );
    let unsigned = h
        .http
        .post(format!("{}/webhooks/jira/acme", h.url()))
        .header("X-Atlassian-Webhook-Identifier", "wh-s-1")
        .body(serde_json::to_vec(&payload).expect("json"))
        .send()
        .await
        .expect("answer");
    assert_eq!(unsigned.status().as_u16(), 401);
    assert_eq!(h.host().queue().depth().expect("depth"), 0);
    // Nothing was claimed: the correctly signed delivery with the same id is accepted.
    assert_eq!(deliver(&h, "wh-s-1", &payload).await, 202);
}

#[tokio::test]
async fn unlinked_people_are_mentioned_and_start_nothing() {
    let JiraRig { h, jira } = rig().await;
    let stranger = json!({"accountId": "6001:stranger", "displayName": "Sam", "accountType": "atlassian"});
    assert_eq!(
        deliver(
            &h,
            "wh-u-1",
            &commented("40001", json!("@openhands fix"), stranger)
        )
        .await,
        202
    );
    eventually("notice posted", || async { !jira.bot_comments().is_empty() }).await;
    h.settle().await;
    let comments = jira.bot_comments();
    assert_eq!(comments.len(), 1);
    let body = &comments[0].body;
    assert_eq!(body["content"][0]["content"][0]["type"], "mention");
    assert_eq!(body["content"][0]["content"][0]["attrs"]["id"], "6001:stranger");
    assert!(adf_text(body).contains("not linked"));
    assert!(h.openhands.starts().is_empty());
    assert_eq!(
        jira.issue(ISSUE_ID).expect("issue").status,
        "To Do",
        "nothing moved"
    );
}

/// GIVEN a linked person who may comment on the issue but not edit it (a customer, a reporter on a locked
/// project) WHEN they mention the bot THEN Jira is asked about their project permissions on that issue, and
/// nothing starts, moves or is posted.
#[tokio::test]
async fn a_commenter_without_edit_permission_starts_nothing() {
    let JiraRig { h, jira } = rig().await;
    let commenter = "6001:commenter";
    link(&h, commenter).await;
    jira.set_permissions(commenter, &["BROWSE_PROJECTS", "ADD_COMMENTS"]);
    let author = json!({"accountId": commenter, "displayName": "Casey", "accountType": "atlassian"});
    let payload = commented("40002", adf_mentioning_the_bot(" please deploy to prod"), author);
    assert_eq!(deliver(&h, "wh-p-1", &payload).await, 202);
    eventually("permissions checked", || async {
        !jira
            .requests_to("POST", "/rest/api/3/permissions/check")
            .is_empty()
    })
    .await;
    h.settle().await;
    let checks = jira.requests_to("POST", "/rest/api/3/permissions/check");
    let asked = checks[0].body.clone().expect("a JSON body");
    assert_eq!(asked["accountId"], commenter);
    assert_eq!(
        asked["projectPermissions"][0]["issues"],
        json!([ISSUE_ID.parse::<u64>().unwrap()])
    );
    assert!(h.openhands.starts().is_empty());
    assert!(jira.bot_comments().is_empty());
    assert_eq!(jira.issue(ISSUE_ID).expect("issue").status, "To Do");
}

#[tokio::test]
async fn done_issues_stay_put_and_a_missing_repository_is_asked_for_once() {
    let JiraRig { h, jira } = rig().await;
    jira.set_status(ISSUE_ID, "Done", "done");
    deliver(&h, "wh-d-1", &labeled("PROJ")).await;
    started(&h, 1).await;
    assert_eq!(jira.issue(ISSUE_ID).expect("issue").status, "Done");
    assert!(jira
        .requests_to("POST", &format!("/rest/api/3/issue/{ISSUE_ID}/transitions"))
        .is_empty());

    // An unmapped project whose text names no repository: one notice, no run; redelivery adds nothing.
    let mut unmapped = commented("50001", json!("@openhands fix"), mia());
    unmapped["issue"]["fields"]["project"]["key"] = json!("ZZZ");
    jira.add_issue(FakeIssue::new("10077", "ZZZ-1", "Broken", Value::Null));
    unmapped["issue"]["id"] = json!("10077");
    unmapped["issue"]["key"] = json!("ZZZ-1");
    deliver(&h, "wh-d-2", &unmapped).await;
    deliver(&h, "wh-d-3", &unmapped).await;
    eventually("notice posted", || async {
        jira.bot_comments().iter().any(|c| c.issue_id == "10077")
    })
    .await;
    h.settle().await;
    let notices: Vec<_> = jira
        .bot_comments()
        .into_iter()
        .filter(|c| c.issue_id == "10077")
        .collect();
    assert_eq!(notices.len(), 1);
    assert!(
        adf_text(&notices[0].body).contains("which repository"),
        "{}",
        adf_text(&notices[0].body)
    );
    assert_eq!(h.openhands.starts().len(), 1);

    // Naming a GitLab repository in the comment starts a run there.
    let mut named = unmapped.clone();
    named["comment"]["id"] = json!("50002");
    named["comment"]["body"] = json!("@openhands fix in https://gitlab.com/platform/ops/infra/-/issues/4");
    deliver(&h, "wh-d-4", &named).await;
    started(&h, 2).await;
    let start = &h.openhands.starts()[1];
    assert_eq!(start.request["selected_repository"], "platform/ops/infra");
    assert_eq!(start.request["git_provider"], "gitlab");
}

#[tokio::test]
async fn rate_limited_jira_calls_are_retried_after_retry_after() {
    let JiraRig { h, jira } = rig().await;
    jira.fail_next(&format!("/rest/api/3/issue/{ISSUE_ID}/comment"), 429, Some(3));
    deliver(&h, "wh-rl-1", &labeled("PROJ")).await;
    eventually("first attempt refused", || async {
        !jira
            .requests_to("POST", &format!("/rest/api/3/issue/{ISSUE_ID}/comment"))
            .is_empty()
    })
    .await;
    h.pass_retry_after(5, "the retry started a conversation", || async {
        !h.openhands.starts().is_empty()
    })
    .await;
    started(&h, 1).await;
    assert_eq!(h.openhands.starts().len(), 1);
    assert_eq!(jira.bot_comments().len(), 1);
    assert_eq!(
        jira.requests_to("POST", &format!("/rest/api/3/issue/{ISSUE_ID}/comment"))
            .len(),
        2
    );
}

#[tokio::test]
async fn the_client_finds_its_status_by_marker_and_reads_only_peoples_earlier_comments() {
    use hookline::{
        config::Lookup,
        domain::{SourceRef, StatusRef},
        error::PortError,
        jira::{client::JiraClient, JiraConfig, JiraSource},
        memory::MemorySecrets,
        ports::SourceClient,
    };
    let jira = FakeJira::start(Arc::new(SystemClock)).await;
    jira.add_issue(FakeIssue::new(ISSUE_ID, "PROJ-7", "Crash on save", Value::Null));
    let url = jira.url().to_owned();
    let get = move |name: &str| match name {
        "JIRA_TENANTS" => Some("acme".into()),
        "JIRA_ACME_URL" => Some(url.clone()),
        "JIRA_ACME_BOT_ACCOUNT_ID" => Some(FAKE_BOT_ACCOUNT_ID.into()),
        _ => None,
    };
    let config = JiraConfig::load(&Lookup::new(&get))
        .expect("config")
        .expect("jira on");
    let secrets = MemorySecrets::new()
        .with("jira/acme/email", FAKE_EMAIL)
        .with("jira/acme/api-token", FAKE_API_TOKEN);
    let client = JiraClient::new(config, &outbound(secrets));
    let source = SourceRef::Jira(JiraSource {
        tenant: "acme".into(),
        issue_id: ISSUE_ID.into(),
        issue_key: "PROJ-7".into(),
        comment_id: None,
    });
    let now = SystemClock.now_secs();
    jira.seed_comment(
        ISSUE_ID,
        MIA,
        "Mia Krystof",
        json!("Older *wiki* comment"),
        now - 100,
    );
    // Restricted to a role: never in a prompt whose answer everyone sees.
    let restricted = jira.seed_comment(
        ISSUE_ID,
        MIA,
        "Mia Krystof",
        json!("the prod password is hunter2"),
        now - 50,
    );
    jira.restrict_comment(&restricted, json!({"type": "role", "value": "Administrators"}));
    client
        .post_notice(&source, "a notice without a marker")
        .await
        .expect("notice");
    let status = client
        .post_status(&source, "run:abc", "👀 working", false)
        .await
        .expect("status");
    assert_eq!(
        status.url.as_deref(),
        Some(format!("{}/browse/PROJ-7?focusedCommentId={}", jira.url(), status.id).as_str())
    );
    jira.seed_comment(
        ISSUE_ID,
        MIA,
        "Mia Krystof",
        json!("A later comment"),
        now + 1_000,
    );

    let found = client.find_status(&source, "run:abc").await.expect("find");
    assert_eq!(found.map(|s| s.id), Some(status.id.clone()));
    assert_eq!(
        client.find_status(&source, "run:other").await.expect("find"),
        None
    );

    client
        .edit_status(&source, &status, "run:abc", "✅ done", false)
        .await
        .expect("edit");
    let edited = jira
        .comments()
        .into_iter()
        .find(|c| c.id == status.id)
        .expect("comment");
    assert_eq!(adf_text(&edited.body).trim(), "✅ done");
    assert_eq!(
        edited.properties["hookline"]["marker"], "run:abc",
        "the marker survives edits"
    );
    let gone = StatusRef {
        id: "999999".into(),
        url: None,
    };
    assert!(matches!(
        client.edit_status(&source, &gone, "run:abc", "x", false).await,
        Err(PortError::NotFound { .. })
    ));

    let context = client.thread_context(&source, now).await.expect("context");
    assert_eq!(context.len(), 1, "{context:?}");
    assert_eq!(context[0].author, "Mia Krystof");
    assert_eq!(
        context[0].body, "Older *wiki* comment",
        "the restricted comment is left out"
    );

    // No transition configured: nothing is read or moved.
    client.run_started(&source).await.expect("no-op");
    assert!(jira
        .requests_to("GET", &format!("/rest/api/3/issue/{ISSUE_ID}/transitions"))
        .is_empty());
    // Wrong credentials are a permanent 401, never retried forever.
    jira.fail_next("/rest/api/3/issue/", 401, None);
    assert!(matches!(
        client.post_notice(&source, "x").await,
        Err(PortError::Permanent {
            status: Some(401),
            ..
        })
    ));
}

/// GIVEN an Atlassian OAuth app WHEN an unlinked person follows their notice's invitation, signs in with
/// Atlassian as themselves and enters their key THEN their next mention starts a run with it; signed in as
/// someone else, the invitation is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlinked_person_links_themselves_by_signing_in_with_atlassian() {
    const KEY: &str = "oh-api-key-sam";
    let JiraRig { h, jira } = rig().await;
    let sam = json!({"accountId": "6001:sam", "displayName": "Sam", "accountType": "atlassian"});
    let mention = |id: &str| commented(id, json!("@openhands fix"), sam.clone());
    assert_eq!(deliver(&h, "wh-l-1", &mention("40071")).await, 202);
    eventually("notice posted", || async { !jira.bot_comments().is_empty() }).await;
    let notice = jira.bot_comments()[0].body.to_string();
    let at = notice.find("http").expect("an invitation link");
    let link = notice[at..].split('"').next().unwrap().to_owned();
    assert!(link.contains("/console/link?invite="), "{notice}");

    hookline_tests::browser::Browser::open()
        .await
        .link_through_invitation(
            &link,
            || jira.sign_in_as("Mia Krystof", MIA),
            || jira.sign_in_as("Sam", "6001:sam"),
            "sam@example.com",
            KEY,
        )
        .await
        .expect("another Atlassian account is refused, then the invited person links themselves");

    h.openhands.require_bearer(KEY);
    assert_eq!(deliver(&h, "wh-l-2", &mention("40072")).await, 202);
    eventually("the run started", || async { !h.openhands.starts().is_empty() }).await;
}
