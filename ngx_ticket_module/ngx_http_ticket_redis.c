/*
 * The shared room in Redis; see ngx_http_ticket_redis.h.
 *
 * Every room is six keys: "ticket:NAME:h" (counters and operator
 * settings), ":u" (user -> place, 0 in the pre-queue), ":q" (the pre-queue,
 * scored by a random draw), ":g" (admitted places not yet used, scored by
 * the admission time), ":s" (sessions, scored by the last activity) and
 * ":a" (user -> session serial).  Each operation is one Lua script, so it
 * is atomic; the tick script advances admission at most once per tick
 * whoever sends it, so no process leads and none can be lost.
 */

#include <sys/ioctl.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_ticket_module.h"
#include "ngx_http_ticket_zone.h"
#include "ngx_http_ticket_redis.h"


#define NGX_HTTP_TICKET_REDIS_TOUCHES   256
#define NGX_HTTP_TICKET_REDIS_ARGS      (16 + 2 * NGX_HTTP_TICKET_REDIS_TOUCHES)
#define NGX_HTTP_TICKET_REDIS_BACKOFF   2000


static void ngx_http_ticket_redis_connect(void);
static void ngx_http_ticket_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_ticket_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_ticket_redis_add_read(void *data);
static void ngx_http_ticket_redis_del_read(void *data);
static void ngx_http_ticket_redis_add_write(void *data);
static void ngx_http_ticket_redis_del_write(void *data);
static void ngx_http_ticket_redis_cleanup(void *data);
static void ngx_http_ticket_redis_read_handler(ngx_event_t *rev);
static void ngx_http_ticket_redis_write_handler(ngx_event_t *wev);
static void ngx_http_ticket_redis_reply(redisAsyncContext *ac, void *reply,
    void *data);
static void ngx_http_ticket_redis_internal(redisAsyncContext *ac,
    void *reply, void *data);
static void ngx_http_ticket_redis_timeout(ngx_event_t *ev);
static void ngx_http_ticket_redis_detach(void *data);
static void ngx_http_ticket_redis_finish(ngx_http_ticket_redis_op_t *op);
static void ngx_http_ticket_redis_load_scripts(void);
static void ngx_http_ticket_redis_configure(void);
static void ngx_http_ticket_redis_sync_handler(ngx_event_t *ev);
static void ngx_http_ticket_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_ticket_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_ticket_redis_synced(ngx_http_request_t *r,
    ngx_http_ticket_redis_op_t *op);
static void ngx_http_ticket_redis_trouble(const char *what, const char *err);
static void ngx_http_ticket_redis_ended(ngx_http_ticket_redis_op_t *op,
    void *reply);


/*
 * Shared by every script: the keys, the clock (Redis' own, so machines
 * with skewed clocks agree), the opening of a scheduled sale (the
 * pre-queue, in the order of its random draw, takes places 1..N) and the
 * end of a session.
 */
#define NGX_HTTP_TICKET_LUA_PROLOGUE                                          \
    "local H, U, Q, G, S, A, E = KEYS[1], KEYS[2], KEYS[3], KEYS[4], "       \
    "KEYS[5], KEYS[6], KEYS[7]\n"                                             \
    "local function num(v, d) if v then return tonumber(v) end return d end\n"\
    "local function int(v) return string.format('%.0f', v) end\n"            \
    "local function clock()\n"                                                \
    "  local t = redis.call('TIME')\n"                                        \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"    \
    "end\n"                                                                   \
    "local function open(now, at)\n"                                          \
    "  if at <= 0 or now < at or redis.call('HEXISTS', H, 'opened') == 1 "    \
    "then return end\n"                                                       \
    "  local users = redis.call('ZRANGE', Q, 0, -1)\n"                        \
    "  local seq = num(redis.call('HGET', H, 'seq'), 0)\n"                    \
    "  for i = 1, #users do redis.call('HSET', U, users[i], int(seq + i)) "   \
    "end\n"                                                                   \
    "  redis.call('HSET', H, 'seq', int(seq + #users), 'opened', int(now), "  \
    "'prequeued', #users)\n"                                                  \
    "  redis.call('DEL', Q)\n"                                                \
    "end\n"                                                                   \
    "local function finish(user)\n"                                          \
    "  local s = redis.call('HGET', A, user)\n"                               \
    "  if s then\n"                                                           \
    "    redis.call('LPUSH', E, user .. ':' .. s)\n"                         \
    "    redis.call('LTRIM', E, 0, 9999)\n"                                   \
    "  end\n"                                                                 \
    "  redis.call('HDEL', A, user)\n"                                         \
    "  redis.call('ZREM', S, user)\n"                                         \
    "  redis.call('HDEL', U, user)\n"                                         \
    "  redis.call('HINCRBY', H, 'ended', 1)\n"                                \
    "end\n"


/*
 * ARGV: user, opens_at_ms, random draw.  Returns {kind, place, serial}:
 * kind 0 new, 1 the same place, 2 already has a session; place 0 is a
 * place in the pre-queue.
 */
static char  ngx_http_ticket_lua_join[] =
    NGX_HTTP_TICKET_LUA_PROLOGUE
    "local user, at, now = ARGV[1], tonumber(ARGV[2]), 0\n"
    "if at > 0 then now = clock() open(now, at) end\n"
    "local p = redis.call('HGET', U, user)\n"
    "if p then\n"
    "  local serial = redis.call('HGET', A, user)\n"
    "  if serial then return {2, tonumber(p), tonumber(serial)} end\n"
    "  p = tonumber(p)\n"
    "  if p == 0 then return {1, 0, 0} end\n"
    "  local h = redis.call('HMGET', H, 'seq', 'expired_upto')\n"
    "  if p <= num(h[1], 0) and p > num(h[2], 0) then return {1, p, 0} end\n"
    "end\n"
    "if at > 0 and now < at then\n"
    "  redis.call('ZADD', Q, ARGV[3], user)\n"
    "  redis.call('HSET', U, user, 0)\n"
    "  return {0, 0, 0}\n"
    "end\n"
    "local seq = redis.call('HINCRBY', H, 'seq', 1)\n"
    "redis.call('HSET', U, user, seq)\n"
    "return {0, seq, 0}\n";


