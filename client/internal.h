/* SPDX-License-Identifier: BSD-2-Clause
 *
 * libcondd's internal interfaces, shared by the files of client/ and by the unit tests (which
 * link the convenience library directly): the client structure, the address parser, the table
 * of pending requests keyed by request id, and the hooks between the connection layer (conn.c),
 * the operations (ops.c), wait_for (waitfor.c) and the result types (results.c). Nothing here is
 * exported from libcondd.so (see libcondd.sym).
 */
#ifndef CONDD_CLIENT_INTERNAL_H
#define CONDD_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "arena.h"
#include "condd.pb-c.h"
#include <condd/condd.h>
#include <condd/condd_async.h>

/* ------------------------------------------------------------------ errors (errors.c) */

/* The result code for a wire status (STATUS_x = n becomes -n; unknown values: INTERNAL). */
int cl_status_result(int wire_status);

/* ------------------------------------------------------------------ options (options.c) */

/* Sets what condd_conn_message(NULL) returns in this thread (blocking.c), for failures that
 * happen before there is a connection to hold a message (reading a token file). */
void cl_set_global_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct condd_options {
    char *client_name;      /* NULL: default */
    double session_timeout; /* asked for in Hello */
    bool session_timeout_set;
    double connect_timeout; /* seconds */
    char *token;            /* NULL: none; wiped before it is freed */
    double grace;           /* asked for in Hello; 0: none */
    bool no_reconnect;      /* condd_options_set_reconnect(false) */
    char *tls_ca;           /* tls: addresses; NULL: the system's CA store */
    char *tls_cert;         /* client certificate (PEM chain); NULL: none */
    char *tls_key;          /* its key; NULL: in tls_cert's file */
    char *tls_server_name;  /* checked against the certificate; NULL: the address's host */
};

/* ------------------------------------------------------------------ addresses (address.c) */

/* The address a client uses for addr: addr itself unless it is NULL or "", then $CONDD_SERVER
 * unless that is unset or empty, then CONDD_DEFAULT_ADDRESS. Borrowed (from addr, the
 * environment or a constant). */
const char *cl_addr_effective(const char *addr);

/* One socket address to try. */
struct cl_sockaddr {
    int family;
    socklen_t len;
    struct sockaddr_storage ss;
};

/*
 * Resolves addr (already passed through cl_addr_effective()) into the socket addresses to try
 * in order. On CONDD_OK *out is an array of *n entries the caller frees with free(). Errors:
 * CONDD_ERR_ADDRESS, CONDD_ERR_NOMEM, each with a one-line reason naming addr in why (the
 * caller's, whylen bytes), e.g. "invalid address \"h:99999\": port 99999 is out of range
 * (1..65535)" or "cannot resolve \"h\": Name or service not known".
 */
int cl_addr_resolve(const char *addr, struct cl_sockaddr **out, size_t *n, char *why,
                    size_t whylen);

/* ------------------------------------------------------------------ TLS (tls.c) */

struct ssl_ctx_st;
struct ssl_st;

/* The client TLS context for opts (borrowed; NULL: defaults): TLS 1.2 at least, the server
 * verified against opts' CA file (or the system's store), opts' client certificate and key.
 * NULL with a one-line reason in msg when a file cannot be used or on out of memory. */
struct ssl_ctx_st *cl_tls_ctx_new(const condd_options *opts, char *msg, size_t msglen);
void cl_tls_ctx_free(struct ssl_ctx_st *ctx);

/* A client TLS session from ctx on the connected socket fd (borrowed: the caller closes it after
 * cl_tls_session_free()) that checks the server's certificate names host (a DNS name or an IP
 * address); NULL on out of memory. */
struct ssl_st *cl_tls_session(struct ssl_ctx_st *ctx, const char *host, int fd);
void cl_tls_session_free(struct ssl_st *ssl);

/* What one TLS step came to. A step that fails leaves the thread's OpenSSL error queue empty. */
enum cl_tls_io {
    CL_TLS_DONE = 0,   /* the handshake finished, or the bytes moved */
    CL_TLS_WANT_READ,  /* call again once the socket is readable */
    CL_TLS_WANT_WRITE, /* call again once the socket is writable (a write: the same bytes, which
                        * may have moved) */
    CL_TLS_CLOSED,     /* the server closed (close_notify, or a bare TCP close) */
    CL_TLS_SOCKET,     /* the socket failed (ECONNRESET, EPIPE, ...): why is the system's reason */
    CL_TLS_ERROR,      /* any other fatal error */
};

