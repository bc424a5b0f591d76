/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The reference model of the randomized engine test: the model's state (rm_model) and the
 * fixture it watches (rm_fx), the seeded random source, the hook that records every reply the
 * engine sends, the request pool and queues, and the model of every primitive (lock grants
 * and hand-over, shared holds, conditions, semaphores) that the operations update.
 */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_random.h"

struct rm_state rm_model;
struct fx rm_fx;

const char *rm_lock_names[NL] = {"L0", "L1", "L2"};
const char *rm_cond_names[NC] = {"C0", "C1"};
const char *rm_sem_names[NSEM] = {"S0", "S1", "S2"};
const uint64_t rm_sem_value[NSEM] = {2, 2, 1};
const bool rm_sem_bounded[NSEM] = {false, true, true};
const char *rm_ev_names[NEV] = {"E0", "E1"};
const char *rm_bar_names[NBAR] = {"B0", "B1"};
const uint64_t rm_bar_parties[NBAR] = {3, 2};

/* ------------------------------------------------------------------ model */

uint64_t rm_rnd(void)
{
    /* xorshift64* */
    rm_model.rng ^= rm_model.rng >> 12;
    rm_model.rng ^= rm_model.rng << 25;
    rm_model.rng ^= rm_model.rng >> 27;
    return rm_model.rng * 2685821657736338717ull;
}

int rm_rn(int n)
{
    return (int)(rm_rnd() % (uint64_t)n);
}

void rm_on_reply_hook(void *arg, struct fx_session *fs, const struct fx_reply *r)
{
    (void)arg;
    FX_REQUIRE(rm_model.nact < MAXREP);
    struct rep *a = &rm_model.act[rm_model.nact++];
    a->slot = (int)(fs - rm_fx.ss);
    a->req = r->req_id;
    a->op = r->op;
    a->status = r->status;
    a->token = r->token;
    a->lock = -1;
    a->index = (int)r->index;
    if (r->token != 0) {
        FX_REQUIRE(r->token > rm_model.last_token);
        rm_model.last_token = r->token;
    }
    if (r->op == ENGINE_OP_WAIT && r->status == S_OK)
        rm_model.ok_replies++;
}

int rm_find_req(int slot, uint64_t req)
{
    for (int k = 0; k < MAXREQ; k++)
        if (rm_model.r[k].live && rm_model.r[k].slot == slot && rm_model.r[k].req == req)
            return k;
    return -1;
}

int rm_new_req(int slot, uint64_t req, uint64_t owner, int kind, int lock, int cond, bool timed,
               double timeout)
{
    for (int k = 0; k < MAXREQ; k++) {
        if (rm_model.r[k].live)
            continue;
        rm_model.r[k] =
            (struct mreq){.live = true,
                          .slot = slot,
                          .req = req,
                          .owner = owner,
                          .kind = kind,
                          .lock = lock,
                          .cond = cond,
                          .timed = timed,
                          /* the same sum the fake clock computes when the engine arms */
                          .deadline = timed ? fx_now(&rm_fx) + timeout : 0,
                          .final = S_OK,
                          .seq = ++rm_model.seq};
        rm_model.s[slot].npending++;
        return k;
    }
    ck_abort_msg("model request pool full");
    return -1;
}

void rm_free_req(int k)
{
    struct mreq *q = &rm_model.r[k];
    if (q->kind == K_WAIT) {
        struct mcond *c = &rm_model.c[q->cond];
        FX_REQUIRE(c->refs > 0);
        if (--c->refs == 0)
            c->bound = -1;
    }
    rm_model.s[q->slot].npending--;
    q->live = false;
}

void rm_q_push(int *q, int *qn, int k)
{
    FX_REQUIRE(*qn < QMAX);
    q[(*qn)++] = k;
}

void rm_q_remove(int *q, int *qn, int k)
{
    for (int i = 0; i < *qn; i++) {
        if (q[i] == k) {
            memmove(&q[i], &q[i + 1], (size_t)(*qn - i - 1) * sizeof q[0]);
            (*qn)--;
            return;
        }
    }
    ck_abort_msg("model queue entry missing");
}