/*
 * ARGV: tick_ms, opens_at_ms, rate_n, rate_period_ms, capacity, grace_ms,
 * session_ms, then pairs of (last activity ms, user) of sessions seen
 * since the last push.  Ends inactive sessions, reclaims the slots of
 * admitted places whose grace ran out, and admits as many as the rate
 * budget, the per-second cap and the free capacity allow, once per tick
 * cluster-wide.  Returns the room's state for the mirror.
 */
static char  ngx_http_ticket_lua_tick[] =
    NGX_HTTP_TICKET_LUA_PROLOGUE
    "local now, tick, at = clock(), tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "open(now, at)\n"
    "for i = 8, #ARGV - 1, 2 do\n"
    "  redis.call('ZADD', S, 'XX', 'GT', ARGV[i], ARGV[i + 1])\n"
    "end\n"
    "local f = redis.call('HMGET', H, 'last_tick', 'budget', 'paused', "
    "'queue_all', 'op_rate_n', 'op_rate_ms', 'op_capacity', 'sec', 'sec_n', "
    "'seq', 'serving', 'expired_upto', 'conf_rate_n', 'conf_rate_ms', "
    "'conf_capacity')\n"
    "local rate_n = num(f[5], num(f[13], tonumber(ARGV[3])))\n"
    "local period = num(f[6], num(f[14], tonumber(ARGV[4])))\n"
    "local capacity = num(f[7], num(f[15], tonumber(ARGV[5])))\n"
    "local grace, session = tonumber(ARGV[6]), tonumber(ARGV[7])\n"
    "local last = num(f[1], -1)\n"
    "local seq, serving, upto = num(f[10], 0), num(f[11], 0), "
    "num(f[12], 0)\n"
    "local paused, qall = num(f[3], 0), num(f[4], 0)\n"
    "if last < 0 or now < last or now - last >= tick - 10 then\n"
    "  local budget = num(f[2], 0)\n"
    "  local old = redis.call('ZRANGEBYSCORE', S, '-inf', now - session, "
    "'LIMIT', 0, 1000)\n"
    "  for i = 1, #old do finish(old[i]) end\n"
    "  local gone = redis.call('ZRANGEBYSCORE', G, '-inf', now - grace, "
    "'LIMIT', 0, 5000)\n"
    "  for i = 1, #gone do\n"
    "    local p = tonumber(gone[i])\n"
    "    if p > upto then upto = p end\n"
    "    redis.call('ZREM', G, gone[i])\n"
    "  end\n"
    "  if #gone > 0 then redis.call('HINCRBY', H, 'forfeited', #gone) end\n"
    "  if last >= 0 and now > last then\n"
    "    budget = budget + rate_n * math.min(now - last, 3600000)\n"
    "  end\n"
    "  local cap = rate_n * 2 * tick\n"
    "  if cap < period then cap = period end\n"
    "  if budget > cap then budget = cap end\n"
    "  local sec, sec_n = math.floor(now / 1000), num(f[9], 0)\n"
    "  if num(f[8], -1) ~= sec then sec_n = 0 end\n"
    "  local n = 0\n"
    "  if paused == 0 and qall == 0 and now >= at then\n"
    "    n = math.min(math.floor(budget / period), seq - serving)\n"
    "    local used = redis.call('ZCARD', S) + redis.call('ZCARD', G)\n"
    "    n = math.min(n, capacity - used)\n"
    "    n = math.min(n, math.ceil(rate_n * 1000 / period) - sec_n)\n"
    "    if n < 0 then n = 0 end\n"
    "  end\n"
    "  if n > 0 then\n"
    "    local args = {}\n"
    "    for i = 1, n do\n"
    "      args[#args + 1] = int(now)\n"
    "      args[#args + 1] = int(serving + i)\n"
    "      if #args >= 2000 then\n"
    "        redis.call('ZADD', G, unpack(args))\n"
    "        args = {}\n"
    "      end\n"
    "    end\n"
    "    if #args > 0 then redis.call('ZADD', G, unpack(args)) end\n"
    "    serving = serving + n\n"
    "    budget = budget - n * period\n"
    "    redis.call('HINCRBY', H, 'admitted', n)\n"
    "  end\n"
    "  redis.call('HSET', H, 'last_tick', int(now), 'budget', int(budget), "
    "'sec', int(sec), 'sec_n', int(sec_n + n), 'serving', int(serving), "
    "'expired_upto', int(upto))\n"
    "end\n"
    "local t = redis.call('HMGET', H, 'admitted', 'converted', 'forfeited', "
    "'ended', 'opened')\n"
    "return {seq, serving, upto, redis.call('ZCARD', S), "
    "redis.call('ZCARD', G), paused, qall, rate_n, period, capacity, "
    "num(t[1], 0), num(t[2], 0), num(t[3], 0), num(t[4], 0), "
    "t[5] and 1 or 0, redis.call('ZCARD', Q), now}\n";


/*
 * ARGV: user, place.  Turns an admitted place into a session.  Returns
 * {status, serial} with the statuses of ngx_http_ticket_module.h.
 */
static char  ngx_http_ticket_lua_convert[] =
    NGX_HTTP_TICKET_LUA_PROLOGUE
    "local user, place = ARGV[1], ARGV[2]\n"
    "local serial = redis.call('HGET', A, user)\n"
    "if serial then return {2, tonumber(serial)} end\n"
    "local p = redis.call('HGET', U, user)\n"
    "if not p then return {6, 0} end\n"
    "if p ~= place then return {3, 0} end\n"
    "if redis.call('ZREM', G, place) == 1 then\n"
    "  local now = clock()\n"
    "  if redis.call('HEXISTS', H, 'serial') == 0 then\n"
    "    redis.call('HSET', H, 'serial', "
    "int(math.floor(now / 1000) * 1048576))\n"
    "  end\n"
    "  serial = redis.call('HINCRBY', H, 'serial', 1)\n"
    "  redis.call('HSET', A, user, serial)\n"
    "  redis.call('ZADD', S, int(now), user)\n"
    "  redis.call('HINCRBY', H, 'converted', 1)\n"
    "  return {2, serial}\n"
    "end\n"
    "if tonumber(p) > num(redis.call('HGET', H, 'serving'), 0) then "
    "return {1, 0} end\n"
    "return {3, 0}\n";


