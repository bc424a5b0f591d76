/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Internals shared by the engine's source files (engine.c: engine, sessions, pending requests
 * and their timers, tokens, stats, list, shutdown; lock.c: lock entries and their FIFO queues,
 * Acquire, Release, Locked; cond.c: condition entries, Wait, Notify, and the cancel/drop paths
 * of waits; qentry.c: the entries and waiter queues events and barriers share; name.c: the
 * name check; table.c: the hash table). Not installed and not used outside daemon/engine/.
 *
 * Shape of the state (all lists are intrusive, so every step is O(1)):
 *  - a lock entry (struct elock) exists while the lock is held or waited for. Invariant between
 *    engine calls: every lock entry is held, so a free lock has no entry and an empty queue
 *    (a release grants the queue head in the same call). It is held exclusively by one holder
 *    record embedded in it (l->x, no allocation on the hot path), or shared by a list of
 *    allocated holder records (struct elockhold) in grant order, never both. Also between calls:
 *    a lock held shared has an exclusive request (or none) at the head of its queue, since a
 *    shared head is granted as soon as no exclusive holder is in the way.
 *  - a condition entry (struct econd) exists while any Wait naming it is pending (refs > 0): the
 *    waits in its queue (not yet notified) and the notified/timed-out/cancelled waits that are
 *    re-acquiring the lock in the lock's queue. It keeps a copy of its lock's name rather than
 *    a pointer, because the lock may be free (and have no entry) while everyone waits on the
 *    condition.
 *  - a waiter (struct ewaiter) is one pending Acquire or Wait. It sits in at most one queue
 *    (a lock's or a condition's), in its session's pending list, and in the engine's pending
 *    table keyed by (session serial, request id).
 */
#ifndef CONDD_DAEMON_ENGINE_INTERNAL_H
#define CONDD_DAEMON_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "table.h"

#define ENGINE_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Default for engine_limits.max_pending_per_session. */
#define ENGINE_DEFAULT_MAX_PENDING 100000

/* When re-acquiring after a wait's timeout finds no memory for a lock entry, retry this soon. */
#define ENGINE_OOM_RETRY_USEC 10000

enum ewaiter_kind {
    EW_ACQUIRE,
    EW_WAIT,
    EW_EVENT,   /* an EventWait (event.c): in w->entry's queue until answered */
    EW_SEM,     /* a pending SemAcquire, in w->sem's queue (sem.c) */
    EW_BARRIER, /* a pending BarrierWait, in w->entry's queue (barrier.c) */
};

enum ewaiter_state {
    EW_IN_LOCKQ, /* queued for w->lock (an acquire, or a wait re-acquiring) */
    EW_IN_CONDQ, /* a wait in w->cond's queue, not yet notified */
};

struct elock;
struct elockhold;
struct econd;
struct eqentry;
struct esem;
struct esemhold;

/* One pending Acquire or Wait. Owned by the engine; freed when answered or dropped. */
struct ewaiter {
    struct table_node pnode; /* in e->pending, key (s->serial, req_id) */
    struct esession *s;
    uint64_t req_id;
    uint64_t owner;
    struct ewaiter *q_prev, *q_next; /* the lock queue or the condition queue (state says) */
    struct ewaiter *s_prev, *s_next; /* s's pending list */
    struct elock *lock;              /* while EW_IN_LOCKQ, else NULL */
    struct econd *cond;              /* waits: the condition (holds one of its refs) */
    struct esem *sem;                /* EW_SEM: the semaphore whose queue it is in */
    union {
        struct eqentry *entry; /* EW_EVENT, EW_BARRIER: the event or barrier whose queue it is
                                * in */
        /* EW_ACQUIRE: a shared Acquire's holder record, allocated when it queues so that the
         * grant (in another session's release) cannot fail; NULL for an exclusive one. Shares
         * the slot so that a waiter is no bigger than before shared locks. */
        struct elockhold *hold;
    };
    void *timer;          /* the clock's, for a timed request while its timeout
                           * can still pass; else NULL */
    double started;       /* monotonic seconds when the request arrived */
    double deadline;      /* while timer is set: when it fires (engine_export(); the live
                           * restart saves the time left). Costs no memory: the allocation's
                           * size class is the same with it. */
    uint8_t kind;         /* enum ewaiter_kind */
    uint8_t state;        /* enum ewaiter_state */
    uint8_t final_status; /* a wait in a lock queue: OK, TIMEOUT or CANCELLED */
};

