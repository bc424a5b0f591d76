/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The daemon's settings and the one table that describes them (settings_table[]): each row gives
 * a setting's name, type, field in struct settings, range, default, whether it can change on a
 * SIGHUP reload, and its --help text. The command line (getopt options, parsing, --help), the
 * config file, the reload diff and its log lines all read that table, so adding a setting is one
 * row plus the code that uses its value. A key is spelled the same as its long option
 * (`--max-connections 5` and `max-connections = 5`).
 */
#ifndef CONDD_DAEMON_SETTINGS_H
#define CONDD_DAEMON_SETTINGS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

#define SETTINGS_MAX_LISTEN 16
#define SETTINGS_DEFAULT_LISTEN "127.0.0.1:7380"
#define SETTINGS_DEFAULT_CONFIG "/etc/condd/condd.conf"
#define SETTINGS_DEFAULT_PORT 7380 /* a server list entry without a port */

/* The values of a repeatable setting (strings owned by the list). */
struct settings_list {
    char *v[SETTINGS_MAX_LISTEN];
    int n;
};

/* All strings are owned by the struct (freed by settings_clear). */
struct settings {
    struct settings_list listen; /* empty: SETTINGS_DEFAULT_LISTEN */
    char *unix_path;             /* NULL: no Unix socket */
    unsigned unix_mode;          /* permission bits of the Unix socket */
    char *unix_group;            /* group (name or number) of the Unix socket; NULL: condd's */
    char *port_file;             /* NULL: none */
    char *config_file;           /* NULL: SETTINGS_DEFAULT_CONFIG if it exists */
    char *metrics_addr;          /* NULL: no metrics endpoint */
    unsigned max_connections;
    /* TLS connections in their handshake at once (0: max_connections / 2, at least 1); more
     * are closed at accept (server_handshake_cap()). */
    unsigned max_handshakes;
    uint32_t max_frame_bytes;
    double session_timeout;     /* seconds, for sessions that do not ask for their own */
    double max_session_timeout; /* upper clamp for the timeout a client asks for */
    size_t max_pending;         /* pending acquires + waits per session */
    char *auth_file;            /* NULL: no authentication, everyone may do everything */
    double auth_fail_delay;     /* seconds before a failed Hello is answered and closed */

    /* Session resume (resume.c): the upper clamp of the grace a client asks for, and the answers
     * kept per detached session (one more ends it). */
    double max_session_grace;
    size_t max_buffered_answers;
    enum log_level log_level;
    /* TLS (daemon/tls.c). */
    struct settings_list listen_tls; /* TCP listeners that speak TLS */
    char *tls_cert;                  /* PEM certificate chain, server's first; NULL: none */
    char *tls_key;                   /* PEM private key of tls_cert */
    char *tls_client_ca;             /* NULL: no client certificates asked for */
    double tls_handshake_timeout;    /* seconds a TLS handshake may take */
    char *tls_port_file;             /* NULL: none */
    /* Cluster (cluster.c, protocol.md §21.5): the server list and this server's entry in it;
     * both NULL, or both set with cluster_self in the list. */
    char *cluster;
    char *cluster_self;

    /* Live restart (restart.c): on SIGTERM under systemd, hand the state to the fd store.
     * "auto" (NULL), "yes" or "no" (the table's words: any other is refused when read). */
    char *keep_state_on_stop;
    /* How long a live restart waits for clients to close the connections it half-closed. */
    double restart_drain;
};

/* ------------------------------------------------------------------ the table */

enum settings_type {
    SETTINGS_UINT,       /* unsigned integer field (4 or 8 bytes) in [min, max] */
    SETTINGS_SECONDS,    /* double field, seconds in [min, max] */
    SETTINGS_MODE,       /* unsigned (4-byte) field, file permission bits in octal, [min, max] */
    SETTINGS_STRING,     /* char * field, at least min bytes long */
    SETTINGS_ADDR,       /* char * field, HOST:PORT or [IPV6]:PORT */
    SETTINGS_SERVERS,    /* char * field, a server list (protocol.md §21.1) */
    SETTINGS_SERVER,     /* char * field, one entry of a server list */
    SETTINGS_LOG_LEVEL,  /* enum log_level field */
    SETTINGS_HELP,       /* command-line action without a value or a field: print --help */
    SETTINGS_VERSION,    /* command-line action without a value or a field: print the version */
    SETTINGS_NEW_TOKEN,  /* command-line action without a value: print a fresh random token */
    SETTINGS_HASH_TOKEN, /* command-line action whose value is a principal name: read a token on
                          * stdin and print the auth-file line for it */
};

