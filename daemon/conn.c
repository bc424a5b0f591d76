/* SPDX-License-Identifier: BSD-2-Clause
 *
 * One client connection: its socket, input and output buffers, its state (awaiting Hello,
 * active, closed) and its session timer. It moves bytes and frames only; dispatch.c gives
 * requests their meaning. Plain libevent events are used rather than bufferevents: a read is
 * one read(2) into the server's shared read buffer, whole frames are handled from there without
 * a copy, and only a partial frame is kept per connection. Replies are encoded into a
 * per-connection output buffer and written by the loop-wide flush (server.c) with one write(2)
 * per connection per loop turn; write readiness is armed only when the socket did not take
 * everything. That keeps a request at three system calls (epoll_wait, read, write) instead of
 * the seven of a bufferevent, and the hot path free of buffer allocations.
 *
 * TLS connections (accepted on a --listen-tls listener) take the same path with OpenSSL on the
 * socket itself (SSL_set_fd): the handshake is SSL_do_handshake() on rd and wr; then
 * conn_read() is SSL_read() into the same shared read buffer (read-ahead on, so one read(2)
 * per readable event, and tls_read_pending() for what was read ahead), the same
 * conn_process() handles the frames, and the flush hands SSL_write() the same output buffer,
 * one batch of whole frames (one TLS record) at a time. A batch stays in the output buffer
 * until all its records are in the socket, so that what is not on the wire when the
 * connection detaches is kept for the resume as in plaintext; a write the socket did not take
 * is retried with the same batch when wr fires. So a request costs the same three system calls
 * as in plaintext and no buffer copy. libevent's OpenSSL filter bufferevent did this before,
 * at 3.1x the plaintext daemon's instructions per lock cycle, ~7,000-8,000 of them its own
 * (an SSL_read that fails after every record, ERR_clear_error() before every call, a
 * malloc, free and copy per record each way): bench/RESULTS.md, Round 4.
 *
 * Every error on a connection goes through conn_close(), which touches nothing else.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "engine.h"
#include "frame.h"
#include "log.h"
#include "server_internal.h"

/* ------------------------------------------------------------------ lifetime */

static void conn_free(struct conn *c)
{
    if (c->rd != NULL)
        event_free(c->rd);
    if (c->wr != NULL)
        event_free(c->wr);
    if (c->timer != NULL)
        event_free(c->timer);
    free(c->ibuf);
    free(c->obuf);
    free(c);
}

/* Called at the end of every callback that used c: frees it if it was closed meanwhile. */
static void conn_release(struct conn *c)
{
    if (--c->busy == 0 && c->state == CONN_CLOSED)
        conn_free(c);
}

/* The whole unsent frames of c, from the start of the frame being written (the peer dropped
 * what it got of it, and gets it again whole after a resume). */
const uint8_t *conn_unsent_frames(struct conn *c, size_t *len)
{
    size_t off = c->ostart;
    while (off < c->ooff) {
        size_t plen = 0;
        if (frame_peek(c->obuf + off, c->olen - off, UINT32_MAX, &plen) != FRAME_OK)
            break;
        if (off + FRAME_HEADER_BYTES + plen > c->ooff)
            break;
        off += FRAME_HEADER_BYTES + plen;
    }
    *len = c->olen - off;
    /* NULL when nothing is unsent: obuf itself is NULL once a flush gave a large buffer back,
     * and NULL + 0 is undefined (found by fuzz_conn). */
    return *len > 0 ? c->obuf + off : NULL;
}

/* c's handshake no longer counts against --max-handshakes (done, or the connection closed). */
static void conn_handshake_end(struct conn *c)
{
    if (c->in_handshakes) {
        c->in_handshakes = false;
        c->srv->nhandshakes--;
    }
}

