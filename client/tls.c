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
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "internal.h"

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
    /* No read-ahead: libevent's bufferevent asks SSL_pending() what is left after a read, and
     * records read ahead but not yet decrypted would sit unseen until more data arrived. */
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

struct ssl_st *cl_tls_session(struct ssl_ctx_st *ctx, const char *host)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
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
