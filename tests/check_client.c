/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Tests of libcondd: address parsing and the pending table directly (they link the client's
 * convenience library), then every operation of the asynchronous and the blocking API against a
 * real condd started on an ephemeral loopback port: FIFO wake order, wait_for, timeouts and
 * cancel, owners sharing a connection, a server killed under a pending wait, a connection closed
 * inside its own callback, thousands of pending requests, keep-alive and session expiry, and the
 * blocking notify_wait handoff (with an asynchronous peer on the blocking connection's base).
 *
 * Every asynchronous test drives its own event_base with run_until(), which polls a condition
 * with a deadline (no sleeps stand in for states).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condd/condd.h>
#include <condd/condd_async.h>

#include "../client/internal.h"
#include "client_util.h"
#include "testutil.h"

/* ------------------------------------------------------------------ unit: addresses, table */

START_TEST(test_addr_default_comes_from_env_then_constant)
{
    unsetenv("CONDD_SERVER");
    ck_assert_str_eq(cl_addr_effective(NULL), CONDD_DEFAULT_ADDRESS);
    ck_assert_str_eq(cl_addr_effective(""), CONDD_DEFAULT_ADDRESS);
    setenv("CONDD_SERVER", "unix:/x", 1);
    ck_assert_str_eq(cl_addr_effective(NULL), "unix:/x");
    ck_assert_str_eq(cl_addr_effective("h:1"), "h:1");
    setenv("CONDD_SERVER", "", 1);
    ck_assert_str_eq(cl_addr_effective(NULL), CONDD_DEFAULT_ADDRESS);
    unsetenv("CONDD_SERVER");
}
END_TEST

START_TEST(test_ptable_keeps_every_entry_through_inserts_and_removals)
{
    struct cl_ptable t = {0};
    enum { N = 5000 };
    static bool present[N + 1];
    memset(present, 0, sizeof present);
    unsigned s = 12345;
    for (uint64_t id = 1; id <= N; id++) {
        struct cl_pending p = {.id = id, .op = CL_OP_PING, .arg = (void *)(uintptr_t)id};
        ck_assert_int_eq(cl_ptable_put(&t, &p), CONDD_OK);
        present[id] = true;
        s = s * 1103515245u + 12345u;
        uint64_t victim = 1 + (s >> 8) % id;
        struct cl_pending out;
        if (present[victim]) {
            ck_assert(cl_ptable_take(&t, victim, &out));
            ck_assert(out.id == victim && out.arg == (void *)(uintptr_t)victim);
            present[victim] = false;
        } else {
            ck_assert(!cl_ptable_take(&t, victim, &out));
        }
    }
    size_t left = 0;
    for (uint64_t id = 1; id <= N; id++) {
        ck_assert((cl_ptable_get(&t, id) != NULL) == present[id]);
        left += present[id];
    }
    ck_assert_uint_eq(t.count, left);
    struct cl_pending *all;
    size_t n;
    ck_assert_int_eq(cl_ptable_drain(&t, &all, &n), CONDD_OK);
    ck_assert_uint_eq(n, left);
    for (size_t i = 1; i < n; i++)
        ck_assert(all[i - 1].id < all[i].id);
    ck_assert_uint_eq(t.count, 0);
    free(all);
    cl_ptable_free(&t);
}
END_TEST

START_TEST(test_every_result_has_a_name_and_text)
{
    for (int rc = 0; rc >= -27; rc--) {
        if (rc < -13 && rc > -20)
            continue;
        ck_assert_msg(strcmp(condd_result_name(rc), "CONDD_ERR_UNKNOWN") != 0, "%d", rc);
        ck_assert_msg(strcmp(condd_strerror(rc), "unknown error") != 0, "%d", rc);
    }
    ck_assert_str_eq(condd_strerror(-999), "unknown error");
    for (int st = 1; st <= 13; st++)
        ck_assert_int_eq(cl_status_result(st), -st);
    ck_assert_int_eq(cl_status_result(0), CONDD_OK);
    ck_assert(condd_result_is_connection_error(CONDD_ERR_DISCONNECTED));
    ck_assert(!condd_result_is_connection_error(CONDD_ERR_NOT_OWNER));
    ck_assert_str_eq(condd_version(), PACKAGE_VERSION);
}
END_TEST

START_TEST(test_bad_address_is_an_error_not_a_crash)
{
    setup_base();
    condd_async_conn *c = (condd_async_conn *)1;
    struct rec r = {0};
    ck_assert_int_eq(condd_async_conn_open(base, "no:port:here", NULL, on_connect, &r, &c),
                     CONDD_ERR_ADDRESS);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(condd_async_conn_open(base, "[::1", NULL, on_connect, &r, &c),
                     CONDD_ERR_ADDRESS);
    ck_assert_int_eq(condd_async_conn_open(base, "host.invalid:1", NULL, on_connect, &r, &c),
                     CONDD_ERR_ADDRESS);
    ck_assert_int_eq(condd_async_conn_open(NULL, "127.0.0.1:1", NULL, on_connect, &r, &c),
                     CONDD_ERR_INVALID);
    condd_conn *conn = (condd_conn *)1;
    ck_assert_int_eq(condd_conn_open("bad address", NULL, &conn), CONDD_ERR_ADDRESS);
    ck_assert_ptr_null(conn);
    ck_assert_int_eq(r.calls, 0);
    teardown_base();
}
END_TEST

START_TEST(test_refused_connection_reaches_the_connect_callback)
{
    setup_base();
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", closed_port());
    struct rec r = {0}, acq = {0};
    condd_async_conn *c = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, addr, NULL, on_connect, &r, &c), CONDD_OK);
    /* Queued before the connection exists: must fail with the connection. */
    ck_assert_int_eq(condd_async_lock_acquire(c, "x", 0, CONDD_FOREVER, on_token, &acq, NULL),
                     CONDD_OK);
    ck_assert_int_eq(r.calls, 0); /* never from inside condd_async_conn_open() */
    ck_assert(run_until(&r.done, 10));
    ck_assert_int_eq(r.rc, CONDD_ERR_CONNECT);
    ck_assert_int_eq(acq.calls, 1);
    ck_assert_int_eq(acq.rc, CONDD_ERR_CONNECT);
    ck_assert(acq.order < r.order);
    ck_assert(!condd_async_conn_is_connected(c));
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, &r), CONDD_ERR_CONNECT);
    condd_async_conn_close(c);

    condd_conn *conn = NULL;
    ck_assert_int_eq(condd_conn_open(addr, NULL, &conn), CONDD_ERR_CONNECT);
    ck_assert_ptr_null(conn);
    teardown_base();
}
END_TEST

