/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Network blips made deterministic with tests/blipproxy between a wire client and condd: a
 * dropped (end-of-file), reset or client-side-only dropped connection, and a stall long enough
 * for the session timeout, each followed by a resume through the proxy (protocol.md §5.5-§5.6).
 * The second client of each test talks to condd directly and watches the first one's locks.
 * The "acks" cases check acknowledged delivery (§5.6.2): an answer written into a connection
 * that breaks, and requests that never reached the server, are not lost; the copies' cap; the
 * counts through a live restart.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "proxy_util.h"
#include "testutil.h"
#include "wire_expect.h"
#include "wireclient.h"

#define ST(x) CONDD__V1__STATUS__STATUS_##x
#define T 10.0

static struct tu_daemon D;
static struct tu_proxy P;

static void start(void)
{
    ck_assert_msg(tu_daemon_start(&D, false, NULL), "condd did not start");
    ck_assert_msg(tu_proxy_start(&P, D.port), "blipproxy did not start");
}

static void stop(void)
{
    tu_proxy_stop(&P);
    tu_daemon_stop(&D);
}

/* Each test starts with the proxy forwarding and accepting, whatever the last one did. */
static void reset_proxy(void)
{
    ck_assert(tu_proxy_cmd(&P, "flow", NULL, 0));
    ck_assert(tu_proxy_cmd(&P, "accept", NULL, 0));
}

static void cmd(const char *c)
{
    ck_assert_msg(tu_proxy_cmd(&P, c, NULL, 0), "proxy command %s failed", c);
}

struct sess {
    uint64_t id;
    uint8_t secret[32];
};

static bool send_hello_ex(struct wc *w, uint64_t id, double grace, double timeout,
                          const struct sess *resume, bool acks)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
    req.id = id;
    h.protocol_version = 1;
    h.client_name = (char *)"check_blip";
    h.grace_s = grace;
    h.session_timeout_s = timeout;
    h.acks = acks;
    if (resume != NULL) {
        h.resume_session = resume->id;
        h.resume_secret.data = (uint8_t *)resume->secret;
        h.resume_secret.len = 32;
    }
    req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
    req.hello = &h;
    return wc_send(w, &req);
}

static bool send_hello(struct wc *w, uint64_t id, double grace, double timeout,
                       const struct sess *resume)
{
    return send_hello_ex(w, id, grace, timeout, resume, false);
}

/* A session through the proxy. */
static struct wc *open_session(double grace, double timeout, struct sess *s)
{
    struct wc *w = wc_connect(P.port);
    ck_assert_ptr_nonnull(w);
    ck_assert(send_hello(w, 1, grace, timeout, NULL));
    Condd__V1__Response *r = wx_expect(w, 1, ST(OK));
    s->id = r->hello->session_id;
    ck_assert(!r->hello->acks); /* not asked for */
    ck_assert_uint_eq(r->hello->resume_secret.len, 32);
    memcpy(s->secret, r->hello->resume_secret.data, 32);
    condd__v1__response__free_unpacked(r, NULL);
    return w;
}

/* Resumes through the proxy: the first frame must be the resumed HelloResult. */
static struct wc *resume(const struct sess *s)
{
    struct wc *w = wc_connect(P.port);
    ck_assert_ptr_nonnull(w);
    ck_assert(send_hello(w, 1, 0, 0, s));
    Condd__V1__Response *r = wc_recv(w, T);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, 1);
    ck_assert_msg(r->status == ST(OK), "resume: %s", r->message);
    ck_assert(r->hello->resumed);
    ck_assert_uint_eq(r->hello->session_id, s->id);
    condd__v1__response__free_unpacked(r, NULL);
    return w;
}

static void bye(struct wc *w)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Goodbye g = CONDD__V1__GOODBYE__INIT;
    req.id = 999999;
    req.body_case = CONDD__V1__REQUEST__BODY_GOODBYE;
    req.goodbye = &g;
    ck_assert(wc_send(w, &req));
    wx_expect_free(w, 999999, ST(OK));
    wc_close(w);
}

static uint64_t detached_now(struct wc *w)
{
    static uint64_t id = 900000;
    id++;
    ck_assert(wc_stats(w, id));
    Condd__V1__Response *r = wx_expect(w, id, ST(OK));
    uint64_t v = r->stats->detached_sessions;
    condd__v1__response__free_unpacked(r, NULL);
    return v;
}

