/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The engine's named locks (issue 3), driven directly without sockets: FIFO grants, no barging,
 * try and timed acquires, ownership errors, fencing tokens, cancel, session death, names and
 * timeouts, memory of idle locks, limits, shutdown, List and Stats.
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
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

/* The next reply of session i must be (req, status); returns its token. */
static uint64_t expect_reply(int i, uint64_t req, int status)
{
    const struct fx_reply *r = fx_next(&F, i);
    ck_assert_msg(r != NULL, "session %d: no reply (wanted req %llu)", i, (unsigned long long)req);
    ck_assert_uint_eq(r->req_id, req);
    ck_assert_int_eq(r->status, status);
    ck_assert_int_eq(r->op, ENGINE_OP_ACQUIRE);
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

static void expect_holder(const char *lock, uint64_t session_id, uint64_t owner)
{
    uint64_t sid, own;
    ck_assert(fx_holder(&F, lock, &sid, &own, NULL, NULL));
    ck_assert_uint_eq(sid, session_id);
    ck_assert_uint_eq(own, owner);
}

/* ------------------------------------------------------------------ grants and FIFO */

START_TEST(test_acquire_free_lock_is_granted_at_once)
{
    uint64_t tok = 0;
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "a", 7, FX_FOREVER, &tok), S_OK);
    ck_assert_uint_gt(tok, 0);
    ck_assert(fx_locked(&F, "a"));
    expect_holder("a", 1, 7);
    expect_no_reply(0);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.locks, 1);
    ck_assert_uint_eq(st.locks_held, 1);
    ck_assert_uint_eq(st.lock_waiters, 0);
    ck_assert_uint_eq(st.last_token, tok);
    ck_assert_int_eq(fx_release(&F, 0, "a", 7), S_OK);
    ck_assert(!fx_locked(&F, "a"));
    ck_assert_uint_eq(fx_stats(&F).locks, 0);
}
END_TEST

START_TEST(test_grants_in_fifo_order_with_late_arrivals)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_uint_eq(fx_stats(&F).lock_waiters, 2);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_reply(1, 1, S_OK);
    expect_no_reply(2);
    expect_holder("L", 2, 1);
    /* late arrivals queue behind session 2 */
    ck_assert_int_eq(fx_acquire(&F, 3, 1, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 0, 2, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);
    expect_reply(2, 1, S_OK);
    ck_assert_int_eq(fx_release(&F, 2, "L", 1), S_OK);
    expect_reply(3, 1, S_OK);
    ck_assert_int_eq(fx_release(&F, 3, "L", 1), S_OK);
    expect_reply(0, 2, S_OK);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    ck_assert_uint_eq(fx_stats(&F).locks, 0);
    for (int i = 0; i < 4; i++)
        expect_no_reply(i);
}
END_TEST

START_TEST(test_release_then_reacquire_does_not_barge)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    /* the release granted session 1 within the call */
    expect_reply(1, 1, S_OK);
    ck_assert_int_eq(fx_acquire(&F, 0, 2, "L", 1, FX_FOREVER, NULL), S_PENDING);
    /* a try-once re-acquire does not barge either */
    ck_assert_int_eq(fx_acquire(&F, 0, 3, "L", 2, 0, NULL), S_TIMEOUT);
    ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);
    expect_reply(0, 2, S_OK);
    expect_no_reply(0);
}
END_TEST

START_TEST(test_try_acquire_held_lock_times_out_at_once)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, 0, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "L", 1, 0, NULL), S_TIMEOUT);
    expect_no_reply(1);
    ck_assert_uint_eq(fx_stats(&F).lock_waiters, 0);
    /* the try left no pending request: its id is free and Cancel finds nothing */
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_NOT_FOUND);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_no_reply(1);
    ck_assert(!fx_locked(&F, "L"));
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "L", 1, 0, NULL), S_OK);
}
END_TEST

START_TEST(test_timed_acquire_that_fails_leaves_no_waiter)
{
    struct engine_stats base = fx_stats(&F);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 9, "L", 1, 0.02, NULL), S_PENDING);
    fx_advance(&F, 0.01);
    expect_no_reply(1); /* not before its time */
    fx_advance(&F, 0.01);
    expect_reply(1, 9, S_TIMEOUT); /* at its deadline exactly */
    ck_assert_uint_eq(fx_timers(&F), 0);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.lock_waiters, 0);
    ck_assert_uint_eq(st.locks, 1);
    uint64_t waiters = 99;
    fx_holder(&F, "L", NULL, NULL, NULL, &waiters);
    ck_assert_uint_eq(waiters, 0);
    ck_assert_int_eq(fx_cancel(&F, 1, 9), S_NOT_FOUND);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_no_reply(1);
    ck_assert(!fx_locked(&F, "L"));
    st = fx_stats(&F);
    ck_assert_uint_eq(st.locks, 0);
    ck_assert_uint_eq(st.entry_bytes, 0);
    ck_assert_uint_eq(st.table_bytes, base.table_bytes);
}
END_TEST

