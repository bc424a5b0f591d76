/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Authentication and permissions through libcondd against a live condd with an auth file:
 * condd_options_set_token() and _token_file() (right, wrong, missing, unreadable), the result
 * codes CONDD_ERR_UNAUTHENTICATED (a connection error: connect fails) and
 * CONDD_ERR_PERMISSION_DENIED (no effect: a denied Wait leaves the lock held, a denied set
 * leaves the event clear), the same through the asynchronous API, and the Stats counters. The
 * condctl side, reloads and the Unix socket's uid are in condctl-auth.sh.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_util.h"
#include "proxy_util.h"

#define TOKEN_A "condd_client-test-token-alice"
#define TOKEN_B "condd_client-test-token-bob"
static char dir[64], auth_path[128], tokfile[128];

/* Writes the auth file line for token, made by the daemon's own condd --hash-token. */
static void hash_line(FILE *out, const char *principal, const char *token)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "printf '%%s' '%s' | '%s' --hash-token %s", token, tu_condd_path(),
             principal);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[256];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, p));
    ck_assert_int_eq(pclose(p), 0);
    fputs(line, out);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/check-client-auth-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(auth_path, sizeof auth_path, "%s/auth", dir);
    snprintf(tokfile, sizeof tokfile, "%s/alice.token", dir);
    FILE *f = fopen(auth_path, "w");
    ck_assert_ptr_nonnull(f);
    hash_line(f, "alice", TOKEN_A);
    hash_line(f, "bob", TOKEN_B);
    fputs("allow alice use lock work/\n"
          "allow alice use cond work/\n"
          "allow alice use cond other/\n"
          "allow alice read event ev\n"
          "allow bob use event ev\n"
          "allow bob read * \"\"\n",
          f);
    ck_assert_int_eq(fclose(f), 0);
    f = fopen(tokfile, "w");
    ck_assert_ptr_nonnull(f);
    fputs(TOKEN_A "\n", f);
    ck_assert_int_eq(fclose(f), 0);
    setup_base();
    const char *extra[] = {"--auth-file", auth_path, "--auth-fail-delay", "0", NULL};
    start_daemon_with(false, extra);
}

static void teardown(void)
{
    teardown_daemon();
    unlink(auth_path);
    unlink(tokfile);
    rmdir(dir);
}

/* A blocking connection with token (NULL: none); the result of condd_conn_open in *rc. */
static condd_conn *open_with(const char *token, int *rc)
{
    condd_options *o = condd_options_new();
    ck_assert_ptr_nonnull(o);
    if (token != NULL)
        ck_assert_int_eq(condd_options_set_token(o, token), CONDD_OK);
    condd_conn *c = NULL;
    *rc = condd_conn_open(daemon_.addr, o, &c);
    condd_options_free(o);
    return c;
}

START_TEST(test_right_token_connects)
{
    int rc;
    condd_conn *c = open_with(TOKEN_A, &rc);
    ck_assert_int_eq(rc, CONDD_OK);
    ck_assert_int_eq(condd_conn_ping(c, NULL), CONDD_OK);
    condd_conn_close(c);
}
END_TEST

START_TEST(test_wrong_or_missing_token_is_unauthenticated)
{
    int rc;
    ck_assert_ptr_null(open_with("condd_not-a-known-token-at-all", &rc));
    ck_assert_int_eq(rc, CONDD_ERR_UNAUTHENTICATED);
    ck_assert(condd_result_is_connection_error(rc));
    ck_assert_ptr_nonnull(strstr(condd_conn_message(NULL), "matches no principal"));
    ck_assert_ptr_null(open_with(NULL, &rc));
    ck_assert_int_eq(rc, CONDD_ERR_UNAUTHENTICATED);
    ck_assert_ptr_nonnull(strstr(condd_conn_message(NULL), "no credential"));
    ck_assert_str_eq(condd_result_name(CONDD_ERR_UNAUTHENTICATED), "CONDD_ERR_UNAUTHENTICATED");
}
END_TEST

