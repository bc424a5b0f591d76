/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The server: listeners (TCP, Unix, or sockets inherited from systemd), the set of open
 * connections, the engine they share, and the loop-wide flush that batches every reply produced
 * in one loop turn into one write per connection. One event-loop thread owns all of it.
 */
#ifndef CONDD_DAEMON_SERVER_H
#define CONDD_DAEMON_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "settings.h"
#include "stats.h"

struct event_base;
struct engine;
struct conn;

struct server;

/* A server on base (borrowed) with the given settings (copied). NULL on OOM. */
struct server *server_new(struct event_base *base, const struct settings *settings);

/* Closes every connection and listener (removing a Unix socket file it created) and frees. */
void server_free(struct server *srv);

/*
 * Opens a TCP listener on "host:port" or "[v6]:port" (port 0: ephemeral). Returns false and
 * logs the reason on failure.
 */
bool server_listen_tcp(struct server *srv, const char *addr);

/* The same for a TLS listener: its connections use the certificate and key set with
 * server_set_tls() (which must come first). */
bool server_listen_tls(struct server *srv, const char *addr);

struct tls_ctx;
/* Puts ctx (taken over; NULL: none) in effect for new TLS connections and frees the one it
 * replaces; open connections keep the one they started with. */
void server_set_tls(struct server *srv, struct tls_ctx *ctx);

/* The port of the first TLS listener, or 0 if there is none. */
int server_first_tls_port(const struct server *srv);

/* Opens a Unix stream listener at path (a stale socket file is replaced) with permission bits
 * mode and, unless group (a name or a number) is NULL, that owner group. Logs the reason on
 * failure. path and group are borrowed. */
bool server_listen_unix(struct server *srv, const char *path, unsigned mode, const char *group);

/* Adopts an already bound and listening socket (systemd socket activation). Takes the fd. */
bool server_adopt_listener(struct server *srv, int fd);

/* The port of the first TCP listener (plaintext ones are opened first), or 0 if there is
 * none. */
int server_first_tcp_port(const struct server *srv);

/* Applies the settings that may change at run time (the table's reloadable rows: limits, the
 * session timeout for new sessions); the rest stay as started. settings is borrowed. Returns
 * false on out-of-memory with nothing changed. */
bool server_update_settings(struct server *srv, const struct settings *settings);

struct auth_db;
/* Puts db (taken over; NULL: no authentication) in effect for every request from now on,
 * including those of open sessions, and frees the one it replaces. */
void server_set_auth(struct server *srv, struct auth_db *db);

/*
 * Graceful stop, step one: close the listeners, answer SHUTTING_DOWN to every pending acquire
 * and wait, and refuse new ones. Connections stay open so the replies can be flushed; the
 * caller then closes them with server_close_all() (after a bounded drain).
 */
void server_begin_shutdown(struct server *srv);

/* Number of connections with unsent output (to decide when the shutdown drain is done). */
unsigned server_unflushed(const struct server *srv);

/* Closes every connection (their sessions end). */
void server_close_all(struct server *srv);

/* A snapshot of the counters for Stats, metrics and sd_notify STATUS=. */
struct server_snapshot {
    double uptime_s;
    uint64_t connections;
    uint64_t sessions;          /* detached ones included */
    uint64_t detached_sessions; /* in their grace without a connection (resume.c) */
};
void server_snapshot(const struct server *srv, struct server_snapshot *out);
const struct stats *server_stats(const struct server *srv);
struct engine *server_engine(struct server *srv);

#endif
