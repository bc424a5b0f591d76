/* SPDX-License-Identifier: BSD-2-Clause
 *
 * A randomized test of the engine against a reference model. Simulated owners (8 sessions x 2
 * owner handles) acquire (forever, try-once, timed), release, wait (forever, timed), notify(n),
 * notify_all and cancel on 3 locks and 2 conditions, sessions close and reopen, and the fake
 * clock advances. The model predicts every synchronous status and every reply an operation
 * causes, timeouts included: it knows each timed request's deadline, so when the clock advances
 * it predicts exactly which requests time out, in deadline order (ties in arrival order, which
 * is the order their timers were armed): a timed-out acquire leaves its queue and answers
 * TIMEOUT; a timed-out wait leaves its condition and re-queues at the tail of its lock's queue
 * (or takes the free lock at once), to answer TIMEOUT once it holds the lock. After every step
 * the engine's holders, tokens, lock queues (FIFO, with each wait's final status), condition
 * queues, bindings, armed timers and stats must equal the model's. This covers mutual exclusion,
 * FIFO grants, that every Wait reply comes with the lock held, and that no notification is lost (a
 * notified wait that is cancelled or dies passes it on). At the end every pending request is
 * answered by shutdown, every session closed, and the engine must be empty (ASan catches leaks).
 *
 * The same run also drives a Semaphore (S0, N 2), two BoundedSemaphores (S1, N 2; S2, N 1),
 * two events and two barriers (B0 of 3 parties, B1 of 2), all predicted exactly: SemAcquire
 * (forever, try-once, timed; strict FIFO hand-over within the releasing call), SemRelease by a
 * holder, posted permits on a Semaphore, BoundedSemaphore over-release refused (NOT_OWNER),
 * VALUE_MISMATCH for another value or kind while it exists (else the request recreates it so),
 * EventSet (answers every waiter, woken count) / EventClear / EventWait, BarrierWait (filling
 * releases a generation with indices 0..parties-1 in arrival order), BarrierReset / BarrierAbort
 * (waiters BROKEN, broken state), and for all of them cancel, timeouts, session close and
 * shutdown. Checked after every step, from List, SemLocked, EventIsSet, BarrierState and Stats:
 * each semaphore's counter, holders (permits and latest token), waiters and existence; permits
 * held + counter == N on a BoundedSemaphore (N + posts on a Semaphore), so no grant goes beyond
 * the counter; counter 0 while anyone waits; events' flag and waiters; barriers' parties,
 * waiters (always fewer than parties) and broken flag; and the fixture's count of replies to
 * closed sessions or to the running request stays 0.
 *
 * Shared (reader) locks (issue 13) run on the same three locks: about a third of the acquires
 * are shared, and the model grants them as the engine must (at once only when the lock is free
 * or held shared with nobody queued; from the queue, every shared request at the head together,
 * an exclusive one only once every holder has left; a queued writer that leaves by cancel,
 * timeout or session end lets the readers behind it in). Wait and Notify by a shared holder are
 * NOT_OWNER, an owner holding in either mode gets ALREADY_OWNER. After every step List's holders
 * (every one, in grant order, with its token) must equal the model's, and the invariant "never an
 * exclusive holder together with any other holder" is checked on the engine's own report, as is
 * "a lock held shared never has a shared request at the head of its queue".
 *
 * Seeds: a fixed default plus a few more; CONDD_SEED=N runs only seed N and CONDD_STEPS=N
 * changes the number of steps. The seed is printed so that a failure can be replayed.
 */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const uint64_t seeds[] = {20240601, 1, 2, 3, 0xc0ffee};

static struct fx F;

/* ------------------------------------------------------------------ model */

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

static struct {
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
    uint64_t sem_grants, sem_posts, sem_refused, ev_woken, bar_fills, bar_broken;
    uint64_t waits_pending, acq_pending, cancels_ok, timeouts;
    uint64_t shared_grants, shared_batches, max_shared, shared_refused_cond;
} M;

static const char *lock_names[NL] = {"L0", "L1", "L2"};
static const char *cond_names[NC] = {"C0", "C1"};
static const char *sem_names[NSEM] = {"S0", "S1", "S2"};
static const uint64_t sem_value[NSEM] = {2, 2, 1};
static const bool sem_bounded[NSEM] = {false, true, true};
static const char *ev_names[NEV] = {"E0", "E1"};
static const char *bar_names[NBAR] = {"B0", "B1"};
static const uint64_t bar_parties[NBAR] = {3, 2};

static uint64_t rnd(void)
{
    /* xorshift64* */
    M.rng ^= M.rng >> 12;
    M.rng ^= M.rng << 25;
    M.rng ^= M.rng >> 27;
    return M.rng * 2685821657736338717ull;
}

static int rn(int n)
{
    return (int)(rnd() % (uint64_t)n);
}

static void on_reply_hook(void *arg, struct fx_session *fs, const struct fx_reply *r)
{
    (void)arg;
    FX_REQUIRE(M.nact < MAXREP);
    struct rep *a = &M.act[M.nact++];
    a->slot = (int)(fs - F.ss);
    a->req = r->req_id;
    a->op = r->op;
    a->status = r->status;
    a->token = r->token;
    a->lock = -1;
    a->index = (int)r->index;
    if (r->token != 0) {
        FX_REQUIRE(r->token > M.last_token);
        M.last_token = r->token;
    }
    if (r->op == ENGINE_OP_WAIT && r->status == S_OK)
        M.ok_replies++;
}

static int find_req(int slot, uint64_t req)
{
    for (int k = 0; k < MAXREQ; k++)
        if (M.r[k].live && M.r[k].slot == slot && M.r[k].req == req)
            return k;
    return -1;
}

static int new_req(int slot, uint64_t req, uint64_t owner, int kind, int lock, int cond, bool timed,
                   double timeout)
{
    for (int k = 0; k < MAXREQ; k++) {
        if (M.r[k].live)
            continue;
        M.r[k] = (struct mreq){.live = true,
                               .slot = slot,
                               .req = req,
                               .owner = owner,
                               .kind = kind,
                               .lock = lock,
                               .cond = cond,
                               .timed = timed,
                               /* the same sum the fake clock computes when the engine arms */
                               .deadline = timed ? fx_now(&F) + timeout : 0,
                               .final = S_OK,
                               .seq = ++M.seq};
        M.s[slot].npending++;
        return k;
    }
    ck_abort_msg("model request pool full");
    return -1;
}

static void free_req(int k)
{
    struct mreq *q = &M.r[k];
    if (q->kind == K_WAIT) {
        struct mcond *c = &M.c[q->cond];
        FX_REQUIRE(c->refs > 0);
        if (--c->refs == 0)
            c->bound = -1;
    }
    M.s[q->slot].npending--;
    q->live = false;
}

