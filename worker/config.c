#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"


void
conf_defaults(worker_conf_t *conf)
{
    memset(conf, 0, sizeof(*conf));
    snprintf(conf->socket, sizeof(conf->socket), "/tmp/ticket-worker.sock");
    conf->socket_mode = 0660;
    conf->backlog = 1024;
    conf->threads = 4;
    conf->priority_threads = 2;
    snprintf(conf->db_host, sizeof(conf->db_host), "127.0.0.1");
    conf->db_port = 3306;
    snprintf(conf->db_user, sizeof(conf->db_user), "ticket");
    snprintf(conf->db_name, sizeof(conf->db_name), "ticket");
    conf->db_connect_timeout = 3;
    conf->db_rw_timeout = 10;
    conf->session_ttl = 86400;
    conf->secure_cookie = 0;
    conf->log_level = LOG_LEVEL_INFO;
    conf->max_body = 65536;
    conf->hold_seconds = 300;
    conf->max_seats_per_user = 4;
    conf->taken_cache_ms = 1000;
    conf->login_max_failures = 10;
    conf->login_window = 900;
    conf->sweep_interval = 5;
    conf->gateway_timeout_ms = 3000;
    conf->checkout_extend_seconds = 600;
    conf->settle_interval = 5;
    conf->payment_check_after = 60;
    conf->payment_pending_max = 900;
    snprintf(conf->redis_host, sizeof(conf->redis_host), "127.0.0.1");
    conf->redis_timeout_ms = 1000;
    snprintf(conf->outbox_stream, sizeof(conf->outbox_stream),
             "ticket:events");
    conf->outbox_interval_ms = 200;
    conf->outbox_gap_wait_ms = 2000;
}


static int
conf_copy(char *dst, const char *value)
{
    size_t  len = strlen(value);

    if (len >= CONF_STR_MAX) {
        return -1;
    }
    memcpy(dst, value, len + 1);
    return 0;
}


static int
conf_long(long *out, const char *value, long min, long max, int base)
{
    char  *end;
    long   v;

    errno = 0;
    v = strtol(value, &end, base);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}


static int
conf_int(int *out, const char *value, long min, long max)
{
    long  v;

    if (conf_long(&v, value, min, max, 10) != 0) {
        return -1;
    }
    *out = (int) v;
    return 0;
}


static int
conf_bool(int *out, const char *value)
{
    if (strcmp(value, "on") == 0 || strcmp(value, "yes") == 0
        || strcmp(value, "1") == 0 || strcmp(value, "true") == 0)
    {
        *out = 1;
        return 0;
    }
    if (strcmp(value, "off") == 0 || strcmp(value, "no") == 0
        || strcmp(value, "0") == 0 || strcmp(value, "false") == 0)
    {
        *out = 0;
        return 0;
    }
    return -1;
}


