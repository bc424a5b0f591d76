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
 * Usage: soak [-d SECONDS] [-w WORKERS] [options]; see usage(). Exit 0: every check held; 1: a
 * check failed (a "soak: FAIL" line says which); 2: bad usage or a setup error.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <condd/condd.h>

#include "clock.h"

#define LOCK_NAME "soak"
#define COND_ITEMS "soak-items"
#define COND_TURN "soak-turn"

/* Generous bounds: the soak must pass on a loaded two-core machine under sanitizers, so nothing
 * here is a speed expectation; each is how long a state may take before it counts as stuck. */
#define ACQUIRE_TIMEOUT 5.0       /* a worker's acquire; a timeout is counted, not a failure */
#define WAIT_SHORT 2.0            /* a consumer's wait_for while producers run */
#define WAIT_LONG 120.0           /* ... once they stopped: longer than any drain deadline */
#define RELAY_WAIT 1.0            /* a relay's notify_wait (its peer may have been killed) */
#define HOLDER_DEATH_TIMEOUT 10.0 /* a killed holder must be dead by then */
#define EPOCH_CHANGE_TIMEOUT 10.0 /* a lost connection must be explained by a restart by then */
#define RECONNECT_TIMEOUT 30.0    /* a worker's bounded reconnect */
#define DAEMON_START_TIMEOUT 30.0 /* condd writes its port file (bind retried meanwhile) */
#define EXIT_TIMEOUT 30.0         /* workers exit once told to */
#define STATS_TIMEOUT 10.0        /* condd notices the closed sessions */
#define QUEUE_CAP 1000            /* producers skip a push beyond this */

/* Incarnations whose kill/reap state is remembered (a ring: plenty for hours of kills). */
#define INC_SLOTS (1u << 20)
#define INC_WORDS (INC_SLOTS / 64)

/* ================================================================== shared state */

enum phase { PHASE_RUN, PHASE_DRAIN, PHASE_STOP };
enum role { ROLE_CONSUMER, ROLE_PRODUCER, ROLE_RELAY, ROLE_PLAIN };
static const char *const role_names[] = {"consumer", "producer", "relay", "plain"};

/* Who is in the critical section. inc == 0: nobody. Guarded by shm->mu; inc is written last on
 * entry, so a writer killed half-way leaves the slot looking empty (its lock died with it). */
struct slot {
    uint64_t inc;
    pid_t pid;
    int index;
    uint64_t token; /* 0 until known (an entry from inside a wait_for predicate) */
    uint32_t epoch;
};

/* The fenced resource, as a storage server would keep it. Guarded by shm->mu. */
struct fenced {
    uint64_t last_token;
    uint64_t value;
    uint64_t accepted;
    uint64_t rejected;
};

struct shm {
    pthread_mutex_t mu; /* process-shared and robust: workers die holding it */
    struct slot slot;
    struct fenced res;
    _Atomic int phase;
    _Atomic uint32_t epoch;        /* the daemon currently started (1, 2, ...) */
    _Atomic uint64_t disruptions;  /* kills and restarts, counted before they happen */
    _Atomic int64_t items;         /* the queue's length */
    _Atomic uint64_t produced;     /* pushes */
    _Atomic uint64_t consumed;     /* pops */
    _Atomic uint64_t sections;     /* entries into the critical-section slot */
    _Atomic uint64_t takeovers;    /* ... that found a killed, dead holder */
    _Atomic uint64_t stale_in;     /* ... that found an older epoch's holder */
    _Atomic uint64_t stale_out;    /* sections of a holder whose daemon had been restarted */
    _Atomic uint64_t acq_timeouts; /* acquires that timed out */
    _Atomic uint64_t reconnects;
    _Atomic uint64_t waits;          /* wait_for calls that waited */
    _Atomic uint64_t wait_timeouts;  /* ... that timed out */
    _Atomic uint64_t lost_wakeups;   /* ... timed out with items > 0, nothing killed meanwhile */
    _Atomic uint64_t drain_timeouts; /* ... started after producers stopped, and timed out */
    _Atomic uint64_t pop_misses;     /* the predicate saw an item that was gone at the pop */
    _Atomic uint64_t handoffs;       /* notify_wait answered OK */
    _Atomic uint64_t handoff_timeouts;
    _Atomic uint64_t locked_checks;
    _Atomic uint64_t killed[INC_WORDS]; /* set by the driver before it sends SIGKILL */
    _Atomic uint64_t reaped[INC_WORDS]; /* set by the driver once waitpid() returned */
};

