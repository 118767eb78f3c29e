/*
 * A minimal TAP producer for the C unit tests, so that prove runs them
 * beside the Perl tests.  Header-only: each test program includes it once.
 */

#ifndef TICKET_TAP_H
#define TICKET_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int  tap_count;
static int  tap_failed;


static void
tap_ok(int pass, const char *fmt, ...)
{
    va_list  ap;

    tap_count++;

    if (!pass) {
        tap_failed++;
    }

    printf("%sok %d - ", pass ? "" : "not ", tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}


#define tap_is_int(got, want, name)                                          \
    do {                                                                     \
        long long  tap_g_ = (long long) (got), tap_w_ = (long long) (want);  \
        tap_ok(tap_g_ == tap_w_, "%s", name);                                \
        if (tap_g_ != tap_w_) {                                              \
            printf("#   got %lld, expected %lld (%s:%d)\n",                  \
                   tap_g_, tap_w_, __FILE__, __LINE__);                      \
        }                                                                    \
    } while (0)


#define tap_is_str(got, want, name)                                          \
    do {                                                                     \
        const char  *tap_g_ = (got), *tap_w_ = (want);                       \
        int          tap_p_ = tap_g_ && tap_w_ && strcmp(tap_g_, tap_w_) == 0;\
        tap_ok(tap_p_, "%s", name);                                          \
        if (!tap_p_) {                                                       \
            printf("#   got '%s', expected '%s' (%s:%d)\n",                  \
                   tap_g_ ? tap_g_ : "(null)", tap_w_ ? tap_w_ : "(null)",   \
                   __FILE__, __LINE__);                                      \
        }                                                                    \
    } while (0)


static int
tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

#endif /* TICKET_TAP_H */
