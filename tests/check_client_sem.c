/* SPDX-License-Identifier: BSD-2-Clause
 *
 * libcondd's semaphores against a real condd: the asynchronous calls (FIFO grants with tokens,
 * cancel of a pending acquire, value mismatch, the bounded refusal, posted permits, List and
 * Stats, a session's death handing its permits on) and their blocking twins.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <condd/condd.h>
#include <condd/condd_async.h>

#include "client_util.h"
#include "testutil.h"

struct sem_rec {
    bool done;
    int rc;
    struct condd_sem_state st;
};

static void on_sem_locked(condd_async_conn *c, int rc, const struct condd_sem_state *st, void *arg)
{
    (void)c;
    struct sem_rec *r = arg;
    r->rc = rc;
    if (st != NULL)
        r->st = *st;
    r->done = true;
}

static struct condd_sem_state sem_state(condd_async_conn *c, const char *name)
{
    struct sem_rec r = {0};
    ck_assert_int_eq(condd_async_sem_locked(c, name, on_sem_locked, &r), CONDD_OK);
    ck_assert(run_until(&r.done, 10));
    ck_assert_int_eq(r.rc, CONDD_OK);
    return r.st;
}

static uint64_t sem_acquire_ok(condd_async_conn *c, const char *name, uint32_t n, bool bounded,
                               uint64_t owner)
{
    struct rec r = {0};
    ck_assert_int_eq(
        condd_async_sem_acquire(c, name, n, bounded, owner, CONDD_FOREVER, on_token, &r, NULL),
        CONDD_OK);
    ck_assert(run_until(&r.done, 10));
    ck_assert_int_eq(r.rc, CONDD_OK);
    ck_assert_uint_gt(r.u64, 0);
    return r.u64;
}

static int sem_release_sync(condd_async_conn *c, const char *name, uint32_t n, bool bounded,
                            uint64_t owner)
{
    struct rec r = {0};
    ck_assert_int_eq(condd_async_sem_release(c, name, n, bounded, owner, on_result, &r), CONDD_OK);
    ck_assert(run_until(&r.done, 10));
    return r.rc;
}

/* ------------------------------------------------------------------ asynchronous API */

START_TEST(test_async_permits_are_granted_fifo_with_growing_tokens)
{
    condd_async_conn *a = connect_daemon(), *b = connect_daemon();
    uint64_t t1 = sem_acquire_ok(a, "pool", 2, false, 1);
    uint64_t t2 = sem_acquire_ok(a, "pool", 2, false, 1); /* one owner, two permits */
    ck_assert_uint_gt(t2, t1);
    struct condd_sem_state st = sem_state(b, "pool");
    ck_assert(st.exists && st.locked);
    ck_assert_uint_eq(st.value, 0);
    ck_assert_uint_eq(st.held, 2);
    struct rec w1 = {0}, w2 = {0}, try = {0};
    ck_assert_int_eq(
        condd_async_sem_acquire(b, "pool", 2, false, 1, CONDD_FOREVER, on_token, &w1, NULL),
        CONDD_OK);
    ck_assert_int_eq(
        condd_async_sem_acquire(b, "pool", 2, false, 2, CONDD_FOREVER, on_token, &w2, NULL),
        CONDD_OK);
    ck_assert_int_eq(condd_async_sem_acquire(a, "pool", 2, false, 3, 0, on_token, &try, NULL),
                     CONDD_OK);
    ck_assert(run_until(&try.done, 10));
    ck_assert_int_eq(try.rc, CONDD_ERR_TIMEOUT);
    ck_assert(!w1.done && !w2.done);
    ck_assert_int_eq(sem_release_sync(a, "pool", 2, false, 1), CONDD_OK);
    ck_assert(run_until(&w1.done, 10));
    ck_assert_int_eq(w1.rc, CONDD_OK);
    ck_assert_uint_gt(w1.u64, t2);
    ck_assert(!w2.done);
    ck_assert_int_eq(sem_release_sync(a, "pool", 2, false, 1), CONDD_OK);
    ck_assert(run_until(&w2.done, 10));
    ck_assert_uint_gt(w2.u64, w1.u64);
    ck_assert_int_eq(sem_release_sync(b, "pool", 2, false, 1), CONDD_OK);
    ck_assert_int_eq(sem_release_sync(b, "pool", 2, false, 2), CONDD_OK);
    ck_assert(!sem_state(b, "pool").exists);
    condd_async_conn_close(a);
    condd_async_conn_close(b);
}
END_TEST

