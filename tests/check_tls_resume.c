/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Sessions resumed over TLS (fixtures in tls_util.c): a session resumed over a new TLS
 * connection after tests/blipproxy drops the first, a close that says Goodbye, and what a blip
 * must not lose or double over TLS: answers backed up in the daemon (a raw TLS client that
 * stops reading, then a takeover), requests backed up in the library (a scripted TLS server in
 * a thread that stops reading, then closes), one resume Hello however many attempts were
 * refused, and no RESUMING from a failed Goodbye; and with acknowledged delivery (protocol.md
 * §5.6.2), a grant and a release held in a stalled proxy, then lost to a reset, each arrive
 * once after the resume, and a resumed session the library refuses (a scripted TLS server
 * resumes it without acks) ended with a Goodbye through TLS. The rest of TLS is in
 * check_tls.c.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <condd/condd.h>
#include <condd/condd_async.h>
#include <event2/event.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>

#include "condd.pb-c.h"
#include "frame.h"
#include "wireclient.h"

#include "proxy_util.h"
#include "testutil.h"
#include "tls_util.h"

/* ------------------------------------------------------------------ resume */

/* A TLS daemon, a blip proxy in front of it, and a blocking client through the proxy with a 30 s
 * grace whose session events go to cb: the set-up of the tests that break the connection. */
struct via_proxy {
    struct tu_daemon d;
    struct tu_proxy px;
    condd_conn *c; /* the client; the test closes it */
};

static void via_proxy_open(struct via_proxy *v, condd_session_cb cb)
{
    int port;
    tlsu_start_daemon(&v->d, &port, "server", NULL);
    ck_assert(tu_proxy_start(&v->px, port));
    char addr[64], msg[256];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", v->px.port);
    condd_options *o = tlsu_options("ca.pem", NULL, NULL);
    ck_assert_int_eq(condd_options_set_grace(o, 30), CONDD_OK);
    ck_assert_int_eq(tlsu_open_with(addr, o, &v->c, msg, sizeof msg), CONDD_OK);
    condd_conn_set_session_cb(v->c, cb, NULL);
}

/* Stops the proxy and the daemon (which must exit cleanly). */
static void via_proxy_close(struct via_proxy *v)
{
    tu_proxy_stop(&v->px);
    ck_assert_int_eq(tu_daemon_stop(&v->d), 0);
}

static int resumed;
static void on_session(condd_conn *c, int event, int reason, void *arg)
{
    if (event == CONDD_SESSION_RESUMED)
        resumed++;
}

/* A session with a grace whose TLS connection is reset resumes on a new TLS connection, with
 * its lock, and a call made meanwhile gets its answer. */
START_TEST(test_tls_session_resumes_after_a_drop)
{
    resumed = 0;
    struct via_proxy v;
    via_proxy_open(&v, on_session);
    condd_conn *c = v.c;
    ck_assert_int_eq(condd_lock_acquire(c, "tls/kept", 1, 5, NULL), CONDD_OK);
    /* A reset, not a quiet drop: after a drop (FIN) the kernel may still take the next request
     * whole before the library reads the end of the stream, and such a request is lost with the
     * connection (protocol.md §5.6), which made this call hang once in distcheck. The reset has
     * reached the library's socket when the proxy answers (loopback, in order), so the call's
     * write fails, the request stays unsent, and it goes out again after the resume. */
    ck_assert(tu_proxy_cmd(&v.px, "reset", NULL, 0));
    bool locked = false;
    ck_assert_int_eq(condd_lock_locked(c, "tls/kept", &locked), CONDD_OK);
    ck_assert(locked);
    ck_assert_int_eq(resumed, 1);
    /* Still the holder: the release is accepted. */
    ck_assert_int_eq(condd_lock_release(c, "tls/kept", 1), CONDD_OK);
    condd_conn_close(c);
    via_proxy_close(&v);
}
END_TEST

static int resuming_events;
static void count_resuming(condd_conn *c, int event, int reason, void *arg)
{
    if (event == CONDD_SESSION_RESUMING)
        resuming_events++;
}

/* condd_conn_close() on a TLS session with a grace whose connection the server side has reset
 * (not yet noticed by the library): the Goodbye's send fails, and that is the close's business,
 * not a blip: no RESUMING event, and the close returns. */
START_TEST(test_tls_failed_goodbye_on_close_is_not_a_blip)
{
    resuming_events = 0;
    struct via_proxy v;
    via_proxy_open(&v, count_resuming);
    condd_conn *c = v.c;
    ck_assert_int_eq(condd_lock_acquire(c, "tls/bye", 1, 5, NULL), CONDD_OK);
    /* Resets reach the library's socket before the proxy answers (loopback, in order); the
     * blocking API reads nothing until the next call, so the close meets the reset first. */
    ck_assert(tu_proxy_cmd(&v.px, "reset", NULL, 0));
    condd_conn_close(c);
    ck_assert_int_eq(resuming_events, 0);
    via_proxy_close(&v);
}
END_TEST

