/*
 * The operators' location: every room's figures as JSON or in the
 * Prometheus text format, and pausing or resuming a room without a reload
 * (POST ?room=NAME&action=pause|resume).
 */

#include "ngx_http_ticket_module.h"
#include "ngx_http_ticket_zone.h"
#include "ngx_http_ticket_redis.h"


#define NGX_HTTP_TICKET_STATUS_ROOM_LEN  2048


static ngx_int_t ngx_http_ticket_status_action(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room);
static ngx_int_t ngx_http_ticket_status_redis(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_str_t *action);
static void ngx_http_ticket_status_done(ngx_http_request_t *r,
    ngx_http_ticket_redis_op_t *op);
static u_char *ngx_http_ticket_status_json(u_char *p,
    ngx_http_ticket_main_conf_t *tmcf, ngx_http_ticket_room_t *only,
    int64_t now);
static u_char *ngx_http_ticket_status_prometheus(u_char *p,
    ngx_http_ticket_main_conf_t *tmcf, ngx_http_ticket_room_t *only,
    int64_t now);


static const char  *ngx_http_ticket_phase_names[] = {
    "before", "prequeue", "open", "closed"
};


ngx_int_t
ngx_http_ticket_status_handler(ngx_http_request_t *r)
{
    u_char                       *body, *p;
    size_t                        len;
    int64_t                       now;
    ngx_int_t                     rc;
    ngx_str_t                     arg, type;
    ngx_uint_t                    prometheus;
    ngx_http_ticket_room_t       *room;
    ngx_http_ticket_main_conf_t  *tmcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_ticket_module);
    room = NULL;

    if (ngx_http_arg(r, (u_char *) "room", 4, &arg) == NGX_OK) {
        room = ngx_http_ticket_find_room(tmcf, arg.data, arg.len);

        if (room == NULL) {
            return ngx_http_ticket_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "UNKNOWN_ROOM",
                                              "no room of that name");
        }
    }

    if (r->method == NGX_HTTP_POST) {
        if (room == NULL) {
            return ngx_http_ticket_send_error(r, NGX_HTTP_BAD_REQUEST,
                                              "BAD_REQUEST",
                                              "name the room with ?room=");
        }

        return ngx_http_ticket_status_action(r, room);
    }

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        return ngx_http_ticket_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                          "METHOD_NOT_ALLOWED",
                                          "use GET or POST");
    }

    prometheus = 0;

    if (ngx_http_arg(r, (u_char *) "format", 6, &arg) == NGX_OK) {
        if (arg.len == 10 && ngx_strncmp(arg.data, "prometheus", 10) == 0) {
            prometheus = 1;

        } else if (!(arg.len == 4 && ngx_strncmp(arg.data, "json", 4) == 0)) {
            return ngx_http_ticket_send_error(r, NGX_HTTP_BAD_REQUEST,
                                              "BAD_REQUEST",
                                              "format is json or prometheus");
        }
    }

    len = (tmcf->rooms.nelts + tmcf->zones.nelts + 1)
          * NGX_HTTP_TICKET_STATUS_ROOM_LEN;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now = ngx_http_ticket_now_ms();

    if (prometheus) {
        p = ngx_http_ticket_status_prometheus(body, tmcf, room, now);
        ngx_str_set(&type, "text/plain; version=0.0.4");

    } else {
        p = ngx_http_ticket_status_json(body, tmcf, room, now);
        ngx_str_set(&type, "application/json");
    }

    return ngx_http_ticket_send(r, NGX_HTTP_OK, &type, body, p - body);
}


static ngx_int_t
ngx_http_ticket_status_action(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room)
{
    u_char      *body, *p;
    ngx_str_t    arg, type = ngx_string("application/json");
    ngx_uint_t   paused;

    if (ngx_http_arg(r, (u_char *) "action", 6, &arg) != NGX_OK) {
        return ngx_http_ticket_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "BAD_REQUEST",
                                          "action is pause or resume");
    }

    if (room->redis) {
        return ngx_http_ticket_status_redis(r, room, &arg);
    }

    if (arg.len == 5 && ngx_strncmp(arg.data, "pause", 5) == 0) {
        paused = 1;

    } else if (arg.len == 6 && ngx_strncmp(arg.data, "resume", 6) == 0) {
        paused = 0;

    } else {
        return ngx_http_ticket_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "BAD_REQUEST",
                                          "action is pause or resume");
    }

    ngx_http_ticket_room_pause(room, paused);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "ticket: room \"%V\" %s by an operator", &room->name,
                  paused ? "paused" : "resumed");

    body = ngx_pnalloc(r->pool, 64 + room->name.len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"room\":\"%V\",\"paused\":%s}\n", &room->name,
                    paused ? "true" : "false");

    return ngx_http_ticket_send(r, NGX_HTTP_OK, &type, body, p - body);
}


