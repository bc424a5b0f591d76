/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Semaphores in libcondd: condd_async_sem_acquire / _release / _locked, built like the lock
 * operations on ops.c's helpers (one Request on the stack, one pending entry naming the
 * callback), their answers (cl_sem_deliver(), called by cl_deliver()), and the blocking twins
 * condd_sem_*() on blocking.c's machinery. Cancel of a pending acquire goes through
 * condd_async_conn_cancel() like any other request.
 */
#include "config.h"

#include <math.h>

#include "internal.h"

/* ------------------------------------------------------------------ asynchronous */

void cl_sem_deliver(condd_async_conn *c, const struct cl_pending *p, int rc,
                    const Condd__V1__Response *r)
{
    bool ok = rc == CONDD_OK && r != NULL;
    switch (p->op) {
    case CL_OP_SEM_ACQUIRE: {
        uint64_t token = 0;
        if (ok && r->result_case == CONDD__V1__RESPONSE__RESULT_SEM_ACQUIRE &&
            r->sem_acquire != NULL)
            token = r->sem_acquire->token;
        ((condd_async_token_cb)p->cb)(c, rc, token, p->arg);
        break;
    }
    case CL_OP_SEM_RELEASE:
        if (p->cb != NULL)
            ((condd_async_result_cb)p->cb)(c, rc, p->arg);
        break;
    case CL_OP_SEM_LOCKED: {
        struct condd_sem_state st = {0};
        if (ok && r->result_case == CONDD__V1__RESPONSE__RESULT_SEM_LOCKED &&
            r->sem_locked != NULL) {
            st.exists = r->sem_locked->exists;
            st.locked = r->sem_locked->locked;
            st.value = r->sem_locked->value;
            st.held = r->sem_locked->held;
        }
        ((condd_async_sem_locked_cb)p->cb)(c, rc, rc == CONDD_OK ? &st : NULL, p->arg);
        break;
    }
    default:
        break;
    }
}

int condd_async_sem_acquire(condd_async_conn *c, const char *name, uint32_t value, bool bounded,
                            uint64_t owner, double timeout, condd_async_token_cb cb, void *arg,
                            uint64_t *req_id)
{
    if (c == NULL || name == NULL || cb == NULL || isnan(timeout))
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__SemAcquire body = CONDD__V1__SEM_ACQUIRE__INIT;
    Condd__V1__Timeout to = CONDD__V1__TIMEOUT__INIT;
    body.name = cl_op_name(name);
    body.owner = owner;
    body.value = value;
    body.bounded = bounded;
    cl_op_timeout(&to, timeout, &body.timeout);
    req.body_case = CONDD__V1__REQUEST__BODY_SEM_ACQUIRE;
    req.sem_acquire = &body;
    return cl_op_submit(c, &req, CL_OP_SEM_ACQUIRE, (cl_fn)cb, arg, req_id);
}

int condd_async_sem_release(condd_async_conn *c, const char *name, uint32_t value, bool bounded,
                            uint64_t owner, condd_async_result_cb cb, void *arg)
{
    if (c == NULL || name == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__SemRelease body = CONDD__V1__SEM_RELEASE__INIT;
    body.name = cl_op_name(name);
    body.owner = owner;
    body.value = value;
    body.bounded = bounded;
    req.body_case = CONDD__V1__REQUEST__BODY_SEM_RELEASE;
    req.sem_release = &body;
    return cl_op_submit(c, &req, CL_OP_SEM_RELEASE, (cl_fn)cb, arg, NULL);
}

int condd_async_sem_locked(condd_async_conn *c, const char *name, condd_async_sem_locked_cb cb,
                           void *arg)
{
    if (c == NULL || name == NULL || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__SemLocked body = CONDD__V1__SEM_LOCKED__INIT;
    body.name = cl_op_name(name);
    req.body_case = CONDD__V1__REQUEST__BODY_SEM_LOCKED;
    req.sem_locked = &body;
    return cl_op_submit(c, &req, CL_OP_SEM_LOCKED, (cl_fn)cb, arg, NULL);
}

/* ------------------------------------------------------------------ blocking */

int condd_sem_acquire(condd_conn *conn, const char *name, uint32_t value, bool bounded,
                      uint64_t owner, double timeout, uint64_t *token)
{
    struct cl_answer a;
    int rc = cl_block_begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = cl_block_run(conn, &a,
                      condd_async_sem_acquire(condd_conn_async(conn), name, value, bounded, owner,
                                              timeout, cl_block_on_token, &a, NULL));
    if (token != NULL)
        *token = rc == CONDD_OK ? a.u64 : 0;
    return rc;
}

int condd_sem_release(condd_conn *conn, const char *name, uint32_t value, bool bounded,
                      uint64_t owner)
{
    struct cl_answer a;
    int rc = cl_block_begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    return cl_block_run(conn, &a,
                        condd_async_sem_release(condd_conn_async(conn), name, value, bounded, owner,
                                                cl_block_on_result, &a));
}

static void on_sem_locked(condd_async_conn *c, int rc, const struct condd_sem_state *st, void *arg)
{
    struct cl_answer *a = arg;
    if (st != NULL)
        a->sem = *st;
    cl_block_record(c, a, rc);
}

int condd_sem_locked(condd_conn *conn, const char *name, struct condd_sem_state *state)
{
    if (state == NULL)
        return CONDD_ERR_INVALID;
    struct cl_answer a;
    int rc = cl_block_begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = cl_block_run(conn, &a,
                      condd_async_sem_locked(condd_conn_async(conn), name, on_sem_locked, &a));
    if (rc == CONDD_OK)
        *state = a.sem;
    return rc;
}
