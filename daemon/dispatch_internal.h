/* SPDX-License-Identifier: BSD-2-Clause
 *
 * What dispatch.c shares with the per-kind dispatch files (dispatch_sem.c, dispatch_event.c,
 * dispatch_barrier.c): the
 * reply helpers every request answers through, the timeout decoding, the List copying helper,
 * and each kind's entry points called from dispatch.c's switch, its List and its late-answer
 * path. Nothing outside daemon/dispatch*.c includes this.
 */
#ifndef CONDD_DAEMON_DISPATCH_INTERNAL_H
#define CONDD_DAEMON_DISPATCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "condd.pb-c.h"
#include "engine.h"
#include "server_internal.h"
#include "stats.h"

/* ------------------------------------------------------------------ dispatch.c */

/* A reply with a wire status and no result; counted under op. message is borrowed (may be
 * NULL). */
void dispatch_reply(struct conn *c, uint64_t id, enum stats_op op, int status, const char *message);

/* An engine error: a reply with its wire status, its message and no result. */
void dispatch_fail(struct conn *c, uint64_t id, enum stats_op op, enum engine_status st,
                   const char *message);

/* Sends resp (whose result the caller set, borrowed) with status OK. */
void dispatch_ok(struct conn *c, Condd__V1__Response *resp, uint64_t id, enum stats_op op);

/* A request's timeout for the engine: NULL (forever) when absent. Borrowed from t. */
const double *dispatch_timeout(const Condd__V1__Timeout *t);

/* A malloc'ed NUL-terminated copy of p[0..n); NULL with *oom set on failure. */
void *dispatch_dup(const void *p, size_t n, bool *oom);

/* ------------------------------------------------------------------ dispatch_sem.c */

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

/* ------------------------------------------------------------------ List items */

/* The limits List's events and barriers are copied under (dispatch_event_list(),
 * dispatch_barrier_list()): room for cap items, and the reply's byte budget (*bytes so far,
 * max) with its flags, which dispatch.c shares with the other kinds. */
struct dispatch_items {
    size_t cap;
    size_t *bytes;
    size_t max;
    bool *full;
    bool *oom;
};

/* One more item, the n+1th, costing cost bytes of the reply: a message of size bytes for the
 * caller to init, with a NUL-terminated copy of name[0..len) in *copy (both malloc'ed, owned by
 * the caller from then on); NULL when there is no room (cap reached, or the budget: *full set)
 * or memory (*oom set). */
static inline void *dispatch_item_new(const struct dispatch_items *it, size_t n, size_t size,
                                      const uint8_t *name, size_t len, size_t cost,
                                      ProtobufCBinaryData *copy)
{
    if (*it->oom || n == it->cap)
        return NULL;
    if (*it->full || *it->bytes + cost > it->max) {
        *it->full = true;
        return NULL;
    }
    *it->bytes += cost;
    void *m = malloc(size);
    copy->data = dispatch_dup(name, len, it->oom);
    copy->len = len;
    if (m == NULL || copy->data == NULL) {
        free(m);
        free(copy->data);
        *it->oom = true;
        return NULL;
    }
    return m;
}

/* ------------------------------------------------------------------ dispatch_event.c */

void dispatch_event_set(struct conn *c, uint64_t id, const Condd__V1__EventSet *m);
void dispatch_event_clear(struct conn *c, uint64_t id, const Condd__V1__EventClear *m);
void dispatch_event_is_set(struct conn *c, uint64_t id, const Condd__V1__EventIsSet *m);
void dispatch_event_wait(struct conn *c, uint64_t id, const Condd__V1__EventWait *m);

/* The answer to an EventWait, at once or (late) from the engine's reply callback. */
void dispatch_event_answer(struct conn *c, const struct engine_reply *r, bool late);

/* List's events: copies (the caller frees them with dispatch_event_list_free()) of at most limit
 * events whose names start with prefix into *out (n entries). *bytes is the reply's byte budget
 * so far (raised here; past max, *full is set and the copying stops). Returns whether the
 * engine had more (truncated); *oom on allocation failure. */
struct dispatch_event_list {
    Condd__V1__EventInfo **items;
    size_t n;
};
bool dispatch_event_list(struct conn *c, const ProtobufCBinaryData *prefix, size_t limit,
                         size_t *bytes, size_t max, bool *full, bool *oom,
                         struct dispatch_event_list *out);
void dispatch_event_list_free(struct dispatch_event_list *l);

/* ------------------------------------------------------------------ dispatch_barrier.c */

void dispatch_barrier_wait(struct conn *c, uint64_t id, const Condd__V1__BarrierWait *m);
void dispatch_barrier_reset(struct conn *c, uint64_t id, const Condd__V1__BarrierReset *m);
void dispatch_barrier_abort(struct conn *c, uint64_t id, const Condd__V1__BarrierAbort *m);
void dispatch_barrier_state(struct conn *c, uint64_t id, const Condd__V1__BarrierState *m);

/* The answer to a BarrierWait, at once or (late) from the engine's reply callback. */
void dispatch_barrier_answer(struct conn *c, const struct engine_reply *r, bool late);

/* List's barriers, exactly as dispatch_event_list() (the caller frees them with
 * dispatch_barrier_list_free()). */
struct dispatch_barrier_list {
    Condd__V1__BarrierInfo **items;
    size_t n;
};
bool dispatch_barrier_list(struct conn *c, const ProtobufCBinaryData *prefix, size_t limit,
                           size_t *bytes, size_t max, bool *full, bool *oom,
                           struct dispatch_barrier_list *out);
void dispatch_barrier_list_free(struct dispatch_barrier_list *l);

/* name (borrowed) as a message or a log line may show it: printable ASCII, other bytes as '?'
 * (messages are protobuf strings, which must stay valid UTF-8), cut at 64 bytes with "...".
 * out gets at most outlen bytes, terminated; 72 bytes hold any name. */
void dispatch_show_name(const ProtobufCBinaryData *name, char *out, size_t outlen);

/* ---- dispatch_admin.c: operator controls (admin permission checked by authz.c) */

/* Break: ends every other session holding the lock or permits of the semaphore b names. */
void dispatch_break(struct conn *c, uint64_t id, const Condd__V1__Break *b);
/* KillSession: ends the session k names (NOT_FOUND when there is none). */
void dispatch_kill_session(struct conn *c, uint64_t id, const Condd__V1__KillSession *k);

#endif
