/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The daemon's logger: one line per event, with a level. On a terminal or a plain pipe each line
 * carries a timestamp; under systemd (JOURNAL_STREAM names stderr) lines carry <N> priority
 * prefixes instead, so journald records the level and adds its own timestamp.
 */
#ifndef CONDD_DAEMON_LOG_H
#define CONDD_DAEMON_LOG_H

#include <stdbool.h>

/* syslog priorities, so the journal prefix is the level number itself. */
enum log_level {
    LOG_LVL_ERROR = 3,
    LOG_LVL_WARNING = 4,
    LOG_LVL_NOTICE = 5,
    LOG_LVL_INFO = 6,
    LOG_LVL_DEBUG = 7,
};

/* Decides the output format from the environment (JOURNAL_STREAM) and sets the level. */
void log_init(enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "error", "warning", "notice", "info" or "debug". Returns false on anything else. */
bool log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

/* Is a message at this level written? Lets callers skip building expensive messages. */
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_LVL_DEBUG))                                                            \
            log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                                   \
    } while (0)

#endif
