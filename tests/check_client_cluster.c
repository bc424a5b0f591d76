/* SPDX-License-Identifier: BSD-2-Clause
 *
 * libcondd on a server list (condd.h, "server lists"; protocol.md §21) against three condd on
 * loopback started with --cluster listing all three (tests/cluster_util.c): connections open
 * lazily, one per server, the first time a name routes there (the daemons' Stats show it);
 * the same name always reaches the same server, which the daemon's List confirms, from the
 * blocking and the asynchronous API; callbacks and the blocking connection say which server
 * answered; a condition goes with its lock; calls that name nothing need one server; a client
 * whose list differs gets CONDD_ERR_WRONG_SERVER naming the right server; and a server that is
 * down fails only the calls routed to it.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condd/condd.h>
#include <condd/condd_async.h>

#include "cluster_util.h"
#include "route.h"

static struct tu_cluster cl;

static void setup(void)
{
    ck_assert_msg(tu_cluster_start(&cl, 3, NULL, NULL), "three condd did not start");
}

static void teardown(void)
{
    tu_cluster_stop(&cl);
}

static size_t owner_of(const char *name)
{
    return tu_cluster_owner(&cl, name);
}

static void name_on(size_t want, const char *prefix, char *out, size_t len)
{
    ck_assert_msg(tu_cluster_name(&cl, want, true, prefix, out, len),
                  "no name routes to server %zu", want);
}

/* Open client connections on daemon i, seen through a connection of our own (minus it). */
static uint64_t clients_on(size_t i)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(cl.d[i].addr, NULL, &c), CONDD_OK);
    condd_stats *st = NULL;
    ck_assert_int_eq(condd_conn_stats(c, &st), CONDD_OK);
    uint64_t n = st->connections - 1;
    condd_stats_free(st);
    condd_conn_close(c);
    return n;
}

/* The session holding lock on daemon i according to its List (0: not held there). */
static uint64_t holder_on(size_t i, const char *lock)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(cl.d[i].addr, NULL, &c), CONDD_OK);
    condd_list *l = NULL;
    ck_assert_int_eq(condd_conn_list(c, lock, 0, &l), CONDD_OK);
    uint64_t s = 0;
    for (size_t k = 0; k < condd_list_lock_count(l); k++) {
        const struct condd_lock_info *li = condd_list_lock(l, k);
        if (strcmp(li->name, lock) == 0 && li->held)
            s = li->holder_session;
    }
    condd_list_free(l);
    condd_conn_close(c);
    return s;
}

/* ------------------------------------------------------------------ blocking */

START_TEST(test_blocking_opens_lazily_and_routes_each_name_to_its_server)
{
    condd_conn *conn = NULL;
    ck_assert_int_eq(condd_conn_open(cl.list, NULL, &conn), CONDD_OK);
    ck_assert_uint_eq(condd_conn_server_count(conn), 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(condd_conn_server_addr(conn, i), cl.d[i].addr);
        ck_assert_uint_eq(clients_on(i), 0); /* opening connected to nothing */
    }
    ck_assert_ptr_null(condd_conn_server_addr(conn, 3));
    uint64_t owner = condd_conn_new_owner(conn);
    char name[32];
    name_on(1, "blk", name, sizeof name);
    ck_assert_uint_eq(condd_conn_route(conn, name), 1);
    uint64_t token = 0;
    ck_assert_int_eq(condd_lock_acquire(conn, name, owner, 0, &token), CONDD_OK);
    ck_assert_uint_gt(token, 0);
    ck_assert_uint_eq(condd_conn_server_index(conn), 1);
    ck_assert_uint_eq(clients_on(0), 0);
    ck_assert_uint_eq(clients_on(1), 1);
    ck_assert_uint_eq(clients_on(2), 0);
    condd_conn *s1 = NULL;
    ck_assert_int_eq(condd_conn_server(conn, 1, &s1), CONDD_OK);
    ck_assert_uint_eq(condd_conn_server_index(s1), 1);
    ck_assert_uint_gt(condd_conn_session_id(s1), 0);
    ck_assert_uint_eq(holder_on(1, name), condd_conn_session_id(s1));
    ck_assert_uint_eq(holder_on(0, name), 0);
    ck_assert_uint_eq(holder_on(2, name), 0);
    /* Many names: each on the server the rule picks, and again on the same one. */
    for (int k = 0; k < 30; k++) {
        char n[32];
        snprintf(n, sizeof n, "many-%d", k);
        for (int again = 0; again < 2; again++) {
            ck_assert_int_eq(condd_lock_acquire(conn, n, owner, 0, NULL), CONDD_OK);
            ck_assert_uint_eq(condd_conn_server_index(conn), owner_of(n));
            condd_conn *s = NULL;
            ck_assert_int_eq(condd_conn_server(conn, owner_of(n), &s), CONDD_OK);
            ck_assert_uint_eq(holder_on(owner_of(n), n), condd_conn_session_id(s));
            ck_assert_int_eq(condd_lock_release(conn, n, owner), CONDD_OK);
        }
    }
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_eq(clients_on(i), 1);
    ck_assert_int_eq(condd_lock_release(conn, name, owner), CONDD_OK);
    condd_conn_close(s1); /* a view: does nothing */
    condd_conn_close(conn);
}
END_TEST