START_TEST(test_timed_acquire_granted_before_its_timeout)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "L", 1, 0.02, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "L", 1, 30, NULL), S_PENDING);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_reply(1, 1, S_OK);
    /* the granted request's timer is gone: nothing more arrives for it */
    ck_assert_uint_eq(fx_timers(&F), 1); /* session 2's */
    fx_advance(&F, 0.05);
    expect_no_reply(1);
    expect_no_reply(2);
    ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);
    expect_reply(2, 1, S_OK);
}
END_TEST

START_TEST(test_acquire_by_holding_owner_is_already_owner)
{
    uint64_t tok;
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, &tok), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 0, 2, "L", 1, FX_FOREVER, NULL), S_ALREADY_OWNER);
    ck_assert_int_eq(fx_acquire(&F, 0, 3, "L", 1, 0, NULL), S_ALREADY_OWNER);
    ck_assert_int_eq(fx_acquire(&F, 0, 4, "L", 1, 5, NULL), S_ALREADY_OWNER);
    uint64_t t2;
    fx_holder(&F, "L", NULL, NULL, &t2, NULL);
    ck_assert_uint_eq(t2, tok);
    ck_assert_uint_eq(fx_stats(&F).lock_waiters, 0);
    /* another owner handle of the same session is someone else */
    ck_assert_int_eq(fx_acquire(&F, 0, 5, "L", 2, FX_FOREVER, NULL), S_PENDING);
}
END_TEST

START_TEST(test_release_by_non_owner_is_not_owner)
{
    uint64_t tok;
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, &tok), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_NOT_OWNER); /* other session, same handle */
    ck_assert_int_eq(fx_release(&F, 0, "L", 2), S_NOT_OWNER); /* same session, other handle */
    ck_assert_int_eq(fx_release(&F, 2, "L", 1), S_NOT_OWNER); /* a waiter */
    uint64_t t2, waiters;
    ck_assert(fx_holder(&F, "L", NULL, NULL, &t2, &waiters));
    expect_holder("L", 1, 1);
    ck_assert_uint_eq(t2, tok);
    ck_assert_uint_eq(waiters, 1);
    expect_no_reply(2);
    /* a free or unknown lock */
    ck_assert_int_eq(fx_release(&F, 0, "free", 1), S_NOT_OWNER);
    ck_assert(!fx_locked(&F, "free"));
    ck_assert_uint_eq(fx_stats(&F).locks, 1);
    /* releasing twice */
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_reply(2, 1, S_OK);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_NOT_OWNER);
    expect_holder("L", 3, 1);
}
END_TEST

START_TEST(test_locked_reports_any_holder)
{
    ck_assert(!fx_locked(&F, "L"));
    ck_assert_int_eq(fx_acquire(&F, 3, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert(fx_locked(&F, "L"));
    ck_assert(!fx_locked(&F, "L2"));
    ck_assert_int_eq(fx_release(&F, 3, "L", 1), S_OK);
    ck_assert(!fx_locked(&F, "L"));
}
END_TEST

/* ------------------------------------------------------------------ tokens */

START_TEST(test_tokens_strictly_increase)
{
    uint64_t last = 0;
    for (int round = 0; round < 200; round++) {
        uint64_t tok;
        ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, &tok), S_OK);
        ck_assert_uint_gt(tok, last);
        last = tok;
        ck_assert_int_eq(fx_acquire(&F, 1, 2, "L", 1, FX_FOREVER, NULL), S_PENDING);
        ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
        tok = expect_reply(1, 2, S_OK);
        ck_assert_uint_gt(tok, last);
        last = tok;
        ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);
        /* tokens are global across locks */
        ck_assert_int_eq(fx_acquire(&F, 2, 3, "other", 1, FX_FOREVER, &tok), S_OK);
        ck_assert_uint_gt(tok, last);
        last = tok;
        ck_assert_int_eq(fx_release(&F, 2, "other", 1), S_OK);
    }
    ck_assert_uint_eq(fx_stats(&F).last_token, last);
    ck_assert_uint_gt(engine_next_token(F.e), last);
}
END_TEST

static void ignore_reply(void *ctx, const struct engine_reply *r)
{
    (void)ctx;
    (void)r;
}

static uint64_t wall_us(void)
{
    return clk_real_us();
}

