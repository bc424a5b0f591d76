/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Fixtures shared by the libcondd tests (check_client.c): the test's event_base with a periodic
 * tick so run_until() sees its deadline, a condd per test case, callbacks that record each
 * result, shortcuts that assert an operation succeeded, and the asynchronous peer of the
 * blocking notify_wait tests.
 */
#ifndef CONDD_TESTS_CLIENT_UTIL_H
#define CONDD_TESTS_CLIENT_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include <condd/condd.h>
#include <condd/condd_async.h>

#include "proxy_util.h"
#include "testutil.h"

extern struct tu_daemon daemon_;
extern bool daemon_up;
extern struct event_base *base;
extern struct event *tick;
extern int seq;

struct rec {
    bool done;
    int calls;
    int rc;
    uint64_t u64;
    bool flag;
    char msg[128];
    int order; /* sequence number at completion */
};

void on_tick(evutil_socket_t fd, short what, void *arg);
void setup_base(void);
void teardown_base(void);
void start_daemon_with(bool with_unix, const char *const *extra);
void setup_daemon(void);
void teardown_daemon(void);
/* condd (setup_daemon()) behind tests/blipproxy: *p started in front of it; addr (addrlen
 * bytes) gets the proxy's "127.0.0.1:PORT". The teardown stops both. */
void setup_daemon_behind_proxy(struct tu_proxy *p, char *addr, size_t addrlen);
void teardown_daemon_behind_proxy(struct tu_proxy *p);
/* Replaces the daemon behind *p by one started with extra options (a NULL-terminated list);
 * the proxy is started again in front of it and addr updated. */
void restart_daemon_behind_proxy(struct tu_proxy *p, char *addr, size_t addrlen,
                                 const char *const *extra);
bool run_until(const bool *flag, double timeout_s);
bool run_until_count(const int *count, int want, double timeout_s);
void run_for(double seconds);
void rec_set(condd_async_conn *c, struct rec *r, int rc);
void on_connect(condd_async_conn *c, int rc, void *arg);
void on_result(condd_async_conn *c, int rc, void *arg);
void on_token(condd_async_conn *c, int rc, uint64_t token, void *arg);
void on_locked(condd_async_conn *c, int rc, bool locked, void *arg);
void on_notify(condd_async_conn *c, int rc, uint64_t woken, void *arg);
void on_stats(condd_async_conn *c, int rc, const struct condd_stats *s, void *arg);
void on_list(condd_async_conn *c, int rc, const struct condd_list *l, void *arg);
/* A client's session events, counted: the arg of on_session_event()
 * (condd_async_conn_set_session_cb). */
struct session_events {
    int resuming, resumed, lost;
    int last_reason; /* of the last event */
    int order[8];    /* the first events, in order */
    int n;
};
void on_session_event(condd_async_conn *c, int event, int reason, void *arg);
condd_async_conn *connect_ok(const char *addr, const condd_options *opts);
condd_async_conn *connect_daemon(void);
uint64_t acquire_ok(condd_async_conn *c, const char *lock, uint64_t owner);
int release_sync(condd_async_conn *c, const char *lock, uint64_t owner);
int closed_port(void);

/*
 * A peer for the blocking notify_wait tests: an asynchronous connection on the blocking
 * connection's private event_base (condd_conn_base()), so it runs while a blocking call waits.
 * It takes the lock, waits on the condition, and once woken either hands the lock back with a
 * notify_wait of its own (hand_back) or releases it.
 */
struct nw_peer {
    condd_async_conn *ac;
    const char *cond, *lock;
    bool hand_back;
    bool granted, woken, done;
    int woken_rc, back_rc, released_rc;
    uint64_t woken_token;
};

/* Runs conn's private loop (and with it the peer) until *flag, for at most 20 s. */
bool nw_drive(condd_conn *conn, const bool *flag);
/* Starts the peer on condd_conn_base(conn) and returns once it waits on the condition: conn
 * then holds the lock (acquired after the peer's wait released it), *token its fencing token.
 * The caller closes p->ac before conn. */
void nw_peer_start(condd_conn *conn, struct nw_peer *p, uint64_t *token);

#endif
