/* SPDX-License-Identifier: BSD-2-Clause
 *
 * What condbench's condd target (condbench_condd.c) shares with its modes for semaphores, events
 * and barriers (condbench_prims.c): the per-connection state and the helpers every callback
 * uses, and the entry points the target calls for those modes.
 */
#ifndef CONDD_BENCH_CONDBENCH_CONDD_H
#define CONDD_BENCH_CONDBENCH_CONDD_H

#include <condd/condd_async.h>

#include "condbench.h"

/* One server's connection of a benchmark connection. */
struct cd_link {
    struct bench_conn *cn;
    unsigned server; /* index in g_opts.servers */
    condd_async_conn *c;
};

/* One benchmark connection to condd (bench_conn.impl): a libcondd connection to every server
 * of g_opts.servers, opened before the window so that no connect is timed. */
struct cd_conn {
    bool closing;     /* condbench is closing it: every callback from now on is ignored */
    int hold_result;  /* churn --hold of a waiting kind: the wait's immediate answer, if any */
    unsigned pending; /* connects not finished yet */
    bool failed;      /* one of them failed (why: the first reason) */
    char why[512];
    struct cd_link links[]; /* g_opts.servers.n */
};

/* cn's connection to the server of its current name (cn->server), or NULL when it is closing
 * (borrowed). */
condd_async_conn *cd_client(struct bench_conn *cn);
/* Callbacks check this first: cn's state is gone or going. */
bool cd_ignored(struct bench_conn *cn);
/* "strerror: server message" for result on c (a thread-local buffer, valid until the next call). */
const char *cd_why(condd_async_conn *c, int result);

/* sem, sem-contended: the generic loop's acquire and release on a semaphore (--value,
 * --bounded). */
void prim_sem_acquire(struct bench_conn *cn);
void prim_sem_release(struct bench_conn *cn);
/* churn --hold --kind other than lock: leaves one object of the kind behind under cn->name;
 * reports through loop_granted() (kept), loop_refused() (LIMIT_EXCEEDED) or loop_fail(). */
void prim_hold(struct bench_conn *cn);
/* barrier: starts the generations on worker w (the only worker). */
void prim_barrier_start(struct worker *w);
/* barrier: the "barrier:" report line, into w->extra. */
void prim_barrier_report(struct worker *w);
/* rw (condbench_rw.c): one writer, c-1 readers on one lock; the writer's wait vs reader holds. */
void prim_rw_start(struct worker *w);
void prim_rw_report(struct worker *w);

#endif
