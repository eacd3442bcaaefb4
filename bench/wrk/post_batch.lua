-- wrk script: POST /records/$batch, INLOOP_BENCH_BATCH (default 1000) new
-- records per request as NDJSON (unique recordIds). See common.lua.
local common = dofile(os.getenv("INLOOP_BENCH_WRK_DIR") .. "/common.lua")

setup = common.setup
done = common.done

local templates, headers, prefix, batch
local counter = 0

function init(args)
  templates = common.loadTemplates()
  headers = common.headers("application/x-ndjson")
  prefix = os.getenv("INLOOP_BENCH_PREFIX") .. "-" .. tostring(threadNo)
  batch = tonumber(os.getenv("INLOOP_BENCH_BATCH") or "1000")
end

function request()
  local lines = {}
  for i = 1, batch do
    counter = counter + 1
    local template = templates[(counter % #templates) + 1]
    lines[i] = template:gsub("__RID__", prefix .. "-" .. counter, 1)
  end
  return wrk.format("POST", "/records/$batch", headers, table.concat(lines, "\n") .. "\n")
end
