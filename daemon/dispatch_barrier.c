/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Dispatch of the barrier requests (BarrierWait, BarrierReset, BarrierAbort, BarrierState):
 * decoding their bodies into engine calls (engine.h, barrier.c) and building their results,
 * plus the barriers of a List reply. The reply helpers and the status mapping are dispatch.c's
 * (dispatch_internal.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "dispatch_internal.h"
#include "status.h"

/* The message of a VALUE_MISMATCH: the parties the barrier has and those asked, which the
 * engine's static text cannot carry. Only numbers: never the name. Other statuses keep msg. */
static const char *dispatch_barrier_mismatch(struct engine *e, enum engine_status st,
                                             const ProtobufCBinaryData *name, uint64_t parties,
                                             const char *msg, char *buf, size_t len)
{
    struct engine_barrier_info info;
    const char *ignored = NULL;
    if (st != ENGINE_VALUE_MISMATCH ||
        engine_barrier_state(e, name->data, name->len, &info, &ignored) != ENGINE_OK ||
        info.parties == 0 || info.parties == parties)
        return msg;
    snprintf(buf, len, "barrier exists with %" PRIu64 " parties (asked %" PRIu64 ")", info.parties,
             parties);
    return buf;
}

/* Answered through dispatch_barrier_answer(), now or (ENGINE_PENDING) later. */
void dispatch_barrier_wait(struct conn *c, uint64_t id, const Condd__V1__BarrierWait *m)
{
    struct engine_reply r = {.op = ENGINE_OP_BARRIER_WAIT, .req_id = id};
    r.status = engine_barrier_wait(c->sess, id, m->name.data, m->name.len, m->parties,
                                   dispatch_timeout(m->timeout), &r.index, &r.message);
    char buf[96];
    r.message = dispatch_barrier_mismatch(c->srv->engine, r.status, &m->name, m->parties, r.message,
                                          buf, sizeof buf);
    if (r.status != ENGINE_PENDING)
        dispatch_barrier_answer(c, &r, false);
}

void dispatch_barrier_answer(struct conn *c, const struct engine_reply *r, bool late)
{
    (void)late;
    if (r->status != ENGINE_OK) {
        dispatch_reply(c, r->req_id, STATS_OP_BARRIER_WAIT, status_to_wire(r->status), r->message);
        return;
    }
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__BarrierWaitResult wr = CONDD__V1__BARRIER_WAIT_RESULT__INIT;
    wr.index = r->index;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_BARRIER_WAIT;
    resp.barrier_wait = &wr;
    dispatch_ok(c, &resp, r->req_id, STATS_OP_BARRIER_WAIT);
}

void dispatch_barrier_reset(struct conn *c, uint64_t id, const Condd__V1__BarrierReset *m)
{
    const char *msg = NULL;
    uint64_t broken = 0;
    enum engine_status st =
        engine_barrier_reset(c->srv->engine, m->name.data, m->name.len, m->parties, &broken, &msg);
    if (st != ENGINE_OK) {
        char buf[96];
        msg = dispatch_barrier_mismatch(c->srv->engine, st, &m->name, m->parties, msg, buf,
                                        sizeof buf);
        dispatch_fail(c, id, STATS_OP_BARRIER_RESET, st, msg);
        return;
    }
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__BarrierResetResult r = CONDD__V1__BARRIER_RESET_RESULT__INIT;
    r.broken = broken;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_BARRIER_RESET;
    resp.barrier_reset = &r;
    dispatch_ok(c, &resp, id, STATS_OP_BARRIER_RESET);
}

void dispatch_barrier_abort(struct conn *c, uint64_t id, const Condd__V1__BarrierAbort *m)
{
    const char *msg = NULL;
    uint64_t broken = 0;
    enum engine_status st =
        engine_barrier_abort(c->srv->engine, m->name.data, m->name.len, m->parties, &broken, &msg);
    if (st != ENGINE_OK) {
        char buf[96];
        msg = dispatch_barrier_mismatch(c->srv->engine, st, &m->name, m->parties, msg, buf,
                                        sizeof buf);
        dispatch_fail(c, id, STATS_OP_BARRIER_ABORT, st, msg);
        return;
    }
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__BarrierAbortResult r = CONDD__V1__BARRIER_ABORT_RESULT__INIT;
    r.broken = broken;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_BARRIER_ABORT;
    resp.barrier_abort = &r;
    dispatch_ok(c, &resp, id, STATS_OP_BARRIER_ABORT);
}

void dispatch_barrier_state(struct conn *c, uint64_t id, const Condd__V1__BarrierState *m)
{
    const char *msg = NULL;
    struct engine_barrier_info info;
    enum engine_status st =
        engine_barrier_state(c->srv->engine, m->name.data, m->name.len, &info, &msg);
    if (st != ENGINE_OK) {
        dispatch_fail(c, id, STATS_OP_BARRIER_STATE, st, msg);
        return;
    }
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__BarrierStateResult r = CONDD__V1__BARRIER_STATE_RESULT__INIT;
    r.exists = info.parties != 0;
    r.parties = info.parties;
    r.n_waiting = info.n_waiting;
    r.broken = info.broken;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_BARRIER_STATE;
    resp.barrier_state = &r;
    dispatch_ok(c, &resp, id, STATS_OP_BARRIER_STATE);
}

/* ------------------------------------------------------------------ List */

struct barrier_list_ctx {
    struct dispatch_barrier_list *out;
    struct dispatch_items limits;
};

static void dispatch_list_barrier(void *arg, const struct engine_barrier_info *bi)
{
    struct barrier_list_ctx *x = arg;
    ProtobufCBinaryData name;
    Condd__V1__BarrierInfo *m = dispatch_item_new(&x->limits, x->out->n, sizeof *m, bi->name,
                                                  bi->name_len, bi->name_len + 40, &name);
    if (m == NULL)
        return;
    condd__v1__barrier_info__init(m);
    m->name = name;
    m->parties = bi->parties;
    m->n_waiting = bi->n_waiting;
    m->broken = bi->broken;
    x->out->items[x->out->n++] = m;
}

bool dispatch_barrier_list(struct conn *c, const ProtobufCBinaryData *prefix, size_t limit,
                           size_t *bytes, size_t max, bool *full, bool *oom,
                           struct dispatch_barrier_list *out)
{
    out->n = 0;
    out->items = calloc(limit > 0 ? limit : 1, sizeof *out->items);
    if (out->items == NULL) {
        *oom = true;
        return false;
    }
    struct barrier_list_ctx x = {.out = out, .limits = {limit, bytes, max, full, oom}};
    return engine_list_barriers(c->srv->engine, prefix->data, prefix->len, limit,
                                dispatch_list_barrier, &x);
}

void dispatch_barrier_list_free(struct dispatch_barrier_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i]->name.data);
        free(l->items[i]);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}
