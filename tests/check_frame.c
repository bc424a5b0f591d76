/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The frame codec: whole frames, partial input in every split, several frames in one buffer,
 * the size cap at and past the limit, zero length, and garbage payloads.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* Encodes a Ping request with the given id into a malloc'd buffer. */
static uint8_t *encode_ping(uint64_t id, size_t *len)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Ping ping = CONDD__V1__PING__INIT;
    req.id = id;
    req.body_case = CONDD__V1__REQUEST__BODY_PING;
    req.ping = &ping;
    *len = frame_encoded_size(&req.base);
    uint8_t *buf = malloc(*len);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(frame_encode(&req.base, buf), *len);
    return buf;
}

/* A frame whose payload is exactly payload_len bytes: an Acquire with a lock name padded out. */
static uint8_t *encode_acquire_of_size(size_t payload_len, size_t *len)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Acquire acq = CONDD__V1__ACQUIRE__INIT;
    req.id = 7;
    req.body_case = CONDD__V1__REQUEST__BODY_ACQUIRE;
    req.acquire = &acq;
    /* Grow the name until the packed size reaches the target (varint lengths change size). */
    size_t name_len = 0;
    uint8_t *name = malloc(payload_len + 1);
    ck_assert_ptr_nonnull(name);
    memset(name, 'x', payload_len + 1);
    acq.lock.data = name;
    for (;;) {
        acq.lock.len = name_len;
        size_t sz = protobuf_c_message_get_packed_size(&req.base);
        if (sz == payload_len)
            break;
        ck_assert_uint_lt(sz, payload_len);
        name_len += sz + 8 < payload_len ? payload_len - sz - 8 : 1;
    }
    *len = frame_encoded_size(&req.base);
    uint8_t *buf = malloc(*len);
    ck_assert_ptr_nonnull(buf);
    frame_encode(&req.base, buf);
    free(name);
    return buf;
}

START_TEST(test_whole_frame_decodes)
{
    size_t len;
    uint8_t *buf = encode_ping(42, &len);
    Condd__V1__Request *req;
    size_t used;
    ck_assert_int_eq(frame_decode_request(buf, len, FRAME_DEFAULT_MAX_BYTES, NULL, &req, &used),
                     FRAME_OK);
    ck_assert_uint_eq(used, len);
    ck_assert_uint_eq(req->id, 42);
    ck_assert_int_eq(req->body_case, CONDD__V1__REQUEST__BODY_PING);
    condd__v1__request__free_unpacked(req, NULL);
    free(buf);
}
END_TEST

START_TEST(test_byte_at_a_time_needs_more_until_complete)
{
    size_t len;
    uint8_t *buf = encode_ping(9, &len);
    for (size_t have = 0; have < len; have++) {
        Condd__V1__Request *req = (void *)1;
        size_t used = 99;
        ck_assert_int_eq(
            frame_decode_request(buf, have, FRAME_DEFAULT_MAX_BYTES, NULL, &req, &used),
            FRAME_NEED_MORE);
        ck_assert_ptr_null(req);
        ck_assert_uint_eq(used, 0);
    }
    Condd__V1__Request *req;
    size_t used;
    ck_assert_int_eq(frame_decode_request(buf, len, FRAME_DEFAULT_MAX_BYTES, NULL, &req, &used),
                     FRAME_OK);
    ck_assert_uint_eq(req->id, 9);
    condd__v1__request__free_unpacked(req, NULL);
    free(buf);
}
END_TEST

START_TEST(test_prefix_split_reports_length_once_header_complete)
{
    size_t len;
    uint8_t *buf = encode_ping(1, &len);
    size_t plen = 123;
    ck_assert_int_eq(frame_peek(buf, 2, FRAME_DEFAULT_MAX_BYTES, &plen), FRAME_NEED_MORE);
    ck_assert_uint_eq(plen, 0); /* header incomplete: length unknown */
    ck_assert_int_eq(frame_peek(buf, 4, FRAME_DEFAULT_MAX_BYTES, &plen), FRAME_NEED_MORE);
    ck_assert_uint_eq(plen, len - FRAME_HEADER_BYTES);
    free(buf);
}
END_TEST

