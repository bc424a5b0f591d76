/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The config file reader: one `key = value` per line, the keys spelled as the long options
 * without their dashes, `#` starting a comment (a whole line, or the rest of a line after
 * whitespace), blank lines ignored. The keys are the rows of settings_table[] without the
 * SETTINGS_CLI_ONLY flag. Each pair goes through settings_source_set(), so a key accepts
 * the same values, with the same error text, as on the command line. It only reads the file;
 * the order of sources (file first, then the command line) is main.c's business.
 */
#ifndef CONDD_DAEMON_CONFFILE_H
#define CONDD_DAEMON_CONFFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "settings.h"

/* Longest line accepted, newline excluded. */
#define CONFFILE_LINE_MAX 4096

/*
 * Reads path and applies each pair to s. The first line of a repeatable key (`listen`) replaces
 * the list s had (later ones append), so a file never adds to a list it did not start.
 * Returns true on success. On failure returns false and writes "PATH:LINE: reason" (or
 * "PATH: reason" when the file cannot be read; "out of memory" is a reason too) into err; s
 * may then be half-updated, so callers load into a scratch copy. path and err are borrowed.
 */
bool conffile_load(const char *path, struct settings *s, char *err, size_t errlen);

/* conffile_load(), also recording where each key was set: lines[i] is the line that last gave
 * settings_table[i] (0: the file did not give it). lines (settings_count entries, borrowed) is
 * zeroed first. For errors found later about a value (auth-file's file missing, say), so they
 * can say "PATH:LINE:" as the file's own errors do. */
bool conffile_load_lines(const char *path, struct settings *s, unsigned *lines, char *err,
                         size_t errlen);

#endif
