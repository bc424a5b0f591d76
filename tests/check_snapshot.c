/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The live restart's state (daemon/snapshot.[ch]): a real server (server_new() on its own
 * event_base, connections over socketpairs handed to conn_new(), as fuzz_conn does) is brought
 * to a state through the normal request path, its clients vanish (their sessions detach, as
 * restart.c does before saving), the state is saved to a memfd, the server is freed, and a new
 * server loads it. Then the clients resume and check, by behaviour and by the engine's List,
 * that everything is as they left it: holders and tokens, queue order (release and see who is
 * granted next), a notified waiter re-acquiring, semaphores, events, barriers, kept answers in
 * order, new tokens above the old ones, the counters. Corrupt states (truncated, another
 * version, a flipped byte, a reference to a missing session) are refused with a reason and
 * leave the server empty and usable. The engine half with exact timeouts on a fake clock is in
 * check_snapshot_engine.c.
 *
 * Everything runs in this one thread: the test pumps the server's loop (EVLOOP_NONBLOCK) until
 * the answer it waits for has arrived, with a deadline, never a sleep.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "engine.h"
#include "log.h"
#include "server.h"
#include "server_internal.h"
#include "settings.h"
#include "snapshot.h"
#include "state.pb-c.h"
#include "testutil.h"
#include "wireclient.h"

#define DEADLINE_S 20.0

/* ================================================================== fixture */

struct sx {
    struct event_base *base;
    struct server *srv;
};

static void sx_init(struct sx *x)
{
    x->base = event_base_new();
    ck_assert_ptr_nonnull(x->base);
    struct settings s;
    settings_init(&s);
    x->srv = server_new(x->base, &s);
    settings_clear(&s);
    ck_assert_ptr_nonnull(x->srv);
}

static void sx_fini(struct sx *x)
{
    server_free(x->srv);
    event_base_free(x->base);
    x->srv = NULL;
    x->base = NULL;
}

static void sx_pump(struct sx *x)
{
    event_base_loop(x->base, EVLOOP_NONBLOCK);
}

/* A client: its connection and its session. */
struct cl {
    struct wc *w;
    uint64_t sid;
    uint8_t secret[32];
    uint64_t next_id;
};

static struct wc *sx_connect(struct sx *x)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    ck_assert_ptr_nonnull(conn_new(x->srv, sv[0], true, "test"));
    struct wc *w = calloc(1, sizeof *w);
    ck_assert_ptr_nonnull(w);
    w->fd = sv[1];
    return w;
}

/* The answer to request id of c, pumping the server until it comes (NULL after the deadline). */
static Condd__V1__Response *sx_recv(struct sx *x, struct cl *c, uint64_t id)
{
    double end = tu_now() + DEADLINE_S;
    while (tu_now() < end) {
        sx_pump(x);
        Condd__V1__Response *r = wc_recv_id(c->w, id, 0.002);
        if (r != NULL)
            return r;
    }
    return NULL;
}

/* The next frame c receives, in order. */
static Condd__V1__Response *sx_next(struct sx *x, struct cl *c)
{
    double end = tu_now() + DEADLINE_S;
    while (tu_now() < end) {
        sx_pump(x);
        Condd__V1__Response *r = wc_recv(c->w, 0.002);
        if (r != NULL)
            return r;
    }
    return NULL;
}

static uint64_t sx_send(struct sx *x, struct cl *c, Condd__V1__Request *req)
{
    req->id = ++c->next_id;
    ck_assert(wc_send(c->w, req));
    sx_pump(x);
    return req->id;
}

/* The status of the answer to id (and its token in *token when not NULL). */
static int sx_status(struct sx *x, struct cl *c, uint64_t id, uint64_t *token)
{
    Condd__V1__Response *r = sx_recv(x, c, id);
    ck_assert_msg(r != NULL, "no answer to request %llu", (unsigned long long)id);
    int st = r->status;
    if (token != NULL) {
        *token = 0;
        if (r->result_case == CONDD__V1__RESPONSE__RESULT_ACQUIRE)
            *token = r->acquire->token;
        else if (r->result_case == CONDD__V1__RESPONSE__RESULT_WAIT)
            *token = r->wait->token;
        else if (r->result_case == CONDD__V1__RESPONSE__RESULT_SEM_ACQUIRE)
            *token = r->sem_acquire->token;
        else if (r->result_case == CONDD__V1__RESPONSE__RESULT_BARRIER_WAIT)
            *token = r->barrier_wait->index;
    }
    condd__v1__response__free_unpacked(r, NULL);
    return st;
}

/* Nothing is queued for c before the answer to a Ping sent now. */
static void sx_nothing_pending(struct sx *x, struct cl *c)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Ping p = CONDD__V1__PING__INIT;
    req.body_case = CONDD__V1__REQUEST__BODY_PING;
    req.ping = &p;
    uint64_t id = sx_send(x, c, &req);
    Condd__V1__Response *r = sx_next(x, c);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, id);
    condd__v1__response__free_unpacked(r, NULL);
}

static ProtobufCBinaryData bytes_of(const char *s)
{
    return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

/* Opens c with a 30 s grace. */
static void cl_open(struct sx *x, struct cl *c, const char *name)
{
    memset(c, 0, sizeof *c);
    c->w = sx_connect(x);
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
    h.protocol_version = 1;
    h.client_name = (char *)name;
    h.grace_s = 30;
    req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
    req.hello = &h;
    uint64_t id = sx_send(x, c, &req);
    Condd__V1__Response *r = sx_recv(x, c, id);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_HELLO);
    ck_assert_uint_eq(r->hello->resume_secret.len, 32);
    c->sid = r->hello->session_id;
    memcpy(c->secret, r->hello->resume_secret.data, 32);
    condd__v1__response__free_unpacked(r, NULL);
}

