/* SPDX-License-Identifier: BSD-2-Clause
 *
 * restart-bench: the cost of a live restart (issue 15, bench/RESULTS.md). Starts condd, builds
 * the state of the issue through libcondd's asynchronous API (S sessions, each with a grace,
 * holding L locks between them and W condition waiters), then sends SIGUSR2 and measures, from
 * the clients' clocks:
 *   - the gap: a separate process pings condd in a loop on a connection of its own (without a
 *     grace: a dropped connection is opened again at once); the gap is the time from the last
 *     answer of the old process to the first answer of the new one (to the pinger; and, the
 *     issue's measure, to any client: the pinger or the first resumed session);
 *   - the time from the signal until every session has resumed (the library's RESUMED events);
 *   - the size of the state and the save/load times, from condd's own log lines.
 * Usage: restart-bench [--condd PATH] [-s SESSIONS] [-l LOCKS] [-w WAITERS] [-r RUNS]
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <condd/condd.h>
#include <condd/condd_async.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ the pinger process */

struct pingshm {
    _Atomic int stop;
    _Atomic int ready;
    _Atomic uint64_t answers;
    _Atomic double last_before; /* set by the driver from the samples: unused by the pinger */
    /* The answer times around the largest gap seen. */
    _Atomic double gap, gap_from, gap_to;
};

static void pinger(const char *addr, struct pingshm *p)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Not the sessions' sockets: held open here, they would not close when the parent closes
     * them, and condd would wait for them at the restart. */
    struct rlimit rl;
    int maxfd =
        getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1000000 ? (int)rl.rlim_cur : 65536;
    for (int fd = 3; fd < maxfd; fd++)
        close(fd);
    double last = 0;
    while (!atomic_load(&p->stop)) {
        condd_conn *c = NULL;
        if (condd_conn_open(addr, NULL, &c) != CONDD_OK) {
            condd_conn_close(c);
            continue;
        }
        for (;;) {
            double rtt;
            if (condd_conn_ping(c, &rtt) != CONDD_OK || atomic_load(&p->stop))
                break;
            double t = now();
            if (last > 0 && t - last > atomic_load(&p->gap)) {
                atomic_store(&p->gap, t - last);
                atomic_store(&p->gap_from, last);
                atomic_store(&p->gap_to, t);
            }
            last = t;
            atomic_fetch_add(&p->answers, 1);
            atomic_store(&p->ready, 1);
        }
        condd_conn_close(c);
    }
    _exit(0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------ the state */

struct sess {
    condd_async_conn *c;
    int resumed;
    double resumed_at; /* its first RESUMED event */
};

static struct event_base *base;
static int pending, failures, resumed;
static double all_resumed_at;
static int nsessions;

static void on_session(condd_async_conn *c, int event, int reason, void *arg)
{
    struct sess *s = arg;
    if (event == CONDD_SESSION_RESUMED && s->resumed++ == 0) {
        s->resumed_at = now();
        if (++resumed == nsessions)
            all_resumed_at = now();
    }
    if (event == CONDD_SESSION_LOST)
        failures++;
}

static void on_open(condd_async_conn *c, int rc, void *arg)
{
    pending--;
    if (rc != CONDD_OK)
        failures++;
}

static void on_token(condd_async_conn *c, int rc, uint64_t token, void *arg)
{
    pending--;
    if (rc != CONDD_OK)
        failures++;
}

static void on_wait_done(condd_async_conn *c, int rc, uint64_t token, void *arg)
{
    /* Only at the end (SIGTERM to condd answers every waiter). */
}

struct waiter {
    condd_async_conn *c;
    char cond[32], lock[32];
};

static void on_cl_acquired(condd_async_conn *c, int rc, uint64_t token, void *arg)
{
    struct waiter *w = arg;
    if (rc != CONDD_OK) {
        failures++;
        pending--;
        return;
    }
    if (condd_async_cond_wait(c, w->cond, w->lock, 1, CONDD_FOREVER, on_wait_done, w, NULL) !=
        CONDD_OK)
        failures++;
    pending--;
}

static void on_ping(condd_async_conn *c, int rc, void *arg)
{
    pending--;
    if (rc != CONDD_OK)
        failures++;
}

static bool run_until_done(double timeout)
{
    double end = now() + timeout;
    while (pending > 0 && failures == 0 && now() < end)
        event_base_loop(base, EVLOOP_ONCE);
    return pending == 0 && failures == 0;
}

/* The last line of path containing needle, into out. */
static bool log_line(const char *path, const char *needle, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char line[1024];
    bool found = false;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, needle) != NULL) {
            snprintf(out, len, "%s", line);
            found = true;
        }
    }
    fclose(f);
    return found;
}