/* One step of the client side of the handshake. why (caller's, whylen bytes) gets the reason
 * of anything but DONE and WANT_*: the server certificate's verification failure ("TLS
 * handshake failed: the server's certificate: hostname mismatch"), OpenSSL's first error in words
 * then its reason ("TLS handshake failed: the server requires a client certificate (...) (tlsv13
 * alert certificate required)"), or the system's; never key material. */
enum cl_tls_io cl_tls_handshake(struct ssl_st *ssl, char *why, size_t whylen);
/* One SSL_read into buf[0..cap) (caller's): the plaintext of at most one record, *got bytes
 * (0 unless DONE). why as for cl_tls_handshake(). */
enum cl_tls_io cl_tls_read(struct ssl_st *ssl, void *buf, size_t cap, size_t *got, char *why,
                           size_t whylen);
/* Has OpenSSL input taken from the socket but not handed out (read ahead, or a record's
 * rest)? The socket's readiness does not show it. */
bool cl_tls_pending(struct ssl_st *ssl);
/* One SSL_write of buf[0..len) (borrowed): DONE once all its records are in the socket (never
 * a part). After WANT_WRITE the next call must pass the same len bytes (they may have moved). */
enum cl_tls_io cl_tls_write(struct ssl_st *ssl, const void *buf, size_t len, char *why,
                            size_t whylen);

/* ------------------------------------------------------------------ pending table (ptable.c) */

/* What a pending request is, so its answer reaches the right kind of callback. */
enum cl_op {
    CL_OP_NONE = 0,
    CL_OP_HELLO,
    CL_OP_KEEPALIVE, /* the library's own ping: no callback */
    CL_OP_PING,
    CL_OP_ACQUIRE,
    CL_OP_RELEASE, /* cb may be NULL */
    CL_OP_LOCKED,
    CL_OP_WAIT,
    CL_OP_WF_WAIT, /* a Wait issued by wait_for; arg is the struct cl_waitfor */
    CL_OP_NOTIFY,
    CL_OP_CANCEL,    /* cb may be NULL */
    CL_OP_CANCEL_OK, /* a cancel whose target wait_for was cancelled locally: report OK */
    CL_OP_STATS,
    CL_OP_LIST,
    CL_OP_EVENT_SET, /* events (event.c) */
    CL_OP_EVENT_CLEAR,
    CL_OP_EVENT_IS_SET,
    CL_OP_EVENT_WAIT,
    CL_OP_SEM_ACQUIRE,
    CL_OP_SEM_RELEASE, /* cb may be NULL */
    CL_OP_SEM_LOCKED,
    CL_OP_BARRIER_WAIT, /* barriers (barrier.c) */
    CL_OP_BARRIER_RESET,
    CL_OP_BARRIER_ABORT,
    CL_OP_BARRIER_STATE,
    CL_OP_BREAK, /* operator controls (admin.c) */
    CL_OP_KILL_SESSION,
};

typedef void (*cl_fn)(void);

/* One request awaiting its answer. Stored by value in the table: no allocation per request. */
struct cl_pending {
    uint64_t id; /* 0: empty slot */
    enum cl_op op;
    bool give; /* Stats/List: the callback takes ownership of the result (blocking API) */
    cl_fn cb;  /* the typed callback, cast back according to op */
    void *arg;
};

/* Open addressing with linear probing and backward-shift deletion; ids are never 0. */
struct cl_ptable {
    struct cl_pending *slots;
    size_t cap; /* power of two, or 0 */
    size_t count;
};

/* Inserts p (p->id != 0 and not present). CONDD_OK or CONDD_ERR_NOMEM. */
int cl_ptable_put(struct cl_ptable *t, const struct cl_pending *p);
/* Looks up id; NULL if absent. The pointer is valid until the next put or take. */
struct cl_pending *cl_ptable_get(struct cl_ptable *t, uint64_t id);
/* Removes id, copying the entry to *out. false if absent. */
bool cl_ptable_take(struct cl_ptable *t, uint64_t id, struct cl_pending *out);
/*
 * Empties the table into a new array sorted by id (request order). *out (caller frees) and *n;
 * *out may be NULL when n is 0. CONDD_OK or CONDD_ERR_NOMEM (table unchanged).
 */
