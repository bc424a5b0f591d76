/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Settings (see settings.h): the table of every setting, and the code that reads it: defaults,
 * the per-type parsers with their ranges and error texts, copying and comparing, the reload
 * diff and its log lines, getopt's option array and the --help text. The command line (main.c)
 * and the config file (conffile.c) both set values through settings_set(), so a key means the
 * same thing, with the same limits and error text, wherever it is written. Nothing here ends the
 * process: a reload runs all of it inside the event loop, so out-of-memory is an error return.
 */
#include "config.h"

#include "settings.h"

#include "address.h"
#include "route.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Appends to buf (len bytes, *used so far), truncating rather than overrunning. */
static void settings_append(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------------ the table */

#define SETTINGS_FIELD(f)                                                                          \
    .offset = offsetof(struct settings, f), .size = sizeof(((struct settings *)0)->f)

static const char *const settings_keep_state_words[] = {"auto", "yes", "no", NULL};

const struct settings_def settings_table[] = {
    {.name = "config",
     .short_name = 'c',
     .type = SETTINGS_STRING,
     .flags = SETTINGS_CLI_ONLY,
     SETTINGS_FIELD(config_file),
     .min = 1,
     .def = SETTINGS_DEFAULT_CONFIG,
     .arg = "FILE",
     .help = "read settings from FILE; options given here override it; the default file is "
             "read only if it exists"},
    {.name = "listen",
     .short_name = 'l',
     .type = SETTINGS_ADDR,
     .flags = SETTINGS_REPEATABLE,
     SETTINGS_FIELD(listen),
     .def = SETTINGS_DEFAULT_LISTEN,
     .arg = "ADDR",
     .help = "listen on HOST:PORT or [IPV6]:PORT; port 0 picks one"},
    {.name = "unix",
     .short_name = 'u',
     .type = SETTINGS_STRING,
     SETTINGS_FIELD(unix_path),
     .min = 1,
     .arg = "PATH",
     .help = "also listen on a Unix stream socket at PATH (when socket-activated, condd "
             "takes its listeners from systemd and ignores the listen and unix settings)"},
    {.name = "unix-mode",
     .type = SETTINGS_MODE,
     SETTINGS_FIELD(unix_mode),
     .min = 0,
     .max = 0777,
     .def = "0666",
     .arg = "MODE",
     .help = "permission bits of the Unix socket, in octal: 0666 lets every local user connect "
             "(as 127.0.0.1 does), 0660 only condd's user and the unix-group"},
    {.name = "unix-group",
     .type = SETTINGS_STRING,
     SETTINGS_FIELD(unix_group),
     .min = 1,
     .arg = "GROUP",
     .help = "group (name or number) that owns the Unix socket; default: condd's own group"},
    {.name = "port-file",
     .type = SETTINGS_STRING,
     SETTINGS_FIELD(port_file),
     .arg = "FILE",
     .help = "write the first TCP port to FILE once listening"},
    {.name = "metrics",
     .type = SETTINGS_ADDR,
     SETTINGS_FIELD(metrics_addr),
     .arg = "ADDR",
     .help = "serve Prometheus metrics at http://ADDR/metrics"},
    {.name = "max-connections",
     .type = SETTINGS_UINT,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(max_connections),
     .min = 1,
     .max = 1000000,
     .def = "10000",
     .arg = "N",
     .help = "refuse connections beyond N"},
    {.name = "max-handshakes",
     .type = SETTINGS_UINT,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(max_handshakes),
     .min = 0,
     .max = 1000000,
     .def = "0",
     .arg = "N",
     .help = "close TLS connections at accept while N others are in their handshake (0: half "
             "of max-connections, at least 1), so that a flood of slow handshakes leaves the "
             "rest of max-connections to everyone else"},
    {.name = "max-frame-bytes",
     .type = SETTINGS_UINT,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(max_frame_bytes),
     .min = 1024,
     .max = 16 * 1024 * 1024,
     .def = "65536",
     .arg = "N",
     .help = "largest request frame accepted"},
    {.name = "session-timeout",
     .type = SETTINGS_SECONDS,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(session_timeout),
     .min = 1,
     .max = 3600,
     .def = "10",
     .arg = "S",
     .help = "end a session after S seconds without a frame; clients may ask for their own"},
    {.name = "max-session-timeout",
     .type = SETTINGS_SECONDS,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(max_session_timeout),
     .min = 1,
     .max = 86400,
     .def = "3600",
     .arg = "S",
     .help = "largest session timeout a client may ask for"},
    {.name = "max-pending",
     .type = SETTINGS_UINT,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(max_pending),
     .min = 1,
     .max = 100000000,
     .def = "100000",
     .arg = "N",
     .help = "pending acquires and waits per session"},
    {.name = "auth-file",
     .type = SETTINGS_STRING,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(auth_file),
     .min = 1,
     .arg = "FILE",
     .help = "authenticate clients and check every request against the principals and rules "
             "in FILE (see condd(8), AUTH FILE); without it every client may do everything"},
    {.name = "auth-fail-delay",
     .type = SETTINGS_SECONDS,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(auth_fail_delay),
     .min = 0,
     .max = 60,
     .def = "1",
     .arg = "S",
     .help = "answer a failed authentication only after S seconds, then close the connection"},
    {.name = "max-session-grace",
     .type = SETTINGS_SECONDS,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(max_session_grace),
     .min = 0,
     .max = 86400,
     .def = "60",
     .arg = "S",
     .help = "largest resume grace a client may ask for (0: sessions are never resumable)"},
    {.name = "max-buffered-answers",
     .type = SETTINGS_UINT,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(max_buffered_answers),
     .min = 1,
     .max = 10000000,
     .def = "10000",
     .arg = "N",
     .help = "answers kept for a session in its grace (one more ends the session), and "
             "copies kept unacknowledged"},
    {.name = "log-level",
     .type = SETTINGS_LOG_LEVEL,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(log_level),
     .def = "info",
     .arg = "LEVEL",
     .help = "error, warning, notice, info or debug"},
    {.name = "listen-tls",
     .type = SETTINGS_ADDR,
     .flags = SETTINGS_REPEATABLE,
     SETTINGS_FIELD(listen_tls),
     .arg = "ADDR",
     .help = "also listen with TLS on HOST:PORT or [IPV6]:PORT (needs tls-cert and tls-key)"},
    {.name = "tls-cert",
     .type = SETTINGS_STRING,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(tls_cert),
     .min = 1,
     .arg = "FILE",
     .help = "the TLS listeners' certificate chain (PEM, the server's certificate first); "
             "re-read on SIGHUP"},
    {.name = "tls-key",
     .type = SETTINGS_STRING,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(tls_key),
     .min = 1,
     .arg = "FILE",
     .help = "the private key of tls-cert (PEM); re-read on SIGHUP"},
    {.name = "tls-client-ca",
     .type = SETTINGS_STRING,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(tls_client_ca),
     .min = 1,
     .arg = "FILE",
     .help = "require TLS clients to show a certificate signed by a CA in FILE (PEM bundle); "
             "its subject can name a principal in the auth file"},
    {.name = "tls-handshake-timeout",
     .type = SETTINGS_SECONDS,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(tls_handshake_timeout),
     .min = 0.1,
     .max = 300,
     .def = "5",
     .arg = "S",
     .help = "close a TLS connection whose handshake is not done after S seconds"},
    {.name = "tls-port-file",
     .type = SETTINGS_STRING,
     SETTINGS_FIELD(tls_port_file),
     .arg = "FILE",
     .help = "write the first TLS port to FILE once listening"},
    {.name = "cluster",
     .type = SETTINGS_SERVERS,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(cluster),
     .arg = "LIST",
     .help = "this server is one of the cluster LIST (HOST:PORT,HOST:PORT,...; needs "
             "cluster-self): refuse with WRONG_SERVER every name that routes to another of them "
             "(protocol.md section 21); on SIGHUP, held names that now route elsewhere stay held"},
    {.name = "cluster-self",
     .type = SETTINGS_SERVER,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(cluster_self),
     .arg = "ADDR",
     .help = "this server's entry in the cluster list, written as there"},

    {.name = "keep-state-on-stop",
     .type = SETTINGS_STRING,
     SETTINGS_FIELD(keep_state_on_stop),
     .min = 1,
     .words = settings_keep_state_words,
     .def = "auto",
     .arg = "WHEN",
     .help = "on SIGTERM under systemd, hand every lock, waiter and session to the service "
             "manager's file-descriptor store so that the next start resumes them: yes, no, or "
             "auto (yes when systemd announces a store big enough in $FDSTORE, systemd 254 on; "
             "condd.service says yes)"},
    {.name = "restart-drain",
     .type = SETTINGS_SECONDS,
     .flags = SETTINGS_RELOADABLE,
     SETTINGS_FIELD(restart_drain),
     .min = 0,
     .max = 10,
     .def = "0.1",
     .arg = "S",
     .help = "a live restart waits up to S seconds for clients to close the connections it "
             "half-closed, reading what they still send (a request written before a client "
             "noticed is then not lost); part of the restart's gap"},
    {.name = "version",
     .short_name = 'V',
     .type = SETTINGS_VERSION,
     .flags = SETTINGS_CLI_ONLY,
     .help = "print the version and exit"},
    {.name = "new-token",
     .type = SETTINGS_NEW_TOKEN,
     .flags = SETTINGS_CLI_ONLY,
     .help = "print a fresh random token (256 bits) and exit"},
    {.name = "hash-token",
     .type = SETTINGS_HASH_TOKEN,
     .flags = SETTINGS_CLI_ONLY,
     .arg = "PRINCIPAL",
     .help = "read a token on stdin and print the auth file line giving it to PRINCIPAL"},
    {.name = "help",
     .short_name = 'h',
     .type = SETTINGS_HELP,
     .flags = SETTINGS_CLI_ONLY,
     .help = "print this help and exit"},
};

const size_t settings_count = sizeof settings_table / sizeof settings_table[0];
/* struct settings_source keeps a bit per row, and a config file's lines are kept per row in an
 * array of 64 (main.c). */
_Static_assert(sizeof settings_table / sizeof settings_table[0] <= 64, "at most 64 settings");

/* struct settings_source has one bit per row; struct settings_getopt one option per row. */
_Static_assert(sizeof settings_table / sizeof settings_table[0] <= 64, "too many settings");
_Static_assert(sizeof settings_table / sizeof settings_table[0] <
                   sizeof(((struct settings_getopt *)0)->longopts) / sizeof(struct option),
               "settings_getopt.longopts too small");

const struct settings_def *settings_find(const char *key)
{
    for (size_t i = 0; i < settings_count; i++)
        if (strcmp(settings_table[i].name, key) == 0)
            return &settings_table[i];
    return NULL;
}

bool settings_takes_value(const struct settings_def *def)
{
    return def->type != SETTINGS_HELP && def->type != SETTINGS_VERSION &&
           def->type != SETTINGS_NEW_TOKEN && def->type != SETTINGS_HASH_TOKEN;
}

bool settings_action_takes_arg(const struct settings_def *def)
{
    return def->type == SETTINGS_HASH_TOKEN;
}

/* ------------------------------------------------------------------ field access */

static void *settings_field(struct settings *s, const struct settings_def *def)
{
    return (char *)s + def->offset;
}

static const void *settings_cfield(const struct settings *s, const struct settings_def *def)
{
    return (const char *)s + def->offset;
}

static bool settings_is_string(const struct settings_def *def)
{
    return def->type == SETTINGS_STRING || def->type == SETTINGS_ADDR ||
           def->type == SETTINGS_SERVERS || def->type == SETTINGS_SERVER;
}

static unsigned long long settings_get_uint(const struct settings *s,
                                            const struct settings_def *def)
{
    const void *p = settings_cfield(s, def);
    if (def->size == sizeof(uint64_t)) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void settings_put_uint(struct settings *s, const struct settings_def *def,
                              unsigned long long x)
{
    void *p = settings_field(s, def);
    if (def->size == sizeof(uint64_t)) {
        uint64_t v = x;
        memcpy(p, &v, sizeof v);
    } else {
        uint32_t v = (uint32_t)x;
        memcpy(p, &v, sizeof v);
    }
}

static void settings_list_clear(struct settings_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

/* ------------------------------------------------------------------ parsers */

static bool settings_parse_uint(const char *v, const struct settings_def *def,
                                unsigned long long *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    if (*v == '-' || *v == '\0')
        goto bad;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0')
        goto bad;
    unsigned long long lo = (unsigned long long)def->min, hi = (unsigned long long)def->max;
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

static bool settings_parse_mode(const char *v, const struct settings_def *def,
                                unsigned long long *out, char *err, size_t errlen)
{
    size_t n = strlen(v);
    if (n == 0 || n > 4 || strspn(v, "01234567") != n) {
        snprintf(err, errlen, "'%s' is not an octal mode such as 0660", v);
        return false;
    }
    unsigned long long x = strtoull(v, NULL, 8);
    if (x < (unsigned long long)def->min || x > (unsigned long long)def->max) {
        snprintf(err, errlen, "'%s' is out of range [%04llo, %04llo]", v,
                 (unsigned long long)def->min, (unsigned long long)def->max);
        return false;
    }
    *out = x;
    return true;
}

static bool settings_parse_seconds(const char *v, const struct settings_def *def, double *out,
                                   char *err, size_t errlen)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !isfinite(x)) {
        snprintf(err, errlen, "'%s' is not a number of seconds", v);
        return false;
    }
    if (x < def->min || x > def->max) {
        snprintf(err, errlen, "'%s' is out of range [%g, %g] seconds", v, def->min, def->max);
        return false;
    }
    *out = x;
    return true;
}

/* Checks a string value; returns false with the reason in err. */
static bool settings_check_string(const char *v, const struct settings_def *def, char *err,
                                  size_t errlen)
{
    if (def->type == SETTINGS_ADDR) {
        struct addr_parts ap;
        if (!addr_split(v, ADDR_LISTEN, 0, &ap)) {
            snprintf(err, errlen, "'%s' is not HOST:PORT or [IPV6]:PORT", v);
            return false;
        }
    } else if (def->type == SETTINGS_SERVERS) {
        struct route_list l;
        if (!route_list_parse(v, SETTINGS_DEFAULT_PORT, &l, err, errlen))
            return false;
        route_list_free(&l);
    } else if (def->type == SETTINGS_SERVER) {
        char id[ROUTE_IDENT_MAX];
        if (!route_identity(v, SETTINGS_DEFAULT_PORT, id, sizeof id)) {
            snprintf(err, errlen,
                     "'%s' is not a server address (HOST:PORT, [IPV6]:PORT or "
                     "unix:PATH)",
                     v);
            return false;
        }
    } else if ((double)strlen(v) < def->min) {
        snprintf(err, errlen, "empty value for '%s'", def->name);
        return false;
    } else if (def->words != NULL) {
        size_t i = 0;
        while (def->words[i] != NULL && strcmp(v, def->words[i]) != 0)
            i++;
        if (def->words[i] == NULL) {
            char list[128];
            size_t n = 0;
            for (i = 0; def->words[i] != NULL; i++)
                settings_append(list, sizeof list, &n, "%s%s", i > 0 ? ", " : "", def->words[i]);
            snprintf(err, errlen, "'%s' is not one of %s", v, list);
            return false;
        }
    }
    return true;
}

/* The one setter. replace_list: a repeatable key's list is emptied before the value is added.
 * On failure s is unchanged. */
static bool settings_set_impl(struct settings *s, const struct settings_def *def, const char *value,
                              bool replace_list, char *err, size_t errlen)
{
    unsigned long long u;
    double d;
    switch (def->type) {
    case SETTINGS_UINT:
        if (!settings_parse_uint(value, def, &u, err, errlen))
            return false;
        settings_put_uint(s, def, u);
        return true;
    case SETTINGS_MODE:
        if (!settings_parse_mode(value, def, &u, err, errlen))
            return false;
        settings_put_uint(s, def, u);
        return true;
    case SETTINGS_SECONDS:
        if (!settings_parse_seconds(value, def, &d, err, errlen))
            return false;
        memcpy(settings_field(s, def), &d, sizeof d);
        return true;
    case SETTINGS_LOG_LEVEL: {
        enum log_level l;
        if (!log_level_parse(value, &l)) {
            snprintf(err, errlen, "'%s' is not one of error, warning, notice, info, debug", value);
            return false;
        }
        memcpy(settings_field(s, def), &l, sizeof l);
        return true;
    }
    case SETTINGS_STRING:
    case SETTINGS_ADDR:
    case SETTINGS_SERVERS:
    case SETTINGS_SERVER:
        break;
    case SETTINGS_HELP:
    case SETTINGS_VERSION:
    case SETTINGS_NEW_TOKEN:
    case SETTINGS_HASH_TOKEN:
        snprintf(err, errlen, "'%s' takes no value", def->name);
        return false;
    }
    if (!settings_check_string(value, def, err, errlen))
        return false;
    if (def->flags & SETTINGS_REPEATABLE) {
        struct settings_list *l = settings_field(s, def);
        if (!replace_list && l->n == SETTINGS_MAX_LISTEN) {
            snprintf(err, errlen, "at most %d %s values", SETTINGS_MAX_LISTEN, def->name);
            return false;
        }
        char *copy = strdup(value);
        if (copy == NULL) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
        if (replace_list)
            settings_list_clear(l);
        l->v[l->n++] = copy;
        return true;
    }
    char *copy = strdup(value);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    char **slot = settings_field(s, def);
    free(*slot);
    *slot = copy;
    return true;
}

bool settings_set(struct settings *s, const struct settings_def *def, const char *value, char *err,
                  size_t errlen)
{
    return settings_set_impl(s, def, value, false, err, errlen);
}

bool settings_apply(struct settings *s, const char *key, const char *value, char *err,
                    size_t errlen)
{
    const struct settings_def *def = settings_find(key);
    if (def == NULL || !settings_takes_value(def)) {
        snprintf(err, errlen, "unknown key '%s'", key);
        return false;
    }
    return settings_set(s, def, value, err, errlen);
}

bool settings_source_set(struct settings_source *src, struct settings *s,
                         const struct settings_def *def, const char *value, char *err,
                         size_t errlen)
{
    uint64_t bit = UINT64_C(1) << (size_t)(def - settings_table);
    bool first = (def->flags & SETTINGS_REPEATABLE) && !(src->seen & bit);
    if (!settings_set_impl(s, def, value, first, err, errlen))
        return false;
    src->seen |= bit;
    return true;
}

/* ------------------------------------------------------------------ whole structs */

void settings_init(struct settings *s)
{
    memset(s, 0, sizeof *s);
    char err[128];
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        /* Strings and lists start unset; the table's defaults for numbers parse (check_settings
         * proves it), and setting a number allocates nothing. */
        if (def->def != NULL && settings_takes_value(def) && !settings_is_string(def))
            settings_set(s, def, def->def, err, sizeof err);
    }
}

/* Frees the strings of s without resetting the numbers. */
static void settings_free_strings(struct settings *s)
{
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        if (!settings_is_string(def))
            continue;
        if (def->flags & SETTINGS_REPEATABLE) {
            settings_list_clear(settings_field(s, def));
        } else {
            char **slot = settings_field(s, def);
            free(*slot);
            *slot = NULL;
        }
    }
}

