/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Named locks: the lock entries in the engine's lock table, their FIFO queues of waiters, the
 * hand-over of a released lock to the queue head, and the Acquire, Release and Locked
 * operations. A lock entry exists only while the lock is held; waiting for a lock implies it is
 * held, because a release grants the head of the queue within the same call. Waits of
 * conditions (cond.c) re-acquire through the same queue as acquires.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine_internal.h"

/* ================================================================== entries */

struct elock *elock_find(struct engine *e, const uint8_t *name, size_t len, uint64_t hash)
{
    struct table_node *n = table_find(e->locks, name, len, hash);
    return n == NULL ? NULL : ENGINE_CONTAINER_OF(n, struct elock, node);
}

/* Links the new entry l (zeroed) for name into e's table; false (l not freed) on OOM. */
static bool elock_init(struct engine *e, struct elock *l, const uint8_t *name, size_t len,
                       uint64_t hash)
{
    memcpy(l->name, name, len);
    l->name_len = (uint16_t)len;
    l->x.lock = l; /* once: the exclusive record never changes lock */
    if (!table_insert(e->locks, &l->node, hash))
        return false;
    e->st.locks++;
    engine_account(e, (long)(sizeof *l + len));
    return true;
}

struct elock *elock_create(struct engine *e, const uint8_t *name, size_t len, uint64_t hash)
{
    struct elock *l = calloc(1, sizeof *l + len);
    if (l == NULL)
        return NULL;
    if (!elock_init(e, l, name, len, hash)) {
        free(l);
        return NULL;
    }
    return l;
}

/* ------------------------------------------------------------------ slabs (bulk restore) */

/* A slab is one naturally aligned block, so an entry finds its slab by masking its address. */
#define ELOCK_SLAB_BYTES ((size_t)2 << 20)

struct elock_slab {
    size_t live; /* entries not yet freed, plus one while it is being filled */
    size_t used; /* bytes carved, header included */
};

static struct elock_slab *elock_slab_of(const struct elock *l)
{
    return (struct elock_slab *)((uintptr_t)l & ~(uintptr_t)(ELOCK_SLAB_BYTES - 1));
}

static void elock_slab_put(struct elock_slab *sl)
{
    if (--sl->live == 0)
        munmap(sl, ELOCK_SLAB_BYTES);
}

/* A new aligned slab (mapped twice the size, the rest given back), or NULL. */
static struct elock_slab *elock_slab_new(void)
{
    size_t map = 2 * ELOCK_SLAB_BYTES;
    uint8_t *p = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + ELOCK_SLAB_BYTES - 1) & ~(uintptr_t)(ELOCK_SLAB_BYTES - 1);
    size_t head = a - (uintptr_t)p;
    if (head > 0)
        munmap(p, head);
    munmap((uint8_t *)a + ELOCK_SLAB_BYTES, map - head - ELOCK_SLAB_BYTES);
    struct elock_slab *sl = (struct elock_slab *)a;
    /* A hint: without transparent huge pages it is ordinary memory. */
    (void)madvise(sl, ELOCK_SLAB_BYTES, MADV_HUGEPAGE);
    sl->live = 1;
    sl->used = (sizeof *sl + 15) & ~(size_t)15;
    return sl;
}

struct elock *elock_create_bulk(struct engine *e, struct elock_slab **slab, const uint8_t *name,
                                size_t len, uint64_t hash)
{
    size_t need = (sizeof(struct elock) + len + 15) & ~(size_t)15;
    struct elock_slab *sl = *slab;
    if (need > ELOCK_SLAB_BYTES / 4)
        return elock_create(e, name, len, hash);
    if (sl == NULL || ELOCK_SLAB_BYTES - sl->used < need) {
        struct elock_slab *n = elock_slab_new();
        if (n == NULL)
            return elock_create(e, name, len, hash);
        if (sl != NULL)
            elock_slab_put(sl);
        *slab = sl = n;
    }
    struct elock *l = (struct elock *)((uint8_t *)sl + sl->used);
    memset(l, 0, need); /* fresh pages are zero already; a slab is never reused */
    l->in_slab = true;
    if (!elock_init(e, l, name, len, hash))
        return NULL; /* nothing carved: the next entry takes these bytes */
    sl->used += need;
    sl->live++;
    return l;
}