START_TEST(test_async_cancel_of_a_pending_sem_acquire)
{
    condd_async_conn *a = connect_daemon();
    sem_acquire_ok(a, "c", 1, true, 1);
    struct rec w = {0}, x = {0};
    uint64_t id = 0;
    ck_assert_int_eq(condd_async_sem_acquire(a, "c", 1, true, 2, CONDD_FOREVER, on_token, &w, &id),
                     CONDD_OK);
    ck_assert_uint_gt(id, 0);
    ck_assert_int_eq(condd_async_conn_cancel(a, id, on_result, &x), CONDD_OK);
    ck_assert(run_until(&x.done, 10));
    ck_assert(run_until(&w.done, 10));
    ck_assert_int_eq(x.rc, CONDD_OK);
    ck_assert_int_eq(w.rc, CONDD_ERR_CANCELLED);
    ck_assert_uint_eq(w.u64, 0);
    struct condd_sem_state st = sem_state(a, "c");
    ck_assert_uint_eq(st.held, 1);
    ck_assert_int_eq(sem_release_sync(a, "c", 1, true, 1), CONDD_OK);
    condd_async_conn_close(a);
}
END_TEST

START_TEST(test_async_mismatch_bounded_refusal_and_posts)
{
    condd_async_conn *a = connect_daemon();
    sem_acquire_ok(a, "m", 3, true, 1);
    struct rec r = {0};
    ck_assert_int_eq(condd_async_sem_acquire(a, "m", 4, true, 1, 0, on_token, &r, NULL), CONDD_OK);
    ck_assert(run_until(&r.done, 10));
    ck_assert_int_eq(r.rc, CONDD_ERR_VALUE_MISMATCH);
    /* The server's message: the value the semaphore has and the one asked; not the name. */
    ck_assert_str_eq(r.msg, "semaphore exists with value 3 (asked 4)");
    ck_assert_int_eq(sem_release_sync(a, "m", 3, false, 1), CONDD_ERR_VALUE_MISMATCH);
    ck_assert_int_eq(sem_release_sync(a, "m", 3, true, 1), CONDD_OK);
    ck_assert_int_eq(sem_release_sync(a, "m", 3, true, 1), CONDD_ERR_NOT_OWNER);
    /* A Semaphore released without acquire counts a posted permit. */
    ck_assert_int_eq(sem_release_sync(a, "p", 1, false, 7), CONDD_OK);
    struct condd_sem_state st = sem_state(a, "p");
    ck_assert(st.exists && !st.locked);
    ck_assert_uint_eq(st.value, 2);
    ck_assert_str_eq(condd_result_name(CONDD_ERR_VALUE_MISMATCH), "CONDD_ERR_VALUE_MISMATCH");
    ck_assert_str_ne(condd_strerror(CONDD_ERR_VALUE_MISMATCH), "unknown error");
    condd_async_conn_close(a);
}
END_TEST

static void on_list_keep(condd_async_conn *c, int rc, const struct condd_list *l, void *arg)
{
    (void)c;
    struct rec *r = arg;
    r->rc = rc;
    r->done = true;
    ck_assert_int_eq(rc, CONDD_OK);
    ck_assert_uint_eq(condd_list_sem_count(l), 1);
    const struct condd_sem_info *si = condd_list_sem(l, 0);
    ck_assert_str_eq(si->name, "lst/s");
    ck_assert_uint_eq(si->value, 2);
    ck_assert(si->bounded);
    ck_assert_uint_eq(si->counter, 0);
    ck_assert_uint_eq(si->waiters, 1);
    ck_assert_uint_eq(si->n_holders, 1);
    const struct condd_sem_holder *h = condd_sem_info_holder(si, 0);
    ck_assert_uint_eq(h->owner, 4);
    ck_assert_uint_eq(h->permits, 2);
    ck_assert_uint_gt(h->token, 0);
    ck_assert_ptr_null(condd_sem_info_holder(si, 1));
    ck_assert_ptr_null(condd_list_sem(l, 1));
}

static void on_stats_sem(condd_async_conn *c, int rc, const struct condd_stats *s, void *arg)
{
    (void)c;
    struct rec *r = arg;
    r->rc = rc;
    r->done = true;
    ck_assert_int_eq(rc, CONDD_OK);
    ck_assert_uint_eq(s->semaphores, 1);
    ck_assert_uint_eq(s->permits_held, 2);
    ck_assert_uint_eq(s->semaphore_waiters, 1);
    ck_assert_uint_ge(s->waiters, 1);
}