/* ARGV: user, serial (0: any).  Ends a session; returns 1 if it did. */
static char  ngx_http_ticket_lua_end[] =
    NGX_HTTP_TICKET_LUA_PROLOGUE
    "local s = redis.call('HGET', A, ARGV[1])\n"
    "if not s or (ARGV[2] ~= '0' and s ~= ARGV[2]) then return 0 end\n"
    "finish(ARGV[1])\n"
    "return 1\n";


/* ARGV: user, place (0: any).  Ends the session or gives the place up. */
static char  ngx_http_ticket_lua_leave[] =
    NGX_HTTP_TICKET_LUA_PROLOGUE
    "local user, place = ARGV[1], ARGV[2]\n"
    "if redis.call('HEXISTS', A, user) == 1 then finish(user) return 1 end\n"
    "local p = redis.call('HGET', U, user)\n"
    "if not p or (place ~= '0' and p ~= place) then return 0 end\n"
    "if p == '0' then redis.call('ZREM', Q, user)\n"
    "elseif redis.call('ZREM', G, p) == 1 then\n"
    "  redis.call('HINCRBY', H, 'forfeited', 1)\n"
    "end\n"
    "redis.call('HDEL', U, user)\n"
    "return 1\n";


/*
 * ARGV: pairs of (setting, value), "-" deletes the setting.  Returns
 * {paused, queue_all, rate_n, rate_ms, capacity}, -1 for "the default".
 */
static char  ngx_http_ticket_lua_admin[] =
    NGX_HTTP_TICKET_LUA_PROLOGUE
    "for i = 1, #ARGV - 1, 2 do\n"
    "  if ARGV[i + 1] == '-' then redis.call('HDEL', H, ARGV[i])\n"
    "  else redis.call('HSET', H, ARGV[i], ARGV[i + 1]) end\n"
    "end\n"
    "local f = redis.call('HMGET', H, 'paused', 'queue_all', 'op_rate_n', "
    "'op_rate_ms', 'op_capacity', 'conf_rate_n', 'conf_rate_ms', "
    "'conf_capacity')\n"
    "return {num(f[1], 0), num(f[2], 0), num(f[3], num(f[6], -1)), "
    "num(f[4], num(f[7], -1)), num(f[5], num(f[8], -1))}\n";


/* ARGV: user.  Returns the serial of the user's session, 0 if none. */
static char  ngx_http_ticket_lua_session[] =
    NGX_HTTP_TICKET_LUA_PROLOGUE
    "return num(redis.call('HGET', A, ARGV[1]), 0)\n";


/* ARGV: n.  The n sessions ended last, newest first, as "user:serial". */
static char  ngx_http_ticket_lua_ended[] =
    NGX_HTTP_TICKET_LUA_PROLOGUE
    "return redis.call('LRANGE', E, 0, tonumber(ARGV[1]) - 1)\n";


static char  *ngx_http_ticket_redis_lua[NGX_HTTP_TICKET_REDIS_SCRIPTS] = {
    ngx_http_ticket_lua_join,
    ngx_http_ticket_lua_tick,
    ngx_http_ticket_lua_convert,
    ngx_http_ticket_lua_end,
    ngx_http_ticket_lua_leave,
    ngx_http_ticket_lua_admin,
    ngx_http_ticket_lua_session,
    ngx_http_ticket_lua_ended
};


static char  *ngx_http_ticket_redis_keys[NGX_HTTP_TICKET_REDIS_KEYS] = {
    "h", "u", "q", "g", "s", "a", "e"
};


/* One Redis connection per worker process: these are the process's own. */
static ngx_http_ticket_main_conf_t  *ngx_http_ticket_redis_main;
static redisAsyncContext            *ngx_http_ticket_redis_ac;
static ngx_uint_t                    ngx_http_ticket_redis_up;
static ngx_uint_t                    ngx_http_ticket_redis_exiting;
static ngx_uint_t                    ngx_http_ticket_redis_stuck;
static ngx_msec_t                    ngx_http_ticket_redis_stuck_since;
static ngx_msec_t                    ngx_http_ticket_redis_backoff;
static ngx_uint_t                    ngx_http_ticket_redis_syncing;
static ngx_uint_t                    ngx_http_ticket_redis_configured;
static ngx_event_t                   ngx_http_ticket_redis_sync_ev;
static ngx_event_t                   ngx_http_ticket_redis_reconnect_ev;
static ngx_event_t                   ngx_http_ticket_redis_connect_ev;
static u_char    ngx_http_ticket_redis_sha[NGX_HTTP_TICKET_REDIS_SCRIPTS][41];


char *
ngx_http_ticket_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ticket_main_conf_t  *tmcf = conf;

    u_char                        *p;
    ngx_int_t                      n;
    ngx_str_t                     *value, s;
    ngx_url_t                      u;
    ngx_uint_t                     i;
    ngx_http_ticket_redis_conf_t  *rc;

    if (tmcf->redis) {
        return "is duplicate";
    }

    value = cf->args->elts;
    i = 1;

    rc = ngx_pcalloc(cf->pool, sizeof(ngx_http_ticket_redis_conf_t));
    if (rc == NULL) {
        return NGX_CONF_ERROR;
    }

    rc->addr = value[1];
    rc->timeout = 1000;
    rc->sync = 100;

    if (ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        if (value[1].len == 5) {
            goto invalid;
        }

        rc->unix_path = ngx_pnalloc(cf->pool, value[1].len - 4);
        if (rc->unix_path == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(rc->unix_path, value[1].data + 5, value[1].len - 4);

    } else {
        /*
         * Resolved here, once: hiredis would resolve a name with a
         * blocking call in the worker process.
         */
        ngx_memzero(&u, sizeof(ngx_url_t));
        u.url = value[1];
        u.default_port = 6379;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" directive: invalid address \"%V\"%s%s",
                               &cmd->name, &value[1], u.err ? ": " : "",
                               u.err ? u.err : "");
            return NGX_CONF_ERROR;
        }

        rc->host = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (rc->host == NULL) {
            return NGX_CONF_ERROR;
        }

        n = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, rc->host,
                          NGX_SOCKADDR_STRLEN, 0);
        rc->host[n] = '\0';
        rc->port = ngx_inet_get_port(u.addrs[0].sockaddr);
    }

    for (i = 2; i < cf->args->nelts; i++) {
        s = value[i];

        if (ngx_strncmp(s.data, "password=", 9) == 0 && s.len > 9) {
            rc->password.data = s.data + 9;
            rc->password.len = s.len - 9;
            continue;
        }

        if (ngx_strncmp(s.data, "db=", 3) == 0) {
            rc->db = ngx_atoi(s.data + 3, s.len - 3);

            if (rc->db == NGX_ERROR || rc->db > 65535) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(s.data, "timeout=", 8) == 0
            || ngx_strncmp(s.data, "sync=", 5) == 0)
        {
            p = (u_char *) ngx_strchr(s.data, '=') + 1;
            s.len = s.data + s.len - p;
            s.data = p;

            n = ngx_parse_time(&s, 0);

            if (n == NGX_ERROR || n <= 0) {
                goto invalid;
            }

            if (value[i].data[0] == 't') {
                rc->timeout = (ngx_msec_t) n;

            } else {
                /* The mirror may be at most 200 ms behind. */
                if (n < 10 || n > 200) {
                    goto invalid;
                }

                rc->sync = (ngx_msec_t) n;
            }

            continue;
        }

        goto invalid;
    }

    tmcf->redis = rc;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" directive: invalid value \"%V\"",
                       &cmd->name, &value[i]);
    return NGX_CONF_ERROR;
}


