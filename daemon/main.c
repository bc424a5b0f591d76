/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condd's entry point: the command line and the config file (the file first, the command line
 * on top; both read through the settings table in settings.c), process set-up (file limit,
 * signals), listeners (configured, or inherited from systemd), the port file, the metrics endpoint,
 * readiness, and the event loop with its signals: SIGHUP reloads the config file, SIGINT and
 * SIGTERM stop gracefully (or, under systemd with keep-state-on-stop, hand the state to the fd
 * store), SIGUSR2 re-executes the daemon keeping its state (restart.c). Everything that serves
 * clients lives in server.c and below; exit() is only called here, before the loop starts.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "address.h"
#include "auth.h"
#include "tls.h"
#include "conffile.h"
#include "cluster.h"
#include "log.h"
#include "metrics.h"
#include "restart.h"
#include "sdnotify.h"
#include "server.h"
#include "settings.h"

/* How long a stopping daemon waits for replies to drain before it closes connections anyway. */
#define MAIN_DRAIN_SECONDS 2.0

/* After the one-line reason of a bad option: a pointer to --help rather than all of it, so the
 * reason is not scrolled away (condctl does the same). */
static void main_try_help(void)
{
    fputs("try 'condd --help'\n", stderr);
}

static void main_usage(FILE *out)
{
    fprintf(out, "Usage: condd [OPTION]...\n"
                 "Serve named locks and condition variables over TCP and Unix sockets.\n"
                 "\n");
    settings_usage(out);
    fprintf(out, "\n"
                 "SIGHUP reloads the config file; SIGTERM and SIGINT stop gracefully; SIGUSR2\n"
                 "re-executes condd keeping every lock, waiter and session (live restart).\n");
}

/* ------------------------------------------------------------------ settings sources */

/* The command line as table rows and values, kept so that a reload can lay it over the re-read
 * file again: an option given at start keeps overriding the file for the daemon's whole life. */
struct main_cli {
    const struct settings_def **defs; /* borrowed: rows of settings_table[] */
    const char **values;              /* borrowed: argv strings */
    int n;
    const char *config; /* --config, or NULL */
};

/* The maximum token --hash-token reads; tokens from --new-token are 49 bytes. */
#define MAIN_TOKEN_MAX 1024

/* --new-token, --hash-token PRINCIPAL: print and exit (0, or 2 for bad input). */
static int main_token_action(const struct settings_def *def, const char *principal)
{
    if (!auth_global_init()) {
        fprintf(stderr, "condd: libsodium cannot be initialized\n");
        return 1;
    }
    if (def->type == SETTINGS_NEW_TOKEN) {
        char tok[AUTH_TOKEN_TEXT_LEN];
        auth_new_token(tok);
        printf("%s\n", tok);
        return 0;
    }
    if (!auth_principal_valid(principal)) {
        fprintf(stderr,
                "condd: --hash-token: bad principal name '%s' (1-64 of A-Z a-z 0-9 . _ - "
                "@; not 'anonymous' or '*')\n",
                principal);
        return 2;
    }
    /* The token is the first line of stdin, without its line end; it never goes to argv,
     * where other users could read it. */
    char buf[MAIN_TOKEN_MAX + 2];
    size_t n = fread(buf, 1, sizeof buf - 1, stdin);
    buf[n] = '\0';
    n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    char hash[AUTH_HASH_TEXT_LEN];
    int rc = 0;
    if (n > MAIN_TOKEN_MAX) {
        fprintf(stderr, "condd: --hash-token: the token on stdin is longer than %d bytes\n",
                MAIN_TOKEN_MAX);
        rc = 2;
    } else if (!auth_hash_token((const uint8_t *)buf, n, hash)) {
        fprintf(stderr,
                "condd: --hash-token: the token on stdin is %zu bytes; at least %d are needed "
                "(condd --new-token makes good ones)\n",
                n, AUTH_TOKEN_MIN_LEN);
        rc = 2;
    } else {
        printf("principal %s token %s\n", principal, hash);
    }
    explicit_bzero(buf, sizeof buf);
    return rc;
}

/* Parses argv into cli, checking each value. Returns -1 to go on, or an exit status (0 after
 * --help/--version, 2 for a bad option or value: one line with the reason, then a pointer to
 * --help). */