/* The client vanishes without a Goodbye: its session detaches (waited for). */
static void cl_drop(struct sx *x, struct cl *c)
{
    uint64_t before = x->srv->ndetached;
    wc_close(c->w);
    c->w = NULL;
    double end = tu_now() + DEADLINE_S;
    while (x->srv->ndetached == before && tu_now() < end)
        sx_pump(x);
    ck_assert_uint_eq(x->srv->ndetached, before + 1);
}

/* Resumes c's session on a new connection; the HelloResult must say resumed. */
static void cl_resume(struct sx *x, struct cl *c)
{
    c->w = sx_connect(x);
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
    h.protocol_version = 1;
    h.grace_s = 30;
    h.resume_session = c->sid;
    h.resume_secret = (ProtobufCBinaryData){.len = 32, .data = c->secret};
    req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
    req.hello = &h;
    uint64_t id = sx_send(x, c, &req);
    Condd__V1__Response *r = sx_next(x, c); /* the HelloResult comes first */
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, id);
    ck_assert_int_eq(r->status, 0);
    ck_assert(r->hello->resumed);
    ck_assert_uint_eq(r->hello->session_id, c->sid);
    condd__v1__response__free_unpacked(r, NULL);
}

static uint64_t rq_acquire(struct sx *x, struct cl *c, const char *lock, uint64_t owner,
                           double timeout, bool shared)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Acquire a = CONDD__V1__ACQUIRE__INIT;
    Condd__V1__Timeout t = CONDD__V1__TIMEOUT__INIT;
    a.lock = bytes_of(lock);
    a.owner = owner;
    a.mode =
        shared ? CONDD__V1__LOCK_MODE__LOCK_MODE_SHARED : CONDD__V1__LOCK_MODE__LOCK_MODE_EXCLUSIVE;
    if (timeout >= 0) {
        t.seconds = timeout;
        a.timeout = &t;
    }
    req.body_case = CONDD__V1__REQUEST__BODY_ACQUIRE;
    req.acquire = &a;
    return sx_send(x, c, &req);
}

static uint64_t rq_release(struct sx *x, struct cl *c, const char *lock, uint64_t owner)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Release a = CONDD__V1__RELEASE__INIT;
    a.lock = bytes_of(lock);
    a.owner = owner;
    req.body_case = CONDD__V1__REQUEST__BODY_RELEASE;
    req.release = &a;
    return sx_send(x, c, &req);
}

static uint64_t rq_wait(struct sx *x, struct cl *c, const char *cond, const char *lock,
                        uint64_t owner, double timeout)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Wait a = CONDD__V1__WAIT__INIT;
    Condd__V1__Timeout t = CONDD__V1__TIMEOUT__INIT;
    a.condition = bytes_of(cond);
    a.lock = bytes_of(lock);
    a.owner = owner;
    if (timeout >= 0) {
        t.seconds = timeout;
        a.timeout = &t;
    }
    req.body_case = CONDD__V1__REQUEST__BODY_WAIT;
    req.wait = &a;
    return sx_send(x, c, &req);
}

static uint64_t rq_notify(struct sx *x, struct cl *c, const char *cond, const char *lock,
                          uint64_t owner, uint64_t n)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Notify a = CONDD__V1__NOTIFY__INIT;
    a.condition = bytes_of(cond);
    a.lock = bytes_of(lock);
    a.owner = owner;
    a.n = n;
    req.body_case = CONDD__V1__REQUEST__BODY_NOTIFY;
    req.notify = &a;
    return sx_send(x, c, &req);
}

static uint64_t rq_sem_acquire(struct sx *x, struct cl *c, const char *name, uint32_t value,
                               uint64_t owner)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__SemAcquire a = CONDD__V1__SEM_ACQUIRE__INIT;
    a.name = bytes_of(name);
    a.value = value;
    a.bounded = true;
    a.owner = owner;
    req.body_case = CONDD__V1__REQUEST__BODY_SEM_ACQUIRE;
    req.sem_acquire = &a;
    return sx_send(x, c, &req);
}

static uint64_t rq_sem_release(struct sx *x, struct cl *c, const char *name, uint32_t value,
                               uint64_t owner)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__SemRelease a = CONDD__V1__SEM_RELEASE__INIT;
    a.name = bytes_of(name);
    a.value = value;
    a.bounded = true;
    a.owner = owner;
    req.body_case = CONDD__V1__REQUEST__BODY_SEM_RELEASE;
    req.sem_release = &a;
    return sx_send(x, c, &req);
}

static uint64_t rq_event_wait(struct sx *x, struct cl *c, const char *name)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__EventWait a = CONDD__V1__EVENT_WAIT__INIT;
    a.name = bytes_of(name);
    req.body_case = CONDD__V1__REQUEST__BODY_EVENT_WAIT;
    req.event_wait = &a;
    return sx_send(x, c, &req);
}

static uint64_t rq_event_set(struct sx *x, struct cl *c, const char *name)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__EventSet a = CONDD__V1__EVENT_SET__INIT;
    a.name = bytes_of(name);
    req.body_case = CONDD__V1__REQUEST__BODY_EVENT_SET;
    req.event_set = &a;
    return sx_send(x, c, &req);
}

static uint64_t rq_barrier_wait(struct sx *x, struct cl *c, const char *name, uint32_t parties)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__BarrierWait a = CONDD__V1__BARRIER_WAIT__INIT;
    a.name = bytes_of(name);
    a.parties = parties;
    req.body_case = CONDD__V1__REQUEST__BODY_BARRIER_WAIT;
    req.barrier_wait = &a;
    return sx_send(x, c, &req);
}

static uint64_t rq_barrier_abort(struct sx *x, struct cl *c, const char *name, uint32_t parties)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__BarrierAbort a = CONDD__V1__BARRIER_ABORT__INIT;
    a.name = bytes_of(name);
    a.parties = parties;
    req.body_case = CONDD__V1__REQUEST__BODY_BARRIER_ABORT;
    req.barrier_abort = &a;
    return sx_send(x, c, &req);
}

