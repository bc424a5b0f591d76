/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condbench's condd target, written against libcondd's public asynchronous API only
 * (<condd/condd_async.h>), so it measures what an application would get. For the generic loop:
 * acquire is condd_async_lock_acquire() waiting forever, release is condd_async_lock_release(),
 * which does not wait for its reply: the next acquire goes out in the same write, and a cycle costs
 * one round trip. This file also runs the modes only condd has: handoff (pairs ping-pong through a
 * condition), fanout (one notify_all wakes every waiter) and idle (sessions that only keep alive),
 * and takes the server's Stats for the memory figures. The semaphore, event and barrier modes are
 * in condbench_prims.c. Against a server list each benchmark connection holds one libcondd
 * connection per server and sends every request to the server its name routes to (cn->server,
 * set by the loop or the mode), so condbench does its own routing on the single-server API.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <condd/condd_async.h>

#include "clock.h"
#include "condbench.h"
#include "condbench_condd.h"

condd_async_conn *cd_client(struct bench_conn *cn)
{
    struct cd_conn *st = cn->impl;
    return st != NULL && !st->closing ? st->links[cn->server].c : NULL;
}

bool cd_ignored(struct bench_conn *cn)
{
    struct cd_conn *st = cn->impl;
    return st == NULL || st->closing;
}

const char *cd_why(condd_async_conn *c, int result)
{
    static __thread char buf[256];
    const char *m = c != NULL ? condd_async_conn_message(c) : "";
    snprintf(buf, sizeof buf, "%s%s%s", condd_strerror(result), m[0] ? ": " : "", m);
    return buf;
}

/* ------------------------------------------------------------------ connection */

/* "server ADDR: strerror: message" when there are several servers, else cd_why(). */
static const char *cd_link_why(struct cd_link *l, condd_async_conn *c, int result)
{
    static __thread char buf[512];
    const char *why = cd_why(c, result);
    if (g_opts.servers.n <= 1)
        return why;
    snprintf(buf, sizeof buf, "server %s: %s", g_opts.servers.addr[l->server], why);
    return buf;
}

/* cn is connected once every server's connect has finished, and only if all succeeded. */
static void cd_on_connect(condd_async_conn *c, int result, void *arg)
{
    struct cd_link *l = arg;
    struct bench_conn *cn = l->cn;
    if (cd_ignored(cn))
        return;
    struct cd_conn *st = cn->impl;
    if (result != CONDD_OK && !st->failed) {
        st->failed = true;
        snprintf(st->why, sizeof st->why, "%s", cd_link_why(l, c, result));
    }
    if (--st->pending == 0)
        loop_connected(cn, !st->failed, st->failed ? st->why : NULL);
}

static void cd_on_disconnect(condd_async_conn *c, int reason, void *arg)
{
    struct cd_link *l = arg;
    if (!cd_ignored(l->cn))
        loop_fail(l->cn, cd_link_why(l, c, reason));
}

static void cd_close(struct bench_conn *cn)
{
    struct cd_conn *st = cn->impl;
    if (st == NULL)
        return;
    st->closing = true;
    /* Pending callbacks run inside condd_async_conn_close() with CONDD_ERR_CLOSED and see closing.
     */
    for (size_t i = 0; i < g_opts.servers.n; i++)
        if (st->links[i].c != NULL)
            condd_async_conn_close(st->links[i].c);
    free(st);
    cn->impl = NULL;
}

