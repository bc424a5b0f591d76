/* SPDX-License-Identifier: BSD-2-Clause
 *
 * One client connection: connecting (trying each resolved address), Hello, framing (requests
 * are encoded straight into one output buffer and everything queued in a loop turn leaves in one
 * send(); responses are decoded from one input buffer with a bump allocator, so the hot path does
 * not call malloc), matching answers to pending requests by id, keep-alive pings and dead-server
 * detection, and the single path by which a connection ends (cl_fail) and a client is freed.
 * A failed connect keeps the operating system's reason (strerror() of the last address tried,
 * such as "Connection refused") as the connection's message, or says which step timed out.
 *
 * Raw events on the caller's event_base rather than bufferevents: a bufferevent arms and disarms
 * write readiness around every message, which costs system calls on the hot path; here the
 * socket is only watched for writing while the kernel buffer is full.
 *
 * A tls: address runs the same connection with OpenSSL on the socket itself (tls.c's session,
 * sending with MSG_NOSIGNAL so that a dead server never raises SIGPIPE in the application), on
 * the same events as plaintext: once TCP is connected the handshake is SSL_do_handshake() on
 * ev_read and ev_write (whichever OpenSSL wants); then a readable socket is SSL_read() into the
 * same input buffer (read-ahead on: one recv() per event, and cl_tls_pending() for records read
 * ahead), and the flush hands SSL_write() the output buffer one batch of whole frames (one
 * record) at a time, watching the socket for writing only when it is full and retrying the
 * same batch then. Everything else (framing, Hello, keep-alive, resume) is shared. libevent's
 * OpenSSL filter bufferevent did this before, at several thousand more instructions per
 * request (an SSL_read failing after every record, ERR_clear_error() before every call, a
 * malloc, free and copy per record each way): bench/RESULTS.md, "libcondd's TLS".
 *
 * Re-entrancy: every entry from the event loop and every public call that may run callbacks
 * brackets its work with cl_enter()/cl_leave(). condd_async_conn_close() inside a callback only
 * marks the client; the memory is freed by the outermost cl_leave(), after the callback has
 * returned.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "address.h"
#include "arena.h"
#include "clock.h"
#include "frame.h"
#include "internal.h"

#define CL_BUF_INITIAL (16u * 1024u)
/* An answer this recent (seconds) proves the connection alive for peer_gone(). */
#define CL_FRESH_RX 0.001

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void do_read(condd_async_conn *c);

/* ------------------------------------------------------------------ lifetime */

void cl_enter(condd_async_conn *c)
{
    c->depth++;
}

static void destroy(condd_async_conn *c)
{
    if (c->ev_read != NULL)
        event_free(c->ev_read);
    if (c->ev_write != NULL)
        event_free(c->ev_write);
    if (c->ev_flush != NULL)
        event_free(c->ev_flush);
    if (c->ev_timer != NULL)
        event_free(c->ev_timer);
    if (c->ev_backoff != NULL)
        event_free(c->ev_backoff);
    cl_tls_session_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    cl_tls_ctx_free(c->tls_ctx);
    free(c->tls_host);
    free(c->addrs);
    free(c->addr_text);
    /* The buffers may hold Hellos (token, secret) and the HelloResult (secret): wipe them. */
    if (c->wbuf != NULL)
        explicit_bzero(c->wbuf, c->wcap);
    free(c->wbuf);
    if (c->rbuf != NULL)
        explicit_bzero(c->rbuf, c->rcap);
    free(c->rbuf);
    explicit_bzero(c->secret, sizeof c->secret);
    free(c->server_version);
    if (c->token != NULL) {
        explicit_bzero(c->token, strlen(c->token));
        free(c->token);
    }
    cl_ptable_free(&c->pending);
    cl_acks_free(c);
    cl_drop_first_hello(c);
    free(c);
}

bool cl_leave(condd_async_conn *c)
{
    if (--c->depth == 0 && c->free_pending) {
        destroy(c);
        return true;
    }
    return false;
}

uint64_t cl_next_id(condd_async_conn *c)
{
    if (c->front != NULL) /* ids unique over every server of a list (cluster.c) */
        return c->front->next_id++;
    return c->next_id++;
}

int cl_usable(condd_async_conn *c)
{
    if (cl_forked(c))
        return cl_fork_refuse(c);
    if (c->closing)
        return CONDD_ERR_CLOSED;
    if (c->state == CL_DEAD)
        return c->dead_reason != 0 ? c->dead_reason : CONDD_ERR_DISCONNECTED;
    return CONDD_OK;
}

