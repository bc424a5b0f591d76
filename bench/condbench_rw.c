/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condbench's rw mode (31 readers and 1 writer on one lock: is the writer starved?).
 *
 * The mode: connection 0 is the writer, connections 1..c-1 the readers, all on one lock and on
 * one loop (one thread, so one clock times everything). Each party loops: acquire (the writer
 * exclusive, the readers shared, waiting forever), hold the lock RW_HOLD_NS on a timer, release
 * (without waiting for its reply) and acquire again at once. Every grant is one op; the wait of
 * each grant (request queued in libcondd -> grant decoded) goes to the writer's or the readers'
 * histogram, and every hold (grant -> release queued) to the hold histogram. The report line
 *   rw: readers=R writer_grants=N writer_wait_us_p50=A writer_wait_us_p99=B writer_wait_us_max=C
 *       reader_grants=M reader_wait_us_p50=D reader_wait_us_p99=E reader_hold_us_mean=F
 *       writer_p99_over_reader_hold=G
 * answers the question: with FIFO grants (a queued writer stops new readers from joining
 * the current batch) the writer waits at most for the readers holding when it queued, so its p99
 * wait stays within a few reader hold times and close to the readers' own p99 wait, however many
 * readers loop; a starving implementation shows G growing with -d and writer_grants near 0.
 * The 1 ms holds are libevent timers, which fire late by up to a millisecond and more on a loaded
 * machine: G divides by the measured mean hold, not by RW_HOLD_NS.
 *
 * Tried once, wired in a scratch copy as above, against the shared-lock branch's build of
 * 2026-11-30 00:18 (bench/RESULTS.md, round 3, "rw").
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <condd/condd_async.h>

#include "clock.h"
#include "condbench.h"
#include "condbench_condd.h"

/* How long every holder keeps the lock: long against a loopback round trip (tens of us), so the
 * readers overlap and the writer must wait for a batch of them to leave. */
#define RW_HOLD_NS 1000000u

struct rw_party {
    struct bench_conn *cn;
    uint64_t t_request; /* when the current acquire was queued */
    uint64_t t_grant;   /* when the current grant arrived */
    bool writer;
};

struct rw_run {
    char lock[64];
    unsigned nparties;
    struct hist writer_wait, reader_wait, hold;
    struct rw_party *parties;
};

static void rw_acquire(struct rw_party *p);

void prim_rw_report(struct worker *w)
{
    struct rw_run *r = w->mode_state;
    double hold_mean = hist_mean(&r->hold);
    double wp99 = (double)hist_quantile(&r->writer_wait, 0.99);
    snprintf(w->extra, sizeof w->extra,
             "rw: readers=%u writer_grants=%" PRIu64 " writer_wait_us_p50=%.1f"
             " writer_wait_us_p99=%.1f writer_wait_us_max=%.1f reader_grants=%" PRIu64
             " reader_wait_us_p50=%.1f reader_wait_us_p99=%.1f reader_hold_us_mean=%.1f"
             " writer_p99_over_reader_hold=%.2f\n",
             r->nparties - 1, r->writer_wait.count,
             (double)hist_quantile(&r->writer_wait, 0.5) / 1e3, wp99 / 1e3,
             (double)r->writer_wait.max_ns / 1e3, r->reader_wait.count,
             (double)hist_quantile(&r->reader_wait, 0.5) / 1e3,
             (double)hist_quantile(&r->reader_wait, 0.99) / 1e3, hold_mean / 1e3,
             hold_mean > 0 ? wp99 / hold_mean : 0.0);
}

static void rw_on_hold_end(evutil_socket_t fd, short what, void *arg)
{
    struct rw_party *p = arg;
    struct worker *w = p->cn->w;
    struct rw_run *r = w->mode_state;
    condd_async_conn *c = cd_client(p->cn);
    if (c == NULL || p->cn->dead)
        return;
    if (w->measuring && !p->writer)
        hist_record(&r->hold, clk_mono_ns() - p->t_grant);
    if (condd_async_lock_release(c, r->lock, 0, NULL, NULL) != CONDD_OK) {
        loop_fail(p->cn, "release failed");
        return;
    }
    if (!w->stopping)
        rw_acquire(p);
}

static void rw_on_grant(condd_async_conn *c, int result, uint64_t token, void *arg)
{
    struct rw_party *p = arg;
    struct worker *w = p->cn->w;
    struct rw_run *r = w->mode_state;
    if (cd_ignored(p->cn))
        return;
    if (result != CONDD_OK) {
        loop_fail(p->cn, cd_why(c, result));
        return;
    }
    p->t_grant = clk_mono_ns();
    if (w->measuring) {
        hist_record(p->writer ? &r->writer_wait : &r->reader_wait, p->t_grant - p->t_request);
        loop_count(w, p->t_request, p->cn->server);
    }
    /* A one-shot timer: libevent (>= 2.1) frees it when it fires or with the base. */
    struct timeval tv = {0, (suseconds_t)(RW_HOLD_NS / 1000u)};
    if (event_base_once(w->base, -1, EV_TIMEOUT, rw_on_hold_end, p, &tv) != 0)
        loop_fail(p->cn, "cannot arm the hold timer");
}

static void rw_acquire(struct rw_party *p)
{
    struct rw_run *r = p->cn->w->mode_state;
    condd_async_conn *c = cd_client(p->cn);
    p->t_request = clk_mono_ns();
    int rc =
        c == NULL ? CONDD_ERR_CLOSED
        : p->writer
            ? condd_async_lock_acquire(c, r->lock, 0, CONDD_FOREVER, rw_on_grant, p, NULL)
            : condd_async_lock_acquire_shared(c, r->lock, 0, CONDD_FOREVER, rw_on_grant, p, NULL);
    if (rc != CONDD_OK)
        loop_fail(p->cn, condd_strerror(rc));
}

/* main() frees mode_state with free(): the parties are in the same block. */
void prim_rw_start(struct worker *w)
{
    struct rw_run *r = calloc(1, sizeof *r + w->nconns * sizeof r->parties[0]);
    if (r == NULL) {
        bench_warn("out of memory");
        w->stopping = true;
        return;
    }
    w->mode_state = r;
    r->parties = (struct rw_party *)(r + 1);
    r->nparties = w->nconns;
    snprintf(r->lock, sizeof r->lock, "%s:rw", g_opts.prefix);
    unsigned server = bench_server_of(r->lock);
    hist_init(&r->writer_wait);
    hist_init(&r->reader_wait);
    hist_init(&r->hold);
    for (unsigned i = 0; i < w->nconns; i++) {
        struct rw_party *p = &r->parties[i];
        p->cn = &w->conns[i];
        p->cn->server = server;
        p->writer = i == 0;
    }
    w->measuring = true;
    for (unsigned i = 0; i < w->nconns; i++)
        if (w->conns[i].ready && !w->conns[i].dead)
            rw_acquire(&r->parties[i]);
}