START_TEST(test_blocking_calls_naming_nothing_need_a_server)
{
    condd_conn *conn = NULL;
    ck_assert_int_eq(condd_conn_open(cl.list, NULL, &conn), CONDD_OK);
    ck_assert_int_eq(condd_conn_ping(conn, NULL), CONDD_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(condd_conn_message(conn), "needs one server"));
    condd_stats *st = NULL;
    ck_assert_int_eq(condd_conn_stats(conn, &st), CONDD_ERR_INVALID);
    ck_assert_ptr_null(st);
    condd_conn *s2 = NULL;
    ck_assert_int_eq(condd_conn_server(conn, 3, &s2), CONDD_ERR_INVALID);
    ck_assert_uint_eq(clients_on(2), 0);
    ck_assert_int_eq(condd_conn_server(conn, 2, &s2), CONDD_OK);
    ck_assert_int_eq(condd_conn_ping(s2, NULL), CONDD_OK);
    ck_assert_uint_eq(clients_on(2), 1);
    ck_assert_int_eq(condd_conn_stats(s2, &st), CONDD_OK);
    ck_assert_uint_eq(st->connections, 1);
    condd_stats_free(st);
    /* A name-bearing call on a server's connection still routes by its name. */
    char name[32];
    name_on(0, "via", name, sizeof name);
    uint64_t owner = condd_conn_new_owner(s2);
    ck_assert_int_eq(condd_lock_acquire(s2, name, owner, 0, NULL), CONDD_OK);
    ck_assert_uint_eq(condd_conn_server_index(conn), 0);
    ck_assert_uint_ne(holder_on(0, name), 0);
    ck_assert_int_eq(condd_lock_release(conn, name, owner), CONDD_OK);
    condd_conn_close(conn);

    /* One address: unchanged, and it is its own (only) server. */
    ck_assert_int_eq(condd_conn_open(cl.d[0].addr, NULL, &conn), CONDD_OK);
    ck_assert_uint_eq(condd_conn_server_count(conn), 1);
    ck_assert_str_eq(condd_conn_server_addr(conn, 0), cl.d[0].addr);
    ck_assert_int_eq(condd_conn_server(conn, 0, &s2), CONDD_OK);
    ck_assert_ptr_eq(s2, conn);
    ck_assert_int_eq(condd_conn_ping(conn, NULL), CONDD_OK);
    condd_conn_close(conn);
}
END_TEST

START_TEST(test_a_client_with_another_list_gets_wrong_server)
{
    char list2[128];
    snprintf(list2, sizeof list2, "%s,%s", cl.d[0].addr, cl.d[1].addr);
    struct route_list two;
    char why[128];
    ck_assert(route_list_parse(list2, 7380, &two, why, sizeof why));
    char name[32] = "";
    for (int i = 0; i < 10000 && name[0] == '\0'; i++) {
        char n[32];
        snprintf(n, sizeof n, "wrong-%d", i);
        if (owner_of(n) == 2)
            snprintf(name, sizeof name, "%s", n);
    }
    size_t mine = route_pick(&two, (const uint8_t *)name, strlen(name));
    condd_conn *conn = NULL;
    ck_assert_int_eq(condd_conn_open(list2, NULL, &conn), CONDD_OK);
    uint64_t owner = condd_conn_new_owner(conn);
    ck_assert_int_eq(condd_lock_acquire(conn, name, owner, 0, NULL), CONDD_ERR_WRONG_SERVER);
    ck_assert_uint_eq(condd_conn_server_index(conn), mine);
    char want[160];
    snprintf(want, sizeof want, "'%s' routes to %s (cluster of 3)", name, cl.d[2].addr);
    ck_assert_str_eq(condd_conn_message(conn), want);
    ck_assert_str_eq(condd_result_name(CONDD_ERR_WRONG_SERVER), "CONDD_ERR_WRONG_SERVER");
    ck_assert(!condd_result_is_connection_error(CONDD_ERR_WRONG_SERVER));
    /* Nothing happened there, and the connection goes on. */
    ck_assert_uint_eq(holder_on(mine, name), 0);
    char ok[32];
    name_on(mine, "fine", ok, sizeof ok);
    ck_assert_int_eq(condd_lock_acquire(conn, ok, owner, 0, NULL), CONDD_OK);
    ck_assert_int_eq(condd_lock_release(conn, ok, owner), CONDD_OK);
    condd_conn_close(conn);
    route_list_free(&two);
}
END_TEST

START_TEST(test_a_server_down_fails_only_its_names)
{
    condd_conn *conn = NULL;
    condd_options *o = condd_options_new();
    ck_assert_int_eq(condd_options_set_connect_timeout(o, 5), CONDD_OK);
    ck_assert_int_eq(condd_conn_open(cl.list, o, &conn), CONDD_OK);
    condd_options_free(o);
    ck_assert_int_eq(tu_daemon_stop(&cl.d[2]) != -1, 1);
    char down[32], up[32];
    name_on(2, "down", down, sizeof down);
    name_on(0, "up", up, sizeof up);
    uint64_t owner = condd_conn_new_owner(conn);
    int rc = condd_lock_acquire(conn, down, owner, 0, NULL);
    ck_assert_msg(condd_result_is_connection_error(rc), "rc %d", rc);
    ck_assert_uint_eq(condd_conn_server_index(conn), 2);
    ck_assert_int_eq(condd_lock_acquire(conn, up, owner, 0, NULL), CONDD_OK);
    ck_assert_uint_eq(condd_conn_server_index(conn), 0);
    /* Later calls to the dead server fail at once with its error; the others go on. */
    ck_assert_int_eq(condd_lock_acquire(conn, down, owner, 0, NULL), rc);
    ck_assert_int_eq(condd_lock_release(conn, up, owner), CONDD_OK);
    condd_conn_close(conn);
}
END_TEST

