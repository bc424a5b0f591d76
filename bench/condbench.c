/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condbench's entry point: the command line, the worker threads (one libevent loop each, the
 * connections split between them), the measured window, and the report that ends with the one
 * line every script parses:
 *   condbench target=T mode=M connections=C ops=N ops_per_s=X p50_us=A p99_us=B p999_us=D
 * Against a condd server list it first prints one "shard:" line per server (its share of the
 * cycles); the final line is the total.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <condd/condd.h>

#include "clock.h"
#include "condbench.h"

struct bench_opts g_opts;

static const char *const mode_names[MODE_COUNT] = {
    [MODE_UNCONTENDED] = "uncontended",
    [MODE_CONTENDED] = "contended",
    [MODE_HANDOFF] = "handoff",
    [MODE_FANOUT] = "fanout",
    [MODE_CHURN] = "churn",
    [MODE_IDLE] = "idle",
    [MODE_SEM] = "sem",
    [MODE_SEM_CONTENDED] = "sem-contended",
    [MODE_BARRIER] = "barrier",
    [MODE_RW] = "rw",
};

static const char *const kind_names[KIND_COUNT] = {
    [KIND_LOCK] = "lock",       [KIND_SEM] = "sem",   [KIND_EVENT] = "event",
    [KIND_BARRIER] = "barrier", [KIND_COND] = "cond",
};

static const struct target *const targets[] = {
    &target_condd,
#ifdef HAVE_HIREDIS
    &target_redis,
#endif
    &target_echo,
};

static pthread_barrier_t g_barrier;
static double g_cpu_begin, g_cpu_end; /* condbench's own user+system seconds (all threads) */
static struct server_snapshot g_snap_before, g_snap_after;

/* ------------------------------------------------------------------ command line */

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: condbench [OPTION]...\n"
        "Drive many connections against a lock server and report cycles/s and grant latency.\n"
        "\n"
        "  -t, --target T       condd (default), redis"
#ifndef HAVE_HIREDIS
        " (not built: no hiredis)"
#endif
        " or echo\n"
        "  -m, --mode M         uncontended (default), contended, handoff, fanout, churn, idle,\n"
        "                       sem, sem-contended, barrier, rw\n"
        "  -a, --address ADDR   server address (condd 127.0.0.1:7380, redis 127.0.0.1:6379,\n"
        "                       echo 127.0.0.1:7390; condd also takes unix:/path and\n"
        "                       tls:HOST:PORT)\n"
        "  -s, --servers LIST   condd: a comma-separated server list (a:7380,b:7380); every\n"
        "                       name goes to its server by protocol.md §21's routing, over\n"
        "                       one connection per server per benchmark connection\n"
        "      --balance        with a server list (uncontended, sem, handoff): choose each\n"
        "                       connection's name so that connection i (handoff: pair i)\n"
        "                       lands on server i mod N\n"
        "  -c N                 connections (default 1; handoff: an even number)\n"
        "  -d SECONDS           measured duration (default 5)\n"
        "  -n, --names N        churn: distinct lock names (default 1000000)\n"
        "  -T, --threads T      client threads, each with its own loop (default 1)\n"
        "      --owners N       fanout: waiters per connection (default 1)\n"
        "      --hold           churn: keep every name (measures memory per name)\n"
        "      --kind K         churn --hold: what each name keeps: lock (default, held),\n"
        "                       sem (a permit held), event (set), barrier (one waiter of 2\n"
        "                       parties) or cond (one condition waiter)\n"
        "      --value N        sem, sem-contended: permits of the semaphore (default 1)\n"
        "      --bounded        sem, sem-contended: a BoundedSemaphore\n"
        "      --parties N      barrier: parties, waits spread over the connections\n"
        "                       (default: -c)\n"
        "      --pipeline       redis: send the release with the next SET, without waiting\n"
        "      --echo-bytes N   echo: payload bytes per frame (default 48)\n"
        "      --ca FILE        condd: CA certificates for a tls:HOST:PORT address\n"
        "      --rate R         uncontended: offer R cycles/s over all connections (each holds\n"
        "                       its lock until its next cycle is due), to compare servers or\n"
        "                       transports at the same load\n"
        "      --json           also print the results as one JSON object\n"
        "  -q, --quiet          print only the final line (and the JSON)\n"
        "  -h, --help           print this help and exit\n");
}

