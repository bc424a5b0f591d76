/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Named barriers with asyncio.Barrier semantics: the barrier entries in the engine's barrier
 * table, their FIFO queues of pending BarrierWaits (waiter kind EW_BARRIER), Wait, Reset, Abort,
 * State, and the cancel, drop (session end) and shutdown paths of a pending BarrierWait. An
 * entry exists while the barrier has waiters or is broken: a barrier that filled, or whose
 * waiters all left, takes no memory. Barriers are not owned, so an aborted (broken) barrier
 * outlives the session that aborted it; the number of broken barriers is capped engine-wide at
 * the pending limit (engine_limits.max_pending_per_session), as set events are.
 *
 * Waiters of an ended session stay in the queue until the reaper drops them (in steps, see
 * engine_session_close()); they never take part in a fill: the wait that would fill purges them
 * first, so the indices handed out are always 0..parties-1, unique, in arrival order.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* A barrier with waiters, or broken. The name follows inline. */
struct ebarrier {
    struct table_node node;           /* in e->barriers */
    struct ebarrier *a_prev, *a_next; /* e->barriers_all */
    struct ewaiter *q_head, *q_tail;  /* pending BarrierWaits, oldest first */
    uint64_t parties;
    uint64_t nwaiters;
    bool broken;
    uint16_t name_len;
    uint8_t name[];
};

/* ================================================================== entries */

bool ebarrier_key_eq(const struct table_node *node, const void *key, size_t len)
{
    const struct ebarrier *b = ENGINE_CONTAINER_OF(node, struct ebarrier, node);
    return b->name_len == len && memcmp(b->name, key, len) == 0;
}

static struct ebarrier *ebarrier_find(struct engine *e, const uint8_t *name, size_t len)
{
    struct table_node *n = table_find(e->barriers, name, len, table_hash(e->barriers, name, len));
    return n == NULL ? NULL : ENGINE_CONTAINER_OF(n, struct ebarrier, node);
}

static struct ebarrier *ebarrier_create(struct engine *e, const uint8_t *name, size_t len,
                                        uint64_t parties)
{
    struct ebarrier *b = calloc(1, sizeof *b + len);
    if (b == NULL)
        return NULL;
    memcpy(b->name, name, len);
    b->name_len = (uint16_t)len;
    b->parties = parties;
    if (!table_insert(e->barriers, &b->node, table_hash(e->barriers, name, len))) {
        free(b);
        return NULL;
    }
    b->a_next = e->barriers_all;
    if (e->barriers_all != NULL)
        e->barriers_all->a_prev = b;
    e->barriers_all = b;
    e->st.barriers++;
    engine_account(e, (long)(sizeof *b + len));
    return b;
}

static void ebarrier_destroy(struct engine *e, struct ebarrier *b)
{
    table_remove(e->barriers, &b->node);
    if (b->a_prev != NULL)
        b->a_prev->a_next = b->a_next;
    else
        e->barriers_all = b->a_next;
    if (b->a_next != NULL)
        b->a_next->a_prev = b->a_prev;
    if (b->broken)
        e->st.barriers_broken--;
    e->st.barriers--;
    engine_account(e, -(long)(sizeof *b + b->name_len));
    free(b);
}

/* Frees b when it no longer needs an entry: not broken and unwaited. */
static void ebarrier_trim(struct engine *e, struct ebarrier *b)
{
    if (!b->broken && b->nwaiters == 0)
        ebarrier_destroy(e, b);
}

void ebarrier_free_all(struct engine *e)
{
    while (e->barriers_all != NULL)
        ebarrier_destroy(e, e->barriers_all);
}

/* ================================================================== waiters */

/* Takes w out of its barrier's queue; returns the barrier (not freed). */
static struct ebarrier *barrierq_remove(struct ewaiter *w)
{
    struct engine *e = w->s->e;
    struct ebarrier *b = w->barrier;
    ewq_unlink(&b->q_head, &b->q_tail, w);
    b->nwaiters--;
    e->st.barrier_waiters--;
    w->barrier = NULL;
    return b;
}

/* Answers w with status (no reply when reply is false or its session ended), frees it and trims
 * its barrier: a waiter that leaves does not break the barrier. */
