/* SPDX-License-Identifier: BSD-2-Clause
 *
 * soak: a multi-process soak test of condd and libcondd's blocking API, with processes and the
 * daemon killed at random. The driver (this process) starts condd on 127.0.0.1:0, forks worker
 * processes that take the lock "soak" in a loop, and meanwhile SIGKILLs a random worker every few
 * hundred milliseconds (forking a replacement) and the daemon every few seconds (restarting it on
 * the same port). What is shared lives in an anonymous MAP_SHARED mapping made before the forks:
 *
 *  - the critical-section slot: who (incarnation, pid, token, daemon epoch) is inside. A worker
 *    entering must find it empty, held by a killed and dead worker, or held in an older daemon
 *    epoch; a holder that is alive, not killed and in the same epoch means two holders;
 *  - a fenced resource: accepts a write only with a token greater than the last one accepted.
 *    A rejected write is legitimate only when the writer's daemon has been restarted since;
 *  - a queue length: producers push under the lock and notify "soak-items", consumers wait_for
 *    items > 0 and pop; at the end producers stop and the consumers must drain it without a
 *    wait_for timing out (no lost notification); relays hand the lock back and forth with
 *    notify_wait on "soak-turn".
 *
 * The daemon epoch is the number of the condd process currently started: the driver bumps it
 * after the old daemon has been reaped and before the new one is forked, so a connection whose
 * Hello completed between two equal reads of it talks to exactly that daemon. At the end the
 * driver checks condd's Stats (nothing left but its own session) and that its RSS stayed flat
 * over the last daemon's lifetime (restarts stop for the last third of the run for that).
 *
 * This file is the driver and its command line; the worker is soak_worker.c, the checks at the
 * end soak_check.c, the shared state and helpers soak_shared.c (all declared in soak.h).
 *
 * Usage: soak [-d SECONDS] [-w WORKERS] [options]; see usage(). Exit 0: every check held; 1: a
 * check failed (a "soak: FAIL" line says which); 2: bad usage or a setup error.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "clock.h"
#include "soak.h"

/* ================================================================== the driver */

struct driver D;

static void driver_cleanup(void)
{
    for (size_t i = 0; i < D.nkids; i++)
        kill(D.kids[i].pid, SIGKILL);
    if (D.daemon > 0)
        kill(D.daemon, SIGKILL);
    for (size_t i = 0; i < D.nkids; i++)
        while (waitpid(D.kids[i].pid, NULL, 0) < 0 && errno == EINTR)
            ;
    D.nkids = 0;
    if (D.daemon > 0)
        while (waitpid(D.daemon, NULL, 0) < 0 && errno == EINTR)
            ;
    D.daemon = 0;
    if (D.conn != NULL)
        condd_conn_close(D.conn);
    D.conn = NULL;
    if (D.dir[0] != '\0') {
        unlink(D.port_file);
        unlink(D.log_file);
        rmdir(D.dir);
        D.dir[0] = '\0';
    }
    free(D.kids);
    free(D.current);
    D.kids = D.current = NULL;
}

static void print_log_tail(void)
{
    FILE *f = fopen(D.log_file, "r");
    if (f == NULL)
        return;
    static char lines[30][512];
    size_t n = 0;
    while (fgets(lines[n % 30], sizeof lines[0], f) != NULL)
        n++;
    fclose(f);
    if (n == 0)
        return;
    fprintf(stderr, "--- last lines of condd's log:\n");
    for (size_t i = n > 30 ? n - 30 : 0; i < n; i++)
        fputs(lines[i % 30], stderr);
}

__attribute__((format(printf, 1, 2), noreturn)) void dfail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "soak: FAIL: %s\n", msg); /* one write: workers share stderr */
    print_log_tail();
    summary("FAIL");
    driver_cleanup();
    exit(1);
}

static void on_signal(int sig)
{
    D.signalled = sig;
}

double now_s(void)
{
    return clk_mono();
}

/* ---------------------------------------------------------------- condd */

static bool read_port(uint16_t *port)
{
    FILE *f = fopen(D.port_file, "r");
    unsigned p = 0;
    bool ok = f != NULL && fscanf(f, "%u", &p) == 1 && p > 0 && p < 65536;
    if (f != NULL)
        fclose(f);
    if (ok)
        *port = (uint16_t)p;
    return ok;
}

/* Starts condd on 127.0.0.1:D.port (0 the first time) and waits for its port file; a failed
 * bind (the old daemon's port not free yet) is retried for a bounded time. */
