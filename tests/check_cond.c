/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The engine's named conditions (issue 4), driven directly without sockets. The cases are
 * CPython's asyncio ConditionTests (and threading's multi-phase notify test) translated to the
 * engine: each "task" is a (session, owner) pair, and a Wait's reply is its return from
 * cond.wait(), which must find the lock held by that owner again.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"

static struct fx F;

static void setup(void)
{
    fx_init(&F, NULL);
    for (int i = 0; i < 8; i++)
        fx_open(&F, i);
}

static void teardown(void)
{
    fx_fini(&F);
}

static void expect_no_reply(int i)
{
    ck_assert_msg(fx_unseen(&F, i) == 0, "session %d has an unexpected reply", i);
}

/* The next reply of session i answers Wait req with status, and the owner holds lock with the
 * reply's token. Returns the token. */
static uint64_t expect_wait(int i, uint64_t req, int status, const char *lock, uint64_t owner)
{
    const struct fx_reply *r = fx_next(&F, i);
    ck_assert_msg(r != NULL, "session %d: no reply (wanted wait %llu)", i, (unsigned long long)req);
    ck_assert_int_eq(r->op, ENGINE_OP_WAIT);
    ck_assert_uint_eq(r->req_id, req);
    ck_assert_int_eq(r->status, status);
    ck_assert_uint_gt(r->token, 0);
    uint64_t sid, own, tok;
    ck_assert_msg(fx_holder(&F, lock, &sid, &own, &tok, NULL), "wait reply without the lock");
    ck_assert_uint_eq(sid, F.ss[i].id);
    ck_assert_uint_eq(own, owner);
    ck_assert_uint_eq(tok, r->token);
    return r->token;
}

static void expect_acquire(int i, uint64_t req)
{
    const struct fx_reply *r = fx_next(&F, i);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->op, ENGINE_OP_ACQUIRE);
    ck_assert_uint_eq(r->req_id, req);
    ck_assert_int_eq(r->status, S_OK);
}

/* Task (i, owner) takes the free lock and waits on cond: the asyncio "async with cond: await
 * cond.wait()". Returns the token it held before waiting. */
static uint64_t start_waiter(int i, uint64_t owner, uint64_t req, const char *cond,
                             const char *lock, double timeout)
{
    uint64_t tok;
    ck_assert_int_eq(fx_acquire(&F, i, req + 100000, lock, owner, FX_FOREVER, &tok), S_OK);
    ck_assert_int_eq(fx_wait(&F, i, req, cond, lock, owner, timeout), S_PENDING);
    ck_assert(!fx_locked(&F, lock));
    return tok;
}

static uint64_t notify(int i, const char *cond, const char *lock, uint64_t owner, uint64_t n)
{
    uint64_t woken = 99;
    ck_assert_int_eq(fx_notify(&F, i, cond, lock, owner, n, &woken), S_OK);
    return woken;
}

/* ------------------------------------------------------------------ ownership */

START_TEST(test_wait_without_the_lock_is_not_owner)
{
    ck_assert_int_eq(fx_wait(&F, 1, 1, "C", "L", 1, FX_FOREVER), S_NOT_OWNER);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_wait(&F, 1, 2, "C", "L", 1, FX_FOREVER), S_NOT_OWNER);
    ck_assert_int_eq(fx_wait(&F, 0, 3, "C", "L", 2, 5), S_NOT_OWNER); /* other handle */
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.conditions, 0);
    ck_assert_uint_eq(st.condition_waiters, 0);
    uint64_t sid, own;
    ck_assert(fx_holder(&F, "L", &sid, &own, NULL, NULL));
    ck_assert_uint_eq(sid, 1);
    ck_assert_uint_eq(own, 1);
    ck_assert_int_eq(fx_cancel(&F, 1, 2), S_NOT_FOUND);
}
END_TEST