/* condd_conn_close() on a TLS session with a grace sends Goodbye through the filter: the
 * session ends at once and its lock is free long before the 30 s grace would run out. */
START_TEST(test_tls_close_says_goodbye)
{
    struct tu_daemon d;
    int port;
    tlsu_start_daemon(&d, &port, "server", NULL);
    char addr[64], msg[256];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", port);
    condd_options *o = tlsu_options("ca.pem", NULL, NULL);
    ck_assert_int_eq(condd_options_set_grace(o, 30), CONDD_OK);
    condd_conn *c;
    ck_assert_int_eq(tlsu_open_with(addr, o, &c, msg, sizeof msg), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "tls/goodbye", 1, 5, NULL), CONDD_OK);
    condd_conn_close(c);
    condd_conn *w = NULL;
    ck_assert_int_eq(condd_conn_open(d.addr, NULL, &w), CONDD_OK);
    int rc = CONDD_ERR_TIMEOUT;
    double end = tu_now() + 10;
    while (rc == CONDD_ERR_TIMEOUT && tu_now() < end)
        rc = condd_lock_acquire(w, "tls/goodbye", 1, 0.05, NULL);
    ck_assert_int_eq(rc, CONDD_OK);
    condd_conn_close(w);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* The number of Hellos the server answered, whatever their status (Stats op counters). */
static uint64_t hellos_seen(condd_conn *watch)
{
    condd_stats *st = NULL;
    ck_assert_int_eq(condd_conn_stats(watch, &st), CONDD_OK);
    uint64_t n = 0;
    for (size_t i = 0; i < st->n_ops; i++) {
        const struct condd_op_count *op = condd_stats_op(st, i);
        if (strcmp(op->op, "hello") == 0)
            n += op->count;
    }
    condd_stats_free(st);
    return n;
}

/* Reconnect attempts refused by the network (the proxy closes them at once, before the TLS
 * handshake, so the Hello handed to the filter never leaves) each rebuild the output buffer:
 * the server then sees exactly one Hello, the resume, and no BAD_REQUEST for extra ones. */
START_TEST(test_tls_refused_reconnects_leave_one_resume_hello)
{
    resumed = 0;
    struct via_proxy v;
    via_proxy_open(&v, on_session);
    condd_conn *c = v.c;
    ck_assert_int_eq(condd_lock_acquire(c, "tls/again", 1, 5, NULL), CONDD_OK);
    condd_conn *watch = NULL;
    ck_assert_int_eq(condd_conn_open(v.d.addr, NULL, &watch), CONDD_OK);
    uint64_t before = hellos_seen(watch);
    ck_assert(tu_proxy_cmd(&v.px, "refuse", NULL, 0));
    ck_assert(tu_proxy_cmd(&v.px, "drop", NULL, 0));
    /* The library retries on the blocking connection's own loop (condd_conn_base()), which is
     * run here in short turns until the proxy has refused three attempts. */
    int refused = 0;
    double end = tu_now() + 20;
    while (refused < 3 && tu_now() < end) {
        struct timeval tick = {0, 20000};
        event_base_loopexit(condd_conn_base(c), &tick);
        event_base_dispatch(condd_conn_base(c));
        char out[32] = "";
        ck_assert(tu_proxy_cmd(&v.px, "refused", out, sizeof out));
        refused = atoi(out);
    }
    ck_assert_int_ge(refused, 3);
    ck_assert(tu_proxy_cmd(&v.px, "accept", NULL, 0));
    bool locked = false;
    ck_assert_int_eq(condd_lock_locked(c, "tls/again", &locked), CONDD_OK);
    ck_assert(locked);
    ck_assert_int_eq(resumed, 1);
    /* One Hello more than before: the resume (its answer came before the Locked one). */
    ck_assert_uint_eq(hellos_seen(watch), before + 1);
    ck_assert_int_eq(condd_lock_release(c, "tls/again", 1), CONDD_OK);
    condd_conn_close(watch);
    condd_conn_close(c);
    via_proxy_close(&v);
}
END_TEST

/* ------------------------------------------------------------------ raw TLS wire */

/* Sends Hello (a resume when session is not 0) and returns its answer. */
static Condd__V1__Response *raw_hello(struct tlsu_raw *r, uint64_t session, const uint8_t *secret,
                                      size_t secret_len)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
    h.protocol_version = 1;
    h.client_name = "check_tls raw";
    h.grace_s = 30;
    h.resume_session = session;
    h.resume_secret.data = (uint8_t *)secret;
    h.resume_secret.len = secret_len;
    req.id = 1;
    req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
    req.hello = &h;
    tlsu_raw_send(r, &req);
    Condd__V1__Response *resp = tlsu_raw_recv(r);
    ck_assert_ptr_nonnull(resp);
    ck_assert_int_eq(resp->status, CONDD__V1__STATUS__STATUS_OK);
    ck_assert_int_eq(resp->result_case, CONDD__V1__RESPONSE__RESULT_HELLO);
    return resp;
}

