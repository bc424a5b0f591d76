/* SPDX-License-Identifier: BSD-2-Clause
 *
 * What the server, its connections and the request dispatcher share inside the daemon: the
 * server and connection structs. Nothing outside server.c, conn.c, dispatch*.c, resume.c and
 * snapshot.c (the live restart's state) includes this.
 */
#ifndef CONDD_DAEMON_SERVER_INTERNAL_H
#define CONDD_DAEMON_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "auth.h"
#include "condd.pb-c.h"
#include "engine.h"
#include "resume.h"
#include "server.h"
#include "settings.h"
#include "stats.h"
#include "tls.h"

struct auth_db;
struct ssl_st;
struct event;
struct evconnlistener;
struct esession;

#define SERVER_MAX_LISTENERS 32
/* Frames handled per read event before yielding to other connections. */
#define CONN_FRAME_BUDGET 64
/* Bytes read per read(2) into the server's shared read buffer. */
#define CONN_READ_CHUNK 65536
/* An output buffer larger than this is freed once it has been written out, so that idle
 * connections hold little memory; smaller ones are kept for the next replies. */
#define CONN_OUTPUT_KEEP 16384
#define CONN_OUTPUT_MIN 512
/* Stop reading from a client whose unsent replies exceed this, until it reads them. */
#define CONN_OUTPUT_HIGH_WATER (4u * 1024 * 1024)
#define CONN_CLIENT_NAME_MAX 128

enum conn_state {
    CONN_AWAIT_HELLO, /* connected; only Hello is accepted */
    CONN_ACTIVE,      /* session established */
    CONN_CLOSED,      /* torn down; memory freed when the last callback using it returns */
    CONN_BUFFERING,   /* a stand-in on the stack: encodes answers for a detached session */
};

struct conn {
    struct server *srv;
    TAILQ_ENTRY(conn) link;       /* in srv->conns */
    TAILQ_ENTRY(conn) dirty_link; /* in srv->dirty while it has output to flush */
    int fd;
    bool is_unix;
    enum conn_state state;
    bool dirty;
    bool write_armed;
    bool read_paused;
    int busy; /* callbacks on the stack that use this conn; defers the free */
    struct event *rd;
    struct event *wr;
    struct event *timer; /* session (and Hello) timeout */
    /* Input not yet handled: a partial frame, or whole frames left when the budget ran out.
     * Usually empty (and unallocated): complete frames are handled straight from the server's
     * shared read buffer. */
    uint8_t *ibuf;
    size_t ilen, icap;
    /* Encoded replies not yet written: bytes [ooff, olen) of obuf. ostart <= ooff is the start
     * of a frame, so that whole unsent frames can be kept when the session detaches. */
    uint8_t *obuf;
    size_t ooff, olen, ocap, ostart;
    struct dsession *ds;   /* the session (resume.c); NULL before Hello */
    bool no_detach;        /* closing for a reason that ends the session whatever its grace */
    bool half_closed;      /* live restart: our side shut down, still reading (conn_half_close) */
    bool buffer_failed;    /* CONN_BUFFERING: out of memory while encoding */
    struct esession *sess; /* ds->sess, kept here for the dispatchers */
    uint64_t session_id;
    double session_timeout;
    double last_rx; /* monotonic seconds of the last frame received */
    char peer[64];
    char client_name[CONN_CLIENT_NAME_MAX];
    /* Unix socket peers: the credentials the kernel gave (SO_PEERCRED) at accept. */
    bool has_peercred;
    uid_t peer_uid;
    gid_t peer_gid;
    /* Who Hello proved this client to be (auth file principal); "" for anonymous. Kept by name,
     * not by pointer, so that a reload of the auth file re-checks it at the next request. */
    char principal[AUTH_PRINCIPAL_MAX + 1];
    /* Authentication failed: input is no longer read, and the timer answers refused_id with
     * UNAUTHENTICATED and closes once --auth-fail-delay has passed. */
    bool refused;
    uint64_t refused_id;
    const char *refused_why; /* static text */
    /* TLS connections: the OpenSSL session, reading and writing fd itself on the same rd and
     * wr events as plaintext (conn.c explains why). Owned (tls_free_session); NULL for
     * plaintext. While a write of the batch [ostart, ooff) of obuf waits for the socket, it
     * must be retried with those same bytes. */
    struct ssl_st *ssl;
    bool handshaking;                   /* TLS handshake not finished: no frame read yet */
    bool in_handshakes;                 /* counted in srv->nhandshakes (conn_handshake_end()) */
    bool tls_failed;                    /* a fatal TLS error: nothing more is written */
    bool tls_again;                     /* read again without waiting for the socket */
    bool tls_read_wants_write;          /* a read waits for the socket to take an alert */
    char cert_subject[TLS_SUBJECT_MAX]; /* verified client certificate's subject, or "" */
    /* The idle sweep (conn_tls_sweep()): read or written since its last turn; and may hold
     * record buffers (I/O since they were last given back). */
    bool tls_active;
    bool tls_buffers_held;
};