char *
ngx_http_ticket_redis_fallback(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ticket_main_conf_t  *tmcf = conf;

    ngx_str_t  *value;

    if (tmcf->redis_fallback != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "local") == 0) {
        tmcf->redis_fallback = 1;

    } else if (ngx_strcmp(value[1].data, "off") == 0) {
        tmcf->redis_fallback = 0;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive: invalid value \"%V\", "
                           "expected off or local", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* The room's keys, made once at configuration time. */
ngx_int_t
ngx_http_ticket_redis_room(ngx_conf_t *cf, ngx_http_ticket_room_t *room)
{
    ngx_uint_t                    i;
    ngx_str_t                    *key;
    ngx_http_ticket_main_conf_t  *tmcf;

    for (i = 0; i < NGX_HTTP_TICKET_REDIS_KEYS; i++) {
        key = &room->redis_keys[i];
        key->len = sizeof("ticket::") - 1 + room->name.len + 1;

        key->data = ngx_pnalloc(cf->pool, key->len);
        if (key->data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(key->data, "ticket:%V:%s", &room->name,
                    ngx_http_ticket_redis_keys[i]);
    }

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ticket_module);
    room->redis = tmcf->redis;

    return NGX_OK;
}


ngx_int_t
ngx_http_ticket_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_ticket_main_conf_t *tmcf)
{
    u_char         digest[SHA_DIGEST_LENGTH];
    ngx_uint_t     i;
    const u_char  *text;

    ngx_http_ticket_redis_main = tmcf;

    for (i = 0; i < NGX_HTTP_TICKET_REDIS_SCRIPTS; i++) {
        text = (const u_char *) ngx_http_ticket_redis_lua[i];
        SHA1(text, ngx_strlen(text), digest);
        ngx_hex_dump(ngx_http_ticket_redis_sha[i], digest, SHA_DIGEST_LENGTH);
        ngx_http_ticket_redis_sha[i][40] = '\0';
    }

    ngx_http_ticket_redis_sync_ev.handler = ngx_http_ticket_redis_sync_handler;
    ngx_http_ticket_redis_sync_ev.log = cycle->log;
    ngx_http_ticket_redis_sync_ev.cancelable = 1;

    ngx_http_ticket_redis_reconnect_ev.handler =
                                      ngx_http_ticket_redis_reconnect_handler;
    ngx_http_ticket_redis_reconnect_ev.log = cycle->log;
    ngx_http_ticket_redis_reconnect_ev.cancelable = 1;

    ngx_http_ticket_redis_connect_ev.handler =
                                        ngx_http_ticket_redis_connect_timeout;
    ngx_http_ticket_redis_connect_ev.log = cycle->log;
    ngx_http_ticket_redis_connect_ev.cancelable = 1;

    ngx_http_ticket_redis_backoff = 100;

    ngx_http_ticket_redis_connect();

    ngx_add_timer(&ngx_http_ticket_redis_sync_ev, tmcf->redis->sync);

    return NGX_OK;
}


/* An exiting worker process (a reload, a stop) closes its connection. */
void
ngx_http_ticket_redis_exit_process(ngx_cycle_t *cycle)
{
    redisAsyncContext  *ac;

    ngx_http_ticket_redis_exiting = 1;

    if (ngx_http_ticket_redis_sync_ev.timer_set) {
        ngx_del_timer(&ngx_http_ticket_redis_sync_ev);
    }

    if (ngx_http_ticket_redis_reconnect_ev.timer_set) {
        ngx_del_timer(&ngx_http_ticket_redis_reconnect_ev);
    }

    if (ngx_http_ticket_redis_connect_ev.timer_set) {
        ngx_del_timer(&ngx_http_ticket_redis_connect_ev);
    }

    ac = ngx_http_ticket_redis_ac;

    if (ac) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                       "ticket: closing the Redis connection");
        redisAsyncFree(ac);
    }
}


/* The zone whose flag records, for every process, that Redis is away. */
static ngx_atomic_t *
ngx_http_ticket_redis_flag(void)
{
    ngx_shm_zone_t              **zones;
    ngx_http_ticket_zone_ctx_t   *ctx;

    if (ngx_http_ticket_redis_main == NULL
        || ngx_http_ticket_redis_main->zones.nelts == 0)
    {
        return NULL;
    }

    zones = ngx_http_ticket_redis_main->zones.elts;
    ctx = zones[0]->data;

    return ctx->sh ? &ctx->sh->redis_down : NULL;
}


/*
 * Says once, for all processes, that Redis went away or became slow; the
 * first process to notice logs it, the others stay quiet.
 */
static void
ngx_http_ticket_redis_trouble(const char *what, const char *err)
{
    ngx_atomic_t  *flag;

    flag = ngx_http_ticket_redis_flag();

    if (flag && !ngx_atomic_cmp_set(flag, 0, 1)) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "ticket: Redis at \"%V\" %s%s%s; gate and status answer "
                  "from the last known state, joins get 503%s until it "
                  "is back", &ngx_http_ticket_redis_main->redis->addr, what,
                  err ? ": " : "", err ? err : "",
                  ngx_http_ticket_redis_main->redis->fallback_local
                  ? " (fallback local: they queue locally)" : "");
}