void settings_clear(struct settings *s)
{
    settings_free_strings(s);
    settings_init(s);
}

/* Copies def's field from src into dst, which holds no string of its own in that field.
 * Returns false on out-of-memory, the field then holding what was copied so far. */
static bool settings_copy_field(struct settings *dst, const struct settings *src,
                                const struct settings_def *def)
{
    if (!settings_is_string(def)) {
        memcpy(settings_field(dst, def), settings_cfield(src, def), def->size);
        return true;
    }
    if (def->flags & SETTINGS_REPEATABLE) {
        const struct settings_list *from = settings_cfield(src, def);
        struct settings_list *to = settings_field(dst, def);
        to->n = 0;
        for (int i = 0; i < from->n; i++) {
            if ((to->v[i] = strdup(from->v[i])) == NULL)
                return false;
            to->n++;
        }
        return true;
    }
    char *const *from = settings_cfield(src, def);
    char **to = settings_field(dst, def);
    *to = NULL;
    return *from == NULL || (*to = strdup(*from)) != NULL;
}

/* Builds into tmp (taken over) each field from src when take(def), else from keep; on success
 * dst (initialised) becomes tmp. */
static bool settings_build(struct settings *dst, const struct settings *keep,
                           const struct settings *src, unsigned take_flags)
{
    struct settings tmp;
    memset(&tmp, 0, sizeof tmp);
    bool ok = true;
    for (size_t i = 0; i < settings_count && ok; i++) {
        const struct settings_def *def = &settings_table[i];
        if (!settings_takes_value(def))
            continue;
        bool take = take_flags == 0 || (def->flags & take_flags) != 0;
        ok = settings_copy_field(&tmp, take ? src : keep, def);
    }
    if (!ok) {
        settings_free_strings(&tmp);
        return false;
    }
    settings_free_strings(dst);
    *dst = tmp;
    return true;
}

