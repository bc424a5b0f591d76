/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condctl, the command-line tool of condd: this file owns the command line (options may come
 * before or after the command; everything after `--` belongs to CMD), the usage text, the
 * connection to the server, the -T deadline and its guard timer, and the mapping of results to
 * exit statuses. The commands themselves are in condctl_cmd.c. Everything runs on one libevent
 * loop through the public asynchronous libcondd API, so the session stays alive (pings) while
 * condctl waits for a lock, a notification, a child process or standard input.
 */

#include "clock.h"
#include "condctl.h"

#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ usage */

static const char usage_text[] =
    "Usage: condctl [-s ADDR] [-T SECONDS] [--json] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  ping                         print the round-trip time to the server\n"
    "  lock NAME -- CMD [ARG...]    run CMD while holding lock NAME; exit with CMD's status\n"
    "  hold NAME                    acquire NAME, print its fencing token, hold it until\n"
    "                               standard input ends or SIGINT/SIGTERM\n"
    "  locked NAME                  print locked or unlocked; exit 0 if locked, 1 if not\n"
    "  wait COND [--lock L]         wait for a notification of COND (lock L, default COND)\n"
    "  wait-for COND [--lock L] -- CMD [ARG...]\n"
    "                               run CMD under L; while it fails, wait on COND and rerun\n"
    "  notify COND [--lock L] [-n N]  wake up to N (default 1) waiters; print how many woke\n"
    "  notify-all COND [--lock L]   wake every waiter; print how many woke\n"
    "  list [PREFIX]                list locks and conditions (whose names start with PREFIX)\n"
    "  stats                        print the server's counters\n"
    "\n"
    "Options (before or after the command):\n"
    "  -s, --server ADDR      host:port, [v6]:port or unix:/path (default $CONDD_SERVER,\n"
    "                         else " CONDD_DEFAULT_ADDRESS ")\n"
    "  -T, --timeout SECONDS  one deadline for all waiting (decimals allowed; 0: do not wait;\n"
    "                         default: forever); not counting the time CMD runs under lock\n"
    "      --json             JSON output (list, stats, ping, locked, notify, notify-all)\n"
    "      --lock L           the lock of the condition (wait, wait-for, notify, notify-all)\n"
    "  -n, --count N          how many waiters notify wakes (default 1)\n"
    "  -k, --kill-after SECONDS  after the lock is lost, SIGKILL CMD this long after SIGTERM\n"
    "                         (lock, wait-for; default 5)\n"
    "  -h, --help             show this help and exit\n"
    "  -V, --version          show the version and exit\n"
    "\n"
    "CMD gets CONDD_LOCK (the lock's name) and CONDD_TOKEN (the fencing token) in its\n"
    "environment. Signals INT, TERM and HUP sent to condctl are forwarded to CMD.\n"
    "\n"
    "Exit status: 0 success; 1 a \"no\" answer (locked on a free lock); 2 usage error;\n"
    "3 cannot connect or connection lost; 4 the server refused the request; 124 the -T\n"
    "deadline passed; for lock, CMD's status (126 not executable, 127 not found).\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("condctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    fputs(usage_text, stderr);
    return CTL_EXIT_USAGE;
}

/* ------------------------------------------------------------------ argument parsing */

static bool parse_seconds(const char *s, double *out)
{
    /* Plain decimals only ("1.5", "0", ".25"): strtod would also take hex and exponents. */
    if (s == NULL || *s == '\0' || strspn(s, "0123456789.") != strlen(s) ||
        strchr(s, '.') != strrchr(s, '.') || strcmp(s, ".") == 0)
        return false;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

static bool parse_count(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0)
        return false;
    *out = (uint64_t)v;
    return true;
}

