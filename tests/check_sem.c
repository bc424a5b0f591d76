/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The engine's semaphores (asyncio.Semaphore and BoundedSemaphore), driven directly on the fake
 * clock: FIFO grants without barging, try-once and exact timeouts, value and kind mismatches,
 * posted permits, the bounded refusal, several permits per owner, session end returning permits
 * (also in steps), cancel racing a grant, shutdown, List and Stats. CPython's SemaphoreTests and
 * BoundedSemaphoreTests re-expressed where they apply.
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
    for (int i = 0; i < 6; i++)
        fx_open(&F, i);
}

static void teardown(void)
{
    fx_fini(&F);
}

static const uint8_t *u8(const char *s)
{
    return (const uint8_t *)s;
}

/* Wrappers that, like the fixture's, flag a reply to the request whose own call runs. */
static int sem_acquire(int i, uint64_t req, const char *name, uint64_t value, bool bounded,
                       uint64_t owner, double timeout, uint64_t *token)
{
    uint64_t t = 0;
    const char *msg = NULL;
    F.cur_s = &F.ss[i];
    F.cur_req = req;
    F.cur_active = true;
    int st = engine_sem_acquire(F.ss[i].s, req, u8(name), strlen(name), value, bounded, owner,
                                timeout == FX_FOREVER ? NULL : &timeout, &t, &msg);
    F.cur_active = false;
    if (st != S_OK && st != S_PENDING)
        ck_assert_ptr_nonnull(msg);
    if (st == S_OK)
        ck_assert_uint_gt(t, 0);
    if (token != NULL)
        *token = t;
    return st;
}

static int acq(int i, uint64_t req, const char *name, uint64_t value, double timeout)
{
    return sem_acquire(i, req, name, value, false, 1, timeout, NULL);
}

static int rel(int i, const char *name, uint64_t value, bool bounded, uint64_t owner)
{
    const char *msg = NULL;
    int st = engine_sem_release(F.ss[i].s, u8(name), strlen(name), value, bounded, owner, &msg);
    if (st != S_OK)
        ck_assert_ptr_nonnull(msg);
    return st;
}

struct sem_state {
    bool exists, locked;
    uint64_t counter, held;
};

static struct sem_state state(const char *name)
{
    struct sem_state s;
    ck_assert_int_eq(engine_sem_locked(F.e, u8(name), strlen(name), &s.exists, &s.locked,
                                       &s.counter, &s.held, NULL),
                     S_OK);
    return s;
}

static uint64_t expect_reply(int i, uint64_t req, int status)
{
    const struct fx_reply *r = fx_next(&F, i);
    ck_assert_msg(r != NULL, "session %d: no reply (wanted req %llu)", i, (unsigned long long)req);
    ck_assert_int_eq(r->op, ENGINE_OP_SEM_ACQUIRE);
    ck_assert_uint_eq(r->req_id, req);
    ck_assert_int_eq(r->status, status);
    if (status == S_OK)
        ck_assert_uint_gt(r->token, 0);
    else
        ck_assert_uint_eq(r->token, 0);
    return r->token;
}

static void expect_no_reply(int i)
{
    ck_assert_uint_eq(fx_unseen(&F, i), 0);
}

static void expect_gone(const char *name)
{
    ck_assert(!state(name).exists);
}

/* ------------------------------------------------------------------ basics */

