/*
 * The user-to-place index; see ticket_index.h.
 */

#include "ticket_index.h"


static uint32_t
ticket_index_home(const ticket_index_t *ix, uint16_t room, uint64_t user)
{
    uint64_t  h;

    /* The splitmix64 finalizer spreads sequential user ids evenly. */
    h = user ^ ((uint64_t) room * 0x9e3779b97f4a7c15ULL);
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;

    return (uint32_t) (((h >> 32) * ix->size) >> 32);
}


void
ticket_index_init(ticket_index_t *ix, ticket_index_entry_t *slots,
    uint32_t size)
{
    ix->slots = slots;
    ix->size = size;
    ix->count = 0;
    ix->limit = size - size / 8;
}


ticket_index_entry_t *
ticket_index_find(ticket_index_t *ix, uint16_t room, uint64_t user)
{
    uint32_t               i;
    ticket_index_entry_t  *e;

    if (user == 0 || ix->size == 0) {
        return NULL;
    }

    i = ticket_index_home(ix, room, user);

    for ( ;; ) {
        e = &ix->slots[i];

        if (e->user == 0) {
            return NULL;
        }

        if (e->user == user && e->room == room) {
            return e;
        }

        if (++i == ix->size) {
            i = 0;
        }
    }
}


ticket_index_entry_t *
ticket_index_insert(ticket_index_t *ix, uint16_t room, uint64_t user)
{
    uint32_t               i;
    ticket_index_entry_t  *e;

    if (user == 0 || ix->size == 0) {
        return NULL;
    }

    i = ticket_index_home(ix, room, user);

    for ( ;; ) {
        e = &ix->slots[i];

        if (e->user == 0) {
            break;
        }

        if (e->user == user && e->room == room) {
            return e;
        }

        if (++i == ix->size) {
            i = 0;
        }
    }

    if (ix->count >= ix->limit) {
        return NULL;
    }

    e->user = user;
    e->room = room;
    e->place = 0;
    e->flags = 0;
    ix->count++;

    return e;
}


void
ticket_index_remove(ticket_index_t *ix, ticket_index_entry_t *e)
{
    uint32_t  i, j, k;

    i = (uint32_t) (e - ix->slots);
    j = i;

    /*
     * Backward shift: move up every later entry of the cluster whose home
     * slot does not lie cyclically in (i, j], so lookups never meet a hole.
     */
    for ( ;; ) {
        if (++j == ix->size) {
            j = 0;
        }

        if (ix->slots[j].user == 0) {
            break;
        }

        k = ticket_index_home(ix, ix->slots[j].room, ix->slots[j].user);

        if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) {
            continue;
        }

        ix->slots[i] = ix->slots[j];
        i = j;
    }

    ix->slots[i].user = 0;
    ix->slots[i].place = 0;
    ix->slots[i].room = 0;
    ix->slots[i].flags = 0;
    ix->count--;
}


uint32_t
ticket_index_sweep(ticket_index_t *ix, uint32_t *cursor, uint32_t n,
    ticket_index_sweep_pt handler, void *data)
{
    uint32_t               i, deleted;
    ticket_index_entry_t  *e;

    if (ix->size == 0) {
        return 0;
    }

    deleted = 0;
    i = *cursor % ix->size;

    while (n--) {
        e = &ix->slots[i];

        if (e->user != 0 && handler(e, data)) {
            /* The slot may now hold a shifted entry: look at it again. */
            ticket_index_remove(ix, e);
            deleted++;
            continue;
        }

        if (++i == ix->size) {
            i = 0;
        }
    }

    *cursor = i;

    return deleted;
}
