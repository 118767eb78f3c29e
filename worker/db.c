#include <errmsg.h>
#include <mysqld_error.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

/* Errors that MariaDB's headers may not define on every version. */
#ifndef ER_CONNECTION_KILLED
#define ER_CONNECTION_KILLED  1927
#endif
#ifndef ER_CONSTRAINT_FAILED
#define ER_CONSTRAINT_FAILED  4025
#endif
#ifndef ER_SIGNAL_EXCEPTION
#define ER_SIGNAL_EXCEPTION   1644
#endif

typedef struct {
    MYSQL_BIND     bind[DB_MAX_PARAMS];
    int64_t        ival[DB_MAX_PARAMS];
    unsigned long  length[DB_MAX_PARAMS];
    my_bool        is_null[DB_MAX_PARAMS];
    size_t         n;
} db_params_t;


int
db_library_init(void)
{
    return mysql_library_init(0, NULL, NULL) == 0 ? 0 : -1;
}


void
db_library_end(void)
{
    mysql_library_end();
}


void
db_init(db_t *db, const worker_conf_t *conf)
{
    memset(db, 0, sizeof(*db));
    db->conf = conf;
}


int
db_errno_class(unsigned err)
{
    switch (err) {
    case ER_DUP_ENTRY:
    case ER_DUP_ENTRY_WITH_KEY_NAME:
        return DB_DUPLICATE;
    case ER_LOCK_DEADLOCK:
    case ER_LOCK_WAIT_TIMEOUT:
        return DB_RETRY;
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_LOST_EXTENDED:
    case ER_CONNECTION_KILLED:
    case ER_SERVER_SHUTDOWN:
    case ER_CON_COUNT_ERROR:
        return DB_GONE;
    case ER_ROW_IS_REFERENCED_2:
    case ER_NO_REFERENCED_ROW_2:
        return DB_FOREIGN;
    case ER_CONSTRAINT_FAILED:
    case ER_SIGNAL_EXCEPTION:
        return DB_CHECK;
    default:
        return DB_ERROR;
    }
}


/* Drops the connection and every statement prepared on it. */
static void
db_disconnect(db_t *db)
{
    for (size_t i = 0; i < db->ncache; i++) {
        mysql_stmt_close(db->cache[i].stmt);
    }
    db->ncache = 0;
    if (db->mysql != NULL) {
        mysql_close(db->mysql);
        db->mysql = NULL;
    }
    db->in_tx = 0;
}


void
db_close(db_t *db)
{
    db_disconnect(db);
    mysql_thread_end();
}


static int
db_connect(db_t *db)
{
    const worker_conf_t  *c = db->conf;
    unsigned              ct, rwt;
    my_bool               off = 0;
    MYSQL                *m;

    m = mysql_init(NULL);
    if (m == NULL) {
        log_error("db: mysql_init failed");
        return DB_ERROR;
    }
    ct = (unsigned) c->db_connect_timeout;
    rwt = (unsigned) c->db_rw_timeout;
    if (mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &ct)
        || mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &rwt)
        || mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &rwt)
        || mysql_options(m, MYSQL_OPT_RECONNECT, &off)
        || mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4")
        || mysql_options(m, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'"))
    {
        log_error("db: mysql_options failed");
        mysql_close(m);
        return DB_ERROR;
    }

    if (mysql_real_connect(m, c->db_socket[0] ? "localhost" : c->db_host,
                           c->db_user, c->db_password, c->db_name,
                           (unsigned) c->db_port,
                           c->db_socket[0] ? c->db_socket : NULL, 0) == NULL)
    {
        db->last_errno = mysql_errno(m);
        snprintf(db->last_error, sizeof(db->last_error), "%s", mysql_error(m));
        log_warn("db: connect failed: %u %s", db->last_errno, db->last_error);
        mysql_close(m);
        return DB_GONE;
    }

    db->mysql = m;
    log_debug("db: connected");
    return DB_OK;
}


int
db_ping(db_t *db)
{
    int64_t  one;
    int      rc;

    rc = db_query_int(db, &one, "SELECT 1", "");
    return rc == 1 ? DB_OK : (rc == DB_GONE ? DB_GONE : rc);
}


