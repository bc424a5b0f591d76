/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condd as a service: socket activation under systemd-socket-activate, the sd_notify messages
 * (READY=1 only once the listeners accept, STATUS=, RELOADING=1, STOPPING=1, WATCHDOG=1), the
 * config file (good, bad, overridden by options, reloaded on SIGHUP), the graceful SIGTERM with
 * pending requests, and the Prometheus endpoint. Each test runs a real daemon through a small
 * client written on the frame codec alone, so these tests depend on nothing but the daemon.
 * Daemons get PR_SET_PDEATHSIG so that a failing test (whose process exits at once) leaves
 * none behind.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

#include "frame.h"
#include "service_util.h"
#include "testutil.h"

/* ------------------------------------------------------------------ socket activation */

START_TEST(test_socket_activation_serves_inherited_listeners)
{
#ifndef HAVE_SYSTEMD
    fprintf(stderr, "built without systemd: socket activation not tested\n");
    return;
#else
    const char *sa = "/usr/bin/systemd-socket-activate";
    if (access(sa, X_OK) != 0) {
        sa = "/bin/systemd-socket-activate";
        if (access(sa, X_OK) != 0) {
            fprintf(stderr, "systemd-socket-activate not found: socket activation not tested\n");
            return;
        }
    }
    struct proc p;
    proc_init(&p);
    struct cl *tcp = NULL;
    int port = 0;
    /* The port is free when picked; retry in the rare case something took it since. */
    for (int attempt = 0; attempt < 5 && tcp == NULL; attempt++) {
        port = free_port();
        char tcp_arg[32];
        snprintf(tcp_arg, sizeof tcp_arg, "127.0.0.1:%d", port);
        /* --listen names an address that cannot be bound: it must be ignored. */
        const char *argv[] = {sa,
                              "-l",
                              tcp_arg,
                              "-l",
                              p.sock,
                              tu_condd_path(),
                              "--port-file",
                              p.portfile,
                              "--listen",
                              "192.0.2.1:9",
                              "--log-level",
                              "debug",
                              NULL};
        proc_spawn(&p, argv, NULL);
        /* systemd-socket-activate starts condd on the first connection. */
        double end = tu_now() + START_TIMEOUT;
        int fd = -1;
        while (fd < 0 && tu_now() < end && proc_wait_exit(&p, 0) == -1) {
            fd = tu_connect(port);
            if (fd < 0)
                usleep(2000);
        }
        if (fd >= 0) {
            tcp = cl_new(fd);
        } else if (p.pid > 0) {
            kill(p.pid, SIGKILL);
            waitpid(p.pid, NULL, 0);
            p.pid = 0;
        }
    }
    ck_assert_msg(tcp != NULL, "could not reach systemd-socket-activate");
    ck_assert_double_eq(cl_hello(tcp), 10.0);
    ck_assert_int_eq(cl_ping(tcp), CONDD__V1__STATUS__STATUS_OK);

    /* The same daemon answers on the inherited Unix socket: its session id is the second. */
    struct cl *ux = cl_new(unix_connect(p.sock));
    Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
    h.protocol_version = 1;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
    req.hello = &h;
    Condd__V1__Response *r = cl_call(ux, &req);
    ck_assert_int_eq(r->status, CONDD__V1__STATUS__STATUS_OK);
    ck_assert_uint_eq(r->hello->session_id, 2);
    cl_resp_free(r);

    /* The port file names the inherited TCP listener. */
    ck_assert(proc_read_port(&p));
    ck_assert_int_eq(p.port, port);
    proc_wait_log(&p, "socket activation: 2 listeners from systemd");

    cl_free(tcp);
    cl_free(ux);
    proc_stop_clean(&p);
    proc_cleanup(&p);
#endif
}
END_TEST

/* ------------------------------------------------------------------ readiness */

START_TEST(test_ready_only_after_listeners_accept)
{
#ifndef HAVE_SYSTEMD
    return;
#else
    struct proc p;
    proc_init(&p);
    struct notify_sock n;
    notify_open(&n, &p);
    const char *args[] = {"--listen", "127.0.0.1:0", "--port-file", p.portfile,
                          "--unix",   p.sock,        NULL};
    const char *env[] = {n.env, NULL};
    proc_condd(&p, args, env);

    char msg[1024];
    notify_expect(&n, "READY=1", msg, sizeof msg);
    /* At READY=1 every listener already accepts: nothing is retried here. */
    ck_assert_msg(proc_read_port(&p), "READY=1 came before the port file");
    int fd = tu_connect(p.port);
    ck_assert_msg(fd >= 0, "READY=1 came before the TCP listener accepted");
    close(fd);
    fd = unix_connect(p.sock);
    ck_assert_msg(fd >= 0, "READY=1 came before the Unix listener accepted");
    close(fd);
    ck_assert_msg(line_is(msg, "READY=1"), "%s", msg);
    ck_assert_msg(strstr(msg, "STATUS=0 connections, 0 locks held, 0 waiters") != NULL, "%s", msg);

    proc_signal(&p, SIGTERM);
    notify_expect(&n, "STOPPING=1", msg, sizeof msg);
    int st = proc_wait_exit(&p, START_TIMEOUT);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(n.fd);
    proc_cleanup(&p);
#endif
}
END_TEST

