//! Unit tests of the Slack module: signature vectors, intake (tenants, handshake,
//! prefilters, trimming), the trigger matrix, repository detection, text formats and configuration.

use std::sync::Arc;

use http::HeaderMap;
use serde_json::{json, Value};

use super::{
    client::SlackClient,
    event::{SlackClick, SlackEvent},
    mrkdwn,
    triggers::find_repositories,
    verify::{self, SlackAuthError},
    SlackConfig, SlackNotice,
};
use crate::{
    clock::SystemClock,
    config::ConfigError,
    domain::{Envelope, Intent, SourceRef, ENVELOPE_VERSION},
    error::WebhookError,
    memory::MemorySecrets,
    provider::Outbound,
    provider::{BothSides, Decision, Intake, ProviderModule},
    repo_hint::RepoRef,
    test_support::{accepted, header_map, post, run},
};

const V_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const V3_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const V3_TS: &str = "1531420618";
const V3_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
const V4_BODY: &str = r#"{"type":"event_callback","team_id":"T123ABC456","event":{"type":"app_mention","user":"U061F7AUR","text":"<@U0LAN0Z89> hi","ts":"1515449522.000016","channel":"C123ABC456","event_ts":"1515449522.000016"},"event_id":"Ev123ABC456","event_time":1515449522}"#;
const V4_TS: &str = "1515449522";
const V4_SIG: &str = "v0=1a9809e2748f2f0c4b9bd3ceab396ded90126a1c43a628915422080c748be96f";

const TEAM: &str = "T123ABC456";
const OTHER_TEAM: &str = "T999OTHER";
const OTHER_SECRET: &str = "another-workspace-secret";
const APP_SECRET: &str = "app-wide-signing-secret";
const BOT: &str = "U0LAN0Z89";
const ALICE: &str = "U061F7AUR";
const CHANNEL: &str = "C123ABC456";
const NOW: u64 = 1_515_449_522;
/// A channel listing several repositories: mentions naming none get the picker.
const PICK_CHANNEL: &str = "CPICK0001";

// ---- signature ----

#[test]
fn published_vector_v3() {
    let now = 1_531_420_618;
    let verify = |now| {
        verify::signature(
            V_SECRET.as_bytes(),
            Some(V3_TS),
            Some(V3_SIG),
            V3_BODY.as_bytes(),
            now,
        )
    };
    assert_eq!(verify(now), Ok(()));
    assert_eq!(
        verify::sign(V_SECRET.as_bytes(), V3_TS, V3_BODY.as_bytes()),
        V3_SIG
    );
    // The window is five minutes either way.
    assert_eq!(verify(now + 300), Ok(()));
    assert_eq!(verify(now - 300), Ok(()));
    assert_eq!(verify(now + 301), Err(SlackAuthError::Stale));
    assert_eq!(verify(now - 301), Err(SlackAuthError::Stale));
}

#[test]
fn computed_vector_v4() {
    assert_eq!(V4_BODY.len(), 251);
    assert_eq!(
        verify::signature(
            V_SECRET.as_bytes(),
            Some(V4_TS),
            Some(V4_SIG),
            V4_BODY.as_bytes(),
            NOW
        ),
        Ok(())
    );
    assert_eq!(
        verify::sign(V_SECRET.as_bytes(), V4_TS, V4_BODY.as_bytes()),
        V4_SIG
    );
}

#[test]
fn tampering_and_bad_headers_are_rejected() {
    let body = V4_BODY.as_bytes();
    let secret = V_SECRET.as_bytes();
    let mut tampered = body.to_vec();
    tampered[60] ^= 1;
    assert_eq!(
        verify::signature(secret, Some(V4_TS), Some(V4_SIG), &tampered, NOW),
        Err(SlackAuthError::Mismatch)
    );
    assert_eq!(
        verify::signature(b"wrong secret", Some(V4_TS), Some(V4_SIG), body, NOW),
        Err(SlackAuthError::Mismatch)
    );
    // The timestamp is part of the signed string: moving it breaks the signature.
    assert_eq!(
        verify::signature(secret, Some("1515449523"), Some(V4_SIG), body, NOW),
        Err(SlackAuthError::Mismatch)
    );
    assert!(matches!(
        verify::signature(secret, None, Some(V4_SIG), body, NOW),
        Err(SlackAuthError::Missing(_))
    ));
    assert!(matches!(
        verify::signature(secret, Some(V4_TS), None, body, NOW),
        Err(SlackAuthError::Missing(_))
    ));
    for bad_sig in [
        "1a9809e2748f2f0c4b9bd3ceab396ded90126a1c43a628915422080c748be96f",
        "v1=1a9809e2748f2f0c4b9bd3ceab396ded90126a1c43a628915422080c748be96f",
        "v0=zz",
        "v0=1a9809e2",
        "",
    ] {
        assert!(
            matches!(
                verify::signature(secret, Some(V4_TS), Some(bad_sig), body, NOW),
                Err(SlackAuthError::Malformed(_))
            ),
            "{bad_sig:?}"
        );
    }
    for bad_ts in ["", "abc", "-1515449522", "1515449522.5", "99999999999999999999"] {
        assert!(
            matches!(
                verify::signature(secret, Some(bad_ts), Some(V4_SIG), body, NOW),
                Err(SlackAuthError::Malformed(_))
            ),
            "{bad_ts:?}"
        );
    }
}

// ---- intake ----

fn config() -> SlackConfig {
    SlackConfig {
        api_url: "http://127.0.0.1:9".into(),
        secret_prefix: "slack".into(),
        oauth_client_id: None,
        channel_repos: [
            ("CDEFAULT1".to_owned(), vec![repo("github", "octo/default")]),
            (
                PICK_CHANNEL.to_owned(),
                vec![
                    repo("github", "octo/api"),
                    repo("github", "octo/web"),
                    repo("gitlab", "group/infra"),
                ],
            ),
        ]
        .into_iter()
        .collect(),
        git_provider: "github".into(),
        teams: None,
        access: Default::default(),
    }
}

fn repo(git_provider: &str, repository: &str) -> RepoRef {
    RepoRef {
        repository: repository.into(),
        git_provider: git_provider.into(),
    }
}

fn module() -> BothSides {
    let secrets = Arc::new(
        MemorySecrets::new()
            .with(format!("slack/{TEAM}/signing-secret"), V_SECRET)
            .with(format!("slack/{OTHER_TEAM}/signing-secret"), OTHER_SECRET)
            .with("slack/signing-secret", APP_SECRET),
    );
    let out = Outbound {
        http: reqwest::Client::new(),
        secrets: secrets.clone(),
        clock: Arc::new(SystemClock),
    };
    let client = SlackClient::new(config(), &out);
    BothSides::new(config(), secrets, Arc::new(client), ())
}

async fn intake(path: &str, body: &[u8], secret: &str, ts: u64, now: u64) -> Result<Intake, WebhookError> {
    intake_as("application/json", path, body, secret, ts, now).await
}

/// [`intake`] of a body sent as `content_type` (none when empty).
async fn intake_as(
    content_type: &str,
    path: &str,
    body: &[u8],
    secret: &str,
    ts: u64,
    now: u64,
) -> Result<Intake, WebhookError> {
    let ts = ts.to_string();
    let sig = verify::sign(secret.as_bytes(), &ts, body);
    let mut pairs = vec![
        ("X-Slack-Request-Timestamp", ts.as_str()),
        ("X-Slack-Signature", sig.as_str()),
    ];
    if !content_type.is_empty() {
        pairs.push(("Content-Type", content_type));
    }
    post(&module(), path, body, &header_map(&pairs), now).await
}

