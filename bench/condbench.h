/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condbench's internal interface, shared by its files: the run settings, the per-thread worker
 * and per-connection state, the latency histogram, the target table (condd, redis, echo) and the
 * generic client loop that drives every target the same way. condbench.c owns the options, the
 * threads and the report; condbench_loop.c the client loop; condbench_hist.c the histogram;
 * condbench_condd.c, condbench_redis.c and condbench_echo.c one target each;
 * condbench_prims.c the condd modes for semaphores, events and barriers (condbench_condd.h).
 * Against several condd servers (-a/-s with a server list) every name is routed by the rule of
 * protocol.md §21 (common/route.h): the loop records each cycle's server, the condd target keeps
 * one connection per server for every benchmark connection, and the report splits the cycles
 * per server.
 */
#ifndef CONDD_BENCH_CONDBENCH_H
#define CONDD_BENCH_CONDBENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "route.h"

/* ------------------------------------------------------------------ histogram */

/*
 * An HdrHistogram-style log-linear histogram of nanosecond values: values below 256 have a
 * bucket each; above, every power of two is cut into 128 equal sub-buckets, so a bucket is at
 * most 1/128 of its value wide (under 0.8 % error) whatever the range. A fixed array of counts:
 * recording is an index computation and an increment, and no sample is kept.
 */
#define HIST_LINEAR 256u
#define HIST_SUB 128u
#define HIST_BUCKETS (HIST_LINEAR + (64u - 8u) * HIST_SUB)

struct hist {
    uint64_t count;
    uint64_t sum_ns;
    uint64_t min_ns;
    uint64_t max_ns;
    uint64_t buckets[HIST_BUCKETS];
};

/* Empties h (h is the caller's). */
void hist_init(struct hist *h);
/* Records one value in nanoseconds. */
void hist_record(struct hist *h, uint64_t ns);
/* Adds every count of src into dst (both the caller's). */
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at quantile q (0..1) in nanoseconds: the midpoint of the bucket holding it, or 0
 * for an empty histogram. */
uint64_t hist_quantile(const struct hist *h, double q);
/* The mean in nanoseconds (0 when empty). */
double hist_mean(const struct hist *h);

/* ------------------------------------------------------------------ settings */

enum bench_mode {
    MODE_UNCONTENDED,
    MODE_CONTENDED,
    MODE_HANDOFF,
    MODE_FANOUT,
    MODE_CHURN,
    MODE_IDLE,
    MODE_SEM,           /* the uncontended cycle on a semaphore of --value permits */
    MODE_SEM_CONTENDED, /* every connection on one semaphore of --value permits */
    MODE_BARRIER,       /* generations of one barrier of --parties */
    MODE_RW,            /* one writer and c-1 readers on one shared lock */
    MODE_COUNT
};

/* What churn --hold leaves behind per name (--kind). */
enum hold_kind {
    KIND_LOCK,    /* a held lock */
    KIND_SEM,     /* a semaphore of value 1 with its permit held */
    KIND_EVENT,   /* a set event */
    KIND_BARRIER, /* a barrier of 2 parties with one waiter */
    KIND_COND,    /* a condition with one waiter (all bound to one lock per connection) */
    KIND_COUNT
};

#define MODE_BIT(m) (1u << (m))

/* The run's settings, filled from the command line; read-only once the workers start. */
struct bench_opts {
    const struct target *target;
    enum bench_mode mode;
    const char *address; /* as given, or the target's default */
    /* condd: address parsed as a server list (one entry or more; protocol.md §21); empty (n = 0)
     * for the other targets, which take one address. */
    struct route_list servers;
    bool balance; /* --balance: fixed names chosen so connection i lands on server i mod N */
    unsigned connections; /* -c */
    double duration_s;    /* -d */
    uint64_t names;       /* --names (churn) */
    unsigned threads;     /* --threads */
    unsigned owners;      /* --owners: waiters per connection (fanout) */
    unsigned echo_bytes;  /* --echo-bytes: payload of one echo frame */
    bool pipeline;        /* --pipeline (redis) */
    bool hold;            /* --hold (churn: never release) */
    enum hold_kind kind;  /* --kind (churn --hold) */
    uint32_t value;       /* --value: permits (sem, sem-contended) */
    bool bounded;         /* --bounded: BoundedSemaphore (sem, sem-contended) */
    uint32_t parties;     /* --parties (barrier); 0 until parsed: then -c */
    bool json;            /* --json */
    const char *tls_ca;   /* --ca (condd, tls: addresses); NULL: the system's store */
    bool quiet;           /* -q: only the final line (and JSON) */
    /* --rate: cycles per second to offer, over all connections (uncontended); 0: as fast as
     * they go. Each connection holds its lock until its next cycle is due, then releases and
     * acquires again in one write, as unpaced. */
    double rate;
    char prefix[32]; /* name prefix unique to this run: "cb<pid>" */
};

extern struct bench_opts g_opts;

/* ------------------------------------------------------------------ workers and connections */

struct worker;

