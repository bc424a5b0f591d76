/* SPDX-License-Identifier: BSD-2-Clause
 *
 * libcondd's asynchronous API: suspend-and-resume operations on the caller's own libevent
 * struct event_base. The caller issues acquire / wait / notify ... and carries on serving its
 * other events; the callback runs on that same loop when the server answers. This is the only
 * public header that includes libevent.
 *
 * Naming: every name here is condd_async_<object>_<verb>, the asynchronous twin of the blocking
 * condd_<object>_<verb> of <condd/condd.h> (condd_lock_acquire() and condd_async_lock_acquire(),
 * condd_conn_ping() and condd_async_conn_ping()); it runs on a condd_async_conn and reports
 * through a callback typed condd_async_<...>_cb.
 *
 * Rules that hold for every call below:
 *  - A call that returns CONDD_OK will run its callback exactly once, later, from the event loop
 *    (never from inside the call itself): with the server's answer, with an error status from
 *    the server, or with a connection error (see condd_result_is_connection_error()). A call
 *    that returns an error never runs its callback.
 *  - Requests may be issued as soon as condd_async_conn_open() returns, before the connect
 *    callback: they are queued behind Hello. Requests of one connection are sent and processed
 *    in order, and all requests issued in one loop turn go out in one write.
 *  - Inside any callback, condd_async_conn_message() gives the server's message for that answer.
 *  - A callback may issue new requests, close the connection with condd_async_conn_close(), and
 *    free whatever its arg points to; the library touches nothing of the caller's after a
 *    callback returns and frees the connection only once no callback of it is running.
 *  - Keep-alive: while the caller's loop runs, the library pings the server at a third of the
 *    session timeout and declares the server dead (CONDD_ERR_SERVER_TIMEOUT) when it hears
 *    nothing for the session timeout. A caller that blocks its loop for longer than the session
 *    timeout loses its session, and with it every lock it holds and every pending request: it
 *    learns this through its callbacks (each pending one gets a connection error, then the
 *    disconnect callback runs). Holding a lock is only as good as the loop that keeps the
 *    session alive; use the fencing tokens to protect the resources the lock guards.
 *  - One thread drives a connection: the thread running its event_base.
 *  - Every arg is the caller's: the library passes it back to the callback and never touches it.
 */
#ifndef CONDD_CONDD_ASYNC_H
#define CONDD_CONDD_ASYNC_H

#include <event2/event.h>

#include <condd/condd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An asynchronous connection to condd (opaque). */
typedef struct condd_async_conn condd_async_conn;

/* ------------------------------------------------------------------ callback types */

/* Connect finished: result is CONDD_OK (Hello done) or why the connection failed. On failure
 * every request queued meanwhile has already had its callback with the same error. */
typedef void (*condd_async_connect_cb)(condd_async_conn *ac, int result, void *arg);

/*
 * The connection ended for a reason other than condd_async_conn_close(): reason is a connection
 * error (CONDD_ERR_DISCONNECTED, _SESSION_EXPIRED, _SERVER_TIMEOUT, _PROTOCOL, _SHUTTING_DOWN...).
 * It runs after every pending callback has had its error. Every lock held through ac is gone.
 * Not run when connecting fails (the connect callback says so).
 */
typedef void (*condd_async_disconnect_cb)(condd_async_conn *ac, int reason, void *arg);

/* A plain result (release, ping, cancel). */
typedef void (*condd_async_result_cb)(condd_async_conn *ac, int result, void *arg);

/*
 * Acquire, wait, notify_wait and wait_for: token is the fencing token of the owner's current
 * grant when it holds the lock (acquire CONDD_OK; wait CONDD_OK / CONDD_ERR_TIMEOUT /
 * CONDD_ERR_CANCELLED), else 0.
 */
typedef void (*condd_async_token_cb)(condd_async_conn *ac, int result, uint64_t token, void *arg);

/* Locked: locked is meaningful on CONDD_OK. */
typedef void (*condd_async_locked_cb)(condd_async_conn *ac, int result, bool locked, void *arg);

/* Semaphore locked: state is NULL unless result is CONDD_OK; borrowed for the callback. */
typedef void (*condd_async_sem_locked_cb)(condd_async_conn *ac, int result,
                                          const struct condd_sem_state *state, void *arg);