static bool valid_port(const char *s)
{
    if (*s == '\0' || strlen(s) > 5)
        return false;
    for (const char *p = s; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return false;
    long v = strtol(s, NULL, 10);
    return v >= 1 && v <= 65535;
}

/* Checks the syntax of a server address, so a typo is a usage error (2) and not "cannot
 * connect" (3). Name resolution is left to the library. */
static bool valid_address(const char *a)
{
    if (strncmp(a, "unix:", 5) == 0)
        return a[5] != '\0' && strlen(a + 5) < 108;
    if (a[0] == '[') {
        const char *close = strchr(a, ']');
        if (close == NULL || close == a + 1)
            return false;
        if (close[1] == '\0')
            return true;
        return close[1] == ':' && valid_port(close + 2);
    }
    const char *colon = strchr(a, ':');
    if (colon == NULL)
        return *a != '\0' && strlen(a) < 256;
    if (colon == a || strchr(colon + 1, ':') != NULL || (size_t)(colon - a) >= 256)
        return false;
    return valid_port(colon + 1);
}

static const struct {
    const char *name;
    enum ctl_command cmd;
} commands[] = {
    {"ping", CTL_CMD_PING},     {"lock", CTL_CMD_LOCK},
    {"hold", CTL_CMD_HOLD},     {"locked", CTL_CMD_LOCKED},
    {"wait", CTL_CMD_WAIT},     {"wait-for", CTL_CMD_WAIT_FOR},
    {"notify", CTL_CMD_NOTIFY}, {"notify-all", CTL_CMD_NOTIFY_ALL},
    {"list", CTL_CMD_LIST},     {"stats", CTL_CMD_STATS},
};

enum opt_id { OPT_SERVER, OPT_TIMEOUT, OPT_JSON, OPT_LOCK, OPT_COUNT, OPT_KILL, OPT_HELP, OPT_VER };

static const struct {
    char short_name; /* 0: long only */
    const char *long_name;
    bool has_value;
    enum opt_id id;
} options[] = {
    {'s', "server", true, OPT_SERVER}, {'T', "timeout", true, OPT_TIMEOUT},
    {0, "json", false, OPT_JSON},      {0, "lock", true, OPT_LOCK},
    {'n', "count", true, OPT_COUNT},   {'k', "kill-after", true, OPT_KILL},
    {'h', "help", false, OPT_HELP},    {'V', "version", false, OPT_VER},
};

#define N_OPTIONS (sizeof options / sizeof options[0])

/*
 * Finds the option arg names. *value gets an attached value ("--x=V", "-xV") or NULL.
 * Returns the index in options[] or -1.
 */
static int find_option(const char *arg, const char **value)
{
    *value = NULL;
    if (arg[1] == '-') {
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        for (size_t i = 0; i < N_OPTIONS; i++) {
            if (strlen(options[i].long_name) == len &&
                strncmp(options[i].long_name, name, len) == 0) {
                if (eq != NULL)
                    *value = eq + 1;
                return (int)i;
            }
        }
        return -1;
    }
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (options[i].short_name != 0 && options[i].short_name == arg[1]) {
            if (arg[2] != '\0')
                *value = arg + 2;
            return (int)i;
        }
    }
    return -1;
}

enum parse_result { PARSE_RUN, PARSE_EXIT_OK, PARSE_USAGE };

static int apply_option(struct ctl *ctl, enum opt_id id, const char *opt, const char *v,
                        const char **server)
{
    switch (id) {
    case OPT_SERVER:
        *server = v;
        break;
    case OPT_TIMEOUT:
        if (!parse_seconds(v, &ctl->timeout))
            return usage_error("invalid timeout '%s' (seconds >= 0 expected)", v);
        ctl->has_timeout = true;
        break;
    case OPT_JSON:
        ctl->json = true;
        break;
    case OPT_LOCK:
        if (*v == '\0')
            return usage_error("%s needs a lock name", opt);
        ctl->lock_opt = v;
        break;
    case OPT_COUNT:
        if (!parse_count(v, &ctl->count))
            return usage_error("invalid count '%s' (a positive integer expected)", v);
        ctl->count_set = true;
        break;
    case OPT_KILL:
        if (!parse_seconds(v, &ctl->kill_after))
            return usage_error("invalid --kill-after '%s' (seconds >= 0 expected)", v);
        ctl->kill_after_set = true;
        break;
    case OPT_HELP:
        fputs(usage_text, stdout);
        return -1;
    case OPT_VER:
        printf("condctl (condd) %s, libcondd %s\n", CONDD_PACKAGE_VERSION, condd_version());
        return -1;
    }
    return 0;
}

