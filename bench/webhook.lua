-- wrk script: POST the signed issue_comment delivery with a unique X-GitHub-Delivery per request
-- (thread number + per-thread counter; `setup` runs in the main Lua state once per thread).
local body_file = os.getenv("BENCH_BODY")
local signature = os.getenv("BENCH_SIGNATURE")
local f = assert(io.open(body_file, "rb"))
local body = f:read("*a")
f:close()

local threads_started = 0

function setup(thread)
  threads_started = threads_started + 1
  thread:set("thread_number", threads_started)
end

counter = 0

function request()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "GitHub-Hookshot/bench",
    ["X-GitHub-Event"] = "issue_comment",
    ["X-GitHub-Delivery"] = "bench-" .. thread_number .. "-" .. counter,
    ["X-Hub-Signature-256"] = signature,
  }
  return wrk.format("POST", "/webhooks/github", headers, body)
end
