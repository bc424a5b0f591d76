/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The child process that runs CMD under `condctl lock` and `condctl wait-for`: starting it with
 * the lock's name and fencing token in its environment, telling "not found" (127) from "cannot
 * execute" (126), watching it with a SIGCHLD event on condctl's loop (so the session keeps being
 * pinged while CMD runs), forwarding INT/TERM/HUP to it, and stopping it (SIGTERM, then SIGKILL
 * after --kill-after) when the connection and with it the lock is lost. CMD inherits the file
 * descriptors condctl was started with and none that condctl opened itself. The INT/TERM/HUP
 * handlers serve every command: with no CMD to forward to, they end condctl cleanly.
 */

#include "clock.h"
#include "condctl.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const int fwd_signals[CTL_N_FWD_SIGNALS] = {SIGINT, SIGTERM, SIGHUP};

/* Fallback scan range when /proc/self/fd cannot be read. */
#define CTL_FD_SCAN_MAX 1024

/* ------------------------------------------------------------------ file descriptors */

/* Calls fn(ctl, fd) for every open fd (from /proc/self/fd, else by probing). */
static void for_each_fd(struct ctl *ctl, void (*fn)(struct ctl *ctl, int fd))
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        for (int fd = 0; fd < CTL_FD_SCAN_MAX; fd++)
            if (fcntl(fd, F_GETFD) >= 0)
                fn(ctl, fd);
        return;
    }
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || *end != '\0' || fd == self ||
            fd > INT32_MAX)
            continue;
        fn(ctl, (int)fd);
    }
    closedir(d);
}

static void record_fd(struct ctl *ctl, int fd)
{
    if (fd >= ctl->startup_fds_max) {
        int n = fd + 64;
        unsigned char *p = realloc(ctl->startup_fds, (size_t)(n + 7) / 8);
        if (p == NULL)
            return; /* CMD would then not inherit fd: acceptable on out of memory */
        memset(p + (ctl->startup_fds_max + 7) / 8, 0,
               (size_t)((n + 7) / 8 - (ctl->startup_fds_max + 7) / 8));
        ctl->startup_fds = p;
        ctl->startup_fds_max = n;
    }
    ctl->startup_fds[fd / 8] |= (unsigned char)(1u << (fd % 8));
}

void ctl_child_init(struct ctl *ctl)
{
    for_each_fd(ctl, record_fd);
    /* Signals ignored by whoever started condctl (nohup, a non-interactive shell's background
     * job) stay ignored for CMD, and condctl does not take them over. */
    for (int i = 0; i < CTL_N_FWD_SIGNALS; i++) {
        struct sigaction sa;
        ctl->sig_ignored[i] = sigaction(fwd_signals[i], NULL, &sa) == 0 && sa.sa_handler == SIG_IGN;
    }
    /* Input that can end: a pipe, FIFO or socket (its writer closes it) or a terminal (^D,
     * hangup). A regular file, /dev/null or a closed stdin (cron, systemd) has no writer whose
     * end would mean anything. Decided before condctl opens any fd, which could take fd 0. */
    struct stat st;
    ctl->stdin_can_end =
        fstat(STDIN_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
                                          (S_ISCHR(st.st_mode) && isatty(STDIN_FILENO)));
}

static bool is_startup_fd(const struct ctl *ctl, int fd)
{
    return fd < ctl->startup_fds_max && (ctl->startup_fds[fd / 8] & (1u << (fd % 8))) != 0;
}

/* Marks fds condctl opened itself (the connection, libevent's) close-on-exec, so CMD cannot
 * keep the session's socket open after condctl is gone. */
static void mark_cloexec(struct ctl *ctl, int fd)
{
    if (fd <= 2 || is_startup_fd(ctl, fd))
        return;
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC) == 0)
        fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

/* ------------------------------------------------------------------ events */

static void sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct ctl *ctl = arg;
    if (ctl->child <= 0)
        return;
    int status;
    pid_t r;
    do
        r = waitpid(ctl->child, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r != ctl->child)
        return;
    ctl->child = 0;
    if (WIFEXITED(status))
        ctl->child_exit = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        ctl->child_exit = 128 + WTERMSIG(status);
    else
        ctl->child_exit = 1;
    if (ctl->kill_timer != NULL)
        evtimer_del(ctl->kill_timer);
    ctl_cmd_child_exited(ctl);
}

static void forward_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct ctl *ctl = arg;
    if (ctl->child > 0) {
        ctl->signalled = (int)sig;
        kill(ctl->child, (int)sig);
        return;
    }
    /* No CMD to pass it to (any command still waiting: for the lock, a notification, an
     * event, a barrier's parties, or an answer): stop with the shell's status for the signal.
     * Unlike the default action, this ends the loop so condctl closes the connection with a
     * Goodbye: the session ends at once (no resume grace), which withdraws whatever is pending
     * (a queued wait, a barrier arrival) and releases the lock. */
    ctl_finish(ctl, 128 + (int)sig);
}