static bool cd_open(struct bench_conn *cn)
{
    size_t n = g_opts.servers.n;
    struct cd_conn *st = calloc(1, sizeof *st + n * sizeof st->links[0]);
    condd_options *opts = condd_options_new();
    if (st == NULL || opts == NULL) {
        free(st);
        condd_options_free(opts);
        return false;
    }
    char name[64];
    snprintf(name, sizeof name, "condbench/%ld/%u", (long)getpid(), cn->index);
    condd_options_set_client_name(opts, name);
    /* $CONDBENCH_GRACE: ask for a resume grace, to measure what keeping resume state costs on
     * the hot path (bench/RESULTS.md). Read here so that only the connect path knows of it. */
    const char *grace = getenv("CONDBENCH_GRACE");
    if (grace != NULL && *grace != '\0')
        condd_options_set_grace(opts, strtod(grace, NULL));
    if (g_opts.tls_ca != NULL)
        condd_options_set_tls_ca(opts, g_opts.tls_ca);
    cn->impl = st;
    st->pending = (unsigned)n;
    for (size_t i = 0; i < n; i++) {
        struct cd_link *l = &st->links[i];
        l->cn = cn;
        l->server = (unsigned)i;
        const char *addr = g_opts.servers.addr[i];
        int rc = condd_async_conn_open(cn->w->base, addr, opts, cd_on_connect, l, &l->c);
        if (rc != CONDD_OK) {
            bench_warn("condd: connect %s: %s", addr, condd_strerror(rc));
            l->c = NULL;
            condd_options_free(opts);
            cd_close(cn); /* the connects already started end here, their callbacks ignored */
            return false;
        }
        condd_async_conn_set_disconnect_cb(l->c, cd_on_disconnect, l);
    }
    condd_options_free(opts);
    return true;
}

/* ------------------------------------------------------------------ the generic loop's ops */

static void cd_on_acquire(condd_async_conn *c, int result, uint64_t token, void *arg)
{
    struct bench_conn *cn = arg;
    if (cd_ignored(cn))
        return;
    loop_granted(cn, result == CONDD_OK, result == CONDD_OK ? NULL : cd_why(c, result));
}

static void cd_acquire(struct bench_conn *cn)
{
    if (g_opts.mode == MODE_SEM || g_opts.mode == MODE_SEM_CONTENDED) {
        prim_sem_acquire(cn);
        return;
    }
    if (g_opts.hold && g_opts.kind != KIND_LOCK) {
        prim_hold(cn);
        return;
    }
    condd_async_conn *c = cd_client(cn);
    int rc = c == NULL
                 ? CONDD_ERR_CLOSED
                 : condd_async_lock_acquire(c, cn->name, 0, CONDD_FOREVER, cd_on_acquire, cn, NULL);
    if (rc != CONDD_OK)
        loop_granted(cn, false, condd_strerror(rc));
}

/* The release's reply only matters when it is an error: the loop went on without it. */
static void cd_on_release(condd_async_conn *c, int result, void *arg)
{
    struct bench_conn *cn = arg;
    if (result != CONDD_OK && !cd_ignored(cn))
        loop_fail(cn, cd_why(c, result));
}

static void cd_release(struct bench_conn *cn)
{
    if (g_opts.mode == MODE_SEM || g_opts.mode == MODE_SEM_CONTENDED) {
        prim_sem_release(cn);
        return;
    }
    condd_async_conn *c = cd_client(cn);
    int rc =
        c == NULL ? CONDD_ERR_CLOSED : condd_async_lock_release(c, cn->name, 0, cd_on_release, cn);
    loop_released(cn, rc == CONDD_OK, rc == CONDD_OK ? NULL : condd_strerror(rc));
}

/* ------------------------------------------------------------------ Stats snapshot */

/* With several servers the snapshot is the sum over all of them (valid only if every one
 * answered): memory and counts of the whole cluster. */
struct snap_ctx {
    unsigned waiting, answered;
    struct server_snapshot *out;
};

static void cd_on_stats(condd_async_conn *c, int result, const struct condd_stats *s, void *arg)
{
    struct snap_ctx *ctx = arg;
    ctx->waiting--;
    if (result != CONDD_OK || s == NULL)
        return;
    ctx->answered++;
    ctx->out->rss_bytes += s->rss_bytes;
    ctx->out->table_bytes += s->table_bytes;
    ctx->out->locks_held += s->locks_held;
    ctx->out->sessions += s->sessions;
    ctx->out->permits_held += s->permits_held;
    ctx->out->events_set += s->events_set;
    ctx->out->barrier_waiters += s->barrier_waiters;
    ctx->out->condition_waiters += s->condition_waiters;
}

static void cd_snapshot(struct bench_conn *cn, struct server_snapshot *out)
{
    struct cd_conn *st = cn->impl;
    struct snap_ctx ctx = {.out = out};
    if (st == NULL || st->closing)
        return;
    *out = (struct server_snapshot){0};
    for (size_t i = 0; i < g_opts.servers.n; i++)
        if (condd_async_conn_stats(st->links[i].c, cd_on_stats, &ctx) == CONDD_OK)
            ctx.waiting++;
    while (ctx.waiting > 0)
        if (event_base_loop(cn->w->base, EVLOOP_ONCE) < 0)
            return;
    out->valid = ctx.answered == g_opts.servers.n;
}

