/*
 * The rooms' state in shared memory; see ngx_http_ticket_zone.h.
 */

#include "ngx_http_ticket_zone.h"
#include "ngx_http_ticket_redis.h"


/* Index slots swept per tick: a 32m zone is swept in about 10 seconds. */
#define NGX_HTTP_TICKET_SWEEP           16384

/* Index slots copied per lock hold when saving (256 KB). */
#define NGX_HTTP_TICKET_SAVE_CHUNK      16384


static ngx_int_t ngx_http_ticket_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_ticket_zone_create(ngx_shm_zone_t *shm_zone);
static ngx_int_t ngx_http_ticket_zone_configure(ngx_shm_zone_t *shm_zone);
static void ngx_http_ticket_room_purge(ngx_http_ticket_zone_ctx_t *ctx,
    ngx_uint_t slot);
static ngx_http_ticket_session_t *ngx_http_ticket_session_lookup(
    ngx_http_ticket_sh_t *sh, uint64_t user, ngx_uint_t slot);
static void ngx_http_ticket_session_free(ngx_http_ticket_zone_ctx_t *ctx,
    ngx_http_ticket_room_sh_t *rs, ngx_http_ticket_session_t *s);
static int ngx_http_ticket_sweep_entry(const ticket_index_entry_t *e,
    void *data);
static ngx_int_t ngx_http_ticket_zone_load(ngx_shm_zone_t *shm_zone);
static ticket_index_entry_t *ngx_http_ticket_save_entries(
    ngx_http_ticket_zone_ctx_t *ctx, uint32_t *nentries, ngx_log_t *log);
static ngx_http_ticket_room_sh_t *ngx_http_ticket_room_create(
    ngx_http_ticket_zone_ctx_t *ctx, ngx_uint_t slot, ngx_str_t *name);


/*
 * The state file: the rooms, the index entries in use and the sessions,
 * so that a restart (not only a reload) keeps every place.  Host byte
 * order; the sizes in the header reject a file of another build.
 */

#define NGX_HTTP_TICKET_STATE_MAGIC  "TKTZONE1"

typedef struct {
    u_char                       magic[8];
    uint32_t                     room_size;
    uint32_t                     entry_size;
    uint32_t                     session_size;
    uint32_t                     nrooms;
    uint32_t                     nentries;
    uint32_t                     nsessions;
    uint64_t                     serial;
    int64_t                      saved_ms;
} ngx_http_ticket_state_t;


typedef struct {
    u_char                       name[TICKET_TOKEN_ROOM_MAX];
    uint32_t                     name_len;
    uint32_t                     slot;
    uint64_t                     session_ms;
    ticket_admit_t               admit;
} ngx_http_ticket_state_room_t;


typedef struct {
    uint64_t                     user;
    uint64_t                     serial;
    int64_t                      last_ms;
    uint32_t                     slot;
    uint32_t                     reserved;
} ngx_http_ticket_state_session_t;


static ngx_http_ticket_zone_ctx_t *
ngx_http_ticket_room_ctx(ngx_http_ticket_room_t *room)
{
    return room->shm_zone->data;
}


ngx_shm_zone_t *
ngx_http_ticket_zone_add(ngx_conf_t *cf, ngx_str_t *name, size_t size)
{
    ngx_shm_zone_t               *shm_zone;
    ngx_http_ticket_zone_ctx_t   *ctx;
    ngx_http_ticket_main_conf_t  *tmcf;

    shm_zone = ngx_shared_memory_add(cf, name, size, &ngx_http_ticket_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data == NULL) {
        ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_ticket_zone_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ticket_module);
        ctx->tmcf = tmcf;

        shm_zone->init = ngx_http_ticket_zone_init;
        shm_zone->data = ctx;
    }

    return shm_zone;
}


static ngx_int_t
ngx_http_ticket_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ticket_zone_ctx_t  *octx = data;

    ngx_http_ticket_zone_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        /* A reload: take over the rooms, places and sessions. */
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

        return ngx_http_ticket_zone_configure(shm_zone);
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;

        return ngx_http_ticket_zone_configure(shm_zone);
    }

    if (ngx_http_ticket_zone_create(shm_zone) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_ticket_zone_configure(shm_zone);
}


static ngx_int_t
ngx_http_ticket_zone_create(ngx_shm_zone_t *shm_zone)
{
    size_t                       len, bytes, reserve;
    uint32_t                     slots;
    ngx_uint_t                   i, rooms;
    ngx_slab_pool_t             *shpool;
    ticket_index_entry_t        *table;
    ngx_http_ticket_sh_t        *sh;
    ngx_http_ticket_room_t     **confs;
    ngx_http_ticket_zone_ctx_t  *ctx;

    ctx = shm_zone->data;
    shpool = ctx->shpool;

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_ticket_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_ticket_sh_t));
    ctx->sh = sh;
    shpool->data = sh;

    ngx_rbtree_init(&sh->sessions, &sh->sentinel, ngx_rbtree_insert_value);

    /* Session serials start high so a previous life's tokens never match. */
    sh->serial = (uint64_t) ngx_time() << 20;
    sh->last_tick_ms = ngx_http_ticket_now_ms();

    /*
     * The index takes about 3/4 of what the rooms leave (room for twice
     * the configured rooms, so a reload can add some); the rest holds the
     * sessions, which capacity bounds.
     */
    rooms = 0;
    confs = ctx->tmcf->rooms.elts;

    for (i = 0; i < ctx->tmcf->rooms.nelts; i++) {
        if (confs[i]->shm_zone == shm_zone) {
            rooms++;
        }
    }

    reserve = ngx_min((2 * rooms + 8) * sizeof(ngx_http_ticket_room_sh_t),
                      shm_zone->shm.size / 2);
    bytes = (shm_zone->shm.size - reserve) / 4 * 3;
    table = NULL;

    while (bytes >= 64 * sizeof(ticket_index_entry_t)) {
        table = ngx_slab_alloc(shpool, bytes);
        if (table) {
            break;
        }

        bytes = bytes / 8 * 7;
    }

    if (table == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "ticket_zone \"%V\" is too small", &shm_zone->shm.name);
        return NGX_ERROR;
    }

    slots = (uint32_t) ngx_min(bytes / sizeof(ticket_index_entry_t),
                               0xffffffffUL);

    ngx_memzero(table, bytes);
    ticket_index_init(&sh->index, table, slots);
    sh->index_bytes = bytes;

    len = sizeof(" in ticket_zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in ticket_zone \"%V\"%Z",
                &shm_zone->shm.name);

    shpool->log_nomem = 0;

    /* nginx -t has no use for the saved state. */
    if (ctx->state.len && !ngx_test_config) {
        return ngx_http_ticket_zone_load(shm_zone);
    }

    return NGX_OK;
}


