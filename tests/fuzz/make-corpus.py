#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
#
# Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/frame/ and conn/). Run once by
# hand when the input formats of fuzz_frame.c or fuzz_conn.c change, and commit the result:
#   python3 tests/fuzz/make-corpus.py
# Standard library only: a few lines of protobuf encoding are enough for condd.proto.
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- protobuf, by hand
def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(num, n):
    return varint(num << 3) + varint(n)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def f_double(num, x):
    return varint(num << 3 | 1) + struct.pack("<d", x)


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def req(rid, field, body=b""):
    return frame(f_varint(1, rid) + f_bytes(field, body))


def timeout(s):
    return f_double(1, s)


def hello(rid=1, version=1, name="seed", t=None):
    body = f_varint(1, version) + f_bytes(2, name)
    if t is not None:
        body += f_double(3, t)
    return req(rid, 10, body)


def acquire(rid, lock, owner=0, t=None):
    body = f_bytes(1, lock) + f_varint(2, owner)
    if t is not None:
        body += f_bytes(3, timeout(t))
    return req(rid, 12, body)


def release(rid, lock, owner=0):
    return req(rid, 13, f_bytes(1, lock) + f_varint(2, owner))


def wait(rid, cond, lock, owner=0, t=None, notify_first=0):
    body = f_bytes(1, cond) + f_bytes(2, lock) + f_varint(3, owner)
    if t is not None:
        body += f_bytes(4, timeout(t))
    return req(rid, 15, body + f_varint(5, notify_first))


def notify(rid, cond, lock, owner=0, n=1):
    return req(rid, 16, f_bytes(1, cond) + f_bytes(2, lock) + f_varint(3, owner) + f_varint(4, n))


def resp(rid, status, field=None, body=b"", message=""):
    p = f_varint(1, rid) + f_varint(2, status)
    if message:
        p += f_bytes(3, message)
    if field is not None:
        p += f_bytes(field, body)
    return frame(p)


# ---------------------------------------------------------------- fuzz_frame.c inputs
# Byte 0 picks the cap: 0 the daemon's default, 1 the client's, 2 none, else 4 * byte.
FRAME = {
    "hello": b"\x00" + hello(),
    "ping": b"\x00" + req(2, 11),
    "acquire": b"\x00" + acquire(3, "a", 7, 1.5),
    "wait-notify": b"\x00" + wait(4, "c", "a", 0, 0.25, 1) + notify(5, "c", "a", 0, 2),
    "stream": b"\x00" + hello() + acquire(2, "a") + release(3, "a") + req(4, 19) + req(5, 20),
    "cancel-list": b"\x00" + req(6, 18, f_varint(1, 3)) + req(7, 20, f_bytes(1, "a") + f_varint(2, 5)),
    "empty-frame": b"\x00" + b"\x00\x00\x00\x00",
    "oversize": b"\x00" + struct.pack(">I", 64 * 1024 + 1) + b"x" * 8,
    "at-cap": b"\x05" + frame(f_bytes(20, b"p" * 12) + f_varint(1, 1)),
    "over-small-cap": b"\x03" + frame(f_bytes(20, f_bytes(1, b"p" * 16))),
    "partial-header": b"\x00" + b"\x00\x00",
    "partial-payload": b"\x00" + hello()[:9],
    "bad-varint": b"\x00" + frame(b"\x08" + b"\xff" * 11),
    "bad-wiretype": b"\x00" + frame(b"\x0f\x01"),
    "huge-length-field": b"\x02" + frame(b"\x52\xff\xff\xff\xff\x0f"),
    "unknown-field": b"\x00" + frame(f_varint(1, 9) + f_bytes(99, "?") + f_varint(100, 1)),
    "two-bodies": b"\x00" + frame(f_varint(1, 1) + f_bytes(11, b"") + f_bytes(19, b"")),
    "resp-hello": b"\x01" + resp(1, 0, 10, f_bytes(1, "condd 0.1.0") + f_varint(2, 1)
                                 + f_varint(3, 1) + f_double(4, 10.0) + f_varint(5, 65536)),
    "resp-error": b"\x01" + resp(0, 11, message="zero-length frame"),
    "resp-stats": b"\x01" + resp(9, 0, 19, f_double(1, 1.0) + f_varint(2, 1)
                                 + f_bytes(14, f_bytes(1, "acquire") + f_bytes(2, "ok") + f_varint(3, 4))),
    "resp-list": b"\x01" + resp(8, 0, 20, f_bytes(1, f_bytes(1, "a") + f_varint(2, 1)
                                                + f_bytes(4, "seed")) + f_varint(3, 1)),
    "no-cap": b"\x02" + frame(f_bytes(1, b"")),
    # round 2 bodies 21-31 and their results
    "round2-requests": b"\x00" + req(1, 21, f_bytes(1, "s") + f_varint(2, 1) + f_bytes(3, timeout(0.5))
                                      + f_varint(4, 3) + f_varint(5, 1))
    + req(2, 22, f_bytes(1, "s") + f_varint(3, 3) + f_varint(4, 1)) + req(3, 23, f_bytes(1, "s"))
    + req(4, 24, f_bytes(1, "e")) + req(5, 25, f_bytes(1, "e")) + req(6, 26, f_bytes(1, "e"))
    + req(7, 27, f_bytes(1, "e") + f_bytes(2, timeout(1)))
    + req(8, 28, f_bytes(1, "b") + f_varint(2, 2) + f_bytes(3, timeout(0)))
    + req(9, 29, f_bytes(1, "b") + f_varint(2, 2)) + req(10, 30, f_bytes(1, "b"))
    + req(11, 31, f_bytes(1, "b")),
    "round2-results": b"\x01" + resp(1, 0, 21, f_varint(1, 7)) + resp(2, 0, 22)
    + resp(3, 0, 23, f_varint(1, 1) + f_varint(2, 1) + f_varint(3, 0) + f_varint(4, 3))
    + resp(4, 0, 24, f_varint(1, 2)) + resp(5, 0, 25) + resp(6, 0, 26, f_varint(1, 1))
    + resp(7, 0, 27) + resp(8, 0, 28, f_varint(1, 1)) + resp(9, 0, 29, f_varint(1, 1))
    + resp(10, 0, 30, f_varint(1, 2))
    + resp(11, 0, 31, f_varint(1, 1) + f_varint(2, 3) + f_varint(3, 2) + f_varint(4, 1))
    + resp(12, 14, message="value mismatch") + resp(13, 15, message="barrier broken"),
}

