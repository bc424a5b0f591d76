/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condctl's internal interfaces, shared by its source files: the parsed command line and the
 * run-time state of one invocation (struct ctl), the helpers that end a run with the right exit
 * status (condctl.c), the command state machines (condctl_cmd.c), the child process under `lock`
 * and `wait-for` (condctl_child.c) and the table / JSON output (condctl_out.c). condctl uses only
 * the public libcondd API; one struct ctl is passed by pointer everywhere, there are no globals.
 */
#ifndef CONDD_CLIENT_CONDCTL_H
#define CONDD_CLIENT_CONDCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <condd/condd.h>
#include <condd/condd_async.h>

/* Signals forwarded to CMD under `lock` and `wait-for` (INT, TERM, HUP); the same end `hold`. */
#define CTL_N_FWD_SIGNALS 3

/* Exit statuses (the contract of condctl(1)). */
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_NO = 1,       /* a "no" answer: `locked` on a free lock */
    CTL_EXIT_USAGE = 2,    /* bad arguments */
    CTL_EXIT_CONNECT = 3,  /* cannot connect, or the connection was lost */
    CTL_EXIT_REFUSED = 4,  /* the server refused the request */
    CTL_EXIT_BROKEN = 5,   /* barrier: the barrier was reset or aborted, or is broken */
    CTL_EXIT_TIMEOUT = 124 /* the -T deadline passed */
};

enum ctl_command {
    CTL_CMD_NONE,
    CTL_CMD_PING,
    CTL_CMD_LOCK,
    CTL_CMD_HOLD,
    CTL_CMD_LOCKED,
    CTL_CMD_WAIT,
    CTL_CMD_WAIT_FOR,
    CTL_CMD_NOTIFY,
    CTL_CMD_NOTIFY_ALL,
    CTL_CMD_LIST,
    CTL_CMD_STATS,
    CTL_CMD_EVENT,   /* condctl_event.c */
    CTL_CMD_SEM,     /* condctl_sem.c */
    CTL_CMD_BARRIER, /* condctl_barrier.c */
    CTL_CMD_BREAK,   /* condctl_admin.c */
    CTL_CMD_KILL_SESSION,
};

/* Does cmd hold or wait (and so ask for a resume grace by default, CTL_LOCK_GRACE_S)? */
static inline bool ctl_cmd_waits(enum ctl_command cmd)
{
    return cmd == CTL_CMD_LOCK || cmd == CTL_CMD_SEM || cmd == CTL_CMD_HOLD ||
           cmd == CTL_CMD_WAIT || cmd == CTL_CMD_WAIT_FOR || cmd == CTL_CMD_EVENT ||
           cmd == CTL_CMD_BARRIER;
}

/* `barrier NAME`'s operation (a wait unless --reset, --abort or --state). */
enum ctl_barrier_op {
    CTL_BARRIER_WAIT,
    CTL_BARRIER_RESET,
    CTL_BARRIER_ABORT,
    CTL_BARRIER_STATE,
};

/* `event SUB NAME`'s subcommand. */
enum ctl_event_op {
    CTL_EVENT_SET,
    CTL_EVENT_CLEAR,
    CTL_EVENT_IS_SET,
    CTL_EVENT_WAIT,
};

/* Slack after the -T deadline before condctl gives up on an answer the server owes it (the
 * server enforces the same deadline itself and normally answers TIMEOUT first; the slack only
 * matters when, e.g., a timed-out wait cannot get its lock back). */
#define CTL_GUARD_SLACK_S 1.0

/* How long connecting may take without --connect-timeout or $CONDD_CONNECT_TIMEOUT. */
#define CTL_CONNECT_TIMEOUT_S 10.0
/* The resume grace the commands that hold or wait ask for unless --grace says otherwise
 * (ctl_cmd_waits()): a network blip or a restart of condd shorter than this neither loses a lock
 * or a wait nor disturbs CMD. */
#define CTL_LOCK_GRACE_S 10.0

