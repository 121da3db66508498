#!/usr/bin/env bash
# Load benchmark of the local host's webhook path: signed ~8.6 kB GitHub `issue_comment` deliveries, each with a
# unique X-GitHub-Delivery, from wrk on the same machine (16 connections, 20 s by default). Reports accepted
# webhooks/s, latency percentiles, server CPU per webhook (from /proc), that queue rows = 2xx answers, that a
# repeated delivery id stays one row, start-to-ready time and idle RSS. Everything runs on 127.0.0.1.
#
#   bench/load.sh                 # defaults: 16 connections, 2 wrk threads, 20 s, one run
#   DURATION=10 CONNECTIONS=16 bench/load.sh
#   BENCH_BIN=/tmp/hookline-local-before bench/load.sh   # run that build instead of building this checkout
#   RUNS=5 bench/load.sh          # five runs, one line each, then the medians
#   RUNS=5 COMPARE_BIN=/tmp/hookline-local-before bench/load.sh   # alternate this build with that one
#
# The host's speed drifts by tens of percent over hours (and sometimes within minutes), so a single run says little:
# take the median of several, and compare two builds in alternating runs (COMPARE_BIN), never against figures taken
# at another time. Each run starts a fresh host on an empty database.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"
PORT="${PORT:-18080}"
RUNS="${RUNS:-1}"
COMPARE_BIN="${COMPARE_BIN:-}"
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

export HOOKLINE_LISTEN="127.0.0.1:$PORT" HOOKLINE_WORKERS=0 HOOKLINE_SWEEP_SECS=0
export GITHUB_TENANTS=github.com GITHUB_APP_ID=bench GITHUB_APP_SLUG=hookline-bench RUST_LOG="${RUST_LOG:-warn,hookline_local=info}"
export HOOKLINE_SECRET_GITHUB_WEBHOOK_SECRET="$SECRET"
HOOKLINE_SECRET_GITHUB_PRIVATE_KEY="$(cat tests/fixtures/github-app/test-only-app-private-key.pem)"
export HOOKLINE_SECRET_GITHUB_PRIVATE_KEY