START_TEST(test_acquire_takes_permits_until_zero_then_queues)
{
    uint64_t t1, t2;
    ck_assert_int_eq(sem_acquire(0, 1, "s", 2, false, 1, FX_FOREVER, &t1), S_OK);
    struct sem_state s = state("s");
    ck_assert(s.exists && !s.locked);
    ck_assert_uint_eq(s.counter, 1);
    ck_assert_uint_eq(s.held, 1);
    ck_assert_int_eq(sem_acquire(1, 1, "s", 2, false, 1, FX_FOREVER, &t2), S_OK);
    ck_assert_uint_gt(t2, t1);
    s = state("s");
    ck_assert(s.locked);
    ck_assert_uint_eq(s.counter, 0);
    ck_assert_int_eq(acq(2, 1, "s", 2, FX_FOREVER), S_PENDING);
    ck_assert_uint_eq(fx_stats(&F).semaphore_waiters, 1);
    ck_assert_int_eq(rel(0, "s", 2, false, 1), S_OK);
    expect_reply(2, 1, S_OK);
    ck_assert_int_eq(rel(1, "s", 2, false, 1), S_OK);
    ck_assert_int_eq(rel(2, "s", 2, false, 1), S_OK);
    expect_gone("s");
    ck_assert_uint_eq(fx_stats(&F).entry_bytes, 0);
}
END_TEST

/* engine_sem_session_holds (a cluster's check of a misrouted SemRelease): any number of
 * holders, under any owner, and nothing for others, unknown semaphores and bad names. */
START_TEST(test_session_holds_tells_a_holder_from_the_others)
{
    uint64_t t;
    const uint8_t *n = (const uint8_t *)"sh";
    ck_assert(!engine_sem_session_holds(F.ss[0].s, n, 2)); /* unknown */
    ck_assert_int_eq(sem_acquire(0, 1, "sh", 3, false, 7, FX_FOREVER, &t), S_OK);
    ck_assert_int_eq(sem_acquire(1, 1, "sh", 3, false, 1, FX_FOREVER, &t), S_OK);
    ck_assert(engine_sem_session_holds(F.ss[0].s, n, 2));
    ck_assert(engine_sem_session_holds(F.ss[1].s, n, 2));
    ck_assert(!engine_sem_session_holds(F.ss[2].s, n, 2));
    ck_assert(!engine_sem_session_holds(F.ss[0].s, (const uint8_t *)"", 0)); /* invalid name */
    ck_assert_int_eq(rel(0, "sh", 3, false, 7), S_OK);
    ck_assert(!engine_sem_session_holds(F.ss[0].s, n, 2));
    ck_assert(engine_sem_session_holds(F.ss[1].s, n, 2));
    ck_assert_int_eq(rel(1, "sh", 3, false, 1), S_OK);
    ck_assert(!engine_sem_session_holds(F.ss[1].s, n, 2));
}
END_TEST

START_TEST(test_grants_are_fifo_and_a_release_does_not_let_a_newcomer_barge)
{
    ck_assert_int_eq(acq(0, 1, "s", 1, FX_FOREVER), S_OK);
    for (int i = 1; i <= 4; i++)
        ck_assert_int_eq(acq(i, 1, "s", 1, FX_FOREVER), S_PENDING);
    for (int i = 1; i <= 4; i++) {
        /* The permit goes to the head within the release: a newcomer finds none free. */
        ck_assert_int_eq(rel(i - 1, "s", 1, false, 1), S_OK);
        expect_reply(i, 1, S_OK);
        ck_assert_int_eq(acq(5, (uint64_t)i, "s", 1, 0), S_TIMEOUT);
        for (int j = i + 1; j <= 4; j++)
            expect_no_reply(j);
    }
    ck_assert_int_eq(rel(4, "s", 1, false, 1), S_OK);
    expect_gone("s");
}
END_TEST