static unsigned long long parse_num(const char *opt, const char *s, unsigned long long lo,
                                    unsigned long long hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        bench_warn("%s: expected an integer in [%llu, %llu], got '%s'", opt, lo, hi, s);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    enum {
        OPT_OWNERS = 256,
        OPT_HOLD,
        OPT_PIPELINE,
        OPT_ECHO_BYTES,
        OPT_JSON,
        OPT_KIND,
        OPT_VALUE,
        OPT_BOUNDED,
        OPT_PARTIES,
        OPT_CA,
        OPT_BALANCE,
        OPT_RATE
    };
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 't'},
        {"mode", required_argument, NULL, 'm'},
        {"address", required_argument, NULL, 'a'},
        {"servers", required_argument, NULL, 's'},
        {"balance", no_argument, NULL, OPT_BALANCE},
        {"names", required_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 'T'},
        {"owners", required_argument, NULL, OPT_OWNERS},
        {"hold", no_argument, NULL, OPT_HOLD},
        {"pipeline", no_argument, NULL, OPT_PIPELINE},
        {"echo-bytes", required_argument, NULL, OPT_ECHO_BYTES},
        {"json", no_argument, NULL, OPT_JSON},
        {"kind", required_argument, NULL, OPT_KIND},
        {"value", required_argument, NULL, OPT_VALUE},
        {"bounded", no_argument, NULL, OPT_BOUNDED},
        {"parties", required_argument, NULL, OPT_PARTIES},
        {"ca", required_argument, NULL, OPT_CA},
        {"rate", required_argument, NULL, OPT_RATE},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *target = "condd", *mode = "uncontended", *kind = NULL;
    bool value_given = false;
    g_opts.connections = 1;
    g_opts.duration_s = 5;
    g_opts.names = 1000000;
    g_opts.threads = 1;
    g_opts.owners = 1;
    g_opts.echo_bytes = 48;
    g_opts.value = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "t:m:a:s:c:d:n:T:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 't':
            target = optarg;
            break;
        case 'm':
            mode = optarg;
            break;
        case 'a':
        case 's':
            g_opts.address = optarg;
            break;
        case OPT_BALANCE:
            g_opts.balance = true;
            break;
        case 'c':
            g_opts.connections = (unsigned)parse_num("-c", optarg, 1, 1000000);
            break;
        case 'd': {
            char *end;
            g_opts.duration_s = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(g_opts.duration_s > 0) ||
                g_opts.duration_s > 86400) {
                bench_warn("-d: expected seconds in (0, 86400], got '%s'", optarg);
                exit(2);
            }
            break;
        }
        case 'n':
            g_opts.names = parse_num("--names", optarg, 1, UINT64_MAX / 2);
            break;
        case 'T':
            g_opts.threads = (unsigned)parse_num("--threads", optarg, 1, 64);
            break;
        case OPT_OWNERS:
            g_opts.owners = (unsigned)parse_num("--owners", optarg, 1, 100000);
            break;
        case OPT_HOLD:
            g_opts.hold = true;
            break;
        case OPT_PIPELINE:
            g_opts.pipeline = true;
            break;
        case OPT_ECHO_BYTES:
            g_opts.echo_bytes = (unsigned)parse_num("--echo-bytes", optarg, 1, 65536);
            break;
        case OPT_JSON:
            g_opts.json = true;
            break;
        case OPT_KIND:
            kind = optarg;
            break;
        case OPT_VALUE:
            /* The server's range for a semaphore's value (protocol.md §17). */
            g_opts.value = (uint32_t)parse_num("--value", optarg, 1, 1u << 31);
            value_given = true;
            break;
        case OPT_BOUNDED:
            g_opts.bounded = true;
            break;
        case OPT_PARTIES:
            g_opts.parties = (uint32_t)parse_num("--parties", optarg, 1, 1u << 31);
            break;
        case OPT_CA:
            g_opts.tls_ca = optarg;
            break;
        case OPT_RATE: {
            char *end;
            g_opts.rate = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(g_opts.rate > 0) || g_opts.rate > 1e9) {
                bench_warn("--rate: expected cycles per second in (0, 1e9], got '%s'", optarg);
                exit(2);
            }
            break;
        }
        case 'q':
            g_opts.quiet = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind != argc) {
        bench_warn("unexpected argument '%s'", argv[optind]);
        exit(2);
    }
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (strcmp(targets[i]->name, target) == 0)
            g_opts.target = targets[i];
    if (g_opts.target == NULL) {
        bench_warn("unknown target '%s'%s", target,
                   strcmp(target, "redis") == 0 ? " (built without hiredis)" : "");
        exit(2);
    }
    g_opts.mode = MODE_COUNT;
    for (int m = 0; m < MODE_COUNT; m++)
        if (strcmp(mode_names[m], mode) == 0)
            g_opts.mode = (enum bench_mode)m;
    if (g_opts.mode == MODE_COUNT) {
        bench_warn("unknown mode '%s'", mode);
        exit(2);
    }
    if (!(g_opts.target->modes & MODE_BIT(g_opts.mode))) {
        bench_warn("target %s cannot run mode %s", target, mode);
        exit(2);
    }
    if (g_opts.address == NULL)
        g_opts.address = g_opts.target->default_address;
    if (g_opts.target == &target_condd) {
        char why[256];
        if (!route_list_parse(g_opts.address, CONDD_DEFAULT_PORT, &g_opts.servers, why,
                              sizeof why)) {
            bench_warn("-a/-s: %s", why);
            exit(2);
        }
    } else if (strchr(g_opts.address, ',') != NULL) {
        bench_warn("a server list is for --target condd");
        exit(2);
    }
    if (g_opts.balance && g_opts.mode != MODE_UNCONTENDED && g_opts.mode != MODE_SEM &&
        g_opts.mode != MODE_HANDOFF) {
        bench_warn("--balance is for --mode uncontended, sem and handoff");
        exit(2);
    }
    if (g_opts.rate > 0 && g_opts.mode != MODE_UNCONTENDED) {
        bench_warn("--rate is for --mode uncontended");
        exit(2);
    }
    if (g_opts.hold && g_opts.mode != MODE_CHURN) {
        bench_warn("--hold is for --mode churn");
        exit(2);
    }
    if (kind != NULL) {
        g_opts.kind = KIND_COUNT;
        for (int k = 0; k < KIND_COUNT; k++)
            if (strcmp(kind_names[k], kind) == 0)
                g_opts.kind = (enum hold_kind)k;
        if (g_opts.kind == KIND_COUNT) {
            bench_warn("unknown kind '%s' (lock, sem, event, barrier or cond)", kind);
            exit(2);
        }
        if (!g_opts.hold) {
            bench_warn("--kind is for --mode churn --hold");
            exit(2);
        }
    }
    bool sem_mode = g_opts.mode == MODE_SEM || g_opts.mode == MODE_SEM_CONTENDED;
    if ((value_given || g_opts.bounded) && !sem_mode) {
        bench_warn("--value and --bounded are for --mode sem and sem-contended");
        exit(2);
    }
    if (g_opts.parties != 0 && g_opts.mode != MODE_BARRIER) {
        bench_warn("--parties is for --mode barrier");
        exit(2);
    }
    if (g_opts.parties == 0)
        g_opts.parties = g_opts.connections;
    if (g_opts.mode == MODE_HANDOFF && g_opts.connections % 2 != 0) {
        bench_warn("handoff runs pairs: -c must be even");
        exit(2);
    }
    if (g_opts.threads > g_opts.connections)
        g_opts.threads = g_opts.connections;
    /* Fanout's notifier counts every waiter of the round, barrier every answer of the
     * generation: keep them on one loop. */
    if ((g_opts.mode == MODE_FANOUT || g_opts.mode == MODE_BARRIER || g_opts.mode == MODE_RW) &&
        g_opts.threads > 1) {
        bench_warn("%s runs on one thread; ignoring --threads %u", mode, g_opts.threads);
        g_opts.threads = 1;
    }
    snprintf(g_opts.prefix, sizeof g_opts.prefix, "cb%ld", (long)getpid());
}

