/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Operator controls through libcondd against a live condd: condd_lock_break() and
 * condd_sem_break() end the holders' sessions (the holder's next call fails with
 * CONDD_ERR_SESSION_KILLED, a connection error; the lock is free or handed to the waiter), the
 * caller's own session is never ended by a break, every shared holder is ended and cannot kill
 * itself, kill-session of an unknown id is CONDD_ERR_NOT_FOUND, and the asynchronous twins give the
 * same answers. Permissions are covered in condctl-admin.sh.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "client_util.h"

static condd_conn *open_conn(void)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &c), CONDD_OK);
    return c;
}

START_TEST(test_break_ends_the_holder_and_hands_the_lock_on)
{
    condd_conn *holder = open_conn(), *op = open_conn();
    ck_assert_int_eq(condd_lock_acquire(holder, "b", 0, CONDD_FOREVER, NULL), CONDD_OK);
    condd_async_conn *waiter = connect_daemon();
    struct rec w = {0};
    ck_assert_int_eq(condd_async_lock_acquire(waiter, "b", 0, CONDD_FOREVER, on_token, &w, NULL),
                     CONDD_OK);
    /* The ping's answer proves the acquire was handled (one connection is in order): queued. */
    struct rec pg = {0};
    ck_assert_int_eq(condd_async_conn_ping(waiter, on_result, &pg), CONDD_OK);
    ck_assert(run_until(&pg.done, 10));
    ck_assert(!w.done);
    uint64_t ended = 99;
    ck_assert_int_eq(condd_lock_break(op, "b", &ended), CONDD_OK);
    ck_assert_uint_eq(ended, 1);
    ck_assert(run_until(&w.done, 10));
    ck_assert_int_eq(w.rc, CONDD_OK);
    int rc = condd_conn_ping(holder, NULL);
    ck_assert_int_eq(rc, CONDD_ERR_SESSION_KILLED);
    ck_assert(condd_result_is_connection_error(rc));
    ck_assert_ptr_nonnull(strstr(condd_conn_message(holder), "operator"));
    /* A free lock: nothing to end. */
    ck_assert_int_eq(condd_lock_break(op, "free", &ended), CONDD_OK);
    ck_assert_uint_eq(ended, 0);
    ck_assert_int_eq(condd_lock_break(op, "", &ended), CONDD_ERR_BAD_REQUEST);
    condd_async_conn_close(waiter);
    condd_conn_close(holder);
    condd_conn_close(op);
}
END_TEST

START_TEST(test_break_never_ends_the_caller)
{
    condd_conn *op = open_conn();
    ck_assert_int_eq(condd_lock_acquire(op, "mine", 0, CONDD_FOREVER, NULL), CONDD_OK);
    uint64_t ended = 99;
    ck_assert_int_eq(condd_lock_break(op, "mine", &ended), CONDD_OK);
    ck_assert_uint_eq(ended, 0);
    bool locked = false;
    ck_assert_int_eq(condd_lock_locked(op, "mine", &locked), CONDD_OK);
    ck_assert(locked);
    ck_assert_int_eq(condd_conn_kill_session(op, condd_conn_session_id(op)), CONDD_ERR_BAD_REQUEST);
    ck_assert_int_eq(condd_conn_ping(op, NULL), CONDD_OK);
    condd_conn_close(op);
}
END_TEST

