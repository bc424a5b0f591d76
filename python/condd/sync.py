# SPDX-License-Identifier: BSD-2-Clause
"""condd.sync: the blocking API, for scripts that are not asyncio programs. Its Lock,
Condition, Semaphore, BoundedSemaphore, Event and Barrier mirror `threading`'s signatures and
return values (timeouts return False, as there), with their state in condd.

The primitives are the asyncio client's (locks.py), so the protocol, the cancel rules and every
fix live in one place; what drives them depends on the session:

* One server, no resume (the common case): the fast path, _syncconn.Conn. There is no event
  loop: the thread in a call writes its request on the socket itself and reads the answers
  itself (leader/follower between threads of one client: _syncconn's docstring), so a call costs
  one send and one recv, as pybench's "floor" (bench/RESULTS.md). locks.py's coroutines never
  suspend on it: _run() drives each to its end in the calling thread. A small background thread
  sends the session pings and writes queued fire-and-forget frames (release(), notify(), set(),
  clear()) that no request carried, 2 to 10 ms after they were queued.
* A server list, or a grace with reconnect=True (a session to resume after a lost connection):
  the asyncio client (client.py, cluster.py) on a private event loop in one daemon thread per
  Client; each blocking call hands one coroutine to that loop and waits for its result. Resume
  and routing are much simpler there, and these clients keep every behaviour they had.

Timeouts are the server's (the Timeout field of Acquire, Wait, SemAcquire, EventWait,
BarrierWait): a timed-out call leaves nothing queued without a Cancel. A call interrupted in
the calling thread (KeyboardInterrupt, or any exception a signal handler raises) sends a Cancel
and waits for the target's own answer, undoing a grant that raced it, as in the asyncio API;
the interrupt then propagates.

    with condd.sync.connect() as client:
        with condd.sync.Lock(client, "jobs"):
            ...
"""

import asyncio
import atexit
import os
import threading
import time
import weakref

from . import _syncconn
from . import client as _client
from . import errors as _errors
from . import locks as _locks
from . import route as _route

__all__ = ["connect", "Client", "Lock", "Condition", "Semaphore", "BoundedSemaphore", "Event",
           "Barrier", "BrokenBarrierError"]


class BrokenBarrierError(_errors.BrokenBarrierError, threading.BrokenBarrierError):
    """condd.BrokenBarrierError that `except threading.BrokenBarrierError` also catches."""


# Clients on their own event loop (a server list, a resume), whose release() and notify() the
# loop thread sends after the call returned: flushed at exit (_flush_at_exit).
_LOOP_CLIENTS = weakref.WeakSet()


def _flush_at_exit():
    """At the interpreter's exit: every open loop client's queued release() or notify() is
    sent and carried out (a Ping behind them), within _syncconn.EXIT_FLUSH_WAIT in all. The
    fast path's queued frames are _syncconn's own atexit's."""
    deadline = time.monotonic() + _syncconn.EXIT_FLUSH_WAIT
    for client in tuple(_LOOP_CLIENTS):
        if client._thread is None or client.closed:
            continue
        try:
            fut = asyncio.run_coroutine_threadsafe(client._aclient.ping(), client._loop)
            fut.result(max(deadline - time.monotonic(), 0))
        except Exception:  # (lost, or out of time: nothing more to do at exit)
            pass


atexit.register(_flush_at_exit)


def _after_fork_in_child():
    """os.fork()'s hook in the child: a loop client is the parent's (its session, socket and
    loop thread; the child has no such thread, so a call would wait forever). Marked foreign:
    every call raises _syncconn.foreign_error, close() sends nothing (Client._forked). The fast
    path's connections are _syncconn's own hook's."""
    for client in tuple(_LOOP_CLIENTS):
        if client._thread is not None:  # (one the parent closed says "client closed")
            client._forked()
    _LOOP_CLIENTS.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def connect(address=None, *, client_name=None, session_timeout=0.0, token=None, token_file=None,
            grace=0.0, reconnect=True, on_session=None,
            connect_timeout=_client.DEFAULT_CONNECT_TIMEOUT):
    """Connects to condd (address and options as for condd.connect, a server list too) and
    returns a blocking Client. Raises OSError when the connection fails, condd.Unauthenticated
    when the server refuses the credentials, a condd.CondDError when Hello is refused
    otherwise. With a grace (and reconnect), the client resumes its session after a lost
    connection on its own loop thread, also between calls; on_session runs on that thread.
    Without, on_session(client, "lost", exc) runs in the thread that saw the loss.
    connect_timeout: seconds for the connection and the Hello's answer together, as for
    condd.connect (None: no limit); TimeoutError (an OSError) naming the address when it passes."""
    return Client(address, client_name=client_name, session_timeout=session_timeout,
                  token=token, token_file=token_file, grace=grace, reconnect=reconnect,
                  on_session=on_session, connect_timeout=connect_timeout)


