-- wrk script of bench/verify: POST /v1/verify with keys picked by a fixed
-- pattern from hot keys, a sample of the whole set, and invalid keys.
--
--   wrk -s mix.lua URL -- THREADS BEARER PATTERN HOT SAMPLE FROM TO INVALID
--
-- BEARER, HOT, SAMPLE and INVALID are files of keys, one a line: keys
-- travel in files, never in arguments, which anyone can read with ps.
-- PATTERN is a string of h (hot), r (random) and i (invalid), one letter
-- a request, repeated. Lines FROM to TO-1 (counted from 0) of SAMPLE are
-- dealt out to the THREADS threads, so that no two threads send the same
-- key: each key of the sample is sent once, a cache miss, until a thread
-- has used up its share and starts again (counted as repeats).
--
-- thread_id comes from the harness's setup(); every request is formatted
-- here in init, so that request() only hands them out.

counters = { hot = 0, random = 0, invalid = 0, repeats = 0 }

local hot, sample, invalid = {}, {}, {}
local pattern
local pos, hi, ri, ii = 0, 0, 0, 0

local function verify(key)
  assert(key:match("^[%w_]+$"), "a line of a key file is not a key")
  return wrk.format("POST", "/v1/verify", nil, '{"key":"' .. key .. '"}')
end

-- each calls fn(line, index) for every line of the file at path, index
-- counted from 0.
local function each(path, fn)
  local f = assert(io.open(path, "r"))
  local i = 0
  for line in f:lines() do
    if line ~= "" then
      fn(line, i)
      i = i + 1
    end
  end
  f:close()
end

function init(args)
  assert(#args == 8, "usage: wrk -s mix.lua URL -- THREADS BEARER PATTERN HOT SAMPLE FROM TO INVALID")
  local threads = tonumber(args[1])
  local bearer
  each(args[2], function(line) bearer = bearer or line end)
  assert(bearer, args[2] .. " is empty")
  wrk.headers["Authorization"] = "Bearer " .. bearer
  wrk.headers["Content-Type"] = "application/json"
  pattern = args[3]
  assert(pattern:match("^[hri]+$"), "PATTERN: want letters h, r and i")

  each(args[4], function(line) hot[#hot + 1] = verify(line) end)
  local from, to = tonumber(args[6]), tonumber(args[7])
  each(args[5], function(line, i)
    if i >= from and i < to and (i - from) % threads == thread_id then
      sample[#sample + 1] = verify(line)
    end
  end)
  each(args[8], function(line) invalid[#invalid + 1] = verify(line) end)

  assert(#hot > 0 or not pattern:find("h"), "no hot keys")
  assert(#sample > 0 or not pattern:find("r"), "no sample keys for this thread")
  assert(#invalid > 0 or not pattern:find("i"), "no invalid keys")
  -- Threads start at different places, so that they do not send the
  -- same hot key at the same moment.
  pos = thread_id % #pattern
  hi = thread_id * 7
end

function request()
  pos = pos % #pattern + 1
  local c = pattern:sub(pos, pos)
  if c == "h" then
    hi = hi % #hot + 1
    counters.hot = counters.hot + 1
    return hot[hi]
  end
  if c == "r" then
    ri = ri + 1
    if ri > #sample then
      ri = 1
    end
    counters.random = counters.random + 1
    if counters.random > #sample then
      counters.repeats = counters.repeats + 1
    end
    return sample[ri]
  end
  ii = ii % #invalid + 1
  counters.invalid = counters.invalid + 1
  return invalid[ii]
end
