/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condbench's client loop, the same for every target: pick the cycle's lock name for the mode,
 * acquire it, time the grant, release it, and start the next cycle once the target says the
 * next acquire may go. The targets only translate acquire and release into their protocol; the
 * counting rules live here so that every target is measured the same way: a cycle counts only
 * when its grant was received and its release sent, inside the measured window. With several
 * condd servers the loop also routes each cycle's name (protocol.md §21) and counts the cycle
 * against the server that answered it.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

unsigned bench_server_of(const char *name)
{
    /* One server: no hashing, so a single-server run costs exactly what it did before. */
    if (g_opts.servers.n <= 1)
        return 0;
    return (unsigned)route_pick(&g_opts.servers, (const uint8_t *)name, strlen(name));
}

unsigned bench_name_on(char *out, size_t outlen, const char *base, unsigned want)
{
    size_t n = g_opts.servers.n;
    if (!g_opts.balance || n <= 1) {
        snprintf(out, outlen, "%s", base);
        return bench_server_of(out);
    }
    /* Each try lands on the wanted server with probability 1/N: a few tries on average. */
    for (unsigned k = 0;; k++) {
        snprintf(out, outlen, "%s~%u", base, k);
        unsigned s = bench_server_of(out);
        if (s == want % n)
            return s;
    }
}

/* Chooses cn's lock for its next cycle and the server it routes to; false when cn has nothing
 * left to do (--hold churn). The fixed names are routed once, churn's every cycle. */
static bool loop_pick_name(struct bench_conn *cn)
{
    const char *p = g_opts.prefix;
    char base[64];
    switch (g_opts.mode) {
    case MODE_CONTENDED:
        /* The name never changes: format it once (snprintf per cycle shows in profiles). */
        if (cn->seq == 0) {
            snprintf(cn->name, sizeof cn->name, "%s:c", p);
            cn->server = bench_server_of(cn->name);
        }
        return true;
    case MODE_SEM_CONTENDED:
        if (cn->seq == 0) {
            snprintf(cn->name, sizeof cn->name, "%s:sc", p);
            cn->server = bench_server_of(cn->name);
        }
        return true;
    case MODE_SEM:
        if (cn->seq == 0) {
            snprintf(base, sizeof base, "%s:s:%u", p, cn->index);
            cn->server = bench_name_on(cn->name, sizeof cn->name, base, cn->index);
        }
        return true;
    case MODE_CHURN: {
        /* Connections stride through the name space so that, with as many names as cycles,
         * no two of them meet on one name at the same moment. */
        uint64_t k = (uint64_t)cn->index + cn->seq * g_opts.connections;
        if (g_opts.hold && k >= g_opts.names)
            return false;
        snprintf(cn->name, sizeof cn->name, "%s:n:%" PRIu64, p, k % g_opts.names);
        cn->server = bench_server_of(cn->name);
        return true;
    }
    default:
        if (cn->seq == 0) {
            snprintf(base, sizeof base, "%s:u:%u", p, cn->index);
            cn->server = bench_name_on(cn->name, sizeof cn->name, base, cn->index);
        }
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

void loop_count(struct worker *w, uint64_t t0, unsigned server)
{
    if (!w->measuring)
        return;
    hist_record(w->hist, clk_mono_ns() - t0);
    w->ops++;
    w->server_ops[server]++;
}

static void loop_on_pace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct bench_conn *cn = arg;
    if (cn->dead || cn->w->stopping) {
        cn->busy = false;
        return;
    }
    g_opts.target->release(cn);
}

/* --rate: true when cn's next cycle is not due yet; its release (and with it the next acquire)
 * then waits on cn's timer. Each connection offers rate / connections cycles per second; one
 * that fell behind (a slow grant) starts at once and does not catch up in a burst. */
static bool loop_pace(struct bench_conn *cn)
{
    if (!(g_opts.rate > 0))
        return false;
    uint64_t now = clk_mono_ns();
    uint64_t step = (uint64_t)((double)g_opts.connections / g_opts.rate * 1e9);
    cn->due_ns = cn->due_ns == 0 ? now + step : cn->due_ns + step;
    if (cn->due_ns <= now) {
        cn->due_ns = now;
        return false;
    }
    if (cn->pace == NULL && (cn->pace = evtimer_new(cn->w->base, loop_on_pace, cn)) == NULL)
        return false;
    uint64_t wait = cn->due_ns - now;
    struct timeval tv = {(time_t)(wait / 1000000000u), (suseconds_t)(wait % 1000000000u / 1000)};
    evtimer_add(cn->pace, &tv);
    return true;
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
        w->server_ops[cn->server]++;
    }
    if (g_opts.hold) {
        loop_cycle(cn);
        return;
    }
    if (loop_pace(cn))
        return;
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