void conn_close(struct conn *c, const char *why)
{
    struct server *srv = c->srv;
    if (c->state == CONN_CLOSED)
        return;
    log_debug("connection %s (session %llu, %s) closed: %s", c->peer,
              (unsigned long long)c->session_id, c->client_name, why);
    c->state = CONN_CLOSED;
    event_del(c->rd);
    if (c->wr != NULL)
        event_del(c->wr);
    event_del(c->timer);
    if (c->dirty) {
        TAILQ_REMOVE(&srv->dirty, c, dirty_link);
        c->dirty = false;
    }
    TAILQ_REMOVE(&srv->conns, c, link);
    srv->nconns--;
    conn_handshake_end(c);
    if (c->ssl != NULL) {
        /* A batch whose write waits ([ostart, ooff)) is unsent: the peer has a part of a record
         * at most, which it cannot decrypt; it is kept whole for the resume. No close_notify
         * (tls.h says why). */
        c->ooff = c->ostart;
        tls_free_session(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd);
    c->fd = -1;
    struct dsession *ds = c->ds;
    c->ds = NULL;
    c->sess = NULL;
    if (ds != NULL && ds->grace > 0 && !c->no_detach && !srv->shutting_down) {
        /* Vanished without a Goodbye: the session waits for a resume for its grace. */
        size_t len;
        const uint8_t *out = conn_unsent_frames(c, &len);
        resume_detach(ds, out, len);
    } else if (ds != NULL) {
        /* Last: ending the session hands its locks on, which queues replies to other conns. */
        ds->conn = NULL;
        resume_end(ds);
    }
    if (c->busy == 0)
        conn_free(c);
}

/* ------------------------------------------------------------------ output */

static void conn_mark_dirty(struct conn *c)
{
    struct server *srv = c->srv;
    if (c->dirty || c->state == CONN_CLOSED)
        return;
    c->dirty = true;
    TAILQ_INSERT_TAIL(&srv->dirty, c, dirty_link);
    event_active(srv->flush_ev, EV_WRITE, 0);
}

/* Makes room for n more bytes at the end of the output buffer. */
static bool conn_out_reserve(struct conn *c, size_t n)
{
    if (c->ostart > 0 && c->ocap - c->olen < n) {
        /* From the start of the frame being written, not from ooff: see conn_unsent_frames. */
        memmove(c->obuf, c->obuf + c->ostart, c->olen - c->ostart);
        c->olen -= c->ostart;
        c->ooff -= c->ostart;
        c->ostart = 0;
    }
    if (c->ocap - c->olen >= n)
        return true;
    size_t cap = c->ocap > 0 ? c->ocap : CONN_OUTPUT_MIN;
    while (cap - c->olen < n)
        cap *= 2;
    uint8_t *nb = realloc(c->obuf, cap);
    if (nb == NULL)
        return false;
    c->obuf = nb;
    c->ocap = cap;
    return true;
}

/* Is msg (a Response: conn_send() sends nothing else) a counted Response of acknowledged
 * delivery (protocol.md §5.6.2): an answer to a request, not a HelloResult or a connection-level
 * message? */
static bool conn_counted(const ProtobufCMessage *msg)
{
    const Condd__V1__Response *r = (const Condd__V1__Response *)msg;
    return msg->descriptor == &condd__v1__response__descriptor && r->id != 0 &&
           r->result_case != CONDD__V1__RESPONSE__RESULT_HELLO;
}

void conn_send(struct conn *c, const ProtobufCMessage *msg)
{
    if (c->state == CONN_CLOSED)
        return;
    size_t n = frame_encoded_size(msg);
    if (c->state == CONN_BUFFERING) {
        /* Kept for a detached session: encoded, not written (resume_buffer_reply). */
        if (!conn_out_reserve(c, n)) {
            c->buffer_failed = true;
            return;
        }
        c->olen += frame_encode(msg, c->obuf + c->olen);
        return;
    }
    if (!conn_out_reserve(c, n)) {
        log_error("connection %s: out of memory queueing a %zu-byte reply", c->peer, n);
        conn_close(c, "out of memory");
        return;
    }
    uint8_t *frame = c->obuf + c->olen;
    c->olen += frame_encode(msg, frame);
    c->srv->stats.bytes_out += n;
    if (c->ds != NULL && c->ds->acks && conn_counted(msg))
        resume_retain(c->ds, frame, n, c->srv->settings.max_buffered_answers);
    conn_mark_dirty(c);
}

static void conn_pause_reading(struct conn *c, bool pause)
{
    if (pause == c->read_paused)
        return;
    c->read_paused = pause;
    if (pause)
        event_del(c->rd);
    else
        event_add(c->rd, NULL);
}

/* Moves ostart past the frames that went out whole, written being the offset up to which the
 * socket took the output, so that the buffer does not keep them. */
static void conn_out_advance(struct conn *c, size_t written)
{
    size_t plen;
    while (frame_peek(c->obuf + c->ostart, c->olen - c->ostart, UINT32_MAX, &plen) == FRAME_OK &&
           c->ostart + FRAME_HEADER_BYTES + plen <= written)
        c->ostart += FRAME_HEADER_BYTES + plen;
}

/*
 * TLS: the next batch of whole frames to hand SSL_write(), from ooff: as many as fit in one TLS
 * record (tls_record_max(): 16 KiB unless the client negotiated less), or a single larger frame
 * alone. A record is decrypted whole or not at all, so a batch that did not all reach the socket
 * gave the peer no whole frame of it (a frame larger than a record reaches it in part at most, and
 * the peer drops a partial frame): the batch is kept in obuf until it has drained, and is sent
 * again whole after a resume. Not cutting the batch would let the peer receive the first records of
 * a batch whose end was lost with the connection, and get those answers twice.
 */
static size_t conn_tls_batch_end(struct conn *c)
{
    /* One record: 16 KiB, or less when the client negotiated a smaller maximum fragment
     * length (RFC 6066), where a larger batch would be cut into several records. */
    size_t max = tls_record_max(c->ssl);
    size_t end = c->ooff;
    size_t plen;
    while (end < c->olen &&
           frame_peek(c->obuf + end, c->olen - end, UINT32_MAX, &plen) == FRAME_OK) {
        size_t next = end + FRAME_HEADER_BYTES + plen;
        if (next > c->olen || (next - c->ooff > max && end > c->ooff))
            break;
        end = next;
    }
    return end;
}

/* Closes c after a TLS read or write came to an end (r: TLS_IO_CLOSED or TLS_IO_ERROR). An
 * error after the handshake (a fatal alert, a bad record) is said at info level, as a failed
 * handshake is: an operator looking for why a client dropped finds it without debug logs. */
static void conn_tls_end(struct conn *c, enum tls_io r, const char *why)
{
    c->tls_failed = r == TLS_IO_ERROR;
    if (c->tls_failed)
        log_info("connection %s (session %llu): TLS error: %s; closing it", c->peer,
                 (unsigned long long)c->session_id, why);
    conn_close(c, why);
}

/*
 * TLS: retries the write of the batch in flight ([ostart, ooff) of obuf) if the socket did not
 * take it, then writes the next batches, one SSL_write each: usually a loop turn's replies are
 * one batch, one record, one write(2). Returns the bytes not yet on the wire (plaintext kept in
 * obuf), or SIZE_MAX when c was closed.
 */
static size_t conn_tls_send(struct conn *c)
{
    char why[256];
    if (c->ooff < c->olen || c->ooff > c->ostart)
        c->tls_active = c->tls_buffers_held = true;
    for (;;) {
        if (c->ooff > c->ostart) {
            enum tls_io r =
                tls_write(c->ssl, c->obuf + c->ostart, c->ooff - c->ostart, why, sizeof why);
            if (r == TLS_IO_WANT_WRITE)
                return c->olen - c->ostart;
            if (r != TLS_IO_DONE) {
                conn_tls_end(c, r, why);
                return SIZE_MAX;
            }
            c->ostart = c->ooff; /* the batch is in the socket */
        }
        if (c->ooff == c->olen)
            break;
        size_t end = conn_tls_batch_end(c);
        if (end == c->ooff)
            break; /* no whole frame (cannot happen: only whole frames are queued) */
        c->ooff = end;
    }
    c->ooff = c->olen = c->ostart = 0;
    if (c->ocap > CONN_OUTPUT_KEEP) {
        free(c->obuf);
        c->obuf = NULL;
        c->ocap = 0;
    }
    return 0;
}

static void conn_tls_handshake(struct conn *c);

/* The TLS flush: send, and arm the write event for what the socket did not take, as
 * conn_flush_now() does in plaintext. */
static void conn_flush_tls(struct conn *c)
{
    if (c->handshaking) {
        conn_tls_handshake(c); /* wr fired for the handshake; nothing is queued yet */
        return;
    }
    if (c->tls_read_wants_write) {
        /* A read left an alert for the socket: the read again will send it. */
        c->tls_read_wants_write = false;
        event_active(c->rd, EV_READ, 0);
    }
    size_t left = conn_tls_send(c);
    if (left == SIZE_MAX)
        return;
    if (left > 0 && !c->write_armed) {
        event_add(c->wr, NULL);
        c->write_armed = true;
    } else if (left == 0 && c->write_armed) {
        event_del(c->wr);
        c->write_armed = false;
    }
    bool was_paused = c->read_paused;
    conn_pause_reading(c, left > CONN_OUTPUT_HIGH_WATER || c->refused);
    if (was_paused && !c->read_paused)
        event_active(c->rd, EV_TIMEOUT, 0); /* input held back by back-pressure */
}

static void conn_flush_now(struct conn *c)
{
    if (c->state == CONN_CLOSED || c->half_closed)
        return; /* half-closed: answers are kept for the resume (conn_half_close) */
    if (c->ssl != NULL) {
        conn_flush_tls(c);
        return;
    }
    while (c->ooff < c->olen) {
        ssize_t n = write(c->fd, c->obuf + c->ooff, c->olen - c->ooff);
        if (n > 0) {
            c->ooff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        conn_close(c, n == 0 ? "peer closed" : strerror(errno));
        return;
    }
    size_t left = c->olen - c->ooff;
    if (left == 0) {
        c->ooff = c->olen = c->ostart = 0;
        if (c->ocap > CONN_OUTPUT_KEEP) {
            free(c->obuf);
            c->obuf = NULL;
            c->ocap = 0;
        }
    }
    if (left > 0 && !c->write_armed) {
        event_add(c->wr, NULL);
        c->write_armed = true;
    } else if (left == 0 && c->write_armed) {
        event_del(c->wr);
        c->write_armed = false;
    }
    if (left > 0)
        conn_out_advance(c, c->ooff); /* a partial write (rare: the socket buffer is full) */
    bool was_paused = c->read_paused;
    conn_pause_reading(c, left > CONN_OUTPUT_HIGH_WATER || c->refused);
    if (was_paused && !c->read_paused && c->ilen >= FRAME_HEADER_BYTES)
        event_active(c->rd, EV_TIMEOUT, 0); /* resume frames held back by back-pressure */
}

void conn_flush(struct conn *c)
{
    c->busy++;
    conn_flush_now(c);
    conn_release(c);
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
    conn_flush(arg);
}

/* The last words before a close: one write of the queued output, whatever the socket takes. */
static void conn_write_last(struct conn *c)
{
    if (c->ssl == NULL) {
        if (c->olen > c->ooff) {
            ssize_t n = write(c->fd, c->obuf + c->ooff, c->olen - c->ooff);
            (void)n;
        }
        return;
    }
    /* TLS: the batch in flight, then the rest at once (no resume follows the last words, so no
     * batch need be kept); what the socket does not take is dropped. Nothing mid-handshake. */
    if (c->handshaking || c->tls_failed)
        return;
    char why[256];
    enum tls_io r = TLS_IO_DONE;
    if (c->ooff > c->ostart)
        r = tls_write(c->ssl, c->obuf + c->ostart, c->ooff - c->ostart, why, sizeof why);
    if (r == TLS_IO_DONE) {
        c->ostart = c->ooff;
        if (c->ooff < c->olen) {
            c->ooff = c->olen; /* in flight until done */
            r = tls_write(c->ssl, c->obuf + c->ostart, c->olen - c->ostart, why, sizeof why);
            if (r == TLS_IO_DONE)
                c->ostart = c->olen;
        }
    }
    if (r == TLS_IO_ERROR)
        c->tls_failed = true;
}

void conn_fail(struct conn *c, uint64_t id, int status, const char *message)
{
    if (c->state == CONN_CLOSED)
        return;
    /* Held across the write and the close: callers such as an operator's Break reach here with
     * nothing else holding c. */
    c->busy++;
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    resp.id = id;
    resp.status = status;
    resp.message = (char *)message;
    conn_send(c, &resp.base);
    c->no_detach = true;
    /* One best-effort write: a peer that does not read must not keep the slot open. */
    if (c->state != CONN_CLOSED)
        conn_write_last(c);
    conn_close(c, message);
    conn_release(c);
}

/* ------------------------------------------------------------------ input */

/* A malformed frame at p (avail bytes): tell the peer why and close. */
static void conn_protocol_error(struct conn *c, enum frame_result r, const uint8_t *p, size_t avail)
{
    c->srv->stats.protocol_errors++;
    if (c->state == CONN_AWAIT_HELLO && c->ssl == NULL && avail >= 3 && p[0] == 0x16 &&
        p[1] == 0x03 && p[2] <= 0x04)
        /* A TLS record header (handshake, version 3.x) where a frame's length should be. */
        log_info("connection %s: a TLS handshake on a plaintext port; closing it", c->peer);
    else
        log_info("connection %s: %s; closing it", c->peer, frame_strerror(r));
    conn_fail(c, 0, CONDD__V1__STATUS__STATUS_PROTOCOL_ERROR, frame_strerror(r));
}

/*
 * Decodes and dispatches up to CONN_FRAME_BUDGET whole frames from buf[0..len). Returns the
 * number of bytes consumed; what is left is a partial frame, or whole frames if the budget ran
 * out or back-pressure paused the connection. Nothing is consumed after the connection closed.
 */
static size_t conn_process(struct conn *c, const uint8_t *buf, size_t len)
{
    struct server *srv = c->srv;
    size_t off = 0;
    for (int budget = CONN_FRAME_BUDGET; budget > 0; budget--) {
        if (c->state == CONN_CLOSED || c->read_paused)
            break;
        size_t plen;
        enum frame_result r =
            frame_peek(buf + off, len - off, srv->settings.max_frame_bytes, &plen);
        if (r == FRAME_NEED_MORE)
            break;
        if (r != FRAME_OK) {
            conn_protocol_error(c, r, buf + off, len - off);
            break;
        }
        Condd__V1__Request *req = NULL;
        size_t used;
        r = frame_decode_request(buf + off, len - off, srv->settings.max_frame_bytes,
                                 &srv->unpack_alloc, &req, &used);
        off += FRAME_HEADER_BYTES + plen;
        srv->stats.bytes_in += FRAME_HEADER_BYTES + plen;
        if (r != FRAME_OK) {
            arena_reset(&srv->arena);
            conn_protocol_error(c, r, buf + off - FRAME_HEADER_BYTES - plen,
                                FRAME_HEADER_BYTES + plen);
            break;
        }
        c->last_rx = server_now();
        dispatch_request(c, req);
        if (!arena_all_inside(&srv->arena))
            condd__v1__request__free_unpacked(req, &srv->unpack_alloc);
        arena_reset(&srv->arena);
    }
    return off;
}

/* Keeps buf[0..len) as the connection's unhandled input (replacing what it had). */
static bool conn_keep_input(struct conn *c, const uint8_t *buf, size_t len)
{
    if (len == 0) {
        /* Nothing pending: give the memory back, idle connections should cost little. */
        free(c->ibuf);
        c->ibuf = NULL;
        c->ilen = c->icap = 0;
        return true;
    }
    if (buf != c->ibuf) {
        if (c->icap < len) {
            uint8_t *nb = malloc(len);
            if (nb == NULL)
                return false;
            free(c->ibuf);
            c->ibuf = nb;
            c->icap = len;
        }
        memcpy(c->ibuf, buf, len);
    }
    c->ilen = len;
    return true;
}

/*
 * Appends data[0..n) to c->ibuf, the partial frame kept from earlier reads. The buffer grows
 * with what actually arrived (by half again, never past the frame in progress once its header
 * is known), not to the size a header announces: a peer that sends a header and then trickles
 * or stops costs about what it sent, not max_frame_bytes.
 */
static bool conn_in_append(struct conn *c, const uint8_t *data, size_t n)
{
    size_t need = c->ilen + n;
    if (c->icap < need) {
        size_t cap = need + need / 2;
        size_t plen = 0;
        if (frame_peek(c->ibuf, c->ilen, c->srv->settings.max_frame_bytes, &plen) ==
                FRAME_NEED_MORE &&
            plen > 0 && FRAME_HEADER_BYTES + plen >= need && FRAME_HEADER_BYTES + plen < cap)
            cap = FRAME_HEADER_BYTES + plen;
        uint8_t *nb = realloc(c->ibuf, cap);
        if (nb == NULL)
            return false;
        c->ibuf = nb;
        c->icap = cap;
    }
    memcpy(c->ibuf + c->ilen, data, n);
    c->ilen = need;
    return true;
}

/*
 * TLS: SSL_read() into buf[0..cap) until OpenSSL holds nothing more from the socket (one
 * read(2) with read-ahead; the socket's next data makes rd fire again). tls_again says to
 * read again without waiting for the socket: buf filled up with records still read ahead, or
 * the end of the stream came behind the data (met again next turn, after the data is handled).
 * Not after a want-read: a part of a record read ahead waits for the socket.
 */
static ssize_t conn_tls_read(struct conn *c, uint8_t *buf, size_t cap)
{
    char why[256];
    size_t total = 0;
    c->tls_again = false;
    c->tls_active = c->tls_buffers_held = true;
    do {
        size_t got;
        enum tls_io r = tls_read(c->ssl, buf + total, cap - total, &got, why, sizeof why);
        if (r == TLS_IO_DONE) {
            total += got;
            continue;
        }
        if (r == TLS_IO_WANT_WRITE) {
            /* An alert the socket did not take (TLS 1.2 refusing a renegotiation). */
            c->tls_read_wants_write = true;
            if (!c->write_armed) {
                event_add(c->wr, NULL);
                c->write_armed = true;
            }
        } else if ((r == TLS_IO_CLOSED || r == TLS_IO_ERROR) && total > 0) {
            c->tls_again = true;
        } else if (r == TLS_IO_CLOSED || r == TLS_IO_ERROR) {
            conn_tls_end(c, r, why);
            return -1;
        }
        return (ssize_t)total;
    } while (total < cap && tls_read_pending(c->ssl));
    c->tls_again = total == cap && tls_read_pending(c->ssl);
    return (ssize_t)total;
}

/* Reads once into buf[0..cap). Returns bytes read, 0 if nothing was there (EAGAIN), or -1 if
 * the connection was closed (peer gone or error). */
static ssize_t conn_read(struct conn *c, uint8_t *buf, size_t cap)
{
    if (c->ssl != NULL)
        return conn_tls_read(c, buf, cap);
    ssize_t n;
    do
        n = read(c->fd, buf, cap);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    conn_close(c, n == 0 ? "peer closed" : strerror(errno));
    return -1;
}

/* One turn of input: read (unless resuming held-back frames), handle whole frames, keep the
 * rest. Returns true if whole frames are left over for another turn. */
static bool conn_input(struct conn *c, bool do_read)
{
    struct server *srv = c->srv;
    const uint8_t *buf;
    size_t len;
    if (c->ilen == 0) {
        if (!do_read)
            return false;
        /* The common case: nothing pending, so read into the shared buffer. */
        ssize_t n = conn_read(c, srv->rbuf, sizeof srv->rbuf);
        if (n <= 0)
            return false;
        buf = srv->rbuf;
        len = (size_t)n;
    } else {
        if (do_read) {
            /* Read into the shared buffer too, then keep only what arrived. */
            ssize_t n = conn_read(c, srv->rbuf, sizeof srv->rbuf);
            if (n < 0)
                return false;
            if (n > 0 && !conn_in_append(c, srv->rbuf, (size_t)n)) {
                conn_close(c, "out of memory");
                return false;
            }
        }
        buf = c->ibuf;
        len = c->ilen;
    }
    size_t used = conn_process(c, buf, len);
    if (c->state == CONN_CLOSED)
        return false;
    if (buf == c->ibuf && used > 0 && used < len)
        memmove(c->ibuf, c->ibuf + used, len - used);
    if (!conn_keep_input(c, buf == c->ibuf ? c->ibuf : buf + used, len - used)) {
        conn_close(c, "out of memory");
        return false;
    }
    size_t plen;
    return !c->read_paused &&
           frame_peek(c->ibuf, c->ilen, srv->settings.max_frame_bytes, &plen) != FRAME_NEED_MORE;
}

/* Handles every request already readable on c, without the per-turn budget. */
static void conn_drain_input(struct conn *c)
{
    struct server *srv = c->srv;
    /* Nothing is written from here on (the unsent output goes with the detached session), so
     * output back-pressure no longer applies: without this, whole requests a paused connection
     * had already received would be dropped with it. A refused Hello stays refused. */
    if (c->read_paused && !c->refused)
        conn_pause_reading(c, false);
    /* Bounded, so a client that keeps writing cannot hold the restart up. */
    for (int turn = 0; turn < 64 && c->state != CONN_CLOSED && !c->read_paused; turn++) {
        while (conn_input(c, false))
            ; /* whole frames kept from earlier turns */
        if (c->state == CONN_CLOSED || c->read_paused)
            break;
        ssize_t n = conn_read(c, srv->rbuf, sizeof srv->rbuf);
        if (n <= 0)
            break; /* nothing more, or closed (detached) by the read */
        if (!conn_in_append(c, srv->rbuf, (size_t)n)) {
            conn_close(c, "out of memory");
            break;
        }
    }
    while (c->state != CONN_CLOSED && conn_input(c, false))
        ;
}

void conn_drain_close(struct conn *c, const char *why)
{
    c->busy++;
    conn_drain_input(c);
    conn_close(c, why); /* detaches a session with a grace: its unsent answers are kept */
    conn_release(c);
}

void conn_half_close(struct conn *c)
{
    c->busy++;
    conn_drain_input(c);
    if (c->state != CONN_CLOSED && c->ssl != NULL) {
        /* TLS has no half-close that a peer notices before it reads on: close now. */
        conn_close(c, "live restart");
    } else if (c->state != CONN_CLOSED) {
        /* The client sees the end of its input and closes its side; whatever it wrote before
         * that arrives first and is still read here. Nothing more is written. */
        shutdown(c->fd, SHUT_WR);
        c->half_closed = true;
        if (c->write_armed) {
            event_del(c->wr);
            c->write_armed = false;
        }
        conn_pause_reading(c, false);
    }
    conn_release(c);
}

/* EV_READ: the socket is readable. EV_TIMEOUT (only ever from event_active): frames are left
 * in the input buffer from an earlier turn whose budget ran out; process without reading. */
static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    c->busy++;
    if (c->state != CONN_CLOSED && conn_input(c, (what & EV_READ) != 0))
        event_active(c->rd, EV_TIMEOUT, 0);
    conn_release(c);
}

/* TLS: rd is the socket's read event, as in plaintext, and is also activated with EV_TIMEOUT
 * for input left over from an earlier turn: whole frames kept, or what OpenSSL read ahead.
 * During the handshake it steps the handshake. */
static void conn_on_tls_input(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    c->busy++;
    if (c->state != CONN_CLOSED && c->handshaking) {
        conn_tls_handshake(c);
    } else if (c->state != CONN_CLOSED) {
        bool more = conn_input(c, (what & EV_READ) || c->tls_again);
        if (c->state != CONN_CLOSED && !c->read_paused && (more || c->tls_again))
            event_active(c->rd, EV_TIMEOUT, 0);
    }
    conn_release(c);
}

/* ------------------------------------------------------------------ session timer */

static void conn_arm_timer(struct conn *c, double seconds)
{
    if (seconds < 0.001)
        seconds = 0.001;
    struct timeval tv = clk_timeval(seconds);
    event_add(c->timer, &tv);
}

/* Checks the deadline lazily: frames only stamp last_rx, and the timer re-arms itself for the
 * remaining time, so a busy connection costs no timer operation per frame. */
static void conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->handshaking) {
        c->srv->stats.tls_handshake_failures++;
        log_info("connection %s: TLS handshake not done within %.1f s; closing it", c->peer,
                 c->srv->settings.tls_handshake_timeout);
        c->busy++;
        conn_close(c, "TLS handshake timeout");
        conn_release(c);
        return;
    }
    if (c->refused) {
        c->busy++;
        conn_fail(c, c->refused_id, CONDD__V1__STATUS__STATUS_UNAUTHENTICATED, c->refused_why);
        conn_release(c);
        return;
    }
    double idle = server_now() - c->last_rx;
    if (idle + 0.0005 < c->session_timeout) {
        conn_arm_timer(c, c->session_timeout - idle);
        return;
    }
    c->busy++;
    if (c->state == CONN_ACTIVE && c->ds != NULL && c->ds->grace > 0) {
        /* A session with a grace is kept for a resume: no final TIMEOUT frame, which would
         * otherwise be delivered after the resume as if it were news. */
        c->srv->stats.session_expiries++;
        log_info("session %llu (%s, %s): no frame for %.1f s; detaching it",
                 (unsigned long long)c->session_id, c->client_name, c->peer, idle);
        conn_close(c, "session timeout");
    } else if (c->state == CONN_ACTIVE) {
        c->srv->stats.session_expiries++;
        log_info("session %llu (%s, %s) expired after %.1f s without a frame",
                 (unsigned long long)c->session_id, c->client_name, c->peer, idle);
        conn_fail(c, 0, CONDD__V1__STATUS__STATUS_TIMEOUT, "session expired");
    } else {
        conn_fail(c, 0, CONDD__V1__STATUS__STATUS_TIMEOUT, "no Hello within the session timeout");
    }
    conn_release(c);
}

