/* SPDX-License-Identifier: BSD-2-Clause
 *
 * One client connection: its socket, input and output buffers, its state (awaiting Hello,
 * active, closed) and its session timer. It moves bytes and frames only; dispatch.c gives
 * requests their meaning. Plain libevent events are used rather than bufferevents: a read is
 * one read(2) into the input buffer, and replies are written by the loop-wide flush (server.c)
 * with one writev(2) per connection per loop turn; write readiness is armed only when the
 * socket did not take everything. That keeps a request at three system calls (epoll_wait, read,
 * write) instead of seven.
 *
 * Every error on a connection goes through conn_close(), which touches nothing else.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

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
    if (c->in != NULL)
        evbuffer_free(c->in);
    if (c->out != NULL)
        evbuffer_free(c->out);
    free(c);
}

/* Called at the end of every callback that used c: frees it if it was closed meanwhile. */
static void conn_release(struct conn *c)
{
    if (--c->busy == 0 && c->state == CONN_CLOSED)
        conn_free(c);
}

void conn_close(struct conn *c, const char *why)
{
    struct server *srv = c->srv;
    if (c->state == CONN_CLOSED)
        return;
    log_debug("connection %s (session %llu, %s) closed: %s", c->peer,
              (unsigned long long)c->session_id, c->client_name, why);
    bool had_session = c->state == CONN_ACTIVE;
    c->state = CONN_CLOSED;
    event_del(c->rd);
    event_del(c->wr);
    event_del(c->timer);
    if (c->dirty) {
        TAILQ_REMOVE(&srv->dirty, c, dirty_link);
        c->dirty = false;
    }
    TAILQ_REMOVE(&srv->conns, c, link);
    srv->nconns--;
    if (had_session)
        srv->nsessions--;
    close(c->fd);
    c->fd = -1;
    /* Last: ending the session hands its locks on, which queues replies to other conns. */
    if (c->sess != NULL) {
        struct esession *s = c->sess;
        c->sess = NULL;
        engine_session_close(s);
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

void conn_send(struct conn *c, const ProtobufCMessage *msg)
{
    if (c->state == CONN_CLOSED)
        return;
    size_t n = frame_encoded_size(msg);
    struct evbuffer_iovec vec;
    if (evbuffer_reserve_space(c->out, (ev_ssize_t)n, &vec, 1) < 1 || vec.iov_len < n) {
        log_error("connection %s: out of memory queueing a %zu-byte reply", c->peer, n);
        conn_close(c, "out of memory");
        return;
    }
    vec.iov_len = frame_encode(msg, vec.iov_base);
    evbuffer_commit_space(c->out, &vec, 1);
    c->srv->stats.bytes_out += n;
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

static void conn_flush_now(struct conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    while (evbuffer_get_length(c->out) > 0) {
        int n = evbuffer_write(c->out, c->fd);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (errno == EINTR)
                continue;
            break;
        }
        conn_close(c, n == 0 ? "peer closed" : strerror(errno));
        return;
    }
    size_t left = evbuffer_get_length(c->out);
    if (left > 0 && !c->write_armed) {
        event_add(c->wr, NULL);
        c->write_armed = true;
    } else if (left == 0 && c->write_armed) {
        event_del(c->wr);
        c->write_armed = false;
    }
    conn_pause_reading(c, left > CONN_OUTPUT_HIGH_WATER);
    if (left <= CONN_OUTPUT_HIGH_WATER && c->read_paused == false &&
        evbuffer_get_length(c->in) >= FRAME_HEADER_BYTES)
        event_active(c->rd, EV_TIMEOUT, 0); /* resume frames left by back-pressure */
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

void conn_fail(struct conn *c, uint64_t id, int status, const char *message)
{
    if (c->state == CONN_CLOSED)
        return;
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    resp.id = id;
    resp.status = status;
    resp.message = (char *)message;
    conn_send(c, &resp.base);
    /* One best-effort write: a peer that does not read must not keep the slot open. */
    int n = evbuffer_write(c->out, c->fd);
    (void)n;
    conn_close(c, message);
}

/* ------------------------------------------------------------------ input */

/* Decodes and dispatches up to CONN_FRAME_BUDGET whole frames from c->in. Returns true if
 * whole frames are left over (budget spent). */
static bool conn_process(struct conn *c)
{
    struct server *srv = c->srv;
    for (int budget = CONN_FRAME_BUDGET; budget > 0; budget--) {
        if (c->state == CONN_CLOSED || c->read_paused)
            return false;
        size_t avail = evbuffer_get_length(c->in);
        if (avail < FRAME_HEADER_BYTES)
            return false;
        uint8_t hdr[FRAME_HEADER_BYTES];
        size_t plen;
        evbuffer_copyout(c->in, hdr, sizeof hdr);
        enum frame_result r = frame_peek(hdr, sizeof hdr, srv->settings.max_frame_bytes, &plen);
        if (r != FRAME_NEED_MORE && r != FRAME_OK) {
            srv->stats.protocol_errors++;
            log_info("connection %s: %s; closing it", c->peer, frame_strerror(r));
            conn_fail(c, 0, CONDD__V1__STATUS__STATUS_PROTOCOL_ERROR, frame_strerror(r));
            return false;
        }
        if (avail < FRAME_HEADER_BYTES + plen)
            return false;
        const uint8_t *p = evbuffer_pullup(c->in, (ev_ssize_t)(FRAME_HEADER_BYTES + plen));
        Condd__V1__Request *req = NULL;
        size_t used;
        r = frame_decode_request(p, FRAME_HEADER_BYTES + plen, srv->settings.max_frame_bytes,
                                 &srv->unpack_alloc, &req, &used);
        evbuffer_drain(c->in, FRAME_HEADER_BYTES + plen);
        srv->stats.bytes_in += FRAME_HEADER_BYTES + plen;
        if (r != FRAME_OK) {
            srv->stats.protocol_errors++;
            log_info("connection %s: %s; closing it", c->peer, frame_strerror(r));
            conn_fail(c, 0, CONDD__V1__STATUS__STATUS_PROTOCOL_ERROR, frame_strerror(r));
            arena_reset(&srv->arena);
            return false;
        }
        c->last_rx = server_now();
        dispatch_request(c, req);
        condd__v1__request__free_unpacked(req, &srv->unpack_alloc);
        arena_reset(&srv->arena);
    }
    return c->state != CONN_CLOSED && evbuffer_get_length(c->in) >= FRAME_HEADER_BYTES;
}

/* Reads once. Returns false if the connection was closed. */
static bool conn_read(struct conn *c)
{
    struct evbuffer_iovec vec;
    if (evbuffer_reserve_space(c->in, CONN_READ_CHUNK, &vec, 1) < 1) {
        conn_close(c, "out of memory");
        return false;
    }
    ssize_t n;
    do
        n = read(c->fd, vec.iov_base, vec.iov_len);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        vec.iov_len = (size_t)n;
        evbuffer_commit_space(c->in, &vec, 1);
        return true;
    }
    evbuffer_commit_space(c->in, &vec, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return true;
    conn_close(c, n == 0 ? "peer closed" : strerror(errno));
    return false;
}

/* EV_READ: the socket is readable. EV_TIMEOUT (only ever from event_active): frames are left
 * in the input buffer from an earlier turn whose budget ran out; process without reading. */
static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    c->busy++;
    if (c->state != CONN_CLOSED && ((what & EV_READ) == 0 || conn_read(c))) {
        if (conn_process(c))
            event_active(c->rd, EV_TIMEOUT, 0);
    }
    conn_release(c);
}

/* ------------------------------------------------------------------ session timer */

static void conn_arm_timer(struct conn *c, double seconds)
{
    struct timeval tv;
    if (seconds < 0.001)
        seconds = 0.001;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    event_add(c->timer, &tv);
}

/* Checks the deadline lazily: frames only stamp last_rx, and the timer re-arms itself for the
 * remaining time, so a busy connection costs no timer operation per frame. */
static void conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    double idle = server_now() - c->last_rx;
    if (idle + 0.0005 < c->session_timeout) {
        conn_arm_timer(c, c->session_timeout - idle);
        return;
    }
    c->busy++;
    if (c->state == CONN_ACTIVE) {
        c->srv->stats.session_expiries++;
        log_info("session %llu (%s, %s) expired after %.1f s without a frame",
                 (unsigned long long)c->session_id, c->client_name, c->peer, idle);
        conn_fail(c, 0, CONDD__V1__STATUS__STATUS_TIMEOUT, "session expired");
    } else {
        conn_fail(c, 0, CONDD__V1__STATUS__STATUS_TIMEOUT, "no Hello within the session timeout");
    }
    conn_release(c);
}

void conn_session_started(struct conn *c)
{
    conn_arm_timer(c, c->session_timeout);
}

/* ------------------------------------------------------------------ engine replies */

void conn_on_engine_reply(void *ctx, const struct engine_reply *r)
{
    struct conn *c = ctx;
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__AcquireResult acq = CONDD__V1__ACQUIRE_RESULT__INIT;
    Condd__V1__WaitResult wr = CONDD__V1__WAIT_RESULT__INIT;
    resp.id = r->req_id;
    resp.status = r->status;
    resp.message = (char *)(r->message != NULL ? r->message : "");
    if (r->op == ENGINE_OP_ACQUIRE) {
        stats_count(&c->srv->stats, STATS_OP_ACQUIRE, r->status);
        if (r->status == CONDD__V1__STATUS__STATUS_OK)
            stats_hist_add(&c->srv->stats.grant_latency, r->elapsed_s);
        if (r->status == CONDD__V1__STATUS__STATUS_OK) {
            acq.token = r->token;
            resp.result_case = CONDD__V1__RESPONSE__RESULT_ACQUIRE;
            resp.acquire = &acq;
        }
    } else {
        stats_count(&c->srv->stats, STATS_OP_WAIT, r->status);
        stats_hist_add(&c->srv->stats.wait_latency, r->elapsed_s);
        if (r->token != 0) {
            wr.token = r->token;
            resp.result_case = CONDD__V1__RESPONSE__RESULT_WAIT;
            resp.wait = &wr;
        }
    }
    conn_send(c, &resp.base);
}

/* ------------------------------------------------------------------ creation */

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
    c->rd = event_new(srv->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
    c->wr = event_new(srv->base, fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
    c->timer = evtimer_new(srv->base, conn_on_timer, c);
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    if (c->rd == NULL || c->wr == NULL || c->timer == NULL || c->in == NULL || c->out == NULL ||
        event_add(c->rd, NULL) != 0) {
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
