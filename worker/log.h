/*
 * Leveled logging to stderr.  Each line carries a timestamp, the level and
 * the thread's request id when one is set, so that a request can be traced
 * through the NGINX and worker logs.
 */

#ifndef WORKER_LOG_H
#define WORKER_LOG_H

#define LOG_LEVEL_DEBUG  0
#define LOG_LEVEL_INFO   1
#define LOG_LEVEL_WARN   2
#define LOG_LEVEL_ERROR  3

/* Returns the level for "debug", "info", "warn" or "error", or -1. */
int log_level_parse(const char *name);

/* Set once at start-up, before any thread exists. */
void log_set_level(int level);
int log_enabled(int level);

void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) \
    do { if (log_enabled(LOG_LEVEL_DEBUG)) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