int cl_ptable_drain(struct cl_ptable *t, struct cl_pending **out, size_t *n);
void cl_ptable_free(struct cl_ptable *t);

/* ------------------------------------------------------------------ the client (conn.c) */

enum cl_state {
    CL_CONNECTING, /* socket connect in progress */
    CL_HELLO,      /* connected, Hello sent, its answer awaited */
    CL_READY,
    CL_DEAD, /* failed, disconnected or closed: only condd_async_conn_close() remains */
};

struct cl_waitfor;

/* One kept request frame (acks.c). */
struct cl_kept {
    uint64_t id;  /* its request id */
    uint64_t num; /* its number among the session's counted requests, from 1 */
    size_t len;   /* its bytes in struct cl_acks' buf */
};

/* A request carries `ack` once this many counted Responses arrived since the last one that did
 * (and keep-alive Pings, Goodbye and resume Hellos always): the server's copies stay few, and
 * the field is neither encoded nor decoded on most requests of a busy session. */
#define CL_ACKS_EVERY 16

/* Acknowledged delivery (protocol.md §5.6.2, acks.c). */
struct cl_acks {
    bool asked;    /* the opening Hello asked for it and is unanswered: keep copies meanwhile */
    bool on;       /* the server turned it on for this session */
    uint64_t rx;   /* counted Responses received */
    uint64_t told; /* the last `ack` sent: a request acks once rx is CL_ACKS_EVERY past it */
    uint64_t sent; /* counted requests queued, in the order written (the last one's number) */
    uint8_t *buf;  /* kept frames, in order: [pos, len) */
    size_t pos, len, cap;
    struct cl_kept *ix; /* one per kept frame: [ihead, ilen) */
    size_t ihead, ilen, icap;
};

struct condd_async_conn {
    struct event_base *base;
    enum cl_state state;
    int fd;
    struct event *ev_read;
    struct event *ev_write; /* connect completion, then a socket that would block */
    struct event *ev_flush; /* activated to send everything queued in this loop turn at once */
    struct event *ev_timer; /* connect deadline, then keep-alive ticks */
    bool flush_scheduled;
    bool write_blocked;

    /* TLS (a tls: address): the context for every connect of this client, the name checked
     * against the server's certificate, and, once TCP is connected, the session on fd (owned;
     * NULL in plaintext). whanded: the end of the batch of whole frames of wbuf in flight,
     * [wpos, whanded), handed to SSL_write() as one record; wpos moves past it only once all of
     * it is in the socket (conn.c, flush_tls), so that a batch not wholly written is sent again
     * whole after a resume. */
    struct ssl_ctx_st *tls_ctx;
    char *tls_host;
    struct ssl_st *ssl;
    size_t whanded;
    bool tls_handshaking;      /* the handshake is under way: events drive it, not I/O */
    bool tls_read_wants_write; /* a read must be retried once the socket is writable */

    struct cl_sockaddr *addrs;
    size_t n_addrs;
    size_t addr_idx;

    uint8_t *wbuf; /* queued frames: [wpos, wlen) not yet written */
    size_t wpos, wlen, wcap;
    size_t wmark;  /* a frame boundary <= wpos (for resending whole frames after a resume) */
    uint8_t *rbuf; /* received bytes: [rpos, rlen) not yet decoded */
    size_t rpos, rlen, rcap;
    struct arena arena; /* unpacks responses without malloc in the common case */
    ProtobufCAllocator arena_alloc;
    _Alignas(16) uint8_t arena_buf[4096];

    uint64_t next_id;
    uint64_t next_owner;
    struct cl_ptable pending;
    struct cl_waitfor *waitfors; /* every live wait_for (doubly linked) */

    condd_async_connect_cb connect_cb;
    void *connect_arg;
    condd_async_disconnect_cb disconnect_cb;
    void *disconnect_arg;

    double session_timeout; /* asked for, then granted */
    double connect_timeout;
    char *server_version;
    uint64_t session_id;
    uint32_t max_frame;
    double last_rx, last_tx; /* monotonic seconds */
    bool keepalive_pending;

