/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The server (see server.h): listeners and accepting, the connection set, the engine, the
 * loop-wide flush, and graceful shutdown. Listener sockets come from --listen/--unix or, under
 * socket activation, from systemd.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "engine.h"
#include "evclock.h"
#include "frame.h"
#include "address.h"
#include "clock.h"
#include "cluster.h"
#include "log.h"
#include "server_internal.h"

double server_now(void)
{
    return clk_mono_coarse();
}

/* ------------------------------------------------------------------ flush */

/* Runs once per loop turn in which replies were queued: one write per dirty connection. */
static void server_on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;
    struct conn *c;
    while ((c = TAILQ_FIRST(&srv->dirty)) != NULL) {
        TAILQ_REMOVE(&srv->dirty, c, dirty_link);
        c->dirty = false;
        conn_flush(c);
    }
}

/* ------------------------------------------------------------------ accepting */

static void server_format_peer(const struct sockaddr *sa, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(out, outlen, "%s:%u", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(out, outlen, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else {
        snprintf(out, outlen, "unix");
    }
}

static void server_refuse(struct server *srv, int fd)
{
    /* A short, complete reply so that a client can tell "full" from "down". */
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    resp.status = CONDD__V1__STATUS__STATUS_LIMIT_EXCEEDED;
    resp.message = (char *)"too many connections";
    uint8_t buf[128];
    size_t n = frame_encoded_size(&resp.base);
    if (n <= sizeof buf) {
        n = frame_encode(&resp.base, buf);
        ssize_t w = write(fd, buf, n);
        (void)w; /* best effort: the connection is being refused anyway */
    }
    close(fd);
    srv->stats.connections_refused++;
}

unsigned server_handshake_cap(const struct server *srv)
{
    unsigned n = srv->settings.max_handshakes;
    if (n == 0)
        n = srv->settings.max_connections / 2;
    return n > 0 ? n : 1;
}

/* One line for a refusal of r's kind from peer, standing for more others besides. */
static void server_refusal_line(struct server_refusals *r, const char *peer, uint64_t more)
{
    struct server *srv = r->srv;
    char also[64] = "";
    if (more > 0)
        snprintf(also, sizeof also, " (%llu more refused in the last second)",
                 (unsigned long long)more);
    if (r->handshakes)
        log_warning("refusing a TLS connection from %s: --max-handshakes (%u) connections are "
                    "in their TLS handshake%s",
                    peer, server_handshake_cap(srv), also);
    else
        log_warning("refusing a connection from %s: --max-connections (%u) reached%s", peer,
                    srv->settings.max_connections, also);
    r->last = server_now();
    r->pending = 0;
}

static void server_on_refusal_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server_refusals *r = arg;
    if (r->pending > 0)
        server_refusal_line(r, r->peer, r->pending - 1);
}

/* Logs a refusal from peer, at most one line a second (struct server_refusals). */
static void server_log_refusal(struct server_refusals *r, const char *peer)
{
    double now = server_now();
    if (r->last < 0 || now - r->last >= 1.0) {
        event_del(r->tick);
        server_refusal_line(r, peer, r->pending);
        return;
    }
    r->pending++;
    snprintf(r->peer, sizeof r->peer, "%s", peer);
    if (!evtimer_pending(r->tick, NULL)) {
        struct timeval tv = clk_timeval(r->last + 1.0 - now);
        evtimer_add(r->tick, &tv);
    }
}

static void server_accept(struct server *srv, evutil_socket_t fd, struct sockaddr *sa, bool tls)
{
    if (srv->shutting_down) {
        close(fd);
        return;
    }
    char peer[64];
    server_format_peer(sa, peer, sizeof peer);
    if (srv->nconns >= srv->settings.max_connections) {
        server_log_refusal(&srv->refused_conns, peer);
        if (tls) { /* a plaintext frame would only be a bad record to a TLS client */
            close(fd);
            srv->stats.connections_refused++;
        } else {
            server_refuse(srv, fd);
        }
        return;
    }
    /* Handshakes get their share of the connections only: silent TLS connects, reopened as soon
     * as their deadline closes them, would otherwise hold every slot (plaintext and Unix-socket
     * clients, and TLS clients past their handshake, included). */
    if (tls && srv->nhandshakes >= server_handshake_cap(srv)) {
        server_log_refusal(&srv->refused_handshakes, peer);
        close(fd);
        srv->stats.connections_refused++;
        srv->stats.tls_handshakes_refused++;
        return;
    }
    bool is_unix = sa->sa_family == AF_UNIX;
    if (!is_unix) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if ((tls ? conn_new_tls(srv, fd, peer) : conn_new(srv, fd, is_unix, peer)) == NULL)
        log_error("out of memory accepting a connection from %s", peer);
}

static void server_on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                             int salen, void *arg)
{
    server_accept(arg, fd, sa, false);
}