static void await_detached(struct wc *w, uint64_t want)
{
    double end = tu_now() + T;
    uint64_t v;
    while ((v = detached_now(w)) != want && tu_now() < end)
        usleep(2000);
    ck_assert_msg(v == want, "detached_sessions %llu, expected %llu", (unsigned long long)v,
                  (unsigned long long)want);
}

/* (holder session, token) of lock from List; holder 0 when free. */
static uint64_t holder_of(struct wc *w, const char *lock, uint64_t *token)
{
    static uint64_t id = 800000;
    id++;
    ck_assert(wc_list(w, id, lock));
    Condd__V1__Response *r = wx_expect(w, id, ST(OK));
    uint64_t h = 0;
    for (size_t i = 0; i < r->list->n_locks; i++) {
        Condd__V1__LockInfo *li = r->list->locks[i];
        if (li->name.len == strlen(lock) && memcmp(li->name.data, lock, li->name.len) == 0 &&
            li->held) {
            h = li->holder_session;
            if (token != NULL)
                *token = li->token;
        }
    }
    condd__v1__response__free_unpacked(r, NULL);
    return h;
}

static void await_holder(struct wc *w, const char *lock, uint64_t want)
{
    double end = tu_now() + T;
    uint64_t v;
    while ((v = holder_of(w, lock, NULL)) != want && tu_now() < end)
        usleep(2000);
    ck_assert_msg(v == want, "%s held by %llu, expected %llu", lock, (unsigned long long)v,
                  (unsigned long long)want);
}

static uint64_t next_id = 100;

static void try_lock_fails(struct wc *w, const char *lock)
{
    uint64_t id = ++next_id;
    ck_assert(wc_acquire(w, id, lock, 9, 0));
    wx_expect_free(w, id, ST(TIMEOUT));
}

/* ------------------------------------------------------------------ tests */

START_TEST(test_dropped_connection_keeps_the_lock_held_throughout_the_blip)
{
    reset_proxy();
    struct sess a;
    struct wc *wa = open_session(30, 0, &a);
    struct wc *b = wc_session(D.port, "watcher");
    ck_assert_ptr_nonnull(b);
    ck_assert(wc_acquire(wa, 2, "blip", 1, -1));
    uint64_t tok = wx_expect_token(wa, 2);
    try_lock_fails(b, "blip");
    cmd("drop");
    ck_assert(wc_wait_closed(wa, T));
    wc_close(wa);
    await_detached(b, 1);
    for (int i = 0; i < 5; i++) /* all along the blip */
        try_lock_fails(b, "blip");
    uint64_t t2 = 0;
    ck_assert_uint_eq(holder_of(b, "blip", &t2), a.id);
    ck_assert_uint_eq(t2, tok);
    wa = resume(&a);
    try_lock_fails(b, "blip");
    ck_assert_uint_eq(holder_of(b, "blip", &t2), a.id);
    ck_assert_uint_eq(t2, tok); /* same fencing token */
    ck_assert(wc_release(wa, 3, "blip", 1));
    wx_expect_free(wa, 3, ST(OK));
    bye(wa);
    wc_close(b);
}
END_TEST

START_TEST(test_reset_connection_gets_its_grant_after_resume)
{
    reset_proxy();
    struct sess a;
    struct wc *wa = open_session(30, 0, &a);
    struct wc *b = wc_session(D.port, "holder");
    ck_assert_ptr_nonnull(b);
    ck_assert(wc_acquire(b, 2, "rst", 1, -1));
    wx_expect_token(b, 2);
    ck_assert(wc_acquire(wa, 7, "rst", 1, -1));
    ck_assert(wc_nothing_before_ping(wa));
    cmd("reset");
    wc_close(wa);
    await_detached(b, 1);
    ck_assert(wc_release(b, 3, "rst", 1));
    wx_expect_free(b, 3, ST(OK));
    await_holder(b, "rst", a.id); /* granted during the blip */
    try_lock_fails(b, "rst");
    wa = resume(&a);
    uint64_t tok = wx_expect_token(wa, 7);
    uint64_t t2 = 0;
    ck_assert_uint_eq(holder_of(b, "rst", &t2), a.id);
    ck_assert_uint_eq(t2, tok);
    bye(wa);
    await_holder(b, "rst", 0); /* Goodbye released it at once */
    wc_close(b);
}
END_TEST