class Client:
    """One condd session driven from any thread. close() (or `with`) ends it, releasing
    everything it held. Objects of one Client may be used from several threads: the calls are
    serialised on the client's loop, and each blocking call blocks only its own thread."""

    def __init__(self, address=None, *, client_name=None, session_timeout=0.0, token=None,
                 token_file=None, grace=0.0, reconnect=True, on_session=None,
                 connect_timeout=_client.DEFAULT_CONNECT_TIMEOUT):
        self._loop = self._thread = None
        self._foreign = None  # in a forked child: the pid of the process that opened it
        _client.check_connect_timeout(connect_timeout)
        options = dict(client_name=client_name, session_timeout=session_timeout, token=token,
                       token_file=token_file, grace=grace, reconnect=reconnect,
                       on_session=on_session, connect_timeout=connect_timeout)
        one = _one_address(address)
        if one is not None and not (grace and reconnect):
            if token is None:
                if token_file is None:
                    token_file = os.environ.get("CONDD_TOKEN_FILE") or None
                if token_file is not None:
                    token = _client._read_token_file(token_file)
            elif isinstance(token, str):
                token = token.encode("utf-8")
            self._aclient = _syncconn.Conn.open(
                one, client_name=client_name, session_timeout=session_timeout, token=token,
                grace=grace, on_session=on_session, connect_timeout=connect_timeout)
            self._fast = True
            return
        self._fast = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="condd.sync",
                                        daemon=True)
        self._thread.start()
        try:
            self._aclient = self._run(_client.connect, address, **options)
        except BaseException:
            self._stop()
            raise
        _LOOP_CLIENTS.add(self)

    # ------------------------------------------------------------ public

    @property
    def address(self):
        return self._aclient.address

    @property
    def session_id(self):
        return self._aclient.session_id

    @property
    def session_timeout(self):
        return self._aclient.session_timeout

    @property
    def server_version(self):
        return self._aclient.server_version

    @property
    def closed(self):
        if self._foreign is not None:  # (a forked child's: closed by its own close() only)
            return self._child_closed or self._aclient.closed
        return self._aclient.closed

    @property
    def grace(self):
        """The resume grace the server granted (0: none)."""
        return self._aclient.grace

    @property
    def acks(self):
        """True with acknowledged delivery (a resuming client; docs/python.md)."""
        return getattr(self._aclient, "acks", False)

    @property
    def session_state(self):
        """"open", "resuming" or "lost" (docs/python.md)."""
        return self._aclient.session_state

    def ping(self, **server):
        """One round trip: everything sent before it has been processed when it returns.
        With a server list: with server=S, or every server (condd.Cluster.ping)."""
        self._run(self._aclient.ping, **server)

    def stats(self, **server):
        """The server's Stats (a condd_pb2.StatsResult). With a server list: server=S for
        one server's, else {server: StatsResult or exception} (condd.Cluster.stats)."""
        return self._run(self._aclient.stats, **server)

    def list(self, prefix="", limit=0, **server):
        """The server's List (a condd_pb2.ListResult) of names starting with prefix. With a
        server list: server=S for one server's, else a condd.ClusterList (condd.Cluster.list)."""
        return self._run(self._aclient.list, prefix, limit, **server)

    def server_for(self, name):
        """The server (canonical identity, protocol.md §21.1) that name goes to."""
        return self._aclient.server_for(name)

    @property
    def servers(self):
        """The parsed server list (condd.route.ServerList) of a client of several servers;
        None for one server."""
        return getattr(self._aclient, "servers", None)

    def close(self):
        """Ends the session (Goodbye: the server has released everything it held when this
        returns) and stops the client's thread. Idempotent. In a forked child, on a client the
        parent opened, only the child's copy of the socket is closed: nothing is sent."""
        if self._fast:
            self._aclient.close()
            return
        if self._foreign is not None:
            self._child_closed = True
            sock, self._child_sock = self._child_sock, None
            if sock is not None:
                sock.close()  # (the child's descriptor only: no shutdown(), nothing sent)
            return
        if self._thread is None:
            return
        try:
            self._run(self._aclient.close)
        finally:
            self._stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # a forgotten client: stop its thread (the socket closes with the process, or once
        # the fast path's connection is collected)
        if getattr(self, "_fast", False):
            self._aclient.stop_background()
        elif getattr(self, "_foreign", None) is not None:
            pass  # (the parent's loop: nothing to stop here)
        elif getattr(self, "_thread", None) is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)

    # ------------------------------------------------------------ inside

    def _run(self, fn, *args, undo=None, **kw):
        """Runs the coroutine fn(*args, **kw) (of locks.py or client.py; or fn, a coroutine
        object) to its end and returns its result. undo: for an acquire, a function that gives
        back what a result of True holds, should the call be interrupted after it came (the
        loop path's).

        Fast path: in this thread; its calls block here and never suspend. An interrupt of a
        call that may wait is turned into a Cancel by the connection, the primitive undoes a
        racing grant and raises CancelledError, which becomes the interrupt again here.

        Loop: the coroutine is made and run on the loop thread (_on_loop), so no interrupt
        here leaves one never awaited. Interrupted here (a KeyboardInterrupt, say), it
        cancels the coroutine and waits for it to end, so a Cancel goes out and nothing is
        left held or queued (a grant already in hand is given back: undo); then the
        interrupt propagates."""
        if self._foreign is not None:
            raise _syncconn.foreign_error(self._foreign)
        if not self._fast:
            if self._thread is None:
                raise _errors.ConnectionLost("client closed")
            return self._on_loop(_LoopCall(fn, args, kw, False, undo))
        # (a call written out, not fn(*args): Python runs no signal handler between it and the
        # coroutine's start, as it does after a call through * or **)
        if kw or len(args) > 1:
            coro = fn(*args, **kw)
        elif args:
            coro = fn(args[0])
        elif asyncio.iscoroutine(fn):
            coro = fn
        else:
            coro = fn()
        if self._fast:
            try:
                coro.send(None)
            except StopIteration as e:
                return e.value
            except asyncio.CancelledError:
                interrupt = self._aclient._tls.__dict__.pop("interrupt", None)
                if interrupt is None:
                    raise
                raise interrupt from None
            except BaseException:  # (a second interrupt: the first one's record goes too)
                self._aclient._tls.__dict__.pop("interrupt", None)
                raise
            coro.close()
            raise RuntimeError("condd.sync: a blocking call suspended")

    def _on_loop(self, call):
        """Runs call (a _LoopCall) on the loop thread and waits for its result, which it
        returns or raises. Interrupted (a signal handler's exception, at any step here): the
        call is aborted on the loop thread (a coroutine cancelled, its Cancel sent; a grant it
        had in hand given back by call.undo) and this thread waits for that to be done, also
        through further interrupts, before the first one propagates. No wait here is on a
        concurrent.futures.Future: an interrupt inside its `with self._condition` leaves that
        lock held, and the loop thread, setting the result, blocks on it for good (issue 16)."""
        try:
            self._loop.call_soon_threadsafe(call.start)
            while call.result is None:  # (set before gate's release: a loop, not a flag,
                call.gate.acquire()     # so an interrupt after the acquire is harmless)
            ok, value = call.result     # (no call from here to the return: no handler runs)
            if ok:
                return value
        except BaseException:
            # posted again if an interrupt may have kept it from being posted (abort is
            # idempotent); the loop runs it after start, if start was posted at all
            while not call.settled:
                try:
                    if not call.abort_posted:
                        if self._loop.is_closed():  # (closed by another thread: nothing runs)
                            break
                        self._loop.call_soon_threadsafe(call.abort)
                        call.abort_posted = True
                    call.settled_gate.acquire()
                except BaseException:  # a further interrupt: the first one propagates
                    pass
            raise
        raise value

    def _call(self, fn, *args):
        """Runs the synchronous method fn (here on the fast path; else on the loop thread:
        the asyncio objects are the loop's) and returns its result or raises its exception."""
        if self._fast:
            return fn(*args)
        if self._foreign is not None:
            raise _syncconn.foreign_error(self._foreign)
        if self._thread is None:
            raise _errors.ConnectionLost("client closed")
        return self._on_loop(_LoopCall(fn, args, {}, True, None))

    def _forked(self):
        """In a forked child (the at-fork hook): the client is the parent's. No thread runs
        its loop here: nothing is handed to it again (_run and _call raise), close() only closes
        the child's copy of the session's socket (a single server's; a server list's close with
        the child), and the loop's own descriptors are left to the child's exit."""
        self._foreign = os.getppid()
        self._child_closed = False
        self._thread = None
        tr = getattr(self._aclient, "_transport", None)
        self._child_sock = getattr(tr, "_sock", None)

    def _stop(self):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
        self._loop.close()


