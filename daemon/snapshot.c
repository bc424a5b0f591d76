/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The daemon's whole state to bytes and back (see snapshot.h): maps the engine's export
 * visitor and restore functions (engine.h, "export and restore") and the sessions of resume.c
 * to and from proto/state.proto. The save builds the message in a pool that is freed at once;
 * the load checks the envelope (version, digest), then rebuilds everything into a scratch
 * engine and unstarted sessions, and only when every step and the final check passed swaps
 * them into the server, so a refused state changes nothing.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "clock.h"
#include "engine.h"
#include "frame.h"
#include "log.h"
#include "pool.h"
#include "resume.h"
#include "server_internal.h"
#include "snapshot.h"
#include "state.pb-c.h"

/* A state larger than this is refused before it is read (a billion held locks would not fit
 * anyway). */
#define SNAPSHOT_MAX_BYTES ((size_t)4 << 30)
#define SNAPSHOT_DIGEST_BYTES 32

/* ================================================================== save */

struct save {
    struct pool pool;
    struct server *srv;
    /* ids of the sessions saved, sorted, so a reference to any other fails the save; and, when
     * they span a range small enough, a bitmap of them from ids[0] on (one load per lookup
     * instead of a binary search for each of a hundred thousand holds) */
    uint64_t *ids;
    size_t nids;
    uint64_t *idmap;
    uint64_t idmap_span;
    /* every object of each kind, as exported */
    Condd__State__Cond **conds;
    Condd__State__Lock **locks;
    Condd__State__Sem **sems;
    Condd__State__Event **events;
    Condd__State__Barrier **barriers;
    size_t nconds, nlocks, nsems, nevents, nbarriers;
    size_t cap_conds, cap_locks, cap_sems, cap_events, cap_barriers;
    /* the object being filled: where its holds and pending requests go */
    Condd__State__Hold **holds;
    size_t *nholds, holds_cap;
    Condd__State__Pending **queue;
    size_t *nqueue, queue_cap;
    uint64_t nholders, nwaiters;
    uint64_t missing_session; /* a reference to a session not saved (0: none) */
    /* locks held exclusively with nobody queued, in columns (HeldLocks); col_next: the hold
     * that follows goes there */
    bool col_next;
    uint8_t *col_names;
    size_t col_names_len, col_names_cap;
    uint32_t *col_lens;
    uint64_t *col_sessions, *col_owners, *col_tokens;
    size_t ncol, col_cap;
};

/* Sizes the columns for n locks (the engine's count: most of them go there), so that they
 * are not copied at each doubling. A hint: on OOM they grow as needed. */
static void col_reserve(struct save *sv, size_t n)
{
    if (n == 0)
        return;
    sv->col_lens = malloc(n * sizeof *sv->col_lens);
    sv->col_sessions = malloc(n * sizeof *sv->col_sessions);
    sv->col_owners = malloc(n * sizeof *sv->col_owners);
    sv->col_tokens = malloc(n * sizeof *sv->col_tokens);
    if (sv->col_lens != NULL && sv->col_sessions != NULL && sv->col_owners != NULL &&
        sv->col_tokens != NULL)
        sv->col_cap = n;
    if ((sv->col_names = malloc(n * 16)) != NULL) /* names are short; a longer one grows it */
        sv->col_names_cap = n * 16;
}

/* Appends lock name to the columns (its hold follows). */
static bool col_add_name(struct save *sv, const uint8_t *name, size_t len)
{
    if (sv->ncol == sv->col_cap) {
        size_t c = sv->col_cap > 0 ? sv->col_cap * 2 : 1024;
        uint32_t *l = realloc(sv->col_lens, c * sizeof *l);
        if (l != NULL)
            sv->col_lens = l;
        uint64_t *a = realloc(sv->col_sessions, c * sizeof *a);
        if (a != NULL)
            sv->col_sessions = a;
        uint64_t *b = realloc(sv->col_owners, c * sizeof *b);
        if (b != NULL)
            sv->col_owners = b;
        uint64_t *t = realloc(sv->col_tokens, c * sizeof *t);
        if (t != NULL)
            sv->col_tokens = t;
        if (l == NULL || a == NULL || b == NULL || t == NULL)
            return false;
        sv->col_cap = c;
    }
    if (sv->col_names_cap - sv->col_names_len < len) {
        size_t c = sv->col_names_cap > 0 ? sv->col_names_cap : 16384;
        while (c - sv->col_names_len < len)
            c *= 2;
        uint8_t *n = realloc(sv->col_names, c);
        if (n == NULL)
            return false;
        sv->col_names = n;
        sv->col_names_cap = c;
    }
    memcpy(sv->col_names + sv->col_names_len, name, len);
    sv->col_names_len += len;
    sv->col_lens[sv->ncol] = (uint32_t)len;
    sv->col_next = true;
    return true;
}

static int id_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool save_known(struct save *sv, uint64_t id)
{
    if (sv->idmap != NULL) {
        uint64_t i = id - sv->ids[0]; /* wraps for an id below the first: out of the span */
        if (i < sv->idmap_span && (sv->idmap[i / 64] >> (i % 64) & 1) != 0)
            return true;
    } else if (bsearch(&id, sv->ids, sv->nids, sizeof id, id_cmp) != NULL) {
        return true;
    }
    sv->missing_session = id;
    return false;
}

/* Appends x to the growable array *arr (in the heap, not the pool: it may move). */
static bool push_ptr(void ***arr, size_t *n, size_t *cap, void *x)
{
    if (*n == *cap) {
        size_t c = *cap > 0 ? *cap * 2 : 64;
        void **na = realloc(*arr, c * sizeof *na);
        if (na == NULL)
            return false;
        *arr = na;
        *cap = c;
    }
    (*arr)[(*n)++] = x;
    return true;
}