START_TEST(test_async_list_and_stats_show_semaphores)
{
    condd_async_conn *a = connect_daemon(), *b = connect_daemon();
    sem_acquire_ok(a, "lst/s", 2, true, 4);
    sem_acquire_ok(a, "lst/s", 2, true, 4);
    struct rec w = {0}, l = {0}, s = {0};
    ck_assert_int_eq(
        condd_async_sem_acquire(b, "lst/s", 2, true, 1, CONDD_FOREVER, on_token, &w, NULL),
        CONDD_OK);
    /* The list request is sent after the acquire on b; a ping on b first makes sure it queued. */
    struct rec ping = {0};
    ck_assert_int_eq(condd_async_conn_ping(b, on_result, &ping), CONDD_OK);
    ck_assert(run_until(&ping.done, 10));
    ck_assert_int_eq(condd_async_conn_list(a, "lst/", 0, on_list_keep, &l), CONDD_OK);
    ck_assert(run_until(&l.done, 10));
    ck_assert_int_eq(condd_async_conn_stats(a, on_stats_sem, &s), CONDD_OK);
    ck_assert(run_until(&s.done, 10));
    /* a's session ends holding two permits: b's waiter gets one. */
    condd_async_conn_close(a);
    ck_assert(run_until(&w.done, 10));
    ck_assert_int_eq(w.rc, CONDD_OK);
    struct condd_sem_state st = sem_state(b, "lst/s");
    ck_assert_uint_eq(st.held, 1);
    ck_assert_uint_eq(st.value, 1);
    condd_async_conn_close(b);
}
END_TEST

/* ------------------------------------------------------------------ blocking API */

START_TEST(test_blocking_sem_calls)
{
    condd_conn *c = NULL, *d = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &c), CONDD_OK);
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &d), CONDD_OK);
    uint64_t t = 0;
    ck_assert_int_eq(condd_sem_acquire(c, "b", 1, false, 0, CONDD_FOREVER, &t), CONDD_OK);
    ck_assert_uint_gt(t, 0);
    uint64_t t2 = 5;
    ck_assert_int_eq(condd_sem_acquire(d, "b", 1, false, 0, 0.05, &t2), CONDD_ERR_TIMEOUT);
    ck_assert_uint_eq(t2, 0);
    ck_assert_int_eq(condd_sem_acquire(d, "b", 2, false, 0, 0, NULL), CONDD_ERR_VALUE_MISMATCH);
    ck_assert_str_ne(condd_conn_message(d), "");
    struct condd_sem_state st;
    ck_assert_int_eq(condd_sem_locked(d, "b", &st), CONDD_OK);
    ck_assert(st.exists && st.locked);
    ck_assert_int_eq(condd_sem_locked(d, "b", NULL), CONDD_ERR_INVALID);
    ck_assert_int_eq(condd_sem_release(c, "b", 1, false, 0), CONDD_OK);
    ck_assert_int_eq(condd_sem_locked(d, "b", &st), CONDD_OK);
    ck_assert(!st.exists && !st.locked);
    ck_assert_int_eq(condd_sem_release(c, "bb", 1, true, 0), CONDD_ERR_NOT_OWNER);
    ck_assert_str_eq(condd_conn_message(c), "BoundedSemaphore released too many times");
    ck_assert_int_eq(condd_sem_acquire(c, "", 1, false, 0, 0, NULL), CONDD_ERR_BAD_REQUEST);
    ck_assert_int_eq(condd_sem_acquire(c, "z", 0, false, 0, 0, NULL), CONDD_ERR_BAD_REQUEST);
    ck_assert_int_eq(condd_sem_acquire(c, NULL, 1, false, 0, 0, NULL), CONDD_ERR_INVALID);
    /* A session that ends while holding permits gives them back. */
    ck_assert_int_eq(condd_sem_acquire(c, "b", 1, false, 0, 0, NULL), CONDD_OK);
    condd_conn_close(c);
    ck_assert_int_eq(condd_sem_acquire(d, "b", 1, false, 0, 10, &t2), CONDD_OK);
    ck_assert_uint_gt(t2, t);
    ck_assert_int_eq(condd_sem_release(d, "b", 1, false, 0), CONDD_OK);
    condd_conn_close(d);
}
END_TEST

static Suite *client_sem_suite(void)
{
    Suite *s = suite_create("libcondd semaphores");
    TCase *tc = tcase_create("sem");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup_daemon, teardown_daemon);
    tcase_add_test(tc, test_async_permits_are_granted_fifo_with_growing_tokens);
    tcase_add_test(tc, test_async_cancel_of_a_pending_sem_acquire);
    tcase_add_test(tc, test_async_mismatch_bounded_refusal_and_posts);
    tcase_add_test(tc, test_async_list_and_stats_show_semaphores);
    tcase_add_test(tc, test_blocking_sem_calls);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_sem_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
