/* SPDX-License-Identifier: BSD-2-Clause
 *
 * TLS end to end: condd's --listen-tls listeners against libcondd's tls: addresses, with
 * certificates made by tests/tls-certs.sh (fixtures in tls_util.c). Accepted handshakes (by IP
 * and by name, with and without client certificates), refused ones (unknown CA, expired, wrong
 * server name, no client certificate or one from another CA), plaintext to a TLS port and TLS
 * to a plaintext port (closed at once, the daemon unharmed), KeyUpdate in the middle of a session,
 * TLS 1.2 served and older versions and renegotiation refused, the handshake deadline and its place
 * under --max-connections, --max-handshakes against a flood of silent connects, refusals logged
 * at most once a second, client-certificate subjects as auth-file principals, and the daemon
 * refusing to start with bad TLS files (missing, unreadable, an encrypted key: named with the
 * reason, never a passphrase prompt) and warning about an expired certificate or unused ones.
 * Sessions resumed over TLS are in check_tls_resume.c; reloading certificates is in condctl-tls.sh.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condd/condd.h>

#include "testutil.h"
#include "tls_util.h"

/* ------------------------------------------------------------------ fixtures */

/* The daemon still serves: a plaintext connection takes and releases a lock. */
static void assert_daemon_serves(const struct tu_daemon *d)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(d->addr, NULL, &c), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "alive", 0, 5, NULL), CONDD_OK);
    ck_assert_int_eq(condd_lock_release(c, "alive", 0), CONDD_OK);
    condd_conn_close(c);
}

/* ------------------------------------------------------------------ accepted */

START_TEST(test_tls_client_takes_a_lock_by_ip_and_by_name)
{
    struct tu_daemon d;
    int port;
    tlsu_start_daemon(&d, &port, "server", NULL);
    const char *hosts[] = {"127.0.0.1", "localhost"};
    for (int i = 0; i < 2; i++) {
        char addr[64], msg[256];
        tlsu_addr(addr, sizeof addr, hosts[i], port);
        condd_conn *c;
        ck_assert_int_eq(
            tlsu_open_with(addr, tlsu_options("ca.pem", NULL, NULL), &c, msg, sizeof msg),
            CONDD_OK);
        uint64_t token = 0;
        ck_assert_int_eq(condd_lock_acquire(c, "tls/lock", 0, 5, &token), CONDD_OK);
        ck_assert_uint_gt(token, 0);
        /* The same lock through the plaintext port: the same server state behind both. */
        condd_conn *p = NULL;
        ck_assert_int_eq(condd_conn_open(d.addr, NULL, &p), CONDD_OK);
        ck_assert_int_eq(condd_lock_acquire(p, "tls/lock", 0, 0, NULL), CONDD_ERR_TIMEOUT);
        ck_assert_int_eq(condd_lock_release(c, "tls/lock", 0), CONDD_OK);
        ck_assert_int_eq(condd_lock_acquire(p, "tls/lock", 0, 5, NULL), CONDD_OK);
        condd_conn_close(p);
        condd_conn_close(c);
    }
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* Many pipelined requests in one go: output larger than one TLS record and than one read. */
START_TEST(test_tls_carries_large_answers)
{
    struct tu_daemon d;
    int port;
    tlsu_start_daemon(&d, &port, "server", NULL);
    char addr[64], msg[256];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", port);
    condd_conn *c;
    ck_assert_int_eq(tlsu_open_with(addr, tlsu_options("ca.pem", NULL, NULL), &c, msg, sizeof msg),
                     CONDD_OK);
    char name[64];
    for (int i = 0; i < 600; i++) {
        snprintf(name, sizeof name, "many/%04d-%040d", i, i);
        ck_assert_int_eq(condd_lock_acquire(c, name, 0, 5, NULL), CONDD_OK);
    }
    condd_list *l = NULL;
    ck_assert_int_eq(condd_conn_list(c, "many/", 0, &l), CONDD_OK);
    ck_assert_uint_eq(condd_list_lock_count(l), 600);
    condd_list_free(l);
    condd_conn_close(c);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* KeyUpdate messages received, counted by OpenSSL's message callback (arg: an int). */
static void count_key_updates(int write_p, int version, int content_type, const void *buf,
                              size_t len, SSL *ssl, void *arg)
{
    (void)version;
    (void)ssl;
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const unsigned char *)buf)[0] == SSL3_MT_KEY_UPDATE)
        ++*(int *)arg;
}

/* One request on the raw client, and its answer's status (the answer must be the request's). */
static int raw_call(struct tlsu_raw *r, Condd__V1__Request *req)
{
    tlsu_raw_send(r, req);
    Condd__V1__Response *resp = tlsu_raw_recv(r);
    ck_assert_ptr_nonnull(resp);
    ck_assert_uint_eq(resp->id, req->id);
    int status = resp->status;
    condd__v1__response__free_unpacked(resp, NULL);
    return status;
}

/* A Hello (id 1) on the raw client, answered OK. */
static void raw_hello(struct tlsu_raw *r)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
    h.protocol_version = 1;
    h.client_name = "check_tls raw";
    req.id = 1;
    req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
    req.hello = &h;
    ck_assert_int_eq(raw_call(r, &req), CONDD__V1__STATUS__STATUS_OK);
}

/* A Ping with id on the raw client, answered OK. */
static void raw_ping(struct tlsu_raw *r, uint64_t id)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Ping p = CONDD__V1__PING__INIT;
    req.id = id;
    req.body_case = CONDD__V1__REQUEST__BODY_PING;
    req.ping = &p;
    ck_assert_int_eq(raw_call(r, &req), CONDD__V1__STATUS__STATUS_OK);
}

