/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The comparisons of the randomized engine test: after every step, the replies the engine sent
 * must be exactly the ones the model expects (rm_match_replies), and the engine's state as List,
 * SemLocked, EventIsSet, BarrierState and Stats report it must equal the model's
 * (rm_check_state).
 */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_random.h"

/* ------------------------------------------------------------------ comparing replies */

static int rep_cmp(const void *a, const void *b)
{
    const struct rep *x = a, *y = b;
    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    if (x->req != y->req)
        return x->req < y->req ? -1 : 1;
    return 0;
}

/* The replies the step caused must be exactly the expected ones; fills in grant tokens. */
void rm_match_replies(void)
{
    qsort(rm_model.exp, (size_t)rm_model.nexp, sizeof rm_model.exp[0], rep_cmp);
    struct rep act[MAXREP];
    memcpy(act, rm_model.act, (size_t)rm_model.nact * sizeof act[0]);
    qsort(act, (size_t)rm_model.nact, sizeof act[0], rep_cmp);
    if (rm_model.nexp != rm_model.nact)
        ck_abort_msg("expected %d replies, got %d", rm_model.nexp, rm_model.nact);
    for (int i = 0; i < rm_model.nexp; i++) {
        FX_EQ(act[i].slot, rm_model.exp[i].slot);
        FX_EQ(act[i].req, rm_model.exp[i].req);
        FX_EQ(act[i].op, rm_model.exp[i].op);
        FX_EQ(act[i].status, rm_model.exp[i].status);
        FX_EQ(act[i].index, rm_model.exp[i].index < 0 ? 0 : rm_model.exp[i].index);
        if (rm_model.exp[i].lock >= 0 && rm_model.exp[i].shared) {
            FX_REQUIRE(act[i].token > 0);
            struct mlock *ml = &rm_model.l[rm_model.exp[i].lock];
            int j = 0;
            while (j < ml->nsh &&
                   (ml->sh[j].slot != rm_model.exp[i].slot || ml->sh[j].req != rm_model.exp[i].req))
                j++;
            FX_REQUIRE(j < ml->nsh);
            FX_EQ(ml->sh[j].token, 0);
            ml->sh[j].token = act[i].token;
        } else if (rm_model.exp[i].lock >= 0) {
            FX_REQUIRE(act[i].token > 0);
            rm_model.l[rm_model.exp[i].lock].token = act[i].token;
        } else if (rm_model.exp[i].sem >= 0) {
            FX_REQUIRE(act[i].token > 0);
            uint64_t *t =
                &rm_model.sm[rm_model.exp[i].sem].tok[rm_model.exp[i].slot][rm_model.exp[i].owner];
            if (act[i].token > *t)
                *t = act[i].token;
        } else {
            FX_EQ(act[i].token, 0);
        }
    }
    rm_model.nexp = rm_model.nact = 0;
}

/* ------------------------------------------------------------------ comparing state */

struct qseen {
    struct engine_queued_info e[QMAX];
    int n;
};

static void q_visit(void *arg, const struct engine_queued_info *qi)
{
    struct qseen *s = arg;
    FX_REQUIRE(s->n < QMAX);
    s->e[s->n++] = *qi;
}

static void engine_q(bool is_cond, const char *name, struct qseen *out)
{
    out->n = 0;
    size_t n =
        engine_queue_visit(rm_fx.e, is_cond, (const uint8_t *)name, strlen(name), q_visit, out);
    FX_EQ(n, (size_t)out->n);
}

static bool same_req(const struct engine_queued_info *e, int k)
{
    const struct mreq *q = &rm_model.r[k];
    return e->session_id == (uint64_t)q->slot + 1 && e->req_id == q->req;
}

static void check_queue_equal(const struct qseen *e, const int *q, int qn)
{
    FX_EQ(e->n, qn);
    for (int i = 0; i < qn; i++) {
        const struct mreq *r = &rm_model.r[q[i]];
        FX_REQUIRE(same_req(&e->e[i], q[i]));
        FX_EQ(e->e[i].owner, r->owner);
        FX_EQ(e->e[i].op, r->kind == K_ACQ ? ENGINE_OP_ACQUIRE : ENGINE_OP_WAIT);
        FX_EQ(e->e[i].final_status, r->kind == K_WAIT ? r->final : S_OK);
        FX_EQ(e->e[i].shared, r->kind == K_ACQ && r->shared);
    }
}

