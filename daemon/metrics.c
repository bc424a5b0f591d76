/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The Prometheus endpoint (see metrics.h). Names follow the Prometheus conventions: a condd_
 * prefix, base units (seconds, bytes), _total for counters, and histograms with cumulative
 * _bucket{le=...} series plus _sum and _count.
 */
#include "config.h"

#include "address.h"

#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "engine.h"
#include "log.h"
#include "server.h"
#include "settings.h"
#include "stats.h"

/* A scrape that has not completed within this many seconds is dropped. */
#define METRICS_HTTP_TIMEOUT 10

struct metrics {
    struct evhttp *http;
    struct server *srv;
    int port;
};

/* ------------------------------------------------------------------ rendering */

/* Accumulates the first error so that the renderer can be written as a flat list of lines. */
struct metrics_out {
    struct evbuffer *buf;
    int err;
};

static void metrics_printf(struct metrics_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void metrics_printf(struct metrics_out *o, const char *fmt, ...)
{
    if (o->err != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (evbuffer_add_vprintf(o->buf, fmt, ap) < 0)
        o->err = -1;
    va_end(ap);
}

static void metrics_head(struct metrics_out *o, const char *name, const char *type,
                         const char *help)
{
    metrics_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_gauge(struct metrics_out *o, const char *name, const char *help, uint64_t v)
{
    metrics_head(o, name, "gauge", help);
    metrics_printf(o, "%s %" PRIu64 "\n", name, v);
}

static void metrics_counter(struct metrics_out *o, const char *name, const char *help, uint64_t v)
{
    metrics_head(o, name, "counter", help);
    metrics_printf(o, "%s %" PRIu64 "\n", name, v);
}

static void metrics_histogram(struct metrics_out *o, const char *name, const char *help,
                              const struct stats_hist *h)
{
    metrics_head(o, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < STATS_LAT_BUCKETS; i++) {
        cum += h->counts[i];
        metrics_printf(o, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, stats_lat_bounds[i], cum);
    }
    cum += h->counts[STATS_LAT_BUCKETS];
    metrics_printf(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
    metrics_printf(o, "%s_sum %.9g\n", name, h->sum);
    metrics_printf(o, "%s_count %" PRIu64 "\n", name, h->count);
}

int metrics_render(struct server *srv, struct evbuffer *buf)
{
    struct metrics_out o = {.buf = buf};
    struct server_snapshot snap;
    struct engine_stats es;
    const struct stats *st = server_stats(srv);
    server_snapshot(srv, &snap);
    engine_get_stats(server_engine(srv), &es);

    metrics_head(&o, "condd_build_info", "gauge", "Always 1; the version is a label.");
    metrics_printf(&o, "condd_build_info{version=\"%s\",protocol=\"%d\"} 1\n", PACKAGE_VERSION,
                   CONDD_PROTOCOL_VERSION);
    metrics_head(&o, "condd_uptime_seconds", "gauge", "Seconds since the daemon started.");
    metrics_printf(&o, "condd_uptime_seconds %.3f\n", snap.uptime_s);
    metrics_gauge(&o, "condd_connections", "Open client connections.", snap.connections);
    metrics_gauge(&o, "condd_tls_handshakes",
                  "TLS connections in their handshake (counted in connections; at most "
                  "max-handshakes).",
                  snap.tls_handshakes);
    metrics_gauge(&o, "condd_sessions", "Sessions that completed Hello and are still open.",
                  snap.sessions);
    metrics_gauge(&o, "condd_detached_sessions",
                  "Sessions in their resume grace without a connection (counted in sessions).",
                  snap.detached_sessions);
    metrics_gauge(&o, "condd_locks", "Locks in existence (held or waited for).", es.locks);
    metrics_gauge(&o, "condd_locks_held", "Locks currently held (in either mode).", es.locks_held);
    metrics_gauge(&o, "condd_locks_shared", "Locks currently held in shared mode.",
                  es.locks_shared);
    metrics_gauge(&o, "condd_shared_holders", "Shared holds, summed over the locks held shared.",
                  es.shared_holders);
    metrics_gauge(&o, "condd_conditions", "Conditions with at least one waiter.", es.conditions);
    metrics_gauge(&o, "condd_waiters",
                  "Pending requests: acquires and re-acquiring waits queued for a lock, plus "
                  "waits not yet notified, plus acquires queued for a semaphore, plus pending "
                  "event waits, plus pending barrier waits.",
                  es.waiters);
    metrics_gauge(&o, "condd_lock_waiters",
                  "Requests queued for a lock (acquires and re-acquiring waits).", es.lock_waiters);
    metrics_gauge(&o, "condd_condition_waiters", "Waits not yet notified.", es.condition_waiters);
    metrics_gauge(&o, "condd_events", "Events remembered (set, or waited for).", es.events);
    metrics_gauge(&o, "condd_events_set", "Events set.", es.events_set);
    metrics_gauge(&o, "condd_event_waiters", "Pending event waits.", es.event_waiters);
    metrics_gauge(&o, "condd_barriers", "Barriers in existence (with waiters, or broken).",
                  es.barriers);
    metrics_gauge(&o, "condd_barriers_broken", "Barriers broken (aborted, not reset).",
                  es.barriers_broken);
    metrics_gauge(&o, "condd_barrier_waiters", "Pending barrier waits.", es.barrier_waiters);
    metrics_gauge(&o, "condd_semaphores", "Semaphores in existence.", es.semaphores);
    metrics_gauge(&o, "condd_permits_held", "Semaphore permits currently held.", es.permits_held);
    metrics_gauge(&o, "condd_semaphore_waiters", "Acquires queued for a semaphore.",
                  es.semaphore_waiters);
    metrics_gauge(&o, "condd_table_bytes",
                  "Memory held by the lock and condition tables and their entries.",
                  es.table_bytes);
    metrics_gauge(&o, "condd_resident_memory_bytes", "Resident set size of the daemon.",
                  stats_rss_bytes());

    metrics_head(&o, "condd_requests_total", "counter",
                 "Requests answered, by operation and reply status.");
    for (int op = 0; op < STATS_OP_COUNT; op++) {
        for (int s = 0; s < STATS_STATUS_COUNT; s++) {
            /* Every operation always shows its ok series, so rate() works from the first
             * scrape; the error series appear once they happen. */
            if (st->ops[op][s] == 0 && s != 0)
                continue;
            metrics_printf(&o, "condd_requests_total{op=\"%s\",status=\"%s\"} %" PRIu64 "\n",
                           stats_op_name((enum stats_op)op), stats_status_name(s), st->ops[op][s]);
        }
    }
    metrics_histogram(&o, "condd_grant_latency_seconds", "Time from a queued Acquire to its grant.",
                      &st->grant_latency);
    metrics_histogram(&o, "condd_wait_latency_seconds",
                      "Time from a Wait to its reply (notified, timed out or cancelled).",
                      &st->wait_latency);
    metrics_counter(&o, "condd_connections_total", "Connections accepted since start.",
                    st->connections_total);
    metrics_counter(&o, "condd_connections_refused_total",
                    "Connections refused because max-connections (or, for TLS, "
                    "max-handshakes) was reached.",
                    st->connections_refused);
    metrics_counter(&o, "condd_session_expiries_total", "Sessions ended by the session timeout.",
                    st->session_expiries);
    metrics_counter(&o, "condd_auth_failures_total",
                    "Hellos refused because no credential checked out (UNAUTHENTICATED).",
                    st->auth_failures);
    metrics_counter(&o, "condd_permission_denials_total",
                    "Requests refused by the auth file's rules (PERMISSION_DENIED).",
                    st->permission_denials);
    metrics_counter(&o, "condd_wrong_server_total",
                    "Requests refused because their name routes to another server of the "
                    "cluster (WRONG_SERVER).",
                    st->wrong_server);
    metrics_counter(&o, "condd_resumes_total", "Sessions resumed on a new connection.",
                    st->resumes);
    metrics_counter(&o, "condd_resume_failures_total", "Resumes refused (RESUME_FAILED).",
                    st->resume_failures);
    metrics_counter(&o, "condd_sessions_expired_in_grace_total",
                    "Detached sessions ended by their grace or the buffered-answer cap.",
                    st->sessions_expired_in_grace);
    metrics_counter(&o, "condd_restarts_total",
                    "Live restarts (SIGUSR2 re-exec, or a stop and start through systemd's fd "
                    "store), carried across them.",
                    st->restarts);
    metrics_gauge(&o, "condd_restored_sessions",
                  "Sessions the last live restart restored (each then resumes or runs out of its "
                  "grace).",
                  st->restored_sessions);
    metrics_counter(&o, "condd_protocol_errors_total",
                    "Connections closed for a malformed frame or a protocol violation.",
                    st->protocol_errors);
    metrics_counter(&o, "condd_tls_buffers_released_total",
                    "Times an idle TLS connection gave its record buffers (about 33 KB) back.",
                    st->tls_buffers_released);
    metrics_counter(&o, "condd_tls_handshake_failures_total",
                    "TLS connections closed before their handshake completed (refused, or "
                    "past --tls-handshake-timeout).",
                    st->tls_handshake_failures);
    metrics_counter(&o, "condd_tls_handshakes_refused_total",
                    "TLS connections closed at accept because max-handshakes others were in "
                    "their handshake (also in condd_connections_refused_total).",
                    st->tls_handshakes_refused);
    metrics_counter(&o, "condd_received_bytes_total",
                    "Bytes of request frames received from clients.", st->bytes_in);
    metrics_counter(&o, "condd_sent_bytes_total", "Bytes of response frames sent to clients.",
                    st->bytes_out);
    return o.err;
}

/* ------------------------------------------------------------------ HTTP */

static void metrics_on_request(struct evhttp_request *req, void *arg)
{
    struct metrics *m = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || strcmp(path, "/metrics") != 0) {
        evhttp_send_error(req, HTTP_NOTFOUND, NULL);
        return;
    }
    struct evbuffer *body = evbuffer_new();
    if (body == NULL || metrics_render(m->srv, body) != 0) {
        if (body != NULL)
            evbuffer_free(body);
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, HTTP_OK, "OK", body);
    evbuffer_free(body);
}

struct metrics *metrics_start(struct event_base *base, struct server *srv, const char *addr)
{
    struct addr_parts ap;
    if (!addr_split(addr, ADDR_LISTEN, 0, &ap)) {
        log_error("bad metrics address '%s': expected HOST:PORT or [IPV6]:PORT", addr);
        return NULL;
    }
    struct metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->srv = srv;
    m->http = evhttp_new(base);
    if (m->http == NULL) {
        free(m);
        return NULL;
    }
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_timeout(m->http, METRICS_HTTP_TIMEOUT);
    evhttp_set_max_headers_size(m->http, 16384);
    evhttp_set_max_body_size(m->http, 0);
    evhttp_set_gencb(m->http, metrics_on_request, m);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(m->http, ap.host, ap.port);
    if (bs == NULL) {
        log_error("cannot serve metrics on %s: %s", addr, strerror(errno));
        evhttp_free(m->http);
        free(m);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = evhttp_bound_socket_get_fd(bs);
    evutil_make_socket_closeonexec(fd);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            m->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            m->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    log_info("serving metrics on http://%s/metrics (port %d)", addr, m->port);
    return m;
}

int metrics_port(const struct metrics *m)
{
    return m->port;
}

void metrics_stop(struct metrics *m)
{
    if (m == NULL)
        return;
    evhttp_free(m->http);
    free(m);
}
