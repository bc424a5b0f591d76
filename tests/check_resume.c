/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Session resume and Goodbye (protocol.md §5.5-§5.7) through the wire protocol only: the grace
 * and the secret in HelloResult, a session kept through a dropped connection (locks held,
 * pending requests answered into the kept buffer and delivered after the HelloResult), one
 * answer for every failed resume, takeover, the buffered-answer cap, the grace running out, and
 * Goodbye ending a session at once. A "drop" here is the client closing its socket; the blip
 * tests through the proxy (tests/blipproxy.c) are in check_blip.c.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "wire_expect.h"
#include "wireclient.h"

#define ST(x) CONDD__V1__STATUS__STATUS_##x
#define T 10.0

static struct tu_daemon D;

static void start_default(void)
{
    static const char *const args[] = {"--max-session-grace", "30", NULL};
    ck_assert_msg(tu_daemon_start(&D, false, args), "condd did not start");
}

static void start_small_buffer(void)
{
    static const char *const args[] = {"--max-buffered-answers", "2", NULL};
    ck_assert_msg(tu_daemon_start(&D, false, args), "condd did not start");
}

static void stop_daemon(void)
{
    tu_daemon_stop(&D);
}

/* Ends w's session with Goodbye (so that it does not linger in its grace) and closes w. */
static void bye(struct wc *w)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Goodbye g = CONDD__V1__GOODBYE__INIT;
    req.id = 999999;
    req.body_case = CONDD__V1__REQUEST__BODY_GOODBYE;
    req.goodbye = &g;
    ck_assert(wc_send(w, &req));
    wx_expect_free(w, 999999, ST(OK));
    ck_assert(wc_wait_closed(w, T));
    wc_close(w);
}

/* A session as the server created it for us. */
struct sess {
    uint64_t id;
    uint8_t secret[32];
    size_t secret_len;
    double grace;
};

static bool send_hello(struct wc *w, uint64_t id, double grace, uint64_t resume,
                       const uint8_t *secret, size_t secret_len)
{
    return wc_hello_resume(w, id, "check_resume", grace, resume, secret, secret_len);
}

/* A new connection with a new session asking for grace; fills *s. */
static struct wc *open_session(double grace, struct sess *s)
{
    struct wc *w = wc_connect(D.port);
    ck_assert_ptr_nonnull(w);
    ck_assert(send_hello(w, 1, grace, 0, NULL, 0));
    Condd__V1__Response *r = wx_expect(w, 1, ST(OK));
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_HELLO);
    ck_assert(!r->hello->resumed);
    s->id = r->hello->session_id;
    s->grace = r->hello->grace_s;
    s->secret_len = r->hello->resume_secret.len;
    ck_assert_uint_le(s->secret_len, sizeof s->secret);
    if (s->secret_len > 0)
        memcpy(s->secret, r->hello->resume_secret.data, s->secret_len);
    condd__v1__response__free_unpacked(r, NULL);
    return w;
}

/* Resumes s on a new connection; the HelloResult must be the first frame. */
static struct wc *resume_session(const struct sess *s)
{
    struct wc *w = wc_connect(D.port);
    ck_assert_ptr_nonnull(w);
    ck_assert(send_hello(w, 1, 0, s->id, s->secret, s->secret_len));
    Condd__V1__Response *r = wc_recv(w, T);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, 1);
    ck_assert_msg(r->status == ST(OK), "resume: %d %s", r->status, r->message);
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_HELLO);
    ck_assert(r->hello->resumed);
    ck_assert_uint_eq(r->hello->session_id, s->id);
    ck_assert_uint_eq(r->hello->resume_secret.len, 32);
    ck_assert(memcmp(r->hello->resume_secret.data, s->secret, 32) == 0);
    condd__v1__response__free_unpacked(r, NULL);
    return w;
}

