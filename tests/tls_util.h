/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Fixtures shared by the TLS suites (check_tls.c, check_tls_resume.c, check_tls_records.c): the
 * certificate folder that tests/tls-certs.sh fills for a test case (a CA, server, client,
 * expired and other-CA ones), a condd with a TLS listener beside its plaintext one, the libcondd
 * options and addresses that reach it, and a raw TLS client that speaks the wire itself. The
 * folder is the one piece of state here: one per process, made by tlsu_make_certs() and removed
 * by tlsu_remove_certs() (a Check unchecked fixture).
 */
#ifndef CONDD_TESTS_TLS_UTIL_H
#define CONDD_TESTS_TLS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <condd/condd.h>
#include <openssl/ssl.h>

#include "condd.pb-c.h"

#include "testutil.h"

/* Makes a fresh certificate folder under /tmp with tests/tls-certs.sh (found through
 * $top_srcdir, else ".."); asserts it worked. */
void tlsu_make_certs(void);

/* Removes the folder and everything in it; asserts it worked. */
void tlsu_remove_certs(void);

/* The certificate folder's path (static storage, valid until tlsu_remove_certs()). */
const char *tlsu_dir(void);

/* The path of name inside the folder, in one of 8 static buffers used in turn: valid until
 * 8 more calls, so copy it to keep it longer. */
const char *tlsu_cert(const char *name);

/* Starts d with a plaintext listener (d->port) and a TLS one (its port in *tls_port) using the
 * server certificate srv_cert (e.g. "server": server.pem and server.key), then the
 * NULL-terminated extra arguments (borrowed; NULL: none). Stop d with tu_daemon_stop(). */
void tlsu_start_daemon(struct tu_daemon *d, int *tls_port, const char *srv_cert,
                       const char *const *extra);

/* tlsu_start_daemon() through tu_daemon_start_ex() with sp (borrowed; NULL: as
 * tu_daemon_start()), e.g. to keep the daemon's log (tu_log_to_dir). */
void tlsu_start_daemon_ex(struct tu_daemon *d, int *tls_port, const char *srv_cert,
                          const char *const *extra, const struct tu_spawn *sp);

/* New options for a TLS client (the caller frees them with condd_options_free(), or passes them
 * to tlsu_open_with()): CA file ca in the folder (NULL: none), client certificate client (its
 * .pem and .key in the folder; NULL: none), server name (NULL: the address's host). */
condd_options *tlsu_options(const char *ca, const char *client, const char *name);

/* Opens addr with o (taken over and freed, whatever the result): the result code, the
 * connection in *out (NULL on failure; the caller closes it with condd_conn_close()), and the
 * failure's message copied into msg. */
int tlsu_open_with(const char *addr, condd_options *o, condd_conn **out, char *msg, size_t msglen);

/* Writes "tls:host:port" into buf. */
void tlsu_addr(char *buf, size_t len, const char *host, int port);

/* A client speaking the wire directly over a blocking TLS socket, to control what it sends and
 * reads (OpenSSL's own objects, for a test to reach into). */
struct tlsu_raw {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    uint8_t *buf; /* decrypted bytes not yet decoded */
    size_t len, cap;
};

/* Connects r to 127.0.0.1:port over TLS, verifying the server against ca.pem, with a receive
 * buffer of rcvbuf bytes (0: the default); reads and writes block for at most 30 s. */
void tlsu_raw_open(struct tlsu_raw *r, int port, int rcvbuf);

/* tlsu_raw_open() that offers TLS versions up to max_version (0: OpenSSL's highest; below
 * TLS 1.2 the client's security level is lowered so that it offers them at all) and returns
 * whether the handshake succeeded instead of asserting it. r is to be closed either way. */
bool tlsu_raw_connect(struct tlsu_raw *r, int port, int rcvbuf, int max_version);

/* Frees what r holds and closes its socket. */
void tlsu_raw_close(struct tlsu_raw *r);

/* Encodes req (borrowed) as one frame and writes it whole; asserts it went. */
void tlsu_raw_send(struct tlsu_raw *r, Condd__V1__Request *req);

/* The next whole response (the caller frees it with condd__v1__response__free_unpacked(x,
 * NULL)), or NULL at the end of the stream: a close, or a record cut short. */
Condd__V1__Response *tlsu_raw_recv(struct tlsu_raw *r);

#endif