class _LoopCall:
    """One blocking call of a loop client (Client._on_loop), shared by the calling thread and
    the loop thread. The loop thread writes every field but abort_posted; the caller only
    reads them, and waits on two plain locks (gate, settled_gate) that the loop thread
    releases once, each after the flag it guards is set: a lock's acquire returns or raises
    on an interrupt and leaves nothing held, where threading.Event's and a Future's waits
    hold a lock of their own while an interrupt may land."""

    def __init__(self, fn, args, kw, sync, undo):
        self.fn, self.args, self.kw = fn, args, kw
        self.sync = sync  # fn is a plain function (run as one loop callback), not a coroutine's
        self.undo = undo
        self.task = None
        self.result = None  # (True, value) or (False, exception) once the call ended
        self.aborted = False
        self.abort_posted = False  # (the caller's)
        self.settled = False  # aborted, and the abort's work done
        self.gate = threading.Lock()
        self.gate.acquire()
        self.settled_gate = threading.Lock()
        self.settled_gate.acquire()

    def start(self):  # on the loop
        try:
            if self.sync:
                self._end(True, self.fn(*self.args, **self.kw))
                return
            if asyncio.iscoroutine(self.fn):  # (the tests': made by the caller)
                coro = self.fn
            else:
                coro = self.fn(*self.args, **self.kw)
        except BaseException as e:
            self._end(False, e)
            return
        self.task = asyncio.ensure_future(coro)
        self.task.add_done_callback(self._done)

    def _done(self, task):  # on the loop
        # the task dies here, not in the caller's thread (asyncio's WeakSet of tasks would
        # run its callback there, where an interrupt inside it is only printed, and lost)
        self.task = None
        if task.cancelled():
            self._end(False, asyncio.CancelledError())
        elif task.exception() is not None:
            self._end(False, task.exception())
        else:
            self._end(True, task.result())

    def _end(self, ok, value):  # on the loop
        self.result = (ok, value)
        self.gate.release()
        if self.aborted:
            self._settle()

    def abort(self):  # on the loop, posted by the interrupted caller (perhaps twice)
        if self.aborted:
            return
        self.aborted = True
        if self.result is not None:  # ended before the interrupt came: undo a grant
            self._settle()
        elif self.task is not None:
            self.task.cancel()  # _end settles: the Cancel went out, a racing grant went back
        else:  # never started (the caller's post of start was interrupted)
            self.result = (False, asyncio.CancelledError())
            self._settle()

    def _settle(self):  # on the loop
        ok, value = self.result
        if ok and value is True and self.undo is not None:
            try:
                self.undo()
            except Exception:  # (a session lost meanwhile: nothing is held any more)
                pass
        self.settled = True
        self.settled_gate.release()


