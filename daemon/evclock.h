/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The engine's clock (struct engine_clock, engine.h) on libevent: the daemon's side of the
 * engine's injected time.
 */
#ifndef CONDD_DAEMON_EVCLOCK_H
#define CONDD_DAEMON_EVCLOCK_H

#include "engine.h"

struct event_base;

/*
 * Fills *clock with one-shot timers on base and the monotonic clock of common/clock.h. base is
 * borrowed and must outlive every timer, so the engine the clock is given to. Nothing is
 * allocated until the engine creates a timer.
 */
void evclock_init(struct engine_clock *clock, struct event_base *base);

#endif
