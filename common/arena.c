/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The message arena (see arena.h).
 */
#include "config.h"

#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

static void *arena_alloc(void *data, size_t size)
{
    struct arena *a = data;
    size_t need = (size + 15u) & ~(size_t)15u;
    if (need >= size && need <= a->cap - a->used) {
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
    if (p >= lo && p < lo + a->cap)
        return; /* released by arena_reset */
    free(ptr);
}

void arena_init(struct arena *a, void *buf, size_t cap)
{
    a->buf = buf;
    a->cap = cap & ~(size_t)15u;
    a->used = 0;
    a->fallbacks = 0;
}

void arena_allocator_init(ProtobufCAllocator *alloc, struct arena *a)
{
    alloc->alloc = arena_alloc;
    alloc->free = arena_free;
    alloc->allocator_data = a;
}

void arena_reset(struct arena *a)
{
    a->used = 0;
    a->fallbacks = 0;
}
