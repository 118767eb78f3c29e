/*
 * Reads the worker's compact seat map (see worker/seatmap.c): sections of
 * rows, each row with its first seat id (or all ids), its tier code (or one
 * per seat) and one state character per seat, 'a' for available.  The
 * layout is learnt from the first map; later maps only contribute their
 * states.  Seats are ranked best first: the dearest tier first, then the
 * map's own order (section, row, number), which is how most buyers choose.
 */

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "storm.h"


typedef struct {
    char     code;
    int64_t  price;
} storm_tier_t;


typedef struct {
    uint32_t  id;
    uint32_t  order;     /* position in the map */
    int64_t   price;
} storm_raw_seat_t;


static int
storm_seat_cmp(const void *a, const void *b)
{
    const storm_raw_seat_t  *x = a, *y = b;

    if (x->price != y->price) {
        return x->price > y->price ? -1 : 1;
    }

    return x->order < y->order ? -1 : (x->order > y->order);
}


static int
storm_seatmap_layout(const char *body, size_t len, storm_venue_t *venue,
    const char **err)
{
    int                i, ntiers, rc;
    int64_t            count, first, total, v;
    uint32_t           n, k, max_id;
    json_iter_t        si, ri, ti, ii;
    json_span_t        tiers, sections, sec, rows, row, t, ids, code;
    storm_tier_t       tier[64];
    storm_raw_seat_t  *raw;
    char               tcode[8], tcodes[4096];

    if (json_get_int(body, len, "seats", &total) != 0 || total <= 0
        || total > 10000000)
    {
        *err = "the map has no seat count";
        return -1;
    }

    if (json_find(body, len, "tiers", &tiers) != 0
        || json_array_begin(&ti, tiers) != 0)
    {
        *err = "the map has no tiers";
        return -1;
    }

    ntiers = 0;

    while ((rc = json_array_next(&ti, &t)) == 1 && ntiers < 64) {
        if (json_get_str(t.p, t.len, "code", tcode, sizeof(tcode)) != 1
            || json_get_int(t.p, t.len, "price", &tier[ntiers].price) != 0)
        {
            *err = "a tier without code or price";
            return -1;
        }

        tier[ntiers++].code = tcode[0];
    }

    raw = calloc((size_t) total, sizeof(storm_raw_seat_t));
    if (raw == NULL) {
        *err = "out of memory";
        return -1;
    }

    n = 0;
    max_id = 0;

    if (json_find(body, len, "sections", &sections) != 0
        || json_array_begin(&si, sections) != 0)
    {
        goto malformed;
    }

    while ((rc = json_array_next(&si, &sec)) == 1) {
        if (json_find(sec.p, sec.len, "rows", &rows) != 0
            || json_array_begin(&ri, rows) != 0)
        {
            goto malformed;
        }

        while ((rc = json_array_next(&ri, &row)) == 1) {
            if (json_get_int(row.p, row.len, "count", &count) != 0
                || count <= 0 || n + count > total)
            {
                goto malformed;
            }

            first = -1;

            if (json_get_int(row.p, row.len, "first_id", &first) != 0
                && (json_find(row.p, row.len, "ids", &ids) != 0
                    || json_array_begin(&ii, ids) != 0))
            {
                goto malformed;
            }

            tcodes[0] = '\0';

            if (json_get_str(row.p, row.len, "tier", tcode, sizeof(tcode))
                == 1)
            {
                memset(tcodes, tcode[0], (size_t) count < sizeof(tcodes)
                       ? (size_t) count : sizeof(tcodes) - 1);

            } else if (json_find(row.p, row.len, "tiers", &code) != 0
                       || code.len != (size_t) count + 2
                       || (size_t) count >= sizeof(tcodes))
            {
                goto malformed;

            } else {
                memcpy(tcodes, code.p + 1, (size_t) count);
            }

            for (k = 0; k < count; k++) {
                if (first >= 0) {
                    v = first + k;

                } else if (json_array_next(&ii, &t) != 1
                           || json_span_int(t, &v) != 0)
                {
                    goto malformed;
                }

                if (v <= 0 || v > UINT32_MAX - 1) {
                    goto malformed;
                }

                raw[n].id = (uint32_t) v;
                raw[n].order = n;
                raw[n].price = 0;

                for (i = 0; i < ntiers; i++) {
                    if (tier[i].code == tcodes[k]) {
                        raw[n].price = tier[i].price;
                    }
                }

                if (raw[n].id > max_id) {
                    max_id = raw[n].id;
                }

                n++;
            }
        }

        if (rc < 0) {
            goto malformed;
        }
    }

    if (rc < 0 || n != total) {
        goto malformed;
    }

    /* Map order must be kept for reading states; the ranking is a copy. */
    venue->nseats = n;
    venue->max_id = max_id;
    venue->seats = calloc(n, sizeof(storm_seat_t));
    venue->index = calloc((size_t) max_id + 1, sizeof(uint32_t));
    venue->price_by_id = calloc((size_t) max_id + 1, sizeof(int64_t));
    venue->map_rank = calloc(n, sizeof(uint32_t));

    if (venue->seats == NULL || venue->index == NULL
        || venue->price_by_id == NULL || venue->map_rank == NULL)
    {
        *err = "out of memory";
        free(raw);
        return -1;
    }

    qsort(raw, n, sizeof(storm_raw_seat_t), storm_seat_cmp);

    for (k = 0; k < n; k++) {
        venue->seats[k].id = raw[k].id;
        venue->seats[k].rank = k;
        venue->seats[k].price = raw[k].price;
        venue->index[raw[k].id] = k + 1;
        venue->price_by_id[raw[k].id] = raw[k].price;
        venue->map_rank[raw[k].order] = k;
    }

    free(raw);

    return 0;

malformed:

    free(raw);
    *err = "a malformed section or row";

    return -1;
}