START_TEST(test_wait_notified_during_the_blip_returns_after_resume_holding_the_lock)
{
    reset_proxy();
    struct sess a;
    struct wc *wa = open_session(30, 0, &a);
    struct wc *b = wc_session(D.port, "notifier");
    ck_assert_ptr_nonnull(b);
    ck_assert(wc_acquire(wa, 2, "bwl", 1, -1));
    wx_expect_token(wa, 2);
    ck_assert(wc_wait(wa, 8, "bwc", "bwl", 1, -1));
    ck_assert(wc_acquire(b, 2, "bwl", 1, -1));
    wx_expect_token(b, 2);
    cmd("drop");
    wc_close(wa);
    await_detached(b, 1);
    ck_assert(wc_notify(b, 3, "bwc", "bwl", 1, 1));
    wx_expect_free(b, 3, ST(OK));
    ck_assert(wc_release(b, 4, "bwl", 1));
    wx_expect_free(b, 4, ST(OK));
    await_holder(b, "bwl", a.id);
    wa = resume(&a);
    uint64_t tok = wx_expect_token(wa, 8);
    uint64_t t2 = 0;
    ck_assert_uint_eq(holder_of(b, "bwl", &t2), a.id);
    ck_assert_uint_eq(t2, tok);
    try_lock_fails(b, "bwl");
    bye(wa);
    wc_close(b);
}
END_TEST

START_TEST(test_resume_while_the_server_still_sees_the_old_connection_takes_over)
{
    reset_proxy();
    struct sess a;
    struct wc *wa = open_session(30, 0, &a);
    struct wc *b = wc_session(D.port, "watcher");
    ck_assert_ptr_nonnull(b);
    ck_assert(wc_acquire(wa, 2, "over", 1, -1));
    uint64_t tok = wx_expect_token(wa, 2);
    cmd("drop-client"); /* the server side stays open: condd notices nothing */
    wc_close(wa);
    ck_assert_uint_eq(detached_now(b), 0);
    try_lock_fails(b, "over");
    wa = resume(&a);
    ck_assert_uint_eq(detached_now(b), 0);
    uint64_t t2 = 0;
    ck_assert_uint_eq(holder_of(b, "over", &t2), a.id);
    ck_assert_uint_eq(t2, tok);
    ck_assert(wc_release(wa, 3, "over", 1));
    wx_expect_free(wa, 3, ST(OK));
    bye(wa);
    wc_close(b);
}
END_TEST

START_TEST(test_stall_past_the_session_timeout_detaches_and_resumes)
{
    reset_proxy();
    struct sess a;
    struct wc *wa = open_session(30, 1, &a); /* 1 s session timeout */
    struct wc *b = wc_session(D.port, "watcher");
    ck_assert_ptr_nonnull(b);
    ck_assert(wc_acquire(wa, 2, "stalled", 1, -1));
    uint64_t tok = wx_expect_token(wa, 2);
    cmd("stall");
    await_detached(b, 1); /* condd gave up on the silent connection */
    try_lock_fails(b, "stalled");
    cmd("flow");
    /* The old connection ends with end-of-file and no final TIMEOUT frame. */
    ck_assert(wc_wait_closed(wa, T));
    wc_close(wa);
    wa = resume(&a);
    uint64_t t2 = 0;
    ck_assert_uint_eq(holder_of(b, "stalled", &t2), a.id);
    ck_assert_uint_eq(t2, tok);
    bye(wa);
    wc_close(b);
}
END_TEST

START_TEST(test_a_blip_longer_than_the_grace_loses_the_session)
{
    reset_proxy();
    struct sess a;
    struct wc *wa = open_session(0.3, 0, &a);
    struct wc *b = wc_session(D.port, "next");
    ck_assert_ptr_nonnull(b);
    ck_assert(wc_acquire(wa, 2, "lost", 1, -1));
    wx_expect_token(wa, 2);
    ck_assert(wc_acquire(b, 2, "lost", 1, -1));
    ck_assert(wc_nothing_before_ping(b));
    cmd("refuse"); /* the server looks unreachable for the whole grace */
    cmd("drop");
    wc_close(wa);
    wx_expect_token(b, 2); /* handed on when the grace ran out */
    cmd("accept");
    wa = wc_connect(P.port);
    ck_assert_ptr_nonnull(wa);
    ck_assert(send_hello(wa, 1, 0, 0, &a));
    wx_expect_free(wa, 1, ST(RESUME_FAILED));
    wc_close(wa);
    wc_close(b);
}
END_TEST

