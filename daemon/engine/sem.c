/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Named semaphores (asyncio.Semaphore and BoundedSemaphore): the entries in the engine's
 * semaphore table, their FIFO queues of pending SemAcquires (waiters of kind EW_SEM), the
 * permits held by (session, owner) (holder records, in the semaphore's list and the session's),
 * and the SemAcquire, SemRelease and SemLocked operations. An entry exists only while a permit is
 * held, an acquire waits, or the counter differs from the value N; a semaphore without one is at
 * counter N. Invariant between engine calls: a semaphore with waiters has counter 0, because
 * every permit that comes back (release, post, session end) is granted to the queue head within
 * the same call, and an acquire queues whenever anyone waits (no barging, asyncio gh-90155).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* Permits held by one (session, owner) of one semaphore. */
struct esemhold {
    struct esem *sem;
    struct esession *s;
    uint64_t owner;
    uint64_t permits;
    uint64_t token;                 /* of the latest grant */
    struct esemhold *prev, *next;   /* sem's holders */
    struct esemhold *sprev, *snext; /* s's holds (s->sem_held) */
};

/* A semaphore in existence. The name follows inline. */
struct esem {
    struct table_node node; /* in e->sems */
    uint64_t value;         /* N, fixed at creation */
    uint64_t counter;       /* permits free now (0 while anyone waits) */
    uint64_t held;          /* permits held */
    struct ewaiter *q_head, *q_tail;
    uint64_t nwaiters;
    struct esemhold *holders;
    uint64_t nholders;
    /* The first holder's record lives here (in use while first.s != NULL): the common cycle, one
     * owner taking and returning a permit, then costs no allocation of its own, as a lock's
     * exclusive holder does not. */
    struct esemhold first;
    bool bounded;
    /* Permits were posted (released without an acquire): it has more than N and outlives every
     * session, so it counts against the engine-wide cap on such semaphores. */
    bool posted;
    uint16_t name_len;
    uint8_t name[];
};

/* ================================================================== entries */

bool esem_key_eq(const struct table_node *node, const void *key, size_t len)
{
    const struct esem *m = ENGINE_CONTAINER_OF(node, struct esem, node);
    return m->name_len == len && memcmp(m->name, key, len) == 0;
}

/* The entry named name, or NULL. *hash (may be NULL) gets the name's hash, which a following
 * esem_create() takes instead of hashing the name again. */
static struct esem *esem_find_h(struct engine *e, const uint8_t *name, size_t len, uint64_t *hash)
{
    uint64_t h = table_hash(e->sems, name, len);
    if (hash != NULL)
        *hash = h;
    struct table_node *n = table_find(e->sems, name, len, h);
    return n == NULL ? NULL : ENGINE_CONTAINER_OF(n, struct esem, node);
}

static struct esem *esem_find(struct engine *e, const uint8_t *name, size_t len)
{
    return esem_find_h(e, name, len, NULL);
}

/* A new entry at counter value, or NULL on OOM. */
static struct esem *esem_create(struct engine *e, const uint8_t *name, size_t len, uint64_t hash,
                                uint64_t value, bool bounded)
{
    struct esem *m = calloc(1, sizeof *m + len);
    if (m == NULL)
        return NULL;
    memcpy(m->name, name, len);
    m->name_len = (uint16_t)len;
    m->value = value;
    m->counter = value;
    m->bounded = bounded;
    if (!table_insert(e->sems, &m->node, hash)) {
        free(m);
        return NULL;
    }
    e->st.semaphores++;
    engine_account(e, (long)(sizeof *m + len));
    return m;
}

static void esem_destroy(struct engine *e, struct esem *m)
{
    table_remove(e->sems, &m->node);
    e->st.semaphores--;
    if (m->posted)
        e->st.semaphores_posted--;
    engine_account(e, -(long)(sizeof *m + m->name_len));
    free(m);
}

/* Frees m once it no longer exists (nothing held, nobody waits, counter back at N). */
static void esem_maybe_free(struct engine *e, struct esem *m)
{
    if (m->held == 0 && m->q_head == NULL && m->counter == m->value)
        esem_destroy(e, m);
}

void esem_free_all(struct engine *e)
{
    struct table_iter it;
    table_iter_init(&it, e->sems);
    struct table_node *n;
    while ((n = table_iter_next(&it)) != NULL) {
        esem_destroy(e, ENGINE_CONTAINER_OF(n, struct esem, node));
        table_iter_init(&it, e->sems);
    }
}

/* ================================================================== holders */

