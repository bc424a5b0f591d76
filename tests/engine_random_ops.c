/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The random operations of the randomized engine test: each op_* picks its arguments from the
 * seeded random source, calls the engine, and updates the model with what the engine must do
 * (statuses, replies, grants, timeouts), for locks and conditions as well as semaphores,
 * events and barriers.
 */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_random.h"

/* ------------------------------------------------------------------ operations */

static double pick_timeout(bool allow_try, bool *timed, bool *try_once)
{
    int r = rm_rn(100);
    *timed = false;
    *try_once = false;
    if (r < 55)
        return FX_FOREVER;
    if (allow_try && r < 75) {
        *try_once = true;
        return 0;
    }
    *timed = true;
    if (!allow_try && r < 60)
        return 0; /* a wait with timeout 0 times out on the clock's next advance */
    return (double)(1 + rm_rn(15)) / 10000.0; /* 0.1 .. 1.5 ms of the fake clock */
}

/* A request id for slot: usually fresh, sometimes one still pending (BAD_REQUEST). */
static uint64_t pick_req(int slot, bool *dup)
{
    *dup = false;
    if (rm_rn(100) < 4) {
        for (int k = 0; k < MAXREQ; k++) {
            if (rm_model.r[k].live && rm_model.r[k].slot == slot) {
                *dup = true;
                return rm_model.r[k].req;
            }
        }
    }
    return ++rm_model.s[slot].next_req;
}

/* (slot, owner) of the holder of lock (random if < 0) most of the time, else anyone. */
static void pick_actor(int *slot, uint64_t *owner, int *lock)
{
    if (*lock < 0)
        *lock = rm_rn(NL);
    const struct mlock *ml = &rm_model.l[*lock];
    if (ml->hslot >= 0 && rm_rn(100) < 80) {
        *slot = ml->hslot;
        *owner = ml->howner;
    } else if (ml->nsh > 0 && rm_rn(100) < 80) {
        int i = rm_rn(ml->nsh);
        *slot = ml->sh[i].slot;
        *owner = ml->sh[i].owner;
    } else {
        *slot = rm_rn(NS);
        *owner = (uint64_t)(1 + rm_rn(NO));
    }
}

/* The lock a wait or notify on c names: its bound lock (or L0) mostly, sometimes any. */
static int usual_lock(int c)
{
    if (rm_rn(100) < 10)
        return rm_rn(NL);
    return rm_model.c[c].refs > 0 ? rm_model.c[c].bound : 0;
}

void rm_op_acquire(void)
{
    int slot = rm_rn(NS), l = rm_rn(NL);
    uint64_t owner = (uint64_t)(1 + rm_rn(NO));
    bool dup, timed, try_once;
    uint64_t req = pick_req(slot, &dup);
    double t = pick_timeout(true, &timed, &try_once);
    bool shared = rm_rn(100) < 35;
    /* shared: free, or held shared with nobody queued (no barging past a queued writer) */
    bool at_once = shared ? rm_model.l[l].hslot < 0 && rm_model.l[l].qn == 0 : rm_free(l);
    int want;
    if (dup)
        want = S_BAD_REQUEST;
    else if (rm_holds_any(slot, owner, l))
        want = S_ALREADY_OWNER;
    else if (at_once)
        want = S_OK;
    else if (try_once)
        want = S_TIMEOUT;
    else if (rm_model.s[slot].npending >= PEND_LIMIT)
        want = S_LIMIT_EXCEEDED;
    else
        want = S_PENDING;
    uint64_t token = 0;
    int got = shared ? fx_acquire_shared(&rm_fx, slot, req, rm_lock_names[l], owner, t, &token)
                     : fx_acquire(&rm_fx, slot, req, rm_lock_names[l], owner, t, &token);
    FX_EQ(got, want);
    if (want == S_OK && shared) {
        FX_REQUIRE(token > rm_model.last_token);
        rm_model.last_token = token;
        rm_add_shared(l, slot, owner, req, token);
    } else if (want == S_OK) {
        FX_REQUIRE(token > rm_model.last_token);
        rm_model.last_token = token;
        rm_model.l[l].hslot = slot;
        rm_model.l[l].howner = owner;
        rm_model.l[l].hseq = ++rm_model.seq;
        rm_model.l[l].token = token;
    } else if (want == S_PENDING) {
        rm_model.acq_pending++;
        int k = rm_new_req(slot, req, owner, K_ACQ, l, -1, timed, t);
        rm_model.r[k].where = IN_LOCKQ;
        rm_model.r[k].shared = shared;
        rm_q_push(rm_model.l[l].q, &rm_model.l[l].qn, k);
    }
}

