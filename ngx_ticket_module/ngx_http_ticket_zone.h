/*
 * The rooms' state in shared memory.
 *
 * Rooms live in a slab-allocated zone keyed by name, so a reload finds them
 * again; the user-to-place index is one preallocated table; admitted
 * sessions are a red-black tree with one inactivity queue per room.  Every
 * function below is one operation on a room (join, standing, convert,
 * session check, end, leave, tick): a shared backend (Redis) can stand in
 * behind the same calls.
 */

#ifndef NGX_HTTP_TICKET_ZONE_H
#define NGX_HTTP_TICKET_ZONE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ticket_module.h"
#include "ticket_index.h"


#define NGX_HTTP_TICKET_ROOMS_MAX       64
#define NGX_HTTP_TICKET_SAVE_MS         10000

/* What a join gave. */
#define NGX_HTTP_TICKET_JOIN_NEW        0
#define NGX_HTTP_TICKET_JOIN_SAME       1
#define NGX_HTTP_TICKET_JOIN_ACTIVE     2   /* already has a session */
#define NGX_HTTP_TICKET_JOIN_FULL       3


struct ngx_http_ticket_room_sh_s {
    u_char                       name[TICKET_TOKEN_ROOM_MAX];
    size_t                       name_len;
    uint64_t                     session_ms;
    ngx_queue_t                  sessions;      /* most recently seen first */
    ticket_admit_t               admit;

    /* With ticket_redis: the mirror of the shared room. */
    int64_t                      redis_synced_ms;
    int64_t                      redis_pushed_ms;   /* activity sent up to */
    uint64_t                     redis_ended;       /* ended sessions seen */
    uint64_t                     prequeued;
    ngx_uint_t                   queue_all;
    ngx_uint_t                   opened;
};


typedef struct {
    ngx_rbtree_node_t            node;          /* key: user << 6 | slot */
    ngx_queue_t                  queue;
    int64_t                      last_ms;
    uint64_t                     user;
    uint64_t                     serial;
    ngx_uint_t                   slot;
} ngx_http_ticket_session_t;


typedef struct {
    int64_t                      last_tick_ms;
    int64_t                      last_save_ms;
    uint64_t                     serial;
    uint32_t                     sweep;
    uint32_t                     nsessions;
    size_t                       index_bytes;
    ngx_rbtree_t                 sessions;
    ngx_rbtree_node_t            sentinel;
    ticket_index_t               index;
    ngx_http_ticket_room_sh_t   *rooms[NGX_HTTP_TICKET_ROOMS_MAX];
    ngx_atomic_t                 redis_down;    /* said once in the log */
} ngx_http_ticket_sh_t;


typedef struct {
    ngx_http_ticket_sh_t        *sh;
    ngx_slab_pool_t             *shpool;
    ngx_http_ticket_main_conf_t *tmcf;
    ngx_str_t                    state;         /* file, NUL-terminated */
} ngx_http_ticket_zone_ctx_t;


/* A room's figures for operators. */
typedef struct {
    ngx_uint_t                   phase;
    ngx_uint_t                   paused;
    uint64_t                     seq;
    uint64_t                     serving;
    uint64_t                     waiting;
    uint64_t                     active;
    uint64_t                     pending;
    uint64_t                     capacity;
    uint32_t                     rate_n;
    uint64_t                     rate_period_ms;
    uint64_t                     per_minute;
    int64_t                      oldest_wait;
    uint64_t                     wait_back;
    ngx_uint_t                   wait_known;
    uint64_t                     admitted_total;
    uint64_t                     converted_total;
    uint64_t                     forfeited_total;
    uint64_t                     ended_total;
    uint32_t                     last_seconds[10];  /* newest first */
    ngx_uint_t                   queue_all;
    ngx_uint_t                   stale;
    uint64_t                     prequeued;
    int64_t                      synced_ms_ago;
} ngx_http_ticket_snapshot_t;


/* What the mirror copies from the shared room. */
typedef struct {
    ticket_admit_mirror_t        admit;
    uint64_t                     prequeued;
    ngx_uint_t                   queue_all;
    ngx_uint_t                   opened;
} ngx_http_ticket_mirror_t;


/* The zone's memory for operators. */
typedef struct {
    size_t                       size;
    size_t                       used;
    size_t                       index_bytes;
    uint32_t                     index_slots;
    uint32_t                     index_entries;
    uint32_t                     index_limit;
    uint32_t                     sessions;
    ngx_uint_t                   rooms;
} ngx_http_ticket_usage_t;


ngx_shm_zone_t *ngx_http_ticket_zone_add(ngx_conf_t *cf, ngx_str_t *name,
    size_t size);
void ngx_http_ticket_zone_tick(ngx_shm_zone_t *shm_zone, int64_t now_ms);
ngx_int_t ngx_http_ticket_zone_save(ngx_shm_zone_t *shm_zone, ngx_log_t *log);
void ngx_http_ticket_zone_usage(ngx_shm_zone_t *shm_zone,
    ngx_http_ticket_usage_t *usage);

ngx_uint_t ngx_http_ticket_room_join(ngx_http_ticket_room_t *room,
    uint64_t user, int64_t now_ms, uint64_t *place, uint64_t *serial);
void ngx_http_ticket_room_standing(ngx_http_ticket_room_t *room,
    uint64_t place, int64_t now_ms, ngx_http_ticket_standing_t *st);
ngx_uint_t ngx_http_ticket_room_convert(ngx_http_ticket_room_t *room,
    uint64_t user, uint64_t place, int64_t now_ms, uint64_t *serial);
ngx_int_t ngx_http_ticket_room_session(ngx_http_ticket_room_t *room,
    uint64_t user, uint64_t serial, int64_t now_ms);
ngx_int_t ngx_http_ticket_room_end(ngx_http_ticket_room_t *room,
    uint64_t user, uint64_t serial);
ngx_int_t ngx_http_ticket_room_leave(ngx_http_ticket_room_t *room,
    uint64_t user, uint64_t place);
void ngx_http_ticket_room_pause(ngx_http_ticket_room_t *room,
    ngx_uint_t paused);
uint64_t ngx_http_ticket_room_mirror(ngx_http_ticket_room_t *room,
    ngx_http_ticket_mirror_t *m, int64_t now_ms);
ngx_uint_t ngx_http_ticket_room_touched(ngx_http_ticket_room_t *room,
    uint64_t *users, int64_t *ms, ngx_uint_t max);
ngx_int_t ngx_http_ticket_room_adopt(ngx_http_ticket_room_t *room,
    uint64_t user, uint64_t serial, int64_t now_ms);
ngx_uint_t ngx_http_ticket_room_stale(ngx_http_ticket_room_t *room,
    int64_t now_ms);
void ngx_http_ticket_room_snapshot(ngx_http_ticket_room_t *room,
    int64_t now_ms, ngx_http_ticket_snapshot_t *snap);

#endif /* NGX_HTTP_TICKET_ZONE_H */