static void daemon_start(void)
{
    double deadline = now_s() + DAEMON_START_TIMEOUT;
    for (;;) {
        char listen[64];
        snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)D.port);
        unlink(D.port_file);
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
            dfail("fork: %s", strerror(errno));
        if (pid == 0) {
            die_with_driver(D.self);
            default_signals();
            int fd = open(D.log_file, O_WRONLY | O_CREAT | O_APPEND, 0600);
            int in = open("/dev/null", O_RDONLY);
            if (fd >= 0 && in >= 0) {
                dup2(in, 0);
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execl(opt.condd, opt.condd, "--listen", listen, "--port-file", D.port_file,
                  "--session-timeout", "5", "--log-level", "warning", (char *)NULL);
            fprintf(stderr, "soak: cannot run %s: %s\n", opt.condd, strerror(errno));
            _exit(127);
        }
        D.daemon = pid;
        int status = 0;
        for (;;) {
            uint16_t port;
            if (read_port(&port)) {
                D.port = port;
                return;
            }
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid) {
                D.daemon = 0;
                break;
            }
            if (now_s() > deadline)
                dfail("condd did not write its port file within %.0f s", DAEMON_START_TIMEOUT);
            if (D.signalled)
                dfail("stopped by signal %d", (int)D.signalled);
            sleep_s(0.01);
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            dfail("cannot run condd (%s)", opt.condd);
        if (now_s() > deadline)
            dfail("condd could not start on %s within %.0f s (last exit status %d)", listen,
                  DAEMON_START_TIMEOUT, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        sleep_s(0.1);
    }
}

static void daemon_restart(void)
{
    atomic_fetch_add(&S->disruptions, 1);
    uint64_t rss = rss_kib(D.daemon);
    if (D.rss_first == 0)
        D.rss_first = rss;
    kill(D.daemon, SIGKILL);
    while (waitpid(D.daemon, NULL, 0) < 0 && errno == EINTR)
        ;
    D.daemon = 0;
    /* The old daemon is reaped: every connection to it is gone. Only now the new epoch. */
    atomic_fetch_add(&S->epoch, 1);
    D.restarts++;
    daemon_start();
}

/* ---------------------------------------------------------------- workers */

static void fork_worker(int index)
{
    if (D.nkids == D.capkids) {
        D.capkids = D.capkids ? 2 * D.capkids : 64;
        D.kids = realloc(D.kids, D.capkids * sizeof *D.kids);
        if (D.kids == NULL)
            dfail("out of memory");
    }
    uint64_t inc = ++D.next_inc;
    bit_clear(S->killed, inc);
    bit_clear(S->reaped, inc);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        dfail("fork: %s", strerror(errno));
    if (pid == 0)
        worker_main(index, inc, D.port, D.self);
    D.kids[D.nkids++] = (struct child){.pid = pid, .index = index, .inc = inc};
    D.current[index] = D.kids[D.nkids - 1];
    D.forks++;
}

static void kill_worker(int index)
{
    struct child *c = NULL;
    for (size_t i = 0; i < D.nkids; i++)
        if (D.kids[i].pid == D.current[index].pid)
            c = &D.kids[i];
    if (c == NULL || c->killed)
        return;
    /* Recorded before the signal: whoever sees the lock handed on sees the kill too. */
    atomic_fetch_add(&S->disruptions, 1);
    bit_set(S->killed, c->inc);
    c->killed = true;
    kill(c->pid, SIGKILL);
    D.kills++;
    fork_worker(index);
}

static const char *status_str(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "was killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, len, "ended with wait status %#x", status);
    return buf;
}

/* Reaps every child that ended. A worker may end only when killed, or with status 0 once told
 * to stop; condd only when restarted (which reaps it itself). */
void reap(void)
{
    int status;
    pid_t pid;
    char buf[64];
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == D.daemon) {
            D.daemon = 0;
            dfail("condd (pid %ld) %s", (long)pid, status_str(status, buf, sizeof buf));
        }
        size_t i;
        for (i = 0; i < D.nkids && D.kids[i].pid != pid; i++)
            ;
        if (i == D.nkids)
            continue;
        struct child c = D.kids[i];
        D.kids[i] = D.kids[--D.nkids];
        bit_set(S->reaped, c.inc);
        if (c.killed) {
            if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
                dfail("worker %d (pid %ld) %s before its kill landed", c.index, (long)pid,
                      status_str(status, buf, sizeof buf));
            continue;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && atomic_load(&S->phase) != PHASE_RUN)
            continue;
        dfail("worker %d (%s, pid %ld) %s", c.index, role_names[c.index % 4], (long)pid,
              status_str(status, buf, sizeof buf));
    }
}

