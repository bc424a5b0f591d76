/* SPDX-License-Identifier: BSD-2-Clause
 *
 * How libcondd reads and writes TLS on its own socket (client/conn.c, client/tls.c), against a
 * scripted TLS server in a thread that decides how its answers are cut into records and how
 * those reach the socket: many records arriving in one segment (all but the first left in
 * OpenSSL's read-ahead, which the socket's readiness does not show), an answer much larger than
 * a record and than the input buffer, a server that closes in the middle of a record, and a
 * write into a connection the server reset (no SIGPIPE, whatever the application's disposition
 * would make of one), and KeyUpdates from the server. The records are made by SSL_write() into a
 * memory BIO after the handshake; the script then sends their bytes as it likes.
 */
#include "config.h"

#include <check.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condd/condd.h>

#include "condd.pb-c.h"
#include "frame.h"
#include "wireclient.h"
#include "testutil.h"
#include "tls_util.h"

/* ------------------------------------------------------------------ the scripted server */

#define LIST_LOCKS 3000

enum script {
    SCRIPT_RECORDS, /* HelloResult in 1-byte records, one send(); a large List answer; Pings */
    SCRIPT_CUT,     /* HelloResult; the answer to a Ping cut in the middle of its record */
    SCRIPT_RESET,   /* HelloResult; then a reset (SO_LINGER 0) */
    SCRIPT_UPDATE,  /* HelloResult; each Pong behind a KeyUpdate that asks for the client's */
};

struct srv {
    enum script script;
    int lfd, port;
    SSL_CTX *ctx;
    int to_main[2];  /* one byte per step done */
    bool bad;        /* something the script did not expect */
    int key_updates; /* KeyUpdate messages read from the client */
};

static void srv_step(int fd)
{
    char b = 1;
    if (write(fd, &b, 1) != 1)
        abort();
}

static void srv_wait(int fd)
{
    char b;
    ck_assert_int_eq(read(fd, &b, 1), 1);
}

/* The next whole request, read through ssl (blocking), or NULL at a close. */
static Condd__V1__Request *srv_recv(SSL *ssl, uint8_t *buf, size_t *len, size_t cap)
{
    for (;;) {
        Condd__V1__Request *req = NULL;
        int took = wc_take_request(buf, len, &req);
        if (took != 0)
            return req; /* NULL for a frame that does not decode */
        int n = SSL_read(ssl, buf + *len, (int)(cap - *len));
        if (n <= 0)
            return NULL;
        *len += (size_t)n;
    }
}

