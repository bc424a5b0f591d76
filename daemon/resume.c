/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Sessions beside the engine, and session resume (see resume.h and protocol.md §5.5-§5.7).
 * Every session has a struct dsession, the engine's ctx for it, so that late answers find the
 * session whether or not it has a connection at the moment: attached, they go to the connection
 * as before; detached, they are encoded into the session's own buffer and delivered after a
 * resume. Every session is registered by id (an operator's Break and KillSession find it
 * there); only those granted a grace can be resumed: a session without grace ends with its
 * connection exactly as before.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>

#include "clock.h"
#include "engine.h"
#include "frame.h"
#include "log.h"
#include "resume.h"
#include "server_internal.h"

static bool resume_key_eq(const struct table_node *node, const void *key, size_t len)
{
    const struct dsession *ds = (const struct dsession *)node; /* node is the first member */
    uint64_t id;
    if (len != sizeof id)
        return false;
    memcpy(&id, key, sizeof id);
    return ds->id == id;
}

bool resume_init(struct server *srv)
{
    uint8_t key[TABLE_KEY_BYTES];
    randombytes_buf(key, sizeof key);
    srv->by_id = table_new(key, resume_key_eq);
    sodium_memzero(key, sizeof key);
    TAILQ_INIT(&srv->detached);
    return srv->by_id != NULL;
}

void resume_fini(struct server *srv)
{
    struct dsession *ds;
    while ((ds = TAILQ_FIRST(&srv->detached)) != NULL)
        resume_end(ds);
    table_free(srv->by_id);
    srv->by_id = NULL;
}

/* ------------------------------------------------------------------ grace timer */

static void resume_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct dsession *ds = arg;
    if (!ds->detached)
        return;
    ds->srv->stats.sessions_expired_in_grace++;
    log_info("session %llu (%s) ended: %s", (unsigned long long)ds->id, ds->client_name,
             ds->overflow ? "too many answers kept while detached" : "its grace ran out");
    resume_end(ds);
}

/* ------------------------------------------------------------------ owed notifications */

static void resume_owed_free(struct resume_owed *o)
{
    while (o != NULL) {
        struct resume_owed *next = o->next;
        free(o);
        o = next;
    }
}

/* r, a late answer for detached ds: a Wait's OK is a notification its client has not seen yet,
 * owed to the condition's next waiter should the session end before a resume delivers it. Noted
 * whether or not the answer itself could be kept (over the cap the session ends). */
static void resume_owe(struct dsession *ds, const struct engine_reply *r)
{
    if (r->op != ENGINE_OP_WAIT || r->status != ENGINE_OK || r->cond == NULL)
        return;
    struct resume_owed *o = malloc(sizeof *o + r->cond_len);
    if (o == NULL) {
        log_error("session %llu (%s): out of memory noting a notification it owes",
                  (unsigned long long)ds->id, ds->client_name);
        return;
    }
    o->next = NULL;
    o->len = r->cond_len;
    memcpy(o->name, r->cond, r->cond_len);
    if (ds->owed_last != NULL)
        ds->owed_last->next = o;
    else
        ds->owed = o;
    ds->owed_last = o;
}

/* ------------------------------------------------------------------ open and end */

bool resume_open(struct server *srv, struct conn *c, uint64_t id, const char *client_name,
                 double grace)
{
    struct dsession *ds = calloc(1, sizeof *ds);
    if (ds == NULL)
        return false;
    ds->srv = srv;
    ds->id = id;
    ds->grace = grace;
    ds->rfirst = 1;
    snprintf(ds->client_name, sizeof ds->client_name, "%s", client_name);
    if (grace > 0) {
        ds->timer = evtimer_new(srv->base, resume_on_timer, ds);
        if (ds->timer == NULL) {
            free(ds);
            return false;
        }
        randombytes_buf(ds->secret, sizeof ds->secret);
    }
    uint64_t h = table_hash(srv->by_id, &id, sizeof id);
    if (!table_insert(srv->by_id, &ds->node, h)) {
        if (ds->timer != NULL)
            event_free(ds->timer);
        free(ds);
        return false;
    }
    ds->registered = true;
    ds->sess = engine_session_open(srv->engine, id, ds->client_name, ds);
    if (ds->sess == NULL) {
        if (ds->registered)
            table_remove(srv->by_id, &ds->node);
        if (ds->timer != NULL)
            event_free(ds->timer);
        free(ds);
        return false;
    }
    ds->conn = c;
    c->ds = ds;
    c->sess = ds->sess;
    srv->nsessions++;
    return true;
}