static struct esemhold *esem_hold_find(struct esem *m, struct esession *s, uint64_t owner)
{
    /* Every hold is on both lists, the session's and the semaphore's: walk them in step, so the
     * cost is the shorter one's. A session holding permits of many semaphores (condbench churn
     * --hold --kind sem: 100,000 of them) or a semaphore with many holders stays cheap; the first
     * list to end without the hold proves there is none. */
    struct esemhold *a = s->sem_held, *b = m->holders;
    for (; a != NULL && b != NULL; a = a->snext, b = b->next) {
        if (a->sem == m && a->owner == owner)
            return a;
        if (b->s == s && b->owner == owner)
            return b;
    }
    return NULL;
}

/* Gives (s, owner) one permit taken from the counter (the caller decremented it) with a new
 * token, which it returns; 0 on OOM (nothing changed). */
static uint64_t esem_hold_add(struct esem *m, struct esession *s, uint64_t owner)
{
    struct engine *e = s->e;
    struct esemhold *h = esem_hold_find(m, s, owner);
    if (h == NULL) {
        if (m->first.s == NULL) {
            h = &m->first;
            memset(h, 0, sizeof *h);
        } else if ((h = calloc(1, sizeof *h)) == NULL) {
            return 0;
        } else {
            engine_account(e, (long)sizeof *h);
        }
        h->sem = m;
        h->s = s;
        h->owner = owner;
        h->next = m->holders;
        if (m->holders != NULL)
            m->holders->prev = h;
        m->holders = h;
        m->nholders++;
        h->snext = s->sem_held;
        if (s->sem_held != NULL)
            s->sem_held->sprev = h;
        s->sem_held = h;
    }
    h->permits++;
    h->token = engine_next_token(e);
    m->held++;
    e->st.permits_held++;
    return h->token;
}

/* Takes one permit back from h (freeing h at zero); the permit is not yet counted free. */
static void esem_hold_drop(struct esemhold *h)
{
    struct esem *m = h->sem;
    struct esession *s = h->s;
    struct engine *e = s->e;
    m->held--;
    e->st.permits_held--;
    if (--h->permits > 0)
        return;
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        m->holders = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
    m->nholders--;
    if (h->sprev != NULL)
        h->sprev->snext = h->snext;
    else
        s->sem_held = h->snext;
    if (h->snext != NULL)
        h->snext->sprev = h->sprev;
    if (h == &m->first) {
        h->s = NULL; /* free for the next holder */
        return;
    }
    engine_account(e, -(long)sizeof *h);
    free(h);
}

/* ================================================================== queue */

static void esem_dequeue(struct ewaiter *w)
{
    struct esem *m = w->sem;
    ewq_unlink(&m->q_head, &m->q_tail, w);
    w->sem = NULL;
    m->nwaiters--;
    w->s->e->st.semaphore_waiters--;
}

void esem_drop_waiter(struct ewaiter *w)
{
    struct engine *e = w->s->e;
    struct esem *m = w->sem;
    esem_dequeue(w);
    engine_waiter_free(w);
    esem_maybe_free(e, m);
}

/* One permit is free (counter > 0): grants it to the queue head, if any. A grant that finds no
 * memory for a holder record leaves the waiter queued and the permit counted free; the next
 * permit that comes back, or the waiter's timeout, moves things on. */
static void esem_hand_on(struct esem *m)
{
    struct ewaiter *w = m->q_head;
    if (w == NULL || m->counter == 0)
        return;
    struct engine *e = w->s->e;
    uint64_t token = esem_hold_add(m, w->s, w->owner);
    if (token == 0)
        return;
    m->counter--;
    esem_dequeue(w);
    /* A waiter of an ended session is granted silently; the reaper returns the permit. */
    engine_deliver(e, w, ENGINE_OK, token);
    engine_waiter_free(w);
}

/* Returns the permit just taken from a holder (or posted) to the counter and hands it on. */
static void esem_put_back(struct engine *e, struct esem *m)
{
    m->counter++;
    esem_hand_on(m);
    esem_maybe_free(e, m);
}

void esem_release_one(struct esession *s)
{
    struct esemhold *h = s->sem_held;
    struct esem *m = h->sem;
    esem_hold_drop(h);
    esem_put_back(s->e, m);
}

/* ================================================================== operations */

static enum engine_status esem_check(const uint8_t *name, size_t len, uint64_t value,
                                     const char **message)
{
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid semaphore name");
    if (value < 1 || value > ENGINE_SEM_VALUE_MAX)
        return engine_fail(message, ENGINE_BAD_REQUEST,
                           "invalid semaphore value (1..2147483648 expected)");
    return ENGINE_OK;
}