START_TEST(test_tokens_increase_across_a_restart)
{
    /* Two engines one after the other stand for a daemon and its restarted successor. */
    uint64_t last = 0;
    for (int gen = 0; gen < 3; gen++) {
        struct engine *e = engine_new(&F.eclock, ignore_reply, NULL);
        ck_assert_ptr_nonnull(e);
        struct esession *s = engine_session_open(e, 1, "x", NULL);
        for (int k = 0; k < 1000; k++) {
            uint64_t tok;
            ck_assert_int_eq(engine_acquire(s, 1, (const uint8_t *)"L", 1, 1, NULL, &tok, NULL),
                             S_OK);
            ck_assert_uint_gt(tok, last);
            last = tok;
            ck_assert_int_eq(engine_release(s, (const uint8_t *)"L", 1, 1, NULL), S_OK);
        }
        engine_session_close(s);
        engine_free(e);
        /* A burst of grants can run ahead of the microsecond clock by its length; a real
         * restart takes far longer than that, which this wait stands for (a state to reach,
         * the clock passing the last token, not a fixed sleep). */
        while (wall_us() <= last)
            ;
    }
    /* and they track the wall clock (us since the epoch), which is what survives a restart */
    uint64_t now = wall_us();
    ck_assert_uint_gt(last, now - 60ull * 1000000u);
    ck_assert_uint_le(last, now);
    ck_assert_uint_lt(last, 1ull << 53); /* exact in JSON doubles */
}
END_TEST

/* ------------------------------------------------------------------ cancel and ids */

START_TEST(test_cancel_pending_acquire_answers_cancelled)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 5, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 2, 5, "L", 1, 30, NULL), S_PENDING);
    ck_assert_int_eq(fx_cancel(&F, 1, 5), S_OK);
    /* answered before Cancel returned */
    expect_reply(1, 5, S_CANCELLED);
    ck_assert_int_eq(fx_cancel(&F, 1, 5), S_NOT_FOUND);
    /* the same id in another session is another request */
    ck_assert_int_eq(fx_cancel(&F, 2, 5), S_OK);
    expect_reply(2, 5, S_CANCELLED);
    ck_assert_uint_eq(fx_stats(&F).lock_waiters, 0);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    ck_assert(!fx_locked(&F, "L"));
    ck_assert_uint_eq(fx_timers(&F), 0); /* the cancelled request's timer went with it */
    fx_advance(&F, 60);
    expect_no_reply(1);
    expect_no_reply(2);
}
END_TEST

START_TEST(test_cancel_after_grant_is_not_found_and_grant_stands)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 5, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_reply(1, 5, S_OK);
    ck_assert_int_eq(fx_cancel(&F, 1, 5), S_NOT_FOUND);
    expect_holder("L", 2, 1);
    expect_no_reply(1);
    /* an immediate grant is never pending either */
    ck_assert_int_eq(fx_cancel(&F, 0, 1), S_NOT_FOUND);
    ck_assert_int_eq(fx_cancel(&F, 3, 12345), S_NOT_FOUND);
}
END_TEST

START_TEST(test_duplicate_pending_request_id_is_bad_request)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "A", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 0, 2, "B", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 7, "A", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 1, 7, "B", 1, FX_FOREVER, NULL), S_BAD_REQUEST);
    ck_assert_int_eq(fx_acquire(&F, 1, 7, "C", 1, FX_FOREVER, NULL), S_BAD_REQUEST);
    ck_assert(!fx_locked(&F, "C"));
    ck_assert_int_eq(fx_wait(&F, 1, 7, "cv", "A", 1, FX_FOREVER), S_BAD_REQUEST);
    ck_assert_uint_eq(fx_stats(&F).lock_waiters, 1);
    /* once answered the id can be used again */
    ck_assert_int_eq(fx_release(&F, 0, "A", 1), S_OK);
    expect_reply(1, 7, S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 7, "B", 1, FX_FOREVER, NULL), S_PENDING);
    /* ids of immediate answers are not pending */
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "D", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "E", 1, FX_FOREVER, NULL), S_OK);
}
END_TEST

/* ------------------------------------------------------------------ session death */

START_TEST(test_holder_session_death_hands_lock_to_next_waiter)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "L", 1, FX_FOREVER, NULL), S_PENDING);
    fx_close(&F, 0);
    expect_reply(1, 1, S_OK);
    expect_holder("L", 2, 1);
    ck_assert_uint_eq(fx_stats(&F).sessions, 5);
}
END_TEST

START_TEST(test_dead_waiter_is_skipped)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "L", 1, 30, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 3, 1, "L", 1, FX_FOREVER, NULL), S_PENDING);
    fx_close(&F, 1);
    fx_close(&F, 2);
    ck_assert_uint_eq(fx_stats(&F).lock_waiters, 1);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_reply(3, 1, S_OK);
    ck_assert_uint_eq(fx_timers(&F), 0); /* the dead waiter's timer went with it */
    fx_advance(&F, 60);
    expect_no_reply(3);
}
END_TEST