static struct shm *S;

static void bit_set(_Atomic uint64_t *bits, uint64_t inc)
{
    uint64_t i = inc % INC_SLOTS;
    atomic_fetch_or(&bits[i / 64], UINT64_C(1) << (i % 64));
}

static void bit_clear(_Atomic uint64_t *bits, uint64_t inc)
{
    uint64_t i = inc % INC_SLOTS;
    atomic_fetch_and(&bits[i / 64], ~(UINT64_C(1) << (i % 64)));
}

static bool bit_get(_Atomic uint64_t *bits, uint64_t inc)
{
    uint64_t i = inc % INC_SLOTS;
    return (atomic_load(&bits[i / 64]) >> (i % 64)) & 1;
}

static void add(_Atomic uint64_t *counter)
{
    atomic_fetch_add(counter, 1);
}

/* ================================================================== options and helpers */

static struct {
    double duration;
    int workers;
    double kill_interval;    /* seconds, mean; 0: no worker kills */
    double restart_interval; /* seconds, mean; 0: no daemon restarts */
    double drain_timeout;
    double rss_factor;
    double rss_slack_mib;
    uint64_t seed;
    const char *condd;
    bool die_with_parent;
    bool verbose;
} opt = {
    .duration = 30,
    .workers = 8,
    .kill_interval = 0.2,
    .restart_interval = 3,
    .drain_timeout = 20,
    .rss_factor = 2,
    .rss_slack_mib = 8,
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: enough for picking victims and think times. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* A uniform double in [lo, hi). */
static double rnd_between(double lo, double hi)
{
    return lo + (hi - lo) * (double)(rnd() >> 11) / (double)(UINT64_C(1) << 53);
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL); /* an interrupting signal only shortens a poll interval */
}

/* Dies with SIGKILL when the driver dies, so nothing outlives a killed soak. */
static void die_with_driver(pid_t driver)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    if (getppid() != driver)
        _exit(1); /* the driver died before the prctl */
}

static void default_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* /proc/PID/status VmRSS in KiB, 0 when unreadable. */
static uint64_t rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    uint64_t kib = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %" SCNu64, &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* True once pid is gone or a zombie. The kernel closes a killed process's sockets (so condd
 * hands its lock on) slightly before the process becomes a zombie: callers poll this. */
static bool pid_dead(pid_t pid, uint64_t inc)
{
    if (bit_get(S->reaped, inc))
        return true;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold anything */
    return p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* ================================================================== the worker */

struct worker {
    int index;
    enum role role;
    uint64_t inc; /* this incarnation of the worker slot index, unique in the run */
    char addr[64];
    condd_options *copts;
    condd_conn *conn;
    uint32_t epoch;      /* the daemon the connection talks to */
    uint64_t last_token; /* every token must exceed the previous one */
    bool in_slot;
    bool stale; /* found a newer epoch's holder in the slot: our daemon is gone */
};

static struct worker *W; /* this process's worker, for messages */

__attribute__((format(printf, 1, 2), noreturn)) static void wfail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "soak: FAIL: worker %d (%s, pid %ld, epoch %u): %s\n", W->index,
            role_names[W->role], (long)getpid(), W->epoch, msg);
    fflush(stderr);
    _exit(1); /* no leak check: the connection is deliberately abandoned */
}

static void shm_lock(void)
{
    int rc = pthread_mutex_lock(&S->mu);
    if (rc == EOWNERDEAD)
        pthread_mutex_consistent(&S->mu); /* a worker was killed holding it */
    else if (rc != 0)
        wfail("shared mutex: %s", strerror(rc));
}

static void shm_unlock(void)
{
    pthread_mutex_unlock(&S->mu);
}

static uint32_t cur_epoch(void)
{
    return atomic_load(&S->epoch);
}

static void check_token(uint64_t token, const char *what)
{
    if (token <= W->last_token)
        wfail("%s returned token %" PRIu64
              ", not greater than this worker's previous token %" PRIu64,
              what, token, W->last_token);
    W->last_token = token;
}

