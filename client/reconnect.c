/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Session resume on the client side (protocol.md §5.5-§5.6): when a connection whose session
 * has a grace is lost, keep every pending request and wait_for, reconnect with a backoff
 * (50 ms doubling up to 1 s) until the grace runs out, and send a Hello naming the session and
 * its secret, followed by the requests that had not left whole (a frame the old socket took in
 * part is sent again whole; the server discarded its part). The server's kept answers then
 * arrive after the resumed HelloResult and complete the pending requests as usual. A refused
 * resume, or a grace run out, ends the connection with CONDD_ERR_SESSION_LOST through cl_fail();
 * so does a resume the server granted but the client refuses (acknowledged delivery whose
 * counts disagree), after a Goodbye that ends the session on the server at once.
 *
 * Each attempt starts from the same buffer: one resume Hello (the previous attempt's replaced,
 * hello_len), then the requests not yet written whole. Requests issued while resuming are
 * queued behind the resume Hello. The keep-alive pings of
 * the old connection are forgotten (their answers, if any arrive, are ignored).
 *
 * With acknowledged delivery (protocol.md §5.6.2, acks.c) nothing is guessed: the resume Hello
 * (carrying the client's ack) goes alone, and once its HelloResult says how many requests the
 * server read, the kept copies of the rest, then the requests issued while resuming, are queued
 * in order; the server sends again every answer after the ack.
 *
 * Also here: a dead connection starting a new session in place (cl_reopen(): a server-list
 * member whose server came back, cluster.c), the other way a connection outlives its session.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "frame.h"
#include "internal.h"

#define CL_BACKOFF_FIRST 0.05
#define CL_BACKOFF_MAX 1.0

void cl_session_event(condd_async_conn *c, int event, int reason)
{
    if (c->session_cb != NULL && !c->closing)
        c->session_cb(c, event, reason, c->session_arg);
}

/* Can a failure with this reason be a blip? (Not a refusal by the server or our own close.) */
static bool cl_resumable_reason(int reason)
{
    return reason == CONDD_ERR_DISCONNECTED || reason == CONDD_ERR_SERVER_TIMEOUT ||
           reason == CONDD_ERR_CONNECT || reason == CONDD_ERR_SESSION_EXPIRED;
}

/* The start of the frame of wbuf holding wpos: the frames before it were written whole. */
size_t cl_unsent_start(const condd_async_conn *c)
{
    size_t off = c->wmark;
    while (off < c->wpos) {
        size_t plen = 0;
        if (frame_peek(c->wbuf + off, c->wlen - off, UINT32_MAX, &plen) != FRAME_OK ||
            off + FRAME_HEADER_BYTES + plen > c->wpos)
            break;
        off += FRAME_HEADER_BYTES + plen;
    }
    return off;
}

/* Rebuilds the output buffer as: the resume Hello, then the unsent whole frames. */
static bool cl_queue_resume_hello(condd_async_conn *c)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Hello hello = CONDD__V1__HELLO__INIT;
    hello.protocol_version = CONDD_PROTOCOL_VERSION;
    hello.session_timeout_s = c->session_timeout;
    hello.resume_session = c->session_id;
    hello.resume_secret.data = c->secret;
    hello.resume_secret.len = c->secret_len;
    if (c->token != NULL) { /* a resume is authenticated like any Hello */
        hello.auth_token.data = (uint8_t *)c->token;
        hello.auth_token.len = strlen(c->token);
    }
    req.id = cl_next_id(c);
    req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
    req.hello = &hello;
    if (c->acks.on) {
        hello.acks = true;
        req.ack = c->acks.rx;
        c->acks.told = c->acks.rx;
    }
    size_t hsize = frame_encoded_size(&req.base);
    size_t from = cl_unsent_start(c);
    /* With acks the Hello goes alone: every request is among the copies (acks.c), re-sent
     * after its answer from the server's count. */
    if (c->acks.on)
        from = c->wlen;
    /* A failed attempt left its own resume Hello first: it is replaced, not kept, so that the
     * buffer holds one Hello whatever the number of attempts. */
    if (from < c->hello_len)
        from = c->hello_len;
    if (from > c->wlen)
        from = c->wlen;
    size_t rest = c->wlen - from;
    uint8_t *nb = malloc(hsize + rest + 1);
    if (nb == NULL)
        return false;
    struct cl_pending p = {.id = req.id, .op = CL_OP_HELLO};
    if (cl_ptable_put(&c->pending, &p) != CONDD_OK) {
        free(nb);
        return false;
    }
    frame_encode(&req.base, nb);
    if (rest > 0)
        memcpy(nb + hsize, c->wbuf + from, rest);
    explicit_bzero(c->wbuf, c->wcap); /* it may hold earlier Hellos: their token and secret */
    free(c->wbuf);
    c->wbuf = nb;
    c->wcap = hsize + rest + 1;
    c->wpos = c->wmark = c->whanded = 0;
    c->wlen = hsize + rest;
    c->hello_len = hsize;
    return true;
}

