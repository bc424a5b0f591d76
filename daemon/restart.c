/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Live restart (see restart.h): the predecessor's side (SIGUSR2: disconnect, save, exec; or
 * SIGTERM into the systemd fd store) and the successor's (read the environment, adopt the
 * listeners, load the state). The state's format and its all-or-nothing load are snapshot.c's.
 */
#include "config.h"

#include "restart.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "frame.h"
#include "log.h"
#include "sdnotify.h"
#include "server.h"
#include "server_internal.h"
#include "settings.h"
#include "snapshot.h"

struct restart {
    struct event_base *base;
    struct server *srv;
    struct sdnotify *notify;
    char **argv;         /* borrowed from main */
    char exe[PATH_MAX];  /* the binary's path as started (restart_path_as_started()) */
    int state_fd;        /* handed-over state not yet loaded, or -1 */
    bool from_fdstore;   /* state_fd came from systemd's fd store */
    bool successor;      /* started by a live restart */
    bool busy;           /* a restart is under way */
    uint64_t count;      /* restarts so far (carried across them) */
    uint64_t t0_us;      /* the predecessor's SIGUSR2, CLOCK_MONOTONIC µs; 0: unknown */
    char *listen_env;    /* scratch for CONDD_RESTART_LISTEN */
    bool storing;        /* the hand-over goes to the fd store (SIGTERM), not to an exec */
    uint64_t start_us;   /* this hand-over's start, CLOCK_MONOTONIC µs */
    double drain_until;  /* clients have until then to close their half-closed connections */
    struct event *drain; /* polls for that (when a client sent more: restart_begin says why) */
    sigset_t mask;       /* the signal mask before the frozen drain blocked restart_sigset */
    /* The settings in effect (main's: a reload changes them in place). */
    const struct settings *settings;
    bool (*check)(void *arg, char *err, size_t errlen); /* may the successor start? */
    void *check_arg;
};

/* The signals a restart blocks across execv, so that one arriving before the successor has its
 * handlers waits for them instead of killing it with the default action. */
static void restart_sigset(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGUSR2);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

/* Page faults of this process so far: a cold successor pays one for each page it first
 * touches, which the log shows beside the CPU time of the load. */
static long restart_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt + ru.ru_majflt : 0;
}

/* CPU time this process has used, in ms: what a step costs whatever the machine's load. */
static double restart_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ hex labels */

void restart_hex(const char *in, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i = 0;
    for (; in[i] != '\0'; i++) {
        out[2 * i] = digits[(unsigned char)in[i] >> 4];
        out[2 * i + 1] = digits[(unsigned char)in[i] & 15];
    }
    out[2 * i] = '\0';
}

static int restart_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool restart_unhex(const char *in, size_t inlen, char *out, size_t outlen)
{
    if (inlen % 2 != 0 || inlen / 2 + 1 > outlen)
        return false;
    for (size_t i = 0; i < inlen / 2; i++) {
        int hi = restart_hexval(in[2 * i]), lo = restart_hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return false;
        out[i] = (char)(hi << 4 | lo);
    }
    out[inlen / 2] = '\0';
    return true;
}

/* ------------------------------------------------------------------ the successor */

/* A descriptor number from the environment: a number and an open descriptor, else -1. */
static int restart_parse_fd(const char *s, const char **end)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (e == s || errno != 0 || v < 3 || v > INT_MAX || fcntl((int)v, F_GETFD) < 0)
        return -1;
    *end = e;
    return (int)v;
}

/* Offers every listener of CONDD_RESTART_LISTEN to the server. */
static void restart_take_listeners(struct restart *r, const char *v)
{
    const char *p = v;
    while (*p != '\0') {
        const char *e;
        int fd = restart_parse_fd(p, &e);
        const char *hex = e + 1;
        size_t hlen = fd >= 0 && *e == '=' ? strcspn(hex, ",") : 0;
        char label[512];
        if (fd < 0 || hlen == 0 || !restart_unhex(hex, hlen, label, sizeof label)) {
            log_error("restart: bad %s entry near '%.40s'; ignoring the rest", RESTART_ENV_LISTEN,
                      p);
            return;
        }
        int one;
        socklen_t ol = sizeof one;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &one, &ol) != 0 || !one) {
            log_error("restart: descriptor %d (%s) is not a listening socket; closed", fd, label);
            close(fd);
        } else {
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            server_offer_inherited(r->srv, label, fd);
        }
        p = hex + hlen;
        if (*p == ',')
            p++;
    }
}

