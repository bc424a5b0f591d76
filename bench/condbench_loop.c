/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condbench's client loop, the same for every target: pick the cycle's lock name for the mode,
 * acquire it, time the grant, release it, and start the next cycle once the target says the
 * next acquire may go. The targets only translate acquire and release into their protocol; the
 * counting rules live here so that every target is measured the same way: a cycle counts only
 * when its grant was received and its release sent, inside the measured window.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "clock.h"
#include "condbench.h"

void bench_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("condbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Chooses cn's lock for its next cycle; false when cn has nothing left to do (--hold churn). */
static bool loop_pick_name(struct bench_conn *cn)
{
    const char *p = g_opts.prefix;
    switch (g_opts.mode) {
    case MODE_CONTENDED:
        /* The name never changes: format it once (snprintf per cycle shows in profiles). */
        if (cn->seq == 0)
            snprintf(cn->name, sizeof cn->name, "%s:c", p);
        return true;
    case MODE_SEM_CONTENDED:
        if (cn->seq == 0)
            snprintf(cn->name, sizeof cn->name, "%s:sc", p);
        return true;
    case MODE_SEM:
        if (cn->seq == 0)
            snprintf(cn->name, sizeof cn->name, "%s:s:%u", p, cn->index);
        return true;
    case MODE_CHURN: {
        /* Connections stride through the name space so that, with as many names as cycles,
         * no two of them meet on one name at the same moment. */
        uint64_t k = (uint64_t)cn->index + cn->seq * g_opts.connections;
        if (g_opts.hold && k >= g_opts.names)
            return false;
        snprintf(cn->name, sizeof cn->name, "%s:n:%" PRIu64, p, k % g_opts.names);
        return true;
    }
    default:
        if (cn->seq == 0)
            snprintf(cn->name, sizeof cn->name, "%s:u:%u", p, cn->index);
        return true;
    }
}

/* With --hold, a worker ends its run once every connection has taken its share of names. */
static void loop_check_all_done(struct worker *w)
{
    for (unsigned i = 0; i < w->nconns; i++)
        if (w->conns[i].busy)
            return;
    w->stopping = true;
    event_base_loopbreak(w->base);
}

static void loop_cycle(struct bench_conn *cn)
{
    struct worker *w = cn->w;
    if (w->stopping || cn->dead || !loop_pick_name(cn)) {
        cn->busy = false;
        if (g_opts.hold && !w->stopping)
            loop_check_all_done(w);
        return;
    }
    cn->busy = true;
    cn->seq++;
    cn->t_start = clk_mono_ns();
    g_opts.target->acquire(cn);
}

void loop_start(struct worker *w)
{
    w->measuring = true;
    for (unsigned i = 0; i < w->nconns; i++)
        if (w->conns[i].ready && !w->conns[i].dead)
            loop_cycle(&w->conns[i]);
    if (g_opts.hold)
        loop_check_all_done(w);
}

void loop_fail(struct bench_conn *cn, const char *why)
{
    struct worker *w = cn->w;
    cn->busy = false;
    if (cn->dead)
        return;
    cn->dead = true;
    /* Errors after the window (pending requests cancelled by the close) are expected. */
    if (w->stopping)
        return;
    w->errors++;
    bench_warn("connection %u: %s", cn->index, why != NULL ? why : "failed");
}

void loop_refused(struct bench_conn *cn)
{
    struct worker *w = cn->w;
    if (w->measuring)
        w->refused++;
    loop_cycle(cn);
}

void loop_connected(struct bench_conn *cn, bool ok, const char *why)
{
    struct worker *w = cn->w;
    w->connected++;
    if (!ok) {
        w->failed++;
        loop_fail(cn, why);
        return;
    }
    cn->ready = true;
    if (g_opts.mode == MODE_IDLE)
        hist_record(w->hist, clk_mono_ns() - cn->t_start);
}

void loop_count(struct worker *w, uint64_t t0)
{
    if (!w->measuring)
        return;
    hist_record(w->hist, clk_mono_ns() - t0);
    w->ops++;
}

void loop_granted(struct bench_conn *cn, bool ok, const char *why)
{
    struct worker *w = cn->w;
    if (!ok) {
        loop_fail(cn, why);
        return;
    }
    if (w->measuring) {
        hist_record(w->hist, clk_mono_ns() - cn->t_start);
        cn->grants++;
        w->ops++;
    }
    if (g_opts.hold) {
        loop_cycle(cn);
        return;
    }
    g_opts.target->release(cn);
}

void loop_released(struct bench_conn *cn, bool ok, const char *why)
{
    if (!ok) {
        loop_fail(cn, why);
        return;
    }
    loop_cycle(cn);
}