static int main_parse_args(struct main_cli *cli, int argc, char **argv)
{
    int opt;
    char err[256];
    struct settings_getopt g;
    settings_getopt_init(&g);
    struct settings scratch; /* only to check each value where the user typed it */
    settings_init(&scratch);
    cli->defs = calloc((size_t)argc, sizeof *cli->defs);
    cli->values = calloc((size_t)argc, sizeof *cli->values);
    if (cli->defs == NULL || cli->values == NULL) {
        fprintf(stderr, "condd: out of memory\n");
        return 1;
    }
    int rc = -1;
    while (rc < 0 && (opt = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1) {
        const struct settings_def *def = settings_from_getopt(opt);
        if (def == NULL) { /* getopt_long has said what is wrong */
            main_try_help();
            rc = 2;
            continue;
        }
        if (def->type == SETTINGS_VERSION) {
            printf("%s\n", PACKAGE_STRING);
            rc = 0;
            continue;
        }
        if (def->type == SETTINGS_HELP) {
            main_usage(stdout);
            rc = 0;
            continue;
        }
        if (def->type == SETTINGS_NEW_TOKEN || def->type == SETTINGS_HASH_TOKEN) {
            rc = main_token_action(def, optarg);
            continue;
        }
        if (!settings_set(&scratch, def, optarg, err, sizeof err)) {
            fprintf(stderr, "condd: --%s: %s\n", def->name, err);
            main_try_help();
            rc = 2;
            continue;
        }
        if (def->offset == offsetof(struct settings, config_file)) {
            cli->config = optarg; /* read first; not laid over the file like the rest */
            continue;
        }
        cli->defs[cli->n] = def;
        cli->values[cli->n] = optarg;
        cli->n++;
    }
    settings_clear(&scratch);
    if (rc < 0 && optind < argc) {
        fprintf(stderr, "condd: unexpected argument '%s'\n", argv[optind]);
        main_try_help();
        rc = 2;
    }
    return rc;
}

static void main_cli_free(struct main_cli *cli)
{
    free(cli->defs);
    free(cli->values);
}

/* Where each setting's value came from: line[i] is the config file's line that set
 * settings_table[i], 0 when the command line did or nobody did. The files a setting names are
 * read, and the checks before opening (main_check_settings()) made, after the settings are
 * built; their errors point back at that line or option. */
struct main_origin {
    unsigned line[64]; /* a row per bit of settings_source.seen */
};

/*
 * Builds the settings from scratch: defaults, then the config file (--config, else the
 * default file if it exists), then the command line. Used at start and on every reload, so it
 * never ends the process. Returns false with "FILE:LINE: reason" (or "out of memory") in err
 * when the settings cannot be built; s is then cleared. origin (may be NULL) is filled on
 * success.
 */
static bool main_load_settings(struct settings *s, const struct main_cli *cli,
                               struct main_origin *origin, char *err, size_t errlen)
{
    settings_init(s);
    unsigned lines[64] = {0}; /* a row per bit of settings_source.seen */
    const char *path = cli->config;
    if (path == NULL && access(SETTINGS_DEFAULT_CONFIG, F_OK) == 0)
        path = SETTINGS_DEFAULT_CONFIG;
    if (path != NULL) {
        if (!conffile_load_lines(path, s, lines, err, errlen) ||
            !settings_apply(s, "config", path, err, errlen)) {
            settings_clear(s);
            return false;
        }
    }
    /* The command line is one source: its first --listen replaces the file's addresses. */
    struct settings_source src = {0};
    for (int i = 0; i < cli->n; i++) {
        if (!settings_source_set(&src, s, cli->defs[i], cli->values[i], err, errlen)) {
            settings_clear(s); /* out of memory: main_parse_args checked every value */
            return false;
        }
    }
    /* Settings that must agree with each other, once every source has been read. */
    if (!cluster_check_settings(s, err, errlen)) {
        settings_clear(s);
        return false;
    }
    if (origin != NULL)
        for (size_t i = 0; i < settings_count; i++)
            origin->line[i] = (src.seen & (UINT64_C(1) << i)) ? 0 : lines[i];
    return true;
}

/* origin's line for the row named key. */
static unsigned main_origin_line(const struct main_origin *origin, const char *key)
{
    return origin->line[settings_find(key) - settings_table];
}

/* ------------------------------------------------------------------ checks before opening */

/* Does addr's host resolve as server.c and metrics.c will resolve it to bind? Whether the
 * address can be bound (in use, not this machine's) is only known by binding: exit 1. */
static bool main_check_resolves(const char *addr, char *why, size_t whylen)
{
    struct addr_parts ap;
    if (!addr_split(addr, ADDR_LISTEN, 0, &ap)) { /* settings.c checked it; a safety net */
        snprintf(why, whylen, "'%s' is not HOST:PORT or [IPV6]:PORT", addr);
        return false;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)ap.port);
    int gai = getaddrinfo(ap.host, port, &hints, &res);
    if (gai != 0) {
        snprintf(why, whylen, "cannot resolve '%s' in '%s': %s", ap.host, addr,
                 gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        return false;
    }
    freeaddrinfo(res);
    return true;
}

/* Can a file be created at path (the port files, the Unix socket)? Its directory must exist
 * and be writable and searchable by condd; path must not be a directory. Nothing is created. */
static bool main_check_creatable(const char *path, char *why, size_t whylen)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct stat st;
    int e = 0;
    if (stat(dir, &st) != 0)
        e = errno;
    else if (!S_ISDIR(st.st_mode))
        e = ENOTDIR;
    else if (access(dir, W_OK | X_OK) != 0)
        e = errno;
    if (e != 0) {
        snprintf(why, whylen, "cannot create '%s' in %s: %s", path, dir, strerror(e));
        return false;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(why, whylen, "'%s' is a directory", path);
        return false;
    }
    return true;
}

