/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The live restart's ordering (restart.c, restart_begin): the state is saved right after every
 * connection is half-closed, and the clients close their side while it is written; the old
 * process then runs nothing (no timer, no callback) until it execs. Over the wire, with raw
 * sessions, so that every Response is seen: a request whose timeout passes during the drain
 * times out exactly once (in the successor), answers that were queued but not written when
 * the connection was half-closed reach the client after its resume, each exactly once, in order,
 * and a request a client sends during the drain is still handled (the old process then drains
 * in its loop and saves again) and answered after the resume.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "wire_expect.h"
#include "wireclient.h"

#define ST(x) CONDD__V1__STATUS__STATUS_##x
#define T 20.0

static struct tu_daemon D;
static bool D_up;

static void start(const char *drain)
{
    /* More kept answers than the default cap: the second test keeps tens of thousands. And a
     * session timeout longer than reading them can take under ASan on a loaded machine: the
     * client sends nothing meanwhile (with 10 s, one CI run saw the resumed session expire, and
     * its next Ping met a closed socket). */
    const char *const args[] = {"--max-session-grace",
                                "30",
                                "--restart-drain",
                                drain,
                                "--max-buffered-answers",
                                "100000",
                                "--session-timeout",
                                "120",
                                NULL};
    struct tu_spawn sp = {.child_setup = tu_log_to_dir};
    ck_assert_msg(tu_daemon_start_ex(&D, &sp, true, args), "condd did not start");
    D_up = true;
}

static void teardown(void)
{
    if (D_up)
        tu_daemon_stop(&D);
    D_up = false;
}

/* Whether the daemon's log has a line with needle (and, if not NULL, needle2 on that line). */
static bool log_has(const char *needle, const char *needle2)
{
    char path[256];
    snprintf(path, sizeof path, "%s/log", D.dir);
    return tu_file_has_line(path, needle, needle2);
}

static bool wait_log(const char *needle, const char *needle2)
{
    double end = tu_now() + T;
    while (tu_now() < end) {
        if (log_has(needle, needle2))
            return true;
        usleep(5000);
    }
    return false;
}

struct sess {
    uint64_t id;
    uint8_t secret[32];
};

static bool send_hello(struct wc *w, uint64_t id, double grace, const struct sess *resume)
{
    return wc_hello_resume(w, id, "check_restart_drain", grace, resume != NULL ? resume->id : 0,
                           resume != NULL ? resume->secret : NULL, sizeof resume->secret);
}

/* A new session with a 30 s grace on the Unix socket; fills *s. */
static struct wc *open_session(struct sess *s)
{
    struct wc *w = wc_connect_unix(D.unix_path);
    ck_assert_ptr_nonnull(w);
    ck_assert(send_hello(w, 1, 30, NULL));
    Condd__V1__Response *r = wx_expect(w, 1, ST(OK));
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_HELLO);
    s->id = r->hello->session_id;
    ck_assert_uint_eq(r->hello->resume_secret.len, sizeof s->secret);
    memcpy(s->secret, r->hello->resume_secret.data, sizeof s->secret);
    condd__v1__response__free_unpacked(r, NULL);
    return w;
}

/* Resumes s on a new connection (the successor answers once it runs): the HelloResult must be
 * the first frame. */
static struct wc *resume_session(const struct sess *s)
{
    struct wc *w = wc_connect_unix(D.unix_path);
    ck_assert_ptr_nonnull(w);
    ck_assert(send_hello(w, 1, 0, s));
    Condd__V1__Response *r = wc_recv(w, T);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, 1);
    ck_assert_msg(r->status == ST(OK), "resume: %d %s", r->status, r->message);
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_HELLO);
    ck_assert(r->hello->resumed);
    condd__v1__response__free_unpacked(r, NULL);
    return w;
}

/* Reads w's old connection to its end, as a client does after the half-close; counts the
 * Responses with id want_id (and frees them all). */
static int read_to_end(struct wc *w, uint64_t want_id, int *status)
{
    int n = 0;
    Condd__V1__Response *r;
    while ((r = wc_recv(w, T)) != NULL) {
        if (r->id == want_id) {
            n++;
            *status = r->status;
        }
        condd__v1__response__free_unpacked(r, NULL);
    }
    ck_assert_msg(wc_wait_closed(w, T), "the old connection did not end");
    return n;
}

/* ------------------------------------------------------------------ tests */

