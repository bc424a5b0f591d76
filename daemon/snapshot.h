/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The daemon's whole state to bytes and back, for the live restart (issue 15; protocol.md
 * §5.6.1): sessions with their secrets, remaining grace and kept answers, every lock with its
 * holders and queue in order, conditions and their waiters, semaphores, events, barriers, the
 * fencing-token clock, the next session id and the operation counters. The bytes are one
 * protobuf message of proto/state.proto (package condd.state, never sent on the wire) with a
 * version field and a BLAKE2b digest of the state, so that a truncated, corrupt or foreign
 * state is refused whole. The engine's side (a neutral export visitor and restore functions)
 * is in daemon/engine/restore.c; this file maps it to and from state.proto and handles the
 * session layer (resume.c).
 *
 * Timeouts and grace are saved as seconds remaining at the save, with the monotonic time of
 * the save; the load subtracts the time since then (the gap of the restart counts against
 * them, as it does for a client).
 */
#ifndef CONDD_DAEMON_SNAPSHOT_H
#define CONDD_DAEMON_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;

/* The version snapshot_save() writes and the only one snapshot_load() reads. */
#define SNAPSHOT_VERSION 1

/* What a save wrote or a load read. */
struct snapshot_info {
    size_t bytes;      /* size of the state in the file */
    uint64_t sessions; /* sessions saved or restored */
    uint64_t locks;    /* lock entries (held locks) */
    uint64_t holders;  /* lock holders and semaphore holders */
    uint64_t waiters;  /* pending requests of every kind (queued acquires, waits, ...) */
    uint64_t answers;  /* kept answers (Response frames) of detached sessions */
};

/*
 * Writes the whole state of srv to fd (a memfd, positioned at 0) as one message; false and a
 * logged reason on failure (nothing else changed). The caller (restart.c) has ended the sessions
 * without grace and stopped every connection from writing (half-closed) before calling this.
 *
 * Details: ended sessions the engine is still taking apart are finished first (their locks
 * handed on, which may keep answers for detached sessions). A session still attached is saved
 * as its detach would leave it now: its full grace, and its connection's unsent whole frames
 * kept after the answers it already had (over --max-buffered-answers: saved overflowed, so the
 * successor ends it, as a detach would). The connection is not touched. A lock or
 * request of a session that is not saved (no grace) makes the save fail. srv and fd are
 * borrowed; info (may be NULL) is filled on success. Secrets go into the file, never into a
 * log line or a reason.
 */
bool snapshot_save(struct server *srv, int fd, struct snapshot_info *info);

/*
 * Reads a state written by snapshot_save from fd into srv, which has no session yet. All or
 * nothing: on any error (unknown version, truncated or corrupt data, inconsistent references)
 * srv is left exactly as it was, why[] says why, and false is returned. Every restored session is
 * detached and in grace: its remaining grace as saved (a session that was attached at the save
 * gets its full grace from now).
 *
 * Details: fd is read from its current position to its end (borrowed, not closed). why
 * (whylen bytes, may be NULL) gets a one-line reason without any secret. The remaining grace and
 * every remaining timeout are less the time since the save (monotonic clock). Tokens handed out
 * after the load exceed every token in the state. The operation counters (Stats, /metrics)
 * continue from the saved values; uptime and connection gauges start anew. info (may be NULL)
 * is filled on success.
 */
bool snapshot_load(struct server *srv, int fd, char *why, size_t whylen,
                   struct snapshot_info *info);

#endif