#define BACKLOG_LOCKS 250
#define BACKLOG_LISTS 100

/* A TLS client that stops reading while its answers back up in the daemon, and whose session
 * is then taken over by a resume on a second connection: every answer arrives exactly once,
 * either on the first connection (what the daemon had written to the socket before it closed
 * it, delivered after the close) or after the resumed HelloResult (what it had not). Answers
 * already encrypted but not written used to be lost here. The answers (~3.7 MB of List results)
 * are more than the socket buffers took here (~2.4 MB), and less than the 4 MB at which the
 * daemon would stop reading the rest of the Lists. */
START_TEST(test_tls_takeover_delivers_backed_up_answers_exactly_once)
{
    struct tu_daemon d;
    int port;
    tlsu_start_daemon(&d, &port, "server", NULL);
    /* Many held locks with long names, so that each List answer is ~37 KB. */
    condd_conn *h = NULL;
    ck_assert_int_eq(condd_conn_open(d.addr, NULL, &h), CONDD_OK);
    for (int i = 0; i < BACKLOG_LOCKS; i++) {
        char name[160];
        snprintf(name, sizeof name, "backlog/%0100d", i);
        ck_assert_int_eq(condd_lock_acquire(h, name, 1, 0, NULL), CONDD_OK);
    }
    struct tlsu_raw a;
    tlsu_raw_open(&a, port, 4096);
    Condd__V1__Response *hr = raw_hello(&a, 0, NULL, 0);
    uint64_t sid = hr->hello->session_id;
    uint8_t secret[64];
    size_t secret_len = hr->hello->resume_secret.len;
    ck_assert_uint_eq(secret_len, 32);
    memcpy(secret, hr->hello->resume_secret.data, secret_len);
    condd__v1__response__free_unpacked(hr, NULL);
    for (int i = 0; i < BACKLOG_LISTS; i++) {
        Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
        Condd__V1__List l = CONDD__V1__LIST__INIT;
        l.prefix.data = (uint8_t *)"backlog/";
        l.prefix.len = 8;
        l.limit = BACKLOG_LOCKS;
        req.id = 100 + (uint64_t)i;
        req.body_case = CONDD__V1__REQUEST__BODY_LIST;
        req.list = &l;
        tlsu_raw_send(&a, &req);
    }
    /* Wait until the daemon has answered them all (its Stats count them as it answers). */
    double end = tu_now() + 30;
    uint64_t lists = 0;
    while (lists < BACKLOG_LISTS && tu_now() < end) {
        condd_stats *st = NULL;
        ck_assert_int_eq(condd_conn_stats(h, &st), CONDD_OK);
        lists = 0;
        for (size_t i = 0; i < st->n_ops; i++) {
            const struct condd_op_count *op = condd_stats_op(st, i);
            if (strcmp(op->op, "list") == 0 && strcmp(op->status, "ok") == 0)
                lists = op->count;
        }
        condd_stats_free(st);
    }
    ck_assert_uint_eq(lists, BACKLOG_LISTS);
    /* Take the session over from a second connection: the daemon closes the first. */
    struct tlsu_raw b;
    tlsu_raw_open(&b, port, 0);
    hr = raw_hello(&b, sid, secret, secret_len);
    ck_assert(hr->hello->resumed);
    condd__v1__response__free_unpacked(hr, NULL);
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Ping ping = CONDD__V1__PING__INIT;
    req.id = 99999;
    req.body_case = CONDD__V1__REQUEST__BODY_PING;
    req.ping = &ping;
    tlsu_raw_send(&b, &req);
    int seen[BACKLOG_LISTS] = {0};
    int on_first = 0, on_second = 0;
    Condd__V1__Response *resp;
    while ((resp = tlsu_raw_recv(&a)) != NULL) {
        ck_assert_uint_ge(resp->id, 100);
        ck_assert_uint_lt(resp->id, 100 + BACKLOG_LISTS);
        seen[resp->id - 100]++;
        on_first++;
        condd__v1__response__free_unpacked(resp, NULL);
    }
    for (;;) {
        resp = tlsu_raw_recv(&b);
        ck_assert_ptr_nonnull(resp);
        uint64_t id = resp->id;
        if (id != 99999) {
            ck_assert_int_eq(resp->status, CONDD__V1__STATUS__STATUS_OK);
            ck_assert_uint_ge(id, 100);
            ck_assert_uint_lt(id, 100 + BACKLOG_LISTS);
            seen[id - 100]++;
            on_second++;
        }
        condd__v1__response__free_unpacked(resp, NULL);
        if (id == 99999)
            break;
    }
    for (int i = 0; i < BACKLOG_LISTS; i++)
        ck_assert_msg(seen[i] == 1,
                      "List %d answered %d times (%d on the first connection, %d "
                      "after the resume)",
                      i, seen[i], on_first, on_second);
    /* The answers did back up: some came only after the resume. */
    ck_assert_int_gt(on_second, 0);
    tlsu_raw_close(&a);
    tlsu_raw_close(&b);
    condd_conn_close(h);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* ------------------------------------------------------------------ a scripted TLS server */

#define FAKE_REQS 16000
#define NAME_LEN 500
#define FAKE_SESSION 7

/* A server in a thread that answers the library's Hello, then reads nothing until told, then
 * reads everything the library's socket had taken (its requests counted by id), closes, and
 * serves the resume: the answers to what it read, then the requests sent again. */
struct fake {
    int lfd, port;
    SSL_CTX *ctx;
    int to_main[2], to_fake[2]; /* one byte per step */
    int client_fd;              /* the library's socket (found by main) */
    int first, second, twice;   /* requests read before the close, after, and read twice */
    bool bad;                   /* something the script did not expect */
    uint8_t seen[FAKE_REQS + 64];
};

static void fake_step(int fd)
{
    char b = 1;
    ck_assert_int_eq(write(fd, &b, 1), 1);
}

static void fake_wait(int fd)
{
    char b;
    ck_assert_int_eq(read(fd, &b, 1), 1);
}

/* The next whole request from ssl into *buf, or NULL at the end (stop() true before a read, or
 * a close). */
static Condd__V1__Request *fake_recv(SSL *ssl, uint8_t *buf, size_t *len, size_t cap,
                                     bool (*stop)(struct fake *, int), struct fake *f, int fd)
{
    for (;;) {
        Condd__V1__Request *req = NULL;
        int took = wc_take_request(buf, len, &req);
        if (took != 0)
            return req; /* NULL for a frame that does not decode */
        int n = SSL_read(ssl, buf + *len, (int)(cap - *len));
        if (n > 0) {
            *len += (size_t)n;
            continue;
        }
        /* Non-blocking (stop given): more may come while stop() says so. A record cut short
         * waits here for bytes that will never come, and stop() ends it. */
        if (stop == NULL || SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ || stop(f, fd))
            return NULL;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, 50);
    }
}

