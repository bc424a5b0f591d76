/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condctl's `barrier NAME -p N` (wait at the barrier, print the arrival index), `barrier NAME
 * --reset|--abort [-p N]` and `barrier NAME --state`: one request each on condctl's loop,
 * through the public asynchronous API (condd_async_barrier_*), and the barriers' part of
 * `list`. Barriers are not owned and take no lock, so nothing is left to release when condctl
 * exits; a wait still pending then leaves the barrier (without breaking it) with the session.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include "condctl.h"

static void wait_cb(condd_async_conn *c, int result, uint32_t index, void *arg)
{
    struct ctl *ctl = arg;
    ctl_guard_disarm(ctl);
    if (ctl->done)
        return;
    if (result == CONDD_ERR_BROKEN) {
        fprintf(stderr, "condctl: barrier: broken\n");
        ctl_finish(ctl, CTL_EXIT_BROKEN);
        return;
    }
    if (result != CONDD_OK) {
        ctl_fail(ctl, "barrier", result, condd_async_conn_message(c));
        return;
    }
    if (ctl->json)
        printf("{\"index\":%" PRIu32 "}\n", index);
    else
        printf("%" PRIu32 "\n", index);
    ctl_finish(ctl, CTL_EXIT_OK);
}

static void broken_cb(condd_async_conn *c, int result, uint64_t broken, void *arg)
{
    struct ctl *ctl = arg;
    if (result != CONDD_OK) {
        ctl_fail(ctl, ctl->barrier_op == CTL_BARRIER_RESET ? "barrier --reset" : "barrier --abort",
                 result, condd_async_conn_message(c));
        return;
    }
    if (ctl->json)
        printf("{\"broken\":%" PRIu64 "}\n", broken);
    else
        printf("%" PRIu64 "\n", broken);
    ctl_finish(ctl, CTL_EXIT_OK);
}

static void state_cb(condd_async_conn *c, int result, const struct condd_barrier_state *st,
                     void *arg)
{
    struct ctl *ctl = arg;
    if (result != CONDD_OK || st == NULL) {
        ctl_fail(ctl, "barrier --state", result, condd_async_conn_message(c));
        return;
    }
    if (ctl->json)
        printf("{\"exists\":%s,\"parties\":%" PRIu64 ",\"n_waiting\":%" PRIu64 ",\"broken\":%s}\n",
               st->exists ? "true" : "false", st->parties, st->n_waiting,
               st->broken ? "true" : "false");
    else if (!st->exists)
        puts("none");
    else
        printf("parties %" PRIu64 " waiting %" PRIu64 "%s\n", st->parties, st->n_waiting,
               st->broken ? " broken" : "");
    ctl_finish(ctl, CTL_EXIT_OK);
}

void ctl_barrier_start(struct ctl *ctl)
{
    int rc = CONDD_ERR_INVALID;
    uint32_t parties = (uint32_t)ctl->parties;
    switch (ctl->barrier_op) {
    case CTL_BARRIER_WAIT:
        rc = condd_async_barrier_wait(ctl->client, ctl->name, parties, ctl_remaining(ctl), wait_cb,
                                      ctl, NULL);
        if (rc == CONDD_OK)
            ctl_guard_arm(ctl);
        break;
    case CTL_BARRIER_RESET:
        rc = condd_async_barrier_reset(ctl->client, ctl->name, parties, broken_cb, ctl);
        break;
    case CTL_BARRIER_ABORT:
        rc = condd_async_barrier_abort(ctl->client, ctl->name, parties, broken_cb, ctl);
        break;
    case CTL_BARRIER_STATE:
        rc = condd_async_barrier_state(ctl->client, ctl->name, state_cb, ctl);
        break;
    }
    if (rc != CONDD_OK)
        ctl_fail(ctl, "barrier", rc, NULL);
}

void ctl_print_barrier_table(FILE *out, const struct ctl_lists *ls, bool sep)
{
    size_t total = 0;
    int w_name = ctl_display_width("BARRIER"), w_srv = ctl_server_width(ls);
    for (size_t k = 0; k < ls->n; k++) {
        size_t nb = condd_list_barrier_count(ls->list[k]);
        total += nb;
        for (size_t i = 0; i < nb; i++) {
            const struct condd_barrier_info *b = condd_list_barrier(ls->list[k], i);
            if (b != NULL && ctl_display_width(b->name) > w_name)
                w_name = ctl_display_width(b->name);
        }
    }
    if (total == 0)
        return;
    if (sep)
        putc('\n', out);
    if (ls->server != NULL) {
        ctl_put_padded(out, "SERVER", w_srv);
        fputs("  ", out);
    }
    ctl_put_padded(out, "BARRIER", w_name);
    fprintf(out, "  %10s  %10s  %6s\n", "PARTIES", "WAITING", "STATE");
    for (size_t k = 0; k < ls->n; k++) {
        size_t nb = condd_list_barrier_count(ls->list[k]);
        for (size_t i = 0; i < nb; i++) {
            const struct condd_barrier_info *b = condd_list_barrier(ls->list[k], i);
            if (b == NULL)
                continue;
            ctl_put_server(out, ls, k, w_srv);
            ctl_put_padded(out, b->name, w_name);
            fprintf(out, "  %10" PRIu64 "  %10" PRIu64 "  %6s\n", b->parties, b->n_waiting,
                    b->broken ? "broken" : "-");
        }
    }
}

void ctl_print_barrier_json(FILE *out, const struct ctl_lists *ls)
{
    fputs(",\"barriers\":[", out);
    bool first = true;
    for (size_t k = 0; k < ls->n; k++) {
        size_t nb = condd_list_barrier_count(ls->list[k]);
        for (size_t i = 0; i < nb; i++) {
            const struct condd_barrier_info *b = condd_list_barrier(ls->list[k], i);
            if (b == NULL)
                continue;
            fputs(first ? "{" : ",{", out);
            first = false;
            ctl_json_server(out, ls, k);
            fputs("\"name\":", out);
            ctl_json_string(out, b->name);
            fprintf(out, ",\"parties\":%" PRIu64 ",\"n_waiting\":%" PRIu64 ",\"broken\":%s}",
                    b->parties, b->n_waiting, b->broken ? "true" : "false");
        }
    }
    fputs("]", out);
}