void elock_slab_done(struct elock_slab *slab)
{
    if (slab != NULL)
        elock_slab_put(slab);
}

void elock_free_entry(struct elock *l)
{
    if (l->in_slab)
        elock_slab_put(elock_slab_of(l));
    else
        free(l);
}

/* Frees l if nobody holds or waits for it. */
static void elock_maybe_free(struct engine *e, struct elock *l)
{
    if (elock_held(l) || l->q_head != NULL)
        return;
    table_remove(e->locks, &l->node);
    e->st.locks--;
    engine_account(e, -(long)(sizeof *l + l->name_len));
    elock_free_entry(l);
}

/* Links hold h (h->lock set) to (s, owner) with token, or a new token when it is 0 (a restored
 * hold keeps its own, and reading the clock for each of 100,000 of them would cost), which it
 * returns. */
static inline uint64_t hold_link(struct elockhold *h, struct esession *s, uint64_t owner,
                                 uint64_t token)
{
    h->s = s;
    h->owner = owner;
    h->token = token != 0 ? token : engine_next_token(s->e);
    h->h_prev = NULL;
    h->h_next = s->held;
    if (s->held != NULL)
        s->held->h_prev = h;
    s->held = h;
    s->nheld++;
    return h->token;
}

static inline void hold_unlink(struct elockhold *h)
{
    struct esession *s = h->s;
    if (h->h_prev != NULL)
        h->h_prev->h_next = h->h_next;
    else
        s->held = h->h_next;
    if (h->h_next != NULL)
        h->h_next->h_prev = h->h_prev;
    h->h_prev = h->h_next = NULL;
    h->s = NULL;
    h->owner = 0;
    h->token = 0;
    s->nheld--;
}

/* Makes (s, owner) the exclusive holder of the free lock l with token (0: a new one), which it
 * returns. */
static uint64_t elock_set_holder(struct elock *l, struct esession *s, uint64_t owner,
                                 uint64_t token)
{
    s->e->st.locks_held++;
    return hold_link(&l->x, s, owner, token);
}

/* Adds (s, owner) as a shared holder of l (free or held shared) through record h, taken over,
 * with token (0: a new one). Returns the token. */
static uint64_t elock_add_shared(struct elock *l, struct elockhold *h, struct esession *s,
                                 uint64_t owner, uint64_t token)
{
    struct engine *e = s->e;
    if (l->sh_head == NULL) {
        e->st.locks_held++;
        e->st.locks_shared++;
    }
    h->l_next = NULL;
    h->l_prev = l->sh_tail;
    if (l->sh_tail != NULL)
        l->sh_tail->l_next = h;
    else
        l->sh_head = h;
    l->sh_tail = h;
    l->nshared++;
    e->st.shared_holders++;
    h->lock = l;
    return hold_link(h, s, owner, token);
}

/* A shared holder record, accounted, or NULL on OOM. */
static struct elockhold *hold_new(struct engine *e)
{
    struct elockhold *h = calloc(1, sizeof *h);
    if (h != NULL)
        engine_account(e, (long)sizeof *h);
    return h;
}

static void hold_free(struct engine *e, struct elockhold *h)
{
    if (h == NULL)
        return;
    engine_account(e, -(long)sizeof *h);
    free(h);
}

