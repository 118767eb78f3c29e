/*
 * ngx_http_ticket_module: the waiting room at the edge.
 *
 * Types and helpers shared by the module's files: the configuration, the
 * request context, the credentials a request carries (session cookie,
 * queue and access tokens), and the JSON/HTML response helpers.
 */

#ifndef NGX_HTTP_TICKET_MODULE_H
#define NGX_HTTP_TICKET_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ticket_token.h"
#include "ticket_admit.h"


#define NGX_HTTP_TICKET_KEYS_MAX        2

#define NGX_HTTP_TICKET_SESSION_COOKIE  "ticket_session"
#define NGX_HTTP_TICKET_QUEUE_PREFIX    "ticket_q_"
#define NGX_HTTP_TICKET_ACCESS_PREFIX   "ticket_a_"

/* A user's standing in a room, as the status JSON names it. */
#define NGX_HTTP_TICKET_NONE            0
#define NGX_HTTP_TICKET_WAITING         1
#define NGX_HTTP_TICKET_ADMITTED        2
#define NGX_HTTP_TICKET_EXPIRED         3
#define NGX_HTTP_TICKET_CLOSED          4
#define NGX_HTTP_TICKET_PAUSED          5
#define NGX_HTTP_TICKET_LEFT            6

/* Where a room stands in time. */
#define NGX_HTTP_TICKET_ROOM_BEFORE     0   /* not yet joinable */
#define NGX_HTTP_TICKET_ROOM_PREQUEUE   1   /* joinable, not admitting */
#define NGX_HTTP_TICKET_ROOM_OPEN       2
#define NGX_HTTP_TICKET_ROOM_CLOSED     3   /* no more joins */

/* What reading one token gave. */
#define NGX_HTTP_TICKET_TOKEN_NONE      0
#define NGX_HTTP_TICKET_TOKEN_OK        1
#define NGX_HTTP_TICKET_TOKEN_MALFORMED 2
#define NGX_HTTP_TICKET_TOKEN_FORGED    3
#define NGX_HTTP_TICKET_TOKEN_EXPIRED   4
#define NGX_HTTP_TICKET_TOKEN_WRONG     5   /* other room, user or kind */

/* ticket_gate modes */
#define NGX_HTTP_TICKET_GATE_UNSET      0
#define NGX_HTTP_TICKET_GATE_OFF        1
#define NGX_HTTP_TICKET_GATE_ROOM       2
#define NGX_HTTP_TICKET_GATE_VARIABLE   3

/* User ids are keyed with the room slot in 64 bits. */
#define NGX_HTTP_TICKET_USER_MAX        ((uint64_t) 1 << 57)


/*
 * A queue token with this bit in its number holds no place yet: issued in
 * the pre-queue of a room in Redis (the order is drawn at opening) or
 * while Redis was away under "ticket_redis_fallback local".  The first poll
 * that can reach Redis exchanges it for a numbered place.
 */
#define NGX_HTTP_TICKET_PROVISIONAL     ((uint64_t) 1 << 62)


typedef struct ngx_http_ticket_room_sh_s  ngx_http_ticket_room_sh_t;
typedef struct ngx_http_ticket_redis_conf_s  ngx_http_ticket_redis_conf_t;


typedef struct {
    ngx_str_t                    name;
    ngx_shm_zone_t              *shm_zone;
    ngx_http_ticket_room_sh_t   *sh;            /* set by the zone init */
    ngx_uint_t                   slot;

    ticket_admit_conf_t          admit;
    ngx_msec_t                   session;
    time_t                       opens_at;      /* 0: open now */
    time_t                       closes_at;     /* 0: never */
    time_t                       prequeue;
    time_t                       refresh;
    time_t                       queue_ttl;
    time_t                       access_ttl;
    ngx_str_t                    opens_at_text;

    ngx_str_t                    queue_url;
    ngx_str_t                    cookie_queue;  /* ticket_q_<name> */
    ngx_str_t                    cookie_access; /* ticket_a_<name> */

    ngx_http_ticket_redis_conf_t *redis;        /* NULL: shared memory only */
    ngx_str_t                    redis_keys[7];
} ngx_http_ticket_room_t;


