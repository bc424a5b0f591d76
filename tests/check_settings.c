/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The daemon's settings table (daemon/settings.c) and the config file reader (daemon/conffile.c),
 * driven row by row: each row parses its default and refuses values out of its range, --help
 * shows every row once, getopt's options come from the table, the config file takes every key
 * and refuses unknown ones with their line number, and the reload merge keeps the keys that need
 * a restart. The tests walk settings_table[] rather than naming keys, so a new row is covered as
 * soon as it is added. The daemon's own reload (SIGHUP) is exercised end to end in
 * check_service.c.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conffile.h"
#include "settings.h"
#include "testutil.h"

/* ------------------------------------------------------------------ helpers */

/* A valid value for def that differs from its default (and from the initial value). */
static const char *sample_value(const struct settings_def *def, char *buf, size_t len)
{
    switch (def->type) {
    case SETTINGS_UINT: /* min, or min + 1 where min is the default (max-handshakes' 0) */
        snprintf(buf, len, "%.0f",
                 def->min + (def->def != NULL && strtod(def->def, NULL) == def->min));
        return buf;
    case SETTINGS_SECONDS:
        snprintf(buf, len, "%g", def->min);
        return buf;
    case SETTINGS_MODE:
        return "0600";
    case SETTINGS_ADDR:
        return "127.0.0.1:9";
    case SETTINGS_SERVERS: /* a list holding the SETTINGS_SERVER sample, so the two agree */
        return "127.0.0.1:9, 127.0.0.2:9";
    case SETTINGS_SERVER:
        return "127.0.0.1:9";
    case SETTINGS_STRING: /* a row with words takes only those: its last one */
        if (def->words != NULL) {
            size_t n = 0;
            while (def->words[n + 1] != NULL)
                n++;
            return def->words[n];
        }
        return "/tmp/condd-check-settings";
    case SETTINGS_LOG_LEVEL:
        return "debug";
    case SETTINGS_HELP:
    case SETTINGS_VERSION:
    case SETTINGS_NEW_TOKEN:
    case SETTINGS_HASH_TOKEN:
        break;
    }
    return NULL;
}

/* A settings struct with every value row at its sample value. */
static void set_samples(struct settings *s)
{
    char err[256], buf[64];
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        if (!settings_takes_value(def))
            continue;
        const char *v = sample_value(def, buf, sizeof buf);
        ck_assert_msg(settings_set(s, def, v, err, sizeof err), "%s = %s: %s", def->name, v, err);
    }
}

/* Collapses every run of whitespace in text into one space, in place. */
static void squeeze_spaces(char *text)
{
    char *w = text;
    bool space = false;
    for (const char *r = text; *r != '\0'; r++) {
        if (*r == ' ' || *r == '\n' || *r == '\t') {
            space = true;
            continue;
        }
        if (space && w != text)
            *w++ = ' ';
        space = false;
        *w++ = *r;
    }
    *w = '\0';
}

/* Checks that usage text shows every row of the table exactly once as an option entry, with
 * its short option, value name, range and default. */
static void check_usage_lists_every_row_once(const char *usage)
{
    int count[64] = {0};
    char *copy = strdup(usage);
    ck_assert_ptr_nonnull(copy);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        /* Entries start "  -x, --name" or "      --name"; continuation lines are indented
         * further and start with a word. */
        const char *dd = NULL;
        if (strncmp(line, "  -", 3) == 0 && line[3] != '-')
            dd = line + 6;
        else if (strncmp(line, "      --", 8) == 0)
            dd = line + 6;
        if (dd == NULL)
            continue;
        ck_assert_msg(strncmp(dd, "--", 2) == 0, "odd entry: %s", line);
        size_t n = strcspn(dd + 2, " ");
        bool found = false;
        for (size_t i = 0; i < settings_count; i++) {
            if (strlen(settings_table[i].name) == n &&
                strncmp(settings_table[i].name, dd + 2, n) == 0) {
                count[i]++;
                found = true;
                if (settings_table[i].short_name != 0)
                    ck_assert_int_eq(line[3], settings_table[i].short_name);
            }
        }
        ck_assert_msg(found, "an entry for no row of the table: %s", line);
    }
    free(copy);

    char *flat = strdup(usage);
    ck_assert_ptr_nonnull(flat);
    squeeze_spaces(flat);
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        ck_assert_msg(count[i] == 1, "--%s listed %d times", def->name, count[i]);
        char want[256];
        if (def->arg != NULL) {
            snprintf(want, sizeof want, "--%s %s ", def->name, def->arg);
            ck_assert_msg(strstr(flat, want) != NULL, "no '%s' in --help", want);
        }
        if (def->def != NULL) {
            snprintf(want, sizeof want, "default %s", def->def);
            ck_assert_msg(strstr(flat, want) != NULL, "no '%s' in --help", want);
        }
        if (def->type == SETTINGS_UINT || def->type == SETTINGS_SECONDS ||
            def->type == SETTINGS_MODE) {
            if (def->type == SETTINGS_UINT)
                snprintf(want, sizeof want, "(%.0f to %.0f", def->min, def->max);
            else if (def->type == SETTINGS_MODE)
                snprintf(want, sizeof want, "(octal %04o to %04o", (unsigned)def->min,
                         (unsigned)def->max);
            else
                snprintf(want, sizeof want, "(%g to %g", def->min, def->max);
            ck_assert_msg(strstr(flat, want) != NULL, "no '%s' in --help", want);
        }
    }
    free(flat);
}