/* All of buf to fd (blocking). */
static bool send_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* resp encoded and cut into records of at most piece bytes of plaintext (SSL_write into the
 * memory BIO mem, which is ssl's write BIO); then the first keep/den of the records' bytes
 * (keep == den: all of them) sent to fd in one send() where the socket takes it. */
static bool srv_answer(SSL *ssl, BIO *mem, int fd, Condd__V1__Response *resp, size_t piece,
                       int keep, int den)
{
    size_t n = frame_encoded_size(&resp->base);
    uint8_t *b = malloc(n);
    if (b == NULL)
        return false;
    frame_encode(&resp->base, b);
    bool ok = true;
    for (size_t off = 0; ok && off < n; off += piece)
        ok = SSL_write(ssl, b + off, (int)(n - off < piece ? n - off : piece)) > 0;
    free(b);
    char *data;
    long len = BIO_get_mem_data(mem, &data);
    if (!ok || len <= 0)
        return false;
    size_t part = (size_t)len * (size_t)keep / (size_t)den;
    ok = send_all(fd, (const uint8_t *)data, part);
    (void)BIO_reset(mem);
    return ok;
}

static bool srv_hello_result(SSL *ssl, BIO *mem, int fd, uint64_t id, size_t piece)
{
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__HelloResult hr = CONDD__V1__HELLO_RESULT__INIT;
    hr.server_version = "scripted";
    hr.protocol_version = 1;
    hr.session_id = 3;
    hr.session_timeout_s = 60;
    hr.max_frame_bytes = 65536;
    resp.id = id;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_HELLO;
    resp.hello = &hr;
    return srv_answer(ssl, mem, fd, &resp, piece, 1, 1);
}

static bool srv_pong(SSL *ssl, BIO *mem, int fd, uint64_t id, size_t piece, int keep, int den)
{
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__PingResult pr = CONDD__V1__PING_RESULT__INIT;
    resp.id = id;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_PING;
    resp.ping = &pr;
    return srv_answer(ssl, mem, fd, &resp, piece, keep, den);
}

/* A List answer of LIST_LOCKS locks named list/NNNN-<padding> (about 190 KB). */
static bool srv_list(SSL *ssl, BIO *mem, int fd, uint64_t id)
{
    Condd__V1__LockInfo *infos = calloc(LIST_LOCKS, sizeof *infos);
    Condd__V1__LockInfo **ptrs = calloc(LIST_LOCKS, sizeof *ptrs);
    char(*names)[64] = calloc(LIST_LOCKS, sizeof *names);
    bool ok = infos != NULL && ptrs != NULL && names != NULL;
    for (size_t i = 0; ok && i < LIST_LOCKS; i++) {
        condd__v1__lock_info__init(&infos[i]);
        snprintf(names[i], sizeof names[i], "list/%04zu-%050zu", i, i);
        infos[i].name.data = (uint8_t *)names[i];
        infos[i].name.len = strlen(names[i]);
        ptrs[i] = &infos[i];
    }
    if (ok) {
        Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
        Condd__V1__ListResult lr = CONDD__V1__LIST_RESULT__INIT;
        lr.n_locks = LIST_LOCKS;
        lr.locks = ptrs;
        resp.id = id;
        resp.result_case = CONDD__V1__RESPONSE__RESULT_LIST;
        resp.list = &lr;
        ok = srv_answer(ssl, mem, fd, &resp, 16384, 1, 1);
    }
    free(infos);
    free(ptrs);
    free(names);
    return ok;
}

/* Serves one connection by its script. */
static void srv_serve(struct srv *s, SSL *ssl, BIO *mem, int fd)
{
    uint8_t buf[4096];
    size_t len = 0;
    Condd__V1__Request *req = srv_recv(ssl, buf, &len, sizeof buf);
    if (req == NULL || req->body_case != CONDD__V1__REQUEST__BODY_HELLO) {
        s->bad = true;
        goto out;
    }
    /* Every byte its own record, all in one send(): the library's first read takes them all
     * from the socket, and the rest only OpenSSL's buffer holds. */
    if (!srv_hello_result(ssl, mem, fd, req->id, s->script == SCRIPT_RECORDS ? 1 : 16384)) {
        s->bad = true;
        goto out;
    }
    if (s->script == SCRIPT_RESET) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        goto out;
    }
    for (;;) {
        condd__v1__request__free_unpacked(req, NULL);
        req = srv_recv(ssl, buf, &len, sizeof buf);
        if (req == NULL)
            break;
        bool ok;
        if (req->body_case == CONDD__V1__REQUEST__BODY_LIST && s->script == SCRIPT_RECORDS) {
            ok = srv_list(ssl, mem, fd, req->id);
        } else if (req->body_case == CONDD__V1__REQUEST__BODY_PING) {
            if (s->script == SCRIPT_CUT) {
                /* Half of the record, then the close: the library has a record it cannot
                 * finish. */
                if (!srv_pong(ssl, mem, fd, req->id, 16384, 1, 2))
                    s->bad = true;
                break;
            }
            if (s->script == SCRIPT_UPDATE) {
                /* Sent in front of the Pong's record, in the same send(). */
                ok = SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1 &&
                     srv_pong(ssl, mem, fd, req->id, 16384, 1, 1);
            } else {
                ok = srv_pong(ssl, mem, fd, req->id, 3, 1, 1);
            }
        } else if (req->body_case == CONDD__V1__REQUEST__BODY_GOODBYE) {
            break;
        } else {
            ok = false;
        }
        if (!ok) {
            s->bad = true;
            break;
        }
    }
out:
    if (req != NULL)
        condd__v1__request__free_unpacked(req, NULL);
}

/* Counts the KeyUpdate messages the server reads (arg: its struct srv). */
static void srv_count_key_updates(int write_p, int version, int content_type, const void *buf,
                                  size_t len, SSL *ssl, void *arg)
{
    (void)version;
    (void)ssl;
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const unsigned char *)buf)[0] == SSL3_MT_KEY_UPDATE)
        ((struct srv *)arg)->key_updates++;
}