/* A server that went away and came back is used again: the next call routed to it opens a new
 * session there (the old one, and what it held, died with the old process). While it is down,
 * each call routed to it fails with a connection error, and the others go on. */
START_TEST(test_a_server_that_comes_back_is_used_again)
{
    condd_conn *conn = NULL;
    condd_options *o = condd_options_new();
    ck_assert_int_eq(condd_options_set_connect_timeout(o, 5), CONDD_OK);
    ck_assert_int_eq(condd_conn_open(cl.list, o, &conn), CONDD_OK);
    condd_options_free(o);
    char back[32], up[32];
    name_on(2, "back", back, sizeof back);
    name_on(0, "up", up, sizeof up);
    uint64_t owner = condd_conn_new_owner(conn);
    uint64_t t1 = 0, t2 = 0;
    ck_assert_int_eq(condd_lock_acquire(conn, back, owner, 0, &t1), CONDD_OK);
    uint64_t first = holder_on(2, back);
    ck_assert_uint_ne(first, 0);
    /* Server 2's own connection, for calls that name nothing: the same one as the list uses. */
    condd_conn *two = NULL;
    ck_assert_int_eq(condd_conn_server(conn, 2, &two), CONDD_OK);
    ck_assert_int_eq(condd_conn_ping(two, NULL), CONDD_OK);

    ck_assert_int_ne(tu_daemon_stop(&cl.d[2]), -1);
    for (int i = 0; i < 2; i++) {
        int rc = condd_lock_acquire(conn, back, owner, 0, NULL);
        ck_assert_msg(condd_result_is_connection_error(rc), "rc %d", rc);
        ck_assert_uint_eq(condd_conn_server_index(conn), 2);
        rc = condd_conn_ping(two, NULL);
        ck_assert_msg(condd_result_is_connection_error(rc), "rc %d", rc);
    }
    ck_assert_int_eq(condd_lock_acquire(conn, up, owner, 0, NULL), CONDD_OK);

    ck_assert_msg(tu_cluster_restart(&cl, 2, NULL), "server 2 did not start again");
    /* First on the server's own connection: a call that names nothing starts the new session. */
    ck_assert_int_eq(condd_conn_ping(two, NULL), CONDD_OK);
    ck_assert_uint_eq(clients_on(2), 1);
    ck_assert_int_eq(condd_lock_acquire(conn, back, owner, 0, &t2), CONDD_OK);
    ck_assert_uint_eq(condd_conn_server_index(conn), 2);
    ck_assert_uint_gt(t2, 0);
    /* A new session on the new process holds it; the call is not a leftover of the old one. */
    uint64_t second = holder_on(2, back);
    ck_assert_uint_ne(second, 0);
    ck_assert_uint_eq(clients_on(2), 1);
    ck_assert_int_eq(condd_lock_release(conn, back, owner), CONDD_OK);
    ck_assert_uint_eq(holder_on(2, back), 0);
    ck_assert_int_eq(condd_lock_release(conn, up, owner), CONDD_OK);
    condd_conn_close(conn);
}
END_TEST

/* A server stopped and started again on its port while the client was idle between calls
 * (nothing read its connection, so the end-of-file it sent was not seen yet): the next call
 * routed there notices the closed connection first and goes to a new session at once, on the
 * list and on the server's own connection, instead of failing with "the server closed the
 * connection" and only the call after it succeeding. */
START_TEST(test_a_server_restarted_while_idle_is_reopened_before_the_next_call)
{
    condd_conn *conn = NULL;
    condd_options *o = condd_options_new();
    ck_assert_int_eq(condd_options_set_connect_timeout(o, 5), CONDD_OK);
    ck_assert_int_eq(condd_conn_open(cl.list, o, &conn), CONDD_OK);
    condd_options_free(o);
    char back[32];
    name_on(2, "idle", back, sizeof back);
    uint64_t owner = condd_conn_new_owner(conn);
    ck_assert_int_eq(condd_lock_acquire(conn, back, owner, 0, NULL), CONDD_OK);
    ck_assert_int_eq(condd_lock_release(conn, back, owner), CONDD_OK);
    condd_conn *two = NULL;
    ck_assert_int_eq(condd_conn_server(conn, 2, &two), CONDD_OK);
    ck_assert_int_eq(condd_conn_ping(two, NULL), CONDD_OK);

    /* tu_daemon_stop() reaps the process: its end-of-file is in our socket before we go on. */
    ck_assert_int_ne(tu_daemon_stop(&cl.d[2]), -1);
    ck_assert_msg(tu_cluster_restart(&cl, 2, NULL), "server 2 did not start again");

    uint64_t t = 0;
    int rc = condd_lock_acquire(conn, back, owner, 0, &t);
    ck_assert_msg(rc == CONDD_OK, "first call after the restart: %d %s (%s)", rc,
                  condd_strerror(rc), condd_conn_message(conn));
    ck_assert_uint_eq(condd_conn_server_index(conn), 2);
    ck_assert_uint_gt(t, 0);
    ck_assert_uint_ne(holder_on(2, back), 0);
    ck_assert_int_eq(condd_lock_release(conn, back, owner), CONDD_OK);
    ck_assert_uint_eq(holder_on(2, back), 0);

    /* The same on a server's own connection, for a call that names nothing. */
    ck_assert_int_ne(tu_daemon_stop(&cl.d[2]), -1);
    ck_assert_msg(tu_cluster_restart(&cl, 2, NULL), "server 2 did not start again");
    rc = condd_conn_ping(two, NULL);
    ck_assert_msg(rc == CONDD_OK, "first ping after the restart: %d %s (%s)", rc,
                  condd_strerror(rc), condd_conn_message(two));
    ck_assert_uint_eq(clients_on(2), 1);
    condd_conn_close(conn);
}
END_TEST