static void server_on_accept_tls(struct evconnlistener *lev, evutil_socket_t fd,
                                 struct sockaddr *sa, int salen, void *arg)
{
    server_accept(arg, fd, sa, true);
}

static void server_on_tls_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *srv = arg;
    if (conn_tls_sweep(srv)) {
        struct timeval tv = {CONN_TLS_SWEEP_SECONDS, 0};
        evtimer_add(srv->tls_sweep, &tv);
    }
}

static void server_on_relisten(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;
    for (int i = 0; i < srv->nlisteners; i++)
        evconnlistener_enable(srv->listeners[i].lev);
}

/* accept() failed, usually for lack of file descriptors: pause accepting briefly instead of
 * spinning on a listener that stays readable. */
static void server_on_accept_error(struct evconnlistener *lev, void *arg)
{
    struct server *srv = arg;
    int err = EVUTIL_SOCKET_ERROR();
    log_warning("accept failed: %s; pausing new connections for 100 ms",
                evutil_socket_error_to_string(err));
    for (int i = 0; i < srv->nlisteners; i++)
        evconnlistener_disable(srv->listeners[i].lev);
    struct timeval tv = {0, 100000};
    event_add(srv->relisten, &tv);
}

static bool server_add_listener(struct server *srv, int fd, bool is_unix, char *unlink_path,
                                bool tls, const char *label)
{
    char *lcopy = strdup(label);
    if (lcopy == NULL || srv->nlisteners == SERVER_MAX_LISTENERS) {
        if (lcopy == NULL)
            log_error("out of memory adding a listener");
        else
            log_error("too many listeners (at most %d)", SERVER_MAX_LISTENERS);
        free(lcopy);
        close(fd);
        free(unlink_path);
        return false;
    }
    evutil_make_socket_nonblocking(fd);
    evutil_make_socket_closeonexec(fd);
    /* Backlog 0: the socket listens already, with ours (1024), systemd's or the predecessor's;
     * -1 would make libevent listen() again with 128, too few for the clients that reconnect
     * while a live restart is not accepting (their SYNs were dropped: a second's retry). */
    struct evconnlistener *lev =
        evconnlistener_new(srv->base, tls ? server_on_accept_tls : server_on_accept, srv,
                           LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (lev == NULL) {
        log_error("cannot listen: %s", strerror(errno));
        close(fd);
        free(unlink_path);
        free(lcopy);
        return false;
    }
    evconnlistener_set_error_cb(lev, server_on_accept_error);
    struct server_listener *l = &srv->listeners[srv->nlisteners++];
    l->lev = lev;
    l->is_unix = is_unix;
    l->tls = tls;
    l->unlink_path = unlink_path;
    l->label = lcopy;
    l->port = 0;
    if (!is_unix) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
            if (ss.ss_family == AF_INET)
                l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            else if (ss.ss_family == AF_INET6)
                l->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            else
                l->is_unix = ss.ss_family == AF_UNIX;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ inherited listeners */

/* Takes the inherited socket labelled label, if there is one: its fd, else -1. */
static int server_claim_inherited(struct server *srv, const char *label)
{
    for (int i = 0; i < srv->ninherited; i++) {
        struct server_inherited *in = &srv->inherited[i];
        if (in->fd >= 0 && strcmp(in->label, label) == 0) {
            int fd = in->fd;
            in->fd = -1;
            return fd;
        }
    }
    return -1;
}

bool server_offer_inherited(struct server *srv, const char *label, int fd)
{
    char *copy = srv->ninherited < SERVER_MAX_LISTENERS ? strdup(label) : NULL;
    if (copy == NULL) {
        log_error("cannot keep the inherited listener %s (too many, or out of memory)", label);
        close(fd);
        return false;
    }
    srv->inherited[srv->ninherited].fd = fd;
    srv->inherited[srv->ninherited].label = copy;
    srv->ninherited++;
    return true;
}

int server_adopt_inherited(struct server *srv, const char *label)
{
    int n = 0, fd;
    while ((fd = server_claim_inherited(srv, label)) >= 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        bool is_unix = getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_UNIX;
        if (server_add_listener(srv, fd, is_unix, NULL, false, label))
            n++;
    }
    return n;
}

void server_close_unclaimed(struct server *srv)
{
    for (int i = 0; i < srv->ninherited; i++) {
        struct server_inherited *in = &srv->inherited[i];
        if (in->fd >= 0) {
            /* A Unix socket file stays: its path is no longer ours to manage. */
            log_notice("closing the inherited listener %s: no longer configured", in->label);
            close(in->fd);
        }
        free(in->label);
    }
    srv->ninherited = 0;
}

static bool server_listen_inet(struct server *srv, const char *addr, bool tls)
{
    struct addr_parts ap;
    char port[8];
    char label[320]; /* ample: a host name is at most 253 bytes */
    snprintf(label, sizeof label, "%s:%s", tls ? "tls" : "tcp", addr);
    int kept = server_claim_inherited(srv, label);
    if (kept >= 0) {
        if (!server_add_listener(srv, kept, false, NULL, tls, label))
            return false;
        log_info("listening on %s%s (port %d, kept from the previous process)", tls ? "tls:" : "",
                 addr, srv->listeners[srv->nlisteners - 1].port);
        return true;
    }
    if (!addr_split(addr, ADDR_LISTEN, 0, &ap)) {
        log_error("bad listen address '%s': expected HOST:PORT or [IPV6]:PORT", addr);
        return false;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    snprintf(port, sizeof port, "%u", (unsigned)ap.port);
    int gai = getaddrinfo(ap.host, port, &hints, &res);
    if (gai != 0) {
        log_error("cannot resolve listen address '%s': %s", addr, gai_strerror(gai));
        return false;
    }
    /* Bind the first address that works: a name that resolves to several would otherwise give
     * ephemeral ports that differ per family. */
    bool ok = false;
    int err = 0;
    for (struct addrinfo *ai = res; ai != NULL && !ok; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
            err = errno;
            close(fd);
            continue;
        }
        ok = server_add_listener(srv, fd, false, NULL, tls, label);
        if (ok)
            log_info("listening on %s%s (port %d)", tls ? "tls:" : "", addr,
                     srv->listeners[srv->nlisteners - 1].port);
    }
    freeaddrinfo(res);
    if (!ok && err != 0)
        log_error("cannot listen on %s: %s", addr, strerror(err));
    return ok;
}

bool server_listen_tcp(struct server *srv, const char *addr)
{
    return server_listen_inet(srv, addr, false);
}

bool server_listen_tls(struct server *srv, const char *addr)
{
    if (srv->tls == NULL) {
        log_error("cannot listen with TLS on %s: no certificate and key (tls-cert, tls-key)", addr);
        return false;
    }
    return server_listen_inet(srv, addr, true);
}

/* getgrnam_r()'s buffer may grow to this (a group of some hundred thousand members). */
#define SERVER_GROUP_BUF_MAX (16u * 1024 * 1024)

bool server_group_id(const char *group, gid_t *gid, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(group, &end, 10);
    if (*group != '\0' && *end == '\0' && errno == 0 && n < (unsigned long)(gid_t)-1) {
        *gid = (gid_t)n;
        return true;
    }
    /* A group with many members (a directory's) needs more than any fixed buffer: ERANGE asks
     * for a bigger one, up to a sanity bound. */
    struct group gr, *res = NULL;
    char *buf = NULL;
    int rc = ERANGE;
    for (size_t len = 4096; rc == ERANGE && len <= SERVER_GROUP_BUF_MAX; len *= 2) {
        char *bigger = realloc(buf, len);
        if (bigger == NULL) {
            rc = ENOMEM;
            break;
        }
        buf = bigger;
        rc = getgrnam_r(group, &gr, buf, len, &res);
    }
    free(buf); /* only the gid is kept */
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "no group '%s'%s%s", group, rc != 0 ? ": " : "",
                 rc != 0 ? strerror(rc) : "");
        return false;
    }
    *gid = gr.gr_gid;
    return true;
}

