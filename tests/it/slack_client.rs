//! The Slack Web API client against the fake Slack: the status marker found across pages, the Stop button on a
//! live status only, error classification (`ok: false`, 429 with `Retry-After`), idempotent acknowledgement and
//! the two kinds of notice.

use std::{collections::BTreeMap, time::Duration};

use hookline::{
    domain::{SourceRef, StatusRef},
    error::PortError,
    memory::MemorySecrets,
    ports::SourceClient,
    slack::{client::SlackClient, SlackConfig, SlackNotice, SlackSource, STOP_ACTION_ID},
};
use hookline_tests::{
    fake_slack::{FakeSlack, SlackFailure},
    harness::outbound,
};
use serde_json::{json, Value};

const TEAM: &str = "T0CLIENT1";
const BOT: &str = "U0BOT0002";
const TOKEN: &str = "xoxb-client-test";
const CHANNEL: &str = "C0CLIENT1";
const ROOT: &str = "1700000000.000100";

async fn setup(token_secret: Option<&str>) -> (FakeSlack, SlackClient, SourceRef) {
    let slack = FakeSlack::start().await;
    slack.add_team(TEAM, TOKEN, BOT);
    slack.seed_message(CHANNEL, ROOT, None, "U0ALICE01", "<@U0BOT0002> fix octo/hello");
    let secrets = MemorySecrets::new();
    if let Some(token) = token_secret {
        secrets.insert(format!("slack/{TEAM}/bot-token"), token);
    }
    let config = SlackConfig {
        api_url: slack.url().to_owned(),
        secret_prefix: "slack".into(),
        oauth_client_id: None,
        channel_repos: BTreeMap::new(),
        git_provider: "github".into(),
        teams: None,
        access: Default::default(),
    };
    let client = SlackClient::new(config, &outbound(secrets));
    let source = SourceRef::Slack(SlackSource {
        tenant: TEAM.into(),
        channel: CHANNEL.into(),
        thread_ts: ROOT.into(),
        message_ts: ROOT.into(),
        user: "U0ALICE01".into(),
        bot_user_id: BOT.into(),
        notice: SlackNotice::Ephemeral,
        external: false,
    });
    (slack, client, source)
}

#[tokio::test]
async fn find_status_reads_every_page_and_only_takes_the_bots_marked_message() {
    let (slack, client, source) = setup(Some(TOKEN)).await;
    for i in 0..250 {
        // A person pasting the marker text does not make a status message.
        let text = if i == 3 { "run:abc" } else { "chatter" };
        slack.seed_message(
            CHANNEL,
            &format!("1700000001.{i:06}"),
            Some(ROOT),
            "U0BOB0001",
            text,
        );
    }
    let posted = client
        .post_status(
            &source,
            "run:abc",
            "👀 I'm on it! @U0ALICE01 can [track](https://x.test/c/1).",
            false,
        )
        .await
        .expect("posted");
    let found = client.find_status(&source, "run:abc").await.expect("scanned");
    assert_eq!(found, Some(posted.clone()));
    let pages = slack.requests_to("conversations.replies");
    assert_eq!(pages.len(), 2, "the status is on the second page");
    assert_eq!(
        pages[0].query.get("include_all_metadata").map(String::as_str),
        Some("true")
    );
    assert_eq!(pages[1].query.get("cursor").map(String::as_str), Some("next_200"));
    assert_eq!(
        client.find_status(&source, "run:other").await.expect("scanned"),
        None
    );
    let text = &slack.bot_messages()[0].text;
    assert_eq!(text, "👀 I'm on it! <@U0ALICE01> can <https://x.test/c/1|track>.");

    client
        .edit_status(&source, &posted, "run:abc", "✅ done", false)
        .await
        .expect("edited");
    assert_eq!(slack.bot_messages()[0].text, "✅ done");
    let gone = StatusRef {
        id: "1700000009.000001".into(),
        url: None,
    };
    let err = client
        .edit_status(&source, &gone, "run:abc", "x", false)
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::NotFound { .. }), "{err}");
}

/// The JSON body of the `index`-th call of `method`.
fn sent(slack: &FakeSlack, method: &str, index: usize) -> Value {
    slack.requests_to(method)[index]
        .body
        .clone()
        .expect("a JSON body")
}