static void q_push(int *q, int *qn, int k)
{
    FX_REQUIRE(*qn < QMAX);
    q[(*qn)++] = k;
}

static void q_remove(int *q, int *qn, int k)
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

static void expect(int slot, uint64_t req, int op, int status, int lock)
{
    FX_REQUIRE(M.nexp < MAXREP);
    M.exp[M.nexp++] = (struct rep){
        .slot = slot, .req = req, .op = op, .status = status, .lock = lock, .sem = -1, .index = -1};
}

static bool sem_exists(int i)
{
    const struct msem *m = &M.sm[i];
    if (m->qn > 0 || m->counter != m->value)
        return true;
    for (int x = 0; x < NS; x++)
        for (int o = 0; o <= NO; o++)
            if (m->held[x][o] > 0)
                return true;
    return false;
}

static uint64_t sem_held(int i)
{
    uint64_t h = 0;
    for (int x = 0; x < NS; x++)
        for (int o = 0; o <= NO; o++)
            h += M.sm[i].held[x][o];
    return h;
}

/* Hands permits to the queue head while the counter allows (strict FIFO). */
static void m_sem_hand_on(int i)
{
    struct msem *m = &M.sm[i];
    while (m->counter > 0 && m->qn > 0) {
        int k = m->q[0];
        struct mreq *q = &M.r[k];
        q_remove(m->q, &m->qn, k);
        m->counter--;
        m->held[q->slot][q->owner]++;
        FX_REQUIRE(M.nexp < MAXREP);
        M.exp[M.nexp++] = (struct rep){.slot = q->slot,
                                       .req = q->req,
                                       .op = ENGINE_OP_SEM_ACQUIRE,
                                       .status = S_OK,
                                       .lock = -1,
                                       .sem = i,
                                       .owner = q->owner,
                                       .index = -1};
        M.sem_grants++;
        free_req(k);
    }
}

/* Removes a pending SemAcquire / EventWait / BarrierWait from its queue. */
static void m_unqueue(int k)
{
    struct mreq *q = &M.r[k];
    if (q->kind == K_SEM)
        q_remove(M.sm[q->obj].q, &M.sm[q->obj].qn, k);
    else if (q->kind == K_EVW)
        q_remove(M.ev[q->obj].q, &M.ev[q->obj].qn, k);
    else
        q_remove(M.b[q->obj].q, &M.b[q->obj].qn, k);
}

static int kind_op(int kind)
{
    static const int ops[] = {ENGINE_OP_ACQUIRE, ENGINE_OP_WAIT, ENGINE_OP_SEM_ACQUIRE,
                              ENGINE_OP_EVENT_WAIT, ENGINE_OP_BARRIER_WAIT};
    return ops[kind];
}

static bool m_free(int l)
{
    return M.l[l].hslot < 0 && M.l[l].nsh == 0;
}

/* Adds (slot, owner) as a shared holder of l (token 0 until the reply or the call gives it). */
static void m_add_shared(int l, int slot, uint64_t owner, uint64_t req, uint64_t token)
{
    struct mlock *ml = &M.l[l];
    FX_EQ(ml->hslot, -1);
    FX_REQUIRE(ml->nsh < SHMAX);
    ml->sh[ml->nsh++] =
        (struct mshared){.slot = slot, .owner = owner, .req = req, .token = token, .seq = ++M.seq};
    M.shared_grants++;
    if ((uint64_t)ml->nsh > M.max_shared)
        M.max_shared = (uint64_t)ml->nsh;
}

/* Grants lock l (free, or held shared for a shared acquire) to request k (not in a queue) and
 * expects its reply. */
static void m_grant(int l, int k)
{
    struct mlock *ml = &M.l[l];
    struct mreq *q = &M.r[k];
    FX_EQ(ml->hslot, -1);
    if (q->kind == K_ACQ && q->shared) {
        m_add_shared(l, q->slot, q->owner, q->req, 0);
        expect(q->slot, q->req, ENGINE_OP_ACQUIRE, S_OK, l);
        M.exp[M.nexp - 1].shared = true;
        free_req(k);
        return;
    }
    FX_EQ(ml->nsh, 0);
    ml->hslot = q->slot;
    ml->howner = q->owner;
    ml->hseq = ++M.seq;
    ml->token = 0; /* filled in from the reply */
    expect(q->slot, q->req, q->kind == K_ACQ ? ENGINE_OP_ACQUIRE : ENGINE_OP_WAIT,
           q->kind == K_ACQ ? S_OK : q->final, l);
    free_req(k);
}

static bool m_is_shared_req(int k)
{
    return M.r[k].kind == K_ACQ && M.r[k].shared;
}

/* Grants the queue head of l, and every shared request behind a shared head, as far as the
 * holders allow (the engine's elock_grant_ready()). */
static void m_hand_on(int l)
{
    struct mlock *ml = &M.l[l];
    int granted = 0;
    while (ml->qn > 0 && ml->hslot < 0) {
        int k = ml->q[0];
        if (!m_is_shared_req(k) && ml->nsh > 0)
            break;
        q_remove(ml->q, &ml->qn, k);
        m_grant(l, k);
        granted++;
    }
    if (granted > 1)
        M.shared_batches++;
}

static void m_release(int l)
{
    struct mlock *ml = &M.l[l];
    ml->hslot = -1;
    ml->howner = 0;
    ml->token = 0;
    m_hand_on(l);
}

/* The oldest shared hold of (slot, owner) on l, or -1. */
static int m_shared_idx(int l, int slot, uint64_t owner)
{
    for (int i = 0; i < M.l[l].nsh; i++)
        if (M.l[l].sh[i].slot == slot && M.l[l].sh[i].owner == owner)
            return i;
    return -1;
}

static void m_release_shared(int l, int i)
{
    struct mlock *ml = &M.l[l];
    memmove(&ml->sh[i], &ml->sh[i + 1], (size_t)(ml->nsh - i - 1) * sizeof ml->sh[0]);
    ml->nsh--;
    m_hand_on(l);
}

/* Moves wait k from its condition's queue to its lock with status. */
static void m_to_lock(int k, int status)
{
    struct mreq *q = &M.r[k];
    struct mcond *c = &M.c[q->cond];
    q_remove(c->q, &c->qn, k);
    q->where = IN_LOCKQ;
    q->final = status;
    struct mlock *ml = &M.l[q->lock];
    if (m_free(q->lock)) {
        FX_EQ(ml->qn, 0);
        m_grant(q->lock, k);
    } else {
        q_push(ml->q, &ml->qn, k);
    }
}

