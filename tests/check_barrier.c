/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The engine's named barriers (asyncio.Barrier over the network), driven directly on the fake
 * clock of engine_fixture.c. Cases follow CPython's asyncio BarrierTests where they make sense
 * (fill in one turn, indices, reuse across generations, reset and abort break the waiters, an
 * aborted barrier stays broken until reset) and add what the network adds: parties fixed on
 * first use (VALUE_MISMATCH), a waiter that times out, is cancelled or whose session ends leaves
 * without breaking the barrier and the indices stay unique, big sessions end in steps, shutdown,
 * the pending limit, the cap on broken barriers, memory, List and Stats.
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

/* ------------------------------------------------------------------ wrappers */

/* BarrierWait req of session i; timeout FX_FOREVER: absent. *index (may be NULL) gets the index
 * of an OK answered at once. Checks that the call does not answer its own request through the
 * callback. */
static int b_wait(int i, uint64_t req, const char *name, uint64_t parties, double timeout,
                  uint32_t *index)
{
    F.cur_s = &F.ss[i];
    F.cur_req = req;
    F.cur_active = true;
    uint32_t idx = 99;
    int st = engine_barrier_wait(F.ss[i].s, req, (const uint8_t *)name, strlen(name), parties,
                                 timeout == FX_FOREVER ? NULL : &timeout, &idx, NULL);
    F.cur_active = false;
    if (st != S_OK)
        ck_assert_uint_eq(idx, 0);
    if (index != NULL)
        *index = idx;
    return st;
}

static int b_reset(const char *name, uint64_t parties, uint64_t *broken)
{
    uint64_t n = 99;
    int st = engine_barrier_reset(F.e, (const uint8_t *)name, strlen(name), parties, &n, NULL);
    if (broken != NULL)
        *broken = n;
    return st;
}

static int b_abort(const char *name, uint64_t parties, uint64_t *broken)
{
    uint64_t n = 99;
    int st = engine_barrier_abort(F.e, (const uint8_t *)name, strlen(name), parties, &n, NULL);
    if (broken != NULL)
        *broken = n;
    return st;
}

static struct engine_barrier_info b_state(const char *name)
{
    struct engine_barrier_info info;
    ck_assert_int_eq(engine_barrier_state(F.e, (const uint8_t *)name, strlen(name), &info, NULL),
                     S_OK);
    return info;
}

/* The next reply of session i answers req with status (and index, when OK). */
static void expect_reply(int i, uint64_t req, int status, uint32_t index)
{
    const struct fx_reply *r = fx_next(&F, i);
    ck_assert_msg(r != NULL, "session %d: no reply (wanted %llu)", i, (unsigned long long)req);
    ck_assert_int_eq(r->op, ENGINE_OP_BARRIER_WAIT);
    ck_assert_uint_eq(r->req_id, req);
    ck_assert_int_eq(r->status, status);
    ck_assert_uint_eq(r->token, 0);
    ck_assert_uint_eq(r->index, status == S_OK ? index : 0);
}

static void expect_no_reply(int i)
{
    ck_assert_msg(fx_unseen(&F, i) == 0, "session %d has an unexpected reply", i);
}

/* ------------------------------------------------------------------ asyncio BarrierTests */

START_TEST(test_barrier_takes_no_memory_until_waited)
{
    struct engine_barrier_info info = b_state("B");
    ck_assert_ptr_null(info.name);
    ck_assert_uint_eq(info.parties, 0);
    uint64_t broken = 9;
    ck_assert_int_eq(b_reset("B", 0, &broken), S_OK);
    ck_assert_uint_eq(broken, 0);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.barriers, 0);
    ck_assert_uint_eq(st.entry_bytes, 0);
}
END_TEST