/* One grant of a lock to (s, owner): the lock's embedded exclusive record, or an allocated
 * shared one. Every record of a session is in its held list (s->held). */
struct elockhold {
    struct elock *lock;
    struct esession *s; /* NULL: the embedded record of a lock not held exclusively */
    uint64_t owner;
    uint64_t token;
    struct elockhold *h_prev, *h_next; /* s's list of holds */
    struct elockhold *l_prev, *l_next; /* shared records: the lock's holders, grant order */
};

/* A lock that is held (and maybe waited for). The name follows inline. */
struct elock {
    struct table_node node;              /* in e->locks */
    struct elockhold x;                  /* the exclusive holder while x.s != NULL */
    struct elockhold *sh_head, *sh_tail; /* the shared holders, oldest first */
    uint64_t nshared;                    /* length of that list */
    struct ewaiter *q_head, *q_tail;     /* FIFO of waiters */
    uint32_t nwaiters;
    uint16_t name_len;
    bool in_slab; /* made in a slab by a bulk restore (elock_create_bulk), not by malloc */
    uint8_t name[];
};

/* A condition with pending waits. Its name, then its lock's name, follow inline. */
struct econd {
    struct table_node node;          /* in e->conds */
    struct ewaiter *q_head, *q_tail; /* FIFO of waits not yet notified */
    uint64_t nqueued;                /* length of that queue */
    uint64_t refs;                   /* pending waits naming this condition (queued or not) */
    uint16_t name_len;
    uint16_t lock_len;
    uint8_t data[]; /* name[name_len] then lock name[lock_len] */
};

struct esession {
    struct engine *e;
    struct esession *prev, *next; /* e's list of sessions */
    uint64_t id;                  /* the caller's session id (List) */
    uint64_t serial;              /* engine-unique, keys the pending table */
    void *ctx;
    bool closing;              /* ended: being taken apart by the reaper (engine.c) */
    struct elockhold *held;    /* holds of locks (either mode) by any owner of this session */
    size_t nheld;              /* length of that list */
    struct ewaiter *pending;   /* pending requests, newest first */
    struct esemhold *sem_held; /* semaphore permits held by any owner of this session */
    size_t npending;
    char client[]; /* client name, NUL-terminated */
};

struct engine {
    struct engine_clock clock;
    engine_reply_fn reply;
    struct engine_limits limits;
    struct table *locks;
    struct table *conds;
    struct table *pending;
    struct table *sems;        /* semaphores in existence (sem.c) */
    struct esession *sessions; /* open sessions */
    /* Ended sessions still holding locks or with pending requests, oldest first: the reaper
     * takes them apart ENGINE_REAP_BUDGET items per clock turn (engine_session_close). */
    struct esession *closing_head, *closing_tail;
    void *reap_timer;
    bool reap_armed;
    uint64_t next_serial;
    bool shutting_down;
    bool silent; /* engine_free: deliver no more replies */
    /* fencing-token clock (engine_next_token) */
    uint64_t token_rt0;   /* realtime us at creation */
    uint64_t token_mono0; /* monotonic us at creation */
    uint64_t last_token;
    struct engine_stats st; /* maintained incrementally; table_bytes holds only entry bytes */
    /* events (event.c) */
    struct table *events;
    struct eqentry *events_all; /* every event entry, for engine_free() */
    /* barriers (barrier.c) */
    struct table *barriers;
    struct eqentry *barriers_all; /* every barrier entry, for engine_free() */
    /* restore.c: the lock entry last restored, so that its holds and queue, which follow at
     * once, do not look it up again (cleared by engine_restore_check()) */
    struct elock *restore_lock;
    /* restore.c: the lock entries engine_restore_object() made, which engine_restore_check()
     * checks (those of engine_restore_held_locks() are valid as made); restore_check_all when
     * that list could not grow (every lock is checked then) */
    struct elock **restore_checks;
    size_t nrestore_checks, restore_checks_cap;
    bool restore_check_all;
};