START_TEST(test_sem_break_and_kill_session)
{
    condd_conn *a = open_conn(), *b = open_conn(), *op = open_conn();
    ck_assert_int_eq(condd_sem_acquire(a, "s", 3, false, 0, CONDD_FOREVER, NULL), CONDD_OK);
    ck_assert_int_eq(condd_sem_acquire(a, "s", 3, false, 1, CONDD_FOREVER, NULL), CONDD_OK);
    ck_assert_int_eq(condd_sem_acquire(b, "s", 3, false, 0, CONDD_FOREVER, NULL), CONDD_OK);
    uint64_t ended = 0;
    ck_assert_int_eq(condd_sem_break(op, "s", &ended), CONDD_OK);
    ck_assert_uint_eq(ended, 2); /* a holds two permits under two owners: one session */
    ck_assert_int_eq(condd_conn_ping(a, NULL), CONDD_ERR_SESSION_KILLED);
    ck_assert_int_eq(condd_conn_ping(b, NULL), CONDD_ERR_SESSION_KILLED);
    condd_conn *c = open_conn();
    ck_assert_int_eq(condd_conn_kill_session(op, condd_conn_session_id(c)), CONDD_OK);
    ck_assert_int_eq(condd_conn_ping(c, NULL), CONDD_ERR_SESSION_KILLED);
    ck_assert_int_eq(condd_conn_kill_session(op, condd_conn_session_id(c)), CONDD_ERR_NOT_FOUND);
    ck_assert_int_eq(condd_conn_kill_session(op, 0), CONDD_ERR_INVALID);
    condd_conn_close(a);
    condd_conn_close(b);
    condd_conn_close(c);
    condd_conn_close(op);
}
END_TEST

START_TEST(test_break_ends_every_shared_holder)
{
    condd_conn *r1 = open_conn(), *r2 = open_conn(), *op = open_conn();
    ck_assert_int_eq(condd_lock_acquire_shared(r1, "rw", 0, CONDD_FOREVER, NULL), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire_shared(r1, "rw", 1, CONDD_FOREVER, NULL), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire_shared(r2, "rw", 0, CONDD_FOREVER, NULL), CONDD_OK);
    uint64_t ended = 0;
    ck_assert_int_eq(condd_lock_break(op, "rw", &ended), CONDD_OK);
    ck_assert_uint_eq(ended, 2); /* r1 holds it twice: one session */
    ck_assert_int_eq(condd_conn_ping(r1, NULL), CONDD_ERR_SESSION_KILLED);
    ck_assert_int_eq(condd_conn_ping(r2, NULL), CONDD_ERR_SESSION_KILLED);
    ck_assert_int_eq(condd_lock_acquire(op, "rw", 0, 0, NULL), CONDD_OK);
    condd_conn_close(r1);
    condd_conn_close(r2);
    condd_conn_close(op);
}
END_TEST

START_TEST(test_async_twins)
{
    condd_conn *holder = open_conn();
    ck_assert_int_eq(condd_lock_acquire(holder, "ab", 0, CONDD_FOREVER, NULL), CONDD_OK);
    condd_async_conn *op = connect_daemon();
    struct rec r = {0};
    ck_assert_int_eq(condd_async_lock_break(op, "ab", on_notify, &r), CONDD_OK);
    ck_assert(run_until(&r.done, 10));
    ck_assert_int_eq(r.rc, CONDD_OK);
    ck_assert_uint_eq(r.u64, 1);
    struct rec k = {0};
    ck_assert_int_eq(
        condd_async_conn_kill_session(op, condd_conn_session_id(holder), on_result, &k), CONDD_OK);
    ck_assert(run_until(&k.done, 10));
    ck_assert_int_eq(k.rc, CONDD_ERR_NOT_FOUND);
    ck_assert_int_eq(condd_async_sem_break(op, "ab", NULL, NULL), CONDD_ERR_INVALID);
    condd_async_conn_close(op);
    condd_conn_close(holder);
}
END_TEST

static Suite *admin_suite(void)
{
    Suite *s = suite_create("client_admin");
    TCase *tc = tcase_create("admin");
    tcase_add_checked_fixture(tc, setup_daemon, teardown_daemon);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_break_ends_the_holder_and_hands_the_lock_on);
    tcase_add_test(tc, test_break_never_ends_the_caller);
    tcase_add_test(tc, test_sem_break_and_kill_session);
    tcase_add_test(tc, test_break_ends_every_shared_holder);
    tcase_add_test(tc, test_async_twins);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(admin_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
