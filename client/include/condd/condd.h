/* SPDX-License-Identifier: BSD-2-Clause
 *
 * libcondd: the client library of condd, the lock and condition-variable server.
 *
 * This header owns what every user of the library needs without libevent: the result codes
 * (one enum, CONDD_OK = 0, errors negative), connection options, the read-only result types of
 * Stats and List, and the blocking API (condd_conn_open() and plain calls that return a result
 * code, each running a private event loop until the server answers). The asynchronous API, which
 * runs on the caller's own libevent loop, is in <condd/condd_async.h>; both share one
 * implementation.
 *
 * Naming: condd_<object>_<verb>() is a blocking call on a condd_conn; condd_async_<object>_<verb>()
 * is the same call on the caller's event_base, on a condd_async_conn. Objects: conn (the
 * connection itself), lock, cond, sem (semaphores). Result types and helpers are named after what
 * they act on (condd_result_*, condd_options_*, condd_stats_*, condd_list_*).
 *
 * Conventions for the whole API:
 *  - Names of locks and conditions are NUL-terminated UTF-8 strings (1..512 bytes, no control
 *    characters; the server checks). The library never keeps a pointer to a name it was given:
 *    names, prefixes and option strings are always borrowed for the duration of the call.
 *  - Timeouts are seconds as a double: CONDD_FOREVER (any negative value) waits forever, 0 tries
 *    once without waiting, a positive value waits at most that long.
 *  - Owners: every lock operation names an owner, a uint64_t handle chosen by the caller and
 *    meaningful only within one connection. Several owners (for instance two tasks on one event
 *    loop) can share one connection and contend for the same lock correctly. 0 is the
 *    connection's default owner; condd_conn_new_owner() / condd_async_conn_new_owner() hand out
 *    fresh ones.
 *  - Results read from the server (server version, messages, Stats, List) are owned by the
 *    library unless a function says the caller frees them.
 */
#ifndef CONDD_CONDD_H
#define CONDD_CONDD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ constants */

/* The address used when none is given and $CONDD_SERVER is unset or empty. */
#define CONDD_DEFAULT_ADDRESS "127.0.0.1:7380"
/* The default TCP port, used for a "host" address without ":port". */
#define CONDD_DEFAULT_PORT 7380
/* A timeout that never expires (any negative timeout means the same). */
#define CONDD_FOREVER (-1.0)

/* ------------------------------------------------------------------ results */

/*
 * Every function that can fail returns one of these. The values -1..-19 are exactly the server's
 * wire statuses (STATUS_x = n is -n); -20..-27 come from the client side; -28
 * (CONDD_ERR_WRONG_SERVER) is the server's status 20, mapped explicitly. An unknown status is
 * CONDD_ERR_INTERNAL.
 */
enum condd_result {
    CONDD_OK = 0,
    /* --- statuses sent by the server */
    CONDD_ERR_TIMEOUT = -1,             /* the timeout passed before the request could complete */
    CONDD_ERR_CANCELLED = -2,           /* withdrawn by a cancel */
    CONDD_ERR_NOT_OWNER = -3,           /* the owner does not hold the lock it must hold */
    CONDD_ERR_ALREADY_OWNER = -4,       /* acquire by the owner that already holds the lock */
    CONDD_ERR_LOCK_MISMATCH = -5,       /* the condition is bound to another lock */
    CONDD_ERR_BAD_REQUEST = -6,         /* invalid request (bad name, bad timeout, ...) */
    CONDD_ERR_LIMIT_EXCEEDED = -7,      /* a server limit (pending requests, connections) */
    CONDD_ERR_UNSUPPORTED_VERSION = -8, /* the server does not speak our protocol version */
    CONDD_ERR_SHUTTING_DOWN = -9,       /* the server is stopping */
    CONDD_ERR_NOT_FOUND = -10,          /* cancel named no pending request */
    CONDD_ERR_PROTOCOL = -11,           /* framing or sequencing error (connection closed) */
    CONDD_ERR_UNIMPLEMENTED = -12,      /* the server does not implement this request */
    CONDD_ERR_INTERNAL = -13,           /* the server failed internally (out of memory) */
    CONDD_ERR_VALUE_MISMATCH = -14,     /* the semaphore exists with another value or kind, or
                                         * the barrier with other parties */
    CONDD_ERR_BROKEN = -15,             /* the barrier was reset or aborted, or is broken
                                         * (asyncio's BrokenBarrierError) */
    CONDD_ERR_UNAUTHENTICATED = -17,    /* the server's auth file accepts no credential this
                                         * client gave (connect fails; connection closed) */
    CONDD_ERR_PERMISSION_DENIED = -18,  /* the server's rules do not let this client do that to
                                         * that name; the request had no effect */
    CONDD_ERR_SESSION_KILLED = -19,     /* an operator ended this session (condctl break or
                                         * kill-session): nothing is held any more, connection
                                         * closed */
    CONDD_ERR_SESSION_LOST = -16,       /* the session could not be resumed within its grace
                                         * (or the server refused the resume): nothing is held
                                         * any more, every pending request is void */
    /* --- client-side errors */
    CONDD_ERR_ADDRESS = -20,         /* the address string is malformed or does not resolve */
    CONDD_ERR_CONNECT = -21,         /* could not connect (refused, unreachable, timed out) */
    CONDD_ERR_DISCONNECTED = -22,    /* the connection was lost (EOF or I/O error) */
    CONDD_ERR_SESSION_EXPIRED = -23, /* the server ended the session (no frame for the session
                                      * timeout, e.g. the caller's loop was blocked too long) */
    CONDD_ERR_SERVER_TIMEOUT = -24,  /* nothing heard from the server for the session timeout:
                                      * presumed dead, connection closed */
    CONDD_ERR_CLOSED = -25,          /* the connection was closed before the answer */
    CONDD_ERR_INVALID = -26,         /* invalid argument (NULL name, NULL callback, ...) */
    CONDD_ERR_NOMEM = -27,           /* out of memory in the client */
    CONDD_ERR_WRONG_SERVER = -28,    /* a server of a cluster says the name routes to another
                                      * of its servers (the server's STATUS_WRONG_SERVER, 20:
                                      * the client's server list differs from the cluster's;
                                      * the message names the right server). Nothing happened */
};

