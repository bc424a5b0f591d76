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
 * A tls: address runs the same connection through libevent's OpenSSL filter bufferevent over a
 * socket bufferevent, made once TCP is connected: the output buffer is handed to the filter,
 * which encrypts it at once into the socket bufferevent's output, and the flush sends that
 * itself (send(MSG_NOSIGNAL), so a dead server never raises SIGPIPE in the application, and
 * without a write event per message), watching the socket for writing only when it is full,
 * as in plaintext. Once the handshake is done, ev_read reads the socket too (one recv(), the
 * bytes handed to the filter to decrypt), so the socket bufferevent does I/O only during the
 * handshake. Decrypted input is taken from the filter into the same input buffer; everything
 * else (framing, Hello, keep-alive, resume) is shared.
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

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

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
    if (c->bev != NULL)
        bufferevent_free(c->bev); /* frees the SSL and the socket bufferevent, closes fd */
    else if (c->fd >= 0)
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

int cl_usable(const condd_async_conn *c)
{
    if (c->closing)
        return CONDD_ERR_CLOSED;
    if (c->state == CL_DEAD)
        return c->dead_reason != 0 ? c->dead_reason : CONDD_ERR_DISCONNECTED;
    return CONDD_OK;
}

/* TLS: has everything handed to the filter reached the socket? Nothing waits in the filter
 * (before the handshake is done) nor in the socket bufferevent's output (records not written). */
static bool tls_drained(const condd_async_conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
           evbuffer_get_length(bufferevent_get_output(c->under)) == 0;
}

/* TLS: once the batch in flight has all been written, wpos moves past it. Until then wpos is
 * its start: a record written in part gives the server none of its frames. */
