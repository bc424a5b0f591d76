/* SPDX-License-Identifier: BSD-2-Clause
 *
 * A fixture for the engine suites (check_lock, check_cond, check_engine_random): a real
 * event_base, an engine on it, and up to FX_SESSIONS sessions whose late replies the reply
 * callback records in per-session arrays. Wrappers call the engine with C-string names and
 * check two contract rules on every call: the callback is never invoked for a closed session,
 * and never for the request whose own call is still running (its return answers it).
 */
#ifndef CONDD_TESTS_ENGINE_FIXTURE_H
#define CONDD_TESTS_ENGINE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#define FX_SESSIONS 16
#define FX_REPLIES 8192

/* Short status names for assertions. */
#define S_OK CONDD__V1__STATUS__STATUS_OK
#define S_TIMEOUT CONDD__V1__STATUS__STATUS_TIMEOUT
#define S_CANCELLED CONDD__V1__STATUS__STATUS_CANCELLED
#define S_NOT_OWNER CONDD__V1__STATUS__STATUS_NOT_OWNER
#define S_ALREADY_OWNER CONDD__V1__STATUS__STATUS_ALREADY_OWNER
#define S_LOCK_MISMATCH CONDD__V1__STATUS__STATUS_LOCK_MISMATCH
#define S_BAD_REQUEST CONDD__V1__STATUS__STATUS_BAD_REQUEST
#define S_LIMIT_EXCEEDED CONDD__V1__STATUS__STATUS_LIMIT_EXCEEDED
#define S_SHUTTING_DOWN CONDD__V1__STATUS__STATUS_SHUTTING_DOWN
#define S_NOT_FOUND CONDD__V1__STATUS__STATUS_NOT_FOUND
#define S_PENDING ENGINE_PENDING

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
    struct event_base *base;
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

/* Creates the base and the engine (limits may be NULL). Aborts the test on failure. */
void fx_init(struct fx *f, const struct engine_limits *limits);

/* Closes the open sessions, frees the engine and the base. */
void fx_fini(struct fx *f);

/* Opens session slot i (id i + 1). Returns it. */
struct fx_session *fx_open(struct fx *f, int i);

/* Closes session slot i (no-op if closed). */
void fx_close(struct fx *f, int i);

/* Wrappers: names are C strings; a timeout of exactly FX_FOREVER means "absent" (forever). */
#define FX_FOREVER (-1e308)
int fx_acquire(struct fx *f, int i, uint64_t req, const char *lock, uint64_t owner, double timeout,
               uint64_t *token);
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

/* Runs the event loop until session i has at least count unconsumed replies, or timeout_s
 * passes. Returns whether the replies arrived. */
bool fx_run_until(struct fx *f, int i, size_t count, double timeout_s);

/* Runs the loop for at least the given time (to let timers that must not change anything
 * fire; assertions never rest on this). */
void fx_run_for(struct fx *f, double seconds);

/* Holder of lock as List reports it: true if held, with session id and owner. */
bool fx_holder(struct fx *f, const char *lock, uint64_t *session_id, uint64_t *owner,
               uint64_t *token, uint64_t *waiters);

/* Stats shortcut. */
struct engine_stats fx_stats(struct fx *f);

/* Monotonic seconds. */
double fx_now(void);

#endif