static void kill_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ctl *ctl = arg;
    if (ctl->child > 0)
        kill(ctl->child, SIGKILL);
}

int ctl_child_setup(struct ctl *ctl)
{
    ctl->sigchld = evsignal_new(ctl->base, SIGCHLD, sigchld_cb, ctl);
    ctl->kill_timer = evtimer_new(ctl->base, kill_timer_cb, ctl);
    if (ctl->sigchld == NULL || ctl->kill_timer == NULL || evsignal_add(ctl->sigchld, NULL) != 0) {
        fputs("condctl: cannot watch child processes\n", stderr);
        return -1;
    }
    return 0;
}

int ctl_signals_setup(struct ctl *ctl)
{
    for (int i = 0; i < CTL_N_FWD_SIGNALS; i++) {
        if (ctl->sig_ignored[i])
            continue;
        ctl->fwd[i] = evsignal_new(ctl->base, fwd_signals[i], forward_cb, ctl);
        if (ctl->fwd[i] == NULL || evsignal_add(ctl->fwd[i], NULL) != 0) {
            fputs("condctl: cannot install signal handlers\n", stderr);
            return -1;
        }
    }
    return 0;
}

void ctl_child_cleanup(struct ctl *ctl)
{
    if (ctl->sigchld != NULL)
        event_free(ctl->sigchld);
    if (ctl->kill_timer != NULL)
        event_free(ctl->kill_timer);
    for (int i = 0; i < CTL_N_FWD_SIGNALS; i++)
        if (ctl->fwd[i] != NULL)
            event_free(ctl->fwd[i]);
    ctl->sigchld = ctl->kill_timer = NULL;
    for (int i = 0; i < CTL_N_FWD_SIGNALS; i++)
        ctl->fwd[i] = NULL;
}

/* ------------------------------------------------------------------ spawning */

/* In the child: signal state back to what a fresh program expects, the environment, exec.
 * Only async-signal-safe calls plus setenv (condctl is single-threaded). */
static _Noreturn void child_exec(struct ctl *ctl, const char *cond, int errfd,
                                 const sigset_t *oldmask)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL}, ign = {.sa_handler = SIG_IGN};
    sigemptyset(&dfl.sa_mask);
    sigemptyset(&ign.sa_mask);
    for (int i = 0; i < CTL_N_FWD_SIGNALS; i++)
        sigaction(fwd_signals[i], ctl->sig_ignored[i] ? &ign : &dfl, NULL);
    sigaction(SIGCHLD, &dfl, NULL);
    sigprocmask(SIG_SETMASK, oldmask, NULL);

    char token[32];
    snprintf(token, sizeof token, "%" PRIu64, ctl->token);
    if (setenv("CONDD_LOCK", ctl->lock, 1) != 0 || setenv("CONDD_TOKEN", token, 1) != 0 ||
        (cond != NULL && setenv("CONDD_COND", cond, 1) != 0)) {
        int e = errno;
        ssize_t w = write(errfd, &e, sizeof e);
        (void)w;
        _exit(126);
    }
    execvp(ctl->child_argv[0], ctl->child_argv);
    int e = errno;
    ssize_t w = write(errfd, &e, sizeof e);
    (void)w;
    _exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
}

int ctl_child_spawn(struct ctl *ctl, const char *cond)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        fprintf(stderr, "condctl: pipe: %s\n", strerror(errno));
        return -1;
    }
    for_each_fd(ctl, mark_cloexec);
    fflush(stdout);
    fflush(stderr);

    /* Block signals across fork() so the child cannot run condctl's libevent handlers
     * (which would write into the parent's signal pipe) before it resets them. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        child_exec(ctl, cond, pfd[1], &old);
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        fprintf(stderr, "condctl: fork: %s\n", strerror(fork_errno));
        return -1;
    }
    ctl->child = pid;
    ctl->exec_errno = 0;

    /* Blocks only until exec() succeeds (EOF: the pipe is close-on-exec) or fails. */
    int e = 0;
    ssize_t n;
    do
        n = read(pfd[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    close(pfd[0]);
    if (n == (ssize_t)sizeof e) {
        ctl->exec_errno = e != 0 ? e : EINVAL;
        fprintf(stderr, "condctl: %s: %s\n", ctl->child_argv[0], strerror(ctl->exec_errno));
    }
    return 0;
}

void ctl_child_lost(struct ctl *ctl)
{
    if (ctl->child <= 0 || ctl->lost)
        return;
    ctl->lost = true;
    kill(ctl->child, SIGTERM);
    struct timeval tv = clk_timeval(ctl->kill_after);
    evtimer_add(ctl->kill_timer, &tv);
}
