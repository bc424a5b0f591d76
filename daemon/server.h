/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The server: listeners (TCP, Unix, or sockets inherited from systemd), the set of open
 * connections, the engine they share, and the loop-wide flush that batches every reply produced
 * in one loop turn into one write per connection. One event-loop thread owns all of it.
 */
#ifndef CONDD_DAEMON_SERVER_H
#define CONDD_DAEMON_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/* The gid of group (borrowed), a name or a number. Returns false with "no group 'NAME'" (and
 * the system's reason, if any) in err. No side effect: main.c checks unix-group with it before
 * anything is opened, server_listen_unix() uses it again. */
bool server_group_id(const char *group, gid_t *gid, char *err, size_t errlen);

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

/* ------------------------------------------------------------------ live restart (restart.c) */

/* Keeps fd (taken over, closed on failure), a listening socket handed over by the previous
 * process, under label ("tcp:ADDR", "tls:ADDR", "unix:PATH", or "fd" from socket activation):
 * the server_listen_*() call for the same address then adopts it instead of binding. False (fd
 * closed, logged) when too many are offered or on OOM. label is borrowed. */
bool server_offer_inherited(struct server *srv, const char *label, int fd);

/* Adopts every offered socket labelled label (socket activation's "fd" ones) as a plaintext
 * listener; returns how many. */
int server_adopt_inherited(struct server *srv, const char *label);

/* Closes the offered sockets no listen call claimed (their address is no longer configured). */
void server_close_unclaimed(struct server *srv);

/* Listeners: how many, and the i-th one's socket (still owned by srv) and label (borrowed). */
int server_listener_count(const struct server *srv);
int server_listener_fd(const struct server *srv, int i, const char **label);

/* Stops (pause) or restarts accepting on every listener; queued connections wait in the
 * kernel's backlog meanwhile. */
void server_pause_listeners(struct server *srv, bool pause);

/* The listeners' Unix socket files outlive this process (a successor serves on them): closing
 * no longer removes them. */
void server_keep_socket_files(struct server *srv);

/*
 * Live restart, step one: a session without a grace (or a connection without a session) ends as
 * at a dropped connection; every other connection has its readable requests handled and is
 * half-closed: its client sees the end of the stream and closes, which detaches the session
 * with its unsent answers (a request written before the client noticed is still read). Returns
 * the connections still open.
 */
unsigned server_begin_detach(struct server *srv);

/* Step two (or all at once): closes every connection left, as if each had dropped, after
 * handling what is readable on it; every session with a grace is then detached. */
void server_detach_all(struct server *srv);

/* Open client connections. */
unsigned server_connection_count(const struct server *srv);

/* Counts the live restarts so far (carried across them) and the sessions the last one
 * restored, for Stats and /metrics. */
void server_set_restart_stats(struct server *srv, uint64_t restarts, uint64_t restored);

/* A snapshot of the counters for Stats, metrics and sd_notify STATUS=. */
struct server_snapshot {
    double uptime_s;
    uint64_t connections;
    uint64_t sessions;          /* detached ones included */
    uint64_t detached_sessions; /* in their grace without a connection (resume.c) */
    uint64_t tls_handshakes;    /* TLS connections in their handshake (in connections too) */
};
void server_snapshot(const struct server *srv, struct server_snapshot *out);
const struct stats *server_stats(const struct server *srv);
struct engine *server_engine(struct server *srv);

#endif