/* TLS 1.3 KeyUpdate (RFC 8446 §4.6.3) in the middle of a session, as long-lived clients of some
 * TLS stacks send it: the daemon reads the records under the client's new keys, answers every
 * update_requested with a KeyUpdate of its own before its next answer (the client counts them
 * as they arrive), and the session goes on, its lock kept; plaintext clients are unaffected. */
START_TEST(test_tls_key_updates_are_answered_and_the_session_goes_on)
{
    struct tu_daemon d;
    int port;
    tlsu_start_daemon(&d, &port, "server", NULL);
    struct tlsu_raw r;
    tlsu_raw_open(&r, port, 0);
    ck_assert_int_eq(SSL_version(r.ssl), TLS1_3_VERSION);
    int updates = 0;
    SSL_set_msg_callback(r.ssl, count_key_updates);
    SSL_set_msg_callback_arg(r.ssl, &updates);

    raw_hello(&r);

    Condd__V1__Request req;
    Condd__V1__Acquire a = CONDD__V1__ACQUIRE__INIT;
    a.lock.data = (uint8_t *)"tls/keyupdate";
    a.lock.len = strlen("tls/keyupdate");
    a.owner = 1;
    req = (Condd__V1__Request)CONDD__V1__REQUEST__INIT;
    req.id = 2;
    req.body_case = CONDD__V1__REQUEST__BODY_ACQUIRE;
    req.acquire = &a;
    ck_assert_int_eq(raw_call(&r, &req), CONDD__V1__STATUS__STATUS_OK);

    /* Ten updates that ask for the daemon's, then five that do not, each before a request. */
    for (int i = 0; i < 15; i++) {
        ck_assert_int_eq(
            SSL_key_update(r.ssl, i < 10 ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED),
            1);
        raw_ping(&r, 3 + (uint64_t)i);
        ck_assert_int_eq(updates, i < 10 ? i + 1 : 10);
    }

    /* The lock is still this session's: a plaintext client cannot take it. */
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(d.addr, NULL, &c), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "tls/keyupdate", 0, 0, NULL), CONDD_ERR_TIMEOUT);
    Condd__V1__Release rel = CONDD__V1__RELEASE__INIT;
    rel.lock = a.lock;
    rel.owner = 1;
    req = (Condd__V1__Request)CONDD__V1__REQUEST__INIT;
    req.id = 100;
    req.body_case = CONDD__V1__REQUEST__BODY_RELEASE;
    req.release = &rel;
    ck_assert_int_eq(raw_call(&r, &req), CONDD__V1__STATUS__STATUS_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "tls/keyupdate", 0, 5, NULL), CONDD_OK);
    condd_conn_close(c);
    tlsu_raw_close(&r);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* TLS 1.2 is the minimum (issue 14): a client that goes no higher is served; one that offers
 * only TLS 1.1 and 1.0 is refused at the handshake, and the daemon goes on. */
START_TEST(test_tls_1_2_is_served_and_older_versions_refused)
{
    struct tu_daemon d;
    int port;
    tlsu_start_daemon(&d, &port, "server", NULL);
    struct tlsu_raw r;
    ck_assert(tlsu_raw_connect(&r, port, 0, TLS1_2_VERSION));
    ck_assert_int_eq(SSL_version(r.ssl), TLS1_2_VERSION);
    raw_hello(&r);
    raw_ping(&r, 2);
    tlsu_raw_close(&r);

    ck_assert(!tlsu_raw_connect(&r, port, 0, TLS1_1_VERSION));
    tlsu_raw_close(&r);
    assert_daemon_serves(&d);
    tlsu_raw_open(&r, port, 0);
    ck_assert_int_eq(SSL_version(r.ssl), TLS1_3_VERSION); /* 1.3 preferred */
    raw_hello(&r);
    raw_ping(&r, 2);
    tlsu_raw_close(&r);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* A TLS 1.2 client that asks to renegotiate is refused (condd never renegotiates: a
 * renegotiation would let a client change its certificate under a session), and that ends no
 * more than that connection: the client's handshake fails at once rather than hang (30 s socket
 * timeouts turn a hang into a failure), the daemon closes the connection, and serves others. */
