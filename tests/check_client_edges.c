/* SPDX-License-Identifier: BSD-2-Clause
 *
 * libcondd at its edges, as an application developer meets them: a connection inherited by a
 * forked child (which must leave the parent's session alone), why each failed open failed
 * (condd_conn_message(NULL) and the async open's message), the connect callback of a
 * connection closed before its Hello, and one blocking connection called from two threads.
 * Each test runs against a real condd on an ephemeral loopback port (client_util.c) and waits
 * for states, never for time.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condd/condd.h>
#include <condd/condd_async.h>

#include "../client/internal.h"
#include "client_util.h"
#include "testutil.h"

/* ------------------------------------------------------------------ fork */

/* The child's side of the fork tests: exit codes say which check failed (0: all held). */
enum { CHILD_OK = 0, CHILD_CALL_NOT_REFUSED = 10, CHILD_NO_MESSAGE = 11 };

/* Does msg refuse the call because pid opened the connection? */
static bool names_opener(const char *msg, pid_t pid)
{
    char want[128];
    snprintf(want, sizeof want, "connection opened by another process (pid %ld)", (long)pid);
    return strstr(msg, want) != NULL && strstr(msg, "after fork()") != NULL;
}

static int wait_child(pid_t pid)
{
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "the child did not exit normally");
    return WEXITSTATUS(status);
}

/* An observer on its own connection: is lock held by someone? */
static bool observed_locked(const char *lock)
{
    condd_conn *o = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &o), CONDD_OK);
    bool locked = false;
    ck_assert_int_eq(condd_lock_locked(o, lock, &locked), CONDD_OK);
    condd_conn_close(o);
    return locked;
}

START_TEST(test_fork_child_close_leaves_the_parents_blocking_session)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &c), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "fork/b", 0, CONDD_FOREVER, NULL), CONDD_OK);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        bool locked = false;
        int code = CHILD_OK;
        if (condd_lock_locked(c, "fork/b", &locked) != CONDD_ERR_INVALID)
            code = CHILD_CALL_NOT_REFUSED;
        else if (!names_opener(condd_conn_message(c), parent))
            code = CHILD_NO_MESSAGE;
        condd_conn_close(c); /* what cleanup code after fork() does */
        _exit(code);
    }
    ck_assert_int_eq(wait_child(pid), CHILD_OK);
    /* The parent's next call goes on the same stream behind anything the child sent: it
     * works only if no Goodbye or FIN came first. */
    double rtt = 0;
    ck_assert_int_eq(condd_conn_ping(c, &rtt), CONDD_OK);
    ck_assert(observed_locked("fork/b"));
    ck_assert_int_eq(condd_lock_release(c, "fork/b", 0), CONDD_OK);
    ck_assert(!observed_locked("fork/b"));
    condd_conn_close(c);
}
END_TEST

START_TEST(test_fork_child_close_leaves_the_parents_async_session)
{
    condd_async_conn *ac = connect_daemon();
    acquire_ok(ac, "fork/a", 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rec r = {0};
        int code = CHILD_OK;
        if (condd_async_lock_release(ac, "fork/a", 0, on_result, &r) != CONDD_ERR_INVALID)
            code = CHILD_CALL_NOT_REFUSED;
        else if (!names_opener(condd_async_conn_message(ac), parent))
            code = CHILD_NO_MESSAGE;
        condd_async_conn_close(ac);
        _exit(code);
    }
    ck_assert_int_eq(wait_child(pid), CHILD_OK);
    struct rec r = {0};
    ck_assert_int_eq(condd_async_conn_ping(ac, on_result, &r), CONDD_OK);
    ck_assert(run_until(&r.done, 10));
    ck_assert_int_eq(r.rc, CONDD_OK);
    ck_assert(observed_locked("fork/a"));
    ck_assert_int_eq(release_sync(ac, "fork/a", 0), CONDD_OK);
    ck_assert(!observed_locked("fork/a"));
    condd_async_conn_close(ac);
}
END_TEST

