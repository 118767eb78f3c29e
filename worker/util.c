#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "util.h"


static int
hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}


long
url_decode(char *out, size_t size, const char *in, size_t len)
{
    size_t  i, n = 0;
    int     hi, lo, c;

    for (i = 0; i < len; i++) {
        c = (unsigned char) in[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= len) {
                return -1;
            }
            hi = hexval((unsigned char) in[i + 1]);
            lo = hexval((unsigned char) in[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            c = hi * 16 + lo;
            if (c == 0) {
                return -1;
            }
            i += 2;
        }
        if (n + 1 >= size) {
            return -1;
        }
        out[n++] = (char) c;
    }
    if (size == 0) {
        return -1;
    }
    out[n] = '\0';
    return (long) n;
}


int
query_parse(query_t *q, const char *qs)
{
    const char  *p, *amp, *eq, *end;
    size_t       used = 0, len;
    long         n;

    q->n = 0;
    if (qs == NULL || *qs == '\0') {
        return 0;
    }
    if (strlen(qs) > QUERY_MAX_LEN) {
        return -1;
    }

    for (p = qs; *p != '\0'; p = *amp ? amp + 1 : amp) {
        amp = strchr(p, '&');
        if (amp == NULL) {
            amp = p + strlen(p);
        }
        if (amp == p) {
            continue;
        }
        if (q->n == QUERY_MAX_ARGS) {
            return -1;
        }

        eq = memchr(p, '=', (size_t) (amp - p));
        end = eq != NULL ? eq : amp;
        len = (size_t) (end - p);
        n = url_decode(q->buf + used, sizeof(q->buf) - used, p, len);
        if (n < 0) {
            return -1;
        }
        q->names[q->n] = q->buf + used;
        used += (size_t) n + 1;

        if (eq != NULL) {
            len = (size_t) (amp - eq - 1);
            n = url_decode(q->buf + used, sizeof(q->buf) - used, eq + 1, len);
        } else {
            n = url_decode(q->buf + used, sizeof(q->buf) - used, "", 0);
        }
        if (n < 0) {
            return -1;
        }
        q->values[q->n] = q->buf + used;
        used += (size_t) n + 1;
        q->n++;
    }
    return 0;
}


const char *
query_get(const query_t *q, const char *name)
{
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->names[i], name) == 0) {
            return q->values[i];
        }
    }
    return NULL;
}


int
cookie_find(const char *header, const char *name, const char **val,
    size_t *len)
{
    const char  *p = header, *end;
    size_t       nlen = strlen(name);

    if (header == NULL) {
        return 0;
    }
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ';') {
            p++;
        }
        end = strchr(p, ';');
        if (end == NULL) {
            end = p + strlen(p);
        }
        if ((size_t) (end - p) > nlen && strncmp(p, name, nlen) == 0
            && p[nlen] == '=')
        {
            *val = p + nlen + 1;
            *len = (size_t) (end - *val);
            while (*len > 0 && ((*val)[*len - 1] == ' '
                                || (*val)[*len - 1] == '\t'))
            {
                (*len)--;
            }
            return 1;
        }
        p = end;
    }
    return 0;
}


static int
digits(const char *s, int n, int *out)
{
    int  v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char) s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}


int
time_parse_iso8601(const char *s, time_t *out)
{
    static const int  mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
                                  30, 31 };
    struct tm         tm;
    time_t            t;
    int               y, mo, d, h, mi, sec, oh, om, sign, leap;

    if (strlen(s) < 20
        || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo)
        || s[7] != '-' || digits(s + 8, 2, &d)
        || (s[10] != 'T' && s[10] != ' ')
        || digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi)
        || s[16] != ':' || digits(s + 17, 2, &sec))
    {
        return -1;
    }
    s += 19;
    if (strcmp(s, "Z") == 0) {
        sign = 0;
        oh = om = 0;
    } else if ((s[0] == '+' || s[0] == '-') && strlen(s) == 6
               && !digits(s + 1, 2, &oh) && s[3] == ':'
               && !digits(s + 4, 2, &om) && oh <= 14 && om <= 59)
    {
        sign = s[0] == '+' ? 1 : -1;
    } else {
        return -1;
    }

    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || y > 2999 || mo < 1 || mo > 12 || d < 1
        || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap)
        || h > 23 || mi > 59 || sec > 59)
    {
        return -1;
    }

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t) -1) {
        return -1;
    }
    *out = t - (time_t) sign * (oh * 3600 + om * 60);
    return 0;
}


void
time_format_sql(char *out, size_t size, time_t t)
{
    struct tm  tm;

    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm);
}


int
name_is_token(const char *s, size_t max)
{
    size_t  n = 0;

    for (; s[n] != '\0'; n++) {
        if (!isalnum((unsigned char) s[n]) && s[n] != '_' && s[n] != '-') {
            return 0;
        }
    }
    return n >= 1 && n <= max;
}


int
email_is_valid(const char *s)
{
    const char  *at, *dot, *p;
    size_t       len = strlen(s);

    if (len < 3 || len > 254) {
        return 0;
    }
    for (p = s; *p != '\0'; p++) {
        if ((unsigned char) *p <= 0x20 || *p == 0x7f || *p == '"'
            || *p == '<' || *p == '>' || *p == '\\' || *p == ',')
        {
            return 0;
        }
    }
    at = strchr(s, '@');
    if (at == NULL || at == s || strchr(at + 1, '@') != NULL) {
        return 0;
    }
    dot = strrchr(at + 1, '.');
    return dot != NULL && dot > at + 1 && dot[1] != '\0';
}


int
parse_id(const char *s, size_t len, int64_t *out)
{
    int64_t  v = 0;

    if (len == 0 || len > 18 || s[0] == '0') {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char) s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}
