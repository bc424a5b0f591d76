/* SPDX-License-Identifier: BSD-2-Clause
 *
 * libcondd's barriers against a real condd on an ephemeral loopback port: both APIs for wait
 * (indices 0..parties-1 in arrival order, a one-party barrier, timeouts including 0), reset and
 * abort (waiters answered CONDD_ERR_BROKEN, an aborted barrier broken until reset), state,
 * VALUE_MISMATCH, cancel of a pending asynchronous wait, a waiter's session ending (it leaves
 * without breaking the barrier), List and Stats. Linked like check_client (the shared fixtures of
 * client_util.c); asynchronous tests drive the test's base with run_until().
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <condd/condd.h>
#include <condd/condd_async.h>

#include "client_util.h"
#include "testutil.h"

static condd_conn *open_blocking(void)
{
    condd_conn *conn = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &conn), CONDD_OK);
    return conn;
}

static void on_index(condd_async_conn *c, int rc, uint32_t index, void *arg)
{
    struct rec *r = arg;
    r->u64 = index;
    rec_set(c, r, rc);
}

struct state_rec {
    struct rec r;
    struct condd_barrier_state st;
};

static void on_state(condd_async_conn *c, int rc, const struct condd_barrier_state *st, void *arg)
{
    struct state_rec *s = arg;
    if (st != NULL)
        s->st = *st;
    rec_set(c, &s->r, rc);
}

static struct condd_barrier_state async_state(condd_async_conn *c, const char *name)
{
    struct state_rec s = {0};
    ck_assert_int_eq(condd_async_barrier_state(c, name, on_state, &s), CONDD_OK);
    ck_assert(run_until(&s.r.done, 10));
    ck_assert_int_eq(s.r.rc, CONDD_OK);
    return s.st;
}

/* A round trip on c, so that everything sent on it before has been handled by the server. */
static void sync_conn(condd_async_conn *c)
{
    struct rec p = {0};
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, &p), CONDD_OK);
    ck_assert(run_until(&p.done, 10));
}

/* ------------------------------------------------------------------ asynchronous */

START_TEST(test_async_fill_hands_out_indices_in_arrival_order)
{
    condd_async_conn *a = connect_daemon(), *b = connect_daemon(), *c = connect_daemon();
    struct rec w1 = {0}, w2 = {0}, w3 = {0};
    ck_assert_int_eq(condd_async_barrier_wait(a, "bar", 3, CONDD_FOREVER, on_index, &w1, NULL),
                     CONDD_OK);
    sync_conn(a);
    ck_assert_int_eq(condd_async_barrier_wait(b, "bar", 3, 30, on_index, &w2, NULL), CONDD_OK);
    sync_conn(b);
    struct condd_barrier_state st = async_state(c, "bar");
    ck_assert(st.exists);
    ck_assert_uint_eq(st.parties, 3);
    ck_assert_uint_eq(st.n_waiting, 2);
    ck_assert(!st.broken);
    ck_assert(!w1.done && !w2.done);
    ck_assert_int_eq(condd_async_barrier_wait(c, "bar", 3, 0, on_index, &w3, NULL), CONDD_OK);
    ck_assert(run_until(&w1.done, 10) && run_until(&w2.done, 10) && run_until(&w3.done, 10));
    ck_assert_int_eq(w1.rc, CONDD_OK);
    ck_assert_int_eq(w2.rc, CONDD_OK);
    ck_assert_int_eq(w3.rc, CONDD_OK);
    ck_assert_uint_eq(w1.u64, 0);
    ck_assert_uint_eq(w2.u64, 1);
    ck_assert_uint_eq(w3.u64, 2);
    ck_assert(!async_state(a, "bar").exists);
    condd_async_conn_close(a);
    condd_async_conn_close(b);
    condd_async_conn_close(c);
}
END_TEST