#define OBSERVER_TOKEN "observer-token-0123456789abcdef"

/* Hellos server i refused, seen by a principal allowed to read everything. */
static uint64_t auth_failures_on(size_t i)
{
    condd_options *o = condd_options_new();
    ck_assert_int_eq(condd_options_set_token(o, OBSERVER_TOKEN), CONDD_OK);
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(cl.d[i].addr, o, &c), CONDD_OK);
    condd_options_free(o);
    condd_stats *st = NULL;
    ck_assert_int_eq(condd_conn_stats(c, &st), CONDD_OK);
    uint64_t n = st->auth_failures;
    condd_stats_free(st);
    condd_conn_close(c);
    return n;
}

/* A server that refused the client (here: no token where one is required) is not asked again at
 * each call, which would cost it a connection and a logged failure every time: later calls
 * routed there fail at once with the same error, and the others go on. */
START_TEST(test_a_server_that_refused_the_client_is_not_asked_again)
{
    char auth[160], cmd[512], line[256];
    snprintf(auth, sizeof auth, "%s/../auth-%ld", cl.d[0].dir, (long)getpid());
    FILE *f = fopen(auth, "w");
    ck_assert_ptr_nonnull(f);
    snprintf(cmd, sizeof cmd, "printf '%%s' '%s' | '%s' --hash-token observer", OBSERVER_TOKEN,
             tu_condd_path());
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, p));
    ck_assert_int_eq(pclose(p), 0);
    fprintf(f, "%sallow observer read * \"\"\nanonymous deny\n", line);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_ne(tu_daemon_stop(&cl.d[2]), -1);
    const char *extra[] = {"--auth-file", auth, "--auth-fail-delay", "0", NULL};
    bool started = tu_cluster_restart(&cl, 2, extra);
    unlink(auth); /* read at start */
    ck_assert_msg(started, "server 2 did not start with the auth file");

    condd_conn *conn = NULL;
    ck_assert_int_eq(condd_conn_open(cl.list, NULL, &conn), CONDD_OK);
    char refused[32], up[32];
    name_on(2, "refused", refused, sizeof refused);
    name_on(0, "up", up, sizeof up);
    uint64_t owner = condd_conn_new_owner(conn);
    ck_assert_int_eq(condd_lock_acquire(conn, refused, owner, 0, NULL), CONDD_ERR_UNAUTHENTICATED);
    ck_assert_uint_eq(auth_failures_on(2), 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(condd_lock_acquire(conn, refused, owner, 0, NULL),
                         CONDD_ERR_UNAUTHENTICATED);
    condd_conn *two = NULL;
    ck_assert_int_eq(condd_conn_server(conn, 2, &two), CONDD_OK);
    ck_assert_int_eq(condd_conn_ping(two, NULL), CONDD_ERR_UNAUTHENTICATED);
    ck_assert_uint_eq(auth_failures_on(2), 1);
    ck_assert_int_eq(condd_lock_acquire(conn, up, owner, 0, NULL), CONDD_OK);
    ck_assert_int_eq(condd_lock_release(conn, up, owner), CONDD_OK);
    condd_conn_close(conn);
}
END_TEST

/* ------------------------------------------------------------------ live restarts */

/* Restarts Stats counts on daemon i (carried across restarts); -1 when it cannot tell now (a
 * restart closed the connection before answering). */
static int64_t restarts_now(size_t i)
{
    condd_conn *c = NULL;
    if (condd_conn_open(cl.d[i].addr, NULL, &c) != CONDD_OK)
        return -1;
    condd_stats *st = NULL;
    int64_t n = condd_conn_stats(c, &st) == CONDD_OK ? (int64_t)st->restarts : -1;
    condd_stats_free(st);
    condd_conn_close(c);
    return n;
}

/*
 * A child process that live-restarts (SIGUSR2) daemon 0 and daemon 1 of cl in turn until the
 * returned pipe's write end is closed (restarter_stop()): each restart is waited for (the
 * daemon's Stats count it), then the next one comes RESTART_GAP_MS later, so a daemon serves
 * at least twice that between two of its restarts, however loaded the machine. Every restart
 * closes the connections the daemon accepted but had not read yet (protocol.md §5.10): with a
 * loop opening server-list members, some of those are members whose Hello and first request
 * are queued and unanswered. A correct client (it opens again after 50 ms, twice) never fails
 * for it, so the test does not depend on where the restarts land; how many land there only
 * decides how well it catches a client that does fail.
 */
#define RESTART_GAP_MS 100

struct restarter {
    pid_t pid;
    int fd; /* the write end: closing it stops the child */
};

