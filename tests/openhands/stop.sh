#!/usr/bin/env bash
# Stop what start.sh started: the instance DIR/i<APP_PORT>, or with no port every instance under DIR.
#
#   tests/openhands/stop.sh DIR [APP_PORT]
#
# Processes are found by the HOOKLINE_OH_INSTANCE=DIR/i<port> marker start.sh puts in their environment (their
# children inherit it, including the sandboxes' detached tmux server), never by name. Sandboxes (agent servers)
# go first, then the app server and the fake LLM, then the rest: SIGTERM, SIGINT 1.5 s later (a second signal makes
# uvicorn stop waiting for its background tasks), SIGKILL after 8 s. Idempotent; exits 0 when nothing runs.
#
# HOOKLINE_OH_STOP_STALE_ONLY=1 skips instances claimed by a live process (DIR/i<port>.owner holds the pid of the
# test process that uses it; tests/src/real_openhands.rs writes it), so a test script can clean up after crashed
# runs without stopping an instance that a concurrent test run still uses.
set -uo pipefail

say() { echo "openhands/stop.sh: $*" >&2; }
[[ $# -ge 1 && $# -le 2 && -n "$1" ]] || { say "usage: $0 DIR [APP_PORT]"; exit 2; }
[[ -d "$1" ]] || exit 0
DIR="$(cd "$1" && pwd)"

instances=()
if [[ $# -eq 2 ]]; then
    instances=("$DIR/i$2")
else
    for inst in "$DIR"/i[0-9]*; do
        [[ -d "$inst" ]] && instances+=("$inst")
    done
fi
if [[ "${HOOKLINE_OH_STOP_STALE_ONLY:-0}" == 1 ]]; then
    kept=()
    for inst in "${instances[@]}"; do
        owner="$(cat "$inst.owner" 2>/dev/null || true)"
        if [[ "$owner" =~ ^[0-9]+$ ]] && kill -0 "$owner" 2>/dev/null; then
            say "keeping $inst (in use by pid $owner)"
        else
            kept+=("$inst")
        fi
    done
    instances=("${kept[@]}")
fi
((${#instances[@]})) || exit 0

patterns=()
for inst in "${instances[@]}"; do
    patterns+=(-e "HOOKLINE_OH_INSTANCE=$inst")
done
# PIDs of live processes carrying one of the markers (and not this script).
marked() {
    grep -lszxF "${patterns[@]}" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | grep -vx -e "$$" -e "$BASHPID" | sort -n
}
# The subset that are sandboxes (the app runner gives each agent server HOOKLINE_OH_SANDBOX_ID).
sandboxes() {
    local pid
    for pid in "$@"; do
        grep -qszE '^HOOKLINE_OH_SANDBOX_ID=' "/proc/$pid/environ" && echo "$pid"
    done
}

all="$(marked)"
if [[ -z "$all" ]]; then
    for inst in "${instances[@]}"; do rm -f "$inst/app.pid" "$inst/fake_llm.pid"; done
    exit 0
fi
# shellcheck disable=SC2086  # the PID lists are meant to be split
{
    boxes="$(sandboxes $all)"
    if [[ -n "$boxes" ]]; then
        kill -TERM $boxes
        kill -CONT $boxes   # a paused (SIGSTOP) sandbox handles SIGTERM only once continued
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 $boxes 2>/dev/null || break
            sleep 0.2
        done
    fi
    mains=""
    for inst in "${instances[@]}"; do
        for name in app fake_llm; do
            pid="$(cat "$inst/$name.pid" 2>/dev/null || true)"
            [[ "$pid" =~ ^[0-9]+$ ]] && grep -qx "$pid" <<<"$all" && mains+=" $pid"
        done
    done
    [[ -z "$mains" ]] || kill -TERM $mains
    rest="$(marked)"
    [[ -z "$rest" ]] || kill -TERM $rest
} 2>/dev/null

left=""
for i in $(seq 1 16); do
    left="$(marked)"
    [[ -n "$left" ]] || break
    # shellcheck disable=SC2086
    [[ "$i" != 3 ]] || kill -INT $left 2>/dev/null
    sleep 0.5
done
if [[ -n "$left" ]]; then
    say "still running after 8 s, SIGKILL: ${left//$'\n'/ }"
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null
    sleep 0.2
fi
for inst in "${instances[@]}"; do rm -f "$inst/app.pid" "$inst/fake_llm.pid"; done
say "stopped ${instances[*]}"
