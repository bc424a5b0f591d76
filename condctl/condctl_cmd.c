/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condctl's commands, each a small chain of libcondd callbacks on condctl's loop: ping, locked,
 * list and stats are one request each; lock, hold, wait, wait-for, notify and notify-all first
 * acquire their lock (waiting at most what is left of -T), then run CMD, hold, wait or notify,
 * and release the lock before condctl exits, so that the state a script sees after condctl
 * returns is settled. The session is the connection: whatever path ends condctl early, closing
 * the connection makes the server drop what this run still held or had pending.
 */

#include "clock.h"
#include "condctl.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ one-request commands */

static void ping_cb(condd_async_conn *c, int result, void *arg)
{
    struct ctl *ctl = arg;
    double rtt_ms = (clk_mono() - ctl->deadline) * 1e3;
    if (result != CONDD_OK) {
        ctl_fail(ctl, "ping", result, condd_async_conn_message(c));
        return;
    }
    if (ctl->json) {
        printf("{\"rtt_ms\":%.3f,\"server_version\":", rtt_ms);
        ctl_json_string(stdout, condd_async_conn_server_version(c));
        printf(",\"session\":%" PRIu64 "}\n", condd_async_conn_session_id(c));
    } else {
        printf("rtt %.3f ms (%s)\n", rtt_ms, condd_async_conn_server_version(c));
    }
    ctl_finish(ctl, CTL_EXIT_OK);
}

static void locked_cb(condd_async_conn *c, int result, bool locked, void *arg)
{
    struct ctl *ctl = arg;
    if (result != CONDD_OK) {
        ctl_fail(ctl, "locked", result, condd_async_conn_message(c));
        return;
    }
    if (ctl->json)
        printf("{\"locked\":%s}\n", locked ? "true" : "false");
    else
        puts(locked ? "locked" : "unlocked");
    ctl_finish(ctl, locked ? CTL_EXIT_OK : CTL_EXIT_NO);
}

static void list_cb(condd_async_conn *c, int result, const struct condd_list *list, void *arg)
{
    struct ctl *ctl = arg;
    if (result != CONDD_OK) {
        ctl_fail(ctl, "list", result, condd_async_conn_message(c));
        return;
    }
    ctl_print_list(stdout, list, ctl->json);
    ctl_finish(ctl, CTL_EXIT_OK);
}

static void stats_cb(condd_async_conn *c, int result, const struct condd_stats *stats, void *arg)
{
    struct ctl *ctl = arg;
    if (result != CONDD_OK) {
        ctl_fail(ctl, "stats", result, condd_async_conn_message(c));
        return;
    }
    ctl_print_stats(stdout, stats, ctl->json);
    ctl_finish(ctl, CTL_EXIT_OK);
}

/* ------------------------------------------------------------------ notify */

static void notify_cb(condd_async_conn *c, int result, uint64_t woken, void *arg)
{
    struct ctl *ctl = arg;
    if (result != CONDD_OK) {
        ctl_fail(ctl, ctl->cmd_name, result, condd_async_conn_message(c));
        return;
    }
    if (ctl->json)
        printf("{\"woken\":%" PRIu64 "}\n", woken);
    else
        printf("%" PRIu64 "\n", woken);
    ctl_release_and_finish(ctl, CTL_EXIT_OK);
}

static void start_notify(struct ctl *ctl)
{
    int rc;
    if (ctl->cmd == CTL_CMD_NOTIFY)
        rc = condd_async_cond_notify(ctl->client, ctl->name, ctl->lock, 0, ctl->count, notify_cb,
                                     ctl);
    else
        rc = condd_async_cond_notify_all(ctl->client, ctl->name, ctl->lock, 0, notify_cb, ctl);
    if (rc != CONDD_OK)
        ctl_fail(ctl, ctl->cmd_name, rc, NULL);
}

/* ------------------------------------------------------------------ wait and wait-for */

