/* SPDX-License-Identifier: BSD-2-Clause
 *
 * A fixture for the engine suites (check_lock, check_cond, check_engine_random): an engine on a
 * fake clock (fake_clock.h) that only fx_advance() moves, and up to FX_SESSIONS sessions whose
 * late replies the reply callback records in per-session arrays. Wrappers call the engine with
 * C-string names and check two contract rules on every call: the callback is never invoked for
 * a closed session, and never for the request whose own call is still running (its return
 * answers it). Nothing here sleeps or reads a real clock: a timeout passes exactly when the
 * test advances the clock to its deadline.
 */
#ifndef CONDD_TESTS_ENGINE_FIXTURE_H
#define CONDD_TESTS_ENGINE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "fake_clock.h"

#define FX_SESSIONS 16
#define FX_REPLIES 8192

/* Short status names for assertions. */
#define S_OK ENGINE_OK
#define S_TIMEOUT ENGINE_TIMEOUT
#define S_CANCELLED ENGINE_CANCELLED
#define S_NOT_OWNER ENGINE_NOT_OWNER
#define S_ALREADY_OWNER ENGINE_ALREADY_OWNER
#define S_LOCK_MISMATCH ENGINE_LOCK_MISMATCH
#define S_BAD_REQUEST ENGINE_BAD_REQUEST
#define S_LIMIT_EXCEEDED ENGINE_LIMIT_EXCEEDED
#define S_SHUTTING_DOWN ENGINE_SHUTTING_DOWN
#define S_NOT_FOUND ENGINE_NOT_FOUND
#define S_PENDING ENGINE_PENDING
#define S_VALUE_MISMATCH ENGINE_VALUE_MISMATCH
#define S_BROKEN ENGINE_BROKEN

/* Assertions for hot loops: Check's ck_assert_* records every passing assertion (one write
 * each), which dominates a randomized run of many thousand steps; these only report failures. */
#define FX_REQUIRE(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg("%s:%d: assertion '%s' failed", __FILE__, __LINE__, #cond);               \
    } while (0)
#define FX_EQ(a, b)                                                                                \
    do {                                                                                           \
        long long fx_a_ = (long long)(a), fx_b_ = (long long)(b);                                  \
        if (fx_a_ != fx_b_)                                                                        \
            ck_abort_msg("%s:%d: '%s == %s' failed: %lld != %lld", __FILE__, __LINE__, #a, #b,     \
                         fx_a_, fx_b_);                                                            \
    } while (0)

struct fx_reply {
    enum engine_op op;
    uint64_t req_id;
    int status;
    uint64_t token;
    uint32_t index; /* barrier waits: the arrival index */
};

struct fx_session {
    struct fx *f;
    struct esession *s; /* NULL when closed */
    uint64_t id;
    struct fx_reply replies[FX_REPLIES];
    size_t n;    /* replies recorded */
    size_t seen; /* replies consumed by fx_next() */
};

struct fx {
    struct fake_clock clock;
    struct engine_clock eclock; /* the engine's view of clock */
    struct engine *e;
    struct fx_session ss[FX_SESSIONS];
    /* the request whose call is running (it must not be answered through the callback) */
    struct fx_session *cur_s;
    uint64_t cur_req;
    bool cur_active;
    int violations; /* contract breaches seen by the callback */
    /* optional hook run for every reply after recording it (the randomized test's model) */
    void (*hook)(void *arg, struct fx_session *fs, const struct fx_reply *r);
    void *hook_arg;
};

/* Creates the clock (at time 0) and the engine (limits may be NULL). Aborts the test on
 * failure. */
void fx_init(struct fx *f, const struct engine_limits *limits);

/* Closes the open sessions and frees the engine; asserts that no contract was breached and that
 * the engine left no timer behind. */
void fx_fini(struct fx *f);

/* Opens session slot i (id i + 1). Returns it. */
struct fx_session *fx_open(struct fx *f, int i);

/* Closes session slot i (no-op if closed). */
void fx_close(struct fx *f, int i);

/* Wrappers: names are C strings; a timeout of exactly FX_FOREVER means "absent" (forever). */
#define FX_FOREVER (-1e308)
int fx_acquire(struct fx *f, int i, uint64_t req, const char *lock, uint64_t owner, double timeout,
               uint64_t *token);
/* fx_acquire in shared mode (engine_acquire_mode()). */
int fx_acquire_shared(struct fx *f, int i, uint64_t req, const char *lock, uint64_t owner,
                      double timeout, uint64_t *token);
int fx_release(struct fx *f, int i, const char *lock, uint64_t owner);
int fx_wait(struct fx *f, int i, uint64_t req, const char *cond, const char *lock, uint64_t owner,
            double timeout);
/* fx_wait with Wait.notify_first: wake up to notify_first waiters of cond, then wait. */
int fx_notify_wait(struct fx *f, int i, uint64_t req, const char *cond, const char *lock,
                   uint64_t owner, uint64_t notify_first, double timeout);
int fx_notify(struct fx *f, int i, const char *cond, const char *lock, uint64_t owner, uint64_t n,
              uint64_t *woken);
int fx_cancel(struct fx *f, int i, uint64_t target);
bool fx_locked(struct fx *f, const char *lock);

/* The next unconsumed reply of session i, or NULL. */
const struct fx_reply *fx_next(struct fx *f, int i);

/* Number of unconsumed replies of session i. */
size_t fx_unseen(struct fx *f, int i);

/* Advances the fake clock by seconds, firing the timers that fall due in deadline order (see
 * fake_clock_advance()). */
void fx_advance(struct fx *f, double seconds);

/* The fake clock's time, seconds since fx_init(). */
double fx_now(const struct fx *f);

/* Timers the engine holds (each armed: a timed request whose timeout can still pass). */
size_t fx_timers(const struct fx *f);

/* Holder of lock as List reports it: true if held, with session id and owner. */
bool fx_holder(struct fx *f, const char *lock, uint64_t *session_id, uint64_t *owner,
               uint64_t *token, uint64_t *waiters);

/* Stats shortcut. */
struct engine_stats fx_stats(struct fx *f);

/*
 * The live restart's engine half: finishes reaping, exports the engine, restores everything
 * into a new engine on the same clock (engine_restore_*()), checks that every count in the
 * stats is the same, and frees the old engine silently. Open sessions keep their slots (same
 * ids, same ctx); their pending requests keep their remaining timeouts. Aborts the test when
 * the restore is refused.
 */
void fx_save_load(struct fx *f);

#endif