static int
db_fail(db_t *db, unsigned err, const char *msg, const char *sql)
{
    int  cls = db_errno_class(err);

    db->last_errno = err;
    snprintf(db->last_error, sizeof(db->last_error), "%s", msg);
    if (cls == DB_ERROR) {
        log_error("db: %u %s in: %.200s", err, msg, sql);
    } else {
        log_debug("db: %u %s in: %.200s", err, msg, sql);
    }
    return cls;
}


static MYSQL_STMT *
db_stmt(db_t *db, const char *sql, int *rc)
{
    MYSQL_STMT  *stmt;
    my_bool      on = 1;
    size_t       i;

    /* Callers pass literals or strings built once: pointers match first. */
    for (i = 0; i < db->ncache; i++) {
        if (db->cache[i].sql == sql) {
            return db->cache[i].stmt;
        }
    }
    for (i = 0; i < db->ncache; i++) {
        if (strcmp(db->cache[i].sql, sql) == 0) {
            return db->cache[i].stmt;
        }
    }

    if (db->ncache == DB_STMT_CACHE_MAX) {
        /*
         * Evicting could close a statement whose result a caller is still
         * reading, so a full cache is a bug to fix, not a case to handle.
         */
        log_error("db: statement cache full (%d); not preparing: %.200s",
                  DB_STMT_CACHE_MAX, sql);
        *rc = DB_ERROR;
        return NULL;
    }

    stmt = mysql_stmt_init(db->mysql);
    if (stmt == NULL) {
        *rc = db_fail(db, mysql_errno(db->mysql), mysql_error(db->mysql), sql);
        return NULL;
    }
    if (mysql_stmt_prepare(stmt, sql, strlen(sql)) != 0) {
        *rc = db_fail(db, mysql_stmt_errno(stmt), mysql_stmt_error(stmt), sql);
        mysql_stmt_close(stmt);
        return NULL;
    }
    if (mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &on) != 0) {
        *rc = db_fail(db, mysql_stmt_errno(stmt), mysql_stmt_error(stmt), sql);
        mysql_stmt_close(stmt);
        return NULL;
    }

    db->cache[db->ncache].sql = sql;
    db->cache[db->ncache].stmt = stmt;
    db->ncache++;
    return stmt;
}


void
db_bind_int(MYSQL_BIND *bind, const int64_t *v, my_bool *null_if_zero)
{
    bind->buffer_type = MYSQL_TYPE_LONGLONG;
    bind->buffer = (void *) v;
    if (null_if_zero != NULL) {
        *null_if_zero = *v == 0;
        bind->is_null = null_if_zero;
    }
}


void
db_bind_bytes(MYSQL_BIND *bind, const char *s, size_t n, unsigned long *len,
    my_bool *is_null)
{
    *len = s != NULL ? (unsigned long) n : 0;
    *is_null = s == NULL;
    bind->buffer_type = MYSQL_TYPE_STRING;
    bind->buffer = (void *) s;
    bind->buffer_length = *len;
    bind->length = len;
    bind->is_null = is_null;
}


void
db_bind_str(MYSQL_BIND *bind, const char *s, unsigned long *len,
    my_bool *is_null)
{
    db_bind_bytes(bind, s, s != NULL ? strlen(s) : 0, len, is_null);
}


static int
db_params_build(db_params_t *p, const char *types, va_list ap)
{
    const char  *s;
    size_t       i;

    memset(p, 0, sizeof(*p));
    for (i = 0; types[i] != '\0'; i++) {
        if (i == DB_MAX_PARAMS) {
            return -1;
        }
        MYSQL_BIND  *b = &p->bind[i];

        switch (types[i]) {
        case 'i':
        case 'I':
            p->ival[i] = va_arg(ap, int64_t);
            db_bind_int(b, &p->ival[i],
                        types[i] == 'I' ? &p->is_null[i] : NULL);
            break;
        case 's':
            s = va_arg(ap, const char *);
            db_bind_str(b, s, &p->length[i], &p->is_null[i]);
            break;
        case 'b':
            s = va_arg(ap, const char *);
            db_bind_bytes(b, s, va_arg(ap, size_t), &p->length[i],
                          &p->is_null[i]);
            break;
        default:
            return -1;
        }
    }
    p->n = i;
    return 0;
}