/* The Unix socket's path: short enough for sockaddr_un, creatable, and not a file that is not
 * a socket (server_listen_unix() will not replace one). Whether a live daemon answers at an
 * existing socket is only known by connecting: exit 1. */
static bool main_check_unix_path(const char *path, char *why, size_t whylen)
{
    struct sockaddr_un sun;
    if (strlen(path) >= sizeof sun.sun_path) {
        snprintf(why, whylen, "'%s' is longer than %zu bytes (the limit of a Unix socket path)",
                 path, sizeof sun.sun_path - 1);
        return false;
    }
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
        snprintf(why, whylen, "'%s' exists and is not a socket; not replacing it", path);
        return false;
    }
    return main_check_creatable(path, why, whylen);
}

/* One value's check (value borrowed; why: the reason, without the setting's name). */
typedef bool (*main_check_fn)(const char *value, char *why, size_t whylen);

static bool main_check_group(const char *group, char *why, size_t whylen)
{
    gid_t gid;
    return server_group_id(group, &gid, why, whylen);
}

/* Writes the reason of a bad value of key into err: "--KEY: why" when the command line gave
 * it (*from_cli set), else "FILE:LINE: KEY: why", without the line for a list of several
 * values from the file (the line kept is the list's last one, maybe not the bad value's). */
static void main_check_failed(const struct settings *s, const struct main_origin *origin,
                              const char *key, int nvalues, const char *why, char *err,
                              size_t errlen, bool *from_cli)
{
    unsigned line = main_origin_line(origin, key);
    *from_cli = line == 0;
    if (line == 0)
        snprintf(err, errlen, "--%s: %s", key, why);
    else if (nvalues > 1)
        snprintf(err, errlen, "%s: %s: %s", s->config_file, key, why);
    else
        snprintf(err, errlen, "%s:%u: %s: %s", s->config_file, line, key, why);
}

/* One TCP address that condd will bind, and the setting that asks for it. */
struct main_bind {
    const char *key;
    const char *addr;
    int nvalues; /* of key */
};

/* Two listeners (listen, listen-tls, metrics) on the same host and fixed port can never both be
 * bound: the second is a bad value, not a port in use. (Spellings that differ, localhost and
 * 127.0.0.1 say, are left to bind(): exit 1.) Returns the index of the second, or -1. */
static int main_find_same_port(const struct main_bind *b, int n, int *first)
{
    for (int i = 1; i < n; i++) {
        struct addr_parts pi, pj;
        if (!addr_split(b[i].addr, ADDR_LISTEN, 0, &pi) || pi.port == 0)
            continue;
        for (int j = 0; j < i; j++) {
            if (addr_split(b[j].addr, ADDR_LISTEN, 0, &pj) && pj.port == pi.port &&
                strcasecmp(pj.host, pi.host) == 0) {
                *first = j;
                return i;
            }
        }
    }
    return -1;
}

/*
 * Checks the values of s that can be checked without side effects, so that a bad one is a bad
 * option (exit 2) before any listener, socket file or port file exists: listen, listen-tls and
 * metrics addresses resolve and no two of them ask for the same host and port, unix-group names a
 * group, the Unix socket and the port files can be created. (Values are checked for form and
 * range where they are read, settings.c; the auth file and the TLS files are read before opening
 * too.) activated: socket-activated, so listen, unix and unix-group are ignored and not checked.
 * Returns false with the reason in err (main_check_failed()).
 */
