/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Named conditions with asyncio.Condition semantics: the condition entries in the engine's
 * condition table, their FIFO queues of not-yet-notified waits, and Wait, Notify/NotifyAll and
 * the cancel, drop (session close) and shutdown paths of a pending wait. A wait leaves its
 * condition's queue when notified, when its timeout passes or when cancelled, and then queues
 * for the lock like an acquire (lock.c) with its final status (OK, TIMEOUT, CANCELLED);
 * it is answered only when its owner holds the lock again. A notified wait that is cancelled
 * or dropped before it holds the lock passes its notification on to the next waiter, so no
 * wake-up is lost (CPython gh-112202); so does, through engine_pass_notification(), a session
 * that ends before its client received a notified wait's OK (a detached one, resume.c).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* ================================================================== entries */

static const uint8_t *cond_lock_name(const struct econd *c)
{
    return c->data + c->name_len;
}

static struct econd *econd_find(struct engine *e, const uint8_t *name, size_t len, uint64_t hash)
{
    struct table_node *n = table_find(e->conds, name, len, hash);
    return n == NULL ? NULL : ENGINE_CONTAINER_OF(n, struct econd, node);
}

static struct econd *econd_create(struct engine *e, const uint8_t *name, size_t len, uint64_t hash,
                                  const uint8_t *lock, size_t lock_len)
{
    struct econd *c = calloc(1, sizeof *c + len + lock_len);
    if (c == NULL)
        return NULL;
    memcpy(c->data, name, len);
    memcpy(c->data + len, lock, lock_len);
    c->name_len = (uint16_t)len;
    c->lock_len = (uint16_t)lock_len;
    if (!table_insert(e->conds, &c->node, hash)) {
        free(c);
        return NULL;
    }
    e->st.conditions++;
    engine_account(e, (long)(sizeof *c + len + lock_len));
    return c;
}

static void econd_destroy(struct engine *e, struct econd *c)
{
    table_remove(e->conds, &c->node);
    e->st.conditions--;
    engine_account(e, -(long)(sizeof *c + c->name_len + c->lock_len));
    free(c);
}

void econd_unref(struct engine *e, struct econd *c)
{
    if (--c->refs == 0)
        econd_destroy(e, c);
}

/* ================================================================== queue */

static void condq_push(struct econd *c, struct ewaiter *w, struct engine *e)
{
    w->state = EW_IN_CONDQ;
    ewq_append(&c->q_head, &c->q_tail, w);
    c->nqueued++;
    e->st.condition_waiters++;
}

static void condq_remove(struct ewaiter *w, struct engine *e)
{
    struct econd *c = w->cond;
    ewq_unlink(&c->q_head, &c->q_tail, w);
    c->nqueued--;
    e->st.condition_waiters--;
}

/*
 * Moves wait w from its condition's queue to its lock with final status: to the tail of the
 * lock's queue, or granted at once (answered and freed) when the lock is free. Returns false,
 * with nothing changed, when there is no memory for the lock's entry (only possible when the
 * lock is free).
 */
static bool cond_to_lock(struct ewaiter *w, enum engine_status status)
{
    struct engine *e = w->s->e;
    struct econd *c = w->cond;
    const uint8_t *name = cond_lock_name(c);
    uint64_t hash = table_hash(e->locks, name, c->lock_len);
    struct elock *l = elock_find(e, name, c->lock_len, hash);
    if (l == NULL) {
        l = elock_create(e, name, c->lock_len, hash);
        if (l == NULL)
            return false;
    }
    condq_remove(w, e);
    w->final_status = (uint8_t)status;
    /* Its timeout bounds the wait for a notification only: from here on it cannot pass. */
    engine_waiter_disarm(w);
    if (!elock_held(l))
        elock_grant(l, w);
    else
        elock_enqueue(l, w);
    return true;
}

/* The lock must be held, so this never grants and never fails. */
void econd_wake_head(struct econd *c)
{
    if (c->q_head != NULL)
        cond_to_lock(c->q_head, ENGINE_OK);
}

/* ================================================================== operations */

/* Moves up to n of c's longest waiters to the lock's queue (notified). The caller holds the
 * lock, so each woken wait queues behind it and c stays referenced. Returns how many. */
