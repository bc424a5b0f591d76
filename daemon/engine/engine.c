/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The engine's frame: creation and teardown, sessions (open, close), the pending-request table
 * (by session and request id, for Cancel and for refusing a duplicate id), waiters' common
 * life cycle and their timers on the injected clock, reply delivery, fencing tokens, Cancel's
 * dispatch, shutdown, Stats and List. The lock queues are in lock.c, conditions in cond.c,
 * semaphores in sem.c, events in event.c, barriers in barrier.c.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "clock.h"
#include "engine_internal.h"

/* ================================================================== keys and tables */

/* Key of the pending table: the session's engine-unique serial and the request id. */
struct pending_key {
    uint64_t serial;
    uint64_t req_id;
};

static bool pending_eq(const struct table_node *node, const void *key, size_t len)
{
    const struct ewaiter *w = ENGINE_CONTAINER_OF(node, struct ewaiter, pnode);
    struct pending_key k;
    if (len != sizeof k)
        return false;
    memcpy(&k, key, sizeof k);
    return w->s->serial == k.serial && w->req_id == k.req_id;
}

static bool lock_eq(const struct table_node *node, const void *key, size_t len)
{
    const struct elock *l = ENGINE_CONTAINER_OF(node, struct elock, node);
    return l->name_len == len && memcmp(l->name, key, len) == 0;
}

static bool cond_eq(const struct table_node *node, const void *key, size_t len)
{
    const struct econd *c = ENGINE_CONTAINER_OF(node, struct econd, node);
    return c->name_len == len && memcmp(c->data, key, len) == 0;
}

static struct table *new_table(table_key_eq_fn eq)
{
    uint8_t key[TABLE_KEY_BYTES];
    randombytes_buf(key, sizeof key);
    struct table *t = table_new(key, eq);
    sodium_memzero(key, sizeof key);
    return t;
}

/* ================================================================== tokens */

uint64_t engine_next_token(struct engine *e)
{
    uint64_t now = e->token_rt0 + (clk_mono_us() - e->token_mono0);
    uint64_t t = e->last_token + 1;
    if (now > t)
        t = now;
    e->last_token = t;
    e->st.last_token = t;
    return t;
}

/* ================================================================== engine */

static bool engine_reap(struct engine *e, size_t budget);
static void engine_reap_fire(void *arg);

struct engine *engine_new(const struct engine_clock *clock, engine_reply_fn reply,
                          const struct engine_limits *limits)
{
    if (sodium_init() < 0)
        return NULL;
    struct engine *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->clock = *clock;
    e->reply = reply;
    engine_set_limits(e, limits);
    e->locks = new_table(lock_eq);
    e->conds = new_table(cond_eq);
    e->pending = new_table(pending_eq);
    e->events = new_table(eevent_key_eq);
    e->sems = new_table(esem_key_eq);
    e->barriers = new_table(ebarrier_key_eq);
    if (e->locks == NULL || e->conds == NULL || e->pending == NULL || e->events == NULL ||
        e->sems == NULL || e->barriers == NULL) {
        table_free(e->locks);
        table_free(e->conds);
        table_free(e->pending);
        table_free(e->events);
        table_free(e->sems);
        table_free(e->barriers);
        free(e);
        return NULL;
    }
    e->reap_timer = e->clock.timer_new(e->clock.ctx, engine_reap_fire, e);
    if (e->reap_timer == NULL) {
        table_free(e->locks);
        table_free(e->conds);
        table_free(e->pending);
        table_free(e->events);
        table_free(e->sems);
        table_free(e->barriers);
        free(e);
        return NULL;
    }
    e->token_rt0 = clk_real_us();
    e->token_mono0 = clk_mono_us();
    return e;
}

/* Frees lock entries nobody holds or waits for and conditions nobody waits on: never there
 * between engine calls, but a restore refused half-way (restore.c) leaves them. */
static void engine_free_unheld(struct engine *e)
{
    struct table *tables[2] = {e->locks, e->conds};
    for (int k = 0; k < 2; k++) {
        struct table *t = tables[k];
        size_t n = table_count(t), i = 0;
        if (n == 0)
            continue;
        /* the iterator forbids removing while it runs: collect first */
        struct table_node **nodes = malloc(n * sizeof *nodes);
        if (nodes == NULL)
            return; /* leaks them rather than crash; only a refused restore gets here */
        struct table_iter it;
        table_iter_init(&it, t);
        for (struct table_node *nd; (nd = table_iter_next(&it)) != NULL && i < n;)
            nodes[i++] = nd;
        for (size_t j = 0; j < i; j++) {
            table_remove(t, nodes[j]);
            if (k == 0) {
                struct elock *l = ENGINE_CONTAINER_OF(nodes[j], struct elock, node);
                e->st.locks--;
                engine_account(e, -(long)(sizeof *l + l->name_len));
                elock_free_entry(l);
            } else {
                struct econd *c = ENGINE_CONTAINER_OF(nodes[j], struct econd, node);
                e->st.conditions--;
                engine_account(e, -(long)(sizeof *c + c->name_len + c->lock_len));
                free(c);
            }
        }
        free(nodes);
    }
}

