/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Live restart (restart.c, condd(8) LIVE RESTART): condd re-executes itself on SIGUSR2 keeping
 * every lock, queue, waiter and session, and clients of libcondd with a grace resume as after a
 * blip. Also: a state the successor cannot read (it starts empty and says so at error level), a
 * binary that is gone (the old process goes on serving), and the systemd fd-store hand-over on
 * SIGTERM, with this test playing the service manager (a datagram NOTIFY_SOCKET that receives
 * the descriptors, then LISTEN_FDS/LISTEN_FDNAMES/LISTEN_PID for the next condd).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client_util.h"

/* ------------------------------------------------------------------ helpers */

static condd_async_conn *connect_grace(struct session_events *e)
{
    condd_options *o = condd_options_new();
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(condd_options_set_grace(o, 30), CONDD_OK);
    condd_async_conn *c = connect_ok(daemon_.addr, o);
    condd_options_free(o);
    condd_async_conn_set_session_cb(c, on_session_event, e);
    return c;
}

/* A Ping round trip on c: every request sent on c before it has been handled. */
static void barrier(condd_async_conn *c)
{
    struct rec r = {0};
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, &r), CONDD_OK);
    ck_assert(run_until(&r.done, 20));
    ck_assert_int_eq(r.rc, CONDD_OK);
}

/* A fresh blocking connection (no grace) to the daemon: NULL if it cannot connect now. */
static condd_conn *fresh(void)
{
    condd_conn *c = NULL;
    int rc = condd_conn_open(daemon_.addr, NULL, &c);
    if (rc != CONDD_OK) {
        fprintf(stderr, "check_restart: cannot connect to %s: %s\n", daemon_.addr,
                condd_result_name(rc));
        return NULL;
    }
    return c;
}

/* The server's Stats through a fresh connection. A connection without a grace that a restart
 * catches is dropped (as any dropped connection): that one is tried again. */
static condd_stats *stats_now(void)
{
    double end = tu_now() + 20;
    for (;;) {
        condd_conn *c = fresh();
        condd_stats *st = NULL;
        int rc = c != NULL ? condd_conn_stats(c, &st) : CONDD_ERR_DISCONNECTED;
        condd_conn_close(c);
        if (rc == CONDD_OK)
            return st;
        ck_assert_msg(condd_result_is_connection_error(rc) && tu_now() < end, "stats: %s",
                      condd_result_name(rc));
    }
}

/* From outside: nobody can take lock now (a fresh session's try-lock times out). Returns
 * false when the connection was caught by a restart (nothing was learnt). */
static bool try_lock_fails_outside(const char *lock)
{
    condd_conn *c = fresh();
    if (c == NULL)
        return false;
    uint64_t tok = 0;
    int rc = condd_lock_acquire(c, lock, 7, 0, &tok);
    condd_conn_close(c);
    if (condd_result_is_connection_error(rc))
        return false;
    ck_assert_msg(rc == CONDD_ERR_TIMEOUT, "try-lock of %s from outside: %s", lock,
                  condd_result_name(rc));
    return true;
}

static void on_index(condd_async_conn *c, int rc, uint32_t index, void *arg)
{
    struct rec *r = arg;
    r->u64 = index;
    rec_set(c, r, rc);
}

static bool file_contains(const char *path, const char *needle)
{
    return tu_file_has_line(path, needle, NULL);
}

static void log_path(char *out, size_t len)
{
    snprintf(out, len, "%s/log", daemon_.dir);
}

/* Polls the daemon's log (at most 20 s) for needle. */
static bool wait_log(const char *needle)
{
    char path[256];
    log_path(path, sizeof path);
    double end = tu_now() + 20;
    while (tu_now() < end) {
        if (file_contains(path, needle))
            return true;
        usleep(5000);
    }
    return false;
}

static void teardown(void)
{
    teardown_daemon();
}

static void setup_logged(void)
{
    setup_base();
    struct tu_spawn sp = {.child_setup = tu_log_to_dir};
    ck_assert(tu_daemon_start_ex(&daemon_, &sp, true, NULL));
    daemon_up = true;
}

/* ------------------------------------------------------------------ the re-exec */

