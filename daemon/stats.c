/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Operation counters and latency histograms (see stats.h).
 */
#include "config.h"

#include "stats.h"

#include <stdio.h>
#include <unistd.h>

#include "condd.pb-c.h"

const double stats_lat_bounds[STATS_LAT_BUCKETS] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    5.0,   30.0,
};

static const char *const stats_op_names[STATS_OP_COUNT] = {
    [STATS_OP_HELLO] = "hello",
    [STATS_OP_PING] = "ping",
    [STATS_OP_ACQUIRE] = "acquire",
    [STATS_OP_RELEASE] = "release",
    [STATS_OP_LOCKED] = "locked",
    [STATS_OP_WAIT] = "wait",
    [STATS_OP_NOTIFY] = "notify",
    [STATS_OP_NOTIFY_ALL] = "notify_all",
    [STATS_OP_CANCEL] = "cancel",
    [STATS_OP_STATS] = "stats",
    [STATS_OP_LIST] = "list",
    [STATS_OP_OTHER] = "other",
    [STATS_OP_EVENT_SET] = "event_set",
    [STATS_OP_EVENT_CLEAR] = "event_clear",
    [STATS_OP_EVENT_IS_SET] = "event_is_set",
    [STATS_OP_EVENT_WAIT] = "event_wait",
    [STATS_OP_SEM_ACQUIRE] = "sem_acquire",
    [STATS_OP_SEM_RELEASE] = "sem_release",
    [STATS_OP_SEM_LOCKED] = "sem_locked",
    [STATS_OP_BARRIER_WAIT] = "barrier_wait",
    [STATS_OP_BARRIER_RESET] = "barrier_reset",
    [STATS_OP_BARRIER_ABORT] = "barrier_abort",
    [STATS_OP_BARRIER_STATE] = "barrier_state",
    [STATS_OP_GOODBYE] = "goodbye",
    [STATS_OP_BREAK] = "break",
    [STATS_OP_KILL_SESSION] = "kill_session",
};

static const char *const stats_status_names[STATS_STATUS_COUNT] = {
    [CONDD__V1__STATUS__STATUS_OK] = "ok",
    [CONDD__V1__STATUS__STATUS_TIMEOUT] = "timeout",
    [CONDD__V1__STATUS__STATUS_CANCELLED] = "cancelled",
    [CONDD__V1__STATUS__STATUS_NOT_OWNER] = "not_owner",
    [CONDD__V1__STATUS__STATUS_ALREADY_OWNER] = "already_owner",
    [CONDD__V1__STATUS__STATUS_LOCK_MISMATCH] = "lock_mismatch",
    [CONDD__V1__STATUS__STATUS_BAD_REQUEST] = "bad_request",
    [CONDD__V1__STATUS__STATUS_LIMIT_EXCEEDED] = "limit_exceeded",
    [CONDD__V1__STATUS__STATUS_UNSUPPORTED_VERSION] = "unsupported_version",
    [CONDD__V1__STATUS__STATUS_SHUTTING_DOWN] = "shutting_down",
    [CONDD__V1__STATUS__STATUS_NOT_FOUND] = "not_found",
    [CONDD__V1__STATUS__STATUS_PROTOCOL_ERROR] = "protocol_error",
    [CONDD__V1__STATUS__STATUS_UNIMPLEMENTED] = "unimplemented",
    [CONDD__V1__STATUS__STATUS_INTERNAL] = "internal",
    [CONDD__V1__STATUS__STATUS_VALUE_MISMATCH] = "value_mismatch",
    [CONDD__V1__STATUS__STATUS_BROKEN] = "broken",
    [CONDD__V1__STATUS__STATUS_UNAUTHENTICATED] = "unauthenticated",
    [CONDD__V1__STATUS__STATUS_PERMISSION_DENIED] = "permission_denied",
    [CONDD__V1__STATUS__STATUS_SESSION_KILLED] = "session_killed",
    [CONDD__V1__STATUS__STATUS_RESUME_FAILED] = "resume_failed",
    [CONDD__V1__STATUS__STATUS_WRONG_SERVER] = "wrong_server",
};

const char *stats_op_name(enum stats_op op)
{
    return (unsigned)op < STATS_OP_COUNT ? stats_op_names[op] : "other";
}

const char *stats_status_name(int status)
{
    return status >= 0 && status < STATS_STATUS_COUNT ? stats_status_names[status] : "unknown";
}

void stats_count(struct stats *st, enum stats_op op, int status)
{
    if ((unsigned)op < STATS_OP_COUNT && status >= 0 && status < STATS_STATUS_COUNT)
        st->ops[op][status]++;
}

void stats_hist_add(struct stats_hist *h, double seconds)
{
    int i = 0;
    while (i < STATS_LAT_BUCKETS && seconds > stats_lat_bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += seconds;
}

uint64_t stats_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    unsigned long long size, rss;
    int n = fscanf(f, "%llu %llu", &size, &rss);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? rss * (uint64_t)page : 0;
}