static void slot_take(uint64_t token)
{
    S->slot.inc = 0;
    S->slot.pid = getpid();
    S->slot.index = W->index;
    S->slot.token = token;
    S->slot.epoch = W->epoch;
    S->slot.inc = W->inc;
    W->in_slot = true;
    add(&S->sections);
}

static const char *slot_str(const struct slot *s, char *buf, size_t len)
{
    snprintf(buf, len, "worker %d (pid %ld, token %" PRIu64 ", epoch %u)", s->index, (long)s->pid,
             s->token, s->epoch);
    return buf;
}

/*
 * Enters the critical section with token (0: not known yet). Called holding the lock. The slot
 * must be empty, or held in an older epoch (that daemon is gone, and its locks with it), or held
 * by a worker the driver killed, once it is dead. Finding a newer epoch's holder means our own
 * daemon is gone: we are the stale holder, stay out of the slot and let the fencing token judge.
 */
static void slot_enter(uint64_t token)
{
    char a[128], b[128];
    double deadline = clk_mono() + HOLDER_DEATH_TIMEOUT;
    struct slot bad = {0}; /* a same-epoch holder neither killed nor dead: already two holders */
    for (;;) {
        shm_lock();
        struct slot h = S->slot;
        if (bad.inc != 0) {
            /* Only say how it ends: it left by itself, it died, or it stays. */
            shm_unlock();
            if (h.inc != bad.inc)
                wfail("two holders: %s was in the critical section when this worker got the lock "
                      "(token %" PRIu64 "), was neither killed nor dead, and left it by itself%s%s",
                      slot_str(&bad, a, sizeof a), token, h.inc != 0 ? "; now in it: " : "",
                      h.inc != 0 ? slot_str(&h, b, sizeof b) : "");
            if (pid_dead(bad.pid, bad.inc))
                wfail("two holders: %s was in the critical section, alive and not killed, when "
                      "this worker got the lock (token %" PRIu64 ") in the same epoch; it died %s",
                      slot_str(&bad, a, sizeof a), token,
                      bit_get(S->killed, bad.inc) ? "after a later kill" : "without being killed");
            if (clk_mono() > deadline)
                wfail("two holders: %s was in the critical section, alive and not killed, when "
                      "this worker got the lock (token %" PRIu64 ") in the same epoch, and is "
                      "still there %.0f s later",
                      slot_str(&bad, a, sizeof a), token, HOLDER_DEATH_TIMEOUT);
            sleep_s(0.001);
            continue;
        }
        if (h.inc == 0 || h.epoch < W->epoch) {
            if (h.inc != 0)
                add(&S->stale_in);
            slot_take(token);
            shm_unlock();
            return;
        }
        if (h.epoch > W->epoch) {
            shm_unlock();
            if (cur_epoch() <= W->epoch)
                wfail("slot holder %s is in epoch %u, newer than the current one",
                      slot_str(&h, a, sizeof a), cur_epoch());
            W->stale = true;
            add(&S->stale_out);
            return;
        }
        if (h.inc == W->inc)
            wfail("entered the critical section twice");
        /* Same epoch: legitimate only if the driver killed the holder (it records the kill before
         * sending it, and condd hands the lock on only once the kill closed the socket). */
        bool killed = bit_get(S->killed, h.inc);
        bool dead = pid_dead(h.pid, h.inc);
        if (killed && dead) {
            add(&S->takeovers);
            slot_take(token);
            shm_unlock();
            return;
        }
        shm_unlock();
        if (!killed && dead)
            wfail("slot holder %s died without being killed", slot_str(&h, a, sizeof a));
        if (!killed)
            bad = h;
        else if (clk_mono() > deadline)
            wfail("slot holder %s was killed but is still not dead %.0f s after this worker got "
                  "the lock (token %" PRIu64 ")",
                  slot_str(&h, a, sizeof a), HOLDER_DEATH_TIMEOUT, token);
        else
            sleep_s(0.001);
    }
}

/* Leaves the critical section (before a release or a wait, or after losing the connection). The
 * slot must still be ours, unless our daemon has been restarted meanwhile. */