struct cond_seen {
    bool found[NC];
    int lock[NC];
    uint64_t waiters[NC];
};

static void cond_visit(void *arg, const struct engine_cond_info *ci)
{
    struct cond_seen *cs = arg;
    for (int c = 0; c < NC; c++) {
        if (ci->name_len == strlen(rm_cond_names[c]) &&
            memcmp(ci->name, rm_cond_names[c], ci->name_len) == 0) {
            cs->found[c] = true;
            cs->waiters[c] = ci->waiters;
            cs->lock[c] = -1;
            for (int l = 0; l < NL; l++)
                if (ci->lock_len == strlen(rm_lock_names[l]) &&
                    memcmp(ci->lock, rm_lock_names[l], ci->lock_len) == 0)
                    cs->lock[c] = l;
        }
    }
}

struct sem_seen {
    int cur; /* the semaphore last passed to on_sem, -1 if none of ours */
    bool found[NSEM];
    struct engine_sem_info info[NSEM];
    uint64_t held[NSEM][NS][NO + 1];
    uint64_t tok[NSEM][NS][NO + 1];
    uint64_t nholders[NSEM];
};

static int name_idx(const char *const *names, int n, const uint8_t *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (len == strlen(names[i]) && memcmp(name, names[i], len) == 0)
            return i;
    return -1;
}

static void sem_visit(void *arg, const struct engine_sem_info *si)
{
    struct sem_seen *ss = arg;
    ss->cur = name_idx(rm_sem_names, NSEM, si->name, si->name_len);
    FX_REQUIRE(ss->cur >= 0);
    FX_REQUIRE(!ss->found[ss->cur]);
    ss->found[ss->cur] = true;
    ss->info[ss->cur] = *si;
    ss->info[ss->cur].name = NULL;
}

static void sem_holder_visit(void *arg, const struct engine_sem_holder_info *hi)
{
    struct sem_seen *ss = arg;
    FX_REQUIRE(ss->cur >= 0);
    FX_REQUIRE(hi->session_id >= 1 && hi->session_id <= NS);
    FX_REQUIRE(hi->owner >= 1 && hi->owner <= NO);
    FX_REQUIRE(hi->permits > 0);
    FX_EQ(ss->held[ss->cur][hi->session_id - 1][hi->owner], 0); /* one record per holder */
    ss->held[ss->cur][hi->session_id - 1][hi->owner] = hi->permits;
    ss->tok[ss->cur][hi->session_id - 1][hi->owner] = hi->token;
    ss->nholders[ss->cur]++;
}

struct ev_seen {
    bool found[NEV];
    struct engine_event_info info[NEV];
};

static void ev_visit(void *arg, const struct engine_event_info *ei)
{
    struct ev_seen *es = arg;
    int i = name_idx(rm_ev_names, NEV, ei->name, ei->name_len);
    FX_REQUIRE(i >= 0 && !es->found[i]);
    es->found[i] = true;
    es->info[i] = *ei;
}

/* Semaphores, events and barriers: the engine's view (List, SemLocked, EventIsSet,
 * BarrierState, Stats) must equal the model's, plus the counting invariants. */
