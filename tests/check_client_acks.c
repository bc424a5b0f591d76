/* SPDX-License-Identifier: BSD-2-Clause
 *
 * libcondd's acknowledged delivery (protocol.md §5.6.2, client/acks.c). Two groups:
 *
 * - "wire": a scripted server in the test itself (a loopback listener read and written by the
 *   test between turns of the client's loop) checks the frames the library writes: the Hello
 *   asks for acks, requests ack what arrived (every 16 answers, and on Pings), the resume
 *   Hello goes alone, and after the resumed HelloResult exactly the requests after
 *   requests_received are sent again, in order, with their ids; against a server that does not
 *   turn acks on, the library works as before.
 * - "daemon": condd behind tests/blipproxy, where a stall keeps bytes in the proxy and a reset
 *   then loses them: a grant written into the stalled proxy, requests written into it, the
 *   blocking API across such a blip, a resume the server must refuse because it dropped a
 *   copy of an answer the client never received, one member of a server list, and a resume
 *   the server grants but the client refuses (its Goodbye hands the session's lock on).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../client/internal.h"
#include "client_util.h"
#include "cluster_util.h"
#include "condd.pb-c.h"
#include "frame.h"
#include "wireclient.h"
#include "proxy_util.h"

/* ------------------------------------------------------------------ a scripted server */

struct fake {
    int lfd, fd, port;
    uint8_t buf[65536];
    size_t len;
};

static struct fake F;

static void fake_setup(void)
{
    setup_base();
    memset(&F, 0, sizeof F);
    F.fd = -1;
    F.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(F.lfd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(F.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(F.lfd, 4), 0);
    ck_assert_int_eq(getsockname(F.lfd, (struct sockaddr *)&sa, &sl), 0);
    F.port = ntohs(sa.sin_port);
}

static void fake_teardown(void)
{
    if (F.fd >= 0)
        close(F.fd);
    close(F.lfd);
    teardown_base();
}

/* One turn of the client's loop (without blocking), then up to 5 ms for fd to get readable. */
static void fake_turn(int fd)
{
    event_base_loop(base, EVLOOP_NONBLOCK);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    poll(&p, 1, 5);
}

/* Accepts the library's next connection (the previous one, if any, is closed). */
static void fake_accept(void)
{
    if (F.fd >= 0)
        close(F.fd);
    F.fd = -1;
    F.len = 0;
    double end = tu_now() + 10;
    while (F.fd < 0 && tu_now() < end) {
        fake_turn(F.lfd);
        F.fd = accept4(F.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    ck_assert_msg(F.fd >= 0, "the library did not connect");
}

/* The next request the library wrote (freed by the caller with
 * condd__v1__request__free_unpacked(r, NULL)). */
static Condd__V1__Request *fake_read(void)
{
    double end = tu_now() + 10;
    for (;;) {
        Condd__V1__Request *r = NULL;
        int took = wc_take_request(F.buf, &F.len, &r);
        ck_assert_int_ge(took, 0);
        if (took == 1)
            return r;
        ck_assert_msg(tu_now() < end, "no request from the library");
        fake_turn(F.fd);
        ssize_t n = recv(F.fd, F.buf + F.len, sizeof F.buf - F.len, MSG_DONTWAIT);
        ck_assert_msg(n != 0, "the library closed the connection");
        if (n > 0)
            F.len += (size_t)n;
    }
}

/* True when the library has written nothing more: its loop runs (a flush it scheduled happens
 * in the turn), and loopback delivers what send() took before send() returns. */
static bool fake_nothing_more(void)
{
    for (int i = 0; i < 3; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    uint8_t b;
    return F.len == 0 && recv(F.fd, &b, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN;
}

static void fake_send(Condd__V1__Response *r)
{
    uint8_t out[4096];
    size_t n = frame_encode(&r->base, out);
    ck_assert_int_eq(send(F.fd, out, n, MSG_NOSIGNAL), (ssize_t)n);
}

static const uint8_t fake_secret[32] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                        7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};

/* Answers Hello id: session 5 with a 30 s grace, acks as given. */
static void fake_hello_result(uint64_t id, bool acks, bool resumed, uint64_t received)
{
    Condd__V1__Response r = CONDD__V1__RESPONSE__INIT;
    Condd__V1__HelloResult h = CONDD__V1__HELLO_RESULT__INIT;
    h.server_version = "fake";
    h.protocol_version = 1;
    h.session_id = 5;
    h.session_timeout_s = 3600; /* no keep-alive ping in the way */
    h.max_frame_bytes = 65536;
    h.resume_secret.data = (uint8_t *)fake_secret;
    h.resume_secret.len = sizeof fake_secret;
    h.grace_s = 30;
    h.resumed = resumed;
    h.acks = acks;
    h.requests_received = received;
    r.id = id;
    r.result_case = CONDD__V1__RESPONSE__RESULT_HELLO;
    r.hello = &h;
    fake_send(&r);
}

static void fake_pong(uint64_t id)
{
    Condd__V1__Response r = CONDD__V1__RESPONSE__INIT;
    Condd__V1__PingResult p = CONDD__V1__PING_RESULT__INIT;
    r.id = id;
    r.result_case = CONDD__V1__RESPONSE__RESULT_PING;
    r.ping = &p;
    fake_send(&r);
}

/* Opens a client with a 30 s grace on the scripted server, whose HelloResult says acks. The
 * Hello must ask for acks. */
static condd_async_conn *fake_open(bool acks)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", F.port);
    condd_options *o = condd_options_new();
    ck_assert_int_eq(condd_options_set_grace(o, 30), CONDD_OK);
    struct rec r = {0};
    condd_async_conn *c = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, addr, o, on_connect, &r, &c), CONDD_OK);
    condd_options_free(o);
    fake_accept();
    Condd__V1__Request *h = fake_read();
    ck_assert_int_eq(h->body_case, CONDD__V1__REQUEST__BODY_HELLO);
    ck_assert(h->hello->acks);
    ck_assert(h->hello->grace_s == 30);
    ck_assert_uint_eq(h->hello->resume_session, 0);
    fake_hello_result(h->id, acks, false, 0);
    condd__v1__request__free_unpacked(h, NULL);
    ck_assert(run_until(&r.done, 10));
    ck_assert_int_eq(r.rc, CONDD_OK);
    ck_assert(c->acks.on == acks);
    return c;
}

/* A ping written by the library: its request, with its id and ack checked by the caller. */
static Condd__V1__Request *ping_read(condd_async_conn *c, struct rec *r)
{
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, r), CONDD_OK);
    Condd__V1__Request *q = fake_read();
    ck_assert_int_eq(q->body_case, CONDD__V1__REQUEST__BODY_PING);
    return q;
}

