/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condctl, the command-line tool of condd: this file owns the command line (options may come
 * before or after the command; everything after `--` belongs to CMD), the usage text, the
 * connection to the server, the -T deadline and its guard timer, and the mapping of results to
 * exit statuses. The commands themselves are in condctl_cmd.c. Everything runs on one libevent
 * loop through the public asynchronous libcondd API, so the session stays alive (pings) while
 * condctl waits for a lock, a notification, a child process or standard input.
 */

#include "address.h"
#include "clock.h"
#include "condctl.h"
#include "name.h"

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
    "Usage: condctl [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  ping                         print the round-trip time to the server\n"
    "  lock NAME [-S] [-E N] -- CMD [ARG...]\n"
    "                               run CMD while holding lock NAME (-S: shared); exit with\n"
    "                               CMD's status\n"
    "  sem NAME -n N [--bounded] [-E N] -- CMD [ARG...]\n"
    "                               run CMD while holding one permit of the N-permit semaphore\n"
    "                               NAME; exit with CMD's status\n"
    "  hold NAME [-S] [--until-signal]\n"
    "                               acquire NAME (-S: shared), print its fencing token (--json:\n"
    "                               an object),\n"
    "                               hold it until SIGINT, SIGTERM or SIGHUP, or until standard\n"
    "                               input ends when it is a pipe, socket or terminal (a file,\n"
    "                               /dev/null or a closed stdin: until a signal)\n"
    "  locked NAME                  print locked or unlocked; exit 0 if locked, 1 if not\n"
    "  wait COND [--lock L]         wait for a notification of COND (lock L, default COND)\n"
    "  wait-for COND [--lock L] -- CMD [ARG...]\n"
    "                               run CMD under L; while it fails, wait on COND and rerun\n"
    "  notify COND [--lock L] [-n N]  wake up to N (default 1) waiters; print how many woke\n"
    "  notify-all COND [--lock L]   wake every waiter; print how many woke\n"
    "  event set|clear|is-set|wait NAME\n"
    "                               an event (asyncio.Event): set wakes every waiter and prints\n"
    "                               how many woke; is-set prints set or clear and exits 0 if\n"
    "                               set, 1 if clear; wait waits until it is set (-T bounds it)\n"
    "  barrier NAME -p N            wait at the N-party barrier NAME (asyncio.Barrier) and print\n"
    "                               this party's arrival index (0..N-1); exit 5 when broken\n"
    "  barrier NAME --reset|--abort [-p N]\n"
    "                               reset (reusable) or abort (broken until reset) the barrier;\n"
    "                               its waiters fail as broken; print how many there were\n"
    "  barrier NAME --state         print the barrier's parties, waiters and whether broken\n"
    "  break NAME [--sem]           (admin) end every session holding lock NAME (--sem: permits\n"
    "                               of semaphore NAME), as if it had ended; print how many;\n"
    "                               exit 1 when nobody held it\n"
    "  kill-session ID              (admin) end session ID (as list shows it) at once\n"
    "  list [PREFIX]                list locks, conditions, semaphores, events and barriers\n"
    "                               (names starting with PREFIX)\n"
    "  stats                        print the server's counters\n"
    "\n"
    "Global options (before or after the command):\n"
    "  -s, --server ADDR      host:port, [v6]:port, unix:/path or /path (a Unix socket),\n"
    "                         tls:host:port or tls:[v6]:port (TLS, see --ca), or a list\n"
    "                         ADDR,ADDR,... of servers the names are spread over;\n"
    "                         default $CONDD_SERVER, else " CONDD_DEFAULT_ADDRESS "\n"
    "  -T, --timeout SECONDS  one deadline for connecting and all waiting (decimals allowed;\n"
    "                         0: try the lock once; default: forever); not counting the time\n"
    "                         CMD runs under lock\n"
    "      --connect-timeout SECONDS\n"
    "                         limit for connecting and the handshake (default\n"
    "                         $CONDD_CONNECT_TIMEOUT, else 10); with -T the earlier one ends it\n"
    "      --name NAME        client name the server shows in list (default condctl/PID@HOST)\n"
    "      --session-timeout SECONDS\n"
    "                         session timeout to ask the server for (0: the server's default)\n"
    "      --token-file FILE  send the token on FILE's first line to a server that asks for\n"
    "                         authentication (default $CONDD_TOKEN_FILE; none if unset)\n"
    "      --ca FILE          CA certificates (PEM) that verify a tls: server (default\n"
    "                         $CONDD_CA_FILE, else the system's store)\n"
    "      --cert FILE        client certificate (PEM) for a tls: server that asks for one\n"
    "                         (default $CONDD_CERT_FILE)\n"
    "      --key FILE         its private key (default $CONDD_KEY_FILE, else in --cert's file)\n"
    "      --grace SECONDS    survive a lost connection for this long: reconnect and resume\n"
    "                         the session, keeping locks and waits (0: none; default 10 for\n"
    "                         lock, sem, hold, wait, wait-for, event and barrier, else 0;\n"
    "                         the server may grant less)\n"
    "      --json             JSON output (list, stats, ping, locked, notify, notify-all, hold,\n"
    "                         event, barrier)\n"
    "  -h, --help             show this help and exit\n"
    "  -V, --version          show the version and exit\n"
    "\n"
    "Command options:\n"
    "      --lock L           the lock of the condition (wait, wait-for, notify, notify-all)\n"
    "  -n, --count N          how many waiters notify wakes (default 1); sem: the semaphore's\n"
    "                         value, its number of permits (1-2147483648, required)\n"
    "      --bounded          (sem) a BoundedSemaphore\n"
    "  -p, --parties N        (barrier) the number of parties (1-2147483648); required to\n"
    "                         wait, checked (or, for --abort, used to create it) otherwise\n"
    "      --reset, --abort, --state\n"
    "                         (barrier) reset, abort or show the barrier instead of waiting\n"
    "  -k, --kill-after SECONDS  after the lock is lost, SIGKILL CMD this long after SIGTERM\n"
    "                         (lock, sem, wait-for; default 5)\n"
    "  -E, --conflict-exit-code N\n"
    "                         (lock, sem) exit N (0-255) instead of 124 when the lock could not "
    "be\n"
    "                         taken: -T passed while connecting or waiting, or -T 0 found it held\n"
    "      --until-signal     (hold) hold until SIGINT, SIGTERM or SIGHUP; ignore standard input\n"
    "  -S, --shared           (lock, hold) take the lock in shared mode: any number of shared\n"
    "                         holders together, none exclusive; granted in arrival order\n"
    "\n"
    "Names are 1 to 512 bytes of UTF-8 without control characters.\n"
    "CMD gets CONDD_LOCK (the lock's name) and CONDD_TOKEN (the fencing token) in its\n"
    "environment. Signals INT, TERM and HUP sent to condctl are forwarded to CMD.\n"
    "\n"
    "Exit status: 0 success; 1 a \"no\" answer (locked on a free lock, event is-set on a clear\n"
    "event); 2 usage error;\n"
    "3 cannot connect or connection lost; 4 the server refused the request; 5 the barrier\n"
    "is broken (barrier); 124 the -T\n"
    "deadline passed (lock, sem: -E's N); for lock and sem, CMD's status (126 not executable, 127 "
    "not found).\n";