/*
 * Writes the new configuration's settings into the rooms, creating the rooms
 * that are new.  Rooms removed from the configuration keep their state until
 * their slot is needed by a new room.
 */
static ngx_int_t
ngx_http_ticket_zone_configure(ngx_shm_zone_t *shm_zone)
{
    ngx_uint_t                   i, slot, k, used;
    ngx_http_ticket_sh_t        *sh;
    ngx_http_ticket_room_t     **rooms, *room;
    ngx_http_ticket_room_sh_t   *rs;
    ngx_http_ticket_zone_ctx_t  *ctx;
    u_char                       inconf[NGX_HTTP_TICKET_ROOMS_MAX];

    ctx = shm_zone->data;
    sh = ctx->sh;
    rooms = ctx->tmcf->rooms.elts;

    ngx_memzero(inconf, sizeof(inconf));

    ngx_shmtx_lock(&ctx->shpool->mutex);

    /* First the rooms that exist already, so their slots are kept. */
    for (i = 0; i < ctx->tmcf->rooms.nelts; i++) {
        room = rooms[i];
        room->sh = NULL;

        if (room->shm_zone != shm_zone) {
            continue;
        }

        for (slot = 0; slot < NGX_HTTP_TICKET_ROOMS_MAX; slot++) {
            rs = sh->rooms[slot];

            if (rs && rs->name_len == room->name.len
                && ngx_memcmp(rs->name, room->name.data, rs->name_len) == 0)
            {
                room->sh = rs;
                room->slot = slot;
                inconf[slot] = 1;
                break;
            }
        }
    }

    for (i = 0; i < ctx->tmcf->rooms.nelts; i++) {
        room = rooms[i];

        if (room->shm_zone != shm_zone || room->sh) {
            continue;
        }

        for (slot = 0; slot < NGX_HTTP_TICKET_ROOMS_MAX; slot++) {
            if (sh->rooms[slot] == NULL) {
                break;
            }
        }

        if (slot == NGX_HTTP_TICKET_ROOMS_MAX) {
            /* Reuse the slot of a room no longer configured. */
            for (slot = 0; slot < NGX_HTTP_TICKET_ROOMS_MAX; slot++) {
                if (!inconf[slot]) {
                    break;
                }
            }

            if (slot == NGX_HTTP_TICKET_ROOMS_MAX) {
                ngx_shmtx_unlock(&ctx->shpool->mutex);
                ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                              "more than %d rooms in ticket_zone \"%V\"",
                              NGX_HTTP_TICKET_ROOMS_MAX, &shm_zone->shm.name);
                return NGX_ERROR;
            }

            ngx_http_ticket_room_purge(ctx, slot);
        }

        rs = ngx_http_ticket_room_create(ctx, slot, &room->name);
        if (rs == NULL) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "no memory for room \"%V\" in ticket_zone "
                          "\"%V\"", &room->name, &shm_zone->shm.name);
            return NGX_ERROR;
        }

        room->sh = rs;
        room->slot = slot;
        inconf[slot] = 1;
    }

    used = 0;

    for (i = 0; i < ctx->tmcf->rooms.nelts; i++) {
        room = rooms[i];

        if (room->shm_zone != shm_zone) {
            continue;
        }

        /* The pause switch is the operator's: a reload keeps it. */
        k = room->sh->admit.paused;
        ticket_admit_configure(&room->sh->admit, &room->admit);
        room->sh->admit.paused = k;
        room->sh->session_ms = room->session;
        used++;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, shm_zone->shm.log, 0,
                   "ticket_zone \"%V\": %ui rooms configured",
                   &shm_zone->shm.name, used);

    return NGX_OK;
}


/* A fresh room in a slot, reusing the slot's memory if it has some. */
static ngx_http_ticket_room_sh_t *
ngx_http_ticket_room_create(ngx_http_ticket_zone_ctx_t *ctx, ngx_uint_t slot,
    ngx_str_t *name)
{
    ngx_http_ticket_room_sh_t  *rs;

    rs = ctx->sh->rooms[slot];

    if (rs == NULL) {
        rs = ngx_slab_alloc_locked(ctx->shpool,
                                   sizeof(ngx_http_ticket_room_sh_t));
        if (rs == NULL) {
            return NULL;
        }

        ctx->sh->rooms[slot] = rs;
    }

    ngx_memzero(rs, sizeof(ngx_http_ticket_room_sh_t));
    ngx_memcpy(rs->name, name->data, name->len);
    rs->name_len = name->len;
    ngx_queue_init(&rs->sessions);
    ticket_admit_init(&rs->admit, ngx_http_ticket_now_ms());

    return rs;
}


static void
ngx_http_ticket_room_purge(ngx_http_ticket_zone_ctx_t *ctx, ngx_uint_t slot)
{
    uint32_t                    i;
    ngx_queue_t                *q;
    ticket_index_t             *ix;
    ngx_http_ticket_room_sh_t  *rs;
    ngx_http_ticket_session_t  *s;

    rs = ctx->sh->rooms[slot];

    while (!ngx_queue_empty(&rs->sessions)) {
        q = ngx_queue_last(&rs->sessions);
        s = ngx_queue_data(q, ngx_http_ticket_session_t, queue);
        ngx_http_ticket_session_free(ctx, rs, s);
    }

    ix = &ctx->sh->index;
    i = 0;

    while (i < ix->size) {
        if (ix->slots[i].user != 0 && ix->slots[i].room == slot) {
            ticket_index_remove(ix, &ix->slots[i]);
            continue;
        }

        i++;
    }
}


