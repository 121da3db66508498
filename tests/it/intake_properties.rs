//! A bounded randomized check of every provider's intake (verification, parsing, trimming), through the same
//! webhook sides the hosts use: from one correctly signed request, thousands of variants — the body tampered
//! byte by byte or cut, headers dropped or garbled, the path changed, random bytes — and none may panic or be
//! accepted, since none carries a valid signature for what it says. The genuine request is accepted.
//!
//! The generator is a fixed-seed xorshift, so a failure names its iteration and replays.

use std::sync::Arc;

use hookline::{
    config::{pairs_lookup, Lookup},
    gitlab::verify as gitlab_verify,
    http::HttpRequest,
    memory::MemorySecrets,
    ports::Secrets,
    provider::{Intake, ProviderIntake},
    registry::ProviderConfigs,
    slack::verify as slack_verify,
    verify::sign_hex,
};
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;

const NOW: u64 = 1_800_000_000;
const ROUNDS: usize = 2_000;
const GITLAB_SIGNING: &str = "whsec_c2lnbmluZy1zZWNyZXQtZm9yLXByb3BlcnR5LXRlc3Q=";

/// One provider's request: the genuine, correctly signed one, or a variant of it.
struct Genuine {
    name: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn genuine_requests() -> Vec<Genuine> {
    let github_body = serde_json::to_vec(&json!({
        "action": "created", "installation": {"id": 1}, "repository": {"full_name": "o/r"},
        "sender": {"login": "alice", "id": 1, "type": "User"},
        "issue": {"number": 1, "title": "t", "body": "b", "html_url": "https://github.com/o/r/issues/1"},
        "comment": {"id": 5, "body": "@openhands fix", "user": {"login": "alice", "id": 1, "type": "User"},
                    "html_url": "https://github.com/o/r/issues/1#c5", "created_at": "2026-01-01T00:00:00Z"}
    }))
    .unwrap();
    let slack_body = serde_json::to_vec(&json!({
        "type": "event_callback", "team_id": "T0TEAM001", "event_id": "Ev1",
        "event": {"type": "app_mention", "user": "U0ALICE01", "text": "<@U0BOT0001> fix", "ts": "1.000100",
                  "channel": "C0GENERAL"},
        "authorizations": [{"team_id": "T0TEAM001", "user_id": "U0BOT0001", "is_bot": true}]
    }))
    .unwrap();
    let jira_body = serde_json::to_vec(&json!({
        "webhookEvent": "comment_created", "timestamp": NOW * 1000,
        "comment": {"id": "1", "body": "@openhands fix", "author": {"accountId": "a1", "accountType": "atlassian"}},
        "issue": {"id": "10", "key": "P-1", "fields": {"project": {"key": "P"}, "summary": "s"}}
    }))
    .unwrap();
    let linear_body = serde_json::to_vec(&json!({
        "action": "create", "type": "Comment", "organizationId": "org-1", "webhookTimestamp": NOW * 1000,
        "actor": {"id": "u1", "type": "user", "name": "alice"},
        "data": {"id": "c1", "body": "@openhands fix", "issueId": "i1", "userId": "u1",
                 "issue": {"id": "i1", "identifier": "E-1", "title": "t", "team": {"id": "t1", "key": "E"}}}
    }))
    .unwrap();
    let gitlab_body = serde_json::to_vec(&json!({
        "object_kind": "note", "user": {"id": 1, "username": "alice"}, "project": {"id": 5, "path_with_namespace": "g/p"},
        "object_attributes": {"id": 9, "note": "@hookline-bot fix", "noteable_type": "Issue", "action": "create"},
        "issue": {"id": 1, "iid": 1, "title": "t"}
    }))
    .unwrap();
    let gitlab_key = gitlab_verify::signing_key(GITLAB_SIGNING).unwrap();
    let slack_ts = NOW.to_string();
    vec![
        Genuine {
            name: "github",
            path: "/webhooks/github".into(),
            headers: vec![
                ("x-github-event", "issue_comment".into()),
                ("x-github-delivery", "d-1".into()),
                ("content-type", "application/json".into()),
                (
                    "x-hub-signature-256",
                    format!("sha256={}", sign_hex(b"gh-secret", &github_body)),
                ),
            ],
            body: github_body,
        },
        Genuine {
            name: "gitlab",
            path: "/webhooks/gitlab/gitlab.com".into(),
            headers: vec![
                ("x-gitlab-event", "Note Hook".into()),
                ("webhook-id", "msg-1".into()),
                ("webhook-timestamp", NOW.to_string()),
                (
                    "webhook-signature",
                    gitlab_verify::sign(&gitlab_key, "msg-1", NOW, &gitlab_body),
                ),
                ("content-type", "application/json".into()),
            ],
            body: gitlab_body,
        },
        Genuine {
            name: "slack",
            path: "/webhooks/slack/T0TEAM001".into(),
            headers: vec![
                ("x-slack-request-timestamp", slack_ts.clone()),
                (
                    "x-slack-signature",
                    slack_verify::sign(b"slack-secret", &slack_ts, &slack_body),
                ),
                ("content-type", "application/json".into()),
            ],
            body: slack_body,
        },
        Genuine {
            name: "jira",
            path: "/webhooks/jira/acme".into(),
            headers: vec![
                ("x-atlassian-webhook-identifier", "wh-1".into()),
                (
                    "x-hub-signature",
                    format!("sha256={}", sign_hex(b"jira-secret", &jira_body)),
                ),
                ("content-type", "application/json".into()),
            ],
            body: jira_body,
        },
        Genuine {
            name: "linear",
            path: "/webhooks/linear/acme".into(),
            headers: vec![
                ("linear-event", "Comment".into()),
                ("linear-delivery", "ld-1".into()),
                ("linear-signature", sign_hex(b"linear-secret", &linear_body)),
                ("content-type", "application/json".into()),
            ],
            body: linear_body,
        },
    ]
}

fn intakes() -> Vec<Arc<dyn ProviderIntake>> {
    let settings = [
        ("GITHUB_TENANTS", "github.com"),
        ("GITHUB_APP_ID", "1"),
        ("GITHUB_APP_SLUG", "hookline"),
        ("GITLAB_TENANTS", "gitlab.com"),
        ("GITLAB_GITLAB_COM_BOT_USERNAME", "hookline-bot"),
        ("GITLAB_GITLAB_COM_VERIFY", "signature"),
        ("SLACK_TENANTS", "T0TEAM001"),
        ("JIRA_TENANTS", "acme"),
        ("JIRA_ACME_URL", "https://acme.atlassian.net"),
        ("JIRA_ACME_BOT_ACCOUNT_ID", "bot"),
        ("LINEAR_TENANTS", "acme"),
        ("LINEAR_ACME_ORGANIZATION_ID", "org-1"),
        ("LINEAR_ACME_BOT_USER_ID", "bot"),
    ];
    let get = pairs_lookup(&settings);
    let configs = ProviderConfigs::load(&Lookup::new(&get), None).expect("settings load");
    let secrets: Arc<dyn Secrets> = Arc::new(
        MemorySecrets::new()
            .with("github/webhook-secret", "gh-secret")
            .with("gitlab/gitlab.com/signing-secret", GITLAB_SIGNING)
            .with("slack/T0TEAM001/signing-secret", "slack-secret")
            .with("jira/acme/webhook-secret", "jira-secret")
            .with("linear/acme/webhook-secret", "linear-secret"),
    );
    configs.intakes(&secrets)
}

/// xorshift64*: small, fast and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One variant of `genuine`; `None` when it happens to equal the genuine request.
fn variant(rng: &mut Rng, genuine: &Genuine) -> Option<Genuine> {
    let mut path = genuine.path.clone();
    let mut headers = genuine.headers.clone();
    let mut body = genuine.body.clone();
    match rng.below(6) {
        0 => {
            let at = rng.below(body.len());
            body[at] ^= 1 << rng.below(8);
        }
        1 => body.truncate(rng.below(body.len())),
        2 => {
            let at = rng.below(body.len());
            body.insert(at, b" {}[]\",\\\x00\xff"[rng.below(10)]);
        }
        3 => {
            let at = rng.below(headers.len());
            headers.remove(at);
        }
        4 => {
            let at = rng.below(headers.len());
            let garbage: String = (0..rng.below(80))
                .map(|_| (b'!' + rng.below(90) as u8) as char)
                .collect();
            headers[at].1 = garbage;
        }
        _ => {
            body = (0..rng.below(4096)).map(|_| rng.next() as u8).collect();
            if rng.below(2) == 0 {
                path = format!("{}/{}", genuine.path, rng.below(1000));
            }
        }
    }
    let unchanged = path == genuine.path && headers == genuine.headers && body == genuine.body;
    (!unchanged).then_some(Genuine {
        name: genuine.name,
        path,
        headers,
        body,
    })
}

async fn run(
    intake: &dyn ProviderIntake,
    path: &str,
    headers: &[(&'static str, String)],
    body: &[u8],
) -> Result<Intake, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.insert(HeaderName::from_static(name), value);
        }
    }
    let request = HttpRequest {
        method: "POST",
        path,
        query: "",
        headers: &map,
        body,
    };
    intake
        .intake(&request, NOW)
        .await
        .map_err(|err| format!("{err:?}"))
}