struct engine *engine_new_like(const struct engine *e)
{
    return engine_new(&e->clock, e->reply, &e->limits);
}

void engine_reap_all(struct engine *e)
{
    while (engine_reap(e, SIZE_MAX))
        ;
}

void engine_free(struct engine *e)
{
    if (e == NULL)
        return;
    /* Sessions should be closed already; close stragglers without telling anyone. */
    e->silent = true;
    while (e->sessions != NULL)
        engine_session_close(e->sessions);
    while (engine_reap(e, SIZE_MAX))
        ;
    e->clock.timer_free(e->clock.ctx, e->reap_timer);
    engine_free_unheld(e); /* a restore refused half-way leaves such entries */
    esem_free_all(e);      /* semaphores kept in existence by posted permits alone */
    eevent_free_all(e);    /* set events outlive the sessions that set them */
    ebarrier_free_all(e);  /* and broken barriers the sessions that aborted them */
    table_free(e->events);
    table_free(e->barriers);
    table_free(e->locks);
    table_free(e->conds);
    table_free(e->pending);
    table_free(e->sems);
    free(e->restore_checks);
    free(e);
}

void engine_set_limits(struct engine *e, const struct engine_limits *limits)
{
    struct engine_limits l = {0};
    if (limits != NULL)
        l = *limits;
    if (l.max_pending_per_session == 0)
        l.max_pending_per_session = ENGINE_DEFAULT_MAX_PENDING;
    e->limits = l;
}

void engine_account(struct engine *e, long delta)
{
    e->st.table_bytes += (uint64_t)delta;
}

enum engine_op engine_waiter_op(uint8_t kind)
{
    switch (kind) {
    case EW_ACQUIRE:
        return ENGINE_OP_ACQUIRE;
    case EW_EVENT:
        return ENGINE_OP_EVENT_WAIT;
    case EW_SEM:
        return ENGINE_OP_SEM_ACQUIRE;
    case EW_BARRIER:
        return ENGINE_OP_BARRIER_WAIT;
    default:
        return ENGINE_OP_WAIT;
    }
}

double engine_now(const struct engine *e)
{
    return e->clock.now(e->clock.ctx);
}

void engine_deliver(struct engine *e, const struct ewaiter *w, enum engine_status status,
                    uint64_t token)
{
    if (e->silent || w->s->closing)
        return;
    struct engine_reply r = {
        .op = engine_waiter_op(w->kind),
        .req_id = w->req_id,
        .status = status,
        .token = w->kind == EW_BARRIER ? 0 : token,
        .index = w->kind == EW_BARRIER ? (uint32_t)token : 0,
        .elapsed_s = engine_now(e) - w->started,
    };
    if (w->kind == EW_WAIT && w->cond != NULL) {
        r.cond = w->cond->data;
        r.cond_len = w->cond->name_len;
    }
    switch (status) {
    case ENGINE_OK:
        r.message = NULL;
        break;
    case ENGINE_TIMEOUT:
        r.message = "timed out";
        break;
    case ENGINE_CANCELLED:
        r.message = "cancelled";
        break;
    case ENGINE_SHUTTING_DOWN:
        r.message = "server shutting down";
        break;
    case ENGINE_BROKEN:
        r.message = "barrier broken";
        break;
    default: /* late replies carry only the statuses above */
        r.message = "error";
        break;
    }
    e->reply(w->s->ctx, &r);
}

bool engine_parse_timeout(const double *timeout, bool *forever, double *seconds)
{
    *forever = false;
    *seconds = 0;
    if (timeout == NULL) {
        *forever = true;
        return true;
    }
    double t = *timeout;
    if (!isfinite(t) || t < 0)
        return false;
    if (t > 1e9)
        *forever = true;
    else
        *seconds = t;
    return true;
}

/* ================================================================== sessions */