typedef struct {
    ngx_array_t                  rooms;         /* ngx_http_ticket_room_t * */
    ngx_array_t                  zones;         /* ngx_shm_zone_t * */
    ticket_key_t                *keys[NGX_HTTP_TICKET_KEYS_MAX];
    ngx_uint_t                   nkeys;
    ngx_http_ticket_redis_conf_t *redis;
    ngx_flag_t                   redis_fallback;
} ngx_http_ticket_main_conf_t;


typedef struct {
    ngx_uint_t                   gate;
    ngx_http_ticket_room_t      *gate_room;
    ngx_http_complex_value_t    *gate_value;
    ngx_http_ticket_room_t      *queue_room;
    ngx_http_complex_value_t    *queue_value;
    ngx_flag_t                   status;
    ngx_str_t                    page;          /* HTML template */
} ngx_http_ticket_loc_conf_t;


/* The credentials of one request for one room. */
typedef struct {
    ngx_uint_t                   session_rc;
    ngx_uint_t                   queue_rc;
    ngx_uint_t                   access_rc;
    ticket_token_t               session;
    ticket_token_t               queue;
    ticket_token_t               access;
} ngx_http_ticket_creds_t;


/* A user's standing, as the queue answers it. */
typedef struct {
    ngx_uint_t                   status;
    uint64_t                     place;
    uint64_t                     position;      /* 1: next in line */
    uint64_t                     behind;
    uint64_t                     wait;
    ngx_uint_t                   wait_known;
    time_t                       refresh;
    time_t                       opens_in;      /* seconds, 0: open */
    ngx_uint_t                   stale;         /* Redis state is old */
} ngx_http_ticket_standing_t;


typedef struct {
    ngx_http_ticket_room_t      *room;
    uint64_t                     user;
    uint64_t                     serial;
    ngx_uint_t                   status;
    ngx_int_t                    gate_rc;       /* decided while waiting */
    unsigned                     session:1;     /* passed on a session */
    unsigned                     resumed:1;     /* Redis answered */
    unsigned                     waiting:1;     /* for Redis' answer */
} ngx_http_ticket_ctx_t;


extern ngx_module_t  ngx_http_ticket_module;


int64_t ngx_http_ticket_now_ms(void);
ngx_uint_t ngx_http_ticket_room_phase(ngx_http_ticket_room_t *room,
    time_t now);
ngx_int_t ngx_http_ticket_parse_rate(ngx_str_t *s,
    ticket_admit_conf_t *admit);
ngx_http_ticket_room_t *ngx_http_ticket_find_room(
    ngx_http_ticket_main_conf_t *tmcf, u_char *name, size_t len);

ngx_uint_t ngx_http_ticket_wants_json(ngx_http_request_t *r);
ngx_table_elt_t *ngx_http_ticket_header(ngx_list_t *headers, char *name,
    size_t len);
ngx_int_t ngx_http_ticket_next_cookie(u_char **pos, u_char *end,
    ngx_str_t *name, ngx_str_t *value);
ngx_uint_t ngx_http_ticket_check_token(ngx_http_request_t *r,
    ngx_str_t *value, unsigned kind, ngx_http_ticket_room_t *room,
    uint64_t user, ticket_token_t *tok);
void ngx_http_ticket_read_creds(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_http_ticket_creds_t *creds);
ngx_int_t ngx_http_ticket_issue(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, unsigned kind, uint64_t user,
    uint64_t number, ngx_str_t *token);
ngx_int_t ngx_http_ticket_set_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value, time_t max_age);

ngx_int_t ngx_http_ticket_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *body, size_t len);
ngx_int_t ngx_http_ticket_send_error(ngx_http_request_t *r, ngx_uint_t status,
    char *code, char *message);
ngx_int_t ngx_http_ticket_finalize(ngx_http_request_t *r, ngx_int_t rc);

const char *ngx_http_ticket_status_name(ngx_uint_t status);
u_char *ngx_http_ticket_standing_json(u_char *p, ngx_http_ticket_room_t *room,
    ngx_http_ticket_standing_t *st);

ngx_int_t ngx_http_ticket_gate_init(ngx_conf_t *cf);
ngx_int_t ngx_http_ticket_queue_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_ticket_status_handler(ngx_http_request_t *r);
char *ngx_http_ticket_load_page(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *page);
extern ngx_str_t  ngx_http_ticket_default_page;

#endif /* NGX_HTTP_TICKET_MODULE_H */
