/* SPDX-License-Identifier: BSD-2-Clause
 *
 * A pool of chunks (pool.c): many small zeroed allocations freed together, for building or
 * unpacking a message of a million parts (the live restart's state, snapshot.c) with one free
 * and no pointer to fix up when a count is known late. Not thread-safe.
 */
#ifndef CONDD_DAEMON_POOL_H
#define CONDD_DAEMON_POOL_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct pool_chunk;

/* Zero-initialise ({NULL}) before use; pool_free() gives everything back. */
struct pool {
    struct pool_chunk *head;
};

/* n zeroed bytes aligned to 16, valid until pool_free(p); NULL when out of memory. */
void *pool_alloc(struct pool *p, size_t n);

/* Frees every allocation of p at once; p is then empty and usable again. */
void pool_free(struct pool *p);

/* Fills *a with protobuf-c's allocator over p (its free does nothing: pool_free() frees all),
 * so that protobuf_c_message_unpack() makes no malloc per nested message. p is borrowed. */
void pool_pb_allocator(ProtobufCAllocator *a, struct pool *p);

#endif
