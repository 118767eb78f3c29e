#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "origin.h"


/*
 * Normalises "host[:port]" of len bytes into out as "host:port", with
 * default_port when none is given.  Host names keep [A-Za-z0-9.-_] only,
 * lower-cased; an IPv6 literal keeps its brackets.
 */
static int
authority_normalise(const char *s, size_t len, unsigned default_port,
    char *out, size_t size)
{
    const char  *host_end, *colon;
    unsigned     port = default_port;
    size_t       hlen, i;
    int          n;

    if (len == 0) {
        return -1;
    }
    if (s[0] == '[') {
        host_end = memchr(s, ']', len);
        if (host_end == NULL) {
            return -1;
        }
        host_end++;
        for (i = 1; s + i < host_end - 1; i++) {
            if (!isxdigit((unsigned char) s[i]) && s[i] != ':'
                && s[i] != '.')
            {
                return -1;
            }
        }
    } else {
        host_end = memchr(s, ':', len);
        if (host_end == NULL) {
            host_end = s + len;
        }
        for (i = 0; s + i < host_end; i++) {
            if (!isalnum((unsigned char) s[i]) && s[i] != '.'
                && s[i] != '-' && s[i] != '_')
            {
                return -1;
            }
        }
    }
    hlen = (size_t) (host_end - s);
    if (hlen == 0 || (s[0] == '[' && hlen < 3)) {
        return -1;
    }

    colon = host_end;
    if (colon < s + len) {
        if (*colon != ':' || colon + 1 == s + len || s + len - colon > 6) {
            return -1;
        }
        port = 0;
        for (const char *p = colon + 1; p < s + len; p++) {
            if (!isdigit((unsigned char) *p)) {
                return -1;
            }
            port = port * 10 + (unsigned) (*p - '0');
        }
        if (port == 0 || port > 65535) {
            return -1;
        }
    }

    if (hlen + 7 > size) {
        return -1;
    }
    for (i = 0; i < hlen; i++) {
        out[i] = (char) tolower((unsigned char) s[i]);
    }
    n = snprintf(out + hlen, size - hlen, ":%u", port);
    if (n < 0 || (size_t) n >= size - hlen) {
        return -1;
    }
    return 0;
}


int
origin_authority(const char *url, char *out, size_t size)
{
    unsigned  port;
    size_t    len;

    if (url == NULL) {
        return -1;
    }
    if (strncasecmp(url, "http://", 7) == 0) {
        url += 7;
        port = 80;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        url += 8;
        port = 443;
    } else {
        return -1;
    }
    len = strcspn(url, "/?#");
    if (memchr(url, '@', len) != NULL) {
        return -1;
    }
    return authority_normalise(url, len, port, out, size);
}


int
origin_host_authority(const char *host, int tls, char *out, size_t size)
{
    if (host == NULL) {
        return -1;
    }
    return authority_normalise(host, strlen(host), tls ? 443 : 80, out, size);
}


int
origin_is_same(const char *url, const char *host, int tls)
{
    char  a[ORIGIN_AUTHORITY_MAX], b[ORIGIN_AUTHORITY_MAX];

    if (origin_authority(url, a, sizeof(a)) != 0
        || origin_host_authority(host, tls, b, sizeof(b)) != 0)
    {
        return 0;
    }
    return strcmp(a, b) == 0;
}