START_TEST(test_two_frames_in_one_read)
{
    size_t l1, l2;
    uint8_t *a = encode_ping(1, &l1);
    uint8_t *b = encode_ping(2, &l2);
    uint8_t *both = malloc(l1 + l2);
    memcpy(both, a, l1);
    memcpy(both + l1, b, l2);
    Condd__V1__Request *req;
    size_t used;
    ck_assert_int_eq(
        frame_decode_request(both, l1 + l2, FRAME_DEFAULT_MAX_BYTES, NULL, &req, &used), FRAME_OK);
    ck_assert_uint_eq(used, l1);
    ck_assert_uint_eq(req->id, 1);
    condd__v1__request__free_unpacked(req, NULL);
    ck_assert_int_eq(frame_decode_request(both + used, l1 + l2 - used, FRAME_DEFAULT_MAX_BYTES,
                                          NULL, &req, &used),
                     FRAME_OK);
    ck_assert_uint_eq(used, l2);
    ck_assert_uint_eq(req->id, 2);
    condd__v1__request__free_unpacked(req, NULL);
    free(a);
    free(b);
    free(both);
}
END_TEST

START_TEST(test_frame_exactly_at_cap_is_accepted)
{
    const uint32_t cap = 1000;
    size_t len;
    uint8_t *buf = encode_acquire_of_size(cap, &len);
    ck_assert_uint_eq(len, FRAME_HEADER_BYTES + cap);
    Condd__V1__Request *req;
    size_t used;
    ck_assert_int_eq(frame_decode_request(buf, len, cap, NULL, &req, &used), FRAME_OK);
    ck_assert_int_eq(req->body_case, CONDD__V1__REQUEST__BODY_ACQUIRE);
    condd__v1__request__free_unpacked(req, NULL);
    free(buf);
}
END_TEST

START_TEST(test_frame_one_byte_over_cap_is_rejected_from_header_alone)
{
    const uint32_t cap = 1000;
    size_t len;
    uint8_t *buf = encode_acquire_of_size(cap + 1, &len);
    size_t plen;
    /* Only the header is needed to refuse it: nothing of the payload has to arrive. */
    ck_assert_int_eq(frame_peek(buf, FRAME_HEADER_BYTES, cap, &plen), FRAME_ERR_OVERSIZE);
    Condd__V1__Request *req = (void *)1;
    size_t used;
    ck_assert_int_eq(frame_decode_request(buf, len, cap, NULL, &req, &used), FRAME_ERR_OVERSIZE);
    ck_assert_ptr_null(req);
    free(buf);
}
END_TEST

START_TEST(test_huge_length_is_rejected_without_allocation)
{
    const uint8_t hdr[4] = {0xff, 0xff, 0xff, 0xff};
    size_t plen;
    ck_assert_int_eq(frame_peek(hdr, 4, FRAME_DEFAULT_MAX_BYTES, &plen), FRAME_ERR_OVERSIZE);
}
END_TEST

START_TEST(test_zero_length_is_an_error)
{
    const uint8_t hdr[6] = {0, 0, 0, 0, 0x08, 0x01};
    size_t plen;
    ck_assert_int_eq(frame_peek(hdr, sizeof hdr, FRAME_DEFAULT_MAX_BYTES, &plen), FRAME_ERR_EMPTY);
    Condd__V1__Request *req;
    size_t used;
    ck_assert_int_eq(
        frame_decode_request(hdr, sizeof hdr, FRAME_DEFAULT_MAX_BYTES, NULL, &req, &used),
        FRAME_ERR_EMPTY);
}
END_TEST