void cl_close_socket(condd_async_conn *c)
{
    if (c->ev_read != NULL) {
        event_free(c->ev_read);
        c->ev_read = NULL;
    }
    if (c->ev_write != NULL) {
        event_free(c->ev_write);
        c->ev_write = NULL;
    }
    if (c->ssl != NULL) {
        /* A batch in flight (wpos at its start, whanded its end) is unsent: the server has no
         * whole frame of a record written in part, so the resume sends it again whole. */
        cl_tls_session_free(c->ssl);
        c->ssl = NULL;
        c->whanded = c->wpos;
        c->tls_handshaking = c->tls_read_wants_write = false;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->write_blocked = false;
}

/* Empties the output buffer (everything in it was written). */
static void out_reset(condd_async_conn *c)
{
    c->wpos = c->wlen = c->wmark = c->whanded = c->hello_len = 0;
}

/* While the first Hello of a plaintext session is unanswered, the requests queued behind it
 * are held (flush() writes the Hello alone) and the output buffer keeps the Hello at its start:
 * a server that closes before answering (a live restart closes the connections it accepted
 * but had not read, protocol.md §5.10) may still have handled the Hello, its session then
 * detached, unknown to us, in its grace; a request it had read too would stay with that session
 * (a lock held by it until its grace ran out), so none is written before the HelloResult, and
 * cl_retry_hello() sends the same buffer again on a new connection. */
static bool out_keeps_written(const condd_async_conn *c)
{
    return c->first_hello != NULL && c->tls_ctx == NULL;
}

void cl_fail(condd_async_conn *c, int reason, const char *msg)
{
    if (c->state == CL_DEAD)
        return;
    if (reason == CONDD_ERR_DISCONNECTED && cl_retry_hello(c))
        return; /* closed before answering the first Hello: opening again */
    cl_drop_first_hello(c);
    if (cl_resume_on_failure(c, &reason, &msg))
        return; /* a session with a grace: reconnecting */
    bool was_ready = c->ever_ready;
    c->state = CL_DEAD;
    c->acks.asked = false;
    cl_acks_reset(c);
    c->dead_reason = reason;
    /* msg may be c->msgbuf itself (a connect error recorded there): copy through a scratch
     * buffer, as snprintf() into its own argument is undefined. */
    char text[sizeof c->msgbuf];
    snprintf(text, sizeof text, "%s", msg != NULL && *msg != '\0' ? msg : condd_strerror(reason));
    memcpy(c->msgbuf, text, sizeof c->msgbuf);
    cl_close_socket(c);
    event_del(c->ev_flush);
    event_del(c->ev_timer);
    event_del(c->ev_backoff);
    c->flush_scheduled = false;

    cl_enter(c);
    struct cl_pending *all = NULL;
    size_t n = 0;
    if (cl_ptable_drain(&c->pending, &all, &n) == CONDD_OK) {
        for (size_t i = 0; i < n; i++) {
            c->message = c->msgbuf;
            if (all[i].op != CL_OP_HELLO && all[i].op != CL_OP_KEEPALIVE)
                cl_deliver(c, &all[i], reason, NULL);
        }
        free(all);
    } else {
        /* Out of memory for the sorted copy: deliver in table order instead. */
        while (c->pending.count > 0) {
            for (size_t i = 0; i < c->pending.cap; i++) {
                if (c->pending.slots[i].id == 0)
                    continue;
                struct cl_pending p;
                cl_ptable_take(&c->pending, c->pending.slots[i].id, &p);
                c->message = c->msgbuf;
                if (p.op != CL_OP_HELLO && p.op != CL_OP_KEEPALIVE)
                    cl_deliver(c, &p, reason, NULL);
                break;
            }
        }
    }
    c->message = c->msgbuf;
    cl_waitfor_fail_all(c, reason);
    if (reason == CONDD_ERR_SESSION_LOST) {
        c->message = c->msgbuf;
        cl_session_event(c, CONDD_SESSION_LOST, reason);
    }
    c->message = c->msgbuf;
    if (!was_ready && c->connect_cb != NULL) {
        /* Also when closed before Hello completed (CONDD_ERR_CLOSED, inside the close): the
         * connect callback runs exactly once, whatever ends the attempt. */
        condd_async_connect_cb cb = c->connect_cb;
        c->connect_cb = NULL;
        cb(c, reason, c->connect_arg);
    } else if (!c->closing && was_ready && c->disconnect_cb != NULL) {
        c->disconnect_cb(c, reason, c->disconnect_arg);
    }
    c->message = "";
    cl_leave(c);
}

/* ------------------------------------------------------------------ writing */

/* Has the server's side gone (end-of-file or an error waiting in the socket, not yet seen by the
 * loop)? Checked before a write on a session with a grace, so that requests are not written into
 * a dead connection, where they would be lost, but kept and sent after the resume. The check
 * (one non-blocking recv(MSG_PEEK)) is skipped when an answer arrived within the last
 * CL_FRESH_RX seconds: a connection that just answered is alive, and a busy one (a request
 * written right after an answer was read) then pays no extra system call. */
static bool peer_gone(condd_async_conn *c)
{
    if (c->grace <= 0 || c->state != CL_READY || clk_mono() - c->last_rx < CL_FRESH_RX)
        return false;
    uint8_t b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Watches the socket for writing (the socket is full, or OpenSSL wants to write) or stops. */
static void want_write(condd_async_conn *c, bool on)
{
    if (on && !c->write_blocked) {
        event_add(c->ev_write, NULL);
        c->write_blocked = true;
    } else if (!on && c->write_blocked) {
        event_del(c->ev_write);
        c->write_blocked = false;
    }
}

/*
 * TLS: the end of the next batch to hand SSL_write(), from whanded: the whole frames that fit in
 * one record (16 KiB of plaintext; the client asks for no smaller maximum fragment length), or
 * one larger frame alone. A record reaches the server whole or not at all, so when the
 * connection breaks with a batch not all written the server has no whole frame of it, and the
 * batch is sent again after the resume without doubling a request.
 */
#define CL_TLS_BATCH_MAX 16384u
static size_t tls_batch_end(const condd_async_conn *c)
{
    size_t end = c->whanded;
    size_t plen;
    while (end < c->wlen &&
           frame_peek(c->wbuf + end, c->wlen - end, UINT32_MAX, &plen) == FRAME_OK) {
        size_t next = end + FRAME_HEADER_BYTES + plen;
        if (next > c->wlen || (next - c->whanded > CL_TLS_BATCH_MAX && end > c->whanded))
            break;
        end = next;
    }
    return end;
}

/* The reason a TLS write failed, as the plaintext path says it. */
static void tls_write_failed(condd_async_conn *c, const char *why)
{
    char msg[sizeof c->msgbuf];
    snprintf(msg, sizeof msg, "send to the server failed: %s", why);
    cl_fail(c, CONDD_ERR_DISCONNECTED, msg);
}

/* Writes the batch in flight ([wpos, whanded)) again if the socket did not take it, then the
 * next batches, one SSL_write() (one record, one send()) each: usually everything queued in a
 * loop turn is one batch. Returns DONE when all was written, WANT_WRITE when the socket is full
 * (the same batch is retried when it drains), or the failure (reason in why). */
static enum cl_tls_io tls_send(condd_async_conn *c, char *why, size_t whylen)
{
    for (;;) {
        if (c->whanded > c->wpos) {
            enum cl_tls_io r =
                cl_tls_write(c->ssl, c->wbuf + c->wpos, c->whanded - c->wpos, why, whylen);
            if (r != CL_TLS_DONE)
                return r;
            c->wpos = c->whanded; /* the batch is in the socket */
            c->last_tx = clk_mono();
        }
        if (c->wpos == c->wlen)
            return CL_TLS_DONE;
        /* Only whole frames are queued, so a batch is never empty. */
        size_t end = tls_batch_end(c);
        if (end == c->whanded)
            return CL_TLS_DONE;
        c->whanded = end;
    }
}

/* The TLS flush: after the handshake (which flushes when it is done), tls_send(), then the
 * write event for what the socket did not take, as in plaintext. */
static void flush_tls(condd_async_conn *c)
{
    if (c->tls_handshaking)
        return;
    if (c->tls_read_wants_write) {
        /* A read left something for the socket (an alert, a key update): reading again sends
         * it. */
        c->tls_read_wants_write = false;
        event_active(c->ev_read, EV_READ, 0);
    }
    char why[200];
    enum cl_tls_io r = tls_send(c, why, sizeof why);
    if (r == CL_TLS_WANT_WRITE) {
        want_write(c, true);
        return;
    }
    if (r != CL_TLS_DONE) {
        tls_write_failed(c, why);
        return;
    }
    out_reset(c);
    want_write(c, false);
}

static void flush(condd_async_conn *c)
{
    if (c->wpos < c->wlen && peer_gone(c)) {
        do_read(c); /* meets the end-of-file: cl_fail() resumes, keeping the unsent frames */
        return;
    }
    if (c->ssl != NULL) {
        flush_tls(c);
        return;
    }
    bool hold = out_keeps_written(c);
    size_t end = hold && c->first_hello_len < c->wlen ? c->first_hello_len : c->wlen;
    while (c->wpos < end) {
        ssize_t n = send(c->fd, c->wbuf + c->wpos, end - c->wpos, MSG_NOSIGNAL);
        if (n > 0) {
            c->wpos += (size_t)n;
            c->last_tx = clk_mono();
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            want_write(c, true);
            return;
        }
        char msg[160];
        snprintf(msg, sizeof msg, "send to the server failed: %s", strerror(errno));
        cl_fail(c, CONDD_ERR_DISCONNECTED, msg);
        return;
    }
    if (!hold)
        out_reset(c);
    want_write(c, false);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    condd_async_conn *c = arg;
    cl_enter(c);
    c->flush_scheduled = false;
    if ((c->state == CL_HELLO || c->state == CL_READY) && !c->write_blocked)
        flush(c);
    cl_leave(c);
}

static void schedule_flush(condd_async_conn *c)
{
    if (c->flush_scheduled || c->state == CL_CONNECTING || c->state == CL_DEAD)
        return;
    c->flush_scheduled = true;
    event_active(c->ev_flush, EV_WRITE, 0);
}

static bool reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap == 0 ? CL_BUF_INITIAL : *cap;
    while (ncap < need)
        ncap *= 2;
    uint8_t *nb = realloc(*buf, ncap);
    if (nb == NULL)
        return false;
    *buf = nb;
    *cap = ncap;
    return true;
}

int cl_submit(condd_async_conn *c, Condd__V1__Request *req, const struct cl_pending *p)
{
    if (c->cluster != NULL || c->front != NULL)
        return cl_cluster_submit(c, req, p);
    return cl_submit_direct(c, req, p);
}

/* Makes room for size more bytes at the end of the output buffer. */
static bool out_room(condd_async_conn *c, size_t size)
{
    bool keep = out_keeps_written(c);
    if (c->wpos > 0 && c->wpos == c->wlen && !keep)
        out_reset(c);
    if (c->wlen + size > c->wcap && c->wpos > 0 && !keep) {
        /* Keep the frame being written whole (a resume sends it again from its start). */
        size_t from = cl_unsent_start(c);
        memmove(c->wbuf, c->wbuf + from, c->wlen - from);
        c->wlen -= from;
        c->wpos -= from;
        c->whanded = c->whanded > from ? c->whanded - from : 0;
        c->wmark = 0;
        if (from > 0)
            c->hello_len = 0; /* the Hello is the first frame: it went whole */
    }
    return reserve(&c->wbuf, &c->wcap, c->wlen + size);
}

int cl_out_append(condd_async_conn *c, const uint8_t *data, size_t len)
{
    if (!out_room(c, len))
        return CONDD_ERR_NOMEM;
    memcpy(c->wbuf + c->wlen, data, len);
    c->wlen += len;
    schedule_flush(c);
    return CONDD_OK;
}

int cl_submit_direct(condd_async_conn *c, Condd__V1__Request *req, const struct cl_pending *p)
{
    int rc = cl_usable(c);
    if (rc != CONDD_OK)
        return rc;
    /* Acknowledged delivery (acks.c): a request acks every CL_ACKS_EVERY answers (a keep-alive
     * Ping always), and a counted one is copied. While resuming only the copy is made: the
     * resume Hello goes alone, and the copies follow its answer (cl_acks_resend()). */
    bool counted = cl_acks_keeping(c) && req->body_case != CONDD__V1__REQUEST__BODY_HELLO;
    if (counted && (c->acks.rx - c->acks.told >= CL_ACKS_EVERY ||
                    req->body_case == CONDD__V1__REQUEST__BODY_PING)) {
        req->ack = c->acks.rx;
        c->acks.told = c->acks.rx;
    }
    bool held = counted && c->resuming;
    size_t size = frame_encoded_size(&req->base);
    if (!held && !out_room(c, size))
        return CONDD_ERR_NOMEM;
    if (counted && !cl_acks_reserve(c, size))
        return CONDD_ERR_NOMEM;
    if (p != NULL && cl_ptable_put(&c->pending, p) != CONDD_OK)
        return CONDD_ERR_NOMEM;
    if (held) {
        frame_encode(&req->base, cl_acks_tail(c));
        cl_acks_push(c, req->id, NULL, size);
        return CONDD_OK;
    }
    uint8_t *frame = c->wbuf + c->wlen;
    c->wlen += frame_encode(&req->base, frame);
    if (counted)
        cl_acks_push(c, req->id, frame, size);
    schedule_flush(c);
    return CONDD_OK;
}

/* ------------------------------------------------------------------ reading */

void cl_start_keepalive(condd_async_conn *c)
{
    struct timeval tv = clk_timeval(c->session_timeout / 6);
    event_add(c->ev_timer, &tv);
}

static void on_hello(condd_async_conn *c, int rc, const Condd__V1__Response *r)
{
    cl_drop_first_hello(c); /* answered: never sent again */
    if (c->wpos < c->wlen)
        schedule_flush(c); /* the requests held behind it (out_keeps_written()) */
    if (c->resuming) {
        cl_resume_on_hello(c, rc, r);
        return;
    }
    if (rc != CONDD_OK) {
        cl_fail(c, rc, r->message);
        return;
    }
    if (r->result_case == CONDD__V1__RESPONSE__RESULT_HELLO && r->hello != NULL) {
        const Condd__V1__HelloResult *h = r->hello;
        if (h->session_timeout_s > 0)
            c->session_timeout = h->session_timeout_s;
        c->session_id = h->session_id;
        c->max_frame = h->max_frame_bytes;
        free(c->server_version);
        c->server_version = strdup(h->server_version != NULL ? h->server_version : "");
        c->grace = h->grace_s > 0 ? h->grace_s : 0;
        c->secret_len = 0;
        if (c->grace > 0 && h->resume_secret.len == sizeof c->secret) {
            memcpy(c->secret, h->resume_secret.data, sizeof c->secret);
            c->secret_len = sizeof c->secret;
        }
        cl_acks_on_hello(c, h);
    } else {
        cl_acks_on_hello(c, NULL);
    }
    if (c->session_timeout <= 0)
        c->session_timeout = 10; /* the server did not say: assume its documented default */
    c->state = CL_READY;
    c->ever_ready = true;
    c->last_rx = clk_mono();
    event_del(c->ev_timer);
    cl_start_keepalive(c);
    if (c->connect_cb != NULL) {
        condd_async_connect_cb cb = c->connect_cb;
        c->connect_cb = NULL;
        cb(c, CONDD_OK, c->connect_arg);
    }
}

static void handle_response(condd_async_conn *c, const Condd__V1__Response *r)
{
    int rc = cl_status_result((int)r->status);
    if (r->status == CONDD__V1__STATUS__STATUS_SHUTTING_DOWN)
        c->server_stopping = true;
    if (r->id == 0) {
        /* A connection-level error: the server closes after it. */
        if (r->status == CONDD__V1__STATUS__STATUS_TIMEOUT)
            rc = CONDD_ERR_SESSION_EXPIRED;
        else if (rc == CONDD_OK)
            rc = CONDD_ERR_PROTOCOL;
        cl_fail(c, rc, r->message);
        return;
    }
    struct cl_pending p;
    bool ours = cl_ptable_take(&c->pending, r->id, &p);
    /* Counted even when not ours: a forgotten keep-alive's answer after a resume. */
    if (c->acks.on)
        cl_acks_on_response(c, r);
    if (!ours)
        return; /* not ours (cannot happen with a conforming server): ignore */
    c->message = r->message != NULL ? r->message : "";
    switch (p.op) {
    case CL_OP_HELLO:
        on_hello(c, rc, r);
        break;
    case CL_OP_KEEPALIVE:
        c->keepalive_pending = false;
        break;
    default:
        cl_deliver(c, &p, rc, r);
        break;
    }
    c->message = "";
}

static void process_frames(condd_async_conn *c)
{
    while (c->state != CL_DEAD && c->rpos < c->rlen) {
        const uint8_t *buf = c->rbuf + c->rpos;
        size_t avail = c->rlen - c->rpos, plen = 0;
        enum frame_result fr = frame_peek(buf, avail, FRAME_CLIENT_MAX_BYTES, &plen);
        if (fr == FRAME_NEED_MORE) {
            if (plen > 0) {
                size_t need = FRAME_HEADER_BYTES + plen;
                if (c->rpos > 0) {
                    memmove(c->rbuf, buf, avail);
                    c->rlen = avail;
                    c->rpos = 0;
                }
                if (!reserve(&c->rbuf, &c->rcap, need))
                    cl_fail(c, CONDD_ERR_NOMEM, "no memory for a large response");
            }
            return;
        }
        Condd__V1__Response *r = NULL;
        size_t used = 0;
        if (fr == FRAME_OK)
            fr = frame_decode_response(buf, avail, FRAME_CLIENT_MAX_BYTES, &c->arena_alloc, &r,
                                       &used);
        if (fr != FRAME_OK) {
            char msg[128];
            snprintf(msg, sizeof msg, "bad frame from the server: %s", frame_strerror(fr));
            cl_fail(c, fr == FRAME_ERR_NOMEM ? CONDD_ERR_NOMEM : CONDD_ERR_PROTOCOL, msg);
            return;
        }
        c->rpos += used;
        handle_response(c, r);
        condd__v1__response__free_unpacked(r, &c->arena_alloc);
        arena_reset(&c->arena);
    }
    if (c->rpos == c->rlen)
        c->rpos = c->rlen = 0;
}

/* Room at the input buffer's end for one more read: the decoded bytes dropped, or the buffer
 * grown when it is full. False when the connection failed (out of memory). */
static bool in_room(condd_async_conn *c)
{
    if (c->rpos > 0 && c->rlen == c->rcap) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rlen == c->rcap && !reserve(&c->rbuf, &c->rcap, c->rcap + CL_BUF_INITIAL)) {
        cl_fail(c, CONDD_ERR_NOMEM, "no memory for the input buffer");
        return false;
    }
    return true;
}

