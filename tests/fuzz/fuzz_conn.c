/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Fuzz target for the daemon's real connection path: a server from server_new() with the
 * default settings and no listener, and 1 to 3 socketpairs whose daemon ends go to conn_new(),
 * all driven by the real libevent loop (non-blocking passes until quiescent). The input is
 * either raw bytes for one connection (optionally after a valid Hello) or, structured, a
 * sequence of operations that build valid Request frames with protobuf-c (Hello, Acquire,
 * Release, Locked, Wait, Notify, NotifyAll, Cancel, Stats, List, bodiless requests, raw bytes,
 * close-and-reconnect), so the lock and condition paths run with contention between sessions.
 *
 * Invariants, any failure aborts: everything the daemon writes is a sequence of valid Response
 * frames; after EOF on every connection the daemon closes them all, and then no connection,
 * session, lock, waiter, condition or table entry is left and no event is pending on the loop.
 * Only server-level accessors and engine_get_stats() are used, so the harness survives
 * refactors of the connection and engine internals.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "engine.h"
#include "frame.h"
#include "fuzz.h"
#include "log.h"
#include "server.h"
#include "server_internal.h"
#include "settings.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_conn: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,      \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FUZZ_MAX_CONNS 3
#define FUZZ_MAX_OPS 512
#define FUZZ_MAX_REOPENS 8
/* Loop passes without progress before giving up on quiescence: a livelock is a bug too. */
#define FUZZ_MAX_PASSES 100000

/* The client side of one connection. */
struct fuzz_peer {
    int fd;        /* our end, -1 when closed */
    int daemon_fd; /* the end conn_new() took, for FIONREAD; -1 once the daemon closed it */
    bool eof_sent; /* shutdown(SHUT_WR) done, or the daemon stopped reading */
    uint64_t next_id;
    uint8_t *out; /* frames queued by operations, not yet written */
    size_t olen, ocap;
    uint8_t *in; /* replies received, not yet a whole frame */
    size_t ilen, icap;
};

struct fuzz {
    struct event_base *base;
    struct server *srv;
    struct fuzz_peer peers[FUZZ_MAX_CONNS];
    int npeers;
    int reopens;
    bool slept;
    bool debug;       /* CONDD_FUZZ_DEBUG set: log the daemon at debug level and every reply */
    const uint8_t *p; /* unread input */
    size_t n;
};

/* ------------------------------------------------------------------ input */

static uint8_t fuzz_u8(struct fuzz *f)
{
    if (f->n == 0)
        return 0;
    f->n--;
    return *f->p++;
}

/* ------------------------------------------------------------------ client side */