void rm_op_release(void)
{
    int slot, l = -1;
    uint64_t owner;
    pick_actor(&slot, &owner, &l);
    int si = rm_shared_idx(l, slot, owner);
    int want = rm_holds_any(slot, owner, l) ? S_OK : S_NOT_OWNER;
    if (rm_holds(slot, owner, l))
        rm_release(l);
    else if (si >= 0)
        rm_release_shared(l, si); /* the oldest of its shared holds */
    FX_EQ(fx_release(&rm_fx, slot, rm_lock_names[l], owner), want);
}

void rm_op_wait(void)
{
    /* conditions mostly stay with their lock (C0 and C1 share L0), sometimes not */
    int c = rm_rn(NC);
    int slot, l = usual_lock(c);
    uint64_t owner;
    pick_actor(&slot, &owner, &l);
    bool dup, timed, try_once;
    uint64_t req = pick_req(slot, &dup);
    double t = pick_timeout(false, &timed, &try_once);
    int want;
    if (dup)
        want = S_BAD_REQUEST;
    else if (!rm_holds(slot, owner, l)) /* a shared holder too: conditions need exclusive */
        want = S_NOT_OWNER;
    else if (rm_model.c[c].refs > 0 && rm_model.c[c].bound != l)
        want = S_LOCK_MISMATCH;
    else if (rm_model.s[slot].npending >= PEND_LIMIT)
        want = S_LIMIT_EXCEEDED;
    else
        want = S_PENDING;
    if (want == S_PENDING) {
        rm_model.waits_pending++;
        int k = rm_new_req(slot, req, owner, K_WAIT, l, c, timed, t);
        rm_model.r[k].where = IN_CONDQ;
        rm_model.c[c].refs++;
        rm_model.c[c].bound = l;
        rm_q_push(rm_model.c[c].q, &rm_model.c[c].qn, k);
        rm_release(l);
    }
    FX_EQ(fx_wait(&rm_fx, slot, req, rm_cond_names[c], rm_lock_names[l], owner, t), want);
}

void rm_op_notify(void)
{
    int c = rm_rn(NC);
    int slot, l = usual_lock(c);
    uint64_t owner;
    pick_actor(&slot, &owner, &l);
    static const uint64_t ns[] = {0, 1, 1, 1, 2, 3, UINT64_MAX};
    uint64_t n = ns[rm_rn((int)(sizeof ns / sizeof ns[0]))];
    int want;
    uint64_t want_woken = 0;
    if (!rm_holds(slot, owner, l)) {
        if (rm_shared_idx(l, slot, owner) >= 0)
            rm_model.shared_refused_cond++;
        want = S_NOT_OWNER;
    } else if (rm_model.c[c].refs == 0) {
        want = S_OK;
    } else if (rm_model.c[c].bound != l) {
        want = S_LOCK_MISMATCH;
    } else {
        want = S_OK;
        while (want_woken < n && rm_model.c[c].qn > 0) {
            rm_to_lock(rm_model.c[c].q[0], S_OK);
            want_woken++;
        }
    }
    uint64_t woken = 0;
    FX_EQ(fx_notify(&rm_fx, slot, rm_cond_names[c], rm_lock_names[l], owner, n, &woken), want);
    FX_EQ(woken, want_woken);
    rm_model.woken += woken;
}

