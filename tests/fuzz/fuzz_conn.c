/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Fuzz target for the daemon's real connection path: a server from server_new() with the
 * default settings and no listener, and 1 to 3 socketpairs whose daemon ends go to conn_new(),
 * all driven by the real libevent loop (non-blocking passes until quiescent). The input is
 * either raw bytes for one connection (optionally after a valid Hello) or, structured, a
 * sequence of operations that build valid Request frames with protobuf-c (Hello, Acquire,
 * Release, Locked, Wait, Notify, NotifyAll, Cancel, Stats, List, the semaphore, event and
 * barrier requests, bodiless requests, raw bytes, close-and-reconnect), so every kind's paths
 * run with contention between sessions, on names shared across kinds. Sessions may ask for a
 * grace and acknowledged delivery (protocol.md §5.5-§5.6.2), carry acks on their requests,
 * vanish without a Goodbye and be resumed on a new socketpair, with the real id and secret or a
 * wrong one, while attached (a takeover) or after they ended, acking what was received, less,
 * or more.
 *
 * Invariants, any failure aborts: everything the daemon writes is a sequence of valid Response
 * frames; no request of a session is answered twice, except a counted Response sent again after
 * a resume of an acks session that acked less than it had received (§5.6.2), which must be the
 * same answer; an OK answer carries the result of its request's kind (a BarrierWait's index
 * below its parties); a HelloResult's resume fields agree (a resume only with the real id and
 * secret, same session, same secret, same acks, requests_received never going down nor above
 * the requests sent); a resume with the real id and secret succeeds when nothing could have
 * ended the session (fuzz_must_resume()); after EOF on every connection the daemon closes them all,
 * every session still in its grace is resumed and ended with Goodbye, an operator's KillSession of
 * every session id finds none alive but those the client could not know (fuzz_on_sweep()), and then
 * no connection, session, lock, waiter, condition, held permit or table entry is left and no
 * event is pending on the loop, except what outlives sessions by design (set events, semaphores
 * with posted permits, aborted barriers; see fuzz_check_empty(), fuzz_conn_empty.c).
 * Only server-level accessors and engine_get_stats() are used, so the harness survives
 * refactors of the connection and engine internals.
 *
 * This file owns the client model (sessions, connections, the answer checks), the
 * connection-level operations and fuzz_step(), which reads each op byte and dispatches;
 * fuzz_conn_ops.c builds the requests from the input, fuzz_conn_empty.c checks the end state.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "frame.h"
#include "fuzz.h"
#include "fuzz_conn_empty.h"
#include "fuzz_conn_ops.h"
#include "log.h"
#include "server.h"
#include "server_internal.h"
#include "settings.h"

#define FUZZ_MAX_CONNS 3
#define FUZZ_MAX_OPS 512
#define FUZZ_MAX_REOPENS 8
/* Loop passes without progress before giving up on quiescence: a livelock is a bug too. */
#define FUZZ_MAX_PASSES 100000
/* Request ids a connection tracks answers for (ids are 1, 2, ... per connection). */
#define FUZZ_MAX_IDS (FUZZ_MAX_OPS + 32)
/* Client-side sessions an input may make: every connection opened, every resume attempt (a
 * failed one goes on as a fresh connection), and resumes are capped. */
#define FUZZ_MAX_RESUMES 16
#define FUZZ_MAX_SESS (FUZZ_MAX_CONNS + FUZZ_MAX_REOPENS + 2 * FUZZ_MAX_RESUMES + 3)

/*
 * What the client knows of one session (protocol.md §5.6): request ids and what each expects
 * are the session's, not a connection's, since a resume carries pending requests over. A
 * connection starts with a fresh one; a resume with the real id and secret binds the new
 * connection to the session it names.
 */
struct fuzz_sess {
    bool known; /* an OK HelloResult opened it: id, secret, acks are valid */
    uint64_t id;
    uint8_t secret[32];
    size_t secret_len;      /* 32 with a grace: resumable */
    bool acks;              /* acknowledged delivery granted (§5.6.2) */
    bool ackbytes;          /* its opening Hello came from FUZZ_OP_HELLO_GRACE: requests read an ack
                             * byte from the input */
    struct fuzz_peer *peer; /* the connection it is attached to, as far as the client knows */
    uint64_t next_id;
    /* What each request id sent by fuzz_queue() expects, for the answer checks: the result
     * case an OK answer carries (0: untracked), whether it was answered, and a BarrierWait's
     * parties. Raw bytes may forge any id, so they turn the checks off (raw). */
    bool raw;
    uint8_t expect[FUZZ_MAX_IDS];
    bool answered[FUZZ_MAX_IDS];
    uint32_t parties[FUZZ_MAX_IDS];
    /* Acks: counted Responses (§5.6.2). rcur is the number of the last one received on the
     * current connection (a resume restarts it at the resume's ack), rmax the highest number
     * received, recv[k] the id the k-th carried. A counted Response numbered rcur <= rmax is
     * sent again after a resume: allowed, and it must be the same answer. lost: a resume acked
     * more than was received, so the numbers are unknown and the answer checks are off. */
    uint64_t rcur, rmax;
    uint16_t recv[FUZZ_MAX_IDS];
    bool lost;
    uint64_t nreq_queued; /* counted requests queued for it: requests_received is at most that */
    uint64_t last_rr;     /* the last requests_received: it never goes down */
    bool nreq_unsure;     /* nreq_queued does not count every request sent in it */
    /* Whether a resume with the real secret must succeed (fuzz_must_resume()): the grace it
     * was granted, the highest ack sent, an ack above what was received (the server may have
     * dropped a copy the client lacks), and whether it may have ended (Goodbye, raw bytes that
     * may hold one, a refused resume). */
    double grace;
    uint64_t max_ack;
    bool overacked;
    bool maybe_ended;
};