/* Everything the library's socket took has been read: nothing in flight, nothing unread. */
static bool fake_drained(struct fake *f, int fd)
{
    int outq = 1, inq = 1;
    if (ioctl(f->client_fd, SIOCOUTQ, &outq) != 0 || ioctl(fd, FIONREAD, &inq) != 0)
        return true;
    return outq == 0 && inq == 0;
}

static void fake_send(SSL *ssl, Condd__V1__Response *resp)
{
    uint8_t b[256];
    size_t n = frame_encoded_size(&resp->base);
    if (n <= sizeof b) {
        frame_encode(&resp->base, b);
        SSL_write(ssl, b, (int)n);
    }
}

/* One TLS connection accepted on lfd (both scripted servers). */
static SSL *fake_accept(int lfd, SSL_CTX *ctx, int *fd)
{
    *fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (*fd < 0)
        return NULL;
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, *fd);
    if (SSL_accept(ssl) != 1) {
        SSL_free(ssl);
        close(*fd);
        return NULL;
    }
    return ssl;
}

/* acks: HelloResult.acks, the offer of acknowledged delivery (protocol.md §5.6.2). */
static void fake_hello_result(SSL *ssl, uint64_t id, bool is_resume, bool acks)
{
    static uint8_t secret[32];
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__HelloResult hr = CONDD__V1__HELLO_RESULT__INIT;
    hr.server_version = "fake";
    hr.protocol_version = 1;
    hr.session_id = FAKE_SESSION;
    hr.session_timeout_s = 60;
    hr.max_frame_bytes = 65536;
    hr.resume_secret.data = secret;
    hr.resume_secret.len = sizeof secret;
    hr.grace_s = 30;
    hr.resumed = is_resume;
    hr.acks = acks;
    resp.id = id;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_HELLO;
    resp.hello = &hr;
    fake_send(ssl, &resp);
}

/* The answer to Acquire id: granted, with the id as its token. */
static void fake_grant(SSL *ssl, uint64_t id)
{
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__AcquireResult ar = CONDD__V1__ACQUIRE_RESULT__INIT;
    ar.token = id;
    resp.id = id;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_ACQUIRE;
    resp.acquire = &ar;
    fake_send(ssl, &resp);
}

/* Notes request id; false when it is not an Acquire of the script. */
static bool fake_note(struct fake *f, const Condd__V1__Request *req)
{
    if (req->body_case != CONDD__V1__REQUEST__BODY_ACQUIRE || req->id >= FAKE_REQS + 64)
        return false;
    if (f->seen[req->id]++ > 0)
        f->twice++;
    return true;
}

