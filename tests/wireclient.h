/* SPDX-License-Identifier: BSD-2-Clause
 *
 * A minimal blocking client over the frame codec, for tests that speak the wire protocol
 * directly (no libcondd): send any Request, receive Responses in arrival order or by id,
 * and send raw bytes to provoke protocol errors.
 */
#ifndef CONDD_TESTS_WIRECLIENT_H
#define CONDD_TESTS_WIRECLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "condd.pb-c.h"

#define WC_STASH 1024

struct wc {
    int fd;
    uint8_t *buf;
    size_t len, cap;
    Condd__V1__Response *stash[WC_STASH]; /* received, not yet asked for */
    size_t nstash;
    uint64_t barriers; /* Pings sent by wc_nothing_before_ping() */
    uint64_t ack;      /* when not 0: put in every request's ack (protocol.md §5.6.2) */
};

/* Connects to 127.0.0.1:port. Returns NULL on failure. Free with wc_close(). */
struct wc *wc_connect(int port);
/* Connects to a Unix socket. */
struct wc *wc_connect_unix(const char *path);
void wc_close(struct wc *w);

bool wc_send(struct wc *w, const Condd__V1__Request *req);
bool wc_send_raw(struct wc *w, const void *bytes, size_t len);
/* For the tests' scripted servers: takes the first whole request frame off buf[0..*len) (the
 * rest moves to the front). 1 with *req set, 0 when no whole frame is there yet, -1 for a frame
 * that does not decode (left in buf). *req is freed with condd__v1__request__free_unpacked(). */
int wc_take_request(uint8_t *buf, size_t *len, Condd__V1__Request **req);

/* The next Response in arrival order (stashed ones first), or NULL on timeout/EOF/garbage.
 * Free with condd__v1__response__free_unpacked(r, NULL). */
Condd__V1__Response *wc_recv(struct wc *w, double timeout_s);
/* The Response with this id (others are stashed for later), or NULL. */
Condd__V1__Response *wc_recv_id(struct wc *w, uint64_t id, double timeout_s);
/* True if the server closed the connection within timeout_s (pending frames are discarded). */
bool wc_wait_closed(struct wc *w, double timeout_s);
/*
 * True if no frame reaches w before the answer to a Ping sent now on w: the proof that "nothing
 * happened" by a round trip instead of a short window. The server answers a connection's
 * requests in order and sends what earlier requests (of any connection) produced for w before
 * it, so a grant or wake-up that is due is seen first. Frames that arrived are kept for
 * wc_recv(). Returns false also when the Ping gets no answer within 10 s.
 */
bool wc_nothing_before_ping(struct wc *w);

/* Request helpers: each sends one request with the given id; timeout < 0 means none. */
bool wc_hello(struct wc *w, uint64_t id, uint32_t version, const char *name);
/* A Hello (version 1, client name name) asking for grace seconds of grace, resuming session
 * resume with secret[0..secret_len) when resume is not 0 (secret borrowed, may be NULL). */
bool wc_hello_resume(struct wc *w, uint64_t id, const char *name, double grace, uint64_t resume,
                     const uint8_t *secret, size_t secret_len);
bool wc_ping(struct wc *w, uint64_t id);
bool wc_acquire(struct wc *w, uint64_t id, const char *lock, uint64_t owner, double timeout);
bool wc_release(struct wc *w, uint64_t id, const char *lock, uint64_t owner);
bool wc_locked(struct wc *w, uint64_t id, const char *lock);
bool wc_wait(struct wc *w, uint64_t id, const char *cond, const char *lock, uint64_t owner,
             double timeout);
bool wc_notify(struct wc *w, uint64_t id, const char *cond, const char *lock, uint64_t owner,
               uint64_t n);
bool wc_notify_all(struct wc *w, uint64_t id, const char *cond, const char *lock, uint64_t owner);
bool wc_cancel(struct wc *w, uint64_t id, uint64_t target);
bool wc_stats(struct wc *w, uint64_t id);
bool wc_list(struct wc *w, uint64_t id, const char *prefix);

/* Connect + Hello + check the OK reply. NULL on any failure. */
struct wc *wc_session(int port, const char *name);

/* Sends a request, waits for its reply by id and returns its status (-1 if none came). */
int wc_status(struct wc *w, uint64_t id, double timeout_s);

#endif