/* Runs the condd binary with args; returns its wait status and what it wrote to stdout (out)
 * and stderr (errout), each NUL-terminated (caller frees). */
static int run_condd(const char *const *args, char **out, char **errout)
{
    int po[2], pe[2];
    ck_assert_int_eq(pipe(po), 0);
    ck_assert_int_eq(pipe(pe), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        const char *argv[16];
        int n = 0;
        argv[n++] = tu_condd_path();
        for (int i = 0; args[i] != NULL && n < 15; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    /* The outputs are a few kilobytes: read stdout to its end, then stderr (no deadlock as
     * long as each fits a pipe buffer). */
    int fds[2] = {po[0], pe[0]};
    char **bufs[2] = {out, errout};
    for (int k = 0; k < 2; k++) {
        size_t len = 0, cap = 65536;
        char *b = malloc(cap);
        ck_assert_ptr_nonnull(b);
        ssize_t r;
        while ((r = read(fds[k], b + len, cap - 1 - len)) > 0)
            len += (size_t)r;
        b[len] = '\0';
        close(fds[k]);
        *bufs[k] = b;
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return st;
}

/* Writes text to a new file in a scratch directory; path receives its name. */
static void write_conf(char *path, size_t len, const char *text)
{
    char dir[] = "/tmp/condd-check-settings.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, len, "%s/condd.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void remove_conf(const char *path)
{
    unlink(path);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
        rmdir(dir);
    }
}

/* ------------------------------------------------------------------ the table itself */

START_TEST(test_table_rows_are_well_formed)
{
    ck_assert_uint_gt(settings_count, 0);
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        ck_assert_ptr_nonnull(def->name);
        ck_assert_ptr_nonnull(def->help);
        ck_assert_ptr_eq(settings_find(def->name), def);
        for (size_t j = 0; j < i; j++) {
            ck_assert_str_ne(settings_table[j].name, def->name);
            if (def->short_name != 0)
                ck_assert_int_ne(settings_table[j].short_name, def->short_name);
        }
        if (!settings_takes_value(def)) {
            /* Actions have no value; --hash-token's argument is named for --help. */
            if (settings_action_takes_arg(def))
                ck_assert_ptr_nonnull(def->arg);
            else
                ck_assert_ptr_null(def->arg);
            ck_assert(def->flags & SETTINGS_CLI_ONLY);
            continue;
        }
        ck_assert_msg(def->arg != NULL, "%s has no value name for --help", def->name);
        ck_assert_uint_gt(def->size, 0);
        ck_assert_uint_le(def->offset + def->size, sizeof(struct settings));
        /* A key the file cannot set cannot change on reload either. */
        ck_assert(!((def->flags & SETTINGS_CLI_ONLY) && (def->flags & SETTINGS_RELOADABLE)));
        switch (def->type) {
        case SETTINGS_UINT:
            ck_assert(def->size == 4 || def->size == 8);
            ck_assert(def->min <= def->max);
            ck_assert(def->size == 8 || def->max <= 4294967295.0);
            break;
        case SETTINGS_SECONDS:
            ck_assert_uint_eq(def->size, sizeof(double));
            ck_assert(def->min <= def->max);
            break;
        case SETTINGS_MODE:
            ck_assert_uint_eq(def->size, sizeof(unsigned));
            ck_assert(def->min <= def->max && def->max <= 07777);
            break;
        case SETTINGS_STRING:
        case SETTINGS_ADDR:
        case SETTINGS_SERVERS:
        case SETTINGS_SERVER:
            if (def->flags & SETTINGS_REPEATABLE)
                ck_assert_uint_eq(def->size, sizeof(struct settings_list));
            else
                ck_assert_uint_eq(def->size, sizeof(char *));
            break;
        case SETTINGS_LOG_LEVEL:
            ck_assert_uint_eq(def->size, sizeof(enum log_level));
            break;
        default:
            ck_abort_msg("%s: a value row of type %d", def->name, def->type);
        }
        if (def->flags & SETTINGS_REPEATABLE)
            ck_assert(def->type == SETTINGS_STRING || def->type == SETTINGS_ADDR);
    }
    ck_assert_ptr_null(settings_find("no-such-key"));
}
END_TEST

START_TEST(test_every_row_parses_its_default)
{
    struct settings init, s;
    settings_init(&init);
    settings_init(&s);
    char err[256], buf[256];
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        if (!settings_takes_value(def) || def->def == NULL)
            continue;
        ck_assert_msg(settings_set(&s, def, def->def, err, sizeof err), "%s = %s: %s", def->name,
                      def->def, err);
        settings_format(&s, def, buf, sizeof buf);
        ck_assert_str_eq(buf, def->def);
        /* Numbers and the level start at their default; strings and lists start unset and
         * show the default they stand for (a list) or "(none)". */
        settings_format(&init, def, buf, sizeof buf);
        if (def->type != SETTINGS_STRING && def->type != SETTINGS_ADDR &&
            def->type != SETTINGS_SERVERS && def->type != SETTINGS_SERVER)
            ck_assert_str_eq(buf, def->def);
        else if (def->flags & SETTINGS_REPEATABLE)
            ck_assert_str_eq(buf, def->def);
        else
            ck_assert_str_eq(buf, "(none)");
    }
    settings_clear(&s);
    settings_clear(&init);
}
END_TEST

/* Sets def to v and expects a refusal whose reason contains why, with s unchanged. */
static void expect_refused(struct settings *s, const struct settings_def *def, const char *v,
                           const char *why)
{
    struct settings before;
    settings_init(&before);
    ck_assert(settings_copy(&before, s));
    char err[256] = "";
    ck_assert_msg(!settings_set(s, def, v, err, sizeof err), "%s accepted '%s'", def->name, v);
    ck_assert_msg(strstr(err, why) != NULL, "%s = '%s': '%s' does not say '%s'", def->name, v, err,
                  why);
    ck_assert_msg(settings_equal(s, &before, def), "%s changed by a refused value", def->name);
    settings_clear(&before);
}

static void expect_accepted(struct settings *s, const struct settings_def *def, const char *v)
{
    char err[256] = "";
    ck_assert_msg(settings_set(s, def, v, err, sizeof err), "%s = '%s': %s", def->name, v, err);
}

START_TEST(test_every_row_refuses_values_out_of_its_range)
{
    struct settings s;
    settings_init(&s);
    char lo[64], hi[64];
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        switch (def->type) {
        case SETTINGS_UINT:
            snprintf(lo, sizeof lo, "%.0f", def->min);
            snprintf(hi, sizeof hi, "%.0f", def->max);
            expect_accepted(&s, def, lo);
            expect_accepted(&s, def, hi);
            snprintf(hi, sizeof hi, "%.0f", def->max + 1);
            expect_refused(&s, def, hi, "out of range");
            if (def->min > 0) {
                snprintf(lo, sizeof lo, "%.0f", def->min - 1);
                expect_refused(&s, def, lo, "out of range");
            }
            expect_refused(&s, def, "-1", "not a whole number");
            expect_refused(&s, def, "12abc", "not a whole number");
            expect_refused(&s, def, "99999999999999999999999", "not a whole number");
            break;
        case SETTINGS_SECONDS:
            snprintf(lo, sizeof lo, "%g", def->min);
            snprintf(hi, sizeof hi, "%g", def->max);
            expect_accepted(&s, def, lo);
            expect_accepted(&s, def, hi);
            snprintf(hi, sizeof hi, "%g", def->max + 0.5);
            expect_refused(&s, def, hi, "out of range");
            snprintf(lo, sizeof lo, "%g", def->min - 0.5);
            expect_refused(&s, def, lo, "out of range");
            expect_refused(&s, def, "soon", "not a number of seconds");
            expect_refused(&s, def, "inf", "not a number of seconds");
            break;
        case SETTINGS_MODE:
            snprintf(lo, sizeof lo, "%04o", (unsigned)def->min);
            snprintf(hi, sizeof hi, "%04o", (unsigned)def->max);
            expect_accepted(&s, def, lo);
            expect_accepted(&s, def, hi);
            snprintf(hi, sizeof hi, "%04o", (unsigned)def->max + 1);
            expect_refused(&s, def, hi, "out of range");
            expect_refused(&s, def, "0778", "not an octal mode");
            expect_refused(&s, def, "rw-rw----", "not an octal mode");
            expect_refused(&s, def, "", "not an octal mode");
            expect_refused(&s, def, "01234", "not an octal mode");
            break;
        case SETTINGS_ADDR:
            expect_refused(&s, def, "nowhere", "is not HOST:PORT or [IPV6]:PORT");
            expect_refused(&s, def, "127.0.0.1:70000", "is not HOST:PORT");
            break;
        case SETTINGS_SERVERS:
            expect_accepted(&s, def, "a:7380, b:7380,unix:/run/c.sock");
            expect_refused(&s, def, "", "empty server list");
            expect_refused(&s, def, "a:7380,,b:7380", "empty entry");
            expect_refused(&s, def, "a:7380,A:7380", "twice in the list");
            expect_refused(&s, def, "a:7380,b:70000", "bad address 'b:70000'");
            break;
        case SETTINGS_SERVER:
            expect_accepted(&s, def, "tls:a.example");
            expect_refused(&s, def, "a:70000", "not a server address");
            expect_refused(&s, def, "", "not a server address");
            break;
        case SETTINGS_STRING:
            if (def->min >= 1)
                expect_refused(&s, def, "", "empty value");
            else
                expect_accepted(&s, def, "");
            break;
        case SETTINGS_LOG_LEVEL:
            expect_refused(&s, def, "loud", "not one of error, warning, notice, info, debug");
            break;
        case SETTINGS_HELP:
        case SETTINGS_VERSION:
        case SETTINGS_NEW_TOKEN:
        case SETTINGS_HASH_TOKEN:
            expect_refused(&s, def, "1", "takes no value");
            break;
        }
    }
    settings_clear(&s);
}
END_TEST