static u_char *
ngx_http_ticket_status_json(u_char *p, ngx_http_ticket_main_conf_t *tmcf,
    ngx_http_ticket_room_t *only, int64_t now)
{
    ngx_uint_t                   i, k, first;
    ngx_shm_zone_t             **zones;
    ngx_http_ticket_room_t     **rooms, *room;
    ngx_http_ticket_usage_t      u;
    ngx_http_ticket_snapshot_t   s;

    zones = tmcf->zones.elts;
    rooms = tmcf->rooms.elts;

    p = ngx_cpymem(p, "{\"zones\":[", sizeof("{\"zones\":[") - 1);

    for (i = 0; i < tmcf->zones.nelts; i++) {
        ngx_http_ticket_zone_usage(zones[i], &u);

        p = ngx_sprintf(p, "%s{\"zone\":\"%V\",\"size\":%uz,\"used\":%uz,"
                        "\"index_bytes\":%uz,\"index_slots\":%uD,"
                        "\"index_entries\":%uD,\"index_limit\":%uD,"
                        "\"index_entry_bytes\":%uz,\"sessions\":%uD,"
                        "\"rooms\":%ui}",
                        i ? "," : "", &zones[i]->shm.name, u.size, u.used,
                        u.index_bytes, u.index_slots, u.index_entries,
                        u.index_limit, sizeof(ticket_index_entry_t),
                        u.sessions, u.rooms);
    }

    p = ngx_cpymem(p, "],\"rooms\":[", sizeof("],\"rooms\":[") - 1);
    first = 1;

    for (i = 0; i < tmcf->rooms.nelts; i++) {
        room = rooms[i];

        if (only && room != only) {
            continue;
        }

        ngx_http_ticket_room_snapshot(room, now, &s);

        p = ngx_sprintf(p, "%s{\"room\":\"%V\",\"zone\":\"%V\","
                        "\"state\":\"%s\",\"paused\":%s,\"capacity\":%uL,"
                        "\"rate\":%uD,\"rate_period_ms\":%uL,"
                        "\"session_ms\":%M,\"grace_ms\":%uL,"
                        "\"seq\":%uL,\"serving\":%uL,\"waiting\":%uL,"
                        "\"active\":%uL,\"pending\":%uL,"
                        "\"admitted_per_minute\":%uL,",
                        first ? "" : ",", &room->name,
                        &room->shm_zone->shm.name,
                        ngx_http_ticket_phase_names[s.phase],
                        s.paused ? "true" : "false", s.capacity,
                        s.rate_n, s.rate_period_ms,
                        room->session, room->admit.grace_ms,
                        s.seq, s.serving, s.waiting, s.active, s.pending,
                        s.per_minute);

        first = 0;

        if (s.oldest_wait >= 0) {
            p = ngx_sprintf(p, "\"oldest_wait_seconds\":%L,", s.oldest_wait);

        } else {
            p = ngx_cpymem(p, "\"oldest_wait_seconds\":null,",
                           sizeof("\"oldest_wait_seconds\":null,") - 1);
        }

        if (s.wait_known) {
            p = ngx_sprintf(p, "\"wait_at_back_seconds\":%uL,"
                            "\"wait_known\":true,", s.wait_back);

        } else {
            p = ngx_cpymem(p, "\"wait_at_back_seconds\":null,"
                           "\"wait_known\":false,",
                           sizeof("\"wait_at_back_seconds\":null,"
                                  "\"wait_known\":false,") - 1);
        }

        p = ngx_sprintf(p, "\"admitted_total\":%uL,\"converted_total\":%uL,"
                        "\"forfeited_total\":%uL,\"ended_total\":%uL,"
                        "\"last_seconds\":[",
                        s.admitted_total, s.converted_total,
                        s.forfeited_total, s.ended_total);

        for (k = 0; k < 10; k++) {
            p = ngx_sprintf(p, "%s%uD", k ? "," : "", s.last_seconds[k]);
        }

        p = ngx_cpymem(p, "]", 1);

        if (room->redis) {
            p = ngx_sprintf(p, ",\"queue_all\":%s,\"prequeued\":%uL,"
                            "\"redis\":{\"connected\":%s,\"stale\":%s,"
                            "\"synced_ms_ago\":%L}",
                            s.queue_all ? "true" : "false", s.prequeued,
                            ngx_http_ticket_redis_ready() ? "true" : "false",
                            s.stale ? "true" : "false", s.synced_ms_ago);
        }

        p = ngx_cpymem(p, "}", 1);
    }

    return ngx_cpymem(p, "]}\n", 3);
}