/* ------------------------------------------------------------------ why an open failed */

/* Each malformed address and the reason condd_conn_message(NULL) must give. */
static const struct {
    const char *addr;
    const char *msg;
} bad_addrs[] = {
    {"127.0.0.1:99999",
     "invalid address \"127.0.0.1:99999\": port 99999 is out of range (1..65535)"},
    {"127.0.0.1:0", "invalid address \"127.0.0.1:0\": port 0 is out of range (1..65535)"},
    {"127.0.0.1:abc", "invalid address \"127.0.0.1:abc\": port \"abc\" is not a number"},
    {"127.0.0.1:", "invalid address \"127.0.0.1:\": no port after ':'"},
    {"[::1", "invalid address \"[::1\": '[' without ']'"},
    {"unix:", "invalid address \"unix:\": no path after unix:"},
    {"host:1:2", "invalid address \"host:1:2\": more than one ':' (an IPv6 address goes in "
                 "brackets: [v6addr]:port)"},
    {":7380", "invalid address \":7380\": no host before ':'"},
    {"tls:unix:/x", "invalid address \"tls:unix:/x\": expected host:port, host, [v6addr]:port, "
                    "unix:/path or tls:host:port"},
};

START_TEST(test_failed_open_says_why_for_each_bad_address)
{
    for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
        condd_conn *c = (condd_conn *)&c; /* must be set to NULL */
        ck_assert_int_eq(condd_conn_open(bad_addrs[i].addr, NULL, &c), CONDD_ERR_ADDRESS);
        ck_assert_ptr_null(c);
        ck_assert_str_eq(condd_conn_message(NULL), bad_addrs[i].msg);
    }
}
END_TEST

START_TEST(test_failed_open_names_an_unresolvable_host)
{
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open("no-such-host.invalid:7380", NULL, &c), CONDD_ERR_ADDRESS);
    const char *msg = condd_conn_message(NULL);
    const char *want = "cannot resolve \"no-such-host.invalid\": ";
    ck_assert_msg(strncmp(msg, want, strlen(want)) == 0 && strlen(msg) > strlen(want),
                  "message: %s", msg);
}
END_TEST

START_TEST(test_failed_open_names_condd_server_when_the_address_came_from_it)
{
    ck_assert_int_eq(setenv("CONDD_SERVER", "bogus::", 1), 0);
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(NULL, NULL, &c), CONDD_ERR_ADDRESS);
    ck_assert_str_eq(condd_conn_message(NULL),
                     "$CONDD_SERVER: invalid address \"bogus::\": more than one ':' (an IPv6 "
                     "address goes in brackets: [v6addr]:port)");
    ck_assert_int_eq(condd_conn_open("", NULL, &c), CONDD_ERR_ADDRESS);
    ck_assert(strncmp(condd_conn_message(NULL), "$CONDD_SERVER: ", 15) == 0);
    /* An address given by the caller is not blamed on the environment. */
    ck_assert_int_eq(condd_conn_open("[::1", NULL, &c), CONDD_ERR_ADDRESS);
    ck_assert_str_eq(condd_conn_message(NULL), "invalid address \"[::1\": '[' without ']'");
    ck_assert_int_eq(unsetenv("CONDD_SERVER"), 0);
}
END_TEST

