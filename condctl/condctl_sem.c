/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condctl's semaphores: `sem NAME -n N [--bounded] -- CMD` runs exactly like `lock` (the same
 * state machine in condctl_cmd.c, the same child, -T, -E, exit codes and CONDD_TOKEN), except
 * that what it takes and gives back is one permit of a semaphore; this file is that
 * difference (ctl_take(), ctl_give_back()) and the semaphores' part of `list`.
 */
#include "config.h"

#include <inttypes.h>

#include "condctl.h"

int ctl_take(struct ctl *ctl, condd_async_token_cb cb)
{
    if (ctl->cmd == CTL_CMD_SEM)
        return condd_async_sem_acquire(ctl->client, ctl->lock, (uint32_t)ctl->count, ctl->bounded,
                                       0, ctl_remaining(ctl), cb, ctl, NULL);
    if (ctl->shared)
        return condd_async_lock_acquire_shared(ctl->client, ctl->lock, 0, ctl_remaining(ctl), cb,
                                               ctl, NULL);
    return condd_async_lock_acquire(ctl->client, ctl->lock, 0, ctl_remaining(ctl), cb, ctl, NULL);
}

int ctl_give_back(struct ctl *ctl, condd_async_result_cb cb)
{
    if (ctl->cmd == CTL_CMD_SEM)
        return condd_async_sem_release(ctl->client, ctl->lock, (uint32_t)ctl->count, ctl->bounded,
                                       0, cb, ctl);
    return condd_async_lock_release(ctl->client, ctl->lock, 0, cb, ctl);
}

void ctl_print_sem_table(FILE *out, const struct ctl_lists *ls, bool sep)
{
    size_t total = 0;
    int w_name = ctl_display_width("SEMAPHORE"), w_srv = ctl_server_width(ls);
    for (size_t k = 0; k < ls->n; k++) {
        size_t ns = condd_list_sem_count(ls->list[k]);
        total += ns;
        for (size_t i = 0; i < ns; i++) {
            const struct condd_sem_info *s = condd_list_sem(ls->list[k], i);
            if (s != NULL && ctl_display_width(s->name) > w_name)
                w_name = ctl_display_width(s->name);
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
    ctl_put_padded(out, "SEMAPHORE", w_name);
    fprintf(out, "  %7s  %10s  %10s  %10s  %7s  %s\n", "KIND", "VALUE", "FREE", "HELD", "WAITERS",
            "HOLDERS");
    for (size_t k = 0; k < ls->n; k++) {
        const struct condd_list *list = ls->list[k];
        size_t ns = condd_list_sem_count(list);
        for (size_t i = 0; i < ns; i++) {
            const struct condd_sem_info *s = condd_list_sem(list, i);
            if (s == NULL)
                continue;
            uint64_t held = 0;
            for (size_t j = 0; j < s->n_holders; j++)
                held += condd_sem_info_holder(s, j)->permits;
            ctl_put_server(out, ls, k, w_srv);
            ctl_put_padded(out, s->name, w_name);
            fprintf(out, "  %7s  %10" PRIu64 "  %10" PRIu64 "  %10" PRIu64 "  %7" PRIu64 "  ",
                    s->bounded ? "bounded" : "plain", s->value, s->counter, held, s->waiters);
            if (s->n_holders == 0)
                fputs("-", out);
            for (size_t j = 0; j < s->n_holders; j++) {
                const struct condd_sem_holder *h = condd_sem_info_holder(s, j);
                fprintf(out, "%s%s#%" PRIu64 "x%" PRIu64, j > 0 ? "," : "",
                        h->client[0] != '\0' ? h->client : "?", h->session, h->permits);
            }
            putc('\n', out);
        }
    }
}

void ctl_print_sem_json(FILE *out, const struct ctl_lists *ls)
{
    fputs(",\"semaphores\":[", out);
    bool first = true;
    for (size_t k = 0; k < ls->n; k++) {
        const struct condd_list *list = ls->list[k];
        size_t ns = condd_list_sem_count(list);
        for (size_t i = 0; i < ns; i++) {
            const struct condd_sem_info *s = condd_list_sem(list, i);
            if (s == NULL)
                continue;
            fputs(first ? "{" : ",{", out);
            first = false;
            ctl_json_server(out, ls, k);
            fputs("\"name\":", out);
            ctl_json_string(out, s->name);
            fprintf(out,
                    ",\"value\":%" PRIu64 ",\"bounded\":%s,\"counter\":%" PRIu64
                    ",\"waiters\":%" PRIu64 ",\"holders\":[",
                    s->value, s->bounded ? "true" : "false", s->counter, s->waiters);
            for (size_t j = 0; j < s->n_holders; j++) {
                const struct condd_sem_holder *h = condd_sem_info_holder(s, j);
                fputs(j > 0 ? ",{\"client\":" : "{\"client\":", out);
                ctl_json_string(out, h->client);
                fprintf(out,
                        ",\"session\":%" PRIu64 ",\"owner\":%" PRIu64 ",\"permits\":%" PRIu64
                        ",\"token\":%" PRIu64 "}",
                        h->session, h->owner, h->permits, h->token);
            }
            fputs("]}", out);
        }
    }
    fputs("]", out);
}