START_TEST(test_connect_error_carries_the_os_reason)
{
    setup_base();
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", closed_port());
    struct rec r = {0};
    condd_async_conn *c = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, addr, NULL, on_connect, &r, &c), CONDD_OK);
    ck_assert(run_until(&r.done, 10));
    ck_assert_int_eq(r.rc, CONDD_ERR_CONNECT);
    ck_assert_str_eq(r.msg, strerror(ECONNREFUSED));
    condd_async_conn_close(c);

    /* The blocking API has no connection left to ask: condd_conn_message(NULL) says why. */
    condd_conn *conn = NULL;
    ck_assert_int_eq(condd_conn_open(addr, NULL, &conn), CONDD_ERR_CONNECT);
    ck_assert_str_eq(condd_conn_message(NULL), strerror(ECONNREFUSED));
    ck_assert_int_eq(condd_conn_open("unix:/nonexistent/condd-test.sock", NULL, &conn),
                     CONDD_ERR_CONNECT);
    ck_assert_str_eq(condd_conn_message(NULL), strerror(ENOENT));
    /* A new attempt sets its own message: an address error names the address, not the last
     * attempt's OS reason. */
    ck_assert_int_eq(condd_conn_open("bad address", NULL, &conn), CONDD_ERR_ADDRESS);
    ck_assert_str_eq(condd_conn_message(NULL),
                     "invalid address \"bad address\": expected host:port, host, [v6addr]:port, "
                     "unix:/path or tls:host:port");
    teardown_base();
}
END_TEST

START_TEST(test_connect_timeout_names_the_step_that_hung)
{
    /* A listening socket nobody accepts from: the kernel completes the TCP handshake, so the
     * client hangs in Hello, not in connect(). */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    socklen_t len = sizeof sin;
    getsockname(fd, (struct sockaddr *)&sin, &len);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sin.sin_port));
    condd_options *o = condd_options_new();
    ck_assert_int_eq(condd_options_set_connect_timeout(o, 0.3), CONDD_OK);

    setup_base();
    struct rec r = {0};
    condd_async_conn *c = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, addr, o, on_connect, &r, &c), CONDD_OK);
    ck_assert(run_until(&r.done, 10));
    ck_assert_int_eq(r.rc, CONDD_ERR_CONNECT);
    ck_assert_str_eq(r.msg, "timed out waiting for the server's answer to Hello");
    condd_async_conn_close(c);

    condd_conn *conn = NULL;
    ck_assert_int_eq(condd_conn_open(addr, o, &conn), CONDD_ERR_CONNECT);
    ck_assert_str_eq(condd_conn_message(NULL),
                     "timed out waiting for the server's answer to Hello");
    condd_options_free(o);
    close(fd);
    teardown_base();
}
END_TEST

START_TEST(test_options_validate_their_values)
{
    condd_options *o = condd_options_new();
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(condd_options_set_session_timeout(o, -1), CONDD_ERR_INVALID);
    ck_assert_int_eq(condd_options_set_session_timeout(o, NAN), CONDD_ERR_INVALID);
    ck_assert_int_eq(condd_options_set_session_timeout(o, 5), CONDD_OK);
    ck_assert_int_eq(condd_options_set_connect_timeout(o, 0), CONDD_ERR_INVALID);
    ck_assert_int_eq(condd_options_set_client_name(o, "me"), CONDD_OK);
    ck_assert_int_eq(condd_options_set_client_name(o, NULL), CONDD_OK);
    condd_options_free(o);
    condd_options_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------ async API */

START_TEST(test_async_every_operation)
{
    condd_options *o = condd_options_new();
    condd_options_set_client_name(o, "check_client/async");
    condd_async_conn *c = connect_ok(daemon_.addr, o);
    condd_options_free(o);
    ck_assert(condd_async_conn_session_id(c) > 0);
    ck_assert(condd_async_conn_session_timeout(c) > 0);
    ck_assert_str_eq(condd_async_conn_server_version(c), "condd " PACKAGE_VERSION);
    ck_assert_ptr_eq(condd_async_conn_base(c), base);

    struct rec ping = {0}, locked = {0}, st = {0}, ls = {0}, nt = {0}, na = {0}, w = {0};
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, &ping), CONDD_OK);
    ck_assert(run_until(&ping.done, 10));
    ck_assert_int_eq(ping.rc, CONDD_OK);

    uint64_t t1 = acquire_ok(c, "list/a", 0);
    ck_assert_int_eq(condd_async_lock_locked(c, "list/a", on_locked, &locked), CONDD_OK);
    ck_assert_int_eq(condd_async_conn_stats(c, on_stats, &st), CONDD_OK);
    ck_assert_int_eq(condd_async_conn_list(c, "list/", 0, on_list, &ls), CONDD_OK);
    ck_assert_int_eq(condd_async_cond_notify(c, "list/cv", "list/a", 0, 1, on_notify, &nt),
                     CONDD_OK);
    ck_assert_int_eq(condd_async_cond_notify_all(c, "list/cv", "list/a", 0, on_notify, &na),
                     CONDD_OK);
    ck_assert_int_eq(condd_async_cond_wait(c, "list/cv", "list/a", 0, 0.05, on_token, &w, NULL),
                     CONDD_OK);
    ck_assert(run_until(&w.done, 10));
    ck_assert(locked.done && st.done && ls.done && nt.done && na.done);
    ck_assert(locked.rc == CONDD_OK && locked.flag);
    ck_assert_int_eq(st.rc, CONDD_OK);
    ck_assert(st.flag);
    ck_assert_uint_ge(st.u64, 1);
    ck_assert_int_eq(ls.rc, CONDD_OK);
    ck_assert(ls.flag);
    ck_assert(nt.rc == CONDD_OK && nt.u64 == 0);
    ck_assert(na.rc == CONDD_OK && na.u64 == 0);
    /* Answers to requests completed at once arrive in request order. */
    ck_assert(locked.order < st.order && st.order < ls.order && ls.order < nt.order);
    ck_assert_int_eq(w.rc, CONDD_ERR_TIMEOUT);
    ck_assert(w.u64 > t1); /* the wait re-acquired: a new, larger token */

    ck_assert_int_eq(release_sync(c, "list/a", 0), CONDD_OK);
    memset(&locked, 0, sizeof locked);
    ck_assert_int_eq(condd_async_lock_locked(c, "list/a", on_locked, &locked), CONDD_OK);
    ck_assert(run_until(&locked.done, 10));
    ck_assert(locked.rc == CONDD_OK && !locked.flag);

    struct rec rel = {0};
    ck_assert_int_eq(condd_async_lock_release(c, "list/a", 0, on_result, &rel), CONDD_OK);
    ck_assert(run_until(&rel.done, 10));
    ck_assert_int_eq(rel.rc, CONDD_ERR_NOT_OWNER);
    ck_assert(rel.msg[0] != '\0'); /* the server's message, seen inside the callback */
    ck_assert_str_eq(condd_async_conn_message(c), "");

    struct rec bad = {0};
    ck_assert_int_eq(condd_async_lock_acquire(c, "", 0, 0, on_token, &bad, NULL), CONDD_OK);
    ck_assert(run_until(&bad.done, 10));
    ck_assert_int_eq(bad.rc, CONDD_ERR_BAD_REQUEST);
    ck_assert_int_eq(condd_async_lock_acquire(c, NULL, 0, 0, on_token, &bad, NULL),
                     CONDD_ERR_INVALID);
    ck_assert_int_eq(condd_async_lock_acquire(c, "x", 0, NAN, on_token, &bad, NULL),
                     CONDD_ERR_INVALID);
    ck_assert_int_eq(condd_async_conn_ping(c, NULL, NULL), CONDD_ERR_INVALID);
    ck_assert_uint_eq(condd_async_conn_pending_count(c), 0);
    condd_async_conn_close(c);
}
END_TEST

