/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Internal header of the randomized engine test (tests/check_engine_random.c and the
 * tests/engine_random_*.c files it is split into): the sizes of the simulated world, the
 * reference model's structs and its one global state (rm_model, reset by each seed), the
 * engine fixture the run drives (rm_fx), the names of the objects, and the functions the
 * parts call across files. Not a public interface: only these test files include it.
 */
#ifndef CONDD_TESTS_ENGINE_RANDOM_H
#define CONDD_TESTS_ENGINE_RANDOM_H

#include <stdbool.h>
#include <stdint.h>

#include "engine_fixture.h"

#define NS 8 /* sessions */
#define NO 2 /* owner handles per session */
#define NL 3 /* locks */
#define NC 2 /* conditions */
#define PEND_LIMIT 6
#define MAXREQ 256
#define QMAX 128
#define MAXREP 512
#define DEFAULT_STEPS 20000

/* ------------------------------------------------------- model state */

enum { K_ACQ, K_WAIT, K_SEM, K_EVW, K_BAR }; /* acquire, wait, SemAcquire, EventWait, BarrierWait */
enum { IN_LOCKQ, IN_CONDQ };

struct mreq {
    bool live;
    int slot;
    uint64_t req;
    uint64_t owner;
    int kind;
    int lock; /* acquire: its lock; wait: the condition's lock */
    int cond;
    int obj; /* K_SEM / K_EVW / K_BAR: the semaphore, event or barrier */
    int where;
    int final;
    bool timed;
    bool shared;     /* K_ACQ: a shared acquire */
    double deadline; /* timed: the fake clock's time at which its timeout passes */
    uint64_t seq;    /* creation order (the engine drops a closing session's newest first, and
                      * arms timers in this order) */
};

/* One shared hold, in its lock's grant order. */
struct mshared {
    int slot;
    uint64_t owner;
    uint64_t req; /* the request it was granted to (to find it when its reply comes) */
    uint64_t token;
    uint64_t seq; /* grant order, as hseq */
};

#define SHMAX (NS * NO * 4)

struct mlock {
    int hslot; /* -1: not held exclusively */
    uint64_t howner;
    uint64_t token;
    uint64_t hseq; /* grant order (the engine releases a closing session's newest first) */
    struct mshared sh[SHMAX]; /* shared holders, oldest first; nsh > 0 only when hslot < 0 */
    int nsh;
    int q[QMAX];
    int qn;
};

struct mcond {
    int q[QMAX];
    int qn;
    int refs;
    int bound; /* -1 while refs == 0 */
};

#define NSEM 3
#define NEV 2
#define NBAR 2

/* A semaphore: exists while held, waited for, or counter != value (then value/kind are fixed). */
struct msem {
    uint64_t value;
    bool bounded;
    uint64_t counter;
    uint64_t posts; /* posted permits since it came into existence */
    uint64_t held[NS][NO + 1];
    uint64_t tok[NS][NO + 1]; /* token of the latest grant */
    int q[QMAX];
    int qn;
};

struct mev {
    bool set;
    int q[QMAX];
    int qn;
};

/* A barrier: exists while it has waiters or is broken. */
struct mbar {
    uint64_t parties;
    bool broken;
    int q[QMAX];
    int qn;
};

struct msess {
    bool open;
    uint64_t next_req;
    int npending;
};

struct rep {
    int slot;
    uint64_t req;
    int op;
    int status;
    uint64_t token;
    int lock; /* expected grants: the lock granted, else -1 */
    int sem;  /* expected semaphore grants: the semaphore, else -1 */
    uint64_t owner;
    int index;   /* expected barrier index (OK BarrierWait), else -1 (index must be 0) */
    bool shared; /* an expected shared grant of lock */
};

struct rm_state {
    struct mreq r[MAXREQ];
    struct mlock l[NL];
    struct mcond c[NC];
    struct msess s[NS];
    struct msem sm[NSEM];
    struct mev ev[NEV];
    struct mbar b[NBAR];
    uint64_t seq;
    uint64_t last_token;
    struct rep exp[MAXREP];
    int nexp;
    struct rep act[MAXREP];
    int nact;
    uint64_t rng;
    /* notification bookkeeping: woken == ok_replies + lost + shut + in flight */
    uint64_t woken, ok_replies, lost, shut;
    uint64_t stat_steps[20];
    uint64_t save_loads; /* rm_op_save_load() runs */
    uint64_t sem_grants, sem_posts, sem_refused, ev_woken, bar_fills, bar_broken;
    uint64_t waits_pending, acq_pending, cancels_ok, timeouts;
    uint64_t shared_grants, shared_batches, max_shared, shared_refused_cond;
};

/* The model of the run in progress; run_seed() zeroes it for every seed. */
extern struct rm_state rm_model;
/* The engine under test and its fake clock; run_seed() sets it up and tears it down. */
extern struct fx rm_fx;

extern const char *rm_lock_names[NL];
extern const char *rm_cond_names[NC];
extern const char *rm_sem_names[NSEM];
extern const uint64_t rm_sem_value[NSEM];
extern const bool rm_sem_bounded[NSEM];
extern const char *rm_ev_names[NEV];
extern const char *rm_bar_names[NBAR];
extern const uint64_t rm_bar_parties[NBAR];

/* ------------------------------------------------------- model: engine_random_model.c */

uint64_t rm_rnd(void);
int rm_rn(int n);
void rm_on_reply_hook(void *arg, struct fx_session *fs, const struct fx_reply *r);
int rm_find_req(int slot, uint64_t req);
int rm_new_req(int slot, uint64_t req, uint64_t owner, int kind, int lock, int cond, bool timed,
               double timeout);
void rm_free_req(int k);
void rm_q_push(int *q, int *qn, int k);
void rm_q_remove(int *q, int *qn, int k);
void rm_expect(int slot, uint64_t req, int op, int status, int lock);
bool rm_sem_exists(int i);
uint64_t rm_sem_held(int i);
void rm_sem_hand_on(int i);
void rm_unqueue(int k);
int rm_kind_op(int kind);
bool rm_free(int l);
void rm_add_shared(int l, int slot, uint64_t owner, uint64_t req, uint64_t token);
bool rm_is_shared_req(int k);
void rm_hand_on(int l);
void rm_release(int l);
int rm_shared_idx(int l, int slot, uint64_t owner);
void rm_release_shared(int l, int i);
void rm_to_lock(int k, int status);
void rm_pass_on(int k);
bool rm_holds(int slot, uint64_t owner, int l);
bool rm_holds_any(int slot, uint64_t owner, int l);
bool rm_timer_armed(int k);

/* ------------------------------------------------------- comparing: engine_random_check.c */

void rm_match_replies(void);
void rm_check_state(void);

/* ------------------------------------------------------- operations: engine_random_ops.c */

void rm_op_acquire(void);
void rm_op_release(void);
void rm_op_wait(void);
void rm_op_notify(void);
void rm_op_cancel(void);
void rm_close(int slot);
void rm_op_close_reopen(void);
void rm_op_advance(void);
void rm_op_sem_acquire(void);
void rm_op_sem_release(void);
void rm_op_ev_set(void);
void rm_op_ev_clear(void);
void rm_op_ev_wait(void);
void rm_op_bar_wait(void);
void rm_op_bar_reset_abort(void);
void rm_op_locked(void);
bool rm_op_save_load(void);

#endif