void rm_op_cancel(void)
{
    int slot = rm_rn(NS);
    uint64_t target = rm_model.s[slot].next_req > 0 ? 1 + rm_rnd() % rm_model.s[slot].next_req : 1;
    if (rm_rn(100) < 75) {
        for (int k = 0, skip = rm_rn(MAXREQ); k < MAXREQ; k++) {
            int j = (k + skip) % MAXREQ;
            if (rm_model.r[j].live && rm_model.r[j].slot == slot) {
                target = rm_model.r[j].req;
                break;
            }
        }
    }
    int k = rm_find_req(slot, target);
    int want = S_NOT_FOUND;
    if (k >= 0) {
        struct mreq *q = &rm_model.r[k];
        if (q->kind >= K_SEM) {
            want = S_OK;
            rm_unqueue(k);
            rm_expect(slot, target, rm_kind_op(q->kind), S_CANCELLED, -1);
            rm_free_req(k);
        } else if (q->kind == K_ACQ) {
            want = S_OK;
            int l = q->lock;
            rm_q_remove(rm_model.l[l].q, &rm_model.l[l].qn, k);
            rm_expect(slot, target, ENGINE_OP_ACQUIRE, S_CANCELLED, -1);
            rm_free_req(k);
            rm_hand_on(l); /* the readers behind a cancelled writer go in */
        } else if (q->where == IN_CONDQ) {
            want = S_OK;
            rm_to_lock(k, S_CANCELLED);
        } else if (q->final == S_OK) {
            want = S_OK;
            q->final = S_CANCELLED;
            rm_pass_on(k);
        }
    }
    if (want == S_OK)
        rm_model.cancels_ok++;
    FX_EQ(fx_cancel(&rm_fx, slot, target), want);
}

void rm_close(int slot)
{
    for (;;) {
        int newest = -1;
        for (int k = 0; k < MAXREQ; k++)
            if (rm_model.r[k].live && rm_model.r[k].slot == slot &&
                (newest < 0 || rm_model.r[k].seq > rm_model.r[newest].seq))
                newest = k;
        if (newest < 0)
            break;
        struct mreq *q = &rm_model.r[newest];
        if (q->kind >= K_SEM) {
            rm_unqueue(newest);
        } else if (q->kind == K_ACQ) {
            int l = q->lock;
            rm_q_remove(rm_model.l[l].q, &rm_model.l[l].qn, newest);
            rm_free_req(newest);
            rm_hand_on(l);
            continue;
        } else if (q->where == IN_CONDQ) {
            rm_q_remove(rm_model.c[q->cond].q, &rm_model.c[q->cond].qn, newest);
        } else {
            int l = q->lock;
            rm_q_remove(rm_model.l[l].q, &rm_model.l[l].qn, newest);
            if (q->final == S_OK)
                rm_pass_on(newest);
            rm_free_req(newest);
            rm_hand_on(l);
            continue;
        }
        rm_free_req(newest);
    }
    /* then its holds, newest first, in either mode */
    for (;;) {
        int newest = -1, newest_sh = -1;
        uint64_t newest_seq = 0;
        for (int l = 0; l < NL; l++) {
            if (rm_model.l[l].hslot == slot && rm_model.l[l].hseq > newest_seq) {
                newest = l;
                newest_sh = -1;
                newest_seq = rm_model.l[l].hseq;
            }
            for (int i = 0; i < rm_model.l[l].nsh; i++) {
                if (rm_model.l[l].sh[i].slot == slot && rm_model.l[l].sh[i].seq > newest_seq) {
                    newest = l;
                    newest_sh = i;
                    newest_seq = rm_model.l[l].sh[i].seq;
                }
            }
        }
        if (newest < 0)
            break;
        if (newest_sh >= 0)
            rm_release_shared(newest, newest_sh);
        else
            rm_release(newest);
    }
    /* then every permit it holds goes back, each handed to the queue head */
    for (int i = 0; i < NSEM; i++) {
        for (int o = 0; o <= NO; o++) {
            while (rm_model.sm[i].held[slot][o] > 0) {
                rm_model.sm[i].held[slot][o]--;
                rm_model.sm[i].counter++;
                rm_sem_hand_on(i);
            }
            rm_model.sm[i].tok[slot][o] = 0;
        }
    }
    rm_model.s[slot].open = false;
}