START_TEST(test_token_file)
{
    condd_options *o = condd_options_new();
    ck_assert_int_eq(condd_options_set_token_file(o, "/nonexistent/token"), CONDD_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(condd_conn_message(NULL), "cannot read the token file"));
    ck_assert_int_eq(condd_options_set_token_file(o, tokfile), CONDD_OK);
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, o, &c), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire(c, "work/1", 0, 0, NULL), CONDD_OK);
    condd_conn_close(c);
    /* NULL removes the token again */
    ck_assert_int_eq(condd_options_set_token(o, NULL), CONDD_OK);
    ck_assert_int_eq(condd_conn_open(daemon_.addr, o, &c), CONDD_ERR_UNAUTHENTICATED);
    condd_options_free(o);
}
END_TEST

START_TEST(test_denied_requests_have_no_effect)
{
    int rc;
    condd_conn *a = open_with(TOKEN_A, &rc);
    condd_conn *b = open_with(TOKEN_B, &rc);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(condd_lock_acquire(a, "other/1", 0, 0, NULL), CONDD_ERR_PERMISSION_DENIED);
    ck_assert_ptr_nonnull(strstr(condd_conn_message(a), "no use permission on lock 'other/1'"));
    /* A Wait needs use on the lock as well as on the condition: denied, the lock stays held. */
    uint64_t tok = 0;
    ck_assert_int_eq(condd_lock_acquire(a, "work/1", 0, CONDD_FOREVER, &tok), CONDD_OK);
    ck_assert_int_eq(condd_cond_wait(a, "other/c", "work/1", 0, 0.01, NULL), CONDD_ERR_TIMEOUT);
    ck_assert_int_eq(condd_cond_wait(a, "work/c", "other/1", 0, 0.01, NULL),
                     CONDD_ERR_PERMISSION_DENIED);
    ck_assert_ptr_nonnull(strstr(condd_conn_message(a), "on lock 'other/1'"));
    bool locked = false;
    ck_assert_int_eq(condd_lock_locked(b, "work/1", &locked), CONDD_OK);
    ck_assert(locked);
    /* Alice may read the event but not set it; Bob may. */
    ck_assert_int_eq(condd_event_set(a, "ev", NULL), CONDD_ERR_PERMISSION_DENIED);
    bool set = true;
    ck_assert_int_eq(condd_event_is_set(a, "ev", &set), CONDD_OK);
    ck_assert(!set);
    ck_assert_int_eq(condd_event_set(b, "ev", NULL), CONDD_OK);
    ck_assert_int_eq(condd_event_is_set(a, "ev", &set), CONDD_OK);
    ck_assert(set);
    /* Release needs nothing: only a holder can release. */
    ck_assert_int_eq(condd_lock_release(a, "work/1", 0), CONDD_OK);
    /* Stats needs read somewhere: Alice has it (event ev), and the counters moved. */
    condd_stats *st = NULL;
    ck_assert_int_eq(condd_conn_stats(b, &st), CONDD_OK);
    ck_assert_uint_eq(st->permission_denials, 3);
    condd_stats_free(st);
    ck_assert_int_eq(condd_event_clear(b, "ev"), CONDD_OK);
    condd_conn_close(a);
    condd_conn_close(b);
}
END_TEST

START_TEST(test_stats_counts_auth_failures)
{
    int rc;
    ck_assert_ptr_null(open_with("condd_wrong-token-number-one", &rc));
    ck_assert_ptr_null(open_with(NULL, &rc));
    condd_conn *b = open_with(TOKEN_B, &rc);
    condd_stats *st = NULL;
    ck_assert_int_eq(condd_conn_stats(b, &st), CONDD_OK);
    ck_assert_uint_eq(st->auth_failures, 2);
    ck_assert_uint_eq(st->permission_denials, 0);
    condd_stats_free(st);
    condd_conn_close(b);
}
END_TEST

START_TEST(test_async_permission_denied)
{
    condd_options *o = condd_options_new();
    ck_assert_int_eq(condd_options_set_token(o, TOKEN_B), CONDD_OK);
    condd_async_conn *c = connect_ok(daemon_.addr, o);
    condd_options_free(o);
    struct rec r = {0};
    ck_assert_int_eq(condd_async_lock_acquire(c, "work/1", 0, 0, on_token, &r, NULL), CONDD_OK);
    ck_assert(run_until(&r.done, 10));
    ck_assert_int_eq(r.rc, CONDD_ERR_PERMISSION_DENIED);
    ck_assert_ptr_nonnull(strstr(r.msg, "principal 'bob' has no use permission"));
    ck_assert(condd_async_conn_is_connected(c));
    condd_async_conn_close(c);
}
END_TEST

