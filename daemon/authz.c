/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Authentication at Hello and authorization of every request, against the auth file in effect
 * (server.auth; see auth.h). Hello: a bearer token, else the subject of a verified TLS client
 * certificate, else a Unix peer's uid/gid, else anonymous
 * if the file allows it; anything else is refused with UNAUTHENTICATED after a delay. Requests:
 * each body names the objects it touches and the level it needs; the principal is looked up by
 * name at every request, so a reloaded file applies to open sessions at their next request
 * while what they hold stays theirs. List drops the rows the principal may not read.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "authz.h"
#include "dispatch_internal.h"
#include "log.h"

/* ------------------------------------------------------------------ Hello */

bool authz_hello(struct conn *c, uint64_t id, const Condd__V1__Hello *h)
{
    struct server *srv = c->srv;
    c->principal[0] = '\0';
    if (srv->auth == NULL)
        return true; /* no auth file: a token, if sent, is not needed and not checked */
    const char *who = NULL, *why = NULL;
    char peer[64] = "";
    if (h->auth_token.len > 0) {
        who = auth_by_token(srv->auth, h->auth_token.data, h->auth_token.len);
        if (who == NULL)
            why = "authentication failed: the token matches no principal";
    } else if (c->cert_subject[0] != '\0') {
        /* Verified against --tls-client-ca during the handshake (tls_peer_subject). */
        who = auth_by_cert(srv->auth, c->cert_subject);
        snprintf(peer, sizeof peer, " (certificate %.40s%s)", c->cert_subject,
                 strlen(c->cert_subject) > 40 ? "..." : "");
    } else if (c->has_peercred) {
        who = auth_by_peer(srv->auth, c->peer_uid, c->peer_gid);
        snprintf(peer, sizeof peer, " (uid %lu, gid %lu)", (unsigned long)c->peer_uid,
                 (unsigned long)c->peer_gid);
    }
    if (who == NULL && why == NULL && !auth_anonymous_allowed(srv->auth))
        why = "authentication failed: no credential was given and anonymous clients are not "
              "allowed";
    if (why != NULL) {
        srv->stats.auth_failures++;
        stats_count(&srv->stats, STATS_OP_HELLO, CONDD__V1__STATUS__STATUS_UNAUTHENTICATED);
        /* Never the token itself; the principal is unknown when the token matched nobody. */
        log_warning("connection %s%s: %s", c->peer, peer, why + strlen("authentication failed: "));
        conn_refuse(c, id, why);
        return false;
    }
    if (who != NULL)
        snprintf(c->principal, sizeof c->principal, "%s", who);
    log_debug("connection %s%s authenticated as %s", c->peer, peer,
              who != NULL ? who : "anonymous");
    return true;
}

/* ------------------------------------------------------------------ requests */

/* What a request needs: up to two named objects at a level each, or some read permission
 * anywhere (Stats), or nothing. */
struct authz_need {
    enum stats_op op;
    bool any_read;
    bool admin_all; /* admin on every name of every kind (rules with no prefix) */
    int n;
    struct {
        enum auth_kind kind;
        const ProtobufCBinaryData *name;
        enum auth_level level;
    } obj[2];
};

static void authz_add(struct authz_need *need, enum auth_kind kind, const ProtobufCBinaryData *name,
                      enum auth_level level)
{
    need->obj[need->n].kind = kind;
    need->obj[need->n].name = name;
    need->obj[need->n].level = level;
    need->n++;
}

