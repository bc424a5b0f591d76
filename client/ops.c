/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The asynchronous operations: each public call checks its arguments, builds its Request on the
 * stack (no heap), and hands it to the connection with a pending entry naming its callback;
 * cl_deliver() turns the answer (or a connection error) into that callback's typed arguments.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------ helpers */

static ProtobufCBinaryData name_of(const char *s)
{
    ProtobufCBinaryData b = {strlen(s), (uint8_t *)s};
    return b;
}

/* Sets *field to t holding timeout, or leaves it NULL (forever) for negative or infinite. */
static void set_timeout(Condd__V1__Timeout *t, double timeout, Condd__V1__Timeout **field)
{
    if (timeout < 0 || isinf(timeout))
        return;
    t->seconds = timeout;
    *field = t;
}

static int submit(condd_async_conn *c, Condd__V1__Request *req, enum cl_op op, cl_fn cb, void *arg,
                  uint64_t *req_id)
{
    req->id = cl_next_id(c);
    struct cl_pending p = {.id = req->id, .op = op, .cb = cb, .arg = arg};
    int rc = cl_submit(c, req, &p);
    if (rc == CONDD_OK && req_id != NULL)
        *req_id = req->id;
    return rc;
}

ProtobufCBinaryData cl_op_name(const char *name)
{
    return name_of(name);
}

void cl_op_timeout(Condd__V1__Timeout *t, double timeout, Condd__V1__Timeout **field)
{
    set_timeout(t, timeout, field);
}

int cl_op_submit(condd_async_conn *c, Condd__V1__Request *req, enum cl_op op, cl_fn cb, void *arg,
                 uint64_t *req_id)
{
    return submit(c, req, op, cb, arg, req_id);
}

/* ------------------------------------------------------------------ delivery */

void cl_deliver(condd_async_conn *c, const struct cl_pending *p, int rc,
                const Condd__V1__Response *r)
{
    bool ok = rc == CONDD_OK && r != NULL;
    uint64_t token = 0;
    cl_cluster_note(c);
    switch (p->op) {
    case CL_OP_PING:
        ((condd_async_result_cb)p->cb)(c, rc, p->arg);
        break;
    case CL_OP_RELEASE:
    case CL_OP_CANCEL:
        if (p->cb != NULL)
            ((condd_async_result_cb)p->cb)(c, rc, p->arg);
        break;
    case CL_OP_CANCEL_OK:
        if (p->cb != NULL)
            ((condd_async_result_cb)p->cb)(c, condd_result_is_connection_error(rc) ? rc : CONDD_OK,
                                           p->arg);
        break;
    case CL_OP_ACQUIRE:
        if (ok && r->result_case == CONDD__V1__RESPONSE__RESULT_ACQUIRE && r->acquire != NULL)
            token = r->acquire->token;
        ((condd_async_token_cb)p->cb)(c, rc, token, p->arg);
        break;
    case CL_OP_WAIT:
    case CL_OP_WF_WAIT:
        /* A wait answers TIMEOUT and CANCELLED with the lock held again: keep their token. */
        if (r != NULL && r->result_case == CONDD__V1__RESPONSE__RESULT_WAIT && r->wait != NULL)
            token = r->wait->token;
        if (p->op == CL_OP_WAIT)
            ((condd_async_token_cb)p->cb)(c, rc, token, p->arg);
        else
            cl_waitfor_on_wait(c, p->arg, rc, token);
        break;
    case CL_OP_LOCKED: {
        bool locked = ok && r->result_case == CONDD__V1__RESPONSE__RESULT_LOCKED &&
                      r->locked != NULL && r->locked->locked;
        ((condd_async_locked_cb)p->cb)(c, rc, locked, p->arg);
        break;
    }
    case CL_OP_NOTIFY: {
        uint64_t woken = 0;
        if (ok && r->result_case == CONDD__V1__RESPONSE__RESULT_NOTIFY && r->notify != NULL)
            woken = r->notify->woken;
        ((condd_async_notify_cb)p->cb)(c, rc, woken, p->arg);
        break;
    }
    case CL_OP_STATS: {
        condd_stats *s = NULL;
        if (ok) {
            static const Condd__V1__StatsResult empty = CONDD__V1__STATS_RESULT__INIT;
            bool has = r->result_case == CONDD__V1__RESPONSE__RESULT_STATS && r->stats != NULL;
            s = cl_stats_from(has ? r->stats : &empty);
            if (s == NULL)
                rc = CONDD_ERR_NOMEM;
        }
        ((condd_async_stats_cb)p->cb)(c, rc, s, p->arg);
        if (!p->give)
            condd_stats_free(s);
        break;
    }
    case CL_OP_LIST: {
        condd_list *l = NULL;
        if (ok) {
            static const Condd__V1__ListResult empty = CONDD__V1__LIST_RESULT__INIT;
            bool has = r->result_case == CONDD__V1__RESPONSE__RESULT_LIST && r->list != NULL;
            l = cl_list_from(has ? r->list : &empty);
            if (l == NULL)
                rc = CONDD_ERR_NOMEM;
        }
        ((condd_async_list_cb)p->cb)(c, rc, l, p->arg);
        if (!p->give)
            condd_list_free(l);
        break;
    }
    case CL_OP_EVENT_SET:
    case CL_OP_EVENT_CLEAR:
    case CL_OP_EVENT_IS_SET:
    case CL_OP_EVENT_WAIT:
        cl_event_deliver(c, p, rc, r);
        break;
    case CL_OP_SEM_ACQUIRE:
    case CL_OP_SEM_RELEASE:
    case CL_OP_SEM_LOCKED:
        cl_sem_deliver(c, p, rc, r);
        break;
    case CL_OP_BARRIER_WAIT:
    case CL_OP_BARRIER_RESET:
    case CL_OP_BARRIER_ABORT:
    case CL_OP_BARRIER_STATE:
        cl_barrier_deliver(c, p, rc, r);
        break;
    case CL_OP_BREAK:
    case CL_OP_KILL_SESSION:
        cl_admin_deliver(c, p, rc, r);
        break;
    case CL_OP_NONE:
    case CL_OP_HELLO:
    case CL_OP_KEEPALIVE:
        break;
    }
}