static u_char *
ngx_http_ticket_status_prometheus(u_char *p, ngx_http_ticket_main_conf_t *tmcf,
    ngx_http_ticket_room_t *only, int64_t now)
{
    ngx_uint_t                   i;
    ngx_shm_zone_t             **zones;
    ngx_http_ticket_room_t     **rooms, *room;
    ngx_http_ticket_usage_t      u;
    ngx_http_ticket_snapshot_t   s;

    zones = tmcf->zones.elts;
    rooms = tmcf->rooms.elts;

    p = ngx_cpymem(p,
        "# HELP ticket_zone_size_bytes Size of the shared memory zone.\n"
        "# TYPE ticket_zone_size_bytes gauge\n"
        "# HELP ticket_zone_used_bytes Bytes of the zone in use.\n"
        "# TYPE ticket_zone_used_bytes gauge\n"
        "# HELP ticket_zone_index_entries Places held in the user index.\n"
        "# TYPE ticket_zone_index_entries gauge\n",
        sizeof("# HELP ticket_zone_size_bytes Size of the shared memory "
               "zone.\n"
               "# TYPE ticket_zone_size_bytes gauge\n"
               "# HELP ticket_zone_used_bytes Bytes of the zone in use.\n"
               "# TYPE ticket_zone_used_bytes gauge\n"
               "# HELP ticket_zone_index_entries Places held in the user "
               "index.\n"
               "# TYPE ticket_zone_index_entries gauge\n") - 1);

    for (i = 0; i < tmcf->zones.nelts; i++) {
        ngx_http_ticket_zone_usage(zones[i], &u);

        p = ngx_sprintf(p, "ticket_zone_size_bytes{zone=\"%V\"} %uz\n"
                        "ticket_zone_used_bytes{zone=\"%V\"} %uz\n"
                        "ticket_zone_index_entries{zone=\"%V\"} %uD\n",
                        &zones[i]->shm.name, u.size,
                        &zones[i]->shm.name, u.used,
                        &zones[i]->shm.name, u.index_entries);
    }

    p = ngx_cpymem(p,
        "# HELP ticket_room_seq Places handed out.\n"
        "# TYPE ticket_room_seq counter\n"
        "# HELP ticket_room_serving Places admitted.\n"
        "# TYPE ticket_room_serving counter\n"
        "# HELP ticket_room_waiting People in line.\n"
        "# TYPE ticket_room_waiting gauge\n"
        "# HELP ticket_room_active Admitted sessions.\n"
        "# TYPE ticket_room_active gauge\n"
        "# HELP ticket_room_pending Admitted places not yet used.\n"
        "# TYPE ticket_room_pending gauge\n"
        "# HELP ticket_room_capacity Sessions allowed at once.\n"
        "# TYPE ticket_room_capacity gauge\n"
        "# HELP ticket_room_admitted_per_minute Admissions in the last "
        "minute.\n"
        "# TYPE ticket_room_admitted_per_minute gauge\n"
        "# HELP ticket_room_oldest_wait_seconds Wait of the first in line.\n"
        "# TYPE ticket_room_oldest_wait_seconds gauge\n"
        "# HELP ticket_room_paused 1 when admission is paused.\n"
        "# TYPE ticket_room_paused gauge\n"
        "# HELP ticket_room_forfeited_total Admitted places never used.\n"
        "# TYPE ticket_room_forfeited_total counter\n",
        sizeof("# HELP ticket_room_seq Places handed out.\n"
        "# TYPE ticket_room_seq counter\n"
        "# HELP ticket_room_serving Places admitted.\n"
        "# TYPE ticket_room_serving counter\n"
        "# HELP ticket_room_waiting People in line.\n"
        "# TYPE ticket_room_waiting gauge\n"
        "# HELP ticket_room_active Admitted sessions.\n"
        "# TYPE ticket_room_active gauge\n"
        "# HELP ticket_room_pending Admitted places not yet used.\n"
        "# TYPE ticket_room_pending gauge\n"
        "# HELP ticket_room_capacity Sessions allowed at once.\n"
        "# TYPE ticket_room_capacity gauge\n"
        "# HELP ticket_room_admitted_per_minute Admissions in the last "
        "minute.\n"
        "# TYPE ticket_room_admitted_per_minute gauge\n"
        "# HELP ticket_room_oldest_wait_seconds Wait of the first in line.\n"
        "# TYPE ticket_room_oldest_wait_seconds gauge\n"
        "# HELP ticket_room_paused 1 when admission is paused.\n"
        "# TYPE ticket_room_paused gauge\n"
        "# HELP ticket_room_forfeited_total Admitted places never used.\n"
        "# TYPE ticket_room_forfeited_total counter\n") - 1);

    for (i = 0; i < tmcf->rooms.nelts; i++) {
        room = rooms[i];

        if (only && room != only) {
            continue;
        }

        ngx_http_ticket_room_snapshot(room, now, &s);

        p = ngx_sprintf(p, "ticket_room_seq{room=\"%V\"} %uL\n"
                        "ticket_room_serving{room=\"%V\"} %uL\n"
                        "ticket_room_waiting{room=\"%V\"} %uL\n"
                        "ticket_room_active{room=\"%V\"} %uL\n"
                        "ticket_room_pending{room=\"%V\"} %uL\n"
                        "ticket_room_capacity{room=\"%V\"} %uL\n"
                        "ticket_room_admitted_per_minute{room=\"%V\"} %uL\n"
                        "ticket_room_oldest_wait_seconds{room=\"%V\"} %L\n"
                        "ticket_room_paused{room=\"%V\"} %ui\n"
                        "ticket_room_forfeited_total{room=\"%V\"} %uL\n",
                        &room->name, s.seq, &room->name, s.serving,
                        &room->name, s.waiting, &room->name, s.active,
                        &room->name, s.pending, &room->name, s.capacity,
                        &room->name, s.per_minute,
                        &room->name, s.oldest_wait > 0 ? s.oldest_wait : 0,
                        &room->name, s.paused,
                        &room->name, s.forfeited_total);
    }

    return p;
}