/* The client side of one connection. */
struct fuzz_peer {
    int fd;        /* our end, -1 when closed */
    int daemon_fd; /* the end conn_new() took, for FIONREAD; -1 once the daemon closed it */
    bool eof_sent; /* shutdown(SHUT_WR) done, or the daemon stopped reading */
    uint8_t *out;  /* frames queued by operations, not yet written */
    size_t olen, ocap;
    uint8_t *in; /* replies received, not yet a whole frame */
    size_t ilen, icap;
    struct fuzz_sess *s; /* the session its requests belong to (never NULL once opened) */
    bool attached;       /* an OK HelloResult came on this connection */
    uint64_t resume_id;  /* the id of a resume Hello not answered yet, else 0 */
    uint64_t resume_ack; /* that Hello's ack */
    bool expect_fail;    /* that resume names a wrong session or secret: it must fail */
    bool must_resume;    /* that resume has the real id and secret: fuzz_must_resume() */
};

struct fuzz {
    struct event_base *base;
    struct server *srv;
    struct fuzz_peer peers[FUZZ_MAX_CONNS];
    int npeers;
    int reopens;
    int resumes;
    struct fuzz_sess *sess[FUZZ_MAX_SESS]; /* owned, freed at the end of the input */
    int nsess;
    /* A connection vanished before its HelloResult was read: a session may live in its grace
     * whose id and secret the client never learnt. */
    bool hello_lost;
    bool small_buffer; /* --max-buffered-answers 2: a session may overflow and end */
    bool ender;        /* a Break or a KillSession was sent: any session may have been ended */
    struct fuzz_peer *sweep; /* the operator's connection of fuzz_end_graces() */
    uint64_t sweep_max;      /* it kills the sessions 1 .. sweep_max */
    bool slept;
    bool shut;  /* server_begin_shutdown() done */
    bool debug; /* CONDD_FUZZ_DEBUG set: log the daemon at debug level and every reply */
    struct fuzz_input in;
};

/* ------------------------------------------------------------------ client side */