/* Fills need for req; false when the request needs no permission at all. */
static bool authz_needs(const Condd__V1__Request *req, struct authz_need *need)
{
    memset(need, 0, sizeof *need);
    switch (req->body_case) {
    case CONDD__V1__REQUEST__BODY__NOT_SET:
    case CONDD__V1__REQUEST__BODY_HELLO:
    case CONDD__V1__REQUEST__BODY_PING:
    /* Goodbye ends the session's own holds, as its connection closing would. */
    case CONDD__V1__REQUEST__BODY_GOODBYE:
    /* Cancel only reaches this session's own requests. */
    case CONDD__V1__REQUEST__BODY_CANCEL:
    /* Only a holder can release, so a release touches nobody else; and a principal whose
     * permission a reload removed must still be able to let go of what it holds. */
    case CONDD__V1__REQUEST__BODY_RELEASE:
    /* List is filtered row by row instead (authz_filter_list). */
    case CONDD__V1__REQUEST__BODY_LIST:
    case _CONDD__V1__REQUEST__BODY__CASE_IS_INT_SIZE:
        return false;
    case CONDD__V1__REQUEST__BODY_STATS:
        need->op = STATS_OP_STATS;
        need->any_read = true;
        return true;
    case CONDD__V1__REQUEST__BODY_ACQUIRE:
        need->op = STATS_OP_ACQUIRE;
        authz_add(need, AUTH_KIND_LOCK, &req->acquire->lock, AUTH_USE);
        return true;
    case CONDD__V1__REQUEST__BODY_LOCKED:
        need->op = STATS_OP_LOCKED;
        authz_add(need, AUTH_KIND_LOCK, &req->locked->lock, AUTH_READ);
        return true;
    case CONDD__V1__REQUEST__BODY_WAIT:
        /* The wait re-acquires the lock: it needs both. */
        need->op = STATS_OP_WAIT;
        authz_add(need, AUTH_KIND_COND, &req->wait->condition, AUTH_USE);
        authz_add(need, AUTH_KIND_LOCK, &req->wait->lock, AUTH_USE);
        return true;
    case CONDD__V1__REQUEST__BODY_NOTIFY:
        need->op = STATS_OP_NOTIFY;
        authz_add(need, AUTH_KIND_COND, &req->notify->condition, AUTH_USE);
        return true;
    case CONDD__V1__REQUEST__BODY_NOTIFY_ALL:
        need->op = STATS_OP_NOTIFY_ALL;
        authz_add(need, AUTH_KIND_COND, &req->notify_all->condition, AUTH_USE);
        return true;
    case CONDD__V1__REQUEST__BODY_SEM_ACQUIRE:
        need->op = STATS_OP_SEM_ACQUIRE;
        authz_add(need, AUTH_KIND_SEM, &req->sem_acquire->name, AUTH_USE);
        return true;
    case CONDD__V1__REQUEST__BODY_SEM_RELEASE:
        /* Unlike a lock's, a semaphore release by a non-holder adds a permit for everyone. */
        need->op = STATS_OP_SEM_RELEASE;
        authz_add(need, AUTH_KIND_SEM, &req->sem_release->name, AUTH_USE);
        return true;
    case CONDD__V1__REQUEST__BODY_SEM_LOCKED:
        need->op = STATS_OP_SEM_LOCKED;
        authz_add(need, AUTH_KIND_SEM, &req->sem_locked->name, AUTH_READ);
        return true;
    case CONDD__V1__REQUEST__BODY_EVENT_SET:
        need->op = STATS_OP_EVENT_SET;
        authz_add(need, AUTH_KIND_EVENT, &req->event_set->name, AUTH_USE);
        return true;
    case CONDD__V1__REQUEST__BODY_EVENT_CLEAR:
        need->op = STATS_OP_EVENT_CLEAR;
        authz_add(need, AUTH_KIND_EVENT, &req->event_clear->name, AUTH_USE);
        return true;
    case CONDD__V1__REQUEST__BODY_EVENT_WAIT:
        need->op = STATS_OP_EVENT_WAIT;
        authz_add(need, AUTH_KIND_EVENT, &req->event_wait->name, AUTH_USE);
        return true;
    case CONDD__V1__REQUEST__BODY_EVENT_IS_SET:
        need->op = STATS_OP_EVENT_IS_SET;
        authz_add(need, AUTH_KIND_EVENT, &req->event_is_set->name, AUTH_READ);
        return true;
    case CONDD__V1__REQUEST__BODY_BARRIER_WAIT:
        need->op = STATS_OP_BARRIER_WAIT;
        authz_add(need, AUTH_KIND_BARRIER, &req->barrier_wait->name, AUTH_USE);
        return true;
    case CONDD__V1__REQUEST__BODY_BARRIER_RESET:
        need->op = STATS_OP_BARRIER_RESET;
        authz_add(need, AUTH_KIND_BARRIER, &req->barrier_reset->name, AUTH_USE);
        return true;
    case CONDD__V1__REQUEST__BODY_BARRIER_ABORT:
        need->op = STATS_OP_BARRIER_ABORT;
        authz_add(need, AUTH_KIND_BARRIER, &req->barrier_abort->name, AUTH_USE);
        return true;
    case CONDD__V1__REQUEST__BODY_BREAK_HOLDERS:
        need->op = STATS_OP_BREAK;
        authz_add(need,
                  req->break_holders->kind == CONDD__V1__BREAK_KIND__BREAK_SEMAPHORE
                      ? AUTH_KIND_SEM
                      : AUTH_KIND_LOCK,
                  &req->break_holders->name, AUTH_ADMIN);
        return true;
    case CONDD__V1__REQUEST__BODY_KILL_SESSION:
        /* A session is no named object: ending one takes what it holds under every name. */
        need->op = STATS_OP_KILL_SESSION;
        need->admin_all = true;
        return true;
    case CONDD__V1__REQUEST__BODY_BARRIER_STATE:
        need->op = STATS_OP_BARRIER_STATE;
        authz_add(need, AUTH_KIND_BARRIER, &req->barrier_state->name, AUTH_READ);
        return true;
    }
    return false;
}