def _one_address(address):
    """The address of a client of one server (None, a string, a list of one), else None: a
    server list, for the asyncio Cluster. Raises what condd.connect raises for a bad one."""
    if address is None:
        address = os.environ.get("CONDD_SERVER") or _client.DEFAULT_ADDRESS
    if not isinstance(address, str) or "," in address:
        servers = _route.parse_list(address)
        for a in servers.addresses:
            _client._connectable(a)
        if len(servers) != 1:
            return None
        address = servers.addresses[0]
    _client.parse_address(address)
    return address


def _check_timeout(blocking, timeout):
    """threading.Lock's rules for (blocking, timeout): the server timeout to use (None:
    forever, 0: try once)."""
    if not blocking:
        if timeout is not None and timeout != -1:
            raise ValueError("can't specify a timeout for a non-blocking call")
        return 0.0
    if timeout is None or timeout == -1:
        return None
    if timeout < 0:
        raise ValueError("timeout value must be positive")
    return float(timeout)


class _SharedLock(_locks.Lock):
    """The asyncio Lock in shared mode as a condd.sync.Lock drives it: one object that several
    threads hold at once, each grant with its own owner handle, so that each holder's release()
    gives one grant back. Any thread holding the object may release it (docs/python.md):
    release() gives back the latest grant. The grants are kept here under a lock of their own,
    not in the asyncio class's list, because the threads of one fast-path client run these
    methods at the same time (the asyncio class is only ever run by its loop's thread)."""

    def __init__(self, client, name):
        super().__init__(client, name, shared=True)
        self._grants = []  # owner handles of the grants this object holds, oldest first
        self._grants_mu = threading.Lock()

    def __repr__(self):
        state = "locked" if self._grants else "unlocked"
        return "<condd.Lock %r shared [%s] held=%d token=%s>" % (
            self.name, state, len(self._grants), self.token)

    def locked(self):
        return bool(self._grants)

    def _granted(self, owner, token):
        with self._grants_mu:
            self._grants.append(owner)
            self._lost = None
            self.token = token
            self._client._held.add(self)

    def _take_owner(self):
        with self._grants_mu:
            if not self._grants:
                if self._lost is not None:
                    lost, self._lost = self._lost, None
                    raise _locks._lost_again(lost, "lock %r lost with the session: %s"
                                             % (self.name, lost))
                raise RuntimeError("Lock is not acquired.")
            owner = self._grants.pop()
            if not self._grants:
                self._client._held.discard(self)
            return owner

    def _forget(self, exc):
        with self._grants_mu:
            self._grants = []
            self._lost = exc

    def _peek_owner(self):
        # release(): the grant is forgotten under the mutex first (locks._release)
        return self._take_owner(), None

    def _ungrant(self, owner, unsent):
        # an acquire cancelled or interrupted with its grant in hand (locks._ungrant)
        with self._grants_mu:
            if owner in self._grants:
                self._grants.remove(owner)
                if not self._grants:
                    self._client._held.discard(self)
        if unsent and not self._client.closed:
            self._client._send_checked(self._release_request(owner),
                                       "release of %r" % self.name, forget=unsent)