START_TEST(test_notify_without_the_lock_is_not_owner)
{
    start_waiter(1, 1, 1, "C", "L", FX_FOREVER);
    uint64_t woken;
    ck_assert_int_eq(fx_notify(&F, 0, "C", "L", 1, 1, &woken), S_NOT_OWNER);
    ck_assert_int_eq(fx_notify(&F, 0, "C", "L", 1, UINT64_MAX, &woken), S_NOT_OWNER);
    /* while another session holds it */
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_notify(&F, 0, "C", "L", 1, 1, &woken), S_NOT_OWNER);
    ck_assert_int_eq(fx_notify(&F, 0, "C", "L", 1, UINT64_MAX, &woken), S_NOT_OWNER);
    ck_assert_int_eq(fx_notify(&F, 2, "C", "L", 2, 1, &woken), S_NOT_OWNER);
    ck_assert_uint_eq(fx_stats(&F).condition_waiters, 1);
    ck_assert_int_eq(fx_release(&F, 2, "L", 1), S_OK);
    expect_no_reply(1);
}
END_TEST

START_TEST(test_wait_releases_the_lock_to_the_next_in_line)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_wait(&F, 0, 2, "C", "L", 1, FX_FOREVER), S_PENDING);
    expect_acquire(1, 1);
    expect_no_reply(2);
    expect_no_reply(0);
    ck_assert_uint_eq(notify(1, "C", "L", 1, 1), 1);
    ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);
    /* the woken waiter queued behind session 2 */
    expect_acquire(2, 1);
    expect_no_reply(0);
    ck_assert_int_eq(fx_release(&F, 2, "L", 1), S_OK);
    expect_wait(0, 2, S_OK, "L", 1);
}
END_TEST

/* ------------------------------------------------------------------ notify */

START_TEST(test_notify_one_wakes_in_fifo_order)
{
    for (int i = 1; i <= 3; i++)
        start_waiter(i, 1, 10 + (uint64_t)i, "C", "L", FX_FOREVER);
    for (int i = 1; i <= 3; i++) {
        ck_assert_int_eq(fx_acquire(&F, 0, (uint64_t)i, "L", 1, FX_FOREVER, NULL), S_OK);
        ck_assert_uint_eq(notify(0, "C", "L", 1, 1), 1);
        for (int j = 1; j <= 3; j++)
            expect_no_reply(j);
        ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
        expect_wait(i, 10 + (uint64_t)i, S_OK, "L", 1);
        for (int j = 1; j <= 3; j++)
            expect_no_reply(j);
        ck_assert_int_eq(fx_release(&F, i, "L", 1), S_OK);
    }
    ck_assert_uint_eq(fx_stats(&F).conditions, 0);
}
END_TEST

START_TEST(test_notify_first_wakes_peers_before_waiting_and_hands_over)
{
    /* Two waiters; session 0 then does notify(1)+wait in one request: the longest waiter (1)
     * gets the lock the wait releases, and session 0 becomes the newest waiter. */
    start_waiter(1, 1, 11, "C", "L", FX_FOREVER);
    start_waiter(2, 1, 12, "C", "L", FX_FOREVER);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_notify_wait(&F, 0, 2, "C", "L", 1, 1, FX_FOREVER), S_PENDING);
    expect_wait(1, 11, S_OK, "L", 1);
    expect_no_reply(2);
    expect_no_reply(0);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.condition_waiters, 2); /* 2 and now 0 */
    /* The handoff goes on: 1 hands back with notify_first too, waking 2 (FIFO), not 0. */
    ck_assert_int_eq(fx_notify_wait(&F, 1, 13, "C", "L", 1, 1, FX_FOREVER), S_PENDING);
    expect_wait(2, 12, S_OK, "L", 1);
    expect_no_reply(0);
    ck_assert_uint_eq(notify(2, "C", "L", 1, UINT64_MAX), 2);
    ck_assert_int_eq(fx_release(&F, 2, "L", 1), S_OK);
    expect_wait(0, 2, S_OK, "L", 1);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_wait(1, 13, S_OK, "L", 1);
    ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);
    ck_assert_uint_eq(fx_stats(&F).conditions, 0);
}
END_TEST

