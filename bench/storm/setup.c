/*
 * The storm's work on the database, done through the stock mariadb client
 * so that the generator needs no database library: bulk inserts of the
 * bench users, their sessions and balances before the storm, and the
 * invariant checks after it.  Also the /proc readers for memory figures.
 */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "storm.h"


/* Writes sql to a private temporary file; returns its path or NULL. */
static char *
storm_sql_file(const char *sql)
{
    int    fd;
    char  *path;
    FILE  *f;

    path = strdup("/tmp/storm-sql-XXXXXX");
    if (path == NULL) {
        return NULL;
    }

    fd = mkstemp(path);
    if (fd == -1) {
        free(path);
        return NULL;
    }

    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(path);
        free(path);
        return NULL;
    }

    if (fputs("SET time_zone = '+00:00';\n", f) < 0 || fputs(sql, f) < 0
        || fclose(f) != 0)
    {
        unlink(path);
        free(path);
        return NULL;
    }

    return path;
}


int
storm_sql_query(const storm_opts_t *o, const char *sql,
    int (*row)(void *ctx, char *line), void *ctx)
{
    int     rc, status;
    char   *file, *cmd, *line;
    size_t  cap;
    FILE   *p;

    if (o->db_socket == NULL) {
        fprintf(stderr, "storm: --db-socket is needed for SQL\n");
        return -1;
    }

    file = storm_sql_file(sql);
    if (file == NULL) {
        perror("storm: temporary SQL file");
        return -1;
    }

    if (asprintf(&cmd, "mariadb --no-defaults -uroot --socket='%s' --batch"
                 " --skip-column-names --raw '%s' < '%s'",
                 o->db_socket, o->db_name, file) < 0)
    {
        unlink(file);
        free(file);
        return -1;
    }

    p = popen(cmd, "r");
    free(cmd);

    if (p == NULL) {
        unlink(file);
        free(file);
        return -1;
    }

    rc = 0;
    line = NULL;
    cap = 0;

    while (getline(&line, &cap, p) > 0) {
        line[strcspn(line, "\n")] = '\0';

        if (rc == 0 && row != NULL && row(ctx, line) != 0) {
            rc = -1;
        }
    }

    free(line);
    status = pclose(p);
    unlink(file);
    free(file);

    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "storm: SQL failed (see the message above):\n%.300s\n",
                sql);
        return -1;
    }

    return rc;
}


int
storm_sql_exec(const storm_opts_t *o, const char *sql)
{
    return storm_sql_query(o, sql, NULL, NULL);
}


typedef struct {
    char    *out;
    size_t   size;
    int      seen;
} storm_value_ctx_t;


static int
storm_value_row(void *ctx, char *line)
{
    storm_value_ctx_t  *v = ctx;
    char               *tab;

    if (v->seen++) {
        return 0;
    }

    tab = strchr(line, '\t');
    if (tab != NULL) {
        *tab = '\0';
    }

    snprintf(v->out, v->size, "%s", line);

    return 0;
}


int
storm_sql_value(const storm_opts_t *o, const char *sql, char *out,
    size_t size)
{
    storm_value_ctx_t  v = { out, size, 0 };

    out[0] = '\0';

    if (storm_sql_query(o, sql, storm_value_row, &v) != 0) {
        return -1;
    }

    return v.seen ? 0 : -1;
}


typedef struct {
    uint64_t  *user_ids;
    uint64_t  *session_ids;
    uint32_t   n;
    uint32_t   cap;
} storm_login_ctx_t;


static int
storm_login_row(void *ctx, char *line)
{
    char               *end;
    storm_login_ctx_t  *l = ctx;

    if (l->n == l->cap) {
        return -1;
    }

    l->user_ids[l->n] = strtoull(line, &end, 10);

    if (*end != '\t') {
        return -1;
    }

    l->session_ids[l->n] = strtoull(end + 1, NULL, 10);
    l->n++;

    return 0;
}


/*
 * A venue of o->seats seats for the storm: sections of 10 rows of 20 seats,
 * four price tiers by distance from the stage (the first tenth of the rows
 * VIP, then two tenths Royal, four Standard, the rest Balcony), one event
 * and one performance on sale now through the room.
 */