/* Barrier wait: index is the arrival index (on CONDD_OK), else 0. */
typedef void (*condd_async_index_cb)(condd_async_conn *ac, int result, uint32_t index, void *arg);

/* Barrier state: state is NULL unless result is CONDD_OK; borrowed for the callback. */
typedef void (*condd_async_barrier_state_cb)(condd_async_conn *ac, int result,
                                             const struct condd_barrier_state *state, void *arg);

/* Notify and notify_all: woken is how many waiters were woken (on CONDD_OK). Also event set
 * (woken) and barrier reset and abort (waiters answered CONDD_ERR_BROKEN). */
typedef void (*condd_async_notify_cb)(condd_async_conn *ac, int result, uint64_t woken, void *arg);

/* Stats: stats is NULL unless result is CONDD_OK; it is owned by the library and valid only
 * during the callback (never pass it to condd_stats_free()). */
typedef void (*condd_async_stats_cb)(condd_async_conn *ac, int result, const condd_stats *stats,
                                     void *arg);

/* List: list is NULL unless result is CONDD_OK; it is owned by the library and valid only
 * during the callback, everything reached through it too (never pass it to condd_list_free()). */
typedef void (*condd_async_list_cb)(condd_async_conn *ac, int result, const condd_list *list,
                                    void *arg);

/* ------------------------------------------------------------------ connection (conn) */

/*
 * Starts connecting to addr on base. addr: "host:port", "host" (port 7380), "[v6addr]:port" or
 * "unix:/path"; NULL or "" means $CONDD_SERVER, else CONDD_DEFAULT_ADDRESS. Host names are
 * resolved with getaddrinfo() during the call (blocking); use numeric addresses to avoid that.
 * base is borrowed and must outlive the connection. addr and opts (may be NULL) are borrowed.
 * cb (may be NULL) runs exactly once: when the connection is ready (CONDD_OK), has failed (the
 * error), or is closed before that (CONDD_ERR_CLOSED, from inside condd_async_conn_close(),
 * after the callbacks of the requests queued behind Hello).
 * On CONDD_OK *out is the connection; the caller frees it with condd_async_conn_close() exactly
 * once, also after a failure or disconnect. On error (CONDD_ERR_ADDRESS, CONDD_ERR_CONNECT when
 * no socket can be made, CONDD_ERR_INVALID, CONDD_ERR_NOMEM) *out is NULL, cb never runs, and
 * condd_conn_message(NULL) says why on the calling thread (e.g. "invalid address \"h:99999\":
 * port 99999 is out of range (1..65535)"); every call sets it ("" on success).
 * fork(): the connection belongs to the process that opened it. In a child,
 * condd_async_conn_close() only frees the child's copy: it sends nothing, leaves the parent's
 * session alone and runs no callback (they are the parent's); every call returns
 * CONDD_ERR_INVALID and condd_async_conn_message() says "connection opened by another process
 * (pid N); open a new one after fork()". (libevent: a child that keeps using base calls
 * event_reinit() on it first.)
 */
int condd_async_conn_open(struct event_base *base, const char *addr, const condd_options *opts,
                          condd_async_connect_cb cb, void *arg, condd_async_conn **out);

/*
 * Closes the connection and frees it, after sending Goodbye (protocol.md §5.7) when connected,
 * so that the server ends the session at once whatever its grace. Every pending callback runs
 * first, once, with CONDD_ERR_CLOSED (the disconnect callback does not run). Safe to call from
 * inside any callback of ac (the memory is freed once that callback returns); calls on ac made by
 * callbacks run during the close return CONDD_ERR_CLOSED. ac must not be used after this call (it
 * is the library's to free). NULL ignored.
 */
void condd_async_conn_close(condd_async_conn *ac);

/* Sets (or with cb NULL, clears) the disconnect callback. arg is the caller's. */
void condd_async_conn_set_disconnect_cb(condd_async_conn *ac, condd_async_disconnect_cb cb,
                                        void *arg);