/* Sends a resume Hello and returns its status, and the message in msg (caller's buffer). */
static int try_resume(struct wc *w, uint64_t id, uint64_t sid, const uint8_t *secret, size_t len,
                      char *msg, size_t msglen)
{
    ck_assert(send_hello(w, id, 0, sid, secret, len));
    Condd__V1__Response *r = wc_recv_id(w, id, T);
    ck_assert_ptr_nonnull(r);
    int st = r->status;
    if (msg != NULL)
        snprintf(msg, msglen, "%s", r->message);
    condd__v1__response__free_unpacked(r, NULL);
    return st;
}

static Condd__V1__StatsResult *stats(struct wc *w, Condd__V1__Response **holder)
{
    static uint64_t id = 900000;
    id++;
    ck_assert(wc_stats(w, id));
    *holder = wx_expect(w, id, ST(OK));
    return (*holder)->stats;
}

static uint64_t detached_now(struct wc *w)
{
    Condd__V1__Response *r;
    uint64_t v = stats(w, &r)->detached_sessions;
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

/* The session holding lock, from List (0: free). */
static uint64_t holder_of(struct wc *w, const char *lock)
{
    static uint64_t id = 800000;
    id++;
    ck_assert(wc_list(w, id, lock));
    Condd__V1__Response *r = wx_expect(w, id, ST(OK));
    uint64_t h = 0;
    for (size_t i = 0; i < r->list->n_locks; i++)
        if (r->list->locks[i]->name.len == strlen(lock) &&
            memcmp(r->list->locks[i]->name.data, lock, strlen(lock)) == 0 &&
            r->list->locks[i]->held)
            h = r->list->locks[i]->holder_session;
    condd__v1__response__free_unpacked(r, NULL);
    return h;
}

static void await_holder(struct wc *w, const char *lock, uint64_t want)
{
    double end = tu_now() + T;
    uint64_t v;
    while ((v = holder_of(w, lock)) != want && tu_now() < end)
        usleep(2000);
    ck_assert_msg(v == want, "%s held by %llu, expected %llu", lock, (unsigned long long)v,
                  (unsigned long long)want);
}

static void try_lock_fails(struct wc *w, uint64_t id, const char *lock)
{
    ck_assert(wc_acquire(w, id, lock, 9, 0));
    wx_expect_free(w, id, ST(TIMEOUT));
}

/* ------------------------------------------------------------------ handshake */

START_TEST(test_hello_grants_clamped_grace_and_a_secret)
{
    struct sess a, b, c;
    struct wc *wa = open_session(1000, &a);
    ck_assert(a.grace == 30.0); /* clamped by --max-session-grace 30 */
    ck_assert_uint_eq(a.secret_len, 32);
    struct wc *wb = open_session(2.5, &b);
    ck_assert(b.grace == 2.5);
    ck_assert(memcmp(a.secret, b.secret, 32) != 0);
    struct wc *wc = open_session(0, &c);
    ck_assert(c.grace == 0);
    ck_assert_uint_eq(c.secret_len, 0); /* no grace: nothing to resume */
    bye(wa);
    bye(wb);
    wc_close(wc);
}
END_TEST

START_TEST(test_negative_grace_is_a_bad_request)
{
    struct wc *w = wc_connect(D.port);
    ck_assert_ptr_nonnull(w);
    ck_assert(send_hello(w, 1, -1, 0, NULL, 0));
    wx_expect_free(w, 1, ST(BAD_REQUEST));
    wc_close(w);
}
END_TEST

/* ------------------------------------------------------------------ resume within the grace */

START_TEST(test_resume_keeps_the_lock_and_its_token)
{
    struct sess a;
    struct wc *wa = open_session(30, &a);
    struct wc *b = wc_session(D.port, "other");
    ck_assert_ptr_nonnull(b);
    ck_assert(wc_acquire(wa, 2, "kept", 1, -1));
    uint64_t tok = wx_expect_token(wa, 2);
    wc_close(wa); /* the connection drops, no Goodbye */
    await_detached(b, 1);
    try_lock_fails(b, 3, "kept");
    ck_assert_uint_eq(holder_of(b, "kept"), a.id);

    wa = resume_session(&a);
    await_detached(b, 0);
    try_lock_fails(b, 4, "kept");
    /* Same ownership: the same owner releases, and List showed the same token meanwhile. */
    ck_assert(wc_list(wa, 5, "kept"));
    Condd__V1__Response *r = wx_expect(wa, 5, ST(OK));
    ck_assert_uint_eq(r->list->n_locks, 1);
    ck_assert_uint_eq(r->list->locks[0]->token, tok);
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(wc_release(wa, 6, "kept", 1));
    wx_expect_free(wa, 6, ST(OK));
    ck_assert(wc_acquire(b, 7, "kept", 1, 0));
    wx_expect_token(b, 7);

    Condd__V1__Response *h;
    Condd__V1__StatsResult *st = stats(b, &h);
    ck_assert_uint_ge(st->resumes, 1);
    condd__v1__response__free_unpacked(h, NULL);
    bye(wa);
    wc_close(b);
}
END_TEST

START_TEST(test_acquire_granted_while_detached_is_delivered_after_the_hello_result)
{
    struct sess a;
    struct wc *wa = open_session(30, &a);
    struct wc *b = wc_session(D.port, "holder");
    ck_assert_ptr_nonnull(b);
    ck_assert(wc_acquire(b, 2, "handed", 1, -1));
    wx_expect_token(b, 2);
    ck_assert(wc_acquire(wa, 5, "handed", 1, -1)); /* queued behind b */
    ck_assert(wc_nothing_before_ping(wa));
    wc_close(wa);
    await_detached(b, 1);
    ck_assert(wc_release(b, 3, "handed", 1));
    wx_expect_free(b, 3, ST(OK));
    await_holder(b, "handed", a.id); /* granted to the detached session */
    try_lock_fails(b, 4, "handed");

    wa = resume_session(&a); /* asserts the HelloResult comes first */
    Condd__V1__Response *r = wc_recv(wa, T);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, 5);
    ck_assert_int_eq(r->status, ST(OK));
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_ACQUIRE);
    ck_assert_uint_ne(r->acquire->token, 0);
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(wc_nothing_before_ping(wa));
    ck_assert(wc_release(wa, 6, "handed", 1));
    wx_expect_free(wa, 6, ST(OK));
    bye(wa);
    wc_close(b);
}
END_TEST