void rm_expect(int slot, uint64_t req, int op, int status, int lock)
{
    FX_REQUIRE(rm_model.nexp < MAXREP);
    rm_model.exp[rm_model.nexp++] = (struct rep){
        .slot = slot, .req = req, .op = op, .status = status, .lock = lock, .sem = -1, .index = -1};
}

bool rm_sem_exists(int i)
{
    const struct msem *m = &rm_model.sm[i];
    if (m->qn > 0 || m->counter != m->value)
        return true;
    for (int x = 0; x < NS; x++)
        for (int o = 0; o <= NO; o++)
            if (m->held[x][o] > 0)
                return true;
    return false;
}

uint64_t rm_sem_held(int i)
{
    uint64_t h = 0;
    for (int x = 0; x < NS; x++)
        for (int o = 0; o <= NO; o++)
            h += rm_model.sm[i].held[x][o];
    return h;
}

/* Hands permits to the queue head while the counter allows (strict FIFO). */
void rm_sem_hand_on(int i)
{
    struct msem *m = &rm_model.sm[i];
    while (m->counter > 0 && m->qn > 0) {
        int k = m->q[0];
        struct mreq *q = &rm_model.r[k];
        rm_q_remove(m->q, &m->qn, k);
        m->counter--;
        m->held[q->slot][q->owner]++;
        FX_REQUIRE(rm_model.nexp < MAXREP);
        rm_model.exp[rm_model.nexp++] = (struct rep){.slot = q->slot,
                                                     .req = q->req,
                                                     .op = ENGINE_OP_SEM_ACQUIRE,
                                                     .status = S_OK,
                                                     .lock = -1,
                                                     .sem = i,
                                                     .owner = q->owner,
                                                     .index = -1};
        rm_model.sem_grants++;
        rm_free_req(k);
    }
}

/* Removes a pending SemAcquire / EventWait / BarrierWait from its queue. */
void rm_unqueue(int k)
{
    struct mreq *q = &rm_model.r[k];
    if (q->kind == K_SEM)
        rm_q_remove(rm_model.sm[q->obj].q, &rm_model.sm[q->obj].qn, k);
    else if (q->kind == K_EVW)
        rm_q_remove(rm_model.ev[q->obj].q, &rm_model.ev[q->obj].qn, k);
    else
        rm_q_remove(rm_model.b[q->obj].q, &rm_model.b[q->obj].qn, k);
}

int rm_kind_op(int kind)
{
    static const int ops[] = {ENGINE_OP_ACQUIRE, ENGINE_OP_WAIT, ENGINE_OP_SEM_ACQUIRE,
                              ENGINE_OP_EVENT_WAIT, ENGINE_OP_BARRIER_WAIT};
    return ops[kind];
}

bool rm_free(int l)
{
    return rm_model.l[l].hslot < 0 && rm_model.l[l].nsh == 0;
}

/* Adds (slot, owner) as a shared holder of l (token 0 until the reply or the call gives it). */
void rm_add_shared(int l, int slot, uint64_t owner, uint64_t req, uint64_t token)
{
    struct mlock *ml = &rm_model.l[l];
    FX_EQ(ml->hslot, -1);
    FX_REQUIRE(ml->nsh < SHMAX);
    ml->sh[ml->nsh++] = (struct mshared){
        .slot = slot, .owner = owner, .req = req, .token = token, .seq = ++rm_model.seq};
    rm_model.shared_grants++;
    if ((uint64_t)ml->nsh > rm_model.max_shared)
        rm_model.max_shared = (uint64_t)ml->nsh;
}

/* Grants lock l (free, or held shared for a shared acquire) to request k (not in a queue) and
 * expects its reply. */
