/* SPDX-License-Identifier: BSD-2-Clause
 *
 * What events (event.c) and barriers (barrier.c) share: a named entry that no session owns, in
 * its kind's table and list of all entries, with a FIFO queue of pending waits and a sticky
 * flag (an event set, a barrier broken) that keeps it alive with an empty queue; and a waiter's
 * way out of that queue (answered, cancelled, timed out, dropped with its session, shut down).
 * An entry exists while it is sticky or waited for (eqentry_trim()). The kind is the kind of
 * its waiters, EW_EVENT or EW_BARRIER, which picks the table, the list and the counters.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* Where the entries of one kind live and are counted. */
struct eqkind {
    struct table *table;
    struct eqentry **all;
    uint64_t *entries, *sticky, *waiters; /* in e->st */
};

static struct eqkind eqkind_of(struct engine *e, enum ewaiter_kind kind)
{
    if (kind == EW_EVENT)
        return (struct eqkind){e->events, &e->events_all, &e->st.events, &e->st.events_set,
                               &e->st.event_waiters};
    return (struct eqkind){e->barriers, &e->barriers_all, &e->st.barriers, &e->st.barriers_broken,
                           &e->st.barrier_waiters};
}

/* ================================================================== entries */

bool eqentry_key_eq(const struct table_node *node, const void *key, size_t len)
{
    const struct eqentry *q = ENGINE_CONTAINER_OF(node, struct eqentry, node);
    return q->name_len == len && memcmp(q->name, key, len) == 0;
}

struct eqentry *eqentry_find(struct engine *e, enum ewaiter_kind kind, const uint8_t *name,
                             size_t len)
{
    struct table *t = eqkind_of(e, kind).table;
    struct table_node *n = table_find(t, name, len, table_hash(t, name, len));
    return n == NULL ? NULL : ENGINE_CONTAINER_OF(n, struct eqentry, node);
}

struct eqentry *eqentry_create(struct engine *e, enum ewaiter_kind kind, const uint8_t *name,
                               size_t len)
{
    struct eqkind k = eqkind_of(e, kind);
    struct eqentry *q = calloc(1, sizeof *q + len);
    if (q == NULL)
        return NULL;
    memcpy(q->name, name, len);
    q->name_len = (uint16_t)len;
    if (!table_insert(k.table, &q->node, table_hash(k.table, name, len))) {
        free(q);
        return NULL;
    }
    q->a_next = *k.all;
    if (*k.all != NULL)
        (*k.all)->a_prev = q;
    *k.all = q;
    (*k.entries)++;
    engine_account(e, (long)(sizeof *q + len));
    return q;
}

void eqentry_destroy(struct engine *e, enum ewaiter_kind kind, struct eqentry *q)
{
    struct eqkind k = eqkind_of(e, kind);
    table_remove(k.table, &q->node);
    if (q->a_prev != NULL)
        q->a_prev->a_next = q->a_next;
    else
        *k.all = q->a_next;
    if (q->a_next != NULL)
        q->a_next->a_prev = q->a_prev;
    if (q->sticky)
        (*k.sticky)--;
    (*k.entries)--;
    engine_account(e, -(long)(sizeof *q + q->name_len));
    free(q);
}

void eqentry_set_sticky(struct engine *e, enum ewaiter_kind kind, struct eqentry *q, bool sticky)
{
    if (q->sticky == sticky)
        return;
    q->sticky = sticky;
    uint64_t *n = eqkind_of(e, kind).sticky;
    *n = sticky ? *n + 1 : *n - 1;
}

void eqentry_trim(struct engine *e, enum ewaiter_kind kind, struct eqentry *q)
{
    if (!q->sticky && q->nwaiters == 0)
        eqentry_destroy(e, kind, q);
}

void eqentry_free_all(struct engine *e, enum ewaiter_kind kind)
{
    struct eqentry **all = eqkind_of(e, kind).all;
    while (*all != NULL)
        eqentry_destroy(e, kind, *all);
}

/* ================================================================== waiters */

void eqentry_enqueue(struct eqentry *q, struct ewaiter *w)
{
    w->entry = q;
    ewq_append(&q->q_head, &q->q_tail, w);
    q->nwaiters++;
    (*eqkind_of(w->s->e, w->kind).waiters)++;
}

struct eqentry *eqentry_dequeue(struct ewaiter *w)
{
    struct eqentry *q = w->entry;
    ewq_unlink(&q->q_head, &q->q_tail, w);
    q->nwaiters--;
    (*eqkind_of(w->s->e, w->kind).waiters)--;
    w->entry = NULL;
    return q;
}

void eqentry_answer(struct ewaiter *w, enum engine_status status, uint64_t value)
{
    struct engine *e = w->s->e;
    eqentry_dequeue(w);
    engine_deliver(e, w, status, value);
    engine_waiter_free(w);
}

void eqentry_finish(struct ewaiter *w, enum engine_status status, bool reply)
{
    struct engine *e = w->s->e;
    enum ewaiter_kind kind = w->kind;
    struct eqentry *q = eqentry_dequeue(w);
    if (reply)
        engine_deliver(e, w, status, 0);
    engine_waiter_free(w);
    eqentry_trim(e, kind, q);
}

void eqentry_timer_cb(void *arg)
{
    eqentry_finish(arg, ENGINE_TIMEOUT, true);
}

/* ================================================================== introspection */

bool eqentry_list(const struct engine *e, enum ewaiter_kind kind, const uint8_t *prefix,
                  size_t prefix_len, size_t limit,
                  void (*visit)(void *arg, const struct eqentry *q), void *arg)
{
    struct table_iter it;
    size_t seen = 0;
    table_iter_init(&it, kind == EW_EVENT ? e->events : e->barriers);
    for (struct table_node *n; (n = table_iter_next(&it)) != NULL;) {
        const struct eqentry *q = ENGINE_CONTAINER_OF(n, struct eqentry, node);
        if (prefix_len > q->name_len ||
            (prefix_len > 0 && memcmp(q->name, prefix, prefix_len) != 0))
            continue;
        if (seen == limit)
            return true;
        seen++;
        visit(arg, q);
    }
    return false;
}