START_TEST(test_repeatable_rows_cap_and_replace_per_source)
{
    char err[256], v[64];
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        if (!(def->flags & SETTINGS_REPEATABLE))
            continue;
        struct settings s;
        settings_init(&s);
        struct settings_source file = {0};
        for (int k = 0; k < SETTINGS_MAX_LISTEN; k++) {
            snprintf(v, sizeof v, "127.0.0.1:%d", 1000 + k);
            ck_assert(settings_source_set(&file, &s, def, v, err, sizeof err));
        }
        expect_refused(&s, def, "127.0.0.1:1", "at most");
        /* A new source starts a new list rather than adding to the full one. */
        struct settings_source cli = {0};
        ck_assert(settings_source_set(&cli, &s, def, "127.0.0.1:2", err, sizeof err));
        ck_assert(settings_source_set(&cli, &s, def, "127.0.0.1:3", err, sizeof err));
        char buf[256];
        settings_format(&s, def, buf, sizeof buf);
        ck_assert_str_eq(buf, "127.0.0.1:2, 127.0.0.1:3");
        settings_clear(&s);
    }
}
END_TEST

/* ------------------------------------------------------------------ the command line */

START_TEST(test_help_lists_every_option_of_the_table_once)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    settings_usage(f);
    ck_assert_int_eq(fclose(f), 0);
    check_usage_lists_every_row_once(text);
    free(text);
}
END_TEST