/* The path condd was started by (argv0, made absolute, symbolic links not resolved), when it
 * names the running binary: a restart then follows a link switched since, the usual way to
 * install an upgrade beside the old version. False when argv0 has no '/' (found through $PATH)
 * or names another file; /proc/self/exe is used then. */
static bool restart_path_as_started(const char *argv0, char *out, size_t outlen)
{
    struct stat as_started, running;
    if (strchr(argv0, '/') == NULL)
        return false;
    int n;
    if (argv0[0] == '/') {
        n = snprintf(out, outlen, "%s", argv0);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL)
            return false;
        n = snprintf(out, outlen, "%s/%s", cwd, argv0);
    }
    if (n < 0 || (size_t)n >= outlen || stat(out, &as_started) != 0 ||
        stat("/proc/self/exe", &running) != 0 || as_started.st_dev != running.st_dev ||
        as_started.st_ino != running.st_ino) {
        out[0] = '\0';
        return false;
    }
    return true;
}

struct restart *restart_new(struct event_base *base, struct server *srv, char **argv,
                            const struct settings *settings)
{
    struct restart *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->base = base;
    r->srv = srv;
    r->argv = argv;
    r->settings = settings;
    r->state_fd = -1;
    if (!restart_path_as_started(argv[0], r->exe, sizeof r->exe)) {
        ssize_t n = readlink("/proc/self/exe", r->exe, sizeof r->exe - 1);
        if (n > 0) {
            r->exe[n] = '\0';
        } else if (strchr(argv[0], '/') == NULL || realpath(argv[0], r->exe) == NULL) {
            /* Nothing to exec: SIGUSR2 will say so and keep serving. */
            r->exe[0] = '\0';
        }
    }

    if (restart_env_successor()) {
        r->successor = true;
        const char *v = getenv(RESTART_ENV_COUNT);
        r->count = v != NULL ? strtoull(v, NULL, 10) : 0;
        v = getenv(RESTART_ENV_T0);
        r->t0_us = v != NULL ? strtoull(v, NULL, 10) : 0;
        v = getenv(RESTART_ENV_LISTEN);
        if (v != NULL)
            restart_take_listeners(r, v);
        v = getenv(RESTART_ENV_STATE);
        const char *e;
        if (v != NULL && (r->state_fd = restart_parse_fd(v, &e)) < 0)
            log_error("restart: %s=%s is not an open descriptor; starting empty", RESTART_ENV_STATE,
                      v);
        if (r->state_fd >= 0)
            fcntl(r->state_fd, F_SETFD, FD_CLOEXEC);
        /* A SIGUSR2 that came while the restart was under way is ignored (it was blocked
         * across the exec): setting SIG_IGN discards a pending signal. */
        sigset_t pending;
        if (sigpending(&pending) == 0 && sigismember(&pending, SIGUSR2)) {
            signal(SIGUSR2, SIG_IGN);
            signal(SIGUSR2, SIG_DFL);
            log_notice("restart: a SIGUSR2 that arrived during the restart was ignored");
        }
    }
    unsetenv(RESTART_ENV_PID);
    unsetenv(RESTART_ENV_STATE);
    unsetenv(RESTART_ENV_LISTEN);
    unsetenv(RESTART_ENV_COUNT);
    unsetenv(RESTART_ENV_T0);
    return r;
}

bool restart_env_successor(void)
{
    const char *pid = getenv(RESTART_ENV_PID);
    return pid != NULL && strtol(pid, NULL, 10) == (long)getpid();
}

bool restart_is_successor(const struct restart *r)
{
    return r->successor;
}

void restart_set_state_fd(struct restart *r, int fd, bool from_fdstore)
{
    if (r->state_fd >= 0)
        close(r->state_fd);
    r->state_fd = fd;
    r->from_fdstore = from_fdstore;
}