START_TEST(test_async_open_reports_its_own_failure_never_an_earlier_one)
{
    condd_async_conn *ac = NULL;
    condd_options *o = condd_options_new();
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(condd_options_set_tls_ca(o, "/nonexistent/ca.pem"), CONDD_OK);
    ck_assert_int_ne(condd_async_conn_open(base, "tls:127.0.0.1:1", o, NULL, NULL, &ac), CONDD_OK);
    ck_assert_ptr_null(ac);
    ck_assert_msg(strstr(condd_conn_message(NULL), "/nonexistent/ca.pem") != NULL, "message: %s",
                  condd_conn_message(NULL));
    condd_options_free(o);
    for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
        ck_assert_int_eq(condd_async_conn_open(base, bad_addrs[i].addr, NULL, NULL, NULL, &ac),
                         CONDD_ERR_ADDRESS);
        ck_assert_str_eq(condd_conn_message(NULL), bad_addrs[i].msg);
    }
    ck_assert_int_eq(condd_async_conn_open(NULL, "127.0.0.1:1", NULL, NULL, NULL, &ac),
                     CONDD_ERR_INVALID);
    ck_assert(condd_conn_message(NULL)[0] != '\0');
    /* A list: a bad entry is named. */
    ck_assert_int_eq(condd_async_conn_open(base, "127.0.0.1:7380,[::1", NULL, NULL, NULL, &ac),
                     CONDD_ERR_ADDRESS);
    ck_assert_msg(strstr(condd_conn_message(NULL), "[::1") != NULL, "message: %s",
                  condd_conn_message(NULL));
    /* A successful open clears the reason. */
    ac = connect_daemon();
    ck_assert_str_eq(condd_conn_message(NULL), "");
    condd_async_conn_close(ac);
}
END_TEST

/* ------------------------------------------------------------------ connect callback vs close */

struct order_rec {
    int connect_calls, connect_rc;
    int queued_calls, queued_rc;
    bool queued_first; /* the queued request's callback ran before the connect callback */
    char msg[64];
};

static void order_on_connect(condd_async_conn *c, int rc, void *arg)
{
    struct order_rec *o = arg;
    o->connect_calls++;
    o->connect_rc = rc;
    o->queued_first = o->queued_calls > 0;
    snprintf(o->msg, sizeof o->msg, "%s", condd_async_conn_message(c));
}

static void order_on_queued(condd_async_conn *c, int rc, uint64_t token, void *arg)
{
    struct order_rec *o = arg;
    o->queued_calls++;
    o->queued_rc = rc;
}

/* A ping on another connection, answered: everything the loop had to run before it ran. */
static void barrier(void)
{
    condd_async_conn *b = connect_daemon();
    struct rec r = {0};
    ck_assert_int_eq(condd_async_conn_ping(b, on_result, &r), CONDD_OK);
    ck_assert(run_until(&r.done, 10));
    condd_async_conn_close(b);
}

START_TEST(test_connect_cb_runs_once_when_closed_before_hello)
{
    struct order_rec o = {0};
    condd_async_conn *c = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, daemon_.addr, NULL, order_on_connect, &o, &c),
                     CONDD_OK);
    ck_assert_int_eq(
        condd_async_lock_acquire(c, "cc/l", 0, CONDD_FOREVER, order_on_queued, &o, NULL), CONDD_OK);
    condd_async_conn_close(c);
    ck_assert_int_eq(o.connect_calls, 1);
    ck_assert_int_eq(o.connect_rc, CONDD_ERR_CLOSED);
    ck_assert_str_eq(o.msg, "client closed");
    ck_assert_int_eq(o.queued_calls, 1);
    ck_assert_int_eq(o.queued_rc, CONDD_ERR_CLOSED);
    ck_assert(o.queued_first);
    barrier();
    ck_assert_int_eq(o.connect_calls, 1);
    ck_assert_int_eq(o.queued_calls, 1);
}
END_TEST

/* Closes the connection arg points to, from inside another connection's callback. */
struct closer {
    condd_async_conn *victim;
    bool done;
};

static void close_victim_on_result(condd_async_conn *c, int rc, void *arg)
{
    struct closer *k = arg;
    condd_async_conn_close(k->victim);
    k->done = true;
}

static void close_victim_on_connect(condd_async_conn *c, int rc, void *arg)
{
    close_victim_on_result(c, rc, arg);
}

/* A loopback listener that never accepts: connections to it complete (the kernel's backlog)
 * and their Hello is never answered, so they stay in the handshake. *addr gets its address. */
static int silent_listener(char *addr, size_t addrlen)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    socklen_t len = sizeof sin;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    snprintf(addr, addrlen, "127.0.0.1:%d", ntohs(sin.sin_port));
    return fd;
}

