/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The lock and condition engine: named locks with FIFO queues and fencing tokens, and named
 * conditions with asyncio.Condition semantics, keyed in hash tables (table.h). It does no I/O
 * and knows neither the wire nor the event loop: the network layer calls these functions with
 * decoded requests and maps the engine's own statuses (enum engine_status) to the wire's in one
 * place (daemon/status.c). The engine answers either at once (the return value) or later,
 * exactly once, through the reply callback given to engine_new(). Timeouts run on timers of the
 * injected clock (struct engine_clock), libevent in the daemon and a hand-advanced fake in the
 * tests; the engine never scans its waiters on a tick. One thread owns an engine.
 */
#ifndef CONDD_DAEMON_ENGINE_H
#define CONDD_DAEMON_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct engine;
struct esession;

/* Every status the engine produces. The daemon maps each to a wire status (daemon/status.c,
 * where a status added here and not mapped there fails the build). */
enum engine_status {
    ENGINE_OK = 0,
    ENGINE_TIMEOUT,        /* the timeout passed (or a try-once found the lock held) */
    ENGINE_CANCELLED,      /* withdrawn by Cancel */
    ENGINE_NOT_OWNER,      /* the owner does not hold the lock it must hold */
    ENGINE_ALREADY_OWNER,  /* Acquire by the owner that holds the lock */
    ENGINE_LOCK_MISMATCH,  /* the condition is bound to another lock */
    ENGINE_BAD_REQUEST,    /* bad name, bad timeout, request id already pending */
    ENGINE_LIMIT_EXCEEDED, /* too many pending requests in the session */
    ENGINE_SHUTTING_DOWN,  /* engine_shutdown() was called */
    ENGINE_NOT_FOUND,      /* Cancel named no pending request */
    ENGINE_INTERNAL,       /* out of memory; nothing changed */
    ENGINE_VALUE_MISMATCH, /* a semaphore named with another value or kind than it exists with,
                            * or a barrier with other parties */
    ENGINE_BROKEN,         /* a barrier wait: the barrier was reset or aborted, or is broken */
    /* Not an answer: returned by acquire and wait when the answer will come later through the
     * reply callback. Never carried by a reply. */
    ENGINE_PENDING,
};

/*
 * Time for timeouts and latencies, injected, so that the engine arms no timer of its own: the
 * daemon backs it with libevent (daemon/evclock.c), the tests with a fake clock they advance by
 * hand, which makes every timeout exact and instant to test.
 * Every function gets ctx. Timers are one-shot:
 *  - timer_new() returns an unarmed timer that will call fire(arg), or NULL on OOM. The engine
 *    creates a request's timer before it changes any state, so that OOM refuses the request
 *    cleanly and arming never has to fail (nor does re-arming, which the engine does only to
 *    retry after an OOM).
 *  - timer_arm() arms it to fire once, seconds (finite, >= 0) from now, never earlier, and
 *    never within the engine call that armed it (0 fires on the next loop turn or advance).
 *    Arming an armed timer moves its deadline.
 *  - timer_free() disarms and frees it. The engine calls it once per timer, possibly from the
 *    timer's own fire callback, and never touches the handle afterwards.
 * The engine owns a handle from timer_new() until it hands it to timer_free(). fire() runs
 * outside any engine call and enters the engine (it may deliver replies).
 *
 * The fencing-token clock is not part of this interface: tokens must exceed those of a
 * previous daemon run, which only the host's realtime clock can promise, so engine_next_token()
 * reads common/clock.h directly (a fake clock would make tests of that rule meaningless).
 */
struct engine_clock {
    double (*now)(void *ctx); /* monotonic seconds, for request latencies (elapsed_s) */
    void *(*timer_new)(void *ctx, void (*fire)(void *arg), void *arg);
    void (*timer_arm)(void *ctx, void *timer, double seconds);
    void (*timer_free)(void *ctx, void *timer);
    size_t timer_bytes; /* memory one timer takes, counted in engine_stats.table_bytes */
    void *ctx;
};

/* Items (pending requests dropped, locks released) that ending sessions take per step: bounds
 * the time one ended session takes from the event loop per turn (see engine_session_close()). */
#define ENGINE_REAP_BUDGET 1024

/* Longest lock or condition name, in bytes. */
#define ENGINE_NAME_MAX 512

/* Which request a late reply answers. */
enum engine_op {
    ENGINE_OP_ACQUIRE,
    ENGINE_OP_WAIT,
    ENGINE_OP_EVENT_WAIT,
    ENGINE_OP_SEM_ACQUIRE,
    ENGINE_OP_BARRIER_WAIT,
};

