/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The engine's named events (asyncio.Event over the network), driven directly on the fake clock
 * of engine_fixture.c. Cases follow CPython's asyncio EventTests where they make sense (wait
 * when set, set wakes every waiter, clear, wait after clear, cancel, timeouts) and add what the
 * network adds: events are not owned, a waiter whose session ends is dropped silently (in steps
 * for big sessions), shutdown, the cap on remembered set events, memory, List and Stats.
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

static int ev_set(const char *name, uint64_t *woken)
{
    uint64_t w = 0;
    int st = engine_event_set(F.e, (const uint8_t *)name, strlen(name), &w, NULL);
    if (woken != NULL)
        *woken = w;
    return st;
}

static int ev_clear(const char *name)
{
    return engine_event_clear(F.e, (const uint8_t *)name, strlen(name), NULL);
}

static bool ev_is_set(const char *name)
{
    bool set = true;
    ck_assert_int_eq(engine_event_is_set(F.e, (const uint8_t *)name, strlen(name), &set, NULL),
                     S_OK);
    return set;
}

/* EventWait req of session i; timeout FX_FOREVER: absent. Checks, as the fixture's wrappers do,
 * that the call does not answer its own request through the callback. */
static int ev_wait(int i, uint64_t req, const char *name, double timeout)
{
    F.cur_s = &F.ss[i];
    F.cur_req = req;
    F.cur_active = true;
    int st = engine_event_wait(F.ss[i].s, req, (const uint8_t *)name, strlen(name),
                               timeout == FX_FOREVER ? NULL : &timeout, NULL);
    F.cur_active = false;
    return st;
}

static void expect_reply(int i, uint64_t req, int status)
{
    const struct fx_reply *r = fx_next(&F, i);
    ck_assert_msg(r != NULL, "session %d: no reply (wanted %llu)", i, (unsigned long long)req);
    ck_assert_int_eq(r->op, ENGINE_OP_EVENT_WAIT);
    ck_assert_uint_eq(r->req_id, req);
    ck_assert_int_eq(r->status, status);
    ck_assert_uint_eq(r->token, 0);
}

static void expect_no_reply(int i)
{
    ck_assert_msg(fx_unseen(&F, i) == 0, "session %d has an unexpected reply", i);
}

/* ------------------------------------------------------------------ asyncio EventTests */

START_TEST(test_event_starts_clear_and_takes_no_memory)
{
    ck_assert(!ev_is_set("E"));
    ck_assert_int_eq(ev_clear("E"), S_OK);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.events, 0);
    ck_assert_uint_eq(st.entry_bytes, 0);
}
END_TEST

START_TEST(test_wait_on_a_set_event_answers_at_once)
{
    uint64_t woken = 99;
    ck_assert_int_eq(ev_set("E", &woken), S_OK);
    ck_assert_uint_eq(woken, 0);
    ck_assert(ev_is_set("E"));
    ck_assert_int_eq(ev_wait(1, 1, "E", FX_FOREVER), S_OK);
    ck_assert_int_eq(ev_wait(1, 2, "E", 0), S_OK);
    ck_assert_int_eq(ev_wait(1, 3, "E", 5), S_OK);
    expect_no_reply(1);
    ck_assert_uint_eq(fx_stats(&F).event_waiters, 0);
    ck_assert_uint_eq(fx_timers(&F), 0);
}
END_TEST

START_TEST(test_set_wakes_every_waiter_with_the_count)
{
    for (int i = 1; i <= 5; i++)
        ck_assert_int_eq(ev_wait(i, 7, "E", FX_FOREVER), S_PENDING);
    ck_assert_int_eq(ev_wait(6, 7, "E", 30), S_PENDING);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.events, 1);
    ck_assert_uint_eq(st.events_set, 0);
    ck_assert_uint_eq(st.event_waiters, 6);
    uint64_t woken = 0;
    ck_assert_int_eq(ev_set("E", &woken), S_OK);
    ck_assert_uint_eq(woken, 6);
    for (int i = 1; i <= 6; i++)
        expect_reply(i, 7, S_OK);
    st = fx_stats(&F);
    ck_assert_uint_eq(st.event_waiters, 0);
    ck_assert_uint_eq(st.events_set, 1);
    ck_assert_uint_eq(fx_timers(&F), 0);
    /* the event stays set: a second set wakes nobody, a new wait answers at once */
    ck_assert_int_eq(ev_set("E", &woken), S_OK);
    ck_assert_uint_eq(woken, 0);
    ck_assert_int_eq(ev_wait(0, 1, "E", FX_FOREVER), S_OK);
}
END_TEST