/* Forgets the old connection's keep-alive pings and Hello (if one was in flight). */
static void cl_forget_connection_requests(condd_async_conn *c)
{
    for (size_t i = 0; i < c->pending.cap;) {
        struct cl_pending *s = &c->pending.slots[i];
        if (s->id != 0 && (s->op == CL_OP_KEEPALIVE || s->op == CL_OP_HELLO)) {
            struct cl_pending gone;
            cl_ptable_take(&c->pending, s->id, &gone);
            continue; /* backward-shift deletion may have moved another entry here */
        }
        i++;
    }
    c->keepalive_pending = false;
}

/* ------------------------------------------------------------------ the first Hello again */

#define CL_HELLO_RETRIES 2

void cl_keep_first_hello(condd_async_conn *c, size_t from)
{
    cl_drop_first_hello(c);
    c->hello_retries = 0;
    size_t len = c->wlen - from;
    if (len == 0 || (c->first_hello = malloc(len)) == NULL)
        return;
    memcpy(c->first_hello, c->wbuf + from, len);
    c->first_hello_len = len;
}

void cl_drop_first_hello(condd_async_conn *c)
{
    if (c->first_hello == NULL)
        return;
    explicit_bzero(c->first_hello, c->first_hello_len);
    free(c->first_hello);
    c->first_hello = NULL;
    c->first_hello_len = 0;
}

bool cl_retry_hello(condd_async_conn *c)
{
    /* Over TLS a close before the answer is how a server refuses a client certificate: that
     * must be reported at once, not retried. */
    if (c->state != CL_HELLO || c->resuming || c->ever_ready || c->closing || c->ssl != NULL ||
        c->tls_ctx != NULL || c->first_hello == NULL || c->hello_retries >= CL_HELLO_RETRIES ||
        c->rlen != 0 || c->waitfors != NULL)
        return false;
    /* Requests queued behind the Hello (a server-list member is opened by the request routed
     * to it) were held, never written (conn.c, out_keeps_written()): the output buffer holds
     * the Hello at its start and them behind it, and all go again on the new connection. */
    if (c->wlen < c->first_hello_len || memcmp(c->wbuf, c->first_hello, c->first_hello_len) != 0)
        return false; /* not the buffer of this Hello: cannot happen, but never guess */
    c->hello_retries++;
    cl_close_socket(c);
    event_del(c->ev_flush);
    c->flush_scheduled = false;
    c->rpos = c->rlen = 0;
    c->wpos = c->wmark = c->whanded = c->hello_len = 0;
    c->state = CL_CONNECTING;
    struct timeval tv = clk_timeval(CL_BACKOFF_FIRST);
    event_add(c->ev_backoff, &tv);
    return true;
}

