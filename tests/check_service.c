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
#include "testutil.h"

/* Generous: sanitizer builds on a loaded CI machine are slow to start. */
#define START_TIMEOUT 20.0
#define REPLY_TIMEOUT 10.0

/* ------------------------------------------------------------------ a client on the codec */

struct cl {
    int fd;
    uint8_t buf[1 << 20];
    size_t len;
    uint64_t next_id;
    uint64_t sent;     /* bytes written */
    uint64_t received; /* bytes of whole frames decoded */
};

static struct cl *cl_new(int fd)
{
    ck_assert_int_ge(fd, 0);
    struct cl *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    c->fd = fd;
    c->next_id = 1;
    return c;
}

static struct cl *cl_tcp(int port)
{
    return cl_new(tu_connect(port));
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    ck_assert_uint_lt(len, sizeof sun.sun_path);
    memcpy(sun.sun_path, path, len + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void cl_free(struct cl *c)
{
    if (c == NULL)
        return;
    close(c->fd);
    free(c);
}

/* Sends req under the next id; returns the id. */
static uint64_t cl_send(struct cl *c, Condd__V1__Request *req)
{
    req->id = c->next_id++;
    uint8_t out[4096];
    size_t n = frame_encoded_size(&req->base);
    ck_assert_uint_le(n, sizeof out);
    n = frame_encode(&req->base, out);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(c->fd, out + off, n - off);
        ck_assert_msg(w > 0, "write: %s", strerror(errno));
        off += (size_t)w;
    }
    c->sent += n;
    return req->id;
}

/* The next response, or NULL on timeout or end of stream. Free with cl_resp_free. */
static Condd__V1__Response *cl_recv(struct cl *c, double timeout)
{
    double end = tu_now() + timeout;
    for (;;) {
        Condd__V1__Response *r = NULL;
        size_t used = 0;
        enum frame_result fr =
            frame_decode_response(c->buf, c->len, FRAME_CLIENT_MAX_BYTES, NULL, &r, &used);
        if (fr == FRAME_OK) {
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            c->received += used;
            return r;
        }
        ck_assert_int_eq(fr, FRAME_NEED_MORE);
        double left = end - tu_now();
        if (left <= 0)
            return NULL;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        ck_assert_uint_lt(c->len, sizeof c->buf);
        ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (n <= 0)
            return NULL;
        c->len += (size_t)n;
    }
}

static void cl_resp_free(Condd__V1__Response *r)
{
    if (r != NULL)
        condd__v1__response__free_unpacked(r, NULL);
}

/* Sends req and returns the response to it (failing the test on anything else). */
static Condd__V1__Response *cl_call(struct cl *c, Condd__V1__Request *req)
{
    uint64_t id = cl_send(c, req);
    Condd__V1__Response *r = cl_recv(c, REPLY_TIMEOUT);
    ck_assert_msg(r != NULL, "no reply to request %llu", (unsigned long long)id);
    ck_assert_uint_eq(r->id, id);
    return r;
}

/* Hello; returns the session timeout the server granted. */
static double cl_hello(struct cl *c)
{
    Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
    h.protocol_version = 1;
    h.client_name = (char *)"check_service";
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
    req.hello = &h;
    Condd__V1__Response *r = cl_call(c, &req);
    ck_assert_int_eq(r->status, CONDD__V1__STATUS__STATUS_OK);
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_HELLO);
    double t = r->hello->session_timeout_s;
    cl_resp_free(r);
    return t;
}

static int cl_ping(struct cl *c)
{
    Condd__V1__Ping p = CONDD__V1__PING__INIT;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    req.body_case = CONDD__V1__REQUEST__BODY_PING;
    req.ping = &p;
    Condd__V1__Response *r = cl_call(c, &req);
    int st = r->status;
    cl_resp_free(r);
    return st;
}

/* Sends an Acquire (timeout NULL: forever) and returns its id without waiting. */
static uint64_t cl_acquire_send(struct cl *c, const char *lock, uint64_t owner,
                                const double *timeout)
{
    Condd__V1__Acquire a = CONDD__V1__ACQUIRE__INIT;
    Condd__V1__Timeout t = CONDD__V1__TIMEOUT__INIT;
    a.lock.data = (uint8_t *)lock;
    a.lock.len = strlen(lock);
    a.owner = owner;
    if (timeout != NULL) {
        t.seconds = *timeout;
        a.timeout = &t;
    }
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    req.body_case = CONDD__V1__REQUEST__BODY_ACQUIRE;
    req.acquire = &a;
    return cl_send(c, &req);
}