static ngx_http_ticket_session_t *
ngx_http_ticket_session_lookup(ngx_http_ticket_sh_t *sh, uint64_t user,
    ngx_uint_t slot)
{
    ngx_rbtree_key_t    key;
    ngx_rbtree_node_t  *node, *sentinel;

    key = (ngx_rbtree_key_t) (user << 6 | slot);
    node = sh->sessions.root;
    sentinel = sh->sessions.sentinel;

    while (node != sentinel) {
        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        return (ngx_http_ticket_session_t *) node;
    }

    return NULL;
}


/* Fills a new session record and links it into the zone and its room. */
static void
ngx_http_ticket_session_link(ngx_http_ticket_sh_t *sh,
    ngx_http_ticket_session_t *s, uint64_t user, ngx_uint_t slot,
    uint64_t serial, int64_t last_ms)
{
    s->node.key = (ngx_rbtree_key_t) (user << 6 | slot);
    s->user = user;
    s->slot = slot;
    s->serial = serial;
    s->last_ms = last_ms;

    ngx_rbtree_insert(&sh->sessions, &s->node);
    ngx_queue_insert_head(&sh->rooms[slot]->sessions, &s->queue);
    sh->nsessions++;
}


/* Ends a session: frees its slot, its index entry and its record. */
static void
ngx_http_ticket_session_free(ngx_http_ticket_zone_ctx_t *ctx,
    ngx_http_ticket_room_sh_t *rs, ngx_http_ticket_session_t *s)
{
    ticket_index_entry_t  *e;

    e = ticket_index_find(&ctx->sh->index, (uint16_t) s->slot, s->user);
    if (e) {
        ticket_index_remove(&ctx->sh->index, e);
    }

    ticket_admit_end(&rs->admit);

    ngx_queue_remove(&s->queue);
    ngx_rbtree_delete(&ctx->sh->sessions, &s->node);
    ngx_slab_free_locked(ctx->shpool, s);
    ctx->sh->nsessions--;
}


typedef struct {
    ngx_http_ticket_sh_t  *sh;
} ngx_http_ticket_sweep_t;


/* Forfeited and stale places need no index entry any more. */
static int
ngx_http_ticket_sweep_entry(const ticket_index_entry_t *e, void *data)
{
    ngx_http_ticket_sweep_t  *sw = data;

    ngx_http_ticket_room_sh_t  *rs;

    if (e->flags & TICKET_INDEX_ACTIVE) {
        return 0;
    }

    rs = e->room < NGX_HTTP_TICKET_ROOMS_MAX ? sw->sh->rooms[e->room] : NULL;

    if (rs == NULL) {
        return 1;
    }

    return ticket_admit_place(&rs->admit, e->place) == TICKET_PLACE_EXPIRED;
}