size_t live_workers(int role)
{
    size_t n = 0;
    for (size_t i = 0; i < D.nkids; i++)
        if (!D.kids[i].killed && (role < 0 || D.kids[i].index % 4 == role))
            n++;
    return n;
}
/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: soak [OPTION]...\n"
            "Multi-process soak of condd and libcondd: workers take one lock, update a fenced\n"
            "resource, produce and consume through a condition, hand off with notify_wait,\n"
            "while workers and the daemon are SIGKILLed at random. Exit 0 when every check held.\n"
            "\n"
            "  -d, --duration S          seconds of load (default 30)\n"
            "  -w, --workers N           worker processes (default 8; at least 2)\n"
            "      --kill-interval S     mean seconds between worker kills (default 0.2; 0: none)\n"
            "      --restart-interval S  mean seconds between daemon restarts (default 3; 0:\n"
            "                            none); restarts stop for the last third of the run\n"
            "      --drain-timeout S     the queue must drain within S (default 20)\n"
            "      --rss-factor F        fail when condd's RSS ends above F x the warm-up\n"
            "      --rss-slack-mib M     sample + M MiB (defaults 2 and 8)\n"
            "      --seed N              random seed (default: from the clock; printed)\n"
            "      --condd PATH          the daemon (default $CONDD, else condd)\n"
            "      --die-with-parent     stop (cleanly) when the parent process dies\n"
            "  -v, --verbose             progress every 5 s\n"
            "  -h, --help                this help\n");
}

static double parse_num(const char *s, const char *what, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "soak: bad %s '%s' (want %g..%g)\n", what, s, lo, hi);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"duration", required_argument, NULL, 'd'},
        {"workers", required_argument, NULL, 'w'},
        {"kill-interval", required_argument, NULL, 'K'},
        {"restart-interval", required_argument, NULL, 'R'},
        {"drain-timeout", required_argument, NULL, 'D'},
        {"rss-factor", required_argument, NULL, 'F'},
        {"rss-slack-mib", required_argument, NULL, 'M'},
        {"seed", required_argument, NULL, 'S'},
        {"condd", required_argument, NULL, 'C'},
        {"die-with-parent", no_argument, NULL, 'P'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opt.condd = getenv("CONDD");
    if (opt.condd == NULL || opt.condd[0] == '\0')
        opt.condd = "condd";
    opt.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    int c;
    while ((c = getopt_long(argc, argv, "d:w:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            opt.duration = parse_num(optarg, "duration", 1, 1e7);
            break;
        case 'w':
            opt.workers = (int)parse_num(optarg, "worker count", 2, 1000);
            break;
        case 'K':
            opt.kill_interval = parse_num(optarg, "kill interval", 0, 1e6);
            break;
        case 'R':
            opt.restart_interval = parse_num(optarg, "restart interval", 0, 1e6);
            break;
        case 'D':
            opt.drain_timeout = parse_num(optarg, "drain timeout", 1, 1e6);
            break;
        case 'F':
            opt.rss_factor = parse_num(optarg, "RSS factor", 1, 1e6);
            break;
        case 'M':
            opt.rss_slack_mib = parse_num(optarg, "RSS slack", 0, 1e6);
            break;
        case 'S': {
            char *end;
            errno = 0;
            opt.seed = strtoull(optarg, &end, 0);
            if (errno != 0 || end == optarg || *end != '\0') {
                fprintf(stderr, "soak: bad seed '%s'\n", optarg);
                exit(2);
            }
            break;
        }
        case 'C':
            opt.condd = optarg;
            break;
        case 'P':
            opt.die_with_parent = true;
            break;
        case 'v':
            opt.verbose = true;
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
        usage(stderr);
        exit(2);
    }
}

static void setup(void)
{
    D.self = getpid();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a signal cuts a poll interval short */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
#ifdef __linux__
    if (opt.die_with_parent) {
        pid_t parent = getppid();
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            D.signalled = SIGTERM;
    }
#endif
    S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (S == MAP_FAILED) {
        fprintf(stderr, "soak: mmap: %s\n", strerror(errno));
        exit(2);
    }
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    if (pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED) != 0 ||
        pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) != 0 ||
        pthread_mutex_init(&S->mu, &ma) != 0) {
        fprintf(stderr, "soak: no process-shared robust mutex\n");
        exit(2);
    }
    pthread_mutexattr_destroy(&ma);
    atomic_store(&S->epoch, 1);
    atomic_store(&S->phase, PHASE_RUN);

    const char *tmp = getenv("TMPDIR");
    snprintf(D.dir, sizeof D.dir, "%s/condd-soak.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(D.dir) == NULL) {
        fprintf(stderr, "soak: mkdtemp %s: %s\n", D.dir, strerror(errno));
        exit(2);
    }
    snprintf(D.port_file, sizeof D.port_file, "%s/port", D.dir);
    snprintf(D.log_file, sizeof D.log_file, "%s/condd.log", D.dir);
    D.current = calloc((size_t)opt.workers, sizeof *D.current);
    if (D.current == NULL)
        dfail("out of memory");
}

