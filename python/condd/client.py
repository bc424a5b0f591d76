# SPDX-License-Identifier: BSD-2-Clause
"""The connection: one session with condd on the running event loop. It parses the address,
says Hello, writes requests, matches every Response to its request by id, pings at a third of
the session timeout, and on session loss fails every pending call once with ConnectionLost.
The primitives (locks.py) build on four calls: _call() (await the answer), _call_checked()
(the same, raising the package's exception for an error status: the *_remote() variants),
_call_cancellable() (turning task cancellation into a Cancel request) and _send_checked() (fire
and forget, for asyncio's synchronous methods such as release(); the connection keeps requests
in order)."""

import asyncio
import logging
import os
import socket
import weakref

from . import _proto
from .errors import ConnectionLost, error_for

pb = _proto.pb
log = logging.getLogger("condd")

DEFAULT_ADDRESS = "127.0.0.1:7380"
DEFAULT_PORT = 7380


def parse_address(address):
    """("unix", path) or ("tcp", host, port) for an address string: "unix:/path", "/abs/path",
    "host:port", "host", "[v6]:port" or "[v6]". ValueError if malformed."""
    if address.startswith("unix:"):
        path = address[5:]
        if not path:
            raise ValueError("empty unix socket path in %r" % address)
        return ("unix", path)
    if address.startswith("/"):
        return ("unix", address)
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise ValueError("missing ] in %r" % address)
        host, rest = address[1:end], address[end + 1:]
        if ":" not in host:
            raise ValueError("brackets around a non-IPv6 host in %r" % address)
        if rest and not rest.startswith(":"):
            raise ValueError("bad address %r" % address)
        port = rest[1:] if rest else None
    else:
        if address.count(":") > 1:
            raise ValueError("IPv6 addresses need brackets: %r" % address)
        host, _, port = address.partition(":")
        if not _:
            port = None
    if not host or any(c.isspace() or c == "/" for c in host):
        raise ValueError("bad host in %r" % address)
    if port is None:
        return ("tcp", host, DEFAULT_PORT)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("bad port in %r" % address)
    return ("tcp", host, int(port))


async def connect(address=None, *, client_name=None, session_timeout=0.0):
    """Connects to condd and completes Hello; returns a Client on the running loop.

    address: None reads $CONDD_SERVER, else 127.0.0.1:7380. session_timeout: seconds asked for
    (0: the server's default); the server's answer is client.session_timeout. Raises OSError
    when the connection fails, a CondDError when Hello is refused."""
    if address is None:
        address = os.environ.get("CONDD_SERVER") or DEFAULT_ADDRESS
    where = parse_address(address)
    loop = asyncio.get_running_loop()
    if where[0] == "unix":
        transport, protocol = await loop.create_unix_connection(_Protocol, where[1])
    else:
        transport, protocol = await loop.create_connection(_Protocol, where[1], where[2])
    client = Client(transport, protocol, address)
    try:
        await client._hello(client_name, session_timeout)
    except BaseException:
        await client.close()
        raise
    return client


# loop -> the clients of that loop with queued frames (see Client._send)
_QUEUED = weakref.WeakKeyDictionary()
# loop -> the open clients of that loop: fire-and-forget frames are queued only while a loop
# has one (see Client._send_checked)
_OPEN = weakref.WeakKeyDictionary()


