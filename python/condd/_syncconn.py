# SPDX-License-Identifier: BSD-2-Clause
"""The blocking connection behind condd.sync's fast path: one session on a blocking socket,
with no event loop. A thread in a call writes its request itself and reads the answers itself.

Reading is leader/follower: of the threads blocked in calls, one (the leader) reads the socket;
it hands each answer to the slot of the call it belongs to (waking that call's thread, which
waits on a lock of its own), and when its own answer has come it passes the leadership on to a
thread still waiting. A single-threaded program is always the leader: a blocking call costs
one send, one recv and the protobuf work, as pybench's Floor (bench/RESULTS.md), with no
thread wake-up. Writes are serialised by a write lock, taken before the frames are picked, so
frames go out in the order they were picked.

Fire-and-forget frames (release(), notify(), set(), clear(), a Cancel's answer is not awaited
either) are queued and leave with the next request written on this connection, or of any
condd.sync connection of the process (the queues of the others are written first, so a release
on one connection is on the wire before a request sent next on another). If no request
follows, the background thread writes them 2 to 10 ms after they were queued (FLUSH_MIN,
FLUSH_MAX): it looks every 2 ms while frames are being queued, backing off to every 8 ms while
requests keep carrying them, and sleeps until the next ping otherwise, so a busy loop costs it
no wake-up per frame, and little CPU. At the interpreter's exit what is still queued is written
(_flush_at_exit).

The background thread also sends the session pings: a Ping when nothing was written for a
third of the session timeout, as an ordinary call (a blocked leader reads its answer); if
nothing at all comes from the server for a session timeout meanwhile, the session ends with
ServerTimeout (_keepalive).

Interrupts. Python runs signal handlers (KeyboardInterrupt's among them) in the main thread,
between any two steps of Python code, so an exception may land anywhere in a call made there. A
call blocked in recv() or on its lock is the usual case: the request's Cancel path follows
(_call_cancellable). The byte counts of send() and the bytes of recv() are stored by C code, so
an interrupt right after the system call loses neither (_write, _lead); a write always
completes first. An exception a handler raises inside recv() or send() is an interrupt whatever
its class (the signal.alarm idiom's TimeoutError is an OSError): only the socket's own errors
end the session (_from_socket). Parsed answers go to an inbox before the bytes are taken, and
are handed over by steps that may be done twice (_deliver), so an interrupt while parsing or
handing over leaves them for the next reader. Where a state change must not be torn it is made
by steps with no call in between (Python runs handlers only at calls and jumps back): queuing a
frame with its slot and, for a release, forgetting the grant (_send_checked's forget); taking
the queued frames for a write (_unqueue); giving the leadership back (one store, first in
`finally`). A follower looks again every _FOLLOW_CHECK, so a wake-up torn by an interrupt costs
that much, never a hang. Only a second interrupt during one write drops the connection (the
session ends, the server releases everything it held). _mu is held only in `with` blocks.

The class offers what the primitives of locks.py use of a Client (client.py), with the same
names: _request, _new_owner, _send_checked, _call, _call_checked, _call_cancellable, ... The
coroutines of locks.py run on it without a loop: its `async def` calls never suspend, so
sync.Client drives a coroutine to its end with one send(None). Session resume (a grace with
reconnect) and server lists are not here: condd.sync runs those on the asyncio client.
"""

import atexit
import collections
import errno
import itertools
import logging
import os
import select
import socket
import threading
import time
import weakref

from google.protobuf.message import DecodeError

from . import _proto
from . import client as _client
from .errors import ConnectionLost, ServerTimeout, error_for

pb = _proto.pb
_OK = pb.STATUS_OK
log = logging.getLogger("condd")

# Longest a queued fire-and-forget frame waits for a request to carry it.
# A queued fire-and-forget frame that no request carried for FLUSH_MIN is written by the
# background thread, which looks every FLUSH_MIN while frames are being queued, backing off to
# every FLUSH_MAX while requests keep carrying them (a busy loop): at most FLUSH_MAX + FLUSH_MIN
# after it was queued.
FLUSH_MIN = 0.002
FLUSH_MAX = 0.008
# Longest wait for a GoodbyeResult in close().
_GOODBYE_WAIT = 5.0
# Longest the interpreter's exit waits for the queued frames of every connection to be written
# and carried out (_flush_at_exit).
EXIT_FLUSH_WAIT = 2.0
# Bytes asked of one recv (more when a larger frame is known to come).
_RECV = 65536
# A follower looks again this often: a wake-up an interrupt tore from the leader's hand-over
# (it may land between any two steps of the main thread) is repaired within this (_wait).
_FOLLOW_CHECK = 0.05

# connections with queued frames, written before any request of another connection
_QUEUED = set()

# every connection of this process, marked foreign in a forked child (_after_fork_in_child)
_CONNS = weakref.WeakSet()

# A write that fails with these: the server closed the connection, perhaps saying why first
# (an id-0 frame), which is then still to be read (_lose_written).
_CLOSED_ERRNOS = (errno.EPIPE, errno.ECONNRESET)


def _socket_lost(e):
    """The ConnectionLost for the socket error e (its errno kept for _lose_written)."""
    exc = ConnectionLost("connection lost: %s" % e)
    exc.errno = e.errno
    return exc