/* The server side of a lost connection: a reset the library sees on its next read. */
static void fake_reset(void)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(F.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(F.fd);
    F.fd = -1;
}

/* The library closed the connection with nothing more written: the scripted server reads
 * end-of-file (a FIN, not a reset) with no byte before it. */
static void fake_expect_eof(void)
{
    ck_assert_msg(F.len == 0, "the library wrote %zu more bytes", F.len);
    double end = tu_now() + 10;
    for (;;) {
        uint8_t b[256];
        ssize_t n = recv(F.fd, b, sizeof b, MSG_DONTWAIT);
        if (n == 0)
            return;
        ck_assert_msg(n < 0, "the library wrote %zd more bytes", n);
        ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK, "recv: %s", strerror(errno));
        ck_assert_msg(tu_now() < end, "the library did not close the connection");
        fake_turn(F.fd);
    }
}

/* A Goodbye, then end-of-file: how a client that refuses a resumed session ends it. */
static void fake_expect_goodbye_then_eof(void)
{
    Condd__V1__Request *g = fake_read();
    ck_assert_int_eq(g->body_case, CONDD__V1__REQUEST__BODY_GOODBYE);
    condd__v1__request__free_unpacked(g, NULL);
    fake_expect_eof();
}

/* Answers the resume Hello id with RESUME_FAILED, as condd does for an unknown session. */
static void fake_resume_failed(uint64_t id)
{
    Condd__V1__Response r = CONDD__V1__RESPONSE__INIT;
    r.id = id;
    r.status = CONDD__V1__STATUS__STATUS_RESUME_FAILED;
    r.message = "the session cannot be resumed";
    fake_send(&r);
}

/* An old server (HelloResult without acks): requests carry no ack, and after a loss the
 * library resumes as before acks existed: the unsent request rides behind the resume Hello
 * without waiting for its answer, and nothing already sent is sent again. */
START_TEST(test_old_server_without_acks_resumes_as_before)
{
    condd_async_conn *c = fake_open(false);
    struct rec r1 = {0}, r2 = {0};
    Condd__V1__Request *q1 = ping_read(c, &r1);
    ck_assert_uint_eq(q1->ack, 0);
    fake_pong(q1->id);
    ck_assert(run_until(&r1.done, 10));
    ck_assert_int_eq(r1.rc, CONDD_OK);
    Condd__V1__Request *q2 = ping_read(c, &r2);
    ck_assert_uint_eq(q2->ack, 0); /* one answer arrived, but acks is off */
    ck_assert_uint_eq(c->acks.len, 0);
    fake_reset();
    struct rec r3 = {0};
    /* The loss is noticed; the next request is queued behind the resume Hello. */
    double end = tu_now() + 10;
    while (!c->resuming && tu_now() < end)
        event_base_loop(base, EVLOOP_ONCE);
    ck_assert(c->resuming);
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, &r3), CONDD_OK);
    fake_accept();
    Condd__V1__Request *h = fake_read();
    ck_assert_int_eq(h->body_case, CONDD__V1__REQUEST__BODY_HELLO);
    ck_assert_uint_eq(h->hello->resume_session, 5);
    ck_assert_uint_eq(h->ack, 0);
    Condd__V1__Request *q3 = fake_read();  /* before the HelloResult: pipelined as always */
    ck_assert_uint_eq(q3->id, q2->id + 2); /* q2 went whole: not sent again */
    ck_assert(fake_nothing_more());
    fake_hello_result(h->id, false, true, 0);
    fake_pong(q3->id);
    ck_assert(run_until(&r3.done, 10));
    ck_assert_int_eq(r3.rc, CONDD_OK);
    ck_assert(!r2.done); /* lost with the old connection, as §5.6 says without acks */
    condd__v1__request__free_unpacked(q1, NULL);
    condd__v1__request__free_unpacked(q2, NULL);
    condd__v1__request__free_unpacked(q3, NULL);
    condd__v1__request__free_unpacked(h, NULL);
    condd_async_conn_close(c);
}
END_TEST

/* With acks: requests ack the counted answers received; after a loss the resume Hello (with
 * the ack) goes alone, even with a request issued meanwhile; the resumed HelloResult's
 * requests_received decides what is sent again: the requests after it, in order, with their
 * ids, then the one issued while resuming. Each call completes once. */