static void
ngx_http_ticket_redis_recovered(void)
{
    ngx_atomic_t  *flag;

    flag = ngx_http_ticket_redis_flag();

    if (flag && ngx_atomic_cmp_set(flag, 1, 0)) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "ticket: Redis at \"%V\" is back, the rooms resume",
                      &ngx_http_ticket_redis_main->redis->addr);
    }
}


static void
ngx_http_ticket_redis_schedule(void)
{
    if (ngx_http_ticket_redis_exiting || ngx_exiting || ngx_quit
        || ngx_terminate || ngx_http_ticket_redis_reconnect_ev.timer_set)
    {
        return;
    }

    ngx_add_timer(&ngx_http_ticket_redis_reconnect_ev,
                  ngx_http_ticket_redis_backoff);

    ngx_http_ticket_redis_backoff = ngx_min(ngx_http_ticket_redis_backoff * 2,
                                            NGX_HTTP_TICKET_REDIS_BACKOFF);
}


static void
ngx_http_ticket_redis_connect(void)
{
    ngx_connection_t              *c;
    redisAsyncContext             *ac;
    ngx_http_ticket_redis_conf_t  *conf;

    conf = ngx_http_ticket_redis_main->redis;

    if (conf->unix_path) {
        ac = redisAsyncConnectUnix((char *) conf->unix_path);

    } else {
        ac = redisAsyncConnect((char *) conf->host, (int) conf->port);
    }

    if (ac == NULL) {
        ngx_http_ticket_redis_trouble("cannot be reached", "out of memory");
        ngx_http_ticket_redis_schedule();
        return;
    }

    if (ac->err) {
        ngx_http_ticket_redis_trouble("cannot be reached", ac->errstr);
        redisAsyncFree(ac);
        ngx_http_ticket_redis_schedule();
        return;
    }

    c = ngx_get_connection(ac->c.fd, ngx_cycle->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_ticket_redis_schedule();
        return;
    }

    c->data = ac;
    c->read->handler = ngx_http_ticket_redis_read_handler;
    c->write->handler = ngx_http_ticket_redis_write_handler;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_ticket_redis_add_read;
    ac->ev.delRead = ngx_http_ticket_redis_del_read;
    ac->ev.addWrite = ngx_http_ticket_redis_add_write;
    ac->ev.delWrite = ngx_http_ticket_redis_del_write;
    ac->ev.cleanup = ngx_http_ticket_redis_cleanup;

    redisAsyncSetConnectCallback(ac, ngx_http_ticket_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_ticket_redis_disconnected);

    ngx_http_ticket_redis_ac = ac;
    ngx_http_ticket_redis_up = 0;

    /* Queued now, sent first once connected: Redis answers in order. */
    if (conf->password.len) {
        redisAsyncCommand(ac, ngx_http_ticket_redis_internal, NULL,
                          "AUTH %b", conf->password.data,
                          conf->password.len);
    }

    if (conf->db) {
        redisAsyncCommand(ac, ngx_http_ticket_redis_internal, NULL,
                          "SELECT %d", (int) conf->db);
    }

    ngx_http_ticket_redis_load_scripts();

    /* The first write event tells that the connection is made. */
    ngx_http_ticket_redis_add_write(c);

    ngx_add_timer(&ngx_http_ticket_redis_connect_ev, conf->timeout);
}


static void
ngx_http_ticket_redis_load_scripts(void)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_TICKET_REDIS_SCRIPTS; i++) {
        redisAsyncCommand(ngx_http_ticket_redis_ac,
                          ngx_http_ticket_redis_internal, NULL,
                          "SCRIPT LOAD %s", ngx_http_ticket_redis_lua[i]);
    }
}


static void
ngx_http_ticket_redis_connected(const redisAsyncContext *ac, int status)
{
    if (ngx_http_ticket_redis_connect_ev.timer_set) {
        ngx_del_timer(&ngx_http_ticket_redis_connect_ev);
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context after this: the cleanup reconnects. */
        ngx_http_ticket_redis_trouble("cannot be reached", ac->errstr);
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "ticket: connected to Redis");

    ngx_http_ticket_redis_up = 1;
    ngx_http_ticket_redis_backoff = 100;

    ngx_http_ticket_redis_recovered();

    if (!ngx_http_ticket_redis_configured && ngx_worker == 0) {
        ngx_http_ticket_redis_configured = 1;
        ngx_http_ticket_redis_configure();
    }
}


/*
 * The instance started or reloaded last sets the rooms' settings from its
 * nginx.conf for every instance (an operator's settings still win), so
 * that instances with different files do not take turns.
 */
static void
ngx_http_ticket_redis_configure(void)
{
    u_char                       *p;
    ngx_str_t                     args[6];
    ngx_uint_t                    i;
    ngx_http_ticket_room_t      **rooms, *room;
    ngx_http_ticket_redis_op_t   *op;
    u_char                        buf[3 * NGX_INT64_LEN];

    rooms = ngx_http_ticket_redis_main->rooms.elts;

    for (i = 0; i < ngx_http_ticket_redis_main->rooms.nelts; i++) {
        room = rooms[i];
        p = buf;

        ngx_str_set(&args[0], "conf_rate_n");
        args[1].data = p;
        p = ngx_sprintf(p, "%uD", room->admit.rate_n);
        args[1].len = p - args[1].data;

        ngx_str_set(&args[2], "conf_rate_ms");
        args[3].data = p;
        p = ngx_sprintf(p, "%uL", room->admit.rate_period_ms);
        args[3].len = p - args[3].data;

        ngx_str_set(&args[4], "conf_capacity");
        args[5].data = p;
        p = ngx_sprintf(p, "%uD", room->admit.capacity);
        args[5].len = p - args[5].data;

        op = ngx_http_ticket_redis_op(NULL, room, NULL);
        if (op == NULL) {
            return;
        }

        (void) ngx_http_ticket_redis_script(op, NGX_HTTP_TICKET_REDIS_ADMIN,
                                            6, args);
    }
}


