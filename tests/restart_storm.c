/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Live restart under load (issue 15): 16 worker processes on libcondd's blocking API, each with
 * a grace, loop over one shared lock and over conditions while condd re-executes itself 20 times
 * (SIGUSR2). Invariants, kept in a MAP_SHARED mapping the workers update:
 *   - never two holders: every worker in the critical section of "storm-lock" bumps a counter
 *     that must read 1 inside;
 *   - no lost notification: workers pair up as producer and consumer of a counter guarded by a
 *     lock; the consumer waits only when nothing is posted, the producer posts and notifies under
 *     the lock, so a wait that times out with something posted lost its notification;
 *   - no client error other than reconnects: every call returns CONDD_OK (a session event other
 *     than RESUMING/RESUMED counts as an error too); a worker's first open, which has no session
 *     to resume yet, is retried on a connection error, as any client opens again;
 *   - and once every worker has exited (closing: Goodbye), condd holds nothing: no lock, waiter
 *     or session left.
 * The driver waits for states (the restart count in Stats, the workers' progress), never sleeps
 * for them. Usage: restart_storm [-w WORKERS] [-n RESTARTS] [--condd PATH]; $CONDD otherwise.
 * Exit 0 on success, 1 on a broken invariant, 99 on a set-up failure.
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
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <condd/condd.h>

#define MAX_WORKERS 64
#define GRACE 30.0
#define WAIT_TIMEOUT 20.0  /* a consumer's wait: longer than any restart */
#define STATE_TIMEOUT 30.0 /* how long the driver waits for any state */

struct pair {
    uint64_t posted, consumed; /* guarded by the pair's condd lock */
    bool done;                 /* the producer has stopped */
};

struct shared {
    _Atomic int in_cs; /* workers inside storm-lock's critical section */
    _Atomic uint64_t two_holders;
    _Atomic uint64_t lost_notifications;
    _Atomic uint64_t errors;
    _Atomic uint64_t ops; /* completed loop rounds, all workers */
    _Atomic uint64_t resumes;
    _Atomic int stop;
    _Atomic int exited;
    char first_error[256];
    _Atomic int error_claimed;
    struct pair pairs[MAX_WORKERS / 2];
    char doing[MAX_WORKERS][32]; /* what each worker is blocked in, for a report when stuck */
};

static struct shared *sh;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void record_error(int worker, const char *what, int rc)
{
    atomic_fetch_add(&sh->errors, 1);
    if (atomic_exchange(&sh->error_claimed, 1) == 0)
        snprintf(sh->first_error, sizeof sh->first_error, "worker %d: %s: %s", worker, what,
                 condd_result_name(rc));
}

/* ------------------------------------------------------------------ workers */

static int worker_index;

static void on_session(condd_conn *c, int event, int reason, void *arg)
{
    if (event == CONDD_SESSION_RESUMED)
        atomic_fetch_add(&sh->resumes, 1);
    else if (event != CONDD_SESSION_RESUMING)
        record_error(worker_index, "session event", reason);
}

#define CHECK(call, what)                                                                          \
    do {                                                                                           \
        snprintf(sh->doing[w], sizeof sh->doing[w], "%s", what);                                   \
        int rc_ = (call);                                                                          \
        snprintf(sh->doing[w], sizeof sh->doing[w], "after %s", what);                             \
        if (rc_ != CONDD_OK) {                                                                     \
            record_error(w, what, rc_);                                                            \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

/* One round on the shared lock: the critical section checks it is alone. */
static bool mutex_round(condd_conn *c, int w)
{
    uint64_t tok;
    CHECK(condd_lock_acquire(c, "storm-lock", 1, STATE_TIMEOUT, &tok), "acquire storm-lock");
    if (atomic_fetch_add(&sh->in_cs, 1) != 0)
        atomic_fetch_add(&sh->two_holders, 1);
    /* A round trip while holding: restarts land inside critical sections too. */
    double rtt;
    snprintf(sh->doing[w], sizeof sh->doing[w], "ping while holding");
    int rc = condd_conn_ping(c, &rtt);
    atomic_fetch_sub(&sh->in_cs, 1);
    CHECK(rc, "ping while holding");
    CHECK(condd_lock_release(c, "storm-lock", 1), "release storm-lock");
    return true;
out:
    return false;
}

static bool producer_round(condd_conn *c, int w, struct pair *p, const char *lock, const char *cond)
{
    uint64_t tok;
    CHECK(condd_lock_acquire(c, lock, 1, STATE_TIMEOUT, &tok), "producer acquire");
    bool stop = atomic_load(&sh->stop) != 0;
    if (stop)
        p->done = true;
    else if (p->posted - p->consumed < 4)
        p->posted++;
    CHECK(condd_cond_notify_all(c, cond, lock, 1, NULL), "notify");
    CHECK(condd_lock_release(c, lock, 1), "producer release");
    return !stop;
out:
    return false;
}

static bool consumer_round(condd_conn *c, int w, struct pair *p, const char *lock, const char *cond)
{
    uint64_t tok;
    bool more = true;
    CHECK(condd_lock_acquire(c, lock, 2, STATE_TIMEOUT, &tok), "consumer acquire");
    while (p->posted == p->consumed && !p->done) {
        snprintf(sh->doing[w], sizeof sh->doing[w], "consumer wait");
        int rc = condd_cond_wait(c, cond, lock, 2, WAIT_TIMEOUT, &tok);
        if (rc == CONDD_ERR_TIMEOUT) {
            /* Waited only with nothing posted; posted now means its notify did not come. */
            if (p->posted != p->consumed)
                atomic_fetch_add(&sh->lost_notifications, 1);
            else
                record_error(w, "consumer wait: nothing posted for the whole wait", rc);
            break;
        }
        CHECK(rc, "consumer wait");
    }
    if (p->posted != p->consumed)
        p->consumed++;
    else if (p->done)
        more = false;
    CHECK(condd_lock_release(c, lock, 2), "consumer release");
    return more;
out:
    return false;
}

static int worker_main(const char *addr, int w)
{
    worker_index = w;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    condd_options *o = condd_options_new();
    condd_options_set_grace(o, GRACE);
    char name[32];
    snprintf(name, sizeof name, "storm-%d", w);
    condd_options_set_client_name(o, name);
    condd_conn *c = NULL;
    /* A connection being opened when a restart comes has no session yet (its Hello may be cut
     * with the connection), so there is nothing to resume: like any client, open it again.
     * Only a connection error is retried; once open, every error counts. */
    int rc;
    double end = now() + STATE_TIMEOUT;
    while ((rc = condd_conn_open(addr, o, &c)) != CONDD_OK &&
           condd_result_is_connection_error(rc) && now() < end)
        ;
    condd_options_free(o);
    if (rc != CONDD_OK) {
        record_error(w, "connect", rc);
        return 1;
    }
    condd_conn_set_session_cb(c, on_session, NULL);
    struct pair *p = &sh->pairs[w / 2];
    char lock[32], cond[32];
    snprintf(lock, sizeof lock, "storm-pair-%d", w / 2);
    snprintf(cond, sizeof cond, "storm-cv-%d", w / 2);
    bool producer = w % 2 == 1;
    bool more = true;
    while (more) {
        if (!mutex_round(c, w))
            break;
        more = producer ? producer_round(c, w, p, lock, cond) : consumer_round(c, w, p, lock, cond);
        atomic_fetch_add(&sh->ops, 1);
    }
    condd_conn_close(c); /* Goodbye: the session ends at once */
    atomic_fetch_add(&sh->exited, 1);
    return 0;
}

/* ------------------------------------------------------------------ the driver */

static pid_t condd_pid;
static char dir[] = "/tmp/condd-storm-XXXXXX";

static void cleanup(void)
{
    if (condd_pid > 0) {
        kill(condd_pid, SIGKILL);
        waitpid(condd_pid, NULL, 0);
        condd_pid = 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "restart_storm: could not remove %s\n", dir);
}

static bool read_port(const char *path, int *port)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    bool ok = fscanf(f, "%d", port) == 1 && *port > 0;
    fclose(f);
    return ok;
}

/* Stats through a fresh connection, retried while a restart drops it. */
static bool stats(const char *addr, condd_stats **out)
{
    double end = now() + STATE_TIMEOUT;
    while (now() < end) {
        condd_conn *c = NULL;
        int rc = condd_conn_open(addr, NULL, &c);
        if (rc == CONDD_OK)
            rc = condd_conn_stats(c, out);
        condd_conn_close(c);
        if (rc == CONDD_OK)
            return true;
        if (!condd_result_is_connection_error(rc)) {
            fprintf(stderr, "restart_storm: stats: %s\n", condd_result_name(rc));
            return false;
        }
    }
    return false;
}

int main(int argc, char **argv)
{
    int workers = 16, restarts = 20;
    const char *condd = getenv("CONDD");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-w") == 0 && i + 1 < argc)
            workers = atoi(argv[++i]);
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            restarts = atoi(argv[++i]);
        else if (strcmp(argv[i], "--condd") == 0 && i + 1 < argc)
            condd = argv[++i];
        else {
            fprintf(stderr, "usage: restart_storm [-w WORKERS] [-n RESTARTS] [--condd PATH]\n");
            return 2;
        }
    }
    if (condd == NULL || workers < 2 || workers > MAX_WORKERS || workers % 2 != 0 || restarts < 1) {
        fprintf(stderr, "restart_storm: need $CONDD or --condd, an even -w in 2..%d, -n >= 1\n",
                MAX_WORKERS);
        return 2;
    }
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED || mkdtemp(dir) == NULL)
        return 99;
    atexit(cleanup);
    signal(SIGPIPE, SIG_IGN);

    char portfile[128], addr[64];
    snprintf(portfile, sizeof portfile, "%s/port", dir);
    condd_pid = fork();
    if (condd_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(condd, condd, "--listen", "127.0.0.1:0", "--port-file", portfile, "--log-level",
              getenv("STORM_LOG_LEVEL") != NULL ? getenv("STORM_LOG_LEVEL") : "notice",
              (char *)NULL);
        _exit(127);
    }
    int port = 0;
    double end = now() + STATE_TIMEOUT;
    while (!read_port(portfile, &port)) {
        if (now() > end || waitpid(condd_pid, NULL, WNOHANG) != 0) {
            fprintf(stderr, "restart_storm: condd did not start\n");
            return 99;
        }
        usleep(2000);
    }
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);

    pid_t pids[MAX_WORKERS];
    for (int w = 0; w < workers; w++) {
        pids[w] = fork();
        if (pids[w] == 0)
            _exit(worker_main(addr, w));
    }
    double t0 = now();
    int failed = 0;
    for (int r = 1; r <= restarts && !failed; r++) {
        /* Restart under load: only once every worker has made progress since the last one. */
        uint64_t base = atomic_load(&sh->ops);
        end = now() + STATE_TIMEOUT;
        while (atomic_load(&sh->ops) < base + (uint64_t)workers * 2 && now() < end &&
               atomic_load(&sh->errors) == 0)
            usleep(1000);
        if (atomic_load(&sh->ops) < base + (uint64_t)workers * 2) {
            fprintf(stderr, "restart_storm: no progress before restart %d\n", r);
            for (int w = 0; w < workers; w++)
                fprintf(stderr, "restart_storm: worker %d: %s\n", w, sh->doing[w]);
            failed = 1;
            break;
        }
        kill(condd_pid, SIGUSR2);
        condd_stats *st = NULL;
        uint64_t seen = 0;
        end = now() + STATE_TIMEOUT;
        while (seen < (uint64_t)r && now() < end && stats(addr, &st)) {
            seen = st->restarts;
            condd_stats_free(st);
        }
        if (seen != (uint64_t)r) {
            fprintf(stderr, "restart_storm: restart %d not seen (count %llu)\n", r,
                    (unsigned long long)seen);
            failed = 1;
        }
    }
    double t_restarts = now() - t0;
    atomic_store(&sh->stop, 1);
    end = now() + STATE_TIMEOUT;
    int reaped = 0;
    while (reaped < workers && now() < end) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p == condd_pid) {
            fprintf(stderr, "restart_storm: condd exited (status %d)\n", st);
            condd_pid = 0;
            failed = 1;
        } else if (p > 0) {
            reaped++;
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                failed = 1;
        } else {
            usleep(2000);
        }
    }
    if (reaped < workers) {
        fprintf(stderr, "restart_storm: %d of %d workers did not exit\n", workers - reaped,
                workers);
        for (int w = 0; w < workers; w++)
            kill(pids[w], SIGKILL);
        failed = 1;
    }
    /* The final state: empty once every session said Goodbye. */
    condd_stats *st = NULL;
    uint64_t locks = 1, waiters = 1, sessions = 2;
    end = now() + STATE_TIMEOUT;
    while ((locks != 0 || waiters != 0 || sessions != 1) && now() < end && stats(addr, &st)) {
        locks = st->locks;
        waiters = st->waiters;
        sessions = st->sessions;
        condd_stats_free(st);
    }
    printf("restart_storm: %d workers, %d restarts in %.1f s; %llu rounds, %llu resumes; "
           "two holders %llu, lost notifications %llu, errors %llu; final locks %llu, waiters "
           "%llu, sessions %llu (this one included)\n",
           workers, restarts, t_restarts, (unsigned long long)atomic_load(&sh->ops),
           (unsigned long long)atomic_load(&sh->resumes),
           (unsigned long long)atomic_load(&sh->two_holders),
           (unsigned long long)atomic_load(&sh->lost_notifications),
           (unsigned long long)atomic_load(&sh->errors), (unsigned long long)locks,
           (unsigned long long)waiters, (unsigned long long)sessions);
    if (atomic_load(&sh->errors) > 0)
        printf("restart_storm: first error: %s\n", sh->first_error);
    if (atomic_load(&sh->two_holders) != 0 || atomic_load(&sh->lost_notifications) != 0 ||
        atomic_load(&sh->errors) != 0 || locks != 0 || waiters != 0 || sessions != 1 ||
        atomic_load(&sh->resumes) < (uint64_t)workers)
        failed = 1;
    if (condd_pid > 0) {
        kill(condd_pid, SIGTERM);
        int st2;
        waitpid(condd_pid, &st2, 0);
        condd_pid = 0;
        if (!WIFEXITED(st2) || WEXITSTATUS(st2) != 0) {
            fprintf(stderr, "restart_storm: condd's exit status %d\n", st2);
            failed = 1;
        }
    }
    printf("restart_storm: %s\n", failed ? "FAILED" : "ok");
    return failed ? 1 : 0;
}
