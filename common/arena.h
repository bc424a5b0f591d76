/* SPDX-License-Identifier: BSD-2-Clause
 *
 * A bump allocator that protobuf-c unpacks messages into, so that decoding a frame costs no
 * malloc on the hot path: the daemon decodes requests into one, libcondd its responses. It is
 * reset after each message; what does not fit falls back to malloc and is freed individually
 * through the same allocator.
 */
#ifndef CONDD_COMMON_ARENA_H
#define CONDD_COMMON_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct arena {
    unsigned char *buf; /* borrowed from arena_init()'s caller */
    size_t cap;
    size_t used;
    size_t fallbacks; /* allocations since the last reset that went to malloc */
};

/* Makes a an empty arena over buf[0..cap). buf is borrowed, must be aligned to 16 bytes and
 * must outlive every use of a. */
void arena_init(struct arena *a, void *buf, size_t cap);

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
