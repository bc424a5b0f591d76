/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condd over loopback, through the wire protocol only: the handshake, out-of-order replies,
 * malformed input that must close one connection and nothing else, locks and conditions
 * between real connections, session expiry, connection limits and clean shutdown.
 * Each test case runs its own daemon (started and stopped in the parent by unchecked fixtures).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"
#include "testutil.h"
#include "wire_expect.h"
#include "wireclient.h"

#define ST(x) CONDD__V1__STATUS__STATUS_##x
#define T 10.0 /* generous deadline for replies that must come */

static struct tu_daemon D;

static void start_default(void)
{
    ck_assert_msg(tu_daemon_start(&D, true, NULL), "condd did not start");
}

static void start_short_session(void)
{
    static const char *const args[] = {"--session-timeout", "1", NULL};
    ck_assert_msg(tu_daemon_start(&D, false, args), "condd did not start");
}

static void start_two_connections(void)
{
    static const char *const args[] = {"--max-connections", "2", NULL};
    ck_assert_msg(tu_daemon_start(&D, false, args), "condd did not start");
}

static void start_small_frames(void)
{
    static const char *const args[] = {"--max-frame-bytes", "1024", NULL};
    ck_assert_msg(tu_daemon_start(&D, false, args), "condd did not start");
}

static void stop_daemon(void)
{
    tu_daemon_stop(&D);
}

static struct wc *session(const char *name)
{
    struct wc *w = wc_session(D.port, name);
    ck_assert_msg(w != NULL, "no session with condd");
    return w;
}

/* Server-side counters through Stats. */
static uint64_t stat_of(struct wc *w, const char *which)
{
    static uint64_t id = 900000;
    id++;
    ck_assert(wc_stats(w, id));
    Condd__V1__Response *r = wx_expect(w, id, ST(OK));
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_STATS);
    uint64_t v = 0;
    if (strcmp(which, "lock_waiters") == 0)
        v = r->stats->lock_waiters;
    else if (strcmp(which, "condition_waiters") == 0)
        v = r->stats->condition_waiters;
    else if (strcmp(which, "locks") == 0)
        v = r->stats->locks;
    else if (strcmp(which, "connections") == 0)
        v = r->stats->connections;
    else if (strcmp(which, "session_expiries") == 0)
        v = r->stats->session_expiries;
    else
        ck_abort_msg("unknown stat %s", which);
    condd__v1__response__free_unpacked(r, NULL);
    return v;
}

/* Polls Stats until the counter has the value (states, not sleeps). */
static void await_stat(struct wc *w, const char *which, uint64_t want)
{
    double end = tu_now() + T;
    uint64_t v;
    while ((v = stat_of(w, which)) != want && tu_now() < end)
        usleep(2000);
    ck_assert_msg(v == want, "%s is %llu, expected %llu", which, (unsigned long long)v,
                  (unsigned long long)want);
}

/* ------------------------------------------------------------------ handshake */

START_TEST(test_hello_reports_session_and_limits)
{
    struct wc *w = wc_connect(D.port);
    ck_assert_ptr_nonnull(w);
    ck_assert(wc_hello(w, 5, 1, "check_daemon"));
    Condd__V1__Response *r = wx_expect(w, 5, ST(OK));
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_HELLO);
    ck_assert_uint_ge(r->hello->session_id, 1);
    ck_assert_uint_eq(r->hello->protocol_version, 1);
    ck_assert_uint_eq(r->hello->max_frame_bytes, 65536);
    ck_assert(r->hello->session_timeout_s == 10.0);
    ck_assert_str_eq(r->hello->server_version, PACKAGE_STRING);
    condd__v1__response__free_unpacked(r, NULL);
    wc_close(w);
}
END_TEST

START_TEST(test_ping_answers_with_same_id)
{
    struct wc *w = session("pinger");
    ck_assert(wc_ping(w, 77));
    Condd__V1__Response *r = wx_expect(w, 77, ST(OK));
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_PING);
    condd__v1__response__free_unpacked(r, NULL);
    wc_close(w);
}
END_TEST

START_TEST(test_request_before_hello_is_refused_and_closed)
{
    struct wc *w = wc_connect(D.port);
    ck_assert(wc_ping(w, 3));
    wx_expect_free(w, 3, ST(PROTOCOL_ERROR));
    ck_assert(wc_wait_closed(w, T));
    wc_close(w);
}
END_TEST

START_TEST(test_unsupported_version_is_refused_and_closed)
{
    struct wc *w = wc_connect(D.port);
    ck_assert(wc_hello(w, 1, 99, "future"));
    wx_expect_free(w, 1, ST(UNSUPPORTED_VERSION));
    ck_assert(wc_wait_closed(w, T));
    wc_close(w);
}
END_TEST

START_TEST(test_second_hello_is_bad_request_and_session_stays)
{
    struct wc *w = session("twice");
    ck_assert(wc_hello(w, 2, 1, "again"));
    wx_expect_free(w, 2, ST(BAD_REQUEST));
    ck_assert(wc_ping(w, 3));
    wx_expect_free(w, 3, ST(OK));
    wc_close(w);
}
END_TEST