static void slot_leave(void)
{
    if (!W->in_slot)
        return;
    W->in_slot = false;
    shm_lock();
    struct slot s = S->slot;
    if (s.inc == W->inc)
        S->slot.inc = 0;
    shm_unlock();
    if (s.inc != W->inc) {
        char a[128];
        if (cur_epoch() == W->epoch)
            wfail("two holders: %s entered the critical section while this worker held the lock "
                  "and no restart had happened",
                  s.inc != 0 ? slot_str(&s, a, sizeof a) : "another worker");
        add(&S->stale_out);
    }
}

static void slot_set_token(uint64_t token)
{
    if (!W->in_slot)
        return;
    shm_lock();
    if (S->slot.inc == W->inc)
        S->slot.token = token;
    shm_unlock();
}

/* A write to the fenced resource with token. A rejection is legitimate only when a newer daemon
 * has handed out a larger token, i.e. ours has been restarted since our grant. */
static void fenced_write(uint64_t token)
{
    shm_lock();
    uint64_t last = S->res.last_token;
    bool ok = token > last;
    if (ok) {
        S->res.last_token = token;
        S->res.value++;
        S->res.accepted++;
    } else {
        S->res.rejected++;
    }
    shm_unlock();
    if (!ok && cur_epoch() == W->epoch)
        wfail("fenced write with token %" PRIu64 " rejected (the resource has accepted %" PRIu64
              ") though no daemon restart happened since this worker's grant",
              token, last);
}

/* Queue operations are skipped by a holder whose daemon is gone: it no longer holds the lock. */
static bool holder_current(void)
{
    return !W->stale && cur_epoch() == W->epoch;
}

static bool try_pop(void)
{
    int64_t n = atomic_load(&S->items);
    while (n > 0)
        if (atomic_compare_exchange_weak(&S->items, &n, n - 1)) {
            add(&S->consumed);
            return true;
        }
    return false;
}

/* Connects, retrying for a bounded time while condd restarts. The epoch is read before and after
 * the Hello: equal reads mean the connection talks to exactly that daemon. */
static void worker_connect(void)
{
    double deadline = clk_mono() + RECONNECT_TIMEOUT;
    int rc;
    for (;;) {
        uint32_t e1 = cur_epoch();
        condd_conn *c = NULL;
        rc = condd_conn_open(W->addr, W->copts, &c);
        if (rc == CONDD_OK) {
            if (cur_epoch() == e1) {
                W->conn = c;
                W->epoch = e1;
                W->stale = false;
                return;
            }
            condd_conn_close(c);
            continue;
        }
        if (clk_mono() > deadline)
            wfail("could not connect to %s for %.0f s: %s", W->addr, RECONNECT_TIMEOUT,
                  condd_strerror(rc));
        sleep_s(rnd_between(0.01, 0.05));
    }
}

/* The connection failed with rc: leave the section, make sure a daemon restart explains it, and
 * connect again. */
static void worker_reconnect(int rc, const char *what)
{
    slot_leave();
    double deadline = clk_mono() + EPOCH_CHANGE_TIMEOUT;
    while (cur_epoch() == W->epoch) {
        if (clk_mono() > deadline)
            wfail("%s: connection lost (%s: %s) but condd was not restarted", what,
                  condd_result_name(rc), condd_conn_message(W->conn));
        sleep_s(0.005);
    }
    condd_conn_close(W->conn);
    W->conn = NULL;
    add(&S->reconnects);
    worker_connect();
}

/* Any other error than a connection error is a failure. Returns true on a connection error. */
static bool lost(int rc, const char *what)
{
    if (rc == CONDD_OK)
        return false;
    if (condd_result_is_connection_error(rc)) {
        worker_reconnect(rc, what);
        return true;
    }
    wfail("%s: %s (%s)", what, condd_result_name(rc), condd_conn_message(W->conn));
}

/* A few hundred microseconds in the section widen the window in which a second holder shows. */
static void dwell(void)
{
    if (rnd() % 4 == 0)
        sleep_s(rnd_between(0, 300e-6));
}

/* ---------------------------------------------------------------- the roles' sections */

