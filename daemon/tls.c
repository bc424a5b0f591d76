/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The daemon's TLS material (see tls.h). One SSL_CTX per load: a SIGHUP builds a new one and
 * the server swaps it in, while open connections keep the context they were made with (each SSL
 * holds a reference), so a reload never touches them. Ciphers and groups are OpenSSL's (the
 * system's) defaults; only the minimum version is ours: TLS 1.2, TLS 1.3 preferred as OpenSSL
 * does by itself. It also wraps the few OpenSSL calls conn.c makes on a connection's socket
 * (handshake, read, write), mapping SSL_get_error() onto enum tls_io.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* Before 3.0.14 (3.1.6, 3.2.2, 3.3.1), SSL_free_buffers() could free a read buffer that still
 * held a record's header or an unread part of a record (CVE-2024-4741): a peer that sends half a
 * record and waits for the sweep would make the daemon read freed memory. A distribution that
 * backported the fix without a newer version number only loses the saving. */
static bool tls_free_buffers_safe(void)
{
    unsigned long v = OpenSSL_version_num(); /* 0xMNN00PP0L */
    unsigned long major = v >> 28, minor = (v >> 20) & 0xff, patch = (v >> 4) & 0xff;
    if (major != 3)
        return major > 3;
    switch (minor) {
    case 0:
        return patch >= 14;
    case 1:
        return patch >= 6;
    case 2:
        return patch >= 2;
    case 3:
        return patch >= 1;
    default:
        return true;
    }
}

/* The passphrase callback of every key load: no passphrase, ever. Without one, OpenSSL asks for
 * it on the controlling terminal (blocking the event loop at a SIGHUP until someone types) or,
 * without a terminal, prints its prompt and fails with a bare "PEM lib". asked (a bool, or NULL)
 * learns that the key wanted one: it is encrypted. */
static int tls_no_passphrase(char *buf, int size, int rwflag, void *asked)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    if (asked != NULL)
        *(bool *)asked = true;
    return 0;
}

/* Whether the first queued OpenSSL error is a PEM one (a file without the BEGIN line, or whose
 * base64 or structure is bad), which OpenSSL words as "PEM lib" or "no start line". */
static bool tls_pem_error(void)
{
    unsigned long first = ERR_peek_error(), last = ERR_peek_last_error();
    return ERR_GET_LIB(first) == ERR_LIB_PEM || ERR_GET_REASON(first) == ERR_R_PEM_LIB ||
           ERR_GET_REASON(last) == ERR_R_PEM_LIB;
}

/* Whether the file of setting key can be opened for reading; if not, the system's reason
 * ("tls-cert: cannot read PATH: No such file or directory") into err: OpenSSL would only say
 * "system lib". */
