/* SPDX-License-Identifier: BSD-2-Clause
 *
 * snapbench: the cost of the live restart's state (daemon/snapshot.c) at the size. A
 * real server (no listener; clients on socketpairs, as tests/check_snapshot.c) is filled
 * through the normal request path with SESSIONS sessions holding LOCKS locks in all and
 * WAITERS condition waiters (each on its own condition, its lock released by the wait), every
 * client vanishes (its session detaches), and then snapshot_save() into a memfd and
 * snapshot_load() into a fresh server are timed, best of RUNS. Prints the size and the times.
 *
 *     bench/snapbench [sessions locks waiters runs]      (default 1000 100000 10000 5)
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "engine.h"
#include "frame.h"
#include "log.h"
#include "server.h"
#include "server_internal.h"
#include "settings.h"
#include "snapshot.h"

/* CPU seconds of this process: on a loaded machine wall time mostly measures the others. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "snapbench: %s\n", what);
    exit(1);
}

struct client {
    int fd;
    uint64_t next_id;
    uint8_t *out;
    size_t olen, ocap;
};

static void queue(struct client *c, Condd__V1__Request *req)
{
    req->id = ++c->next_id;
    size_t n = frame_encoded_size(&req->base);
    if (c->ocap - c->olen < n) {
        c->ocap = (c->ocap + n) * 2;
        c->out = realloc(c->out, c->ocap);
        if (c->out == NULL)
            die("out of memory");
    }
    c->olen += frame_encode(&req->base, c->out + c->olen);
}

/* Writes what is queued and pumps the server until every answer (want of them) has come. */
static void flush_and_drain(struct event_base *base, struct client *c, size_t want)
{
    size_t off = 0, got = 0;
    uint8_t buf[65536];
    size_t blen = 0;
    double end = clk_mono() + 60;
    while ((off < c->olen || got < want) && clk_mono() < end) {
        if (off < c->olen) {
            ssize_t w = write(c->fd, c->out + off, c->olen - off);
            if (w > 0)
                off += (size_t)w;
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
        ssize_t r = read(c->fd, buf + blen, sizeof buf - blen);
        if (r > 0)
            blen += (size_t)r;
        size_t p = 0, plen;
        while (frame_peek(buf + p, blen - p, UINT32_MAX, &plen) == FRAME_OK) {
            p += FRAME_HEADER_BYTES + plen;
            got++;
        }
        memmove(buf, buf + p, blen - p);
        blen -= p;
    }
    if (got < want)
        die("the server did not answer in time");
    c->olen = 0;
}

static ProtobufCBinaryData bytes_of(const char *s)
{
    return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

static struct server *new_server(struct event_base *base)
{
    struct settings s;
    settings_init(&s);
    s.max_pending = 1000000;
    struct server *srv = server_new(base, &s);
    settings_clear(&s);
    if (srv == NULL)
        die("server_new failed");
    return srv;
}

/* Fills srv: nsess sessions holding nlocks locks and nwaiters condition waits in all. */
static void fill(struct event_base *base, struct server *srv, int nsess, int nlocks, int nwaiters)
{
    for (int i = 0; i < nsess; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            die("socketpair");
        fcntl(sv[0], F_SETFL, O_NONBLOCK);
        fcntl(sv[1], F_SETFL, O_NONBLOCK);
        if (conn_new(srv, sv[0], true, "bench") == NULL)
            die("conn_new");
        struct client c = {.fd = sv[1]};
        Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
        Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
        h.protocol_version = 1;
        h.client_name = "snapbench";
        h.grace_s = 60;
        req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
        req.hello = &h;
        queue(&c, &req);
        size_t want = 1;
        int mine = nlocks / nsess + (i < nlocks % nsess);
        int waits = nwaiters / nsess + (i < nwaiters % nsess);
        char name[64], cond[64];
        for (int k = 0; k < mine; k++) {
            snprintf(name, sizeof name, "lock/%d/%d", i, k);
            Condd__V1__Request r = CONDD__V1__REQUEST__INIT;
            Condd__V1__Acquire a = CONDD__V1__ACQUIRE__INIT;
            a.lock = bytes_of(name);
            a.owner = 1;
            r.body_case = CONDD__V1__REQUEST__BODY_ACQUIRE;
            r.acquire = &a;
            queue(&c, &r);
            want++;
        }
        for (int k = 0; k < waits; k++) {
            snprintf(name, sizeof name, "wlock/%d/%d", i, k);
            snprintf(cond, sizeof cond, "cond/%d/%d", i, k);
            Condd__V1__Request r = CONDD__V1__REQUEST__INIT;
            Condd__V1__Acquire a = CONDD__V1__ACQUIRE__INIT;
            a.lock = bytes_of(name);
            a.owner = 2;
            r.body_case = CONDD__V1__REQUEST__BODY_ACQUIRE;
            r.acquire = &a;
            queue(&c, &r);
            want++;
            Condd__V1__Request w = CONDD__V1__REQUEST__INIT;
            Condd__V1__Wait wt = CONDD__V1__WAIT__INIT;
            Condd__V1__Timeout to = CONDD__V1__TIMEOUT__INIT;
            to.seconds = 3600;
            wt.condition = bytes_of(cond);
            wt.lock = bytes_of(name);
            wt.owner = 2;
            wt.timeout = &to;
            w.body_case = CONDD__V1__REQUEST__BODY_WAIT;
            w.wait = &wt;
            queue(&c, &w); /* pending: no answer */
        }
        flush_and_drain(base, &c, want);
        free(c.out);
        close(c.fd); /* vanishes: the session detaches */
    }
    double end = clk_mono() + 60;
    while (srv->ndetached < (uint64_t)nsess && clk_mono() < end)
        event_base_loop(base, EVLOOP_NONBLOCK);
    if (srv->ndetached != (uint64_t)nsess)
        die("not every session detached");
}

int main(int argc, char **argv)
{
    int nsess = argc > 1 ? atoi(argv[1]) : 1000;
    int nlocks = argc > 2 ? atoi(argv[2]) : 100000;
    int nwaiters = argc > 3 ? atoi(argv[3]) : 10000;
    int runs = argc > 4 ? atoi(argv[4]) : 5;
    if (nsess < 1 || nlocks < 0 || nwaiters < 0 || runs < 1) {
        fprintf(stderr, "usage: snapbench [sessions locks waiters runs]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    log_init(LOG_LVL_ERROR);
    struct event_base *base = event_base_new();
    struct server *srv = new_server(base);
    double t0 = clk_mono();
    fill(base, srv, nsess, nlocks, nwaiters);
    struct engine_stats es;
    engine_get_stats(server_engine(srv), &es);
    printf("state: %d sessions, %llu locks held, %llu condition waiters (filled in %.2f s)\n",
           nsess, (unsigned long long)es.locks_held, (unsigned long long)es.condition_waiters,
           clk_mono() - t0);
    double best_save = 1e9, best_load = 1e9, cpu_save = 1e9, cpu_load = 1e9;
    struct snapshot_info si = {0}, li = {0};
    for (int r = 0; r < runs; r++) {
        int fd = memfd_create("condd-state", MFD_CLOEXEC);
        if (fd < 0)
            die("memfd_create");
        double a = clk_mono(), ca = cpu_now();
        if (!snapshot_save(srv, fd, &si))
            die("save failed");
        double b = clk_mono(), cb = cpu_now();
        lseek(fd, 0, SEEK_SET);
        struct event_base *base2 = event_base_new();
        struct server *srv2 = new_server(base2);
        char why[256];
        double c = clk_mono(), cc = cpu_now();
        if (!snapshot_load(srv2, fd, why, sizeof why, &li)) {
            fprintf(stderr, "snapbench: load refused: %s\n", why);
            return 1;
        }
        double d = clk_mono(), cd = cpu_now();
        if (cb - ca < cpu_save)
            cpu_save = cb - ca;
        if (cd - cc < cpu_load)
            cpu_load = cd - cc;
        if (b - a < best_save)
            best_save = b - a;
        if (d - c < best_load)
            best_load = d - c;
        server_free(srv2);
        event_base_free(base2);
        close(fd);
    }
    printf("size: %zu bytes (%.1f MB); sessions %llu, locks %llu, holders %llu, waiters %llu\n",
           si.bytes, si.bytes / 1e6, (unsigned long long)li.sessions, (unsigned long long)li.locks,
           (unsigned long long)li.holders, (unsigned long long)li.waiters);
    printf("save: %.1f ms   load: %.1f ms   (wall, best of %d)\n", best_save * 1e3, best_load * 1e3,
           runs);
    printf("save: %.1f ms   load: %.1f ms   (CPU time of the process, best of %d)\n",
           cpu_save * 1e3, cpu_load * 1e3, runs);
    server_free(srv);
    event_base_free(base);
    return 0;
}
