"""A fake OpenAI-compatible LLM for running the real OpenHands server in tests (Python stdlib only).

    python3 fake_llm.py PORT STATE_DIR          (start.sh runs it on 127.0.0.1)

POST /v1/chat/completions (streamed or not) is answered by the kind of request:
  agent_step  the request offers tools (an agent step): by default one `finish` tool call ("Done (fake LLM)."), so
              every user message ends in execution_status `finished` after one step.
  ask_agent   the last message carries the agent server's <QUESTION> template (no tools): a summary text.
  text        anything else without tools (the title): "Fake title".

Behaviour is chosen PER CONVERSATION, by directives in the text of its FIRST user message (several scenarios share
one server), e.g. `[[fake-llm: delay=20 marker=issue-12]]`; words are shell-like (quote values with spaces):
  fail          every agent step answers HTTP 400 (not retried), so the conversation ends in `error`
  fail=N        only its first N agent steps fail
  delay=SECS    every agent step sleeps SECS before answering (keep it under the SDK's 300 s LLM timeout)
  script=NAME   agent steps walk the named script (built in: see SCRIPTS; or STATE_DIR/scripts/NAME.json, or one
                set with POST /control {"scripts": {NAME: [...]}}), then answer `finish`
  marker=TEXT   ask_agent answers "Fake summary for TEXT: ..." (tests find their conversation's summary by it)
  answer=TEXT   ask_agent answers exactly TEXT
  finish=TEXT   the message of the final `finish` call
  title=TEXT    the title request (which quotes the first message) answers TEXT instead of "Fake title"
  await_follow_up=SECS
                agent steps answer `think` (one a second) until the request carries a second user message (a
                follow-up), at most SECS steps, then go on as usual: a test of follow-up delivery ends only once the
                agent has seen the follow-up
Directives in a later (follow-up) user message override the first message's ones for the steps after it.

A script is a JSON list of steps {"tool": NAME, "arguments": {...}, "text": optional thought, "delay": optional s}.
A conversation's position in it is the number of assistant messages already in the request, so each conversation
walks it from step 1 on its own. In string arguments `{cwd}` becomes the working directory of the latest terminal
observation (the cloned repository once a terminal step ran). Steps whose tool is not offered are skipped.

Every request is logged as one JSON line in STATE_DIR/requests.jsonl: t, kind, conv (the conversation id, 32 hex,
from the SDK's x-litellm-session-id header; title requests come from the app server without it and get a hash),
first_user (first 300 characters), user_messages (every user text in the request), directives, tool (answered),
status (HTTP), slept, script, script_position. The last agent-step request is kept whole in
STATE_DIR/last_agent_request.json (for writing scripts: the tool schemas are in it).

GET/POST /control: global knobs {"delay": s, "fail_next": N, "answer": text, "scripts": {NAME: [...]}} (null
clears one); GET also shows `in_flight` (agent steps being answered now). Prefer the per-conversation directives:
the global knobs act on whichever conversations step next.
"""

import hashlib
import json
import os
import re
import shlex
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_FINISH = 'Done (fake LLM).'
DEFAULT_SUMMARY = 'The agent finished the task (fake LLM summary); nothing was changed.'
DIRECTIVE_RE = re.compile(r'\[\[\s*fake-llm\s*:(.*?)\]\]', re.S)
CWD_RE = re.compile(r'\[Current working directory: ([^\]\n]+)\]')
SANDBOX_RE = re.compile(r'/sandboxes/([0-9a-f]{32})(?=[/\s"\'`]|$)')


def plan(*states):
    titles = ('Explore the repository', 'Make the change', 'Check the result')
    return {'command': 'plan', 'task_list': [{'title': t, 'status': s} for t, s in zip(titles, states)]}


SCRIPTS = {
    # A task plan, a terminal command, a file edit, the plan done, then finish: 5 agent steps.
    'work': [
        {'tool': 'task_tracker', 'text': 'I will plan the work first.', 'arguments': plan('in_progress', 'todo', 'todo')},
        {'tool': 'terminal', 'arguments': {'command': 'ls -la'}},
        {'tool': 'file_editor', 'arguments': {'command': 'create', 'path': '{cwd}/NOTES.md',
                                              'file_text': '# Notes\n\nWritten by the fake LLM.\n'}},
        {'tool': 'task_tracker', 'arguments': plan('done', 'done', 'done')},
        {'tool': 'finish', 'arguments': {'message': 'Done (fake LLM script): explored, wrote NOTES.md.'}},
    ],
    # One terminal command, then finish.
    'terminal': [{'tool': 'terminal', 'arguments': {'command': 'echo hello from the fake LLM && pwd'}}],
    # One thought, then finish.
    'think': [{'tool': 'think', 'arguments': {'thought': 'Thinking about it (fake LLM).'}}],
}