/* A TLS connection ended (r: CLOSED, SOCKET or ERROR, why its reason) while reading or during the
 * handshake. Before the HelloResult it is a failure to connect. */
static void tls_ended(condd_async_conn *c, enum cl_tls_io r, const char *why)
{
    char msg[sizeof c->msgbuf];
    if (c->state == CL_HELLO && r != CL_TLS_ERROR)
        /* TLS 1.3: a server that refuses our certificate (or that we have none) says so after
         * our side of the handshake is done; all we may see is the close (or a reset, when
         * it closed with our Hello unread). */
        snprintf(msg, sizeof msg,
                 "the server closed the TLS connection before answering Hello (does it "
                 "require a client certificate?)");
    else if (r == CL_TLS_CLOSED)
        snprintf(msg, sizeof msg, "the server closed the connection");
    else if (r == CL_TLS_SOCKET)
        snprintf(msg, sizeof msg, "receive from the server failed: %s", why);
    else
        snprintf(msg, sizeof msg, "%s", why);
    cl_fail(c, c->state == CL_HELLO ? CONDD_ERR_CONNECT : CONDD_ERR_DISCONNECTED, msg);
}

/* One step of the handshake, on either socket event. Once it is done the Hello queued behind
 * it goes out, and anything the server sent with the handshake's end is read. */