START_TEST(test_restart_keeps_every_primitive_and_clients_resume)
{
    struct session_events ea = {0}, eb = {0}, ec = {0}, ed = {0}, ee = {0}, ef = {0};
    condd_async_conn *a = connect_grace(&ea); /* holds "L" */
    condd_async_conn *b = connect_grace(&eb); /* queued for "L" */
    condd_async_conn *c = connect_grace(&ec); /* waits on "cv" under "CL" */
    condd_async_conn *d = connect_grace(&ed); /* holds the permit of "S" */
    condd_async_conn *e = connect_grace(&ee); /* set the event "E" */
    condd_async_conn *f = connect_grace(&ef); /* waits at the barrier "B" (2 parties) */
    uint64_t sid_a = condd_async_conn_session_id(a);

    uint64_t tok_a = acquire_ok(a, "L", 1);
    struct rec queued = {0};
    ck_assert_int_eq(condd_async_lock_acquire(b, "L", 2, CONDD_FOREVER, on_token, &queued, NULL),
                     CONDD_OK);
    barrier(b);
    uint64_t tok_c = acquire_ok(c, "CL", 3);
    struct rec waited = {0};
    ck_assert_int_eq(
        condd_async_cond_wait(c, "cv", "CL", 3, CONDD_FOREVER, on_token, &waited, NULL), CONDD_OK);
    barrier(c);
    struct rec permit = {0};
    ck_assert_int_eq(
        condd_async_sem_acquire(d, "S", 1, false, 4, CONDD_FOREVER, on_token, &permit, NULL),
        CONDD_OK);
    ck_assert(run_until(&permit.done, 20));
    ck_assert_int_eq(permit.rc, CONDD_OK);
    struct rec set = {0};
    ck_assert_int_eq(condd_async_event_set(e, "E", on_notify, &set), CONDD_OK);
    ck_assert(run_until(&set.done, 20));
    ck_assert_int_eq(set.rc, CONDD_OK);
    struct rec bw = {0};
    ck_assert_int_eq(condd_async_barrier_wait(f, "B", 2, CONDD_FOREVER, on_index, &bw, NULL),
                     CONDD_OK);
    barrier(f);
    ck_assert(!queued.done && !waited.done && !bw.done);

    ck_assert_int_eq(kill(daemon_.pid, SIGUSR2), 0);
    /* Until every client has resumed, "L" stays held from the outside's point of view. */
    struct session_events *all[] = {&ea, &eb, &ec, &ed, &ee, &ef};
    double end = tu_now() + 30;
    for (;;) {
        int resumed = 0;
        for (int i = 0; i < 6; i++)
            resumed += all[i]->resumed > 0;
        if (resumed == 6)
            break;
        ck_assert_msg(tu_now() < end, "only %d of 6 clients resumed", resumed);
        try_lock_fails_outside("L");
        run_for(0.02);
    }
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(all[i]->lost, 0);
        ck_assert_int_eq(all[i]->resumed, 1);
    }
    ck_assert_uint_eq(condd_async_conn_session_id(a), sid_a);
    ck_assert(try_lock_fails_outside("L"));

    condd_stats *st = stats_now();
    ck_assert_uint_eq(st->restarts, 1);
    ck_assert_uint_eq(st->restored_sessions, 6);
    ck_assert_uint_eq(st->permits_held, 1);
    ck_assert_uint_eq(st->events_set, 1);
    ck_assert_uint_eq(st->barrier_waiters, 1);
    ck_assert_uint_eq(st->condition_waiters, 1);
    ck_assert_uint_eq(st->lock_waiters, 1);
    condd_stats_free(st);
    ck_assert(!queued.done && !waited.done && !bw.done);

    /* The queued acquire is granted after the release, with a token above every old one. */
    ck_assert_int_eq(release_sync(a, "L", 1), CONDD_OK);
    ck_assert(run_until(&queued.done, 20));
    ck_assert_int_eq(queued.rc, CONDD_OK);
    ck_assert_uint_gt(queued.u64, tok_a);
    ck_assert_uint_gt(queued.u64, tok_c);
    /* The waiter is notified, and returns holding "CL" again. */
    condd_async_conn *g = connect_daemon();
    uint64_t tok_g = acquire_ok(g, "CL", 9);
    ck_assert_uint_gt(tok_g, queued.u64);
    struct rec nt = {0};
    ck_assert_int_eq(condd_async_cond_notify(g, "cv", "CL", 9, 1, on_notify, &nt), CONDD_OK);
    ck_assert(run_until(&nt.done, 20));
    ck_assert_int_eq(nt.rc, CONDD_OK);
    ck_assert_uint_eq(nt.u64, 1);
    ck_assert_int_eq(release_sync(g, "CL", 9), CONDD_OK);
    ck_assert(run_until(&waited.done, 20));
    ck_assert_int_eq(waited.rc, CONDD_OK);
    ck_assert_uint_gt(waited.u64, tok_g);
    /* The permit is still d's: a second acquirer has to wait. */
    struct rec sem2 = {0};
    ck_assert_int_eq(condd_async_sem_acquire(g, "S", 1, false, 9, 0, on_token, &sem2, NULL),
                     CONDD_OK);
    ck_assert(run_until(&sem2.done, 20));
    ck_assert_int_eq(sem2.rc, CONDD_ERR_TIMEOUT);
    /* The event is still set. */
    struct rec is = {0};
    ck_assert_int_eq(condd_async_event_is_set(g, "E", on_locked, &is), CONDD_OK);
    ck_assert(run_until(&is.done, 20));
    ck_assert(is.flag);
    /* The barrier completes with its second party. */
    struct rec bw2 = {0};
    ck_assert_int_eq(condd_async_barrier_wait(g, "B", 2, CONDD_FOREVER, on_index, &bw2, NULL),
                     CONDD_OK);
    ck_assert(run_until(&bw2.done, 20));
    ck_assert(run_until(&bw.done, 20));
    ck_assert_int_eq(bw.rc, CONDD_OK);
    ck_assert_int_eq(bw2.rc, CONDD_OK);
    ck_assert_uint_ne(bw.u64, bw2.u64);

    condd_async_conn *cs[] = {a, b, c, d, e, f, g};
    for (int i = 0; i < 7; i++)
        condd_async_conn_close(cs[i]);
    ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&daemon_)), 0);
    daemon_up = false;
}
END_TEST

