/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Settings (see settings.h): defaults and the per-key parsers with their ranges. The command
 * line (main.c) and the config file both go through settings_apply(), so a key means the same
 * thing, with the same limits and error text, wherever it is written.
 */
#include "config.h"

#include "settings.h"

#include "address.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void settings_init(struct settings *s)
{
    memset(s, 0, sizeof *s);
    s->max_connections = 10000;
    s->max_frame_bytes = 64 * 1024;
    s->session_timeout = 10.0;
    s->max_session_timeout = 3600.0;
    s->max_pending = 100000;
    s->log_level = LOG_LVL_INFO;
}

void settings_reset_listen(struct settings *s)
{
    for (int i = 0; i < s->nlisten; i++)
        free(s->listen[i]);
    s->nlisten = 0;
}

void settings_clear(struct settings *s)
{
    settings_reset_listen(s);
    free(s->unix_path);
    free(s->port_file);
    free(s->config_file);
    free(s->metrics_addr);
    settings_init(s);
}

static char *settings_strdup(const char *v)
{
    char *p = strdup(v);
    if (p == NULL)
        abort(); /* settings are read before the loop starts; OOM there is fatal */
    return p;
}

void settings_copy(struct settings *dst, const struct settings *src)
{
    settings_clear(dst);
    *dst = *src;
    for (int i = 0; i < src->nlisten; i++)
        dst->listen[i] = settings_strdup(src->listen[i]);
    dst->unix_path = src->unix_path ? settings_strdup(src->unix_path) : NULL;
    dst->port_file = src->port_file ? settings_strdup(src->port_file) : NULL;
    dst->config_file = src->config_file ? settings_strdup(src->config_file) : NULL;
    dst->metrics_addr = src->metrics_addr ? settings_strdup(src->metrics_addr) : NULL;
}

static bool settings_parse_uint(const char *v, unsigned long long lo, unsigned long long hi,
                                unsigned long long *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    if (*v == '-' || *v == '\0')
        goto bad;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0')
        goto bad;
    if (x < lo || x > hi) {
        snprintf(err, errlen, "'%s' is out of range [%llu, %llu]", v, lo, hi);
        return false;
    }
    *out = x;
    return true;
bad:
    snprintf(err, errlen, "'%s' is not a whole number", v);
    return false;
}

static bool settings_parse_seconds(const char *v, double lo, double hi, double *out, char *err,
                                   size_t errlen)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !isfinite(x)) {
        snprintf(err, errlen, "'%s' is not a number of seconds", v);
        return false;
    }
    if (x < lo || x > hi) {
        snprintf(err, errlen, "'%s' is out of range [%g, %g] seconds", v, lo, hi);
        return false;
    }
    *out = x;
    return true;
}

static void settings_set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = settings_strdup(v);
}

const char *const settings_all_keys[] = {
    "listen",          "unix",          "port-file",   "config",         "metrics",
    "max-connections", "max-frame-bytes", "session-timeout", "max-session-timeout",
    "max-pending",     "log-level",     NULL,
};

bool settings_key_known(const char *key)
{
    for (int i = 0; settings_all_keys[i] != NULL; i++)
        if (strcmp(key, settings_all_keys[i]) == 0)
            return true;
    return false;
}

bool settings_key_runtime(const char *key)
{
    static const char *const runtime[] = {
        "max-connections", "max-frame-bytes", "session-timeout", "max-session-timeout",
        "max-pending",     "log-level",       NULL,
    };
    for (int i = 0; runtime[i] != NULL; i++)
        if (strcmp(key, runtime[i]) == 0)
            return true;
    return false;
}

static void settings_format_str(const char *v, char *buf, size_t len)
{
    snprintf(buf, len, "%s", v != NULL ? v : "(none)");
}