static bool tls_readable(const char *key, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    int e = fd < 0 ? errno : fstat(fd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (fd >= 0)
        close(fd);
    if (e != 0)
        snprintf(err, errlen, "%s: cannot read %s: %s", key, path, strerror(e));
    return e == 0;
}

struct tls_ctx *tls_ctx_load(const struct settings *s, char *err, size_t errlen)
{
    char why[256];
    if (s->tls_cert == NULL || s->tls_key == NULL) {
        snprintf(err, errlen, "TLS listeners need both tls-cert and tls-key");
        return NULL;
    }
    if (!tls_readable("tls-cert", s->tls_cert, err, errlen) ||
        !tls_readable("tls-key", s->tls_key, err, errlen) ||
        (s->tls_client_ca != NULL && !tls_readable("tls-client-ca", s->tls_client_ca, err, errlen)))
        return NULL;
    ERR_clear_error();
    struct tls_ctx *ctx = calloc(1, sizeof *ctx);
    SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || ssl == NULL) {
        snprintf(err, errlen, "out of memory creating the TLS context");
        goto fail;
    }
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    /* SSL_MODE_RELEASE_BUFFERS frees and allocates the ~33 KB of record buffers around every
     * record, 5 % of the daemon's instructions per TLS lock cycle (bench/RESULTS.md, Round 4).
     * Idle connections (the usual state of a session) give them back instead through
     * tls_release_buffers(), called by the server's once-a-second sweep (conn.c); with an
     * OpenSSL where that is unsafe, the mode as before. */
    if (!tls_free_buffers_safe())
        SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    /* conn.c keeps a batch in its output buffer until it is written, and that buffer may be
     * moved (realloc, or the sent frames dropped) before a write that wanted more room is
     * retried. Partial writes stay off: a write is done when all its records are out. */
    SSL_CTX_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Read-ahead: one read(2) takes what the socket has (a record's header and body, or several
     * records) rather than a read for the header and one for the body; conn.c asks
     * tls_read_pending() for what was read ahead but not yet handed out. */
    SSL_CTX_set_read_ahead(ssl, 1);
    /* No renegotiation, so a read never has to write nor a write to read (TLS 1.2; 1.3 has
     * none), and a bare TCP close is an end like close_notify (the peer may be a process
     * that died: its session waits for a resume either way). */
    SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_alpn_select_cb(ssl, tls_on_alpn, NULL);
    if (SSL_CTX_use_certificate_chain_file(ssl, s->tls_cert) != 1) {
        bool pem = tls_pem_error();
        tls_last_error(why, sizeof why);
        snprintf(err, errlen, "tls-cert %s: %s", s->tls_cert,
                 pem ? "no certificate could be read from it (PEM expected)" : why);
        goto fail;
    }
    bool asked = false;
    SSL_CTX_set_default_passwd_cb(ssl, tls_no_passphrase);
    SSL_CTX_set_default_passwd_cb_userdata(ssl, &asked);
    int key_ok = SSL_CTX_use_PrivateKey_file(ssl, s->tls_key, SSL_FILETYPE_PEM);
    SSL_CTX_set_default_passwd_cb_userdata(ssl, NULL); /* asked goes out of scope */
    if (key_ok != 1) {
        /* OpenSSL checks the pair itself here: say it as SSL_CTX_check_private_key() below. */
        bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
        bool pem = tls_pem_error();
        tls_last_error(why, sizeof why);
        if (mismatch)
            snprintf(err, errlen, "tls-key %s does not match the certificate in %s", s->tls_key,
                     s->tls_cert);
        else if (asked)
            snprintf(err, errlen,
                     "tls-key %s is encrypted (a passphrase-protected key); condd needs an "
                     "unencrypted key (openssl pkey -in KEY -out NEW.key writes one)",
                     s->tls_key);
        else
            snprintf(err, errlen, "tls-key %s: %s", s->tls_key,
                     pem ? "no private key could be read from it (PEM expected)" : why);
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
    ERR_clear_error(); /* the queue is empty between calls (tls.h, enum tls_io) */
    return ctx;
fail:
    SSL_CTX_free(ssl);
    free(ctx);
    return NULL;
}

/* t as "2026-11-30 14:00:00 UTC" into out; "?" when OpenSSL cannot read it. */
static void tls_format_time(const ASN1_TIME *t, char *out, size_t outlen)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
        strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, outlen, "?");
    ERR_clear_error();
}

