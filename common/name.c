/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The name rule of name.h: a strict UTF-8 decoder that also rejects control characters, and
 * reports the first problem with its byte offset. It matches the server's check
 * (daemon/engine/name.c) byte for byte, so a name it accepts is never refused as invalid.
 */
#include "config.h"

#include "name.h"

enum name_problem name_check(const uint8_t *name, size_t len, size_t *at, uint32_t *cp)
{
    size_t where = 0;
    uint32_t bad_cp = 0;
    enum name_problem p = NAME_VALID;
    if (name == NULL || len == 0) {
        p = NAME_EMPTY;
        goto out;
    }
    size_t i = 0;
    while (i < len) {
        uint8_t c = name[i];
        where = i;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) {
                p = NAME_CONTROL;
                bad_cp = c;
                goto out;
            }
            i++;
            continue;
        }
        uint32_t v, min;
        size_t n;
        if (c >= 0xc2 && c <= 0xdf) {
            v = c & 0x1f;
            n = 1;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            v = c & 0x0f;
            n = 2;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            v = c & 0x07;
            n = 3;
            min = 0x10000;
        } else {
            p = NAME_BAD_UTF8; /* continuation byte, overlong lead 0xc0/0xc1, or above U+10FFFF */
            goto out;
        }
        if (len - i - 1 < n) {
            p = NAME_BAD_UTF8; /* truncated sequence */
            goto out;
        }
        for (size_t k = 1; k <= n; k++) {
            uint8_t cc = name[i + k];
            if ((cc & 0xc0) != 0x80) {
                p = NAME_BAD_UTF8;
                goto out;
            }
            v = (v << 6) | (cc & 0x3f);
        }
        if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
            p = NAME_BAD_UTF8; /* overlong form, beyond Unicode, or a surrogate */
            goto out;
        }
        if (v >= 0x80 && v <= 0x9f) {
            p = NAME_CONTROL; /* C1 controls */
            bad_cp = v;
            goto out;
        }
        i += n + 1;
    }
    /* Length last: a long name that is also malformed is reported as malformed at its byte. */
    if (len > NAME_MAX_BYTES) {
        p = NAME_TOO_LONG;
        where = NAME_MAX_BYTES;
    }
out:
    if (p != NAME_VALID && at != NULL)
        *at = where;
    if (p == NAME_CONTROL && cp != NULL)
        *cp = bad_cp;
    return p;
}

const char *name_problem_text(enum name_problem p)
{
    switch (p) {
    case NAME_VALID:
        return "is valid";
    case NAME_EMPTY:
        return "is empty";
    case NAME_TOO_LONG:
        return "is too long (at most 512 bytes)";
    case NAME_BAD_UTF8:
        return "is not valid UTF-8";
    case NAME_CONTROL:
        return "contains a control character";
    }
    return "is invalid";
}