/* ------------------------------------------------------------------ acknowledged delivery */

/* A session with acknowledged delivery (protocol.md §5.6.2) on port (the proxy's, usually). */
static struct wc *open_acks_at(int port, double grace, struct sess *s)
{
    struct wc *w = wc_connect(port);
    ck_assert_ptr_nonnull(w);
    ck_assert(send_hello_ex(w, 1, grace, 0, NULL, true));
    Condd__V1__Response *r = wx_expect(w, 1, ST(OK));
    ck_assert(r->hello->acks);
    ck_assert(!r->hello->resumed);
    ck_assert_uint_eq(r->hello->requests_received, 0);
    s->id = r->hello->session_id;
    memcpy(s->secret, r->hello->resume_secret.data, 32);
    condd__v1__response__free_unpacked(r, NULL);
    return w;
}

/* Resumes s on port acking ack counted Responses; *received: HelloResult's requests_received.
 * Returns the connection, or NULL with *status set when the resume was refused. */
static struct wc *resume_acks_at(int port, const struct sess *s, uint64_t ack, uint64_t *received,
                                 int *status)
{
    struct wc *w = wc_connect(port);
    ck_assert_ptr_nonnull(w);
    w->ack = ack;
    ck_assert(send_hello_ex(w, 1, 0, 0, s, false));
    w->ack = 0;
    Condd__V1__Response *r = wc_recv(w, T);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, 1);
    *status = r->status;
    if (r->status != ST(OK)) {
        condd__v1__response__free_unpacked(r, NULL);
        wc_close(w);
        return NULL;
    }
    ck_assert(r->hello->resumed);
    ck_assert(r->hello->acks);
    ck_assert_uint_eq(r->hello->session_id, s->id);
    *received = r->hello->requests_received;
    condd__v1__response__free_unpacked(r, NULL);
    return w;
}

static struct wc *resume_acks(const struct sess *s, uint64_t ack, uint64_t *received)
{
    int status = 0;
    struct wc *w = resume_acks_at(P.port, s, ack, received, &status);
    ck_assert_msg(w != NULL, "resume refused with status %d", status);
    return w;
}

static void ping_ok(struct wc *w, uint64_t id)
{
    ck_assert(wc_ping(w, id));
    wx_expect_free(w, id, ST(OK));
}

START_TEST(test_acks_need_a_grace)
{
    reset_proxy();
    struct wc *w = wc_connect(D.port);
    ck_assert_ptr_nonnull(w);
    ck_assert(send_hello_ex(w, 1, 0, 0, NULL, true));
    Condd__V1__Response *r = wx_expect(w, 1, ST(OK));
    ck_assert(!r->hello->acks); /* nothing to resume, so nothing to acknowledge */
    ck_assert_uint_eq(r->hello->grace_s, 0);
    condd__v1__response__free_unpacked(r, NULL);
    wc_close(w);
}
END_TEST

/* The case §5.6.2 is for: the grant is written into a connection that breaks before the client
 * reads it. The proxy is stalled, so the grant waits in its socket, and the reset throws it
 * away; the server had written it whole. */
static uint64_t grant_into_a_stall(struct wc *wa, struct wc *b, const char *lock, uint64_t aid)
{
    ck_assert(wc_acquire(b, 2, lock, 1, -1));
    wx_expect_token(b, 2);
    ck_assert(wc_acquire(wa, 7, lock, 1, -1));
    ck_assert(wc_nothing_before_ping(wa)); /* queued behind b; one counted answer (the Ping) */
    cmd("stall");
    ck_assert(wc_release(b, 3, lock, 1));
    wx_expect_free(b, 3, ST(OK));
    uint64_t tok = 0;
    ck_assert_uint_eq(holder_of(b, lock, &tok), aid); /* granted, and written to the proxy */
    cmd("reset");
    wc_close(wa);
    await_detached(b, 1);
    cmd("flow");
    return tok;
}