# ---------------------------------------------------------------- fuzz_conn.c inputs
# Raw mode: byte 0 even (bit 1: a Hello first), byte 1 the chunk size (0: all at once).
# Structured mode: byte 0 odd (connections: 1 + ((byte >> 1) & 3) % 3; bit 3: no opening Hello),
# then ops: a byte (top 2 bits: connection, low 6 bits % 28: the op below) and its arguments.
HELLO, PING, ACQ, REL, LOCKED, WAIT, NOTIFY, NALL, CANCEL, STATS, LIST, NOBODY, RAW, SETTLE, \
    SLEEP, RECONNECT, SACQ, SREL, SLOCKED, ESET, ECLEAR, EISSET, EWAIT, BWAIT, BRESET, BABORT, \
    BSTATE, SHUTDOWN = range(28)
GOODBYE, BREAK, KILL = range(28, 31)
# round 3 (resume, acknowledged delivery): HGRACE g a (an opening Hello asking for grace g % 8
# of 1, 30, 0.002, 0, 5, 1e300, 1e-9, -1 s; acks unless a % 4 == 3), after which every request op
# of that session ends with an ack byte (< 160: what was received; 160-199: a little less; 200-219:
# 0; 220-239: more than received; 240-249: 2^64 - 1; else absurd); VANISH f (close without
# Goodbye, writing what is queued when f is odd); RESUME t w a (a new connection in the slot
# resumes known session t % count; w % 10 < 5: the real secret, else a wrong one; a % 8 < 4: ack
# what was received, 4: less, 5: 0, 6: more, 7: 2^64 - 1).
HGRACE, VANISH, RESUME = range(31, 34)
G1, G30, GSHORT, G0, G5, GHUGE, GTINY, GNEG = range(8)
ACKS, NOACKS = 0, 3
ACK, ACKLESS, ACK0, ACKMORE, ACKMAX, ACKABSURD = 0, 161, 200, 220, 240, 250
REAL, WRONG_BIT, WRONG_EMPTY, WRONG_SHORT, WRONG_ID, WRONG_NOID = 0, 5, 6, 7, 8, 9
R_EXACT, R_LESS, R_ZERO, R_MORE, R_MAX = 0, 4, 5, 6, 7
SMALLBUF = 0x10
# Argument bytes: names 0-3 are "a", "b", "c", "q/1"; 240-255 unusual ones. Timeouts (% 8):
# 0 absent, 1 zero, 2 3600 s, 3 -1, 4 NaN, 5 inf, 6 2 ms, 7 1e300.
A, B, C = 0, 1, 2
T_NONE, T_ZERO, T_HOUR, T_NEG, T_NAN, T_INF, T_SHORT, T_HUGE = range(8)
# Semaphore values and barrier parties (fuzz_count()): 0-2 are 1-3; 240 is 0, 241 2^31 (the
# largest valid), 242 2^31 + 1, 243 2^32 - 1.
V1, V2, V3, V0, VMAX, VOVER, VU32 = 0, 1, 2, 240, 241, 242, 243
UNBOUNDED, BOUNDED = 0, 1