fn team_path(team: &str) -> String {
    format!("/webhooks/slack/{team}")
}

/// An `event_callback` wrapping `event`, with the bot's authorization.
fn callback(event: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A123ABC456",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev0PV52K25",
        "event_time": NOW,
        "authorizations": [{"enterprise_id": null, "team_id": TEAM, "user_id": BOT, "is_bot": true}],
        "is_ext_shared_channel": false,
        "event_context": "EC123"
    }))
    .expect("json")
}

fn mention(text: &str) -> Value {
    json!({
        "type": "app_mention",
        "user": ALICE,
        "text": text,
        "ts": "1515449522.000016",
        "channel": CHANNEL,
        "event_ts": "1515449522.000016",
        "client_msg_id": "c1",
        "blocks": [{"type": "rich_text", "elements": []}],
        "team": TEAM,
    })
}

#[tokio::test]
async fn v4_is_accepted_on_its_team_route_with_a_pinned_now() {
    let body = V4_BODY.as_bytes();
    let envelope = accepted(intake(&team_path(TEAM), body, V_SECRET, NOW, NOW).await);
    assert_eq!(envelope.delivery_id, "Ev123ABC456");
    assert_eq!(envelope.tenant, TEAM);
    assert_eq!(envelope.event, "app_mention");
    assert_eq!(
        envelope.group,
        format!("slack:{TEAM}:{CHANNEL}:1515449522.000016")
    );
    assert_eq!(envelope.received_at, NOW);
    // A stage prefix and a trailing slash do not matter.
    accepted(intake(&format!("/prod/webhooks/slack/{TEAM}/"), body, V_SECRET, NOW, NOW).await);
}

#[tokio::test]
async fn tenants_select_their_secrets() {
    let body = callback(mention(&format!("<@{BOT}> fix octo/hello")));
    // Signed with another workspace's secret: rejected.
    let err = intake(&team_path(TEAM), &body, OTHER_SECRET, NOW, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookError::Unauthorized(_)), "{err:?}");
    assert_eq!(err.into_reply().status, 401);
    // Correctly signed by the other workspace, but the verified body is this team's: rejected.
    let err = intake(&team_path(OTHER_TEAM), &body, OTHER_SECRET, NOW, NOW)
        .await
        .unwrap_err();
    assert!(
        matches!(err, WebhookError::Unauthorized("event belongs to another team")),
        "{err:?}"
    );
    // Unknown team in the URL, or not an id at all.
    for path in [
        "/webhooks/slack/TNOSUCH1",
        "/webhooks/slack/..%2Fgithub",
        "/webhooks/slack/a-b",
    ] {
        let err = intake(path, &body, V_SECRET, NOW, NOW).await.unwrap_err();
        assert!(matches!(err, WebhookError::NotFound), "{path}: {err:?}");
    }
    // The app-wide route: the app secret, the tenant from the verified body.
    let envelope = accepted(intake("/webhooks/slack", &body, APP_SECRET, NOW, NOW).await);
    assert_eq!(envelope.tenant, TEAM);
    let err = intake("/webhooks/slack", &body, V_SECRET, NOW, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookError::Unauthorized(_)));
}

#[tokio::test]
async fn stale_and_unsigned_requests_are_401() {
    let body = callback(mention(&format!("<@{BOT}> hi")));
    let err = intake(&team_path(TEAM), &body, V_SECRET, NOW - 301, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookError::Stale));
    assert_eq!(err.into_reply().status, 401);
    accepted(intake(&team_path(TEAM), &body, V_SECRET, NOW - 299, NOW).await);
    let no_headers = HeaderMap::new();
    let err = post(&module(), "/webhooks/slack/T123ABC456", &body, &no_headers, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookError::Unauthorized(_)));
}

#[tokio::test]
async fn url_verification_is_answered_only_after_verification() {
    let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    match intake(&team_path(TEAM), body, V_SECRET, NOW, NOW).await {
        Ok(Intake::Reply(reply)) => {
            assert_eq!(reply.status, 200);
            assert_eq!(
                reply.body_str(),
                "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
            );
            assert!(reply.content_type.starts_with("text/plain"));
        }
        other => panic!("expected the challenge, got {other:?}"),
    }
    let err = intake(&team_path(TEAM), body, OTHER_SECRET, NOW, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookError::Unauthorized(_)));
}

#[tokio::test]
async fn what_can_never_trigger_is_not_queued() {
    let cases: Vec<(&str, Value)> = vec![
        ("bot", {
            let mut e = mention(&format!("<@{BOT}> hi"));
            e["bot_id"] = json!("B0123");
            e
        }),
        ("edited", {
            let mut e = mention(&format!("<@{BOT}> hi"));
            e["edited"] = json!({"user": ALICE, "ts": "1515449530.000000"});
            e
        }),
        ("own", {
            let mut e = mention(&format!("<@{BOT}> hi"));
            e["user"] = json!(BOT);
            e
        }),
        ("no mention of this bot", mention("<@U0OTHER01> hi")),
        (
            "message_changed",
            json!({
                "type": "message", "subtype": "message_changed", "channel": CHANNEL, "ts": "1515449530.000000",
                "message": {"type": "message", "user": ALICE, "text": format!("<@{BOT}> hi"), "ts": "1515449522.000016"}
            }),
        ),
        (
            "message_deleted",
            json!({
                "type": "message", "subtype": "message_deleted", "channel": CHANNEL, "ts": "1515449531.000000",
                "deleted_ts": "1515449522.000016"
            }),
        ),
        ("deleted mention subtype", {
            let mut e = mention(&format!("<@{BOT}> hi"));
            e["subtype"] = json!("message_deleted");
            e
        }),
    ];
    for (name, event) in cases {
        match intake(&team_path(TEAM), &callback(event), V_SECRET, NOW, NOW).await {
            Ok(Intake::Ignore(_)) => {}
            other => panic!("{name}: expected Ignore, got {other:?}"),
        }
    }
    let rate_limited = br#"{"token":"x","type":"app_rate_limited","team_id":"T123ABC456","minute_rate_limited":1518467820,"api_app_id":"A123"}"#;
    assert!(matches!(
        intake(&team_path(TEAM), rate_limited, V_SECRET, NOW, NOW).await,
        Ok(Intake::Ignore(_))
    ));
    let err = intake(&team_path(TEAM), b"{\"type\": ", V_SECRET, NOW, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookError::Malformed(_)));
}

#[tokio::test]
async fn the_queued_payload_is_trimmed() {
    let big = format!("<@{BOT}> fix octo/hello {}", "x".repeat(900_000));
    let envelope = accepted(intake(&team_path(TEAM), &callback(mention(&big)), V_SECRET, NOW, NOW).await);
    let payload = envelope.payload.get();
    assert!(payload.len() < 70_000, "{}", payload.len());
    assert!(!payload.contains("blocks"), "unused fields are dropped");
    assert!(!payload.contains("legacy"), "the legacy token is dropped");
    let event: SlackEvent = serde_json::from_str(payload).expect("event");
    assert_eq!(event.bot_user_id.as_deref(), Some(BOT));
    assert!(event.text.contains("more bytes not included"));
}