struct server_listener {
    struct evconnlistener *lev;
    bool is_unix;
    bool tls;          /* connections speak TLS (srv->tls) */
    int port;          /* TCP: bound port */
    char *unlink_path; /* Unix socket file we created (removed on close) */
    /* What the configuration calls it ("tcp:ADDR", "tls:ADDR", "unix:PATH"; "fd" for a socket
     * from systemd's socket activation): a live restart passes it with the socket so that the
     * successor can match it to its own configuration (restart.c). Owned. */
    char *label;
};

/* The log line of one kind of refused connection, at most one a second: a flood of refused
 * connects wrote 43,000 lines in 6 s. The first refusal after a quiet second is logged at once
 * with its peer; later ones are counted, and a timer logs the last of them with their number a
 * second after the previous line. Each line says "(N more refused in the last second)" for the
 * refusals it stands for besides its own, so the lines add up to the exact count. */
struct server_refusals {
    struct server *srv;
    bool handshakes;    /* --max-handshakes; else --max-connections */
    double last;        /* server_now() of the last line; < 0: none yet */
    uint64_t pending;   /* refusals not logged yet */
    char peer[64];      /* the last of them */
    struct event *tick; /* logs the pending ones a second after the last line */
};

/* A listening socket handed over by the predecessor (live restart) or systemd's fd store, not
 * yet claimed by a configured address. */
struct server_inherited {
    int fd;      /* -1 once claimed */
    char *label; /* owned */
};

struct server {
    struct event_base *base;
    struct auth_db *auth; /* NULL: no --auth-file, every client may do everything */
    struct tls_ctx *tls;  /* certificate and key for new TLS connections; NULL: none */
    struct settings settings;
    struct cluster *cluster; /* --cluster (cluster.c); NULL: every name is served here */
    struct engine *engine;
    struct stats stats;
    struct server_listener listeners[SERVER_MAX_LISTENERS];
    int nlisteners;
    struct server_inherited inherited[SERVER_MAX_LISTENERS];
    int ninherited;
    struct event *relisten;  /* re-enables listeners after accept() ran out of fds */
    struct event *tls_sweep; /* gives idle TLS connections' buffers back (conn_tls_sweep()) */
    TAILQ_HEAD(, conn) conns;
    TAILQ_HEAD(, conn) dirty;
    struct event *flush_ev;
    unsigned nconns;
    unsigned nhandshakes; /* TLS connections in their handshake (in nconns too) */
    struct server_refusals refused_conns, refused_handshakes;
    uint64_t nsessions;
    uint64_t next_session_id;
    struct table *by_id; /* every session, by id (resume.c) */
    TAILQ_HEAD(, dsession) detached;
    uint64_t ndetached;
    double started; /* monotonic seconds */
    double started_wall;
    bool shutting_down;
    struct arena arena; /* scratch memory for unpacking one request, over arena_buf */
    _Alignas(16) unsigned char arena_buf[64 * 1024];
    uint8_t rbuf[CONN_READ_CHUNK]; /* every read(2) lands here first */
    ProtobufCAllocator unpack_alloc;
};