bool settings_copy(struct settings *dst, const struct settings *src)
{
    return settings_build(dst, src, src, 0);
}

bool settings_take_reloadable(struct settings *dst, const struct settings *src)
{
    return settings_build(dst, dst, src, SETTINGS_RELOADABLE);
}

/* ------------------------------------------------------------------ comparing and showing */

static bool settings_str_equal(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool settings_equal(const struct settings *a, const struct settings *b,
                    const struct settings_def *def)
{
    if (!settings_takes_value(def))
        return true;
    if (!settings_is_string(def))
        return memcmp(settings_cfield(a, def), settings_cfield(b, def), def->size) == 0;
    if (def->flags & SETTINGS_REPEATABLE) {
        const struct settings_list *la = settings_cfield(a, def), *lb = settings_cfield(b, def);
        if (la->n != lb->n)
            return false;
        for (int i = 0; i < la->n; i++)
            if (strcmp(la->v[i], lb->v[i]) != 0)
                return false;
        return true;
    }
    char *const *sa = settings_cfield(a, def);
    char *const *sb = settings_cfield(b, def);
    return settings_str_equal(*sa, *sb);
}

void settings_format(const struct settings *s, const struct settings_def *def, char *buf,
                     size_t len)
{
    if (len == 0)
        return;
    buf[0] = '\0';
    switch (def->type) {
    case SETTINGS_UINT:
        snprintf(buf, len, "%llu", settings_get_uint(s, def));
        return;
    case SETTINGS_MODE:
        snprintf(buf, len, "%04llo", settings_get_uint(s, def));
        return;
    case SETTINGS_SECONDS: {
        double d;
        memcpy(&d, settings_cfield(s, def), sizeof d);
        snprintf(buf, len, "%g", d);
        return;
    }
    case SETTINGS_LOG_LEVEL: {
        enum log_level l;
        memcpy(&l, settings_cfield(s, def), sizeof l);
        snprintf(buf, len, "%s", log_level_name(l));
        return;
    }
    case SETTINGS_STRING:
    case SETTINGS_ADDR:
    case SETTINGS_SERVERS:
    case SETTINGS_SERVER:
        break;
    case SETTINGS_HELP:
    case SETTINGS_VERSION:
    case SETTINGS_NEW_TOKEN:
    case SETTINGS_HASH_TOKEN:
        return;
    }
    if (def->flags & SETTINGS_REPEATABLE) {
        const struct settings_list *l = settings_cfield(s, def);
        if (l->n == 0) {
            snprintf(buf, len, "%s", def->def != NULL ? def->def : "(none)");
            return;
        }
        size_t used = 0;
        for (int i = 0; i < l->n && used < len; i++) {
            int n = snprintf(buf + used, len - used, "%s%s", i > 0 ? ", " : "", l->v[i]);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        return;
    }
    char *const *v = settings_cfield(s, def);
    snprintf(buf, len, "%s", *v != NULL ? *v : "(none)");
}

int settings_log_changes(const struct settings *cur, const struct settings *next)
{
    int changed = 0;
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        if ((def->flags & SETTINGS_CLI_ONLY) || settings_equal(cur, next, def))
            continue;
        char a[1024], b[1024];
        settings_format(cur, def, a, sizeof a);
        settings_format(next, def, b, sizeof b);
        changed++;
        if (def->flags & SETTINGS_RELOADABLE)
            log_notice("reload: %s changed from %s to %s", def->name, a, b);
        else
            log_warning("reload: %s changed from %s to %s; this takes a restart of condd, "
                        "keeping %s until then",
                        def->name, a, b, a);
    }
    return changed;
}

/* ------------------------------------------------------------------ the command line */

void settings_getopt_init(struct settings_getopt *g)
{
    memset(g, 0, sizeof *g);
    size_t ns = 0;
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        bool value = settings_takes_value(def) || settings_action_takes_arg(def);
        g->longopts[i].name = def->name;
        g->longopts[i].has_arg = value ? required_argument : no_argument;
        g->longopts[i].flag = NULL;
        g->longopts[i].val = def->short_name != 0 ? def->short_name : SETTINGS_GETOPT_BASE + (int)i;
        if (def->short_name != 0) {
            g->shortopts[ns++] = (char)def->short_name;
            if (value)
                g->shortopts[ns++] = ':';
        }
    }
    /* longopts[settings_count] and the string's end stay zero from the memset. */
}

