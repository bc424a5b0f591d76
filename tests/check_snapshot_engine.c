/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The live restart's engine half (engine.h, "export and restore") on the fake clock, where
 * remaining timeouts can be checked exactly: a request with 3 s left when the engine is saved
 * has 3 s left in the restored engine (not a microsecond less, none more), for every kind of
 * request that can time out, and a wait whose timeout passed while it re-acquires answers
 * TIMEOUT with the lock. fx_save_load() (engine_fixture.c) does the export and the restore and
 * checks that every count in the stats came back. The randomized model (check_engine_random)
 * saves and restores at random points too; check_snapshot does the daemon half.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine_fixture.h"
#include "engine_internal.h" /* the slab a bulk-restored lock entry lives in */

static const uint8_t *u8(const char *s)
{
    return (const uint8_t *)s;
}

START_TEST(test_acquire_timeout_keeps_its_remaining_time)
{
    struct fx f;
    fx_init(&f, NULL);
    fx_open(&f, 0);
    fx_open(&f, 1);
    uint64_t t0;
    ck_assert_int_eq(fx_acquire(&f, 0, 1, "L", 1, FX_FOREVER, &t0), S_OK);
    ck_assert_int_eq(fx_acquire(&f, 1, 7, "L", 2, 5.0, NULL), S_PENDING);
    fx_advance(&f, 2.0); /* 3 s left */
    fx_save_load(&f);
    ck_assert_uint_eq(fx_timers(&f), 1);
    fx_advance(&f, 2.5);
    ck_assert_uint_eq(fx_unseen(&f, 1), 0);
    fx_advance(&f, 0.5);
    const struct fx_reply *r = fx_next(&f, 1);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->req_id, 7);
    ck_assert_int_eq(r->status, S_TIMEOUT);
    /* the holder is still the holder, with its token */
    uint64_t sid, owner, token, waiters;
    ck_assert(fx_holder(&f, "L", &sid, &owner, &token, &waiters));
    ck_assert_uint_eq(sid, 1);
    ck_assert_uint_eq(token, t0);
    ck_assert_uint_eq(waiters, 0);
    fx_fini(&f);
}
END_TEST

