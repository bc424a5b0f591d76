/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Daemon-side sessions and their resume (protocol.md §5.5-§5.7): what a session is beside its
 * engine state (id, resume secret, granted grace, client name), the registry of sessions by id
 * sessions by id, detaching a session from a connection that vanished, the answers kept for it
 * meanwhile (encoded Response frames, capped), its grace timer, resuming it on a new connection,
 * and ending it. Only server.c, conn.c and dispatch*.c include this.
 *
 * A detached session is plain data (ids, the secret, deadlines, the engine session and a byte
 * buffer of frames): it points into no connection, so that a later live restart can serialize it.
 */
#ifndef CONDD_DAEMON_RESUME_H
#define CONDD_DAEMON_RESUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/queue.h>

#include "table.h"

struct conn;
struct server;
struct esession;
struct event;
struct engine_reply;

#define RESUME_SECRET_BYTES 32
#define RESUME_CLIENT_NAME_MAX 128

/* A notification a detached session owes: the condition (name follows) of one of its Waits
 * answered OK while detached, an answer its client has not received yet. */
struct resume_owed {
    struct resume_owed *next;
    size_t len;
    uint8_t name[];
};

struct dsession {
    struct table_node node;         /* in srv->by_id */
    TAILQ_ENTRY(dsession) det_link; /* in srv->detached while detached */
    struct server *srv;
    struct esession *sess; /* the engine's session; its ctx is this struct */
    struct conn *conn;     /* the connection it is attached to; NULL while detached */
    uint64_t id;
    double grace;    /* granted grace in seconds; 0: not resumable, ends with its connection */
    double deadline; /* while detached: monotonic time at which the grace runs out */
    bool registered; /* in srv->by_id */
    bool detached;
    bool overflow;       /* too many answers kept (or out of memory): ends on the next loop turn */
    struct event *timer; /* the grace timer (only when grace > 0) */
    /* Answers produced while detached: whole encoded Response frames, oldest first. With
     * acknowledged delivery (acks), every counted Response not yet acked, attached or not:
     * frames [boff, blen) of buf, numbered rfirst, rfirst + 1, ... */
    uint8_t *buf;
    size_t blen, bcap;
    size_t nbuf; /* frames in buf (from boff) */
    size_t boff; /* acks: bytes at buf's start already acked, not yet moved away */
    /* Acknowledged delivery (protocol.md §5.6.2): the counts both ends keep. */
    bool acks;
    uint64_t nreq;   /* counted requests read (every request after the opening Hello) */
    uint64_t nresp;  /* counted Responses produced: the number of the last one */
    uint64_t rfirst; /* the number of the first frame in buf; nresp + 1 when it is empty */
    uint8_t secret[RESUME_SECRET_BYTES];
    char client_name[RESUME_CLIENT_NAME_MAX];
    /* Notifications owed by Waits answered OK while detached, oldest first (owned): delivered
     * with their answers at a resume, passed on to the condition's next waiter when the session
     * ends instead (protocol.md §5.5, §9.5). */
    struct resume_owed *owed, *owed_last;
};

/* Creates the server's registry; false on OOM. */
bool resume_init(struct server *srv);
/* Ends every detached session and frees the registry (server_free, after every connection is
 * closed). */
void resume_fini(struct server *srv);

/*
 * A new session for connection c (borrowed) with the given id, client name (copied) and granted
 * grace: opens the engine session, draws the secret when grace > 0 and registers it. Sets
 * c->ds and c->sess. Returns false on OOM with nothing changed.
 */
bool resume_open(struct server *srv, struct conn *c, uint64_t id, const char *client_name,
                 double grace);

/* Finds the session a resume names and checks its secret in constant time. Returns NULL (one
 * answer for an unknown id, a wrong secret and a session ending) or the session. */
struct dsession *resume_find(struct server *srv, uint64_t id, const uint8_t *secret,
                             size_t secret_len);

/*
 * The connection of ds went away without a Goodbye: keep the session for its grace. out[0..olen)
 * are whole unsent Response frames of the old connection (copied), kept first. Clears
 * ds->conn; the caller clears the connection's own pointers.
 */