START_TEST(test_status_counts_connections_locks_and_waiters)
{
#ifndef HAVE_SYSTEMD
    return;
#else
    struct proc p;
    proc_init(&p);
    struct notify_sock n;
    notify_open(&n, &p);
    const char *args[] = {"--listen", "127.0.0.1:0", "--port-file", p.portfile, NULL};
    const char *env[] = {n.env, NULL};
    proc_condd(&p, args, env);
    char msg[1024];
    notify_expect(&n, "READY=1", msg, sizeof msg);
    ck_assert(proc_read_port(&p));

    struct cl *a = cl_tcp(p.port);
    struct cl *b = cl_tcp(p.port);
    cl_hello(a);
    cl_hello(b);
    ck_assert_int_eq(cl_acquire(a, "L", 1, NULL), CONDD__V1__STATUS__STATUS_OK);
    cl_acquire_send(b, "L", 1, NULL); /* queued behind a */
    /* A waiter of another kind counts too: every pending request of every primitive. */
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__EventWait ew = CONDD__V1__EVENT_WAIT__INIT;
    ew.name.data = (uint8_t *)"E";
    ew.name.len = 1;
    req.body_case = CONDD__V1__REQUEST__BODY_EVENT_WAIT;
    req.event_wait = &ew;
    cl_send(b, &req);
    ck_assert_int_eq(cl_ping(b), CONDD__V1__STATUS__STATUS_OK);

    /* A reload re-sends READY=1 with a fresh STATUS= at once (the timer would take 5 s). */
    proc_signal(&p, SIGHUP);
    notify_expect(&n, "RELOADING=1", msg, sizeof msg);
    ck_assert_msg(strstr(msg, "MONOTONIC_USEC=") != NULL, "%s", msg);
    notify_expect(&n, "READY=1", msg, sizeof msg);
    ck_assert_msg(strstr(msg, "STATUS=2 connections, 1 lock held, 2 waiters") != NULL, "%s", msg);

    cl_free(a);
    cl_free(b);
    proc_stop_clean(&p);
    close(n.fd);
    proc_cleanup(&p);
#endif
}
END_TEST

START_TEST(test_watchdog_pinged_when_asked)
{
#ifndef HAVE_SYSTEMD
    return;
#else
    struct proc p;
    proc_init(&p);
    struct notify_sock n;
    notify_open(&n, &p);
    const char *args[] = {"--listen", "127.0.0.1:0", "--port-file", p.portfile, NULL};
    /* 200 ms: pings every 100 ms. WATCHDOG_PID names the daemon itself. */
    const char *env[] = {n.env, "WATCHDOG_USEC=200000", "WATCHDOG_PID=$PID", NULL};
    proc_condd(&p, args, env);
    char msg[1024];
    notify_expect(&n, "READY=1", msg, sizeof msg);
    for (int i = 0; i < 3; i++)
        notify_expect(&n, "WATCHDOG=1", msg, sizeof msg);
    proc_stop_clean(&p);
    close(n.fd);
    proc_cleanup(&p);
#endif
}
END_TEST

START_TEST(test_no_watchdog_for_another_pid)
{
#ifndef HAVE_SYSTEMD
    return;
#else
    struct proc p;
    proc_init(&p);
    struct notify_sock n;
    notify_open(&n, &p);
    const char *args[] = {"--listen", "127.0.0.1:0", "--port-file", p.portfile, NULL};
    const char *env[] = {n.env, "WATCHDOG_USEC=200000", "WATCHDOG_PID=1", NULL};
    proc_condd(&p, args, env);
    char msg[1024];
    notify_expect(&n, "READY=1", msg, sizeof msg);
    ck_assert_msg(strstr(msg, "WATCHDOG=1") == NULL, "%s", msg);
    /* Silence for two would-be intervals: absence can only be observed over a window. */
    double end = tu_now() + 0.4;
    while (tu_now() < end) {
        if (notify_recv(&n, msg, sizeof msg, end - tu_now()))
            ck_assert_msg(strstr(msg, "WATCHDOG=1") == NULL, "pinged for another pid: %s", msg);
    }
    proc_stop_clean(&p);
    close(n.fd);
    proc_cleanup(&p);
#endif
}
END_TEST

/* Built without libsystemd, condd ignores NOTIFY_SOCKET and still serves. (Built with it,
 * the tests above cover the notifications.) The daemon has exited before the socket is read,
 * so "nothing arrived" needs no waiting window. */
