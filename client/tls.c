/* SPDX-License-Identifier: BSD-2-Clause
 *
 * libcondd's TLS (tls: addresses): the client context built from the options (CA file or the
 * system's store, optional client certificate and key, TLS 1.2 at least, ALPN "condd.v1"), the
 * per-connection session that checks the server's name, and the handshake, read and write
 * steps conn.c drives on its own socket events (as daemon/tls.c does for the server), with
 * their error texts. No OpenSSL type reaches the public headers.
 *
 * The session reads and writes the socket through a small BIO of our own rather than OpenSSL's
 * socket BIO (SSL_set_fd), which writes with write(2): a server gone away would raise SIGPIPE
 * in the application, whose signal dispositions a library must not assume nor change. Ours
 * sends with send(MSG_NOSIGNAL), as the plaintext path does, and is otherwise the same (one
 * recv(2) or send(2) per call, retry flags on EAGAIN).
 *
 * OpenSSL's error queue: every call here that fails leaves the thread's queue empty (and the
 * context setup clears it on failure), so SSL_get_error() can trust it without an
 * ERR_clear_error() before each read and write, which libevent's filter paid (bench/RESULTS.md,
 * Round 4). An application that leaves errors of its own in the queue is guarded by one
 * ERR_peek_error() before each I/O call, cheap next to a clear.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
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
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    if (e == 0)
        snprintf(buf, len, "unknown error");
    else if (reason != NULL) /* "PEM lib", not "error:0A080009:SSL routines::PEM lib" */
        snprintf(buf, len, "%s", reason);
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

/* What OpenSSL's error e means for a condd client, in words (NULL: nothing to add to its own
 * reason string). The common mistakes: no client certificate or one the server does not trust,
 * and a tls: address at a plaintext port. */
static const char *cl_tls_words(unsigned long e)
{
    if (ERR_GET_LIB(e) != ERR_LIB_SSL)
        return NULL;
    switch (ERR_GET_REASON(e)) {
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return "the server requires a client certificate, and none was given "
               "(condd_options_set_tls_cert())";
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
        return "the server refused the client certificate";
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
        return "the server did not answer in TLS (a plaintext port? drop tls: from the "
               "address)";
    case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
    case SSL_R_NO_APPLICATION_PROTOCOL:
        return "the server does not offer condd's protocol over TLS (ALPN)";
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_UNSUPPORTED_PROTOCOL:
        return "no TLS version in common (libcondd needs TLS 1.2 or later)";
    default:
        return NULL;
    }
}

/* The passphrase callback of the key load: no passphrase. Without one, OpenSSL would ask for it
 * on the application's terminal (blocking it) or print its prompt to the application's stderr.
 * asked (a bool, or NULL) learns that the key wanted one: it is encrypted. */
static int cl_tls_no_passphrase(char *buf, int size, int rwflag, void *asked)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    if (asked != NULL)
        *(bool *)asked = true;
    return 0;
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
    /* conn.c keeps a batch in its output buffer until SSL_write() has put all of it in the
     * socket, and that buffer may move (realloc, or written frames dropped) before a write
     * that wanted more room is retried. Partial writes stay off: a write is done when all its
     * records are out. Read-ahead: one recv(2) takes what the socket has (a record's header
     * and body, or several records); conn.c asks cl_tls_pending() for what was read ahead. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
    /* No renegotiation, so a read never has to write nor a write to read. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
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
    if (cert != NULL) {
        bool asked = false;
        SSL_CTX_set_default_passwd_cb(ctx, cl_tls_no_passphrase);
        SSL_CTX_set_default_passwd_cb_userdata(ctx, &asked);
        int key_ok = SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM);
        SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL); /* asked goes out of scope */
        if (key_ok != 1 && asked) {
            ERR_clear_error();
            snprintf(msg, msglen,
                     "TLS key file %s is encrypted (a passphrase-protected key); libcondd "
                     "needs an unencrypted key",
                     key);
            goto fail;
        }
        /* A key, but not the certificate's (OpenSSL checks as it loads it): said below. */
        unsigned long kerr = ERR_peek_last_error();
        bool mismatch = key_ok != 1 && ERR_GET_LIB(kerr) == ERR_LIB_X509 &&
                        ERR_GET_REASON(kerr) == X509_R_KEY_VALUES_MISMATCH;
        if (key_ok != 1 && !mismatch) {
            /* The documented default puts the key in the certificate's file: say which file
             * was searched and how to name another. */
            snprintf(msg, msglen, "no private key found in %s%s (OpenSSL: %s)", key,
                     opts->tls_key == NULL ? ", the certificate's file, where the key is looked "
                                             "for when no key file is set"
                                           : "",
                     cl_tls_last(why, sizeof why));
            goto fail;
        }
        if (mismatch || SSL_CTX_check_private_key(ctx) != 1) {
            snprintf(msg, msglen,
                     "the private key in %s does not match the certificate in %s (OpenSSL: %s)",
                     key, cert, cl_tls_last(why, sizeof why));
            goto fail;
        }
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