/* A usage error: one line naming the problem (the full help is one `--help` away). */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("condctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (try 'condctl --help')\n", stderr);
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

/* Digits only, in [min, max]. */
static bool parse_uint(const char *s, unsigned long long min, unsigned long long max,
                       unsigned long long *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Checks the syntax of a server address with the library's own grammar (common/address.h), so
 * that whatever the library would refuse as malformed ("tls:/path", "host:99999") is a usage
 * error (2) and not "cannot connect" (3). Name resolution is left to the library. */
static bool valid_address(const char *a)
{
    struct addr_parts parts;
    return addr_split(a, 0, CONDD_DEFAULT_PORT, &parts);
}

/* What a malformed address most likely meant, for its usage error. */
static const char *address_expected(const char *a)
{
    if (strncmp(a, "tls:", 4) == 0 && (a[4] == '/' || strncmp(a + 4, "unix:", 5) == 0))
        return "TLS is over TCP only: tls:host:port or tls:[v6]:port";
    return "host:port, [v6]:port, unix:/path, /path or tls:host:port expected";
}

static const struct {
    const char *name;
    enum ctl_command cmd;
} commands[] = {
    {"ping", CTL_CMD_PING},
    {"lock", CTL_CMD_LOCK},
    {"hold", CTL_CMD_HOLD},
    {"locked", CTL_CMD_LOCKED},
    {"wait", CTL_CMD_WAIT},
    {"wait-for", CTL_CMD_WAIT_FOR},
    {"notify", CTL_CMD_NOTIFY},
    {"notify-all", CTL_CMD_NOTIFY_ALL},
    {"list", CTL_CMD_LIST},
    {"stats", CTL_CMD_STATS},
    {"event", CTL_CMD_EVENT},
    {"sem", CTL_CMD_SEM},
    {"barrier", CTL_CMD_BARRIER},
    {"break", CTL_CMD_BREAK},
    {"kill-session", CTL_CMD_KILL_SESSION},
};

/* Sets of commands, for the options table: which commands an option applies to. */
#define CMD_BIT(c) (1u << (c))
#define ALL_COMMANDS (~0u)
#define COND_COMMANDS                                                                              \
    (CMD_BIT(CTL_CMD_WAIT) | CMD_BIT(CTL_CMD_WAIT_FOR) | CMD_BIT(CTL_CMD_NOTIFY) |                 \
     CMD_BIT(CTL_CMD_NOTIFY_ALL))
/* Commands that run a CMD under a lock. */
#define CMD_COMMANDS (CMD_BIT(CTL_CMD_LOCK) | CMD_BIT(CTL_CMD_SEM) | CMD_BIT(CTL_CMD_WAIT_FOR))
/* Commands that take a lock for a CMD and can tell "could not take it" apart from CMD's own
 * status with -E (flock's --conflict-exit-code). A new such command (sem) joins this set. */
#define CONFLICT_COMMANDS (CMD_BIT(CTL_CMD_LOCK) | CMD_BIT(CTL_CMD_SEM))

enum opt_id {
    OPT_SERVER,
    OPT_TIMEOUT,
    OPT_CONNECT_TIMEOUT,
    OPT_NAME,
    OPT_SESSION_TIMEOUT,
    OPT_TOKEN_FILE,
    OPT_CA,
    OPT_CERT,
    OPT_KEY,
    OPT_GRACE,
    OPT_JSON,
    OPT_LOCK,
    OPT_COUNT,
    OPT_KILL,
    OPT_CONFLICT,
    OPT_UNTIL_SIGNAL,
    OPT_BOUNDED,
    OPT_SEM,
    OPT_PARTIES,
    OPT_RESET,
    OPT_ABORT,
    OPT_STATE,
    OPT_HELP,
    OPT_VER,
    OPT_SHARED,
};

/* Every option: its names, whether it takes a value, and the commands it applies to (checked
 * once the command is known, so options may come before or after it). */
static const struct {
    char short_name; /* 0: long only */
    const char *long_name;
    bool has_value;
    enum opt_id id;
    unsigned commands; /* CMD_BIT set */
} options[] = {
    {'s', "server", true, OPT_SERVER, ALL_COMMANDS},
    {'T', "timeout", true, OPT_TIMEOUT, ALL_COMMANDS},
    {0, "connect-timeout", true, OPT_CONNECT_TIMEOUT, ALL_COMMANDS},
    {0, "name", true, OPT_NAME, ALL_COMMANDS},
    {0, "session-timeout", true, OPT_SESSION_TIMEOUT, ALL_COMMANDS},
    {0, "token-file", true, OPT_TOKEN_FILE, ALL_COMMANDS},
    {0, "ca", true, OPT_CA, ALL_COMMANDS},
    {0, "cert", true, OPT_CERT, ALL_COMMANDS},
    {0, "key", true, OPT_KEY, ALL_COMMANDS},
    {0, "grace", true, OPT_GRACE, ALL_COMMANDS},
    {0, "json", false, OPT_JSON, ALL_COMMANDS},
    {0, "lock", true, OPT_LOCK, COND_COMMANDS},
    {'n', "count", true, OPT_COUNT, CMD_BIT(CTL_CMD_NOTIFY) | CMD_BIT(CTL_CMD_SEM)},
    {'k', "kill-after", true, OPT_KILL, CMD_COMMANDS},
    {'E', "conflict-exit-code", true, OPT_CONFLICT, CONFLICT_COMMANDS},
    {0, "until-signal", false, OPT_UNTIL_SIGNAL, CMD_BIT(CTL_CMD_HOLD)},
    {0, "bounded", false, OPT_BOUNDED, CMD_BIT(CTL_CMD_SEM)},
    {0, "sem", false, OPT_SEM, CMD_BIT(CTL_CMD_BREAK)},
    {'p', "parties", true, OPT_PARTIES, CMD_BIT(CTL_CMD_BARRIER)},
    {0, "reset", false, OPT_RESET, CMD_BIT(CTL_CMD_BARRIER)},
    {0, "abort", false, OPT_ABORT, CMD_BIT(CTL_CMD_BARRIER)},
    {0, "state", false, OPT_STATE, CMD_BIT(CTL_CMD_BARRIER)},
    {'h', "help", false, OPT_HELP, ALL_COMMANDS},
    {'V', "version", false, OPT_VER, ALL_COMMANDS},
    {'S', "shared", false, OPT_SHARED, CMD_BIT(CTL_CMD_LOCK) | CMD_BIT(CTL_CMD_HOLD)},
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

/* Applies one option. 0, -1 to exit 0 (--help, --version), or an exit status (2). */
static int apply_option(struct ctl *ctl, enum opt_id id, const char *opt, const char *v,
                        const char **server, bool *connect_timeout_set)
{
    unsigned long long n;
    switch (id) {
    case OPT_SERVER:
        *server = v;
        break;
    case OPT_TIMEOUT:
        if (!parse_seconds(v, &ctl->timeout))
            return usage_error("invalid timeout '%s' (seconds >= 0 expected)", v);
        ctl->has_timeout = true;
        break;
    case OPT_CONNECT_TIMEOUT:
        if (!parse_seconds(v, &ctl->connect_timeout) || ctl->connect_timeout <= 0)
            return usage_error("invalid --connect-timeout '%s' (seconds > 0 expected)", v);
        *connect_timeout_set = true;
        break;
    case OPT_NAME:
        if (*v == '\0')
            return usage_error("%s needs a client name", opt);
        ctl->client_name = v;
        break;
    case OPT_TOKEN_FILE:
        if (*v == '\0')
            return usage_error("%s needs a file name", opt);
        ctl->token_file = v;
        break;
    case OPT_CA:
    case OPT_CERT:
    case OPT_KEY:
        if (*v == '\0')
            return usage_error("%s needs a file name", opt);
        *(id == OPT_CA ? &ctl->tls_ca : id == OPT_CERT ? &ctl->tls_cert : &ctl->tls_key) = v;
        break;
    case OPT_SESSION_TIMEOUT:
        if (!parse_seconds(v, &ctl->session_timeout))
            return usage_error("invalid --session-timeout '%s' (seconds >= 0 expected)", v);
        ctl->session_timeout_set = true;
        break;
    case OPT_GRACE:
        if (!parse_seconds(v, &ctl->grace))
            return usage_error("invalid --grace '%s' (seconds >= 0 expected)", v);
        ctl->grace_set = true;
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
        if (!parse_uint(v, 1, UINT64_MAX, &n))
            return usage_error("invalid count '%s' (a positive integer expected)", v);
        ctl->count = (uint64_t)n;
        ctl->count_set = true;
        break;
    case OPT_KILL:
        if (!parse_seconds(v, &ctl->kill_after))
            return usage_error("invalid --kill-after '%s' (seconds >= 0 expected)", v);
        ctl->kill_after_set = true;
        break;
    case OPT_CONFLICT:
        if (!parse_uint(v, 0, 255, &n))
            return usage_error("invalid %s '%s' (an exit status 0-255 expected)", opt, v);
        ctl->conflict_exit = (int)n;
        ctl->conflict_set = true;
        break;
    case OPT_UNTIL_SIGNAL:
        ctl->until_signal = true;
        break;
    case OPT_BOUNDED:
        ctl->bounded = true;
        break;
    case OPT_SEM:
        ctl->break_sem = true;
        break;
    case OPT_SHARED:
        ctl->shared = true;
        break;
    case OPT_PARTIES:
        if (!parse_uint(v, 1, 2147483648u, &n))
            return usage_error("invalid parties '%s' (1-2147483648 expected)", v);
        ctl->parties = (uint64_t)n;
        break;
    case OPT_RESET:
    case OPT_ABORT:
    case OPT_STATE: {
        enum ctl_barrier_op op = id == OPT_RESET   ? CTL_BARRIER_RESET
                                 : id == OPT_ABORT ? CTL_BARRIER_ABORT
                                                   : CTL_BARRIER_STATE;
        if (ctl->barrier_op_set && ctl->barrier_op != op)
            return usage_error("only one of --reset, --abort and --state");
        ctl->barrier_op = op;
        ctl->barrier_op_set = true;
        break;
    }
    case OPT_HELP:
        fputs(usage_text, stdout);
        return -1;
    case OPT_VER:
        printf("condctl (condd) %s, libcondd %s\n", CONDD_PACKAGE_VERSION, condd_version());
        return -1;
    }
    return 0;
}

/* Checks a lock or condition name against the server's rule (common/name.h), so a bad name is
 * a usage error that says what is wrong, before anything is sent. what: "lock name", ... The
 * name itself is not echoed: it may hold control characters. */
static int check_name(const char *cmd, const char *what, const char *name)
{
    size_t at = 0;
    uint32_t cp = 0;
    size_t len = strlen(name);
    enum name_problem p = name_check((const uint8_t *)name, len, &at, &cp);
    switch (p) {
    case NAME_VALID:
        return 0;
    case NAME_EMPTY:
        return usage_error("%s: empty %s", cmd, what);
    case NAME_TOO_LONG:
        return usage_error("%s: %s is too long: %zu bytes (at most %d)", cmd, what, len,
                           NAME_MAX_BYTES);
    case NAME_BAD_UTF8:
        return usage_error("%s: %s is not valid UTF-8 (bad byte 0x%02x at offset %zu)", cmd, what,
                           (unsigned char)name[at], at);
    case NAME_CONTROL:
        return usage_error("%s: %s contains a control character (U+%04X at offset %zu)", cmd, what,
                           (unsigned)cp, at);
    }
    return usage_error("%s: invalid %s", cmd, what);
}

/* Checks positional arguments and option use for the command. pos[0] is the command; given[k]
 * says whether options[k] was used. */
static int check_command(struct ctl *ctl, char **pos, int npos, char **after, int nafter,
                         bool dashdash, const bool *given)
{
    const char *c = pos[0];
    ctl->cmd_name = c;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, c) == 0)
            ctl->cmd = commands[i].cmd;
    if (ctl->cmd == CTL_CMD_NONE)
        return usage_error("unknown command '%s'", c);

    bool takes_cmd = (CMD_COMMANDS & CMD_BIT(ctl->cmd)) != 0;
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
        if (ctl->cmd == CTL_CMD_EVENT) {
            if (nargs == 0)
                return usage_error("%s: missing subcommand (set, clear, is-set or wait)", c);
            if (!ctl_event_parse(args[0], &ctl->event_op))
                return usage_error("%s: unknown subcommand '%s' (set, clear, is-set or wait)", c,
                                   args[0]);
            want_min = want_max = 2;
        }
        if (nargs < want_min)
            return usage_error("%s: missing %s", c,
                               ctl->cmd == CTL_CMD_KILL_SESSION ? "session ID" : "name");
        if (nargs > want_max)
            return usage_error("%s: unexpected argument '%s'", c, args[want_max]);
        ctl->name = nargs > 0 ? args[nargs - 1] : NULL;
    }

    for (size_t k = 0; k < N_OPTIONS; k++) {
        if (!given[k] || (options[k].commands & CMD_BIT(ctl->cmd)) != 0)
            continue;
        if (options[k].short_name != 0)
            return usage_error("-%c/--%s does not apply to %s", options[k].short_name,
                               options[k].long_name, c);
        return usage_error("--%s does not apply to %s", options[k].long_name, c);
    }

    if (ctl->cmd == CTL_CMD_SEM && !ctl->count_set)
        return usage_error("%s: missing -n N (the number of permits)", c);
    if (ctl->cmd == CTL_CMD_SEM && ctl->count > 2147483648u)
        return usage_error("%s: invalid -n %llu (1-2147483648 expected)", c,
                           (unsigned long long)ctl->count);
    if (ctl->cmd == CTL_CMD_BARRIER && ctl->barrier_op == CTL_BARRIER_WAIT && ctl->parties == 0)
        return usage_error("%s: missing -p N (the number of parties)", c);
    if (ctl->cmd == CTL_CMD_BARRIER && ctl->barrier_op == CTL_BARRIER_STATE && ctl->parties != 0)
        return usage_error("%s: -p does not apply to --state", c);
    if (ctl->cmd == CTL_CMD_KILL_SESSION) {
        char *end;
        errno = 0;
        unsigned long long id = strtoull(ctl->name, &end, 10);
        if (ctl->name[0] < '0' || ctl->name[0] > '9' || *end != '\0' || errno != 0 || id == 0)
            return usage_error("%s: invalid session id '%s' (a positive number, as list shows)", c,
                               ctl->name);
        ctl->kill_id = id;
        return 0;
    }
    bool cond_cmd = (COND_COMMANDS & CMD_BIT(ctl->cmd)) != 0;
    if (ctl->name != NULL && ctl->cmd != CTL_CMD_LIST) {
        int rc =
            check_name(c,
                       ctl->cmd == CTL_CMD_EVENT     ? "event name"
                       : ctl->cmd == CTL_CMD_BARRIER ? "barrier name"
                       : cond_cmd                    ? "condition name"
                       : ctl->cmd == CTL_CMD_SEM || (ctl->cmd == CTL_CMD_BREAK && ctl->break_sem)
                           ? "semaphore name"
                           : "lock name",
                       ctl->name);
        if (rc != 0)
            return rc;
    }
    if (ctl->lock_opt != NULL) {
        int rc = check_name(c, "--lock name", ctl->lock_opt);
        if (rc != 0)
            return rc;
    }
    ctl->lock = cond_cmd && ctl->lock_opt != NULL ? ctl->lock_opt : ctl->name;
    return 0;
}