const struct settings_def *settings_from_getopt(int val)
{
    if (val >= SETTINGS_GETOPT_BASE && (size_t)(val - SETTINGS_GETOPT_BASE) < settings_count)
        return &settings_table[val - SETTINGS_GETOPT_BASE];
    for (size_t i = 0; i < settings_count; i++)
        if (val != 0 && settings_table[i].short_name == val)
            return &settings_table[i];
    return NULL;
}

/* Where descriptions start, and the width they wrap at. */
#define SETTINGS_USAGE_COL 29
#define SETTINGS_USAGE_WIDTH 80

/* Writes text from column col, wrapping at words; continuation lines start at
 * SETTINGS_USAGE_COL. */
static void settings_usage_wrap(FILE *out, int col, const char *text)
{
    const char *p = text;
    bool line_empty = true;
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (w == 0)
            break;
        if (!line_empty && col + 1 + (int)w > SETTINGS_USAGE_WIDTH) {
            fprintf(out, "\n%*s", SETTINGS_USAGE_COL, "");
            col = SETTINGS_USAGE_COL;
            line_empty = true;
        }
        if (!line_empty) {
            fputc(' ', out);
            col++;
        }
        fwrite(p, 1, w, out);
        col += (int)w;
        line_empty = false;
        p += w;
    }
    fputc('\n', out);
}