void restart_set_check(struct restart *r, bool (*fn)(void *arg, char *err, size_t errlen),
                       void *arg)
{
    r->check = fn;
    r->check_arg = arg;
}

void restart_set_notify(struct restart *r, struct sdnotify *notify)
{
    r->notify = notify;
}

bool restart_load(struct restart *r)
{
    bool ok = true;
    if (r->from_fdstore)
        r->count++; /* a stop and start through the fd store is a restart too */
    uint64_t restored = 0;
    if (r->state_fd >= 0) {
        uint64_t t = clk_mono_us();
        double cpu0 = restart_cpu_ms();
        long faults0 = restart_faults();
        if (r->t0_us > 0)
            log_notice("restart: the new process runs %.1f ms after the SIGUSR2",
                       (double)(t - r->t0_us) / 1000.0);
        char why[512] = "";
        struct snapshot_info info = {0};
        if (lseek(r->state_fd, 0, SEEK_SET) != 0) {
            snprintf(why, sizeof why, "cannot seek the state: %s", strerror(errno));
            ok = false;
        } else {
            ok = snapshot_load(r->srv, r->state_fd, why, sizeof why, &info);
        }
        if (ok) {
            restored = info.sessions;
            double ms = (double)(clk_mono_us() - t) / 1000.0;
            log_notice("restart: state read in %.1f ms (cpu %.1f ms, %ld page faults)", ms,
                       restart_cpu_ms() - cpu0, restart_faults() - faults0);
            if (r->t0_us > 0)
                log_notice("restart: loaded %" PRIu64 " sessions, %" PRIu64 " locks, %" PRIu64
                           " waiters, %zu bytes in %.1f ms%s; serving %.1f ms after the SIGUSR2",
                           info.sessions, info.locks, info.waiters, info.bytes, ms,
                           r->from_fdstore ? " from the fd store" : "",
                           (double)(clk_mono_us() - r->t0_us) / 1000.0);
            else
                log_notice("restart: loaded %" PRIu64 " sessions, %" PRIu64 " locks, %" PRIu64
                           " waiters, %zu bytes in %.1f ms%s",
                           info.sessions, info.locks, info.waiters, info.bytes, ms,
                           r->from_fdstore ? " from the fd store" : "");
        } else {
            log_error("restart: THE STATE HANDED OVER CANNOT BE READ: %s; starting EMPTY: every "
                      "lock, waiter and session of the previous process is lost, and clients "
                      "will fail to resume",
                      why);
        }
        close(r->state_fd);
        r->state_fd = -1;
        if (r->from_fdstore)
            sdnotify_fdstore_remove(r->notify, RESTART_FDNAME_STATE);
    } else if (r->successor) {
        log_error("restart: no state was handed over; starting empty");
        ok = false;
    }
    if (r->from_fdstore) {
        /* The listeners stored beside it are ours now; the store keeps nothing until the next
         * stop. */
        for (int i = 0; i < server_listener_count(r->srv); i++) {
            const char *label;
            server_listener_fd(r->srv, i, &label);
            char name[sizeof RESTART_FDNAME_LISTEN_PREFIX + 2 * 256];
            if (strlen(label) < 256) {
                snprintf(name, sizeof name, "%s", RESTART_FDNAME_LISTEN_PREFIX);
                restart_hex(label, name + strlen(name));
                sdnotify_fdstore_remove(r->notify, name);
            }
        }
    }
    server_set_restart_stats(r->srv, r->count, restored);
    return ok;
}

/* ------------------------------------------------------------------ the predecessor */

/* Sets or clears FD_CLOEXEC on fd. */
static bool restart_cloexec(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0)
        return false;
    fl = on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC;
    return fcntl(fd, F_SETFD, fl) == 0;
}

/* Writes the state to a new memory file: its descriptor (CLOEXEC) or -1 (logged). *wall and
 * *cpu get the time it took, in ms. */