class Lock:
    """threading.Lock over condd: acquire(blocking=True, timeout=-1) -> bool, release(),
    locked(), `with lock:`; plus locked_remote(), release_remote() and token (docs/python.md).
    As for condd.Lock, locked() is local: True while this object holds the lock.
    shared=True: a shared (reader) lock, as condd.Lock(..., shared=True); one object may then
    be held by several threads at once, each release() giving back one grant (_SharedLock)."""

    def __init__(self, client, name, *, shared=False):
        self._client = client
        self._lock = _locks.Lock(client._aclient, name, shared=shared)
        if shared:  # several threads may hold and release it at once: _SharedLock's mutex
            self._lock = _SharedLock(client._aclient, name)

    def __repr__(self):
        return repr(self._lock).replace("<condd.", "<condd.sync.", 1)

    @property
    def name(self):
        return self._lock.name

    @property
    def server(self):
        """The server the lock's name goes to (condd.Lock.server)."""
        return self._lock.server

    @property
    def token(self):
        """The fencing token of the latest grant (None before the first)."""
        return self._lock.token

    @property
    def shared(self):
        """True for a shared (reader) lock."""
        return self._lock.shared

    def acquire(self, blocking=True, timeout=-1):
        """Waits (FIFO) until granted: True; False if blocking is false and the lock is held,
        or when timeout seconds pass first (the server's timeout: nothing is left queued)."""
        t = _check_timeout(blocking, timeout)
        return self._client._run(self._lock._acquire, t, undo=self._lock.release)

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()

    def release(self):
        """Releases the grant this object holds (RuntimeError if none; ConnectionLost if the
        session ended while it was held). Sent at once; the answer is not awaited."""
        if self._client._fast:
            self._lock.release()  # queued (or raises what asyncio's release() raises)
        else:
            # on the loop, in one callback that forgets the grant and queues the Release
            # (this thread waits for that hop, not for the server): interrupted, it has either
            # run or not been posted, so the release is done or nothing changed
            self._client._call(self._lock.release)

    def release_remote(self):
        """release() that waits for the server's answer (raises its error, if any)."""
        self._client._run(self._lock.release_remote)

    def locked(self):
        """True if this object holds the lock (local knowledge, no round trip)."""
        return self._lock.locked()

    def locked_remote(self):
        """Asks the server whether anyone holds the lock."""
        return self._client._run(self._lock.locked_remote)


