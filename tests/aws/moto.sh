#!/usr/bin/env bash
# Start a local moto server (AWS emulator) for the AWS adapter tests.
#
#   export HOOKLINE_TEST_AWS_ENDPOINT="$(tests/aws/moto.sh)"    # start (or reuse) and print the endpoint
#   tests/aws/moto-stop.sh                                       # stop it (same as: tests/aws/moto.sh stop)
#
# moto is installed into a virtualenv at <repo>/.venv-moto on first use (python3 -m venv + pip). The server
# listens on 127.0.0.1 at a free port; its pid, port and log live in that virtualenv directory. Only the
# endpoint goes to stdout, everything else to stderr, so the output can be captured as above.
#
# Environment:
#   HOOKLINE_MOTO_VENV     virtualenv directory (default: <repo>/.venv-moto)
#   HOOKLINE_MOTO_SPEC     pip requirement to install (default: moto[server]>=5,<6)
#   HOOKLINE_MOTO_TIMEOUT  seconds to wait for the server to answer (default: 30)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${HOOKLINE_MOTO_VENV:-$ROOT/.venv-moto}"
SPEC="${HOOKLINE_MOTO_SPEC:-moto[server]>=5,<6}"
TIMEOUT="${HOOKLINE_MOTO_TIMEOUT:-30}"
PID_FILE="$VENV/moto.pid"
PORT_FILE="$VENV/moto.port"
LOG_FILE="$VENV/moto.log"
PY="$VENV/bin/python"

say() { echo "moto.sh: $*" >&2; }
die() {
    say "ERROR: $*"
    exit 1
}

# True when the server at port $1 answers moto's own API.
responds() {
    "$PY" - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

stop() {
    local pid
    if pid="$(running_pid)"; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "pid $pid did not exit on SIGTERM; sending SIGKILL"
            kill -9 "$pid" 2>/dev/null || true
        fi
        say "stopped moto server (pid $pid)"
    else
        say "no moto server running (no live pid in $PID_FILE)"
    fi
    rm -f "$PID_FILE" "$PORT_FILE"
}

install() {
    if [[ -x "$PY" ]] && "$PY" -c 'import moto.server, flask' 2>/dev/null; then
        return 0
    fi
    command -v python3 >/dev/null 2>&1 ||
        die "python3 not found; install Python 3 (e.g. apt-get install python3 python3-venv) to run the AWS tests"
    if [[ ! -x "$PY" ]]; then
        say "creating virtualenv $VENV"
        python3 -m venv "$VENV" ||
            die "could not create a virtualenv at $VENV (on Debian/Ubuntu: apt-get install python3-venv)"
    fi
    say "installing $SPEC into $VENV (takes about a minute the first time)"
    "$PY" -m pip install --quiet --disable-pip-version-check "$SPEC" >&2 ||
        die "pip could not install '$SPEC' into $VENV; check access to PyPI, or delete $VENV and retry"
    "$PY" -c 'import moto.server, flask' 2>/dev/null ||
        die "moto was installed into $VENV but 'import moto.server' fails; delete $VENV and retry"
}

free_port() {
    "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

start() {
    local pid port
    if pid="$(running_pid)" && [[ -f "$PORT_FILE" ]]; then
        port="$(cat "$PORT_FILE")"
        if responds "$port"; then
            say "reusing moto server (pid $pid) on port $port"
            echo "http://127.0.0.1:$port"
            return 0
        fi
        say "stale moto server (pid $pid) does not answer; restarting it"
        stop
    fi
    install

    # Picking a free port and binding it are not atomic; retry a few times if another process wins the race.
    local attempt
    for attempt in 1 2 3; do
        port="$(free_port)" || die "could not find a free TCP port on 127.0.0.1"
        # setsid: the server outlives this script and is not killed with the caller's process group.
        setsid "$PY" -m moto.server -H 127.0.0.1 -p "$port" >"$LOG_FILE" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$PID_FILE"
        echo "$port" >"$PORT_FILE"
        local waited=0
        while ((waited < TIMEOUT * 10)); do
            if ! kill -0 "$pid" 2>/dev/null; then
                break
            fi
            if responds "$port"; then
                say "moto server (pid $pid) ready on port $port; stop it with tests/aws/moto-stop.sh"
                echo "http://127.0.0.1:$port"
                return 0
            fi
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE" "$PORT_FILE"
            die "moto server did not answer on port $port within ${TIMEOUT}s; log: $LOG_FILE"
        fi
        say "moto server exited during start (attempt $attempt); log tail:"
        tail -n 5 "$LOG_FILE" >&2 || true
        rm -f "$PID_FILE" "$PORT_FILE"
    done
    die "could not start the moto server; see $LOG_FILE"
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
*) die "usage: $0 [start|stop]" ;;
esac