/* Pointer arrays for the holds and queue of the object just exported (their counts are known). */
static bool save_arrays(struct save *sv, uint64_t nholds, uint64_t nqueued,
                        Condd__State__Hold ***holds, size_t *nh, Condd__State__Pending ***queue,
                        size_t *nq)
{
    sv->holds = NULL;
    sv->queue = NULL;
    sv->holds_cap = nholds;
    sv->queue_cap = nqueued;
    if (holds != NULL) {
        *holds = nholds > 0 ? pool_alloc(&sv->pool, nholds * sizeof **holds) : NULL;
        if (nholds > 0 && *holds == NULL)
            return false;
        sv->holds = *holds;
        sv->nholds = nh;
    }
    *queue = nqueued > 0 ? pool_alloc(&sv->pool, nqueued * sizeof **queue) : NULL;
    if (nqueued > 0 && *queue == NULL)
        return false;
    sv->queue = *queue;
    sv->nqueue = nq;
    return true;
}

static ProtobufCBinaryData save_bytes(const uint8_t *p, size_t n)
{
    return (ProtobufCBinaryData){.len = n, .data = (uint8_t *)p};
}

static bool save_object(void *arg, const struct engine_obj *o)
{
    struct save *sv = arg;
    struct pool *pl = &sv->pool;
    sv->col_next = false;
    if (o->kind == ENGINE_OBJ_LOCK && !o->shared && o->nholds == 1 && o->nqueued == 0)
        return col_add_name(sv, o->name, o->name_len);
    switch (o->kind) {
    case ENGINE_OBJ_COND: {
        Condd__State__Cond *m = pool_alloc(pl, sizeof *m);
        if (m == NULL)
            return false;
        condd__state__cond__init(m);
        m->name = save_bytes(o->name, o->name_len);
        m->lock = save_bytes(o->lock, o->lock_len);
        return save_arrays(sv, 0, o->nqueued, NULL, NULL, &m->queue, &m->n_queue) &&
               push_ptr((void ***)&sv->conds, &sv->nconds, &sv->cap_conds, m);
    }
    case ENGINE_OBJ_LOCK: {
        Condd__State__Lock *m = pool_alloc(pl, sizeof *m);
        if (m == NULL)
            return false;
        condd__state__lock__init(m);
        m->name = save_bytes(o->name, o->name_len);
        m->shared = o->shared;
        return save_arrays(sv, o->nholds, o->nqueued, &m->holders, &m->n_holders, &m->queue,
                           &m->n_queue) &&
               push_ptr((void ***)&sv->locks, &sv->nlocks, &sv->cap_locks, m);
    }
    case ENGINE_OBJ_SEM: {
        Condd__State__Sem *m = pool_alloc(pl, sizeof *m);
        if (m == NULL)
            return false;
        condd__state__sem__init(m);
        m->name = save_bytes(o->name, o->name_len);
        m->value = o->value;
        m->bounded = o->bounded;
        m->counter = o->counter;
        return save_arrays(sv, o->nholds, o->nqueued, &m->holders, &m->n_holders, &m->queue,
                           &m->n_queue) &&
               push_ptr((void ***)&sv->sems, &sv->nsems, &sv->cap_sems, m);
    }
    case ENGINE_OBJ_EVENT: {
        Condd__State__Event *m = pool_alloc(pl, sizeof *m);
        if (m == NULL)
            return false;
        condd__state__event__init(m);
        m->name = save_bytes(o->name, o->name_len);
        m->set = o->flag;
        return save_arrays(sv, 0, o->nqueued, NULL, NULL, &m->queue, &m->n_queue) &&
               push_ptr((void ***)&sv->events, &sv->nevents, &sv->cap_events, m);
    }
    case ENGINE_OBJ_BARRIER: {
        Condd__State__Barrier *m = pool_alloc(pl, sizeof *m);
        if (m == NULL)
            return false;
        condd__state__barrier__init(m);
        m->name = save_bytes(o->name, o->name_len);
        m->parties = o->value;
        m->broken = o->flag;
        return save_arrays(sv, 0, o->nqueued, NULL, NULL, &m->queue, &m->n_queue) &&
               push_ptr((void ***)&sv->barriers, &sv->nbarriers, &sv->cap_barriers, m);
    }
    }
    return false;
}

static bool save_hold(void *arg, const struct engine_obj_hold *h)
{
    struct save *sv = arg;
    if (sv->col_next) {
        if (!save_known(sv, h->session_id))
            return false;
        sv->col_sessions[sv->ncol] = h->session_id;
        sv->col_owners[sv->ncol] = h->owner;
        sv->col_tokens[sv->ncol] = h->token;
        sv->ncol++;
        sv->nholders++;
        sv->col_next = false;
        return true;
    }
    if (sv->holds == NULL || *sv->nholds >= sv->holds_cap || !save_known(sv, h->session_id))
        return false;
    Condd__State__Hold *m = pool_alloc(&sv->pool, sizeof *m);
    if (m == NULL)
        return false;
    condd__state__hold__init(m);
    m->session = h->session_id;
    m->owner = h->owner;
    m->token = h->token;
    m->permits = h->permits;
    sv->holds[(*sv->nholds)++] = m;
    sv->nholders++;
    return true;
}

static Condd__State__Pending__Op op_to_state(enum engine_op op)
{
    switch (op) {
    case ENGINE_OP_ACQUIRE:
        return CONDD__STATE__PENDING__OP__ACQUIRE;
    case ENGINE_OP_WAIT:
        return CONDD__STATE__PENDING__OP__WAIT;
    case ENGINE_OP_EVENT_WAIT:
        return CONDD__STATE__PENDING__OP__EVENT_WAIT;
    case ENGINE_OP_SEM_ACQUIRE:
        return CONDD__STATE__PENDING__OP__SEM_ACQUIRE;
    case ENGINE_OP_BARRIER_WAIT:
        return CONDD__STATE__PENDING__OP__BARRIER_WAIT;
    }
    return CONDD__STATE__PENDING__OP__ACQUIRE;
}

