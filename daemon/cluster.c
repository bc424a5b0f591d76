/* SPDX-License-Identifier: BSD-2-Clause
 *
 * This server's place in a cluster (see cluster.h): the --cluster list parsed once (by
 * route_list_parse(), the rule every client applies), this server's entry in it, and the
 * per-request check that refuses, with WRONG_SERVER, a name that routes to another server, so
 * a client with a different list fails loudly instead of taking a second lock on the same name.
 * Which requests are checked, and why some never are, is protocol.md §21.5.
 */
#include "config.h"

#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_internal.h"
#include "engine.h"
#include "route.h"
#include "server_internal.h"
#include "settings.h"

/* Routing a name costs one keyed BLAKE2b per server (about 2,000 instructions each); a client
 * names the same objects over and over (acquire, wait, notify, release of one lock), so the
 * last answer for each of CLUSTER_CACHE slots of short names is kept. A name that misses (or a
 * client that makes every name miss) only costs the full computation. */
#define CLUSTER_CACHE 1024 /* a power of two */
#define CLUSTER_CACHE_NAME 48

struct cluster_cache_entry {
    uint8_t len; /* 0: empty */
    uint8_t to;  /* ROUTE_MAX_SERVERS fits */
    uint8_t name[CLUSTER_CACHE_NAME];
};

struct cluster {
    struct route_list list;
    size_t self;
    struct cluster_cache_entry cache[CLUSTER_CACHE];
};

_Static_assert(ROUTE_MAX_SERVERS <= 255, "cache entries hold the index in a byte");

/* ------------------------------------------------------------------ settings */

/* Parses s's cluster into *list (route_list_free() it on true) and finds self in it. */
static bool cluster_parse(const struct settings *s, struct route_list *list, size_t *self,
                          char *err, size_t errlen)
{
    char why[512];
    if (s->cluster == NULL && s->cluster_self == NULL)
        return false; /* the callers test for this first */
    if (s->cluster == NULL || s->cluster_self == NULL) {
        snprintf(err, errlen, "%s is set without %s: give both or neither",
                 s->cluster != NULL ? "cluster" : "cluster-self",
                 s->cluster != NULL ? "cluster-self" : "cluster");
        return false;
    }
    if (!route_list_parse(s->cluster, CLUSTER_DEFAULT_PORT, list, why, sizeof why)) {
        snprintf(err, errlen, "cluster: %s", why);
        return false;
    }
    long i = route_find(list, s->cluster_self, CLUSTER_DEFAULT_PORT);
    if (i < 0) {
        snprintf(err, errlen, "cluster-self '%s' is not in the cluster list '%s'", s->cluster_self,
                 s->cluster);
        route_list_free(list);
        return false;
    }
    *self = (size_t)i;
    return true;
}

bool cluster_check_settings(const struct settings *s, char *err, size_t errlen)
{
    if (s->cluster == NULL && s->cluster_self == NULL)
        return true;
    struct route_list list;
    size_t self;
    if (!cluster_parse(s, &list, &self, err, errlen))
        return false;
    route_list_free(&list);
    return true;
}

struct cluster *cluster_new(const struct settings *s, bool *ok, char *err, size_t errlen)
{
    *ok = true;
    if (s->cluster == NULL && s->cluster_self == NULL)
        return NULL;
    struct cluster *cl = calloc(1, sizeof *cl);
    if (cl == NULL) {
        snprintf(err, errlen, "out of memory");
        *ok = false;
        return NULL;
    }
    if (!cluster_parse(s, &cl->list, &cl->self, err, errlen)) {
        free(cl);
        *ok = false;
        return NULL;
    }
    return cl;
}

void cluster_free(struct cluster *cl)
{
    if (cl == NULL)
        return;
    route_list_free(&cl->list);
    free(cl);
}

size_t cluster_size(const struct cluster *cl)
{
    return cl->list.n;
}

size_t cluster_self(const struct cluster *cl)
{
    return cl->self;
}

const char *cluster_addr(const struct cluster *cl, size_t i)
{
    return cl->list.addr[i];
}

bool cluster_owns(struct cluster *cl, const uint8_t *name, size_t len, size_t *to)
{
    if (len == 0 || len > CLUSTER_CACHE_NAME) {
        *to = route_pick(&cl->list, name, len);
        return *to == cl->self;
    }
    uint32_t h = 2166136261u; /* FNV-1a: only picks the slot; a collision is just a miss */
    for (size_t i = 0; i < len; i++)
        h = (h ^ name[i]) * 16777619u;
    struct cluster_cache_entry *e = &cl->cache[h & (CLUSTER_CACHE - 1)];
    if (e->len == len && memcmp(e->name, name, len) == 0) {
        *to = e->to;
    } else {
        *to = route_pick(&cl->list, name, len);
        e->len = (uint8_t)len;
        e->to = (uint8_t)*to;
        memcpy(e->name, name, len);
    }
    return *to == cl->self;
}