static void fuzz_append(uint8_t **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
    if (*cap - *len < n) {
        size_t c = *cap > 0 ? *cap : 256;
        while (c - *len < n)
            c *= 2;
        *buf = realloc(*buf, c);
        FUZZ_CHECK(*buf != NULL);
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
}

/* A fresh client-side session (owned by f), or NULL when the input made too many. */
static struct fuzz_sess *fuzz_sess_new(struct fuzz *f)
{
    if (f->nsess == FUZZ_MAX_SESS)
        return NULL;
    struct fuzz_sess *s = calloc(1, sizeof *s);
    FUZZ_CHECK(s != NULL);
    s->next_id = 1;
    f->sess[f->nsess++] = s;
    return s;
}

/* One answer on pe: at most one per request, except a counted Response sent again after a
 * resume of an acks session (§5.6.2), which must then be the same; an OK one carries its kind's
 * result. */
static void fuzz_check_answer(struct fuzz_peer *pe, const Condd__V1__Response *resp)
{
    struct fuzz_sess *s = pe->s;
    if (pe->attached && s->acks && resp->id != 0 &&
        resp->result_case != CONDD__V1__RESPONSE__RESULT_HELLO) {
        uint64_t k = ++s->rcur;
        if (k <= s->rmax) {
            /* Sent again after a resume that acked less than was received. */
            FUZZ_CHECK(s->lost || k >= FUZZ_MAX_IDS || s->recv[k] == (uint16_t)resp->id);
            return;
        }
        s->rmax = k;
        if (k < FUZZ_MAX_IDS)
            s->recv[k] = resp->id < UINT16_MAX ? (uint16_t)resp->id : UINT16_MAX;
    }
    if (s->raw || s->lost || resp->id == 0 || resp->id >= FUZZ_MAX_IDS || s->expect[resp->id] == 0)
        return;
    FUZZ_CHECK(!s->answered[resp->id]);
    s->answered[resp->id] = true;
    if (resp->status != CONDD__V1__STATUS__STATUS_OK)
        return;
    FUZZ_CHECK((int)resp->result_case == s->expect[resp->id]);
    if (resp->result_case == CONDD__V1__RESPONSE__RESULT_BARRIER_WAIT)
        FUZZ_CHECK(resp->barrier_wait->index < s->parties[resp->id]);
}

static size_t fuzz_drain(struct fuzz *f, struct fuzz_peer *pe);
static bool fuzz_must_resume(const struct fuzz *f, const struct fuzz_sess *s, uint64_t ack);

/* The client-side session with this id, or NULL. */
static struct fuzz_sess *fuzz_sess_by_id(struct fuzz *f, uint64_t id)
{
    for (int i = 0; i < f->nsess; i++)
        if (f->sess[i]->known && f->sess[i]->id == id)
            return f->sess[i];
    return NULL;
}

/* The answer to the operator's KillSession of session id - 1 (fuzz_end_graces()): every session
 * the client knows has ended by then, unless the server shuts down (which refuses resumes and
 * ends detached sessions only when it is freed); only one whose HelloResult was lost may be
 * alive. */
static void fuzz_on_sweep(struct fuzz *f, const Condd__V1__Response *resp)
{
    FUZZ_CHECK(resp->id - 1 <= f->sweep_max);
    const struct fuzz_sess *s = fuzz_sess_by_id(f, resp->id - 1);
    if (resp->status == CONDD__V1__STATUS__STATUS_NOT_FOUND)
        return;
    FUZZ_CHECK(resp->status == CONDD__V1__STATUS__STATUS_OK);
    FUZZ_CHECK(s == NULL ? f->hello_lost : f->shut && s->secret_len == 32);
}

/* The answer to a Hello on pe: a session opened or resumed there, or a resume refused. */
static void fuzz_on_hello(struct fuzz *f, struct fuzz_peer *pe, const Condd__V1__Response *resp)
{
    struct fuzz_sess *s = pe->s;
    bool resume = pe->resume_id != 0 && resp->id == pe->resume_id;
    if (resume)
        pe->resume_id = 0;
    if (resp->status == CONDD__V1__STATUS__STATUS_OK &&
        resp->result_case == CONDD__V1__RESPONSE__RESULT_HELLO && !pe->attached) {
        const Condd__V1__HelloResult *hr = resp->hello;
        FUZZ_CHECK(hr->resumed == resume);
        FUZZ_CHECK(hr->resume_secret.len == (hr->grace_s > 0 ? 32u : 0u));
        FUZZ_CHECK(!hr->acks || hr->grace_s > 0);
        FUZZ_CHECK(hr->acks || hr->requests_received == 0);
        if (!resume) {
            FUZZ_CHECK(!s->known); /* one session per client-side session */
            s->known = true;
            s->id = hr->session_id;
            s->secret_len = hr->resume_secret.len;
            if (s->secret_len > 0)
                memcpy(s->secret, hr->resume_secret.data, s->secret_len);
            s->acks = hr->acks;
            s->grace = hr->grace_s;
            FUZZ_CHECK(hr->requests_received == 0);
        } else {
            /* Only the real id and secret may resume, and the session stays what it was. */
            FUZZ_CHECK(!pe->expect_fail);
            FUZZ_CHECK(hr->session_id == s->id);
            FUZZ_CHECK(hr->resume_secret.len == s->secret_len &&
                       memcmp(hr->resume_secret.data, s->secret, s->secret_len) == 0);
            FUZZ_CHECK(hr->acks == s->acks);
            if (s->acks && !s->raw && !s->nreq_unsure) {
                FUZZ_CHECK(hr->requests_received >= s->last_rr);
                FUZZ_CHECK(hr->requests_received <= s->nreq_queued);
                s->last_rr = hr->requests_received;
            }
            /* The connection taken over was closed before this answer was written: what it
             * got comes first, so that the counts follow the server's order. */
            struct fuzz_peer *old = s->peer;
            if (old != NULL && old != pe && old->attached && old->s == s) {
                fuzz_drain(f, old);
                old->attached = false;
            }
            /* The counted Responses after the ack follow, numbered from there on. */
            if (pe->resume_ack > s->rmax)
                s->lost = true;
            else
                s->rcur = pe->resume_ack;
        }
        pe->attached = true;
        s->peer = pe;
        return;
    }
    if (resume) {
        /* Refused (RESUME_FAILED: the connection stays, unhandshaken) or closed: from here on
         * the connection is not that session's. */
        FUZZ_CHECK(resp->status != CONDD__V1__STATUS__STATUS_OK);
        /* Judged now, not when it was queued: what was sent since may have ended s. */
        FUZZ_CHECK(!pe->must_resume || !fuzz_must_resume(f, s, pe->resume_ack));
        s->maybe_ended = true;
        if (!s->known)
            return; /* a wrong resume: its session is a fresh one already */
        struct fuzz_sess *fresh = fuzz_sess_new(f);
        if (fresh != NULL) {
            /* The requests queued behind the resume were counted for s: a fresh Hello among
             * them opens this one, whose count of requests is not known. */
            fresh->next_id = s->next_id;
            fresh->nreq_unsure = true;
            fresh->maybe_ended = true; /* a Goodbye among them would have been counted for s */
            pe->s = fresh;
        } else {
            s->raw = true;
        }
    }
}

/* Reads what the daemon wrote to peer i and checks that it is a stream of Response frames.
 * Returns the number of bytes read. */
static size_t fuzz_drain(struct fuzz *f, struct fuzz_peer *pe)
{
    size_t total = 0;
    uint8_t buf[16384];
    while (pe->fd >= 0 && pe->daemon_fd >= 0) {
        ssize_t n = read(pe->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            /* The daemon closed its end (ECONNRESET if it left our bytes unread). */
            FUZZ_CHECK(n == 0 || errno == ECONNRESET);
            pe->daemon_fd = -1;
            pe->eof_sent = true;
            break;
        }
        total += (size_t)n;
        fuzz_append(&pe->in, &pe->ilen, &pe->icap, buf, (size_t)n);
    }
    size_t off = 0;
    while (off < pe->ilen) {
        Condd__V1__Response *resp;
        size_t used;
        enum frame_result r = frame_decode_response(pe->in + off, pe->ilen - off,
                                                    FRAME_CLIENT_MAX_BYTES, NULL, &resp, &used);
        if (r == FRAME_NEED_MORE)
            break;
        FUZZ_CHECK(r == FRAME_OK);
        /* A status condd.proto defines (whatever later rounds add to the enum). */
        FUZZ_CHECK(protobuf_c_enum_descriptor_get_value(&condd__v1__status__descriptor,
                                                        resp->status) != NULL);
        if (resp->result_case == CONDD__V1__RESPONSE__RESULT_HELLO ||
            (pe->resume_id != 0 && resp->id == pe->resume_id))
            fuzz_on_hello(f, pe, resp);
        if (resp->id == 0 && pe->attached)
            pe->s->maybe_ended = true; /* ended by the server (killed, expired, an error) */
        if (pe == f->sweep && resp->id > 1)
            fuzz_on_sweep(f, resp);
        if (f->debug)
            fprintf(stderr, "fuzz_conn: peer %d <- id %llu status %d result %d %s (counted %llu)\n",
                    (int)(pe - f->peers), (unsigned long long)resp->id, (int)resp->status,
                    (int)resp->result_case, resp->message, (unsigned long long)pe->s->rcur);
        fuzz_check_answer(pe, resp);
        condd__v1__response__free_unpacked(resp, NULL);
        off += used;
    }
    if (off > 0) {
        memmove(pe->in, pe->in + off, pe->ilen - off);
        pe->ilen -= off;
    }
    return total;
}

/* Bytes the daemon has not read yet from peer pe (0 once it closed its end). */
static int fuzz_unread(const struct fuzz_peer *pe)
{
    int n = 0;
    if (pe->daemon_fd < 0 || ioctl(pe->daemon_fd, FIONREAD, &n) != 0)
        return 0;
    return n;
}

/* Runs non-blocking loop passes until two in a row leave nothing active, nothing unread on the
 * daemon's sockets and nothing to drain on ours. */
static void fuzz_settle(struct fuzz *f)
{
    int quiet = 0;
    for (int pass = 0; quiet < 2; pass++) {
        FUZZ_CHECK(pass < FUZZ_MAX_PASSES);
        event_base_loop(f->base, EVLOOP_NONBLOCK);
        bool busy = event_base_get_num_events(f->base, EVENT_BASE_COUNT_ACTIVE) > 0;
        for (int i = 0; i < f->npeers; i++) {
            busy |= fuzz_drain(f, &f->peers[i]) > 0;
            busy |= fuzz_unread(&f->peers[i]) > 0;
        }
        quiet = busy ? 0 : quiet + 1;
    }
}

/* Writes peer pe's queued frames, letting the daemon run whenever the socket is full. */
static void fuzz_send(struct fuzz *f, struct fuzz_peer *pe)
{
    size_t off = 0;
    while (off < pe->olen && !pe->eof_sent) {
        ssize_t n = write(pe->fd, pe->out + off, pe->olen - off);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            fuzz_settle(f);
        } else if (n < 0 && errno != EINTR) {
            /* The daemon closed the connection (a protocol error, say): the rest is moot. */
            FUZZ_CHECK(errno == EPIPE || errno == ECONNRESET);
            pe->eof_sent = true;
        }
    }
    pe->olen = 0;
}

