/* SPDX-License-Identifier: BSD-2-Clause
 *
 * A randomized test of the engine against a reference model. Simulated owners (8 sessions x 2
 * owner handles) acquire (forever, try-once, timed), release, wait (forever, timed), notify(n),
 * notify_all and cancel on 3 locks and 2 conditions, sessions close and reopen, and the fake
 * clock advances. The model predicts every synchronous status and every reply an operation
 * causes, timeouts included: it knows each timed request's deadline, so when the clock advances
 * it predicts exactly which requests time out, in deadline order (ties in arrival order, which
 * is the order their timers were armed): a timed-out acquire leaves its queue and answers
 * TIMEOUT; a timed-out wait leaves its condition and re-queues at the tail of its lock's queue
 * (or takes the free lock at once), to answer TIMEOUT once it holds the lock. After every step
 * the engine's holders, tokens, lock queues (FIFO, with each wait's final status), condition
 * queues, bindings, armed timers and stats must equal the model's. This covers mutual exclusion,
 * FIFO grants, that every Wait reply comes with the lock held, and that no notification is lost (a
 * notified wait that is cancelled or dies passes it on). At the end every pending request is
 * answered by shutdown, every session closed, and the engine must be empty (ASan catches leaks).
 *
 * The same run also drives a Semaphore (S0, N 2), two BoundedSemaphores (S1, N 2; S2, N 1),
 * two events and two barriers (B0 of 3 parties, B1 of 2), all predicted exactly: SemAcquire
 * (forever, try-once, timed; strict FIFO hand-over within the releasing call), SemRelease by a
 * holder, posted permits on a Semaphore, BoundedSemaphore over-release refused (NOT_OWNER),
 * VALUE_MISMATCH for another value or kind while it exists (else the request recreates it so),
 * EventSet (answers every waiter, woken count) / EventClear / EventWait, BarrierWait (filling
 * releases a generation with indices 0..parties-1 in arrival order), BarrierReset / BarrierAbort
 * (waiters BROKEN, broken state), and for all of them cancel, timeouts, session close and
 * shutdown. Checked after every step, from List, SemLocked, EventIsSet, BarrierState and Stats:
 * each semaphore's counter, holders (permits and latest token), waiters and existence; permits
 * held + counter == N on a BoundedSemaphore (N + posts on a Semaphore), so no grant goes beyond
 * the counter; counter 0 while anyone waits; events' flag and waiters; barriers' parties,
 * waiters (always fewer than parties) and broken flag; and the fixture's count of replies to
 * closed sessions or to the running request stays 0.
 *
 * Shared (reader) locks (issue 13) run on the same three locks: about a third of the acquires
 * are shared, and the model grants them as the engine must (at once only when the lock is free
 * or held shared with nobody queued; from the queue, every shared request at the head together,
 * an exclusive one only once every holder has left; a queued writer that leaves by cancel,
 * timeout or session end lets the readers behind it in). Wait and Notify by a shared holder are
 * NOT_OWNER, an owner holding in either mode gets ALREADY_OWNER. After every step List's holders
 * (every one, in grant order, with its token) must equal the model's, and the invariant "never an
 * exclusive holder together with any other holder" is checked on the engine's own report, as is
 * "a lock held shared never has a shared request at the head of its queue".
 *
 * Seeds: a fixed default plus a few more; CONDD_SEED=N runs only seed N and CONDD_STEPS=N
 * changes the number of steps. The seed is printed so that a failure can be replayed.
 *
 * This file is the driver (run_seed(), the Check test, main); the model is in
 * engine_random_model.c, the comparisons in engine_random_check.c, the operations in
 * engine_random_ops.c, and what they share in engine_random.h.
 */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_random.h"

static const uint64_t seeds[] = {20240601, 1, 2, 3, 0xc0ffee};

/* ------------------------------------------------------------------ the test */

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? strtoull(v, NULL, 0) : dflt;
}

