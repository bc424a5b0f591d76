/* SPDX-License-Identifier: BSD-2-Clause
 *
 * A fake clock for the engine suites: it backs struct engine_clock (engine.h) with time that
 * moves only when a test advances it, so timeouts are tested exactly (a request times out when
 * the clock reaches its deadline, not a microsecond earlier) and without sleeping.
 */
#ifndef CONDD_TESTS_FAKE_CLOCK_H
#define CONDD_TESTS_FAKE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

struct fake_timer;

struct fake_clock {
    double now;                /* seconds; starts at 0 */
    struct fake_timer *timers; /* every timer not freed, armed or not */
    uint64_t next_seq;         /* arm order, which breaks ties between equal deadlines */
    size_t ntimers;            /* timers not freed */
    size_t narmed;             /* armed ones among them */
};

/* Starts fc at time 0 and fills *out to drive an engine with it (fc is borrowed by out and
 * must outlive the engine). */
void fake_clock_init(struct fake_clock *fc, struct engine_clock *out);

/*
 * Moves time forward by seconds (>= 0), firing every timer whose deadline falls within, one at
 * a time in deadline order (ties in the order they were armed), each with the clock set to its
 * deadline; timers armed by a fire callback fire in the same call if due. Ends with the clock
 * at the old time plus seconds. Advancing by 0 fires the timers due now (a timeout of 0).
 */
void fake_clock_advance(struct fake_clock *fc, double seconds);

/* The earliest armed deadline, or -1 when no timer is armed. */
double fake_clock_next(const struct fake_clock *fc);

#endif