static bool op_from_state(int op, enum engine_op *out)
{
    switch (op) {
    case CONDD__STATE__PENDING__OP__ACQUIRE:
        *out = ENGINE_OP_ACQUIRE;
        return true;
    case CONDD__STATE__PENDING__OP__WAIT:
        *out = ENGINE_OP_WAIT;
        return true;
    case CONDD__STATE__PENDING__OP__EVENT_WAIT:
        *out = ENGINE_OP_EVENT_WAIT;
        return true;
    case CONDD__STATE__PENDING__OP__SEM_ACQUIRE:
        *out = ENGINE_OP_SEM_ACQUIRE;
        return true;
    case CONDD__STATE__PENDING__OP__BARRIER_WAIT:
        *out = ENGINE_OP_BARRIER_WAIT;
        return true;
    default:
        return false;
    }
}

/* A re-acquiring wait's final status on the file: 0 notified, 1 timed out, 2 cancelled. */
static uint32_t final_to_state(enum engine_status st)
{
    return st == ENGINE_TIMEOUT ? 1 : st == ENGINE_CANCELLED ? 2 : 0;
}

static bool final_from_state(uint32_t v, enum engine_status *out)
{
    static const enum engine_status map[] = {ENGINE_OK, ENGINE_TIMEOUT, ENGINE_CANCELLED};
    if (v >= sizeof map / sizeof map[0])
        return false;
    *out = map[v];
    return true;
}

static bool save_pending(void *arg, const struct engine_obj_pending *p)
{
    struct save *sv = arg;
    if (sv->queue == NULL || *sv->nqueue >= sv->queue_cap || !save_known(sv, p->session_id))
        return false;
    Condd__State__Pending *m = pool_alloc(&sv->pool, sizeof *m);
    if (m == NULL)
        return false;
    condd__state__pending__init(m);
    m->session = p->session_id;
    m->req_id = p->req_id;
    m->owner = p->owner;
    m->op = op_to_state(p->op);
    m->shared = p->shared;
    m->timed = p->timed;
    m->remaining_s = p->remaining_s;
    m->elapsed_s = p->elapsed_s;
    if (p->cond != NULL) {
        m->cond = save_bytes(p->cond, p->cond_len);
        m->final_status = final_to_state(p->final_status);
    }
    sv->queue[(*sv->nqueue)++] = m;
    sv->nwaiters++;
    return true;
}

/* Whole frames in buf[0..len). */
static uint64_t count_frames(const uint8_t *buf, size_t len)
{
    uint64_t n = 0;
    for (size_t off = 0; off + FRAME_HEADER_BYTES <= len; n++) {
        size_t plen = 0;
        if (frame_peek(buf + off, len - off, UINT32_MAX, &plen) != FRAME_OK)
            break;
        off += FRAME_HEADER_BYTES + plen;
    }
    return n;
}

/* Session ds; c is its connection when it is still attached (NULL: detached). */
static bool save_session(struct save *sv, Condd__State__State *st, const struct dsession *ds,
                         struct conn *c, double now, size_t cap, uint64_t *answers)
{
    if (st->n_sessions == cap)
        return false; /* cannot be: every session is counted in nsessions */
    Condd__State__Session *m = pool_alloc(&sv->pool, sizeof *m);
    if (m == NULL)
        return false;
    condd__state__session__init(m);
    m->id = ds->id;
    m->secret = save_bytes(ds->secret, sizeof ds->secret);
    m->grace_s = ds->grace;
    /* an attached session gets its full grace from the load on */
    m->remaining_s = ds->detached ? fmax(0, fmin(ds->deadline - now, ds->grace)) : ds->grace;
    m->client_name = (char *)ds->client_name;
    size_t alen;
    const uint8_t *a = resume_unacked(ds, &alen);
    m->answers = save_bytes(a, alen);
    m->overflow = ds->overflow;
    *answers += ds->nbuf;
    m->acks = ds->acks;
    m->requests = ds->nreq;
    m->responses = ds->nresp;
    m->first_answer = ds->rfirst;
    /* With acks, the answers not yet written are among the copies already. */
    if (c != NULL && !ds->acks) {
        /* Saved as its detach would keep it (resume_detach): the answers queued for the
         * connection and not yet written follow those already kept, and too many of them end
         * the session. A live restart saves while its half-closed connections drain (restart.c),
         * so these are the answers that connection will never write. */
        size_t ulen;
        const uint8_t *unsent = conn_unsent_frames(c, &ulen);
        if (ulen > 0) {
            uint64_t n = count_frames(unsent, ulen);
            if (ds->blen == 0) {
                m->answers = save_bytes(unsent, ulen);
            } else {
                uint8_t *b = pool_alloc(&sv->pool, ds->blen + ulen);
                if (b == NULL)
                    return false;
                memcpy(b, ds->buf, ds->blen);
                memcpy(b + ds->blen, unsent, ulen);
                m->answers = save_bytes(b, ds->blen + ulen);
            }
            if (ds->nbuf + n > sv->srv->settings.max_buffered_answers)
                m->overflow = true;
            *answers += n;
        }
    }
    st->sessions[st->n_sessions++] = m;
    sv->ids[sv->nids++] = ds->id;
    return true;
}