/* A client without a grace loses its session at a restart, exactly as at a dropped
 * connection; its lock is free afterwards. Two restarts in a row count 2. */
START_TEST(test_restart_ends_sessions_without_grace)
{
    condd_conn *nog = fresh();
    ck_assert_ptr_nonnull(nog);
    uint64_t tok = 0;
    ck_assert_int_eq(condd_lock_acquire(nog, "nog", 1, 0, &tok), CONDD_OK);
    for (int i = 1; i <= 2; i++) {
        ck_assert_int_eq(kill(daemon_.pid, SIGUSR2), 0);
        double end = tu_now() + 20;
        uint64_t restarts = 0;
        while (restarts < (uint64_t)i && tu_now() < end) {
            condd_stats *st = stats_now();
            restarts = st->restarts;
            condd_stats_free(st);
        }
        ck_assert_uint_eq(restarts, (uint64_t)i);
    }
    condd_conn *c = fresh();
    uint64_t tok2 = 0;
    ck_assert_int_eq(condd_lock_acquire(c, "nog", 2, 0, &tok2), CONDD_OK);
    ck_assert_uint_gt(tok2, tok);
    condd_conn_close(c);
    condd_conn_close(nog);
}
END_TEST

/* ------------------------------------------------------------------ a state it cannot read */

/* child_setup: CONDD_RESTART_* pointing at a memory file of garbage, as if a predecessor had
 * handed it over. */
static void garbage_state(const struct tu_daemon *d, void *arg)
{
    tu_log_to_dir(d, NULL);
    int fd = memfd_create("garbage", 0);
    static const char junk[] = "this is not a condd state at all";
    if (fd < 0 || write(fd, junk, sizeof junk) != (ssize_t)sizeof junk)
        _exit(126);
    char v[32];
    snprintf(v, sizeof v, "%ld", (long)getpid());
    setenv("CONDD_RESTART_PID", v, 1);
    snprintf(v, sizeof v, "%d", fd);
    setenv("CONDD_RESTART_STATE", v, 1);
    setenv("CONDD_RESTART_COUNT", "3", 1);
}

