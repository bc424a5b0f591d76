/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Clocks and the project's one rule for turning seconds into a timer interval. Timeouts are
 * doubles of seconds everywhere (wire, options, CLI); every timer that enforces one is armed
 * through clk_timeval(), which rounds *up* to the next microsecond, so that no timeout fires
 * before its time, whichever program arms it.
 */
#ifndef CONDD_COMMON_CLOCK_H
#define CONDD_COMMON_CLOCK_H

#include <stdint.h>
#include <sys/time.h>

/* Monotonic clock, in seconds. */
double clk_mono(void);

/* Monotonic clock, in microseconds and in nanoseconds. */
uint64_t clk_mono_us(void);
uint64_t clk_mono_ns(void);

/* The coarse monotonic clock (a few ms of resolution, much cheaper), in seconds: for deadlines
 * that are checked lazily, such as session timeouts. */
double clk_mono_coarse(void);

/* Realtime clock (wall time), in microseconds since the Unix epoch. */
uint64_t clk_real_us(void);

/* seconds as a timer interval, rounded up to the next microsecond; negative and NaN give 0,
 * values beyond what time_t holds give the largest interval. */
struct timeval clk_timeval(double seconds);

#endif