START_TEST(test_session_timeout_is_negotiated_within_bounds)
{
    struct wc *w = wc_connect(D.port);
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
    h.protocol_version = 1;
    h.session_timeout_s = 0.01; /* below the floor of 1 s */
    req.id = 1;
    req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
    req.hello = &h;
    ck_assert(wc_send(w, &req));
    Condd__V1__Response *r = wx_expect(w, 1, ST(OK));
    ck_assert(r->hello->session_timeout_s == 1.0);
    condd__v1__response__free_unpacked(r, NULL);
    wc_close(w);
}
END_TEST

START_TEST(test_unknown_body_is_unimplemented_and_connection_stays)
{
    struct wc *w = session("unknown");
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    req.id = 8; /* no body: what an older server sees of a newer request type */
    ck_assert(wc_send(w, &req));
    wx_expect_free(w, 8, ST(UNIMPLEMENTED));
    ck_assert(wc_ping(w, 9));
    wx_expect_free(w, 9, ST(OK));
    wc_close(w);
}
END_TEST

START_TEST(test_unix_socket_serves_the_same_protocol)
{
    struct wc *w = wc_connect_unix(D.unix_path);
    ck_assert_ptr_nonnull(w);
    ck_assert(wc_hello(w, 1, 1, "unix"));
    wx_expect_free(w, 1, ST(OK));
    ck_assert(wc_acquire(w, 2, "unix-lock", 1, -1));
    wx_expect_token(w, 2);
    wc_close(w);
}
END_TEST

START_TEST(test_second_daemon_does_not_take_over_a_live_unix_socket)
{
    /* D listens on D.unix_path; a second daemon must refuse that path and leave D reachable. */
    struct tu_daemon second;
    const char *const args[] = {"--unix", D.unix_path, NULL};
    ck_assert_msg(!tu_daemon_start(&second, false, args), "second daemon started on a live socket");
    struct wc *w = wc_connect_unix(D.unix_path);
    ck_assert_ptr_nonnull(w);
    ck_assert(wc_hello(w, 1, 1, "still-here"));
    wx_expect_free(w, 1, ST(OK));
    wc_close(w);
}
END_TEST

START_TEST(test_unix_socket_mode_and_group_are_applied_before_clients_connect)
{
    /* The default lets every local user connect, as 127.0.0.1 does. */
    struct stat st;
    ck_assert_int_eq(stat(D.unix_path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0666);

    /* As root, a group other than ours proves the chown happened; else our own group. */
    const struct group *gr = geteuid() == 0 ? getgrnam("nogroup") : NULL;
    if (gr == NULL)
        gr = getgrgid(getegid());
    ck_assert_ptr_nonnull(gr);
    gid_t want_gid = gr->gr_gid;
    char group[64];
    snprintf(group, sizeof group, "%s", gr->gr_name);
    struct tu_daemon d;
    const char *const args[] = {"--unix-mode", "0660", "--unix-group", group, NULL};
    ck_assert(tu_daemon_start(&d, true, args));
    ck_assert_int_eq(stat(d.unix_path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0660);
    ck_assert_uint_eq(st.st_gid, want_gid);
    struct wc *w = wc_connect_unix(d.unix_path);
    ck_assert_ptr_nonnull(w);
    ck_assert(wc_hello(w, 1, 1, "mode"));
    wx_expect_free(w, 1, ST(OK));
    wc_close(w);
    tu_daemon_stop(&d);

    /* A group that does not exist stops the start with an error; nothing is left listening. */
    const char *const bad[] = {"--unix-group", "no-such-group-condd", NULL};
    ck_assert(!tu_daemon_start(&d, true, bad));
    ck_assert_int_ne(access(d.unix_path, F_OK), 0);
}
END_TEST

/* ------------------------------------------------------------------ malformed input */

static void garbage_closes_only_that_connection(const void *bytes, size_t len)
{
    struct wc *good = session("bystander");
    ck_assert(wc_acquire(good, 2, "bystander-lock", 1, -1));
    wx_expect_token(good, 2);

    struct wc *bad = session("vandal");
    ck_assert(wc_send_raw(bad, bytes, len));
    Condd__V1__Response *r = wc_recv(bad, T);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, 0);
    ck_assert_int_eq(r->status, ST(PROTOCOL_ERROR));
    ck_assert_str_ne(r->message, "");
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(wc_wait_closed(bad, T));
    wc_close(bad);

    /* The other connection and its lock are untouched; new clients are served. */
    ck_assert(wc_ping(good, 3));
    wx_expect_free(good, 3, ST(OK));
    ck_assert(wc_locked(good, 4, "bystander-lock"));
    Condd__V1__Response *lr = wx_expect(good, 4, ST(OK));
    ck_assert(lr->locked->locked);
    condd__v1__response__free_unpacked(lr, NULL);
    struct wc *late = session("latecomer");
    ck_assert(wc_ping(late, 2));
    wx_expect_free(late, 2, ST(OK));
    wc_close(late);
    wc_close(good);
}

START_TEST(test_zero_length_frame_closes_only_that_connection)
{
    const uint8_t zero[4] = {0, 0, 0, 0};
    garbage_closes_only_that_connection(zero, sizeof zero);
}
END_TEST

START_TEST(test_oversized_length_closes_only_that_connection)
{
    const uint8_t huge[4] = {0x7f, 0xff, 0xff, 0xff};
    garbage_closes_only_that_connection(huge, sizeof huge);
}
END_TEST

START_TEST(test_undecodable_payload_closes_only_that_connection)
{
    const uint8_t junk[] = {0, 0, 0, 6, 0x0a, 0x7f, 0xff, 0xff, 0xff, 0xff};
    garbage_closes_only_that_connection(junk, sizeof junk);
}
END_TEST

START_TEST(test_frame_over_configured_cap_is_refused)
{
    /* --max-frame-bytes 1024: a 2000-byte lock name cannot even be framed. */
    struct wc *w = session("big");
    char name[2001];
    memset(name, 'n', 2000);
    name[2000] = '\0';
    ck_assert(wc_acquire(w, 2, name, 1, -1));
    Condd__V1__Response *r = wc_recv(w, T);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, ST(PROTOCOL_ERROR));
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(wc_wait_closed(w, T));
    wc_close(w);
    struct wc *ok = session("small");
    ck_assert(wc_ping(ok, 2));
    wx_expect_free(ok, 2, ST(OK));
    wc_close(ok);
}
END_TEST