/* ------------------------------------------------------------------ engine.c */

/* Sends a late reply for w (which the caller then frees), unless its session is closing or the
 * engine is being freed. */
void engine_deliver(struct engine *e, const struct ewaiter *w, enum engine_status status,
                    uint64_t token);

/* Parses a request timeout. Returns false for a bad one (negative, NaN, infinite); else sets
 * *forever, or *seconds (finite, >= 0). */
bool engine_parse_timeout(const double *timeout, bool *forever, double *seconds);

/*
 * The checks every request that may wait shares, after its names: a valid timeout (sets
 * *forever or *seconds, see engine_parse_timeout()) and a req_id not pending already. Returns
 * ENGINE_OK, or BAD_REQUEST with *message set.
 */
enum engine_status engine_check_wait_args(struct esession *s, uint64_t req_id,
                                          const double *timeout, bool *forever, double *seconds,
                                          const char **message);

/* Does s already have a pending request req_id? */
bool engine_pending_exists(struct esession *s, uint64_t req_id);

/* A new waiter for s, registered in s's pending list and the pending table, in no queue yet.
 * When timed, its timer is created (not armed) to call fire(w). NULL on OOM (nothing
 * registered). */
struct ewaiter *engine_waiter_new(struct esession *s, uint64_t req_id, uint64_t owner,
                                  enum ewaiter_kind kind, bool timed, void (*fire)(void *w));

/* Arms w's timer for seconds from now (0 fires on the next turn of the clock, not in this
 * call). w must have a timer. */
void engine_waiter_arm(struct ewaiter *w, double seconds);

/* Frees w's timer, if any: its timeout can no longer pass (a wait moving to its lock's queue).
 * Safe from within that timer's own fire callback. */
void engine_waiter_disarm(struct ewaiter *w);

/* Unregisters w from its session and the pending table and frees it (and its timer). w must be
 * in no queue and hold no condition reference. */
void engine_waiter_free(struct ewaiter *w);

/* The op a late reply of a waiter of this kind answers. */
enum engine_op engine_waiter_op(uint8_t kind);

/* The FIFO queues of locks and conditions are both threaded through a waiter's q_prev/q_next;
 * these keep the linking in one place. */
static inline void ewq_append(struct ewaiter **head, struct ewaiter **tail, struct ewaiter *w)
{
    w->q_next = NULL;
    w->q_prev = *tail;
    if (*tail != NULL)
        (*tail)->q_next = w;
    else
        *head = w;
    *tail = w;
}

static inline void ewq_unlink(struct ewaiter **head, struct ewaiter **tail, struct ewaiter *w)
{
    if (w->q_prev != NULL)
        w->q_prev->q_next = w->q_next;
    else
        *head = w->q_next;
    if (w->q_next != NULL)
        w->q_next->q_prev = w->q_prev;
    else
        *tail = w->q_prev;
    w->q_prev = w->q_next = NULL;
}

/* Sets *message (when message is not NULL) and returns status: the error exit of every
 * operation. */
static inline enum engine_status engine_fail(const char **message, enum engine_status status,
                                             const char *text)
{
    if (message != NULL)
        *message = text;
    return status;
}

/* The injected clock's monotonic seconds, for request latencies. */
double engine_now(const struct engine *e);

/* Accounts bytes of entries and waiters in the stats (negative when freed). */
void engine_account(struct engine *e, long delta);

/* ------------------------------------------------------------------ lock.c */

/* The entry of lock name[0..len) with hash, or NULL if the lock is free. */
struct elock *elock_find(struct engine *e, const uint8_t *name, size_t len, uint64_t hash);

/* A new entry for the free lock name (no entry exists), held by nobody yet, or NULL on OOM.
 * The caller must make it held before returning from the engine. */
struct elock *elock_create(struct engine *e, const uint8_t *name, size_t len, uint64_t hash);