enum settings_flags {
    /* Takes effect on a SIGHUP reload; without it a changed value is logged as needing a
     * restart and the old one stays. */
    SETTINGS_RELOADABLE = 1u << 0,
    /* Each value appends to a struct settings_list field (at most SETTINGS_MAX_LISTEN); the
     * first value a source (the file, the command line) gives replaces the list it had. */
    SETTINGS_REPEATABLE = 1u << 1,
    /* Command line only: not a config file key, and not part of the reload diff. */
    SETTINGS_CLI_ONLY = 1u << 2,
};

struct settings_def {
    const char *name; /* long option and config key */
    int short_name;   /* short option letter, or 0 */
    enum settings_type type;
    unsigned flags;      /* enum settings_flags */
    size_t offset, size; /* the field in struct settings (0, 0 for actions) */
    double min, max;     /* numbers: the range; SETTINGS_STRING: min is the least length */
    /* SETTINGS_STRING: the words the value must be one of (NULL-terminated), or NULL for any
     * string; checked where the value is read, like a range, so a bad word is a bad option. */
    const char *const *words;
    /* As a config file would spell it. Numbers and the log level start with it; strings and
     * lists start unset, and this is what the daemon uses while they are (NULL: nothing). */
    const char *def;
    const char *arg;  /* the value's name in --help; NULL for actions */
    const char *help; /* --help text (the range and the default are appended) */
};

/* Every setting, in the order --help and the documentation give them. */
extern const struct settings_def settings_table[];
extern const size_t settings_count;

/* The row named key, or NULL. */
const struct settings_def *settings_find(const char *key);

/* Does def set a value (false for the actions: --help, --version, --new-token, --hash-token)? */
bool settings_takes_value(const struct settings_def *def);

/* Is def an action that takes an argument on the command line (--hash-token PRINCIPAL)? */
bool settings_action_takes_arg(const struct settings_def *def);

/* ------------------------------------------------------------------ values */

void settings_init(struct settings *s);  /* the defaults */
void settings_clear(struct settings *s); /* frees the strings; s is then at the defaults */

/*
 * Sets def's field of s from value (borrowed, copied). A repeatable key appends. Returns true on
 * success; on failure (a bad value, out of range, out of memory) writes a one-line reason into
 * err and leaves s as it was.
 */
bool settings_set(struct settings *s, const struct settings_def *def, const char *value, char *err,
                  size_t errlen);

/* settings_set() by name; an unknown key or an action is refused with a reason in err. */
bool settings_apply(struct settings *s, const char *key, const char *value, char *err,
                    size_t errlen);

/* One source of settings (a config file, the command line), so that the first value it gives
 * a repeatable key replaces the list instead of adding to it. Zero-initialise. */
struct settings_source {
    uint64_t seen; /* bit i: settings_table[i] given by this source */
};

/* settings_set() through src (see struct settings_source). */
bool settings_source_set(struct settings_source *src, struct settings *s,
                         const struct settings_def *def, const char *value, char *err,
                         size_t errlen);

/* Writes def's value in s as a config file would spell it (a list: the values joined with
 * ", ", or the default when empty; an unset string: "(none)") into buf. */
void settings_format(const struct settings *s, const struct settings_def *def, char *buf,
                     size_t len);

/* Do a and b hold the same value of def? */
bool settings_equal(const struct settings *a, const struct settings *b,
                    const struct settings_def *def);

/* Deep copy of src into dst (initialised). Returns false on out-of-memory, dst unchanged. */
bool settings_copy(struct settings *dst, const struct settings *src);

/* dst takes src's value of every reloadable key and keeps its own for the rest. All or
 * nothing: returns false on out-of-memory with dst unchanged. */
bool settings_take_reloadable(struct settings *dst, const struct settings *src);

/* Logs, at notice, each key whose value differs between cur and next; a key that is not
 * reloadable is logged (as a warning) as needing a restart. Returns how many differ. */
int settings_log_changes(const struct settings *cur, const struct settings *next);

/* ------------------------------------------------------------------ the command line */

/* getopt_long's option array and short-option string, built from the table. */
struct settings_getopt {
    struct option longopts[48];
    char shortopts[64];
};

/* The getopt value of a row without a short option: SETTINGS_GETOPT_BASE + its index. */
#define SETTINGS_GETOPT_BASE 0x100

void settings_getopt_init(struct settings_getopt *g);

/* The row getopt_long() returned val for, or NULL ('?', ':' and anything unknown). */
const struct settings_def *settings_from_getopt(int val);

/* Writes the OPTIONS part of --help: one entry per row, with its range and default. */
void settings_usage(FILE *out);

#endif