/* A short constant English description of a result code; never NULL (unknown codes get a
 * generic text). The string is static. */
const char *condd_strerror(int result);

/* The symbolic name of a result code, e.g. "CONDD_ERR_TIMEOUT"; static, never NULL. */
const char *condd_result_name(int result);

/*
 * True when result means the connection (and with it the session, its locks and its pending
 * requests) is gone: CONDD_ERR_CONNECT, _DISCONNECTED, _SESSION_EXPIRED, _SERVER_TIMEOUT,
 * _PROTOCOL, _UNSUPPORTED_VERSION, _CLOSED, _SESSION_LOST, _SESSION_KILLED (an operator ended
 * the session), _UNAUTHENTICATED (the server refused the client's credentials and closed) and
 * _SHUTTING_DOWN (the server is stopping: its sessions end with it).
 * Tools use it to tell "the server said no" from "the server is unreachable".
 */
bool condd_result_is_connection_error(int result);

/* The library's version string, e.g. "0.1.0"; static. */
const char *condd_version(void);

/* ------------------------------------------------------------------ options */

/* Connection options. Opaque so fields can be added without breaking the ABI. */
typedef struct condd_options condd_options;

/* New options with every field at its default; NULL on out of memory. Free with
 * condd_options_free(). Connect functions only borrow options: they may be freed right after. */
condd_options *condd_options_new(void);

/* Frees options; NULL is ignored. */
void condd_options_free(condd_options *opts);

/*
 * The client name sent in Hello and shown to operators (e.g. "condctl/123@host"). name is
 * copied. NULL restores the default ("libcondd/<pid>"). CONDD_OK or CONDD_ERR_NOMEM.
 */
int condd_options_set_client_name(condd_options *opts, const char *name);

/*
 * The session timeout asked for in Hello, in seconds: the server ends the session (releasing its
 * locks) when it hears nothing for this long, and the client declares the server dead when it
 * hears nothing for this long. 0 (the async default) takes the server's default; the server
 * clamps other values into [1, 3600]. The blocking API asks CONDD_BLOCKING_SESSION_TIMEOUT
 * unless this is set, because it only keeps its session alive while one of its calls runs.
 * CONDD_OK, or CONDD_ERR_INVALID for a negative or non-finite value.
 */
int condd_options_set_session_timeout(condd_options *opts, double seconds);

/* The session timeout the blocking API asks for when none is set in its options. */
#define CONDD_BLOCKING_SESSION_TIMEOUT 60.0

/*
 * How long connecting (TCP/unix connect plus the Hello exchange) may take, in seconds;
 * default 10. CONDD_OK, or CONDD_ERR_INVALID for a value that is not positive and finite.
 */
int condd_options_set_connect_timeout(condd_options *opts, double seconds);

/*
 * The bearer token sent in Hello, for a server started with an auth file (condd --auth-file):
 * the server maps it to a principal whose rules decide what this client may do. token
 * (borrowed; copied) is used as given, NULL removes it. Without a token a client is anonymous,
 * or, on a Unix socket, whoever its uid or gid maps to. CONDD_OK or CONDD_ERR_NOMEM.
 */
int condd_options_set_token(condd_options *opts, const char *token);

/*
 * Reads the token from the first line of the file at path (borrowed), without its line end,
 * as condd_options_set_token() takes it. CONDD_OK; CONDD_ERR_INVALID when the file cannot be
 * read or its first line is empty (condd_conn_message(NULL) says why); CONDD_ERR_NOMEM.
 */
int condd_options_set_token_file(condd_options *opts, const char *path);

/*
 * TLS, for the address form "tls:HOST:PORT" (or "tls:[V6]:PORT"); other addresses ignore these.
 * The server's certificate is verified against the CA certificates in the PEM file at path
 * (default: the system's store) and must name the server: by default the address's HOST (a DNS
 * name or an IP address), else the name given to condd_options_set_tls_server_name(). A client
 * certificate (PEM chain, own certificate first) and its key (PEM; default: in the certificate's
 * file) are sent when the server asks (mutual TLS; its subject can be the client's credential).
 * TLS 1.2 at least. Paths and name are copied; NULL clears; an empty string is refused. The
 * files are read when connecting: a bad one fails the open with CONDD_ERR_INVALID (and
 * condd_conn_message(NULL) says why); a refused handshake is CONDD_ERR_CONNECT with the reason
 * in the connection's message. CONDD_OK, CONDD_ERR_INVALID or CONDD_ERR_NOMEM.
 */
