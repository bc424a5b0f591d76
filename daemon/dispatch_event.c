/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Dispatch of the event requests (EventSet, EventClear, EventIsSet, EventWait): decoding their
 * bodies into engine calls (engine.h, event.c) and building their results, plus the events of
 * a List reply. The reply helpers and the status mapping are dispatch.c's (dispatch_internal.h).
 */
#include "config.h"

#include <stdlib.h>

#include "dispatch_internal.h"
#include "status.h"

void dispatch_event_set(struct conn *c, uint64_t id, const Condd__V1__EventSet *m)
{
    const char *msg = NULL;
    uint64_t woken = 0;
    enum engine_status st =
        engine_event_set(c->srv->engine, m->name.data, m->name.len, &woken, &msg);
    if (st != ENGINE_OK) {
        dispatch_fail(c, id, STATS_OP_EVENT_SET, st, msg);
        return;
    }
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__EventSetResult r = CONDD__V1__EVENT_SET_RESULT__INIT;
    r.woken = woken;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_EVENT_SET;
    resp.event_set = &r;
    dispatch_ok(c, &resp, id, STATS_OP_EVENT_SET);
}

void dispatch_event_clear(struct conn *c, uint64_t id, const Condd__V1__EventClear *m)
{
    const char *msg = NULL;
    enum engine_status st = engine_event_clear(c->srv->engine, m->name.data, m->name.len, &msg);
    if (st != ENGINE_OK) {
        dispatch_fail(c, id, STATS_OP_EVENT_CLEAR, st, msg);
        return;
    }
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__EventClearResult r = CONDD__V1__EVENT_CLEAR_RESULT__INIT;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_EVENT_CLEAR;
    resp.event_clear = &r;
    dispatch_ok(c, &resp, id, STATS_OP_EVENT_CLEAR);
}

void dispatch_event_is_set(struct conn *c, uint64_t id, const Condd__V1__EventIsSet *m)
{
    const char *msg = NULL;
    bool set = false;
    enum engine_status st =
        engine_event_is_set(c->srv->engine, m->name.data, m->name.len, &set, &msg);
    if (st != ENGINE_OK) {
        dispatch_fail(c, id, STATS_OP_EVENT_IS_SET, st, msg);
        return;
    }
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__EventIsSetResult r = CONDD__V1__EVENT_IS_SET_RESULT__INIT;
    r.set = set;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_EVENT_IS_SET;
    resp.event_is_set = &r;
    dispatch_ok(c, &resp, id, STATS_OP_EVENT_IS_SET);
}

/* Answered through dispatch_event_answer(), now or (ENGINE_PENDING) later. */
void dispatch_event_wait(struct conn *c, uint64_t id, const Condd__V1__EventWait *m)
{
    struct engine_reply r = {.op = ENGINE_OP_EVENT_WAIT, .req_id = id};
    r.status = engine_event_wait(c->sess, id, m->name.data, m->name.len,
                                 dispatch_timeout(m->timeout), &r.message);
    if (r.status != ENGINE_PENDING)
        dispatch_event_answer(c, &r, false);
}

void dispatch_event_answer(struct conn *c, const struct engine_reply *r, bool late)
{
    (void)late;
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__EventWaitResult wr = CONDD__V1__EVENT_WAIT_RESULT__INIT;
    int status = status_to_wire(r->status);
    if (r->status == ENGINE_OK) {
        resp.result_case = CONDD__V1__RESPONSE__RESULT_EVENT_WAIT;
        resp.event_wait = &wr;
        dispatch_ok(c, &resp, r->req_id, STATS_OP_EVENT_WAIT);
        return;
    }
    dispatch_reply(c, r->req_id, STATS_OP_EVENT_WAIT, status, r->message);
}

/* ------------------------------------------------------------------ List */

struct event_list_ctx {
    struct dispatch_event_list *out;
    struct dispatch_items limits;
};

static void dispatch_list_event(void *arg, const struct engine_event_info *ei)
{
    struct event_list_ctx *x = arg;
    ProtobufCBinaryData name;
    Condd__V1__EventInfo *m = dispatch_item_new(&x->limits, x->out->n, sizeof *m, ei->name,
                                                ei->name_len, ei->name_len + 32, &name);
    if (m == NULL)
        return;
    condd__v1__event_info__init(m);
    m->name = name;
    m->set = ei->set;
    m->waiters = ei->waiters;
    x->out->items[x->out->n++] = m;
}

bool dispatch_event_list(struct conn *c, const ProtobufCBinaryData *prefix, size_t limit,
                         size_t *bytes, size_t max, bool *full, bool *oom,
                         struct dispatch_event_list *out)
{
    out->n = 0;
    out->items = calloc(limit > 0 ? limit : 1, sizeof *out->items);
    if (out->items == NULL) {
        *oom = true;
        return false;
    }
    struct event_list_ctx x = {.out = out, .limits = {limit, bytes, max, full, oom}};
    return engine_list_events(c->srv->engine, prefix->data, prefix->len, limit, dispatch_list_event,
                              &x);
}

void dispatch_event_list_free(struct dispatch_event_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i]->name.data);
        free(l->items[i]);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}