START_TEST(test_clear_then_wait_waits_again)
{
    ck_assert_int_eq(ev_set("E", NULL), S_OK);
    ck_assert_int_eq(ev_clear("E"), S_OK);
    ck_assert(!ev_is_set("E"));
    ck_assert_int_eq(ev_wait(1, 1, "E", FX_FOREVER), S_PENDING);
    fx_advance(&F, 1000);
    expect_no_reply(1);
    ck_assert_int_eq(ev_clear("E"), S_OK); /* clearing a clear event leaves waiters waiting */
    expect_no_reply(1);
    uint64_t woken;
    ck_assert_int_eq(ev_set("E", &woken), S_OK);
    ck_assert_uint_eq(woken, 1);
    expect_reply(1, 1, S_OK);
}
END_TEST

START_TEST(test_a_woken_wait_answers_ok_even_if_cleared_at_once)
{
    /* asyncio: a waiter woken by set() returns True even when clear() runs before it resumes. */
    ck_assert_int_eq(ev_wait(1, 1, "E", FX_FOREVER), S_PENDING);
    ck_assert_int_eq(ev_set("E", NULL), S_OK);
    ck_assert_int_eq(ev_clear("E"), S_OK);
    expect_reply(1, 1, S_OK);
    ck_assert_uint_eq(fx_stats(&F).events, 0);
}
END_TEST

/* ------------------------------------------------------------------ timeouts */

START_TEST(test_timeout_passes_exactly)
{
    ck_assert_int_eq(ev_wait(1, 1, "E", 2.5), S_PENDING);
    fx_advance(&F, 2.499);
    expect_no_reply(1);
    fx_advance(&F, 0.001);
    expect_reply(1, 1, S_TIMEOUT);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.events, 0);
    ck_assert_uint_eq(st.event_waiters, 0);
    ck_assert_uint_eq(st.entry_bytes, 0);
}
END_TEST

START_TEST(test_zero_timeout_on_a_clear_event_answers_timeout_at_once)
{
    ck_assert_int_eq(ev_wait(1, 1, "E", 0), S_TIMEOUT);
    expect_no_reply(1);
    ck_assert_uint_eq(fx_stats(&F).events, 0);
    ck_assert_uint_eq(fx_timers(&F), 0);
}
END_TEST

START_TEST(test_set_before_the_timeout_answers_ok_and_disarms)
{
    ck_assert_int_eq(ev_wait(1, 1, "E", 10), S_PENDING);
    ck_assert_int_eq(ev_wait(2, 1, "E", FX_FOREVER), S_PENDING);
    fx_advance(&F, 9);
    ck_assert_int_eq(ev_set("E", NULL), S_OK);
    expect_reply(1, 1, S_OK);
    expect_reply(2, 1, S_OK);
    fx_advance(&F, 10);
    expect_no_reply(1);
    ck_assert_uint_eq(fx_timers(&F), 0);
}
END_TEST

START_TEST(test_bad_arguments_are_refused)
{
    double neg = -1;
    ck_assert_int_eq(ev_set("", NULL), S_BAD_REQUEST);
    ck_assert_int_eq(ev_clear("a\nb"), S_BAD_REQUEST);
    bool set;
    ck_assert_int_eq(engine_event_is_set(F.e, (const uint8_t *)"\xff", 1, &set, NULL),
                     S_BAD_REQUEST);
    ck_assert_int_eq(ev_wait(1, 1, "", FX_FOREVER), S_BAD_REQUEST);
    ck_assert_int_eq(ev_wait(1, 1, "E", neg), S_BAD_REQUEST);
    ck_assert_int_eq(ev_wait(1, 1, "E", FX_FOREVER), S_PENDING);
    ck_assert_int_eq(ev_wait(1, 1, "F", FX_FOREVER), S_BAD_REQUEST); /* id already pending */
    ck_assert_uint_eq(fx_stats(&F).events, 1);
}
END_TEST