START_TEST(test_notify_first_never_wakes_the_waiter_itself_and_is_refused_without_the_lock)
{
    /* With nobody else waiting, notify_first wakes no one: the caller is not its own peer. */
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_notify_wait(&F, 0, 2, "C", "L", 1, 5, FX_FOREVER), S_PENDING);
    ck_assert(!fx_locked(&F, "L"));
    ck_assert_uint_eq(fx_stats(&F).condition_waiters, 1);
    expect_no_reply(0);
    /* Without the lock nothing happens at all: no wake-up is spent. */
    ck_assert_int_eq(fx_notify_wait(&F, 1, 3, "C", "L", 1, 5, FX_FOREVER), S_NOT_OWNER);
    ck_assert_uint_eq(fx_stats(&F).condition_waiters, 1);
    ck_assert_int_eq(fx_acquire(&F, 1, 4, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(1, "C", "L", 1, 1), 1);
    ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);
    expect_wait(0, 2, S_OK, "L", 1);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
}
END_TEST

START_TEST(test_notify_one_then_2048_in_one_critical_section)
{
    for (int i = 1; i <= 3; i++)
        start_waiter(i, 1, 1, "C", "L", FX_FOREVER);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 1), 1);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_wait(1, 1, S_OK, "L", 1);
    ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);
    expect_no_reply(2);

    ck_assert_int_eq(fx_acquire(&F, 0, 2, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 1), 1);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 2048), 1);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 2048), 0);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_wait(2, 1, S_OK, "L", 1);
    expect_no_reply(3);
    ck_assert_int_eq(fx_release(&F, 2, "L", 1), S_OK);
    expect_wait(3, 1, S_OK, "L", 1);
    ck_assert_int_eq(fx_release(&F, 3, "L", 1), S_OK);
    ck_assert(!fx_locked(&F, "L"));
}
END_TEST

START_TEST(test_notify_all_wakes_every_waiter_in_order)
{
    for (int i = 1; i <= 5; i++)
        start_waiter(i, 1, 1, "C", "L", FX_FOREVER);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C", "L", 1, UINT64_MAX), 5);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.condition_waiters, 0);
    ck_assert_uint_eq(st.lock_waiters, 5);
    ck_assert_uint_eq(st.conditions, 1); /* still referenced by the re-acquiring waits */
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    for (int i = 1; i <= 5; i++) {
        expect_wait(i, 1, S_OK, "L", 1);
        ck_assert_int_eq(fx_release(&F, i, "L", 1), S_OK);
    }
    st = fx_stats(&F);
    ck_assert_uint_eq(st.conditions, 0);
    ck_assert_uint_eq(st.locks, 0);
}
END_TEST