static void tls_handshake_step(condd_async_conn *c)
{
    char why[200];
    enum cl_tls_io r = cl_tls_handshake(c->ssl, why, sizeof why);
    switch (r) {
    case CL_TLS_DONE:
        c->tls_handshaking = false;
        want_write(c, false);
        c->whanded = c->wpos;
        flush(c);
        if (c->ssl != NULL && c->state != CL_DEAD && cl_tls_pending(c->ssl))
            do_read(c);
        return;
    case CL_TLS_WANT_READ:
        want_write(c, false); /* ev_read is always armed */
        return;
    case CL_TLS_WANT_WRITE:
        want_write(c, true);
        return;
    default:
        tls_ended(c, r, why);
        return;
    }
}

/*
 * TLS: SSL_read() into the input buffer, the frames handled after each record, until OpenSSL
 * holds nothing more taken from the socket. With read-ahead the first read takes everything
 * the socket has in one recv(); asking cl_tls_pending() rather than reading until
 * WANT_READ saves a failing recv() (and OpenSSL's error path) per readable event.
 */
static void do_read_tls(condd_async_conn *c)
{
    if (c->tls_handshaking) {
        tls_handshake_step(c);
        return;
    }
    struct ssl_st *ssl = c->ssl;
    do {
        if (!in_room(c))
            return;
        char why[200];
        size_t got = 0;
        enum cl_tls_io r =
            cl_tls_read(ssl, c->rbuf + c->rlen, c->rcap - c->rlen, &got, why, sizeof why);
        if (r == CL_TLS_WANT_READ)
            return;
        if (r == CL_TLS_WANT_WRITE) {
            c->tls_read_wants_write = true;
            want_write(c, true);
            return;
        }
        if (r != CL_TLS_DONE) {
            tls_ended(c, r, why);
            return;
        }
        c->rlen += got;
        c->last_rx = clk_mono();
        process_frames(c);
        /* A callback may have ended the connection (or a resume begun with a new socket). */
    } while (c->ssl == ssl && c->state != CL_DEAD && cl_tls_pending(ssl));
}