START_TEST(test_requests_issued_before_connect_completes_are_sent_after_hello)
{
    struct rec conn = {0}, acq = {0}, rel = {0};
    condd_async_conn *c = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, daemon_.addr, NULL, on_connect, &conn, &c),
                     CONDD_OK);
    ck_assert_int_eq(condd_async_lock_acquire(c, "early", 0, 0, on_token, &acq, NULL), CONDD_OK);
    ck_assert_int_eq(condd_async_lock_release(c, "early", 0, on_result, &rel), CONDD_OK);
    ck_assert(run_until(&rel.done, 10));
    ck_assert(conn.rc == CONDD_OK && acq.rc == CONDD_OK && rel.rc == CONDD_OK);
    ck_assert(conn.order < acq.order && acq.order < rel.order);
    condd_async_conn_close(c);
}
END_TEST

START_TEST(test_release_then_acquire_pipelined_in_one_turn)
{
    condd_async_conn *c = connect_daemon();
    enum { CYCLES = 200 };
    struct rec acq[CYCLES];
    memset(acq, 0, sizeof acq);
    /* All cycles issued without running the loop: each release is ordered before the next
     * acquire on the wire, so every acquire is granted at once. */
    for (int i = 0; i < CYCLES; i++) {
        ck_assert_int_eq(condd_async_lock_acquire(c, "pipe", 0, 0, on_token, &acq[i], NULL),
                         CONDD_OK);
        ck_assert_int_eq(condd_async_lock_release(c, "pipe", 0, NULL, NULL), CONDD_OK);
    }
    ck_assert(run_until(&acq[CYCLES - 1].done, 10));
    for (int i = 0; i < CYCLES; i++) {
        ck_assert_int_eq(acq[i].rc, CONDD_OK);
        if (i > 0)
            ck_assert(acq[i].u64 > acq[i - 1].u64);
    }
    condd_async_conn_close(c);
}
END_TEST

struct fifo_waiter {
    condd_async_conn *c;
    int index;
    struct rec wait;
    int *woken_order;
    int *n_woken;
};

static void fifo_on_wake(condd_async_conn *c, int rc, uint64_t token, void *arg)
{
    struct fifo_waiter *w = arg;
    rec_set(c, &w->wait, rc);
    w->woken_order[(*w->n_woken)++] = w->index;
    condd_async_lock_release(c, "fifo/l", 0, NULL, NULL);
}

START_TEST(test_notify_wakes_waiters_in_fifo_order_across_clients)
{
    enum { N = 5 };
    struct fifo_waiter w[N];
    int order[N], n_woken = 0;
    for (int i = 0; i < N; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].c = connect_daemon();
        w[i].index = i;
        w[i].woken_order = order;
        w[i].n_woken = &n_woken;
        /* Acquire, then wait: the acquire is granted only once the previous waiter's wait has
         * released the lock, so the waits are queued in index order. */
        acquire_ok(w[i].c, "fifo/l", 0);
        ck_assert_int_eq(condd_async_cond_wait(w[i].c, "fifo/cv", "fifo/l", 0, CONDD_FOREVER,
                                               fifo_on_wake, &w[i], NULL),
                         CONDD_OK);
    }
    condd_async_conn *n = connect_daemon();
    acquire_ok(n, "fifo/l", 0);
    struct rec one = {0};
    ck_assert_int_eq(condd_async_cond_notify(n, "fifo/cv", "fifo/l", 0, 1, on_notify, &one),
                     CONDD_OK);
    ck_assert(run_until(&one.done, 10));
    ck_assert(one.rc == CONDD_OK && one.u64 == 1);
    ck_assert_int_eq(release_sync(n, "fifo/l", 0), CONDD_OK);
    ck_assert(run_until_count(&n_woken, 1, 10));
    ck_assert_int_eq(order[0], 0); /* notify(1) woke exactly the longest waiter */

    acquire_ok(n, "fifo/l", 0);
    struct rec all = {0};
    ck_assert_int_eq(condd_async_cond_notify_all(n, "fifo/cv", "fifo/l", 0, on_notify, &all),
                     CONDD_OK);
    ck_assert(run_until(&all.done, 10));
    ck_assert(all.rc == CONDD_OK && all.u64 == N - 1);
    ck_assert_int_eq(release_sync(n, "fifo/l", 0), CONDD_OK);
    ck_assert(run_until_count(&n_woken, N, 10));
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(order[i], i);
        ck_assert_int_eq(w[i].wait.calls, 1);
        ck_assert_int_eq(w[i].wait.rc, CONDD_OK);
        condd_async_conn_close(w[i].c);
    }
    condd_async_conn_close(n);
}
END_TEST

struct pred_state {
    int value;
    int calls;
};

static bool pred_value_positive(void *arg)
{
    struct pred_state *p = arg;
    p->calls++;
    return p->value > 0;
}

START_TEST(test_wait_for_predicate_false_then_true)
{
    condd_async_conn *a = connect_daemon(), *b = connect_daemon();
    struct pred_state ps = {0};
    acquire_ok(a, "wf/l", 0);
    struct rec wf = {0};
    uint64_t id = 0;
    ck_assert_int_eq(condd_async_cond_wait_for(a, "wf/cv", "wf/l", 0, CONDD_FOREVER,
                                               pred_value_positive, &ps, on_token, &wf, &id),
                     CONDD_OK);
    ck_assert(id != 0);
    ck_assert_int_eq(ps.calls, 1); /* evaluated at once, false */

    /* A notify while the predicate is still false: a wakes, sees false, waits again. */
    acquire_ok(b, "wf/l", 0);
    struct rec n1 = {0};
    ck_assert_int_eq(condd_async_cond_notify(b, "wf/cv", "wf/l", 0, 1, on_notify, &n1), CONDD_OK);
    ck_assert(run_until(&n1.done, 10));
    ck_assert_uint_eq(n1.u64, 1);
    ck_assert_int_eq(release_sync(b, "wf/l", 0), CONDD_OK);
    ck_assert(run_until_count(&ps.calls, 2, 10));
    ck_assert(!wf.done);

    /* Now make it true and notify again. */
    acquire_ok(b, "wf/l", 0);
    ps.value = 1;
    struct rec n2 = {0};
    ck_assert_int_eq(condd_async_cond_notify(b, "wf/cv", "wf/l", 0, 1, on_notify, &n2), CONDD_OK);
    ck_assert(run_until(&n2.done, 10));
    ck_assert_uint_eq(n2.u64, 1); /* a was waiting again */
    ck_assert_int_eq(release_sync(b, "wf/l", 0), CONDD_OK);
    ck_assert(run_until(&wf.done, 10));
    ck_assert_int_eq(wf.rc, CONDD_OK);
    ck_assert(wf.u64 != 0);
    ck_assert_int_eq(ps.calls, 3);
    ck_assert_int_eq(wf.calls, 1);
    ck_assert_int_eq(release_sync(a, "wf/l", 0), CONDD_OK); /* a held the lock */
    condd_async_conn_close(a);
    condd_async_conn_close(b);
}
END_TEST

