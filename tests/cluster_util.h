/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Several condd on loopback for the cluster suites (protocol.md §21): a cluster's list must name
 * every server's port before any of them starts, so the ports are bound here first (127.0.0.1,
 * port 0, kept open) and each daemon takes its socket over by socket activation (LISTEN_FDS),
 * as under systemd: no port is ever released and re-bound, so no other process can take it in
 * between. Every daemon started here is stopped by tu_cluster_stop().
 */
#ifndef CONDD_TESTS_CLUSTER_UTIL_H
#define CONDD_TESTS_CLUSTER_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "testutil.h"

#define TU_CLUSTER_MAX 4

struct tu_cluster {
    int n;
    struct tu_daemon d[TU_CLUSTER_MAX]; /* d[i].addr is "127.0.0.1:PORT" */
    char list[TU_CLUSTER_MAX * 24];     /* "127.0.0.1:P0,127.0.0.1:P1,..." */
};

/*
 * Starts n (1..TU_CLUSTER_MAX) daemons, each with --cluster LIST --cluster-self its own address
 * where LIST is cl->list (all n), or with no cluster at all when cluster_list is "" (NULL: the
 * cluster); then the NULL-terminated extra_args (may be NULL). Returns false, with nothing left
 * running, on failure.
 */
bool tu_cluster_start(struct tu_cluster *cl, int n, const char *cluster_list,
                      const char *const *extra_args);

/* Starts daemon i of cl again, on its old port, after the test stopped it (tu_daemon_stop()),
 * as a member of cl's list, with the NULL-terminated extra_args (may be NULL). False when the
 * port could not be bound again or the daemon did not start. */
bool tu_cluster_restart(struct tu_cluster *cl, int i, const char *const *extra_args);

/* Stops every daemon of cl (SIGTERM, then SIGKILL) and removes their scratch directories. */
void tu_cluster_stop(struct tu_cluster *cl);

/* The index in cl's list of the server that name (borrowed, NUL-terminated) routes to
 * (protocol.md §21.2). */
size_t tu_cluster_owner(const struct tu_cluster *cl, const char *name);

/*
 * Writes to out[0..len) the first name "PREFIX-N" (N from 0) that routes to server `server`
 * (on) or to any other server (!on). Returns false when none of 10,000 does.
 */
bool tu_cluster_name(const struct tu_cluster *cl, size_t server, bool on, const char *prefix,
                     char *out, size_t len);

#endif