static uint64_t econd_wake(struct econd *c, uint64_t n)
{
    uint64_t count = 0;
    while (count < n && c->q_head != NULL) {
        cond_to_lock(c->q_head, ENGINE_OK);
        count++;
    }
    return count;
}

/* A timed wait's timer, while the wait is in its condition's queue: re-acquire, then TIMEOUT. */
void econd_wait_timer_cb(void *arg)
{
    struct ewaiter *w = arg;
    if (!cond_to_lock(w, ENGINE_TIMEOUT))
        engine_waiter_arm(w, ENGINE_OOM_RETRY_USEC / 1e6);
}

/* The entry of lock name if (s, owner) holds it exclusively, else NULL with *message set: a
 * condition needs the exclusive mode (its waiters and notifiers change shared state, and a Wait
 * hands the lock over, which one of several readers cannot do). */
static struct elock *held_by(struct esession *s, const uint8_t *lock, size_t lock_len,
                             uint64_t owner, const char **message)
{
    struct engine *e = s->e;
    struct elock *l = elock_find(e, lock, lock_len, table_hash(e->locks, lock, lock_len));
    if (l != NULL && l->x.s == s && l->x.owner == owner)
        return l;
    if (l != NULL && elock_shared_hold(l, s, owner) != NULL)
        engine_fail(message, ENGINE_NOT_OWNER,
                    "owner holds the lock shared: conditions need the exclusive mode");
    else
        engine_fail(message, ENGINE_NOT_OWNER, "owner does not hold the lock");
    return NULL;
}

static bool bound_elsewhere(const struct econd *c, const uint8_t *lock, size_t lock_len)
{
    return c->lock_len != lock_len || memcmp(cond_lock_name(c), lock, lock_len) != 0;
}