/* A late reply: the answer to a request that returned ENGINE_PENDING. */
struct engine_reply {
    enum engine_op op;
    uint64_t req_id;           /* the id the request was made with */
    enum engine_status status; /* never ENGINE_PENDING */
    const char *message;       /* static text for errors, NULL on OK */
    uint64_t token;            /* fencing token when the owner holds the lock: Acquire OK, and Wait
                                * OK / TIMEOUT / CANCELLED; else 0 */
    double elapsed_s;          /* seconds from the request to this reply (for latency metrics) */
    uint32_t index;            /* BarrierWait OK: the arrival index; else 0 */
    /* A Wait's reply: its condition's name (borrowed for the call; not NUL-terminated), so that
     * a caller who cannot deliver a notified Wait's OK can pass the notification on
     * (engine_pass_notification()); else NULL and 0. */
    const uint8_t *cond;
    size_t cond_len;
};

/*
 * Called by the engine to deliver a late reply for a session. ctx is the session's ctx from
 * engine_session_open(); reply is borrowed for the duration of the call. It may be called from
 * within any engine call (a release grants the lock to another session at once) and from timer
 * callbacks. The callback must not call back into the engine; it only queues the reply.
 */
typedef void (*engine_reply_fn)(void *ctx, const struct engine_reply *reply);

/* Limits the engine enforces. Zero fields take the defaults shown. */
struct engine_limits {
    size_t max_pending_per_session; /* pending acquires + waits per session; default 100000 */
};

/*
 * A new engine, or NULL on OOM. *clock is copied; clock->ctx is borrowed and must outlive the
 * engine. limits is copied (NULL: defaults). The hash key is drawn from libsodium's randombytes
 * at creation. The fencing-token clock starts from the realtime clock (see
 * engine_next_token()).
 */
struct engine *engine_new(const struct engine_clock *clock, engine_reply_fn reply,
                          const struct engine_limits *limits);

/* Frees the engine. Every session must have been closed first. NULL is ignored. */
void engine_free(struct engine *e);

/* Changes the limits at run time (SIGHUP reload). Pending requests over a new limit stay. */
void engine_set_limits(struct engine *e, const struct engine_limits *limits);

/* ------------------------------------------------------------------ sessions */

/*
 * Opens a session: the unit of ownership (one per client connection). session_id is shown in
 * List; client_name is copied. ctx is handed back to the reply callback. NULL on OOM.
 */
struct esession *engine_session_open(struct engine *e, uint64_t session_id, const char *client_name,
                                     void *ctx);

/*
 * Ends a session: every request it has pending is dropped without a reply to it (a notified
 * wait's notification is passed on to the next waiter of that condition), then every lock it
 * holds is released and handed on in FIFO order, and the session is freed. s and its ctx are
 * never used by the engine after this call returns. The work is done in steps of at most
 * ENGINE_REAP_BUDGET items: the first step within this call, which is all
 * of it for a session with that few pending requests and locks; the rest on later turns of the
 * clock (a timer armed at 0 s), so that ending a session holding a million locks never stalls
 * the other sessions for long. Until then List shows its remaining locks held by it; a pending
 * request of it whose turn comes up meanwhile is granted silently and released by a later
 * step. Replies to *other* sessions (grants) may be delivered through the callback during the
 * call and during those steps.
 */
void engine_session_close(struct esession *s);

uint64_t engine_session_id(const struct esession *s);

/* ------------------------------------------------------------------ operations */
/* Names are borrowed byte strings (not NUL-terminated); the engine copies what it keeps. A name
 * that is empty, longer than ENGINE_NAME_MAX, not valid UTF-8, or holds a control character
 * gets BAD_REQUEST. timeout: NULL = forever, else seconds (0 = do not wait); negative or
 * non-finite is BAD_REQUEST; values above 1e9 mean forever. Acquire, Wait and Cancel may
 * return INTERNAL ("out of memory") when an allocation fails; nothing has changed then. */

/*
 * Acquire lock for (s, owner). Returns OK with *token set if granted at once, ENGINE_PENDING if
 * queued (the reply comes later: OK with a token, TIMEOUT, CANCELLED, or SHUTTING_DOWN), or an
 * error status: ALREADY_OWNER, TIMEOUT (try-once on a held lock), BAD_REQUEST, LIMIT_EXCEEDED.
 * req_id must not be the id of another pending request of s (BAD_REQUEST).
 * On an error, *message (if message is not NULL) is set to static text.
 */
enum engine_status engine_acquire(struct esession *s, uint64_t req_id, const uint8_t *lock,
                                  size_t lock_len, uint64_t owner, const double *timeout,
                                  uint64_t *token, const char **message);

/* The mode of a lock request (issue 13): exclusive (one holder) or shared (any number of
 * holders together, none exclusive). */
enum engine_lock_mode {
    ENGINE_LOCK_EXCLUSIVE = 0,
    ENGINE_LOCK_SHARED = 1,
};

/*
 * engine_acquire() in a mode; engine_acquire() is this with ENGINE_LOCK_EXCLUSIVE. Requests are
 * granted strictly in arrival order: every shared request at the head of the queue is granted
 * together (each with its own token, increasing in grant order), an exclusive one waits until
 * every holder has left, and a shared request arriving while anyone waits queues behind them
 * (so neither mode starves the other). A shared acquire is granted at once only when the lock
 * is free, or held shared with nobody waiting; a try-once (timeout 0) gets TIMEOUT otherwise.
 * An owner that holds the lock in either mode gets ALREADY_OWNER (there is no upgrade: two
 * readers upgrading would wait for each other forever). Same checks and order otherwise; a
 * pending shared acquire counts against the session's pending limit like any other.
 */