static int
storm_setup_venue(storm_opts_t *o, const char *tag)
{
    char      *sql, value[64];
    uint32_t   per_row, rows_per_sec, nrows, nsec;
    int        rc;

    per_row = 20;
    rows_per_sec = 10;
    nrows = (o->seats + per_row - 1) / per_row;
    nsec = (nrows + rows_per_sec - 1) / rows_per_sec;

    if (asprintf(&sql,
        "INSERT INTO venues (name, address) VALUES"
        " ('Storm Arena %s', 'bench');\n"
        "SET @v = LAST_INSERT_ID();\n"
        "INSERT INTO price_tiers (venue_id, code, name, price) VALUES"
        " (@v, 'V', 'VIP', 165000), (@v, 'R', 'Royal', 132000),"
        " (@v, 'S', 'Standard', 99000), (@v, 'A', 'Balcony', 66000);\n"
        "INSERT INTO sections (venue_id, name, position)"
        " SELECT @v, CONCAT('S', seq), seq FROM seq_1_to_%u;\n"
        "INSERT INTO seat_rows (section_id, name, position)"
        " SELECT s.id, CONCAT('R', r.seq), r.seq"
        " FROM sections s JOIN seq_1_to_%u r WHERE s.venue_id = @v;\n"
        "INSERT INTO seats (venue_id, row_id, number, tier_id)"
        " SELECT @v, sr.id, n.seq, t.id FROM sections s"
        " JOIN seat_rows sr ON sr.section_id = s.id"
        " JOIN seq_1_to_%u n"
        " JOIN price_tiers t ON t.venue_id = @v AND t.code ="
        "  CASE WHEN ((s.position - 1) * %u + sr.position - 1) * 10 < %u"
        "       THEN 'V'"
        "       WHEN ((s.position - 1) * %u + sr.position - 1) * 10 < %u * 3"
        "       THEN 'R'"
        "       WHEN ((s.position - 1) * %u + sr.position - 1) * 10 < %u * 7"
        "       THEN 'S' ELSE 'A' END"
        " WHERE s.venue_id = @v"
        "  AND ((s.position - 1) * %u + sr.position - 1) * %u + n.seq <= %u"
        " ORDER BY s.position, sr.position, n.seq;\n"
        "INSERT INTO events (title, category, description) VALUES"
        " ('Storm %s', 'concert', 'bench/storm on-sale');\n"
        "SET @e = LAST_INSERT_ID();\n"
        "INSERT INTO performances (event_id, venue_id, starts_at, on_sale_at,"
        " room) VALUES (@e, @v, UTC_TIMESTAMP() + INTERVAL 30 DAY,"
        " UTC_TIMESTAMP() - INTERVAL 1 MINUTE, '%s');\n"
        "SET @p = LAST_INSERT_ID();\n"
        "INSERT INTO performance_seats (performance_id, seat_id)"
        " SELECT @p, id FROM seats WHERE venue_id = @v ORDER BY id;\n"
        "SELECT @p;\n",
        tag, nsec, rows_per_sec, per_row,
        rows_per_sec, nrows, rows_per_sec, nrows, rows_per_sec, nrows,
        rows_per_sec, per_row, o->seats, tag, o->room) < 0)
    {
        return -1;
    }

    rc = storm_sql_value(o, sql, value, sizeof(value));
    free(sql);

    if (rc != 0) {
        return -1;
    }

    o->performance = strtoll(value, NULL, 10);

    return o->performance > 0 ? 0 : -1;
}


