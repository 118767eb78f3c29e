/*
 * The queue location: join (POST, or GET ?join=1), status (GET: JSON for
 * apps, a self-updating HTML page for browsers) and leave (DELETE).  None
 * of it calls the database or the worker.
 */

#include "ngx_http_ticket_module.h"
#include "ngx_http_ticket_zone.h"
#include "ngx_http_ticket_redis.h"

#include <openssl/rand.h>


#define NGX_HTTP_TICKET_PAGE_MAX  (64 * 1024)


typedef struct {
    ngx_http_ticket_room_t      *room;
    ngx_http_ticket_standing_t  *st;
    char                        *message;
} ngx_http_ticket_page_t;


static ngx_int_t ngx_http_ticket_join(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_uint_t json);
static ngx_int_t ngx_http_ticket_joined(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_uint_t json, ngx_uint_t rc,
    uint64_t user, uint64_t place, uint64_t serial, ngx_uint_t exchange);
static ngx_int_t ngx_http_ticket_join_redis(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_uint_t json, uint64_t user,
    ngx_uint_t exchange);
static void ngx_http_ticket_join_done(ngx_http_request_t *r,
    ngx_http_ticket_redis_op_t *op);
static ngx_int_t ngx_http_ticket_join_unavailable(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_uint_t json, uint64_t user,
    ngx_uint_t exchange);
static ngx_int_t ngx_http_ticket_show_converted(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_uint_t json,
    ngx_http_ticket_standing_t *st, uint64_t user, ngx_uint_t rc,
    uint64_t serial);
static ngx_int_t ngx_http_ticket_convert_redis(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_uint_t json, uint64_t user,
    uint64_t place);
static void ngx_http_ticket_convert_done(ngx_http_request_t *r,
    ngx_http_ticket_redis_op_t *op);
static void ngx_http_ticket_leave_done(ngx_http_request_t *r,
    ngx_http_ticket_redis_op_t *op);
static ngx_int_t ngx_http_ticket_leave_redis(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, uint64_t user, uint64_t place);
static ngx_int_t ngx_http_ticket_left(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room);
static ngx_int_t ngx_http_ticket_show(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_uint_t json);
static ngx_int_t ngx_http_ticket_leave(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room);
static ngx_int_t ngx_http_ticket_answer(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_uint_t json, ngx_uint_t status,
    ngx_http_ticket_standing_t *st, ngx_str_t *token);
static ngx_int_t ngx_http_ticket_fail(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_uint_t json, ngx_uint_t status,
    char *code, char *message);
static size_t ngx_http_ticket_render(u_char *out, ngx_str_t *tpl,
    ngx_http_ticket_page_t *page);