int condd_options_set_tls_ca(condd_options *opts, const char *path);
int condd_options_set_tls_cert(condd_options *opts, const char *path);
int condd_options_set_tls_key(condd_options *opts, const char *path);
int condd_options_set_tls_server_name(condd_options *opts, const char *name);

/*
 * The resume grace asked for in Hello, in seconds (protocol.md §5.5); default 0, none. With a
 * grace the server keeps the session (its locks, permits and pending requests) for that long
 * after the connection is lost, and the library reconnects by itself (see
 * condd_options_set_reconnect()) and resumes it: pending calls are answered after the resume as
 * if nothing had happened. The server clamps the value (its --max-session-grace, default 60);
 * condd_conn_grace() / condd_async_conn_grace() give the granted one. Closing the connection
 * sends Goodbye, so the grace only delays the clean-up of a client that really vanished.
 * With a grace the library also asks for acknowledged delivery (protocol.md §5.6.2) and uses
 * it when the server offers it: requests and answers in flight when the connection broke are
 * then neither lost nor carried out twice (docs/client.md §6.1).
 * CONDD_OK, or CONDD_ERR_INVALID for a negative or non-finite value.
 */
int condd_options_set_grace(condd_options *opts, double seconds);

/*
 * Whether a connection with a grace reconnects and resumes by itself after losing the
 * connection (default true): it retries with a backoff (50 ms doubling up to 1 s) until the
 * grace runs out; then every pending call completes with CONDD_ERR_SESSION_LOST. false: a lost
 * connection is reported at once as today (the server still keeps the session for its grace).
 * CONDD_OK, or CONDD_ERR_INVALID for NULL opts.
 */
int condd_options_set_reconnect(condd_options *opts, bool on);

/* Events of a session with a grace, passed to the session callbacks of both APIs
 * (condd_conn_set_session_cb(), condd_async_conn_set_session_cb()). */
enum condd_session_event {
    CONDD_SESSION_RESUMING = 1, /* the connection was lost (reason says why): reconnecting */
    CONDD_SESSION_RESUMED = 2,  /* resumed: same session, locks and pending calls (reason 0) */
    CONDD_SESSION_LOST = 3,     /* could not resume (reason CONDD_ERR_SESSION_LOST): every
                                 * pending call has completed with that error; nothing is held */
};

/* ------------------------------------------------------------------ Stats and List results */

/* One server operation counter: how many requests of op ended with status. */
struct condd_op_count {
    const char *op;     /* "acquire", "release", ... */
    const char *status; /* "ok", "timeout", ... */
    uint64_t count;
};

/*
 * Server counters, as returned by Stats (condd_stats). Always allocated by the library (never
 * declare one yourself): later versions may append fields. Strings and ops belong to the struct.
 */
struct condd_stats {
    double uptime_s;
    uint64_t connections; /* open client connections */
    uint64_t sessions;    /* sessions that completed Hello */
    uint64_t locks;       /* locks in existence (held or waited for) */
    uint64_t locks_held;
    uint64_t lock_waiters;      /* requests queued for a lock */
    uint64_t conditions;        /* conditions with waiters */
    uint64_t condition_waiters; /* waits not yet notified */
    uint64_t waiters;           /* every pending request: lock_waiters + condition_waiters +
                                 * event_waiters + semaphore_waiters + barrier_waiters */
    uint64_t table_bytes;
    uint64_t rss_bytes;
    uint64_t connections_total;
    uint64_t session_expiries;
    uint64_t last_token;
    const char *server_version; /* never NULL */
    size_t n_ops;               /* entries reachable through condd_stats_op() */
    /* events (appended) */
    uint64_t events;        /* events remembered: set, or waited for */
    uint64_t events_set;    /* events set */
    uint64_t event_waiters; /* pending event waits */
    /* semaphores (appended) */
    uint64_t semaphores;        /* semaphores in existence */
    uint64_t permits_held;      /* semaphore permits held */
    uint64_t semaphore_waiters; /* acquires queued for a semaphore (also counted in waiters) */
    /* barriers (appended) */
    uint64_t barriers;        /* barriers in existence: with waiters, or broken */
    uint64_t barriers_broken; /* barriers broken (aborted, not reset since) */
    uint64_t barrier_waiters; /* pending barrier waits (also counted in waiters) */
    /* authentication (appended) */
    uint64_t auth_failures;      /* Hellos refused UNAUTHENTICATED since the server started */
    uint64_t permission_denials; /* requests refused PERMISSION_DENIED since it started */
    /* session resume (appended; protocol.md §5.5) */
    uint64_t detached_sessions;         /* sessions in their grace without a connection */
    uint64_t resumes;                   /* successful resumes since start */
    uint64_t resume_failures;           /* resumes refused since start */
    uint64_t sessions_expired_in_grace; /* detached sessions ended by grace or buffer cap */
    /* shared locks (appended) */
    uint64_t locks_shared;   /* locks held in shared mode (also counted in locks_held) */
    uint64_t shared_holders; /* shared holds, summed over those locks */
    /* clusters (appended; protocol.md §21.5) */
    uint64_t wrong_server; /* requests refused WRONG_SERVER since the server started */