int
storm_seatmap_parse(const char *body, size_t len, storm_venue_t *venue,
    storm_snapshot_t *snap, const char **err)
{
    int           rc;
    uint32_t      n, k;
    json_iter_t   si, ri;
    json_span_t   sections, sec, rows, row, states;

    if (venue->seats == NULL
        && storm_seatmap_layout(body, len, venue, err) != 0)
    {
        return -1;
    }

    if (snap->free == NULL) {
        snap->free = calloc(venue->nseats, 1);
        if (snap->free == NULL) {
            *err = "out of memory";
            return -1;
        }
    }

    if (json_find(body, len, "sections", &sections) != 0
        || json_array_begin(&si, sections) != 0)
    {
        *err = "the map has no sections";
        return -1;
    }

    n = 0;
    snap->nfree = 0;
    snap->nheld = 0;

    while ((rc = json_array_next(&si, &sec)) == 1) {
        if (json_find(sec.p, sec.len, "rows", &rows) != 0
            || json_array_begin(&ri, rows) != 0)
        {
            *err = "a section without rows";
            return -1;
        }

        while ((rc = json_array_next(&ri, &row)) == 1) {
            if (json_find(row.p, row.len, "states", &states) != 0
                || states.len < 2 || n + states.len - 2 > venue->nseats)
            {
                *err = "a row without states, or the layout changed";
                return -1;
            }

            for (k = 1; k + 1 < states.len; k++, n++) {
                uint8_t  f = (states.p[k] == 'a');

                snap->free[venue->map_rank[n]] = f;
                snap->nfree += f;
                snap->nheld += (states.p[k] == 'h');
            }
        }

        if (rc < 0) {
            *err = "a malformed row";
            return -1;
        }
    }

    if (rc < 0 || n != venue->nseats) {
        *err = "the map's seat count changed";
        return -1;
    }

    return 0;
}


void
storm_venue_free(storm_venue_t *venue)
{
    free(venue->seats);
    free(venue->index);
    free(venue->price_by_id);
    free(venue->map_rank);
    memset(venue, 0, sizeof(storm_venue_t));
}