ngx_str_t  ngx_http_ticket_default_page = ngx_string(
"<!DOCTYPE html>\n"
"<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<title>Waiting room {{room}}</title>\n"
"<noscript><meta http-equiv=\"refresh\" content=\"{{refresh}}\"></noscript>\n"
"<style>\n"
"body{font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em}\n"
".n{font-size:3em;font-weight:bold}\n"
"#join,#go{display:none}\n"
"body[data-status=none] #join,body[data-status=expired] #join{display:block}\n"
"body[data-status=admitted] #go{display:block}\n"
"body[data-status=admitted] #line,body[data-status=none] #line,"
"body[data-status=expired] #line,body[data-status=closed] #line"
"{display:none}\n"
"</style></head>\n"
"<body data-status=\"{{status}}\">\n"
"<h1>{{room}}</h1>\n"
"<p id=\"msg\">{{message}}</p>\n"
"<p id=\"countdown\">{{countdown}}</p>\n"
"<div id=\"line\">\n"
"<p>Your position: <span class=\"n\" id=\"position\">{{position}}</span></p>\n"
"<p><span id=\"ahead\">{{ahead}}</span> ahead of you, "
"<span id=\"behind\">{{behind}}</span> behind you.</p>\n"
"<p>Estimated wait: <span id=\"wait\">{{wait}}</span></p>\n"
"</div>\n"
"<form id=\"join\" method=\"post\" action=\"{{queue_url}}\">"
"<button>Join the line</button></form>\n"
"<p id=\"go\"><a href=\"/\">It is your turn: continue to the sale</a></p>\n"
"<script>\n"
"(function(){\n"
"var r={{refresh}};\n"
"var m={waiting:'You are in line. This page updates itself.',"
"paused:'Admission is paused for a moment; your place is kept.',"
"admitted:'It is your turn.',"
"expired:'Your place has expired. You can join again.',"
"closed:'This waiting room is closed.'};\n"
"function w(s){return s===null?'unknown':s<90?s+' seconds':"
"Math.round(s/60)+' minutes'}\n"
"function set(k,v){document.getElementById(k).textContent=v}\n"
"function poll(){\n"
"fetch(location.pathname,{headers:{Accept:'application/json'},"
"credentials:'same-origin'}).then(function(x){return x.json()})"
".then(function(j){\n"
"if(j.error){return}\n"
"document.body.setAttribute('data-status',j.status);\n"
"set('position',j.position);set('ahead',j.ahead);set('behind',j.behind);\n"
"set('wait',w(j.wait_seconds));if(m[j.status]){set('msg',m[j.status])}\n"
"set('countdown',j.opens_in_seconds?'The sale opens in '+"
"w(j.opens_in_seconds)+'.':'');\n"
"r=j.refresh_seconds||r;\n"
"}).catch(function(){}).then(function(){"
"if(document.body.getAttribute('data-status')!=='admitted')"
"{setTimeout(poll,r*1000)}})}\n"
"if('{{status}}'!=='none'){setTimeout(poll,r*1000)}\n"
"})();\n"
"</script>\n"
"</body></html>\n");


ngx_int_t
ngx_http_ticket_queue_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_str_t                     arg, name;
    ngx_uint_t                    json;
    ngx_http_ticket_room_t       *room;
    ngx_http_ticket_loc_conf_t   *tlcf;
    ngx_http_ticket_main_conf_t  *tmcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_ticket_module);
    room = tlcf->queue_room;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (room == NULL) {
        if (ngx_http_complex_value(r, tlcf->queue_value, &name) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        tmcf = ngx_http_get_module_main_conf(r, ngx_http_ticket_module);
        room = ngx_http_ticket_find_room(tmcf, name.data, name.len);

        if (room == NULL) {
            return ngx_http_ticket_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "UNKNOWN_ROOM",
                                              "no waiting room of that name");
        }
    }

    json = ngx_http_ticket_wants_json(r);

    switch (r->method) {

    case NGX_HTTP_POST:
        return ngx_http_ticket_join(r, room, json);

    case NGX_HTTP_DELETE:
        return ngx_http_ticket_leave(r, room);

    case NGX_HTTP_GET:
    case NGX_HTTP_HEAD:
        if (ngx_http_arg(r, (u_char *) "join", 4, &arg) == NGX_OK) {
            if (arg.len != 1 || arg.data[0] != '1') {
                return ngx_http_ticket_fail(r, room, json,
                                            NGX_HTTP_BAD_REQUEST,
                                            "BAD_REQUEST",
                                            "join takes the value 1");
            }

            return ngx_http_ticket_join(r, room, json);
        }

        return ngx_http_ticket_show(r, room, json);

    default:
        return ngx_http_ticket_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                          "METHOD_NOT_ALLOWED",
                                          "use GET, POST or DELETE");
    }
}


static ngx_int_t
ngx_http_ticket_join(ngx_http_request_t *r, ngx_http_ticket_room_t *room,
    ngx_uint_t json)
{
    int64_t                   now;
    uint64_t                  place, serial, user;
    ngx_uint_t                rc, phase;
    ngx_http_ticket_creds_t   creds;

    ngx_http_ticket_read_creds(r, room, &creds);

    if (creds.session_rc != NGX_HTTP_TICKET_TOKEN_OK) {
        return ngx_http_ticket_fail(r, room, json, NGX_HTTP_UNAUTHORIZED,
                                    "NOT_LOGGED_IN",
                                    "log in before joining the line");
    }

    now = ngx_http_ticket_now_ms();
    phase = ngx_http_ticket_room_phase(room, (time_t) (now / 1000));

    if (phase == NGX_HTTP_TICKET_ROOM_BEFORE
        || phase == NGX_HTTP_TICKET_ROOM_CLOSED)
    {
        return ngx_http_ticket_fail(r, room, json, NGX_HTTP_FORBIDDEN,
                                    "ROOM_CLOSED",
                                    "this waiting room does not take "
                                    "people now");
    }

    user = creds.session.user_id;

    if (room->redis) {
        return ngx_http_ticket_join_redis(r, room, json, user, 0);
    }

    rc = ngx_http_ticket_room_join(room, user, now, &place, &serial);

    return ngx_http_ticket_joined(r, room, json, rc, user, place, serial, 0);
}


