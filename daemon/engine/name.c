/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The check every lock and condition name passes before the engine looks at it: 1 to
 * ENGINE_NAME_MAX bytes of strict UTF-8 (shortest form only, no surrogates, nothing above
 * U+10FFFF) with no control characters (C0, DEL, C1). Names are shown by List and logged, so
 * control characters would let a client forge terminal output; invalid UTF-8 would break
 * clients that decode names as text.
 */
#include "config.h"

#include "engine.h"

bool engine_name_valid(const uint8_t *name, size_t len)
{
    if (name == NULL || len == 0 || len > ENGINE_NAME_MAX)
        return false;
    size_t i = 0;
    while (i < len) {
        uint8_t c = name[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            i++;
            continue;
        }
        uint32_t cp;
        size_t n;
        uint32_t min;
        if (c >= 0xc2 && c <= 0xdf) {
            cp = c & 0x1f;
            n = 1;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            cp = c & 0x0f;
            n = 2;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            cp = c & 0x07;
            n = 3;
            min = 0x10000;
        } else {
            return false; /* continuation byte, overlong lead 0xc0/0xc1, or above U+10FFFF */
        }
        if (len - i - 1 < n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            uint8_t cc = name[i + k];
            if ((cc & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        if (cp >= 0x80 && cp <= 0x9f)
            return false; /* C1 controls */
        i += n + 1;
    }
    return true;
}
