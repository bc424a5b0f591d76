# SPDX-License-Identifier: BSD-2-Clause
"""The connection: one session with condd on the running event loop. It parses the address,
says Hello, writes requests, matches every Response to its request by id, pings at a third of
the session timeout, and on session loss fails every pending call once with ConnectionLost.
With a grace (connect(grace=...)), a lost connection is not the end: it reconnects with a
backoff and resumes the session (protocol.md §5.5-§5.6; _resume_loop below), the pending calls
waiting through it; close() says Goodbye. If the server offers acknowledged delivery (§5.6.2),
nothing in flight is lost across a resume: the client acks the answers it received in every
request, keeps a copy of each request until it knows the server read it, and after the resume
sends again those the server says it did not read (_put, _resumed).
The primitives (locks.py) build on four calls: _call() (await the answer), _call_checked()
(the same, raising the package's exception for an error status: the *_remote() variants),
_call_cancellable() (turning task cancellation into a Cancel request) and _send_checked() (fire
and forget, for asyncio's synchronous methods such as release(); the connection keeps requests
in order)."""

import asyncio
import collections
import logging
import os
import socket
import weakref

from . import _proto, route
from .errors import (BadRequest, CondDError, ConnectionLost, ResumeFailed, ServerTimeout,
                     SessionLost, ShuttingDown, error_for)

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


# A connection closed before its Hello was answered is opened again this many times in all,
# this many seconds apart (connect(), and a Cluster's sessions: _open_lazily).
_HELLO_TRIES = 3
_HELLO_PAUSE = 0.05


class _HelloClosed(Exception):
    """Private: the server closed a lazily opened connection before answering its Hello,
    without a byte; _open_lazily opens again."""


# connect()'s default connect_timeout, libcondd's (condd_options_set_connect_timeout).
DEFAULT_CONNECT_TIMEOUT = 10.0


def check_connect_timeout(connect_timeout):
    """ValueError unless connect_timeout is a positive number of seconds or None (no limit)."""
    if connect_timeout is not None and not (
            isinstance(connect_timeout, (int, float)) and connect_timeout > 0):
        raise ValueError("connect_timeout must be a positive number of seconds or None: %r"
                         % (connect_timeout,))


def connect_timed_out(address, connect_timeout):
    """The TimeoutError (an OSError) for a connection and Hello not done within connect_timeout."""
    return TimeoutError("connecting to %s timed out: no answer within connect_timeout=%g s"
                        % (address, connect_timeout))


async def connect(address=None, *, client_name=None, session_timeout=0.0, token=None,
                  token_file=None, grace=0.0, reconnect=True, on_session=None,
                  connect_timeout=DEFAULT_CONNECT_TIMEOUT):
    """Connects to condd and completes Hello; returns a Client on the running loop.

    address: None reads $CONDD_SERVER, else 127.0.0.1:7380. A server list (a comma-separated
    string or a list of addresses, protocol.md §21.1) of more than one server gives a
    condd.Cluster instead, which opens no connection yet: each name goes to its server (§21.2),
    whose connection and session are opened the first time a name routes there, with these
    options (docs/python.md, "Several servers"). session_timeout: seconds asked for (0: the
    server's default); the server's answer is client.session_timeout. token (str or bytes) or
    token_file (its first line; default $CONDD_TOKEN_FILE, as condctl): the bearer token sent in
    Hello (protocol.md §5.8); kept (privately, never shown) only by a client that may resume,
    since the server authenticates a resume Hello too. grace: seconds the server should keep the
    session after a lost connection (clamped by the server; client.grace is what it granted).
    With a grace and reconnect=True, a lost connection is resumed (docs/python.md, "Surviving a
    network blip"). on_session: called as on_session(client, state, exc) with state "resuming",
    "resumed" or "lost" (client is the session's Client; client.server names its server).
    connect_timeout: seconds for the connection and the Hello's answer together (None: no
    limit), also for each reconnect of a resume. Raises ValueError for a bad address or server
    list, OSError when the connection fails or the token file cannot be read (TimeoutError, an
    OSError, when connect_timeout passes), ValueError for an empty token file,
    condd.Unauthenticated when the server refuses the credentials, a CondDError when Hello is
    refused otherwise."""
    check_connect_timeout(connect_timeout)
    if address is None:
        address = os.environ.get("CONDD_SERVER") or DEFAULT_ADDRESS
    if isinstance(address, str) and "," not in address:
        address = address.strip()  # as each entry of a list (route.parse_list)
    servers = None
    if not isinstance(address, str) or "," in address:
        servers = route.parse_list(address)
        for a in servers.addresses:
            _connectable(a)
        if len(servers) == 1:  # one server: a plain Client, as for one address
            address, servers = servers.addresses[0], None
    if servers is None:
        _connectable(address)
        where = parse_address(address)
    if token is None:
        if token_file is None:
            token_file = os.environ.get("CONDD_TOKEN_FILE") or None
        if token_file is not None:
            token = _read_token_file(token_file)
    elif isinstance(token, str):
        token = token.encode("utf-8")
    if servers is not None:
        from .cluster import Cluster
        return Cluster(servers, client_name=client_name, session_timeout=session_timeout,
                       token=token, grace=grace, reconnect=reconnect, on_session=on_session,
                       connect_timeout=connect_timeout)
    try:
        async with asyncio.timeout(connect_timeout) as within:
            return await _connect(address, where, client_name, session_timeout, token, grace,
                                  reconnect, on_session, connect_timeout)
    except TimeoutError:
        if not within.expired():
            raise  # the operating system's (ETIMEDOUT)
        raise connect_timed_out(address, connect_timeout) from None


