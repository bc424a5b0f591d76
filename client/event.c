/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Events (asyncio.Event over the network): the asynchronous calls condd_async_event_*, which
 * build their Request on the stack and submit it through ops.c's helpers, the delivery of their
 * answers (cl_event_deliver(), called by cl_deliver()), and the blocking twins condd_event_*,
 * built on the asynchronous calls through blocking.c's call helpers.
 */
#include "config.h"

#include <math.h>

#include "internal.h"

/* ------------------------------------------------------------------ delivery */

void cl_event_deliver(condd_async_conn *c, const struct cl_pending *p, int rc,
                      const Condd__V1__Response *r)
{
    bool ok = rc == CONDD_OK && r != NULL;
    switch (p->op) {
    case CL_OP_EVENT_SET: {
        uint64_t woken = 0;
        if (ok && r->result_case == CONDD__V1__RESPONSE__RESULT_EVENT_SET && r->event_set != NULL)
            woken = r->event_set->woken;
        ((condd_async_notify_cb)p->cb)(c, rc, woken, p->arg);
        break;
    }
    case CL_OP_EVENT_IS_SET: {
        bool set = ok && r->result_case == CONDD__V1__RESPONSE__RESULT_EVENT_IS_SET &&
                   r->event_is_set != NULL && r->event_is_set->set;
        ((condd_async_locked_cb)p->cb)(c, rc, set, p->arg);
        break;
    }
    default: /* CL_OP_EVENT_CLEAR, CL_OP_EVENT_WAIT */
        ((condd_async_result_cb)p->cb)(c, rc, p->arg);
        break;
    }
}

/* ------------------------------------------------------------------ asynchronous */

int condd_async_event_set(condd_async_conn *c, const char *name, condd_async_notify_cb cb,
                          void *arg)
{
    if (c == NULL || name == NULL || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__EventSet body = CONDD__V1__EVENT_SET__INIT;
    body.name = cl_op_name(name);
    req.body_case = CONDD__V1__REQUEST__BODY_EVENT_SET;
    req.event_set = &body;
    return cl_op_submit(c, &req, CL_OP_EVENT_SET, (cl_fn)cb, arg, NULL);
}

int condd_async_event_clear(condd_async_conn *c, const char *name, condd_async_result_cb cb,
                            void *arg)
{
    if (c == NULL || name == NULL || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__EventClear body = CONDD__V1__EVENT_CLEAR__INIT;
    body.name = cl_op_name(name);
    req.body_case = CONDD__V1__REQUEST__BODY_EVENT_CLEAR;
    req.event_clear = &body;
    return cl_op_submit(c, &req, CL_OP_EVENT_CLEAR, (cl_fn)cb, arg, NULL);
}

int condd_async_event_is_set(condd_async_conn *c, const char *name, condd_async_locked_cb cb,
                             void *arg)
{
    if (c == NULL || name == NULL || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__EventIsSet body = CONDD__V1__EVENT_IS_SET__INIT;
    body.name = cl_op_name(name);
    req.body_case = CONDD__V1__REQUEST__BODY_EVENT_IS_SET;
    req.event_is_set = &body;
    return cl_op_submit(c, &req, CL_OP_EVENT_IS_SET, (cl_fn)cb, arg, NULL);
}

int condd_async_event_wait(condd_async_conn *c, const char *name, double timeout,
                           condd_async_result_cb cb, void *arg, uint64_t *req_id)
{
    if (c == NULL || name == NULL || cb == NULL || isnan(timeout))
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__EventWait body = CONDD__V1__EVENT_WAIT__INIT;
    Condd__V1__Timeout to = CONDD__V1__TIMEOUT__INIT;
    body.name = cl_op_name(name);
    cl_op_timeout(&to, timeout, &body.timeout);
    req.body_case = CONDD__V1__REQUEST__BODY_EVENT_WAIT;
    req.event_wait = &body;
    return cl_op_submit(c, &req, CL_OP_EVENT_WAIT, (cl_fn)cb, arg, req_id);
}

/* ------------------------------------------------------------------ blocking */

int condd_event_set(condd_conn *conn, const char *name, uint64_t *woken)
{
    struct cl_answer a;
    int rc = cl_block_begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = cl_block_run(conn, &a,
                      condd_async_event_set(condd_conn_async(conn), name, cl_block_on_count, &a));
    if (woken != NULL)
        *woken = rc == CONDD_OK ? a.u64 : 0;
    return rc;
}

int condd_event_clear(condd_conn *conn, const char *name)
{
    struct cl_answer a;
    int rc = cl_block_begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    return cl_block_run(
        conn, &a, condd_async_event_clear(condd_conn_async(conn), name, cl_block_on_result, &a));
}

int condd_event_is_set(condd_conn *conn, const char *name, bool *set)
{
    if (set == NULL)
        return CONDD_ERR_INVALID;
    struct cl_answer a;
    int rc = cl_block_begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = cl_block_run(conn, &a,
                      condd_async_event_is_set(condd_conn_async(conn), name, cl_block_on_flag, &a));
    if (rc == CONDD_OK)
        *set = a.flag;
    return rc;
}

int condd_event_wait(condd_conn *conn, const char *name, double timeout)
{
    struct cl_answer a;
    int rc = cl_block_begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    return cl_block_run(conn, &a,
                        condd_async_event_wait(condd_conn_async(conn), name, timeout,
                                               cl_block_on_result, &a, NULL));
}
