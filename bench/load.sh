#!/usr/bin/env bash
# Load benchmark of the local host's webhook path: signed ~8.6 kB GitHub `issue_comment` deliveries, each with a
# unique X-GitHub-Delivery, from wrk on the same machine (16 connections, 20 s by default). Reports accepted
# webhooks/s, latency percentiles, server CPU per webhook (from /proc), that queue rows = 2xx answers, that a
# repeated delivery id stays one row, start-to-ready time and idle RSS. Everything runs on 127.0.0.1.
#
#   bench/load.sh                 # defaults: 16 connections, 2 wrk threads, 20 s
#   DURATION=10 CONNECTIONS=16 bench/load.sh
#   BENCH_BIN=/tmp/hookline-local-before bench/load.sh   # run that build instead of building this checkout
#
# The host's speed drifts by tens of percent over hours, so compare two builds in alternating runs (BENCH_BIN=...), not
# against figures taken at another time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"
PORT="${PORT:-18080}"
SECRET="bench-webhook-secret"

command -v wrk >/dev/null || { echo "installing wrk (Debian package)" >&2; apt-get install -y -qq wrk >/dev/null; }
command -v sqlite3 >/dev/null || { echo "installing sqlite3 (Debian package)" >&2; apt-get install -y -qq sqlite3 >/dev/null; }
if [[ -z "${BENCH_BIN:-}" ]]; then
    cargo build --profile local -q -p hookline-local
    BENCH_BIN=./target/local/hookline-local
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

SIGNATURE="$(python3 bench/make_payload.py "$WORK/payload.json" "$SECRET" 2>/dev/null)"
BODY_BYTES="$(wc -c <"$WORK/payload.json")"

export HOOKLINE_LISTEN="127.0.0.1:$PORT" HOOKLINE_DATA_DIR="$WORK/data" HOOKLINE_WORKERS=0 HOOKLINE_SWEEP_SECS=0
export GITHUB_APP_ID=bench GITHUB_APP_SLUG=hookline-bench RUST_LOG="${RUST_LOG:-warn,hookline_local=info}"
export HOOKLINE_SECRET_GITHUB_WEBHOOK_SECRET="$SECRET"
HOOKLINE_SECRET_GITHUB_PRIVATE_KEY="$(cat tests/fixtures/github-app/test-only-app-private-key.pem)"
export HOOKLINE_SECRET_GITHUB_PRIVATE_KEY

# Start-to-ready: exec until /healthz answers.
start_ns=$(date +%s%N)
"$BENCH_BIN" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
# Probe with bash's /dev/tcp (no process spawn per probe, which would dominate the measurement).
until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do :; done
ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
sleep 0.5
idle_rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
ticks_per_s=$(getconf CLK_TCK)
cpu_before=$(cpu_ticks)
BENCH_BODY="$WORK/payload.json" BENCH_SIGNATURE="$SIGNATURE" \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/webhook.lua "http://127.0.0.1:$PORT" \
    >"$WORK/wrk.txt"
cpu_after=$(cpu_ticks)
peak_rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")

requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk.txt"); non2xx=${non2xx:-0}
socket_errors=$(grep -c 'Socket errors' "$WORK/wrk.txt" || true)
accepted=$((requests - non2xx))
rows=$(sqlite3 "$WORK/data/hookline.db" "SELECT COUNT(*) FROM queue_messages")

# A repeated delivery id stays one row.
for _ in 1 2 3; do
    curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/webhooks/github" -H 'Content-Type: application/json' \
        -H 'X-GitHub-Event: issue_comment' -H 'X-GitHub-Delivery: bench-repeat-1' \
        -H "X-Hub-Signature-256: $SIGNATURE" --data-binary "@$WORK/payload.json"
done
rows_after=$(sqlite3 "$WORK/data/hookline.db" "SELECT COUNT(*) FROM queue_messages")

cat "$WORK/wrk.txt"
cpu_s=$(echo "scale=6; ($cpu_after - $cpu_before) / $ticks_per_s" | bc)
echo
echo "body bytes:                 $BODY_BYTES"
echo "accepted webhooks/s:        $(echo "scale=0; $accepted / $DURATION" | bc)"
echo "2xx answers:                $accepted (non-2xx: $non2xx, socket error lines: $socket_errors)"
echo "rows in the durable queue:  $rows"
echo "repeated delivery x3 added: $((rows_after - rows)) row(s)"
echo "server CPU per webhook:     $(echo "scale=1; $cpu_s * 1000000 / $accepted" | bc) us"
inner_ms=$(grep -o 'ready_ms="[0-9.]*"' "$WORK/server.log" | head -1 | tr -dc '0-9.')
echo "start-to-ready:             ${ready_ms} ms from exec to accepting connections (${inner_ms} ms inside main)"
echo "idle RSS:                   $((idle_rss_kb / 1024)) MB ($idle_rss_kb kB); peak RSS under load: $((peak_rss_kb / 1024)) MB"
# wrk stops counting at the deadline; requests still in flight then were answered 2xx after it (at most one
# per connection), so the queue may hold up to CONNECTIONS more rows than wrk counted — never fewer.
if (( rows < accepted || rows > accepted + CONNECTIONS )); then
    echo "MISMATCH: $rows queue rows for $accepted counted 2xx answers" >&2
    exit 1
fi
echo "nothing lost:               yes ($rows rows for $accepted counted 2xx + in-flight at the deadline)"