async def _connect(address, where, client_name, session_timeout, token, grace, reconnect,
                   on_session, connect_timeout):
    for attempt in range(_HELLO_TRIES):
        transport, protocol = await _open(where)
        client = Client(transport, protocol, address)
        client.server = _identity(address)
        client._where = where
        client._reconnect = bool(reconnect)
        client._on_session = on_session
        client._connect_timeout = connect_timeout
        try:
            await client._hello(client_name, session_timeout, token, grace)
        except ConnectionLost as e:
            await client.close()
            # Closed before answering, with no reason given: a live restart closes the
            # connections it accepted but had not read (protocol.md §5.10). Open again, as
            # libcondd does; any other refusal comes as an answer (a subclass) and is final.
            if type(e) is not ConnectionLost or attempt + 1 == _HELLO_TRIES:
                raise
            await asyncio.sleep(_HELLO_PAUSE)
            continue
        except BaseException:
            await client.close()
            raise
        return client


def _connectable(address):
    """ValueError unless this package can connect to address (it speaks no TLS)."""
    if address.startswith("tls:"):
        raise ValueError("the Python client does not speak TLS: %r" % address)
    parse_address(address)


def _identity(address):
    """address's canonical identity (protocol.md §21.1), or None for a form outside §2's
    grammar ("/abs/path" is "unix:/abs/path")."""
    if address.startswith("/"):
        address = "unix:" + address
    try:
        return route.identity(address)
    except ValueError:
        return None


def _read_token_file(path):
    """The first line of the token file, as bytes (what condctl and libcondd read)."""
    with open(path, "rb") as f:
        data = f.read(1024)
    line = data.split(b"\n", 1)[0].split(b"\r", 1)[0]
    if not line:
        raise ValueError("the token file %s has no token on its first line" % path)
    return line


async def _open(where, timeout=None):
    loop = asyncio.get_running_loop()
    if where[0] == "unix":
        conn = _open_unix(loop, where[1])
    else:
        conn = loop.create_connection(_Protocol, where[1], where[2])
    if timeout is None:
        return await conn
    return await asyncio.wait_for(conn, timeout)


async def _open_unix(loop, path):
    try:
        return await loop.create_unix_connection(_Protocol, path)
    except OSError as e:
        if e.filename is not None or e.errno is None:
            raise
        # (asyncio's error does not say which socket: FileNotFoundError, ConnectionRefusedError)
        raise type(e)(e.errno, e.strerror, path) from None