START_TEST(test_frame_split_byte_by_byte_is_reassembled)
{
    struct wc *w = session("dribble");
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Ping p = CONDD__V1__PING__INIT;
    req.id = 31;
    req.body_case = CONDD__V1__REQUEST__BODY_PING;
    req.ping = &p;
    uint8_t buf[64];
    size_t n = frame_encoded_size(&req.base);
    frame_encode(&req.base, buf);
    for (size_t i = 0; i < n; i++)
        ck_assert(wc_send_raw(w, buf + i, 1));
    wx_expect_free(w, 31, ST(OK));
    wc_close(w);
}
END_TEST

/* ------------------------------------------------------------------ ordering */

START_TEST(test_replies_come_out_of_order_matched_by_id)
{
    struct wc *a = session("holder");
    struct wc *b = session("queued");
    ck_assert(wc_acquire(a, 2, "ooo", 1, -1));
    uint64_t t1 = wx_expect_token(a, 2);
    ck_assert(wc_acquire(b, 10, "ooo", 1, -1)); /* queued behind a */
    ck_assert(wc_ping(b, 11));
    /* The ping, sent later, is answered first. */
    Condd__V1__Response *r = wc_recv(b, T);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, 11);
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(wc_release(a, 3, "ooo", 1));
    wx_expect_free(a, 3, ST(OK));
    uint64_t t2 = wx_expect_token(b, 10);
    ck_assert_uint_gt(t2, t1);
    wc_close(a);
    wc_close(b);
}
END_TEST

START_TEST(test_release_then_acquire_pipelined_sees_lock_released)
{
    struct wc *w = session("pipeline");
    ck_assert(wc_acquire(w, 2, "pipe", 1, -1));
    ck_assert(wc_release(w, 3, "pipe", 1));
    ck_assert(wc_acquire(w, 4, "pipe", 1, 0)); /* try-once: must find it free */
    wx_expect_token(w, 2);
    wx_expect_free(w, 3, ST(OK));
    wx_expect_token(w, 4);
    wc_close(w);
}
END_TEST

START_TEST(test_burst_beyond_frame_budget_is_answered_in_order)
{
    enum { N = 1000 }; /* far more than one read event's frame budget */
    struct wc *w = session("burst");
    size_t one;
    uint8_t *buf = NULL;
    size_t len = 0;
    for (uint64_t i = 0; i < N; i++) {
        Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
        Condd__V1__Ping p = CONDD__V1__PING__INIT;
        req.id = 1000 + i;
        req.body_case = CONDD__V1__REQUEST__BODY_PING;
        req.ping = &p;
        one = frame_encoded_size(&req.base);
        buf = realloc(buf, len + one);
        ck_assert_ptr_nonnull(buf);
        len += frame_encode(&req.base, buf + len);
    }
    ck_assert(wc_send_raw(w, buf, len)); /* one write with every frame */
    free(buf);
    for (uint64_t i = 0; i < N; i++) {
        Condd__V1__Response *r = wc_recv(w, T);
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->id, 1000 + i);
        condd__v1__response__free_unpacked(r, NULL);
    }
    wc_close(w);
}
END_TEST

