#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"

/* Written once before the threads start, only read afterwards. */
static int log_level = LOG_LEVEL_INFO;

static const char *const log_names[] = { "debug", "info", "warn", "error" };


int
log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, log_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}


void
log_set_level(int level)
{
    log_level = level;
}


int
log_enabled(int level)
{
    return level >= log_level;
}


void
log_msg(int level, const char *fmt, ...)
{
    char            line[2048];
    struct tm       tm;
    struct timeval  tv;
    size_t          n;
    va_list         ap;

    if (level < log_level || level < 0 || level > LOG_LEVEL_ERROR) {
        return;
    }

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - n, ".%03dZ [%s] ",
                  (int) (tv.tv_usec / 1000), log_names[level]);

    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);

    /* One fputs per line keeps lines from different threads whole. */
    n = strlen(line);
    if (n < sizeof(line) - 1) {
        line[n++] = '\n';
        line[n] = '\0';
    } else {
        line[sizeof(line) - 2] = '\n';
    }
    fputs(line, stderr);
}
