#!/usr/bin/env python3
"""Regenerate events/*.json: the Lambda test events for `sam local invoke -e` and `cargo lambda invoke`.

The GitHub events carry an X-Hub-Signature-256 computed over the exact body bytes with the documented TEST
secret below, so edit the bodies here and rerun this script rather than editing the JSON files by hand:

    python3 infra/gen-events.py            # writes events/*.json
    python3 infra/gen-events.py --check    # fails if a file differs from what would be written

Test-only values (never use them for a real App or agent server):
    GitHub webhook secret   hookline-test-webhook-secret
    callback shared key     hookline-test-callback-key
"""

import hashlib
import hmac
import json
import sys
from pathlib import Path

TEST_WEBHOOK_SECRET = "hookline-test-webhook-secret"
TEST_CALLBACK_KEY = "hookline-test-callback-key"

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
            "in_reply_to_id": None,
            "path": None,
            "line": None,
            "diff_hunk": None,
            "via_app_slug": app["slug"] if app else None,
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
            "MessageDeduplicationId": f"github#{TENANT}#{env['delivery_id']}",
            "SequenceNumber": sequence,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:hookline-WorkQueue-Q1w2E3r4T5y6.fifo",
        "awsRegion": REGION,
    }


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
    check = "--check" in sys.argv[1:]
    stale = []
    EVENTS.mkdir(exist_ok=True)
    for name, text in build().items():
        path = EVENTS / name
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