static void fuzz_append(uint8_t **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
    if (*cap - *len < n) {
        size_t c = *cap > 0 ? *cap : 256;
        while (c - *len < n)
            c *= 2;
        *buf = realloc(*buf, c);
        FUZZ_CHECK(*buf != NULL);
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
}

/* Reads what the daemon wrote to peer i and checks that it is a stream of Response frames.
 * Returns the number of bytes read. */
static size_t fuzz_drain(struct fuzz *f, struct fuzz_peer *pe)
{
    size_t total = 0;
    uint8_t buf[16384];
    while (pe->fd >= 0 && pe->daemon_fd >= 0) {
        ssize_t n = read(pe->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            /* The daemon closed its end (ECONNRESET if it left our bytes unread). */
            FUZZ_CHECK(n == 0 || errno == ECONNRESET);
            pe->daemon_fd = -1;
            pe->eof_sent = true;
            break;
        }
        total += (size_t)n;
        fuzz_append(&pe->in, &pe->ilen, &pe->icap, buf, (size_t)n);
    }
    size_t off = 0;
    while (off < pe->ilen) {
        Condd__V1__Response *resp;
        size_t used;
        enum frame_result r = frame_decode_response(pe->in + off, pe->ilen - off,
                                                    FRAME_CLIENT_MAX_BYTES, NULL, &resp, &used);
        if (r == FRAME_NEED_MORE)
            break;
        FUZZ_CHECK(r == FRAME_OK);
        FUZZ_CHECK(resp->status >= 0 && resp->status <= CONDD__V1__STATUS__STATUS_INTERNAL);
        if (f->debug)
            fprintf(stderr, "fuzz_conn: peer %d <- id %llu status %d result %d %s\n",
                    (int)(pe - f->peers), (unsigned long long)resp->id, (int)resp->status,
                    (int)resp->result_case, resp->message);
        condd__v1__response__free_unpacked(resp, NULL);
        off += used;
    }
    if (off > 0) {
        memmove(pe->in, pe->in + off, pe->ilen - off);
        pe->ilen -= off;
    }
    return total;
}

/* Bytes the daemon has not read yet from peer pe (0 once it closed its end). */
static int fuzz_unread(const struct fuzz_peer *pe)
{
    int n = 0;
    if (pe->daemon_fd < 0 || ioctl(pe->daemon_fd, FIONREAD, &n) != 0)
        return 0;
    return n;
}

/* Runs non-blocking loop passes until two in a row leave nothing active, nothing unread on the
 * daemon's sockets and nothing to drain on ours. */
static void fuzz_settle(struct fuzz *f)
{
    int quiet = 0;
    for (int pass = 0; quiet < 2; pass++) {
        FUZZ_CHECK(pass < FUZZ_MAX_PASSES);
        event_base_loop(f->base, EVLOOP_NONBLOCK);
        bool busy = event_base_get_num_events(f->base, EVENT_BASE_COUNT_ACTIVE) > 0;
        for (int i = 0; i < f->npeers; i++) {
            busy |= fuzz_drain(f, &f->peers[i]) > 0;
            busy |= fuzz_unread(&f->peers[i]) > 0;
        }
        quiet = busy ? 0 : quiet + 1;
    }
}

/* Writes peer pe's queued frames, letting the daemon run whenever the socket is full. */
static void fuzz_send(struct fuzz *f, struct fuzz_peer *pe)
{
    size_t off = 0;
    while (off < pe->olen && !pe->eof_sent) {
        ssize_t n = write(pe->fd, pe->out + off, pe->olen - off);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            fuzz_settle(f);
        } else if (n < 0 && errno != EINTR) {
            /* The daemon closed the connection (a protocol error, say): the rest is moot. */
            FUZZ_CHECK(errno == EPIPE || errno == ECONNRESET);
            pe->eof_sent = true;
        }
    }
    pe->olen = 0;
}

static void fuzz_flush_all(struct fuzz *f)
{
    for (int i = 0; i < f->npeers; i++)
        fuzz_send(f, &f->peers[i]);
    fuzz_settle(f);
}

static void fuzz_queue(struct fuzz_peer *pe, const Condd__V1__Request *req)
{
    size_t n = frame_encoded_size(&req->base);
    uint8_t *buf = malloc(n);
    FUZZ_CHECK(buf != NULL);
    frame_encode(&req->base, buf);
    fuzz_append(&pe->out, &pe->olen, &pe->ocap, buf, n);
    free(buf);
}

static void fuzz_queue_hello(struct fuzz_peer *pe, uint32_t version, double timeout,
                             const char *name)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Hello h = CONDD__V1__HELLO__INIT;
    h.protocol_version = version;
    h.session_timeout_s = timeout;
    h.client_name = (char *)name;
    req.id = pe->next_id++;
    req.body_case = CONDD__V1__REQUEST__BODY_HELLO;
    req.hello = &h;
    fuzz_queue(pe, &req);
}

static void fuzz_open(struct fuzz *f, struct fuzz_peer *pe, bool hello)
{
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    FUZZ_CHECK(conn_new(f->srv, sv[0], true, "fuzz") != NULL);
    pe->fd = sv[1];
    pe->daemon_fd = sv[0];
    pe->eof_sent = false;
    pe->next_id = 1;
    pe->olen = pe->ilen = 0;
    if (hello)
        fuzz_queue_hello(pe, CONDD_PROTOCOL_VERSION, 0, "fuzz");
}

