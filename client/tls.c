/* SPDX-License-Identifier: BSD-2-Clause
 *
 * libcondd's TLS (tls: addresses): the client context built from the options (CA file or the
 * system's store, optional client certificate and key, TLS 1.2 at least, ALPN "condd.v1"), the
 * per-connection session that checks the server's name, and the error texts. conn.c runs the
 * connection itself over a libevent OpenSSL bufferevent; no OpenSSL type reaches the public
 * headers.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "internal.h"

/* ------------------------------------------------------------------ the socket BIO */

/* OpenSSL's socket BIO writes with write(2), which raises SIGPIPE in the application when the
 * server has gone; the plaintext path uses send(MSG_NOSIGNAL), and so does this one. The fd is
 * kept as the BIO's data; the BIO never closes it (the bufferevent does). */
static int cl_bio_write(BIO *b, const char *data, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    ssize_t n = send(fd, data, (size_t)len, MSG_NOSIGNAL);
    BIO_clear_retry_flags(b);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(b);
    return (int)n;
}

static int cl_bio_read(BIO *b, char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    ssize_t n = recv(fd, buf, (size_t)len, 0);
    BIO_clear_retry_flags(b);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(b);
#ifdef BIO_FLAGS_IN_EOF
    if (n == 0)
        BIO_set_flags(b, BIO_FLAGS_IN_EOF);
#endif
    return (int)n;
}

static long cl_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    switch (cmd) {
    case BIO_C_GET_FD: /* libevent asks which socket the SSL is on */
        if (ptr != NULL)
            *(int *)ptr = (int)(intptr_t)BIO_get_data(b);
        return (long)(intptr_t)BIO_get_data(b);
    case BIO_CTRL_FLUSH:
    case BIO_CTRL_DUP:
        return 1;
    case BIO_CTRL_GET_CLOSE:
        return BIO_NOCLOSE;
    case BIO_CTRL_SET_CLOSE:
        return 1;
    default:
        return 0;
    }
}

static BIO_METHOD *cl_bio_method;
static pthread_once_t cl_bio_once = PTHREAD_ONCE_INIT;

static void cl_bio_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "condd socket");
    if (m != NULL && BIO_meth_set_write(m, cl_bio_write) == 1 &&
        BIO_meth_set_read(m, cl_bio_read) == 1 && BIO_meth_set_ctrl(m, cl_bio_ctrl) == 1)
        cl_bio_method = m;
    else
        BIO_meth_free(m);
}

/* A BIO on fd for ssl (both directions); false on out of memory. */
static bool cl_bio_attach(SSL *ssl, int fd)
{
    pthread_once(&cl_bio_once, cl_bio_init);
    BIO *b = cl_bio_method != NULL ? BIO_new(cl_bio_method) : NULL;
    if (b == NULL)
        return false;
    BIO_set_data(b, (void *)(intptr_t)fd);
    BIO_set_init(b, 1);
    SSL_set_bio(ssl, b, b);
    return true;
}

/* ------------------------------------------------------------------ context and sessions */

static const unsigned char cl_tls_alpn[] = "\x08"
                                           "condd.v1";

/* The last queued OpenSSL error as text; clears the queue. */
static const char *cl_tls_last(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        snprintf(buf, len, "unknown error");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

struct ssl_ctx_st *cl_tls_ctx_new(const condd_options *opts, char *msg, size_t msglen)
{
    char why[256];
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(msg, msglen, "out of memory creating the TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    const char *ca = opts != NULL ? opts->tls_ca : NULL;
    const char *cert = opts != NULL ? opts->tls_cert : NULL;
    const char *key = opts != NULL && opts->tls_key != NULL ? opts->tls_key : cert;
    /* The system's reason (no such file, permission denied) says more than OpenSSL's. */
    const char *files[] = {ca, cert, opts != NULL ? opts->tls_key : NULL};
    const char *what[] = {"CA", "certificate", "key"};
    for (int i = 0; i < 3; i++) {
        if (files[i] != NULL && access(files[i], R_OK) != 0) {
            snprintf(msg, msglen, "cannot read the TLS %s file %s: %s", what[i], files[i],
                     strerror(errno));
            goto fail;
        }
    }
    if (ca != NULL ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1
                   : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        snprintf(msg, msglen, "TLS CA file %s: %s", ca != NULL ? ca : "(system store)",
                 cl_tls_last(why, sizeof why));
        goto fail;
    }
    if (cert != NULL && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(msg, msglen, "TLS certificate file %s: %s", cert, cl_tls_last(why, sizeof why));
        goto fail;
    }
    if (cert == NULL && opts != NULL && opts->tls_key != NULL) {
        snprintf(msg, msglen, "a TLS key file without a certificate file");
        goto fail;
    }
    if (cert != NULL && (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
                         SSL_CTX_check_private_key(ctx) != 1)) {
        snprintf(msg, msglen, "TLS key file %s: %s", key, cl_tls_last(why, sizeof why));
        goto fail;
    }
    if (SSL_CTX_set_alpn_protos(ctx, cl_tls_alpn, sizeof cl_tls_alpn - 1) != 0) {
        snprintf(msg, msglen, "out of memory creating the TLS context");
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void cl_tls_ctx_free(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}

struct ssl_st *cl_tls_session(struct ssl_ctx_st *ctx, const char *host, int fd)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
    if (!cl_bio_attach(ssl, fd)) {
        SSL_free(ssl);
        return NULL;
    }
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    int ok;
    if (is_ip) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    } else {
        /* SNI too, for a server that picks its certificate by name. */
        ok = SSL_set1_host(ssl, host) == 1 && SSL_set_tlsext_host_name(ssl, host) == 1;
    }
    if (ok != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    return ssl;
}

void cl_tls_session_free(struct ssl_st *ssl)
{
    SSL_free(ssl);
}

void cl_tls_error(struct bufferevent *bev, char *out, size_t outlen)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    unsigned long e = bufferevent_get_openssl_error(bev);
    char first[200] = "";
    if (e != 0)
        ERR_error_string_n(e, first, sizeof first);
    while (bufferevent_get_openssl_error(bev) != 0)
        ;
    long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (v != X509_V_OK)
        /* The most useful part: "certificate has expired", "hostname mismatch", ... */
        snprintf(out, outlen, "TLS handshake failed: the server's certificate: %s",
                 X509_verify_cert_error_string(v));
    else if (first[0] != '\0')
        snprintf(out, outlen, "TLS: %s", first);
    else
        out[0] = '\0';
}

void cl_tls_write_now(struct bufferevent *bev)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    size_t n = evbuffer_get_length(out);
    if (n == 0 || ssl == NULL || !SSL_is_init_finished(ssl))
        return;
    unsigned char *p = evbuffer_pullup(out, -1);
    size_t written = 0;
    if (p != NULL && SSL_write_ex(ssl, p, n, &written) == 1)
        evbuffer_drain(out, written);
    ERR_clear_error();
}
