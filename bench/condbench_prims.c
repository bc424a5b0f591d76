/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condbench's condd modes for the primitives other than locks and conditions, through libcondd's
 * public asynchronous API: the semaphore cycle for the generic loop (sem: each connection its
 * own semaphore; sem-contended: one semaphore for all, whose per-connection grant counts are
 * the fairness figure), the objects churn --hold --kind leaves behind per name (memory per
 * name), and the barrier mode (generations of one barrier of --parties waits spread over the
 * connections, timed from the filling wait to the last answer).
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

/* ------------------------------------------------------------------ sem, sem-contended */

/*
 * The same cycle as the lock's: acquire waiting forever, then a release that does not wait for
 * its reply, so the next acquire leaves in the same write and a cycle costs one round trip.
 * Every connection uses owner 0: owners are per session.
 */
static void sem_on_acquire(condd_async_conn *c, int result, uint64_t token, void *arg)
{
    struct bench_conn *cn = arg;
    if (cd_ignored(cn))
        return;
    loop_granted(cn, result == CONDD_OK, result == CONDD_OK ? NULL : cd_why(c, result));
}

void prim_sem_acquire(struct bench_conn *cn)
{
    condd_async_conn *c = cd_client(cn);
    int rc = c == NULL ? CONDD_ERR_CLOSED
                       : condd_async_sem_acquire(c, cn->name, g_opts.value, g_opts.bounded, 0,
                                                 CONDD_FOREVER, sem_on_acquire, cn, NULL);
    if (rc != CONDD_OK)
        loop_granted(cn, false, condd_strerror(rc));
}

static void sem_on_release(condd_async_conn *c, int result, void *arg)
{
    struct bench_conn *cn = arg;
    if (result != CONDD_OK && !cd_ignored(cn))
        loop_fail(cn, cd_why(c, result));
}

void prim_sem_release(struct bench_conn *cn)
{
    condd_async_conn *c = cd_client(cn);
    int rc = c == NULL ? CONDD_ERR_CLOSED
                       : condd_async_sem_release(c, cn->name, g_opts.value, g_opts.bounded, 0,
                                                 sem_on_release, cn);
    loop_released(cn, rc == CONDD_OK, rc == CONDD_OK ? NULL : condd_strerror(rc));
}

/* ------------------------------------------------------------------ churn --hold --kind */

/*
 * One name per round trip per connection. The kinds that answer at once (sem: the permit is
 * granted; event: the set is done) report from their reply. The kinds that leave a waiter
 * (barrier, cond) get no reply while the waiter stays, so a Ping follows the wait: the server
 * answers one connection's requests in order, so when the Ping's reply arrives the wait was
 * either queued (no answer yet: kept) or refused (its error arrived first, in hold_result).
 */
#define HOLD_IDLE 1    /* no waiting-kind cycle in flight */
#define HOLD_PENDING 2 /* wait sent, Ping not answered, no error seen */

static void hold_report(struct bench_conn *cn, condd_async_conn *c, int result)
{
    if (result == CONDD_OK)
        loop_granted(cn, true, NULL);
    else if (result == CONDD_ERR_LIMIT_EXCEEDED)
        loop_refused(cn);
    else
        loop_fail(cn, cd_why(c, result));
}

static void hold_on_token(condd_async_conn *c, int result, uint64_t token, void *arg)
{
    struct bench_conn *cn = arg;
    if (!cd_ignored(cn))
        hold_report(cn, c, result);
}

static void hold_on_set(condd_async_conn *c, int result, uint64_t woken, void *arg)
{
    struct bench_conn *cn = arg;
    if (!cd_ignored(cn))
        hold_report(cn, c, result);
}

/* An answer to a wait (or to the cond kind's lock acquire): during its cycle it is an
 * immediate refusal; later only the end of the session answers a kept waiter. */
static void hold_waiter_answered(struct bench_conn *cn, condd_async_conn *c, int result)
{
    struct cd_conn *st = cn->impl;
    if (cd_ignored(cn) || result == CONDD_OK)
        return;
    if (st->hold_result == HOLD_PENDING)
        st->hold_result = result;
    else
        loop_fail(cn, cd_why(c, result));
}

static void hold_on_index(condd_async_conn *c, int result, uint32_t index, void *arg)
{
    hold_waiter_answered(arg, c, result);
}

static void hold_on_wait_token(condd_async_conn *c, int result, uint64_t token, void *arg)
{
    hold_waiter_answered(arg, c, result);
}