/* EOF on pe, then runs the loop until the daemon has closed its end. */
static void fuzz_close(struct fuzz *f, struct fuzz_peer *pe)
{
    fuzz_send(f, pe);
    if (pe->fd < 0)
        return;
    shutdown(pe->fd, SHUT_WR);
    pe->eof_sent = true;
    for (int pass = 0; pe->daemon_fd >= 0; pass++) {
        FUZZ_CHECK(pass < FUZZ_MAX_PASSES); /* the daemon must close a connection at EOF */
        fuzz_settle(f);
    }
    close(pe->fd);
    pe->fd = -1;
}

/* ------------------------------------------------------------------ structured operations */

static const double fuzz_timeouts[8] = {0, 0, 3600, -1, NAN, INFINITY, 0.002, 1e300};

/* A timeout from the input: NULL (absent: forever) or one of fuzz_timeouts. */
static Condd__V1__Timeout *fuzz_timeout(struct fuzz *f, Condd__V1__Timeout *t)
{
    uint8_t x = fuzz_u8(f) % 8;
    if (x == 0)
        return NULL;
    t->seconds = fuzz_timeouts[x];
    return t;
}

/* A name from the input: mostly one of a few shared names so that sessions contend, sometimes
 * an invalid or unusual one, or bytes taken from the input. buf holds ENGINE_NAME_MAX + 2. */
static ProtobufCBinaryData fuzz_name(struct fuzz *f, uint8_t *buf)
{
    static const char *const common[] = {"a", "b", "c", "q/1"};
    uint8_t x = fuzz_u8(f);
    ProtobufCBinaryData d = {0, buf};
    if (x < 240) {
        d.len = strlen(common[x % 4]);
        memcpy(buf, common[x % 4], d.len);
    } else if (x == 240) {
        d.len = 0;
    } else if (x == 241) {
        d.len = 2;
        memcpy(buf, "\0x", 2);
    } else if (x == 242) {
        d.len = 2;
        memcpy(buf, "\xff\xfe", 2);
    } else if (x == 243 || x == 244) {
        d.len = ENGINE_NAME_MAX + (size_t)(x - 243); /* the longest valid name, one more */
        memset(buf, 'n', d.len);
    } else {
        d.len = fuzz_u8(f) % 16;
        for (size_t i = 0; i < d.len; i++)
            buf[i] = fuzz_u8(f);
    }
    return d;
}

enum fuzz_op {
    FUZZ_OP_HELLO,
    FUZZ_OP_PING,
    FUZZ_OP_ACQUIRE,
    FUZZ_OP_RELEASE,
    FUZZ_OP_LOCKED,
    FUZZ_OP_WAIT,
    FUZZ_OP_NOTIFY,
    FUZZ_OP_NOTIFY_ALL,
    FUZZ_OP_CANCEL,
    FUZZ_OP_STATS,
    FUZZ_OP_LIST,
    FUZZ_OP_NO_BODY,
    FUZZ_OP_RAW,
    FUZZ_OP_SETTLE,
    FUZZ_OP_SLEEP,
    FUZZ_OP_RECONNECT,
    FUZZ_OP_COUNT
};

