/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Test helpers for running a real condd (see testutil.h).
 */
#include "config.h"

#include "clock.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double tu_now(void)
{
    return clk_mono();
}

bool tu_wait_until(bool (*pred)(void *arg), void *arg, double timeout_s)
{
    double end = tu_now() + timeout_s;
    for (;;) {
        if (pred(arg))
            return true;
        if (tu_now() > end)
            return pred(arg);
        usleep(1000);
    }
}

const char *tu_condd_path(void)
{
    const char *p = getenv("CONDD");
    return p != NULL ? p : "../daemon/condd";
}

static bool tu_read_port(const char *path, int *port)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    int p = 0;
    bool ok = fscanf(f, "%d", &p) == 1 && p > 0 && p < 65536;
    fclose(f);
    if (ok)
        *port = p;
    return ok;
}

static void tu_rmdir(struct tu_daemon *d)
{
    if (d->dir[0] == '\0')
        return;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "testutil: could not remove %s\n", d->dir);
    d->dir[0] = '\0';
}

bool tu_daemon_start_ex(struct tu_daemon *d, const struct tu_spawn *sp, bool with_unix,
                        const char *const *extra_args)
{
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "/tmp/condd-test-XXXXXX");
    if (mkdtemp(d->dir) == NULL) {
        d->dir[0] = '\0';
        return false;
    }
    char portfile[256];
    snprintf(portfile, sizeof portfile, "%s/port", d->dir);
    snprintf(d->unix_path, sizeof d->unix_path, "%s/condd.sock", d->dir);

    const char *argv[64];
    int argc = 0;
    argv[argc++] = sp != NULL && sp->binary != NULL ? sp->binary : tu_condd_path();
    argv[argc++] = "--listen";
    argv[argc++] = "127.0.0.1:0";
    argv[argc++] = "--port-file";
    argv[argc++] = portfile;
    if (with_unix) {
        argv[argc++] = "--unix";
        argv[argc++] = d->unix_path;
    }
    for (int i = 0; extra_args != NULL && extra_args[i] != NULL && argc < 62; i++)
        argv[argc++] = extra_args[i];
    argv[argc] = NULL;

    pid_t pid = fork();
    if (pid < 0) {
        tu_rmdir(d);
        return false;
    }
    if (pid == 0) {
        if (sp != NULL && sp->child_setup != NULL)
            sp->child_setup(d, sp->arg);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "testutil: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    d->pid = pid;
    double end = tu_now() + 20.0;
    while (tu_now() < end) {
        if (tu_read_port(portfile, &d->port)) {
            snprintf(d->addr, sizeof d->addr, "127.0.0.1:%d", d->port);
            return true;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            d->pid = 0;
            tu_rmdir(d);
            return false;
        }
        usleep(2000);
    }
    tu_daemon_kill(d);
    return false;
}

bool tu_daemon_start(struct tu_daemon *d, bool with_unix, const char *const *extra_args)
{
    return tu_daemon_start_ex(d, NULL, with_unix, extra_args);
}

int tu_daemon_stop(struct tu_daemon *d)
{
    int st = -1;
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        double end = tu_now() + 20.0;
        for (;;) {
            pid_t r = waitpid(d->pid, &st, WNOHANG);
            if (r == d->pid)
                break;
            if (r < 0) {
                st = -1;
                break;
            }
            if (tu_now() > end) {
                kill(d->pid, SIGKILL);
                waitpid(d->pid, &st, 0);
                st = -1;
                break;
            }
            usleep(2000);
        }
        d->pid = 0;
    }
    tu_rmdir(d);
    return st;
}

int tu_daemon_wait(struct tu_daemon *d, double timeout_s)
{
    int st = -1;
    if (d->pid > 0) {
        double end = tu_now() + timeout_s;
        for (;;) {
            pid_t r = waitpid(d->pid, &st, WNOHANG);
            if (r == d->pid)
                break;
            if (r < 0 || tu_now() > end) {
                kill(d->pid, SIGKILL);
                waitpid(d->pid, NULL, 0);
                st = -1;
                break;
            }
            usleep(2000);
        }
        d->pid = 0;
    }
    tu_rmdir(d);
    return st;
}

void tu_daemon_kill(struct tu_daemon *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
    tu_rmdir(d);
}

int tu_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

void tu_log_to_dir(const struct tu_daemon *d, void *arg)
{
    (void)arg;
    char path[256];
    snprintf(path, sizeof path, "%s/log", d->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        dup2(fd, 2);
        close(fd);
    }
}

bool tu_file_has_line(const char *path, const char *needle, const char *needle2)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, needle) != NULL && (needle2 == NULL || strstr(line, needle2) != NULL);
    fclose(f);
    return found;
}