/* ------------------------------------------------------------------ not owned, sessions */

START_TEST(test_any_session_may_set_and_clear)
{
    ck_assert_int_eq(ev_wait(1, 1, "E", FX_FOREVER), S_PENDING);
    ck_assert_int_eq(ev_set("E", NULL), S_OK);
    expect_reply(1, 1, S_OK);
    fx_close(&F, 0); /* nothing ties the set event to a session */
    ck_assert(ev_is_set("E"));
    ck_assert_int_eq(ev_clear("E"), S_OK);
    ck_assert(!ev_is_set("E"));
    ck_assert_uint_eq(fx_stats(&F).events, 0);
}
END_TEST

START_TEST(test_session_end_drops_its_waiters_silently)
{
    ck_assert_int_eq(ev_wait(1, 1, "E", FX_FOREVER), S_PENDING);
    ck_assert_int_eq(ev_wait(1, 2, "E", 5), S_PENDING);
    ck_assert_int_eq(ev_wait(2, 1, "E", FX_FOREVER), S_PENDING);
    fx_close(&F, 1); /* the fixture fails the test on any reply to a closed session */
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.event_waiters, 1);
    ck_assert_uint_eq(fx_timers(&F), 0);
    uint64_t woken;
    ck_assert_int_eq(ev_set("E", &woken), S_OK);
    ck_assert_uint_eq(woken, 1);
    expect_reply(2, 1, S_OK);
}
END_TEST

START_TEST(test_a_big_session_is_dropped_in_steps)
{
    enum { N = 3000 };
    char name[32];
    for (int k = 0; k < N; k++) {
        snprintf(name, sizeof name, "e%d", k % 7);
        ck_assert_int_eq(ev_wait(0, (uint64_t)k + 1, name, k % 2 ? 60 : FX_FOREVER), S_PENDING);
    }
    ck_assert_int_eq(ev_wait(1, 1, "e3", FX_FOREVER), S_PENDING);
    fx_close(&F, 0);
    ck_assert(engine_reaping(F.e));
    ck_assert_uint_lt(fx_stats(&F).event_waiters, N + 1);
    ck_assert_uint_gt(fx_stats(&F).event_waiters, 1);
    /* a set meanwhile answers only the live waiter and counts only it */
    uint64_t woken;
    ck_assert_int_eq(ev_set("e3", &woken), S_OK);
    ck_assert_uint_eq(woken, 1);
    expect_reply(1, 1, S_OK);
    int turns = 0;
    while (engine_reaping(F.e)) {
        fx_advance(&F, 0);
        ck_assert_int_lt(++turns, 100);
    }
    ck_assert_int_gt(turns, 0);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.event_waiters, 0);
    ck_assert_uint_eq(st.events, 1); /* e3, set */
    ck_assert_uint_eq(fx_timers(&F), 0);
}
END_TEST

/* ------------------------------------------------------------------ cancel and shutdown */

START_TEST(test_cancel_answers_cancelled_once)
{
    ck_assert_int_eq(ev_wait(1, 1, "E", 10), S_PENDING);
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_OK);
    expect_reply(1, 1, S_CANCELLED);
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_NOT_FOUND);
    ck_assert_uint_eq(fx_stats(&F).events, 0);
    ck_assert_uint_eq(fx_timers(&F), 0);
    fx_advance(&F, 20);
    expect_no_reply(1);
}
END_TEST