START_TEST(test_fill_answers_everyone_in_one_call_with_indices_in_arrival_order)
{
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(b_wait(i, 10 + (uint64_t)i, "B", 5, FX_FOREVER, NULL), S_PENDING);
    struct engine_barrier_info info = b_state("B");
    ck_assert_uint_eq(info.parties, 5);
    ck_assert_uint_eq(info.n_waiting, 4);
    ck_assert(!info.broken);
    ck_assert_uint_eq(fx_stats(&F).barrier_waiters, 4);
    for (int i = 0; i < 4; i++)
        expect_no_reply(i);
    uint32_t index = 0;
    ck_assert_int_eq(b_wait(4, 14, "B", 5, FX_FOREVER, &index), S_OK);
    ck_assert_uint_eq(index, 4);
    for (int i = 0; i < 4; i++)
        expect_reply(i, 10 + (uint64_t)i, S_OK, (uint32_t)i);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.barriers, 0);
    ck_assert_uint_eq(st.barrier_waiters, 0);
    ck_assert_uint_eq(st.entry_bytes, 0);
}
END_TEST

START_TEST(test_one_party_passes_at_once)
{
    uint32_t index = 9;
    ck_assert_int_eq(b_wait(0, 1, "B", 1, FX_FOREVER, &index), S_OK);
    ck_assert_uint_eq(index, 0);
    ck_assert_int_eq(b_wait(0, 2, "B", 1, 0, &index), S_OK);
    ck_assert_uint_eq(index, 0);
    ck_assert_uint_eq(fx_stats(&F).barriers, 0);
}
END_TEST

START_TEST(test_reuse_across_generations)
{
    for (uint64_t gen = 0; gen < 3; gen++) {
        ck_assert_int_eq(b_wait(1, 100 + gen, "B", 3, FX_FOREVER, NULL), S_PENDING);
        ck_assert_int_eq(b_wait(2, 100 + gen, "B", 3, 60, NULL), S_PENDING);
        uint32_t index = 0;
        ck_assert_int_eq(b_wait(3, 100 + gen, "B", 3, FX_FOREVER, &index), S_OK);
        ck_assert_uint_eq(index, 2);
        expect_reply(1, 100 + gen, S_OK, 0);
        expect_reply(2, 100 + gen, S_OK, 1);
        ck_assert_uint_eq(fx_timers(&F), 0);
    }
    /* a waiter of a later generation is not answered by an earlier fill */
    ck_assert_int_eq(b_wait(1, 200, "B", 3, FX_FOREVER, NULL), S_PENDING);
    expect_no_reply(1);
    ck_assert_uint_eq(b_state("B").n_waiting, 1);
}
END_TEST