void settings_format(const struct settings *s, const char *key, char *buf, size_t len)
{
    if (len == 0)
        return;
    buf[0] = '\0';
    if (strcmp(key, "listen") == 0) {
        if (s->nlisten == 0) {
            snprintf(buf, len, "%s", SETTINGS_DEFAULT_LISTEN);
            return;
        }
        size_t used = 0;
        for (int i = 0; i < s->nlisten && used < len; i++) {
            int n = snprintf(buf + used, len - used, "%s%s", i > 0 ? ", " : "", s->listen[i]);
            if (n < 0)
                break;
            used += (size_t)n;
        }
    } else if (strcmp(key, "unix") == 0) {
        settings_format_str(s->unix_path, buf, len);
    } else if (strcmp(key, "port-file") == 0) {
        settings_format_str(s->port_file, buf, len);
    } else if (strcmp(key, "config") == 0) {
        settings_format_str(s->config_file, buf, len);
    } else if (strcmp(key, "metrics") == 0) {
        settings_format_str(s->metrics_addr, buf, len);
    } else if (strcmp(key, "max-connections") == 0) {
        snprintf(buf, len, "%u", s->max_connections);
    } else if (strcmp(key, "max-frame-bytes") == 0) {
        snprintf(buf, len, "%u", (unsigned)s->max_frame_bytes);
    } else if (strcmp(key, "session-timeout") == 0) {
        snprintf(buf, len, "%g", s->session_timeout);
    } else if (strcmp(key, "max-session-timeout") == 0) {
        snprintf(buf, len, "%g", s->max_session_timeout);
    } else if (strcmp(key, "max-pending") == 0) {
        snprintf(buf, len, "%zu", s->max_pending);
    } else if (strcmp(key, "log-level") == 0) {
        snprintf(buf, len, "%s", log_level_name(s->log_level));
    }
}

bool settings_apply(struct settings *s, const char *key, const char *value, char *err,
                    size_t errlen)
{
    unsigned long long u;
    if (strcmp(key, "listen") == 0) {
        if (s->nlisten == SETTINGS_MAX_LISTEN) {
            snprintf(err, errlen, "at most %d listen addresses", SETTINGS_MAX_LISTEN);
            return false;
        }
        struct addr_parts ap;
        if (!addr_split(value, ADDR_LISTEN, 0, &ap)) {
            snprintf(err, errlen, "'%s' is not HOST:PORT or [IPV6]:PORT", value);
            return false;
        }
        s->listen[s->nlisten++] = settings_strdup(value);
    } else if (strcmp(key, "unix") == 0) {
        if (*value == '\0') {
            snprintf(err, errlen, "empty Unix socket path");
            return false;
        }
        settings_set_str(&s->unix_path, value);
    } else if (strcmp(key, "port-file") == 0) {
        settings_set_str(&s->port_file, value);
    } else if (strcmp(key, "config") == 0) {
        settings_set_str(&s->config_file, value);
    } else if (strcmp(key, "metrics") == 0) {
        struct addr_parts ap;
        if (!addr_split(value, ADDR_LISTEN, 0, &ap)) {
            snprintf(err, errlen, "'%s' is not HOST:PORT or [IPV6]:PORT", value);
            return false;
        }
        settings_set_str(&s->metrics_addr, value);
    } else if (strcmp(key, "max-connections") == 0) {
        if (!settings_parse_uint(value, 1, 1000000, &u, err, errlen))
            return false;
        s->max_connections = (unsigned)u;
    } else if (strcmp(key, "max-frame-bytes") == 0) {
        if (!settings_parse_uint(value, 1024, 16u * 1024 * 1024, &u, err, errlen))
            return false;
        s->max_frame_bytes = (uint32_t)u;
    } else if (strcmp(key, "session-timeout") == 0) {
        if (!settings_parse_seconds(value, 1.0, 3600.0, &s->session_timeout, err, errlen))
            return false;
    } else if (strcmp(key, "max-session-timeout") == 0) {
        if (!settings_parse_seconds(value, 1.0, 86400.0, &s->max_session_timeout, err, errlen))
            return false;
    } else if (strcmp(key, "max-pending") == 0) {
        if (!settings_parse_uint(value, 1, 100000000, &u, err, errlen))
            return false;
        s->max_pending = (size_t)u;
    } else if (strcmp(key, "log-level") == 0) {
        if (!log_level_parse(value, &s->log_level)) {
            snprintf(err, errlen, "'%s' is not one of error, warning, notice, info, debug", value);
            return false;
        }
    } else {
        snprintf(err, errlen, "unknown key '%s'", key);
        return false;
    }
    return true;
}