static void progress(double t)
{
    printf("soak: t=%.0fs sections=%" PRIu64 " kills=%" PRIu64 " restarts=%" PRIu64
           " fenced_out=%" PRIu64 " produced=%" PRIu64 " consumed=%" PRIu64 " queued=%" PRId64
           " handoffs=%" PRIu64 " condd_rss_kib=%" PRIu64 "\n",
           t, atomic_load(&S->sections), D.kills, D.restarts, S->res.rejected,
           atomic_load(&S->produced), atomic_load(&S->consumed), atomic_load(&S->items),
           atomic_load(&S->handoffs), rss_kib(D.daemon));
    fflush(stdout);
}

/* The load: kills, restarts and the warm-up RSS sample, until the duration is up. */
static void run_load(void)
{
    double t0 = now_s();
    double end = t0 + opt.duration;
    double tail = t0 + opt.duration * 2 / 3;  /* no restarts after this: the last lifetime */
    double base_at = tail + opt.duration / 9; /* a third into the last lifetime */
    double next_kill =
        opt.kill_interval > 0 ? t0 + rnd_between(0.5, 1.5) * opt.kill_interval : INFINITY;
    double next_restart =
        opt.restart_interval > 0 ? t0 + rnd_between(0.5, 1.5) * opt.restart_interval : INFINITY;
    bool tail_restart = opt.restart_interval > 0;
    double next_progress = t0 + 5;
    for (;;) {
        double t = now_s();
        if (t >= end)
            break;
        if (D.signalled)
            dfail("stopped by signal %d", (int)D.signalled);
        reap();
        if (t >= next_kill) {
            kill_worker((int)(rnd() % (uint64_t)opt.workers));
            next_kill = t + rnd_between(0.5, 1.5) * opt.kill_interval;
        }
        if (t < tail && t >= next_restart) {
            daemon_restart();
            next_restart = now_s() + rnd_between(0.5, 1.5) * opt.restart_interval;
        } else if (t >= tail && tail_restart) {
            /* One last restart starts the lifetime whose RSS is checked. */
            daemon_restart();
            tail_restart = false;
        }
        if (t >= base_at && D.rss_base == 0)
            D.rss_base = rss_kib(D.daemon);
        if (opt.verbose && t >= next_progress) {
            progress(t - t0);
            next_progress += 5;
        }
        sleep_s(0.005);
    }
    if (D.rss_base == 0)
        D.rss_base = rss_kib(D.daemon);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    rng_state = opt.seed ? opt.seed : 1;
    setup();
    printf("soak: %d workers, %g s, seed %" PRIu64 ", condd %s\n", opt.workers, opt.duration,
           opt.seed, opt.condd);
    fflush(stdout);

    daemon_start();
    for (int i = 0; i < opt.workers; i++)
        fork_worker(i);
    run_load();

    /* Drain: no more kills or restarts; producers, relays and plain workers finish; one
     * notify_all re-synchronises the consumers (a consumer killed after its wakeup had been
     * granted the lock, but before its pop, took a notification with it: legitimately lost);
     * from then on every item must be consumed through notifications alone: waits started now
     * last longer than the drain deadline. Then the final burst (final_burst()). */
    atomic_store(&S->phase, PHASE_DRAIN);
    if (!wait_until(EXIT_TIMEOUT, only_consumers_left))
        dfail("producers, relays and plain workers did not exit within %.0f s of the drain",
              EXIT_TIMEOUT);
    driver_connect();
    driver_notify_all("drain");
    if (!wait_until(opt.drain_timeout, queue_empty))
        dfail("lost notification: %" PRId64 " items still queued %.0f s after producers stopped "
              "(%zu consumers alive, nothing killed meanwhile)",
              atomic_load(&S->items), opt.drain_timeout, live_workers(ROLE_CONSUMER));
    final_burst(10 * (int)live_workers(ROLE_CONSUMER));
    atomic_store(&S->phase, PHASE_STOP);
    driver_notify_all("stop");
    if (!wait_until(EXIT_TIMEOUT, no_workers_left))
        dfail("%zu workers did not exit within %.0f s of the stop", D.nkids, EXIT_TIMEOUT);

    check_end();

    condd_conn_close(D.conn);
    D.conn = NULL;
    /* A graceful stop; SIGKILL if it hangs (driver_cleanup). */
    kill(D.daemon, SIGTERM);
    double deadline = now_s() + EXIT_TIMEOUT;
    while (D.daemon > 0 && now_s() < deadline) {
        if (waitpid(D.daemon, NULL, WNOHANG) == D.daemon)
            D.daemon = 0;
        else
            sleep_s(0.01);
    }
    if (D.daemon > 0)
        dfail("condd did not stop within %.0f s of SIGTERM", EXIT_TIMEOUT);
    summary("ok");
    driver_cleanup();
    munmap(S, sizeof *S);
    return 0;
}