enum engine_status engine_acquire_mode(struct esession *s, uint64_t req_id, const uint8_t *lock,
                                       size_t lock_len, uint64_t owner, enum engine_lock_mode mode,
                                       const double *timeout, uint64_t *token,
                                       const char **message);

/* Release lock held by (s, owner), in whichever mode it holds it: OK, or NOT_OWNER /
 * BAD_REQUEST. The next live waiter (or waiters, shared ones) is granted during the call. */
enum engine_status engine_release(struct esession *s, const uint8_t *lock, size_t lock_len,
                                  uint64_t owner, const char **message);

/* Is lock held (by anyone)? OK with *locked set, or BAD_REQUEST. */
enum engine_status engine_locked(struct engine *e, const uint8_t *lock, size_t lock_len,
                                 bool *locked, const char **message);

/* engine_locked() with the mode: *shared (held shared) and *holders (0 free, 1 held exclusively,
 * else the number of shared holders) set too. */
enum engine_status engine_locked_mode(struct engine *e, const uint8_t *lock, size_t lock_len,
                                      bool *locked, bool *shared, uint64_t *holders,
                                      const char **message);

/*
 * Wait on cond, bound to lock, for (s, owner), which must hold lock exclusively (held shared:
 * NOT_OWNER, "conditions need the exclusive mode"; the wait re-acquires it exclusively). On
 * success returns
 * ENGINE_PENDING: the lock has been released (handed on) and the waiter queued on cond. The late
 * reply (OK, TIMEOUT or CANCELLED, each with a new token and the lock held again; or
 * SHUTTING_DOWN) comes only once the owner holds the lock again. notify_first > 0 first wakes up
 * to that many of cond's waiters, as engine_notify() would (before this waiter joins the queue).
 * Errors: NOT_OWNER (nothing registered, lock untouched), LOCK_MISMATCH, BAD_REQUEST,
 * LIMIT_EXCEEDED. The timeout bounds the wait for a notification only: when it passes, the waiter
 * queues for the lock (at the tail) and answers TIMEOUT once it holds it. A timeout of 0 passes on
 * the next turn of the clock (see struct engine_clock), never within this call. Checked in this
 * order: names and timeout, a pending req_id (BAD_REQUEST), ownership, binding, the pending limit.
 */
enum engine_status engine_wait(struct esession *s, uint64_t req_id, const uint8_t *cond,
                               size_t cond_len, const uint8_t *lock, size_t lock_len,
                               uint64_t owner, const double *timeout, uint64_t notify_first,
                               const char **message);

/*
 * Wake at most n (UINT64_MAX: all) of cond's waiters, longest-waiting first; (s, owner) must
 * hold lock exclusively (as for engine_wait()). OK with *woken set, or NOT_OWNER, LOCK_MISMATCH,
 * BAD_REQUEST (checked in the order names, ownership, binding). The woken waiters queue for the
 * lock behind its current waiters; none can be granted before the caller releases. With no waiters
 * nothing is remembered.
 */
enum engine_status engine_notify(struct esession *s, const uint8_t *cond, size_t cond_len,
                                 const uint8_t *lock, size_t lock_len, uint64_t owner, uint64_t n,
                                 uint64_t *woken, const char **message);

/*
 * Passes on a notification whose receiver will never act on it: a Wait answered OK (the lock
 * re-taken) to a session that ended before that answer reached its client (a detached session
 * whose grace ran out, protocol.md §5.5 and §9.5). Wakes cond's longest waiter, as a Notify with
 * n = 1 would, without an owner: the woken wait queues for the lock, or takes it at once when it
 * is free. cond (borrowed) need not exist any more. Returns false only when out of memory for the
 * lock's entry (nothing changed); does nothing once the engine is shutting down.
 */
bool engine_pass_notification(struct engine *e, const uint8_t *cond, size_t cond_len);

/*
 * Cancel the pending request target_id of s. OK: a pending Acquire has been answered CANCELLED
 * through the callback before this returns; a pending Wait leaves its condition (passing on a
 * notification it had received) and is answered CANCELLED once it holds the lock again (during
 * this call when the lock is free; a notified wait keeps its place in the lock's queue).
 * NOT_FOUND: no such pending request (never sent, already answered, or a wait already bound to
 * answer TIMEOUT); nothing changed.
 */
enum engine_status engine_cancel(struct esession *s, uint64_t target_id, const char **message);

/* Answer SHUTTING_DOWN to every pending request of every session (through the callback) and
 * refuse new acquires and waits with SHUTTING_DOWN from now on. Held locks stay held. */
void engine_shutdown(struct engine *e);

/* ------------------------------------------------------------------ introspection */

