/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The engine's side of the live restart (engine.h, "export and restore"): engine_export() shows
 * every object, hold and pending request in a neutral form, and the engine_restore_*() functions
 * rebuild them in a fresh engine, validating each step (names, references, duplicates) and then
 * the whole (engine_restore_check()). No file format lives here (daemon/snapshot.c maps this to
 * proto/state.proto), and nothing here replies or grants: a restored engine is exactly the saved
 * one, with its remaining timeouts re-armed on its own clock. Semaphores keep their part in
 * sem.c, beside their private structs.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* ================================================================== export */

void engine_export_pending(const struct engine *e, const struct ewaiter *w,
                           struct engine_obj_pending *p)
{
    double now = engine_now(e);
    *p = (struct engine_obj_pending){
        .session_id = w->s->id,
        .req_id = w->req_id,
        .owner = w->owner,
        .op = engine_waiter_op(w->kind),
        .shared = w->kind == EW_ACQUIRE && w->hold != NULL,
        .timed = w->timer != NULL,
        .remaining_s = w->timer != NULL ? fmax(0, w->deadline - now) : 0,
        .elapsed_s = fmax(0, now - w->started),
        .final_status = ENGINE_OK,
    };
    if (w->kind == EW_WAIT && w->state == EW_IN_LOCKQ) {
        p->cond = w->cond->data;
        p->cond_len = w->cond->name_len;
        p->final_status = (enum engine_status)w->final_status;
    }
}

static bool export_queue(const struct engine *e, const struct ewaiter *head,
                         const struct engine_export_fns *fns, void *arg)
{
    for (const struct ewaiter *w = head; w != NULL; w = w->q_next) {
        struct engine_obj_pending p;
        engine_export_pending(e, w, &p);
        if (!fns->pending(arg, &p))
            return false;
    }
    return true;
}

static bool export_conds(const struct engine *e, const struct engine_export_fns *fns, void *arg)
{
    struct table_iter it;
    table_iter_init(&it, e->conds);
    for (struct table_node *n; (n = table_iter_next(&it)) != NULL;) {
        const struct econd *c = ENGINE_CONTAINER_OF(n, struct econd, node);
        struct engine_obj o = {
            .kind = ENGINE_OBJ_COND,
            .name = c->data,
            .name_len = c->name_len,
            .lock = c->data + c->name_len,
            .lock_len = c->lock_len,
            .nqueued = c->nqueued,
        };
        if (!fns->object(arg, &o) || !export_queue(e, c->q_head, fns, arg))
            return false;
    }
    return true;
}

_Static_assert(offsetof(struct elock, node) == 0, "table_iter_prefetch fetches from the node");

static bool export_locks(const struct engine *e, const struct engine_export_fns *fns, void *arg)
{
    struct table_iter it;
    table_iter_init(&it, e->locks);
    /* the entry up to its name (and a short name) */
    table_iter_prefetch(&it, sizeof(struct elock) + 16);
    for (struct table_node *n; (n = table_iter_next(&it)) != NULL;) {
        const struct elock *l = ENGINE_CONTAINER_OF(n, struct elock, node);
        struct engine_obj o = {
            .kind = ENGINE_OBJ_LOCK,
            .name = l->name,
            .name_len = l->name_len,
            .shared = l->sh_head != NULL,
            .nholds = l->x.s != NULL ? 1 : l->nshared,
            .nqueued = l->nwaiters,
        };
        if (!fns->object(arg, &o))
            return false;
        const struct elockhold *first = l->x.s != NULL ? &l->x : l->sh_head;
        for (const struct elockhold *h = first; h != NULL; h = h == &l->x ? NULL : h->l_next) {
            struct engine_obj_hold oh = {
                .session_id = h->s->id,
                .owner = h->owner,
                .token = h->token,
                .permits = 1,
            };
            if (!fns->hold(arg, &oh))
                return false;
        }
        if (!export_queue(e, l->q_head, fns, arg))
            return false;
    }
    return true;
}