struct esession *engine_session_open(struct engine *e, uint64_t session_id, const char *client_name,
                                     void *ctx)
{
    if (client_name == NULL)
        client_name = "";
    size_t n = strlen(client_name);
    struct esession *s = calloc(1, sizeof *s + n + 1);
    if (s == NULL)
        return NULL;
    memcpy(s->client, client_name, n + 1);
    s->e = e;
    s->id = session_id;
    s->serial = ++e->next_serial;
    s->ctx = ctx;
    s->next = e->sessions;
    if (e->sessions != NULL)
        e->sessions->prev = s;
    e->sessions = s;
    e->st.sessions++;
    return s;
}

/*
 * The reaper: takes ended sessions apart, oldest first, at most budget items (a pending request
 * dropped, a held lock released and handed on, one semaphore permit returned) per call. Pending
 * requests go first, so that the locks released after them are not granted back to the session; a
 * pending request that is granted meanwhile (its place in a queue came up) only adds a lock to
 * release. Returns true while work remains.
 */
static bool engine_reap(struct engine *e, size_t budget)
{
    while (budget > 0 && e->closing_head != NULL) {
        struct esession *s = e->closing_head;
        if (s->pending != NULL) {
            struct ewaiter *w = s->pending;
            if (w->kind == EW_ACQUIRE)
                elock_drop_acquire(w, ENGINE_CANCELLED, true); /* no reply: closing */
            else if (w->kind == EW_EVENT)
                eevent_drop_wait(w);
            else if (w->kind == EW_SEM)
                esem_drop_waiter(w);
            else if (w->kind == EW_BARRIER)
                ebarrier_drop_wait(w);
            else
                econd_drop_wait(w); /* passes on a notification it had received */
        } else if (s->held != NULL) {
            elock_release_hold(s->held); /* either mode */
        } else if (s->sem_held != NULL) {
            esem_release_one(s); /* hands the permit on in FIFO order */
        } else {
            e->closing_head = s->next;
            if (e->closing_head == NULL)
                e->closing_tail = NULL;
            free(s);
        }
        budget--;
    }
    return e->closing_head != NULL;
}

static void engine_reap_fire(void *arg)
{
    struct engine *e = arg;
    e->reap_armed = false;
    if (engine_reap(e, ENGINE_REAP_BUDGET)) {
        e->reap_armed = true;
        e->clock.timer_arm(e->clock.ctx, e->reap_timer, 0);
    }
}

void engine_session_close(struct esession *s)
{
    if (s == NULL)
        return;
    struct engine *e = s->e;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        e->sessions = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    e->st.sessions--;
    /* From here on nothing is delivered to the session (its ctx may be freed right after this
     * call), and what it holds is handed on by the reaper: at once for a session with up to
     * ENGINE_REAP_BUDGET items, the common case, else over the next turns of the clock with
     * other sessions served in between. */
    s->closing = true;
    s->ctx = NULL;
    s->prev = NULL;
    s->next = NULL;
    if (e->closing_tail != NULL)
        e->closing_tail->next = s;
    else
        e->closing_head = s;
    e->closing_tail = s;
    if (engine_reap(e, ENGINE_REAP_BUDGET) && !e->reap_armed) {
        e->reap_armed = true;
        e->clock.timer_arm(e->clock.ctx, e->reap_timer, 0);
    }
}

uint64_t engine_session_id(const struct esession *s)
{
    return s->id;
}

/* ================================================================== pending requests */

static struct ewaiter *pending_find(struct esession *s, uint64_t req_id)
{
    struct engine *e = s->e;
    struct pending_key k = {.serial = s->serial, .req_id = req_id};
    struct table_node *n =
        table_find(e->pending, &k, sizeof k, table_hash(e->pending, &k, sizeof k));
    return n == NULL ? NULL : ENGINE_CONTAINER_OF(n, struct ewaiter, pnode);
}

bool engine_pending_exists(struct esession *s, uint64_t req_id)
{
    return pending_find(s, req_id) != NULL;
}

enum engine_status engine_check_wait_args(struct esession *s, uint64_t req_id,
                                          const double *timeout, bool *forever, double *seconds,
                                          const char **message)
{
    if (!engine_parse_timeout(timeout, forever, seconds))
        return engine_fail(message, ENGINE_BAD_REQUEST, "invalid timeout");
    if (engine_pending_exists(s, req_id))
        return engine_fail(message, ENGINE_BAD_REQUEST, "request id already pending");
    return ENGINE_OK;
}