/* A notified wait k gives up its notification: the next waiter gets it, if any. */
static void m_pass_on(int k)
{
    struct mcond *c = &M.c[M.r[k].cond];
    if (c->qn > 0)
        m_to_lock(c->q[0], S_OK);
    else
        M.lost++;
}

/* Holds l exclusively (what conditions need). */
static bool m_holds(int slot, uint64_t owner, int l)
{
    return M.l[l].hslot == slot && M.l[l].howner == owner;
}

/* Holds l in either mode. */
static bool m_holds_any(int slot, uint64_t owner, int l)
{
    return m_holds(slot, owner, l) || m_shared_idx(l, slot, owner) >= 0;
}

/* Can request k still time out? A timed acquire until answered; a timed wait until it leaves
 * its condition (notified, cancelled or timed out), from which point it only re-acquires. */
static bool m_timer_armed(int k)
{
    const struct mreq *q = &M.r[k];
    return q->live && q->timed && (q->kind != K_WAIT || q->where == IN_CONDQ);
}

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
static void match_replies(void)
{
    qsort(M.exp, (size_t)M.nexp, sizeof M.exp[0], rep_cmp);
    struct rep act[MAXREP];
    memcpy(act, M.act, (size_t)M.nact * sizeof act[0]);
    qsort(act, (size_t)M.nact, sizeof act[0], rep_cmp);
    if (M.nexp != M.nact)
        ck_abort_msg("expected %d replies, got %d", M.nexp, M.nact);
    for (int i = 0; i < M.nexp; i++) {
        FX_EQ(act[i].slot, M.exp[i].slot);
        FX_EQ(act[i].req, M.exp[i].req);
        FX_EQ(act[i].op, M.exp[i].op);
        FX_EQ(act[i].status, M.exp[i].status);
        FX_EQ(act[i].index, M.exp[i].index < 0 ? 0 : M.exp[i].index);
        if (M.exp[i].lock >= 0 && M.exp[i].shared) {
            FX_REQUIRE(act[i].token > 0);
            struct mlock *ml = &M.l[M.exp[i].lock];
            int j = 0;
            while (j < ml->nsh &&
                   (ml->sh[j].slot != M.exp[i].slot || ml->sh[j].req != M.exp[i].req))
                j++;
            FX_REQUIRE(j < ml->nsh);
            FX_EQ(ml->sh[j].token, 0);
            ml->sh[j].token = act[i].token;
        } else if (M.exp[i].lock >= 0) {
            FX_REQUIRE(act[i].token > 0);
            M.l[M.exp[i].lock].token = act[i].token;
        } else if (M.exp[i].sem >= 0) {
            FX_REQUIRE(act[i].token > 0);
            uint64_t *t = &M.sm[M.exp[i].sem].tok[M.exp[i].slot][M.exp[i].owner];
            if (act[i].token > *t)
                *t = act[i].token;
        } else {
            FX_EQ(act[i].token, 0);
        }
    }
    M.nexp = M.nact = 0;
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
    size_t n = engine_queue_visit(F.e, is_cond, (const uint8_t *)name, strlen(name), q_visit, out);
    FX_EQ(n, (size_t)out->n);
}

static bool same_req(const struct engine_queued_info *e, int k)
{
    const struct mreq *q = &M.r[k];
    return e->session_id == (uint64_t)q->slot + 1 && e->req_id == q->req;
}