static bool export_entries(const struct engine *e, enum ewaiter_kind kind,
                           const struct engine_export_fns *fns, void *arg)
{
    struct table_iter it;
    table_iter_init(&it, kind == EW_EVENT ? e->events : e->barriers);
    for (struct table_node *n; (n = table_iter_next(&it)) != NULL;) {
        const struct eqentry *q = ENGINE_CONTAINER_OF(n, struct eqentry, node);
        struct engine_obj o = {
            .kind = kind == EW_EVENT ? ENGINE_OBJ_EVENT : ENGINE_OBJ_BARRIER,
            .name = q->name,
            .name_len = q->name_len,
            .value = q->parties,
            .flag = q->sticky,
            .nqueued = q->nwaiters,
        };
        if (!fns->object(arg, &o) || !export_queue(e, q->q_head, fns, arg))
            return false;
    }
    return true;
}

bool engine_export(const struct engine *e, const struct engine_export_fns *fns, void *arg)
{
    if (e->closing_head != NULL)
        return false;
    return export_conds(e, fns, arg) && export_locks(e, fns, arg) && esem_export(e, fns, arg) &&
           export_entries(e, EW_EVENT, fns, arg) && export_entries(e, EW_BARRIER, fns, arg);
}

/* ================================================================== restore */

void engine_restore_reserve(struct engine *e, uint64_t locks, uint64_t conds, uint64_t pending)
{
    /* each table grows when its nodes reach its bucket count: size for exactly that many */
    (void)table_reserve(e->locks, locks);
    (void)table_reserve(e->conds, conds);
    (void)table_reserve(e->pending, pending);
}

void engine_restore_tokens(struct engine *e, uint64_t last_token)
{
    if (last_token > e->last_token) {
        e->last_token = last_token;
        e->st.last_token = last_token;
    }
}

/* Lock l (just made) is to be checked by engine_restore_check(). */
static void restore_note_check(struct engine *e, struct elock *l)
{
    if (e->nrestore_checks == e->restore_checks_cap) {
        size_t cap = e->restore_checks_cap > 0 ? e->restore_checks_cap * 2 : 64;
        struct elock **v = realloc(e->restore_checks, cap * sizeof *v);
        if (v == NULL) {
            e->restore_check_all = true; /* no list: the check visits every lock */
            return;
        }
        e->restore_checks = v;
        e->restore_checks_cap = cap;
    }
    e->restore_checks[e->nrestore_checks++] = l;
}

/* How far engine_restore_held_locks() fetches ahead: the bucket RESTORE_AHEAD locks ahead,
 * the bucket's first node half as far, while the lock in between is made. */
#define RESTORE_AHEAD 16

enum engine_status engine_restore_held_locks(struct engine *e, const uint8_t *names,
                                             const uint32_t *lens, size_t n,
                                             struct esession *const *sessions,
                                             const uint64_t *owners, const uint64_t *tokens,
                                             const char **why)
{
    if (n == 0)
        return ENGINE_OK;
    /* First the names, in one pass over them: checked and hashed. */
    uint64_t *hashes = malloc(n * sizeof *hashes);
    if (hashes == NULL)
        return engine_fail(why, ENGINE_INTERNAL, "out of memory");
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (!engine_name_valid(names + off, lens[i])) {
            free(hashes);
            return engine_fail(why, ENGINE_BAD_REQUEST, "an invalid name");
        }
        hashes[i] = table_hash(e->locks, names + off, lens[i]);
        off += lens[i];
    }
    for (size_t i = 0; i < n && i < RESTORE_AHEAD; i++)
        table_prefetch(e->locks, hashes[i], false);
    enum engine_status st = ENGINE_OK;
    uint64_t last = 0;
    struct elock_slab *slab = NULL;
    off = 0;
    for (size_t i = 0; i < n && st == ENGINE_OK; off += lens[i], i++) {
        if (i + RESTORE_AHEAD < n)
            table_prefetch(e->locks, hashes[i + RESTORE_AHEAD], false);
        if (i + RESTORE_AHEAD / 2 < n)
            table_prefetch(e->locks, hashes[i + RESTORE_AHEAD / 2], true);
        if (tokens[i] == 0) {
            st = engine_fail(why, ENGINE_BAD_REQUEST, "a hold without a token");
            break;
        }
        if (elock_find(e, names + off, lens[i], hashes[i]) != NULL) {
            st = engine_fail(why, ENGINE_BAD_REQUEST, "a lock listed twice");
            break;
        }
        struct elock *l = elock_create_bulk(e, &slab, names + off, lens[i], hashes[i]);
        if (l == NULL) {
            st = engine_fail(why, ENGINE_INTERNAL, "out of memory");
            break;
        }
        /* A fresh lock: the exclusive hold cannot be refused. */
        st = elock_restore_hold(l, sessions[i], false, owners[i], tokens[i], why);
        if (tokens[i] > last)
            last = tokens[i];
    }
    elock_slab_done(slab);
    free(hashes);
    engine_restore_tokens(e, last);
    return st;
}

