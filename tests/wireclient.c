/* SPDX-License-Identifier: BSD-2-Clause
 *
 * A blocking test client over the frame codec (see wireclient.h).
 */
#include "config.h"

#include "wireclient.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "frame.h"
#include "testutil.h"

static struct wc *wc_wrap(int fd)
{
    if (fd < 0)
        return NULL;
    struct wc *w = calloc(1, sizeof *w);
    if (w == NULL) {
        close(fd);
        return NULL;
    }
    w->fd = fd;
    return w;
}

struct wc *wc_connect(int port)
{
    return wc_wrap(tu_connect(port));
}

struct wc *wc_connect_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (fd < 0 || strlen(path) >= sizeof sun.sun_path)
        goto fail;
    strcpy(sun.sun_path, path);
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0)
        goto fail;
    return wc_wrap(fd);
fail:
    if (fd >= 0)
        close(fd);
    return NULL;
}

void wc_close(struct wc *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->nstash; i++)
        condd__v1__response__free_unpacked(w->stash[i], NULL);
    close(w->fd);
    free(w->buf);
    free(w);
}

bool wc_send_raw(struct wc *w, const void *bytes, size_t len)
{
    const uint8_t *p = bytes;
    while (len > 0) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

int wc_take_request(uint8_t *buf, size_t *len, Condd__V1__Request **req)
{
    size_t plen = 0, used = 0;
    *req = NULL;
    if (frame_peek(buf, *len, UINT32_MAX, &plen) != FRAME_OK)
        return 0;
    if (frame_decode_request(buf, *len, UINT32_MAX, NULL, req, &used) != FRAME_OK)
        return -1;
    memmove(buf, buf + used, *len - used);
    *len -= used;
    return 1;
}

bool wc_send(struct wc *w, const Condd__V1__Request *req)
{
    Condd__V1__Request acked;
    if (w->ack != 0) {
        acked = *req;
        acked.ack = w->ack;
        req = &acked;
    }
    size_t n = frame_encoded_size(&req->base);
    uint8_t *buf = malloc(n);
    if (buf == NULL)
        return false;
    frame_encode(&req->base, buf);
    bool ok = wc_send_raw(w, buf, n);
    free(buf);
    return ok;
}

/* Reads more bytes, waiting at most timeout_s. Returns >0 bytes read, 0 on EOF, -1 timeout. */
static ssize_t wc_fill(struct wc *w, double timeout_s)
{
    struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
    int ms = timeout_s <= 0 ? 0 : (int)(timeout_s * 1000) + 1;
    int pr = poll(&pfd, 1, ms);
    if (pr <= 0)
        return -1;
    if (w->cap - w->len < 65536) {
        size_t cap = w->cap * 2 + 65536;
        uint8_t *nb = realloc(w->buf, cap);
        if (nb == NULL)
            return -1;
        w->buf = nb;
        w->cap = cap;
    }
    ssize_t n = read(w->fd, w->buf + w->len, w->cap - w->len);
    if (n < 0)
        return errno == ECONNRESET ? 0 : -1;
    w->len += (size_t)n;
    return n;
}

/* Next frame from the socket (not the stash). */
static Condd__V1__Response *wc_read_frame(struct wc *w, double timeout_s)
{
    double end = tu_now() + timeout_s;
    for (;;) {
        Condd__V1__Response *r;
        size_t used;
        enum frame_result fr =
            frame_decode_response(w->buf, w->len, FRAME_CLIENT_MAX_BYTES, NULL, &r, &used);
        if (fr == FRAME_OK) {
            memmove(w->buf, w->buf + used, w->len - used);
            w->len -= used;
            return r;
        }
        if (fr != FRAME_NEED_MORE)
            return NULL;
        double left = end - tu_now();
        if (left <= 0 || wc_fill(w, left) <= 0)
            return NULL;
    }
}

Condd__V1__Response *wc_recv(struct wc *w, double timeout_s)
{
    if (w->nstash > 0) {
        Condd__V1__Response *r = w->stash[0];
        memmove(w->stash, w->stash + 1, (w->nstash - 1) * sizeof w->stash[0]);
        w->nstash--;
        return r;
    }
    return wc_read_frame(w, timeout_s);
}

Condd__V1__Response *wc_recv_id(struct wc *w, uint64_t id, double timeout_s)
{
    for (size_t i = 0; i < w->nstash; i++) {
        if (w->stash[i]->id == id) {
            Condd__V1__Response *r = w->stash[i];
            memmove(w->stash + i, w->stash + i + 1, (w->nstash - i - 1) * sizeof w->stash[0]);
            w->nstash--;
            return r;
        }
    }
    double end = tu_now() + timeout_s;
    for (;;) {
        double left = end - tu_now();
        Condd__V1__Response *r = wc_read_frame(w, left > 0 ? left : 0);
        if (r == NULL)
            return NULL;
        if (r->id == id)
            return r;
        if (w->nstash == WC_STASH) {
            condd__v1__response__free_unpacked(r, NULL);
            return NULL;
        }
        w->stash[w->nstash++] = r;
    }
}

bool wc_wait_closed(struct wc *w, double timeout_s)
{
    double end = tu_now() + timeout_s;
    for (;;) {
        double left = end - tu_now();
        if (left <= 0)
            return false;
        ssize_t n = wc_fill(w, left);
        if (n == 0)
            return true;
        if (n < 0)
            return false;
        w->len = 0; /* discard whatever came before the close */
    }
}

/* Ping ids that no test uses for its own requests. */
#define WC_BARRIER_ID_BASE 0x7fff000000000000ull

bool wc_nothing_before_ping(struct wc *w)
{
    if (w->nstash > 0)
        return false;
    uint64_t id = WC_BARRIER_ID_BASE + w->barriers++;
    if (!wc_ping(w, id))
        return false;
    Condd__V1__Response *r = wc_read_frame(w, 10.0);
    if (r == NULL)
        return false;
    if (r->id == id && r->status == CONDD__V1__STATUS__STATUS_OK) {
        condd__v1__response__free_unpacked(r, NULL);
        return true;
    }
    /* Something came first: keep it for the caller, and drop the barrier's own answer. */
    w->stash[w->nstash++] = r;
    Condd__V1__Response *pong = wc_recv_id(w, id, 10.0);
    if (pong != NULL)
        condd__v1__response__free_unpacked(pong, NULL);
    return false;
}

/* ------------------------------------------------------------------ request helpers */

#define WC_REQ(var, idv)                                                                           \
    Condd__V1__Request var = CONDD__V1__REQUEST__INIT;                                             \
    var.id = (idv)

static ProtobufCBinaryData wc_bytes(const char *s)
{
    ProtobufCBinaryData b = {.len = s != NULL ? strlen(s) : 0, .data = (uint8_t *)s};
    return b;
}

bool wc_hello(struct wc *w, uint64_t id, uint32_t version, const char *name)
{
    WC_REQ(req, id);
    Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
    h.protocol_version = version;
    h.client_name = (char *)name;
    req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
    req.hello = &h;
    return wc_send(w, &req);
}

bool wc_hello_resume(struct wc *w, uint64_t id, const char *name, double grace, uint64_t resume,
                     const uint8_t *secret, size_t secret_len)
{
    WC_REQ(req, id);
    Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
    h.protocol_version = 1;
    h.client_name = (char *)name;
    h.grace_s = grace;
    h.resume_session = resume;
    h.resume_secret.data = (uint8_t *)secret;
    h.resume_secret.len = secret != NULL ? secret_len : 0;
    req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
    req.hello = &h;
    return wc_send(w, &req);
}

bool wc_ping(struct wc *w, uint64_t id)
{
    WC_REQ(req, id);
    Condd__V1__Ping p = CONDD__V1__PING__INIT;
    req.body_case = CONDD__V1__REQUEST__BODY_PING;
    req.ping = &p;
    return wc_send(w, &req);
}

bool wc_acquire(struct wc *w, uint64_t id, const char *lock, uint64_t owner, double timeout)
{
    WC_REQ(req, id);
    Condd__V1__Acquire a = CONDD__V1__ACQUIRE__INIT;
    Condd__V1__Timeout t = CONDD__V1__TIMEOUT__INIT;
    a.lock = wc_bytes(lock);
    a.owner = owner;
    if (timeout >= 0) {
        t.seconds = timeout;
        a.timeout = &t;
    }
    req.body_case = CONDD__V1__REQUEST__BODY_ACQUIRE;
    req.acquire = &a;
    return wc_send(w, &req);
}

bool wc_release(struct wc *w, uint64_t id, const char *lock, uint64_t owner)
{
    WC_REQ(req, id);
    Condd__V1__Release r = CONDD__V1__RELEASE__INIT;
    r.lock = wc_bytes(lock);
    r.owner = owner;
    req.body_case = CONDD__V1__REQUEST__BODY_RELEASE;
    req.release = &r;
    return wc_send(w, &req);
}

bool wc_locked(struct wc *w, uint64_t id, const char *lock)
{
    WC_REQ(req, id);
    Condd__V1__Locked l = CONDD__V1__LOCKED__INIT;
    l.lock = wc_bytes(lock);
    req.body_case = CONDD__V1__REQUEST__BODY_LOCKED;
    req.locked = &l;
    return wc_send(w, &req);
}

bool wc_wait(struct wc *w, uint64_t id, const char *cond, const char *lock, uint64_t owner,
             double timeout)
{
    WC_REQ(req, id);
    Condd__V1__Wait m = CONDD__V1__WAIT__INIT;
    Condd__V1__Timeout t = CONDD__V1__TIMEOUT__INIT;
    m.condition = wc_bytes(cond);
    m.lock = wc_bytes(lock);
    m.owner = owner;
    if (timeout >= 0) {
        t.seconds = timeout;
        m.timeout = &t;
    }
    req.body_case = CONDD__V1__REQUEST__BODY_WAIT;
    req.wait = &m;
    return wc_send(w, &req);
}

bool wc_notify(struct wc *w, uint64_t id, const char *cond, const char *lock, uint64_t owner,
               uint64_t n)
{
    WC_REQ(req, id);
    Condd__V1__Notify m = CONDD__V1__NOTIFY__INIT;
    m.condition = wc_bytes(cond);
    m.lock = wc_bytes(lock);
    m.owner = owner;
    m.n = n;
    req.body_case = CONDD__V1__REQUEST__BODY_NOTIFY;
    req.notify = &m;
    return wc_send(w, &req);
}

bool wc_notify_all(struct wc *w, uint64_t id, const char *cond, const char *lock, uint64_t owner)
{
    WC_REQ(req, id);
    Condd__V1__NotifyAll m = CONDD__V1__NOTIFY_ALL__INIT;
    m.condition = wc_bytes(cond);
    m.lock = wc_bytes(lock);
    m.owner = owner;
    req.body_case = CONDD__V1__REQUEST__BODY_NOTIFY_ALL;
    req.notify_all = &m;
    return wc_send(w, &req);
}

bool wc_cancel(struct wc *w, uint64_t id, uint64_t target)
{
    WC_REQ(req, id);
    Condd__V1__Cancel m = CONDD__V1__CANCEL__INIT;
    m.target_id = target;
    req.body_case = CONDD__V1__REQUEST__BODY_CANCEL;
    req.cancel = &m;
    return wc_send(w, &req);
}

bool wc_stats(struct wc *w, uint64_t id)
{
    WC_REQ(req, id);
    Condd__V1__Stats m = CONDD__V1__STATS__INIT;
    req.body_case = CONDD__V1__REQUEST__BODY_STATS;
    req.stats = &m;
    return wc_send(w, &req);
}

bool wc_list(struct wc *w, uint64_t id, const char *prefix)
{
    WC_REQ(req, id);
    Condd__V1__List m = CONDD__V1__LIST__INIT;
    m.prefix = wc_bytes(prefix);
    req.body_case = CONDD__V1__REQUEST__BODY_LIST;
    req.list = &m;
    return wc_send(w, &req);
}

struct wc *wc_session(int port, const char *name)
{
    struct wc *w = wc_connect(port);
    if (w == NULL)
        return NULL;
    Condd__V1__Response *r = NULL;
    if (!wc_hello(w, 1, 1, name) || (r = wc_recv_id(w, 1, 10.0)) == NULL ||
        r->status != CONDD__V1__STATUS__STATUS_OK) {
        if (r != NULL)
            condd__v1__response__free_unpacked(r, NULL);
        wc_close(w);
        return NULL;
    }
    condd__v1__response__free_unpacked(r, NULL);
    return w;
}

int wc_status(struct wc *w, uint64_t id, double timeout_s)
{
    Condd__V1__Response *r = wc_recv_id(w, id, timeout_s);
    if (r == NULL)
        return -1;
    int st = r->status;
    condd__v1__response__free_unpacked(r, NULL);
    return st;
}
