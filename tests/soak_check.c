/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The soak's checks at the end of the run, made by the driver: the drain and the final burst of
 * notifications (no lost notification), the counters the workers kept, condd's state once
 * every worker exited (nothing left but the driver's session), the RSS of its last lifetime, and
 * the summary line.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soak.h"

void driver_connect(void)
{
    double deadline = now_s() + RECONNECT_TIMEOUT;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)D.port);
    condd_options *o = condd_options_new();
    if (o == NULL || condd_options_set_client_name(o, "soak/driver") != CONDD_OK)
        dfail("out of memory");
    int rc;
    while ((rc = condd_conn_open(addr, o, &D.conn)) != CONDD_OK) {
        if (now_s() > deadline) {
            condd_options_free(o);
            dfail("the driver could not connect to %s: %s", addr, condd_strerror(rc));
        }
        sleep_s(0.05);
    }
    condd_options_free(o);
}

/* Takes the lock and wakes every waiter of the items condition (they re-check their predicate). */
void driver_notify_all(const char *why)
{
    uint64_t token, woken = 0;
    int rc = condd_lock_acquire(D.conn, LOCK_NAME, 0, RECONNECT_TIMEOUT, &token);
    if (rc != CONDD_OK)
        dfail("%s: the driver's acquire: %s (%s)", why, condd_result_name(rc),
              condd_conn_message(D.conn));
    rc = condd_cond_notify_all(D.conn, COND_ITEMS, LOCK_NAME, 0, &woken);
    int rrc = condd_lock_release(D.conn, LOCK_NAME, 0);
    if (rc != CONDD_OK || rrc != CONDD_OK)
        dfail("%s: the driver's notify_all/release: %s / %s", why, condd_result_name(rc),
              condd_result_name(rrc));
    if (opt.verbose)
        printf("soak: %s: notify_all woke %" PRIu64 "\n", why, woken);
}

/* Polls (reaping children) until cond() holds or seconds pass. */
bool wait_until(double seconds, bool (*cond)(void))
{
    double deadline = now_s() + seconds;
    for (;;) {
        reap();
        if (cond())
            return true;
        if (now_s() > deadline || D.signalled)
            return false;
        sleep_s(0.01);
    }
}

bool only_consumers_left(void)
{
    return live_workers(-1) == live_workers(ROLE_CONSUMER);
}

bool queue_empty(void)
{
    return atomic_load(&S->items) == 0;
}

bool no_workers_left(void)
{
    return D.nkids == 0;
}

/* How many waiters condd lists on the items condition. */
static uint64_t items_cond_waiters(void)
{
    condd_list *ls = NULL;
    int rc = condd_conn_list(D.conn, COND_ITEMS, 0, &ls);
    if (rc != CONDD_OK)
        dfail("list: %s", condd_result_name(rc));
    uint64_t n = 0;
    for (size_t i = 0; i < condd_list_cond_count(ls); i++)
        if (strcmp(condd_list_cond(ls, i)->name, COND_ITEMS) == 0)
            n = condd_list_cond(ls, i)->waiters;
    condd_list_free(ls);
    return n;
}

static bool all_consumers_wait(void)
{
    return items_cond_waiters() == live_workers(ROLE_CONSUMER);
}

/*
 * The decisive lost-notification check. Nothing is killed any more and every consumer waits with
 * a wait_for timeout longer than the drain deadline. Round after round, once condd lists every
 * consumer as waiting, the driver pushes one item with one notify: the notify must wake exactly
 * one consumer, and the item must be consumed within the deadline.
 */
void final_burst(int rounds)
{
    for (int i = 0; i < rounds; i++) {
        if (!wait_until(opt.drain_timeout, all_consumers_wait))
            dfail("final round %d: the %zu consumers were not all waiting on %s after %.0f s "
                  "(condd lists %" PRIu64 " waiters)",
                  i, live_workers(ROLE_CONSUMER), COND_ITEMS, opt.drain_timeout,
                  items_cond_waiters());
        uint64_t token, woken = 0;
        int rc = condd_lock_acquire(D.conn, LOCK_NAME, 0, RECONNECT_TIMEOUT, &token);
        if (rc == CONDD_OK)
            rc = condd_cond_notify(D.conn, COND_ITEMS, LOCK_NAME, 0, 1, &woken);
        if (rc == CONDD_OK) {
            atomic_fetch_add(&S->items, 1);
            add(&S->produced);
            rc = condd_lock_release(D.conn, LOCK_NAME, 0);
        }
        if (rc != CONDD_OK)
            dfail("final round %d: %s (%s)", i, condd_result_name(rc), condd_conn_message(D.conn));
        if (woken != 1)
            dfail("final round %d: notify(1) woke %" PRIu64 " with %zu consumers waiting", i, woken,
                  live_workers(ROLE_CONSUMER));
        if (!wait_until(opt.drain_timeout, queue_empty))
            dfail("lost notification: final round %d's item still queued %.0f s after its notify "
                  "woke a consumer, nothing killed",
                  i, opt.drain_timeout);
    }
    if (opt.verbose)
        printf("soak: final rounds: %d items, each delivered by a notification\n", rounds);
}