static void ebarrier_finish(struct ewaiter *w, enum engine_status status, bool reply)
{
    struct engine *e = w->s->e;
    struct ebarrier *b = barrierq_remove(w);
    if (reply)
        engine_deliver(e, w, status, 0);
    engine_waiter_free(w);
    ebarrier_trim(e, b);
}

static void barrier_timer_cb(void *arg)
{
    ebarrier_finish(arg, ENGINE_TIMEOUT, true);
}

void ebarrier_cancel_wait(struct ewaiter *w)
{
    ebarrier_finish(w, ENGINE_CANCELLED, true);
}

void ebarrier_drop_wait(struct ewaiter *w)
{
    ebarrier_finish(w, ENGINE_OK, false);
}

void ebarrier_shutdown_wait(struct ewaiter *w)
{
    ebarrier_finish(w, ENGINE_SHUTTING_DOWN, true);
}

/* Answers every waiter of b BROKEN (b stays, possibly empty); returns how many of them belong
 * to live sessions. */
static uint64_t ebarrier_break_waiters(struct engine *e, struct ebarrier *b)
{
    uint64_t n = 0;
    while (b->q_head != NULL) {
        struct ewaiter *w = b->q_head;
        if (!w->s->closing)
            n++;
        barrierq_remove(w);
        engine_deliver(e, w, ENGINE_BROKEN, 0);
        engine_waiter_free(w);
    }
    return n;
}

/* Drops the waiters of ended sessions from b's queue (the reaper would, later). */
static void ebarrier_purge_closing(struct ebarrier *b)
{
    struct ewaiter *w = b->q_head;
    while (w != NULL) {
        struct ewaiter *next = w->q_next;
        if (w->s->closing) {
            barrierq_remove(w);
            engine_waiter_free(w);
        }
        w = next;
    }
}

/* ================================================================== operations */

static enum engine_status check_parties(uint64_t parties, bool zero_ok, const char **message)
{
    if ((parties == 0 && !zero_ok) || parties > ENGINE_BARRIER_PARTIES_MAX)
        return engine_fail(message, ENGINE_BAD_REQUEST, "parties must be 1..2147483648");
    return ENGINE_OK;
}

enum engine_status engine_barrier_wait(struct esession *s, uint64_t req_id, const uint8_t *name,
                                       size_t len, uint64_t parties, const double *timeout,
                                       uint32_t *index, const char **message)
{
    struct engine *e = s->e;
    *index = 0;
    if (e->shutting_down)
        return engine_fail(message, ENGINE_SHUTTING_DOWN, "server shutting down");
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid barrier name");
    enum engine_status st = check_parties(parties, false, message);
    if (st != ENGINE_OK)
        return st;
    bool forever;
    double seconds;
    st = engine_check_wait_args(s, req_id, timeout, &forever, &seconds, message);
    if (st != ENGINE_OK)
        return st;
    struct ebarrier *b = ebarrier_find(e, name, len);
    if (b != NULL && b->parties != parties)
        return engine_fail(message, ENGINE_VALUE_MISMATCH, "barrier exists with other parties");
    if (b != NULL && b->broken)
        return engine_fail(message, ENGINE_BROKEN, "barrier broken");
    if (b != NULL && b->nwaiters + 1 >= parties)
        ebarrier_purge_closing(b);
    uint64_t waiting = b == NULL ? 0 : b->nwaiters;
    if (waiting + 1 == parties) {
        /* This wait fills the barrier: every waiter is answered now, in arrival order, and
         * the barrier is gone (a new generation starts with the next wait). */
        uint32_t i = 0;
        while (b != NULL && b->q_head != NULL) {
            struct ewaiter *w = b->q_head;
            barrierq_remove(w);
            engine_deliver(e, w, ENGINE_OK, i++);
            engine_waiter_free(w);
        }
        if (b != NULL)
            ebarrier_destroy(e, b);
        *index = i;
        return ENGINE_OK;
    }
    if (!forever && seconds == 0)
        return engine_fail(message, ENGINE_TIMEOUT, "timed out");
    if (s->npending >= e->limits.max_pending_per_session)
        return engine_fail(message, ENGINE_LIMIT_EXCEEDED,
                           "too many pending requests in this session");
    bool created = false;
    if (b == NULL) {
        b = ebarrier_create(e, name, len, parties);
        if (b == NULL)
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
        created = true;
    }
    struct ewaiter *w = engine_waiter_new(s, req_id, 0, EW_BARRIER, !forever, barrier_timer_cb);
    if (w == NULL) {
        if (created)
            ebarrier_destroy(e, b);
        return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    }
    w->barrier = b;
    ewq_append(&b->q_head, &b->q_tail, w);
    b->nwaiters++;
    e->st.barrier_waiters++;
    if (!forever)
        engine_waiter_arm(w, seconds);
    return ENGINE_PENDING;
}

