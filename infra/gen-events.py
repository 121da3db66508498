#!/usr/bin/env python3
"""Regenerate events/*.json: the Lambda test events for `sam local invoke -e` and `cargo lambda invoke`.

The GitHub events carry an X-Hub-Signature-256 computed over the exact body bytes with the documented TEST
secret below, so edit the bodies here and rerun this script rather than editing the JSON files by hand:

    python3 infra/gen-events.py            # writes events/*.json
    python3 infra/gen-events.py --check    # fails if a file differs from what would be written
    python3 infra/gen-events.py --now --out /tmp/hookline-events   # the same events signed at the current time

Slack (5 min) and Linear (60 s) refuse signatures outside their timestamp window, so the committed Slack and Linear
events (signed at the fixed time below) are answered 401/stale when invoked later; invoke the `--now` copies.
GitLab (token mode) and Jira carry no timestamp, so their committed events stay valid.

Test-only values (never use them for a real App, workspace, site or agent server):
    GitHub webhook secret   hookline-test-webhook-secret
    callback shared key     hookline-test-callback-key
    GitLab webhook token    hookline-test-gitlab-token        (gitlab/gitlab.com/webhook-token)
    Slack signing secret    hookline-test-slack-signing-secret (slack/signing-secret, the shared route)
    Jira webhook secret     hookline-test-jira-webhook-secret  (jira/acme.atlassian.net/webhook-secret)
    Linear webhook secret   hookline-test-linear-webhook-secret (linear/acme/webhook-secret)
"""

import hashlib
import hmac
import json
import sys
import time
from pathlib import Path

TEST_WEBHOOK_SECRET = "hookline-test-webhook-secret"
TEST_CALLBACK_KEY = "hookline-test-callback-key"
TEST_GITLAB_TOKEN = "hookline-test-gitlab-token"
TEST_SLACK_SIGNING_SECRET = "hookline-test-slack-signing-secret"
TEST_JIRA_WEBHOOK_SECRET = "hookline-test-jira-webhook-secret"
TEST_LINEAR_WEBHOOK_SECRET = "hookline-test-linear-webhook-secret"

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"

ACCOUNT = "123456789012"
REGION = "us-east-1"
API_ID = "a1b2c3d4e5"
TENANT = "github.com"
REPO = "octo-org/hello-world"
INSTALLATION_ID = 42424242
TIME_EPOCH_MS = 1795867200000  # 2026-11-28T12:00:00Z
COMMENT_DELIVERY = "3f1c2b9e-6a1d-4c57-9e0b-2a4f8d1c7e55"
COMMENT_DELIVERY_V1 = "8a0d5e2f-91b4-4f3a-b6c7-0e9d1a2b3c4d"
BOT_DELIVERY = "d41e7c90-5b2a-4f18-a3c6-9e8f7a6b5c4d"
PING_DELIVERY = "c2f7d8a1-4e3b-4a9c-8d6e-1f0a2b3c4d5e"
CONVERSATION_ID = "6f0e3b1c9a2d4e7f8b5c1d2e3f4a5b6c"


