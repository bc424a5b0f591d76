/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The TLS suites' fixtures (tls_util.h): the certificate folder, a condd with a TLS listener,
 * the options and addresses of its TLS clients, and a raw TLS client that speaks the wire itself.
 * Split out of check_tls.c so that check_tls_resume.c and check_tls_records.c run against the
 * same fixtures.
 */
#include "config.h"

#include "tls_util.h"

#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "frame.h"

/* One folder per process: the suites run their test cases' fixtures once (unchecked). */
static char tlsu_certs[64];

const char *tlsu_dir(void)
{
    return tlsu_certs;
}

const char *tlsu_cert(const char *name)
{
    static char paths[8][160];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", tlsu_certs, name);
    return p;
}

void tlsu_make_certs(void)
{
    const char *top = getenv("top_srcdir");
    snprintf(tlsu_certs, sizeof tlsu_certs, "/tmp/check-tls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tlsu_certs));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sh '%s/tests/tls-certs.sh' '%s'", top != NULL ? top : "..",
             tlsu_certs);
    ck_assert_int_eq(system(cmd), 0);
}

void tlsu_remove_certs(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tlsu_certs);
    ck_assert_int_eq(system(cmd), 0);
}

/* A daemon with a plaintext listener (d->port) and a TLS one (*tls_port) using the server
 * certificate srv_cert (e.g. "server"), then the NULL-terminated extra arguments. */
void tlsu_start_daemon(struct tu_daemon *d, int *tls_port, const char *srv_cert,
                       const char *const *extra)
{
    tlsu_start_daemon_ex(d, tls_port, srv_cert, extra, NULL);
}

void tlsu_start_daemon_ex(struct tu_daemon *d, int *tls_port, const char *srv_cert,
                          const char *const *extra, const struct tu_spawn *sp)
{
    char crt[160], key[160], portfile[160];
    snprintf(crt, sizeof crt, "%s/%s.pem", tlsu_certs, srv_cert);
    snprintf(key, sizeof key, "%s/%s.key", tlsu_certs, srv_cert);
    snprintf(portfile, sizeof portfile, "%s/tls-port-%s", tlsu_certs, srv_cert);
    unlink(portfile);
    const char *args[32] = {"--listen-tls", "127.0.0.1:0", "--tls-port-file", portfile,
                            "--tls-cert",   crt,           "--tls-key",       key};
    int n = 8;
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 31; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    ck_assert(tu_daemon_start_ex(d, sp, false, args));
    FILE *f = fopen(portfile, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%d", tls_port), 1);
    fclose(f);
    ck_assert_int_gt(*tls_port, 0);
}

/* Options for a TLS client: CA file, client certificate (NULL: none), server name (NULL: the
 * address's host). */
condd_options *tlsu_options(const char *ca, const char *client, const char *name)
{
    condd_options *o = condd_options_new();
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(condd_options_set_connect_timeout(o, 30), CONDD_OK);
    if (ca != NULL)
        ck_assert_int_eq(condd_options_set_tls_ca(o, tlsu_cert(ca)), CONDD_OK);
    if (client != NULL) {
        char crt[64], key[64];
        snprintf(crt, sizeof crt, "%s.pem", client);
        snprintf(key, sizeof key, "%s.key", client);
        ck_assert_int_eq(condd_options_set_tls_cert(o, tlsu_cert(crt)), CONDD_OK);
        ck_assert_int_eq(condd_options_set_tls_key(o, tlsu_cert(key)), CONDD_OK);
    }
    if (name != NULL)
        ck_assert_int_eq(condd_options_set_tls_server_name(o, name), CONDD_OK);
    return o;
}

/* Opens addr with o (freed); the result code, the connection (or NULL) in *out, and the
 * failure's message in msg. */
int tlsu_open_with(const char *addr, condd_options *o, condd_conn **out, char *msg, size_t msglen)
{
    *out = NULL;
    int rc = condd_conn_open(addr, o, out);
    condd_options_free(o);
    snprintf(msg, msglen, "%s", condd_conn_message(NULL));
    return rc;
}

void tlsu_addr(char *buf, size_t len, const char *host, int port)
{
    snprintf(buf, len, "tls:%s:%d", host, port);
}

/* ------------------------------------------------------------------ a raw TLS client */

bool tlsu_raw_connect(struct tlsu_raw *r, int port, int rcvbuf, int max_version)
{
    memset(r, 0, sizeof *r);
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(r->fd, 0);
    if (rcvbuf > 0)
        ck_assert_int_eq(setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    struct timeval tv = {30, 0}; /* a test that hangs fails instead */
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(r->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(r->fd, (struct sockaddr *)&sin, sizeof sin), 0);
    r->ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(r->ctx);
    ck_assert_int_eq(SSL_CTX_load_verify_locations(r->ctx, tlsu_cert("ca.pem"), NULL), 1);
    SSL_CTX_set_verify(r->ctx, SSL_VERIFY_PEER, NULL);
    if (max_version != 0) {
        ck_assert_int_eq(SSL_CTX_set_max_proto_version(r->ctx, max_version), 1);
        if (max_version < TLS1_2_VERSION) {
            /* Debian's default security level would not even offer these: the server must be
             * the one that refuses. */
            SSL_CTX_set_security_level(r->ctx, 0);
            ck_assert_int_eq(SSL_CTX_set_min_proto_version(r->ctx, TLS1_VERSION), 1);
            ck_assert_int_eq(SSL_CTX_set_cipher_list(r->ctx, "DEFAULT:@SECLEVEL=0"), 1);
        }
    }
    r->ssl = SSL_new(r->ctx);
    ck_assert_ptr_nonnull(r->ssl);
    SSL_set_fd(r->ssl, r->fd);
    bool ok = SSL_connect(r->ssl) == 1;
    ERR_clear_error();
    return ok;
}

void tlsu_raw_open(struct tlsu_raw *r, int port, int rcvbuf)
{
    ck_assert_msg(tlsu_raw_connect(r, port, rcvbuf, 0), "TLS handshake with condd failed");
}

void tlsu_raw_close(struct tlsu_raw *r)
{
    SSL_free(r->ssl);
    SSL_CTX_free(r->ctx);
    close(r->fd);
    free(r->buf);
}

void tlsu_raw_send(struct tlsu_raw *r, Condd__V1__Request *req)
{
    size_t n = frame_encoded_size(&req->base);
    uint8_t *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    frame_encode(&req->base, b);
    ck_assert_int_eq(SSL_write(r->ssl, b, (int)n), (int)n);
    free(b);
}

Condd__V1__Response *tlsu_raw_recv(struct tlsu_raw *r)
{
    for (;;) {
        size_t plen = 0;
        if (frame_peek(r->buf, r->len, UINT32_MAX, &plen) == FRAME_OK) {
            Condd__V1__Response *resp = NULL;
            size_t used = 0;
            ck_assert_int_eq(frame_decode_response(r->buf, r->len, UINT32_MAX, NULL, &resp, &used),
                             FRAME_OK);
            memmove(r->buf, r->buf + used, r->len - used);
            r->len -= used;
            return resp;
        }
        if (r->cap - r->len < 16384) {
            r->cap = r->cap * 2 + 65536;
            r->buf = realloc(r->buf, r->cap);
            ck_assert_ptr_nonnull(r->buf);
        }
        int n = SSL_read(r->ssl, r->buf + r->len, (int)(r->cap - r->len));
        if (n <= 0)
            return NULL;
        r->len += (size_t)n;
    }
}