/* Acquire that completes at once (granted, or refused); returns the status. */
static int cl_acquire(struct cl *c, const char *lock, uint64_t owner, const double *timeout)
{
    uint64_t id = cl_acquire_send(c, lock, owner, timeout);
    Condd__V1__Response *r = cl_recv(c, REPLY_TIMEOUT);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, id);
    int st = r->status;
    cl_resp_free(r);
    return st;
}

static int cl_release(struct cl *c, const char *lock, uint64_t owner)
{
    Condd__V1__Release rel = CONDD__V1__RELEASE__INIT;
    rel.lock.data = (uint8_t *)lock;
    rel.lock.len = strlen(lock);
    rel.owner = owner;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    req.body_case = CONDD__V1__REQUEST__BODY_RELEASE;
    req.release = &rel;
    Condd__V1__Response *r = cl_call(c, &req);
    int st = r->status;
    cl_resp_free(r);
    return st;
}

static uint64_t cl_wait_send(struct cl *c, const char *cond, const char *lock, uint64_t owner)
{
    Condd__V1__Wait w = CONDD__V1__WAIT__INIT;
    w.condition.data = (uint8_t *)cond;
    w.condition.len = strlen(cond);
    w.lock.data = (uint8_t *)lock;
    w.lock.len = strlen(lock);
    w.owner = owner;
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    req.body_case = CONDD__V1__REQUEST__BODY_WAIT;
    req.wait = &w;
    return cl_send(c, &req);
}

/* ------------------------------------------------------------------ processes */

struct proc {
    pid_t pid;
    char dir[64];
    char log[128]; /* the process's stdout and stderr */
    char portfile[128];
    char sock[128]; /* a Unix socket path in dir */
    char conf[128]; /* a config file path in dir */
    int port;
};

static void proc_init(struct proc *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->dir, sizeof p->dir, "/tmp/condd-svc-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(p->dir));
    snprintf(p->log, sizeof p->log, "%s/log", p->dir);
    snprintf(p->portfile, sizeof p->portfile, "%s/port", p->dir);
    snprintf(p->sock, sizeof p->sock, "%s/condd.sock", p->dir);
    snprintf(p->conf, sizeof p->conf, "%s/condd.conf", p->dir);
}

/* Starts argv (argv[0] is the program) with the extra "NAME=VALUE" environment entries (a
 * value of "$PID" is replaced by the child's pid). Output goes to p->log (appended). */
static void proc_spawn(struct proc *p, const char *const *argv, const char *const *env)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
#ifdef HAVE_SYS_PRCTL_H
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
#endif
        (void)parent;
        int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_PID");
        unsetenv("JOURNAL_STREAM");
        for (int i = 0; env != NULL && env[i] != NULL; i++) {
            char name[128];
            const char *eq = strchr(env[i], '=');
            snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
            char pidbuf[32];
            const char *val = eq + 1;
            if (strcmp(val, "$PID") == 0) {
                snprintf(pidbuf, sizeof pidbuf, "%ld", (long)getpid());
                val = pidbuf;
            }
            setenv(name, val, 1);
        }
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    p->pid = pid;
}

/* Starts $CONDD with the given arguments (NULL-terminated, may be NULL). */
static void proc_condd(struct proc *p, const char *const *args, const char *const *env)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = tu_condd_path();
    for (int i = 0; args != NULL && args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    proc_spawn(p, argv, env);
}

static bool proc_read_port(struct proc *p)
{
    FILE *f = fopen(p->portfile, "r");
    if (f == NULL)
        return false;
    int port = 0;
    bool ok = fscanf(f, "%d", &port) == 1 && port > 0 && port < 65536;
    fclose(f);
    if (ok)
        p->port = port;
    return ok;
}

/* Waits for the process to exit; returns the wait status, -1 if still running at the end, or
 * -2 if there is no process (already reaped). */
static int proc_wait_exit(struct proc *p, double timeout)
{
    if (p->pid <= 0)
        return -2;
    double end = tu_now() + timeout;
    for (;;) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            return st;
        }
        ck_assert_int_eq(r, 0);
        if (tu_now() > end)
            return -1;
        usleep(1000);
    }
}

/* Waits for the port file; false if the process exited first (status in *status). */
static bool proc_wait_port(struct proc *p, int *status)
{
    double end = tu_now() + START_TIMEOUT;
    while (tu_now() < end) {
        if (proc_read_port(p))
            return true;
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->pid = 0;
            if (status != NULL)
                *status = st;
            return false;
        }
        usleep(1000);
    }
    return false;
}

static void proc_signal(struct proc *p, int sig)
{
    ck_assert_int_gt(p->pid, 0);
    ck_assert_int_eq(kill(p->pid, sig), 0);
}