enum engine_status engine_restore_object(struct engine *e, const struct engine_obj *o,
                                         const char **why)
{
    if (!engine_name_valid(o->name, o->name_len))
        return engine_fail(why, ENGINE_BAD_REQUEST, "an invalid name");
    switch (o->kind) {
    case ENGINE_OBJ_COND:
        if (!engine_name_valid(o->lock, o->lock_len))
            return engine_fail(why, ENGINE_BAD_REQUEST, "a condition bound to an invalid name");
        if (econd_lookup(e, o->name, o->name_len) != NULL)
            return engine_fail(why, ENGINE_BAD_REQUEST, "a condition listed twice");
        if (econd_restore(e, o->name, o->name_len, o->lock, o->lock_len) == NULL)
            return engine_fail(why, ENGINE_INTERNAL, "out of memory");
        return ENGINE_OK;
    case ENGINE_OBJ_LOCK: {
        uint64_t hash = table_hash(e->locks, o->name, o->name_len);
        if (elock_find(e, o->name, o->name_len, hash) != NULL)
            return engine_fail(why, ENGINE_BAD_REQUEST, "a lock listed twice");
        if ((e->restore_lock = elock_create(e, o->name, o->name_len, hash)) == NULL)
            return engine_fail(why, ENGINE_INTERNAL, "out of memory");
        restore_note_check(e, e->restore_lock);
        return ENGINE_OK;
    }
    case ENGINE_OBJ_SEM:
        return esem_restore(e, o, why);
    case ENGINE_OBJ_EVENT:
    case ENGINE_OBJ_BARRIER: {
        enum ewaiter_kind kind = o->kind == ENGINE_OBJ_EVENT ? EW_EVENT : EW_BARRIER;
        if (kind == EW_BARRIER && (o->value < 1 || o->value > ENGINE_BARRIER_PARTIES_MAX))
            return engine_fail(why, ENGINE_BAD_REQUEST, "a barrier with invalid parties");
        if (eqentry_find(e, kind, o->name, o->name_len) != NULL)
            return engine_fail(why, ENGINE_BAD_REQUEST, "an event or barrier listed twice");
        struct eqentry *q = eqentry_create(e, kind, o->name, o->name_len);
        if (q == NULL)
            return engine_fail(why, ENGINE_INTERNAL, "out of memory");
        q->parties = kind == EW_BARRIER ? (uint32_t)o->value : 0;
        eqentry_set_sticky(e, kind, q, o->flag);
        return ENGINE_OK;
    }
    }
    return engine_fail(why, ENGINE_BAD_REQUEST, "an unknown kind of object");
}

/* The lock entry o names, or NULL with *why set. */
static struct elock *restored_lock(struct engine *e, const uint8_t *name, size_t len,
                                   const char **why)
{
    struct elock *r = e->restore_lock; /* usually the one just restored */
    if (r != NULL && r->name_len == len && memcmp(r->name, name, len) == 0)
        return r;
    struct elock *l = elock_find(e, name, len, table_hash(e->locks, name, len));
    if (l == NULL)
        engine_fail(why, ENGINE_BAD_REQUEST, "a reference to a lock not listed");
    return l;
}

enum engine_status engine_restore_hold(struct esession *s, const struct engine_obj *o, bool shared,
                                       const struct engine_obj_hold *h, const char **why)
{
    struct engine *e = s->e;
    if (h->token == 0)
        return engine_fail(why, ENGINE_BAD_REQUEST, "a hold without a token");
    enum engine_status st;
    if (o->kind == ENGINE_OBJ_LOCK) {
        struct elock *l = restored_lock(e, o->name, o->name_len, why);
        if (l == NULL)
            return ENGINE_BAD_REQUEST;
        st = elock_restore_hold(l, s, shared, h->owner, h->token, why);
    } else if (o->kind == ENGINE_OBJ_SEM) {
        st = esem_restore_hold(s, o, h, why);
    } else {
        return engine_fail(why, ENGINE_BAD_REQUEST, "a hold of an object that has no holders");
    }
    if (st == ENGINE_OK)
        engine_restore_tokens(e, h->token);
    return st;
}

