/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condctl's `event set|clear|is-set|wait NAME`: one request each on condctl's loop, through the
 * public asynchronous API (condd_async_event_*). Events are not owned and take no lock, so
 * nothing is left to release when condctl exits; a wait still pending then is dropped by the
 * server with the session.
 */

#include "condctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    enum ctl_event_op op;
} subcommands[] = {
    {"set", CTL_EVENT_SET},
    {"clear", CTL_EVENT_CLEAR},
    {"is-set", CTL_EVENT_IS_SET},
    {"wait", CTL_EVENT_WAIT},
};

bool ctl_event_parse(const char *sub, enum ctl_event_op *op)
{
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
        if (strcmp(subcommands[i].name, sub) == 0) {
            *op = subcommands[i].op;
            return true;
        }
    }
    return false;
}

static void set_cb(condd_async_conn *c, int result, uint64_t woken, void *arg)
{
    struct ctl *ctl = arg;
    if (result != CONDD_OK) {
        ctl_fail(ctl, "event set", result, condd_async_conn_message(c));
        return;
    }
    if (ctl->json)
        printf("{\"woken\":%" PRIu64 "}\n", woken);
    else
        printf("%" PRIu64 "\n", woken);
    ctl_finish(ctl, CTL_EXIT_OK);
}

static void clear_cb(condd_async_conn *c, int result, void *arg)
{
    struct ctl *ctl = arg;
    if (result != CONDD_OK) {
        ctl_fail(ctl, "event clear", result, condd_async_conn_message(c));
        return;
    }
    ctl_finish(ctl, CTL_EXIT_OK);
}

static void is_set_cb(condd_async_conn *c, int result, bool set, void *arg)
{
    struct ctl *ctl = arg;
    if (result != CONDD_OK) {
        ctl_fail(ctl, "event is-set", result, condd_async_conn_message(c));
        return;
    }
    if (ctl->json)
        printf("{\"set\":%s}\n", set ? "true" : "false");
    else
        puts(set ? "set" : "clear");
    ctl_finish(ctl, set ? CTL_EXIT_OK : CTL_EXIT_NO);
}

static void wait_cb(condd_async_conn *c, int result, void *arg)
{
    struct ctl *ctl = arg;
    ctl_guard_disarm(ctl);
    if (ctl->done)
        return;
    if (result != CONDD_OK) {
        ctl_fail(ctl, "event wait", result, condd_async_conn_message(c));
        return;
    }
    ctl_finish(ctl, CTL_EXIT_OK);
}

void ctl_event_start(struct ctl *ctl)
{
    int rc = CONDD_ERR_INVALID;
    switch (ctl->event_op) {
    case CTL_EVENT_SET:
        rc = condd_async_event_set(ctl->client, ctl->name, set_cb, ctl);
        break;
    case CTL_EVENT_CLEAR:
        rc = condd_async_event_clear(ctl->client, ctl->name, clear_cb, ctl);
        break;
    case CTL_EVENT_IS_SET:
        rc = condd_async_event_is_set(ctl->client, ctl->name, is_set_cb, ctl);
        break;
    case CTL_EVENT_WAIT:
        rc = condd_async_event_wait(ctl->client, ctl->name, ctl_remaining(ctl), wait_cb, ctl, NULL);
        if (rc == CONDD_OK)
            ctl_guard_arm(ctl);
        break;
    }
    if (rc != CONDD_OK)
        ctl_fail(ctl, "event", rc, NULL);
}
