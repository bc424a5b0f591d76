/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Acknowledged delivery on the client side (protocol.md §5.6.2): the two counts of a session
 * (counted Responses received, which every request carries in `ack`, and counted requests
 * queued) and the copies of the request frames the server may not have read yet. A copy is
 * kept from the moment its frame is queued until the request, or any later one, is answered
 * (the server reads a connection's requests in order); after a resume the server says how many
 * counted requests it read, and the copies after that are queued again, in order, with their
 * ids (cl_acks_resend()). Which copies are kept only costs memory: the resume decides from the
 * server's count what is sent again, so no request is ever read twice.
 *
 * The copies live in one growing byte buffer with a side index (id, number, length) per frame:
 * no allocation per request once both have grown to the session's usual depth. The index is
 * dropped from its head; both are reset to empty whenever nothing is kept, the usual state of
 * a client that waits for its answers, and freed then if a burst made them large.
 *
 * While the opening Hello is unanswered (asked but not yet on), requests queued behind it are
 * counted and copied too; a HelloResult without acks (an older server, or no grace granted)
 * forgets them and turns the bookkeeping off, so such a session works exactly as without it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Grows *buf (elements of size each) to hold need elements; false on out of memory. */
static bool acks_grow(void **buf, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap == 0 ? first : *cap;
    while (ncap < need)
        ncap *= 2;
    void *nb = realloc(*buf, ncap * size);
    if (nb == NULL)
        return false;
    *buf = nb;
    *cap = ncap;
    return true;
}

bool cl_acks_grow(condd_async_conn *c, size_t frame_len)
{
    struct cl_acks *a = &c->acks;
    /* Compact (rare: only when copies are still kept as the buffer fills). */
    if (a->len + frame_len > a->cap && a->pos > 0) {
        memmove(a->buf, a->buf + a->pos, a->len - a->pos);
        a->len -= a->pos;
        a->pos = 0;
    }
    if (a->ilen == a->icap && a->ihead > 0) {
        memmove(a->ix, a->ix + a->ihead, (a->ilen - a->ihead) * sizeof *a->ix);
        a->ilen -= a->ihead;
        a->ihead = 0;
    }
    return acks_grow((void **)&a->buf, &a->cap, a->len + frame_len, 1, 4096) &&
           acks_grow((void **)&a->ix, &a->icap, a->ilen + 1, sizeof *a->ix, 64);
}

/* Buffers larger than this (a burst of pipelined requests) are freed once nothing is kept. */
#define CL_ACKS_KEEP_BYTES (256u * 1024u)
#define CL_ACKS_KEEP_FRAMES 4096u

/* Nothing is kept any more: the buffers start again from their start (and a large one goes). */
static void acks_emptied(struct cl_acks *a)
{
    a->pos = a->len = a->ihead = a->ilen = 0;
    if (a->cap > CL_ACKS_KEEP_BYTES) {
        free(a->buf);
        a->buf = NULL;
        a->cap = 0;
    }
    if (a->icap > CL_ACKS_KEEP_FRAMES) {
        free(a->ix);
        a->ix = NULL;
        a->icap = 0;
    }
}

/* Drops the first n kept copies. */
static void acks_drop(struct cl_acks *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a->pos += a->ix[a->ihead++].len;
    if (a->ihead == a->ilen)
        acks_emptied(a);
}

void cl_acks_on_response(condd_async_conn *c, const Condd__V1__Response *r)
{
    struct cl_acks *a = &c->acks;
    if (r->id == 0 || r->result_case == CONDD__V1__RESPONSE__RESULT_HELLO)
        return;
    a->rx++;
    /* Ids count up in the order requests are queued: the copy answered, if still kept, is
     * among the first ones with an id up to r->id, and everything before it was read too.
     * Usually it is the only one: nothing is kept any more. */
    if (a->ilen == a->ihead + 1 && a->ix[a->ihead].id == r->id) {
        acks_emptied(a);
        return;
    }
    for (size_t i = a->ihead; i < a->ilen && a->ix[i].id <= r->id; i++) {
        if (a->ix[i].id == r->id) {
            acks_drop(a, i - a->ihead + 1);
            return;
        }
    }
}

void cl_acks_on_hello(condd_async_conn *c, const Condd__V1__HelloResult *h)
{
    struct cl_acks *a = &c->acks;
    a->asked = false;
    a->on = h != NULL && h->acks && c->grace > 0 && c->secret_len == sizeof c->secret;
    if (!a->on)
        cl_acks_reset(c);
}

bool cl_acks_resend(condd_async_conn *c, uint64_t received, char *msg, size_t msglen)
{
    struct cl_acks *a = &c->acks;
    /* The server read at least every request answered (their copies are gone) and at most
     * those queued. */
    uint64_t first = a->ihead < a->ilen ? a->ix[a->ihead].num : a->sent + 1;
    if (received + 1 < first || received > a->sent) {
        snprintf(msg, msglen,
                 "the server's count of requests read (%llu) does not match the client's "
                 "(%llu to %llu)",
                 (unsigned long long)received, (unsigned long long)(first - 1),
                 (unsigned long long)a->sent);
        return false;
    }
    size_t n = 0;
    while (a->ihead + n < a->ilen && a->ix[a->ihead + n].num <= received)
        n++;
    if (n > 0)
        acks_drop(a, n);
    if (a->len > a->pos && cl_out_append(c, a->buf + a->pos, a->len - a->pos) != CONDD_OK) {
        snprintf(msg, msglen, "out of memory re-sending the requests after the resume");
        return false;
    }
    return true;
}

void cl_acks_reset(condd_async_conn *c)
{
    struct cl_acks *a = &c->acks;
    a->on = false;
    a->rx = a->sent = a->told = 0;
    acks_emptied(a);
}

void cl_acks_free(condd_async_conn *c)
{
    free(c->acks.buf);
    free(c->acks.ix);
    c->acks.buf = NULL;
    c->acks.ix = NULL;
    c->acks.cap = c->acks.icap = 0;
}