START_TEST(test_no_barging_while_anyone_waits_even_with_a_free_permit_counted)
{
    /* asyncio gh-90155: with waiters queued, a new acquire queues even if it could take one. */
    ck_assert_int_eq(acq(0, 1, "s", 2, FX_FOREVER), S_OK);
    ck_assert_int_eq(acq(0, 2, "s", 2, FX_FOREVER), S_OK);
    ck_assert_int_eq(acq(1, 1, "s", 2, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(acq(2, 1, "s", 2, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(rel(0, "s", 2, false, 1), S_OK);
    expect_reply(1, 1, S_OK);
    ck_assert_int_eq(acq(3, 1, "s", 2, 0), S_TIMEOUT);
    ck_assert_int_eq(rel(0, "s", 2, false, 1), S_OK);
    expect_reply(2, 1, S_OK);
    expect_no_reply(3);
    ck_assert_int_eq(rel(1, "s", 2, false, 1), S_OK);
    ck_assert_int_eq(rel(2, "s", 2, false, 1), S_OK);
    expect_gone("s");
}
END_TEST

START_TEST(test_try_once_times_out_at_once_and_leaves_nothing)
{
    ck_assert_int_eq(acq(0, 1, "s", 1, 0), S_OK);
    ck_assert_int_eq(acq(1, 1, "s", 1, 0), S_TIMEOUT);
    ck_assert_uint_eq(fx_stats(&F).semaphore_waiters, 0);
    ck_assert_uint_eq(fx_timers(&F), 0);
    ck_assert_int_eq(rel(0, "s", 1, false, 1), S_OK);
    expect_gone("s");
}
END_TEST

START_TEST(test_timeout_passes_exactly_at_its_deadline)
{
    ck_assert_int_eq(acq(0, 1, "s", 1, FX_FOREVER), S_OK);
    ck_assert_int_eq(acq(1, 7, "s", 1, 2.5), S_PENDING);
    ck_assert_int_eq(acq(2, 1, "s", 1, FX_FOREVER), S_PENDING);
    fx_advance(&F, 2.4999);
    expect_no_reply(1);
    fx_advance(&F, 0.0001);
    expect_reply(1, 7, S_TIMEOUT);
    ck_assert_uint_eq(fx_stats(&F).semaphore_waiters, 1);
    /* The timed-out waiter left no gap: the next permit goes to session 2. */
    ck_assert_int_eq(rel(0, "s", 1, false, 1), S_OK);
    expect_reply(2, 1, S_OK);
    ck_assert_int_eq(rel(2, "s", 1, false, 1), S_OK);
    expect_gone("s");
}
END_TEST

START_TEST(test_timed_acquire_granted_before_its_timeout_disarms_it)
{
    ck_assert_int_eq(acq(0, 1, "s", 1, FX_FOREVER), S_OK);
    ck_assert_int_eq(acq(1, 1, "s", 1, 10), S_PENDING);
    ck_assert_uint_eq(fx_timers(&F), 1);
    ck_assert_int_eq(rel(0, "s", 1, false, 1), S_OK);
    expect_reply(1, 1, S_OK);
    ck_assert_uint_eq(fx_timers(&F), 0);
    fx_advance(&F, 20);
    expect_no_reply(1);
    ck_assert_int_eq(rel(1, "s", 1, false, 1), S_OK);
}
END_TEST

START_TEST(test_another_value_or_kind_is_value_mismatch_with_no_effect)
{
    ck_assert_int_eq(acq(0, 1, "s", 3, FX_FOREVER), S_OK);
    ck_assert_int_eq(acq(1, 1, "s", 4, FX_FOREVER), ENGINE_VALUE_MISMATCH);
    ck_assert_int_eq(sem_acquire(1, 2, "s", 3, true, 1, FX_FOREVER, NULL), ENGINE_VALUE_MISMATCH);
    ck_assert_int_eq(rel(0, "s", 2, false, 1), ENGINE_VALUE_MISMATCH);
    ck_assert_int_eq(rel(0, "s", 3, true, 1), ENGINE_VALUE_MISMATCH);
    struct sem_state s = state("s");
    ck_assert_uint_eq(s.counter, 2);
    ck_assert_uint_eq(s.held, 1);
    /* What the mismatch's message quotes (dispatch_sem.c): the value and kind it exists with. */
    uint64_t value = 0;
    bool bounded = true;
    ck_assert(engine_sem_value(F.e, u8("s"), 1, &value, &bounded));
    ck_assert_uint_eq(value, 3);
    ck_assert(!bounded);
    ck_assert(!engine_sem_value(F.e, u8("t"), 1, &value, &bounded));
    ck_assert(!engine_sem_value(F.e, u8(""), 0, &value, &bounded));
    ck_assert_int_eq(rel(0, "s", 3, false, 1), S_OK);
    expect_gone("s");
    ck_assert(!engine_sem_value(F.e, u8("s"), 1, &value, &bounded));
    /* Gone, it can be created anew with another value. */
    ck_assert_int_eq(sem_acquire(1, 3, "s", 1, true, 1, 0, NULL), S_OK);
    ck_assert_int_eq(rel(1, "s", 1, true, 1), S_OK);
}
END_TEST

START_TEST(test_bad_names_and_values_are_bad_request)
{
    ck_assert_int_eq(acq(0, 1, "", 1, FX_FOREVER), S_BAD_REQUEST);
    ck_assert_int_eq(acq(0, 1, "a\nb", 1, FX_FOREVER), S_BAD_REQUEST);
    ck_assert_int_eq(acq(0, 1, "s", 0, FX_FOREVER), S_BAD_REQUEST);
    ck_assert_int_eq(acq(0, 1, "s", (uint64_t)ENGINE_SEM_VALUE_MAX + 1, FX_FOREVER), S_BAD_REQUEST);
    ck_assert_int_eq(acq(0, 1, "s", 1, -1), S_BAD_REQUEST);
    ck_assert_int_eq(rel(0, "s", 0, false, 1), S_BAD_REQUEST);
    ck_assert_int_eq(acq(0, 1, "big", ENGINE_SEM_VALUE_MAX, FX_FOREVER), S_OK);
    ck_assert_uint_eq(state("big").counter, ENGINE_SEM_VALUE_MAX - 1);
    ck_assert_int_eq(rel(0, "big", ENGINE_SEM_VALUE_MAX, false, 1), S_OK);
    ck_assert_int_eq(acq(0, 1, "s", 1, FX_FOREVER), S_OK);
    ck_assert_int_eq(acq(0, 2, "s", 1, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(acq(0, 2, "s", 1, FX_FOREVER), S_BAD_REQUEST); /* id pending */
    ck_assert_int_eq(fx_cancel(&F, 0, 2), S_OK);
    expect_reply(0, 2, S_CANCELLED);
    ck_assert_int_eq(rel(0, "s", 1, false, 1), S_OK);
    ck_assert_uint_eq(fx_stats(&F).semaphores, 0);
}
END_TEST

/* ------------------------------------------------------------------ release without acquire */

START_TEST(test_release_without_acquire_posts_a_permit)
{
    /* CPython test_release_not_acquired: a Semaphore's counter simply grows. */
    ck_assert_int_eq(rel(0, "s", 1, false, 1), S_OK);
    struct sem_state s = state("s");
    ck_assert(s.exists && !s.locked);
    ck_assert_uint_eq(s.counter, 2);
    ck_assert_uint_eq(s.held, 0);
    ck_assert_uint_eq(fx_stats(&F).semaphores, 1);
    ck_assert_int_eq(acq(1, 1, "s", 1, 0), S_OK);
    ck_assert_int_eq(acq(2, 1, "s", 1, 0), S_OK);
    ck_assert_int_eq(acq(3, 1, "s", 1, 0), S_TIMEOUT);
    /* Posted permits belong to nobody: the session that posted ends, they stay. */
    fx_close(&F, 0);
    ck_assert_int_eq(rel(1, "s", 1, false, 1), S_OK);
    ck_assert_int_eq(rel(2, "s", 1, false, 1), S_OK);
    ck_assert_uint_eq(state("s").counter, 2);
    /* Taking the posted permit brings the counter back to N: then it no longer exists. */
    ck_assert_int_eq(acq(3, 2, "s", 1, 0), S_OK);
    ck_assert_int_eq(acq(3, 3, "s", 1, 0), S_OK);
    ck_assert_int_eq(rel(3, "s", 1, false, 1), S_OK);
    ck_assert_uint_eq(state("s").counter, 1);
    ck_assert_int_eq(rel(4, "s", 1, false, 9), S_OK); /* a post by someone else */
    ck_assert_uint_eq(state("s").counter, 2);
    ck_assert_int_eq(rel(3, "s", 1, false, 1), S_OK);
    ck_assert_uint_eq(state("s").counter, 3);
}
END_TEST

START_TEST(test_a_post_wakes_the_queue_head)
{
    ck_assert_int_eq(acq(0, 1, "s", 1, FX_FOREVER), S_OK);
    ck_assert_int_eq(acq(1, 1, "s", 1, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(acq(2, 1, "s", 1, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(rel(3, "s", 1, false, 1), S_OK);
    expect_reply(1, 1, S_OK);
    expect_no_reply(2);
    ck_assert_uint_eq(state("s").held, 2);
}
END_TEST

START_TEST(test_bounded_release_without_acquire_is_refused_and_changes_nothing)
{
    /* CPython BoundedSemaphore: release() beyond the initial value raises ValueError. */
    const char *msg = NULL;
    ck_assert_int_eq(engine_sem_release(F.ss[0].s, u8("b"), 1, 2, true, 1, &msg), S_NOT_OWNER);
    ck_assert_str_eq(msg, "BoundedSemaphore released too many times");
    expect_gone("b");
    ck_assert_int_eq(sem_acquire(0, 1, "b", 2, true, 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(rel(1, "b", 2, true, 1), S_NOT_OWNER); /* another session */
    ck_assert_int_eq(rel(0, "b", 2, true, 2), S_NOT_OWNER); /* another owner */
    ck_assert_int_eq(rel(0, "b", 2, true, 1), S_OK);
    ck_assert_int_eq(rel(0, "b", 2, true, 1), S_NOT_OWNER);
    expect_gone("b");
}
END_TEST

/* ------------------------------------------------------------------ owners */

START_TEST(test_one_owner_may_hold_several_permits)
{
    uint64_t t1, t2;
    ck_assert_int_eq(sem_acquire(0, 1, "s", 3, false, 5, FX_FOREVER, &t1), S_OK);
    ck_assert_int_eq(sem_acquire(0, 2, "s", 3, false, 5, FX_FOREVER, &t2), S_OK);
    ck_assert_uint_gt(t2, t1);
    ck_assert_uint_eq(state("s").held, 2);
    ck_assert_uint_eq(fx_stats(&F).permits_held, 2);
    ck_assert_int_eq(rel(0, "s", 3, false, 5), S_OK);
    ck_assert_int_eq(rel(0, "s", 3, false, 5), S_OK);
    expect_gone("s");
    ck_assert_uint_eq(fx_stats(&F).permits_held, 0);
}
END_TEST

/* ------------------------------------------------------------------ session end */

START_TEST(test_session_end_returns_its_permits_to_waiters_in_fifo_order)
{
    ck_assert_int_eq(acq(0, 1, "s", 2, FX_FOREVER), S_OK);
    ck_assert_int_eq(acq(0, 2, "s", 2, FX_FOREVER), S_OK);
    ck_assert_int_eq(acq(1, 1, "s", 2, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(acq(2, 1, "s", 2, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(acq(3, 1, "s", 2, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(acq(0, 3, "s", 2, FX_FOREVER), S_PENDING); /* dropped, never granted */
    fx_close(&F, 0);
    expect_reply(1, 1, S_OK);
    expect_reply(2, 1, S_OK);
    expect_no_reply(3);
    ck_assert_uint_eq(state("s").held, 2);
    ck_assert_uint_eq(fx_stats(&F).semaphore_waiters, 1);
}
END_TEST

START_TEST(test_posted_permits_survive_the_session_end)
{
    ck_assert_int_eq(rel(0, "s", 1, false, 1), S_OK);
    ck_assert_int_eq(acq(0, 1, "s", 1, FX_FOREVER), S_OK);
    fx_close(&F, 0);
    ck_assert_uint_eq(state("s").counter, 2);
    ck_assert_uint_eq(state("s").held, 0);
}
END_TEST

static int reap_turns(void)
{
    int turns = 0;
    while (engine_reaping(F.e)) {
        fx_advance(&F, 0);
        ck_assert_int_lt(++turns, 10000);
    }
    return turns;
}

START_TEST(test_a_session_ending_with_many_permits_returns_them_in_steps)
{
    enum { N = 3000 };
    for (int k = 0; k < N; k++)
        ck_assert_int_eq(acq(0, (uint64_t)k + 1, "s", N, 0), S_OK);
    ck_assert_int_eq(acq(1, 1, "s", N, FX_FOREVER), S_PENDING);
    fx_close(&F, 0);
    ck_assert(engine_reaping(F.e));
    expect_reply(1, 1, S_OK); /* the first permit returned went to the waiter */
    ck_assert_uint_eq(fx_stats(&F).permits_held, N - ENGINE_REAP_BUDGET + 1);
    /* Other sessions are served between the steps (and newcomers still do not barge). */
    ck_assert_int_eq(acq(2, 1, "s", N, 0), S_OK);
    ck_assert_int_ge(reap_turns(), 1);
    struct sem_state s = state("s");
    ck_assert_uint_eq(s.held, 2);
    ck_assert_uint_eq(s.counter, N - 2);
}
END_TEST

START_TEST(test_an_ending_sessions_pending_acquire_granted_meanwhile_is_released_later)
{
    enum { N = 2000 };
    char name[32];
    for (int k = 0; k < N; k++) {
        snprintf(name, sizeof name, "q%d", k);
        ck_assert_int_eq(acq(1, (uint64_t)k + 1, name, 1, FX_FOREVER), S_OK);
        ck_assert_int_eq(acq(0, (uint64_t)k + 1, name, 1, FX_FOREVER), S_PENDING);
    }
    ck_assert_int_eq(acq(2, 1, "q0", 1, FX_FOREVER), S_PENDING);
    fx_close(&F, 0);
    ck_assert(engine_reaping(F.e));
    ck_assert_int_eq(rel(1, "q0", 1, false, 1), S_OK); /* granted to the ended session */
    expect_no_reply(2);
    reap_turns();
    expect_reply(2, 1, S_OK);
    ck_assert_uint_eq(state("q0").held, 1);
    ck_assert_uint_eq(fx_stats(&F).semaphore_waiters, 0);
}
END_TEST

/* ------------------------------------------------------------------ cancel and shutdown */

START_TEST(test_cancel_pending_acquire_answers_cancelled_once)
{
    ck_assert_int_eq(acq(0, 1, "s", 1, FX_FOREVER), S_OK);
    ck_assert_int_eq(acq(1, 1, "s", 1, 5), S_PENDING);
    ck_assert_int_eq(acq(2, 1, "s", 1, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_OK);
    expect_reply(1, 1, S_CANCELLED);
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_NOT_FOUND);
    fx_advance(&F, 10);
    expect_no_reply(1);
    ck_assert_int_eq(rel(0, "s", 1, false, 1), S_OK);
    expect_reply(2, 1, S_OK);
}
END_TEST

START_TEST(test_cancel_after_the_grant_is_not_found_and_the_grant_stands)
{
    ck_assert_int_eq(acq(0, 1, "s", 1, FX_FOREVER), S_OK);
    ck_assert_int_eq(acq(1, 1, "s", 1, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(rel(0, "s", 1, false, 1), S_OK);
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_NOT_FOUND);
    expect_reply(1, 1, S_OK);
    expect_no_reply(1);
    ck_assert_uint_eq(state("s").held, 1);
    ck_assert_int_eq(rel(1, "s", 1, false, 1), S_OK);
}
END_TEST

START_TEST(test_pending_limit_counts_sem_acquires)
{
    fx_fini(&F);
    struct engine_limits lim = {.max_pending_per_session = 2};
    fx_init(&F, &lim);
    fx_open(&F, 0);
    fx_open(&F, 1);
    ck_assert_int_eq(acq(0, 1, "s", 1, FX_FOREVER), S_OK);
    ck_assert_int_eq(acq(1, 1, "s", 1, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 1, 2, "l", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 0, 2, "l", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(acq(1, 3, "s", 1, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(acq(1, 4, "s", 1, FX_FOREVER), S_LIMIT_EXCEEDED);
}
END_TEST

/* Posted permits outlive every session, so the semaphores that have them are capped engine-wide
 * at the pending limit (as set events are): a post that would add one more is refused and changes
 * nothing; posts to one already counted, and releases of held permits, go on. */
START_TEST(test_semaphores_with_posted_permits_are_capped)
{
    fx_fini(&F);
    struct engine_limits lim = {.max_pending_per_session = 2};
    fx_init(&F, &lim);
    fx_open(&F, 0);
    fx_open(&F, 1);
    ck_assert_int_eq(rel(0, "a", 1, false, 1), S_OK);
    ck_assert_int_eq(rel(1, "b", 1, false, 1), S_OK);
    ck_assert_uint_eq(fx_stats(&F).semaphores_posted, 2);
    ck_assert_int_eq(rel(0, "c", 1, false, 1), S_LIMIT_EXCEEDED);
    expect_gone("c");
    /* One in use but never posted to: a post would make it a third. */
    ck_assert_int_eq(acq(0, 1, "d", 2, FX_FOREVER), S_OK);
    ck_assert_int_eq(rel(1, "d", 2, false, 7), S_LIMIT_EXCEEDED);
    ck_assert_uint_eq(state("d").counter, 1);
    ck_assert_int_eq(rel(0, "d", 2, false, 1), S_OK); /* the holder's own release */
    expect_gone("d");
    ck_assert_int_eq(rel(1, "a", 1, false, 1), S_OK);
    ck_assert_uint_eq(state("a").counter, 3);
    /* Sessions ending change nothing: the posted ones stay, and so does the count. */
    fx_close(&F, 0);
    fx_close(&F, 1);
    ck_assert_uint_eq(fx_stats(&F).semaphores, 2);
    ck_assert_uint_eq(fx_stats(&F).semaphores_posted, 2);
}
END_TEST

START_TEST(test_shutdown_answers_pending_sem_acquires)
{
    ck_assert_int_eq(acq(0, 1, "s", 1, FX_FOREVER), S_OK);
    ck_assert_int_eq(acq(1, 1, "s", 1, 5), S_PENDING);
    ck_assert_int_eq(acq(2, 1, "s", 1, FX_FOREVER), S_PENDING);
    engine_shutdown(F.e);
    expect_reply(1, 1, S_SHUTTING_DOWN);
    expect_reply(2, 1, S_SHUTTING_DOWN);
    ck_assert_int_eq(acq(3, 1, "s", 1, FX_FOREVER), S_SHUTTING_DOWN);
    ck_assert_uint_eq(fx_timers(&F), 0);
    ck_assert_int_eq(rel(0, "s", 1, false, 1), S_OK);
    expect_gone("s");
}
END_TEST

/* ------------------------------------------------------------------ List and Stats */

struct seen {
    int sems, holders;
    uint64_t permits;
    struct engine_sem_info last;
};

static void on_sem(void *arg, const struct engine_sem_info *si)
{
    struct seen *s = arg;
    s->sems++;
    s->last = *si;
    s->last.name = NULL;
}

static void on_holder(void *arg, const struct engine_sem_holder_info *hi)
{
    struct seen *s = arg;
    s->holders++;
    s->permits += hi->permits;
    ck_assert_uint_gt(hi->token, 0);
}

START_TEST(test_list_and_stats_show_semaphores_holders_and_waiters)
{
    ck_assert_int_eq(sem_acquire(0, 1, "pool/a", 2, true, 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(sem_acquire(0, 2, "pool/a", 2, true, 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(sem_acquire(1, 1, "pool/a", 2, true, 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(rel(2, "other", 1, false, 1), S_OK);
    struct seen s = {0};
    ck_assert(!engine_list_sems(F.e, u8("pool/"), 5, 10, on_sem, on_holder, &s));
    ck_assert_int_eq(s.sems, 1);
    ck_assert_int_eq(s.holders, 1);
    ck_assert_uint_eq(s.permits, 2);
    ck_assert_uint_eq(s.last.value, 2);
    ck_assert(s.last.bounded);
    ck_assert_uint_eq(s.last.counter, 0);
    ck_assert_uint_eq(s.last.waiters, 1);
    memset(&s, 0, sizeof s);
    ck_assert(engine_list_sems(F.e, NULL, 0, 1, on_sem, on_holder, &s));
    ck_assert_int_eq(s.sems, 1);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.semaphores, 2);
    ck_assert_uint_eq(st.permits_held, 2);
    ck_assert_uint_eq(st.semaphore_waiters, 1);
    ck_assert_uint_gt(st.entry_bytes, 0);
    fx_close(&F, 0);
    fx_close(&F, 1);
    st = fx_stats(&F);
    ck_assert_uint_eq(st.semaphores, 1); /* "other", with its posted permit */
    ck_assert_uint_eq(st.permits_held, 0);
    ck_assert_uint_eq(st.semaphore_waiters, 0);
}
END_TEST

static Suite *sem_suite(void)
{
    Suite *s = suite_create("engine semaphores");
    TCase *tc = tcase_create("sem");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_acquire_takes_permits_until_zero_then_queues);
    tcase_add_test(tc, test_session_holds_tells_a_holder_from_the_others);
    tcase_add_test(tc, test_grants_are_fifo_and_a_release_does_not_let_a_newcomer_barge);
    tcase_add_test(tc, test_no_barging_while_anyone_waits_even_with_a_free_permit_counted);
    tcase_add_test(tc, test_try_once_times_out_at_once_and_leaves_nothing);
    tcase_add_test(tc, test_timeout_passes_exactly_at_its_deadline);
    tcase_add_test(tc, test_timed_acquire_granted_before_its_timeout_disarms_it);
    tcase_add_test(tc, test_another_value_or_kind_is_value_mismatch_with_no_effect);
    tcase_add_test(tc, test_bad_names_and_values_are_bad_request);
    tcase_add_test(tc, test_release_without_acquire_posts_a_permit);
    tcase_add_test(tc, test_a_post_wakes_the_queue_head);
    tcase_add_test(tc, test_bounded_release_without_acquire_is_refused_and_changes_nothing);
    tcase_add_test(tc, test_one_owner_may_hold_several_permits);
    tcase_add_test(tc, test_session_end_returns_its_permits_to_waiters_in_fifo_order);
    tcase_add_test(tc, test_posted_permits_survive_the_session_end);
    tcase_add_test(tc, test_a_session_ending_with_many_permits_returns_them_in_steps);
    tcase_add_test(tc, test_an_ending_sessions_pending_acquire_granted_meanwhile_is_released_later);
    tcase_add_test(tc, test_cancel_pending_acquire_answers_cancelled_once);
    tcase_add_test(tc, test_cancel_after_the_grant_is_not_found_and_the_grant_stands);
    tcase_add_test(tc, test_pending_limit_counts_sem_acquires);
    tcase_add_test(tc, test_semaphores_with_posted_permits_are_capped);
    tcase_add_test(tc, test_shutdown_answers_pending_sem_acquires);
    tcase_add_test(tc, test_list_and_stats_show_semaphores_holders_and_waiters);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sem_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