START_TEST(test_condd_help_lists_every_option_once_and_exits_0)
{
    char *out, *err;
    const char *args[] = {"--help", NULL};
    int st = run_condd(args, &out, &err);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %#x", st);
    ck_assert_ptr_nonnull(strstr(out, "Usage: condd"));
    check_usage_lists_every_row_once(out);
    /* Nor is any option named again in another's text. */
    for (size_t i = 0; i < settings_count; i++) {
        char opt[80];
        snprintf(opt, sizeof opt, "--%s", settings_table[i].name);
        int seen = 0;
        for (const char *p = strstr(out, opt); p != NULL; p = strstr(p + 1, opt)) {
            char next = p[strlen(opt)];
            if (!((next >= 'a' && next <= 'z') || next == '-'))
                seen++;
        }
        ck_assert_msg(seen == 1, "%s appears %d times in --help", opt, seen);
    }
    ck_assert_str_eq(err, "");
    free(out);
    free(err);
}
END_TEST

/* A bad option or value: the reason on one line, a pointer to --help on a second, exit 2; not
 * the whole --help, which scrolls the reason away. */
START_TEST(test_condd_bad_option_or_value_prints_one_line_and_exits_2)
{
    const char *const cases[][4] = {
        {"--no-such-option", NULL},       {"--max-pending", NULL}, /* no value */
        {"--max-pending", "0", NULL},     {"--log-level", "loud", NULL},
        {"-l", "nowhere", NULL},          {"--listen", "127.0.0.1:0", "stray", NULL},
        {"--max-connections", "0", NULL}, {"--keep-state-on-stop", "maybe", NULL},
    };
    const char *const reasons[] = {
        "no-such-option",
        "requires an argument",
        "condd: --max-pending: '0' is out of range [1, 100000000]",
        "condd: --log-level: 'loud' is not one of",
        "condd: --listen: 'nowhere' is not HOST:PORT",
        "condd: unexpected argument 'stray'",
        "condd: --max-connections: '0' is out of range [1, 1000000]",
        "condd: --keep-state-on-stop: 'maybe' is not one of auto, yes, no",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out, *err;
        int st = run_condd(cases[i], &out, &err);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: exit status %#x", cases[i][0],
                      st);
        /* Only the start of err in messages: the old behaviour printed kilobytes. */
        const char *nl = strchr(err, '\n');
        ck_assert_msg(nl != NULL, "%s: no line on stderr", cases[i][0]);
        ck_assert_msg(memmem(err, (size_t)(nl - err), reasons[i], strlen(reasons[i])) != NULL,
                      "no '%s' in the first line: %.200s", reasons[i], err);
        ck_assert_msg(strcmp(nl + 1, "try 'condd --help'\n") == 0,
                      "%s: more than the reason and a pointer to --help: %.200s", cases[i][0],
                      nl + 1);
        ck_assert_str_eq(out, "");
        free(out);
        free(err);
    }
}
END_TEST