START_TEST(test_notify_socket_ignored_without_systemd)
{
#ifdef HAVE_SYSTEMD
    return;
#else
    struct proc p;
    proc_init(&p);
    struct notify_sock n;
    notify_open(&n, &p);
    const char *args[] = {"--listen", "127.0.0.1:0", "--port-file", p.portfile,
                          "--unix",   p.sock,        NULL};
    const char *env[] = {n.env, NULL};
    proc_condd(&p, args, env);
    ck_assert(proc_wait_port(&p, NULL));
    int fd = unix_connect(p.sock);
    ck_assert_int_ge(fd, 0);
    struct cl *c = cl_new(fd);
    cl_hello(c);
    cl_free(c);
    proc_stop_clean(&p);
    char msg[256];
    ck_assert_msg(!notify_recv(&n, msg, sizeof msg, 0), "unexpected notification: %s", msg);
    close(n.fd);
    proc_cleanup(&p);
#endif
}
END_TEST

/* ------------------------------------------------------------------ config file */

START_TEST(test_config_file_sets_settings)
{
    struct proc p;
    proc_init(&p);
    write_file(p.conf,
               "# condd settings for a test\n"
               "\n"
               "listen = 127.0.0.1:0   # ephemeral\n"
               "port-file = %s\n"
               "session-timeout = 7\n"
               "log-level = notice\n",
               p.portfile);
    const char *args[] = {"--config", p.conf, NULL};
    proc_condd(&p, args, NULL);
    ck_assert(proc_wait_port(&p, NULL));
    struct cl *c = cl_tcp(p.port);
    ck_assert_double_eq(cl_hello(c), 7.0);
    cl_free(c);
    proc_stop_clean(&p);
    /* notice level: the info line about the listener is not written. */
    ck_assert(!proc_log_has(&p, "listening on"));
    ck_assert(proc_log_has(&p, "ready"));
    proc_cleanup(&p);
}
END_TEST

START_TEST(test_command_line_overrides_config_file)
{
    struct proc p;
    proc_init(&p);
    /* 192.0.2.1 (TEST-NET-1) cannot be bound here: the daemon only starts if --listen
     * replaced the file's address instead of adding to it. */
    write_file(p.conf, "listen = 192.0.2.1:7380\nsession-timeout = 7\nmax-pending = 5\n");
    const char *args[] = {"--config",          p.conf,        "--listen",
                          "127.0.0.1:0",       "--port-file", p.portfile,
                          "--session-timeout", "5",           NULL};
    proc_condd(&p, args, NULL);
    int st = 0;
    ck_assert_msg(proc_wait_port(&p, &st), "daemon exited with %#x", st);
    struct cl *c = cl_tcp(p.port);
    ck_assert_double_eq(cl_hello(c), 5.0);
    cl_free(c);
    proc_stop_clean(&p);
    proc_cleanup(&p);
}
END_TEST

/* Every key in the installed example parses: uncommented, the example starts a daemon (with
 * the addresses and paths overridden on the command line, as they name system locations). */
START_TEST(test_example_config_parses_with_every_key_set)
{
    const char *src = getenv("top_srcdir");
    char path[512];
    snprintf(path, sizeof path, "%s/systemd/condd.conf.example", src != NULL ? src : "..");
    FILE *in = fopen(path, "r");
    ck_assert_msg(in != NULL, "%s: %s", path, strerror(errno));
    struct proc p;
    proc_init(&p);
    FILE *out = fopen(p.conf, "w");
    ck_assert_ptr_nonnull(out);
    char line[1024];
    int keys = 0;
    while (fgets(line, sizeof line, in) != NULL) {
        /* "#key = value" lines are settings; "# text" lines are prose. */
        if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' && strstr(line, " = ") != NULL) {
            fputs(line + 1, out);
            keys++;
        } else {
            fputs(line, out);
        }
    }
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
    ck_assert_int_ge(keys, 10);
    /* The example's group is the operator's to create: use ours. Its auth file too: one that
     * lets this test's anonymous client do everything. */
    char gid[32], auth[600];
    snprintf(gid, sizeof gid, "%u", (unsigned)getegid());
    snprintf(auth, sizeof auth, "%s.auth", p.conf);
    out = fopen(auth, "w");
    ck_assert_ptr_nonnull(out);
    fputs("anonymous allow\nallow anonymous admin *\n", out);
    ck_assert_int_eq(fclose(out), 0);
    /* And its TLS files: the test's own (tests/tls-certs.sh). */
    char cmd[1024], crt[200], key[200], ca[200], tlsport[200];
    snprintf(cmd, sizeof cmd, "sh '%s/tests/tls-certs.sh' '%s/certs'", src != NULL ? src : "..",
             p.dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(crt, sizeof crt, "%s/certs/server.pem", p.dir);
    snprintf(key, sizeof key, "%s/certs/server.key", p.dir);
    snprintf(ca, sizeof ca, "%s/certs/ca.pem", p.dir);
    snprintf(tlsport, sizeof tlsport, "%s/tls-port", p.dir);
    const char *args[] = {"--config",
                          p.conf,
                          "--listen",
                          "127.0.0.1:0",
                          "--port-file",
                          p.portfile,
                          "--unix",
                          p.sock,
                          "--metrics",
                          "127.0.0.1:0",
                          "--unix-group",
                          gid,
                          "--auth-file",
                          auth,
                          "--listen-tls",
                          "127.0.0.1:0",
                          "--tls-cert",
                          crt,
                          "--tls-key",
                          key,
                          "--tls-client-ca",
                          ca,
                          "--tls-port-file",
                          tlsport,
                          NULL};
    proc_condd(&p, args, NULL);
    int st = 0;
    if (!proc_wait_port(&p, &st)) {
        char *log = proc_log(&p);
        ck_abort_msg("exit status %#x:\n%s", st, log);
    }
    struct cl *c = cl_tcp(p.port);
    ck_assert_double_eq(cl_hello(c), 10.0);
    cl_free(c);
    proc_stop_clean(&p);
    proc_cleanup(&p);
}
END_TEST