/* In the child: true once the parent closed its end (or a wait of ms passed: false). */
static bool restarter_told_to_stop(int fd, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n = poll(&pfd, 1, ms);
    return n > 0 || (n < 0 && errno != EINTR);
}

static void restarter_start(struct restarter *r)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    r->pid = fork();
    ck_assert_int_ge(r->pid, 0);
    if (r->pid == 0) {
        close(p[1]);
        for (unsigned k = 0;; k++) {
            size_t i = k % 2;
            int64_t before = -1;
            while (before < 0 && !restarter_told_to_stop(p[0], 5))
                before = restarts_now(i);
            if (before < 0)
                _exit(0);
            kill(cl.d[i].pid, SIGUSR2);
            double end = tu_now() + 20;
            while (restarts_now(i) <= before) {
                if (tu_now() > end)
                    _exit(1); /* the restart never came: restarter_stop() fails the test */
                if (restarter_told_to_stop(p[0], 5))
                    _exit(0);
            }
            if (restarter_told_to_stop(p[0], RESTART_GAP_MS))
                _exit(0);
        }
    }
    close(p[0]);
    r->fd = p[1];
}

/* Stops the child and checks both daemons serve (a Ping on a fresh connection each), so that
 * teardown stops daemons that are not in the middle of a restart. */
static void restarter_stop(struct restarter *r)
{
    close(r->fd);
    int status = 0;
    ck_assert_int_eq(waitpid(r->pid, &status, 0), r->pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the restarter failed");
    for (size_t i = 0; i < 2; i++) {
        condd_conn *c = NULL;
        ck_assert_int_eq(condd_conn_open(cl.d[i].addr, NULL, &c), CONDD_OK);
        ck_assert_int_eq(condd_conn_ping(c, NULL), CONDD_OK);
        condd_conn_close(c);
    }
}

/* Restarts Stats counts on daemon i (carried across restarts). */
static uint64_t restarts_on(size_t i)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(cl.d[i].addr, NULL, &c), CONDD_OK);
    condd_stats *st = NULL;
    ck_assert_int_eq(condd_conn_stats(c, &st), CONDD_OK);
    uint64_t n = st->restarts;
    condd_stats_free(st);
    condd_conn_close(c);
    return n;
}

/* The loop runs until the daemons restarted RESTART_COUNT times (about 2 s) or for at most
 * RESTART_SECONDS on a slow machine (then with fewer restarts, still at least one). */
#define RESTART_COUNT 20

/* Restarts of daemons 0 and 1 since their sum was before (a count that cannot be read now, as
 * the connection met a restart, counts as none). */
static uint64_t restarts_since(uint64_t before)
{
    int64_t a = restarts_now(0), b = restarts_now(1);
    return a < 0 || b < 0 || (uint64_t)(a + b) < before ? 0 : (uint64_t)(a + b) - before;
}
#define RESTART_SECONDS 8.0

static condd_options *grace_opts(void)
{
    condd_options *o = condd_options_new();
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(condd_options_set_grace(o, 10), CONDD_OK);
    return o;
}

/* A server list of two daemons live-restarted in turn while a loop opens the list, locks a
 * name on each server (each member opened by its lock, queued behind its Hello), unlocks and
 * closes: no call fails (condd.8 LIVE RESTART: the client rides through). The members a restart
 * closed before answering their Hello are opened again with their requests. */
START_TEST(test_blocking_list_rides_through_live_restarts_while_opening_members)
{
    char names[2][32];
    name_on(0, "rs", names[0], sizeof names[0]);
    name_on(1, "rs", names[1], sizeof names[1]);
    condd_options *o = grace_opts();
    uint64_t before = restarts_on(0) + restarts_on(1);
    struct restarter r;
    restarter_start(&r);
    double end = tu_now() + RESTART_SECONDS;
    int cycles = 0;
    for (; tu_now() < end; cycles++) {
        if (cycles % 16 == 15 && restarts_since(before) >= RESTART_COUNT)
            break;
        condd_conn *conn = NULL;
        ck_assert_int_eq(condd_conn_open(cl.list, o, &conn), CONDD_OK);
        uint64_t owner = condd_conn_new_owner(conn);
        for (size_t s = 0; s < 2; s++) {
            int rc = condd_lock_acquire(conn, names[s], owner, 0, NULL);
            ck_assert_msg(rc == CONDD_OK, "cycle %d, acquire on server %zu: %s (%s)", cycles, s,
                          condd_result_name(rc), condd_conn_message(conn));
        }
        for (size_t s = 0; s < 2; s++) {
            int rc = condd_lock_release(conn, names[s], owner);
            ck_assert_msg(rc == CONDD_OK, "cycle %d, release on server %zu: %s (%s)", cycles, s,
                          condd_result_name(rc), condd_conn_message(conn));
        }
        condd_conn_close(conn);
    }
    restarter_stop(&r);
    condd_options_free(o);
    /* The loop ran across restarts (at least a few: each takes milliseconds). */
    ck_assert_uint_ge(restarts_on(0) + restarts_on(1) - before, 1);
    ck_assert_int_gt(cycles, 0);
}
END_TEST

/* ------------------------------------------------------------------ asynchronous */

static struct event_base *base;

struct arec {
    int calls;
    int rc;
    uint64_t token;
    size_t server;
    condd_async_conn *ac;
    char msg[160];
};

static size_t last_seen; /* the server of the last callback */