START_TEST(test_unreadable_state_starts_empty_and_says_so)
{
    struct tu_spawn sp = {.child_setup = garbage_state};
    ck_assert(tu_daemon_start_ex(&daemon_, &sp, false, NULL));
    daemon_up = true;
    ck_assert(wait_log("THE STATE HANDED OVER CANNOT BE READ"));
    char path[256];
    log_path(path, sizeof path);
    ck_assert(file_contains(path, " error: restart:"));
    ck_assert(file_contains(path, "starting EMPTY"));
    condd_stats *st = stats_now();
    ck_assert_uint_eq(st->restored_sessions, 0);
    ck_assert_uint_eq(st->restarts, 3);
    ck_assert_uint_eq(st->locks, 0);
    ck_assert_uint_eq(st->sessions, 1);
    condd_stats_free(st);
    /* It serves. */
    condd_conn *c = fresh();
    uint64_t tok = 0;
    ck_assert_int_eq(condd_lock_acquire(c, "x", 1, 0, &tok), CONDD_OK);
    condd_conn_close(c);
}
END_TEST

/* ------------------------------------------------------------------ exec fails */

static char copied_bin[256];

START_TEST(test_exec_failure_keeps_the_old_process_serving)
{
    /* A private copy of condd, deleted once started: SIGUSR2 finds it cannot be executed and
     * refuses the restart before it ends or detaches anything. */
    snprintf(copied_bin, sizeof copied_bin, "/tmp/condd-restart-bin-%ld", (long)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", tu_condd_path(), copied_bin);
    ck_assert_int_eq(system(cmd), 0);
    struct tu_spawn sp = {.binary = copied_bin, .child_setup = tu_log_to_dir};
    bool started = tu_daemon_start_ex(&daemon_, &sp, false, NULL);
    unlink(copied_bin);
    ck_assert(started);
    daemon_up = true;
    pid_t pid = daemon_.pid;

    struct session_events ea = {0};
    condd_async_conn *a = connect_grace(&ea);
    uint64_t tok = acquire_ok(a, "held", 1);
    condd_conn *ng = fresh(); /* a session without grace: a restart would end it */
    ck_assert_ptr_nonnull(ng);
    uint64_t ngt = 0;
    ck_assert_int_eq(condd_lock_acquire(ng, "nograce", 1, 0, &ngt), CONDD_OK);
    ck_assert_int_eq(kill(pid, SIGUSR2), 0);
    ck_assert(wait_log("restart refused, still serving here"));
    /* Refused before anything was ended or detached: the session without grace still has its
     * connection and its lock, and the other was never disconnected (no RESUMING, checked
     * after a round trip on it below). */
    ck_assert_int_eq(condd_conn_ping(ng, NULL), CONDD_OK);
    ck_assert(try_lock_fails_outside("nograce"));
    ck_assert_int_eq(condd_lock_release(ng, "nograce", 1), CONDD_OK);
    condd_conn_close(ng);
    ck_assert(try_lock_fails_outside("held"));
    ck_assert_int_eq(kill(pid, 0), 0);
    ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), 0);
    condd_stats *st = stats_now();
    ck_assert_uint_eq(st->restarts, 0);
    condd_stats_free(st);
    ck_assert_int_eq(release_sync(a, "held", 1), CONDD_OK);
    ck_assert_int_eq(ea.resuming, 0);
    ck_assert_int_eq(ea.lost, 0);
    condd_conn *c = fresh();
    uint64_t tok2 = 0;
    ck_assert_int_eq(condd_lock_acquire(c, "held", 2, 0, &tok2), CONDD_OK);
    ck_assert_uint_gt(tok2, tok);
    condd_conn_close(c);
    condd_async_conn_close(a);
}
END_TEST

/* An upgrade: the binary at the start-up path is replaced (a new file renamed over it); the
 * restart runs the new file, not the old inode that /proc/self/exe still names. */