START_TEST(test_connect_cb_runs_once_when_closed_from_another_callback)
{
    char silent[64];
    int lfd = silent_listener(silent, sizeof silent);

    /* A Ping's callback on a ready connection closes one still in its handshake. */
    condd_async_conn *a = connect_daemon();
    struct order_rec o = {0};
    struct closer k = {0};
    ck_assert_int_eq(condd_async_conn_open(base, silent, NULL, order_on_connect, &o, &k.victim),
                     CONDD_OK);
    ck_assert_int_eq(
        condd_async_lock_acquire(k.victim, "cc/l", 0, CONDD_FOREVER, order_on_queued, &o, NULL),
        CONDD_OK);
    ck_assert_int_eq(condd_async_conn_ping(a, close_victim_on_result, &k), CONDD_OK);
    ck_assert(run_until(&k.done, 10));
    ck_assert_int_eq(o.connect_calls, 1);
    ck_assert_int_eq(o.connect_rc, CONDD_ERR_CLOSED);
    ck_assert_int_eq(o.queued_calls, 1);
    ck_assert(o.queued_first);
    barrier();
    ck_assert_int_eq(o.connect_calls, 1);

    /* The connect callback of a connection that fails closes one still in its handshake. */
    struct order_rec o2 = {0};
    struct closer k2 = {0};
    condd_async_conn *failing = NULL;
    char dead[64];
    snprintf(dead, sizeof dead, "127.0.0.1:%d", closed_port());
    ck_assert_int_eq(condd_async_conn_open(base, silent, NULL, order_on_connect, &o2, &k2.victim),
                     CONDD_OK);
    ck_assert_int_eq(
        condd_async_conn_open(base, dead, NULL, close_victim_on_connect, &k2, &failing), CONDD_OK);
    ck_assert(run_until(&k2.done, 10));
    ck_assert_int_eq(o2.connect_calls, 1);
    ck_assert_int_eq(o2.connect_rc, CONDD_ERR_CLOSED);
    barrier();
    ck_assert_int_eq(o2.connect_calls, 1);
    condd_async_conn_close(failing);
    condd_async_conn_close(a);
    close(lfd);
}
END_TEST

START_TEST(test_connect_cb_runs_once_when_a_list_is_closed_at_once)
{
    char list[160];
    snprintf(list, sizeof list, "%s,127.0.0.1:%d", daemon_.addr, closed_port());
    struct order_rec o = {0};
    condd_async_conn *c = NULL;
    ck_assert_int_eq(condd_async_conn_open(base, list, NULL, order_on_connect, &o, &c), CONDD_OK);
    condd_async_conn_close(c);
    ck_assert_int_eq(o.connect_calls, 1);
    ck_assert_int_eq(o.connect_rc, CONDD_ERR_CLOSED);
    barrier();
    ck_assert_int_eq(o.connect_calls, 1);
}
END_TEST

/* ------------------------------------------------------------------ one connection, two threads */

struct acquirer {
    condd_conn *c;
    int rc;
};

static void *acquire_thread(void *arg)
{
    struct acquirer *q = arg;
    q->rc = condd_lock_acquire(q->c, "thr/l", 0, CONDD_FOREVER, NULL);
    return NULL;
}

/* How many acquires wait for lock, as the server's List shows it (h: the caller's). */
static uint64_t waiters_of(condd_conn *h, const char *lock)
{
    condd_list *l = NULL;
    ck_assert_int_eq(condd_conn_list(h, lock, 1, &l), CONDD_OK);
    uint64_t n = condd_list_lock_count(l) > 0 ? condd_list_lock(l, 0)->waiters : 0;
    condd_list_free(l);
    return n;
}

