/*
 * The gate: protected locations let only admitted sessions through, from
 * shared memory alone, and a header filter ends a session when the backend
 * answers with X-Ticket-Release.
 */

#include "ngx_http_ticket_module.h"
#include "ngx_http_ticket_zone.h"
#include "ngx_http_ticket_redis.h"


static ngx_int_t ngx_http_ticket_gate_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ticket_gate_room(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_http_ticket_ctx_t *ctx);
static ngx_int_t ngx_http_ticket_gate_any(ngx_http_request_t *r,
    ngx_http_ticket_ctx_t *ctx);
static ngx_int_t ngx_http_ticket_refuse(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_uint_t status, char *code,
    char *message, ngx_http_ticket_standing_t *st);
static ngx_int_t ngx_http_ticket_release_filter(ngx_http_request_t *r);
static void ngx_http_ticket_release_redis(ngx_http_ticket_room_t *room,
    uint64_t user, uint64_t serial);
static ngx_int_t ngx_http_ticket_gate_converted(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_http_ticket_ctx_t *ctx,
    ngx_http_ticket_standing_t *st, uint64_t user, ngx_uint_t rc,
    uint64_t serial);
static ngx_int_t ngx_http_ticket_gate_redis(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_http_ticket_ctx_t *ctx,
    ngx_uint_t script, uint64_t user, uint64_t number);
static void ngx_http_ticket_gate_done(ngx_http_request_t *r,
    ngx_http_ticket_redis_op_t *op);
static void ngx_http_ticket_gate_pass(ngx_http_ticket_ctx_t *ctx,
    ngx_http_ticket_room_t *room, uint64_t user, uint64_t serial);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


ngx_int_t
ngx_http_ticket_gate_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /*
     * The rewrite phase, so that "return" and "rewrite" in a protected
     * location are gated too and "satisfy any" cannot bypass the gate.  A
     * phase runs its handlers in reverse order of registration, and this
     * module registers after the static rewrite module, so the gate comes
     * first.
     */
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ticket_gate_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ticket_release_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ticket_gate_handler(ngx_http_request_t *r)
{
    ngx_str_t                     name;
    ngx_http_ticket_ctx_t        *ctx;
    ngx_http_ticket_room_t       *room;
    ngx_http_ticket_loc_conf_t   *tlcf;
    ngx_http_ticket_main_conf_t  *tmcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_ticket_module);

    /*
     * The waiting page and the operators' location must stay reachable
     * even when a gate is inherited from the server level.
     */
    if (tlcf->gate == NGX_HTTP_TICKET_GATE_OFF || tlcf->status == 1
        || tlcf->queue_room || tlcf->queue_value)
    {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_ticket_module);

    if (ctx) {
        if (ctx->waiting) {
            /*
             * The phases run again while Redis has not answered (a write
             * event of a keep-alive connection): the request still waits.
             */
            return NGX_DONE;
        }

        if (ctx->resumed) {
            /* Redis answered while the request waited: the decision. */
            ctx->resumed = 0;
            return ctx->gate_rc;
        }

        /* Already decided, e.g. before an internal redirect. */
        return NGX_DECLINED;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ticket_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_ticket_module);

    if (tlcf->gate == NGX_HTTP_TICKET_GATE_ROOM) {
        return ngx_http_ticket_gate_room(r, tlcf->gate_room, ctx);
    }

    if (ngx_http_complex_value(r, tlcf->gate_value, &name) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (name.len == 0) {
        return ngx_http_ticket_gate_any(r, ctx);
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_ticket_module);
    room = ngx_http_ticket_find_room(tmcf, name.data, name.len);

    if (room == NULL) {
        /* A map that names a room nobody configured: fail closed. */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ticket_gate: unknown room \"%V\"", &name);

        ngx_http_discard_request_body(r);

        return ngx_http_ticket_finalize(r,
                   ngx_http_ticket_send_error(r,
                       NGX_HTTP_SERVICE_UNAVAILABLE, "ROOM_UNAVAILABLE",
                       "this sale has no waiting room configured"));
    }

    return ngx_http_ticket_gate_room(r, room, ctx);
}


