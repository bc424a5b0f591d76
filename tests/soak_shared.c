/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The soak's shared pieces (tests/soak.h): the MAP_SHARED state the driver and the workers
 * check each other through (the driver maps it before forking), the options, the random numbers
 * and the process helpers both sides use.
 */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "soak.h"

/* ================================================================== shared state */

struct shm *S;

const char *const role_names[] = {"consumer", "producer", "relay", "plain"};

void bit_set(_Atomic uint64_t *bits, uint64_t inc)
{
    uint64_t i = inc % INC_SLOTS;
    atomic_fetch_or(&bits[i / 64], UINT64_C(1) << (i % 64));
}

void bit_clear(_Atomic uint64_t *bits, uint64_t inc)
{
    uint64_t i = inc % INC_SLOTS;
    atomic_fetch_and(&bits[i / 64], ~(UINT64_C(1) << (i % 64)));
}

bool bit_get(_Atomic uint64_t *bits, uint64_t inc)
{
    uint64_t i = inc % INC_SLOTS;
    return (atomic_load(&bits[i / 64]) >> (i % 64)) & 1;
}

void add(_Atomic uint64_t *counter)
{
    atomic_fetch_add(counter, 1);
}

/* ================================================================== options and helpers */

struct soak_options opt = {
    .duration = 30,
    .workers = 8,
    .kill_interval = 0.2,
    .restart_interval = 3,
    .drain_timeout = 20,
    .rss_factor = 2,
    .rss_slack_mib = 8,
};

uint64_t rng_state;

uint64_t rnd(void)
{
    /* xorshift64*: enough for picking victims and think times. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* A uniform double in [lo, hi). */
double rnd_between(double lo, double hi)
{
    return lo + (hi - lo) * (double)(rnd() >> 11) / (double)(UINT64_C(1) << 53);
}

void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL); /* an interrupting signal only shortens a poll interval */
}

/* Dies with SIGKILL when the driver dies, so nothing outlives a killed soak. */
void die_with_driver(pid_t driver)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    if (getppid() != driver)
        _exit(1); /* the driver died before the prctl */
}

void default_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* /proc/PID/status VmRSS in KiB, 0 when unreadable. */
uint64_t rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    uint64_t kib = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %" SCNu64, &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* True once pid is gone or a zombie. The kernel closes a killed process's sockets (so condd
 * hands its lock on) slightly before the process becomes a zombie: callers poll this. */
bool pid_dead(pid_t pid, uint64_t inc)
{
    if (bit_get(S->reaped, inc))
        return true;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold anything */
    return p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}