/* The cond kind's per-connection lock, which every condition of the connection is bound to. */
static void hold_cond_lock(const struct bench_conn *cn, char *buf, size_t len)
{
    snprintf(buf, len, "%s:cl:%u", g_opts.prefix, cn->index);
}

static void hold_on_ping(condd_async_conn *c, int result, void *arg)
{
    struct bench_conn *cn = arg;
    struct cd_conn *st = cn->impl;
    if (cd_ignored(cn))
        return;
    int r = result != CONDD_OK                ? result
            : st->hold_result == HOLD_PENDING ? CONDD_OK
                                              : st->hold_result;
    st->hold_result = HOLD_IDLE;
    /* A refused wait leaves the lock held (protocol.md §11): give it back for the next name. */
    if (r == CONDD_ERR_LIMIT_EXCEEDED && g_opts.kind == KIND_COND) {
        char lock[96];
        hold_cond_lock(cn, lock, sizeof lock);
        if (condd_async_lock_release(c, lock, 0, NULL, NULL) != CONDD_OK)
            r = CONDD_ERR_CLOSED;
    }
    hold_report(cn, c, r);
}

void prim_hold(struct bench_conn *cn)
{
    struct cd_conn *st = cn->impl;
    char lock[96];
    /* A condition lives on the server of its lock (protocol.md §21.2). */
    if (g_opts.kind == KIND_COND) {
        hold_cond_lock(cn, lock, sizeof lock);
        cn->server = bench_server_of(lock);
    }
    condd_async_conn *c = cd_client(cn);
    int rc = CONDD_ERR_CLOSED;
    if (c == NULL) {
        loop_fail(cn, condd_strerror(rc));
        return;
    }
    switch (g_opts.kind) {
    case KIND_SEM:
        rc = condd_async_sem_acquire(c, cn->name, 1, false, 0, CONDD_FOREVER, hold_on_token, cn,
                                     NULL);
        break;
    case KIND_EVENT:
        rc = condd_async_event_set(c, cn->name, hold_on_set, cn);
        break;
    case KIND_BARRIER:
        st->hold_result = HOLD_PENDING;
        rc = condd_async_barrier_wait(c, cn->name, 2, CONDD_FOREVER, hold_on_index, cn, NULL);
        if (rc == CONDD_OK)
            rc = condd_async_conn_ping(c, hold_on_ping, cn);
        break;
    case KIND_COND:
        /* The wait releases the lock, so the next name's acquire is granted at once. */
        st->hold_result = HOLD_PENDING;
        rc = condd_async_lock_acquire(c, lock, 0, CONDD_FOREVER, hold_on_wait_token, cn, NULL);
        if (rc == CONDD_OK)
            rc = condd_async_cond_wait(c, cn->name, lock, 0, CONDD_FOREVER, hold_on_wait_token, cn,
                                       NULL);
        if (rc == CONDD_OK)
            rc = condd_async_conn_ping(c, hold_on_ping, cn);
        break;
    default:
        break;
    }
    if (rc != CONDD_OK)
        loop_fail(cn, condd_strerror(rc));
}

/* ------------------------------------------------------------------ barrier */

/*
 * One barrier of P = --parties; wait i of a generation goes on connection i mod C. A
 * generation: the first P - 1 waits are sent, then a Ping on every connection that carries one;
 * once every Ping is answered all P - 1 waits are queued at the server (one connection's
 * requests are served in order). Then the filling wait is sent: t0 is taken just before it is
 * queued in libcondd, whose send() follows in the same loop iteration. Each answer counts one
 * op with latency now - t0 (read on the client, when its reply has been decoded); the
 * generation's time is the last answer's. The next generation starts after the last answer.
 * Everything runs on one loop (one thread), so one clock orders the send and every reply.
 */
struct barrier_run {
    char name[64];
    uint32_t parties;
    unsigned pinged;    /* connections carrying one of the first P - 1 waits */
    unsigned armed;     /* their Pings answered in this generation */
    uint32_t answered;  /* waits answered in this generation */
    uint64_t index_sum; /* of the arrival indices answered (checked: 0 + ... + P-1) */
    uint64_t t0;        /* when the filling wait was queued */
    uint64_t gens;      /* generations completed inside the window */
    uint64_t bad_gens;  /* generations whose indices were not 0..P-1 */
    struct hist gen_ns; /* per generation: t0 to the last answer */
};

static void bar_generation(struct worker *w);