    const char *message; /* condd_async_conn_message(): server text of the answer being delivered */
    char msgbuf[256];    /* connection errors' text; for CONDD_ERR_CONNECT the OS reason */

    int depth;         /* callbacks (and library entry points) running on the stack */
    bool closing;      /* condd_async_conn_close() was called */
    bool free_pending; /* free once depth returns to 0 */
    int dead_reason;   /* why state became CL_DEAD */

    /* Session resume (reconnect.c). */
    double grace_asked; /* from the options */
    bool reconnect;     /* resume by itself after a loss */
    double grace;       /* granted by the server; 0: not resumable */
    uint8_t secret[32]; /* the resume secret (never logged or shown) */
    size_t secret_len;
    /* The token sent in Hello, kept (only when a grace is asked for) because the server
     * authenticates a resume Hello as any other; wiped before it is freed. NULL: none. */
    char *token;
    bool resuming; /* between a loss and the resumed HelloResult */
    /* A SHUTTING_DOWN answer came (protocol.md §13): the server is stopping and everything it
     * holds goes with it, so the connection's end is the session's end, never a blip. */
    bool server_stopping;
    bool ever_ready;        /* a Hello completed once: the disconnect callback applies */
    double resume_deadline; /* monotonic: give up (SESSION_LOST) after this */
    double backoff;         /* next reconnect delay */
    struct event *ev_backoff;
    /* Resuming: the bytes of the resume Hello at wbuf's start (replaced, not kept, by the next
     * attempt's), or 0. */
    size_t hello_len;
    /* The first Hello of a session, kept until its answer (wiped before it is freed: it may
     * hold the token), so that a connection the server closed before answering it can be
     * opened again (cl_retry_hello()); hello_retries counts those. NULL: none kept. */
    uint8_t *first_hello;
    size_t first_hello_len;
    int hello_retries;
    condd_async_session_cb session_cb;
    void *session_arg;
    struct cl_acks acks; /* acknowledged delivery (acks.c) */

    /* Server lists (cluster.c). A front (opened on a list) has cluster set and no socket; each
     * of its members has front set and its index in the list. Both NULL on an ordinary
     * connection. addr_text: the address it was opened on. */
    struct cl_cluster *cluster;
    condd_async_conn *front;
    size_t index;
    char *addr_text;

    /* The process that opened it, and how many fork()s had happened then (fork.c). */
    pid_t opener_pid;
    unsigned opener_forks;
};

/* condd_async_conn_open() without clearing the calling thread's open message first (for the
 * servers of a list, opened during later calls). */
int cl_conn_open(struct event_base *base, const char *addr, const condd_options *opts,
                 condd_async_connect_cb cb, void *arg, condd_async_conn **out);

/* ------------------------------------------------------------------ fork (fork.c) */

/* Records the calling process as c's opener. */
void cl_fork_mark(condd_async_conn *c);
/* Is this process not c's opener (a child after fork())? Cheap: no system call. */
bool cl_forked(const condd_async_conn *c);
/* Sets c's message (and its list's) to why a call from a forked child is refused, and returns
 * CONDD_ERR_INVALID. */
int cl_fork_refuse(condd_async_conn *c);

/* Enter / leave a section that may run callbacks. cl_leave() returns true when it freed c (the
 * caller must not touch c afterwards). */
void cl_enter(condd_async_conn *c);
bool cl_leave(condd_async_conn *c);

/* A fresh request id. */
uint64_t cl_next_id(condd_async_conn *c);

/*
 * Queues req (its id already set) for sending and records p for its answer. CONDD_OK, or an
 * error with nothing queued or recorded: the client's dead reason, CONDD_ERR_NOMEM.
 */
int cl_submit(condd_async_conn *c, Condd__V1__Request *req, const struct cl_pending *p);

/* Can requests be submitted? CONDD_OK or the reason they cannot. */
int cl_usable(condd_async_conn *c);

/* Ends the connection with reason (a connection error) and msg (copied; may be NULL): every
 * pending callback runs with reason, then the connect or disconnect callback (unless closing).
 * A session with a grace resumes instead (reconnect.c) while it can. */
void cl_fail(condd_async_conn *c, int reason, const char *msg);

