/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The mapping from the engine's statuses (enum engine_status, engine.h) to the wire's
 * (Condd__V1__Status, condd.proto): the engine does not know the wire, so every answer it gives,
 * at once or later, passes through here. The switch names every engine status and has no
 * default, and -Wswitch-enum is an error in this file even without --enable-werror, so a status
 * added to the engine and not mapped here fails the build.
 */
#include "config.h"

#include "stats.h"
#include "status.h"

#pragma GCC diagnostic error "-Wswitch-enum"

/* Success is 0 on both sides: zero-initialised replies and "status != OK" tests agree. */
_Static_assert(ENGINE_OK == 0 && CONDD__V1__STATUS__STATUS_OK == 0, "OK must be 0 on both sides");
/* Every wire status returned below has a slot in the per-status counters (stats_count()). */
_Static_assert(CONDD__V1__STATUS__STATUS_BROKEN < STATS_STATUS_COUNT, "stats too small");

Condd__V1__Status status_to_wire(enum engine_status status)
{
    switch (status) {
    case ENGINE_OK:
        return CONDD__V1__STATUS__STATUS_OK;
    case ENGINE_TIMEOUT:
        return CONDD__V1__STATUS__STATUS_TIMEOUT;
    case ENGINE_CANCELLED:
        return CONDD__V1__STATUS__STATUS_CANCELLED;
    case ENGINE_NOT_OWNER:
        return CONDD__V1__STATUS__STATUS_NOT_OWNER;
    case ENGINE_ALREADY_OWNER:
        return CONDD__V1__STATUS__STATUS_ALREADY_OWNER;
    case ENGINE_LOCK_MISMATCH:
        return CONDD__V1__STATUS__STATUS_LOCK_MISMATCH;
    case ENGINE_BAD_REQUEST:
        return CONDD__V1__STATUS__STATUS_BAD_REQUEST;
    case ENGINE_LIMIT_EXCEEDED:
        return CONDD__V1__STATUS__STATUS_LIMIT_EXCEEDED;
    case ENGINE_SHUTTING_DOWN:
        return CONDD__V1__STATUS__STATUS_SHUTTING_DOWN;
    case ENGINE_NOT_FOUND:
        return CONDD__V1__STATUS__STATUS_NOT_FOUND;
    case ENGINE_INTERNAL:
        return CONDD__V1__STATUS__STATUS_INTERNAL;
    case ENGINE_VALUE_MISMATCH:
        return CONDD__V1__STATUS__STATUS_VALUE_MISMATCH;
    case ENGINE_BROKEN:
        return CONDD__V1__STATUS__STATUS_BROKEN;
    case ENGINE_PENDING:
        break;
    }
    return CONDD__V1__STATUS__STATUS_INTERNAL;
}