static void tls_sync(condd_async_conn *c)
{
    if (c->bev != NULL && tls_drained(c))
        c->wpos = c->whanded;
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
    if (c->bev != NULL) {
        /* The batch in flight is unsent unless all its records were written (wpos stays at
         * its start): whole frames, for the resume (cl_unsent_start). */
        tls_sync(c);
        bufferevent_free(c->bev); /* and c->under, which closes fd */
        c->bev = NULL;
        c->under = NULL;
        c->fd = -1;
        c->tls_open = false;
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

void cl_fail(condd_async_conn *c, int reason, const char *msg)
{
    if (c->state == CL_DEAD)
        return;
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
    if (!c->closing) {
        c->message = c->msgbuf;
        if (!was_ready && c->connect_cb != NULL) {
            condd_async_connect_cb cb = c->connect_cb;
            c->connect_cb = NULL;
            cb(c, reason, c->connect_arg);
        } else if (was_ready && c->disconnect_cb != NULL) {
            c->disconnect_cb(c, reason, c->disconnect_arg);
        }
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

/* TLS: one sendmsg() of the encrypted output (the socket bufferevent's output, whose start it
 * keeps frozen for itself; it never writes here, so take its turn), drained by what went. */
static ssize_t tls_send_once(condd_async_conn *c, int flags)
{
    struct evbuffer *out = bufferevent_get_output(c->under);
    struct evbuffer_iovec v[16];
    struct iovec iov[16];
    int n = evbuffer_peek(out, -1, NULL, v, 16);
    if (n > 16)
        n = 16;
    for (int i = 0; i < n; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t w = sendmsg(c->fd, &m, flags | MSG_NOSIGNAL);
    if (w > 0) {
        evbuffer_unfreeze(out, 1);
        evbuffer_drain(out, (size_t)w);
        evbuffer_freeze(out, 1);
    }
    return w;
}

/* TLS: sends what the socket takes of the encrypted output. Arms the write event for the rest.
 * False when the connection failed. */
static bool tls_push(condd_async_conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->under);
    while (evbuffer_get_length(out) > 0) {
        ssize_t w = tls_send_once(c, 0);
        if (w > 0) {
            c->last_tx = clk_mono();
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->write_blocked) {
                event_add(c->ev_write, NULL);
                c->write_blocked = true;
            }
            return true;
        }
        char msg[160];
        snprintf(msg, sizeof msg, "send to the server failed: %s", strerror(errno));
        cl_fail(c, CONDD_ERR_DISCONNECTED, msg);
        return false;
    }
    if (c->write_blocked) {
        event_del(c->ev_write);
        c->write_blocked = false;
    }
    return true;
}

/*
 * TLS: the end of the next batch to hand the filter, from whanded: the whole frames that fit in
 * one record (16 KiB of plaintext), or one larger frame alone. A record reaches the server whole
 * or not at all, so when the connection breaks with a batch not all written the server has no
 * whole frame of it, and the batch is sent again after the resume without doubling a request.
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

/* The TLS flush: sends the records already made; once they are all written (the batch in
 * flight is on the wire), hands the filter the next batch (encrypted at once once the
 * handshake is done; held by it until then) and sends that. Usually everything queued in a
 * loop turn is one batch: one record, one send. */
static void flush_tls(condd_async_conn *c)
{
    for (;;) {
        if (!tls_push(c))
            return;
        if (!tls_drained(c))
            return; /* the write event (or the handshake) brings us back */
        c->wpos = c->whanded;
        if (c->whanded == c->wlen)
            break;
        /* Only whole frames are queued, so a batch is never empty. */
        size_t end = tls_batch_end(c);
        if (end == c->whanded)
            break;
        c->tls_pushing = true; /* the output callback need not schedule another flush */
        int rc = bufferevent_write(c->bev, c->wbuf + c->whanded, end - c->whanded);
        c->tls_pushing = false;
        if (rc != 0) {
            cl_fail(c, CONDD_ERR_NOMEM, "no memory for the TLS output");
            return;
        }
        c->whanded = end;
    }
    out_reset(c);
}

static void flush(condd_async_conn *c)
{
    if (c->wpos < c->wlen && peer_gone(c)) {
        do_read(c); /* meets the end-of-file: cl_fail() resumes, keeping the unsent frames */
        return;
    }
    if (c->bev != NULL) {
        flush_tls(c);
        return;
    }
    while (c->wpos < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos, MSG_NOSIGNAL);
        if (n > 0) {
            c->wpos += (size_t)n;
            c->last_tx = clk_mono();
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->write_blocked) {
                event_add(c->ev_write, NULL);
                c->write_blocked = true;
            }
            return;
        }
        char msg[160];
        snprintf(msg, sizeof msg, "send to the server failed: %s", strerror(errno));
        cl_fail(c, CONDD_ERR_DISCONNECTED, msg);
        return;
    }
    out_reset(c);
    if (c->write_blocked) {
        event_del(c->ev_write);
        c->write_blocked = false;
    }
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
    tls_sync(c);
    if (c->wpos > 0 && c->wpos == c->wlen)
        out_reset(c);
    if (c->wlen + size > c->wcap && c->wpos > 0) {
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

/* TLS: takes what the bufferevent decrypted into the input buffer, frame by frame. */
static void drain_tls(condd_async_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (c->bev != NULL && c->state != CL_DEAD && evbuffer_get_length(in) > 0) {
        if (c->rpos > 0 && c->rlen == c->rcap) {
            memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
            c->rlen -= c->rpos;
            c->rpos = 0;
        }
        if (c->rlen == c->rcap && !reserve(&c->rbuf, &c->rcap, c->rcap + CL_BUF_INITIAL)) {
            cl_fail(c, CONDD_ERR_NOMEM, "no memory for the input buffer");
            return;
        }
        int n = evbuffer_remove(in, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n <= 0)
            return;
        c->rlen += (size_t)n;
        c->last_rx = clk_mono();
        process_frames(c);
    }
}

/* TLS once the handshake is done: one recv() of the socket, handed to the socket
 * bufferevent's input, where the filter decrypts it at once (on_tls_read runs inside and takes
 * the frames). Its own read would ask FIONREAD first: one more system call per answer. Its
 * input's end is frozen for it; it is not reading, so take its turn. */
static void do_read_tls(condd_async_conn *c)
{
    if (!c->tls_open) {
        drain_tls(c);
        return;
    }
    uint8_t buf[16384];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        char msg[160];
        if (n == 0 && c->state == CL_HELLO)
            /* TLS 1.3: a server that refuses our certificate (or that we have none) says so
             * after our side of the handshake is done; all we may see is the close. */
            snprintf(msg, sizeof msg,
                     "the server closed the TLS connection before answering Hello (does it "
                     "require a client certificate?)");
        else if (n == 0)
            snprintf(msg, sizeof msg, "the server closed the connection");
        else
            snprintf(msg, sizeof msg, "receive from the server failed: %s", strerror(errno));
        /* Before the HelloResult a refused handshake is a failure to connect. */
        cl_fail(c, c->state == CL_HELLO ? CONDD_ERR_CONNECT : CONDD_ERR_DISCONNECTED, msg);
        return;
    }
    struct evbuffer *in = bufferevent_get_input(c->under);
    evbuffer_unfreeze(in, 0);
    int rc = evbuffer_add(in, buf, (size_t)n);
    evbuffer_freeze(in, 0);
    if (rc != 0) {
        cl_fail(c, CONDD_ERR_NOMEM, "no memory for the input buffer");
        return;
    }
    bufferevent_trigger(c->under, EV_READ, 0);
}

/* The handshake is done: from here ev_read reads the socket (do_read_tls). */
static void tls_opened(condd_async_conn *c)
{
    c->tls_open = true;
    bufferevent_disable(c->under, EV_READ);
    event_add(c->ev_read, NULL);
}

static void do_read(condd_async_conn *c)
{
    if (c->bev != NULL) {
        do_read_tls(c);
        return;
    }
    if (c->rpos > 0 && c->rlen == c->rcap) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rlen == c->rcap && !reserve(&c->rbuf, &c->rcap, c->rcap + CL_BUF_INITIAL)) {
        cl_fail(c, CONDD_ERR_NOMEM, "no memory for the input buffer");
        return;
    }
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
    if (n == 0)
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

static void on_tls_read(struct bufferevent *bev, void *arg)
{
    condd_async_conn *c = arg;
    cl_enter(c);
    /* libevent hands over data that came with the handshake's end before BEV_EVENT_CONNECTED. */
    if (!c->tls_open)
        tls_opened(c);
    drain_tls(c);
    cl_leave(c);
}

static void on_tls_event(struct bufferevent *bev, short what, void *arg)
{
    condd_async_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        /* The Hello queued behind the handshake goes out by itself. */
        if (!c->tls_open)
            tls_opened(c);
        return;
    }
    if (!(what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)))
        return;
    cl_enter(c);
    char msg[sizeof c->msgbuf];
    cl_tls_error(bev, msg, sizeof msg);
    if (msg[0] == '\0' && c->state == CL_HELLO)
        /* TLS 1.3: a server that refuses our certificate (or that we have none) says so after
         * our side of the handshake is done; all we may see is the close. */
        snprintf(msg, sizeof msg,
                 "the server closed the TLS connection before answering "
                 "Hello (does it require a client certificate?)");
    else if (msg[0] == '\0')
        snprintf(msg, sizeof msg, "the server closed the connection");
    /* Before the HelloResult a refused handshake is a failure to connect. */
    cl_fail(c, c->state == CL_HELLO ? CONDD_ERR_CONNECT : CONDD_ERR_DISCONNECTED, msg);
    cl_leave(c);
}