void
ngx_http_ticket_zone_tick(ngx_shm_zone_t *shm_zone, int64_t now_ms)
{
    ngx_uint_t                    i;
    ngx_queue_t                  *q;
    ngx_http_ticket_sh_t         *sh;
    ngx_http_ticket_room_t      **rooms;
    ngx_uint_t                    save;
    ngx_http_ticket_sweep_t       sw;
    ngx_http_ticket_room_sh_t    *rs;
    ngx_http_ticket_session_t    *s;
    ngx_http_ticket_zone_ctx_t   *ctx;

    ctx = shm_zone->data;
    sh = ctx->sh;

    if (sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);

    /*
     * Every worker calls this on its own timer; whoever comes first after
     * the interval does the tick, so there is no leader to lose.
     */
    if (now_ms >= sh->last_tick_ms
        && now_ms - sh->last_tick_ms < TICKET_ADMIT_TICK_MS - 10)
    {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return;
    }

    sh->last_tick_ms = now_ms;
    rooms = ctx->tmcf->rooms.elts;

    for (i = 0; i < ctx->tmcf->rooms.nelts; i++) {
        if (rooms[i]->shm_zone != shm_zone || rooms[i]->sh == NULL) {
            continue;
        }

        rs = rooms[i]->sh;

        /* Inactive sessions first: their slots count for this tick. */
        while (!ngx_queue_empty(&rs->sessions)) {
            q = ngx_queue_last(&rs->sessions);
            s = ngx_queue_data(q, ngx_http_ticket_session_t, queue);

            if (s->last_ms + (int64_t) rs->session_ms > now_ms) {
                break;
            }

            ngx_http_ticket_session_free(ctx, rs, s);
        }

        /* With Redis, admission is the shared room's tick. */
        if (rooms[i]->redis == NULL) {
            ticket_admit_tick(&rs->admit, now_ms);
        }
    }

    sw.sh = sh;
    ticket_index_sweep(&sh->index, &sh->sweep, NGX_HTTP_TICKET_SWEEP,
                       ngx_http_ticket_sweep_entry, &sw);

    save = 0;

    if (ctx->state.len
        && now_ms - sh->last_save_ms >= NGX_HTTP_TICKET_SAVE_MS)
    {
        /* Claimed under the lock: one process saves. */
        sh->last_save_ms = now_ms;
        save = 1;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (save) {
        (void) ngx_http_ticket_zone_save(shm_zone, ngx_cycle->log);
    }
}


void
ngx_http_ticket_zone_usage(ngx_shm_zone_t *shm_zone,
    ngx_http_ticket_usage_t *usage)
{
    ngx_uint_t                   i;
    ngx_slab_pool_t             *shpool;
    ngx_http_ticket_sh_t        *sh;
    ngx_http_ticket_zone_ctx_t  *ctx;

    ctx = shm_zone->data;
    sh = ctx->sh;
    shpool = ctx->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    usage->size = shm_zone->shm.size;
    usage->index_bytes = sh->index_bytes;
    usage->index_slots = sh->index.size;
    usage->index_entries = sh->index.count;
    usage->index_limit = sh->index.limit;
    usage->sessions = sh->nsessions;
    usage->rooms = 0;

    for (i = 0; i < NGX_HTTP_TICKET_ROOMS_MAX; i++) {
        if (sh->rooms[i]) {
            usage->rooms++;
        }
    }

    /*
     * Memory in use: the fixed parts, the index entries actually held and
     * the session records (a slab rounds each to a power of two).
     */
    usage->used = sizeof(ngx_http_ticket_sh_t)
                  + usage->rooms * sizeof(ngx_http_ticket_room_sh_t)
                  + (size_t) sh->index.count * sizeof(ticket_index_entry_t)
                  + (size_t) sh->nsessions * 128;

    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * Copies the index in chunks, each under the lock for a moment only, so
 * that saving never stalls the requests of other processes.  An entry only
 * ever moves backwards, and only within its cluster (backward-shift
 * deletion), so reading each chunk on to the end of the cluster that
 * crosses its edge misses no entry; the duplicates this gives are merged
 * by the load, the later (newer) copy winning.
 */
static ticket_index_entry_t *
ngx_http_ticket_save_entries(ngx_http_ticket_zone_ctx_t *ctx,
    uint32_t *nentries, ngx_log_t *log)
{
    size_t                 cap, n;
    uint32_t               i, j, end, size;
    ticket_index_entry_t  *buf, *nbuf, *slots;

    slots = ctx->sh->index.slots;
    size = ctx->sh->index.size;
    cap = ctx->sh->index.count + ctx->sh->index.count / 4 + 4096;
    n = 0;

    buf = ngx_alloc(cap * sizeof(ticket_index_entry_t), log);
    if (buf == NULL) {
        return NULL;
    }

    for (i = 0; i < size; i = end) {
        end = size - i > NGX_HTTP_TICKET_SAVE_CHUNK
              ? i + NGX_HTTP_TICKET_SAVE_CHUNK : size;

        ngx_shmtx_lock(&ctx->shpool->mutex);

        for (j = i; ; j++) {
            if (j == size) {
                if (end != size) {
                    break;
                }

                j = 0;
                end = 0;
            }

            if (j >= end && slots[j].user == 0) {
                break;
            }

            if (slots[j].user == 0) {
                continue;
            }

            if (n == cap) {
                nbuf = ngx_alloc(2 * cap * sizeof(ticket_index_entry_t), log);
                if (nbuf == NULL) {
                    ngx_shmtx_unlock(&ctx->shpool->mutex);
                    ngx_free(buf);
                    return NULL;
                }

                ngx_memcpy(nbuf, buf, n * sizeof(ticket_index_entry_t));
                ngx_free(buf);
                buf = nbuf;
                cap *= 2;
            }

            buf[n++] = slots[j];
        }

        ngx_shmtx_unlock(&ctx->shpool->mutex);

        if (end == 0) {
            break;
        }
    }

    *nentries = (uint32_t) n;

    return buf;
}


ngx_int_t
ngx_http_ticket_zone_save(ngx_shm_zone_t *shm_zone, ngx_log_t *log)
{
    u_char                           *buf, *p, tmp[NGX_MAX_PATH];
    size_t                            size, len;
    ssize_t                           n;
    uint32_t                          nrooms, nentries;
    ngx_fd_t                          fd;
    ngx_msec_t                        start;
    ngx_uint_t                        slot, level;
    ngx_queue_t                      *q;
    ngx_http_ticket_sh_t             *sh;
    ticket_index_entry_t             *entries;
    ngx_http_ticket_state_t           hdr;
    ngx_http_ticket_room_sh_t        *rs;
    ngx_http_ticket_session_t        *s;
    ngx_http_ticket_zone_ctx_t       *ctx;
    ngx_http_ticket_state_room_t     *sr;
    ngx_http_ticket_state_session_t  *ss;

    ctx = shm_zone->data;
    sh = ctx->sh;

    if (ctx->state.len == 0 || sh == NULL
        || ctx->state.len + sizeof(".tmp") > NGX_MAX_PATH)
    {
        return NGX_DECLINED;
    }

    ngx_time_update();
    start = ngx_current_msec;

    /* The rooms and the sessions are small: one copy under the lock. */
    ngx_shmtx_lock(&ctx->shpool->mutex);

    nrooms = 0;

    for (slot = 0; slot < NGX_HTTP_TICKET_ROOMS_MAX; slot++) {
        if (sh->rooms[slot]) {
            nrooms++;
        }
    }

    size = sizeof(hdr) + nrooms * sizeof(ngx_http_ticket_state_room_t)
           + (size_t) sh->nsessions * sizeof(ngx_http_ticket_state_session_t);

    buf = ngx_alloc(size, log);
    if (buf == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_ERROR;
    }

    ngx_memzero(&hdr, sizeof(hdr));
    ngx_memcpy(hdr.magic, NGX_HTTP_TICKET_STATE_MAGIC, 8);
    hdr.room_size = sizeof(ngx_http_ticket_state_room_t);
    hdr.entry_size = sizeof(ticket_index_entry_t);
    hdr.session_size = sizeof(ngx_http_ticket_state_session_t);
    hdr.nrooms = nrooms;
    hdr.nsessions = sh->nsessions;
    hdr.serial = sh->serial;
    hdr.saved_ms = ngx_http_ticket_now_ms();

    p = buf + sizeof(hdr);

    for (slot = 0; slot < NGX_HTTP_TICKET_ROOMS_MAX; slot++) {
        rs = sh->rooms[slot];

        if (rs == NULL) {
            continue;
        }

        sr = (ngx_http_ticket_state_room_t *) p;
        ngx_memzero(sr, sizeof(ngx_http_ticket_state_room_t));
        ngx_memcpy(sr->name, rs->name, rs->name_len);
        sr->name_len = (uint32_t) rs->name_len;
        sr->slot = (uint32_t) slot;
        sr->session_ms = rs->session_ms;
        sr->admit = rs->admit;
        p += sizeof(ngx_http_ticket_state_room_t);
    }

    for (slot = 0; slot < NGX_HTTP_TICKET_ROOMS_MAX; slot++) {
        rs = sh->rooms[slot];

        if (rs == NULL) {
            continue;
        }

        /* Oldest first, so a load can rebuild the inactivity order. */
        for (q = ngx_queue_last(&rs->sessions);
             q != ngx_queue_sentinel(&rs->sessions);
             q = ngx_queue_prev(q))
        {
            s = ngx_queue_data(q, ngx_http_ticket_session_t, queue);
            ss = (ngx_http_ticket_state_session_t *) p;
            ss->user = s->user;
            ss->serial = s->serial;
            ss->last_ms = s->last_ms;
            ss->slot = (uint32_t) s->slot;
            ss->reserved = 0;
            p += sizeof(ngx_http_ticket_state_session_t);
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    entries = ngx_http_ticket_save_entries(ctx, &nentries, log);
    if (entries == NULL) {
        ngx_free(buf);
        return NGX_ERROR;
    }

    hdr.nentries = nentries;
    ngx_memcpy(buf, &hdr, sizeof(hdr));

    /* Written aside and renamed, so a crash never leaves half a file. */
    ngx_sprintf(tmp, "%V.tmp%Z", &ctx->state);

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE, 0600);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "ticket_zone \"%V\": cannot write state file \"%s\"",
                      &shm_zone->shm.name, tmp);
        ngx_free(entries);
        ngx_free(buf);
        return NGX_ERROR;
    }

    /* The file's order: header, rooms, entries, sessions. */
    len = sizeof(hdr) + nrooms * sizeof(ngx_http_ticket_state_room_t);

    n = ngx_write_fd(fd, buf, len);

    if (n == (ssize_t) len) {
        len = (size_t) nentries * sizeof(ticket_index_entry_t);
        n = len ? ngx_write_fd(fd, entries, len) : 0;
    }

    if (n == (ssize_t) len) {
        len = (size_t) (p - buf) - sizeof(hdr)
              - nrooms * sizeof(ngx_http_ticket_state_room_t);
        n = len ? ngx_write_fd(fd, p - len, len) : 0;
    }

    ngx_free(entries);
    ngx_free(buf);

    if (n != (ssize_t) len || ngx_close_file(fd) == NGX_FILE_ERROR
        || ngx_rename_file(tmp, ctx->state.data) == NGX_FILE_ERROR)
    {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "ticket_zone \"%V\": cannot save state to \"%V\"",
                      &shm_zone->shm.name, &ctx->state);
        return NGX_ERROR;
    }

    ngx_time_update();

    level = ngx_current_msec - start > 1000 ? NGX_LOG_WARN : NGX_LOG_DEBUG;

    ngx_log_error(level, log, 0, "ticket_zone \"%V\": saved %uD places and %uD "
                  "sessions in %M ms", &shm_zone->shm.name, nentries,
                  hdr.nsessions, ngx_current_msec - start);

    return NGX_OK;
}