bool tls_ctx_valid_now(const struct tls_ctx *ctx, char *why, size_t whylen)
{
    X509 *cert = SSL_CTX_get0_certificate(ctx->ssl);
    if (cert == NULL)
        return true;
    char when[64];
    const ASN1_TIME *after = X509_get0_notAfter(cert), *before = X509_get0_notBefore(cert);
    bool ok = true;
    if (X509_cmp_current_time(after) < 0) {
        tls_format_time(after, when, sizeof when);
        snprintf(why, whylen, "expired on %s", when);
        ok = false;
    } else if (X509_cmp_current_time(before) > 0) {
        tls_format_time(before, when, sizeof when);
        snprintf(why, whylen, "is not valid before %s", when);
        ok = false;
    }
    ERR_clear_error();
    return ok;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

struct ssl_st *tls_new_session(struct tls_ctx *ctx, int fd)
{
    SSL *ssl = SSL_new(ctx->ssl);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error(); /* the queue is empty between calls (tls.h, enum tls_io) */
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

void tls_free_session(struct ssl_st *ssl)
{
    SSL_free(ssl);
}

/* What a call that returned ret came to; on an error or a close, its reason into why, and the
 * error queue emptied. */
static enum tls_io tls_result(SSL *ssl, int ret, char *why, size_t whylen)
{
    int saved = errno;
    switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return TLS_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TLS_IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        snprintf(why, whylen, "peer closed");
        ERR_clear_error();
        return TLS_IO_CLOSED;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            snprintf(why, whylen, "%s", saved != 0 ? strerror(saved) : "peer closed");
            return saved != 0 ? TLS_IO_ERROR : TLS_IO_CLOSED;
        }
        break;
    default:
        break;
    }
    unsigned long e = ERR_peek_error();
    if (e != 0)
        ERR_error_string_n(e, why, whylen);
    else
        snprintf(why, whylen, "TLS error");
    ERR_clear_error();
    return TLS_IO_ERROR;
}

enum tls_io tls_handshake(struct ssl_st *ssl, char *why, size_t whylen)
{
    errno = 0;
    int ret = SSL_do_handshake(ssl);
    if (ret == 1)
        return TLS_IO_DONE;
    enum tls_io r = tls_result(ssl, ret, why, whylen);
    if (r == TLS_IO_CLOSED)
        snprintf(why, whylen, "connection closed during the handshake");
    return r;
}

enum tls_io tls_read(struct ssl_st *ssl, void *buf, size_t cap, size_t *got, char *why,
                     size_t whylen)
{
    errno = 0;
    *got = 0;
    int ret = SSL_read_ex(ssl, buf, cap, got);
    return ret == 1 ? TLS_IO_DONE : tls_result(ssl, ret, why, whylen);
}

bool tls_read_pending(struct ssl_st *ssl)
{
    return SSL_has_pending(ssl) != 0;
}

bool tls_release_buffers(struct ssl_st *ssl)
{
    /* Refuses (0) while a record is part-read or part-written: those bytes live there. */
    return tls_free_buffers_safe() && SSL_free_buffers(ssl) == 1;
}

size_t tls_record_max(struct ssl_st *ssl)
{
    SSL_SESSION *sess = SSL_get_session(ssl);
    uint8_t mfl = sess != NULL ? SSL_SESSION_get_max_fragment_length(sess)
                               : TLSEXT_max_fragment_length_DISABLED;
    if (mfl >= TLSEXT_max_fragment_length_512 && mfl <= TLSEXT_max_fragment_length_4096)
        return (size_t)512 << (mfl - TLSEXT_max_fragment_length_512); /* 512 .. 4096 */
    return SSL3_RT_MAX_PLAIN_LENGTH;
}

enum tls_io tls_write(struct ssl_st *ssl, const void *buf, size_t len, char *why, size_t whylen)
{
    errno = 0;
    size_t done = 0;
    int ret = SSL_write_ex(ssl, buf, len, &done);
    if (ret == 1)
        return TLS_IO_DONE;
    enum tls_io r = tls_result(ssl, ret, why, whylen);
    if (r == TLS_IO_WANT_READ) { /* cannot happen without renegotiation; never wait for it */
        snprintf(why, whylen, "TLS write waiting for a read");
        r = TLS_IO_ERROR;
    }
    return r;
}

bool tls_peer_subject(struct ssl_st *ssl, char *out, size_t outlen)
{
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
        return false;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        ERR_clear_error();
        return false;
    }
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
    ERR_clear_error(); /* once per connection: keep the queue empty (enum tls_io) */
    return ok;
}