/* After every worker exited, condd keeps nothing but the driver's own session. */
static void check_empty_state(void)
{
    double deadline = now_s() + STATS_TIMEOUT;
    for (;;) {
        condd_stats *st = NULL;
        int rc = condd_conn_stats(D.conn, &st);
        if (rc != CONDD_OK)
            dfail("stats: %s", condd_result_name(rc));
        bool empty = st->locks == 0 && st->waiters == 0 && st->lock_waiters == 0 &&
                     st->conditions == 0 && st->condition_waiters == 0 && st->sessions == 1;
        if (empty) {
            if (st->rss_bytes != 0 && D.rss_end == 0)
                D.rss_end = st->rss_bytes / 1024;
            condd_stats_free(st);
            return;
        }
        if (now_s() > deadline) {
            char buf[512];
            snprintf(buf, sizeof buf,
                     "locks=%" PRIu64 " locks_held=%" PRIu64 " waiters=%" PRIu64
                     " conditions=%" PRIu64 " sessions=%" PRIu64 " connections=%" PRIu64,
                     st->locks, st->locks_held, st->waiters, st->conditions, st->sessions,
                     st->connections);
            condd_stats_free(st);
            dfail("condd is not empty %.0f s after every worker exited: %s (want 0 locks, 0 "
                  "waiters, 0 conditions, 1 session)",
                  STATS_TIMEOUT, buf);
        }
        condd_stats_free(st);
        sleep_s(0.05);
    }
}

/* The counters the workers kept, condd's final state and its RSS, once every worker exited. */
void check_end(void)
{
    if (atomic_load(&S->lost_wakeups) != 0)
        dfail("%" PRIu64 " wait_for calls timed out with items queued and nothing killed or "
              "restarted during the wait",
              atomic_load(&S->lost_wakeups));
    if (atomic_load(&S->drain_timeouts) != 0)
        dfail("%" PRIu64 " wait_for calls begun after producers stopped timed out",
              atomic_load(&S->drain_timeouts));
    if (atomic_load(&S->items) != 0)
        dfail("%" PRId64 " items left in the queue", atomic_load(&S->items));

    D.rss_end = rss_kib(D.daemon);
    check_empty_state();
    double limit = (double)D.rss_base * opt.rss_factor + opt.rss_slack_mib * 1024;
    if (D.rss_base == 0 || D.rss_end == 0)
        dfail("could not read condd's RSS (warm-up %" PRIu64 " KiB, end %" PRIu64 " KiB)",
              D.rss_base, D.rss_end);
    if ((double)D.rss_end > limit)
        dfail("condd's RSS grew from %" PRIu64 " KiB after warm-up to %" PRIu64
              " KiB at the end of its lifetime (limit %.0f KiB = %g x + %g MiB)",
              D.rss_base, D.rss_end, limit, opt.rss_factor, opt.rss_slack_mib);
}

void summary(const char *verdict)
{
    printf("soak: %s: workers=%d seconds=%g sections=%" PRIu64 " kills=%" PRIu64
           " restarts=%" PRIu64 " fenced_out=%" PRIu64 " takeovers=%" PRIu64 " stale=%" PRIu64
           " produced=%" PRIu64 " consumed=%" PRIu64 " queued=%" PRId64 " handoffs=%" PRIu64
           " waits=%" PRIu64 " wait_timeouts=%" PRIu64 " lost_wakeups=%" PRIu64
           " acquire_timeouts=%" PRIu64 " reconnects=%" PRIu64 " rss_kib=%" PRIu64 "->%" PRIu64
           " (first daemon %" PRIu64 ")\n",
           verdict, opt.workers, opt.duration, atomic_load(&S->sections), D.kills, D.restarts,
           S->res.rejected, atomic_load(&S->takeovers), atomic_load(&S->stale_out),
           atomic_load(&S->produced), atomic_load(&S->consumed), atomic_load(&S->items),
           atomic_load(&S->handoffs), atomic_load(&S->waits), atomic_load(&S->wait_timeouts),
           atomic_load(&S->lost_wakeups), atomic_load(&S->acq_timeouts),
           atomic_load(&S->reconnects), D.rss_base, D.rss_end, D.rss_first);
    fflush(stdout);
}