void rm_op_close_reopen(void)
{
    int slot = rm_rn(NS);
    rm_close(slot);
    fx_close(&rm_fx, slot);
    rm_match_replies();
    fx_open(&rm_fx, slot);
    rm_model.s[slot].open = true;
}

/* Advances the clock. The model times out, in deadline order (ties: arrival order), every
 * request whose deadline the clock reaches, each with the state its predecessors left. */
void rm_op_advance(void)
{
    double dt = rm_rn(4) == 0 ? 0 : (double)(1 + rm_rn(20)) / 20000.0; /* 0, or 0.05 .. 1 ms */
    double until = fx_now(&rm_fx) + dt; /* the same sum the fake clock computes */
    for (;;) {
        int next = -1;
        for (int k = 0; k < MAXREQ; k++) {
            if (!rm_timer_armed(k) || rm_model.r[k].deadline > until)
                continue;
            if (next < 0 || rm_model.r[k].deadline < rm_model.r[next].deadline ||
                (rm_model.r[k].deadline == rm_model.r[next].deadline &&
                 rm_model.r[k].seq < rm_model.r[next].seq))
                next = k;
        }
        if (next < 0)
            break;
        struct mreq *q = &rm_model.r[next];
        if (q->kind >= K_SEM) {
            rm_unqueue(next);
            rm_expect(q->slot, q->req, rm_kind_op(q->kind), S_TIMEOUT, -1);
            rm_free_req(next);
        } else if (q->kind == K_ACQ) {
            int l = q->lock;
            rm_q_remove(rm_model.l[l].q, &rm_model.l[l].qn, next);
            rm_expect(q->slot, q->req, ENGINE_OP_ACQUIRE, S_TIMEOUT, -1);
            rm_free_req(next);
            rm_hand_on(l); /* the readers behind a timed-out writer go in */
        } else {
            rm_to_lock(next, S_TIMEOUT); /* granted at once when the lock is free */
        }
        rm_model.timeouts++;
    }
    fx_advance(&rm_fx, dt);
}

/* ------------------------------------------------------------------ semaphores, events, barriers
 */

static void begin_req(int slot, uint64_t req)
{
    rm_fx.cur_s = &rm_fx.ss[slot];
    rm_fx.cur_req = req;
    rm_fx.cur_active = true;
}

static void end_req(void)
{
    rm_fx.cur_active = false;
}

/* Value and kind a semaphore request names: mostly the ones it exists with (or its usual ones),
 * sometimes another value or kind (VALUE_MISMATCH while it exists, else it creates it so). */
static void pick_sem(int i, uint64_t *value, bool *bounded)
{
    bool ex = rm_sem_exists(i);
    *value = ex ? rm_model.sm[i].value : rm_sem_value[i];
    *bounded = ex ? rm_model.sm[i].bounded : rm_sem_bounded[i];
    int r = rm_rn(100);
    if (r < 4)
        *bounded = !*bounded;
    else if (r < 8)
        *value = *value == 1 ? 2 : *value - 1;
}

/* A request that finds semaphore i absent brings it into existence with value and kind. */
static void sem_touch(int i, uint64_t value, bool bounded)
{
    if (rm_sem_exists(i))
        return;
    struct msem *m = &rm_model.sm[i];
    m->value = value;
    m->bounded = bounded;
    m->counter = value;
    m->posts = 0;
}

static bool sem_mismatch(int i, uint64_t value, bool bounded)
{
    return rm_sem_exists(i) && (rm_model.sm[i].value != value || rm_model.sm[i].bounded != bounded);
}