START_TEST(test_wait_for_true_at_once_answers_from_the_loop)
{
    condd_async_conn *a = connect_daemon();
    struct pred_state ps = {.value = 1};
    acquire_ok(a, "wf1/l", 0);
    struct rec wf = {0};
    uint64_t id = 0;
    ck_assert_int_eq(condd_async_cond_wait_for(a, "wf1/cv", "wf1/l", 0, 5, pred_value_positive, &ps,
                                               on_token, &wf, &id),
                     CONDD_OK);
    ck_assert(!wf.done); /* not from inside the call */
    /* Too late to cancel: the predicate already held. */
    struct rec cancel = {0};
    ck_assert_int_eq(condd_async_conn_cancel(a, id, on_result, &cancel), CONDD_OK);
    ck_assert(run_until(&cancel.done, 10));
    ck_assert(wf.done);
    ck_assert_int_eq(wf.rc, CONDD_OK);
    ck_assert_uint_eq(wf.u64, 0);
    ck_assert_int_eq(cancel.rc, CONDD_ERR_NOT_FOUND);
    ck_assert_int_eq(release_sync(a, "wf1/l", 0), CONDD_OK);
    condd_async_conn_close(a);
}
END_TEST

START_TEST(test_wait_for_deadline_spans_every_wakeup)
{
    condd_async_conn *a = connect_daemon(), *b = connect_daemon();
    struct pred_state ps = {0};
    acquire_ok(a, "wf2/l", 0);
    struct rec wf = {0};
    double t0 = tu_now();
    ck_assert_int_eq(condd_async_cond_wait_for(a, "wf2/cv", "wf2/l", 0, 0.3, pred_value_positive,
                                               &ps, on_token, &wf, NULL),
                     CONDD_OK);
    acquire_ok(b, "wf2/l", 0);
    struct rec n1 = {0};
    ck_assert_int_eq(condd_async_cond_notify(b, "wf2/cv", "wf2/l", 0, 1, on_notify, &n1), CONDD_OK);
    ck_assert(run_until(&n1.done, 10));
    ck_assert_int_eq(release_sync(b, "wf2/l", 0), CONDD_OK);
    ck_assert(run_until(&wf.done, 10));
    ck_assert_int_eq(wf.rc, CONDD_ERR_TIMEOUT);
    ck_assert(wf.u64 != 0);
    ck_assert_int_ge(ps.calls, 2);
    ck_assert(tu_now() - t0 >= 0.29);
    ck_assert_int_eq(release_sync(a, "wf2/l", 0), CONDD_OK); /* lock held after TIMEOUT */
    condd_async_conn_close(a);
    condd_async_conn_close(b);
}
END_TEST

START_TEST(test_wait_for_cancel_returns_with_lock_held)
{
    condd_async_conn *a = connect_daemon();
    struct pred_state ps = {0};
    acquire_ok(a, "wf3/l", 0);
    struct rec wf = {0}, cancel = {0};
    uint64_t id = 0;
    ck_assert_int_eq(condd_async_cond_wait_for(a, "wf3/cv", "wf3/l", 0, CONDD_FOREVER,
                                               pred_value_positive, &ps, on_token, &wf, &id),
                     CONDD_OK);
    ck_assert_int_eq(condd_async_conn_cancel(a, id, on_result, &cancel), CONDD_OK);
    ck_assert(run_until(&wf.done, 10));
    ck_assert(run_until(&cancel.done, 10));
    ck_assert_int_eq(wf.rc, CONDD_ERR_CANCELLED);
    ck_assert(wf.u64 != 0);
    ck_assert_int_eq(cancel.rc, CONDD_OK);
    ck_assert_int_eq(release_sync(a, "wf3/l", 0), CONDD_OK);
    condd_async_conn_close(a);
}
END_TEST

START_TEST(test_acquire_timeout_and_cancel)
{
    condd_async_conn *a = connect_daemon(), *b = connect_daemon();
    acquire_ok(a, "tc/l", 0);

    struct rec try_ = {0}, timed = {0}, forever = {0}, cancel = {0}, unknown = {0};
    ck_assert_int_eq(condd_async_lock_acquire(b, "tc/l", 0, 0, on_token, &try_, NULL), CONDD_OK);
    ck_assert_int_eq(condd_async_lock_acquire(b, "tc/l", 0, 0.1, on_token, &timed, NULL), CONDD_OK);
    ck_assert(run_until(&timed.done, 10));
    ck_assert_int_eq(try_.rc, CONDD_ERR_TIMEOUT);
    ck_assert_int_eq(timed.rc, CONDD_ERR_TIMEOUT);
    ck_assert_uint_eq(timed.u64, 0);

    uint64_t id = 0;
    ck_assert_int_eq(condd_async_lock_acquire(b, "tc/l", 0, CONDD_FOREVER, on_token, &forever, &id),
                     CONDD_OK);
    ck_assert_int_eq(condd_async_conn_cancel(b, id, on_result, &cancel), CONDD_OK);
    ck_assert(run_until(&cancel.done, 10));
    ck_assert_int_eq(forever.rc, CONDD_ERR_CANCELLED);
    ck_assert(forever.order < cancel.order);
    ck_assert_int_eq(cancel.rc, CONDD_OK);

    ck_assert_int_eq(condd_async_conn_cancel(b, id, on_result, &unknown), CONDD_OK);
    ck_assert(run_until(&unknown.done, 10));
    ck_assert_int_eq(unknown.rc, CONDD_ERR_NOT_FOUND);

    /* A wait cancelled comes back with the lock held again. */
    struct rec w = {0}, wc = {0};
    ck_assert_int_eq(condd_async_cond_wait(a, "tc/cv", "tc/l", 0, CONDD_FOREVER, on_token, &w, &id),
                     CONDD_OK);
    ck_assert_int_eq(condd_async_conn_cancel(a, id, on_result, &wc), CONDD_OK);
    ck_assert(run_until(&w.done, 10));
    ck_assert_int_eq(w.rc, CONDD_ERR_CANCELLED);
    ck_assert(w.u64 != 0);
    ck_assert_int_eq(release_sync(a, "tc/l", 0), CONDD_OK);
    condd_async_conn_close(a);
    condd_async_conn_close(b);
}
END_TEST