START_TEST(test_tls_renegotiation_is_refused_and_the_daemon_goes_on)
{
    struct tu_daemon d;
    int port;
    tlsu_start_daemon(&d, &port, "server", NULL);
    struct tlsu_raw r;
    ck_assert(tlsu_raw_connect(&r, port, 0, TLS1_2_VERSION));
    raw_hello(&r);
    raw_ping(&r, 2);
    ck_assert_int_eq(SSL_renegotiate(r.ssl), 1);
    ck_assert_int_ne(SSL_do_handshake(r.ssl), 1);
    /* Whatever the client's OpenSSL made of the refusal, the daemon ends the connection. */
    char b[256];
    ssize_t n;
    while ((n = read(r.fd, b, sizeof b)) > 0)
        ;
    ck_assert_msg(n == 0 || errno == ECONNRESET, "read: %zd (%s)", n, strerror(errno));
    tlsu_raw_close(&r);
    assert_daemon_serves(&d);
    tlsu_raw_open(&r, port, 0);
    raw_hello(&r);
    raw_ping(&r, 2);
    tlsu_raw_close(&r);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* Whether the daemon's log (tu_log_to_dir) says a TLS error closed a connection. */
static bool tls_error_logged(void *arg)
{
    return tu_file_has_line(arg, "TLS error", "closing it");
}

/* A record that does not decrypt, after the handshake and a session: the daemon says why at
 * info level (as it does for a failed handshake) and closes that connection only. */
START_TEST(test_tls_error_after_the_handshake_is_logged_and_closes_that_connection)
{
    struct tu_daemon d;
    int port;
    struct tu_spawn sp = {.child_setup = tu_log_to_dir};
    tlsu_start_daemon_ex(&d, &port, "server", NULL, &sp);
    char log[300];
    snprintf(log, sizeof log, "%s/log", d.dir);
    struct tlsu_raw r;
    tlsu_raw_open(&r, port, 0);
    raw_hello(&r);
    raw_ping(&r, 2);
    ck_assert(!tu_file_has_line(log, "TLS error", NULL));
    /* An application-data record of 32 zero bytes, past OpenSSL: its tag cannot check out. */
    uint8_t rec[5 + 32] = {0x17, 0x03, 0x03, 0x00, 32};
    ck_assert_int_eq(write(r.fd, rec, sizeof rec), (ssize_t)sizeof rec);
    char b[256];
    ssize_t n;
    while ((n = read(r.fd, b, sizeof b)) > 0)
        ;
    ck_assert_msg(n == 0 || errno == ECONNRESET, "read: %zd (%s)", n, strerror(errno));
    ck_assert(tu_wait_until(tls_error_logged, log, 20));
    tlsu_raw_close(&r);
    assert_daemon_serves(&d);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* The buffer sweep's counter, read on a plaintext connection (which has no TLS buffers). */
static bool tls_buffers_released_once(void *arg)
{
    condd_stats *st = NULL;
    bool done = condd_conn_stats(arg, &st) == CONDD_OK && st->tls_buffers_released >= 1;
    condd_stats_free(st);
    return done;
}

/* An idle TLS connection gives its record buffers back (the daemon's once-a-second sweep) and
 * then goes on as before: the next request allocates them again, answers of several records
 * included. */
START_TEST(test_idle_tls_connection_gives_its_buffers_back_and_goes_on)
{
    struct tu_daemon d;
    int port;
    tlsu_start_daemon(&d, &port, "server", NULL);
    char addr[64], msg[256];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", port);
    condd_conn *c, *p;
    ck_assert_int_eq(tlsu_open_with(addr, tlsu_options("ca.pem", NULL, NULL), &c, msg, sizeof msg),
                     CONDD_OK);
    ck_assert_int_eq(condd_conn_open(d.addr, NULL, &p), CONDD_OK);
    uint64_t t1 = 0, t2 = 0;
    ck_assert_int_eq(condd_lock_acquire(c, "tls/idle", 0, 5, &t1), CONDD_OK);
    ck_assert(tu_wait_until(tls_buffers_released_once, p, 20));
    /* The lock is still held, by the same connection's session. */
    ck_assert_int_eq(condd_lock_acquire(p, "tls/idle", 0, 0, NULL), CONDD_ERR_TIMEOUT);
    ck_assert_int_eq(condd_lock_release(c, "tls/idle", 0), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "tls/idle", 0, 5, &t2), CONDD_OK);
    ck_assert_uint_gt(t2, t1);
    for (int i = 0; i < 300; i++) {
        char name[64];
        snprintf(name, sizeof name, "tls/idle/a-rather-long-lock-name-%04d", i);
        ck_assert_int_eq(condd_lock_acquire(c, name, 0, 5, NULL), CONDD_OK);
    }
    condd_list *l = NULL;
    ck_assert_int_eq(condd_conn_list(c, "tls/idle/", 0, &l), CONDD_OK);
    ck_assert_uint_eq(condd_list_lock_count(l), 300);
    condd_list_free(l);
    condd_conn_close(p);
    condd_conn_close(c);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* ------------------------------------------------------------------ refused by the client */

START_TEST(test_tls_refuses_a_server_from_an_unknown_ca)
{
    struct tu_daemon d;
    int port;
    tlsu_start_daemon(&d, &port, "server", NULL);
    char addr[64], msg[256];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", port);
    condd_conn *c;
    ck_assert_int_eq(
        tlsu_open_with(addr, tlsu_options("other-ca.pem", NULL, NULL), &c, msg, sizeof msg),
        CONDD_ERR_CONNECT);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(msg, "certificate") != NULL, "message: %s", msg);
    assert_daemon_serves(&d);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_tls_refuses_an_expired_server_certificate)
{
    struct tu_daemon d;
    int port;
    tlsu_start_daemon(&d, &port, "expired", NULL);
    char addr[64], msg[256];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", port);
    condd_conn *c;
    ck_assert_int_eq(tlsu_open_with(addr, tlsu_options("ca.pem", NULL, NULL), &c, msg, sizeof msg),
                     CONDD_ERR_CONNECT);
    ck_assert_msg(strstr(msg, "expired") != NULL, "message: %s", msg);
    assert_daemon_serves(&d);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_tls_refuses_a_wrong_server_name)
{
    struct tu_daemon d;
    int port;
    tlsu_start_daemon(&d, &port, "server", NULL);
    char addr[64], msg[256];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", port);
    condd_conn *c;
    ck_assert_int_eq(
        tlsu_open_with(addr, tlsu_options("ca.pem", NULL, "db.example"), &c, msg, sizeof msg),
        CONDD_ERR_CONNECT);
    ck_assert_msg(strstr(msg, "mismatch") != NULL, "message: %s", msg);
    /* The name given is the one checked: the certificate's own name passes. */
    ck_assert_int_eq(
        tlsu_open_with(addr, tlsu_options("ca.pem", NULL, "localhost"), &c, msg, sizeof msg),
        CONDD_OK);
    ck_assert_int_eq(condd_conn_ping(c, NULL), CONDD_OK);
    condd_conn_close(c);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_tls_bad_client_files_fail_the_open)
{
    char msg[256];
    condd_conn *c;
    ck_assert_int_eq(tlsu_open_with("tls:127.0.0.1:1", tlsu_options("missing.pem", NULL, NULL), &c,
                                    msg, sizeof msg),
                     CONDD_ERR_INVALID);
    ck_assert_msg(strstr(msg, "missing.pem") != NULL, "message: %s", msg);
    /* A key that is not the certificate's. */
    condd_options *o = tlsu_options("ca.pem", NULL, NULL);
    ck_assert_int_eq(condd_options_set_tls_cert(o, tlsu_cert("client.pem")), CONDD_OK);
    ck_assert_int_eq(condd_options_set_tls_key(o, tlsu_cert("other.key")), CONDD_OK);
    ck_assert_int_eq(tlsu_open_with("tls:127.0.0.1:1", o, &c, msg, sizeof msg), CONDD_ERR_INVALID);
    char want[512];
    snprintf(want, sizeof want,
             "the private key in %s does not match the certificate in %s (OpenSSL: ",
             tlsu_cert("other.key"), tlsu_cert("client.pem"));
    ck_assert_msg(strncmp(msg, want, strlen(want)) == 0, "message: %s", msg);
    ck_assert_ptr_null(c);
    /* A certificate file without a key, and no key file: the key is looked for in the
     * certificate's file (the documented default); the message says so, in words first. */
    o = tlsu_options("ca.pem", NULL, NULL);
    ck_assert_int_eq(condd_options_set_tls_cert(o, tlsu_cert("client.pem")), CONDD_OK);
    ck_assert_int_eq(tlsu_open_with("tls:127.0.0.1:1", o, &c, msg, sizeof msg), CONDD_ERR_INVALID);
    snprintf(want, sizeof want,
             "no private key found in %s, the certificate's file, where the key is looked for "
             "when no key file is set (OpenSSL: ",
             tlsu_cert("client.pem"));
    ck_assert_msg(strncmp(msg, want, strlen(want)) == 0, "message: %s", msg);
    ck_assert_msg(strstr(msg, "error:") == NULL, "raw OpenSSL code in: %s", msg);
    ck_assert_int_eq(condd_options_set_tls_ca(NULL, "x"), CONDD_ERR_INVALID);
    /* An encrypted key: a clear reason, and no passphrase prompt (on stderr, or the terminal). */
    char errpath[256];
    snprintf(errpath, sizeof errpath, "%s/stderr", tlsu_dir());
    fflush(stderr);
    int saved = dup(2), efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(efd, 0);
    dup2(efd, 2);
    close(efd);
    o = tlsu_options("ca.pem", NULL, NULL);
    ck_assert_int_eq(condd_options_set_tls_cert(o, tlsu_cert("client.pem")), CONDD_OK);
    ck_assert_int_eq(condd_options_set_tls_key(o, tlsu_cert("client.enc.key")), CONDD_OK);
    int rc = tlsu_open_with("tls:127.0.0.1:1", o, &c, msg, sizeof msg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ck_assert_int_eq(rc, CONDD_ERR_INVALID);
    ck_assert_msg(strstr(msg, "client.enc.key is encrypted (a passphrase-protected key)") != NULL,
                  "message: %s", msg);
    ck_assert(!tu_file_has_line(errpath, "pass phrase", NULL));
    unlink(errpath);
    o = condd_options_new();
    ck_assert_int_eq(condd_options_set_tls_server_name(o, ""), CONDD_ERR_INVALID);
    condd_options_free(o);
}
END_TEST

/* ------------------------------------------------------------------ client certificates */

START_TEST(test_tls_client_certificate_required_and_checked)
{
    struct tu_daemon d;
    int port;
    const char *extra[] = {"--tls-client-ca", tlsu_cert("ca.pem"), NULL};
    tlsu_start_daemon(&d, &port, "server", extra);
    char addr[64], msg[256];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", port);
    condd_conn *c;
    /* None: the server refuses the handshake. Its alert says why, unless the close overtakes it
     * (a reset, when the server closed with our Hello unread): both name the cause. */
    ck_assert_int_eq(tlsu_open_with(addr, tlsu_options("ca.pem", NULL, NULL), &c, msg, sizeof msg),
                     CONDD_ERR_CONNECT);
    ck_assert_msg(strcmp(msg, "TLS handshake failed: the server requires a client certificate, "
                              "and none was given (condd_options_set_tls_cert()) (OpenSSL: "
                              "tlsv13 alert certificate required)") == 0 ||
                      strcmp(msg, "the server closed the TLS connection before answering Hello "
                                  "(does it require a client certificate?)") == 0,
                  "message: %s", msg);
    /* One from another CA: refused too. */
    ck_assert_int_eq(
        tlsu_open_with(addr, tlsu_options("ca.pem", "other", NULL), &c, msg, sizeof msg),
        CONDD_ERR_CONNECT);
    ck_assert_msg(strstr(msg, "TLS") != NULL, "message: %s", msg);
    /* One from the CA: in. */
    ck_assert_int_eq(
        tlsu_open_with(addr, tlsu_options("ca.pem", "client", NULL), &c, msg, sizeof msg),
        CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "mtls", 0, 5, NULL), CONDD_OK);
    condd_conn_close(c);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* The auth file names a principal by the certificate's subject, RFC 2253 one-line form:
 * tls-certs.sh makes "/O=condd tests/CN=worker-1", which OpenSSL prints most specific first. */
START_TEST(test_tls_certificate_subject_is_a_principal)
{
    char auth[160];
    snprintf(auth, sizeof auth, "%s/auth", tlsu_dir());
    FILE *f = fopen(auth, "w");
    ck_assert_ptr_nonnull(f);
    fputs("principal worker cert CN=worker-1,O=condd tests\n"
          "allow worker use lock work/\n",
          f);
    ck_assert_int_eq(fclose(f), 0);
    struct tu_daemon d;
    int port;
    const char *extra[] = {"--tls-client-ca",
                           tlsu_cert("ca.pem"),
                           "--auth-file",
                           auth,
                           "--auth-fail-delay",
                           "0",
                           NULL};
    tlsu_start_daemon(&d, &port, "server", extra);
    char addr[64], msg[256];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", port);
    condd_conn *c;
    ck_assert_int_eq(
        tlsu_open_with(addr, tlsu_options("ca.pem", "client", NULL), &c, msg, sizeof msg),
        CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "work/a", 0, 5, NULL), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "elsewhere", 0, 5, NULL), CONDD_ERR_PERMISSION_DENIED);
    condd_conn_close(c);
    /* A certificate the CA signed whose subject names nobody: no principal, anonymous is not
     * allowed, so Hello is refused. (server.pem is a client certificate too.) */
    ck_assert_int_eq(
        tlsu_open_with(addr, tlsu_options("ca.pem", "server", NULL), &c, msg, sizeof msg),
        CONDD_ERR_UNAUTHENTICATED);
    /* A token still wins over the certificate: a wrong one is refused. */
    condd_options *o = tlsu_options("ca.pem", "client", NULL);
    ck_assert_int_eq(condd_options_set_token(o, "condd_not-a-known-token"), CONDD_OK);
    ck_assert_int_eq(tlsu_open_with(addr, o, &c, msg, sizeof msg), CONDD_ERR_UNAUTHENTICATED);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
    unlink(auth);
}
END_TEST

