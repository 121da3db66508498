#!/usr/bin/env bash
# Start the fake LLM and the real OpenHands app server (process sandboxes) on 127.0.0.1; print the base URL.
#
#   BASE="$(tests/openhands/start.sh DIR)"        # e.g. http://127.0.0.1:18300 (the only line on stdout)
#   tests/openhands/stop.sh DIR [APP_PORT]        # stop it again
#
# DIR holds the install (DIR/venv; setup.sh runs first when it is missing) and one folder per instance,
# DIR/i<APP_PORT>, so instances on distinct ports can run side by side. Keep DIR short: tmux sockets live under it.
# Every start begins with empty state (the instance folder is recreated; an earlier instance there is stopped).
# Fails loudly (non-zero, the reason and the log tail on stderr).
#
# Environment:
#   OH_APP_PORT           app server port (default 18300)
#   OH_LLM_PORT           fake LLM port (default 18700)
#   OH_SANDBOX_BASE_PORT  first sandbox port (default 18400); sandboxes take ports in [base, base + span)
#   OH_SANDBOX_PORT_SPAN  size of that range (default 100)
#   OH_CALLBACK_URL       optional second webhook target of every sandbox (e.g. http://127.0.0.1:8080/callbacks):
#                         it gets POST {url}/events/{conversation id hex} (a JSON array, one event per POST) and
#                         POST {url}/conversations (conversation info)
#   OH_CALLBACK_HEADERS   optional JSON object of extra headers for those POSTs
#   OH_LOCAL_REPOS        space-separated owner/name list (default octo-org/hello): each becomes a bare repository
#                         with one commit on main, cloned when a conversation selects it
#   HOOKLINE_OH_START_TIMEOUT  seconds to wait for the app server (default 180)
#   HOOKLINE_OH_OWNER_PID      pid of the process using the instance: a watchdog stops the instance when it is gone
set -euo pipefail