/* keep-state-on-stop takes auto, yes or no: another word is a bad option (exit 2, one line),
 * refused before anything is opened, so a busy listen address does not hide it; the same from
 * a config file, with the file and line. */
START_TEST(test_condd_bad_keep_state_word_exits_2_before_listening)
{
    /* A port held here: condd would fail on it with "Address already in use" (exit 1) if it
     * opened its listeners before checking the word. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));

    char path[512], text[256];
    snprintf(text, sizeof text, "listen = %s\nkeep-state-on-stop = maybe\n", addr);
    write_conf(path, sizeof path, text);
    char want_conf[768];
    snprintf(want_conf, sizeof want_conf, "condd: %s:2: 'maybe' is not one of auto, yes, no\n",
             path);
    const char *const cli[] = {"--listen", addr, "--keep-state-on-stop", "maybe", NULL};
    const char *const conf[] = {"-c", path, NULL};
    const char *const *cases[] = {cli, conf};
    const char *wants[] = {"condd: --keep-state-on-stop: 'maybe' is not one of auto, yes, no\n",
                           want_conf};
    for (size_t i = 0; i < 2; i++) {
        char *out, *err;
        int st = run_condd(cases[i], &out, &err);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "case %zu: exit status %#x: %s", i, st,
                      err);
        ck_assert_msg(strncmp(err, wants[i], strlen(wants[i])) == 0, "'%s' does not start '%s'",
                      err, wants[i]);
        ck_assert_msg(strstr(err, "listening") == NULL && strstr(err, "in use") == NULL,
                      "opened something first:\n%s", err);
        free(out);
        free(err);
    }
    remove_conf(path);
    close(fd);
}
END_TEST

/* An auth file that cannot be read is named with its key, and with the config file's line when
 * the file gave it, as the config file's own errors are: exit 2, one line. */
START_TEST(test_condd_missing_auth_file_names_the_key_and_the_config_line)
{
    char path[512];
    write_conf(path, sizeof path,
               "listen = 127.0.0.1:0\n# the next line names a file that is not there\n"
               "auth-file = /nonexistent/condd-auth\n");
    char want_conf[768];
    snprintf(want_conf, sizeof want_conf,
             "condd: %s:3: auth-file /nonexistent/condd-auth: No such file or directory\n", path);
    const char *const conf[] = {"-c", path, NULL};
    /* The command line overrides the file's value: no line of the file to point at. */
    const char *const cli[] = {"-c", path, "--auth-file", "/nonexistent/other", NULL};
    const char *const *cases[] = {conf, cli};
    const char *wants[] = {want_conf,
                           "condd: auth-file /nonexistent/other: No such file or directory\n"};
    for (size_t i = 0; i < 2; i++) {
        char *out, *err;
        int st = run_condd(cases[i], &out, &err);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "case %zu: exit status %#x", i, st);
        ck_assert_str_eq(err, wants[i]);
        free(out);
        free(err);
    }
    remove_conf(path);
}
END_TEST

START_TEST(test_getopt_options_come_from_the_table)
{
    struct settings_getopt g;
    settings_getopt_init(&g);
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        ck_assert_str_eq(g.longopts[i].name, def->name);
        bool arg = settings_takes_value(def) || settings_action_takes_arg(def);
        ck_assert_int_eq(g.longopts[i].has_arg, arg ? required_argument : no_argument);
        ck_assert_ptr_eq(settings_from_getopt(g.longopts[i].val), def);
        if (def->short_name != 0) {
            const char *p = strchr(g.shortopts, def->short_name);
            ck_assert_ptr_nonnull(p);
            ck_assert_int_eq(p[1] == ':', arg);
        }
    }
    ck_assert_ptr_null(g.longopts[settings_count].name);
    ck_assert_ptr_null(settings_from_getopt('?'));
    ck_assert_ptr_null(settings_from_getopt(':'));

    /* Every value row spelled as a long option parses back to its row. */
    char *argv[2 * 64 + 2];
    char vals[64][64], opts[64][80];
    int argc = 0;
    argv[argc++] = (char *)"condd";
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        if (!settings_takes_value(def))
            continue;
        snprintf(opts[i], sizeof opts[i], "--%s", def->name);
        argv[argc++] = opts[i];
        argv[argc++] = (char *)sample_value(def, vals[i], sizeof vals[i]);
    }
    argv[argc] = NULL;
    optind = 0; /* glibc: re-initialise */
    opterr = 0;
    struct settings s;
    settings_init(&s);
    int opt;
    char err[256];
    while ((opt = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1) {
        const struct settings_def *def = settings_from_getopt(opt);
        ck_assert_ptr_nonnull(def);
        ck_assert(settings_set(&s, def, optarg, err, sizeof err));
    }
    struct settings want;
    settings_init(&want);
    set_samples(&want);
    for (size_t i = 0; i < settings_count; i++)
        ck_assert_msg(settings_equal(&s, &want, &settings_table[i]), "%s", settings_table[i].name);
    settings_clear(&s);
    settings_clear(&want);
}
END_TEST

