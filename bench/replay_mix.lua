-- wrk script: replay a LIST of pre-signed requests in turn (each connection's thread cycles
-- through them) and count every response that is not a 200.
--
--   wrk -t2 -c8 -d15s --latency -s bench/replay_mix.lua http://127.0.0.1:PORT/ -- REQUESTS.lua
--
-- REQUESTS.lua is written by bench/scaling.py and returns
--   { { method = "POST", path = "/", headers = { ... }, body = "..." }, ... }
-- Like bench/replay.lua (one request), done() prints the BENCH lines that
-- bench/api_throughput.py's parse_wrk reads; latencies in microseconds.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   if path == nil then
      error("usage: wrk ... -s replay_mix.lua URL -- REQUESTS.lua")
   end
   formatted = {}
   for i, req in ipairs(dofile(path)) do
      formatted[i] = wrk.format(req.method, req.path, req.headers, req.body)
   end
   index = 0
   non200 = 0
   first_status = 0
end

function request()
   index = index % #formatted + 1
   return formatted[index]
end

function response(status, headers, body)
   if status ~= 200 then
      non200 = non200 + 1
      if first_status == 0 then
         first_status = status
      end
   end
end

function done(summary, latency, requests)
   local bad, first = 0, 0
   for _, thread in ipairs(threads) do
      bad = bad + thread:get("non200")
      local status = thread:get("first_status")
      if first == 0 and status ~= 0 then
         first = status
      end
   end
   local e = summary.errors
   io.write(string.format("BENCH requests %d\n", summary.requests))
   io.write(string.format("BENCH duration_us %d\n", summary.duration))
   io.write(string.format("BENCH non200 %d\n", bad))
   io.write(string.format("BENCH first_non200_status %d\n", first))
   io.write(string.format("BENCH errors connect=%d read=%d write=%d status=%d timeout=%d\n",
                          e.connect, e.read, e.write, e.status, e.timeout))
   for _, p in ipairs({50, 75, 90, 99, 99.9}) do
      io.write(string.format("BENCH p%s_us %d\n", tostring(p), latency:percentile(p)))
   end
   io.write(string.format("BENCH mean_us %.1f\n", latency.mean))
   io.write(string.format("BENCH max_us %d\n", latency.max))
end
