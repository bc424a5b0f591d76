/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condctl's operator controls: `break NAME [--sem]` ends every session holding a lock (or
 * permits of a semaphore) and prints how many, `kill-session ID` ends one session. Each is one
 * request through the public asynchronous API (condd_async_lock_break, _sem_break,
 * condd_async_conn_kill_session); the server checks admin permission and logs who did it.
 */

#include "condctl.h"

#include <inttypes.h>
#include <stdio.h>

static void break_cb(condd_async_conn *c, int result, uint64_t ended, void *arg)
{
    struct ctl *ctl = arg;
    if (result != CONDD_OK) {
        ctl_fail(ctl, "break", result, condd_async_conn_message(c));
        return;
    }
    if (ctl->json)
        printf("{\"ended\":%" PRIu64 "}\n", ended);
    else
        printf("%" PRIu64 "\n", ended);
    ctl_finish(ctl, ended > 0 ? CTL_EXIT_OK : CTL_EXIT_NO);
}

static void kill_cb(condd_async_conn *c, int result, void *arg)
{
    struct ctl *ctl = arg;
    if (result != CONDD_OK) {
        ctl_fail(ctl, "kill-session", result, condd_async_conn_message(c));
        return;
    }
    ctl_finish(ctl, CTL_EXIT_OK);
}

void ctl_admin_start(struct ctl *ctl)
{
    int rc;
    if (ctl->cmd == CTL_CMD_KILL_SESSION)
        rc = condd_async_conn_kill_session(ctl->client, ctl->kill_id, kill_cb, ctl);
    else if (ctl->break_sem)
        rc = condd_async_sem_break(ctl->client, ctl->name, break_cb, ctl);
    else
        rc = condd_async_lock_break(ctl->client, ctl->name, break_cb, ctl);
    if (rc != CONDD_OK)
        ctl_fail(ctl, ctl->cmd_name, rc, NULL);
}