/* ------------------------------------------------------------------ the request check */

/* Does c's session hold permits of semaphore name here? Its SemRelease then gives them back,
 * whatever the cluster says now (a holder can always let go); anyone else's is a post, which
 * would leave a permit where no client routed by the list looks for it. */
static bool cluster_holds_permits(struct conn *c, const ProtobufCBinaryData *name)
{
    return engine_sem_session_holds(c->sess, name->data, name->len);
}

bool cluster_check_request(struct conn *c, const Condd__V1__Request *req)
{
    struct cluster *cl = c->srv->cluster;
    const ProtobufCBinaryData *name = NULL;
    enum stats_op op = STATS_OP_OTHER;
    switch (req->body_case) {
    case CONDD__V1__REQUEST__BODY_ACQUIRE:
        name = &req->acquire->lock;
        op = STATS_OP_ACQUIRE;
        break;
    case CONDD__V1__REQUEST__BODY_LOCKED:
        name = &req->locked->lock;
        op = STATS_OP_LOCKED;
        break;
    /* A condition and its lock are one object: they live where the lock does (§21.2). */
    case CONDD__V1__REQUEST__BODY_WAIT:
        name = &req->wait->lock;
        op = STATS_OP_WAIT;
        break;
    case CONDD__V1__REQUEST__BODY_NOTIFY:
        name = &req->notify->lock;
        op = STATS_OP_NOTIFY;
        break;
    case CONDD__V1__REQUEST__BODY_NOTIFY_ALL:
        name = &req->notify_all->lock;
        op = STATS_OP_NOTIFY_ALL;
        break;
    case CONDD__V1__REQUEST__BODY_SEM_ACQUIRE:
        name = &req->sem_acquire->name;
        op = STATS_OP_SEM_ACQUIRE;
        break;
    case CONDD__V1__REQUEST__BODY_SEM_RELEASE:
        name = &req->sem_release->name;
        op = STATS_OP_SEM_RELEASE;
        break;
    case CONDD__V1__REQUEST__BODY_SEM_LOCKED:
        name = &req->sem_locked->name;
        op = STATS_OP_SEM_LOCKED;
        break;
    case CONDD__V1__REQUEST__BODY_EVENT_SET:
        name = &req->event_set->name;
        op = STATS_OP_EVENT_SET;
        break;
    case CONDD__V1__REQUEST__BODY_EVENT_CLEAR:
        name = &req->event_clear->name;
        op = STATS_OP_EVENT_CLEAR;
        break;
    case CONDD__V1__REQUEST__BODY_EVENT_IS_SET:
        name = &req->event_is_set->name;
        op = STATS_OP_EVENT_IS_SET;
        break;
    case CONDD__V1__REQUEST__BODY_EVENT_WAIT:
        name = &req->event_wait->name;
        op = STATS_OP_EVENT_WAIT;
        break;
    case CONDD__V1__REQUEST__BODY_BARRIER_WAIT:
        name = &req->barrier_wait->name;
        op = STATS_OP_BARRIER_WAIT;
        break;
    case CONDD__V1__REQUEST__BODY_BARRIER_RESET:
        name = &req->barrier_reset->name;
        op = STATS_OP_BARRIER_RESET;
        break;
    case CONDD__V1__REQUEST__BODY_BARRIER_ABORT:
        name = &req->barrier_abort->name;
        op = STATS_OP_BARRIER_ABORT;
        break;
    case CONDD__V1__REQUEST__BODY_BARRIER_STATE:
        name = &req->barrier_state->name;
        op = STATS_OP_BARRIER_STATE;
        break;
    default:
        /* Hello, Ping, Release, Cancel, Goodbye, Stats, List, KillSession and Break name no
         * object or only let go of one: a holder (or an operator) can always let go, even of a
         * name a reloaded list now routes elsewhere. */
        return true;
    }
    size_t to;
    if (cluster_owns(cl, name->data, name->len, &to))
        return true;
    if (req->body_case == CONDD__V1__REQUEST__BODY_SEM_RELEASE && cluster_holds_permits(c, name))
        return true;
    char shown[80], msg[512];
    dispatch_show_name(name, shown, sizeof shown);
    snprintf(msg, sizeof msg, "'%s' routes to %s (cluster of %zu)", shown, cluster_addr(cl, to),
             cluster_size(cl));
    c->srv->stats.wrong_server++;
    dispatch_reply(c, req->id, op, CONDD__V1__STATUS__STATUS_WRONG_SERVER, msg);
    return false;
}
