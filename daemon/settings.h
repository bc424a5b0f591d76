/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The daemon's settings: defaults, the one table of keys shared by the command line and the
 * config file, and validation of each value. A key is spelled the same as its long option
 * (`--max-connections 5` and `max-connections = 5`).
 */
#ifndef CONDD_DAEMON_SETTINGS_H
#define CONDD_DAEMON_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define SETTINGS_MAX_LISTEN 16
#define SETTINGS_DEFAULT_LISTEN "127.0.0.1:7380"
#define SETTINGS_DEFAULT_CONFIG "/etc/condd/condd.conf"

/* All strings are owned by the struct (freed by settings_clear). */
struct settings {
    char *listen[SETTINGS_MAX_LISTEN]; /* empty: SETTINGS_DEFAULT_LISTEN */
    int nlisten;
    char *unix_path;         /* NULL: no Unix socket */
    char *port_file;         /* NULL: none */
    char *config_file;       /* NULL: SETTINGS_DEFAULT_CONFIG if it exists */
    char *metrics_addr;      /* NULL: no metrics endpoint */
    unsigned max_connections;
    uint32_t max_frame_bytes;
    double session_timeout;  /* seconds, for sessions that do not ask for their own */
    double max_session_timeout; /* upper clamp for the timeout a client asks for */
    size_t max_pending;      /* pending acquires + waits per session */
    enum log_level log_level;
};

void settings_init(struct settings *s);  /* the defaults */
void settings_clear(struct settings *s); /* frees the strings; s can be re-initialised */

/*
 * Sets key (a long option name without the dashes) to value. Returns true on success; on
 * failure writes a one-line reason into err. `listen` appends; the first `listen` given by a
 * source replaces the defaults (see settings_reset_listen()). value is borrowed (copied).
 */
bool settings_apply(struct settings *s, const char *key, const char *value, char *err,
                    size_t errlen);

/* Forget every listen address (the next settings_apply("listen") starts a new list). */
void settings_reset_listen(struct settings *s);

/* Does key take a value? false for unknown keys. */
bool settings_key_known(const char *key);


/* Can key change while the daemon runs (SIGHUP reload)? Listeners, the port file and the
 * metrics address are set up once at start; everything else can. */
bool settings_key_runtime(const char *key);

/* Writes the value of key in s as a config file would spell it (listen: the addresses joined
 * with ", "; unset strings: "(none)") into buf. Unknown keys give "". */
void settings_format(const struct settings *s, const char *key, char *buf, size_t len);

/* The NULL-terminated list of every key, in the order the documentation gives them. */
extern const char *const settings_all_keys[];

/* Copies src into dst (deep copy). dst must be initialised or cleared. */
void settings_copy(struct settings *dst, const struct settings *src);

#endif