void conn_refuse(struct conn *c, uint64_t id, const char *why)
{
    double delay = c->srv->settings.auth_fail_delay;
    if (delay <= 0) {
        conn_fail(c, id, CONDD__V1__STATUS__STATUS_UNAUTHENTICATED, why);
        return;
    }
    /* Hold the answer back: a client guessing tokens gets one guess per delay per connection,
     * and the connection counts against --max-connections meanwhile. Frames after the Hello
     * are not read, so pipelining more Hellos behind it gains nothing. */
    c->refused = true;
    c->refused_id = id;
    c->refused_why = why;
    conn_pause_reading(c, true);
    event_del(c->timer);
    conn_arm_timer(c, delay);
}

void conn_session_started(struct conn *c)
{
    conn_arm_timer(c, c->session_timeout);
}

/* ------------------------------------------------------------------ engine replies */

void conn_send_raw(struct conn *c, const uint8_t *buf, size_t len)
{
    if (c->state == CONN_CLOSED || len == 0)
        return;
    if (!conn_out_reserve(c, len)) {
        log_error("connection %s: out of memory queueing %zu bytes of kept answers", c->peer, len);
        conn_close(c, "out of memory");
        return;
    }
    memcpy(c->obuf + c->olen, buf, len);
    c->olen += len;
    c->srv->stats.bytes_out += len;
    conn_mark_dirty(c);
}