/* ------------------------------------------------------------------ handoff */

/*
 * A pair shares one lock and one condition. Whoever holds the lock on its turn counts one
 * handoff (latency: from the peer's notify to this grant), hands the turn over, and sends one
 * Wait with notify_first = 1: the server wakes the peer, then the wait releases the lock to it.
 */
struct pair {
    char lock[64], cond[64];
    int turn;          /* index within the pair (0/1) whose turn it is; -1 before the first */
    uint64_t t_notify; /* when the last notify was sent; 0 before the first */
};

static struct pair *pair_of(struct bench_conn *cn)
{
    struct pair *pairs = cn->w->mode_state;
    return &pairs[(cn->index - cn->w->first) / 2];
}

static void ho_holding(struct bench_conn *cn);

static void ho_on_token(condd_async_conn *c, int result, uint64_t token, void *arg)
{
    struct bench_conn *cn = arg;
    if (cd_ignored(cn))
        return;
    if (result != CONDD_OK) {
        loop_fail(cn, cd_why(c, result));
        return;
    }
    ho_holding(cn);
}

static void ho_holding(struct bench_conn *cn)
{
    struct worker *w = cn->w;
    struct pair *p = pair_of(cn);
    int me = (int)((cn->index - w->first) % 2);
    condd_async_conn *c = cd_client(cn);
    if (w->stopping || c == NULL)
        return;
    bool mine = p->turn < 0 || p->turn == me;
    if (mine) {
        if (p->t_notify != 0)
            loop_count(w, p->t_notify, cn->server);
        p->turn = 1 - me;
        p->t_notify = clk_mono_ns();
    }
    /* Notify the peer and wait in one request; not our turn (a spurious wakeup): wait again
     * without notifying. */
    if (condd_async_cond_notify_wait(c, p->cond, p->lock, 0, mine ? 1 : 0, CONDD_FOREVER,
                                     ho_on_token, cn, NULL) != CONDD_OK)
        loop_fail(cn, "wait failed");
}

static void ho_start(struct worker *w)
{
    unsigned np = w->nconns / 2;
    struct pair *pairs = calloc(np ? np : 1, sizeof *pairs);
    if (pairs == NULL) {
        bench_warn("out of memory");
        w->stopping = true;
        return;
    }
    w->mode_state = pairs;
    w->measuring = true;
    for (unsigned i = 0; i < np; i++) {
        struct pair *p = &pairs[i];
        unsigned pair_index = (w->first + 2 * i) / 2;
        char base[64];
        snprintf(base, sizeof base, "%s:h:%u:lock", g_opts.prefix, w->first + 2 * i);
        /* The condition goes with its lock (protocol.md §21.2): the pair's one server. */
        unsigned server = bench_name_on(p->lock, sizeof p->lock, base, pair_index);
        snprintf(p->cond, sizeof p->cond, "%s:h:%u:cond", g_opts.prefix, w->first + 2 * i);
        p->turn = -1;
        for (unsigned k = 0; k < 2; k++) {
            struct bench_conn *cn = &w->conns[2 * i + k];
            cn->server = server;
            condd_async_conn *c = cd_client(cn);
            if (c == NULL || cn->dead ||
                condd_async_lock_acquire(c, p->lock, 0, CONDD_FOREVER, ho_on_token, cn, NULL) !=
                    CONDD_OK)
                loop_fail(cn, "acquire failed");
        }
    }
}

/* ------------------------------------------------------------------ fanout */

/*
 * W = connections x --owners waiters on one condition. A round: every waiter acquires the lock
 * and waits (then pings on its connection: the reply proves the wait is queued at the server);
 * once all are queued, the notifier (its own owner on connection 0) acquires the lock, sends
 * notify_all and releases. Each waiter returns holding the lock (latency: from notify_all) and
 * releases it; the round ends when the last has released, and the next round starts.
 */
struct waiter {
    struct bench_conn *cn;
    uint64_t owner;
};