static void on_token(condd_async_conn *ac, int rc, uint64_t token, void *arg)
{
    struct arec *r = arg;
    last_seen = condd_async_conn_server_index(ac);
    r->calls++;
    r->rc = rc;
    r->token = token;
    r->ac = ac;
    r->server = condd_async_conn_server_index(ac);
    snprintf(r->msg, sizeof r->msg, "%s", condd_async_conn_message(ac));
}

static void on_result(condd_async_conn *ac, int rc, void *arg)
{
    on_token(ac, rc, 0, arg);
}

static void on_connect(condd_async_conn *ac, int rc, void *arg)
{
    on_token(ac, rc, 0, arg);
}

static void run_until(const int *calls, int want)
{
    struct timeval tv = {0, 20000};
    for (int i = 0; i < 1000 && *calls < want; i++)
        event_base_loopexit(base, &tv), event_base_dispatch(base);
    ck_assert_int_ge(*calls, want);
}

START_TEST(test_async_routes_names_and_conditions_and_says_which_server)
{
    base = event_base_new();
    struct arec opened = {0};
    condd_async_conn *ac = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, cl.list, NULL, on_connect, &opened, &ac),
                     CONDD_OK);
    ck_assert_int_eq(opened.calls, 0); /* never from inside the call */
    run_until(&opened.calls, 1);
    ck_assert_int_eq(opened.rc, CONDD_OK);
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_eq(clients_on(i), 0);
    ck_assert_uint_eq(condd_async_conn_server_count(ac), 3);

    /* Queued behind each server's Hello: issued before any connection exists. */
    struct arec got[3] = {{0}};
    char names[3][32];
    uint64_t owner = condd_async_conn_new_owner(ac);
    for (size_t s = 0; s < 3; s++) {
        name_on(s, "async", names[s], sizeof names[s]);
        ck_assert_int_eq(condd_async_lock_acquire(ac, names[s], owner, 0, on_token, &got[s], NULL),
                         CONDD_OK);
    }
    int total = 0;
    for (int i = 0; i < 1000 && total < 3; i++) {
        run_until(&got[i % 3].calls, 1);
        total = got[0].calls + got[1].calls + got[2].calls;
    }
    for (size_t s = 0; s < 3; s++) {
        ck_assert_int_eq(got[s].rc, CONDD_OK);
        ck_assert_uint_eq(got[s].server, s);
        ck_assert_ptr_ne(got[s].ac, ac); /* the server's connection */
        ck_assert_uint_eq(holder_on(s, names[s]), condd_async_conn_session_id(got[s].ac));
    }
    /* The three answer in any order; the list's connection names the last one's server. */
    ck_assert_uint_eq(condd_async_conn_server_index(ac), last_seen);

    /* A condition whose own name routes elsewhere waits on its lock's server. */
    char cond[32] = "";
    for (int i = 0; i < 1000; i++) {
        snprintf(cond, sizeof cond, "cv-%d", i);
        if (owner_of(cond) != 1)
            break;
    }
    struct arec w = {0};
    ck_assert_int_eq(condd_async_cond_wait(ac, cond, names[1], owner, 0, on_token, &w, NULL),
                     CONDD_OK);
    run_until(&w.calls, 1);
    ck_assert_int_eq(w.rc, CONDD_ERR_TIMEOUT);
    ck_assert_uint_eq(w.server, 1);
    ck_assert_uint_gt(w.token, 0);

    /* Calls naming nothing: on a server's connection, not on the list's. */
    struct arec p = {0};
    ck_assert_int_eq(condd_async_conn_ping(ac, on_result, &p), CONDD_ERR_INVALID);
    condd_async_conn *s0 = NULL;
    ck_assert_int_eq(condd_async_conn_server(ac, 0, &s0), CONDD_OK);
    ck_assert_ptr_eq(s0, got[0].ac);
    ck_assert_int_eq(condd_async_conn_ping(s0, on_result, &p), CONDD_OK);
    run_until(&p.calls, 1);
    ck_assert_int_eq(p.rc, CONDD_OK);
    ck_assert_uint_eq(p.server, 0);

    /* Releases through a server's connection route by name too. */
    struct arec rel[3] = {{0}};
    for (size_t s = 0; s < 3; s++)
        ck_assert_int_eq(condd_async_lock_release(s0, names[s], owner, on_result, &rel[s]),
                         CONDD_OK);
    for (size_t s = 0; s < 3; s++) {
        run_until(&rel[s].calls, 1);
        ck_assert_int_eq(rel[s].rc, CONDD_OK);
        ck_assert_uint_eq(rel[s].server, s);
    }
    ck_assert_uint_eq(condd_async_conn_pending_count(ac), 0);
    condd_async_conn_close(ac);
    event_base_free(base);
}
END_TEST

static void on_disconnect(condd_async_conn *ac, int reason, void *arg)
{
    on_token(ac, reason, 0, arg);
}

/* A server stopped between calls and started again on its port: while the caller's loop runs,
 * its end-of-file is read at once (the disconnect callback says which server) and the next call
 * routed there goes to a new session; when the loop has not run since, the call notices the
 * closed connection itself and goes to a new session too, instead of failing. */