static int
db_bind_result(db_t *db, db_res_t *res, MYSQL_STMT *stmt, MYSQL_RES *meta,
    const char *sql)
{
    MYSQL_FIELD    *f;
    unsigned long   size;

    res->ncols = mysql_num_fields(meta);
    if (res->ncols > DB_MAX_COLS) {
        log_error("db: too many columns in: %.200s", sql);
        return DB_ERROR;
    }
    f = mysql_fetch_fields(meta);
    for (unsigned i = 0; i < res->ncols; i++) {
        MYSQL_BIND  *b = &res->bind[i];

        switch (f[i].type) {
        case MYSQL_TYPE_TINY:
        case MYSQL_TYPE_SHORT:
        case MYSQL_TYPE_LONG:
        case MYSQL_TYPE_INT24:
        case MYSQL_TYPE_LONGLONG:
        case MYSQL_TYPE_YEAR:
            res->is_int[i] = 1;
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &res->ival[i];
            b->buffer_length = sizeof(res->ival[i]);
            break;
        default:
            /* Temporal and decimal columns arrive as text. */
            size = f[i].max_length > 64 ? f[i].max_length : 64;
            res->sval[i] = malloc(size + 1);
            if (res->sval[i] == NULL) {
                return DB_ERROR;
            }
            b->buffer_type = MYSQL_TYPE_STRING;
            b->buffer = res->sval[i];
            b->buffer_length = size + 1;
            break;
        }
        b->length = &res->length[i];
        b->is_null = &res->is_null[i];
        b->error = &res->error[i];
    }
    if (mysql_stmt_bind_result(stmt, res->bind) != 0) {
        return db_fail(db, mysql_stmt_errno(stmt), mysql_stmt_error(stmt), sql);
    }
    return DB_OK;
}


int
db_exec_bind(db_t *db, db_res_t *res, const char *sql, MYSQL_BIND *bind,
    size_t nbind)
{
    MYSQL_STMT  *stmt;
    MYSQL_RES   *meta;
    db_res_t     local;
    int          rc = DB_ERROR;

    if (res == NULL) {
        res = &local;
    }
    memset(res, 0, sizeof(*res));

    for (int attempt = 0; attempt < 2; attempt++) {
        if (db->mysql == NULL) {
            if (db->in_tx) {
                return DB_GONE;
            }
            rc = db_connect(db);
            if (rc != DB_OK) {
                return rc;
            }
        }

        stmt = db_stmt(db, sql, &rc);
        if (stmt != NULL) {
            if (mysql_stmt_param_count(stmt) != nbind) {
                log_error("db: %zu parameters for %lu placeholders in: %.200s",
                          nbind, mysql_stmt_param_count(stmt), sql);
                return DB_ERROR;
            }
            if (mysql_stmt_bind_param(stmt, bind) != 0
                || mysql_stmt_execute(stmt) != 0)
            {
                rc = db_fail(db, mysql_stmt_errno(stmt),
                             mysql_stmt_error(stmt), sql);
                stmt = NULL;
            }
        }

        if (stmt == NULL) {
            if (rc == DB_GONE) {
                int  was_in_tx = db->in_tx;

                db_disconnect(db);
                if (!was_in_tx && attempt == 0) {
                    log_warn("db: connection lost, reconnecting");
                    continue;
                }
            }
            return rc;
        }
        break;
    }

    res->stmt = stmt;
    res->affected = mysql_stmt_affected_rows(stmt);
    res->insert_id = mysql_stmt_insert_id(stmt);

    meta = mysql_stmt_result_metadata(stmt);
    if (meta == NULL) {
        return DB_OK;
    }
    if (mysql_stmt_store_result(stmt) != 0) {
        mysql_free_result(meta);
        rc = db_fail(db, mysql_stmt_errno(stmt), mysql_stmt_error(stmt), sql);
        if (rc == DB_GONE) {
            db_disconnect(db);
        }
        res->stmt = NULL;
        return rc;
    }
    res->nrows = mysql_stmt_num_rows(stmt);
    rc = db_bind_result(db, res, stmt, meta, sql);
    mysql_free_result(meta);
    if (rc != DB_OK || res == &local) {
        db_res_free(res);
    }
    return rc;
}


