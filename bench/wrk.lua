-- wrk script of bench/loadtest.py, driven by environment variables:
--   BENCH_METHOD, BENCH_PATH, BENCH_BODY (JSON), BENCH_AUTH (Authorization header),
--   BENCH_UA, BENCH_TOKENS (a file of refresh tokens, one a line), BENCH_TOKEN_FIELD,
--   BENCH_THREADS (wrk's -t), BENCH_VARIANTS.
-- With BENCH_VARIANTS=n each request takes the next i in 0..n-1 (cycling): "{i}" in
-- BENCH_BODY becomes i, and the request carries X-Forwarded-For: 198.51.100.<i+1>
-- (a documentation address: only a header value, nothing is sent there).
-- With BENCH_TOKENS each request sends the next unused token of its thread's share
-- of the file ({"<field>": "<token>"}), so every refresh presents a fresh valid token.
-- When a thread's share runs out it sends a token that fails (counted as non-2xx).

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
local auth = os.getenv("BENCH_AUTH")
local ua = os.getenv("BENCH_UA")
local token_file = os.getenv("BENCH_TOKENS")
local token_field = os.getenv("BENCH_TOKEN_FIELD") or "refresh_token"
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local variants = tonumber(os.getenv("BENCH_VARIANTS") or "0")

local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local headers = {}
local tokens = {}
local next_token = 1
local sent = 0

function init(args)
  headers["Content-Type"] = "application/json"
  if auth then headers["Authorization"] = auth end
  if ua then headers["User-Agent"] = ua end
  if token_file then
    local i = 0
    for line in io.lines(token_file) do
      if i % nthreads == tid then tokens[#tokens + 1] = line end
      i = i + 1
    end
  end
end

function request()
  local payload = body
  if token_file then
    local token = tokens[next_token] or "pool-exhausted-0000000000000000"
    next_token = next_token + 1
    payload = '{"' .. token_field .. '":"' .. token .. '"}'
  end
  if variants > 0 then
    local i = (tid + sent * nthreads) % variants
    sent = sent + 1
    payload = string.gsub(payload, "{i}", tostring(i))
    headers["X-Forwarded-For"] = "198.51.100." .. tostring(i % 254 + 1)
  end
  return wrk.format(method, path, headers, payload)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"non2xx":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