START_TEST(test_wait_notified_while_detached_returns_after_resume_holding_the_lock)
{
    struct sess a;
    struct wc *wa = open_session(30, &a);
    struct wc *b = wc_session(D.port, "notifier");
    ck_assert_ptr_nonnull(b);
    ck_assert(wc_acquire(wa, 2, "wl", 1, -1));
    uint64_t tok = wx_expect_token(wa, 2);
    ck_assert(wc_wait(wa, 7, "wc", "wl", 1, -1)); /* releases wl while it waits */
    ck_assert(wc_acquire(b, 2, "wl", 1, -1));
    wx_expect_token(b, 2);
    wc_close(wa);
    await_detached(b, 1);
    ck_assert(wc_notify(b, 3, "wc", "wl", 1, 1));
    Condd__V1__Response *n = wx_expect(b, 3, ST(OK));
    ck_assert_uint_eq(n->notify->woken, 1);
    condd__v1__response__free_unpacked(n, NULL);
    ck_assert(wc_release(b, 4, "wl", 1));
    wx_expect_free(b, 4, ST(OK));
    await_holder(b, "wl", a.id);

    wa = resume_session(&a);
    uint64_t tok2 = wx_expect_token(wa, 7);
    ck_assert_uint_gt(tok2, tok); /* the re-acquire's token, as the wire promises for Wait */
    try_lock_fails(b, 5, "wl");
    ck_assert(wc_release(wa, 8, "wl", 1));
    wx_expect_free(wa, 8, ST(OK));
    bye(wa);
    wc_close(b);
}
END_TEST

/* ------------------------------------------------------------------ failures */

