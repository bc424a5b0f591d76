/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Helpers for tests that run a real condd: start it on an ephemeral loopback port (it writes the
 * bound port to a file once every listener is open), stop it, and wait for states with a
 * deadline instead of sleeping. Every process started here is reaped by tu_daemon_stop() or
 * tu_daemon_kill().
 */
#ifndef CONDD_TESTS_TESTUTIL_H
#define CONDD_TESTS_TESTUTIL_H

#include <stdbool.h>
#include <sys/types.h>

struct tu_daemon {
    pid_t pid;
    int port;            /* bound TCP port on 127.0.0.1 */
    char addr[64];       /* "127.0.0.1:PORT" */
    char dir[128];       /* private scratch directory (port file, unix socket, config...) */
    char unix_path[192]; /* dir + "/condd.sock": passed as --unix when with_unix is set */
};

/*
 * Starts $CONDD (or ../daemon/condd) with --listen 127.0.0.1:0 --port-file DIR/port, then the
 * NULL-terminated extra arguments (may be NULL), and waits up to 20 s for the port file.
 * with_unix also passes --unix DIR/condd.sock. Returns false (and leaves nothing running) on
 * failure. The daemon's stderr goes to the test's stderr.
 */
bool tu_daemon_start(struct tu_daemon *d, bool with_unix, const char *const *extra_args);

/* How tu_daemon_start_ex() starts condd: binary (NULL: tu_condd_path()), and child_setup (may
 * be NULL), run in the child after fork and before exec with d (its dir is made) and arg: to set
 * the environment or descriptors the daemon inherits (live restart, fd store tests). */
struct tu_spawn {
    const char *binary;
    void (*child_setup)(const struct tu_daemon *d, void *arg);
    void *arg;
};
bool tu_daemon_start_ex(struct tu_daemon *d, const struct tu_spawn *sp, bool with_unix,
                        const char *const *extra_args);

/* Whether the text file at path has a line containing needle and, if needle2 is not NULL, needle2
 * too (lines up to 2047 bytes). False when it cannot be read. */
bool tu_file_has_line(const char *path, const char *needle, const char *needle2);

/* A tu_spawn child_setup: the daemon's stderr into d->dir/log (appended), for tests that read
 * its log. arg is unused. */
void tu_log_to_dir(const struct tu_daemon *d, void *arg);

/* SIGTERM, wait up to 20 s (then SIGKILL), remove the scratch directory. Returns the wait
 * status (as from waitpid) or -1. */
int tu_daemon_stop(struct tu_daemon *d);

/* Waits up to timeout_s for the daemon to exit by itself (after a signal the test sent) and
 * removes the scratch directory. Returns the wait status, or -1 if it did not exit (it is then
 * killed). */
int tu_daemon_wait(struct tu_daemon *d, double timeout_s);

/* SIGKILL and reap, remove the scratch directory. */
void tu_daemon_kill(struct tu_daemon *d);

/* Monotonic time in seconds. */
double tu_now(void);

/* Polls pred(arg) every ms until it returns true or timeout_s passes. Returns its last value. */
bool tu_wait_until(bool (*pred)(void *arg), void *arg, double timeout_s);

/* A TCP connection to 127.0.0.1:port (blocking), or -1. */
int tu_connect(int port);

/* The path of the condd binary under test. */
const char *tu_condd_path(void);

#endif