void conn_goodbye(struct conn *c)
{
    c->no_detach = true;
    conn_write_last(c);
    conn_close(c, "goodbye");
}

void conn_on_engine_reply(void *ctx, const struct engine_reply *r)
{
    struct dsession *ds = ctx;
    struct conn *c = ds->conn;
    if (c == NULL) {
        resume_buffer_reply(ds, r);
        return;
    }
    dispatch_answer(c, r, true);
    /* A grant or a wake-up is what another client is blocked on: write it before the replies
     * to the requests being handled in this turn (a Notify's own reply, say). */
    if (c->dirty && TAILQ_FIRST(&c->srv->dirty) != c) {
        TAILQ_REMOVE(&c->srv->dirty, c, dirty_link);
        TAILQ_INSERT_HEAD(&c->srv->dirty, c, dirty_link);
    }
}

/* ------------------------------------------------------------------ creation */

/* ------------------------------------------------------------------ TLS events */

/* The handshake is done: note the client certificate, and from here frames are read. */
static void conn_tls_established(struct conn *c)
{
    c->handshaking = false;
    conn_handshake_end(c);
    c->tls_active = c->tls_buffers_held = true;
    if (!tls_peer_subject(c->ssl, c->cert_subject, sizeof c->cert_subject))
        c->cert_subject[0] = '\0';
    log_debug("connection %s: TLS handshake done%s%s", c->peer,
              c->cert_subject[0] != '\0' ? ", client certificate " : "", c->cert_subject);
    if (c->write_armed) {
        event_del(c->wr);
        c->write_armed = false;
    }
    /* Frames that came with the client's Finished were read ahead: the socket will not say. */
    c->tls_again = tls_read_pending(c->ssl);
    if (c->tls_again)
        event_active(c->rd, EV_TIMEOUT, 0);
    /* From here the Hello timer, as for a plaintext connection. */
    c->last_rx = server_now();
    event_del(c->timer);
    conn_arm_timer(c, c->session_timeout);
}