static void authz_deny(struct conn *c, uint64_t id, enum stats_op op, const char *msg)
{
    c->srv->stats.permission_denials++;
    dispatch_reply(c, id, op, CONDD__V1__STATUS__STATUS_PERMISSION_DENIED, msg);
}

bool authz_request(struct conn *c, const Condd__V1__Request *req)
{
    const struct auth_db *db = c->srv->auth;
    struct authz_need need;
    if (db == NULL || !authz_needs(req, &need))
        return true;
    const char *who = c->principal[0] != '\0' ? c->principal : NULL;
    char subject[AUTH_PRINCIPAL_MAX + 32], msg[256];
    if (who != NULL)
        snprintf(subject, sizeof subject, "principal '%s'", who);
    else
        snprintf(subject, sizeof subject, "anonymous clients");
    if (!auth_known(db, who)) {
        /* A reload removed this principal (or anonymous access): it keeps what it holds and
         * may release it, but may start nothing new. */
        snprintf(msg, sizeof msg, "permission denied: %s no longer in the auth file", subject);
        authz_deny(c, req->id, need.op, msg);
        return false;
    }
    if (need.any_read && !auth_has_any(db, who, AUTH_READ)) {
        snprintf(msg, sizeof msg, "permission denied: %s may read nothing", subject);
        authz_deny(c, req->id, need.op, msg);
        return false;
    }
    if (need.admin_all) {
        for (int k = 0; k < AUTH_KIND_COUNT; k++) {
            if (auth_level(db, who, (enum auth_kind)k, NULL, 0) < AUTH_ADMIN) {
                snprintf(msg, sizeof msg,
                         "permission denied: %s %s no admin permission on every %s", subject,
                         who != NULL ? "has" : "have", auth_kind_name((enum auth_kind)k));
                authz_deny(c, req->id, need.op, msg);
                return false;
            }
        }
    }
    for (int i = 0; i < need.n; i++) {
        const ProtobufCBinaryData *name = need.obj[i].name;
        if (auth_level(db, who, need.obj[i].kind, name->data, name->len) >= need.obj[i].level)
            continue;
        char shown[72];
        dispatch_show_name(name, shown, sizeof shown);
        snprintf(msg, sizeof msg, "permission denied: %s %s no %s permission on %s '%s'", subject,
                 who != NULL ? "has" : "have", auth_level_name(need.obj[i].level),
                 auth_kind_name(need.obj[i].kind), shown);
        authz_deny(c, req->id, need.op, msg);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ List */

/* Moves the readable rows of items[0..*n) to the front, in their order, and sets *n to their
 * count. The unreadable ones stay in the array behind them, so whoever frees the array by its
 * original count still frees every row. */
#define AUTHZ_FILTER(db, who, kind, items, n)                                                      \
    do {                                                                                           \
        size_t keep_ = 0;                                                                          \
        for (size_t i_ = 0; i_ < (n); i_++) {                                                      \
            if (auth_level((db), (who), (kind), (items)[i_]->name.data, (items)[i_]->name.len) <   \
                AUTH_READ)                                                                         \
                continue;                                                                          \
            __typeof__((items)[0]) t_ = (items)[keep_];                                            \
            (items)[keep_++] = (items)[i_];                                                        \
            (items)[i_] = t_;                                                                      \
        }                                                                                          \
        (n) = keep_;                                                                               \
    } while (0)

void authz_filter_list(const struct conn *c, Condd__V1__ListResult *lr)
{
    const struct auth_db *db = c->srv->auth;
    if (db == NULL)
        return;
    const char *who = c->principal[0] != '\0' ? c->principal : NULL;
    if (!auth_known(db, who)) {
        lr->n_locks = lr->n_conditions = lr->n_semaphores = lr->n_events = lr->n_barriers = 0;
        return;
    }
    AUTHZ_FILTER(db, who, AUTH_KIND_LOCK, lr->locks, lr->n_locks);
    AUTHZ_FILTER(db, who, AUTH_KIND_COND, lr->conditions, lr->n_conditions);
    AUTHZ_FILTER(db, who, AUTH_KIND_SEM, lr->semaphores, lr->n_semaphores);
    AUTHZ_FILTER(db, who, AUTH_KIND_EVENT, lr->events, lr->n_events);
    AUTHZ_FILTER(db, who, AUTH_KIND_BARRIER, lr->barriers, lr->n_barriers);
}
