#!/usr/bin/env bash
# Smoke test of the three Lambda binaries as Lambda runs them, without containers: `cargo lambda watch`
# emulates the Lambda runtime API, `cargo lambda invoke` sends it every file in events/, and the functions talk
# to a moto server (tests/aws/moto.sh) through the real AWS SDK. Checks each answer plus what the webhook left
# in the queue and the table, then stops everything it started.
#
#   scripts/lambda-smoke.sh
#
# Installs cargo-lambda and zig from PyPI into .venv-lambda on first use (seconds; caches under .tools/).
# If a moto server is already running (e.g. from scripts/test.sh) it is reused and left running; the smoke test
# then works in its own uniquely named table, queues and secrets and deletes them at the end.
#
# GitHub and OpenHands are pointed at a closed local port: the worker's trigger record must therefore come back
# as a batch item failure (transient), which exercises the partial-batch path; no real network is used.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LAMBDA_VENV="${HOOKLINE_LAMBDA_VENV:-$ROOT/.venv-lambda}"
MOTO_VENV="${HOOKLINE_MOTO_VENV:-$ROOT/.venv-moto}"
export XDG_CACHE_HOME="$ROOT/.tools/cache" # zig and cargo-zigbuild caches stay inside the repository
export SAM_CLI_TELEMETRY=0

say() { echo "lambda-smoke: $*" >&2; }
die() {
    say "ERROR: $*"
    exit 1
}

TMP="$(mktemp -d "${TMPDIR:-/tmp}/hookline-smoke.XXXXXX")"
WATCH_PID=""
MOTO_STARTED=0
ENDPOINT=""
RESOURCES_FILE="$TMP/resources.json"