struct ewaiter *engine_restore_waiter(struct esession *s, const struct engine_obj_pending *p,
                                      enum ewaiter_kind kind, void (*fire)(void *w),
                                      enum engine_status *status, const char **why)
{
    *status = ENGINE_BAD_REQUEST;
    if (engine_pending_exists(s, p->req_id)) {
        engine_fail(why, ENGINE_BAD_REQUEST, "a request id pending twice in one session");
        return NULL;
    }
    if (!isfinite(p->elapsed_s) || p->elapsed_s < 0 ||
        (p->timed && (!isfinite(p->remaining_s) || p->remaining_s < 0))) {
        engine_fail(why, ENGINE_BAD_REQUEST, "a request with an invalid time");
        return NULL;
    }
    struct ewaiter *w = engine_waiter_new(s, p->req_id, p->owner, kind, p->timed, fire);
    if (w == NULL) {
        *status = ENGINE_INTERNAL;
        engine_fail(why, ENGINE_INTERNAL, "out of memory");
        return NULL;
    }
    w->started -= p->elapsed_s;
    return w;
}

void engine_restore_arm(struct ewaiter *w, const struct engine_obj_pending *p)
{
    if (p->timed)
        engine_waiter_arm(w, fmin(p->remaining_s, 1e9));
}

/* A wait: in its condition's queue (o a COND), or re-acquiring in its lock's queue (o a LOCK,
 * p->cond its condition, which must be bound to that lock). */
static enum engine_status restore_wait(struct esession *s, const struct engine_obj *o,
                                       const struct engine_obj_pending *p, const char **why)
{
    struct engine *e = s->e;
    struct elock *l = NULL;
    struct econd *c;
    if (o->kind == ENGINE_OBJ_LOCK) {
        if ((l = restored_lock(e, o->name, o->name_len, why)) == NULL)
            return ENGINE_BAD_REQUEST;
        c = p->cond != NULL ? econd_lookup(e, p->cond, p->cond_len) : NULL;
        if (c == NULL || !econd_bound_to(c, o->name, o->name_len))
            return engine_fail(why, ENGINE_BAD_REQUEST,
                               "a re-acquiring wait of a condition not listed for its lock");
        if (p->final_status != ENGINE_OK && p->final_status != ENGINE_TIMEOUT &&
            p->final_status != ENGINE_CANCELLED)
            return engine_fail(why, ENGINE_BAD_REQUEST, "a re-acquiring wait with a bad status");
    } else {
        c = econd_lookup(e, o->name, o->name_len);
        if (c == NULL)
            return engine_fail(why, ENGINE_BAD_REQUEST, "a wait of a condition not listed");
    }
    enum engine_status st;
    /* A re-acquiring wait's timeout can no longer pass: it has no timer. */
    struct engine_obj_pending q = *p;
    if (l != NULL)
        q.timed = false;
    struct ewaiter *w = engine_restore_waiter(s, &q, EW_WAIT, econd_wait_timer_cb, &st, why);
    if (w == NULL)
        return st;
    econd_restore_wait(c, w, l, (uint8_t)p->final_status);
    engine_restore_arm(w, &q);
    return ENGINE_OK;
}