class _Protocol(asyncio.BufferedProtocol):
    """Reads the connection into one reused buffer and hands complete frames to the Client.
    A BufferedProtocol, not a StreamReader and a reading task: asyncio's default read allocates
    a 256 KiB bytes object per recv (an mmap, mremap and munmap per answer), and the reading
    task costs an event-loop turn per answer; here a response resolves its future in the
    callback that read it, with no allocation but the message (bench/RESULTS.md)."""

    client = None
    early_lost = None

    def __init__(self):
        self.buf = bytearray(_READ_BUFFER)
        self.view = memoryview(self.buf)
        self.start = 0  # first byte not yet parsed
        self.end = 0  # end of the bytes read
        self.need = 0  # bytes of the incomplete frame at start, once its header is known

    def get_buffer(self, sizehint):
        size = len(self.buf)
        if self.end == size or self.start + self.need > size:
            held = self.end - self.start
            if self.need > size or held == size:
                # a frame larger than the buffer (up to the 16 MiB cap, checked before)
                bigger = bytearray(max(2 * size, self.need))
                bigger[:held] = self.view[self.start:self.end]
                self.buf, self.view = bigger, memoryview(bigger)
            else:  # move the incomplete frame to the front (a copy: the ranges may overlap)
                self.view[:held] = bytes(self.view[self.start:self.end])
            self.start, self.end = 0, held
        return self.view[self.end:]

    def buffer_updated(self, nbytes):
        self.end += nbytes
        self.client._frames_received(self)

    def connection_lost(self, exc):
        if self.client is None:
            self.early_lost = exc or True
        else:
            self.client._connection_lost(exc)


# Initial read buffer; grows for a larger frame.
_READ_BUFFER = 64 * 1024