START_TEST(test_two_owners_contend_through_one_connection)
{
    condd_async_conn *c = connect_daemon();
    uint64_t o1 = condd_async_conn_new_owner(c), o2 = condd_async_conn_new_owner(c);
    ck_assert(o1 != 0 && o2 != 0 && o1 != o2);
    uint64_t t1 = acquire_ok(c, "own/l", o1);
    struct rec second = {0}, again = {0};
    ck_assert_int_eq(
        condd_async_lock_acquire(c, "own/l", o2, CONDD_FOREVER, on_token, &second, NULL), CONDD_OK);
    ck_assert_int_eq(condd_async_lock_acquire(c, "own/l", o1, 0, on_token, &again, NULL), CONDD_OK);
    ck_assert(run_until(&again.done, 10));
    ck_assert_int_eq(again.rc, CONDD_ERR_ALREADY_OWNER);
    ck_assert(!second.done); /* o2 waits for o1 although they share the connection */
    ck_assert_int_eq(release_sync(c, "own/l", o2), CONDD_ERR_NOT_OWNER);
    ck_assert_int_eq(release_sync(c, "own/l", o1), CONDD_OK);
    ck_assert(run_until(&second.done, 10));
    ck_assert_int_eq(second.rc, CONDD_OK);
    ck_assert(second.u64 > t1);
    ck_assert_int_eq(release_sync(c, "own/l", o1), CONDD_ERR_NOT_OWNER);
    ck_assert_int_eq(release_sync(c, "own/l", o2), CONDD_OK);
    condd_async_conn_close(c);
}
END_TEST

struct disc {
    int calls;
    int reason;
    int pending_done_before; /* how many pending callbacks had run when disconnect ran */
    struct rec *watch;
};

static void on_disconnect(condd_async_conn *c, int reason, void *arg)
{
    struct disc *d = arg;
    d->calls++;
    d->reason = reason;
    d->pending_done_before = d->watch != NULL ? d->watch->calls : 0;
}

START_TEST(test_server_killed_under_pending_wait)
{
    condd_async_conn *c = connect_daemon();
    acquire_ok(c, "kill/l", 0);
    struct rec w = {0};
    struct disc d = {.watch = &w};
    condd_async_conn_set_disconnect_cb(c, on_disconnect, &d);
    ck_assert_int_eq(
        condd_async_cond_wait(c, "kill/cv", "kill/l", 0, CONDD_FOREVER, on_token, &w, NULL),
        CONDD_OK);
    struct rec ping = {0};
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, &ping), CONDD_OK);
    ck_assert(run_until(&ping.done, 10)); /* the wait is registered */
    tu_daemon_kill(&daemon_);
    daemon_up = false;
    ck_assert(run_until(&w.done, 10));
    ck_assert_int_eq(w.calls, 1);
    ck_assert(condd_result_is_connection_error(w.rc));
    ck_assert_int_eq(w.rc, CONDD_ERR_DISCONNECTED);
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(d.reason, CONDD_ERR_DISCONNECTED);
    ck_assert_int_eq(d.pending_done_before, 1);
    ck_assert(!condd_async_conn_is_connected(c));
    struct rec late = {0};
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, &late), CONDD_ERR_DISCONNECTED);
    run_for(0.05);
    ck_assert_int_eq(w.calls, 1);
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(late.calls, 0);
    condd_async_conn_close(c); /* LeakSanitizer (sanitizer builds) checks nothing is left */
}
END_TEST

struct closer {
    condd_async_conn *c;
    struct rec first;
    struct rec others[3];
};

static void close_in_callback(condd_async_conn *c, int rc, uint64_t token, void *arg)
{
    struct closer *cl = arg;
    rec_set(c, &cl->first, rc);
    condd_async_conn_close(c);
    /* Still safe inside the callback: calls fail, nothing is freed under us. */
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, &cl->first), CONDD_ERR_CLOSED);
    ck_assert_str_eq(condd_async_conn_server_version(c), "condd " PACKAGE_VERSION);
}

START_TEST(test_client_freed_inside_its_callback)
{
    condd_async_conn *h = connect_daemon();
    acquire_ok(h, "free/l", 0);
    struct closer cl;
    memset(&cl, 0, sizeof cl);
    cl.c = connect_daemon();
    /* Three acquires that stay pending, then one that completes at once and closes. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(condd_async_lock_acquire(cl.c, "free/l", (uint64_t)i + 1, CONDD_FOREVER,
                                                  on_token, &cl.others[i], NULL),
                         CONDD_OK);
    ck_assert_int_eq(
        condd_async_lock_acquire(cl.c, "free/other", 0, 0, close_in_callback, &cl, NULL), CONDD_OK);
    ck_assert(run_until(&cl.first.done, 10));
    ck_assert_int_eq(cl.first.rc, CONDD_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(cl.others[i].calls, 1);
        ck_assert_int_eq(cl.others[i].rc, CONDD_ERR_CLOSED);
    }
    /* The server saw the close: the held lock is the only one, its waiters are gone. */
    run_for(0.05);
    struct rec st = {0};
    ck_assert_int_eq(condd_async_conn_stats(h, on_stats, &st), CONDD_OK);
    ck_assert(run_until(&st.done, 10));
    ck_assert_uint_eq(st.u64, 1);
    condd_async_conn_close(h);
}
END_TEST

static void close_in_connect(condd_async_conn *c, int rc, void *arg)
{
    rec_set(c, arg, rc);
    condd_async_conn_close(c);
}

START_TEST(test_client_closed_inside_connect_and_disconnect_callbacks)
{
    struct rec r = {0}, p = {0};
    condd_async_conn *c = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, daemon_.addr, NULL, close_in_connect, &r, &c),
                     CONDD_OK);
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, &p), CONDD_OK);
    ck_assert(run_until(&r.done, 10));
    ck_assert_int_eq(r.rc, CONDD_OK);
    ck_assert_int_eq(p.calls, 1);
    ck_assert_int_eq(p.rc, CONDD_ERR_CLOSED);
}
END_TEST

START_TEST(test_close_runs_every_pending_callback_once)
{
    condd_async_conn *h = connect_daemon(), *c = connect_daemon();
    acquire_ok(h, "cl/l", 0);
    struct rec r[10];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(
            condd_async_lock_acquire(c, "cl/l", (uint64_t)i, CONDD_FOREVER, on_token, &r[i], NULL),
            CONDD_OK);
    struct rec ping = {0};
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, &ping), CONDD_OK);
    ck_assert(run_until(&ping.done, 10));
    condd_async_conn_close(c);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(r[i].calls, 1);
        ck_assert_int_eq(r[i].rc, CONDD_ERR_CLOSED);
        if (i > 0)
            ck_assert(r[i - 1].order < r[i].order); /* in request order */
    }
    condd_async_conn_close(h);
}
END_TEST