/*
 * Session events of a connection with a grace (condd_options_set_grace()): event is a
 * CONDD_SESSION_* value. RESUMING (reason: why the connection was lost) runs once per loss,
 * before reconnecting; pending calls stay pending and new calls are queued meanwhile.
 * RESUMED (reason 0) runs once the server accepted the resume, before the answers it kept.
 * LOST (reason CONDD_ERR_SESSION_LOST) runs after every pending callback has had that error,
 * and before the disconnect callback. May close ac. cb NULL clears it; arg is the caller's.
 * When the server offers acknowledged delivery (the library asks for it with every grace,
 * see condd_options_set_grace()), requests the server had not read are sent again at the
 * resume, before the calls issued meanwhile, and no answer in flight is lost.
 */
typedef void (*condd_async_session_cb)(condd_async_conn *ac, int event, int reason, void *arg);
void condd_async_conn_set_session_cb(condd_async_conn *ac, condd_async_session_cb cb, void *arg);

/* The grace the server granted in seconds (after the connect callback); 0: not resumable. */
double condd_async_conn_grace(const condd_async_conn *ac);

/* True once Hello has completed and until the connection ends. */
bool condd_async_conn_is_connected(const condd_async_conn *ac);

/*
 * The server's message of the answer being delivered ("" if none). Only meaningful inside a
 * callback of ac; borrowed from ac, valid until that callback returns. For a connection error it
 * is a description of what happened to the connection; in the connect callback with
 * CONDD_ERR_CONNECT, the operating system's reason the last address tried failed (strerror()
 * text such as "Connection refused" or "No such file or directory"), or "timed out connecting" /
 * "timed out waiting for the server's answer to Hello" when the connect timeout passed.
 */
const char *condd_async_conn_message(const condd_async_conn *ac);

/* A fresh owner handle, unique within ac (never 0). */
uint64_t condd_async_conn_new_owner(condd_async_conn *ac);

/* The session timeout in effect (the server's value once connected; before that, the one asked
 * for, or 0 for the server's default). */
double condd_async_conn_session_timeout(const condd_async_conn *ac);

/* The server's version string from Hello ("" before); borrowed from ac. */
const char *condd_async_conn_server_version(const condd_async_conn *ac);

/* The server's session id (0 before Hello completes). */
uint64_t condd_async_conn_session_id(const condd_async_conn *ac);

/* Requests sent (or queued) whose answer has not arrived yet, releases included. */
size_t condd_async_conn_pending_count(const condd_async_conn *ac);

/* The event_base the connection runs on (borrowed: the one given to condd_async_conn_open()). */
struct event_base *condd_async_conn_base(const condd_async_conn *ac);

/* ------------------------------------------------------------------ operations */
/* Every operation returns CONDD_OK (the callback will run once), or CONDD_ERR_INVALID,
 * CONDD_ERR_NOMEM, or the connection error that already ended the connection (CONDD_ERR_CLOSED
 * after condd_async_conn_close()) - and then the callback does not run. Names and prefixes are
 * borrowed for the duration of the call. */

/*
 * Cancels the pending acquire, wait, notify_wait, wait_for or event wait with id req_id. cb (may be
 * NULL) gets CONDD_OK when the target was pending (its own callback then runs with
 * CONDD_ERR_CANCELLED; a wait's only once its owner holds the lock again), or CONDD_ERR_NOT_FOUND
 * when it had already been answered (for an acquire: the grant stands and the owner must release
 * it).
 */
int condd_async_conn_cancel(condd_async_conn *ac, uint64_t req_id, condd_async_result_cb cb,
                            void *arg);

/* One round trip. cb (required). */
int condd_async_conn_ping(condd_async_conn *ac, condd_async_result_cb cb, void *arg);

/* Server counters. cb (required) gets a library-owned condd_stats valid during the call. */
int condd_async_conn_stats(condd_async_conn *ac, condd_async_stats_cb cb, void *arg);

/* Locks and conditions whose names start with prefix (NULL or "": all), at most limit of each
 * (0: server default). cb (required) gets a library-owned condd_list valid during the call. */
int condd_async_conn_list(condd_async_conn *ac, const char *prefix, uint32_t limit,
                          condd_async_list_cb cb, void *arg);