START_TEST(test_cancel_racing_a_set_gets_exactly_one_answer)
{
    /* set first: the wait is answered OK, the cancel finds nothing */
    ck_assert_int_eq(ev_wait(1, 1, "E", FX_FOREVER), S_PENDING);
    ck_assert_int_eq(ev_set("E", NULL), S_OK);
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_NOT_FOUND);
    expect_reply(1, 1, S_OK);
    expect_no_reply(1);
    /* cancel first: CANCELLED, and the set wakes nobody */
    ck_assert_int_eq(ev_clear("E"), S_OK);
    ck_assert_int_eq(ev_wait(1, 2, "E", FX_FOREVER), S_PENDING);
    ck_assert_int_eq(fx_cancel(&F, 1, 2), S_OK);
    uint64_t woken = 9;
    ck_assert_int_eq(ev_set("E", &woken), S_OK);
    ck_assert_uint_eq(woken, 0);
    expect_reply(1, 2, S_CANCELLED);
    expect_no_reply(1);
}
END_TEST

START_TEST(test_shutdown_answers_pending_waits)
{
    ck_assert_int_eq(ev_wait(1, 1, "E", FX_FOREVER), S_PENDING);
    ck_assert_int_eq(ev_wait(2, 1, "F", 30), S_PENDING);
    ck_assert_int_eq(ev_set("G", NULL), S_OK);
    engine_shutdown(F.e);
    expect_reply(1, 1, S_SHUTTING_DOWN);
    expect_reply(2, 1, S_SHUTTING_DOWN);
    ck_assert_uint_eq(fx_timers(&F), 0);
    ck_assert_int_eq(ev_wait(3, 1, "E", FX_FOREVER), S_SHUTTING_DOWN);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.event_waiters, 0);
    ck_assert_uint_eq(st.events, 1); /* G stays set; engine_free frees it */
}
END_TEST

/* ------------------------------------------------------------------ limits and memory */

START_TEST(test_pending_waits_count_against_the_session_limit)
{
    fx_fini(&F);
    struct engine_limits lim = {.max_pending_per_session = 3};
    fx_init(&F, &lim);
    fx_open(&F, 0);
    fx_open(&F, 1);
    for (int k = 1; k <= 3; k++)
        ck_assert_int_eq(ev_wait(0, (uint64_t)k, "E", FX_FOREVER), S_PENDING);
    ck_assert_int_eq(ev_wait(0, 4, "E", FX_FOREVER), S_LIMIT_EXCEEDED);
    ck_assert_int_eq(ev_wait(1, 1, "E", FX_FOREVER), S_PENDING);
}
END_TEST

START_TEST(test_set_events_are_capped_engine_wide)
{
    /* A flood of sets must not grow memory without bound: at most max_pending_per_session
     * events are set at once, whoever set them. */
    fx_fini(&F);
    struct engine_limits lim = {.max_pending_per_session = 3};
    fx_init(&F, &lim);
    fx_open(&F, 0);
    ck_assert_int_eq(ev_set("a", NULL), S_OK);
    ck_assert_int_eq(ev_set("b", NULL), S_OK);
    ck_assert_int_eq(ev_set("c", NULL), S_OK);
    ck_assert_int_eq(ev_set("c", NULL), S_OK); /* already set: no new memory */
    ck_assert_int_eq(ev_wait(0, 1, "d", FX_FOREVER), S_PENDING);
    uint64_t woken = 9;
    ck_assert_int_eq(ev_set("d", &woken), S_LIMIT_EXCEEDED);
    ck_assert_uint_eq(woken, 0);
    expect_no_reply(0); /* refused: nobody woken, nothing changed */
    ck_assert(!ev_is_set("d"));
    ck_assert_int_eq(ev_clear("a"), S_OK);
    ck_assert_int_eq(ev_set("d", &woken), S_OK);
    ck_assert_uint_eq(woken, 1);
    expect_reply(0, 1, S_OK);
    ck_assert_uint_eq(fx_stats(&F).events_set, 3);
}
END_TEST

START_TEST(test_memory_is_freed_when_clear_and_unwaited)
{
    struct engine_stats base = fx_stats(&F);
    char name[32];
    for (int k = 0; k < 200; k++) {
        snprintf(name, sizeof name, "ev-%d", k);
        ck_assert_int_eq(ev_wait(1, 1, name, FX_FOREVER), S_PENDING);
        ck_assert_int_eq(ev_wait(2, 1, name, 1), S_PENDING);
        ck_assert_int_eq(ev_set(name, NULL), S_OK);
        expect_reply(1, 1, S_OK);
        expect_reply(2, 1, S_OK);
        ck_assert_uint_gt(fx_stats(&F).entry_bytes, 0);
        ck_assert_int_eq(ev_clear(name), S_OK);
    }
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.events, 0);
    ck_assert_uint_eq(st.entry_bytes, 0);
    ck_assert_uint_eq(st.table_bytes, base.table_bytes);
}
END_TEST

