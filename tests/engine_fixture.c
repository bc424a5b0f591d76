/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The engine suites' fixture (see engine_fixture.h): a fake clock, an engine on it, sessions
 * whose late replies are recorded, and thin wrappers that check the reply-callback contract.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"

static void on_reply(void *ctx, const struct engine_reply *r)
{
    struct fx_session *fs = ctx;
    struct fx *f = fs->f;
    if (fs->s == NULL)
        f->violations++; /* a reply for a closed session */
    if (f->cur_active && f->cur_s == fs && f->cur_req == r->req_id)
        f->violations++; /* a reply to the request whose own call is running */
    FX_REQUIRE(fs->n < FX_REPLIES);
    struct fx_reply *rec = &fs->replies[fs->n++];
    rec->op = r->op;
    rec->req_id = r->req_id;
    rec->status = r->status;
    rec->token = r->token;
    rec->index = r->index;
    if (r->status != S_OK)
        FX_REQUIRE(r->message != NULL);
    if (f->hook != NULL)
        f->hook(f->hook_arg, fs, rec);
}

void fx_init(struct fx *f, const struct engine_limits *limits)
{
    memset(f, 0, sizeof *f);
    fake_clock_init(&f->clock, &f->eclock);
    f->e = engine_new(&f->eclock, on_reply, limits);
    ck_assert_ptr_nonnull(f->e);
    for (int i = 0; i < FX_SESSIONS; i++) {
        f->ss[i].f = f;
        f->ss[i].id = (uint64_t)i + 1;
    }
}

void fx_fini(struct fx *f)
{
    for (int i = 0; i < FX_SESSIONS; i++)
        fx_close(f, i);
    ck_assert_int_eq(f->violations, 0);
    engine_free(f->e);
    f->e = NULL;
    ck_assert_uint_eq(f->clock.ntimers, 0);
}

struct fx_session *fx_open(struct fx *f, int i)
{
    struct fx_session *fs = &f->ss[i];
    ck_assert_ptr_null(fs->s);
    char name[32];
    snprintf(name, sizeof name, "client-%d", i);
    fs->s = engine_session_open(f->e, fs->id, name, fs);
    ck_assert_ptr_nonnull(fs->s);
    ck_assert_uint_eq(engine_session_id(fs->s), fs->id);
    fs->n = fs->seen = 0;
    return fs;
}

void fx_close(struct fx *f, int i)
{
    struct fx_session *fs = &f->ss[i];
    if (fs->s == NULL)
        return;
    struct esession *s = fs->s;
    fs->s = NULL; /* from now on a reply to it is a violation */
    engine_session_close(s);
}

static const uint8_t *u8(const char *s)
{
    return (const uint8_t *)s;
}

static void begin(struct fx *f, int i, uint64_t req)
{
    f->cur_s = &f->ss[i];
    f->cur_req = req;
    f->cur_active = true;
}

static void end(struct fx *f)
{
    f->cur_active = false;
}

int fx_acquire(struct fx *f, int i, uint64_t req, const char *lock, uint64_t owner, double timeout,
               uint64_t *token)
{
    uint64_t t = 0;
    const char *msg = NULL;
    begin(f, i, req);
    int st = engine_acquire(f->ss[i].s, req, u8(lock), strlen(lock), owner,
                            timeout == FX_FOREVER ? NULL : &timeout, &t, &msg);
    end(f);
    if (st != S_OK && st != S_PENDING)
        FX_REQUIRE(msg != NULL);
    if (token != NULL)
        *token = t;
    return st;
}

int fx_acquire_shared(struct fx *f, int i, uint64_t req, const char *lock, uint64_t owner,
                      double timeout, uint64_t *token)
{
    uint64_t t = 0;
    const char *msg = NULL;
    begin(f, i, req);
    int st = engine_acquire_mode(f->ss[i].s, req, u8(lock), strlen(lock), owner, ENGINE_LOCK_SHARED,
                                 timeout == FX_FOREVER ? NULL : &timeout, &t, &msg);
    end(f);
    if (st != S_OK && st != S_PENDING)
        FX_REQUIRE(msg != NULL);
    if (token != NULL)
        *token = t;
    return st;
}

int fx_release(struct fx *f, int i, const char *lock, uint64_t owner)
{
    const char *msg = NULL;
    int st = engine_release(f->ss[i].s, u8(lock), strlen(lock), owner, &msg);
    if (st != S_OK)
        FX_REQUIRE(msg != NULL);
    return st;
}

int fx_wait(struct fx *f, int i, uint64_t req, const char *cond, const char *lock, uint64_t owner,
            double timeout)
{
    return fx_notify_wait(f, i, req, cond, lock, owner, 0, timeout);
}

