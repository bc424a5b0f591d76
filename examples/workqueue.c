/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Example of libcondd's asynchronous API: a work queue guarded by a condd lock and a condition,
 * served by producers and consumers that are tasks on one libevent loop sharing one connection
 * (each task is its own lock owner). Producers take the lock, push an item, notify one waiter
 * and release; consumers take the lock, wait_for "the queue is not empty", pop, release, and go
 * round again. The queue itself lives in this process; in a real deployment it would be shared
 * storage (a database table, a spool directory) that the lock protects.
 *
 * Usage: workqueue [-s ADDR] [-p PRODUCERS] [-c CONSUMERS] [-n ITEMS_PER_PRODUCER]
 * Exits 0 when every item was consumed exactly once.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <condd/condd_async.h>

#define LOCK "example/wq/lock"
#define COND "example/wq/nonempty"
#define MAX_TASKS 64

struct queue {
    int *items;
    size_t head, tail, cap;
};

struct app;

struct task {
    struct app *app;
    uint64_t owner;
    int index;
    int remaining; /* producers: items still to push */
};

struct app {
    struct event_base *base;
    condd_async_conn *c;
    struct queue q;
    int producers, consumers, per_producer;
    int produced, consumed;
    int stopped; /* consumers that found the work done */
    bool *seen;  /* seen[item]: consumed already */
    int failures;
    struct task tasks[MAX_TASKS];
};

static void fail(struct app *a, const char *what, int rc)
{
    fprintf(stderr, "workqueue: %s: %s (%s)\n", what, condd_strerror(rc),
            condd_async_conn_message(a->c));
    a->failures++;
    event_base_loopbreak(a->base);
}

static void on_woken_all(condd_async_conn *c, int rc, uint64_t woken, void *arg)
{
    if (rc != CONDD_OK && rc != CONDD_ERR_CLOSED)
        fail(arg, "notify_all", rc);
}

/* ------------------------------------------------------------------ producers */

static void produce_next(struct task *t);

static void on_notified(condd_async_conn *c, int rc, uint64_t woken, void *arg)
{
    struct task *t = arg;
    if (rc != CONDD_OK) {
        fail(t->app, "notify", rc);
        return;
    }
    /* Release without waiting for its answer; the next acquire is ordered after it. */
    rc = condd_async_lock_release(c, LOCK, t->owner, NULL, NULL);
    if (rc != CONDD_OK) {
        fail(t->app, "release", rc);
        return;
    }
    produce_next(t);
}

static void on_producer_lock(condd_async_conn *c, int rc, uint64_t token, void *arg)
{
    struct task *t = arg;
    struct app *a = t->app;
    if (rc != CONDD_OK) {
        fail(a, "producer acquire", rc);
        return;
    }
    a->q.items[a->q.tail++] = a->produced++;
    t->remaining--;
    rc = condd_async_cond_notify(c, COND, LOCK, t->owner, 1, on_notified, t);
    if (rc != CONDD_OK)
        fail(a, "notify", rc);
}

static void produce_next(struct task *t)
{
    if (t->remaining == 0)
        return;
    int rc = condd_async_lock_acquire(t->app->c, LOCK, t->owner, CONDD_FOREVER, on_producer_lock, t,
                                      NULL);
    if (rc != CONDD_OK)
        fail(t->app, "producer acquire", rc);
}

/* ------------------------------------------------------------------ consumers */

static void consume_next(struct task *t);

static bool queue_nonempty(void *arg)
{
    struct app *a = arg;
    /* Also true once everything is consumed, so idle consumers can stop. */
    return a->q.head < a->q.tail || a->consumed == a->producers * a->per_producer;
}