void rm_op_sem_acquire(void)
{
    int slot = rm_rn(NS), i = rm_rn(NSEM);
    uint64_t owner = (uint64_t)(1 + rm_rn(NO));
    uint64_t value;
    bool bounded, dup, timed, try_once;
    pick_sem(i, &value, &bounded);
    uint64_t req = pick_req(slot, &dup);
    double t = pick_timeout(true, &timed, &try_once);
    struct msem *m = &rm_model.sm[i];
    int want;
    if (dup)
        want = S_BAD_REQUEST;
    else if (sem_mismatch(i, value, bounded))
        want = S_VALUE_MISMATCH;
    else if ((rm_sem_exists(i) ? m->counter : value) > 0 && m->qn == 0)
        want = S_OK;
    else if (try_once)
        want = S_TIMEOUT;
    else if (rm_model.s[slot].npending >= PEND_LIMIT)
        want = S_LIMIT_EXCEEDED;
    else
        want = S_PENDING;
    uint64_t token = 0;
    const char *msg = NULL;
    begin_req(slot, req);
    int got = engine_sem_acquire(rm_fx.ss[slot].s, req, (const uint8_t *)rm_sem_names[i],
                                 strlen(rm_sem_names[i]), value, bounded, owner,
                                 t == FX_FOREVER ? NULL : &t, &token, &msg);
    end_req();
    FX_EQ(got, want);
    if (want != S_OK && want != S_PENDING)
        FX_REQUIRE(msg != NULL);
    if (want == S_OK) {
        sem_touch(i, value, bounded);
        FX_REQUIRE(m->counter > 0); /* a grant never goes beyond the counter */
        FX_REQUIRE(token > rm_model.last_token);
        rm_model.last_token = token;
        m->counter--;
        m->held[slot][owner]++;
        m->tok[slot][owner] = token;
        rm_model.sem_grants++;
    } else {
        FX_EQ(token, 0);
        if (want == S_PENDING) {
            sem_touch(i, value, bounded);
            int k = rm_new_req(slot, req, owner, K_SEM, -1, -1, timed, t);
            rm_model.r[k].obj = i;
            rm_q_push(m->q, &m->qn, k);
        }
    }
}

void rm_op_sem_release(void)
{
    int i = rm_rn(NSEM), slot = rm_rn(NS);
    uint64_t owner = (uint64_t)(1 + rm_rn(NO));
    struct msem *m = &rm_model.sm[i];
    /* mostly a holder releases */
    if (rm_rn(100) < 75) {
        for (int k = 0, skip = rm_rn(NS * NO); k < NS * NO; k++) {
            int j = (k + skip) % (NS * NO);
            if (m->held[j / NO][1 + j % NO] > 0) {
                slot = j / NO;
                owner = (uint64_t)(1 + j % NO);
                break;
            }
        }
    }
    uint64_t value;
    bool bounded;
    pick_sem(i, &value, &bounded);
    int want;
    if (sem_mismatch(i, value, bounded)) {
        want = S_VALUE_MISMATCH;
    } else if (m->held[slot][owner] > 0) {
        want = S_OK;
        m->held[slot][owner]--;
        m->counter++;
        rm_sem_hand_on(i);
    } else if (!bounded) {
        want = S_OK;
        sem_touch(i, value, bounded);
        m->counter++;
        m->posts++;
        rm_model.sem_posts++;
        rm_sem_hand_on(i);
    } else {
        want = S_NOT_OWNER; /* BoundedSemaphore released too many times */
        rm_model.sem_refused++;
    }
    const char *msg = NULL;
    int got = engine_sem_release(rm_fx.ss[slot].s, (const uint8_t *)rm_sem_names[i],
                                 strlen(rm_sem_names[i]), value, bounded, owner, &msg);
    FX_EQ(got, want);
    if (got != S_OK)
        FX_REQUIRE(msg != NULL);
}

void rm_op_ev_set(void)
{
    int i = rm_rn(NEV);
    struct mev *m = &rm_model.ev[i];
    uint64_t want_woken = (uint64_t)m->qn;
    while (m->qn > 0) {
        int k = m->q[0];
        rm_q_remove(m->q, &m->qn, k);
        rm_expect(rm_model.r[k].slot, rm_model.r[k].req, ENGINE_OP_EVENT_WAIT, S_OK, -1);
        rm_free_req(k);
    }
    m->set = true;
    rm_model.ev_woken += want_woken;
    uint64_t woken = UINT64_MAX;
    FX_EQ(engine_event_set(rm_fx.e, (const uint8_t *)rm_ev_names[i], strlen(rm_ev_names[i]), &woken,
                           NULL),
          S_OK);
    FX_EQ(woken, want_woken);
}