    /* live restart (appended; protocol.md §5.8) */
    uint64_t restarts;          /* live restarts of the server, carried across them */
    uint64_t restored_sessions; /* sessions the server's last live restart restored */

    /* TLS (appended) */
    uint64_t tls_buffers_released; /* idle TLS connections' record buffers given back */
};
typedef struct condd_stats condd_stats;

/* The i-th op counter (i < stats->n_ops), or NULL. Borrowed from stats. */
const struct condd_op_count *condd_stats_op(const condd_stats *stats, size_t i);

/* Frees a condd_stats the caller owns (from the blocking condd_conn_stats()); NULL ignored.
 * Never free the one an asynchronous callback borrows. */
void condd_stats_free(condd_stats *stats);

/* One lock as List shows it. Allocated by the library; fields may be appended later. */
struct condd_lock_info {
    const char *name;
    bool held;
    uint64_t holder_session;   /* 0 when free */
    const char *holder_client; /* "" when free; never NULL */
    uint64_t holder_owner;
    uint64_t token; /* fencing token of the current grant */
    uint64_t waiters;
    /* shared locks (appended): holder_* and token above describe the first (oldest) holder; every
     * holder is read with condd_list_lock_holder() */
    bool shared;      /* held in shared mode */
    size_t n_holders; /* 0 free, 1 held exclusively, else the shared holders */
};

/* One holder of a lock (one grant) as List shows it. Allocated by the library; fields may be
 * appended later. */
struct condd_lock_holder {
    uint64_t session;
    const char *client; /* never NULL */
    uint64_t owner;
    uint64_t token; /* fencing token of this holder's grant */
};

/* One condition as List shows it. Allocated by the library; fields may be appended later. */
struct condd_cond_info {
    const char *name;
    const char *lock; /* the lock it is bound to */
    uint64_t waiters;
};

/* One event as List shows it (set, or waited for). Allocated by the library; fields may be
 * appended later. */
struct condd_event_info {
    const char *name;
    bool set;
    uint64_t waiters;
};

/* One barrier as List shows it (with waiters, or broken). Allocated by the library; fields may
 * be appended later. */
struct condd_barrier_info {
    const char *name;
    uint64_t parties;
    uint64_t n_waiting;
    bool broken;
};

/* One (session, owner) holding permits of a semaphore, as List shows it. Allocated by the
 * library; fields may be appended later. */
struct condd_sem_holder {
    uint64_t session;
    const char *client; /* never NULL */
    uint64_t owner;
    uint64_t permits; /* permits this owner holds */
    uint64_t token;   /* fencing token of its latest grant */
};

/* One semaphore as List shows it. Allocated by the library; fields may be appended later. Its
 * holders are read with condd_sem_info_holder(). */
struct condd_sem_info {
    const char *name;
    uint64_t value;   /* the initial counter N it was created with */
    bool bounded;     /* a BoundedSemaphore */
    uint64_t counter; /* permits free now */
    uint64_t waiters;
    size_t n_holders;
};

/* The i-th holder (i < info->n_holders) of a semaphore from condd_list_sem(), or NULL. Borrowed
 * from the list info came from. */
const struct condd_sem_holder *condd_sem_info_holder(const struct condd_sem_info *info, size_t i);

/* A List result (opaque; read it with the accessors below). */
typedef struct condd_list condd_list;

/* How many locks list holds. list is borrowed. */
size_t condd_list_lock_count(const condd_list *list);
/* The i-th lock (i < condd_list_lock_count()), or NULL. Borrowed from list. */
const struct condd_lock_info *condd_list_lock(const condd_list *list, size_t i);
/* The holder_index-th holder (in grant order, holder_index < that lock's n_holders) of the
 * lock_index-th lock of list, or NULL. Borrowed from list, valid until it is freed. */
const struct condd_lock_holder *condd_list_lock_holder(const condd_list *list, size_t lock_index,
                                                       size_t holder_index);
/* How many conditions list holds. list is borrowed. */
size_t condd_list_cond_count(const condd_list *list);
/* The i-th condition (i < condd_list_cond_count()), or NULL. Borrowed from list. */
const struct condd_cond_info *condd_list_cond(const condd_list *list, size_t i);
/* How many events list holds. list is borrowed. */
size_t condd_list_event_count(const condd_list *list);
/* The i-th event (i < condd_list_event_count()), or NULL. Borrowed from list. */
const struct condd_event_info *condd_list_event(const condd_list *list, size_t i);
/* How many barriers list holds. list is borrowed. */
size_t condd_list_barrier_count(const condd_list *list);
/* The i-th barrier (i < condd_list_barrier_count()), or NULL. Borrowed from list. */
const struct condd_barrier_info *condd_list_barrier(const condd_list *list, size_t i);
/* How many semaphores list holds. list is borrowed. */
size_t condd_list_sem_count(const condd_list *list);
/* The i-th semaphore (i < condd_list_sem_count()), or NULL. Borrowed from list. */
const struct condd_sem_info *condd_list_sem(const condd_list *list, size_t i);
/* True when more locks, conditions, semaphores or events matched than the limit let through.
 * list is borrowed. */
