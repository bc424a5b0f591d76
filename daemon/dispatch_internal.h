/* SPDX-License-Identifier: BSD-2-Clause
 *
 * What dispatch.c shares with the per-object dispatch files (dispatch_sem.c): the reply helpers,
 * the timeout decoding and the List copying helper, so that every request is answered and
 * counted the same way. Internal to daemon/.
 */
#ifndef CONDD_DAEMON_DISPATCH_INTERNAL_H
#define CONDD_DAEMON_DISPATCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "condd.pb-c.h"
#include "engine.h"
#include "server_internal.h"

/* ---- dispatch.c */

/* A reply with a wire status and no result (message borrowed; may be NULL). */
void dispatch_reply(struct conn *c, uint64_t id, enum stats_op op, int status, const char *message);
/* An engine error: a reply with its wire status, its message and no result. */
void dispatch_fail(struct conn *c, uint64_t id, enum stats_op op, enum engine_status st,
                   const char *message);
/* Sends resp (whose result the caller set; borrowed) with status OK. */
void dispatch_ok(struct conn *c, Condd__V1__Response *resp, uint64_t id, enum stats_op op);
/* The engine's view of a wire timeout: NULL (forever) or the seconds inside t. */
const double *dispatch_timeout(const Condd__V1__Timeout *t);
/* A malloc'ed NUL-terminated copy of p[0..n); NULL with *oom set on failure. */
void *dispatch_dup(const void *p, size_t n, bool *oom);

/* ---- dispatch_sem.c */

void dispatch_sem_acquire(struct conn *c, uint64_t id, const Condd__V1__SemAcquire *a);
void dispatch_sem_release(struct conn *c, uint64_t id, const Condd__V1__SemRelease *r);
void dispatch_sem_locked(struct conn *c, uint64_t id, const Condd__V1__SemLocked *l);

/* Completes and sends resp (id, status and message already set from r) answering a SemAcquire,
 * now or late (dispatch_answer() calls it). */
void dispatch_sem_answer(struct conn *c, Condd__V1__Response *resp, const struct engine_reply *r);

/* The semaphores of a List reply, copied out of the engine (its pointers live only in the
 * visitor). Owned by the caller: dispatch_sem_list_free(). */
struct dispatch_sem_list {
    Condd__V1__SemaphoreInfo **items;
    size_t n, cap;
    size_t bytes, budget; /* bytes of names copied so far, and the most allowed */
    bool truncated;       /* the limit or the byte budget cut the list */
    bool oom;
};

/* Fills dsl with the semaphores whose names start with prefix, at most limit, within budget
 * bytes of names. On OOM dsl->oom is set (free it all the same). */
void dispatch_sem_list(struct engine *e, const ProtobufCBinaryData *prefix, size_t limit,
                       size_t budget, struct dispatch_sem_list *dsl);
void dispatch_sem_list_free(struct dispatch_sem_list *dsl);

#endif