static void settings_append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    if (*used >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used = *used + (size_t)n < len ? *used + (size_t)n : len - 1;
}

void settings_usage(FILE *out)
{
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        char opt[128];
        size_t n = 0;
        if (def->short_name != 0)
            settings_append(opt, sizeof opt, &n, "  -%c, --%s", def->short_name, def->name);
        else
            settings_append(opt, sizeof opt, &n, "      --%s", def->name);
        if (def->arg != NULL)
            settings_append(opt, sizeof opt, &n, " %s", def->arg);
        fputs(opt, out);
        int col = (int)n;
        if (col + 2 > SETTINGS_USAGE_COL) {
            fputs("  ", out); /* too long for the column: the text follows on the same line */
            col += 2;
        } else {
            fprintf(out, "%*s", SETTINGS_USAGE_COL - col, "");
            col = SETTINGS_USAGE_COL;
        }
        /* The help text, then "(repeatable; MIN to MAX; default DEF)" as far as they apply. */
        char text[512];
        size_t t = 0;
        settings_append(text, sizeof text, &t, "%s", def->help);
        const char *sep = " (";
        if (def->flags & SETTINGS_REPEATABLE) {
            settings_append(text, sizeof text, &t, "%srepeatable", sep);
            sep = "; ";
        }
        if (def->type == SETTINGS_UINT) {
            settings_append(text, sizeof text, &t, "%s%.0f to %.0f", sep, def->min, def->max);
            sep = "; ";
        } else if (def->type == SETTINGS_SECONDS) {
            settings_append(text, sizeof text, &t, "%s%g to %g", sep, def->min, def->max);
            sep = "; ";
        } else if (def->type == SETTINGS_MODE) {
            settings_append(text, sizeof text, &t, "%soctal %04o to %04o", sep, (unsigned)def->min,
                            (unsigned)def->max);
            sep = "; ";
        }
        if (def->def != NULL) {
            settings_append(text, sizeof text, &t, "%sdefault %s", sep, def->def);
            sep = "; ";
        }
        if (sep[0] == ';')
            settings_append(text, sizeof text, &t, ")");
        settings_usage_wrap(out, col, text);
    }
}
