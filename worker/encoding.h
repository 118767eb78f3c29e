#ifndef TICKET_ENCODING_H
#define TICKET_ENCODING_H

#include <stddef.h>

/*
 * Content codings for large answers (the seat map): whether a client's
 * Accept-Encoding takes gzip, and the compression itself (zlib).
 */

/*
 * 1 if an Accept-Encoding value accepts gzip: "gzip" or "x-gzip" (or "*"
 * when gzip is not named) with a q-value above zero; 0 for NULL, an empty
 * value or anything else.  Case-insensitive, as HTTP says.
 */
int http_accepts_gzip(const char *accept_encoding);

/*
 * Compresses len bytes into a gzip stream in a new buffer (*out, to free)
 * of *out_len bytes.  0 on success, -1 when memory runs out.
 */
int gzip_compress(const char *in, size_t len, char **out, size_t *out_len);

#endif
