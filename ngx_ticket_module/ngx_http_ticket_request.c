/*
 * What the gate, the queue and the status share about a request: the
 * clock, the room lookup, headers and cookies, reading and issuing tokens,
 * and JSON/HTML responses.
 */

#include "ngx_http_ticket_module.h"
#include "ticket_cookie.h"


static const char  *ngx_http_ticket_status_names[] = {
    "none", "waiting", "admitted", "expired", "closed", "paused", "left"
};


int64_t
ngx_http_ticket_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


ngx_uint_t
ngx_http_ticket_room_phase(ngx_http_ticket_room_t *room, time_t now)
{
    if (room->closes_at && now >= room->closes_at) {
        return NGX_HTTP_TICKET_ROOM_CLOSED;
    }

    if (room->opens_at == 0 || now >= room->opens_at) {
        return NGX_HTTP_TICKET_ROOM_OPEN;
    }

    if (now >= room->opens_at - room->prequeue) {
        return NGX_HTTP_TICKET_ROOM_PREQUEUE;
    }

    return NGX_HTTP_TICKET_ROOM_BEFORE;
}


ngx_http_ticket_room_t *
ngx_http_ticket_find_room(ngx_http_ticket_main_conf_t *tmcf, u_char *name,
    size_t len)
{
    ngx_uint_t                i;
    ngx_http_ticket_room_t  **rooms;

    rooms = tmcf->rooms.elts;

    for (i = 0; i < tmcf->rooms.nelts; i++) {
        if (rooms[i]->name.len == len
            && ngx_memcmp(rooms[i]->name.data, name, len) == 0)
        {
            return rooms[i];
        }
    }

    return NULL;
}


ngx_table_elt_t *
ngx_http_ticket_header(ngx_list_t *headers, char *name, size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0 && h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


ngx_uint_t
ngx_http_ticket_wants_json(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_http_ticket_header(&r->headers_in.headers, "Accept",
                               sizeof("Accept") - 1);

    return h != NULL
           && ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
                               (u_char *) "application/json",
                               sizeof("application/json") - 2)
              != NULL;
}


/*
 * Splits the next "name=value" off a Cookie header; returns NGX_DONE at the
 * end.  Malformed pairs come back with an empty name.
 */
ngx_int_t
ngx_http_ticket_next_cookie(u_char **pos, u_char *end, ngx_str_t *name,
    ngx_str_t *value)
{
    const u_char  *p;

    /* The parsing itself is pure C in ticket_cookie.c, for the fuzzer. */
    p = *pos;

    if (ticket_cookie_next(&p, end, (const u_char **) &name->data,
                           &name->len, (const u_char **) &value->data,
                           &value->len)
        == TICKET_COOKIE_DONE)
    {
        *pos = (u_char *) p;
        return NGX_DONE;
    }

    *pos = (u_char *) p;

    return NGX_OK;
}


ngx_uint_t
ngx_http_ticket_check_token(ngx_http_request_t *r, ngx_str_t *value,
    unsigned kind, ngx_http_ticket_room_t *room, uint64_t user,
    ticket_token_t *tok)
{
    int                           rc;
    ngx_http_ticket_main_conf_t  *tmcf;

    if (value->len == 0 || value->len > TICKET_TOKEN_MAX_LEN) {
        return NGX_HTTP_TICKET_TOKEN_MALFORMED;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_ticket_module);

    rc = ticket_token_decode(tok, (const char *) value->data, value->len,
                             tmcf->keys, tmcf->nkeys, (int64_t) ngx_time());

    switch (rc) {

    case TICKET_TOKEN_OK:
        break;

    case TICKET_TOKEN_EXPIRED:
        return NGX_HTTP_TICKET_TOKEN_EXPIRED;

    case TICKET_TOKEN_BAD_SIGNATURE:
        return NGX_HTTP_TICKET_TOKEN_FORGED;

    default:
        return NGX_HTTP_TICKET_TOKEN_MALFORMED;
    }

    if (tok->user_id == 0 || tok->user_id >= NGX_HTTP_TICKET_USER_MAX) {
        return NGX_HTTP_TICKET_TOKEN_WRONG;
    }

    if (kind) {
        if (tok->kind != kind) {
            return NGX_HTTP_TICKET_TOKEN_WRONG;
        }

    } else if (tok->kind != TICKET_TOKEN_QUEUE
               && tok->kind != TICKET_TOKEN_ACCESS)
    {
        return NGX_HTTP_TICKET_TOKEN_WRONG;
    }

    if (room && (tok->room_len != room->name.len
                 || ngx_memcmp(tok->room, room->name.data, tok->room_len)
                    != 0))
    {
        return NGX_HTTP_TICKET_TOKEN_WRONG;
    }

    if (user && tok->user_id != user) {
        return NGX_HTTP_TICKET_TOKEN_WRONG;
    }

    return NGX_HTTP_TICKET_TOKEN_OK;
}