static int restart_write_state(const char *what, struct server *srv, struct snapshot_info *info,
                               double *wall, double *cpu)
{
    uint64_t t = clk_mono_us();
    double cpu0 = restart_cpu_ms();
    int fd = memfd_create("condd-state", MFD_CLOEXEC);
    if (fd < 0) {
        log_error("%s: cannot create the memory file: %s", what, strerror(errno));
        return -1;
    }
    memset(info, 0, sizeof *info);
    if (!snapshot_save(srv, fd, info)) {
        log_error("%s: the state could not be saved", what);
        close(fd);
        return -1;
    }
    *wall = (double)(clk_mono_us() - t) / 1000.0;
    *cpu = restart_cpu_ms() - cpu0;
    return fd;
}

/* After a drain in the loop (a client sent more after the half-close, see restart_begin):
 * disconnects every client and writes the state; the memory file's descriptor or -1. */
static int restart_save(struct restart *r, const char *what, struct snapshot_info *info, double *ms)
{
    uint64_t t = r->start_us, t_closed = clk_mono_us();
    unsigned left = server_connection_count(r->srv);
    double cpu0 = restart_cpu_ms();
    server_detach_all(r->srv);
    uint64_t t_detached = clk_mono_us();
    double cpu1 = restart_cpu_ms();
    double wall, cpu;
    int fd = restart_write_state(what, r->srv, info, &wall, &cpu);
    if (fd < 0)
        return -1;
    *ms = (double)(clk_mono_us() - t) / 1000.0;
    log_notice("%s: clients closed in %.1f ms (%u still open were closed on), the rest "
               "detached in %.1f ms (cpu %.1f ms), state written in %.1f ms (cpu %.1f ms)",
               what, (double)(t_closed - t) / 1000.0, left,
               (double)(t_detached - t_closed) / 1000.0, cpu1 - cpu0, wall, cpu);
    return fd;
}

/* After a failed hand-over: accept again; the sessions stay detached in their grace. */
static void restart_undo(struct restart *r)
{
    server_pause_listeners(r->srv, false);
    log_notice("restart: still serving in this process; every client resumes to it");
}

/* Builds CONDD_RESTART_LISTEN and clears FD_CLOEXEC on each listener (or sets it back). */
static bool restart_listen_env(struct restart *r, bool for_exec)
{
    size_t cap = 1, len = 0;
    int n = server_listener_count(r->srv);
    for (int i = 0; i < n; i++) {
        const char *label;
        server_listener_fd(r->srv, i, &label);
        cap += 16 + 2 * strlen(label);
    }
    char *v = malloc(cap);
    if (v == NULL)
        return false;
    v[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *label;
        int fd = server_listener_fd(r->srv, i, &label);
        if (!restart_cloexec(fd, !for_exec)) {
            free(v);
            return false;
        }
        len += (size_t)snprintf(v + len, cap - len, "%s%d=", i > 0 ? "," : "", fd);
        restart_hex(label, v + len);
        len += strlen(v + len);
    }
    free(r->listen_env);
    r->listen_env = v;
    return true;
}

/* After the drain: set the environment and exec with the state in fd (taken over). Back to
 * serving if any step fails; frozen: the connections are still open (the drain ran outside the
 * loop, restart_begin), and restart_sigset is blocked since then. */