/* ------------------------------------------------------------------ the socket BIO */

/* The socket is the BIO's data (an int in the pointer); conn.c closes it. */
static int cl_bio_fd(BIO *b)
{
    return (int)(intptr_t)BIO_get_data(b);
}

static int cl_bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
    BIO_clear_retry_flags(b);
    ssize_t n = send(cl_bio_fd(b), data, len, MSG_NOSIGNAL);
    if (n >= 0) {
        *written = (size_t)n;
        return 1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        BIO_set_retry_write(b);
    return 0; /* errno says why: SSL_ERROR_SYSCALL */
}

static int cl_bio_read(BIO *b, char *buf, size_t len, size_t *got)
{
    BIO_clear_retry_flags(b);
    ssize_t n = recv(cl_bio_fd(b), buf, len, 0);
    if (n > 0) {
        *got = (size_t)n;
        return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(b);
    /* End of file (n == 0, errno left 0 by cl_tls_io's callers): SSL_ERROR_SYSCALL with an
     * empty queue, which cl_tls_result() reports as the peer's close. */
    return 0;
}

static long cl_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    /* A flush has nothing to do (no buffering here); nothing else is supported. */
    return cmd == BIO_CTRL_FLUSH || cmd == BIO_CTRL_DUP ? 1 : 0;
}

static BIO_METHOD *cl_bio_method;
static pthread_once_t cl_bio_once = PTHREAD_ONCE_INIT;

/* Made once per process and never freed (one small allocation, reachable from here). */
static void cl_bio_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "condd socket");
    if (m != NULL &&
        (BIO_meth_set_write_ex(m, cl_bio_write) != 1 || BIO_meth_set_read_ex(m, cl_bio_read) != 1 ||
         BIO_meth_set_ctrl(m, cl_bio_ctrl) != 1)) {
        BIO_meth_free(m);
        m = NULL;
    }
    cl_bio_method = m;
}

/* ------------------------------------------------------------------ sessions */

struct ssl_st *cl_tls_session(struct ssl_ctx_st *ctx, const char *host, int fd)
{
    pthread_once(&cl_bio_once, cl_bio_method_init);
    if (cl_bio_method == NULL) {
        ERR_clear_error();
        return NULL;
    }
    SSL *ssl = SSL_new(ctx);
    BIO *bio = BIO_new(cl_bio_method);
    if (ssl == NULL || bio == NULL)
        goto fail;
    BIO_set_data(bio, (void *)(intptr_t)fd);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl, bio, bio); /* ssl owns bio from here */
    bio = NULL;
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    int ok;
    if (is_ip) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    } else {
        /* SNI too, for a server that picks its certificate by name. */
        ok = SSL_set1_host(ssl, host) == 1 && SSL_set_tlsext_host_name(ssl, host) == 1;
    }
    if (ok != 1)
        goto fail;
    SSL_set_connect_state(ssl);
    return ssl;
