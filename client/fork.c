/* SPDX-License-Identifier: BSD-2-Clause
 *
 * A connection after fork(): the child inherits the parent's socket, which is one stream with
 * one session on the server. Anything the child wrote there (a request, a Goodbye, a shutdown)
 * would act on the parent's session, so a connection remembers the process that opened it and
 * refuses every call from another one; its close there only frees the child's copy (conn.c).
 * The check runs on every call, so it reads a counter a pthread_atfork() child handler bumps
 * (no system call) rather than asking getpid() each time.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "internal.h"

/* How many fork()s this process descends from since the library was first used. */
static atomic_uint forks;
static pthread_once_t forks_once = PTHREAD_ONCE_INIT;
static bool no_handler; /* pthread_atfork() failed: ask getpid() instead */

static void on_fork_child(void)
{
    atomic_fetch_add_explicit(&forks, 1, memory_order_relaxed);
}

static void forks_init(void)
{
    no_handler = pthread_atfork(NULL, NULL, on_fork_child) != 0; /* out of memory */
}

void cl_fork_mark(condd_async_conn *c)
{
    pthread_once(&forks_once, forks_init);
    c->opener_pid = getpid();
    c->opener_forks = atomic_load_explicit(&forks, memory_order_relaxed);
}

bool cl_forked(const condd_async_conn *c)
{
    if (no_handler)
        return getpid() != c->opener_pid;
    return atomic_load_explicit(&forks, memory_order_relaxed) != c->opener_forks;
}

int cl_fork_refuse(condd_async_conn *c)
{
    char text[sizeof c->msgbuf];
    snprintf(text, sizeof text,
             "connection opened by another process (pid %ld); open a new one after fork()",
             (long)c->opener_pid);
    memcpy(c->msgbuf, text, sizeof c->msgbuf);
    c->message = c->msgbuf;
    if (c->front != NULL) { /* a server of a list: the list's connection says it too */
        memcpy(c->front->msgbuf, text, sizeof c->front->msgbuf);
        c->front->message = c->front->msgbuf;
    }
    return CONDD_ERR_INVALID;
}
