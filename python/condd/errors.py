# SPDX-License-Identifier: BSD-2-Clause
"""The exceptions of the condd package: one base class, one class per server status
(docs/protocol.md §7, WrongServer for §21.4) and ConnectionLost for the end of a session
(SessionLost, ResumeFailed, SessionKilled, ShuttingDown, ServerTimeout below it). The status
classes also derive from the builtin exception asyncio code already catches where one fits
(TimeoutError, RuntimeError, PermissionError, asyncio.BrokenBarrierError)."""

import asyncio

from . import _proto

pb = _proto.pb


class CondDError(Exception):
    """Base class of every condd error. `status` is the wire status (an int, 0 if none),
    `message` the server's human-readable detail (not stable text) and `server` the canonical
    identity (protocol.md §21.1) of the server whose session raised it (None if none did)."""

    status = 0
    server = None

    def __init__(self, message="", status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class ConnectionLost(CondDError):
    """The session ended (connection closed by either side, session expired, protocol error,
    server shut down). Every pending call fails with it once; every lock the client held is
    lost."""


class Timeout(CondDError, TimeoutError):
    status = pb.STATUS_TIMEOUT


class Cancelled(CondDError):
    status = pb.STATUS_CANCELLED


class NotOwner(CondDError, RuntimeError):
    status = pb.STATUS_NOT_OWNER


class AlreadyOwner(CondDError, RuntimeError):
    status = pb.STATUS_ALREADY_OWNER


class LockMismatch(CondDError, RuntimeError):
    status = pb.STATUS_LOCK_MISMATCH


class BadRequest(CondDError, ValueError):
    status = pb.STATUS_BAD_REQUEST


class LimitExceeded(CondDError):
    status = pb.STATUS_LIMIT_EXCEEDED


class UnsupportedVersion(CondDError):
    status = pb.STATUS_UNSUPPORTED_VERSION


class ShuttingDown(ConnectionLost):
    """The server is stopping: treated like a lost connection (protocol.md §13)."""

    status = pb.STATUS_SHUTTING_DOWN


class NotFound(CondDError):
    status = pb.STATUS_NOT_FOUND


class ProtocolError(CondDError):
    status = pb.STATUS_PROTOCOL_ERROR


class Unimplemented(CondDError):
    status = pb.STATUS_UNIMPLEMENTED


class InternalError(CondDError):
    status = pb.STATUS_INTERNAL


class ValueMismatch(CondDError, ValueError):
    status = pb.STATUS_VALUE_MISMATCH


class Unauthenticated(CondDError, PermissionError):
    """The server refused Hello: no token, or a token that does not check out (protocol.md
    §5.8). connect() raises it; the server closes the connection."""

    status = pb.STATUS_UNAUTHENTICATED


class PermissionDenied(CondDError, PermissionError):
    """The authenticated principal may not do this to this name (protocol.md §5.8); the
    request had no effect. The session goes on."""

    status = pb.STATUS_PERMISSION_DENIED


class SessionLost(ConnectionLost):
    """A session with a grace could not be resumed: its grace ran out while reconnecting, or
    the server refused the resume. Every pending call fails with it once; the client holds
    nothing any more."""


class ResumeFailed(SessionLost):
    """The server answered the resume RESUME_FAILED (the session expired, ended, or the
    daemon restarted): the session is lost, as SessionLost."""

    status = pb.STATUS_RESUME_FAILED


class ServerTimeout(ConnectionLost):
    """The server sent nothing for one session timeout although pinged (a partition, a stopped
    server; libcondd's CONDD_ERR_SERVER_TIMEOUT): a client without a grace ends the session,
    every pending call failing with it once (with a grace it resumes instead). No wire status:
    `status` is 0."""


class SessionKilled(ConnectionLost):
    """An operator ended the session (KillSession, Break; protocol.md §5.9): every pending
    call fails with it once and everything the session held is gone; no resume."""

    status = pb.STATUS_SESSION_KILLED


class BrokenBarrierError(CondDError, asyncio.BrokenBarrierError):
    """The barrier was reset or aborted while waiting, or is broken (protocol.md §19):
    `except asyncio.BrokenBarrierError` catches it."""

    status = pb.STATUS_BROKEN


class WrongServer(CondDError):
    """The server is one of a cluster (condd --cluster) and the name routes to another of its
    servers (protocol.md §21.4): this client's server list differs from the server's. Its
    message names the right server; nothing happened, and the session goes on. Fix the list:
    a client that routes differently could take a second lock on the same name."""

    status = pb.STATUS_WRONG_SERVER


_BY_STATUS = {
    cls.status: cls
    for cls in (Timeout, Cancelled, NotOwner, AlreadyOwner, LockMismatch, BadRequest,
                LimitExceeded, UnsupportedVersion, ShuttingDown, NotFound, ProtocolError,
                Unimplemented, InternalError, ValueMismatch, BrokenBarrierError,
                Unauthenticated, PermissionDenied, ResumeFailed, SessionKilled, WrongServer)
}


def error_for(resp):
    """The exception for a non-OK Response (an unknown status gives a plain CondDError)."""
    cls = _BY_STATUS.get(resp.status, CondDError)
    text = resp.message or "status %d" % resp.status
    return cls(text, resp.status)