struct ewaiter *engine_waiter_new(struct esession *s, uint64_t req_id, uint64_t owner,
                                  enum ewaiter_kind kind, bool timed, void (*fire)(void *w))
{
    struct engine *e = s->e;
    struct ewaiter *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->s = s;
    w->req_id = req_id;
    w->owner = owner;
    w->kind = (uint8_t)kind;
    w->final_status = ENGINE_OK;
    w->started = engine_now(e);
    long bytes = (long)sizeof *w;
    if (timed) {
        w->timer = e->clock.timer_new(e->clock.ctx, fire, w);
        if (w->timer == NULL) {
            free(w);
            return NULL;
        }
        bytes += (long)e->clock.timer_bytes;
    }
    struct pending_key k = {.serial = s->serial, .req_id = req_id};
    if (!table_insert(e->pending, &w->pnode, table_hash(e->pending, &k, sizeof k))) {
        if (w->timer != NULL)
            e->clock.timer_free(e->clock.ctx, w->timer);
        free(w);
        return NULL;
    }
    w->s_next = s->pending;
    if (s->pending != NULL)
        s->pending->s_prev = w;
    s->pending = w;
    s->npending++;
    engine_account(e, bytes);
    return w;
}

void engine_waiter_arm(struct ewaiter *w, double seconds)
{
    struct engine *e = w->s->e;
    w->deadline = engine_now(e) + seconds;
    e->clock.timer_arm(e->clock.ctx, w->timer, seconds);
}

void engine_waiter_disarm(struct ewaiter *w)
{
    struct engine *e = w->s->e;
    if (w->timer == NULL)
        return;
    e->clock.timer_free(e->clock.ctx, w->timer);
    w->timer = NULL;
    engine_account(e, -(long)e->clock.timer_bytes);
}

void engine_waiter_free(struct ewaiter *w)
{
    struct esession *s = w->s;
    struct engine *e = s->e;
    engine_waiter_disarm(w);
    table_remove(e->pending, &w->pnode);
    if (w->s_prev != NULL)
        w->s_prev->s_next = w->s_next;
    else
        s->pending = w->s_next;
    if (w->s_next != NULL)
        w->s_next->s_prev = w->s_prev;
    s->npending--;
    engine_account(e, -(long)sizeof *w);
    free(w);
}

/* ================================================================== cancel and shutdown */

enum engine_status engine_cancel(struct esession *s, uint64_t target_id, const char **message)
{
    struct ewaiter *w = pending_find(s, target_id);
    if (w == NULL)
        return engine_fail(message, ENGINE_NOT_FOUND, "no such pending request");
    if (w->kind == EW_WAIT)
        return econd_cancel_wait(w, message);
    if (w->kind == EW_EVENT) {
        eevent_cancel_wait(w);
        return ENGINE_OK;
    }
    if (w->kind == EW_BARRIER) {
        ebarrier_cancel_wait(w);
        return ENGINE_OK;
    }
    struct engine *e = s->e;
    if (w->kind == EW_SEM) {
        engine_deliver(e, w, ENGINE_CANCELLED, 0);
        esem_drop_waiter(w);
        return ENGINE_OK;
    }
    elock_drop_acquire(w, ENGINE_CANCELLED, true);
    return ENGINE_OK;
}

void engine_shutdown(struct engine *e)
{
    e->shutting_down = true;
    for (struct esession *s = e->sessions; s != NULL; s = s->next) {
        while (s->pending != NULL) {
            struct ewaiter *w = s->pending;
            if (w->kind == EW_ACQUIRE) {
                elock_drop_acquire(w, ENGINE_SHUTTING_DOWN, false);
            } else if (w->kind == EW_EVENT) {
                eevent_shutdown_wait(w);
            } else if (w->kind == EW_BARRIER) {
                ebarrier_shutdown_wait(w);
            } else if (w->kind == EW_SEM) {
                engine_deliver(e, w, ENGINE_SHUTTING_DOWN, 0);
                esem_drop_waiter(w);
            } else {
                econd_shutdown_wait(w);
            }
        }
    }
}

/* ================================================================== introspection */

bool engine_reaping(const struct engine *e)
{
    return e->closing_head != NULL;
}

void engine_get_stats(const struct engine *e, struct engine_stats *out)
{
    *out = e->st;
    out->waiters = e->st.lock_waiters + e->st.condition_waiters + e->st.semaphore_waiters +
                   e->st.event_waiters + e->st.barrier_waiters;
    out->entry_bytes = e->st.table_bytes;
    out->table_bytes = e->st.table_bytes + table_memory(e->locks) + table_memory(e->conds) +
                       table_memory(e->pending) + table_memory(e->events) + table_memory(e->sems) +
                       table_memory(e->barriers);
}

