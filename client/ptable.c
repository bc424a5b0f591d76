/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The table of pending requests of one client, keyed by request id. Entries are stored by value
 * in one array (open addressing, linear probing, backward-shift deletion), so sending a request
 * and matching its answer allocate nothing once the table has grown to the connection's working
 * set. Ids come from a counter, so a multiplicative hash spreads them well.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

static size_t slot_of(const struct cl_ptable *t, uint64_t id)
{
    return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (t->cap - 1);
}

static void place(struct cl_ptable *t, const struct cl_pending *p)
{
    size_t i = slot_of(t, p->id);
    while (t->slots[i].id != 0)
        i = (i + 1) & (t->cap - 1);
    t->slots[i] = *p;
}

static int grow(struct cl_ptable *t)
{
    size_t ncap = t->cap == 0 ? 64 : t->cap * 2;
    struct cl_pending *ns = calloc(ncap, sizeof *ns);
    if (ns == NULL)
        return CONDD_ERR_NOMEM;
    struct cl_pending *old = t->slots;
    size_t ocap = t->cap;
    t->slots = ns;
    t->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].id != 0)
            place(t, &old[i]);
    free(old);
    return CONDD_OK;
}

int cl_ptable_put(struct cl_ptable *t, const struct cl_pending *p)
{
    /* Keep the load at most 1/2 so probe runs stay short. */
    if ((t->count + 1) * 2 > t->cap && grow(t) != CONDD_OK)
        return CONDD_ERR_NOMEM;
    place(t, p);
    t->count++;
    return CONDD_OK;
}

static size_t find(const struct cl_ptable *t, uint64_t id)
{
    if (t->cap == 0 || id == 0)
        return SIZE_MAX;
    size_t i = slot_of(t, id);
    while (t->slots[i].id != 0) {
        if (t->slots[i].id == id)
            return i;
        i = (i + 1) & (t->cap - 1);
    }
    return SIZE_MAX;
}

struct cl_pending *cl_ptable_get(struct cl_ptable *t, uint64_t id)
{
    size_t i = find(t, id);
    return i == SIZE_MAX ? NULL : &t->slots[i];
}

bool cl_ptable_take(struct cl_ptable *t, uint64_t id, struct cl_pending *out)
{
    size_t i = find(t, id);
    if (i == SIZE_MAX)
        return false;
    *out = t->slots[i];
    /* Backward-shift deletion: move later members of the probe run into the hole when their
     * home slot does not lie (cyclically) between the hole and their current slot. */
    size_t mask = t->cap - 1, hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (t->slots[j].id == 0)
            break;
        size_t home = slot_of(t, t->slots[j].id);
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    memset(&t->slots[hole], 0, sizeof t->slots[hole]);
    t->count--;
    return true;
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = ((const struct cl_pending *)a)->id, y = ((const struct cl_pending *)b)->id;
    return x < y ? -1 : x > y;
}

int cl_ptable_drain(struct cl_ptable *t, struct cl_pending **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (t->count == 0)
        return CONDD_OK;
    struct cl_pending *v = malloc(t->count * sizeof *v);
    if (v == NULL)
        return CONDD_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].id != 0)
            v[k++] = t->slots[i];
    qsort(v, k, sizeof *v, by_id);
    memset(t->slots, 0, t->cap * sizeof *t->slots);
    t->count = 0;
    *out = v;
    *n = k;
    return CONDD_OK;
}

void cl_ptable_free(struct cl_ptable *t)
{
    free(t->slots);
    memset(t, 0, sizeof *t);
}