/*
 * Acquires lock for owner, waiting at most timeout seconds (CONDD_FOREVER; 0 = try once).
 * cb (required) gets CONDD_OK with the fencing token, CONDD_ERR_TIMEOUT, CONDD_ERR_CANCELLED,
 * CONDD_ERR_ALREADY_OWNER, CONDD_ERR_BAD_REQUEST, ... *req_id (may be NULL) is the id to pass
 * to condd_async_conn_cancel().
 */
int condd_async_lock_acquire(condd_async_conn *ac, const char *lock, uint64_t owner, double timeout,
                             condd_async_token_cb cb, void *arg, uint64_t *req_id);

/*
 * condd_async_lock_acquire() in shared mode (see condd_lock_acquire_shared()): same arguments,
 * callback and cancel, the lock held shared on CONDD_OK.
 */
int condd_async_lock_acquire_shared(condd_async_conn *ac, const char *lock, uint64_t owner,
                                    double timeout, condd_async_token_cb cb, void *arg,
                                    uint64_t *req_id);

/*
 * Releases lock held by owner without waiting: the request is sent at once and the next request
 * on ac is processed after it, so an acquire issued right after sees the lock released. cb may
 * be NULL; if given it runs once with CONDD_OK, CONDD_ERR_NOT_OWNER or a connection error.
 */
int condd_async_lock_release(condd_async_conn *ac, const char *lock, uint64_t owner,
                             condd_async_result_cb cb, void *arg);

/* Asks whether lock is held by anyone. cb (required). */
int condd_async_lock_locked(condd_async_conn *ac, const char *lock, condd_async_locked_cb cb,
                            void *arg);

/*
 * Waits on cond, bound to lock, which owner must hold: the server releases lock, queues the
 * owner on cond, and answers once the owner holds lock again after a notification (CONDD_OK),
 * the timeout (CONDD_ERR_TIMEOUT) or a cancel (CONDD_ERR_CANCELLED); in these three cases the
 * token is the new grant's. Errors CONDD_ERR_NOT_OWNER, CONDD_ERR_LOCK_MISMATCH... leave the lock
 * as it was. cb (required). *req_id (may be NULL) is for condd_async_conn_cancel().
 */
int condd_async_cond_wait(condd_async_conn *ac, const char *cond, const char *lock, uint64_t owner,
                          double timeout, condd_async_token_cb cb, void *arg, uint64_t *req_id);

/*
 * notify(n) and wait in one request, atomically: wakes up to n of cond's waiters (never the
 * caller itself), then waits exactly as condd_async_cond_wait(). The woken peers get the lock
 * this wait releases, in FIFO order. A handoff between two parties (notify the peer, wait for it
 * to hand back) thus costs one request and one reply instead of two of each. Same results,
 * ownership and req_id as condd_async_cond_wait(); on an error other than CONDD_ERR_TIMEOUT,
 * CONDD_ERR_CANCELLED or a connection error nobody was woken.
 */
int condd_async_cond_notify_wait(condd_async_conn *ac, const char *cond, const char *lock,
                                 uint64_t owner, uint64_t n, double timeout,
                                 condd_async_token_cb cb, void *arg, uint64_t *req_id);

/*
 * Waits on cond until pred(pred_arg) is true, with one overall deadline of timeout seconds.
 * owner must hold lock. pred is called with the lock held: once during this call (so the common
 * "already true" case costs no round trip; cb still runs later, from the loop) and after each
 * wakeup; between wakeups the lock is released. cb (required) gets CONDD_OK once pred returned
 * true, CONDD_ERR_TIMEOUT when the deadline passed with pred false (lock held),
 * CONDD_ERR_CANCELLED after condd_async_conn_cancel(*req_id) (lock held), or another error.
 * token: see condd_async_token_cb; 0 when pred was true at once. The names are copied;
 * pred_arg and arg are the caller's.
 */
int condd_async_cond_wait_for(condd_async_conn *ac, const char *cond, const char *lock,
                              uint64_t owner, double timeout, condd_predicate_fn pred,
                              void *pred_arg, condd_async_token_cb cb, void *arg, uint64_t *req_id);

/* Wakes at most n waiters of cond (longest-waiting first); owner must hold lock. cb (required). */
int condd_async_cond_notify(condd_async_conn *ac, const char *cond, const char *lock,
                            uint64_t owner, uint64_t n, condd_async_notify_cb cb, void *arg);