static enum engine_status esem_mismatch(const struct esem *m, uint64_t value, bool bounded,
                                        const char **message)
{
    if (m->bounded != bounded)
        return engine_fail(message, ENGINE_VALUE_MISMATCH,
                           m->bounded ? "semaphore exists as a BoundedSemaphore"
                                      : "semaphore exists as a Semaphore (not bounded)");
    if (m->value != value)
        return engine_fail(message, ENGINE_VALUE_MISMATCH, "semaphore exists with another value");
    return ENGINE_OK;
}

/* A timed SemAcquire's timer: leave the queue and answer TIMEOUT. Leaving cannot free a permit
 * for anyone (a queue means counter 0). */
static void sem_timer_cb(void *arg)
{
    struct ewaiter *w = arg;
    struct engine *e = w->s->e;
    struct esem *m = w->sem;
    esem_dequeue(w);
    engine_deliver(e, w, ENGINE_TIMEOUT, 0);
    engine_waiter_free(w);
    esem_maybe_free(e, m);
}

enum engine_status engine_sem_acquire(struct esession *s, uint64_t req_id, const uint8_t *name,
                                      size_t len, uint64_t value, bool bounded, uint64_t owner,
                                      const double *timeout, uint64_t *token, const char **message)
{
    struct engine *e = s->e;
    if (e->shutting_down)
        return engine_fail(message, ENGINE_SHUTTING_DOWN, "server shutting down");
    enum engine_status st = esem_check(name, len, value, message);
    if (st != ENGINE_OK)
        return st;
    bool forever;
    double seconds;
    st = engine_check_wait_args(s, req_id, timeout, &forever, &seconds, message);
    if (st != ENGINE_OK)
        return st;
    uint64_t hash;
    struct esem *m = esem_find_h(e, name, len, &hash);
    if (m != NULL && (st = esem_mismatch(m, value, bounded, message)) != ENGINE_OK)
        return st;
    if (m == NULL || (m->counter > 0 && m->q_head == NULL)) {
        bool created = m == NULL;
        if (created && (m = esem_create(e, name, len, hash, value, bounded)) == NULL)
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
        uint64_t t = esem_hold_add(m, s, owner);
        if (t == 0) {
            if (created)
                esem_destroy(e, m);
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
        }
        m->counter--;
        if (token != NULL)
            *token = t;
        return ENGINE_OK;
    }
    if (!forever && seconds == 0)
        return engine_fail(message, ENGINE_TIMEOUT, "no permit free");
    if (s->npending >= e->limits.max_pending_per_session)
        return engine_fail(message, ENGINE_LIMIT_EXCEEDED,
                           "too many pending requests in this session");
    struct ewaiter *w = engine_waiter_new(s, req_id, owner, EW_SEM, !forever, sem_timer_cb);
    if (w == NULL)
        return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    w->sem = m;
    ewq_append(&m->q_head, &m->q_tail, w);
    m->nwaiters++;
    e->st.semaphore_waiters++;
    if (!forever)
        engine_waiter_arm(w, seconds);
    return ENGINE_PENDING;
}

enum engine_status engine_sem_release(struct esession *s, const uint8_t *name, size_t len,
                                      uint64_t value, bool bounded, uint64_t owner,
                                      const char **message)
{
    struct engine *e = s->e;
    enum engine_status st = esem_check(name, len, value, message);
    if (st != ENGINE_OK)
        return st;
    uint64_t hash;
    struct esem *m = esem_find_h(e, name, len, &hash);
    if (m != NULL && (st = esem_mismatch(m, value, bounded, message)) != ENGINE_OK)
        return st;
    struct esemhold *h = m != NULL ? esem_hold_find(m, s, owner) : NULL;
    if (h != NULL) {
        esem_hold_drop(h);
        esem_put_back(e, m);
        return ENGINE_OK;
    }
    /* Release without acquire: asyncio's Semaphore counts it, BoundedSemaphore raises. */
    if (bounded)
        return engine_fail(message, ENGINE_NOT_OWNER, "BoundedSemaphore released too many times");
    /* A posted permit is never taken back, so such a semaphore stays when every session is
     * gone: capped engine-wide, as set events are, so that posts to ever new names cannot grow
     * the server's memory without bound. */
    if ((m == NULL || !m->posted) && e->st.semaphores_posted >= e->limits.max_pending_per_session)
        return engine_fail(message, ENGINE_LIMIT_EXCEEDED,
                           "too many semaphores with posted permits");
    if (m == NULL && (m = esem_create(e, name, len, hash, value, false)) == NULL)
        return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    if (!m->posted) {
        m->posted = true;
        e->st.semaphores_posted++;
    }
    esem_put_back(e, m);
    return ENGINE_OK;
}