START_TEST(test_every_failed_resume_gets_the_same_answer)
{
    struct sess a;
    struct wc *wa = open_session(30, &a);
    ck_assert(wc_acquire(wa, 2, "secretive", 1, -1));
    wx_expect_token(wa, 2);
    wc_close(wa);
    struct wc *x = wc_connect(D.port);
    ck_assert_ptr_nonnull(x);
    struct wc *probe = wc_session(D.port, "probe");
    ck_assert_ptr_nonnull(probe);
    await_detached(probe, 1);
    wc_close(probe);

    char m1[256], m2[256], m3[256];
    uint8_t wrong[32];
    memcpy(wrong, a.secret, 32);
    wrong[31] ^= 1;
    ck_assert_int_eq(try_resume(x, 1, a.id, wrong, 32, m1, sizeof m1), ST(RESUME_FAILED));
    /* The connection stays open and unhandshaken: more attempts on it are fine. */
    ck_assert_int_eq(try_resume(x, 2, a.id + 1000, a.secret, 32, m2, sizeof m2), ST(RESUME_FAILED));
    ck_assert_int_eq(try_resume(x, 3, a.id, a.secret, 5, m3, sizeof m3), ST(RESUME_FAILED));
    ck_assert_str_eq(m1, m2);
    ck_assert_str_eq(m1, m3);
    ck_assert_ptr_null(strstr(m1, "secret:"));
    /* The session survived the wrong guesses. */
    ck_assert_int_eq(try_resume(x, 4, a.id, a.secret, 32, NULL, 0), ST(OK));
    ck_assert(wc_release(x, 5, "secretive", 1));
    wx_expect_free(x, 5, ST(OK));
    Condd__V1__Response *h;
    Condd__V1__StatsResult *st = stats(x, &h);
    ck_assert_uint_ge(st->resume_failures, 3);
    condd__v1__response__free_unpacked(h, NULL);
    bye(x);
}
END_TEST

START_TEST(test_session_without_grace_ends_with_its_connection)
{
    struct sess a;
    struct wc *wa = open_session(0, &a);
    ck_assert(wc_acquire(wa, 2, "nograce", 1, -1));
    wx_expect_token(wa, 2);
    wc_close(wa);
    struct wc *b = wc_session(D.port, "after");
    ck_assert_ptr_nonnull(b);
    await_holder(b, "nograce", 0);
    uint8_t zero[32] = {0};
    struct wc *x = wc_connect(D.port);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(try_resume(x, 1, a.id, zero, 32, NULL, 0), ST(RESUME_FAILED));
    wc_close(x);
    ck_assert_uint_eq(detached_now(b), 0);
    wc_close(b);
}
END_TEST

START_TEST(test_open_session_without_grace_cannot_be_resumed_with_a_zero_secret)
{
    /* Every session is in the by-id table (operator controls find it there), but one without
     * grace has no secret: all zeros must not resume it, nor take it over. */
    struct sess a;
    struct wc *wa = open_session(0, &a);
    ck_assert_uint_eq(a.secret_len, 0);
    ck_assert(wc_acquire(wa, 2, "zero-secret", 1, -1));
    wx_expect_token(wa, 2);
    uint8_t zero[32] = {0};
    struct wc *x = wc_connect(D.port);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(try_resume(x, 1, a.id, zero, 32, NULL, 0), ST(RESUME_FAILED));
    wc_close(x);
    /* Still held by a, whose connection is still its own: a round trip on it proves it. */
    ck_assert(wc_acquire(wa, 3, "zero-secret", 1, 0));
    wx_expect_free(wa, 3, ST(ALREADY_OWNER));
    struct wc *b = wc_session(D.port, "observer");
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(holder_of(b, "zero-secret"), a.id);
    wc_close(b);
    bye(wa);
}
END_TEST

START_TEST(test_resume_takes_over_an_open_connection)
{
    struct sess a;
    struct wc *old = open_session(30, &a);
    ck_assert(wc_acquire(old, 2, "taken", 1, -1));
    uint64_t tok = wx_expect_token(old, 2);
    struct wc *nw = resume_session(&a);
    ck_assert(wc_wait_closed(old, T)); /* the old connection is closed */
    wc_close(old);
    ck_assert(wc_list(nw, 3, "taken"));
    Condd__V1__Response *r = wx_expect(nw, 3, ST(OK));
    ck_assert_uint_eq(r->list->n_locks, 1);
    ck_assert_uint_eq(r->list->locks[0]->holder_session, a.id);
    ck_assert_uint_eq(r->list->locks[0]->token, tok);
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert_uint_eq(detached_now(nw), 0);
    ck_assert(wc_release(nw, 4, "taken", 1));
    wx_expect_free(nw, 4, ST(OK));
    bye(nw);
}
END_TEST