bool condd_list_truncated(const condd_list *list);
/* Frees a list the caller owns (from the blocking condd_conn_list()); NULL ignored. Never free
 * the one an asynchronous callback borrows. */
void condd_list_free(condd_list *list);

/* A predicate for wait_for: returns true when the state the caller waits for holds. It is
 * called with the lock held, on the thread that runs the client. */
typedef bool (*condd_predicate_fn)(void *arg);

/* ------------------------------------------------------------------ blocking API */
/*
 * A blocking connection: each call sends its request and runs a private event loop until the
 * answer arrives. One thread may use one condd_conn at a time; different threads may use
 * different connections. A call made while another thread's call on the same connection is
 * under way is refused with CONDD_ERR_INVALID (condd_conn_message(): "connection in use by
 * another thread ..."), touching nothing; the other call goes on. The session is kept alive (pings)
 * only while a call runs, so the blocking API asks for a long session timeout
 * (CONDD_BLOCKING_SESSION_TIMEOUT unless set in the options); a program that holds a lock and
 * spends longer than that between calls loses the lock and learns it from its next call
 * (CONDD_ERR_SESSION_EXPIRED or another connection error). condd_conn_idle() keeps the session
 * alive while the program has nothing else to do.
 *
 * After a connection error every later call returns CONDD_ERR_DISCONNECTED (or the original
 * error) at once; close the connection and open a new one.
 */
typedef struct condd_conn condd_conn;

/*
 * Connects to addr and completes Hello. addr: "host:port", "host" (port 7380), "[v6addr]:port"
 * or "unix:/path"; NULL or "" means $CONDD_SERVER, else CONDD_DEFAULT_ADDRESS. Host names are
 * resolved with getaddrinfo() (blocking). addr and opts (may be NULL) are borrowed.
 * On CONDD_OK *out is a connection the caller closes with condd_conn_close(); on error *out is
 * NULL and the result says why (CONDD_ERR_ADDRESS, CONDD_ERR_CONNECT, ...), and
 * condd_conn_message(NULL) says more: for CONDD_ERR_CONNECT the operating system's reason
 * (e.g. "Connection refused", "No such file or directory") or which step timed out; for
 * CONDD_ERR_ADDRESS the address and what is wrong with it ("invalid address \"[::1\": '['
 * without ']'", "cannot resolve \"h\": ...", prefixed "$CONDD_SERVER: " when it came from
 * there).
 * fork(): the connection belongs to the process that opened it. In a child, condd_conn_close()
 * only frees the child's copy (it sends nothing and leaves the parent's session alone), and
 * every other call returns CONDD_ERR_INVALID ("connection opened by another process (pid N);
 * open a new one after fork()"); a child that needs the server opens its own connection.
 */
int condd_conn_open(const char *addr, const condd_options *opts, condd_conn **out);

/* Closes the connection (the server releases every lock it held) and frees it. It says
 * Goodbye first (protocol.md §5.7), so that a session with a grace ends at once. NULL ignored. */
void condd_conn_close(condd_conn *conn);

/*
 * Session events of conn (see enum condd_session_event and condd_options_set_grace()). cb runs
 * inside whichever blocking call on conn notices the event (the blocking API only runs while a
 * call runs); it must not call conn. cb NULL clears it; arg is the caller's.
 */
typedef void (*condd_session_cb)(condd_conn *conn, int event, int reason, void *arg);
void condd_conn_set_session_cb(condd_conn *conn, condd_session_cb cb, void *arg);

/* The grace the server granted this session in seconds; 0: it cannot be resumed. */
double condd_conn_grace(const condd_conn *conn);

/*
 * The server's message for the last failed call on conn (e.g. "lock held by another owner"),
 * or "" when the last call succeeded or the error was the client's own; after a connection
 * error, what happened to the connection. Borrowed from conn, valid until the next call on it.
 * With conn NULL: why the calling thread's last condd_conn_open() or condd_async_conn_open()
 * failed, such as the operating system's reason for CONDD_ERR_CONNECT ("Connection refused",
 * "No such file or directory", "timed out connecting") or what is wrong with the address for
 * CONDD_ERR_ADDRESS; "" after a success. Valid until that thread's next open. Never NULL.
 */
const char *condd_conn_message(const condd_conn *conn);

/* A fresh owner handle, unique within conn (never 0). */
uint64_t condd_conn_new_owner(condd_conn *conn);

/*
 * Acquires lock for owner (0 = the default owner), waiting at most timeout seconds
 * (CONDD_FOREVER, 0 = try once). On CONDD_OK *token (may be NULL) is the grant's fencing token.
 * Errors: CONDD_ERR_TIMEOUT (also for a try on a held lock), CONDD_ERR_ALREADY_OWNER,
 * CONDD_ERR_BAD_REQUEST, CONDD_ERR_LIMIT_EXCEEDED, connection errors.
 */
int condd_lock_acquire(condd_conn *conn, const char *lock, uint64_t owner, double timeout,
                       uint64_t *token);

