-- wrk script: POST /records, one new plan record per request (unique recordId
-- per thread and request, cycling through the templates). See common.lua.
local common = dofile(os.getenv("INLOOP_BENCH_WRK_DIR") .. "/common.lua")

setup = common.setup
done = common.done

local templates, headers, prefix
local counter = 0

function init(args)
  templates = common.loadTemplates()
  headers = common.headers("application/json")
  prefix = os.getenv("INLOOP_BENCH_PREFIX") .. "-" .. tostring(threadNo)
end

function request()
  counter = counter + 1
  local template = templates[(counter % #templates) + 1]
  local body = template:gsub("__RID__", prefix .. "-" .. counter, 1)
  return wrk.format("POST", "/records", headers, body)
end