#[tokio::test]
async fn a_live_status_carries_the_stop_button_and_the_final_edit_removes_it() {
    let (slack, client, source) = setup(Some(TOKEN)).await;
    let conversation = "0123456789abcdef0123456789abcdef";
    let marker = format!("run:{conversation}");
    let posted = client
        .post_status(&source, &marker, "👀 I'm on it! @U0ALICE01 can watch.", true)
        .await
        .expect("posted");
    let post = sent(&slack, "chat.postMessage", 0);
    assert_eq!(
        post["text"], "👀 I'm on it! <@U0ALICE01> can watch.",
        "text stays for notifications"
    );
    assert_eq!(post["blocks"][0]["type"], "section");
    assert_eq!(
        post["blocks"][0]["text"],
        json!({"type": "mrkdwn", "text": post["text"], "verbatim": true})
    );
    assert_eq!(
        post["blocks"][1]["elements"][0],
        json!({
            "type": "button",
            "action_id": STOP_ACTION_ID,
            "text": {"type": "plain_text", "text": "Stop"},
            "style": "danger",
            "value": conversation,
        })
    );
    assert_eq!(slack.bot_messages()[0].buttons(), [STOP_ACTION_ID]);

    // Progress keeps the button; a text beyond one section's limit is split over several.
    let long = format!("🔄 Working.\n{}", "- a step done\n".repeat(400));
    client
        .edit_status(&source, &posted, &marker, &long, true)
        .await
        .expect("edited");
    let edit = sent(&slack, "chat.update", 0);
    let blocks = edit["blocks"].as_array().expect("blocks");
    assert!(blocks.len() > 2, "{}", blocks.len());
    assert!(blocks[..blocks.len() - 1].iter().all(|b| b["type"] == "section"));
    assert_eq!(slack.bot_messages()[0].buttons(), [STOP_ACTION_ID]);

    // The result: the text alone, with an empty `blocks` array so the button goes.
    client
        .edit_status(&source, &posted, &marker, "✅ done", false)
        .await
        .expect("edited");
    let last = sent(&slack, "chat.update", 1);
    assert_eq!(last["blocks"], json!([]));
    assert_eq!(last["text"], "✅ done");
    let message = &slack.bot_messages()[0];
    assert!(message.blocks.is_empty() && message.buttons().is_empty());
    assert_eq!(message.text, "✅ done");

    // A status posted already final has no blocks at all.
    client
        .post_status(&source, "run:fedcba", "❌ failed", false)
        .await
        .expect("posted");
    assert!(sent(&slack, "chat.postMessage", 1).get("blocks").is_none());
}

#[tokio::test]
async fn refusals_and_rate_limits_are_classified() {
    let (slack, client, source) = setup(Some(TOKEN)).await;
    // An HTTP 429 and Slack's own `ratelimited` error are both transient, with Slack's wait.
    let rate_limits = [
        (SlackFailure::too_many_requests(7), 7),
        (
            SlackFailure::Error {
                code: "ratelimited".into(),
                retry_after: Some(4),
            },
            4,
        ),
    ];
    for (failure, secs) in rate_limits {
        slack.fail_next("chat.postMessage", failure);
        let err = client
            .post_status(&source, "run:a", "x", false)
            .await
            .unwrap_err();
        assert!(
            matches!(err, PortError::Transient { retry_after: Some(wait), .. } if wait == Duration::from_secs(secs)),
            "{err}"
        );
    }
    for code in ["channel_not_found", "not_in_channel", "is_archived"] {
        slack.fail_next("chat.postMessage", SlackFailure::error(code));
        let err = client
            .post_status(&source, "run:a", "x", false)
            .await
            .unwrap_err();
        assert!(matches!(err, PortError::Permanent { .. }), "{code}: {err}");
    }
    assert!(slack.bot_messages().is_empty());

    // A wrong token is `invalid_auth` (HTTP 200 with ok: false): permanent. No token at all: permanent too.
    let (_slack, wrong, source) = setup(Some("xoxb-revoked")).await;
    let err = wrong.post_status(&source, "run:a", "x", false).await.unwrap_err();
    assert!(
        matches!(err, PortError::Permanent { .. }) && err.to_string().contains("invalid_auth"),
        "{err}"
    );
    let (_slack, missing, source) = setup(None).await;
    let err = missing.acknowledge(&source).await.unwrap_err();
    assert!(matches!(err, PortError::Permanent { .. }), "{err}");
}

#[tokio::test]
async fn acknowledgement_is_idempotent_and_notices_reach_the_right_audience() {
    let (slack, client, source) = setup(Some(TOKEN)).await;
    client.acknowledge(&source).await.expect("reacted");
    client
        .acknowledge(&source)
        .await
        .expect("already reacted counts as done");
    assert_eq!(slack.reactions().len(), 1);
    assert_eq!(slack.reactions()[0].timestamp, ROOT);

    client
        .post_notice(&source, "@U0ALICE01 please link your account.")
        .await
        .expect("ephemeral");
    let ephemerals = slack.ephemerals();
    assert_eq!(ephemerals.len(), 1);
    assert_eq!(ephemerals[0].user, "U0ALICE01");
    assert_eq!(ephemerals[0].thread_ts.as_deref(), Some(ROOT));
    assert!(slack.bot_messages().is_empty());

    let SourceRef::Slack(mut thread) = source.clone() else {
        unreachable!()
    };
    thread.notice = SlackNotice::Thread;
    client
        .post_notice(&SourceRef::Slack(thread), "@U0ALICE01 which repository?")
        .await
        .expect("thread reply");
    let bot = slack.bot_messages();
    assert_eq!(bot.len(), 1);
    assert_eq!(bot[0].thread_ts.as_deref(), Some(ROOT));
    assert_eq!(bot[0].text, "<@U0ALICE01> which repository?");
    assert!(bot[0].metadata.is_none(), "a notice is not a status");
}
