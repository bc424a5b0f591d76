/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The daemon's operation counters: one count per (request type, reply status), plus the
 * connection and session counters. Owned by the server; read by Stats and the metrics endpoint.
 */
#ifndef CONDD_DAEMON_STATS_H
#define CONDD_DAEMON_STATS_H

#include <stdint.h>

enum stats_op {
    STATS_OP_HELLO,
    STATS_OP_PING,
    STATS_OP_ACQUIRE,
    STATS_OP_RELEASE,
    STATS_OP_LOCKED,
    STATS_OP_WAIT,
    STATS_OP_NOTIFY,
    STATS_OP_NOTIFY_ALL,
    STATS_OP_CANCEL,
    STATS_OP_STATS,
    STATS_OP_LIST,
    STATS_OP_EVENT_SET,
    STATS_OP_EVENT_CLEAR,
    STATS_OP_EVENT_IS_SET,
    STATS_OP_EVENT_WAIT,
    STATS_OP_SEM_ACQUIRE,
    STATS_OP_SEM_RELEASE,
    STATS_OP_SEM_LOCKED,
    STATS_OP_BARRIER_WAIT,
    STATS_OP_BARRIER_RESET,
    STATS_OP_BARRIER_ABORT,
    STATS_OP_BARRIER_STATE,
    STATS_OP_GOODBYE,
    STATS_OP_BREAK,
    STATS_OP_KILL_SESSION,
    STATS_OP_OTHER, /* requests with no or an unknown body */
    STATS_OP_COUNT,
};

/* Statuses are the wire's Condd__V1__Status values, 0..STATS_STATUS_COUNT-1. */
#define STATS_STATUS_COUNT 21

/* Upper bounds (seconds) of the latency histogram buckets; the last bucket is +Inf. */
#define STATS_LAT_BUCKETS 16
extern const double stats_lat_bounds[STATS_LAT_BUCKETS];

struct stats_hist {
    uint64_t counts[STATS_LAT_BUCKETS + 1]; /* non-cumulative; [STATS_LAT_BUCKETS] is +Inf */
    uint64_t count;
    double sum;
};

struct stats {
    uint64_t ops[STATS_OP_COUNT][STATS_STATUS_COUNT];
    uint64_t connections_total;   /* accepted */
    uint64_t connections_refused; /* over --max-connections or --max-handshakes */
    uint64_t session_expiries;
    uint64_t protocol_errors;    /* connections closed for a malformed frame or sequence */
    uint64_t auth_failures;      /* Hellos answered UNAUTHENTICATED */
    uint64_t permission_denials; /* requests answered PERMISSION_DENIED */
    uint64_t bytes_in;
    uint64_t bytes_out;
    struct stats_hist grant_latency; /* queued Acquire: request to grant */
    struct stats_hist wait_latency;  /* Wait: request to reply */

    /* Session resume (resume.c). */
    uint64_t resumes;                   /* Hellos that resumed a session */
    uint64_t resume_failures;           /* Hellos answered RESUME_FAILED */
    uint64_t sessions_expired_in_grace; /* detached sessions ended by grace or buffer cap */
    /* TLS connections closed before their handshake ended (refused or timed out). */
    uint64_t tls_handshake_failures;
    /* TLS connections closed at accept because --max-handshakes others were in their handshake
     * (also counted in connections_refused). */
    uint64_t tls_handshakes_refused;
    /* Idle TLS connections whose record buffers the sweep gave back (conn_tls_sweep()). */
    uint64_t tls_buffers_released;
    /* Requests refused with WRONG_SERVER (cluster.c). */
    uint64_t wrong_server;

    /* Live restart (restart.c): restarts so far, carried across them (a re-exec, or a stop and
     * start through systemd's fd store), and the sessions the last one restored. */
    uint64_t restarts;
    uint64_t restored_sessions;
};

const char *stats_op_name(enum stats_op op);
/* Lower-case status name ("ok", "not_owner", ...). */
const char *stats_status_name(int status);
void stats_count(struct stats *st, enum stats_op op, int status);
void stats_hist_add(struct stats_hist *h, double seconds);

/* Resident set size of this process in bytes (from /proc/self/statm), 0 if unknown. */
uint64_t stats_rss_bytes(void);

#endif
