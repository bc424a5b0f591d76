/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Server lists (protocol.md §21): a condd_async_conn opened on "a:7380,b:7380,..." is a front
 * that holds no socket of its own but one ordinary connection per server (a member), opened
 * lazily the first time a request routes there, each with its own session, keep-alive, grace
 * and resume. Every request that names an object is sent to the member of the server §21.2
 * picks for the name (a condition by its lock); answers, session events and disconnects reach
 * the caller's callbacks with the member as their connection, so the caller can ask which
 * server answered (condd_async_conn_server_index()). Requests that name nothing go to the
 * member they are made on (condd_async_conn_server()); on the front they are refused. Request
 * ids and owner handles come from the front, so that they stay unique over every member. A
 * member whose connection died starts a new session (cl_reopen()) at the next request routed to
 * it, as a fresh open would; so does an idle one whose server closed it while nothing read it
 * (member_closed_while_idle()).
 * A connection opened on one address never comes here: its behaviour is unchanged.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "route.h"

struct cl_cluster {
    struct route_list list;
    struct condd_options opts;  /* deep copy, for opening members */
    condd_async_conn **members; /* list.n entries, NULL until a request routes there */
    size_t last;                /* the server of the last answer delivered */
    condd_async_connect_cb connect_cb;
    void *connect_arg;
    /* Disconnect callbacks owed for members found closed by their server at a request
     * (member_closed_while_idle()): run from the loop (ev_gone), never inside the request. */
    bool *gone; /* list.n entries */
    struct event *ev_gone;
};

/* ------------------------------------------------------------------ options */

static char *dup_or_null(const char *s, bool *oom)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *oom = true;
    return d;
}

static void opts_clear(struct condd_options *o)
{
    free(o->client_name);
    if (o->token != NULL) {
        explicit_bzero(o->token, strlen(o->token));
        free(o->token);
    }
    free(o->tls_ca);
    free(o->tls_cert);
    free(o->tls_key);
    free(o->tls_server_name);
    memset(o, 0, sizeof *o);
}

static bool opts_copy(struct condd_options *to, const condd_options *from)
{
    memset(to, 0, sizeof *to);
    to->connect_timeout = 10.0;
    if (from == NULL)
        return true;
    bool oom = false;
    *to = *from;
    to->client_name = dup_or_null(from->client_name, &oom);
    to->token = dup_or_null(from->token, &oom);
    to->tls_ca = dup_or_null(from->tls_ca, &oom);
    to->tls_cert = dup_or_null(from->tls_cert, &oom);
    to->tls_key = dup_or_null(from->tls_key, &oom);
    to->tls_server_name = dup_or_null(from->tls_server_name, &oom);
    if (oom)
        opts_clear(to);
    return !oom;
}

/* ------------------------------------------------------------------ opening and closing */

bool cl_cluster_is_list(const char *addr)
{
    return addr != NULL && strchr(addr, ',') != NULL;
}

static void front_free(condd_async_conn *f)
{
    struct cl_cluster *cl = f->cluster;
    if (cl != NULL) {
        route_list_free(&cl->list);
        opts_clear(&cl->opts);
        free(cl->members);
        free(cl->gone);
        if (cl->ev_gone != NULL)
            event_free(cl->ev_gone);
        free(cl);
    }
    if (f->ev_flush != NULL)
        event_free(f->ev_flush);
    free(f);
}

/* The disconnect callback owed to the first member found closed while idle, from the loop (one
 * per turn: the callback may close the list, and f with it, so nothing is touched after it). */