struct chain {
    condd_async_conn *c;
    int granted;
    int in_order;
    uint64_t last_owner;
};

static void chain_on_grant(condd_async_conn *c, int rc, uint64_t token, void *arg);

struct chain_item {
    struct chain *ch;
    uint64_t owner;
};

static void chain_on_grant(condd_async_conn *c, int rc, uint64_t token, void *arg)
{
    struct chain_item *it = arg;
    struct chain *ch = it->ch;
    ck_assert_int_eq(rc, CONDD_OK);
    if (it->owner == ch->last_owner + 1)
        ch->in_order++;
    ch->last_owner = it->owner;
    ch->granted++;
    ck_assert_int_eq(condd_async_lock_release(c, "many/l", it->owner, NULL, NULL), CONDD_OK);
}

START_TEST(test_thousands_of_pending_requests_on_one_connection)
{
    enum { N = 5000 };
    condd_async_conn *c = connect_daemon();
    acquire_ok(c, "many/l", 0);
    static struct chain_item items[N];
    struct chain ch = {.c = c};
    for (int i = 0; i < N; i++) {
        items[i].ch = &ch;
        items[i].owner = (uint64_t)i + 1;
        ck_assert_int_eq(condd_async_lock_acquire(c, "many/l", items[i].owner, CONDD_FOREVER,
                                                  chain_on_grant, &items[i], NULL),
                         CONDD_OK);
    }
    ck_assert_uint_eq(condd_async_conn_pending_count(c), N);
    struct rec ping = {0};
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, &ping), CONDD_OK);
    ck_assert(run_until(&ping.done, 20)); /* all queued at the server */
    ck_assert_int_eq(ch.granted, 0);
    ck_assert_int_eq(release_sync(c, "many/l", 0), CONDD_OK);
    ck_assert(run_until_count(&ch.granted, N, 60));
    ck_assert_int_eq(ch.in_order, N); /* FIFO */
    struct rec locked = {0};
    ck_assert_int_eq(condd_async_lock_locked(c, "many/l", on_locked, &locked), CONDD_OK);
    ck_assert(run_until(&locked.done, 10));
    ck_assert(!locked.flag);
    ck_assert_uint_eq(condd_async_conn_pending_count(c), 0);
    condd_async_conn_close(c);
}
END_TEST

START_TEST(test_keepalive_holds_a_short_session)
{
    condd_options *o = condd_options_new();
    condd_options_set_session_timeout(o, 1);
    condd_async_conn *c = connect_ok(daemon_.addr, o);
    condd_options_free(o);
    ck_assert(fabs(condd_async_conn_session_timeout(c) - 1) < 1e-9);
    struct disc d = {0};
    condd_async_conn_set_disconnect_cb(c, on_disconnect, &d);
    acquire_ok(c, "ka/l", 0);
    run_for(2.5); /* the loop runs: pings keep the session */
    ck_assert_int_eq(d.calls, 0);
    struct rec locked = {0};
    ck_assert_int_eq(condd_async_lock_locked(c, "ka/l", on_locked, &locked), CONDD_OK);
    ck_assert(run_until(&locked.done, 10));
    ck_assert(locked.rc == CONDD_OK && locked.flag);
    ck_assert_int_eq(release_sync(c, "ka/l", 0), CONDD_OK);
    condd_async_conn_close(c);
}
END_TEST

START_TEST(test_blocked_loop_loses_the_session_and_is_told)
{
    condd_options *o = condd_options_new();
    condd_options_set_session_timeout(o, 1);
    condd_async_conn *c = connect_ok(daemon_.addr, o), *other = connect_daemon();
    condd_options_free(o);
    struct disc d = {0};
    condd_async_conn_set_disconnect_cb(c, on_disconnect, &d);
    acquire_ok(c, "exp/l", 0);
    struct rec w = {0};
    ck_assert_int_eq(
        condd_async_cond_wait(c, "exp/cv", "exp/l", 0, CONDD_FOREVER, on_token, &w, NULL),
        CONDD_OK);
    struct rec p = {0};
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, &p), CONDD_OK);
    ck_assert(run_until(&p.done, 10));
    /* The state under test is a caller that blocks its loop past the session timeout: do
     * exactly that, then watch the server expire the session (the lock is free again). */
    double end = tu_now() + 1.6;
    while (tu_now() < end)
        usleep(20000);
    uint64_t t = acquire_ok(other, "exp/l", 0);
    ck_assert(t != 0);
    ck_assert(run_until(&w.done, 10));
    ck_assert(condd_result_is_connection_error(w.rc));
    ck_assert_msg(w.rc == CONDD_ERR_SESSION_EXPIRED || w.rc == CONDD_ERR_SERVER_TIMEOUT, "%s",
                  condd_result_name(w.rc));
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(d.reason, w.rc);
    condd_async_conn_close(c);
    condd_async_conn_close(other);
}
END_TEST

START_TEST(test_unix_socket_address)
{
    start_daemon_with(true, NULL);
    char addr[256];
    snprintf(addr, sizeof addr, "unix:%s", daemon_.unix_path);
    condd_async_conn *c = connect_ok(addr, NULL);
    acquire_ok(c, "unix/l", 0);
    ck_assert_int_eq(release_sync(c, "unix/l", 0), CONDD_OK);
    condd_async_conn_close(c);
    setenv("CONDD_SERVER", addr, 1);
    condd_conn *conn = NULL;
    ck_assert_int_eq(condd_conn_open(NULL, NULL, &conn), CONDD_OK);
    unsetenv("CONDD_SERVER");
    ck_assert_int_eq(condd_conn_ping(conn, NULL), CONDD_OK);
    condd_conn_close(conn);
}
END_TEST

/* ------------------------------------------------------------------ blocking API */

static bool pred_flag(void *arg)
{
    int *calls = arg;
    return ++*calls >= 2; /* false at first, true after one wakeup */
}