bool server_listen_unix(struct server *srv, const char *path, unsigned mode, const char *group)
{
    gid_t gid = (gid_t)-1;
    char why[512];
    if (group != NULL && !server_group_id(group, &gid, why, sizeof why)) {
        log_error("unix-group for the Unix socket: %s", why);
        return false;
    }
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path) {
        log_error("Unix socket path too long: %s", path);
        return false;
    }
    strcpy(sun.sun_path, path);
    char label[8 + sizeof sun.sun_path];
    snprintf(label, sizeof label, "unix:%s", path);
    int kept = server_claim_inherited(srv, label);
    if (kept >= 0) {
        /* Mode and group were set by whoever bound it; the file is ours to remove at the end. */
        char *copy = strdup(path);
        if (copy == NULL) {
            close(kept);
            return false;
        }
        log_info("listening on unix:%s (kept from the previous process)", path);
        return server_add_listener(srv, kept, true, copy, false, label);
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            log_error("%s exists and is not a socket; not replacing it", path);
            return false;
        }
        /* Replace it only if nobody answers there: a live daemon keeps its socket. */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0;
        if (probe >= 0)
            close(probe);
        if (live) {
            log_error("another process is listening on unix:%s; not taking it over", path);
            return false;
        }
        unlink(path); /* a stale socket from an earlier run */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        log_error("cannot listen on unix:%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    /* Connecting needs write permission on the socket file: set owner group and mode before
     * listen(), so nobody connects under the umask's mode in between. */
    if ((gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) != 0) || chmod(path, (mode_t)mode) != 0 ||
        listen(fd, 1024) != 0) {
        log_error("cannot set up unix:%s (group %s, mode %04o): %s", path,
                  group != NULL ? group : "unchanged", mode, strerror(errno));
        close(fd);
        unlink(path);
        return false;
    }
    char *copy = strdup(path);
    if (copy == NULL) {
        close(fd);
        unlink(path);
        return false;
    }
    log_info("listening on unix:%s (mode %04o%s%s)", path, mode, group != NULL ? ", group " : "",
             group != NULL ? group : "");
    return server_add_listener(srv, fd, true, copy, false, label);
}