/* One connection of a worker, whatever the target. */
struct bench_conn {
    struct worker *w;
    unsigned index;   /* global index, 0..connections-1 */
    void *impl;       /* the target's per-connection state */
    bool ready;       /* connected (and, for redis, script loaded) */
    bool dead;        /* failed; takes no further part */
    bool busy;        /* a cycle is in flight */
    uint64_t seq;     /* cycles started (names and tokens derive from it) */
    unsigned server;  /* index in g_opts.servers of the server cn->name routes to */
    uint64_t grants;  /* grants received while measuring */
    uint64_t t_start; /* when the current acquire was issued (ns, monotonic) */
    char name[96];    /* the lock the current cycle works on */
    /* --rate: when this connection's next cycle is due (ns, monotonic), and the timer that
     * starts it (NULL until first needed; freed with the worker). */
    uint64_t due_ns;
    struct event *pace;
    /* handoff */
    struct bench_conn *peer;
    bool *turn_is_mine; /* shared by the pair: true when it is this side's turn */
};

/* One thread: its loop, its connections and its own counters (merged at the end). */
struct worker {
    unsigned id;
    struct event_base *base;
    struct bench_conn *conns;
    unsigned nconns;
    unsigned first;     /* global index of conns[0] */
    unsigned connected; /* connections whose connect finished (ok or not) */
    unsigned failed;
    bool measuring; /* inside the measured window */
    bool stopping;  /* the window is over: start nothing new */
    uint64_t deadline_ns;
    uint64_t ops; /* cycles (grant received, release sent) while measuring */
    uint64_t errors;
    uint64_t refused; /* churn --hold: names the server refused with LIMIT_EXCEEDED */
    uint64_t server_ops[ROUTE_MAX_SERVERS]; /* ops by the server that answered them */
    struct hist *hist;
    struct event *stop_ev;
    struct event *poll_ev; /* fanout: the notifier's pacing timer */
    void *mode_state;      /* state of the condd-only modes */
    char extra[1024];      /* mode-specific lines for the report (worker 0 only) */
};

/* ------------------------------------------------------------------ targets */

/* Server-side figures a target can report (condd: from Stats); fields are 0 when unknown. */
struct server_snapshot {
    bool valid;
    uint64_t rss_bytes;
    uint64_t table_bytes;
    uint64_t locks_held;
    uint64_t sessions;
    uint64_t permits_held;
    uint64_t events_set;
    uint64_t barrier_waiters;
    uint64_t condition_waiters;
};

/*
 * A target: how to connect, acquire and release for the generic loop. Each call reports back
 * through the loop_* functions below, from the worker's event loop.
 */
struct target {
    const char *name;
    const char *default_address;
    unsigned modes; /* MODE_BIT()s this target can run */
    /* Starts connecting cn to g_opts.address; calls loop_connected() later (also on failure).
     * Returns false when nothing could be started (then loop_connected() is not called). */
    bool (*open)(struct bench_conn *cn);
    /* Issues an acquire of cn->name; loop_granted() runs once the lock is held (or failed). */
    void (*acquire)(struct bench_conn *cn);
    /* Issues the release of cn->name; loop_released() runs once the next acquire may be sent
     * (at once for condd, echo and pipelined redis; after the reply for plain redis). */
    void (*release)(struct bench_conn *cn);
    /* Closes cn; pending callbacks may still run during the call and must be ignored. */
    void (*close)(struct bench_conn *cn);
    /* Optional: blocking (runs the worker's loop) snapshot of the server's state through cn. */
    void (*snapshot)(struct bench_conn *cn, struct server_snapshot *out);
    /* Optional: runs modes the generic loop does not (handoff, fanout, idle) on worker w. */
    void (*mode_start)(struct worker *w);
    /* Optional: after the window, writes the mode's report lines into w->extra (once, so a mode
     * need not format its figures on every event). */
    void (*mode_report)(struct worker *w);
};

extern const struct target target_condd;
extern const struct target target_echo;
#ifdef HAVE_HIREDIS
extern const struct target target_redis;
#endif

/* ------------------------------------------------------------------ the generic loop */

/* Called by a target when cn's connect finished; ok false marks cn dead. */
void loop_connected(struct bench_conn *cn, bool ok, const char *why);
/* Called by a target when cn's acquire ended: ok (granted) or failed (why). */
void loop_granted(struct bench_conn *cn, bool ok, const char *why);
/* Called by a target when the next acquire may be sent after a release (ok false: failed). */
void loop_released(struct bench_conn *cn, bool ok, const char *why);
/* Called by a target when the server refused cn's --hold name with LIMIT_EXCEEDED: counts it
 * and goes on with the next name (the flood goes on, as an attacker's would). */
void loop_refused(struct bench_conn *cn);
/* Records a failure of cn outside the acquire/release path and marks cn dead. */
void loop_fail(struct bench_conn *cn, const char *why);
/* Starts the measured window's cycles on every ready connection of w. */
void loop_start(struct worker *w);
/* Counts one measured op on w, answered by server (an index in g_opts.servers; 0 with one
 * server), with the latency since t0 (if measuring). */
void loop_count(struct worker *w, uint64_t t0, unsigned server);

/* The index in g_opts.servers of the server that name (borrowed, NUL-terminated) routes to:
 * route_pick() of protocol.md §21, or 0 when there is only one server. */
unsigned bench_server_of(const char *name);
/* Writes base (borrowed) into out[0..outlen), and with --balance and several servers appends
 * "~K" with the smallest K that makes the name route to server want mod N: a handful of fixed
 * names then spread evenly instead of as the hash happens to fall. Returns the server. */
unsigned bench_name_on(char *out, size_t outlen, const char *base, unsigned want);

/* Prints a diagnostic to stderr, prefixed "condbench: ". */
void bench_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
