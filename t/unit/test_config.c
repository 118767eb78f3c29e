/* Unit tests for worker/config.c: keys, values, files. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "tap.h"


int
main(void)
{
    worker_conf_t  c;
    char           path[] = "/tmp/test_config_XXXXXX";
    char           err[512];
    FILE          *f;
    int            fd;

    conf_defaults(&c);
    tap_is_int(c.threads, 4, "default threads");
    tap_is_int(c.max_body, 65536, "default max_body");

    tap_is_int(conf_set(&c, "threads", "16"), 0, "threads");
    tap_is_int(c.threads, 16, "threads value");
    tap_is_int(conf_set(&c, "threads", "0"), -1, "zero threads");
    tap_is_int(conf_set(&c, "threads", "4x"), -1, "junk after a number");
    tap_is_int(conf_set(&c, "socket_mode", "0666"), 0, "octal mode");
    tap_is_int(c.socket_mode, 0666, "mode value");
    tap_is_int(conf_set(&c, "socket_mode", "0999"), -1, "bad octal");
    tap_is_int(conf_set(&c, "secure_cookie", "on"), 0, "boolean on");
    tap_is_int(c.secure_cookie, 1, "boolean value");
    tap_is_int(conf_set(&c, "secure_cookie", "maybe"), -1, "bad boolean");
    tap_is_int(conf_set(&c, "log_level", "warn"), 0, "log level");
    tap_is_int(c.log_level, LOG_LEVEL_WARN, "log level value");
    tap_is_int(conf_set(&c, "log_level", "loud"), -1, "bad log level");
    tap_is_int(conf_set(&c, "max_body", "100"), -1, "max_body too small");
    tap_is_int(conf_set(&c, "no_such_key", "1"), -1, "unknown key");

    fd = mkstemp(path);
    f = fdopen(fd, "w");
    fprintf(f, "# comment\n\n  socket = /tmp/x.sock  \ndb_password =\n"
               "threads=2\n");
    fclose(f);
    conf_defaults(&c);
    tap_is_int(conf_load(&c, path, err, sizeof(err)), 0, "a file loads");
    tap_is_str(c.socket, "/tmp/x.sock", "values are trimmed");
    tap_is_str(c.db_password, "", "an empty value");
    tap_is_int(c.threads, 2, "no spaces around '='");

    f = fopen(path, "w");
    fprintf(f, "threads = 2\nbogus line\n");
    fclose(f);
    tap_is_int(conf_load(&c, path, err, sizeof(err)), -1, "a bad line fails");
    tap_ok(strstr(err, ":2:") != NULL, "the message names the line");
    unlink(path);

    tap_is_int(conf_load(&c, "/nonexistent/conf", err, sizeof(err)), -1,
               "a missing file fails");
    return tap_done();
}