/* Wakes every waiter of cond; owner must hold lock. cb (required). */
int condd_async_cond_notify_all(condd_async_conn *ac, const char *cond, const char *lock,
                                uint64_t owner, condd_async_notify_cb cb, void *arg);

/* ------------------------------------------------------------------ semaphores (sem) */
/* Semantics as for the blocking condd_sem_*() in <condd/condd.h>. Names are borrowed. */

/*
 * Acquires one permit of semaphore name (value, bounded) for owner, waiting at most timeout
 * seconds (CONDD_FOREVER; 0 = try once). cb (required) gets CONDD_OK with the fencing token,
 * CONDD_ERR_TIMEOUT, CONDD_ERR_CANCELLED, CONDD_ERR_VALUE_MISMATCH, ... *req_id (may be NULL) is
 * the id to pass to condd_async_conn_cancel().
 */
int condd_async_sem_acquire(condd_async_conn *ac, const char *name, uint32_t value, bool bounded,
                            uint64_t owner, double timeout, condd_async_token_cb cb, void *arg,
                            uint64_t *req_id);

/* Returns one permit held by owner (or posts one, see condd_sem_release()) without waiting. cb
 * may be NULL; if given it runs once with CONDD_OK, CONDD_ERR_NOT_OWNER,
 * CONDD_ERR_VALUE_MISMATCH or another error. */
int condd_async_sem_release(condd_async_conn *ac, const char *name, uint32_t value, bool bounded,
                            uint64_t owner, condd_async_result_cb cb, void *arg);

/* Asks for the state of semaphore name. cb (required). */
int condd_async_sem_locked(condd_async_conn *ac, const char *name, condd_async_sem_locked_cb cb,
                           void *arg);

/* ------------------------------------------------------------------ events (event) */
/* asyncio.Event over the network (see condd_event_set() in condd.h). name is borrowed for the
 * call; every callback is required and runs once, as for the operations above. */

/* Sets event name, waking every waiter; cb gets CONDD_OK with how many were woken, or
 * CONDD_ERR_LIMIT_EXCEEDED (too many events set server-wide), CONDD_ERR_BAD_REQUEST, ... */
int condd_async_event_set(condd_async_conn *ac, const char *name, condd_async_notify_cb cb,
                          void *arg);

/* Clears event name; cb gets CONDD_OK (also when it was clear) or an error. */
int condd_async_event_clear(condd_async_conn *ac, const char *name, condd_async_result_cb cb,
                            void *arg);

/* Asks whether event name is set; cb gets the answer in its bool. */
int condd_async_event_is_set(condd_async_conn *ac, const char *name, condd_async_locked_cb cb,
                             void *arg);

/*
 * Waits until event name is set, at most timeout seconds (CONDD_FOREVER; 0 = do not wait). cb
 * gets CONDD_OK (set now, or woken by a set), CONDD_ERR_TIMEOUT, CONDD_ERR_CANCELLED (after
 * condd_async_conn_cancel() with *req_id, which may be NULL), CONDD_ERR_LIMIT_EXCEEDED, ...
 */
int condd_async_event_wait(condd_async_conn *ac, const char *name, double timeout,
                           condd_async_result_cb cb, void *arg, uint64_t *req_id);

/* ------------------------------------------------------------------ barriers (barrier) */
/* asyncio.Barrier over the network (see condd_barrier_wait() in condd.h). name is borrowed for
 * the call; every callback is required and runs once, as for the operations above. */

/*
 * Waits at barrier name (parties), at most timeout seconds (CONDD_FOREVER; 0: only a filling
 * wait succeeds). cb gets CONDD_OK with the arrival index, CONDD_ERR_BROKEN, CONDD_ERR_TIMEOUT,
 * CONDD_ERR_CANCELLED (after condd_async_conn_cancel() with *req_id, which may be NULL),
 * CONDD_ERR_VALUE_MISMATCH, ...
 */
int condd_async_barrier_wait(condd_async_conn *ac, const char *name, uint32_t parties,
                             double timeout, condd_async_index_cb cb, void *arg, uint64_t *req_id);