/*
 * The same for a bulk restore (the live restart's hundred thousand held locks): the entry is
 * carved from a slab, one 2 MiB block asked to be a transparent huge page, so that making the
 * entries costs no allocation and a page fault per 2 MiB rather than per 4 KiB, and walking
 * them later (the next save) few TLB misses. A slab is freed when the last entry made in it is;
 * *slab is the one being filled (NULL at first): pass it back for the next entry, and give it up
 * with elock_slab_done() at the end of the bulk.
 */
struct elock_slab;
struct elock *elock_create_bulk(struct engine *e, struct elock_slab **slab, const uint8_t *name,
                                size_t len, uint64_t hash);
void elock_slab_done(struct elock_slab *slab);

/* Frees entry l's memory (a slab's share, or its own allocation). */
void elock_free_entry(struct elock *l);

/* Appends w to l's queue (w->state = EW_IN_LOCKQ). */
void elock_enqueue(struct elock *l, struct ewaiter *w);

/* Removes w from its lock's queue. Does not free the lock. */
void elock_dequeue(struct ewaiter *w);

/* Is l held, in either mode? */
static inline bool elock_held(const struct elock *l)
{
    return l->x.s != NULL || l->sh_head != NULL;
}

/* Grants l to waiter w (which must not be in a queue), exclusively or (a shared acquire) shared:
 * l must be free, or held shared for a shared w. Sets the holder and a new token, answers w (OK
 * for an acquire, w->final_status for a wait) and frees w. */
void elock_grant(struct elock *l, struct ewaiter *w);

/* Grants l to its queue's head, and to every shared request behind a shared head, as far as the
 * holders allow; frees l when it is neither held nor waited for. Called after anything that
 * may unblock the head: a release, and a waiter leaving the queue (cancel, timeout, session end;
 * a reader queued behind a writer that leaves goes in with the readers holding the lock). */
void elock_grant_ready(struct engine *e, struct elock *l);

/* Answers pending acquire w with status (nothing reaches a closing session), takes it out of
 * its lock's queue and frees it (with its holder record). hand_on: then elock_grant_ready() (a
 * cancel, a timeout, a session end; not a shutdown, which answers every request). */
void elock_drop_acquire(struct ewaiter *w, enum engine_status status, bool hand_on);

/* Releases hold h (of any mode) and hands the lock on (elock_grant_ready()). */
void elock_release_hold(struct elockhold *h);

/* Releases l held exclusively and hands it on. */
void elock_release(struct elock *l);

/* The oldest shared hold of (s, owner) on l, or NULL (an owner holds twice only when two of its
 * queued shared acquires were granted together). Scans the shorter of l's holders and s's
 * holds. */
struct elockhold *elock_shared_hold(const struct elock *l, const struct esession *s,
                                    uint64_t owner);

/* A timed acquire's timer callback (arg: the waiter): leave the queue and answer TIMEOUT. */
void elock_acquire_timer_cb(void *arg);

/* Restore (restore.c): gives (s, owner) a hold of l with token, exclusively (l must be free) or
 * shared (l free or held shared). BAD_REQUEST with *why for a second holder of an exclusive
 * lock or (s, owner) holding l already; INTERNAL on OOM. */
enum engine_status elock_restore_hold(struct elock *l, struct esession *s, bool shared,
                                      uint64_t owner, uint64_t token, const char **why);

/* Restore: appends acquire w (a new waiter, in no queue) to l's queue, shared with its own
 * holder record (false on OOM, nothing changed). */
bool elock_restore_acquire(struct elock *l, struct ewaiter *w, bool shared);

/* Restore: is l's state one the engine can reach (held; a shared head only behind an exclusive
 * holder)? */
bool elock_restore_valid(const struct elock *l, const char **why);

/* ------------------------------------------------------------------ cond.c */

/* The timer callback of a timed wait in its condition's queue (arg: the waiter). */
void econd_wait_timer_cb(void *arg);

/* The entry of condition name, or NULL. */
struct econd *econd_lookup(struct engine *e, const uint8_t *name, size_t len);