static u_char *
ngx_http_ticket_status_value(ngx_str_t *s, u_char *p, uint64_t v)
{
    s->data = p;
    p = ngx_sprintf(p, "%uL", v);
    s->len = p - s->data;

    return p;
}


/*
 * With Redis the operator's settings live there, so every instance
 * follows them within one tick: pause, resume, queue_all (everyone
 * queues, admitted sessions stay), queue_normal, set (rate=N/PERIOD,
 * capacity=N, overriding nginx.conf) and defaults (back to nginx.conf).
 */
static ngx_int_t
ngx_http_ticket_status_redis(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_str_t *action)
{
    u_char                      *p;
    ngx_int_t                    n;
    ngx_str_t                    arg, args[6];
    ngx_uint_t                   nargs;
    ticket_admit_conf_t          conf;
    ngx_http_ticket_redis_op_t  *op;
    u_char                       buf[4 * NGX_INT64_LEN];

    nargs = 0;
    p = buf;

#define ngx_http_ticket_setting(name, value)                                  \
    ngx_str_set(&args[nargs], name);                                          \
    nargs++;                                                                  \
    ngx_str_set(&args[nargs], value);                                         \
    nargs++

    if (action->len == 5 && ngx_strncmp(action->data, "pause", 5) == 0) {
        ngx_http_ticket_setting("paused", "1");

    } else if (action->len == 6
               && ngx_strncmp(action->data, "resume", 6) == 0)
    {
        ngx_http_ticket_setting("paused", "0");

    } else if (action->len == 9
               && ngx_strncmp(action->data, "queue_all", 9) == 0)
    {
        ngx_http_ticket_setting("queue_all", "1");

    } else if (action->len == 12
               && ngx_strncmp(action->data, "queue_normal", 12) == 0)
    {
        ngx_http_ticket_setting("queue_all", "0");

    } else if (action->len == 8
               && ngx_strncmp(action->data, "defaults", 8) == 0)
    {
        ngx_http_ticket_setting("op_rate_n", "-");
        ngx_http_ticket_setting("op_rate_ms", "-");
        ngx_http_ticket_setting("op_capacity", "-");

    } else if (action->len == 3 && ngx_strncmp(action->data, "set", 3) == 0) {

        if (ngx_http_arg(r, (u_char *) "rate", 4, &arg) == NGX_OK) {
            if (ngx_http_ticket_parse_rate(&arg, &conf) != NGX_OK) {
                return ngx_http_ticket_send_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "BAD_REQUEST",
                                                  "rate is N/s, N/m or "
                                                  "N/PERIOD");
            }

            ngx_str_set(&args[nargs], "op_rate_n");
            nargs++;
            p = ngx_http_ticket_status_value(&args[nargs++], p, conf.rate_n);

            ngx_str_set(&args[nargs], "op_rate_ms");
            nargs++;
            p = ngx_http_ticket_status_value(&args[nargs++], p,
                                             conf.rate_period_ms);
        }

        if (ngx_http_arg(r, (u_char *) "capacity", 8, &arg) == NGX_OK) {
            n = ngx_atoi(arg.data, arg.len);

            if (n <= 0 || n > 10000000) {
                return ngx_http_ticket_send_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "BAD_REQUEST",
                                                  "capacity is 1 to "
                                                  "10000000");
            }

            ngx_str_set(&args[nargs], "op_capacity");
            nargs++;
            p = ngx_http_ticket_status_value(&args[nargs++], p, (uint64_t) n);
        }

        if (nargs == 0) {
            return ngx_http_ticket_send_error(r, NGX_HTTP_BAD_REQUEST,
                                              "BAD_REQUEST",
                                              "set takes rate= and/or "
                                              "capacity=");
        }

    } else {
        return ngx_http_ticket_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "BAD_REQUEST",
                                          "action is pause, resume, "
                                          "queue_all, queue_normal, set or "
                                          "defaults");
    }