/* conn.c's connection steps, for reconnect.c: close the socket (events too); try the addresses
 * from addr_idx on; arm the keep-alive timer. */
void cl_close_socket(condd_async_conn *c);
void cl_try_connect(condd_async_conn *c);
void cl_start_keepalive(condd_async_conn *c);
/* Writes a Goodbye (protocol.md §5.7) behind whatever wbuf holds, as far as the socket takes
 * it now (through TLS on a tls: connection), then a FIN; its answer is not awaited. Best
 * effort: a failure leaves c as it was, for the close that must follow (condd_async_conn_close,
 * or a resume the client refuses, reconnect.c). */
void cl_say_goodbye(condd_async_conn *c);
/* The start of the frame of wbuf holding wpos (reconnect.c): the frames before it went whole. */
size_t cl_unsent_start(const condd_async_conn *c);

/* cl_submit() without the routing of a server list: c's own socket. */
int cl_submit_direct(condd_async_conn *c, Condd__V1__Request *req, const struct cl_pending *p);

/* Queues the whole frames data[0..len) (borrowed) for sending as they are. CONDD_OK or
 * CONDD_ERR_NOMEM (nothing queued). */
int cl_out_append(condd_async_conn *c, const uint8_t *data, size_t len);

/* ------------------------------------------------------------------ server lists (cluster.c) */

/* Does addr (after cl_addr_effective()) name several servers? */
bool cl_cluster_is_list(const char *addr);
/* condd_async_conn_open() of a list: the front (see cluster.c); no socket is opened yet. */
int cl_cluster_open(struct event_base *base, const char *list, const condd_options *opts,
                    condd_async_connect_cb cb, void *arg, condd_async_conn **out);
/* condd_async_conn_close() of a front: closes every member, then frees f. */
void cl_cluster_close(condd_async_conn *f);
/* cl_submit() on a front or a member: to the member of the server req's name routes to (opened
 * now if need be), or, for a request naming nothing, to member c itself (refused on a front). */
int cl_cluster_submit(condd_async_conn *c, Condd__V1__Request *req, const struct cl_pending *p);
/* Queues the first Hello of a new session on c (client name, token and grace from opts, which
 * may be NULL), arms the connect deadline and starts connecting. False: out of memory. */
bool cl_start_session(condd_async_conn *c, const condd_options *opts);
/* Starts a new session on c, which is dead (its session lost or its connect failed) with nothing
 * pending and no callback of it on the stack: a server-list member whose server came back
 * (cluster.c). opts as at the open (borrowed). False (c left dead) when c is not in that state
 * or out of memory. */
bool cl_reopen(condd_async_conn *c, const condd_options *opts);
/* A server-list member (else nothing) that died because its server went away or could not be
 * reached (not because it refused us) starts a new session (cl_reopen()); called before each
 * request made on it or routed to it. */
void cl_cluster_revive(condd_async_conn *m);
/* Replaces *c (a front or a member) by the member name routes to (opened if need be). */
int cl_cluster_pick(condd_async_conn **c, const char *name);
/* The member with request req_id pending (or a wait_for of that id), or NULL. */
condd_async_conn *cl_cluster_owner_of(condd_async_conn *f, uint64_t req_id);
/* Records member c (if it is one) as the server of the last answer of its front. */
void cl_cluster_note(condd_async_conn *c);
/* Copies the front's disconnect and session callbacks to every member. */
void cl_cluster_sync_cbs(condd_async_conn *f);
bool cl_cluster_any_ready(const condd_async_conn *f);
size_t cl_cluster_pending(const condd_async_conn *f);

/* ------------------------------------------------------------------ resume (reconnect.c) */

/* A connection failure (reason, msg) of c: begins or continues a resume and returns true, or
 * returns false for cl_fail() to end the connection, with *reason set to what to report
 * (CONDD_ERR_SESSION_LOST once a resume was under way). */
bool cl_resume_on_failure(condd_async_conn *c, int *reason, const char **msg);
/* The HelloResult (rc, r) of a resume Hello; the session is resumed or lost. */
void cl_resume_on_hello(condd_async_conn *c, int rc, const Condd__V1__Response *r);
/* Keeps a copy of the Hello frame just queued at wbuf[from, wlen) (cl_start_session()); an
 * out-of-memory copy is simply not kept. cl_drop_first_hello() frees it once answered. */