struct ctl {
    /* ---- the command line (pointers borrowed from argv or the environment) */
    enum ctl_command cmd;
    const char *cmd_name; /* as typed, for messages */
    const char *server;   /* effective address, validated (may point to server_buf) */
    char server_buf[128]; /* "unix:" + an absolute path given as -s /path */
    bool has_timeout;
    double timeout;          /* -T, seconds (>= 0) */
    double connect_timeout;  /* --connect-timeout, $CONDD_CONNECT_TIMEOUT, else 10 (> 0) */
    const char *client_name; /* --name, or NULL for condctl/<pid>@host */
    bool session_timeout_set;
    const char *token_file; /* --token-file, else $CONDD_TOKEN_FILE; NULL: no token */
    const char *tls_ca;     /* --ca, else $CONDD_CA_FILE; NULL: the system's store */
    const char *tls_cert;   /* --cert, else $CONDD_CERT_FILE; NULL: none */
    const char *tls_key;    /* --key, else $CONDD_KEY_FILE; NULL: in tls_cert */
    double session_timeout; /* --session-timeout (0: the server's default) */
    bool grace_set;
    double grace; /* --grace: resume grace to ask for (default CTL_LOCK_GRACE_S for the
                   * commands that hold or wait, else 0) */
    bool conflict_set;
    int conflict_exit; /* -E: the exit status when the lock could not be taken */
    bool until_signal; /* hold --until-signal */
    bool bounded;      /* sem --bounded */
    bool shared;       /* lock, hold --shared: a shared (reader) hold */
    bool json;
    const char *lock_opt; /* --lock, or NULL */
    uint64_t count;       /* -n: notify's count (default 1), sem's value N (required) */
    bool count_set;
    double kill_after; /* --kill-after, default 5 */
    bool kill_after_set;
    const char *name;               /* NAME, COND or PREFIX (may be NULL for list) */
    char **child_argv;              /* CMD [ARG...] for lock and wait-for, NULL-terminated */
    enum ctl_event_op event_op;     /* event: the subcommand */
    bool break_sem;                 /* break --sem: a semaphore's holders, not a lock's */
    uint64_t kill_id;               /* kill-session: the session id */
    enum ctl_barrier_op barrier_op; /* barrier: --reset, --abort, --state, else a wait */
    bool barrier_op_set;
    uint64_t parties; /* barrier -p (0: not given) */

    /* ---- run time */
    struct event_base *base;
    condd_async_conn *client;
    const char *lock;    /* the lock the command takes (NAME, --lock or COND) */
    double deadline;     /* monotonic seconds, when has_timeout */
    struct event *guard; /* fires CTL_GUARD_SLACK_S after the deadline */
    uint64_t token;      /* fencing token of the current grant */
    bool holding;        /* the lock is ours (so a clean end releases it) */
    bool done;           /* the exit status is decided */
    int release_code;    /* the exit status once the release in flight is answered */
    int exit_code;

    /* hold: stdin's end (when it can end) and INT/TERM/HUP end the hold */
    bool stdin_can_end; /* stdin is a pipe, FIFO, socket or terminal (decided at startup) */
    struct event *stdin_ev;
    struct event *hold_sig[CTL_N_FWD_SIGNALS];
    bool connect_by_deadline; /* the -T deadline, not the connect timeout, bounds connecting */

    /* lock / wait-for: the child running CMD */
    pid_t child;    /* 0 when none runs */
    int child_exit; /* exit status in shell form (128+sig when killed) */
    int exec_errno; /* errno of a failed exec, 0 when CMD started */
    bool lost;      /* the connection went while CMD ran: SIGTERM sent */
    int signalled;  /* the last signal forwarded to CMD, 0 if none */
    struct event *sigchld;
    struct event *fwd[CTL_N_FWD_SIGNALS]; /* INT/TERM/HUP, every command (ctl_signals_setup) */
    struct event *kill_timer;
    unsigned char *startup_fds; /* bitmap of fds open at startup (CMD inherits only these) */
    bool sig_ignored[CTL_N_FWD_SIGNALS]; /* INT, TERM, HUP ignored at startup */
    int startup_fds_max;
};

/* ------------------------------------------------------------------ condctl.c */

/* The timeout to give a request that waits: what is left of -T (0 when it has passed), or
 * CONDD_FOREVER without -T. */
double ctl_remaining(const struct ctl *ctl);

/* Arms / disarms the guard timer around a request that may wait (acquire, wait). */
void ctl_guard_arm(struct ctl *ctl);
void ctl_guard_disarm(struct ctl *ctl);

/* Decides the exit status (the first decision wins) and stops the event loop. */
void ctl_finish(struct ctl *ctl, int code);

/* The exit status for "the -T deadline passed before the lock was taken": -E's value when
 * given, else 124. */
int ctl_timeout_exit(const struct ctl *ctl);

/*
 * Reports a failed request ("condctl: WHAT: ...", with the server's message msg when not empty)
 * and decides the exit status from result: 124 (or -E's value) for CONDD_ERR_TIMEOUT, 3 for
 * connection errors,
 * 2 for CONDD_ERR_INVALID, 4 for what the server refused. When the lock is still held it is
 * released first (the status is decided at once). Returns the exit status.
 */