struct elockhold *elock_shared_hold(const struct elock *l, const struct esession *s, uint64_t owner)
{
    if (l->sh_head == NULL)
        return NULL;
    if (l->nshared <= s->nheld) {
        for (struct elockhold *h = l->sh_head; h != NULL; h = h->l_next)
            if (h->s == s && h->owner == owner)
                return h;
        return NULL;
    }
    /* s's list is newest first: the last match is the oldest, as in l's list */
    struct elockhold *found = NULL;
    for (struct elockhold *h = s->held; h != NULL; h = h->h_next)
        if (h->lock == l && h->owner == owner && h != &l->x)
            found = h;
    return found;
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
    uint64_t token;
    if (w->kind == EW_ACQUIRE && w->hold != NULL) {
        token = elock_add_shared(l, w->hold, w->s, w->owner, 0);
        w->hold = NULL;
    } else {
        token = elock_set_holder(l, w->s, w->owner, 0);
    }
    enum engine_status status =
        w->kind == EW_ACQUIRE ? ENGINE_OK : (enum engine_status)w->final_status;
    /* A wait of an ended session that was notified: nobody will act on the notification, so
     * pass it on to the condition's next waiter (who queues for l, now held). The reaper
     * releases l soon. */
    if (w->s->closing && w->cond != NULL && status == ENGINE_OK)
        econd_wake_head(w->cond);
    /* Delivered before the condition reference goes: the reply names the condition. */
    engine_deliver(e, w, status, token);
    if (w->cond != NULL) {
        econd_unref(e, w->cond);
        w->cond = NULL;
    }
    engine_waiter_free(w);
}

/* Is w a shared acquire? (w->hold is meaningful for acquires only.) */
static inline bool waiter_shared(const struct ewaiter *w)
{
    return w->kind == EW_ACQUIRE && w->hold != NULL;
}

/* elock_grant_ready(), inlined into the release path (the benchmarked lock cycle). */
static inline void grant_ready(struct engine *e, struct elock *l)
{
    struct ewaiter *w;
    /* Shared heads go in one after the other; an exclusive head goes in only when nobody holds
     * the lock, and then stops the loop (l->x.s is set). */
    while ((w = l->q_head) != NULL && l->x.s == NULL) {
        if (l->sh_head != NULL && !waiter_shared(w))
            break;
        elock_dequeue(w);
        elock_grant(l, w);
    }
    elock_maybe_free(e, l);
}

void elock_grant_ready(struct engine *e, struct elock *l)
{
    grant_ready(e, l);
}

/* Releases l held exclusively and hands it on: the benchmarked path, kept inline. */
static inline void release_exclusive(struct engine *e, struct elock *l)
{
    hold_unlink(&l->x);
    e->st.locks_held--;
    grant_ready(e, l);
}

void elock_release_hold(struct elockhold *h)
{
    struct elock *l = h->lock;
    struct engine *e = h->s->e;
    if (h == &l->x) {
        release_exclusive(e, l);
    } else {
        hold_unlink(h);
        if (h->l_prev != NULL)
            h->l_prev->l_next = h->l_next;
        else
            l->sh_head = h->l_next;
        if (h->l_next != NULL)
            h->l_next->l_prev = h->l_prev;
        else
            l->sh_tail = h->l_prev;
        l->nshared--;
        e->st.shared_holders--;
        if (l->sh_head == NULL) {
            e->st.locks_held--;
            e->st.locks_shared--;
        }
        hold_free(e, h);
        grant_ready(e, l);
    }
}

void elock_release(struct elock *l)
{
    release_exclusive(l->x.s->e, l);
}

/* ================================================================== operations */

void elock_drop_acquire(struct ewaiter *w, enum engine_status status, bool hand_on)
{
    struct engine *e = w->s->e;
    struct elock *l = w->lock;
    engine_deliver(e, w, status, 0);
    elock_dequeue(w);
    hold_free(e, w->hold); /* an acquire: hold is its own */
    w->hold = NULL;
    engine_waiter_free(w);
    if (hand_on)
        elock_grant_ready(e, l);
}

void elock_acquire_timer_cb(void *arg)
{
    elock_drop_acquire(arg, ENGINE_TIMEOUT, true);
}

/* Does (s, owner) hold l, in either mode? */
static inline bool held_by_owner(const struct elock *l, const struct esession *s, uint64_t owner)
{
    if (l->x.s == s && l->x.owner == owner)
        return true;
    return l->sh_head != NULL && elock_shared_hold(l, s, owner) != NULL;
}

/* engine_acquire_mode() for a shared request: granted at once when the lock is free or held
 * shared with nobody queued (a reader never barges past a queued writer), else queued. The
 * holder record is allocated first, so that neither grant can fail half-way. */