static void bar_on_answer(condd_async_conn *c, int result, uint32_t index, void *arg)
{
    struct bench_conn *cn = arg;
    struct worker *w = cn->w;
    struct barrier_run *b = w->mode_state;
    if (cd_ignored(cn))
        return;
    if (result != CONDD_OK) {
        loop_fail(cn, cd_why(c, result));
        return;
    }
    loop_count(w, b->t0, cn->server);
    b->index_sum += index;
    if (++b->answered < b->parties)
        return;
    uint64_t t = clk_mono_ns() - b->t0;
    /* A wrong generation is a server bug: it counts as an error (condbench exits 1). */
    if (b->index_sum != (uint64_t)b->parties * (b->parties - 1) / 2) {
        if (b->bad_gens++ == 0)
            bench_warn("barrier: a generation's arrival indices were not 0..%" PRIu32,
                       b->parties - 1);
        w->errors++;
    }
    if (w->measuring) {
        b->gens++;
        hist_record(&b->gen_ns, t);
    }
    if (!w->stopping)
        bar_generation(w);
}

static void bar_fill(struct worker *w)
{
    struct barrier_run *b = w->mode_state;
    struct bench_conn *cn = &w->conns[(b->parties - 1) % w->nconns];
    condd_async_conn *c = cd_client(cn);
    b->t0 = clk_mono_ns();
    if (c == NULL || cn->dead ||
        condd_async_barrier_wait(c, b->name, b->parties, CONDD_FOREVER, bar_on_answer, cn, NULL) !=
            CONDD_OK)
        loop_fail(cn, "barrier wait failed");
}

static void bar_on_armed(condd_async_conn *c, int result, void *arg)
{
    struct bench_conn *cn = arg;
    struct worker *w = cn->w;
    struct barrier_run *b = w->mode_state;
    if (cd_ignored(cn))
        return;
    if (result != CONDD_OK) {
        loop_fail(cn, cd_why(c, result));
        return;
    }
    if (++b->armed == b->pinged && !w->stopping)
        bar_fill(w);
}

static void bar_generation(struct worker *w)
{
    struct barrier_run *b = w->mode_state;
    b->armed = 0;
    b->answered = 0;
    b->index_sum = 0;
    if (b->pinged == 0) {
        bar_fill(w);
        return;
    }
    for (uint32_t i = 0; i + 1 < b->parties; i++) {
        struct bench_conn *cn = &w->conns[i % w->nconns];
        condd_async_conn *c = cd_client(cn);
        if (c == NULL || cn->dead ||
            condd_async_barrier_wait(c, b->name, b->parties, CONDD_FOREVER, bar_on_answer, cn,
                                     NULL) != CONDD_OK) {
            loop_fail(cn, "barrier wait failed");
            return;
        }
    }
    for (unsigned i = 0; i < b->pinged; i++) {
        struct bench_conn *cn = &w->conns[i];
        condd_async_conn *c = cd_client(cn);
        if (c == NULL || condd_async_conn_ping(c, bar_on_armed, cn) != CONDD_OK) {
            loop_fail(cn, "ping failed");
            return;
        }
    }
}

void prim_barrier_report(struct worker *w)
{
    struct barrier_run *b = w->mode_state;
    if (b->gens == 0)
        return;
    snprintf(w->extra, sizeof w->extra,
             "barrier: parties=%" PRIu32 " connections=%u generations=%" PRIu64
             " gen_us_p50=%.1f gen_us_p99=%.1f gen_us_min=%.1f gen_us_max=%.1f"
             " bad_generations=%" PRIu64 "\n",
             b->parties, w->nconns, b->gens, (double)hist_quantile(&b->gen_ns, 0.5) / 1e3,
             (double)hist_quantile(&b->gen_ns, 0.99) / 1e3, (double)b->gen_ns.min_ns / 1e3,
             (double)b->gen_ns.max_ns / 1e3, b->bad_gens);
}

void prim_barrier_start(struct worker *w)
{
    struct barrier_run *b = calloc(1, sizeof *b);
    if (b == NULL) {
        bench_warn("out of memory");
        w->stopping = true;
        return;
    }
    w->mode_state = b;
    snprintf(b->name, sizeof b->name, "%s:b", g_opts.prefix);
    /* Every wait and every barrier Ping goes to the barrier's server. */
    unsigned server = bench_server_of(b->name);
    for (unsigned i = 0; i < w->nconns; i++)
        w->conns[i].server = server;
    b->parties = g_opts.parties;
    b->pinged = b->parties - 1 < w->nconns ? b->parties - 1 : w->nconns;
    hist_init(&b->gen_ns);
    w->measuring = true;
    bar_generation(w);
}