/* Anything TLS writes (handshake flights, alerts, records) lands in the socket bufferevent's
 * output: have the flush send it. */
static void on_tls_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    condd_async_conn *c = arg;
    if (info->n_added > 0 && !c->tls_pushing)
        schedule_flush(c);
}

/* TCP is up on a tls: address: the TLS handshake starts, and the Hello waits behind it in the
 * filter. The socket bufferevent takes over fd (c->fd stays its number, for sending). */
static bool start_tls(condd_async_conn *c)
{
    struct ssl_st *ssl = cl_tls_session(c->tls_ctx, c->tls_host);
    if (ssl == NULL)
        return false;
    c->under = bufferevent_socket_new(c->base, c->fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->under == NULL) {
        cl_tls_session_free(ssl);
        return false;
    }
    /* Callbacks are not deferred (a deferred one costs a turn of the loop per answer); each
     * one here is safe inside the bufferevent's own I/O. */
    c->bev = bufferevent_openssl_filter_new(c->base, c->under, ssl, BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        cl_tls_session_free(ssl);
        bufferevent_free(c->under); /* closes fd */
        c->under = NULL;
        c->fd = -1;
        return false;
    }
    bufferevent_disable(c->under, EV_WRITE); /* tls_push() sends, before the loop runs again */
    evbuffer_add_cb(bufferevent_get_output(c->under), on_tls_output, c);
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    bufferevent_setcb(c->bev, on_tls_read, NULL, on_tls_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
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
    if (c->bev == NULL)
        event_add(c->ev_read, NULL);
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
    if (cl_submit(c, &req, &p) != CONDD_OK)
        return false;
    struct timeval tv = clk_timeval(c->connect_timeout);
    event_add(c->ev_timer, &tv);
    cl_try_connect(c);
    return true;
}

int condd_async_conn_open(struct event_base *base, const char *addr, const condd_options *opts,
                          condd_async_connect_cb cb, void *arg, condd_async_conn **out)
{
    if (out != NULL)
        *out = NULL;
    if (base == NULL || out == NULL)
        return CONDD_ERR_INVALID;
    if (cl_cluster_is_list(cl_addr_effective(addr)))
        return cl_cluster_open(base, cl_addr_effective(addr), opts, cb, arg, out);
    struct cl_sockaddr *addrs = NULL;
    size_t n_addrs = 0;
    int rc = cl_addr_resolve(cl_addr_effective(addr), &addrs, &n_addrs);
    if (rc != CONDD_OK)
        return rc;
    condd_async_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        free(addrs);
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
            return CONDD_ERR_NOMEM;
        }
    }

    if (!cl_start_session(c, opts)) {
        destroy(c);
        return CONDD_ERR_NOMEM;
    }
    *out = c;
    return CONDD_OK;
}