/* ------------------------------------------------------------------ operations */

/* An Acquire in mode (absent from the frame for exclusive, as old clients send it). */
static int lock_acquire(condd_async_conn *c, const char *lock, uint64_t owner, double timeout,
                        Condd__V1__LockMode mode, condd_async_token_cb cb, void *arg,
                        uint64_t *req_id)
{
    if (c == NULL || lock == NULL || cb == NULL || isnan(timeout))
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Acquire body = CONDD__V1__ACQUIRE__INIT;
    Condd__V1__Timeout to = CONDD__V1__TIMEOUT__INIT;
    body.lock = name_of(lock);
    body.owner = owner;
    body.mode = mode;
    set_timeout(&to, timeout, &body.timeout);
    req.body_case = CONDD__V1__REQUEST__BODY_ACQUIRE;
    req.acquire = &body;
    return submit(c, &req, CL_OP_ACQUIRE, (cl_fn)cb, arg, req_id);
}

int condd_async_lock_acquire(condd_async_conn *c, const char *lock, uint64_t owner, double timeout,
                             condd_async_token_cb cb, void *arg, uint64_t *req_id)
{
    return lock_acquire(c, lock, owner, timeout, CONDD__V1__LOCK_MODE__LOCK_MODE_EXCLUSIVE, cb, arg,
                        req_id);
}

int condd_async_lock_acquire_shared(condd_async_conn *c, const char *lock, uint64_t owner,
                                    double timeout, condd_async_token_cb cb, void *arg,
                                    uint64_t *req_id)
{
    return lock_acquire(c, lock, owner, timeout, CONDD__V1__LOCK_MODE__LOCK_MODE_SHARED, cb, arg,
                        req_id);
}

