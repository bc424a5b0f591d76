/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Example of libcondd's blocking API: a critical section guarded by a condd lock. Each round
 * takes the lock, reads a counter from FILE, writes it back incremented, and releases. Any number
 * of copies of this program may run at once against one condd: the final count is exact, because
 * the read-modify-write never overlaps. The fencing token of each grant is written next to the
 * count, as a storage system would check it to reject a holder whose lock had expired.
 *
 * Usage: critical [-s ADDR] [-n ROUNDS] [-T SECONDS] FILE
 */

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <condd/condd.h>

#define LOCK "example/critical"

static long read_count(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld", &n) != 1)
        n = 0;
    fclose(f);
    return n;
}

static int write_count(const char *path, long n, uint64_t token)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%ld %" PRIu64 "\n", n, token);
    return fclose(f);
}

int main(int argc, char **argv)
{
    const char *addr = NULL;
    int rounds = 10;
    double timeout = CONDD_FOREVER;
    int opt;
    while ((opt = getopt(argc, argv, "s:n:T:")) != -1) {
        switch (opt) {
        case 's':
            addr = optarg;
            break;
        case 'n':
            rounds = atoi(optarg);
            break;
        case 'T':
            timeout = atof(optarg);
            break;
        default:
            fprintf(stderr, "usage: critical [-s ADDR] [-n ROUNDS] [-T SECONDS] FILE\n");
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: critical [-s ADDR] [-n ROUNDS] [-T SECONDS] FILE\n");
        return 2;
    }
    const char *path = argv[optind];

    condd_conn *conn = NULL;
    int rc = condd_conn_open(addr, NULL, &conn);
    if (rc != CONDD_OK) {
        fprintf(stderr, "critical: cannot connect: %s\n", condd_strerror(rc));
        return 3;
    }
    for (int i = 0; i < rounds; i++) {
        uint64_t token = 0;
        rc = condd_lock_acquire(conn, LOCK, 0, timeout, &token);
        if (rc != CONDD_OK) {
            fprintf(stderr, "critical: acquire: %s (%s)\n", condd_strerror(rc),
                    condd_conn_message(conn));
            break;
        }
        /* The critical section. */
        if (write_count(path, read_count(path) + 1, token) != 0) {
            perror(path);
            rc = -1;
        }
        int rrc = condd_lock_release(conn, LOCK, 0);
        if (rrc != CONDD_OK) {
            fprintf(stderr, "critical: release: %s\n", condd_strerror(rrc));
            rc = rrc;
        }
        if (rc != CONDD_OK)
            break;
    }
    condd_conn_close(conn);
    return rc == CONDD_OK ? 0 : 1;
}