enum engine_status engine_wait(struct esession *s, uint64_t req_id, const uint8_t *cond,
                               size_t cond_len, const uint8_t *lock, size_t lock_len,
                               uint64_t owner, const double *timeout, uint64_t notify_first,
                               const char **message)
{
    struct engine *e = s->e;
    if (e->shutting_down)
        return engine_fail(message, ENGINE_SHUTTING_DOWN, "server shutting down");
    if (!engine_name_valid(cond, cond_len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid condition name");
    if (!engine_name_valid(lock, lock_len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid lock name");
    bool forever;
    double seconds;
    enum engine_status st = engine_check_wait_args(s, req_id, timeout, &forever, &seconds, message);
    if (st != ENGINE_OK)
        return st;
    struct elock *l = held_by(s, lock, lock_len, owner, message);
    if (l == NULL)
        return ENGINE_NOT_OWNER;
    uint64_t hash = table_hash(e->conds, cond, cond_len);
    struct econd *c = econd_find(e, cond, cond_len, hash);
    if (c != NULL && bound_elsewhere(c, lock, lock_len))
        return engine_fail(message, ENGINE_LOCK_MISMATCH, "condition is bound to another lock");
    if (s->npending >= e->limits.max_pending_per_session)
        return engine_fail(message, ENGINE_LIMIT_EXCEEDED,
                           "too many pending requests in this session");
    if (c == NULL) {
        c = econd_create(e, cond, cond_len, hash, lock, lock_len);
        if (c == NULL)
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    }
    /* A timeout of 0 still waits: it fires on the clock's next turn, so the wait is answered
     * TIMEOUT after re-acquiring, never inside this call. */
    struct ewaiter *w = engine_waiter_new(s, req_id, owner, EW_WAIT, !forever, econd_wait_timer_cb);
    if (w == NULL) {
        if (c->refs == 0)
            econd_destroy(e, c);
        return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    }
    /* Wake the peers first, so this waiter cannot wake itself; they queue for the lock, which
     * this wait is about to release to the first of them. */
    econd_wake(c, notify_first);
    c->refs++;
    w->cond = c;
    condq_push(c, w, e);
    if (!forever)
        engine_waiter_arm(w, seconds);
    elock_release(l);
    return ENGINE_PENDING;
}

enum engine_status engine_notify(struct esession *s, const uint8_t *cond, size_t cond_len,
                                 const uint8_t *lock, size_t lock_len, uint64_t owner, uint64_t n,
                                 uint64_t *woken, const char **message)
{
    struct engine *e = s->e;
    *woken = 0;
    if (!engine_name_valid(cond, cond_len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid condition name");
    if (!engine_name_valid(lock, lock_len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid lock name");
    if (held_by(s, lock, lock_len, owner, message) == NULL)
        return ENGINE_NOT_OWNER;
    struct econd *c = econd_find(e, cond, cond_len, table_hash(e->conds, cond, cond_len));
    if (c == NULL)
        return ENGINE_OK; /* no waiters: nothing to wake, and nothing is remembered */
    if (bound_elsewhere(c, lock, lock_len))
        return engine_fail(message, ENGINE_LOCK_MISMATCH, "condition is bound to another lock");
    *woken = econd_wake(c, n);
    return ENGINE_OK;
}

bool engine_pass_notification(struct engine *e, const uint8_t *cond, size_t cond_len)
{
    if (e->shutting_down || !engine_name_valid(cond, cond_len))
        return true;
    struct econd *c = econd_find(e, cond, cond_len, table_hash(e->conds, cond, cond_len));
    if (c == NULL || c->q_head == NULL)
        return true; /* nobody waits: nothing is remembered, as for a Notify */
    return cond_to_lock(c->q_head, ENGINE_OK);
}

/* ================================================================== cancel, drop, shutdown */

enum engine_status econd_cancel_wait(struct ewaiter *w, const char **message)
{
    if (w->state == EW_IN_CONDQ) {
        if (!cond_to_lock(w, ENGINE_CANCELLED))
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
        return ENGINE_OK;
    }
    if (w->final_status != ENGINE_OK)
        return engine_fail(message, ENGINE_NOT_FOUND, "wait already timed out or cancelled");
    /* Notified but not yet holding the lock: keep its place in the lock's queue, answer
     * CANCELLED there, and give the notification to the next waiter. */
    w->final_status = ENGINE_CANCELLED;
    econd_wake_head(w->cond);
    return ENGINE_OK;
}

/* Takes w out of whichever queue it is in and drops its condition reference. Returns whether it
 * had been notified and not yet re-granted (its notification is still owed to someone). *lock
 * is the lock whose queue it left, else NULL. */
static bool wait_detach(struct ewaiter *w, struct econd **cond, struct elock **lock)
{
    struct engine *e = w->s->e;
    bool notified = false;
    *lock = NULL;
    if (w->state == EW_IN_CONDQ) {
        condq_remove(w, e);
    } else {
        notified = w->final_status == ENGINE_OK;
        *lock = w->lock;
        elock_dequeue(w);
    }
    *cond = w->cond;
    w->cond = NULL;
    return notified;
}

void econd_drop_wait(struct ewaiter *w)
{
    struct engine *e = w->s->e;
    struct econd *c;
    struct elock *l;
    if (wait_detach(w, &c, &l))
        econd_wake_head(c); /* the lock is still held: it was queued for it */
    engine_waiter_free(w);
    econd_unref(e, c);
    if (l != NULL)
        elock_grant_ready(e, l); /* readers queued behind it may go in now */
}

void econd_shutdown_wait(struct ewaiter *w)
{
    struct engine *e = w->s->e;
    struct econd *c;
    struct elock *l;
    wait_detach(w, &c, &l);
    engine_deliver(e, w, ENGINE_SHUTTING_DOWN, 0);
    engine_waiter_free(w);
    econd_unref(e, c);
}

/* ================================================================== restore (restore.c) */

struct econd *econd_lookup(struct engine *e, const uint8_t *name, size_t len)
{
    return econd_find(e, name, len, table_hash(e->conds, name, len));
}

struct econd *econd_restore(struct engine *e, const uint8_t *name, size_t len, const uint8_t *lock,
                            size_t lock_len)
{
    return econd_create(e, name, len, table_hash(e->conds, name, len), lock, lock_len);
}

void econd_restore_wait(struct econd *c, struct ewaiter *w, struct elock *l, uint8_t final_status)
{
    c->refs++;
    w->cond = c;
    if (l != NULL) {
        w->final_status = final_status;
        elock_enqueue(l, w);
    } else {
        condq_push(c, w, w->s->e);
    }
}

bool econd_bound_to(const struct econd *c, const uint8_t *lock, size_t lock_len)
{
    return !bound_elsewhere(c, lock, lock_len);
}