START_TEST(test_client_that_never_reads_does_not_stall_others)
{
    struct wc *hog = session("hog");
    int fl = fcntl(hog->fd, F_GETFL);
    ck_assert(fcntl(hog->fd, F_SETFL, fl | O_NONBLOCK) == 0);
    /* Stats requests (small) with large replies, never read: the daemon must stop reading from
     * this client once its unsent replies pile up, not grow without bound or stall. */
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Stats st = CONDD__V1__STATS__INIT;
    req.body_case = CONDD__V1__REQUEST__BODY_STATS;
    req.stats = &st;
    req.id = 10;
    /* A chunk of 1000 requests per write, so the kernel's socket buffers fill in a moment even
     * on a busy machine; then only the daemon's refusal to read more can stop the writes. */
    enum { CHUNK = 1000 };
    size_t one = frame_encoded_size(&req.base);
    uint8_t *chunk = malloc(one * CHUNK);
    ck_assert_ptr_nonnull(chunk);
    for (size_t i = 0; i < CHUNK; i++)
        frame_encode(&req.base, chunk + i * one);
    size_t sent = 0;
    bool blocked = false;
    double end = tu_now() + 30.0;
    while (!blocked && tu_now() < end && sent < 2000000) {
        ssize_t w = write(hog->fd, chunk, one * CHUNK);
        if ((w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ||
            (w >= 0 && (size_t)w < one * CHUNK)) {
            blocked = true; /* the daemon stopped reading from us: back-pressure works */
            break;
        }
        ck_assert_int_eq(w, (ssize_t)(one * CHUNK));
        sent += CHUNK;
    }
    free(chunk);
    ck_assert_uint_gt(sent, 1000);
    ck_assert_msg(blocked, "the daemon kept reading %zu requests whose replies were never read",
                  sent);
    struct wc *other = session("other");
    ck_assert(wc_acquire(other, 2, "not-stalled", 1, -1));
    wx_expect_token(other, 2);
    ck_assert(wc_ping(other, 3));
    wx_expect_free(other, 3, ST(OK));
    wc_close(hog);
    await_stat(other, "connections", 1);
    wc_close(other);
}
END_TEST

/* ------------------------------------------------------------------ locks between connections */

START_TEST(test_closing_holder_hands_lock_to_next_waiter)
{
    struct wc *a = session("a");
    struct wc *b = session("b");
    ck_assert(wc_acquire(a, 2, "handover", 1, -1));
    wx_expect_token(a, 2);
    ck_assert(wc_acquire(b, 2, "handover", 1, -1));
    await_stat(b, "lock_waiters", 1);
    wc_close(a);
    wx_expect_token(b, 2);
    wc_close(b);
}
END_TEST

START_TEST(test_many_connections_are_granted_in_fifo_order)
{
    enum { N = 12 };
    struct wc *holder = session("holder");
    struct wc *w[N];
    ck_assert(wc_acquire(holder, 2, "fifo", 1, -1));
    wx_expect_token(holder, 2);
    for (int i = 0; i < N; i++) {
        w[i] = session("waiter");
        ck_assert(wc_acquire(w[i], 100 + (uint64_t)i, "fifo", 1, -1));
        await_stat(holder, "lock_waiters", (uint64_t)i + 1);
    }
    ck_assert(wc_release(holder, 3, "fifo", 1));
    uint64_t last = 0;
    for (int i = 0; i < N; i++) {
        uint64_t tok = wx_expect_token(w[i], 100 + (uint64_t)i);
        ck_assert_uint_gt(tok, last);
        last = tok;
        /* Nobody later in the queue may have it yet. */
        if (i + 1 < N)
            ck_assert(wc_nothing_before_ping(w[i + 1]));
        ck_assert(wc_release(w[i], 200, "fifo", 1));
        wx_expect_free(w[i], 200, ST(OK));
    }
    for (int i = 0; i < N; i++)
        wc_close(w[i]);
    await_stat(holder, "locks", 0);
    wc_close(holder);
}
END_TEST

START_TEST(test_cancel_of_pending_acquire_answers_both)
{
    struct wc *a = session("a");
    struct wc *b = session("b");
    ck_assert(wc_acquire(a, 2, "cancel-me", 1, -1));
    wx_expect_token(a, 2);
    ck_assert(wc_acquire(b, 5, "cancel-me", 1, -1));
    ck_assert(wc_cancel(b, 6, 5));
    /* The acquire's CANCELLED comes before the Cancel's own reply. */
    Condd__V1__Response *r = wc_recv(b, T);
    ck_assert_uint_eq(r->id, 5);
    ck_assert_int_eq(r->status, ST(CANCELLED));
    condd__v1__response__free_unpacked(r, NULL);
    Condd__V1__Response *c = wx_expect(b, 6, ST(OK));
    ck_assert(c->cancel->cancelled);
    condd__v1__response__free_unpacked(c, NULL);
    ck_assert(wc_cancel(b, 7, 5)); /* nothing pending under that id any more */
    wx_expect_free(b, 7, ST(NOT_FOUND));
    await_stat(a, "lock_waiters", 0);
    wc_close(a);
    wc_close(b);
}
END_TEST

START_TEST(test_timed_acquire_times_out_and_leaves_no_waiter)
{
    struct wc *a = session("a");
    struct wc *b = session("b");
    ck_assert(wc_acquire(a, 2, "timed", 1, -1));
    wx_expect_token(a, 2);
    ck_assert(wc_acquire(b, 3, "timed", 1, 0.05));
    wx_expect_free(b, 3, ST(TIMEOUT));
    ck_assert(wc_acquire(b, 4, "timed", 1, 0));
    wx_expect_free(b, 4, ST(TIMEOUT));
    await_stat(a, "lock_waiters", 0);
    ck_assert(wc_release(a, 5, "timed", 1));
    wx_expect_free(a, 5, ST(OK));
    await_stat(a, "locks", 0);
    wc_close(a);
    wc_close(b);
}
END_TEST

START_TEST(test_foreign_release_is_not_owner)
{
    struct wc *a = session("a");
    struct wc *b = session("b");
    ck_assert(wc_acquire(a, 2, "mine", 1, -1));
    wx_expect_token(a, 2);
    ck_assert(wc_release(b, 2, "mine", 1)); /* same owner handle, other session */
    wx_expect_free(b, 2, ST(NOT_OWNER));
    ck_assert(wc_release(b, 3, "free-lock", 1));
    wx_expect_free(b, 3, ST(NOT_OWNER));
    ck_assert(wc_acquire(a, 3, "mine", 1, -1));
    wx_expect_free(a, 3, ST(ALREADY_OWNER));
    ck_assert(wc_acquire(a, 4, "", 1, -1));
    wx_expect_free(a, 4, ST(BAD_REQUEST));
    /* A negative timeout is refused (the helper cannot send one: build it by hand). */
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Acquire acq = CONDD__V1__ACQUIRE__INIT;
    Condd__V1__Timeout t = CONDD__V1__TIMEOUT__INIT;
    t.seconds = -1.0;
    acq.lock.data = (uint8_t *)"neg";
    acq.lock.len = 3;
    acq.owner = 1;
    acq.timeout = &t;
    req.id = 5;
    req.body_case = CONDD__V1__REQUEST__BODY_ACQUIRE;
    req.acquire = &acq;
    ck_assert(wc_send(a, &req));
    wx_expect_free(a, 5, ST(BAD_REQUEST));
    wc_close(a);
    wc_close(b);
}
END_TEST

START_TEST(test_list_and_stats_show_locks_and_holders)
{
    struct wc *a = session("lister");
    ck_assert(wc_acquire(a, 2, "list/one", 1, -1));
    wx_expect_token(a, 2);
    ck_assert(wc_acquire(a, 3, "other", 1, -1));
    wx_expect_token(a, 3);
    ck_assert(wc_list(a, 4, "list/"));
    Condd__V1__Response *r = wx_expect(a, 4, ST(OK));
    ck_assert_uint_eq(r->list->n_locks, 1);
    ck_assert_uint_eq(r->list->locks[0]->name.len, strlen("list/one"));
    ck_assert(memcmp(r->list->locks[0]->name.data, "list/one", 8) == 0);
    ck_assert_str_eq(r->list->locks[0]->holder_client, "lister");
    ck_assert(!r->list->truncated);
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert_uint_ge(stat_of(a, "locks"), 2);
    ck_assert_uint_ge(stat_of(a, "connections"), 1);
    wc_close(a);
}
END_TEST

/* ------------------------------------------------------------------ conditions */

START_TEST(test_wait_reply_comes_only_after_notifier_releases)
{
    struct wc *a = session("waiter");
    struct wc *b = session("notifier");
    ck_assert(wc_acquire(a, 2, "cv-lock", 1, -1));
    uint64_t t1 = wx_expect_token(a, 2);
    ck_assert(wc_wait(a, 3, "cv", "cv-lock", 1, -1));
    await_stat(b, "condition_waiters", 1);
    ck_assert(wc_acquire(b, 2, "cv-lock", 1, -1)); /* wait released it */
    wx_expect_token(b, 2);
    ck_assert(wc_notify(b, 3, "cv", "cv-lock", 1, 1));
    Condd__V1__Response *n = wx_expect(b, 3, ST(OK));
    ck_assert_uint_eq(n->notify->woken, 1);
    condd__v1__response__free_unpacked(n, NULL);
    ck_assert(wc_nothing_before_ping(a)); /* b still holds the lock */
    ck_assert(wc_release(b, 4, "cv-lock", 1));
    uint64_t t2 = wx_expect_token(a, 3);
    ck_assert_uint_gt(t2, t1);
    ck_assert(wc_release(a, 4, "cv-lock", 1)); /* the wait handed the lock back to a */
    wx_expect_free(a, 4, ST(OK));
    wc_close(a);
    wc_close(b);
}
END_TEST

START_TEST(test_notify_one_wakes_the_longest_waiter_across_connections)
{
    enum { N = 4 };
    struct wc *w[N];
    struct wc *n = session("notifier");
    for (int i = 0; i < N; i++) {
        w[i] = session("waiter");
        ck_assert(wc_acquire(w[i], 2, "q-lock", 1, -1));
        wx_expect_token(w[i], 2);
        ck_assert(wc_wait(w[i], 3, "q", "q-lock", 1, -1));
        await_stat(n, "condition_waiters", (uint64_t)i + 1);
    }
    for (int i = 0; i < N; i++) {
        ck_assert(wc_acquire(n, 10 + (uint64_t)i * 3, "q-lock", 1, -1));
        wx_expect_token(n, 10 + (uint64_t)i * 3);
        ck_assert(wc_notify(n, 11 + (uint64_t)i * 3, "q", "q-lock", 1, 1));
        wx_expect_free(n, 11 + (uint64_t)i * 3, ST(OK));
        ck_assert(wc_release(n, 12 + (uint64_t)i * 3, "q-lock", 1));
        wx_expect_free(n, 12 + (uint64_t)i * 3, ST(OK));
        wx_expect_token(w[i], 3); /* the i-th to wait is the i-th woken */
        for (int j = i + 1; j < N; j++)
            ck_assert(wc_nothing_before_ping(w[j]));
        ck_assert(wc_release(w[i], 4, "q-lock", 1));
        wx_expect_free(w[i], 4, ST(OK));
    }
    for (int i = 0; i < N; i++)
        wc_close(w[i]);
    wc_close(n);
}
END_TEST

START_TEST(test_notify_all_wakes_everyone_one_at_a_time)
{
    enum { N = 5 };
    struct wc *w[N];
    struct wc *n = session("notifier");
    for (int i = 0; i < N; i++) {
        w[i] = session("waiter");
        ck_assert(wc_acquire(w[i], 2, "all-lock", 1, -1));
        wx_expect_token(w[i], 2);
        ck_assert(wc_wait(w[i], 3, "all", "all-lock", 1, -1));
        await_stat(n, "condition_waiters", (uint64_t)i + 1);
    }
    ck_assert(wc_acquire(n, 2, "all-lock", 1, -1));
    wx_expect_token(n, 2);
    ck_assert(wc_notify_all(n, 3, "all", "all-lock", 1));
    Condd__V1__Response *r = wx_expect(n, 3, ST(OK));
    ck_assert_uint_eq(r->notify->woken, N);
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(wc_release(n, 4, "all-lock", 1));
    for (int i = 0; i < N; i++) {
        wx_expect_token(w[i], 3);
        ck_assert(wc_release(w[i], 4, "all-lock", 1));
        wx_expect_free(w[i], 4, ST(OK));
    }
    for (int i = 0; i < N; i++)
        wc_close(w[i]);
    wc_close(n);
}
END_TEST

START_TEST(test_wait_without_lock_and_lock_mismatch_are_refused)
{
    struct wc *a = session("a");
    ck_assert(wc_wait(a, 2, "c1", "l1", 1, -1));
    wx_expect_free(a, 2, ST(NOT_OWNER));
    ck_assert(wc_notify(a, 3, "c1", "l1", 1, 1));
    wx_expect_free(a, 3, ST(NOT_OWNER));
    struct wc *b = session("b");
    ck_assert(wc_acquire(b, 2, "l1", 1, -1));
    wx_expect_token(b, 2);
    ck_assert(wc_wait(b, 3, "c1", "l1", 1, -1)); /* binds c1 to l1 */
    await_stat(a, "condition_waiters", 1);
    ck_assert(wc_acquire(a, 4, "l2", 1, -1));
    wx_expect_token(a, 4);
    ck_assert(wc_notify(a, 5, "c1", "l2", 1, 1));
    wx_expect_free(a, 5, ST(LOCK_MISMATCH));
    ck_assert(wc_wait(a, 6, "c1", "l2", 1, -1));
    wx_expect_free(a, 6, ST(LOCK_MISMATCH));
    wc_close(a);
    wc_close(b);
}
END_TEST

START_TEST(test_timed_wait_replies_timeout_holding_the_lock)
{
    struct wc *a = session("a");
    struct wc *b = session("b");
    ck_assert(wc_acquire(a, 2, "tw-lock", 1, -1));
    wx_expect_token(a, 2);
    ck_assert(wc_wait(a, 3, "tw", "tw-lock", 1, 0.05));
    Condd__V1__Response *r = wx_expect(a, 3, ST(TIMEOUT));
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_WAIT);
    ck_assert_uint_ne(r->wait->token, 0);
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(wc_locked(b, 2, "tw-lock"));
    Condd__V1__Response *l = wx_expect(b, 2, ST(OK));
    ck_assert(l->locked->locked);
    condd__v1__response__free_unpacked(l, NULL);
    ck_assert(wc_release(a, 4, "tw-lock", 1));
    wx_expect_free(a, 4, ST(OK));
    wc_close(a);
    wc_close(b);
}
END_TEST

