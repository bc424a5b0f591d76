/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Barriers (asyncio.Barrier over the network): the asynchronous calls condd_async_barrier_*,
 * which build their Request on the stack and submit it through ops.c's helpers, the delivery of
 * their answers (cl_barrier_deliver(), called by cl_deliver()), and the blocking twins
 * condd_barrier_*, built on the asynchronous calls through blocking.c's call helpers. Cancel of
 * a pending wait goes through condd_async_conn_cancel() like any other request.
 */
#include "config.h"

#include <math.h>

#include "internal.h"

/* ------------------------------------------------------------------ delivery */

void cl_barrier_deliver(condd_async_conn *c, const struct cl_pending *p, int rc,
                        const Condd__V1__Response *r)
{
    bool ok = rc == CONDD_OK && r != NULL;
    switch (p->op) {
    case CL_OP_BARRIER_WAIT: {
        uint32_t index = 0;
        if (ok && r->result_case == CONDD__V1__RESPONSE__RESULT_BARRIER_WAIT &&
            r->barrier_wait != NULL)
            index = r->barrier_wait->index;
        ((condd_async_index_cb)p->cb)(c, rc, index, p->arg);
        break;
    }
    case CL_OP_BARRIER_RESET: {
        uint64_t broken = 0;
        if (ok && r->result_case == CONDD__V1__RESPONSE__RESULT_BARRIER_RESET &&
            r->barrier_reset != NULL)
            broken = r->barrier_reset->broken;
        ((condd_async_notify_cb)p->cb)(c, rc, broken, p->arg);
        break;
    }
    case CL_OP_BARRIER_ABORT: {
        uint64_t broken = 0;
        if (ok && r->result_case == CONDD__V1__RESPONSE__RESULT_BARRIER_ABORT &&
            r->barrier_abort != NULL)
            broken = r->barrier_abort->broken;
        ((condd_async_notify_cb)p->cb)(c, rc, broken, p->arg);
        break;
    }
    case CL_OP_BARRIER_STATE: {
        struct condd_barrier_state st = {0};
        if (ok && r->result_case == CONDD__V1__RESPONSE__RESULT_BARRIER_STATE &&
            r->barrier_state != NULL) {
            st.exists = r->barrier_state->exists;
            st.parties = r->barrier_state->parties;
            st.n_waiting = r->barrier_state->n_waiting;
            st.broken = r->barrier_state->broken;
        }
        ((condd_async_barrier_state_cb)p->cb)(c, rc, rc == CONDD_OK ? &st : NULL, p->arg);
        break;
    }
    default:
        break;
    }
}

/* ------------------------------------------------------------------ asynchronous */

int condd_async_barrier_wait(condd_async_conn *c, const char *name, uint32_t parties,
                             double timeout, condd_async_index_cb cb, void *arg, uint64_t *req_id)
{
    if (c == NULL || name == NULL || cb == NULL || isnan(timeout))
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__BarrierWait body = CONDD__V1__BARRIER_WAIT__INIT;
    Condd__V1__Timeout to = CONDD__V1__TIMEOUT__INIT;
    body.name = cl_op_name(name);
    body.parties = parties;
    cl_op_timeout(&to, timeout, &body.timeout);
    req.body_case = CONDD__V1__REQUEST__BODY_BARRIER_WAIT;
    req.barrier_wait = &body;
    return cl_op_submit(c, &req, CL_OP_BARRIER_WAIT, (cl_fn)cb, arg, req_id);
}

int condd_async_barrier_reset(condd_async_conn *c, const char *name, uint32_t parties,
                              condd_async_notify_cb cb, void *arg)
{
    if (c == NULL || name == NULL || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__BarrierReset body = CONDD__V1__BARRIER_RESET__INIT;
    body.name = cl_op_name(name);
    body.parties = parties;
    req.body_case = CONDD__V1__REQUEST__BODY_BARRIER_RESET;
    req.barrier_reset = &body;
    return cl_op_submit(c, &req, CL_OP_BARRIER_RESET, (cl_fn)cb, arg, NULL);
}

int condd_async_barrier_abort(condd_async_conn *c, const char *name, uint32_t parties,
                              condd_async_notify_cb cb, void *arg)
{
    if (c == NULL || name == NULL || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__BarrierAbort body = CONDD__V1__BARRIER_ABORT__INIT;
    body.name = cl_op_name(name);
    body.parties = parties;
    req.body_case = CONDD__V1__REQUEST__BODY_BARRIER_ABORT;
    req.barrier_abort = &body;
    return cl_op_submit(c, &req, CL_OP_BARRIER_ABORT, (cl_fn)cb, arg, NULL);
}

int condd_async_barrier_state(condd_async_conn *c, const char *name,
                              condd_async_barrier_state_cb cb, void *arg)
{
    if (c == NULL || name == NULL || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__BarrierState body = CONDD__V1__BARRIER_STATE__INIT;
    body.name = cl_op_name(name);
    req.body_case = CONDD__V1__REQUEST__BODY_BARRIER_STATE;
    req.barrier_state = &body;
    return cl_op_submit(c, &req, CL_OP_BARRIER_STATE, (cl_fn)cb, arg, NULL);
}

/* ------------------------------------------------------------------ blocking */

static void on_index(condd_async_conn *c, int rc, uint32_t index, void *arg)
{
    struct cl_answer *a = arg;
    a->u64 = index;
    cl_block_record(c, a, rc);
}

int condd_barrier_wait(condd_conn *conn, const char *name, uint32_t parties, double timeout,
                       uint32_t *index)
{
    struct cl_answer a;
    int rc = cl_block_begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = cl_block_run(conn, &a,
                      condd_async_barrier_wait(condd_conn_async(conn), name, parties, timeout,
                                               on_index, &a, NULL));
    if (index != NULL)
        *index = rc == CONDD_OK ? (uint32_t)a.u64 : 0;
    return rc;
}

int condd_barrier_reset(condd_conn *conn, const char *name, uint32_t parties, uint64_t *broken)
{
    struct cl_answer a;
    int rc = cl_block_begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = cl_block_run(
        conn, &a,
        condd_async_barrier_reset(condd_conn_async(conn), name, parties, cl_block_on_count, &a));
    if (broken != NULL)
        *broken = rc == CONDD_OK ? a.u64 : 0;
    return rc;
}

int condd_barrier_abort(condd_conn *conn, const char *name, uint32_t parties, uint64_t *broken)
{
    struct cl_answer a;
    int rc = cl_block_begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = cl_block_run(
        conn, &a,
        condd_async_barrier_abort(condd_conn_async(conn), name, parties, cl_block_on_count, &a));
    if (broken != NULL)
        *broken = rc == CONDD_OK ? a.u64 : 0;
    return rc;
}

static void on_barrier_state(condd_async_conn *c, int rc, const struct condd_barrier_state *st,
                             void *arg)
{
    struct cl_answer *a = arg;
    if (st != NULL)
        a->barrier = *st;
    cl_block_record(c, a, rc);
}

int condd_barrier_state(condd_conn *conn, const char *name, struct condd_barrier_state *state)
{
    if (state == NULL)
        return CONDD_ERR_INVALID;
    struct cl_answer a;
    int rc = cl_block_begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = cl_block_run(
        conn, &a, condd_async_barrier_state(condd_conn_async(conn), name, on_barrier_state, &a));
    if (rc == CONDD_OK)
        *state = a.barrier;
    return rc;
}