static void check_sync_state(const struct engine_stats *st)
{
    uint64_t sems = 0, held_all = 0, sem_waiters = 0;
    struct sem_seen ss;
    memset(&ss, 0, sizeof ss);
    ss.cur = -1;
    engine_list_sems(rm_fx.e, (const uint8_t *)"S", 1, 100, sem_visit, sem_holder_visit, &ss);
    for (int i = 0; i < NSEM; i++) {
        struct msem *m = &rm_model.sm[i];
        bool ex = rm_sem_exists(i);
        uint64_t held = rm_sem_held(i);
        FX_EQ(ss.found[i], ex);
        bool e_exists, e_locked;
        uint64_t e_counter, e_held;
        FX_EQ(engine_sem_locked(rm_fx.e, (const uint8_t *)rm_sem_names[i], strlen(rm_sem_names[i]),
                                &e_exists, &e_locked, &e_counter, &e_held, NULL),
              S_OK);
        FX_EQ(e_exists, ex);
        if (!ex) {
            FX_EQ(e_locked, false);
            FX_EQ(e_counter, 0);
            FX_EQ(e_held, 0);
            continue;
        }
        sems++;
        held_all += held;
        sem_waiters += (uint64_t)m->qn;
        const struct engine_sem_info *si = &ss.info[i];
        FX_EQ(si->value, m->value);
        FX_EQ(si->bounded, m->bounded);
        FX_EQ(si->counter, m->counter);
        FX_EQ(si->waiters, (uint64_t)m->qn);
        FX_EQ(e_counter, m->counter);
        FX_EQ(e_held, held);
        FX_EQ(e_locked, m->counter == 0 || m->qn > 0);
        /* no barging: between requests a semaphore with waiters has counter 0 */
        if (m->qn > 0)
            FX_EQ(si->counter, 0);
        /* permits are conserved: held + counter == N (+ posts on a plain Semaphore); on a
         * BoundedSemaphore exactly N, so no grant ever exceeds the counter */
        FX_EQ(e_held + si->counter, si->value + (m->bounded ? 0 : m->posts));
        if (si->bounded)
            FX_EQ(e_held + si->counter, si->value);
        uint64_t nh = 0;
        for (int x = 0; x < NS; x++) {
            for (int o = 0; o <= NO; o++) {
                FX_EQ(ss.held[i][x][o], m->held[x][o]);
                if (m->held[x][o] > 0) {
                    nh++;
                    FX_EQ(ss.tok[i][x][o], m->tok[x][o]);
                }
            }
        }
        FX_EQ(si->nholders, nh);
        FX_EQ(ss.nholders[i], nh);
    }
    FX_EQ(st->semaphores, sems);
    FX_EQ(st->permits_held, held_all);
    FX_EQ(st->semaphore_waiters, sem_waiters);

    uint64_t evs = 0, evs_set = 0, ev_waiters = 0;
    struct ev_seen es;
    memset(&es, 0, sizeof es);
    engine_list_events(rm_fx.e, (const uint8_t *)"E", 1, 100, ev_visit, &es);
    for (int i = 0; i < NEV; i++) {
        struct mev *m = &rm_model.ev[i];
        bool ex = m->set || m->qn > 0;
        FX_EQ(es.found[i], ex);
        if (ex) {
            evs++;
            FX_EQ(es.info[i].set, m->set);
            FX_EQ(es.info[i].waiters, (uint64_t)m->qn);
        }
        if (m->set) {
            evs_set++;
            FX_EQ(m->qn, 0); /* a set event has no waiters */
        }
        ev_waiters += (uint64_t)m->qn;
        bool set = !m->set;
        FX_EQ(engine_event_is_set(rm_fx.e, (const uint8_t *)rm_ev_names[i], strlen(rm_ev_names[i]),
                                  &set, NULL),
              S_OK);
        FX_EQ(set, m->set);
    }
    FX_EQ(st->events, evs);
    FX_EQ(st->events_set, evs_set);
    FX_EQ(st->event_waiters, ev_waiters);

    uint64_t bars = 0, bars_broken = 0, bar_waiters = 0;
    for (int i = 0; i < NBAR; i++) {
        struct mbar *m = &rm_model.b[i];
        bool ex = m->broken || m->qn > 0;
        struct engine_barrier_info bi;
        FX_EQ(engine_barrier_state(rm_fx.e, (const uint8_t *)rm_bar_names[i],
                                   strlen(rm_bar_names[i]), &bi, NULL),
              S_OK);
        FX_EQ(bi.parties != 0, ex);
        if (ex) {
            bars++;
            FX_EQ(bi.parties, m->parties);
            FX_EQ(bi.n_waiting, (uint64_t)m->qn);
            FX_EQ(bi.broken, m->broken);
            /* never as many waiters as parties: the wait that gets there fills it */
            FX_REQUIRE((uint64_t)m->qn < m->parties);
        } else {
            FX_EQ(bi.n_waiting, 0);
            FX_EQ(bi.broken, false);
        }
        if (m->broken) {
            bars_broken++;
            FX_EQ(m->qn, 0);
        }
        bar_waiters += (uint64_t)m->qn;
    }
    FX_EQ(st->barriers, bars);
    FX_EQ(st->barriers_broken, bars_broken);
    FX_EQ(st->barrier_waiters, bar_waiters);
}