START_TEST(test_async_a_server_restarted_while_idle_is_reopened_at_the_next_call)
{
    base = event_base_new();
    struct arec opened = {0}, gone = {0};
    condd_async_conn *ac = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, cl.list, NULL, on_connect, &opened, &ac),
                     CONDD_OK);
    condd_async_conn_set_disconnect_cb(ac, on_disconnect, &gone);
    run_until(&opened.calls, 1);
    char name[32];
    name_on(2, "aidle", name, sizeof name);
    uint64_t owner = condd_async_conn_new_owner(ac);
    struct arec a1 = {0}, r1 = {0};
    ck_assert_int_eq(condd_async_lock_acquire(ac, name, owner, 0, on_token, &a1, NULL), CONDD_OK);
    run_until(&a1.calls, 1);
    ck_assert_int_eq(a1.rc, CONDD_OK);
    ck_assert_int_eq(condd_async_lock_release(ac, name, owner, on_result, &r1), CONDD_OK);
    run_until(&r1.calls, 1);
    ck_assert_int_eq(r1.rc, CONDD_OK);

    ck_assert_int_ne(tu_daemon_stop(&cl.d[2]), -1);
    run_until(&gone.calls, 1);
    ck_assert_int_eq(gone.rc, CONDD_ERR_DISCONNECTED);
    ck_assert_uint_eq(gone.server, 2);
    ck_assert_msg(tu_cluster_restart(&cl, 2, NULL), "server 2 did not start again");

    struct arec a2 = {0}, r2 = {0};
    ck_assert_int_eq(condd_async_lock_acquire(ac, name, owner, 0, on_token, &a2, NULL), CONDD_OK);
    run_until(&a2.calls, 1);
    ck_assert_msg(a2.rc == CONDD_OK, "first call after the restart: %d (%s)", a2.rc, a2.msg);
    ck_assert_uint_eq(a2.server, 2);
    ck_assert_uint_eq(holder_on(2, name), condd_async_conn_session_id(a2.ac));
    ck_assert_int_eq(condd_async_lock_release(ac, name, owner, on_result, &r2), CONDD_OK);
    run_until(&r2.calls, 1);
    ck_assert_int_eq(r2.rc, CONDD_OK);
    ck_assert_int_eq(gone.calls, 1);

    /* Stopped and back before the loop ran again: the call itself notices the closed
     * connection and goes to a new session; the disconnect callback is not run inside the call
     * but from the loop. */
    ck_assert_int_ne(tu_daemon_stop(&cl.d[2]), -1);
    ck_assert_msg(tu_cluster_restart(&cl, 2, NULL), "server 2 did not start again");
    struct arec a3 = {0}, r3 = {0};
    ck_assert_int_eq(condd_async_lock_acquire(ac, name, owner, 0, on_token, &a3, NULL), CONDD_OK);
    ck_assert_int_eq(gone.calls, 1);
    run_until(&a3.calls, 1);
    ck_assert_msg(a3.rc == CONDD_OK, "first call after a restart the loop did not see: %d (%s)",
                  a3.rc, a3.msg);
    ck_assert_uint_eq(a3.server, 2);
    run_until(&gone.calls, 2);
    ck_assert_int_eq(gone.rc, CONDD_ERR_DISCONNECTED);
    ck_assert_uint_eq(gone.server, 2);
    ck_assert_str_eq(gone.msg, "the server closed the connection");
    ck_assert_uint_eq(holder_on(2, name), condd_async_conn_session_id(a3.ac));
    ck_assert_int_eq(condd_async_lock_release(ac, name, owner, on_result, &r3), CONDD_OK);
    run_until(&r3.calls, 1);
    ck_assert_int_eq(r3.rc, CONDD_OK);
    ck_assert_int_eq(gone.calls, 2);
    condd_async_conn_close(ac);
    event_base_free(base);
}
END_TEST

/* Closes the list's connection from inside the first answer; the other server's call then
 * gets CONDD_ERR_CLOSED, once. */
static condd_async_conn *to_close;

static void on_token_close(condd_async_conn *ac, int rc, uint64_t token, void *arg)
{
    on_token(ac, rc, token, arg);
    if (to_close != NULL) {
        condd_async_conn_close(ac); /* a server's connection: closes the list's */
        to_close = NULL;
    }
}

START_TEST(test_async_close_from_a_callback_closes_every_server)
{
    base = event_base_new();
    condd_async_conn *ac = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, cl.list, NULL, NULL, NULL, &ac), CONDD_OK);
    char a[32], b[32];
    name_on(0, "cl-a", a, sizeof a);
    name_on(2, "cl-b", b, sizeof b);
    struct arec ra = {0}, rb = {0};
    to_close = ac;
    ck_assert_int_eq(condd_async_lock_acquire(ac, a, 1, 0, on_token_close, &ra, NULL), CONDD_OK);
    ck_assert_int_eq(condd_async_lock_acquire(ac, b, 1, CONDD_FOREVER, on_token_close, &rb, NULL),
                     CONDD_OK);
    int total = 0;
    for (int i = 0; i < 500 && total < 2; i++) {
        struct timeval tv = {0, 20000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
        total = ra.calls + rb.calls;
    }
    ck_assert_int_eq(ra.calls, 1);
    ck_assert_int_eq(rb.calls, 1);
    /* Whichever answered first closed everything; the other got CLOSED. */
    ck_assert(ra.rc == CONDD_ERR_CLOSED || rb.rc == CONDD_ERR_CLOSED);
    ck_assert(ra.rc == CONDD_OK || rb.rc == CONDD_OK);
    event_base_free(base);
}
END_TEST

/* fork(): a child that closes an inherited list connection leaves every server's session of the
 * parent alone (client/fork.c), and its calls are refused before they reach a server. */