def _from_socket(e):
    """True if the OSError e was raised by the socket call itself; False if a signal handler
    raised it while the call waited (the signal.alarm -> TimeoutError idiom): an interrupt,
    not a connection error. A handler's exception carries the handler's frame below ours in
    its traceback, and the socket's own errors carry an errno."""
    return e.errno is not None and (e.__traceback__ is None or e.__traceback__.tb_next is None)


def _flush_at_exit():
    """At the interpreter's exit (atexit; sys.exit() and the end of a script alike): the
    fire-and-forget frames still queued (a last set(), release(), notify()) go out on every
    connection that has some, within EXIT_FLUSH_WAIT in all, as threading's set() has taken
    effect when it returns."""
    deadline = time.monotonic() + EXIT_FLUSH_WAIT
    for conn in tuple(_QUEUED):
        try:
            conn._flush_until(deadline)
        except Exception:  # (a broken connection at exit: nothing more to do for it)
            pass


atexit.register(_flush_at_exit)


def foreign_error(pid):
    """The exception of a call in a forked child on a client that process pid opened."""
    return ConnectionLost("client opened by another process (pid %d); connect again after "
                          "fork()" % pid)


def _after_fork_in_child():
    """os.fork()'s hook in the child, as libcondd (docs/client.md, fork()): a connection
    belongs to the process that opened it, whose session and socket (one stream) the child
    shares. The child never writes on an inherited one: what the parent had queued is dropped
    here (else the child's exit, or its first request on a client of its own, would write a
    release a second time: a Semaphore's permit duplicated), and every call on it raises
    foreign_error; close() closes only the child's copy of the socket (Conn._forked)."""
    _QUEUED.clear()
    for conn in tuple(_CONNS):
        conn._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Slot:
    """One call's answer: resp, or exc if the session ended first. waiting: its thread sleeps
    on lk (held, released once to wake it). what: set for a fire-and-forget request, whose
    non-OK answer is logged unless its status is in quiet. (Class defaults, no __init__: one
    is made per request.)"""

    resp = None
    exc = None
    waiting = False
    lk = None
    what = None
    quiet = ()
    sent = False  # the request is written whole (_write)