/* SIGTERM, expect a clean exit 0. */
static void proc_stop_clean(struct proc *p)
{
    proc_signal(p, SIGTERM);
    int st = proc_wait_exit(p, START_TIMEOUT);
    ck_assert_msg(st != -1, "daemon did not stop after SIGTERM");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "daemon exit status %#x", st);
}

static void proc_cleanup(struct proc *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", p->dir);
}

/* The whole log as a string (caller frees). */
static char *proc_log(const struct proc *p)
{
    FILE *f = fopen(p->log, "r");
    if (f == NULL)
        return strdup("");
    char *buf = NULL;
    size_t cap = 0, len = 0;
    size_t n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (buf == NULL)
        return strdup("");
    buf[len] = '\0';
    return buf;
}

static bool proc_log_has(const struct proc *p, const char *needle)
{
    char *s = proc_log(p);
    bool found = strstr(s, needle) != NULL;
    free(s);
    return found;
}

struct log_wait {
    const struct proc *p;
    const char *needle;
};

static bool log_wait_pred(void *arg)
{
    struct log_wait *w = arg;
    return proc_log_has(w->p, w->needle);
}

static void proc_wait_log(const struct proc *p, const char *needle)
{
    struct log_wait w = {p, needle};
    if (!tu_wait_until(log_wait_pred, &w, START_TIMEOUT)) {
        char *s = proc_log(p);
        ck_abort_msg("log never showed '%s'; log:\n%s", needle, s);
    }
}

static void write_file(const char *path, const char *fmt, ...)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(tmp, path), 0);
}

/* A loopback TCP port that was free a moment ago (callers retry if it was taken since). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t sl = sizeof sin;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

/* ------------------------------------------------------------------ the notify socket */

struct notify_sock {
    int fd;
    char path[100]; /* fits sun_path */
    char env[128];  /* "NOTIFY_SOCKET=path" */
};

static void notify_open(struct notify_sock *n, const struct proc *p)
{
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(n->fd, 0);
    snprintf(n->path, sizeof n->path, "%s/notify", p->dir);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, n->path, strlen(n->path) + 1);
    ck_assert_int_eq(bind(n->fd, (struct sockaddr *)&sun, sizeof sun), 0);
    snprintf(n->env, sizeof n->env, "NOTIFY_SOCKET=%s", n->path);
}

/* The next datagram as a string, or false on timeout. */
static bool notify_recv(struct notify_sock *n, char *buf, size_t len, double timeout)
{
    struct pollfd pfd = {.fd = n->fd, .events = POLLIN};
    if (poll(&pfd, 1, (int)(timeout * 1000)) <= 0)
        return false;
    ssize_t r = recv(n->fd, buf, len - 1, 0);
    ck_assert_int_gt(r, 0);
    buf[r] = '\0';
    return true;
}

#ifdef HAVE_SYSTEMD
/* Reads datagrams until one contains needle; fails the test after timeout. */
static void notify_expect(struct notify_sock *n, const char *needle, char *buf, size_t len)
{
    double end = tu_now() + START_TIMEOUT;
    while (tu_now() < end) {
        if (notify_recv(n, buf, len, end - tu_now()) && strstr(buf, needle) != NULL)
            return;
    }
    ck_abort_msg("no notification with '%s'", needle);
}

static bool line_is(const char *msg, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = msg; p != NULL; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return true;
    }
    return false;
}

#endif

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
    ck_assert(proc_log_has(&p, "socket activation: 2 listeners from systemd"));

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
    ck_assert_int_eq(cl_ping(b), CONDD__V1__STATUS__STATUS_OK);

    /* A reload re-sends READY=1 with a fresh STATUS= at once (the timer would take 5 s). */
    proc_signal(&p, SIGHUP);
    notify_expect(&n, "RELOADING=1", msg, sizeof msg);
    ck_assert_msg(strstr(msg, "MONOTONIC_USEC=") != NULL, "%s", msg);
    notify_expect(&n, "READY=1", msg, sizeof msg);
    ck_assert_msg(strstr(msg, "STATUS=2 connections, 1 lock held, 1 waiter") != NULL, "%s", msg);

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
    const char *args[] = {"--config", p.conf, "--listen",  "127.0.0.1:0", "--port-file", p.portfile,
                          "--unix",   p.sock, "--metrics", "127.0.0.1:0", NULL};
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
    ck_assert(proc_log_has(&p, "reload: session-timeout changed from 7 to 8"));
    ck_assert(proc_log_has(&p, "reload: unix changed from (none) to"));
    ck_assert(proc_log_has(&p, "this takes a restart"));

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
    ck_assert(proc_log_has(&p, "keeping the current settings"));

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
    ck_assert_double_eq(metric(s1.body, "condd_locks"), 1);
    ck_assert_double_eq(metric(s1.body, "condd_locks_held"), 1);
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