void resume_end(struct dsession *ds)
{
    struct server *srv = ds->srv;
    if (ds->registered)
        table_remove(srv->by_id, &ds->node);
    if (ds->detached) {
        TAILQ_REMOVE(&srv->detached, ds, det_link);
        srv->ndetached--;
    }
    if (ds->timer != NULL)
        event_free(ds->timer);
    srv->nsessions--;
    struct esession *s = ds->sess;
    struct resume_owed *owed = ds->owed;
    uint64_t id = ds->id;
    sodium_memzero(ds->secret, sizeof ds->secret);
    free(ds->buf);
    free(ds);
    /* Last: ending the session hands its locks on, which queues replies to other sessions. The
     * engine delivers nothing more to this one (its ctx is gone). */
    engine_session_close(s);
    /* Then the notifications its undelivered Wait answers carried go to the next waiters, as
     * for a notified Wait cancelled before it re-acquired (§9.5): after the locks, so that a
     * woken waiter can take its lock at once. */
    for (struct resume_owed *o = owed; o != NULL; o = o->next)
        if (!engine_pass_notification(srv->engine, o->name, o->len))
            log_error("session %llu ended: out of memory passing on a notification it owed",
                      (unsigned long long)id);
    resume_owed_free(owed);
}

/* ------------------------------------------------------------------ resume */

struct dsession *resume_find(struct server *srv, uint64_t id, const uint8_t *secret,
                             size_t secret_len)
{
    /* Compare against a dummy when there is nothing to compare with, so that the time taken
     * does not tell whether the session exists. */
    static const uint8_t dummy[RESUME_SECRET_BYTES];
    struct table_node *n =
        table_find(srv->by_id, &id, sizeof id, table_hash(srv->by_id, &id, sizeof id));
    struct dsession *ds = (struct dsession *)n;
    uint8_t given[RESUME_SECRET_BYTES] = {0};
    if (secret_len == RESUME_SECRET_BYTES)
        memcpy(given, secret, RESUME_SECRET_BYTES);
    bool match = crypto_verify_32(given, ds != NULL ? ds->secret : dummy) == 0;
    sodium_memzero(given, sizeof given);
    /* A session without grace has no secret (all zeros): never resumable. */
    if (ds == NULL || !match || secret_len != RESUME_SECRET_BYTES || ds->overflow || ds->grace <= 0)
        return NULL;
    return ds;
}

struct dsession *resume_by_id(struct server *srv, uint64_t id)
{
    return (struct dsession *)table_find(srv->by_id, &id, sizeof id,
                                         table_hash(srv->by_id, &id, sizeof id));
}

/* Appends whole frames buf[0..len) to ds's kept answers, counting them. */
static bool resume_keep(struct dsession *ds, const uint8_t *buf, size_t len)
{
    if (len == 0)
        return true;
    if (ds->bcap - ds->blen < len) {
        size_t cap = ds->bcap > 0 ? ds->bcap : 512;
        while (cap - ds->blen < len)
            cap *= 2;
        uint8_t *nb = realloc(ds->buf, cap);
        if (nb == NULL)
            return false;
        ds->buf = nb;
        ds->bcap = cap;
    }
    memcpy(ds->buf + ds->blen, buf, len);
    ds->blen += len;
    for (size_t off = 0; off + FRAME_HEADER_BYTES <= len;) {
        size_t plen = 0;
        if (frame_peek(buf + off, len - off, UINT32_MAX, &plen) != FRAME_OK)
            break;
        off += FRAME_HEADER_BYTES + plen;
        ds->nbuf++;
    }
    return true;
}

/* Over the cap or out of memory: end the session on the next loop turn (never from inside the
 * engine call that produced the answer). */
static void resume_overflow(struct dsession *ds)
{
    if (ds->overflow)
        return;
    ds->overflow = true;
    struct timeval now = {0, 0};
    event_add(ds->timer, &now);
}

/* ------------------------------------------------------------------ acknowledged delivery */

/* A copy buffer larger than this is freed once every copy in it is acked. */
#define RESUME_COPIES_KEEP 16384