static void
ngx_http_ticket_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_ticket_redis_up = 0;

    if (!ngx_http_ticket_redis_exiting) {
        ngx_http_ticket_redis_trouble("closed the connection",
                                      status == REDIS_OK ? NULL : ac->errstr);
    }
}


/*
 * Both events are edge-triggered and stay registered: the read handler
 * reads until the socket is empty, and a command is written by posting the
 * write event, so every command queued in one turn of the event loop goes
 * out in one write, without a system call to change the interest.
 */
static void
ngx_http_ticket_redis_add_read(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_CLEAR_EVENT);
    }
}


static void
ngx_http_ticket_redis_del_read(void *data)
{
    ngx_connection_t  *c = data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_ticket_redis_add_write(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->write->active) {
        /* The first edge says that the connection is made. */
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_CLEAR_EVENT);
        return;
    }

    if (c->write->ready && !c->write->posted) {
        ngx_post_event(c->write, &ngx_posted_events);
    }

    /* Not ready: the socket was full, its next edge writes the rest. */
}


static void
ngx_http_ticket_redis_del_write(void *data)
{
    /* Registered for good: an edge-triggered event costs nothing idle. */
}


static void
ngx_http_ticket_redis_del_events(ngx_connection_t *c)
{
    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/*
 * hiredis is done with the context (an error, a disconnect or our free):
 * the descriptor leaves the event loop and a new connection is planned.
 * Every pending callback has been called with a NULL reply by now.
 */
static void
ngx_http_ticket_redis_cleanup(void *data)
{
    ngx_connection_t  *c = data;

    ngx_http_ticket_redis_del_read(c);
    ngx_http_ticket_redis_del_events(c);

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    ngx_http_ticket_redis_ac = NULL;
    ngx_http_ticket_redis_up = 0;
    ngx_http_ticket_redis_stuck = 0;
    ngx_http_ticket_redis_syncing = 0;

    if (ngx_http_ticket_redis_connect_ev.timer_set) {
        ngx_del_timer(&ngx_http_ticket_redis_connect_ev);
    }

    ngx_http_ticket_redis_schedule();
}


static void
ngx_http_ticket_redis_read_handler(ngx_event_t *rev)
{
    int                 n;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    c = rev->data;
    ac = c->data;

    /*
     * hiredis reads at most 16 KB per call: read on while the socket has
     * more (the event is edge-triggered, it will not say so again).
     */
    for ( ;; ) {
        redisAsyncHandleRead(ac);

        if (ngx_http_ticket_redis_ac != ac) {
            /* Freed in a callback: the connection is gone too. */
            return;
        }

        if (ioctl(c->fd, FIONREAD, &n) == -1 || n <= 0) {
            break;
        }
    }
}


static void
ngx_http_ticket_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    c = wev->data;
    ac = c->data;

    redisAsyncHandleWrite(ac);

    if (ngx_http_ticket_redis_ac == ac) {
        /* Something left means the socket is full: wait for its edge. */
        wev->ready = sdslen(ac->c.obuf) == 0;
    }
}


ngx_uint_t
ngx_http_ticket_redis_ready(void)
{
    return ngx_http_ticket_redis_ac != NULL && ngx_http_ticket_redis_up
           && ngx_http_ticket_redis_stuck == 0;
}


ngx_http_ticket_redis_op_t *
ngx_http_ticket_redis_op(ngx_http_request_t *r, ngx_http_ticket_room_t *room,
    ngx_http_ticket_redis_done_pt done)
{
    ngx_log_t                   *log;
    ngx_pool_cleanup_t          *cln;
    ngx_http_ticket_redis_op_t  *op;

    log = r ? r->connection->log : ngx_cycle->log;

    op = ngx_calloc(sizeof(ngx_http_ticket_redis_op_t), log);
    if (op == NULL) {
        return NULL;
    }

    op->r = r;
    op->room = room;
    op->done = done;
    op->rc = NGX_ERROR;
    op->timer.handler = ngx_http_ticket_redis_timeout;
    op->timer.data = op;
    op->timer.log = ngx_cycle->log;

    /* A request waits for its answer; background commands do not hold. */
    op->timer.cancelable = r ? 0 : 1;

    if (r) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            ngx_free(op);
            return NULL;
        }

        cln->handler = ngx_http_ticket_redis_detach;
        cln->data = op;
        op->cln = cln;
    }

    return op;
}


static void
ngx_http_ticket_redis_free(ngx_http_ticket_redis_op_t *op)
{
    if (op->cln) {
        op->cln->handler = NULL;
        op->cln = NULL;
    }

    ngx_free(op);
}


/* The request is being freed: a late reply must not touch it. */
static void
ngx_http_ticket_redis_detach(void *data)
{
    ngx_http_ticket_redis_op_t  *op = data;

    op->r = NULL;
    op->cln = NULL;
}


static ngx_int_t
ngx_http_ticket_redis_send(ngx_http_ticket_redis_op_t *op, int argc,
    const char **argv, const size_t *lens)
{
    if (!ngx_http_ticket_redis_ready()
        || redisAsyncCommandArgv(ngx_http_ticket_redis_ac,
                                 ngx_http_ticket_redis_reply, op, argc, argv,
                                 lens)
           != REDIS_OK)
    {
        ngx_http_ticket_redis_free(op);
        return NGX_ERROR;
    }

    ngx_add_timer(&op->timer, ngx_http_ticket_redis_main->redis->timeout);

    return NGX_OK;
}


/*
 * Sends EVALSHA of a script on the op's room.  On NGX_ERROR the op is
 * freed already and the caller answers without Redis.
 */
ngx_int_t
ngx_http_ticket_redis_script_ids(ngx_http_ticket_redis_op_t *op,
    ngx_uint_t script, ngx_uint_t nids, uint64_t id0, uint64_t id1)
{
    u_char     *p;
    ngx_str_t   args[2];
    u_char      buf[2 * NGX_INT64_LEN];

    p = buf;
    args[0].data = p;
    p = ngx_sprintf(p, "%uL", id0);
    args[0].len = p - args[0].data;
    args[1].data = p;
    p = ngx_sprintf(p, "%uL", id1);
    args[1].len = p - args[1].data;

    return ngx_http_ticket_redis_script(op, script, nids, args);
}