int ctl_fail(struct ctl *ctl, const char *what, int result, const char *msg);

/* Releases the held lock, then finishes with code (or 3 if the release fails on a connection
 * error, 4 if the server refuses it). */
void ctl_release_and_finish(struct ctl *ctl, int code);

/* ------------------------------------------------------------------ condctl_cmd.c */

/* Starts the parsed command on the connected client. */
void ctl_cmd_start(struct ctl *ctl);

/* ------------------------------------------------------------------ condctl_event.c */

/* Parses `event`'s subcommand (set, clear, wait, is-set) into *op; false if unknown. */
bool ctl_event_parse(const char *sub, enum ctl_event_op *op);

/* Runs `event SUB NAME` once connected: set prints how many waiters woke (exit 0), clear prints
 * nothing (0), is-set prints set or clear (0 when set, 1 when clear), wait waits at most what
 * is left of -T (0 when set, 124 on the deadline). */
void ctl_event_start(struct ctl *ctl);

/* condctl_admin.c: `break NAME [--sem]` and `kill-session ID` (operator controls). */
void ctl_admin_start(struct ctl *ctl);

/* The connection ended (disconnect callback): ends the run unless a child must be stopped. */
void ctl_cmd_disconnected(struct ctl *ctl, int reason, const char *msg);

/* CMD has ended (ctl->child_exit, ctl->exec_errno set; ctl->child is 0 again). */
void ctl_cmd_child_exited(struct ctl *ctl);

/* ------------------------------------------------------------------ condctl_sem.c */

/* Takes what the command holds while it works (one permit of semaphore NAME for sem, else the
 * lock ctl->lock), waiting at most what is left of -T. Same results as the library call. */
int ctl_take(struct ctl *ctl, condd_async_token_cb cb);

/* Gives it back (the release of ctl_take()); cb as for condd_async_lock_release(). */
int ctl_give_back(struct ctl *ctl, condd_async_result_cb cb);

/* The semaphores of a List result: the table section (after a blank line when sep), and the
 * JSON member (",\"semaphores\":[...]"). */
struct ctl_lists;
void ctl_print_sem_table(FILE *out, const struct ctl_lists *ls, bool sep);
void ctl_print_sem_json(FILE *out, const struct ctl_lists *ls);

/* ------------------------------------------------------------------ condctl_barrier.c */

/* Runs `barrier NAME` once connected: a wait prints the arrival index (0; 5 when the barrier is
 * broken, 124 on the -T deadline), --reset and --abort print how many waiters were answered
 * broken, --state prints the barrier's state. */
void ctl_barrier_start(struct ctl *ctl);

/* The barriers of a List result: the table section (after a blank line when sep), and the JSON
 * member (",\"barriers\":[...]"). */
void ctl_print_barrier_table(FILE *out, const struct ctl_lists *ls, bool sep);
void ctl_print_barrier_json(FILE *out, const struct ctl_lists *ls);

/* ------------------------------------------------------------------ condctl_child.c */

/* Records the fds open at startup, so CMD inherits those and nothing condctl opened later
 * (such as the connection to condd), which signals were ignored, so CMD inherits that too, and
 * whether stdin is a kind of input that can end (for hold). Call first thing in main(). */
void ctl_child_init(struct ctl *ctl);

/*
 * Installs the SIGCHLD watch on ctl->base (commands that run CMD). When CMD has ended,
 * ctl_cmd_child_exited() runs from the loop (ctl->child_exit set). 0 or -1 (message printed).
 */
int ctl_child_setup(struct ctl *ctl);

/*
 * Installs the INT/TERM/HUP handlers on ctl->base (every command on one server; those ignored
 * at startup stay ignored): forwarded to CMD while one runs, else they end condctl with
 * 128+signal through the normal exit path, so the connection is closed with a Goodbye and the
 * session ends at once instead of lingering for its resume grace. 0 or -1 (message printed).
 */
int ctl_signals_setup(struct ctl *ctl);

/*
 * Starts CMD (ctl->child_argv) with CONDD_LOCK=ctl->lock, CONDD_TOKEN=ctl->token and, when cond
 * is not NULL, CONDD_COND=cond. On a failed exec the child exits 126 or 127 (its reason printed
 * on stderr, ctl->exec_errno set); ctl_cmd_child_exited() still runs. 0, or -1 when fork() failed.
 */
int ctl_child_spawn(struct ctl *ctl, const char *cond);