/*
 * Restores a saved state into a zone just created, for the rooms the
 * configuration still has.  Time spent down is not counted against the
 * grace of admitted places nor the inactivity of sessions.
 */
static ngx_int_t
ngx_http_ticket_zone_load(ngx_shm_zone_t *shm_zone)
{
    u_char                           *buf, *p;
    size_t                            size;
    ssize_t                           n;
    int64_t                           now, down;
    uint32_t                          i, k, slots[NGX_HTTP_TICKET_ROOMS_MAX];
    ngx_fd_t                          fd;
    ngx_str_t                         name;
    ngx_uint_t                        slot, rooms, places, sessions;
    ngx_file_info_t                   fi;
    ngx_http_ticket_sh_t             *sh;
    ticket_index_entry_t             *e, *fe;
    ngx_http_ticket_state_t           hdr;
    ngx_http_ticket_room_t           *room;
    ngx_http_ticket_room_sh_t        *rs;
    ngx_http_ticket_session_t        *s;
    ngx_http_ticket_zone_ctx_t       *ctx;
    ngx_http_ticket_state_room_t     *sr;
    ngx_http_ticket_state_session_t  *ss;

    ctx = shm_zone->data;
    sh = ctx->sh;

    fd = ngx_open_file(ctx->state.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, ngx_errno,
                          "ticket_zone \"%V\": cannot open state file "
                          "\"%V\", starting empty",
                          &shm_zone->shm.name, &ctx->state);
        }

        return NGX_OK;
    }

    buf = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) < (off_t) sizeof(hdr))
    {
        goto invalid;
    }

    size = (size_t) ngx_file_size(&fi);

    buf = ngx_alloc(size, shm_zone->shm.log);
    if (buf == NULL) {
        ngx_close_file(fd);
        return NGX_OK;
    }

    n = ngx_read_fd(fd, buf, size);

    if (n != (ssize_t) size) {
        goto invalid;
    }

    ngx_memcpy(&hdr, buf, sizeof(hdr));

    if (ngx_memcmp(hdr.magic, NGX_HTTP_TICKET_STATE_MAGIC, 8) != 0
        || hdr.room_size != sizeof(ngx_http_ticket_state_room_t)
        || hdr.entry_size != sizeof(ticket_index_entry_t)
        || hdr.session_size != sizeof(ngx_http_ticket_state_session_t)
        || hdr.nrooms > NGX_HTTP_TICKET_ROOMS_MAX
        || size != sizeof(hdr)
                   + hdr.nrooms * sizeof(ngx_http_ticket_state_room_t)
                   + (size_t) hdr.nentries * sizeof(ticket_index_entry_t)
                   + (size_t) hdr.nsessions
                     * sizeof(ngx_http_ticket_state_session_t))
    {
        goto invalid;
    }

    now = ngx_http_ticket_now_ms();
    down = now > hdr.saved_ms ? now - hdr.saved_ms : 0;

    for (k = 0; k < NGX_HTTP_TICKET_ROOMS_MAX; k++) {
        slots[k] = NGX_HTTP_TICKET_ROOMS_MAX;
    }

    p = buf + sizeof(hdr);
    rooms = 0;

    for (i = 0; i < hdr.nrooms; i++) {
        sr = (ngx_http_ticket_state_room_t *) p;
        p += sizeof(ngx_http_ticket_state_room_t);

        if (sr->slot >= NGX_HTTP_TICKET_ROOMS_MAX
            || sr->name_len == 0 || sr->name_len > TICKET_TOKEN_ROOM_MAX)
        {
            goto invalid;
        }

        name.data = sr->name;
        name.len = sr->name_len;
        room = ngx_http_ticket_find_room(ctx->tmcf, name.data, name.len);

        if (room == NULL || room->shm_zone != shm_zone) {
            continue;
        }

        slot = rooms;
        rs = ngx_http_ticket_room_create(ctx, slot, &name);
        if (rs == NULL) {
            goto invalid;
        }

        rs->session_ms = sr->session_ms;
        rs->admit = sr->admit;
        rs->admit.last_tick_ms = now;

        for (k = 0; k < rs->admit.batch_count; k++) {
            rs->admit.batches[(rs->admit.batch_head + k)
                              % TICKET_ADMIT_BATCHES].at_ms += down;
        }

        slots[sr->slot] = (uint32_t) slot;
        rooms++;
    }

    places = 0;

    for (i = 0; i < hdr.nentries; i++) {
        fe = (ticket_index_entry_t *) p;
        p += sizeof(ticket_index_entry_t);

        if (fe->room >= NGX_HTTP_TICKET_ROOMS_MAX
            || slots[fe->room] == NGX_HTTP_TICKET_ROOMS_MAX)
        {
            continue;
        }

        e = ticket_index_insert(&sh->index, (uint16_t) slots[fe->room],
                                fe->user);
        if (e == NULL) {
            continue;
        }

        e->place = fe->place;
        e->flags = fe->flags;
        places++;
    }

    sessions = 0;

    for (i = 0; i < hdr.nsessions; i++) {
        ss = (ngx_http_ticket_state_session_t *) p;
        p += sizeof(ngx_http_ticket_state_session_t);

        if (ss->slot >= NGX_HTTP_TICKET_ROOMS_MAX
            || slots[ss->slot] == NGX_HTTP_TICKET_ROOMS_MAX
            || ss->user == 0 || ss->user >= NGX_HTTP_TICKET_USER_MAX)
        {
            continue;
        }

        slot = slots[ss->slot];

        s = ngx_slab_alloc(ctx->shpool, sizeof(ngx_http_ticket_session_t));
        if (s == NULL) {
            break;
        }

        ngx_http_ticket_session_link(sh, s, ss->user, slot, ss->serial,
                                     ss->last_ms + down);
        sessions++;
    }

    if (hdr.serial > sh->serial) {
        sh->serial = hdr.serial;
    }

    ngx_free(buf);
    ngx_close_file(fd);

    ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                  "ticket_zone \"%V\": restored %ui rooms, %ui places and "
                  "%ui sessions from \"%V\", saved %L ms ago",
                  &shm_zone->shm.name, rooms, places, sessions, &ctx->state,
                  down);

    return NGX_OK;

