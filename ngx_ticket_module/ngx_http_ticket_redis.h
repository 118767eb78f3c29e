/*
 * The shared room in Redis: one hiredis asynchronous context per worker
 * process, attached to the NGINX event loop, the room's scripts, and the
 * mirror that copies the room's state into shared memory so that the gate
 * and status polls never wait on the network.
 *
 * Joins, conversions, releases, leaves and operator changes are sent to
 * Redis as one atomic script or command each; the request waits for the
 * answer under an NGINX timer and a pool cleanup detaches it, so a reply
 * that comes late touches nothing.
 */

#ifndef NGX_HTTP_TICKET_REDIS_H
#define NGX_HTTP_TICKET_REDIS_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ticket_module.h"


/* The room's scripts. */
#define NGX_HTTP_TICKET_REDIS_JOIN      0
#define NGX_HTTP_TICKET_REDIS_TICK      1
#define NGX_HTTP_TICKET_REDIS_CONVERT   2
#define NGX_HTTP_TICKET_REDIS_END       3
#define NGX_HTTP_TICKET_REDIS_LEAVE     4
#define NGX_HTTP_TICKET_REDIS_ADMIN     5
#define NGX_HTTP_TICKET_REDIS_SESSION   6
#define NGX_HTTP_TICKET_REDIS_ENDED     7
#define NGX_HTTP_TICKET_REDIS_SCRIPTS   8

#define NGX_HTTP_TICKET_REDIS_KEYS      7
#define NGX_HTTP_TICKET_REDIS_RESULTS   20


typedef struct ngx_http_ticket_redis_op_s  ngx_http_ticket_redis_op_t;

typedef void (*ngx_http_ticket_redis_done_pt)(ngx_http_request_t *r,
    ngx_http_ticket_redis_op_t *op);
typedef void (*ngx_http_ticket_redis_reply_pt)(ngx_http_ticket_redis_op_t *op,
    void *reply);


struct ngx_http_ticket_redis_conf_s {
    ngx_str_t                    addr;          /* as configured */
    u_char                      *host;          /* NUL-terminated */
    ngx_int_t                    port;
    u_char                      *unix_path;     /* NUL-terminated */
    ngx_str_t                    password;
    ngx_int_t                    db;
    ngx_msec_t                   timeout;
    ngx_msec_t                   sync;
    ngx_flag_t                   fallback_local;
};


/*
 * One command in flight.  It is allocated from the heap because it lives
 * until hiredis calls back, which may be after the request ended.
 */
struct ngx_http_ticket_redis_op_s {
    ngx_event_t                    timer;
    ngx_http_request_t            *r;
    ngx_pool_cleanup_t            *cln;
    ngx_http_ticket_room_t        *room;
    ngx_http_ticket_redis_done_pt  done;
    ngx_http_ticket_redis_reply_pt reply;       /* reads the raw reply */
    ngx_int_t                      rc;          /* NGX_OK: results valid */
    ngx_uint_t                     nresults;
    ngx_uint_t                     nil;         /* the reply was nil */
    int64_t                        results[NGX_HTTP_TICKET_REDIS_RESULTS];
    uint64_t                       user;
    uint64_t                       number;
    ngx_uint_t                     json;
    ngx_uint_t                     arg;
    unsigned                       finished:1;
    unsigned                       timedout:1;
};


char *ngx_http_ticket_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_ticket_redis_fallback(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_ticket_redis_room(ngx_conf_t *cf,
    ngx_http_ticket_room_t *room);
ngx_int_t ngx_http_ticket_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_ticket_main_conf_t *tmcf);
void ngx_http_ticket_redis_exit_process(ngx_cycle_t *cycle);

/* Connected and answering in time: worth sending a request's command. */
ngx_uint_t ngx_http_ticket_redis_ready(void);

ngx_http_ticket_redis_op_t *ngx_http_ticket_redis_op(ngx_http_request_t *r,
    ngx_http_ticket_room_t *room, ngx_http_ticket_redis_done_pt done);
ngx_int_t ngx_http_ticket_redis_script(ngx_http_ticket_redis_op_t *op,
    ngx_uint_t script, ngx_uint_t nargs, ngx_str_t *args);
/* The same, with nids (1 or 2) decimal ids as the arguments. */
ngx_int_t ngx_http_ticket_redis_script_ids(ngx_http_ticket_redis_op_t *op,
    ngx_uint_t script, ngx_uint_t nids, uint64_t id0, uint64_t id1);
ngx_int_t ngx_http_ticket_redis_command(ngx_http_ticket_redis_op_t *op,
    ngx_uint_t nargs, ngx_str_t *args);
ngx_int_t ngx_http_ticket_redis_retry_after(ngx_http_request_t *r);

#endif /* NGX_HTTP_TICKET_REDIS_H */