enum engine_status engine_barrier_reset(struct engine *e, const uint8_t *name, size_t len,
                                        uint64_t parties, uint64_t *broken, const char **message)
{
    *broken = 0;
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid barrier name");
    enum engine_status st = check_parties(parties, true, message);
    if (st != ENGINE_OK)
        return st;
    struct ebarrier *b = ebarrier_find(e, name, len);
    if (b == NULL)
        return ENGINE_OK;
    if (parties != 0 && b->parties != parties)
        return engine_fail(message, ENGINE_VALUE_MISMATCH, "barrier exists with other parties");
    *broken = ebarrier_break_waiters(e, b);
    ebarrier_destroy(e, b); /* not broken, no waiters: reusable, and takes no memory */
    return ENGINE_OK;
}

enum engine_status engine_barrier_abort(struct engine *e, const uint8_t *name, size_t len,
                                        uint64_t parties, uint64_t *broken, const char **message)
{
    *broken = 0;
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid barrier name");
    enum engine_status st = check_parties(parties, true, message);
    if (st != ENGINE_OK)
        return st;
    struct ebarrier *b = ebarrier_find(e, name, len);
    if (b != NULL && parties != 0 && b->parties != parties)
        return engine_fail(message, ENGINE_VALUE_MISMATCH, "barrier exists with other parties");
    if (b != NULL && b->broken)
        return ENGINE_OK;
    if (e->st.barriers_broken >= e->limits.max_pending_per_session)
        return engine_fail(message, ENGINE_LIMIT_EXCEEDED, "too many barriers broken");
    if (b == NULL) {
        if (parties == 0)
            return engine_fail(message, ENGINE_BAD_REQUEST,
                               "parties needed to abort a barrier that does not exist");
        b = ebarrier_create(e, name, len, parties);
        if (b == NULL)
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    }
    b->broken = true;
    e->st.barriers_broken++;
    *broken = ebarrier_break_waiters(e, b);
    return ENGINE_OK;
}

enum engine_status engine_barrier_state(struct engine *e, const uint8_t *name, size_t len,
                                        struct engine_barrier_info *out, const char **message)
{
    memset(out, 0, sizeof *out);
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid barrier name");
    const struct ebarrier *b = ebarrier_find(e, name, len);
    if (b == NULL)
        return ENGINE_OK;
    out->name = b->name;
    out->name_len = b->name_len;
    out->parties = b->parties;
    out->n_waiting = b->nwaiters;
    out->broken = b->broken;
    return ENGINE_OK;
}

/* ================================================================== introspection */

bool engine_list_barriers(const struct engine *e, const uint8_t *prefix, size_t prefix_len,
                          size_t limit,
                          void (*on_barrier)(void *arg, const struct engine_barrier_info *),
                          void *arg)
{
    struct table_iter it;
    size_t seen = 0;
    table_iter_init(&it, e->barriers);
    for (struct table_node *n; (n = table_iter_next(&it)) != NULL;) {
        const struct ebarrier *b = ENGINE_CONTAINER_OF(n, struct ebarrier, node);
        if (prefix_len > b->name_len ||
            (prefix_len > 0 && memcmp(b->name, prefix, prefix_len) != 0))
            continue;
        if (seen == limit)
            return true;
        seen++;
        struct engine_barrier_info info = {
            .name = b->name,
            .name_len = b->name_len,
            .parties = b->parties,
            .n_waiting = b->nwaiters,
            .broken = b->broken,
        };
        if (on_barrier != NULL)
            on_barrier(arg, &info);
    }
    return false;
}
