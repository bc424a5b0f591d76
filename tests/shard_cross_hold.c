/* SPDX-License-Identifier: BSD-2-Clause
 *
 * shard_cross_hold: the C side of tests/shard-cross.sh, on libcondd's public blocking API only.
 * Usage: shard_cross_hold LIST. Connects to the server list LIST (one lazily opened session per
 * server, protocol.md §21), reads names from standard input, one per line, until a line "go";
 * acquires each (waiting forever) and prints "NAME<TAB>SERVER<TAB>ROUTE<TAB>TOKEN" per name,
 * where SERVER is the server libcondd says answered and ROUTE the one condd_conn_route() picks,
 * then "held". It keeps everything until standard input ends, releases every lock, and prints
 * "released". Exit 0, or 1 with a one-line reason on standard error (the test reads both).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <condd/condd.h>

#define MAX_NAMES 4096

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: shard_cross_hold LIST\n");
        return 2;
    }
    condd_options *opts = condd_options_new();
    if (opts == NULL || condd_options_set_client_name(opts, "shard-cross/c") != CONDD_OK) {
        fprintf(stderr, "shard_cross_hold: out of memory\n");
        return 1;
    }
    condd_conn *conn = NULL;
    int rc = condd_conn_open(argv[1], opts, &conn);
    condd_options_free(opts);
    if (rc != CONDD_OK) {
        fprintf(stderr, "shard_cross_hold: open %s: %s\n", argv[1], condd_strerror(rc));
        return 1;
    }
    static char *names[MAX_NAMES];
    size_t n = 0;
    char line[1024];
    int status = 0;
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, "go") == 0)
            break;
        if (n == MAX_NAMES || (names[n] = strdup(line)) == NULL) {
            fprintf(stderr, "shard_cross_hold: too many names\n");
            status = 1;
            goto out;
        }
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t token = 0;
        rc = condd_lock_acquire(conn, names[i], 0, CONDD_FOREVER, &token);
        if (rc != CONDD_OK) {
            fprintf(stderr, "shard_cross_hold: acquire '%s': %s: %s\n", names[i],
                    condd_strerror(rc), condd_conn_message(conn));
            status = 1;
            goto out;
        }
        const char *answered = condd_conn_server_addr(conn, condd_conn_server_index(conn));
        const char *routed = condd_conn_server_addr(conn, condd_conn_route(conn, names[i]));
        printf("%s\t%s\t%s\t%" PRIu64 "\n", names[i], answered ? answered : "?",
               routed ? routed : "?", token);
    }
    printf("held\n");
    fflush(stdout);
    /* Hold until the test closes our standard input. */
    while (fgets(line, sizeof line, stdin) != NULL)
        ;
    for (size_t i = 0; i < n; i++) {
        rc = condd_lock_release(conn, names[i], 0);
        if (rc != CONDD_OK) {
            fprintf(stderr, "shard_cross_hold: release '%s': %s\n", names[i], condd_strerror(rc));
            status = 1;
            goto out;
        }
    }
    printf("released\n");
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    condd_conn_close(conn);
    fflush(stdout);
    return status;
}