void resume_detach(struct dsession *ds, const uint8_t *out, size_t olen);

/*
 * Attaches detached ds to connection c (c->ds, c->sess set) and stops its grace timer. The
 * caller then sends the HelloResult and then resume_take_buffer()'s frames.
 */
void resume_attach(struct dsession *ds, struct conn *c);

/* The session with this id, attached or detached, or NULL (operator controls; never for a
 * client's resume, which must prove the secret through resume_find()). */
struct dsession *resume_by_id(struct server *srv, uint64_t id);

/* Hands the kept frames (caller frees with free()) to the caller; *len their size. */
uint8_t *resume_take_buffer(struct dsession *ds, size_t *len);

/* Keeps the late answer r for detached ds (the engine's reply callback while detached). */
void resume_buffer_reply(struct dsession *ds, const struct engine_reply *r);

/* ---- acknowledged delivery (protocol.md §5.6.2) */

/* Keeps a copy of the counted Response frame[0..len) just queued for attached ds (acks): the
 * oldest copy goes over max_copies (--max-buffered-answers), every copy when out of memory (a
 * resume that needs one fails then). Inline for the usual case (room in the buffer, under the cap):
 * it runs for every answer of such a session. */
void resume_retain_slow(struct dsession *ds, const uint8_t *frame, size_t len);
static inline void resume_retain(struct dsession *ds, const uint8_t *frame, size_t len,
                                 size_t max_copies)
{
    if (ds->bcap - ds->blen < len || ds->nbuf + 1 >= max_copies) {
        resume_retain_slow(ds, frame, len);
        return;
    }
    ds->nresp++;
    memcpy(ds->buf + ds->blen, frame, len);
    ds->blen += len;
    if (ds->nbuf++ == 0)
        ds->rfirst = ds->nresp;
}
/* The client has received ack counted Responses: their copies go. Lower acks than before are
 * ignored, higher ones than sent mean all. */
void resume_ack(struct dsession *ds, uint64_t ack);
/* A resume Hello of acks session ds acking ack: true when every Response after ack still has
 * its copy (which then follow the HelloResult: resume_unacked()). */
bool resume_can_deliver(const struct dsession *ds, uint64_t ack);
/* The copies not acked (for a session without acks: the answers kept while detached), whole
 * frames (borrowed, valid until ds's next change; NULL when *len is 0); *len bytes. */
const uint8_t *resume_unacked(const struct dsession *ds, size_t *len);

/* Ends the session now: the engine hands on what it held (protocol.md §5.4), then each
 * notification owed by a kept, undelivered Wait answer is passed on (§9.5); it leaves the
 * registry and ds is freed. Its connection, if any, must have dropped its pointers first. */
void resume_end(struct dsession *ds);

/* ---- the live restart's load (snapshot.c): a session comes back in steps, so that a refused
 * state leaves the server exactly as it was. */

struct engine;
/*
 * A detached session rebuilt from a saved state, not yet known to srv: its engine session is
 * opened in e (the engine being restored, srv's once the load succeeds) with ctx ds; the secret
 * (RESUME_SECRET_BYTES), client name and kept frames answers[0..alen) are copied. grace > 0.
 * NULL on OOM.
 */
struct dsession *resume_restore(struct server *srv, struct engine *e, uint64_t id,
                                const char *client_name, double grace, const uint8_t *secret,
                                const uint8_t *answers, size_t alen, bool overflow);
/* Enters restored ds in srv's registry by id; false on OOM (nothing changed). */
bool resume_restore_register(struct dsession *ds);
/* Takes a registered, not started ds out of the registry again (a load refused later). */
void resume_restore_unregister(struct dsession *ds);
/* Makes ds one of srv's detached sessions with remaining seconds of grace (an overflowed one
 * ends on the next loop turn). Cannot fail. */
void resume_restore_start(struct dsession *ds, double remaining);
/* Frees a restored ds that was never started, once its engine (with its engine session) has
 * been freed. */
void resume_restore_discard(struct dsession *ds);

#endif