static void *fake_run(void *arg)
{
    struct fake *f = arg;
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    int fd1, fd2;
    /* 1: the Hello, answered; then nothing is read until main says so. */
    SSL *s1 = fake_accept(f->lfd, f->ctx, &fd1);
    Condd__V1__Request *req = s1 != NULL ? fake_recv(s1, buf, &len, cap, NULL, f, fd1) : NULL;
    if (req == NULL || req->body_case != CONDD__V1__REQUEST__BODY_HELLO) {
        f->bad = true;
        fake_step(f->to_main[1]);
        return NULL;
    }
    fake_hello_result(s1, req->id, false, false);
    condd__v1__request__free_unpacked(req, NULL);
    fake_step(f->to_main[1]);
    fake_wait(f->to_fake[0]);
    /* 2: everything the library's socket took, then the connection breaks. */
    fcntl(fd1, F_SETFL, fcntl(fd1, F_GETFL) | O_NONBLOCK);
    while ((req = fake_recv(s1, buf, &len, cap, fake_drained, f, fd1)) != NULL) {
        if (fake_note(f, req))
            f->first++;
        else
            f->bad = true;
        condd__v1__request__free_unpacked(req, NULL);
    }
    SSL_free(s1);
    close(fd1);
    len = 0; /* a partial frame died with the connection */
    fake_step(f->to_main[1]);
    /* 3: the resume: its answers come first, then the requests sent again are answered. */
    SSL *s2 = fake_accept(f->lfd, f->ctx, &fd2);
    req = s2 != NULL ? fake_recv(s2, buf, &len, cap, NULL, f, fd2) : NULL;
    if (req == NULL || req->body_case != CONDD__V1__REQUEST__BODY_HELLO ||
        req->hello->resume_session != FAKE_SESSION) {
        f->bad = true;
    } else {
        fake_hello_result(s2, req->id, true, false);
        for (uint64_t id = 0; id < FAKE_REQS + 64; id++)
            if (f->seen[id] > 0)
                fake_grant(s2, id);
    }
    if (req != NULL)
        condd__v1__request__free_unpacked(req, NULL);
    while (s2 != NULL && (req = fake_recv(s2, buf, &len, cap, NULL, f, fd2)) != NULL) {
        if (req->body_case == CONDD__V1__REQUEST__BODY_GOODBYE) {
            condd__v1__request__free_unpacked(req, NULL);
            break;
        }
        if (fake_note(f, req)) {
            f->second++;
            fake_grant(s2, req->id);
        } else {
            f->bad = true;
        }
        condd__v1__request__free_unpacked(req, NULL);
    }
    if (s2 != NULL) {
        SSL_free(s2);
        close(fd2);
    }
    free(buf);
    return NULL;
}

static void fake_start(struct fake *f, pthread_t *t)
{
    memset(f, 0, sizeof *f);
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 4096; /* accepted sockets inherit it: the library's socket backs up soon */
    setsockopt(f->lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sin;
    ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(listen(f->lfd, 8), 0);
    ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&sin, &sl), 0);
    f->port = ntohs(sin.sin_port);
    f->ctx = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(f->ctx);
    ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(f->ctx, tlsu_cert("server.pem")), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(f->ctx, tlsu_cert("server.key"), SSL_FILETYPE_PEM),
                     1);
    ck_assert_int_eq(pipe(f->to_main), 0);
    ck_assert_int_eq(pipe(f->to_fake), 0);
    ck_assert_int_eq(pthread_create(t, NULL, fake_run, f), 0);
}

/* The library's socket: the one connected to the fake server's port. */
static int fake_find_client_fd(const struct fake *f)
{
    for (int fd = 3; fd < 1024; fd++) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        if (fd != f->lfd && getpeername(fd, (struct sockaddr *)&peer, &pl) == 0 &&
            peer.sin_family == AF_INET && ntohs(peer.sin_port) == f->port)
            return fd;
    }
    return -1;
}

struct grants {
    int ok, failed;
};

static void on_grant(condd_async_conn *ac, int result, uint64_t token, void *arg)
{
    struct grants *p = arg;
    if (result == CONDD_OK && token != 0)
        p->ok++;
    else
        p->failed++;
}

static void on_open(condd_async_conn *ac, int result, void *arg)
{
    *(int *)arg = result == CONDD_OK ? 1 : -1;
}

static void run_turns(struct event_base *base, const int *flag, int want, double seconds)
{
    double end = tu_now() + seconds;
    while (*flag < want && tu_now() < end) {
        struct timeval tick = {0, 10000};
        event_base_loopexit(base, &tick);
        event_base_dispatch(base);
    }
}