/* Thousands of connections need descriptors: take the hard limit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t per = g_opts.servers.n > 1 ? (rlim_t)g_opts.servers.n : 1;
    rlim_t need = (rlim_t)g_opts.connections * per + 64;
    if (rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
        bench_warn("open-file limit %llu is below the %llu descriptors -c %u needs",
                   (unsigned long long)rl.rlim_cur, (unsigned long long)need, g_opts.connections);
}

/* ------------------------------------------------------------------ workers */

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    w->measuring = false;
    w->stopping = true;
    event_base_loopbreak(w->base);
}

/* Runs w's loop until every connection opened so far has finished connecting. */
static void wait_connected(struct worker *w, unsigned upto)
{
    while (w->connected < upto)
        if (event_base_loop(w->base, EVLOOP_ONCE) < 0)
            break;
}

static void open_conn(struct bench_conn *cn)
{
    cn->t_start = clk_mono_ns();
    if (!g_opts.target->open(cn)) {
        cn->w->connected++;
        cn->w->failed++;
        loop_fail(cn, "cannot start connecting");
    }
}

static double process_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct worker_result {
    uint64_t t_begin, t_end;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct worker_result *res = calloc(1, sizeof *res);
    const struct target *t = g_opts.target;
    unsigned opened = 0;
    /* Worker 0 first takes the server's state with only its first connection open, so that the
     * memory figures (idle sessions, held locks) are differences against one session. */
    if (w->id == 0 && t->snapshot != NULL && w->nconns > 0) {
        open_conn(&w->conns[0]);
        opened = 1;
        wait_connected(w, 1);
        if (w->conns[0].ready)
            t->snapshot(&w->conns[0], &g_snap_before);
    }
    pthread_barrier_wait(&g_barrier);
    for (unsigned i = opened; i < w->nconns; i++) {
        open_conn(&w->conns[i]);
        /* Do not let thousands of connects pile up before the loop runs. */
        if ((i & 255u) == 255u)
            event_base_loop(w->base, EVLOOP_NONBLOCK);
    }
    wait_connected(w, w->nconns);
    if (w->failed == w->nconns)
        w->stopping = true; /* nothing to measure on this worker */
    pthread_barrier_wait(&g_barrier);

    if (w->id == 0)
        g_cpu_begin = process_cpu_s();
    res->t_begin = clk_mono_ns();
    w->deadline_ns = res->t_begin + (uint64_t)(g_opts.duration_s * 1e9);
    struct timeval tv = {
        (time_t)g_opts.duration_s,
        (suseconds_t)((g_opts.duration_s - (double)(time_t)g_opts.duration_s) * 1e6)};
    w->stop_ev = evtimer_new(w->base, on_stop, w);
    evtimer_add(w->stop_ev, &tv);
    if (!w->stopping) {
        if (g_opts.mode == MODE_HANDOFF || g_opts.mode == MODE_FANOUT || g_opts.mode == MODE_IDLE ||
            g_opts.mode == MODE_BARRIER || g_opts.mode == MODE_RW)
            t->mode_start(w);
        else
            loop_start(w);
    }
    if (!w->stopping)
        event_base_dispatch(w->base);
    w->measuring = false;
    w->stopping = true;
    res->t_end = clk_mono_ns();
    if (t->mode_report != NULL && w->mode_state != NULL)
        t->mode_report(w);

    /* Everyone stops before the last snapshot, so it sees the state the run left. */
    pthread_barrier_wait(&g_barrier);
    if (w->id == 0)
        g_cpu_end = process_cpu_s();
    if (w->id == 0 && t->snapshot != NULL && w->nconns > 0 && w->conns[0].ready &&
        !w->conns[0].dead)
        t->snapshot(&w->conns[0], &g_snap_after);
    for (unsigned i = 0; i < w->nconns; i++) {
        t->close(&w->conns[i]);
        if (w->conns[i].pace != NULL)
            event_free(w->conns[i].pace);
    }
    /* Let closes finish their callbacks before the loop goes. */
    event_base_loop(w->base, EVLOOP_NONBLOCK);
    event_free(w->stop_ev);
    if (w->poll_ev != NULL)
        event_free(w->poll_ev);
    return res;
}