START_TEST(test_cancelled_wait_replies_cancelled_holding_the_lock)
{
    struct wc *a = session("a");
    ck_assert(wc_acquire(a, 2, "cw-lock", 1, -1));
    wx_expect_token(a, 2);
    ck_assert(wc_wait(a, 3, "cw", "cw-lock", 1, -1));
    ck_assert(wc_cancel(a, 4, 3));
    wx_expect_free(a, 4, ST(OK));
    wx_expect_free(a, 3, ST(CANCELLED));
    ck_assert(wc_release(a, 5, "cw-lock", 1));
    wx_expect_free(a, 5, ST(OK));
    wc_close(a);
}
END_TEST

START_TEST(test_dead_notified_waiter_passes_notification_on)
{
    struct wc *a = session("a");
    struct wc *b = session("b");
    struct wc *n = session("n");
    ck_assert(wc_acquire(a, 2, "pass-lock", 1, -1));
    wx_expect_token(a, 2);
    ck_assert(wc_wait(a, 3, "pass", "pass-lock", 1, -1));
    await_stat(n, "condition_waiters", 1);
    ck_assert(wc_acquire(b, 2, "pass-lock", 1, -1));
    wx_expect_token(b, 2);
    ck_assert(wc_wait(b, 3, "pass", "pass-lock", 1, -1));
    await_stat(n, "condition_waiters", 2);
    ck_assert(wc_acquire(n, 2, "pass-lock", 1, -1));
    wx_expect_token(n, 2);
    ck_assert(wc_notify(n, 3, "pass", "pass-lock", 1, 1)); /* wakes a */
    wx_expect_free(n, 3, ST(OK));
    wc_close(a); /* a dies before getting the lock back: b must get the wake-up */
    /* Once the server has seen a's end, b has left the condition (passed notification). */
    await_stat(n, "condition_waiters", 0);
    ck_assert(wc_release(n, 4, "pass-lock", 1));
    wx_expect_token(b, 3);
    wc_close(b);
    wc_close(n);
}
END_TEST