/* The sessions to save: every detached one and every attached one with a grace. */
static bool save_sessions(struct save *sv, Condd__State__State *st, uint64_t *answers)
{
    struct server *srv = sv->srv;
    size_t cap = srv->nsessions;
    st->sessions = cap > 0 ? pool_alloc(&sv->pool, cap * sizeof *st->sessions) : NULL;
    sv->ids = cap > 0 ? malloc(cap * sizeof *sv->ids) : NULL;
    if (cap > 0 && (st->sessions == NULL || sv->ids == NULL))
        return false;
    double now = server_now();
    struct dsession *ds;
    struct conn *c;
    /* the detached sessions, then those still attached (with a grace: the others are not
     * resumable, and a hold of theirs fails the save) */
    TAILQ_FOREACH(ds, &srv->detached, det_link)
    {
        if (!save_session(sv, st, ds, NULL, now, cap, answers))
            return false;
    }
    TAILQ_FOREACH(c, &srv->conns, link)
    {
        if (c->ds != NULL && !c->ds->detached && c->ds->grace > 0 &&
            !save_session(sv, st, c->ds, c, now, cap, answers))
            return false;
    }
    if (sv->nids > 1)
        qsort(sv->ids, sv->nids, sizeof *sv->ids, id_cmp);
    for (size_t i = 1; i < sv->nids; i++)
        if (sv->ids[i] == sv->ids[i - 1])
            return false;
    /* Session ids count up from 1, so the saved ones usually span a few times their number. */
    if (sv->nids > 0 && sv->ids[sv->nids - 1] - sv->ids[0] < (uint64_t)64 * sv->nids + 4096) {
        sv->idmap_span = sv->ids[sv->nids - 1] - sv->ids[0] + 1;
        sv->idmap = calloc((size_t)(sv->idmap_span + 63) / 64, sizeof *sv->idmap);
        for (size_t i = 0; sv->idmap != NULL && i < sv->nids; i++) {
            uint64_t b = sv->ids[i] - sv->ids[0];
            sv->idmap[b / 64] |= (uint64_t)1 << (b % 64);
        }
    }
    return true;
}

static Condd__State__Hist *save_hist(struct pool *pl, const struct stats_hist *h)
{
    Condd__State__Hist *m = pool_alloc(pl, sizeof *m);
    uint64_t *counts = pool_alloc(pl, sizeof h->counts);
    if (m == NULL || counts == NULL)
        return NULL;
    condd__state__hist__init(m);
    memcpy(counts, h->counts, sizeof h->counts);
    m->counts = counts;
    m->n_counts = STATS_LAT_BUCKETS + 1;
    m->count = h->count;
    m->sum = h->sum;
    return m;
}