/* One step of the handshake, when rd or wr fired: wait for what OpenSSL wants next. */
static void conn_tls_handshake(struct conn *c)
{
    char why[256];
    enum tls_io r = tls_handshake(c->ssl, why, sizeof why);
    if (r == TLS_IO_DONE) {
        conn_tls_established(c);
    } else if (r == TLS_IO_WANT_WRITE && !c->write_armed) {
        event_add(c->wr, NULL);
        c->write_armed = true;
    } else if (r == TLS_IO_WANT_READ && c->write_armed) {
        event_del(c->wr); /* rd is armed throughout */
        c->write_armed = false;
    } else if (r == TLS_IO_CLOSED || r == TLS_IO_ERROR) {
        /* A plaintext client, a wrong CA, a missing client certificate: say so once. */
        c->tls_failed = r == TLS_IO_ERROR;
        c->srv->stats.tls_handshake_failures++;
        log_info("connection %s: TLS handshake failed: %s; closing it", c->peer, why);
        conn_close(c, "TLS handshake failed");
    }
}

/* ------------------------------------------------------------------ creation */

struct conn *conn_new_tls(struct server *srv, int fd, const char *peer)
{
    struct ssl_st *ssl = srv->tls != NULL ? tls_new_session(srv->tls, fd) : NULL;
    struct conn *c = ssl != NULL ? calloc(1, sizeof *c) : NULL;
    if (c == NULL) {
        tls_free_session(ssl);
        close(fd);
        return NULL;
    }
    c->srv = srv;
    c->fd = fd;
    c->ssl = ssl;
    c->state = CONN_AWAIT_HELLO;
    c->handshaking = true;
    c->session_timeout = srv->settings.session_timeout;
    c->last_rx = server_now();
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    c->rd = event_new(srv->base, fd, EV_READ | EV_PERSIST, conn_on_tls_input, c);
    c->wr = event_new(srv->base, fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
    c->timer = evtimer_new(srv->base, conn_on_timer, c);
    if (c->rd == NULL || c->wr == NULL || c->timer == NULL || event_add(c->rd, NULL) != 0) {
        tls_free_session(ssl);
        close(fd);
        conn_free(c);
        return NULL;
    }
    /* The handshake counts against --max-connections like any connection, and against
     * --max-handshakes (server_accept() checks both), and has its own deadline, so a flood of
     * slow handshakes holds each slot only that long and never more than its share. The client
     * speaks first: rd steps the handshake. */
    conn_arm_timer(c, srv->settings.tls_handshake_timeout);
    TAILQ_INSERT_TAIL(&srv->conns, c, link);
    srv->nconns++;
    srv->nhandshakes++;
    c->in_handshakes = true;
    srv->stats.connections_total++;
    if (!evtimer_pending(srv->tls_sweep, NULL)) {
        struct timeval tv = {CONN_TLS_SWEEP_SECONDS, 0};
        evtimer_add(srv->tls_sweep, &tv);
    }
    log_debug("connection %s opened (TLS)", c->peer);
    return c;
}

bool conn_tls_sweep(struct server *srv)
{
    /* Per connection two flags, no clock: a connection is idle when a whole sweep period went by
     * without I/O, so a busy one (a lock cycle every few microseconds) never pays for its
     * buffers, and an idle one keeps them at most two periods. */
    bool any = false;
    struct conn *c;
    TAILQ_FOREACH(c, &srv->conns, link)
    {
        if (c->ssl == NULL)
            continue;
        any = true;
        if (c->handshaking || c->state == CONN_CLOSED)
            continue;
        if (c->tls_active) {
            c->tls_active = false;
        } else if (c->tls_buffers_held && tls_release_buffers(c->ssl)) {
            c->tls_buffers_held = false;
            srv->stats.tls_buffers_released++;
        }
    }
    return any;
}

struct conn *conn_new(struct server *srv, int fd, bool is_unix, const char *peer)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        close(fd);
        return NULL;
    }
    c->srv = srv;
    c->fd = fd;
    c->is_unix = is_unix;
    c->state = CONN_AWAIT_HELLO;
    c->session_timeout = srv->settings.session_timeout;
    c->last_rx = server_now();
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    if (is_unix) {
        struct ucred cred;
        socklen_t len = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof cred) {
            c->has_peercred = true;
            c->peer_uid = cred.uid;
            c->peer_gid = cred.gid;
        }
    }
    c->rd = event_new(srv->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
    c->wr = event_new(srv->base, fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
    c->timer = evtimer_new(srv->base, conn_on_timer, c);
    if (c->rd == NULL || c->wr == NULL || c->timer == NULL || event_add(c->rd, NULL) != 0) {
        close(fd);
        conn_free(c);
        return NULL;
    }
    conn_arm_timer(c, c->session_timeout);
    TAILQ_INSERT_TAIL(&srv->conns, c, link);
    srv->nconns++;
    srv->stats.connections_total++;
    log_debug("connection %s opened", c->peer);
    return c;
}
