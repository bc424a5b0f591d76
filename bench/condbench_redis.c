/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condbench's Redis target: the standard single-instance Redis lock, as redis-py and Redisson
 * implement it, through hiredis's asynchronous API on the worker's libevent loop.
 *   acquire: SET key token NX PX 30000, sent again at once whenever it answers nil (held);
 *   release: EVALSHA of the compare-and-delete script (loaded with SCRIPT LOAD on connect),
 *            waiting for its reply before the next SET - unless --pipeline, which sends the
 *            release and the next SET together and checks the release's reply when it comes.
 * The token is unique per cycle, so a release can only ever delete its own grant. Built only when
 * configure found hiredis; condd itself never links it.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <condd/condd.h>

#include "address.h"
#include "condbench.h"

static const char release_script[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end";

struct redis_conn {
    redisAsyncContext *ac; /* NULL once hiredis has freed it (after a disconnect) */
    bool closing;          /* condbench is closing: ignore every callback */
    bool reported;         /* loop_connected() has run (connect and SCRIPT LOAD both may fail) */
    char sha[48];          /* the script's SHA1 from SCRIPT LOAD */
    char token[64];        /* the current cycle's token */
};

static const char *reply_error(const redisAsyncContext *ac, const redisReply *r)
{
    if (r == NULL)
        return ac->errstr[0] != '\0' ? ac->errstr : "connection lost";
    if (r->type == REDIS_REPLY_ERROR)
        return r->str;
    return "unexpected reply";
}

static void redis_connected(struct bench_conn *cn, bool ok, const char *why)
{
    struct redis_conn *rc = cn->impl;
    if (rc->reported)
        return;
    rc->reported = true;
    loop_connected(cn, ok, why);
}

static void redis_on_script(redisAsyncContext *ac, void *reply, void *priv)
{
    struct bench_conn *cn = priv;
    struct redis_conn *rc = cn->impl;
    redisReply *r = reply;
    if (rc == NULL || rc->closing)
        return;
    if (r == NULL || r->type != REDIS_REPLY_STRING || r->len >= (int)sizeof rc->sha) {
        redis_connected(cn, false, reply_error(ac, r));
        return;
    }
    memcpy(rc->sha, r->str, (size_t)r->len);
    rc->sha[r->len] = '\0';
    redis_connected(cn, true, NULL);
}

static void redis_on_connect(const redisAsyncContext *ac, int status)
{
    struct bench_conn *cn = ac->data;
    struct redis_conn *rc = cn->impl;
    if (status != REDIS_OK && rc != NULL && !rc->closing) {
        rc->ac = NULL; /* hiredis frees the context after a failed connect */
        redis_connected(cn, false, ac->errstr);
    }
}

static void redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct bench_conn *cn = ac->data;
    struct redis_conn *rc = cn->impl;
    if (rc == NULL)
        return;
    rc->ac = NULL; /* hiredis frees the context once this returns */
    if (!rc->reported)
        redis_connected(cn, false, ac->errstr);
    else if (!rc->closing)
        loop_fail(cn, status == REDIS_OK ? "redis closed the connection" : ac->errstr);
}