/* The lock is lost: SIGTERM to CMD now, SIGKILL after --kill-after; ctl_cmd_child_exited()
 * runs as usual. */
void ctl_child_lost(struct ctl *ctl);

/* Frees the events of the child machinery. Does not touch a still running CMD. */
void ctl_child_cleanup(struct ctl *ctl);

/* ------------------------------------------------------------------ condctl_out.c */

/* Writes s as a JSON string (quoted; escapes quotes, backslashes and control characters;
 * invalid UTF-8 bytes become U+FFFD). s may be NULL (written as null). */
void ctl_json_string(FILE *out, const char *s);

/* Display width of s in terminal columns, and s left-aligned in a column of width columns. */
int ctl_display_width(const char *s);
void ctl_put_padded(FILE *out, const char *s, int width);

/* Prints a List result as a table (columns aligned by display width, so multibyte and wide
 * characters line up; a section only when it has rows) or (json) as one JSON object. */
void ctl_print_list(FILE *out, const struct condd_list *list, bool json);

/* The List answers of several servers, printed as one (condctl list on a server list): every
 * section holds the rows of every list, each marked with its server (a first SERVER column, a
 * "server" key) when server is not NULL. list[i] and server[i] are borrowed. */
struct ctl_lists {
    size_t n;
    const struct condd_list *const *list;
    const char *const *server; /* NULL: one server, printed as ever */
};
void ctl_print_lists(FILE *out, const struct ctl_lists *ls, bool json);

/* The SERVER column (width w, then two spaces) of ls's list k, when ls has servers; the width
 * it needs (0 without servers); and the JSON key ("\"server\":\"...\",") of list k. */
void ctl_put_server(FILE *out, const struct ctl_lists *ls, size_t k, int w);
int ctl_server_width(const struct ctl_lists *ls);
void ctl_json_server(FILE *out, const struct ctl_lists *ls, size_t k);

/* Prints a Stats result as "name value" lines or (json) as one JSON object. */
void ctl_print_stats(FILE *out, const struct condd_stats *stats, bool json);
/* The JSON object alone (no newline). */
void ctl_print_stats_json(FILE *out, const struct condd_stats *stats);

/* ------------------------------------------------------------------ condctl_cluster.c */

/* Does server (-s, $CONDD_SERVER) name several servers? */
bool ctl_is_list(const char *server);
/* The number of servers in the list, or -1 with a one-line reason in why (an empty or bad
 * entry, a server twice, more than 64). */
int ctl_check_list(const char *server, char *why, size_t whylen);
/* Is this a command that asks every server of a list (ping, list, stats on a list)? */
bool ctl_fanout_wanted(const struct ctl *ctl);
/* Runs it (opts borrowed): each server's answer, merged, each row marked with its server; a
 * server that fails is reported by name. Returns the exit status. */
int ctl_fanout_run(struct ctl *ctl, const condd_options *opts);

/* Every counter of struct condd_stats, in output order: X(field) for each, except N(field) for
 * those that mean nothing summed over the servers of a list (the fencing-token clock is each
 * server's own). One list, so that a counter added to the library is printed everywhere. */
#define CTL_STATS_FIELDS(X, N)                                                                     \
    X(connections)                                                                                 \
    X(sessions)                                                                                    \
    X(locks)                                                                                       \
    X(locks_held)                                                                                  \
    X(lock_waiters)                                                                                \
    X(conditions)                                                                                  \
    X(condition_waiters)                                                                           \
    X(waiters)                                                                                     \
    X(table_bytes)                                                                                 \
    X(rss_bytes)                                                                                   \
    X(connections_total)                                                                           \
    X(session_expiries)                                                                            \
    N(last_token)                                                                                  \
    X(events)                                                                                      \
    X(events_set)                                                                                  \
    X(event_waiters)                                                                               \
    X(semaphores)                                                                                  \
    X(permits_held)                                                                                \
    X(semaphore_waiters)                                                                           \
    X(barriers)                                                                                    \
    X(barriers_broken)                                                                             \
    X(barrier_waiters)                                                                             \
    X(locks_shared)                                                                                \
    X(shared_holders)                                                                              \
    X(detached_sessions)                                                                           \
    X(resumes)                                                                                     \
    X(resume_failures)                                                                             \
    X(sessions_expired_in_grace)                                                                   \
    X(auth_failures)                                                                               \
    X(permission_denials)                                                                          \
    X(wrong_server)                                                                                \
    X(restarts)                                                                                    \
    X(restored_sessions)                                                                           \
    X(tls_buffers_released)

#endif