START_TEST(test_acks_resume_hello_alone_then_the_requests_the_server_did_not_read)
{
    condd_async_conn *c = fake_open(true);
    struct rec r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0}, r5 = {0};
    Condd__V1__Request *q1 = ping_read(c, &r1);
    ck_assert_uint_eq(q1->ack, 0);
    fake_pong(q1->id);
    ck_assert(run_until(&r1.done, 10));
    Condd__V1__Request *q2 = ping_read(c, &r2);
    ck_assert_uint_eq(q2->ack, 1);
    Condd__V1__Request *q3 = ping_read(c, &r3);
    Condd__V1__Request *q4 = ping_read(c, &r4);
    ck_assert_uint_eq(c->acks.sent, 4);
    ck_assert_uint_eq(c->acks.ilen - c->acks.ihead, 3); /* q1 answered: its copy dropped */
    fake_reset();
    double end = tu_now() + 10;
    while (!c->resuming && tu_now() < end)
        event_base_loop(base, EVLOOP_ONCE);
    ck_assert(c->resuming);
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, &r5), CONDD_OK);
    fake_accept();
    Condd__V1__Request *h = fake_read();
    ck_assert_int_eq(h->body_case, CONDD__V1__REQUEST__BODY_HELLO);
    ck_assert_uint_eq(h->hello->resume_session, 5);
    ck_assert_mem_eq(h->hello->resume_secret.data, fake_secret, sizeof fake_secret);
    ck_assert_uint_eq(h->ack, 1);
    ck_assert(fake_nothing_more()); /* nothing behind the resume Hello */
    /* The server read q2 (its answer was lost with the connection: sent again now), not q3. */
    fake_hello_result(h->id, true, true, 2);
    fake_pong(q2->id);
    Condd__V1__Request *s3 = fake_read();
    Condd__V1__Request *s4 = fake_read();
    Condd__V1__Request *s5 = fake_read();
    ck_assert_uint_eq(s3->id, q3->id);
    ck_assert_int_eq(s3->body_case, CONDD__V1__REQUEST__BODY_PING);
    ck_assert_uint_eq(s4->id, q4->id);
    ck_assert_uint_eq(s5->id, h->id + 1); /* issued while resuming; its id came after the Hello's */
    ck_assert(fake_nothing_more());
    ck_assert(run_until(&r2.done, 10));
    ck_assert_int_eq(r2.rc, CONDD_OK);
    fake_pong(s3->id);
    fake_pong(s4->id);
    fake_pong(s5->id);
    ck_assert(run_until(&r5.done, 10));
    ck_assert(r3.done && r4.done);
    ck_assert_int_eq(r1.calls + r2.calls + r3.calls + r4.calls + r5.calls, 5);
    ck_assert_uint_eq(c->acks.ilen - c->acks.ihead, 0); /* every copy dropped */
    /* Five counted answers in all: the next request says so. */
    struct rec r6 = {0};
    Condd__V1__Request *q6 = ping_read(c, &r6);
    ck_assert_uint_eq(q6->ack, 5);
    ck_assert_uint_eq(c->acks.sent, 6);
    Condd__V1__Request *all[] = {q1, q2, q3, q4, h, s3, s4, s5, q6};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        condd__v1__request__free_unpacked(all[i], NULL);
    condd_async_conn_close(c);
}
END_TEST

/* A request acks once CL_ACKS_EVERY counted answers arrived since its last ack (a keep-alive
 * Ping always acks): the server's copies stay few without an ack on every request. */
START_TEST(test_acks_ride_on_every_sixteenth_request_and_on_pings)
{
    condd_async_conn *c = fake_open(true);
    for (uint64_t i = 1; i <= 20; i++) {
        struct rec r = {0};
        ck_assert_int_eq(condd_async_lock_release(c, "x", 1, on_result, &r), CONDD_OK);
        Condd__V1__Request *q = fake_read();
        ck_assert_int_eq(q->body_case, CONDD__V1__REQUEST__BODY_RELEASE);
        /* i - 1 answers have arrived: the 17th request acks all 16, the others nothing */
        ck_assert_uint_eq(q->ack, i == CL_ACKS_EVERY + 1 ? CL_ACKS_EVERY : 0);
        Condd__V1__Response a = CONDD__V1__RESPONSE__INIT;
        Condd__V1__ReleaseResult rr = CONDD__V1__RELEASE_RESULT__INIT;
        a.id = q->id;
        a.result_case = CONDD__V1__RESPONSE__RESULT_RELEASE;
        a.release = &rr;
        fake_send(&a);
        ck_assert(run_until(&r.done, 10));
        ck_assert_int_eq(r.rc, CONDD_OK);
        condd__v1__request__free_unpacked(q, NULL);
    }
    struct rec rp = {0};
    Condd__V1__Request *p = ping_read(c, &rp);
    ck_assert_uint_eq(p->ack, 20);
    fake_pong(p->id);
    ck_assert(run_until(&rp.done, 10));
    condd__v1__request__free_unpacked(p, NULL);
    condd_async_conn_close(c);
}
END_TEST

/* Not acks, but the same scripted server serves: a server that closes a fresh connection before
 * answering its Hello (a live restart closes the connections it accepted and had not read) is
 * asked again, with the same Hello, and the open succeeds; one that keeps doing it fails the
 * open after two more tries, with the reason of the last. */
START_TEST(test_open_asks_again_when_the_server_closes_before_answering_hello)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", F.port);
    for (int stubborn = 0; stubborn < 2; stubborn++) {
        struct rec r = {0};
        condd_async_conn *c = NULL;
        ck_assert_int_eq(condd_async_conn_open(base, addr, NULL, on_connect, &r, &c), CONDD_OK);
        fake_accept();
        Condd__V1__Request *h1 = fake_read();
        ck_assert_int_eq(h1->body_case, CONDD__V1__REQUEST__BODY_HELLO);
        for (int again = 0; again < (stubborn ? 3 : 1); again++) {
            fake_reset();
            if (stubborn && again == 2)
                break; /* no third retry */
            fake_accept();
            Condd__V1__Request *h2 = fake_read();
            ck_assert_int_eq(h2->body_case, CONDD__V1__REQUEST__BODY_HELLO);
            ck_assert_uint_eq(h2->id, h1->id);
            condd__v1__request__free_unpacked(h2, NULL);
        }
        if (!stubborn)
            fake_hello_result(h1->id, false, false, 0);
        ck_assert(run_until(&r.done, 10));
        ck_assert_int_eq(r.calls, 1);
        if (stubborn)
            ck_assert_int_eq(r.rc, CONDD_ERR_DISCONNECTED);
        else
            ck_assert_int_eq(r.rc, CONDD_OK);
        condd__v1__request__free_unpacked(h1, NULL);
        condd_async_conn_close(c);
    }
}
END_TEST

