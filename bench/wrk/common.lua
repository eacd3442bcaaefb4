-- Shared by the wrk scripts of scripts/bench (loaded with dofile).
--
-- Environment (set by scripts/bench):
--   INLOOP_BENCH_TEMPLATES  file of compact records, one per line, each with
--                           "__RID__" where its recordId goes
--   INLOOP_BENCH_PREFIX     recordId prefix unique to this run and level, so
--                           every request is a new record (a real insert)
--   INLOOP_API_TOKEN        bearer token of the daemon under test
local M = {}

function M.loadTemplates()
  local path = os.getenv("INLOOP_BENCH_TEMPLATES")
  local f = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  local templates = {}
  for line in f:lines() do
    if #line > 0 then templates[#templates + 1] = line end
  end
  f:close()
  assert(#templates > 0, "no templates in " .. path)
  return templates
end

function M.headers(contentType)
  return {
    ["Content-Type"] = contentType,
    ["Authorization"] = "Bearer " .. os.getenv("INLOOP_API_TOKEN"),
  }
end

-- Thread numbers, handed out in the main state before the threads start.
local nextThread = 0
function M.setup(thread)
  nextThread = nextThread + 1
  thread:set("threadNo", nextThread)
end

-- One machine-readable line for scripts/bench. Latencies in microseconds.
function M.done(summary, latency)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"durationMicros":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyMicros":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end

return M