START_TEST(test_wait_timeout_and_reacquire_survive)
{
    struct fx f;
    fx_init(&f, NULL);
    fx_open(&f, 0);
    fx_open(&f, 1);
    ck_assert_int_eq(fx_acquire(&f, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_wait(&f, 0, 2, "C", "L", 1, 4.0), S_PENDING);
    uint64_t t1;
    ck_assert_int_eq(fx_acquire(&f, 1, 1, "L", 9, FX_FOREVER, &t1), S_OK);
    fx_advance(&f, 1.0);
    fx_save_load(&f);
    fx_advance(&f, 2.5); /* (halves: exact sums, so the deadline is met exactly) */
    ck_assert_uint_eq(fx_stats(&f).condition_waiters, 1);
    fx_advance(&f, 0.5); /* the wait's timeout passes: it queues for L, held by slot 1 */
    ck_assert_uint_eq(fx_stats(&f).condition_waiters, 0);
    ck_assert_uint_eq(fx_stats(&f).lock_waiters, 1);
    ck_assert_uint_eq(fx_unseen(&f, 0), 0);
    fx_save_load(&f); /* now it re-acquires, bound to answer TIMEOUT */
    ck_assert_uint_eq(fx_timers(&f), 0);
    ck_assert_int_eq(fx_release(&f, 1, "L", 9), S_OK);
    const struct fx_reply *r = fx_next(&f, 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->req_id, 2);
    ck_assert_int_eq(r->status, S_TIMEOUT);
    ck_assert_uint_gt(r->token, t1); /* holding L again, with a newer token */
    ck_assert(fx_locked(&f, "L"));
    fx_fini(&f);
}
END_TEST

START_TEST(test_notified_and_cancelled_waits_keep_their_status)
{
    struct fx f;
    fx_init(&f, NULL);
    fx_open(&f, 0);
    fx_open(&f, 1);
    fx_open(&f, 2);
    ck_assert_int_eq(fx_acquire(&f, 0, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_wait(&f, 0, 2, "C", "L", 1, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(fx_acquire(&f, 1, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    ck_assert_int_eq(fx_wait(&f, 1, 2, "C", "L", 1, FX_FOREVER), S_PENDING);
    ck_assert_int_eq(fx_acquire(&f, 2, 1, "L", 1, FX_FOREVER, NULL), S_OK);
    uint64_t woken;
    ck_assert_int_eq(fx_notify(&f, 2, "C", "L", 1, 1, &woken), S_OK); /* slot 0: notified */
    ck_assert_uint_eq(woken, 1);
    ck_assert_int_eq(fx_cancel(&f, 1, 2), S_OK); /* slot 1: cancelled, queues behind 0 */
    fx_save_load(&f);
    /* both re-acquire in L's queue, in that order: slot 0 answers OK (notified), slot 1
     * CANCELLED, each once it holds L */
    ck_assert_int_eq(fx_release(&f, 2, "L", 1), S_OK);
    const struct fx_reply *r = fx_next(&f, 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, S_OK);
    ck_assert_int_eq(fx_release(&f, 0, "L", 1), S_OK);
    r = fx_next(&f, 1);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, S_CANCELLED);
    ck_assert_int_eq(fx_release(&f, 1, "L", 1), S_OK);
    ck_assert(!fx_locked(&f, "L"));
    fx_fini(&f);
}
END_TEST

START_TEST(test_sem_event_barrier_timeouts_keep_their_remaining_time)
{
    struct fx f;
    fx_init(&f, NULL);
    fx_open(&f, 0);
    fx_open(&f, 1);
    const char *msg;
    uint64_t tok;
    double t3 = 3.0, t4 = 4.0, t5 = 5.0;
    ck_assert_int_eq(engine_sem_acquire(f.ss[0].s, 1, u8("S"), 1, 1, true, 1, NULL, &tok, &msg),
                     S_OK);
    ck_assert_int_eq(engine_sem_acquire(f.ss[1].s, 2, u8("S"), 1, 1, true, 1, &t3, &tok, &msg),
                     S_PENDING);
    ck_assert_int_eq(engine_event_wait(f.ss[1].s, 3, u8("E"), 1, &t4, &msg), S_PENDING);
    uint32_t idx;
    ck_assert_int_eq(engine_barrier_wait(f.ss[1].s, 4, u8("B"), 1, 2, &t5, &idx, &msg), S_PENDING);
    fx_advance(&f, 1.0);
    fx_save_load(&f);
    ck_assert_uint_eq(fx_timers(&f), 3);
    uint64_t want[] = {2, 3, 4};
    fx_advance(&f, 1.0);
    for (int i = 0; i < 3; i++) {
        fx_advance(&f, 0.5);
        ck_assert_uint_eq(fx_unseen(&f, 1), 0);
        fx_advance(&f, 0.5); /* the deadlines, 2, 3 and 4 s after the restore */
        const struct fx_reply *r = fx_next(&f, 1);
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->req_id, want[i]);
        ck_assert_int_eq(r->status, S_TIMEOUT);
    }
    /* the permit is still held by slot 0, the semaphore bounded: a second release is refused */
    ck_assert_int_eq(engine_sem_release(f.ss[0].s, u8("S"), 1, 1, true, 1, &msg), S_OK);
    ck_assert_int_eq(engine_sem_release(f.ss[0].s, u8("S"), 1, 1, true, 1, &msg), S_NOT_OWNER);
    fx_fini(&f);
}
END_TEST

/* The cap on semaphores with posted permits counts the restored ones (fx_save_load() checks the
 * count): a post to a new name is still refused after the restore, one to a counted name not. */
START_TEST(test_restored_posted_semaphores_count_against_the_cap)
{
    struct fx f;
    struct engine_limits lim = {.max_pending_per_session = 2};
    fx_init(&f, &lim);
    fx_open(&f, 0);
    const char *msg;
    uint64_t tok;
    ck_assert_int_eq(engine_sem_release(f.ss[0].s, u8("P"), 1, 1, false, 1, &msg), S_OK);
    ck_assert_int_eq(engine_sem_acquire(f.ss[0].s, 1, u8("Q"), 1, 2, false, 1, NULL, &tok, &msg),
                     S_OK);
    ck_assert_int_eq(engine_sem_release(f.ss[0].s, u8("Q"), 1, 2, false, 9, &msg), S_OK);
    ck_assert_uint_eq(fx_stats(&f).semaphores_posted, 2);
    fx_save_load(&f);
    ck_assert_uint_eq(fx_stats(&f).semaphores_posted, 2);
    ck_assert_int_eq(engine_sem_release(f.ss[0].s, u8("R"), 1, 1, false, 1, &msg),
                     S_LIMIT_EXCEEDED);
    ck_assert_int_eq(engine_sem_release(f.ss[0].s, u8("P"), 1, 1, false, 1, &msg), S_OK);
    fx_fini(&f);
}
END_TEST

START_TEST(test_restored_tokens_exceed_the_saved_ones)
{
    struct fx f;
    fx_init(&f, NULL);
    fx_open(&f, 0);
    uint64_t last = 0, t;
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof name, "L%d", i);
        ck_assert_int_eq(fx_acquire(&f, 0, 1, name, 1, FX_FOREVER, &t), S_OK);
        ck_assert_uint_gt(t, last);
        last = t;
    }
    fx_save_load(&f);
    ck_assert_uint_ge(fx_stats(&f).last_token, last);
    ck_assert_int_eq(fx_acquire(&f, 0, 1, "new", 1, FX_FOREVER, &t), S_OK);
    ck_assert_uint_gt(t, last);
    uint64_t sid, owner, token, waiters;
    ck_assert(fx_holder(&f, "L99", &sid, &owner, &token, &waiters));
    ck_assert_uint_eq(token, last);
    fx_fini(&f);
}
END_TEST

START_TEST(test_restore_refuses_inconsistent_input)
{
    struct fx f;
    fx_init(&f, NULL);
    fx_open(&f, 0);
    fx_open(&f, 1);
    struct engine *e2 = engine_new_like(f.e);
    ck_assert_ptr_nonnull(e2);
    struct esession *a = engine_session_open(e2, 1, "a", &f.ss[0]);
    struct esession *b = engine_session_open(e2, 2, "b", &f.ss[1]);
    const char *why = NULL;
    struct engine_obj bad = {.kind = ENGINE_OBJ_LOCK, .name = u8("\x01"), .name_len = 1};
    ck_assert_int_eq(engine_restore_object(e2, &bad, &why), S_BAD_REQUEST);
    ck_assert_ptr_nonnull(why);
    struct engine_obj l = {.kind = ENGINE_OBJ_LOCK, .name = u8("L"), .name_len = 1};
    ck_assert_int_eq(engine_restore_object(e2, &l, &why), S_OK);
    ck_assert_int_eq(engine_restore_object(e2, &l, &why), S_BAD_REQUEST); /* twice */
    struct engine_obj_hold h = {.owner = 1, .token = 10, .permits = 1};
    ck_assert_int_eq(engine_restore_hold(a, &l, false, &h, &why), S_OK);
    ck_assert_int_eq(engine_restore_hold(b, &l, false, &h, &why), S_BAD_REQUEST);
    struct engine_obj_hold h0 = {.owner = 1, .token = 0, .permits = 1};
    ck_assert_int_eq(engine_restore_hold(b, &l, true, &h0, &why), S_BAD_REQUEST);
    struct engine_obj_pending p = {.req_id = 5, .owner = 2, .op = ENGINE_OP_ACQUIRE};
    ck_assert_int_eq(engine_restore_pending(b, &l, &p, &why), S_OK);
    ck_assert_int_eq(engine_restore_pending(b, &l, &p, &why), S_BAD_REQUEST); /* id twice */
    p.req_id = 6;
    p.op = ENGINE_OP_SEM_ACQUIRE; /* not a lock's */
    ck_assert_int_eq(engine_restore_pending(b, &l, &p, &why), S_BAD_REQUEST);
    p.op = ENGINE_OP_WAIT; /* re-acquiring, of a condition not restored */
    p.cond = u8("C");
    p.cond_len = 1;
    ck_assert_int_eq(engine_restore_pending(b, &l, &p, &why), S_BAD_REQUEST);
    p.op = ENGINE_OP_ACQUIRE;
    p.timed = true;
    p.remaining_s = -1;
    ck_assert_int_eq(engine_restore_pending(b, &l, &p, &why), S_BAD_REQUEST);
    ck_assert_int_eq(engine_restore_check(e2, &why), S_OK);
    /* a lock with a queue and nobody holding it */
    struct engine_obj l2 = {.kind = ENGINE_OBJ_LOCK, .name = u8("M"), .name_len = 1};
    ck_assert_int_eq(engine_restore_object(e2, &l2, &why), S_OK);
    p.timed = false;
    p.req_id = 7;
    ck_assert_int_eq(engine_restore_pending(b, &l2, &p, &why), S_OK);
    ck_assert_int_eq(engine_restore_check(e2, &why), S_BAD_REQUEST);
    ck_assert_str_eq(why, "a lock without holder");
    /* refused: the half-built engine goes, silently and without a leak (ASan) */
    engine_free(e2);
    ck_assert_int_eq(f.violations, 0);
    ck_assert_uint_eq(fx_unseen(&f, 0) + fx_unseen(&f, 1), 0);
    fx_fini(&f);
}
END_TEST

/* Whether the page at p is mapped (msync says ENOMEM for an unmapped one). */
static bool mapped(const void *p)
{
    void *page = (void *)((uintptr_t)p & ~(uintptr_t)4095);
    return msync(page, 4096, MS_ASYNC) == 0 || errno != ENOMEM;
}

/* The 2 MiB slab entry lock name lives in (elock_create_bulk). */
static const void *slab_of(struct engine *e, const char *name)
{
    size_t len = strlen(name);
    struct elock *l = elock_find(e, u8(name), len, table_hash(e->locks, name, len));
    ck_assert_ptr_nonnull(l);
    ck_assert(l->in_slab);
    return (const void *)((uintptr_t)l & ~(uintptr_t)((2u << 20) - 1));
}

START_TEST(test_bulk_restored_locks_work_and_their_slabs_go_with_the_last)
{
    enum { N = 40000 }; /* a few slabs' worth */
    struct fx f;
    fx_init(&f, NULL);
    fx_open(&f, 0);
    fx_open(&f, 1);
    struct engine *e2 = engine_new_like(f.e);
    ck_assert_ptr_nonnull(e2);
    struct esession *ss[2] = {engine_session_open(e2, 1, "a", &f.ss[0]),
                              engine_session_open(e2, 2, "b", &f.ss[1])};
    uint8_t *names = malloc((size_t)N * 8);
    uint32_t *lens = malloc(N * sizeof *lens);
    struct esession **sess = malloc(N * sizeof *sess);
    uint64_t *owners = malloc(N * sizeof *owners), *tokens = malloc(N * sizeof *tokens);
    ck_assert(names != NULL && lens != NULL && sess != NULL && owners != NULL && tokens != NULL);
    size_t off = 0;
    for (int i = 0; i < N; i++) {
        char nm[16];
        lens[i] = (uint32_t)snprintf(nm, sizeof nm, "L%d", i);
        memcpy(names + off, nm, lens[i]);
        off += lens[i];
        sess[i] = ss[i % 2];
        owners[i] = 7;
        tokens[i] = 100 + (uint64_t)i;
    }
    const char *why = NULL;
    engine_restore_reserve(e2, N, 0, 0);
    ck_assert_int_eq(engine_restore_held_locks(e2, names, lens, N, sess, owners, tokens, &why),
                     S_OK);
    ck_assert_int_eq(engine_restore_check(e2, &why), S_OK);
    struct engine_stats st;
    engine_get_stats(e2, &st);
    ck_assert_uint_eq(st.locks, N);
    ck_assert_uint_eq(st.locks_held, N);
    ck_assert_uint_ge(st.last_token, 100 + N - 1);
    /* Held by the right session: the other one cannot take it, its holder releases it. */
    const char *msg = NULL;
    ck_assert_int_eq(engine_release(ss[1], u8("L0"), 2, 7, &msg), S_NOT_OWNER);
    ck_assert_int_eq(engine_release(ss[0], u8("L0"), 2, 7, &msg), S_OK);
    bool locked = true;
    ck_assert_int_eq(engine_locked(e2, u8("L0"), 2, &locked, &msg), S_OK);
    ck_assert(!locked);
    /* The first slab stays while any lock made in it is held, and goes with the last one. */
    const void *first = slab_of(e2, "L1");
    ck_assert_ptr_ne(first, slab_of(e2, "L39999"));
    int last_in_first = 1;
    for (int i = 2; i < N; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "L%d", i);
        if (slab_of(e2, nm) == first)
            last_in_first = i;
    }
    for (int i = 1; i < last_in_first; i++) {
        char nm[16];
        int n = snprintf(nm, sizeof nm, "L%d", i);
        ck_assert_int_eq(engine_release(ss[i % 2], u8(nm), (size_t)n, 7, &msg), S_OK);
    }
    ck_assert(mapped(first));
    char nm[16];
    int n = snprintf(nm, sizeof nm, "L%d", last_in_first);
    ck_assert_int_eq(engine_release(ss[last_in_first % 2], u8(nm), (size_t)n, 7, &msg), S_OK);
    ck_assert(!mapped(first));
    /* A released name is an ordinary lock again; the rest go with their sessions (ASan: no
     * entry is touched after its slab is gone). */
    uint64_t tok = 0;
    ck_assert_int_eq(engine_acquire(ss[1], 1, u8("L1"), 2, 9, NULL, &tok, &msg), S_OK);
    ck_assert_uint_gt(tok, 100 + N - 1);
    engine_session_close(ss[0]);
    engine_session_close(ss[1]);
    engine_free(e2);
    /* A refused bulk (a name twice) takes what it made apart just as silently. */
    struct engine *e3 = engine_new_like(f.e);
    struct esession *s3 = engine_session_open(e3, 1, "a", &f.ss[0]);
    for (int i = 0; i < N; i++)
        sess[i] = s3;
    memcpy(names + off - lens[N - 1], "L1", 2); /* the last name becomes L1 (lens[N-1] >= 2) */
    lens[N - 1] = 2;
    ck_assert_int_eq(engine_restore_held_locks(e3, names, lens, N, sess, owners, tokens, &why),
                     S_BAD_REQUEST);
    ck_assert_str_eq(why, "a lock listed twice");
    engine_free(e3);
    free(names);
    free(lens);
    free(sess);
    free(owners);
    free(tokens);
    ck_assert_int_eq(f.violations, 0);
    fx_fini(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("snapshot_engine");
    TCase *tc = tcase_create("restore");
    tcase_add_test(tc, test_acquire_timeout_keeps_its_remaining_time);
    tcase_add_test(tc, test_wait_timeout_and_reacquire_survive);
    tcase_add_test(tc, test_notified_and_cancelled_waits_keep_their_status);
    tcase_add_test(tc, test_sem_event_barrier_timeouts_keep_their_remaining_time);
    tcase_add_test(tc, test_restored_posted_semaphores_count_against_the_cap);
    tcase_add_test(tc, test_restored_tokens_exceed_the_saved_ones);
    tcase_add_test(tc, test_restore_refuses_inconsistent_input);
    tcase_add_test(tc, test_bulk_restored_locks_work_and_their_slabs_go_with_the_last);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
