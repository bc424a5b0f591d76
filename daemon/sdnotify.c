/* SPDX-License-Identifier: BSD-2-Clause
 *
 * systemd integration (see sdnotify.h): socket activation and sd_notify messages. Everything
 * that needs libsystemd sits under HAVE_SYSTEMD; the summary line does not.
 */
#include "config.h"

#include "sdnotify.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "clock.h"
#include "engine.h"
#include "log.h"
#include "restart.h"
#include "server.h"

static const char *sdnotify_plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

void sdnotify_summary(struct server *srv, char *buf, size_t len)
{
    struct server_snapshot snap;
    struct engine_stats es;
    server_snapshot(srv, &snap);
    engine_get_stats(server_engine(srv), &es);
    snprintf(buf, len, "%" PRIu64 " %s, %" PRIu64 " %s held, %" PRIu64 " %s", snap.connections,
             sdnotify_plural(snap.connections, "connection", "connections"), es.locks_held,
             sdnotify_plural(es.locks_held, "lock", "locks"), es.waiters,
             sdnotify_plural(es.waiters, "waiter", "waiters"));
}

#ifdef HAVE_SYSTEMD

struct sdnotify {
    struct server *srv;
    struct event *status_ev;
    struct event *watchdog_ev;
    struct timeval watchdog_tv; /* half the interval systemd asked for */
};

int sdnotify_adopt_listeners(struct server *srv, struct restart *r)
{
    /* unset_environment=1: nothing this process starts should think the sockets are its own. */
    char **names = NULL;
    int n = sd_listen_fds_with_names(1, &names);
    if (n < 0) {
        log_error("socket activation: cannot read LISTEN_FDS: %s", strerror(-n));
        return -1;
    }
    int adopted = 0, stored = 0;
    bool ok = true;
    const size_t plen = strlen(RESTART_FDNAME_LISTEN_PREFIX);
    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        const char *name = names != NULL && names[i] != NULL ? names[i] : "";
        char label[256];
        if (!ok) {
            close(fd);
        } else if (strcmp(name, RESTART_FDNAME_STATE) == 0) {
            restart_set_state_fd(r, fd, true);
            stored++;
        } else if (strncmp(name, RESTART_FDNAME_LISTEN_PREFIX, plen) == 0 &&
                   restart_unhex(name + plen, strlen(name + plen), label, sizeof label) &&
                   sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0) {
            server_offer_inherited(srv, label, fd);
            stored++;
        } else if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
            log_error("socket activation: descriptor %d is not a listening stream socket; "
                      "condd.socket must use ListenStream=",
                      fd);
            close(fd);
            ok = false;
        } else {
            ok = server_adopt_listener(srv, fd);
            adopted += ok;
        }
    }
    if (names != NULL) {
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
    }
    if (!ok)
        return -1;
    if (adopted > 0)
        log_info("socket activation: %d listener%s from systemd", adopted, adopted == 1 ? "" : "s");
    if (stored > 0)
        log_info("file-descriptor store: %d descriptor%s kept by the service manager", stored,
                 stored == 1 ? "" : "s");
    return adopted;
}

bool sdnotify_socket_activated(void)
{
    char **names = NULL;
    int n = sd_listen_fds_with_names(0, &names); /* 0: the variables stay for the adoption */
    int activation = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names != NULL && names[i] != NULL ? names[i] : "";
        activation +=
            strcmp(name, RESTART_FDNAME_STATE) != 0 &&
            strncmp(name, RESTART_FDNAME_LISTEN_PREFIX, strlen(RESTART_FDNAME_LISTEN_PREFIX)) != 0;
    }
    if (names != NULL) {
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
    }
    return activation > 0;
}

bool sdnotify_fdstore_add(struct sdnotify *n, const char *name, int fd)
{
    if (n == NULL) {
        log_error("fd store: no service manager to hand %s to (NOTIFY_SOCKET is not set)", name);
        return false;
    }
    char msg[320];
    snprintf(msg, sizeof msg, "FDSTORE=1\nFDNAME=%s", name);
    int rc = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
    if (rc <= 0) {
        log_error("fd store: cannot hand %s to the service manager: %s", name,
                  rc < 0 ? strerror(-rc) : "NOTIFY_SOCKET is not set");
        return false;
    }
    return true;
}

