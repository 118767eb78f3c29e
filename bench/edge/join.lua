-- Joins every session token of a file (POST /queue/<room>), spread over
-- the threads, cycling through the list: a repeated join is harmless (one
-- place per user), so the run may last longer than the list.

local threads = {}
local counter = 0

function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
    table.insert(threads, thread)
end

function init(args)
    local file, room = args[1], args[2]
    local n = tonumber(args[3])
    tokens = {}
    local i = 0
    for line in io.lines(file) do
        if i % n == id then
            table.insert(tokens, line)
        end
        i = i + 1
    end
    path = "/queue/" .. room
    next_token = 0
end

function request()
    next_token = next_token % #tokens + 1
    return wrk.format("POST", path, {
        ["Accept"] = "application/json",
        ["Cookie"] = "ticket_session=" .. tokens[next_token]
    })
end