static void count_ok(condd_async_conn *c, int rc, void *arg)
{
    if (rc == CONDD_OK)
        (*(int *)arg)++;
}

/* A burst of pipelined requests: each is copied until answered; once all are answered nothing
 * is kept, and the index that grew for the burst is freed. */
START_TEST(test_acks_copies_of_a_burst_are_dropped_and_freed_once_answered)
{
    enum { BURST = 5000 };
    condd_async_conn *c = fake_open(true);
    int ok = 0;
    for (int i = 0; i < BURST; i++)
        ck_assert_int_eq(condd_async_conn_ping(c, count_ok, &ok), CONDD_OK);
    ck_assert_uint_eq(c->acks.ilen - c->acks.ihead, BURST);
    uint64_t first = 0;
    for (int i = 0; i < BURST; i++) {
        Condd__V1__Request *q = fake_read();
        if (i == 0)
            first = q->id;
        ck_assert_uint_eq(q->id, first + (uint64_t)i); /* in order */
        fake_pong(q->id);
        condd__v1__request__free_unpacked(q, NULL);
    }
    ck_assert(run_until_count(&ok, BURST, 20));
    ck_assert_uint_eq(c->acks.rx, BURST);
    ck_assert_uint_eq(c->acks.ilen, 0);
    ck_assert_uint_eq(c->acks.icap, 0); /* grown past 4096 frames, freed */
    condd_async_conn_close(c);
}
END_TEST

static struct rec lost_disc;
static void on_lost_disconnect(condd_async_conn *c, int reason, void *arg)
{
    rec_set(c, &lost_disc, reason);
}

/* The scripted server answers the resume Hello with hello_result(id) after a loss; the client
 * had one ping pending (r1) and, with answered, one answered before it. Returns once the
 * client reported the loss of the session, checked to be reported once, as SESSION_LOST, to
 * the session callback, the disconnect callback and the pending ping. */
static void resume_then_lost(void (*answer)(uint64_t id, void *arg), void *arg, bool answered)
{
    memset(&lost_disc, 0, sizeof lost_disc);
    struct session_events e = {0};
    condd_async_conn *c = fake_open(true);
    condd_async_conn_set_disconnect_cb(c, on_lost_disconnect, NULL);
    condd_async_conn_set_session_cb(c, on_session_event, &e);
    if (answered) {
        struct rec r0 = {0};
        Condd__V1__Request *q0 = ping_read(c, &r0);
        fake_pong(q0->id);
        ck_assert(run_until(&r0.done, 10));
        condd__v1__request__free_unpacked(q0, NULL);
    }
    struct rec r1 = {0};
    Condd__V1__Request *q1 = ping_read(c, &r1);
    fake_reset();
    fake_accept();
    Condd__V1__Request *h = fake_read();
    ck_assert_int_eq(h->body_case, CONDD__V1__REQUEST__BODY_HELLO);
    ck_assert_uint_eq(h->hello->resume_session, 5);
    answer(h->id, arg);
    ck_assert(run_until(&lost_disc.done, 10));
    ck_assert_int_eq(lost_disc.rc, CONDD_ERR_SESSION_LOST);
    ck_assert_int_eq(lost_disc.calls, 1);
    ck_assert(r1.done);
    ck_assert_int_eq(r1.calls, 1);
    ck_assert_int_eq(r1.rc, CONDD_ERR_SESSION_LOST);
    ck_assert_int_eq(e.resuming, 1);
    ck_assert_int_eq(e.resumed, 0);
    ck_assert_int_eq(e.lost, 1);
    ck_assert_int_eq(e.last_reason, CONDD_ERR_SESSION_LOST);
    ck_assert(!condd_async_conn_is_connected(c));
    condd__v1__request__free_unpacked(q1, NULL);
    condd__v1__request__free_unpacked(h, NULL);
    condd_async_conn_close(c);
}

static void answer_resumed(uint64_t id, void *arg)
{
    const uint64_t *received_acks = arg; /* {requests_received, acks} */
    fake_hello_result(id, received_acks[1] != 0, true, received_acks[0]);
}

static void answer_refused(uint64_t id, void *arg)
{
    (void)arg;
    fake_resume_failed(id);
}

/* A resumed HelloResult whose requests_received cannot be right (more than were sent): the
 * session is given up (SESSION_LOST), every pending call completes once, nothing is re-sent.
 * The server did resume it on this connection: the library says Goodbye there before closing,
 * so that the server ends the session at once rather than keep it for its grace. */
START_TEST(test_acks_impossible_requests_received_loses_the_session)
{
    const uint64_t answer[2] = {7, 1};
    resume_then_lost(answer_resumed, (void *)answer, false);
    fake_expect_goodbye_then_eof();
}
END_TEST

/* The other impossible count: fewer requests read than the client knows were (the second
 * ping's answer arrived, so the server read at least 1). Goodbye, then SESSION_LOST. */
START_TEST(test_acks_requests_received_below_the_answered_says_goodbye)
{
    const uint64_t answer[2] = {0, 1};
    resume_then_lost(answer_resumed, (void *)answer, true);
    fake_expect_goodbye_then_eof();
}
END_TEST