def op(conn, kind, *args):
    return bytes([(conn << 6) | kind, *args])


ONE, TWO, THREE, NOHELLO = 1, 3, 5, 9

CONN = {
    "raw-hello-ping": b"\x00\x00" + hello() + req(2, 11),
    "raw-chunked": b"\x00\x03" + hello() + acquire(2, "a") + release(3, "a") + req(4, 19),
    "raw-no-hello": b"\x00\x00" + acquire(1, "a"),
    "raw-prepended-hello": b"\x02\x00" + acquire(2, "a", 0, 0) + req(3, 20),
    "raw-garbage": b"\x02\x00" + b"\x00\x00\x00\x03\xff\xff\xff",
    "raw-empty-frame": b"\x02\x00" + b"\x00\x00\x00\x00",
    "raw-oversize": b"\x02\x00" + struct.pack(">I", 1 << 20),
    "raw-partial": b"\x02\x00" + acquire(2, "a")[:7],
    "raw-bad-version": b"\x00\x00" + hello(version=2),
    "raw-bad-session-timeout": b"\x00\x00" + hello(t=-1.0),
    "raw-double-hello": b"\x02\x00" + hello(2),
    "raw-many-frames": b"\x02\x00" + b"".join(req(i, 11) for i in range(2, 150)),
    "raw-bad-names": b"\x02\x00" + acquire(2, b"") + acquire(3, b"\xff") + acquire(4, b"a\x00b"),
    "ping-stats-list": bytes([ONE]) + op(0, PING) + op(0, STATS) + op(0, LIST, A, 1, 2),
    "acquire-release": bytes([ONE]) + op(0, ACQ, A, 0, T_NONE) + op(0, REL, A, 0) + op(0, LOCKED, A),
    "acquire-twice": bytes([ONE]) + op(0, ACQ, A, 0, T_NONE) + op(0, ACQ, A, 0, T_ZERO) + op(0, ACQ, A, 1, T_ZERO),
    "release-not-owner": bytes([ONE]) + op(0, REL, B, 2),
    "contend": bytes([TWO]) + op(0, ACQ, A, 0, T_NONE) + op(0, SETTLE) + op(1, ACQ, A, 0, T_NONE)
    + op(1, SETTLE) + op(0, REL, A, 0) + op(0, SETTLE) + op(1, REL, A, 0),
    "contend-close-holder": bytes([TWO]) + op(0, ACQ, A, 0, T_NONE) + op(0, SETTLE)
    + op(1, ACQ, A, 0, T_HOUR) + op(1, SETTLE) + op(0, RECONNECT) + op(0, ACQ, A, 0, T_NONE),
    "contend-close-waiter": bytes([TWO]) + op(0, ACQ, A, 0, T_NONE) + op(0, SETTLE)
    + op(1, ACQ, A, 0, T_NONE) + op(1, SETTLE) + op(1, RECONNECT) + op(0, REL, A, 0),
    "wait-notify": bytes([TWO]) + op(0, ACQ, A, 0, T_NONE) + op(0, WAIT, C, A, 0, T_NONE, 0)
    + op(0, SETTLE) + op(1, ACQ, A, 0, T_NONE) + op(1, NOTIFY, C, A, 0, 1) + op(1, REL, A, 0)
    + op(1, SETTLE) + op(0, REL, A, 0),
    "wait-notify-all": bytes([THREE]) + op(0, ACQ, A, 0, T_NONE) + op(0, WAIT, C, A, 0, T_NONE, 0)
    + op(0, SETTLE) + op(1, ACQ, A, 0, T_NONE) + op(1, WAIT, C, A, 0, T_HOUR, 0) + op(1, SETTLE)
    + op(2, ACQ, A, 0, T_NONE) + op(2, NALL, C, A, 0) + op(2, REL, A, 0) + op(2, SETTLE),
    "wait-handoff": bytes([TWO]) + op(0, ACQ, A, 0, T_NONE) + op(0, WAIT, C, A, 0, T_NONE, 0)
    + op(0, SETTLE) + op(1, ACQ, A, 0, T_NONE) + op(1, WAIT, C, A, 0, T_NONE, 1) + op(1, SETTLE)
    + op(0, NOTIFY, C, A, 0, 255) + op(0, REL, A, 0),
    "wait-close-while-waiting": bytes([TWO]) + op(0, ACQ, A, 0, T_NONE)
    + op(0, WAIT, C, A, 0, T_NONE, 0) + op(0, SETTLE) + op(1, ACQ, A, 0, T_NONE)
    + op(1, NOTIFY, C, A, 0, 1) + op(1, SETTLE) + op(0, RECONNECT) + op(1, REL, A, 0),
    "wait-not-held": bytes([ONE]) + op(0, WAIT, C, A, 0, T_NONE, 0),
    "wait-lock-mismatch": bytes([TWO]) + op(0, ACQ, A, 0, T_NONE) + op(0, WAIT, C, A, 0, T_NONE, 0)
    + op(1, ACQ, B, 0, T_NONE) + op(1, WAIT, C, B, 0, T_ZERO, 0) + op(1, NOTIFY, C, B, 0, 1),
    "wait-zero-timeout": bytes([ONE]) + op(0, ACQ, A, 0, T_NONE) + op(0, WAIT, C, A, 0, T_ZERO, 0)
    + op(0, SETTLE) + op(0, LOCKED, A),
    "short-timeouts-sleep": bytes([TWO]) + op(0, ACQ, A, 0, T_NONE) + op(1, ACQ, A, 0, T_SHORT)
    + op(0, WAIT, C, A, 0, T_SHORT, 0) + op(0, SETTLE) + op(0, SLEEP) + op(0, STATS),
    "bad-timeouts": bytes([ONE]) + op(0, ACQ, A, 0, T_NEG) + op(0, ACQ, A, 0, T_NAN)
    + op(0, ACQ, A, 0, T_INF) + op(0, ACQ, A, 0, T_HUGE) + op(0, WAIT, C, A, 0, T_HUGE, 0),
    "cancel-acquire": bytes([TWO]) + op(0, ACQ, A, 0, T_NONE) + op(0, SETTLE) + op(1, ACQ, A, 0, T_NONE)
    + op(1, CANCEL, 0) + op(1, CANCEL, 1) + op(1, SETTLE) + op(0, REL, A, 0),
    "cancel-wait": bytes([TWO]) + op(0, ACQ, A, 0, T_NONE) + op(0, WAIT, C, A, 0, T_NONE, 0)
    + op(0, CANCEL, 1) + op(0, SETTLE) + op(1, ACQ, A, 0, T_NONE) + op(1, REL, A, 0),
    "cancel-unknown": bytes([ONE]) + op(0, CANCEL, 250) + op(0, NOBODY),
    "owners": bytes([ONE]) + op(0, ACQ, A, 0, T_NONE) + op(0, ACQ, A, 1, T_NONE) + op(0, SETTLE)
    + op(0, REL, A, 0) + op(0, SETTLE) + op(0, REL, A, 1),
    "names-unusual": bytes([ONE]) + op(0, ACQ, 240, 0, 0) + op(0, ACQ, 241, 0, 0)
    + op(0, ACQ, 242, 0, 0) + op(0, ACQ, 243, 0, 0) + op(0, ACQ, 244, 0, 0)
    + op(0, ACQ, 245, 3, 0xc3, 0xa9, 0x21, 0, 0) + op(0, LIST, 245, 1, 0x71, 0, 0),
    "no-hello": bytes([NOHELLO]) + op(0, PING),
    "hello-later": bytes([NOHELLO]) + op(0, HELLO, 1, 2) + op(0, ACQ, A, 0, T_NONE) + op(0, HELLO, 0, 0),
    "hello-bad": bytes([NOHELLO | 2]) + op(0, HELLO, 250, 0) + op(1, HELLO, 1, 3),
    "raw-in-structured": bytes([TWO]) + op(0, ACQ, A, 0, T_NONE) + op(0, SETTLE)
    + op(1, ACQ, A, 0, T_NONE) + op(1, RAW, 4, 0, 0, 0, 0) + op(1, SETTLE),
    "partial-then-close": bytes([ONE]) + op(0, RAW, 6, 0, 0, 0, 9, 8, 1) + op(0, SETTLE),
    "list-held": bytes([THREE]) + op(0, ACQ, A, 0, T_NONE) + op(1, ACQ, B, 0, T_NONE)
    + op(2, ACQ, A, 0, T_NONE) + op(0, WAIT, C, A, 0, T_NONE, 0) + op(0, SETTLE)
    + op(2, LIST, A, 0, 0) + op(2, LIST, 3, 1, 1) + op(2, STATS),
    # round 2: semaphores, events, barriers (protocol.md §17-§19)
    "sem-acquire-release": bytes([ONE]) + op(0, SACQ, A, 0, T_NONE, V1, UNBOUNDED)
    + op(0, SLOCKED, A) + op(0, SREL, A, 0, V1, UNBOUNDED) + op(0, SLOCKED, A),
    "sem-contend": bytes([TWO]) + op(0, SACQ, A, 0, T_NONE, V1, BOUNDED) + op(0, SETTLE)
    + op(1, SACQ, A, 0, T_NONE, V1, BOUNDED) + op(1, SETTLE) + op(0, SREL, A, 0, V1, BOUNDED)
    + op(0, SETTLE) + op(1, SLOCKED, A) + op(1, SREL, A, 0, V1, BOUNDED),
    "sem-value-mismatch": bytes([TWO]) + op(0, SACQ, A, 0, T_NONE, V2, UNBOUNDED)
    + op(1, SACQ, A, 0, T_ZERO, V3, UNBOUNDED) + op(1, SACQ, A, 0, T_ZERO, V2, BOUNDED)
    + op(1, SREL, A, 0, V3, UNBOUNDED) + op(1, SACQ, A, 1, T_NONE, V2, UNBOUNDED),
    "sem-post-and-bounded": bytes([ONE]) + op(0, SREL, A, 0, V1, UNBOUNDED)
    + op(0, SREL, A, 1, V1, UNBOUNDED) + op(0, SREL, B, 0, V2, BOUNDED) + op(0, SLOCKED, A)
    + op(0, SLOCKED, B),
    "sem-bad-values": bytes([ONE]) + op(0, SACQ, A, 0, T_NONE, V0, UNBOUNDED)
    + op(0, SACQ, A, 0, T_NONE, VOVER, UNBOUNDED) + op(0, SACQ, A, 0, T_NONE, VU32, BOUNDED)
    + op(0, SACQ, B, 0, T_NEG, VMAX, UNBOUNDED) + op(0, SACQ, B, 0, T_NONE, VMAX, UNBOUNDED)
    + op(0, SREL, C, 0, VMAX, UNBOUNDED) + op(0, SREL, 240, 0, V1, UNBOUNDED),
    "sem-close-holder": bytes([TWO]) + op(0, SACQ, A, 0, T_NONE, V1, BOUNDED) + op(0, SETTLE)
    + op(1, SACQ, A, 0, T_HOUR, V1, BOUNDED) + op(1, SETTLE) + op(0, RECONNECT)
    + op(0, SLOCKED, A) + op(0, SACQ, A, 0, T_ZERO, V1, BOUNDED),
    "sem-close-waiter": bytes([TWO]) + op(0, SACQ, A, 0, T_NONE, V1, UNBOUNDED) + op(0, SETTLE)
    + op(1, SACQ, A, 0, T_NONE, V1, UNBOUNDED) + op(1, SETTLE) + op(1, RECONNECT)
    + op(0, SREL, A, 0, V1, UNBOUNDED),
    "sem-cancel-and-timeout": bytes([ONE]) + op(0, SACQ, A, 0, T_NONE, V1, UNBOUNDED)
    + op(0, SACQ, A, 1, T_NONE, V1, UNBOUNDED) + op(0, CANCEL, 1)
    + op(0, SACQ, A, 2, T_SHORT, V1, UNBOUNDED) + op(0, SLEEP) + op(0, SREL, A, 0, V1, UNBOUNDED),
    "event-set-wakes-waiters": bytes([THREE]) + op(0, EWAIT, A, T_NONE) + op(1, EWAIT, A, T_HOUR)
    + op(0, SETTLE) + op(2, EISSET, A) + op(2, ESET, A) + op(2, ESET, A) + op(2, EISSET, A)
    + op(2, EWAIT, A, T_ZERO) + op(2, ECLEAR, A) + op(2, ECLEAR, A) + op(2, EWAIT, A, T_ZERO),
    "event-cancel-close-wait": bytes([TWO]) + op(0, EWAIT, A, T_NONE) + op(0, CANCEL, 1)
    + op(1, EWAIT, A, T_NONE) + op(1, EWAIT, B, T_HOUR) + op(1, SETTLE) + op(1, RECONNECT)
    + op(0, EISSET, A) + op(0, EWAIT, A, T_SHORT) + op(0, SLEEP),
    "event-left-set": bytes([TWO]) + op(0, ESET, A) + op(1, ESET, B) + op(1, ECLEAR, C)
    + op(0, ESET, 240) + op(0, EWAIT, 244, T_NONE) + op(0, EWAIT, A, T_NAN),
    "barrier-fill": bytes([THREE]) + op(0, BWAIT, A, V3, T_NONE) + op(1, BWAIT, A, V3, T_HOUR)
    + op(0, SETTLE) + op(2, BSTATE, A) + op(2, BWAIT, A, V3, T_NONE) + op(2, SETTLE)
    + op(2, BSTATE, A) + op(2, BWAIT, B, V1, T_ZERO),
    "barrier-parties-mismatch": bytes([TWO]) + op(0, BWAIT, A, V2, T_NONE) + op(0, SETTLE)
    + op(1, BWAIT, A, V3, T_NONE) + op(1, BRESET, A, V3) + op(1, BABORT, A, V3)
    + op(1, BWAIT, A, V0, T_NONE) + op(1, BWAIT, A, VOVER, T_NONE) + op(1, BWAIT, A, V2, T_NONE),
    "barrier-abort-reset": bytes([TWO]) + op(0, BWAIT, A, V3, T_NONE) + op(0, BWAIT, A, V3, T_NONE)
    + op(0, SETTLE) + op(1, BABORT, A, V0) + op(1, BWAIT, A, V3, T_NONE) + op(1, BSTATE, A)
    + op(1, BABORT, A, V3) + op(1, BRESET, A, V0) + op(1, BSTATE, A) + op(1, BABORT, B, V0)
    + op(1, BABORT, C, VMAX) + op(1, BRESET, B, V2),
    "barrier-close-waiter": bytes([TWO]) + op(0, BWAIT, A, V2, T_NONE) + op(0, SETTLE)
    + op(0, RECONNECT) + op(1, BWAIT, A, V2, T_ZERO) + op(1, BWAIT, A, V2, T_NONE)
    + op(1, SETTLE) + op(0, BWAIT, A, V2, T_NONE),
    "barrier-cancel-timeout": bytes([ONE]) + op(0, BWAIT, A, V2, T_NONE) + op(0, CANCEL, 1)
    + op(0, BWAIT, B, V3, T_SHORT) + op(0, BWAIT, B, V3, T_NONE) + op(0, SLEEP)
    + op(0, BSTATE, B) + op(0, BRESET, B, V0),
    "kinds-share-names": bytes([THREE]) + op(0, ACQ, A, 0, T_NONE) + op(0, WAIT, B, A, 0, T_NONE, 0)
    + op(1, SACQ, A, 0, T_NONE, V1, UNBOUNDED) + op(1, SACQ, B, 0, T_NONE, V1, UNBOUNDED)
    + op(1, EWAIT, A, T_NONE) + op(2, BWAIT, A, V2, T_NONE) + op(2, ESET, B) + op(0, SETTLE)
    + op(2, LIST, A, 1, 0) + op(2, STATS) + op(2, ESET, A) + op(2, BWAIT, A, V2, T_NONE)
    + op(2, BABORT, B, V1) + op(1, RECONNECT) + op(0, RECONNECT) + op(2, LIST, A, 0, 0),
    "shutdown-mid-waits": bytes([THREE]) + op(0, ACQ, A, 0, T_NONE) + op(0, WAIT, C, A, 0, T_NONE, 0)
    + op(1, ACQ, A, 0, T_HOUR) + op(1, SACQ, B, 0, T_NONE, V1, UNBOUNDED)
    + op(2, SACQ, B, 0, T_NONE, V1, UNBOUNDED) + op(2, EWAIT, C, T_NONE) + op(1, BWAIT, A, V3, T_NONE)
    + op(2, BWAIT, A, V3, T_HOUR) + op(0, SETTLE) + op(0, SHUTDOWN) + op(0, STATS)
    + op(1, EWAIT, C, T_NONE) + op(2, BWAIT, A, V3, T_NONE) + op(2, ESET, C) + op(2, BABORT, B, V2)
    + op(1, SACQ, B, 1, T_NONE, V1, UNBOUNDED) + op(0, REL, A, 0) + op(1, RECONNECT),
    # round 3: resume (protocol.md §5.5-§5.6) and acknowledged delivery (§5.6.2)
    "resume-acks": bytes([NOHELLO]) + op(0, HGRACE, G30, ACKS) + op(0, ACQ, A, 0, T_NONE, ACK)
    + op(0, PING, ACK) + op(0, SETTLE) + op(0, VANISH, 1) + op(0, RESUME, 0, REAL, R_EXACT)
    + op(0, PING, ACK) + op(0, LOCKED, A, ACK) + op(0, SETTLE) + op(0, REL, A, 0, ACK)
    + op(0, GOODBYE, ACK),
    "resume-acks-resent": bytes([NOHELLO]) + op(0, HGRACE, G30, ACKS) + op(0, ACQ, A, 0, T_NONE, ACK)
    + op(0, PING, ACK) + op(0, PING, ACK) + op(0, SETTLE) + op(0, VANISH, 0)
    + op(0, RESUME, 0, REAL, R_LESS) + op(0, SETTLE) + op(0, PING, ACKLESS) + op(0, VANISH, 1)
    + op(0, RESUME, 0, REAL, R_LESS + 8) + op(0, SETTLE) + op(0, REL, A, 0, ACK)
    + op(0, VANISH, 1) + op(0, RESUME, 0, REAL, R_ZERO) + op(0, SETTLE) + op(0, PING, ACK),
    "resume-acks-pending-granted": bytes([NOHELLO | 2]) + op(1, HELLO, 0, 0)
    + op(1, ACQ, A, 0, T_NONE) + op(1, SETTLE) + op(0, HGRACE, G30, ACKS)
    + op(0, ACQ, A, 0, T_NONE, ACK) + op(0, WAIT, C, B, 0, T_NONE, 0, ACK) + op(0, SETTLE)
    + op(0, VANISH, 1) + op(1, REL, A, 0) + op(1, SETTLE) + op(0, RESUME, 0, REAL, R_EXACT)
    + op(0, SETTLE) + op(0, REL, A, 0, ACK) + op(1, ACQ, A, 0, T_NONE),
    "resume-no-acks-kept": bytes([NOHELLO | 2]) + op(1, HELLO, 0, 0) + op(1, ACQ, A, 0, T_NONE)
    + op(1, SETTLE) + op(0, HGRACE, G30, NOACKS) + op(0, ACQ, A, 0, T_NONE, ACK)
    + op(0, SACQ, B, 0, T_NONE, V1, UNBOUNDED, ACK) + op(0, SETTLE) + op(0, VANISH, 0)
    + op(1, REL, A, 0) + op(1, SREL, B, 0, V1, UNBOUNDED) + op(1, SETTLE)
    + op(0, RESUME, 0, REAL, R_EXACT) + op(0, SETTLE) + op(0, REL, A, 0, ACK),
    "resume-takeover": bytes([NOHELLO | 2]) + op(0, HGRACE, G30, ACKS)
    + op(0, ACQ, A, 0, T_NONE, ACK) + op(0, PING, ACK) + op(0, SETTLE)
    + op(1, RESUME, 0, REAL, R_EXACT) + op(1, PING, ACK) + op(0, PING, ACK) + op(1, SETTLE)
    + op(0, RESUME, 0, REAL, R_LESS) + op(0, SETTLE) + op(0, REL, A, 0, ACK),
    "resume-wrong": bytes([NOHELLO | 2]) + op(0, HGRACE, G30, ACKS) + op(0, PING, ACK)
    + op(0, SETTLE) + op(0, VANISH, 1) + op(1, RESUME, 0, WRONG_BIT, 0) + op(1, SETTLE)
    + op(1, RESUME, 0, WRONG_EMPTY, 0) + op(1, SETTLE) + op(1, RESUME, 0, WRONG_SHORT, 0)
    + op(1, SETTLE) + op(1, RESUME, 0, WRONG_ID, 0) + op(1, SETTLE)
    + op(1, RESUME, 0, WRONG_NOID, 0) + op(1, SETTLE) + op(1, HELLO, 0, 0) + op(1, PING)
    + op(1, RESUME, 0, REAL, R_EXACT) + op(1, PING, ACK),
    "resume-ended": bytes([NOHELLO | 2]) + op(0, HGRACE, G30, ACKS) + op(0, GOODBYE, ACK)
    + op(1, HGRACE, GSHORT, NOACKS) + op(1, ACQ, B, 0, T_NONE, ACK) + op(1, SETTLE)
    + op(1, VANISH, 1) + op(0, SLEEP) + op(0, RESUME, 0, REAL, R_EXACT) + op(0, SETTLE)
    + op(0, RESUME, 1, REAL, R_EXACT) + op(0, SETTLE) + op(0, HELLO, 0, 0) + op(0, LOCKED, B),
    "resume-absurd-acks": bytes([NOHELLO]) + op(0, HGRACE, G5, ACKS) + op(0, PING, ACK)
    + op(0, PING, ACKMORE) + op(0, PING, ACKMAX) + op(0, PING, ACKABSURD) + op(0, PING, ACK0)
    + op(0, SETTLE) + op(0, VANISH, 1) + op(0, RESUME, 0, REAL, R_MORE) + op(0, SETTLE)
    + op(0, PING, ACK) + op(0, VANISH, 1) + op(0, RESUME, 0, REAL, R_MAX) + op(0, SETTLE)
    + op(0, PING, ACK),
    "resume-small-buffer": bytes([NOHELLO | 2 | SMALLBUF]) + op(0, HGRACE, G30, ACKS)
    + op(0, PING, ACK0) + op(0, PING, ACK0) + op(0, PING, ACK0) + op(0, PING, ACK0)
    + op(0, SETTLE) + op(0, VANISH, 1) + op(0, RESUME, 0, REAL, R_ZERO) + op(0, SETTLE)
    + op(1, HGRACE, G30, NOACKS) + op(1, ACQ, A, 0, T_NONE, ACK) + op(1, ACQ, A, 1, T_NONE, ACK)
    + op(1, ACQ, A, 2, T_NONE, ACK) + op(1, VANISH, 1) + op(0, HELLO, 0, 0) + op(0, REL, A, 0)
    + op(0, SETTLE) + op(1, RESUME, 1, REAL, R_EXACT),
    "resume-shutdown-kill": bytes([NOHELLO | 4]) + op(0, HGRACE, G30, ACKS)
    + op(0, ACQ, A, 0, T_NONE, ACK) + op(0, SETTLE) + op(0, VANISH, 1) + op(1, HGRACE, G1, NOACKS)
    + op(1, ACQ, A, 0, T_NONE, ACK) + op(1, SETTLE) + op(1, VANISH, 0) + op(2, HELLO, 0, 0)
    + op(2, KILL, 2) + op(2, SETTLE) + op(2, SHUTDOWN) + op(2, RESUME, 0, REAL, R_EXACT)
    + op(2, SETTLE),
    "resume-grace-values": bytes([NOHELLO | 4]) + op(0, HGRACE, GHUGE, ACKS)
    + op(1, HGRACE, GTINY, ACKS) + op(2, HGRACE, GNEG, ACKS) + op(0, SETTLE) + op(0, STATS, ACK)
    + op(1, PING, ACK) + op(0, LIST, A, 1, 0, ACK) + op(1, VANISH, 1) + op(0, SLEEP)
    + op(2, RESUME, 1, REAL, R_EXACT) + op(2, SETTLE) + op(2, RESUME, 0, REAL, R_EXACT)
    + op(2, STATS, ACK),
}


def write(folder, seeds):
    d = os.path.join(HERE, "corpus", folder)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if name.startswith("seed-"):
            os.unlink(os.path.join(d, name))
    for name, data in seeds.items():
        with open(os.path.join(d, "seed-" + name), "wb") as f:
            f.write(data)
    print(f"{d}: {len(seeds)} seeds", file=sys.stderr)


write("frame", FRAME)
write("conn", CONN)
