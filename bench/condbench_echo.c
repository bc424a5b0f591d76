/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condbench's echo target: the loopback floor. An "acquire" is one length-prefixed frame of
 * --echo-bytes payload written to bench/echo-server and the wait until all of its bytes have come
 * back; the "release" costs nothing. So one cycle is exactly one round trip carrying about what a
 * condd cycle carries (condd sends an Acquire and a Release frame, some 45 bytes, and gets two
 * replies), with the cheapest client there is: plain libevent events, one write(2) per request
 * and one read(2) per reply. No lock server on loopback can beat it.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condd/condd.h>

#include "address.h"
#include "condbench.h"

struct echo_conn {
    int fd;
    struct event *rd;
    struct event *wr; /* connect completion, then short writes */
    uint8_t *frame;   /* the request: 4-byte big-endian length + payload */
    size_t frame_len;
    size_t out_off; /* bytes of the current frame written (frame_len: all) */
    size_t expect;  /* bytes still to come back for the current request */
    bool connecting;
};

static void echo_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct bench_conn *cn = arg;
    struct echo_conn *e = cn->impl;
    uint8_t buf[16384];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        event_del(e->rd);
        loop_fail(cn, n == 0 ? "echo server closed the connection" : strerror(errno));
        return;
    }
    if (n < 0)
        return;
    if ((size_t)n > e->expect) {
        event_del(e->rd);
        loop_fail(cn, "echo server sent more than was asked");
        return;
    }
    e->expect -= (size_t)n;
    if (e->expect == 0 && cn->busy)
        loop_granted(cn, true, NULL);
}

static void echo_flush(struct bench_conn *cn)
{
    struct echo_conn *e = cn->impl;
    while (e->out_off < e->frame_len) {
        ssize_t n = write(e->fd, e->frame + e->out_off, e->frame_len - e->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            event_add(e->wr, NULL);
            return;
        }
        if (n < 0) {
            loop_fail(cn, strerror(errno));
            return;
        }
        e->out_off += (size_t)n;
    }
}

static void echo_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct bench_conn *cn = arg;
    struct echo_conn *e = cn->impl;
    if (e->connecting) {
        e->connecting = false;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err != 0) {
            loop_connected(cn, false, strerror(err));
            return;
        }
        event_add(e->rd, NULL);
        loop_connected(cn, true, NULL);
        return;
    }
    echo_flush(cn);
}

static bool echo_open(struct bench_conn *cn)
{
    struct addr_parts ap;
    if (!addr_split(g_opts.address, 0, CONDD_DEFAULT_PORT, &ap) || ap.kind != ADDR_TCP) {
        bench_warn("echo: address must be HOST:PORT, got '%s'", g_opts.address);
        return false;
    }
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)ap.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    if (getaddrinfo(ap.host, portstr, &hints, &res) != 0) {
        bench_warn("echo: cannot resolve '%s'", ap.host);
        return false;
    }
    struct echo_conn *e = calloc(1, sizeof *e);
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (e == NULL || fd < 0) {
        free(e);
        freeaddrinfo(res);
        if (fd >= 0)
            close(fd);
        return false;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && errno != EINPROGRESS) {
        bench_warn("echo: connect %s: %s", g_opts.address, strerror(errno));
        close(fd);
        free(e);
        return false;
    }
    e->fd = fd;
    e->frame_len = 4 + g_opts.echo_bytes;
    e->out_off = e->frame_len;
    e->frame = calloc(1, e->frame_len);
    e->rd = event_new(cn->w->base, fd, EV_READ | EV_PERSIST, echo_on_read, cn);
    e->wr = event_new(cn->w->base, fd, EV_WRITE, echo_on_write, cn);
    if (e->frame == NULL || e->rd == NULL || e->wr == NULL) {
        bench_warn("echo: out of memory");
        if (e->rd != NULL)
            event_free(e->rd);
        if (e->wr != NULL)
            event_free(e->wr);
        free(e->frame);
        close(fd);
        free(e);
        return false;
    }
    uint32_t len = g_opts.echo_bytes;
    e->frame[0] = (uint8_t)(len >> 24);
    e->frame[1] = (uint8_t)(len >> 16);
    e->frame[2] = (uint8_t)(len >> 8);
    e->frame[3] = (uint8_t)len;
    memset(e->frame + 4, 'x', len);
    cn->impl = e;
    e->connecting = true;
    event_add(e->wr, NULL);
    return true;
}

static void echo_acquire(struct bench_conn *cn)
{
    struct echo_conn *e = cn->impl;
    e->expect = e->frame_len;
    e->out_off = 0;
    echo_flush(cn);
}

static void echo_release(struct bench_conn *cn)
{
    loop_released(cn, true, NULL);
}

static void echo_close(struct bench_conn *cn)
{
    struct echo_conn *e = cn->impl;
    if (e == NULL)
        return;
    event_free(e->rd);
    event_free(e->wr);
    close(e->fd);
    free(e->frame);
    free(e);
    cn->impl = NULL;
}

const struct target target_echo = {
    .name = "echo",
    .default_address = "127.0.0.1:7390",
    .modes = MODE_BIT(MODE_UNCONTENDED) | MODE_BIT(MODE_CHURN),
    .open = echo_open,
    .acquire = echo_acquire,
    .release = echo_release,
    .close = echo_close,
};