void rm_op_ev_clear(void)
{
    int i = rm_rn(NEV);
    rm_model.ev[i].set = false;
    FX_EQ(
        engine_event_clear(rm_fx.e, (const uint8_t *)rm_ev_names[i], strlen(rm_ev_names[i]), NULL),
        S_OK);
}

void rm_op_ev_wait(void)
{
    int slot = rm_rn(NS), i = rm_rn(NEV);
    bool dup, timed, try_once;
    uint64_t req = pick_req(slot, &dup);
    double t = pick_timeout(true, &timed, &try_once);
    struct mev *m = &rm_model.ev[i];
    int want;
    if (dup)
        want = S_BAD_REQUEST;
    else if (m->set)
        want = S_OK;
    else if (try_once)
        want = S_TIMEOUT;
    else if (rm_model.s[slot].npending >= PEND_LIMIT)
        want = S_LIMIT_EXCEEDED;
    else
        want = S_PENDING;
    if (want == S_PENDING) {
        int k = rm_new_req(slot, req, 0, K_EVW, -1, -1, timed, t);
        rm_model.r[k].obj = i;
        rm_q_push(m->q, &m->qn, k);
    }
    const char *msg = NULL;
    begin_req(slot, req);
    int got = engine_event_wait(rm_fx.ss[slot].s, req, (const uint8_t *)rm_ev_names[i],
                                strlen(rm_ev_names[i]), t == FX_FOREVER ? NULL : &t, &msg);
    end_req();
    FX_EQ(got, want);
}

static uint64_t pick_parties(int i)
{
    struct mbar *m = &rm_model.b[i];
    bool ex = m->broken || m->qn > 0;
    int r = rm_rn(100);
    if (r < 4)
        return 1;
    if (r < 8)
        return rm_bar_parties[i] + 1;
    return ex ? m->parties : rm_bar_parties[i];
}

/* Answers every waiter of barrier i with status (BROKEN); returns how many. */
static uint64_t m_bar_break(int i)
{
    struct mbar *m = &rm_model.b[i];
    uint64_t n = (uint64_t)m->qn;
    while (m->qn > 0) {
        int k = m->q[0];
        rm_q_remove(m->q, &m->qn, k);
        rm_expect(rm_model.r[k].slot, rm_model.r[k].req, ENGINE_OP_BARRIER_WAIT, S_BROKEN, -1);
        rm_free_req(k);
    }
    rm_model.bar_broken += n;
    return n;
}

void rm_op_bar_wait(void)
{
    int slot = rm_rn(NS), i = rm_rn(NBAR);
    uint64_t parties = pick_parties(i);
    bool dup, timed, try_once;
    uint64_t req = pick_req(slot, &dup);
    double t = pick_timeout(true, &timed, &try_once);
    struct mbar *m = &rm_model.b[i];
    bool ex = m->broken || m->qn > 0;
    int want;
    if (dup)
        want = S_BAD_REQUEST;
    else if (ex && m->parties != parties)
        want = S_VALUE_MISMATCH;
    else if (m->broken)
        want = S_BROKEN;
    else if ((uint64_t)m->qn + 1 == parties)
        want = S_OK;
    else if (try_once)
        want = S_TIMEOUT;
    else if (rm_model.s[slot].npending >= PEND_LIMIT)
        want = S_LIMIT_EXCEEDED;
    else
        want = S_PENDING;
    int first_act = rm_model.nact;
    if (want == S_OK) {
        /* the generation is released: waiters get 0..parties-2 in arrival order */
        for (int a = 0; m->qn > 0; a++) {
            int k = m->q[0];
            rm_q_remove(m->q, &m->qn, k);
            rm_expect(rm_model.r[k].slot, rm_model.r[k].req, ENGINE_OP_BARRIER_WAIT, S_OK, -1);
            rm_model.exp[rm_model.nexp - 1].index = a;
            rm_free_req(k);
        }
        rm_model.bar_fills++;
    } else if (want == S_PENDING) {
        m->parties = parties;
        int k = rm_new_req(slot, req, 0, K_BAR, -1, -1, timed, t);
        rm_model.r[k].obj = i;
        rm_q_push(m->q, &m->qn, k);
    }
    uint32_t index = UINT32_MAX;
    const char *msg = NULL;
    begin_req(slot, req);
    int got = engine_barrier_wait(rm_fx.ss[slot].s, req, (const uint8_t *)rm_bar_names[i],
                                  strlen(rm_bar_names[i]), parties, t == FX_FOREVER ? NULL : &t,
                                  &index, &msg);
    end_req();
    FX_EQ(got, want);
    if (got == S_OK) {
        /* the indices of this generation are exactly 0..parties-1, each once */
        bool seen[8] = {false};
        FX_REQUIRE(parties <= 8 && index < parties);
        seen[index] = true;
        uint64_t n = 1;
        for (int a = first_act; a < rm_model.nact; a++) {
            if (rm_model.act[a].op != ENGINE_OP_BARRIER_WAIT || rm_model.act[a].status != S_OK)
                continue;
            FX_REQUIRE(rm_model.act[a].index >= 0 && (uint64_t)rm_model.act[a].index < parties);
            FX_REQUIRE(!seen[rm_model.act[a].index]);
            seen[rm_model.act[a].index] = true;
            n++;
        }
        FX_EQ(n, parties);
        FX_EQ(index, parties - 1);
    } else {
        FX_EQ(index, 0);
    }
}