void cl_on_backoff(evutil_socket_t fd, short what, void *arg)
{
    condd_async_conn *c = arg;
    cl_enter(c);
    if (!c->resuming && !c->ever_ready && c->state == CL_CONNECTING && c->fd < 0 &&
        c->first_hello != NULL) {
        /* cl_retry_hello()'s pause is over; the connect deadline armed at the open still runs. */
        c->addr_idx = 0;
        c->msgbuf[0] = '\0';
        cl_try_connect(c);
    } else if (c->resuming && c->state == CL_CONNECTING && c->fd < 0) {
        double left = c->resume_deadline - clk_mono();
        double t = c->connect_timeout < left ? c->connect_timeout : left;
        if (t < 0.01)
            t = 0.01;
        struct timeval tv = clk_timeval(t);
        event_add(c->ev_timer, &tv);
        c->addr_idx = 0;
        c->msgbuf[0] = '\0';
        cl_try_connect(c);
    }
    cl_leave(c);
}

bool cl_resume_on_failure(condd_async_conn *c, int *reason, const char **msg)
{
    if (c->closing) {
        c->resuming = false; /* our own close: pending calls get CONDD_ERR_CLOSED */
        return false;
    }
    /* While resuming, a server over its connection limit (id-0 LIMIT_EXCEEDED, then closed) is
     * a blip too: after a network outage every client reconnects while the server still counts
     * the old connections it has not noticed yet, and the session waits in its grace. */
    bool retry =
        cl_resumable_reason(*reason) || (c->resuming && *reason == CONDD_ERR_LIMIT_EXCEEDED);
    if (retry && c->server_stopping && c->reconnect && c->grace > 0 &&
        (c->resuming || c->state == CL_READY)) {
        /* The server said it is stopping: its sessions end with it (protocol.md §13), so a
         * resume could only fail, and meanwhile the application would count on lost locks. */
        c->resuming = false;
        *reason = CONDD_ERR_SESSION_LOST;
        *msg = "the server shut down: the session and its locks are gone";
        return false;
    }
    if (!c->reconnect || c->grace <= 0 || c->secret_len != sizeof c->secret || !retry ||
        (!c->resuming && c->state != CL_READY)) {
        if (c->resuming) {
            c->resuming = false;
            *reason = CONDD_ERR_SESSION_LOST;
        }
        return false;
    }
    double now = clk_mono();
    bool first = !c->resuming;
    if (first) {
        /* The server counts the grace from when it noticed the loss, which is no earlier. */
        c->resume_deadline = now + c->grace;
        c->backoff = CL_BACKOFF_FIRST;
    } else if (now >= c->resume_deadline) {
        c->resuming = false;
        *reason = CONDD_ERR_SESSION_LOST;
        return false;
    }
    cl_close_socket(c);
    event_del(c->ev_flush);
    event_del(c->ev_timer);
    c->flush_scheduled = false;
    c->rpos = c->rlen = 0; /* a partial answer died with the connection */
    cl_forget_connection_requests(c);
    if (!cl_queue_resume_hello(c)) {
        c->resuming = false;
        *reason = CONDD_ERR_SESSION_LOST;
        *msg = "out of memory preparing the resume";
        return false;
    }
    c->resuming = true;
    c->state = CL_CONNECTING;
    double delay = c->backoff;
    if (now + delay > c->resume_deadline)
        delay = c->resume_deadline - now;
    c->backoff = c->backoff * 2 < CL_BACKOFF_MAX ? c->backoff * 2 : CL_BACKOFF_MAX;
    struct timeval tv = clk_timeval(delay > 0 ? delay : 0);
    event_add(c->ev_backoff, &tv);
    if (first) {
        char text[sizeof c->msgbuf]; /* *msg may be c->msgbuf itself */
        snprintf(text, sizeof text, "%s",
                 *msg != NULL && **msg != '\0' ? *msg : condd_strerror(*reason));
        memcpy(c->msgbuf, text, sizeof c->msgbuf);
        c->message = c->msgbuf;
        cl_session_event(c, CONDD_SESSION_RESUMING, *reason);
        c->message = "";
    }
    return true;
}