/* Restore: a new condition entry bound to lock, without waits (refs 0), or NULL on OOM. */
struct econd *econd_restore(struct engine *e, const uint8_t *name, size_t len, const uint8_t *lock,
                            size_t lock_len);

/* Restore: wait w (a new waiter) joins c: at the tail of c's queue, or (reacquiring) in lock
 * l's queue with final status. Takes a reference of c either way. */
void econd_restore_wait(struct econd *c, struct ewaiter *w, struct elock *l, uint8_t final_status);

/* Is c bound to lock[0..lock_len)? */
bool econd_bound_to(const struct econd *c, const uint8_t *lock, size_t lock_len);

/* Wakes c's longest waiter, if any, as notify(1) does; the lock c is bound to must be held. */
void econd_wake_head(struct econd *c);

/* Drops one reference of c (a wait of e that was answered or dropped); frees c at zero. */
void econd_unref(struct engine *e, struct econd *c);

/* Cancels pending wait w: OK, NOT_FOUND (already bound to TIMEOUT or CANCELLED), or INTERNAL. */
enum engine_status econd_cancel_wait(struct ewaiter *w, const char **message);

/* Drops pending wait w of a closing session, passing on a notification it had received, and
 * frees it. No reply. */
void econd_drop_wait(struct ewaiter *w);

/* Removes pending wait w from every queue for shutdown, answers SHUTTING_DOWN and frees it. */
void econd_shutdown_wait(struct ewaiter *w);

/* ------------------------------------------------------------------ qentry.c */

/* An event or a barrier (kind EW_EVENT or EW_BARRIER, the kind of its waiters): not owned, in
 * e->events or e->barriers and in e->events_all or e->barriers_all, counted in the kind's
 * stats. It exists while it is sticky (an event set, a barrier broken) or has waiters. The
 * name follows inline. */
struct eqentry {
    struct table_node node;
    struct eqentry *a_prev, *a_next; /* the kind's list of every entry */
    struct ewaiter *q_head, *q_tail; /* pending waits, oldest first */
    uint64_t nwaiters;
    uint32_t parties; /* barriers: the parties (1..2^31); 0 for events */
    bool sticky;      /* events: set; barriers: broken */
    uint16_t name_len;
    uint8_t name[];
};

/* The key-equality function of e->events and e->barriers, for engine_new(). */
bool eqentry_key_eq(const struct table_node *node, const void *key, size_t len);

/* The entry of name[0..len) of kind, or NULL. */
struct eqentry *eqentry_find(struct engine *e, enum ewaiter_kind kind, const uint8_t *name,
                             size_t len);

/* A new entry (not sticky, no waiters) of kind for name, which has none, or NULL on OOM. The
 * caller makes it sticky or gives it a waiter before leaving the engine, or destroys it. */
struct eqentry *eqentry_create(struct engine *e, enum ewaiter_kind kind, const uint8_t *name,
                               size_t len);

/* Frees q, which must have no waiters. */
void eqentry_destroy(struct engine *e, enum ewaiter_kind kind, struct eqentry *q);

/* Sets or clears q's sticky flag, keeping the kind's count of sticky entries. */
void eqentry_set_sticky(struct engine *e, enum ewaiter_kind kind, struct eqentry *q, bool sticky);

/* Frees q when it no longer needs an entry: not sticky and unwaited. */
void eqentry_trim(struct engine *e, enum ewaiter_kind kind, struct eqentry *q);

/* Frees every entry of kind (engine_free(), after every session is gone). */
void eqentry_free_all(struct engine *e, enum ewaiter_kind kind);

/* Appends w (of q's kind) to q's queue. */
void eqentry_enqueue(struct eqentry *q, struct ewaiter *w);

/* Takes w out of its entry's queue; returns the entry (not freed, maybe unneeded now). */
struct eqentry *eqentry_dequeue(struct ewaiter *w);

/* Takes w out of its queue, answers it (status, value: see engine_deliver()) and frees it. The
 * entry stays, even when unneeded: the caller goes on with it. */
void eqentry_answer(struct ewaiter *w, enum engine_status status, uint64_t value);

/* Takes w out of its queue, answers it with status when reply (not for a dropped wait), frees
 * it and trims its entry. */