invalid:

    ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                  "ticket_zone \"%V\": state file \"%V\" is not usable, "
                  "starting empty", &shm_zone->shm.name, &ctx->state);

    if (buf) {
        ngx_free(buf);
    }

    ngx_close_file(fd);

    return NGX_OK;
}


ngx_uint_t
ngx_http_ticket_room_join(ngx_http_ticket_room_t *room, uint64_t user,
    int64_t now_ms, uint64_t *place, uint64_t *serial)
{
    uint64_t                     p;
    ngx_uint_t                   rc;
    ticket_index_entry_t        *e;
    ngx_http_ticket_room_sh_t   *rs;
    ngx_http_ticket_session_t   *s;
    ngx_http_ticket_zone_ctx_t  *ctx;

    ctx = ngx_http_ticket_room_ctx(room);
    rs = room->sh;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    e = ticket_index_find(&ctx->sh->index, (uint16_t) room->slot, user);

    if (e && (e->flags & TICKET_INDEX_ACTIVE)) {
        s = ngx_http_ticket_session_lookup(ctx->sh, user, room->slot);

        if (s) {
            *place = e->place;
            *serial = s->serial;
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return NGX_HTTP_TICKET_JOIN_ACTIVE;
        }

        e->flags &= ~TICKET_INDEX_ACTIVE;
    }

    if (e && ticket_admit_place(&rs->admit, e->place)
             != TICKET_PLACE_EXPIRED)
    {
        /* Refresh, a second tab or a second device: the same place. */
        *place = e->place;
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_HTTP_TICKET_JOIN_SAME;
    }

    rc = NGX_HTTP_TICKET_JOIN_NEW;

    if (e == NULL) {
        e = ticket_index_insert(&ctx->sh->index, (uint16_t) room->slot, user);
        if (e == NULL) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return NGX_HTTP_TICKET_JOIN_FULL;
        }
    }

    p = ticket_admit_join(&rs->admit, now_ms);

    if (p == 0) {
        ticket_index_remove(&ctx->sh->index, e);
        rc = NGX_HTTP_TICKET_JOIN_FULL;

    } else {
        e->place = (uint32_t) p;
        e->flags = 0;
        *place = p;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


/*
 * Where a place stands.  Polling by the waiting crowd is the hottest path,
 * so it reads the room without the lock: seq, expired_upto and serving are
 * aligned 64-bit words that only grow, so a place's state read at any
 * moment is one it really had.  The wait estimate may read a second's count
 * while it is updated; it is an estimate.
 */
void
ngx_http_ticket_room_standing(ngx_http_ticket_room_t *room, uint64_t place,
    int64_t now_ms, ngx_http_ticket_standing_t *st)
{
    int              state;
    uint64_t         seq, serving;
    ticket_admit_t  *a;

    a = &room->sh->admit;

    ngx_memzero(st, sizeof(ngx_http_ticket_standing_t));
    st->place = place;
    st->refresh = room->refresh;

    if (room->opens_at && now_ms / 1000 < room->opens_at) {
        st->opens_in = room->opens_at - (time_t) (now_ms / 1000);
    }

    if (room->redis) {
        st->stale = ngx_http_ticket_room_stale(room, now_ms);
    }

    if (place & NGX_HTTP_TICKET_PROVISIONAL) {
        /* No number yet: in line, behind nobody in particular. */
        st->status = a->paused ? NGX_HTTP_TICKET_PAUSED
                               : NGX_HTTP_TICKET_WAITING;
        st->behind = room->sh->prequeued;
        return;
    }

    state = ticket_admit_place(a, place);
    seq = *(volatile uint64_t *) &a->seq;

    if (room->redis && place > seq && place > a->expired_upto) {
        /* Handed out by Redis since the last mirror: newest in line. */
        state = TICKET_PLACE_WAITING;
        seq = place;
    }

    switch (state) {

    case TICKET_PLACE_WAITING:
        serving = *(volatile uint64_t *) &a->serving;

        if (place <= serving) {
            /* Admitted since: the next poll says so. */
            serving = place - 1;
        }

        st->behind = seq - place;
        st->position = place - serving;
        st->status = a->paused ? NGX_HTTP_TICKET_PAUSED
                               : NGX_HTTP_TICKET_WAITING;
        st->wait_known = ticket_admit_wait(a, st->position, now_ms,
                                           &st->wait);
        break;

    case TICKET_PLACE_ADMITTED:
        st->status = NGX_HTTP_TICKET_ADMITTED;
        st->wait_known = 1;
        break;

    default:
        st->status = NGX_HTTP_TICKET_EXPIRED;
        break;
    }

    if (st->wait_known && st->status == NGX_HTTP_TICKET_WAITING
        && (time_t) st->wait < st->refresh)
    {
        /* Close to the front: poll sooner so the turn is not missed. */
        st->refresh = st->wait > 1 ? (time_t) st->wait : 1;
    }
}


ngx_uint_t
ngx_http_ticket_room_convert(ngx_http_ticket_room_t *room, uint64_t user,
    uint64_t place, int64_t now_ms, uint64_t *serial)
{
    int                          rc;
    ticket_index_entry_t        *e;
    ngx_http_ticket_room_sh_t   *rs;
    ngx_http_ticket_session_t   *s;
    ngx_http_ticket_zone_ctx_t  *ctx;

    ctx = ngx_http_ticket_room_ctx(room);
    rs = room->sh;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    e = ticket_index_find(&ctx->sh->index, (uint16_t) room->slot, user);

    if (e == NULL) {
        /* Left the line, or the place was forfeited and swept. */
        rc = ticket_admit_place(&rs->admit, place);
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return rc == TICKET_PLACE_WAITING ? NGX_HTTP_TICKET_LEFT
                                          : NGX_HTTP_TICKET_EXPIRED;
    }

    if (e->flags & TICKET_INDEX_ACTIVE) {
        s = ngx_http_ticket_session_lookup(ctx->sh, user, room->slot);

        if (s) {
            *serial = s->serial;
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return NGX_HTTP_TICKET_ADMITTED;
        }
    }

    if (e->place != place) {
        /* An old token of a user who has joined again since. */
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_HTTP_TICKET_EXPIRED;
    }

    rc = ticket_admit_place(&rs->admit, place);

    if (rc != TICKET_PLACE_ADMITTED) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return rc == TICKET_PLACE_WAITING ? NGX_HTTP_TICKET_WAITING
                                          : NGX_HTTP_TICKET_EXPIRED;
    }

    s = ngx_slab_alloc_locked(ctx->shpool, sizeof(ngx_http_ticket_session_t));
    if (s == NULL) {
        /* Keep the place: the user is admitted at the next try. */
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ticket_zone \"%V\" has no memory for a session of "
                      "room \"%V\"", &room->shm_zone->shm.name, &room->name);
        return NGX_HTTP_TICKET_WAITING;
    }

    if (ticket_admit_convert(&rs->admit, place) != TICKET_PLACE_ADMITTED) {
        ngx_slab_free_locked(ctx->shpool, s);
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_HTTP_TICKET_EXPIRED;
    }

    ngx_http_ticket_session_link(ctx->sh, s, user, room->slot,
                                 ++ctx->sh->serial, now_ms);

    e->flags |= TICKET_INDEX_ACTIVE;
    *serial = s->serial;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_HTTP_TICKET_ADMITTED;
}


