/*
 * The user-to-place index of the waiting rooms, in pure C.
 *
 * One place per user per room needs to remember who already has a place.
 * The index is an open-addressing table (linear probing, deletion by
 * backward shift, so no tombstones) of 16-byte entries in a preallocated
 * array: its memory is fixed when the zone is created and it answers "full"
 * instead of growing.  The caller provides the array and the locking.
 */

#ifndef TICKET_INDEX_H
#define TICKET_INDEX_H

#include <stddef.h>
#include <stdint.h>


#define TICKET_INDEX_ACTIVE   0x0001   /* the place became a session */


typedef struct {
    uint64_t               user;       /* 0: a free slot */
    uint32_t               place;
    uint16_t               room;
    uint16_t               flags;
} ticket_index_entry_t;


typedef struct {
    ticket_index_entry_t  *slots;
    uint32_t               size;
    uint32_t               count;
    uint32_t               limit;      /* count at most, 7/8 of size */
} ticket_index_t;


/* Returns 1 when the sweep should delete the entry. */
typedef int (*ticket_index_sweep_pt)(const ticket_index_entry_t *e,
    void *data);


/* The slots must be zeroed by the caller (or come from a previous life). */
void ticket_index_init(ticket_index_t *ix, ticket_index_entry_t *slots,
    uint32_t size);
ticket_index_entry_t *ticket_index_find(ticket_index_t *ix, uint16_t room,
    uint64_t user);

/*
 * Returns the entry of (room, user), a new zeroed one when absent, or NULL
 * when the table is full or user is 0.
 */
ticket_index_entry_t *ticket_index_insert(ticket_index_t *ix, uint16_t room,
    uint64_t user);
void ticket_index_remove(ticket_index_t *ix, ticket_index_entry_t *e);

/*
 * Visits n slots starting at *cursor, deleting the entries the callback
 * asks for, and advances the cursor.  Returns the number deleted.
 */
uint32_t ticket_index_sweep(ticket_index_t *ix, uint32_t *cursor, uint32_t n,
    ticket_index_sweep_pt handler, void *data);

#endif /* TICKET_INDEX_H */
