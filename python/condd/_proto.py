# SPDX-License-Identifier: BSD-2-Clause
"""Imports the message classes protoc generated from proto/condd.proto (condd_pb2, written at
build time, never committed) and the frame codec: a 4-byte big-endian length, then one
message (docs/protocol.md §3). No I/O here."""

import os
import socket
import struct

try:
    from . import condd_pb2 as pb
except ImportError as e:  # pragma: no cover - a setup problem, not a runtime one
    raise ImportError(
        "condd: the generated module condd.condd_pb2 is missing; build it with "
        "`protoc --python_out=DIR proto/condd.proto` (see docs/python.md)") from e

# Largest response frame a client accepts (protocol.md §3.1).
MAX_RESPONSE_BYTES = 16 * 1024 * 1024

_LEN = struct.Struct(">I")


def fill_hello(req, client_name, session_timeout, token, grace, acks=False):
    """Fills req.hello (req a Request, its id set) for a new session: the asyncio client and the
    blocking one say the same. client_name None: "python/PID@HOST". acks: ask for acknowledged
    delivery (protocol.md §5.6.2) with the grace; only a client that resumes asks."""
    if client_name is None:
        client_name = "python/%d@%s" % (os.getpid(), socket.gethostname())
    req.hello.protocol_version = 1
    req.hello.client_name = client_name
    req.hello.session_timeout_s = session_timeout
    if grace:
        req.hello.grace_s = grace
        if acks:
            req.hello.acks = True
    if token:
        req.hello.auth_token = token


def encode(request):
    """One Request as a frame (bytes)."""
    payload = request.SerializeToString()
    return _LEN.pack(len(payload)) + payload


def request_id(frame):
    """The id of the Request in frame (one frame of encode()). The id is field 1 and protobuf
    writes fields in number order, so it is the varint right after the tag byte 0x08."""
    if frame[4] != 0x08:  # id 0, or another encoder: parse the message
        return pb.Request.FromString(frame[4:]).id
    b = frame[5]
    if b < 0x80:  # ids below 128
        return b
    c = frame[6]
    if c < 0x80:  # below 16384
        return (b & 0x7F) | c << 7
    rid, shift, pos = 0, 0, 5
    while True:
        b = frame[pos]
        rid |= (b & 0x7F) << shift
        if b < 0x80:
            return rid
        shift += 7
        pos += 1


def frame_length(header):
    """The payload length of a 4-byte header, checked against the cap: ValueError if bad."""
    (n,) = _LEN.unpack(header)
    if n == 0 or n > MAX_RESPONSE_BYTES:
        raise ValueError("bad response frame length %d" % n)
    return n
