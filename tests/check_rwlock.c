/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Shared (reader) locks in the engine (issue 13), on the fake clock: shared grants batched at the
 * head of the queue, strict FIFO across modes (no writer and no reader starvation), try-once,
 * timeouts and cancels of waiting readers and writers (and the readers a leaving writer lets in),
 * session death of a reader, Wait/Notify refused to shared holders, ALREADY_OWNER in either mode,
 * one fencing token per holder, the pending limit, shutdown, List and Stats.
 */
#include "config.h"

#include <check.h>
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

static const uint8_t *u8(const char *s)
{
    return (const uint8_t *)s;
}

/* The next reply of session i must be (req, status) of an Acquire; returns its token. */
static uint64_t expect_reply(int i, uint64_t req, int status)
{
    const struct fx_reply *r = fx_next(&F, i);
    ck_assert_msg(r != NULL, "session %d: no reply (wanted req %llu)", i, (unsigned long long)req);
    ck_assert_uint_eq(r->req_id, req);
    ck_assert_int_eq(r->status, status);
    if (status == S_OK)
        ck_assert_uint_gt(r->token, 0);
    return r->token;
}

static void expect_no_reply(int i)
{
    ck_assert_uint_eq(fx_unseen(&F, i), 0);
}

/* What List says about one lock, with its holders in the order List gives them. */
#define MAX_HOLDERS 16
struct lock_view {
    const char *name;
    bool found;
    struct engine_lock_info info;
    struct engine_lock_holder_info holders[MAX_HOLDERS];
    size_t nholders;
    bool mine; /* the last on_lock was this lock */
};

static void view_lock(void *arg, const struct engine_lock_info *li)
{
    struct lock_view *v = arg;
    v->mine = li->name_len == strlen(v->name) && memcmp(li->name, v->name, li->name_len) == 0;
    if (v->mine) {
        v->found = true;
        v->info = *li;
    }
}

static void view_holder(void *arg, const struct engine_lock_holder_info *hi)
{
    struct lock_view *v = arg;
    if (!v->mine)
        return;
    ck_assert_uint_lt(v->nholders, MAX_HOLDERS);
    v->holders[v->nholders++] = *hi;
}

static struct lock_view view(const char *name)
{
    struct lock_view v = {.name = name};
    engine_list_holders(F.e, u8(name), strlen(name), 1000, view_lock, view_holder, NULL, &v);
    return v;
}

static void expect_no_lock_left(void)
{
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.locks, 0);
    ck_assert_uint_eq(st.locks_held, 0);
    ck_assert_uint_eq(st.locks_shared, 0);
    ck_assert_uint_eq(st.shared_holders, 0);
    ck_assert_uint_eq(st.lock_waiters, 0);
    ck_assert_uint_eq(st.entry_bytes, 0);
}

/* ------------------------------------------------------------------ grants */

START_TEST(test_shared_acquires_are_granted_together_each_with_its_token)
{
    uint64_t t0 = 0, t1 = 0, t2 = 0;
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 1, "rw", 1, FX_FOREVER, &t0), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 1, 1, "rw", 1, FX_FOREVER, &t1), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 2, "rw", 2, 0, &t2), S_OK); /* another owner */
    ck_assert_uint_gt(t0, 0);
    ck_assert_uint_gt(t1, t0);
    ck_assert_uint_gt(t2, t1);
    ck_assert(fx_locked(&F, "rw"));
    struct lock_view v = view("rw");
    ck_assert(v.found && v.info.held && v.info.shared);
    ck_assert_uint_eq(v.info.nholders, 3);
    ck_assert_uint_eq(v.nholders, 3);
    /* grant order, and the old single-holder fields describe the oldest holder */
    ck_assert_uint_eq(v.holders[0].session_id, 1);
    ck_assert_uint_eq(v.holders[0].token, t0);
    ck_assert_uint_eq(v.holders[1].session_id, 2);
    ck_assert_uint_eq(v.holders[1].token, t1);
    ck_assert_uint_eq(v.holders[2].owner, 2);
    ck_assert_uint_eq(v.holders[2].token, t2);
    ck_assert_uint_eq(v.info.holder_session, 1);
    ck_assert_uint_eq(v.info.token, t0);
    struct engine_stats st = fx_stats(&F);
    ck_assert_uint_eq(st.locks, 1);
    ck_assert_uint_eq(st.locks_held, 1);
    ck_assert_uint_eq(st.locks_shared, 1);
    ck_assert_uint_eq(st.shared_holders, 3);
    /* the oldest leaves: the next one becomes the first holder */
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    v = view("rw");
    ck_assert_uint_eq(v.info.nholders, 2);
    ck_assert_uint_eq(v.info.holder_session, 2);
    ck_assert_uint_eq(v.info.token, t1);
    ck_assert_int_eq(fx_release(&F, 1, "rw", 1), S_OK);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 2), S_OK);
    ck_assert(!fx_locked(&F, "rw"));
    expect_no_lock_left();
}
END_TEST