static void do_read(condd_async_conn *c)
{
    if (c->ssl != NULL) {
        do_read_tls(c);
        return;
    }
    if (!in_room(c))
        return;
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
    if (n > 0) {
        c->rlen += (size_t)n;
        c->last_rx = clk_mono();
        process_frames(c);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    char msg[160];
    if ((n == 0 || errno == ECONNRESET) && c->state == CL_HELLO && c->ssl == NULL &&
        !c->ever_ready && !c->resuming && c->rlen == 0)
        /* Not a byte before the close: a condd answers Hello, or says why it will not; a TLS
         * listener drops a plaintext Hello without a word (a reset if it left some unread).
         * So does a live restart to the connections it accepted but did not read
         * (protocol.md §5.10): cl_retry_hello() opens again, and this is only reported when
         * that did not help, but the two look the same, so both are named. */
        snprintf(msg, sizeof msg,
                 "the server closed the connection before answering Hello (restarting, or does "
                 "it expect TLS? use tls:HOST:PORT)");
    else if (n == 0)
        snprintf(msg, sizeof msg, "the server closed the connection");
    else
        snprintf(msg, sizeof msg, "receive from the server failed: %s", strerror(errno));
    cl_fail(c, CONDD_ERR_DISCONNECTED, msg);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    condd_async_conn *c = arg;
    cl_enter(c);
    do_read(c);
    cl_leave(c);
}

/* ------------------------------------------------------------------ connecting */

/* TCP is up on a tls: address: the handshake starts; the Hello waits behind it in wbuf. */
static bool start_tls(condd_async_conn *c)
{
    c->ssl = cl_tls_session(c->tls_ctx, c->tls_host, c->fd);
    if (c->ssl == NULL)
        return false;
    c->tls_handshaking = true;
    c->tls_read_wants_write = false;
    c->whanded = c->wpos;
    return true;
}

static void connected(condd_async_conn *c)
{
    c->state = CL_HELLO;
    event_del(c->ev_write);
    if (c->tls_ctx != NULL && !start_tls(c)) {
        cl_fail(c, CONDD_ERR_NOMEM, "out of memory starting TLS");
        return;
    }
    event_add(c->ev_read, NULL);
    if (c->ssl != NULL)
        tls_handshake_step(c);
    else
        flush(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    condd_async_conn *c = arg;
    cl_enter(c);
    if (c->state == CL_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err == 0) {
            connected(c);
        } else {
            snprintf(c->msgbuf, sizeof c->msgbuf, "%s", strerror(err));
            cl_close_socket(c);
            c->addr_idx++;
            cl_try_connect(c);
        }
    } else if (c->ssl != NULL && c->tls_handshaking) {
        tls_handshake_step(c);
    } else if (c->state != CL_DEAD) {
        flush(c);
    }
    cl_leave(c);
}

/* Tries addresses from addr_idx on. When none is left, the failure is reported from the timer
 * (made due at once) so that the connect callback never runs inside condd_async_conn_open(). */
void cl_try_connect(condd_async_conn *c)
{
    while (c->addr_idx < c->n_addrs) {
        const struct cl_sockaddr *a = &c->addrs[c->addr_idx];
        int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            snprintf(c->msgbuf, sizeof c->msgbuf, "%s", strerror(errno));
            c->addr_idx++;
            continue;
        }
        if (a->family == AF_INET || a->family == AF_INET6) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        c->fd = fd;
        c->ev_read = event_new(c->base, fd, EV_READ | EV_PERSIST, on_read, c);
        c->ev_write = event_new(c->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
        if (c->ev_read == NULL || c->ev_write == NULL) {
            snprintf(c->msgbuf, sizeof c->msgbuf, "out of memory");
            cl_close_socket(c);
            break;
        }
        int r = connect(fd, (const struct sockaddr *)&a->ss, a->len);
        if (r == 0) {
            /* Immediate success (unix sockets): still let the loop drive Hello. */
            c->state = CL_CONNECTING;
            event_add(c->ev_write, NULL);
            return;
        }
        if (errno == EINPROGRESS || errno == EAGAIN) {
            event_add(c->ev_write, NULL);
            return;
        }
        snprintf(c->msgbuf, sizeof c->msgbuf, "%s", strerror(errno));
        cl_close_socket(c);
        c->addr_idx++;
    }
    /* Nothing left to try: report from the loop. */
    c->addr_idx = c->n_addrs;
    struct timeval now = {0, 0};
    event_add(c->ev_timer, &now);
}

static void send_keepalive(condd_async_conn *c)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Ping ping = CONDD__V1__PING__INIT;
    req.id = cl_next_id(c);
    req.body_case = CONDD__V1__REQUEST__BODY_PING;
    req.ping = &ping;
    struct cl_pending p = {.id = req.id, .op = CL_OP_KEEPALIVE};
    if (cl_submit(c, &req, &p) == CONDD_OK)
        c->keepalive_pending = true;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    condd_async_conn *c = arg;
    cl_enter(c);
    if (c->state == CL_CONNECTING || c->state == CL_HELLO) {
        if (c->state == CL_CONNECTING && c->addr_idx >= c->n_addrs)
            cl_fail(c, CONDD_ERR_CONNECT, c->msgbuf[0] != '\0' ? c->msgbuf : NULL);
        else if (c->state == CL_CONNECTING)
            cl_fail(c, CONDD_ERR_CONNECT, "timed out connecting");
        else
            cl_fail(c, CONDD_ERR_CONNECT, "timed out waiting for the server's answer to Hello");
    } else if (c->state == CL_READY) {
        double now = clk_mono(), t = c->session_timeout;
        if (now - c->last_rx > t) {
            /* The loop may have been blocked: read what already arrived before judging. */
            do_read(c);
            if (c->state == CL_READY && clk_mono() - c->last_rx > t)
                cl_fail(c, CONDD_ERR_SERVER_TIMEOUT,
                        "nothing heard from the server within the session timeout");
        } else if ((now - c->last_rx >= t / 3 || now - c->last_tx >= t / 3) &&
                   !c->keepalive_pending) {
            send_keepalive(c);
        }
    }
    cl_leave(c);
}