START_TEST(test_restart_runs_the_binary_now_at_the_path)
{
    snprintf(copied_bin, sizeof copied_bin, "/tmp/condd-restart-up-%ld", (long)getpid());
    char cmd[800];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", tu_condd_path(), copied_bin);
    ck_assert_int_eq(system(cmd), 0);
    struct tu_spawn sp = {.binary = copied_bin, .child_setup = tu_log_to_dir};
    bool started = tu_daemon_start_ex(&daemon_, &sp, false, NULL);
    if (!started)
        unlink(copied_bin);
    ck_assert(started);
    daemon_up = true;
    struct session_events ea = {0};
    condd_async_conn *a = connect_grace(&ea);
    acquire_ok(a, "up", 1);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s.new' && mv '%s.new' '%s'", tu_condd_path(), copied_bin,
             copied_bin, copied_bin);
    ck_assert_int_eq(system(cmd), 0);
    char exe[64], target[512];
    snprintf(exe, sizeof exe, "/proc/%ld/exe", (long)daemon_.pid);
    ssize_t n = readlink(exe, target, sizeof target - 1);
    ck_assert_int_gt(n, 0);
    target[n] = '\0';
    ck_assert_msg(strstr(target, "(deleted)") != NULL, "before: %s", target);
    ck_assert_int_eq(kill(daemon_.pid, SIGUSR2), 0);
    ck_assert(run_until_count(&ea.resumed, 1, 20));
    n = readlink(exe, target, sizeof target - 1);
    ck_assert_int_gt(n, 0);
    target[n] = '\0';
    ck_assert_str_eq(target, copied_bin);
    ck_assert(try_lock_fails_outside("up"));
    condd_async_conn_close(a);
    unlink(copied_bin);
}
END_TEST

/* An upgrade by a switched link: condd started through a symbolic link to one version; the
 * link is switched to another; the restart runs that one (the path as started, not the file
 * it resolved to then). */