class Client:
    """One condd session. Create with `await condd.connect()`; close with `await close()` or
    `async with`. All methods must be called from the loop that connected it."""

    # False: every request is written at once, fire-and-forget ones too (no coalescing; kept
    # for measurements, bench/RESULTS.md)
    _coalesce = True

    def __init__(self, transport, protocol, address):
        self.address = address
        self.session_id = None
        self.session_timeout = None
        self.server_version = None
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._next_id = 1
        self._next_owner = 1
        self._pending = {}
        self._orphans = {}  # id -> Response that came for a future cancelled meanwhile
        self._wbuf = []  # frames of fire-and-forget requests, written at the next flush
        # (Condition, owner, n, request id) when the last frame in _wbuf is that notify()
        self._queued_notify = None
        self._flush_scheduled = False
        self._lost = None  # the ConnectionLost once the session is over
        self._closed = self._loop.create_future()  # done when the transport is gone
        self._held = set()  # Lock objects holding a grant, forgotten on session loss
        self._last_send = self._loop.time()
        self._ping_task = None
        _OPEN.setdefault(self._loop, weakref.WeakSet()).add(self)
        protocol.client = self
        if protocol.early_lost is not None:
            self._connection_lost(None if protocol.early_lost is True else protocol.early_lost)

    # ------------------------------------------------------------ public

    async def close(self):
        """Ends the session: the server releases everything it held. Pending calls fail with
        ConnectionLost. Idempotent."""
        self._lose(ConnectionLost("client closed"))
        t = self._ping_task
        if t is not None and t is not asyncio.current_task():
            t.cancel()
            try:
                await t
            except BaseException:
                pass
        await asyncio.shield(self._closed)

    @property
    def closed(self):
        """True once the session is over (closed, lost, expired)."""
        return self._lost is not None

    async def ping(self):
        """One round trip. Requests sent before it have been processed when it returns."""
        resp = await self._call(self._request("ping"))
        self._check(resp)

    async def stats(self):
        """The server's Stats (a condd_pb2.StatsResult)."""
        resp = await self._call(self._request("stats"))
        self._check(resp)
        return resp.stats

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    # ------------------------------------------------------------ for the primitives

    def _new_owner(self):
        owner = self._next_owner
        self._next_owner += 1
        return owner

    def _request(self, body):
        """A Request with a fresh id and an empty body of the named kind."""
        req = pb.Request(id=self._next_id)
        self._next_id += 1
        getattr(req, body).SetInParent()
        return req

    def _send(self, req, flush=True):
        """Writes req and returns the future of its Response (a Response for every status;
        ConnectionLost if the session ends first). flush=False queues the frame until the
        next request that flushes or the end of this event-loop turn, whichever comes first:
        a release() and the acquire() after it leave in one write (one system call, one
        wake-up of the server). Order is kept either way."""
        if self._lost is not None:
            raise ConnectionLost(str(self._lost))
        fut = self._loop.create_future()
        self._pending[req.id] = fut
        self._queued_notify = None
        self._wbuf.append(_proto.encode(req))
        if flush:
            # what any client of this loop queued goes out first: a release() on one
            # connection is on the wire before a request the program sends next on another
            queued = _QUEUED.get(self._loop)
            if queued:
                for client in queued.copy():
                    client._flush()
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            _QUEUED.setdefault(self._loop, set()).add(self)
            self._loop.call_soon(self._flush)
        self._last_send = self._loop.time()
        return fut

    def _take_queued_notify(self, cond, owner):
        """If the last frame queued and not yet written is a notify() of Condition cond by
        owner, withdraws it and returns how many it was to wake (a wait() right after carries
        it as notify_first: one request and one answer instead of two); else None."""
        q = self._queued_notify
        if q is None or q[0] is not cond or q[1] != owner:
            return None
        self._queued_notify = None
        self._wbuf.pop()
        self._pending.pop(q[3]).cancel()  # no answer will come; nothing to log
        return q[2]

    def _flush(self):
        self._queued_notify = None
        if self._flush_scheduled:
            self._flush_scheduled = False
            _QUEUED[self._loop].discard(self)
        if self._wbuf and self._lost is None:
            data = self._wbuf[0] if len(self._wbuf) == 1 else b"".join(self._wbuf)
            self._wbuf.clear()
            self._transport.write(data)

    def _send_checked(self, req, what, quiet=()):
        """Fire and forget: a non-OK answer is logged (asyncio's synchronous methods), unless
        its status is in quiet."""
        # Queued only while this is the loop's one open client: with two, a release() on one
        # and a request on the other would leave together, and the server, reading two
        # sockets, could take the second first (written at once, the release has a head
        # start of at least a loop turn, as before queuing existed)
        fut = self._send(req, flush=not (self._coalesce and len(_OPEN[self._loop]) == 1))

        def done(f):
            if f.cancelled():
                return
            exc = f.exception()
            if exc is None and f.result().status not in (pb.STATUS_OK, *quiet):
                exc = error_for(f.result())
            if exc is not None and not isinstance(exc, ConnectionLost):
                log.warning("condd: %s failed: %s", what, exc)

        fut.add_done_callback(done)
        return fut

    async def _call(self, req):
        """Sends req and waits for its Response. Cancelling the caller only stops the wait."""
        fut = self._send(req)
        try:
            return await fut
        except asyncio.CancelledError:
            self._pending.pop(req.id, None)
            self._orphans.pop(req.id, None)
            raise

    async def _call_checked(self, req):
        """_call() that raises the package's exception for a non-OK status; the Response."""
        resp = await self._call(req)
        if resp.status != pb.STATUS_OK:
            raise error_for(resp)
        return resp

    async def _call_cancellable(self, req):
        """Sends a request that may wait (Acquire, Wait, EventWait) and returns (Response,
        cancelled). If the calling task is cancelled meanwhile, a Cancel goes out, the target's
        own Response is still awaited (it is the truth, protocol.md §10) and returned with
        cancelled=True: the caller undoes what it must and raises CancelledError. A session
        lost during that wait gives (None, True)."""
        fut = self._send(req)
        try:
            return await fut, False  # no shield on this path: it costs two loop turns
        except asyncio.CancelledError:
            pass
        # The task's cancel either cancelled fut (a response arriving since is an orphan) or
        # came after fut got its result (the task resumes with CancelledError all the same).
        if fut.done() and not fut.cancelled():
            return (None, True) if fut.exception() is not None else (fut.result(), True)
        resp = self._orphans.pop(req.id, None)
        if resp is not None:
            return resp, True
        if self._lost is not None:
            return None, True
        fut = self._loop.create_future()  # the Response still to come lands here
        self._pending[req.id] = fut
        cancel = self._request("cancel")
        cancel.cancel.target_id = req.id
        # NOT_FOUND: the target was answered first (a grant racing the cancel), which
        # the caller handles from the target's own Response.
        self._send_checked(cancel, "cancel", quiet=(pb.STATUS_NOT_FOUND,))
        while not fut.done():
            try:
                await asyncio.shield(fut)
            except asyncio.CancelledError:
                continue
            except ConnectionLost:
                break
        if fut.exception() is not None:
            return None, True
        return fut.result(), True

    @staticmethod
    def _check(resp):
        if resp.status != pb.STATUS_OK:
            raise error_for(resp)

    # ------------------------------------------------------------ inside

    async def _hello(self, client_name, session_timeout):
        if client_name is None:
            client_name = "python/%d@%s" % (os.getpid(), socket.gethostname())
        req = self._request("hello")
        req.hello.protocol_version = 1
        req.hello.client_name = client_name
        req.hello.session_timeout_s = session_timeout
        resp = await self._call(req)
        self._check(resp)
        self.session_id = resp.hello.session_id
        self.session_timeout = resp.hello.session_timeout_s
        self.server_version = resp.hello.server_version
        self._ping_task = self._loop.create_task(self._ping_loop())

    def _frames_received(self, proto):
        """Parses the complete response frames in proto's buffer and answers their futures."""
        view, pos, end = proto.view, proto.start, proto.end
        try:
            while end - pos >= 4:
                n = _proto.frame_length(view[pos:pos + 4])
                if end - pos - 4 < n:
                    proto.need = 4 + n
                    break
                resp = pb.Response()
                resp.ParseFromString(view[pos + 4:pos + 4 + n])
                pos += 4 + n
                if not self._deliver(resp):
                    return
            else:
                proto.need = 0
        except Exception as e:  # a bad frame, a message that does not decode
            self._lose(ConnectionLost("connection lost: %s" % e))
            return
        if pos == end:
            proto.start = proto.end = 0
        else:
            proto.start = pos

    def _deliver(self, resp):
        """Answers one response's future; False once the session is over."""
        if resp.id == 0:
            self._lose(ConnectionLost(
                "connection ended by the server: %s" % (resp.message or resp.status),
                resp.status))
            return False
        fut = self._pending.pop(resp.id, None)
        if fut is not None:
            if not fut.done():
                fut.set_result(resp)
            elif fut.cancelled():
                self._orphans[resp.id] = resp  # for the cancelled caller (_call*)
        return self._lost is None

    def _connection_lost(self, exc):
        if exc is None:
            self._lose(ConnectionLost("connection closed by the server"))
        else:
            self._lose(ConnectionLost("connection lost: %s" % exc))
        if not self._closed.done():
            self._closed.set_result(None)

    async def _ping_loop(self):
        every = self.session_timeout / 3
        try:
            while self._lost is None:
                due = self._last_send + every
                now = self._loop.time()
                if now >= due:
                    self._send_checked(self._request("ping"), "ping")
                    due = now + every
                await asyncio.sleep(due - now)
        except ConnectionLost:
            pass

    def _lose(self, exc):
        """Ends the session once: fails every pending call with exc, forgets held locks."""
        if self._lost is not None:
            return
        self._lost = exc
        _OPEN[self._loop].discard(self)
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: fire-and-forget futures must not warn
        held, self._held = self._held, set()
        for lock in held:
            lock._forget(exc)
        if self._ping_task is not None and self._ping_task is not asyncio.current_task():
            self._ping_task.cancel()
        self._flush_lost()

    def _flush_lost(self):
        # what release() queued still goes out (a close right after a release must not
        # drop it); then the transport closes once its buffer is written
        if self._wbuf and not self._transport.is_closing():
            self._transport.write(b"".join(self._wbuf))
        self._wbuf.clear()
        if self._flush_scheduled:
            self._flush_scheduled = False
            _QUEUED[self._loop].discard(self)
        self._transport.close()