class Condition:
    """threading.Condition over condd: acquire(), release(), wait(timeout=None) -> bool,
    wait_for(predicate, timeout=None), notify(n=1), notify_all(), `with cond:`; lock=None uses
    Lock(client, name), the lock named like the condition, as condd.Condition and condctl do. wait()'s timeout is the server's
    (Wait.timeout): it returns False holding the lock again, with no Cancel."""

    def __init__(self, client, name, lock=None):
        if lock is None:
            lock = Lock(client, name)
        elif not isinstance(lock, Lock) or lock._client is not client:
            raise ValueError("the lock must be a condd.sync.Lock of the same client")
        if lock.shared:
            raise ValueError("a Condition needs an exclusive lock: conditions need the "
                             "exclusive mode, not Lock(..., shared=True)")
        self._client = client
        self._lock = lock
        self._cond = _locks.Condition(client._aclient, name, lock._lock)
        self.acquire = lock.acquire
        self.release = lock.release
        self.release_remote = lock.release_remote

    def __repr__(self):
        return "<condd.sync.Condition %r lock=%r>" % (self._cond.name, self._lock)

    @property
    def name(self):
        return self._cond.name

    @property
    def server(self):
        """The server of the condition's lock, where the condition lives."""
        return self._cond.server

    @property
    def lock(self):
        return self._lock

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *exc):
        self._lock.release()

    def wait(self, timeout=None):
        """Releases the lock, waits for a notification, holds the lock again. True if
        notified, False if timeout seconds passed first. RuntimeError without the lock."""
        if timeout is not None and timeout < 0:
            timeout = 0.0
        return self._client._run(self._cond._wait, timeout)

    def wait_for(self, predicate, timeout=None):
        """Waits until predicate() (called in this thread, holding the lock) is true; returns
        its last value, which is false if timeout seconds passed first."""
        endtime = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = time.monotonic() + waittime
                else:
                    waittime = endtime - time.monotonic()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def notify(self, n=1):
        """Wakes up to n waiters (RuntimeError unless this condition's lock object holds the
        lock). Sent at once; the answer is not awaited (notify_remote() awaits it)."""
        self._client._call(self._cond.notify, n)

    def notify_all(self):
        self._client._call(self._cond.notify_all)

    def notify_remote(self, n=1):
        """notify() that waits for the server's answer: how many waiters it woke."""
        return self._client._run(self._cond.notify_remote, n)

    def notify_all_remote(self):
        return self._client._run(self._cond.notify_all_remote)


class Semaphore:
    """threading.Semaphore over condd: acquire(blocking=True, timeout=None) -> bool,
    release(n=1), `with sem:`; plus locked(), locked_remote(), release_remote(), held, value,
    token. value is 1..2**31 and must agree with every user of the name (condd.Semaphore)."""

    _async = _locks.Semaphore

    def __init__(self, client, name, value=1):
        self._client = client
        self._sem = self._async(client._aclient, name, value)

    def __repr__(self):
        return repr(self._sem).replace("<condd.", "<condd.sync.", 1)

    name = property(lambda self: self._sem.name)
    server = property(lambda self: self._sem.server)
    value = property(lambda self: self._sem.value)
    held = property(lambda self: self._sem.held)
    token = property(lambda self: self._sem.token)

    def acquire(self, blocking=True, timeout=None):
        """Waits (FIFO) for a permit: True; False if blocking is false and none is free, or
        when timeout seconds pass first (the server's timeout: nothing is left queued)."""
        if not blocking and timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        t = 0.0 if not blocking else (None if timeout is None else max(float(timeout), 0.0))
        return self._client._run(self._sem._acquire, t, undo=self._sem.release)

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()

    def release(self, n=1):
        """Returns n permits this object holds (or posts them, for a Semaphore holding
        none); a BoundedSemaphore raises ValueError instead of returning what it does not
        hold. Sent at once; the answers are not awaited."""
        if n < 1:
            raise ValueError("n must be one or more")

        def release_n():
            for _ in range(n):
                self._sem.release()
        self._client._call(release_n)

    def release_remote(self):
        """release() of one permit that waits for the server's answer."""
        self._client._run(self._sem.release_remote)

    def locked(self):
        return self._sem.locked()

    def locked_remote(self):
        return self._client._run(self._sem.locked_remote)