// ---- trigger matrix ----

fn event(text: &str) -> SlackEvent {
    SlackEvent {
        team_id: TEAM.into(),
        event_id: "Ev1".into(),
        event_type: "app_mention".into(),
        user: ALICE.into(),
        bot_user_id: Some(BOT.into()),
        text: text.into(),
        ts: "1700000000.000200".into(),
        channel: CHANNEL.into(),
        ..SlackEvent::default()
    }
}

fn decide(event: &SlackEvent) -> Decision {
    let envelope = Envelope {
        version: ENVELOPE_VERSION,
        provider: crate::domain::Provider::Slack,
        tenant: event.team_id.clone(),
        delivery_id: event.event_id.clone(),
        event: event.event_type.clone(),
        group: event.thread_key(),
        received_at: NOW,
        payload: serde_json::value::RawValue::from_string(serde_json::to_string(event).expect("json"))
            .expect("raw"),
    };
    module().decide(&envelope).expect("decides")
}

fn slack_source(source: &SourceRef) -> &super::SlackSource {
    match source {
        SourceRef::Slack(s) => s,
        other => panic!("not a slack source: {other:?}"),
    }
}

#[test]
fn a_top_level_mention_runs_in_a_new_thread() {
    let trigger = run(decide(&event(&format!(
        "<@{BOT}> please fix the flaky test in octo/hello"
    ))));
    assert_eq!(
        trigger.thread_key,
        format!("slack:{TEAM}:{CHANNEL}:1700000000.000200")
    );
    assert_eq!(
        trigger.run_key,
        format!("slack:{TEAM}:{CHANNEL}:1700000000.000200:msg:1700000000.000200")
    );
    assert_eq!(trigger.tenant, TEAM);
    assert_eq!(trigger.actor.id, ALICE);
    assert_eq!(trigger.repository.as_deref(), Some("octo/hello"));
    assert_eq!(trigger.git_provider, "github");
    assert_eq!(trigger.occurred_at, 1_700_000_000);
    assert_eq!(trigger.prompt.request, "please fix the flaky test in octo/hello");
    assert_eq!(trigger.title, "Slack: please fix the flaky test in octo/hello");
    let source = slack_source(&trigger.source);
    assert_eq!(source.thread_ts, "1700000000.000200");
    assert_eq!(source.message_ts, "1700000000.000200");
    assert_eq!(source.bot_user_id, BOT);
    assert_eq!(
        source.notice,
        SlackNotice::Ephemeral,
        "the unlinked notice is ephemeral"
    );
}

#[test]
fn a_mention_in_a_thread_keys_on_the_root() {
    let mut e = event(&format!("<@{BOT}> also update the docs"));
    e.ts = "1700000100.000300".into();
    e.thread_ts = Some("1700000000.000200".into());
    let trigger = run(decide(&e));
    assert_eq!(
        trigger.thread_key,
        format!("slack:{TEAM}:{CHANNEL}:1700000000.000200")
    );
    assert!(trigger.run_key.ends_with(":msg:1700000100.000300"));
    let source = slack_source(&trigger.source);
    assert_eq!(source.thread_ts, "1700000000.000200");
    assert_eq!(source.message_ts, "1700000100.000300");
    // No repository named and no channel default: a thread reply still runs (follow-up or earlier context).
    assert_eq!(trigger.repository, None);
    assert!(trigger.prompt.instructions.contains("No repository was selected"));
}

/// A change to an event, for the trigger matrix.
type EventChange = Box<dyn Fn(&mut SlackEvent)>;

#[test]
fn trigger_matrix() {
    let runs = [
        format!("<@{BOT}> fix octo/hello"),
        format!("hey <@{BOT}>, fix octo/hello"),
        format!("<@{BOT}>fix octo/hello"),
        format!("<@{BOT}|openhands> fix octo/hello"),
        format!("first line\n<@{BOT}> fix octo/hello"),
        format!("&gt; quoted\n<@{BOT}> fix octo/hello"),
    ];
    for text in &runs {
        assert!(
            matches!(decide(&event(text)), Decision::Run(_)),
            "should run: {text:?}"
        );
    }
    let ignores = [
        format!("&gt; <@{BOT}> fix octo/hello"),
        format!("  &gt; <@{BOT}> fix octo/hello"),
        format!("use `<@{BOT}>` to trigger octo/hello"),
        format!("```\n<@{BOT}> fix octo/hello\n```"),
        "<@U0OTHER01> fix octo/hello".to_owned(),
        format!("<@{BOT}2> fix octo/hello"),
    ];
    for text in &ignores {
        assert!(
            matches!(decide(&event(text)), Decision::Ignore(_)),
            "should ignore: {text:?}"
        );
    }
    let text = format!("<@{BOT}> fix octo/hello");
    let variants: Vec<(&str, EventChange)> = vec![
        ("bot", Box::new(|e| e.bot_id = Some("B1".into()))),
        ("own", Box::new(|e| e.user = BOT.into())),
        ("edited", Box::new(|e| e.edited = true)),
        (
            "changed",
            Box::new(|e| e.subtype = Some("message_changed".into())),
        ),
        (
            "deleted",
            Box::new(|e| e.subtype = Some("message_deleted".into())),
        ),
        ("no bot id", Box::new(|e| e.bot_user_id = None)),
        (
            "not a mention event",
            Box::new(|e| e.event_type = "message".into()),
        ),
    ];
    for (name, change) in variants {
        let mut e = event(&text);
        change(&mut e);
        assert!(matches!(decide(&e), Decision::Ignore(_)), "{name}");
    }
    let mut broadcast = event(&text);
    broadcast.subtype = Some("thread_broadcast".into());
    assert!(matches!(decide(&broadcast), Decision::Run(_)));
}

#[test]
fn the_repository_comes_from_the_message_then_the_channel_else_a_question() {
    let t = run(decide(&event(&format!(
        "<@{BOT}> see <https://gitlab.com/group/sub/proj/-/issues/4|the issue>"
    ))));
    assert_eq!(t.repository.as_deref(), Some("group/sub/proj"));
    assert_eq!(t.git_provider, "gitlab");
    let t = run(decide(&event(&format!(
        "<@{BOT}> review <https://github.com/octo/hello/pull/3>"
    ))));
    assert_eq!(t.repository.as_deref(), Some("octo/hello"));

    let mut in_default = event(&format!("<@{BOT}> fix the build"));
    in_default.channel = "CDEFAULT1".into();
    let t = run(decide(&in_default));
    assert_eq!(t.repository.as_deref(), Some("octo/default"));

    match decide(&event(&format!("<@{BOT}> fix the build and/or the tests"))) {
        Decision::Notice { source, key, text } => {
            let source = slack_source(&source);
            assert_eq!(source.notice, SlackNotice::Thread);
            assert_eq!(source.thread_ts, "1700000000.000200");
            assert!(key.ends_with(":repository"));
            assert!(text.contains("Which repository"), "{text}");
            assert!(text.starts_with(&format!("@{ALICE}")));
        }
        other => panic!("expected a notice, got {other:?}"),
    }
    match decide(&event(&format!("<@{BOT}> sync octo/a with octo/b"))) {
        Decision::Notice { text, .. } => assert!(text.contains("`octo/a`, `octo/b`"), "{text}"),
        other => panic!("expected a notice, got {other:?}"),
    }
    // In a thread (maybe a running conversation's), a reply never waits on a question.
    let mut in_thread = event(&format!("<@{BOT}> sync octo/a with octo/b"));
    in_thread.thread_ts = Some("1690000000.000001".into());
    assert_eq!(run(decide(&in_thread)).repository, None);
}

