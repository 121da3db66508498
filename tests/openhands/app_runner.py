"""Run the real OpenHands app server (openhands-ai 1.11.0) on 127.0.0.1 with process sandboxes. start.sh runs it.

The server is imported from the virtualenv as installed; nothing in site-packages is edited. A few functions are
replaced at run time, each for a reason seen on the test machines (tests/openhands/README.md has the details):

  docker      These hosts have /.dockerenv, so OpenHands believes it runs in a container and rewrites
              http://localhost:PORT to host.docker.internal, which does not resolve. Detection is off.
  status      ProcessSandboxService maps an idle agent server (psutil 'sleeping') to STARTING, so a sandbox never
              reads RUNNING. Here a live process is RUNNING, a stopped one PAUSED, a dead one MISSING; the
              server's own /alive probe still turns an unresponsive RUNNING into ERROR.
  readiness   The wait for a new agent server's /alive is 30 s; a cold start on 2 cores takes up to ~35 s.
              It is HOOKLINE_OH_SANDBOX_READY_SECS (default 120).
  browser     The server always asks for the browser tool, which needs Chromium; without it the agent server's
              POST /api/conversations fails with 500. Off.
  bind        Agent servers listen on 0.0.0.0 by default; here on 127.0.0.1. Each also gets
              HOOKLINE_OH_SANDBOX_ID=<sandbox id> in its environment, so the harness can find (and kill) it.
  git         selected_repository owner/name is cloned from file://$HOOKLINE_OH_REPOS/owner/name.git instead of
              GitHub: no network, no token. An unknown repository only fails the clone (a warning); the run goes on.
  ports       A new sandbox gets the first port free *now*, but its agent server binds it ~10 s later: two
              conversations started within that window got the same port and the second start failed. Ports are
              handed out from [base, base + HOOKLINE_OH_SANDBOX_PORT_SPAN), skipping live sandboxes' ports and
              ports handed out in the last 300 s.
Every replacement checks that the function it replaces exists, so a different openhands-ai fails here, loudly.
"""

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time

import psutil


def need(owner, name):
    if not hasattr(owner, name):
        sys.exit(f'app_runner: openhands-ai changed: {getattr(owner, "__name__", owner)}.{name} is gone')
    return getattr(owner, name)


# docker ------------------------------------------------------------------------------------------------------------
from openhands.app_server.utils import docker_utils, environment  # noqa: E402


def not_in_docker():
    return False


need(environment, 'is_running_in_docker')
need(docker_utils, 'is_running_in_docker')
environment.is_running_in_docker = not_in_docker
docker_utils.is_running_in_docker = not_in_docker

# status ------------------------------------------------------------------------------------------------------------
from openhands.app_server.sandbox import process_sandbox_service as pss  # noqa: E402
from openhands.app_server.sandbox.sandbox_models import SandboxStatus  # noqa: E402

Service = pss.ProcessSandboxService


def process_status(self, process_info):
    try:
        state = psutil.Process(process_info.pid).status()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return SandboxStatus.MISSING
    if state in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
        return SandboxStatus.MISSING
    if state == psutil.STATUS_STOPPED:
        return SandboxStatus.PAUSED
    return SandboxStatus.RUNNING


need(Service, '_get_process_status')
Service._get_process_status = process_status

# readiness ---------------------------------------------------------------------------------------------------------
READY_SECS = float(os.environ.get('HOOKLINE_OH_SANDBOX_READY_SECS', '120'))


async def wait_for_server_ready(self, port, timeout=30):
    deadline = time.monotonic() + max(READY_SECS, timeout)
    while time.monotonic() < deadline:
        try:
            response = await self.httpx_client.get(f'http://127.0.0.1:{port}/alive', timeout=5.0)
            if response.status_code == 200 and response.json().get('status') == 'ok':
                return True
        except Exception:  # not up yet
            pass
        await asyncio.sleep(0.5)
    return False


need(Service, '_wait_for_server_ready')
Service._wait_for_server_ready = wait_for_server_ready

# browser -----------------------------------------------------------------------------------------------------------
from openhands.app_server.app_conversation import live_status_app_conversation_service as live  # noqa: E402

original_default_tools = need(live, 'get_default_tools')


def default_tools_without_browser(*args, **kwargs):
    kwargs['enable_browser'] = False
    return original_default_tools(*args, **kwargs)


live.get_default_tools = default_tools_without_browser

# bind --------------------------------------------------------------------------------------------------------------
need(Service, '_start_agent_process')


async def start_agent_process(self, sandbox_id, port, working_dir, session_api_key, sandbox_spec):
    env = {**os.environ, **sandbox_spec.initial_env, 'SESSION_API_KEY': session_api_key,
           'HOOKLINE_OH_SANDBOX_ID': sandbox_id}
    cmd = [self.python_executable, '-m', self.agent_server_module, '--host', '127.0.0.1', '--port', str(port)]
    log_path = os.path.join(working_dir, '.openhands-agent-server.log')
    try:
        with open(log_path, 'a', buffering=1) as log:
            process = subprocess.Popen(cmd, env=env, cwd=working_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    except OSError as exc:
        raise pss.SandboxError(f'Failed to start agent process: {exc}')
    await asyncio.sleep(1)
    if process.poll() is not None:
        raise pss.SandboxError(f'Agent process exited at once (code {process.returncode}); see {log_path}')
    return process


Service._start_agent_process = start_agent_process

# git ---------------------------------------------------------------------------------------------------------------
REPOS = os.environ.get('HOOKLINE_OH_REPOS')
if REPOS:
    from openhands.app_server.user.auth_user_context import AuthUserContext

    need(AuthUserContext, 'get_authenticated_git_url')

    async def local_git_url(self, repository, is_optional=False):
        return f'file://{REPOS}/{repository.strip("/")}.git'

    AuthUserContext.get_authenticated_git_url = local_git_url

# ports -------------------------------------------------------------------------------------------------------------
PORT_SPAN = int(os.environ.get('HOOKLINE_OH_SANDBOX_PORT_SPAN', '100'))
RESERVE_SECS = 300
handed_out: dict[int, float] = {}
handed_out_lock = threading.Lock()
need(Service, '_find_unused_port')
need(pss, '_processes')


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As uvicorn binds: a port whose old connections linger in TIME_WAIT is free for it.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            return False
    return True


def find_unused_port(self):
    with handed_out_lock:
        now = time.monotonic()
        for port, at in list(handed_out.items()):
            if now - at >= RESERVE_SECS:
                del handed_out[port]
        busy = set(handed_out) | {info.port for info in pss._processes.values()}
        for port in range(self.base_port, self.base_port + PORT_SPAN):
            if port not in busy and port_is_free(port):
                handed_out[port] = now
                return port
    raise pss.SandboxError(f'no free sandbox port in {self.base_port}..{self.base_port + PORT_SPAN - 1}')


Service._find_unused_port = find_unused_port

# serve -------------------------------------------------------------------------------------------------------------
if __name__ == '__main__':
    import uvicorn

    uvicorn.run('openhands.app_server.app:app', host='127.0.0.1', port=int(os.environ['HOOKLINE_OH_APP_PORT']),
                log_level=os.environ.get('HOOKLINE_OH_LOG_LEVEL', 'info'))