/* A lock's holders as List reports them (engine_list_holders()), in its order. */
struct holders_seen {
    int cur; /* the lock last passed to on_lock */
    bool found[NL];
    struct engine_lock_info info[NL];
    struct engine_lock_holder_info h[NL][SHMAX];
    int n[NL];
};

static void holders_lock_visit(void *arg, const struct engine_lock_info *li)
{
    struct holders_seen *hs = arg;
    hs->cur = name_idx(rm_lock_names, NL, li->name, li->name_len);
    FX_REQUIRE(hs->cur >= 0 && !hs->found[hs->cur]);
    hs->found[hs->cur] = true;
    hs->info[hs->cur] = *li;
}

static void holders_holder_visit(void *arg, const struct engine_lock_holder_info *hi)
{
    struct holders_seen *hs = arg;
    FX_REQUIRE(hs->cur >= 0 && hs->n[hs->cur] < SHMAX);
    hs->h[hs->cur][hs->n[hs->cur]++] = *hi;
}

/* Every lock's holders: the engine's report must equal the model's, and the engine's report
 * alone must show no exclusive holder together with any other holder. */
static void check_holders(uint64_t *shared_locks, uint64_t *shared_holders)
{
    struct holders_seen hs;
    memset(&hs, 0, sizeof hs);
    hs.cur = -1;
    engine_list_holders(rm_fx.e, (const uint8_t *)"L", 1, 100, holders_lock_visit,
                        holders_holder_visit, NULL, &hs);
    for (int l = 0; l < NL; l++) {
        const struct mlock *ml = &rm_model.l[l];
        FX_REQUIRE(ml->hslot < 0 || ml->nsh == 0); /* the model's own invariant */
        FX_EQ(hs.found[l], !rm_free(l));
        if (!hs.found[l])
            continue;
        const struct engine_lock_info *li = &hs.info[l];
        FX_EQ((uint64_t)hs.n[l], li->nholders);
        /* the invariant, on the engine's word: exclusive means exactly one holder */
        if (!li->shared)
            FX_EQ(li->nholders, 1);
        else
            FX_REQUIRE(li->nholders >= 1);
        for (int i = 1; i < hs.n[l]; i++)
            FX_REQUIRE(hs.h[l][i].token > hs.h[l][i - 1].token); /* grant order */
        FX_EQ(li->shared, ml->nsh > 0);
        if (ml->nsh > 0) {
            (*shared_locks)++;
            *shared_holders += (uint64_t)ml->nsh;
            FX_EQ(hs.n[l], ml->nsh);
            for (int i = 0; i < ml->nsh; i++) {
                FX_EQ(hs.h[l][i].session_id, (uint64_t)ml->sh[i].slot + 1);
                FX_EQ(hs.h[l][i].owner, ml->sh[i].owner);
                FX_EQ(hs.h[l][i].token, ml->sh[i].token);
            }
            /* a shared head would have been granted with the holders */
            if (ml->qn > 0)
                FX_REQUIRE(!rm_is_shared_req(ml->q[0]));
        } else {
            FX_EQ(hs.h[l][0].session_id, (uint64_t)ml->hslot + 1);
            FX_EQ(hs.h[l][0].owner, ml->howner);
            FX_EQ(hs.h[l][0].token, ml->token);
        }
    }
}

