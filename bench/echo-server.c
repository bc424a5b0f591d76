/* SPDX-License-Identifier: BSD-2-Clause
 *
 * echo-server: the loopback floor for condbench. A single-threaded, level-triggered epoll loop
 * that writes back every byte it reads, as it reads it: it does not parse frames (condbench's
 * echo target sends length-prefixed frames and counts the bytes that come back). Per message it
 * costs what any server on this machine must pay at least: epoll_wait, one read(2) and one
 * write(2). It keeps no state per connection except bytes the socket did not take yet.
 *
 *   echo-server [--listen HOST:PORT] [--port-file FILE]
 *
 * HOST:PORT defaults to 127.0.0.1:7390; port 0 picks a free port, which --port-file receives
 * (decimal and a newline) once the socket listens. SIGTERM or SIGINT stops it.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "address.h"

#define READ_CHUNK 65536

/* What one connection still has to write back (only after a short write). */
struct pending {
    char *buf;
    size_t len, off;
};

static struct pending *pend; /* indexed by descriptor */
static size_t npend;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int listen_on(const char *spec)
{
    struct addr_parts ap;
    if (!addr_split(spec, ADDR_LISTEN, 0, &ap)) {
        fprintf(stderr, "echo-server: --listen wants HOST:PORT or [IPV6]:PORT, got '%s'\n", spec);
        return -1;
    }
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)ap.port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res;
    int rc = getaddrinfo(ap.host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "echo-server: %s: %s\n", spec, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        fprintf(stderr, "echo-server: %s: %s\n", spec, strerror(errno));
        freeaddrinfo(res);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int write_port(int fd, const char *path)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    unsigned port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    /* Write then rename, so a reader never sees a half-written file. */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%u\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return -1;
    return 0;
}

static void drop(int ep, int fd)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    if ((size_t)fd < npend) {
        free(pend[fd].buf);
        pend[fd] = (struct pending){0};
    }
}

static struct pending *pending_of(int fd)
{
    if ((size_t)fd >= npend) {
        size_t n = npend ? npend : 64;
        while (n <= (size_t)fd)
            n *= 2;
        struct pending *p = realloc(pend, n * sizeof *p);
        if (p == NULL)
            return NULL;
        memset(p + npend, 0, (n - npend) * sizeof *p);
        pend = p;
        npend = n;
    }
    return &pend[fd];
}

/* Writes back buf[0..n); keeps what the socket did not take and waits for EPOLLOUT. */
static void echo_back(int ep, int fd, const char *buf, size_t n)
{
    ssize_t w = write(fd, buf, n);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
        drop(ep, fd);
        return;
    }
    size_t done = w > 0 ? (size_t)w : 0;
    if (done == n)
        return;
    struct pending *p = pending_of(fd);
    if (p == NULL || (p->buf = malloc(n - done)) == NULL) {
        drop(ep, fd);
        return;
    }
    memcpy(p->buf, buf + done, n - done);
    p->len = n - done;
    p->off = 0;
    /* Stop reading until the backlog is written: the peer is not reading either. */
    struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

static void flush_pending(int ep, int fd)
{
    struct pending *p = pending_of(fd);
    if (p == NULL || p->buf == NULL)
        return;
    ssize_t w = write(fd, p->buf + p->off, p->len - p->off);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
        drop(ep, fd);
        return;
    }
    if (w > 0)
        p->off += (size_t)w;
    if (p->off == p->len) {
        free(p->buf);
        *p = (struct pending){0};
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"port-file", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen_spec = "127.0.0.1:7390", *port_file = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "l:p:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            listen_spec = optarg;
            break;
        case 'p':
            port_file = optarg;
            break;
        case 'h':
            printf("Usage: echo-server [--listen HOST:PORT] [--port-file FILE]\n"
                   "Echo every byte back (condbench's loopback floor).\n");
            return 0;
        default:
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int lfd = listen_on(listen_spec);
    if (lfd < 0)
        return 1;
    if (port_file != NULL && write_port(lfd, port_file) != 0) {
        fprintf(stderr, "echo-server: cannot write %s: %s\n", port_file, strerror(errno));
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) {
        perror("echo-server: epoll");
        return 1;
    }
    static char buf[READ_CHUNK];
    struct epoll_event evs[256];
    while (!stop) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("echo-server: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    int one = 1;
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev) != 0)
                        close(cfd);
                }
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                flush_pending(ep, fd);
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r > 0)
                echo_back(ep, fd, buf, (size_t)r);
            else if (r == 0 || (errno != EAGAIN && errno != EINTR))
                drop(ep, fd);
        }
    }
    close(ep);
    close(lfd);
    return 0;
}