/* The server address: -s, else $CONDD_SERVER, else the default; an absolute path is a Unix
 * socket. 0 or 2. */
static int choose_server(struct ctl *ctl, const char *server)
{
    /* An empty -s is a mistake (often -s "$VAR" with VAR unset), as an empty entry of a list
     * is: never a silent fall-back. An empty $CONDD_SERVER is unset, as the other variables. */
    if (server != NULL && *server == '\0')
        return usage_error("empty server address (-s/--server)");
    if (server == NULL)
        server = getenv("CONDD_SERVER");
    if (server == NULL || *server == '\0')
        server = CONDD_DEFAULT_ADDRESS;
    if (server[0] == '/') {
        int n = snprintf(ctl->server_buf, sizeof ctl->server_buf, "unix:%s", server);
        if (n < 0 || (size_t)n >= sizeof ctl->server_buf || !valid_address(ctl->server_buf))
            return usage_error("invalid server address '%s' (socket path too long)", server);
        server = ctl->server_buf;
    }
    if (ctl_is_list(server)) {
        /* A server list (protocol.md §21): every entry as above but for /path, and the list
         * whole (no empty entry, no server twice). */
        char why[512];
        int n = ctl_check_list(server, why, sizeof why);
        if (n < 0)
            return usage_error("invalid server list '%s': %s", server, why);
        for (const char *p = server; p != NULL;) {
            const char *end = strchr(p, ',');
            size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
            char entry[300];
            while (len > 0 && *p == ' ')
                p++, len--;
            while (len > 0 && p[len - 1] == ' ')
                len--;
            snprintf(entry, sizeof entry, "%.*s", (int)len, p);
            if (!valid_address(entry))
                return usage_error("invalid server address '%s' in the list (%s)", entry,
                                   strncmp(entry, "tls:", 4) == 0
                                       ? address_expected(entry)
                                       : "host:port, [v6]:port, unix:/path or tls:host:port "
                                         "expected");
            p = end != NULL ? end + 1 : NULL;
        }
        if (ctl->cmd == CTL_CMD_KILL_SESSION)
            return usage_error("kill-session: session ids are per server and the list has %d; "
                               "give the one server with -s HOST:PORT",
                               n);
        ctl->server = server;
        return 0;
    }
    if (!valid_address(server))
        return usage_error("invalid server address '%s' (%s)", server, address_expected(server));
    ctl->server = server;
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
    bool dashdash = false, connect_timeout_set = false;
    bool given[N_OPTIONS] = {false};
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
        given[k] = true;
        rc = apply_option(ctl, options[k].id, a, value, &server, &connect_timeout_set);
    }
    if (rc == 0 && npos == 0)
        rc = usage_error("%s", "missing command");
    if (rc == 0)
        rc = check_command(ctl, pos, npos, after, (int)(argv + argc - after), dashdash, given);
    if (rc == 0)
        rc = choose_server(ctl, server);
    if (rc == 0 && ctl->token_file == NULL) {
        const char *env = getenv("CONDD_TOKEN_FILE");
        if (env != NULL && *env != '\0')
            ctl->token_file = env;
    }
    /* TLS files: the option, else the environment (empty: unset). */
    static const char *const tls_env[] = {"CONDD_CA_FILE", "CONDD_CERT_FILE", "CONDD_KEY_FILE"};
    const char **tls_field[] = {&ctl->tls_ca, &ctl->tls_cert, &ctl->tls_key};
    for (int i = 0; rc == 0 && i < 3; i++) {
        const char *env = getenv(tls_env[i]);
        if (*tls_field[i] == NULL && env != NULL && *env != '\0')
            *tls_field[i] = env;
    }
    if (rc == 0 && !connect_timeout_set) {
        /* The option wins; the environment is only read (and checked) without it. */
        const char *env = getenv("CONDD_CONNECT_TIMEOUT");
        if (env != NULL && *env != '\0' &&
            (!parse_seconds(env, &ctl->connect_timeout) || ctl->connect_timeout <= 0))
            rc = usage_error("invalid CONDD_CONNECT_TIMEOUT '%s' (seconds > 0 expected)", env);
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
    ctl_finish(ctl, ctl_timeout_exit(ctl));
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

int ctl_timeout_exit(const struct ctl *ctl)
{
    return ctl->conflict_set ? ctl->conflict_exit : CTL_EXIT_TIMEOUT;
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

/* "cannot connect to ADDR: REASON (HINT)": the OS reason (or the step that timed out) from the
 * library, the address tried, and what to check. */
/* The server an error came from: the address, or on a list the server of the last answer. */
static const char *error_server(const struct ctl *ctl)
{
    if (ctl->client != NULL && condd_async_conn_server_count(ctl->client) > 1)
        return condd_async_conn_server_addr(ctl->client,
                                            condd_async_conn_server_index(ctl->client));
    return ctl->server;
}

/* What to check after a failed connect, only where the reason alone does not say it: nothing
 * listens there, or the transport is the wrong one. NULL for the rest (a certificate, an
 * authentication refusal): "is condd running?" after "certificate has expired" misleads. */
static const char *connect_hint(const char *server, int result, const char *reason)
{
    static const int not_there[] = {ECONNREFUSED, ENOENT, ENETUNREACH, EHOSTUNREACH};
    if (result == CONDD_ERR_ADDRESS)
        return "check the host name; see CONDD_SERVER or -s";
    if (strncmp(reason, "timed out", 9) == 0)
        return "is condd running there? see --connect-timeout, CONDD_SERVER or -s";
    for (size_t i = 0; i < sizeof not_there / sizeof not_there[0]; i++)
        if (strcmp(reason, strerror(not_there[i])) == 0)
            return "is condd running? see CONDD_SERVER or -s";
    if (strstr(reason, " tls:") != NULL) /* libcondd's own hint: "use tls:...", "drop tls:..." */
        return NULL;
    bool tls = strncmp(server, "tls:", 4) == 0;
    /* A TLS server closes a plaintext client without a word: its first bytes are no
     * ClientHello (condd(8), TLS). A plaintext server answers no ServerHello. */
    if (!tls && strncmp(server, "unix:", 5) != 0 &&
        strcmp(reason, "the server closed the connection") == 0)
        return "a TLS port? use tls:HOST:PORT";
    if (tls && strstr(reason, "wrong version number") != NULL)
        return "a plaintext port? use HOST:PORT without tls:";
    return NULL;
}

static void print_connect_error(const struct ctl *ctl, int result, const char *msg)
{
    const char *reason = msg != NULL && *msg != '\0' ? msg : condd_strerror(result);
    const char *server = error_server(ctl);
    const char *hint = connect_hint(server, result, reason);
    fprintf(stderr, "condctl: cannot connect to %s: %s%s%s%s\n", server, reason,
            hint != NULL ? " (" : "", hint != NULL ? hint : "", hint != NULL ? ")" : "");
}

/* True when msg already begins with what condd_strerror(result) says before any " (": the
 * server's "authentication failed: ..." after the library's "authentication failed (no
 * credential the server accepts)" would say it twice. */
static bool message_repeats(int result, const char *msg)
{
    const char *what = condd_strerror(result);
    size_t len = strcspn(what, "(");
    while (len > 0 && what[len - 1] == ' ')
        len--;
    return len > 0 && strncmp(msg, what, len) == 0 && (msg[len] == ':' || msg[len] == '\0');
}

int ctl_fail(struct ctl *ctl, const char *what, int result, const char *msg)
{
    int code = exit_code_for(result);
    if (ctl->done)
        return ctl->exit_code;
    bool has_msg = msg != NULL && *msg != '\0';
    if (code == CTL_EXIT_TIMEOUT) {
        fprintf(stderr, "condctl: %s: timed out\n", what);
        code = ctl_timeout_exit(ctl);
    } else if (code == CTL_EXIT_REFUSED && ctl_is_list(ctl->server))
        fprintf(stderr, "condctl: %s: refused by the server %s: %s%s%s\n", what, error_server(ctl),
                status_name(result), has_msg ? ": " : "", has_msg ? msg : "");
    else if (code == CTL_EXIT_REFUSED)
        fprintf(stderr, "condctl: %s: refused by the server: %s%s%s\n", what, status_name(result),
                has_msg ? ": " : "", has_msg ? msg : "");
    else if (result == CONDD_ERR_CONNECT || result == CONDD_ERR_ADDRESS)
        print_connect_error(ctl, result, msg);
    else if (has_msg && message_repeats(result, msg))
        fprintf(stderr, "condctl: %s: %s\n", what, msg);
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
    int rc = ctl_give_back(ctl, release_cb);
    if (rc != CONDD_OK)
        ctl_fail(ctl, "release", rc, NULL);
}

/* ------------------------------------------------------------------ connection */

static void connect_cb(condd_async_conn *c, int result, void *arg)
{
    struct ctl *ctl = arg;
    const char *msg = condd_async_conn_message(c);
    if (result == CONDD_ERR_CONNECT && ctl->connect_by_deadline &&
        strncmp(msg, "timed out", 9) == 0) {
        /* The connect timeout given to the library was what was left of -T. */
        fprintf(stderr, "condctl: %s: the -T deadline passed while connecting to %s (%s)\n",
                ctl->cmd_name, ctl->server, msg);
        ctl_finish(ctl, ctl_timeout_exit(ctl));
        return;
    }
    if (result != CONDD_OK) {
        ctl_fail(ctl, "connect", result == CONDD_ERR_DISCONNECTED ? CONDD_ERR_CONNECT : result,
                 msg);
        return;
    }
    ctl_cmd_start(ctl);
}

static void disconnect_cb(condd_async_conn *c, int reason, void *arg)
{
    struct ctl *ctl = arg;
    ctl_cmd_disconnected(ctl, reason, condd_async_conn_message(c));
}

/* The library's options from the command line. connect_timeout: seconds (> 0). */
static condd_options *make_options(const struct ctl *ctl, double connect_timeout)
{
    condd_options *opts = condd_options_new();
    if (opts == NULL)
        return NULL;
    char name[320];
    const char *client_name = ctl->client_name;
    if (client_name == NULL) {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
            strcpy(host, "localhost");
        host[sizeof host - 1] = '\0';
        snprintf(name, sizeof name, "condctl/%ld@%s", (long)getpid(), host);
        client_name = name;
    }
    double grace = 0;
    if (ctl->grace_set)
        grace = ctl->grace;
    else if (ctl_cmd_waits(ctl->cmd))
        grace = CTL_LOCK_GRACE_S;
    if (condd_options_set_client_name(opts, client_name) != CONDD_OK ||
        condd_options_set_grace(opts, grace) != CONDD_OK ||
        condd_options_set_connect_timeout(opts, connect_timeout) != CONDD_OK ||
        (ctl->session_timeout_set &&
         condd_options_set_session_timeout(opts, ctl->session_timeout) != CONDD_OK) ||
        condd_options_set_tls_ca(opts, ctl->tls_ca) != CONDD_OK ||
        condd_options_set_tls_cert(opts, ctl->tls_cert) != CONDD_OK ||
        condd_options_set_tls_key(opts, ctl->tls_key) != CONDD_OK) {
        condd_options_free(opts);
        return NULL;
    }
    return opts;
}

static int run(struct ctl *ctl)
{
    /* -T bounds connecting too, unless it is 0 (try the lock once: connecting is not a wait for
     * the lock, so only the connect timeout applies). The earlier of the two ends it. */
    double connect_timeout = ctl->connect_timeout;
    if (ctl->has_timeout && ctl->timeout > 0 && ctl->timeout <= connect_timeout) {
        connect_timeout = ctl->timeout;
        ctl->connect_by_deadline = true;
    }
    ctl->base = event_base_new();
    condd_options *opts = make_options(ctl, connect_timeout);
    if (ctl->base == NULL || opts == NULL) {
        fputs("condctl: out of memory\n", stderr);
        condd_options_free(opts);
        return CTL_EXIT_CONNECT;
    }
    if (ctl->token_file != NULL) {
        int trc = condd_options_set_token_file(opts, ctl->token_file);
        if (trc != CONDD_OK) {
            fprintf(stderr, "condctl: %s\n",
                    trc == CONDD_ERR_INVALID ? condd_conn_message(NULL) : condd_strerror(trc));
            condd_options_free(opts);
            event_base_free(ctl->base);
            ctl->base = NULL;
            return trc == CONDD_ERR_INVALID ? CTL_EXIT_USAGE : CTL_EXIT_CONNECT;
        }
    }
    if (ctl_fanout_wanted(ctl)) {
        /* ping, list and stats on a list: every server, one after the other. */
        int code = ctl_fanout_run(ctl, opts);
        condd_options_free(opts);
        event_base_free(ctl->base);
        ctl->base = NULL;
        return code;
    }
    ctl->guard = evtimer_new(ctl->base, guard_cb, ctl);
    if (ctl->has_timeout)
        ctl->deadline = clk_mono() + ctl->timeout;

    int rc = condd_async_conn_open(ctl->base, ctl->server, opts, connect_cb, ctl, &ctl->client);
    condd_options_free(opts);
    if (rc == CONDD_ERR_INVALID) {
        /* A TLS file that cannot be used (missing, not PEM, a key that does not match). */
        fprintf(stderr, "condctl: %s\n", condd_conn_message(NULL));
        event_free(ctl->guard);
        ctl->guard = NULL;
        event_base_free(ctl->base);
        ctl->base = NULL;
        return CTL_EXIT_USAGE;
    } else if (rc != CONDD_OK) {
        ctl_fail(ctl, "connect", rc, NULL);
    } else {
        condd_async_conn_set_disconnect_cb(ctl->client, disconnect_cb, ctl);
        if (ctl->guard == NULL)
            ctl_fail(ctl, "setup", CONDD_ERR_NOMEM, NULL);
        else if ((CMD_COMMANDS & CMD_BIT(ctl->cmd)) != 0 && ctl_child_setup(ctl) != 0)
            ctl_finish(ctl, CTL_EXIT_CONNECT);
        else if (ctl_signals_setup(ctl) != 0)
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
    for (int i = 0; i < CTL_N_FWD_SIGNALS; i++)
        if (ctl->hold_sig[i] != NULL)
            event_free(ctl->hold_sig[i]);
    if (ctl->guard != NULL)
        event_free(ctl->guard);
    event_base_free(ctl->base);
    return ctl->exit_code;
}

int main(int argc, char **argv)
{
    struct ctl ctl = {.count = 1, .kill_after = 5.0, .connect_timeout = CTL_CONNECT_TIMEOUT_S};

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