/* Requests the library encrypted but could not write (the server stopped reading) are sent
 * again after the resume: every call completes exactly once, and the server reads no request
 * twice. They used to count as sent once encrypted, and never completed. */
START_TEST(test_tls_requests_encrypted_but_unwritten_are_sent_again_after_a_resume)
{
    struct fake f;
    pthread_t t;
    fake_start(&f, &t);
    struct event_base *base = event_base_new();
    ck_assert_ptr_nonnull(base);
    char addr[64];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", f.port);
    condd_options *o = tlsu_options("ca.pem", NULL, NULL);
    ck_assert_int_eq(condd_options_set_grace(o, 30), CONDD_OK);
    int opened = 0;
    condd_async_conn *c = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, addr, o, on_open, &opened, &c), CONDD_OK);
    condd_options_free(o);
    run_turns(base, &opened, 1, 20);
    ck_assert_int_eq(opened, 1);
    fake_wait(f.to_main[0]); /* it answered the Hello */
    ck_assert(!f.bad);
    f.client_fd = fake_find_client_fd(&f);
    ck_assert_int_ge(f.client_fd, 0);
    /* ~8 MB of requests (a long name each): more than the socket buffers take. */
    char name[NAME_LEN + 1];
    memset(name, 'n', NAME_LEN);
    name[NAME_LEN] = '\0';
    struct grants p = {0};
    for (int i = 0; i < FAKE_REQS; i++)
        ck_assert_int_eq(condd_async_lock_acquire(c, name, 1, 0, on_grant, &p, NULL), CONDD_OK);
    /* A few turns: the library writes until its socket is full. */
    for (int i = 0; i < 5; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    int outq = 0;
    ck_assert_int_eq(ioctl(f.client_fd, SIOCOUTQ, &outq), 0);
    ck_assert_int_gt(outq, 0); /* backed up */
    fake_step(f.to_fake[1]);
    fake_wait(f.to_main[0]); /* read what the socket took, and closed */
    run_turns(base, &p.ok, FAKE_REQS, 30);
    ck_assert_int_eq(p.failed, 0);
    ck_assert_int_eq(p.ok, FAKE_REQS);
    condd_async_conn_close(c);
    pthread_join(t, NULL);
    ck_assert(!f.bad);
    ck_assert_int_eq(f.twice, 0);
    ck_assert_int_gt(f.second, 0); /* some were sent again */
    ck_assert_int_eq(f.first + f.second, FAKE_REQS);
    SSL_CTX_free(f.ctx);
    close(f.lfd);
    event_base_free(base);
}
END_TEST

/* ------------------------------------------------------------------ a resume the client refuses */

/* A scripted TLS server in a thread: answers the opening Hello with acknowledged delivery on;
 * closes that connection when main says so; answers the resume Hello with the session resumed
 * but acks off (which libcondd, having asked for them, refuses); then counts what the library
 * writes on that connection, decrypted, until its end. */
struct bye_fake {
    int lfd, port;
    SSL_CTX *ctx;
    int to_fake[2];
    bool bad;
    int goodbyes, others; /* requests read on the resumed connection */
    bool ended;           /* the connection ended after whole frames */
};

static void *bye_run(void *arg)
{
    struct bye_fake *f = arg;
    uint8_t buf[4096];
    size_t len = 0;
    int fd1, fd2;
    SSL *s1 = fake_accept(f->lfd, f->ctx, &fd1);
    Condd__V1__Request *req =
        s1 != NULL ? fake_recv(s1, buf, &len, sizeof buf, NULL, NULL, fd1) : NULL;
    if (req == NULL || req->body_case != CONDD__V1__REQUEST__BODY_HELLO || !req->hello->acks) {
        f->bad = true;
        if (req != NULL)
            condd__v1__request__free_unpacked(req, NULL);
        return NULL;
    }
    fake_hello_result(s1, req->id, false, true);
    condd__v1__request__free_unpacked(req, NULL);
    fake_wait(f->to_fake[0]);
    SSL_free(s1); /* the connection is lost (no close_notify, as condd's close) */
    close(fd1);
    len = 0;
    SSL *s2 = fake_accept(f->lfd, f->ctx, &fd2);
    req = s2 != NULL ? fake_recv(s2, buf, &len, sizeof buf, NULL, NULL, fd2) : NULL;
    if (req == NULL || req->body_case != CONDD__V1__REQUEST__BODY_HELLO ||
        req->hello->resume_session != FAKE_SESSION) {
        f->bad = true;
    } else {
        fake_hello_result(s2, req->id, true, false);
        Condd__V1__Request *r;
        while ((r = fake_recv(s2, buf, &len, sizeof buf, NULL, NULL, fd2)) != NULL) {
            if (r->body_case == CONDD__V1__REQUEST__BODY_GOODBYE)
                f->goodbyes++;
            else
                f->others++;
            condd__v1__request__free_unpacked(r, NULL);
        }
        f->ended = len == 0;
    }
    if (req != NULL)
        condd__v1__request__free_unpacked(req, NULL);
    if (s2 != NULL) {
        SSL_free(s2);
        close(fd2);
    }
    return NULL;
}