START_TEST(test_woken_waiters_resume_after_notifier_releases_one_at_a_time)
{
    for (int i = 1; i <= 3; i++)
        start_waiter(i, 7, 1, "C", "L", FX_FOREVER);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    /* an acquirer that queued before the notify goes first */
    ck_assert_int_eq(fx_acquire(&F, 4, 1, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_uint_eq(notify(0, "C", "L", 1, UINT64_MAX), 3);
    for (int i = 1; i <= 4; i++)
        expect_no_reply(i);
    uint64_t sid;
    ck_assert(fx_holder(&F, "L", &sid, NULL, NULL, NULL));
    ck_assert_uint_eq(sid, 1);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_acquire(4, 1);
    for (int i = 1; i <= 3; i++)
        expect_no_reply(i);
    ck_assert_int_eq(fx_release(&F, 4, "L", 1), S_OK);
    for (int i = 1; i <= 3; i++) {
        expect_wait(i, 1, S_OK, "L", 7);
        for (int j = 1; j <= 3; j++)
            expect_no_reply(j);
        ck_assert_int_eq(fx_release(&F, i, "L", 7), S_OK);
    }
}
END_TEST

/* threading's _check_notify: notify(3), notify(5), then notify_all over five waiters. */
static void phase_wake(int from, int count, uint64_t req)
{
    for (int i = from; i < from + count; i++) {
        expect_wait(i, req, S_OK, "L", 1);
        ck_assert_int_eq(fx_release(&F, i, "L", 1), S_OK);
    }
}

START_TEST(test_multi_phase_notify_over_five_waiters_twice)
{
    uint64_t req = 1;
    for (int round = 0; round < 2; round++) {
        for (int i = 1; i <= 5; i++)
            start_waiter(i, 1, req, "C", "L", FX_FOREVER);
        ck_assert_int_eq(fx_acquire(&F, 0, req, "L", 1, FX_FOREVER, NULL), S_OK);
        ck_assert_uint_eq(notify(0, "C", "L", 1, 3), 3);
        ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
        phase_wake(1, 3, req);
        expect_no_reply(4);
        expect_no_reply(5);
        ck_assert_uint_eq(fx_stats(&F).condition_waiters, 2);

        ck_assert_int_eq(fx_acquire(&F, 0, req + 1, "L", 1, FX_FOREVER, NULL), S_OK);
        ck_assert_uint_eq(notify(0, "C", "L", 1, 5), 2);
        ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
        phase_wake(4, 2, req);
        ck_assert_uint_eq(fx_stats(&F).conditions, 0);
        req++;

        for (int i = 1; i <= 5; i++)
            start_waiter(i, 1, req, "C", "L", FX_FOREVER);
        ck_assert_int_eq(fx_acquire(&F, 0, req + 1, "L", 1, FX_FOREVER, NULL), S_OK);
        ck_assert_uint_eq(notify(0, "C", "L", 1, UINT64_MAX), 5);
        ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
        phase_wake(1, 5, req);
        req += 2;
        struct engine_stats st = fx_stats(&F);
        ck_assert_uint_eq(st.conditions, 0);
        ck_assert_uint_eq(st.locks, 0);
    }
}
END_TEST

START_TEST(test_notify_zero_wakes_none)
{
    start_waiter(1, 1, 1, "C", "L", FX_FOREVER);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 0), 0);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_no_reply(1);
    ck_assert_uint_eq(fx_stats(&F).condition_waiters, 1);
}
END_TEST

START_TEST(test_notify_with_no_waiters_is_not_remembered)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 5), 0);
    ck_assert_uint_eq(notify(0, "C", "L", 1, UINT64_MAX), 0);
    ck_assert_uint_eq(fx_stats(&F).conditions, 0);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    start_waiter(1, 1, 1, "C", "L", FX_FOREVER);
    fx_advance(&F, 60);
    expect_no_reply(1);
    ck_assert_int_eq(fx_acquire(&F, 0, 2, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 1), 1);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_wait(1, 1, S_OK, "L", 1);
}
END_TEST

START_TEST(test_conditions_sharing_a_lock_are_independent)
{
    start_waiter(1, 1, 1, "C1", "L", FX_FOREVER);
    start_waiter(2, 1, 1, "C2", "L", FX_FOREVER);
    start_waiter(3, 1, 1, "C1", "L", FX_FOREVER);
    ck_assert_uint_eq(fx_stats(&F).conditions, 2);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C2", "L", 1, UINT64_MAX), 1);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_wait(2, 1, S_OK, "L", 1);
    expect_no_reply(1);
    expect_no_reply(3);
    ck_assert_uint_eq(notify(2, "C1", "L", 1, 1), 1);
    ck_assert_int_eq(fx_release(&F, 2, "L", 1), S_OK);
    expect_wait(1, 1, S_OK, "L", 1);
    expect_no_reply(3);
    ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.conditions, 1);
    ck_assert_uint_eq(st.condition_waiters, 1);
}
END_TEST

