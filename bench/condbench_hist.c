/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condbench's latency histogram: HdrHistogram-style log-linear buckets over nanoseconds, a fixed
 * array of counts and no per-sample storage, so a run of any length costs the same memory and
 * recording stays an index computation and an increment on the hot path.
 */
#include "config.h"

#include <string.h>

#include "condbench.h"

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min_ns = UINT64_MAX;
}

/* Values below HIST_LINEAR map to themselves; above, the bucket is the power of two (msb) and
 * the top 7 bits below the leading one. */
static unsigned hist_index(uint64_t v)
{
    if (v < HIST_LINEAR)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= 8 */
    unsigned shift = msb - 7u;
    unsigned mant = (unsigned)(v >> shift); /* 128..255 */
    return HIST_LINEAR + (msb - 8u) * HIST_SUB + (mant - HIST_SUB);
}

/* The midpoint of bucket i, in nanoseconds. */
static uint64_t hist_value(unsigned i)
{
    if (i < HIST_LINEAR)
        return i;
    unsigned msb = (i - HIST_LINEAR) / HIST_SUB + 8u;
    unsigned mant = (i - HIST_LINEAR) % HIST_SUB + HIST_SUB;
    unsigned shift = msb - 7u;
    uint64_t lo = (uint64_t)mant << shift;
    return lo + ((1ull << shift) >> 1);
}

void hist_record(struct hist *h, uint64_t ns)
{
    h->buckets[hist_index(ns)]++;
    h->count++;
    h->sum_ns += ns;
    if (ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum_ns += src->sum_ns;
    if (src->min_ns < dst->min_ns)
        dst->min_ns = src->min_ns;
    if (src->max_ns > dst->max_ns)
        dst->max_ns = src->max_ns;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    /* The rank of the sample at q, 1-based, as HdrHistogram counts it. */
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            /* Never report outside what was seen (the midpoint can pass the extremes). */
            if (v > h->max_ns)
                v = h->max_ns;
            if (v < h->min_ns)
                v = h->min_ns;
            return v;
        }
    }
    return h->max_ns;
}

double hist_mean(const struct hist *h)
{
    return h->count == 0 ? 0.0 : (double)h->sum_ns / (double)h->count;
}
