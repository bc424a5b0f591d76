/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The chunk pool (pool.h): 1 MiB chunks (or one as large as a bigger request), bump
 * allocation, everything freed together.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pool.h"

struct pool_chunk {
    struct pool_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char mem[];
};

void *pool_alloc(struct pool *p, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct pool_chunk *c = p->head;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        c = malloc(sizeof *c + cap);
        if (c == NULL)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = p->head;
        p->head = c;
    }
    void *r = c->mem + c->used;
    c->used += n;
    memset(r, 0, n);
    return r;
}

void pool_free(struct pool *p)
{
    while (p->head != NULL) {
        struct pool_chunk *c = p->head;
        p->head = c->next;
        free(c);
    }
}

static void *pool_pb_alloc(void *arg, size_t n)
{
    return pool_alloc(arg, n);
}

static void pool_pb_free(void *arg, void *ptr)
{
    (void)arg;
    (void)ptr;
}

void pool_pb_allocator(ProtobufCAllocator *a, struct pool *p)
{
    a->alloc = pool_pb_alloc;
    a->free = pool_pb_free;
    a->allocator_data = p;
}
