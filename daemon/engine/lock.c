/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Named locks: the lock entries in the engine's lock table, their FIFO queues of waiters, the
 * hand-over of a released lock to the queue head, and the Acquire, Release and Locked
 * operations. A lock entry exists only while the lock is held; waiting for a lock implies it is
 * held, because a release grants the head of the queue within the same call. Waits of
 * conditions (cond.c) re-acquire through the same queue as acquires.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* ================================================================== entries */

struct elock *elock_find(struct engine *e, const uint8_t *name, size_t len, uint64_t hash)
{
    struct table_node *n = table_find(e->locks, name, len, hash);
    return n == NULL ? NULL : ENGINE_CONTAINER_OF(n, struct elock, node);
}

struct elock *elock_create(struct engine *e, const uint8_t *name, size_t len, uint64_t hash)
{
    struct elock *l = calloc(1, sizeof *l + len);
    if (l == NULL)
        return NULL;
    memcpy(l->name, name, len);
    l->name_len = (uint16_t)len;
    if (!table_insert(e->locks, &l->node, hash)) {
        free(l);
        return NULL;
    }
    e->st.locks++;
    engine_account(e, (long)(sizeof *l + len));
    return l;
}

/* Frees l if nobody holds or waits for it. */
static void elock_maybe_free(struct engine *e, struct elock *l)
{
    if (l->holder != NULL || l->q_head != NULL)
        return;
    table_remove(e->locks, &l->node);
    e->st.locks--;
    engine_account(e, -(long)(sizeof *l + l->name_len));
    free(l);
}

/* Makes (s, owner) the holder of the free lock l with a new token, which it returns. */
static uint64_t elock_set_holder(struct elock *l, struct esession *s, uint64_t owner)
{
    struct engine *e = s->e;
    l->holder = s;
    l->holder_owner = owner;
    l->token = engine_next_token(e);
    l->h_prev = NULL;
    l->h_next = s->held;
    if (s->held != NULL)
        s->held->h_prev = l;
    s->held = l;
    e->st.locks_held++;
    return l->token;
}

static void elock_clear_holder(struct elock *l)
{
    struct esession *s = l->holder;
    if (l->h_prev != NULL)
        l->h_prev->h_next = l->h_next;
    else
        s->held = l->h_next;
    if (l->h_next != NULL)
        l->h_next->h_prev = l->h_prev;
    l->h_prev = l->h_next = NULL;
    l->holder = NULL;
    l->holder_owner = 0;
    l->token = 0;
    s->e->st.locks_held--;
}

/* ================================================================== queue */

void elock_enqueue(struct elock *l, struct ewaiter *w)
{
    w->state = EW_IN_LOCKQ;
    w->lock = l;
    ewq_append(&l->q_head, &l->q_tail, w);
    l->nwaiters++;
    w->s->e->st.lock_waiters++;
}

void elock_dequeue(struct ewaiter *w)
{
    struct elock *l = w->lock;
    ewq_unlink(&l->q_head, &l->q_tail, w);
    w->lock = NULL;
    l->nwaiters--;
    w->s->e->st.lock_waiters--;
}

void elock_grant(struct elock *l, struct ewaiter *w)
{
    struct engine *e = w->s->e;
    uint64_t token = elock_set_holder(l, w->s, w->owner);
    enum engine_status status =
        w->kind == EW_ACQUIRE ? ENGINE_OK : (enum engine_status)w->final_status;
    /* A wait of an ended session that was notified: nobody will act on the notification, so
     * pass it on to the condition's next waiter (who queues for l, now held). The reaper
     * releases l soon. */
    if (w->s->closing && w->cond != NULL && status == ENGINE_OK)
        econd_wake_head(w->cond);
    if (w->cond != NULL) {
        econd_unref(e, w->cond);
        w->cond = NULL;
    }
    engine_deliver(e, w, status, token);
    engine_waiter_free(w);
}