START_TEST(test_async_abort_reset_and_mismatch)
{
    condd_async_conn *a = connect_daemon(), *b = connect_daemon();
    struct rec w = {0}, mism = {0}, ab = {0}, late = {0}, rs = {0}, bad = {0};
    ck_assert_int_eq(condd_async_barrier_wait(a, "ab", 2, CONDD_FOREVER, on_index, &w, NULL),
                     CONDD_OK);
    sync_conn(a);
    ck_assert_int_eq(condd_async_barrier_wait(b, "ab", 3, CONDD_FOREVER, on_index, &mism, NULL),
                     CONDD_OK);
    ck_assert(run_until(&mism.done, 10));
    ck_assert_int_eq(mism.rc, CONDD_ERR_VALUE_MISMATCH);
    /* The server's message: the parties the barrier has and those asked; not the name. */
    ck_assert_str_eq(mism.msg, "barrier exists with 2 parties (asked 3)");
    ck_assert_int_eq(condd_async_barrier_abort(b, "ab", 0, on_notify, &ab), CONDD_OK);
    ck_assert(run_until(&ab.done, 10) && run_until(&w.done, 10));
    ck_assert_int_eq(ab.rc, CONDD_OK);
    ck_assert_uint_eq(ab.u64, 1);
    ck_assert_int_eq(w.rc, CONDD_ERR_BROKEN);
    ck_assert_str_eq(condd_result_name(w.rc), "CONDD_ERR_BROKEN");
    ck_assert(async_state(b, "ab").broken);
    ck_assert_int_eq(condd_async_barrier_wait(b, "ab", 2, CONDD_FOREVER, on_index, &late, NULL),
                     CONDD_OK);
    ck_assert(run_until(&late.done, 10));
    ck_assert_int_eq(late.rc, CONDD_ERR_BROKEN);
    ck_assert_int_eq(condd_async_barrier_reset(a, "ab", 2, on_notify, &rs), CONDD_OK);
    ck_assert(run_until(&rs.done, 10));
    ck_assert_int_eq(rs.rc, CONDD_OK);
    ck_assert_uint_eq(rs.u64, 0);
    ck_assert(!async_state(b, "ab").exists);
    ck_assert_int_eq(condd_async_barrier_wait(a, "", 2, CONDD_FOREVER, on_index, &bad, NULL),
                     CONDD_OK);
    ck_assert(run_until(&bad.done, 10));
    ck_assert_int_eq(bad.rc, CONDD_ERR_BAD_REQUEST);
    ck_assert_int_eq(condd_async_barrier_wait(a, "ab", 2, NAN, on_index, &bad, NULL),
                     CONDD_ERR_INVALID);
    ck_assert_int_eq(condd_async_barrier_wait(a, "ab", 2, 1, NULL, NULL, NULL), CONDD_ERR_INVALID);
    condd_async_conn_close(a);
    condd_async_conn_close(b);
}
END_TEST

START_TEST(test_async_cancel_of_a_pending_barrier_wait)
{
    condd_async_conn *a = connect_daemon();
    struct rec w = {0}, cancel = {0}, again = {0};
    uint64_t id = 0;
    ck_assert_int_eq(condd_async_barrier_wait(a, "cb", 2, CONDD_FOREVER, on_index, &w, &id),
                     CONDD_OK);
    ck_assert_uint_ne(id, 0);
    ck_assert_int_eq(condd_async_conn_cancel(a, id, on_result, &cancel), CONDD_OK);
    ck_assert(run_until(&cancel.done, 10) && run_until(&w.done, 10));
    ck_assert_int_eq(cancel.rc, CONDD_OK);
    ck_assert_int_eq(w.rc, CONDD_ERR_CANCELLED);
    ck_assert_int_eq(w.calls, 1);
    ck_assert_int_eq(condd_async_conn_cancel(a, id, on_result, &again), CONDD_OK);
    ck_assert(run_until(&again.done, 10));
    ck_assert_int_eq(again.rc, CONDD_ERR_NOT_FOUND);
    /* the cancelled waiter left without breaking the barrier: it no longer exists */
    struct condd_barrier_state st = async_state(a, "cb");
    ck_assert(!st.exists);
    ck_assert(!st.broken);
    ck_assert_int_eq(w.calls, 1);
    condd_async_conn_close(a);
}
END_TEST