void cl_keep_first_hello(condd_async_conn *c, size_t from);
void cl_drop_first_hello(condd_async_conn *c);
/* The server closed c's plaintext connection before answering its first Hello, without a byte
 * of an answer (the requests queued behind the Hello were held, never written, conn.c): a live
 * restart closes the connections it accepted but had not read
 * (protocol.md §5.10). Opens again (after a short pause, within the connect deadline, at most
 * CL_HELLO_RETRIES times) with the same Hello and returns true; false when that does not
 * apply. */
bool cl_retry_hello(condd_async_conn *c);
/* The backoff timer's callback (arg is c): the next reconnect attempt. */
void cl_on_backoff(evutil_socket_t fd, short what, void *arg);
/* Runs the session callback (if any) with event and reason. */
void cl_session_event(condd_async_conn *c, int event, int reason);

/* ------------------------------------------------------------------ acks (acks.c) */

/* Are copies of counted requests kept (acks asked for and unanswered, or on)? */
static inline bool cl_acks_keeping(const condd_async_conn *c)
{
    return c->acks.asked || c->acks.on;
}
/* cl_acks_reserve()'s slow path: compacts or grows the buffers. */
bool cl_acks_grow(condd_async_conn *c, size_t frame_len);
/* Makes room for one more copy of frame_len bytes; false on out of memory (nothing changed).
 * Inline, as cl_acks_push(): both run for every request of an acks session. */
static inline bool cl_acks_reserve(condd_async_conn *c, size_t frame_len)
{
    const struct cl_acks *a = &c->acks;
    return (a->len + frame_len <= a->cap && a->ilen < a->icap) || cl_acks_grow(c, frame_len);
}
/* Where the next copy goes (valid after cl_acks_reserve() until the next acks call). */
static inline uint8_t *cl_acks_tail(condd_async_conn *c)
{
    return c->acks.buf + c->acks.len;
}
/* After cl_acks_reserve(): records the next counted request, id, whose len bytes are copied
 * from frame (borrowed), or, frame NULL, were already encoded at cl_acks_tail(). */
static inline void cl_acks_push(condd_async_conn *c, uint64_t id, const uint8_t *frame, size_t len)
{
    struct cl_acks *a = &c->acks;
    if (frame != NULL)
        memcpy(a->buf + a->len, frame, len);
    a->len += len;
    a->ix[a->ilen++] = (struct cl_kept){.id = id, .num = ++a->sent, .len = len};
}
/* A Response r (borrowed) arrived on an acks session: counts it, drops the copies it proves
 * read. */
void cl_acks_on_response(condd_async_conn *c, const Condd__V1__Response *r);
/* The opening HelloResult h (borrowed; NULL: none) says whether acks is on (needs c's grace and
 * secret already recorded); off: the copies are forgotten. */
void cl_acks_on_hello(condd_async_conn *c, const Condd__V1__HelloResult *h);
/* A resumed HelloResult says the server read `received` counted requests: queues the copies
 * after those, in order. False (reason in msg) when the count cannot be right or on out of
 * memory: the session is lost. */
bool cl_acks_resend(condd_async_conn *c, uint64_t received, char *msg, size_t msglen);
/* Forgets the counts and the copies (a session ended); cl_acks_free() also frees the memory. */
void cl_acks_reset(condd_async_conn *c);
void cl_acks_free(condd_async_conn *c);

/* ------------------------------------------------------------------ answers (ops.c) */

/*
 * Runs p's callback for the answer r (rc is the result code; r is NULL for a connection error).
 * Called with c entered (depth > 0); p is a copy already removed from the table.
 */
void cl_deliver(condd_async_conn *c, const struct cl_pending *p, int rc,
                const Condd__V1__Response *r);

/* The helpers every operation is built with (ops.c, for the per-kind files sem.c, event.c
 * and barrier.c):
 * cl_op_name() returns the wire bytes of name (borrowed); cl_op_timeout() sets *field to t
 * holding timeout, or leaves it NULL (forever) for a negative or infinite one; cl_op_submit()
 * gives req a fresh id, records (op, cb, arg) for the answer and sets *req_id (may be NULL) on
 * CONDD_OK; errors as cl_submit(). */