fail:
    BIO_free(bio);
    SSL_free(ssl);
    ERR_clear_error();
    return NULL;
}

void cl_tls_session_free(struct ssl_st *ssl)
{
    /* No close_notify: the Goodbye frame (or its absence, for a resume) says what the end
     * means, and the daemon sends none either (daemon/tls.h, tls_free_session). */
    SSL_free(ssl);
}

/* ------------------------------------------------------------------ I/O steps */

/* What a call that returned ret came to (errno as the call left it, in err); on an error or a
 * close its reason into why, and the error queue emptied. */
static enum cl_tls_io cl_tls_result(SSL *ssl, int ret, int err, char *why, size_t whylen)
{
    switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return CL_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return CL_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        snprintf(why, whylen, "the server closed the connection");
        ERR_clear_error();
        return CL_TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            snprintf(why, whylen, "%s",
                     err == 0 ? "the server closed the connection" : strerror(err));
            return err == 0 ? CL_TLS_CLOSED : CL_TLS_SOCKET;
        }
        break;
    default:
        break;
    }
    long v = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_error();
    if (v != X509_V_OK)
        /* The most useful part: "certificate has expired", "hostname mismatch", ... */
        snprintf(why, whylen, "TLS handshake failed: the server's certificate: %s",
                 X509_verify_cert_error_string(v));
    else if (e != 0) {
        /* In words first, then OpenSSL's own reason ("tlsv13 alert certificate required"). */
        const char *stage = SSL_is_init_finished(ssl) ? "TLS error" : "TLS handshake failed";
        const char *words = cl_tls_words(e), *reason = ERR_reason_error_string(e);
        char first[200];
        if (reason == NULL) {
            ERR_error_string_n(e, first, sizeof first);
            reason = first;
        }
        if (words != NULL)
            snprintf(why, whylen, "%s: %s (OpenSSL: %s)", stage, words, reason);
        else
            snprintf(why, whylen, "%s: %s", stage, reason);
    } else {
        snprintf(why, whylen, "%s",
                 SSL_is_init_finished(ssl) ? "TLS error" : "TLS handshake failed");
    }
    ERR_clear_error();
    return CL_TLS_ERROR;
}

/* Keeps SSL_get_error() reliable if the application left errors of its own in the queue
 * (see the header comment): one peek, a clear only then. */
static inline void cl_tls_guard(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

enum cl_tls_io cl_tls_handshake(struct ssl_st *ssl, char *why, size_t whylen)
{
    cl_tls_guard();
    errno = 0;
    int ret = SSL_do_handshake(ssl);
    return ret == 1 ? CL_TLS_DONE : cl_tls_result(ssl, ret, errno, why, whylen);
}

enum cl_tls_io cl_tls_read(struct ssl_st *ssl, void *buf, size_t cap, size_t *got, char *why,
                           size_t whylen)
{
    cl_tls_guard();
    errno = 0;
    *got = 0;
    int ret = SSL_read_ex(ssl, buf, cap, got);
    return ret == 1 ? CL_TLS_DONE : cl_tls_result(ssl, ret, errno, why, whylen);
}

bool cl_tls_pending(struct ssl_st *ssl)
{
    return SSL_has_pending(ssl) != 0;
}

enum cl_tls_io cl_tls_write(struct ssl_st *ssl, const void *buf, size_t len, char *why,
                            size_t whylen)
{
    cl_tls_guard();
    errno = 0;
    size_t done = 0;
    int ret = SSL_write_ex(ssl, buf, len, &done);
    if (ret == 1)
        return CL_TLS_DONE;
    enum cl_tls_io r = cl_tls_result(ssl, ret, errno, why, whylen);
    if (r == CL_TLS_WANT_READ) { /* cannot happen without renegotiation; never wait for it */
        snprintf(why, whylen, "TLS write waiting for a read");
        r = CL_TLS_ERROR;
    }
    return r;
}