START_TEST(test_reset_breaks_the_waiters_and_leaves_it_usable)
{
    ck_assert_int_eq(b_wait(1, 1, "B", 3, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(b_wait(2, 1, "B", 3, 30, NULL), S_PENDING);
    uint64_t broken = 0;
    ck_assert_int_eq(b_reset("B", 3, &broken), S_OK);
    ck_assert_uint_eq(broken, 2);
    expect_reply(1, 1, S_BROKEN, 0);
    expect_reply(2, 1, S_BROKEN, 0);
    ck_assert_uint_eq(fx_timers(&F), 0);
    ck_assert_uint_eq(fx_stats(&F).barriers, 0);
    /* usable again, from index 0 */
    ck_assert_int_eq(b_wait(1, 2, "B", 2, FX_FOREVER, NULL), S_PENDING);
    uint32_t index = 0;
    ck_assert_int_eq(b_wait(2, 2, "B", 2, FX_FOREVER, &index), S_OK);
    ck_assert_uint_eq(index, 1);
    expect_reply(1, 2, S_OK, 0);
}
END_TEST

START_TEST(test_abort_stays_broken_until_reset)
{
    ck_assert_int_eq(b_wait(1, 1, "B", 3, FX_FOREVER, NULL), S_PENDING);
    uint64_t broken = 0;
    ck_assert_int_eq(b_abort("B", 0, &broken), S_OK);
    ck_assert_uint_eq(broken, 1);
    expect_reply(1, 1, S_BROKEN, 0);
    struct engine_barrier_info info = b_state("B");
    ck_assert(info.broken);
    ck_assert_uint_eq(info.parties, 3);
    ck_assert_uint_eq(info.n_waiting, 0);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.barriers, 1);
    ck_assert_uint_eq(st.barriers_broken, 1);
    /* every new wait answers BROKEN at once, even one that would have filled it */
    ck_assert_int_eq(b_wait(2, 1, "B", 3, FX_FOREVER, NULL), S_BROKEN);
    ck_assert_int_eq(b_wait(2, 2, "B", 3, 0, NULL), S_BROKEN);
    expect_no_reply(2);
    /* aborting again: OK, nobody to break */
    ck_assert_int_eq(b_abort("B", 3, &broken), S_OK);
    ck_assert_uint_eq(broken, 0);
    ck_assert_int_eq(b_reset("B", 0, &broken), S_OK);
    ck_assert_uint_eq(broken, 0);
    st = fx_stats(&F);
    ck_assert_uint_eq(st.barriers, 0);
    ck_assert_uint_eq(st.barriers_broken, 0);
    ck_assert_uint_eq(st.entry_bytes, 0);
    ck_assert_int_eq(b_wait(2, 3, "B", 2, FX_FOREVER, NULL), S_PENDING);
}
END_TEST

START_TEST(test_abort_of_a_missing_barrier_needs_parties)
{
    ck_assert_int_eq(b_abort("B", 0, NULL), S_BAD_REQUEST);
    ck_assert_uint_eq(fx_stats(&F).barriers, 0);
    ck_assert_int_eq(b_abort("B", 4, NULL), S_OK);
    ck_assert(b_state("B").broken);
    ck_assert_int_eq(b_wait(0, 1, "B", 4, FX_FOREVER, NULL), S_BROKEN);
    ck_assert_int_eq(b_wait(0, 2, "B", 5, FX_FOREVER, NULL), S_VALUE_MISMATCH);
}
END_TEST

START_TEST(test_other_parties_are_refused_without_effect)
{
    ck_assert_int_eq(b_wait(1, 1, "B", 3, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(b_wait(2, 1, "B", 2, FX_FOREVER, NULL), S_VALUE_MISMATCH);
    ck_assert_int_eq(b_reset("B", 2, NULL), S_VALUE_MISMATCH);
    ck_assert_int_eq(b_abort("B", 2, NULL), S_VALUE_MISMATCH);
    struct engine_barrier_info info = b_state("B");
    ck_assert_uint_eq(info.n_waiting, 1);
    ck_assert(!info.broken);
    expect_no_reply(1);
    expect_no_reply(2);
}
END_TEST

START_TEST(test_bad_arguments_are_refused)
{
    double neg = -1;
    ck_assert_int_eq(b_wait(0, 1, "", 2, FX_FOREVER, NULL), S_BAD_REQUEST);
    ck_assert_int_eq(b_wait(0, 1, "B", 0, FX_FOREVER, NULL), S_BAD_REQUEST);
    ck_assert_int_eq(b_wait(0, 1, "B", ENGINE_BARRIER_PARTIES_MAX + 1ull, FX_FOREVER, NULL),
                     S_BAD_REQUEST);
    ck_assert_int_eq(b_wait(0, 1, "B", 2, neg, NULL), S_BAD_REQUEST);
    ck_assert_int_eq(b_wait(0, 1, "a\nb", 2, FX_FOREVER, NULL), S_BAD_REQUEST);
    ck_assert_int_eq(b_reset("", 0, NULL), S_BAD_REQUEST);
    ck_assert_int_eq(b_abort("B", ENGINE_BARRIER_PARTIES_MAX + 1ull, NULL), S_BAD_REQUEST);
    /* a request id already pending */
    ck_assert_int_eq(b_wait(0, 1, "B", 2, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(b_wait(0, 1, "C", 2, FX_FOREVER, NULL), S_BAD_REQUEST);
    ck_assert_int_eq(b_wait(1, 1, "D", ENGINE_BARRIER_PARTIES_MAX, 0, NULL), S_TIMEOUT);
}
END_TEST

/* ------------------------------------------------------------------ leaving */

START_TEST(test_timeout_leaves_without_breaking)
{
    ck_assert_int_eq(b_wait(1, 1, "B", 3, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(b_wait(2, 1, "B", 3, 5, NULL), S_PENDING);
    fx_advance(&F, 4.999);
    expect_no_reply(2);
    fx_advance(&F, 0.001);
    expect_reply(2, 1, S_TIMEOUT, 0);
    struct engine_barrier_info info = b_state("B");
    ck_assert_uint_eq(info.n_waiting, 1);
    ck_assert(!info.broken);
    /* the count went down: two more fill it, and the indices are 0..2 */
    ck_assert_int_eq(b_wait(3, 1, "B", 3, FX_FOREVER, NULL), S_PENDING);
    uint32_t index = 0;
    ck_assert_int_eq(b_wait(4, 1, "B", 3, FX_FOREVER, &index), S_OK);
    ck_assert_uint_eq(index, 2);
    expect_reply(1, 1, S_OK, 0);
    expect_reply(3, 1, S_OK, 1);
    expect_no_reply(1);
}
END_TEST

START_TEST(test_zero_timeout_only_passes_when_it_fills)
{
    ck_assert_int_eq(b_wait(1, 1, "B", 2, 0, NULL), S_TIMEOUT);
    ck_assert_uint_eq(fx_stats(&F).barriers, 0);
    ck_assert_int_eq(b_wait(1, 2, "B", 2, FX_FOREVER, NULL), S_PENDING);
    uint32_t index = 0;
    ck_assert_int_eq(b_wait(2, 1, "B", 2, 0, &index), S_OK);
    ck_assert_uint_eq(index, 1);
    expect_reply(1, 2, S_OK, 0);
    ck_assert_uint_eq(fx_timers(&F), 0);
}
END_TEST

START_TEST(test_cancel_leaves_without_breaking_and_indices_stay_unique)
{
    ck_assert_int_eq(b_wait(1, 1, "B", 3, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(b_wait(2, 1, "B", 3, 10, NULL), S_PENDING);
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_OK);
    expect_reply(1, 1, S_CANCELLED, 0);
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_NOT_FOUND);
    ck_assert(!b_state("B").broken);
    ck_assert_uint_eq(b_state("B").n_waiting, 1);
    ck_assert_int_eq(b_wait(3, 1, "B", 3, FX_FOREVER, NULL), S_PENDING);
    uint32_t index = 0;
    ck_assert_int_eq(b_wait(4, 1, "B", 3, FX_FOREVER, &index), S_OK);
    ck_assert_uint_eq(index, 2);
    expect_reply(2, 1, S_OK, 0);
    expect_reply(3, 1, S_OK, 1);
    ck_assert_uint_eq(fx_timers(&F), 0);
    /* cancel after the fill: the wait was answered, the cancel finds nothing */
    ck_assert_int_eq(fx_cancel(&F, 2, 1), S_NOT_FOUND);
    expect_no_reply(2);
}
END_TEST

START_TEST(test_session_end_drops_its_waiters_silently)
{
    ck_assert_int_eq(b_wait(1, 1, "B", 3, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(b_wait(2, 1, "B", 3, 5, NULL), S_PENDING);
    fx_close(&F, 2); /* the fixture fails the test on any reply to a closed session */
    ck_assert_uint_eq(b_state("B").n_waiting, 1);
    ck_assert(!b_state("B").broken);
    ck_assert_uint_eq(fx_timers(&F), 0);
    ck_assert_int_eq(b_wait(3, 1, "B", 3, FX_FOREVER, NULL), S_PENDING);
    uint32_t index = 0;
    ck_assert_int_eq(b_wait(4, 1, "B", 3, FX_FOREVER, &index), S_OK);
    ck_assert_uint_eq(index, 2);
    expect_reply(1, 1, S_OK, 0);
    expect_reply(3, 1, S_OK, 1);
}
END_TEST

START_TEST(test_a_big_session_is_dropped_in_steps)
{
    enum { N = 3000 };
    char name[32];
    for (int k = 0; k < N; k++) {
        snprintf(name, sizeof name, "b%d", k % 7);
        ck_assert_int_eq(b_wait(0, (uint64_t)k + 1, name, N, k % 2 ? 60 : FX_FOREVER, NULL),
                         S_PENDING);
    }
    ck_assert_int_eq(b_wait(1, 1, "b3", N, FX_FOREVER, NULL), S_PENDING);
    fx_close(&F, 0);
    ck_assert(engine_reaping(F.e));
    ck_assert_uint_gt(fx_stats(&F).barrier_waiters, 1);
    /* a reset meanwhile answers only the live waiter and counts only it */
    uint64_t broken = 0;
    ck_assert_int_eq(b_reset("b3", N, &broken), S_OK);
    ck_assert_uint_eq(broken, 1);
    expect_reply(1, 1, S_BROKEN, 0);
    int turns = 0;
    while (engine_reaping(F.e)) {
        fx_advance(&F, 0);
        ck_assert_int_lt(++turns, 100);
    }
    ck_assert_int_gt(turns, 0);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.barrier_waiters, 0);
    ck_assert_uint_eq(st.barriers, 0);
    ck_assert_uint_eq(st.entry_bytes, 0);
    ck_assert_uint_eq(fx_timers(&F), 0);
}
END_TEST

START_TEST(test_a_fill_skips_waiters_of_an_ended_session)
{
    enum { N = ENGINE_REAP_BUDGET + 10 };
    /* session 0's oldest wait is at B, and it has more waits than one reaper step takes (the
     * reaper drops the newest first), so that wait is still queued after the session ends */
    ck_assert_int_eq(b_wait(0, 999999, "B", 3, FX_FOREVER, NULL), S_PENDING);
    for (int k = 0; k < N; k++) {
        char name[32];
        snprintf(name, sizeof name, "q%d", k);
        ck_assert_int_eq(b_wait(0, 100000 + (uint64_t)k, name, 2, FX_FOREVER, NULL), S_PENDING);
    }
    fx_close(&F, 0);
    ck_assert(engine_reaping(F.e));
    ck_assert_uint_eq(b_state("B").n_waiting, 1); /* not reaped yet */
    ck_assert_int_eq(b_wait(1, 1, "B", 3, FX_FOREVER, NULL), S_PENDING);
    /* this would have filled it with the dead waiter: it is purged instead */
    ck_assert_int_eq(b_wait(2, 1, "B", 3, FX_FOREVER, NULL), S_PENDING);
    ck_assert_uint_eq(b_state("B").n_waiting, 2);
    uint32_t index = 0;
    ck_assert_int_eq(b_wait(3, 1, "B", 3, FX_FOREVER, &index), S_OK);
    ck_assert_uint_eq(index, 2);
    expect_reply(1, 1, S_OK, 0);
    expect_reply(2, 1, S_OK, 1);
    while (engine_reaping(F.e))
        fx_advance(&F, 0);
    ck_assert_uint_eq(fx_stats(&F).barriers, 0);
}
END_TEST

/* ------------------------------------------------------------------ shutdown and limits */

START_TEST(test_shutdown_answers_pending_waits)
{
    ck_assert_int_eq(b_wait(1, 1, "B", 3, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(b_wait(2, 1, "C", 3, 30, NULL), S_PENDING);
    ck_assert_int_eq(b_abort("D", 2, NULL), S_OK);
    engine_shutdown(F.e);
    expect_reply(1, 1, S_SHUTTING_DOWN, 0);
    expect_reply(2, 1, S_SHUTTING_DOWN, 0);
    ck_assert_uint_eq(fx_timers(&F), 0);
    ck_assert_int_eq(b_wait(3, 1, "B", 3, FX_FOREVER, NULL), S_SHUTTING_DOWN);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.barrier_waiters, 0);
    ck_assert_uint_eq(st.barriers, 1); /* D stays broken; engine_free frees it */
}
END_TEST

START_TEST(test_pending_waits_count_against_the_session_limit)
{
    fx_fini(&F);
    struct engine_limits lim = {.max_pending_per_session = 3};
    fx_init(&F, &lim);
    fx_open(&F, 0);
    fx_open(&F, 1);
    for (int k = 1; k <= 3; k++)
        ck_assert_int_eq(b_wait(0, (uint64_t)k, "B", 10, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(b_wait(0, 4, "B", 10, FX_FOREVER, NULL), S_LIMIT_EXCEEDED);
    ck_assert_int_eq(b_wait(1, 1, "B", 10, FX_FOREVER, NULL), S_PENDING);
    /* broken barriers are capped engine-wide at the same limit */
    ck_assert_int_eq(b_abort("x1", 1, NULL), S_OK);
    ck_assert_int_eq(b_abort("x2", 1, NULL), S_OK);
    ck_assert_int_eq(b_abort("x3", 1, NULL), S_OK);
    ck_assert_int_eq(b_abort("x4", 1, NULL), S_LIMIT_EXCEEDED);
    ck_assert_int_eq(b_abort("x3", 1, NULL), S_OK); /* already broken */
    ck_assert_uint_eq(fx_stats(&F).barriers_broken, 3);
}
END_TEST

/* ------------------------------------------------------------------ List and Stats */

struct seen {
    int n;
    uint64_t waiting;
    int broken;
};

static void on_barrier(void *arg, const struct engine_barrier_info *bi)
{
    struct seen *s = arg;
    s->n++;
    s->waiting += bi->n_waiting;
    s->broken += bi->broken;
}

START_TEST(test_list_and_stats_show_barriers)
{
    ck_assert_int_eq(b_wait(1, 1, "ab1", 3, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(b_wait(2, 1, "ab1", 3, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(b_wait(1, 2, "ab2", 2, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(b_abort("zz", 5, NULL), S_OK);
    struct seen s = {0};
    ck_assert(!engine_list_barriers(F.e, (const uint8_t *)"ab", 2, 10, on_barrier, &s));
    ck_assert_int_eq(s.n, 2);
    ck_assert_uint_eq(s.waiting, 3);
    ck_assert_int_eq(s.broken, 0);
    struct seen t = {0};
    ck_assert(engine_list_barriers(F.e, NULL, 0, 2, on_barrier, &t));
    ck_assert_int_eq(t.n, 2);
    struct seen u = {0};
    ck_assert(!engine_list_barriers(F.e, (const uint8_t *)"z", 1, 10, on_barrier, &u));
    ck_assert_int_eq(u.broken, 1);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.barriers, 3);
    ck_assert_uint_eq(st.barriers_broken, 1);
    ck_assert_uint_eq(st.barrier_waiters, 3);
    ck_assert_uint_gt(st.entry_bytes, 0);
}
END_TEST

static Suite *barrier_suite(void)
{
    Suite *s = suite_create("engine barriers");
    TCase *tc = tcase_create("barriers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_barrier_takes_no_memory_until_waited);
    tcase_add_test(tc, test_fill_answers_everyone_in_one_call_with_indices_in_arrival_order);
    tcase_add_test(tc, test_one_party_passes_at_once);
    tcase_add_test(tc, test_reuse_across_generations);
    tcase_add_test(tc, test_reset_breaks_the_waiters_and_leaves_it_usable);
    tcase_add_test(tc, test_abort_stays_broken_until_reset);
    tcase_add_test(tc, test_abort_of_a_missing_barrier_needs_parties);
    tcase_add_test(tc, test_other_parties_are_refused_without_effect);
    tcase_add_test(tc, test_bad_arguments_are_refused);
    tcase_add_test(tc, test_timeout_leaves_without_breaking);
    tcase_add_test(tc, test_zero_timeout_only_passes_when_it_fills);
    tcase_add_test(tc, test_cancel_leaves_without_breaking_and_indices_stay_unique);
    tcase_add_test(tc, test_session_end_drops_its_waiters_silently);
    tcase_add_test(tc, test_a_big_session_is_dropped_in_steps);
    tcase_add_test(tc, test_a_fill_skips_waiters_of_an_ended_session);
    tcase_add_test(tc, test_shutdown_answers_pending_waits);
    tcase_add_test(tc, test_pending_waits_count_against_the_session_limit);
    tcase_add_test(tc, test_list_and_stats_show_barriers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(barrier_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
