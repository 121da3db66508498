#!/usr/bin/env bash
# Install the real OpenHands app server (PyPI openhands-ai 1.11.0; agent server / SDK 1.34.0) into DIR/venv, for the
# integration tests that run it (tests/openhands/README.md). Idempotent: a second run only checks and exits.
#
#   tests/openhands/setup.sh DIR
#
# Needs Python 3.12 (openhands-ai 1.11.0 requires it; pip on 3.11 would silently pick an ancient release) and PyPI.
# Every dependency is pinned by constraints.txt beside this script, so installs are reproducible. git, tmux, curl and
# ps are apt-installed when missing (the sandboxes clone with git and run the agent's terminal in tmux).
# Any failure exits non-zero with a message on stderr. Progress goes to stderr too.
#
# Environment: HOOKLINE_OH_PYTHON=/path/to/python3.12 to use that interpreter instead of searching for one.
set -euo pipefail

say() { echo "openhands/setup.sh: $*" >&2; }
die() {
    say "ERROR: $*"
    exit 1
}

[[ $# -eq 1 && -n "$1" ]] || die "usage: $0 DIR"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONSTRAINTS="$HERE/constraints.txt"
VERSION="1.11.0"
mkdir -p "$1" || die "cannot create $1"
DIR="$(cd "$1" && pwd)"
VENV="$DIR/venv"
# The stamp names the version and the constraints' checksum: changing either reinstalls.
STAMP="$VENV/.hookline-installed"
WANT="openhands-ai==$VERSION $(sha256sum "$CONSTRAINTS" | cut -c1-16)"

# --- system tools -------------------------------------------------------------------------------------------------
missing=()
for tool in git tmux curl ps; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    packages=()
    for tool in "${missing[@]}"; do
        case "$tool" in
            ps) packages+=(procps) ;;
            *) packages+=("$tool") ;;
        esac
    done
    command -v apt-get >/dev/null 2>&1 || die "missing commands: ${missing[*]} (and no apt-get to install them)"
    [[ "$(id -u)" == 0 ]] || die "missing commands: ${missing[*]} (apt-get needs root; install: ${packages[*]})"
    say "apt-get install ${packages[*]}"
    apt-get update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >&2 || die "apt-get install ${packages[*]} failed"
fi

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$VENV/bin/python" ]] \
    && "$VENV/bin/python" -c 'import openhands.app_server, openhands.agent_server' 2>/dev/null; then
    say "already installed in $VENV"
    exit 0
fi

# --- Python 3.12 --------------------------------------------------------------------------------------------------
# A candidate counts only if it runs: pyenv puts a `python3.12` shim on PATH that fails when 3.12 is not selected.
is_312() {
    [[ -n "$1" ]] && "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1
}
PY=""
candidates=()
[[ -n "${HOOKLINE_OH_PYTHON:-}" ]] && candidates+=("$HOOKLINE_OH_PYTHON")
candidates+=("$(command -v python3.12 2>/dev/null || true)")
shopt -s nullglob
candidates+=("${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.*/bin/python3.12 "$HOME"/.pyenv/versions/3.12.*/bin/python3.12)
shopt -u nullglob
candidates+=(/usr/local/bin/python3.12 /usr/bin/python3.12)
for candidate in "${candidates[@]}"; do
    if is_312 "$candidate"; then
        PY="$candidate"
        break
    fi
done
if [[ -z "$PY" ]]; then
    [[ -z "${HOOKLINE_OH_PYTHON:-}" ]] || say "HOOKLINE_OH_PYTHON=$HOOKLINE_OH_PYTHON is not a working Python 3.12"
    die "no Python 3.12 found (tried python3.12 on PATH, ~/.pyenv/versions/3.12.*, /usr/bin/python3.12). The real
OpenHands app server (openhands-ai $VERSION) needs Python 3.12: install it (e.g. 'pyenv install 3.12') or set
HOOKLINE_OH_PYTHON=/path/to/python3.12."
fi
say "installing openhands-ai $VERSION with $PY ($("$PY" --version 2>&1)) into $VENV (~2-3 min, ~1.3 GB)"

# --- the virtualenv -----------------------------------------------------------------------------------------------
rm -f "$STAMP"
if [[ -x "$VENV/bin/python" ]] && ! is_312 "$VENV/bin/python"; then
    say "removing $VENV (not a working Python 3.12 virtualenv)"
    rm -rf "$VENV"
fi
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV" || die "python -m venv $VENV failed"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"$VENV/bin/python" -m pip install --quiet --constraint "$CONSTRAINTS" "openhands-ai==$VERSION" >&2 \
    || die "pip install openhands-ai==$VERSION failed (PyPI reachable? see the pip output above)"

# Bytecode now: every sandbox is a fresh Python process importing ~1000 modules, and PYTHONDONTWRITEBYTECODE (often
# set) would otherwise make each one compile them again (20-35 s per start on 2 cores instead of ~12 s).
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$VENV/bin/python" -m compileall -q -j 0 "$SITE" >/dev/null 2>&1 || true
"$VENV/bin/python" - "$VERSION" <<'EOF' || die "the installed openhands-ai does not import or has the wrong version"
import importlib.metadata as md, sys
import openhands.app_server, openhands.agent_server  # noqa: F401
assert md.version("openhands-ai") == sys.argv[1], md.version("openhands-ai")
assert md.version("openhands-agent-server") == "1.34.0", md.version("openhands-agent-server")
EOF
echo "$WANT" >"$STAMP"
say "done: $(du -sh "$VENV" 2>/dev/null | cut -f1) in $VENV"
