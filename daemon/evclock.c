/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The engine's clock on libevent (see evclock.h): each engine timer is one libevent timer event
 * on the daemon's event_base, allocated together with the engine's callback in one block, and
 * armed through clk_timeval(), which rounds up so that no request's timeout fires early. The
 * engine only ever sees opaque handles, so it can be driven by a fake clock in the tests.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>

#include <event2/event.h>

#include "clock.h"
#include "evclock.h"

struct evclock_timer {
    void (*fire)(void *arg);
    void *arg;
    /* a struct event of event_get_struct_event_size() bytes, set up by event_assign(): libevent
     * keeps the struct opaque, and this spares a second allocation per timed request */
    max_align_t ev[];
};

static struct event *evclock_event(struct evclock_timer *t)
{
    return (struct event *)(void *)t->ev;
}

static double evclock_now(void *ctx)
{
    (void)ctx;
    return clk_mono();
}

static void evclock_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct evclock_timer *t = arg;
    t->fire(t->arg); /* may free t (evclock_timer_free): t is not touched afterwards */
}

static void *evclock_timer_new(void *ctx, void (*fire)(void *arg), void *arg)
{
    struct event_base *base = ctx;
    struct evclock_timer *t = malloc(sizeof *t + event_get_struct_event_size());
    if (t == NULL)
        return NULL;
    t->fire = fire;
    t->arg = arg;
    if (event_assign(evclock_event(t), base, -1, 0, evclock_on_timer, t) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

static void evclock_timer_arm(void *ctx, void *timer, double seconds)
{
    (void)ctx;
    struct timeval tv = clk_timeval(seconds);
    evtimer_add(evclock_event(timer), &tv);
}

static void evclock_timer_free(void *ctx, void *timer)
{
    (void)ctx;
    if (timer == NULL)
        return;
    event_del(evclock_event(timer)); /* also from within its own callback */
    free(timer);
}

void evclock_init(struct engine_clock *clock, struct event_base *base)
{
    *clock = (struct engine_clock){
        .now = evclock_now,
        .timer_new = evclock_timer_new,
        .timer_arm = evclock_timer_arm,
        .timer_free = evclock_timer_free,
        .timer_bytes = sizeof(struct evclock_timer) + event_get_struct_event_size(),
        .ctx = base,
    };
}
