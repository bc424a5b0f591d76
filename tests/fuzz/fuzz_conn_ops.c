/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The connection fuzzer's request-level operations (fuzz_conn_ops.h): each reads its arguments
 * from the input and fills a Request and its body, by family (locks and conditions; the
 * session's own and the operator's requests; semaphores and events; barriers), with the
 * choices of names, timeouts and counts they share. Nothing here sends, tracks or checks
 * anything: fuzz_conn.c queues what is built and checks the answers. Split from fuzz_conn.c;
 * the bytes each operation reads, and their order, are the corpus's format.
 */
#include "config.h"

#include "fuzz_conn_ops.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ arguments from the input */

static const double fuzz_timeouts[8] = {0, 0, 3600, -1, NAN, INFINITY, 0.002, 1e300};

double fuzz_hello_timeout(uint8_t x)
{
    uint8_t t = x % 8;
    return t < 2 ? 0 : fuzz_timeouts[t];
}

/* A timeout from the input: NULL (absent: forever) or one of fuzz_timeouts. */
static Condd__V1__Timeout *fuzz_timeout(struct fuzz_input *in, Condd__V1__Timeout *t)
{
    uint8_t x = fuzz_u8(in) % 8;
    if (x == 0)
        return NULL;
    t->seconds = fuzz_timeouts[x];
    return t;
}

/* A name from the input: mostly one of a few shared names so that sessions contend, sometimes
 * an invalid or unusual one, or bytes taken from the input. buf holds ENGINE_NAME_MAX + 2. */
static ProtobufCBinaryData fuzz_name(struct fuzz_input *in, uint8_t *buf)
{
    static const char *const common[] = {"a", "b", "c", "q/1"};
    uint8_t x = fuzz_u8(in);
    ProtobufCBinaryData d = {0, buf};
    if (x < 240) {
        d.len = strlen(common[x % 4]);
        memcpy(buf, common[x % 4], d.len);
    } else if (x == 240) {
        d.len = 0;
    } else if (x == 241) {
        d.len = 2;
        memcpy(buf, "\0x", 2);
    } else if (x == 242) {
        d.len = 2;
        memcpy(buf, "\xff\xfe", 2);
    } else if (x == 243 || x == 244) {
        d.len = ENGINE_NAME_MAX + (size_t)(x - 243); /* the longest valid name, one more */
        memset(buf, 'n', d.len);
    } else {
        d.len = fuzz_u8(in) % 16;
        for (size_t i = 0; i < d.len; i++)
            buf[i] = fuzz_u8(in);
    }
    return d;
}

/* A semaphore value or barrier parties from the input: mostly 1-3, so that requests on one
 * name agree or mismatch often and barriers fill, sometimes an invalid or extreme one (0, the
 * largest valid 2^31, one more, the largest uint32), or a byte from the input. */
static uint32_t fuzz_count(struct fuzz_input *in)
{
    uint8_t x = fuzz_u8(in);
    if (x < 240)
        return 1 + x % 3;
    switch (x) {
    case 240:
        return 0;
    case 241:
        return UINT32_C(1) << 31;
    case 242:
        return (UINT32_C(1) << 31) + 1;
    case 243:
        return UINT32_MAX;
    default:
        return fuzz_u8(in);
    }
}

/* ------------------------------------------------------------------ request builders */

void fuzz_req_init(struct fuzz_req *r, uint64_t id)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Timeout to = CONDD__V1__TIMEOUT__INIT;
    r->req = req;
    r->req.id = id;
    r->to = to;
}

