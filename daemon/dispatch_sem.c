/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Dispatch of the semaphore requests (SemAcquire, SemRelease, SemLocked): decoding their bodies
 * into engine calls, building their results, and the semaphores of a List reply. Replies go
 * through dispatch.c's helpers (dispatch_internal.h), so they are counted like every other
 * request; a SemAcquire is answered through dispatch_answer() whether at once or late.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_internal.h"
#include "stats.h"

/* ------------------------------------------------------------------ requests */

/* The message of a VALUE_MISMATCH over another value: the value the semaphore has and the one
 * asked, which the engine's static text cannot carry (a client fixes its value from it). Only
 * numbers: never the name. Any other status (a kind mismatch among them) keeps msg. */
static const char *dispatch_sem_mismatch(struct engine *e, enum engine_status st,
                                         const ProtobufCBinaryData *name, uint64_t value,
                                         bool bounded, const char *msg, char *buf, size_t len)
{
    uint64_t have;
    bool have_bounded;
    if (st != ENGINE_VALUE_MISMATCH ||
        !engine_sem_value(e, name->data, name->len, &have, &have_bounded) ||
        have_bounded != bounded || have == value)
        return msg;
    snprintf(buf, len, "semaphore exists with value %" PRIu64 " (asked %" PRIu64 ")", have, value);
    return buf;
}

void dispatch_sem_answer(struct conn *c, Condd__V1__Response *resp, const struct engine_reply *r)
{
    struct stats *stats = &c->srv->stats;
    Condd__V1__SemAcquireResult ar = CONDD__V1__SEM_ACQUIRE_RESULT__INIT;
    stats_count(stats, STATS_OP_SEM_ACQUIRE, (int)resp->status);
    if (r->status == ENGINE_OK) {
        stats_hist_add(&stats->grant_latency, r->elapsed_s);
        ar.token = r->token;
        resp->result_case = CONDD__V1__RESPONSE__RESULT_SEM_ACQUIRE;
        resp->sem_acquire = &ar;
    }
    conn_send(c, &resp->base);
}

void dispatch_sem_acquire(struct conn *c, uint64_t id, const Condd__V1__SemAcquire *a)
{
    struct engine_reply r = {.op = ENGINE_OP_SEM_ACQUIRE, .req_id = id};
    r.status = engine_sem_acquire(c->sess, id, a->name.data, a->name.len, a->value, a->bounded,
                                  a->owner, dispatch_timeout(a->timeout), &r.token, &r.message);
    char buf[96];
    r.message = dispatch_sem_mismatch(c->srv->engine, r.status, &a->name, a->value, a->bounded,
                                      r.message, buf, sizeof buf);
    if (r.status != ENGINE_PENDING)
        dispatch_answer(c, &r, false);
}

void dispatch_sem_release(struct conn *c, uint64_t id, const Condd__V1__SemRelease *r)
{
    const char *msg = NULL;
    enum engine_status st = engine_sem_release(c->sess, r->name.data, r->name.len, r->value,
                                               r->bounded, r->owner, &msg);
    if (st != ENGINE_OK) {
        char buf[96];
        msg = dispatch_sem_mismatch(c->srv->engine, st, &r->name, r->value, r->bounded, msg, buf,
                                    sizeof buf);
        dispatch_fail(c, id, STATS_OP_SEM_RELEASE, st, msg);
        return;
    }
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__SemReleaseResult rr = CONDD__V1__SEM_RELEASE_RESULT__INIT;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_SEM_RELEASE;
    resp.sem_release = &rr;
    dispatch_ok(c, &resp, id, STATS_OP_SEM_RELEASE);
}