int fx_notify_wait(struct fx *f, int i, uint64_t req, const char *cond, const char *lock,
                   uint64_t owner, uint64_t notify_first, double timeout)
{
    const char *msg = NULL;
    begin(f, i, req);
    int st = engine_wait(f->ss[i].s, req, u8(cond), strlen(cond), u8(lock), strlen(lock), owner,
                         timeout == FX_FOREVER ? NULL : &timeout, notify_first, &msg);
    end(f);
    if (st != S_PENDING)
        FX_REQUIRE(msg != NULL);
    return st;
}

int fx_notify(struct fx *f, int i, const char *cond, const char *lock, uint64_t owner, uint64_t n,
              uint64_t *woken)
{
    const char *msg = NULL;
    uint64_t w = 0;
    int st = engine_notify(f->ss[i].s, u8(cond), strlen(cond), u8(lock), strlen(lock), owner, n, &w,
                           &msg);
    if (st != S_OK)
        FX_REQUIRE(msg != NULL);
    if (woken != NULL)
        *woken = w;
    return st;
}

int fx_cancel(struct fx *f, int i, uint64_t target)
{
    const char *msg = NULL;
    int st = engine_cancel(f->ss[i].s, target, &msg);
    if (st != S_OK)
        FX_REQUIRE(msg != NULL);
    return st;
}

bool fx_locked(struct fx *f, const char *lock)
{
    bool locked = false;
    FX_EQ(engine_locked(f->e, u8(lock), strlen(lock), &locked, NULL), S_OK);
    return locked;
}

const struct fx_reply *fx_next(struct fx *f, int i)
{
    struct fx_session *fs = &f->ss[i];
    if (fs->seen == fs->n)
        return NULL;
    return &fs->replies[fs->seen++];
}

size_t fx_unseen(struct fx *f, int i)
{
    return f->ss[i].n - f->ss[i].seen;
}

void fx_advance(struct fx *f, double seconds)
{
    fake_clock_advance(&f->clock, seconds);
}

double fx_now(const struct fx *f)
{
    return f->clock.now;
}

size_t fx_timers(const struct fx *f)
{
    /* Between engine calls every request timer the engine holds is armed; besides them it
     * holds its reaper's timer, armed only while an ended session is being taken apart. */
    FX_EQ(f->clock.narmed, f->clock.ntimers - 1 + (engine_reaping(f->e) ? 1 : 0));
    return f->clock.ntimers - 1;
}

struct holder_q {
    const char *name;
    bool found;
    struct engine_lock_info info;
};

static void holder_visit(void *arg, const struct engine_lock_info *li)
{
    struct holder_q *q = arg;
    if (li->name_len == strlen(q->name) && memcmp(li->name, q->name, li->name_len) == 0) {
        q->found = true;
        q->info = *li;
    }
}

bool fx_holder(struct fx *f, const char *lock, uint64_t *session_id, uint64_t *owner,
               uint64_t *token, uint64_t *waiters)
{
    struct holder_q q = {.name = lock};
    engine_list(f->e, u8(lock), strlen(lock), 100000, holder_visit, NULL, &q);
    if (session_id != NULL)
        *session_id = q.found ? q.info.holder_session : 0;
    if (owner != NULL)
        *owner = q.found ? q.info.holder_owner : 0;
    if (token != NULL)
        *token = q.found ? q.info.token : 0;
    if (waiters != NULL)
        *waiters = q.found ? q.info.waiters : 0;
    return q.found && q.info.held;
}

struct engine_stats fx_stats(struct fx *f)
{
    struct engine_stats st;
    engine_get_stats(f->e, &st);
    return st;
}

/* ------------------------------------------------------------------ save and load */

/* One exported item, names copied. */
struct fx_item {
    int type; /* 0 object, 1 hold, 2 pending */
    struct engine_obj o;
    struct engine_obj_hold h;
    struct engine_obj_pending p;
    uint8_t *name, *lock, *cond;
};

struct fx_items {
    struct fx_item *v;
    size_t n, cap;
};

static struct fx_item *fx_item_add(struct fx_items *it, int type)
{
    if (it->n == it->cap) {
        it->cap = it->cap > 0 ? it->cap * 2 : 64;
        it->v = realloc(it->v, it->cap * sizeof *it->v);
        FX_REQUIRE(it->v != NULL);
    }
    struct fx_item *x = &it->v[it->n++];
    memset(x, 0, sizeof *x);
    x->type = type;
    return x;
}

