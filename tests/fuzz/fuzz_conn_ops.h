/* SPDX-License-Identifier: BSD-2-Clause
 *
 * What the connection fuzzer's two halves share about an input's operations: the input being
 * read, the operations an op byte names, and the builders of the request-level ones
 * (fuzz_conn_ops.c), which read their arguments from the input and fill a Request. fuzz_conn.c
 * owns the client model, runs the connection-level operations itself and queues what the
 * builders fill.
 */
#ifndef CONDD_TESTS_FUZZ_CONN_OPS_H
#define CONDD_TESTS_FUZZ_CONN_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "condd.pb-c.h"
#include "engine.h"

/* The input not read yet: p is borrowed from the caller of LLVMFuzzerTestOneInput(). */
struct fuzz_input {
    const uint8_t *p;
    size_t n;
};

/* The next byte of in, or 0 once it is used up (so a short input still ends every operation). */
static inline uint8_t fuzz_u8(struct fuzz_input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/* What an op byte names (its low 6 bits modulo FUZZ_OP_COUNT). The numbers are the corpus's
 * format: new operations go at the end, before FUZZ_OP_COUNT. */
enum fuzz_op {
    FUZZ_OP_HELLO,
    FUZZ_OP_PING,
    FUZZ_OP_ACQUIRE,
    FUZZ_OP_RELEASE,
    FUZZ_OP_LOCKED,
    FUZZ_OP_WAIT,
    FUZZ_OP_NOTIFY,
    FUZZ_OP_NOTIFY_ALL,
    FUZZ_OP_CANCEL,
    FUZZ_OP_STATS,
    FUZZ_OP_LIST,
    FUZZ_OP_NO_BODY,
    FUZZ_OP_RAW,
    FUZZ_OP_SETTLE,
    FUZZ_OP_SLEEP,
    FUZZ_OP_RECONNECT,
    /* round 2, appended so that the seeds of the ops above keep their meaning */
    FUZZ_OP_SEM_ACQUIRE,
    FUZZ_OP_SEM_RELEASE,
    FUZZ_OP_SEM_LOCKED,
    FUZZ_OP_EVENT_SET,
    FUZZ_OP_EVENT_CLEAR,
    FUZZ_OP_EVENT_IS_SET,
    FUZZ_OP_EVENT_WAIT,
    FUZZ_OP_BARRIER_WAIT,
    FUZZ_OP_BARRIER_RESET,
    FUZZ_OP_BARRIER_ABORT,
    FUZZ_OP_BARRIER_STATE,
    FUZZ_OP_SHUTDOWN,
    FUZZ_OP_GOODBYE, /* round 2: sessions that end on request or by an operator */
    FUZZ_OP_BREAK,
    FUZZ_OP_KILL_SESSION,
    /* round 3: session resume and acknowledged delivery (protocol.md §5.5-§5.6.2) */
    FUZZ_OP_HELLO_GRACE,
    FUZZ_OP_VANISH,
    FUZZ_OP_RESUME,
    FUZZ_OP_COUNT
};

/*
 * A request being built, with room for everything its body points to: req.<body> points into
 * b, a timeout into to, names into name1 and name2. So it must not be copied or moved once
 * built; it is meant for the stack of one operation, encoded (fuzz_queue()) before it returns.
 */
struct fuzz_req {
    Condd__V1__Request req;
    Condd__V1__Timeout to;
    union {
        Condd__V1__Ping ping;
        Condd__V1__Acquire acquire;
        Condd__V1__Release release;
        Condd__V1__Locked locked;
        Condd__V1__Wait wait;
        Condd__V1__Notify notify;
        Condd__V1__NotifyAll notify_all;
        Condd__V1__Cancel cancel;
        Condd__V1__Stats stats;
        Condd__V1__List list;
        Condd__V1__SemAcquire sem_acquire;
        Condd__V1__SemRelease sem_release;
        Condd__V1__SemLocked sem_locked;
        Condd__V1__EventSet event_set;
        Condd__V1__EventClear event_clear;
        Condd__V1__EventIsSet event_is_set;
        Condd__V1__EventWait event_wait;
        Condd__V1__BarrierWait barrier_wait;
        Condd__V1__BarrierReset barrier_reset;
        Condd__V1__BarrierAbort barrier_abort;
        Condd__V1__BarrierState barrier_state;
        Condd__V1__Goodbye goodbye;
        Condd__V1__Break brk;
        Condd__V1__KillSession kill_session;
    } b;
    uint8_t name1[ENGINE_NAME_MAX + 2], name2[ENGINE_NAME_MAX + 2];
};

/* Starts r (caller's storage) as a request with this id and no body. */
void fuzz_req_init(struct fuzz_req *r, uint64_t id);

/* Fills r (started by fuzz_req_init() with its id, which a Cancel counts back from; caller's
 * storage) as op's request, reading its arguments from in. Returns false, having read nothing,
 * when op is not a request-level operation (fuzz_conn.c runs those itself). */
bool fuzz_build_request(struct fuzz_input *in, enum fuzz_op op, struct fuzz_req *r);

/* A Hello's session timeout from an input byte x: x % 8 picks one of the requests' timeouts,
 * 0 (the server's default) for the first two. */
double fuzz_hello_timeout(uint8_t x);

#endif