/* ------------------------------------------------------------------ the config file */

START_TEST(test_conffile_accepts_every_key_of_the_table)
{
    char text[4096] = "# every key\n";
    size_t used = strlen(text);
    char buf[64];
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        if (def->flags & SETTINGS_CLI_ONLY)
            continue;
        used += (size_t)snprintf(text + used, sizeof text - used, "  %s =  %s   # sample\n",
                                 def->name, sample_value(def, buf, sizeof buf));
    }
    char path[512];
    write_conf(path, sizeof path, text);
    struct settings s, want;
    settings_init(&s);
    settings_init(&want);
    set_samples(&want);
    char err[512];
    ck_assert_msg(conffile_load(path, &s, err, sizeof err), "%s", err);
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        if (!(def->flags & SETTINGS_CLI_ONLY))
            ck_assert_msg(settings_equal(&s, &want, def), "%s not set by the file", def->name);
    }
    remove_conf(path);
    settings_clear(&s);
    settings_clear(&want);
}
END_TEST

/* Loads text and expects a refusal naming line (1-based) and reason. */
static void expect_conf_refused(const char *text, unsigned line, const char *reason)
{
    char path[512];
    write_conf(path, sizeof path, text);
    struct settings s;
    settings_init(&s);
    char err[512] = "", want[768];
    ck_assert_msg(!conffile_load(path, &s, err, sizeof err), "accepted:\n%s", text);
    snprintf(want, sizeof want, "%s:%u: %s", path, line, reason);
    ck_assert_msg(strstr(err, want) != NULL, "'%s' does not say '%s'", err, want);
    remove_conf(path);
    settings_clear(&s);
}

START_TEST(test_conffile_refuses_unknown_and_command_line_keys_with_the_line)
{
    expect_conf_refused("# a comment\n\nlog-level = info\nbogus = 1\n", 4, "unknown key 'bogus'");
    expect_conf_refused("max-connection = 5\n", 1, "unknown key 'max-connection'");
    expect_conf_refused("\n\nlog-level debug\n", 3, "expected 'key = value'");
    expect_conf_refused("= 5\n", 1, "missing key before '='");
    char text[256], reason[256];
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        if (def->flags & SETTINGS_CLI_ONLY) {
            snprintf(text, sizeof text, "\n%s = x\n", def->name);
            snprintf(reason, sizeof reason, "'%s' can only be given on the command line",
                     def->name);
            expect_conf_refused(text, 2, reason);
        } else {
            snprintf(text, sizeof text, "# x\n%s =\n", def->name);
            snprintf(reason, sizeof reason, "missing value for '%s'", def->name);
            expect_conf_refused(text, 2, reason);
        }
    }
}
END_TEST

START_TEST(test_conffile_bad_value_gives_the_same_reason_as_the_option)
{
    struct settings s;
    settings_init(&s);
    char text[256], err[256];
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        if (def->flags & SETTINGS_CLI_ONLY)
            continue;
        const char *bad = def->type == SETTINGS_LOG_LEVEL ? "loud" : "not-a-value";
        if (def->type == SETTINGS_SERVERS || def->type == SETTINGS_SERVER)
            bad = "host:70000"; /* a bare word is a host name, with the default port */
        if (def->type == SETTINGS_STRING && def->words == NULL)
            continue; /* any non-empty string is a value */
        ck_assert(!settings_set(&s, def, bad, err, sizeof err));
        snprintf(text, sizeof text, "log-level = info\n\n%s = %s\n", def->name, bad);
        expect_conf_refused(text, 3, err);
    }
    settings_clear(&s);
}
END_TEST

/* ------------------------------------------------------------------ reload */

START_TEST(test_take_reloadable_keeps_restart_keys)
{
    struct settings cur, next, init;
    settings_init(&cur);
    settings_init(&next);
    settings_init(&init);
    set_samples(&next);
    int differ = 0;
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        if (settings_takes_value(def) && !(def->flags & SETTINGS_CLI_ONLY)) {
            ck_assert_msg(!settings_equal(&cur, &next, def), "%s: sample is the default",
                          def->name);
            differ++;
        }
    }
    /* Every key that differs is logged, reloadable or not. */
    ck_assert_int_eq(settings_log_changes(&cur, &next), differ);
    ck_assert_int_eq(settings_log_changes(&next, &next), 0);

    ck_assert(settings_take_reloadable(&cur, &next));
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        if (def->flags & SETTINGS_RELOADABLE)
            ck_assert_msg(settings_equal(&cur, &next, def), "%s not reloaded", def->name);
        else
            ck_assert_msg(settings_equal(&cur, &init, def), "%s changed on reload", def->name);
    }
    settings_clear(&cur);
    settings_clear(&next);
    settings_clear(&init);
}
END_TEST

