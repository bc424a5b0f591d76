/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The frame codec: a 4-byte big-endian length, then one protobuf message. Pure functions over
 * byte buffers, no I/O and no state, shared by the daemon and the client library. The length is
 * checked against the caller's cap before anything is allocated or unpacked.
 */
#ifndef CONDD_PROTO_FRAME_H
#define CONDD_PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "condd.pb-c.h"

#define FRAME_HEADER_BYTES 4u
/* Default cap on a request payload (the daemon's --max-frame-bytes). */
#define FRAME_DEFAULT_MAX_BYTES (64u * 1024u)
/* Cap a client applies to response payloads: List and Stats replies may exceed request caps. */
#define FRAME_CLIENT_MAX_BYTES (16u * 1024u * 1024u)

enum frame_result {
    FRAME_OK = 0,            /* a whole frame is present (or was encoded) */
    FRAME_NEED_MORE = 1,     /* the buffer holds only part of a frame; read more */
    FRAME_ERR_OVERSIZE = -1, /* the length prefix exceeds the cap */
    FRAME_ERR_EMPTY = -2,    /* the length prefix is zero: no message is ever empty on the wire */
    FRAME_ERR_DECODE = -3,   /* the payload is not a valid message of the expected type */
    FRAME_ERR_NOMEM = -4,    /* out of memory while unpacking */
};

/* A short constant description of a frame_result, for logs and error replies. */
const char *frame_strerror(enum frame_result r);

/*
 * Looks at the first bytes of buf[0..len) without consuming them. On FRAME_OK, *payload_len is
 * the payload length and the whole frame (FRAME_HEADER_BYTES + *payload_len bytes) is present.
 * FRAME_NEED_MORE when fewer bytes than that are present; *payload_len is then set if the
 * header itself is complete (so the caller can tell how much to wait for), else 0.
 * An oversize or zero length is reported as soon as the 4 header bytes are there.
 * buf is borrowed; nothing is allocated.
 */
enum frame_result frame_peek(const uint8_t *buf, size_t len, uint32_t max_payload,
                             size_t *payload_len);

/*
 * Decodes one Request frame from the start of buf[0..len). On FRAME_OK, *out is a message the
 * caller frees with condd__v1__request__free_unpacked(*out, allocator) and *consumed is the
 * number of bytes the frame took. allocator may be NULL (malloc). On any other result *out is
 * NULL and nothing needs freeing; *consumed is 0.
 */
enum frame_result frame_decode_request(const uint8_t *buf, size_t len, uint32_t max_payload,
                                       ProtobufCAllocator *allocator, Condd__V1__Request **out,
                                       size_t *consumed);

/* The same for a Response frame (used by clients). */
enum frame_result frame_decode_response(const uint8_t *buf, size_t len, uint32_t max_payload,
                                        ProtobufCAllocator *allocator, Condd__V1__Response **out,
                                        size_t *consumed);

/* Bytes frame_encode() writes for msg: the header plus the packed message. */
size_t frame_encoded_size(const ProtobufCMessage *msg);

/*
 * Writes the frame for msg into out, which must have room for frame_encoded_size(msg) bytes,
 * and returns the number of bytes written. msg and out are borrowed.
 */
size_t frame_encode(const ProtobufCMessage *msg, uint8_t *out);

#endif