static void on_lost(condd_async_conn *ac, int event, int reason, void *arg)
{
    if (event == CONDD_SESSION_LOST && reason == CONDD_ERR_SESSION_LOST)
        (*(int *)arg)++;
}

/* The server resumes the session over TLS, but without the acknowledged delivery the library
 * asked for: the library gives the session up (SESSION_LOST once) and, since the session is
 * attached to that connection, says Goodbye on it first, through TLS (the server decrypts a
 * Goodbye and nothing else before the end), so that the server ends it at once. */
START_TEST(test_tls_refused_resumed_session_says_goodbye_through_tls)
{
    struct bye_fake f;
    memset(&f, 0, sizeof f);
    f.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sin;
    ck_assert_int_eq(bind(f.lfd, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(listen(f.lfd, 8), 0);
    ck_assert_int_eq(getsockname(f.lfd, (struct sockaddr *)&sin, &sl), 0);
    f.port = ntohs(sin.sin_port);
    f.ctx = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(f.ctx);
    ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(f.ctx, tlsu_cert("server.pem")), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(f.ctx, tlsu_cert("server.key"), SSL_FILETYPE_PEM),
                     1);
    ck_assert_int_eq(pipe(f.to_fake), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, bye_run, &f), 0);

    struct event_base *base = event_base_new();
    ck_assert_ptr_nonnull(base);
    char addr[64];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", f.port);
    condd_options *o = tlsu_options("ca.pem", NULL, NULL);
    ck_assert_int_eq(condd_options_set_grace(o, 30), CONDD_OK);
    int opened = 0, lost = 0;
    condd_async_conn *c = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, addr, o, on_open, &opened, &c), CONDD_OK);
    condd_options_free(o);
    run_turns(base, &opened, 1, 20);
    ck_assert_int_eq(opened, 1);
    condd_async_conn_set_session_cb(c, on_lost, &lost);
    fake_step(f.to_fake[1]); /* the first connection goes */
    run_turns(base, &lost, 1, 20);
    ck_assert_int_eq(lost, 1);
    ck_assert(!condd_async_conn_is_connected(c));
    condd_async_conn_close(c);
    pthread_join(t, NULL);
    ck_assert(!f.bad);
    ck_assert_int_eq(f.goodbyes, 1);
    ck_assert_int_eq(f.others, 0);
    ck_assert(f.ended);
    SSL_CTX_free(f.ctx);
    close(f.lfd);
    close(f.to_fake[0]);
    close(f.to_fake[1]);
    event_base_free(base);
}
END_TEST

/* ------------------------------------------------------------------ acknowledged delivery */

struct acks_rec {
    int calls, rc;
    uint64_t token;
};

static void acks_on_token(condd_async_conn *ac, int result, uint64_t token, void *arg)
{
    struct acks_rec *r = arg;
    r->calls++;
    r->rc = result;
    r->token = token;
}

static void acks_on_result(condd_async_conn *ac, int result, void *arg)
{
    acks_on_token(ac, result, 0, arg);
}

/* The holder session and token of lock as w's List shows them (0, 0 when free). */
static uint64_t acks_holder(condd_conn *w, const char *lock, uint64_t *token)
{
    condd_list *l = NULL;
    ck_assert_int_eq(condd_conn_list(w, lock, 10, &l), CONDD_OK);
    uint64_t session = 0;
    *token = 0;
    for (size_t i = 0; i < condd_list_lock_count(l); i++) {
        const struct condd_lock_info *li = condd_list_lock(l, i);
        if (strcmp(li->name, lock) == 0 && li->held) {
            session = li->holder_session;
            *token = li->token;
        }
    }
    condd_list_free(l);
    return session;
}

/* The count of release/ok in w's Stats. */
static uint64_t acks_releases(condd_conn *w)
{
    condd_stats *st = NULL;
    ck_assert_int_eq(condd_conn_stats(w, &st), CONDD_OK);
    uint64_t n = 0;
    for (size_t i = 0; i < st->n_ops; i++) {
        const struct condd_op_count *op = condd_stats_op(st, i);
        if (strcmp(op->op, "release") == 0 && strcmp(op->status, "ok") == 0)
            n = op->count;
    }
    condd_stats_free(st);
    return n;
}

/* Acknowledged delivery over TLS (protocol.md §5.6.2): while tests/blipproxy holds everything
 * back, a grant is written to the session's connection and the client writes a release; a
 * reset then loses both. After the resume the grant arrives (once, with the server's token)
 * and the release is sent again and read once. */
