/*
 * ticket-worker: the FastCGI worker, the system of record.
 *
 *   ticket-worker -c worker.conf     serve
 *   ticket-worker -t -c worker.conf  check the configuration and keys
 *   ticket-worker --hash-password    read a password on stdin, print its
 *                                    yescrypt hash (for seeding users)
 */

#include <crypt.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "gateway.h"
#include "log.h"
#include "outbox.h"
#include "settle.h"
#include "sweeper.h"
#include "worker.h"

/* A listening socket and the threads that serve it. */
typedef struct {
    const char       *path;
    int               fd;
    int               threads;
    server_socket_t   sock;
} listener_t;


static int
hash_password_stdin(void)
{
    struct crypt_data  *cd;
    char                pw[256], salt[CRYPT_GENSALT_OUTPUT_SIZE];
    char               *h;

    if (fgets(pw, sizeof(pw), stdin) == NULL) {
        fprintf(stderr, "no password on stdin\n");
        return 1;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    cd = calloc(1, sizeof(*cd));
    if (cd == NULL
        || crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL
        || (h = crypt_r(pw, salt, cd)) == NULL || h[0] == '*')
    {
        fprintf(stderr, "hashing failed\n");
        free(cd);
        return 1;
    }
    printf("%s\n", h);
    free(cd);
    return 0;
}


static int
load_keys(const worker_conf_t *conf, ticket_key_t **keys, size_t *nkeys)
{
    const char  *err = NULL;

    *nkeys = 0;
    if (conf->secret_file[0] == '\0') {
        log_error("secret_file is not set");
        return -1;
    }
    keys[0] = ticket_key_load(conf->secret_file, &err);
    if (keys[0] == NULL) {
        log_error("secret_file %s: %s", conf->secret_file,
                  err ? err : "unreadable");
        return -1;
    }
    *nkeys = 1;
    if (conf->previous_secret_file[0] != '\0') {
        keys[1] = ticket_key_load(conf->previous_secret_file, &err);
        if (keys[1] == NULL) {
            log_error("previous_secret_file %s: %s",
                      conf->previous_secret_file, err ? err : "unreadable");
            return -1;
        }
        *nkeys = 2;
    }
    return 0;
}


/*
 * Opens the unix socket NGINX talks to; 0 or -1.  A stale socket file of
 * an earlier run is replaced.
 */
static int
listener_open(listener_t *l, const worker_conf_t *conf)
{
    unlink(l->path);
    l->fd = FCGX_OpenSocket(l->path, conf->backlog);
    if (l->fd < 0) {
        log_error("cannot listen on %s", l->path);
        return -1;
    }
    if (chmod(l->path, (mode_t) conf->socket_mode) != 0) {
        log_warn("chmod %s failed", l->path);
    }
    return server_socket_init(&l->sock, l->fd);
}


static void
usage(void)
{
    fprintf(stderr, "usage: ticket-worker [-t] -c FILE\n"
                    "       ticket-worker --hash-password < password\n");
}


int
main(int argc, char **argv)
{
    static worker_conf_t   conf;
    static ticket_key_t   *keys[2];
    thread_ctx_t          *threads;
    taken_cache_t         *taken = NULL;
    const char            *conf_path = NULL;
    pthread_t             *tids;
    size_t                 nkeys;
    static listener_t      listeners[2];
    char                   err[512];
    int                    opt, test_only = 0, i, sig, nlisteners, nthreads;
    sigset_t               stop_signals;

    if (argc == 2 && strcmp(argv[1], "--hash-password") == 0) {
        return hash_password_stdin();
    }
    while ((opt = getopt(argc, argv, "c:th")) != -1) {
        switch (opt) {
        case 'c':
            conf_path = optarg;
            break;
        case 't':
            test_only = 1;
            break;
        default:
            usage();
            return 2;
        }
    }
    if (conf_path == NULL) {
        usage();
        return 2;
    }

    conf_defaults(&conf);
    if (conf_load(&conf, conf_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "ticket-worker: %s\n", err);
        return 1;
    }
    log_set_level(conf.log_level);
    if (load_keys(&conf, keys, &nkeys) != 0 || gateway_init(&conf) != 0) {
        return 1;
    }
    if (test_only) {
        fprintf(stderr, "ticket-worker: configuration %s is ok\n", conf_path);
        return 0;
    }

    /* A client that hangs up must not kill the process mid-write. */
    signal(SIGPIPE, SIG_IGN);

    /*
     * The stop signals are blocked in every thread (the threads inherit
     * the mask) and taken by the main thread with sigwait(), so that a
     * stop is an orderly step rather than an interruption.
     */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    if (db_library_init() != 0) {
        log_error("mysql_library_init failed");
        return 1;
    }
    if (FCGX_Init() != 0) {
        log_error("FCGX_Init failed");
        return 1;
    }
    nlisteners = conf.priority_socket[0] != '\0' ? 2 : 1;
    listeners[0].path = conf.socket;
    listeners[0].threads = conf.threads;
    listeners[1].path = conf.priority_socket;
    listeners[1].threads = conf.priority_threads;
    nthreads = 0;
    for (i = 0; i < nlisteners; i++) {
        if (listener_open(&listeners[i], &conf) != 0) {
            return 1;
        }
        nthreads += listeners[i].threads;
    }

    threads = calloc((size_t) nthreads, sizeof(*threads));
    tids = calloc((size_t) nthreads, sizeof(*tids));
    if (conf.taken_cache_ms > 0) {
        taken = taken_cache_create(conf.taken_cache_ms);
    }
    if (threads == NULL || tids == NULL
        || (conf.taken_cache_ms > 0 && taken == NULL))
    {
        log_error("out of memory");
        return 1;
    }

    for (i = 0; i < nthreads; i++) {
        thread_ctx_t  *t = &threads[i];
        listener_t    *l = &listeners[i < conf.threads ? 0 : 1];

        t->id = i;
        t->conf = &conf;
        t->keys = keys;
        t->nkeys = nkeys;
        t->sock = &l->sock;
        t->taken = taken;
        t->seed = (unsigned) time(NULL) ^ (unsigned) (i * 2654435761u)
                  ^ (unsigned) getpid();
        t->crypt = calloc(1, sizeof(*t->crypt));
        if (t->crypt == NULL) {
            log_error("out of memory");
            return 1;
        }
        db_init(&t->db, &conf);
        if (pthread_create(&tids[i], NULL, server_thread, t) != 0) {
            log_error("pthread_create failed");
            return 1;
        }
    }
    if (sweeper_start(&conf) != 0) {
        log_error("cannot start the sweeper thread");
        return 1;
    }
    if (settle_start(&conf) != 0 || outbox_start(&conf) != 0) {
        log_error("cannot start the settle or outbox thread");
        return 1;
    }
    for (i = 0; i < nlisteners; i++) {
        log_info("ticket-worker listening on %s with %d threads",
                 listeners[i].path, listeners[i].threads);
    }

    if (sigwait(&stop_signals, &sig) == 0) {
        log_info("signal %d: finishing the requests in progress", sig);
    }
    for (i = 0; i < nlisteners; i++) {
        server_stop(&listeners[i].sock);
    }

    for (i = 0; i < nthreads; i++) {
        pthread_join(tids[i], NULL);
    }
    /* They finish their current payment or event, then stop. */
    settle_stop();
    outbox_stop();
    for (i = 0; i < nlisteners; i++) {
        unlink(listeners[i].path);
    }
    log_info("ticket-worker stopped");
    for (i = 0; i < nthreads; i++) {
        db_close(&threads[i].db);
        seatmap_cache_free(threads[i].seatmaps);
        free(threads[i].crypt);
    }
    free(threads);
    free(tids);
    taken_cache_free(taken);
    db_library_end();
    return 0;
}