START_TEST(test_garbage_payload_is_a_decode_error)
{
    /* Field 1 declared length-delimited with a length running past the payload. */
    const uint8_t bad[] = {0, 0, 0, 4, 0x0a, 0x7f, 0x01, 0x02};
    Condd__V1__Request *req = (void *)1;
    size_t used = 5;
    ck_assert_int_eq(
        frame_decode_request(bad, sizeof bad, FRAME_DEFAULT_MAX_BYTES, NULL, &req, &used),
        FRAME_ERR_DECODE);
    ck_assert_ptr_null(req);
    ck_assert_uint_eq(used, 0);
    /* Random garbage must never crash the decoder; most of it is rejected. */
    srand(12345);
    uint8_t junk[68];
    for (int round = 0; round < 2000; round++) {
        junk[0] = 0;
        junk[1] = 0;
        junk[2] = 0;
        junk[3] = 64;
        for (size_t i = 4; i < sizeof junk; i++)
            junk[i] = (uint8_t)rand();
        enum frame_result r =
            frame_decode_request(junk, sizeof junk, FRAME_DEFAULT_MAX_BYTES, NULL, &req, &used);
        ck_assert(r == FRAME_OK || r == FRAME_ERR_DECODE);
        if (r == FRAME_OK)
            condd__v1__request__free_unpacked(req, NULL);
    }
}
END_TEST

START_TEST(test_response_roundtrip_keeps_id_status_and_result)
{
    Condd__V1__Response resp = CONDD__V1__RESPONSE__INIT;
    Condd__V1__AcquireResult ar = CONDD__V1__ACQUIRE_RESULT__INIT;
    resp.id = UINT64_MAX;
    resp.status = CONDD__V1__STATUS__STATUS_OK;
    ar.token = 0x1234567890abcdefULL;
    resp.result_case = CONDD__V1__RESPONSE__RESULT_ACQUIRE;
    resp.acquire = &ar;
    uint8_t buf[64];
    ck_assert_uint_le(frame_encoded_size(&resp.base), sizeof buf);
    size_t n = frame_encode(&resp.base, buf);
    Condd__V1__Response *out;
    size_t used;
    ck_assert_int_eq(frame_decode_response(buf, n, FRAME_CLIENT_MAX_BYTES, NULL, &out, &used),
                     FRAME_OK);
    ck_assert_uint_eq(out->id, UINT64_MAX);
    ck_assert_int_eq(out->result_case, CONDD__V1__RESPONSE__RESULT_ACQUIRE);
    ck_assert_uint_eq(out->acquire->token, 0x1234567890abcdefULL);
    condd__v1__response__free_unpacked(out, NULL);
}
END_TEST

START_TEST(test_strerror_names_every_result)
{
    const enum frame_result all[] = {FRAME_OK,        FRAME_NEED_MORE,  FRAME_ERR_OVERSIZE,
                                     FRAME_ERR_EMPTY, FRAME_ERR_DECODE, FRAME_ERR_NOMEM};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ck_assert_str_ne(frame_strerror(all[i]), "unknown frame error");
}
END_TEST

static Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, test_whole_frame_decodes);
    tcase_add_test(tc, test_byte_at_a_time_needs_more_until_complete);
    tcase_add_test(tc, test_prefix_split_reports_length_once_header_complete);
    tcase_add_test(tc, test_two_frames_in_one_read);
    tcase_add_test(tc, test_frame_exactly_at_cap_is_accepted);
    tcase_add_test(tc, test_frame_one_byte_over_cap_is_rejected_from_header_alone);
    tcase_add_test(tc, test_huge_length_is_rejected_without_allocation);
    tcase_add_test(tc, test_zero_length_is_an_error);
    tcase_add_test(tc, test_garbage_payload_is_a_decode_error);
    tcase_add_test(tc, test_response_roundtrip_keeps_id_status_and_result);
    tcase_add_test(tc, test_strerror_names_every_result);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(frame_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