bool server_adopt_listener(struct server *srv, int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    bool is_unix = getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_UNIX;
    return server_add_listener(srv, fd, is_unix, NULL, false, "fd");
}

int server_first_tls_port(const struct server *srv)
{
    for (int i = 0; i < srv->nlisteners; i++)
        if (srv->listeners[i].tls)
            return srv->listeners[i].port;
    return 0;
}

int server_first_tcp_port(const struct server *srv)
{
    for (int i = 0; i < srv->nlisteners; i++)
        if (!srv->listeners[i].is_unix)
            return srv->listeners[i].port;
    return 0;
}

static void server_close_listeners(struct server *srv)
{
    for (int i = 0; i < srv->nlisteners; i++) {
        evconnlistener_free(srv->listeners[i].lev);
        if (srv->listeners[i].unlink_path != NULL) {
            unlink(srv->listeners[i].unlink_path);
            free(srv->listeners[i].unlink_path);
        }
        free(srv->listeners[i].label);
    }
    srv->nlisteners = 0;
}

int server_listener_count(const struct server *srv)
{
    return srv->nlisteners;
}

int server_listener_fd(const struct server *srv, int i, const char **label)
{
    *label = srv->listeners[i].label;
    return evconnlistener_get_fd(srv->listeners[i].lev);
}