struct fanout {
    char lock[64], cond[64];
    uint64_t nwaiters;
    uint64_t notifier_owner;
    uint64_t armed, done; /* this round's queued waits and finished waiters */
    uint64_t t0;          /* when notify_all was sent */
    uint64_t rounds, round_min, round_max, round_sum;
    bool notifying;
    struct waiter waiters[]; /* one block with the struct: main() frees mode_state with free() */
};

static void fo_arm(struct worker *w, struct waiter *wt);

static void fo_finish_round(struct worker *w, struct fanout *f)
{
    uint64_t t = clk_mono_ns() - f->t0;
    if (w->measuring) {
        f->rounds++;
        f->round_sum += t;
        f->round_min = f->rounds == 1 || t < f->round_min ? t : f->round_min;
        f->round_max = t > f->round_max ? t : f->round_max;
        snprintf(w->extra, sizeof w->extra,
                 "fanout: waiters=%" PRIu64 " rounds=%" PRIu64 " round_ms_min=%.2f "
                 "round_ms_mean=%.2f round_ms_max=%.2f\n",
                 f->nwaiters, f->rounds, (double)f->round_min / 1e6,
                 (double)f->round_sum / (double)f->rounds / 1e6, (double)f->round_max / 1e6);
    }
    f->armed = f->done = 0;
    f->notifying = false;
    if (w->stopping)
        return;
    for (uint64_t i = 0; i < f->nwaiters; i++)
        fo_arm(w, &f->waiters[i]);
}

static void fo_on_release(condd_async_conn *c, int result, void *arg)
{
    struct waiter *wt = arg;
    if (result != CONDD_OK && !cd_ignored(wt->cn))
        loop_fail(wt->cn, cd_why(c, result));
}

static void fo_on_woken(condd_async_conn *c, int result, uint64_t token, void *arg)
{
    struct waiter *wt = arg;
    struct worker *w = wt->cn->w;
    struct fanout *f = w->mode_state;
    if (cd_ignored(wt->cn))
        return;
    if (result != CONDD_OK) {
        loop_fail(wt->cn, cd_why(c, result));
        return;
    }
    loop_count(w, f->t0, wt->cn->server);
    if (condd_async_lock_release(c, f->lock, wt->owner, fo_on_release, wt) != CONDD_OK) {
        loop_fail(wt->cn, "release failed");
        return;
    }
    if (++f->done == f->nwaiters)
        fo_finish_round(w, f);
}

static void fo_on_notify_all(condd_async_conn *c, int result, uint64_t woken, void *arg)
{
    struct bench_conn *cn = arg;
    struct fanout *f = cn->w->mode_state;
    if (cd_ignored(cn))
        return;
    if (result != CONDD_OK)
        loop_fail(cn, cd_why(c, result));
    else if (woken != f->nwaiters)
        bench_warn("notify_all woke %" PRIu64 " of %" PRIu64 " waiters", woken, f->nwaiters);
}

static void fo_on_notifier_lock(condd_async_conn *c, int result, uint64_t token, void *arg)
{
    struct bench_conn *cn = arg;
    struct fanout *f = cn->w->mode_state;
    if (cd_ignored(cn))
        return;
    if (result != CONDD_OK) {
        loop_fail(cn, cd_why(c, result));
        return;
    }
    f->t0 = clk_mono_ns();
    if (condd_async_cond_notify_all(c, f->cond, f->lock, f->notifier_owner, fo_on_notify_all, cn) !=
            CONDD_OK ||
        condd_async_lock_release(c, f->lock, f->notifier_owner, NULL, NULL) != CONDD_OK)
        loop_fail(cn, "notify_all failed");
}

static void fo_on_armed(condd_async_conn *c, int result, void *arg)
{
    struct waiter *wt = arg;
    struct worker *w = wt->cn->w;
    struct fanout *f = w->mode_state;
    if (cd_ignored(wt->cn))
        return;
    if (result != CONDD_OK) {
        loop_fail(wt->cn, cd_why(c, result));
        return;
    }
    if (++f->armed < f->nwaiters || f->notifying || w->stopping)
        return;
    f->notifying = true;
    struct bench_conn *n = &w->conns[0];
    condd_async_conn *nc = cd_client(n);
    if (nc == NULL || condd_async_lock_acquire(nc, f->lock, f->notifier_owner, CONDD_FOREVER,
                                               fo_on_notifier_lock, n, NULL) != CONDD_OK)
        loop_fail(n, "notifier acquire failed");
}