static Condd__State__Counters *save_counters(struct pool *pl, const struct stats *s)
{
    Condd__State__Counters *m = pool_alloc(pl, sizeof *m);
    if (m == NULL)
        return NULL;
    condd__state__counters__init(m);
    size_t n = 0;
    for (int op = 0; op < STATS_OP_COUNT; op++)
        for (int st = 0; st < STATS_STATUS_COUNT; st++)
            n += s->ops[op][st] != 0;
    m->ops = n > 0 ? pool_alloc(pl, n * sizeof *m->ops) : NULL;
    if (n > 0 && m->ops == NULL)
        return NULL;
    for (int op = 0; op < STATS_OP_COUNT; op++)
        for (int st = 0; st < STATS_STATUS_COUNT; st++) {
            if (s->ops[op][st] == 0)
                continue;
            Condd__State__OpCount *oc = pool_alloc(pl, sizeof *oc);
            if (oc == NULL)
                return NULL;
            condd__state__op_count__init(oc);
            oc->op = (char *)stats_op_name((enum stats_op)op);
            oc->status = (uint32_t)st;
            oc->count = s->ops[op][st];
            m->ops[m->n_ops++] = oc;
        }
    m->connections_total = s->connections_total;
    m->connections_refused = s->connections_refused;
    m->session_expiries = s->session_expiries;
    m->protocol_errors = s->protocol_errors;
    m->auth_failures = s->auth_failures;
    m->permission_denials = s->permission_denials;
    m->bytes_in = s->bytes_in;
    m->bytes_out = s->bytes_out;
    m->resumes = s->resumes;
    m->resume_failures = s->resume_failures;
    m->sessions_expired_in_grace = s->sessions_expired_in_grace;
    m->tls_handshake_failures = s->tls_handshake_failures;
    m->tls_buffers_released = s->tls_buffers_released;
    m->tls_handshakes_refused = s->tls_handshakes_refused;
    m->grant_latency = save_hist(pl, &s->grant_latency);
    m->wait_latency = save_hist(pl, &s->wait_latency);
    return m->grant_latency != NULL && m->wait_latency != NULL ? m : NULL;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

bool snapshot_save(struct server *srv, int fd, struct snapshot_info *info)
{
    struct save sv = {.srv = srv};
    uint64_t answers = 0;
    uint8_t *state_buf = NULL, *out = NULL;
    size_t slen = 0, olen = 0;
    const char *fail = "out of memory";
    bool ok = false;
    /* Ended sessions still being taken apart are finished now: what they held is handed on (to
     * detached sessions, whose answers are kept) before anything is saved. */
    engine_reap_all(srv->engine);

    Condd__State__State st = CONDD__STATE__STATE__INIT;
    struct engine_stats es;
    engine_get_stats(srv->engine, &es);
    st.saved_mono_us = clk_mono_us();
    st.last_token = es.last_token;
    st.next_session_id = srv->next_session_id;
    if (!save_sessions(&sv, &st, &answers))
        goto out;
    col_reserve(&sv, es.locks);
    static const struct engine_export_fns fns = {save_object, save_hold, save_pending};
    if (!engine_export(srv->engine, &fns, &sv)) {
        if (sv.missing_session != 0)
            fail = "a lock or request of a session without grace (end those first)";
        goto out;
    }
    st.conds = sv.conds;
    st.n_conds = sv.nconds;
    st.locks = sv.locks;
    st.n_locks = sv.nlocks;
    st.sems = sv.sems;
    st.n_sems = sv.nsems;
    st.events = sv.events;
    st.n_events = sv.nevents;
    st.barriers = sv.barriers;
    st.n_barriers = sv.nbarriers;
    if ((st.counters = save_counters(&sv.pool, &srv->stats)) == NULL)
        goto out;
    Condd__State__HeldLocks held = CONDD__STATE__HELD_LOCKS__INIT;
    held.names = save_bytes(sv.col_names, sv.col_names_len);
    held.n_name_lens = held.n_sessions = held.n_owners = held.n_tokens = sv.ncol;
    held.name_lens = sv.col_lens;
    held.sessions = sv.col_sessions;
    held.owners = sv.col_owners;
    held.tokens = sv.col_tokens;
    st.held_locks = &held;

    slen = condd__state__state__get_packed_size(&st);
    state_buf = malloc(slen > 0 ? slen : 1);
    if (state_buf == NULL)
        goto out;
    condd__state__state__pack(&st, state_buf);
    uint8_t digest[SNAPSHOT_DIGEST_BYTES];
    crypto_generichash(digest, sizeof digest, state_buf, slen, NULL, 0);
    Condd__State__Snapshot snap = CONDD__STATE__SNAPSHOT__INIT;
    snap.version = SNAPSHOT_VERSION;
    snap.state = save_bytes(state_buf, slen);
    snap.blake2b = save_bytes(digest, sizeof digest);
    olen = condd__state__snapshot__get_packed_size(&snap);
    out = malloc(olen);
    if (out == NULL)
        goto out;
    condd__state__snapshot__pack(&snap, out);
    if (!write_all(fd, out, olen)) {
        fail = "cannot write the state file";
        log_error("live restart: cannot save the state: %s: %s", fail, strerror(errno));
        fail = NULL;
        goto out;
    }
    if (info != NULL)
        *info = (struct snapshot_info){
            .bytes = olen,
            .sessions = st.n_sessions,
            .locks = sv.nlocks + sv.ncol,
            .holders = sv.nholders,
            .waiters = sv.nwaiters,
            .answers = answers,
        };
    ok = true;
out:
    if (!ok && fail != NULL)
        log_error("live restart: cannot save the state: %s", fail);
    if (state_buf != NULL)
        sodium_memzero(state_buf, slen); /* the secrets are in it */
    if (out != NULL)
        sodium_memzero(out, olen);
    free(state_buf);
    free(out);
    free(sv.ids);
    free(sv.idmap);
    free(sv.conds);
    free(sv.locks);
    free(sv.sems);
    free(sv.events);
    free(sv.barriers);
    free(sv.col_names);
    free(sv.col_lens);
    free(sv.col_sessions);
    free(sv.col_owners);
    free(sv.col_tokens);
    pool_free(&sv.pool);
    return ok;
}

/* ================================================================== load */

struct load {
    struct server *srv;
    struct engine *e; /* the scratch engine */
    char *why;
    size_t whylen;
    double gap; /* seconds from the save to now */
    /* the sessions, sorted by id, their ids (contiguous, for the lookups) and their rebuilt
     * records */
    Condd__State__Session **sessions;
    uint64_t *ids;
    struct dsession **ds;
    size_t nsessions;
    size_t nregistered;
    /* when the ids span a small enough range: slot[id - ids[0]] is 1 + the session's index, 0
     * for none (a load per lookup, for a hundred thousand holds) */
    uint32_t *slot;
    uint64_t slot_span;
    uint64_t nholders, nwaiters, answers;
};

static bool refuse(struct load *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool refuse(struct load *ld, const char *fmt, ...)
{
    if (ld->why != NULL && ld->whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ld->why, ld->whylen, fmt, ap);
        va_end(ap);
    }
    return false;
}

static int session_cmp(const void *a, const void *b)
{
    const Condd__State__Session *x = *(Condd__State__Session *const *)a;
    const Condd__State__Session *y = *(Condd__State__Session *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The engine session of saved session id, or NULL. */
static struct esession *load_session(struct load *ld, uint64_t id)
{
    if (ld->slot != NULL) {
        uint64_t i = id - ld->ids[0]; /* wraps for an id below the first: out of the span */
        return i < ld->slot_span && ld->slot[i] != 0 ? ld->ds[ld->slot[i] - 1]->sess : NULL;
    }
    size_t lo = 0, hi = ld->nsessions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t m = ld->ids[mid];
        if (m == id)
            return ld->ds[mid]->sess;
        if (m < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Are buf[0..len) whole frames, and how many? */
static bool frames_valid(const uint8_t *buf, size_t len, uint64_t *count)
{
    size_t off = 0;
    while (off < len) {
        size_t plen = 0;
        if (frame_peek(buf + off, len - off, UINT32_MAX, &plen) != FRAME_OK)
            return false;
        off += FRAME_HEADER_BYTES + plen;
        (*count)++;
    }
    return true;
}

static bool name_printable(const char *s)
{
    size_t n = strlen(s);
    if (n >= RESUME_CLIENT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

static bool load_sessions(struct load *ld, const Condd__State__State *st)
{
    ld->nsessions = st->n_sessions;
    if (ld->nsessions == 0)
        return true;
    ld->sessions = malloc(ld->nsessions * sizeof *ld->sessions);
    ld->ds = calloc(ld->nsessions, sizeof *ld->ds);
    ld->ids = malloc(ld->nsessions * sizeof *ld->ids);
    if (ld->sessions == NULL || ld->ds == NULL || ld->ids == NULL) {
        ld->nsessions = 0;
        return refuse(ld, "out of memory");
    }
    memcpy(ld->sessions, st->sessions, ld->nsessions * sizeof *ld->sessions);
    if (ld->nsessions > 1)
        qsort(ld->sessions, ld->nsessions, sizeof *ld->sessions, session_cmp);
    for (size_t i = 0; i < ld->nsessions; i++)
        ld->ids[i] = ld->sessions[i]->id;
    for (size_t i = 0; i < ld->nsessions; i++) {
        const Condd__State__Session *m = ld->sessions[i];
        if (m->id == 0 || m->id >= st->next_session_id)
            return refuse(ld, "a session id out of range");
        if (i > 0 && ld->sessions[i - 1]->id == m->id)
            return refuse(ld, "session %llu listed twice", (unsigned long long)m->id);
        if (m->secret.len != RESUME_SECRET_BYTES)
            return refuse(ld, "session %llu has a malformed secret", (unsigned long long)m->id);
        if (!isfinite(m->grace_s) || m->grace_s <= 0 || m->grace_s > 1e9 ||
            !isfinite(m->remaining_s) || m->remaining_s < 0)
            return refuse(ld, "session %llu has an invalid grace", (unsigned long long)m->id);
        if (!name_printable(m->client_name))
            return refuse(ld, "session %llu has an invalid client name", (unsigned long long)m->id);
        uint64_t n = 0;
        if (!frames_valid(m->answers.data, m->answers.len, &n))
            return refuse(ld, "session %llu has malformed kept answers", (unsigned long long)m->id);
        if (m->acks && (m->first_answer == 0 || m->first_answer > m->responses + 1 ||
                        m->responses - m->first_answer + 1 != n))
            return refuse(ld, "session %llu has inconsistent answer counts",
                          (unsigned long long)m->id);
        ld->answers += n;
        ld->ds[i] = resume_restore(ld->srv, ld->e, m->id, m->client_name, m->grace_s,
                                   m->secret.data, m->answers.data, m->answers.len, m->overflow);
        if (ld->ds[i] == NULL)
            return refuse(ld, "out of memory");
        ld->ds[i]->acks = m->acks;
        ld->ds[i]->nreq = m->requests;
        ld->ds[i]->nresp = m->responses;
        ld->ds[i]->rfirst = m->acks ? m->first_answer : m->responses + 1;
    }
    /* Session ids count up from 1: the saved ones usually span a few times their number. */
    uint64_t span = ld->ids[ld->nsessions - 1] - ld->ids[0] + 1;
    if (span <= (uint64_t)8 * ld->nsessions + 4096 && ld->nsessions < UINT32_MAX &&
        (ld->slot = calloc((size_t)span, sizeof *ld->slot)) != NULL) {
        ld->slot_span = span;
        for (size_t i = 0; i < ld->nsessions; i++)
            ld->slot[ld->ids[i] - ld->ids[0]] = (uint32_t)(i + 1);
    }
    return true;
}

/* Restores object o with its holds and queue (shared: a lock held shared). */
static bool load_object(struct load *ld, const struct engine_obj *o, bool shared,
                        Condd__State__Hold **holds, size_t nholds, Condd__State__Pending **queue,
                        size_t nqueue)
{
    const char *why = "error";
    if (engine_restore_object(ld->e, o, &why) != ENGINE_OK)
        return refuse(ld, "%s", why);
    if (o->kind == ENGINE_OBJ_LOCK && !shared && nholds > 1)
        return refuse(ld, "a lock held exclusively by %zu holders", nholds);
    for (size_t i = 0; i < nholds; i++) {
        const Condd__State__Hold *m = holds[i];
        struct esession *s = load_session(ld, m->session);
        if (s == NULL)
            return refuse(ld, "a hold of session %llu, which is not in the state",
                          (unsigned long long)m->session);
        struct engine_obj_hold h = {
            .session_id = m->session,
            .owner = m->owner,
            .token = m->token,
            .permits = o->kind == ENGINE_OBJ_LOCK ? 1 : m->permits,
        };
        if (engine_restore_hold(s, o, shared, &h, &why) != ENGINE_OK)
            return refuse(ld, "%s", why);
        ld->nholders++;
    }
    for (size_t i = 0; i < nqueue; i++) {
        const Condd__State__Pending *m = queue[i];
        struct esession *s = load_session(ld, m->session);
        if (s == NULL)
            return refuse(ld, "a request of session %llu, which is not in the state",
                          (unsigned long long)m->session);
        struct engine_obj_pending p = {
            .session_id = m->session,
            .req_id = m->req_id,
            .owner = m->owner,
            .shared = m->shared,
            .timed = m->timed,
            .remaining_s = m->remaining_s - ld->gap,
            .elapsed_s = m->elapsed_s + ld->gap,
            .final_status = ENGINE_OK,
        };
        if (p.timed && p.remaining_s < 0 && isfinite(m->remaining_s) && m->remaining_s >= 0)
            p.remaining_s = 0; /* passed during the restart: fires on the first turn */
        if (!op_from_state(m->op, &p.op) || !final_from_state(m->final_status, &p.final_status))
            return refuse(ld, "a request of an unknown kind or status");
        if (m->cond.len > 0) {
            p.cond = m->cond.data;
            p.cond_len = m->cond.len;
        }
        if (engine_restore_pending(s, o, &p, &why) != ENGINE_OK)
            return refuse(ld, "%s", why);
        ld->nwaiters++;
    }
    return true;
}

/* The columns of locks held exclusively with nobody queued: checked here, made in one call. */
static bool load_held_locks(struct load *ld, const Condd__State__HeldLocks *m)
{
    if (m == NULL || m->n_name_lens == 0)
        return true;
    size_t n = m->n_name_lens;
    if (m->n_sessions != n || m->n_owners != n || m->n_tokens != n)
        return refuse(ld, "the held locks' columns differ in length");
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (m->name_lens[i] > m->names.len - off)
            return refuse(ld, "the held locks' names are cut short");
        off += m->name_lens[i];
    }
    if (off != m->names.len)
        return refuse(ld, "the held locks' names do not add up");
    struct esession **sess = malloc(n * sizeof *sess);
    if (sess == NULL)
        return refuse(ld, "out of memory");
    /* A session usually holds runs of locks: the last one found is tried first. */
    uint64_t last_id = 0;
    struct esession *last = NULL;
    for (size_t i = 0; i < n; i++) {
        if (last == NULL || m->sessions[i] != last_id) {
            last_id = m->sessions[i];
            if ((last = load_session(ld, last_id)) == NULL) {
                free(sess);
                return refuse(ld, "a hold of session %llu, which is not in the state",
                              (unsigned long long)last_id);
            }
        }
        sess[i] = last;
    }
    const char *why = "error";
    enum engine_status st = engine_restore_held_locks(ld->e, m->names.data, m->name_lens, n, sess,
                                                      m->owners, m->tokens, &why);
    free(sess);
    if (st != ENGINE_OK)
        return refuse(ld, "%s", why);
    ld->nholders += n;
    return true;
}

static bool load_objects(struct load *ld, const Condd__State__State *st)
{
    uint64_t nlocks = st->n_locks + (st->held_locks != NULL ? st->held_locks->n_name_lens : 0);
    uint64_t npending = 0;
    for (size_t i = 0; i < st->n_conds; i++)
        npending += st->conds[i]->n_queue;
    for (size_t i = 0; i < st->n_locks; i++)
        npending += st->locks[i]->n_queue;
    engine_restore_reserve(ld->e, nlocks, st->n_conds, npending);
    for (size_t i = 0; i < st->n_conds; i++) {
        const Condd__State__Cond *m = st->conds[i];
        struct engine_obj o = {.kind = ENGINE_OBJ_COND,
                               .name = m->name.data,
                               .name_len = m->name.len,
                               .lock = m->lock.data,
                               .lock_len = m->lock.len};
        if (!load_object(ld, &o, false, NULL, 0, m->queue, m->n_queue))
            return false;
    }
    for (size_t i = 0; i < st->n_locks; i++) {
        const Condd__State__Lock *m = st->locks[i];
        struct engine_obj o = {.kind = ENGINE_OBJ_LOCK,
                               .name = m->name.data,
                               .name_len = m->name.len,
                               .shared = m->shared};
        if (!load_object(ld, &o, m->shared, m->holders, m->n_holders, m->queue, m->n_queue))
            return false;
    }
    if (!load_held_locks(ld, st->held_locks))
        return false;
    for (size_t i = 0; i < st->n_sems; i++) {
        const Condd__State__Sem *m = st->sems[i];
        struct engine_obj o = {.kind = ENGINE_OBJ_SEM,
                               .name = m->name.data,
                               .name_len = m->name.len,
                               .value = m->value,
                               .bounded = m->bounded,
                               .counter = m->counter};
        if (!load_object(ld, &o, false, m->holders, m->n_holders, m->queue, m->n_queue))
            return false;
    }
    for (size_t i = 0; i < st->n_events; i++) {
        const Condd__State__Event *m = st->events[i];
        struct engine_obj o = {.kind = ENGINE_OBJ_EVENT,
                               .name = m->name.data,
                               .name_len = m->name.len,
                               .flag = m->set};
        if (!load_object(ld, &o, false, NULL, 0, m->queue, m->n_queue))
            return false;
    }
    for (size_t i = 0; i < st->n_barriers; i++) {
        const Condd__State__Barrier *m = st->barriers[i];
        struct engine_obj o = {.kind = ENGINE_OBJ_BARRIER,
                               .name = m->name.data,
                               .name_len = m->name.len,
                               .value = m->parties,
                               .flag = m->broken};
        if (!load_object(ld, &o, false, NULL, 0, m->queue, m->n_queue))
            return false;
    }
    const char *why = "error";
    if (engine_restore_check(ld->e, &why) != ENGINE_OK)
        return refuse(ld, "%s", why);
    return true;
}

static void load_hist(struct stats_hist *h, const Condd__State__Hist *m)
{
    if (m == NULL || m->n_counts != STATS_LAT_BUCKETS + 1)
        return; /* another bucket layout: start anew rather than misfile counts */
    memcpy(h->counts, m->counts, sizeof h->counts);
    h->count = m->count;
    h->sum = m->sum;
}

/* The counters continue from the saved values (a counter this condd does not know is dropped). */
static void load_counters(struct stats *s, const Condd__State__Counters *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_ops; i++) {
        const Condd__State__OpCount *oc = m->ops[i];
        if (oc->status >= STATS_STATUS_COUNT)
            continue;
        for (int op = 0; op < STATS_OP_COUNT; op++)
            if (strcmp(stats_op_name((enum stats_op)op), oc->op) == 0)
                s->ops[op][oc->status] += oc->count;
    }
    s->connections_total += m->connections_total;
    s->connections_refused += m->connections_refused;
    s->session_expiries += m->session_expiries;
    s->protocol_errors += m->protocol_errors;
    s->auth_failures += m->auth_failures;
    s->permission_denials += m->permission_denials;
    s->bytes_in += m->bytes_in;
    s->bytes_out += m->bytes_out;
    s->resumes += m->resumes;
    s->resume_failures += m->resume_failures;
    s->sessions_expired_in_grace += m->sessions_expired_in_grace;
    s->tls_handshake_failures += m->tls_handshake_failures;
    s->tls_buffers_released += m->tls_buffers_released;
    s->tls_handshakes_refused += m->tls_handshakes_refused;
    load_hist(&s->grant_latency, m->grant_latency);
    load_hist(&s->wait_latency, m->wait_latency);
}

/* Reads fd from its position to its end into *buf (caller frees). */
static bool read_all(struct load *ld, int fd, uint8_t **buf, size_t *len)
{
    struct stat sb;
    size_t cap = 65536;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0) {
        if ((uint64_t)sb.st_size > SNAPSHOT_MAX_BYTES)
            return refuse(ld, "the state is too large (%lld bytes)", (long long)sb.st_size);
        cap = (size_t)sb.st_size + 1;
    }
    uint8_t *b = malloc(cap);
    size_t n = 0;
    if (b == NULL)
        return refuse(ld, "out of memory");
    for (;;) {
        if (n == cap) {
            if (cap >= SNAPSHOT_MAX_BYTES) {
                free(b);
                return refuse(ld, "the state is too large");
            }
            uint8_t *nb = realloc(b, cap * 2);
            if (nb == NULL) {
                free(b);
                return refuse(ld, "out of memory");
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = errno;
            free(b);
            return refuse(ld, "cannot read the state: %s", strerror(err));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *buf = b;
    *len = n;
    return true;
}

bool snapshot_load(struct server *srv, int fd, char *why, size_t whylen, struct snapshot_info *info)
{
    struct load ld = {.srv = srv, .why = why, .whylen = whylen};
    struct pool unpacked = {NULL};
    ProtobufCAllocator pb_alloc;
    pool_pb_allocator(&pb_alloc, &unpacked);
    uint8_t *buf = NULL;
    size_t len = 0;
    Condd__State__Snapshot *snap = NULL;
    Condd__State__State *st = NULL;
    bool ok = false;
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (srv->nsessions != 0 || engine_reaping(srv->engine)) {
        refuse(&ld, "the server has sessions already");
        goto out;
    }
    if (!read_all(&ld, fd, &buf, &len))
        goto out;
    if (len == 0) {
        refuse(&ld, "the state is empty");
        goto out;
    }
    snap = condd__state__snapshot__unpack(&pb_alloc, len, buf);
    if (snap == NULL) {
        refuse(&ld, "the state is not a condd state (truncated or corrupt)");
        goto out;
    }
    if (snap->version != SNAPSHOT_VERSION) {
        refuse(&ld, "the state has version %u; this condd reads version %d", snap->version,
               SNAPSHOT_VERSION);
        goto out;
    }
    uint8_t digest[SNAPSHOT_DIGEST_BYTES];
    crypto_generichash(digest, sizeof digest, snap->state.data, snap->state.len, NULL, 0);
    if (snap->blake2b.len != sizeof digest ||
        sodium_memcmp(digest, snap->blake2b.data, sizeof digest) != 0) {
        refuse(&ld, "the state is corrupt (its digest does not match)");
        goto out;
    }
    st = condd__state__state__unpack(&pb_alloc, snap->state.len, snap->state.data);
    if (st == NULL) {
        refuse(&ld, "the state is corrupt (it does not decode)");
        goto out;
    }
    if (st->next_session_id == 0) {
        refuse(&ld, "the state has no session id counter");
        goto out;
    }
    uint64_t now_us = clk_mono_us();
    ld.gap = st->saved_mono_us <= now_us ? (double)(now_us - st->saved_mono_us) / 1e6 : 0;
    if ((ld.e = engine_new_like(srv->engine)) == NULL) {
        refuse(&ld, "out of memory");
        goto out;
    }
    if (!load_sessions(&ld, st) || !load_objects(&ld, st))
        goto out;
    engine_restore_tokens(ld.e, st->last_token);
    for (; ld.nregistered < ld.nsessions; ld.nregistered++)
        if (!resume_restore_register(ld.ds[ld.nregistered])) {
            refuse(&ld, "out of memory");
            goto out;
        }

    /* Every check passed: from here on nothing can fail. */
    engine_free(srv->engine);
    srv->engine = ld.e;
    ld.e = NULL;
    for (size_t i = 0; i < ld.nsessions; i++) {
        double left = fmin(ld.sessions[i]->remaining_s, ld.sessions[i]->grace_s) - ld.gap;
        resume_restore_start(ld.ds[i], left);
        ld.ds[i] = NULL;
    }
    if (st->next_session_id > srv->next_session_id)
        srv->next_session_id = st->next_session_id;
    load_counters(&srv->stats, st->counters);
    if (info != NULL) {
        struct engine_stats es;
        engine_get_stats(srv->engine, &es);
        *info = (struct snapshot_info){
            .bytes = len,
            .sessions = ld.nsessions,
            .locks = es.locks,
            .holders = ld.nholders,
            .waiters = ld.nwaiters,
            .answers = ld.answers,
        };
    }
    ok = true;
out:
    for (size_t i = 0; i < ld.nregistered; i++)
        if (ld.ds[i] != NULL)
            resume_restore_unregister(ld.ds[i]);
    engine_free(ld.e); /* a refused load: takes the half-built state apart silently */
    for (size_t i = 0; ld.ds != NULL && i < ld.nsessions; i++)
        resume_restore_discard(ld.ds[i]);
    free(ld.sessions);
    free(ld.ids);
    free(ld.slot);
    free(ld.ds);
    for (size_t i = 0; st != NULL && i < st->n_sessions; i++)
        if (st->sessions[i]->secret.data != NULL)
            sodium_memzero(st->sessions[i]->secret.data, st->sessions[i]->secret.len);
    if (snap != NULL && snap->state.data != NULL)
        sodium_memzero(snap->state.data, snap->state.len);
    pool_free(&unpacked); /* st and snap */
    if (buf != NULL)
        sodium_memzero(buf, len); /* secrets */
    free(buf);
    return ok;
}