/* ------------------------------------------------------------------ List, through the engine */

struct holders {
    uint64_t session[8], owner[8], token[8];
    size_t n;
    bool shared;
};

static void on_lock(void *arg, const struct engine_lock_info *li)
{
    struct holders *h = arg;
    h->shared = li->shared;
}

static void on_holder(void *arg, const struct engine_lock_holder_info *hi)
{
    struct holders *h = arg;
    if (h->n < 8) {
        h->session[h->n] = hi->session_id;
        h->owner[h->n] = hi->owner;
        h->token[h->n] = hi->token;
        h->n++;
    }
}

/* The holders of lock name as List shows them (exact name: the prefix is the name). */
static struct holders list_holders(struct sx *x, const char *name)
{
    struct holders h = {0};
    engine_list_holders(server_engine(x->srv), (const uint8_t *)name, strlen(name), 1, on_lock,
                        on_holder, NULL, &h);
    return h;
}

struct queue {
    uint64_t session[16], req[16];
    int final_status[16];
    size_t n;
};

static void on_queued(void *arg, const struct engine_queued_info *qi)
{
    struct queue *q = arg;
    if (q->n < 16) {
        q->session[q->n] = qi->session_id;
        q->req[q->n] = qi->req_id;
        q->final_status[q->n] = qi->final_status;
        q->n++;
    }
}

static struct queue list_queue(struct sx *x, bool is_cond, const char *name)
{
    struct queue q = {0};
    engine_queue_visit(server_engine(x->srv), is_cond, (const uint8_t *)name, strlen(name),
                       on_queued, &q);
    return q;
}

/* ------------------------------------------------------------------ save and load */