static ngx_int_t
ngx_http_ticket_gate_room(ngx_http_request_t *r, ngx_http_ticket_room_t *room,
    ngx_http_ticket_ctx_t *ctx)
{
    int64_t                     now;
    uint64_t                    serial, user;
    ngx_uint_t                  rc;
    ngx_http_ticket_creds_t     creds;
    ngx_http_ticket_standing_t  st;

    ngx_http_ticket_read_creds(r, room, &creds);
    now = ngx_http_ticket_now_ms();

    if (creds.access_rc == NGX_HTTP_TICKET_TOKEN_OK) {
        if (ngx_http_ticket_room_session(room, creds.access.user_id,
                                         creds.access.number, now)
            == NGX_OK)
        {
            ngx_http_ticket_gate_pass(ctx, room, creds.access.user_id,
                                      creds.access.number);
            return NGX_DECLINED;
        }

        if (room->redis) {
            /* Admitted on another instance: Redis knows the session. */
            return ngx_http_ticket_gate_redis(r, room, ctx,
                                              NGX_HTTP_TICKET_REDIS_SESSION,
                                              creds.access.user_id,
                                              creds.access.number);
        }
    }

    if (creds.queue_rc != NGX_HTTP_TICKET_TOKEN_OK) {
        if (creds.access_rc == NGX_HTTP_TICKET_TOKEN_OK) {
            return ngx_http_ticket_refuse(r, room, NGX_HTTP_UNAUTHORIZED,
                                          "SESSION_ENDED",
                                          "the admitted session has ended",
                                          NULL);
        }

        if (creds.queue_rc != NGX_HTTP_TICKET_TOKEN_NONE
            || creds.access_rc != NGX_HTTP_TICKET_TOKEN_NONE)
        {
            return ngx_http_ticket_refuse(r, room, NGX_HTTP_UNAUTHORIZED,
                                          "INVALID_TOKEN",
                                          "the waiting room token is invalid",
                                          NULL);
        }

        return ngx_http_ticket_refuse(r, room, NGX_HTTP_UNAUTHORIZED,
                                      "NO_TOKEN",
                                      "join the waiting room first", NULL);
    }

    /* A queue token whose turn has come becomes a session right here. */
    user = creds.queue.user_id;
    ngx_http_ticket_room_standing(room, creds.queue.number, now, &st);

    if (st.status != NGX_HTTP_TICKET_ADMITTED) {
        return ngx_http_ticket_gate_converted(r, room, ctx, &st, user,
                                              st.status, 0);
    }

    if (room->redis) {
        return ngx_http_ticket_gate_redis(r, room, ctx,
                                          NGX_HTTP_TICKET_REDIS_CONVERT, user,
                                          creds.queue.number);
    }

    rc = ngx_http_ticket_room_convert(room, user, creds.queue.number, now,
                                      &serial);

    return ngx_http_ticket_gate_converted(r, room, ctx, &st, user, rc, serial);
}


static void
ngx_http_ticket_gate_pass(ngx_http_ticket_ctx_t *ctx,
    ngx_http_ticket_room_t *room, uint64_t user, uint64_t serial)
{
    ctx->room = room;
    ctx->user = user;
    ctx->serial = serial;
    ctx->status = NGX_HTTP_TICKET_ADMITTED;
    ctx->session = 1;
}


