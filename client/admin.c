/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Operator controls (protocol.md §5.9): condd_async_lock_break, condd_async_sem_break and
 * condd_async_conn_kill_session, the delivery of their answers (cl_admin_deliver(), called by
 * cl_deliver()), and their blocking twins, built on the asynchronous calls through blocking.c's
 * call helpers.
 */
#include "config.h"

#include "internal.h"

/* ------------------------------------------------------------------ delivery */

void cl_admin_deliver(condd_async_conn *c, const struct cl_pending *p, int rc,
                      const Condd__V1__Response *r)
{
    if (p->op == CL_OP_BREAK) {
        uint64_t n = 0;
        if (rc == CONDD_OK && r != NULL &&
            r->result_case == CONDD__V1__RESPONSE__RESULT_BREAK_HOLDERS && r->break_holders != NULL)
            n = r->break_holders->n_sessions;
        ((condd_async_notify_cb)p->cb)(c, rc, n, p->arg);
        return;
    }
    ((condd_async_result_cb)p->cb)(c, rc, p->arg); /* CL_OP_KILL_SESSION */
}

/* ------------------------------------------------------------------ asynchronous */

static int cl_break(condd_async_conn *c, const char *name, Condd__V1__BreakKind kind,
                    condd_async_notify_cb cb, void *arg)
{
    if (c == NULL || name == NULL || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Break body = CONDD__V1__BREAK__INIT;
    body.name = cl_op_name(name);
    body.kind = kind;
    req.body_case = CONDD__V1__REQUEST__BODY_BREAK_HOLDERS;
    req.break_holders = &body;
    return cl_op_submit(c, &req, CL_OP_BREAK, (cl_fn)cb, arg, NULL);
}

int condd_async_lock_break(condd_async_conn *c, const char *lock, condd_async_notify_cb cb,
                           void *arg)
{
    return cl_break(c, lock, CONDD__V1__BREAK_KIND__BREAK_LOCK, cb, arg);
}

int condd_async_sem_break(condd_async_conn *c, const char *name, condd_async_notify_cb cb,
                          void *arg)
{
    return cl_break(c, name, CONDD__V1__BREAK_KIND__BREAK_SEMAPHORE, cb, arg);
}

int condd_async_conn_kill_session(condd_async_conn *c, uint64_t session, condd_async_result_cb cb,
                                  void *arg)
{
    if (c == NULL || session == 0 || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__KillSession body = CONDD__V1__KILL_SESSION__INIT;
    body.session = session;
    req.body_case = CONDD__V1__REQUEST__BODY_KILL_SESSION;
    req.kill_session = &body;
    return cl_op_submit(c, &req, CL_OP_KILL_SESSION, (cl_fn)cb, arg, NULL);
}

/* ------------------------------------------------------------------ blocking */

int condd_lock_break(condd_conn *conn, const char *lock, uint64_t *ended)
{
    struct cl_answer a;
    int rc = cl_block_begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = cl_block_run(conn, &a,
                      condd_async_lock_break(condd_conn_async(conn), lock, cl_block_on_count, &a));
    if (ended != NULL)
        *ended = rc == CONDD_OK ? a.u64 : 0;
    return rc;
}

int condd_sem_break(condd_conn *conn, const char *name, uint64_t *ended)
{
    struct cl_answer a;
    int rc = cl_block_begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = cl_block_run(conn, &a,
                      condd_async_sem_break(condd_conn_async(conn), name, cl_block_on_count, &a));
    if (ended != NULL)
        *ended = rc == CONDD_OK ? a.u64 : 0;
    return rc;
}

int condd_conn_kill_session(condd_conn *conn, uint64_t session)
{
    struct cl_answer a;
    int rc = cl_block_begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    return cl_block_run(
        conn, &a,
        condd_async_conn_kill_session(condd_conn_async(conn), session, cl_block_on_result, &a));
}
