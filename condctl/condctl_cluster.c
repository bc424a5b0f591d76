/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condctl on a server list (-s or $CONDD_SERVER "a:7380,b:7380,...", protocol.md §21): checking
 * the list where it is typed, and the commands that name nothing and so ask every server, ping,
 * list and stats, merging their answers with each row marked with its server. They ask one
 * server after the other through the blocking API (a command-line tool waits for all anyway);
 * a server that fails is reported by name and the others are still shown. Commands that name
 * an object go through the library's routing like any other (condctl_cmd.c).
 */
#include "condctl.h"
#include "route.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

bool ctl_is_list(const char *server)
{
    return server != NULL && strchr(server, ',') != NULL;
}

int ctl_check_list(const char *server, char *why, size_t whylen)
{
    struct route_list l;
    if (!route_list_parse(server, CONDD_DEFAULT_PORT, &l, why, whylen))
        return -1;
    int n = (int)l.n;
    route_list_free(&l);
    return n;
}

bool ctl_fanout_wanted(const struct ctl *ctl)
{
    return ctl_is_list(ctl->server) &&
           (ctl->cmd == CTL_CMD_PING || ctl->cmd == CTL_CMD_LIST || ctl->cmd == CTL_CMD_STATS);
}

/* The exit status for a failed answer, as for one server (condctl.c's rule). */
static int fail_code(int rc)
{
    if (condd_result_is_connection_error(rc) || rc == CONDD_ERR_ADDRESS || rc == CONDD_ERR_NOMEM)
        return CTL_EXIT_CONNECT;
    return rc == CONDD_ERR_INVALID ? CTL_EXIT_USAGE : CTL_EXIT_REFUSED;
}

static void report(const struct ctl *ctl, const char *addr, int rc, const char *msg)
{
    bool has = msg != NULL && *msg != '\0';
    fprintf(stderr, "condctl: %s: server %s: %s%s%s\n", ctl->cmd_name, addr, condd_strerror(rc),
            has ? ": " : "", has ? msg : "");
}

/* ------------------------------------------------------------------ stats */

#define FANOUT_SKIP(f)
#define FANOUT_STATS(X) CTL_STATS_FIELDS(X, FANOUT_SKIP)

struct fanout_total {
#define X(f) uint64_t f;
    FANOUT_STATS(X)
#undef X
    size_t servers; /* that answered */
};

static void print_stats(const struct ctl *ctl, condd_stats **st, size_t n, condd_conn *conn)
{
    struct fanout_total t = {0};
    for (size_t i = 0; i < n; i++) {
        if (st[i] == NULL)
            continue;
        t.servers++;
#define X(f) t.f += st[i]->f;
        FANOUT_STATS(X)
#undef X
    }
    if (ctl->json) {
        fputs("{\"servers\":[", stdout);
        bool first = true;
        for (size_t i = 0; i < n; i++) {
            if (st[i] == NULL)
                continue;
            fputs(first ? "{\"server\":" : ",{\"server\":", stdout);
            first = false;
            ctl_json_string(stdout, condd_conn_server_addr(conn, i));
            fputs(",\"stats\":", stdout);
            ctl_print_stats_json(stdout, st[i]);
            putchar('}');
        }
        printf("],\"total\":{\"servers\":%zu", t.servers);
#define X(f) printf(",\"" #f "\":%" PRIu64, t.f);
        FANOUT_STATS(X)
#undef X
        fputs("}}\n", stdout);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (st[i] == NULL)
            continue;
        printf("%-20s %s\n", "server", condd_conn_server_addr(conn, i));
        ctl_print_stats(stdout, st[i], false);
        putchar('\n');
    }
    printf("%-20s %s (%zu of %zu servers)\n", "server", "total", t.servers, n);
#define X(f) printf("%-20s %" PRIu64 "\n", #f, t.f);
    FANOUT_STATS(X)
#undef X
}

/* ------------------------------------------------------------------ run */

int ctl_fanout_run(struct ctl *ctl, const condd_options *opts)
{
    condd_conn *conn = NULL;
    int rc = condd_conn_open(ctl->server, opts, &conn);
    if (rc != CONDD_OK) {
        fprintf(stderr, "condctl: %s: %s: %s\n", ctl->cmd_name, condd_strerror(rc),
                condd_conn_message(NULL));
        return fail_code(rc);
    }
    size_t n = condd_conn_server_count(conn);
    condd_stats **st = calloc(n, sizeof *st);
    condd_list **lists = calloc(n, sizeof *lists);
    const char **addrs = calloc(n, sizeof *addrs);
    if (st == NULL || lists == NULL || addrs == NULL) {
        fputs("condctl: out of memory\n", stderr);
        free(st);
        free(lists);
        free(addrs);
        condd_conn_close(conn);
        return CTL_EXIT_CONNECT;
    }
    int code = CTL_EXIT_OK;
    size_t nl = 0;
    bool first = true;
    if (ctl->cmd == CTL_CMD_PING && ctl->json)
        fputs("{\"servers\":[", stdout);
    for (size_t i = 0; i < n; i++) {
        const char *addr = condd_conn_server_addr(conn, i);
        condd_conn *s = NULL;
        rc = condd_conn_server(conn, i, &s);
        double rtt = 0;
        if (rc == CONDD_OK) {
            if (ctl->cmd == CTL_CMD_PING)
                rc = condd_conn_ping(s, &rtt);
            else if (ctl->cmd == CTL_CMD_STATS)
                rc = condd_conn_stats(s, &st[i]);
            else
                rc = condd_conn_list(s, ctl->name, 0, &lists[nl]);
        }
        if (rc != CONDD_OK) {
            report(ctl, addr, rc, s != NULL ? condd_conn_message(s) : condd_conn_message(conn));
            int c = fail_code(rc);
            if (code == CTL_EXIT_OK || c == CTL_EXIT_CONNECT)
                code = c;
            continue;
        }
        if (ctl->cmd == CTL_CMD_LIST) {
            addrs[nl++] = addr;
        } else if (ctl->cmd == CTL_CMD_PING && ctl->json) {
            printf("%s{\"server\":", first ? "" : ",");
            first = false;
            ctl_json_string(stdout, addr);
            printf(",\"rtt_ms\":%.3f,\"server_version\":", rtt * 1e3);
            ctl_json_string(stdout, condd_conn_server_version(s));
            printf(",\"session\":%" PRIu64 "}", condd_conn_session_id(s));
        } else if (ctl->cmd == CTL_CMD_PING) {
            printf("%s: rtt %.3f ms (%s)\n", addr, rtt * 1e3, condd_conn_server_version(s));
        }
    }
    if (ctl->cmd == CTL_CMD_PING && ctl->json)
        fputs("]}\n", stdout);
    if (ctl->cmd == CTL_CMD_STATS)
        print_stats(ctl, st, n, conn);
    if (ctl->cmd == CTL_CMD_LIST) {
        const struct ctl_lists ls = {
            .n = nl, .list = (const struct condd_list *const *)lists, .server = addrs};
        ctl_print_lists(stdout, &ls, ctl->json);
    }
    for (size_t i = 0; i < n; i++) {
        condd_stats_free(st[i]);
        condd_list_free(lists[i]);
    }
    free(st);
    free(lists);
    free(addrs);
    condd_conn_close(conn);
    return code;
}