START_TEST(test_after_the_grace_the_session_is_lost_and_its_lock_handed_on)
{
    struct sess a;
    struct wc *wa = open_session(0.5, &a);
    ck_assert(wc_acquire(wa, 2, "expired", 1, -1));
    wx_expect_token(wa, 2);
    struct wc *b = wc_session(D.port, "next");
    ck_assert_ptr_nonnull(b);
    ck_assert(wc_acquire(b, 2, "expired", 1, -1));
    ck_assert(wc_nothing_before_ping(b));
    wc_close(wa);
    wx_expect_token(b, 2); /* granted once the grace ran out */
    struct wc *x = wc_connect(D.port);
    ck_assert_int_eq(try_resume(x, 1, a.id, a.secret, 32, NULL, 0), ST(RESUME_FAILED));
    /* The same connection may start afresh. */
    ck_assert(send_hello(x, 2, 0, 0, NULL, 0));
    wx_expect_free(x, 2, ST(OK));
    Condd__V1__Response *h;
    Condd__V1__StatsResult *st = stats(x, &h);
    ck_assert_uint_ge(st->sessions_expired_in_grace, 1);
    ck_assert_uint_eq(st->detached_sessions, 0);
    condd__v1__response__free_unpacked(h, NULL);
    wc_close(x);
    wc_close(b);
}
END_TEST

/* ------------------------------------------------------------------ owed notifications */

/* The grace of the waiter that dies in these tests: short, but long enough for the few round
 * trips between its detaching and the grant of its Wait (about ten on loopback: milliseconds,
 * against two seconds; each test checks that they fit and says so if not). */
#define OWED_GRACE 2.0

/* A, a session with grace OWED_GRACE: holds lock, then waits on cond (id 3; timeout < 0: none).
 * The caller drops the returned connection (wc_close: A detaches). */
static struct wc *owed_waiter(struct sess *a, const char *cond, const char *lock, double timeout)
{
    struct wc *wa = open_session(OWED_GRACE, a);
    ck_assert(wc_acquire(wa, 2, lock, 1, -1));
    wx_expect_token(wa, 2);
    ck_assert(wc_wait(wa, 3, cond, lock, 1, timeout)); /* releases lock while it waits */
    ck_assert(wc_nothing_before_ping(wa));
    return wa;
}

/* A second waiter on cond, after A (FIFO: A is notified first). */
static struct wc *second_waiter(const char *cond, const char *lock)
{
    struct wc *b = wc_session(D.port, "second");
    ck_assert_ptr_nonnull(b);
    ck_assert(wc_acquire(b, 2, lock, 1, -1));
    wx_expect_token(b, 2);
    ck_assert(wc_wait(b, 3, cond, lock, 1, -1));
    ck_assert(wc_nothing_before_ping(b));
    return b;
}

/* n notifies one waiter of cond (which must wake one) and releases lock: the woken Wait of
 * detached session a re-takes it, its OK kept for a resume. Then a must still be detached: the
 * grant happened in its grace. */
static void notify_detached(struct wc *n, const struct sess *a, const char *cond, const char *lock)
{
    ck_assert(wc_acquire(n, 10, lock, 1, -1));
    wx_expect_token(n, 10);
    ck_assert(wc_notify(n, 11, cond, lock, 1, 1));
    Condd__V1__Response *r = wx_expect(n, 11, ST(OK));
    ck_assert_uint_eq(r->notify->woken, 1);
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(wc_release(n, 12, lock, 1));
    wx_expect_free(n, 12, ST(OK));
    ck_assert_msg(holder_of(n, lock) == a->id && detached_now(n) == 1,
                  "the grace of %g s ran out before the Wait was granted (a very loaded machine?)",
                  OWED_GRACE);
}