START_TEST(test_condition_bound_to_another_lock_is_lock_mismatch)
{
    start_waiter(1, 1, 1, "C", "L1", FX_FOREVER);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L2", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_wait(&F, 0, 2, "C", "L2", 1, FX_FOREVER), S_LOCK_MISMATCH);
    ck_assert(fx_locked(&F, "L2")); /* nothing released */
    uint64_t woken;
    ck_assert_int_eq(fx_notify(&F, 0, "C", "L2", 1, 1, &woken), S_LOCK_MISMATCH);
    ck_assert_int_eq(fx_notify(&F, 0, "C", "L2", 1, UINT64_MAX, &woken), S_LOCK_MISMATCH);
    /* ownership is checked before the binding */
    ck_assert_int_eq(fx_notify(&F, 0, "C", "L3", 1, 1, &woken), S_NOT_OWNER);
    ck_assert_int_eq(fx_wait(&F, 0, 3, "C", "L3", 1, FX_FOREVER), S_NOT_OWNER);
    /* a notified waiter still re-acquiring keeps the binding */
    ck_assert_int_eq(fx_acquire(&F, 0, 4, "L1", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C", "L1", 1, 1), 1);
    ck_assert_int_eq(fx_wait(&F, 0, 5, "C", "L2", 1, FX_FOREVER), S_LOCK_MISMATCH);
    ck_assert_int_eq(fx_release(&F, 0, "L1", 1), S_OK);
    expect_wait(1, 1, S_OK, "L1", 1);
    ck_assert_int_eq(fx_release(&F, 1, "L1", 1), S_OK);
    /* with its waiters gone the condition may bind to another lock */
    ck_assert_uint_eq(fx_stats(&F).conditions, 0);
    ck_assert_int_eq(fx_wait(&F, 0, 6, "C", "L2", 1, FX_FOREVER), S_PENDING);
}
END_TEST

/* ------------------------------------------------------------------ timeouts */

START_TEST(test_timed_wait_reacquires_before_replying)
{
    uint64_t before = start_waiter(1, 1, 1, "C", "L", 0.02);
    fx_advance(&F, 0.01);
    expect_no_reply(1); /* not before its time */
    ck_assert_uint_eq(fx_stats(&F).condition_waiters, 1);
    fx_advance(&F, 0.01);
    uint64_t tok = expect_wait(1, 1, S_TIMEOUT, "L", 1); /* at its deadline exactly */
    ck_assert_uint_gt(tok, before);
    ck_assert_uint_eq(fx_stats(&F).conditions, 0);
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_NOT_FOUND);
}
END_TEST

START_TEST(test_timed_wait_replies_only_after_a_long_holder_releases)
{
    start_waiter(1, 1, 1, "C", "L", 0.02);
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    fx_advance(&F, 0.02);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.condition_waiters, 0);
    ck_assert_uint_eq(st.lock_waiters, 1);
    ck_assert_uint_eq(st.conditions, 1);
    ck_assert_uint_eq(fx_timers(&F), 0); /* its timeout has passed for good */
    fx_advance(&F, 60);
    expect_no_reply(1);
    /* a timed-out wait cannot be cancelled any more, and takes no notification */
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_NOT_FOUND);
    ck_assert_uint_eq(notify(2, "C", "L", 1, 1), 0);
    uint64_t holder_tok;
    fx_holder(&F, "L", NULL, NULL, &holder_tok, NULL);
    ck_assert_int_eq(fx_release(&F, 2, "L", 1), S_OK);
    uint64_t tok = expect_wait(1, 1, S_TIMEOUT, "L", 1);
    ck_assert_uint_gt(tok, holder_tok);
}
END_TEST

START_TEST(test_wait_with_zero_timeout_times_out_on_the_next_turn)
{
    start_waiter(1, 1, 1, "C", "L", 0);
    expect_no_reply(1);
    fx_advance(&F, 0); /* the next turn, without time passing */
    expect_wait(1, 1, S_TIMEOUT, "L", 1);
}
END_TEST

START_TEST(test_notified_before_timeout_replies_ok)
{
    start_waiter(1, 1, 1, "C", "L", 0.05);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 1), 1);
    ck_assert_uint_eq(fx_timers(&F), 0); /* the timer must not fire any more */
    fx_advance(&F, 0.1);
    expect_no_reply(1);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_wait(1, 1, S_OK, "L", 1);
}
END_TEST

/* ------------------------------------------------------------------ cancel */