static bool consumer_pred(void *arg)
{
    (void)arg;
    if (!W->in_slot && !W->stale)
        slot_enter(0);
    bool t = atomic_load(&S->items) > 0 || atomic_load(&S->phase) == PHASE_STOP;
    if (!t)
        slot_leave();
    return t;
}

/* Returns false when the connection was lost (and re-opened). */
static bool consumer_section(uint64_t token)
{
    if (holder_current() && try_pop())
        return true;
    int phase = atomic_load(&S->phase);
    uint64_t d0 = atomic_load(&S->disruptions);
    slot_leave();
    uint64_t ntok = 0;
    add(&S->waits);
    int rc = condd_cond_wait_for(W->conn, COND_ITEMS, LOCK_NAME, 0,
                                 phase == PHASE_RUN ? WAIT_SHORT : WAIT_LONG, consumer_pred, NULL,
                                 &ntok);
    if (rc != CONDD_OK && rc != CONDD_ERR_TIMEOUT)
        return !lost(rc, "wait_for");
    /* The lock is held again. */
    if (!W->in_slot && !W->stale)
        slot_enter(ntok);
    if (ntok != 0) {
        check_token(ntok, "wait_for");
        slot_set_token(ntok);
        fenced_write(ntok);
    }
    if (rc == CONDD_OK) {
        if (holder_current() && atomic_load(&S->phase) != PHASE_STOP && !try_pop())
            add(&S->pop_misses);
        return true;
    }
    add(&S->wait_timeouts);
    if (atomic_load(&S->items) > 0 && atomic_load(&S->disruptions) == d0) {
        add(&S->lost_wakeups);
        fprintf(stderr,
                "soak: worker %d: wait_for timed out after %.0f s with %" PRId64
                " items queued and nothing killed meanwhile\n",
                W->index, phase == PHASE_RUN ? WAIT_SHORT : WAIT_LONG, atomic_load(&S->items));
    }
    if (phase != PHASE_RUN)
        add(&S->drain_timeouts);
    return true;
}

/* Notify before the push: a producer killed in between leaves a spurious wakeup (harmless: the
 * predicate fails and the consumer waits again), never an item nobody was told about. */
static bool producer_section(void)
{
    if (atomic_load(&S->phase) != PHASE_RUN || !holder_current() ||
        atomic_load(&S->items) >= QUEUE_CAP)
        return true;
    uint64_t woken = 0;
    if (lost(condd_cond_notify(W->conn, COND_ITEMS, LOCK_NAME, 0, 1, &woken), "notify"))
        return false;
    atomic_fetch_add(&S->items, 1);
    add(&S->produced);
    return true;
}

static bool relay_section(void)
{
    slot_leave();
    uint64_t ntok = 0;
    int rc = condd_cond_notify_wait(W->conn, COND_TURN, LOCK_NAME, 0, 1, RELAY_WAIT, &ntok);
    if (rc != CONDD_OK && rc != CONDD_ERR_TIMEOUT)
        return !lost(rc, "notify_wait");
    add(rc == CONDD_OK ? &S->handoffs : &S->handoff_timeouts);
    check_token(ntok, "notify_wait");
    slot_enter(ntok);
    fenced_write(ntok);
    dwell();
    return true;
}

/* Plain workers check Locked now and then, and about once a second hold the lock for a long
 * while (50-250 ms) before their fenced write: a daemon restart landing in such a section makes
 * them stale holders, whose write the fenced resource must reject (fenced_out in the summary). */
static bool long_section_due(void)
{
    static double next_long;
    double now = clk_mono();
    if (W->role != ROLE_PLAIN)
        return false;
    if (next_long == 0)
        next_long = now + rnd_between(0.5, 2);
    if (now < next_long)
        return false;
    next_long = now + rnd_between(0.5, 2);
    return true;
}

static bool plain_section(uint64_t token, bool long_section)
{
    if (long_section) {
        sleep_s(rnd_between(0.05, 0.25));
        fenced_write(token);
    }
    if (rnd() % 8 != 0)
        return true;
    bool locked = false;
    int rc = condd_lock_locked(W->conn, LOCK_NAME, &locked);
    if (lost(rc, "locked"))
        return false;
    add(&S->locked_checks);
    if (!locked && holder_current())
        wfail("locked says the lock is free while this worker holds it");
    return true;
}