static void fuzz_flush_all(struct fuzz *f)
{
    for (int i = 0; i < f->npeers; i++)
        fuzz_send(f, &f->peers[i]);
    fuzz_settle(f);
}

/* The result case an OK answer to a request with body case body carries: the same number for
 * every request of condd.proto except NotifyAll, answered with a NotifyResult; 0 (untracked)
 * for a request without a body. */
static uint8_t fuzz_result_case(Condd__V1__Request__BodyCase body)
{
    if (body == CONDD__V1__REQUEST__BODY__NOT_SET)
        return 0;
    if (body == CONDD__V1__REQUEST__BODY_NOTIFY_ALL)
        return CONDD__V1__RESPONSE__RESULT_NOTIFY;
    return (uint8_t)body;
}

static void fuzz_queue(struct fuzz_peer *pe, const Condd__V1__Request *req)
{
    struct fuzz_sess *s = pe->s;
    if (req->id < FUZZ_MAX_IDS) {
        s->expect[req->id] = fuzz_result_case(req->body_case);
        s->answered[req->id] = false;
        if (req->body_case == CONDD__V1__REQUEST__BODY_BARRIER_WAIT)
            s->parties[req->id] = req->barrier_wait->parties;
    }
    if (req->body_case != CONDD__V1__REQUEST__BODY_HELLO)
        s->nreq_queued++;
    size_t n = frame_encoded_size(&req->base);
    uint8_t *buf = malloc(n);
    FUZZ_CHECK(buf != NULL);
    frame_encode(&req->base, buf);
    fuzz_append(&pe->out, &pe->olen, &pe->ocap, buf, n);
    free(buf);
}