# One measured run of build $1 in the fresh folder $2: the full report on stdout, and in $2/summary the figures
# "cpu_us accepted_per_s p99_ms ready_ms idle_rss_mb" for the medians. Fails if a 2xx answer is missing from the queue.
run_once() {
    local bin="$1" dir="$2"
    mkdir -p "$dir"
    export HOOKLINE_DATA_DIR="$dir/data"

    # Start-to-ready: exec until the listener accepts.
    local start_ns ready_ms idle_rss_kb cpu_before cpu_after peak_rss_kb ticks_per_s
    start_ns=$(date +%s%N)
    "$bin" >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    # Probe with bash's /dev/tcp (no process spawn per probe, which would dominate the measurement).
    until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do :; done
    ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
    sleep 0.5
    idle_rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")

    ticks_per_s=$(getconf CLK_TCK)
    cpu_before=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
    BENCH_BODY="$WORK/payload.json" BENCH_SIGNATURE="$SIGNATURE" \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/webhook.lua "http://127.0.0.1:$PORT" \
        >"$dir/wrk.txt"
    cpu_after=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
    peak_rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")

    local requests non2xx socket_errors accepted rows rows_after
    requests=$(awk '/requests in/ {print $1}' "$dir/wrk.txt")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$dir/wrk.txt"); non2xx=${non2xx:-0}
    socket_errors=$(grep -c 'Socket errors' "$dir/wrk.txt" || true)
    accepted=$((requests - non2xx))
    rows=$(sqlite3 "$dir/data/hookline.db" "SELECT COUNT(*) FROM queue_messages")

    # A repeated delivery id stays one row.
    for _ in 1 2 3; do
        curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/webhooks/github" -H 'Content-Type: application/json' \
            -H 'X-GitHub-Event: issue_comment' -H 'X-GitHub-Delivery: bench-repeat-1' \
            -H "X-Hub-Signature-256: $SIGNATURE" --data-binary "@$WORK/payload.json"
    done
    rows_after=$(sqlite3 "$dir/data/hookline.db" "SELECT COUNT(*) FROM queue_messages")
    kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""

    local cpu_us rate p99 inner_ms
    cpu_us=$(echo "scale=1; ($cpu_after - $cpu_before) * 1000000 / $ticks_per_s / $accepted" | bc)
    rate=$(echo "scale=0; $accepted / $DURATION" | bc)
    # wrk prints e.g. 850.00us, 2.03ms or 1.20s.
    p99=$(awk '$1 == "99%" {v = $2 + 0; if ($2 ~ /us$/) v /= 1000; else if ($2 !~ /ms$/) v *= 1000; printf "%.2f", v}' \
        "$dir/wrk.txt")
    inner_ms=$(grep -o 'ready_ms="[0-9.]*"' "$dir/server.log" | head -1 | tr -dc '0-9.')
    echo "$cpu_us $rate $p99 $ready_ms $((idle_rss_kb / 1024))" >"$dir/summary"

    cat "$dir/wrk.txt"
    echo
    echo "body bytes:                 $BODY_BYTES"
    echo "accepted webhooks/s:        $rate"
    echo "2xx answers:                $accepted (non-2xx: $non2xx, socket error lines: $socket_errors)"
    echo "rows in the durable queue:  $rows"
    echo "repeated delivery x3 added: $((rows_after - rows)) row(s)"
    echo "server CPU per webhook:     $cpu_us us"
    echo "start-to-ready:             ${ready_ms} ms from exec to accepting connections (${inner_ms} ms inside main)"
    echo "idle RSS:                   $((idle_rss_kb / 1024)) MB ($idle_rss_kb kB); peak RSS under load: $((peak_rss_kb / 1024)) MB"
    # wrk stops counting at the deadline; requests still in flight then were answered 2xx after it (at most one
    # per connection), so the queue may hold up to CONNECTIONS more rows than wrk counted — never fewer.
    if (( rows < accepted || rows > accepted + CONNECTIONS || rows_after != rows + 1 )); then
        echo "MISMATCH: $rows queue rows for $accepted counted 2xx answers, $((rows_after - rows)) for the repeats" >&2
        return 1
    fi
    echo "nothing lost:               yes ($rows rows for $accepted counted 2xx + in-flight at the deadline)"
}

if (( RUNS == 1 )) && [[ -z "$COMPARE_BIN" ]]; then
    run_once "$BENCH_BIN" "$WORK/run"
    exit
fi

# Median of the numbers on stdin (the mean of the middle two for an even count).
median() {
    sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

builds=("$BENCH_BIN")
[[ -n "$COMPARE_BIN" ]] && builds+=("$COMPARE_BIN")
printf '%-4s %-40s %12s %10s %14s %9s %8s\n' run build accepted/s p99 "CPU/webhook" ready idle
for run in $(seq "$RUNS"); do
    for index in "${!builds[@]}"; do
        dir="$WORK/run-$run-$index"
        if ! run_once "${builds[$index]}" "$dir" >"$dir.log" 2>&1; then
            cat "$dir.log" >&2
            exit 1
        fi
        read -r cpu_us rate p99 ready_ms idle_mb <"$dir/summary"
        printf '%-4s %-40s %12s %7s ms %11s us %6s ms %5s MB\n' "$run" "${builds[$index]}" "$rate" "$p99" "$cpu_us" \
            "$ready_ms" "$idle_mb"
    done
done
echo
for index in "${!builds[@]}"; do
    summaries=("$WORK"/run-*-"$index"/summary)
    column() { cat "${summaries[@]}" | awk -v c="$1" '{print $c}'; }
    echo "median of ${RUNS} runs, ${builds[$index]}: $(column 2 | median) accepted/s, p99 $(column 3 | median) ms, \
$(column 1 | median) us CPU per webhook (min $(column 1 | sort -g | head -1), max $(column 1 | sort -g | tail -1)), \
nothing lost in any run"
done