START_TEST(test_blocking_every_operation)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &c), CONDD_OK);
    ck_assert(fabs(condd_conn_session_timeout(c) - CONDD_BLOCKING_SESSION_TIMEOUT) < 1e-9);
    ck_assert_str_eq(condd_conn_server_version(c), "condd " PACKAGE_VERSION);
    ck_assert(condd_conn_session_id(c) > 0);
    ck_assert_ptr_nonnull(condd_conn_async(c));
    ck_assert_ptr_nonnull(condd_conn_base(c));

    double rtt = -1;
    ck_assert_int_eq(condd_conn_ping(c, &rtt), CONDD_OK);
    ck_assert(rtt >= 0);
    uint64_t tok = 0, tok2 = 0, woken = 9;
    ck_assert_int_eq(condd_lock_acquire(c, "list/a", 0, CONDD_FOREVER, &tok), CONDD_OK);
    ck_assert(tok != 0);
    ck_assert_str_eq(condd_conn_message(c), "");
    bool locked = false;
    ck_assert_int_eq(condd_lock_locked(c, "list/a", &locked), CONDD_OK);
    ck_assert(locked);
    ck_assert_int_eq(condd_lock_acquire(c, "list/a", 0, 0, NULL), CONDD_ERR_ALREADY_OWNER);
    ck_assert(condd_conn_message(c)[0] != '\0');
    ck_assert_int_eq(condd_cond_notify(c, "list/cv", "list/a", 0, 3, &woken), CONDD_OK);
    ck_assert_uint_eq(woken, 0);
    ck_assert_int_eq(condd_cond_notify_all(c, "list/cv", "list/a", 0, &woken), CONDD_OK);
    ck_assert_int_eq(condd_cond_wait(c, "list/cv", "list/a", 0, 0.05, &tok2), CONDD_ERR_TIMEOUT);
    ck_assert(tok2 > tok);
    int calls = 0;
    ck_assert_int_eq(condd_cond_wait_for(c, "list/cv", "list/a", 0, 0.05, pred_flag, &calls, &tok2),
                     CONDD_OK); /* true after the timed-out wakeup */
    ck_assert_int_eq(calls, 2);
    uint64_t tok3 = 0;
    ck_assert_int_eq(condd_cond_notify_wait(c, "list/cv", "list/a", 0, 1, 0.05, &tok3),
                     CONDD_ERR_TIMEOUT); /* nobody to wake: as condd_cond_wait() */
    ck_assert(tok3 > tok2);
    condd_stats *st = NULL;
    ck_assert_int_eq(condd_conn_stats(c, &st), CONDD_OK);
    ck_assert_ptr_nonnull(st);
    ck_assert_uint_ge(st->locks_held, 1);
    ck_assert(st->n_ops > 0);
    ck_assert_ptr_null(condd_stats_op(st, st->n_ops));
    condd_stats_free(st);
    condd_list *l = NULL;
    ck_assert_int_eq(condd_conn_list(c, "list/", 10, &l), CONDD_OK);
    ck_assert_uint_eq(condd_list_lock_count(l), 1);
    ck_assert_str_eq(condd_list_lock(l, 0)->name, "list/a");
    ck_assert(!condd_list_truncated(l));
    ck_assert_ptr_null(condd_list_lock(l, 1));
    condd_list_free(l);
    ck_assert_int_eq(condd_lock_release(c, "list/a", 0), CONDD_OK);
    ck_assert_int_eq(condd_lock_release(c, "list/a", 0), CONDD_ERR_NOT_OWNER);
    ck_assert_int_eq(condd_lock_locked(c, "list/a", &locked), CONDD_OK);
    ck_assert(!locked);
    ck_assert_int_eq(condd_conn_idle(c, 0.05), CONDD_OK);
    uint64_t o = condd_conn_new_owner(c);
    ck_assert(o != 0);
    condd_conn_close(c);
}
END_TEST

START_TEST(test_blocking_wait_is_woken_by_another_client)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &c), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "bw/l", 0, CONDD_FOREVER, NULL), CONDD_OK);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        condd_conn *n = NULL;
        int rc = condd_conn_open(daemon_.addr, NULL, &n);
        uint64_t woken = 0;
        /* Notify until the waiter is there (it waits once the lock is granted to us). */
        while (rc == CONDD_OK && woken == 0) {
            rc = condd_lock_acquire(n, "bw/l", 0, CONDD_FOREVER, NULL);
            if (rc == CONDD_OK)
                rc = condd_cond_notify(n, "bw/cv", "bw/l", 0, 1, &woken);
            if (rc == CONDD_OK)
                rc = condd_lock_release(n, "bw/l", 0);
        }
        condd_conn_close(n);
        _exit(rc == CONDD_OK ? 0 : 1);
    }
    uint64_t tok = 0;
    ck_assert_int_eq(condd_cond_wait(c, "bw/cv", "bw/l", 0, 20, &tok), CONDD_OK);
    ck_assert(tok != 0);
    ck_assert_int_eq(condd_lock_release(c, "bw/l", 0), CONDD_OK);
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    condd_conn_close(c);
}
END_TEST

START_TEST(test_blocking_reports_a_lost_server)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &c), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "bl/l", 0, CONDD_FOREVER, NULL), CONDD_OK);
    tu_daemon_kill(&daemon_);
    daemon_up = false;
    int rc = condd_conn_idle(c, CONDD_FOREVER);
    ck_assert_int_eq(rc, CONDD_ERR_DISCONNECTED);
    ck_assert(condd_conn_message(c)[0] != '\0');
    ck_assert_int_eq(condd_lock_release(c, "bl/l", 0), CONDD_ERR_DISCONNECTED);
    ck_assert_int_eq(condd_conn_ping(c, NULL), CONDD_ERR_DISCONNECTED);
    condd_conn_close(c);
}
END_TEST

START_TEST(test_blocking_two_owners_share_a_connection)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &c), CONDD_OK);
    uint64_t a = condd_conn_new_owner(c), b = condd_conn_new_owner(c);
    ck_assert_int_eq(condd_lock_acquire(c, "bo/l", a, 0, NULL), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "bo/l", b, 0.05, NULL), CONDD_ERR_TIMEOUT);
    ck_assert_int_eq(condd_lock_release(c, "bo/l", a), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "bo/l", b, 0, NULL), CONDD_OK);
    ck_assert_int_eq(condd_lock_release(c, "bo/l", b), CONDD_OK);
    condd_conn_close(c);
}
END_TEST

START_TEST(test_blocking_notify_wait_hands_off_to_a_peer_and_back)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &c), CONDD_OK);
    struct nw_peer p = {.cond = "nw/cv", .lock = "nw/l", .hand_back = true};
    uint64_t t1 = 0, t2 = 0, woken = 0;
    nw_peer_start(c, &p, &t1);
    /* One call: wakes the peer, which gets the lock and hands it back with its own notify_wait. */
    ck_assert_int_eq(condd_cond_notify_wait(c, "nw/cv", "nw/l", 0, 1, 20, &t2), CONDD_OK);
    ck_assert(p.woken);
    ck_assert_int_eq(p.woken_rc, CONDD_OK);
    ck_assert(p.woken_token > t1);
    ck_assert(t2 > p.woken_token);
    /* The peer waits again (its notify_wait is pending): exactly one waiter to wake. */
    ck_assert_int_eq(condd_cond_notify(c, "nw/cv", "nw/l", 0, 1, &woken), CONDD_OK);
    ck_assert_uint_eq(woken, 1);
    ck_assert_int_eq(condd_lock_release(c, "nw/l", 0), CONDD_OK);
    ck_assert(nw_drive(c, &p.done));
    ck_assert_int_eq(p.back_rc, CONDD_OK);
    ck_assert_int_eq(p.released_rc, CONDD_OK);
    condd_async_conn_close(p.ac);
    condd_conn_close(c);
}
END_TEST