/*
 * condd_lock_acquire() in shared mode (a reader lock; docs/protocol.md §20): any number of
 * owners hold the lock shared together, none exclusively. Granted in arrival order with the
 * exclusive requests (a reader queues behind a waiting writer), each holder with its own token.
 * A try (timeout 0) succeeds only when the lock is free, or held shared with nobody waiting.
 * CONDD_ERR_ALREADY_OWNER when owner holds the lock in either mode (no upgrade or downgrade).
 * condd_lock_release() releases it; condition waits and notifies need the exclusive mode.
 */
int condd_lock_acquire_shared(condd_conn *conn, const char *lock, uint64_t owner, double timeout,
                              uint64_t *token);

/* Releases lock held by owner and waits for the server's answer (CONDD_OK or
 * CONDD_ERR_NOT_OWNER, connection errors). */
int condd_lock_release(condd_conn *conn, const char *lock, uint64_t owner);

/* Is lock held by anyone? On CONDD_OK *locked is set (locked must not be NULL). */
int condd_lock_locked(condd_conn *conn, const char *lock, bool *locked);

/*
 * Waits on cond (bound to lock, which owner must hold): releases lock, waits for a notification
 * for at most timeout seconds, and returns once owner holds lock again. CONDD_OK (notified),
 * CONDD_ERR_TIMEOUT; in both cases owner holds the lock again and *token (may be NULL) is its new
 * fencing token. Other errors (CONDD_ERR_NOT_OWNER, CONDD_ERR_LOCK_MISMATCH, ...) leave the lock
 * as it was; connection errors mean the lock is gone.
 */
int condd_cond_wait(condd_conn *conn, const char *cond, const char *lock, uint64_t owner,
                    double timeout, uint64_t *token);

/*
 * Waits on cond until pred(arg) returns true, with one overall deadline (timeout seconds from
 * the call). owner must hold lock; pred is called with the lock held, first at once, then after
 * every wakeup. CONDD_OK: pred returned true. CONDD_ERR_TIMEOUT: the deadline passed and pred
 * was still false. In both cases owner holds the lock; *token (may be NULL) is the token of the
 * latest re-acquire, or 0 when pred was true at once (the caller's own token still stands).
 * arg is the caller's, passed to pred untouched.
 */
int condd_cond_wait_for(condd_conn *conn, const char *cond, const char *lock, uint64_t owner,
                        double timeout, condd_predicate_fn pred, void *arg, uint64_t *token);

/*
 * notify(n) and wait in one round trip, atomically: wakes up to n waiters of cond (never the
 * caller itself), then waits exactly as condd_cond_wait(). The woken peers get the lock this wait
 * releases, in FIFO order, so a handoff between two parties (wake the peer, wait for it to hand
 * back) costs one request and one reply instead of two of each. n = 0 is condd_cond_wait().
 * Same results, and the same *token (may be NULL), as condd_cond_wait(): after CONDD_OK or
 * CONDD_ERR_TIMEOUT owner holds the lock again (the peers were woken). Any other error but a
 * connection error (CONDD_ERR_NOT_OWNER, CONDD_ERR_LOCK_MISMATCH, ...) woke nobody and left the
 * lock as it was.
 */
int condd_cond_notify_wait(condd_conn *conn, const char *cond, const char *lock, uint64_t owner,
                           uint64_t n, double timeout, uint64_t *token);

/* Wakes at most n waiters of cond, longest-waiting first; owner must hold lock. On CONDD_OK
 * *woken (may be NULL) is how many were woken. */
int condd_cond_notify(condd_conn *conn, const char *cond, const char *lock, uint64_t owner,
                      uint64_t n, uint64_t *woken);

/* Wakes every waiter of cond; owner must hold lock. *woken as for condd_cond_notify(). */
int condd_cond_notify_all(condd_conn *conn, const char *cond, const char *lock, uint64_t owner,
                          uint64_t *woken);

/* ------------------------------------------------------------------ semaphores (sem) */
/*
 * A semaphore is a named counter shared through the server, with asyncio.Semaphore (bounded
 * false) and asyncio.BoundedSemaphore (bounded true) semantics. Every call names the value N
 * (1..2^31) and the kind: the first request creates the semaphore with counter N, and while it
 * exists (a permit held, an acquire waiting, or its counter other than N) a call naming another
 * value or kind fails with CONDD_ERR_VALUE_MISMATCH and changes nothing. Permits are held by
 * (connection, owner); one owner may hold several; the server returns them all when the
 * connection ends. Grants are strictly FIFO.
 */

/* The state of a semaphore, as condd_sem_locked() reports it. */
struct condd_sem_state {
    bool exists;    /* false: no such semaphore (its counter is its value; the rest is 0) */
    bool locked;    /* an acquire would wait: counter 0 or acquires queued */
    uint64_t value; /* the counter now (permits free) */
    uint64_t held;  /* permits held */
};

/*
 * Acquires one permit of semaphore name (value N, bounded) for owner, waiting at most timeout
 * seconds (CONDD_FOREVER; 0 = try once). On CONDD_OK *token (may be NULL) is the grant's fencing
 * token. Errors: CONDD_ERR_TIMEOUT, CONDD_ERR_VALUE_MISMATCH, CONDD_ERR_BAD_REQUEST (name, value
 * outside 1..2^31, timeout), CONDD_ERR_LIMIT_EXCEEDED, connection errors. name is borrowed.
 */