#[tokio::test]
async fn no_variant_of_a_signed_request_is_accepted_and_none_panics() {
    let intakes = intakes();
    for genuine in genuine_requests() {
        let intake = intakes
            .iter()
            .find(|i| i.provider().as_str() == genuine.name)
            .expect("the provider is configured");
        let accepted = run(intake.as_ref(), &genuine.path, &genuine.headers, &genuine.body).await;
        assert!(
            matches!(accepted, Ok(Intake::Accept(_))),
            "{}: the genuine request: {accepted:?}",
            genuine.name
        );
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ genuine.name.len() as u64);
        for round in 0..ROUNDS {
            let Some(Genuine {
                path, headers, body, ..
            }) = variant(&mut rng, &genuine)
            else {
                continue;
            };
            let answer = run(intake.as_ref(), &path, &headers, &body).await;
            // A variant without a (still) valid signature is refused; only a dropped header the signature does not
            // cover may still verify, and then it may be ignored or refused, never taken.
            let taken = matches!(answer, Ok(Intake::Accept(_)) | Ok(Intake::Reply(_)));
            let same_signed_content = path == genuine.path && body == genuine.body;
            assert!(
                !taken || same_signed_content,
                "{} round {round}: a variant was taken: {answer:?}",
                genuine.name
            );
        }
    }
}