static bool main_check_settings(const struct settings *s, const struct main_origin *origin,
                                bool activated, char *err, size_t errlen, bool *from_cli)
{
    const struct {
        const char *key;
        const char *value; /* NULL: unset, or a list */
        const struct settings_list *list;
        main_check_fn check;
        bool listener; /* ignored when socket-activated */
    } checks[] = {
        {"listen", NULL, &s->listen, main_check_resolves, true},
        {"listen-tls", NULL, &s->listen_tls, main_check_resolves, false},
        {"metrics", s->metrics_addr, NULL, main_check_resolves, false},
        {"unix", s->unix_path, NULL, main_check_unix_path, true},
        {"unix-group", s->unix_group, NULL, main_check_group, true},
        {"port-file", s->port_file, NULL, main_check_creatable, false},
        {"tls-port-file", s->tls_port_file, NULL, main_check_creatable, false},
    };
    char why[768];
    struct main_bind binds[2 * SETTINGS_MAX_LISTEN + 2];
    int nbinds = 0;
    /* The default listener (main_open_listeners()) takes its port as much as a configured one. */
    if (s->listen.n == 0 && s->listen_tls.n == 0 && !activated)
        binds[nbinds++] = (struct main_bind){"listen", SETTINGS_DEFAULT_LISTEN, 1};
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if (checks[i].listener && activated)
            continue;
        int n = checks[i].list != NULL ? checks[i].list->n : checks[i].value != NULL;
        for (int j = 0; j < n; j++) {
            const char *v = checks[i].list != NULL ? checks[i].list->v[j] : checks[i].value;
            if (!checks[i].check(v, why, sizeof why)) {
                main_check_failed(s, origin, checks[i].key, n, why, err, errlen, from_cli);
                return false;
            }
            if (checks[i].check == main_check_resolves)
                binds[nbinds++] = (struct main_bind){checks[i].key, v, n};
        }
    }
    int first, second = main_find_same_port(binds, nbinds, &first);
    if (second >= 0) {
        snprintf(why, sizeof why, "'%s' is also a %s address; each listener needs its own port",
                 binds[second].addr, binds[first].key);
        main_check_failed(s, origin, binds[second].key, binds[second].nvalues, why, err, errlen,
                          from_cli);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ process set-up */

static void main_raise_nofile(unsigned max_connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)max_connections + 64;
    if (rl.rlim_cur >= want)
        return;
    rlim_t target = want;
    if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max)
        target = rl.rlim_max;
    rl.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || target < want)
        log_warning("open-file limit is %llu but --max-connections %u needs %llu; connections "
                    "beyond the limit will be refused (raise LimitNOFILE or ulimit -n)",
                    (unsigned long long)target, max_connections, (unsigned long long)want);
}

static bool main_write_port_file(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        goto fail;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        goto fail;
    }
    return true;
fail:
    log_error("cannot write port file %s: %s", path, strerror(errno));
    return false;
}

/* ------------------------------------------------------------------ authentication */

/* Reads s's auth file; NULL on failure with the reason in err, naming the setting and, when
 * the config file gave it, that file's line (line, from main_load_settings()): "CONF:LINE:
 * auth-file PATH: reason", as the config file's own errors read. */
static struct auth_db *main_open_auth(const struct settings *s, unsigned line, char *err,
                                      size_t errlen)
{
    char why[1024];
    struct auth_db *db = auth_load(s->auth_file, why, sizeof why);
    if (db == NULL && line > 0)
        snprintf(err, errlen, "%s:%u: auth-file %s", s->config_file, line, why);
    else if (db == NULL)
        snprintf(err, errlen, "auth-file %s", why);
    return db;
}

/* main_open_auth(), logging what the file holds. */
static struct auth_db *main_load_auth(const struct settings *s, unsigned line, char *err,
                                      size_t errlen)
{
    const char *path = s->auth_file;
    struct auth_db *db = main_open_auth(s, line, err, errlen);
    if (db != NULL) {
        size_t np, nr;
        auth_counts(db, &np, &nr);
        log_notice("auth file %s: %zu principals, %zu rules, anonymous clients %s", path, np, nr,
                   auth_anonymous_allowed(db) ? "allowed" : "refused");
    }
    return db;
}

/* Is host (as the listen setting spells it) a loopback address only? */
static bool main_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* Without an auth file anyone who reaches a port may take, hold or break every lock: fine on
 * loopback and a Unix socket (file permissions guard it), worth a warning anywhere else, unless
 * TLS with client certificates admits only the holders of one. A plaintext port with
 * authentication works, but its tokens cross the network in the clear: a notice. */