START_TEST(test_notification_owed_by_a_waiter_whose_grace_ran_out_wakes_the_next_waiter)
{
    struct sess a;
    struct wc *n = wc_session(D.port, "notifier");
    ck_assert_ptr_nonnull(n);
    /* B queues behind A before A detaches: only the notify's round trips run in A's grace. */
    struct wc *wa = owed_waiter(&a, "owc", "owl", -1);
    struct wc *b = second_waiter("owc", "owl");
    wc_close(wa);
    await_detached(n, 1);
    notify_detached(n, &a, "owc", "owl");
    /* A's grace runs out: its lock is released and the notification its undelivered OK carried
     * goes to B (protocol.md §5.5, §9.5), which re-takes the lock. */
    wx_expect_token(b, 3);
    await_detached(n, 0);
    try_lock_fails(n, 13, "owl");
    ck_assert(wc_release(b, 4, "owl", 1));
    wx_expect_free(b, 4, ST(OK));
    struct wc *x = wc_connect(D.port);
    ck_assert_int_eq(try_resume(x, 1, a.id, a.secret, 32, NULL, 0), ST(RESUME_FAILED));
    wc_close(x);
    wc_close(b);
    wc_close(n);
}
END_TEST

START_TEST(test_notification_owed_with_no_other_waiter_is_dropped_and_the_lock_freed)
{
    struct sess a;
    struct wc *n = wc_session(D.port, "notifier");
    ck_assert_ptr_nonnull(n);
    wc_close(owed_waiter(&a, "owc1", "owl1", -1));
    await_detached(n, 1);
    notify_detached(n, &a, "owc1", "owl1");
    await_detached(n, 0);
    await_holder(n, "owl1", 0);
    /* Nothing was remembered on the condition: a new waiter is not woken by the old Notify. */
    ck_assert(wc_acquire(n, 13, "owl1", 1, 0));
    wx_expect_token(n, 13);
    ck_assert(wc_wait(n, 14, "owc1", "owl1", 1, 0.05));
    wx_expect_free(n, 14, ST(TIMEOUT));
    ck_assert(wc_release(n, 15, "owl1", 1));
    wx_expect_free(n, 15, ST(OK));
    wc_close(n);
}
END_TEST

START_TEST(test_wait_answered_timeout_in_the_grace_passes_no_notification_on)
{
    struct sess a;
    struct wc *n = wc_session(D.port, "notifier");
    ck_assert_ptr_nonnull(n);
    /* A's Wait times out (in its grace, or before: either way its TIMEOUT is no notification)
     * and re-takes the lock, which B's Wait has released. */
    struct wc *wa = owed_waiter(&a, "owc2", "owl2", 0.3);
    struct wc *b = second_waiter("owc2", "owl2");
    wc_close(wa);
    await_detached(n, 1);
    await_detached(n, 0); /* the grace ran out */
    await_holder(n, "owl2", 0);
    ck_assert(wc_nothing_before_ping(b)); /* B was not woken */
    /* B still waits: a real Notify wakes it. */
    ck_assert(wc_acquire(n, 10, "owl2", 1, -1));
    wx_expect_token(n, 10);
    ck_assert(wc_notify(n, 11, "owc2", "owl2", 1, 1));
    Condd__V1__Response *r = wx_expect(n, 11, ST(OK));
    ck_assert_uint_eq(r->notify->woken, 1);
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(wc_release(n, 12, "owl2", 1));
    wx_expect_free(n, 12, ST(OK));
    wx_expect_token(b, 3);
    ck_assert(wc_release(b, 4, "owl2", 1));
    wx_expect_free(b, 4, ST(OK));
    wc_close(b);
    wc_close(n);
}
END_TEST

/* ------------------------------------------------------------------ Goodbye */