START_TEST(test_timeout_passing_during_the_drain_fires_once_in_the_successor)
{
    start("2");
    struct sess a, b, c;
    struct wc *wa = open_session(&a), *wb = open_session(&b), *wcc = open_session(&c);
    ck_assert(wc_acquire(wa, 2, "L", 1, -1));
    wx_expect_free(wa, 2, ST(OK));
    /* B waits for L at most 0.3 s; C stays connected through the drain, so the old process waits
     * the whole restart-drain (2 s) and B's timeout passes meanwhile. */
    ck_assert(wc_acquire(wb, 2, "L", 1, 0.3));
    ck_assert(wc_nothing_before_ping(wb));
    ck_assert_int_eq(kill(D.pid, SIGUSR2), 0);

    int status = -1;
    int before = read_to_end(wa, 2, &status); /* A's grant came before: nothing more */
    ck_assert_int_eq(before, 0);
    wc_close(wa);
    before = read_to_end(wb, 2, &status);
    wc_close(wb);
    /* The drain ends at its deadline, C still open (closed on): the frozen drain of the early
     * save, not the loop's (which only runs when a client sends more). */
    ck_assert(wait_log("restart: clients closed in", "1 still open were closed on"));
    ck_assert(wait_log("while the state was written", NULL));
    wc_close(wcc);

    /* Exactly one TIMEOUT for B's request: on the old connection if the machine was so slow
     * that it passed before the signal was handled, else after the resume. */
    struct wc *rb = resume_session(&b);
    if (before == 0) {
        Condd__V1__Response *r = wc_recv_id(rb, 2, T);
        ck_assert_msg(r != NULL, "no answer to the acquire after the resume");
        ck_assert_int_eq(r->status, ST(TIMEOUT));
        condd__v1__response__free_unpacked(r, NULL);
    } else {
        ck_assert_int_eq(before, 1);
        ck_assert_int_eq(status, ST(TIMEOUT));
    }
    ck_assert(wc_nothing_before_ping(rb));
    /* A still holds L (the timeout handed nothing to B): A's resumed session releases it. */
    struct wc *ra = resume_session(&a);
    ck_assert(wc_release(ra, 3, "L", 1));
    wx_expect_free(ra, 3, ST(OK));
    ck_assert(wc_nothing_before_ping(ra));
    struct wc *rc = resume_session(&c);
    ck_assert(wc_nothing_before_ping(rc));
    wc_close(ra);
    wc_close(rb);
    wc_close(rc);
}
END_TEST

START_TEST(test_answers_unwritten_at_the_half_close_arrive_after_the_resume)
{
    start("10");
    enum { N = 50000 };
    struct sess s;
    struct wc *w = open_session(&s);
    /* N Pings without reading a single answer: the answers (more than the Unix socket buffers
     * hold) pile up unwritten in the daemon. The requests are all in the daemon's socket once
     * the writes return, so the half-close handles every one of them. */
    for (uint64_t id = 2; id < 2 + N; id++)
        ck_assert(wc_ping(w, id));
    /* A barrier on another session: the daemon has been through its loop since. */
    struct sess o;
    struct wc *other = open_session(&o);
    ck_assert(wc_nothing_before_ping(other));
    ck_assert_int_eq(kill(D.pid, SIGUSR2), 0);

    /* The old connection delivers a prefix of the answers, in order, then ends. */
    uint64_t next = 2;
    Condd__V1__Response *r;
    while ((r = wc_recv(w, T)) != NULL) {
        ck_assert_uint_eq(r->id, next);
        ck_assert_int_eq(r->status, ST(OK));
        next++;
        condd__v1__response__free_unpacked(r, NULL);
    }
    ck_assert_msg(wc_wait_closed(w, T), "the old connection did not end");
    wc_close(w);
    ck_assert_int_eq(read_to_end(other, 0, &(int){0}), 0);
    wc_close(other);
    ck_assert_msg(next < 2 + N, "every answer was written before the restart (%llu)",
                  (unsigned long long)next);
    ck_assert(wait_log("while the state was written", NULL));

    /* The rest come right after the resume's HelloResult, each once, in order. */
    struct wc *rw = resume_session(&s);
    for (; next < 2 + N; next++) {
        r = wc_recv(rw, T);
        ck_assert_msg(r != NULL, "answer %llu missing after the resume", (unsigned long long)next);
        ck_assert_uint_eq(r->id, next);
        ck_assert_int_eq(r->status, ST(OK));
        condd__v1__response__free_unpacked(r, NULL);
    }
    ck_assert(wc_nothing_before_ping(rw));
    wc_close(rw);
    struct wc *ro = resume_session(&o);
    ck_assert(wc_nothing_before_ping(ro));
    wc_close(ro);
}
END_TEST