static void restart_finish_exec(struct restart *r, int fd, const struct snapshot_info *info,
                                double ms, bool frozen)
{
    char num[3][32];
    snprintf(num[0], sizeof num[0], "%ld", (long)getpid());
    snprintf(num[1], sizeof num[1], "%d", fd);
    snprintf(num[2], sizeof num[2], "%" PRIu64, r->count + 1);
    char t0s[32];
    snprintf(t0s, sizeof t0s, "%" PRIu64, r->start_us);
    sigset_t block, old;
    restart_sigset(&block);
    int err = 0;
    errno = 0;
    if (r->exe[0] == '\0') {
        err = ENOENT;
    } else if (!restart_listen_env(r, true) || !restart_cloexec(fd, false) ||
               setenv(RESTART_ENV_PID, num[0], 1) != 0 ||
               setenv(RESTART_ENV_STATE, num[1], 1) != 0 ||
               setenv(RESTART_ENV_LISTEN, r->listen_env, 1) != 0 ||
               setenv(RESTART_ENV_COUNT, num[2], 1) != 0 || setenv(RESTART_ENV_T0, t0s, 1) != 0) {
        err = errno != 0 ? errno : ENOMEM;
    } else {
        log_notice("restart: saved %" PRIu64 " sessions, %" PRIu64 " locks, %zu bytes in %.1f "
                   "ms; exec %s",
                   info->sessions, info->locks, info->bytes, ms, r->exe);
        sdnotify_reloading(r->notify);
        sigprocmask(SIG_BLOCK, &block, &old);
        execv(r->exe, r->argv);
        err = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
    }
    log_error("restart: cannot execute %s: %s", r->exe[0] != '\0' ? r->exe : "the binary",
              strerror(err));
    restart_listen_env(r, false);
    close(fd);
    unsetenv(RESTART_ENV_PID);
    unsetenv(RESTART_ENV_STATE);
    unsetenv(RESTART_ENV_LISTEN);
    unsetenv(RESTART_ENV_COUNT);
    unsetenv(RESTART_ENV_T0);
    if (frozen) {
        /* As restart_save would have done before: every session detached in its grace. */
        server_detach_all(r->srv);
        sigprocmask(SIG_SETMASK, &r->mask, NULL);
    }
    sdnotify_ready(r->notify);
    restart_undo(r);
    r->busy = false;
}

/* After the drain: hand the state in fd (taken over; -1: it could not be saved) to the fd
 * store, and end the loop (the process exits). */
static void restart_finish_store(struct restart *r, int fd, const struct snapshot_info *info,
                                 double ms)
{
    bool ok = fd >= 0;
    /* Listeners first, the state last: a stored state always finds its listeners there. Those
     * from socket activation stay with their .socket unit. */
    for (int i = 0; ok && i < server_listener_count(r->srv); i++) {
        const char *label;
        int lfd = server_listener_fd(r->srv, i, &label);
        if (strcmp(label, "fd") == 0 || strlen(label) >= 120)
            continue; /* socket activation's; or too long a name for the store (255 bytes) */
        char name[sizeof RESTART_FDNAME_LISTEN_PREFIX + 2 * 120];
        snprintf(name, sizeof name, "%s", RESTART_FDNAME_LISTEN_PREFIX);
        restart_hex(label, name + strlen(name));
        ok = sdnotify_fdstore_add(r->notify, name, lfd);
    }
    ok = ok && sdnotify_fdstore_add(r->notify, RESTART_FDNAME_STATE, fd);
    if (fd >= 0)
        close(fd);
    if (ok) {
        server_keep_socket_files(r->srv);
        log_notice("keep-state-on-stop: stored %" PRIu64 " sessions, %" PRIu64 " locks, %zu "
                   "bytes (saved in %.1f ms); the next start loads them",
                   info->sessions, info->locks, info->bytes, ms);
    } else {
        log_error("keep-state-on-stop: the service manager did not take the state; stopping "
                  "without it (every session is lost)");
    }
    event_base_loopexit(r->base, NULL);
}

/* Is c a connection the drain waits for: not one of a client with acknowledged delivery, which
 * loses nothing it writes during a restart (restart_frozen_drain)? */
static bool restart_waits_for(const struct conn *c)
{
    return !(c->ds != NULL && c->ds->acks && c->half_closed);
}

/* Are connections left that the drain waits for? */
static bool restart_draining(const struct restart *r)
{
    const struct conn *c;
    TAILQ_FOREACH(c, &r->srv->conns, link)
    {
        if (restart_waits_for(c))
            return true;
    }
    return false;
}

static void restart_on_drain(evutil_socket_t fd, short what, void *arg)
{
    struct restart *r = arg;
    if (restart_draining(r) && clk_mono() < r->drain_until) {
        struct timeval tv = {0, 1000};
        event_add(r->drain, &tv);
        return;
    }
    struct snapshot_info info;
    double ms = 0;
    int sfd = restart_save(r, r->storing ? "keep-state-on-stop" : "restart", &info, &ms);
    if (r->storing) {
        restart_finish_store(r, sfd, &info, ms);
    } else if (sfd >= 0) {
        restart_finish_exec(r, sfd, &info, ms, false);
    } else {
        restart_undo(r);
        r->busy = false;
    }
}