START_TEST(test_copy_is_deep_and_clear_resets)
{
    struct settings a, b, init;
    settings_init(&a);
    settings_init(&b);
    settings_init(&init);
    set_samples(&a);
    ck_assert(settings_copy(&b, &a));
    for (size_t i = 0; i < settings_count; i++)
        ck_assert(settings_equal(&a, &b, &settings_table[i]));
    ck_assert_ptr_ne(a.unix_path, b.unix_path);
    ck_assert_ptr_ne(a.listen.v[0], b.listen.v[0]);
    settings_clear(&a); /* b stands alone */
    for (size_t i = 0; i < settings_count; i++)
        ck_assert(settings_equal(&a, &init, &settings_table[i]));
    char buf[64];
    settings_format(&b, settings_find("unix"), buf, sizeof buf);
    ck_assert_str_eq(buf, "/tmp/condd-check-settings");
    settings_clear(&b);
    settings_clear(&init);
}
END_TEST

/* ------------------------------------------------------------------ the documentation */

/* Reads $top_srcdir/rel into a NUL-terminated buffer (caller frees). */
static char *read_source_file(const char *rel)
{
    const char *src = getenv("top_srcdir");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", src != NULL ? src : "..", rel);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: cannot open", path);
    size_t cap = 1 << 20;
    char *b = malloc(cap);
    ck_assert_ptr_nonnull(b);
    size_t n = fread(b, 1, cap - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

/* The man page's OPTIONS section has one entry (a .TP paragraph) per row of the table. */
START_TEST(test_man_page_lists_exactly_the_table_options)
{
    char *man = read_source_file("docs/condd.8");
    char *sec = strstr(man, "\n.SH OPTIONS\n");
    ck_assert_ptr_nonnull(sec);
    char *end = strstr(sec + 1, "\n.SH ");
    ck_assert_ptr_nonnull(end);
    *end = '\0';
    int count[64] = {0};
    for (char *tp = strstr(sec, "\n.TP\n"); tp != NULL; tp = strstr(tp + 1, "\n.TP\n")) {
        /* The entry's heading line: its last "\-\-word" names the option. */
        char *line = tp + 5;
        size_t len = strcspn(line, "\n");
        char name[64] = "";
        for (char *p = line; p < line + len; p++) {
            if (strncmp(p, "\\-\\-", 4) != 0)
                continue;
            size_t k = 0;
            for (p += 4; p < line + len && k + 1 < sizeof name; p++) {
                if (strncmp(p, "\\-", 2) == 0) {
                    name[k++] = '-';
                    p++;
                } else if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')) {
                    name[k++] = *p;
                } else {
                    break;
                }
            }
            name[k] = '\0';
            break;
        }
        const struct settings_def *def = settings_find(name);
        ck_assert_msg(def != NULL, "condd.8 documents --%s, which is not in the table", name);
        count[def - settings_table]++;
    }
    for (size_t i = 0; i < settings_count; i++)
        ck_assert_msg(count[i] == 1, "condd.8 documents --%s %d times", settings_table[i].name,
                      count[i]);
    free(man);
}
END_TEST

/* The example config shows every file key of the table ("#key = value" lines) and no other. */
START_TEST(test_example_config_lists_exactly_the_table_keys)
{
    char *text = read_source_file("systemd/condd.conf.example");
    int count[64] = {0};
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            line++;
        size_t n = strspn(line, "abcdefghijklmnopqrstuvwxyz-");
        if (n == 0 || strncmp(line + n, " = ", 3) != 0)
            continue; /* prose */
        line[n] = '\0';
        const struct settings_def *def = settings_find(line);
        ck_assert_msg(def != NULL, "the example sets '%s', which is not in the table", line);
        ck_assert_msg(!(def->flags & SETTINGS_CLI_ONLY), "'%s' is not a file key", line);
        count[def - settings_table]++;
    }
    for (size_t i = 0; i < settings_count; i++) {
        const struct settings_def *def = &settings_table[i];
        if (!(def->flags & SETTINGS_CLI_ONLY))
            ck_assert_msg(count[i] >= 1, "the example does not show '%s'", def->name);
    }
    free(text);
}
END_TEST

/* ------------------------------------------------------------------ out of memory */

/* The settings code copies strings with strdup() only. This definition (the executable's wins
 * over the C library's) fails the call once oom_after more have succeeded, while armed (>= 0),
 * so each test can fail every allocation in turn. */
static int oom_after = -1;