/* Acquire, Release, Locked, Wait, Notify, NotifyAll: on names shared by every session. */
static bool fuzz_req_lock_cond(struct fuzz_input *in, enum fuzz_op op, struct fuzz_req *r)
{
    switch (op) {
    case FUZZ_OP_ACQUIRE:
        condd__v1__acquire__init(&r->b.acquire);
        r->b.acquire.lock = fuzz_name(in, r->name1);
        {
            /* The owner byte's high bits pick the mode, so older seeds keep their owners:
             * mostly exclusive, often shared, now and then a mode no server knows. */
            unsigned u = fuzz_u8(in), m = (u >> 4) & 7;
            r->b.acquire.owner = u % 3;
            r->b.acquire.mode = m < 4   ? CONDD__V1__LOCK_MODE__LOCK_MODE_EXCLUSIVE
                                : m < 7 ? CONDD__V1__LOCK_MODE__LOCK_MODE_SHARED
                                        : (Condd__V1__LockMode)2;
        }
        r->b.acquire.timeout = fuzz_timeout(in, &r->to);
        r->req.body_case = CONDD__V1__REQUEST__BODY_ACQUIRE;
        r->req.acquire = &r->b.acquire;
        return true;
    case FUZZ_OP_RELEASE:
        condd__v1__release__init(&r->b.release);
        r->b.release.lock = fuzz_name(in, r->name1);
        r->b.release.owner = fuzz_u8(in) % 3;
        r->req.body_case = CONDD__V1__REQUEST__BODY_RELEASE;
        r->req.release = &r->b.release;
        return true;
    case FUZZ_OP_LOCKED:
        condd__v1__locked__init(&r->b.locked);
        r->b.locked.lock = fuzz_name(in, r->name1);
        r->req.body_case = CONDD__V1__REQUEST__BODY_LOCKED;
        r->req.locked = &r->b.locked;
        return true;
    case FUZZ_OP_WAIT:
        condd__v1__wait__init(&r->b.wait);
        r->b.wait.condition = fuzz_name(in, r->name1);
        r->b.wait.lock = fuzz_name(in, r->name2);
        r->b.wait.owner = fuzz_u8(in) % 3;
        r->b.wait.timeout = fuzz_timeout(in, &r->to);
        r->b.wait.notify_first = fuzz_u8(in) % 3;
        r->req.body_case = CONDD__V1__REQUEST__BODY_WAIT;
        r->req.wait = &r->b.wait;
        return true;
    case FUZZ_OP_NOTIFY: {
        condd__v1__notify__init(&r->b.notify);
        r->b.notify.condition = fuzz_name(in, r->name1);
        r->b.notify.lock = fuzz_name(in, r->name2);
        r->b.notify.owner = fuzz_u8(in) % 3;
        uint8_t n = fuzz_u8(in);
        r->b.notify.n = n == 255 ? UINT64_MAX : n % 4;
        r->req.body_case = CONDD__V1__REQUEST__BODY_NOTIFY;
        r->req.notify = &r->b.notify;
        return true;
    }
    case FUZZ_OP_NOTIFY_ALL:
        condd__v1__notify_all__init(&r->b.notify_all);
        r->b.notify_all.condition = fuzz_name(in, r->name1);
        r->b.notify_all.lock = fuzz_name(in, r->name2);
        r->b.notify_all.owner = fuzz_u8(in) % 3;
        r->req.body_case = CONDD__V1__REQUEST__BODY_NOTIFY_ALL;
        r->req.notify_all = &r->b.notify_all;
        return true;
    default:
        return false;
    }
}

/* Ping, Cancel, Stats, List, a request without a body, Goodbye; the operator's Break and
 * KillSession. */