static bool has_prefix(const uint8_t *name, size_t len, const uint8_t *prefix, size_t prefix_len)
{
    return prefix_len <= len && (prefix_len == 0 || memcmp(name, prefix, prefix_len) == 0);
}

bool engine_list(const struct engine *e, const uint8_t *prefix, size_t prefix_len, size_t limit,
                 void (*on_lock)(void *arg, const struct engine_lock_info *),
                 void (*on_cond)(void *arg, const struct engine_cond_info *), void *arg)
{
    return engine_list_holders(e, prefix, prefix_len, limit, on_lock, NULL, on_cond, arg);
}

bool engine_list_holders(const struct engine *e, const uint8_t *prefix, size_t prefix_len,
                         size_t limit, void (*on_lock)(void *arg, const struct engine_lock_info *),
                         void (*on_holder)(void *arg, const struct engine_lock_holder_info *),
                         void (*on_cond)(void *arg, const struct engine_cond_info *), void *arg)
{
    bool truncated = false;
    struct table_iter it;
    size_t seen = 0;
    table_iter_init(&it, e->locks);
    for (struct table_node *n; (n = table_iter_next(&it)) != NULL;) {
        const struct elock *l = ENGINE_CONTAINER_OF(n, struct elock, node);
        if (!has_prefix(l->name, l->name_len, prefix, prefix_len))
            continue;
        if (seen == limit) {
            truncated = true;
            break;
        }
        seen++;
        if (on_lock == NULL)
            continue;
        const struct elockhold *first = l->x.s != NULL ? &l->x : l->sh_head;
        struct engine_lock_info info = {
            .name = l->name,
            .name_len = l->name_len,
            .held = first != NULL,
            .holder_session = first != NULL ? first->s->id : 0,
            .holder_client = first != NULL ? first->s->client : "",
            .holder_owner = first != NULL ? first->owner : 0,
            .token = first != NULL ? first->token : 0,
            .waiters = l->nwaiters,
            .shared = l->sh_head != NULL,
            .nholders = l->x.s != NULL ? 1 : l->nshared,
        };
        on_lock(arg, &info);
        if (on_holder == NULL)
            continue;
        for (const struct elockhold *h = first; h != NULL; h = h == &l->x ? NULL : h->l_next) {
            struct engine_lock_holder_info hi = {
                .session_id = h->s->id,
                .client = h->s->client,
                .owner = h->owner,
                .token = h->token,
            };
            on_holder(arg, &hi);
        }
    }
    seen = 0;
    table_iter_init(&it, e->conds);
    for (struct table_node *n; (n = table_iter_next(&it)) != NULL;) {
        const struct econd *c = ENGINE_CONTAINER_OF(n, struct econd, node);
        if (!has_prefix(c->data, c->name_len, prefix, prefix_len))
            continue;
        if (seen == limit) {
            truncated = true;
            break;
        }
        seen++;
        if (on_cond == NULL)
            continue;
        struct engine_cond_info info = {
            .name = c->data,
            .name_len = c->name_len,
            .lock = c->data + c->name_len,
            .lock_len = c->lock_len,
            .waiters = c->nqueued,
        };
        on_cond(arg, &info);
    }
    return truncated;
}

size_t engine_queue_visit(struct engine *e, bool is_cond, const uint8_t *name, size_t len,
                          void (*visit)(void *arg, const struct engine_queued_info *), void *arg)
{
    const struct ewaiter *head = NULL;
    if (is_cond) {
        struct table_node *n = table_find(e->conds, name, len, table_hash(e->conds, name, len));
        if (n != NULL)
            head = ENGINE_CONTAINER_OF(n, struct econd, node)->q_head;
    } else {
        struct table_node *n = table_find(e->locks, name, len, table_hash(e->locks, name, len));
        if (n != NULL)
            head = ENGINE_CONTAINER_OF(n, struct elock, node)->q_head;
    }
    size_t count = 0;
    for (const struct ewaiter *w = head; w != NULL; w = w->q_next, count++) {
        struct engine_queued_info info = {
            .session_id = w->s->id,
            .req_id = w->req_id,
            .owner = w->owner,
            .op = engine_waiter_op(w->kind),
            .final_status =
                w->state == EW_IN_LOCKQ && w->kind == EW_WAIT ? w->final_status : ENGINE_OK,
            .shared = w->kind == EW_ACQUIRE && w->hold != NULL,
        };
        if (visit != NULL)
            visit(arg, &info);
    }
    return count;
}