START_TEST(test_holder_death_with_waiters_from_several_sessions)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L1", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 0, 2, "L2", 2, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 0, 3, "L3", 1, FX_FOREVER, NULL), S_OK);
    /* session 0 also waits for a lock held elsewhere */
    ck_assert_int_eq(fx_acquire(&F, 4, 1, "L4", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 0, 4, "L4", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "L1", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "L1", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 2, 2, "L2", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 3, 1, "L2", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 3, 2, "L1", 1, FX_FOREVER, NULL), S_PENDING);
    fx_close(&F, 0);
    expect_reply(1, 1, S_OK);
    expect_reply(2, 2, S_OK);
    expect_no_reply(2);
    expect_no_reply(3);
    expect_holder("L1", 2, 1);
    expect_holder("L2", 3, 1);
    ck_assert(!fx_locked(&F, "L3"));
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.locks, 3);
    ck_assert_uint_eq(st.lock_waiters, 3);
    ck_assert_int_eq(fx_release(&F, 1, "L1", 1), S_OK);
    expect_reply(2, 1, S_OK);
    ck_assert_int_eq(fx_release(&F, 2, "L1", 1), S_OK);
    expect_reply(3, 2, S_OK);
    ck_assert_int_eq(fx_release(&F, 2, "L2", 1), S_OK);
    expect_reply(3, 1, S_OK);
    /* the dead session's queued acquire of L4 is gone */
    ck_assert_int_eq(fx_release(&F, 4, "L4", 1), S_OK);
    ck_assert(!fx_locked(&F, "L4"));
}
END_TEST

START_TEST(test_two_owners_in_one_session_contend)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 0, 2, "L", 2, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 0, 3, "L", 2, 0, NULL), S_TIMEOUT);
    ck_assert_int_eq(fx_release(&F, 0, "L", 2), S_NOT_OWNER);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_reply(0, 2, S_OK);
    expect_holder("L", 1, 2);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_NOT_OWNER);
    /* an owner may have several acquires queued for one lock; holding is what counts */
    ck_assert_int_eq(fx_acquire(&F, 0, 4, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 0, 5, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_release(&F, 0, "L", 2), S_OK);
    expect_reply(1, 1, S_OK);
    ck_assert_int_eq(fx_release(&F, 1, "L", 1), S_OK);
    expect_reply(0, 4, S_OK);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_reply(0, 5, S_OK);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    ck_assert_uint_eq(fx_stats(&F).locks, 0);
}
END_TEST

/* ------------------------------------------------------------------ names and timeouts */

struct bad_name {
    const char *what;
    const char *bytes;
    size_t len;
};

static const struct bad_name bad_names[] = {
    {"empty", "", 0},
    {"NUL inside", "a\0b", 3},
    {"lone NUL", "\0", 1},
    {"C0 control", "a\x01", 2},
    {"newline", "a\nb", 3},
    {"tab", "\t", 1},
    {"escape", "\x1b[2J", 4},
    {"DEL", "a\x7f", 2},
    {"C1 U+0080", "\xc2\x80", 2},
    {"C1 U+009F", "x\xc2\x9f", 3},
    {"stray continuation", "\x80", 1},
    {"0xff", "a\xff", 2},
    {"0xfe", "\xfe", 1},
    {"truncated 2-byte", "\xc3", 1},
    {"truncated 3-byte", "\xe2\x82", 2},
    {"truncated 4-byte", "\xf0\x9f\x98", 3},
    {"bad continuation", "\xc3\x28", 2},
    {"overlong slash 2", "\xc0\xaf", 2},
    {"overlong 0xc1", "\xc1\xbf", 2},
    {"overlong slash 3", "\xe0\x80\xaf", 3},
    {"overlong 4", "\xf0\x80\x80\xaf", 4},
    {"overlong NUL", "\xc0\x80", 2},
    {"surrogate high", "\xed\xa0\x80", 3},
    {"surrogate low", "\xed\xbf\xbf", 3},
    {"above U+10FFFF", "\xf4\x90\x80\x80", 4},
    {"5-byte form", "\xf8\x88\x80\x80\x80", 5},
};

START_TEST(test_bad_names_are_bad_request)
{
    const struct bad_name *b = &bad_names[_i];
    const uint8_t *n = (const uint8_t *)b->bytes;
    ck_assert_msg(!engine_name_valid(n, b->len), "%s accepted", b->what);
    struct esession *s = F.ss[0].s;
    uint64_t tok;
    bool locked;
    uint64_t woken;
    ck_assert_int_eq(engine_acquire(s, 1, n, b->len, 1, NULL, &tok, NULL), S_BAD_REQUEST);
    ck_assert_int_eq(engine_release(s, n, b->len, 1, NULL), S_BAD_REQUEST);
    ck_assert_int_eq(engine_locked(F.e, n, b->len, &locked, NULL), S_BAD_REQUEST);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "ok", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(engine_wait(s, 2, n, b->len, (const uint8_t *)"ok", 2, 1, NULL, 0, NULL),
                     S_BAD_REQUEST);
    ck_assert_int_eq(engine_wait(s, 2, (const uint8_t *)"cv", 2, n, b->len, 1, NULL, 0, NULL),
                     S_BAD_REQUEST);
    ck_assert_int_eq(engine_notify(s, n, b->len, (const uint8_t *)"ok", 2, 1, 1, &woken, NULL),
                     S_BAD_REQUEST);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.locks, 1);
    ck_assert_uint_eq(st.conditions, 0);
    expect_no_reply(0);
}
END_TEST