ngx_int_t
ngx_http_ticket_redis_script(ngx_http_ticket_redis_op_t *op,
    ngx_uint_t script, ngx_uint_t nargs, ngx_str_t *args)
{
    int          argc;
    ngx_uint_t   i;
    const char  *argv[NGX_HTTP_TICKET_REDIS_ARGS];
    size_t       lens[NGX_HTTP_TICKET_REDIS_ARGS];

    if (nargs + 3 + NGX_HTTP_TICKET_REDIS_KEYS > NGX_HTTP_TICKET_REDIS_ARGS) {
        ngx_http_ticket_redis_free(op);
        return NGX_ERROR;
    }

    argv[0] = "EVALSHA";
    lens[0] = 7;
    argv[1] = (const char *) ngx_http_ticket_redis_sha[script];
    lens[1] = 40;
    argv[2] = "7";
    lens[2] = 1;
    argc = 3;

    for (i = 0; i < NGX_HTTP_TICKET_REDIS_KEYS; i++) {
        argv[argc] = (const char *) op->room->redis_keys[i].data;
        lens[argc++] = op->room->redis_keys[i].len;
    }

    for (i = 0; i < nargs; i++) {
        argv[argc] = (const char *) args[i].data;
        lens[argc++] = args[i].len;
    }

    return ngx_http_ticket_redis_send(op, argc, argv, lens);
}


static void
ngx_http_ticket_redis_parse(ngx_http_ticket_redis_op_t *op, redisReply *rep)
{
    size_t       i;
    redisReply  *e;

    op->rc = NGX_OK;
    op->nresults = 0;

    switch (rep->type) {

    case REDIS_REPLY_INTEGER:
        op->results[op->nresults++] = rep->integer;
        break;

    case REDIS_REPLY_STRING:
        op->results[op->nresults++] = ngx_atoof((u_char *) rep->str,
                                                rep->len);
        break;

    case REDIS_REPLY_NIL:
        op->nil = 1;
        break;

    case REDIS_REPLY_ARRAY:
        for (i = 0; i < rep->elements && i < NGX_HTTP_TICKET_REDIS_RESULTS;
             i++)
        {
            e = rep->element[i];
            op->results[op->nresults++] =
                e->type == REDIS_REPLY_INTEGER ? e->integer : 0;
        }

        break;

    case REDIS_REPLY_ERROR:
        op->rc = NGX_ERROR;

        if (rep->len >= 8 && ngx_strncmp(rep->str, "NOSCRIPT", 8) == 0) {
            /* Flushed or restarted under us: load them again. */
            ngx_http_ticket_redis_load_scripts();
        }

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ticket: Redis error: %*s", rep->len, rep->str);
        break;

    default:
        break;
    }
}


static void
ngx_http_ticket_redis_reply(redisAsyncContext *ac, void *reply, void *data)
{
    ngx_http_ticket_redis_op_t  *op = data;

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    if (op->timedout && ngx_http_ticket_redis_stuck) {
        if (--ngx_http_ticket_redis_stuck == 0 && reply) {
            /* The late answers are in: Redis is answering again. */
            ngx_http_ticket_redis_recovered();
        }
    }

    if (!op->finished) {
        if (reply && op->reply) {
            /* The reply is valid only here: read it now. */
            op->reply(op, reply);

        } else if (reply) {
            ngx_http_ticket_redis_parse(op, reply);
        }

        ngx_http_ticket_redis_finish(op);
    }

    ngx_http_ticket_redis_free(op);
}


static void
ngx_http_ticket_redis_internal(redisAsyncContext *ac, void *reply, void *data)
{
    redisReply  *rep = reply;

    if (rep && rep->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ticket: Redis error: %*s", rep->len, rep->str);
    }
}


/* Hands the outcome to whoever waits, exactly once. */
static void
ngx_http_ticket_redis_finish(ngx_http_ticket_redis_op_t *op)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    op->finished = 1;

    if (op->cln) {
        op->cln->handler = NULL;
        op->cln = NULL;
    }

    r = op->r;
    op->r = NULL;

    if (r) {
        c = r->connection;
        op->done(r, op);
        ngx_http_run_posted_requests(c);
        return;
    }

    if (op->timer.cancelable && op->done) {
        /* A background command: a sync or a release. */
        op->done(NULL, op);
    }
}


static void
ngx_http_ticket_redis_timeout(ngx_event_t *ev)
{
    ngx_http_ticket_redis_op_t  *op = ev->data;

    op->timedout = 1;
    op->rc = NGX_ERROR;

    if (ngx_http_ticket_redis_stuck++ == 0) {
        ngx_http_ticket_redis_stuck_since = ngx_current_msec;
        ngx_http_ticket_redis_trouble("did not answer in time", NULL);
    }

    ngx_http_ticket_redis_finish(op);
}


ngx_int_t
ngx_http_ticket_redis_retry_after(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    ngx_str_set(&h->value, "2");

    return NGX_OK;
}


static void
ngx_http_ticket_redis_reconnect_handler(ngx_event_t *ev)
{
    if (ngx_http_ticket_redis_ac == NULL && !ngx_http_ticket_redis_exiting
        && !ngx_exiting && !ngx_quit && !ngx_terminate)
    {
        ngx_http_ticket_redis_connect();
    }
}


static void
ngx_http_ticket_redis_connect_timeout(ngx_event_t *ev)
{
    if (ngx_http_ticket_redis_ac && !ngx_http_ticket_redis_up) {
        ngx_http_ticket_redis_trouble("cannot be reached",
                                      "connection timed out");
        redisAsyncFree(ngx_http_ticket_redis_ac);
    }
}


/*
 * Every sync interval each worker process sends the tick of each room and
 * mirrors the answer; the tick itself runs once per interval cluster-wide.
 */