START_TEST(test_acks_a_grant_lost_in_a_broken_connection_arrives_after_the_resume)
{
    reset_proxy();
    struct sess a;
    struct wc *wa = open_acks_at(P.port, 30, &a);
    struct wc *b = wc_session(D.port, "holder");
    ck_assert_ptr_nonnull(b);
    uint64_t tok = grant_into_a_stall(wa, b, "agrant", a.id);
    uint64_t received = 0;
    wa = resume_acks(&a, 1, &received);
    ck_assert_uint_eq(received, 2); /* the Acquire and the Ping */
    ck_assert_uint_eq(wx_expect_token(wa, 7), tok);
    ck_assert(wc_nothing_before_ping(wa)); /* once */
    try_lock_fails(b, "agrant");
    bye(wa);
    await_holder(b, "agrant", 0);
    wc_close(b);
}
END_TEST

/* The same blip without acknowledged delivery loses the grant (§5.6): what the test above checks
 * is what acks add, not an accident of the proxy. */
START_TEST(test_without_acks_a_grant_lost_in_a_broken_connection_stays_lost)
{
    reset_proxy();
    struct sess a;
    struct wc *wa = open_session(30, 0, &a);
    struct wc *b = wc_session(D.port, "holder");
    ck_assert_ptr_nonnull(b);
    grant_into_a_stall(wa, b, "ngrant", a.id);
    wa = resume(&a);
    ck_assert(wc_nothing_before_ping(wa)); /* no answer to request 7 */
    ck_assert_uint_eq(holder_of(b, "ngrant", NULL), a.id);
    bye(wa);
    await_holder(b, "ngrant", 0);
    wc_close(b);
}
END_TEST

START_TEST(test_acks_requests_the_server_never_read_are_counted_out)
{
    reset_proxy();
    struct sess a;
    struct wc *wa = open_acks_at(P.port, 30, &a);
    struct wc *b = wc_session(D.port, "watcher");
    ck_assert_ptr_nonnull(b);
    ck_assert(wc_acquire(wa, 2, "unread", 1, -1));
    wx_expect_token(wa, 2); /* request 1, answer 1 */
    cmd("stall");
    ck_assert(wc_release(wa, 3, "unread", 1)); /* wait in the proxy */
    ck_assert(wc_ping(wa, 4));
    cmd("reset");
    wc_close(wa);
    await_detached(b, 1);
    cmd("flow");
    ck_assert_uint_eq(holder_of(b, "unread", NULL), a.id); /* the Release never arrived */
    uint64_t received = 0;
    wa = resume_acks(&a, 1, &received);
    ck_assert_uint_eq(received, 1);        /* so the client sends requests 2 and 3 again */
    ck_assert(wc_nothing_before_ping(wa)); /* nothing after answer 1 to deliver */
    /* ... (the barrier Ping above was request 2 of the server's count: a real client sends the
     * unread ones first; here the order of the two does not matter) */
    ck_assert(wc_release(wa, 3, "unread", 1));
    wx_expect_free(wa, 3, ST(OK));
    ck_assert(wc_ping(wa, 4));
    wx_expect_free(wa, 4, ST(OK));
    ck_assert_uint_eq(holder_of(b, "unread", NULL), 0);
    cmd("drop");
    wc_close(wa);
    await_detached(b, 1);
    wa = resume_acks(&a, 4, &received);
    ck_assert_uint_eq(received, 4); /* 1 + the barrier Ping + the Release + the Ping */
    bye(wa);
    wc_close(b);
}
END_TEST

START_TEST(test_acks_only_what_was_not_acknowledged_is_delivered_again)
{
    reset_proxy();
    struct sess a;
    struct wc *wa = open_acks_at(P.port, 30, &a);
    struct wc *b = wc_session(D.port, "watcher");
    ck_assert_ptr_nonnull(b);
    ping_ok(wa, 2);
    ping_ok(wa, 3);
    wa->ack = 2; /* answers 1 and 2 acknowledged: their copies go */
    ping_ok(wa, 4);
    wa->ack = 0;
    cmd("drop");
    wc_close(wa);
    await_detached(b, 1);
    uint64_t received = 0;
    /* The client says it got 2: answer 3 (request 4's) comes again, nothing before it. */
    wa = resume_acks(&a, 2, &received);
    ck_assert_uint_eq(received, 3);
    wx_expect_free(wa, 4, ST(OK));
    ck_assert(wc_nothing_before_ping(wa)); /* answer 4, then */
    cmd("drop");
    wc_close(wa);
    await_detached(b, 1);
    /* Now it has all 4: nothing comes again. An ack below what the server already dropped
     * is refused (answers 1 and 2 are gone). */
    int status = 0;
    struct wc *no = resume_acks_at(P.port, &a, 1, &received, &status);
    ck_assert_ptr_null(no);
    ck_assert_int_eq(status, ST(RESUME_FAILED));
    await_detached(b, 0); /* and the session ended */
    wc_close(b);
}
END_TEST