int
conf_set(worker_conf_t *conf, const char *key, const char *value)
{
    long  v;

    if (strcmp(key, "socket") == 0) {
        return conf_copy(conf->socket, value);
    }
    if (strcmp(key, "socket_mode") == 0) {
        if (conf_long(&v, value, 0, 0777, 8) != 0) {
            return -1;
        }
        conf->socket_mode = (int) v;
        return 0;
    }
    if (strcmp(key, "backlog") == 0) {
        return conf_int(&conf->backlog, value, 1, 65535);
    }
    if (strcmp(key, "threads") == 0) {
        return conf_int(&conf->threads, value, 1, 256);
    }
    if (strcmp(key, "priority_socket") == 0) {
        return conf_copy(conf->priority_socket, value);
    }
    if (strcmp(key, "priority_threads") == 0) {
        return conf_int(&conf->priority_threads, value, 1, 64);
    }
    if (strcmp(key, "db_host") == 0) {
        return conf_copy(conf->db_host, value);
    }
    if (strcmp(key, "db_port") == 0) {
        return conf_int(&conf->db_port, value, 0, 65535);
    }
    if (strcmp(key, "db_socket") == 0) {
        return conf_copy(conf->db_socket, value);
    }
    if (strcmp(key, "db_user") == 0) {
        return conf_copy(conf->db_user, value);
    }
    if (strcmp(key, "db_password") == 0) {
        return conf_copy(conf->db_password, value);
    }
    if (strcmp(key, "db_name") == 0) {
        return conf_copy(conf->db_name, value);
    }
    if (strcmp(key, "db_connect_timeout") == 0) {
        return conf_int(&conf->db_connect_timeout, value, 1, 600);
    }
    if (strcmp(key, "db_rw_timeout") == 0) {
        return conf_int(&conf->db_rw_timeout, value, 1, 3600);
    }
    if (strcmp(key, "secret_file") == 0) {
        return conf_copy(conf->secret_file, value);
    }
    if (strcmp(key, "previous_secret_file") == 0) {
        return conf_copy(conf->previous_secret_file, value);
    }
    if (strcmp(key, "session_ttl") == 0) {
        return conf_long(&conf->session_ttl, value, 60, 90L * 86400, 10);
    }
    if (strcmp(key, "secure_cookie") == 0) {
        return conf_bool(&conf->secure_cookie, value);
    }
    if (strcmp(key, "log_level") == 0) {
        conf->log_level = log_level_parse(value);
        return conf->log_level < 0 ? -1 : 0;
    }
    if (strcmp(key, "hold_seconds") == 0) {
        return conf_int(&conf->hold_seconds, value, 1, 3600);
    }
    if (strcmp(key, "taken_cache_ms") == 0) {
        return conf_int(&conf->taken_cache_ms, value, 0, 5000);
    }
    if (strcmp(key, "max_seats_per_user") == 0) {
        return conf_int(&conf->max_seats_per_user, value, 1, 16);
    }
    if (strcmp(key, "login_max_failures") == 0) {
        return conf_int(&conf->login_max_failures, value, 1, 1000);
    }
    if (strcmp(key, "login_window") == 0) {
        return conf_int(&conf->login_window, value, 1, 86400);
    }
    if (strcmp(key, "sweep_interval") == 0) {
        return conf_int(&conf->sweep_interval, value, 1, 3600);
    }
    if (strcmp(key, "gateway_url") == 0) {
        return conf_copy(conf->gateway_url, value);
    }
    if (strcmp(key, "gateway_secret_file") == 0) {
        return conf_copy(conf->gateway_secret_file, value);
    }
    if (strcmp(key, "gateway_callback_url") == 0) {
        return conf_copy(conf->gateway_callback_url, value);
    }
    if (strcmp(key, "gateway_timeout_ms") == 0) {
        return conf_int(&conf->gateway_timeout_ms, value, 50, 60000);
    }
    if (strcmp(key, "checkout_extend_seconds") == 0) {
        return conf_int(&conf->checkout_extend_seconds, value, 0, 3600);
    }
    if (strcmp(key, "settle_interval") == 0) {
        return conf_int(&conf->settle_interval, value, 1, 3600);
    }
    if (strcmp(key, "payment_check_after") == 0) {
        return conf_int(&conf->payment_check_after, value, 1, 86400);
    }
    if (strcmp(key, "payment_pending_max") == 0) {
        return conf_int(&conf->payment_pending_max, value, 1, 7 * 86400);
    }
    if (strcmp(key, "redis_host") == 0) {
        return conf_copy(conf->redis_host, value);
    }
    if (strcmp(key, "redis_port") == 0) {
        return conf_int(&conf->redis_port, value, 0, 65535);
    }
    if (strcmp(key, "redis_timeout_ms") == 0) {
        return conf_int(&conf->redis_timeout_ms, value, 10, 60000);
    }
    if (strcmp(key, "outbox_stream") == 0) {
        return *value == '\0' ? -1 : conf_copy(conf->outbox_stream, value);
    }
    if (strcmp(key, "outbox_interval_ms") == 0) {
        return conf_int(&conf->outbox_interval_ms, value, 10, 60000);
    }
    if (strcmp(key, "outbox_gap_wait_ms") == 0) {
        return conf_int(&conf->outbox_gap_wait_ms, value, 0, 60000);
    }
    if (strcmp(key, "max_body") == 0) {
        if (conf_long(&v, value, 1024, 16L * 1024 * 1024, 10) != 0) {
            return -1;
        }
        conf->max_body = (size_t) v;
        return 0;
    }
    return -1;
}


static char *
conf_trim(char *s)
{
    char  *end;

    while (isspace((unsigned char) *s)) {
        s++;
    }
    end = s + strlen(s);
    while (end > s && isspace((unsigned char) end[-1])) {
        *--end = '\0';
    }
    return s;
}


int
conf_load(worker_conf_t *conf, const char *path, char *err, size_t errlen)
{
    char   line[1024];
    char  *key, *value, *eq;
    FILE  *f;
    int    lineno = 0;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }

    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        key = conf_trim(line);
        if (*key == '\0' || *key == '#') {
            continue;
        }
        eq = strchr(key, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
            fclose(f);
            return -1;
        }
        *eq = '\0';
        value = conf_trim(eq + 1);
        key = conf_trim(key);
        if (conf_set(conf, key, value) != 0) {
            snprintf(err, errlen, "%s:%d: bad key or value for \"%s\"",
                     path, lineno, key);
            fclose(f);
            return -1;
        }
    }

    fclose(f);
    return 0;
}