static void main_warn_exposed(const struct settings *s, bool has_auth)
{
    for (int i = 0; i < s->listen.n; i++) {
        struct addr_parts a;
        if (!addr_split(s->listen.v[i], ADDR_LISTEN, 0, &a) || main_is_loopback(a.host))
            continue;
        if (!has_auth)
            log_warning("listening on %s with neither TLS nor authentication: anyone who can "
                        "reach it may take, hold or break every lock (see AUTH FILE and TLS in "
                        "condd(8))",
                        s->listen.v[i]);
        else
            log_notice("listening on %s without TLS: tokens and names cross the network in the "
                       "clear (see --listen-tls)",
                       s->listen.v[i]);
    }
    for (int i = 0; i < s->listen_tls.n; i++) {
        struct addr_parts a;
        if (!has_auth && s->tls_client_ca == NULL &&
            addr_split(s->listen_tls.v[i], ADDR_LISTEN, 0, &a) && !main_is_loopback(a.host))
            log_warning("listening with TLS on %s without authentication (no auth file, no "
                        "tls-client-ca): anyone who can reach it may take, hold or break every "
                        "lock (see AUTH FILE in condd(8))",
                        s->listen_tls.v[i]);
    }
}

/* ------------------------------------------------------------------ TLS */

/* The TLS listeners' material from s, or NULL with the reason in err. Logged when loaded. */
static struct tls_ctx *main_load_tls(const struct settings *s, char *err, size_t errlen)
{
    struct tls_ctx *ctx = tls_ctx_load(s, err, errlen);
    char why[128];
    if (ctx != NULL && !tls_ctx_valid_now(ctx, why, sizeof why))
        log_warning("tls-cert %s: the certificate %s; serving it anyway, but clients will refuse "
                    "it (a renewed one is read at SIGHUP)",
                    s->tls_cert, why);
    if (ctx != NULL)
        log_notice("TLS: certificate %s, key %s, client certificates %s%s", s->tls_cert, s->tls_key,
                   s->tls_client_ca != NULL ? "required, CA " : "not asked for",
                   s->tls_client_ca != NULL ? s->tls_client_ca : "");
    return ctx;
}

/* ------------------------------------------------------------------ signals and shutdown */

struct main_ctx {
    struct event_base *base;
    struct server *srv;
    struct metrics *metrics;
    struct sdnotify *notify;
    const struct main_cli *cli;
    struct settings *cur; /* what is in effect */
    struct event *drain;
    double drain_left;
    struct restart *restart;
    bool keep_state; /* SIGTERM hands the state to systemd's fd store */
    bool activated;  /* serving systemd's listeners: socket-activated, or the successor of one */
};

static void main_on_drain(evutil_socket_t fd, short what, void *arg)
{
    struct main_ctx *m = arg;
    m->drain_left -= 0.01;
    if (server_unflushed(m->srv) > 0 && m->drain_left > 0) {
        struct timeval tv = {0, 10000};
        event_add(m->drain, &tv);
        return;
    }
    server_close_all(m->srv);
    event_base_loopexit(m->base, NULL);
}

static void main_on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct main_ctx *m = arg;
    if (m->drain_left > 0)
        return; /* already stopping */
    log_notice("received %s; shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    restart_cancel(m->restart); /* a stop during a live restart's drain wins */
    if (sig == SIGTERM && m->keep_state && restart_store(m->restart)) {
        /* The store ends the loop once the clients have closed (restart.c). */
        sdnotify_stopping(m->notify);
        metrics_stop(m->metrics);
        m->metrics = NULL;
        m->drain_left = MAIN_DRAIN_SECONDS; /* stopping: no second stop, reload or restart */
        return;
    }
    sdnotify_stopping(m->notify);
    metrics_stop(m->metrics);
    m->metrics = NULL;
    server_begin_shutdown(m->srv);
    m->drain_left = MAIN_DRAIN_SECONDS;
    struct timeval tv = {0, 0};
    event_add(m->drain, &tv);
}

