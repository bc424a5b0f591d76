/* SPDX-License-Identifier: BSD-2-Clause
 *
 * wait_for: waits on a condition until a caller's predicate holds, with one overall deadline.
 * Built on the wire's Wait: the predicate is evaluated with the lock held (at the call, and after
 * each Wait answer, when the server has handed the lock back), and each new Wait gets the time
 * left. One struct cl_waitfor per call, linked into its client so that cancel can find it by its
 * own request id (an id from the client's counter that is never sent) and so that a dying
 * connection completes it.
 *
 * The predicate is the caller's code and may close the client: a wait_for is unlinked while its
 * predicate runs, so the close cannot complete (and free) it behind our back.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"

struct cl_waitfor {
    struct cl_waitfor *prev, *next;
    bool linked;
    condd_async_conn *c;
    uint64_t id;        /* the id returned to the caller (never on the wire) */
    uint64_t wire_id;   /* the Wait in flight, or 0 */
    uint64_t cancel_id; /* the Cancel sent for it, or 0 */
    bool cancel_requested;
    char *cond, *lock;
    uint64_t owner;
    double deadline; /* monotonic; INFINITY: none */
    condd_predicate_fn pred;
    void *pred_arg;
    condd_async_token_cb cb;
    void *arg;
    struct event *ev_done; /* completes "true at once" from the loop */
};

static void link_wf(condd_async_conn *c, struct cl_waitfor *wf)
{
    if (wf->linked)
        return;
    wf->prev = NULL;
    wf->next = c->waitfors;
    if (c->waitfors != NULL)
        c->waitfors->prev = wf;
    c->waitfors = wf;
    wf->linked = true;
}

static void unlink_wf(condd_async_conn *c, struct cl_waitfor *wf)
{
    if (!wf->linked)
        return;
    if (wf->prev != NULL)
        wf->prev->next = wf->next;
    else
        c->waitfors = wf->next;
    if (wf->next != NULL)
        wf->next->prev = wf->prev;
    wf->prev = wf->next = NULL;
    wf->linked = false;
}

static void wf_free(struct cl_waitfor *wf)
{
    if (wf->ev_done != NULL)
        event_free(wf->ev_done);
    free(wf->cond);
    free(wf->lock);
    free(wf);
}

/* Runs the caller's callback once and frees wf. */
static void complete(condd_async_conn *c, struct cl_waitfor *wf, int rc, uint64_t token)
{
    unlink_wf(c, wf);
    if (rc == CONDD_ERR_CANCELLED && wf->cancel_id != 0) {
        /* Cancelled here rather than by the server (its Cancel may find nothing): the caller's
         * cancel callback must still say the cancel worked. */
        struct cl_pending *p = cl_ptable_get(&c->pending, wf->cancel_id);
        if (p != NULL && p->op == CL_OP_CANCEL)
            p->op = CL_OP_CANCEL_OK;
    }
    condd_async_token_cb cb = wf->cb;
    void *arg = wf->arg;
    wf_free(wf);
    cb(c, rc, token, arg);
}

static int send_wait(condd_async_conn *c, struct cl_waitfor *wf)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Wait body = CONDD__V1__WAIT__INIT;
    Condd__V1__Timeout to = CONDD__V1__TIMEOUT__INIT;
    body.condition.data = (uint8_t *)wf->cond;
    body.condition.len = strlen(wf->cond);
    body.lock.data = (uint8_t *)wf->lock;
    body.lock.len = strlen(wf->lock);
    body.owner = wf->owner;
    if (isfinite(wf->deadline)) {
        double left = wf->deadline - clk_mono();
        to.seconds = left > 0 ? left : 0;
        body.timeout = &to;
    }
    req.body_case = CONDD__V1__REQUEST__BODY_WAIT;
    req.wait = &body;
    req.id = cl_next_id(c);
    struct cl_pending p = {.id = req.id, .op = CL_OP_WF_WAIT, .arg = wf};
    int rc = cl_submit(c, &req, &p);
    if (rc == CONDD_OK)
        wf->wire_id = req.id;
    return rc;
}

/* Evaluates the predicate with wf unlinked. Returns false and sets *gone when the predicate
 * closed the client (or the connection ended meanwhile). */
static bool eval_pred(condd_async_conn *c, struct cl_waitfor *wf, int *gone)
{
    unlink_wf(c, wf);
    bool t = wf->pred(wf->pred_arg);
    *gone = cl_usable(c);
    return t;
}

