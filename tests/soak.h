/* SPDX-License-Identifier: BSD-2-Clause
 *
 * What the soak's files (tests/soak.c: the driver and its command line; soak_worker.c: the
 * worker process; soak_check.c: the checks at the end; soak_shared.c: the shared mapping and
 * helpers) share: the names and bounds of the run, the state in the MAP_SHARED mapping, the
 * options, and each file's entry points. Only the soak includes it.
 */
#ifndef CONDD_TESTS_SOAK_H
#define CONDD_TESTS_SOAK_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <condd/condd.h>

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

/* ================================================================== shared state (soak_shared.c)
 */

enum phase { PHASE_RUN, PHASE_DRAIN, PHASE_STOP };
enum role { ROLE_CONSUMER, ROLE_PRODUCER, ROLE_RELAY, ROLE_PLAIN };
extern const char *const role_names[4]; /* by enum role */

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

/* The mapping, made by the driver before the first fork. */
extern struct shm *S;

void bit_set(_Atomic uint64_t *bits, uint64_t inc);
void bit_clear(_Atomic uint64_t *bits, uint64_t inc);
bool bit_get(_Atomic uint64_t *bits, uint64_t inc);
void add(_Atomic uint64_t *counter);

/* ================================================================== options and helpers
 * (soak_shared.c) */

struct soak_options {
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
};
extern struct soak_options opt;

/* The state of rnd() in this process (seeded by main(), reseeded by each worker). */
extern uint64_t rng_state;
uint64_t rnd(void);
/* A uniform double in [lo, hi). */
double rnd_between(double lo, double hi);
void sleep_s(double s);
/* Dies with SIGKILL when the driver dies, so nothing outlives a killed soak. */
void die_with_driver(pid_t driver);
void default_signals(void);
/* /proc/PID/status VmRSS in KiB, 0 when unreadable. */
uint64_t rss_kib(pid_t pid);
/* True once pid (incarnation inc) is gone or a zombie. */
bool pid_dead(pid_t pid, uint64_t inc);

/* ================================================================== the worker (soak_worker.c) */

/* The body of a forked worker process: never returns. */
__attribute__((noreturn)) void worker_main(int index, uint64_t inc, uint16_t port, pid_t driver);

/* ================================================================== the driver (soak.c) */

struct child {
    pid_t pid;
    int index;
    uint64_t inc;
    bool killed;
};

/* The driver's state (tests/soak.c). */
struct driver {
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
};
extern struct driver D;

/* Reports a failed check (with condd's log tail and the summary), kills everything, exits 1. */
__attribute__((format(printf, 1, 2), noreturn)) void dfail(const char *fmt, ...);
double now_s(void);
/* Reaps every child that ended; fails on one that should not have. */
void reap(void);
/* Live (not killed) workers of role, or of every role for -1. */
size_t live_workers(int role);

/* ================================================================== the end (soak_check.c) */

void driver_connect(void);
void driver_notify_all(const char *why);
/* Polls (reaping children) until cond() holds or seconds pass. */
bool wait_until(double seconds, bool (*cond)(void));
bool only_consumers_left(void);
bool queue_empty(void);
bool no_workers_left(void);
void final_burst(int rounds);
void check_end(void);
void summary(const char *verdict);

#endif