START_TEST(test_exclusive_holder_shows_one_holder_and_not_shared)
{
    uint64_t t = 0;
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "x", 5, FX_FOREVER, &t), S_OK);
    struct lock_view v = view("x");
    ck_assert(v.info.held && !v.info.shared);
    ck_assert_uint_eq(v.info.nholders, 1);
    ck_assert_uint_eq(v.nholders, 1);
    ck_assert_uint_eq(v.holders[0].owner, 5);
    ck_assert_uint_eq(v.holders[0].token, t);
    ck_assert_uint_eq(fx_stats(&F).locks_shared, 0);
    ck_assert_int_eq(fx_release(&F, 0, "x", 5), S_OK);
    expect_no_lock_left();
}
END_TEST

START_TEST(test_readers_behind_a_writer_are_granted_as_one_batch)
{
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 2, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 3, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_uint_eq(fx_stats(&F).lock_waiters, 3);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    uint64_t tw = expect_reply(1, 1, S_OK);
    expect_no_reply(2);
    expect_no_reply(3);
    ck_assert(!view("rw").info.shared);
    ck_assert_int_eq(fx_release(&F, 1, "rw", 1), S_OK);
    uint64_t t2 = expect_reply(2, 1, S_OK);
    uint64_t t3 = expect_reply(3, 1, S_OK);
    ck_assert_uint_gt(t2, tw);
    ck_assert_uint_gt(t3, t2);
    struct lock_view v = view("rw");
    ck_assert(v.info.shared);
    ck_assert_uint_eq(v.info.nholders, 2);
    ck_assert_uint_eq(v.holders[0].session_id, 3);
    ck_assert_uint_eq(v.holders[1].session_id, 4);
    ck_assert_int_eq(fx_release(&F, 2, "rw", 1), S_OK);
    ck_assert_int_eq(fx_release(&F, 3, "rw", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

START_TEST(test_fifo_across_modes_with_a_writer_in_the_middle)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 1, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 2, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 3, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 4, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    expect_reply(1, 1, S_OK);
    expect_reply(2, 1, S_OK);
    expect_no_reply(3);
    expect_no_reply(4); /* behind the writer, though the lock is held shared */
    ck_assert_int_eq(fx_release(&F, 2, "rw", 1), S_OK);
    expect_no_reply(3); /* one reader still in */
    ck_assert_int_eq(fx_release(&F, 1, "rw", 1), S_OK);
    expect_reply(3, 1, S_OK);
    expect_no_reply(4);
    ck_assert_int_eq(fx_release(&F, 3, "rw", 1), S_OK);
    expect_reply(4, 1, S_OK);
    ck_assert_int_eq(fx_release(&F, 4, "rw", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

START_TEST(test_a_reader_stream_does_not_starve_a_writer)
{
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    /* readers keep arriving while the first one holds: every one queues behind the writer */
    for (int i = 2; i < 8; i++)
        ck_assert_int_eq(fx_acquire_shared(&F, i, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 2, "rw", 2, 0, NULL), S_TIMEOUT); /* try-once */
    ck_assert_uint_eq(view("rw").info.nholders, 1);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    expect_reply(1, 1, S_OK);
    for (int i = 2; i < 8; i++)
        expect_no_reply(i);
    ck_assert_int_eq(fx_release(&F, 1, "rw", 1), S_OK);
    for (int i = 2; i < 8; i++)
        expect_reply(i, 1, S_OK);
    ck_assert_uint_eq(view("rw").info.nholders, 6);
    for (int i = 2; i < 8; i++)
        ck_assert_int_eq(fx_release(&F, i, "rw", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

START_TEST(test_a_writer_stream_does_not_starve_a_reader)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 1, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    expect_reply(1, 1, S_OK); /* the reader came first */
    expect_no_reply(2);
    ck_assert_int_eq(fx_release(&F, 1, "rw", 1), S_OK);
    expect_reply(2, 1, S_OK);
    ck_assert_int_eq(fx_release(&F, 2, "rw", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

/* ------------------------------------------------------------------ try-once and timeouts */

START_TEST(test_try_once_shared_needs_no_writer_holding_or_waiting)
{
    /* free */
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 1, "rw", 1, 0, NULL), S_OK);
    /* held shared, nobody waiting */
    ck_assert_int_eq(fx_acquire_shared(&F, 1, 1, "rw", 1, 0, NULL), S_OK);
    /* held shared, a writer waiting: no barging past it */
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 3, 1, "rw", 1, 0, NULL), S_TIMEOUT);
    ck_assert_uint_eq(fx_stats(&F).lock_waiters, 1);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    ck_assert_int_eq(fx_release(&F, 1, "rw", 1), S_OK);
    expect_reply(2, 1, S_OK);
    /* held exclusively */
    ck_assert_int_eq(fx_acquire_shared(&F, 3, 2, "rw", 1, 0, NULL), S_TIMEOUT);
    /* try-once exclusive on a lock held shared */
    ck_assert_int_eq(fx_release(&F, 2, "rw", 1), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 3, 3, "rw", 1, 0, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 4, 1, "rw", 1, 0, NULL), S_TIMEOUT);
    ck_assert_uint_eq(fx_stats(&F).lock_waiters, 0);
    ck_assert_int_eq(fx_release(&F, 3, "rw", 1), S_OK);
    expect_no_lock_left();
    ck_assert_uint_eq(fx_timers(&F), 0);
}
END_TEST

START_TEST(test_timed_shared_acquire_times_out_and_leaves_no_waiter)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 1, 1, "rw", 1, 2.0, NULL), S_PENDING);
    ck_assert_uint_eq(fx_timers(&F), 1);
    fx_advance(&F, 1.999);
    expect_no_reply(1);
    fx_advance(&F, 0.001);
    expect_reply(1, 1, S_TIMEOUT);
    ck_assert_uint_eq(fx_timers(&F), 0);
    ck_assert_uint_eq(fx_stats(&F).lock_waiters, 0);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    expect_no_reply(1);
    expect_no_lock_left();
}
END_TEST

START_TEST(test_a_writer_timing_out_lets_the_readers_behind_it_in)
{
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "rw", 1, 1.0, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 2, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 3, 1, "rw", 1, 5.0, NULL), S_PENDING);
    fx_advance(&F, 1.0);
    expect_reply(1, 1, S_TIMEOUT);
    expect_reply(2, 1, S_OK);
    expect_reply(3, 1, S_OK);
    ck_assert_uint_eq(view("rw").info.nholders, 3);
    ck_assert_uint_eq(fx_timers(&F), 0);
    for (int i = 0; i < 4; i++)
        if (i != 1)
            ck_assert_int_eq(fx_release(&F, i, "rw", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

/* ------------------------------------------------------------------ cancel */

START_TEST(test_cancel_of_a_waiting_reader_answers_once)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 1, 7, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 2, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_cancel(&F, 1, 7), S_OK);
    expect_reply(1, 7, S_CANCELLED);
    ck_assert_int_eq(fx_cancel(&F, 1, 7), S_NOT_FOUND);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    expect_no_reply(1);
    expect_reply(2, 1, S_OK);
    /* a cancel after the grant: NOT_FOUND, the grant stands */
    ck_assert_int_eq(fx_cancel(&F, 2, 1), S_NOT_FOUND);
    ck_assert(fx_locked(&F, "rw"));
    ck_assert_int_eq(fx_release(&F, 2, "rw", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

START_TEST(test_cancel_of_a_waiting_writer_lets_the_readers_behind_it_in)
{
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 9, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 2, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 3, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 4, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_cancel(&F, 1, 9), S_OK);
    expect_reply(1, 9, S_CANCELLED);
    expect_reply(2, 1, S_OK); /* the reader after it joins the holder */
    expect_no_reply(3);       /* the next writer waits for both */
    expect_no_reply(4);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    ck_assert_int_eq(fx_release(&F, 2, "rw", 1), S_OK);
    expect_reply(3, 1, S_OK);
    ck_assert_int_eq(fx_release(&F, 3, "rw", 1), S_OK);
    expect_reply(4, 1, S_OK);
    ck_assert_int_eq(fx_release(&F, 4, "rw", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

/* ------------------------------------------------------------------ session end */

START_TEST(test_a_dead_readers_session_lets_the_writer_in)
{
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 2, "rw", 2, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 1, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 3, "other", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    fx_close(&F, 0); /* both of its shared holds go, and "other" is freed */
    ck_assert_uint_eq(view("rw").info.nholders, 1);
    ck_assert(!fx_locked(&F, "other"));
    expect_no_reply(2);
    fx_close(&F, 1);
    expect_reply(2, 1, S_OK);
    struct lock_view v = view("rw");
    ck_assert(!v.info.shared);
    ck_assert_uint_eq(v.info.holder_session, 3);
    ck_assert_int_eq(fx_release(&F, 2, "rw", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

START_TEST(test_a_dead_writers_pending_acquire_lets_readers_in)
{
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 2, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    fx_close(&F, 1);
    expect_reply(2, 1, S_OK);
    ck_assert_uint_eq(view("rw").info.nholders, 2);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    ck_assert_int_eq(fx_release(&F, 2, "rw", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

START_TEST(test_a_dead_sessions_pending_shared_acquire_is_never_answered)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 1, 1, "rw", 1, 3.0, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 2, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    fx_close(&F, 1);
    ck_assert_uint_eq(fx_timers(&F), 0);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    expect_reply(2, 1, S_OK);
    ck_assert_uint_eq(view("rw").info.nholders, 1);
    ck_assert_int_eq(fx_release(&F, 2, "rw", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

/* ------------------------------------------------------------------ ownership */

START_TEST(test_an_owner_holding_in_either_mode_gets_already_owner)
{
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 2, "rw", 1, FX_FOREVER, NULL), S_ALREADY_OWNER);
    ck_assert_int_eq(fx_acquire(&F, 0, 3, "rw", 1, FX_FOREVER, NULL),
                     S_ALREADY_OWNER); /* no
                                        * upgrade */
    ck_assert_int_eq(fx_acquire(&F, 0, 4, "rw", 1, 0, NULL), S_ALREADY_OWNER);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 0, 5, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 6, "rw", 1, FX_FOREVER, NULL),
                     S_ALREADY_OWNER); /* no downgrade */
    ck_assert_uint_eq(fx_stats(&F).lock_waiters, 0);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_NOT_OWNER);
    expect_no_lock_left();
}
END_TEST

START_TEST(test_release_by_a_non_holder_of_a_shared_lock_is_not_owner)
{
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 2), S_NOT_OWNER);
    ck_assert_int_eq(fx_release(&F, 1, "rw", 1), S_NOT_OWNER);
    ck_assert_uint_eq(view("rw").info.nholders, 1);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

START_TEST(test_wait_and_notify_by_a_shared_holder_are_not_owner)
{
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    const char *msg = NULL;
    double t = 1.0;
    ck_assert_int_eq(engine_wait(F.ss[0].s, 2, u8("c"), 1, u8("rw"), 2, 1, &t, 0, &msg),
                     S_NOT_OWNER);
    ck_assert_ptr_nonnull(msg);
    ck_assert_ptr_nonnull(strstr(msg, "exclusive"));
    uint64_t woken = 99;
    msg = NULL;
    ck_assert_int_eq(engine_notify(F.ss[0].s, u8("c"), 1, u8("rw"), 2, 1, 1, &woken, &msg),
                     S_NOT_OWNER);
    ck_assert_ptr_nonnull(strstr(msg, "exclusive"));
    ck_assert_uint_eq(woken, 0);
    msg = NULL;
    ck_assert_int_eq(engine_notify(F.ss[0].s, u8("c"), 1, u8("rw"), 2, 1, UINT64_MAX, &woken, &msg),
                     S_NOT_OWNER);
    ck_assert_ptr_nonnull(strstr(msg, "exclusive"));
    /* a non-holder still gets the old message */
    msg = NULL;
    ck_assert_int_eq(engine_notify(F.ss[1].s, u8("c"), 1, u8("rw"), 2, 1, 1, &woken, &msg),
                     S_NOT_OWNER);
    ck_assert_ptr_null(strstr(msg, "exclusive"));
    ck_assert_uint_eq(fx_stats(&F).conditions, 0);
    ck_assert_uint_eq(view("rw").info.nholders, 1); /* the hold is untouched */
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    expect_no_lock_left();
    ck_assert_uint_eq(fx_timers(&F), 0);
}
END_TEST

START_TEST(test_a_wait_reacquires_exclusively_behind_the_readers)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_wait(&F, 0, 2, "c", "rw", 1, 1.0), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 1, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 2, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    fx_advance(&F, 1.0); /* the wait times out and queues for the lock, exclusively */
    expect_no_reply(0);
    ck_assert_int_eq(fx_acquire_shared(&F, 3, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_release(&F, 1, "rw", 1), S_OK);
    expect_no_reply(0);
    ck_assert_int_eq(fx_release(&F, 2, "rw", 1), S_OK);
    const struct fx_reply *r = fx_next(&F, 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->op, ENGINE_OP_WAIT);
    ck_assert_int_eq(r->status, S_TIMEOUT);
    struct lock_view v = view("rw");
    ck_assert(v.info.held && !v.info.shared);
    ck_assert_uint_eq(v.info.holder_session, 1);
    expect_no_reply(3);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    expect_reply(3, 1, S_OK);
    ck_assert_int_eq(fx_release(&F, 3, "rw", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

/* ------------------------------------------------------------------ limits, shutdown */

START_TEST(test_pending_shared_acquires_count_against_the_session_limit)
{
    fx_fini(&F);
    struct engine_limits lim = {.max_pending_per_session = 2};
    fx_init(&F, &lim);
    fx_open(&F, 0);
    fx_open(&F, 1);
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 1, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 1, 2, "rw", 2, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 1, 3, "rw", 3, FX_FOREVER, NULL), S_LIMIT_EXCEEDED);
    ck_assert_int_eq(fx_acquire(&F, 1, 4, "rw", 4, FX_FOREVER, NULL), S_LIMIT_EXCEEDED);
    /* a shared grant at once is no pending request */
    ck_assert_int_eq(fx_acquire_shared(&F, 1, 5, "free", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    expect_reply(1, 1, S_OK);
    expect_reply(1, 2, S_OK);
    ck_assert_uint_eq(view("rw").info.nholders, 2);
    ck_assert_int_eq(fx_release(&F, 1, "rw", 1), S_OK);
    ck_assert_int_eq(fx_release(&F, 1, "rw", 2), S_OK);
    ck_assert_int_eq(fx_release(&F, 1, "free", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

START_TEST(test_shutdown_answers_pending_readers_and_grants_nothing)
{
    ck_assert_int_eq(fx_acquire_shared(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire(&F, 1, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire_shared(&F, 2, 1, "rw", 1, 10.0, NULL), S_PENDING);
    engine_shutdown(F.e);
    expect_reply(1, 1, S_SHUTTING_DOWN);
    expect_reply(2, 1, S_SHUTTING_DOWN);
    ck_assert_uint_eq(view("rw").info.nholders, 1);
    ck_assert_int_eq(fx_acquire_shared(&F, 3, 1, "rw", 1, FX_FOREVER, NULL), S_SHUTTING_DOWN);
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

static void visit_queued(void *arg, const struct engine_queued_info *qi)
{
    char *modes = arg;
    modes[strlen(modes)] = qi->shared ? 'S' : 'X';
}

START_TEST(test_queue_visit_marks_shared_acquires)
{
    ck_assert_int_eq(fx_acquire(&F, 0, 1, "rw", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_acquire_shared(&F, 1, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_int_eq(fx_acquire(&F, 2, 1, "rw", 1, FX_FOREVER, NULL), S_PENDING);
    ck_assert_uint_eq(view("rw").info.waiters, 2);
    char modes[8] = {0};
    ck_assert_uint_eq(engine_queue_visit(F.e, false, u8("rw"), 2, visit_queued, modes), 2);
    ck_assert_str_eq(modes, "SX");
    ck_assert_int_eq(fx_release(&F, 0, "rw", 1), S_OK);
    expect_reply(1, 1, S_OK);
    ck_assert_int_eq(fx_release(&F, 1, "rw", 1), S_OK);
    expect_reply(2, 1, S_OK);
    ck_assert_int_eq(fx_release(&F, 2, "rw", 1), S_OK);
    expect_no_lock_left();
}
END_TEST

static Suite *rwlock_suite(void)
{
    Suite *s = suite_create("rwlock");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_shared_acquires_are_granted_together_each_with_its_token);
    tcase_add_test(tc, test_exclusive_holder_shows_one_holder_and_not_shared);
    tcase_add_test(tc, test_readers_behind_a_writer_are_granted_as_one_batch);
    tcase_add_test(tc, test_fifo_across_modes_with_a_writer_in_the_middle);
    tcase_add_test(tc, test_a_reader_stream_does_not_starve_a_writer);
    tcase_add_test(tc, test_a_writer_stream_does_not_starve_a_reader);
    tcase_add_test(tc, test_try_once_shared_needs_no_writer_holding_or_waiting);
    tcase_add_test(tc, test_timed_shared_acquire_times_out_and_leaves_no_waiter);
    tcase_add_test(tc, test_a_writer_timing_out_lets_the_readers_behind_it_in);
    tcase_add_test(tc, test_cancel_of_a_waiting_reader_answers_once);
    tcase_add_test(tc, test_cancel_of_a_waiting_writer_lets_the_readers_behind_it_in);
    tcase_add_test(tc, test_a_dead_readers_session_lets_the_writer_in);
    tcase_add_test(tc, test_a_dead_writers_pending_acquire_lets_readers_in);
    tcase_add_test(tc, test_a_dead_sessions_pending_shared_acquire_is_never_answered);
    tcase_add_test(tc, test_an_owner_holding_in_either_mode_gets_already_owner);
    tcase_add_test(tc, test_release_by_a_non_holder_of_a_shared_lock_is_not_owner);
    tcase_add_test(tc, test_wait_and_notify_by_a_shared_holder_are_not_owner);
    tcase_add_test(tc, test_a_wait_reacquires_exclusively_behind_the_readers);
    tcase_add_test(tc, test_pending_shared_acquires_count_against_the_session_limit);
    tcase_add_test(tc, test_shutdown_answers_pending_readers_and_grants_nothing);
    tcase_add_test(tc, test_queue_visit_marks_shared_acquires);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rwlock_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