void eqentry_finish(struct ewaiter *w, enum engine_status status, bool reply);

/* The timer callback of a timed wait in an entry's queue (arg: the waiter): TIMEOUT. */
void eqentry_timer_cb(void *arg);

/* Calls visit for every entry of kind whose name starts with prefix, at most limit. Returns true
 * if more matched than were visited. visit must not call the engine. */
bool eqentry_list(const struct engine *e, enum ewaiter_kind kind, const uint8_t *prefix,
                  size_t prefix_len, size_t limit,
                  void (*visit)(void *arg, const struct eqentry *q), void *arg);

/* ------------------------------------------------------------------ event.c */

/* The key-equality function of e->events, for engine_new(). */
bool eevent_key_eq(const struct table_node *node, const void *key, size_t len);

/* Frees every event entry (engine_free(), after every session is gone). */
void eevent_free_all(struct engine *e);

/* EventWait w leaves its event (freed if clear and unwaited then) and is freed: cancelled
 * (answered CANCELLED), dropped with its session (no reply), or shut down (SHUTTING_DOWN). */
void eevent_cancel_wait(struct ewaiter *w);
void eevent_drop_wait(struct ewaiter *w);
void eevent_shutdown_wait(struct ewaiter *w);

/* ------------------------------------------------------------------ barrier.c */

/* The key-equality function of e->barriers, for engine_new(). */
bool ebarrier_key_eq(const struct table_node *node, const void *key, size_t len);

/* Frees every barrier entry (engine_free(), after every session is gone). */
void ebarrier_free_all(struct engine *e);

/* BarrierWait w leaves its barrier (freed if unbroken and unwaited then), without breaking it,
 * and is freed: cancelled (answered CANCELLED), dropped with its session (no reply), or shut
 * down (SHUTTING_DOWN). */
void ebarrier_cancel_wait(struct ewaiter *w);
void ebarrier_drop_wait(struct ewaiter *w);
void ebarrier_shutdown_wait(struct ewaiter *w);

/* ------------------------------------------------------------------ sem.c */

/* Key equality of the semaphore table. */
bool esem_key_eq(const struct table_node *node, const void *key, size_t len);

/* Removes pending SemAcquire w from its queue and frees it (and the semaphore, if it no longer
 * exists). No reply: the caller answers first when one is due. */
void esem_drop_waiter(struct ewaiter *w);

/* Returns one permit held by s (a closing session) and hands it on; the reaper's step. */
void esem_release_one(struct esession *s);

/* Frees every semaphore entry (engine_free, once no session is left). */
void esem_free_all(struct engine *e);

/* engine_export() and the engine_restore_*() functions for semaphores (see engine.h). */
bool esem_export(const struct engine *e, const struct engine_export_fns *fns, void *arg);
enum engine_status esem_restore(struct engine *e, const struct engine_obj *o, const char **why);
enum engine_status esem_restore_hold(struct esession *s, const struct engine_obj *o,
                                     const struct engine_obj_hold *h, const char **why);
enum engine_status esem_restore_pending(struct esession *s, const struct engine_obj *o,
                                        const struct engine_obj_pending *p, const char **why);
enum engine_status esem_restore_check(struct engine *e, const char **why);

/* ------------------------------------------------------------------ restore.c */

/* What engine_export() shows of pending request w (borrowed pointers into w). */
void engine_export_pending(const struct engine *e, const struct ewaiter *w,
                           struct engine_obj_pending *p);

/* The checks every restored request shares (request id not pending, finite times); then a new
 * waiter (see engine_waiter_new()) with its start time set back by p->elapsed_s. The caller
 * queues it and then calls engine_restore_arm(). NULL with *why set on refusal or OOM
 * (*status says which). */
struct ewaiter *engine_restore_waiter(struct esession *s, const struct engine_obj_pending *p,
                                      enum ewaiter_kind kind, void (*fire)(void *w),
                                      enum engine_status *status, const char **why);

/* Arms w's timer for its remaining time, when p is timed. */
void engine_restore_arm(struct ewaiter *w, const struct engine_obj_pending *p);

#endif
