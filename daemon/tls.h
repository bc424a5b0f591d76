/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The daemon's TLS material (tls.c): the OpenSSL context its TLS listeners hand to every new
 * connection, built from the tls-cert, tls-key and tls-client-ca files, the version policy
 * (TLS 1.2 at least), ALPN "condd.v1", and the client-certificate subject in the one-line
 * RFC 2253 form that the auth file's `cert` principals name. OpenSSL types stay behind this
 * header: the rest of the daemon sees only struct tls_ctx.
 */
#ifndef CONDD_DAEMON_TLS_H
#define CONDD_DAEMON_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct settings;
struct ssl_st;

/* The longest client-certificate subject kept (longer ones are refused as principals). */
#define TLS_SUBJECT_MAX 512

/* A loaded certificate, key and optional client CA, shared by the connections made with it. */
struct tls_ctx;

/* Loads s's tls_cert, tls_key and tls_client_ca (borrowed). NULL with a one-line reason in
 * err (no key material in it) when a file is missing or bad, or the key does not match. */
struct tls_ctx *tls_ctx_load(const struct settings *s, char *err, size_t errlen);

/* Whether ctx's server certificate is valid now; if not (expired, or not yet valid), a one-line
 * reason with the date into why. The daemon serves it anyway (main.c warns): clients refuse it,
 * and a clock that is wrong is not condd's to judge. */
bool tls_ctx_valid_now(const struct tls_ctx *ctx, char *why, size_t whylen);

/* Drops the caller's reference; connections made with ctx keep theirs. NULL is ignored. */
void tls_ctx_free(struct tls_ctx *ctx);

/* A new server-side TLS session for a connection accepted with ctx, reading and writing fd
 * (borrowed: the caller closes it after tls_free_session()); NULL on out of memory. */
struct ssl_st *tls_new_session(struct tls_ctx *ctx, int fd);

/* Frees a session; NULL is ignored. It sends no close_notify: libcondd (libevent's OpenSSL
 * filter) reports the end that a close_notify brings before the data read with it, so an
 * answer written just before a close (an UNAUTHENTICATED refusal) was lost in one of three
 * check_tls runs; frames carry their own lengths, so a cut stream shows without it. Nor did the
 * daemon send one when its TLS went through that filter. */
void tls_free_session(struct ssl_st *ssl);

/* What one TLS call on a session came to. Every call that fails leaves the thread's OpenSSL
 * error queue empty, as every other OpenSSL use in the daemon does (tls_ctx_load,
 * tls_peer_subject): SSL_get_error() needs an empty queue before each I/O call, and clearing
 * it before every call cost ~840 instructions per read and per write (bench/RESULTS.md). */
enum tls_io {
    TLS_IO_DONE = 0,   /* the handshake finished, or the bytes moved */
    TLS_IO_WANT_READ,  /* the socket has nothing yet: call again once it is readable */
    TLS_IO_WANT_WRITE, /* the socket is full: call again once it is writable (a write: with
                        * the same bytes, which may have moved) */
    TLS_IO_CLOSED,     /* the peer closed (close_notify, or a bare TCP close) */
    TLS_IO_ERROR,      /* a fatal error (reason in why): the session is done */
};

/* One step of the server side of the handshake. why (caller's, whylen bytes) gets the reason
 * of an error or a close: the first OpenSSL error, or "connection closed during the
 * handshake"; no key material is ever in it. */
enum tls_io tls_handshake(struct ssl_st *ssl, char *why, size_t whylen);

/* One SSL_read into buf[0..cap): the plaintext of at most one record, *got bytes of it (0
 * unless TLS_IO_DONE). why as for tls_handshake(). */
enum tls_io tls_read(struct ssl_st *ssl, void *buf, size_t cap, size_t *got, char *why,
                     size_t whylen);

/* Is there input that OpenSSL has taken from the socket but not yet handed out (read ahead,
 * or the rest of a record)? The socket's readiness does not show it. */
bool tls_read_pending(struct ssl_st *ssl);

/* Gives ssl's record buffers (~33 KB) back to the allocator; OpenSSL allocates them again at
 * the next read or write. False (nothing freed) while a record is part-read or part-written. */
bool tls_release_buffers(struct ssl_st *ssl);

/* The most plaintext one record of ssl carries: 16 KiB, or the smaller maximum fragment length
 * the client negotiated (RFC 6066). conn.c cuts its output batches to this, so that a batch is
 * one record (see conn_tls_batch_end()). */
size_t tls_record_max(struct ssl_st *ssl);

/* One SSL_write of buf[0..len): TLS_IO_DONE once all its records are in the socket (never a
 * part: partial writes are off). After TLS_IO_WANT_WRITE OpenSSL holds a part of a record, and
 * the next call must pass the same len bytes (they may have moved). */
enum tls_io tls_write(struct ssl_st *ssl, const void *buf, size_t len, char *why, size_t whylen);

/* The verified client certificate's subject on ssl, RFC 2253 one-line form (as `openssl x509
 * -subject -nameopt RFC2253` prints it, e.g. "CN=worker-1,O=Example"), into out. False when
 * the client showed no certificate, it did not verify, or the subject does not fit. */
bool tls_peer_subject(struct ssl_st *ssl, char *out, size_t outlen);

#endif
