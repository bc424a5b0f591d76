/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Helpers for the service tests (see service_util.h).
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

/* ------------------------------------------------------------------ a client on the codec */

struct cl *cl_new(int fd)
{
    ck_assert_int_ge(fd, 0);
    struct cl *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    c->fd = fd;
    c->next_id = 1;
    return c;
}

struct cl *cl_tcp(int port)
{
    return cl_new(tu_connect(port));
}

int unix_connect(const char *path)
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

void cl_free(struct cl *c)
{
    if (c == NULL)
        return;
    close(c->fd);
    free(c);
}

/* Sends req under the next id; returns the id. */
uint64_t cl_send(struct cl *c, Condd__V1__Request *req)
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
Condd__V1__Response *cl_recv(struct cl *c, double timeout)
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

void cl_resp_free(Condd__V1__Response *r)
{
    if (r != NULL)
        condd__v1__response__free_unpacked(r, NULL);
}

/* Sends req and returns the response to it (failing the test on anything else). */
Condd__V1__Response *cl_call(struct cl *c, Condd__V1__Request *req)
{
    uint64_t id = cl_send(c, req);
    Condd__V1__Response *r = cl_recv(c, REPLY_TIMEOUT);
    ck_assert_msg(r != NULL, "no reply to request %llu", (unsigned long long)id);
    ck_assert_uint_eq(r->id, id);
    return r;
}

/* Hello; returns the session timeout the server granted. */
double cl_hello(struct cl *c)
{
    return cl_hello_limits(c, NULL);
}

double cl_hello_limits(struct cl *c, uint32_t *max_frame_bytes)
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
    if (max_frame_bytes != NULL)
        *max_frame_bytes = r->hello->max_frame_bytes;
    cl_resp_free(r);
    return t;
}

int cl_ping(struct cl *c)
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
uint64_t cl_acquire_send(struct cl *c, const char *lock, uint64_t owner, const double *timeout)
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
int cl_acquire(struct cl *c, const char *lock, uint64_t owner, const double *timeout)
{
    uint64_t id = cl_acquire_send(c, lock, owner, timeout);
    Condd__V1__Response *r = cl_recv(c, REPLY_TIMEOUT);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->id, id);
    int st = r->status;
    cl_resp_free(r);
    return st;
}

int cl_release(struct cl *c, const char *lock, uint64_t owner)
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

uint64_t cl_wait_send(struct cl *c, const char *cond, const char *lock, uint64_t owner)
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

void proc_init(struct proc *p)
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
void proc_spawn(struct proc *p, const char *const *argv, const char *const *env)
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
void proc_condd(struct proc *p, const char *const *args, const char *const *env)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = tu_condd_path();
    for (int i = 0; args != NULL && args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    proc_spawn(p, argv, env);
}

bool proc_read_port(struct proc *p)
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
int proc_wait_exit(struct proc *p, double timeout)
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
bool proc_wait_port(struct proc *p, int *status)
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

void proc_signal(struct proc *p, int sig)
{
    ck_assert_int_gt(p->pid, 0);
    ck_assert_int_eq(kill(p->pid, sig), 0);
}

/* SIGTERM, expect a clean exit 0. */
void proc_stop_clean(struct proc *p)
{
    proc_signal(p, SIGTERM);
    int st = proc_wait_exit(p, START_TIMEOUT);
    ck_assert_msg(st != -1, "daemon did not stop after SIGTERM");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "daemon exit status %#x", st);
}

void proc_cleanup(struct proc *p)
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
char *proc_log(const struct proc *p)
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

bool proc_log_has(const struct proc *p, const char *needle)
{
    char *s = proc_log(p);
    bool found = strstr(s, needle) != NULL;
    free(s);
    return found;
}

bool log_wait_pred(void *arg)
{
    struct log_wait *w = arg;
    return proc_log_has(w->p, w->needle);
}

void proc_wait_log(const struct proc *p, const char *needle)
{
    struct log_wait w = {p, needle};
    if (!tu_wait_until(log_wait_pred, &w, START_TIMEOUT)) {
        char *s = proc_log(p);
        ck_abort_msg("log never showed '%s'; log:\n%s", needle, s);
    }
}

void write_file(const char *path, const char *fmt, ...)
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
int free_port(void)
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

void notify_open(struct notify_sock *n, const struct proc *p)
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
bool notify_recv(struct notify_sock *n, char *buf, size_t len, double timeout)
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
void notify_expect(struct notify_sock *n, const char *needle, char *buf, size_t len)
{
    double end = tu_now() + START_TIMEOUT;
    while (tu_now() < end) {
        if (notify_recv(n, buf, len, end - tu_now()) && strstr(buf, needle) != NULL)
            return;
    }
    ck_abort_msg("no notification with '%s'", needle);
}

bool line_is(const char *msg, const char *line)
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
