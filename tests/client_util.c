/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Fixtures shared by the libcondd tests (see client_util.h).
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condd/condd.h>
#include <condd/condd_async.h>

#include "../client/internal.h"
#include "client_util.h"
#include "testutil.h"

/* ------------------------------------------------------------------ fixtures */

struct tu_daemon daemon_;
bool daemon_up;
struct event_base *base;
struct event *tick;

void on_tick(evutil_socket_t fd, short what, void *arg)
{
}

void setup_base(void)
{
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
    /* A periodic no-op so EVLOOP_ONCE returns often enough for run_until() to see deadlines. */
    tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = {0, 10000};
    event_add(tick, &tv);
}

void teardown_base(void)
{
    if (tick != NULL)
        event_free(tick);
    tick = NULL;
    if (base != NULL)
        event_base_free(base);
    base = NULL;
}

void start_daemon_with(bool with_unix, const char *const *extra)
{
    ck_assert_msg(tu_daemon_start(&daemon_, with_unix, extra), "cannot start %s", tu_condd_path());
    daemon_up = true;
}

void setup_daemon(void)
{
    setup_base();
    start_daemon_with(false, NULL);
}

void teardown_daemon(void)
{
    if (daemon_up)
        tu_daemon_stop(&daemon_);
    daemon_up = false;
    teardown_base();
}

void setup_daemon_behind_proxy(struct tu_proxy *p, char *addr, size_t addrlen)
{
    setup_daemon();
    ck_assert_msg(tu_proxy_start(p, daemon_.port), "blipproxy did not start");
    snprintf(addr, addrlen, "127.0.0.1:%d", p->port);
}

void teardown_daemon_behind_proxy(struct tu_proxy *p)
{
    tu_proxy_stop(p);
    teardown_daemon();
}

void restart_daemon_behind_proxy(struct tu_proxy *p, char *addr, size_t addrlen,
                                 const char *const *extra)
{
    tu_proxy_stop(p);
    tu_daemon_stop(&daemon_);
    daemon_up = false;
    start_daemon_with(false, extra);
    ck_assert_msg(tu_proxy_start(p, daemon_.port), "blipproxy did not start");
    snprintf(addr, addrlen, "127.0.0.1:%d", p->port);
}

void on_session_event(condd_async_conn *c, int event, int reason, void *arg)
{
    struct session_events *e = arg;
    if (event == CONDD_SESSION_RESUMING)
        e->resuming++;
    else if (event == CONDD_SESSION_RESUMED)
        e->resumed++;
    else if (event == CONDD_SESSION_LOST)
        e->lost++;
    e->last_reason = reason;
    if (e->n < 8)
        e->order[e->n++] = event;
}

/* Runs the loop until *flag is true or timeout_s passes; returns *flag. */
bool run_until(const bool *flag, double timeout_s)
{
    double end = tu_now() + timeout_s;
    while (!*flag && tu_now() < end)
        event_base_loop(base, EVLOOP_ONCE);
    return *flag;
}

/* Runs the loop until count reaches want or timeout_s passes. */
bool run_until_count(const int *count, int want, double timeout_s)
{
    double end = tu_now() + timeout_s;
    while (*count < want && tu_now() < end)
        event_base_loop(base, EVLOOP_ONCE);
    return *count >= want;
}

/* Runs the loop for seconds, whatever happens. */
void run_for(double seconds)
{
    double end = tu_now() + seconds;
    while (tu_now() < end)
        event_base_loop(base, EVLOOP_ONCE);
}

/* ------------------------------------------------------------------ recording callbacks */

int seq;

void rec_set(condd_async_conn *c, struct rec *r, int rc)
{
    r->calls++;
    r->done = true;
    r->rc = rc;
    r->order = ++seq;
    snprintf(r->msg, sizeof r->msg, "%s", condd_async_conn_message(c));
}

void on_connect(condd_async_conn *c, int rc, void *arg)
{
    rec_set(c, arg, rc);
}

void on_result(condd_async_conn *c, int rc, void *arg)
{
    rec_set(c, arg, rc);
}

void on_token(condd_async_conn *c, int rc, uint64_t token, void *arg)
{
    struct rec *r = arg;
    r->u64 = token;
    rec_set(c, r, rc);
}

void on_locked(condd_async_conn *c, int rc, bool locked, void *arg)
{
    struct rec *r = arg;
    r->flag = locked;
    rec_set(c, r, rc);
}

void on_notify(condd_async_conn *c, int rc, uint64_t woken, void *arg)
{
    struct rec *r = arg;
    r->u64 = woken;
    rec_set(c, r, rc);
}

void on_stats(condd_async_conn *c, int rc, const struct condd_stats *s, void *arg)
{
    struct rec *r = arg;
    if (s != NULL) {
        r->u64 = s->locks_held;
        r->flag = s->n_ops > 0 && condd_stats_op(s, 0) != NULL && s->server_version[0] != '\0';
    }
    rec_set(c, r, rc);
}