static int memfd(void)
{
    int fd = memfd_create("condd-state", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* Saves x's state into a new memfd (returned, at offset 0). */
static int sx_save(struct sx *x, struct snapshot_info *info)
{
    int fd = memfd();
    ck_assert(snapshot_save(x->srv, fd, info));
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* The restart: every client has vanished; save, free the server, load into a new one. */
static void sx_restart(struct sx *x, struct snapshot_info *saved, struct snapshot_info *loaded)
{
    int fd = sx_save(x, saved);
    sx_fini(x);
    sx_init(x);
    char why[256];
    ck_assert_msg(snapshot_load(x->srv, fd, why, sizeof why, loaded), "load refused: %s", why);
    close(fd);
}

static uint64_t last_token(struct sx *x)
{
    struct engine_stats st;
    engine_get_stats(server_engine(x->srv), &st);
    return st.last_token;
}

/* ================================================================== tests */

START_TEST(test_locks_holders_queue_and_tokens_survive)
{
    struct sx x;
    sx_init(&x);
    struct cl a, b, c, d;
    cl_open(&x, &a, "a");
    cl_open(&x, &b, "b");
    cl_open(&x, &c, "c");
    cl_open(&x, &d, "d");
    uint64_t ta, t;
    ck_assert_int_eq(sx_status(&x, &a, rq_acquire(&x, &a, "L", 1, -1, false), &ta), 0);
    uint64_t qb = rq_acquire(&x, &b, "L", 2, -1, false);  /* queued first */
    uint64_t qc = rq_acquire(&x, &c, "L", 3, 300, false); /* then, with a timeout */
    /* a lock held shared by two, and an exclusive request queued behind them */
    uint64_t tr1, tr2;
    ck_assert_int_eq(sx_status(&x, &a, rq_acquire(&x, &a, "R", 7, -1, true), &tr1), 0);
    ck_assert_int_eq(sx_status(&x, &d, rq_acquire(&x, &d, "R", 8, -1, true), &tr2), 0);
    uint64_t qw = rq_acquire(&x, &b, "R", 9, -1, false);
    sx_nothing_pending(&x, &b);
    sx_nothing_pending(&x, &c);
    uint64_t before = last_token(&x);

    cl_drop(&x, &a);
    cl_drop(&x, &b);
    cl_drop(&x, &c);
    cl_drop(&x, &d);
    struct snapshot_info si, li;
    sx_restart(&x, &si, &li);
    ck_assert_uint_eq(si.sessions, 4);
    ck_assert_uint_eq(li.sessions, 4);
    ck_assert_uint_eq(si.locks, 2);
    ck_assert_uint_eq(li.locks, 2);
    ck_assert_uint_eq(li.holders, 3);
    ck_assert_uint_eq(li.waiters, 3);
    ck_assert_uint_eq(li.bytes, si.bytes);
    ck_assert_uint_ge(last_token(&x), before);

    /* List: the same holders with the same tokens, the same queues in order */
    struct holders h = list_holders(&x, "L");
    ck_assert_uint_eq(h.n, 1);
    ck_assert_uint_eq(h.session[0], a.sid);
    ck_assert_uint_eq(h.owner[0], 1);
    ck_assert_uint_eq(h.token[0], ta);
    h = list_holders(&x, "R");
    ck_assert(h.shared);
    ck_assert_uint_eq(h.n, 2);
    ck_assert_uint_eq(h.session[0], a.sid);
    ck_assert_uint_eq(h.token[0], tr1);
    ck_assert_uint_eq(h.session[1], d.sid);
    ck_assert_uint_eq(h.token[1], tr2);
    struct queue q = list_queue(&x, false, "L");
    ck_assert_uint_eq(q.n, 2);
    ck_assert_uint_eq(q.session[0], b.sid);
    ck_assert_uint_eq(q.req[0], qb);
    ck_assert_uint_eq(q.session[1], c.sid);
    ck_assert_uint_eq(q.req[1], qc);

    /* behaviour: a releases, b (first in the queue) gets L with a token above every old one */
    cl_resume(&x, &a);
    cl_resume(&x, &b);
    cl_resume(&x, &c);
    cl_resume(&x, &d);
    ck_assert_int_eq(sx_status(&x, &a, rq_release(&x, &a, "L", 1), NULL), 0);
    ck_assert_int_eq(sx_status(&x, &b, qb, &t), 0);
    ck_assert_uint_gt(t, before);
    sx_nothing_pending(&x, &c); /* c is still queued */
    ck_assert_int_eq(sx_status(&x, &b, rq_release(&x, &b, "L", 2), NULL), 0);
    uint64_t t2;
    ck_assert_int_eq(sx_status(&x, &c, qc, &t2), 0);
    ck_assert_uint_gt(t2, t);
    /* the readers leave; the writer queued behind them goes in */
    ck_assert_int_eq(sx_status(&x, &a, rq_release(&x, &a, "R", 7), NULL), 0);
    sx_nothing_pending(&x, &b);
    ck_assert_int_eq(sx_status(&x, &d, rq_release(&x, &d, "R", 8), NULL), 0);
    ck_assert_int_eq(sx_status(&x, &b, qw, &t), 0);
    ck_assert_uint_gt(t, t2);
    wc_close(a.w);
    wc_close(b.w);
    wc_close(c.w);
    wc_close(d.w);
    sx_fini(&x);
}
END_TEST

START_TEST(test_notified_waiter_reacquires_after_load)
{
    struct sx x;
    sx_init(&x);
    struct cl a, b, c;
    cl_open(&x, &a, "a");
    cl_open(&x, &b, "b");
    cl_open(&x, &c, "c");
    ck_assert_int_eq(sx_status(&x, &a, rq_acquire(&x, &a, "L", 1, -1, false), NULL), 0);
    uint64_t wa = rq_wait(&x, &a, "C", "L", 1, -1); /* a waits, L handed on */
    ck_assert_int_eq(sx_status(&x, &c, rq_acquire(&x, &c, "L", 3, -1, false), NULL), 0);
    uint64_t wc = rq_wait(&x, &c, "C", "L", 3, 300); /* c waits too, behind a */
    ck_assert_int_eq(sx_status(&x, &b, rq_acquire(&x, &b, "L", 2, -1, false), NULL), 0);
    uint64_t woken = 0;
    {
        uint64_t id = rq_notify(&x, &b, "C", "L", 2, 1); /* wakes a only */
        Condd__V1__Response *r = sx_recv(&x, &b, id);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(r->status, 0);
        woken = r->notify->woken;
        condd__v1__response__free_unpacked(r, NULL);
    }
    ck_assert_uint_eq(woken, 1);
    sx_nothing_pending(&x, &a); /* notified, but b holds L */
    uint64_t before = last_token(&x);

    cl_drop(&x, &a);
    cl_drop(&x, &b);
    cl_drop(&x, &c);
    struct snapshot_info si, li;
    sx_restart(&x, &si, &li);
    ck_assert_uint_eq(li.waiters, 2);

    /* a re-acquires in L's queue (notified: it will answer OK); c still waits on C */
    struct queue q = list_queue(&x, false, "L");
    ck_assert_uint_eq(q.n, 1);
    ck_assert_uint_eq(q.session[0], a.sid);
    ck_assert_uint_eq(q.req[0], wa);
    ck_assert_int_eq(q.final_status[0], ENGINE_OK);
    q = list_queue(&x, true, "C");
    ck_assert_uint_eq(q.n, 1);
    ck_assert_uint_eq(q.session[0], c.sid);
    ck_assert_uint_eq(q.req[0], wc);

    cl_resume(&x, &a);
    cl_resume(&x, &b);
    cl_resume(&x, &c);
    ck_assert_int_eq(sx_status(&x, &b, rq_release(&x, &b, "L", 2), NULL), 0);
    uint64_t t;
    ck_assert_int_eq(sx_status(&x, &a, wa, &t), 0); /* holding L again */
    ck_assert_uint_gt(t, before);
    struct holders h = list_holders(&x, "L");
    ck_assert_uint_eq(h.n, 1);
    ck_assert_uint_eq(h.session[0], a.sid);
    /* and c's wait is still bound to L: a notifies it, releases, c gets L back */
    ck_assert_int_eq(sx_status(&x, &a, rq_notify(&x, &a, "C", "L", 1, 1), NULL), 0);
    ck_assert_int_eq(sx_status(&x, &a, rq_release(&x, &a, "L", 1), NULL), 0);
    ck_assert_int_eq(sx_status(&x, &c, wc, NULL), 0);
    wc_close(a.w);
    wc_close(b.w);
    wc_close(c.w);
    sx_fini(&x);
}
END_TEST

START_TEST(test_kept_answers_come_out_in_order_after_resume)
{
    struct sx x;
    sx_init(&x);
    struct cl a, b;
    cl_open(&x, &a, "a");
    cl_open(&x, &b, "b");
    ck_assert_int_eq(sx_status(&x, &a, rq_acquire(&x, &a, "L1", 1, -1, false), NULL), 0);
    ck_assert_int_eq(sx_status(&x, &a, rq_acquire(&x, &a, "L2", 1, -1, false), NULL), 0);
    uint64_t q1 = rq_acquire(&x, &b, "L1", 5, -1, false);
    uint64_t q2 = rq_acquire(&x, &b, "L2", 5, -1, false);
    sx_nothing_pending(&x, &b);
    cl_drop(&x, &b);
    /* granted while b is detached: kept, L2's grant first */
    ck_assert_int_eq(sx_status(&x, &a, rq_release(&x, &a, "L2", 1), NULL), 0);
    ck_assert_int_eq(sx_status(&x, &a, rq_release(&x, &a, "L1", 1), NULL), 0);
    cl_drop(&x, &a);
    struct snapshot_info si, li;
    sx_restart(&x, &si, &li);
    ck_assert_uint_eq(si.answers, 2);
    ck_assert_uint_eq(li.answers, 2);

    cl_resume(&x, &b);
    Condd__V1__Response *r = sx_next(&x, &b);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, q2);
    ck_assert_int_eq(r->status, 0);
    condd__v1__response__free_unpacked(r, NULL);
    r = sx_next(&x, &b);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, q1);
    condd__v1__response__free_unpacked(r, NULL);
    sx_nothing_pending(&x, &b);
    /* and b holds both */
    ck_assert_uint_eq(list_holders(&x, "L1").session[0], b.sid);
    ck_assert_uint_eq(list_holders(&x, "L2").session[0], b.sid);
    /* a's session came back too (a resume works), holding nothing */
    cl_resume(&x, &a);
    sx_nothing_pending(&x, &a);
    wc_close(a.w);
    wc_close(b.w);
    sx_fini(&x);
}
END_TEST

START_TEST(test_semaphores_events_barriers_survive)
{
    struct sx x;
    sx_init(&x);
    struct cl a, b, c;
    cl_open(&x, &a, "a");
    cl_open(&x, &b, "b");
    cl_open(&x, &c, "c");
    uint64_t ts;
    ck_assert_int_eq(sx_status(&x, &a, rq_sem_acquire(&x, &a, "S", 2, 1), &ts), 0);
    ck_assert_int_eq(sx_status(&x, &b, rq_sem_acquire(&x, &b, "S", 2, 2), NULL), 0);
    uint64_t qs = rq_sem_acquire(&x, &c, "S", 2, 3); /* queued: none free */
    ck_assert_int_eq(sx_status(&x, &a, rq_event_set(&x, &a, "E-set"), NULL), 0);
    uint64_t ew = rq_event_wait(&x, &b, "E-clear");
    uint64_t bw = rq_barrier_wait(&x, &c, "B3", 3); /* one of three arrived */
    ck_assert_int_eq(sx_status(&x, &a, rq_barrier_abort(&x, &a, "BB", 2), NULL), 0);
    sx_nothing_pending(&x, &b);
    sx_nothing_pending(&x, &c);
    cl_drop(&x, &a);
    cl_drop(&x, &b);
    cl_drop(&x, &c);
    struct snapshot_info si, li;
    sx_restart(&x, &si, &li);
    ck_assert_uint_eq(li.waiters, 3);
    struct engine_stats st;
    engine_get_stats(server_engine(x.srv), &st);
    ck_assert_uint_eq(st.semaphores, 1);
    ck_assert_uint_eq(st.permits_held, 2);
    ck_assert_uint_eq(st.semaphore_waiters, 1);
    ck_assert_uint_eq(st.events_set, 1);
    ck_assert_uint_eq(st.event_waiters, 1);
    ck_assert_uint_eq(st.barriers, 2);
    ck_assert_uint_eq(st.barriers_broken, 1);
    ck_assert_uint_eq(st.barrier_waiters, 1);

    cl_resume(&x, &a);
    cl_resume(&x, &b);
    cl_resume(&x, &c);
    /* a returns its permit: c, queued, gets it */
    ck_assert_int_eq(sx_status(&x, &a, rq_sem_release(&x, &a, "S", 2, 1), NULL), 0);
    uint64_t t;
    ck_assert_int_eq(sx_status(&x, &c, qs, &t), 0);
    ck_assert_uint_gt(t, ts);
    /* a bounded semaphore still refuses a release by a non-holder */
    ck_assert_int_eq(sx_status(&x, &a, rq_sem_release(&x, &a, "S", 2, 1), NULL),
                     CONDD__V1__STATUS__STATUS_NOT_OWNER);
    /* the set event answers a wait at once; setting the clear one wakes b */
    ck_assert_int_eq(sx_status(&x, &a, rq_event_wait(&x, &a, "E-set"), NULL), 0);
    ck_assert_int_eq(sx_status(&x, &a, rq_event_set(&x, &a, "E-clear"), NULL), 0);
    ck_assert_int_eq(sx_status(&x, &b, ew, NULL), 0);
    /* the barrier fills with two more: c arrived first, index 0 */
    uint64_t ba = rq_barrier_wait(&x, &a, "B3", 3);
    uint64_t idx;
    ck_assert_int_eq(sx_status(&x, &b, rq_barrier_wait(&x, &b, "B3", 3), &idx), 0);
    ck_assert_uint_eq(idx, 2);
    ck_assert_int_eq(sx_status(&x, &c, bw, &idx), 0);
    ck_assert_uint_eq(idx, 0);
    ck_assert_int_eq(sx_status(&x, &a, ba, &idx), 0);
    ck_assert_uint_eq(idx, 1);
    /* the broken one stays broken */
    ck_assert_int_eq(sx_status(&x, &a, rq_barrier_wait(&x, &a, "BB", 2), NULL),
                     CONDD__V1__STATUS__STATUS_BROKEN);
    wc_close(a.w);
    wc_close(b.w);
    wc_close(c.w);
    sx_fini(&x);
}
END_TEST

START_TEST(test_counters_and_session_ids_continue)
{
    struct sx x;
    sx_init(&x);
    struct cl a;
    cl_open(&x, &a, "a");
    ck_assert_int_eq(sx_status(&x, &a, rq_acquire(&x, &a, "L", 1, -1, false), NULL), 0);
    uint64_t acquires = x.srv->stats.ops[STATS_OP_ACQUIRE][0];
    uint64_t next_id = x.srv->next_session_id;
    ck_assert_uint_eq(acquires, 1);
    cl_drop(&x, &a);
    sx_restart(&x, NULL, NULL);
    ck_assert_uint_eq(x.srv->stats.ops[STATS_OP_ACQUIRE][0], acquires);
    ck_assert_uint_eq(x.srv->next_session_id, next_id);
    struct server_snapshot ss;
    server_snapshot(x.srv, &ss);
    ck_assert_uint_eq(ss.sessions, 1);
    ck_assert_uint_eq(ss.detached_sessions, 1);
    /* a new session gets a new id, not a restored one's */
    struct cl b;
    cl_open(&x, &b, "b");
    ck_assert_uint_eq(b.sid, next_id);
    ck_assert_uint_ne(b.sid, a.sid);
    wc_close(b.w);
    sx_fini(&x);
}
END_TEST

START_TEST(test_save_refuses_a_hold_of_a_session_without_grace)
{
    struct sx x;
    sx_init(&x);
    struct cl a;
    memset(&a, 0, sizeof a);
    a.w = sx_connect(&x);
    ck_assert(wc_hello(a.w, ++a.next_id, 1, "nograce"));
    ck_assert_int_eq(sx_status(&x, &a, a.next_id, NULL), 0);
    ck_assert_int_eq(sx_status(&x, &a, rq_acquire(&x, &a, "L", 1, -1, false), NULL), 0);
    int fd = memfd();
    ck_assert(!snapshot_save(x.srv, fd, NULL));
    close(fd);
    ck_assert(list_holders(&x, "L").n == 1); /* nothing changed */
    wc_close(a.w);
    sx_fini(&x);
}
END_TEST

/* ------------------------------------------------------------------ corrupt states */

/* A saved state: one detached session holding L, with a waiter of another, and H (nobody
 * queued: saved in the HeldLocks columns). */
static uint8_t *good_state(size_t *len)
{
    struct sx x;
    sx_init(&x);
    struct cl a, b;
    cl_open(&x, &a, "a");
    cl_open(&x, &b, "b");
    ck_assert_int_eq(sx_status(&x, &a, rq_acquire(&x, &a, "L", 1, -1, false), NULL), 0);
    ck_assert_int_eq(sx_status(&x, &a, rq_acquire(&x, &a, "H", 1, -1, false), NULL), 0);
    rq_acquire(&x, &b, "L", 2, 30, false);
    sx_nothing_pending(&x, &b);
    cl_drop(&x, &a);
    cl_drop(&x, &b);
    int fd = sx_save(&x, NULL);
    sx_fini(&x);
    off_t n = lseek(fd, 0, SEEK_END);
    ck_assert_int_gt(n, 0);
    uint8_t *buf = malloc((size_t)n);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(pread(fd, buf, (size_t)n, 0), n);
    close(fd);
    *len = (size_t)n;
    return buf;
}

/* Loads buf into a fresh server: must be refused with a reason containing want; then the
 * server is empty and serves a new session. */
static void expect_refused(const uint8_t *buf, size_t len, const char *want)
{
    struct sx x;
    sx_init(&x);
    int fd = memfd();
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    char why[256] = "";
    ck_assert(!snapshot_load(x.srv, fd, why, sizeof why, NULL));
    close(fd);
    ck_assert_msg(strstr(why, want) != NULL, "reason \"%s\" lacks \"%s\"", why, want);
    struct server_snapshot ss;
    server_snapshot(x.srv, &ss);
    ck_assert_uint_eq(ss.sessions, 0);
    struct engine_stats st;
    engine_get_stats(server_engine(x.srv), &st);
    ck_assert_uint_eq(st.locks, 0);
    ck_assert_uint_eq(st.waiters, 0);
    ck_assert_uint_eq(st.sessions, 0);
    ck_assert_uint_eq(x.srv->next_session_id, 1);
    struct cl c;
    cl_open(&x, &c, "after");
    ck_assert_uint_eq(c.sid, 1);
    uint64_t t;
    ck_assert_int_eq(sx_status(&x, &c, rq_acquire(&x, &c, "L", 1, 0, false), &t), 0);
    ck_assert_uint_gt(t, 0);
    wc_close(c.w);
    sx_fini(&x);
}

/* Re-seals state st (new digest) with version into a new buffer. */
static uint8_t *seal(const Condd__State__State *st, uint32_t version, size_t *len)
{
    size_t slen = condd__state__state__get_packed_size(st);
    uint8_t *sb = malloc(slen + 1);
    ck_assert_ptr_nonnull(sb);
    condd__state__state__pack(st, sb);
    uint8_t digest[32];
    crypto_generichash(digest, sizeof digest, sb, slen, NULL, 0);
    Condd__State__Snapshot snap = CONDD__STATE__SNAPSHOT__INIT;
    snap.version = version;
    snap.state = (ProtobufCBinaryData){.len = slen, .data = sb};
    snap.blake2b = (ProtobufCBinaryData){.len = sizeof digest, .data = digest};
    *len = condd__state__snapshot__get_packed_size(&snap);
    uint8_t *out = malloc(*len);
    ck_assert_ptr_nonnull(out);
    condd__state__snapshot__pack(&snap, out);
    free(sb);
    return out;
}

static Condd__State__State *unseal(const uint8_t *buf, size_t len)
{
    Condd__State__Snapshot *snap = condd__state__snapshot__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(snap);
    Condd__State__State *st = condd__state__state__unpack(NULL, snap->state.len, snap->state.data);
    ck_assert_ptr_nonnull(st);
    condd__state__snapshot__free_unpacked(snap, NULL);
    return st;
}

START_TEST(test_load_refuses_truncated_state)
{
    size_t len;
    uint8_t *buf = good_state(&len);
    expect_refused(buf, len / 2, "truncated or corrupt");
    expect_refused(buf, len - 1, "");
    expect_refused(buf, 0, "empty");
    free(buf);
}
END_TEST

START_TEST(test_load_refuses_another_version)
{
    size_t len, len2;
    uint8_t *buf = good_state(&len);
    Condd__State__State *st = unseal(buf, len);
    uint8_t *v2 = seal(st, SNAPSHOT_VERSION + 1, &len2);
    expect_refused(v2, len2, "version 2");
    /* the same state sealed with the right version loads: the refusal was the version */
    free(v2);
    v2 = seal(st, SNAPSHOT_VERSION, &len2);
    struct sx x;
    sx_init(&x);
    int fd = memfd();
    ck_assert_int_eq(write(fd, v2, len2), (ssize_t)len2);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    char why[256];
    ck_assert_msg(snapshot_load(x.srv, fd, why, sizeof why, NULL), "%s", why);
    close(fd);
    sx_fini(&x);
    condd__state__state__free_unpacked(st, NULL);
    free(v2);
    free(buf);
}
END_TEST

START_TEST(test_load_refuses_a_flipped_byte)
{
    size_t len;
    uint8_t *buf = good_state(&len);
    /* every byte of the state, one at a time: each flip is refused (digest, decode or
     * envelope), none crashes or half-loads */
    for (size_t i = 0; i < len; i += 7) {
        buf[i] ^= 0x20;
        expect_refused(buf, len, "");
        buf[i] ^= 0x20;
    }
    free(buf);
}
END_TEST

START_TEST(test_load_refuses_a_reference_to_a_missing_session)
{
    size_t len, len2;
    uint8_t *buf = good_state(&len);
    Condd__State__State *st = unseal(buf, len);
    ck_assert_uint_eq(st->n_sessions, 2);
    ck_assert_uint_eq(st->n_locks, 1); /* L, with its queue; H is in the columns */
    /* drop the session that waits: the lock's queue names it */
    uint64_t holder = st->locks[0]->holders[0]->session;
    if (st->sessions[0]->id == holder) {
        Condd__State__Session *t = st->sessions[0];
        st->sessions[0] = st->sessions[1];
        st->sessions[1] = t;
    }
    st->n_sessions = 1;
    uint8_t *bad = seal(st, SNAPSHOT_VERSION, &len2);
    st->n_sessions = 2;
    expect_refused(bad, len2, "not in the state");
    free(bad);
    /* a second holder of an exclusive lock */
    Condd__State__Hold *h0 = st->locks[0]->holders[0];
    Condd__State__Hold *two[2] = {h0, h0};
    Condd__State__Hold **saved = st->locks[0]->holders;
    st->locks[0]->holders = two;
    st->locks[0]->n_holders = 2;
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    st->locks[0]->holders = saved;
    st->locks[0]->n_holders = 1;
    expect_refused(bad, len2, "held exclusively");
    free(bad);
    /* a queue without a holder */
    st->locks[0]->n_holders = 0;
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    st->locks[0]->n_holders = 1;
    expect_refused(bad, len2, "without holder");
    free(bad);
    /* a request id pending twice in one session */
    Condd__State__Pending *p0 = st->locks[0]->queue[0];
    Condd__State__Pending *twice[2] = {p0, p0};
    Condd__State__Pending **savedq = st->locks[0]->queue;
    st->locks[0]->queue = twice;
    st->locks[0]->n_queue = 2;
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    st->locks[0]->queue = savedq;
    st->locks[0]->n_queue = 1;
    expect_refused(bad, len2, "twice");
    free(bad);
    /* an invalid name (a control character) */
    uint8_t *name = st->locks[0]->name.data;
    uint8_t ctl[] = {'L', 0x01};
    st->locks[0]->name = (ProtobufCBinaryData){.len = 2, .data = ctl};
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    st->locks[0]->name = (ProtobufCBinaryData){.len = 1, .data = name};
    expect_refused(bad, len2, "invalid name");
    free(bad);
    /* the columns of held locks: lengths that differ, names cut short, a missing session, a
     * lock listed both there and among the others */
    Condd__State__HeldLocks *hl = st->held_locks;
    ck_assert_ptr_nonnull(hl);
    ck_assert_uint_eq(hl->n_name_lens, 1);
    hl->n_tokens = 0;
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    hl->n_tokens = 1;
    expect_refused(bad, len2, "differ in length");
    free(bad);
    hl->name_lens[0] = 1000;
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    hl->name_lens[0] = 1;
    expect_refused(bad, len2, "cut short");
    free(bad);
    uint64_t holder_h = hl->sessions[0];
    hl->sessions[0] = 12345;
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    hl->sessions[0] = holder_h;
    expect_refused(bad, len2, "not in the state");
    free(bad);
    uint8_t *hname = hl->names.data;
    hl->names.data = st->locks[0]->name.data; /* "L" */
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    hl->names.data = hname;
    expect_refused(bad, len2, "listed twice");
    free(bad);
    /* in the columns: a token 0, an invalid name, and one name twice (the bulk restore,
     * engine_restore_held_locks, refuses what the one-by-one restore does) */
    uint64_t tok_h = hl->tokens[0];
    hl->tokens[0] = 0;
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    hl->tokens[0] = tok_h;
    expect_refused(bad, len2, "without a token");
    free(bad);
    hl->names.data = ctl + 1; /* 0x01 */
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    hl->names.data = hname;
    expect_refused(bad, len2, "invalid name");
    free(bad);
    uint8_t hh[2] = {hname[0], hname[0]};
    uint32_t lens2[2] = {1, 1};
    uint64_t sess2[2] = {hl->sessions[0], hl->sessions[0]};
    uint64_t own2[2] = {hl->owners[0], hl->owners[0] + 1};
    uint64_t tok2[2] = {hl->tokens[0], hl->tokens[0] + 1};
    Condd__State__HeldLocks two_h = *hl;
    two_h.names = (ProtobufCBinaryData){.len = 2, .data = hh};
    two_h.n_name_lens = two_h.n_sessions = two_h.n_owners = two_h.n_tokens = 2;
    two_h.name_lens = lens2;
    two_h.sessions = sess2;
    two_h.owners = own2;
    two_h.tokens = tok2;
    st->held_locks = &two_h;
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    st->held_locks = hl;
    expect_refused(bad, len2, "listed twice");
    free(bad);
    /* the same session listed twice */
    Condd__State__Session *s0 = st->sessions[0];
    Condd__State__Session **saveds = st->sessions;
    Condd__State__Session *dup[2] = {s0, s0};
    st->sessions = dup;
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    st->sessions = saveds;
    expect_refused(bad, len2, "listed twice");
    free(bad);
    /* acknowledged delivery: counts that do not match the copies (protocol.md §5.6.2) */
    s0->acks = true;
    s0->responses = 5;
    s0->first_answer = 2; /* 4 copies said, none there */
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    expect_refused(bad, len2, "inconsistent answer counts");
    free(bad);
    s0->first_answer = 7; /* past responses + 1 */
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    expect_refused(bad, len2, "inconsistent answer counts");
    free(bad);
    s0->first_answer = 0;
    bad = seal(st, SNAPSHOT_VERSION, &len2);
    expect_refused(bad, len2, "inconsistent answer counts");
    free(bad);
    s0->acks = false;
    s0->responses = 0;
    condd__state__state__free_unpacked(st, NULL);
    free(buf);
}
END_TEST

/* The remaining timeout of the one pending request, through the engine's export. */
static bool rem_object(void *arg, const struct engine_obj *o)
{
    (void)arg;
    (void)o;
    return true;
}
static bool rem_hold(void *arg, const struct engine_obj_hold *h)
{
    (void)arg;
    (void)h;
    return true;
}
static bool rem_pending(void *arg, const struct engine_obj_pending *p)
{
    *(double *)arg = p->timed ? p->remaining_s : -1;
    return true;
}

START_TEST(test_time_since_the_save_counts_against_grace_and_timeouts)
{
    size_t len, len2;
    uint8_t *buf = good_state(&len); /* b's acquire: 30 s timeout; grace 30 s */
    Condd__State__State *st = unseal(buf, len);
    ck_assert_uint_gt(st->saved_mono_us, 20000000);
    st->saved_mono_us -= 20000000; /* as if the save had been 20 s ago */
    uint8_t *older = seal(st, SNAPSHOT_VERSION, &len2);
    struct sx x;
    sx_init(&x);
    int fd = memfd();
    ck_assert_int_eq(write(fd, older, len2), (ssize_t)len2);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    char why[256];
    ck_assert_msg(snapshot_load(x.srv, fd, why, sizeof why, NULL), "%s", why);
    close(fd);
    /* about 10 s left of each (the 30 s less the 20 s, less the moments this test took) */
    struct dsession *ds;
    TAILQ_FOREACH(ds, &x.srv->detached, det_link)
    {
        double left = ds->deadline - server_now();
        ck_assert_msg(left > 5 && left <= 10.01, "grace left %.3f s", left);
    }
    double rem = -2;
    static const struct engine_export_fns fns = {rem_object, rem_hold, rem_pending};
    ck_assert(engine_export(server_engine(x.srv), &fns, &rem));
    ck_assert_msg(rem > 5 && rem <= 10.01, "timeout left %.3f s", rem);
    sx_fini(&x);
    condd__state__state__free_unpacked(st, NULL);
    free(older);
    free(buf);
}
END_TEST

START_TEST(test_load_refuses_a_server_with_sessions)
{
    size_t len;
    uint8_t *buf = good_state(&len);
    struct sx x;
    sx_init(&x);
    struct cl c;
    cl_open(&x, &c, "already");
    int fd = memfd();
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    char why[256];
    ck_assert(!snapshot_load(x.srv, fd, why, sizeof why, NULL));
    ck_assert(strstr(why, "sessions already") != NULL);
    close(fd);
    wc_close(c.w);
    sx_fini(&x);
    free(buf);
}
END_TEST

/* A connection whose output was all written has no unsent frames, and the pointer says so too
 * (NULL, not its buffer at offset 0: that buffer is NULL itself after a flush that gave a large
 * one back, and conn_close() took NULL + 0 for every such detach, which UBSan reports; found by
 * fuzz_conn). The detach then keeps nothing and the resume delivers nothing before new answers. */
START_TEST(test_no_unsent_frames_once_everything_is_written)
{
    struct sx x;
    sx_init(&x);
    struct cl c;
    cl_open(&x, &c, "flushed");
    sx_nothing_pending(&x, &c); /* its answer came: the connection has written everything */
    struct conn *conn = TAILQ_FIRST(&x.srv->conns);
    ck_assert_ptr_nonnull(conn);
    size_t len = 1;
    ck_assert_ptr_null(conn_unsent_frames(conn, &len));
    ck_assert_uint_eq(len, 0);
    cl_drop(&x, &c);
    cl_resume(&x, &c);
    sx_nothing_pending(&x, &c);
    wc_close(c.w);
    sx_fini(&x);
}
END_TEST

static Suite *snapshot_suite(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_locks_holders_queue_and_tokens_survive);
    tcase_add_test(tc, test_notified_waiter_reacquires_after_load);
    tcase_add_test(tc, test_kept_answers_come_out_in_order_after_resume);
    tcase_add_test(tc, test_semaphores_events_barriers_survive);
    tcase_add_test(tc, test_counters_and_session_ids_continue);
    tcase_add_test(tc, test_save_refuses_a_hold_of_a_session_without_grace);
    tcase_add_test(tc, test_time_since_the_save_counts_against_grace_and_timeouts);
    tcase_add_test(tc, test_no_unsent_frames_once_everything_is_written);
    suite_add_tcase(s, tc);
    TCase *tb = tcase_create("corrupt");
    tcase_set_timeout(tb, 300);
    tcase_add_test(tb, test_load_refuses_truncated_state);
    tcase_add_test(tb, test_load_refuses_another_version);
    tcase_add_test(tb, test_load_refuses_a_flipped_byte);
    tcase_add_test(tb, test_load_refuses_a_reference_to_a_missing_session);
    tcase_add_test(tb, test_load_refuses_a_server_with_sessions);
    suite_add_tcase(s, tb);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_init(LOG_LVL_ERROR);
    SRunner *sr = srunner_create(snapshot_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