START_TEST(test_cancel_while_waiting_replies_cancelled_with_the_lock)
{
    /* lock free: re-acquired and answered within the Cancel */
    start_waiter(1, 1, 1, "C", "L", FX_FOREVER);
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_OK);
    expect_wait(1, 1, S_CANCELLED, "L", 1);
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_NOT_FOUND);
    ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);

    /* lock held: answered once the holder releases */
    start_waiter(1, 1, 2, "C", "L", 30);
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_cancel(&F, 1, 2), S_OK);
    expect_no_reply(1);
    ck_assert_int_eq(fx_cancel(&F, 1, 2), S_NOT_FOUND);
    ck_assert_uint_eq(notify(2, "C", "L", 1, 1), 0); /* no longer a condition waiter */
    ck_assert_int_eq(fx_release(&F, 2, "L", 1), S_OK);
    expect_wait(1, 2, S_CANCELLED, "L", 1);
    ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);
    ck_assert_uint_eq(fx_stats(&F).conditions, 0);
}
END_TEST

START_TEST(test_cancel_after_notify_passes_the_notification_on)
{
    /* gh-112202: a notified waiter cancelled before it re-acquires must not eat the wake-up */
    start_waiter(1, 1, 1, "C", "L", FX_FOREVER);
    start_waiter(2, 1, 1, "C", "L", FX_FOREVER);
    start_waiter(3, 1, 1, "C", "L", FX_FOREVER);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 1), 1);
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_OK);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.condition_waiters, 1); /* session 2 took the notification */
    ck_assert_uint_eq(st.lock_waiters, 2);
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_NOT_FOUND);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_wait(1, 1, S_CANCELLED, "L", 1);
    expect_no_reply(2);
    ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);
    expect_wait(2, 1, S_OK, "L", 1);
    ck_assert_int_eq(fx_release(&F, 2, "L", 1), S_OK);
    expect_no_reply(3);
    ck_assert_uint_eq(fx_stats(&F).condition_waiters, 1);
}
END_TEST

START_TEST(test_cancel_after_notify_with_no_other_waiter)
{
    start_waiter(1, 1, 1, "C", "L", FX_FOREVER);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 1), 1);
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_OK);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_wait(1, 1, S_CANCELLED, "L", 1);
    ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);
    /* the unused notification is not remembered */
    start_waiter(2, 1, 1, "C", "L", FX_FOREVER);
    expect_no_reply(2);
}
END_TEST

/* ------------------------------------------------------------------ session death */

START_TEST(test_waiter_session_death_before_notify)
{
    start_waiter(1, 1, 1, "C", "L", 30);
    start_waiter(2, 1, 1, "C", "L", FX_FOREVER);
    fx_close(&F, 1);
    ck_assert_uint_eq(fx_stats(&F).condition_waiters, 1);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 1), 1);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_wait(2, 1, S_OK, "L", 1);
}
END_TEST

START_TEST(test_waiter_session_death_after_notify_passes_it_on)
{
    start_waiter(1, 1, 1, "C", "L", FX_FOREVER);
    start_waiter(1, 2, 2, "C", "L", FX_FOREVER); /* same session, second owner */
    start_waiter(2, 1, 1, "C", "L", FX_FOREVER);
    start_waiter(3, 1, 1, "C", "L", FX_FOREVER);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 1), 1);
    /* both of session 1's waits die; the one notification ends with session 2 */
    fx_close(&F, 1);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.condition_waiters, 1);
    ck_assert_uint_eq(st.lock_waiters, 1);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_wait(2, 1, S_OK, "L", 1);
    expect_no_reply(3);
}
END_TEST

START_TEST(test_timed_out_waiter_death_passes_nothing_on)
{
    start_waiter(1, 1, 1, "C", "L", 0.01);
    start_waiter(2, 1, 1, "C", "L", FX_FOREVER);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    fx_advance(&F, 0.01);
    ck_assert_uint_eq(fx_stats(&F).lock_waiters, 1); /* session 1 timed out, re-acquiring */
    ck_assert_uint_eq(fx_stats(&F).condition_waiters, 1);
    fx_close(&F, 1);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_no_reply(2);
    ck_assert_uint_eq(fx_stats(&F).condition_waiters, 1);
}
END_TEST