static bool role_runs(void)
{
    int phase = atomic_load(&S->phase);
    return W->role == ROLE_CONSUMER ? phase != PHASE_STOP : phase == PHASE_RUN;
}

__attribute__((noreturn)) static void worker_main(int index, uint64_t inc, uint16_t port,
                                                  pid_t driver)
{
    die_with_driver(driver);
    default_signals();
    signal(SIGPIPE, SIG_IGN);
    static struct worker w;
    W = &w;
    w.index = index;
    w.role = (enum role)(index % 4);
    w.inc = inc;
    rng_state = opt.seed ^ (inc * UINT64_C(0x9E3779B97F4A7C15)) ^ (uint64_t)getpid();
    if (rng_state == 0)
        rng_state = 1;
    snprintf(w.addr, sizeof w.addr, "127.0.0.1:%u", (unsigned)port);
    char name[64];
    snprintf(name, sizeof name, "soak/%s-%d/%ld", role_names[w.role], index, (long)getpid());
    w.copts = condd_options_new();
    if (w.copts == NULL || condd_options_set_client_name(w.copts, name) != CONDD_OK ||
        condd_options_set_connect_timeout(w.copts, 5) != CONDD_OK)
        wfail("out of memory");
    worker_connect();

    while (role_runs()) {
        uint64_t token = 0;
        int rc = condd_lock_acquire(w.conn, LOCK_NAME, 0, ACQUIRE_TIMEOUT, &token);
        if (rc == CONDD_ERR_TIMEOUT) {
            add(&S->acq_timeouts);
            continue;
        }
        if (lost(rc, "acquire"))
            continue;
        check_token(token, "acquire");
        slot_enter(token);
        bool long_section = long_section_due();
        if (!long_section)
            fenced_write(token);
        dwell();
        bool ok = true;
        switch (w.role) {
        case ROLE_CONSUMER:
            ok = consumer_section(token);
            break;
        case ROLE_PRODUCER:
            ok = producer_section();
            break;
        case ROLE_RELAY:
            ok = relay_section();
            break;
        case ROLE_PLAIN:
            ok = plain_section(token, long_section);
            break;
        }
        if (!ok)
            continue; /* reconnected: the lock is gone */
        slot_leave();
        rc = condd_lock_release(w.conn, LOCK_NAME, 0);
        if (lost(rc, "release"))
            continue;
        sleep_s(rnd_between(0, 1e-3));
    }
    condd_conn_close(w.conn);
    condd_options_free(w.copts);
    exit(0);
}

/* ================================================================== the driver */

struct child {
    pid_t pid;
    int index;
    uint64_t inc;
    bool killed;
};

static struct {
    pid_t self;
    char dir[256];
    char port_file[300];
    char log_file[300];
    uint16_t port;
    pid_t daemon;
    struct child *kids; /* every worker not reaped yet */
    size_t nkids, capkids;
    struct child *current; /* by index: the live incarnation (indexes into kids change) */
    uint64_t next_inc;
    uint64_t kills, restarts, forks;
    uint64_t rss_first, rss_base, rss_end; /* KiB */
    condd_conn *conn;
    volatile sig_atomic_t signalled;
} D;

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

static void summary(const char *verdict);

__attribute__((format(printf, 1, 2), noreturn)) static void dfail(const char *fmt, ...)
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

static double now_s(void)
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
static void reap(void)
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

static size_t live_workers(int role)
{
    size_t n = 0;
    for (size_t i = 0; i < D.nkids; i++)
        if (!D.kids[i].killed && (role < 0 || D.kids[i].index % 4 == role))
            n++;
    return n;
}

/* ---------------------------------------------------------------- the end */

static void driver_connect(void)
{
    double deadline = now_s() + RECONNECT_TIMEOUT;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)D.port);
    condd_options *o = condd_options_new();
    if (o == NULL || condd_options_set_client_name(o, "soak/driver") != CONDD_OK)
        dfail("out of memory");
    int rc;
    while ((rc = condd_conn_open(addr, o, &D.conn)) != CONDD_OK) {
        if (now_s() > deadline) {
            condd_options_free(o);
            dfail("the driver could not connect to %s: %s", addr, condd_strerror(rc));
        }
        sleep_s(0.05);
    }
    condd_options_free(o);
}