/* Whether c has input the old process would still have to handle: a whole frame (or a bad one)
 * kept from before the half-close. A partial frame is not: its rest would arrive on the socket. */
static bool restart_has_input(const struct conn *c)
{
    size_t plen;
    return c->ilen > 0 &&
           frame_peek(c->ibuf, c->ilen, c->srv->settings.max_frame_bytes, &plen) != FRAME_NEED_MORE;
}

/*
 * The drain after an early save, outside the event loop: waits until every half-closed
 * connection's client has closed its side (or restart-drain has passed), only looking at the
 * sockets (MSG_PEEK), never reading them; connections of clients with acknowledged delivery are
 * not waited for at all. True: nothing arrived but ends of stream, so the state
 * saved before is still exactly the state. False as soon as a client sent a byte, a connection
 * has a whole request kept, or (an exec, not a store) a stop signal is pending: the caller then
 * drains in the loop as before the early save. *closed and *left count the connections whose
 * client closed and those still open at the deadline.
 */
static bool restart_frozen_drain(struct restart *r, unsigned *closed, unsigned *left)
{
    struct server *srv = r->srv;
    size_t n = 0, cap = srv->nconns;
    struct pollfd *pfd = cap > 0 ? calloc(cap, sizeof *pfd) : NULL;
    bool clean = true;
    *closed = *left = 0;
    if (cap > 0 && pfd == NULL)
        return false;
    struct conn *c;
    TAILQ_FOREACH(c, &srv->conns, link)
    {
        /* A client with acknowledged delivery (protocol.md §5.6.2) loses nothing it writes now:
         * the saved count of requests read tells it, at the resume, which ones to send again.
         * So it is not waited for, and what it sends does not make the state stale. */
        if (!restart_waits_for(c))
            continue;
        if (n == cap || c->ssl != NULL || !c->half_closed || restart_has_input(c)) {
            free(pfd);
            return false; /* cannot be after server_begin_detach; the loop's drain copes */
        }
        pfd[n++] = (struct pollfd){.fd = c->fd, .events = POLLIN};
    }
    int timeout_ms = 0; /* a first look at once: most clients closed during the save */
    while (n > 0) {
        int k = poll(pfd, n, timeout_ms);
        if (k < 0 && errno != EINTR) {
            clean = false;
            break;
        }
        for (size_t i = 0; k > 0 && i < n;) {
            if (pfd[i].revents == 0) {
                i++;
                continue;
            }
            uint8_t b;
            ssize_t got = recv(pfd[i].fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
            if (got > 0) {
                clean = false; /* a request written before the client noticed */
                break;
            }
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                pfd[i++].revents = 0;
                continue;
            }
            /* The end of the stream (or a reset): nothing more can come. */
            (*closed)++;
            pfd[i] = pfd[--n];
        }
        if (!clean)
            break;
        sigset_t pending;
        if (!r->storing && sigpending(&pending) == 0 &&
            (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT))) {
            clean = false; /* a stop during the drain wins (restart_cancel), in the loop */
            break;
        }
        double rest = r->drain_until - clk_mono();
        if (n == 0 || rest <= 0)
            break;
        timeout_ms = rest > 0.010 ? 10 : (int)(rest * 1000) + 1;
    }
    *left = (unsigned)n;
    free(pfd);
    return clean;
}

/* The common start: stop accepting, end or half-close every connection; then save the state at
 * once and wait for the clients to close their connections (restart_frozen_drain). */