static enum engine_status acquire_shared(struct esession *s, uint64_t req_id, const uint8_t *lock,
                                         size_t lock_len, uint64_t owner, bool forever,
                                         double seconds, uint64_t *token, const char **message)
{
    struct engine *e = s->e;
    uint64_t hash = table_hash(e->locks, lock, lock_len);
    struct elock *l = elock_find(e, lock, lock_len, hash);
    if (l != NULL && held_by_owner(l, s, owner))
        return engine_fail(message, ENGINE_ALREADY_OWNER, "owner already holds the lock");
    bool at_once = l == NULL || (l->x.s == NULL && l->q_head == NULL);
    if (!at_once && !forever && seconds == 0)
        return engine_fail(message, ENGINE_TIMEOUT, "lock is held exclusively or waited for");
    if (!at_once && s->npending >= e->limits.max_pending_per_session)
        return engine_fail(message, ENGINE_LIMIT_EXCEEDED,
                           "too many pending requests in this session");
    struct elockhold *h = hold_new(e);
    if (h == NULL)
        return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    if (at_once) {
        if (l == NULL)
            l = elock_create(e, lock, lock_len, hash);
        if (l == NULL) {
            hold_free(e, h);
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
        }
        uint64_t t = elock_add_shared(l, h, s, owner, 0);
        if (token != NULL)
            *token = t;
        return ENGINE_OK;
    }
    struct ewaiter *w =
        engine_waiter_new(s, req_id, owner, EW_ACQUIRE, !forever, elock_acquire_timer_cb);
    if (w == NULL) {
        hold_free(e, h);
        return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    }
    w->hold = h;
    elock_enqueue(l, w);
    if (!forever)
        engine_waiter_arm(w, seconds);
    return ENGINE_PENDING;
}

/* The body of engine_acquire() and engine_acquire_mode(), inlined into each so that the
 * exclusive lock cycle pays no extra call. */
static inline enum engine_status acquire(struct esession *s, uint64_t req_id, const uint8_t *lock,
                                         size_t lock_len, uint64_t owner,
                                         enum engine_lock_mode mode, const double *timeout,
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
    if (mode == ENGINE_LOCK_SHARED)
        return acquire_shared(s, req_id, lock, lock_len, owner, forever, seconds, token, message);
    uint64_t hash = table_hash(e->locks, lock, lock_len);
    struct elock *l = elock_find(e, lock, lock_len, hash);
    if (l == NULL) {
        l = elock_create(e, lock, lock_len, hash);
        if (l == NULL)
            return engine_fail(message, ENGINE_INTERNAL, "out of memory");
        uint64_t t = elock_set_holder(l, s, owner, 0);
        if (token != NULL)
            *token = t;
        return ENGINE_OK;
    }
    if (held_by_owner(l, s, owner))
        return engine_fail(message, ENGINE_ALREADY_OWNER, "owner already holds the lock");
    if (!forever && seconds == 0)
        return engine_fail(message, ENGINE_TIMEOUT, "lock is held");
    if (s->npending >= e->limits.max_pending_per_session)
        return engine_fail(message, ENGINE_LIMIT_EXCEEDED,
                           "too many pending requests in this session");
    struct ewaiter *w =
        engine_waiter_new(s, req_id, owner, EW_ACQUIRE, !forever, elock_acquire_timer_cb);
    if (w == NULL)
        return engine_fail(message, ENGINE_INTERNAL, "out of memory");
    elock_enqueue(l, w);
    if (!forever)
        engine_waiter_arm(w, seconds);
    return ENGINE_PENDING;
}

enum engine_status engine_acquire(struct esession *s, uint64_t req_id, const uint8_t *lock,
                                  size_t lock_len, uint64_t owner, const double *timeout,
                                  uint64_t *token, const char **message)
{
    return acquire(s, req_id, lock, lock_len, owner, ENGINE_LOCK_EXCLUSIVE, timeout, token,
                   message);
}

enum engine_status engine_acquire_mode(struct esession *s, uint64_t req_id, const uint8_t *lock,
                                       size_t lock_len, uint64_t owner, enum engine_lock_mode mode,
                                       const double *timeout, uint64_t *token, const char **message)
{
    return acquire(s, req_id, lock, lock_len, owner, mode, timeout, token, message);
}