/* Runs condd with a config file holding text; expects exit 2 and "condd: FILE" followed by
 * line_and_reason in its output. */
static void expect_bad_config(const char *text, const char *line_and_reason)
{
    struct proc p;
    proc_init(&p);
    write_file(p.conf, "%s", text);
    const char *args[] = {"--config", p.conf, "--listen", "127.0.0.1:0", NULL};
    proc_condd(&p, args, NULL);
    int st = proc_wait_exit(&p, START_TIMEOUT);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "exit status %#x", st);
    char needle[512];
    snprintf(needle, sizeof needle, "condd: %s%s", p.conf, line_and_reason);
    char *log = proc_log(&p);
    ck_assert_msg(strstr(log, needle) != NULL, "expected '%s' in:\n%s", needle, log);
    free(log);
    proc_cleanup(&p);
}

START_TEST(test_bad_config_file_exits_2_naming_the_line)
{
    expect_bad_config("# ok\n\nmax-connections = lots\n", ":3: 'lots' is not a whole number");
    expect_bad_config("log-level = info\nbogus = 1\n", ":2: unknown key 'bogus'");
    expect_bad_config("log-level debug\n", ":1: expected 'key = value'");
    expect_bad_config("session-timeout =\n", ":1: missing value for 'session-timeout'");
    expect_bad_config("\n\n\n\nlisten = nowhere\n", ":5: 'nowhere' is not HOST:PORT");
    expect_bad_config("config = /etc/other.conf\n", ":1: 'config' can only be given");
}
END_TEST

START_TEST(test_missing_config_file_exits_2)
{
    struct proc p;
    proc_init(&p);
    const char *args[] = {"--config", p.conf, "--listen", "127.0.0.1:0", NULL};
    proc_condd(&p, args, NULL);
    int st = proc_wait_exit(&p, START_TIMEOUT);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "exit status %#x", st);
    char needle[256];
    snprintf(needle, sizeof needle, "%s: No such file or directory", p.conf);
    ck_assert(proc_log_has(&p, needle));
    proc_cleanup(&p);
}
END_TEST

START_TEST(test_sighup_reloads_log_level_and_session_timeout)
{
    struct proc p;
    proc_init(&p);
    write_file(p.conf, "log-level = info\nsession-timeout = 7\n");
    const char *args[] = {"--config",    p.conf,     "--listen", "127.0.0.1:0",
                          "--port-file", p.portfile, NULL};
    proc_condd(&p, args, NULL);
    ck_assert(proc_wait_port(&p, NULL));
    struct cl *a = cl_tcp(p.port);
    ck_assert_double_eq(cl_hello(a), 7.0);
    ck_assert(!proc_log_has(&p, "session 1 opened"));

    write_file(p.conf, "log-level = debug\nsession-timeout = 8\nunix = %s\n", p.sock);
    proc_signal(&p, SIGHUP);
    proc_wait_log(&p, "reload: log-level changed from info to debug");
    proc_wait_log(&p, "reload: session-timeout changed from 7 to 8");
    proc_wait_log(&p, "reload: unix changed from (none) to");
    proc_wait_log(&p, "this takes a restart");

    struct cl *b = cl_tcp(p.port);
    ck_assert_double_eq(cl_hello(b), 8.0);
    proc_wait_log(&p, "session 2 opened");     /* a debug line: the new level is in effect */
    ck_assert_int_ne(access(p.sock, F_OK), 0); /* unix needs a restart: not opened */
    ck_assert_int_eq(cl_ping(a), CONDD__V1__STATUS__STATUS_OK);
    cl_free(a);
    cl_free(b);
    proc_stop_clean(&p);
    proc_cleanup(&p);
}
END_TEST

