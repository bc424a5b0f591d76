/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The request arena (see arena.h).
 */
#include "config.h"

#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

static void *arena_alloc(void *data, size_t size)
{
    struct arena *a = data;
    size_t need = (size + 15u) & ~(size_t)15u;
    if (need >= size && need <= ARENA_BYTES - a->used) {
        void *p = a->buf + a->used;
        a->used += need;
        return p;
    }
    a->fallbacks++;
    return malloc(size);
}

static void arena_free(void *data, void *ptr)
{
    struct arena *a = data;
    uintptr_t p = (uintptr_t)ptr;
    uintptr_t lo = (uintptr_t)a->buf;
    if (p >= lo && p < lo + ARENA_BYTES)
        return; /* released by arena_reset */
    free(ptr);
}

void arena_allocator_init(ProtobufCAllocator *alloc, struct arena *a)
{
    a->used = 0;
    a->fallbacks = 0;
    alloc->alloc = arena_alloc;
    alloc->free = arena_free;
    alloc->allocator_data = a;
}

void arena_reset(struct arena *a)
{
    a->used = 0;
    a->fallbacks = 0;
}
