/* SPDX-License-Identifier: BSD-2-Clause
 *
 * stallprobe: how long the daemon's event loop stalls while a big session ends. A child process
 * takes N locks (pipelined), or with -w queues N acquires (N owners) behind a lock the prober
 * holds, and says so through a pipe; the prober then SIGKILLs it, as a crashed client, and pings
 * back to back until Stats show the child's locks or queued requests gone. Prints the round
 * trips of the pings sent meanwhile (max, p99, p50) and how long the cleanup took. Every ping
 * waits behind whatever the event loop is doing, so the worst round trip is the longest stall.
 * The child is a separate process so that nothing of the client side is measured.
 *
 * Usage: stallprobe [-s ADDR] [-n N] [-w]   (default 127.0.0.1:7380, 1000000 locks; with -w,
 *        N queued acquires: at most the daemon's --max-pending)
 * Run it against a release build; see bench/RESULTS.md.
 */
#include <event2/event.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condd/condd.h>
#include <condd/condd_async.h>

#include "clock.h"

#define PIPELINE 20000 /* acquires in flight at once while taking the locks */
#define QUEUE_LOCK "stall-q"

/* ------------------------------------------------------------------ the holder (child) */

struct holder {
    struct event_base *base;
    condd_async_conn *ac;
    uint64_t n, issued, done;
    bool queue;
    int ready_fd; /* one byte written once everything is in place */
    int failed;
};

static void holder_fail(struct holder *h, const char *what, int rc)
{
    fprintf(stderr, "stallprobe: holder: %s: %s\n", what, condd_strerror(rc));
    h->failed = 1;
    event_base_loopbreak(h->base);
}

static void holder_ready(condd_async_conn *ac, int rc, void *arg)
{
    (void)ac;
    struct holder *h = arg;
    if (rc != CONDD_OK) {
        holder_fail(h, "ping", rc);
        return;
    }
    /* The ping came back after every request before it was handled: all is in place. */
    if (write(h->ready_fd, "r", 1) != 1)
        h->failed = 1;
}

static void holder_issue(struct holder *h);

static void holder_acquired(condd_async_conn *ac, int rc, uint64_t token, void *arg)
{
    (void)token;
    struct holder *h = arg;
    if (rc != CONDD_OK) {
        holder_fail(h, "acquire", rc);
        return;
    }
    if (++h->done == h->n) {
        rc = condd_async_conn_ping(ac, holder_ready, h);
        if (rc != CONDD_OK)
            holder_fail(h, "ping", rc);
        return;
    }
    holder_issue(h);
}

/* Queued acquires are never answered: the holder is killed first. */
static void holder_queued(condd_async_conn *ac, int rc, uint64_t token, void *arg)
{
    (void)ac;
    (void)token;
    struct holder *h = arg;
    holder_fail(h, "queued acquire answered", rc);
}

static void holder_issue(struct holder *h)
{
    char name[32];
    while (h->issued < h->n && (h->queue || h->issued - h->done < PIPELINE)) {
        int rc;
        if (h->queue) {
            rc = condd_async_lock_acquire(h->ac, QUEUE_LOCK, h->issued + 1, CONDD_FOREVER,
                                          holder_queued, h, NULL);
        } else {
            snprintf(name, sizeof name, "stall-%" PRIu64, h->issued);
            rc = condd_async_lock_acquire(h->ac, name, 0, CONDD_FOREVER, holder_acquired, h, NULL);
        }
        if (rc != CONDD_OK) {
            holder_fail(h, "acquire", rc);
            return;
        }
        h->issued++;
    }
    if (h->queue) {
        int rc = condd_async_conn_ping(h->ac, holder_ready, h);
        if (rc != CONDD_OK)
            holder_fail(h, "ping", rc);
    }
}

/* The child: takes or queues, reports, and waits to be killed. Never returns. */
static void holder_run(const char *addr, uint64_t n, bool queue, int ready_fd)
{
    struct holder h = {.n = n, .queue = queue, .ready_fd = ready_fd};
    h.base = event_base_new();
    condd_options *o = condd_options_new();
    if (h.base == NULL || o == NULL)
        _exit(1);
    condd_options_set_session_timeout(o, 600);
    int rc = condd_async_conn_open(h.base, addr, o, NULL, NULL, &h.ac);
    condd_options_free(o);
    if (rc != CONDD_OK) {
        fprintf(stderr, "stallprobe: holder: connect: %s\n", condd_strerror(rc));
        _exit(1);
    }
    holder_issue(&h);
    event_base_dispatch(h.base);
    _exit(h.failed ? 1 : 0);
}

/* ------------------------------------------------------------------ the prober */

struct probe {
    struct event_base *base;
    condd_async_conn *ac;
    bool queue;
    bool measuring;
    double t_ping, t_kill, t_done;
    double *rtt;
    size_t nrtt, caprtt;
    int failed;
};

static void probe_fail(struct probe *p, const char *what, int rc)
{
    fprintf(stderr, "stallprobe: %s: %s\n", what, condd_strerror(rc));
    p->failed = 1;
    event_base_loopbreak(p->base);
}