/* True while ended sessions are still being taken apart (see engine_session_close()): their
 * remaining locks are handed on over the next turns of the clock. */
bool engine_reaping(const struct engine *e);

struct engine_stats {
    uint64_t sessions;
    uint64_t locks;             /* held or waited for */
    uint64_t locks_held;        /* held in either mode */
    uint64_t lock_waiters;      /* queued in lock queues (acquires and re-acquiring waits) */
    uint64_t conditions;        /* with at least one waiter */
    uint64_t condition_waiters; /* in condition queues, not yet notified */
    uint64_t table_bytes;       /* tables plus the lock, condition and waiter entries */
    uint64_t last_token;
    uint64_t entry_bytes; /* the entries alone (part of table_bytes): 0 when nothing is
                           * held or pending, whatever size the tables' arrays settled at */
    /* events (event.c) */
    uint64_t events;        /* event entries: set, or clear with waiters */
    uint64_t events_set;    /* events remembered as set */
    uint64_t event_waiters; /* pending EventWaits */
    /* semaphores (sem.c) */
    uint64_t semaphores;        /* semaphores in existence (see engine_sem_acquire()) */
    uint64_t permits_held;      /* permits held, summed over every semaphore */
    uint64_t semaphore_waiters; /* acquires queued in semaphore queues */
    uint64_t semaphores_posted; /* with permits released without an acquire (capped) */
    /* barriers (barrier.c) */
    uint64_t barriers;        /* barrier entries: with waiters, or broken */
    uint64_t barriers_broken; /* barriers broken (aborted, not reset since) */
    uint64_t barrier_waiters; /* pending BarrierWaits */
    /* shared locks (lock.c) */
    uint64_t locks_shared;   /* locks held in shared mode (part of locks_held) */
    uint64_t shared_holders; /* shared holds, summed over those locks */
    /* every pending request of every kind: the sum of the *_waiters above (filled in by
     * engine_get_stats(), so Stats, /metrics and sd_notify count the same) */
    uint64_t waiters;
};
void engine_get_stats(const struct engine *e, struct engine_stats *out);

/* One lock as List shows it. Pointers are borrowed from the engine and valid only during the
 * visitor call. */
struct engine_lock_info {
    const uint8_t *name;
    size_t name_len;
    bool held;
    uint64_t holder_session;   /* 0 when free */
    const char *holder_client; /* "" when free */
    uint64_t holder_owner;
    uint64_t token; /* the holder_* and token fields describe the first (oldest) holder */
    uint64_t waiters;
    bool shared;       /* held in shared mode */
    uint64_t nholders; /* 1 when held exclusively, 0 when free */
};
/* One holder of the lock last passed to on_lock (engine_list_holders()). */
struct engine_lock_holder_info {
    uint64_t session_id;
    const char *client;
    uint64_t owner;
    uint64_t token;
};
struct engine_cond_info {
    const uint8_t *name;
    size_t name_len;
    const uint8_t *lock;
    size_t lock_len;
    uint64_t waiters; /* waits not yet notified */
};

/*
 * Calls the visitors for every lock and condition whose name starts with prefix[0..prefix_len),
 * at most limit of each. Returns true if more matched than were visited (truncated). Visitors
 * must not call the engine. Order is unspecified.
 */
bool engine_list(const struct engine *e, const uint8_t *prefix, size_t prefix_len, size_t limit,
                 void (*on_lock)(void *arg, const struct engine_lock_info *),
                 void (*on_cond)(void *arg, const struct engine_cond_info *), void *arg);

/* engine_list() that also calls on_holder (when not NULL) right after each on_lock, once per
 * holder of that lock in grant order (the exclusive holder, or every shared one). */
bool engine_list_holders(const struct engine *e, const uint8_t *prefix, size_t prefix_len,
                         size_t limit, void (*on_lock)(void *arg, const struct engine_lock_info *),
                         void (*on_holder)(void *arg, const struct engine_lock_holder_info *),
                         void (*on_cond)(void *arg, const struct engine_cond_info *), void *arg);

/* One queued request as engine_queue_visit() shows it. */
struct engine_queued_info {
    uint64_t session_id;
    uint64_t req_id;
    uint64_t owner;
    enum engine_op op;
    enum engine_status final_status; /* a wait in a lock's queue: the status its reply will
                                      * carry; else ENGINE_OK */
    bool shared;                     /* a shared acquire */
};

/*
 * Visits, head first, the queue of lock name[0..len) (is_cond false: acquires and re-acquiring
 * waits) or of condition name (is_cond true: waits not yet notified). Returns the number
 * visited, 0 for a name with no entry. For debugging and tests: the cost is the queue's length.
 * The info is borrowed for the visitor call; the visitor must not call the engine.
 */
size_t engine_queue_visit(struct engine *e, bool is_cond, const uint8_t *name, size_t len,
                          void (*visit)(void *arg, const struct engine_queued_info *), void *arg);