/* A reload that removes a principal: its open session may start nothing new, but keeps what
 * it holds and may still release it; new connections with its token are refused. */
START_TEST(test_reload_removing_a_principal_keeps_its_holds)
{
    int rc;
    condd_conn *a = open_with(TOKEN_A, &rc);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(condd_lock_acquire(a, "work/keep", 0, CONDD_FOREVER, NULL), CONDD_OK);
    FILE *f = fopen(auth_path, "w");
    ck_assert_ptr_nonnull(f);
    hash_line(f, "bob", TOKEN_B);
    fputs("allow bob read * \"\"\n", f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
    /* Poll (with a deadline) until the reload has taken effect for alice's next request. */
    double end = tu_now() + 20;
    while ((rc = condd_lock_acquire(a, "work/new", 0, 0, NULL)) == CONDD_OK && tu_now() < end)
        ck_assert_int_eq(condd_lock_release(a, "work/new", 0), CONDD_OK);
    ck_assert_int_eq(rc, CONDD_ERR_PERMISSION_DENIED);
    ck_assert_ptr_nonnull(strstr(condd_conn_message(a), "no longer in the auth file"));
    condd_conn *b = open_with(TOKEN_B, &rc);
    ck_assert_ptr_nonnull(b);
    bool locked = false;
    ck_assert_int_eq(condd_lock_locked(b, "work/keep", &locked), CONDD_OK);
    ck_assert(locked);
    ck_assert_int_eq(condd_lock_release(a, "work/keep", 0), CONDD_OK);
    ck_assert_int_eq(condd_lock_locked(b, "work/keep", &locked), CONDD_OK);
    ck_assert(!locked);
    ck_assert_ptr_null(open_with(TOKEN_A, &rc));
    ck_assert_int_eq(rc, CONDD_ERR_UNAUTHENTICATED);
    condd_conn_close(a);
    condd_conn_close(b);
}
END_TEST

/* A resume Hello is authenticated like any Hello: the library must send its token again, or
 * the server refuses the resume and the session (and its lock) is lost. */
START_TEST(test_resume_sends_the_token_again)
{
    struct tu_proxy px;
    ck_assert_msg(tu_proxy_start(&px, daemon_.port), "blipproxy did not start");
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", px.port);
    condd_options *o = condd_options_new();
    ck_assert_int_eq(condd_options_set_token(o, TOKEN_A), CONDD_OK);
    ck_assert_int_eq(condd_options_set_grace(o, 30), CONDD_OK);
    condd_conn *c = NULL;
    ck_assert_int_eq(condd_conn_open(addr, o, &c), CONDD_OK);
    condd_options_free(o);
    ck_assert_int_eq(condd_lock_acquire(c, "work/r", 0, CONDD_FOREVER, NULL), CONDD_OK);
    ck_assert(tu_proxy_cmd(&px, "drop", NULL, 0));
    /* The library skips its dead-socket check for 1 ms after an answer: let that pass. */
    double t0 = tu_now();
    while (tu_now() - t0 < 0.002)
        ;
    bool locked = false;
    ck_assert_int_eq(condd_lock_locked(c, "work/r", &locked), CONDD_OK);
    ck_assert(locked);
    ck_assert_int_eq(condd_lock_release(c, "work/r", 0), CONDD_OK);
    condd_conn_close(c);
    tu_proxy_stop(&px);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("client_auth");
    TCase *tc = tcase_create("auth");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_right_token_connects);
    tcase_add_test(tc, test_wrong_or_missing_token_is_unauthenticated);
    tcase_add_test(tc, test_token_file);
    tcase_add_test(tc, test_denied_requests_have_no_effect);
    tcase_add_test(tc, test_stats_counts_auth_failures);
    tcase_add_test(tc, test_async_permission_denied);
    tcase_add_test(tc, test_resume_sends_the_token_again);
    tcase_add_test(tc, test_reload_removing_a_principal_keeps_its_holds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(auth_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