int
storm_setup(storm_opts_t *o, const char *tag, uint64_t **user_ids,
    uint64_t **session_ids, uint32_t *n)
{
    int                 rc;
    char               *sql;
    storm_login_ctx_t   l;

    if (o->performance == 0 && storm_setup_venue(o, tag) != 0) {
        return -1;
    }

    /*
     * Users get a password hash no password matches: they cannot log in,
     * they only hold the sessions minted here.  The opening balance is a
     * top-up in the ledger too, so that the ledger still sums to the
     * balance.
     */
    if (asprintf(&sql,
        "INSERT INTO users (email, password_hash, name)"
        " SELECT CONCAT('storm-%s-', seq, '@bench.test'), '!storm',"
        " CONCAT('Storm ', seq) FROM seq_1_to_%u;\n"
        "CREATE TEMPORARY TABLE storm_users (id BIGINT UNSIGNED PRIMARY KEY)"
        " SELECT id FROM users WHERE email LIKE 'storm-%s-%%@bench.test';\n"
        "INSERT INTO sessions (user_id, expires_at)"
        " SELECT id, UTC_TIMESTAMP() + INTERVAL 1 DAY FROM storm_users"
        " ORDER BY id;\n"
        "INSERT INTO balance_accounts (user_id, balance)"
        " SELECT id, %lld FROM storm_users;\n"
        "INSERT INTO balance_ledger (user_id, amount, kind, balance_after,"
        " note) SELECT id, %lld, 'topup', %lld, 'storm opening balance'"
        " FROM storm_users ORDER BY id;\n"
        "SELECT s.user_id, s.id FROM sessions s JOIN storm_users u"
        " ON u.id = s.user_id ORDER BY s.user_id;\n",
        tag, o->users, tag, (long long) o->balance, (long long) o->balance,
        (long long) o->balance) < 0)
    {
        return -1;
    }

    l.cap = o->users;
    l.n = 0;
    l.user_ids = calloc(o->users, sizeof(uint64_t));
    l.session_ids = calloc(o->users, sizeof(uint64_t));

    if (l.user_ids == NULL || l.session_ids == NULL) {
        free(sql);
        free(l.user_ids);
        free(l.session_ids);
        return -1;
    }

    rc = storm_sql_query(o, sql, storm_login_row, &l);
    free(sql);

    if (rc != 0 || l.n != o->users) {
        fprintf(stderr, "storm: setup made %u sessions of %u\n", l.n,
                o->users);
        free(l.user_ids);
        free(l.session_ids);
        return -1;
    }

    *user_ids = l.user_ids;
    *session_ids = l.session_ids;
    *n = l.n;

    return 0;
}


long
storm_read_pid(const char *path)
{
    long   pid;
    FILE  *f;

    if (path == NULL) {
        return 0;
    }

    /* A bare number is the pid itself. */
    if (path[0] >= '0' && path[0] <= '9' && strchr(path, '/') == NULL) {
        return strtol(path, NULL, 10);
    }

    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }

    if (fscanf(f, "%ld", &pid) != 1) {
        pid = 0;
    }

    fclose(f);

    return pid;
}


void
storm_proc_mem(long pid, long *rss_kb, long *hwm_kb, long *anon_kb)
{
    char   path[64], line[256];
    FILE  *f;

    *rss_kb = 0;
    *hwm_kb = 0;
    *anon_kb = 0;

    snprintf(path, sizeof(path), "/proc/%ld/status", pid);

    f = fopen(path, "r");
    if (f == NULL) {
        return;
    }

    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            *rss_kb = strtol(line + 6, NULL, 10);

        } else if (strncmp(line, "VmHWM:", 6) == 0) {
            *hwm_kb = strtol(line + 6, NULL, 10);

        } else if (strncmp(line, "RssAnon:", 8) == 0) {
            *anon_kb = strtol(line + 8, NULL, 10);
        }
    }

    fclose(f);
}


/*
 * The fields of /proc/<pid>/stat after the command name, which may hold
 * spaces and parentheses (hence the last ')'), in buf; NULL when the
 * process is gone.
 */
static const char *
storm_proc_stat(long pid, char *buf, size_t len)
{
    char   path[64], *p;
    FILE  *f;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);

    f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }

    p = fgets(buf, (int) len, f);
    fclose(f);

    if (p == NULL || (p = strrchr(buf, ')')) == NULL) {
        return NULL;
    }

    return p + 1;
}


int64_t
storm_proc_cpu_ms(long pid)
{
    unsigned long   utime, stime;
    const char     *fields;
    long            hz;
    char            buf[512];

    fields = storm_proc_stat(pid, buf, sizeof(buf));

    if (fields == NULL
        || sscanf(fields, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u"
                  " %lu %lu", &utime, &stime) != 2)
    {
        return -1;
    }

    hz = sysconf(_SC_CLK_TCK);

    return (int64_t) (utime + stime) * 1000 / (hz > 0 ? hz : 100);
}


size_t
storm_children(long pid, long *out, size_t max)
{
    size_t          n;
    long            ppid, child;
    const char     *fields;
    char            buf[512];
    DIR            *d;
    struct dirent  *e;

    n = 0;

    d = opendir("/proc");
    if (d == NULL) {
        return 0;
    }

    while (n < max && (e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char) e->d_name[0])) {
            continue;
        }

        child = strtol(e->d_name, NULL, 10);
        fields = storm_proc_stat(child, buf, sizeof(buf));

        if (fields == NULL || sscanf(fields, " %*c %ld", &ppid) != 1) {
            continue;
        }

        if (ppid == pid) {
            out[n++] = child;
        }
    }

    closedir(d);

    return n;
}
