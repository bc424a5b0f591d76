/* SPDX-License-Identifier: BSD-2-Clause
 *
 * stallprobe: how long the daemon's event loop stalls while a big session ends. One connection
 * takes N locks (pipelined), a second one pings back to back; then the first one closes and the
 * prober keeps pinging until Stats show every lock gone. Prints the ping round trips seen while
 * the ended session was taken apart (max, p99, count) and how long that took. Every ping waits
 * behind whatever the loop is doing, so the worst round trip is the longest stall.
 *
 * Usage: stallprobe [-s ADDR] [-n LOCKS]   (default 127.0.0.1:7380, 1000000 locks)
 * Run it against a release build; see bench/RESULTS.md.
 */
#include <event2/event.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <condd/condd.h>
#include <condd/condd_async.h>

#include "clock.h"

#define PIPELINE 20000 /* acquires in flight at once while taking the locks */

struct probe {
    struct event_base *base;
    condd_async_conn *holder, *pinger;
    uint64_t nlocks, issued, granted;
    int phase; /* 0 taking locks, 1 cleaning up, 2 done */
    double t_ping, t_close, t_done;
    double *rtt; /* round trips during the cleanup */
    size_t nrtt, caprtt;
    int failed;
};

static void issue_acquires(struct probe *p);

static void on_acquired(condd_async_conn *ac, int rc, uint64_t token, void *arg)
{
    (void)ac;
    (void)token;
    struct probe *p = arg;
    if (rc != CONDD_OK) {
        fprintf(stderr, "stallprobe: acquire: %s\n", condd_strerror(rc));
        p->failed = 1;
        event_base_loopbreak(p->base);
        return;
    }
    p->granted++;
    if (p->granted == p->nlocks) {
        fprintf(stderr, "stallprobe: %" PRIu64 " locks held; closing the holder\n", p->nlocks);
        p->phase = 1;
        p->t_close = clk_mono();
        condd_async_conn_close(p->holder); /* from inside its callback: allowed */
        p->holder = NULL;
        return;
    }
    issue_acquires(p);
}

static void issue_acquires(struct probe *p)
{
    char name[32];
    while (p->issued < p->nlocks && p->issued - p->granted < PIPELINE) {
        snprintf(name, sizeof name, "stall-%" PRIu64, p->issued);
        if (condd_async_lock_acquire(p->holder, name, 0, CONDD_FOREVER, on_acquired, p, NULL) !=
            CONDD_OK) {
            p->failed = 1;
            event_base_loopbreak(p->base);
            return;
        }
        p->issued++;
    }
}

static void send_ping(struct probe *p);

static void on_stats(condd_async_conn *ac, int rc, const condd_stats *st, void *arg)
{
    (void)ac;
    struct probe *p = arg;
    if (rc != CONDD_OK) {
        p->failed = 1;
        event_base_loopbreak(p->base);
        return;
    }
    if (st->locks == 0) {
        p->t_done = clk_mono();
        p->phase = 2;
        event_base_loopbreak(p->base);
        return;
    }
    send_ping(p);
}

static void on_pong(condd_async_conn *ac, int rc, void *arg)
{
    struct probe *p = arg;
    if (rc != CONDD_OK) {
        p->failed = 1;
        event_base_loopbreak(p->base);
        return;
    }
    double rtt = clk_mono() - p->t_ping;
    if (p->phase == 1) {
        if (p->nrtt == p->caprtt) {
            p->caprtt = p->caprtt ? p->caprtt * 2 : 4096;
            p->rtt = realloc(p->rtt, p->caprtt * sizeof *p->rtt);
            if (p->rtt == NULL)
                abort();
        }
        p->rtt[p->nrtt++] = rtt;
        /* Every 64th probe asks whether the cleanup is over. */
        if (p->nrtt % 64 == 0 && condd_async_conn_stats(ac, on_stats, p) == CONDD_OK)
            return;
    }
    send_ping(p);
}

static void send_ping(struct probe *p)
{
    p->t_ping = clk_mono();
    if (condd_async_conn_ping(p->pinger, on_pong, p) != CONDD_OK) {
        p->failed = 1;
        event_base_loopbreak(p->base);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *addr = NULL;
    struct probe p = {.nlocks = 1000000};
    int opt;
    while ((opt = getopt(argc, argv, "s:n:h")) != -1) {
        switch (opt) {
        case 's':
            addr = optarg;
            break;
        case 'n':
            p.nlocks = strtoull(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: stallprobe [-s ADDR] [-n LOCKS]\n");
            return 2;
        }
    }
    if (p.nlocks == 0) {
        fprintf(stderr, "stallprobe: -n must be at least 1\n");
        return 2;
    }
    p.base = event_base_new();
    condd_options *o = condd_options_new();
    condd_options_set_session_timeout(o, 600);
    if (p.base == NULL || o == NULL ||
        condd_async_conn_open(p.base, addr, o, NULL, NULL, &p.holder) != CONDD_OK ||
        condd_async_conn_open(p.base, addr, o, NULL, NULL, &p.pinger) != CONDD_OK) {
        fprintf(stderr, "stallprobe: cannot connect\n");
        return 3;
    }
    condd_options_free(o);
    issue_acquires(&p);
    send_ping(&p);
    event_base_dispatch(p.base);
    if (p.failed || p.phase != 2 || p.nrtt == 0) {
        fprintf(stderr, "stallprobe: failed\n");
        return 1;
    }
    qsort(p.rtt, p.nrtt, sizeof *p.rtt, cmp_double);
    printf("%" PRIu64 " locks: cleanup %.1f ms; %zu pings meanwhile: max %.2f ms, p99 %.2f ms, "
           "p50 %.3f ms\n",
           p.nlocks, (p.t_done - p.t_close) * 1e3, p.nrtt, p.rtt[p.nrtt - 1] * 1e3,
           p.rtt[(size_t)((double)(p.nrtt - 1) * 0.99)] * 1e3, p.rtt[p.nrtt / 2] * 1e3);
    free(p.rtt);
    condd_async_conn_close(p.pinger);
    event_base_free(p.base);
    return 0;
}