/* A Wait with notify_first, built by hand (the helper sends plain waits). */
static bool notify_wait(struct wc *w, uint64_t id, const char *cond, const char *lock, uint64_t n)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Wait m = CONDD__V1__WAIT__INIT;
    m.condition.data = (uint8_t *)cond;
    m.condition.len = strlen(cond);
    m.lock.data = (uint8_t *)lock;
    m.lock.len = strlen(lock);
    m.owner = 1;
    m.notify_first = n;
    req.id = id;
    req.body_case = CONDD__V1__REQUEST__BODY_WAIT;
    req.wait = &m;
    return wc_send(w, &req);
}

START_TEST(test_notify_first_hands_the_lock_over_in_one_request)
{
    struct wc *a = session("ping");
    struct wc *b = session("pong");
    ck_assert(wc_acquire(b, 2, "ho-lock", 1, -1));
    wx_expect_token(b, 2);
    ck_assert(wc_wait(b, 3, "ho", "ho-lock", 1, -1));
    await_stat(a, "condition_waiters", 1);
    ck_assert(wc_acquire(a, 2, "ho-lock", 1, -1));
    uint64_t last = wx_expect_token(a, 2);
    /* Ten handoffs, each a single request from the side holding the lock. */
    uint64_t id = 3;
    for (int round = 0; round < 10; round++) {
        struct wc *from = round % 2 == 0 ? a : b;
        struct wc *to = round % 2 == 0 ? b : a;
        uint64_t to_id = round == 0 ? 3 : id - 1;
        ck_assert(notify_wait(from, id, "ho", "ho-lock", 1));
        uint64_t tok = wx_expect_token(to, to_id);
        ck_assert_uint_gt(tok, last);
        last = tok;
        ck_assert(wc_nothing_before_ping(from)); /* the handing side keeps waiting */
        id++;
    }
    wc_close(a);
    wc_close(b);
}
END_TEST