#[test]
fn repositories_in_text() {
    let repos = |text: &str| -> Vec<String> {
        find_repositories(text, "github")
            .into_iter()
            .map(|r| format!("{}:{}", r.git_provider, r.repository))
            .collect()
    };
    assert_eq!(repos("fix octo-org/hello."), ["github:octo-org/hello"]);
    assert_eq!(repos("in `octo/hello`, please"), ["github:octo/hello"]);
    assert_eq!(repos("repo:octo/hello"), ["github:octo/hello"]);
    assert_eq!(repos("octo/hello and Octo/Hello again"), ["github:octo/hello"]);
    assert_eq!(
        repos("<https://github.com/octo/hello.git>"),
        ["github:octo/hello"]
    );
    assert_eq!(
        repos("<https://bitbucket.org/team/repo/src>"),
        ["bitbucket:team/repo"]
    );
    assert_eq!(
        repos("<https://gitlab.example.com/a/b/-/merge_requests/1|MR>"),
        ["gitlab:a/b"]
    );
    for none in [
        "and/or",
        "n/a",
        "on 12/05",
        "3/4 of it",
        "<https://example.com/a/b>",
        "<@U0LAN0Z89>",
        "../etc",
        "a/b/c",
        "<#C123|general/random>",
    ] {
        assert!(repos(none).is_empty(), "{none:?}: {:?}", repos(none));
    }
}

// ---- the Stop button (interactivity) ----

const STATUS_TS: &str = "1515449530.000100";
const ROOT_TS: &str = "1515449522.000016";
const ACTION_TS: &str = "1515449540.123456";
const CONVERSATION: &str = "0123456789abcdef0123456789abcdef";
const FORM: &str = "application/x-www-form-urlencoded";

/// A `block_actions` payload as Slack sends it for a click on the button `action_id` of a status message.
fn block_actions(action_id: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": ALICE, "username": "al+ice", "name": "al+ice", "team_id": TEAM},
        "api_app_id": "A123ABC456",
        "token": "legacy",
        "container": {
            "type": "message", "message_ts": STATUS_TS, "channel_id": CHANNEL, "is_ephemeral": false,
            "thread_ts": ROOT_TS
        },
        "trigger_id": "123.456.abc",
        "team": {"id": TEAM, "domain": "example"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": CHANNEL, "name": "general"},
        "message": {
            "type": "message", "user": BOT, "bot_id": "B0BOT0001", "text": "👀 I'm on it & more",
            "ts": STATUS_TS, "thread_ts": ROOT_TS, "blocks": []
        },
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T123ABC456/1/abc",
        "actions": [{
            "action_id": action_id, "block_id": "hookline_status_actions", "type": "button", "style": "danger",
            "text": {"type": "plain_text", "text": "Stop"}, "value": CONVERSATION, "action_ts": ACTION_TS
        }]
    })
}

/// `payload=<the JSON, form-encoded>` as Slack posts it (a space as `+`, a `+` as `%2B`).
fn form(payload: &Value) -> Vec<u8> {
    let json = serde_json::to_string(payload).expect("json");
    let encoded = percent_encoding::utf8_percent_encode(&json, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%20", "+");
    format!("payload={encoded}").into_bytes()
}

fn click_of(envelope: &Envelope) -> SlackClick {
    serde_json::from_str(envelope.payload.get()).expect("a click")
}

#[tokio::test]
async fn a_stop_click_is_queued_in_its_thread_trimmed() {
    let body = form(&block_actions(super::STOP_ACTION_ID));
    let envelope = accepted(intake_as(FORM, &team_path(TEAM), &body, V_SECRET, NOW, NOW).await);
    assert_eq!(envelope.event, "block_actions");
    assert_eq!(envelope.tenant, TEAM);
    assert_eq!(envelope.delivery_id, format!("click:{ALICE}:{ACTION_TS}"));
    assert_eq!(envelope.group, format!("slack:{TEAM}:{CHANNEL}:{ROOT_TS}"));
    let click = click_of(&envelope);
    assert_eq!(
        click,
        SlackClick {
            user_name: "al+ice".into(),
            ..self::click()
        }
    );
    let payload = envelope.payload.get();
    for dropped in ["legacy", "response_url", "trigger_id", "I'm on it"] {
        assert!(!payload.contains(dropped), "{dropped} is dropped: {payload}");
    }
    // The app-wide route, and a form whose content type is missing or has parameters, are read alike.
    let shared = accepted(intake_as(FORM, "/webhooks/slack", &body, APP_SECRET, NOW, NOW).await);
    assert_eq!(shared.tenant, TEAM);
    for content_type in ["", "application/x-www-form-urlencoded; charset=utf-8"] {
        let again = accepted(intake_as(content_type, &team_path(TEAM), &body, V_SECRET, NOW, NOW).await);
        assert_eq!(again.delivery_id, envelope.delivery_id, "{content_type:?}");
    }
}

#[test]
fn a_click_outside_a_thread_or_by_a_guest_is_read_as_such() {
    let mut payload = block_actions(super::STOP_ACTION_ID);
    payload["container"]
        .as_object_mut()
        .expect("container")
        .remove("thread_ts");
    payload["message"]
        .as_object_mut()
        .expect("message")
        .remove("thread_ts");
    payload["user"]["team_id"] = json!("T0GUEST01");
    let super::event::Interaction::Stop(click) =
        super::event::parse_interaction(&form(&payload)).expect("parses")
    else {
        panic!("a stop")
    };
    assert_eq!(
        click.thread_ts, STATUS_TS,
        "a message that is no reply is its own root"
    );
    assert!(click.external);
    // A message no bot wrote leaves the bot unknown.
    payload["message"]
        .as_object_mut()
        .expect("message")
        .remove("bot_id");
    let super::event::Interaction::Stop(click) =
        super::event::parse_interaction(&form(&payload)).expect("parses")
    else {
        panic!("a stop")
    };
    assert_eq!(click.bot_user_id, None);
}

/// A click's signed form `body` is refused like an event when signed with another workspace's secret (401) or
/// stale.
async fn assert_forged_and_stale_clicks_refused(body: &[u8]) {
    let path = team_path(TEAM);
    let err = intake_as(FORM, &path, body, OTHER_SECRET, NOW, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookError::Unauthorized(_)), "{err:?}");
    assert_eq!(err.into_reply().status, 401);
    let err = intake_as(FORM, &path, body, V_SECRET, NOW - 301, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookError::Stale), "{err:?}");
}