void elock_release(struct elock *l)
{
    struct engine *e = l->holder->e;
    elock_clear_holder(l);
    struct ewaiter *w = l->q_head;
    if (w == NULL) {
        elock_maybe_free(e, l);
        return;
    }
    elock_dequeue(w);
    elock_grant(l, w);
}

/* ================================================================== operations */

/* A timed acquire's timer: leave the queue and answer TIMEOUT. */
static void acquire_timer_cb(void *arg)
{
    struct ewaiter *w = arg;
    struct engine *e = w->s->e;
    struct elock *l = w->lock;
    elock_dequeue(w);
    engine_deliver(e, w, ENGINE_TIMEOUT, 0);
    engine_waiter_free(w);
    elock_maybe_free(e, l);
}

enum engine_status engine_acquire(struct esession *s, uint64_t req_id, const uint8_t *lock,
                                  size_t lock_len, uint64_t owner, const double *timeout,
                                  uint64_t *token, const char **message)
{
    struct engine *e = s->e;
    if (e->shutting_down)
        return engine_fail(message, ENGINE_SHUTTING_DOWN, "server shutting down");
    if (!engine_name_valid(lock, lock_len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid lock name");
    bool forever;
    double seconds;
    enum engine_status st = engine_check_wait_args(s, req_id, timeout, &forever, &seconds, message);
    if (st != ENGINE_OK)
        return st;
    uint64_t hash = table_hash(e->locks, lock, lock_len);
    struct elock *l = elock_find(e, lock, lock_len, hash);
    if (l == NULL) {
        l = elock_create(e, lock, lock_len, hash);
        if (l == NULL)
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
        uint64_t t = elock_set_holder(l, s, owner);
        if (token != NULL)
            *token = t;
        return ENGINE_OK;
    }
    if (l->holder == s && l->holder_owner == owner)
        return engine_fail(message, ENGINE_ALREADY_OWNER, "owner already holds the lock");
    if (!forever && seconds == 0)
        return engine_fail(message, ENGINE_TIMEOUT, "lock is held");
    if (s->npending >= e->limits.max_pending_per_session)
        return engine_fail(message, ENGINE_LIMIT_EXCEEDED,
                           "too many pending requests in this session");
    struct ewaiter *w = engine_waiter_new(s, req_id, owner, EW_ACQUIRE, !forever, acquire_timer_cb);
    if (w == NULL)
        return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    elock_enqueue(l, w);
    if (!forever)
        engine_waiter_arm(w, seconds);
    return ENGINE_PENDING;
}

enum engine_status engine_release(struct esession *s, const uint8_t *lock, size_t lock_len,
                                  uint64_t owner, const char **message)
{
    struct engine *e = s->e;
    if (!engine_name_valid(lock, lock_len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid lock name");
    struct elock *l = elock_find(e, lock, lock_len, table_hash(e->locks, lock, lock_len));
    if (l == NULL || l->holder != s || l->holder_owner != owner)
        return engine_fail(message, ENGINE_NOT_OWNER, "owner does not hold the lock");
    elock_release(l);
    return ENGINE_OK;
}

enum engine_status engine_locked(struct engine *e, const uint8_t *lock, size_t lock_len,
                                 bool *locked, const char **message)
{
    if (!engine_name_valid(lock, lock_len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid lock name");
    struct elock *l = elock_find(e, lock, lock_len, table_hash(e->locks, lock, lock_len));
    *locked = l != NULL && l->holder != NULL;
    return ENGINE_OK;
}

size_t engine_lock_holder_sessions(struct engine *e, const uint8_t *lock, size_t lock_len,
                                   uint64_t *out, size_t max)
{
    if (!engine_name_valid(lock, lock_len))
        return 0;
    struct elock *l = elock_find(e, lock, lock_len, table_hash(e->locks, lock, lock_len));
    if (l == NULL || l->holder == NULL || max == 0)
        return 0;
    out[0] = l->holder->id;
    return 1;
}