static void m_grant(int l, int k)
{
    struct mlock *ml = &rm_model.l[l];
    struct mreq *q = &rm_model.r[k];
    FX_EQ(ml->hslot, -1);
    if (q->kind == K_ACQ && q->shared) {
        rm_add_shared(l, q->slot, q->owner, q->req, 0);
        rm_expect(q->slot, q->req, ENGINE_OP_ACQUIRE, S_OK, l);
        rm_model.exp[rm_model.nexp - 1].shared = true;
        rm_free_req(k);
        return;
    }
    FX_EQ(ml->nsh, 0);
    ml->hslot = q->slot;
    ml->howner = q->owner;
    ml->hseq = ++rm_model.seq;
    ml->token = 0; /* filled in from the reply */
    rm_expect(q->slot, q->req, q->kind == K_ACQ ? ENGINE_OP_ACQUIRE : ENGINE_OP_WAIT,
              q->kind == K_ACQ ? S_OK : q->final, l);
    rm_free_req(k);
}

bool rm_is_shared_req(int k)
{
    return rm_model.r[k].kind == K_ACQ && rm_model.r[k].shared;
}

/* Grants the queue head of l, and every shared request behind a shared head, as far as the
 * holders allow (the engine's elock_grant_ready()). */
void rm_hand_on(int l)
{
    struct mlock *ml = &rm_model.l[l];
    int granted = 0;
    while (ml->qn > 0 && ml->hslot < 0) {
        int k = ml->q[0];
        if (!rm_is_shared_req(k) && ml->nsh > 0)
            break;
        rm_q_remove(ml->q, &ml->qn, k);
        m_grant(l, k);
        granted++;
    }
    if (granted > 1)
        rm_model.shared_batches++;
}

void rm_release(int l)
{
    struct mlock *ml = &rm_model.l[l];
    ml->hslot = -1;
    ml->howner = 0;
    ml->token = 0;
    rm_hand_on(l);
}

/* The oldest shared hold of (slot, owner) on l, or -1. */
int rm_shared_idx(int l, int slot, uint64_t owner)
{
    for (int i = 0; i < rm_model.l[l].nsh; i++)
        if (rm_model.l[l].sh[i].slot == slot && rm_model.l[l].sh[i].owner == owner)
            return i;
    return -1;
}

void rm_release_shared(int l, int i)
{
    struct mlock *ml = &rm_model.l[l];
    memmove(&ml->sh[i], &ml->sh[i + 1], (size_t)(ml->nsh - i - 1) * sizeof ml->sh[0]);
    ml->nsh--;
    rm_hand_on(l);
}

/* Moves wait k from its condition's queue to its lock with status. */
void rm_to_lock(int k, int status)
{
    struct mreq *q = &rm_model.r[k];
    struct mcond *c = &rm_model.c[q->cond];
    rm_q_remove(c->q, &c->qn, k);
    q->where = IN_LOCKQ;
    q->final = status;
    struct mlock *ml = &rm_model.l[q->lock];
    if (rm_free(q->lock)) {
        FX_EQ(ml->qn, 0);
        m_grant(q->lock, k);
    } else {
        rm_q_push(ml->q, &ml->qn, k);
    }
}

/* A notified wait k gives up its notification: the next waiter gets it, if any. */
void rm_pass_on(int k)
{
    struct mcond *c = &rm_model.c[rm_model.r[k].cond];
    if (c->qn > 0)
        rm_to_lock(c->q[0], S_OK);
    else
        rm_model.lost++;
}

/* Holds l exclusively (what conditions need). */
bool rm_holds(int slot, uint64_t owner, int l)
{
    return rm_model.l[l].hslot == slot && rm_model.l[l].howner == owner;
}

/* Holds l in either mode. */
bool rm_holds_any(int slot, uint64_t owner, int l)
{
    return rm_holds(slot, owner, l) || rm_shared_idx(l, slot, owner) >= 0;
}

/* Can request k still time out? A timed acquire until answered; a timed wait until it leaves
 * its condition (notified, cancelled or timed out), from which point it only re-acquires. */
bool rm_timer_armed(int k)
{
    const struct mreq *q = &rm_model.r[k];
    return q->live && q->timed && (q->kind != K_WAIT || q->where == IN_CONDQ);
}
