/* SPDX-License-Identifier: BSD-2-Clause
 *
 * A bump allocator that protobuf-c unpacks requests into, so that decoding a request costs no
 * malloc on the hot path. It is reset after each request; what does not fit falls back to
 * malloc and is freed individually.
 */
#ifndef CONDD_DAEMON_ARENA_H
#define CONDD_DAEMON_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#define ARENA_BYTES (64u * 1024u)

struct arena {
    size_t used;
    size_t fallbacks; /* allocations since the last reset that went to malloc */
    _Alignas(16) unsigned char buf[ARENA_BYTES];
};

/* A protobuf-c allocator drawing from a (borrowed; must outlive the allocator's use). */
void arena_allocator_init(ProtobufCAllocator *alloc, struct arena *a);

/* True if everything allocated since the last reset came from the buffer: the message can then
 * be dropped by arena_reset() alone, without walking it to free its parts. */
static inline bool arena_all_inside(const struct arena *a)
{
    return a->fallbacks == 0;
}

/* Forgets every allocation from the buffer (malloc'd fallbacks must already be freed). */
void arena_reset(struct arena *a);

#endif
