/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The Prometheus endpoint (--metrics ADDR): an evhttp server on the daemon's own event loop that
 * answers GET /metrics with the server's gauges, counters and latency histograms in the
 * Prometheus text exposition format 0.0.4. It only reads the server's state; a scrape costs a
 * fixed amount of work whatever the number of locks.
 */
#ifndef CONDD_DAEMON_METRICS_H
#define CONDD_DAEMON_METRICS_H

#include <stddef.h>

struct event_base;
struct evbuffer;
struct server;
struct metrics;

/*
 * Listens on addr ("HOST:PORT" or "[IPV6]:PORT"; port 0 picks one) and serves srv's metrics.
 * base and srv are borrowed and must outlive the endpoint; addr is borrowed. Returns NULL
 * (logged) when the address is bad or cannot be bound.
 */
struct metrics *metrics_start(struct event_base *base, struct server *srv, const char *addr);

/* The bound TCP port. */
int metrics_port(const struct metrics *m);

/* Closes the listener and any scrape in progress, and frees m. NULL is ignored. */
void metrics_stop(struct metrics *m);

/* Appends the whole exposition for srv to out (exposed for tests). Returns 0, or -1 on OOM. */
int metrics_render(struct server *srv, struct evbuffer *out);

#endif
