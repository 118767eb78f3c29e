/*
 * bench/storm: the on-sale load generator.  Shared declarations of the
 * pieces that are not pure parsing: options, the seat map cache, the
 * database setup and checks through the mariadb client.
 */

#ifndef STORM_H
#define STORM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"


typedef struct {
    const char  *profile;
    const char  *host;
    int          port;
    uint32_t     users;
    uint32_t     seats;
    double       duration;        /* hard bound of the storm, seconds */
    double       burst;           /* joins spread over this many seconds */
    uint32_t     connections;
    const char  *room;
    const char  *queue_path;      /* default /queue/<room> */
    int64_t      performance;     /* 0: the setup creates one */
    const char  *secret_file;
    const char  *db_socket;
    const char  *db_name;
    const char  *out_dir;
    const char  *label;
    const char  *nginx_pid_file;
    const char  *worker_pid_file;
    const char  *mysql_pid_file;  /* MariaDB's, for its CPU time */
    const char  *status_path;     /* the room's stats, if any */
    double       abandon_wait;    /* fractions of users */
    double       abandon_hold;
    double       pay_late;
    double       leave;           /* done users who leave the room */
    double       hold_seconds;    /* as the worker is configured */
    double       think_min;       /* seconds between steps */
    double       think_max;
    double       pay_at;          /* >0: holders pay from this second on,
                                     all at once (the payment burst) */
    double       request_timeout;
    uint32_t     max_tickets;     /* 1..4 seats per user */
    uint32_t     max_attempts;    /* hold attempts per user */
    uint32_t     spread;          /* best available seats a user picks from */
    int64_t      balance;         /* opening balance per user */
    uint64_t     seed;
    int          verify;          /* check the database afterwards */
    int          quiet;
    int          faults;          /* faults are injected: 5xx, connection
                                     errors and timeouts are expected */
} storm_opts_t;


/* One seat as the map shows it. */
typedef struct {
    uint32_t     id;
    uint32_t     rank;            /* 0 is the best seat */
    int64_t      price;
} storm_seat_t;


typedef struct {
    storm_seat_t  *seats;         /* best first */
    uint32_t       nseats;
    uint32_t       max_id;
    uint32_t      *index;         /* seat id -> position in seats + 1 */
    int64_t       *price_by_id;   /* seat id -> price */
    uint32_t      *map_rank;      /* map position -> position in seats */
} storm_venue_t;


/* One fetched map: which seats were free, by position in venue->seats. */
typedef struct {
    uint64_t       gen;
    char           etag[96];
    uint8_t       *free;          /* one byte per seat */
    uint32_t       nfree;
    uint32_t       nheld;
} storm_snapshot_t;


/*
 * Parses a seat map body into the venue (first time) and a snapshot.
 * Returns 0, or -1 with a reason in err.
 */
int storm_seatmap_parse(const char *body, size_t len, storm_venue_t *venue,
    storm_snapshot_t *snap, const char **err);
void storm_venue_free(storm_venue_t *venue);


/* The database, through the mariadb client. */
int storm_sql_exec(const storm_opts_t *o, const char *sql);
/* Runs a query; calls row() with each tab-separated line. */
int storm_sql_query(const storm_opts_t *o, const char *sql,
    int (*row)(void *ctx, char *line), void *ctx);
int storm_sql_value(const storm_opts_t *o, const char *sql, char *out,
    size_t size);

/* Inserts the venue (when asked), users, sessions and balances. */
int storm_setup(storm_opts_t *o, const char *tag, uint64_t **user_ids,
    uint64_t **session_ids, uint32_t *n);

/* Reads a pid file; returns 0 when there is none. */
long storm_read_pid(const char *path);
/*
 * VmRSS, VmHWM and RssAnon (private memory: RSS counts the shared zone
 * pages a process touched too) of a process in KiB; 0 when it is gone.
 */
void storm_proc_mem(long pid, long *rss_kb, long *hwm_kb, long *anon_kb);
/* The children of a process (NGINX workers of a master). */
size_t storm_children(long pid, long *out, size_t max);
/* CPU time (user + system) a process has used, in ms; -1 when it is gone. */
int64_t storm_proc_cpu_ms(long pid);

#endif /* STORM_H */