START_TEST(test_request_sent_during_the_drain_is_handled_and_answered_after_the_resume)
{
    start("10");
    struct sess s, h;
    struct wc *w = open_session(&s), *holder = open_session(&h);
    ck_assert(wc_acquire(holder, 2, "L", 1, -1));
    wx_expect_free(holder, 2, ST(OK));
    ck_assert_int_eq(kill(D.pid, SIGUSR2), 0);
    /* The end of the stream, then one more request on the old connection before closing it (a
     * client that wrote before it noticed): the early state no longer holds, the old process
     * drains in its loop, handles the Locked, and saves again. */
    ck_assert_msg(wc_wait_closed(w, T), "the old connection did not end");
    ck_assert(wc_locked(w, 3, "L"));
    ck_assert(wait_log("a client sent more after the half-close", NULL));
    wc_close(w);
    ck_assert_int_eq(read_to_end(holder, 0, &(int){0}), 0);
    wc_close(holder);
    ck_assert(wait_log("restart: saved", NULL));

    /* Its answer is kept for the resume, once: L is locked (h still holds it). */
    struct wc *rw = resume_session(&s);
    Condd__V1__Response *r = wc_recv(rw, T);
    ck_assert_msg(r != NULL, "no answer to the request sent during the drain");
    ck_assert_uint_eq(r->id, 3);
    ck_assert_int_eq(r->status, ST(OK));
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_LOCKED);
    ck_assert(r->locked->locked);
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(wc_nothing_before_ping(rw));
    wc_close(rw);
    struct wc *rh = resume_session(&h);
    ck_assert(wc_release(rh, 3, "L", 1));
    wx_expect_free(rh, 3, ST(OK));
    wc_close(rh);
}
END_TEST

START_TEST(test_exec_failing_after_the_early_save_keeps_the_old_process_serving)
{
    /* A private copy of condd, replaced once started by a file that is executable but not a
     * program: SIGUSR2's up-front check passes, the save and the drain happen, and execv fails
     * (ENOEXEC). The old process must then serve on with every session in its grace, and take
     * signals again (they were blocked for the drain). */
    char bin[256], cmd[600];
    snprintf(bin, sizeof bin, "/tmp/condd-drain-bin-%ld", (long)getpid());
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", tu_condd_path(), bin);
    ck_assert_int_eq(system(cmd), 0);
    const char *const args[] = {"--max-session-grace", "30", "--restart-drain", "10", NULL};
    struct tu_spawn sp = {.binary = bin, .child_setup = tu_log_to_dir};
    bool started = tu_daemon_start_ex(&D, &sp, true, args);
    unlink(bin);
    ck_assert(started);
    D_up = true;
    FILE *f = fopen(bin, "w");
    ck_assert_ptr_nonnull(f);
    fputs("not a program\n", f);
    fclose(f);
    ck_assert_int_eq(chmod(bin, 0755), 0);

    struct sess s;
    struct wc *w = open_session(&s);
    ck_assert(wc_acquire(w, 2, "L", 1, -1));
    wx_expect_free(w, 2, ST(OK));
    ck_assert_int_eq(kill(D.pid, SIGUSR2), 0);
    ck_assert_int_eq(read_to_end(w, 0, &(int){0}), 0);
    wc_close(w);
    ck_assert(wait_log("while the state was written", NULL));
    ck_assert(wait_log("restart: cannot execute", NULL));
    ck_assert(wait_log("still serving in this process", NULL));
    unlink(bin);

    /* The session resumes to the same process, still holding L. */
    struct wc *rw = resume_session(&s);
    struct sess o;
    struct wc *other = open_session(&o);
    ck_assert(wc_locked(other, 2, "L"));
    Condd__V1__Response *r = wx_expect(other, 2, ST(OK));
    ck_assert(r->locked->locked);
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(wc_release(rw, 3, "L", 1));
    wx_expect_free(rw, 3, ST(OK));
    wc_close(rw);
    wc_close(other);
    /* A stop is taken (not blocked): SIGTERM ends it with status 0. */
    int st = tu_daemon_stop(&D);
    D_up = false;
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "condd did not stop on SIGTERM (%d)", st);
}
END_TEST

static Suite *drain_suite(void)
{
    Suite *s = suite_create("restart_drain");
    TCase *tc = tcase_create("order");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_timeout_passing_during_the_drain_fires_once_in_the_successor);
    tcase_add_test(tc, test_answers_unwritten_at_the_half_close_arrive_after_the_resume);
    tcase_add_test(tc, test_request_sent_during_the_drain_is_handled_and_answered_after_the_resume);
    tcase_add_test(tc, test_exec_failing_after_the_early_save_keeps_the_old_process_serving);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(drain_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