/* Takes the lock and wakes every waiter of the items condition (they re-check their predicate). */
static void driver_notify_all(const char *why)
{
    uint64_t token, woken = 0;
    int rc = condd_lock_acquire(D.conn, LOCK_NAME, 0, RECONNECT_TIMEOUT, &token);
    if (rc != CONDD_OK)
        dfail("%s: the driver's acquire: %s (%s)", why, condd_result_name(rc),
              condd_conn_message(D.conn));
    rc = condd_cond_notify_all(D.conn, COND_ITEMS, LOCK_NAME, 0, &woken);
    int rrc = condd_lock_release(D.conn, LOCK_NAME, 0);
    if (rc != CONDD_OK || rrc != CONDD_OK)
        dfail("%s: the driver's notify_all/release: %s / %s", why, condd_result_name(rc),
              condd_result_name(rrc));
    if (opt.verbose)
        printf("soak: %s: notify_all woke %" PRIu64 "\n", why, woken);
}

/* Polls (reaping children) until cond() holds or seconds pass. */
static bool wait_until(double seconds, bool (*cond)(void))
{
    double deadline = now_s() + seconds;
    for (;;) {
        reap();
        if (cond())
            return true;
        if (now_s() > deadline || D.signalled)
            return false;
        sleep_s(0.01);
    }
}

static bool only_consumers_left(void)
{
    return live_workers(-1) == live_workers(ROLE_CONSUMER);
}

static bool queue_empty(void)
{
    return atomic_load(&S->items) == 0;
}

static bool no_workers_left(void)
{
    return D.nkids == 0;
}

/* How many waiters condd lists on the items condition. */
static uint64_t items_cond_waiters(void)
{
    condd_list *ls = NULL;
    int rc = condd_conn_list(D.conn, COND_ITEMS, 0, &ls);
    if (rc != CONDD_OK)
        dfail("list: %s", condd_result_name(rc));
    uint64_t n = 0;
    for (size_t i = 0; i < condd_list_cond_count(ls); i++)
        if (strcmp(condd_list_cond(ls, i)->name, COND_ITEMS) == 0)
            n = condd_list_cond(ls, i)->waiters;
    condd_list_free(ls);
    return n;
}

static bool all_consumers_wait(void)
{
    return items_cond_waiters() == live_workers(ROLE_CONSUMER);
}

/*
 * The decisive lost-notification check. Nothing is killed any more and every consumer waits with
 * a wait_for timeout longer than the drain deadline. Round after round, once condd lists every
 * consumer as waiting, the driver pushes one item with one notify: the notify must wake exactly
 * one consumer, and the item must be consumed within the deadline.
 */
static void final_burst(int rounds)
{
    for (int i = 0; i < rounds; i++) {
        if (!wait_until(opt.drain_timeout, all_consumers_wait))
            dfail("final round %d: the %zu consumers were not all waiting on %s after %.0f s "
                  "(condd lists %" PRIu64 " waiters)",
                  i, live_workers(ROLE_CONSUMER), COND_ITEMS, opt.drain_timeout,
                  items_cond_waiters());
        uint64_t token, woken = 0;
        int rc = condd_lock_acquire(D.conn, LOCK_NAME, 0, RECONNECT_TIMEOUT, &token);
        if (rc == CONDD_OK)
            rc = condd_cond_notify(D.conn, COND_ITEMS, LOCK_NAME, 0, 1, &woken);
        if (rc == CONDD_OK) {
            atomic_fetch_add(&S->items, 1);
            add(&S->produced);
            rc = condd_lock_release(D.conn, LOCK_NAME, 0);
        }
        if (rc != CONDD_OK)
            dfail("final round %d: %s (%s)", i, condd_result_name(rc), condd_conn_message(D.conn));
        if (woken != 1)
            dfail("final round %d: notify(1) woke %" PRIu64 " with %zu consumers waiting", i, woken,
                  live_workers(ROLE_CONSUMER));
        if (!wait_until(opt.drain_timeout, queue_empty))
            dfail("lost notification: final round %d's item still queued %.0f s after its notify "
                  "woke a consumer, nothing killed",
                  i, opt.drain_timeout);
    }
    if (opt.verbose)
        printf("soak: final rounds: %d items, each delivered by a notification\n", rounds);
}