void server_pause_listeners(struct server *srv, bool pause)
{
    event_del(srv->relisten);
    for (int i = 0; i < srv->nlisteners; i++) {
        if (pause)
            evconnlistener_disable(srv->listeners[i].lev);
        else
            evconnlistener_enable(srv->listeners[i].lev);
    }
}

void server_keep_socket_files(struct server *srv)
{
    for (int i = 0; i < srv->nlisteners; i++) {
        free(srv->listeners[i].unlink_path);
        srv->listeners[i].unlink_path = NULL;
    }
}

/* A connection whose session cannot resume (no Hello yet, or no grace), or NULL. */
static struct conn *server_first_unresumable(struct server *srv)
{
    struct conn *c;
    TAILQ_FOREACH(c, &srv->conns, link)
    {
        if (c->ds == NULL || c->ds->grace <= 0)
            return c;
    }
    return NULL;
}

unsigned server_begin_detach(struct server *srv)
{
    /* Nothing is flushed first: an answer written now would wake its client, whose next request
     * could then cross the end of the connection. Unsent answers are kept whole and delivered
     * after the resume. Sessions that cannot resume end first, as a dropped connection ends
     * them: the locks they hand on are then answered to sessions that are still attached, or
     * kept for them. */
    struct conn *c;
    while ((c = server_first_unresumable(srv)) != NULL) {
        c->no_detach = true;
        conn_close(c, "live restart");
    }
    /* Every other connection is half-closed (a request may close another one: scan again). */
    for (;;) {
        TAILQ_FOREACH(c, &srv->conns, link)
        {
            if (!c->half_closed)
                break;
        }
        if (c == NULL)
            break;
        conn_half_close(c);
    }
    return srv->nconns;
}

void server_detach_all(struct server *srv)
{
    struct conn *c;
    while ((c = server_first_unresumable(srv)) != NULL) {
        c->no_detach = true;
        conn_close(c, "live restart");
    }
    while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
        conn_drain_close(c, "live restart");
}

/* ------------------------------------------------------------------ lifetime */

static void server_apply_engine_limits(struct server *srv)
{
    struct engine_limits lim = {.max_pending_per_session = srv->settings.max_pending};
    engine_set_limits(srv->engine, &lim);
}

struct server *server_new(struct event_base *base, const struct settings *settings)
{
    struct server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return NULL;
    srv->base = base;
    settings_init(&srv->settings);
    bool cluster_ok;
    char err[256];
    if (!settings_copy(&srv->settings, settings)) {
        free(srv);
        return NULL;
    }
    srv->cluster = cluster_new(settings, &cluster_ok, err, sizeof err);
    if (!cluster_ok) {
        log_error("%s", err);
        settings_clear(&srv->settings);
        free(srv);
        return NULL;
    }
    TAILQ_INIT(&srv->conns);
    TAILQ_INIT(&srv->dirty);
    srv->next_session_id = 1;
    srv->started = server_now();
    srv->started_wall = (double)time(NULL);
    arena_init(&srv->arena, srv->arena_buf, sizeof srv->arena_buf);
    arena_allocator_init(&srv->unpack_alloc, &srv->arena);
    struct engine_limits lim = {.max_pending_per_session = settings->max_pending};
    struct engine_clock clock;
    evclock_init(&clock, base);
    srv->engine = engine_new(&clock, conn_on_engine_reply, &lim);
    srv->flush_ev = event_new(base, -1, 0, server_on_flush, srv);
    srv->relisten = evtimer_new(base, server_on_relisten, srv);
    srv->tls_sweep = evtimer_new(base, server_on_tls_sweep, srv);
    struct server_refusals *kinds[] = {&srv->refused_conns, &srv->refused_handshakes};
    for (int i = 0; i < 2; i++) {
        kinds[i]->srv = srv;
        kinds[i]->handshakes = i == 1;
        kinds[i]->last = -1;
        kinds[i]->tick = evtimer_new(base, server_on_refusal_tick, kinds[i]);
    }
    bool registry = resume_init(srv);
    if (srv->engine == NULL || srv->flush_ev == NULL || srv->relisten == NULL ||
        srv->tls_sweep == NULL || srv->refused_conns.tick == NULL ||
        srv->refused_handshakes.tick == NULL || !registry) {
        server_free(srv);
        return NULL;
    }
    return srv;
}