START_TEST(test_second_thread_on_a_busy_blocking_conn_is_refused)
{
    condd_conn *holder = NULL, *c = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &holder), CONDD_OK);
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &c), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(holder, "thr/l", 0, CONDD_FOREVER, NULL), CONDD_OK);
    struct acquirer q = {.c = c, .rc = 1};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, acquire_thread, &q), 0);
    /* The acquire is queued on the server: its call is under way on c (it claims c before it
     * sends anything). */
    double deadline = tu_now() + 20;
    while (waiters_of(holder, "thr/l") == 0) {
        ck_assert_msg(tu_now() < deadline, "the other thread's acquire never reached the server");
        usleep(1000);
    }
    double rtt = 0;
    ck_assert_int_eq(condd_conn_ping(c, &rtt), CONDD_ERR_INVALID);
    ck_assert_str_eq(condd_conn_message(c), "connection in use by another thread (a condd_conn is "
                                            "for one thread at a time: open one per thread)");
    bool locked = false;
    ck_assert_int_eq(condd_lock_locked(c, "thr/l", &locked), CONDD_ERR_INVALID);
    ck_assert_int_eq(condd_conn_idle(c, 0), CONDD_ERR_INVALID);
    /* The refused calls touched nothing: the blocked acquire goes on and gets the lock. */
    ck_assert_int_eq(condd_lock_release(holder, "thr/l", 0), CONDD_OK);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(q.rc, CONDD_OK);
    /* Now this thread may use c. */
    ck_assert_int_eq(condd_conn_ping(c, &rtt), CONDD_OK);
    ck_assert_str_eq(condd_conn_message(c), "");
    ck_assert_int_eq(condd_lock_locked(holder, "thr/l", &locked), CONDD_OK);
    ck_assert(locked);
    ck_assert_int_eq(condd_lock_release(c, "thr/l", 0), CONDD_OK);
    condd_conn_close(c);
    condd_conn_close(holder);
}
END_TEST

/* ------------------------------------------------------------------ what condd.h says of results
 */

/* The installed header's text (caller frees). */
static char *read_header(void)
{
    const char *src = getenv("top_srcdir");
    char path[1024];
    snprintf(path, sizeof path, "%s/client/include/condd/condd.h", src != NULL ? src : "..");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char *text = calloc(1, 1 << 20);
    ck_assert_ptr_nonnull(text);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    ck_assert(n > 0);
    return text;
}

/* Does text name result code name ("CONDD_ERR_X" in full, or "_X" as the header abbreviates
 * it in a list), as a whole word? */
static bool names_result(const char *text, const char *name)
{
    const char *suffix = name + strlen("CONDD_ERR");
    for (const char *p = strstr(text, suffix); p != NULL; p = strstr(p + 1, suffix)) {
        char after = p[strlen(suffix)];
        if ((after >= 'A' && after <= 'Z') || after == '_')
            continue;
        char before = p > text ? p[-1] : ' ';
        bool full = p - text >= 9 && strncmp(p - 9, "CONDD_ERR", 9) == 0;
        if (full || !((before >= 'A' && before <= 'Z') || before == '_'))
            return true;
    }
    return false;
}

START_TEST(test_header_states_the_result_ranges_as_they_are)
{
    char *h = read_header();
    const char *p = strstr(h, "The values -");
    ck_assert_ptr_nonnull(p);
    int lo = 0, hi = 0;
    ck_assert_int_eq(sscanf(p, "The values -%d..-%d are exactly the server's", &lo, &hi), 2);
    ck_assert_int_eq(lo, 1);
    for (int n = lo; n <= hi; n++) {
        ck_assert_int_eq(cl_status_result(n), -n);
        ck_assert_str_ne(condd_result_name(-n), "CONDD_ERR_UNKNOWN");
    }
    /* The stated range ends where the mirroring does. */
    ck_assert_int_ne(cl_status_result(hi + 1), -(hi + 1));
    const char *q = strstr(p, "; -");
    ck_assert_ptr_nonnull(q);
    int clo = 0, chi = 0;
    ck_assert_int_eq(sscanf(q, "; -%d..-%d come from the client side", &clo, &chi), 2);
    for (int code = -clo; code >= -chi; code--) {
        ck_assert_str_ne(condd_result_name(code), "CONDD_ERR_UNKNOWN");
        for (int status = 0; status < 256; status++)
            ck_assert_int_ne(cl_status_result(status), code);
    }
    ck_assert_str_eq(condd_result_name(-(chi + 1)), "CONDD_ERR_WRONG_SERVER");
    ck_assert_ptr_nonnull(strstr(q, "(CONDD_ERR_WRONG_SERVER) is the server's status 20"));
    ck_assert_int_eq(cl_status_result(20), CONDD_ERR_WRONG_SERVER);
    free(h);
}
END_TEST