START_TEST(test_goodbye_ends_the_session_at_once_whatever_its_grace)
{
    struct sess a;
    struct wc *wa = open_session(30, &a);
    ck_assert(wc_acquire(wa, 2, "bye", 1, -1));
    wx_expect_token(wa, 2);
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Goodbye g = CONDD__V1__GOODBYE__INIT;
    req.id = 3;
    req.body_case = CONDD__V1__REQUEST__BODY_GOODBYE;
    req.goodbye = &g;
    ck_assert(wc_send(wa, &req));
    Condd__V1__Response *r = wx_expect(wa, 3, ST(OK));
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_GOODBYE);
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(wc_wait_closed(wa, T));
    wc_close(wa);
    struct wc *b = wc_session(D.port, "after-bye");
    ck_assert_ptr_nonnull(b);
    ck_assert(wc_acquire(b, 2, "bye", 1, 0)); /* free at once, no grace waited for */
    wx_expect_token(b, 2);
    ck_assert_uint_eq(detached_now(b), 0);
    struct wc *x = wc_connect(D.port);
    ck_assert_int_eq(try_resume(x, 1, a.id, a.secret, 32, NULL, 0), ST(RESUME_FAILED));
    wc_close(x);
    wc_close(b);
}
END_TEST

/* ------------------------------------------------------------------ the buffer cap */

START_TEST(test_too_many_kept_answers_end_the_session)
{
    struct sess a;
    struct wc *wa = open_session(30, &a);
    struct wc *b = wc_session(D.port, "holder");
    ck_assert_ptr_nonnull(b);
    const char *locks[] = {"cap1", "cap2", "cap3"};
    for (int i = 0; i < 3; i++) {
        ck_assert(wc_acquire(b, 10 + i, locks[i], 1, -1));
        wx_expect_token(b, 10 + i);
        ck_assert(wc_acquire(wa, 20 + i, locks[i], 1, -1));
    }
    ck_assert(wc_nothing_before_ping(wa));
    wc_close(wa);
    await_detached(b, 1);
    for (int i = 0; i < 3; i++) { /* three grants for a cap of two */
        ck_assert(wc_release(b, 30 + i, locks[i], 1));
        wx_expect_free(b, 30 + i, ST(OK));
    }
    await_detached(b, 0);
    for (int i = 0; i < 3; i++)
        await_holder(b, locks[i], 0); /* everything handed on (here: freed) */
    Condd__V1__Response *h;
    Condd__V1__StatsResult *st = stats(b, &h);
    ck_assert_uint_eq(st->sessions_expired_in_grace, 1);
    condd__v1__response__free_unpacked(h, NULL);
    struct wc *x = wc_connect(D.port);
    ck_assert_int_eq(try_resume(x, 1, a.id, a.secret, 32, NULL, 0), ST(RESUME_FAILED));
    wc_close(x);
    wc_close(b);
}
END_TEST

START_TEST(test_notification_owed_by_a_session_ended_by_the_cap_wakes_the_next_waiter)
{
    struct sess a;
    struct wc *n = wc_session(D.port, "notifier");
    ck_assert_ptr_nonnull(n);
    struct wc *wa = open_session(30, &a);
    ck_assert(wc_acquire(wa, 2, "capl", 1, -1));
    wx_expect_token(wa, 2);
    ck_assert(wc_wait(wa, 3, "capc", "capl", 1, -1));
    struct wc *b = second_waiter("capc", "capl");
    const char *locks[] = {"capx1", "capx2"};
    for (int i = 0; i < 2; i++) {
        ck_assert(wc_acquire(n, 20 + i, locks[i], 1, -1));
        wx_expect_token(n, 20 + i);
        ck_assert(wc_acquire(wa, 20 + i, locks[i], 1, -1));
    }
    ck_assert(wc_nothing_before_ping(wa));
    wc_close(wa);
    await_detached(n, 1);
    for (int i = 0; i < 2; i++) { /* two grants kept: the cap */
        ck_assert(wc_release(n, 30 + i, locks[i], 1));
        wx_expect_free(n, 30 + i, ST(OK));
    }
    /* A's notified Wait re-takes capl: a third answer, over the cap, so the session ends; the
     * notification its OK carried goes to B. */
    ck_assert(wc_acquire(n, 40, "capl", 1, -1));
    wx_expect_token(n, 40);
    ck_assert(wc_notify(n, 41, "capc", "capl", 1, 1));
    wx_expect_free(n, 41, ST(OK));
    ck_assert(wc_release(n, 42, "capl", 1));
    wx_expect_free(n, 42, ST(OK));
    wx_expect_token(b, 3);
    await_detached(n, 0);
    for (int i = 0; i < 2; i++)
        await_holder(n, locks[i], 0);
    ck_assert(wc_release(b, 4, "capl", 1));
    wx_expect_free(b, 4, ST(OK));
    wc_close(b);
    wc_close(n);
}
END_TEST