class BoundedSemaphore(Semaphore):
    """threading.BoundedSemaphore over condd: release() of a permit this object does not hold
    raises ValueError."""

    _async = _locks.BoundedSemaphore


class Event:
    """threading.Event over condd: set(), clear(), is_set(), wait(timeout=None) -> bool; plus
    is_set_remote(), set_remote() -> woken, clear_remote(). is_set() is local knowledge, as for
    condd.Event."""

    def __init__(self, client, name):
        self._client = client
        self._event = _locks.Event(client._aclient, name)

    def __repr__(self):
        return repr(self._event).replace("<condd.", "<condd.sync.", 1)

    name = property(lambda self: self._event.name)
    server = property(lambda self: self._event.server)

    def is_set(self):
        return self._event.is_set()

    def is_set_remote(self):
        return self._client._run(self._event.is_set_remote)

    def set(self):
        self._client._call(self._event.set)

    def clear(self):
        self._client._call(self._event.clear)

    def set_remote(self):
        return self._client._run(self._event.set_remote)

    def clear_remote(self):
        self._client._run(self._event.clear_remote)

    def wait(self, timeout=None):
        """True once the event is set; False if timeout seconds passed first."""
        if timeout is not None and timeout < 0:
            timeout = 0.0
        return self._client._run(self._event._wait, timeout)


class Barrier:
    """threading.Barrier over condd: wait(timeout=None) -> arrival index, reset(), abort(),
    parties, n_waiting, broken; plus state(). As in threading, a wait whose timeout passes
    breaks the barrier (abort()) and raises BrokenBarrierError; `timeout` given here is the
    default of every wait(). threading's `action` is not offered: there is no one process in
    which to run it before the parties are released."""

    def __init__(self, client, name, parties, action=None, timeout=None):
        if action is not None:
            raise TypeError("condd.sync.Barrier has no action (docs/python.md)")
        self._client = client
        self._timeout = timeout
        self._barrier = _locks.Barrier(client._aclient, name, parties)

    def __repr__(self):
        return repr(self._barrier).replace("<condd.", "<condd.sync.", 1)

    name = property(lambda self: self._barrier.name)
    server = property(lambda self: self._barrier.server)
    parties = property(lambda self: self._barrier.parties)
    n_waiting = property(lambda self: self._barrier.n_waiting)
    broken = property(lambda self: self._barrier.broken)

    def wait(self, timeout=None):
        """Waits until `parties` waits are pending, in any process: this party's arrival
        index. BrokenBarrierError if the barrier is or gets broken, or when timeout passes
        (which breaks it for everyone, as in threading)."""
        if timeout is None:
            timeout = self._timeout
        if timeout is not None and timeout < 0:
            timeout = 0.0
        try:
            index = self._client._run(self._barrier._wait, timeout)
        except _errors.BrokenBarrierError as e:
            raise BrokenBarrierError(e.message, e.status) from None
        if index is None:
            self.abort()
            raise BrokenBarrierError("barrier wait timed out; the barrier is now broken")
        return index

    def reset(self):
        """Breaks pending waits and leaves the barrier usable; returns how many it broke."""
        return self._client._run(self._barrier.reset)

    def abort(self):
        """Breaks pending waits and leaves the barrier broken until reset(); returns how many
        it broke."""
        return self._client._run(self._barrier.abort)

    def state(self):
        """The server's view: condd.BarrierState(exists, parties, n_waiting, broken)."""
        return self._client._run(self._barrier.state)