def open_socket(where, timeout=None):
    """A connected blocking socket to where (client.parse_address's tuple); OSError if not
    (TimeoutError, an OSError, when the connect takes longer than timeout seconds)."""
    if where[0] == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(where[1])
        except BaseException:
            sock.close()
            raise
    else:
        sock = socket.create_connection((where[1], where[2]), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio's transports
    sock.settimeout(None)  # blocking: the client's reads and writes wait as they must
    return sock


class Conn:
    """One condd session on a blocking socket, usable from any number of threads."""

    _coalesce = True  # locks.py: a notify() queued may ride in the next Wait
    _foreign_open = False  # in a forked child: the parent's session was open at the fork

    def __init__(self, sock, address, on_session=None):
        self.address = address
        self.server = _client._identity(address)
        self.session_id = None
        self.session_timeout = None
        self.server_version = None
        self.grace = 0.0
        self.session_state = "opening"
        self._sock = sock
        self._on_session = on_session
        self._mu = threading.Lock()  # guards everything below but the read buffer
        self._wlock = threading.Lock()  # taken before _mu, held while writing
        self._bg_cv = threading.Condition(self._mu)
        self._ids = itertools.count(1)
        self._owners = itertools.count(1)
        self._pending = {}  # request id -> _Slot
        self._followers = {}  # slots whose thread sleeps, in order (a dict as ordered set)
        self._leading = False  # a thread is reading the socket
        self._chunks = []  # bytes read, not yet parsed (the leader's; see _lead)
        self._want = 0  # bytes _chunks need to hold a whole frame (0: unknown)
        self._inbox = collections.deque()  # answers parsed, not yet handed over (_deliver)
        self._last_rx = time.monotonic()  # when bytes last came (the background's deadline)
        self._wbuf = []  # queued frames
        self._wbuf_ids = []  # their request ids
        self._wbuf_since = 0.0  # when the first of them was queued
        self._qn = None  # (Condition, owner, n, id) of a notify() last in _wbuf
        self._queued_recently = False  # a frame was queued since the background's last turn
        self._bg_idle = False  # the background sleeps until the next ping: wake it to flush
        self._bg_watching = False  # ... watching the socket: wake it through _wake too
        self._wake = None  # (read fd, write fd) of the background's wake-up pipe
        self._bg_stop = False
        self._bg = None
        self._lost = None  # the ConnectionLost once the session is over
        self._closing = False
        self._close_sock = False  # close the socket when the leader leaves
        self._last_send = time.monotonic()
        self._held = set()  # primitives holding a grant, forgotten on session loss
        self._tls = threading.local()  # .interrupt: what interrupted a cancellable call
        self._pid = os.getpid()  # the process that opened it
        self._foreign = False  # inherited by a forked child (_forked)
        _CONNS.add(self)

    def __repr__(self):
        return "<condd.sync connection %s session=%s %s>" % (self.address, self.session_id,
                                                             self.session_state)

    # ------------------------------------------------------------ opening and closing

    @classmethod
    def open(cls, address, *, client_name=None, session_timeout=0.0, token=None, grace=0.0,
             on_session=None, connect_timeout=None):
        """Connects to one address and says Hello within connect_timeout seconds (None: no
        limit); raises as condd.connect does."""
        deadline = None if connect_timeout is None else time.monotonic() + connect_timeout
        try:
            sock = open_socket(_client.parse_address(address), connect_timeout)
        except TimeoutError:
            if deadline is None or time.monotonic() < deadline:
                raise  # the operating system's (ETIMEDOUT)
            raise _client.connect_timed_out(address, connect_timeout) from None
        conn = cls(sock, address, on_session)
        # A server that accepts and never answers the Hello: at the deadline the socket is shut
        # down, which ends the Hello's blocking read (a timeout on the socket itself would be
        # taken for a signal handler's TimeoutError, _interrupted()). mu orders the timer
        # against the Hello's end, so a good session is never shut down under its caller.
        mu, state = threading.Lock(), {"done": False, "expired": False}

        def expire():
            with mu:
                if state["done"]:
                    return
                state["expired"] = True
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        timer = None
        if deadline is not None:
            timer = threading.Timer(max(deadline - time.monotonic(), 0.0), expire)
            timer.daemon = True
            timer.start()
        try:
            try:
                conn._hello(client_name, session_timeout, token, grace)
            finally:
                with mu:
                    state["done"] = True
                if timer is not None:
                    timer.cancel()
            if state["expired"]:
                raise _client.connect_timed_out(address, connect_timeout)
        except BaseException as e:
            conn._closing = True
            conn._lose(ConnectionLost("client closed"))
            conn._close_socket()
            if state["expired"] and not isinstance(e, TimeoutError):
                raise _client.connect_timed_out(address, connect_timeout) from None
            raise
        conn._bg = threading.Thread(target=conn._background, name="condd.sync", daemon=True)
        conn._bg.start()
        return conn

    def _hello(self, client_name, session_timeout, token, grace):
        req = self._request("hello")
        _proto.fill_hello(req, client_name, session_timeout, token, grace)
        try:
            resp = self._call_now(req)
        finally:
            req.hello.auth_token = b""
        self._check(resp)
        self.session_id = resp.hello.session_id
        self.session_timeout = resp.hello.session_timeout_s
        self.server_version = resp.hello.server_version
        self.grace = resp.hello.grace_s  # kept by the server; never resumed from here
        self.session_state = "open"

    def close(self):
        """Says Goodbye (waiting at most _GOODBYE_WAIT for its answer), ends the session
        here, stops the background thread. Idempotent. In a forked child, on a connection
        the parent opened: closes the child's copy of the socket only, sending nothing."""
        if self._closing:
            return
        if self._foreign:
            self._closing = True
            self._sock.close()  # (no shutdown(): that would end the parent's stream too)
            return
        if self._lost is None and self.session_id is not None:
            self._closing = True
            try:
                self._call_now(self._request("goodbye"), _GOODBYE_WAIT)
            except ConnectionLost:
                pass
        self._closing = True
        self._lose(ConnectionLost("client closed"))
        self._close_socket()
        bg = self._bg
        if bg is not None and bg is not threading.current_thread():
            bg.join()

    def stop_background(self):
        """For a forgotten client: the background thread ends at its next turn."""
        with self._mu:
            self._bg_stop = True
            self._wake_background()

    def _forked(self):
        """In a forked child, from the at-fork hook (the child's only thread then): the
        connection is the parent's. Whatever another thread of the parent held at the fork
        (_mu, _wlock, the leadership, pending calls) has no thread here: the locks are new,
        the queued frames dropped, nothing is left that could write; every call raises
        foreign_error (as a lost session's, _lost), with no on_session callback, and the
        parent's grants stay as they were (a release() here raises, forgetting nothing). The
        background's wake-up pipe is the parent's thread's: the child's copies are closed."""
        self._foreign = True
        self._mu = threading.Lock()
        self._wlock = threading.Lock()
        self._bg_cv = threading.Condition(self._mu)
        self._tls = threading.local()
        self._pending = {}
        self._followers = {}
        self._leading = False
        self._chunks = []
        self._want = 0
        self._inbox = collections.deque()
        self._wbuf = []
        self._wbuf_ids = []
        self._qn = None
        self._bg = None
        self._bg_stop = True
        self._bg_idle = self._bg_watching = False
        self._close_sock = False
        wake, self._wake = self._wake, None
        for fd in wake or ():
            try:
                os.close(fd)
            except OSError:
                pass
        if self._lost is None:  # (else closed or lost before the fork: it says so)
            self._lost = foreign_error(self._pid)
            self._foreign_open = True

    def _close_socket(self):
        with self._mu:
            if self._leading:
                self._close_sock = True  # the leader closes it on its way out
                return
        self._sock.close()

    @property
    def closed(self):
        """True once the session is over (closed, lost, ended by the server). In a forked
        child, a connection the parent has open is not closed until the child's close() (its
        calls raise foreign_error meanwhile, a release() too)."""
        return self._lost is not None and not (self._foreign_open and not self._closing)

    def _lost_again(self):
        """The exception for a call after the session ended: the loss's class (SessionKilled,
        ServerTimeout, ...), ConnectionLost at least, as release() of a lost lock raises."""
        lost = self._lost
        cls = type(lost) if isinstance(lost, ConnectionLost) else ConnectionLost
        exc = cls(str(lost), lost.status or None)
        exc.server = lost.server
        return exc

    # ------------------------------------------------------------ for the primitives

    ping = _client.Client.ping
    stats = _client.Client.stats
    list = _client.Client.list
    server_for = _client.Client.server_for
    _route_of = _client.Client._route_of
    _session_at = _client.Client._session_at
    _server_at = _client.Client._server_at
    _call_checked = _client.Client._call_checked
    _check = _client.Client._check
    _error = _client.Client._error

    def _new_owner(self):
        return next(self._owners)

    def _request(self, body):
        """A Request with a fresh id and an empty body of the named kind."""
        req = pb.Request(id=next(self._ids))
        getattr(req, body).SetInParent()
        return req

    def _send_checked(self, req, what, quiet=(), forget=None):
        """Fire and forget: queues req (module docstring); a non-OK answer is logged, unless
        its status is in quiet. ConnectionLost if the session is over. forget: a list whose
        last item goes in the step that queues req (a release's grant: locks._release), so
        that an interrupt cannot part the two."""
        frame = _proto.encode(req)
        slot = _Slot()
        slot.what, slot.quiet = what, quiet
        with self._mu:
            if self._lost is not None:
                raise self._lost_again()
            if not self._wbuf:
                self._wbuf_since = time.monotonic()
                _QUEUED.add(self)
            # no call from here to the frame queued: Python runs a signal handler only at a
            # call (or a jump back), so an interrupt cannot queue half of it
            self._pending[req.id] = slot
            self._wbuf += (frame,)
            self._wbuf_ids += (req.id,)
            if forget:
                del forget[-1]
            self._qn = None
            self._queued_recently = True
            if self._bg_idle:
                self._bg_idle = False
                self._wake_background()

    @property
    def _queued_notify(self):
        return self._qn

    @_queued_notify.setter
    def _queued_notify(self, q):
        # locks.py records the notify() it just queued: kept only while it is still the last
        # frame queued (a flush or another frame may have come in between, from other threads)
        with self._mu:
            self._qn = q if q is not None and self._wbuf_ids[-1:] == [q[3]] else None

    def _take_queued_notify(self, cond, owner):
        """If the last frame queued is a notify() of cond by owner, withdraws it and returns
        how many it was to wake (it rides in the Wait as notify_first); else None."""
        with self._mu:
            q = self._qn
            if q is None or q[0] is not cond or q[1] != owner or self._wbuf_ids[-1:] != [q[3]]:
                return None
            self._qn = None
            self._wbuf.pop()
            self._wbuf_ids.pop()
            self._pending.pop(q[3], None)
            return q[2]

    async def _call(self, req):
        """Sends req and waits for its Response, blocking this thread. An interrupt (an
        exception from a signal handler) abandons the wait; the answer is then ignored."""
        return self._call_now(req)

    async def _call_cancellable(self, req):
        """Sends a request that may wait and returns (Response, cancelled). Interrupted
        meanwhile (KeyboardInterrupt, any exception a signal handler raises), it sends a
        Cancel and waits for the target's own Response (protocol.md §10), returned with
        cancelled=True; the interrupt is kept for sync.Client._run, which raises it once the
        primitive has undone what it must. A session lost during that wait gives (None, True)."""
        slot = _Slot()
        try:
            self._start(req, slot)
            return self._wait(slot), False
        except ConnectionLost:
            raise
        except BaseException as e:
            if not slot.sent:
                raise  # nothing went out
            interrupt = e
        # The Cancel is written at once (not queued), and surely: further interrupts are held
        # back until the target's answer is in (protocol.md §10: it is the truth). Each step
        # below is done again after an interrupt until it is done (cslot.sent, slot.resp).
        self._tls.interrupt = interrupt
        # (two loops, as in locks.Lock._acquire: an interrupt at the inner one's jump back is
        # caught by the outer one's try)
        cancel = cslot = None
        done = False
        while not done:
            try:
                while not done:
                    try:
                        if slot.resp is None and slot.exc is None and self._lost is None:
                            if cslot is None:
                                cancel = self._request("cancel")
                                cancel.cancel.target_id = req.id
                                c = _Slot()
                                c.what, c.quiet = "cancel", (pb.STATUS_NOT_FOUND,)
                                cslot = c
                            if not cslot.sent:
                                self._start(cancel, cslot)
                            self._wait(slot)
                        done = True
                    except ConnectionLost:
                        done = True
                    except BaseException:  # interrupted again: the answer is still on its way
                        pass
            except BaseException:
                pass
        if slot.resp is None:
            return None, True
        return slot.resp, True

    # ------------------------------------------------------------ calls

    def _call_now(self, req, timeout=None):
        slot = _Slot()
        try:
            self._start(req, slot)
            resp = self._wait(slot, timeout)
        except BaseException:
            with self._mu:
                self._pending.pop(req.id, None)
            raise
        if resp is None:  # timed out (close()'s Goodbye)
            with self._mu:
                self._pending.pop(req.id, None)
            raise ConnectionLost("no answer from %s" % (self.server or self.address))
        return resp

    def _start(self, req, slot=None):
        """Registers req's slot and writes req behind every queued frame; returns the slot.

        An interrupt before the write leaves nothing sent (the slot forgotten, the queued
        frames queued again). The write itself always completes (_write); an interrupt during
        or after it is raised with slot.sent true: the request is out, its answer will come."""
        if self._lost is not None:  # (also before the write lock: on_session may call here)
            raise self._lost_again()
        frame = _proto.encode(req)
        if _QUEUED and (len(_QUEUED) > 1 or self not in _QUEUED):
            for other in tuple(_QUEUED):
                if other is not self:
                    other._flush()
        if slot is None:
            slot = _Slot()
        picked = None
        try:
            with self._wlock:
                with self._mu:
                    if self._lost is not None:
                        raise self._lost_again()
                    self._pending[req.id] = slot
                    if self._wbuf:
                        picked = self._unqueue()
                        _QUEUED.discard(self)
                data = frame if picked is None else b"".join(picked[0]) + frame
                err = self._write(data, slot)
        except BaseException:
            if not slot.sent:
                done = False  # (two loops, as in locks.Lock._acquire: no call before a try)
                while not done:
                    try:
                        while not done:
                            try:
                                self._requeue(req.id, picked)
                                done = True
                            except BaseException:  # interrupted again: once more
                                pass
                    except BaseException:
                        pass
            raise
        if err is not None:  # (not under the write lock: on_session may run)
            self._lose_written(err)
        return slot

    def _requeue(self, rid, picked):
        """Undoes what _start or _flush did before an interrupt stopped it short of writing.
        Done again after a second interrupt (_start's loop), it changes nothing more: the
        picked frames go back and their lists are emptied with no call in between."""
        with self._mu:
            if rid is not None:
                self._pending.pop(rid, None)
            if picked is not None and self._lost is None:
                frames, ids = picked
                self._wbuf = frames + self._wbuf
                self._wbuf_ids = ids + self._wbuf_ids
                del frames[:]
                del ids[:]
                _QUEUED.add(self)

    def _flush(self):
        """Writes the queued frames now (an interrupt as for _start)."""
        picked = None
        mark = _Slot()
        try:
            with self._wlock:
                with self._mu:
                    if not self._wbuf or self._lost is not None:
                        return
                    picked = self._unqueue()
                    _QUEUED.discard(self)
                err = self._write(b"".join(picked[0]), mark)
        except BaseException:
            if not mark.sent:
                done = False  # (two loops, as in locks.Lock._acquire: no call before a try)
                while not done:
                    try:
                        while not done:
                            try:
                                self._requeue(None, picked)
                                done = True
                            except BaseException:  # interrupted again: once more
                                pass
                    except BaseException:
                        pass
            raise
        if err is not None:
            self._lose_written(err)

    def _lose_written(self, exc):
        """A write failed: the session ends with exc. If the server closed the connection
        (EPIPE, ECONNRESET), it may have said why first, in an id-0 frame (SESSION_KILLED,
        LIMIT_EXCEEDED at its connection limit, SHUTTING_DOWN): what is already in the socket
        is read first, so that the session ends with that status's class, as when a reader
        sees it. If a thread is reading the socket, it sees the frame and the end itself."""
        if getattr(exc, "errno", None) not in _CLOSED_ERRNOS:
            self._lose(exc)
            return
        with self._mu:
            if self._lost is not None or self._leading:
                return
            self._leading = True
        chunks = self._chunks
        try:
            while self._lost is None:
                try:
                    chunks.append(self._sock.recv(_RECV, socket.MSG_DONTWAIT))
                except OSError:
                    break
                if not chunks[-1]:
                    break
                self._received(chunks)
        finally:
            chunks.clear()
            self._unlead()
            self._lose(exc)

    def _flush_until(self, deadline):
        """Writes the queued frames behind a Ping and waits for its answer (the server has
        then carried them out), giving up at deadline (monotonic): _flush_at_exit. The write
        waits for room with poll, so a server that does not read cannot hold the exit up."""
        if not self._wlock.acquire(timeout=max(deadline - time.monotonic(), 0)):
            return
        try:
            req = self._request("ping")
            slot = _Slot()
            with self._mu:
                if not self._wbuf or self._lost is not None:
                    return
                self._pending[req.id] = slot
                data = memoryview(b"".join(self._wbuf) + _proto.encode(req))
                self._unqueue()
                _QUEUED.discard(self)
            sock = self._sock
            while data:
                left = deadline - time.monotonic()
                poll = select.poll()
                poll.register(sock, select.POLLOUT)
                if left <= 0 or not poll.poll(left * 1000):
                    return
                try:
                    data = data[sock.send(data, socket.MSG_DONTWAIT):]
                except (BlockingIOError, InterruptedError):
                    continue
            self._last_send = time.monotonic()
        finally:
            self._wlock.release()
        self._wait(slot, max(deadline - time.monotonic(), 0))

    def _unqueue(self):
        """Under _mu: takes the queued frames, returns (frames, ids). No call comes before
        the caller has stored the result (a return is no call): an interrupt leaves
        the frames either queued or picked (and queued again by _requeue), never both, which
        would send a release twice (for a Semaphore, a post)."""
        picked = (self._wbuf, self._wbuf_ids)
        self._wbuf = []
        self._wbuf_ids = []
        self._qn = None
        return picked  # (the caller then leaves _QUEUED: a call)

    def _write(self, data, mark):
        """Under _wlock: sends all of data and sets mark.sent; returns None, or the
        ConnectionLost to end the session with if the socket fails.

        A signal handler's exception (the main thread's KeyboardInterrupt) may come at any
        step of Python code, also right after a system call returned and before its result is
        stored. Here the count of every send() is stored by C code (list.extend over map(),
        which runs no signal handler), so none is lost: an interrupt is held until the data is
        all out, then raised. A second interrupt during one write gives up: the connection is
        dropped (a server that does not read must not make the program deaf to Ctrl-C)."""
        counts = []
        send = self._sock.send
        n = len(data)
        interrupt = None
        try:  # the usual case: all of it at once
            counts.extend(map(send, (data,)))
        except OSError as e:
            if _from_socket(e):
                return _socket_lost(e)
            interrupt = e  # a signal handler's (TimeoutError, say): an interrupt
        except BaseException as e:
            interrupt = e
        if counts and counts[0] == n:  # (no call from the send to mark.sent: no interrupt)
            mark.sent = True
            self._last_send = time.monotonic()
            if interrupt is not None:
                raise interrupt
            return None
        while True:
            try:
                done = sum(counts)
                if done >= n:
                    break
                counts.extend(map(send, (data[done:] if done else data,)))
            except BaseException as e:
                if isinstance(e, OSError) and _from_socket(e):
                    return _socket_lost(e)
                if interrupt is not None:
                    self._lose(ConnectionLost("connection dropped: interrupted while writing"))
                    raise
                interrupt = e
        mark.sent = True  # (no call between the loop and here: no interrupt either)
        self._last_send = time.monotonic()
        if interrupt is not None:
            raise interrupt
        return None

    def _wait(self, slot, timeout=None):
        """Blocks until slot is answered and returns its Response, reading the socket while no
        other thread does. ConnectionLost if the session ended first; None after timeout
        seconds (None: no limit). An interrupt propagates; the slot stays registered.

        An interrupt (an exception a signal handler raises in the main thread) may land
        between any two steps here: _mu is only ever held in `with`; the leadership is given
        back in `finally`, whose first step is one store (_leading), so that no interrupt can
        keep it; a wake-up that came meanwhile is taken without blocking and passed on. A
        wake-up an interrupt tore from a leader's hand-over is not waited for: a follower looks
        again every _FOLLOW_CHECK (and leads if nobody does)."""
        mu = self._mu
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            lead = follow = False
            try:
                with mu:
                    if slot.resp is not None or slot.exc is not None:
                        if slot.exc is not None:
                            raise slot.exc
                        return slot.resp
                    if not self._leading:
                        lead = self._leading = True
                    else:
                        if slot.lk is None:
                            slot.lk = threading.Lock()
                            slot.lk.acquire()
                        follow = slot.waiting = True
                        self._followers[slot] = None
                if lead:
                    if not self._lead(slot, deadline):
                        return None
                    if slot.resp is not None:  # (set by this thread, as the leader)
                        return slot.resp
                else:
                    left = _FOLLOW_CHECK
                    if deadline is not None:
                        left = min(left, deadline - time.monotonic())
                    if not slot.lk.acquire(timeout=max(left, 0)):
                        with mu:
                            if slot.waiting:
                                slot.waiting = False
                                self._followers.pop(slot, None)
                                if deadline is not None and time.monotonic() >= deadline:
                                    return None
                                continue  # look again: answered, or nobody leads?
                        slot.lk.acquire(False)  # woken meanwhile: take the wake-up, look again
            except BaseException:
                if follow:
                    with mu:
                        if slot.waiting:
                            slot.waiting = False
                            self._followers.pop(slot, None)
                        elif slot.lk.acquire(False) or not self._leading:
                            # woken (perhaps to lead) but interrupted first: pass it on
                            self._wake_follower()
                raise
            finally:
                if lead:
                    self._leading = False  # (first: an interrupt cannot keep the leadership)
                    self._unlead()

    def _wake_follower(self):  # under _mu: the first sleeping thread looks again (and leads)
        for slot in self._followers:
            del self._followers[slot]
            slot.waiting = False
            slot.lk.release()
            return

    def _unlead(self):
        """After the leader left (_leading already false): wakes a follower to lead, or the
        background to watch the socket; closes it if close() asked the leader to."""
        with self._mu:
            self._leading = False
            if self._close_sock:
                self._close_sock = False
                self._sock.close()
            elif self._followers and self._lost is None:
                self._wake_follower()
            elif self._bg_idle and not self._bg_watching:
                self._bg_cv.notify()  # nobody reads now: the background watches the socket

    def _lead(self, slot, deadline):
        """Reads and delivers until slot is answered or the session is lost: True; False if
        the deadline passed first.

        Every step may be interrupted in the main thread and done again by the next reader
        (this thread's Cancel, a follower, the background): the bytes of one recv() land in
        self._chunks by C code (list.extend over map(), as in _write), so an interrupt right
        after the system call cannot lose them; parsing changes nothing until the answers are
        in self._inbox; handing them over (_deliver) may be done twice. Only the socket's own
        errors end the session here: a signal handler's exception is an interrupt, whatever
        its class (_from_socket)."""
        sock = self._sock
        chunks = self._chunks
        while slot.resp is None and slot.exc is None:
            if self._lost is not None:
                return True
            if self._inbox:  # answers an interrupted reader left undelivered
                self._deliver()
                continue
            if chunks and not chunks[-1]:
                chunks.clear()
                self._lose(ConnectionLost("client closed" if self._closing
                                          else "connection closed by the server"))
                return True
            want = self._want
            if not chunks or (want and want > sum(map(len, chunks))):
                try:
                    if deadline is not None:
                        left = deadline - time.monotonic()
                        poll = select.poll()
                        poll.register(sock, select.POLLIN)
                        if left <= 0 or not poll.poll(left * 1000):
                            return False
                    size = _RECV
                    if want:
                        size = max(_RECV, want - sum(map(len, chunks)))
                    chunks.extend(map(sock.recv, (size,)))
                except OSError as e:
                    if not _from_socket(e):
                        raise  # a signal handler's exception: an interrupt
                    chunks.clear()
                    self._lose(_socket_lost(e))
                    return True
                self._last_rx = time.monotonic()
                continue
            self._received(chunks)
        return True

    def _received(self, chunks):
        """The leader's bytes (chunks): parses the whole frames and delivers them. The answers
        go to self._inbox before the bytes are taken (one slice assignment leaves the rest of
        a frame in chunks), so an interrupt loses nothing: at worst the next reader parses the
        same bytes again, and _deliver hands over an answer once. With not one whole frame yet
        it leaves the bytes there and sets self._want to the bytes the frame needs."""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        resps = []
        pos, end = 0, len(data)
        bad = None
        while end - pos >= 4:
            n = int.from_bytes(data[pos:pos + 4], "big")
            if n == 0 or n > _proto.MAX_RESPONSE_BYTES:
                bad = "bad response frame length %d" % n
                break
            if end - pos - 4 < n:
                break
            resp = pb.Response()
            try:
                resp.ParseFromString(data[pos + 4:pos + 4 + n])
            except DecodeError as e:  # a message that does not decode
                bad = e
                break
            pos += 4 + n
            resps.append(resp)
        if not resps and bad is None:  # not one whole frame: read on
            self._want = 4 + int.from_bytes(data[:4], "big") if end >= 4 else 4
            return
        self._inbox.extend(resps)
        # want first: a stale one could wait, with a frame's rest in chunks, for bytes never sent
        self._want = 0
        chunks[:] = (data[pos:],) if pos < end else ()
        self._deliver()
        if bad is not None:
            self._lose(ConnectionLost("connection lost: %s" % bad))

    def _deliver(self):
        """Hands the answers in self._inbox to their calls, oldest first. Each answer leaves
        the inbox only once handed over, and handing it over again changes nothing (its slot
        has its Response, and has left _pending): an interrupt in the main thread at any step
        leaves the rest to the next reader. A follower whose wake-up was torn looks again by
        itself (_wait)."""
        inbox = self._inbox
        pending = self._pending
        ended = None
        with self._mu:
            while inbox:
                resp = inbox[0]
                if resp.id == 0:
                    ended = resp
                    inbox.clear()
                    break
                slot = pending.get(resp.id)
                if slot is not None:  # (None: the answer of an abandoned call, or handed over)
                    if slot.resp is None:
                        slot.resp = resp
                        if slot.what is not None and resp.status != _OK \
                                and resp.status not in slot.quiet:
                            log.warning("condd: %s failed on %s: %s", slot.what,
                                        self.server or self.address, self._error(resp))
                    if slot.waiting:
                        slot.waiting = False
                        self._followers.pop(slot, None)
                        slot.lk.release()
                    pending.pop(resp.id, None)
                inbox.popleft()
        if ended is not None:
            # SESSION_KILLED, SHUTTING_DOWN, UNAUTHENTICATED...: the session is over
            exc = error_for(ended)
            if self.session_state == "opening":
                # refused before it began (LIMIT_EXCEEDED at the server's --max-connections,
                # protocol.md §2): connect() raises the status's own class
                self._lose(type(exc)("connection refused by the server: %s"
                                     % (ended.message or ended.status), ended.status))
                return
            if not isinstance(exc, ConnectionLost):
                exc = ConnectionLost(exc.message, ended.status)
            self._lose(type(exc)("connection ended by the server: %s"
                                 % (ended.message or ended.status), ended.status))

    def _lose(self, exc):
        """Ends the session once: every pending call fails with exc, held grants are
        forgotten, a thread reading the socket is woken (shutdown)."""
        with self._mu:
            if self._lost is not None:
                return
            if exc.server is None:
                exc.server = self.server
            self._lost = exc
            was_open = self.session_state == "open"
            self.session_state = "lost"
            pending, self._pending = self._pending, {}
            for slot in pending.values():
                slot.exc = exc
                if slot.waiting:
                    slot.waiting = False
                    slot.lk.release()
            self._followers.clear()
            self._inbox.clear()
            self._wbuf = []
            self._wbuf_ids = []
            self._qn = None
            _QUEUED.discard(self)
            held, self._held = self._held, set()
            for obj in held:
                obj._forget(exc)
            self._wake_background()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if was_open and not self._closing and self._on_session is not None:
            try:
                self._on_session(self, "lost", exc)
            except Exception:
                log.exception("condd: on_session callback failed")

    # ------------------------------------------------------------ the background thread

    def _wake_background(self):  # under _mu
        self._bg_cv.notify()
        if self._bg_watching:
            try:
                os.write(self._wake[1], b"\0")
            except OSError:  # (full: a wake-up is pending anyway)
                pass

    def _background(self):
        """Writes queued frames no request took (FLUSH_MIN, FLUSH_MAX); pings when nothing was
        written for a third of the session timeout (_keepalive). Idle (nothing queued) while
        nobody reads the socket, it watches it (_watch), so that an end the server announces
        (SESSION_KILLED, SHUTTING_DOWN, end-of-file) ends the session at once, as the asyncio
        client's reader sees it, not at the next call: a release() after an operator's kill
        raises SessionKilled. What comes then (the answers of fire-and-forget frames too) it
        reads without blocking, as the leader (_drain_unasked)."""
        self._wake = os.pipe()
        for fd in self._wake:
            os.set_blocking(fd, False)
        try:
            self._background_loop()
        finally:
            with self._mu:
                wake, self._wake = self._wake, None
            for fd in wake:
                os.close(fd)

    def _background_loop(self):
        every = max(self.session_timeout / 3, 0.01)
        mu, cv = self._mu, self._bg_cv
        period = FLUSH_MIN
        while True:
            drain = False
            with mu:
                if self._lost is not None or self._bg_stop:
                    return
                now = time.monotonic()
                flush = bool(self._wbuf) and now - self._wbuf_since >= FLUSH_MIN
                ping = not flush and now - self._last_send >= every
                if not flush and not ping:
                    if self._wbuf:  # young: a request may still carry it
                        wait = self._wbuf_since + FLUSH_MIN - now
                    elif self._queued_recently:  # carried: look again, less often
                        wait = period
                        period = min(2 * period, FLUSH_MAX)
                    else:
                        self._bg_idle = True
                        period = FLUSH_MIN
                        wait = self._last_send + every - now
                    self._queued_recently = False
                    if self._bg_idle and not self._leading:
                        self._bg_watching = True
                        mu.release()
                        try:
                            drain = self._watch(wait)
                        finally:
                            mu.acquire()
                            self._bg_watching = False
                    else:
                        cv.wait(wait)
                    self._bg_idle = False
                    if not drain:
                        continue
            if drain:
                self._drain_unasked()
                continue
            try:
                if flush:
                    period = FLUSH_MIN
                    self._flush()
                else:
                    self._keepalive()
            except ConnectionLost:
                return

    def _watch(self, wait):
        """Waits up to wait seconds for bytes on the socket (True) or a wake-up (False)."""
        poll = select.poll()
        try:
            poll.register(self._sock, select.POLLIN)
            poll.register(self._wake[0], select.POLLIN)
            events = poll.poll(max(wait, 0) * 1000)
        except (OSError, ValueError):  # (the socket closed meanwhile)
            return False
        readable = False
        for fd, _ in events:
            if fd == self._wake[0]:
                try:
                    while os.read(fd, 4096):
                        pass
                except OSError:  # (BlockingIOError: emptied)
                    pass
            else:
                readable = True
        return readable

    def _drain_unasked(self):
        """Bytes came while nobody was reading: the answers of fire-and-forget frames, an id-0
        frame, end-of-file, an abandoned call's late answer. Reads them without blocking, as
        the leader (unless a call has begun reading meanwhile), and delivers them."""
        with self._mu:
            if self._lost is not None or self._leading:
                return
            self._leading = True
        chunks = self._chunks
        try:
            self._deliver()  # (what an interrupted reader left)
            while self._lost is None:
                try:
                    chunks.append(self._sock.recv(_RECV, socket.MSG_DONTWAIT))
                except BlockingIOError:
                    break
                except OSError as e:
                    chunks.clear()
                    self._lose(_socket_lost(e))
                    break
                if not chunks[-1]:
                    chunks.clear()
                    self._lose(ConnectionLost("client closed" if self._closing
                                              else "connection closed by the server"))
                    break
                self._last_rx = time.monotonic()
                self._received(chunks)
        finally:
            self._unlead()

    def _keepalive(self):
        """The background's Ping. As libcondd (CONDD_ERR_SERVER_TIMEOUT), the server is dead
        when nothing at all came from it for one session timeout while the Ping is unanswered
        (a stopped server, a partition without a reset): the session ends with ServerTimeout,
        failing every pending call once (the shutdown wakes a thread blocked reading). Bytes
        read by any thread, the Ping's answer or not, count as life."""
        req = self._request("ping")
        slot = self._start(req)
        sent = time.monotonic()
        t = self.session_timeout
        try:
            while self._wait(slot, max(max(self._last_rx, sent) + t - time.monotonic(), 0)) \
                    is None:
                if time.monotonic() - max(self._last_rx, sent) >= t:
                    break
            else:
                return
        finally:
            with self._mu:
                self._pending.pop(req.id, None)
        self._lose(ServerTimeout("nothing heard from %s within the session timeout (%g s)"
                                 % (self.server or self.address, t)))
