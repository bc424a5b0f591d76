/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Starting and commanding tests/blipproxy from C tests (see proxy_util.h).
 */
#include "config.h"

#include "proxy_util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

bool tu_proxy_start(struct tu_proxy *p, int target_port)
{
    memset(p, 0, sizeof *p);
    snprintf(p->dir, sizeof p->dir, "/tmp/condd-proxy-XXXXXX");
    if (mkdtemp(p->dir) == NULL) {
        p->dir[0] = '\0';
        return false;
    }
    char portfile[256], target[16];
    snprintf(portfile, sizeof portfile, "%s/ports", p->dir);
    snprintf(target, sizeof target, "%d", target_port);
    /* $BLIPPROXY, else the build tree's (make check exports top_builddir), else ./blipproxy
     * (a suite run by hand from tests/). */
    const char *prog = getenv("BLIPPROXY");
    char built[512];
    const char *top = getenv("top_builddir");
    if (prog == NULL && top != NULL) {
        snprintf(built, sizeof built, "%s/tests/blipproxy", top);
        prog = built;
    }
    if (prog == NULL)
        prog = "./blipproxy";
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        execl(prog, prog, target, portfile, (char *)NULL);
        fprintf(stderr, "proxy_util: exec %s: %s\n", prog, strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    double end = tu_now() + 20.0;
    while (tu_now() < end) {
        FILE *f = fopen(portfile, "r");
        if (f != NULL) {
            int ok = fscanf(f, "%d %d", &p->port, &p->control_port);
            fclose(f);
            if (ok == 2)
                return true;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            p->pid = 0;
            tu_proxy_stop(p);
            return false;
        }
        usleep(2000);
    }
    tu_proxy_stop(p);
    return false;
}

bool tu_proxy_cmd(struct tu_proxy *p, const char *cmd, char *out, size_t outlen)
{
    int fd = tu_connect(p->control_port);
    if (fd < 0)
        return false;
    char line[128];
    snprintf(line, sizeof line, "%s\n", cmd);
    bool ok = write(fd, line, strlen(line)) == (ssize_t)strlen(line);
    size_t len = 0;
    double end = tu_now() + 10.0;
    while (ok && (len == 0 || line[len - 1] != '\n') && len < sizeof line - 1) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ms = (int)((end - tu_now()) * 1000);
        if (ms <= 0 || poll(&pfd, 1, ms) <= 0) {
            ok = false;
            break;
        }
        ssize_t n = read(fd, line + len, sizeof line - 1 - len);
        if (n <= 0) {
            ok = false;
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    line[len] = '\0';
    if (len > 0 && line[len - 1] == '\n')
        line[len - 1] = '\0';
    if (out != NULL)
        snprintf(out, outlen, "%s", line);
    return ok && strncmp(line, "error", 5) != 0;
}

void tu_proxy_stop(struct tu_proxy *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        int st;
        double end = tu_now() + 10.0;
        while (waitpid(p->pid, &st, WNOHANG) == 0) {
            if (tu_now() > end) {
                kill(p->pid, SIGKILL);
                waitpid(p->pid, &st, 0);
                break;
            }
            usleep(2000);
        }
        p->pid = 0;
    }
    if (p->dir[0] != '\0') {
        char path[256];
        snprintf(path, sizeof path, "%s/ports", p->dir);
        unlink(path);
        rmdir(p->dir);
        p->dir[0] = '\0';
    }
}