#undef ngx_http_ticket_setting

    op = ngx_http_ticket_redis_op(r, room, ngx_http_ticket_status_done);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_ticket_redis_script(op, NGX_HTTP_TICKET_REDIS_ADMIN, nargs,
                                     args)
        != NGX_OK)
    {
        if (ngx_http_ticket_redis_retry_after(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_ticket_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "REDIS_UNAVAILABLE",
                                          "the setting cannot be stored "
                                          "now; try again in a moment");
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "ticket: room \"%V\": \"%V\" by an operator", &room->name,
                  action);

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_ticket_status_done(ngx_http_request_t *r,
    ngx_http_ticket_redis_op_t *op)
{
    u_char     *body, *p;
    int64_t    *v;
    ngx_int_t   rc;
    ngx_str_t   type = ngx_string("application/json");

    if (op->rc != NGX_OK || op->nresults < 5) {
        rc = ngx_http_ticket_redis_retry_after(r) == NGX_OK
             ? ngx_http_ticket_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "REDIS_UNAVAILABLE",
                                          "the setting may not be stored; "
                                          "try again in a moment")
             : NGX_HTTP_INTERNAL_SERVER_ERROR;

        ngx_http_finalize_request(r, rc);
        return;
    }

    v = op->results;

    body = ngx_pnalloc(r->pool, 256 + op->room->name.len);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_sprintf(body, "{\"room\":\"%V\",\"paused\":%s,"
                    "\"queue_all\":%s,\"rate\":%L,\"rate_period_ms\":%L,"
                    "\"capacity\":%L}\n", &op->room->name,
                    v[0] ? "true" : "false", v[1] ? "true" : "false",
                    v[2] >= 0 ? v[2] : (int64_t) op->room->admit.rate_n,
                    v[3] >= 0 ? v[3]
                              : (int64_t) op->room->admit.rate_period_ms,
                    v[4] >= 0 ? v[4] : (int64_t) op->room->admit.capacity);

    ngx_http_finalize_request(r, ngx_http_ticket_send(r, NGX_HTTP_OK, &type,
                                                      body, p - body));
}