static ngx_int_t
ngx_http_ticket_gate_converted(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_http_ticket_ctx_t *ctx,
    ngx_http_ticket_standing_t *st, uint64_t user, ngx_uint_t rc,
    uint64_t serial)
{
    ngx_str_t  token;

    if (rc == NGX_HTTP_TICKET_ADMITTED) {
        if (ngx_http_ticket_issue(r, room, TICKET_TOKEN_ACCESS, user, serial,
                                  &token)
            != NGX_OK
            || ngx_http_ticket_set_cookie(r, &room->cookie_access, &token,
                                          room->access_ttl)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_ticket_gate_pass(ctx, room, user, serial);

        return NGX_DECLINED;
    }

    st->status = rc;

    if (st->status == NGX_HTTP_TICKET_WAITING
        || st->status == NGX_HTTP_TICKET_PAUSED)
    {
        return ngx_http_ticket_refuse(r, room, NGX_HTTP_FORBIDDEN,
                                      "NOT_ADMITTED",
                                      "waiting in line for this sale", st);
    }

    return ngx_http_ticket_refuse(r, room, NGX_HTTP_FORBIDDEN,
                                  "PLACE_EXPIRED",
                                  "the place in line has expired; join again",
                                  st);
}


/*
 * A location with no room of its own (holds, payments) lets everybody
 * through, but names the admitted session it finds so the backend can
 * check the room itself.
 */
static ngx_int_t
ngx_http_ticket_gate_any(ngx_http_request_t *r, ngx_http_ticket_ctx_t *ctx)
{
    u_char                       *pos, *end;
    int64_t                       now;
    uint64_t                      user;
    ngx_str_t                     name, value;
    ngx_uint_t                    i, rc;
    ngx_table_elt_t             **cookies;
    ticket_token_t                tok;
    ngx_http_ticket_room_t       *room;
    ngx_http_ticket_creds_t       creds;
    ngx_http_ticket_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_ticket_module);
    now = ngx_http_ticket_now_ms();

    /* Only the session cookie's user, if any. */
    ngx_http_ticket_read_creds(r, NULL, &creds);

    user = (creds.session_rc == NGX_HTTP_TICKET_TOKEN_OK
            || creds.session_rc == NGX_HTTP_TICKET_TOKEN_EXPIRED)
           ? creds.session.user_id : 0;

    if (creds.access_rc == NGX_HTTP_TICKET_TOKEN_OK) {
        room = ngx_http_ticket_find_room(tmcf, creds.access.room,
                                         creds.access.room_len);

        if (room
            && ngx_http_ticket_room_session(room, creds.access.user_id,
                                            creds.access.number, now)
               == NGX_OK)
        {
            goto found;
        }
    }

    cookies = r->headers_in.cookies.elts;

    for (i = 0; i < r->headers_in.cookies.nelts; i++) {
        pos = cookies[i]->value.data;
        end = pos + cookies[i]->value.len;

        while (ngx_http_ticket_next_cookie(&pos, end, &name, &value)
               == NGX_OK)
        {
            if (name.len <= sizeof(NGX_HTTP_TICKET_ACCESS_PREFIX) - 1
                || ngx_strncmp(name.data, NGX_HTTP_TICKET_ACCESS_PREFIX,
                               sizeof(NGX_HTTP_TICKET_ACCESS_PREFIX) - 1)
                   != 0)
            {
                continue;
            }

            room = ngx_http_ticket_find_room(tmcf,
                       name.data + sizeof(NGX_HTTP_TICKET_ACCESS_PREFIX) - 1,
                       name.len - (sizeof(NGX_HTTP_TICKET_ACCESS_PREFIX) - 1));
            if (room == NULL) {
                continue;
            }

            rc = ngx_http_ticket_check_token(r, &value, TICKET_TOKEN_ACCESS,
                                             room, user, &tok);

            if (rc == NGX_HTTP_TICKET_TOKEN_OK
                && ngx_http_ticket_room_session(room, tok.user_id,
                                                tok.number, now)
                   == NGX_OK)
            {
                creds.access = tok;
                goto found;
            }
        }
    }

    ctx->status = NGX_HTTP_TICKET_NONE;

    return NGX_DECLINED;

found:

    ctx->room = room;
    ctx->user = creds.access.user_id;
    ctx->serial = creds.access.number;
    ctx->status = NGX_HTTP_TICKET_ADMITTED;
    ctx->session = 1;

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_ticket_refuse(ngx_http_request_t *r, ngx_http_ticket_room_t *room,
    ngx_uint_t status, char *code, char *message,
    ngx_http_ticket_standing_t *st)
{
    u_char           *body, *p;
    ngx_str_t         type = ngx_string("application/json");
    ngx_table_elt_t  *h;

    ngx_http_discard_request_body(r);

    if (!ngx_http_ticket_wants_json(r)) {
        /* Browsers go to the waiting page, which explains the rest. */
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Location");
        h->value = room->queue_url;

        ngx_http_clear_location(r);
        r->headers_out.location = h;

        return NGX_HTTP_MOVED_TEMPORARILY;
    }

    body = ngx_pnalloc(r->pool, 1024);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\","
                    "\"room\":\"%V\",\"queue\":\"%V\"",
                    code, message, &room->name, &room->queue_url);

    if (st) {
        p = ngx_sprintf(p, ",\"status\":\"%s\",\"position\":%uL",
                        ngx_http_ticket_status_name(st->status),
                        st->position);
    }

    p = ngx_cpymem(p, "}}\n", 3);

    return ngx_http_ticket_finalize(r,
               ngx_http_ticket_send(r, status, &type, body, p - body));
}


/* The slot is freed in Redis for every instance; nobody waits for it. */
static void
ngx_http_ticket_release_redis(ngx_http_ticket_room_t *room, uint64_t user,
    uint64_t serial)
{
    ngx_http_ticket_redis_op_t  *op;

    op = ngx_http_ticket_redis_op(NULL, room, NULL);
    if (op == NULL) {
        return;
    }

    if (ngx_http_ticket_redis_script_ids(op, NGX_HTTP_TICKET_REDIS_END, 2,
                                         user, serial)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "ticket: the release of user %uL in room \"%V\" "
                      "did not reach Redis; the session ends by inactivity",
                      user, &room->name);
    }
}