/// Why a click in this workspace, correctly signed by the other workspace on its route, is refused.
async fn click_from_the_other_team(body: &[u8]) -> WebhookError {
    intake_as(FORM, &team_path(OTHER_TEAM), body, OTHER_SECRET, NOW, NOW)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn stop_clicks_are_verified_like_events() {
    let body = form(&block_actions(super::STOP_ACTION_ID));
    // Forged (another workspace's secret, or the body changed after signing), or stale.
    assert_forged_and_stale_clicks_refused(&body).await;
    let mut tampered = body.clone();
    let at = tampered.len() - 5;
    tampered[at] ^= 1;
    let ts = NOW.to_string();
    let sig = verify::sign(V_SECRET.as_bytes(), &ts, &body);
    let forged = header_map(&[
        ("X-Slack-Request-Timestamp", &ts),
        ("X-Slack-Signature", &sig),
        ("Content-Type", FORM),
    ]);
    assert!(matches!(
        post(&module(), &team_path(TEAM), &tampered, &forged, NOW).await,
        Err(WebhookError::Unauthorized(_))
    ));
    // Correctly signed by the other workspace, but the click is in this one.
    let err = click_from_the_other_team(&body).await;
    assert!(
        matches!(
            err,
            WebhookError::Unauthorized("interaction belongs to another team")
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn other_interactions_are_verified_and_ignored() {
    let path = team_path(TEAM);
    let mut view = block_actions(super::STOP_ACTION_ID);
    view["type"] = json!("view_submission");
    let mut no_actions = block_actions(super::STOP_ACTION_ID);
    no_actions["actions"] = json!(null);
    let bodies = [
        form(&block_actions("someone_elses_button")),
        form(&view),
        form(&no_actions),
        b"command=%2Fopenhands&text=fix+it&team_id=T123ABC456".to_vec(),
    ];
    for body in &bodies {
        match intake_as(FORM, &path, body, V_SECRET, NOW, NOW).await {
            Ok(Intake::Ignore(_)) => {}
            other => panic!(
                "{}: expected Ignore, got {other:?}",
                String::from_utf8_lossy(body)
            ),
        }
        // Ignored only once verified.
        let err = intake_as(FORM, &path, body, OTHER_SECRET, NOW, NOW)
            .await
            .unwrap_err();
        assert!(matches!(err, WebhookError::Unauthorized(_)));
    }
}

#[tokio::test]
async fn malformed_interactions_are_400() {
    let click = block_actions(super::STOP_ACTION_ID);
    let changed = |change: &dyn Fn(&mut Value)| {
        let mut payload = click.clone();
        change(&mut payload);
        form(&payload)
    };
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"payload=%7Bnot+json".to_vec()),
        ("bad escape", b"payload=%7B%zz%7D".to_vec()),
        ("cut escape", b"payload=%7".to_vec()),
        ("not UTF-8", b"payload=%FF%FE".to_vec()),
        ("raw bytes", b"payload=\xff".to_vec()),
        (
            "two payloads",
            [form(&click), b"&".to_vec(), form(&click)].concat(),
        ),
        ("no payload", b"token=x&type=block_actions".to_vec()),
        ("empty form", b"payload=".to_vec()),
        ("no team", changed(&|p| p["team"] = json!(null))),
        ("bad user", changed(&|p| p["user"]["id"] = json!("../U1"))),
        (
            "no channel",
            changed(&|p| {
                p["container"]["channel_id"] = json!(null);
                p["channel"] = json!(null);
            }),
        ),
        (
            "bad ts",
            changed(&|p| p["container"]["message_ts"] = json!("1.2.3")),
        ),
        (
            "bad action_ts",
            changed(&|p| p["actions"][0]["action_ts"] = json!("soon")),
        ),
        (
            "bad value",
            changed(&|p| p["actions"][0]["value"] = json!("run:../x")),
        ),
        ("no value", changed(&|p| p["actions"][0]["value"] = json!(null))),
        ("not an object", form(&json!([1, 2]))),
    ];
    for (name, body) in bodies {
        let err = intake_as(FORM, &team_path(TEAM), &body, V_SECRET, NOW, NOW)
            .await
            .expect_err(name);
        assert!(matches!(err, WebhookError::Malformed(_)), "{name}: {err:?}");
        assert_eq!(err.into_reply().status, 400, "{name}");
    }
}

fn decide_click(click: &SlackClick) -> Result<Decision, crate::error::ProcessError> {
    let envelope = Envelope {
        version: ENVELOPE_VERSION,
        provider: crate::domain::Provider::Slack,
        tenant: TEAM.into(),
        delivery_id: click.delivery_id(),
        event: "block_actions".into(),
        group: click.thread_key(),
        received_at: NOW,
        payload: crate::provider::queued_payload(click).expect("payload"),
    };
    module().decide(&envelope)
}

fn click() -> SlackClick {
    SlackClick {
        team_id: TEAM.into(),
        channel: CHANNEL.into(),
        user: ALICE.into(),
        user_name: "alice".into(),
        message_ts: STATUS_TS.into(),
        thread_ts: ROOT_TS.into(),
        action_ts: ACTION_TS.into(),
        value: CONVERSATION.into(),
        bot_user_id: Some(BOT.into()),
        external: false,
        pick: None,
    }
}

#[test]
fn a_stop_click_stops_the_threads_run() {
    let trigger = run(decide_click(&click()).expect("decides"));
    assert_eq!(trigger.intent, Intent::Stop);
    assert_eq!(
        trigger.stop_only.as_deref(),
        Some(CONVERSATION),
        "the button names its run"
    );
    let thread_key = format!("slack:{TEAM}:{CHANNEL}:{ROOT_TS}");
    assert_eq!(trigger.thread_key, thread_key);
    assert_eq!(trigger.run_key, format!("{thread_key}:stop:{ACTION_TS}"));
    assert_eq!(
        (trigger.actor.id.as_str(), trigger.actor.login.as_str()),
        (ALICE, ALICE)
    );
    assert_eq!(trigger.repository, None);
    assert_eq!(trigger.occurred_at, 1_515_449_540);
    let source = slack_source(&trigger.source);
    assert_eq!(source.thread_ts, ROOT_TS);
    assert_eq!(source.message_ts, STATUS_TS);
    assert_eq!(source.user, ALICE);
    assert_eq!(source.bot_user_id, BOT);
    assert_eq!(source.notice, SlackNotice::Ephemeral);
    assert!(!source.external);
    let mut guest = click();
    guest.external = true;
    assert!(slack_source(&run(decide_click(&guest).expect("decides")).source).external);

    // Without the bot's id, access could not tell the bot from a person: nothing is done.
    let mut unknown_bot = click();
    unknown_bot.bot_user_id = None;
    assert!(matches!(decide_click(&unknown_bot), Ok(Decision::Ignore(_))));
    let mut by_bot = click();
    by_bot.user = BOT.into();
    assert!(matches!(decide_click(&by_bot), Ok(Decision::Ignore(_))));
    let mut elsewhere = click();
    elsewhere.team_id = OTHER_TEAM.into();
    assert!(
        decide_click(&elsewhere).is_err(),
        "the envelope is another tenant's"
    );
}

// ---- the repository picker ----

const PICKER_TS: &str = "1515449525.000200";

fn in_pick_channel(text: &str) -> SlackEvent {
    let mut e = event(text);
    e.channel = PICK_CHANNEL.into();
    e
}

#[test]
fn a_channel_listing_several_repositories_gets_a_picker_for_a_mention_naming_none() {
    match decide(&in_pick_channel(&format!("<@{BOT}> fix the build"))) {
        Decision::Notice { source, key, text } => {
            let source = slack_source(&source);
            assert_eq!(
                source.notice,
                SlackNotice::Choice {
                    choices: vec![
                        repo("github", "octo/api"),
                        repo("github", "octo/web"),
                        repo("gitlab", "group/infra")
                    ]
                }
            );
            assert_eq!(source.user, ALICE, "the picker is for the person who asked");
            assert_eq!(source.message_ts, "1700000000.000200");
            assert_eq!(
                key,
                format!("slack:{TEAM}:{PICK_CHANNEL}:1700000000.000200:msg:1700000000.000200:repository")
            );
            assert!(text.starts_with(&format!("@{ALICE} Which repository")), "{text}");
            assert!(!text.contains("listed"), "{text}");
        }
        other => panic!("expected the picker, got {other:?}"),
    }
    // Naming one of them runs there, as configured; naming another runs there as named in the message.
    let t = run(decide(&in_pick_channel(&format!("<@{BOT}> fix octo/web"))));
    assert_eq!(t.repository.as_deref(), Some("octo/web"));
    assert!(!t.repository_named);
    let t = run(decide(&in_pick_channel(&format!("<@{BOT}> fix octo/elsewhere"))));
    assert_eq!(t.repository.as_deref(), Some("octo/elsewhere"));
    assert!(t.repository_named);
    // In a thread, and for a stop, nobody is asked.
    let mut reply = in_pick_channel(&format!("<@{BOT}> fix the build"));
    reply.thread_ts = Some("1690000000.000001".into());
    assert_eq!(run(decide(&reply)).repository, None);
    let stop = run(decide(&in_pick_channel(&format!("<@{BOT}> stop"))));
    assert_eq!(stop.intent, Intent::Stop);
}

#[test]
fn the_picker_lists_at_most_a_hundred_repositories_and_says_so() {
    let mut config = config();
    let many: Vec<RepoRef> = (0..130).map(|i| repo("github", &format!("octo/r{i}"))).collect();
    config.channel_repos.insert(PICK_CHANNEL.into(), many.clone());
    let e = in_pick_channel(&format!("<@{BOT}> fix the build"));
    let envelope = crate::domain::Envelope {
        version: ENVELOPE_VERSION,
        provider: crate::domain::Provider::Slack,
        tenant: TEAM.into(),
        delivery_id: "Ev1".into(),
        event: "app_mention".into(),
        group: e.thread_key(),
        received_at: NOW,
        payload: crate::provider::queued_payload(&e).expect("payload"),
    };
    let sides = BothSides::offline(config, MemorySecrets::new());
    match sides.decide(&envelope).expect("decides") {
        Decision::Notice { source, text, .. } => {
            let SlackNotice::Choice { choices } = &slack_source(&source).notice else {
                panic!("a picker")
            };
            assert_eq!(choices[..], many[..100]);
            assert!(text.contains("100 of its 130 repositories are listed"), "{text}");
        }
        other => panic!("expected the picker, got {other:?}"),
    }
}

/// A `block_actions` payload of a pick in the picker `PICKER_TS` asking `requester` about the mention `ROOT_TS`.
fn pick_actions(user: &str, requester: &str, value: &str) -> Value {
    let mut payload = block_actions(super::PICK_ACTION_ID);
    payload["user"]["id"] = json!(user);
    payload["container"]["message_ts"] = json!(PICKER_TS);
    payload["container"]["channel_id"] = json!(PICK_CHANNEL);
    payload["channel"]["id"] = json!(PICK_CHANNEL);
    payload["message"]["ts"] = json!(PICKER_TS);
    payload["actions"] = json!([{
        "type": "static_select",
        "action_id": super::PICK_ACTION_ID,
        "block_id": format!("hookline_pick:{ROOT_TS}:{requester}"),
        "selected_option": {"text": {"type": "plain_text", "text": "octo/web"}, "value": value},
        "placeholder": {"type": "plain_text", "text": "Choose a repository"},
        "action_ts": ACTION_TS
    }]);
    payload
}

#[tokio::test]
async fn a_pick_is_queued_in_its_thread_with_what_it_resumes() {
    let body = form(&pick_actions(ALICE, ALICE, "github:octo/web"));
    let envelope = accepted(intake_as(FORM, &team_path(TEAM), &body, V_SECRET, NOW, NOW).await);
    assert_eq!(envelope.event, "block_actions");
    assert_eq!(envelope.delivery_id, format!("click:{ALICE}:{ACTION_TS}"));
    assert_eq!(envelope.group, format!("slack:{TEAM}:{PICK_CHANNEL}:{ROOT_TS}"));
    let click = click_of(&envelope);
    assert_eq!(click.message_ts, PICKER_TS);
    assert_eq!(click.value, "");
    assert_eq!(
        click.pick,
        Some(super::event::SlackPick {
            request_ts: ROOT_TS.into(),
            requester: ALICE.into(),
            repository: repo("github", "octo/web"),
            read: None,
        })
    );
}

#[tokio::test]
async fn picks_are_verified_like_events() {
    let body = form(&pick_actions(ALICE, ALICE, "github:octo/web"));
    assert_forged_and_stale_clicks_refused(&body).await;
    let ts = NOW.to_string();
    let unsigned = header_map(&[("X-Slack-Request-Timestamp", &ts), ("Content-Type", FORM)]);
    let err = post(&module(), &team_path(TEAM), &body, &unsigned, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookError::Unauthorized(_)), "{err:?}");
    assert_eq!(err.into_reply().status, 401);
    let err = click_from_the_other_team(&body).await;
    assert!(matches!(err, WebhookError::Unauthorized(_)), "{err:?}");
}

#[tokio::test]
async fn malformed_picks_are_400() {
    let pick = pick_actions(ALICE, ALICE, "github:octo/web");
    let changed = |change: &dyn Fn(&mut Value)| {
        let mut payload = pick.clone();
        change(&mut payload);
        form(&payload)
    };
    let long = format!(
        "gitlab:{}",
        ["g".repeat(60), "h".repeat(60), "p".repeat(30)].join("/")
    );
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "no block id",
            changed(&|p| p["actions"][0]["block_id"] = json!(null)),
        ),
        (
            "another block",
            changed(&|p| p["actions"][0]["block_id"] = json!("hookline_status_actions")),
        ),
        (
            "bad request ts",
            changed(&|p| p["actions"][0]["block_id"] = json!(format!("hookline_pick:1.2.3:{ALICE}"))),
        ),
        (
            "bad requester",
            changed(&|p| p["actions"][0]["block_id"] = json!(format!("hookline_pick:{ROOT_TS}:U1/../x"))),
        ),
        (
            "no requester",
            changed(&|p| p["actions"][0]["block_id"] = json!(format!("hookline_pick:{ROOT_TS}"))),
        ),
        (
            "nothing selected",
            changed(&|p| p["actions"][0]["selected_option"] = json!(null)),
        ),
    ];
    let values = [
        "octo/web",
        "svn:octo/web",
        "GitHub:octo/web",
        "github: octo/web",
        "github:octo/web/x",
        "github:../web",
        "github:octo/web ",
        long.as_str(),
    ];
    let bad_values = values.iter().map(|value| {
        (
            "bad value",
            changed(&|p| p["actions"][0]["selected_option"]["value"] = json!(value)),
        )
    });
    for (name, body) in bodies.into_iter().chain(bad_values) {
        let err = intake_as(FORM, &team_path(TEAM), &body, V_SECRET, NOW, NOW)
            .await
            .expect_err(name);
        assert!(matches!(err, WebhookError::Malformed(_)), "{name}: {err:?}");
        assert_eq!(err.into_reply().status, 400, "{name}");
    }
}