/* ------------------------------------------------------------------ public: connection */

bool cl_start_session(condd_async_conn *c, const condd_options *opts)
{
    char name[64];
    const char *client_name = opts != NULL ? opts->client_name : NULL;
    if (client_name == NULL) {
        snprintf(name, sizeof name, "libcondd/%ld", (long)getpid());
        client_name = name;
    }
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Hello hello = CONDD__V1__HELLO__INIT;
    hello.protocol_version = CONDD_PROTOCOL_VERSION;
    hello.client_name = (char *)client_name;
    hello.session_timeout_s = c->session_timeout;
    if (opts != NULL && opts->token != NULL) {
        hello.auth_token.data = (uint8_t *)opts->token;
        hello.auth_token.len = strlen(opts->token);
        if (c->grace_asked > 0 && (c->token = strdup(opts->token)) == NULL)
            return false;
    }
    hello.grace_s = c->grace_asked;
    hello.acks = c->grace_asked > 0; /* on only if HelloResult says so (acks.c) */
    c->acks.asked = hello.acks;
    req.id = cl_next_id(c);
    req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
    req.hello = &hello;
    struct cl_pending p = {.id = req.id, .op = CL_OP_HELLO};
    size_t size = frame_encoded_size(&req.base);
    if (cl_submit(c, &req, &p) != CONDD_OK)
        return false;
    cl_keep_first_hello(c, c->wlen - size); /* the frame just queued, at wbuf's end */
    struct timeval tv = clk_timeval(c->connect_timeout);
    event_add(c->ev_timer, &tv);
    cl_try_connect(c);
    return true;
}

