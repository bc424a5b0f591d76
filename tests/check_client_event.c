/* SPDX-License-Identifier: BSD-2-Clause
 *
 * libcondd's events against a real condd on an ephemeral loopback port: both APIs for set,
 * clear, is_set and wait (at once when set, woken by a set with the count, timeouts including
 * 0), cancel of a pending asynchronous wait, List and Stats. Linked like check_client (the
 * shared fixtures of client_util.c); asynchronous tests drive the test's base with run_until().
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

/* ------------------------------------------------------------------ asynchronous */

START_TEST(test_async_set_wakes_every_waiter_and_counts_them)
{
    condd_async_conn *a = connect_daemon(), *b = connect_daemon();
    struct rec w1 = {0}, w2 = {0}, set = {0}, is = {0}, now = {0};
    ck_assert_int_eq(condd_async_event_wait(a, "ev", CONDD_FOREVER, on_result, &w1, NULL),
                     CONDD_OK);
    ck_assert_int_eq(condd_async_event_wait(b, "ev", 30, on_result, &w2, NULL), CONDD_OK);
    /* a round trip on each connection first, so both waits are registered */
    struct rec p1 = {0}, p2 = {0};
    ck_assert_int_eq(condd_async_conn_ping(a, on_result, &p1), CONDD_OK);
    ck_assert_int_eq(condd_async_conn_ping(b, on_result, &p2), CONDD_OK);
    ck_assert(run_until(&p1.done, 10) && run_until(&p2.done, 10));
    ck_assert(!w1.done && !w2.done);
    ck_assert_int_eq(condd_async_event_set(b, "ev", on_notify, &set), CONDD_OK);
    ck_assert(run_until(&set.done, 10));
    ck_assert_int_eq(set.rc, CONDD_OK);
    ck_assert_uint_eq(set.u64, 2);
    ck_assert(run_until(&w1.done, 10) && run_until(&w2.done, 10));
    ck_assert_int_eq(w1.rc, CONDD_OK);
    ck_assert_int_eq(w2.rc, CONDD_OK);
    ck_assert_int_eq(condd_async_event_is_set(a, "ev", on_locked, &is), CONDD_OK);
    ck_assert(run_until(&is.done, 10));
    ck_assert(is.flag);
    ck_assert_int_eq(condd_async_event_wait(a, "ev", 0, on_result, &now, NULL), CONDD_OK);
    ck_assert(run_until(&now.done, 10));
    ck_assert_int_eq(now.rc, CONDD_OK);
    condd_async_conn_close(a);
    condd_async_conn_close(b);
}
END_TEST

START_TEST(test_async_clear_and_timeouts)
{
    condd_async_conn *a = connect_daemon();
    struct rec set = {0}, clr = {0}, is = {0}, zero = {0}, timed = {0};
    ck_assert_int_eq(condd_async_event_set(a, "ev", on_notify, &set), CONDD_OK);
    ck_assert_int_eq(condd_async_event_clear(a, "ev", on_result, &clr), CONDD_OK);
    ck_assert_int_eq(condd_async_event_is_set(a, "ev", on_locked, &is), CONDD_OK);
    ck_assert_int_eq(condd_async_event_wait(a, "ev", 0, on_result, &zero, NULL), CONDD_OK);
    ck_assert_int_eq(condd_async_event_wait(a, "ev", 0.05, on_result, &timed, NULL), CONDD_OK);
    ck_assert(run_until(&timed.done, 10));
    ck_assert_int_eq(set.rc, CONDD_OK);
    ck_assert_int_eq(clr.rc, CONDD_OK);
    ck_assert(!is.flag);
    ck_assert_int_eq(zero.rc, CONDD_ERR_TIMEOUT);
    ck_assert_int_eq(timed.rc, CONDD_ERR_TIMEOUT);
    ck_assert_int_lt(zero.order, timed.order);
    struct rec bad = {0};
    ck_assert_int_eq(condd_async_event_set(a, "", on_notify, &bad), CONDD_OK);
    ck_assert(run_until(&bad.done, 10));
    ck_assert_int_eq(bad.rc, CONDD_ERR_BAD_REQUEST);
    ck_assert_int_eq(condd_async_event_wait(a, "ev", NAN, on_result, &bad, NULL),
                     CONDD_ERR_INVALID);
    condd_async_conn_close(a);
}
END_TEST

START_TEST(test_async_cancel_of_a_pending_event_wait)
{
    condd_async_conn *a = connect_daemon();
    struct rec w = {0}, cancel = {0}, again = {0}, set = {0};
    uint64_t id = 0;
    ck_assert_int_eq(condd_async_event_wait(a, "ev", CONDD_FOREVER, on_result, &w, &id), CONDD_OK);
    ck_assert_uint_ne(id, 0);
    ck_assert_int_eq(condd_async_conn_cancel(a, id, on_result, &cancel), CONDD_OK);
    ck_assert(run_until(&cancel.done, 10) && run_until(&w.done, 10));
    ck_assert_int_eq(cancel.rc, CONDD_OK);
    ck_assert_int_eq(w.rc, CONDD_ERR_CANCELLED);
    ck_assert_int_eq(w.calls, 1);
    ck_assert_int_eq(condd_async_conn_cancel(a, id, on_result, &again), CONDD_OK);
    ck_assert(run_until(&again.done, 10));
    ck_assert_int_eq(again.rc, CONDD_ERR_NOT_FOUND);
    ck_assert_int_eq(condd_async_event_set(a, "ev", on_notify, &set), CONDD_OK);
    ck_assert(run_until(&set.done, 10));
    ck_assert_uint_eq(set.u64, 0);
    ck_assert_int_eq(w.calls, 1);
    condd_async_conn_close(a);
}
END_TEST

