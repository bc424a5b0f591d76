/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The blocking API: a condd_conn is an asynchronous client on a private event_base. Each call
 * issues the asynchronous operation with a callback that records the answer on the caller's
 * stack, then runs the private loop until that callback has run. The session is kept alive
 * while a call runs (the loop's keep-alive timer); between calls nothing runs, so condd_conn_open()
 * asks for a long session timeout unless the caller chose one.
 */
#include "config.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stdio.h>

#include "clock.h"
#include "internal.h"

/* Why the calling thread's last condd_conn_open() failed ("" after a success): there is no
 * condd_conn to hold it then, so condd_conn_message(NULL) returns this. */
static _Thread_local char open_msg[512];

void cl_set_global_message(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(open_msg, sizeof open_msg, fmt, ap);
    va_end(ap);
}

struct condd_conn {
    struct event_base *base;
    condd_async_conn *c;
    char msg[512];
    condd_session_cb session_cb; /* condd_conn_set_session_cb() */
    void *session_arg;
    /* Server lists: the views condd_conn_server() gave, one per server, owned here (NULL until
     * asked for). A view shares base with its parent and is freed with it. */
    condd_conn **views;
    size_t nviews;
    condd_conn *parent; /* set on a view */
    /* The thread whose call is under way (a token: the address of its this_thread), 0 when
     * none, and how deep its calls nest (a callback on the private loop may call again). A
     * view uses its parent's: they share the loop. */
    _Atomic(uintptr_t) user;
    int user_depth; /* touched only by the user thread */
};

/* ------------------------------------------------------------------ one thread at a time */

/* Only its address matters: unique to each live thread. */
static _Thread_local char this_thread;
/* The message of a call this thread was refused because another thread was using conn: kept
 * per thread, as conn->msg is the other thread's to write. */
static _Thread_local const condd_conn *refused_conn;
static _Thread_local char refused_msg[160];

static condd_conn *root_of(condd_conn *conn)
{
    return conn->parent != NULL ? conn->parent : conn;
}

/* Marks conn in use by the calling thread for one call. One atomic compare-and-swap, so two
 * threads calling at once (which the API forbids) get CONDD_ERR_INVALID rather than two event
 * loops on one event_base. false: another thread's call is under way. */
static bool claim(condd_conn *conn)
{
    condd_conn *r = root_of(conn);
    uintptr_t me = (uintptr_t)&this_thread, expected = 0;
    refused_conn = NULL;
    if (atomic_compare_exchange_strong_explicit(&r->user, &expected, me, memory_order_acquire,
                                                memory_order_relaxed)) {
        r->user_depth = 1;
        return true;
    }
    if (expected == me) { /* nested: a callback of this thread's call */
        r->user_depth++;
        return true;
    }
    refused_conn = conn;
    snprintf(refused_msg, sizeof refused_msg,
             "connection in use by another thread (a condd_conn is for one thread at a time: "
             "open one per thread)");
    return false;
}

static void release(condd_conn *conn)
{
    condd_conn *r = root_of(conn);
    if (--r->user_depth == 0)
        atomic_store_explicit(&r->user, 0, memory_order_release);
}

static void record(condd_async_conn *c, struct cl_answer *a, int rc)
{
    a->done = true;
    a->rc = rc;
    if (rc != CONDD_OK)
        snprintf(a->conn->msg, sizeof a->conn->msg, "%s", condd_async_conn_message(c));
}

static void on_result(condd_async_conn *c, int rc, void *arg)
{
    record(c, arg, rc);
}

static void on_token(condd_async_conn *c, int rc, uint64_t token, void *arg)
{
    struct cl_answer *a = arg;
    a->u64 = token;
    record(c, a, rc);
}

static void on_locked(condd_async_conn *c, int rc, bool locked, void *arg)
{
    struct cl_answer *a = arg;
    a->flag = locked;
    record(c, a, rc);
}

static void on_notify(condd_async_conn *c, int rc, uint64_t woken, void *arg)
{
    struct cl_answer *a = arg;
    a->u64 = woken;
    record(c, a, rc);
}

static void on_stats(condd_async_conn *c, int rc, const condd_stats *s, void *arg)
{
    struct cl_answer *a = arg;
    a->stats = (condd_stats *)s; /* requested with give: ours now */
    record(c, a, rc);
}

static void on_list(condd_async_conn *c, int rc, const condd_list *l, void *arg)
{
    struct cl_answer *a = arg;
    a->list = (condd_list *)l; /* requested with give: ours now */
    record(c, a, rc);
}

/* Starts a call: clears the message and checks the connection. */
static int begin(condd_conn *conn, struct cl_answer *a)
{
    memset(a, 0, sizeof *a);
    a->conn = conn;
    if (conn == NULL)
        return CONDD_ERR_INVALID;
    if (!claim(conn))
        return CONDD_ERR_INVALID;
    conn->msg[0] = '\0';
    if (cl_forked(conn->c)) { /* before the loop runs: its socket is the parent's */
        int rc = cl_fork_refuse(conn->c);
        snprintf(conn->msg, sizeof conn->msg, "%s", conn->c->msgbuf);
        release(conn);
        return rc;
    }
    if (conn->c->cluster != NULL || conn->c->front != NULL) {
        (conn->c->front != NULL ? conn->c->front : conn->c)->msgbuf[0] = '\0';
        /* Between calls nothing reads the servers' connections, so one whose server closed it
         * (stopped, restarted) still looks alive. One non-blocking turn of the private loop
         * reads what the servers already sent: such a member is found dead now, before the call,
         * and is reopened (cl_cluster_revive()) rather than failing the call. Only what came
         * before the call: a failure during it still fails it. (Nested in a callback of this
         * loop, libevent refuses the turn and the call is made as before.) */
        event_base_loop(conn->base, EVLOOP_NONBLOCK);
    }
    cl_cluster_revive(conn->c); /* a server's own connection (condd_conn_server()) that died */
    int rc = cl_usable(conn->c);
    if (rc != CONDD_OK) {
        snprintf(conn->msg, sizeof conn->msg, "%s", conn->c->msgbuf);
        release(conn);
    }
    return rc;
}

/* Runs the private loop until a's callback has run. issued is the result of issuing the
 * asynchronous call: on error the callback will never run. */
static int run_loop(condd_conn *conn, struct cl_answer *a, int issued)
{
    if (issued != CONDD_OK) {
        const condd_async_conn *f = conn->c->front != NULL ? conn->c->front : conn->c;
        if (conn->c->state == CL_DEAD)
            snprintf(conn->msg, sizeof conn->msg, "%s", conn->c->msgbuf);
        else if (f->cluster != NULL) /* a list: why the server's connection refused it */
            snprintf(conn->msg, sizeof conn->msg, "%s", f->msgbuf);
        return issued;
    }
    while (!a->done) {
        if (event_base_loop(conn->base, EVLOOP_ONCE) != 0 && !a->done) {
            /* No events left (cannot happen while a request is pending): do not spin. */
            return conn->c->state == CL_DEAD ? conn->c->dead_reason : CONDD_ERR_INTERNAL;
        }
    }
    return a->rc;
}

/* run_loop(), then the call begin() claimed is over. */
static int run(condd_conn *conn, struct cl_answer *a, int issued)
{
    int rc = run_loop(conn, a, issued);
    release(conn);
    return rc;
}

int cl_block_begin(condd_conn *conn, struct cl_answer *a)
{
    return begin(conn, a);
}

int cl_block_run(condd_conn *conn, struct cl_answer *a, int issued)
{
    return run(conn, a, issued);
}

void cl_block_record(condd_async_conn *c, struct cl_answer *a, int rc)
{
    record(c, a, rc);
}

void cl_block_on_result(condd_async_conn *c, int rc, void *arg)
{
    on_result(c, rc, arg);
}

void cl_block_on_token(condd_async_conn *c, int rc, uint64_t token, void *arg)
{
    on_token(c, rc, token, arg);
}

void cl_block_on_flag(condd_async_conn *c, int rc, bool flag, void *arg)
{
    on_locked(c, rc, flag, arg);
}

void cl_block_on_count(condd_async_conn *c, int rc, uint64_t n, void *arg)
{
    on_notify(c, rc, n, arg);
}

static void on_connect(condd_async_conn *c, int rc, void *arg)
{
    record(c, arg, rc);
}

int condd_conn_open(const char *addr, const condd_options *opts, condd_conn **out)
{
    open_msg[0] = '\0';
    if (out == NULL) {
        cl_set_global_message("no place for the connection (out is NULL)");
        return CONDD_ERR_INVALID;
    }
    *out = NULL;
    condd_conn *conn = calloc(1, sizeof *conn);
    if (conn == NULL) {
        cl_set_global_message("out of memory");
        return CONDD_ERR_NOMEM;
    }
    struct event_config *cfg = event_config_new();
    if (cfg != NULL) {
        /* One thread per connection: no locking inside libevent. */
        event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
        conn->base = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
    if (conn->base == NULL) {
        free(conn);
        cl_set_global_message("out of memory (event_base)");
        return CONDD_ERR_NOMEM;
    }
    struct condd_options o = {.connect_timeout = 10.0};
    if (opts != NULL)
        o = *opts; /* a shallow copy: only read during condd_async_conn_open() */
    if (!o.session_timeout_set) {
        o.session_timeout = CONDD_BLOCKING_SESSION_TIMEOUT;
        o.session_timeout_set = true;
    }
    struct cl_answer a = {.conn = conn};
    open_msg[0] = '\0';
    int rc = condd_async_conn_open(conn->base, addr, &o, on_connect, &a, &conn->c);
    bool opened = rc == CONDD_OK;
    if (opened) {
        (void)claim(conn); /* a new connection: no other thread can have it */
        rc = run(conn, &a, CONDD_OK);
    }
    if (rc != CONDD_OK) {
        /* A failed open already said why (a TLS file it could not use). */
        if (opened)
            snprintf(open_msg, sizeof open_msg, "%s", conn->msg);
        condd_async_conn_close(conn->c);
        event_base_free(conn->base);
        free(conn);
        return rc;
    }
    *out = conn;
    return CONDD_OK;
}

/* The async session callback, passed on to the blocking one. */
static void on_session(condd_async_conn *c, int event, int reason, void *arg)
{
    condd_conn *conn = arg;
    cl_cluster_note(c); /* condd_conn_server_index() says which server */
    if (conn->session_cb != NULL)
        conn->session_cb(conn, event, reason, conn->session_arg);
}

void condd_conn_set_session_cb(condd_conn *conn, condd_session_cb cb, void *arg)
{
    if (conn == NULL)
        return;
    conn->session_cb = cb;
    conn->session_arg = cb != NULL ? arg : NULL;
    condd_async_conn_set_session_cb(conn->c, cb != NULL ? on_session : NULL, conn);
}

double condd_conn_grace(const condd_conn *conn)
{
    return conn != NULL ? condd_async_conn_grace(conn->c) : 0;
}

void condd_conn_close(condd_conn *conn)
{
    if (conn == NULL || conn->parent != NULL) /* a view is its parent's */
        return;
    condd_async_conn_close(conn->c);
    event_base_free(conn->base);
    for (size_t i = 0; i < conn->nviews; i++)
        free(conn->views[i]);
    free(conn->views);
    free(conn);
}

const char *condd_conn_message(const condd_conn *conn)
{
    if (conn != NULL && conn == refused_conn)
        return refused_msg;
    return conn != NULL ? conn->msg : open_msg;
}

uint64_t condd_conn_new_owner(condd_conn *conn)
{
    return conn != NULL ? condd_async_conn_new_owner(conn->c) : 0;
}

int condd_lock_acquire(condd_conn *conn, const char *lock, uint64_t owner, double timeout,
                       uint64_t *token)
{
    struct cl_answer a;
    int rc = begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = run(conn, &a, condd_async_lock_acquire(conn->c, lock, owner, timeout, on_token, &a, NULL));
    if (token != NULL)
        *token = rc == CONDD_OK ? a.u64 : 0;
    return rc;
}

int condd_lock_acquire_shared(condd_conn *conn, const char *lock, uint64_t owner, double timeout,
                              uint64_t *token)
{
    struct cl_answer a;
    int rc = begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = run(conn, &a,
             condd_async_lock_acquire_shared(conn->c, lock, owner, timeout, on_token, &a, NULL));
    if (token != NULL)
        *token = rc == CONDD_OK ? a.u64 : 0;
    return rc;
}

int condd_lock_release(condd_conn *conn, const char *lock, uint64_t owner)
{
    struct cl_answer a;
    int rc = begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    return run(conn, &a, condd_async_lock_release(conn->c, lock, owner, on_result, &a));
}

int condd_lock_locked(condd_conn *conn, const char *lock, bool *locked)
{
    if (locked == NULL)
        return CONDD_ERR_INVALID;
    struct cl_answer a;
    int rc = begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = run(conn, &a, condd_async_lock_locked(conn->c, lock, on_locked, &a));
    if (rc == CONDD_OK)
        *locked = a.flag;
    return rc;
}

int condd_cond_wait(condd_conn *conn, const char *cond, const char *lock, uint64_t owner,
                    double timeout, uint64_t *token)
{
    return condd_cond_notify_wait(conn, cond, lock, owner, 0, timeout, token);
}

int condd_cond_notify_wait(condd_conn *conn, const char *cond, const char *lock, uint64_t owner,
                           uint64_t n, double timeout, uint64_t *token)
{
    struct cl_answer a;
    int rc = begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = run(
        conn, &a,
        condd_async_cond_notify_wait(conn->c, cond, lock, owner, n, timeout, on_token, &a, NULL));
    if (token != NULL)
        *token = a.u64;
    return rc;
}

int condd_cond_wait_for(condd_conn *conn, const char *cond, const char *lock, uint64_t owner,
                        double timeout, condd_predicate_fn pred, void *arg, uint64_t *token)
{
    struct cl_answer a;
    int rc = begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = run(conn, &a,
             condd_async_cond_wait_for(conn->c, cond, lock, owner, timeout, pred, arg, on_token, &a,
                                       NULL));
    if (token != NULL)
        *token = a.u64;
    return rc;
}

int condd_cond_notify(condd_conn *conn, const char *cond, const char *lock, uint64_t owner,
                      uint64_t n, uint64_t *woken)
{
    struct cl_answer a;
    int rc = begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = run(conn, &a, condd_async_cond_notify(conn->c, cond, lock, owner, n, on_notify, &a));
    if (woken != NULL)
        *woken = rc == CONDD_OK ? a.u64 : 0;
    return rc;
}

int condd_cond_notify_all(condd_conn *conn, const char *cond, const char *lock, uint64_t owner,
                          uint64_t *woken)
{
    struct cl_answer a;
    int rc = begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = run(conn, &a, condd_async_cond_notify_all(conn->c, cond, lock, owner, on_notify, &a));
    if (woken != NULL)
        *woken = rc == CONDD_OK ? a.u64 : 0;
    return rc;
}

int condd_conn_ping(condd_conn *conn, double *rtt_s)
{
    struct cl_answer a;
    int rc = begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    double t0 = clk_mono();
    rc = run(conn, &a, condd_async_conn_ping(conn->c, on_result, &a));
    if (rtt_s != NULL)
        *rtt_s = rc == CONDD_OK ? clk_mono() - t0 : 0;
    return rc;
}

int condd_conn_stats(condd_conn *conn, condd_stats **out)
{
    if (out == NULL)
        return CONDD_ERR_INVALID;
    *out = NULL;
    struct cl_answer a;
    int rc = begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = run(conn, &a, cl_request_stats(conn->c, on_stats, &a, true));
    if (rc == CONDD_OK)
        *out = a.stats;
    else
        condd_stats_free(a.stats);
    return rc;
}

int condd_conn_list(condd_conn *conn, const char *prefix, uint32_t limit, condd_list **out)
{
    if (out == NULL)
        return CONDD_ERR_INVALID;
    *out = NULL;
    struct cl_answer a;
    int rc = begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = run(conn, &a, cl_request_list(conn->c, prefix, limit, on_list, &a, true));
    if (rc == CONDD_OK)
        *out = a.list;
    else
        condd_list_free(a.list);
    return rc;
}

static void on_idle_timer(evutil_socket_t fd, short what, void *arg)
{
    ((struct cl_answer *)arg)->done = true;
}

static int idle_loop(condd_conn *conn, struct cl_answer *a, double seconds);

int condd_conn_idle(condd_conn *conn, double seconds)
{
    struct cl_answer a;
    int rc = begin(conn, &a);
    if (rc != CONDD_OK)
        return rc;
    rc = idle_loop(conn, &a, seconds);
    release(conn);
    return rc;
}

/* condd_conn_idle() once begin() claimed conn. */
static int idle_loop(condd_conn *conn, struct cl_answer *a, double seconds)
{
    if (isnan(seconds))
        return CONDD_ERR_INVALID;
    struct event *t = NULL;
    if (seconds >= 0 && !isinf(seconds)) {
        t = evtimer_new(conn->base, on_idle_timer, a);
        if (t == NULL)
            return CONDD_ERR_NOMEM;
        struct timeval tv = {(time_t)seconds,
                             (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
        evtimer_add(t, &tv);
    }
    while (!a->done && conn->c->state != CL_DEAD)
        if (event_base_loop(conn->base, EVLOOP_ONCE) != 0)
            break;
    if (t != NULL)
        event_free(t);
    if (conn->c->state == CL_DEAD) {
        snprintf(conn->msg, sizeof conn->msg, "%s", conn->c->msgbuf);
        return conn->c->dead_reason;
    }
    return CONDD_OK;
}

double condd_conn_session_timeout(const condd_conn *conn)
{
    return conn != NULL ? condd_async_conn_session_timeout(conn->c) : 0;
}

const char *condd_conn_server_version(const condd_conn *conn)
{
    return conn != NULL ? condd_async_conn_server_version(conn->c) : "";
}

uint64_t condd_conn_session_id(const condd_conn *conn)
{
    return conn != NULL ? condd_async_conn_session_id(conn->c) : 0;
}

condd_async_conn *condd_conn_async(condd_conn *conn)
{
    return conn != NULL ? conn->c : NULL;
}

struct event_base *condd_conn_base(condd_conn *conn)
{
    return conn != NULL ? conn->base : NULL;
}

/* ------------------------------------------------------------------ server lists */

size_t condd_conn_server_count(const condd_conn *conn)
{
    return conn != NULL ? condd_async_conn_server_count(conn->c) : 0;
}

const char *condd_conn_server_addr(const condd_conn *conn, size_t i)
{
    return conn != NULL ? condd_async_conn_server_addr(conn->c, i) : NULL;
}

size_t condd_conn_server_index(const condd_conn *conn)
{
    return conn != NULL ? condd_async_conn_server_index(conn->c) : 0;
}

size_t condd_conn_route(const condd_conn *conn, const char *name)
{
    return conn != NULL ? condd_async_conn_route(conn->c, name) : 0;
}

int condd_conn_server(condd_conn *conn, size_t i, condd_conn **out)
{
    if (out != NULL)
        *out = NULL;
    if (conn == NULL || out == NULL)
        return CONDD_ERR_INVALID;
    if (conn->parent != NULL)
        conn = conn->parent;
    size_t n = condd_async_conn_server_count(conn->c);
    if (i >= n)
        return CONDD_ERR_INVALID;
    if (conn->c->cluster == NULL) {
        *out = conn; /* one address: the connection is its only server's */
        return CONDD_OK;
    }
    if (conn->views == NULL && (conn->views = calloc(n, sizeof *conn->views)) == NULL)
        return CONDD_ERR_NOMEM;
    conn->nviews = n;
    if (conn->views[i] == NULL) {
        condd_async_conn *m = NULL;
        condd_conn *v = calloc(1, sizeof *v);
        if (v == NULL)
            return CONDD_ERR_NOMEM;
        int rc = condd_async_conn_server(conn->c, i, &m);
        if (rc != CONDD_OK) {
            snprintf(conn->msg, sizeof conn->msg, "%s", conn->c->msgbuf);
            free(v);
            return rc;
        }
        v->base = conn->base;
        v->c = m;
        v->parent = conn;
        conn->views[i] = v;
    }
    *out = conn->views[i];
    return CONDD_OK;
}