/* Drops the oldest copy of acks session ds. */
static void resume_drop_first(struct dsession *ds)
{
    size_t plen = 0;
    if (ds->nbuf == 0 ||
        frame_peek(ds->buf + ds->boff, ds->blen - ds->boff, UINT32_MAX, &plen) != FRAME_OK) {
        ds->boff = ds->blen = ds->nbuf = 0; /* cannot be: buf holds whole frames */
        ds->rfirst = ds->nresp + 1;
        return;
    }
    ds->boff += FRAME_HEADER_BYTES + plen;
    ds->nbuf--;
    ds->rfirst++;
    if (ds->nbuf == 0) {
        ds->boff = ds->blen = 0;
        if (ds->bcap > RESUME_COPIES_KEEP) {
            /* A burst of answers is over: an idle session keeps little memory. */
            free(ds->buf);
            ds->buf = NULL;
            ds->bcap = 0;
        }
    }
}

void resume_retain_slow(struct dsession *ds, const uint8_t *frame, size_t len)
{
    size_t max = ds->srv->settings.max_buffered_answers;
    ds->nresp++;
    while (ds->nbuf > 0 && ds->nbuf >= max)
        resume_drop_first(ds);
    if (max == 0) {
        ds->rfirst = ds->nresp + 1;
        return;
    }
    if (ds->bcap - ds->blen < len && ds->boff > 0) {
        /* Copies are acked a few at a time: move the live ones to the front only when the
         * buffer would grow, so that an ack costs no memmove. */
        memmove(ds->buf, ds->buf + ds->boff, ds->blen - ds->boff);
        ds->blen -= ds->boff;
        ds->boff = 0;
    }
    if (ds->bcap - ds->blen < len) {
        size_t cap = ds->bcap > 0 ? ds->bcap : 512;
        while (cap - ds->blen < len)
            cap *= 2;
        uint8_t *nb = realloc(ds->buf, cap);
        if (nb == NULL) {
            /* No copy at all rather than a gap: a resume that needs one fails. */
            ds->boff = ds->blen = ds->nbuf = 0;
            ds->rfirst = ds->nresp + 1;
            return;
        }
        ds->buf = nb;
        ds->bcap = cap;
    }
    memcpy(ds->buf + ds->blen, frame, len);
    ds->blen += len;
    if (ds->nbuf++ == 0)
        ds->rfirst = ds->nresp;
}

void resume_ack(struct dsession *ds, uint64_t ack)
{
    if (ack >= ds->nresp && ds->bcap <= RESUME_COPIES_KEEP) {
        /* Everything acked, the usual case: no frame to walk. */
        ds->boff = ds->blen = ds->nbuf = 0;
        ds->rfirst = ds->nresp + 1;
        return;
    }
    if (ack > ds->nresp)
        ack = ds->nresp;
    while (ds->nbuf > 0 && ds->rfirst <= ack)
        resume_drop_first(ds);
}

bool resume_can_deliver(const struct dsession *ds, uint64_t ack)
{
    if (ack >= ds->nresp)
        return true;
    return ds->nbuf > 0 && ds->rfirst <= ack + 1;
}

const uint8_t *resume_unacked(const struct dsession *ds, size_t *len)
{
    *len = ds->blen - ds->boff;
    return *len > 0 ? ds->buf + ds->boff : NULL;
}

/* ------------------------------------------------------------------ detach and attach */

void resume_detach(struct dsession *ds, const uint8_t *out, size_t olen)
{
    struct server *srv = ds->srv;
    ds->conn = NULL;
    ds->detached = true;
    TAILQ_INSERT_TAIL(&srv->detached, ds, det_link);
    srv->ndetached++;
    ds->deadline = server_now() + ds->grace;
    struct timeval tv = clk_timeval(ds->grace);
    event_add(ds->timer, &tv);
    /* With acks the unsent answers are among the copies already. */
    if ((!ds->acks && !resume_keep(ds, out, olen)) || ds->nbuf > srv->settings.max_buffered_answers)
        resume_overflow(ds);
    log_info("session %llu (%s) detached; kept for %.1f s", (unsigned long long)ds->id,
             ds->client_name, ds->grace);
}