static bool fuzz_req_session(struct fuzz_input *in, enum fuzz_op op, struct fuzz_req *r)
{
    switch (op) {
    case FUZZ_OP_PING:
        condd__v1__ping__init(&r->b.ping);
        r->req.body_case = CONDD__V1__REQUEST__BODY_PING;
        r->req.ping = &r->b.ping;
        return true;
    case FUZZ_OP_CANCEL: {
        condd__v1__cancel__init(&r->b.cancel);
        uint8_t back = fuzz_u8(in);
        /* Mostly one of the last few requests of this connection, itself included. */
        r->b.cancel.target_id = back < 200 ? r->req.id - back % 4 : back;
        r->req.body_case = CONDD__V1__REQUEST__BODY_CANCEL;
        r->req.cancel = &r->b.cancel;
        return true;
    }
    case FUZZ_OP_STATS:
        condd__v1__stats__init(&r->b.stats);
        r->req.body_case = CONDD__V1__REQUEST__BODY_STATS;
        r->req.stats = &r->b.stats;
        return true;
    case FUZZ_OP_LIST:
        condd__v1__list__init(&r->b.list);
        r->b.list.prefix = fuzz_name(in, r->name1);
        if (fuzz_u8(in) & 1)
            r->b.list.prefix.len = 0;
        r->b.list.limit = fuzz_u8(in) % 3;
        r->req.body_case = CONDD__V1__REQUEST__BODY_LIST;
        r->req.list = &r->b.list;
        return true;
    case FUZZ_OP_NO_BODY:
        return true; /* a request with an id and no body */
    case FUZZ_OP_GOODBYE:
        condd__v1__goodbye__init(&r->b.goodbye);
        r->req.body_case = CONDD__V1__REQUEST__BODY_GOODBYE;
        r->req.goodbye = &r->b.goodbye;
        return true;
    case FUZZ_OP_BREAK: {
        /* Ends every other session holding the lock or semaphore, from inside this request. */
        uint8_t k = fuzz_u8(in);
        condd__v1__break__init(&r->b.brk);
        r->b.brk.name = fuzz_name(in, r->name1);
        r->b.brk.kind = k < 120   ? CONDD__V1__BREAK_KIND__BREAK_LOCK
                        : k < 250 ? CONDD__V1__BREAK_KIND__BREAK_SEMAPHORE
                                  : (Condd__V1__BreakKind)k;
        r->req.body_case = CONDD__V1__REQUEST__BODY_BREAK_HOLDERS;
        r->req.break_holders = &r->b.brk;
        return true;
    }
    case FUZZ_OP_KILL_SESSION:
        /* Session ids count up from 1: small numbers name live, ended and unknown sessions,
         * this one's own included. */
        condd__v1__kill_session__init(&r->b.kill_session);
        r->b.kill_session.session = fuzz_u8(in) % 16;
        r->req.body_case = CONDD__V1__REQUEST__BODY_KILL_SESSION;
        r->req.kill_session = &r->b.kill_session;
        return true;
    default:
        return false;
    }
}

/* The semaphore and event requests (protocol.md §17-§18), on the same names as the locks. */
static bool fuzz_req_sem_event(struct fuzz_input *in, enum fuzz_op op, struct fuzz_req *r)
{
    switch (op) {
    case FUZZ_OP_SEM_ACQUIRE: {
        condd__v1__sem_acquire__init(&r->b.sem_acquire);
        r->b.sem_acquire.name = fuzz_name(in, r->name1);
        r->b.sem_acquire.owner = fuzz_u8(in) % 3;
        r->b.sem_acquire.timeout = fuzz_timeout(in, &r->to);
        r->b.sem_acquire.value = fuzz_count(in);
        r->b.sem_acquire.bounded = fuzz_u8(in) & 1;
        r->req.body_case = CONDD__V1__REQUEST__BODY_SEM_ACQUIRE;
        r->req.sem_acquire = &r->b.sem_acquire;
        return true;
    }
    case FUZZ_OP_SEM_RELEASE:
        condd__v1__sem_release__init(&r->b.sem_release);
        r->b.sem_release.name = fuzz_name(in, r->name1);
        r->b.sem_release.owner = fuzz_u8(in) % 3;
        r->b.sem_release.value = fuzz_count(in);
        r->b.sem_release.bounded = fuzz_u8(in) & 1;
        r->req.body_case = CONDD__V1__REQUEST__BODY_SEM_RELEASE;
        r->req.sem_release = &r->b.sem_release;
        return true;
    case FUZZ_OP_SEM_LOCKED:
        condd__v1__sem_locked__init(&r->b.sem_locked);
        r->b.sem_locked.name = fuzz_name(in, r->name1);
        r->req.body_case = CONDD__V1__REQUEST__BODY_SEM_LOCKED;
        r->req.sem_locked = &r->b.sem_locked;
        return true;
    case FUZZ_OP_EVENT_SET:
        condd__v1__event_set__init(&r->b.event_set);
        r->b.event_set.name = fuzz_name(in, r->name1);
        r->req.body_case = CONDD__V1__REQUEST__BODY_EVENT_SET;
        r->req.event_set = &r->b.event_set;
        return true;
    case FUZZ_OP_EVENT_CLEAR:
        condd__v1__event_clear__init(&r->b.event_clear);
        r->b.event_clear.name = fuzz_name(in, r->name1);
        r->req.body_case = CONDD__V1__REQUEST__BODY_EVENT_CLEAR;
        r->req.event_clear = &r->b.event_clear;
        return true;
    case FUZZ_OP_EVENT_IS_SET:
        condd__v1__event_is_set__init(&r->b.event_is_set);
        r->b.event_is_set.name = fuzz_name(in, r->name1);
        r->req.body_case = CONDD__V1__REQUEST__BODY_EVENT_IS_SET;
        r->req.event_is_set = &r->b.event_is_set;
        return true;
    case FUZZ_OP_EVENT_WAIT:
        condd__v1__event_wait__init(&r->b.event_wait);
        r->b.event_wait.name = fuzz_name(in, r->name1);
        r->b.event_wait.timeout = fuzz_timeout(in, &r->to);
        r->req.body_case = CONDD__V1__REQUEST__BODY_EVENT_WAIT;
        r->req.event_wait = &r->b.event_wait;
        return true;
    default:
        return false;
    }
}

