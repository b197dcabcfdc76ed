-- wrk script for scripts/bench-portal: each request is a customer's page — their link (the
-- second-factor page) and their address page in turn — with that customer's session cookie,
-- cycling through every customer in the targets file (one `PATH<TAB>COOKIE` line each).
-- PACE_MS > 0 makes every connection wait that long between requests (a customer reading the
-- page), so 100 connections at 100 ms offer about 1,000 requests a second; 0 is a closed loop.

local targets = {}
local n = 0
local pace = tonumber(os.getenv("PACE_MS") or "0") or 0

function init(args)
    for line in io.lines(os.getenv("TARGETS")) do
        local path, cookie = line:match("^([^\t]+)\t([^\t]+)$")
        if path then
            targets[#targets + 1] = { path, cookie }
        end
    end
    if #targets == 0 then
        error("no targets in " .. tostring(os.getenv("TARGETS")))
    end
    n = math.random(#targets)
end

function delay()
    return pace
end

function request()
    n = n + 1
    local t = targets[(math.floor(n / 2) % #targets) + 1]
    local path = t[1]
    if n % 2 == 1 then
        path = path .. "/address"
    end
    return wrk.format("GET", path, { ["Cookie"] = "dc_vs=" .. t[2], ["Host"] = "bench" })
end
-- wrk itself counts answers other than 2xx and 3xx ("Non-2xx or 3xx responses").