/* Queues Hello h (borrowed) on pe with the given ack; returns its request id. */
static uint64_t fuzz_queue_hello_msg(struct fuzz_peer *pe, Condd__V1__Hello *h, uint64_t ack)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    req.id = pe->s->next_id++;
    req.ack = ack;
    req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
    req.hello = h;
    fuzz_queue(pe, &req);
    return req.id;
}

static void fuzz_queue_hello(struct fuzz_peer *pe, uint32_t version, double timeout,
                             const char *name)
{
    Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
    h.protocol_version = version;
    h.session_timeout_s = timeout;
    h.client_name = (char *)name;
    fuzz_queue_hello_msg(pe, &h, 0);
}

/* Queues a resume Hello of session s on pe with ack; a wrong one (expect_fail) names s's id or
 * secret wrongly (wrong: 1 one bit of the secret flipped, 2 no secret, 3 a short one, 4 an id
 * that is not s's, 5 no id). s NULL: a made-up id and secret. */
static void fuzz_queue_resume(struct fuzz_peer *pe, const struct fuzz_sess *s, int wrong,
                              uint64_t ack)
{
    Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
    uint8_t secret[32] = {0};
    h.protocol_version = CONDD_PROTOCOL_VERSION;
    h.client_name = (char *)"fuzz-resume";
    h.grace_s = 1; /* ignored in a resume */
    h.acks = true;
    h.resume_session = s != NULL ? s->id : 7 + (uint64_t)wrong;
    h.resume_secret.data = secret;
    h.resume_secret.len = sizeof secret;
    if (s != NULL)
        memcpy(secret, s->secret, sizeof secret);
    switch (wrong) {
    case 1:
        secret[wrong * 7 % 32] ^= 0x20;
        break;
    case 2:
        h.resume_secret.len = 0;
        break;
    case 3:
        h.resume_secret.len = 31;
        break;
    case 4:
        h.resume_session += 1000;
        break;
    case 5:
        h.resume_session = 0;
        break;
    default:
        break;
    }
    pe->resume_ack = ack;
    pe->expect_fail = s == NULL || wrong != 0;
    pe->must_resume = false;
    pe->resume_id = fuzz_queue_hello_msg(pe, &h, ack);
}

/* A new connection in slot pe, for session s (NULL: a fresh one; false when the input made too
 * many). */
static bool fuzz_open(struct fuzz *f, struct fuzz_peer *pe, struct fuzz_sess *s, bool hello)
{
    if (s == NULL && (s = fuzz_sess_new(f)) == NULL)
        return false;
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    FUZZ_CHECK(conn_new(f->srv, sv[0], true, "fuzz") != NULL);
    pe->fd = sv[1];
    pe->daemon_fd = sv[0];
    pe->eof_sent = false;
    pe->olen = pe->ilen = 0;
    pe->s = s;
    pe->attached = false;
    pe->resume_id = 0;
    pe->expect_fail = false;
    if (hello)
        fuzz_queue_hello(pe, CONDD_PROTOCOL_VERSION, 0, "fuzz");
    return true;
}

/* EOF on pe, then runs the loop until the daemon has closed its end. */
static void fuzz_close(struct fuzz *f, struct fuzz_peer *pe)
{
    fuzz_send(f, pe);
    if (pe->fd < 0)
        return;
    shutdown(pe->fd, SHUT_WR);
    pe->eof_sent = true;
    for (int pass = 0; pe->daemon_fd >= 0; pass++) {
        FUZZ_CHECK(pass < FUZZ_MAX_PASSES); /* the daemon must close a connection at EOF */
        fuzz_settle(f);
    }
    close(pe->fd);
    pe->fd = -1;
    pe->attached = false;
}

/* The client vanishes: its end closed without a Goodbye and without reading what is left, so
 * the daemon sees end-of-file or a reset and a session with a grace is detached (§5.5). The
 * daemon's end is not watched any more (its number may be reused once the daemon closes it). */
static void fuzz_vanish(struct fuzz *f, struct fuzz_peer *pe, bool flush)
{
    if (flush)
        fuzz_send(f, pe);
    pe->olen = 0;
    if (pe->fd < 0)
        return;
    if (!pe->attached)
        f->hello_lost = true;
    if (pe->resume_id != 0)
        pe->s->maybe_ended = true; /* a resume whose answer is lost: refused, it may end it */
    close(pe->fd);
    pe->fd = -1;
    pe->daemon_fd = -1;
    pe->eof_sent = true;
    pe->attached = false;
    fuzz_settle(f);
}

/* ------------------------------------------------------------------ structured operations */

/*
 * A resume of s with the real id and secret acking ack must succeed when nothing could have
 * ended s: no Goodbye or raw bytes on it, no refused resume of it, no Break or KillSession from
 * anyone, no shutdown, no overflow (the default --max-buffered-answers is far above what an input
 * makes), a grace far longer than an input runs (5 s at least), and with acks an ack that does
 * not go below an ack sent before nor above what was received, after acks that never went above
 * it either (else the server may have dropped a copy the client lacks: §5.6.2).
 */
static bool fuzz_must_resume(const struct fuzz *f, const struct fuzz_sess *s, uint64_t ack)
{
    if (s->raw || s->maybe_ended || f->ender || f->shut || f->small_buffer || s->grace < 5)
        return false;
    return !s->acks || (!s->overacked && !s->lost && ack >= s->max_ack && ack <= s->rcur);
}