/* ------------------------------------------------------------------ list and stats */

struct seen {
    int n;
    char names[8][16];
    bool set[8];
    uint64_t waiters[8];
};

static void on_event(void *arg, const struct engine_event_info *ei)
{
    struct seen *s = arg;
    ck_assert_int_lt(s->n, 8);
    snprintf(s->names[s->n], sizeof s->names[0], "%.*s", (int)ei->name_len, (const char *)ei->name);
    s->set[s->n] = ei->set;
    s->waiters[s->n] = ei->waiters;
    s->n++;
}

static int find(const struct seen *s, const char *name)
{
    for (int k = 0; k < s->n; k++)
        if (strcmp(s->names[k], name) == 0)
            return k;
    return -1;
}

START_TEST(test_list_and_stats_show_events)
{
    ck_assert_int_eq(ev_set("job.a", NULL), S_OK);
    ck_assert_int_eq(ev_wait(1, 1, "job.b", FX_FOREVER), S_PENDING);
    ck_assert_int_eq(ev_wait(2, 1, "job.b", FX_FOREVER), S_PENDING);
    ck_assert_int_eq(ev_set("other", NULL), S_OK);
    struct seen s = {0};
    ck_assert(!engine_list_events(F.e, (const uint8_t *)"job.", 4, 10, on_event, &s));
    ck_assert_int_eq(s.n, 2);
    int a = find(&s, "job.a"), b = find(&s, "job.b");
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(b, 0);
    ck_assert(s.set[a]);
    ck_assert_uint_eq(s.waiters[a], 0);
    ck_assert(!s.set[b]);
    ck_assert_uint_eq(s.waiters[b], 2);
    struct seen t = {0};
    ck_assert(engine_list_events(F.e, NULL, 0, 2, on_event, &t));
    ck_assert_int_eq(t.n, 2);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.events, 3);
    ck_assert_uint_eq(st.events_set, 2);
    ck_assert_uint_eq(st.event_waiters, 2);
}
END_TEST

static Suite *event_suite(void)
{
    Suite *s = suite_create("engine events");
    TCase *tc = tcase_create("events");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_event_starts_clear_and_takes_no_memory);
    tcase_add_test(tc, test_wait_on_a_set_event_answers_at_once);
    tcase_add_test(tc, test_set_wakes_every_waiter_with_the_count);
    tcase_add_test(tc, test_clear_then_wait_waits_again);
    tcase_add_test(tc, test_a_woken_wait_answers_ok_even_if_cleared_at_once);
    tcase_add_test(tc, test_timeout_passes_exactly);
    tcase_add_test(tc, test_zero_timeout_on_a_clear_event_answers_timeout_at_once);
    tcase_add_test(tc, test_set_before_the_timeout_answers_ok_and_disarms);
    tcase_add_test(tc, test_bad_arguments_are_refused);
    tcase_add_test(tc, test_any_session_may_set_and_clear);
    tcase_add_test(tc, test_session_end_drops_its_waiters_silently);
    tcase_add_test(tc, test_a_big_session_is_dropped_in_steps);
    tcase_add_test(tc, test_cancel_answers_cancelled_once);
    tcase_add_test(tc, test_cancel_racing_a_set_gets_exactly_one_answer);
    tcase_add_test(tc, test_shutdown_answers_pending_waits);
    tcase_add_test(tc, test_pending_waits_count_against_the_session_limit);
    tcase_add_test(tc, test_set_events_are_capped_engine_wide);
    tcase_add_test(tc, test_memory_is_freed_when_clear_and_unwaited);
    tcase_add_test(tc, test_list_and_stats_show_events);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(event_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