int condd_sem_acquire(condd_conn *conn, const char *name, uint32_t value, bool bounded,
                      uint64_t owner, double timeout, uint64_t *token);

/*
 * Returns one permit of semaphore name held by owner; the longest waiter gets it at once. When
 * owner holds none, a Semaphore counts a posted permit (asyncio's release without acquire: the
 * counter grows, possibly above value) while a BoundedSemaphore refuses with CONDD_ERR_NOT_OWNER
 * ("BoundedSemaphore released too many times"). Also CONDD_ERR_VALUE_MISMATCH,
 * CONDD_ERR_BAD_REQUEST, connection errors. name is borrowed.
 */
int condd_sem_release(condd_conn *conn, const char *name, uint32_t value, bool bounded,
                      uint64_t owner);

/* The state of semaphore name. On CONDD_OK *state (must not be NULL; the caller's) is set. */
int condd_sem_locked(condd_conn *conn, const char *name, struct condd_sem_state *state);

/* One round trip to the server. On CONDD_OK *rtt_s (may be NULL) is the round trip in seconds. */
int condd_conn_ping(condd_conn *conn, double *rtt_s);

/* Server counters. On CONDD_OK *out is a struct the caller frees with condd_stats_free(); on
 * error *out is NULL. */
int condd_conn_stats(condd_conn *conn, condd_stats **out);

/*
 * Locks and conditions whose names start with prefix (NULL or "": all), at most limit of each
 * (0: the server default, 1000). On CONDD_OK *out is a list the caller frees with
 * condd_list_free(); on error *out is NULL. prefix is borrowed.
 */
int condd_conn_list(condd_conn *conn, const char *prefix, uint32_t limit, condd_list **out);

/* ------------------------------------------------------------------ events (event) */
/* asyncio.Event over the network: not owned, any session may set, clear or wait. A set event
 * is remembered by the server until cleared (set events are capped server-wide: set answers
 * CONDD_ERR_LIMIT_EXCEEDED past the cap). name is borrowed for the call. */

/* Sets event name, waking every waiter; it stays set until cleared. On CONDD_OK *woken (may be
 * NULL) is how many waiters were woken. */
int condd_event_set(condd_conn *conn, const char *name, uint64_t *woken);

/* Clears event name (CONDD_OK also when it was clear). */
int condd_event_clear(condd_conn *conn, const char *name);

/* Is event name set? On CONDD_OK *set is set (set must not be NULL). */
int condd_event_is_set(condd_conn *conn, const char *name, bool *set);

/*
 * Waits until event name is set, at most timeout seconds (CONDD_FOREVER; 0 = do not wait).
 * CONDD_OK at once when it is set, or when a set wakes this wait (even if the event was cleared
 * again meanwhile); CONDD_ERR_TIMEOUT; CONDD_ERR_LIMIT_EXCEEDED, CONDD_ERR_BAD_REQUEST,
 * connection errors.
 */
int condd_event_wait(condd_conn *conn, const char *name, double timeout);

/* ------------------------------------------------------------------ barriers (barrier) */
/*
 * asyncio.Barrier over the network: not owned, any session may wait, reset or abort. Every call
 * that may create the barrier names its parties (1..2^31): the first fixes it, and while the
 * barrier exists (it has waiters, or is broken) a call naming other parties fails with
 * CONDD_ERR_VALUE_MISMATCH and changes nothing. A waiter that times out, is cancelled or whose
 * connection ends leaves the barrier without breaking it. name is borrowed for the call.
 */

/* The state of a barrier, as condd_barrier_state() reports it. */
struct condd_barrier_state {
    bool exists;        /* false: no waiters and not broken (the rest is then 0) */
    uint64_t parties;   /* the parties it exists with */
    uint64_t n_waiting; /* waits pending */
    bool broken;        /* aborted and not reset since: every wait fails at once */
};

/*
 * Waits at barrier name (parties) until parties waits are pending, at most timeout seconds
 * (CONDD_FOREVER; 0: succeed only if this wait fills the barrier). On CONDD_OK *index (may be
 * NULL) is this party's arrival index, 0..parties-1, unique among the parties released
 * together. Errors: CONDD_ERR_BROKEN (reset or aborted while waiting, or broken),
 * CONDD_ERR_TIMEOUT, CONDD_ERR_VALUE_MISMATCH, CONDD_ERR_BAD_REQUEST (name, parties, timeout),
 * CONDD_ERR_LIMIT_EXCEEDED, connection errors.
 */
int condd_barrier_wait(condd_conn *conn, const char *name, uint32_t parties, double timeout,
                       uint32_t *index);

/* Resets barrier name: its waiters fail with CONDD_ERR_BROKEN, and it is usable again (no
 * longer broken). parties 0 skips the parties check. On CONDD_OK *broken (may be NULL) is how
 * many waiters were answered CONDD_ERR_BROKEN. CONDD_OK also when it does not exist. */
int condd_barrier_reset(condd_conn *conn, const char *name, uint32_t parties, uint64_t *broken);

/* Aborts barrier name: its waiters fail with CONDD_ERR_BROKEN and so does every new wait until
 * a reset. parties 0 skips the check but is CONDD_ERR_BAD_REQUEST when the barrier does not
 * exist (aborting creates it broken). *broken (may be NULL) as for condd_barrier_reset();
 * CONDD_ERR_LIMIT_EXCEEDED when too many barriers are broken server-wide. */
