#!/usr/bin/env bash
# The whole test suite, as the README states it: unit and integration tests (the AWS adapter and Lambda tests
# against a moto server this script starts and stops), then the SAM template through cfn-lint and
# `sam validate --lint`. Python tools are installed into virtualenvs under the repo on first use.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SAM_VENV="${HOOKLINE_SAM_VENV:-$ROOT/.venv-sam}"

say() { echo "test.sh: $*" >&2; }

# AWS emulator for the adapter and Lambda handler tests (fails loudly if it cannot be installed or started).
HOOKLINE_TEST_AWS_ENDPOINT="$(tests/aws/moto.sh)"
export HOOKLINE_TEST_AWS_ENDPOINT
trap 'tests/aws/moto-stop.sh >/dev/null 2>&1 || true' EXIT
say "moto at $HOOKLINE_TEST_AWS_ENDPOINT"

cargo test --workspace --all-targets --locked

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
