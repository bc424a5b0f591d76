/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The daemon's TLS material (see tls.h). One SSL_CTX per load: a SIGHUP builds a new one and
 * the server swaps it in, while open connections keep the context they were made with (each SSL
 * holds a reference), so a reload never touches them. Ciphers and groups are OpenSSL's (the
 * system's) defaults; only the minimum version is ours: TLS 1.2, TLS 1.3 preferred as OpenSSL
 * does by itself.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "settings.h"
#include "tls.h"

struct tls_ctx {
    SSL_CTX *ssl;
};

/* ALPN: "condd.v1" when the client offers a list; a list without it is refused, so that a
 * client of another protocol (h2, http/1.1) fails at the handshake. No list is fine. */
static const unsigned char tls_alpn[] = "\x08"
                                        "condd.v1";

static int tls_on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, tls_alpn, sizeof tls_alpn - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* The first queued OpenSSL error as text, and clears the queue. */
static void tls_last_error(char *out, size_t outlen)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        snprintf(out, outlen, "unknown error");
    else
        ERR_error_string_n(e, out, outlen);
    ERR_clear_error();
}

struct tls_ctx *tls_ctx_load(const struct settings *s, char *err, size_t errlen)
{
    char why[256];
    if (s->tls_cert == NULL || s->tls_key == NULL) {
        snprintf(err, errlen, "TLS listeners need both tls-cert and tls-key");
        return NULL;
    }
    ERR_clear_error();
    struct tls_ctx *ctx = calloc(1, sizeof *ctx);
    SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || ssl == NULL) {
        snprintf(err, errlen, "out of memory creating the TLS context");
        goto fail;
    }
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    /* Idle connections (the usual state of a session) give their record buffers back: about
     * 33 KB each. It costs a malloc and a free of each buffer per record, 5 % of the daemon's
     * instructions per TLS lock cycle (bench/RESULTS.md, Round 4), kept for the memory. */
    SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    /* No read-ahead: libevent's bufferevent asks SSL_pending() what is left after a read, and
     * records read ahead but not yet decrypted would sit unseen until more data arrived. */
    SSL_CTX_set_alpn_select_cb(ssl, tls_on_alpn, NULL);
    if (SSL_CTX_use_certificate_chain_file(ssl, s->tls_cert) != 1) {
        tls_last_error(why, sizeof why);
        snprintf(err, errlen, "tls-cert %s: %s", s->tls_cert, why);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ssl, s->tls_key, SSL_FILETYPE_PEM) != 1) {
        tls_last_error(why, sizeof why);
        snprintf(err, errlen, "tls-key %s: %s", s->tls_key, why);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ssl) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "tls-key %s does not match the certificate in %s", s->tls_key,
                 s->tls_cert);
        goto fail;
    }
    if (s->tls_client_ca != NULL) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->tls_client_ca);
        if (names == NULL || SSL_CTX_load_verify_locations(ssl, s->tls_client_ca, NULL) != 1) {
            if (names != NULL)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            tls_last_error(why, sizeof why);
            snprintf(err, errlen, "tls-client-ca %s: %s", s->tls_client_ca,
                     names == NULL ? "no CA certificate in it" : why);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ssl, names);
        SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    ctx->ssl = ssl;
    return ctx;
fail:
    SSL_CTX_free(ssl);
    free(ctx);
    return NULL;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

struct ssl_st *tls_new_session(struct tls_ctx *ctx)
{
    return SSL_new(ctx->ssl);
}

void tls_free_session(struct ssl_st *ssl)
{
    SSL_free(ssl);
}

void tls_bev_error(struct bufferevent *bev, char *out, size_t outlen)
{
    unsigned long e = bufferevent_get_openssl_error(bev);
    if (e == 0) {
        snprintf(out, outlen, "connection closed during the handshake");
        return;
    }
    ERR_error_string_n(e, out, outlen);
    while (bufferevent_get_openssl_error(bev) != 0)
        ; /* only the first reason is logged; drop the rest */
}

bool tls_peer_subject(struct ssl_st *ssl, char *out, size_t outlen)
{
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
        return false;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        return false;
    bool ok = false;
    if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
        char *data;
        long n = BIO_get_mem_data(bio, &data);
        if (n > 0 && (size_t)n < outlen && memchr(data, '\0', (size_t)n) == NULL) {
            memcpy(out, data, (size_t)n);
            out[n] = '\0';
            ok = true;
        }
    }
    BIO_free(bio);
    return ok;
}