/* The server resumed the session on this connection, but the client cannot go on with it (its
 * counts disagree with the server's): the session is lost for the application. Goodbye first,
 * so that the server ends it now and hands on what it holds; closed without one, the server
 * would keep it, every lock and permit with it, for its whole grace. No Goodbye where the
 * server refused the resume: there no session is attached to the connection. */
static void resume_refused(condd_async_conn *c, const char *msg)
{
    cl_say_goodbye(c);
    cl_fail(c, CONDD_ERR_SESSION_LOST, msg);
}

void cl_resume_on_hello(condd_async_conn *c, int rc, const Condd__V1__Response *r)
{
    if (rc == CONDD_OK && r->result_case == CONDD__V1__RESPONSE__RESULT_HELLO && r->hello != NULL &&
        r->hello->resumed && r->hello->session_id == c->session_id) {
        c->resuming = false;
        c->hello_len = 0; /* answered, so written whole: no later resume replaces it */
        if (r->hello->session_timeout_s > 0)
            c->session_timeout = r->hello->session_timeout_s;
        char msg[200];
        if (c->acks.on && !r->hello->acks) {
            resume_refused(c, "the server resumed the session without acknowledged delivery");
            return;
        }
        if (c->acks.on && !cl_acks_resend(c, r->hello->requests_received, msg, sizeof msg)) {
            resume_refused(c, msg);
            return;
        }
        c->state = CL_READY;
        c->last_rx = clk_mono();
        event_del(c->ev_timer);
        cl_start_keepalive(c);
        cl_session_event(c, CONDD_SESSION_RESUMED, CONDD_OK);
        return;
    }
    /* Refused (RESUME_FAILED, or a server that is stopping): the session is gone. */
    char msg[200];
    snprintf(msg, sizeof msg, "the session could not be resumed: %s",
             r->message != NULL && r->message[0] != '\0' ? r->message : condd_strerror(rc));
    c->resuming = false;
    cl_fail(c, CONDD_ERR_SESSION_LOST, msg);
}

/* ------------------------------------------------------------------ a new session in place */

bool cl_reopen(condd_async_conn *c, const condd_options *opts)
{
    if (c->state != CL_DEAD || c->closing || c->depth > 0 || c->pending.count > 0 ||
        c->waitfors != NULL)
        return false;
    /* The dead session's leftovers: nothing of it may reach the new one. */
    cl_close_socket(c);
    event_del(c->ev_flush);
    event_del(c->ev_timer);
    event_del(c->ev_backoff);
    if (c->wbuf != NULL)
        explicit_bzero(c->wbuf, c->wcap);
    c->wpos = c->wlen = c->wmark = c->whanded = c->hello_len = 0;
    c->rpos = c->rlen = 0;
    c->flush_scheduled = false;
    c->keepalive_pending = false;
    c->resuming = false;
    c->server_stopping = false;
    c->acks.asked = false;
    cl_acks_reset(c);
    c->session_id = 0;
    c->grace = 0;
    explicit_bzero(c->secret, sizeof c->secret);
    c->secret_len = 0;
    if (c->token != NULL) {
        explicit_bzero(c->token, strlen(c->token));
        free(c->token);
        c->token = NULL;
    }
    c->session_timeout = opts != NULL && opts->session_timeout_set ? opts->session_timeout : 0;
    c->dead_reason = 0;
    c->msgbuf[0] = '\0';
    c->message = "";
    c->addr_idx = 0;
    c->ever_ready = false; /* until this session's Hello: a failed connect is no disconnect */
    c->state = CL_CONNECTING;
    if (!cl_start_session(c, opts)) {
        c->state = CL_DEAD;
        c->dead_reason = CONDD_ERR_NOMEM;
        snprintf(c->msgbuf, sizeof c->msgbuf, "out of memory reconnecting");
        return false;
    }
    return true;
}