cleanup() {
    local rc=$?
    if [[ -n "$WATCH_PID" ]] && kill -0 "$WATCH_PID" 2>/dev/null; then
        # The watch server runs in its own process group (setsid below), together with the functions it spawned.
        kill -TERM -- "-$WATCH_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$WATCH_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$WATCH_PID" 2>/dev/null || true
        say "stopped cargo lambda watch (pid $WATCH_PID)"
    fi
    if [[ -n "$ENDPOINT" && -f "$RESOURCES_FILE" && "$MOTO_STARTED" == 0 ]]; then
        "$MOTO_VENV/bin/python" - "$ENDPOINT" "$RESOURCES_FILE" <<'EOF' >&2 || true
import json, sys, boto3
endpoint, path = sys.argv[1:]
r = json.load(open(path))
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
boto3.client("dynamodb", **kw).delete_table(TableName=r["table"])
sqs = boto3.client("sqs", **kw)
for url in (r["queue_url"], r["dlq_url"]):
    sqs.delete_queue(QueueUrl=url)
sm = boto3.client("secretsmanager", **kw)
for name in r["secrets"].values():
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
print("lambda-smoke: deleted the smoke test's table, queues and secrets from the shared moto server")
EOF
    fi
    if [[ "$MOTO_STARTED" == 1 ]]; then
        tests/aws/moto-stop.sh >/dev/null 2>&1 || true
        say "stopped the moto server it started"
    fi
    # Kept for reading after the run (the functions' JSON logs are in it); .tools/ is git-ignored.
    mkdir -p "$ROOT/.tools" && cp "$TMP/watch.log" "$ROOT/.tools/lambda-smoke-watch.log" 2>/dev/null || true
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools ------------------------------------------------------------------------------------------------
if [[ ! -x "$LAMBDA_VENV/bin/cargo-lambda" ]] || ! "$LAMBDA_VENV/bin/python" -c 'import ziglang' 2>/dev/null; then
    say "installing cargo-lambda and ziglang into $LAMBDA_VENV"
    python3 -m venv "$LAMBDA_VENV" || die "could not create $LAMBDA_VENV (python3-venv missing?)"
    "$LAMBDA_VENV/bin/pip" install --quiet --disable-pip-version-check cargo-lambda ziglang ||
        die "pip could not install cargo-lambda / ziglang from PyPI"
fi
export PATH="$LAMBDA_VENV/bin:$PATH"
say "$(cargo lambda --version)"

# ---- AWS emulator -----------------------------------------------------------------------------------------
moto_running() {
    [[ -f "$MOTO_VENV/moto.pid" ]] && kill -0 "$(cat "$MOTO_VENV/moto.pid")" 2>/dev/null
}
moto_running || MOTO_STARTED=1
ENDPOINT="$(tests/aws/moto.sh)" || die "could not start moto (tests/aws/moto.sh)"
say "moto at $ENDPOINT ($([[ $MOTO_STARTED == 1 ]] && echo started || echo reused))"
PY="$MOTO_VENV/bin/python" # moto's virtualenv has boto3

RUN_ID="smoke-$$-$(date +%s)"
"$PY" - "$ENDPOINT" "$RUN_ID" "$RESOURCES_FILE" <<'EOF'
import json, sys, boto3
endpoint, run_id, out = sys.argv[1:]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
ddb = boto3.client("dynamodb", **kw)
table = f"hookline-{run_id}"
# Same layout as template.yaml's Table (and shared/src/aws/dynamo.rs).
ddb.create_table(
    TableName=table, BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    GlobalSecondaryIndexes=[{
        "IndexName": "gsi1",
        "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}, {"AttributeName": "gsi1sk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }],
)
ddb.get_waiter("table_exists").wait(TableName=table)
ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": True})
sqs = boto3.client("sqs", **kw)
dlq_url = sqs.create_queue(QueueName=f"hookline-{run_id}-dlq.fifo",
                           Attributes={"FifoQueue": "true", "MessageRetentionPeriod": "1209600"})["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
queue_url = sqs.create_queue(QueueName=f"hookline-{run_id}.fifo", Attributes={
    "FifoQueue": "true", "ContentBasedDeduplication": "false", "VisibilityTimeout": "720",
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
})["QueueUrl"]
sm = boto3.client("secretsmanager", **kw)
secrets = {
    "webhook": (f"{run_id}/github/webhook-secret", "hookline-test-webhook-secret"),
    "private_key": (f"{run_id}/github/private-key", open("tests/fixtures/github-app/test-only-app-private-key.pem").read()),
    "callback_key": (f"{run_id}/callback-key", "hookline-test-callback-key"),
}
for name, value in secrets.values():
    sm.create_secret(Name=name, SecretString=value)
json.dump({"table": table, "queue_url": queue_url, "dlq_url": dlq_url,
           "secrets": {k: v[0] for k, v in secrets.items()}}, open(out, "w"))
print(f"lambda-smoke: created table {table}, queue {queue_url} (+ DLQ) and 3 test secrets", file=sys.stderr)
EOF
res() { "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, r))' "$RESOURCES_FILE" "$1"; }

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
CLOSED_PORT="$(free_port)" # nothing listens here: GitHub and OpenHands calls fail fast (connection refused)
WATCH_PORT="$(free_port)"

# The functions' environment as template.yaml gives it on AWS (LoggingConfig is what sets the AWS_LAMBDA_LOG_*
# pair there), pointed at moto and at the closed port.
ENV_FILE="$TMP/watch.env"
cat >"$ENV_FILE" <<EOF
AWS_ENDPOINT_URL=$ENDPOINT
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
AWS_EC2_METADATA_DISABLED=true
AWS_LAMBDA_LOG_FORMAT=JSON
AWS_LAMBDA_LOG_LEVEL=INFO
HOOKLINE_TABLE=$(res table)
HOOKLINE_QUEUE_URL=$(res queue_url)
HOOKLINE_SECRETS_TTL_SECS=300
HOOKLINE_MAX_RECEIVES=5
HOOKLINE_CALLBACK_KEY_SECRET=$(res 'secrets["callback_key"]')
GITHUB_TENANTS=github.com
GITHUB_APP_ID=123456
GITHUB_APP_SLUG=hookline-smoke
GITHUB_API_URL=http://127.0.0.1:$CLOSED_PORT
GITHUB_SECRET_PREFIX=$(res 'secrets["webhook"]' | sed 's#/webhook-secret$##')
OPENHANDS_URL=http://127.0.0.1:$CLOSED_PORT
OPENHANDS_TIMEOUT_SECS=5
EOF

# ---- functions --------------------------------------------------------------------------------------------
say "building the three functions (debug; cargo lambda watch runs them with cargo run)"
cargo build --locked -p webhook-github -p hookline-worker -p hookline-callback 2>&1 | tail -n 3 >&2 ||
    die "the function crates do not build"

say "starting cargo lambda watch on 127.0.0.1:$WATCH_PORT"
setsid cargo lambda watch -A 127.0.0.1 -P "$WATCH_PORT" --env-file "$ENV_FILE" --ignore-changes \
    >"$TMP/watch.log" 2>&1 </dev/null &
WATCH_PID=$!
for _ in $(seq 1 300); do
    "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$WATCH_PORT" \
        2>/dev/null && break
    kill -0 "$WATCH_PID" 2>/dev/null || {
        cat "$TMP/watch.log" >&2
        die "cargo lambda watch exited"
    }
    sleep 0.2
done

PASSED=0
FAILED=0
pass() {
    PASSED=$((PASSED + 1))
    say "PASS  $*"
}
fail() {
    FAILED=$((FAILED + 1))
    say "FAIL  $*"
}

# invoke FUNCTION FILE: the function's answer (JSON) to stdout.
invoke() {
    cargo lambda invoke "$1" -A 127.0.0.1 -P "$WATCH_PORT" --data-file "$2" 2>"$TMP/invoke.err" ||
        { cat "$TMP/invoke.err" >&2; return 1; }
}

# http_check NAME FUNCTION FILE STATUS BODY: an API Gateway answer with this status and exactly this body.
http_check() {
    local name="$1" fn="$2" file="$3" status="$4" body="$5" out
    if ! out="$(invoke "$fn" "$file")"; then
        fail "$name: invocation failed"
        return
    fi
    if "$PY" - "$out" "$status" "$body" <<'EOF'; then
import base64, json, sys
answer, status, body = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
got = answer.get("body") or ""
if answer.get("isBase64Encoded"):
    got = base64.b64decode(got).decode()
ok = answer.get("statusCode") == status and got == body
if not ok:
    print(f"    expected {status} {body!r}, got {answer.get('statusCode')} {got!r}", file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
        pass "$name -> $status $body"
    else
        fail "$name"
    fi
}

# variant FILE PYTHON-EXPR: a copy of an event file changed by a Python statement on `e` (the event).
variant() {
    local out="$TMP/$(basename "$1" .json).$RANDOM.json"
    "$PY" - "$1" "$out" "$2" <<'EOF'
import json, sys
src, dst, change = sys.argv[1:]
e = json.load(open(src))
exec(change)
json.dump(e, open(dst, "w"))
EOF
    echo "$out"
}

# check NAME PYTHON: run a check against moto; the script gets `r` (resources), `kw` (boto3 kwargs), `events`.
check() {
    local name="$1" script="$2"
    if "$PY" - "$ENDPOINT" "$RESOURCES_FILE" "$script" <<'EOF'; then
import json, sys, boto3
endpoint, path, script = sys.argv[1:]
r = json.load(open(path))
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
events = lambda name: json.load(open(f"events/{name}"))
try:
    exec(script)
except AssertionError as err:
    print(f"    {err}", file=sys.stderr)
    sys.exit(1)
EOF
        pass "$name"
    else
        fail "$name"
    fi
}

# Expectations derived from the event files themselves, so they cannot drift apart.
"$PY" infra/gen-events.py --check || fail "events/*.json are not what infra/gen-events.py writes"
check "GitHub events carry a valid X-Hub-Signature-256 for the documented test secret" '
import hmac, hashlib
for name in ("github-issue-comment.json", "github-ping.json"):
    e = events(name)
    want = "sha256=" + hmac.new(b"hookline-test-webhook-secret", e["body"].encode(), hashlib.sha256).hexdigest()
    assert e["headers"]["x-hub-signature-256"] == want, name
'

say "webhook-github"
http_check "ping" webhook-github events/github-ping.json 200 pong
http_check "issue_comment mentioning @openhands (HTTP API v2)" webhook-github events/github-issue-comment.json 202 accepted
check "the accepted delivery is on the FIFO queue: group = thread, dedup id = delivery key + claim time, body = the envelope in events/sqs-fifo-batch.json" '
sqs = boto3.client("sqs", **kw)
got = sqs.receive_message(QueueUrl=r["queue_url"], MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1).get("Messages", [])
assert len(got) == 1, f"expected 1 message, got {len(got)}"
m = got[0]
want = events("sqs-fifo-batch.json")["Records"][0]
assert m["Attributes"]["MessageGroupId"] == want["attributes"]["MessageGroupId"], m["Attributes"]
delivery_key = want["attributes"]["MessageDeduplicationId"].rsplit("#", 1)[0]
assert m["Attributes"]["MessageDeduplicationId"].startswith(delivery_key + "#"), m["Attributes"]
body, want_body = json.loads(m["Body"]), json.loads(want["body"])
assert isinstance(body.pop("received_at"), int) and want_body.pop("received_at")  # set at acceptance time
assert body == want_body, f"envelope differs:\n{body}\n{want_body}"
sqs.delete_message(QueueUrl=r["queue_url"], ReceiptHandle=m["ReceiptHandle"])
'
check "the delivery claim is in the table (status accepted, expires_at in the future)" '
import time
e = events("github-issue-comment.json")
key = "DELIVERY#github#github.com#" + e["headers"]["x-github-delivery"]
item = boto3.client("dynamodb", **kw).get_item(TableName=r["table"], Key={"pk": {"S": key}, "sk": {"S": "DELIVERY"}}, ConsistentRead=True).get("Item")
assert item, f"no item {key}"
assert item["status"]["S"] == "accepted", item
assert int(item["expires_at"]["N"]) > time.time() + 86400, item
'
http_check "the same delivery again is a duplicate" webhook-github events/github-issue-comment.json 200 duplicate
tampered="$(variant events/github-issue-comment.json 'e["body"] = e["body"].replace("typo", "tpyo"); e["headers"]["x-github-delivery"] = "0e0e0e0e-0000-4000-8000-000000000001"')"
http_check "a tampered body is rejected" webhook-github "$tampered" 401 "invalid signature"
http_check "the same comment through a REST API (payload v1)" webhook-github events/github-issue-comment.rest-v1.json 202 accepted
check "the REST delivery is queued in the same thread group" '
sqs = boto3.client("sqs", **kw)
got = sqs.receive_message(QueueUrl=r["queue_url"], MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1).get("Messages", [])
assert len(got) == 1, f"expected 1 message, got {len(got)}"
e = events("github-issue-comment.rest-v1.json")
assert json.loads(got[0]["Body"])["delivery_id"] == e["headers"]["X-GitHub-Delivery"]
assert got[0]["Attributes"]["MessageGroupId"] == "github:octo-org/hello-world#42", got[0]["Attributes"]
sqs.delete_message(QueueUrl=r["queue_url"], ReceiptHandle=got[0]["ReceiptHandle"])
'

say "hookline-worker"
if out="$(invoke hookline-worker events/sqs-fifo-batch.json)"; then
    want="$("$PY" -c 'import json; print(json.load(open("events/sqs-fifo-batch.json"))["Records"][0]["messageId"])')"
    if "$PY" -c 'import json,sys; a=json.loads(sys.argv[1]); sys.exit(0 if a == {"batchItemFailures": [{"itemIdentifier": sys.argv[2]}]} else 1)' "$out" "$want"; then
        pass "FIFO batch: the trigger (GitHub unreachable, transient) is reported for retry, the bot comment is done -> $out"
    else
        fail "FIFO batch: expected only $want in batchItemFailures, got $out"
    fi
else
    fail "worker invocation failed"
fi
check "the ignored bot comment is recorded as done; the retried trigger keeps its claim" '
ddb = boto3.client("dynamodb", **kw)
records = events("sqs-fifo-batch.json")["Records"]
def status(record):
    key = "DELIVERY#" + record["attributes"]["MessageDeduplicationId"].rsplit("#", 1)[0]
    item = ddb.get_item(TableName=r["table"], Key={"pk": {"S": key}, "sk": {"S": "DELIVERY"}}, ConsistentRead=True).get("Item")
    return item and item["status"]["S"]
assert status(records[1]) == "done", status(records[1])
assert status(records[0]) == "accepted", status(records[0])
'

say "hookline-callback"
http_check "agent events for a conversation Hookline did not start, with the shared key" hookline-callback events/callback-events.json 200 ignored
http_check "conversation info, with the shared key" hookline-callback events/callback-conversations.json 200 ignored
nokey="$(variant events/callback-events.json 'del e["headers"]["x-hookline-callback-key"]')"
http_check "agent events without the shared key for an unknown conversation" hookline-callback "$nokey" 401 "invalid signature"
if out="$(invoke hookline-callback events/sweep-schedule.json)"; then
    if "$PY" -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1]) == {"examined": 0, "concluded": 0, "failed": 0} else 1)' "$out"; then
        pass "schedule event runs the sweep -> $out"
    else
        fail "sweep: unexpected answer $out"
    fi
else
    fail "sweep invocation failed"
fi

say "$PASSED passed, $FAILED failed"
if ((FAILED > 0)); then
    say "cargo lambda watch log (last 40 lines; all of it in .tools/lambda-smoke-watch.log):"
    tail -n 40 "$TMP/watch.log" >&2
    exit 1
fi