int condd_async_lock_release(condd_async_conn *c, const char *lock, uint64_t owner,
                             condd_async_result_cb cb, void *arg)
{
    if (c == NULL || lock == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Release body = CONDD__V1__RELEASE__INIT;
    body.lock = name_of(lock);
    body.owner = owner;
    req.body_case = CONDD__V1__REQUEST__BODY_RELEASE;
    req.release = &body;
    return submit(c, &req, CL_OP_RELEASE, (cl_fn)cb, arg, NULL);
}

int condd_async_lock_locked(condd_async_conn *c, const char *lock, condd_async_locked_cb cb,
                            void *arg)
{
    if (c == NULL || lock == NULL || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Locked body = CONDD__V1__LOCKED__INIT;
    body.lock = name_of(lock);
    req.body_case = CONDD__V1__REQUEST__BODY_LOCKED;
    req.locked = &body;
    return submit(c, &req, CL_OP_LOCKED, (cl_fn)cb, arg, NULL);
}

int condd_async_cond_wait(condd_async_conn *c, const char *cond, const char *lock, uint64_t owner,
                          double timeout, condd_async_token_cb cb, void *arg, uint64_t *req_id)
{
    return condd_async_cond_notify_wait(c, cond, lock, owner, 0, timeout, cb, arg, req_id);
}

int condd_async_cond_notify_wait(condd_async_conn *c, const char *cond, const char *lock,
                                 uint64_t owner, uint64_t n, double timeout,
                                 condd_async_token_cb cb, void *arg, uint64_t *req_id)
{
    if (c == NULL || cond == NULL || lock == NULL || cb == NULL || isnan(timeout))
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Wait body = CONDD__V1__WAIT__INIT;
    Condd__V1__Timeout to = CONDD__V1__TIMEOUT__INIT;
    body.condition = name_of(cond);
    body.lock = name_of(lock);
    body.owner = owner;
    body.notify_first = n;
    set_timeout(&to, timeout, &body.timeout);
    req.body_case = CONDD__V1__REQUEST__BODY_WAIT;
    req.wait = &body;
    return submit(c, &req, CL_OP_WAIT, (cl_fn)cb, arg, req_id);
}

int condd_async_cond_notify(condd_async_conn *c, const char *cond, const char *lock, uint64_t owner,
                            uint64_t n, condd_async_notify_cb cb, void *arg)
{
    if (c == NULL || cond == NULL || lock == NULL || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Notify body = CONDD__V1__NOTIFY__INIT;
    body.condition = name_of(cond);
    body.lock = name_of(lock);
    body.owner = owner;
    body.n = n;
    req.body_case = CONDD__V1__REQUEST__BODY_NOTIFY;
    req.notify = &body;
    return submit(c, &req, CL_OP_NOTIFY, (cl_fn)cb, arg, NULL);
}

int condd_async_cond_notify_all(condd_async_conn *c, const char *cond, const char *lock,
                                uint64_t owner, condd_async_notify_cb cb, void *arg)
{
    if (c == NULL || cond == NULL || lock == NULL || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__NotifyAll body = CONDD__V1__NOTIFY_ALL__INIT;
    body.condition = name_of(cond);
    body.lock = name_of(lock);
    body.owner = owner;
    req.body_case = CONDD__V1__REQUEST__BODY_NOTIFY_ALL;
    req.notify_all = &body;
    return submit(c, &req, CL_OP_NOTIFY, (cl_fn)cb, arg, NULL);
}

int condd_async_conn_cancel(condd_async_conn *c, uint64_t req_id, condd_async_result_cb cb,
                            void *arg)
{
    if (c == NULL || req_id == 0)
        return CONDD_ERR_INVALID;
    if (c->cluster != NULL && (c = cl_cluster_owner_of(c, req_id)) == NULL)
        return CONDD_ERR_NOT_FOUND; /* a list: no server has it pending */
    int rc = cl_usable(c);
    if (rc != CONDD_OK)
        return rc;
    struct cl_waitfor *wf = cl_waitfor_find(c, req_id);
    if (wf != NULL)
        return cl_waitfor_cancel(c, wf, cb, arg);
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Cancel body = CONDD__V1__CANCEL__INIT;
    body.target_id = req_id;
    req.body_case = CONDD__V1__REQUEST__BODY_CANCEL;
    req.cancel = &body;
    return submit(c, &req, CL_OP_CANCEL, (cl_fn)cb, arg, NULL);
}

int condd_async_conn_ping(condd_async_conn *c, condd_async_result_cb cb, void *arg)
{
    if (c == NULL || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Ping body = CONDD__V1__PING__INIT;
    req.body_case = CONDD__V1__REQUEST__BODY_PING;
    req.ping = &body;
    return submit(c, &req, CL_OP_PING, (cl_fn)cb, arg, NULL);
}

int cl_request_stats(condd_async_conn *c, condd_async_stats_cb cb, void *arg, bool give)
{
    if (c == NULL || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Stats body = CONDD__V1__STATS__INIT;
    req.body_case = CONDD__V1__REQUEST__BODY_STATS;
    req.stats = &body;
    req.id = cl_next_id(c);
    struct cl_pending p = {
        .id = req.id, .op = CL_OP_STATS, .give = give, .cb = (cl_fn)cb, .arg = arg};
    return cl_submit(c, &req, &p);
}

int condd_async_conn_stats(condd_async_conn *c, condd_async_stats_cb cb, void *arg)
{
    return cl_request_stats(c, cb, arg, false);
}

int cl_request_list(condd_async_conn *c, const char *prefix, uint32_t limit, condd_async_list_cb cb,
                    void *arg, bool give)
{
    if (c == NULL || cb == NULL)
        return CONDD_ERR_INVALID;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__List body = CONDD__V1__LIST__INIT;
    if (prefix != NULL)
        body.prefix = name_of(prefix);
    body.limit = limit;
    req.body_case = CONDD__V1__REQUEST__BODY_LIST;
    req.list = &body;
    req.id = cl_next_id(c);
    struct cl_pending p = {
        .id = req.id, .op = CL_OP_LIST, .give = give, .cb = (cl_fn)cb, .arg = arg};
    return cl_submit(c, &req, &p);
}

int condd_async_conn_list(condd_async_conn *c, const char *prefix, uint32_t limit,
                          condd_async_list_cb cb, void *arg)
{
    return cl_request_list(c, prefix, limit, cb, arg, false);
}