static bool redis_open(struct bench_conn *cn)
{
    struct addr_parts ap;
    if (!addr_split(g_opts.address, 0, CONDD_DEFAULT_PORT, &ap) || ap.kind != ADDR_TCP) {
        bench_warn("redis: address must be HOST:PORT, got '%s'", g_opts.address);
        return false;
    }
    struct redis_conn *rc = calloc(1, sizeof *rc);
    if (rc == NULL)
        return false;
    redisAsyncContext *ac = redisAsyncConnect(ap.host, ap.port);
    if (ac == NULL || ac->err) {
        bench_warn("redis: connect %s: %s", g_opts.address, ac ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        free(rc);
        return false;
    }
    ac->data = cn;
    rc->ac = ac;
    cn->impl = rc;
    redisLibeventAttach(ac, cn->w->base);
    redisAsyncSetConnectCallback(ac, redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, redis_on_disconnect);
    /* hiredis queues this behind the connect. */
    if (redisAsyncCommand(ac, redis_on_script, cn, "SCRIPT LOAD %s", release_script) != REDIS_OK) {
        bench_warn("redis: cannot queue SCRIPT LOAD");
        rc->closing = true;
        redisAsyncFree(ac);
        free(rc);
        cn->impl = NULL;
        return false;
    }
    return true;
}

static void redis_send_set(struct bench_conn *cn);

static void redis_on_set(redisAsyncContext *ac, void *reply, void *priv)
{
    struct bench_conn *cn = priv;
    struct redis_conn *rc = cn->impl;
    redisReply *r = reply;
    if (rc == NULL || rc->closing)
        return;
    if (r != NULL && r->type == REDIS_REPLY_NIL) {
        /* Held by someone else: the standard recipe retries at once (no sleep here). */
        if (!cn->w->stopping)
            redis_send_set(cn);
        else
            cn->busy = false;
        return;
    }
    if (r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0) {
        loop_granted(cn, true, NULL);
        return;
    }
    loop_granted(cn, false, reply_error(ac, r));
}

static void redis_send_set(struct bench_conn *cn)
{
    struct redis_conn *rc = cn->impl;
    if (rc->ac == NULL || redisAsyncCommand(rc->ac, redis_on_set, cn, "SET %s %s NX PX 30000",
                                            cn->name, rc->token) != REDIS_OK)
        loop_granted(cn, false, "cannot send SET");
}

static void redis_acquire(struct bench_conn *cn)
{
    struct redis_conn *rc = cn->impl;
    snprintf(rc->token, sizeof rc->token, "%s:%u:%" PRIu64, g_opts.prefix, cn->index, cn->seq);
    redis_send_set(cn);
}

/* The script answers 1 when it deleted our key, 0 when the key was not ours (never here). */
static bool release_ok(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
}

static void redis_on_release(redisAsyncContext *ac, void *reply, void *priv)
{
    struct bench_conn *cn = priv;
    struct redis_conn *rc = cn->impl;
    if (rc == NULL || rc->closing)
        return;
    if (release_ok(reply))
        loop_released(cn, true, NULL);
    else
        loop_released(cn, false,
                      reply == NULL || ((redisReply *)reply)->type == REDIS_REPLY_ERROR
                          ? reply_error(ac, reply)
                          : "release did not delete the key");
}

static void redis_on_release_pipelined(redisAsyncContext *ac, void *reply, void *priv)
{
    struct bench_conn *cn = priv;
    struct redis_conn *rc = cn->impl;
    if (rc == NULL || rc->closing || release_ok(reply))
        return;
    loop_fail(cn, reply == NULL || ((redisReply *)reply)->type == REDIS_REPLY_ERROR
                      ? reply_error(ac, reply)
                      : "release did not delete the key");
}

static void redis_release(struct bench_conn *cn)
{
    struct redis_conn *rc = cn->impl;
    redisCallbackFn *cb = g_opts.pipeline ? redis_on_release_pipelined : redis_on_release;
    if (rc->ac == NULL || redisAsyncCommand(rc->ac, cb, cn, "EVALSHA %s 1 %s %s", rc->sha, cn->name,
                                            rc->token) != REDIS_OK) {
        loop_released(cn, false, "cannot send EVALSHA");
        return;
    }
    if (g_opts.pipeline)
        loop_released(cn, true, NULL);
}

static void redis_close(struct bench_conn *cn)
{
    struct redis_conn *rc = cn->impl;
    if (rc == NULL)
        return;
    rc->closing = true;
    if (rc->ac != NULL) {
        redisAsyncContext *ac = rc->ac;
        rc->ac = NULL;
        /* Runs every pending callback with a NULL reply; they see closing and return. */
        redisAsyncFree(ac);
    }
    free(rc);
    cn->impl = NULL;
}

const struct target target_redis = {
    .name = "redis",
    .default_address = "127.0.0.1:6379",
    .modes = MODE_BIT(MODE_UNCONTENDED) | MODE_BIT(MODE_CONTENDED) | MODE_BIT(MODE_CHURN),
    .open = redis_open,
    .acquire = redis_acquire,
    .release = redis_release,
    .close = redis_close,
};