void rm_check_state(void)
{
    uint64_t held = 0, lock_waiters = 0, conds = 0, cond_waiters = 0, sessions = 0;
    uint64_t shared_locks = 0, shared_holders = 0;
    check_holders(&shared_locks, &shared_holders);
    for (int l = 0; l < NL; l++) {
        struct mlock *ml = &rm_model.l[l];
        uint64_t sid, owner, token, waiters;
        bool h = fx_holder(&rm_fx, rm_lock_names[l], &sid, &owner, &token, &waiters);
        FX_EQ(h, !rm_free(l));
        if (h) {
            held++;
            /* the single-holder fields: the first (oldest) holder */
            FX_EQ(sid, (uint64_t)(ml->nsh > 0 ? ml->sh[0].slot : ml->hslot) + 1);
            FX_EQ(owner, ml->nsh > 0 ? ml->sh[0].owner : ml->howner);
            FX_EQ(token, ml->nsh > 0 ? ml->sh[0].token : ml->token);
        } else {
            FX_EQ(ml->qn, 0); /* a free lock has an empty queue */
        }
        FX_EQ(waiters, (uint64_t)ml->qn);
        FX_EQ(fx_locked(&rm_fx, rm_lock_names[l]), h);
        struct qseen e;
        engine_q(false, rm_lock_names[l], &e);
        check_queue_equal(&e, ml->q, ml->qn);
        for (int i = 0; i < ml->qn; i++)
            FX_EQ(rm_model.r[ml->q[i]].where, IN_LOCKQ);
        lock_waiters += (uint64_t)ml->qn;
    }
    struct cond_seen cs = {0};
    engine_list(rm_fx.e, (const uint8_t *)"C", 1, 100, NULL, cond_visit, &cs);
    for (int c = 0; c < NC; c++) {
        struct mcond *mc = &rm_model.c[c];
        int refs = 0;
        for (int k = 0; k < MAXREQ; k++)
            if (rm_model.r[k].live && rm_model.r[k].kind == K_WAIT && rm_model.r[k].cond == c)
                refs++;
        FX_EQ(refs, mc->refs);
        FX_EQ(cs.found[c], mc->refs > 0);
        if (mc->refs > 0) {
            conds++;
            FX_EQ(cs.lock[c], mc->bound);
            FX_EQ(cs.waiters[c], (uint64_t)mc->qn);
        }
        struct qseen e;
        engine_q(true, rm_cond_names[c], &e);
        check_queue_equal(&e, mc->q, mc->qn);
        cond_waiters += (uint64_t)mc->qn;
    }
    for (int i = 0; i < NS; i++) {
        if (rm_model.s[i].open)
            sessions++;
        int np = 0;
        for (int k = 0; k < MAXREQ; k++)
            if (rm_model.r[k].live && rm_model.r[k].slot == i)
                np++;
        FX_EQ(np, rm_model.s[i].npending);
    }
    size_t timers = 0;
    for (int k = 0; k < MAXREQ; k++)
        if (rm_timer_armed(k))
            timers++;
    FX_EQ(fx_timers(&rm_fx), timers);
    struct engine_stats st = fx_stats(&rm_fx);
    FX_EQ(st.sessions, sessions);
    FX_EQ(st.locks, held);
    FX_EQ(st.locks_held, held);
    FX_EQ(st.locks_shared, shared_locks);
    FX_EQ(st.shared_holders, shared_holders);
    FX_EQ(st.lock_waiters, lock_waiters);
    FX_EQ(st.conditions, conds);
    FX_EQ(st.condition_waiters, cond_waiters);
    FX_EQ(st.last_token, rm_model.last_token);
    check_sync_state(&st);
    /* notifications: every wake-up is answered OK, in flight, or had nobody to go to */
    uint64_t inflight = 0;
    for (int k = 0; k < MAXREQ; k++)
        if (rm_model.r[k].live && rm_model.r[k].kind == K_WAIT && rm_model.r[k].where == IN_LOCKQ &&
            rm_model.r[k].final == S_OK)
            inflight++;
    FX_EQ(rm_model.woken, rm_model.ok_replies + rm_model.lost + rm_model.shut + inflight);
}