START_TEST(test_sighup_with_broken_file_keeps_running_with_old_settings)
{
    struct proc p;
    proc_init(&p);
    write_file(p.conf, "session-timeout = 7\n");
    const char *args[] = {"--config",    p.conf,     "--listen", "127.0.0.1:0",
                          "--port-file", p.portfile, NULL};
    proc_condd(&p, args, NULL);
    ck_assert(proc_wait_port(&p, NULL));

    write_file(p.conf, "session-timeout = 9\nmax-pending = -3\n");
    proc_signal(&p, SIGHUP);
    char needle[256];
    snprintf(needle, sizeof needle, "reload failed: %s:2: '-3' is not a whole number", p.conf);
    proc_wait_log(&p, needle);
    proc_wait_log(&p, "keeping the current settings");

    struct cl *c = cl_tcp(p.port);
    ck_assert_double_eq(cl_hello(c), 7.0); /* line 1 was not applied either */
    ck_assert_int_eq(cl_ping(c), CONDD__V1__STATUS__STATUS_OK);

    /* A missing file is reported the same way. */
    unlink(p.conf);
    proc_signal(&p, SIGHUP);
    snprintf(needle, sizeof needle, "reload failed: %s: No such file", p.conf);
    proc_wait_log(&p, needle);
    ck_assert_int_eq(cl_ping(c), CONDD__V1__STATUS__STATUS_OK);
    cl_free(c);
    proc_stop_clean(&p);
    proc_cleanup(&p);
}
END_TEST

/* Does the log show w->needle at least twice? */
static bool log_has_twice(void *arg)
{
    const struct log_wait *w = arg;
    char *log = proc_log(w->p);
    const char *first = strstr(log, w->needle);
    bool twice = first != NULL && strstr(first + 1, w->needle) != NULL;
    free(log);
    return twice;
}

/* All or nothing: a reload whose file changes several reloadable keys and has one bad value
 * applies none of them, says why, and the daemon keeps answering on its old settings. */
START_TEST(test_sighup_with_one_bad_value_keeps_every_old_value)
{
    struct proc p;
    proc_init(&p);
    write_file(p.conf, "session-timeout = 7\nmax-frame-bytes = 2048\nmax-connections = 100\n"
                       "log-level = info\n");
    const char *args[] = {"--config",    p.conf,     "--listen", "127.0.0.1:0",
                          "--port-file", p.portfile, NULL};
    proc_condd(&p, args, NULL);
    ck_assert(proc_wait_port(&p, NULL));

    write_file(p.conf, "session-timeout = 9\nmax-frame-bytes = 4096\nmax-connections = 1\n"
                       "log-level = debug\nmax-session-timeout = 100000\n");
    proc_signal(&p, SIGHUP);
    char needle[256];
    snprintf(needle, sizeof needle,
             "reload failed: %s:5: '100000' is out of range [1, 86400] seconds; keeping the "
             "current settings",
             p.conf);
    proc_wait_log(&p, needle);

    /* Two connections (max-connections is still 100), each granted the old timeout and frame
     * limit; no debug line (log-level is still info), and no key is reported as changed. */
    struct cl *a = cl_tcp(p.port);
    struct cl *b = cl_tcp(p.port);
    uint32_t frame = 0;
    ck_assert_double_eq(cl_hello_limits(a, &frame), 7.0);
    ck_assert_uint_eq(frame, 2048);
    ck_assert_double_eq(cl_hello(b), 7.0);
    ck_assert_int_eq(cl_ping(a), CONDD__V1__STATUS__STATUS_OK);
    ck_assert_int_eq(cl_ping(b), CONDD__V1__STATUS__STATUS_OK);
    ck_assert(!proc_log_has(&p, "session 1 opened"));
    ck_assert(!proc_log_has(&p, "reload: "));
    cl_free(a);
    cl_free(b);
    proc_stop_clean(&p);
    proc_cleanup(&p);
}
END_TEST

/* Keys that are set up once at start (listen, metrics) are logged as needing a restart and keep
 * their old value; a reloadable key in the same file still takes effect. */