static void
ngx_http_ticket_redis_sync_handler(ngx_event_t *ev)
{
    u_char                         *p;
    int64_t                         ms[NGX_HTTP_TICKET_REDIS_TOUCHES];
    uint64_t                        users[NGX_HTTP_TICKET_REDIS_TOUCHES];
    ngx_str_t                       args[NGX_HTTP_TICKET_REDIS_ARGS];
    ngx_uint_t                      i, k, n;
    ngx_msec_t                      limit;
    ngx_http_ticket_room_t        **rooms, *room;
    ngx_http_ticket_redis_op_t     *op;
    ngx_http_ticket_redis_conf_t   *conf;
    u_char                          buf[NGX_HTTP_TICKET_REDIS_ARGS
                                        * NGX_INT64_LEN];

    if (ngx_exiting || ngx_quit || ngx_terminate
        || ngx_http_ticket_redis_exiting)
    {
        return;
    }

    conf = ngx_http_ticket_redis_main->redis;
    ngx_add_timer(ev, conf->sync);

    if (ngx_http_ticket_redis_ac == NULL || !ngx_http_ticket_redis_up) {
        return;
    }

    if (ngx_http_ticket_redis_stuck) {
        limit = ngx_max(4 * conf->timeout, 1000);

        if (ngx_current_msec - ngx_http_ticket_redis_stuck_since > limit) {
            ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                          "ticket: Redis has not answered for %M ms, "
                          "reconnecting", limit);
            redisAsyncFree(ngx_http_ticket_redis_ac);
        }

        return;
    }

    if (ngx_http_ticket_redis_syncing) {
        return;
    }

    rooms = ngx_http_ticket_redis_main->rooms.elts;

    for (i = 0; i < ngx_http_ticket_redis_main->rooms.nelts; i++) {
        room = rooms[i];

        if (room->redis == NULL || room->sh == NULL) {
            continue;
        }

        p = buf;

#define ngx_http_ticket_arg(k, fmt, v)                                        \
        args[k].data = p;                                                     \
        p = ngx_sprintf(p, fmt, v);                                           \
        args[k].len = p - args[k].data

        ngx_http_ticket_arg(0, "%d", TICKET_ADMIT_TICK_MS);
        ngx_http_ticket_arg(1, "%L", room->admit.opens_at_ms);
        ngx_http_ticket_arg(2, "%uD", room->admit.rate_n);
        ngx_http_ticket_arg(3, "%uL", room->admit.rate_period_ms);
        ngx_http_ticket_arg(4, "%uD", room->admit.capacity);
        ngx_http_ticket_arg(5, "%uL", room->admit.grace_ms);
        ngx_http_ticket_arg(6, "%M", room->session);

        n = ngx_http_ticket_room_touched(room, users, ms,
                                         NGX_HTTP_TICKET_REDIS_TOUCHES);

        for (k = 0; k < n; k++) {
            ngx_http_ticket_arg(7 + 2 * k, "%L", ms[k]);
            ngx_http_ticket_arg(8 + 2 * k, "%uL", users[k]);
        }

#undef ngx_http_ticket_arg

        op = ngx_http_ticket_redis_op(NULL, room,
                                      ngx_http_ticket_redis_synced);
        if (op == NULL) {
            return;
        }

        if (ngx_http_ticket_redis_script(op, NGX_HTTP_TICKET_REDIS_TICK,
                                         7 + 2 * n, args)
            == NGX_OK)
        {
            ngx_http_ticket_redis_syncing++;
        }
    }
}


static void
ngx_http_ticket_redis_synced(ngx_http_request_t *r,
    ngx_http_ticket_redis_op_t *op)
{
    u_char                       buf[NGX_INT64_LEN];
    int64_t                     *v;
    uint64_t                     n;
    ngx_str_t                    args[1];
    ngx_http_ticket_mirror_t     m;
    ngx_http_ticket_redis_op_t  *ended;

    if (ngx_http_ticket_redis_syncing) {
        ngx_http_ticket_redis_syncing--;
    }

    if (op->rc != NGX_OK || op->nresults < 17) {
        return;
    }

    v = op->results;

    ngx_memzero(&m, sizeof(ngx_http_ticket_mirror_t));

    m.admit.seq = (uint64_t) v[0];
    m.admit.serving = (uint64_t) v[1];
    m.admit.expired_upto = (uint64_t) v[2];
    m.admit.active = (uint32_t) v[3];
    m.admit.pending = (uint32_t) v[4];
    m.admit.paused = (uint32_t) (v[5] != 0);
    m.queue_all = v[6] != 0;
    m.admit.rate_n = (uint32_t) v[7];
    m.admit.rate_period_ms = (uint64_t) v[8];
    m.admit.capacity = (uint32_t) v[9];
    m.admit.admitted_total = (uint64_t) v[10];
    m.admit.converted_total = (uint64_t) v[11];
    m.admit.forfeited_total = (uint64_t) v[12];
    m.admit.ended_total = (uint64_t) v[13];
    m.opened = v[14] != 0;
    m.prequeued = (uint64_t) v[15];

    n = ngx_http_ticket_room_mirror(op->room, &m, ngx_http_ticket_now_ms());

    if (n == 0) {
        return;
    }

    /*
     * Sessions ended since the last look (released or left on another
     * instance, or inactive): this instance forgets them too.
     */
    args[0].data = buf;
    args[0].len = ngx_sprintf(buf, "%uL", n) - buf;

    ended = ngx_http_ticket_redis_op(NULL, op->room, NULL);
    if (ended == NULL) {
        return;
    }

    ended->reply = ngx_http_ticket_redis_ended;

    (void) ngx_http_ticket_redis_script(ended, NGX_HTTP_TICKET_REDIS_ENDED, 1,
                                        args);
}


static void
ngx_http_ticket_redis_ended(ngx_http_ticket_redis_op_t *op, void *reply)
{
    u_char      *colon;
    size_t       i;
    uint64_t     user, serial;
    redisReply  *rep, *e;

    rep = reply;

    if (rep->type != REDIS_REPLY_ARRAY) {
        return;
    }

    for (i = 0; i < rep->elements; i++) {
        e = rep->element[i];

        if (e->type != REDIS_REPLY_STRING) {
            continue;
        }

        colon = ngx_strlchr((u_char *) e->str, (u_char *) e->str + e->len,
                            ':');
        if (colon == NULL) {
            continue;
        }

        user = (uint64_t) ngx_atoof((u_char *) e->str,
                                    colon - (u_char *) e->str);
        serial = (uint64_t) ngx_atoof(colon + 1,
                                      (u_char *) e->str + e->len - colon - 1);

        if (user != (uint64_t) NGX_ERROR && serial != (uint64_t) NGX_ERROR) {
            (void) ngx_http_ticket_room_end(op->room, user, serial);
        }
    }
}