/* ------------------------------------------------------------------ events (event.c) */
/* asyncio.Event over the network: not owned (any session may set, clear or wait). An event
 * takes memory (an entry) while it is set or waited for; a clear event nobody waits on has no
 * entry. Names follow engine_name_valid() (BAD_REQUEST otherwise). Set events are capped
 * engine-wide at engine_limits.max_pending_per_session (see engine_event_set()). */

/*
 * Sets event name: answers every pending EventWait on it OK (through the callback, during this
 * call; *woken says how many, waiters of ended sessions not counted) and remembers it as set
 * until a clear. OK with *woken set; BAD_REQUEST; LIMIT_EXCEEDED when the event is clear and
 * max_pending_per_session events are set already (nothing changed, no waiter woken); INTERNAL
 * on OOM (nothing changed). Setting a set event is OK with *woken 0.
 */
enum engine_status engine_event_set(struct engine *e, const uint8_t *name, size_t len,
                                    uint64_t *woken, const char **message);

/* Clears event name (OK also when it was clear), or BAD_REQUEST. Waiters keep waiting. */
enum engine_status engine_event_clear(struct engine *e, const uint8_t *name, size_t len,
                                      const char **message);

/* Is event name set? OK with *set, or BAD_REQUEST. */
enum engine_status engine_event_is_set(struct engine *e, const uint8_t *name, size_t len, bool *set,
                                       const char **message);

/*
 * Waits for event name to be set. OK at once when it is set; TIMEOUT at once when it is clear
 * and timeout is 0; else ENGINE_PENDING and a late reply (op ENGINE_OP_EVENT_WAIT): OK when a
 * set wakes it, TIMEOUT, CANCELLED (engine_cancel()) or SHUTTING_DOWN. Errors, checked in this
 * order: SHUTTING_DOWN, BAD_REQUEST (name, then timeout and a pending req_id), then (only when
 * it would wait) LIMIT_EXCEEDED (the session's pending limit) and INTERNAL.
 */
enum engine_status engine_event_wait(struct esession *s, uint64_t req_id, const uint8_t *name,
                                     size_t len, const double *timeout, const char **message);

/* One event as List shows it; name is borrowed for the visitor call. */
struct engine_event_info {
    const uint8_t *name;
    size_t name_len;
    bool set;
    uint64_t waiters;
};

/* Calls on_event for every event (set, or waited for) whose name starts with prefix, at most
 * limit of them. Returns true if more matched (truncated). The visitor must not call the
 * engine. Order is unspecified. */
bool engine_list_events(const struct engine *e, const uint8_t *prefix, size_t prefix_len,
                        size_t limit, void (*on_event)(void *arg, const struct engine_event_info *),
                        void *arg);

/* ------------------------------------------------------------------ semaphores (sem.c) */
/*
 * A semaphore is a named counter with asyncio.Semaphore / BoundedSemaphore semantics. It exists
 * while a permit is held, an acquire waits, or its counter differs from its value N, and then
 * takes no memory: the first request naming it creates it with counter N (value, 1..2^31) and
 * its kind (bounded). While it exists, a request naming another value or kind gets
 * VALUE_MISMATCH and changes nothing. Permits are held by (session, owner); an owner may hold
 * several. Grants are strict FIFO: an acquire takes a permit at once only when the counter is
 * above 0 and nobody waits. Every grant carries a fencing token (engine_next_token()).
 */

/* Largest semaphore value (2^31). */
#define ENGINE_SEM_VALUE_MAX 2147483648u

/*
 * Acquire one permit of semaphore name (value, bounded) for (s, owner). OK with *token set when
 * granted at once, ENGINE_PENDING when queued (the late reply, op ENGINE_OP_SEM_ACQUIRE: OK with
 * a token, TIMEOUT, CANCELLED or SHUTTING_DOWN), or an error: TIMEOUT (try-once that would
 * wait), VALUE_MISMATCH, BAD_REQUEST, LIMIT_EXCEEDED, SHUTTING_DOWN, INTERNAL. Checked in this
 * order: shutdown, name, value, timeout and request id, mismatch, then whether it must wait
 * (try-once, the pending limit).
 */
enum engine_status engine_sem_acquire(struct esession *s, uint64_t req_id, const uint8_t *name,
                                      size_t len, uint64_t value, bool bounded, uint64_t owner,
                                      const double *timeout, uint64_t *token, const char **message);

/*
 * Release one permit of semaphore name held by (s, owner); the queue head is granted within the
 * call. When (s, owner) holds none: a Semaphore gets a posted permit (counter + 1, owned by
 * nobody; this may create it with counter value + 1); a BoundedSemaphore refuses with NOT_OWNER
 * ("BoundedSemaphore released too many times") and nothing changes. Errors: BAD_REQUEST (name,
 * value), VALUE_MISMATCH, NOT_OWNER, INTERNAL (no memory to create it for a post).
 */
enum engine_status engine_sem_release(struct esession *s, const uint8_t *name, size_t len,
                                      uint64_t value, bool bounded, uint64_t owner,
                                      const char **message);

/* The state of semaphore name: OK with *exists, *locked (an acquire would wait), *counter and
 * *held (permits held) set (all false / 0 when it does not exist), or BAD_REQUEST. */