/// A pick by `user` of `picked` in the picker, as the worker has it after reading the mention `text` by `author`
/// at `read_at`.
fn pick(user: &str, picked: RepoRef, read_at: u64, author: &str, text: &str) -> SlackClick {
    SlackClick {
        channel: PICK_CHANNEL.into(),
        user: user.into(),
        message_ts: PICKER_TS.into(),
        value: String::new(),
        pick: Some(super::event::SlackPick {
            request_ts: ROOT_TS.into(),
            requester: ALICE.into(),
            repository: picked,
            read: Some(super::event::PickRead {
                at: read_at,
                request: Some(super::event::SlackMessage {
                    user: author.into(),
                    text: text.into(),
                }),
            }),
        }),
        ..click()
    }
}

const PICKED_AT: u64 = 1_515_449_600;

#[test]
fn the_requesters_pick_in_time_runs_the_mention_on_the_picked_repository() {
    let text = format!("<@{BOT}> fix the flaky login test");
    let trigger = run(
        decide_click(&pick(ALICE, repo("github", "Octo/Web"), PICKED_AT, ALICE, &text)).expect("decides"),
    );
    let thread_key = format!("slack:{TEAM}:{PICK_CHANNEL}:{ROOT_TS}");
    assert_eq!(trigger.thread_key, thread_key);
    assert_eq!(
        trigger.run_key,
        format!("{thread_key}:msg:{ROOT_TS}"),
        "the mention's own run key: two picks are one run"
    );
    assert_eq!(trigger.intent, Intent::Work);
    assert_eq!(trigger.actor.id, ALICE);
    assert_eq!(trigger.repository.as_deref(), Some("octo/web"), "as configured");
    assert_eq!(trigger.git_provider, "github");
    assert!(!trigger.repository_named, "one of the channel's repositories");
    assert_eq!(
        trigger.prompt.request, "fix the flaky login test",
        "the text read back"
    );
    assert_eq!(trigger.title, "Slack: fix the flaky login test");
    assert_eq!(trigger.occurred_at, 1_515_449_522, "when the mention was written");
    let source = slack_source(&trigger.source);
    assert_eq!(source.message_ts, ROOT_TS, "the 👀 goes on the mention");
    assert_eq!(source.thread_ts, ROOT_TS);
    assert_eq!(
        source.notice,
        SlackNotice::Picked {
            picker_ts: PICKER_TS.into(),
            repository: "octo/web".into()
        }
    );
    // The last second of the window still counts; a gitlab repository keeps its provider.
    let expires_at = 1_515_449_525 + 900;
    let trigger = run(decide_click(&pick(
        ALICE,
        repo("gitlab", "group/infra"),
        expires_at,
        ALICE,
        &text,
    ))
    .expect("decides"));
    assert_eq!(trigger.git_provider, "gitlab");
}