/* ------------------------------------------------------------------ report */

/* The mean length of the names "<prefix>:n:<k>" for k in [0, n): what --hold stored. */
static double mean_name_len(uint64_t n)
{
    uint64_t digits = 0, lo = 0, hi = 10;
    for (unsigned d = 1; lo < n; d++, lo = hi, hi *= 10)
        digits += d * ((hi < n ? hi : n) - lo);
    return (double)strlen(g_opts.prefix) + 3.0 + (double)digits / (double)n;
}

/* What churn --hold left on the server: the Stats counter of its kind, before and after. */
static uint64_t hold_count(const struct server_snapshot *s)
{
    switch (g_opts.kind) {
    case KIND_SEM:
        return s->permits_held;
    case KIND_EVENT:
        return s->events_set;
    case KIND_BARRIER:
        return s->barrier_waiters;
    case KIND_COND:
        return s->condition_waiters;
    default:
        return s->locks_held;
    }
}

static void print_hold(int64_t rss_growth, uint64_t refused)
{
    uint64_t before = hold_count(&g_snap_before), after = hold_count(&g_snap_after);
    uint64_t added = after > before ? after - before : 0;
    int64_t table_growth = (int64_t)g_snap_after.table_bytes - (int64_t)g_snap_before.table_bytes;
    double n = added > 0 ? (double)added : 1;
    printf("hold: kind=%s names_added=%" PRIu64 " refused=%" PRIu64 " rss_growth=%" PRId64
           " bytes_per_name=%.0f table_growth=%" PRId64 " table_bytes_per_name=%.1f"
           " mean_name_bytes=%.1f\n",
           kind_names[g_opts.kind], added, refused, rss_growth,
           added > 0 ? (double)rss_growth / n : 0.0, table_growth,
           added > 0 ? (double)table_growth / n : 0.0, added > 0 ? mean_name_len(added) : 0.0);
}

