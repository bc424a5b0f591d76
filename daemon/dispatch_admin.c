/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Operator controls (protocol.md §5.9): Break ends every session holding a lock or permits of a
 * semaphore, KillSession ends one session by id. A hold can only be taken from a session by
 * ending the session: that is the one event every client already understands (its connection
 * closes with STATUS_SESSION_KILLED, condctl kills its command), and ending it hands everything
 * on exactly as §5.4 says. A session in its resume grace is ended whether or not it has a
 * connection. Admin permission is checked before this (authz.c); each action is logged with who
 * did it.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "dispatch_internal.h"
#include "log.h"
#include "resume.h"

/* At most this many holder sessions are ended by one Break (a semaphore of N permits can have
 * N holders; more than this many are left for another Break). */
#define ADMIN_BREAK_MAX 1024

/* Who is acting, for log lines. */
static const char *admin_who(const struct conn *c)
{
    if (c->principal[0] != '\0')
        return c->principal;
    return c->srv->auth != NULL ? "anonymous" : c->peer;
}

/* Ends session sid with why (sent to its client, logged). Returns false when no such session is
 * open (never opened, already ended, or in its last moments being taken apart). */
static bool admin_end_session(struct server *srv, uint64_t sid, const char *why)
{
    /* By id, not by walking the connections: a Break may end up to ADMIN_BREAK_MAX holders. */
    struct dsession *ds = resume_by_id(srv, sid);
    if (ds == NULL)
        return false;
    struct conn *t = ds->conn;
    if (t != NULL) {
        if (t->state != CONN_ACTIVE)
            return false;
        t->no_detach = true; /* ended whatever its grace */
        conn_fail(t, 0, CONDD__V1__STATUS__STATUS_SESSION_KILLED, why);
        return true;
    }
    if (!ds->detached)
        return false;
    resume_end(ds);
    return true;
}

void dispatch_break(struct conn *c, uint64_t id, const Condd__V1__Break *b)
{
    struct server *srv = c->srv;
    bool sem = b->kind == CONDD__V1__BREAK_KIND__BREAK_SEMAPHORE;
    if (b->kind != CONDD__V1__BREAK_KIND__BREAK_LOCK && !sem) {
        dispatch_reply(c, id, STATS_OP_BREAK, CONDD__V1__STATUS__STATUS_BAD_REQUEST,
                       "kind must be BREAK_LOCK or BREAK_SEMAPHORE");
        return;
    }
    if (!engine_name_valid(b->name.data, b->name.len)) {
        dispatch_reply(c, id, STATS_OP_BREAK, CONDD__V1__STATUS__STATUS_BAD_REQUEST,
                       sem ? "invalid semaphore name" : "invalid lock name");
        return;
    }
    uint64_t holders[ADMIN_BREAK_MAX];
    size_t n = sem ? engine_sem_holder_sessions(srv->engine, b->name.data, b->name.len, holders,
                                                ADMIN_BREAK_MAX)
                   : engine_lock_holder_sessions(srv->engine, b->name.data, b->name.len, holders,
                                                 ADMIN_BREAK_MAX);
    char shown[72], why[200];
    dispatch_show_name(&b->name, shown, sizeof shown);
    snprintf(why, sizeof why, "session ended by an operator (%s) breaking %s '%s'", admin_who(c),
             sem ? "semaphore" : "lock", shown);
    uint64_t ended[ADMIN_BREAK_MAX];
    size_t nended = 0;
    for (size_t i = 0; i < n; i++) {
        /* The caller's own holds are its own to release: never end the session asking. */
        if (holders[i] == c->session_id)
            continue;
        if (admin_end_session(srv, holders[i], why)) {
            ended[nended++] = holders[i];
            log_notice("%s (session %llu) broke %s '%s': ended session %llu", admin_who(c),
                       (unsigned long long)c->session_id, sem ? "semaphore" : "lock", shown,
                       (unsigned long long)holders[i]);
        }
    }
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__BreakResult br = CONDD__V1__BREAK_RESULT__INIT;
    br.sessions = ended;
    br.n_sessions = nended;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_BREAK_HOLDERS;
    resp.break_holders = &br;
    dispatch_ok(c, &resp, id, STATS_OP_BREAK);
}

void dispatch_kill_session(struct conn *c, uint64_t id, const Condd__V1__KillSession *k)
{
    struct server *srv = c->srv;
    if (k->session == c->session_id) {
        dispatch_reply(c, id, STATS_OP_KILL_SESSION, CONDD__V1__STATUS__STATUS_BAD_REQUEST,
                       "a session cannot kill itself: say Goodbye instead");
        return;
    }
    char why[200];
    snprintf(why, sizeof why, "session ended by an operator (%s)", admin_who(c));
    if (k->session == 0 || !admin_end_session(srv, k->session, why)) {
        dispatch_reply(c, id, STATS_OP_KILL_SESSION, CONDD__V1__STATUS__STATUS_NOT_FOUND,
                       "no such session");
        return;
    }
    log_notice("%s (session %llu) killed session %llu", admin_who(c),
               (unsigned long long)c->session_id, (unsigned long long)k->session);
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__KillSessionResult kr = CONDD__V1__KILL_SESSION_RESULT__INIT;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_KILL_SESSION;
    resp.kill_session = &kr;
    dispatch_ok(c, &resp, id, STATS_OP_KILL_SESSION);
}