static void on_gone(evutil_socket_t fd, short what, void *arg)
{
    condd_async_conn *f = arg;
    struct cl_cluster *cl = f->cluster;
    size_t i = 0;
    while (i < cl->list.n && !cl->gone[i])
        i++;
    if (i == cl->list.n)
        return;
    cl->gone[i] = false;
    for (size_t k = i + 1; k < cl->list.n; k++)
        if (cl->gone[k]) {
            event_active(cl->ev_gone, 0, 0);
            break;
        }
    condd_async_conn *m = cl->members[i];
    if (m == NULL || m->disconnect_cb == NULL)
        return;
    cl_enter(m);
    const char *saved = m->message;
    m->message = "the server closed the connection";
    m->disconnect_cb(m, CONDD_ERR_DISCONNECTED, m->disconnect_arg); /* may close f */
    m->message = saved;
    cl_leave(m);
}

/*
 * Has member m's server closed its connection while nothing read it (the blocking API between
 * calls, or an async caller whose loop has not run since)? Then m dies now, before a request is
 * routed to it, so that cl_cluster_revive() opens a new session for the request instead of
 * writing it into the closed connection and failing it. Only an idle member without a grace (no
 * request pending, no callback of it running: nothing of the old session can be lost) and only
 * a plain end-of-file or error with nothing unread (one non-blocking recv(MSG_PEEK)); anything
 * else is left to the loop as before. Its disconnect callback is owed, not run here: the caller
 * is inside a request call (on_gone() runs it from the loop).
 */