/* ------------------------------------------------------------------ blocking */

START_TEST(test_blocking_event_calls)
{
    condd_conn *conn = open_blocking();
    bool set = true;
    uint64_t woken = 9;
    ck_assert_int_eq(condd_event_is_set(conn, "b", &set), CONDD_OK);
    ck_assert(!set);
    ck_assert_int_eq(condd_event_is_set(conn, "b", NULL), CONDD_ERR_INVALID);
    ck_assert_int_eq(condd_event_wait(conn, "b", 0), CONDD_ERR_TIMEOUT);
    ck_assert_int_eq(condd_event_wait(conn, "b", 0.05), CONDD_ERR_TIMEOUT);
    ck_assert_int_eq(condd_event_set(conn, "b", &woken), CONDD_OK);
    ck_assert_uint_eq(woken, 0);
    ck_assert_int_eq(condd_event_is_set(conn, "b", &set), CONDD_OK);
    ck_assert(set);
    ck_assert_int_eq(condd_event_wait(conn, "b", CONDD_FOREVER), CONDD_OK);

    condd_list *l = NULL;
    ck_assert_int_eq(condd_conn_list(conn, "b", 0, &l), CONDD_OK);
    ck_assert_uint_eq(condd_list_event_count(l), 1);
    const struct condd_event_info *ei = condd_list_event(l, 0);
    ck_assert_str_eq(ei->name, "b");
    ck_assert(ei->set);
    ck_assert_uint_eq(ei->waiters, 0);
    ck_assert_ptr_null(condd_list_event(l, 1));
    condd_list_free(l);
    condd_stats *st = NULL;
    ck_assert_int_eq(condd_conn_stats(conn, &st), CONDD_OK);
    ck_assert_uint_eq(st->events, 1);
    ck_assert_uint_eq(st->events_set, 1);
    ck_assert_uint_eq(st->event_waiters, 0);
    bool counted = false;
    for (size_t i = 0; i < st->n_ops; i++) {
        const struct condd_op_count *op = condd_stats_op(st, i);
        if (strcmp(op->op, "event_set") == 0 && strcmp(op->status, "ok") == 0)
            counted = op->count == 1;
    }
    ck_assert(counted);
    condd_stats_free(st);

    ck_assert_int_eq(condd_event_clear(conn, "b"), CONDD_OK);
    ck_assert_int_eq(condd_conn_stats(conn, &st), CONDD_OK);
    ck_assert_uint_eq(st->events, 0);
    condd_stats_free(st);
    condd_conn_close(conn);
}
END_TEST

START_TEST(test_blocking_wait_woken_by_an_async_set)
{
    /* An asynchronous wait on a blocking connection's loop, set from a second connection. */
    condd_conn *conn = open_blocking();
    condd_conn *peer = open_blocking();
    struct rec w = {0};
    ck_assert_int_eq(condd_async_event_wait(condd_conn_async(conn), "x", 10, on_result, &w, NULL),
                     CONDD_OK);
    /* the wait was sent before the ping, so the server has registered it */
    ck_assert_int_eq(condd_conn_ping(conn, NULL), CONDD_OK);
    ck_assert(!w.done);
    uint64_t woken = 0;
    ck_assert_int_eq(condd_event_set(peer, "x", &woken), CONDD_OK);
    ck_assert_uint_eq(woken, 1);
    ck_assert(nw_drive(conn, &w.done));
    ck_assert_int_eq(w.rc, CONDD_OK);
    ck_assert_int_eq(condd_event_wait(conn, "x", CONDD_FOREVER), CONDD_OK);
    condd_conn_close(peer);
    condd_conn_close(conn);
}
END_TEST

static Suite *client_event_suite(void)
{
    Suite *s = suite_create("libcondd events");
    TCase *async = tcase_create("async");
    tcase_add_checked_fixture(async, setup_daemon, teardown_daemon);
    tcase_add_test(async, test_async_set_wakes_every_waiter_and_counts_them);
    tcase_add_test(async, test_async_clear_and_timeouts);
    tcase_add_test(async, test_async_cancel_of_a_pending_event_wait);
    suite_add_tcase(s, async);
    TCase *blocking = tcase_create("blocking");
    tcase_add_checked_fixture(blocking, setup_daemon, teardown_daemon);
    tcase_add_test(blocking, test_blocking_event_calls);
    tcase_add_test(blocking, test_blocking_wait_woken_by_an_async_set);
    suite_add_tcase(s, blocking);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_event_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