def compact(value) -> str:
    """JSON as serde_json writes it (no spaces), which is also how GitHub's bodies look on the wire."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def signature(body: str) -> str:
    digest = hmac.new(TEST_WEBHOOK_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def hmac_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def user(login: str, uid: int, kind: str = "User") -> dict:
    return {
        "login": login,
        "id": uid,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "html_url": f"https://github.com/{login}",
        "type": kind,
        "site_admin": False,
    }


OCTOCAT = user("octocat", 583231)
BOT = user("github-actions[bot]", 41898282, "Bot")


def issue_comment_payload(number: int, comment_id: int, sender: dict, text: str) -> dict:
    """An `issue_comment` / `created` payload as GitHub sends it to an App (trimmed of URL fields)."""
    repo_url = f"https://github.com/{REPO}"
    return {
        "action": "created",
        "issue": {
            "url": f"https://api.github.com/repos/{REPO}/issues/{number}",
            "html_url": f"{repo_url}/issues/{number}",
            "id": 2000000000 + number,
            "number": number,
            "title": "Typo in README",
            "user": OCTOCAT,
            "labels": [],
            "state": "open",
            "locked": False,
            "comments": 1,
            "created_at": "2026-11-28T11:50:00Z",
            "updated_at": "2026-11-28T11:59:58Z",
            "author_association": "OWNER",
            "body": "The README says `teh` instead of `the` in the first paragraph.",
        },
        "comment": {
            "url": f"https://api.github.com/repos/{REPO}/issues/comments/{comment_id}",
            "html_url": f"{repo_url}/issues/{number}#issuecomment-{comment_id}",
            "issue_url": f"https://api.github.com/repos/{REPO}/issues/{number}",
            "id": comment_id,
            "node_id": "IC_kwDOAAAAAc5AAAAB",
            "user": sender,
            "created_at": "2026-11-28T11:59:58Z",
            "updated_at": "2026-11-28T11:59:58Z",
            "author_association": "OWNER" if sender is OCTOCAT else "NONE",
            "body": text,
            "performed_via_github_app": None,
        },
        "repository": {
            "id": 1296269,
            "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
            "name": "hello-world",
            "full_name": REPO,
            "private": False,
            "owner": user("octo-org", 9919, "Organization"),
            "html_url": repo_url,
            "default_branch": "main",
        },
        "organization": {"login": "octo-org", "id": 9919},
        "sender": sender,
        "installation": {"id": INSTALLATION_ID, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI="},
    }


def trimmed(raw: dict) -> dict:
    """The queued GithubEvent for an issue_comment payload (mirrors shared/src/github/event.rs `into_event`)."""

    def u(x):
        return {"id": x["id"], "login": x["login"], "type": x["type"]}

    issue, comment = raw["issue"], raw["comment"]
    app = comment.get("performed_via_github_app")
    return {
        "action": raw["action"],
        "installation_id": raw["installation"]["id"],
        "repository": raw["repository"]["full_name"],
        "sender": u(raw["sender"]),
        "issue": {
            "number": issue["number"],
            "title": issue["title"],
            "body": issue["body"],
            "is_pull_request": "pull_request" in issue,
            "html_url": issue["html_url"],
        },
        "comment": {
            "id": comment["id"],
            "body": comment["body"],
            "user": u(comment["user"]),
            "html_url": comment["html_url"],
            "created_at": comment["created_at"],
            # Review fields (in_reply_to_id, path, line, diff_hunk) are left out when unset, as the webhook does.
            **({"via_app_slug": app["slug"]} if app else {}),
        },
    }


def envelope(delivery: str, raw: dict, received_at: int) -> dict:
    return {
        "version": 1,
        "provider": "github",
        "tenant": TENANT,
        "delivery_id": delivery,
        "event": "issue_comment",
        "group": f"github:{REPO.lower()}#{raw['issue']['number']}",
        "received_at": received_at,
        "payload": trimmed(raw),
    }


def request_context(method: str, path: str, route_key: str, source_ip: str, agent: str, request_id: str) -> dict:
    return {
        "accountId": ACCOUNT,
        "apiId": API_ID,
        "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "domainPrefix": API_ID,
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": agent},
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": "28/Nov/2026:12:00:00 +0000",
        "timeEpoch": TIME_EPOCH_MS,
    }


def http_v2(path: str, route_key: str, headers: dict, body: str, request_id: str, path_parameters=None,
            source_ip="140.82.115.10") -> dict:
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {**headers, "content-length": str(len(body.encode()))},
        "requestContext": request_context("POST", path, route_key, source_ip, headers.get("user-agent", ""),
                                          request_id),
        "body": body,
        "isBase64Encoded": False,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


def github_headers(event: str, delivery: str, body: str) -> dict:
    return {
        "accept": "*/*",
        "content-type": "application/json",
        "host": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "user-agent": "GitHub-Hookshot/5f7a1c2",
        "x-github-delivery": delivery,
        "x-github-event": event,
        "x-github-hook-id": "512345678",
        "x-github-hook-installation-target-id": "123456",
        "x-github-hook-installation-target-type": "integration",
        "x-hub-signature-256": signature(body),
    }


def github_v1(event: str, delivery: str, body: str) -> dict:
    """The same delivery through a REST API (payload format 1.0), which the function also accepts."""
    headers = {
        "Accept": "*/*",
        "Content-Type": "application/json",
        "Host": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "User-Agent": "GitHub-Hookshot/5f7a1c2",
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Event": event,
        "X-GitHub-Hook-ID": "512345678",
        "X-GitHub-Hook-Installation-Target-ID": "123456",
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-Hub-Signature-256": signature(body),
    }
    return {
        "resource": "/webhooks/github",
        "path": "/webhooks/github",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "abc123",
            "resourcePath": "/webhooks/github",
            "httpMethod": "POST",
            "extendedRequestId": "Zx1Ab2Cd3EFgHi=",
            "requestTime": "28/Nov/2026:12:00:00 +0000",
            "path": "/prod/webhooks/github",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "domainPrefix": API_ID,
            "requestTimeEpoch": TIME_EPOCH_MS,
            "requestId": "5e6f7a8b-0000-4000-8000-000000000001",
            "identity": {"sourceIp": "140.82.115.10", "userAgent": "GitHub-Hookshot/5f7a1c2"},
            "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
            "apiId": API_ID,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def sqs_record(message_id: str, env: dict, sequence: str, sent_ms: int) -> dict:
    body = compact(env)
    return {
        "messageId": message_id,
        "receiptHandle": "AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq+Y2Nt1o3vTTn7dWqbHf1lq0T7AblBBdZYq3DW2y7Ha" + message_id[:8],
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(sent_ms),
            "SenderId": "AROAEXAMPLEROLEID:hookline-WebhookGithubFunction-AbCdEf123456",
            "ApproximateFirstReceiveTimestamp": str(sent_ms + 35),
            "MessageGroupId": env["group"],
            # The claim's id: delivery key and claim time (shared/src/handlers/webhook.rs, `queue_message`).
            "MessageDeduplicationId": f"github#{TENANT}#{env['delivery_id']}#{env['received_at']}",
            "SequenceNumber": sequence,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:hookline-WorkQueue-Q1w2E3r4T5y6.fifo",
        "awsRegion": REGION,
    }


def provider_headers(agent: str, body: str, extra: dict) -> dict:
    return {
        "accept": "*/*",
        "content-type": "application/json",
        "host": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "user-agent": agent,
        **extra,
    }


def tenant_webhook(provider: str, tenant: str, agent: str, body: str, extra: dict, request_id: str,
                   source_ip: str) -> dict:
    """A provider's delivery to its per-tenant route, `POST /webhooks/{provider}/{tenant}`."""
    return http_v2(
        f"/webhooks/{provider}/{tenant}", f"POST /webhooks/{provider}/{{tenant}}",
        provider_headers(agent, body, extra), body, request_id, path_parameters={"tenant": tenant},
        source_ip=source_ip)