/* The barrier requests (protocol.md §19), parties mostly 1-3 so that barriers fill. */
static bool fuzz_req_barrier(struct fuzz_input *in, enum fuzz_op op, struct fuzz_req *r)
{
    switch (op) {
    case FUZZ_OP_BARRIER_WAIT:
        condd__v1__barrier_wait__init(&r->b.barrier_wait);
        r->b.barrier_wait.name = fuzz_name(in, r->name1);
        r->b.barrier_wait.parties = fuzz_count(in);
        r->b.barrier_wait.timeout = fuzz_timeout(in, &r->to);
        r->req.body_case = CONDD__V1__REQUEST__BODY_BARRIER_WAIT;
        r->req.barrier_wait = &r->b.barrier_wait;
        return true;
    case FUZZ_OP_BARRIER_RESET:
        condd__v1__barrier_reset__init(&r->b.barrier_reset);
        r->b.barrier_reset.name = fuzz_name(in, r->name1);
        r->b.barrier_reset.parties = fuzz_count(in);
        r->req.body_case = CONDD__V1__REQUEST__BODY_BARRIER_RESET;
        r->req.barrier_reset = &r->b.barrier_reset;
        return true;
    case FUZZ_OP_BARRIER_ABORT:
        condd__v1__barrier_abort__init(&r->b.barrier_abort);
        r->b.barrier_abort.name = fuzz_name(in, r->name1);
        r->b.barrier_abort.parties = fuzz_count(in);
        r->req.body_case = CONDD__V1__REQUEST__BODY_BARRIER_ABORT;
        r->req.barrier_abort = &r->b.barrier_abort;
        return true;
    case FUZZ_OP_BARRIER_STATE:
        condd__v1__barrier_state__init(&r->b.barrier_state);
        r->b.barrier_state.name = fuzz_name(in, r->name1);
        r->req.body_case = CONDD__V1__REQUEST__BODY_BARRIER_STATE;
        r->req.barrier_state = &r->b.barrier_state;
        return true;
    default:
        return false;
    }
}

bool fuzz_build_request(struct fuzz_input *in, enum fuzz_op op, struct fuzz_req *r)
{
    return fuzz_req_lock_cond(in, op, r) || fuzz_req_session(in, op, r) ||
           fuzz_req_sem_event(in, op, r) || fuzz_req_barrier(in, op, r);
}