/* Checks positional arguments and option use for the command. pos[0] is the command. */
static int check_command(struct ctl *ctl, char **pos, int npos, char **after, int nafter,
                         bool dashdash)
{
    const char *c = pos[0];
    ctl->cmd_name = c;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, c) == 0)
            ctl->cmd = commands[i].cmd;
    if (ctl->cmd == CTL_CMD_NONE)
        return usage_error("unknown command '%s'", c);

    bool takes_cmd = ctl->cmd == CTL_CMD_LOCK || ctl->cmd == CTL_CMD_WAIT_FOR;
    if (takes_cmd) {
        if (npos < 2)
            return usage_error("%s: missing name", c);
        if (npos > 2 && !dashdash)
            return usage_error("%s: '--' must come before CMD", c);
        if (npos > 2)
            return usage_error("%s: unexpected argument '%s'", c, pos[2]);
        if (!dashdash || nafter == 0)
            return usage_error("%s: missing '-- CMD'", c);
        ctl->name = pos[1];
        ctl->child_argv = after;
    } else {
        /* Here `--` only ends the options (e.g. for a name starting with '-'). */
        char *args[3];
        int nargs = 0;
        for (int i = 1; i < npos + nafter; i++) {
            char *a = i < npos ? pos[i] : after[i - npos];
            if (nargs == 2)
                return usage_error("too many arguments ('%s')", a);
            args[nargs++] = a;
        }
        int want_min = 1, want_max = 1;
        if (ctl->cmd == CTL_CMD_PING || ctl->cmd == CTL_CMD_STATS)
            want_min = want_max = 0;
        else if (ctl->cmd == CTL_CMD_LIST)
            want_min = 0;
        if (nargs < want_min)
            return usage_error("%s: missing name", c);
        if (nargs > want_max)
            return usage_error("%s: unexpected argument '%s'", c, args[want_max]);
        ctl->name = nargs > 0 ? args[0] : NULL;
    }
    if (ctl->name != NULL && ctl->cmd != CTL_CMD_LIST && ctl->name[0] == '\0')
        return usage_error("%s: empty name", c);

    bool cond_cmd = ctl->cmd == CTL_CMD_WAIT || ctl->cmd == CTL_CMD_WAIT_FOR ||
                    ctl->cmd == CTL_CMD_NOTIFY || ctl->cmd == CTL_CMD_NOTIFY_ALL;
    if (ctl->lock_opt != NULL && !cond_cmd)
        return usage_error("--lock does not apply to %s", c);
    if (ctl->count_set && ctl->cmd != CTL_CMD_NOTIFY)
        return usage_error("-n/--count does not apply to %s", c);
    if (ctl->kill_after_set && !takes_cmd)
        return usage_error("--kill-after does not apply to %s", c);
    ctl->lock = cond_cmd && ctl->lock_opt != NULL ? ctl->lock_opt : ctl->name;
    return 0;
}

/*
 * Parses argv into ctl. Options are recognised anywhere before `--`; the first positional
 * argument is the command. Returns 0 to run, -1 to exit 0 (--help, --version), or an exit
 * status (2).
 */
static int parse_args(struct ctl *ctl, int argc, char **argv)
{
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    if (pos == NULL) {
        fputs("condctl: out of memory\n", stderr);
        return CTL_EXIT_USAGE;
    }
    int npos = 0, rc = 0;
    bool dashdash = false;
    char **after = argv + argc;
    const char *server = NULL;
    for (int i = 1; i < argc && rc == 0; i++) {
        char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            dashdash = true;
            after = argv + i + 1;
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            pos[npos++] = a;
            continue;
        }
        const char *value;
        int k = find_option(a, &value);
        if (k < 0) {
            rc = usage_error("unknown option '%s'", a);
            break;
        }
        if (options[k].has_value && value == NULL) {
            if (i + 1 >= argc) {
                rc = usage_error("option '%s' needs a value", a);
                break;
            }
            value = argv[++i];
        } else if (!options[k].has_value && value != NULL) {
            rc = usage_error("option '%s' takes no value", a);
            break;
        }
        rc = apply_option(ctl, options[k].id, a, value, &server);
    }
    if (rc == 0 && npos == 0)
        rc = usage_error("%s", "missing command");
    if (rc == 0)
        rc = check_command(ctl, pos, npos, after, (int)(argv + argc - after), dashdash);
    if (rc == 0) {
        if (server == NULL || *server == '\0')
            server = getenv("CONDD_SERVER");
        if (server == NULL || *server == '\0')
            server = CONDD_DEFAULT_ADDRESS;
        if (!valid_address(server))
            rc = usage_error("invalid server address '%s' (host:port, [v6]:port or unix:/path)",
                             server);
        ctl->server = server;
    }
    free(pos);
    return rc;
}

