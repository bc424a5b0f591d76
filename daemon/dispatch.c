/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Request dispatch: turns one decoded Request of a connection into engine calls and a Response.
 * It owns the handshake rules (Hello first, version check, session-timeout negotiation), the
 * per-operation counters, the building of Stats and List results, and dispatch_answer(), the
 * one builder of Acquire and Wait answers, whether the engine gives them at once or later
 * through its reply callback (conn.c passes those on). Engine statuses become wire statuses
 * through status_to_wire() (status.c).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authz.h"
#include "cluster.h"
#include "dispatch_internal.h"
#include "engine.h"
#include "log.h"
#include "server_internal.h"
#include "status.h"

#define DISPATCH_LIST_DEFAULT 1000
#define DISPATCH_LIST_MAX 10000
/* A List reply stops (truncated) past this many bytes of names, far inside the 16 MiB a client
 * accepts, whatever the names' lengths. */
#define DISPATCH_LIST_BYTES (8u * 1024 * 1024)

/* ------------------------------------------------------------------ replies */

/* A reply with a wire status and no result. */
void dispatch_reply(struct conn *c, uint64_t id, enum stats_op op, int status, const char *message)
{
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    resp.id = id;
    resp.status = status;
    resp.message = (char *)(message != NULL ? message : "");
    stats_count(&c->srv->stats, op, status);
    conn_send(c, &resp.base);
}

/* An engine error: a reply with its wire status, its message and no result. */
void dispatch_fail(struct conn *c, uint64_t id, enum stats_op op, enum engine_status st,
                   const char *message)
{
    dispatch_reply(c, id, op, status_to_wire(st), message);
}

/* Sends resp (whose result the caller set) with status OK. */
void dispatch_ok(struct conn *c, Condd__V1__Response *resp, uint64_t id, enum stats_op op)
{
    resp->id = id;
    resp->status = CONDD__V1__STATUS__STATUS_OK;
    stats_count(&c->srv->stats, op, CONDD__V1__STATUS__STATUS_OK);
    conn_send(c, &resp->base);
}

void dispatch_answer(struct conn *c, const struct engine_reply *r, bool late)
{
    struct stats *stats = &c->srv->stats;
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__AcquireResult acq = CONDD__V1__ACQUIRE_RESULT__INIT;
    Condd__V1__WaitResult wr = CONDD__V1__WAIT_RESULT__INIT;
    if (r->op == ENGINE_OP_EVENT_WAIT) {
        dispatch_event_answer(c, r, late);
        return;
    }
    if (r->op == ENGINE_OP_BARRIER_WAIT) {
        dispatch_barrier_answer(c, r, late);
        return;
    }
    int status = status_to_wire(r->status);
    resp.id = r->req_id;
    resp.status = status;
    resp.message = (char *)(r->message != NULL ? r->message : "");
    if (r->op == ENGINE_OP_SEM_ACQUIRE) {
        dispatch_sem_answer(c, &resp, r);
        return;
    }
    if (r->op == ENGINE_OP_ACQUIRE) {
        stats_count(stats, STATS_OP_ACQUIRE, status);
        if (r->status == ENGINE_OK) {
            stats_hist_add(&stats->grant_latency, r->elapsed_s); /* 0 when granted at once */
            acq.token = r->token;
            resp.result_case = CONDD__V1__RESPONSE__RESULT_ACQUIRE;
            resp.acquire = &acq;
        }
    } else {
        stats_count(stats, STATS_OP_WAIT, status);
        /* A wait answered at once was refused: it never waited, so it has no wait latency. */
        if (late)
            stats_hist_add(&stats->wait_latency, r->elapsed_s);
        if (r->token != 0) {
            wr.token = r->token;
            resp.result_case = CONDD__V1__RESPONSE__RESULT_WAIT;
            resp.wait = &wr;
        }
    }
    conn_send(c, &resp.base);
}

/* ------------------------------------------------------------------ names in messages */

