#!/usr/bin/env bash
# The whole test suite, as the README states it: unit and integration tests (the AWS adapter and Lambda tests
# against a moto server this script starts and stops, the real-OpenHands tests against the app server this script
# installs, the browser tests on Debian's Chromium, installed when missing), then the SAM template through
# cfn-lint and `sam validate --lint`. Python tools are installed into virtualenvs under the repo on first use.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SAM_VENV="${HOOKLINE_SAM_VENV:-$ROOT/.venv-sam}"

say() { echo "test.sh: $*" >&2; }

# Headless Chromium for the browser tests (tests/src/browser.rs): Debian's chromium and chromium-driver,
# installed here when missing (as root, or through sudo), so that a machine that cannot get them fails now, loudly.
CHROMIUM="${HOOKLINE_TEST_CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${HOOKLINE_TEST_CHROMEDRIVER:-/usr/bin/chromedriver}"
install_chromium() {
    local as_root=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || { say "not root, and there is no sudo"; return 1; }
        as_root=(sudo)
        [[ -t 0 ]] || as_root+=(-n)
    fi
    command -v apt-get >/dev/null 2>&1 || { say "there is no apt-get"; return 1; }
    say "installing Debian's chromium and chromium-driver (browser tests)"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q \
        && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            chromium chromium-driver
}
if [[ ! -x "$CHROMIUM" || ! -x "$CHROMEDRIVER" ]]; then
    install_chromium && [[ -x "$CHROMIUM" && -x "$CHROMEDRIVER" ]] || {
        say "ERROR: the browser tests need $CHROMIUM and $CHROMEDRIVER (Debian packages chromium and"
        say "chromium-driver), and they could not be installed: as root, run"
        say "  apt-get update && apt-get install -y chromium chromium-driver"
        exit 1
    }
fi
say "$("$CHROMIUM" --version 2>/dev/null), $("$CHROMEDRIVER" --version | cut -d' ' -f1-2)"

# The real OpenHands app server (tests/openhands/) for the tests that run it: installed here once, so that a
# machine without Python 3.12 or PyPI fails now, loudly; the tests start and stop their own instances.
HOOKLINE_TEST_OPENHANDS_DIR="${HOOKLINE_TEST_OPENHANDS_DIR:-$ROOT/.openhands-test}"
bash tests/openhands/setup.sh "$HOOKLINE_TEST_OPENHANDS_DIR" \
    || { say "ERROR: could not install the OpenHands app server into $HOOKLINE_TEST_OPENHANDS_DIR"; exit 1; }
# Absolute: the tests run in their crate's directory.
HOOKLINE_TEST_OPENHANDS_DIR="$(cd "$HOOKLINE_TEST_OPENHANDS_DIR" && pwd)"
export HOOKLINE_TEST_OPENHANDS_DIR
# Instances no live process owns (left by a killed run) go now and at exit; a concurrent run's stay.
stop_openhands() {
    HOOKLINE_OH_STOP_STALE_ONLY=1 bash tests/openhands/stop.sh "$HOOKLINE_TEST_OPENHANDS_DIR" >/dev/null 2>&1 || true
}
stop_openhands
cleanup() {
    tests/aws/moto-stop.sh >/dev/null 2>&1 || true
    stop_openhands
}
trap cleanup EXIT

# AWS emulator for the adapter and Lambda handler tests (fails loudly if it cannot be installed or started).
HOOKLINE_TEST_AWS_ENDPOINT="$(tests/aws/moto.sh)"
export HOOKLINE_TEST_AWS_ENDPOINT
say "moto at $HOOKLINE_TEST_AWS_ENDPOINT"

cargo test --workspace --all-targets --locked

# The README's first command must keep working: run it and wait until the host says it is ready.
say "the README's run command: cargo run --profile local -p hookline-local"
# Built first, so that the wait below measures starting, not compiling.
cargo build --profile local --locked -q -p hookline-local
RUN_DIR="$(mktemp -d)"
HOOKLINE_DATA_DIR="$RUN_DIR/data" HOOKLINE_LISTEN=127.0.0.1:0 RUST_LOG=info \
    cargo run --profile local --locked -q -p hookline-local >"$RUN_DIR/log" 2>&1 &
RUN_PID=$!
for _ in $(seq 240); do
    grep -q "local host ready" "$RUN_DIR/log" && break
    kill -0 "$RUN_PID" 2>/dev/null || break
    sleep 0.5
done
if ! grep -q "local host ready" "$RUN_DIR/log"; then
    cat "$RUN_DIR/log" >&2
    kill "$RUN_PID" 2>/dev/null || true
    say "ERROR: the local host did not start"
    exit 1
fi
kill "$RUN_PID" && wait "$RUN_PID" || true
rm -rf "$RUN_DIR"

# Template validation (offline; no AWS account or credentials needed).
if [[ -f template.yaml ]]; then
    if [[ ! -x "$SAM_VENV/bin/sam" || ! -x "$SAM_VENV/bin/cfn-lint" ]]; then
        say "installing cfn-lint and aws-sam-cli into $SAM_VENV"
        python3 -m venv "$SAM_VENV"
        "$SAM_VENV/bin/pip" install --quiet --disable-pip-version-check cfn-lint aws-sam-cli \
            || { say "ERROR: could not install cfn-lint / aws-sam-cli from PyPI"; exit 1; }
    fi
    say "cfn-lint template.yaml"
    "$SAM_VENV/bin/cfn-lint" template.yaml
    say "sam validate --lint"
    SAM_CLI_TELEMETRY=0 "$SAM_VENV/bin/sam" validate --lint -t template.yaml
fi
say "all tests passed"