/* A valid token wins; an error is kept only when nothing else was seen. */
static void
ngx_http_ticket_keep(ngx_uint_t *slot, ticket_token_t *dst, ngx_uint_t rc,
    ticket_token_t *src)
{
    if (*slot == NGX_HTTP_TICKET_TOKEN_OK) {
        return;
    }

    if (rc == NGX_HTTP_TICKET_TOKEN_OK) {
        *slot = rc;
        *dst = *src;
        return;
    }

    if (*slot == NGX_HTTP_TICKET_TOKEN_NONE) {
        *slot = rc;
    }
}


void
ngx_http_ticket_read_creds(ngx_http_request_t *r, ngx_http_ticket_room_t *room,
    ngx_http_ticket_creds_t *creds)
{
    u_char            *pos, *end;
    uint64_t           user;
    ngx_str_t          name, value;
    ngx_uint_t         i, rc;
    ngx_table_elt_t  **cookies, *h;
    ticket_token_t     tok;

    ngx_memzero(creds, sizeof(ngx_http_ticket_creds_t));

    cookies = r->headers_in.cookies.elts;

    /* The session cookie first: it binds every other token to its user. */
    for (i = 0; i < r->headers_in.cookies.nelts; i++) {
        pos = cookies[i]->value.data;
        end = pos + cookies[i]->value.len;

        while (ngx_http_ticket_next_cookie(&pos, end, &name, &value)
               == NGX_OK)
        {
            if (name.len != sizeof(NGX_HTTP_TICKET_SESSION_COOKIE) - 1
                || ngx_strncmp(name.data, NGX_HTTP_TICKET_SESSION_COOKIE,
                               name.len) != 0)
            {
                continue;
            }

            rc = ngx_http_ticket_check_token(r, &value, TICKET_TOKEN_SESSION,
                                             NULL, 0, &tok);

            if (rc == NGX_HTTP_TICKET_TOKEN_EXPIRED
                && creds->session_rc == NGX_HTTP_TICKET_TOKEN_NONE)
            {
                /* An expired session still names its user. */
                creds->session = tok;
            }

            ngx_http_ticket_keep(&creds->session_rc, &creds->session, rc,
                                 &tok);
        }
    }

    user = (creds->session_rc == NGX_HTTP_TICKET_TOKEN_OK
            || creds->session_rc == NGX_HTTP_TICKET_TOKEN_EXPIRED)
           ? creds->session.user_id : 0;

    h = ngx_http_ticket_header(&r->headers_in.headers, "X-Ticket-Token",
                               sizeof("X-Ticket-Token") - 1);

    if (h) {
        rc = ngx_http_ticket_check_token(r, &h->value, 0, room, user, &tok);

        if (rc != NGX_HTTP_TICKET_TOKEN_OK) {
            ngx_http_ticket_keep(&creds->queue_rc, &creds->queue, rc, &tok);
            ngx_http_ticket_keep(&creds->access_rc, &creds->access, rc, &tok);

        } else if (tok.kind == TICKET_TOKEN_QUEUE) {
            ngx_http_ticket_keep(&creds->queue_rc, &creds->queue, rc, &tok);

        } else {
            ngx_http_ticket_keep(&creds->access_rc, &creds->access, rc, &tok);
        }
    }

    if (room == NULL) {
        return;
    }

    for (i = 0; i < r->headers_in.cookies.nelts; i++) {
        pos = cookies[i]->value.data;
        end = pos + cookies[i]->value.len;

        while (ngx_http_ticket_next_cookie(&pos, end, &name, &value)
               == NGX_OK)
        {
            if (name.len == room->cookie_queue.len
                && ngx_strncmp(name.data, room->cookie_queue.data, name.len)
                   == 0)
            {
                rc = ngx_http_ticket_check_token(r, &value, TICKET_TOKEN_QUEUE,
                                                 room, user, &tok);
                ngx_http_ticket_keep(&creds->queue_rc, &creds->queue, rc,
                                     &tok);

            } else if (name.len == room->cookie_access.len
                       && ngx_strncmp(name.data, room->cookie_access.data,
                                      name.len)
                          == 0)
            {
                rc = ngx_http_ticket_check_token(r, &value,
                                                 TICKET_TOKEN_ACCESS, room,
                                                 user, &tok);
                ngx_http_ticket_keep(&creds->access_rc, &creds->access, rc,
                                     &tok);
            }
        }
    }
}


