/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The check every lock and condition name passes before the engine looks at it. The rule itself
 * (1 to NAME_MAX_BYTES bytes of strict UTF-8 without control characters) lives in common/name.c,
 * so that condctl refuses exactly what the server refuses. Names are shown by List and logged:
 * control characters would let a client forge terminal output, and invalid UTF-8 would break
 * clients that decode names as text.
 */
#include "config.h"

#include "engine.h"
#include "name.h"

_Static_assert(ENGINE_NAME_MAX == NAME_MAX_BYTES, "the engine and common/name.h disagree");

bool engine_name_valid(const uint8_t *name, size_t len)
{
    return name != NULL && name_check(name, len, NULL, NULL) == NAME_VALID;
}