/* The client asked for acks and has them; the server resumes the session without them (a live
 * restart into an older condd): what the old connection carried cannot be told, so libcondd
 * gives the session up, saying Goodbye on the connection that holds it. */
START_TEST(test_acks_resumed_without_acks_says_goodbye_and_loses_the_session)
{
    const uint64_t answer[2] = {1, 0};
    resume_then_lost(answer_resumed, (void *)answer, false);
    fake_expect_goodbye_then_eof();
}
END_TEST

/* A refused resume (RESUME_FAILED): no session is attached to the connection, so no Goodbye,
 * only the close. */
START_TEST(test_acks_refused_resume_closes_without_goodbye)
{
    resume_then_lost(answer_refused, NULL, false);
    fake_expect_eof();
}
END_TEST

/* ------------------------------------------------------------------ condd behind a proxy */

static struct tu_proxy P;
static char proxy_addr[64];

static void daemon_setup(void)
{
    setup_daemon_behind_proxy(&P, proxy_addr, sizeof proxy_addr);
}

static void daemon_teardown(void)
{
    teardown_daemon_behind_proxy(&P);
}

static void cmd(const char *c)
{
    ck_assert_msg(tu_proxy_cmd(&P, c, NULL, 0), "proxy command %s failed", c);
}

static condd_async_conn *open_acks(struct session_events *e)
{
    condd_options *o = condd_options_new();
    ck_assert_int_eq(condd_options_set_grace(o, 30), CONDD_OK);
    condd_async_conn *c = connect_ok(proxy_addr, o);
    condd_options_free(o);
    ck_assert_msg(c->acks.on, "the server did not turn acknowledged delivery on");
    condd_async_conn_set_session_cb(c, on_session_event, e);
    return c;
}

/* The lock's holder session and token as List shows them on a direct connection (0, 0 when
 * free). */
static uint64_t holder_of(const char *lock, uint64_t *token)
{
    uint64_t session = 0;
    *token = 0;
    condd_conn *bc = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &bc), CONDD_OK);
    condd_list *list = NULL;
    ck_assert_int_eq(condd_conn_list(bc, lock, 10, &list), CONDD_OK);
    for (size_t i = 0; i < condd_list_lock_count(list); i++) {
        const struct condd_lock_info *li = condd_list_lock(list, i);
        if (strcmp(li->name, lock) == 0 && li->held) {
            session = li->holder_session;
            *token = li->token;
        }
    }
    condd_list_free(list);
    condd_conn_close(bc);
    return session;
}

/* Every frame queued on c has been written to its socket (it sits in the proxy). */
static void run_until_written(condd_async_conn *c)
{
    double end = tu_now() + 10;
    while (c->wpos < c->wlen && tu_now() < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_base_loop(base, EVLOOP_NONBLOCK); /* a flush scheduled by the last request */
    ck_assert(c->wpos == c->wlen && !c->flush_scheduled);
}

/* A pending Acquire granted while the proxy holds everything back: the grant is written into
 * the proxy, which then resets both sides, losing it. After the resume the server sends it
 * again: the acquire completes once, OK, with the token the server gave. */
START_TEST(test_grant_written_into_a_stalled_proxy_arrives_after_the_reset)
{
    struct session_events e = {0};
    condd_async_conn *a = open_acks(&e);
    condd_async_conn *w = connect_daemon();
    acquire_ok(w, "acks/handed", 1);
    struct rec r = {0};
    ck_assert_int_eq(
        condd_async_lock_acquire(a, "acks/handed", 1, CONDD_FOREVER, on_token, &r, NULL), CONDD_OK);
    struct rec ping = {0}; /* the acquire is queued on the server */
    ck_assert_int_eq(condd_async_conn_ping(a, on_result, &ping), CONDD_OK);
    ck_assert(run_until(&ping.done, 10));
    cmd("stall");
    ck_assert_int_eq(release_sync(w, "acks/handed", 1), CONDD_OK); /* granted in that turn */
    uint64_t token = 0;
    ck_assert_uint_eq(holder_of("acks/handed", &token), condd_async_conn_session_id(a));
    ck_assert_uint_ne(token, 0);
    ck_assert(!r.done); /* the grant waits in the proxy */
    cmd("reset");
    cmd("flow"); /* the stall holds new connections too */
    ck_assert(run_until(&r.done, 20));
    ck_assert_int_eq(r.rc, CONDD_OK);
    ck_assert_uint_eq(r.u64, token);
    ck_assert_int_eq(e.resumed, 1);
    ck_assert_int_eq(e.lost, 0);
    /* A second answer would come before this ping's on the same connection. */
    struct rec pg = {0};
    ck_assert_int_eq(condd_async_conn_ping(a, on_result, &pg), CONDD_OK);
    ck_assert(run_until(&pg.done, 10));
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(release_sync(a, "acks/handed", 1), CONDD_OK);
    condd_async_conn_close(a);
    condd_async_conn_close(w);
}
END_TEST

/* The count of op/status in the server's Stats. */
static uint64_t op_count(const char *op, const char *status)
{
    condd_conn *bc = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &bc), CONDD_OK);
    condd_stats *st = NULL;
    ck_assert_int_eq(condd_conn_stats(bc, &st), CONDD_OK);
    uint64_t n = 0;
    for (size_t i = 0; i < st->n_ops; i++) {
        const struct condd_op_count *oc = condd_stats_op(st, i);
        if (strcmp(oc->op, op) == 0 && strcmp(oc->status, status) == 0)
            n = oc->count;
    }
    condd_stats_free(st);
    condd_conn_close(bc);
    return n;
}