static void *srv_run(void *arg)
{
    struct srv *s = arg;
    int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
    SSL *ssl = fd >= 0 ? SSL_new(s->ctx) : NULL;
    BIO *mem = BIO_new(BIO_s_mem());
    if (ssl == NULL || mem == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1) {
        s->bad = true;
        BIO_free(mem);
    } else {
        /* From here records go to mem; the script sends their bytes itself. */
        SSL_set0_wbio(ssl, mem);
        SSL_set_msg_callback(ssl, srv_count_key_updates);
        SSL_set_msg_callback_arg(ssl, s);
        srv_serve(s, ssl, mem, fd);
    }
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    srv_step(s->to_main[1]);
    return NULL;
}

static void srv_start(struct srv *s, enum script script, pthread_t *t)
{
    memset(s, 0, sizeof *s);
    s->script = script;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(s->lfd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sin;
    ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(listen(s->lfd, 8), 0);
    ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&sin, &sl), 0);
    s->port = ntohs(sin.sin_port);
    s->ctx = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(s->ctx);
    ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(s->ctx, tlsu_cert("server.pem")), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(s->ctx, tlsu_cert("server.key"), SSL_FILETYPE_PEM),
                     1);
    /* No session tickets: after the handshake only the script's records reach the client. */
    SSL_CTX_set_num_tickets(s->ctx, 0);
    ck_assert_int_eq(pipe(s->to_main), 0);
    ck_assert_int_eq(pthread_create(t, NULL, srv_run, s), 0);
}

/* Waits for the script's end and frees the server. */
static void srv_stop(struct srv *s, pthread_t t)
{
    srv_wait(s->to_main[0]);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_msg(!s->bad, "the scripted server met something unexpected");
    SSL_CTX_free(s->ctx);
    close(s->lfd);
    close(s->to_main[0]);
    close(s->to_main[1]);
}

static condd_conn *open_scripted(const struct srv *s, char *msg, size_t msglen)
{
    char addr[64];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", s->port);
    condd_options *o = tlsu_options("ca.pem", NULL, NULL);
    /* Long enough never to be what ends a test: a missed read shows as a timeout message. */
    ck_assert_int_eq(condd_options_set_connect_timeout(o, 60), CONDD_OK);
    condd_conn *c = NULL;
    int rc = tlsu_open_with(addr, o, &c, msg, msglen);
    ck_assert_msg(rc == CONDD_OK, "open: %s (%s)", condd_strerror(rc), msg);
    return c;
}

/* ------------------------------------------------------------------ tests */

/* The HelloResult comes as one record per byte in a single segment: the library reads the
 * socket once and must take every record left in OpenSSL's read-ahead without another readable
 * event (otherwise the open waits for the 60 s connect timeout). Then a List answer of ~190 KB
 * (a dozen records, more than the input buffer) and Pings answered in 3-byte records. */
START_TEST(test_tls_reads_every_record_read_ahead_and_answers_larger_than_a_record)
{
    struct srv s;
    pthread_t t;
    srv_start(&s, SCRIPT_RECORDS, &t);
    char msg[256];
    condd_conn *c = open_scripted(&s, msg, sizeof msg);
    ck_assert_str_eq(condd_conn_server_version(c), "scripted");
    condd_list *l = NULL;
    ck_assert_int_eq(condd_conn_list(c, "list/", 0, &l), CONDD_OK);
    ck_assert_uint_eq(condd_list_lock_count(l), LIST_LOCKS);
    char want[64];
    for (size_t i = 0; i < LIST_LOCKS; i += 997) {
        snprintf(want, sizeof want, "list/%04zu-%050zu", i, i);
        ck_assert_str_eq(condd_list_lock(l, i)->name, want);
    }
    snprintf(want, sizeof want, "list/%04d-%050d", LIST_LOCKS - 1, LIST_LOCKS - 1);
    ck_assert_str_eq(condd_list_lock(l, LIST_LOCKS - 1)->name, want);
    condd_list_free(l);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(condd_conn_ping(c, NULL), CONDD_OK);
    condd_conn_close(c);
    srv_stop(&s, t);
}
END_TEST

/* The server sends half of a record and closes: the pending call fails with the connection
 * (no resume without a grace), the message says the server closed, and nothing else breaks. */