static ngx_int_t
ngx_http_ticket_release_filter(ngx_http_request_t *r)
{
    ngx_str_t               empty = ngx_null_string;
    ngx_table_elt_t        *h;
    ngx_http_ticket_ctx_t  *ctx;

    if (r != r->main || r->upstream == NULL) {
        return ngx_http_next_header_filter(r);
    }

    h = ngx_http_ticket_header(&r->headers_out.headers, "X-Ticket-Release",
                               sizeof("X-Ticket-Release") - 1);

    if (h == NULL) {
        return ngx_http_next_header_filter(r);
    }

    /* The client never sees it, whoever sent it. */
    h->hash = 0;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ticket_module);

    if (ctx && ctx->session && ctx->room && ctx->room->redis) {
        ngx_http_ticket_release_redis(ctx->room, ctx->user, ctx->serial);
    }

    if (ctx && ctx->session && ctx->room
        && (ngx_http_ticket_room_end(ctx->room, ctx->user, ctx->serial)
            == NGX_OK || ctx->room->redis))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ticket: session of user %uL in room \"%V\" released",
                      ctx->user, &ctx->room->name);

        if (ngx_http_ticket_set_cookie(r, &ctx->room->cookie_access, &empty, 0)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ctx->session = 0;
    }

    return ngx_http_next_header_filter(r);
}


/*
 * Asks Redis, with the request waiting under a timer, whether a session
 * exists (NGX_HTTP_TICKET_REDIS_SESSION) or to turn an admitted place
 * into one (NGX_HTTP_TICKET_REDIS_CONVERT).
 */
static ngx_int_t
ngx_http_ticket_gate_redis(ngx_http_request_t *r, ngx_http_ticket_room_t *room,
    ngx_http_ticket_ctx_t *ctx, ngx_uint_t script, uint64_t user,
    uint64_t number)
{
    ngx_http_ticket_redis_op_t  *op;

    op = ngx_http_ticket_redis_op(r, room, ngx_http_ticket_gate_done);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->user = user;
    op->number = number;
    op->arg = script;

    if (ngx_http_ticket_redis_script_ids(op, script,
                                         script == NGX_HTTP_TICKET_REDIS_SESSION
                                         ? 1 : 2, user, number)
        == NGX_OK)
    {
        /*
         * Nothing runs the phases until the answer: a write event would
         * otherwise take the request past the gate, and the answer would
         * then resume it a second time.
         */
        ctx->waiting = 1;
        r->write_event_handler = ngx_http_request_empty_handler;
        r->main->count++;
        return NGX_DONE;
    }

    if (script == NGX_HTTP_TICKET_REDIS_SESSION) {
        /* Redis is away: a signed access token keeps its access. */
        (void) ngx_http_ticket_room_adopt(room, user, number,
                                          ngx_http_ticket_now_ms());
        ngx_http_ticket_gate_pass(ctx, room, user, number);

        return NGX_DECLINED;
    }

    if (ngx_http_ticket_redis_retry_after(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_ticket_refuse(r, room, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "ROOM_UNAVAILABLE",
                                  "the waiting room cannot be reached; try "
                                  "again in a moment", NULL);
}


static void
ngx_http_ticket_gate_done(ngx_http_request_t *r,
    ngx_http_ticket_redis_op_t *op)
{
    int64_t                      now;
    ngx_int_t                    rc;
    ngx_http_ticket_ctx_t       *ctx;
    ngx_http_ticket_standing_t   st;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ticket_module);
    now = ngx_http_ticket_now_ms();

    ctx->waiting = 0;

    if (op->arg == NGX_HTTP_TICKET_REDIS_SESSION) {
        if (op->rc != NGX_OK
            || (op->nresults && (uint64_t) op->results[0] == op->number))
        {
            /* Known to Redis, or Redis is away: the token's word holds. */
            (void) ngx_http_ticket_room_adopt(op->room, op->user, op->number,
                                              now);
            ngx_http_ticket_gate_pass(ctx, op->room, op->user, op->number);
            rc = NGX_DECLINED;

        } else {
            rc = ngx_http_ticket_refuse(r, op->room, NGX_HTTP_UNAUTHORIZED,
                                        "SESSION_ENDED",
                                        "the admitted session has ended",
                                        NULL);
        }

    } else if (op->rc != NGX_OK || op->nresults < 2) {
        rc = ngx_http_ticket_redis_retry_after(r) == NGX_OK
             ? ngx_http_ticket_refuse(r, op->room,
                                      NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "ROOM_UNAVAILABLE",
                                      "the waiting room cannot be reached; "
                                      "try again in a moment", NULL)
             : NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        if (op->results[0] == NGX_HTTP_TICKET_ADMITTED) {
            (void) ngx_http_ticket_room_adopt(op->room, op->user,
                                              (uint64_t) op->results[1], now);
        }

        ngx_http_ticket_room_standing(op->room, op->number, now, &st);

        rc = ngx_http_ticket_gate_converted(r, op->room, ctx, &st, op->user,
                                            (ngx_uint_t) op->results[0],
                                            (uint64_t) op->results[1]);
    }

    if (rc != NGX_DONE) {
        /* Not answered yet: the phases go on from the gate. */
        ctx->gate_rc = rc;
        ctx->resumed = 1;
        r->write_event_handler = ngx_http_core_run_phases;
        ngx_http_core_run_phases(r);
    }

    ngx_http_finalize_request(r, NGX_DONE);
}