ProtobufCBinaryData cl_op_name(const char *name);
void cl_op_timeout(Condd__V1__Timeout *t, double timeout, Condd__V1__Timeout **field);
int cl_op_submit(condd_async_conn *c, Condd__V1__Request *req, enum cl_op op, cl_fn cb, void *arg,
                 uint64_t *req_id);

/* ------------------------------------------------------------------ semaphores (sem.c) */

/* cl_deliver() for the CL_OP_SEM_* operations. */
void cl_sem_deliver(condd_async_conn *c, const struct cl_pending *p, int rc,
                    const Condd__V1__Response *r);

/* ------------------------------------------------------------------ events (event.c) */

/* cl_deliver() for the CL_OP_EVENT_* ops. */
void cl_admin_deliver(condd_async_conn *c, const struct cl_pending *p, int rc,
                      const Condd__V1__Response *r);
void cl_event_deliver(condd_async_conn *c, const struct cl_pending *p, int rc,
                      const Condd__V1__Response *r);

/* ------------------------------------------------------------------ barriers (barrier.c) */

/* cl_deliver() for the CL_OP_BARRIER_* ops. */
void cl_barrier_deliver(condd_async_conn *c, const struct cl_pending *p, int rc,
                        const Condd__V1__Response *r);

/* ------------------------------------------------------------------ blocking (blocking.c) */

/* One blocking call's answer, filled in by the cl_block_on_* callbacks (arg is the answer) on
 * the caller's stack. */
struct cl_answer {
    condd_conn *conn;
    bool done;
    int rc;
    uint64_t u64;
    bool flag;
    condd_stats *stats;
    condd_list *list;
    struct condd_sem_state sem;
    struct condd_barrier_state barrier;
};

/* Starts a blocking call on conn (clears its message, checks it is usable): CONDD_OK or why
 * not. */
int cl_block_begin(condd_conn *conn, struct cl_answer *a);
/* Runs conn's private loop until a's callback ran; issued is the result of issuing the
 * asynchronous call (on error the callback never runs). Returns the answer's code. */
int cl_block_run(condd_conn *conn, struct cl_answer *a, int issued);
/* Records the answer rc in a (arg): the end of every blocking call's callback. */
void cl_block_record(condd_async_conn *c, struct cl_answer *a, int rc);
/* Callbacks for plain results, tokens (into a->u64), flags (a->flag) and counts (a->u64); arg
 * is the struct cl_answer. */
void cl_block_on_result(condd_async_conn *c, int rc, void *arg);
void cl_block_on_token(condd_async_conn *c, int rc, uint64_t token, void *arg);
void cl_block_on_flag(condd_async_conn *c, int rc, bool flag, void *arg);
void cl_block_on_count(condd_async_conn *c, int rc, uint64_t n, void *arg);

/* ------------------------------------------------------------------ wait_for (waitfor.c) */

/* The answer to one of wait_for's Waits (arg of a CL_OP_WF_WAIT entry). */
void cl_waitfor_on_wait(condd_async_conn *c, struct cl_waitfor *wf, int rc, uint64_t token);
/* Finds a live wait_for by its request id; NULL if none. */
struct cl_waitfor *cl_waitfor_find(condd_async_conn *c, uint64_t id);
/* Handles condd_async_conn_cancel() of a wait_for. */
int cl_waitfor_cancel(condd_async_conn *c, struct cl_waitfor *wf, condd_async_result_cb cb,
                      void *arg);
/* Completes every live wait_for not awaiting a Wait answer with reason (connection end). */
void cl_waitfor_fail_all(condd_async_conn *c, int reason);

/* ------------------------------------------------------------------ results (results.c) */

/* Stats and List requests whose callback takes ownership of the result (the blocking API's
 * copies): the callback must free it with condd_stats_free() / condd_list_free(). */
int cl_request_stats(condd_async_conn *c, condd_async_stats_cb cb, void *arg, bool give);
int cl_request_list(condd_async_conn *c, const char *prefix, uint32_t limit, condd_async_list_cb cb,
                    void *arg, bool give);

/* Library-owned copies of Stats and List answers; NULL on out of memory. */
condd_stats *cl_stats_from(const Condd__V1__StatsResult *r);
condd_list *cl_list_from(const Condd__V1__ListResult *r);

#endif