class State:
    def __init__(self, directory):
        self.dir = directory
        self.lock = threading.Lock()
        self.knobs = {'delay': None, 'fail_next': None, 'answer': None}
        self.scripts = {}
        self.failed_steps = {}   # conversation key -> agent steps failed by a fail=N directive
        self.in_flight = 0
        os.makedirs(os.path.join(directory, 'scripts'), exist_ok=True)
        self.log = open(os.path.join(directory, 'requests.jsonl'), 'a', buffering=1)

    def write(self, entry):
        with self.lock:
            self.log.write(json.dumps(entry) + '\n')

    def script(self, name):
        with self.lock:
            if name in self.scripts:
                return self.scripts[name]
        path = os.path.join(self.dir, 'scripts', os.path.basename(name) + '.json')
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        return SCRIPTS.get(name)

    def take_global_failure(self):
        with self.lock:
            n = self.knobs['fail_next']
            if not n:
                return False
            self.knobs['fail_next'] = n - 1 if n > 1 else None
            return True

    def take_directive_failure(self, conv, fail):
        if fail is True:
            return True
        with self.lock:
            done = self.failed_steps.get(conv, 0)
            if done < fail:
                self.failed_steps[conv] = done + 1
                return True
            return False


def text_of(message):
    content = message.get('content')
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return '\n'.join(p.get('text', '') for p in content if isinstance(p, dict) and p.get('type', 'text') == 'text')
    return ''


def directives_in(text):
    """{key: value} of every [[fake-llm: ...]] in text; a bare word is {word: True}."""
    out = {}
    for body in DIRECTIVE_RE.findall(text or ''):
        try:
            words = shlex.split(body)
        except ValueError:
            words = body.split()
        for word in words:
            key, eq, value = word.partition('=')
            out[key.strip().lower()] = value if eq else True
    return out


def parse_fail(value):
    if value is True or value in ('', 'true', 'all'):
        return True
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return True


def substitute(value, cwd):
    """`value` with every `{cwd}` inside its strings replaced (through JSON, so nested lists and maps are covered)."""
    escaped = json.dumps(cwd)[1:-1]
    return json.loads(json.dumps(value).replace('{cwd}', escaped))


def offered_tools(req):
    """Names of the tools an agent-step request offers, in order."""
    return [(tool.get('function') or {}).get('name') for tool in req.get('tools') or []]


def tool_parameters(req, name):
    """The JSON schema of tool `name`'s parameters in this request ({} when it is not offered)."""
    for tool in req.get('tools') or []:
        function = tool.get('function') or {}
        if function.get('name') == name:
            return function.get('parameters') or {}
    return {}


