/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condd's side of the systemd service protocol: listeners inherited through socket activation,
 * and the notifications a Type=notify unit expects (READY=1 once every listener is open, a
 * STATUS= summary refreshed from a loop timer, RELOADING=1 around a reload, STOPPING=1, and
 * WATCHDOG=1 at half the watchdog interval). Built without libsystemd (--without-systemd) every
 * function here is a no-op and no listener is ever inherited.
 */
#ifndef CONDD_DAEMON_SDNOTIFY_H
#define CONDD_DAEMON_SDNOTIFY_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct server;
struct sdnotify;
struct restart;

/* Seconds between two STATUS= refreshes. */
#define SDNOTIFY_STATUS_SECONDS 5

/*
 * Adopts the listening sockets systemd passed (LISTEN_FDS, checked against LISTEN_PID) into
 * srv and unsets those variables. Descriptors from the fd store are told apart by name
 * (LISTEN_FDNAMES): the state a stop stored (restart.h's RESTART_FDNAME_STATE) goes to
 * restart_set_state_fd(r), the listeners stored beside it are offered to srv for their
 * configured addresses (server_offer_inherited). Returns how many socket-activation listeners
 * were adopted: 0 when the daemon was not socket-activated, -1 (logged) when a passed descriptor
 * is not a listening stream socket or cannot be used. srv and r are borrowed.
 */
int sdnotify_adopt_listeners(struct server *srv, struct restart *r);

/* Was this process socket-activated: did systemd pass it (LISTEN_FDS, LISTEN_PID this process)
 * at least one descriptor that is not condd's own from the fd store (RESTART_FDNAME_STATE,
 * RESTART_FDNAME_LISTEN_PREFIX)? A start from the fd store alone opens its configured listeners,
 * so it is not. Reads the environment without changing it. */
bool sdnotify_socket_activated(void);

/* FDSTORE=1 with FDNAME=name: hands a duplicate of fd (borrowed) to the service manager's fd
 * store. False (logged) when there is no service manager or the message could not be sent. */
bool sdnotify_fdstore_add(struct sdnotify *n, const char *name, int fd);

/* FDSTOREREMOVE=1 with FDNAME=name: the store drops what it keeps under name. */
void sdnotify_fdstore_remove(struct sdnotify *n, const char *name);

/*
 * Starts the notifier on base: the STATUS= refresh timer, and the watchdog timer when the
 * service manager asked for one (WATCHDOG_USEC, WATCHDOG_PID). base and srv are borrowed and
 * must outlive it. Returns NULL when there is nobody to notify (no NOTIFY_SOCKET, or built
 * without libsystemd) or on OOM; every function below accepts NULL and then does nothing.
 */
struct sdnotify *sdnotify_new(struct event_base *base, struct server *srv);

/* READY=1 with a first STATUS=. Call once every listener is open. */
void sdnotify_ready(struct sdnotify *n);

/* RELOADING=1 before a reload is applied; call sdnotify_ready() when it is done. */
void sdnotify_reloading(struct sdnotify *n);

/* STOPPING=1: the graceful shutdown has begun. The watchdog keeps being pinged. */
void sdnotify_stopping(struct sdnotify *n);

/* Stops the timers and frees n. */
void sdnotify_free(struct sdnotify *n);

/* Writes the one-line summary STATUS= carries ("3 connections, 2 locks held, 1 waiter") into
 * buf. Available in every build (the log uses it too). */
void sdnotify_summary(struct server *srv, char *buf, size_t len);

#endif
