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
struct bufferevent;

/* The longest client-certificate subject kept (longer ones are refused as principals). */
#define TLS_SUBJECT_MAX 512

/* A loaded certificate, key and optional client CA, shared by the connections made with it. */
struct tls_ctx;

/* Loads s's tls_cert, tls_key and tls_client_ca (borrowed). NULL with a one-line reason in
 * err (no key material in it) when a file is missing or bad, or the key does not match. */
struct tls_ctx *tls_ctx_load(const struct settings *s, char *err, size_t errlen);

/* Drops the caller's reference; connections made with ctx keep theirs. NULL is ignored. */
void tls_ctx_free(struct tls_ctx *ctx);

/* A new server-side TLS session for a connection accepted with ctx; NULL on out of memory.
 * The bufferevent made over it takes it over (BEV_OPT_CLOSE_ON_FREE). */
struct ssl_st *tls_new_session(struct tls_ctx *ctx);

/* Frees a session that no bufferevent took over; NULL is ignored. */
void tls_free_session(struct ssl_st *ssl);

/* Writes the OpenSSL errors queued for bev (the reason a handshake failed) as one line into
 * out, or "connection closed during the handshake" when there are none. */
void tls_bev_error(struct bufferevent *bev, char *out, size_t outlen);

/* The verified client certificate's subject on ssl, RFC 2253 one-line form (as `openssl x509
 * -subject -nameopt RFC2253` prints it, e.g. "CN=worker-1,O=Example"), into out. False when
 * the client showed no certificate, it did not verify, or the subject does not fit. */
bool tls_peer_subject(struct ssl_st *ssl, char *out, size_t outlen);

#endif
