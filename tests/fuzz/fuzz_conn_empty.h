/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The connection fuzzer's invariant check (fuzz_conn_empty.c) and the one way its files report a
 * broken invariant: abort, which libFuzzer and the standalone replay report as a crash.
 */
#ifndef CONDD_TESTS_FUZZ_CONN_EMPTY_H
#define CONDD_TESTS_FUZZ_CONN_EMPTY_H

#include <stdio.h>
#include <stdlib.h>

struct event_base;
struct server;

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_conn: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,      \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Aborts unless srv (borrowed, every connection closed and the loop base settled) holds no
 * connection, session, lock, waiter, hold or entry bytes beyond what outlives sessions by
 * design (set events, aborted barriers, semaphores with posted permits: those are checked one
 * by one, then cleared) and base has no event left. */
void fuzz_check_empty(struct server *srv, struct event_base *base);

#endif
