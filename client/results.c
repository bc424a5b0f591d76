/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The result types of Stats and List: library-owned copies of the decoded answers (the decoded
 * message itself lives in a scratch allocator that is reset after each answer), their
 * accessors, and their destructors. Each copy is a few allocations, off the hot path.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------ a string pool */

struct pool {
    char *buf;
    size_t used, cap;
};

static char *pool_add(struct pool *p, const void *s, size_t len)
{
    char *out = p->buf + p->used;
    if (len > 0)
        memcpy(out, s, len);
    out[len] = '\0';
    p->used += len + 1;
    return out;
}

static size_t str_len(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

/* ------------------------------------------------------------------ stats */

struct stats_impl {
    condd_stats pub; /* first: the public pointer is the struct's */
    struct condd_op_count *ops;
    char *strings;
};

condd_stats *cl_stats_from(const Condd__V1__StatsResult *r)
{
    struct stats_impl *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    size_t bytes = str_len(r->server_version) + 1;
    for (size_t i = 0; i < r->n_ops; i++)
        bytes += str_len(r->ops[i]->op) + str_len(r->ops[i]->status) + 2;
    struct pool p = {malloc(bytes), 0, bytes};
    s->ops = r->n_ops > 0 ? calloc(r->n_ops, sizeof *s->ops) : NULL;
    if (p.buf == NULL || (r->n_ops > 0 && s->ops == NULL)) {
        free(p.buf);
        free(s->ops);
        free(s);
        return NULL;
    }
    s->strings = p.buf;
    condd_stats *o = &s->pub;
    o->uptime_s = r->uptime_s;
    o->connections = r->connections;
    o->sessions = r->sessions;
    o->locks = r->locks;
    o->locks_held = r->locks_held;
    o->lock_waiters = r->lock_waiters;
    o->conditions = r->conditions;
    o->condition_waiters = r->condition_waiters;
    o->waiters = r->waiters;
    o->table_bytes = r->table_bytes;
    o->rss_bytes = r->rss_bytes;
    o->connections_total = r->connections_total;
    o->session_expiries = r->session_expiries;
    o->last_token = r->last_token;
    o->barriers = r->barriers;
    o->barriers_broken = r->barriers_broken;
    o->barrier_waiters = r->barrier_waiters;
    o->detached_sessions = r->detached_sessions;
    o->resumes = r->resumes;
    o->resume_failures = r->resume_failures;
    o->sessions_expired_in_grace = r->sessions_expired_in_grace;
    o->locks_shared = r->locks_shared;
    o->shared_holders = r->shared_holders;
    o->restarts = r->restarts;
    o->restored_sessions = r->restored_sessions;
    o->tls_buffers_released = r->tls_buffers_released;
    o->events = r->events;
    o->events_set = r->events_set;
    o->event_waiters = r->event_waiters;
    o->server_version = pool_add(&p, r->server_version, str_len(r->server_version));
    for (size_t i = 0; i < r->n_ops; i++) {
        s->ops[i].op = pool_add(&p, r->ops[i]->op, str_len(r->ops[i]->op));
        s->ops[i].status = pool_add(&p, r->ops[i]->status, str_len(r->ops[i]->status));
        s->ops[i].count = r->ops[i]->count;
    }
    o->n_ops = r->n_ops;
    o->semaphores = r->semaphores;
    o->permits_held = r->permits_held;
    o->semaphore_waiters = r->semaphore_waiters;
    o->auth_failures = r->auth_failures;
    o->permission_denials = r->permission_denials;
    o->wrong_server = r->wrong_server;
    return o;
}

const struct condd_op_count *condd_stats_op(const condd_stats *stats, size_t i)
{
    if (stats == NULL || i >= stats->n_ops)
        return NULL;
    return &((const struct stats_impl *)stats)->ops[i];
}

void condd_stats_free(condd_stats *stats)
{
    if (stats == NULL)
        return;
    struct stats_impl *s = (struct stats_impl *)stats;
    free(s->ops);
    free(s->strings);
    free(s);
}

/* ------------------------------------------------------------------ list */

/* A semaphore of a List result: the public part first, then its holders. */
struct sem_impl {
    struct condd_sem_info pub;
    struct condd_sem_holder *holders;
};

struct condd_list {
    size_t n_locks, n_conds, n_sems;
    struct condd_lock_info *locks;
    struct condd_cond_info *conds;
    size_t n_events;
    struct condd_event_info *events;
    size_t n_barriers;
    struct condd_barrier_info *barriers;
    struct sem_impl *sems;
    struct condd_sem_holder *holders;       /* every semaphore's, one array */
    struct condd_lock_holder *lock_holders; /* every lock's, one array, in lock order */
    size_t *lock_hfirst;                    /* lock i's first holder in lock_holders */
    bool truncated;
    char *strings;
};

condd_list *cl_list_from(const Condd__V1__ListResult *r)
{
    condd_list *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    size_t bytes = 1;
    size_t nlholders = 0;
    for (size_t i = 0; i < r->n_locks; i++) {
        bytes += r->locks[i]->name.len + str_len(r->locks[i]->holder_client) + 2;
        for (size_t j = 0; j < r->locks[i]->n_holders; j++)
            bytes += str_len(r->locks[i]->holders[j]->client) + 1;
        nlholders += r->locks[i]->n_holders;
    }
    for (size_t i = 0; i < r->n_conditions; i++)
        bytes += r->conditions[i]->name.len + r->conditions[i]->lock.len + 2;
    for (size_t i = 0; i < r->n_events; i++)
        bytes += r->events[i]->name.len + 1;
    for (size_t i = 0; i < r->n_barriers; i++)
        bytes += r->barriers[i]->name.len + 1;
    size_t nholders = 0;
    for (size_t i = 0; i < r->n_semaphores; i++) {
        bytes += r->semaphores[i]->name.len + 1;
        for (size_t j = 0; j < r->semaphores[i]->n_holders; j++)
            bytes += str_len(r->semaphores[i]->holders[j]->client) + 1;
        nholders += r->semaphores[i]->n_holders;
    }
    struct pool p = {malloc(bytes), 0, bytes};
    l->locks = r->n_locks > 0 ? calloc(r->n_locks, sizeof *l->locks) : NULL;
    l->conds = r->n_conditions > 0 ? calloc(r->n_conditions, sizeof *l->conds) : NULL;
    l->events = r->n_events > 0 ? calloc(r->n_events, sizeof *l->events) : NULL;
    l->barriers = r->n_barriers > 0 ? calloc(r->n_barriers, sizeof *l->barriers) : NULL;
    l->sems = r->n_semaphores > 0 ? calloc(r->n_semaphores, sizeof *l->sems) : NULL;
    l->holders = nholders > 0 ? calloc(nholders, sizeof *l->holders) : NULL;
    l->lock_holders = nlholders > 0 ? calloc(nlholders, sizeof *l->lock_holders) : NULL;
    l->lock_hfirst = r->n_locks > 0 ? calloc(r->n_locks, sizeof *l->lock_hfirst) : NULL;
    if (p.buf == NULL || (r->n_locks > 0 && l->locks == NULL) ||
        (nlholders > 0 && l->lock_holders == NULL) || (r->n_locks > 0 && l->lock_hfirst == NULL) ||
        (r->n_conditions > 0 && l->conds == NULL) || (r->n_events > 0 && l->events == NULL) ||
        (r->n_barriers > 0 && l->barriers == NULL) || (r->n_semaphores > 0 && l->sems == NULL) ||
        (nholders > 0 && l->holders == NULL)) {
        free(p.buf);
        free(l->locks);
        free(l->conds);
        free(l->events);
        free(l->barriers);
        free(l->sems);
        free(l->holders);
        free(l->lock_holders);
        free(l->lock_hfirst);
        free(l);
        return NULL;
    }
    l->strings = p.buf;
    size_t lh = 0;
    for (size_t i = 0; i < r->n_locks; i++) {
        const Condd__V1__LockInfo *in = r->locks[i];
        struct condd_lock_info *o = &l->locks[i];
        o->name = pool_add(&p, in->name.data, in->name.len);
        o->held = in->held;
        o->holder_session = in->holder_session;
        o->holder_client = pool_add(&p, in->holder_client, str_len(in->holder_client));
        o->holder_owner = in->holder_owner;
        o->token = in->token;
        o->waiters = in->waiters;
        o->shared = in->mode == CONDD__V1__LOCK_MODE__LOCK_MODE_SHARED;
        o->n_holders = in->n_holders;
        l->lock_hfirst[i] = lh;
        for (size_t j = 0; j < in->n_holders; j++, lh++) {
            const Condd__V1__LockHolder *hin = in->holders[j];
            l->lock_holders[lh].session = hin->session;
            l->lock_holders[lh].client = pool_add(&p, hin->client, str_len(hin->client));
            l->lock_holders[lh].owner = hin->owner;
            l->lock_holders[lh].token = hin->token;
        }
    }
    for (size_t i = 0; i < r->n_conditions; i++) {
        const Condd__V1__ConditionInfo *in = r->conditions[i];
        struct condd_cond_info *o = &l->conds[i];
        o->name = pool_add(&p, in->name.data, in->name.len);
        o->lock = pool_add(&p, in->lock.data, in->lock.len);
        o->waiters = in->waiters;
    }
    for (size_t i = 0; i < r->n_events; i++) {
        const Condd__V1__EventInfo *in = r->events[i];
        struct condd_event_info *o = &l->events[i];
        o->name = pool_add(&p, in->name.data, in->name.len);
        o->set = in->set;
        o->waiters = in->waiters;
    }
    l->n_events = r->n_events;
    for (size_t i = 0; i < r->n_barriers; i++) {
        const Condd__V1__BarrierInfo *in = r->barriers[i];
        struct condd_barrier_info *o = &l->barriers[i];
        o->name = pool_add(&p, in->name.data, in->name.len);
        o->parties = in->parties;
        o->n_waiting = in->n_waiting;
        o->broken = in->broken;
    }
    l->n_barriers = r->n_barriers;
    struct condd_sem_holder *h = l->holders;
    for (size_t i = 0; i < r->n_semaphores; i++) {
        const Condd__V1__SemaphoreInfo *in = r->semaphores[i];
        struct sem_impl *o = &l->sems[i];
        o->pub.name = pool_add(&p, in->name.data, in->name.len);
        o->pub.value = in->value;
        o->pub.bounded = in->bounded;
        o->pub.counter = in->counter;
        o->pub.waiters = in->waiters;
        o->pub.n_holders = in->n_holders;
        o->holders = h;
        for (size_t j = 0; j < in->n_holders; j++, h++) {
            const Condd__V1__SemHolder *hin = in->holders[j];
            h->session = hin->session;
            h->client = pool_add(&p, hin->client, str_len(hin->client));
            h->owner = hin->owner;
            h->permits = hin->permits;
            h->token = hin->token;
        }
    }
    l->n_sems = r->n_semaphores;
    l->n_locks = r->n_locks;
    l->n_conds = r->n_conditions;
    l->truncated = r->truncated;
    return l;
}

size_t condd_list_lock_count(const condd_list *list)
{
    return list != NULL ? list->n_locks : 0;
}

const struct condd_lock_info *condd_list_lock(const condd_list *list, size_t i)
{
    return list != NULL && i < list->n_locks ? &list->locks[i] : NULL;
}

const struct condd_lock_holder *condd_list_lock_holder(const condd_list *list, size_t lock_index,
                                                       size_t holder_index)
{
    if (list == NULL || lock_index >= list->n_locks ||
        holder_index >= list->locks[lock_index].n_holders)
        return NULL;
    return &list->lock_holders[list->lock_hfirst[lock_index] + holder_index];
}

size_t condd_list_cond_count(const condd_list *list)
{
    return list != NULL ? list->n_conds : 0;
}

const struct condd_cond_info *condd_list_cond(const condd_list *list, size_t i)
{
    return list != NULL && i < list->n_conds ? &list->conds[i] : NULL;
}

size_t condd_list_event_count(const condd_list *list)
{
    return list != NULL ? list->n_events : 0;
}

const struct condd_event_info *condd_list_event(const condd_list *list, size_t i)
{
    return list != NULL && i < list->n_events ? &list->events[i] : NULL;
}

size_t condd_list_barrier_count(const condd_list *list)
{
    return list != NULL ? list->n_barriers : 0;
}

const struct condd_barrier_info *condd_list_barrier(const condd_list *list, size_t i)
{
    return list != NULL && i < list->n_barriers ? &list->barriers[i] : NULL;
}

size_t condd_list_sem_count(const condd_list *list)
{
    return list != NULL ? list->n_sems : 0;
}

const struct condd_sem_info *condd_list_sem(const condd_list *list, size_t i)
{
    return list != NULL && i < list->n_sems ? &list->sems[i].pub : NULL;
}

const struct condd_sem_holder *condd_sem_info_holder(const struct condd_sem_info *info, size_t i)
{
    if (info == NULL || i >= info->n_holders)
        return NULL;
    return &((const struct sem_impl *)info)->holders[i];
}

bool condd_list_truncated(const condd_list *list)
{
    return list != NULL && list->truncated;
}

void condd_list_free(condd_list *list)
{
    if (list == NULL)
        return;
    free(list->locks);
    free(list->conds);
    free(list->events);
    free(list->barriers);
    free(list->sems);
    free(list->holders);
    free(list->lock_holders);
    free(list->lock_hfirst);
    free(list->strings);
    free(list);
}