/* Monotonic seconds (coarse clock: cheap, millisecond resolution is plenty for timeouts). */
double server_now(void);
/* How many TLS connections may be in their handshake at once: --max-handshakes, or half of
 * --max-connections (at least 1). */
unsigned server_handshake_cap(const struct server *srv);

/* ---- conn.c */
/* Takes fd (a connected, non-blocking socket); NULL (fd closed) on OOM. */
struct conn *conn_new(struct server *srv, int fd, bool is_unix, const char *peer);
/* The same for a socket accepted on a TLS listener: the handshake (with srv->tls) comes first,
 * within --tls-handshake-timeout. NULL (fd closed) on OOM. */
struct conn *conn_new_tls(struct server *srv, int fd, const char *peer);
/* Tears the connection down: its session ends (locks handed on), fd closed. Idempotent. */
void conn_close(struct conn *c, const char *why);
/* Queues one response frame for c and schedules the loop-wide flush. */
void conn_send(struct conn *c, const ProtobufCMessage *msg);
/* Sends a final error (id, status, message), writes what it can at once, and closes. */
void conn_fail(struct conn *c, uint64_t id, int status, const char *message);
/* Writes c's queued output now; arms the write event for what the socket did not take. */
void conn_flush(struct conn *c);
/* Authentication failed: stop reading, and after --auth-fail-delay answer id with
 * UNAUTHENTICATED (why, a static string) and close. */
void conn_refuse(struct conn *c, uint64_t id, const char *why);
/* Queues the whole encoded frames buf[0..len) (kept answers of a resumed session). */
void conn_send_raw(struct conn *c, const uint8_t *buf, size_t len);
/* Goodbye: writes what it can of the queued answers and closes, ending the session. */
void conn_goodbye(struct conn *c);
/* Handles every request already readable on c's socket, without the per-turn budget, then
 * closes c as a dropped connection (a live restart: a request read is answered, or its answer
 * kept for the resume, never lost). c may be freed on return. */
void conn_drain_close(struct conn *c, const char *why);
/* Live restart, first step: handles what is readable, then shuts down the sending side (the
 * client sees the end of the stream and reconnects) and goes on reading until the client closes
 * its side, so that a request written before it noticed is not lost. Nothing more is written:
 * answers stay queued, and are kept when the connection closes. TLS connections are closed at
 * once. c may be freed on return. */
void conn_half_close(struct conn *c);
/* The TLS buffer sweep, once a second on srv->tls_sweep while TLS connections exist (conn_new_tls()
 * starts it): gives back the record buffers of every TLS connection with no I/O since the sweep
 * before. True while TLS connections remain (the timer runs again). */
#define CONN_TLS_SWEEP_SECONDS 1
bool conn_tls_sweep(struct server *srv);
/* The whole frames of c's output not yet written (from the start of a frame written in part):
 * what a detach keeps for the resume. Borrowed from c, valid until its next output; NULL when
 * *len is 0. */
const uint8_t *conn_unsent_frames(struct conn *c, size_t *len);
/* Hello succeeded: arm the session timer for the session's own timeout. */
void conn_session_started(struct conn *c);
/* The engine's late-reply callback (ctx is the struct dsession). */
void conn_on_engine_reply(void *ctx, const struct engine_reply *reply);

/* ---- dispatch.c */
/* Handles one decoded request of c (req is borrowed). */
void dispatch_request(struct conn *c, const Condd__V1__Request *req);
/* Sends the Response answering an Acquire or Wait: an immediate answer (the engine's return
 * value, late false) or a late one (the reply callback, late true); the one place both are
 * built. r is borrowed. */
void dispatch_answer(struct conn *c, const struct engine_reply *r, bool late);

#endif