enum engine_status engine_release(struct esession *s, const uint8_t *lock, size_t lock_len,
                                  uint64_t owner, const char **message)
{
    struct engine *e = s->e;
    if (!engine_name_valid(lock, lock_len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid lock name");
    struct elock *l = elock_find(e, lock, lock_len, table_hash(e->locks, lock, lock_len));
    if (l == NULL)
        return engine_fail(message, ENGINE_NOT_OWNER, "owner does not hold the lock");
    if (l->x.s == s && l->x.owner == owner) {
        release_exclusive(e, l);
        return ENGINE_OK;
    }
    struct elockhold *h = elock_shared_hold(l, s, owner);
    if (h == NULL)
        return engine_fail(message, ENGINE_NOT_OWNER, "owner does not hold the lock");
    elock_release_hold(h);
    return ENGINE_OK;
}

enum engine_status engine_locked(struct engine *e, const uint8_t *lock, size_t lock_len,
                                 bool *locked, const char **message)
{
    if (!engine_name_valid(lock, lock_len))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid lock name");
    struct elock *l = elock_find(e, lock, lock_len, table_hash(e->locks, lock, lock_len));
    *locked = l != NULL && elock_held(l);
    return ENGINE_OK;
}

enum engine_status engine_locked_mode(struct engine *e, const uint8_t *lock, size_t lock_len,
                                      bool *locked, bool *shared, uint64_t *holders,
                                      const char **message)
{
    *shared = false;
    *holders = 0;
    enum engine_status st = engine_locked(e, lock, lock_len, locked, message);
    if (st != ENGINE_OK || !*locked)
        return st;
    const struct elock *l = elock_find(e, lock, lock_len, table_hash(e->locks, lock, lock_len));
    *shared = l->sh_head != NULL;
    *holders = l->x.s != NULL ? 1 : l->nshared;
    return ENGINE_OK;
}

size_t engine_lock_holder_sessions(struct engine *e, const uint8_t *lock, size_t lock_len,
                                   uint64_t *out, size_t max)
{
    if (!engine_name_valid(lock, lock_len))
        return 0;
    struct elock *l = elock_find(e, lock, lock_len, table_hash(e->locks, lock, lock_len));
    if (l == NULL)
        return 0;
    size_t n = 0;
    if (l->x.s != NULL && n < max)
        out[n++] = l->x.s->id;
    for (const struct elockhold *h = l->sh_head; h != NULL && n < max; h = h->l_next) {
        bool seen = false; /* one session may hold it shared under several owners */
        for (size_t i = 0; i < n && !seen; i++)
            seen = out[i] == h->s->id;
        if (!seen)
            out[n++] = h->s->id;
    }
    return n;
}

/* ================================================================== restore (restore.c) */

enum engine_status elock_restore_hold(struct elock *l, struct esession *s, bool shared,
                                      uint64_t owner, uint64_t token, const char **why)
{
    struct engine *e = s->e;
    /* (s, owner) twice is refused for an exclusive hold only: two queued shared acquires of
     * one owner granted together hold it twice, legitimately. */
    if (l->x.s != NULL || (!shared && l->sh_head != NULL))
        return engine_fail(why, ENGINE_BAD_REQUEST, "a lock held exclusively has one holder");
    struct elockhold *h = &l->x;
    if (shared) {
        if ((h = hold_new(e)) == NULL)
            return engine_fail(why, ENGINE_INTERNAL, "out of memory");
        elock_add_shared(l, h, s, owner, token);
    } else {
        elock_set_holder(l, s, owner, token);
    }
    return ENGINE_OK;
}

bool elock_restore_acquire(struct elock *l, struct ewaiter *w, bool shared)
{
    if (shared && (w->hold = hold_new(w->s->e)) == NULL)
        return false;
    elock_enqueue(l, w);
    return true;
}

bool elock_restore_valid(const struct elock *l, const char **why)
{
    if (!elock_held(l)) {
        engine_fail(why, ENGINE_BAD_REQUEST, "a lock without holder");
        return false;
    }
    if (l->sh_head != NULL && l->q_head != NULL && waiter_shared(l->q_head)) {
        engine_fail(why, ENGINE_BAD_REQUEST, "a shared request queued behind shared holders");
        return false;
    }
    return true;
}