static bool restart_begin(struct restart *r, bool storing)
{
    if (r->drain == NULL && (r->drain = evtimer_new(r->base, restart_on_drain, r)) == NULL) {
        log_error("restart: out of memory");
        return false;
    }
    r->busy = true;
    r->storing = storing;
    r->start_us = clk_mono_us();
    /* A client notices the half-close within a round trip; one that is not reading is closed on
     * at the deadline anyway. */
    r->drain_until = clk_mono() + r->settings->restart_drain;
    server_pause_listeners(r->srv, true);
    server_begin_detach(r->srv);
    /*
     * The state is saved now, while the clients close their half-closed connections, rather
     * than after: the restart's gap is then the longer of the drain and the save, not their sum.
     * It is safe because from here on the old process shows nothing to anyone: its listeners
     * are paused, every connection's sending side is shut (the kernel refuses any write), and
     * the drain below runs outside the event loop with restart_sigset blocked, so no timer
     * (request timeouts, graces, session timeouts), no signal and no other callback runs in
     * this process after the save; what would have come due meanwhile comes due in the
     * successor, whose clock counts the time since the save. A session still attached is saved
     * as its detach would keep it (snapshot.h), so closing its connection later changes
     * nothing. The one thing that would change the state is a request a client wrote before it
     * saw the end of the stream: the drain only peeks, and on the first byte it gives the early
     * state up and drains in the loop as before, handling what arrives, then saves again.
     */
    uint64_t t_half = clk_mono_us();
    const char *what = storing ? "keep-state-on-stop" : "restart";
    struct snapshot_info info;
    double wall = 0, cpu = 0;
    int fd = restart_write_state(what, r->srv, &info, &wall, &cpu);
    if (fd >= 0) {
        sigset_t block;
        restart_sigset(&block);
        sigprocmask(SIG_BLOCK, &block, &r->mask);
        unsigned closed, left;
        bool clean = restart_frozen_drain(r, &closed, &left);
        uint64_t t_end = clk_mono_us();
        double ms = (double)(t_end - r->start_us) / 1000.0;
        if (clean) {
            log_notice("%s: clients closed in %.1f ms (%u still open were closed on, %u closed) "
                       "while the state was written in %.1f ms (cpu %.1f ms), %.1f ms after the "
                       "half-close of every connection",
                       what, (double)(t_end - r->start_us) / 1000.0, left, closed, wall, cpu,
                       (double)(t_half - r->start_us) / 1000.0);
            if (storing) {
                restart_finish_store(r, fd, &info, ms);
                sigprocmask(SIG_SETMASK, &r->mask, NULL);
            } else {
                restart_finish_exec(r, fd, &info, ms, true);
            }
            return true;
        }
        sigprocmask(SIG_SETMASK, &r->mask, NULL);
        close(fd);
        log_notice("%s: a client sent more after the half-close; handling it and saving the "
                   "state again after the drain",
                   what);
    }
    struct timeval tv = {0, 0};
    event_add(r->drain, &tv);
    return true;
}

void restart_exec(struct restart *r)
{
    if (r->busy) {
        log_notice("restart: a SIGUSR2 during the restart was ignored");
        return;
    }
    log_notice("received SIGUSR2; live restart: handing the state to %s",
               r->exe[0] != '\0' ? r->exe : "(unknown binary)");
    /* Before anything is ended or detached: a binary that cannot be executed now would only be
     * found after every session without grace had been ended for nothing. (It can still vanish
     * between here and the exec; restart_begin's path keeps serving then.) */
    if (r->exe[0] == '\0' || access(r->exe, X_OK) != 0) {
        log_error("restart: cannot execute %s: %s; restart refused, still serving here",
                  r->exe[0] != '\0' ? r->exe : "the binary",
                  r->exe[0] != '\0' ? strerror(errno) : "its path is unknown (no /proc?)");
        return;
    }
    char err[1024];
    if (r->check != NULL && !r->check(r->check_arg, err, sizeof err)) {
        log_error("restart refused: the new process could not start: %s; still serving here", err);
        return;
    }
    restart_begin(r, false);
}

bool restart_store(struct restart *r)
{
    if (r->busy)
        return false;
    log_notice("stopping with keep-state-on-stop: handing the state to the service manager's "
               "file-descriptor store");
    return restart_begin(r, true);
}

bool restart_busy(const struct restart *r)
{
    return r->busy;
}

void restart_cancel(struct restart *r)
{
    if (!r->busy || r->storing)
        return;
    log_notice("restart: cancelled by a stop");
    event_del(r->drain);
    server_detach_all(r->srv);
    r->busy = false;
}

void restart_free(struct restart *r)
{
    if (r == NULL)
        return;
    if (r->state_fd >= 0)
        close(r->state_fd);
    if (r->drain != NULL)
        event_free(r->drain);
    free(r->listen_env);
    free(r);
}
