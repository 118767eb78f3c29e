-- Requests one path with a cookie taken in turn from a file of
-- "name=value" lines (waiting users' queue tokens, or an access token).

function init(args)
    path = args[1]
    cookies = {}
    for line in io.lines(args[2]) do
        table.insert(cookies, line)
    end
    i = 0
    accept = args[3] or "application/json"
end

function request()
    i = i % #cookies + 1
    return wrk.format("GET", path, {
        ["Accept"] = accept,
        ["Cookie"] = cookies[i]
    })
end