START_TEST(test_sighup_restart_keys_keep_old_value_reloadable_keys_apply)
{
    struct proc p;
    proc_init(&p);
    write_file(p.conf, "listen = 127.0.0.1:0\nmax-frame-bytes = 2048\n");
    const char *args[] = {"--config", p.conf, "--port-file", p.portfile, NULL};
    proc_condd(&p, args, NULL);
    ck_assert(proc_wait_port(&p, NULL));
    struct cl *a = cl_tcp(p.port);
    ck_assert_double_eq(cl_hello(a), 10.0);

    int other = free_port(), metrics = free_port();
    write_file(p.conf,
               "listen = 127.0.0.1:%d\nmetrics = 127.0.0.1:%d\nmax-frame-bytes = 4096\n"
               "max-connections = 2\n",
               other, metrics);
    proc_signal(&p, SIGHUP);
    char needle[256];
    snprintf(needle, sizeof needle,
             "reload: listen changed from 127.0.0.1:0 to 127.0.0.1:%d; this takes a restart of "
             "condd, keeping 127.0.0.1:0 until then",
             other);
    proc_wait_log(&p, needle);
    snprintf(needle, sizeof needle,
             "reload: metrics changed from (none) to 127.0.0.1:%d; this takes a restart", metrics);
    proc_wait_log(&p, needle);
    proc_wait_log(&p, "reload: max-frame-bytes changed from 2048 to 4096");
    proc_wait_log(&p, "reload: max-connections changed from 10000 to 2");

    /* Nothing listens on the new addresses; the old listener still serves. */
    int fd = tu_connect(other);
    ck_assert_int_lt(fd, 0);
    fd = tu_connect(metrics);
    ck_assert_int_lt(fd, 0);

    /* The reloadable keys are in effect: the new frame limit, and a third connection over
     * max-connections = 2 is refused with a reply. */
    struct cl *b = cl_tcp(p.port);
    uint32_t frame = 0;
    ck_assert_double_eq(cl_hello_limits(b, &frame), 10.0);
    ck_assert_uint_eq(frame, 4096);
    struct cl *c = cl_tcp(p.port);
    Condd__V1__Response *r = cl_recv(c, REPLY_TIMEOUT);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, CONDD__V1__STATUS__STATUS_LIMIT_EXCEEDED);
    cl_resp_free(r);
    cl_free(c);
    ck_assert_int_eq(cl_ping(a), CONDD__V1__STATUS__STATUS_OK);

    /* The same file again: the restart keys are still reported (still not applied), the
     * reloadable ones are now current. */
    proc_signal(&p, SIGHUP);
    struct log_wait w = {&p, "keeping 127.0.0.1:0 until then"};
    ck_assert(tu_wait_until(log_has_twice, &w, START_TIMEOUT));
    ck_assert_int_eq(cl_ping(b), CONDD__V1__STATUS__STATUS_OK);
    char *log = proc_log(&p);
    const char *fb = strstr(log, "max-frame-bytes changed");
    ck_assert_ptr_nonnull(fb);
    ck_assert_ptr_null(strstr(fb + 1, "max-frame-bytes changed"));
    free(log);
    cl_free(a);
    cl_free(b);
    proc_stop_clean(&p);
    proc_cleanup(&p);
}
END_TEST

/* ------------------------------------------------------------------ shutdown */

START_TEST(test_sigterm_answers_pending_requests_shutting_down)
{
    struct proc p;
    proc_init(&p);
    const char *args[] = {"--listen", "127.0.0.1:0", "--port-file", p.portfile, NULL};
    proc_condd(&p, args, NULL);
    ck_assert(proc_wait_port(&p, NULL));
    struct cl *a = cl_tcp(p.port), *b = cl_tcp(p.port), *d = cl_tcp(p.port);
    cl_hello(a);
    cl_hello(b);
    cl_hello(d);
    /* a waits on C (which hands L on), b then holds L, d queues for L. */
    ck_assert_int_eq(cl_acquire(a, "L", 1, NULL), CONDD__V1__STATUS__STATUS_OK);
    uint64_t wait_id = cl_wait_send(a, "C", "L", 1);
    ck_assert_int_eq(cl_ping(a), CONDD__V1__STATUS__STATUS_OK); /* the wait is registered */
    ck_assert_int_eq(cl_acquire(b, "L", 1, NULL), CONDD__V1__STATUS__STATUS_OK);
    uint64_t acq_id = cl_acquire_send(d, "L", 1, NULL);
    ck_assert_int_eq(cl_ping(d), CONDD__V1__STATUS__STATUS_OK); /* the acquire is queued */

    proc_signal(&p, SIGTERM);
    Condd__V1__Response *r = cl_recv(a, REPLY_TIMEOUT);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, wait_id);
    ck_assert_int_eq(r->status, CONDD__V1__STATUS__STATUS_SHUTTING_DOWN);
    cl_resp_free(r);
    r = cl_recv(d, REPLY_TIMEOUT);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, acq_id);
    ck_assert_int_eq(r->status, CONDD__V1__STATUS__STATUS_SHUTTING_DOWN);
    cl_resp_free(r);
    /* Then every connection is closed and the daemon exits 0. */
    ck_assert_ptr_null(cl_recv(a, REPLY_TIMEOUT));
    ck_assert_ptr_null(cl_recv(b, REPLY_TIMEOUT));
    ck_assert_ptr_null(cl_recv(d, REPLY_TIMEOUT));
    int st = proc_wait_exit(&p, START_TIMEOUT);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %#x", st);
    cl_free(a);
    cl_free(b);
    cl_free(d);
    proc_cleanup(&p);
}
END_TEST

/* ------------------------------------------------------------------ metrics */

