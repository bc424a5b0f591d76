/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The soak's worker process: one connection to condd through libcondd's blocking API, the lock
 * "soak" taken in a loop, and in each section its role's work (consumer, producer, relay,
 * plain; see tests/soak.c for what they check together). Every check a worker makes itself
 * (two holders, tokens in order, fenced writes, a lost connection explained by a restart) ends
 * it with a "soak: FAIL" line and exit status 1, which the driver reports.
 */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "soak.h"

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

__attribute__((noreturn)) void worker_main(int index, uint64_t inc, uint16_t port, pid_t driver)
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