START_TEST(test_async_session_end_leaves_without_breaking)
{
    condd_async_conn *a = connect_daemon(), *b = connect_daemon(), *c = connect_daemon();
    struct rec dead = {0}, w1 = {0}, w2 = {0};
    ck_assert_int_eq(condd_async_barrier_wait(a, "se", 3, CONDD_FOREVER, on_index, &dead, NULL),
                     CONDD_OK);
    ck_assert_int_eq(condd_async_barrier_wait(b, "se", 3, CONDD_FOREVER, on_index, &w1, NULL),
                     CONDD_OK);
    sync_conn(a);
    sync_conn(b);
    ck_assert_uint_eq(async_state(c, "se").n_waiting, 2);
    condd_async_conn_close(a);
    ck_assert(dead.done);
    ck_assert_int_eq(dead.rc, CONDD_ERR_CLOSED);
    /* the server drops a's waiter: wait until it has */
    for (int k = 0; k < 1000 && async_state(c, "se").n_waiting != 1; k++)
        run_for(0.01);
    struct condd_barrier_state st = async_state(c, "se");
    ck_assert_uint_eq(st.n_waiting, 1);
    ck_assert(!st.broken);
    ck_assert_int_eq(condd_async_barrier_wait(c, "se", 3, 0.2, on_index, &w2, NULL), CONDD_OK);
    ck_assert(run_until(&w2.done, 10));
    ck_assert_int_eq(w2.rc, CONDD_ERR_TIMEOUT); /* two of three: not filled */
    ck_assert(!w1.done);
    condd_async_conn_close(b);
    condd_async_conn_close(c);
}
END_TEST

/* ------------------------------------------------------------------ blocking */

START_TEST(test_blocking_barrier_calls)
{
    condd_conn *conn = open_blocking();
    uint32_t index = 9;
    ck_assert_int_eq(condd_barrier_wait(conn, "one", 1, CONDD_FOREVER, &index), CONDD_OK);
    ck_assert_uint_eq(index, 0);
    ck_assert_int_eq(condd_barrier_wait(conn, "two", 2, 0, &index), CONDD_ERR_TIMEOUT);
    ck_assert_int_eq(condd_barrier_wait(conn, "two", 2, 0.05, &index), CONDD_ERR_TIMEOUT);
    ck_assert_uint_eq(index, 0);
    struct condd_barrier_state st;
    ck_assert_int_eq(condd_barrier_state(conn, "two", &st), CONDD_OK);
    ck_assert(!st.exists);
    ck_assert_int_eq(condd_barrier_state(conn, "two", NULL), CONDD_ERR_INVALID);
    uint64_t broken = 9;
    ck_assert_int_eq(condd_barrier_abort(conn, "two", 0, &broken), CONDD_ERR_BAD_REQUEST);
    ck_assert_int_eq(condd_barrier_abort(conn, "two", 2, &broken), CONDD_OK);
    ck_assert_uint_eq(broken, 0);
    ck_assert_int_eq(condd_barrier_wait(conn, "two", 2, CONDD_FOREVER, NULL), CONDD_ERR_BROKEN);
    ck_assert_int_eq(condd_barrier_wait(conn, "two", 5, CONDD_FOREVER, NULL),
                     CONDD_ERR_VALUE_MISMATCH);
    ck_assert_int_eq(condd_barrier_state(conn, "two", &st), CONDD_OK);
    ck_assert(st.exists && st.broken);
    ck_assert_uint_eq(st.parties, 2);

    condd_list *l = NULL;
    ck_assert_int_eq(condd_conn_list(conn, "tw", 0, &l), CONDD_OK);
    ck_assert_uint_eq(condd_list_barrier_count(l), 1);
    const struct condd_barrier_info *bi = condd_list_barrier(l, 0);
    ck_assert_str_eq(bi->name, "two");
    ck_assert_uint_eq(bi->parties, 2);
    ck_assert_uint_eq(bi->n_waiting, 0);
    ck_assert(bi->broken);
    ck_assert_ptr_null(condd_list_barrier(l, 1));
    condd_list_free(l);
    condd_stats *s = NULL;
    ck_assert_int_eq(condd_conn_stats(conn, &s), CONDD_OK);
    ck_assert_uint_eq(s->barriers, 1);
    ck_assert_uint_eq(s->barriers_broken, 1);
    ck_assert_uint_eq(s->barrier_waiters, 0);
    bool counted = false;
    for (size_t i = 0; i < s->n_ops; i++) {
        const struct condd_op_count *op = condd_stats_op(s, i);
        if (strcmp(op->op, "barrier_wait") == 0 && strcmp(op->status, "broken") == 0)
            counted = op->count == 1;
    }
    ck_assert(counted);
    condd_stats_free(s);

    ck_assert_int_eq(condd_barrier_reset(conn, "two", 0, &broken), CONDD_OK);
    ck_assert_uint_eq(broken, 0);
    ck_assert_int_eq(condd_conn_stats(conn, &s), CONDD_OK);
    ck_assert_uint_eq(s->barriers, 0);
    condd_stats_free(s);
    condd_conn_close(conn);
}
END_TEST