static void fuzz_on_sleep(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

/* Lets real time pass (once per input) so that short timeouts fire. */
static void fuzz_sleep(struct fuzz *f)
{
    if (f->slept)
        return;
    f->slept = true;
    fuzz_flush_all(f);
    bool fired = false;
    struct event *ev = evtimer_new(f->base, fuzz_on_sleep, &fired);
    FUZZ_CHECK(ev != NULL);
    struct timeval tv = {0, 5000};
    evtimer_add(ev, &tv);
    while (!fired)
        event_base_loop(f->base, EVLOOP_ONCE);
    event_free(ev);
    fuzz_settle(f);
}

/* One operation: an op byte (low 6 bits: what, top 2 bits: which connection), then its
 * arguments. Request frames are queued and sent at the next settle point. */
static void fuzz_step(struct fuzz *f)
{
    static uint8_t name1[ENGINE_NAME_MAX + 2], name2[ENGINE_NAME_MAX + 2];
    uint8_t op = fuzz_u8(f);
    struct fuzz_peer *pe = &f->peers[(op >> 6) % f->npeers];
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Timeout to = CONDD__V1__TIMEOUT__INIT;
    union {
        Condd__V1__Ping ping;
        Condd__V1__Acquire acquire;
        Condd__V1__Release release;
        Condd__V1__Locked locked;
        Condd__V1__Wait wait;
        Condd__V1__Notify notify;
        Condd__V1__NotifyAll notify_all;
        Condd__V1__Cancel cancel;
        Condd__V1__Stats stats;
        Condd__V1__List list;
    } b;
    req.id = pe->next_id++;
    switch ((enum fuzz_op)((op & 0x3f) % FUZZ_OP_COUNT)) {
    case FUZZ_OP_HELLO: {
        uint8_t v = fuzz_u8(f);
        uint8_t t = fuzz_u8(f) % 8;
        fuzz_queue_hello(pe, v < 250 ? CONDD_PROTOCOL_VERSION : v - 248u,
                         t < 2 ? 0 : fuzz_timeouts[t], (v & 1) ? "fuzz\x01\xc3\xa9" : "");
        return;
    }
    case FUZZ_OP_PING:
        condd__v1__ping__init(&b.ping);
        req.body_case = CONDD__V1__REQUEST__BODY_PING;
        req.ping = &b.ping;
        break;
    case FUZZ_OP_ACQUIRE:
        condd__v1__acquire__init(&b.acquire);
        b.acquire.lock = fuzz_name(f, name1);
        b.acquire.owner = fuzz_u8(f) % 3;
        b.acquire.timeout = fuzz_timeout(f, &to);
        req.body_case = CONDD__V1__REQUEST__BODY_ACQUIRE;
        req.acquire = &b.acquire;
        break;
    case FUZZ_OP_RELEASE:
        condd__v1__release__init(&b.release);
        b.release.lock = fuzz_name(f, name1);
        b.release.owner = fuzz_u8(f) % 3;
        req.body_case = CONDD__V1__REQUEST__BODY_RELEASE;
        req.release = &b.release;
        break;
    case FUZZ_OP_LOCKED:
        condd__v1__locked__init(&b.locked);
        b.locked.lock = fuzz_name(f, name1);
        req.body_case = CONDD__V1__REQUEST__BODY_LOCKED;
        req.locked = &b.locked;
        break;
    case FUZZ_OP_WAIT:
        condd__v1__wait__init(&b.wait);
        b.wait.condition = fuzz_name(f, name1);
        b.wait.lock = fuzz_name(f, name2);
        b.wait.owner = fuzz_u8(f) % 3;
        b.wait.timeout = fuzz_timeout(f, &to);
        b.wait.notify_first = fuzz_u8(f) % 3;
        req.body_case = CONDD__V1__REQUEST__BODY_WAIT;
        req.wait = &b.wait;
        break;
    case FUZZ_OP_NOTIFY: {
        condd__v1__notify__init(&b.notify);
        b.notify.condition = fuzz_name(f, name1);
        b.notify.lock = fuzz_name(f, name2);
        b.notify.owner = fuzz_u8(f) % 3;
        uint8_t n = fuzz_u8(f);
        b.notify.n = n == 255 ? UINT64_MAX : n % 4;
        req.body_case = CONDD__V1__REQUEST__BODY_NOTIFY;
        req.notify = &b.notify;
        break;
    }
    case FUZZ_OP_NOTIFY_ALL:
        condd__v1__notify_all__init(&b.notify_all);
        b.notify_all.condition = fuzz_name(f, name1);
        b.notify_all.lock = fuzz_name(f, name2);
        b.notify_all.owner = fuzz_u8(f) % 3;
        req.body_case = CONDD__V1__REQUEST__BODY_NOTIFY_ALL;
        req.notify_all = &b.notify_all;
        break;
    case FUZZ_OP_CANCEL: {
        condd__v1__cancel__init(&b.cancel);
        uint8_t back = fuzz_u8(f);
        /* Mostly one of the last few requests of this connection, itself included. */
        b.cancel.target_id = back < 200 ? req.id - back % 4 : back;
        req.body_case = CONDD__V1__REQUEST__BODY_CANCEL;
        req.cancel = &b.cancel;
        break;
    }
    case FUZZ_OP_STATS:
        condd__v1__stats__init(&b.stats);
        req.body_case = CONDD__V1__REQUEST__BODY_STATS;
        req.stats = &b.stats;
        break;
    case FUZZ_OP_LIST:
        condd__v1__list__init(&b.list);
        b.list.prefix = fuzz_name(f, name1);
        if (fuzz_u8(f) & 1)
            b.list.prefix.len = 0;
        b.list.limit = fuzz_u8(f) % 3;
        req.body_case = CONDD__V1__REQUEST__BODY_LIST;
        req.list = &b.list;
        break;
    case FUZZ_OP_NO_BODY:
        break; /* a request with an id and no body */
    case FUZZ_OP_RAW: {
        /* Raw bytes into the stream: garbage, a bad length prefix, part of a frame. */
        size_t n = fuzz_u8(f) % 16;
        for (size_t i = 0; i < n; i++) {
            uint8_t byte = fuzz_u8(f);
            fuzz_append(&pe->out, &pe->olen, &pe->ocap, &byte, 1);
        }
        return;
    }
    case FUZZ_OP_SETTLE:
        fuzz_flush_all(f);
        return;
    case FUZZ_OP_SLEEP:
        fuzz_sleep(f);
        return;
    case FUZZ_OP_RECONNECT:
        /* End this connection (its session hands its locks on) and open a fresh one. */
        if (f->reopens++ < FUZZ_MAX_REOPENS) {
            fuzz_flush_all(f);
            fuzz_close(f, pe);
            fuzz_open(f, pe, true);
        }
        return;
    case FUZZ_OP_COUNT:
        return;
    }
    fuzz_queue(pe, &req);
}

/* ------------------------------------------------------------------ the invariant */

/* Set events outlive the sessions that set them (they are not owned): the invariant clears them
 * first, collecting their names because List's visitor must not call the engine. */
struct fuzz_events {
    size_t n;
    uint16_t len[64];
    uint8_t name[64][ENGINE_NAME_MAX];
};

static void fuzz_event_seen(void *arg, const struct engine_event_info *ei)
{
    struct fuzz_events *fe = arg;
    fe->len[fe->n] = (uint16_t)ei->name_len;
    memcpy(fe->name[fe->n], ei->name, ei->name_len);
    fe->n++;
}

static void fuzz_clear_events(struct engine *e)
{
    static struct fuzz_events fe;
    do {
        fe.n = 0;
        engine_list_events(e, NULL, 0, 64, fuzz_event_seen, &fe);
        for (size_t i = 0; i < fe.n; i++)
            FUZZ_CHECK(engine_event_clear(e, fe.name[i], fe.len[i], NULL) == ENGINE_OK);
    } while (fe.n == 64);
}

/* Every connection has seen EOF and been closed by the daemon: nothing may be left. */
static void fuzz_check_empty(struct fuzz *f)
{
    struct server_snapshot snap;
    server_snapshot(f->srv, &snap);
    FUZZ_CHECK(snap.connections == 0);
    FUZZ_CHECK(snap.sessions == 0);
    FUZZ_CHECK(server_unflushed(f->srv) == 0);
    struct engine_stats es;
    engine_get_stats(server_engine(f->srv), &es);
    FUZZ_CHECK(es.event_waiters == 0);
    fuzz_clear_events(server_engine(f->srv));
    engine_get_stats(server_engine(f->srv), &es);
    FUZZ_CHECK(es.events == 0);
    FUZZ_CHECK(es.sessions == 0);
    FUZZ_CHECK(es.locks == 0);
    FUZZ_CHECK(es.locks_held == 0);
    FUZZ_CHECK(es.locks_shared == 0 && es.shared_holders == 0); /* shared holds too */
    FUZZ_CHECK(es.lock_waiters == 0);
    FUZZ_CHECK(es.conditions == 0);
    FUZZ_CHECK(es.condition_waiters == 0);
    FUZZ_CHECK(es.permits_held == 0);
    FUZZ_CHECK(es.semaphore_waiters == 0);
    FUZZ_CHECK(es.barrier_waiters == 0);
    /* Only an aborted barrier (broken until a reset) outlives every session. */
    FUZZ_CHECK(es.barriers == es.barriers_broken);
    /* A semaphore with posted permits (a SemRelease without acquire) and an aborted barrier
     * rightly outlive every session; only those may keep entry bytes. */
    FUZZ_CHECK(es.entry_bytes == 0 || es.semaphores > 0 || es.barriers > 0);
    /* No timer (session, acquire or wait timeout) and no socket event outlives its owner. */
    FUZZ_CHECK(
        event_base_get_num_events(f->base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE) == 0);
}

/* ------------------------------------------------------------------ entry point */

/*
 * Input: byte 0 is the mode. Even: raw; bit 1 sends a valid Hello first; byte 1 is the chunk
 * size the rest is written in (0: all at once), with the loop run between chunks. Odd:
 * structured; bits 1-2 give 1 + (value % 3) connections, bit 3 set skips their opening Hello;
 * the rest is operations (see fuzz_step()).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct event_base *base;
    if (base == NULL) {
        signal(SIGPIPE, SIG_IGN);
        log_init(getenv("CONDD_FUZZ_DEBUG") != NULL ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
        base = event_base_new();
        FUZZ_CHECK(base != NULL);
    }
    if (size < 1)
        return 0;
    struct fuzz f = {.base = base, .p = data + 1, .n = size - 1};
    f.debug = getenv("CONDD_FUZZ_DEBUG") != NULL;
    struct settings settings;
    settings_init(&settings);
    f.srv = server_new(base, &settings);
    settings_clear(&settings);
    FUZZ_CHECK(f.srv != NULL);

    uint8_t mode = data[0];
    if ((mode & 1) == 0) {
        f.npeers = 1;
        fuzz_open(&f, &f.peers[0], (mode & 2) != 0);
        fuzz_send(&f, &f.peers[0]);
        size_t chunk = fuzz_u8(&f);
        if (chunk == 0)
            chunk = f.n;
        while (f.n > 0) {
            size_t n = chunk < f.n ? chunk : f.n;
            fuzz_append(&f.peers[0].out, &f.peers[0].olen, &f.peers[0].ocap, f.p, n);
            f.p += n;
            f.n -= n;
            fuzz_flush_all(&f);
        }
    } else {
        f.npeers = 1 + ((mode >> 1) & 3) % FUZZ_MAX_CONNS;
        for (int i = 0; i < f.npeers; i++)
            fuzz_open(&f, &f.peers[i], (mode & 8) == 0);
        for (int ops = 0; f.n > 0 && ops < FUZZ_MAX_OPS; ops++) {
            fuzz_step(&f);
            if (f.peers[0].olen + f.peers[f.npeers - 1].olen > 65536)
                fuzz_flush_all(&f);
        }
    }
    fuzz_flush_all(&f);
    for (int i = 0; i < f.npeers; i++)
        fuzz_close(&f, &f.peers[i]);
    fuzz_settle(&f);
    fuzz_check_empty(&f);

    server_free(f.srv);
    for (int i = 0; i < f.npeers; i++) {
        free(f.peers[i].out);
        free(f.peers[i].in);
    }
    return 0;
}