void dispatch_sem_locked(struct conn *c, uint64_t id, const Condd__V1__SemLocked *l)
{
    const char *msg = NULL;
    Condd__V1__SemLockedResult lr = CONDD__V1__SEM_LOCKED_RESULT__INIT;
    bool exists, locked;
    uint64_t counter, held;
    enum engine_status st = engine_sem_locked(c->srv->engine, l->name.data, l->name.len, &exists,
                                              &locked, &counter, &held, &msg);
    if (st != ENGINE_OK) {
        dispatch_fail(c, id, STATS_OP_SEM_LOCKED, st, msg);
        return;
    }
    lr.locked = locked;
    lr.exists = exists;
    lr.value = counter;
    lr.held = held;
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_SEM_LOCKED;
    resp.sem_locked = &lr;
    dispatch_ok(c, &resp, id, STATS_OP_SEM_LOCKED);
}

/* ------------------------------------------------------------------ List */

static void dispatch_sem_on_sem(void *arg, const struct engine_sem_info *si)
{
    struct dispatch_sem_list *dsl = arg;
    if (dsl->oom || dsl->truncated)
        return;
    size_t cost = si->name_len + 64;
    if (dsl->n == dsl->cap || dsl->bytes + cost > dsl->budget) {
        dsl->truncated = true;
        return;
    }
    dsl->bytes += cost;
    Condd__V1__SemaphoreInfo *m = calloc(1, sizeof *m);
    Condd__V1__SemHolder **holders =
        si->nholders > 0 ? calloc((size_t)si->nholders, sizeof *holders) : NULL;
    if (m == NULL || (si->nholders > 0 && holders == NULL)) {
        free(m);
        free(holders);
        dsl->oom = true;
        return;
    }
    condd__v1__semaphore_info__init(m);
    m->name.data = dispatch_dup(si->name, si->name_len, &dsl->oom);
    m->name.len = si->name_len;
    m->value = si->value;
    m->bounded = si->bounded;
    m->counter = si->counter;
    m->waiters = si->waiters;
    m->holders = holders;
    dsl->items[dsl->n++] = m;
}

static void dispatch_sem_on_holder(void *arg, const struct engine_sem_holder_info *hi)
{
    struct dispatch_sem_list *dsl = arg;
    if (dsl->oom || dsl->truncated || dsl->n == 0)
        return;
    Condd__V1__SemaphoreInfo *m = dsl->items[dsl->n - 1];
    size_t cost = strlen(hi->client) + 48;
    if (dsl->bytes + cost > dsl->budget) {
        dsl->truncated = true; /* the holders shown are a prefix of the holders */
        return;
    }
    dsl->bytes += cost;
    Condd__V1__SemHolder *h = malloc(sizeof *h);
    if (h == NULL) {
        dsl->oom = true;
        return;
    }
    condd__v1__sem_holder__init(h);
    h->session = hi->session_id;
    h->client = dispatch_dup(hi->client, strlen(hi->client), &dsl->oom);
    h->owner = hi->owner;
    h->permits = hi->permits;
    h->token = hi->token;
    m->holders[m->n_holders++] = h;
}

void dispatch_sem_list(struct engine *e, const ProtobufCBinaryData *prefix, size_t limit,
                       size_t budget, struct dispatch_sem_list *dsl)
{
    dsl->cap = limit;
    dsl->budget = budget;
    dsl->items = calloc(limit, sizeof *dsl->items);
    if (dsl->items == NULL) {
        dsl->oom = true;
        return;
    }
    if (engine_list_sems(e, prefix->data, prefix->len, limit, dispatch_sem_on_sem,
                         dispatch_sem_on_holder, dsl))
        dsl->truncated = true;
}

void dispatch_sem_list_free(struct dispatch_sem_list *dsl)
{
    for (size_t i = 0; i < dsl->n; i++) {
        Condd__V1__SemaphoreInfo *m = dsl->items[i];
        for (size_t j = 0; j < m->n_holders; j++) {
            free(m->holders[j]->client);
            free(m->holders[j]);
        }
        free(m->holders);
        free(m->name.data);
        free(m);
    }
    free(dsl->items);
}
