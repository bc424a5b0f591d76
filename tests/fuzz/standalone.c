/* SPDX-License-Identifier: BSD-2-Clause
 *
 * A main for the fuzz targets when libFuzzer is not there (the ordinary gcc build CI uses):
 * runs LLVMFuzzerTestOneInput() over every file of the seed corpus, then over deterministic
 * pseudo-random mutations of them (fixed seed), so make check exercises each harness and its
 * invariants in every build, ASan and UBSan included. With arguments it runs those files (or
 * every file of those directories) instead, and no mutations: the way to replay a crash found
 * by libFuzzer without clang. If an input crashes, it is written to ./crash-replay-TARGET
 * before the process dies.
 *
 * Environment: FUZZ_MUTATIONS (default FUZZ_DEFAULT_MUTATIONS) sets the number of mutations;
 * top_srcdir (set by make check) locates tests/fuzz/corpus/TARGET.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fuzz.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET (the corpus folder name) must be defined"
#endif
#ifndef FUZZ_DEFAULT_MUTATIONS
#define FUZZ_DEFAULT_MUTATIONS 2000
#endif
#define FUZZ_MAX_INPUT 65536

struct input {
    uint8_t *data;
    size_t len;
    char *name;
};

static struct input *inputs;
static size_t ninputs, capinputs;

/* ------------------------------------------------------------------ crash capture */

/* The input being run, for the crash handler. */
static const uint8_t *current_data;
static size_t current_len;