static void print_report(struct worker *ws, double elapsed_s)
{
    struct hist *h = calloc(1, sizeof *h);
    if (h == NULL)
        abort();
    hist_init(h);
    uint64_t ops = 0, errors = 0, failed = 0, refused = 0, gmin = UINT64_MAX, gmax = 0;
    double gsum = 0, gsq = 0;
    for (unsigned i = 0; i < g_opts.threads; i++) {
        hist_merge(h, ws[i].hist);
        ops += ws[i].ops;
        errors += ws[i].errors;
        failed += ws[i].failed;
        refused += ws[i].refused;
        for (unsigned j = 0; j < ws[i].nconns; j++) {
            uint64_t g = ws[i].conns[j].grants;
            gmin = g < gmin ? g : gmin;
            gmax = g > gmax ? g : gmax;
            gsum += (double)g;
            gsq += (double)g * (double)g;
        }
    }
    double ops_s = elapsed_s > 0 ? (double)ops / elapsed_s : 0;
    double p50 = (double)hist_quantile(h, 0.5) / 1e3, p99 = (double)hist_quantile(h, 0.99) / 1e3,
           p999 = (double)hist_quantile(h, 0.999) / 1e3;
    const char *mode = mode_names[g_opts.mode];
    if (!g_opts.quiet) {
        printf("latency_us: min=%.1f mean=%.1f p50=%.1f p90=%.1f p99=%.1f p999=%.1f max=%.1f "
               "samples=%" PRIu64 "\n",
               h->count ? (double)h->min_ns / 1e3 : 0.0, hist_mean(h) / 1e3, p50,
               (double)hist_quantile(h, 0.9) / 1e3, p99, p999, (double)h->max_ns / 1e3, h->count);
        printf("client: cpu_s=%.2f cpu_us_per_op=%.2f threads=%u\n", g_cpu_end - g_cpu_begin,
               ops > 0 ? (g_cpu_end - g_cpu_begin) * 1e6 / (double)ops : 0.0, g_opts.threads);
        if (g_opts.mode == MODE_CONTENDED || g_opts.mode == MODE_SEM_CONTENDED) {
            /* Per-connection grant counts: spread_pct against the max (the historical figure),
             * range_of_mean_pct = (max - min) / mean, and the population standard deviation. */
            double n = (double)g_opts.connections, mean = gsum / n;
            double var = gsq / n - mean * mean;
            printf("fairness: grants_min=%" PRIu64 " grants_max=%" PRIu64 " spread_pct=%.1f"
                   " grants_mean=%.1f range_of_mean_pct=%.2f grants_stddev=%.1f"
                   " stddev_of_mean_pct=%.2f\n",
                   gmin, gmax, gmax > 0 ? 100.0 * (double)(gmax - gmin) / (double)gmax : 0.0, mean,
                   mean > 0 ? 100.0 * (double)(gmax - gmin) / mean : 0.0, sqrt(var > 0 ? var : 0),
                   mean > 0 ? 100.0 * sqrt(var > 0 ? var : 0) / mean : 0.0);
        }
        if (ws[0].extra[0] != '\0')
            fputs(ws[0].extra, stdout);
        if (g_snap_before.valid && g_snap_after.valid) {
            printf("server: rss_before=%" PRIu64 " rss_after=%" PRIu64 " sessions=%" PRIu64
                   " locks_held=%" PRIu64 " table_bytes=%" PRIu64 "\n",
                   g_snap_before.rss_bytes, g_snap_after.rss_bytes, g_snap_after.sessions,
                   g_snap_after.locks_held, g_snap_after.table_bytes);
            int64_t grow = (int64_t)g_snap_after.rss_bytes - (int64_t)g_snap_before.rss_bytes;
            if (g_opts.mode == MODE_IDLE && g_snap_after.sessions > g_snap_before.sessions)
                printf("idle: sessions_added=%" PRIu64 " rss_growth=%" PRId64
                       " bytes_per_session=%.0f\n",
                       g_snap_after.sessions - g_snap_before.sessions, grow,
                       (double)grow / (double)(g_snap_after.sessions - g_snap_before.sessions));
            if (g_opts.hold)
                print_hold(grow, refused);
        }
        /* Each server's share of the cycles (the cycles it answered). */
        if (g_opts.servers.n > 1)
            for (size_t s = 0; s < g_opts.servers.n; s++) {
                uint64_t so = 0;
                for (unsigned i = 0; i < g_opts.threads; i++)
                    so += ws[i].server_ops[s];
                printf("shard: server=%s ops=%" PRIu64 " ops_per_s=%.0f share_pct=%.1f\n",
                       g_opts.servers.addr[s], so, elapsed_s > 0 ? (double)so / elapsed_s : 0.0,
                       ops > 0 ? 100.0 * (double)so / (double)ops : 0.0);
            }
        if (errors > 0 || failed > 0)
            printf("errors: %" PRIu64 " (connections that failed to connect: %" PRIu64 ")\n",
                   errors, failed);
    }
    if (g_opts.json) {
        printf("{\"target\":\"%s\",\"mode\":\"%s\",\"connections\":%u,\"threads\":%u,"
               "\"pipeline\":%s,\"duration_s\":%.3f,\"ops\":%" PRIu64 ",\"ops_per_s\":%.0f,"
               "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
               "\"max_us\":%.1f,\"mean_us\":%.1f,\"grants_min\":%" PRIu64 ",\"grants_max\":%" PRIu64
               ",\"errors\":%" PRIu64 ",\"server_rss_before\":%" PRIu64
               ",\"server_rss_after\":%" PRIu64 ",\"refused\":%" PRIu64,
               g_opts.target->name, mode, g_opts.connections, g_opts.threads,
               g_opts.pipeline ? "true" : "false", elapsed_s, ops, ops_s, p50,
               (double)hist_quantile(h, 0.9) / 1e3, p99, p999, (double)h->max_ns / 1e3,
               hist_mean(h) / 1e3, gmin == UINT64_MAX ? 0 : gmin, gmax, errors,
               g_snap_before.rss_bytes, g_snap_after.rss_bytes, refused);
        /* Cycles per server, in the order of the list (one entry with one server). */
        size_t ns = g_opts.servers.n > 1 ? g_opts.servers.n : 1;
        printf(",\"server_ops\":[");
        for (size_t s = 0; s < ns; s++) {
            uint64_t so = 0;
            for (unsigned i = 0; i < g_opts.threads; i++)
                so += ws[i].server_ops[s];
            printf("%s%" PRIu64, s > 0 ? "," : "", so);
        }
        printf("]}\n");
    }
    printf("condbench target=%s mode=%s connections=%u ops=%" PRIu64
           " ops_per_s=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f\n",
           g_opts.target->name, mode, g_opts.connections, ops, ops_s, p50, p99, p999);
    fflush(stdout);
    free(h);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    raise_fd_limit();
    unsigned nt = g_opts.threads, nc = g_opts.connections;
    struct worker *ws = calloc(nt, sizeof *ws);
    struct bench_conn *conns = calloc(nc, sizeof *conns);
    pthread_t *tids = calloc(nt, sizeof *tids);
    if (ws == NULL || conns == NULL || tids == NULL) {
        bench_warn("out of memory");
        return 1;
    }
    /* Split the connections evenly; handoff keeps each pair on one worker. */
    unsigned unit = g_opts.mode == MODE_HANDOFF ? 2 : 1;
    unsigned units = nc / unit, next = 0;
    for (unsigned i = 0; i < nt; i++) {
        struct worker *w = &ws[i];
        w->id = i;
        w->first = next;
        w->nconns = (units / nt + (i < units % nt ? 1 : 0)) * unit;
        w->conns = conns + next;
        next += w->nconns;
        w->hist = malloc(sizeof *w->hist);
        if (g_opts.rate > 0) {
            /* Pacing waits tens of microseconds: epoll's millisecond timeouts would stretch them
             * (a timerfd instead). */
            struct event_config *cfg = event_config_new();
            if (cfg != NULL)
                event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
            w->base = cfg != NULL ? event_base_new_with_config(cfg) : NULL;
            if (cfg != NULL)
                event_config_free(cfg);
        } else {
            w->base = event_base_new();
        }
        if (w->hist == NULL || w->base == NULL) {
            bench_warn("cannot set up worker %u", i);
            return 1;
        }
        hist_init(w->hist);
        for (unsigned j = 0; j < w->nconns; j++) {
            w->conns[j].w = w;
            w->conns[j].index = w->first + j;
        }
    }
    if (pthread_barrier_init(&g_barrier, NULL, nt) != 0) {
        bench_warn("cannot create a barrier");
        return 1;
    }
    for (unsigned i = 0; i < nt; i++)
        if (pthread_create(&tids[i], NULL, worker_main, &ws[i]) != 0) {
            bench_warn("cannot start thread %u", i);
            return 1;
        }
    double elapsed = 0;
    for (unsigned i = 0; i < nt; i++) {
        struct worker_result *res;
        pthread_join(tids[i], (void **)&res);
        if (res != NULL) {
            double e = (double)(res->t_end - res->t_begin) / 1e9;
            elapsed = e > elapsed ? e : elapsed;
            free(res);
        }
    }
    print_report(ws, elapsed);
    uint64_t ops = 0, errors = 0;
    for (unsigned i = 0; i < nt; i++) {
        ops += ws[i].ops;
        errors += ws[i].errors;
        event_base_free(ws[i].base);
        free(ws[i].hist);
        free(ws[i].mode_state);
    }
    free(conns);
    free(ws);
    free(tids);
    pthread_barrier_destroy(&g_barrier);
    route_list_free(&g_opts.servers);
    return errors == 0 && ops > 0 ? 0 : 1;
}