START_TEST(test_blocking_wait_filled_by_a_peer_and_reset)
{
    /* An asynchronous wait on a blocking connection's loop, filled or reset from a peer. */
    condd_conn *conn = open_blocking();
    condd_conn *peer = open_blocking();
    struct rec w = {0};
    ck_assert_int_eq(
        condd_async_barrier_wait(condd_conn_async(conn), "x", 2, 10, on_index, &w, NULL), CONDD_OK);
    ck_assert_int_eq(condd_conn_ping(conn, NULL), CONDD_OK);
    ck_assert(!w.done);
    uint32_t index = 9;
    ck_assert_int_eq(condd_barrier_wait(peer, "x", 2, CONDD_FOREVER, &index), CONDD_OK);
    ck_assert_uint_eq(index, 1);
    ck_assert(nw_drive(conn, &w.done));
    ck_assert_int_eq(w.rc, CONDD_OK);
    ck_assert_uint_eq(w.u64, 0);

    struct rec w2 = {0};
    ck_assert_int_eq(
        condd_async_barrier_wait(condd_conn_async(conn), "x", 2, 10, on_index, &w2, NULL),
        CONDD_OK);
    ck_assert_int_eq(condd_conn_ping(conn, NULL), CONDD_OK);
    uint64_t broken = 0;
    ck_assert_int_eq(condd_barrier_reset(peer, "x", 2, &broken), CONDD_OK);
    ck_assert_uint_eq(broken, 1);
    ck_assert(nw_drive(conn, &w2.done));
    ck_assert_int_eq(w2.rc, CONDD_ERR_BROKEN);
    condd_conn_close(peer);
    condd_conn_close(conn);
}
END_TEST

static Suite *client_barrier_suite(void)
{
    Suite *s = suite_create("libcondd barriers");
    TCase *async = tcase_create("async");
    tcase_add_checked_fixture(async, setup_daemon, teardown_daemon);
    tcase_set_timeout(async, 60);
    tcase_add_test(async, test_async_fill_hands_out_indices_in_arrival_order);
    tcase_add_test(async, test_async_abort_reset_and_mismatch);
    tcase_add_test(async, test_async_cancel_of_a_pending_barrier_wait);
    tcase_add_test(async, test_async_session_end_leaves_without_breaking);
    suite_add_tcase(s, async);
    TCase *blocking = tcase_create("blocking");
    tcase_add_checked_fixture(blocking, setup_daemon, teardown_daemon);
    tcase_add_test(blocking, test_blocking_barrier_calls);
    tcase_add_test(blocking, test_blocking_wait_filled_by_a_peer_and_reset);
    suite_add_tcase(s, blocking);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_barrier_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
