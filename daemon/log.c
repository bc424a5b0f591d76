/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The daemon's logger (see log.h). State is this file's alone: the level and whether stderr is
 * the journal. Each line is written with one write(2) so lines from one process never interleave.
 */
#include "config.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_level_cur = LOG_LVL_INFO;
static bool log_journal;

static const char *const log_names[] = {
    [LOG_LVL_ERROR] = "error", [LOG_LVL_WARNING] = "warning", [LOG_LVL_NOTICE] = "notice",
    [LOG_LVL_INFO] = "info",   [LOG_LVL_DEBUG] = "debug",
};

/* JOURNAL_STREAM is "dev:ino" of the journal socket; it only counts if stderr is that socket
 * (a child whose stderr was redirected inherits the variable but not the stream). */
static bool log_stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(enum log_level level)
{
    log_journal = log_stderr_is_journal();
    log_level_cur = level;
}

void log_set_level(enum log_level level)
{
    log_level_cur = level;
}

enum log_level log_get_level(void)
{
    return log_level_cur;
}

bool log_level_parse(const char *s, enum log_level *out)
{
    for (int l = LOG_LVL_ERROR; l <= LOG_LVL_DEBUG; l++) {
        if (strcmp(s, log_names[l]) == 0) {
            *out = (enum log_level)l;
            return true;
        }
    }
    return false;
}

const char *log_level_name(enum log_level level)
{
    if (level < LOG_LVL_ERROR || level > LOG_LVL_DEBUG)
        return "unknown";
    return log_names[level];
}

bool log_enabled(enum log_level level)
{
    return level <= log_level_cur;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char line[2048];
    int n;
    if (log_journal) {
        n = snprintf(line, sizeof line, "<%d>", (int)level);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ condd[%ld] %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, (long)getpid(), log_names[level]);
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* truncated: keep the newline */
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere left to report a failed log write */
}
