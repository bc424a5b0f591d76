/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Authentication at Hello and authorization of each request against the server's auth file
 * (authz.c). Every function is a no-op that allows everything when no --auth-file is set.
 */
#ifndef CONDD_DAEMON_AUTHZ_H
#define CONDD_DAEMON_AUTHZ_H

#include <stdbool.h>
#include <stdint.h>

#include "condd.pb-c.h"
#include "server_internal.h"

/* Decides who the client on c is from Hello h (borrowed) and sets c->principal. Returns false
 * when nothing checks out: the failure is then logged and counted, and c answers id with
 * UNAUTHENTICATED after --auth-fail-delay and closes; the caller must not open a session. */
bool authz_hello(struct conn *c, uint64_t id, const Condd__V1__Hello *h);

/* Whether c's principal may make req (borrowed). When not, the PERMISSION_DENIED answer has
 * been sent and counted, and the request must have no effect. */
bool authz_request(struct conn *c, const Condd__V1__Request *req);

/* Reorders lr's rows (borrowed, as built by the List handler) so that those c's principal may
 * read come first, and cuts each count to them; the arrays keep every row for freeing. */
void authz_filter_list(const struct conn *c, Condd__V1__ListResult *lr);

#endif