enum engine_status engine_sem_locked(struct engine *e, const uint8_t *name, size_t len,
                                     bool *exists, bool *locked, uint64_t *counter, uint64_t *held,
                                     const char **message)
{
    *exists = *locked = false;
    *counter = *held = 0;
    if (!engine_name_valid(name, len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid semaphore name");
    struct esem *m = esem_find(e, name, len);
    if (m == NULL)
        return ENGINE_OK;
    *exists = true;
    *locked = m->counter == 0 || m->q_head != NULL;
    *counter = m->counter;
    *held = m->held;
    return ENGINE_OK;
}

/* ================================================================== introspection */

bool engine_list_sems(const struct engine *e, const uint8_t *prefix, size_t prefix_len,
                      size_t limit, void (*on_sem)(void *arg, const struct engine_sem_info *),
                      void (*on_holder)(void *arg, const struct engine_sem_holder_info *),
                      void *arg)
{
    struct table_iter it;
    size_t seen = 0;
    table_iter_init(&it, e->sems);
    for (struct table_node *n; (n = table_iter_next(&it)) != NULL;) {
        const struct esem *m = ENGINE_CONTAINER_OF(n, struct esem, node);
        if (prefix_len > m->name_len || (prefix_len > 0 && memcmp(m->name, prefix, prefix_len)))
            continue;
        if (seen == limit)
            return true;
        seen++;
        if (on_sem != NULL) {
            struct engine_sem_info info = {
                .name = m->name,
                .name_len = m->name_len,
                .value = m->value,
                .bounded = m->bounded,
                .counter = m->counter,
                .waiters = m->nwaiters,
                .nholders = m->nholders,
            };
            on_sem(arg, &info);
        }
        for (const struct esemhold *h = m->holders; on_holder != NULL && h != NULL; h = h->next) {
            struct engine_sem_holder_info hi = {
                .session_id = h->s->id,
                .client = h->s->client,
                .owner = h->owner,
                .permits = h->permits,
                .token = h->token,
            };
            on_holder(arg, &hi);
        }
    }
    return false;
}

size_t engine_sem_holder_sessions(struct engine *e, const uint8_t *name, size_t len, uint64_t *out,
                                  size_t max)
{
    if (!engine_name_valid(name, len))
        return 0;
    struct esem *m = esem_find(e, name, len);
    size_t n = 0;
    for (struct esemhold *h = m != NULL ? m->holders : NULL; h != NULL && n < max; h = h->next) {
        bool seen = false; /* one session may hold permits under several owners */
        for (size_t i = 0; i < n && !seen; i++)
            seen = out[i] == h->s->id;
        if (!seen)
            out[n++] = h->s->id;
    }
    return n;
}

bool engine_sem_session_holds(struct esession *s, const uint8_t *name, size_t len)
{
    if (!engine_name_valid(name, len))
        return false;
    struct esem *m = esem_find(s->e, name, len);
    for (struct esemhold *h = m != NULL ? m->holders : NULL; h != NULL; h = h->next) {
        if (h->s == s)
            return true;
    }
    return false;
}

bool engine_sem_value(struct engine *e, const uint8_t *name, size_t len, uint64_t *value,
                      bool *bounded)
{
    if (!engine_name_valid(name, len))
        return false;
    const struct esem *m = esem_find(e, name, len);
    if (m == NULL)
        return false;
    *value = m->value;
    *bounded = m->bounded;
    return true;
}

/* ================================================================== export and restore */

bool esem_export(const struct engine *e, const struct engine_export_fns *fns, void *arg)
{
    struct table_iter it;
    table_iter_init(&it, e->sems);
    for (struct table_node *n; (n = table_iter_next(&it)) != NULL;) {
        const struct esem *m = ENGINE_CONTAINER_OF(n, struct esem, node);
        struct engine_obj o = {
            .kind = ENGINE_OBJ_SEM,
            .name = m->name,
            .name_len = m->name_len,
            .value = m->value,
            .counter = m->counter,
            .bounded = m->bounded,
            .nholds = m->nholders,
            .nqueued = m->nwaiters,
        };
        if (!fns->object(arg, &o))
            return false;
        /* The list is newest first (holders are added at its head): show it oldest first, so
         * that restoring in the order shown rebuilds the same list. */
        const struct esemhold *h = m->holders;
        while (h != NULL && h->next != NULL)
            h = h->next;
        for (; h != NULL; h = h->prev) {
            struct engine_obj_hold oh = {
                .session_id = h->s->id,
                .owner = h->owner,
                .token = h->token,
                .permits = h->permits,
            };
            if (!fns->hold(arg, &oh))
                return false;
        }
        for (const struct ewaiter *w = m->q_head; w != NULL; w = w->q_next) {
            struct engine_obj_pending p;
            engine_export_pending(e, w, &p);
            if (!fns->pending(arg, &p))
                return false;
        }
    }
    return true;
}

enum engine_status esem_restore(struct engine *e, const struct engine_obj *o, const char **why)
{
    if (o->value < 1 || o->value > ENGINE_SEM_VALUE_MAX)
        return engine_fail(why, ENGINE_BAD_REQUEST, "a semaphore with an invalid value");
    if (o->counter > UINT64_MAX / 4) /* posts raise it; keep the sums below from wrapping */
        return engine_fail(why, ENGINE_BAD_REQUEST, "a semaphore with an invalid counter");
    uint64_t hash;
    if (esem_find_h(e, o->name, o->name_len, &hash) != NULL)
        return engine_fail(why, ENGINE_BAD_REQUEST, "a semaphore listed twice");
    struct esem *m = esem_create(e, o->name, o->name_len, hash, o->value, o->bounded);
    if (m == NULL)
        return engine_fail(why, ENGINE_INTERNAL, "out of memory");
    m->counter = o->counter;
    return ENGINE_OK;
}

enum engine_status esem_restore_hold(struct esession *s, const struct engine_obj *o,
                                     const struct engine_obj_hold *oh, const char **why)
{
    struct engine *e = s->e;
    struct esem *m = esem_find(e, o->name, o->name_len);
    if (m == NULL)
        return engine_fail(why, ENGINE_BAD_REQUEST, "a hold of a semaphore not listed");
    if (oh->permits == 0 || oh->permits > ENGINE_SEM_VALUE_MAX ||
        m->held + oh->permits > (uint64_t)ENGINE_SEM_VALUE_MAX * 2)
        return engine_fail(why, ENGINE_BAD_REQUEST, "a semaphore holder with a bad permit count");
    if (esem_hold_find(m, s, oh->owner) != NULL)
        return engine_fail(why, ENGINE_BAD_REQUEST, "a semaphore holder listed twice");
    if (esem_hold_add(m, s, oh->owner) == 0)
        return engine_fail(why, ENGINE_INTERNAL, "out of memory");
    struct esemhold *h = s->sem_held; /* just added, at the head of s's list */
    h->permits = oh->permits;
    h->token = oh->token;
    m->held += oh->permits - 1;
    e->st.permits_held += oh->permits - 1;
    return ENGINE_OK;
}

enum engine_status esem_restore_pending(struct esession *s, const struct engine_obj *o,
                                        const struct engine_obj_pending *p, const char **why)
{
    struct engine *e = s->e;
    struct esem *m = esem_find(e, o->name, o->name_len);
    if (m == NULL)
        return engine_fail(why, ENGINE_BAD_REQUEST, "a request queued for a semaphore not listed");
    enum engine_status st;
    struct ewaiter *w = engine_restore_waiter(s, p, EW_SEM, sem_timer_cb, &st, why);
    if (w == NULL)
        return st;
    w->sem = m;
    ewq_append(&m->q_head, &m->q_tail, w);
    m->nwaiters++;
    e->st.semaphore_waiters++;
    engine_restore_arm(w, p);
    return ENGINE_OK;
}

enum engine_status esem_restore_check(struct engine *e, const char **why)
{
    struct table_iter it;
    table_iter_init(&it, e->sems);
    for (struct table_node *n; (n = table_iter_next(&it)) != NULL;) {
        struct esem *m = ENGINE_CONTAINER_OF(n, struct esem, node);
        /* More permits than N: some were posted (the cap counts them; a restart that finds
         * more than the cap keeps them all and refuses new ones). */
        if (!m->posted && m->counter + m->held > m->value) {
            m->posted = true;
            e->st.semaphores_posted++;
        }
        if (m->q_head != NULL && m->counter > 0)
            return engine_fail(why, ENGINE_BAD_REQUEST,
                               "a semaphore with waiters and a free permit");
        if (m->bounded ? m->counter + m->held != m->value : m->counter + m->held < m->value)
            return engine_fail(why, ENGINE_BAD_REQUEST, "a semaphore whose permits do not add up");
        if (m->held == 0 && m->q_head == NULL && m->counter == m->value)
            return engine_fail(why, ENGINE_BAD_REQUEST, "a semaphore at rest listed");
    }
    return ENGINE_OK;
}