START_TEST(test_tls_server_closing_in_the_middle_of_a_record_fails_the_call)
{
    struct srv s;
    pthread_t t;
    srv_start(&s, SCRIPT_CUT, &t);
    char msg[256];
    condd_conn *c = open_scripted(&s, msg, sizeof msg);
    ck_assert_int_eq(condd_conn_ping(c, NULL), CONDD_ERR_DISCONNECTED);
    ck_assert_msg(strstr(condd_conn_message(c), "closed") != NULL, "message: %s",
                  condd_conn_message(c));
    ck_assert_int_eq(condd_conn_ping(c, NULL), CONDD_ERR_DISCONNECTED);
    condd_conn_close(c);
    srv_stop(&s, t);
}
END_TEST

/* Is the library's socket (the one connected to port) reset by its peer? Reading SO_ERROR
 * takes the pending ECONNRESET, so that the next send() on it fails with EPIPE: the error that
 * raises SIGPIPE unless the send says MSG_NOSIGNAL. */
struct reset_probe {
    int port;
};

static bool client_socket_reset(void *arg)
{
    const struct reset_probe *p = arg;
    for (int fd = 3; fd < 1024; fd++) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        struct tcp_info ti;
        socklen_t tl = sizeof ti;
        int type = 0;
        socklen_t tyl = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tyl) != 0 || type != SOCK_STREAM)
            continue;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) != 0 || ti.tcpi_state != TCP_CLOSE)
            continue;
        /* A closed socket has no peer name any more; the library's is the only closed TCP
         * socket of this process while the test runs. */
        if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0)
            continue;
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        return true;
    }
    (void)p;
    return false;
}

/* The server resets the connection; the library's next write meets EPIPE. With SIGPIPE at its
 * default disposition (set here), a write without MSG_NOSIGNAL would kill the process; the
 * call must fail with the connection instead. */
START_TEST(test_tls_write_to_a_reset_connection_raises_no_sigpipe)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
    sigemptyset(&dfl.sa_mask);
    ck_assert_int_eq(sigaction(SIGPIPE, &dfl, &old), 0);
    struct srv s;
    pthread_t t;
    srv_start(&s, SCRIPT_RESET, &t);
    char msg[256];
    condd_conn *c = open_scripted(&s, msg, sizeof msg);
    srv_wait(s.to_main[0]); /* the reset is sent */
    struct reset_probe p = {.port = s.port};
    ck_assert(tu_wait_until(client_socket_reset, &p, 30));
    ck_assert_int_eq(condd_conn_ping(c, NULL), CONDD_ERR_DISCONNECTED);
    /* The write met the reset (not a read first, which would prove nothing here). */
    ck_assert_msg(strstr(condd_conn_message(c), "send to the server failed") != NULL, "message: %s",
                  condd_conn_message(c));
    condd_conn_close(c);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert(!s.bad);
    SSL_CTX_free(s.ctx);
    close(s.lfd);
    close(s.to_main[0]);
    close(s.to_main[1]);
    ck_assert_int_eq(sigaction(SIGPIPE, &old, NULL), 0);
}
END_TEST

/* TLS 1.3 KeyUpdate from the server (RFC 8446 §4.6.3), asking for the client's, in front of
 * every answer: the library reads on under the server's new keys, and answers each with a
 * KeyUpdate of its own before its next request (the server counts them; the last goes out
 * with the Goodbye of the close). */
START_TEST(test_tls_key_updates_from_the_server_are_answered)
{
    struct srv s;
    pthread_t t;
    srv_start(&s, SCRIPT_UPDATE, &t);
    char msg[256];
    condd_conn *c = open_scripted(&s, msg, sizeof msg);
    for (int i = 0; i < 12; i++)
        ck_assert_int_eq(condd_conn_ping(c, NULL), CONDD_OK);
    condd_conn_close(c);
    srv_stop(&s, t);
    ck_assert_int_eq(s.key_updates, 12);
}
END_TEST

static Suite *tls_records_suite(void)
{
    Suite *s = suite_create("tls_records");
    TCase *tc = tcase_create("tls_records");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, tlsu_make_certs, tlsu_remove_certs);
    tcase_add_test(tc, test_tls_reads_every_record_read_ahead_and_answers_larger_than_a_record);
    tcase_add_test(tc, test_tls_server_closing_in_the_middle_of_a_record_fails_the_call);
    tcase_add_test(tc, test_tls_write_to_a_reset_connection_raises_no_sigpipe);
    tcase_add_test(tc, test_tls_key_updates_from_the_server_are_answered);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tls_records_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
