/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Check assertions over the wire test client (wireclient.h), shared by the suites that speak raw
 * frames to a live condd (check_daemon, check_resume, check_blip): receive the reply to one
 * request within WX_TIMEOUT seconds and assert its status, optionally taking its fencing token.
 * Header-only (static inline) so that the library of test helpers needs no Check.
 */
#ifndef CONDD_TESTS_WIRE_EXPECT_H
#define CONDD_TESTS_WIRE_EXPECT_H

#include <check.h>
#include <stdint.h>

#include "wireclient.h"

/* A generous deadline for replies that must come. */
#define WX_TIMEOUT 10.0

/* Receives the reply with this id, asserts its status and returns it (caller frees with
 * condd__v1__response__free_unpacked(r, NULL)). */
static inline Condd__V1__Response *wx_expect(struct wc *w, uint64_t id, int status)
{
    Condd__V1__Response *r = wc_recv_id(w, id, WX_TIMEOUT);
    ck_assert_msg(r != NULL, "no reply to request %llu", (unsigned long long)id);
    ck_assert_msg((int)r->status == status, "request %llu: status %d (%s), expected %d",
                  (unsigned long long)id, r->status, r->message, status);
    return r;
}

/* As wx_expect(), and frees the reply. */
static inline void wx_expect_free(struct wc *w, uint64_t id, int status)
{
    condd__v1__response__free_unpacked(wx_expect(w, id, status), NULL);
}

/* Asserts an OK Acquire or Wait reply and returns its (nonzero) fencing token. */
static inline uint64_t wx_expect_token(struct wc *w, uint64_t id)
{
    Condd__V1__Response *r = wx_expect(w, id, CONDD__V1__STATUS__STATUS_OK);
    uint64_t tok = 0;
    if (r->result_case == CONDD__V1__RESPONSE__RESULT_ACQUIRE)
        tok = r->acquire->token;
    else if (r->result_case == CONDD__V1__RESPONSE__RESULT_WAIT)
        tok = r->wait->token;
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert_uint_ne(tok, 0);
    return tok;
}

#endif