enum engine_status engine_sem_locked(struct engine *e, const uint8_t *name, size_t len,
                                     bool *exists, bool *locked, uint64_t *counter, uint64_t *held,
                                     const char **message);

/* One semaphore as List shows it; borrowed for the visitor call. */
struct engine_sem_info {
    const uint8_t *name;
    size_t name_len;
    uint64_t value; /* N */
    bool bounded;
    uint64_t counter;
    uint64_t waiters;
    uint64_t nholders; /* holder records, each passed to on_holder right after this call */
};
/* One (session, owner) holding permits of the semaphore last passed to on_sem. */
struct engine_sem_holder_info {
    uint64_t session_id;
    const char *client;
    uint64_t owner;
    uint64_t permits;
    uint64_t token; /* of its latest grant */
};

/*
 * Calls on_sem for every semaphore whose name starts with prefix, at most limit, each followed
 * by on_holder for each of its holders. Returns true if more matched than were visited. Visitors
 * must not call the engine. Order is unspecified.
 */
bool engine_list_sems(const struct engine *e, const uint8_t *prefix, size_t prefix_len,
                      size_t limit, void (*on_sem)(void *arg, const struct engine_sem_info *),
                      void (*on_holder)(void *arg, const struct engine_sem_holder_info *),
                      void *arg);

/* ------------------------------------------------------------------ barriers (barrier.c) */
/*
 * asyncio.Barrier over the network: not owned (any session may wait, reset or abort). A barrier
 * takes memory (an entry) only while it has waiters or is broken; the first request that creates
 * it fixes parties (1..2^31), and while it exists a request naming other parties gets
 * VALUE_MISMATCH and changes nothing. Names follow engine_name_valid() (BAD_REQUEST otherwise).
 * Broken barriers are capped engine-wide at engine_limits.max_pending_per_session.
 */

/* Largest number of parties (2^31). */
#define ENGINE_BARRIER_PARTIES_MAX 2147483648u

/*
 * Waits at barrier name (parties). When this wait makes parties waits pending, it fills the
 * barrier: every waiter is answered OK with its arrival index 0..parties-2 through the callback
 * during this call, in arrival order, and this call returns OK with *index = parties - 1; the
 * barrier then no longer exists (the next wait starts a new generation). Else ENGINE_PENDING and
 * a late reply (op ENGINE_OP_BARRIER_WAIT): OK with reply->index, BROKEN (reset or abort),
 * TIMEOUT, CANCELLED or SHUTTING_DOWN; a waiter that leaves (timeout, cancel, session end) does
 * not break the barrier. Errors, checked in this order: SHUTTING_DOWN, BAD_REQUEST (name,
 * parties, then timeout and a pending req_id), VALUE_MISMATCH, BROKEN (the barrier is broken),
 * TIMEOUT (timeout 0 and it does not fill), LIMIT_EXCEEDED (the session's pending limit),
 * INTERNAL.
 */
enum engine_status engine_barrier_wait(struct esession *s, uint64_t req_id, const uint8_t *name,
                                       size_t len, uint64_t parties, const double *timeout,
                                       uint32_t *index, const char **message);

/*
 * Resets barrier name: every waiter is answered BROKEN during the call (*broken says how many,
 * waiters of ended sessions not counted) and the barrier is reusable (not broken; it no longer
 * exists). OK also when it does not exist (*broken 0). parties 0 skips the check, else
 * VALUE_MISMATCH when it exists with other parties. BAD_REQUEST for a bad name or parties.
 */
enum engine_status engine_barrier_reset(struct engine *e, const uint8_t *name, size_t len,
                                        uint64_t parties, uint64_t *broken, const char **message);

/*
 * Aborts barrier name: every waiter is answered BROKEN during the call (*broken as for reset)
 * and the barrier stays broken, answering every new wait BROKEN at once, until a reset. A
 * barrier that does not exist is created broken with parties (0: BAD_REQUEST). Aborting a broken
 * barrier is OK with *broken 0. Errors: BAD_REQUEST, VALUE_MISMATCH (parties not 0 and not its
 * parties), LIMIT_EXCEEDED (max_pending_per_session barriers broken already), INTERNAL.
 */
enum engine_status engine_barrier_abort(struct engine *e, const uint8_t *name, size_t len,
                                        uint64_t parties, uint64_t *broken, const char **message);

/* One barrier as State and List show it; name is borrowed (valid until the next engine call,
 * only during the visitor call for List). */
struct engine_barrier_info {
    const uint8_t *name; /* NULL when it does not exist (State) */
    size_t name_len;
    uint64_t parties;
    uint64_t n_waiting; /* pending waits (waiters of an ended session until the reaper drops
                         * them) */
    bool broken;
};

/* The state of barrier name: OK with *out filled (all 0 when it does not exist: exists is
 * out->parties != 0), or BAD_REQUEST. */