int cl_conn_open(struct event_base *base, const char *addr, const condd_options *opts,
                 condd_async_connect_cb cb, void *arg, condd_async_conn **out)
{
    if (out != NULL)
        *out = NULL;
    if (base == NULL || out == NULL) {
        cl_set_global_message("no event_base or no place for the connection (NULL)");
        return CONDD_ERR_INVALID;
    }
    if (cl_cluster_is_list(cl_addr_effective(addr)))
        return cl_cluster_open(base, cl_addr_effective(addr), opts, cb, arg, out);
    struct cl_sockaddr *addrs = NULL;
    size_t n_addrs = 0;
    char why[sizeof((condd_async_conn *)0)->msgbuf];
    int rc = cl_addr_resolve(cl_addr_effective(addr), &addrs, &n_addrs, why, sizeof why);
    if (rc != CONDD_OK) {
        cl_set_global_message("%s", why);
        return rc;
    }
    condd_async_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        free(addrs);
        cl_set_global_message("out of memory");
        return CONDD_ERR_NOMEM;
    }
    c->base = base;
    c->fd = -1;
    c->addrs = addrs;
    c->n_addrs = n_addrs;
    c->state = CL_CONNECTING;
    c->next_id = 1;
    c->next_owner = 1;
    c->message = "";
    cl_fork_mark(c);
    arena_init(&c->arena, c->arena_buf, sizeof c->arena_buf);
    arena_allocator_init(&c->arena_alloc, &c->arena);
    c->connect_cb = cb;
    c->connect_arg = arg;
    c->connect_timeout = opts != NULL ? opts->connect_timeout : 10.0;
    c->session_timeout = opts != NULL && opts->session_timeout_set ? opts->session_timeout : 0;
    c->grace_asked = opts != NULL ? opts->grace : 0;
    c->reconnect = opts == NULL || !opts->no_reconnect;
    c->ev_flush = event_new(base, -1, 0, on_flush, c);
    c->ev_timer = event_new(base, -1, EV_PERSIST, on_timer, c);
    c->ev_backoff = evtimer_new(base, cl_on_backoff, c);
    c->addr_text = strdup(cl_addr_effective(addr));
    if (c->ev_flush == NULL || c->ev_timer == NULL || c->ev_backoff == NULL ||
        c->addr_text == NULL) {
        destroy(c);
        cl_set_global_message("out of memory");
        return CONDD_ERR_NOMEM;
    }
    struct addr_parts ap;
    if (addr_split(cl_addr_effective(addr), 0, CONDD_DEFAULT_PORT, &ap) && ap.tls) {
        /* The files are read once per client, here, so that a bad one fails the open. */
        char msg[sizeof c->msgbuf];
        const char *name =
            opts != NULL && opts->tls_server_name != NULL ? opts->tls_server_name : ap.host;
        c->tls_ctx = cl_tls_ctx_new(opts, msg, sizeof msg);
        if (c->tls_ctx == NULL) {
            cl_set_global_message("%s", msg);
            destroy(c);
            return CONDD_ERR_INVALID;
        }
        if ((c->tls_host = strdup(name)) == NULL) {
            destroy(c);
            cl_set_global_message("out of memory");
            return CONDD_ERR_NOMEM;
        }
    }

    if (!cl_start_session(c, opts)) {
        destroy(c);
        cl_set_global_message("out of memory");
        return CONDD_ERR_NOMEM;
    }
    *out = c;
    return CONDD_OK;
}

int condd_async_conn_open(struct event_base *base, const char *addr, const condd_options *opts,
                          condd_async_connect_cb cb, void *arg, condd_async_conn **out)
{
    cl_set_global_message("%s", ""); /* this open's reason, never an earlier one's */
    int rc = cl_conn_open(base, addr, opts, cb, arg, out);
    const char *msg = condd_conn_message(NULL), *env = getenv("CONDD_SERVER");
    if (rc != CONDD_OK && (addr == NULL || *addr == '\0') && *msg != '\0' && env != NULL &&
        *env != '\0') { /* the address came from the environment: say so */
        char why[400];
        snprintf(why, sizeof why, "%s", msg); /* msg is the buffer written below */
        cl_set_global_message("$CONDD_SERVER: %s", why);
    }
    return rc;
}

