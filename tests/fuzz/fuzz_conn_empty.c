/* SPDX-License-Identifier: BSD-2-Clause
 *
 * fuzz_conn's invariant at the end of every input (fuzz_conn_empty.h): once every connection
 * is closed and every session ended, the daemon holds nothing. Split from fuzz_conn.c, which
 * owns the client model and the operations that lead here.
 */
#include "config.h"

#include "fuzz_conn_empty.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "engine.h"
#include "server.h"
#include "server_internal.h"

/* What outlives every session by design, and only that: set events (not owned), semaphores
 * with posted permits (a SemRelease without an acquire), aborted barriers (broken until a
 * reset). The check walks each kind with List's visitors, which must not call the engine, so
 * the names are collected first; then it clears the events and resets the barriers through the
 * engine, after which neither may take any memory. */
#define FUZZ_BATCH 64
struct fuzz_names {
    size_t n;
    uint16_t len[FUZZ_BATCH];
    uint8_t name[FUZZ_BATCH][ENGINE_NAME_MAX];
};

static void fuzz_name_add(struct fuzz_names *fn, const uint8_t *name, size_t len)
{
    fn->len[fn->n] = (uint16_t)len;
    memcpy(fn->name[fn->n], name, len);
    fn->n++;
}

static void fuzz_event_seen(void *arg, const struct engine_event_info *ei)
{
    /* Nobody waits any more, so an event still there is set. */
    FUZZ_CHECK(ei->set);
    FUZZ_CHECK(ei->waiters == 0);
    fuzz_name_add(arg, ei->name, ei->name_len);
}

static void fuzz_barrier_seen(void *arg, const struct engine_barrier_info *bi)
{
    /* Every waiter left with its session, so a barrier still there is an aborted one. */
    FUZZ_CHECK(bi->broken);
    FUZZ_CHECK(bi->n_waiting == 0);
    FUZZ_CHECK(bi->parties >= 1 && bi->parties <= ENGINE_BARRIER_PARTIES_MAX);
    fuzz_name_add(arg, bi->name, bi->name_len);
}

static void fuzz_sem_seen(void *arg, const struct engine_sem_info *si)
{
    /* No holder and no waiter is left, so a semaphore still there has posted permits: its
     * counter is above its value, which a BoundedSemaphore never allows. */
    FUZZ_CHECK(si->nholders == 0);
    FUZZ_CHECK(si->waiters == 0);
    FUZZ_CHECK(!si->bounded);
    FUZZ_CHECK(si->value >= 1 && si->value <= ENGINE_SEM_VALUE_MAX);
    FUZZ_CHECK(si->counter > si->value);
    (*(uint64_t *)arg)++;
}

static void fuzz_sem_holder_seen(void *arg, const struct engine_sem_holder_info *hi)
{
    (void)arg;
    (void)hi;
    FUZZ_CHECK(!"a semaphore permit outlived every session");
}

static void fuzz_check_survivors(struct engine *e)
{
    static struct fuzz_names fn;
    struct engine_stats es;
    engine_get_stats(e, &es);
    FUZZ_CHECK(es.events_set == es.events);
    FUZZ_CHECK(es.barriers_broken == es.barriers);
    uint64_t sems = 0;
    FUZZ_CHECK(!engine_list_sems(e, NULL, 0, SIZE_MAX, fuzz_sem_seen, fuzz_sem_holder_seen, &sems));
    FUZZ_CHECK(sems == es.semaphores);
    uint64_t seen = 0;
    do {
        fn.n = 0;
        engine_list_events(e, NULL, 0, FUZZ_BATCH, fuzz_event_seen, &fn);
        for (size_t i = 0; i < fn.n; i++)
            FUZZ_CHECK(engine_event_clear(e, fn.name[i], fn.len[i], NULL) == ENGINE_OK);
        seen += fn.n;
    } while (fn.n == FUZZ_BATCH);
    FUZZ_CHECK(seen == es.events);
    seen = 0;
    do {
        fn.n = 0;
        engine_list_barriers(e, NULL, 0, FUZZ_BATCH, fuzz_barrier_seen, &fn);
        for (size_t i = 0; i < fn.n; i++) {
            uint64_t broken = 1;
            FUZZ_CHECK(engine_barrier_reset(e, fn.name[i], fn.len[i], 0, &broken, NULL) ==
                       ENGINE_OK);
            FUZZ_CHECK(broken == 0);
        }
        seen += fn.n;
    } while (fn.n == FUZZ_BATCH);
    FUZZ_CHECK(seen == es.barriers);
}

/* Every connection has seen EOF and been closed by the daemon: nothing may be left. */
void fuzz_check_empty(struct server *srv, struct event_base *base)
{
    struct server_snapshot snap;
    server_snapshot(srv, &snap);
    FUZZ_CHECK(snap.connections == 0);
    FUZZ_CHECK(snap.sessions == 0);
    FUZZ_CHECK(server_unflushed(srv) == 0);
    struct engine_stats es;
    engine_get_stats(server_engine(srv), &es);
    FUZZ_CHECK(es.sessions == 0);
    FUZZ_CHECK(es.locks == 0);
    FUZZ_CHECK(es.locks_held == 0);
    FUZZ_CHECK(es.locks_shared == 0 && es.shared_holders == 0); /* shared holds too */
    FUZZ_CHECK(es.lock_waiters == 0);
    FUZZ_CHECK(es.conditions == 0);
    FUZZ_CHECK(es.condition_waiters == 0);
    FUZZ_CHECK(es.permits_held == 0);
    FUZZ_CHECK(es.semaphore_waiters == 0);
    FUZZ_CHECK(es.event_waiters == 0);
    FUZZ_CHECK(es.barrier_waiters == 0);
    FUZZ_CHECK(es.waiters == 0);
    fuzz_check_survivors(server_engine(srv));
    engine_get_stats(server_engine(srv), &es);
    FUZZ_CHECK(es.events == 0 && es.events_set == 0);
    FUZZ_CHECK(es.barriers == 0 && es.barriers_broken == 0);
    /* Only the semaphores with posted permits may still hold entry bytes. */
    FUZZ_CHECK(es.entry_bytes == 0 || es.semaphores > 0);
    /* No timer (session, acquire or wait timeout) and no socket event outlives its owner. */
    FUZZ_CHECK(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE) ==
               0);
}