START_TEST(test_name_length_limits)
{
    char name[ENGINE_NAME_MAX + 2];
    memset(name, 'n', sizeof name);
    name[ENGINE_NAME_MAX] = '\0';
    ck_assert_int_eq(fx_acquire(&F, 0, 1, name, 1, FX_FOREVER, NULL), S_OK);
    ck_assert(fx_locked(&F, name));
    ck_assert_int_eq(fx_release(&F, 0, name, 1), S_OK);
    name[ENGINE_NAME_MAX] = 'n';
    name[ENGINE_NAME_MAX + 1] = '\0';
    ck_assert_int_eq(fx_acquire(&F, 0, 2, name, 1, FX_FOREVER, NULL), S_BAD_REQUEST);
    /* 512 bytes of multi-byte characters (128 x U+1F512) */
    char emoji[ENGINE_NAME_MAX + 1];
    for (int k = 0; k < ENGINE_NAME_MAX; k += 4)
        memcpy(emoji + k, "\xf0\x9f\x94\x92", 4);
    emoji[ENGINE_NAME_MAX] = '\0';
    ck_assert_int_eq(fx_acquire(&F, 0, 3, emoji, 1, FX_FOREVER, NULL), S_OK);
    /* one byte cut off the end is a truncated character */
    ck_assert(!engine_name_valid((const uint8_t *)emoji, ENGINE_NAME_MAX - 1));
    ck_assert_int_eq(fx_acquire(&F, 0, 4, "x", 1, FX_FOREVER, NULL), S_OK);
}
END_TEST

START_TEST(test_valid_unicode_names_are_accepted)
{
    static const char *good[] = {
        "a",
        " ",
        "~",
        "lock/with spaces",
        "\xc2\xa0" /* U+00A0 after the C1 block */,
        "\xc3\xa9t\xc3\xa9",
        "\xe6\x97\xa5\xe6\x9c\xac",
        "\xef\xbf\xbd" /* U+FFFD */,
        "\xed\x9f\xbf" /* U+D7FF */,
        "\xee\x80\x80" /* U+E000 */,
        "\xf4\x8f\xbf\xbf" /* U+10FFFF */,
        "\xf0\x90\x80\x80" /* U+10000 */,
    };
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        ck_assert_msg(engine_name_valid((const uint8_t *)good[k], strlen(good[k])), "%zu", k);
        ck_assert_int_eq(fx_acquire(&F, 0, k, good[k], 1, FX_FOREVER, NULL), S_OK);
    }
    ck_assert_uint_eq(fx_stats(&F).locks, sizeof good / sizeof good[0]);
}
END_TEST

START_TEST(test_bad_timeouts_are_bad_request)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    const double bad[] = {-1, -0.001, -1e-300, NAN, -NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_int_eq(fx_acquire(&F, 1, 1, "L", 1, bad[k], NULL), S_BAD_REQUEST);
        ck_assert_int_eq(fx_acquire(&F, 1, 2, "free", 1, bad[k], NULL), S_BAD_REQUEST);
        ck_assert_int_eq(fx_wait(&F, 0, 3, "cv", "L", 1, bad[k]), S_BAD_REQUEST);
    }
    ck_assert(!fx_locked(&F, "free"));
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.lock_waiters, 0);
    ck_assert_uint_eq(st.conditions, 0);
    /* -0.0 is zero: try once */
    ck_assert_int_eq(fx_acquire(&F, 1, 4, "L", 1, -0.0, NULL), S_TIMEOUT);
    /* above 1e9 s is forever: queued, no timer fires */
    ck_assert_int_eq(fx_acquire(&F, 1, 5, "L", 1, 1e300, NULL), S_PENDING);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    expect_reply(1, 5, S_OK);
}
END_TEST

/* ------------------------------------------------------------------ memory, limits, shutdown */