#[test]
fn picks_by_others_too_late_or_of_other_repositories_start_nothing() {
    let text = format!("<@{BOT}> fix the flaky login test");
    let web = || repo("github", "octo/web");
    // Someone else: told privately that it is not theirs to choose.
    match decide_click(&pick("U0DAVE001", web(), PICKED_AT, ALICE, &text)).expect("decides") {
        Decision::Notice { source, key, text } => {
            let source = slack_source(&source);
            assert_eq!(
                (source.user.as_str(), &source.notice),
                ("U0DAVE001", &SlackNotice::Ephemeral)
            );
            assert!(text.contains(&format!("Only @{ALICE} can choose")), "{text}");
            assert!(key.contains(ACTION_TS), "{key}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Too late: the picker says so.
    let late = 1_515_449_525 + 901;
    match decide_click(&pick(ALICE, web(), late, ALICE, &text)).expect("decides") {
        Decision::Notice { source, key, text } => {
            let source = slack_source(&source);
            assert_eq!(source.notice, SlackNotice::Edit { ts: PICKER_TS.into() });
            assert!(key.ends_with(":pick-expired"), "{key}");
            assert!(
                text.contains("expired: a repository can be chosen for 15 minutes"),
                "{text}"
            );
        }
        other => panic!("expected the expiry, got {other:?}"),
    }
    // Not (or no longer) one of the channel's repositories.
    for picked in [repo("github", "octo/elsewhere"), repo("gitlab", "octo/web")] {
        match decide_click(&pick(ALICE, picked, PICKED_AT, ALICE, &text)).expect("decides") {
            Decision::Notice { source, text, .. } => {
                assert_eq!(slack_source(&source).notice, SlackNotice::Ephemeral);
                assert!(
                    text.contains("is not one of this channel's repositories"),
                    "{text}"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    // The mention is gone: the picker says so.
    let mut gone = pick(ALICE, web(), PICKED_AT, ALICE, &text);
    gone.pick
        .as_mut()
        .and_then(|p| p.read.as_mut())
        .expect("read")
        .request = None;
    match decide_click(&gone).expect("decides") {
        Decision::Notice { source, .. } => {
            assert_eq!(
                slack_source(&source).notice,
                SlackNotice::Edit { ts: PICKER_TS.into() }
            )
        }
        other => panic!("expected a notice, got {other:?}"),
    }
    // Not read, written by someone else, or no longer asking for work: nothing.
    let mut unread = pick(ALICE, web(), PICKED_AT, ALICE, &text);
    unread.pick.as_mut().expect("pick").read = None;
    assert!(matches!(decide_click(&unread), Ok(Decision::Ignore(_))));
    let other_author = pick(ALICE, web(), PICKED_AT, "U0DAVE001", &text);
    assert!(matches!(decide_click(&other_author), Ok(Decision::Ignore(_))));
    let stop = pick(ALICE, web(), PICKED_AT, ALICE, &format!("<@{BOT}> stop"));
    assert!(matches!(decide_click(&stop), Ok(Decision::Ignore(_))));
    let mut no_thread = pick(ALICE, web(), PICKED_AT, ALICE, &text);
    no_thread.thread_ts = PICKER_TS.into();
    assert!(matches!(decide_click(&no_thread), Ok(Decision::Ignore(_))));
    let mut by_bot = pick(BOT, web(), PICKED_AT, ALICE, &text);
    by_bot.user = BOT.into();
    assert!(matches!(decide_click(&by_bot), Ok(Decision::Ignore(_))));
}

#[test]
fn several_repositories_and_the_pickers_expiry_are_configured() {
    let config = load_on(&[
        ("SLACK_TENANTS", "*"),
        (
            "SLACK_REPOS",
            "C1=octo/api | octo/web|gitlab:g/p, C2=octo/one|Octo/One",
        ),
        ("SLACK_CHOICE_EXPIRES_SECS", "60"),
    ]);
    assert_eq!(
        config.repositories_of("C1"),
        [
            repo("github", "octo/api"),
            repo("github", "octo/web"),
            repo("gitlab", "g/p")
        ]
    );
    assert_eq!(config.channel_default("C1"), None, "several: no default");
    assert_eq!(
        config.channel_default("C2"),
        Some(&repo("github", "octo/one")),
        "a repository listed twice is one"
    );
    assert!(config.repositories_of("C3").is_empty());
    assert_eq!(config.access.choice_expires.as_secs(), 60);
    for bad in ["0", "-5", "soon", "15m"] {
        match load(&[("SLACK_TENANTS", "*"), ("SLACK_CHOICE_EXPIRES_SECS", bad)]) {
            Err(ConfigError::Invalid { name, .. }) => assert_eq!(name, "SLACK_CHOICE_EXPIRES_SECS"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    for bad in ["C1=octo/api|", "C1=octo/api|octo", "C1=octo/api||octo/web"] {
        match load(&[("SLACK_TENANTS", "*"), ("SLACK_REPOS", bad)]) {
            Err(ConfigError::Invalid { name, .. }) => assert_eq!(name, "SLACK_REPOS"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[test]
fn notices_name_people_as_real_mentions() {
    assert_eq!(
        mrkdwn::link_user_ids(
            "@U0DAVE001 Only @U0ALICE01 can choose; `U0ALICE01` and x@U0ALICE01 stay, <@U0BOB0001> too"
        ),
        "<@U0DAVE001> Only <@U0ALICE01> can choose; `U0ALICE01` and x@U0ALICE01 stay, <@U0BOB0001> too"
    );
    assert_eq!(mrkdwn::link_user_ids("@here @channel @Ux"), "@here @channel @Ux");
}

// ---- text formats ----

#[test]
fn slack_text_becomes_plain_text() {
    let text = format!(
        "<@{BOT}> ask <@U0BOB0001> and <@U0CAROL01|carol> in <#C0GEN0001|general>: see <https://x.test/a?b=1&amp;c=2|the doc>, <https://y.test> &lt;tag&gt; &amp;amp; <!here>"
    );
    assert_eq!(
        mrkdwn::plain_text(&text, Some(BOT)),
        "ask @U0BOB0001 and @carol in #general: see the doc (https://x.test/a?b=1&c=2), https://y.test <tag> &amp; @here"
    );
}

#[test]
fn markdown_becomes_mrkdwn() {
    let out = mrkdwn::to_mrkdwn(
        "👀 I'm on it! @U061F7AUR can [track my progress here](https://app.test/conversations/1).\n## Done\n**Fixed** a < b & c > d\n> quoted\n```\nlet x = a<b>;\n[no](https://link.test)\n```",
    );
    assert_eq!(
        out,
        "👀 I'm on it! @U061F7AUR can <https://app.test/conversations/1|track my progress here>.\n*Done*\n*Fixed* a &lt; b &amp; c &gt; d\n> quoted\n```\nlet x = a&lt;b&gt;;\n[no](https://link.test)\n```"
    );
    assert_eq!(
        mrkdwn::link_user(
            "@U061F7AUR can see; @U061F7AURX not; x@U061F7AUR not",
            "U061F7AUR"
        ),
        "<@U061F7AUR> can see; @U061F7AURX not; x@U061F7AUR not"
    );
    let long = "y".repeat(50_000);
    assert!(mrkdwn::to_mrkdwn(&long).chars().count() <= mrkdwn::MAX_MESSAGE_CHARS);
    assert_eq!(
        mrkdwn::to_mrkdwn("- [x] Explore\n- [ ] **Fix** a < b (in progress)\n- plain"),
        "☑ Explore\n☐ *Fix* a &lt; b (in progress)\n- plain",
        "the agent's task list shows as boxes"
    );
}

// ---- configuration ----

fn load(pairs: &[(&str, &str)]) -> Result<Option<SlackConfig>, ConfigError> {
    let get = crate::config::pairs_lookup(pairs);
    SlackConfig::load(&crate::config::Lookup::new(&get))
}

/// The configuration `pairs` load, which must turn Slack on.
fn load_on(pairs: &[(&str, &str)]) -> SlackConfig {
    load(pairs).expect("loads").expect("on")
}

#[test]
fn configuration() {
    assert_eq!(load(&[]), Ok(None));
    assert_eq!(
        load(&[("SLACK_REPOS", "C1=o/r")]),
        Ok(None),
        "off without SLACK_TENANTS"
    );
    let config = load_on(&[
        ("SLACK_TENANTS", "*"),
        ("SLACK_API_URL", "http://127.0.0.1:1234/api/"),
        ("SLACK_REPOS", "C1=octo/hello, C2=gitlab:group/sub/proj"),
    ]);
    assert_eq!(config.api_url, "http://127.0.0.1:1234/api");
    assert_eq!(config.secret_prefix, "slack");
    assert_eq!(config.git_provider, "github");
    assert_eq!(config.channel_repos["C1"][0].repository, "octo/hello");
    assert_eq!(config.channel_repos["C2"][0].git_provider, "gitlab");
    assert_eq!(config.channel_default("C1"), config.channel_repos["C1"].first());
    assert_eq!(config.channel_default("C3"), None);
    assert_eq!(config.access.choice_expires.as_secs(), 900);
    assert_eq!(config.signing_secret_name(Some("T1")), "slack/T1/signing-secret");
    assert_eq!(config.signing_secret_name(None), "slack/signing-secret");
    assert_eq!(config.bot_token_name("T1"), "slack/T1/bot-token");
    assert!(
        config.serves("T1") && config.serves("T2"),
        "`*` serves any workspace"
    );
    let listed = load_on(&[("SLACK_TENANTS", "T1"), ("SLACK_SECRET_PREFIX", "/prod/slack/")]);
    assert!(listed.serves("T1") && !listed.serves("T2"));
    assert_eq!(listed.bot_token_name("T1"), "prod/slack/T1/bot-token");
    for (name, pairs) in [
        ("SLACK_TENANTS", vec![("SLACK_TENANTS", "not-a-team")]),
        ("SLACK_REPOS", vec![("SLACK_TENANTS", "*"), ("SLACK_REPOS", "C1")]),
        (
            "SLACK_REPOS",
            vec![("SLACK_TENANTS", "*"), ("SLACK_REPOS", "C1=a/b/c")],
        ),
        (
            "SLACK_REPOS",
            vec![("SLACK_TENANTS", "*"), ("SLACK_REPOS", "C1=svn:a/b")],
        ),
        (
            "SLACK_GIT_PROVIDER",
            vec![("SLACK_TENANTS", "*"), ("SLACK_GIT_PROVIDER", "svn")],
        ),
        (
            "SLACK_API_URL",
            vec![("SLACK_TENANTS", "*"), ("SLACK_API_URL", "slack.com")],
        ),
    ] {
        match load(&pairs) {
            Err(ConfigError::Invalid { name: got, .. }) => assert_eq!(got, name),
            other => panic!("{pairs:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_empty_signing_secret_verifies_nothing() {
    let secrets = MemorySecrets::new().with(format!("slack/{TEAM}/signing-secret"), " ");
    let sides = BothSides::offline(config(), secrets);
    let body = callback(mention("<@UBOT> fix it"));
    let ts = V4_TS.to_string();
    let signature = verify::sign(b" ", &ts, &body);
    let headers = header_map(&[
        ("X-Slack-Request-Timestamp", &ts),
        ("X-Slack-Signature", &signature),
        ("Content-Type", "application/json"),
    ]);
    let result = post(&sides, &team_path(TEAM), &body, &headers, V4_TS.parse().unwrap()).await;
    assert!(matches!(result, Err(WebhookError::Unavailable(_))), "{result:?}");
}