/* ------------------------------------------------------------------ mismatches */

START_TEST(test_plaintext_client_on_a_tls_port_is_closed_at_once)
{
    struct tu_daemon d;
    int port;
    tlsu_start_daemon(&d, &port, "server", NULL);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    condd_options *o = condd_options_new();
    /* A long connect timeout: failing by it would say "timed out"; the server must close. */
    ck_assert_int_eq(condd_options_set_connect_timeout(o, 60), CONDD_OK);
    condd_conn *c = NULL;
    char msg[256];
    int rc = tlsu_open_with(addr, o, &c, msg, sizeof msg);
    ck_assert_ptr_null(c);
    ck_assert_msg(rc == CONDD_ERR_CONNECT || rc == CONDD_ERR_DISCONNECTED ||
                      rc == CONDD_ERR_PROTOCOL,
                  "rc %d (%s)", rc, msg);
    /* The TLS listener drops the plaintext Hello without a byte: the message suggests why. */
    ck_assert_str_eq(msg, "the server closed the connection before answering Hello "
                          "(restarting, or does it expect TLS? use tls:HOST:PORT)");
    assert_daemon_serves(&d);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_tls_client_on_a_plaintext_port_is_closed_at_once)
{
    struct tu_daemon d;
    int port;
    tlsu_start_daemon(&d, &port, "server", NULL);
    char addr[64], msg[256];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", d.port);
    condd_options *o = tlsu_options("ca.pem", NULL, NULL);
    ck_assert_int_eq(condd_options_set_connect_timeout(o, 60), CONDD_OK);
    condd_conn *c;
    ck_assert_int_eq(tlsu_open_with(addr, o, &c, msg, sizeof msg), CONDD_ERR_CONNECT);
    ck_assert_str_eq(msg, "TLS handshake failed: the server did not answer in TLS (a plaintext "
                          "port? drop tls: from the address) (OpenSSL: wrong version number)");
    assert_daemon_serves(&d);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* ------------------------------------------------------------------ handshake deadline */

/* Blocks until the peer closes fd (true) or 30 s pass (false). */
static bool peer_closes(int fd)
{
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char b[256];
    for (;;) {
        ssize_t n = read(fd, b, sizeof b);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
}

START_TEST(test_silent_connection_closed_at_the_handshake_deadline)
{
    struct tu_daemon d;
    int port;
    const char *extra[] = {"--tls-handshake-timeout", "0.3", NULL};
    tlsu_start_daemon(&d, &port, "server", extra);
    int fd = tu_connect(port);
    ck_assert_int_ge(fd, 0);
    ck_assert(peer_closes(fd)); /* well before the session timeout's Hello deadline matters */
    close(fd);
    /* A client that sends a few bytes of a ClientHello and stops: the same. */
    fd = tu_connect(port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "\x16\x03\x01", 3), 3);
    ck_assert(peer_closes(fd));
    close(fd);
    assert_daemon_serves(&d);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

static int limit_port;
static bool tls_connects(void *arg)
{
    char addr[64], msg[256];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", limit_port);
    condd_conn *c;
    if (tlsu_open_with(addr, tlsu_options("ca.pem", NULL, NULL), &c, msg, sizeof msg) != CONDD_OK)
        return false;
    condd_conn_close(c);
    return true;
}

START_TEST(test_handshakes_count_against_max_connections)
{
    struct tu_daemon d;
    const char *extra[] = {"--max-connections", "1", "--tls-handshake-timeout", "60", NULL};
    tlsu_start_daemon(&d, &limit_port, "server", extra);
    /* One connection stuck before its handshake holds the only slot (--max-handshakes is 1
     * here, half of 1 rounded up to the least), so the next is refused at --max-connections... */
    int fd = tu_connect(limit_port);
    ck_assert_int_ge(fd, 0);
    char addr[64], msg[256];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", limit_port);
    condd_conn *c;
    ck_assert_int_eq(tlsu_open_with(addr, tlsu_options("ca.pem", NULL, NULL), &c, msg, sizeof msg),
                     CONDD_ERR_CONNECT);
    /* ...until it goes. */
    close(fd);
    ck_assert(tu_wait_until(tls_connects, NULL, 20));
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* Whether the peer has closed fd (an end of file is readable now); does not block. */
static bool peer_closed_now(int fd)
{
    char b[16];
    ssize_t n = recv(fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

#define FLOOD_CONNECTS 12

struct flood {
    int fds[FLOOD_CONNECTS];
    int want; /* closed connections to wait for */
};

static int flood_closed(const struct flood *f)
{
    int n = 0;
    for (int i = 0; i < FLOOD_CONNECTS; i++)
        n += peer_closed_now(f->fds[i]);
    return n;
}

static bool flood_has_closed(void *arg)
{
    const struct flood *f = arg;
    return flood_closed(f) >= f->want;
}

/* The refusal lines of condd's log (d->dir/log) that contain needle: their number in *lines,
 * and the refusals they stand for (each its own plus its "(N more refused in the last second)")
 * as the result. */
static unsigned long long refusals_logged(const struct tu_daemon *d, const char *needle, int *lines)
{
    char path[256], line[2048];
    snprintf(path, sizeof path, "%s/log", d->dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    unsigned long long total = 0;
    *lines = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, needle) == NULL)
            continue;
        ck_assert_msg(strstr(line, " from 127.0.0.1:") != NULL, "no peer: %s", line);
        ++*lines;
        total++;
        const char *more = strstr(line, " more refused in the last second)");
        if (more != NULL) {
            const char *p = more;
            while (p > line && p[-1] >= '0' && p[-1] <= '9')
                p--;
            ck_assert_msg(p < more && p[-1] == '(', "bad count: %s", line);
            total += strtoull(p, NULL, 10);
        }
    }
    fclose(f);
    return total;
}

struct refusal_wait {
    const struct tu_daemon *d;
    const char *needle;
    unsigned long long want;
};

static bool refusals_add_up(void *arg)
{
    const struct refusal_wait *w = arg;
    int lines;
    return refusals_logged(w->d, w->needle, &lines) >= w->want;
}

/* Silent TLS connects above --max-handshakes are closed at accept and leave the rest of
 * --max-connections to everyone else: here 12 connects that never send a ClientHello against
 * --max-connections 8, whose default cap is 4 handshakes. Refusals are logged with their peer,
 * at most a line a second, and the lines add up to the refusals. */
START_TEST(test_a_handshake_flood_leaves_room_for_other_clients)
{
    struct tu_daemon d;
    int port;
    const char *extra[] = {"--max-connections", "8", "--tls-handshake-timeout", "60", NULL};
    struct tu_spawn sp = {.child_setup = tu_log_to_dir};
    tlsu_start_daemon_ex(&d, &port, "server", extra, &sp);
    struct flood f;
    double t0 = tu_now();
    for (int i = 0; i < FLOOD_CONNECTS; i++) {
        f.fds[i] = tu_connect(port);
        ck_assert_int_ge(f.fds[i], 0);
    }
    double burst = tu_now() - t0;
    /* Plaintext clients take the other half of the connections (the first answers only after
     * the listener took every connect above). */
    condd_conn *p[4];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(condd_conn_open(d.addr, NULL, &p[i]), CONDD_OK);
        ck_assert_int_eq(condd_conn_ping(p[i], NULL), CONDD_OK);
    }
    f.want = FLOOD_CONNECTS - 4;
    ck_assert(tu_wait_until(flood_has_closed, &f, 20));
    ck_assert_int_eq(condd_conn_ping(p[0], NULL), CONDD_OK); /* a barrier: nothing more closed */
    ck_assert_int_eq(flood_closed(&f), FLOOD_CONNECTS - 4);
    /* A TLS client while the handshakes are at their cap, with a slot free: closed at accept. */
    char addr[64], msg[256];
    tlsu_addr(addr, sizeof addr, "127.0.0.1", port);
    condd_conn *c = NULL;
    ck_assert_int_eq(tlsu_open_with(addr, tlsu_options("ca.pem", NULL, NULL), &c, msg, sizeof msg),
                     CONDD_ERR_CONNECT);
    /* That slot is a plaintext client's; then the four kept handshakes and the four clients are
     * the limit: a fifth client is refused. */
    ck_assert_int_eq(condd_conn_open(d.addr, NULL, &p[3]), CONDD_OK);
    ck_assert_int_eq(condd_conn_ping(p[3], NULL), CONDD_OK);
    ck_assert_int_eq(condd_conn_open(d.addr, NULL, &c), CONDD_ERR_LIMIT_EXCEEDED);
    /* 8 + 1 refused handshakes, in at most a line a second (one more for the one refused after
     * the burst), adding up; and the one refused plaintext client. */
    struct refusal_wait w = {&d, "refusing a TLS connection from", FLOOD_CONNECTS - 4 + 1};
    ck_assert(tu_wait_until(refusals_add_up, &w, 20));
    int lines;
    ck_assert_uint_eq(refusals_logged(&d, w.needle, &lines), w.want);
    ck_assert_int_le(lines, 3 + (int)burst);
    ck_assert_uint_eq(refusals_logged(&d, "refusing a connection from", &lines), 1);
    /* The flood ends: TLS is served again. */
    for (int i = 0; i < 4; i++)
        condd_conn_close(p[i]);
    for (int i = 0; i < FLOOD_CONNECTS; i++)
        close(f.fds[i]);
    limit_port = port;
    ck_assert(tu_wait_until(tls_connects, NULL, 20));
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* A burst of connects over --max-connections: each refused with LIMIT_EXCEEDED, logged with its
 * peer in at most a line a second, the lines adding up to the refusals. */
START_TEST(test_refused_connections_are_logged_at_most_once_a_second)
{
    struct tu_daemon d;
    int port;
    const char *extra[] = {"--max-connections", "1", NULL};
    struct tu_spawn sp = {.child_setup = tu_log_to_dir};
    tlsu_start_daemon_ex(&d, &port, "server", extra, &sp);
    condd_conn *p = NULL;
    ck_assert_int_eq(condd_conn_open(d.addr, NULL, &p), CONDD_OK);
    enum { REFUSALS = 300 };
    double t0 = tu_now();
    for (int i = 0; i < REFUSALS; i++) {
        int fd = tu_connect(d.port);
        ck_assert_int_ge(fd, 0);
        ck_assert(peer_closes(fd)); /* the refusal (LIMIT_EXCEEDED), then the end */
        close(fd);
    }
    double burst = tu_now() - t0;
    struct refusal_wait w = {&d, "refusing a connection from", REFUSALS};
    ck_assert(tu_wait_until(refusals_add_up, &w, 20));
    int lines;
    ck_assert_uint_eq(refusals_logged(&d, w.needle, &lines), REFUSALS);
    ck_assert_int_le(lines, 2 + (int)burst + 1);
    ck_assert_int_eq(condd_conn_ping(p, NULL), CONDD_OK);
    condd_conn_close(p);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* ------------------------------------------------------------------ the daemon's checks */

START_TEST(test_daemon_refuses_to_start_with_bad_tls_files)
{
    char cmd[1024];
    /* A key that is not the certificate's, and a missing certificate: exit 2 at once. */
    snprintf(cmd, sizeof cmd,
             "'%s' --listen 127.0.0.1:0 --listen-tls 127.0.0.1:0 --tls-cert '%s' --tls-key '%s' "
             "2>/dev/null",
             tu_condd_path(), tlsu_cert("server.pem"), tlsu_cert("client.key"));
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd,
             "'%s' --listen 127.0.0.1:0 --listen-tls 127.0.0.1:0 --tls-cert '%s' --tls-key '%s' "
             "2>/dev/null",
             tu_condd_path(), tlsu_cert("nothing.pem"), tlsu_cert("server.key"));
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "'%s' --listen 127.0.0.1:0 --listen-tls 127.0.0.1:0 2>/dev/null",
             tu_condd_path());
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
}
END_TEST

/* condd's stderr of one start that must fail with exit 2 (args: after --listen-tls), in out. */
static void start_fails(const char *args, char *out, size_t outlen)
{
    char cmd[2048], errpath[256];
    snprintf(errpath, sizeof errpath, "%s/stderr", tlsu_dir());
    /* setsid: no controlling terminal, so that an OpenSSL prompt could not wait on one. */
    snprintf(cmd, sizeof cmd,
             "setsid -w '%s' --listen 127.0.0.1:0 --listen-tls 127.0.0.1:0 %s </dev/null "
             "2>'%s'",
             tu_condd_path(), args, errpath);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    FILE *f = fopen(errpath, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    fclose(f);
    unlink(errpath);
}

/* A missing or unreadable file is named with the system's reason, not OpenSSL's "system lib";
 * a key that is not the certificate's is said so. */
START_TEST(test_daemon_names_a_missing_or_unreadable_tls_file)
{
    const char *cases[][5] = {
        /* cert, key, client CA, the setting named, the reason */
        {"nothing.pem", "server.key", NULL, "tls-cert", "No such file or directory"},
        {"server.pem", "nothing.key", NULL, "tls-key", "No such file or directory"},
        {"server.pem", "server.key", "nothing-ca.pem", "tls-client-ca",
         "No such file or directory"},
        {"server.pem", ".", NULL, "tls-key", "Is a directory"},
    };
    char args[1024], out[4096], want[512];
    snprintf(args, sizeof args, "--tls-cert '%s' --tls-key '%s'", tlsu_cert("server.pem"),
             tlsu_cert("client.key"));
    start_fails(args, out, sizeof out);
    ck_assert_msg(strstr(out, "client.key does not match the certificate in ") != NULL,
                  "stderr: %s", out);
    /* A file that is not PEM, as the certificate and as the key. */
    char garbage[256];
    snprintf(garbage, sizeof garbage, "%s/garbage.pem", tlsu_dir());
    FILE *g = fopen(garbage, "w");
    ck_assert_ptr_nonnull(g);
    fputs("not a certificate\n", g);
    fclose(g);
    snprintf(args, sizeof args, "--tls-cert '%s' --tls-key '%s'", garbage, tlsu_cert("server.key"));
    start_fails(args, out, sizeof out);
    ck_assert_msg(strstr(out, "garbage.pem: no certificate could be read from it") != NULL,
                  "stderr: %s", out);
    snprintf(args, sizeof args, "--tls-cert '%s' --tls-key '%s'", tlsu_cert("server.pem"), garbage);
    start_fails(args, out, sizeof out);
    ck_assert_msg(strstr(out, "garbage.pem: no private key could be read from it") != NULL,
                  "stderr: %s", out);
    unlink(garbage);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cert[256], key[256], ca[256];
        snprintf(cert, sizeof cert, "%s", tlsu_cert(cases[i][0]));
        snprintf(key, sizeof key, "%s", tlsu_cert(cases[i][1]));
        snprintf(ca, sizeof ca, "%s", cases[i][2] != NULL ? tlsu_cert(cases[i][2]) : "");
        snprintf(args, sizeof args, "--tls-cert '%s' --tls-key '%s' %s%s%s", cert, key,
                 cases[i][2] != NULL ? "--tls-client-ca '" : "", ca,
                 cases[i][2] != NULL ? "'" : "");
        start_fails(args, out, sizeof out);
        const char *missing = i == 0 ? cert : i == 2 ? ca : key;
        snprintf(want, sizeof want, "%s: cannot read %s: %s", cases[i][3], missing, cases[i][4]);
        ck_assert_msg(strstr(out, want) != NULL, "want '%s', stderr: %s", want, out);
        ck_assert_msg(strstr(out, "system lib") == NULL, "stderr: %s", out);
    }
}
END_TEST

struct log_wait {
    const struct tu_daemon *d;
    const char *needle, *needle2;
};

static bool log_has(void *arg)
{
    const struct log_wait *w = arg;
    char path[256];
    snprintf(path, sizeof path, "%s/log", w->d->dir);
    return tu_file_has_line(path, w->needle, w->needle2);
}

/* Accepted but worth a warning: an expired server certificate (served: the clients refuse it),
 * and TLS files given without a TLS listener. */
START_TEST(test_daemon_warns_about_an_expired_certificate_and_unused_tls_files)
{
    struct tu_daemon d;
    int port;
    struct tu_spawn sp = {.child_setup = tu_log_to_dir};
    tlsu_start_daemon_ex(&d, &port, "expired", NULL, &sp);
    struct log_wait w = {&d, "warning: tls-cert ", "the certificate expired on "};
    ck_assert(tu_wait_until(log_has, &w, 20));
    w.needle = "ready";
    w.needle2 = NULL;
    ck_assert(tu_wait_until(log_has, &w, 20));
    w.needle = "without listen-tls";
    ck_assert(!log_has(&w));
    assert_daemon_serves(&d);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);

    char cert[256], ca[256];
    snprintf(cert, sizeof cert, "%s", tlsu_cert("server.pem"));
    snprintf(ca, sizeof ca, "%s", tlsu_cert("ca.pem"));
    const char *args[] = {"--tls-cert", cert, "--tls-client-ca", ca, NULL};
    ck_assert(tu_daemon_start_ex(&d, &sp, false, args));
    w.needle = "warning: tls-cert, tls-client-ca given without listen-tls: unused";
    ck_assert(tu_wait_until(log_has, &w, 20));
    w.needle = "expired";
    ck_assert(!log_has(&w));
    assert_daemon_serves(&d);
    ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_daemon_refuses_an_encrypted_key_without_a_prompt)
{
    char args[1024], out[4096];
    snprintf(args, sizeof args, "--tls-cert '%s' --tls-key '%s'", tlsu_cert("server.pem"),
             tlsu_cert("server.enc.key"));
    start_fails(args, out, sizeof out);
    ck_assert_msg(strstr(out, "server.enc.key is encrypted (a passphrase-protected key); condd "
                              "needs an unencrypted key") != NULL,
                  "stderr: %s", out);
    ck_assert_msg(strstr(out, "pass phrase") == NULL, "stderr: %s", out);
}
END_TEST

static Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, tlsu_make_certs, tlsu_remove_certs);
    tcase_add_test(tc, test_tls_client_takes_a_lock_by_ip_and_by_name);
    tcase_add_test(tc, test_tls_carries_large_answers);
    tcase_add_test(tc, test_idle_tls_connection_gives_its_buffers_back_and_goes_on);
    tcase_add_test(tc, test_tls_key_updates_are_answered_and_the_session_goes_on);
    tcase_add_test(tc, test_tls_1_2_is_served_and_older_versions_refused);
    tcase_add_test(tc, test_tls_renegotiation_is_refused_and_the_daemon_goes_on);
    tcase_add_test(tc, test_tls_error_after_the_handshake_is_logged_and_closes_that_connection);
    tcase_add_test(tc, test_tls_refuses_a_server_from_an_unknown_ca);
    tcase_add_test(tc, test_tls_refuses_an_expired_server_certificate);
    tcase_add_test(tc, test_tls_refuses_a_wrong_server_name);
    tcase_add_test(tc, test_tls_bad_client_files_fail_the_open);
    tcase_add_test(tc, test_tls_client_certificate_required_and_checked);
    tcase_add_test(tc, test_tls_certificate_subject_is_a_principal);
    tcase_add_test(tc, test_plaintext_client_on_a_tls_port_is_closed_at_once);
    tcase_add_test(tc, test_tls_client_on_a_plaintext_port_is_closed_at_once);
    tcase_add_test(tc, test_silent_connection_closed_at_the_handshake_deadline);
    tcase_add_test(tc, test_handshakes_count_against_max_connections);
    tcase_add_test(tc, test_a_handshake_flood_leaves_room_for_other_clients);
    tcase_add_test(tc, test_refused_connections_are_logged_at_most_once_a_second);
    tcase_add_test(tc, test_daemon_refuses_to_start_with_bad_tls_files);
    tcase_add_test(tc, test_daemon_refuses_an_encrypted_key_without_a_prompt);
    tcase_add_test(tc, test_daemon_names_a_missing_or_unreadable_tls_file);
    tcase_add_test(tc, test_daemon_warns_about_an_expired_certificate_and_unused_tls_files);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tls_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