START_TEST(test_blocking_notify_wait_not_owner_wakes_nobody)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &c), CONDD_OK);
    struct nw_peer p = {.cond = "nn/cv", .lock = "nn/l"};
    uint64_t t1 = 0, woken = 0;
    nw_peer_start(c, &p, &t1);
    ck_assert_int_eq(condd_lock_release(c, "nn/l", 0), CONDD_OK);
    /* The lock is free and the peer waits: notify_wait by a non-holder must fail as a whole. */
    ck_assert_int_eq(condd_cond_notify_wait(c, "nn/cv", "nn/l", 0, 1, 1.0, NULL),
                     CONDD_ERR_NOT_OWNER);
    ck_assert(condd_conn_message(c)[0] != '\0');
    ck_assert_int_eq(condd_cond_notify_wait(c, NULL, "nn/l", 0, 1, 1.0, NULL), CONDD_ERR_INVALID);
    ck_assert_int_eq(condd_cond_notify_wait(c, "nn/cv", "nn/l", 0, 1, NAN, NULL),
                     CONDD_ERR_INVALID);
    ck_assert_int_eq(condd_cond_notify_wait(NULL, "nn/cv", "nn/l", 0, 1, 1.0, NULL),
                     CONDD_ERR_INVALID);
    /* Had the failed call woken the peer, the peer would have taken the free lock, run its
     * callback and released before this acquire's answer came back. */
    ck_assert_int_eq(condd_lock_acquire(c, "nn/l", 0, CONDD_FOREVER, NULL), CONDD_OK);
    ck_assert(!p.woken);
    ck_assert_int_eq(condd_cond_notify(c, "nn/cv", "nn/l", 0, 5, &woken), CONDD_OK);
    ck_assert_uint_eq(woken, 1); /* the peer was still waiting */
    ck_assert_int_eq(condd_lock_release(c, "nn/l", 0), CONDD_OK);
    ck_assert(nw_drive(c, &p.done));
    ck_assert_int_eq(p.woken_rc, CONDD_OK);
    ck_assert_int_eq(p.released_rc, CONDD_OK);
    condd_async_conn_close(p.ac);
    condd_conn_close(c);
}
END_TEST

START_TEST(test_blocking_notify_wait_timeout_returns_with_the_lock_held)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &c), CONDD_OK);
    struct nw_peer p = {.cond = "nt/cv", .lock = "nt/l"};
    uint64_t t1 = 0, t2 = 0;
    nw_peer_start(c, &p, &t1);
    /* The peer is woken and releases the lock without notifying: the wait times out. */
    ck_assert_int_eq(condd_cond_notify_wait(c, "nt/cv", "nt/l", 0, 1, 0.2, &t2), CONDD_ERR_TIMEOUT);
    ck_assert(p.woken);
    ck_assert_int_eq(p.woken_rc, CONDD_OK);
    ck_assert(t2 > p.woken_token && p.woken_token > t1);
    /* The lock is held again, by the caller. */
    ck_assert_int_eq(condd_lock_acquire(c, "nt/l", 0, 0, NULL), CONDD_ERR_ALREADY_OWNER);
    bool locked = false;
    ck_assert_int_eq(condd_lock_locked(c, "nt/l", &locked), CONDD_OK);
    ck_assert(locked);
    ck_assert_int_eq(condd_lock_release(c, "nt/l", 0), CONDD_OK);
    ck_assert(nw_drive(c, &p.done));
    ck_assert_int_eq(p.released_rc, CONDD_OK);
    condd_async_conn_close(p.ac);
    condd_conn_close(c);
}
END_TEST

/* ------------------------------------------------------------------ suite */

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");

    TCase *unit = tcase_create("unit");
    tcase_add_test(unit, test_addr_default_comes_from_env_then_constant);
    tcase_add_test(unit, test_ptable_keeps_every_entry_through_inserts_and_removals);
    tcase_add_test(unit, test_every_result_has_a_name_and_text);
    tcase_add_test(unit, test_bad_address_is_an_error_not_a_crash);
    tcase_add_test(unit, test_refused_connection_reaches_the_connect_callback);
    tcase_add_test(unit, test_connect_error_carries_the_os_reason);
    tcase_add_test(unit, test_connect_timeout_names_the_step_that_hung);
    tcase_add_test(unit, test_options_validate_their_values);
    suite_add_tcase(s, unit);

    TCase *async = tcase_create("async");
    tcase_add_checked_fixture(async, setup_daemon, teardown_daemon);
    tcase_set_timeout(async, 60);
    tcase_add_test(async, test_async_every_operation);
    tcase_add_test(async, test_requests_issued_before_connect_completes_are_sent_after_hello);
    tcase_add_test(async, test_release_then_acquire_pipelined_in_one_turn);
    tcase_add_test(async, test_notify_wakes_waiters_in_fifo_order_across_clients);
    tcase_add_test(async, test_wait_for_predicate_false_then_true);
    tcase_add_test(async, test_wait_for_true_at_once_answers_from_the_loop);
    tcase_add_test(async, test_wait_for_deadline_spans_every_wakeup);
    tcase_add_test(async, test_wait_for_cancel_returns_with_lock_held);
    tcase_add_test(async, test_acquire_timeout_and_cancel);
    tcase_add_test(async, test_two_owners_contend_through_one_connection);
    tcase_add_test(async, test_server_killed_under_pending_wait);
    tcase_add_test(async, test_client_freed_inside_its_callback);
    tcase_add_test(async, test_client_closed_inside_connect_and_disconnect_callbacks);
    tcase_add_test(async, test_close_runs_every_pending_callback_once);
    tcase_add_test(async, test_thousands_of_pending_requests_on_one_connection);
    tcase_add_test(async, test_keepalive_holds_a_short_session);
    tcase_add_test(async, test_blocked_loop_loses_the_session_and_is_told);
    suite_add_tcase(s, async);

    TCase *unixs = tcase_create("unix");
    tcase_add_checked_fixture(unixs, setup_base, teardown_daemon);
    tcase_add_test(unixs, test_unix_socket_address);
    suite_add_tcase(s, unixs);

    TCase *blocking = tcase_create("blocking");
    tcase_add_checked_fixture(blocking, setup_daemon, teardown_daemon);
    tcase_set_timeout(blocking, 60);
    tcase_add_test(blocking, test_blocking_every_operation);
    tcase_add_test(blocking, test_blocking_wait_is_woken_by_another_client);
    tcase_add_test(blocking, test_blocking_reports_a_lost_server);
    tcase_add_test(blocking, test_blocking_two_owners_share_a_connection);
    tcase_add_test(blocking, test_blocking_notify_wait_hands_off_to_a_peer_and_back);
    tcase_add_test(blocking, test_blocking_notify_wait_not_owner_wakes_nobody);
    tcase_add_test(blocking, test_blocking_notify_wait_timeout_returns_with_the_lock_held);
    suite_add_tcase(s, blocking);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