static void standalone_save_current(void)
{
    int fd = open("crash-replay-" FUZZ_TARGET, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return;
    size_t off = 0;
    while (off < current_len) {
        ssize_t n = write(fd, current_data + off, current_len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    static const char msg[] =
        "fuzz replay: the failing input is in ./crash-replay-" FUZZ_TARGET "\n";
    ssize_t n = write(2, msg, sizeof msg - 1);
    (void)n;
}

static void standalone_on_signal(int sig)
{
    standalone_save_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The sanitizers exit without a signal; both gcc's and clang's runtimes offer this hook. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

/* ------------------------------------------------------------------ corpus */

static void standalone_add_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        perror(path);
        exit(1);
    }
    uint8_t *buf = malloc(FUZZ_MAX_INPUT);
    size_t len = buf != NULL ? fread(buf, 1, FUZZ_MAX_INPUT, fp) : 0;
    fclose(fp);
    if (buf == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    if (ninputs == capinputs) {
        capinputs = capinputs > 0 ? 2 * capinputs : 64;
        inputs = realloc(inputs, capinputs * sizeof *inputs);
        if (inputs == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    inputs[ninputs++] = (struct input){buf, len, strdup(path)};
}

static int standalone_cmp(const void *a, const void *b)
{
    return strcmp(((const struct input *)a)->name, ((const struct input *)b)->name);
}

/* Adds path, or every regular file in it if it is a directory (sorted: a fixed order keeps the
 * mutations reproducible). */
static void standalone_add(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        exit(1);
    }
    if (!S_ISDIR(st.st_mode)) {
        standalone_add_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        perror(path);
        exit(1);
    }
    size_t first = ninputs;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *p;
        if (asprintf(&p, "%s/%s", path, de->d_name) < 0)
            exit(1);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            standalone_add_file(p);
        free(p);
    }
    closedir(d);
    qsort(inputs + first, ninputs - first, sizeof *inputs, standalone_cmp);
}

/* ------------------------------------------------------------------ mutations */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    /* xorshift64*: small, fast, the same sequence everywhere. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Applies 1 to 4 byte-level mutations in the spirit of libFuzzer's to buf[0..*len). */
static void standalone_mutate(uint8_t *buf, size_t *len)
{
    static const uint8_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, 0x40, 0x3f, 0x10};
    int rounds = 1 + (int)(rng() % 4);
    for (int r = 0; r < rounds; r++) {
        size_t n = *len;
        size_t pos = n > 0 ? rng() % n : 0;
        switch (rng() % 7) {
        case 0: /* flip a bit */
            if (n > 0)
                buf[pos] ^= (uint8_t)(1u << (rng() % 8));
            break;
        case 1: /* a random byte */
            if (n > 0)
                buf[pos] = (uint8_t)rng();
            break;
        case 2: /* an interesting byte */
            if (n > 0)
                buf[pos] = interesting[rng() % sizeof interesting];
            break;
        case 3: /* insert a byte */
            if (n < FUZZ_MAX_INPUT) {
                memmove(buf + pos + 1, buf + pos, n - pos);
                buf[pos] = (uint8_t)rng();
                *len = n + 1;
            }
            break;
        case 4: /* delete a run of bytes */
            if (n > 1) {
                size_t k = 1 + rng() % (n - pos < 8 ? n - pos : 8);
                memmove(buf + pos, buf + pos + k, n - pos - k);
                *len = n - k;
            }
            break;
        case 5: { /* duplicate a run of bytes */
            size_t k = n > 0 ? 1 + rng() % (n - pos < 16 ? n - pos : 16) : 0;
            if (n + k <= FUZZ_MAX_INPUT) {
                memmove(buf + pos + k, buf + pos, n - pos);
                *len = n + k;
            }
            break;
        }
        case 6: { /* splice in the tail of another input */
            const struct input *o = &inputs[rng() % ninputs];
            size_t from = o->len > 0 ? rng() % o->len : 0;
            size_t k = o->len - from;
            if (pos + k > FUZZ_MAX_INPUT)
                k = FUZZ_MAX_INPUT - pos;
            memcpy(buf + pos, o->data + from, k);
            *len = pos + k;
            break;
        }
        }
    }
}

/* ------------------------------------------------------------------ main */

static void standalone_run(const uint8_t *data, size_t len)
{
    /* A copy of exactly len bytes, so that ASan sees any read past the end of the input. */
    uint8_t *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        exit(1);
    memcpy(copy, data, len);
    current_data = copy;
    current_len = len;
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
}

int main(int argc, char **argv)
{
    signal(SIGABRT, standalone_on_signal);
    signal(SIGSEGV, standalone_on_signal);
    signal(SIGBUS, standalone_on_signal);
    signal(SIGFPE, standalone_on_signal);
    if (__sanitizer_set_death_callback != NULL)
        __sanitizer_set_death_callback(standalone_save_current);

    long mutations = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            standalone_add(argv[i]);
    } else {
        const char *top = getenv("top_srcdir");
        char *dir;
        if (asprintf(&dir, "%s/tests/fuzz/corpus/%s", top != NULL ? top : ".", FUZZ_TARGET) < 0)
            return 1;
        standalone_add(dir);
        free(dir);
        const char *m = getenv("FUZZ_MUTATIONS");
        mutations = m != NULL ? strtol(m, NULL, 10) : FUZZ_DEFAULT_MUTATIONS;
    }
    if (ninputs == 0) {
        fprintf(stderr, "fuzz replay: no inputs\n");
        return 1;
    }

    double t0 = clk_mono();
    for (size_t i = 0; i < ninputs; i++)
        standalone_run(inputs[i].data, inputs[i].len);
    uint8_t *buf = malloc(FUZZ_MAX_INPUT);
    if (buf == NULL)
        return 1;
    for (long k = 0; k < mutations; k++) {
        const struct input *seed = &inputs[rng() % ninputs];
        size_t len = seed->len;
        memcpy(buf, seed->data, len);
        standalone_mutate(buf, &len);
        standalone_run(buf, len);
    }
    printf("fuzz replay (%s): %zu corpus files and %ld mutations in %.2f s\n", FUZZ_TARGET, ninputs,
           mutations, clk_mono() - t0);

    free(buf);
    for (size_t i = 0; i < ninputs; i++) {
        free(inputs[i].data);
        free(inputs[i].name);
    }
    free(inputs);
    return 0;
}