START_TEST(test_answers_up_to_the_cap_are_all_delivered_in_order)
{
    struct sess a;
    struct wc *wa = open_session(30, &a);
    struct wc *b = wc_session(D.port, "holder");
    ck_assert_ptr_nonnull(b);
    const char *locks[] = {"ord1", "ord2"};
    for (int i = 0; i < 2; i++) {
        ck_assert(wc_acquire(b, 10 + i, locks[i], 1, -1));
        wx_expect_token(b, 10 + i);
        ck_assert(wc_acquire(wa, 20 + i, locks[i], 1, -1));
    }
    ck_assert(wc_nothing_before_ping(wa));
    wc_close(wa);
    await_detached(b, 1);
    for (int i = 1; i >= 0; i--) { /* granted in the order ord2, ord1 */
        ck_assert(wc_release(b, 30 + i, locks[i], 1));
        wx_expect_free(b, 30 + i, ST(OK));
        await_holder(b, locks[i], a.id);
    }
    wa = resume_session(&a);
    Condd__V1__Response *r1 = wc_recv(wa, T), *r2 = wc_recv(wa, T);
    ck_assert_ptr_nonnull(r1);
    ck_assert_ptr_nonnull(r2);
    ck_assert_uint_eq(r1->id, 21);
    ck_assert_uint_eq(r2->id, 20);
    condd__v1__response__free_unpacked(r1, NULL);
    condd__v1__response__free_unpacked(r2, NULL);
    bye(wa);
    wc_close(b);
}
END_TEST

static Suite *resume_suite(void)
{
    Suite *s = suite_create("resume");
    TCase *tc = tcase_create("resume");
    tcase_add_unchecked_fixture(tc, start_default, stop_daemon);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hello_grants_clamped_grace_and_a_secret);
    tcase_add_test(tc, test_negative_grace_is_a_bad_request);
    tcase_add_test(tc, test_resume_keeps_the_lock_and_its_token);
    tcase_add_test(tc, test_acquire_granted_while_detached_is_delivered_after_the_hello_result);
    tcase_add_test(tc, test_wait_notified_while_detached_returns_after_resume_holding_the_lock);
    tcase_add_test(tc, test_every_failed_resume_gets_the_same_answer);
    tcase_add_test(tc, test_session_without_grace_ends_with_its_connection);
    tcase_add_test(tc, test_open_session_without_grace_cannot_be_resumed_with_a_zero_secret);
    tcase_add_test(tc, test_resume_takes_over_an_open_connection);
    tcase_add_test(tc, test_after_the_grace_the_session_is_lost_and_its_lock_handed_on);
    tcase_add_test(tc, test_goodbye_ends_the_session_at_once_whatever_its_grace);
    tcase_add_test(tc,
                   test_notification_owed_by_a_waiter_whose_grace_ran_out_wakes_the_next_waiter);
    tcase_add_test(tc, test_notification_owed_with_no_other_waiter_is_dropped_and_the_lock_freed);
    tcase_add_test(tc, test_wait_answered_timeout_in_the_grace_passes_no_notification_on);
    suite_add_tcase(s, tc);

    tc = tcase_create("cap");
    tcase_add_unchecked_fixture(tc, start_small_buffer, stop_daemon);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_too_many_kept_answers_end_the_session);
    tcase_add_test(tc, test_answers_up_to_the_cap_are_all_delivered_in_order);
    tcase_add_test(tc, test_notification_owed_by_a_session_ended_by_the_cap_wakes_the_next_waiter);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(resume_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