/* The ack of a request of session s: mostly the counted Responses received so far, sometimes
 * fewer, none, more than were sent (the server takes it as all: the client may lose answers
 * it never received, and then a resume fails) or absurd. */
static uint64_t fuzz_ack(struct fuzz *f, const struct fuzz_sess *s)
{
    uint8_t x = fuzz_u8(&f->in);
    if (x < 160)
        return s->rcur;
    if (x < 200)
        return s->rcur > x % 4 ? s->rcur - x % 4 : 0;
    if (x < 220)
        return 0;
    if (x < 240)
        return s->rmax + 1 + x % 4;
    if (x < 250)
        return UINT64_MAX;
    return s->rmax + 1000000;
}

/* ------------------------------------------------------------------ connection-level operations */

static void fuzz_on_sleep(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

/* FUZZ_OP_SLEEP: lets real time pass (once per input) so that short timeouts fire. */
static void fuzz_sleep(struct fuzz *f)
{
    if (f->slept)
        return;
    f->slept = true;
    fuzz_flush_all(f);
    bool fired = false;
    struct event *ev = evtimer_new(f->base, fuzz_on_sleep, &fired);
    FUZZ_CHECK(ev != NULL);
    struct timeval tv = {0, 5000};
    evtimer_add(ev, &tv);
    while (!fired)
        event_base_loop(f->base, EVLOOP_ONCE);
    event_free(ev);
    fuzz_settle(f);
}

/* FUZZ_OP_HELLO: a Hello on pe (the opening one when mode bit 3 skipped those, else one more),
 * mostly of this protocol version, with a session timeout and a client name (empty, or with a
 * control character and UTF-8) from the input. */
static void fuzz_op_hello(struct fuzz *f, struct fuzz_peer *pe)
{
    uint8_t v = fuzz_u8(&f->in);
    uint8_t t = fuzz_u8(&f->in);
    fuzz_queue_hello(pe, v < 250 ? CONDD_PROTOCOL_VERSION : v - 248u, fuzz_hello_timeout(t),
                     (v & 1) ? "fuzz\x01\xc3\xa9" : "");
}

/* FUZZ_OP_RAW: raw bytes into pe's stream (garbage, a bad length prefix, part of a frame); they
 * may forge any request id, so the answer checks of its session are off from here on. */
static void fuzz_op_raw(struct fuzz *f, struct fuzz_peer *pe)
{
    size_t n = fuzz_u8(&f->in) % 16;
    pe->s->raw = true;
    for (size_t i = 0; i < n; i++) {
        uint8_t byte = fuzz_u8(&f->in);
        fuzz_append(&pe->out, &pe->olen, &pe->ocap, &byte, 1);
    }
}

/* FUZZ_OP_RECONNECT: ends pe's connection (its session hands its locks on) and opens a fresh
 * one with a Hello in its slot, FUZZ_MAX_REOPENS times per input at most. */
static void fuzz_op_reconnect(struct fuzz *f, struct fuzz_peer *pe)
{
    if (f->reopens++ >= FUZZ_MAX_REOPENS)
        return;
    fuzz_flush_all(f);
    fuzz_close(f, pe);
    fuzz_open(f, pe, NULL, true);
}

/* FUZZ_OP_SHUTDOWN: the graceful stop's first step (once per input): every pending request of
 * every kind is answered SHUTTING_DOWN and new waits are refused, with the connections still
 * open; the end of the input then closes them as the daemon's drain would. */
static void fuzz_op_shutdown(struct fuzz *f)
{
    if (f->shut)
        return;
    f->shut = true;
    fuzz_flush_all(f);
    server_begin_shutdown(f->srv);
    fuzz_settle(f);
}

/* Graces a Hello asks for: resumable for the whole input (1 s and more), over the server's
 * cap, or short enough that the one sleep of an input runs them out; none; invalid. */
static const double fuzz_graces[8] = {1, 30, 0.002, 0, 5, 1e300, 1e-9, -1};

/* FUZZ_OP_HELLO_GRACE: an opening Hello on pe asking for a grace and, mostly, acknowledged
 * delivery; from here on every request of its session carries an ack from the input. It takes
 * the request id fuzz_step() took. */
static void fuzz_op_hello_grace(struct fuzz *f, struct fuzz_peer *pe)
{
    Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
    uint8_t g = fuzz_u8(&f->in), a = fuzz_u8(&f->in);
    h.protocol_version = CONDD_PROTOCOL_VERSION;
    h.client_name = (char *)"fuzz-grace";
    h.grace_s = fuzz_graces[g % 8];
    h.acks = a % 4 != 3;
    h.session_timeout_s = fuzz_hello_timeout(a >> 2);
    pe->s->next_id--; /* fuzz_queue_hello_msg() takes the id */
    pe->s->ackbytes = true;
    fuzz_queue_hello_msg(pe, &h, 0);
}

/* A session the client knows with a resume secret (ended and attached ones too), picked by
 * input byte t; NULL when there is none. */
static struct fuzz_sess *fuzz_resume_target(struct fuzz *f, uint8_t t)
{
    struct fuzz_sess *known[FUZZ_MAX_SESS];
    int nknown = 0;
    for (int i = 0; i < f->nsess; i++)
        if (f->sess[i]->known && f->sess[i]->secret_len == 32)
            known[nknown++] = f->sess[i];
    return nknown > 0 ? known[t % nknown] : NULL;
}

/* The ack a resume of target sends, picked by input byte a: mostly what was received on its
 * last connection, sometimes less, none, more than was ever received, or 2^64 - 1. */
static uint64_t fuzz_resume_ack(const struct fuzz_sess *target, uint8_t a)
{
    switch (a % 8) {
    case 4:
        return target->rcur > 1u + (a >> 3) % 4 ? target->rcur - 1 - (a >> 3) % 4 : 0;
    case 5:
        return 0;
    case 6:
        return target->rmax + 1 + (a >> 3) % 4;
    case 7:
        return UINT64_MAX;
    default:
        return target->rcur;
    }
}

/* FUZZ_OP_RESUME: a new connection in pe's slot (its old one ends with EOF) resumes a session
 * the client knows (an attached one too: a takeover), mostly with the real id and secret,
 * sometimes with a wrong one, acking what was received, less, or more. FUZZ_MAX_RESUMES times
 * per input at most; its Hello takes the request id fuzz_step() took. */
static void fuzz_op_resume(struct fuzz *f, struct fuzz_peer *pe)
{
    uint8_t t = fuzz_u8(&f->in), w = fuzz_u8(&f->in), a = fuzz_u8(&f->in);
    pe->s->next_id--;
    if (f->resumes >= FUZZ_MAX_RESUMES || f->nsess > FUZZ_MAX_SESS - 2)
        return;
    f->resumes++;
    struct fuzz_sess *target = fuzz_resume_target(f, t);
    int wrong = w % 10 < 5 ? 0 : w % 10 - 4;
    fuzz_flush_all(f);
    fuzz_close(f, pe);
    FUZZ_CHECK(fuzz_open(f, pe, target != NULL && wrong == 0 ? target : NULL, false));
    /* Picked now: what the flush and the close drained counts. */
    uint64_t ack = target != NULL ? fuzz_resume_ack(target, a) : 0;
    fuzz_queue_resume(pe, target, target != NULL ? wrong : 6, ack);
    pe->must_resume = target != NULL && wrong == 0;
    if (target != NULL && wrong == 0 && ack > target->max_ack)
        target->max_ack = ack;
}

/* ------------------------------------------------------------------ one operation */

/* One operation: an op byte (low 6 bits: what, top 2 bits: which connection), then its
 * arguments. A connection-level operation runs at once; a request (fuzz_conn_ops.c) is queued,
 * with an ack from the input in a session that asked for acks, and sent at the next settle
 * point. */
static void fuzz_step(struct fuzz *f)
{
    uint8_t op = fuzz_u8(&f->in);
    struct fuzz_peer *pe = &f->peers[(op >> 6) % f->npeers];
    enum fuzz_op what = (enum fuzz_op)((op & 0x3f) % FUZZ_OP_COUNT);
    struct fuzz_req r;
    /* Every operation takes a request id, the connection-level ones too (the seeds' ids count
     * on it); HELLO_GRACE and RESUME hand theirs to their Hello. */
    fuzz_req_init(&r, pe->s->next_id++);
    if (f->debug)
        fprintf(stderr, "fuzz_conn: peer %d op %d\n", (int)(pe - f->peers), (int)what);
    switch (what) {
    case FUZZ_OP_HELLO:
        fuzz_op_hello(f, pe);
        return;
    case FUZZ_OP_RAW:
        fuzz_op_raw(f, pe);
        return;
    case FUZZ_OP_SETTLE:
        fuzz_flush_all(f);
        return;
    case FUZZ_OP_SLEEP:
        fuzz_sleep(f);
        return;
    case FUZZ_OP_RECONNECT:
        fuzz_op_reconnect(f, pe);
        return;
    case FUZZ_OP_SHUTDOWN:
        fuzz_op_shutdown(f);
        return;
    case FUZZ_OP_HELLO_GRACE:
        fuzz_op_hello_grace(f, pe);
        return;
    case FUZZ_OP_VANISH:
        /* The client end closes without a Goodbye, with or without writing what was queued. */
        fuzz_vanish(f, pe, fuzz_u8(&f->in) & 1);
        return;
    case FUZZ_OP_RESUME:
        fuzz_op_resume(f, pe);
        return;
    default:
        /* Every other operation builds a request. */
        FUZZ_CHECK(fuzz_build_request(&f->in, what, &r));
        break;
    }
    struct fuzz_sess *s = pe->s;
    if (s->ackbytes) {
        r.req.ack = fuzz_ack(f, s);
        s->overacked |= r.req.ack > s->rcur;
        if (r.req.ack > s->max_ack)
            s->max_ack = r.req.ack;
    }
    if (r.req.body_case == CONDD__V1__REQUEST__BODY_GOODBYE)
        s->maybe_ended = true;
    if (r.req.body_case == CONDD__V1__REQUEST__BODY_BREAK_HOLDERS ||
        r.req.body_case == CONDD__V1__REQUEST__BODY_KILL_SESSION)
        f->ender = true;
    fuzz_queue(pe, &r.req);
}

/* ------------------------------------------------------------------ the end of an input */

/*
 * Every connection is closed, so a session with a grace may be detached: end each one the
 * client knows, so that the check after it can want nothing left. A resume with the real secret
 * acking what was received, then Goodbye (an ended session refuses the resume, and the Goodbye
 * on the unhandshaken connection then closes it). Then an operator's connection kills every
 * session id below its own (ids count up from 1) and wants NOT_FOUND for all but those the
 * client could not end (fuzz_on_sweep()). A resume is refused while the server shuts down.
 */
static void fuzz_end_graces(struct fuzz *f)
{
    struct fuzz_peer *pe = &f->peers[0];
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Goodbye bye = CONDD__V1__GOODBYE__INIT;
    Condd__V1__KillSession kill = CONDD__V1__KILL_SESSION__INIT;
    for (int i = 0; i < f->nsess && !f->shut; i++) {
        struct fuzz_sess *s = f->sess[i];
        if (!s->known || s->secret_len != 32)
            continue;
        FUZZ_CHECK(fuzz_open(f, pe, s, false));
        fuzz_queue_resume(pe, s, 0, s->rcur);
        req.id = s->next_id++;
        req.body_case = CONDD__V1__REQUEST__BODY_GOODBYE;
        req.goodbye = &bye;
        fuzz_queue(pe, &req);
        fuzz_close(f, pe);
    }
    struct fuzz_sess *op = fuzz_sess_new(f);
    FUZZ_CHECK(op != NULL && fuzz_open(f, pe, op, true));
    fuzz_flush_all(f);
    FUZZ_CHECK(op->known);
    op->raw = true;
    f->sweep = pe;
    f->sweep_max = op->id - 1;
    req.body_case = CONDD__V1__REQUEST__BODY_KILL_SESSION;
    req.kill_session = &kill;
    for (uint64_t id = 1; id < op->id; id++) {
        req.id = id + 1;
        kill.session = id;
        fuzz_queue(pe, &req);
        if (pe->olen > 65536)
            fuzz_flush_all(f);
    }
    fuzz_close(f, pe);
    f->sweep = NULL;
}

/* ------------------------------------------------------------------ entry point */

/*
 * Input: byte 0 is the mode. Even: raw; bit 1 sends a valid Hello first; byte 1 is the chunk
 * size the rest is written in (0: all at once), with the loop run between chunks. Odd:
 * structured; bits 1-2 give 1 + (value % 3) connections, bit 3 set skips their opening Hello;
 * the rest is operations (see fuzz_step()).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct event_base *base;
    if (base == NULL) {
        signal(SIGPIPE, SIG_IGN);
        log_init(getenv("CONDD_FUZZ_DEBUG") != NULL ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
        base = event_base_new();
        FUZZ_CHECK(base != NULL);
    }
    if (size < 1)
        return 0;
    struct fuzz f = {.base = base, .in = {data + 1, size - 1}};
    f.debug = getenv("CONDD_FUZZ_DEBUG") != NULL;
    struct settings settings;
    settings_init(&settings);
    /* Mode bit 4: room for two answers only (--max-buffered-answers), so that copies are
     * dropped and detached sessions overflow (§5.5, §5.6.2). */
    if (data[0] & 0x10)
        settings.max_buffered_answers = 2;
    f.small_buffer = (data[0] & 0x10) != 0;
    f.srv = server_new(base, &settings);
    settings_clear(&settings);
    FUZZ_CHECK(f.srv != NULL);

    uint8_t mode = data[0];
    if ((mode & 1) == 0) {
        f.npeers = 1;
        fuzz_open(&f, &f.peers[0], NULL, (mode & 2) != 0);
        f.peers[0].s->raw = true;
        fuzz_send(&f, &f.peers[0]);
        size_t chunk = fuzz_u8(&f.in);
        if (chunk == 0)
            chunk = f.in.n;
        while (f.in.n > 0) {
            size_t n = chunk < f.in.n ? chunk : f.in.n;
            fuzz_append(&f.peers[0].out, &f.peers[0].olen, &f.peers[0].ocap, f.in.p, n);
            f.in.p += n;
            f.in.n -= n;
            fuzz_flush_all(&f);
        }
    } else {
        f.npeers = 1 + ((mode >> 1) & 3) % FUZZ_MAX_CONNS;
        for (int i = 0; i < f.npeers; i++)
            fuzz_open(&f, &f.peers[i], NULL, (mode & 8) == 0);
        for (int ops = 0; f.in.n > 0 && ops < FUZZ_MAX_OPS; ops++) {
            fuzz_step(&f);
            if (f.peers[0].olen + f.peers[f.npeers - 1].olen > 65536)
                fuzz_flush_all(&f);
        }
    }
    fuzz_flush_all(&f);
    for (int i = 0; i < f.npeers; i++)
        fuzz_close(&f, &f.peers[i]);
    fuzz_end_graces(&f);
    fuzz_settle(&f);
    fuzz_check_empty(f.srv, f.base);

    server_free(f.srv);
    for (int i = 0; i < f.npeers; i++) {
        free(f.peers[i].out);
        free(f.peers[i].in);
    }
    for (int i = 0; i < f.nsess; i++)
        free(f.sess[i]);
    return 0;
}
