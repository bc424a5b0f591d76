/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Starting and commanding tests/blipproxy (see blipproxy.c) from a C test: the proxy sits
 * between the test's clients and its condd and drops, resets or stalls connections on command.
 */
#ifndef CONDD_TESTS_PROXY_UTIL_H
#define CONDD_TESTS_PROXY_UTIL_H

#include <stdbool.h>
#include <sys/types.h>

struct tu_proxy {
    pid_t pid;
    int port;         /* clients connect here (127.0.0.1) */
    int control_port; /* commands */
    char dir[128];    /* scratch directory for the port file */
};

/* Starts $BLIPPROXY (or $top_builddir/tests/blipproxy, or ./blipproxy) in front of
 * 127.0.0.1:target_port and waits for its ports. Returns false (nothing left running) on failure.
 */
bool tu_proxy_start(struct tu_proxy *p, int target_port);

/* Sends one command ("drop", "reset", "drop-client", "stall", "flow", "refuse", "accept",
 * "count", "refused") and waits for its answer, which is copied to out (may be NULL). True if the
 * answer is not an error: the command has then taken effect. */
bool tu_proxy_cmd(struct tu_proxy *p, const char *cmd, char *out, size_t outlen);

/* Stops the proxy (SIGTERM, then SIGKILL) and removes its directory. */
void tu_proxy_stop(struct tu_proxy *p);

#endif