enum engine_status engine_barrier_state(struct engine *e, const uint8_t *name, size_t len,
                                        struct engine_barrier_info *out, const char **message);

/* Calls on_barrier for every barrier whose name starts with prefix, at most limit. Returns true
 * if more matched (truncated). The visitor must not call the engine. Order is unspecified. */
bool engine_list_barriers(const struct engine *e, const uint8_t *prefix, size_t prefix_len,
                          size_t limit,
                          void (*on_barrier)(void *arg, const struct engine_barrier_info *),
                          void *arg);

/* ------------------------------------------------------------------ helpers */

/* Is name[0..len) a valid lock or condition name (1..ENGINE_NAME_MAX bytes of UTF-8 without
 * control characters)? */
bool engine_name_valid(const uint8_t *name, size_t len);

/*
 * The next fencing token: strictly greater than every token handed out before, also across
 * restarts without a state file. It is max(last + 1, microseconds since the Unix epoch, taken
 * from the realtime clock at start plus the monotonic clock since): tokens advance with time,
 * and a run of grants faster than one per microsecond (a session end handing on many locks at
 * once) puts them ahead of the clock by at most the length of that run, a few milliseconds at
 * the very most, far less than a daemon takes to restart. So a restarted daemon starts above
 * whatever its predecessor handed out, provided the wall clock was not set back across the
 * restart. Microseconds keep tokens below 2^53 (until the year 2255), so they survive JSON
 * parsers that read numbers as doubles. Exposed for tests.
 */
uint64_t engine_next_token(struct engine *e);

/* ------------------------------------------------------------------ operator controls */

/*
 * The ids of the sessions holding lock (exclusively or shared), or permits of semaphore name,
 * each once, at most max of them into out (caller's array). 0 for a free or unknown object and
 * an invalid name. The caller ends those sessions to break the holds (protocol.md §5.9).
 */
size_t engine_lock_holder_sessions(struct engine *e, const uint8_t *lock, size_t lock_len,
                                   uint64_t *out, size_t max);
size_t engine_sem_holder_sessions(struct engine *e, const uint8_t *name, size_t len, uint64_t *out,
                                  size_t max);
/* Does session s hold permits of semaphore name (under any owner)? false for an unknown
 * semaphore and an invalid name. */
bool engine_sem_session_holds(struct esession *s, const uint8_t *name, size_t len);
/* The value and kind semaphore name exists with: false for an unknown semaphore and an invalid
 * name. For the message of a VALUE_MISMATCH ("exists with value 3"), which the engine's own
 * static texts cannot carry. */
bool engine_sem_value(struct engine *e, const uint8_t *name, size_t len, uint64_t *value,
                      bool *bounded);

/* ------------------------------------------------------------------ export and restore (restore.c)
 */
/*
 * The live restart (daemon/snapshot.c) saves the whole engine through engine_export() and
 * rebuilds it in a fresh engine with the engine_restore_*() functions. Neither knows a file
 * format. Restoring delivers no reply and grants nothing: it recreates holds with their saved
 * tokens and requests in their queues, in the order given, with their remaining timeouts; then
 * engine_restore_check() proves the result is a state the engine can reach (every queue behind
 * a holder, no holder twice, counts that add up) before anything is served from it.
 */

enum engine_obj_kind {
    ENGINE_OBJ_COND,
    ENGINE_OBJ_LOCK,
    ENGINE_OBJ_SEM,
    ENGINE_OBJ_EVENT,
    ENGINE_OBJ_BARRIER,
};

/* One object as engine_export() shows it and engine_restore_object() takes it. Pointers are
 * borrowed (for the visitor call, or for the restore call). */
struct engine_obj {
    enum engine_obj_kind kind;
    const uint8_t *name;
    size_t name_len;
    const uint8_t *lock; /* COND: the lock it is bound to */
    size_t lock_len;
    bool shared;      /* LOCK: held shared (export only: restore learns it from the holds) */
    uint64_t value;   /* SEM: N; BARRIER: parties */
    uint64_t counter; /* SEM: permits free */
    bool bounded;     /* SEM */
    bool flag;        /* EVENT: set; BARRIER: broken */
    uint64_t nholds;  /* export: holds that follow (LOCK, SEM) */
    uint64_t nqueued; /* export: pending requests that follow (every kind) */
};

/* One hold of the object last shown or restored: a lock's holder (grant order) or a
 * semaphore's holder. */
struct engine_obj_hold {
    uint64_t session_id; /* export; restore takes the session */
    uint64_t owner;
    uint64_t token;
    uint64_t permits; /* SEM: permits held (>= 1); LOCK: 1 */
};

/* One pending request in the queue of the object last shown or restored, head first. */
struct engine_obj_pending {
    uint64_t session_id; /* export; restore takes the session */
    uint64_t req_id;
    uint64_t owner;
    enum engine_op op; /* ACQUIRE (LOCK), WAIT (COND, or LOCK: re-acquiring), SEM_ACQUIRE,
                        * EVENT_WAIT, BARRIER_WAIT */
    bool shared;       /* ACQUIRE in shared mode */
    bool timed;        /* its timeout can still pass, remaining_s from now */
    double remaining_s;
    double elapsed_s;    /* since the request arrived */
    const uint8_t *cond; /* a WAIT in a lock's queue: its condition */
    size_t cond_len;
    enum engine_status final_status; /* a WAIT in a lock's queue: OK (notified), TIMEOUT or
                                      * CANCELLED, the status it answers once granted */
};