static uint8_t *fx_dup(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n > 0 ? n : 1);
    FX_REQUIRE(d != NULL);
    if (n > 0)
        memcpy(d, p, n);
    return d;
}

static bool fx_on_object(void *arg, const struct engine_obj *o)
{
    struct fx_item *x = fx_item_add(arg, 0);
    x->o = *o;
    x->o.name = x->name = fx_dup(o->name, o->name_len);
    if (o->lock != NULL)
        x->o.lock = x->lock = fx_dup(o->lock, o->lock_len);
    return true;
}

static bool fx_on_hold(void *arg, const struct engine_obj_hold *h)
{
    fx_item_add(arg, 1)->h = *h;
    return true;
}

static bool fx_on_pending(void *arg, const struct engine_obj_pending *p)
{
    struct fx_item *x = fx_item_add(arg, 2);
    x->p = *p;
    if (p->cond != NULL)
        x->p.cond = x->cond = fx_dup(p->cond, p->cond_len);
    return true;
}

static struct esession *fx_session_of(struct fx *f, uint64_t id)
{
    FX_REQUIRE(id >= 1 && id <= FX_SESSIONS);
    FX_REQUIRE(f->ss[id - 1].s != NULL);
    return f->ss[id - 1].s;
}

void fx_save_load(struct fx *f)
{
    engine_reap_all(f->e);
    struct fx_items it = {0};
    static const struct engine_export_fns fns = {fx_on_object, fx_on_hold, fx_on_pending};
    FX_REQUIRE(engine_export(f->e, &fns, &it));
    struct engine_stats before;
    engine_get_stats(f->e, &before);
    struct engine *e2 = engine_new_like(f->e);
    FX_REQUIRE(e2 != NULL);
    /* the sessions, in the new engine, with the same ids and ctx (their slots) */
    for (int i = 0; i < FX_SESSIONS; i++) {
        struct fx_session *fs = &f->ss[i];
        if (fs->s == NULL)
            continue;
        char name[32];
        snprintf(name, sizeof name, "client-%d", i);
        fs->s = engine_session_open(e2, fs->id, name, fs);
        FX_REQUIRE(fs->s != NULL);
    }
    const char *why = "";
    const struct engine_obj *cur = NULL;
    for (size_t i = 0; i < it.n; i++) {
        struct fx_item *x = &it.v[i];
        enum engine_status st = ENGINE_OK;
        if (x->type == 0) {
            cur = &x->o;
            st = engine_restore_object(e2, cur, &why);
        } else if (x->type == 1) {
            st = engine_restore_hold(fx_session_of(f, x->h.session_id), cur, cur->shared, &x->h,
                                     &why);
        } else {
            st = engine_restore_pending(fx_session_of(f, x->p.session_id), cur, &x->p, &why);
        }
        if (st != ENGINE_OK)
            ck_abort_msg("restore refused: %s", why);
    }
    if (engine_restore_check(e2, &why) != ENGINE_OK)
        ck_abort_msg("restore check refused: %s", why);
    engine_restore_tokens(e2, before.last_token);
    /* the old engine goes silently (its sessions are closed without a reply to anyone) */
    engine_free(f->e);
    f->e = e2;
    struct engine_stats after;
    engine_get_stats(f->e, &after);
    FX_EQ(after.sessions, before.sessions);
    FX_EQ(after.locks, before.locks);
    FX_EQ(after.locks_held, before.locks_held);
    FX_EQ(after.lock_waiters, before.lock_waiters);
    FX_EQ(after.conditions, before.conditions);
    FX_EQ(after.condition_waiters, before.condition_waiters);
    FX_EQ(after.shared_holders, before.shared_holders);
    FX_EQ(after.semaphores, before.semaphores);
    FX_EQ(after.permits_held, before.permits_held);
    FX_EQ(after.semaphore_waiters, before.semaphore_waiters);
    FX_EQ(after.semaphores_posted, before.semaphores_posted);
    FX_EQ(after.events, before.events);
    FX_EQ(after.events_set, before.events_set);
    FX_EQ(after.event_waiters, before.event_waiters);
    FX_EQ(after.barriers, before.barriers);
    FX_EQ(after.barriers_broken, before.barriers_broken);
    FX_EQ(after.barrier_waiters, before.barrier_waiters);
    /* entry_bytes may differ by a semaphore holder record: which holder lives in the record
     * embedded in its semaphore is not part of the state */
    FX_REQUIRE(after.last_token >= before.last_token);
    for (size_t i = 0; i < it.n; i++) {
        free(it.v[i].name);
        free(it.v[i].lock);
        free(it.v[i].cond);
    }
    free(it.v);
}