/* Requests written while the proxy holds everything back never reach the server; after the
 * reset and the resume they are sent again and each is answered once, and the server saw each
 * once: the release freed the lock, the try-acquire took the other one, and Stats counts one
 * release and two acquires. */
START_TEST(test_requests_written_into_a_stalled_proxy_are_sent_again_once)
{
    struct session_events e = {0};
    condd_async_conn *a = open_acks(&e);
    condd_async_conn *w = connect_daemon();
    acquire_ok(a, "acks/rel", 1);
    cmd("stall");
    struct rec rel = {0}, try = {0}, pg = {0};
    ck_assert_int_eq(condd_async_lock_release(a, "acks/rel", 1, on_result, &rel), CONDD_OK);
    ck_assert_int_eq(condd_async_lock_acquire(a, "acks/try", 1, 0, on_token, &try, NULL), CONDD_OK);
    ck_assert_int_eq(condd_async_conn_ping(a, on_result, &pg), CONDD_OK);
    run_until_written(a);
    uint64_t token = 0;
    ck_assert_uint_eq(holder_of("acks/rel", &token), condd_async_conn_session_id(a));
    ck_assert_uint_eq(holder_of("acks/try", &token), 0);
    ck_assert(!rel.done && !try.done && !pg.done);
    cmd("reset");
    cmd("flow"); /* the stall holds new connections too */
    ck_assert(run_until(&pg.done, 20));
    ck_assert_int_eq(pg.rc, CONDD_OK);
    ck_assert(rel.done && try.done);
    ck_assert_int_eq(rel.rc, CONDD_OK);
    ck_assert_int_eq(try.rc, CONDD_OK);
    ck_assert_int_eq(rel.calls + try.calls + pg.calls, 3);
    ck_assert_int_eq(e.resumed, 1);
    ck_assert_uint_eq(holder_of("acks/rel", &token), 0);
    ck_assert_uint_eq(holder_of("acks/try", &token), condd_async_conn_session_id(a));
    ck_assert_uint_eq(token, try.u64);
    ck_assert_uint_eq(op_count("release", "ok"), 1);
    ck_assert_uint_eq(op_count("acquire", "ok"), 2);
    ck_assert_int_eq(release_sync(a, "acks/try", 1), CONDD_OK);
    condd_async_conn_close(a);
    condd_async_conn_close(w);
}
END_TEST

/* The blocking API across a blip: a blocking acquire waits; another thread sees it queued,
 * stalls the proxy, releases the lock (the grant goes into the proxy) and resets. The blocking
 * call returns OK, once, with the token the server gave. */
struct blip_thread {
    condd_conn *w;    /* holds the lock; the thread releases it and closes w */
    uint64_t session; /* the blocking client's session */
    uint64_t token;   /* the token List showed for it */
    bool ok;
};

static void *blip_run(void *arg)
{
    struct blip_thread *t = arg;
    double end = tu_now() + 20;
    bool queued = false;
    while (!queued && tu_now() < end) { /* state-based: List until the acquire waits */
        condd_list *l = NULL;
        if (condd_conn_list(t->w, "acks/blk", 10, &l) != CONDD_OK)
            break;
        for (size_t i = 0; i < condd_list_lock_count(l); i++)
            queued = queued || condd_list_lock(l, i)->waiters == 1;
        condd_list_free(l);
    }
    if (queued && tu_proxy_cmd(&P, "stall", NULL, 0) &&
        condd_lock_release(t->w, "acks/blk", 1) == CONDD_OK) {
        condd_list *l = NULL;
        if (condd_conn_list(t->w, "acks/blk", 10, &l) == CONDD_OK) {
            for (size_t i = 0; i < condd_list_lock_count(l); i++) {
                const struct condd_lock_info *li = condd_list_lock(l, i);
                if (li->held && li->holder_session == t->session) {
                    t->token = li->token;
                    t->ok = true;
                }
            }
            condd_list_free(l);
        }
    }
    tu_proxy_cmd(&P, "reset", NULL, 0); /* also on failure, so the blocking call returns */
    tu_proxy_cmd(&P, "flow", NULL, 0);
    condd_conn_close(t->w);
    return NULL;
}

static struct session_events blocking_events;
static void on_blocking_session(condd_conn *conn, int event, int reason, void *arg)
{
    struct session_events *e = arg;
    if (event == CONDD_SESSION_RESUMING)
        e->resuming++;
    else if (event == CONDD_SESSION_RESUMED)
        e->resumed++;
    else
        e->lost++;
}

START_TEST(test_blocking_acquire_granted_during_a_blip_returns_the_token)
{
    memset(&blocking_events, 0, sizeof blocking_events);
    struct blip_thread t = {0};
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &t.w), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(t.w, "acks/blk", 1, CONDD_FOREVER, NULL), CONDD_OK);
    condd_options *o = condd_options_new();
    ck_assert_int_eq(condd_options_set_grace(o, 30), CONDD_OK);
    condd_conn *b = NULL;
    ck_assert_int_eq(condd_conn_open(proxy_addr, o, &b), CONDD_OK);
    condd_options_free(o);
    condd_conn_set_session_cb(b, on_blocking_session, &blocking_events);
    t.session = condd_conn_session_id(b);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, blip_run, &t), 0);
    uint64_t token = 0;
    int rc = condd_lock_acquire(b, "acks/blk", 1, CONDD_FOREVER, &token);
    pthread_join(th, NULL);
    ck_assert_int_eq(rc, CONDD_OK);
    ck_assert(t.ok);
    ck_assert_uint_eq(token, t.token);
    ck_assert_int_eq(blocking_events.resumed, 1);
    ck_assert_int_eq(blocking_events.lost, 0);
    ck_assert_int_eq(condd_conn_ping(b, NULL), CONDD_OK);
    ck_assert_int_eq(condd_lock_release(b, "acks/blk", 1), CONDD_OK);
    condd_conn_close(b);
}
END_TEST

