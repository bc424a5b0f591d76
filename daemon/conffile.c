/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The config file reader (see conffile.h): splits lines into key and value, looks the key up in
 * the settings table (settings_table[]; a command-line-only row is not a key) and hands the pair
 * to settings_source_set(), prefixing its reason with the file name and line number.
 */
#include "config.h"

#include "conffile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static char *conffile_trim(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
        p[--n] = '\0';
    return p;
}

/* Cuts a comment off line: '#' at the start or after whitespace. A '#' inside a word stays,
 * so paths such as /tmp/a#b still work. */
static void conffile_strip_comment(char *line)
{
    for (char *p = line; *p != '\0'; p++) {
        if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            return;
        }
    }
}

/* Parses one line; returns false with the reason (no location) in err. *row: the row it set,
 * when it set one. */
static bool conffile_line(char *line, struct settings *s, struct settings_source *src,
                          const struct settings_def **row, char *err, size_t errlen)
{
    conffile_strip_comment(line);
    char *t = conffile_trim(line);
    if (*t == '\0')
        return true;
    char *eq = strchr(t, '=');
    if (eq == NULL) {
        snprintf(err, errlen, "expected 'key = value'");
        return false;
    }
    *eq = '\0';
    char *key = conffile_trim(t);
    char *value = conffile_trim(eq + 1);
    if (*key == '\0') {
        snprintf(err, errlen, "missing key before '='");
        return false;
    }
    const struct settings_def *def = settings_find(key);
    if (def == NULL) {
        snprintf(err, errlen, "unknown key '%s'", key);
        return false;
    }
    if (def->flags & SETTINGS_CLI_ONLY) {
        snprintf(err, errlen, "'%s' can only be given on the command line", key);
        return false;
    }
    if (*value == '\0') {
        snprintf(err, errlen, "missing value for '%s'", key);
        return false;
    }
    *row = def;
    return settings_source_set(src, s, def, value, err, errlen);
}

bool conffile_load(const char *path, struct settings *s, char *err, size_t errlen)
{
    return conffile_load_lines(path, s, NULL, err, errlen);
}

bool conffile_load_lines(const char *path, struct settings *s, unsigned *lines, char *err,
                         size_t errlen)
{
    if (lines != NULL)
        memset(lines, 0, settings_count * sizeof *lines);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    char line[CONFFILE_LINE_MAX + 2];
    char reason[512];
    unsigned lineno = 0;
    struct settings_source src = {0};
    bool ok = true;
    while (ok && fgets(line, sizeof line, f) != NULL) {
        lineno++;
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\n') {
            line[--n] = '\0';
        } else if (n > CONFFILE_LINE_MAX) {
            snprintf(err, errlen, "%s:%u: line longer than %d bytes", path, lineno,
                     CONFFILE_LINE_MAX);
            ok = false;
            break;
        }
        const struct settings_def *row = NULL;
        if (!conffile_line(line, s, &src, &row, reason, sizeof reason)) {
            snprintf(err, errlen, "%s:%u: %s", path, lineno, reason);
            ok = false;
        } else if (row != NULL && lines != NULL) {
            lines[row - settings_table] = lineno;
        }
    }
    if (ok && ferror(f)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        ok = false;
    }
    fclose(f);
    return ok;
}