# Reconnect backoff while resuming (as libcondd: 50 ms doubling up to 1 s).
_BACKOFF_FIRST = 0.05
_BACKOFF_MAX = 1.0
# Longest wait for a GoodbyeResult in close().
_GOODBYE_WAIT = 5.0


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
    # a socket of our own on a duplicate of the connection's descriptor, for a client that
    # writes it itself (Client._watch_writes); closed with the connection
    sock = None

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
        if self.client is not None:  # else parsed once a client takes the connection
            self.client._frames_received(self)

    def connection_lost(self, exc):
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            self._read_left(exc)
        if self.sock is not None:  # the duplicate goes with the connection (Client._watch_writes)
            self.sock.close()
            self.sock = None
        if self.client is None:
            self.early_lost = exc or True
        else:
            self.client._connection_lost(exc, self)

    def _read_left(self, exc):
        """A write failed (EPIPE, ECONNRESET) and the transport stopped reading: reads the bytes
        already waiting in the socket, since the server may have said why it closed (an id-0
        frame: LIMIT_EXCEEDED at --max-connections, SESSION_KILLED, ...), and that answer names
        the exception (Client._deliver). The descriptor is still the connection's while its
        protocol hears of the loss (asyncio and uvloop close it afterwards); the inode taken
        at connection_made makes sure."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        try:
            fd = sock.fileno() if sock is not None else -1
            if fd < 0 or self.inode is None or os.fstat(fd).st_ino != self.inode:
                return
            dup = socket.socket(fileno=os.dup(fd))
        except OSError:
            return
        try:
            for _ in range(16):  # what is there, up to 16 buffers
                n = dup.recv_into(self.get_buffer(-1), 0, socket.MSG_DONTWAIT)
                if n == 0:
                    break
                self.buffer_updated(n)
        except OSError:  # EAGAIN: nothing more; ECONNRESET: nothing at all
            pass
        finally:
            dup.close()  # the duplicate only

    # Write flow control: while paused, the transport holds bytes the kernel has not taken
    # (the high-water mark is 0); the client then holds new frames back itself, so that after
    # a lost connection it knows which requests never left whole and sends them again after
    # the resume (Client._write).
    paused = False

    transport = None
    inode = None  # the socket's, for _read_left

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        try:
            self.inode = os.fstat(sock.fileno()).st_ino if sock is not None else None
        except (OSError, ValueError):
            pass
        # High-water mark 0 on every connection: a write goes to the kernel at once on any
        # loop. uvloop's transports otherwise queue a write under the mark until the end of
        # the loop's turn and then write the connections in no promised order, where a
        # release() on one connection must be on the wire before the request the program
        # sends next on another (Client._send_checked). asyncio's write at once anyway.
        transport.set_write_buffer_limits(high=0)

    def pause_writing(self):
        self.paused = True

    def resume_writing(self):
        self.paused = False
        if self.client is not None:
            self.client._write_held(self)


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
        self.server = None  # the canonical identity of address (protocol.md §21.1)
        self.session_id = None
        self.session_timeout = None
        self.server_version = None
        self._transport = transport
        self._proto = protocol
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
        self._max_frame = 0  # the server's max_frame_bytes (HelloResult; 0: not known yet)
        # the message of a SHUTTING_DOWN answer on this connection: the server is stopping
        # and its state goes with it (protocol.md §13), so the connection's end is no blip
        self._shutting_down = None
        self._closed = self._loop.create_future()  # done when the transport is gone
        self._held = set()  # Lock objects holding a grant, forgotten on session loss
        self._last_send = self._loop.time()
        self._ping_task = None
        self._last_recv = self._last_send
        # session resume (protocol.md §5.5-§5.6)
        self.grace = 0.0  # granted by the server
        self._secret = None  # the resume secret: never logged, never in a repr
        self._token = None  # the auth token, kept for a resume only: the same
        self._where = None
        self._reconnect = False
        self._on_session = None
        self._resuming = False  # between a lost connection and an OK resume
        self._resume_task = None
        self._resume_hello_id = None  # id of the resume Hello in flight
        self._connect_timeout = DEFAULT_CONNECT_TIMEOUT  # for each reconnect (None: no limit)
        self._held_frames = []  # frames that never left, sent on the next connection
        # the frame the kernel took in part, its tail with the transport (Client._write)
        self._inflight = None
        self._sock = None  # the socket written directly by a client that may resume (its proto's)
        self._keepalive_ids = set()  # the pings of _ping_loop (forgotten on a loss)
        # acknowledged delivery (protocol.md §5.6.2), on when HelloResult.acks says so: both
        # counts run from the session's first HelloResult across all its connections
        self._acks = False
        self._acked = 0  # counted Responses received: the `ack` of every request
        self._written = 0  # counted requests written (all but Hello), numbered from 1
        self._read = 0  # the highest of those known read (answered, or a later one answered)
        # (number, id, frame) of the requests written and not known read, in order, and
        # id -> number for them: sent again after a resume if the server did not read them
        self._copies = collections.deque()
        self._copy_of = {}
        self._closing = False
        self.session_state = "opening"  # "open", "resuming", "lost"
        self._opening = False  # opened lazily (_open_lazily): frames wait for the Hello
        self._open_task = None
        # _open_lazily's Hello, while a close before its answer opens again (_HelloClosed)
        self._hello_retry_fut = None
        _OPEN.setdefault(self._loop, weakref.WeakSet()).add(self)
        if protocol is None:
            return
        protocol.client = self
        if protocol.end > protocol.start:  # bytes came before (an id-0 refusal)
            self._frames_received(protocol)
        if protocol.early_lost is not None:
            self._connection_lost(None if protocol.early_lost is True else protocol.early_lost,
                                  protocol)

    def __repr__(self):
        return "<condd.Client %s session=%s %s>" % (self.address, self.session_id,
                                                     self.session_state)

    @classmethod
    def _lazy(cls, address, server, client_name=None, session_timeout=0.0, token=None,
              grace=0.0, reconnect=True, on_session=None,
              connect_timeout=DEFAULT_CONNECT_TIMEOUT):
        """A Client whose connection and Hello are under way (a Cluster's session, opened the
        first time a name routes to its server): requests sent meanwhile wait, in order, and
        leave once Hello is answered; if the connection or Hello fails, they fail with it."""
        client = cls(None, None, address)
        client.server = server
        client._where = parse_address(address)
        client._reconnect = bool(reconnect)
        client._on_session = on_session
        client._connect_timeout = connect_timeout
        client._opening = True
        client._open_task = client._loop.create_task(
            client._open_lazily(client_name, session_timeout, token, grace))
        return client

    # ------------------------------------------------------------ public

    async def close(self):
        """Ends the session: says Goodbye (protocol.md §5.7) and waits for its answer, so the
        server has released everything the session held when close() returns, grace or not.
        Pending calls fail with ConnectionLost. Idempotent."""
        t = self._open_task
        if t is not None and not t.done() and not self._closing and t is not asyncio.current_task():
            # a Hello under way (a Cluster's session): let it finish, so Goodbye ends the
            # session at once instead of leaving it detached for its grace
            try:
                await asyncio.wait_for(asyncio.shield(t), _GOODBYE_WAIT)
            except asyncio.TimeoutError:
                pass
        if (self._lost is None and not self._closing and not self._resuming
                and self.session_id is not None):
            self._closing = True
            try:
                fut = self._send(self._request("goodbye"))
                await asyncio.wait_for(asyncio.shield(fut), _GOODBYE_WAIT)
            except (ConnectionLost, asyncio.TimeoutError):
                pass
        self._closing = True
        self._lose(ConnectionLost("client closed"))
        for t in (self._resume_task, self._open_task):
            if t is not None and t is not asyncio.current_task():
                t.cancel()
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

    @property
    def acks(self):
        """True while the session has acknowledged delivery (protocol.md §5.6.2): the server
        offered it to this client, which resumes (a grace and reconnect=True)."""
        return self._acks

    async def ping(self):
        """One round trip. Requests sent before it have been processed when it returns."""
        resp = await self._call(self._request("ping"))
        self._check(resp)

    async def stats(self):
        """The server's Stats (a condd_pb2.StatsResult)."""
        resp = await self._call(self._request("stats"))
        self._check(resp)
        return resp.stats

    async def list(self, prefix="", limit=0):
        """The server's List (a condd_pb2.ListResult) of the names starting with prefix (str
        or bytes; "" for all), at most limit of each kind (0: the server's default)."""
        req = self._request("list")
        req.list.prefix = prefix.encode("utf-8") if isinstance(prefix, str) else bytes(prefix)
        req.list.limit = limit
        resp = await self._call(req)
        self._check(resp)
        return resp.list

    def server_for(self, name):
        """The server a name goes to: this client's (its canonical identity, protocol.md
        §21.1); a Cluster answers by the routing rule."""
        return self.server

    # One server: every name routes here (a Cluster routes by name; the primitives ask
    # through these, locks.py).
    def _route_of(self, wire_name):
        return None

    def _session_at(self, route):
        return self

    def _server_at(self, route):
        return self.server

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
            raise self._lost_error()
        if self._acks:
            req.ack = self._acked
        frame = _proto.encode(req)
        if self._max_frame and len(frame) - 4 > self._max_frame:
            raise self._too_big(len(frame) - 4)
        fut = self._loop.create_future()
        self._pending[req.id] = fut
        self._queued_notify = None
        self._wbuf.append(frame)
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

    def _check_size(self, req, extra=0):
        """BadRequest if req, with extra bytes more (fields the sending adds), would be over
        the server's max_frame_bytes: nothing is sent, the session goes on (protocol.md §14)."""
        size = req.ByteSize() + extra
        if self._acks and not req.ack:  # the ack _send adds: a tag and a varint
            size += 1 + max(1, (self._acked.bit_length() + 6) // 7)
        if self._max_frame and size > self._max_frame:
            raise self._too_big(size)

    def _too_big(self, size):
        exc = BadRequest("request of %d bytes refused before sending: over the server's "
                         "max_frame_bytes (%d); nothing was sent, the session goes on"
                         % (size, self._max_frame), pb.STATUS_BAD_REQUEST)
        exc.server = self.server
        return exc

    def _lost_error(self):
        """A fresh exception for a call made once the session is over: the class of the loss
        (condd.ServerTimeout, condd.ShuttingDown, ...), its message and status."""
        lost = self._lost
        exc = type(lost)(str(lost), lost.status)
        exc.server = lost.server
        return exc

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
            if (self._held_frames or self._transport is None or self._resuming
                    or self._opening or self._proto.paused or self._transport.is_closing()):
                # no connection (resuming), or the kernel is not taking bytes: keep the
                # frames whole until it does (_write_held), in order
                self._held_frames.extend(self._wbuf)
                self._wbuf.clear()
                return
            if (self._secret is not None and self._reconnect and not self._acks
                    and self._peer_gone()):
                # not into a connection the server has closed: these go behind the resume
                # (with acks, a frame lost there is sent again: no need to look)
                self._held_frames.extend(self._wbuf)
                self._wbuf.clear()
                self._transport.abort()
                return
            frames, self._wbuf = self._wbuf, []
            self._put(frames)

    def _put(self, frames):
        """Writes frames (whole, in order) to the connection. With acknowledged delivery each
        is numbered and a copy kept until the server is known to have read it (_deliver,
        _resumed); without, a client that may resume writes the socket itself (_write)."""
        if self._acks:
            n = self._written
            copies, copy_of, request_id = self._copies, self._copy_of, _proto.request_id
            for frame in frames:
                n += 1
                rid = request_id(frame)
                copies.append((n, rid, frame))
                copy_of[rid] = n
            self._written = n
        elif self._sock is not None:
            self._write(frames)
            return
        self._transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def _write(self, frames):
        """Writes frames (whole, in order) for a client that may resume, knowing which ones
        the kernel took whole: those are never sent again (their answers come, or come kept
        after a resume, or were lost with the connection: protocol.md §5.6). The socket is
        written here (one system call, as transport.write would make); the frame the kernel
        cut goes to the transport, which says (resume_writing) once its tail is written, and
        the frames after it are held (_write_held). A break before that sends the cut frame
        again, whole, after the resume (_begin_resume), as libcondd does: the transport's
        buffer dies with the connection, and with it the tail."""
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        try:
            n = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as e:  # broken: nothing left; all of it goes after the resume
            if isinstance(e, (BrokenPipeError, ConnectionResetError)):
                self._proto._read_left(e)  # unless the server said why it closed
                if self._lost is not None:
                    return
            self._held_frames[:0] = frames
            self._transport.abort()
            return
        if n == len(data):
            return
        off = 0
        for i, frame in enumerate(frames):
            if off + len(frame) > n:
                break
            off += len(frame)
        self._transport.write(frame[n - off:])
        rest = frames[i + 1:]
        if not self._proto.paused:  # the kernel had room again: all written
            if rest:
                self._write(rest)
            return
        self._inflight = frame
        self._held_frames[:0] = rest

    def _peer_gone(self):
        """True if the connection has ended on the server's side although this loop has not
        read the end yet (as libcondd, skipped when an answer came in the last millisecond):
        a request written now would be lost with it, undecided."""
        if self._loop.time() - self._last_recv < 0.001:
            return False
        sock = self._sock  # set whenever this is asked: a client that may resume, no acks
        if sock is None:
            return False
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def _write_held(self, proto):
        """The connection proto takes bytes again: writes the frames held back."""
        if proto is not self._proto or self._transport is None or self._lost is not None:
            return
        if not proto.paused:
            self._inflight = None  # the transport wrote the tail of the frame it was given
        if self._resuming or self._opening or proto.paused or self._transport.is_closing():
            # written when the (resume) Hello is answered (_resumed, _open_lazily); never
            # into a closing transport (uvloop's write() raises once it is closed)
            return
        held, self._held_frames = self._held_frames, []
        if held:
            self._put(held)

    def _send_checked(self, req, what, quiet=(), forget=None):
        """Fire and forget: a non-OK answer is logged (asyncio's synchronous methods), unless
        its status is in quiet. forget: a list whose last item goes once req is sent (a
        release's grant: locks._release)."""
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
                exc = self._error(f.result())
            if exc is not None and not isinstance(exc, ConnectionLost):
                log.warning("condd: %s failed on %s: %s", what, self.server or self.address, exc)

        fut.add_done_callback(done)
        if forget:
            del forget[-1]
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
            raise self._error(resp)
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

    def _check(self, resp):
        if resp.status != pb.STATUS_OK:
            raise self._error(resp)

    def _error(self, resp):
        """The package's exception for a non-OK Response, naming this server (.server)."""
        exc = error_for(resp)
        exc.server = self.server
        return exc

    # ------------------------------------------------------------ inside

    async def _hello(self, client_name, session_timeout, token=None, grace=0.0, retry=False):
        req = self._request("hello")
        # acks only for a client that resumes: for another, the server's copies are no use
        _proto.fill_hello(req, client_name, session_timeout, token, grace,
                          acks=self._reconnect)
        if self._opening:
            # first on the connection, ahead of the requests held until it is answered
            fut = self._pending[req.id] = self._loop.create_future()
            if retry:
                self._hello_retry_fut = fut
            self._transport.write(_proto.encode(req))
            self._last_send = self._loop.time()
            try:
                resp = await fut
            finally:
                self._hello_retry_fut = None
                self._pending.pop(req.id, None)
        else:
            resp = await self._call(req)
        req.hello.auth_token = b""
        self._check(resp)
        self.session_id = resp.hello.session_id
        self.session_timeout = resp.hello.session_timeout_s
        self._session_timeout_asked = session_timeout
        self.server_version = resp.hello.server_version
        self._max_frame = resp.hello.max_frame_bytes
        self.grace = resp.hello.grace_s
        if self.grace > 0 and resp.hello.resume_secret:
            self._secret = bytes(resp.hello.resume_secret)
            if self._reconnect:
                self._token = token  # a resume Hello is authenticated too (protocol.md §5.8)
                self._acks = resp.hello.acks  # an older server never sets it
                # learn which frames the kernel has not taken yet (_write), without acks
                self._watch_writes(self._transport)
        self.session_state = "open"
        self._ping_task = self._loop.create_task(self._ping_loop())

    async def _open_lazily(self, client_name, session_timeout, token, grace):
        """Connects and says Hello for _lazy(), then writes the requests held meanwhile; a
        failure loses this session (its requests fail with the error, naming the server)."""
        try:
            async with asyncio.timeout(self._connect_timeout) as within:
                await self._open_lazily_within(client_name, session_timeout, token, grace)
        except TimeoutError as e:
            if not within.expired():
                raise
            exc = ConnectionLost("cannot connect to %s: no answer within connect_timeout=%g s"
                                 % (self.server, self._connect_timeout))
            exc.__cause__ = e
            self._lose(exc)
            if self._transport is not None:
                self._transport.abort()

    async def _open_lazily_within(self, client_name, session_timeout, token, grace):
        for attempt in range(_HELLO_TRIES):
            try:
                transport, proto = await _open(self._where)
            except OSError as e:
                exc = ConnectionLost("cannot connect to %s: %s" % (self.server, e))
                exc.__cause__ = e
                self._lose(exc)
                return
            if self._lost is not None:  # closed meanwhile
                transport.close()
                return
            self._transport, self._proto = transport, proto
            proto.client = self
            retry = attempt + 1 < _HELLO_TRIES
            if proto.end > proto.start:  # bytes came before (an id-0 refusal)
                retry = False
                self._frames_received(proto)
            if proto.early_lost is not None:
                if retry and not self._closing:
                    transport.close()
                    await asyncio.sleep(_HELLO_PAUSE)
                    continue
                self._connection_lost(None if proto.early_lost is True else proto.early_lost,
                                      proto)
            if self._lost is not None:
                return
            try:
                await self._hello(client_name, session_timeout, token, grace, retry=retry)
            except _HelloClosed:
                # Closed before answering, without a byte: a live restart closes the
                # connections it accepted but had not read (protocol.md §5.10). The requests
                # held behind the Hello were never written: open again with them, as connect()
                # and libcondd do (docs/client.md §6).
                await asyncio.sleep(_HELLO_PAUSE)
                continue
            except CondDError as e:  # refused (Unauthenticated, ...) or lost meanwhile
                self._lose(e)
                return
            self._opening = False
            self._write_held(proto)
            return

    def _watch_writes(self, transport):
        """From now on, writes go through _write on a socket object of our own on a duplicate
        of the connection's descriptor (public API only: asyncio's selector transport and
        uvloop's alike; uvloop's get_extra_info("socket") is a PseudoSocket that cannot send).
        The transport writes only what the kernel did not take, so the two never interleave;
        the duplicate is closed with the connection (_Protocol.connection_lost). Without a
        descriptor (another transport), writes go through the transport as before. Not with
        acknowledged delivery: what the kernel took does not matter then (the server says
        what it read)."""
        proto = self._proto
        if self._acks:
            self._sock = None
            if proto.sock is not None:
                proto.sock.close()
                proto.sock = None
            return
        if transport.is_closing():
            # already closed (a new connection the server ended at once): uvloop's methods
            # raise there; nothing will be written to it
            self._sock = None
            return
        if proto.sock is None:
            sock = transport.get_extra_info("socket")
            fd = sock.fileno() if sock is not None else -1
            if fd >= 0:
                fd = os.dup(fd)
                try:
                    proto.sock = socket.socket(fileno=fd)
                except OSError:
                    os.close(fd)
                    raise
                proto.sock.setblocking(False)
        self._sock = proto.sock

    def _frames_received(self, proto):
        """Parses the complete response frames in proto's buffer and answers their futures."""
        if proto is not self._proto:
            return  # an old connection, replaced by a resume: its bytes count for nothing
        view, pos, end = proto.view, proto.start, proto.end
        self._last_recv = self._loop.time()
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
            if (self._resuming and resp.status == pb.STATUS_LIMIT_EXCEEDED
                    and self._transport is not None):
                # the server is at its connection limit, typically still counting the
                # connections of the outage: a blip, tried again while the grace lasts (as
                # libcondd, client/reconnect.c)
                log.info("condd: resume of session %s refused at the server's connection "
                         "limit; trying again", self.session_id)
                self._transport.abort()
                return False
            # SESSION_KILLED, SHUTTING_DOWN, ...: the session is over, no resume. Before the
            # Hello is answered it is a refusal (LIMIT_EXCEEDED at --max-connections):
            # connect() raises the status's own class
            exc = error_for(resp)
            if not isinstance(exc, ConnectionLost) and self.session_id is not None:
                exc = ConnectionLost(exc.message, resp.status)
            exc = type(exc)("connection ended by the server: %s"
                            % (resp.message or resp.status), resp.status)
            self._lose(exc)
            return False
        if resp.status == pb.STATUS_SHUTTING_DOWN and self._shutting_down is None:
            self._shutting_down = resp.message or "the server is shutting down"
        if resp.id == self._resume_hello_id:
            return self._resumed(resp)
        if self._acks:
            # a counted Response (protocol.md §5.6.2): an id and no HelloResult; the one Hello
            # an acks session sends, the resume Hello, is answered above
            self._acked += 1
            n = self._copy_of.pop(resp.id, None)
            if n is not None:  # answered: it and every request before it were read
                copies = self._copies
                while copies and copies[0][0] <= n:
                    self._copy_of.pop(copies.popleft()[1], None)
                self._read = n
        fut = self._pending.pop(resp.id, None)
        if fut is not None:
            if not fut.done():
                fut.set_result(resp)
            elif fut.cancelled():
                self._orphans[resp.id] = resp  # for the cancelled caller (_call*)
        return self._lost is None

    def _connection_lost(self, exc, proto):
        if proto is not self._proto:
            return  # an old connection, replaced by a resume
        self._transport = None
        self._sock = None  # closed with proto (_Protocol.connection_lost)
        fut = self._hello_retry_fut
        if (fut is not None and not fut.done() and self._lost is None and not self._closing
                and proto.end == 0):
            # _open_lazily's Hello unanswered, not a byte received: it opens again
            fut.set_exception(_HelloClosed())
            return
        if self._closing:
            why = "client closed"
        elif exc is None:
            why = "connection closed by the server"
        else:
            why = "connection lost: %s" % exc
        if self._shutting_down is not None and self._lost is None and not self._closing:
            # no resume: the server stopped, and every lock and condition with it (§13)
            self._lose(ShuttingDown("session %s over: the server %s shut down (%s)"
                                    % (self.session_id, self.server or self.address,
                                       self._shutting_down)))
            if not self._closed.done():
                self._closed.set_result(None)
            return
        if (self._lost is None and not self._closing and self._reconnect
                and self._secret is not None):
            if not self._resuming:
                self._begin_resume(why)
            # else: a connection opened by _resume_loop went away; it tries again
            return
        if self._resuming and self._lost is None:
            self._lose(SessionLost("session lost: %s" % why))
        else:
            self._lose(ConnectionLost(why))
        if not self._closed.done():
            self._closed.set_result(None)

    async def _ping_loop(self):
        every = self.session_timeout / 3
        try:
            while self._lost is None:
                now = self._loop.time()
                if self._resuming:
                    await asyncio.sleep(every)
                    continue
                if (now - self._last_recv > self.session_timeout
                        and self._last_send > self._last_recv):
                    # the server has been silent for the session timeout although pinged (a
                    # partition, a stopped server): the connection is lost, as libcondd's
                    # CONDD_ERR_SERVER_TIMEOUT (docs/client.md §6); the server has expired
                    # or detached the session by now
                    self._server_silent(now)
                    await asyncio.sleep(every)
                    continue
                # pinged also when only waiting requests went out: silence must be noticed
                due = min(self._last_send + every, self._last_recv + every)
                if now >= due:
                    ping = self._request("ping")
                    self._keepalive_ids.add(ping.id)
                    self._send_checked(ping, "ping").add_done_callback(
                        lambda f, i=ping.id: self._keepalive_ids.discard(i))
                    due = now + every
                await asyncio.sleep(due - now)
        except ConnectionLost:
            pass

    def _server_silent(self, now):
        """_ping_loop's verdict on a server silent for the session timeout although pinged:
        a client that may resume treats it as a lost connection (and resumes); another ends
        the session, every pending call failing once with ServerTimeout."""
        transport = self._transport
        if self._secret is not None and self._reconnect:
            if transport is not None:
                transport.abort()
            return
        self._lose(ServerTimeout("the server %s sent nothing for %.3g s although pinged (the "
                                 "session timeout): connection lost"
                                 % (self.server or self.address, now - self._last_recv)))
        if transport is not None:
            transport.abort()  # no Goodbye, no flush: nothing gets through

    # ------------------------------------------------------------ resume

    def _set_state(self, state, exc=None):
        """Records a change of the session's state and tells on_session ("resumed" is
        reported while session_state is "open" again)."""
        self.session_state = "open" if state == "resumed" else state
        if self._on_session is not None:
            try:
                self._on_session(self, state, exc)
            except Exception:
                log.exception("condd: on_session callback failed")

    def _begin_resume(self, why):
        """The connection is gone but the session has a grace: keep everything pending and
        held, and start reconnecting."""
        self._resuming = True
        self._resume_hello_id = None
        # the old connection's keep-alive pings are forgotten (a late answer is ignored)
        for i in self._keepalive_ids:
            fut = self._pending.pop(i, None)
            if fut is not None:
                fut.cancel()
        self._keepalive_ids.clear()
        # frames queued and not yet written, and the one the kernel took in part, go out
        # once the session is resumed
        if self._flush_scheduled:
            self._flush_scheduled = False
            _QUEUED[self._loop].discard(self)
        if self._inflight is not None:
            self._held_frames.insert(0, self._inflight)
            self._inflight = None
        self._held_frames.extend(self._wbuf)
        self._wbuf.clear()
        self._queued_notify = None
        log.info("condd: connection to %s lost (%s); resuming session %s", self.address, why,
                 self.session_id)
        self._set_state("resuming", ConnectionLost(why))
        old = self._resume_task
        if old is not None and not old.done():
            old.cancel()  # the previous resume's task, done with but not yet returned
        self._resume_task = self._loop.create_task(self._resume_loop(why))

    async def _resume_loop(self, why):
        deadline = self._loop.time() + self.grace
        backoff = _BACKOFF_FIRST
        try:
            await self._resume_tries(deadline, backoff, why)
        except asyncio.CancelledError:
            pass

    async def _resume_tries(self, deadline, backoff, why):
        """The reconnect attempts of one loss; returns once resumed, lost, or superseded."""
        me = asyncio.current_task()
        while self._resuming and self._lost is None:
            now = self._loop.time()
            if now >= deadline:
                break
            await asyncio.sleep(min(backoff, deadline - now))
            backoff = min(backoff * 2, _BACKOFF_MAX)
            if not self._resuming or self._lost is not None:
                return
            left = deadline - self._loop.time()
            if left <= 0:
                break
            limit = left if self._connect_timeout is None else min(left, self._connect_timeout)
            try:
                transport, proto = await _open(self._where, limit)
            except (OSError, asyncio.TimeoutError) as e:
                why = "reconnect failed: %s" % e
                continue
            if not self._resuming or self._lost is not None:
                transport.close()
                return
            self._attach(transport, proto)
            # the answer (in _deliver -> _resumed) ends _resuming or loses the session;
            # a connection that drops first, or no answer within connect_timeout, makes this
            # loop try again
            answer_by = deadline
            if self._connect_timeout is not None:
                answer_by = min(deadline, self._loop.time() + self._connect_timeout)
            while self._resuming and self._lost is None and self._transport is not None:
                if self._loop.time() >= answer_by:
                    if answer_by < deadline:
                        why = "no answer to the resume within connect_timeout=%g s" % (
                            self._connect_timeout)
                    break
                await asyncio.sleep(min(0.05, max(answer_by - self._loop.time(), 0)))
                if self._resume_task is not me:
                    return  # resumed, then lost again: a new task handles that loss
            if not self._resuming or self._lost is not None or self._resume_task is not me:
                return
            self._resume_hello_id = None
            if self._transport is not None:
                self._transport.abort()
                self._transport = None
        if self._resuming and self._lost is None:
            self._lose(SessionLost("session %s lost: its grace of %g s ran out (%s)"
                                   % (self.session_id, self.grace, why)))

    def _attach(self, transport, proto):
        """Takes over a new connection with the resume Hello. The frames that never left wait
        for its answer (_resumed): written behind it, they would run on this connection if
        the server took the session over here, and once more on the next one if its answer
        never came."""
        self._transport = transport
        self._proto = proto
        self._inflight = None
        self._shutting_down = None  # (a new connection, to a server that answers it)
        self._watch_writes(transport)
        req = self._request("hello")
        req.hello.protocol_version = 1
        req.hello.session_timeout_s = self._session_timeout_asked
        req.hello.resume_session = self.session_id
        req.hello.resume_secret = self._secret
        if self._token:
            req.hello.auth_token = self._token
        if self._acks:
            req.ack = self._acked  # the server sends again every counted Response after it
        self._resume_hello_id = req.id
        if not transport.is_closing():
            # (a connection the server already closed: uvloop's write() raises there, where
            # asyncio's drops the bytes; the loss is handled below either way)
            transport.write(_proto.encode(req))
        req.hello.resume_secret = b""
        req.hello.auth_token = b""
        self._last_send = self._loop.time()
        proto.client = self
        if proto.end > proto.start:  # bytes came before (an id-0 refusal)
            self._frames_received(proto)
        if proto.early_lost is not None and proto is self._proto:
            self._transport = None

    def _resumed(self, resp):
        """The answer to the resume Hello; False if the session is lost."""
        self._resume_hello_id = None
        if (resp.status == pb.STATUS_OK and resp.hello.resumed
                and resp.hello.session_id == self.session_id):
            if self._acks and not self._resend_unread(resp.hello):
                return False
            self._resuming = False
            if resp.hello.session_timeout_s > 0:
                self.session_timeout = resp.hello.session_timeout_s
            self._last_recv = self._loop.time()
            log.info("condd: session %s resumed", self.session_id)
            self._set_state("resumed")
            self._write_held(self._proto)
            return True
        # (SHUTTING_DOWN: the server is stopping, and the session goes with it, §13)
        cls = ShuttingDown if resp.status == pb.STATUS_SHUTTING_DOWN else ResumeFailed
        exc = cls("session %s lost: the server refused the resume: %s"
                  % (self.session_id, resp.message or resp.status), resp.status)
        self._lose(exc)
        return False

    def _resend_unread(self, hello):
        """With acks, on an OK resume: puts the requests the server did not read (numbered
        above hello.requests_received) first among the frames to write, so they go out again,
        in order and with their ids, before any other; the count then restarts from what the
        server read, so that both counts agree (protocol.md §5.6.2). False if the session is
        lost (a count that cannot be the server's)."""
        if not hello.acks:
            # a server that no longer offers it (a live restart into an older condd): what
            # the old connection carried is undecided from here, as without acks (§5.6)
            log.warning("condd: session %s resumed without acknowledged delivery",
                        self.session_id)
            self._acks = False
            self._copies.clear()
            self._copy_of.clear()
            self._watch_writes(self._transport)
            return True
        n = hello.requests_received
        if not self._read <= n <= self._written:
            self._refuse_resumed(SessionLost(
                "session %s lost: the server says it read %d requests; the client wrote %d, "
                "%d of them known read" % (self.session_id, n, self._written, self._read)))
            return False
        unread = [frame for num, _, frame in self._copies if num > n]
        self._copies.clear()
        self._copy_of.clear()
        self._written = self._read = n
        self._held_frames[:0] = unread
        return True

    def _refuse_resumed(self, exc):
        """The server resumed the session on this connection, but the client cannot go on with
        it: says Goodbye there (protocol.md §5.7), then a FIN, without waiting for the answer,
        so that the server ends the session at once and hands on what it holds; closed without
        one, the server would keep the session, its locks with it, for its whole grace (as
        libcondd, client/reconnect.c). Then the session is lost (exc) as any other. Not for a
        refused resume: no session is attached to the connection then."""
        t = self._transport
        if t is not None and not t.is_closing():
            req = self._request("goodbye")
            if self._acks:
                req.ack = self._acked
            self._wbuf.clear()  # requests behind a Goodbye go unanswered; their calls fail
            t.write(_proto.encode(req))
            if t.can_write_eof():
                t.write_eof()
        self._lose(exc)

    def _lose(self, exc):
        """Ends the session once: fails every pending call with exc, forgets held locks."""
        if self._lost is not None:
            return
        if isinstance(exc, CondDError) and exc.server is None:
            exc.server = self.server
        self._lost = exc
        self._secret = None
        self._token = None
        self._held_frames = []
        self._inflight = None
        self._copies.clear()
        self._copy_of.clear()
        was_open = self.session_state in ("open", "resuming")
        self._resuming = False
        self._opening = False
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
        if was_open and not self._closing:
            self._set_state("lost", exc)
        else:
            self.session_state = "lost"

    def _flush_lost(self):
        # what release() queued still goes out (a close right after a release must not
        # drop it); then the transport closes once its buffer is written
        if self._transport is None:
            self._wbuf.clear()
            if self._flush_scheduled:
                self._flush_scheduled = False
                _QUEUED[self._loop].discard(self)
            if not self._closed.done():
                self._closed.set_result(None)
            return
        if self._wbuf and not self._transport.is_closing():
            self._transport.write(b"".join(self._wbuf))
        self._wbuf.clear()
        if self._flush_scheduled:
            self._flush_scheduled = False
            _QUEUED[self._loop].discard(self)
        self._transport.close()