static void fo_on_waiter_lock(condd_async_conn *c, int result, uint64_t token, void *arg)
{
    struct waiter *wt = arg;
    struct fanout *f = wt->cn->w->mode_state;
    if (cd_ignored(wt->cn))
        return;
    if (result != CONDD_OK) {
        loop_fail(wt->cn, cd_why(c, result));
        return;
    }
    if (condd_async_cond_wait(c, f->cond, f->lock, wt->owner, CONDD_FOREVER, fo_on_woken, wt,
                              NULL) != CONDD_OK ||
        condd_async_conn_ping(c, fo_on_armed, wt) != CONDD_OK)
        loop_fail(wt->cn, "wait failed");
}

static void fo_arm(struct worker *w, struct waiter *wt)
{
    struct fanout *f = w->mode_state;
    condd_async_conn *c = cd_client(wt->cn);
    if (c == NULL || wt->cn->dead ||
        condd_async_lock_acquire(c, f->lock, wt->owner, CONDD_FOREVER, fo_on_waiter_lock, wt,
                                 NULL) != CONDD_OK)
        loop_fail(wt->cn, "acquire failed");
}

static void fo_start(struct worker *w)
{
    uint64_t n = (uint64_t)w->nconns * g_opts.owners;
    struct fanout *f = calloc(1, sizeof *f + n * sizeof f->waiters[0]);
    if (f == NULL) {
        bench_warn("out of memory");
        w->stopping = true;
        return;
    }
    w->mode_state = f;
    snprintf(f->lock, sizeof f->lock, "%s:f:lock", g_opts.prefix);
    snprintf(f->cond, sizeof f->cond, "%s:f:cond", g_opts.prefix);
    unsigned server = bench_server_of(f->lock);
    for (unsigned i = 0; i < w->nconns; i++)
        w->conns[i].server = server;
    f->nwaiters = n;
    /* Owners 1..owners on each connection; the notifier takes the next one on connection 0. */
    for (uint64_t i = 0; i < n; i++) {
        f->waiters[i].cn = &w->conns[i % w->nconns];
        f->waiters[i].owner = 1 + i / w->nconns;
    }
    f->notifier_owner = (uint64_t)g_opts.owners + 1;
    w->measuring = true;
    for (uint64_t i = 0; i < n; i++)
        fo_arm(w, &f->waiters[i]);
}

/* ------------------------------------------------------------------ modes */

static void cd_mode_start(struct worker *w)
{
    switch (g_opts.mode) {
    case MODE_HANDOFF:
        ho_start(w);
        break;
    case MODE_FANOUT:
        fo_start(w);
        break;
    case MODE_BARRIER:
        prim_barrier_start(w);
        break;
    case MODE_RW:
        prim_rw_start(w);
        break;
    default:
        /* idle: the sessions only keep alive until the window ends. */
        w->measuring = true;
        for (unsigned i = 0; i < w->nconns; i++)
            if (w->conns[i].ready)
                w->ops++;
        break;
    }
}

static void cd_mode_report(struct worker *w)
{
    if (g_opts.mode == MODE_BARRIER)
        prim_barrier_report(w);
    else if (g_opts.mode == MODE_RW)
        prim_rw_report(w);
}

const struct target target_condd = {
    .name = "condd",
    .default_address = "127.0.0.1:7380",
    .modes = MODE_BIT(MODE_UNCONTENDED) | MODE_BIT(MODE_CONTENDED) | MODE_BIT(MODE_HANDOFF) |
             MODE_BIT(MODE_FANOUT) | MODE_BIT(MODE_CHURN) | MODE_BIT(MODE_IDLE) |
             MODE_BIT(MODE_SEM) | MODE_BIT(MODE_SEM_CONTENDED) | MODE_BIT(MODE_BARRIER) |
             MODE_BIT(MODE_RW),
    .open = cd_open,
    .acquire = cd_acquire,
    .release = cd_release,
    .close = cd_close,
    .snapshot = cd_snapshot,
    .mode_start = cd_mode_start,
    .mode_report = cd_mode_report,
};
