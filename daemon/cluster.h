/* SPDX-License-Identifier: BSD-2-Clause
 *
 * This server's place in a cluster (--cluster LIST --cluster-self ADDR, protocol.md §21.5): the
 * parsed server list and which entry is this server, the check that both settings agree, and
 * the one check every request passes through when a cluster is set: does the name it routes by
 * (§21.2: a condition by its lock) belong here? A request that does not is answered
 * WRONG_SERVER, naming the server it routes to, before it touches the engine. Without a
 * cluster nothing here runs beyond one NULL test per request.
 */
#ifndef CONDD_DAEMON_CLUSTER_H
#define CONDD_DAEMON_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "condd.pb-c.h"
#include "settings.h"

struct conn;

/* The daemon's default port, the one a cluster entry without a port means. */
#define CLUSTER_DEFAULT_PORT SETTINGS_DEFAULT_PORT

struct cluster;

/*
 * Checks that s's cluster and cluster-self settings (borrowed) go together: both or neither,
 * the list valid, and cluster-self one of its entries. Returns false with a one-line reason in
 * err[0..errlen) otherwise. Called wherever settings are built (start, reload).
 */
bool cluster_check_settings(const struct settings *s, char *err, size_t errlen);

/*
 * The cluster of s (borrowed): NULL with *ok true when s sets none; a new cluster (free it with
 * cluster_free()) when it does; NULL with *ok false and a reason in err when the settings do
 * not check out or memory runs out.
 */
struct cluster *cluster_new(const struct settings *s, bool *ok, char *err, size_t errlen);
void cluster_free(struct cluster *cl); /* NULL is fine */

/* How many servers, this server's index in the list, and entry i's address as written. */
size_t cluster_size(const struct cluster *cl);
size_t cluster_self(const struct cluster *cl);
const char *cluster_addr(const struct cluster *cl, size_t i);

/* Does name[0..len) route to this server? Writes the index it routes to into *to. */
bool cluster_owns(struct cluster *cl, const uint8_t *name, size_t len, size_t *to);

/*
 * The check dispatch_request() makes on every request of an active connection when c's server
 * has a cluster (req borrowed): true when req may go on (it names nothing, is never refused, or
 * its name routes here); false when it has been answered WRONG_SERVER ("'NAME' routes to
 * SERVER (cluster of N)") and counted, and must have no effect.
 */
bool cluster_check_request(struct conn *c, const Condd__V1__Request *req);

#endif
