/* SPDX-License-Identifier: BSD-2-Clause
 *
 * conn_new_tls() (daemon/conn.c) when libevent runs out of memory: libevent's allocator is
 * replaced (event_set_mem_functions) by one that fails its n-th call, for each n at which
 * conn.c must cope (the events, and adding them). Each attempt must return NULL with the socket
 * closed and the TLS session freed, or a working connection; nothing may be freed twice or
 * leaked, which the sanitizer build (ASan with LeakSanitizer) checks. (When TLS went through
 * libevent's OpenSSL filter, the filter's allocation failing used to free the session twice.)
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "server.h"
#include "server_internal.h"
#include "settings.h"
#include "tls.h"

static long fail_at = -1; /* the number of the libevent allocation that fails; -1: none */
static long calls;        /* libevent allocations since the counter was reset */

static void *oom_malloc(size_t n)
{
    return calls++ == fail_at ? NULL : malloc(n);
}

static void *oom_realloc(void *p, size_t n)
{
    return calls++ == fail_at ? NULL : realloc(p, n);
}

static void oom_free(void *p)
{
    free(p);
}

START_TEST(test_conn_new_tls_survives_each_libevent_allocation_failing)
{
    event_set_mem_functions(oom_malloc, oom_realloc, oom_free); /* before any libevent use */
    log_init(LOG_LVL_ERROR);
    char dir[] = "/tmp/check-tls-oom-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *top = getenv("top_srcdir");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sh '%s/tests/tls-certs.sh' '%s'", top != NULL ? top : "..", dir);
    ck_assert_int_eq(system(cmd), 0);
    struct event_base *base = event_base_new();
    ck_assert_ptr_nonnull(base);
    struct settings st;
    settings_init(&st);
    char crt[128], key[128];
    snprintf(crt, sizeof crt, "%s/server.pem", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    st.tls_cert = strdup(crt);
    st.tls_key = strdup(key);
    struct server *srv = server_new(base, &st);
    ck_assert_ptr_nonnull(srv);
    char err[256];
    srv->tls = tls_ctx_load(&st, err, sizeof err);
    ck_assert_msg(srv->tls != NULL, "%s", err);
    settings_clear(&st);

    /* Where libevent allocates in conn_new_tls(): its three events, and adding the read event
     * (the epoll map grows with the descriptor's number) and the handshake timer. Counted once
     * with nothing failing, then each of them fails in turn. */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    calls = 0;
    struct conn *first = conn_new_tls(srv, sv[0], "count");
    long a = calls;
    ck_assert_ptr_nonnull(first);
    conn_close(first, "test");
    event_base_loop(base, EVLOOP_NONBLOCK);
    close(sv[1]);
    ck_assert_int_ge(a, 3); /* the allocator is libevent's: the sweep covers the events */
    long sweep[64];
    int n = 0;
    for (long k = 0; k <= a && k < 62; k++)
        sweep[n++] = k;
    sweep[n++] = 1000000; /* none */
    bool passed_all = false;
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        calls = 0;
        fail_at = sweep[i];
        struct conn *c = conn_new_tls(srv, sv[0], "oom");
        long used = calls;
        fail_at = -1;
        if (c == NULL) {
            ck_assert_int_lt(sweep[i], used); /* it failed only because an allocation did */
            event_base_loop(base, EVLOOP_NONBLOCK);
            errno = 0;
            ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1); /* and closed the socket */
            ck_assert_int_eq(errno, EBADF);
        } else {
            /* An event's own allocation failing must be noticed. */
            ck_assert_msg(sweep[i] >= 3, "event %ld's allocation failed unnoticed", sweep[i]);
            passed_all = passed_all || sweep[i] >= used;
            conn_close(c, "test");
            event_base_loop(base, EVLOOP_NONBLOCK);
            errno = 0;
            ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1); /* closing closes the socket */
            ck_assert_int_eq(errno, EBADF);
        }
        close(sv[1]);
    }
    ck_assert(passed_all);
    server_free(srv);
    event_base_free(base);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tls_oom");
    TCase *tc = tcase_create("oom");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_conn_new_tls_survives_each_libevent_allocation_failing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
