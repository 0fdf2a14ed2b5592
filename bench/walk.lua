-- wrk script: send each request of a prepared list exactly once, then stop (bench/http_load.py).
--
--   wrk -t T -c C -d LIMITs -s bench/walk.lua URL -- REQUESTS_FILE OUT_PREFIX T
--
-- REQUESTS_FILE has one request a line, "METHOD<tab>PATH<tab>BODY<tab>KEY<tab>LANE" (KEY, when not
-- empty, is sent as Idempotency-Key); thread k of T takes lines k, k+T, k+2T, ... so the threads
-- walk the list in step, except lines with a LANE, which thread LANE mod T takes: the requests of
-- one lane go out in the list's order on one thread, a request only once every request of its
-- lane more than the thread's connections before it has been answered (a switch or a
-- cancellation never overtakes the sign-up it changes; bench/signup_plans.py). Each thread writes one line per answer
-- ("STATUS<tab>BODY") to OUT_PREFIX.k, then "#span FIRST_SENT_US LAST_ANSWER_US" (CLOCK_MONOTONIC)
-- and creates OUT_PREFIX.k.done; the driver interrupts wrk once every thread is done, because wrk
-- itself would sleep until -d runs out. Headers (Authorization, Content-Type) come from -H.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } walk_timespec;
int clock_gettime(int clk_id, walk_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("walk_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

-- A connection whose thread has no request left is parked this long (ms): far past any -d.
local PARKED_MS = 24 * 3600 * 1000

local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local requests = {}
local reserved, sent, answered = 0, 0, 0
local first_sent, out, out_prefix

function init(args)
  local file, total = args[1], tonumber(args[3])
  out_prefix = args[2] .. "." .. id
  local line_no = 0
  for line in io.lines(file) do
    local method, path, body, key, lane =
      line:match("^(%u+)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$")
    local mine = line_no % total == id
    if lane ~= "" then mine = tonumber(lane) % total == id end
    if mine then
      if body == "" then body = nil end
      local headers = nil
      if key ~= "" then
        -- wrk.format takes these instead of -H's, not beside them: copy those in.
        headers = {["Idempotency-Key"] = key}
        for name, value in pairs(wrk.headers) do headers[name] = value end
      end
      requests[#requests + 1] = wrk.format(method, path, headers, body)
    end
    line_no = line_no + 1
  end
  out = io.open(out_prefix, "w")
  if #requests == 0 then
    out:write("#span 0 0\n")
    out:close()
    io.open(out_prefix .. ".done", "w"):close()
  end
end

-- wrk asks delay() before every request; a connection is given a request here, not in
-- request(), so that two connections never both count on the last one.
function delay()
  if reserved >= #requests then
    return PARKED_MS
  end
  reserved = reserved + 1
  return 0
end

function request()
  if reserved == 0 then
    -- wrk's own check of the script, before the thread starts: nothing is sent.
    return requests[1] or wrk.format("GET", "/health")
  end
  sent = sent + 1
  if sent == 1 then
    first_sent = now_us()
  end
  -- Only after a reconnect (the resent request is lost, counted by wrk as a socket error).
  return requests[sent] or wrk.format("GET", "/health")
end

function response(status, headers, body)
  answered = answered + 1
  out:write(status, "\t", (body or ""):gsub("[\r\n\t]", " "), "\n")
  if answered == #requests then
    out:write("#span ", first_sent, " ", now_us(), "\n")
    out:close()
    io.open(out_prefix .. ".done", "w"):close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "#wrk requests=%d p50=%d p95=%d p99=%d max=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.timeout))
end
