/* SPDX-License-Identifier: BSD-2-Clause
 *
 * blipproxy: a TCP proxy for the test suite that sits between clients and condd and breaks
 * connections on command, so that network blips are deterministic without firewall rules.
 *
 *     blipproxy TARGET_PORT PORT_FILE
 *
 * listens on 127.0.0.1 (ephemeral) for clients, forwards each to 127.0.0.1:TARGET_PORT, and
 * listens on a second ephemeral port for commands. It writes "LISTEN_PORT CONTROL_PORT\n" to
 * PORT_FILE once both listen. A command is one line on a control connection; the answer line
 * ("ok", a number, or "error: ...") is written once the command has taken effect:
 *
 *   drop         close every proxied connection on both sides (the server sees end-of-file)
 *   reset        the same with TCP resets on both sides
 *   drop-client  close only the client sides; the server sides stay open and silent (the
 *                server does not notice: a resume must take the session over)
 *   stall        stop forwarding in both directions (bytes wait in the proxy)
 *   flow         forward again (after stall)
 *   refuse       close new client connections at once (the server looks unreachable)
 *   accept       accept them again (after refuse)
 *   count        the number of proxied connections with a client side open
 *   refused      the number of connections closed at once since the last refuse
 *   quit         exit
 *
 * For shell tests, "blipproxy --send CONTROL_PORT COMMAND" sends one command, prints the answer
 * and exits 0 (1 for an error answer or no answer).
 *
 * One thread and poll(2): every proxied socket is non-blocking, each direction keeps a bounded
 * buffer, and while stalled no proxied socket is polled at all (not even a hang-up passes). It
 * exits on SIGTERM, on "quit", or when its parent dies (stdin is not used).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BP_MAX_PAIRS 256
#define BP_MAX_CTL 8
#define BP_BUF 65536

struct bp_dir {
    char buf[BP_BUF];
    size_t len;
};

struct bp_pair {
    int cfd, sfd; /* client and server sides; -1 when closed */
    struct bp_dir c2s, s2c;
    bool server_only; /* drop-client: the server side is kept open, silent */
};

struct bp_ctl {
    int fd;
    char line[256];
    size_t len;
};

static struct bp_pair pairs[BP_MAX_PAIRS];
static struct bp_ctl ctls[BP_MAX_CTL];
static bool stalled, refusing;
static int nrefused; /* connections closed at once since the last refuse */
static volatile sig_atomic_t stop;
static int target_port;

static void bp_on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static int bp_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
        perror("blipproxy: listen");
        exit(1);
    }
    *port = ntohs(sin.sin_port);
    return fd;
}