/* After every worker exited, condd keeps nothing but the driver's own session. */
static void check_empty_state(void)
{
    double deadline = now_s() + STATS_TIMEOUT;
    for (;;) {
        condd_stats *st = NULL;
        int rc = condd_conn_stats(D.conn, &st);
        if (rc != CONDD_OK)
            dfail("stats: %s", condd_result_name(rc));
        bool empty = st->locks == 0 && st->waiters == 0 && st->lock_waiters == 0 &&
                     st->conditions == 0 && st->condition_waiters == 0 && st->sessions == 1;
        if (empty) {
            if (st->rss_bytes != 0 && D.rss_end == 0)
                D.rss_end = st->rss_bytes / 1024;
            condd_stats_free(st);
            return;
        }
        if (now_s() > deadline) {
            char buf[512];
            snprintf(buf, sizeof buf,
                     "locks=%" PRIu64 " locks_held=%" PRIu64 " waiters=%" PRIu64
                     " conditions=%" PRIu64 " sessions=%" PRIu64 " connections=%" PRIu64,
                     st->locks, st->locks_held, st->waiters, st->conditions, st->sessions,
                     st->connections);
            condd_stats_free(st);
            dfail("condd is not empty %.0f s after every worker exited: %s (want 0 locks, 0 "
                  "waiters, 0 conditions, 1 session)",
                  STATS_TIMEOUT, buf);
        }
        condd_stats_free(st);
        sleep_s(0.05);
    }
}

static void summary(const char *verdict)
{
    printf("soak: %s: workers=%d seconds=%g sections=%" PRIu64 " kills=%" PRIu64
           " restarts=%" PRIu64 " fenced_out=%" PRIu64 " takeovers=%" PRIu64 " stale=%" PRIu64
           " produced=%" PRIu64 " consumed=%" PRIu64 " queued=%" PRId64 " handoffs=%" PRIu64
           " waits=%" PRIu64 " wait_timeouts=%" PRIu64 " lost_wakeups=%" PRIu64
           " acquire_timeouts=%" PRIu64 " reconnects=%" PRIu64 " rss_kib=%" PRIu64 "->%" PRIu64
           " (first daemon %" PRIu64 ")\n",
           verdict, opt.workers, opt.duration, atomic_load(&S->sections), D.kills, D.restarts,
           S->res.rejected, atomic_load(&S->takeovers), atomic_load(&S->stale_out),
           atomic_load(&S->produced), atomic_load(&S->consumed), atomic_load(&S->items),
           atomic_load(&S->handoffs), atomic_load(&S->waits), atomic_load(&S->wait_timeouts),
           atomic_load(&S->lost_wakeups), atomic_load(&S->acq_timeouts),
           atomic_load(&S->reconnects), D.rss_base, D.rss_end, D.rss_first);
    fflush(stdout);
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

    if (atomic_load(&S->lost_wakeups) != 0)
        dfail("%" PRIu64 " wait_for calls timed out with items queued and nothing killed or "
              "restarted during the wait",
              atomic_load(&S->lost_wakeups));
    if (atomic_load(&S->drain_timeouts) != 0)
        dfail("%" PRIu64 " wait_for calls begun after producers stopped timed out",
              atomic_load(&S->drain_timeouts));
    if (atomic_load(&S->items) != 0)
        dfail("%" PRId64 " items left in the queue", atomic_load(&S->items));

    D.rss_end = rss_kib(D.daemon);
    check_empty_state();
    double limit = (double)D.rss_base * opt.rss_factor + opt.rss_slack_mib * 1024;
    if (D.rss_base == 0 || D.rss_end == 0)
        dfail("could not read condd's RSS (warm-up %" PRIu64 " KiB, end %" PRIu64 " KiB)",
              D.rss_base, D.rss_end);
    if ((double)D.rss_end > limit)
        dfail("condd's RSS grew from %" PRIu64 " KiB after warm-up to %" PRIu64
              " KiB at the end of its lifetime (limit %.0f KiB = %g x + %g MiB)",
              D.rss_base, D.rss_end, limit, opt.rss_factor, opt.rss_slack_mib);

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