START_TEST(test_notifier_dies_before_releasing)
{
    start_waiter(1, 1, 1, "C", "L", FX_FOREVER);
    start_waiter(2, 1, 1, "C", "L", FX_FOREVER);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 1), 1);
    fx_close(&F, 0);
    expect_wait(1, 1, S_OK, "L", 1);
    expect_no_reply(2);
}
END_TEST

START_TEST(test_holder_death_leaves_condition_waiters_waiting)
{
    start_waiter(1, 1, 1, "C", "L", FX_FOREVER);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    fx_close(&F, 0);
    expect_no_reply(1);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.condition_waiters, 1);
    ck_assert_uint_eq(st.locks, 0);
}
END_TEST

/* ------------------------------------------------------------------ memory and tokens */

START_TEST(test_condition_takes_no_memory_after_its_waiters_are_gone)
{
    struct engine_stats base = fx_stats(&F);
    char cond[32];
    for (int k = 0; k < 100; k++) {
        snprintf(cond, sizeof cond, "cond-%d", k);
        start_waiter(1, 1, 1, cond, "L", FX_FOREVER);
        start_waiter(2, 1, 1, cond, "L", 0.001);
        start_waiter(3, 1, 1, cond, "L", FX_FOREVER);
        fx_advance(&F, 0.001);
        expect_wait(2, 1, S_TIMEOUT, "L", 1);
        ck_assert_uint_eq(notify(2, cond, "L", 1, 1), 1);
        ck_assert_int_eq(fx_cancel(&F, 3, 1), S_OK);
        ck_assert_int_eq(fx_release(&F, 2, "L", 1), S_OK);
        expect_wait(1, 1, S_OK, "L", 1);
        ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);
        expect_wait(3, 1, S_CANCELLED, "L", 1);
        ck_assert_int_eq(fx_release(&F, 3, "L", 1), S_OK);
        struct engine_stats st = fx_stats(&F);
        ck_assert_uint_eq(st.conditions, 0);
        ck_assert_uint_eq(st.locks, 0);
    }
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.entry_bytes, 0);
    ck_assert_uint_eq(st.table_bytes, base.table_bytes);
}
END_TEST

START_TEST(test_wait_reply_carries_a_new_greater_token)
{
    uint64_t before = start_waiter(1, 1, 1, "C", "L", FX_FOREVER);
    uint64_t notifier_tok;
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, &notifier_tok), S_OK);
    ck_assert_uint_gt(notifier_tok, before);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 1), 1);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    uint64_t after = expect_wait(1, 1, S_OK, "L", 1);
    ck_assert_uint_gt(after, notifier_tok);
    ck_assert_uint_eq(fx_stats(&F).last_token, after);
}
END_TEST

START_TEST(test_shutdown_answers_waits_in_both_queues)
{
    start_waiter(1, 1, 1, "C", "L", FX_FOREVER);
    start_waiter(2, 1, 1, "C", "L", 30);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 1), 1);
    engine_shutdown(F.e);
    for (int i = 1; i <= 2; i++) {
        const struct fx_reply *r = fx_next(&F, i);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(r->op, ENGINE_OP_WAIT);
        ck_assert_int_eq(r->status, S_SHUTTING_DOWN);
        ck_assert_uint_eq(r->token, 0);
    }
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.conditions, 0);
    ck_assert_uint_eq(st.lock_waiters, 0);
    ck_assert_uint_eq(notify(0, "C", "L", 1, 1), 0);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    ck_assert_uint_eq(fx_timers(&F), 0);
    fx_advance(&F, 60);
    expect_no_reply(1);
    expect_no_reply(2);
}
END_TEST

/* ------------------------------------------------------------------ ending big sessions */