static void main_on_reload_signal(evutil_socket_t sig, short what, void *arg)
{
    struct main_ctx *m = arg;
    if (m->drain_left > 0)
        return; /* stopping: nothing to reload into */
    const char *path = m->cli->config != NULL ? m->cli->config : SETTINGS_DEFAULT_CONFIG;
    if (m->cli->config == NULL && access(path, F_OK) != 0)
        log_notice("received SIGHUP; no config file (%s does not exist), re-applying the "
                   "defaults and the command line",
                   path);
    else
        log_notice("received SIGHUP; reloading %s", path);
    sdnotify_reloading(m->notify);
    /* All or nothing: next is built whole (a bad line rejects the file), then merged into a
     * copy of what is in effect; only when every step has succeeded does anything change. */
    struct settings next, merged;
    char err[1024];
    struct auth_db *auth = NULL;
    struct tls_ctx *tls = NULL;
    settings_init(&merged);
    struct main_origin origin;
    if (!main_load_settings(&next, m->cli, &origin, err, sizeof err)) {
        log_error("reload failed: %s; keeping the current settings", err);
    } else if (next.auth_file != NULL &&
               (auth = main_load_auth(&next, main_origin_line(&origin, "auth-file"), err,
                                      sizeof err)) == NULL) {
        /* The auth file is re-read on every reload, changed path or not. */
        log_error("reload failed: %s; keeping the current settings and auth file", err);
        settings_clear(&next);
    } else if (m->cur->listen_tls.n > 0 && (tls = main_load_tls(&next, err, sizeof err)) == NULL) {
        /* So are the certificate and key (renewed in place, typically). Open connections keep
         * what they started with either way. */
        log_error("reload failed: %s; keeping the current settings, certificate and key", err);
        auth_free(auth);
        settings_clear(&next);
    } else if (!settings_copy(&merged, m->cur) || !settings_take_reloadable(&merged, &next) ||
               !server_update_settings(m->srv, &merged)) {
        log_error("reload failed: out of memory; keeping the current settings");
        auth_free(auth);
        tls_ctx_free(tls);
        settings_clear(&next);
    } else {
        server_set_auth(m->srv, auth);
        if (tls != NULL)
            server_set_tls(m->srv, tls);
        if (settings_log_changes(m->cur, &next) == 0)
            log_notice("reload: no setting changed");
        settings_clear(m->cur);
        *m->cur = merged; /* m->cur takes merged's strings */
        settings_init(&merged);
        log_set_level(m->cur->log_level);
        settings_clear(&next);
    }
    settings_clear(&merged);
    sdnotify_ready(m->notify);
}

/* restart.c's check before a hand-over: would the successor start with the settings, auth file
 * and certificates as they are on disk now? A typo in the config file must not cost the state. */
static bool main_check_successor(void *arg, char *err, size_t errlen)
{
    const struct main_ctx *m = arg;
    struct settings next;
    struct main_origin origin;
    if (!main_load_settings(&next, m->cli, &origin, err, errlen))
        return false;
    struct auth_db *auth = NULL;
    struct tls_ctx *tls = NULL;
    bool from_cli;
    bool ok = main_check_settings(&next, &origin, m->activated, err, errlen, &from_cli) &&
              (next.auth_file == NULL ||
               (auth = main_open_auth(&next, main_origin_line(&origin, "auth-file"), err,
                                      errlen)) != NULL) &&
              (next.listen_tls.n == 0 || (tls = tls_ctx_load(&next, err, errlen)) != NULL);
    auth_free(auth);
    tls_ctx_free(tls);
    settings_clear(&next);
    return ok;
}

static void main_on_restart_signal(evutil_socket_t sig, short what, void *arg)
{
    struct main_ctx *m = arg;
    if (m->drain_left > 0) {
        log_notice("received SIGUSR2 while stopping; ignored");
        return;
    }
    /* Execs once the clients have closed; if the exec fails, the process goes on serving. */
    restart_exec(m->restart);
}

/* keep-state-on-stop: "yes", "no", or "auto" (unset): yes when a service manager listens and
 * announces (systemd >= 254, $FDSTORE) room for the state and our own listeners. The word was
 * checked when the settings were read (settings.c), before anything was opened, so a bad one is
 * a bad option (exit 2) and never reaches here. */
static bool main_keep_state(const struct settings *s, const struct server *srv)
{
    const char *v = s->keep_state_on_stop != NULL ? s->keep_state_on_stop : "auto";
    if (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0) {
        /* Only a service manager has a store to hand the state to. */
        return strcmp(v, "yes") == 0 && getenv("NOTIFY_SOCKET") != NULL;
    }
    const char *fdstore = getenv("FDSTORE");
    long room = fdstore != NULL ? strtol(fdstore, NULL, 10) : 0;
    return getenv("NOTIFY_SOCKET") != NULL && room > server_listener_count(srv);
}

/* ------------------------------------------------------------------ main */

/* Opens the listeners: inherited from systemd when socket-activated, else the configured
 * ones; either way, a socket the previous process handed over (live restart, fd store) for a
 * configured address is adopted instead of bound. *activated: whether systemd's listeners
 * (socket activation, or its sockets a live restart handed over) are the ones served, so that
 * the checks before the next live restart skip the listen and unix settings as this start did. */