static void check_queue_equal(const struct qseen *e, const int *q, int qn)
{
    FX_EQ(e->n, qn);
    for (int i = 0; i < qn; i++) {
        const struct mreq *r = &M.r[q[i]];
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
        if (ci->name_len == strlen(cond_names[c]) &&
            memcmp(ci->name, cond_names[c], ci->name_len) == 0) {
            cs->found[c] = true;
            cs->waiters[c] = ci->waiters;
            cs->lock[c] = -1;
            for (int l = 0; l < NL; l++)
                if (ci->lock_len == strlen(lock_names[l]) &&
                    memcmp(ci->lock, lock_names[l], ci->lock_len) == 0)
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
    ss->cur = name_idx(sem_names, NSEM, si->name, si->name_len);
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
    int i = name_idx(ev_names, NEV, ei->name, ei->name_len);
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
    engine_list_sems(F.e, (const uint8_t *)"S", 1, 100, sem_visit, sem_holder_visit, &ss);
    for (int i = 0; i < NSEM; i++) {
        struct msem *m = &M.sm[i];
        bool ex = sem_exists(i);
        uint64_t held = sem_held(i);
        FX_EQ(ss.found[i], ex);
        bool e_exists, e_locked;
        uint64_t e_counter, e_held;
        FX_EQ(engine_sem_locked(F.e, (const uint8_t *)sem_names[i], strlen(sem_names[i]), &e_exists,
                                &e_locked, &e_counter, &e_held, NULL),
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
    engine_list_events(F.e, (const uint8_t *)"E", 1, 100, ev_visit, &es);
    for (int i = 0; i < NEV; i++) {
        struct mev *m = &M.ev[i];
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
        FX_EQ(
            engine_event_is_set(F.e, (const uint8_t *)ev_names[i], strlen(ev_names[i]), &set, NULL),
            S_OK);
        FX_EQ(set, m->set);
    }
    FX_EQ(st->events, evs);
    FX_EQ(st->events_set, evs_set);
    FX_EQ(st->event_waiters, ev_waiters);

    uint64_t bars = 0, bars_broken = 0, bar_waiters = 0;
    for (int i = 0; i < NBAR; i++) {
        struct mbar *m = &M.b[i];
        bool ex = m->broken || m->qn > 0;
        struct engine_barrier_info bi;
        FX_EQ(engine_barrier_state(F.e, (const uint8_t *)bar_names[i], strlen(bar_names[i]), &bi,
                                   NULL),
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
    hs->cur = name_idx(lock_names, NL, li->name, li->name_len);
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
    engine_list_holders(F.e, (const uint8_t *)"L", 1, 100, holders_lock_visit, holders_holder_visit,
                        NULL, &hs);
    for (int l = 0; l < NL; l++) {
        const struct mlock *ml = &M.l[l];
        FX_REQUIRE(ml->hslot < 0 || ml->nsh == 0); /* the model's own invariant */
        FX_EQ(hs.found[l], !m_free(l));
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
                FX_REQUIRE(!m_is_shared_req(ml->q[0]));
        } else {
            FX_EQ(hs.h[l][0].session_id, (uint64_t)ml->hslot + 1);
            FX_EQ(hs.h[l][0].owner, ml->howner);
            FX_EQ(hs.h[l][0].token, ml->token);
        }
    }
}

static void check_state(void)
{
    uint64_t held = 0, lock_waiters = 0, conds = 0, cond_waiters = 0, sessions = 0;
    uint64_t shared_locks = 0, shared_holders = 0;
    check_holders(&shared_locks, &shared_holders);
    for (int l = 0; l < NL; l++) {
        struct mlock *ml = &M.l[l];
        uint64_t sid, owner, token, waiters;
        bool h = fx_holder(&F, lock_names[l], &sid, &owner, &token, &waiters);
        FX_EQ(h, !m_free(l));
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
        FX_EQ(fx_locked(&F, lock_names[l]), h);
        struct qseen e;
        engine_q(false, lock_names[l], &e);
        check_queue_equal(&e, ml->q, ml->qn);
        for (int i = 0; i < ml->qn; i++)
            FX_EQ(M.r[ml->q[i]].where, IN_LOCKQ);
        lock_waiters += (uint64_t)ml->qn;
    }
    struct cond_seen cs = {0};
    engine_list(F.e, (const uint8_t *)"C", 1, 100, NULL, cond_visit, &cs);
    for (int c = 0; c < NC; c++) {
        struct mcond *mc = &M.c[c];
        int refs = 0;
        for (int k = 0; k < MAXREQ; k++)
            if (M.r[k].live && M.r[k].kind == K_WAIT && M.r[k].cond == c)
                refs++;
        FX_EQ(refs, mc->refs);
        FX_EQ(cs.found[c], mc->refs > 0);
        if (mc->refs > 0) {
            conds++;
            FX_EQ(cs.lock[c], mc->bound);
            FX_EQ(cs.waiters[c], (uint64_t)mc->qn);
        }
        struct qseen e;
        engine_q(true, cond_names[c], &e);
        check_queue_equal(&e, mc->q, mc->qn);
        cond_waiters += (uint64_t)mc->qn;
    }
    for (int i = 0; i < NS; i++) {
        if (M.s[i].open)
            sessions++;
        int np = 0;
        for (int k = 0; k < MAXREQ; k++)
            if (M.r[k].live && M.r[k].slot == i)
                np++;
        FX_EQ(np, M.s[i].npending);
    }
    size_t timers = 0;
    for (int k = 0; k < MAXREQ; k++)
        if (m_timer_armed(k))
            timers++;
    FX_EQ(fx_timers(&F), timers);
    struct engine_stats st = fx_stats(&F);
    FX_EQ(st.sessions, sessions);
    FX_EQ(st.locks, held);
    FX_EQ(st.locks_held, held);
    FX_EQ(st.locks_shared, shared_locks);
    FX_EQ(st.shared_holders, shared_holders);
    FX_EQ(st.lock_waiters, lock_waiters);
    FX_EQ(st.conditions, conds);
    FX_EQ(st.condition_waiters, cond_waiters);
    FX_EQ(st.last_token, M.last_token);
    check_sync_state(&st);
    /* notifications: every wake-up is answered OK, in flight, or had nobody to go to */
    uint64_t inflight = 0;
    for (int k = 0; k < MAXREQ; k++)
        if (M.r[k].live && M.r[k].kind == K_WAIT && M.r[k].where == IN_LOCKQ &&
            M.r[k].final == S_OK)
            inflight++;
    FX_EQ(M.woken, M.ok_replies + M.lost + M.shut + inflight);
}

/* ------------------------------------------------------------------ operations */

static double pick_timeout(bool allow_try, bool *timed, bool *try_once)
{
    int r = rn(100);
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
    return (double)(1 + rn(15)) / 10000.0; /* 0.1 .. 1.5 ms of the fake clock */
}

/* A request id for slot: usually fresh, sometimes one still pending (BAD_REQUEST). */
static uint64_t pick_req(int slot, bool *dup)
{
    *dup = false;
    if (rn(100) < 4) {
        for (int k = 0; k < MAXREQ; k++) {
            if (M.r[k].live && M.r[k].slot == slot) {
                *dup = true;
                return M.r[k].req;
            }
        }
    }
    return ++M.s[slot].next_req;
}

/* (slot, owner) of the holder of lock (random if < 0) most of the time, else anyone. */
static void pick_actor(int *slot, uint64_t *owner, int *lock)
{
    if (*lock < 0)
        *lock = rn(NL);
    const struct mlock *ml = &M.l[*lock];
    if (ml->hslot >= 0 && rn(100) < 80) {
        *slot = ml->hslot;
        *owner = ml->howner;
    } else if (ml->nsh > 0 && rn(100) < 80) {
        int i = rn(ml->nsh);
        *slot = ml->sh[i].slot;
        *owner = ml->sh[i].owner;
    } else {
        *slot = rn(NS);
        *owner = (uint64_t)(1 + rn(NO));
    }
}

/* The lock a wait or notify on c names: its bound lock (or L0) mostly, sometimes any. */
static int usual_lock(int c)
{
    if (rn(100) < 10)
        return rn(NL);
    return M.c[c].refs > 0 ? M.c[c].bound : 0;
}

static void op_acquire(void)
{
    int slot = rn(NS), l = rn(NL);
    uint64_t owner = (uint64_t)(1 + rn(NO));
    bool dup, timed, try_once;
    uint64_t req = pick_req(slot, &dup);
    double t = pick_timeout(true, &timed, &try_once);
    bool shared = rn(100) < 35;
    /* shared: free, or held shared with nobody queued (no barging past a queued writer) */
    bool at_once = shared ? M.l[l].hslot < 0 && M.l[l].qn == 0 : m_free(l);
    int want;
    if (dup)
        want = S_BAD_REQUEST;
    else if (m_holds_any(slot, owner, l))
        want = S_ALREADY_OWNER;
    else if (at_once)
        want = S_OK;
    else if (try_once)
        want = S_TIMEOUT;
    else if (M.s[slot].npending >= PEND_LIMIT)
        want = S_LIMIT_EXCEEDED;
    else
        want = S_PENDING;
    uint64_t token = 0;
    int got = shared ? fx_acquire_shared(&F, slot, req, lock_names[l], owner, t, &token)
                     : fx_acquire(&F, slot, req, lock_names[l], owner, t, &token);
    FX_EQ(got, want);
    if (want == S_OK && shared) {
        FX_REQUIRE(token > M.last_token);
        M.last_token = token;
        m_add_shared(l, slot, owner, req, token);
    } else if (want == S_OK) {
        FX_REQUIRE(token > M.last_token);
        M.last_token = token;
        M.l[l].hslot = slot;
        M.l[l].howner = owner;
        M.l[l].hseq = ++M.seq;
        M.l[l].token = token;
    } else if (want == S_PENDING) {
        M.acq_pending++;
        int k = new_req(slot, req, owner, K_ACQ, l, -1, timed, t);
        M.r[k].where = IN_LOCKQ;
        M.r[k].shared = shared;
        q_push(M.l[l].q, &M.l[l].qn, k);
    }
}

static void op_release(void)
{
    int slot, l = -1;
    uint64_t owner;
    pick_actor(&slot, &owner, &l);
    int si = m_shared_idx(l, slot, owner);
    int want = m_holds_any(slot, owner, l) ? S_OK : S_NOT_OWNER;
    if (m_holds(slot, owner, l))
        m_release(l);
    else if (si >= 0)
        m_release_shared(l, si); /* the oldest of its shared holds */
    FX_EQ(fx_release(&F, slot, lock_names[l], owner), want);
}

static void op_wait(void)
{
    /* conditions mostly stay with their lock (C0 and C1 share L0), sometimes not */
    int c = rn(NC);
    int slot, l = usual_lock(c);
    uint64_t owner;
    pick_actor(&slot, &owner, &l);
    bool dup, timed, try_once;
    uint64_t req = pick_req(slot, &dup);
    double t = pick_timeout(false, &timed, &try_once);
    int want;
    if (dup)
        want = S_BAD_REQUEST;
    else if (!m_holds(slot, owner, l)) /* a shared holder too: conditions need exclusive */
        want = S_NOT_OWNER;
    else if (M.c[c].refs > 0 && M.c[c].bound != l)
        want = S_LOCK_MISMATCH;
    else if (M.s[slot].npending >= PEND_LIMIT)
        want = S_LIMIT_EXCEEDED;
    else
        want = S_PENDING;
    if (want == S_PENDING) {
        M.waits_pending++;
        int k = new_req(slot, req, owner, K_WAIT, l, c, timed, t);
        M.r[k].where = IN_CONDQ;
        M.c[c].refs++;
        M.c[c].bound = l;
        q_push(M.c[c].q, &M.c[c].qn, k);
        m_release(l);
    }
    FX_EQ(fx_wait(&F, slot, req, cond_names[c], lock_names[l], owner, t), want);
}

static void op_notify(void)
{
    int c = rn(NC);
    int slot, l = usual_lock(c);
    uint64_t owner;
    pick_actor(&slot, &owner, &l);
    static const uint64_t ns[] = {0, 1, 1, 1, 2, 3, UINT64_MAX};
    uint64_t n = ns[rn((int)(sizeof ns / sizeof ns[0]))];
    int want;
    uint64_t want_woken = 0;
    if (!m_holds(slot, owner, l)) {
        if (m_shared_idx(l, slot, owner) >= 0)
            M.shared_refused_cond++;
        want = S_NOT_OWNER;
    } else if (M.c[c].refs == 0) {
        want = S_OK;
    } else if (M.c[c].bound != l) {
        want = S_LOCK_MISMATCH;
    } else {
        want = S_OK;
        while (want_woken < n && M.c[c].qn > 0) {
            m_to_lock(M.c[c].q[0], S_OK);
            want_woken++;
        }
    }
    uint64_t woken = 0;
    FX_EQ(fx_notify(&F, slot, cond_names[c], lock_names[l], owner, n, &woken), want);
    FX_EQ(woken, want_woken);
    M.woken += woken;
}

static void op_cancel(void)
{
    int slot = rn(NS);
    uint64_t target = M.s[slot].next_req > 0 ? 1 + rnd() % M.s[slot].next_req : 1;
    if (rn(100) < 75) {
        for (int k = 0, skip = rn(MAXREQ); k < MAXREQ; k++) {
            int j = (k + skip) % MAXREQ;
            if (M.r[j].live && M.r[j].slot == slot) {
                target = M.r[j].req;
                break;
            }
        }
    }
    int k = find_req(slot, target);
    int want = S_NOT_FOUND;
    if (k >= 0) {
        struct mreq *q = &M.r[k];
        if (q->kind >= K_SEM) {
            want = S_OK;
            m_unqueue(k);
            expect(slot, target, kind_op(q->kind), S_CANCELLED, -1);
            free_req(k);
        } else if (q->kind == K_ACQ) {
            want = S_OK;
            int l = q->lock;
            q_remove(M.l[l].q, &M.l[l].qn, k);
            expect(slot, target, ENGINE_OP_ACQUIRE, S_CANCELLED, -1);
            free_req(k);
            m_hand_on(l); /* the readers behind a cancelled writer go in */
        } else if (q->where == IN_CONDQ) {
            want = S_OK;
            m_to_lock(k, S_CANCELLED);
        } else if (q->final == S_OK) {
            want = S_OK;
            q->final = S_CANCELLED;
            m_pass_on(k);
        }
    }
    if (want == S_OK)
        M.cancels_ok++;
    FX_EQ(fx_cancel(&F, slot, target), want);
}

static void m_close(int slot)
{
    for (;;) {
        int newest = -1;
        for (int k = 0; k < MAXREQ; k++)
            if (M.r[k].live && M.r[k].slot == slot && (newest < 0 || M.r[k].seq > M.r[newest].seq))
                newest = k;
        if (newest < 0)
            break;
        struct mreq *q = &M.r[newest];
        if (q->kind >= K_SEM) {
            m_unqueue(newest);
        } else if (q->kind == K_ACQ) {
            int l = q->lock;
            q_remove(M.l[l].q, &M.l[l].qn, newest);
            free_req(newest);
            m_hand_on(l);
            continue;
        } else if (q->where == IN_CONDQ) {
            q_remove(M.c[q->cond].q, &M.c[q->cond].qn, newest);
        } else {
            int l = q->lock;
            q_remove(M.l[l].q, &M.l[l].qn, newest);
            if (q->final == S_OK)
                m_pass_on(newest);
            free_req(newest);
            m_hand_on(l);
            continue;
        }
        free_req(newest);
    }
    /* then its holds, newest first, in either mode */
    for (;;) {
        int newest = -1, newest_sh = -1;
        uint64_t newest_seq = 0;
        for (int l = 0; l < NL; l++) {
            if (M.l[l].hslot == slot && M.l[l].hseq > newest_seq) {
                newest = l;
                newest_sh = -1;
                newest_seq = M.l[l].hseq;
            }
            for (int i = 0; i < M.l[l].nsh; i++) {
                if (M.l[l].sh[i].slot == slot && M.l[l].sh[i].seq > newest_seq) {
                    newest = l;
                    newest_sh = i;
                    newest_seq = M.l[l].sh[i].seq;
                }
            }
        }
        if (newest < 0)
            break;
        if (newest_sh >= 0)
            m_release_shared(newest, newest_sh);
        else
            m_release(newest);
    }
    /* then every permit it holds goes back, each handed to the queue head */
    for (int i = 0; i < NSEM; i++) {
        for (int o = 0; o <= NO; o++) {
            while (M.sm[i].held[slot][o] > 0) {
                M.sm[i].held[slot][o]--;
                M.sm[i].counter++;
                m_sem_hand_on(i);
            }
            M.sm[i].tok[slot][o] = 0;
        }
    }
    M.s[slot].open = false;
}

static void op_close_reopen(void)
{
    int slot = rn(NS);
    m_close(slot);
    fx_close(&F, slot);
    match_replies();
    fx_open(&F, slot);
    M.s[slot].open = true;
}

/* Advances the clock. The model times out, in deadline order (ties: arrival order), every
 * request whose deadline the clock reaches, each with the state its predecessors left. */
static void op_advance(void)
{
    double dt = rn(4) == 0 ? 0 : (double)(1 + rn(20)) / 20000.0; /* 0, or 0.05 .. 1 ms */
    double until = fx_now(&F) + dt; /* the same sum the fake clock computes */
    for (;;) {
        int next = -1;
        for (int k = 0; k < MAXREQ; k++) {
            if (!m_timer_armed(k) || M.r[k].deadline > until)
                continue;
            if (next < 0 || M.r[k].deadline < M.r[next].deadline ||
                (M.r[k].deadline == M.r[next].deadline && M.r[k].seq < M.r[next].seq))
                next = k;
        }
        if (next < 0)
            break;
        struct mreq *q = &M.r[next];
        if (q->kind >= K_SEM) {
            m_unqueue(next);
            expect(q->slot, q->req, kind_op(q->kind), S_TIMEOUT, -1);
            free_req(next);
        } else if (q->kind == K_ACQ) {
            int l = q->lock;
            q_remove(M.l[l].q, &M.l[l].qn, next);
            expect(q->slot, q->req, ENGINE_OP_ACQUIRE, S_TIMEOUT, -1);
            free_req(next);
            m_hand_on(l); /* the readers behind a timed-out writer go in */
        } else {
            m_to_lock(next, S_TIMEOUT); /* granted at once when the lock is free */
        }
        M.timeouts++;
    }
    fx_advance(&F, dt);
}

/* ------------------------------------------------------------------ semaphores, events, barriers
 */

static void begin_req(int slot, uint64_t req)
{
    F.cur_s = &F.ss[slot];
    F.cur_req = req;
    F.cur_active = true;
}

static void end_req(void)
{
    F.cur_active = false;
}

/* Value and kind a semaphore request names: mostly the ones it exists with (or its usual ones),
 * sometimes another value or kind (VALUE_MISMATCH while it exists, else it creates it so). */
static void pick_sem(int i, uint64_t *value, bool *bounded)
{
    bool ex = sem_exists(i);
    *value = ex ? M.sm[i].value : sem_value[i];
    *bounded = ex ? M.sm[i].bounded : sem_bounded[i];
    int r = rn(100);
    if (r < 4)
        *bounded = !*bounded;
    else if (r < 8)
        *value = *value == 1 ? 2 : *value - 1;
}

/* A request that finds semaphore i absent brings it into existence with value and kind. */
static void sem_touch(int i, uint64_t value, bool bounded)
{
    if (sem_exists(i))
        return;
    struct msem *m = &M.sm[i];
    m->value = value;
    m->bounded = bounded;
    m->counter = value;
    m->posts = 0;
}

static bool sem_mismatch(int i, uint64_t value, bool bounded)
{
    return sem_exists(i) && (M.sm[i].value != value || M.sm[i].bounded != bounded);
}

static void op_sem_acquire(void)
{
    int slot = rn(NS), i = rn(NSEM);
    uint64_t owner = (uint64_t)(1 + rn(NO));
    uint64_t value;
    bool bounded, dup, timed, try_once;
    pick_sem(i, &value, &bounded);
    uint64_t req = pick_req(slot, &dup);
    double t = pick_timeout(true, &timed, &try_once);
    struct msem *m = &M.sm[i];
    int want;
    if (dup)
        want = S_BAD_REQUEST;
    else if (sem_mismatch(i, value, bounded))
        want = S_VALUE_MISMATCH;
    else if ((sem_exists(i) ? m->counter : value) > 0 && m->qn == 0)
        want = S_OK;
    else if (try_once)
        want = S_TIMEOUT;
    else if (M.s[slot].npending >= PEND_LIMIT)
        want = S_LIMIT_EXCEEDED;
    else
        want = S_PENDING;
    uint64_t token = 0;
    const char *msg = NULL;
    begin_req(slot, req);
    int got =
        engine_sem_acquire(F.ss[slot].s, req, (const uint8_t *)sem_names[i], strlen(sem_names[i]),
                           value, bounded, owner, t == FX_FOREVER ? NULL : &t, &token, &msg);
    end_req();
    FX_EQ(got, want);
    if (want != S_OK && want != S_PENDING)
        FX_REQUIRE(msg != NULL);
    if (want == S_OK) {
        sem_touch(i, value, bounded);
        FX_REQUIRE(m->counter > 0); /* a grant never goes beyond the counter */
        FX_REQUIRE(token > M.last_token);
        M.last_token = token;
        m->counter--;
        m->held[slot][owner]++;
        m->tok[slot][owner] = token;
        M.sem_grants++;
    } else {
        FX_EQ(token, 0);
        if (want == S_PENDING) {
            sem_touch(i, value, bounded);
            int k = new_req(slot, req, owner, K_SEM, -1, -1, timed, t);
            M.r[k].obj = i;
            q_push(m->q, &m->qn, k);
        }
    }
}

static void op_sem_release(void)
{
    int i = rn(NSEM), slot = rn(NS);
    uint64_t owner = (uint64_t)(1 + rn(NO));
    struct msem *m = &M.sm[i];
    /* mostly a holder releases */
    if (rn(100) < 75) {
        for (int k = 0, skip = rn(NS * NO); k < NS * NO; k++) {
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
        m_sem_hand_on(i);
    } else if (!bounded) {
        want = S_OK;
        sem_touch(i, value, bounded);
        m->counter++;
        m->posts++;
        M.sem_posts++;
        m_sem_hand_on(i);
    } else {
        want = S_NOT_OWNER; /* BoundedSemaphore released too many times */
        M.sem_refused++;
    }
    const char *msg = NULL;
    int got = engine_sem_release(F.ss[slot].s, (const uint8_t *)sem_names[i], strlen(sem_names[i]),
                                 value, bounded, owner, &msg);
    FX_EQ(got, want);
    if (got != S_OK)
        FX_REQUIRE(msg != NULL);
}

static void op_ev_set(void)
{
    int i = rn(NEV);
    struct mev *m = &M.ev[i];
    uint64_t want_woken = (uint64_t)m->qn;
    while (m->qn > 0) {
        int k = m->q[0];
        q_remove(m->q, &m->qn, k);
        expect(M.r[k].slot, M.r[k].req, ENGINE_OP_EVENT_WAIT, S_OK, -1);
        free_req(k);
    }
    m->set = true;
    M.ev_woken += want_woken;
    uint64_t woken = UINT64_MAX;
    FX_EQ(engine_event_set(F.e, (const uint8_t *)ev_names[i], strlen(ev_names[i]), &woken, NULL),
          S_OK);
    FX_EQ(woken, want_woken);
}

static void op_ev_clear(void)
{
    int i = rn(NEV);
    M.ev[i].set = false;
    FX_EQ(engine_event_clear(F.e, (const uint8_t *)ev_names[i], strlen(ev_names[i]), NULL), S_OK);
}

static void op_ev_wait(void)
{
    int slot = rn(NS), i = rn(NEV);
    bool dup, timed, try_once;
    uint64_t req = pick_req(slot, &dup);
    double t = pick_timeout(true, &timed, &try_once);
    struct mev *m = &M.ev[i];
    int want;
    if (dup)
        want = S_BAD_REQUEST;
    else if (m->set)
        want = S_OK;
    else if (try_once)
        want = S_TIMEOUT;
    else if (M.s[slot].npending >= PEND_LIMIT)
        want = S_LIMIT_EXCEEDED;
    else
        want = S_PENDING;
    if (want == S_PENDING) {
        int k = new_req(slot, req, 0, K_EVW, -1, -1, timed, t);
        M.r[k].obj = i;
        q_push(m->q, &m->qn, k);
    }
    const char *msg = NULL;
    begin_req(slot, req);
    int got = engine_event_wait(F.ss[slot].s, req, (const uint8_t *)ev_names[i],
                                strlen(ev_names[i]), t == FX_FOREVER ? NULL : &t, &msg);
    end_req();
    FX_EQ(got, want);
}

static uint64_t pick_parties(int i)
{
    struct mbar *m = &M.b[i];
    bool ex = m->broken || m->qn > 0;
    int r = rn(100);
    if (r < 4)
        return 1;
    if (r < 8)
        return bar_parties[i] + 1;
    return ex ? m->parties : bar_parties[i];
}

/* Answers every waiter of barrier i with status (BROKEN); returns how many. */
static uint64_t m_bar_break(int i)
{
    struct mbar *m = &M.b[i];
    uint64_t n = (uint64_t)m->qn;
    while (m->qn > 0) {
        int k = m->q[0];
        q_remove(m->q, &m->qn, k);
        expect(M.r[k].slot, M.r[k].req, ENGINE_OP_BARRIER_WAIT, S_BROKEN, -1);
        free_req(k);
    }
    M.bar_broken += n;
    return n;
}

static void op_bar_wait(void)
{
    int slot = rn(NS), i = rn(NBAR);
    uint64_t parties = pick_parties(i);
    bool dup, timed, try_once;
    uint64_t req = pick_req(slot, &dup);
    double t = pick_timeout(true, &timed, &try_once);
    struct mbar *m = &M.b[i];
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
    else if (M.s[slot].npending >= PEND_LIMIT)
        want = S_LIMIT_EXCEEDED;
    else
        want = S_PENDING;
    int first_act = M.nact;
    if (want == S_OK) {
        /* the generation is released: waiters get 0..parties-2 in arrival order */
        for (int a = 0; m->qn > 0; a++) {
            int k = m->q[0];
            q_remove(m->q, &m->qn, k);
            expect(M.r[k].slot, M.r[k].req, ENGINE_OP_BARRIER_WAIT, S_OK, -1);
            M.exp[M.nexp - 1].index = a;
            free_req(k);
        }
        M.bar_fills++;
    } else if (want == S_PENDING) {
        m->parties = parties;
        int k = new_req(slot, req, 0, K_BAR, -1, -1, timed, t);
        M.r[k].obj = i;
        q_push(m->q, &m->qn, k);
    }
    uint32_t index = UINT32_MAX;
    const char *msg = NULL;
    begin_req(slot, req);
    int got =
        engine_barrier_wait(F.ss[slot].s, req, (const uint8_t *)bar_names[i], strlen(bar_names[i]),
                            parties, t == FX_FOREVER ? NULL : &t, &index, &msg);
    end_req();
    FX_EQ(got, want);
    if (got == S_OK) {
        /* the indices of this generation are exactly 0..parties-1, each once */
        bool seen[8] = {false};
        FX_REQUIRE(parties <= 8 && index < parties);
        seen[index] = true;
        uint64_t n = 1;
        for (int a = first_act; a < M.nact; a++) {
            if (M.act[a].op != ENGINE_OP_BARRIER_WAIT || M.act[a].status != S_OK)
                continue;
            FX_REQUIRE(M.act[a].index >= 0 && (uint64_t)M.act[a].index < parties);
            FX_REQUIRE(!seen[M.act[a].index]);
            seen[M.act[a].index] = true;
            n++;
        }
        FX_EQ(n, parties);
        FX_EQ(index, parties - 1);
    } else {
        FX_EQ(index, 0);
    }
}

static void op_bar_reset_abort(void)
{
    int i = rn(NBAR);
    bool abort = rn(2) == 0;
    uint64_t parties = rn(4) == 0 ? 0 : pick_parties(i);
    struct mbar *m = &M.b[i];
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
    int got = abort ? engine_barrier_abort(F.e, (const uint8_t *)bar_names[i], strlen(bar_names[i]),
                                           parties, &broken, &msg)
                    : engine_barrier_reset(F.e, (const uint8_t *)bar_names[i], strlen(bar_names[i]),
                                           parties, &broken, &msg);
    FX_EQ(got, want);
    FX_EQ(broken, want == S_OK ? want_broken : 0);
}

static void op_locked(void)
{
    int l = rn(NL);
    FX_EQ(fx_locked(&F, lock_names[l]), !m_free(l));
}

/* ------------------------------------------------------------------ the test */

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? strtoull(v, NULL, 0) : dflt;
}

static void run_seed(uint64_t seed, uint64_t steps)
{
    memset(&M, 0, sizeof M);
    M.rng = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int l = 0; l < NL; l++)
        M.l[l].hslot = -1;
    for (int c = 0; c < NC; c++)
        M.c[c].bound = -1;
    printf("check_engine_random: seed %" PRIu64 ", %" PRIu64 " steps\n", seed, steps);
    fflush(stdout);

    struct engine_limits lim = {.max_pending_per_session = PEND_LIMIT};
    fx_init(&F, &lim);
    F.hook = on_reply_hook;
    struct engine_stats base = fx_stats(&F);
    for (int i = 0; i < NS; i++) {
        fx_open(&F, i);
        M.s[i].open = true;
    }
    for (uint64_t step = 0; step < steps; step++) {
        int r = rn(135);
        int kind;
        if (r >= 100) {
            if (r < 111) {
                kind = 8;
                op_sem_acquire();
            } else if (r < 118) {
                kind = 9;
                op_sem_release();
            } else if (r < 120) {
                kind = 10;
                op_ev_set();
            } else if (r < 122) {
                kind = 11;
                op_ev_clear();
            } else if (r < 126) {
                kind = 12;
                op_ev_wait();
            } else if (r < 133) {
                kind = 13;
                op_bar_wait();
            } else {
                kind = 14;
                op_bar_reset_abort();
            }
        } else if (r < 30) {
            kind = 0;
            op_acquire();
        } else if (r < 45) {
            kind = 1;
            op_release();
        } else if (r < 58) {
            kind = 2;
            op_wait();
        } else if (r < 71) {
            kind = 3;
            op_notify();
        } else if (r < 81) {
            kind = 4;
            op_cancel();
        } else if (r < 84) {
            kind = 5;
            op_close_reopen();
        } else if (r < 96) {
            kind = 6;
            op_advance();
        } else {
            kind = 7;
            op_locked();
        }
        M.stat_steps[kind]++;
        match_replies();
        check_state();
        FX_EQ(F.violations, 0);
    }

    /* Shutdown answers every pending request; then every session closes. */
    for (int k = 0; k < MAXREQ; k++) {
        if (!M.r[k].live)
            continue;
        struct mreq *q = &M.r[k];
        if (q->kind == K_WAIT && q->where == IN_LOCKQ && q->final == S_OK)
            M.shut++;
        if (q->kind >= K_SEM)
            m_unqueue(k);
        else if (q->kind == K_ACQ || q->where == IN_LOCKQ)
            q_remove(M.l[q->lock].q, &M.l[q->lock].qn, k);
        else
            q_remove(M.c[q->cond].q, &M.c[q->cond].qn, k);
        expect(q->slot, q->req, kind_op(q->kind), S_SHUTTING_DOWN, -1);
        free_req(k);
    }
    engine_shutdown(F.e);
    match_replies();
    check_state();
    for (int i = 0; i < NS; i++) {
        m_close(i);
        fx_close(&F, i);
        match_replies();
        check_state();
    }
    /* clear the events and reset the barriers; posted permits keep their semaphore alive */
    for (int i = 0; i < NEV; i++) {
        M.ev[i].set = false;
        FX_EQ(engine_event_clear(F.e, (const uint8_t *)ev_names[i], strlen(ev_names[i]), NULL),
              S_OK);
    }
    for (int i = 0; i < NBAR; i++) {
        uint64_t broken = 1;
        M.b[i].broken = false;
        FX_EQ(engine_barrier_reset(F.e, (const uint8_t *)bar_names[i], strlen(bar_names[i]), 0,
                                   &broken, NULL),
              S_OK);
        FX_EQ(broken, 0);
    }
    check_state();
    int sems_left = 0;
    for (int i = 0; i < NSEM; i++) {
        if (sem_exists(i)) {
            sems_left++;
            FX_EQ(sem_held(i), 0);
            FX_EQ(M.sm[i].qn, 0);
            FX_REQUIRE(!M.sm[i].bounded && M.sm[i].counter > M.sm[i].value);
        }
    }
    struct engine_stats st = fx_stats(&F);
    FX_EQ(st.semaphores, (uint64_t)sems_left);
    FX_EQ(st.events, 0);
    FX_EQ(st.barriers, 0);
    FX_EQ(st.sessions, 0);
    FX_EQ(st.locks, 0);
    FX_EQ(st.locks_held, 0);
    FX_EQ(st.lock_waiters, 0);
    FX_EQ(st.conditions, 0);
    FX_EQ(st.condition_waiters, 0);
    if (sems_left == 0) {
        FX_EQ(st.entry_bytes, 0);
        FX_EQ(st.table_bytes, base.table_bytes);
    }
    printf("  steps: acquire %" PRIu64 " release %" PRIu64 " wait %" PRIu64 " notify %" PRIu64
           " cancel %" PRIu64 " close %" PRIu64 " advance %" PRIu64 "; woken %" PRIu64
           " ok-waits %" PRIu64 " passed-on-to-nobody %" PRIu64 "; pending: acquires %" PRIu64
           " waits %" PRIu64 "; cancelled %" PRIu64 " timed out %" PRIu64 "\n",
           M.stat_steps[0], M.stat_steps[1], M.stat_steps[2], M.stat_steps[3], M.stat_steps[4],
           M.stat_steps[5], M.stat_steps[6], M.woken, M.ok_replies, M.lost, M.acq_pending,
           M.waits_pending, M.cancels_ok, M.timeouts);
    printf("  shared: grants %" PRIu64 " batches %" PRIu64 " most holders %" PRIu64
           " wait/notify refused %" PRIu64 "\n",
           M.shared_grants, M.shared_batches, M.max_shared, M.shared_refused_cond);
    printf("  sem: acquire %" PRIu64 " release %" PRIu64 " grants %" PRIu64 " posts %" PRIu64
           " bounded-refused %" PRIu64 "; event: set %" PRIu64 " clear %" PRIu64 " wait %" PRIu64
           " woken %" PRIu64 "; barrier: wait %" PRIu64 " reset/abort %" PRIu64 " fills %" PRIu64
           " broken %" PRIu64 "\n",
           M.stat_steps[8], M.stat_steps[9], M.sem_grants, M.sem_posts, M.sem_refused,
           M.stat_steps[10], M.stat_steps[11], M.stat_steps[12], M.ev_woken, M.stat_steps[13],
           M.stat_steps[14], M.bar_fills, M.bar_broken);
    fflush(stdout);
    fx_fini(&F);
}

START_TEST(test_random_operations_match_the_model)
{
    uint64_t steps = env_u64("CONDD_STEPS", DEFAULT_STEPS);
    if (getenv("CONDD_SEED") != NULL) {
        if (_i == 0)
            run_seed(env_u64("CONDD_SEED", seeds[0]), steps);
        return;
    }
    run_seed(seeds[_i], steps);
}
END_TEST

static Suite *random_suite(void)
{
    Suite *s = suite_create("engine randomized");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_random_operations_match_the_model, 0,
                        (int)(sizeof seeds / sizeof seeds[0]));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(random_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