START_TEST(test_acks_an_ack_above_what_was_sent_means_everything)
{
    reset_proxy();
    struct sess a;
    struct wc *wa = open_acks_at(P.port, 30, &a);
    ping_ok(wa, 2);
    wa->ack = 1000;
    ping_ok(wa, 3);
    wa->ack = 0;
    cmd("drop");
    wc_close(wa);
    uint64_t received = 0;
    wa = resume_acks(&a, 1000, &received);
    ck_assert_uint_eq(received, 2);
    ck_assert(wc_nothing_before_ping(wa));
    bye(wa);
}
END_TEST

/* Over --max-buffered-answers the oldest copy goes: a resume that needs it fails and the session
 * ends (its lock handed on); one that does not goes on. */
START_TEST(test_acks_a_dropped_copy_the_client_lacks_ends_the_session)
{
    static const char *const args[] = {"--max-buffered-answers", "3", NULL};
    struct tu_daemon d;
    struct tu_proxy p;
    ck_assert(tu_daemon_start(&d, false, args));
    ck_assert(tu_proxy_start(&p, d.port));
    struct wc *b = wc_session(d.port, "next");
    ck_assert_ptr_nonnull(b);
    for (int round = 0; round < 2; round++) {
        struct sess a;
        struct wc *wa = open_acks_at(p.port, 30, &a);
        ck_assert(wc_acquire(wa, 2, "capped", 1, -1));
        wx_expect_token(wa, 2);
        for (uint64_t i = 3; i < 8; i++) /* answers 2..6, never acked: copies 4..6 remain */
            ping_ok(wa, i);
        ck_assert(tu_proxy_cmd(&p, "drop", NULL, 0));
        wc_close(wa);
        uint64_t received = 0;
        int status = 0;
        if (round == 0) {
            ck_assert(wc_acquire(b, 2, "capped", 1, -1)); /* queued behind a */
            ck_assert(wc_nothing_before_ping(b));
            wa = resume_acks_at(p.port, &a, 2, &received, &status);
            ck_assert_ptr_null(wa);
            ck_assert_int_eq(status, ST(RESUME_FAILED));
            wx_expect_token(b, 2); /* the session ended: its lock went on */
            ck_assert(wc_release(b, 3, "capped", 1));
            wx_expect_free(b, 3, ST(OK));
        } else {
            wa = resume_acks_at(p.port, &a, 3, &received, &status);
            ck_assert_msg(wa != NULL, "status %d", status);
            ck_assert_uint_eq(received, 6);
            for (uint64_t i = 5; i < 8; i++) /* answers 4..6 */
                wx_expect_free(wa, i, ST(OK));
            ck_assert(wc_nothing_before_ping(wa));
            bye(wa);
        }
    }
    wc_close(b);
    tu_proxy_stop(&p);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* At a live restart condd does not wait for a client with acks to close, and a request that
 * client writes after the half-close neither makes the saved state stale (no second save) nor
 * is lost: the resume counts it out and the client sends it again. */
START_TEST(test_acks_a_request_written_during_a_restart_is_sent_again)
{
    static const char *const args[] = {"--restart-drain", "10", NULL};
    struct tu_daemon d;
    struct tu_spawn sp = {.child_setup = tu_log_to_dir};
    ck_assert(tu_daemon_start_ex(&d, &sp, false, args));
    struct sess a;
    struct wc *wa = open_acks_at(d.port, 30, &a);
    ck_assert(wc_acquire(wa, 2, "late", 1, -1));
    wx_expect_token(wa, 2);
    ck_assert_int_eq(kill(d.pid, SIGUSR2), 0);
    ck_assert(wc_wait_closed(wa, T)); /* the end of the stream: the half-close */
    wa->ack = 1;
    ck_assert(wc_release(wa, 3, "late", 1)); /* after it, on the half-closed connection */
    wa->ack = 0;
    uint64_t received = 0;
    int status = 0;
    struct wc *w2 = resume_acks_at(d.port, &a, 1, &received, &status);
    ck_assert_msg(w2 != NULL, "status %d", status);
    ck_assert_uint_eq(received, 1); /* the Release was not read ... */
    struct wc *b = wc_session(d.port, "watcher");
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(holder_of(b, "late", NULL), a.id);
    ck_assert(wc_release(w2, 3, "late", 1)); /* ... so it is sent again, and applied once */
    wx_expect_free(w2, 3, ST(OK));
    ck_assert_uint_eq(holder_of(b, "late", NULL), 0);
    char log[300];
    snprintf(log, sizeof log, "%s/log", d.dir);
    ck_assert(tu_file_has_line(log, "restart: clients closed in", "(0 still open"));
    ck_assert(!tu_file_has_line(log, "a client sent more after the half-close", NULL));
    wc_close(wa);
    bye(w2);
    wc_close(b);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* A live restart carries both counts and the copies (snapshot.c). */
START_TEST(test_acks_survive_a_live_restart)
{
    struct tu_daemon d;
    ck_assert(tu_daemon_start(&d, false, NULL));
    struct sess a;
    struct wc *wa = open_acks_at(d.port, 30, &a);
    ck_assert(wc_acquire(wa, 2, "kept", 1, -1));
    uint64_t tok = wx_expect_token(wa, 2);
    ping_ok(wa, 3);
    ping_ok(wa, 4); /* three answers, none acked */
    ck_assert_int_eq(kill(d.pid, SIGUSR2), 0);
    ck_assert(wc_wait_closed(wa, T)); /* the old process shut its side */
    wc_close(wa);
    uint64_t received = 0;
    int status = 0;
    /* The client got only answer 1, say: 2 and 3 come again from the new process. */
    wa = resume_acks_at(d.port, &a, 1, &received, &status);
    ck_assert_msg(wa != NULL, "status %d", status);
    ck_assert_uint_eq(received, 3);
    wx_expect_free(wa, 3, ST(OK));
    wx_expect_free(wa, 4, ST(OK));
    ck_assert(wc_nothing_before_ping(wa));
    struct wc *b = wc_session(d.port, "watcher");
    ck_assert_ptr_nonnull(b);
    uint64_t t2 = 0;
    ck_assert_uint_eq(holder_of(b, "kept", &t2), a.id);
    ck_assert_uint_eq(t2, tok);
    bye(wa);
    wc_close(b);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

static Suite *blip_suite(void)
{
    Suite *s = suite_create("blip");
    TCase *tc = tcase_create("blip");
    tcase_add_unchecked_fixture(tc, start, stop);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_dropped_connection_keeps_the_lock_held_throughout_the_blip);
    tcase_add_test(tc, test_reset_connection_gets_its_grant_after_resume);
    tcase_add_test(tc, test_wait_notified_during_the_blip_returns_after_resume_holding_the_lock);
    tcase_add_test(tc, test_resume_while_the_server_still_sees_the_old_connection_takes_over);
    tcase_add_test(tc, test_stall_past_the_session_timeout_detaches_and_resumes);
    tcase_add_test(tc, test_a_blip_longer_than_the_grace_loses_the_session);
    suite_add_tcase(s, tc);
    tc = tcase_create("acks");
    tcase_add_unchecked_fixture(tc, start, stop);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_acks_need_a_grace);
    tcase_add_test(tc, test_acks_a_grant_lost_in_a_broken_connection_arrives_after_the_resume);
    tcase_add_test(tc, test_without_acks_a_grant_lost_in_a_broken_connection_stays_lost);
    tcase_add_test(tc, test_acks_requests_the_server_never_read_are_counted_out);
    tcase_add_test(tc, test_acks_only_what_was_not_acknowledged_is_delivered_again);
    tcase_add_test(tc, test_acks_an_ack_above_what_was_sent_means_everything);
    tcase_add_test(tc, test_acks_a_dropped_copy_the_client_lacks_ends_the_session);
    tcase_add_test(tc, test_acks_survive_a_live_restart);
    tcase_add_test(tc, test_acks_a_request_written_during_a_restart_is_sent_again);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(blip_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
