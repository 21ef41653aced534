-- wrk script for the mock API's POST /load: every request posts the same 200-record JSON body
-- (the shape the ETL sends: {"name","cpu_number","timestamp","indicators":[5 x {"name","value"}]}).
-- No Idempotency-Key is sent, so the mock counts every request's records.
--
--   wrk -t 2 -c 64 -d 10s -s scripts/wrk-load.lua http://127.0.0.1:PORT/load
--
-- Loopback targets only (see scripts/bench.sh). The summary line "records/s: N" is requests/s x 200.

local RECORDS = 200

local names = { "utilization", "nice", "user", "system", "irq" }
local records = {}
for i = 1, RECORDS do
  local ind = {}
  for j, n in ipairs(names) do
    ind[j] = string.format('{"name":"%s","value":%.2f}', n, ((i * 7 + j * 13) % 9000) / 100)
  end
  records[i] = string.format(
    '{"name":"device-%d","cpu_number":"0","timestamp":%d,"indicators":[%s]}',
    i, 1700000000 + i, table.concat(ind, ","))
end

wrk.method = "POST"
wrk.body = "[" .. table.concat(records, ",") .. "]"
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local rps = summary.requests / seconds
  local e = summary.errors
  io.write(string.format("body bytes: %d\n", #wrk.body))
  io.write(string.format("requests: %d in %.2f s\n", summary.requests, seconds))
  io.write(string.format("requests/s: %.0f\n", rps))
  io.write(string.format("records/s: %.0f\n", rps * RECORDS))
  io.write(string.format("errors: connect %d, read %d, write %d, status %d, timeout %d\n",
    e.connect, e.read, e.write, e.status, e.timeout))
end