START_TEST(test_header_lists_every_connection_error)
{
    char *h = read_header();
    char *end = strstr(h, "bool condd_result_is_connection_error(int result);");
    ck_assert_ptr_nonnull(end);
    *end = '\0';
    char *start = NULL; /* the opening of the comment right above the declaration */
    for (char *p = strstr(h, "/*"); p != NULL; p = strstr(p + 1, "/*"))
        start = p;
    ck_assert_ptr_nonnull(start);
    for (int code = -1; code >= -64; code--) {
        const char *name = condd_result_name(code);
        if (strcmp(name, "CONDD_ERR_UNKNOWN") == 0)
            continue;
        ck_assert_msg(names_result(start, name) == condd_result_is_connection_error(code),
                      "%s: condd_result_is_connection_error() says %d, condd.h %s", name,
                      condd_result_is_connection_error(code),
                      names_result(start, name) ? "lists it" : "does not list it");
    }
    free(h);
}
END_TEST

/* ------------------------------------------------------------------ suite */

static Suite *edges_suite(void)
{
    Suite *s = suite_create("client_edges");

    TCase *hdr_tc = tcase_create("header");
    tcase_add_test(hdr_tc, test_header_states_the_result_ranges_as_they_are);
    tcase_add_test(hdr_tc, test_header_lists_every_connection_error);
    suite_add_tcase(s, hdr_tc);

    TCase *fork_tc = tcase_create("fork");
    tcase_add_checked_fixture(fork_tc, setup_daemon, teardown_daemon);
    tcase_set_timeout(fork_tc, 60);
    tcase_add_test(fork_tc, test_fork_child_close_leaves_the_parents_blocking_session);
    tcase_add_test(fork_tc, test_fork_child_close_leaves_the_parents_async_session);
    suite_add_tcase(s, fork_tc);

    TCase *open_tc = tcase_create("open");
    tcase_add_checked_fixture(open_tc, setup_daemon, teardown_daemon);
    tcase_set_timeout(open_tc, 60);
    tcase_add_test(open_tc, test_failed_open_says_why_for_each_bad_address);
    tcase_add_test(open_tc, test_failed_open_names_an_unresolvable_host);
    tcase_add_test(open_tc, test_failed_open_names_condd_server_when_the_address_came_from_it);
    tcase_add_test(open_tc, test_async_open_reports_its_own_failure_never_an_earlier_one);
    suite_add_tcase(s, open_tc);

    TCase *cb_tc = tcase_create("connect_cb");
    tcase_add_checked_fixture(cb_tc, setup_daemon, teardown_daemon);
    tcase_set_timeout(cb_tc, 60);
    tcase_add_test(cb_tc, test_connect_cb_runs_once_when_closed_before_hello);
    tcase_add_test(cb_tc, test_connect_cb_runs_once_when_closed_from_another_callback);
    tcase_add_test(cb_tc, test_connect_cb_runs_once_when_a_list_is_closed_at_once);
    suite_add_tcase(s, cb_tc);

    TCase *thr_tc = tcase_create("threads");
    tcase_add_checked_fixture(thr_tc, setup_daemon, teardown_daemon);
    tcase_set_timeout(thr_tc, 60);
    tcase_add_test(thr_tc, test_second_thread_on_a_busy_blocking_conn_is_refused);
    suite_add_tcase(s, thr_tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(edges_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