/* A successor of a live restart carries every session's state: a listener it cannot open (an
 * address added to the configuration and already in use, say) is logged and the listeners it
 * inherited serve on, rather than the whole state lost with an exit. */
static bool main_listener_opened(bool opened, const struct restart *r, const char *what)
{
    if (opened || !restart_is_successor(r))
        return opened;
    log_error("restart: the new %s could not be opened (see above); serving without it, so that "
              "the state handed over is not lost",
              what);
    return true;
}

static bool main_open_listeners(struct server *srv, const struct settings *s, struct restart *r,
                                bool *activated)
{
    int adopted = sdnotify_adopt_listeners(srv, r);
    if (adopted < 0)
        return false;
    /* Socket activation's sockets, when a live restart handed them over (LISTEN_FDS is gone). */
    adopted += server_adopt_inherited(srv, "fd");
    *activated = adopted > 0;
    if (adopted > 0) {
        if (s->listen.n > 0 || s->unix_path != NULL)
            log_notice("socket-activated: ignoring the listen and unix settings");
        /* Sockets from systemd are plaintext; TLS listeners are condd's own still. */
        bool ok = true;
        for (int i = 0; ok && i < s->listen_tls.n; i++)
            ok =
                main_listener_opened(server_listen_tls(srv, s->listen_tls.v[i]), r, "TLS listener");
        return ok;
    }
    bool ok = true;
    /* The default plaintext listener only when no TCP listener is configured at all: one
     * who asks for TLS listeners did not ask for a plaintext port beside them. */
    if (s->listen.n == 0 && s->listen_tls.n == 0)
        ok = server_listen_tcp(srv, SETTINGS_DEFAULT_LISTEN);
    for (int i = 0; ok && i < s->listen.n; i++)
        ok = main_listener_opened(server_listen_tcp(srv, s->listen.v[i]), r, "listener");
    for (int i = 0; ok && i < s->listen_tls.n; i++)
        ok = main_listener_opened(server_listen_tls(srv, s->listen_tls.v[i]), r, "TLS listener");
    if (ok && s->unix_path != NULL)
        ok = main_listener_opened(
            server_listen_unix(srv, s->unix_path, s->unix_mode, s->unix_group), r, "Unix listener");
    return ok;
}

