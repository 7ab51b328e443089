-- wrk script: POST one ballot per request, each with a fresh code from the file given after "--".
-- usage: wrk ... -s bench/cast.lua URL -- CODES_FILE OPTION_ID
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  codes = {}
  local n = 0
  local total = tonumber(args[3])
  for line in io.lines(args[1]) do
    if n % total == id then table.insert(codes, line) end
    n = n + 1
  end
  option = args[2]
  next_code = 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local code = codes[next_code] or "0000-0000-0000-0000-0000"
  next_code = next_code + 1
  return wrk.format(nil, nil, nil, '{"code": "' .. code .. '", "option": ' .. option .. '}')
end