/* A resume the server must refuse: while the proxy holds everything back, more answers than
 * --max-buffered-answers (2) are written for the session, so the server drops the copy of one
 * the client never received. The session is lost: every pending call completes once with
 * CONDD_ERR_SESSION_LOST, the session callback says LOST. */
START_TEST(test_resume_refused_after_the_server_dropped_a_copy_loses_the_session)
{
    const char *const extra[] = {"--max-buffered-answers", "2", NULL};
    restart_daemon_behind_proxy(&P, proxy_addr, sizeof proxy_addr, extra);

    struct session_events e = {0};
    memset(&lost_disc, 0, sizeof lost_disc);
    condd_async_conn *a = open_acks(&e);
    condd_async_conn_set_disconnect_cb(a, on_lost_disconnect, NULL);
    condd_async_conn *w = connect_daemon();
    const char *locks[] = {"acks/c0", "acks/c1", "acks/c2", "acks/c3"};
    struct rec r[4] = {{0}};
    for (int i = 0; i < 4; i++) {
        acquire_ok(w, locks[i], 1);
        ck_assert_int_eq(
            condd_async_lock_acquire(a, locks[i], 1, CONDD_FOREVER, on_token, &r[i], NULL),
            CONDD_OK);
    }
    struct rec ping = {0}; /* the acquires are queued on the server */
    ck_assert_int_eq(condd_async_conn_ping(a, on_result, &ping), CONDD_OK);
    ck_assert(run_until(&ping.done, 10));
    cmd("stall");
    for (int i = 0; i < 3; i++) /* three grants into the proxy; c3 stays pending */
        ck_assert_int_eq(release_sync(w, locks[i], 1), CONDD_OK);
    cmd("reset");
    cmd("flow"); /* the stall holds new connections too */
    ck_assert(run_until(&lost_disc.done, 20));
    ck_assert_int_eq(lost_disc.rc, CONDD_ERR_SESSION_LOST);
    for (int i = 0; i < 4; i++) {
        ck_assert(r[i].done);
        ck_assert_int_eq(r[i].calls, 1);
        ck_assert_int_eq(r[i].rc, CONDD_ERR_SESSION_LOST);
    }
    ck_assert_int_eq(e.lost, 1);
    ck_assert_int_eq(e.resumed, 0);
    ck_assert(!condd_async_conn_is_connected(a));
    /* The session ended on the server: its locks were handed on (here: freed). */
    uint64_t token = 0;
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(holder_of(locks[i], &token), 0);
    condd_async_conn_close(a);
    condd_async_conn_close(w);
}
END_TEST

/* condd resumes the session, but the client's count of requests sent disagrees with the
 * server's (made so here by setting the library's count to 0 while it waits to resume, as a
 * client with a wrong count would be): the library gives the session up, SESSION_LOST once,
 * and says Goodbye on the connection the server resumed it on. The server ends the session at
 * once: the lock it held goes to the waiting client long before the 120 s grace would have
 * run out (without the Goodbye the waiter waits for the grace and the test fails at 30 s). */
START_TEST(test_refused_resumed_session_hands_its_lock_on_at_once)
{
    struct session_events e = {0};
    memset(&lost_disc, 0, sizeof lost_disc);
    condd_options *o = condd_options_new();
    ck_assert_int_eq(condd_options_set_grace(o, 120), CONDD_OK);
    condd_async_conn *a = connect_ok(proxy_addr, o);
    condd_options_free(o);
    ck_assert(a->acks.on);
    condd_async_conn_set_session_cb(a, on_session_event, &e);
    condd_async_conn_set_disconnect_cb(a, on_lost_disconnect, NULL);
    uint64_t token = acquire_ok(a, "acks/bye", 1);
    condd_async_conn *w = connect_daemon();
    struct rec wr = {0}, lk = {0};
    ck_assert_int_eq(condd_async_lock_acquire(w, "acks/bye", 1, CONDD_FOREVER, on_token, &wr, NULL),
                     CONDD_OK);
    ck_assert_int_eq(condd_async_lock_locked(w, "acks/bye", on_locked, &lk), CONDD_OK);
    ck_assert(run_until(&lk.done, 10)); /* the waiter is queued on the server */
    ck_assert(lk.flag);
    cmd("refuse"); /* the resume waits until the count is changed */
    cmd("reset");
    double end = tu_now() + 10;
    while (!a->resuming && tu_now() < end)
        event_base_loop(base, EVLOOP_ONCE);
    ck_assert(a->resuming);
    ck_assert_uint_ge(a->acks.sent, 1); /* the Acquire at least: the server read it */
    a->acks.sent = 0;
    cmd("accept");
    ck_assert(run_until(&lost_disc.done, 20));
    ck_assert_int_eq(lost_disc.rc, CONDD_ERR_SESSION_LOST);
    ck_assert_int_eq(lost_disc.calls, 1);
    ck_assert_int_eq(e.lost, 1);
    ck_assert_int_eq(e.resumed, 0);
    ck_assert(run_until(&wr.done, 30));
    ck_assert_int_eq(wr.rc, CONDD_OK);
    ck_assert_uint_gt(wr.u64, token);
    uint64_t t = 0;
    ck_assert_uint_eq(holder_of("acks/bye", &t), condd_async_conn_session_id(w));
    ck_assert_uint_eq(t, wr.u64);
    ck_assert_int_eq(release_sync(w, "acks/bye", 1), CONDD_OK);
    condd_async_conn_close(a);
    condd_async_conn_close(w);
}
END_TEST