START_TEST(test_restart_follows_a_switched_link)
{
    char dir[] = "/tmp/condd-restart-link-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[1600], link[128], v2[128];
    snprintf(link, sizeof link, "%s/condd", dir);
    snprintf(v2, sizeof v2, "%s/v2/condd", dir);
    snprintf(cmd, sizeof cmd,
             "mkdir '%s/v1' '%s/v2' && cp '%s' '%s/v1/condd' && cp '%s' '%s' && "
             "ln -s v1/condd '%s'",
             dir, dir, tu_condd_path(), dir, tu_condd_path(), v2, link);
    ck_assert_int_eq(system(cmd), 0);
    struct tu_spawn sp = {.binary = link, .child_setup = tu_log_to_dir};
    bool started = tu_daemon_start_ex(&daemon_, &sp, false, NULL);
    ck_assert(started);
    daemon_up = true;
    struct session_events ea = {0};
    condd_async_conn *a = connect_grace(&ea);
    acquire_ok(a, "linked", 1);
    snprintf(cmd, sizeof cmd, "ln -s v2/condd '%s.new' && mv -T '%s.new' '%s'", link, link, link);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(kill(daemon_.pid, SIGUSR2), 0);
    ck_assert(run_until_count(&ea.resumed, 1, 20));
    char exe[64], target[512];
    snprintf(exe, sizeof exe, "/proc/%ld/exe", (long)daemon_.pid);
    ssize_t n = readlink(exe, target, sizeof target - 1);
    ck_assert_int_gt(n, 0);
    target[n] = '\0';
    ck_assert_str_eq(target, v2);
    ck_assert(try_lock_fails_outside("linked"));
    condd_async_conn_close(a);
    tu_daemon_stop(&daemon_);
    daemon_up = false;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ------------------------------------------------------------------ settings on disk */

START_TEST(test_bad_config_on_disk_refuses_the_restart)
{
    char cdir[] = "/tmp/condd-restart-conf-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(cdir));
    char conf[128];
    snprintf(conf, sizeof conf, "%s/condd.conf", cdir);
    FILE *f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fputs("max-pending = 1000\n", f);
    fclose(f);
    const char *extra[] = {"--config", conf, NULL};
    struct tu_spawn sp = {.child_setup = tu_log_to_dir};
    ck_assert(tu_daemon_start_ex(&daemon_, &sp, false, extra));
    daemon_up = true;
    struct session_events ea = {0};
    condd_async_conn *a = connect_grace(&ea);
    acquire_ok(a, "kept", 1);
    /* An operator's typo: the successor would exit at start, taking the state with it. */
    f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fputs("max-pending = lots\n", f);
    fclose(f);
    ck_assert_int_eq(kill(daemon_.pid, SIGUSR2), 0);
    ck_assert(wait_log("restart refused"));
    char path[256];
    log_path(path, sizeof path);
    ck_assert(file_contains(path, "condd.conf:1"));
    /* Nothing happened to the clients: the same connection answers, the lock is held. */
    barrier(a);
    ck_assert_int_eq(ea.resuming, 0);
    ck_assert(try_lock_fails_outside("kept"));
    condd_stats *st = stats_now();
    ck_assert_uint_eq(st->restarts, 0);
    condd_stats_free(st);
    /* Fixed: the restart goes through. */
    f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fputs("max-pending = 2000\n", f);
    fclose(f);
    ck_assert_int_eq(kill(daemon_.pid, SIGUSR2), 0);
    ck_assert(run_until_count(&ea.resumed, 1, 20));
    ck_assert(try_lock_fails_outside("kept"));
    condd_async_conn_close(a);
    unlink(conf);
    rmdir(cdir);
}
END_TEST

/* ------------------------------------------------------------------ the fd store */

#ifdef HAVE_SYSTEMD
/* The service manager's end: a datagram socket at a path, and what it received. */
struct manager {
    int sock;
    char path[100];
    int fds[16];
    char names[16][300];
    int nfds;
    int removed; /* FDSTOREREMOVE=1 messages */
};

static void manager_open(struct manager *m, const char *dir)
{
    memset(m, 0, sizeof *m);
    ck_assert_uint_lt(strlen(dir), 80);
    snprintf(m->path, sizeof m->path, "%.80s/notify", dir);
    m->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(m->sock, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", m->path);
    ck_assert_int_eq(bind(m->sock, (struct sockaddr *)&sun, sizeof sun), 0);
    int one = 1;
    setsockopt(m->sock, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
}

/* Reads every datagram waiting; keeps FDSTORE=1 descriptors by name. */
static void manager_drain(struct manager *m, double wait_s)
{
    double end = tu_now() + wait_s;
    for (;;) {
        char buf[4096];
        union {
            char b[CMSG_SPACE(sizeof(int) * 8) + CMSG_SPACE(sizeof(struct ucred))];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {buf, sizeof buf - 1};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
        ssize_t n = recvmsg(m->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (tu_now() >= end)
                return;
            usleep(2000);
            continue;
        }
        buf[n] = '\0';
        int got = -1;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
                memcpy(&got, CMSG_DATA(cm), sizeof got);
        if (strstr(buf, "FDSTOREREMOVE=1") != NULL)
            m->removed++;
        const char *name = strstr(buf, "FDNAME=");
        if (strstr(buf, "FDSTORE=1") != NULL && got >= 0 && name != NULL && m->nfds < 16) {
            snprintf(m->names[m->nfds], sizeof m->names[0], "%.*s", (int)strcspn(name + 7, "\n"),
                     name + 7);
            m->fds[m->nfds++] = got;
        } else if (got >= 0) {
            close(got);
        }
    }
}

static void manager_close(struct manager *m)
{
    for (int i = 0; i < m->nfds; i++)
        close(m->fds[i]);
    close(m->sock);
    unlink(m->path);
}

static struct manager mgr;

/* child_setup for the first condd: NOTIFY_SOCKET only. */
static void with_notify(const struct tu_daemon *d, void *arg)
{
    setenv("NOTIFY_SOCKET", mgr.path, 1);
}

/* child_setup for the second: the stored descriptors at 3, 4, ... as systemd passes them. */
static void with_stored_fds(const struct tu_daemon *d, void *arg)
{
    setenv("NOTIFY_SOCKET", mgr.path, 1);
    /* Move them out of the way first, then into place: the targets may be taken. */
    int tmp[16];
    for (int i = 0; i < mgr.nfds; i++)
        tmp[i] = fcntl(mgr.fds[i], F_DUPFD, 100);
    char names[4096] = "";
    for (int i = 0; i < mgr.nfds; i++) {
        dup2(tmp[i], 3 + i);
        close(tmp[i]);
        if (i > 0)
            strcat(names, ":");
        strcat(names, mgr.names[i]);
    }
    char v[32];
    snprintf(v, sizeof v, "%d", mgr.nfds);
    setenv("LISTEN_FDS", v, 1);
    setenv("LISTEN_FDNAMES", names, 1);
    snprintf(v, sizeof v, "%ld", (long)getpid());
    setenv("LISTEN_PID", v, 1);
}

START_TEST(test_fdstore_keeps_the_state_across_stop_and_start)
{
    char dir[] = "/tmp/condd-fdstore-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    manager_open(&mgr, dir);
    const char *extra[] = {"--keep-state-on-stop", "yes", NULL};
    struct tu_spawn sp = {.child_setup = with_notify};
    ck_assert(tu_daemon_start_ex(&daemon_, &sp, false, extra));
    daemon_up = true;
    int port = daemon_.port;
    manager_drain(&mgr, 0);
    ck_assert_int_eq(mgr.nfds, 0);

    struct session_events ea = {0}, eb = {0};
    condd_async_conn *a = connect_grace(&ea);
    condd_async_conn *b = connect_grace(&eb);
    uint64_t tok = acquire_ok(a, "kept", 1);
    struct rec queued = {0};
    ck_assert_int_eq(condd_async_lock_acquire(b, "kept", 2, CONDD_FOREVER, on_token, &queued, NULL),
                     CONDD_OK);
    barrier(b);

    /* systemctl stop/restart: SIGTERM; condd hands over and exits 0. */
    ck_assert_int_eq(kill(daemon_.pid, SIGTERM), 0);
    int st = 0;
    ck_assert_int_eq(waitpid(daemon_.pid, &st, 0), daemon_.pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    daemon_.pid = 0;
    manager_drain(&mgr, 0.2);
    ck_assert_int_eq(mgr.nfds, 2);
    ck_assert_str_eq(mgr.names[1], "condd-state");
    ck_assert(strncmp(mgr.names[0], "condd-listen-", 13) == 0);

    /* The next start gets them back, on the same port (the listener was kept). */
    char old_dir[sizeof daemon_.dir];
    memcpy(old_dir, daemon_.dir, sizeof old_dir);
    sp.child_setup = with_stored_fds;
    ck_assert(tu_daemon_start_ex(&daemon_, &sp, false, extra));
    ck_assert_int_eq(daemon_.port, port);
    ck_assert(run_until_count(&ea.resumed, 1, 20));
    ck_assert(run_until_count(&eb.resumed, 1, 20));
    ck_assert(try_lock_fails_outside("kept"));
    condd_stats *s = stats_now();
    ck_assert_uint_eq(s->restarts, 1);
    ck_assert_uint_eq(s->restored_sessions, 2);
    condd_stats_free(s);
    ck_assert_int_eq(release_sync(a, "kept", 1), CONDD_OK);
    ck_assert(run_until(&queued.done, 20));
    ck_assert_int_eq(queued.rc, CONDD_OK);
    ck_assert_uint_gt(queued.u64, tok);
    /* It took the state out of the store once loaded. */
    manager_drain(&mgr, 0.1);
    ck_assert_int_ge(mgr.removed, 2);
    condd_async_conn_close(a);
    condd_async_conn_close(b);
    /* Stopped while the manager still listens: it stores again and exits 0. */
    int stop = tu_daemon_stop(&daemon_);
    daemon_up = false;
    ck_assert(WIFEXITED(stop) && WEXITSTATUS(stop) == 0);
    manager_drain(&mgr, 0.1);
    manager_close(&mgr);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, old_dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST
#endif

static Suite *restart_suite(void)
{
    Suite *s = suite_create("restart");
    TCase *tc = tcase_create("reexec");
    tcase_add_checked_fixture(tc, setup_logged, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_restart_keeps_every_primitive_and_clients_resume);
    tcase_add_test(tc, test_restart_ends_sessions_without_grace);
    suite_add_tcase(s, tc);
    TCase *own = tcase_create("own_start");
    tcase_add_checked_fixture(own, setup_base, teardown);
    tcase_set_timeout(own, 120);
    tcase_add_test(own, test_unreadable_state_starts_empty_and_says_so);
    tcase_add_test(own, test_exec_failure_keeps_the_old_process_serving);
    tcase_add_test(own, test_bad_config_on_disk_refuses_the_restart);
    tcase_add_test(own, test_restart_runs_the_binary_now_at_the_path);
    tcase_add_test(own, test_restart_follows_a_switched_link);
#ifdef HAVE_SYSTEMD
    tcase_add_test(own, test_fdstore_keeps_the_state_across_stop_and_start);
#endif
    suite_add_tcase(s, own);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(restart_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