static void on_item(condd_async_conn *c, int rc, uint64_t token, void *arg)
{
    struct task *t = arg;
    struct app *a = t->app;
    if (rc != CONDD_OK) {
        fail(a, "wait_for", rc);
        return;
    }
    bool got = a->q.head < a->q.tail;
    int item = got ? a->q.items[a->q.head++] : -1;
    if (got) {
        if (a->seen[item]) {
            fprintf(stderr, "workqueue: item %d consumed twice\n", item);
            a->failures++;
        }
        a->seen[item] = true;
        a->consumed++;
    }
    /* Wake the other consumers when the last item is gone, so they can stop. */
    if (got && a->consumed == a->producers * a->per_producer) {
        rc = condd_async_cond_notify_all(c, COND, LOCK, t->owner, on_woken_all, a);
        if (rc != CONDD_OK)
            fail(a, "notify_all", rc);
    }
    rc = condd_async_lock_release(c, LOCK, t->owner, NULL, NULL);
    if (rc != CONDD_OK) {
        fail(a, "release", rc);
        return;
    }
    if (got) {
        consume_next(t); /* the work itself would happen here, outside the lock */
    } else if (++a->stopped == a->consumers) {
        event_base_loopbreak(a->base); /* every consumer saw the queue drained */
    }
}

static void on_consumer_lock(condd_async_conn *c, int rc, uint64_t token, void *arg)
{
    struct task *t = arg;
    if (rc != CONDD_OK) {
        fail(t->app, "consumer acquire", rc);
        return;
    }
    rc = condd_async_cond_wait_for(c, COND, LOCK, t->owner, CONDD_FOREVER, queue_nonempty, t->app,
                                   on_item, t, NULL);
    if (rc != CONDD_OK)
        fail(t->app, "wait_for", rc);
}

static void consume_next(struct task *t)
{
    int rc = condd_async_lock_acquire(t->app->c, LOCK, t->owner, CONDD_FOREVER, on_consumer_lock, t,
                                      NULL);
    if (rc != CONDD_OK)
        fail(t->app, "consumer acquire", rc);
}

/* ------------------------------------------------------------------ main */

static void on_connect(condd_async_conn *c, int rc, void *arg)
{
    if (rc != CONDD_OK)
        fail(arg, "connect", rc);
}

static void on_disconnect(condd_async_conn *c, int reason, void *arg)
{
    fail(arg, "connection lost", reason);
}

static void usage(void)
{
    fprintf(stderr, "usage: workqueue [-s ADDR] [-p PRODUCERS] [-c CONSUMERS] [-n ITEMS]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static struct app a;
    const char *addr = NULL;
    a.producers = 2;
    a.consumers = 3;
    a.per_producer = 50;
    int opt;
    while ((opt = getopt(argc, argv, "s:p:c:n:")) != -1) {
        switch (opt) {
        case 's':
            addr = optarg;
            break;
        case 'p':
            a.producers = atoi(optarg);
            break;
        case 'c':
            a.consumers = atoi(optarg);
            break;
        case 'n':
            a.per_producer = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (a.producers < 1 || a.consumers < 1 || a.per_producer < 1 ||
        a.producers + a.consumers > MAX_TASKS)
        usage();
    int total = a.producers * a.per_producer;
    a.q.items = calloc((size_t)total, sizeof *a.q.items);
    a.seen = calloc((size_t)total, sizeof *a.seen);
    a.base = event_base_new();
    if (a.q.items == NULL || a.seen == NULL || a.base == NULL)
        return 1;

    condd_options *o = condd_options_new();
    condd_options_set_client_name(o, "examples/workqueue");
    int rc = condd_async_conn_open(a.base, addr, o, on_connect, &a, &a.c);
    condd_options_free(o);
    if (rc != CONDD_OK) {
        fprintf(stderr, "workqueue: %s\n", condd_strerror(rc));
        return 1;
    }
    condd_async_conn_set_disconnect_cb(a.c, on_disconnect, &a);
    /* Requests may be issued before the connection is up: they queue behind Hello. */
    for (int i = 0; i < a.consumers + a.producers; i++) {
        struct task *t = &a.tasks[i];
        t->app = &a;
        t->index = i;
        t->owner = condd_async_conn_new_owner(a.c);
        if (i < a.consumers) {
            consume_next(t);
        } else {
            t->remaining = a.per_producer;
            produce_next(t);
        }
    }
    event_base_dispatch(a.base);
    condd_async_conn_close(a.c);
    event_base_free(a.base);
    for (int i = 0; i < total; i++)
        if (!a.seen[i])
            a.failures++;
    printf("workqueue: %d items produced, %d consumed, %d failures\n", a.produced, a.consumed,
           a.failures);
    free(a.q.items);
    free(a.seen);
    return a.failures == 0 ? 0 : 1;
}