static void bp_close_fd(int *fd, bool rst)
{
    if (*fd < 0)
        return;
    if (rst) {
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        setsockopt(*fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(*fd);
    *fd = -1;
}

static void bp_pair_close(struct bp_pair *p, bool rst)
{
    bp_close_fd(&p->cfd, rst);
    bp_close_fd(&p->sfd, rst);
    p->c2s.len = p->s2c.len = 0;
    p->server_only = false;
}

static void bp_accept(int lfd)
{
    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    if (refusing) {
        close(cfd);
        nrefused++;
        return;
    }
    struct bp_pair *p = NULL;
    for (int i = 0; i < BP_MAX_PAIRS && p == NULL; i++)
        if (pairs[i].cfd < 0 && pairs[i].sfd < 0)
            p = &pairs[i];
    /* The server side is connected blocking (loopback: immediate), then made non-blocking. */
    int sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                              .sin_port = htons((uint16_t)target_port)};
    if (p == NULL || sfd < 0 || connect(sfd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        close(cfd);
        if (sfd >= 0)
            close(sfd);
        return;
    }
    fcntl(sfd, F_SETFL, fcntl(sfd, F_GETFL) | O_NONBLOCK);
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    p->cfd = cfd;
    p->sfd = sfd;
    p->c2s.len = p->s2c.len = 0;
    p->server_only = false;
}

/* Moves bytes from fd into d; false when fd reached end-of-file or failed. */
static bool bp_read(int fd, struct bp_dir *d)
{
    if (d->len == BP_BUF)
        return true;
    ssize_t n = read(fd, d->buf + d->len, BP_BUF - d->len);
    if (n > 0) {
        d->len += (size_t)n;
        return true;
    }
    return n < 0 && (errno == EAGAIN || errno == EINTR);
}

static bool bp_write(int fd, struct bp_dir *d)
{
    if (d->len == 0)
        return true;
    ssize_t n = write(fd, d->buf, d->len);
    if (n > 0) {
        memmove(d->buf, d->buf + n, d->len - (size_t)n);
        d->len -= (size_t)n;
        return true;
    }
    return n < 0 && (errno == EAGAIN || errno == EINTR);
}

static void bp_reply(struct bp_ctl *c, const char *text)
{
    size_t n = strlen(text);
    /* Control answers are short; a blocking-ish loop on a local socket is fine here. */
    while (n > 0) {
        ssize_t w = write(c->fd, text, n);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (w <= 0)
            return;
        text += w;
        n -= (size_t)w;
    }
}

static void bp_command(struct bp_ctl *c, const char *cmd)
{
    if (strcmp(cmd, "drop") == 0 || strcmp(cmd, "reset") == 0) {
        for (int i = 0; i < BP_MAX_PAIRS; i++)
            bp_pair_close(&pairs[i], cmd[0] == 'r');
    } else if (strcmp(cmd, "drop-client") == 0) {
        for (int i = 0; i < BP_MAX_PAIRS; i++) {
            if (pairs[i].cfd >= 0) {
                bp_close_fd(&pairs[i].cfd, false);
                pairs[i].server_only = true;
            }
        }
    } else if (strcmp(cmd, "stall") == 0) {
        stalled = true;
    } else if (strcmp(cmd, "flow") == 0) {
        stalled = false;
    } else if (strcmp(cmd, "refuse") == 0) {
        refusing = true;
        nrefused = 0;
    } else if (strcmp(cmd, "accept") == 0) {
        refusing = false;
    } else if (strcmp(cmd, "count") == 0) {
        int n = 0;
        for (int i = 0; i < BP_MAX_PAIRS; i++)
            n += pairs[i].cfd >= 0;
        char out[32];
        snprintf(out, sizeof out, "%d\n", n);
        bp_reply(c, out);
        return;
    } else if (strcmp(cmd, "refused") == 0) {
        char out[32];
        snprintf(out, sizeof out, "%d\n", nrefused);
        bp_reply(c, out);
        return;
    } else if (strcmp(cmd, "quit") == 0) {
        stop = 1;
    } else {
        bp_reply(c, "error: unknown command\n");
        return;
    }
    bp_reply(c, "ok\n");
}

static void bp_ctl_input(struct bp_ctl *c)
{
    ssize_t n = read(c->fd, c->line + c->len, sizeof c->line - 1 - c->len);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        close(c->fd);
        c->fd = -1;
        c->len = 0;
        return;
    }
    c->len += (size_t)n;
    char *nl;
    while ((nl = memchr(c->line, '\n', c->len)) != NULL) {
        *nl = '\0';
        if (nl > c->line && nl[-1] == '\r')
            nl[-1] = '\0';
        bp_command(c, c->line);
        size_t used = (size_t)(nl + 1 - c->line);
        memmove(c->line, nl + 1, c->len - used);
        c->len -= used;
    }
    if (c->len == sizeof c->line - 1) {
        bp_reply(c, "error: line too long\n");
        c->len = 0;
    }
}

/* --send: one command to a running proxy. */
static int bp_send(const char *port, const char *cmd)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                              .sin_port = htons((uint16_t)atoi(port))};
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        perror("blipproxy --send");
        return 1;
    }
    char line[256];
    snprintf(line, sizeof line, "%s\n", cmd);
    if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
        return 1;
    size_t len = 0;
    while (len < sizeof line - 1 && (len == 0 || line[len - 1] != '\n')) {
        ssize_t n = read(fd, line + len, sizeof line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    line[len] = '\0';
    fputs(line, stdout);
    return len > 0 && strncmp(line, "error", 5) != 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--send") == 0)
        return bp_send(argv[2], argv[3]);
    if (argc != 3 || (target_port = atoi(argv[1])) <= 0 || target_port > 65535) {
        fprintf(stderr, "usage: blipproxy TARGET_PORT PORT_FILE\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = bp_on_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    for (int i = 0; i < BP_MAX_PAIRS; i++)
        pairs[i].cfd = pairs[i].sfd = -1;
    for (int i = 0; i < BP_MAX_CTL; i++)
        ctls[i].fd = -1;
    int lport, cport;
    int lfd = bp_listen(&lport), cfd = bp_listen(&cport);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%d %d\n", lport, cport) < 0 || fclose(f) != 0 ||
        rename(tmp, argv[2]) != 0) {
        perror("blipproxy: port file");
        return 1;
    }
    pid_t parent = getppid();
    while (!stop) {
        if (getppid() != parent)
            break; /* the test that started us is gone */
        struct pollfd pfd[2 + BP_MAX_CTL + 2 * BP_MAX_PAIRS];
        int where[2 + BP_MAX_CTL + 2 * BP_MAX_PAIRS];
        int n = 0;
        pfd[n] = (struct pollfd){.fd = lfd, .events = POLLIN};
        where[n++] = -1;
        pfd[n] = (struct pollfd){.fd = cfd, .events = POLLIN};
        where[n++] = -2;
        for (int i = 0; i < BP_MAX_CTL; i++) {
            if (ctls[i].fd >= 0) {
                pfd[n] = (struct pollfd){.fd = ctls[i].fd, .events = POLLIN};
                where[n++] = 1000 + i;
            }
        }
        for (int i = 0; i < BP_MAX_PAIRS && !stalled; i++) {
            struct bp_pair *p = &pairs[i];
            if (p->cfd >= 0) {
                short ev = 0;
                if (p->c2s.len < BP_BUF)
                    ev |= POLLIN;
                if (p->s2c.len > 0)
                    ev |= POLLOUT;
                pfd[n] = (struct pollfd){.fd = p->cfd, .events = ev};
                where[n++] = 2000 + i;
            }
            if (p->sfd >= 0) {
                short ev = 0;
                /* A server side kept after drop-client is read (and discarded) only to notice
                 * the server closing it. */
                if (p->s2c.len < BP_BUF || p->server_only)
                    ev |= POLLIN;
                if (p->c2s.len > 0 && !p->server_only)
                    ev |= POLLOUT;
                pfd[n] = (struct pollfd){.fd = p->sfd, .events = ev};
                where[n++] = 3000 + i;
            }
        }
        int pr = poll(pfd, (nfds_t)n, 200);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0)
            continue;
        for (int k = 0; k < n; k++) {
            if (pfd[k].revents == 0)
                continue;
            int w = where[k];
            if (w == -1) {
                bp_accept(lfd);
            } else if (w == -2) {
                int fd = accept4(cfd, NULL, NULL, SOCK_CLOEXEC);
                int slot = -1;
                for (int i = 0; i < BP_MAX_CTL && slot < 0; i++)
                    if (ctls[i].fd < 0)
                        slot = i;
                if (fd >= 0 && slot < 0)
                    close(fd);
                else if (fd >= 0)
                    ctls[slot] = (struct bp_ctl){.fd = fd};
            } else if (w >= 1000 && w < 2000) {
                if (ctls[w - 1000].fd >= 0)
                    bp_ctl_input(&ctls[w - 1000]);
            } else if (w >= 2000 && w < 3000) {
                struct bp_pair *p = &pairs[w - 2000];
                if (p->cfd != pfd[k].fd)
                    continue; /* closed by a command or the other side this turn */
                bool ok = true;
                if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
                    ok = bp_read(p->cfd, &p->c2s);
                if (ok && (pfd[k].revents & POLLOUT))
                    ok = bp_write(p->cfd, &p->s2c);
                if (!ok) {
                    /* Pass what the client sent on before the close, best effort. */
                    if (p->sfd >= 0)
                        bp_write(p->sfd, &p->c2s);
                    bp_pair_close(p, false);
                }
            } else {
                struct bp_pair *p = &pairs[w - 3000];
                if (p->sfd != pfd[k].fd)
                    continue;
                bool ok = true;
                if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                    ok = bp_read(p->sfd, &p->s2c);
                    if (p->server_only)
                        p->s2c.len = 0;
                }
                if (ok && (pfd[k].revents & POLLOUT))
                    ok = bp_write(p->sfd, &p->c2s);
                if (!ok) {
                    if (p->cfd >= 0)
                        bp_write(p->cfd, &p->s2c);
                    bp_pair_close(p, false);
                }
            }
        }
    }
    for (int i = 0; i < BP_MAX_PAIRS; i++)
        bp_pair_close(&pairs[i], false);
    for (int i = 0; i < BP_MAX_CTL; i++)
        if (ctls[i].fd >= 0)
            close(ctls[i].fd);
    close(lfd);
    close(cfd);
    return 0;
}