START_TEST(test_a_notification_granted_to_an_ending_session_is_passed_on)
{
    /* Session 0 ends with more pending requests than one reaper step drops, the oldest of them
     * a notified wait. When the lock is handed to that wait while the session is being taken
     * apart, the notification must go on to the condition's next waiter. */
    enum { N = 1500 };
    start_waiter(0, 1, 1, "C", "L", FX_FOREVER);
    start_waiter(3, 1, 1, "C", "L", FX_FOREVER);
    char name[32];
    for (int k = 0; k < N; k++) {
        snprintf(name, sizeof name, "x%d", k);
        ck_assert_int_eq(fx_acquire(&F, 1, (uint64_t)k + 1, name, 1, FX_FOREVER, NULL), S_OK);
        ck_assert_int_eq(fx_acquire(&F, 0, (uint64_t)k + 10, name, 2, FX_FOREVER, NULL), S_PENDING);
    }
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_uint_eq(notify(2, "C", "L", 1, 1), 1); /* session 0's wait, the longest */
    fx_close(&F, 0);
    ck_assert(engine_reaping(F.e));
    ck_assert_int_eq(fx_release(&F, 2, "L", 1), S_OK);
    expect_no_reply(3);
    int turns = 0;
    while (engine_reaping(F.e)) {
        fx_advance(&F, 0);
        ck_assert_int_lt(++turns, 10000);
    }
    expect_wait(3, 1, S_OK, "L", 1);
    ck_assert_uint_eq(fx_stats(&F).condition_waiters, 0);
}
END_TEST

static Suite *cond_suite(void)
{
    Suite *s = suite_create("engine conditions");
    TCase *tc = tcase_create("conditions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_wait_without_the_lock_is_not_owner);
    tcase_add_test(tc, test_notify_without_the_lock_is_not_owner);
    tcase_add_test(tc, test_wait_releases_the_lock_to_the_next_in_line);
    tcase_add_test(tc, test_notify_one_wakes_in_fifo_order);
    tcase_add_test(tc, test_notify_first_wakes_peers_before_waiting_and_hands_over);
    tcase_add_test(tc,
                   test_notify_first_never_wakes_the_waiter_itself_and_is_refused_without_the_lock);
    tcase_add_test(tc, test_notify_one_then_2048_in_one_critical_section);
    tcase_add_test(tc, test_notify_all_wakes_every_waiter_in_order);
    tcase_add_test(tc, test_woken_waiters_resume_after_notifier_releases_one_at_a_time);
    tcase_add_test(tc, test_multi_phase_notify_over_five_waiters_twice);
    tcase_add_test(tc, test_notify_zero_wakes_none);
    tcase_add_test(tc, test_notify_with_no_waiters_is_not_remembered);
    tcase_add_test(tc, test_conditions_sharing_a_lock_are_independent);
    tcase_add_test(tc, test_condition_bound_to_another_lock_is_lock_mismatch);
    tcase_add_test(tc, test_timed_wait_reacquires_before_replying);
    tcase_add_test(tc, test_timed_wait_replies_only_after_a_long_holder_releases);
    tcase_add_test(tc, test_wait_with_zero_timeout_times_out_on_the_next_turn);
    tcase_add_test(tc, test_notified_before_timeout_replies_ok);
    tcase_add_test(tc, test_cancel_while_waiting_replies_cancelled_with_the_lock);
    tcase_add_test(tc, test_cancel_after_notify_passes_the_notification_on);
    tcase_add_test(tc, test_cancel_after_notify_with_no_other_waiter);
    tcase_add_test(tc, test_waiter_session_death_before_notify);
    tcase_add_test(tc, test_waiter_session_death_after_notify_passes_it_on);
    tcase_add_test(tc, test_timed_out_waiter_death_passes_nothing_on);
    tcase_add_test(tc, test_notifier_dies_before_releasing);
    tcase_add_test(tc, test_holder_death_leaves_condition_waiters_waiting);
    tcase_add_test(tc, test_condition_takes_no_memory_after_its_waiters_are_gone);
    tcase_add_test(tc, test_wait_reply_carries_a_new_greater_token);
    tcase_add_test(tc, test_shutdown_answers_waits_in_both_queues);
    tcase_add_test(tc, test_a_notification_granted_to_an_ending_session_is_passed_on);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cond_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