void cl_waitfor_on_wait(condd_async_conn *c, struct cl_waitfor *wf, int rc, uint64_t token)
{
    wf->wire_id = 0;
    if (rc != CONDD_OK && rc != CONDD_ERR_TIMEOUT) {
        complete(c, wf, rc, token); /* CANCELLED (lock held), a refusal, or the connection */
        return;
    }
    int gone = CONDD_OK;
    bool t = eval_pred(c, wf, &gone);
    if (gone != CONDD_OK) {
        complete(c, wf, gone, 0);
        return;
    }
    if (t) {
        complete(c, wf, CONDD_OK, token);
        return;
    }
    if (rc == CONDD_ERR_TIMEOUT || (isfinite(wf->deadline) && clk_mono() >= wf->deadline)) {
        complete(c, wf, CONDD_ERR_TIMEOUT, token);
        return;
    }
    if (wf->cancel_requested) {
        complete(c, wf, CONDD_ERR_CANCELLED, token);
        return;
    }
    link_wf(c, wf);
    int src = send_wait(c, wf);
    if (src != CONDD_OK)
        complete(c, wf, src, token);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct cl_waitfor *wf = arg;
    condd_async_conn *c = wf->c;
    cl_enter(c);
    complete(c, wf, CONDD_OK, 0);
    cl_leave(c);
}

int condd_async_cond_wait_for(condd_async_conn *c, const char *cond, const char *lock,
                              uint64_t owner, double timeout, condd_predicate_fn pred,
                              void *pred_arg, condd_async_token_cb cb, void *arg, uint64_t *req_id)
{
    if (c == NULL || cond == NULL || lock == NULL || pred == NULL || cb == NULL || isnan(timeout))
        return CONDD_ERR_INVALID;
    /* A list: the wait_for lives on the connection of its lock's server. */
    int rc = c->cluster != NULL || c->front != NULL ? cl_cluster_pick(&c, lock) : CONDD_OK;
    if (rc != CONDD_OK)
        return rc;
    rc = cl_usable(c);
    if (rc != CONDD_OK)
        return rc;
    struct cl_waitfor *wf = calloc(1, sizeof *wf);
    if (wf == NULL)
        return CONDD_ERR_NOMEM;
    wf->c = c;
    wf->cond = strdup(cond);
    wf->lock = strdup(lock);
    wf->ev_done = evtimer_new(c->base, on_done, wf);
    if (wf->cond == NULL || wf->lock == NULL || wf->ev_done == NULL) {
        wf_free(wf);
        return CONDD_ERR_NOMEM;
    }
    wf->owner = owner;
    wf->deadline = timeout < 0 || isinf(timeout) ? INFINITY : clk_mono() + timeout;
    wf->pred = pred;
    wf->pred_arg = pred_arg;
    wf->cb = cb;
    wf->arg = arg;

    /* The predicate runs here, before wf is linked; keep c alive if it closes the client. */
    cl_enter(c);
    bool t = pred(pred_arg);
    rc = cl_usable(c);
    if (rc == CONDD_OK) {
        wf->id = cl_next_id(c);
        if (t) {
            struct timeval now = {0, 0};
            evtimer_add(wf->ev_done, &now);
        } else {
            rc = send_wait(c, wf);
        }
    }
    if (rc == CONDD_OK) {
        link_wf(c, wf);
        if (req_id != NULL)
            *req_id = wf->id;
    } else {
        wf_free(wf);
    }
    cl_leave(c);
    return rc;
}

struct cl_waitfor *cl_waitfor_find(condd_async_conn *c, uint64_t id)
{
    for (struct cl_waitfor *wf = c->waitfors; wf != NULL; wf = wf->next)
        if (wf->id == id)
            return wf;
    return NULL;
}

int cl_waitfor_cancel(condd_async_conn *c, struct cl_waitfor *wf, condd_async_result_cb cb,
                      void *arg)
{
    /* Without a Wait in flight the predicate already held: the cancel is too late, and the
     * server says NOT_FOUND for an id it never saw, which is the answer we want. */
    uint64_t target = wf->wire_id != 0 ? wf->wire_id : wf->id;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Cancel body = CONDD__V1__CANCEL__INIT;
    body.target_id = target;
    req.body_case = CONDD__V1__REQUEST__BODY_CANCEL;
    req.cancel = &body;
    req.id = cl_next_id(c);
    struct cl_pending p = {.id = req.id, .op = CL_OP_CANCEL, .cb = (cl_fn)cb, .arg = arg};
    int rc = cl_submit(c, &req, &p);
    if (rc == CONDD_OK && wf->wire_id != 0) {
        wf->cancel_requested = true;
        wf->cancel_id = req.id;
    }
    return rc;
}

void cl_waitfor_fail_all(condd_async_conn *c, int reason)
{
    while (c->waitfors != NULL)
        complete(c, c->waitfors, reason, 0);
}