/* ------------------------------------------------------------------ run-time helpers */

double ctl_remaining(const struct ctl *ctl)
{
    if (!ctl->has_timeout)
        return CONDD_FOREVER;
    double left = ctl->deadline - clk_mono();
    return left > 0 ? left : 0;
}

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ctl *ctl = arg;
    /* The server should have answered TIMEOUT by now. Closing the connection (after the loop)
     * makes it drop whatever this session still has pending. */
    fprintf(stderr, "condctl: %s: timed out\n", ctl->cmd_name);
    ctl_finish(ctl, CTL_EXIT_TIMEOUT);
}

void ctl_guard_arm(struct ctl *ctl)
{
    if (!ctl->has_timeout || ctl->guard == NULL)
        return;
    double left = ctl->deadline - clk_mono();
    if (left < 0)
        left = 0;
    left += CTL_GUARD_SLACK_S;
    struct timeval tv = clk_timeval(left);
    evtimer_add(ctl->guard, &tv);
}

void ctl_guard_disarm(struct ctl *ctl)
{
    if (ctl->guard != NULL)
        evtimer_del(ctl->guard);
}

void ctl_finish(struct ctl *ctl, int code)
{
    if (ctl->done)
        return;
    ctl->done = true;
    ctl->exit_code = code;
    event_base_loopbreak(ctl->base);
}

/* "CONDD_ERR_NOT_OWNER" -> "NOT_OWNER": the server's status name. */
static const char *status_name(int result)
{
    const char *n = condd_result_name(result);
    return strncmp(n, "CONDD_ERR_", 10) == 0 ? n + 10 : n;
}

static int exit_code_for(int result)
{
    if (result == CONDD_OK)
        return CTL_EXIT_OK;
    if (result == CONDD_ERR_TIMEOUT)
        return CTL_EXIT_TIMEOUT;
    if (condd_result_is_connection_error(result) || result == CONDD_ERR_ADDRESS ||
        result == CONDD_ERR_NOMEM)
        return CTL_EXIT_CONNECT;
    if (result == CONDD_ERR_INVALID)
        return CTL_EXIT_USAGE;
    return CTL_EXIT_REFUSED;
}

int ctl_fail(struct ctl *ctl, const char *what, int result, const char *msg)
{
    int code = exit_code_for(result);
    if (ctl->done)
        return ctl->exit_code;
    bool has_msg = msg != NULL && *msg != '\0';
    if (code == CTL_EXIT_TIMEOUT)
        fprintf(stderr, "condctl: %s: timed out\n", what);
    else if (code == CTL_EXIT_REFUSED)
        fprintf(stderr, "condctl: %s: refused by the server: %s%s%s\n", what, status_name(result),
                has_msg ? ": " : "", has_msg ? msg : "");
    else if (result == CONDD_ERR_CONNECT || result == CONDD_ERR_ADDRESS)
        fprintf(stderr, "condctl: cannot connect to %s: %s%s%s\n", ctl->server,
                condd_strerror(result), has_msg ? ": " : "", has_msg ? msg : "");
    else
        fprintf(stderr, "condctl: %s: %s%s%s\n", what, condd_strerror(result), has_msg ? ": " : "",
                has_msg ? msg : "");
    if (ctl->holding && code != CTL_EXIT_CONNECT)
        ctl_release_and_finish(ctl, code);
    else
        ctl_finish(ctl, code);
    return code;
}

static void release_cb(condd_async_conn *c, int result, void *arg)
{
    struct ctl *ctl = arg;
    if (result != CONDD_OK && result != CONDD_ERR_CLOSED)
        ctl_fail(ctl, "release", result, condd_async_conn_message(c));
    else
        ctl_finish(ctl, ctl->release_code);
}