static void run_seed(uint64_t seed, uint64_t steps)
{
    memset(&rm_model, 0, sizeof rm_model);
    rm_model.rng = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int l = 0; l < NL; l++)
        rm_model.l[l].hslot = -1;
    for (int c = 0; c < NC; c++)
        rm_model.c[c].bound = -1;
    printf("check_engine_random: seed %" PRIu64 ", %" PRIu64 " steps\n", seed, steps);
    fflush(stdout);

    struct engine_limits lim = {.max_pending_per_session = PEND_LIMIT};
    fx_init(&rm_fx, &lim);
    rm_fx.hook = rm_on_reply_hook;
    struct engine_stats base = fx_stats(&rm_fx);
    for (int i = 0; i < NS; i++) {
        fx_open(&rm_fx, i);
        rm_model.s[i].open = true;
    }
    uint64_t sl_rng = seed;
    for (uint64_t step = 0; step < steps; step++) {
        int r = rm_rn(135);
        int kind;
        if (r >= 100) {
            if (r < 111) {
                kind = 8;
                rm_op_sem_acquire();
            } else if (r < 118) {
                kind = 9;
                rm_op_sem_release();
            } else if (r < 120) {
                kind = 10;
                rm_op_ev_set();
            } else if (r < 122) {
                kind = 11;
                rm_op_ev_clear();
            } else if (r < 126) {
                kind = 12;
                rm_op_ev_wait();
            } else if (r < 133) {
                kind = 13;
                rm_op_bar_wait();
            } else {
                kind = 14;
                rm_op_bar_reset_abort();
            }
        } else if (r < 30) {
            kind = 0;
            rm_op_acquire();
        } else if (r < 45) {
            kind = 1;
            rm_op_release();
        } else if (r < 58) {
            kind = 2;
            rm_op_wait();
        } else if (r < 71) {
            kind = 3;
            rm_op_notify();
        } else if (r < 81) {
            kind = 4;
            rm_op_cancel();
        } else if (r < 84) {
            kind = 5;
            rm_op_close_reopen();
        } else if (r < 96) {
            kind = 6;
            rm_op_advance();
        } else {
            kind = 7;
            rm_op_locked();
        }
        rm_model.stat_steps[kind]++;
        rm_match_replies();
        rm_check_state();
        FX_EQ(rm_fx.violations, 0);
        /* Now and then the engine is saved and restored into a new one (the live restart);
         * a generator of its own keeps every seed's operations what they were before. */
        sl_rng = sl_rng * 6364136223846793005ull + 1442695040888963407ull;
        if ((sl_rng >> 33) % 50 == 0 && rm_op_save_load()) {
            rm_match_replies();
            rm_check_state();
            FX_EQ(rm_fx.violations, 0);
        }
    }

    /* Shutdown answers every pending request; then every session closes. */
    for (int k = 0; k < MAXREQ; k++) {
        if (!rm_model.r[k].live)
            continue;
        struct mreq *q = &rm_model.r[k];
        if (q->kind == K_WAIT && q->where == IN_LOCKQ && q->final == S_OK)
            rm_model.shut++;
        if (q->kind >= K_SEM)
            rm_unqueue(k);
        else if (q->kind == K_ACQ || q->where == IN_LOCKQ)
            rm_q_remove(rm_model.l[q->lock].q, &rm_model.l[q->lock].qn, k);
        else
            rm_q_remove(rm_model.c[q->cond].q, &rm_model.c[q->cond].qn, k);
        rm_expect(q->slot, q->req, rm_kind_op(q->kind), S_SHUTTING_DOWN, -1);
        rm_free_req(k);
    }
    engine_shutdown(rm_fx.e);
    rm_match_replies();
    rm_check_state();
    for (int i = 0; i < NS; i++) {
        rm_close(i);
        fx_close(&rm_fx, i);
        rm_match_replies();
        rm_check_state();
    }
    /* clear the events and reset the barriers; posted permits keep their semaphore alive */
    for (int i = 0; i < NEV; i++) {
        rm_model.ev[i].set = false;
        FX_EQ(engine_event_clear(rm_fx.e, (const uint8_t *)rm_ev_names[i], strlen(rm_ev_names[i]),
                                 NULL),
              S_OK);
    }
    for (int i = 0; i < NBAR; i++) {
        uint64_t broken = 1;
        rm_model.b[i].broken = false;
        FX_EQ(engine_barrier_reset(rm_fx.e, (const uint8_t *)rm_bar_names[i],
                                   strlen(rm_bar_names[i]), 0, &broken, NULL),
              S_OK);
        FX_EQ(broken, 0);
    }
    rm_check_state();
    int sems_left = 0;
    for (int i = 0; i < NSEM; i++) {
        if (rm_sem_exists(i)) {
            sems_left++;
            FX_EQ(rm_sem_held(i), 0);
            FX_EQ(rm_model.sm[i].qn, 0);
            FX_REQUIRE(!rm_model.sm[i].bounded && rm_model.sm[i].counter > rm_model.sm[i].value);
        }
    }
    struct engine_stats st = fx_stats(&rm_fx);
    FX_EQ(st.semaphores, (uint64_t)sems_left);
    FX_EQ(st.events, 0);
    FX_EQ(st.barriers, 0);
    FX_EQ(st.sessions, 0);
    FX_EQ(st.locks, 0);
    FX_EQ(st.locks_held, 0);
    FX_EQ(st.lock_waiters, 0);
    FX_EQ(st.conditions, 0);
    FX_EQ(st.condition_waiters, 0);
    if (sems_left == 0) {
        FX_EQ(st.entry_bytes, 0);
        FX_EQ(st.table_bytes, base.table_bytes);
    }
    printf("  steps: acquire %" PRIu64 " release %" PRIu64 " wait %" PRIu64 " notify %" PRIu64
           " cancel %" PRIu64 " close %" PRIu64 " advance %" PRIu64 "; woken %" PRIu64
           " ok-waits %" PRIu64 " passed-on-to-nobody %" PRIu64 "; pending: acquires %" PRIu64
           " waits %" PRIu64 "; cancelled %" PRIu64 " timed out %" PRIu64 "\n",
           rm_model.stat_steps[0], rm_model.stat_steps[1], rm_model.stat_steps[2],
           rm_model.stat_steps[3], rm_model.stat_steps[4], rm_model.stat_steps[5],
           rm_model.stat_steps[6], rm_model.woken, rm_model.ok_replies, rm_model.lost,
           rm_model.acq_pending, rm_model.waits_pending, rm_model.cancels_ok, rm_model.timeouts);
    printf("  shared: grants %" PRIu64 " batches %" PRIu64 " most holders %" PRIu64
           " wait/notify refused %" PRIu64 "\n",
           rm_model.shared_grants, rm_model.shared_batches, rm_model.max_shared,
           rm_model.shared_refused_cond);
    printf("  sem: acquire %" PRIu64 " release %" PRIu64 " grants %" PRIu64 " posts %" PRIu64
           " bounded-refused %" PRIu64 "; event: set %" PRIu64 " clear %" PRIu64 " wait %" PRIu64
           " woken %" PRIu64 "; barrier: wait %" PRIu64 " reset/abort %" PRIu64 " fills %" PRIu64
           " broken %" PRIu64 "\n",
           rm_model.stat_steps[8], rm_model.stat_steps[9], rm_model.sem_grants, rm_model.sem_posts,
           rm_model.sem_refused, rm_model.stat_steps[10], rm_model.stat_steps[11],
           rm_model.stat_steps[12], rm_model.ev_woken, rm_model.stat_steps[13],
           rm_model.stat_steps[14], rm_model.bar_fills, rm_model.bar_broken);
    printf("  saved and restored %" PRIu64 " times\n", rm_model.save_loads);
    fflush(stdout);
    fx_fini(&rm_fx);
}

START_TEST(test_random_operations_match_the_model)
{
    uint64_t steps = env_u64("CONDD_STEPS", DEFAULT_STEPS);
    if (getenv("CONDD_SEED") != NULL) {
        if (_i == 0)
            run_seed(env_u64("CONDD_SEED", seeds[0]), steps);
        return;
    }
    run_seed(seeds[_i], steps);
}
END_TEST

static Suite *random_suite(void)
{
    Suite *s = suite_create("engine randomized");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_random_operations_match_the_model, 0,
                        (int)(sizeof seeds / sizeof seeds[0]));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(random_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