/* GET path from 127.0.0.1:port; returns the whole response (caller frees). */
static char *http_get(int port, const char *path)
{
    int fd = tu_connect(port);
    ck_assert_int_ge(fd, 0);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    ck_assert_int_eq(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ck_assert_int_eq(poll(&pfd, 1, (int)(REPLY_TIMEOUT * 1000)), 1);
        if (len + 4096 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        ck_assert_int_ge(r, 0);
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return buf;
}

/* The value of the sample whose name and labels are exactly series ("-1" if absent). */
static double metric(const char *body, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = body; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return -1;
}

struct scrape {
    char *body;
};

static void scrape(struct scrape *s, int port)
{
    free(s->body);
    s->body = http_get(port, "/metrics");
    ck_assert_msg(strncmp(s->body, "HTTP/1.0 200", 12) == 0 ||
                      strncmp(s->body, "HTTP/1.1 200", 12) == 0,
                  "%.80s", s->body);
    ck_assert(strstr(s->body, "Content-Type: text/plain; version=0.0.4") != NULL);
}

#define DELTA(before, after, series) (metric((after).body, series) - metric((before).body, series))

START_TEST(test_metrics_counters_move_with_operations)
{
    struct proc p;
    proc_init(&p);
    int mport = 0;
    for (int attempt = 0; attempt < 5 && mport == 0; attempt++) {
        int candidate = free_port();
        char addr[32];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", candidate);
        const char *args[] = {"--listen",  "127.0.0.1:0", "--port-file", p.portfile,
                              "--metrics", addr,          NULL};
        proc_condd(&p, args, NULL);
        if (proc_wait_port(&p, NULL)) {
            mport = candidate;
        } else if (p.pid > 0) {
            kill(p.pid, SIGKILL);
            waitpid(p.pid, NULL, 0);
            p.pid = 0;
        }
    }
    ck_assert_msg(mport != 0, "could not start with a metrics port");

    struct scrape s0 = {0}, s1 = {0}, s2 = {0};
    scrape(&s0, mport);
    ck_assert(strstr(s0.body, "# TYPE condd_requests_total counter\n") != NULL);
    ck_assert(strstr(s0.body, "# TYPE condd_grant_latency_seconds histogram\n") != NULL);
    ck_assert(strstr(s0.body, "# HELP condd_connections ") != NULL);
    ck_assert_double_eq(metric(s0.body, "condd_connections"), 0);

    struct cl *a = cl_tcp(p.port), *b = cl_tcp(p.port);
    cl_hello(a);
    cl_hello(b);
    double zero = 0;
    ck_assert_int_eq(cl_acquire(a, "L", 1, NULL), CONDD__V1__STATUS__STATUS_OK);
    ck_assert_int_eq(cl_acquire(b, "L", 1, &zero), CONDD__V1__STATUS__STATUS_TIMEOUT);
    ck_assert_int_eq(cl_release(b, "L", 1), CONDD__V1__STATUS__STATUS_NOT_OWNER);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(cl_ping(b), CONDD__V1__STATUS__STATUS_OK);
    cl_acquire_send(b, "L", 2, NULL); /* queued */
    ck_assert_int_eq(cl_ping(b), CONDD__V1__STATUS__STATUS_OK);

    scrape(&s1, mport);
    ck_assert_double_eq(metric(s1.body, "condd_connections"), 2);
    ck_assert_double_eq(metric(s1.body, "condd_sessions"), 2);
    ck_assert_double_eq(metric(s1.body, "condd_detached_sessions"), 0);
    ck_assert_double_eq(metric(s1.body, "condd_resumes_total"), 0);
    ck_assert_double_eq(metric(s1.body, "condd_locks"), 1);
    ck_assert_double_eq(metric(s1.body, "condd_locks_held"), 1);
    ck_assert_double_eq(metric(s1.body, "condd_locks_shared"), 0); /* held exclusively */
    ck_assert_double_eq(metric(s1.body, "condd_shared_holders"), 0);
    ck_assert_double_eq(metric(s1.body, "condd_waiters"), 1);
    ck_assert_double_eq(metric(s1.body, "condd_lock_waiters"), 1);
    ck_assert_double_eq(DELTA(s0, s1, "condd_connections_total"), 2);
    ck_assert_double_eq(DELTA(s0, s1, "condd_requests_total{op=\"hello\",status=\"ok\"}"), 2);
    ck_assert_double_eq(DELTA(s0, s1, "condd_requests_total{op=\"acquire\",status=\"ok\"}"), 1);
    ck_assert_double_eq(metric(s1.body, "condd_requests_total{op=\"acquire\",status=\"timeout\"}"),
                        1);
    ck_assert_double_eq(
        metric(s1.body, "condd_requests_total{op=\"release\",status=\"not_owner\"}"), 1);
    ck_assert_double_eq(DELTA(s0, s1, "condd_requests_total{op=\"ping\",status=\"ok\"}"), 4);
    /* Bytes: exactly what the two clients wrote and read. */
    ck_assert_double_eq(DELTA(s0, s1, "condd_received_bytes_total"), (double)(a->sent + b->sent));
    ck_assert_double_eq(DELTA(s0, s1, "condd_sent_bytes_total"),
                        (double)(a->received + b->received));
    ck_assert_double_gt(metric(s1.body, "condd_resident_memory_bytes"), 0);
    ck_assert_double_ge(metric(s1.body, "condd_uptime_seconds"),
                        metric(s0.body, "condd_uptime_seconds"));

    /* Releasing hands L to b's queued acquire. */
    ck_assert_int_eq(cl_release(a, "L", 1), CONDD__V1__STATUS__STATUS_OK);
    Condd__V1__Response *r = cl_recv(b, REPLY_TIMEOUT);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, CONDD__V1__STATUS__STATUS_OK);
    cl_resp_free(r);
    cl_free(a);
    scrape(&s2, mport);
    ck_assert_double_eq(DELTA(s1, s2, "condd_requests_total{op=\"release\",status=\"ok\"}"), 1);
    ck_assert_double_eq(DELTA(s1, s2, "condd_requests_total{op=\"acquire\",status=\"ok\"}"), 1);
    ck_assert_double_eq(metric(s2.body, "condd_waiters"), 0);
    ck_assert_double_eq(metric(s2.body, "condd_locks_held"), 1);
    /* One grant at once (before s1), one after queueing (before s2). */
    ck_assert_double_eq(DELTA(s0, s1, "condd_grant_latency_seconds_count"), 1);
    ck_assert_double_eq(DELTA(s1, s2, "condd_grant_latency_seconds_count"), 1);
    ck_assert_double_eq(DELTA(s0, s2, "condd_wait_latency_seconds_count"), 0);
    /* Histograms are well formed: +Inf bucket equals the count. */
    ck_assert_double_eq(metric(s2.body, "condd_grant_latency_seconds_bucket{le=\"+Inf\"}"),
                        metric(s2.body, "condd_grant_latency_seconds_count"));
    ck_assert_double_eq(metric(s2.body, "condd_wait_latency_seconds_bucket{le=\"+Inf\"}"),
                        metric(s2.body, "condd_wait_latency_seconds_count"));
    ck_assert_double_ge(metric(s2.body, "condd_session_expiries_total"), 0);

    char *nf = http_get(mport, "/nothing-here");
    ck_assert_msg(strstr(nf, " 404 ") != NULL, "%.80s", nf);
    free(nf);

    cl_free(b);
    free(s0.body);
    free(s1.body);
    free(s2.body);
    proc_stop_clean(&p);
    proc_cleanup(&p);
}
END_TEST

START_TEST(test_metrics_address_checked_at_start)
{
    struct proc p;
    proc_init(&p);
    const char *args[] = {"--listen", "127.0.0.1:0", "--metrics", "localhost", NULL};
    proc_condd(&p, args, NULL);
    int st = proc_wait_exit(&p, START_TIMEOUT);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "exit status %#x", st);
    ck_assert(proc_log_has(&p, "--metrics: 'localhost' is not HOST:PORT"));
    proc_cleanup(&p);
}
END_TEST