void server_close_all(struct server *srv)
{
    struct conn *c;
    while ((c = TAILQ_FIRST(&srv->conns)) != NULL) {
        c->no_detach = true;
        conn_close(c, "server stopping");
    }
    /* Sessions in their grace end too: nobody can resume them once the server is gone. */
    struct dsession *ds;
    while ((ds = TAILQ_FIRST(&srv->detached)) != NULL)
        resume_end(ds);
}

void server_free(struct server *srv)
{
    if (srv == NULL)
        return;
    server_close_listeners(srv);
    server_close_all(srv);
    if (srv->by_id != NULL)
        resume_fini(srv);
    server_close_unclaimed(srv);
    engine_free(srv->engine);
    if (srv->flush_ev != NULL)
        event_free(srv->flush_ev);
    if (srv->relisten != NULL)
        event_free(srv->relisten);
    if (srv->tls_sweep != NULL)
        event_free(srv->tls_sweep);
    if (srv->refused_conns.tick != NULL)
        event_free(srv->refused_conns.tick);
    if (srv->refused_handshakes.tick != NULL)
        event_free(srv->refused_handshakes.tick);
    settings_clear(&srv->settings);
    cluster_free(srv->cluster);
    auth_free(srv->auth);
    tls_ctx_free(srv->tls);
    free(srv);
}

void server_set_tls(struct server *srv, struct tls_ctx *ctx)
{
    tls_ctx_free(srv->tls);
    srv->tls = ctx;
}

void server_set_auth(struct server *srv, struct auth_db *db)
{
    auth_free(srv->auth);
    srv->auth = db;
}

bool server_update_settings(struct server *srv, const struct settings *settings)
{
    /* The cluster is reloadable: built first, so that a failure changes nothing. */
    bool cluster_ok;
    char err[256];
    struct cluster *cl = cluster_new(settings, &cluster_ok, err, sizeof err);
    if (!cluster_ok || !settings_take_reloadable(&srv->settings, settings)) {
        cluster_free(cl);
        return false;
    }
    cluster_free(srv->cluster);
    srv->cluster = cl;
    server_apply_engine_limits(srv);
    return true;
}

void server_begin_shutdown(struct server *srv)
{
    if (srv->shutting_down)
        return;
    srv->shutting_down = true;
    server_close_listeners(srv);
    engine_shutdown(srv->engine);
}

unsigned server_unflushed(const struct server *srv)
{
    unsigned n = 0;
    const struct conn *c;
    TAILQ_FOREACH(c, &srv->conns, link)
    {
        if (c->dirty || c->write_armed)
            n++;
    }
    return n;
}

void server_snapshot(const struct server *srv, struct server_snapshot *out)
{
    out->uptime_s = server_now() - srv->started;
    out->connections = srv->nconns;
    out->sessions = srv->nsessions;
    out->detached_sessions = srv->ndetached;
    out->tls_handshakes = srv->nhandshakes;
}

unsigned server_connection_count(const struct server *srv)
{
    return srv->nconns;
}

void server_set_restart_stats(struct server *srv, uint64_t restarts, uint64_t restored)
{
    srv->stats.restarts = restarts;
    srv->stats.restored_sessions = restored;
}

const struct stats *server_stats(const struct server *srv)
{
    return &srv->stats;
}

struct engine *server_engine(struct server *srv)
{
    return srv->engine;
}
