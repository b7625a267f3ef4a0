-- wrk script of bench/nodes: POST /v1/verify, each thread rotating over the
-- keys of a file, one per line.
--
--   wrk -s bench/verify.lua URL -- KEYS_FILE BEARER_FILE
--
-- BEARER_FILE holds the key that calls /v1/verify (it needs
-- admin:api-keys:verify). Keys come from files, not arguments, because
-- any user of the machine can read a process's arguments.

local requests = {}
local n = 0

local function lines(path)
  local f = assert(io.open(path, "r"))
  local out = {}
  for line in f:lines() do
    if line ~= "" then
      out[#out + 1] = line
    end
  end
  f:close()
  return out
end

function init(args)
  assert(args[1] and args[2], "usage: wrk -s verify.lua URL -- KEYS_FILE BEARER_FILE")
  local bearer = assert(lines(args[2])[1], args[2] .. " is empty")
  wrk.headers["Authorization"] = "Bearer " .. bearer
  wrk.headers["Content-Type"] = "application/json"
  -- Formatted once here, so that the load loop only hands them out.
  for _, key in ipairs(lines(args[1])) do
    assert(key:match("^[%w_]+$"), "a line of " .. args[1] .. " is not a key")
    requests[#requests + 1] = wrk.format("POST", "/v1/verify", nil, '{"key":"' .. key .. '"}')
  end
  assert(#requests > 0, args[1] .. " holds no key")
end

function request()
  n = n % #requests + 1
  return requests[n]
end