int main(int argc, char **argv)
{
    /* No fastbins: glibc otherwise keeps freed small chunks unmerged until some request of a
     * kilobyte or more, which then consolidates every one of them at once. After a session
     * holding a million locks ends, that was a 30-40 ms stall of the event loop at the next
     * table resize (bench/stallprobe); without fastbins each free merges its own chunk. */
    mallopt(M_MXFAST, 0);
    struct main_cli cli = {0};
    int rc = main_parse_args(&cli, argc, argv);
    if (rc >= 0) {
        main_cli_free(&cli);
        return rc;
    }
    struct settings s;
    char err[1024];
    struct main_origin origin;
    if (!main_load_settings(&s, &cli, &origin, err, sizeof err)) {
        fprintf(stderr, "condd: %s\n", err);
        main_cli_free(&cli);
        return 2;
    }
    /* Before anything is opened: a value that cannot work is a bad option (exit 2), and no
     * listener, socket file or port file is left behind by a start that was never going to.
     * Not in a live restart's successor: its predecessor checked the same settings before it
     * exec'd (main_check_successor()), and an exit here would lose the state it handed over. */
    bool activated = sdnotify_socket_activated(), from_cli = false;
    if (!restart_env_successor() &&
        !main_check_settings(&s, &origin, activated, err, sizeof err, &from_cli)) {
        fprintf(stderr, "condd: %s\n", err);
        if (from_cli)
            main_try_help();
        settings_clear(&s);
        main_cli_free(&cli);
        return 2;
    }
    log_init(s.log_level);
    if (!auth_global_init()) {
        log_error("libsodium cannot be initialized");
        return 1;
    }
    struct auth_db *auth = NULL;
    if (s.auth_file != NULL && (auth = main_load_auth(&s, main_origin_line(&origin, "auth-file"),
                                                      err, sizeof err)) == NULL) {
        fprintf(stderr, "condd: %s\n", err);
        settings_clear(&s);
        main_cli_free(&cli);
        return 2;
    }
    struct tls_ctx *tls = NULL;
    if (s.listen_tls.n > 0 && (tls = main_load_tls(&s, err, sizeof err)) == NULL) {
        fprintf(stderr, "condd: %s\n", err);
        auth_free(auth);
        settings_clear(&s);
        main_cli_free(&cli);
        return 2;
    }
    if (s.config_file != NULL)
        log_info("read settings from %s", s.config_file);
    signal(SIGPIPE, SIG_IGN);
    main_raise_nofile(s.max_connections);

    struct event_base *base = event_base_new();
    if (base == NULL) {
        log_error("cannot create the event loop");
        return 1;
    }
    struct server *srv = server_new(base, &s);
    if (srv == NULL) {
        log_error("out of memory");
        return 1;
    }
    server_set_auth(srv, auth);
    server_set_tls(srv, tls);
    struct main_ctx m = {.base = base, .srv = srv, .cli = &cli, .cur = &s, .activated = activated};
    /* Before any listener: what a live restart handed over is offered to the listen calls. */
    m.restart = restart_new(base, srv, argv, m.cur);
    if (m.restart == NULL) {
        log_error("out of memory");
        return 1;
    }
    restart_set_check(m.restart, main_check_successor, &m);
    /* Handlers first: whoever sees the port file (or READY=1) may signal at once, and a SIGHUP
     * must not kill the daemon with the default action. libevent holds a signal that arrives
     * before the loop runs until it does. */
    m.drain = evtimer_new(base, main_on_drain, &m);
    struct event *sigint = evsignal_new(base, SIGINT, main_on_stop_signal, &m);
    struct event *sigterm = evsignal_new(base, SIGTERM, main_on_stop_signal, &m);
    struct event *sighup = evsignal_new(base, SIGHUP, main_on_reload_signal, &m);
    struct event *sigusr2 = evsignal_new(base, SIGUSR2, main_on_restart_signal, &m);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    event_add(sighup, NULL);
    event_add(sigusr2, NULL);
    if (restart_is_successor(m.restart)) {
        /* The predecessor blocked these across its exec; they are handled now. */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR2);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
    }
    bool ok = main_open_listeners(srv, &s, m.restart, &m.activated);
    server_close_unclaimed(srv);
    if (ok)
        m.keep_state = main_keep_state(&s, srv);
    if (ok) {
        /* The state after the listeners (the sessions it restores resume through them), before
         * the port file and READY=1: whoever waits for those finds it loaded. */
        m.notify = sdnotify_new(base, srv);
        restart_set_notify(m.restart, m.notify);
        restart_load(m.restart);
    }
    if (ok && s.metrics_addr != NULL) {
        m.metrics = metrics_start(base, srv, s.metrics_addr);
        ok = main_listener_opened(m.metrics != NULL, m.restart, "metrics listener");
    }
    /* The TLS one first: whoever waits for the port file finds both. */
    if (ok && s.tls_port_file != NULL)
        ok = main_write_port_file(s.tls_port_file, server_first_tls_port(srv));
    if (ok && s.port_file != NULL)
        ok = main_write_port_file(s.port_file, server_first_tcp_port(srv));
    if (!ok) {
        sdnotify_free(m.notify);
        restart_free(m.restart);
        metrics_stop(m.metrics);
        event_free(sigint);
        event_free(sigterm);
        event_free(sighup);
        event_free(sigusr2);
        event_free(m.drain);
        server_free(srv);
        event_base_free(base);
        settings_clear(&s);
        main_cli_free(&cli);
        return 1;
    }

    main_warn_exposed(&s, auth != NULL);
    if (s.listen_tls.n == 0 && (s.tls_cert != NULL || s.tls_key != NULL || s.tls_client_ca != NULL))
        log_warning("%s%s%s%s%s given without listen-tls: unused (no TLS listener)",
                    s.tls_cert != NULL ? "tls-cert" : "",
                    s.tls_cert != NULL && (s.tls_key != NULL || s.tls_client_ca != NULL) ? ", "
                                                                                         : "",
                    s.tls_key != NULL ? "tls-key" : "",
                    s.tls_key != NULL && s.tls_client_ca != NULL ? ", " : "",
                    s.tls_client_ca != NULL ? "tls-client-ca" : "");

    log_notice("%s ready (protocol %d)", PACKAGE_STRING, CONDD_PROTOCOL_VERSION);
    sdnotify_ready(m.notify);
    event_base_dispatch(base);

    sdnotify_free(m.notify);
    restart_free(m.restart);
    metrics_stop(m.metrics);
    event_free(sigint);
    event_free(sigterm);
    event_free(sighup);
    event_free(sigusr2);
    event_free(m.drain);
    server_free(srv);
    event_base_free(base);
    settings_clear(&s);
    main_cli_free(&cli);
    log_notice("stopped");
    return 0;
}