int main(int argc, char **argv)
{
    const char *condd = getenv("CONDD");
    int locks = 100000, waiters = 10000;
    nsessions = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--condd") == 0 && i + 1 < argc)
            condd = argv[++i];
        else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
            nsessions = atoi(argv[++i]);
        else if (strcmp(argv[i], "-l") == 0 && i + 1 < argc)
            locks = atoi(argv[++i]);
        else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc)
            waiters = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: restart-bench [--condd PATH] [-s SESSIONS] [-l LOCKS] "
                            "[-w WAITERS]\n");
            return 2;
        }
    }
    if (condd == NULL || nsessions < 1 || locks < 0 || waiters < 0) {
        fprintf(stderr, "restart-bench: need --condd PATH (or $CONDD) and sane counts\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nsessions + 100) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/condd-rbench-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 99;
    char portfile[128], logfile[128], addr[64], maxconn[16];
    snprintf(portfile, sizeof portfile, "%s/port", dir);
    snprintf(logfile, sizeof logfile, "%s/log", dir);
    snprintf(maxconn, sizeof maxconn, "%d", nsessions + 100);
    pid_t cpid = fork();
    if (cpid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (freopen(logfile, "w", stderr) == NULL)
            _exit(127);
        execl(condd, condd, "--listen", "127.0.0.1:0", "--port-file", portfile, "--max-connections",
              maxconn, "--max-pending", "100000000", "--log-level",
              getenv("RBENCH_LOG_LEVEL") != NULL ? getenv("RBENCH_LOG_LEVEL") : "info",
              (char *)NULL);
        _exit(127);
    }
    int port = 0;
    for (double end = now() + 30; port == 0 && now() < end;) {
        FILE *f = fopen(portfile, "r");
        if (f != NULL) {
            if (fscanf(f, "%d", &port) != 1)
                port = 0;
            fclose(f);
        }
        if (port == 0)
            usleep(2000);
    }
    if (port == 0) {
        fprintf(stderr, "restart-bench: condd did not start\n");
        kill(cpid, SIGKILL);
        return 99;
    }
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);

    base = event_base_new();
    struct sess *ss = calloc((size_t)nsessions, sizeof *ss);
    struct waiter *ws = calloc((size_t)(waiters > 0 ? waiters : 1), sizeof *ws);
    condd_options *o = condd_options_new();
    condd_options_set_grace(o, 60);
    double t_build = now();
    for (int i = 0; i < nsessions; i++) {
        pending++;
        if (condd_async_conn_open(base, addr, o, on_open, NULL, &ss[i].c) != CONDD_OK) {
            fprintf(stderr, "restart-bench: open failed\n");
            return 1;
        }
        condd_async_conn_set_session_cb(ss[i].c, on_session, &ss[i]);
    }
    condd_options_free(o);
    if (!run_until_done(120)) {
        fprintf(stderr, "restart-bench: %d sessions did not open (%d failures)\n", pending,
                failures);
        return 1;
    }
    char name[32];
    for (int i = 0; i < locks; i++) {
        snprintf(name, sizeof name, "held-%d", i);
        pending++;
        condd_async_lock_acquire(ss[i % nsessions].c, name, 1, CONDD_FOREVER, on_token, NULL, NULL);
        if (pending > 20000 && !run_until_done(120))
            break;
    }
    for (int i = 0; i < waiters; i++) {
        struct waiter *w = &ws[i];
        w->c = ss[i % nsessions].c;
        snprintf(w->cond, sizeof w->cond, "cv-%d", i);
        snprintf(w->lock, sizeof w->lock, "cl-%d", i);
        pending++;
        condd_async_lock_acquire(w->c, w->lock, 1, CONDD_FOREVER, on_cl_acquired, w, NULL);
        if (pending > 20000 && !run_until_done(120))
            break;
    }
    /* A Ping on every session: each one's waits are queued when it comes back. */
    for (int i = 0; i < nsessions; i++) {
        pending++;
        condd_async_conn_ping(ss[i].c, on_ping, NULL);
    }
    if (!run_until_done(300)) {
        fprintf(stderr, "restart-bench: building the state failed (%d pending, %d failures)\n",
                pending, failures);
        return 1;
    }
    t_build = now() - t_build;
    condd_conn *sc = NULL;
    condd_stats *st = NULL;
    if (condd_conn_open(addr, NULL, &sc) != CONDD_OK || condd_conn_stats(sc, &st) != CONDD_OK)
        return 1;
    printf("state: %llu sessions, %llu locks held, %llu condition waiters (built in %.1f s)\n",
           (unsigned long long)st->sessions - 1, (unsigned long long)st->locks_held,
           (unsigned long long)st->condition_waiters, t_build);
    uint64_t rss_before = st->rss_bytes;
    condd_stats_free(st);
    condd_conn_close(sc);

    struct pingshm *p =
        mmap(NULL, sizeof *p, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(p, 0, sizeof *p);
    pid_t ppid = fork();
    if (ppid == 0)
        pinger(addr, p);
    while (!atomic_load(&p->ready))
        usleep(1000);
    /* Let it settle into its loop, then reset the largest gap: only the restart's counts. */
    for (uint64_t a = atomic_load(&p->answers); atomic_load(&p->answers) < a + 200;)
        usleep(500);
    atomic_store(&p->gap, 0);

    double t_sig = now();
    kill(cpid, SIGUSR2);
    double end = t_sig + 120;
    while (resumed < nsessions && failures == 0 && now() < end)
        event_base_loop(base, EVLOOP_ONCE);
    /* The pinger's gap is known once it has answers again after the restart. */
    uint64_t a = atomic_load(&p->answers);
    while (atomic_load(&p->answers) < a + 100 && now() < end)
        usleep(1000);
    atomic_store(&p->stop, 1);
    waitpid(ppid, NULL, 0);

    char saved[1024] = "", loaded[1024] = "", split[1024] = "", runs[1024] = "";
    log_line(logfile, "restart: saved", saved, sizeof saved);
    log_line(logfile, "restart: loaded", loaded, sizeof loaded);
    log_line(logfile, "restart: clients closed", split, sizeof split);
    log_line(logfile, "restart: the new process runs", runs, sizeof runs);
    char readl[1024] = "";
    log_line(logfile, "restart: state read", readl, sizeof readl);
    double loadavg[3] = {0};
    getloadavg(loadavg, 3);
    printf("gap (last answer of the old process -> first of the new, pinger's clock): %.1f ms "
           "(%.1f ms after the signal)\n",
           atomic_load(&p->gap) * 1000, (atomic_load(&p->gap_to) - t_sig) * 1000);
    /* The measure: the new process's first answer to any client. The sessions are idle
     * before the signal, so the old process's last answer is the pinger's; the new one's first
     * is the pinger's or the first resumed HelloResult (stamped here when the event ran, so
     * late if anything), whichever came first. Both clocks are CLOCK_MONOTONIC. */
    double first_new = atomic_load(&p->gap_to);
    for (int i = 0; i < nsessions; i++)
        if (ss[i].resumed > 0 && ss[i].resumed_at < first_new)
            first_new = ss[i].resumed_at;
    printf("gap to the new process's first answer to any client: %.1f ms\n",
           (first_new - atomic_load(&p->gap_from)) * 1000);
    printf("every session resumed: %d of %d, %.1f ms after the signal; failures %d\n", resumed,
           nsessions, resumed == nsessions ? (all_resumed_at - t_sig) * 1000 : -1.0, failures);
    printf("condd RSS before: %.1f MiB; load average %.2f %.2f %.2f\n",
           (double)rss_before / 1048576.0, loadavg[0], loadavg[1], loadavg[2]);
    printf("condd: %s", split[0] != '\0' ? strstr(split, "restart:") : "no 'closed' line\n");
    printf("condd: %s", saved[0] != '\0' ? strstr(saved, "restart:") : "no 'saved' line\n");
    printf("condd: %s", runs[0] != '\0' ? strstr(runs, "restart:") : "no 'runs' line\n");
    printf("condd: %s", readl[0] != '\0' ? strstr(readl, "restart:") : "no 'read' line\n");
    printf("condd: %s", loaded[0] != '\0' ? strstr(loaded, "restart:") : "no 'loaded' line\n");

    /* How the resumes spread: a tail far behind the median is clients that retried. */
    double *rt = calloc((size_t)nsessions, sizeof *rt);
    int nrt = 0;
    for (int i = 0; rt != NULL && i < nsessions; i++)
        if (ss[i].resumed > 0)
            rt[nrt++] = (ss[i].resumed_at - t_sig) * 1000;
    if (nrt > 0) {
        qsort(rt, (size_t)nrt, sizeof *rt, cmp_double);
        printf("resumes after the signal: first %.1f ms, median %.1f ms, 90%% %.1f ms, last %.1f "
               "ms\n",
               rt[0], rt[nrt / 2], rt[nrt * 9 / 10], rt[nrt - 1]);
    }
    free(rt);
    for (int i = 0; i < nsessions; i++)
        condd_async_conn_close(ss[i].c);
    free(ss);
    free(ws);
    event_base_free(base);
    kill(cpid, SIGTERM);
    waitpid(cpid, NULL, 0);
    unlink(portfile);
    if (getenv("RBENCH_KEEP_LOG") != NULL) {
        printf("condd's log: %s\n", logfile);
    } else {
        unlink(logfile);
        rmdir(dir);
    }
    return resumed == nsessions && failures == 0 ? 0 : 1;
}