START_TEST(test_idle_locks_take_no_memory)
{
    struct engine_stats base = fx_stats(&F);
    ck_assert_uint_eq(base.entry_bytes, 0);
    char name[64];
    for (int k = 0; k < 300; k++) {
        snprintf(name, sizeof name, "lock-%d", k);
        ck_assert_int_eq(fx_acquire(&F, k % 3, 1, name, 1, FX_FOREVER, NULL), S_OK);
        ck_assert_int_eq(fx_acquire(&F, 3, (uint64_t)k, name, 1, 0.5, NULL), S_PENDING);
        ck_assert_int_eq(fx_acquire(&F, 4, (uint64_t)k, name, 1, FX_FOREVER, NULL), S_PENDING);
    }
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.locks, 300);
    ck_assert_uint_eq(st.lock_waiters, 600);
    ck_assert_uint_gt(st.table_bytes, base.table_bytes);
    for (int k = 0; k < 300; k++) {
        snprintf(name, sizeof name, "lock-%d", k);
        ck_assert_int_eq(fx_release(&F, k % 3, name, 1), S_OK);
        ck_assert_int_eq(fx_cancel(&F, 4, (uint64_t)k), S_OK);
        ck_assert_int_eq(fx_release(&F, 3, name, 1), S_OK);
    }
    st = fx_stats(&F);
    ck_assert_uint_eq(st.locks, 0);
    ck_assert_uint_eq(st.locks_held, 0);
    ck_assert_uint_eq(st.lock_waiters, 0);
    ck_assert_uint_eq(st.entry_bytes, 0);
    ck_assert_uint_eq(st.table_bytes, base.table_bytes);
}
END_TEST

START_TEST(test_held_lock_entry_is_small)
{
    /* issue 8's goal: at most 200 bytes per held lock plus its name */
    struct engine_stats base = fx_stats(&F);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "0123456789", 1, FX_FOREVER, NULL), S_OK);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_le(st.entry_bytes - base.entry_bytes, 200 + 10);
}
END_TEST

START_TEST(test_pending_limit_per_session)
{
    struct engine_limits lim = {.max_pending_per_session = 2};
    engine_set_limits(F.e, &lim);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "A", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 0, 2, "B", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "A", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 1, 2, "B", 1, 10, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 1, 3, "A", 2, FX_FOREVER, NULL), S_LIMIT_EXCEEDED);
    /* an immediate grant is not pending and not limited */
    ck_assert_int_eq(fx_acquire(&F, 1, 4, "C", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_wait(&F, 1, 5, "cv", "C", 1, FX_FOREVER), S_LIMIT_EXCEEDED);
    ck_assert(fx_locked(&F, "C"));
    /* other sessions have their own budget */
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "A", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_cancel(&F, 1, 2), S_OK);
    expect_reply(1, 2, S_CANCELLED);
    ck_assert_int_eq(fx_acquire(&F, 1, 3, "A", 2, FX_FOREVER, NULL), S_PENDING);
    /* a lower limit leaves the pending requests alone */
    lim.max_pending_per_session = 1;
    engine_set_limits(F.e, &lim);
    ck_assert_uint_eq(fx_stats(&F).lock_waiters, 3);
    ck_assert_int_eq(fx_acquire(&F, 2, 2, "B", 1, FX_FOREVER, NULL), S_LIMIT_EXCEEDED);
}
END_TEST

START_TEST(test_shutdown_answers_every_pending_request)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "L", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "L", 1, 30, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 3, 1, "W", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_wait(&F, 3, 2, "cv", "W", 1, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 4, 1, "W", 1, FX_FOREVER, NULL), S_OK);
    engine_shutdown(F.e);
    expect_reply(1, 1, S_SHUTTING_DOWN);
    expect_reply(2, 1, S_SHUTTING_DOWN);
    const struct fx_reply *r = fx_next(&F, 3);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->op, ENGINE_OP_WAIT);
    ck_assert_uint_eq(r->req_id, 2);
    ck_assert_int_eq(r->status, S_SHUTTING_DOWN);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.lock_waiters, 0);
    ck_assert_uint_eq(st.condition_waiters, 0);
    ck_assert_uint_eq(st.conditions, 0);
    /* held locks stay held; new acquires and waits are refused */
    expect_holder("L", 1, 1);
    ck_assert_int_eq(fx_acquire(&F, 5, 1, "M", 1, FX_FOREVER, NULL), S_SHUTTING_DOWN);
    ck_assert_int_eq(fx_acquire(&F, 5, 2, "M", 1, 0, NULL), S_SHUTTING_DOWN);
    ck_assert_int_eq(fx_wait(&F, 0, 3, "cv", "L", 1, FX_FOREVER), S_SHUTTING_DOWN);
    ck_assert_int_eq(fx_release(&F, 0, "L", 1), S_OK);
    ck_assert(!fx_locked(&F, "L"));
    ck_assert_int_eq(fx_cancel(&F, 1, 1), S_NOT_FOUND);
    ck_assert_uint_eq(fx_timers(&F), 0);
    fx_advance(&F, 60);
    for (int i = 0; i < 6; i++)
        expect_no_reply(i);
}
END_TEST