START_TEST(test_tls_acks_grant_and_release_held_in_a_stalled_proxy_arrive_once)
{
    struct via_proxy v;
    via_proxy_open(&v, on_session); /* for its daemon and proxy; the test's client is async */
    condd_conn_close(v.c);
    condd_conn *w = NULL;
    ck_assert_int_eq(condd_conn_open(v.d.addr, NULL, &w), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(w, "tls/acks/handed", 1, 5, NULL), CONDD_OK);

    struct event_base *base = event_base_new();
    ck_assert_ptr_nonnull(base);
    char addr[64];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", v.px.port);
    condd_options *o = tlsu_options("ca.pem", NULL, NULL);
    ck_assert_int_eq(condd_options_set_grace(o, 30), CONDD_OK);
    int opened = 0;
    condd_async_conn *a = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, addr, o, on_open, &opened, &a), CONDD_OK);
    condd_options_free(o);
    run_turns(base, &opened, 1, 20);
    ck_assert_int_eq(opened, 1);

    struct acks_rec mine = {0}, handed = {0}, ping = {0}, rel = {0};
    ck_assert_int_eq(condd_async_lock_acquire(a, "tls/acks/mine", 1, 5, acks_on_token, &mine, NULL),
                     CONDD_OK);
    ck_assert_int_eq(condd_async_lock_acquire(a, "tls/acks/handed", 1, CONDD_FOREVER, acks_on_token,
                                              &handed, NULL),
                     CONDD_OK);
    ck_assert_int_eq(condd_async_conn_ping(a, acks_on_result, &ping), CONDD_OK);
    run_turns(base, &ping.calls, 1, 20); /* both acquires reached the server */
    ck_assert_int_eq(mine.rc, CONDD_OK);
    ck_assert(tu_proxy_cmd(&v.px, "stall", NULL, 0));
    ck_assert_int_eq(condd_lock_release(w, "tls/acks/handed", 1), CONDD_OK); /* granted now */
    ck_assert_int_eq(condd_async_lock_release(a, "tls/acks/mine", 1, acks_on_result, &rel),
                     CONDD_OK);
    /* The turn that sends it: the release goes into the proxy (and would be sent again
     * after the resume if it had not). */
    for (int i = 0; i < 3; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    uint64_t token = 0, t2 = 0;
    uint64_t sid = condd_async_conn_session_id(a);
    ck_assert_uint_eq(acks_holder(w, "tls/acks/handed", &token), sid);
    ck_assert_uint_eq(acks_holder(w, "tls/acks/mine", &t2), sid); /* not released yet */
    ck_assert_int_eq(handed.calls + rel.calls, 0);
    uint64_t releases = acks_releases(w);
    ck_assert(tu_proxy_cmd(&v.px, "reset", NULL, 0));
    ck_assert(tu_proxy_cmd(&v.px, "flow", NULL, 0)); /* the stall holds new connections too */
    run_turns(base, &rel.calls, 1, 20);
    run_turns(base, &handed.calls, 1, 20);
    ck_assert_int_eq(handed.calls, 1);
    ck_assert_int_eq(handed.rc, CONDD_OK);
    ck_assert_uint_eq(handed.token, token);
    ck_assert_int_eq(rel.calls, 1);
    ck_assert_int_eq(rel.rc, CONDD_OK);
    ping.calls = 0; /* a second answer would come before this ping's */
    ck_assert_int_eq(condd_async_conn_ping(a, acks_on_result, &ping), CONDD_OK);
    run_turns(base, &ping.calls, 1, 20);
    ck_assert_int_eq(handed.calls + rel.calls, 2);
    ck_assert_uint_eq(acks_holder(w, "tls/acks/mine", &t2), 0);
    ck_assert_uint_eq(acks_releases(w), releases + 1); /* read once */
    condd_async_conn_close(a);
    event_base_free(base);
    condd_conn_close(w);
    via_proxy_close(&v);
}
END_TEST

static Suite *tls_resume_suite(void)
{
    Suite *s = suite_create("tls_resume");
    TCase *tc = tcase_create("tls_resume");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, tlsu_make_certs, tlsu_remove_certs);
    tcase_add_test(tc, test_tls_session_resumes_after_a_drop);
    tcase_add_test(tc, test_tls_close_says_goodbye);
    tcase_add_test(tc, test_tls_failed_goodbye_on_close_is_not_a_blip);
    tcase_add_test(tc, test_tls_refused_reconnects_leave_one_resume_hello);
    tcase_add_test(tc, test_tls_takeover_delivers_backed_up_answers_exactly_once);
    tcase_add_test(tc, test_tls_requests_encrypted_but_unwritten_are_sent_again_after_a_resume);
    tcase_add_test(tc, test_tls_acks_grant_and_release_held_in_a_stalled_proxy_arrive_once);
    tcase_add_test(tc, test_tls_refused_resumed_session_says_goodbye_through_tls);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tls_resume_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