void ctl_release_and_finish(struct ctl *ctl, int code)
{
    if (!ctl->holding) {
        ctl_finish(ctl, code);
        return;
    }
    /* Wait for the server's answer, so that the lock is free when condctl exits. */
    ctl->holding = false;
    ctl->release_code = code;
    int rc = condd_async_lock_release(ctl->client, ctl->lock, 0, release_cb, ctl);
    if (rc != CONDD_OK)
        ctl_fail(ctl, "release", rc, NULL);
}

/* ------------------------------------------------------------------ connection */

static void connect_cb(condd_async_conn *c, int result, void *arg)
{
    struct ctl *ctl = arg;
    if (result != CONDD_OK) {
        ctl_fail(ctl, "connect", result == CONDD_ERR_DISCONNECTED ? CONDD_ERR_CONNECT : result,
                 condd_async_conn_message(c));
        return;
    }
    ctl_cmd_start(ctl);
}

static void disconnect_cb(condd_async_conn *c, int reason, void *arg)
{
    struct ctl *ctl = arg;
    ctl_cmd_disconnected(ctl, reason, condd_async_conn_message(c));
}

static condd_options *make_options(void)
{
    condd_options *opts = condd_options_new();
    if (opts == NULL)
        return NULL;
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
        strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    char name[320];
    snprintf(name, sizeof name, "condctl/%ld@%s", (long)getpid(), host);
    if (condd_options_set_client_name(opts, name) != CONDD_OK) {
        condd_options_free(opts);
        return NULL;
    }
    return opts;
}

static int run(struct ctl *ctl)
{
    ctl->base = event_base_new();
    condd_options *opts = make_options();
    if (ctl->base == NULL || opts == NULL) {
        fputs("condctl: out of memory\n", stderr);
        condd_options_free(opts);
        return CTL_EXIT_CONNECT;
    }
    ctl->guard = evtimer_new(ctl->base, guard_cb, ctl);
    if (ctl->has_timeout)
        ctl->deadline = clk_mono() + ctl->timeout;

    int rc = condd_async_conn_open(ctl->base, ctl->server, opts, connect_cb, ctl, &ctl->client);
    condd_options_free(opts);
    if (rc != CONDD_OK) {
        ctl_fail(ctl, "connect", rc, NULL);
    } else {
        condd_async_conn_set_disconnect_cb(ctl->client, disconnect_cb, ctl);
        if (ctl->guard == NULL)
            ctl_fail(ctl, "setup", CONDD_ERR_NOMEM, NULL);
        else if ((ctl->cmd == CTL_CMD_LOCK || ctl->cmd == CTL_CMD_WAIT_FOR) &&
                 ctl_child_setup(ctl) != 0)
            ctl_finish(ctl, CTL_EXIT_CONNECT);
        if (!ctl->done)
            event_base_dispatch(ctl->base);
    }
    if (!ctl->done) {
        /* The loop ran out of events without a decision: cannot happen while the client is
         * connected (it keeps a ping timer), so treat it as a lost connection. */
        fprintf(stderr, "condctl: %s: connection lost\n", ctl->cmd_name);
        ctl->exit_code = CTL_EXIT_CONNECT;
    }
    if (ctl->client != NULL)
        condd_async_conn_set_disconnect_cb(ctl->client, NULL, NULL);
    condd_async_conn_close(ctl->client);
    ctl->client = NULL;
    ctl_child_cleanup(ctl);
    if (ctl->stdin_ev != NULL)
        event_free(ctl->stdin_ev);
    for (int i = 0; i < 2; i++)
        if (ctl->hold_sig[i] != NULL)
            event_free(ctl->hold_sig[i]);
    if (ctl->guard != NULL)
        event_free(ctl->guard);
    event_base_free(ctl->base);
    return ctl->exit_code;
}

int main(int argc, char **argv)
{
    struct ctl ctl = {.count = 1, .kill_after = 5.0};

    ctl_child_init(&ctl);
    int rc = parse_args(&ctl, argc, argv);
    if (rc != 0) {
        free(ctl.startup_fds);
        return rc < 0 ? CTL_EXIT_OK : rc;
    }
    rc = run(&ctl);
    free(ctl.startup_fds);
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK) {
        fprintf(stderr, "condctl: write error on standard output: %s\n", strerror(errno));
        rc = CTL_EXIT_CONNECT;
    }
    return rc;
}
