-- wrk script for Tandem's benchmarks (run with -t1).
--
-- Arguments after "--": cap method body_file token_file [header ...]
--   cap         stop after this many responses (wrk's -d bounds the time)
--   body_file   the request body, or "-" for none
--   token_file  one JWT per line, one per request ("Authorization: Bearer ..."),
--               or "-" to send the same request every time
--   header      "Name: value", added to every request
-- done() prints one line, "BENCH-RESULT {json}", that the harness parses.

local cap = 0
local method = "GET"
local body = nil
local headers = {}
local tokens = nil
local fixed = nil
local position = 0

-- Globals, so that done() can read them through thread:get().
responses = 0
first_bad_status = 0

function init(args)
  cap = tonumber(args[1])
  method = args[2]
  if args[3] ~= "-" then
    local file = assert(io.open(args[3], "rb"))
    body = file:read("*a")
    file:close()
  end
  if args[4] ~= "-" then
    tokens = {}
    for line in io.lines(args[4]) do
      tokens[#tokens + 1] = line
    end
  end
  for i = 5, #args do
    local name, value = string.match(args[i], "^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  if tokens == nil then
    fixed = wrk.format(method, nil, headers, body)
  end
end

function request()
  if fixed ~= nil then
    return fixed
  end
  position = position % #tokens + 1
  headers["Authorization"] = "Bearer " .. tokens[position]
  return wrk.format(method, nil, headers, body)
end

function response(status, _headers, _body)
  responses = responses + 1
  if status >= 300 and first_bad_status == 0 then
    first_bad_status = status
  end
  if responses >= cap then
    wrk.thread:stop()
  end
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, _requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    local status = thread:get("first_bad_status")
    if status ~= 0 then
      bad = status
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,'
      .. '"write_errors":%d,"timeouts":%d,"bad_statuses":%d,"first_bad_status":%d,'
      .. '"mean_us":%.1f,"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status, bad,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max
  ))
end