void on_list(condd_async_conn *c, int rc, const struct condd_list *l, void *arg)
{
    struct rec *r = arg;
    r->u64 = condd_list_lock_count(l);
    r->flag = false;
    for (size_t i = 0; i < condd_list_lock_count(l); i++) {
        const struct condd_lock_info *li = condd_list_lock(l, i);
        if (strcmp(li->name, "list/a") == 0 && li->held && li->token != 0 &&
            li->holder_client[0] != '\0')
            r->flag = true;
    }
    rec_set(c, r, rc);
}

condd_async_conn *connect_ok(const char *addr, const condd_options *opts)
{
    struct rec r = {0};
    condd_async_conn *c = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, addr, opts, on_connect, &r, &c), CONDD_OK);
    ck_assert_ptr_nonnull(c);
    ck_assert(run_until(&r.done, 10));
    ck_assert_msg(r.rc == CONDD_OK, "connect: %s (%s)", condd_strerror(r.rc), r.msg);
    ck_assert(condd_async_conn_is_connected(c));
    return c;
}

condd_async_conn *connect_daemon(void)
{
    return connect_ok(daemon_.addr, NULL);
}

/* Acquires lock for owner on c and returns the token (asserting success). */
uint64_t acquire_ok(condd_async_conn *c, const char *lock, uint64_t owner)
{
    struct rec r = {0};
    ck_assert_int_eq(condd_async_lock_acquire(c, lock, owner, CONDD_FOREVER, on_token, &r, NULL),
                     CONDD_OK);
    ck_assert(run_until(&r.done, 10));
    ck_assert_msg(r.rc == CONDD_OK, "acquire %s: %s", lock, condd_strerror(r.rc));
    ck_assert(r.u64 != 0);
    return r.u64;
}

int release_sync(condd_async_conn *c, const char *lock, uint64_t owner)
{
    struct rec r = {0};
    ck_assert_int_eq(condd_async_lock_release(c, lock, owner, on_result, &r), CONDD_OK);
    ck_assert(run_until(&r.done, 10));
    return r.rc;
}

/* A port with nothing listening on it (bound, then closed). */
int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t len = sizeof sin;
    getsockname(fd, (struct sockaddr *)&sin, &len);
    close(fd);
    return ntohs(sin.sin_port);
}

/* ------------------------------------------------------------------ blocking notify_wait peer */

static void nw_on_released(condd_async_conn *ac, int rc, void *arg)
{
    struct nw_peer *p = arg;
    p->released_rc = rc;
    p->done = true;
}

static void nw_on_back(condd_async_conn *ac, int rc, uint64_t token, void *arg)
{
    struct nw_peer *p = arg;
    p->back_rc = rc;
    if (condd_async_lock_release(ac, p->lock, 0, nw_on_released, p) != CONDD_OK)
        p->done = true;
}

static void nw_on_woken(condd_async_conn *ac, int rc, uint64_t token, void *arg)
{
    struct nw_peer *p = arg;
    p->woken = true;
    p->woken_rc = rc;
    p->woken_token = token;
    int issued = p->hand_back ? condd_async_cond_notify_wait(ac, p->cond, p->lock, 0, 1,
                                                             CONDD_FOREVER, nw_on_back, p, NULL)
                              : condd_async_lock_release(ac, p->lock, 0, nw_on_released, p);
    if (issued != CONDD_OK)
        p->done = true;
}

static void nw_on_grant(condd_async_conn *ac, int rc, uint64_t token, void *arg)
{
    struct nw_peer *p = arg;
    p->granted = rc == CONDD_OK;
    if (p->granted)
        p->granted = condd_async_cond_wait(ac, p->cond, p->lock, 0, CONDD_FOREVER, nw_on_woken, p,
                                           NULL) == CONDD_OK;
}

/* Runs conn's private loop (and with it the peer) until *flag, for at most 20 s. */
bool nw_drive(condd_conn *conn, const bool *flag)
{
    for (int i = 0; i < 2000 && !*flag; i++)
        if (condd_conn_idle(conn, 0.01) != CONDD_OK)
            return false;
    return *flag;
}

/* Starts the peer and returns once it waits on the condition: conn then holds the lock
 * (acquired after the peer's wait released it), with *token its fencing token. */
void nw_peer_start(condd_conn *conn, struct nw_peer *p, uint64_t *token)
{
    ck_assert_int_eq(
        condd_async_conn_open(condd_conn_base(conn), daemon_.addr, NULL, NULL, NULL, &p->ac),
        CONDD_OK);
    ck_assert_int_eq(
        condd_async_lock_acquire(p->ac, p->lock, 0, CONDD_FOREVER, nw_on_grant, p, NULL), CONDD_OK);
    ck_assert(nw_drive(conn, &p->granted));
    ck_assert_int_eq(condd_lock_acquire(conn, p->lock, 0, CONDD_FOREVER, token), CONDD_OK);
}