int condd_barrier_abort(condd_conn *conn, const char *name, uint32_t parties, uint64_t *broken);

/* The state of barrier name. On CONDD_OK *state (must not be NULL; the caller's) is set. */
int condd_barrier_state(condd_conn *conn, const char *name, struct condd_barrier_state *state);

/*
 * Runs the connection's private loop for up to seconds (CONDD_FOREVER: until the connection
 * ends), keeping the session alive with pings. Returns CONDD_OK when the time is up, or the
 * connection error that ended it (e.g. the server went away while a lock was held).
 */
int condd_conn_idle(condd_conn *conn, double seconds);

/* The session timeout the server granted, in seconds. */
double condd_conn_session_timeout(const condd_conn *conn);

/* The server's version string from Hello (e.g. "condd 0.1.0"); borrowed from conn. */
const char *condd_conn_server_version(const condd_conn *conn);

/* The server's session id for this connection (as List shows it in holder_session). */
uint64_t condd_conn_session_id(const condd_conn *conn);

/* ------------------------------------------------------------------ operator controls */
/* These need admin permission on a server with an auth file (protocol.md §5.9). A hold can only
 * be taken from a session by ending it: its client sees CONDD_ERR_SESSION_KILLED, and what it
 * held is handed on as when any session ends. */

/*
 * Ends every other session holding lock (the caller's own session is never ended). On CONDD_OK
 * *ended (may be NULL) is how many sessions were ended (0: the lock was free). Errors:
 * CONDD_ERR_PERMISSION_DENIED, CONDD_ERR_BAD_REQUEST (invalid name), connection errors.
 */
int condd_lock_break(condd_conn *conn, const char *lock, uint64_t *ended);

/* As condd_lock_break(), for the sessions holding permits of semaphore name. */
int condd_sem_break(condd_conn *conn, const char *name, uint64_t *ended);

/*
 * Ends session (an id as List shows it) at once, whatever its grace. CONDD_OK, or
 * CONDD_ERR_NOT_FOUND (no such session), CONDD_ERR_BAD_REQUEST (the caller's own session),
 * CONDD_ERR_PERMISSION_DENIED (needs admin on every name), connection errors.
 */
int condd_conn_kill_session(condd_conn *conn, uint64_t session);

/* ------------------------------------------------------------------ server lists */
/*
 * Several servers (protocol.md §21). Wherever an address is accepted (condd_conn_open(),
 * condd_async_conn_open(), $CONDD_SERVER) a list of addresses separated by commas is too
 * ("a:7380,b:7380,c:7380"); a single address behaves exactly as before. With a list, opening
 * connects to nothing: each server's connection (its own session, keep-alive, grace and resume)
 * is opened the first time a request routes to it. Every call that names an object goes to the
 * server rendezvous hashing picks for the name (a condition: its lock's), the same server from
 * every client with the same list in any order, in any language. A server that is down fails
 * only the calls routed to it. When a server's connection has died because the server went away
 * or could not be reached (not because it refused the client: credentials, version), the next
 * call routed there or made on that connection opens a new session on it, outside the
 * callbacks of that connection: a server that comes back is used again, and the connection
 * pointers callbacks and condd_conn_server() gave stay valid. A connection its server closed
 * while the client was idle counts as died (it is checked before each call), so the first call
 * after a server was stopped and started again goes to the new process (with a grace, the
 * client tries to resume first: that call then fails with CONDD_ERR_SESSION_LOST when the
 * resume is refused, and the next one opens the new session). Calls that name nothing
 * (ping, stats, list, kill_session, session_id, server_version...) need one server: make them on
 * condd_conn_server()'s connection; on the list's own connection they return CONDD_ERR_INVALID
 * (except when the list has one entry). Owner handles from condd_conn_new_owner() are unique over
 * every server.
 */

/* How many servers conn has (1 for a single address; 0 for NULL). */
size_t condd_conn_server_count(const condd_conn *conn);

/* Server i's address as written in the list (borrowed from conn), or NULL out of range. */
const char *condd_conn_server_addr(const condd_conn *conn, size_t i);

/* The server that answered the last call made on conn (or sent its last session event): an
 * index for condd_conn_server_addr(). On a server's connection (condd_conn_server()), its own
 * index. 0 for a single address. */
size_t condd_conn_server_index(const condd_conn *conn);

/* The index of the server that name (borrowed; for a condition, pass its lock) routes to. */
size_t condd_conn_route(const condd_conn *conn, const char *name);

/*
 * Server i's connection, for the calls that name nothing (stats, list, ping, kill_session,
 * session_id...). Calls that name an object made on it still route by their name. Starts
 * connecting to that server if nothing did yet (its first call waits for Hello). *out is owned by
 * conn: never close it (condd_conn_close()
 * on it does nothing); it is freed by condd_conn_close(conn). For a single address, i 0 gives
 * conn itself. CONDD_OK, CONDD_ERR_INVALID (i out of range), CONDD_ERR_NOMEM, or the error
 * opening that server's connection (CONDD_ERR_ADDRESS).
 */
int condd_conn_server(condd_conn *conn, size_t i, condd_conn **out);

#ifdef __cplusplus
}
#endif

#endif