def latest_cwd(messages):
    """Working directory named by the newest terminal observation, else the sandbox's TMPDIR."""
    for message in reversed(messages):
        if message.get('role') == 'tool':
            found = CWD_RE.findall(text_of(message))
            if found:
                return found[-1].strip()
    return (os.environ.get('TMPDIR') or '/tmp').rstrip('/') or '/tmp'


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.0'   # one request per connection: the end of a stream is the end of the connection
    state: State = None

    def log_message(self, *args):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def control(self):
        with self.state.lock:
            return {**self.state.knobs, 'scripts': sorted(set(SCRIPTS) | set(self.state.scripts)),
                    'in_flight': self.state.in_flight}

    def do_GET(self):
        if self.path.startswith('/control'):
            return self.send_json(200, self.control())
        if self.path.startswith('/health') or self.path == '/':
            return self.send_json(200, {'status': 'ok'})
        self.send_json(200, {'object': 'list', 'data': [{'id': 'fake-model', 'object': 'model', 'owned_by': 'test'}]})

    def do_POST(self):
        try:
            body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
            req = json.loads(body or b'{}')
        except (ValueError, OSError) as exc:
            return self.send_json(400, {'error': {'message': f'bad request body: {exc}', 'type': 'invalid_request_error'}})
        if self.path.startswith('/control'):
            return self.post_control(req)
        if not self.path.rstrip('/').endswith('/chat/completions'):
            return self.send_json(404, {'error': {'message': 'only /v1/chat/completions', 'type': 'invalid_request_error'}})
        self.completion(req)

    def post_control(self, req):
        with self.state.lock:
            for key in ('delay', 'fail_next', 'answer'):
                if key in req:
                    value = req[key]
                    self.state.knobs[key] = None if value is None else (
                        value if key == 'answer' else float(value) if key == 'delay' else int(value))
            for name, steps in (req.get('scripts') or {}).items():
                if steps is None:
                    self.state.scripts.pop(name, None)
                else:
                    self.state.scripts[name] = steps
        self.send_json(200, self.control())

    def completion(self, req):
        messages = req.get('messages') or []
        tools = offered_tools(req)
        users = [text_of(m) for m in messages if m.get('role') == 'user']
        system = ''.join(text_of(m) for m in messages[:1] if m.get('role') == 'system')
        first = users[0] if users else ''
        last = text_of(messages[-1]) if messages else ''
        if '<QUESTION>' in last:
            kind = 'ask_agent'
        else:
            kind = 'agent_step' if tools else 'text'
        conv = self.conversation_key(messages, system, first)
        directives = directives_in(first)
        if kind == 'agent_step':
            # A follow-up's directives rule the steps after it.
            for later in users[1:]:
                directives.update(directives_in(later))
        entry = {'t': round(time.time(), 3), 'kind': kind, 'conv': conv, 'first_user': first[:300],
                 'user_messages': [u for u in users if '<QUESTION>' not in u], 'directives': directives,
                 'stream': bool(req.get('stream')), 'model': req.get('model')}
        if kind == 'agent_step':
            with self.state.lock:
                self.state.in_flight += 1
            try:
                self.agent_step(req, messages, tools, conv, directives, entry)
            finally:
                with self.state.lock:
                    self.state.in_flight -= 1
            return
        if kind == 'ask_agent':
            answer = directives.get('answer')
            if not isinstance(answer, str):
                marker = directives.get('marker')
                if isinstance(marker, str):
                    answer = f'Fake summary for {marker}: the agent finished the task (fake LLM).'
                else:
                    answer = self.state.knobs['answer'] or DEFAULT_SUMMARY
        else:
            title = directives.get('title')
            answer = title if isinstance(title, str) else 'Fake title'
        entry.update(status=200, answer=answer[:200])
        self.state.write(entry)
        self.reply(req, {'role': 'assistant', 'content': answer}, 'stop')

    def conversation_key(self, messages, system, first):
        """The conversation's id (32 hex): the SDK sends it as x-litellm-session-id on agent steps and ask_agent.
        Without it, the sandbox directory named in the history, else a hash of the system prompt and first message."""
        session = (self.headers.get('x-litellm-session-id') or '').replace('-', '').lower()
        if re.fullmatch(r'[0-9a-f]{32}', session):
            return session
        found = SANDBOX_RE.search(json.dumps(messages))
        return found.group(1) if found else hashlib.sha1(f'{system}\0{first}'.encode()).hexdigest()[:16]

    def agent_step(self, req, messages, tools, conv, directives, entry):
        with open(os.path.join(self.state.dir, 'last_agent_request.json.tmp'), 'w') as f:
            json.dump({**req, '_headers': dict(self.headers)}, f, indent=1)
        os.replace(os.path.join(self.state.dir, 'last_agent_request.json.tmp'),
                   os.path.join(self.state.dir, 'last_agent_request.json'))
        delay = 0.0
        try:
            delay = float(directives.get('delay') or 0)
        except (TypeError, ValueError):
            pass
        delay += float(self.state.knobs['delay'] or 0)
        name, args, text, step_delay = self.next_step(req, messages, tools, directives, entry)
        delay += step_delay
        if delay > 0:
            entry['slept'] = delay
            time.sleep(delay)
        failing = 'fail' in directives and self.state.take_directive_failure(conv, parse_fail(directives['fail']))
        if failing or self.state.take_global_failure():
            # 400: neither the OpenAI client nor the SDK retries it (a 500 would be retried and then succeed).
            entry.update(status=400, tool=None)
            self.state.write(entry)
            return self.send_json(400, {'error': {'message': 'fake LLM: injected failure', 'type': 'invalid_request_error',
                                                  'code': 'injected_failure'}})
        entry.update(status=200, tool=name)
        self.state.write(entry)
        call = {'id': 'call_' + uuid.uuid4().hex[:16], 'type': 'function',
                'function': {'name': name, 'arguments': json.dumps(args)}}
        self.reply(req, {'role': 'assistant', 'content': text, 'tool_calls': [call]}, 'tool_calls')

    def next_step(self, req, messages, tools, directives, entry):
        """(tool, arguments, text, delay) of this agent step: the script's next step, or finish."""
        finish = directives.get('finish')
        finish_args = {'message': finish if isinstance(finish, str) else DEFAULT_FINISH}
        wait = directives.get('await_follow_up')
        if wait is not None and 'think' in tools:
            # Keep the conversation busy (one `think` step a second) until a follow-up user message arrives.
            users = [m for m in messages if m.get('role') == 'user' and '<QUESTION>' not in text_of(m)]
            steps_so_far = len([m for m in messages if m.get('role') == 'assistant'])
            try:
                limit = float(wait) if wait is not True else 60.0
            except (TypeError, ValueError):
                limit = 60.0
            entry['awaiting_follow_up'] = len(users) < 2
            if len(users) < 2 and steps_so_far < limit:
                # A different thought each step: the agent's stuck detector ends a conversation that repeats one.
                args = {'thought': f'Waiting for a follow-up (fake LLM), step {steps_so_far + 1}.'}
                if 'summary' in (tool_parameters(req, 'think').get('properties') or {}):
                    args['summary'] = 'fake LLM: waiting for a follow-up'
                return 'think', args, None, 1.0
        name = directives.get('script')
        if not isinstance(name, str):
            return 'finish', finish_args, None, 0.0
        script = self.state.script(name)
        entry['script'] = name
        if not isinstance(script, list):
            entry['script_error'] = f'unknown script {name!r}'
            print(f'fake_llm: unknown script {name!r}; answering finish', file=sys.stderr, flush=True)
            return 'finish', finish_args, None, 0.0
        steps = [s for s in script if isinstance(s, dict) and s.get('tool') in tools]
        # Each earlier step of this conversation left one assistant message.
        position = len([m for m in messages if m.get('role') == 'assistant'])
        entry['script_position'] = position
        if position >= len(steps):
            return 'finish', finish_args, None, 0.0
        step = steps[position]
        args = substitute(dict(step.get('arguments') or {}), latest_cwd(messages))
        if 'summary' in (tool_parameters(req, step['tool']).get('properties') or {}) and 'summary' not in args:
            args['summary'] = f'fake LLM step {position + 1}/{len(steps)}: {step["tool"]}'
        return step['tool'], args, step.get('text'), float(step.get('delay') or 0)

    def reply(self, req, message, finish_reason):
        cid, model, now = 'chatcmpl-' + uuid.uuid4().hex, req.get('model') or 'fake-model', int(time.time())
        usage = {'prompt_tokens': 10, 'completion_tokens': 5, 'total_tokens': 15}
        if not req.get('stream'):
            return self.send_json(200, {'id': cid, 'object': 'chat.completion', 'created': now, 'model': model,
                                        'choices': [{'index': 0, 'message': message, 'finish_reason': finish_reason}],
                                        'usage': usage})
        self.send_response(200)
        self.send_header('Content-Type', 'text/event-stream')
        self.send_header('Cache-Control', 'no-cache')
        self.end_headers()

        def event(delta, reason=None, with_usage=False):
            chunk = {'id': cid, 'object': 'chat.completion.chunk', 'created': now, 'model': model,
                     'choices': [{'index': 0, 'delta': delta, 'finish_reason': reason}]}
            if with_usage:
                chunk['usage'] = usage
            self.wfile.write(b'data: ' + json.dumps(chunk).encode() + b'\n\n')

        if message.get('content'):
            event({'role': 'assistant', 'content': message['content']})
        for i, call in enumerate(message.get('tool_calls') or []):
            event({'role': 'assistant', 'tool_calls': [{'index': i, 'id': call['id'], 'type': 'function',
                                                        'function': {'name': call['function']['name'], 'arguments': ''}}]})
            event({'tool_calls': [{'index': i, 'function': {'arguments': call['function']['arguments']}}]})
        event({}, finish_reason, with_usage=True)
        self.wfile.write(b'data: [DONE]\n\n')
        self.wfile.flush()


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: fake_llm.py PORT STATE_DIR')
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    Handler.state = State(directory)
    server = ThreadingHTTPServer(('127.0.0.1', port), Handler)
    server.daemon_threads = True
    print(f'fake_llm: listening on 127.0.0.1:{port}, state in {directory}', file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == '__main__':
    main()
