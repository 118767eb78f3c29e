/*
 * Per-thread state.  Each thread owns one of these for its whole life: its
 * database connection with the prepared statements, the scratch space for
 * password hashing and the seat-map cache.  Nothing in it is shared but
 * the process's cache of taken seats (taken.h), which locks itself.
 */

#ifndef WORKER_WORKER_H
#define WORKER_WORKER_H

#include <crypt.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "router.h"
#include "taken.h"
#include "ticket_token.h"

typedef struct seatmap_cache_s  seatmap_cache_t;
typedef struct thread_ctx_s     thread_ctx_t;

/* A listening socket, and the epoll set its threads share (server.c). */
typedef struct {
    int                   listen_fd;
    int                   epoll_fd;
    int                   wake_fd;    /* eventfd written once on stop */
} server_socket_t;

struct thread_ctx_s {
    int                   id;
    const worker_conf_t  *conf;
    db_t                  db;
    ticket_key_t *const  *keys;       /* current key first */
    size_t                nkeys;
    server_socket_t      *sock;       /* shared with its socket's threads */
    struct crypt_data    *crypt;      /* about 32 KB, hence not on a stack */
    seatmap_cache_t      *seatmaps;
    taken_cache_t        *taken;      /* the process's, shared; or NULL */
    uint64_t              served;
    unsigned              seed;
};

/* The route table (routes.c). */
extern const route_t   worker_routes[];
extern const size_t    worker_nroutes;

/* Serves requests until the process ends (server.c). */
void *server_thread(void *arg);

/* Prepares a listening socket's epoll set; 0 or -1. */
int server_socket_init(server_socket_t *s, int listen_fd);

/* Stops accepting and lets every server thread finish its request. */
void server_stop(server_socket_t *s);

/* Frees the per-thread seat-map cache (seatmap.c). */
void seatmap_cache_free(seatmap_cache_t *cache);

#endif
