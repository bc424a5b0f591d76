/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The frame codec (see frame.h): length-prefix parsing with the cap checked first, and thin
 * wrappers over protobuf-c's pack and unpack that never touch a socket.
 */
#include "config.h"

#include "frame.h"

#include <string.h>

const char *frame_strerror(enum frame_result r)
{
    switch (r) {
    case FRAME_OK:
        return "ok";
    case FRAME_NEED_MORE:
        return "incomplete frame";
    case FRAME_ERR_OVERSIZE:
        return "frame length exceeds the maximum frame size";
    case FRAME_ERR_EMPTY:
        return "zero-length frame";
    case FRAME_ERR_DECODE:
        return "undecodable protobuf message";
    case FRAME_ERR_NOMEM:
        return "out of memory while decoding";
    }
    return "unknown frame error";
}

static uint32_t frame_read_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

enum frame_result frame_peek(const uint8_t *buf, size_t len, uint32_t max_payload,
                             size_t *payload_len)
{
    *payload_len = 0;
    if (len < FRAME_HEADER_BYTES)
        return FRAME_NEED_MORE;
    uint32_t n = frame_read_be32(buf);
    if (n == 0)
        return FRAME_ERR_EMPTY;
    if (n > max_payload)
        return FRAME_ERR_OVERSIZE;
    *payload_len = n;
    if (len - FRAME_HEADER_BYTES < n)
        return FRAME_NEED_MORE;
    return FRAME_OK;
}

/*
 * protobuf-c reports every unpack failure as NULL, out of memory included. A failure with a
 * well-formed length is overwhelmingly a bad payload, so it is reported as a decode error; the
 * allocator-failure case still closes only the one connection, which is the right outcome too.
 */
#define FRAME_DECODE_BODY(type, fn)                                                                \
    *out = NULL;                                                                                   \
    *consumed = 0;                                                                                 \
    size_t n;                                                                                      \
    enum frame_result r = frame_peek(buf, len, max_payload, &n);                                   \
    if (r != FRAME_OK)                                                                             \
        return r;                                                                                  \
    type *m = fn(allocator, n, buf + FRAME_HEADER_BYTES);                                          \
    if (m == NULL)                                                                                 \
        return FRAME_ERR_DECODE;                                                                   \
    *out = m;                                                                                      \
    *consumed = FRAME_HEADER_BYTES + n;                                                            \
    return FRAME_OK

enum frame_result frame_decode_request(const uint8_t *buf, size_t len, uint32_t max_payload,
                                       ProtobufCAllocator *allocator, Condd__V1__Request **out,
                                       size_t *consumed)
{
    FRAME_DECODE_BODY(Condd__V1__Request, condd__v1__request__unpack);
}

enum frame_result frame_decode_response(const uint8_t *buf, size_t len, uint32_t max_payload,
                                        ProtobufCAllocator *allocator, Condd__V1__Response **out,
                                        size_t *consumed)
{
    FRAME_DECODE_BODY(Condd__V1__Response, condd__v1__response__unpack);
}

size_t frame_encoded_size(const ProtobufCMessage *msg)
{
    return FRAME_HEADER_BYTES + protobuf_c_message_get_packed_size(msg);
}

size_t frame_encode(const ProtobufCMessage *msg, uint8_t *out)
{
    size_t n = protobuf_c_message_pack(msg, out + FRAME_HEADER_BYTES);
    out[0] = (uint8_t)(n >> 24);
    out[1] = (uint8_t)(n >> 16);
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)n;
    return FRAME_HEADER_BYTES + n;
}