/* Goodbye (protocol.md §5.7) as the last frame, written at once: the session ends on the server
 * whatever its grace. Once it is all in the socket, shutdown(SHUT_WR) puts a FIN right behind
 * it, and answers already here are read and dropped, so that closing the socket sends a FIN
 * rather than a reset that could overtake the Goodbye (answers still coming, such as the kept
 * ones after a resumed HelloResult, may make the close a reset: it then comes after the FIN). */
void cl_say_goodbye(condd_async_conn *c)
{
    /* Straight into the output buffer and the socket, best effort: an error here must not end
     * the connection any other way than the close that follows (pending calls get CLOSED). */
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Goodbye g = CONDD__V1__GOODBYE__INIT;
    req.id = cl_next_id(c);
    req.body_case = CONDD__V1__REQUEST__BODY_GOODBYE;
    req.goodbye = &g;
    req.ack = c->acks.on ? c->acks.rx : 0;
    size_t size = frame_encoded_size(&req.base);
    if (c->fd < 0 || !reserve(&c->wbuf, &c->wcap, c->wlen + size))
        return;
    c->wlen += frame_encode(&req.base, c->wbuf + c->wlen);
    if (c->ssl != NULL) {
        /* TLS: the batches are written as far as the socket takes them (the socket is
         * non-blocking). Not through flush_tls(): a failed send there is a lost connection,
         * which would start a resume (and report RESUMING) on the way to CLOSED. */
        char why[200];
        if (!c->tls_handshaking)
            (void)tls_send(c, why, sizeof why);
    } else {
        while (c->wpos < c->wlen) {
            ssize_t n =
                send(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n <= 0)
                break;
            c->wpos += (size_t)n;
        }
    }
    if (c->wpos == c->wlen)
        shutdown(c->fd, SHUT_WR);
    uint8_t scratch[4096];
    for (int i = 0; i < 64 && recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0; i++)
        ;
}

/* condd_async_conn_close() in a process that did not open c (a child after fork()): the socket
 * and the session are the opener's, so nothing is written, shut down or delivered; only this
 * process's copies go. The socket is closed before its events are freed: their removal then
 * fails harmlessly (EBADF) rather than deleting the socket from an epoll set the child may
 * still share with the parent. */
static void close_forked(condd_async_conn *c)
{
    c->closing = true;
    c->state = CL_DEAD;
    c->dead_reason = CONDD_ERR_CLOSED;
    cl_tls_session_free(c->ssl); /* sends nothing (no close_notify) */
    c->ssl = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->free_pending = true;
    if (c->depth == 0)
        destroy(c);
}

void condd_async_conn_close(condd_async_conn *c)
{
    if (c == NULL || c->closing)
        return;
    if (c->front != NULL) /* one server's connection of a list: the list's is closed */
        c = c->front;
    if (c->cluster != NULL) {
        cl_cluster_close(c); /* each server's connection as below */
        return;
    }
    if (cl_forked(c)) {
        close_forked(c);
        return;
    }
    cl_enter(c);
    if (c->state == CL_READY)
        cl_say_goodbye(c);
    c->closing = true;
    cl_fail(c, CONDD_ERR_CLOSED, "client closed");
    c->free_pending = true;
    cl_leave(c);
}

void condd_async_conn_set_disconnect_cb(condd_async_conn *c, condd_async_disconnect_cb cb,
                                        void *arg)
{
    if (c == NULL)
        return;
    c->disconnect_cb = cb;
    c->disconnect_arg = cb != NULL ? arg : NULL;
    if (c->cluster != NULL)
        cl_cluster_sync_cbs(c);
}

void condd_async_conn_set_session_cb(condd_async_conn *c, condd_async_session_cb cb, void *arg)
{
    if (c == NULL)
        return;
    c->session_cb = cb;
    c->session_arg = cb != NULL ? arg : NULL;
    if (c->cluster != NULL)
        cl_cluster_sync_cbs(c);
}

double condd_async_conn_grace(const condd_async_conn *c)
{
    return c != NULL ? c->grace : 0;
}

bool condd_async_conn_is_connected(const condd_async_conn *c)
{
    if (c != NULL && c->cluster != NULL)
        return !c->closing && cl_cluster_any_ready(c);
    return c != NULL && c->state == CL_READY && !c->closing;
}

const char *condd_async_conn_message(const condd_async_conn *c)
{
    return c != NULL && c->message != NULL ? c->message : "";
}

uint64_t condd_async_conn_new_owner(condd_async_conn *c)
{
    if (c != NULL && c->front != NULL) /* unique over every server of a list */
        c = c->front;
    return c != NULL ? c->next_owner++ : 0;
}

double condd_async_conn_session_timeout(const condd_async_conn *c)
{
    return c != NULL ? c->session_timeout : 0;
}

const char *condd_async_conn_server_version(const condd_async_conn *c)
{
    return c != NULL && c->server_version != NULL ? c->server_version : "";
}

uint64_t condd_async_conn_session_id(const condd_async_conn *c)
{
    return c != NULL ? c->session_id : 0;
}

size_t condd_async_conn_pending_count(const condd_async_conn *c)
{
    if (c == NULL)
        return 0;
    if (c->cluster != NULL)
        return cl_cluster_pending(c);
    size_t n = c->pending.count;
    if (c->keepalive_pending && n > 0)
        n--;
    if ((c->state == CL_CONNECTING || c->state == CL_HELLO) && n > 0)
        n--; /* Hello */
    return n;
}

struct event_base *condd_async_conn_base(const condd_async_conn *c)
{
    return c != NULL ? c->base : NULL;
}
