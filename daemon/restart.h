/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Live restart (condd(8) LIVE RESTART, protocol.md §5.8): the daemon hands its whole state and
 * its listening sockets to its successor. On SIGUSR2 it disconnects every client as a dropped
 * connection would (sessions with a grace are detached and kept), writes the state to an
 * anonymous memory file (snapshot.c), and re-executes the binary at the path it was started
 * from, with the memory file and the listeners passed in the environment. The successor, at
 * start-up, adopts the listeners, loads the state (or starts empty and says so), and serves;
 * every session is then in its grace, so clients resume as after a blip. Under systemd the same
 * state can also go to the service manager's file-descriptor store on SIGTERM, so that
 * `systemctl restart` keeps it (sdnotify.c does the messages). This module owns the hand-over:
 * the environment variables, the memory file, the exec and its failure path.
 */
#ifndef CONDD_DAEMON_RESTART_H
#define CONDD_DAEMON_RESTART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct server;
struct sdnotify;
struct settings;

/* The environment a live restart passes to the successor (and unsets once read). */
#define RESTART_ENV_PID "CONDD_RESTART_PID"       /* the pid it is meant for (execv keeps it) */
#define RESTART_ENV_STATE "CONDD_RESTART_STATE"   /* the memory file's descriptor */
#define RESTART_ENV_LISTEN "CONDD_RESTART_LISTEN" /* FD=HEXLABEL,FD=HEXLABEL,... */
#define RESTART_ENV_COUNT "CONDD_RESTART_COUNT"   /* restarts so far, this one included */
#define RESTART_ENV_T0 "CONDD_RESTART_T0"         /* CLOCK_MONOTONIC µs of the SIGUSR2 */

/* The fd store names (sd_pid_notify_with_fds FDNAME=). */
#define RESTART_FDNAME_STATE "condd-state"
#define RESTART_FDNAME_LISTEN_PREFIX "condd-listen-" /* + the listener's label in hex */

struct restart;

/* Is this process the successor of a live restart (RESTART_ENV_PID names it)? For the checks
 * before opening: the predecessor made them before it exec'd, and an exit now would lose the
 * state it handed over. Reads the environment without changing it. */
bool restart_env_successor(void);

/*
 * At start-up, before any listener is opened: resolves the binary's path now (an upgrade
 * replaces the file; /proc/self/exe would keep following the old one), keeps argv (borrowed: it
 * must live as long as the process, as main's does), and reads what a predecessor passed: the
 * listeners are offered to srv (server_offer_inherited), the state's descriptor is kept for
 * restart_load(). Unsets the variables. settings (borrowed) are those in effect, read at each
 * restart (restart-drain). NULL on OOM.
 */
struct restart *restart_new(struct event_base *base, struct server *srv, char **argv,
                            const struct settings *settings);

/* A state handed over another way (the systemd fd store, sdnotify.c): fd is taken over, and
 * loaded by restart_load() in place of any other. */
void restart_set_state_fd(struct restart *r, int fd, bool from_fdstore);

/* True when this process was started by a live restart (the environment said so). */
bool restart_is_successor(const struct restart *r);

/* A check run before a re-exec starts (fn(arg, err, errlen)): false with the reason in err
 * refuses the restart (logged), the process goes on as it was. main.c checks that the settings
 * on disk would let the successor start. */
void restart_set_check(struct restart *r, bool (*fn)(void *arg, char *err, size_t errlen),
                       void *arg);

/* The notifier (borrowed, may be NULL) for RELOADING=1 and the fd store. */
void restart_set_notify(struct restart *r, struct sdnotify *notify);

/*
 * Once the listeners are open: loads the state handed over, if any, and closes its memory file.
 * A state that cannot be read is logged at error level with the reason and the server starts
 * empty (the load is all or nothing). Counts the restart and the restored sessions in the
 * server's stats. Returns false only when the state was unreadable.
 */
bool restart_load(struct restart *r);

/*
 * SIGUSR2: the live restart. At once: stop accepting, end the sessions without a grace, handle
 * what each client has sent and half-close its connection; save the state; then wait (at most
 * the restart-drain setting, counted from the half-close) for the clients to close theirs, and
 * exec. The wait runs outside the event loop with signals blocked, so nothing in this process
 * changes the state saved; a client that still sends a byte makes it drain in the loop as
 * before (handling what it sent) and save again (restart.c says why this order is safe). If
 * the exec fails (logged) the process goes on serving:
 * listeners accept again, and every session is detached in its grace, so its client resumes to
 * this process. A call while one is under way is ignored (logged).
 */
void restart_exec(struct restart *r);

/*
 * SIGTERM under systemd with keep-state-on-stop: the same up to the save; then the state and the
 * listeners condd bound itself go to the service manager's fd store, and the event loop is
 * ended (the process exits; a Unix socket file stays for the successor). If the store does not
 * take them, that is logged and the process exits all the same (the sessions are lost, as at a
 * stop). False when it could not start (a restart is under way, or out of memory): the caller
 * stops as usual.
 */
bool restart_store(struct restart *r);

/* Whether a restart or a store is under way. */
bool restart_busy(const struct restart *r);

/* A stop during a restart's drain: the restart is given up and every connection closed now
 * (sessions with a grace are detached; the stop then ends them). Nothing for a store. */
void restart_cancel(struct restart *r);

/* Frees r (closing a state descriptor never loaded). NULL is ignored. */
void restart_free(struct restart *r);

/* Hex encoding of a label for the environment and fd store names: out must hold 2*strlen+1. */
void restart_hex(const char *in, char *out);
/* The reverse; false when in is not even-length hex or out (outlen bytes) is too small. */
bool restart_unhex(const char *in, size_t inlen, char *out, size_t outlen);

#endif