/* The visitor of engine_export(): each returns false to stop (out of memory). */
struct engine_export_fns {
    bool (*object)(void *arg, const struct engine_obj *o);
    bool (*hold)(void *arg, const struct engine_obj_hold *h);
    bool (*pending)(void *arg, const struct engine_obj_pending *p);
};

/*
 * Finishes taking ended sessions apart now (the reaper's remaining steps, which may grant locks
 * and deliver replies), so that every hold and request belongs to an open session.
 */
void engine_reap_all(struct engine *e);

/*
 * Shows the whole state: every condition with a pending wait (then its queue), then every lock
 * (its holds in grant order, then its queue), semaphore (holds, queue), event (queue) and
 * barrier (queue), each object followed by its nholds holds and nqueued pending requests.
 * Order among objects is unspecified; within a queue it is head first. Remaining timeouts and
 * elapsed times are relative to the engine clock's now. Returns false when a visitor did, or
 * when an ended session is still being taken apart (call engine_reap_all() first). The
 * visitors must not call the engine.
 */
bool engine_export(const struct engine *e, const struct engine_export_fns *fns, void *arg);

/* A new empty engine with e's clock, reply callback and limits (restore into it, then swap),
 * or NULL on OOM. */
struct engine *engine_new_like(const struct engine *e);

/*
 * Recreates object o (kind, name; COND: its lock; SEM: value, bounded, counter; EVENT: set;
 * BARRIER: parties, broken), which must not exist yet. The holds and pending requests that
 * follow in the saved state go to it through the calls below. Returns ENGINE_OK, or
 * ENGINE_BAD_REQUEST (invalid name or value, already exists) / ENGINE_INTERNAL (OOM) with *why
 * set to static text.
 */
enum engine_status engine_restore_object(struct engine *e, const struct engine_obj *o,
                                         const char **why);

/*
 * Gives session s hold h of the object last restored (a LOCK or a SEM; its kind says how): a lock
 * held exclusively takes one hold; a lock held shared takes several (pass shared); the token as
 * saved (the token clock moves above it). Refused (BAD_REQUEST): a second holder of an
 * exclusive lock, the same (s, owner) twice, token 0, permits 0 or above the semaphore's value.
 */
enum engine_status engine_restore_hold(struct esession *s, const struct engine_obj *o, bool shared,
                                       const struct engine_obj_hold *h, const char **why);

/*
 * Appends pending request p of session s to the queue of object o (last restored), with its
 * remaining timeout armed. Refused (BAD_REQUEST): an op that does not belong to o's kind, a
 * request id s has pending already, a re-acquiring wait whose condition was not restored or
 * is bound to another lock, a bad final status.
 */
enum engine_status engine_restore_pending(struct esession *s, const struct engine_obj *o,
                                          const struct engine_obj_pending *p, const char **why);

/*
 * The bulk of a saved state in one call: n locks, each held exclusively by one holder with
 * nobody queued, as columns. Lock i is named by the lens[i] bytes of names that follow those of
 * the locks before it (the caller has checked that the lens add up), and held by (sessions[i],
 * owners[i]) with tokens[i]. The same as engine_restore_object() then engine_restore_hold() for
 * each, with the same refusals, but every name is hashed first and the table is fetched ahead,
 * so that a hundred thousand locks do not each wait for memory; and engine_restore_check()
 * knows these valid without visiting them. Every pointer is borrowed.
 */
enum engine_status engine_restore_held_locks(struct engine *e, const uint8_t *names,
                                             const uint32_t *lens, size_t n,
                                             struct esession *const *sessions,
                                             const uint64_t *owners, const uint64_t *tokens,
                                             const char **why);

/* A hint before restoring into the fresh engine e: about locks lock entries, conds conditions
 * and pending requests will go in, so its tables are sized once instead of growing step by
 * step. */
void engine_restore_reserve(struct engine *e, uint64_t locks, uint64_t conds, uint64_t pending);

/* The token clock: every token from now on exceeds last_token. */
void engine_restore_tokens(struct engine *e, uint64_t last_token);

/*
 * Checks the restored state as a whole: every lock held, a lock held shared has no shared
 * request at its queue head, every condition waited on, a semaphore with waiters has no permit
 * free and its counts add up, a barrier has fewer waiters than parties and a broken one none, a
 * set event no waiters, and no object is at rest (a clear event nobody waits on has no entry).
 * ENGINE_OK, or BAD_REQUEST with *why set. On any refusal the caller frees the engine, which
 * takes whatever was restored apart silently.
 */
enum engine_status engine_restore_check(struct engine *e, const char **why);

#endif
