-- wrk script: the HTML form path a voter's browser takes, two POSTs per ballot with the CSRF
-- cookie and token: the choice (answered by the confirmation page), then the confirmation
-- (answered by the receipt). A confirmation is sent only for a code whose confirmation page has
-- come back (its code, answer, tracker and token are read from that page's hidden fields, as a
-- browser sends them), so no cast overtakes its own confirmation step.
-- usage: wrk ... -s bench/form.lua BASE_URL -- CODES_FILE OPTION_VALUE THREADS POLL_ID CSRF_COOKIE CSRF_TOKEN
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local function urlencode(text)
  return (text:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
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
  poll = args[4]
  token = args[6]
  next_code = 1
  confirmed = {}  -- codes whose confirmation page came back, waiting for their second POST
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Cookie"] = "csrftoken=" .. args[5]
end

function request()
  local ready = table.remove(confirmed)
  if ready then
    return wrk.format(nil, "/polls/" .. poll .. "/cast",
      nil, "csrfmiddlewaretoken=" .. token .. "&code=" .. urlencode(ready.code) .. "&option=" .. ready.option
        .. "&tracker=" .. urlencode(ready.tracker) .. "&token=" .. urlencode(ready.token))
  end
  local code = codes[next_code] or "0000-0000-0000-0000-0000"
  next_code = next_code + 1
  return wrk.format(nil, "/polls/" .. poll .. "/",
    nil, "csrfmiddlewaretoken=" .. token .. "&code=" .. urlencode(code) .. "&option=" .. option)
end

function response(status, headers, body)
  if status == 200 then
    local code = body:match('name="code" value="([^"]+)"')
    local chosen = body:match('name="option" value="([^"]+)"')
    local tracker = body:match('name="tracker" value="([^"]+)"')
    local receipt_token = body:match('name="token" value="([^"]+)"')
    if code and chosen and tracker and receipt_token
        and body:find('action="/polls/' .. poll .. '/cast"', 1, true) then
      table.insert(confirmed, {code = code, option = chosen, tracker = tracker, token = receipt_token})
    end
  end
end