def other_providers() -> dict:
    """One signed HTTP API v2 event per other provider, each a comment mentioning the bot (a trigger)."""
    files = {}
    secs = TIME_EPOCH_MS // 1000

    # GitLab (tenant gitlab.com, token verification): a note on issue #17 mentioning the bot account.
    note = {
        "object_kind": "note", "event_type": "note",
        "user": {"id": 101, "name": "Alice", "username": "alice"},
        "project_id": 5,
        "project": {"id": 5, "name": "Hello", "path_with_namespace": "acme/backend/hello",
                    "web_url": "https://gitlab.com/acme/backend/hello", "default_branch": "main"},
        "object_attributes": {"id": 1241, "note": "@hookline-bot please fix the crash", "noteable_type": "Issue",
                              "author_id": 101, "system": False, "internal": False, "action": "create",
                              "discussion_id": "7a7c0ffee", "type": None,
                              "url": "https://gitlab.com/acme/backend/hello/-/issues/17#note_1241"},
        "issue": {"id": 92, "iid": 17, "title": "Crash on start", "description": "Steps to reproduce",
                  "state": "opened", "labels": []},
    }
    body = compact(note)
    files["gitlab-note.json"] = tenant_webhook("gitlab", "gitlab.com", "GitLab/18.6.0", body, {
        "x-gitlab-event": "Note Hook",
        "x-gitlab-token": TEST_GITLAB_TOKEN,
        "x-gitlab-event-uuid": "0c6f3d2a-9b1e-4f5a-8c7d-6e5f4a3b2c1d",
        "idempotency-key": "5b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c10",
        "x-gitlab-instance": "https://gitlab.com",
    }, "G1l2B3r4T5y6Uw=", source_ip="34.74.90.64")

    # Slack (shared route: signing secret slack/signing-secret, tenant = the body's team_id).
    mention = {
        "token": "legacy-verification-token-unused",
        "team_id": "T0HOOKLINE",
        "api_app_id": "A0HOOKLINE",
        "event": {"type": "app_mention", "user": "U061F7AUR", "text": "<@U0LAN0Z89> please fix octo-org/hello-world#42",
                  "ts": f"{secs}.000100", "channel": "C0HOOKLINE", "event_ts": f"{secs}.000100",
                  "client_msg_id": "4b1c2d3e-0000-4000-8000-00000000a1b2", "team": "T0HOOKLINE"},
        "type": "event_callback",
        "event_id": "Ev0HOOKLINE1",
        "event_time": secs,
        "authorizations": [{"enterprise_id": None, "team_id": "T0HOOKLINE", "user_id": "U0LAN0Z89", "is_bot": True}],
        "is_ext_shared_channel": False,
        "event_context": "EC0HOOKLINE",
    }
    body = compact(mention)
    files["slack-app-mention.json"] = http_v2(
        "/webhooks/slack", "POST /webhooks/slack",
        provider_headers("Slackbot 1.0 (+https://api.slack.com/robots)", body, {
            "x-slack-request-timestamp": str(secs),
            "x-slack-signature": "v0=" + hmac_hex(TEST_SLACK_SIGNING_SECRET, f"v0:{secs}:{body}"),
        }), body, "S1l2K3r4T5y6Uw=", source_ip="3.80.12.34")

    # Jira Cloud (site acme.atlassian.net): comment_created mentioning the handle.
    comment = {
        "timestamp": TIME_EPOCH_MS,
        "webhookEvent": "comment_created",
        "comment": {"id": "10001", "body": "@openhands please fix this in octo-org/hello-world",
                    "author": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Mia Krystof",
                               "accountType": "atlassian"},
                    "created": "2026-11-28T11:59:58.000+0000"},
        "issue": {"id": "10042", "key": "PROJ-7",
                  "fields": {"project": {"key": "PROJ"}, "summary": "Crash on save",
                             "description": "Steps: save twice."}},
    }
    body = compact(comment)
    agent = "Atlassian Webhook HTTP Client"
    files["jira-comment-created.json"] = tenant_webhook("jira", "acme.atlassian.net", agent, body, {
        "x-atlassian-webhook-identifier": "a7e0c1d2-3b4f-4a5e-9c8d-7f6e5d4c3b2a",
        "x-atlassian-webhook-retry": "0",
        "x-hub-signature": "sha256=" + hmac_hex(TEST_JIRA_WEBHOOK_SECRET, body),
    }, "J1i2R3r4T5y6Uw=", source_ip="104.192.142.240")

    # Linear (tenant acme, organization org-acme): a new comment mentioning the handle.
    linear = {
        "action": "create",
        "type": "Comment",
        "actor": {"id": "user-alice", "type": "user", "name": "Alice"},
        "createdAt": "2026-11-28T11:59:58.000Z",
        "data": {
            "id": "comment-1", "body": "@openhands please fix this", "issueId": "issue-1",
            "issue": {"id": "issue-1", "identifier": "ENG-7", "title": "Crash on save", "teamId": "team-eng",
                      "team": {"id": "team-eng", "key": "ENG", "name": "Engineering"},
                      "url": "https://linear.app/acme/issue/ENG-7/crash-on-save"},
            "userId": "user-alice",
            "user": {"id": "user-alice", "name": "Alice Doe", "displayName": "alice"},
            "botActor": None, "parentId": None,
            "createdAt": "2026-11-28T11:59:58.000Z", "updatedAt": "2026-11-28T11:59:58.000Z",
        },
        "url": "https://linear.app/acme/issue/ENG-7#comment-comment-1",
        "organizationId": "org-acme",
        "webhookId": "webhook-1",
        "webhookTimestamp": TIME_EPOCH_MS,
    }
    body = compact(linear)
    files["linear-comment.json"] = tenant_webhook("linear", "acme", "Linear-Webhook", body, {
        "linear-delivery": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
        "linear-event": "Comment",
        "linear-signature": hmac_hex(TEST_LINEAR_WEBHOOK_SECRET, body),
    }, "L1i2N3r4T5y6Uw=", source_ip="35.231.147.226")
    return files


