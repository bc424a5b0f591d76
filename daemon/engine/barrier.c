/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Named barriers with asyncio.Barrier semantics: Wait, Reset, Abort, State over the barrier
 * entries (kept by qentry.c, with their FIFO queues of pending BarrierWaits, waiter kind
 * EW_BARRIER), and the cancel, drop (session end) and shutdown paths of a pending BarrierWait. An
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

#include <string.h>

#include "engine_internal.h"

/* A barrier's entry is a struct eqentry of kind EW_BARRIER (qentry.c), sticky while broken. A
 * waiter that leaves (eqentry_finish()) does not break it. */

bool ebarrier_key_eq(const struct table_node *node, const void *key, size_t len)
{
    return eqentry_key_eq(node, key, len);
}

void ebarrier_free_all(struct engine *e)
{
    eqentry_free_all(e, EW_BARRIER);
}

void ebarrier_cancel_wait(struct ewaiter *w)
{
    eqentry_finish(w, ENGINE_CANCELLED, true);
}

void ebarrier_drop_wait(struct ewaiter *w)
{
    eqentry_finish(w, ENGINE_OK, false);
}

void ebarrier_shutdown_wait(struct ewaiter *w)
{
    eqentry_finish(w, ENGINE_SHUTTING_DOWN, true);
}

/* ================================================================== waiters */

/* Answers every waiter of b BROKEN (b stays, possibly empty); returns how many of them belong
 * to live sessions. */
static uint64_t ebarrier_break_waiters(struct eqentry *b)
{
    uint64_t n = 0;
    while (b->q_head != NULL) {
        struct ewaiter *w = b->q_head;
        if (!w->s->closing)
            n++;
        eqentry_answer(w, ENGINE_BROKEN, 0);
    }
    return n;
}

/* Drops the waiters of ended sessions from b's queue (the reaper would, later). */
static void ebarrier_purge_closing(struct eqentry *b)
{
    struct ewaiter *w = b->q_head;
    while (w != NULL) {
        struct ewaiter *next = w->q_next;
        if (w->s->closing) {
            eqentry_dequeue(w);
            engine_waiter_free(w);
        }
        w = next;
    }
}

/* What State and List show of b. */
static void ebarrier_info(const struct eqentry *b, struct engine_barrier_info *out)
{
    *out = (struct engine_barrier_info){
        .name = b->name,
        .name_len = b->name_len,
        .parties = b->parties,
        .n_waiting = b->nwaiters,
        .broken = b->sticky,
    };
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
    struct eqentry *b = eqentry_find(e, EW_BARRIER, name, len);
    if (b != NULL && b->parties != parties)
        return engine_fail(message, ENGINE_VALUE_MISMATCH, "barrier exists with other parties");
    if (b != NULL && b->sticky)
        return engine_fail(message, ENGINE_BROKEN, "barrier broken");
    if (b != NULL && b->nwaiters + 1 >= parties)
        ebarrier_purge_closing(b);
    uint64_t waiting = b == NULL ? 0 : b->nwaiters;
    if (waiting + 1 == parties) {
        /* This wait fills the barrier: every waiter is answered now, in arrival order, and
         * the barrier is gone (a new generation starts with the next wait). */
        uint32_t i = 0;
        while (b != NULL && b->q_head != NULL)
            eqentry_answer(b->q_head, ENGINE_OK, i++);
        if (b != NULL)
            eqentry_destroy(e, EW_BARRIER, b);
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
        b = eqentry_create(e, EW_BARRIER, name, len);
        if (b == NULL)
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
        b->parties = (uint32_t)parties;
        created = true;
    }
    struct ewaiter *w = engine_waiter_new(s, req_id, 0, EW_BARRIER, !forever, eqentry_timer_cb);
    if (w == NULL) {
        if (created)
            eqentry_destroy(e, EW_BARRIER, b);
        return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    }
    eqentry_enqueue(b, w);
    if (!forever)
        engine_waiter_arm(w, seconds);
    return ENGINE_PENDING;
}

/* What Reset and Abort check first, in this order: the name, parties (0: no check), and that
 * the barrier, if it exists (*b, else NULL), has those parties. */
static enum engine_status barrier_lookup(struct engine *e, const uint8_t *name, size_t len,
                                         uint64_t parties, struct eqentry **b, const char **message)
{
    *b = NULL;
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid barrier name");
    enum engine_status st = check_parties(parties, true, message);
    if (st != ENGINE_OK)
        return st;
    *b = eqentry_find(e, EW_BARRIER, name, len);
    if (*b != NULL && parties != 0 && (*b)->parties != parties)
        return engine_fail(message, ENGINE_VALUE_MISMATCH, "barrier exists with other parties");
    return ENGINE_OK;
}

enum engine_status engine_barrier_reset(struct engine *e, const uint8_t *name, size_t len,
                                        uint64_t parties, uint64_t *broken, const char **message)
{
    *broken = 0;
    struct eqentry *b;
    enum engine_status st = barrier_lookup(e, name, len, parties, &b, message);
    if (st != ENGINE_OK || b == NULL)
        return st;
    *broken = ebarrier_break_waiters(b);
    eqentry_destroy(e, EW_BARRIER, b); /* not broken, no waiters: reusable, and takes no memory */
    return ENGINE_OK;
}

enum engine_status engine_barrier_abort(struct engine *e, const uint8_t *name, size_t len,
                                        uint64_t parties, uint64_t *broken, const char **message)
{
    *broken = 0;
    struct eqentry *b;
    enum engine_status st = barrier_lookup(e, name, len, parties, &b, message);
    if (st != ENGINE_OK)
        return st;
    if (b != NULL && b->sticky)
        return ENGINE_OK;
    if (e->st.barriers_broken >= e->limits.max_pending_per_session)
        return engine_fail(message, ENGINE_LIMIT_EXCEEDED, "too many barriers broken");
    if (b == NULL) {
        if (parties == 0)
            return engine_fail(message, ENGINE_BAD_REQUEST,
                               "parties needed to abort a barrier that does not exist");
        b = eqentry_create(e, EW_BARRIER, name, len);
        if (b == NULL)
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
        b->parties = (uint32_t)parties;
    }
    eqentry_set_sticky(e, EW_BARRIER, b, true);
    *broken = ebarrier_break_waiters(b);
    return ENGINE_OK;
}

enum engine_status engine_barrier_state(struct engine *e, const uint8_t *name, size_t len,
                                        struct engine_barrier_info *out, const char **message)
{
    memset(out, 0, sizeof *out);
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid barrier name");
    const struct eqentry *b = eqentry_find(e, EW_BARRIER, name, len);
    if (b != NULL)
        ebarrier_info(b, out);
    return ENGINE_OK;
}

/* ================================================================== introspection */

struct barrier_visit {
    void (*on_barrier)(void *arg, const struct engine_barrier_info *);
    void *arg;
};

static void barrier_visit(void *arg, const struct eqentry *b)
{
    const struct barrier_visit *v = arg;
    struct engine_barrier_info info;
    ebarrier_info(b, &info);
    if (v->on_barrier != NULL)
        v->on_barrier(v->arg, &info);
}

bool engine_list_barriers(const struct engine *e, const uint8_t *prefix, size_t prefix_len,
                          size_t limit,
                          void (*on_barrier)(void *arg, const struct engine_barrier_info *),
                          void *arg)
{
    struct barrier_visit v = {on_barrier, arg};
    return eqentry_list(e, EW_BARRIER, prefix, prefix_len, limit, barrier_visit, &v);
}