say() { echo "openhands/start.sh: $*" >&2; }
[[ $# -eq 1 && -n "$1" ]] || { say "usage: $0 DIR"; exit 2; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
DIR="$(cd "$1" && pwd)"
APP_PORT="${OH_APP_PORT:-18300}"
LLM_PORT="${OH_LLM_PORT:-18700}"
SANDBOX_BASE_PORT="${OH_SANDBOX_BASE_PORT:-18400}"
SANDBOX_PORT_SPAN="${OH_SANDBOX_PORT_SPAN:-100}"
REPOS="${OH_LOCAL_REPOS:-octo-org/hello}"
CALLBACK_URL="${OH_CALLBACK_URL:-}"
CALLBACK_HEADERS="${OH_CALLBACK_HEADERS:-}"
TIMEOUT="${HOOKLINE_OH_START_TIMEOUT:-180}"
INST="$DIR/i$APP_PORT"
BASE="http://127.0.0.1:$APP_PORT"
PY="$DIR/venv/bin/python"

for port in "$APP_PORT" "$LLM_PORT" "$SANDBOX_BASE_PORT" "$SANDBOX_PORT_SPAN" "$TIMEOUT"; do
    [[ "$port" =~ ^[0-9]+$ ]] || { say "ERROR: not a number: $port"; exit 2; }
done
# tmux puts its socket at $INST/tmux/tmux-UID/default; a Unix socket path has at most 107 bytes.
((${#INST} <= 80)) || { say "ERROR: DIR is too long for tmux sockets ($INST); use a shorter path"; exit 2; }

bash "$HERE/setup.sh" "$DIR" >&2
# Whatever ran here before (a crashed or unstopped earlier start) goes first.
bash "$HERE/stop.sh" "$DIR" "$APP_PORT" >&2

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$APP_PORT" "$LLM_PORT"; do
    if listening "$port"; then
        say "ERROR: port $port is in use by another process (choose OH_APP_PORT / OH_LLM_PORT)"
        exit 3
    fi
done

rm -rf "$INST"
mkdir -p "$INST"/{home,tmp,tmux,state,sandboxes,llm,repos,logs}

# Local repositories: one commit on main each; the app runner maps selected_repository owner/name to them.
for repo in $REPOS; do
    [[ "$repo" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || { say "ERROR: OH_LOCAL_REPOS entry '$repo' is not owner/name"; exit 2; }
    seed="$INST/tmp/seed"
    rm -rf "$seed"
    (
        export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1   # the caller's git config (signing, hooks) stays out
        git init -q -b main "$seed"
        printf '# %s\n\nA repository for integration tests.\n' "${repo#*/}" >"$seed/README.md"
        git -C "$seed" add README.md
        git -C "$seed" -c user.name=hookline-tests -c user.email=tests@hookline.invalid commit -q -m "Initial commit"
        git init -q --bare -b main "$INST/repos/$repo.git"
        git -C "$seed" push -q "$INST/repos/$repo.git" main
    ) >&2 || { say "ERROR: could not create the local repository $repo"; exit 1; }
    rm -rf "$seed"
done

# Offline: the agent server clones public skills from GitHub on every start. Every GitHub URL becomes a missing
# local path, so that fails at once instead of waiting on the network. (The app server adds its git user here.)
cat >"$INST/home/.gitconfig" <<EOF
[url "file://$INST/no-network/"]
	insteadOf = https://github.com/
	insteadOf = git@github.com:
	insteadOf = ssh://git@github.com/
EOF

# Every process of the instance carries HOOKLINE_OH_INSTANCE=$INST (children inherit it): stop.sh finds them by it.
HOOKLINE_OH_INSTANCE="$INST" nohup "$PY" "$HERE/fake_llm.py" "$LLM_PORT" "$INST/llm" \
    >"$INST/logs/fake_llm.log" 2>&1 </dev/null &
echo $! >"$INST/fake_llm.pid"

(
    # The app server's environment; sandboxes (agent servers) inherit it.
    unset OH_APP_PORT OH_LLM_PORT OH_CALLBACK_URL OH_CALLBACK_HEADERS OH_LOCAL_REPOS OH_SANDBOX_PORT_SPAN
    unset PYTHONDONTWRITEBYTECODE VIRTUAL_ENV PYTHONPATH PYTHONHOME
    export HOOKLINE_OH_INSTANCE="$INST" HOOKLINE_OH_APP_PORT="$APP_PORT" HOOKLINE_OH_REPOS="$INST/repos"
    export HOOKLINE_OH_SANDBOX_PORT_SPAN="$SANDBOX_PORT_SPAN"
    export HOME="$INST/home" TMPDIR="$INST/tmp" OH_PERSISTENCE_DIR="$INST/state"
    export RUNTIME=process OH_SANDBOX_KIND=ProcessSandboxServiceInjector OH_SANDBOX_BASE_PORT="$SANDBOX_BASE_PORT"
    export OH_SANDBOX_BASE_WORKING_DIR="$INST/sandboxes"
    export OH_AGENT_SERVER_ENV="{\"TMUX_TMPDIR\": \"$INST/tmux\", \"OH_ENABLE_VS_CODE\": \"0\"}"
    export OPENHANDS_SUPPRESS_BANNER=1 SERVE_FRONTEND=false COLUMNS=200
    # Offline: no model cost map download, no Chromium preload.
    export LITELLM_LOCAL_MODEL_COST_MAP=True OH_PRELOAD_TOOLS=0
    # Webhook 0: the app server itself (it learns titles and status from them); 1: the client under test.
    export OH_WEBHOOKS_0_BASE_URL="$BASE/api/v1/webhooks"
    if [[ -n "$CALLBACK_URL" ]]; then
        export OH_WEBHOOKS_1_BASE_URL="$CALLBACK_URL" OH_WEBHOOKS_1_EVENT_BUFFER_SIZE=1
        [[ -z "$CALLBACK_HEADERS" ]] || export OH_WEBHOOKS_1_HEADERS="$CALLBACK_HEADERS"
    fi
    cd "$INST"
    exec nohup "$PY" "$HERE/app_runner.py" >"$INST/logs/app.log" 2>&1 </dev/null
) &
echo $! >"$INST/app.pid"

alive() { kill -0 "$(cat "$INST/$1.pid")" 2>/dev/null; }
fail() {
    say "ERROR: $*"
    for log in app fake_llm; do
        echo "---- last lines of $INST/logs/$log.log" >&2
        tail -n 40 "$INST/logs/$log.log" >&2 2>/dev/null || true
    done
    bash "$HERE/stop.sh" "$DIR" "$APP_PORT" >&2 || true
    exit 1
}
START=$SECONDS
until curl -sf -o /dev/null --max-time 2 "$BASE/alive"; do
    alive app || fail "the app server exited during start"
    alive fake_llm || fail "the fake LLM exited during start"
    ((SECONDS - START < TIMEOUT)) || fail "the app server did not answer $BASE/alive within ${TIMEOUT}s"
    sleep 0.5
done
curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$LLM_PORT/control" || fail "the fake LLM does not answer on port $LLM_PORT"

# The (single, anonymous) local user's LLM: the fake one, no retries, so an injected failure ends the run.
SETTINGS="{\"agent_settings_diff\": {\"llm\": {\"model\": \"openai/fake-model\", \"api_key\": \"sk-fake\",
  \"base_url\": \"http://127.0.0.1:$LLM_PORT/v1\", \"num_retries\": 0}}}"
code="$(curl -s -o "$INST/logs/settings.out" -w '%{http_code}' --max-time 30 -X POST \
    -H 'Content-Type: application/json' -d "$SETTINGS" "$BASE/api/v1/settings")" || code="none"
[[ "$code" == 200 ]] || fail "POST $BASE/api/v1/settings answered $code: $(cat "$INST/logs/settings.out" 2>/dev/null)"

# With an owner (the test process using the instance), a watchdog stops the instance as soon as the owner is gone,
# even if it was killed before it could stop it; it ends by itself once the instance is stopped (app.pid removed).
OWNER="${HOOKLINE_OH_OWNER_PID:-}"
if [[ "$OWNER" =~ ^[0-9]+$ ]]; then
    # shellcheck disable=SC2016  # expanded by the inner bash
    nohup bash -c 'while kill -0 "$1" 2>/dev/null && [[ -f "$2/app.pid" ]]; do sleep 1; done
                   [[ -f "$2/app.pid" ]] && exec bash "$3" "$4" "$5"' watchdog "$OWNER" "$INST" "$HERE/stop.sh" "$DIR" "$APP_PORT" \
        >"$INST/logs/watchdog.log" 2>&1 </dev/null &
fi

cat >"$INST/instance.env" <<EOF
HOOKLINE_OH_BASE_URL=$BASE
HOOKLINE_OH_LLM_URL=http://127.0.0.1:$LLM_PORT
HOOKLINE_OH_INSTANCE=$INST
HOOKLINE_OH_CALLBACK_URL=$CALLBACK_URL
EOF
say "app server up at $BASE in $((SECONDS - START))s (pid $(cat "$INST/app.pid"); fake LLM pid $(cat "$INST/fake_llm.pid"), port $LLM_PORT; logs in $INST/logs)"
echo "$BASE"
