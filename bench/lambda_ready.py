#!/usr/bin/env python3
"""Start-to-ready of a Lambda function binary: exec until its first `GET /runtime/invocation/next` reaches a local
stub of the Lambda Runtime API, plus its RSS at that moment. Usage:

    python3 bench/lambda_ready.py target/release/webhook-github [runs]

The function gets dummy AWS settings (no network is used before the first invocation is requested)."""
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

binary = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
ready = threading.Event()


class Stub(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the stdlib's naming)
        if self.path.endswith("/runtime/invocation/next"):
            ready.set()
            time.sleep(0.2)  # hold the request; the process is killed meanwhile
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
threading.Thread(target=server.serve_forever, daemon=True).start()
env = dict(
    os.environ,
    AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
    AWS_LAMBDA_FUNCTION_NAME="bench",
    AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
    AWS_LAMBDA_LOG_GROUP_NAME="bench",
    AWS_LAMBDA_LOG_STREAM_NAME="bench",
    AWS_REGION="us-east-1",
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",
    GITHUB_TENANTS="github.com",
    GITHUB_APP_ID="1",
    GITHUB_APP_SLUG="bench",
    HOOKLINE_TABLE="bench",
    HOOKLINE_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/000000000000/bench.fifo",
    OPENHANDS_URL="http://127.0.0.1:9",
    RUST_LOG="warn",
)
times, rss = [], []
for _ in range(runs):
    ready.clear()
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not ready.wait(5):
        proc.kill()
        sys.exit(f"{binary} never asked for an invocation: {proc.stderr.read().decode()[-500:]}")
    times.append((time.perf_counter() - start) * 1000)
    with open(f"/proc/{proc.pid}/status") as status:
        rss += [int(line.split()[1]) for line in status if line.startswith("VmRSS")]
    proc.kill()
    proc.wait()
print(f"{os.path.basename(binary)}: start-to-ready median {statistics.median(times):.1f} ms "
      f"(min {min(times):.1f}, max {max(times):.1f}, {runs} runs); RSS at ready {statistics.median(rss) / 1024:.1f} MB")