/* Resets barrier name (parties 0: no check); cb gets CONDD_OK with how many waiters were
 * answered CONDD_ERR_BROKEN, or an error. */
int condd_async_barrier_reset(condd_async_conn *ac, const char *name, uint32_t parties,
                              condd_async_notify_cb cb, void *arg);

/* Aborts barrier name (parties 0: no check, but needed when it does not exist); cb as for
 * condd_async_barrier_reset(). */
int condd_async_barrier_abort(condd_async_conn *ac, const char *name, uint32_t parties,
                              condd_async_notify_cb cb, void *arg);

/* Asks for the state of barrier name. cb (required). */
int condd_async_barrier_state(condd_async_conn *ac, const char *name,
                              condd_async_barrier_state_cb cb, void *arg);

/* ------------------------------------------------------------------ blocking <-> async bridge */

/*
 * The asynchronous connection under a blocking one, and the private event_base it runs on
 * (both borrowed from conn, freed by condd_conn_close()). A program may add its own events to
 * that base and run it (e.g. to watch a child process while holding a lock and learn of a lost
 * session through condd_async_conn_set_disconnect_cb()); it must not free either.
 */
condd_async_conn *condd_conn_async(condd_conn *conn);
struct event_base *condd_conn_base(condd_conn *conn);

/* ------------------------------------------------------------------ operator controls */
/* The asynchronous twins of condd_lock_break(), condd_sem_break() and
 * condd_conn_kill_session() (condd.h), with the same results. The name is borrowed for the call;
 * cb is required and runs once. For the breaks, cb's count is the number of sessions ended. */

int condd_async_lock_break(condd_async_conn *ac, const char *lock, condd_async_notify_cb cb,
                           void *arg);
int condd_async_sem_break(condd_async_conn *ac, const char *name, condd_async_notify_cb cb,
                          void *arg);
int condd_async_conn_kill_session(condd_async_conn *ac, uint64_t session, condd_async_result_cb cb,
                                  void *arg);

/* ------------------------------------------------------------------ server lists */
/*
 * An asynchronous connection opened on a list of servers (see "server lists" in condd.h):
 * opening connects to nothing (the connect callback runs from the loop with CONDD_OK); each
 * server's connection is opened the first time a call routes there, and calls made meanwhile
 * are queued behind its Hello. Every callback of a call (and the disconnect and session
 * callbacks) gets as its ac the connection of the server that answered: ask it
 * condd_async_conn_server_index(), condd_async_conn_message(), condd_async_conn_session_id().
 * Such a server connection is owned by the list's: calls naming an object made on it route by
 * their name as on the list's; calls naming nothing go to its server; condd_async_conn_close()
 * on it closes the list's connection (all servers). A disconnect of one server runs the
 * disconnect callback with that server's connection and fails only the calls routed there;
 * later calls routed there fail with its error. condd_async_conn_cancel() on the list's
 * connection finds the server by the request id, and returns CONDD_ERR_NOT_FOUND at once when
 * no server has it pending.
 */

/* How many servers (1 for a single address; 0 for NULL). */
size_t condd_async_conn_server_count(const condd_async_conn *ac);

/* Server i's address as written in the list (borrowed from ac), or NULL out of range. */
const char *condd_async_conn_server_addr(const condd_async_conn *ac, size_t i);

/* For a server's connection (what callbacks get): its index in the list. For the list's own
 * connection: the server of the last answer delivered. 0 for a single address. */
size_t condd_async_conn_server_index(const condd_async_conn *ac);

/* The index of the server name (borrowed; a condition: its lock) routes to. */
size_t condd_async_conn_route(const condd_async_conn *ac, const char *name);

/*
 * Server i's connection (opened now if it was not: Hello is queued), borrowed from ac (see
 * above). For a single address, i 0 gives ac itself. CONDD_OK, CONDD_ERR_INVALID,
 * CONDD_ERR_CLOSED, CONDD_ERR_NOMEM, or the error opening it (CONDD_ERR_ADDRESS).
 */
int condd_async_conn_server(condd_async_conn *ac, size_t i, condd_async_conn **out);

#ifdef __cplusplus
}
#endif

#endif