/*
 * Answers a join (or, with exchange, a poll whose provisional token was
 * exchanged for a numbered place), whoever handed the place out.
 */
static ngx_int_t
ngx_http_ticket_joined(ngx_http_request_t *r, ngx_http_ticket_room_t *room,
    ngx_uint_t json, ngx_uint_t rc, uint64_t user, uint64_t place,
    uint64_t serial, ngx_uint_t exchange)
{
    int64_t                     now;
    ngx_str_t                   token;
    ngx_table_elt_t            *h;
    ngx_http_ticket_standing_t  st;

    now = ngx_http_ticket_now_ms();

    switch (rc) {

    case NGX_HTTP_TICKET_JOIN_FULL:
        return ngx_http_ticket_fail(r, room, json,
                                    NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "QUEUE_FULL",
                                    "the waiting room is full; try again "
                                    "later");

    case NGX_HTTP_TICKET_JOIN_ACTIVE:
        if (room->redis) {
            (void) ngx_http_ticket_room_adopt(room, user, serial, now);
        }

        if (ngx_http_ticket_issue(r, room, TICKET_TOKEN_ACCESS, user, serial,
                                  &token)
            != NGX_OK
            || ngx_http_ticket_set_cookie(r, &room->cookie_access, &token,
                                          room->access_ttl)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        break;

    default:
        if (ngx_http_ticket_issue(r, room, TICKET_TOKEN_QUEUE, user, place,
                                  &token)
            != NGX_OK
            || ngx_http_ticket_set_cookie(r, &room->cookie_queue, &token,
                                          room->queue_ttl)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (!json && !exchange) {
        /* After a form post, a reload must not post again. */
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Location");
        h->value = room->queue_url;

        ngx_http_clear_location(r);
        r->headers_out.location = h;

        return NGX_HTTP_SEE_OTHER;
    }

    ngx_http_ticket_room_standing(room, place, now, &st);

    if (rc == NGX_HTTP_TICKET_JOIN_ACTIVE) {
        st.status = NGX_HTTP_TICKET_ADMITTED;
        st.position = 0;
    }

    return ngx_http_ticket_answer(r, room, json,
                                  rc == NGX_HTTP_TICKET_JOIN_NEW && !exchange
                                  ? NGX_HTTP_CREATED : NGX_HTTP_OK,
                                  &st, &token);
}


/*
 * Redis hands out the place: one script, atomic, enforcing one place per
 * user for every instance; before opening the place goes to the pre-queue
 * with a random draw.
 */
static ngx_int_t
ngx_http_ticket_join_redis(ngx_http_request_t *r, ngx_http_ticket_room_t *room,
    ngx_uint_t json, uint64_t user, ngx_uint_t exchange)
{
    u_char                      *p;
    uint64_t                     draw;
    ngx_str_t                    args[3];
    ngx_http_ticket_redis_op_t  *op;
    u_char                       buf[3 * NGX_INT64_LEN];

    if (!ngx_http_ticket_redis_ready()) {
        return ngx_http_ticket_join_unavailable(r, room, json, user,
                                                exchange);
    }

    /* 48 bits: a score that a double holds exactly. */
    draw = 0;

    if (RAND_bytes((u_char *) &draw, 6) != 1) {
        draw = (uint64_t) ngx_random() << 16 ^ (uint64_t) ngx_random();
    }

    draw &= ((uint64_t) 1 << 48) - 1;

    p = buf;
    args[0].data = p;
    p = ngx_sprintf(p, "%uL", user);
    args[0].len = p - args[0].data;
    args[1].data = p;
    p = ngx_sprintf(p, "%L", room->admit.opens_at_ms);
    args[1].len = p - args[1].data;
    args[2].data = p;
    p = ngx_sprintf(p, "%uL", draw);
    args[2].len = p - args[2].data;

    op = ngx_http_ticket_redis_op(r, room, ngx_http_ticket_join_done);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->user = user;
    op->json = json;
    op->arg = exchange;

    if (ngx_http_ticket_redis_script(op, NGX_HTTP_TICKET_REDIS_JOIN, 3, args)
        != NGX_OK)
    {
        return ngx_http_ticket_join_unavailable(r, room, json, user,
                                                exchange);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_ticket_join_done(ngx_http_request_t *r,
    ngx_http_ticket_redis_op_t *op)
{
    ngx_int_t  rc;
    uint64_t   place;

    if (op->rc != NGX_OK || op->nresults < 3 || op->results[0] < 0
        || op->results[0] > NGX_HTTP_TICKET_JOIN_ACTIVE)
    {
        rc = ngx_http_ticket_join_unavailable(r, op->room, op->json,
                                              op->user, op->arg);

    } else {
        place = op->results[1] > 0 ? (uint64_t) op->results[1]
                                   : NGX_HTTP_TICKET_PROVISIONAL;

        rc = ngx_http_ticket_joined(r, op->room, op->json,
                                    (ngx_uint_t) op->results[0], op->user,
                                    place, (uint64_t) op->results[2],
                                    op->arg);
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * Redis is away or too slow: a join is refused with 503 and Retry-After,
 * or, with "ticket_redis_fallback local", takes a provisional place that
 * the first poll after Redis is back exchanges for a numbered one.
 */
static ngx_int_t
ngx_http_ticket_join_unavailable(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_uint_t json, uint64_t user,
    ngx_uint_t exchange)
{
    ngx_http_ticket_standing_t  st;

    if (exchange) {
        /* Still provisional: answer from the last known state. */
        ngx_http_ticket_room_standing(room, NGX_HTTP_TICKET_PROVISIONAL,
                                      ngx_http_ticket_now_ms(), &st);
        st.stale = 1;

        return ngx_http_ticket_answer(r, room, json, NGX_HTTP_OK, &st, NULL);
    }

    if (room->redis->fallback_local) {
        return ngx_http_ticket_joined(r, room, json, NGX_HTTP_TICKET_JOIN_NEW,
                                      user, NGX_HTTP_TICKET_PROVISIONAL, 0,
                                      0);
    }

    if (ngx_http_ticket_redis_retry_after(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_ticket_fail(r, room, json, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "QUEUE_UNAVAILABLE",
                                "the waiting room cannot take new people "
                                "right now; try again in a moment");
}


static ngx_int_t
ngx_http_ticket_show(ngx_http_request_t *r, ngx_http_ticket_room_t *room,
    ngx_uint_t json)
{
    int64_t                     now;
    uint64_t                    serial, user;
    ngx_uint_t                  rc, phase;
    ngx_http_ticket_creds_t     creds;
    ngx_http_ticket_standing_t  st;

    ngx_http_ticket_read_creds(r, room, &creds);
    now = ngx_http_ticket_now_ms();

    if (creds.access_rc == NGX_HTTP_TICKET_TOKEN_OK
        && ngx_http_ticket_room_session(room, creds.access.user_id,
                                        creds.access.number, now)
           == NGX_OK)
    {
        ngx_memzero(&st, sizeof(ngx_http_ticket_standing_t));
        st.status = NGX_HTTP_TICKET_ADMITTED;
        st.wait_known = 1;
        st.refresh = room->refresh;

        return ngx_http_ticket_answer(r, room, json, NGX_HTTP_OK, &st, NULL);
    }

    switch (creds.queue_rc) {

    case NGX_HTTP_TICKET_TOKEN_OK:
        break;

    case NGX_HTTP_TICKET_TOKEN_NONE:
        phase = ngx_http_ticket_room_phase(room, (time_t) (now / 1000));

        ngx_memzero(&st, sizeof(ngx_http_ticket_standing_t));
        st.refresh = room->refresh;
        st.status = (phase == NGX_HTTP_TICKET_ROOM_BEFORE
                     || phase == NGX_HTTP_TICKET_ROOM_CLOSED)
                    ? NGX_HTTP_TICKET_CLOSED : NGX_HTTP_TICKET_NONE;

        if (json && st.status == NGX_HTTP_TICKET_NONE) {
            return ngx_http_ticket_fail(r, room, json, NGX_HTTP_NOT_FOUND,
                                        "NOT_IN_QUEUE",
                                        "join the line with POST first");
        }

        return ngx_http_ticket_answer(r, room, json, NGX_HTTP_OK, &st, NULL);

    case NGX_HTTP_TICKET_TOKEN_MALFORMED:
        return ngx_http_ticket_fail(r, room, json, NGX_HTTP_BAD_REQUEST,
                                    "BAD_TOKEN",
                                    "the waiting room token is malformed");

    case NGX_HTTP_TICKET_TOKEN_EXPIRED:
        return ngx_http_ticket_fail(r, room, json, NGX_HTTP_UNAUTHORIZED,
                                    "TOKEN_EXPIRED",
                                    "the waiting room token has expired");

    default:
        return ngx_http_ticket_fail(r, room, json, NGX_HTTP_FORBIDDEN,
                                    "INVALID_TOKEN",
                                    "the waiting room token is not valid "
                                    "here");
    }

    user = creds.queue.user_id;

    if ((creds.queue.number & NGX_HTTP_TICKET_PROVISIONAL) && room->redis
        && ngx_http_ticket_redis_ready()
        && ngx_http_ticket_room_phase(room, (time_t) (now / 1000))
           == NGX_HTTP_TICKET_ROOM_OPEN)
    {
        /* Opened (or Redis is back): the place gets its number. */
        return ngx_http_ticket_join_redis(r, room, json, user, 1);
    }

    ngx_http_ticket_room_standing(room, creds.queue.number, now, &st);

    if (st.status != NGX_HTTP_TICKET_ADMITTED) {
        return ngx_http_ticket_show_converted(r, room, json, &st, user,
                                              st.status, 0);
    }

    /* The turn has come: the queue token becomes a session. */
    if (room->redis) {
        return ngx_http_ticket_convert_redis(r, room, json, user,
                                             creds.queue.number);
    }

    rc = ngx_http_ticket_room_convert(room, user, creds.queue.number, now,
                                      &serial);

    return ngx_http_ticket_show_converted(r, room, json, &st, user, rc,
                                          serial);
}


static ngx_int_t
ngx_http_ticket_show_converted(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_uint_t json,
    ngx_http_ticket_standing_t *st, uint64_t user, ngx_uint_t rc,
    uint64_t serial)
{
    ngx_str_t  token, *tp;

    tp = NULL;

    if (st->status == NGX_HTTP_TICKET_ADMITTED) {
        if (rc == NGX_HTTP_TICKET_ADMITTED) {
            if (ngx_http_ticket_issue(r, room, TICKET_TOKEN_ACCESS, user,
                                      serial, &token)
                != NGX_OK
                || ngx_http_ticket_set_cookie(r, &room->cookie_access,
                                              &token, room->access_ttl)
                   != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            tp = &token;

        } else {
            st->status = rc == NGX_HTTP_TICKET_LEFT ? NGX_HTTP_TICKET_EXPIRED
                                                    : rc;
        }
    }

    if (st->status == NGX_HTTP_TICKET_EXPIRED) {
        st->position = 0;
        st->wait_known = 0;
    }

    return ngx_http_ticket_answer(r, room, json, NGX_HTTP_OK, st, tp);
}


static ngx_int_t
ngx_http_ticket_convert_redis(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_uint_t json, uint64_t user,
    uint64_t place)
{
    ngx_http_ticket_standing_t   st;
    ngx_http_ticket_redis_op_t  *op;

    op = ngx_http_ticket_redis_op(r, room, ngx_http_ticket_convert_done);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->user = user;
    op->number = place;
    op->json = json;

    if (ngx_http_ticket_redis_script_ids(op, NGX_HTTP_TICKET_REDIS_CONVERT, 2,
                                         user, place)
        != NGX_OK)
    {
        /* The turn is known, the session is not: the next poll tries. */
        ngx_http_ticket_room_standing(room, place, ngx_http_ticket_now_ms(),
                                      &st);
        st.stale = 1;

        return ngx_http_ticket_answer(r, room, json, NGX_HTTP_OK, &st, NULL);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_ticket_convert_done(ngx_http_request_t *r,
    ngx_http_ticket_redis_op_t *op)
{
    int64_t                     now;
    ngx_int_t                   rc;
    ngx_uint_t                  status;
    ngx_http_ticket_standing_t  st;

    now = ngx_http_ticket_now_ms();
    ngx_http_ticket_room_standing(op->room, op->number, now, &st);

    if (op->rc != NGX_OK || op->nresults < 2) {
        st.stale = 1;
        rc = ngx_http_ticket_answer(r, op->room, op->json, NGX_HTTP_OK, &st,
                                    NULL);

    } else {
        status = (ngx_uint_t) op->results[0];

        if (status == NGX_HTTP_TICKET_ADMITTED) {
            (void) ngx_http_ticket_room_adopt(op->room, op->user,
                                              (uint64_t) op->results[1], now);
        }

        /* Redis has the last word on this place. */
        st.status = NGX_HTTP_TICKET_ADMITTED;

        rc = ngx_http_ticket_show_converted(r, op->room, op->json, &st,
                                            op->user, status,
                                            (uint64_t) op->results[1]);
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_ticket_leave(ngx_http_request_t *r, ngx_http_ticket_room_t *room)
{
    uint64_t                  user, place;
    ngx_http_ticket_creds_t   creds;

    ngx_http_ticket_read_creds(r, room, &creds);

    place = 0;

    if (creds.access_rc == NGX_HTTP_TICKET_TOKEN_OK) {
        user = creds.access.user_id;

    } else if (creds.queue_rc == NGX_HTTP_TICKET_TOKEN_OK) {
        user = creds.queue.user_id;
        place = creds.queue.number;

    } else if (creds.session_rc == NGX_HTTP_TICKET_TOKEN_OK) {
        user = creds.session.user_id;

    } else {
        return ngx_http_ticket_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                          "NO_TOKEN",
                                          "nothing says who is leaving");
    }

    if (room->redis) {
        return ngx_http_ticket_leave_redis(r, room, user, place);
    }

    (void) ngx_http_ticket_room_leave(room, user, place);

    return ngx_http_ticket_left(r, room);
}


static ngx_int_t
ngx_http_ticket_leave_redis(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, uint64_t user, uint64_t place)
{
    ngx_http_ticket_redis_op_t  *op;

    (void) ngx_http_ticket_room_end(room, user, 0);

    if (place & NGX_HTTP_TICKET_PROVISIONAL) {
        place = 0;
    }

    op = ngx_http_ticket_redis_op(r, room, ngx_http_ticket_leave_done);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_ticket_redis_script_ids(op, NGX_HTTP_TICKET_REDIS_LEAVE, 2,
                                         user, place)
        != NGX_OK)
    {
        if (ngx_http_ticket_redis_retry_after(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_ticket_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "QUEUE_UNAVAILABLE",
                                          "the waiting room cannot be "
                                          "reached; try again in a moment");
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_ticket_leave_done(ngx_http_request_t *r,
    ngx_http_ticket_redis_op_t *op)
{
    ngx_int_t  rc;

    if (op->rc != NGX_OK) {
        rc = ngx_http_ticket_redis_retry_after(r) == NGX_OK
             ? ngx_http_ticket_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "QUEUE_UNAVAILABLE",
                                          "the waiting room cannot be "
                                          "reached; try again in a moment")
             : NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        rc = ngx_http_ticket_left(r, op->room);
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_ticket_left(ngx_http_request_t *r, ngx_http_ticket_room_t *room)
{
    u_char     *body, *p;
    ngx_str_t   empty = ngx_null_string;
    ngx_str_t   type = ngx_string("application/json");

    if (ngx_http_ticket_set_cookie(r, &room->cookie_queue, &empty, 0)
        != NGX_OK
        || ngx_http_ticket_set_cookie(r, &room->cookie_access, &empty, 0)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = ngx_pnalloc(r->pool, 128 + room->name.len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"room\":\"%V\",\"status\":\"left\"}\n",
                    &room->name);

    return ngx_http_ticket_send(r, NGX_HTTP_OK, &type, body, p - body);
}


static char *
ngx_http_ticket_message(ngx_uint_t status)
{
    switch (status) {
    case NGX_HTTP_TICKET_WAITING:
        return "You are in line. This page updates itself.";
    case NGX_HTTP_TICKET_PAUSED:
        return "Admission is paused for a moment; your place is kept.";
    case NGX_HTTP_TICKET_ADMITTED:
        return "It is your turn.";
    case NGX_HTTP_TICKET_EXPIRED:
        return "Your place has expired. You can join again.";
    case NGX_HTTP_TICKET_CLOSED:
        return "This waiting room is closed.";
    default:
        return "You are not in line yet.";
    }
}


static ngx_int_t
ngx_http_ticket_answer(ngx_http_request_t *r, ngx_http_ticket_room_t *room,
    ngx_uint_t json, ngx_uint_t status, ngx_http_ticket_standing_t *st,
    ngx_str_t *token)
{
    u_char                      *body, *p;
    size_t                       len;
    ngx_str_t                    type;
    ngx_http_ticket_page_t       page;
    ngx_http_ticket_loc_conf_t  *tlcf;

    if (json) {
        body = ngx_pnalloc(r->pool, 512 + TICKET_TOKEN_MAX_LEN);
        if (body == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_http_ticket_standing_json(body, room, st);

        if (token) {
            p = ngx_sprintf(p, ",\"token\":\"%V\"", token);
        }

        p = ngx_cpymem(p, "}\n", 2);

        ngx_str_set(&type, "application/json");

        return ngx_http_ticket_send(r, status, &type, body, p - body);
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_ticket_module);

    page.room = room;
    page.st = st;
    page.message = ngx_http_ticket_message(st->status);

    len = ngx_http_ticket_render(NULL, &tlcf->page, &page);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_http_ticket_render(body, &tlcf->page, &page);

    ngx_str_set(&type, "text/html; charset=utf-8");

    return ngx_http_ticket_send(r, status, &type, body, len);
}


static ngx_int_t
ngx_http_ticket_fail(ngx_http_request_t *r, ngx_http_ticket_room_t *room,
    ngx_uint_t json, ngx_uint_t status, char *code, char *message)
{
    ngx_str_t                    type = ngx_string("text/html; charset=utf-8");
    u_char                      *body;
    size_t                       len;
    ngx_http_ticket_page_t       page;
    ngx_http_ticket_standing_t   st;
    ngx_http_ticket_loc_conf_t  *tlcf;

    if (json) {
        return ngx_http_ticket_send_error(r, status, code, message);
    }

    /* Browsers get the page, which offers to join. */
    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_ticket_module);

    ngx_memzero(&st, sizeof(ngx_http_ticket_standing_t));
    st.status = NGX_HTTP_TICKET_NONE;
    st.refresh = room->refresh;

    page.room = room;
    page.st = &st;
    page.message = message;

    len = ngx_http_ticket_render(NULL, &tlcf->page, &page);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_http_ticket_render(body, &tlcf->page, &page);

    return ngx_http_ticket_send(r, status, &type, body, len);
}


/*
 * Fills the {{name}} placeholders of the page; with out NULL it only
 * measures.  Every value is either a number or text this module controls
 * (room names are restricted to [A-Za-z0-9._-]), so nothing needs escaping.
 */
static size_t
ngx_http_ticket_render(u_char *out, ngx_str_t *tpl,
    ngx_http_ticket_page_t *page)
{
    u_char      *p, *end, *close, *w;
    u_char       num[NGX_INT64_LEN + sizeof("The sale opens in  s.")];
    size_t       len, n;
    ngx_str_t    name, value;

    p = tpl->data;
    end = p + tpl->len;
    len = 0;

    while (p < end) {
        w = ngx_strlcasestrn(p, end, (u_char *) "{{", 2 - 1);

        if (w == NULL) {
            w = end;
        }

        n = w - p;

        if (out) {
            out = ngx_cpymem(out, p, n);
        }

        len += n;

        if (w == end) {
            break;
        }

        close = ngx_strlcasestrn(w + 2, end, (u_char *) "}}", 2 - 1);

        if (close == NULL || close - w > 32) {
            if (out) {
                out = ngx_cpymem(out, "{{", 2);
            }

            len += 2;
            p = w + 2;
            continue;
        }

        name.data = w + 2;
        name.len = close - name.data;
        value.data = num;
        value.len = 0;

        if (name.len == 4 && ngx_strncmp(name.data, "room", 4) == 0) {
            value = page->room->name;

        } else if (name.len == 6 && ngx_strncmp(name.data, "status", 6) == 0) {
            value.data = (u_char *) ngx_http_ticket_status_name(
                                                           page->st->status);
            value.len = ngx_strlen(value.data);

        } else if (name.len == 7 && ngx_strncmp(name.data, "message", 7) == 0)
        {
            value.data = (u_char *) page->message;
            value.len = ngx_strlen(page->message);

        } else if (name.len == 8 && ngx_strncmp(name.data, "position", 8) == 0)
        {
            value.len = ngx_sprintf(num, "%uL", page->st->position) - num;

        } else if (name.len == 5 && ngx_strncmp(name.data, "ahead", 5) == 0) {
            value.len = ngx_sprintf(num, "%uL", page->st->position
                                                ? page->st->position - 1 : 0)
                        - num;

        } else if (name.len == 6 && ngx_strncmp(name.data, "behind", 6) == 0) {
            value.len = ngx_sprintf(num, "%uL", page->st->behind) - num;

        } else if (name.len == 4 && ngx_strncmp(name.data, "wait", 4) == 0) {
            if (page->st->wait_known) {
                value.len = ngx_sprintf(num, "%uL seconds", page->st->wait)
                            - num;

            } else {
                ngx_str_set(&value, "unknown");
            }

        } else if (name.len == 7 && ngx_strncmp(name.data, "refresh", 7) == 0)
        {
            value.len = ngx_sprintf(num, "%T", page->st->refresh) - num;

        } else if (name.len == 9
                   && ngx_strncmp(name.data, "queue_url", 9) == 0)
        {
            value = page->room->queue_url;

        } else if (name.len == 9
                   && ngx_strncmp(name.data, "countdown", 9) == 0)
        {
            /* A scheduled sale: the page counts down to the opening. */
            if (page->st->opens_in) {
                value.len = ngx_sprintf(num, "The sale opens in %T s.",
                                        page->st->opens_in)
                            - num;
            }

        } else {
            value.data = w;
            value.len = close + 2 - w;
        }

        if (out) {
            out = ngx_cpymem(out, value.data, value.len);
        }

        len += value.len;
        p = close + 2;
    }

    return len;
}


char *
ngx_http_ticket_load_page(ngx_conf_t *cf, ngx_str_t *path, ngx_str_t *page)
{
    u_char           *buf;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t         name;
    ngx_file_info_t   fi;

    name = *path;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"ticket_queue_page\" directive: cannot open "
                           "\"%V\"", path);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) <= 0
        || ngx_file_size(&fi) > NGX_HTTP_TICKET_PAGE_MAX)
    {
        ngx_close_file(fd);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ticket_queue_page\" directive: \"%V\" must be "
                           "a file of 1 to %d bytes", path,
                           NGX_HTTP_TICKET_PAGE_MAX);
        return NGX_CONF_ERROR;
    }

    buf = ngx_pnalloc(cf->pool, (size_t) ngx_file_size(&fi));
    if (buf == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, buf, (size_t) ngx_file_size(&fi));

    ngx_close_file(fd);

    if (n != (ssize_t) ngx_file_size(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"ticket_queue_page\" directive: cannot read "
                           "\"%V\"", path);
        return NGX_CONF_ERROR;
    }

    page->data = buf;
    page->len = (size_t) n;

    return NGX_CONF_OK;
}