char *strdup(const char *s)
{
    if (oom_after == 0)
        return NULL;
    if (oom_after > 0)
        oom_after--;
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/* Are a and b equal in every row? */
static bool all_equal(const struct settings *a, const struct settings *b)
{
    for (size_t i = 0; i < settings_count; i++)
        if (!settings_equal(a, b, &settings_table[i]))
            return false;
    return true;
}

START_TEST(test_out_of_memory_in_copy_and_reload_merge_changes_nothing)
{
    struct settings cur, next, before;
    settings_init(&cur);
    settings_init(&next);
    settings_init(&before);
    set_samples(&cur); /* strings to copy in every string row */
    set_samples(&next);
    char buf[64];
    ck_assert(settings_set(&next, settings_find("listen"), "127.0.0.1:8", buf, sizeof buf));
    ck_assert(settings_set(&next, settings_find("max-pending"), "7", buf, sizeof buf));
    ck_assert(settings_copy(&before, &cur));
    bool done = false;
    for (int k = 0; !done && k < 100; k++) {
        oom_after = k;
        bool ok = settings_take_reloadable(&cur, &next);
        oom_after = -1;
        if (ok) {
            done = true;
            break;
        }
        ck_assert_msg(all_equal(&cur, &before), "half a merge after %d allocations", k);
    }
    ck_assert(done);
    ck_assert_uint_eq(cur.max_pending, 7);
    ck_assert_str_eq(cur.listen.v[0], before.listen.v[0]); /* listen needs a restart */

    struct settings copy;
    settings_init(&copy);
    done = false;
    for (int k = 0; !done && k < 100; k++) {
        oom_after = k;
        bool ok = settings_copy(&copy, &next);
        oom_after = -1;
        if (ok) {
            done = true;
            break;
        }
        struct settings init;
        settings_init(&init);
        ck_assert_msg(all_equal(&copy, &init), "a failed copy changed its target (%d)", k);
        settings_clear(&init);
    }
    ck_assert(done);
    ck_assert(all_equal(&copy, &next));
    settings_clear(&copy);
    settings_clear(&cur);
    settings_clear(&next);
    settings_clear(&before);
}
END_TEST

START_TEST(test_out_of_memory_in_set_and_conffile_is_an_error)
{
    struct settings s, before;
    settings_init(&s);
    settings_init(&before);
    char err[512];
    const struct settings_def *listen = settings_find("listen");
    oom_after = 0;
    bool ok = settings_set(&s, listen, "127.0.0.1:1", err, sizeof err);
    oom_after = -1;
    ck_assert(!ok);
    ck_assert_str_eq(err, "out of memory");
    ck_assert(all_equal(&s, &before));

    char path[512];
    write_conf(path, sizeof path,
               "listen = 127.0.0.1:1\nlisten = 127.0.0.1:2\nunix = /tmp/x\nmetrics = "
               "127.0.0.1:3\nmax-pending = 9\n");
    bool done = false;
    for (int k = 0; !done && k < 100; k++) {
        oom_after = k;
        ok = conffile_load(path, &s, err, sizeof err);
        oom_after = -1;
        if (ok) {
            done = true;
            break;
        }
        ck_assert_msg(strstr(err, ": out of memory") != NULL, "after %d: %s", k, err);
        settings_clear(&s); /* the caller's scratch copy: it may be half-loaded */
    }
    ck_assert(done);
    ck_assert_int_eq(s.listen.n, 2);
    remove_conf(path);
    settings_clear(&s);
    settings_clear(&before);
}
END_TEST

static Suite *settings_suite(void)
{
    Suite *s = suite_create("settings");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_table_rows_are_well_formed);
    tcase_add_test(tc, test_every_row_parses_its_default);
    tcase_add_test(tc, test_every_row_refuses_values_out_of_its_range);
    tcase_add_test(tc, test_repeatable_rows_cap_and_replace_per_source);
    suite_add_tcase(s, tc);

    tc = tcase_create("command line");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_help_lists_every_option_of_the_table_once);
    tcase_add_test(tc, test_condd_help_lists_every_option_once_and_exits_0);
    tcase_add_test(tc, test_condd_bad_option_or_value_prints_one_line_and_exits_2);
    tcase_add_test(tc, test_condd_bad_keep_state_word_exits_2_before_listening);
    tcase_add_test(tc, test_condd_missing_auth_file_names_the_key_and_the_config_line);
    tcase_add_test(tc, test_getopt_options_come_from_the_table);
    suite_add_tcase(s, tc);

    tc = tcase_create("config file");
    tcase_add_test(tc, test_conffile_accepts_every_key_of_the_table);
    tcase_add_test(tc, test_conffile_refuses_unknown_and_command_line_keys_with_the_line);
    tcase_add_test(tc, test_conffile_bad_value_gives_the_same_reason_as_the_option);
    suite_add_tcase(s, tc);

    tc = tcase_create("documentation");
    tcase_add_test(tc, test_man_page_lists_exactly_the_table_options);
    tcase_add_test(tc, test_example_config_lists_exactly_the_table_keys);
    suite_add_tcase(s, tc);

    tc = tcase_create("reload");
    tcase_add_test(tc, test_take_reloadable_keeps_restart_keys);
    tcase_add_test(tc, test_copy_is_deep_and_clear_resets);
    tcase_add_test(tc, test_out_of_memory_in_copy_and_reload_merge_changes_nothing);
    tcase_add_test(tc, test_out_of_memory_in_set_and_conffile_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(settings_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