static void wait_cb(condd_async_conn *c, int result, uint64_t token, void *arg)
{
    struct ctl *ctl = arg;
    ctl_guard_disarm(ctl);
    if (ctl->done)
        return;
    if (condd_result_is_connection_error(result))
        ctl->holding = false;
    if (result != CONDD_OK) {
        /* TIMEOUT: the lock is ours again and ctl_fail releases it; refusals such as
         * LOCK_MISMATCH left it held as it was. */
        if (token != 0)
            ctl->token = token;
        ctl_fail(ctl, ctl->cmd_name, result, condd_async_conn_message(c));
        return;
    }
    ctl->token = token;
    if (ctl->cmd == CTL_CMD_WAIT) {
        ctl_release_and_finish(ctl, CTL_EXIT_OK);
        return;
    }
    if (ctl_child_spawn(ctl, ctl->name) != 0)
        ctl_release_and_finish(ctl, 126);
}

static void start_wait(struct ctl *ctl)
{
    int rc = condd_async_cond_wait(ctl->client, ctl->name, ctl->lock, 0, ctl_remaining(ctl),
                                   wait_cb, ctl, NULL);
    if (rc != CONDD_OK) {
        ctl_fail(ctl, ctl->cmd_name, rc, NULL);
        return;
    }
    ctl_guard_arm(ctl);
}

/* ------------------------------------------------------------------ hold */

static void hold_end(struct ctl *ctl)
{
    if (ctl->stdin_ev != NULL)
        event_del(ctl->stdin_ev);
    for (int i = 0; i < CTL_N_FWD_SIGNALS; i++)
        if (ctl->hold_sig[i] != NULL)
            event_del(ctl->hold_sig[i]);
    ctl_release_and_finish(ctl, CTL_EXIT_OK);
}

static void hold_stdin_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct ctl *ctl = arg;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN)))
        return; /* what comes on stdin is ignored; only its end matters */
    hold_end(ctl);
}

static void hold_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    hold_end(arg);
}

/*
 * Holds the granted lock until SIGINT, SIGTERM or SIGHUP (HUP only when it was not ignored at
 * startup: under nohup a hangup must not end the hold) or, without --until-signal, until stdin
 * ends when it is input that can end (a pipe, FIFO, socket or terminal). A regular file,
 * /dev/null or a closed stdin, as under cron and systemd, has no writer whose end would mean
 * "release": the hold then lasts until a signal.
 */
static void start_hold(struct ctl *ctl)
{
    if (ctl->json) {
        fputs("{\"name\":", stdout);
        ctl_json_string(stdout, ctl->lock);
        /* "shared" only for a shared hold: the exclusive object stays what it always was */
        printf(",\"token\":%" PRIu64 "%s}\n", ctl->token, ctl->shared ? ",\"shared\":true" : "");
    } else {
        printf("%" PRIu64 "\n", ctl->token);
    }
    if (fflush(stdout) != 0)
        fprintf(stderr, "condctl: hold: cannot write the token: %s\n", strerror(errno));

    static const int sigs[CTL_N_FWD_SIGNALS] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < CTL_N_FWD_SIGNALS; i++) {
        if (sigs[i] == SIGHUP && ctl->sig_ignored[i])
            continue;
        ctl->hold_sig[i] = evsignal_new(ctl->base, sigs[i], hold_signal_cb, ctl);
        if (ctl->hold_sig[i] == NULL || evsignal_add(ctl->hold_sig[i], NULL) != 0) {
            fputs("condctl: hold: cannot install signal handlers\n", stderr);
            ctl_release_and_finish(ctl, CTL_EXIT_CONNECT);
            return;
        }
    }
    /* From here a signal ends the hold (exit 0), not the run (128+signal) as while waiting for
     * the lock. Removed after hold's own handlers are in, so the signal never falls back to its
     * default action in between. */
    for (int i = 0; i < CTL_N_FWD_SIGNALS; i++)
        if (ctl->fwd[i] != NULL)
            event_del(ctl->fwd[i]);
    if (ctl->until_signal || !ctl->stdin_can_end)
        return;
    ctl->stdin_ev = event_new(ctl->base, STDIN_FILENO, EV_READ | EV_PERSIST, hold_stdin_cb, ctl);
    if (ctl->stdin_ev == NULL || event_add(ctl->stdin_ev, NULL) != 0) {
        fputs("condctl: hold: cannot watch standard input\n", stderr);
        ctl_release_and_finish(ctl, CTL_EXIT_CONNECT);
    }
}