/* ------------------------------------------------------------------ sessions and limits */

START_TEST(test_silent_session_expires_and_releases_its_lock)
{
    struct wc *a = session("silent");
    struct wc *b = session("patient");
    ck_assert(wc_acquire(a, 2, "expiring", 1, -1));
    wx_expect_token(a, 2);
    ck_assert(wc_acquire(b, 2, "expiring", 1, -1));
    /* b keeps itself alive with pings while a says nothing. */
    Condd__V1__Response *r = NULL;
    double end = tu_now() + T;
    uint64_t id = 100;
    while (r == NULL && tu_now() < end) {
        ck_assert(wc_ping(b, ++id));
        r = wc_recv_id(b, 2, 0.2);
    }
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, ST(OK));
    condd__v1__response__free_unpacked(r, NULL);
    Condd__V1__Response *x = wc_recv_id(a, 0, T);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->status, ST(TIMEOUT));
    condd__v1__response__free_unpacked(x, NULL);
    ck_assert(wc_wait_closed(a, T));
    ck_assert_uint_ge(stat_of(b, "session_expiries"), 1);
    wc_close(a);
    wc_close(b);
}
END_TEST

START_TEST(test_pings_keep_a_session_alive)
{
    struct wc *a = session("pinging");
    ck_assert(wc_acquire(a, 2, "kept", 1, -1));
    wx_expect_token(a, 2);
    double end = tu_now() + 2.5; /* longer than the 1 s session timeout */
    uint64_t id = 10;
    while (tu_now() < end) {
        ck_assert(wc_ping(a, ++id));
        wx_expect_free(a, id, ST(OK));
        usleep(200000); /* the client's own pacing, well inside the timeout */
    }
    ck_assert(wc_release(a, 3, "kept", 1));
    wx_expect_free(a, 3, ST(OK));
    wc_close(a);
}
END_TEST

START_TEST(test_connections_over_limit_are_refused_with_a_reply)
{
    struct wc *a = session("one");
    struct wc *b = session("two");
    struct wc *c = wc_connect(D.port);
    ck_assert_ptr_nonnull(c);
    Condd__V1__Response *r = wc_recv(c, T);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, ST(LIMIT_EXCEEDED));
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(wc_wait_closed(c, T));
    wc_close(c);
    wc_close(a);
    /* A slot is free again once a connection has gone. */
    double end = tu_now() + T;
    struct wc *d = NULL;
    while (d == NULL && tu_now() < end) {
        d = wc_session(D.port, "three");
        if (d == NULL)
            usleep(2000);
    }
    ck_assert_ptr_nonnull(d);
    wc_close(d);
    wc_close(b);
}
END_TEST

/* ------------------------------------------------------------------ shutdown */