static void member_closed_while_idle(condd_async_conn *m)
{
    if (m->state != CL_READY || m->closing || m->grace > 0 || m->depth > 0 || m->fd < 0 ||
        m->pending.count > 0 || m->waitfors != NULL)
        return;
    uint8_t b;
    ssize_t n = recv(m->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
        return;
    char msg[160];
    if (n == 0)
        snprintf(msg, sizeof msg, "the server closed the connection");
    else
        snprintf(msg, sizeof msg, "receive from the server failed: %s", strerror(errno));
    condd_async_disconnect_cb cb = m->disconnect_cb;
    m->disconnect_cb = NULL;
    cl_fail(m, CONDD_ERR_DISCONNECTED, msg); /* nothing pending: no other callback runs */
    m->disconnect_cb = cb;
    struct cl_cluster *cl = m->front->cluster;
    if (cb != NULL && m->state == CL_DEAD) {
        cl->gone[m->index] = true;
        event_active(cl->ev_gone, 0, 0);
    }
}

/* The connect callback of a front, from the loop: the list is usable (members connect when
 * requests route to them). */
static void on_opened(evutil_socket_t fd, short what, void *arg)
{
    condd_async_conn *f = arg;
    condd_async_connect_cb cb = f->cluster->connect_cb;
    f->cluster->connect_cb = NULL;
    if (cb != NULL)
        cb(f, CONDD_OK, f->cluster->connect_arg); /* may close f: touch nothing after */
}

int cl_cluster_open(struct event_base *base, const char *list, const condd_options *opts,
                    condd_async_connect_cb cb, void *arg, condd_async_conn **out)
{
    condd_async_conn *f = calloc(1, sizeof *f);
    struct cl_cluster *cl = calloc(1, sizeof *cl);
    if (f == NULL || cl == NULL) {
        free(f);
        free(cl);
        return CONDD_ERR_NOMEM;
    }
    f->cluster = cl;
    f->base = base;
    f->fd = -1;
    f->state = CL_READY;
    /* Members' first Hello takes their own id 1; every other id comes from here. */
    f->next_id = 2;
    f->next_owner = 1;
    f->message = "";
    cl_fork_mark(f);
    f->session_timeout = opts != NULL && opts->session_timeout_set ? opts->session_timeout : 0;
    f->grace_asked = opts != NULL ? opts->grace : 0;
    char why[256];
    if (!route_list_parse(list, CONDD_DEFAULT_PORT, &cl->list, why, sizeof why)) {
        cl_set_global_message("%s", why);
        front_free(f);
        return CONDD_ERR_ADDRESS;
    }
    /* Every entry must be an address this library can connect to, now rather than later. */
    for (size_t i = 0; i < cl->list.n; i++) {
        struct cl_sockaddr *sa = NULL;
        size_t n = 0;
        int rc = cl_addr_resolve(cl->list.addr[i], &sa, &n, why, sizeof why);
        free(sa);
        if (rc != CONDD_OK) {
            cl_set_global_message("server '%s' of the list: %s", cl->list.addr[i], why);
            front_free(f);
            return rc;
        }
    }
    cl->members = calloc(cl->list.n, sizeof *cl->members);
    cl->gone = calloc(cl->list.n, sizeof *cl->gone);
    f->ev_flush = event_new(base, -1, 0, on_opened, f);
    cl->ev_gone = event_new(base, -1, 0, on_gone, f);
    if (cl->members == NULL || cl->gone == NULL || f->ev_flush == NULL || cl->ev_gone == NULL ||
        !opts_copy(&cl->opts, opts)) {
        front_free(f);
        return CONDD_ERR_NOMEM;
    }
    cl->connect_cb = cb;
    cl->connect_arg = arg;
    event_active(f->ev_flush, 0, 0);
    *out = f;
    return CONDD_OK;
}

void cl_cluster_close(condd_async_conn *f)
{
    if (f->closing)
        return;
    f->closing = true;
    struct cl_cluster *cl = f->cluster;
    /* Closed before on_opened(): the callback still runs once, except in a forked child, where
     * callbacks are the parent's (conn.c, close_forked()). */
    if (cl->connect_cb != NULL && !cl_forked(f)) {
        condd_async_connect_cb cb = cl->connect_cb;
        cl->connect_cb = NULL;
        f->message = "client closed";
        cb(f, CONDD_ERR_CLOSED, cl->connect_arg); /* f is closing: calls on it are refused */
        f->message = "";
    }
    for (size_t i = 0; i < cl->list.n; i++) {
        condd_async_conn *m = cl->members[i];
        if (m == NULL)
            continue;
        /* Detached first: from here on m is an ordinary connection being closed (its pending
         * callbacks get CONDD_ERR_CLOSED, and may call into f, which refuses: closing). */
        cl->members[i] = NULL;
        m->front = NULL;
        condd_async_conn_close(m);
    }
    front_free(f);
}

void cl_cluster_revive(condd_async_conn *m)
{
    if (m->front == NULL)
        return;
    member_closed_while_idle(m);
    if (m->state != CL_DEAD)
        return;
    /* Only a server that went away or could not be reached: one that refused us (credentials,
     * protocol version, a malformed exchange) would refuse again, each time after its
     * --auth-fail-delay and with a failure in its log. */
    switch (m->dead_reason) {
    case CONDD_ERR_CONNECT:
    case CONDD_ERR_DISCONNECTED:
    case CONDD_ERR_SESSION_EXPIRED:
    case CONDD_ERR_SERVER_TIMEOUT:
    case CONDD_ERR_SHUTTING_DOWN:
    case CONDD_ERR_SESSION_LOST:
        cl_reopen(m, &m->front->cluster->opts); /* if it cannot, calls fail with its error */
        break;
    default:
        break;
    }
}

/* The member for server i, opened now if it was not, and started again if it died
 * (cl_cluster_revive()). */
static int member_get(condd_async_conn *f, size_t i, condd_async_conn **out)
{
    struct cl_cluster *cl = f->cluster;
    if (cl_forked(f)) /* a child after fork(): open nothing, use nothing of the parent's */
        return cl_fork_refuse(f);
    if (cl->members[i] != NULL) {
        *out = cl->members[i];
        cl_cluster_revive(*out);
        return CONDD_OK;
    }
    condd_async_conn *m = NULL;
    int rc = cl_conn_open(f->base, cl->list.addr[i], &cl->opts, NULL, NULL, &m);
    if (rc != CONDD_OK) {
        snprintf(f->msgbuf, sizeof f->msgbuf, "server %s: %s", cl->list.addr[i],
                 condd_strerror(rc));
        return rc;
    }
    m->front = f;
    m->index = i;
    m->disconnect_cb = f->disconnect_cb;
    m->disconnect_arg = f->disconnect_arg;
    m->session_cb = f->session_cb;
    m->session_arg = f->session_arg;
    cl->members[i] = m;
    *out = m;
    return CONDD_OK;
}

/* ------------------------------------------------------------------ routing */

/* The name a request routes by (protocol.md §21.2), or NULL for one that names nothing. */
static const ProtobufCBinaryData *routed_name(const Condd__V1__Request *req)
{
    switch (req->body_case) {
    case CONDD__V1__REQUEST__BODY_ACQUIRE:
        return &req->acquire->lock;
    case CONDD__V1__REQUEST__BODY_RELEASE:
        return &req->release->lock;
    case CONDD__V1__REQUEST__BODY_LOCKED:
        return &req->locked->lock;
    case CONDD__V1__REQUEST__BODY_WAIT: /* a condition lives with its lock */
        return &req->wait->lock;
    case CONDD__V1__REQUEST__BODY_NOTIFY:
        return &req->notify->lock;
    case CONDD__V1__REQUEST__BODY_NOTIFY_ALL:
        return &req->notify_all->lock;
    case CONDD__V1__REQUEST__BODY_SEM_ACQUIRE:
        return &req->sem_acquire->name;
    case CONDD__V1__REQUEST__BODY_SEM_RELEASE:
        return &req->sem_release->name;
    case CONDD__V1__REQUEST__BODY_SEM_LOCKED:
        return &req->sem_locked->name;
    case CONDD__V1__REQUEST__BODY_EVENT_SET:
        return &req->event_set->name;
    case CONDD__V1__REQUEST__BODY_EVENT_CLEAR:
        return &req->event_clear->name;
    case CONDD__V1__REQUEST__BODY_EVENT_IS_SET:
        return &req->event_is_set->name;
    case CONDD__V1__REQUEST__BODY_EVENT_WAIT:
        return &req->event_wait->name;
    case CONDD__V1__REQUEST__BODY_BARRIER_WAIT:
        return &req->barrier_wait->name;
    case CONDD__V1__REQUEST__BODY_BARRIER_RESET:
        return &req->barrier_reset->name;
    case CONDD__V1__REQUEST__BODY_BARRIER_ABORT:
        return &req->barrier_abort->name;
    case CONDD__V1__REQUEST__BODY_BARRIER_STATE:
        return &req->barrier_state->name;
    case CONDD__V1__REQUEST__BODY_BREAK_HOLDERS:
        return &req->break_holders->name;
    default:
        return NULL;
    }
}

int cl_cluster_pick(condd_async_conn **c, const char *name)
{
    condd_async_conn *f = (*c)->front != NULL ? (*c)->front : *c;
    if (f->closing)
        return CONDD_ERR_CLOSED;
    size_t i = route_pick(&f->cluster->list, (const uint8_t *)name, strlen(name));
    return member_get(f, i, c);
}

int cl_cluster_submit(condd_async_conn *c, Condd__V1__Request *req, const struct cl_pending *p)
{
    condd_async_conn *f = c->front != NULL ? c->front : c;
    if (f->closing)
        return CONDD_ERR_CLOSED;
    const ProtobufCBinaryData *name = routed_name(req);
    condd_async_conn *t = c;
    if (name != NULL) {
        size_t i = route_pick(&f->cluster->list, name->data, name->len);
        int rc = member_get(f, i, &t);
        if (rc != CONDD_OK)
            return rc;
    } else if (c != f) {
        cl_cluster_revive(c);
    } else {
        snprintf(f->msgbuf, sizeof f->msgbuf,
                 "a request that names no object needs one server of the %zu in the list "
                 "(condd_conn_server())",
                 f->cluster->list.n);
        return CONDD_ERR_INVALID;
    }
    int rc = cl_submit_direct(t, req, p);
    if (rc != CONDD_OK && t->state == CL_DEAD)
        snprintf(f->msgbuf, sizeof f->msgbuf, "server %s: %.200s", f->cluster->list.addr[t->index],
                 t->msgbuf);
    return rc;
}

condd_async_conn *cl_cluster_owner_of(condd_async_conn *f, uint64_t req_id)
{
    struct cl_cluster *cl = f->cluster;
    for (size_t i = 0; i < cl->list.n; i++) {
        condd_async_conn *m = cl->members[i];
        if (m != NULL &&
            (cl_ptable_get(&m->pending, req_id) != NULL || cl_waitfor_find(m, req_id) != NULL))
            return m;
    }
    return NULL;
}

void cl_cluster_note(condd_async_conn *c)
{
    if (c->front != NULL)
        c->front->cluster->last = c->index;
}

void cl_cluster_sync_cbs(condd_async_conn *f)
{
    struct cl_cluster *cl = f->cluster;
    for (size_t i = 0; i < cl->list.n; i++) {
        condd_async_conn *m = cl->members[i];
        if (m == NULL)
            continue;
        m->disconnect_cb = f->disconnect_cb;
        m->disconnect_arg = f->disconnect_arg;
        m->session_cb = f->session_cb;
        m->session_arg = f->session_arg;
    }
}

bool cl_cluster_any_ready(const condd_async_conn *f)
{
    const struct cl_cluster *cl = f->cluster;
    for (size_t i = 0; i < cl->list.n; i++)
        if (condd_async_conn_is_connected(cl->members[i]))
            return true;
    return false;
}

size_t cl_cluster_pending(const condd_async_conn *f)
{
    const struct cl_cluster *cl = f->cluster;
    size_t n = 0;
    for (size_t i = 0; i < cl->list.n; i++)
        n += condd_async_conn_pending_count(cl->members[i]);
    return n;
}

/* ------------------------------------------------------------------ public */

static const condd_async_conn *front_of(const condd_async_conn *c)
{
    return c->front != NULL ? c->front : c;
}

size_t condd_async_conn_server_count(const condd_async_conn *ac)
{
    if (ac == NULL)
        return 0;
    const condd_async_conn *f = front_of(ac);
    return f->cluster != NULL ? f->cluster->list.n : 1;
}

const char *condd_async_conn_server_addr(const condd_async_conn *ac, size_t i)
{
    if (ac == NULL)
        return NULL;
    const condd_async_conn *f = front_of(ac);
    if (f->cluster == NULL)
        return i == 0 ? ac->addr_text : NULL;
    return i < f->cluster->list.n ? f->cluster->list.addr[i] : NULL;
}

size_t condd_async_conn_server_index(const condd_async_conn *ac)
{
    if (ac == NULL)
        return 0;
    if (ac->front != NULL)
        return ac->index;
    return ac->cluster != NULL ? ac->cluster->last : 0;
}

size_t condd_async_conn_route(const condd_async_conn *ac, const char *name)
{
    if (ac == NULL || name == NULL)
        return 0;
    const condd_async_conn *f = front_of(ac);
    if (f->cluster == NULL)
        return 0;
    return route_pick(&f->cluster->list, (const uint8_t *)name, strlen(name));
}

int condd_async_conn_server(condd_async_conn *ac, size_t i, condd_async_conn **out)
{
    if (out != NULL)
        *out = NULL;
    if (ac == NULL || out == NULL)
        return CONDD_ERR_INVALID;
    condd_async_conn *f = ac->front != NULL ? ac->front : ac;
    if (f->cluster == NULL) {
        if (i != 0)
            return CONDD_ERR_INVALID;
        *out = ac;
        return CONDD_OK;
    }
    if (f->closing)
        return CONDD_ERR_CLOSED;
    if (i >= f->cluster->list.n)
        return CONDD_ERR_INVALID;
    return member_get(f, i, out);
}