ngx_int_t
ngx_http_ticket_issue(ngx_http_request_t *r, ngx_http_ticket_room_t *room,
    unsigned kind, uint64_t user, uint64_t number, ngx_str_t *token)
{
    size_t                        n;
    ticket_token_t                tok;
    ngx_http_ticket_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_ticket_module);

    ngx_memzero(&tok, sizeof(ticket_token_t));

    tok.kind = kind;
    tok.user_id = user;
    tok.number = number;
    tok.issued_at = (int64_t) ngx_time();
    tok.expires_at = tok.issued_at + (kind == TICKET_TOKEN_QUEUE
                                      ? room->queue_ttl : room->access_ttl);
    tok.room_len = room->name.len;
    ngx_memcpy(tok.room, room->name.data, room->name.len);

    token->data = ngx_pnalloc(r->pool, TICKET_TOKEN_MAX_LEN + 1);
    if (token->data == NULL) {
        return NGX_ERROR;
    }

    n = ticket_token_encode((char *) token->data, TICKET_TOKEN_MAX_LEN + 1,
                            &tok, tmcf->keys[0]);
    if (n == 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "ticket: cannot encode a token for room \"%V\"",
                      &room->name);
        return NGX_ERROR;
    }

    token->len = n;

    return NGX_OK;
}


ngx_int_t
ngx_http_ticket_set_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value, time_t max_age)
{
    u_char           *p;
    size_t            len;
    ngx_table_elt_t  *h;

    len = name->len + 1 + value->len
          + sizeof("; Path=/; Max-Age=; HttpOnly; SameSite=Lax; Secure") - 1
          + NGX_TIME_T_LEN;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Set-Cookie");
    h->value.data = p;

    p = ngx_sprintf(p, "%V=%V; Path=/; Max-Age=%T; HttpOnly; SameSite=Lax",
                    name, value, max_age);

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }
#endif

    h->value.len = p - h->value.data;

    return NGX_OK;
}


ngx_int_t
ngx_http_ticket_send(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *type,
    u_char *body, size_t len)
{
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = len;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    if (r->method == NGX_HTTP_HEAD || len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_ticket_send_error(ngx_http_request_t *r, ngx_uint_t status,
    char *code, char *message)
{
    u_char     *body, *p;
    size_t      len;
    ngx_str_t   type = ngx_string("application/json");

    len = sizeof("{\"error\":{\"code\":\"\",\"message\":\"\"}}\n") - 1
          + ngx_strlen(code) + ngx_strlen(message);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n",
                    code, message);

    return ngx_http_ticket_send(r, status, &type, body, p - body);
}


/* From a phase handler: the response is sent, stop the phases. */
ngx_int_t
ngx_http_ticket_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


const char *
ngx_http_ticket_status_name(ngx_uint_t status)
{
    if (status >= sizeof(ngx_http_ticket_status_names) / sizeof(char *)) {
        status = NGX_HTTP_TICKET_NONE;
    }

    return ngx_http_ticket_status_names[status];
}


/* Writes the status object without its closing brace. */
u_char *
ngx_http_ticket_standing_json(u_char *p, ngx_http_ticket_room_t *room,
    ngx_http_ticket_standing_t *st)
{
    uint64_t  ahead;

    ahead = st->position ? st->position - 1 : 0;

    p = ngx_sprintf(p, "{\"room\":\"%V\",\"status\":\"%s\",\"position\":%uL,"
                    "\"ahead\":%uL,\"behind\":%uL,\"wait_seconds\":",
                    &room->name, ngx_http_ticket_status_name(st->status),
                    st->position, ahead, st->behind);

    if (st->wait_known) {
        p = ngx_sprintf(p, "%uL,\"wait_known\":true", st->wait);

    } else {
        p = ngx_cpymem(p, "null,\"wait_known\":false",
                       sizeof("null,\"wait_known\":false") - 1);
    }

    p = ngx_sprintf(p, ",\"refresh_seconds\":%T,\"opens_at\":", st->refresh);

    if (room->opens_at_text.len) {
        p = ngx_sprintf(p, "\"%V\"", &room->opens_at_text);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    if (st->opens_in) {
        /* The countdown of a scheduled sale. */
        p = ngx_sprintf(p, ",\"opens_in_seconds\":%T", st->opens_in);
    }

    if (st->place & NGX_HTTP_TICKET_PROVISIONAL) {
        p = ngx_cpymem(p, ",\"prequeue\":true",
                       sizeof(",\"prequeue\":true") - 1);
    }

    if (st->stale) {
        /* Redis is away: the figures are the last ones known. */
        p = ngx_cpymem(p, ",\"stale\":true", sizeof(",\"stale\":true") - 1);
    }

    return p;
}
