-- wrk script of bench/create: POST /v1/keys {"name":"bench"}, the same
-- request over and over.
--
--   wrk -s create.lua URL -- KEY_FILE
--
-- KEY_FILE holds the key that creates (it needs admin:api-keys:create).
-- It comes from a file, not an argument, which anyone can read with ps.

function init(args)
  assert(args[1], "usage: wrk -s create.lua URL -- KEY_FILE")
  local f = assert(io.open(args[1], "r"))
  local key = f:read("*l")
  f:close()
  assert(key and key:match("^[%w_]+$"), args[1] .. " holds no key")
  wrk.method = "POST"
  wrk.path = "/v1/keys"
  wrk.body = '{"name":"bench"}'
  wrk.headers["Authorization"] = "Bearer " .. key
  wrk.headers["Content-Type"] = "application/json"
end