/* ------------------------------------------------------------------ lock acquisition */

static void acquire_cb(condd_async_conn *c, int result, uint64_t token, void *arg)
{
    struct ctl *ctl = arg;
    ctl_guard_disarm(ctl);
    if (ctl->done)
        return;
    if (result != CONDD_OK) {
        ctl_fail(ctl, ctl->cmd_name, result, condd_async_conn_message(c));
        return;
    }
    ctl->holding = true;
    ctl->token = token;
    switch (ctl->cmd) {
    case CTL_CMD_LOCK:
    case CTL_CMD_SEM:
    case CTL_CMD_WAIT_FOR:
        if (ctl_child_spawn(ctl, ctl->cmd == CTL_CMD_WAIT_FOR ? ctl->name : NULL) != 0)
            ctl_release_and_finish(ctl, 126);
        break;
    case CTL_CMD_HOLD:
        start_hold(ctl);
        break;
    case CTL_CMD_WAIT:
        start_wait(ctl);
        break;
    case CTL_CMD_NOTIFY:
    case CTL_CMD_NOTIFY_ALL:
        start_notify(ctl);
        break;
    default:
        ctl_release_and_finish(ctl, CTL_EXIT_OK);
        break;
    }
}

void ctl_cmd_start(struct ctl *ctl)
{
    int rc;
    switch (ctl->cmd) {
    case CTL_CMD_PING:
        /* The deadline field is free for ping (-T does not apply): it holds the send time. */
        ctl->deadline = clk_mono();
        rc = condd_async_conn_ping(ctl->client, ping_cb, ctl);
        break;
    case CTL_CMD_LOCKED:
        rc = condd_async_lock_locked(ctl->client, ctl->name, locked_cb, ctl);
        break;
    case CTL_CMD_LIST:
        rc = condd_async_conn_list(ctl->client, ctl->name, 0, list_cb, ctl);
        break;
    case CTL_CMD_STATS:
        rc = condd_async_conn_stats(ctl->client, stats_cb, ctl);
        break;
    case CTL_CMD_EVENT:
        ctl_event_start(ctl);
        return;
    case CTL_CMD_BARRIER:
        ctl_barrier_start(ctl);
        return;
    case CTL_CMD_BREAK:
    case CTL_CMD_KILL_SESSION:
        ctl_admin_start(ctl);
        return;
    default:
        rc = ctl_take(ctl, acquire_cb);
        if (rc == CONDD_OK)
            ctl_guard_arm(ctl);
        break;
    }
    if (rc != CONDD_OK)
        ctl_fail(ctl, ctl->cmd_name, rc, NULL);
}

/* ------------------------------------------------------------------ CMD and the connection */

void ctl_cmd_child_exited(struct ctl *ctl)
{
    if (ctl->done)
        return;
    if (ctl->lost) {
        ctl_finish(ctl, CTL_EXIT_CONNECT);
        return;
    }
    if (ctl->cmd == CTL_CMD_LOCK || ctl->cmd == CTL_CMD_SEM || ctl->exec_errno != 0 ||
        ctl->child_exit == 0) {
        ctl_release_and_finish(ctl, ctl->child_exit);
        return;
    }
    /* wait-for: CMD said "not yet". Stop instead when it was interrupted by a signal meant for
     * the whole run (e.g. ^C): looping on would make condctl impossible to interrupt. */
    if (ctl->signalled != 0) {
        ctl_release_and_finish(ctl, ctl->child_exit);
        return;
    }
    start_wait(ctl);
}

void ctl_cmd_disconnected(struct ctl *ctl, int reason, const char *msg)
{
    ctl->holding = false;
    if (ctl->child > 0) {
        fprintf(stderr,
                "condctl: %s: connection to condd lost while CMD runs (%s%s%s): the lock "
                "is lost, stopping CMD\n",
                ctl->cmd_name, condd_strerror(reason), msg != NULL && *msg != '\0' ? ": " : "",
                msg != NULL ? msg : "");
        ctl_child_lost(ctl);
        return;
    }
    ctl_fail(ctl, ctl->cmd_name, reason, msg);
}