static void probe_ping(struct probe *p);

static void probe_on_stats(condd_async_conn *ac, int rc, const condd_stats *st, void *arg)
{
    (void)ac;
    struct probe *p = arg;
    if (rc != CONDD_OK) {
        probe_fail(p, "stats", rc);
        return;
    }
    /* Left: with -w the prober's own lock; otherwise nothing. */
    if (p->queue ? st->lock_waiters == 0 : st->locks == 0) {
        p->t_done = clk_mono();
        event_base_loopbreak(p->base);
        return;
    }
    probe_ping(p);
}

static void probe_on_pong(condd_async_conn *ac, int rc, void *arg)
{
    struct probe *p = arg;
    if (rc != CONDD_OK) {
        probe_fail(p, "ping", rc);
        return;
    }
    if (p->nrtt == p->caprtt) {
        p->caprtt = p->caprtt ? p->caprtt * 2 : 4096;
        p->rtt = realloc(p->rtt, p->caprtt * sizeof *p->rtt);
        if (p->rtt == NULL)
            abort();
    }
    p->rtt[p->nrtt++] = clk_mono() - p->t_ping;
    /* Every 16th probe asks whether the cleanup is over. */
    if (p->nrtt % 16 == 0) {
        rc = condd_async_conn_stats(ac, probe_on_stats, p);
        if (rc != CONDD_OK)
            probe_fail(p, "stats", rc);
        return;
    }
    probe_ping(p);
}

static void probe_ping(struct probe *p)
{
    p->t_ping = clk_mono();
    int rc = condd_async_conn_ping(p->ac, probe_on_pong, p);
    if (rc != CONDD_OK)
        probe_fail(p, "ping", rc);
}

static void probe_on_token(condd_async_conn *ac, int rc, uint64_t token, void *arg)
{
    (void)ac;
    (void)token;
    struct probe *p = arg;
    if (rc != CONDD_OK)
        probe_fail(p, "acquire " QUEUE_LOCK, rc);
    else
        event_base_loopbreak(p->base);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *addr = NULL;
    uint64_t n = 1000000;
    struct probe p = {0};
    int opt;
    while ((opt = getopt(argc, argv, "s:n:wh")) != -1) {
        switch (opt) {
        case 's':
            addr = optarg;
            break;
        case 'n':
            n = strtoull(optarg, NULL, 10);
            break;
        case 'w':
            p.queue = true;
            break;
        default:
            fprintf(stderr, "usage: stallprobe [-s ADDR] [-n N] [-w]\n");
            return 2;
        }
    }
    if (n == 0) {
        fprintf(stderr, "stallprobe: -n must be at least 1\n");
        return 2;
    }
    p.base = event_base_new();
    if (p.base == NULL ||
        condd_async_conn_open(p.base, addr, NULL, NULL, NULL, &p.ac) != CONDD_OK) {
        fprintf(stderr, "stallprobe: cannot connect\n");
        return 3;
    }
    if (p.queue) { /* hold the lock the child's acquires queue behind */
        if (condd_async_lock_acquire(p.ac, QUEUE_LOCK, 0, CONDD_FOREVER, probe_on_token, &p,
                                     NULL) != CONDD_OK)
            return 1;
        event_base_dispatch(p.base);
        if (p.failed)
            return 1;
    }
    int pfd[2];
    if (pipe(pfd) != 0)
        return 1;
    pid_t child = fork();
    if (child < 0)
        return 1;
    if (child == 0) {
        close(pfd[0]);
        holder_run(addr, n, p.queue, pfd[1]);
    }
    close(pfd[1]);
    char c;
    if (read(pfd[0], &c, 1) != 1) {
        fprintf(stderr, "stallprobe: the holder failed\n");
        waitpid(child, NULL, 0);
        return 1;
    }
    fprintf(stderr, "stallprobe: %" PRIu64 " %s; killing the holder\n", n,
            p.queue ? "acquires queued" : "locks held");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    p.t_kill = clk_mono();
    probe_ping(&p);
    event_base_dispatch(p.base);
    if (p.failed || p.nrtt == 0) {
        fprintf(stderr, "stallprobe: failed\n");
        return 1;
    }
    qsort(p.rtt, p.nrtt, sizeof *p.rtt, cmp_double);
    printf("%" PRIu64 " %s: cleanup within %.1f ms; %zu pings meanwhile: max %.2f ms, p99 %.2f ms, "
           "p50 %.3f ms\n",
           n, p.queue ? "queued acquires" : "locks", (p.t_done - p.t_kill) * 1e3, p.nrtt,
           p.rtt[p.nrtt - 1] * 1e3, p.rtt[(size_t)((double)(p.nrtt - 1) * 0.99)] * 1e3,
           p.rtt[p.nrtt / 2] * 1e3);
    free(p.rtt);
    condd_async_conn_close(p.ac);
    event_base_free(p.base);
    return 0;
}