START_TEST(test_fork_child_close_leaves_the_parents_list_sessions)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(cl.list, NULL, &c), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "fork/x", 0, CONDD_FOREVER, NULL), CONDD_OK);
    size_t s = owner_of("fork/x");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        bool locked = false;
        int code = 0;
        if (condd_lock_locked(c, "fork/x", &locked) != CONDD_ERR_INVALID)
            code = 10;
        else if (strstr(condd_conn_message(c), "connection opened by another process") == NULL)
            code = 11;
        condd_conn_close(c);
        _exit(code);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    /* The parent's next call on that server's stream comes behind anything the child sent. */
    condd_conn *sv = NULL;
    ck_assert_int_eq(condd_conn_server(c, s, &sv), CONDD_OK);
    double rtt = 0;
    ck_assert_int_eq(condd_conn_ping(sv, &rtt), CONDD_OK);
    condd_conn *o = NULL;
    bool locked = false;
    ck_assert_int_eq(condd_conn_open(cl.d[s].addr, NULL, &o), CONDD_OK);
    ck_assert_int_eq(condd_lock_locked(o, "fork/x", &locked), CONDD_OK);
    ck_assert(locked);
    ck_assert_int_eq(condd_lock_release(c, "fork/x", 0), CONDD_OK);
    ck_assert_int_eq(condd_lock_locked(o, "fork/x", &locked), CONDD_OK);
    ck_assert(!locked);
    condd_conn_close(o);
    condd_conn_close(c);
}
END_TEST

/* The asynchronous twin: each cycle opens the list, queues a lock on each server before either
 * member exists (both ride behind their member's Hello), unlocks and closes. */
START_TEST(test_async_list_rides_through_live_restarts_while_opening_members)
{
    base = event_base_new();
    char names[2][32];
    name_on(0, "ars", names[0], sizeof names[0]);
    name_on(1, "ars", names[1], sizeof names[1]);
    condd_options *o = grace_opts();
    uint64_t before = restarts_on(0) + restarts_on(1);
    struct restarter r;
    restarter_start(&r);
    double end = tu_now() + RESTART_SECONDS;
    int cycles = 0;
    for (; tu_now() < end; cycles++) {
        if (cycles % 16 == 15 && restarts_since(before) >= RESTART_COUNT)
            break;
        struct arec opened = {0};
        condd_async_conn *ac = NULL;
        ck_assert_int_eq(condd_async_conn_open(base, cl.list, o, on_connect, &opened, &ac),
                         CONDD_OK);
        run_until(&opened.calls, 1);
        ck_assert_int_eq(opened.rc, CONDD_OK);
        uint64_t owner = condd_async_conn_new_owner(ac);
        struct arec got[2] = {{0}}, rel[2] = {{0}};
        for (size_t s = 0; s < 2; s++)
            ck_assert_int_eq(
                condd_async_lock_acquire(ac, names[s], owner, 0, on_token, &got[s], NULL),
                CONDD_OK);
        for (size_t s = 0; s < 2; s++) {
            run_until(&got[s].calls, 1);
            ck_assert_msg(got[s].rc == CONDD_OK, "cycle %d, acquire on server %zu: %s (%s)", cycles,
                          s, condd_result_name(got[s].rc), got[s].msg);
        }
        for (size_t s = 0; s < 2; s++)
            ck_assert_int_eq(condd_async_lock_release(ac, names[s], owner, on_result, &rel[s]),
                             CONDD_OK);
        for (size_t s = 0; s < 2; s++) {
            run_until(&rel[s].calls, 1);
            ck_assert_msg(rel[s].rc == CONDD_OK, "cycle %d, release on server %zu: %s (%s)", cycles,
                          s, condd_result_name(rel[s].rc), rel[s].msg);
        }
        condd_async_conn_close(ac);
    }
    restarter_stop(&r);
    condd_options_free(o);
    ck_assert_uint_ge(restarts_on(0) + restarts_on(1) - before, 1);
    ck_assert_int_gt(cycles, 0);
    event_base_free(base);
}
END_TEST

static Suite *client_cluster_suite(void)
{
    Suite *s = suite_create("client_cluster");
    TCase *tc = tcase_create("blocking");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_blocking_opens_lazily_and_routes_each_name_to_its_server);
    tcase_add_test(tc, test_blocking_calls_naming_nothing_need_a_server);
    tcase_add_test(tc, test_a_client_with_another_list_gets_wrong_server);
    tcase_add_test(tc, test_a_server_down_fails_only_its_names);
    tcase_add_test(tc, test_a_server_that_comes_back_is_used_again);
    tcase_add_test(tc, test_a_server_restarted_while_idle_is_reopened_before_the_next_call);
    tcase_add_test(tc, test_a_server_that_refused_the_client_is_not_asked_again);
    tcase_add_test(tc, test_blocking_list_rides_through_live_restarts_while_opening_members);
    suite_add_tcase(s, tc);
    tc = tcase_create("async");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_async_routes_names_and_conditions_and_says_which_server);
    tcase_add_test(tc, test_async_close_from_a_callback_closes_every_server);
    tcase_add_test(tc, test_async_a_server_restarted_while_idle_is_reopened_at_the_next_call);
    tcase_add_test(tc, test_fork_child_close_leaves_the_parents_list_sessions);
    tcase_add_test(tc, test_async_list_rides_through_live_restarts_while_opening_members);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(client_cluster_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
