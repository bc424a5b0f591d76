/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The engine suites' fake clock (see fake_clock.h). Timers sit in one unsorted list and each
 * advance scans it for the earliest due one: the suites keep at most a few hundred timers, and a
 * scan per fire keeps the order rule (deadline, then arm order) obvious.
 */
#include "config.h"

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>

#include "fake_clock.h"

struct fake_timer {
    struct fake_timer *prev, *next;
    void (*fire)(void *arg);
    void *arg;
    double deadline;
    uint64_t seq;
    bool armed;
};

static double fc_now(void *ctx)
{
    return ((struct fake_clock *)ctx)->now;
}

static void *fc_timer_new(void *ctx, void (*fire)(void *arg), void *arg)
{
    struct fake_clock *fc = ctx;
    struct fake_timer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->fire = fire;
    t->arg = arg;
    t->next = fc->timers;
    if (fc->timers != NULL)
        fc->timers->prev = t;
    fc->timers = t;
    fc->ntimers++;
    return t;
}

static void fc_timer_arm(void *ctx, void *timer, double seconds)
{
    struct fake_clock *fc = ctx;
    struct fake_timer *t = timer;
    ck_assert(seconds >= 0);
    if (!t->armed)
        fc->narmed++;
    t->armed = true;
    t->deadline = fc->now + seconds;
    t->seq = fc->next_seq++;
}

static void fc_timer_free(void *ctx, void *timer)
{
    struct fake_clock *fc = ctx;
    struct fake_timer *t = timer;
    if (t == NULL)
        return;
    if (t->armed)
        fc->narmed--;
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        fc->timers = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    fc->ntimers--;
    free(t);
}

void fake_clock_init(struct fake_clock *fc, struct engine_clock *out)
{
    *fc = (struct fake_clock){0};
    *out = (struct engine_clock){
        .now = fc_now,
        .timer_new = fc_timer_new,
        .timer_arm = fc_timer_arm,
        .timer_free = fc_timer_free,
        .timer_bytes = sizeof(struct fake_timer),
        .ctx = fc,
    };
}

static struct fake_timer *earliest(const struct fake_clock *fc)
{
    struct fake_timer *best = NULL;
    for (struct fake_timer *t = fc->timers; t != NULL; t = t->next) {
        if (!t->armed)
            continue;
        if (best == NULL || t->deadline < best->deadline ||
            (t->deadline == best->deadline && t->seq < best->seq))
            best = t;
    }
    return best;
}

double fake_clock_next(const struct fake_clock *fc)
{
    const struct fake_timer *t = earliest(fc);
    return t != NULL ? t->deadline : -1;
}

void fake_clock_advance(struct fake_clock *fc, double seconds)
{
    ck_assert(seconds >= 0);
    double until = fc->now + seconds;
    struct fake_timer *t;
    while ((t = earliest(fc)) != NULL && t->deadline <= until) {
        if (t->deadline > fc->now)
            fc->now = t->deadline;
        t->armed = false;
        fc->narmed--;
        t->fire(t->arg); /* may free t */
    }
    fc->now = until;
}