void dispatch_show_name(const ProtobufCBinaryData *name, char *out, size_t outlen)
{
    size_t n = name->len < 64 ? name->len : 64;
    size_t i = 0;
    for (; i < n && i + 4 < outlen; i++) {
        unsigned char ch = name->data[i];
        out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    if (name->len > n && i + 4 < outlen) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

/* ------------------------------------------------------------------ handshake */

static void dispatch_copy_client_name(struct conn *c, const char *name)
{
    size_t i = 0;
    /* Keep printable ASCII only: the name goes into logs and List output. */
    for (; name != NULL && name[i] != '\0' && i + 1 < sizeof c->client_name; i++) {
        unsigned char ch = (unsigned char)name[i];
        c->client_name[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    c->client_name[i] = '\0';
}

/* The HelloResult of a new or resumed session (ds, already attached to c). */
static void dispatch_hello_result(struct conn *c, uint64_t id, bool resumed)
{
    struct server *srv = c->srv;
    struct dsession *ds = c->ds;
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__HelloResult hr = CONDD__V1__HELLO_RESULT__INIT;
    hr.server_version = (char *)PACKAGE_STRING;
    hr.protocol_version = CONDD_PROTOCOL_VERSION;
    hr.session_id = ds->id;
    hr.session_timeout_s = c->session_timeout;
    hr.max_frame_bytes = srv->settings.max_frame_bytes;
    if (ds->grace > 0) {
        hr.resume_secret.data = ds->secret;
        hr.resume_secret.len = sizeof ds->secret;
        hr.grace_s = ds->grace;
    }
    hr.resumed = resumed;
    hr.acks = ds->acks;
    if (resumed && ds->acks)
        hr.requests_received = ds->nreq;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_HELLO;
    resp.hello = &hr;
    dispatch_ok(c, &resp, id, STATS_OP_HELLO);
}

/* A Hello naming a session and its secret (protocol.md §5.6). A failure leaves the connection
 * open and unhandshaken: the client may send a fresh Hello on it. */
static void dispatch_resume(struct conn *c, uint64_t id, uint64_t ack, const Condd__V1__Hello *h,
                            double timeout)
{
    struct server *srv = c->srv;
    if (srv->shutting_down) {
        stats_count(&srv->stats, STATS_OP_HELLO, CONDD__V1__STATUS__STATUS_SHUTTING_DOWN);
        conn_fail(c, id, CONDD__V1__STATUS__STATUS_SHUTTING_DOWN, "server shutting down");
        return;
    }
    struct dsession *ds =
        resume_find(srv, h->resume_session, h->resume_secret.data, h->resume_secret.len);
    if (ds == NULL) {
        srv->stats.resume_failures++;
        /* One message for every cause: it must not tell whether the session exists. */
        log_info("connection %s: a resume failed", c->peer);
        dispatch_reply(c, id, STATS_OP_HELLO, CONDD__V1__STATUS__STATUS_RESUME_FAILED,
                       "the session cannot be resumed (unknown, expired or wrong secret)");
        return;
    }
    if (ds->conn != NULL) {
        /* Takeover: the old connection is closed as if it had vanished, so that its unsent
         * answers are kept and follow the HelloResult below in order. */
        struct conn *old = ds->conn;
        log_info("session %llu taken over by %s from %s", (unsigned long long)ds->id, c->peer,
                 old->peer);
        conn_close(old, "session taken over by a resume");
        if (ds->overflow) {
            /* The old connection's unsent answers were over --max-buffered-answers: the session
             * ends (its timer is armed for this turn) as when a detached one overflows. */
            srv->stats.resume_failures++;
            dispatch_reply(c, id, STATS_OP_HELLO, CONDD__V1__STATUS__STATUS_RESUME_FAILED,
                           "the session cannot be resumed (unknown, expired or wrong secret)");
            return;
        }
    }
    if (ds->acks && !resume_can_deliver(ds, ack)) {
        /* A Response the client lacks had its copy dropped (--max-buffered-answers, or out of
         * memory): the session cannot go on without it (protocol.md §5.6.2). */
        srv->stats.resume_failures++;
        log_info("session %llu (%s) ended: an answer its client did not receive was dropped "
                 "(over --max-buffered-answers)",
                 (unsigned long long)ds->id, ds->client_name);
        dispatch_reply(c, id, STATS_OP_HELLO, CONDD__V1__STATUS__STATUS_RESUME_FAILED,
                       "the session cannot be resumed (unknown, expired or wrong secret)");
        resume_end(ds);
        return;
    }
    resume_attach(ds, c);
    c->session_id = ds->id;
    snprintf(c->client_name, sizeof c->client_name, "%s", ds->client_name);
    c->session_timeout = timeout;
    c->state = CONN_ACTIVE;
    srv->stats.resumes++;
    conn_session_started(c);
    log_info("session %llu (%s) resumed by %s", (unsigned long long)ds->id, ds->client_name,
             c->peer);
    dispatch_hello_result(c, id, true);
    size_t len;
    if (ds->acks) {
        /* Then every answer after the client's ack, oldest first: kept while detached, or
         * written to the old connection and lost on the way. Copies stay until acked. */
        resume_ack(ds, ack);
        const uint8_t *unacked = resume_unacked(ds, &len);
        conn_send_raw(c, unacked, len);
        return;
    }
    /* Then the answers kept while detached, oldest first. */
    uint8_t *kept = resume_take_buffer(ds, &len);
    conn_send_raw(c, kept, len);
    free(kept);
}

static void dispatch_hello(struct conn *c, uint64_t id, uint64_t ack, const Condd__V1__Hello *h)
{
    struct server *srv = c->srv;
    if (c->state == CONN_ACTIVE) {
        dispatch_reply(c, id, STATS_OP_HELLO, CONDD__V1__STATUS__STATUS_BAD_REQUEST,
                       "the session is already established");
        return;
    }
    if (h->protocol_version != CONDD_PROTOCOL_VERSION) {
        char msg[96];
        snprintf(msg, sizeof msg, "protocol version %u is not supported; this server speaks %d",
                 h->protocol_version, CONDD_PROTOCOL_VERSION);
        stats_count(&srv->stats, STATS_OP_HELLO, CONDD__V1__STATUS__STATUS_UNSUPPORTED_VERSION);
        conn_fail(c, id, CONDD__V1__STATUS__STATUS_UNSUPPORTED_VERSION, msg);
        return;
    }
    double timeout = srv->settings.session_timeout;
    if (h->session_timeout_s != 0) {
        if (!isfinite(h->session_timeout_s) || h->session_timeout_s < 0) {
            stats_count(&srv->stats, STATS_OP_HELLO, CONDD__V1__STATUS__STATUS_BAD_REQUEST);
            conn_fail(c, id, CONDD__V1__STATUS__STATUS_BAD_REQUEST,
                      "session_timeout_s must be a positive number of seconds");
            return;
        }
        timeout = fmin(fmax(h->session_timeout_s, 1.0), srv->settings.max_session_timeout);
    }
    if (!isfinite(h->grace_s) || h->grace_s < 0) {
        stats_count(&srv->stats, STATS_OP_HELLO, CONDD__V1__STATUS__STATUS_BAD_REQUEST);
        conn_fail(c, id, CONDD__V1__STATUS__STATUS_BAD_REQUEST,
                  "grace_s must be 0 or a positive number of seconds");
        return;
    }
    /* Authenticate every Hello, a resume too: the secret proves the session, the credential
     * says whose rules apply to it from now on. */
    if (!authz_hello(c, id, h))
        return;
    if (h->resume_session != 0 || h->resume_secret.len != 0) {
        dispatch_resume(c, id, ack, h, timeout);
        return;
    }
    double grace = fmin(h->grace_s, srv->settings.max_session_grace);
    dispatch_copy_client_name(c, h->client_name);
    uint64_t sid = srv->next_session_id++;
    if (!resume_open(srv, c, sid, c->client_name, grace)) {
        stats_count(&srv->stats, STATS_OP_HELLO, CONDD__V1__STATUS__STATUS_INTERNAL);
        conn_fail(c, id, CONDD__V1__STATUS__STATUS_INTERNAL, "out of memory");
        return;
    }
    c->session_id = sid;
    c->session_timeout = timeout;
    c->ds->acks = h->acks && grace > 0;
    c->state = CONN_ACTIVE;
    conn_session_started(c);
    log_debug("session %llu opened by %s (%s), timeout %g s, grace %g s", (unsigned long long)sid,
              c->client_name, c->peer, timeout, grace);
    dispatch_hello_result(c, id, false);
}

/* Goodbye (protocol.md §5.7): the session ends at once whatever its grace; the answer is
 * written before the connection closes. */
static void dispatch_goodbye(struct conn *c, uint64_t id)
{
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__GoodbyeResult gr = CONDD__V1__GOODBYE_RESULT__INIT;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_GOODBYE;
    resp.goodbye = &gr;
    dispatch_ok(c, &resp, id, STATS_OP_GOODBYE);
    conn_goodbye(c);
}

/* ------------------------------------------------------------------ locks and conditions */

const double *dispatch_timeout(const Condd__V1__Timeout *t)
{
    return t != NULL ? &t->seconds : NULL;
}

/* Acquire and Wait are answered through dispatch_answer(), now or (ENGINE_PENDING) later
 * through conn_on_engine_reply(). */
static void dispatch_acquire(struct conn *c, uint64_t id, const Condd__V1__Acquire *a)
{
    struct engine_reply r = {.op = ENGINE_OP_ACQUIRE, .req_id = id};
    if (a->mode != CONDD__V1__LOCK_MODE__LOCK_MODE_EXCLUSIVE &&
        a->mode != CONDD__V1__LOCK_MODE__LOCK_MODE_SHARED) {
        r.status = ENGINE_BAD_REQUEST;
        r.message = "invalid lock mode";
        dispatch_answer(c, &r, false);
        return;
    }
    enum engine_lock_mode mode = a->mode == CONDD__V1__LOCK_MODE__LOCK_MODE_SHARED
                                     ? ENGINE_LOCK_SHARED
                                     : ENGINE_LOCK_EXCLUSIVE;
    r.status = engine_acquire_mode(c->sess, id, a->lock.data, a->lock.len, a->owner, mode,
                                   dispatch_timeout(a->timeout), &r.token, &r.message);
    if (r.status != ENGINE_PENDING)
        dispatch_answer(c, &r, false);
}

static void dispatch_release(struct conn *c, uint64_t id, const Condd__V1__Release *r)
{
    const char *msg = NULL;
    enum engine_status st = engine_release(c->sess, r->lock.data, r->lock.len, r->owner, &msg);
    if (st != ENGINE_OK) {
        dispatch_fail(c, id, STATS_OP_RELEASE, st, msg);
        return;
    }
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__ReleaseResult rr = CONDD__V1__RELEASE_RESULT__INIT;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_RELEASE;
    resp.release = &rr;
    dispatch_ok(c, &resp, id, STATS_OP_RELEASE);
}

static void dispatch_locked(struct conn *c, uint64_t id, const Condd__V1__Locked *l)
{
    const char *msg = NULL;
    bool locked = false, shared = false;
    uint64_t holders = 0;
    enum engine_status st = engine_locked_mode(c->srv->engine, l->lock.data, l->lock.len, &locked,
                                               &shared, &holders, &msg);
    if (st != ENGINE_OK) {
        dispatch_fail(c, id, STATS_OP_LOCKED, st, msg);
        return;
    }
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__LockedResult lr = CONDD__V1__LOCKED_RESULT__INIT;
    lr.locked = locked;
    lr.mode =
        shared ? CONDD__V1__LOCK_MODE__LOCK_MODE_SHARED : CONDD__V1__LOCK_MODE__LOCK_MODE_EXCLUSIVE;
    lr.holders = holders > UINT32_MAX ? UINT32_MAX : (uint32_t)holders;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_LOCKED;
    resp.locked = &lr;
    dispatch_ok(c, &resp, id, STATS_OP_LOCKED);
}

static void dispatch_wait(struct conn *c, uint64_t id, const Condd__V1__Wait *w)
{
    struct engine_reply r = {.op = ENGINE_OP_WAIT, .req_id = id};
    r.status =
        engine_wait(c->sess, id, w->condition.data, w->condition.len, w->lock.data, w->lock.len,
                    w->owner, dispatch_timeout(w->timeout), w->notify_first, &r.message);
    if (r.status != ENGINE_PENDING)
        dispatch_answer(c, &r, false);
}

static void dispatch_notify(struct conn *c, uint64_t id, enum stats_op op,
                            const ProtobufCBinaryData *cond, const ProtobufCBinaryData *lock,
                            uint64_t owner, uint64_t n)
{
    const char *msg = NULL;
    uint64_t woken = 0;
    enum engine_status st = engine_notify(c->sess, cond->data, cond->len, lock->data, lock->len,
                                          owner, n, &woken, &msg);
    if (st != ENGINE_OK) {
        dispatch_fail(c, id, op, st, msg);
        return;
    }
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__NotifyResult nr = CONDD__V1__NOTIFY_RESULT__INIT;
    nr.woken = woken;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_NOTIFY;
    resp.notify = &nr;
    dispatch_ok(c, &resp, id, op);
}

static void dispatch_cancel(struct conn *c, uint64_t id, const Condd__V1__Cancel *x)
{
    const char *msg = NULL;
    enum engine_status st = engine_cancel(c->sess, x->target_id, &msg);
    if (st != ENGINE_OK) {
        dispatch_fail(c, id, STATS_OP_CANCEL, st, msg);
        return;
    }
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__CancelResult cr = CONDD__V1__CANCEL_RESULT__INIT;
    cr.cancelled = true;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_CANCEL;
    resp.cancel = &cr;
    dispatch_ok(c, &resp, id, STATS_OP_CANCEL);
}

/* ------------------------------------------------------------------ introspection */

static void dispatch_stats(struct conn *c, uint64_t id)
{
    struct server *srv = c->srv;
    struct server_snapshot snap;
    struct engine_stats es;
    server_snapshot(srv, &snap);
    engine_get_stats(srv->engine, &es);

    Condd__V1__StatsResult sr = CONDD__V1__STATS_RESULT__INIT;
    sr.uptime_s = snap.uptime_s;
    sr.connections = snap.connections;
    sr.sessions = snap.sessions;
    sr.locks = es.locks;
    sr.locks_held = es.locks_held;
    sr.lock_waiters = es.lock_waiters;
    sr.conditions = es.conditions;
    sr.condition_waiters = es.condition_waiters;
    sr.waiters = es.waiters;
    sr.semaphores = es.semaphores;
    sr.permits_held = es.permits_held;
    sr.semaphore_waiters = es.semaphore_waiters;
    sr.events = es.events;
    sr.events_set = es.events_set;
    sr.event_waiters = es.event_waiters;
    sr.barriers = es.barriers;
    sr.barriers_broken = es.barriers_broken;
    sr.barrier_waiters = es.barrier_waiters;
    sr.locks_shared = es.locks_shared;
    sr.shared_holders = es.shared_holders;
    sr.table_bytes = es.table_bytes;
    sr.rss_bytes = stats_rss_bytes();
    sr.connections_total = srv->stats.connections_total;
    sr.session_expiries = srv->stats.session_expiries;
    sr.auth_failures = srv->stats.auth_failures;
    sr.permission_denials = srv->stats.permission_denials;
    sr.wrong_server = srv->stats.wrong_server;
    sr.last_token = es.last_token;
    sr.server_version = (char *)PACKAGE_STRING;
    sr.detached_sessions = srv->ndetached;
    sr.resumes = srv->stats.resumes;
    sr.resume_failures = srv->stats.resume_failures;
    sr.sessions_expired_in_grace = srv->stats.sessions_expired_in_grace;
    sr.restarts = srv->stats.restarts;
    sr.restored_sessions = srv->stats.restored_sessions;
    sr.tls_buffers_released = srv->stats.tls_buffers_released;

    /* Count this Stats request first so that it shows up in its own reply. */
    stats_count(&srv->stats, STATS_OP_STATS, CONDD__V1__STATUS__STATUS_OK);
    Condd__V1__OpCount counts[STATS_OP_COUNT * STATS_STATUS_COUNT];
    Condd__V1__OpCount *ptrs[STATS_OP_COUNT * STATS_STATUS_COUNT];
    size_t n = 0;
    for (int op = 0; op < STATS_OP_COUNT; op++) {
        for (int st = 0; st < STATS_STATUS_COUNT; st++) {
            if (srv->stats.ops[op][st] == 0)
                continue;
            condd__v1__op_count__init(&counts[n]);
            counts[n].op = (char *)stats_op_name((enum stats_op)op);
            counts[n].status = (char *)stats_status_name(st);
            counts[n].count = srv->stats.ops[op][st];
            ptrs[n] = &counts[n];
            n++;
        }
    }
    sr.n_ops = n;
    sr.ops = ptrs;

    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    resp.id = id;
    resp.status = CONDD__V1__STATUS__STATUS_OK;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_STATS;
    resp.stats = &sr;
    conn_send(c, &resp.base);
}

/* List results are built from copies: the engine's pointers are valid only in the visitor. */
struct dispatch_list {
    Condd__V1__LockInfo **locks;
    size_t nlocks;
    Condd__V1__ConditionInfo **conds;
    size_t nconds;
    size_t cap;
    size_t bytes; /* names and client names copied so far */
    bool full;    /* the byte budget ran out: the reply is truncated */
    bool oom;
    bool last_kept; /* the last lock visited was added (its holders go with it) */
};

void *dispatch_dup(const void *p, size_t n, bool *oom)
{
    void *q = malloc(n + 1);
    if (q == NULL) {
        *oom = true;
        return NULL;
    }
    if (n > 0)
        memcpy(q, p, n);
    ((char *)q)[n] = '\0';
    return q;
}

static void dispatch_list_lock(void *arg, const struct engine_lock_info *li)
{
    struct dispatch_list *dl = arg;
    dl->last_kept = false;
    if (dl->oom || dl->nlocks == dl->cap)
        return;
    size_t cost = li->name_len + strlen(li->holder_client) + 64;
    if (dl->full || dl->bytes + cost > DISPATCH_LIST_BYTES) {
        dl->full = true;
        return;
    }
    dl->bytes += cost;
    Condd__V1__LockInfo *m = malloc(sizeof *m);
    if (m == NULL) {
        dl->oom = true;
        return;
    }
    condd__v1__lock_info__init(m);
    m->name.data = dispatch_dup(li->name, li->name_len, &dl->oom);
    m->name.len = li->name_len;
    m->held = li->held;
    m->holder_session = li->holder_session;
    m->holder_client = dispatch_dup(li->holder_client, strlen(li->holder_client), &dl->oom);
    m->holder_owner = li->holder_owner;
    m->token = li->token;
    m->waiters = li->waiters;
    m->mode = li->shared ? CONDD__V1__LOCK_MODE__LOCK_MODE_SHARED
                         : CONDD__V1__LOCK_MODE__LOCK_MODE_EXCLUSIVE;
    dl->locks[dl->nlocks++] = m;
    dl->last_kept = true;
}

/* A holder of the lock dispatch_list_lock() just added, appended to its holders (grant order).
 * Holders share the reply's byte budget: a lock with more readers than fit is cut short and the
 * reply marked truncated. */
static void dispatch_list_holder(void *arg, const struct engine_lock_holder_info *hi)
{
    struct dispatch_list *dl = arg;
    if (!dl->last_kept || dl->oom)
        return;
    size_t cost = strlen(hi->client) + 48;
    if (dl->full || dl->bytes + cost > DISPATCH_LIST_BYTES) {
        dl->full = true;
        return;
    }
    dl->bytes += cost;
    Condd__V1__LockInfo *m = dl->locks[dl->nlocks - 1];
    if ((m->n_holders & (m->n_holders - 1)) == 0) { /* 0, 1, 2, 4, ...: grow to twice */
        size_t cap = m->n_holders == 0 ? 1 : m->n_holders * 2;
        Condd__V1__LockHolder **h = realloc(m->holders, cap * sizeof *h);
        if (h == NULL) {
            dl->oom = true;
            return;
        }
        m->holders = h;
    }
    Condd__V1__LockHolder *h = malloc(sizeof *h);
    if (h == NULL) {
        dl->oom = true;
        return;
    }
    condd__v1__lock_holder__init(h);
    h->session = hi->session_id;
    h->client = dispatch_dup(hi->client, strlen(hi->client), &dl->oom);
    h->owner = hi->owner;
    h->token = hi->token;
    m->holders[m->n_holders++] = h;
}

static void dispatch_list_cond(void *arg, const struct engine_cond_info *ci)
{
    struct dispatch_list *dl = arg;
    if (dl->oom || dl->nconds == dl->cap)
        return;
    size_t cost = ci->name_len + ci->lock_len + 32;
    if (dl->full || dl->bytes + cost > DISPATCH_LIST_BYTES) {
        dl->full = true;
        return;
    }
    dl->bytes += cost;
    Condd__V1__ConditionInfo *m = malloc(sizeof *m);
    if (m == NULL) {
        dl->oom = true;
        return;
    }
    condd__v1__condition_info__init(m);
    m->name.data = dispatch_dup(ci->name, ci->name_len, &dl->oom);
    m->name.len = ci->name_len;
    m->lock.data = dispatch_dup(ci->lock, ci->lock_len, &dl->oom);
    m->lock.len = ci->lock_len;
    m->waiters = ci->waiters;
    dl->conds[dl->nconds++] = m;
}

static void dispatch_list_free(struct dispatch_list *dl)
{
    for (size_t i = 0; i < dl->nlocks; i++) {
        for (size_t j = 0; j < dl->locks[i]->n_holders; j++) {
            free(dl->locks[i]->holders[j]->client);
            free(dl->locks[i]->holders[j]);
        }
        free(dl->locks[i]->holders);
        free(dl->locks[i]->name.data);
        free(dl->locks[i]->holder_client);
        free(dl->locks[i]);
    }
    for (size_t i = 0; i < dl->nconds; i++) {
        free(dl->conds[i]->name.data);
        free(dl->conds[i]->lock.data);
        free(dl->conds[i]);
    }
    free(dl->locks);
    free(dl->conds);
}

static void dispatch_list(struct conn *c, uint64_t id, const Condd__V1__List *l)
{
    size_t limit = l->limit == 0 ? DISPATCH_LIST_DEFAULT : l->limit;
    if (limit > DISPATCH_LIST_MAX)
        limit = DISPATCH_LIST_MAX;
    struct dispatch_list dl = {.cap = limit};
    struct dispatch_sem_list dsl = {0};
    dl.locks = calloc(limit, sizeof *dl.locks);
    dl.conds = calloc(limit, sizeof *dl.conds);
    bool truncated = false;
    struct dispatch_event_list events = {0};
    struct dispatch_barrier_list barriers = {0};
    if (dl.locks == NULL || dl.conds == NULL)
        dl.oom = true;
    else
        truncated =
            engine_list_holders(c->srv->engine, l->prefix.data, l->prefix.len, limit,
                                dispatch_list_lock, dispatch_list_holder, dispatch_list_cond, &dl);
    if (!dl.oom && dispatch_event_list(c, &l->prefix, limit, &dl.bytes, DISPATCH_LIST_BYTES,
                                       &dl.full, &dl.oom, &events))
        truncated = true;
    if (!dl.oom && dispatch_barrier_list(c, &l->prefix, limit, &dl.bytes, DISPATCH_LIST_BYTES,
                                         &dl.full, &dl.oom, &barriers))
        truncated = true;
    if (!dl.oom && !dl.full)
        dispatch_sem_list(c->srv->engine, &l->prefix, limit, DISPATCH_LIST_BYTES - dl.bytes, &dsl);
    if (dl.oom || dsl.oom) {
        dispatch_event_list_free(&events);
        dispatch_barrier_list_free(&barriers);
        dispatch_list_free(&dl);
        dispatch_sem_list_free(&dsl);
        dispatch_reply(c, id, STATS_OP_LIST, CONDD__V1__STATUS__STATUS_INTERNAL, "out of memory");
        return;
    }
    Condd__V1__ListResult lr = CONDD__V1__LIST_RESULT__INIT;
    lr.locks = dl.locks;
    lr.n_locks = dl.nlocks;
    lr.conditions = dl.conds;
    lr.n_conditions = dl.nconds;
    lr.events = events.items;
    lr.n_events = events.n;
    lr.barriers = barriers.items;
    lr.n_barriers = barriers.n;
    lr.semaphores = dsl.items;
    lr.n_semaphores = dsl.n;
    lr.truncated = truncated || dl.full || dsl.truncated;
    authz_filter_list(c, &lr);
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_LIST;
    resp.list = &lr;
    dispatch_ok(c, &resp, id, STATS_OP_LIST);
    dispatch_event_list_free(&events);
    dispatch_barrier_list_free(&barriers);
    dispatch_list_free(&dl);
    dispatch_sem_list_free(&dsl);
}

/* ------------------------------------------------------------------ entry point */

void dispatch_request(struct conn *c, const Condd__V1__Request *req)
{
    uint64_t id = req->id;
    if (c->state == CONN_AWAIT_HELLO && req->body_case != CONDD__V1__REQUEST__BODY_HELLO) {
        c->srv->stats.protocol_errors++;
        stats_count(&c->srv->stats, STATS_OP_OTHER, CONDD__V1__STATUS__STATUS_PROTOCOL_ERROR);
        conn_fail(c, id, CONDD__V1__STATUS__STATUS_PROTOCOL_ERROR,
                  "the first request on a connection must be Hello");
        return;
    }
    if (c->state == CONN_ACTIVE && req->body_case != CONDD__V1__REQUEST__BODY_HELLO) {
        /* Acknowledged delivery (protocol.md §5.6.2): every request after the opening Hello is
         * counted, read or refused alike, and its ack lets copies of answers go. */
        struct dsession *ds = c->ds;
        ds->nreq++;
        if (ds->acks && req->ack != 0)
            resume_ack(ds, req->ack);
    }
    if (c->state == CONN_ACTIVE && !authz_request(c, req))
        return;
    /* After the permission check: a client that may not use a name does not learn where the
     * cluster keeps it (protocol.md §21.5). */
    if (c->srv->cluster != NULL && c->state == CONN_ACTIVE && !cluster_check_request(c, req))
        return;
    switch (req->body_case) {
    case CONDD__V1__REQUEST__BODY_HELLO:
        dispatch_hello(c, id, req->ack, req->hello);
        break;
    case CONDD__V1__REQUEST__BODY_PING: {
        Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
        Condd__V1__PingResult pr = CONDD__V1__PING_RESULT__INIT;
        resp.result_case = CONDD__V1__RESPONSE__RESULT_PING;
        resp.ping = &pr;
        dispatch_ok(c, &resp, id, STATS_OP_PING);
        break;
    }
    case CONDD__V1__REQUEST__BODY_ACQUIRE:
        dispatch_acquire(c, id, req->acquire);
        break;
    case CONDD__V1__REQUEST__BODY_RELEASE:
        dispatch_release(c, id, req->release);
        break;
    case CONDD__V1__REQUEST__BODY_LOCKED:
        dispatch_locked(c, id, req->locked);
        break;
    case CONDD__V1__REQUEST__BODY_WAIT:
        dispatch_wait(c, id, req->wait);
        break;
    case CONDD__V1__REQUEST__BODY_NOTIFY:
        dispatch_notify(c, id, STATS_OP_NOTIFY, &req->notify->condition, &req->notify->lock,
                        req->notify->owner, req->notify->n);
        break;
    case CONDD__V1__REQUEST__BODY_NOTIFY_ALL:
        dispatch_notify(c, id, STATS_OP_NOTIFY_ALL, &req->notify_all->condition,
                        &req->notify_all->lock, req->notify_all->owner, UINT64_MAX);
        break;
    case CONDD__V1__REQUEST__BODY_CANCEL:
        dispatch_cancel(c, id, req->cancel);
        break;
    case CONDD__V1__REQUEST__BODY_STATS:
        dispatch_stats(c, id);
        break;
    case CONDD__V1__REQUEST__BODY_LIST:
        dispatch_list(c, id, req->list);
        break;
    case CONDD__V1__REQUEST__BODY_EVENT_SET:
        dispatch_event_set(c, id, req->event_set);
        break;
    case CONDD__V1__REQUEST__BODY_EVENT_CLEAR:
        dispatch_event_clear(c, id, req->event_clear);
        break;
    case CONDD__V1__REQUEST__BODY_EVENT_IS_SET:
        dispatch_event_is_set(c, id, req->event_is_set);
        break;
    case CONDD__V1__REQUEST__BODY_EVENT_WAIT:
        dispatch_event_wait(c, id, req->event_wait);
        break;
    case CONDD__V1__REQUEST__BODY_SEM_ACQUIRE:
        dispatch_sem_acquire(c, id, req->sem_acquire);
        break;
    case CONDD__V1__REQUEST__BODY_SEM_RELEASE:
        dispatch_sem_release(c, id, req->sem_release);
        break;
    case CONDD__V1__REQUEST__BODY_SEM_LOCKED:
        dispatch_sem_locked(c, id, req->sem_locked);
        break;
    case CONDD__V1__REQUEST__BODY_BARRIER_WAIT:
        dispatch_barrier_wait(c, id, req->barrier_wait);
        break;
    case CONDD__V1__REQUEST__BODY_BARRIER_RESET:
        dispatch_barrier_reset(c, id, req->barrier_reset);
        break;
    case CONDD__V1__REQUEST__BODY_BARRIER_ABORT:
        dispatch_barrier_abort(c, id, req->barrier_abort);
        break;
    case CONDD__V1__REQUEST__BODY_BARRIER_STATE:
        dispatch_barrier_state(c, id, req->barrier_state);
        break;
    case CONDD__V1__REQUEST__BODY_GOODBYE:
        dispatch_goodbye(c, id);
        break;
    case CONDD__V1__REQUEST__BODY_BREAK_HOLDERS:
        dispatch_break(c, id, req->break_holders);
        break;
    case CONDD__V1__REQUEST__BODY_KILL_SESSION:
        dispatch_kill_session(c, id, req->kill_session);
        break;
    default:
        dispatch_reply(c, id, STATS_OP_OTHER, CONDD__V1__STATUS__STATUS_UNIMPLEMENTED,
                       "request has no body this server implements");
        break;
    }
}