/* A server list (each member its own session): two condd, each behind its own proxy, and a
 * client on the list of the proxies (the daemons run without --cluster, so they take any name;
 * the client routes by its list). Member 0's connection loses a grant to a stall and a reset;
 * member 0 resumes and the acquire completes once with the server's token, while member 1's
 * session is untouched. */
START_TEST(test_server_list_member_resumes_with_the_grant_lost_in_flight)
{
    struct tu_daemon d1;
    struct tu_proxy p1;
    ck_assert(tu_daemon_start(&d1, false, NULL));
    ck_assert(tu_proxy_start(&p1, d1.port));
    struct tu_cluster cl = {.n = 2};
    snprintf(cl.list, sizeof cl.list, "127.0.0.1:%d,127.0.0.1:%d", P.port, p1.port);
    char n0[64], n1[64];
    ck_assert(tu_cluster_name(&cl, 0, true, "acks/m0", n0, sizeof n0));
    ck_assert(tu_cluster_name(&cl, 1, true, "acks/m1", n1, sizeof n1));

    condd_options *o = condd_options_new();
    ck_assert_int_eq(condd_options_set_grace(o, 30), CONDD_OK);
    struct rec opened = {0};
    condd_async_conn *a = NULL; /* a front: members connect on their first request */
    ck_assert_int_eq(condd_async_conn_open(base, cl.list, o, on_connect, &opened, &a), CONDD_OK);
    condd_options_free(o);
    ck_assert(run_until(&opened.done, 10));
    ck_assert_int_eq(opened.rc, CONDD_OK);
    condd_async_conn *w = connect_daemon(); /* daemon_ is member 0's server */
    acquire_ok(w, n0, 1);
    uint64_t t1 = acquire_ok(a, n1, 1); /* member 1 opened, holding n1 */
    struct rec r = {0}, lk = {0};
    ck_assert_int_eq(condd_async_lock_acquire(a, n0, 1, CONDD_FOREVER, on_token, &r, NULL),
                     CONDD_OK);
    ck_assert_int_eq(condd_async_lock_locked(a, n0, on_locked, &lk), CONDD_OK);
    ck_assert(run_until(&lk.done, 10)); /* the acquire is queued on member 0's server */
    ck_assert(lk.flag);
    cmd("stall");
    ck_assert_int_eq(release_sync(w, n0, 1), CONDD_OK); /* granted into the proxy */
    uint64_t token = 0;
    ck_assert_uint_ne(holder_of(n0, &token), 0);
    ck_assert(!r.done);
    cmd("reset");
    cmd("flow");
    ck_assert(run_until(&r.done, 20));
    ck_assert_int_eq(r.rc, CONDD_OK);
    ck_assert_uint_eq(r.u64, token);
    ck_assert_int_eq(r.calls, 1);
    /* Member 1 kept its session: it still holds n1 with the same token, and releases it. */
    condd_conn *b1 = NULL;
    ck_assert_int_eq(condd_conn_open(d1.addr, NULL, &b1), CONDD_OK);
    condd_list *l = NULL;
    ck_assert_int_eq(condd_conn_list(b1, n1, 10, &l), CONDD_OK);
    ck_assert_uint_eq(condd_list_lock_count(l), 1);
    ck_assert(condd_list_lock(l, 0)->held);
    ck_assert_uint_eq(condd_list_lock(l, 0)->token, t1);
    condd_list_free(l);
    condd_conn_close(b1);
    ck_assert_int_eq(release_sync(a, n0, 1), CONDD_OK);
    ck_assert_int_eq(release_sync(a, n1, 1), CONDD_OK);
    condd_async_conn_close(a);
    condd_async_conn_close(w);
    tu_proxy_stop(&p1);
    tu_daemon_stop(&d1);
}
END_TEST

static Suite *client_acks_suite(void)
{
    Suite *s = suite_create("client_acks");
    TCase *wire = tcase_create("wire");
    tcase_add_checked_fixture(wire, fake_setup, fake_teardown);
    tcase_set_timeout(wire, 60);
    tcase_add_test(wire, test_old_server_without_acks_resumes_as_before);
    tcase_add_test(wire, test_acks_resume_hello_alone_then_the_requests_the_server_did_not_read);
    tcase_add_test(wire, test_acks_impossible_requests_received_loses_the_session);
    tcase_add_test(wire, test_acks_copies_of_a_burst_are_dropped_and_freed_once_answered);
    tcase_add_test(wire, test_acks_ride_on_every_sixteenth_request_and_on_pings);
    tcase_add_test(wire, test_open_asks_again_when_the_server_closes_before_answering_hello);
    tcase_add_test(wire, test_acks_requests_received_below_the_answered_says_goodbye);
    tcase_add_test(wire, test_acks_resumed_without_acks_says_goodbye_and_loses_the_session);
    tcase_add_test(wire, test_acks_refused_resume_closes_without_goodbye);
    suite_add_tcase(s, wire);
    TCase *d = tcase_create("daemon");
    tcase_add_checked_fixture(d, daemon_setup, daemon_teardown);
    tcase_set_timeout(d, 60);
    tcase_add_test(d, test_grant_written_into_a_stalled_proxy_arrives_after_the_reset);
    tcase_add_test(d, test_requests_written_into_a_stalled_proxy_are_sent_again_once);
    tcase_add_test(d, test_blocking_acquire_granted_during_a_blip_returns_the_token);
    tcase_add_test(d, test_resume_refused_after_the_server_dropped_a_copy_loses_the_session);
    tcase_add_test(d, test_server_list_member_resumes_with_the_grant_lost_in_flight);
    tcase_add_test(d, test_refused_resumed_session_hands_its_lock_on_at_once);
    suite_add_tcase(s, d);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_acks_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