int
db_exec(db_t *db, db_res_t *res, const char *sql, const char *types, ...)
{
    db_params_t  p;
    va_list      ap;
    int          rc;

    va_start(ap, types);
    rc = db_params_build(&p, types, ap);
    va_end(ap);
    if (rc != 0) {
        log_error("db: bad parameter types \"%s\" for: %.200s", types, sql);
        return DB_ERROR;
    }
    return db_exec_bind(db, res, sql, p.bind, p.n);
}



char *
db_rows_sql(const char *head, const char *row, size_t n)
{
    size_t  hlen = strlen(head), rlen = strlen(row);
    char   *sql, *p;

    sql = malloc(hlen + n * (rlen + 1) + 1);
    if (sql == NULL) {
        log_error("db: out of memory building a statement");
        abort();
    }
    memcpy(sql, head, hlen);
    p = sql + hlen;
    for (size_t k = 0; k < n; k++) {
        if (k > 0) {
            *p++ = ',';
        }
        memcpy(p, row, rlen);
        p += rlen;
    }
    *p = '\0';
    return sql;
}


int
db_query_int(db_t *db, int64_t *out, const char *sql, const char *types, ...)
{
    db_params_t  p;
    db_res_t     res;
    va_list      ap;
    int          rc;

    va_start(ap, types);
    rc = db_params_build(&p, types, ap);
    va_end(ap);
    if (rc != 0) {
        log_error("db: bad parameter types \"%s\" for: %.200s", types, sql);
        return DB_ERROR;
    }
    rc = db_exec_bind(db, &res, sql, p.bind, p.n);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc == 1) {
        *out = db_is_null(&res, 0) ? 0 : db_int(&res, 0);
    }
    db_res_free(&res);
    return rc;
}


int
db_fetch(db_res_t *res)
{
    int  rc;

    if (res->stmt == NULL || res->ncols == 0) {
        return 0;
    }
    rc = mysql_stmt_fetch(res->stmt);
    if (rc == 0) {
        for (unsigned i = 0; i < res->ncols; i++) {
            if (!res->is_int[i]) {
                res->sval[i][res->is_null[i] ? 0 : res->length[i]] = '\0';
            }
        }
        return 1;
    }
    if (rc == MYSQL_NO_DATA) {
        return 0;
    }
    log_error("db: fetch failed: %d %s", rc, mysql_stmt_error(res->stmt));
    return DB_ERROR;
}


void
db_res_free(db_res_t *res)
{
    for (unsigned i = 0; i < res->ncols; i++) {
        free(res->sval[i]);
        res->sval[i] = NULL;
    }
    res->ncols = 0;
    if (res->stmt != NULL) {
        mysql_stmt_free_result(res->stmt);
        res->stmt = NULL;
    }
}


int
db_is_null(const db_res_t *res, unsigned col)
{
    return col < res->ncols && res->is_null[col];
}


int64_t
db_int(const db_res_t *res, unsigned col)
{
    if (col >= res->ncols || res->is_null[col]) {
        return 0;
    }
    if (res->is_int[col]) {
        return res->ival[col];
    }
    return strtoll(res->sval[col], NULL, 10);
}


const char *
db_str(const db_res_t *res, unsigned col, size_t *len)
{
    if (col >= res->ncols || res->is_int[col]) {
        if (len != NULL) {
            *len = 0;
        }
        return "";
    }
    if (len != NULL) {
        *len = res->is_null[col] ? 0 : res->length[col];
    }
    return res->sval[col];
}


int
db_begin(db_t *db)
{
    int  rc;

    rc = db_exec(db, NULL, "START TRANSACTION", "");
    if (rc == DB_OK) {
        db->in_tx = 1;
    }
    return rc;
}


int
db_commit(db_t *db)
{
    int  rc;

    rc = db_exec(db, NULL, "COMMIT", "");
    if (rc == DB_OK) {
        db->in_tx = 0;
    }
    return rc;
}


void
db_rollback(db_t *db)
{
    if (db->mysql != NULL && db->in_tx) {
        if (db_exec(db, NULL, "ROLLBACK", "") != DB_OK) {
            /* A connection in an unknown state must not be reused. */
            db_disconnect(db);
        }
    }
    db->in_tx = 0;
}