static Suite *service_suite(void)
{
    Suite *s = suite_create("service");
    TCase *tc = tcase_create("systemd");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_socket_activation_serves_inherited_listeners);
    tcase_add_test(tc, test_ready_only_after_listeners_accept);
    tcase_add_test(tc, test_status_counts_connections_locks_and_waiters);
    tcase_add_test(tc, test_watchdog_pinged_when_asked);
    tcase_add_test(tc, test_no_watchdog_for_another_pid);
    tcase_add_test(tc, test_notify_socket_ignored_without_systemd);
    suite_add_tcase(s, tc);

    tc = tcase_create("config");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_config_file_sets_settings);
    tcase_add_test(tc, test_command_line_overrides_config_file);
    tcase_add_test(tc, test_example_config_parses_with_every_key_set);
    tcase_add_test(tc, test_bad_config_file_exits_2_naming_the_line);
    tcase_add_test(tc, test_missing_config_file_exits_2);
    tcase_add_test(tc, test_sighup_reloads_log_level_and_session_timeout);
    tcase_add_test(tc, test_sighup_with_broken_file_keeps_running_with_old_settings);
    tcase_add_test(tc, test_sighup_with_one_bad_value_keeps_every_old_value);
    tcase_add_test(tc, test_sighup_restart_keys_keep_old_value_reloadable_keys_apply);
    suite_add_tcase(s, tc);

    tc = tcase_create("signals");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sigterm_answers_pending_requests_shutting_down);
    suite_add_tcase(s, tc);

    tc = tcase_create("metrics");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_metrics_counters_move_with_operations);
    tcase_add_test(tc, test_metrics_address_checked_at_start);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(service_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
