/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condd's entry point: command-line options, process set-up (file limit, signals), listeners,
 * the port file, and the event loop with its graceful shutdown. Everything that serves clients
 * lives in server.c and below; exit() is only called here, before the loop starts.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "server.h"
#include "settings.h"

/* How long a stopping daemon waits for replies to drain before it closes connections anyway. */
#define MAIN_DRAIN_SECONDS 2.0

static void main_usage(FILE *out)
{
    fprintf(out,
            "Usage: condd [OPTION]...\n"
            "Serve named locks and condition variables over TCP and Unix sockets.\n"
            "\n"
            "  -l, --listen ADDR          listen on HOST:PORT or [IPV6]:PORT (repeatable;\n"
            "                             default " SETTINGS_DEFAULT_LISTEN "; port 0 picks one)\n"
            "  -u, --unix PATH            also listen on a Unix stream socket at PATH\n"
            "      --port-file FILE       write the first TCP port to FILE once listening\n"
            "      --max-connections N    refuse connections beyond N (default 10000)\n"
            "      --max-frame-bytes N    largest request frame accepted (default 65536)\n"
            "      --session-timeout S    end a session after S seconds without a frame\n"
            "                             (default 10; clients may ask for their own)\n"
            "      --max-session-timeout S  largest session timeout a client may ask for\n"
            "                             (default 3600)\n"
            "      --max-pending N        pending acquires and waits per session (default 100000)\n"
            "      --log-level LEVEL      error, warning, notice, info (default) or debug\n"
            "  -V, --version              print the version and exit\n"
            "  -h, --help                 print this help and exit\n");
}

static const struct option main_options[] = {
    {"listen", required_argument, NULL, 'l'},
    {"unix", required_argument, NULL, 'u'},
    {"port-file", required_argument, NULL, 0},
    {"max-connections", required_argument, NULL, 0},
    {"max-frame-bytes", required_argument, NULL, 0},
    {"session-timeout", required_argument, NULL, 0},
    {"max-session-timeout", required_argument, NULL, 0},
    {"max-pending", required_argument, NULL, 0},
    {"log-level", required_argument, NULL, 0},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parses argv into s. Returns -1 to go on, or an exit status (0 after --help/--version). */
static int main_parse_args(struct settings *s, int argc, char **argv)
{
    int opt, idx;
    char err[256];
    while ((opt = getopt_long(argc, argv, "l:u:Vh", main_options, &idx)) != -1) {
        const char *key;
        switch (opt) {
        case 'l':
            key = "listen";
            break;
        case 'u':
            key = "unix";
            break;
        case 0:
            key = main_options[idx].name;
            break;
        case 'V':
            printf("%s\n", PACKAGE_STRING);
            return 0;
        case 'h':
            main_usage(stdout);
            return 0;
        default:
            main_usage(stderr);
            return 2;
        }
        if (!settings_apply(s, key, optarg, err, sizeof err)) {
            fprintf(stderr, "condd: --%s: %s\n", key, err);
            main_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "condd: unexpected argument '%s'\n", argv[optind]);
        main_usage(stderr);
        return 2;
    }
    return -1;
}

/* Each connection needs a descriptor; raise the soft limit towards what --max-connections
 * needs, within the hard limit, and say so when that is not enough. */
static void main_raise_nofile(unsigned max_connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)max_connections + 64;
    if (rl.rlim_cur >= want)
        return;
    rlim_t target = want;
    if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max)
        target = rl.rlim_max;
    rl.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || target < want)
        log_warning("open-file limit is %llu but --max-connections %u needs %llu; connections "
                    "beyond the limit will be refused (raise LimitNOFILE or ulimit -n)",
                    (unsigned long long)target, max_connections, (unsigned long long)want);
}

static bool main_write_port_file(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        goto fail;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        goto fail;
    }
    return true;
fail:
    log_error("cannot write port file %s: %s", path, strerror(errno));
    return false;
}

/* ------------------------------------------------------------------ signals and shutdown */

struct main_ctx {
    struct event_base *base;
    struct server *srv;
    struct event *drain;
    double drain_left;
};

static void main_on_drain(evutil_socket_t fd, short what, void *arg)
{
    struct main_ctx *m = arg;
    m->drain_left -= 0.01;
    if (server_unflushed(m->srv) > 0 && m->drain_left > 0) {
        struct timeval tv = {0, 10000};
        event_add(m->drain, &tv);
        return;
    }
    server_close_all(m->srv);
    event_base_loopexit(m->base, NULL);
}

static void main_on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct main_ctx *m = arg;
    if (m->drain_left > 0)
        return; /* already stopping */
    log_notice("received %s; shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server_begin_shutdown(m->srv);
    m->drain_left = MAIN_DRAIN_SECONDS;
    struct timeval tv = {0, 0};
    event_add(m->drain, &tv);
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    struct settings s;
    settings_init(&s);
    int rc = main_parse_args(&s, argc, argv);
    if (rc >= 0) {
        settings_clear(&s);
        return rc;
    }
    log_init(s.log_level);
    signal(SIGPIPE, SIG_IGN);
    main_raise_nofile(s.max_connections);

    struct event_base *base = event_base_new();
    if (base == NULL) {
        log_error("cannot create the event loop");
        return 1;
    }
    struct server *srv = server_new(base, &s);
    if (srv == NULL) {
        log_error("out of memory");
        return 1;
    }
    bool ok = true;
    if (s.nlisten == 0)
        ok = server_listen_tcp(srv, SETTINGS_DEFAULT_LISTEN);
    for (int i = 0; ok && i < s.nlisten; i++)
        ok = server_listen_tcp(srv, s.listen[i]);
    if (ok && s.unix_path != NULL)
        ok = server_listen_unix(srv, s.unix_path);
    if (ok && s.port_file != NULL)
        ok = main_write_port_file(s.port_file, server_first_tcp_port(srv));
    if (!ok) {
        server_free(srv);
        event_base_free(base);
        settings_clear(&s);
        return 1;
    }

    struct main_ctx m = {.base = base, .srv = srv};
    m.drain = evtimer_new(base, main_on_drain, &m);
    struct event *sigint = evsignal_new(base, SIGINT, main_on_stop_signal, &m);
    struct event *sigterm = evsignal_new(base, SIGTERM, main_on_stop_signal, &m);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);

    log_notice("%s ready (protocol %d)", PACKAGE_STRING, CONDD_PROTOCOL_VERSION);
    event_base_dispatch(base);

    event_free(sigint);
    event_free(sigterm);
    event_free(m.drain);
    server_free(srv);
    event_base_free(base);
    settings_clear(&s);
    log_notice("stopped");
    return 0;
}
