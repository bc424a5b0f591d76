/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The one place where the engine's statuses become the wire's.
 */
#ifndef CONDD_DAEMON_STATUS_H
#define CONDD_DAEMON_STATUS_H

#include "condd.pb-c.h"
#include "engine.h"

/* The wire status for an engine status. ENGINE_PENDING is not an answer and never reaches the
 * wire; it maps to INTERNAL so that a bug shows as an error rather than a false OK. */
Condd__V1__Status status_to_wire(enum engine_status status);

#endif