enum engine_status engine_restore_pending(struct esession *s, const struct engine_obj *o,
                                          const struct engine_obj_pending *p, const char **why)
{
    struct engine *e = s->e;
    enum engine_status st;
    struct ewaiter *w;
    switch (o->kind) {
    case ENGINE_OBJ_LOCK:
        if (p->op == ENGINE_OP_WAIT)
            return restore_wait(s, o, p, why);
        if (p->op != ENGINE_OP_ACQUIRE)
            break;
        struct elock *l = restored_lock(e, o->name, o->name_len, why);
        if (l == NULL)
            return ENGINE_BAD_REQUEST;
        w = engine_restore_waiter(s, p, EW_ACQUIRE, elock_acquire_timer_cb, &st, why);
        if (w == NULL)
            return st;
        if (!elock_restore_acquire(l, w, p->shared)) {
            engine_waiter_free(w);
            return engine_fail(why, ENGINE_INTERNAL, "out of memory");
        }
        engine_restore_arm(w, p);
        return ENGINE_OK;
    case ENGINE_OBJ_COND:
        if (p->op != ENGINE_OP_WAIT)
            break;
        return restore_wait(s, o, p, why);
    case ENGINE_OBJ_SEM:
        if (p->op != ENGINE_OP_SEM_ACQUIRE)
            break;
        return esem_restore_pending(s, o, p, why);
    case ENGINE_OBJ_EVENT:
    case ENGINE_OBJ_BARRIER: {
        enum ewaiter_kind kind = o->kind == ENGINE_OBJ_EVENT ? EW_EVENT : EW_BARRIER;
        if (p->op != (kind == EW_EVENT ? ENGINE_OP_EVENT_WAIT : ENGINE_OP_BARRIER_WAIT))
            break;
        struct eqentry *q = eqentry_find(e, kind, o->name, o->name_len);
        if (q == NULL)
            return engine_fail(why, ENGINE_BAD_REQUEST, "a wait of an event or barrier not listed");
        struct engine_obj_pending pp = *p;
        pp.owner = 0; /* not owned */
        w = engine_restore_waiter(s, &pp, kind, eqentry_timer_cb, &st, why);
        if (w == NULL)
            return st;
        eqentry_enqueue(q, w);
        engine_restore_arm(w, p);
        return ENGINE_OK;
    }
    }
    return engine_fail(why, ENGINE_BAD_REQUEST, "a request in the queue of another kind of object");
}

/* Events and barriers: a set event or a broken barrier has no waiters, a barrier fewer than its
 * parties, and neither is at rest (an entry nobody needs). */
static enum engine_status check_entries(struct engine *e, enum ewaiter_kind kind, const char **why)
{
    for (const struct eqentry *q = kind == EW_EVENT ? e->events_all : e->barriers_all; q != NULL;
         q = q->a_next) {
        if (q->sticky && q->nwaiters > 0)
            return engine_fail(why, ENGINE_BAD_REQUEST,
                               "a set event or a broken barrier with waiters");
        if (!q->sticky && q->nwaiters == 0)
            return engine_fail(why, ENGINE_BAD_REQUEST, "an event or barrier at rest listed");
        if (kind == EW_BARRIER && q->nwaiters >= q->parties)
            return engine_fail(why, ENGINE_BAD_REQUEST,
                               "a barrier with as many waiters as parties");
    }
    return ENGINE_OK;
}

enum engine_status engine_restore_check(struct engine *e, const char **why)
{
    e->restore_lock = NULL; /* from here on locks may come and go */
    struct table_iter it;
    bool valid = true;
    if (e->restore_check_all) {
        table_iter_init(&it, e->locks);
        for (struct table_node *n; valid && (n = table_iter_next(&it)) != NULL;)
            valid = elock_restore_valid(ENGINE_CONTAINER_OF(n, struct elock, node), why);
    } else {
        /* The others (engine_restore_held_locks) each have their holder and no queue. */
        for (size_t i = 0; valid && i < e->nrestore_checks; i++)
            valid = elock_restore_valid(e->restore_checks[i], why);
    }
    free(e->restore_checks);
    e->restore_checks = NULL;
    e->nrestore_checks = e->restore_checks_cap = 0;
    e->restore_check_all = false;
    if (!valid)
        return ENGINE_BAD_REQUEST;
    table_iter_init(&it, e->conds);
    for (struct table_node *n; (n = table_iter_next(&it)) != NULL;)
        if (ENGINE_CONTAINER_OF(n, struct econd, node)->refs == 0)
            return engine_fail(why, ENGINE_BAD_REQUEST, "a condition nobody waits on");
    enum engine_status st = esem_restore_check(e, why);
    if (st == ENGINE_OK)
        st = check_entries(e, EW_EVENT, why);
    if (st == ENGINE_OK)
        st = check_entries(e, EW_BARRIER, why);
    return st;
}
