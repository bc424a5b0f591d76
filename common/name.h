/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The rule for lock and condition names, as the server applies it: 1 to NAME_MAX_BYTES bytes of
 * strict UTF-8 (shortest form only, no surrogates, nothing above U+10FFFF) without control
 * characters (C0, DEL, C1). Here so that a client (condctl) can refuse a bad name itself, with a
 * message that says what is wrong and where, before anything is sent. No I/O.
 */
#ifndef CONDD_COMMON_NAME_H
#define CONDD_COMMON_NAME_H

#include <stddef.h>
#include <stdint.h>

/* The longest name the server accepts, in bytes. */
#define NAME_MAX_BYTES 512

/* What is wrong with a name; NAME_VALID (0) when nothing is. */
enum name_problem {
    NAME_VALID = 0,
    NAME_EMPTY,    /* 0 bytes */
    NAME_TOO_LONG, /* more than NAME_MAX_BYTES bytes */
    NAME_BAD_UTF8, /* not valid UTF-8 */
    NAME_CONTROL,  /* holds a control character */
};

/*
 * Checks name[0..len) (borrowed; may hold NUL bytes, which are control characters; NULL is
 * treated as empty). On a problem, *at (may be NULL) gets the byte offset where it starts (for
 * NAME_TOO_LONG: NAME_MAX_BYTES) and, for NAME_CONTROL, *cp (may be NULL) the code point.
 */
enum name_problem name_check(const uint8_t *name, size_t len, size_t *at, uint32_t *cp);

/* A short English description of p ("is not valid UTF-8"), for "name ... <description>". */
const char *name_problem_text(enum name_problem p);

#endif