void rm_op_bar_reset_abort(void)
{
    int i = rm_rn(NBAR);
    bool abort = rm_rn(2) == 0;
    uint64_t parties = rm_rn(4) == 0 ? 0 : pick_parties(i);
    struct mbar *m = &rm_model.b[i];
    bool ex = m->broken || m->qn > 0;
    int want;
    uint64_t want_broken = 0;
    if (abort && !ex && parties == 0) {
        want = S_BAD_REQUEST;
    } else if (ex && parties != 0 && parties != m->parties) {
        want = S_VALUE_MISMATCH;
    } else {
        want = S_OK;
        want_broken = m_bar_break(i);
        if (!ex)
            m->parties = parties;
        m->broken = abort;
    }
    uint64_t broken = UINT64_MAX;
    const char *msg = NULL;
    int got = abort ? engine_barrier_abort(rm_fx.e, (const uint8_t *)rm_bar_names[i],
                                           strlen(rm_bar_names[i]), parties, &broken, &msg)
                    : engine_barrier_reset(rm_fx.e, (const uint8_t *)rm_bar_names[i],
                                           strlen(rm_bar_names[i]), parties, &broken, &msg);
    FX_EQ(got, want);
    FX_EQ(broken, want == S_OK ? want_broken : 0);
}

void rm_op_locked(void)
{
    int l = rm_rn(NL);
    FX_EQ(fx_locked(&rm_fx, rm_lock_names[l]), !rm_free(l));
}

/* ------------------------------------------------------------------ save and load */

/* The live restart's engine half at a random point: the engine is exported and restored into a
 * new one (fx_save_load()), and the run goes on against the same model, which must not notice.
 * Skipped when two armed timers share a deadline (a restore arms them in queue order, not in
 * arrival order, and the fake clock breaks ties by arming order) or when a deadline would not
 * come back bit for bit from now + (deadline - now); returns whether it ran. */
bool rm_op_save_load(void)
{
    double now = fx_now(&rm_fx);
    for (int k = 0; k < MAXREQ; k++) {
        if (!rm_timer_armed(k))
            continue;
        double d = rm_model.r[k].deadline;
        if (now + (d - now) != d)
            return false;
        for (int j = k + 1; j < MAXREQ; j++)
            if (rm_timer_armed(j) && rm_model.r[j].deadline == d)
                return false;
    }
    fx_save_load(&rm_fx);
    /* The token clock may move ahead across a restart (the new engine starts from the realtime
     * clock), never back: every later token must exceed the model's last one, which the reply
     * checks assert, and the model follows the engine's clock from here. */
    struct engine_stats st = fx_stats(&rm_fx);
    FX_REQUIRE(st.last_token >= rm_model.last_token);
    rm_model.last_token = st.last_token;
    rm_model.save_loads++;
    return true;
}
