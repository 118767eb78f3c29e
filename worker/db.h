/*
 * One MariaDB connection per thread, with its prepared statements cached
 * by SQL text.  Every statement goes through db_exec(), which prepares on
 * first use, binds parameters from a type string, stores the result and
 * binds every column (integers as int64, everything else as text).  A
 * lost connection is reopened (all statements re-prepared lazily) and the
 * statement retried once, unless a transaction was open: then the caller
 * gets DB_GONE and its transaction is lost.
 *
 * Parameter types for db_exec():
 *   'i'  int64_t
 *   'I'  int64_t, where 0 binds SQL NULL (optional foreign keys)
 *   's'  const char * (NULL binds SQL NULL)
 *   'b'  const char *, size_t  (bytes with a length)
 */

#ifndef WORKER_DB_H
#define WORKER_DB_H

#include <mysql.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define DB_OK          0
#define DB_ERROR      -1    /* anything else: logged */
#define DB_DUPLICATE  -2    /* 1062: unique key */
#define DB_RETRY      -3    /* 1213 deadlock, 1205 lock wait timeout */
#define DB_GONE       -4    /* server unreachable */
#define DB_FOREIGN    -5    /* 1451/1452: foreign key */
#define DB_CHECK      -6    /* 4025: CHECK constraint, or a trigger */

#define DB_STMT_CACHE_MAX  1024
#define DB_MAX_PARAMS      32
#define DB_MAX_COLS        32

typedef struct {
    const char  *sql;
    MYSQL_STMT  *stmt;
} db_cached_stmt_t;

typedef struct db_s {
    MYSQL                *mysql;
    const worker_conf_t  *conf;
    db_cached_stmt_t      cache[DB_STMT_CACHE_MAX];
    size_t                ncache;
    int                   in_tx;
    unsigned              last_errno;
    char                  last_error[256];
} db_t;

typedef struct {
    MYSQL_STMT     *stmt;
    unsigned        ncols;
    MYSQL_BIND      bind[DB_MAX_COLS];
    int64_t         ival[DB_MAX_COLS];
    char           *sval[DB_MAX_COLS];
    unsigned long   length[DB_MAX_COLS];
    my_bool         is_null[DB_MAX_COLS];
    my_bool         error[DB_MAX_COLS];
    int             is_int[DB_MAX_COLS];
    uint64_t        affected;
    uint64_t        insert_id;
    uint64_t        nrows;
} db_res_t;

/* Once in main() before threads: mysql_library_init. */
int db_library_init(void);
void db_library_end(void);

/* Per thread.  db_init does not connect; the first statement does. */
void db_init(db_t *db, const worker_conf_t *conf);
void db_close(db_t *db);

/* Connects if needed and pings: DB_OK or DB_GONE. */
int db_ping(db_t *db);

/*
 * Runs sql with parameters; res may be NULL when no rows are wanted (the
 * result is then freed here).  sql is the cache key and is kept: pass a
 * literal or a string that lives as long as the process.  With res, call db_res_free() after reading
 * rows, before running the same sql again.
 */
int db_exec(db_t *db, db_res_t *res, const char *sql, const char *types,
    ...);

/*
 * db_exec() with the parameters already bound, for statements with more
 * of them than a types string takes (DB_MAX_PARAMS): nbind entries of
 * bind, which must stay valid during the call.
 */
int db_exec_bind(db_t *db, db_res_t *res, const char *sql, MYSQL_BIND *bind,
    size_t nbind);

/*
 * Fill one parameter of a db_exec_bind() array (zeroed first): an integer
 * (NULL when zero, if null_if_zero is given), a string or n bytes (NULL
 * when s is).  db_exec() binds its types string with these.
 * The values, lengths and flags must outlive the call.
 */
void db_bind_int(MYSQL_BIND *bind, const int64_t *v, my_bool *null_if_zero);
void db_bind_str(MYSQL_BIND *bind, const char *s, unsigned long *len,
    my_bool *is_null);
void db_bind_bytes(MYSQL_BIND *bind, const char *s, size_t n,
    unsigned long *len, my_bool *is_null);

/*
 * The text of a multi-row statement: head, then n copies of row separated
 * by commas ("INSERT ... VALUES " and "(?, ?)").  Built once per process
 * and row count, so it aborts when out of memory.
 */
char *db_rows_sql(const char *head, const char *row, size_t n);

/* 1 with a row, 0 at the end, DB_ERROR on failure. */
int db_fetch(db_res_t *res);
void db_res_free(db_res_t *res);

int db_is_null(const db_res_t *res, unsigned col);
int64_t db_int(const db_res_t *res, unsigned col);
/* The text of a non-integer column ("" for NULL), valid until next fetch. */
const char *db_str(const db_res_t *res, unsigned col, size_t *len);

/*
 * Runs sql expecting at most one row with one integer column.
 * Returns 1 (row found, *out set), 0 (no row) or a DB_* error.
 */
int db_query_int(db_t *db, int64_t *out, const char *sql, const char *types,
    ...);

/* Transaction control (also prepared statements). */
int db_begin(db_t *db);
int db_commit(db_t *db);
void db_rollback(db_t *db);

/* Maps a server or client error number to DB_*; exposed for tests. */
int db_errno_class(unsigned err);

#endif