START_TEST(test_sigterm_answers_pending_requests_and_exits_zero)
{
    struct tu_daemon own;
    ck_assert(tu_daemon_start(&own, false, NULL));
    struct wc *a = wc_session(own.port, "a");
    struct wc *b = wc_session(own.port, "b");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert(wc_acquire(a, 2, "sd", 1, -1));
    wx_expect_token(a, 2);
    ck_assert(wc_acquire(b, 2, "sd", 1, -1));
    ck_assert(wc_acquire(a, 3, "sd-cv-lock", 1, -1));
    wx_expect_token(a, 3);
    ck_assert(wc_wait(a, 4, "sd-cv", "sd-cv-lock", 1, -1));
    ck_assert(wc_ping(b, 3)); /* make sure b's acquire is queued before the signal */
    wx_expect_free(b, 3, ST(OK));
    ck_assert(wc_ping(a, 5));
    wx_expect_free(a, 5, ST(OK));
    kill(own.pid, SIGTERM);
    wx_expect_free(b, 2, ST(SHUTTING_DOWN));
    wx_expect_free(a, 4, ST(SHUTTING_DOWN));
    ck_assert(wc_wait_closed(a, T));
    ck_assert(wc_wait_closed(b, T));
    int st = tu_daemon_wait(&own, T);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "condd exit status %d", st);
    wc_close(a);
    wc_close(b);
}
END_TEST

static Suite *daemon_suite(void)
{
    Suite *s = suite_create("daemon");

    TCase *tc = tcase_create("protocol");
    tcase_add_unchecked_fixture(tc, start_default, stop_daemon);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hello_reports_session_and_limits);
    tcase_add_test(tc, test_ping_answers_with_same_id);
    tcase_add_test(tc, test_request_before_hello_is_refused_and_closed);
    tcase_add_test(tc, test_unsupported_version_is_refused_and_closed);
    tcase_add_test(tc, test_second_hello_is_bad_request_and_session_stays);
    tcase_add_test(tc, test_session_timeout_is_negotiated_within_bounds);
    tcase_add_test(tc, test_unknown_body_is_unimplemented_and_connection_stays);
    tcase_add_test(tc, test_unix_socket_serves_the_same_protocol);
    tcase_add_test(tc, test_second_daemon_does_not_take_over_a_live_unix_socket);
    tcase_add_test(tc, test_unix_socket_mode_and_group_are_applied_before_clients_connect);
    tcase_add_test(tc, test_zero_length_frame_closes_only_that_connection);
    tcase_add_test(tc, test_oversized_length_closes_only_that_connection);
    tcase_add_test(tc, test_undecodable_payload_closes_only_that_connection);
    tcase_add_test(tc, test_frame_split_byte_by_byte_is_reassembled);
    tcase_add_test(tc, test_replies_come_out_of_order_matched_by_id);
    tcase_add_test(tc, test_release_then_acquire_pipelined_sees_lock_released);
    tcase_add_test(tc, test_burst_beyond_frame_budget_is_answered_in_order);
    tcase_add_test(tc, test_client_that_never_reads_does_not_stall_others);
    suite_add_tcase(s, tc);

    tc = tcase_create("locks");
    tcase_add_unchecked_fixture(tc, start_default, stop_daemon);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_closing_holder_hands_lock_to_next_waiter);
    tcase_add_test(tc, test_many_connections_are_granted_in_fifo_order);
    tcase_add_test(tc, test_cancel_of_pending_acquire_answers_both);
    tcase_add_test(tc, test_timed_acquire_times_out_and_leaves_no_waiter);
    tcase_add_test(tc, test_foreign_release_is_not_owner);
    tcase_add_test(tc, test_list_and_stats_show_locks_and_holders);
    suite_add_tcase(s, tc);

    tc = tcase_create("conditions");
    tcase_add_unchecked_fixture(tc, start_default, stop_daemon);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_wait_reply_comes_only_after_notifier_releases);
    tcase_add_test(tc, test_notify_one_wakes_the_longest_waiter_across_connections);
    tcase_add_test(tc, test_notify_all_wakes_everyone_one_at_a_time);
    tcase_add_test(tc, test_wait_without_lock_and_lock_mismatch_are_refused);
    tcase_add_test(tc, test_timed_wait_replies_timeout_holding_the_lock);
    tcase_add_test(tc, test_cancelled_wait_replies_cancelled_holding_the_lock);
    tcase_add_test(tc, test_dead_notified_waiter_passes_notification_on);
    tcase_add_test(tc, test_notify_first_hands_the_lock_over_in_one_request);
    suite_add_tcase(s, tc);

    tc = tcase_create("sessions");
    tcase_add_unchecked_fixture(tc, start_short_session, stop_daemon);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_silent_session_expires_and_releases_its_lock);
    tcase_add_test(tc, test_pings_keep_a_session_alive);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_unchecked_fixture(tc, start_two_connections, stop_daemon);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_connections_over_limit_are_refused_with_a_reply);
    suite_add_tcase(s, tc);

    tc = tcase_create("frames");
    tcase_add_unchecked_fixture(tc, start_small_frames, stop_daemon);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_frame_over_configured_cap_is_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("shutdown");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sigterm_answers_pending_requests_and_exits_zero);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(daemon_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