/* ------------------------------------------------------------------ List and Stats */

struct list_acc {
    int locks, conds;
    int held;
};

static void acc_lock(void *arg, const struct engine_lock_info *li)
{
    struct list_acc *a = arg;
    a->locks++;
    if (li->held) {
        a->held++;
        ck_assert_str_eq(li->holder_client, "client-0");
        ck_assert_uint_eq(li->holder_session, 1);
        ck_assert_uint_gt(li->token, 0);
    }
}

static void acc_cond(void *arg, const struct engine_cond_info *ci)
{
    struct list_acc *a = arg;
    a->conds++;
    ck_assert_uint_eq(ci->lock_len, 3);
    ck_assert_int_eq(memcmp(ci->lock, "a/1", 3), 0);
    ck_assert_uint_eq(ci->waiters, 1);
}

START_TEST(test_list_filters_by_prefix_and_limits)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "a/1", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 0, 2, "a/2", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 0, 3, "a/3", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 0, 4, "b/1", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_wait(&F, 0, 5, "a/cv", "a/1", 1, FX_FOREVER), S_PENDING);
    struct list_acc a = {0};
    ck_assert(!engine_list(F.e, (const uint8_t *)"a/", 2, 10, acc_lock, acc_cond, &a));
    ck_assert_int_eq(a.locks, 2); /* a/1 is free while its owner waits */
    ck_assert_int_eq(a.conds, 1);
    memset(&a, 0, sizeof a);
    ck_assert(engine_list(F.e, (const uint8_t *)"a/", 2, 1, acc_lock, acc_cond, &a));
    ck_assert_int_eq(a.locks, 1);
    ck_assert_int_eq(a.conds, 1);
    memset(&a, 0, sizeof a);
    ck_assert(!engine_list(F.e, NULL, 0, 100, acc_lock, acc_cond, &a));
    ck_assert_int_eq(a.locks, 3);
    ck_assert_int_eq(a.held, 3);
    memset(&a, 0, sizeof a);
    ck_assert(!engine_list(F.e, (const uint8_t *)"zzz", 3, 100, acc_lock, acc_cond, &a));
    ck_assert_int_eq(a.locks + a.conds, 0);
}
END_TEST

START_TEST(test_stats_count_sessions_locks_and_waiters)
{
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.sessions, 6);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "A", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "A", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 1, 2, "B", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_wait(&F, 1, 3, "cv", "B", 1, FX_FOREVER), S_PENDING);
    st = fx_stats(&F);
    ck_assert_uint_eq(st.locks, 1);
    ck_assert_uint_eq(st.locks_held, 1);
    ck_assert_uint_eq(st.lock_waiters, 1);
    ck_assert_uint_eq(st.conditions, 1);
    ck_assert_uint_eq(st.condition_waiters, 1);
    ck_assert_uint_gt(st.entry_bytes, 0);
    ck_assert_uint_ge(st.table_bytes, st.entry_bytes);
    fx_close(&F, 1);
    st = fx_stats(&F);
    ck_assert_uint_eq(st.sessions, 5);
    ck_assert_uint_eq(st.lock_waiters, 0);
    ck_assert_uint_eq(st.conditions, 0);
    ck_assert_uint_eq(st.condition_waiters, 0);
}
END_TEST

/* ------------------------------------------------------------------ ending big sessions */

/* Turns the clock (by 0 s: the reaper's timer; the fake clock fires a timer re-armed at 0 s
 * within the same advance) until no ended session is left; returns how many advances. */
static int reap_turns(void)
{
    int turns = 0;
    while (engine_reaping(F.e)) {
        fx_advance(&F, 0);
        ck_assert_int_lt(++turns, 10000);
    }
    return turns;
}

START_TEST(test_a_session_ending_with_many_locks_hands_them_on_in_steps)
{
    enum { N = 5000 };
    char name[32];
    for (int k = 0; k < N; k++) {
        snprintf(name, sizeof name, "m%d", k);
        ck_assert_int_eq(fx_acquire(&F, 0, (uint64_t)k + 1, name, 1, FX_FOREVER, NULL), S_OK);
    }
    /* Its newest lock goes in the first step, its oldest in the last. */
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "m0", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "m4999", 1, FX_FOREVER, NULL), S_PENDING);
    fx_close(&F, 0);
    ck_assert_uint_eq(fx_stats(&F).sessions, 5);
    ck_assert(engine_reaping(F.e));
    expect_reply(2, 1, S_OK); /* within the close */
    expect_holder("m4999", F.ss[2].id, 1);
    expect_no_reply(1);
    expect_holder("m0", 1, 1); /* still listed under the ended session */
    /* Exactly one step's worth went: N - ENGINE_REAP_BUDGET left, plus m4999 now session 2's. */
    ck_assert_uint_eq(fx_stats(&F).locks_held, N - ENGINE_REAP_BUDGET + 1);
    /* Other sessions are served between the steps. */
    ck_assert_int_eq(fx_acquire(&F, 3, 1, "fresh", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 4, 1, "m0", 1, 0, NULL), S_TIMEOUT);
    ck_assert_int_ge(reap_turns(), 1);
    expect_reply(1, 1, S_OK);
    expect_holder("m0", F.ss[1].id, 1);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.locks_held, 3); /* m0, m4999, fresh */
    ck_assert_uint_eq(st.locks, 3);
    ck_assert_uint_eq(st.lock_waiters, 0);
    ck_assert_uint_eq(fx_timers(&F), 0);
}
END_TEST

