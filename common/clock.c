/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The clocks and the seconds-to-timeval rounding rule (see clock.h).
 */
#include "config.h"

#include "clock.h"

#include <math.h>
#include <time.h>

static struct timespec clk_read(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts;
}

double clk_mono(void)
{
    struct timespec ts = clk_read(CLOCK_MONOTONIC);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t clk_mono_us(void)
{
    struct timespec ts = clk_read(CLOCK_MONOTONIC);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t clk_mono_ns(void)
{
    struct timespec ts = clk_read(CLOCK_MONOTONIC);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double clk_mono_coarse(void)
{
    struct timespec ts = clk_read(CLOCK_MONOTONIC_COARSE);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t clk_real_us(void)
{
    struct timespec ts = clk_read(CLOCK_REALTIME);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct timeval clk_timeval(double seconds)
{
    struct timeval tv = {0, 0};
    if (!(seconds > 0))
        return tv; /* negative, zero or NaN */
    /* 2^62 seconds is far beyond any timeout and still fits a 64-bit time_t. */
    if (seconds >= 4.6e18) {
        tv.tv_sec = (time_t)4611686018427387904.0;
        return tv;
    }
    double whole = floor(seconds);
    tv.tv_sec = (time_t)whole;
    tv.tv_usec = (suseconds_t)ceil((seconds - whole) * 1e6);
    if (tv.tv_usec >= 1000000) {
        tv.tv_sec++;
        tv.tv_usec -= 1000000;
    }
    return tv;
}
