/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Fuzz target for the frame codec (proto/frame.c): frame_peek(), frame_decode_request() and
 * frame_decode_response() on arbitrary bytes, under a cap chosen by the input, decoding a whole
 * stream frame by frame as the daemon and the client do. Invariants: results are consistent
 * with the length prefix and the cap (nothing larger than the cap is ever unpacked), outputs are
 * cleared on failure, and a decoded message re-encodes to a frame that decodes again to the
 * same bytes. Decoding goes through malloc and through a small arena (with its malloc
 * fallback), as the daemon does. Built as a libFuzzer target with --enable-fuzzer, else linked
 * with tests/fuzz/standalone.c and replayed by make check.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "frame.h"
#include "fuzz.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_frame: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static uint32_t fuzz_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Checks what frame_peek() says about buf[0..len) against the length prefix itself. */
static enum frame_result fuzz_peek(const uint8_t *buf, size_t len, uint32_t cap, size_t *plen)
{
    enum frame_result r = frame_peek(buf, len, cap, plen);
    FUZZ_CHECK(frame_strerror(r) != NULL);
    if (len < FRAME_HEADER_BYTES) {
        FUZZ_CHECK(r == FRAME_NEED_MORE && *plen == 0);
        return r;
    }
    uint32_t n = fuzz_be32(buf);
    if (n == 0)
        FUZZ_CHECK(r == FRAME_ERR_EMPTY && *plen == 0);
    else if (n > cap)
        FUZZ_CHECK(r == FRAME_ERR_OVERSIZE && *plen == 0);
    else if (len - FRAME_HEADER_BYTES < n)
        FUZZ_CHECK(r == FRAME_NEED_MORE && *plen == n);
    else
        FUZZ_CHECK(r == FRAME_OK && *plen == n);
    return r;
}

/* Does m or any message inside it hold unknown fields? protobuf-c keeps them as it read them,
 * which for malformed ones (field number 0 in an overlong tag varint, say) can re-encode to
 * bytes it then rejects: that is protobuf-c's business, not the codec's. */
static bool fuzz_has_unknown(const ProtobufCMessage *m)
{
    if (m->n_unknown_fields > 0)
        return true;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &m->descriptor->fields[i];
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + fd->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + fd->offset);
            for (size_t j = 0; j < n; j++)
                if (fuzz_has_unknown(v[j]))
                    return true;
            continue;
        }
        /* Members of a oneof share their storage: only the one set counts. */
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
            *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
            continue;
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + fd->offset);
        if (sub != NULL && fuzz_has_unknown(sub))
            return true;
    }
    return false;
}

/* Re-encodes msg and checks that the frame decodes to a message that packs to the same bytes. */
static void fuzz_roundtrip(const ProtobufCMessage *msg, bool is_request)
{
    size_t size = frame_encoded_size(msg);
    uint8_t *a = malloc(size);
    FUZZ_CHECK(a != NULL);
    FUZZ_CHECK(frame_encode(msg, a) == size);
    size_t plen, used;
    FUZZ_CHECK(frame_peek(a, size, UINT32_MAX, &plen) == FRAME_OK ||
               size == FRAME_HEADER_BYTES); /* an all-default message packs to nothing */
    if (size > FRAME_HEADER_BYTES) {
        ProtobufCMessage *again;
        if (is_request) {
            Condd__V1__Request *m;
            FUZZ_CHECK(frame_decode_request(a, size, UINT32_MAX, NULL, &m, &used) == FRAME_OK);
            again = &m->base;
        } else {
            Condd__V1__Response *m;
            FUZZ_CHECK(frame_decode_response(a, size, UINT32_MAX, NULL, &m, &used) == FRAME_OK);
            again = &m->base;
        }
        FUZZ_CHECK(used == size);
        FUZZ_CHECK(frame_encoded_size(again) == size);
        uint8_t *b = malloc(size);
        FUZZ_CHECK(b != NULL);
        frame_encode(again, b);
        FUZZ_CHECK(memcmp(a, b, size) == 0);
        free(b);
        protobuf_c_message_free_unpacked(again, NULL);
    }
    free(a);
}

/* Decodes buf[0..len) as a stream of frames of one type until it needs more or fails. */
static void fuzz_stream(const uint8_t *buf, size_t len, uint32_t cap, bool is_request,
                        ProtobufCAllocator *alloc, struct arena *arena)
{
    size_t off = 0;
    for (;;) {
        size_t plen;
        enum frame_result pr = fuzz_peek(buf + off, len - off, cap, &plen);
        /* Poisoned outputs: the decoder must overwrite both whatever it returns. */
        static Condd__V1__Request poison_req;
        static Condd__V1__Response poison_resp;
        ProtobufCMessage *msg = NULL;
        size_t used = 99;
        enum frame_result r;
        if (is_request) {
            Condd__V1__Request *m = &poison_req;
            r = frame_decode_request(buf + off, len - off, cap, alloc, &m, &used);
            msg = m != NULL ? &m->base : NULL;
        } else {
            Condd__V1__Response *m = &poison_resp;
            r = frame_decode_response(buf + off, len - off, cap, alloc, &m, &used);
            msg = m != NULL ? &m->base : NULL;
        }
        if (r != FRAME_OK) {
            /* The decoder never gets further than peek, and leaves nothing behind. */
            FUZZ_CHECK(msg == NULL && used == 0);
            FUZZ_CHECK(pr != FRAME_OK ? r == pr : r == FRAME_ERR_DECODE || r == FRAME_ERR_NOMEM);
            return;
        }
        FUZZ_CHECK(pr == FRAME_OK);
        FUZZ_CHECK(msg != NULL && used == FRAME_HEADER_BYTES + plen && used <= len - off);
        FUZZ_CHECK(plen > 0 && plen <= cap);
        if (!fuzz_has_unknown(msg))
            fuzz_roundtrip(msg, is_request);
        if (arena == NULL || !arena_all_inside(arena))
            protobuf_c_message_free_unpacked(msg, alloc);
        if (arena != NULL)
            arena_reset(arena);
        off += used;
    }
}

/*
 * Input: byte 0 picks the cap (0: the daemon's default, 1: the client's, 2: UINT32_MAX, else
 * that many bytes times 4), the rest is the stream, decoded both as requests and as responses,
 * each with malloc and with a 1 KiB arena.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static _Alignas(16) unsigned char arena_buf[1024];
    if (size < 1)
        return 0;
    uint32_t cap;
    switch (data[0]) {
    case 0:
        cap = FRAME_DEFAULT_MAX_BYTES;
        break;
    case 1:
        cap = FRAME_CLIENT_MAX_BYTES;
        break;
    case 2:
        cap = UINT32_MAX;
        break;
    default:
        cap = 4u * data[0];
        break;
    }
    const uint8_t *buf = data + 1;
    size_t len = size - 1;

    struct arena arena;
    ProtobufCAllocator alloc;
    arena_init(&arena, arena_buf, sizeof arena_buf);
    arena_allocator_init(&alloc, &arena);
    for (int is_request = 0; is_request < 2; is_request++) {
        fuzz_stream(buf, len, cap, is_request, NULL, NULL);
        fuzz_stream(buf, len, cap, is_request, &alloc, &arena);
    }
    return 0;
}