ngx_int_t
ngx_http_ticket_room_session(ngx_http_ticket_room_t *room, uint64_t user,
    uint64_t serial, int64_t now_ms)
{
    ngx_http_ticket_room_sh_t   *rs;
    ngx_http_ticket_session_t   *s;
    ngx_http_ticket_zone_ctx_t  *ctx;

    ctx = ngx_http_ticket_room_ctx(room);
    rs = room->sh;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    s = ngx_http_ticket_session_lookup(ctx->sh, user, room->slot);

    if (s == NULL || s->serial != serial) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_DECLINED;
    }

    if (s->last_ms + (int64_t) rs->session_ms <= now_ms) {
        ngx_http_ticket_session_free(ctx, rs, s);
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_DECLINED;
    }

    /* A second's precision is enough and spares most queue moves. */
    if (now_ms - s->last_ms >= 1000) {
        s->last_ms = now_ms;
        ngx_queue_remove(&s->queue);
        ngx_queue_insert_head(&rs->sessions, &s->queue);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


ngx_int_t
ngx_http_ticket_room_end(ngx_http_ticket_room_t *room, uint64_t user,
    uint64_t serial)
{
    ngx_http_ticket_session_t   *s;
    ngx_http_ticket_zone_ctx_t  *ctx;

    ctx = ngx_http_ticket_room_ctx(room);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    s = ngx_http_ticket_session_lookup(ctx->sh, user, room->slot);

    if (s == NULL || (serial && s->serial != serial)) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_DECLINED;
    }

    ngx_http_ticket_session_free(ctx, room->sh, s);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


ngx_int_t
ngx_http_ticket_room_leave(ngx_http_ticket_room_t *room, uint64_t user,
    uint64_t place)
{
    ngx_http_ticket_sh_t        *sh;
    ticket_index_entry_t        *e;
    ngx_http_ticket_session_t   *s;
    ngx_http_ticket_zone_ctx_t  *ctx;

    ctx = ngx_http_ticket_room_ctx(room);
    sh = ctx->sh;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    s = ngx_http_ticket_session_lookup(sh, user, room->slot);

    if (s) {
        ngx_http_ticket_session_free(ctx, room->sh, s);
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_OK;
    }

    e = ticket_index_find(&sh->index, (uint16_t) room->slot, user);

    if (e == NULL || (place && e->place != place)) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_DECLINED;
    }

    /* An admitted place that leaves gives its slot back at once. */
    ticket_admit_forfeit(&room->sh->admit, e->place);
    ticket_index_remove(&sh->index, e);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


void
ngx_http_ticket_room_pause(ngx_http_ticket_room_t *room, ngx_uint_t paused)
{
    ngx_http_ticket_zone_ctx_t  *ctx;

    ctx = ngx_http_ticket_room_ctx(room);

    ngx_shmtx_lock(&ctx->shpool->mutex);
    room->sh->admit.paused = paused ? 1 : 0;
    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


void
ngx_http_ticket_room_snapshot(ngx_http_ticket_room_t *room, int64_t now_ms,
    ngx_http_ticket_snapshot_t *snap)
{
    ngx_uint_t                   i;
    ticket_admit_t              *a;
    ngx_http_ticket_zone_ctx_t  *ctx;

    ctx = ngx_http_ticket_room_ctx(room);
    a = &room->sh->admit;

    ngx_memzero(snap, sizeof(ngx_http_ticket_snapshot_t));
    snap->phase = ngx_http_ticket_room_phase(room, (time_t) (now_ms / 1000));

    ngx_shmtx_lock(&ctx->shpool->mutex);

    snap->paused = a->paused;
    snap->seq = a->seq;
    snap->serving = a->serving;
    snap->waiting = a->seq - a->serving;
    snap->active = a->active;
    snap->pending = a->pending;
    snap->capacity = a->conf.capacity;
    snap->rate_n = a->conf.rate_n;
    snap->rate_period_ms = a->conf.rate_period_ms;
    snap->queue_all = room->sh->queue_all;
    snap->prequeued = room->sh->prequeued;
    snap->synced_ms_ago = now_ms - room->sh->redis_synced_ms;

    if (room->redis) {
        snap->stale = ngx_http_ticket_room_stale(room, now_ms);
    }
    snap->per_minute = ticket_admit_last_minute(a, now_ms);
    snap->oldest_wait = ticket_admit_oldest_wait(a, now_ms);
    snap->wait_known = ticket_admit_wait(a, snap->waiting, now_ms,
                                         &snap->wait_back);
    snap->admitted_total = a->admitted_total;
    snap->converted_total = a->converted_total;
    snap->forfeited_total = a->forfeited_total;
    snap->ended_total = a->ended_total;

    for (i = 0; i < 10; i++) {
        snap->last_seconds[i] = ticket_admit_in_second(a,
                                                    now_ms / 1000 - (int64_t) i);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/*
 * Copies the shared room's state, as Redis answered it, into the zone.
 * Returns how many sessions ended in Redis since the last mirror, which
 * the caller (one process, the claim is made under the lock) fetches so
 * that the gate here stops passing them.
 */
uint64_t
ngx_http_ticket_room_mirror(ngx_http_ticket_room_t *room,
    ngx_http_ticket_mirror_t *m, int64_t now_ms)
{
    uint64_t                     ended;
    ngx_http_ticket_room_sh_t   *rs;
    ngx_http_ticket_zone_ctx_t  *ctx;

    ctx = ngx_http_ticket_room_ctx(room);
    rs = room->sh;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ended = 0;

    if (ticket_admit_mirror(&rs->admit, &m->admit, now_ms) != 0) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return 0;
    }

    if (rs->redis_synced_ms && m->admit.ended_total > rs->redis_ended) {
        ended = ngx_min(m->admit.ended_total - rs->redis_ended, 1000);
    }

    rs->redis_ended = m->admit.ended_total;
    rs->prequeued = m->prequeued;
    rs->queue_all = m->queue_all;
    rs->opened = m->opened;
    rs->redis_synced_ms = now_ms;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return ended;
}


/*
 * The sessions seen since the last push, newest first: their activity
 * goes to Redis, which ends sessions by inactivity for all instances.
 * The claim is made under the lock, so one process pushes each change.
 */
ngx_uint_t
ngx_http_ticket_room_touched(ngx_http_ticket_room_t *room, uint64_t *users,
    int64_t *ms, ngx_uint_t max)
{
    int64_t                      newest;
    ngx_uint_t                   n;
    ngx_queue_t                 *q;
    ngx_http_ticket_room_sh_t   *rs;
    ngx_http_ticket_session_t   *s;
    ngx_http_ticket_zone_ctx_t  *ctx;

    ctx = ngx_http_ticket_room_ctx(room);
    rs = room->sh;
    n = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    newest = rs->redis_pushed_ms;

    for (q = ngx_queue_head(&rs->sessions);
         q != ngx_queue_sentinel(&rs->sessions) && n < max;
         q = ngx_queue_next(q))
    {
        s = ngx_queue_data(q, ngx_http_ticket_session_t, queue);

        if (s->last_ms <= rs->redis_pushed_ms) {
            break;
        }

        if (s->last_ms > newest) {
            newest = s->last_ms;
        }

        users[n] = s->user;
        ms[n] = s->last_ms;
        n++;
    }

    rs->redis_pushed_ms = newest;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return n;
}


/*
 * A session Redis knows (converted here or on another instance) gets a
 * local record, so the gate checks it from shared memory from now on.
 */
ngx_int_t
ngx_http_ticket_room_adopt(ngx_http_ticket_room_t *room, uint64_t user,
    uint64_t serial, int64_t now_ms)
{
    ngx_http_ticket_room_sh_t   *rs;
    ngx_http_ticket_session_t   *s;
    ngx_http_ticket_zone_ctx_t  *ctx;

    ctx = ngx_http_ticket_room_ctx(room);
    rs = room->sh;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    s = ngx_http_ticket_session_lookup(ctx->sh, user, room->slot);

    if (s == NULL) {
        s = ngx_slab_alloc_locked(ctx->shpool,
                                  sizeof(ngx_http_ticket_session_t));
        if (s == NULL) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return NGX_ERROR;
        }

        ngx_http_ticket_session_link(ctx->sh, s, user, room->slot, serial,
                                     now_ms);

    } else {
        /* Known already: refresh it and move it to the front. */
        s->serial = serial;
        s->last_ms = now_ms;
        ngx_queue_remove(&s->queue);
        ngx_queue_insert_head(&rs->sessions, &s->queue);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


/* The mirror is older than three syncs (and a second): Redis is away. */
ngx_uint_t
ngx_http_ticket_room_stale(ngx_http_ticket_room_t *room, int64_t now_ms)
{
    int64_t  limit;

    limit = ngx_max((int64_t) room->redis->sync * 3, 1000);

    return now_ms - room->sh->redis_synced_ms > limit;
}
