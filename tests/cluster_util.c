/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Several condd on loopback ports known before any starts (see cluster_util.h): bind, then hand
 * each socket to its daemon by socket activation.
 */
#include "config.h"

#include "cluster_util.h"
#include "route.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A listening TCP socket on 127.0.0.1 (close-on-exec), or -1: on *port, or on an ephemeral port
 * (written to *port) when *port is 0. */
static int tu_cluster_bind(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1; /* the port of a stopped daemon, whose connections may linger in TIME_WAIT */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static bool tu_cluster_read_port(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    int p = 0;
    bool ok = fscanf(f, "%d", &p) == 1 && p > 0;
    fclose(f);
    return ok;
}

/* Starts one daemon on listening socket fd (which the caller closes afterwards). */
static bool tu_cluster_spawn(struct tu_daemon *d, int fd, const char *list,
                             const char *const *extra)
{
    snprintf(d->dir, sizeof d->dir, "/tmp/condd-cluster-XXXXXX");
    if (mkdtemp(d->dir) == NULL) {
        d->dir[0] = '\0';
        return false;
    }
    char portfile[256];
    snprintf(portfile, sizeof portfile, "%s/port", d->dir);
    const char *argv[64];
    int argc = 0;
    argv[argc++] = tu_condd_path();
    argv[argc++] = "--port-file";
    argv[argc++] = portfile;
    argv[argc++] = "--log-level";
    argv[argc++] = "warning";
    if (list[0] != '\0') {
        argv[argc++] = "--cluster";
        argv[argc++] = list;
        argv[argc++] = "--cluster-self";
        argv[argc++] = d->addr;
    }
    for (int i = 0; extra != NULL && extra[i] != NULL && argc < 62; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        /* The socket becomes fd 3 (SD_LISTEN_FDS_START), inherited; LISTEN_PID is this
         * process, which exec keeps. */
        if (fd == 3)
            fcntl(fd, F_SETFD, 0);
        else if (dup2(fd, 3) != 3)
            _exit(127);
        char pidbuf[32];
        snprintf(pidbuf, sizeof pidbuf, "%ld", (long)getpid());
        setenv("LISTEN_PID", pidbuf, 1);
        setenv("LISTEN_FDS", "1", 1);
        unsetenv("LISTEN_FDNAMES");
        unsetenv("NOTIFY_SOCKET");
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "cluster_util: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    d->pid = pid;
    double end = tu_now() + 20.0;
    while (tu_now() < end) {
        if (tu_cluster_read_port(portfile))
            return true;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            d->pid = 0;
            return false;
        }
        usleep(2000);
    }
    return false;
}

bool tu_cluster_start(struct tu_cluster *cl, int n, const char *cluster_list,
                      const char *const *extra_args)
{
    memset(cl, 0, sizeof *cl);
    if (n < 1 || n > TU_CLUSTER_MAX)
        return false;
    int fds[TU_CLUSTER_MAX];
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        cl->d[i].port = 0;
        fds[i] = tu_cluster_bind(&cl->d[i].port);
        if (fds[i] < 0) {
            while (i-- > 0)
                close(fds[i]);
            return false;
        }
        snprintf(cl->d[i].addr, sizeof cl->d[i].addr, "127.0.0.1:%d", cl->d[i].port);
        used += (size_t)snprintf(cl->list + used, sizeof cl->list - used, "%s%s", i > 0 ? "," : "",
                                 cl->d[i].addr);
    }
    cl->n = n; /* from here tu_cluster_stop() cleans up */
    bool ok = true;
    for (int i = 0; i < n; i++) {
        if (ok)
            ok = tu_cluster_spawn(&cl->d[i], fds[i], cluster_list != NULL ? cluster_list : cl->list,
                                  extra_args);
        close(fds[i]);
    }
    if (!ok)
        tu_cluster_stop(cl);
    return ok;
}

bool tu_cluster_restart(struct tu_cluster *cl, int i, const char *const *extra_args)
{
    if (i < 0 || i >= cl->n || cl->d[i].pid != 0)
        return false;
    int fd = tu_cluster_bind(&cl->d[i].port);
    if (fd < 0)
        return false;
    bool ok = tu_cluster_spawn(&cl->d[i], fd, cl->list, extra_args);
    close(fd);
    return ok;
}

void tu_cluster_stop(struct tu_cluster *cl)
{
    /* With pid 0 (never started, or already gone) this only removes the directory. */
    for (int i = 0; i < cl->n; i++)
        tu_daemon_stop(&cl->d[i]);
    cl->n = 0;
}

size_t tu_cluster_owner(const struct tu_cluster *cl, const char *name)
{
    struct route_list l;
    char why[256];
    if (!route_list_parse(cl->list, 7380, &l, why, sizeof why)) {
        fprintf(stderr, "cluster_util: %s\n", why);
        abort();
    }
    size_t i = route_pick(&l, (const uint8_t *)name, strlen(name));
    route_list_free(&l);
    return i;
}

bool tu_cluster_name(const struct tu_cluster *cl, size_t server, bool on, const char *prefix,
                     char *out, size_t len)
{
    for (int i = 0; i < 10000; i++) {
        snprintf(out, len, "%s-%d", prefix, i);
        if ((tu_cluster_owner(cl, out) == server) == on)
            return true;
    }
    return false;
}