START_TEST(test_an_ending_sessions_pending_acquire_is_never_answered)
{
    /* Session 0 queues more acquires than one step drops; when a lock it queued for is
     * released while it is being taken apart, the grant reaches nobody and the lock is
     * handed on to the next in line by a later step. */
    enum { N = 3000 };
    char name[32];
    for (int k = 0; k < N; k++) {
        snprintf(name, sizeof name, "q%d", k);
        ck_assert_int_eq(fx_acquire(&F, 1, (uint64_t)k + 1, name, 1, FX_FOREVER, NULL), S_OK);
        ck_assert_int_eq(fx_acquire(&F, 0, (uint64_t)k + 1, name, 1, FX_FOREVER, NULL), S_PENDING);
    }
    /* q0 is session 0's oldest request, dropped last; session 2 queues behind it. */
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "q0", 1, FX_FOREVER, NULL), S_PENDING);
    fx_close(&F, 0);
    ck_assert(engine_reaping(F.e));
    ck_assert_int_eq(fx_release(&F, 1, "q0", 1), S_OK); /* granted to the ended session */
    expect_no_reply(2);
    reap_turns();
    expect_reply(2, 1, S_OK);
    expect_holder("q0", F.ss[2].id, 1);
    ck_assert_uint_eq(fx_stats(&F).lock_waiters, 0);
    /* fx_fini checks that nothing was ever delivered to the closed session. */
}
END_TEST

static Suite *lock_suite(void)
{
    Suite *s = suite_create("engine locks");
    TCase *tc = tcase_create("locks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_acquire_free_lock_is_granted_at_once);
    tcase_add_test(tc, test_grants_in_fifo_order_with_late_arrivals);
    tcase_add_test(tc, test_release_then_reacquire_does_not_barge);
    tcase_add_test(tc, test_try_acquire_held_lock_times_out_at_once);
    tcase_add_test(tc, test_timed_acquire_that_fails_leaves_no_waiter);
    tcase_add_test(tc, test_timed_acquire_granted_before_its_timeout);
    tcase_add_test(tc, test_acquire_by_holding_owner_is_already_owner);
    tcase_add_test(tc, test_release_by_non_owner_is_not_owner);
    tcase_add_test(tc, test_locked_reports_any_holder);
    tcase_add_test(tc, test_tokens_strictly_increase);
    tcase_add_test(tc, test_tokens_increase_across_a_restart);
    tcase_add_test(tc, test_cancel_pending_acquire_answers_cancelled);
    tcase_add_test(tc, test_cancel_after_grant_is_not_found_and_grant_stands);
    tcase_add_test(tc, test_duplicate_pending_request_id_is_bad_request);
    tcase_add_test(tc, test_holder_session_death_hands_lock_to_next_waiter);
    tcase_add_test(tc, test_dead_waiter_is_skipped);
    tcase_add_test(tc, test_holder_death_with_waiters_from_several_sessions);
    tcase_add_test(tc, test_two_owners_in_one_session_contend);
    tcase_add_loop_test(tc, test_bad_names_are_bad_request, 0,
                        (int)(sizeof bad_names / sizeof bad_names[0]));
    tcase_add_test(tc, test_name_length_limits);
    tcase_add_test(tc, test_valid_unicode_names_are_accepted);
    tcase_add_test(tc, test_bad_timeouts_are_bad_request);
    tcase_add_test(tc, test_idle_locks_take_no_memory);
    tcase_add_test(tc, test_held_lock_entry_is_small);
    tcase_add_test(tc, test_pending_limit_per_session);
    tcase_add_test(tc, test_shutdown_answers_every_pending_request);
    tcase_add_test(tc, test_list_filters_by_prefix_and_limits);
    tcase_add_test(tc, test_stats_count_sessions_locks_and_waiters);
    tcase_add_test(tc, test_a_session_ending_with_many_locks_hands_them_on_in_steps);
    tcase_add_test(tc, test_an_ending_sessions_pending_acquire_is_never_answered);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lock_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