/* Goodbye (protocol.md §5.7) as the last frame, written at once: the session ends on the server
 * whatever its grace. Answers already here are read and dropped first, so that closing the
 * socket sends a FIN rather than a reset that could overtake the Goodbye. */
static void say_goodbye(condd_async_conn *c)
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
    if ((c->bev == NULL && c->fd < 0) || !reserve(&c->wbuf, &c->wcap, c->wlen + size))
        return;
    c->wlen += frame_encode(&req.base, c->wbuf + c->wlen);
    if (c->bev != NULL) {
        /* TLS: everything not yet handed over is encrypted at once (no resume follows), and
         * the records are sent as far as the socket takes them. Not through flush_tls(): a
         * failed send there is a lost connection, which would start a resume (and report
         * RESUMING) on the way to CLOSED. */
        if (c->whanded < c->wlen &&
            bufferevent_write(c->bev, c->wbuf + c->whanded, c->wlen - c->whanded) == 0)
            c->whanded = c->wlen;
        while (evbuffer_get_length(bufferevent_get_output(c->under)) > 0 &&
               tls_send_once(c, MSG_DONTWAIT) > 0)
            ;
    } else {
        while (c->wpos < c->wlen) {
            ssize_t n =
                send(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n <= 0)
                break;
            c->wpos += (size_t)n;
        }
    }
    uint8_t scratch[4096];
    for (int i = 0; i < 64 && recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0; i++)
        ;
}

void condd_async_conn_close(condd_async_conn *c)
{
    if (c == NULL || c->closing)
        return;
    if (c->front != NULL) /* one server's connection of a list: the list's is closed */
        c = c->front;
    if (c->cluster != NULL) {
        cl_cluster_close(c);
        return;
    }
    cl_enter(c);
    if (c->state == CL_READY)
        say_goodbye(c);
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