void sdnotify_fdstore_remove(struct sdnotify *n, const char *name)
{
    if (n == NULL)
        return;
    char msg[320];
    snprintf(msg, sizeof msg, "FDSTOREREMOVE=1\nFDNAME=%s", name);
    sd_notify(0, msg);
}

static void sdnotify_send_status(struct sdnotify *n, const char *prefix)
{
    char summary[192];
    char msg[256];
    sdnotify_summary(n->srv, summary, sizeof summary);
    snprintf(msg, sizeof msg, "%sSTATUS=%s", prefix, summary);
    int r = sd_notify(0, msg);
    if (r < 0)
        log_debug("sd_notify failed: %s", strerror(-r));
}

static void sdnotify_on_status(evutil_socket_t fd, short what, void *arg)
{
    sdnotify_send_status(arg, "");
}

static void sdnotify_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    struct sdnotify *n = arg;
    sd_notify(0, "WATCHDOG=1");
    event_add(n->watchdog_ev, &n->watchdog_tv);
}

struct sdnotify *sdnotify_new(struct event_base *base, struct server *srv)
{
    if (getenv("NOTIFY_SOCKET") == NULL)
        return NULL;
    struct sdnotify *n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    n->srv = srv;
    n->status_ev = event_new(base, -1, EV_PERSIST, sdnotify_on_status, n);
    if (n->status_ev == NULL) {
        free(n);
        return NULL;
    }
    uint64_t usec = 0;
    /* unset_environment=0: the variables stay for a re-exec; WATCHDOG_PID, when set, must be
     * ours (sd_watchdog_enabled checks it). */
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        uint64_t half = usec / 2;
        if (half == 0)
            half = 1;
        n->watchdog_tv.tv_sec = (time_t)(half / 1000000);
        n->watchdog_tv.tv_usec = (suseconds_t)(half % 1000000);
        n->watchdog_ev = evtimer_new(base, sdnotify_on_watchdog, n);
        if (n->watchdog_ev == NULL) {
            event_free(n->status_ev);
            free(n);
            return NULL;
        }
        log_info("systemd watchdog: pinging every %.3f s", (double)half / 1e6);
    }
    return n;
}

void sdnotify_ready(struct sdnotify *n)
{
    if (n == NULL)
        return;
    sdnotify_send_status(n, "READY=1\n");
    struct timeval tv = {SDNOTIFY_STATUS_SECONDS, 0};
    event_add(n->status_ev, &tv);
    if (n->watchdog_ev != NULL && !evtimer_pending(n->watchdog_ev, NULL)) {
        sd_notify(0, "WATCHDOG=1");
        event_add(n->watchdog_ev, &n->watchdog_tv);
    }
}

void sdnotify_reloading(struct sdnotify *n)
{
    if (n == NULL)
        return;
    /* MONOTONIC_USEC lets Type=notify-reload managers (systemd >= 253) match the reload. */
    char msg[96];
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)clk_mono_us());
    sd_notify(0, msg);
}

void sdnotify_stopping(struct sdnotify *n)
{
    if (n == NULL)
        return;
    event_del(n->status_ev);
    sd_notify(0, "STOPPING=1\nSTATUS=shutting down");
}

void sdnotify_free(struct sdnotify *n)
{
    if (n == NULL)
        return;
    event_free(n->status_ev);
    if (n->watchdog_ev != NULL)
        event_free(n->watchdog_ev);
    free(n);
}

#else /* !HAVE_SYSTEMD */

int sdnotify_adopt_listeners(struct server *srv, struct restart *r)
{
    if (getenv("LISTEN_FDS") != NULL)
        log_warning("LISTEN_FDS is set but condd was built without systemd support; "
                    "using the configured listeners");
    return 0;
}

struct sdnotify *sdnotify_new(struct event_base *base, struct server *srv)
{
    return NULL;
}

void sdnotify_ready(struct sdnotify *n)
{
}

void sdnotify_reloading(struct sdnotify *n)
{
}

void sdnotify_stopping(struct sdnotify *n)
{
}

void sdnotify_free(struct sdnotify *n)
{
}

bool sdnotify_socket_activated(void)
{
    return false; /* sdnotify_adopt_listeners() warns that LISTEN_FDS is ignored */
}

bool sdnotify_fdstore_add(struct sdnotify *n, const char *name, int fd)
{
    log_error("fd store: condd was built without systemd support; cannot hand %s over", name);
    return false;
}

void sdnotify_fdstore_remove(struct sdnotify *n, const char *name)
{
}

#endif