def build() -> dict:
    files = {}
    comment = issue_comment_payload(42, 3456789012, OCTOCAT, "@openhands please fix the typo in the README")
    comment_body = compact(comment)
    files["github-issue-comment.json"] = http_v2(
        "/webhooks/github", "POST /webhooks/github",
        github_headers("issue_comment", COMMENT_DELIVERY, comment_body), comment_body,
        "Q1w2E3r4T5y6Uw=")
    files["github-issue-comment.rest-v1.json"] = github_v1("issue_comment", COMMENT_DELIVERY_V1, comment_body)

    ping = {
        "zen": "Design for failure.",
        "hook_id": 512345678,
        "hook": {"type": "App", "id": 512345678, "name": "web", "active": True, "events": ["issue_comment"],
                 "config": {"content_type": "json", "insecure_ssl": "0", "url": "https://example.invalid/webhooks/github"},
                 "app_id": 123456},
    }
    ping_body = compact(ping)
    files["github-ping.json"] = http_v2(
        "/webhooks/github", "POST /webhooks/github", github_headers("ping", PING_DELIVERY, ping_body), ping_body,
        "P1n2G3r4T5y6Uw=")

    agent_headers = {
        "accept": "*/*",
        "content-type": "application/json",
        "host": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "user-agent": "python-httpx/0.28.1",
        "x-session-api-key": "sandbox-session-key-placeholder",
        "x-hookline-callback-key": TEST_CALLBACK_KEY,
    }
    events_path = f"/api/v1/webhooks/events/{CONVERSATION_ID}"
    events_body = compact([
        {"id": "0b7f3c2e-1d4a-4e5b-9c6d-7e8f9a0b1c2d", "timestamp": "2026-11-28T11:59:59.120044",
         "source": "environment", "key": "execution_status", "value": "finished",
         "kind": "ConversationStateUpdateEvent"},
    ])
    files["callback-events.json"] = http_v2(
        events_path, "POST /api/v1/webhooks/events/{conversation_id}", agent_headers, events_body,
        "C1b2K3r4T5y6Uw=", path_parameters={"conversation_id": CONVERSATION_ID}, source_ip="203.0.113.25")
    dashed = f"{CONVERSATION_ID[:8]}-{CONVERSATION_ID[8:12]}-{CONVERSATION_ID[12:16]}-{CONVERSATION_ID[16:20]}-{CONVERSATION_ID[20:]}"
    info_body = compact({
        "id": dashed, "title": "Fix the README typo", "execution_status": "running",
        "agent": {"kind": "Agent", "llm": {"model": "litellm_proxy/claude-sonnet-4"}},
        "tags": {}, "created_at": "2026-11-28T11:59:40.000000", "updated_at": "2026-11-28T11:59:59.000000",
    })
    files["callback-conversations.json"] = http_v2(
        "/api/v1/webhooks/conversations", "POST /api/v1/webhooks/conversations", agent_headers, info_body,
        "C2o3N4r5T6y7Uw=", source_ip="203.0.113.25")

    # A FIFO batch as the worker receives it: the envelope the webhook enqueues for the comment above (a real
    # trigger) and, in another message group, a bot's comment that the worker must ignore.
    received_at = TIME_EPOCH_MS // 1000
    bot_comment = issue_comment_payload(43, 3456789099, BOT, "@openhands CI finished; nothing for you to do here")
    files["sqs-fifo-batch.json"] = {"Records": [
        sqs_record("7b0e9d4c-3a2f-4b1e-8c5d-6f7a8b9c0d1e", envelope(COMMENT_DELIVERY, comment, received_at),
                   "18893712004311040001", TIME_EPOCH_MS + 120),
        sqs_record("a9c8b7d6-e5f4-4a3b-9c2d-1e0f9a8b7c6d", envelope(BOT_DELIVERY, bot_comment, received_at + 5),
                   "18893712005591040002", TIME_EPOCH_MS + 5120),
    ]}

    files.update(other_providers())

    files["sweep-schedule.json"] = {
        "version": "0",
        "id": "5d2c8a1e-7f3b-4c9d-a6e0-1b2c3d4e5f60",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-11-28T12:01:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/hookline-CallbackFunctionSweep-A1B2C3D4E5F6"],
        "detail": {},
    }
    return {name: json.dumps(value, indent=2, ensure_ascii=False) + "\n" for name, value in files.items()}


def main() -> int:
    global TIME_EPOCH_MS
    args = sys.argv[1:]
    check = "--check" in args
    out = EVENTS
    if "--now" in args:
        # Fresh timestamps for the providers with a replay window; never over the committed files.
        if "--out" not in args or check:
            print("--now needs --out DIR (and no --check): events/ holds the fixed-time versions", file=sys.stderr)
            return 2
        TIME_EPOCH_MS = int(time.time()) * 1000
    if "--out" in args:
        out = Path(args[args.index("--out") + 1])
    stale = []
    out.mkdir(parents=True, exist_ok=True)
    for name, text in build().items():
        path = out / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("stale event files (rerun infra/gen-events.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