void resume_attach(struct dsession *ds, struct conn *c)
{
    struct server *srv = ds->srv;
    event_del(ds->timer);
    TAILQ_REMOVE(&srv->detached, ds, det_link);
    srv->ndetached--;
    ds->detached = false;
    ds->conn = c;
    c->ds = ds;
    c->sess = ds->sess;
    /* The kept answers follow the HelloResult: the client acts on their notifications. */
    resume_owed_free(ds->owed);
    ds->owed = ds->owed_last = NULL;
}

uint8_t *resume_take_buffer(struct dsession *ds, size_t *len)
{
    if (ds->boff > 0) {
        memmove(ds->buf, ds->buf + ds->boff, ds->blen - ds->boff);
        ds->blen -= ds->boff;
        ds->boff = 0;
    }
    uint8_t *b = ds->buf;
    *len = ds->blen;
    ds->buf = NULL;
    ds->blen = ds->bcap = ds->nbuf = 0;
    return b;
}

void resume_buffer_reply(struct dsession *ds, const struct engine_reply *r)
{
    struct server *srv = ds->srv;
    resume_owe(ds, r);
    if (ds->overflow)
        return;
    if (ds->nbuf >= srv->settings.max_buffered_answers) {
        resume_overflow(ds);
        return;
    }
    /* dispatch_answer() builds answers for a connection: give it a stand-in that only encodes
     * into this session's buffer (conn_send() knows CONN_BUFFERING). */
    struct conn tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.srv = srv;
    tmp.fd = -1;
    tmp.state = CONN_BUFFERING;
    tmp.ds = ds;
    tmp.sess = ds->sess;
    tmp.session_id = ds->id;
    tmp.obuf = ds->buf;
    tmp.olen = ds->blen;
    tmp.ocap = ds->bcap;
    dispatch_answer(&tmp, r, true);
    ds->buf = tmp.obuf;
    ds->bcap = tmp.ocap;
    if (tmp.olen > ds->blen) {
        if (ds->nbuf++ == 0)
            ds->rfirst = ds->nresp + 1;
        ds->nresp++;
    }
    ds->blen = tmp.olen;
    if (tmp.buffer_failed)
        resume_overflow(ds);
}

/* ------------------------------------------------------------------ live restart (snapshot.c) */

struct dsession *resume_restore(struct server *srv, struct engine *e, uint64_t id,
                                const char *client_name, double grace, const uint8_t *secret,
                                const uint8_t *answers, size_t alen, bool overflow)
{
    struct dsession *ds = calloc(1, sizeof *ds);
    if (ds == NULL)
        return NULL;
    ds->srv = srv;
    ds->id = id;
    ds->grace = grace;
    ds->overflow = overflow;
    snprintf(ds->client_name, sizeof ds->client_name, "%s", client_name);
    memcpy(ds->secret, secret, RESUME_SECRET_BYTES);
    ds->timer = evtimer_new(srv->base, resume_on_timer, ds);
    if (ds->timer == NULL || !resume_keep(ds, answers, alen) ||
        (ds->sess = engine_session_open(e, id, ds->client_name, ds)) == NULL) {
        resume_restore_discard(ds);
        return NULL;
    }
    return ds;
}

bool resume_restore_register(struct dsession *ds)
{
    struct server *srv = ds->srv;
    uint64_t h = table_hash(srv->by_id, &ds->id, sizeof ds->id);
    if (!table_insert(srv->by_id, &ds->node, h))
        return false;
    ds->registered = true;
    return true;
}

void resume_restore_unregister(struct dsession *ds)
{
    if (ds->registered)
        table_remove(ds->srv->by_id, &ds->node);
    ds->registered = false;
}

void resume_restore_start(struct dsession *ds, double remaining)
{
    struct server *srv = ds->srv;
    ds->detached = true;
    TAILQ_INSERT_TAIL(&srv->detached, ds, det_link);
    srv->ndetached++;
    srv->nsessions++;
    if (remaining < 0)
        remaining = 0;
    ds->deadline = server_now() + remaining;
    struct timeval tv = clk_timeval(ds->overflow ? 0 : remaining);
    event_add(ds->timer, &tv);
}

void resume_restore_discard(struct dsession *ds)
{
    if (ds == NULL)
        return;
    if (ds->timer != NULL)
        event_free(ds->timer);
    sodium_memzero(ds->secret, sizeof ds->secret);
    resume_owed_free(ds->owed);
    free(ds->buf);
    free(ds);
}
