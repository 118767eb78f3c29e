/*
 * The worker's configuration: a file of "key = value" lines, '#' starts a
 * comment.  conf/worker.conf.in documents every key.
 */

#ifndef WORKER_CONFIG_H
#define WORKER_CONFIG_H

#include <stddef.h>

#define CONF_STR_MAX  512

typedef struct {
    char    socket[CONF_STR_MAX];
    int     socket_mode;
    int     backlog;
    int     threads;
    /*
     * A second socket with threads of its own, for the requests that must
     * not wait behind a crowd (NGINX sends payments there): "" for none.
     */
    char    priority_socket[CONF_STR_MAX];
    int     priority_threads;

    char    db_host[CONF_STR_MAX];
    int     db_port;
    char    db_socket[CONF_STR_MAX];
    char    db_user[CONF_STR_MAX];
    char    db_password[CONF_STR_MAX];
    char    db_name[CONF_STR_MAX];
    int     db_connect_timeout;
    int     db_rw_timeout;

    char    secret_file[CONF_STR_MAX];
    char    previous_secret_file[CONF_STR_MAX];
    long    session_ttl;
    int     secure_cookie;

    int     log_level;
    size_t  max_body;

    /* Holds and the sweeper (hold.c, sweeper.c). */
    int     hold_seconds;
    int     max_seats_per_user;
    int     taken_cache_ms;         /* taken.h; 0: off */

    /*
     * Failed log-ins allowed per e-mail within login_window seconds
     * (accounts.c); the sweeper forgets counts whose window has ended.
     */
    int     login_max_failures;
    int     login_window;
    int     sweep_interval;

    /* Card payments (card.c, gateway.c, settle.c); no gateway_url: off. */
    char    gateway_url[CONF_STR_MAX];
    char    gateway_secret_file[CONF_STR_MAX];
    char    gateway_callback_url[CONF_STR_MAX];
    int     gateway_timeout_ms;
    int     checkout_extend_seconds;
    int     settle_interval;
    int     payment_check_after;
    int     payment_pending_max;

    /* The outbox publisher (outbox.c); redis_port 0: events wait. */
    char    redis_host[CONF_STR_MAX];
    int     redis_port;
    int     redis_timeout_ms;
    char    outbox_stream[CONF_STR_MAX];
    int     outbox_interval_ms;
    int     outbox_gap_wait_ms;
} worker_conf_t;

/* Fills conf with defaults. */
void conf_defaults(worker_conf_t *conf);

/*
 * Reads the file over the defaults.  On error returns -1 and writes a
 * message naming the line into err.
 */
int conf_load(worker_conf_t *conf, const char *path, char *err, size_t errlen);

/* Applies one key; exposed for unit tests.  Returns 0 or -1. */
int conf_set(worker_conf_t *conf, const char *key, const char *value);

#endif
