# SPDX-License-Identifier: BSD-2-Clause
"""Lock, Condition, Event, Semaphore, BoundedSemaphore and Barrier: twins of asyncio's, whose
state lives in condd. Each class maps asyncio's methods onto requests (docs/python.md has the
table); asyncio's synchronous methods (release, notify, notify_all, set, clear) write their
request and return at once, which is sound because one connection keeps requests in order
(protocol.md §4.4). A new primitive is one more class here on the same Client calls (client.py)."""

import asyncio
import collections
import math

from . import _proto
from .errors import BadRequest, ConnectionLost, ShuttingDown

pb = _proto.pb

# notify_all() carried by a Wait's notify_first: more waiters than can exist.
_NOTIFY_ALL = 2 ** 64 - 1

# Condition(client, name) without a lock uses the lock named name, as condctl does (condctl.1,
# --lock: "default: the lock named like the condition"), so a shell script and a Python program
# meet on one condition; locks and conditions are separate namespaces (protocol.md §6.1).


def _lost_again(lost, text):
    """The exception for using what was lost with the session: the class of the loss
    (condd.SessionKilled, condd.SessionLost, ...), ConnectionLost at least."""
    cls = type(lost) if isinstance(lost, ConnectionLost) else ConnectionLost
    return cls(text, getattr(lost, "status", None))


# A name's length on the wire, in bytes (protocol.md §6.1).
NAME_MAX = 512


def _name(name):
    """The wire form of a name (str: UTF-8; bytes-like as is). TypeError for another type,
    condd.BadRequest (a ValueError) outside 1..NAME_MAX bytes, as the server would answer: a
    longer name could make a frame over the server's cap, which ends the session."""
    if isinstance(name, str):
        wire = name.encode("utf-8")
    elif isinstance(name, (bytes, bytearray, memoryview)):
        wire = bytes(name)
    else:
        raise TypeError("a condd name is a str or bytes, not %s" % type(name).__name__)
    if not 1 <= len(wire) <= NAME_MAX:
        raise BadRequest("condd names are 1 to %d bytes (protocol.md §6.1), not %d"
                         % (NAME_MAX, len(wire)), pb.STATUS_BAD_REQUEST)
    return wire


class _Routed:
    """What every primitive shares: the session its name routes to. `_router` is the Client
    or Cluster given to the constructor and `_route` the place of the primitive's server in
    its list (protocol.md §21.2, computed once); `_client` is the session of that server (a
    Cluster opens it the first time, and opens a new one after a loss)."""

    @property
    def _client(self):
        return self._router._session_at(self._route)

    @property
    def server(self):
        """The server this object's name goes to (its canonical identity, protocol.md
        §21.1); a Condition goes to its lock's server."""
        return self._router._server_at(self._route)

    def _routed(self, client, wire_name):
        self._router = client
        self._route = client._route_of(wire_name)


class Lock(_Routed):
    """asyncio.Lock over condd: `await acquire()` -> True, `release()`, `locked()`,
    `async with lock`. Each acquire uses a fresh owner handle; whoever has the object may
    release the grant, as in asyncio. `token` is the fencing token of the latest grant.

    shared=True (keyword only; asyncio has no such lock, protocol.md §20): every acquire asks
    for the lock in shared mode, so any number of shared holders (readers) hold it together
    while no exclusive holder (writer) does; a reader never barges past a queued writer. Each
    shared grant has its own fencing token. A Condition needs an exclusive lock."""

    def __init__(self, client, name, *, shared=False):
        self.name = name
        self.shared = bool(shared)
        self._wire_name = _name(name)
        self._routed(client, self._wire_name)
        # owner handles of the grants this object holds, oldest first: one at most for an
        # exclusive lock, one per reader task for a shared one
        self._owners = []
        self._lost = None  # ConnectionLost if the session ended while held
        self._lost_grants = 0  # how many grants went with it: each release() says so once
        self.token = None

    def __repr__(self):
        state = "locked" if self._owners else "unlocked"
        mode = " shared" if self.shared else ""
        return "<condd.Lock %r%s [%s] token=%s>" % (self.name, mode, state, self.token)

    async def __aenter__(self):
        await self.acquire()
        return None

    async def __aexit__(self, exc_type, exc, tb):
        self.release()

    def locked(self):
        """True if this object holds the lock (local knowledge, no round trip). Other
        holders, other objects and other processes are seen by `await locked_remote()`."""
        return bool(self._owners)

    @property
    def _owner(self):
        """The owner handle of the latest grant this object holds (None if none): the one a
        Condition waits and notifies with (its lock is exclusive: the only one)."""
        return self._owners[-1] if self._owners else None

    @_owner.setter
    def _owner(self, owner):
        # (condd.sync's release: `lock._owner = None` forgets the latest grant)
        if owner is not None:
            raise ValueError("only None: the grant is forgotten")
        if self._owners:
            self._owners.pop()

    async def locked_remote(self):
        """Asks the server whether anyone holds the lock (Locked)."""
        req = self._client._request("locked")
        req.locked.lock = self._wire_name
        resp = await self._client._call(req)
        self._client._check(resp)
        return resp.locked.locked

    async def acquire(self):
        """Waits until the lock is granted (FIFO) and returns True. Cancelling the task sends
        a Cancel; a grant that raced it is released again before CancelledError propagates."""
        return await self._acquire(None)

    async def _acquire(self, timeout):
        """acquire() with the server's timeout (None: forever; 0: try once): False when it
        passes, with nothing queued and no Cancel needed (condd.sync's timeouts)."""
        client = self._client
        owner = client._new_owner()
        req = client._request("acquire")
        req.acquire.lock = self._wire_name
        req.acquire.owner = owner
        if self.shared:
            req.acquire.mode = pb.LOCK_MODE_SHARED
        if timeout is not None:
            req.acquire.timeout.seconds = max(timeout, 0.0)
        resp = None
        unsent = [owner]  # the grant's Release, until queued (_ungrant: at most one)
        try:
            resp, cancelled = await client._call_cancellable(req)
            if cancelled:
                if resp is not None and resp.status == pb.STATUS_OK:
                    self._ungrant(owner, unsent)
                raise asyncio.CancelledError()
            if resp.status == pb.STATUS_TIMEOUT and timeout is not None:
                return False
            client._check(resp)
            self._granted(owner, resp.acquire.token)
            _signal_point()
            return True
        except BaseException:
            # condd.sync: a signal handler's exception may land at any step here, also with
            # the grant in hand (recorded or not): nothing stays held (_ungrant)
            if resp is not None and resp.status == pb.STATUS_OK:
                # in loops here, not in a function, so no call comes before a try; two of them, as
                # a jump back is where a further interrupt may land: the outer loop's try covers the
                # inner one's
                done = False
                while not done:
                    try:
                        while not done:
                            try:
                                self._ungrant(owner, unsent)
                                done = True
                            except ConnectionLost:
                                done = True
                            except BaseException:  # interrupted again: once more
                                pass
                    except BaseException:
                        pass
            raise

    def release(self):
        """Releases the grant this object holds (RuntimeError if none, as in asyncio). The
        Release is written at once; its answer is not awaited. ConnectionLost if the session
        ended while the lock was held: the lock was lost before this call."""
        _release(self)

    async def release_remote(self):
        """release() that waits for the server's answer: None once the lock is released,
        else the package's exception for the server's status (condd.NotOwner, ...). The same
        local checks as release() come first (RuntimeError, ConnectionLost); the object
        forgets its grant before the request goes out, as release() does."""
        owner = self._take_owner()
        await self._client._call_checked(self._release_request(owner))

    # ------------------------------------------------------------ inside

    def _peek_owner(self):
        """release()'s checks: (the owner handle of the latest grant held, the list holding it
        last) for _release, which forgets it."""
        if not self._owners:
            self._take_owner()  # raises what release() raises
        return self._owners[-1], self._owners

    def _take_owner(self):
        """The owner handle of the latest grant held, which the object forgets; the checks of
        release(). Any grant of a shared lock serves: they are alike to the server."""
        if not self._owners:
            if self._lost is not None:
                lost = self._lost
                self._lost_grants -= 1
                if self._lost_grants <= 0:
                    self._lost = None
                raise _lost_again(lost, "lock %r lost with the session: %s" % (self.name, lost))
            raise RuntimeError("Lock is not acquired.")
        owner = self._owners[-1]
        if len(self._owners) == 1:
            self._client._held.discard(self)
        del self._owners[-1]  # (last, and no call: _release)
        return owner

    def _release_request(self, owner):
        req = self._client._request("release")
        req.release.lock = self._wire_name
        req.release.owner = owner
        return req

    def _release_owner(self, owner):
        if self._client.closed:
            return
        self._client._send_checked(self._release_request(owner), "release of %r" % self.name)

    def _granted(self, owner, token):
        self._owners.append(owner)
        self._lost = None
        self._lost_grants = 0
        self.token = token
        self._client._held.add(self)

    def _ungrant(self, owner, unsent):
        """Gives back the grant of owner that an acquire had in hand (_ungrant)."""
        _ungrant(self, owner, unsent)

    def _forget(self, exc, grants=None):
        """The session ended while this object held the lock: every grant it held (grants:
        how many, when they are no longer in _owners: a Condition's wait) is lost."""
        n = len(self._owners) if grants is None else grants
        self._owners = []
        if self._lost is None:
            self._lost_grants = 0
        self._lost = exc
        self._lost_grants += max(n, 1)


class Condition(_Routed):
    """asyncio.Condition over condd, bound to a condd Lock (several conditions may share one;
    lock=None makes Lock(client, name): the lock named like the condition, as in condctl)."""

    def __init__(self, client, name, lock=None):
        if lock is None:
            lock = Lock(client, name)
        elif lock._router is not client:
            raise ValueError("the lock must belong to the same client")
        if lock.shared:
            # protocol.md §20.4: a Wait hands the lock over atomically, which one of several
            # readers cannot do, and a notifier must be alone to change the predicate
            raise ValueError("a Condition needs an exclusive lock: conditions need the "
                             "exclusive mode, not Lock(..., shared=True)")
        self.name = name
        self._wire_name = _name(name)
        self._lock = lock
        # one object with its lock (protocol.md §21.2): routed by the lock's name
        self._router, self._route = client, lock._route
        self.acquire = lock.acquire
        self.release = lock.release
        self.release_remote = lock.release_remote
        self.locked = lock.locked

    def __repr__(self):
        return "<condd.Condition %r lock=%r>" % (self.name, self._lock)

    @property
    def lock(self):
        return self._lock

    async def __aenter__(self):
        await self._lock.acquire()
        return None

    async def __aexit__(self, exc_type, exc, tb):
        self._lock.release()

    async def wait(self):
        """Releases the lock, waits for a notification, re-acquires the lock, returns True.
        Cancelled: the lock is held again before CancelledError propagates."""
        await self._wait(None)
        return True

    async def wait_for(self, predicate, *, timeout=None):
        """Waits until predicate() is true and returns its last value (protocol.md §9.6).
        timeout (an extension): one overall deadline in seconds; when it passes, returns
        predicate()'s value then, holding the lock."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        result = predicate()
        while not result:
            if deadline is None:
                await self._wait(None)
            else:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return predicate()
                if not await self._wait(remaining):
                    return predicate()
            result = predicate()
        return result

    def notify(self, n=1):
        """Wakes up to n waiters (RuntimeError if the lock is not held by this object); n <= 0
        wakes none and sends nothing, as in asyncio."""
        n = self._wake_count(n)
        if n:
            self._notify("notify", n)

    def notify_all(self):
        """Wakes every waiter (RuntimeError if the lock is not held by this object)."""
        self._notify("notify_all", None)

    async def notify_remote(self, n=1):
        """notify() that waits for the server's answer: how many waiters it woke, else the
        package's exception for the server's status (condd.LockMismatch, condd.NotOwner, ...).
        RuntimeError at once if this condition's lock object does not hold the lock."""
        n = self._wake_count(n)
        if not n:
            return 0
        resp = await self._client._call_checked(self._notify_request("notify", n))
        return resp.notify.woken

    async def notify_all_remote(self):
        """notify_all() that waits for the server's answer: how many waiters it woke."""
        resp = await self._client._call_checked(self._notify_request("notify_all", None))
        return resp.notify.woken

    # ------------------------------------------------------------ inside

    def _wake_count(self, n):
        """notify()'s n as asyncio counts it (it wakes while its count is below n: a float
        rounds up; 0 or less wakes none), at most what the wire carries; after asyncio's
        check that the lock is held."""
        if self._lock._owner is None:
            raise RuntimeError("cannot notify on un-acquired lock")
        if n <= 0:
            return 0
        return min(n if isinstance(n, int) else math.ceil(n), _NOTIFY_ALL)

    def _notify_request(self, kind, n):
        lock = self._lock
        if lock._owner is None:
            raise RuntimeError("cannot notify on un-acquired lock")
        req = self._client._request(kind)
        body = getattr(req, kind)
        body.condition = self._wire_name
        body.lock = lock._wire_name
        body.owner = lock._owner
        if n is not None:
            body.n = n
        return req

    def _notify(self, kind, n):
        req = self._notify_request(kind, n)
        client = self._client
        client._send_checked(req, "%s of %r" % (kind, self.name))
        if client._coalesce and client._wbuf:
            client._queued_notify = (self, self._lock._owner, _NOTIFY_ALL if n is None else n,
                                     req.id)

    def _pass_on(self):
        """The task of a notified Wait was cancelled before it could return (the answer OK,
        the Cancel too late: NOT_FOUND): the notification it consumed goes to the next waiter,
        with a Notify(n=1) sent while the lock is held, as asyncio does since gh-112202 and
        the server does for a Cancel that comes in time (protocol.md §9.5)."""
        if self._client.closed:
            return  # nobody to pass it to: the session and its waits are gone
        self._notify("notify", 1)

    def _unsent(self, owner, notify_first):
        """_wait interrupted before its Wait went out (condd.sync): the lock is still held, and
        a notify() that was to ride in the Wait is queued again."""
        lock = self._lock
        if owner not in lock._owners:
            lock._granted(owner, lock.token)
        if notify_first:
            self._notify("notify_all" if notify_first == _NOTIFY_ALL else "notify",
                         None if notify_first == _NOTIFY_ALL else notify_first)

    def _answered(self, owner, resp, passed):
        """_wait interrupted after its answer came, before it returned (condd.sync): the lock
        is held again, as after any wait, and a notification the caller never saw goes to the
        next waiter (_pass_on; done twice after a second interrupt, a spurious wake-up)."""
        lock = self._lock
        if owner not in lock._owners:
            lock._granted(owner, resp.wait.token)
        if resp.status == pb.STATUS_OK and not passed:
            self._pass_on()

    async def _wait(self, timeout):
        """One Wait; True if notified, False on its timeout. The lock is held afterwards."""
        lock = self._lock
        client = self._client
        if lock._owner is None:
            raise RuntimeError("cannot wait on un-acquired lock")
        owner = lock._owner
        req = client._request("wait")
        req.wait.condition = self._wire_name
        req.wait.lock = lock._wire_name
        req.wait.owner = owner
        if timeout is not None:
            req.wait.timeout.SetInParent()
            req.wait.timeout.seconds = max(timeout, 0.0)
        check = getattr(client, "_check_size", None)
        if check is not None:  # refused here, still holding the lock, before anything changes
            q = client._queued_notify  # (+ the notify_first it may carry)
            check(req, 0 if q is None or q[0] is not self else 1 + _varint_size(q[2]))
        # notify(); await wait(): the queued Notify rides in the Wait (protocol.md §9.2)
        notify_first = client._take_queued_notify(self, owner)
        if notify_first:
            req.wait.notify_first = notify_first
        try:
            # The server releases the lock while we wait: so does this object.
            lock._owners.remove(owner)
            if not lock._owners:
                client._held.discard(lock)
            resp, cancelled = await client._call_cancellable(req)
        except ConnectionLost as e:
            # The session ended during the wait: the lock went with it, and the object says so
            # (release() raises this class again), as for a lock held when the session ends.
            lock._forget(e, 1)
            raise
        except BaseException:
            # interrupted before the Wait went out (condd.sync): the lock is still held, and
            # a notify() that was to ride in the Wait is queued again
            # in loops here, not in a function, so no call comes before a try; two of them, as
            # a jump back is where a further interrupt may land: the outer loop's try covers the
            # inner one's
            done = False
            while not done:
                try:
                    while not done:
                        try:
                            self._unsent(owner, notify_first)
                            done = True
                        except ConnectionLost:
                            done = True
                        except BaseException:  # interrupted again: once more
                            pass
                except BaseException:
                    pass
            raise
        if resp is None:
            lock._forget(client._lost, 1)
            raise asyncio.CancelledError()
        if resp.status in (pb.STATUS_OK, pb.STATUS_TIMEOUT, pb.STATUS_CANCELLED):
            passed = False
            try:
                lock._granted(owner, resp.wait.token)
                if cancelled:
                    if resp.status == pb.STATUS_OK:
                        self._pass_on()
                        passed = True
                    raise asyncio.CancelledError()
                if resp.status == pb.STATUS_CANCELLED:  # cancelled by somebody else: not us
                    raise client._error(resp)
                _signal_point()
                return resp.status == pb.STATUS_OK
            except BaseException:
                # condd.sync: an interrupt after the answer came, before the call returned.
                # The lock is held again, as after any wait; a notification the caller never
                # saw goes to the next waiter (_pass_on)
                # in loops here, not in a function, so no call comes before a try; two of them, as
                # a jump back is where a further interrupt may land: the outer loop's try covers the
                # inner one's
                done = False
                while not done:
                    try:
                        while not done:
                            try:
                                self._answered(owner, resp, passed)
                                done = True
                            except ConnectionLost:
                                done = True
                            except BaseException:  # interrupted again: once more
                                pass
                    except BaseException:
                        pass
                raise
        if resp.status == pb.STATUS_SHUTTING_DOWN:
            lock._forget(ShuttingDown(resp.message), 1)
        elif resp.status != pb.STATUS_NOT_OWNER:
            lock._granted(owner, lock.token)  # refused at once: still held
        if cancelled:
            raise asyncio.CancelledError()
        raise client._error(resp)


def _signal_point():
    """Does nothing: calling it is a point where Python runs a pending signal handler. An
    acquire calls it last, inside the code that gives its grant back on an interrupt: a signal
    that came while the thread had let the GIL go at an earlier such point (where handlers had
    already been run) raises here, not in the caller's next line with the grant kept."""


def _release(obj):
    """release() of a Lock or Semaphore: exactly once, also when a signal handler's exception
    lands at any step of the calling thread (condd.sync). The object forgets the grant in the
    same step as the Release is queued (_send_checked's forget): an interrupt before that step
    leaves it held, and raises; after it, the Release goes out. A Semaphore holding no permit
    posts one (no grant to forget)."""
    owner, owners = obj._peek_owner()
    client = obj._client
    if client.closed:  # (the grant went with the session, whose end the object was told)
        if owners:
            del owners[-1]
        return
    client._send_checked(obj._release_request(owner), "release of %r" % obj.name,
                         forget=owners)
    if not owners:
        client._held.discard(obj)


def _surely(fn, *args):
    """Runs fn(*args), an undo whose every step may be done again, until it ends without an
    interrupt (condd.sync: a second signal handler's exception while the first one's undo
    runs); a lost session ends it (nothing is left to undo)."""
    while True:
        try:
            fn(*args)
            return
        except ConnectionLost:
            return
        except BaseException:
            pass


def _ungrant(obj, owner, unsent):
    """An acquire cancelled, or interrupted (condd.sync: a signal handler's exception lands at
    any step of the calling thread), after its grant came: obj (a Lock or Semaphore) forgets
    the grant if it had recorded it, and the grant is released on the server once: unsent
    ([owner] until the Release is queued) is emptied in the step that queues it, so that a
    second interrupt (_surely runs it again) or a second call cannot release twice (for a
    Semaphore a second Release would post a permit)."""
    _surely(_ungrant_once, obj, owner, unsent)


def _ungrant_once(obj, owner, unsent):
    owners = obj._owners
    if owner in owners:
        owners.remove(owner)
        if not owners:
            obj._client._held.discard(obj)
    if unsent and not obj._client.closed:  # (emptied in the step that queues it: once)
        obj._client._send_checked(obj._release_request(owner), "release of %r" % obj.name,
                                  forget=unsent)


def _varint_size(n):
    return max(1, (n.bit_length() + 6) // 7)


class Event(_Routed):
    """asyncio.Event over condd: set(), clear(), is_set(), `await wait()` -> True. Any session
    may set or clear it; a set event stays set until cleared."""

    def __init__(self, client, name):
        self.name = name
        self._wire_name = _name(name)
        self._routed(client, self._wire_name)
        self._value = False

    def __repr__(self):
        return "<condd.Event %r [%s]>" % (self.name, "set" if self._value else "unset")

    def is_set(self):
        """The state last seen by this object (its own set()/clear(), a wait() that returned,
        is_set_remote()); no round trip. `await is_set_remote()` asks the server."""
        return self._value

    async def is_set_remote(self):
        """Asks the server whether the event is set (EventIsSet); updates is_set()."""
        req = self._client._request("event_is_set")
        req.event_is_set.name = self._wire_name
        resp = await self._client._call(req)
        self._client._check(resp)
        self._value = resp.event_is_set.set
        return self._value

    def set(self):
        """Sets the event and wakes every waiter; written at once, answer not awaited."""
        self._client._send_checked(self._simple("event_set"), "set of event %r" % self.name)
        self._value = True

    def clear(self):
        """Clears the event; written at once, answer not awaited."""
        self._client._send_checked(self._simple("event_clear"), "clear of event %r" % self.name)
        self._value = False

    async def set_remote(self):
        """set() that waits for the server's answer: how many waiters this set woke (0 if the
        event was set already), else the package's exception (condd.LimitExceeded when the
        server's cap of events is reached, condd.BadRequest for a bad name, ...)."""
        resp = await self._client._call_checked(self._simple("event_set"))
        self._value = True
        return resp.event_set.woken

    async def clear_remote(self):
        """clear() that waits for the server's answer: None, else the package's exception."""
        await self._client._call_checked(self._simple("event_clear"))
        self._value = False

    # ------------------------------------------------------------ inside

    def _simple(self, kind):
        req = self._client._request(kind)
        getattr(req, kind).name = self._wire_name
        return req

    async def wait(self):
        """Waits until the event is set and returns True. Cancelling sends a Cancel."""
        return await self._wait(None)

    async def _wait(self, timeout):
        """wait() with the server's timeout (None: forever): False when it passes."""
        req = self._client._request("event_wait")
        req.event_wait.name = self._wire_name
        if timeout is not None:
            req.event_wait.timeout.seconds = max(timeout, 0.0)
        resp, cancelled = await self._client._call_cancellable(req)
        if cancelled:
            raise asyncio.CancelledError()
        if resp.status == pb.STATUS_TIMEOUT and timeout is not None:
            return False
        self._client._check(resp)
        self._value = True
        return True


class Semaphore(_Routed):
    """asyncio.Semaphore over condd (protocol.md §17): `await acquire()` -> True, `release()`,
    `locked()`, `async with sem`. Each acquire uses a fresh owner handle; the object remembers
    the permits it holds and release() returns the latest of them, so, as in asyncio, whoever
    has the object may release. release() on an object holding no permit posts one (asyncio's
    release without acquire). `value` must be 1..2**31 and agree with every other user of the
    name (else acquire raises condd.ValueMismatch). `token` is the latest grant's fencing token."""

    _bounded = False
    _kind = "Semaphore"

    def __init__(self, client, name, value=1):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("%s value must be an int" % self._kind)
        if value < 0:
            raise ValueError("Semaphore initial value must be >= 0")
        if value == 0 or value > _SEM_MAX:
            raise ValueError("condd %s value must be 1..%d (protocol.md §17.1)"
                             % (self._kind, _SEM_MAX))
        self.name = name
        self._wire_name = _name(name)
        self._routed(client, self._wire_name)
        self.value = value
        self._owners = []  # owner handles of the permits this object holds, oldest first
        self._lost = None  # ConnectionLost if the session ended while permits were held
        self.token = None

    def __repr__(self):
        state = "locked" if self.locked() else "unlocked"
        return "<condd.%s %r [%s, value:%d] held=%d token=%s>" % (
            self._kind, self.name, state, self.value, len(self._owners), self.token)

    async def __aenter__(self):
        await self.acquire()
        return None

    async def __aexit__(self, exc_type, exc, tb):
        self.release()

    @property
    def held(self):
        """How many permits this object holds now (local knowledge)."""
        return len(self._owners)

    def locked(self):
        """True if this object itself holds all `value` permits (local knowledge, no round
        trip). Whether an acquire would wait now, whoever holds the permits, needs
        `await locked_remote()`."""
        return len(self._owners) >= self.value

    async def locked_remote(self):
        """Asks the server whether an acquire would wait now (SemLocked)."""
        req = self._client._request("sem_locked")
        req.sem_locked.name = self._wire_name
        resp = await self._client._call(req)
        self._client._check(resp)
        return resp.sem_locked.locked

    async def acquire(self):
        """Waits for a permit (FIFO, no barging) and returns True. condd.ValueMismatch if the
        semaphore exists with another value or kind. Cancelling the task sends a Cancel; a
        grant that raced it is released again before CancelledError propagates."""
        return await self._acquire(None)

    async def _acquire(self, timeout):
        """acquire() with the server's timeout (None: forever; 0: try once): False when it
        passes, with nothing queued and no Cancel needed (condd.sync's timeouts)."""
        client = self._client
        owner = client._new_owner()
        req = client._request("sem_acquire")
        body = req.sem_acquire
        body.name = self._wire_name
        body.owner = owner
        body.value = self.value
        body.bounded = self._bounded
        if timeout is not None:
            body.timeout.seconds = max(timeout, 0.0)
        resp = None
        unsent = [owner]  # the grant's Release, until queued (_ungrant: at most one)
        try:
            resp, cancelled = await client._call_cancellable(req)
            if cancelled:
                if resp is not None and resp.status == pb.STATUS_OK:
                    self._ungrant(owner, unsent)
                raise asyncio.CancelledError()
            if resp.status == pb.STATUS_TIMEOUT and timeout is not None:
                return False
            client._check(resp)
            self._owners.append(owner)
            self._lost = None
            self.token = resp.sem_acquire.token
            client._held.add(self)
            _signal_point()
            return True
        except BaseException:
            # as Lock._acquire: a permit in hand when an interrupt lands is given back
            if resp is not None and resp.status == pb.STATUS_OK:
                # in loops here, not in a function, so no call comes before a try; two of them, as
                # a jump back is where a further interrupt may land: the outer loop's try covers the
                # inner one's
                done = False
                while not done:
                    try:
                        while not done:
                            try:
                                self._ungrant(owner, unsent)
                                done = True
                            except ConnectionLost:
                                done = True
                            except BaseException:  # interrupted again: once more
                                pass
                    except BaseException:
                        pass
            raise

    def release(self):
        """Returns the latest permit this object holds; written at once, answer not awaited.
        Holding none: a Semaphore posts a permit; a BoundedSemaphore raises ValueError at once
        (the server would refuse it with NOT_OWNER). ConnectionLost if the session ended while
        this object held permits: they were lost before this call."""
        _release(self)

    async def release_remote(self):
        """release() that waits for the server's answer: None once the permit is returned (or
        posted), else the package's exception for the server's status (condd.ValueMismatch
        when the semaphore exists with another value or kind, condd.NotOwner, ...). The same
        local checks as release() come first (ValueError for a BoundedSemaphore holding
        nothing, ConnectionLost)."""
        owner = self._take_owner()
        await self._client._call_checked(self._release_request(owner))

    # ------------------------------------------------------------ inside

    def _peek_owner(self):
        """release()'s checks: (the owner handle of the latest permit held, the list holding
        it last) for _release, which forgets it; (a fresh owner, None) for a post."""
        if not self._owners:
            return self._take_owner(), None  # raises what release() raises, or a post
        return self._owners[-1], self._owners

    def _take_owner(self):
        """The owner handle release() returns (the latest permit held, which the object
        forgets, or a fresh one for a post); the checks of release()."""
        if not self._owners:
            if self._lost is not None:
                lost, self._lost = self._lost, None
                raise _lost_again(lost, "%s %r permits lost with the session: %s"
                                  % (self._kind, self.name, lost))
            if self._bounded:
                raise ValueError("BoundedSemaphore released too many times")
            return self._client._new_owner()  # a post: nobody's permit
        owner = self._owners[-1]
        if len(self._owners) == 1:
            self._client._held.discard(self)
        del self._owners[-1]  # (last, and no call: _release)
        return owner

    def _release_request(self, owner):
        req = self._client._request("sem_release")
        body = req.sem_release
        body.name = self._wire_name
        body.owner = owner
        body.value = self.value
        body.bounded = self._bounded
        return req

    def _release_owner(self, owner):
        if self._client.closed:
            return
        self._client._send_checked(self._release_request(owner),
                                   "release of %s %r" % (self._kind, self.name))

    def _ungrant(self, owner, unsent):
        """Gives back the permit of owner that an acquire had in hand (_ungrant)."""
        _ungrant(self, owner, unsent)

    def _forget(self, exc):
        """The session ended while this object held permits."""
        self._owners = []
        self._lost = exc


class BoundedSemaphore(Semaphore):
    """asyncio.BoundedSemaphore over condd: as Semaphore, but release() on an object holding no
    permit raises ValueError("BoundedSemaphore released too many times") locally."""

    _bounded = True
    _kind = "BoundedSemaphore"

    def __init__(self, client, name, value=1):
        super().__init__(client, name, value)


# Largest semaphore value on the wire (protocol.md §17.1).
_SEM_MAX = 2 ** 31


# What `await Barrier.state()` returns: the server's view (protocol.md §19.4). A barrier that
# does not exist (nobody waits, not broken) is (False, 0, 0, False).
BarrierState = collections.namedtuple("BarrierState", "exists parties n_waiting broken")

# Largest barrier parties on the wire (protocol.md §19.1).
_BARRIER_MAX = 2 ** 31


class Barrier(_Routed):
    """asyncio.Barrier over condd (protocol.md §19): `await wait()` -> this party's arrival
    index, `await reset()`, `await abort()`, `async with barrier as index`, and the properties
    `parties`, `n_waiting`, `broken`. Those properties are synchronous as in asyncio, so they
    are local, best-effort knowledge: `n_waiting` counts this object's own pending waits,
    `broken` is the state this object last saw. `await state()` asks the server.
    Every user of the name must use the same `parties` while the barrier exists, else
    condd.ValueMismatch. A broken barrier raises condd.BrokenBarrierError (an
    asyncio.BrokenBarrierError)."""

    def __init__(self, client, name, parties):
        if not isinstance(parties, int) or isinstance(parties, bool):
            raise TypeError("parties must be an int")
        if parties < 1:
            raise ValueError("parties must be > 0")
        if parties > _BARRIER_MAX:
            raise ValueError("condd Barrier parties must be 1..%d (protocol.md §19.1)"
                             % _BARRIER_MAX)
        self.name = name
        self._wire_name = _name(name)
        self._routed(client, self._wire_name)
        self._parties = parties
        self._n_waiting = 0
        self._broken = False
        self._resets = 0  # this object's reset() calls so far

    def __repr__(self):
        state = "broken" if self._broken else "filling"
        return "<condd.Barrier %r [%s, waiters:%d/%d]>" % (
            self.name, state, self._n_waiting, self._parties)

    async def __aenter__(self):
        return await self.wait()

    async def __aexit__(self, *args):
        pass

    @property
    def parties(self):
        """The number of parties this object waits for (sent with every request)."""
        return self._parties

    @property
    def n_waiting(self):
        """How many waits of this object are pending now (local; other objects and
        processes are counted by `(await state()).n_waiting`)."""
        return self._n_waiting

    @property
    def broken(self):
        """Whether the barrier was broken when this object last heard of it (its own
        wait(), reset(), abort() or state()); `(await state()).broken` asks the server."""
        return self._broken

    async def wait(self):
        """Waits until `parties` waits are pending, in any process, and returns this party's
        arrival index (0..parties-1, unique in its generation). condd.BrokenBarrierError if
        the barrier is broken or gets reset or aborted meanwhile; condd.ValueMismatch if it
        exists with other parties. Cancelling the task sends a Cancel: the wait leaves without
        breaking the barrier. A release that raced the Cancel still raises CancelledError (as
        a cancelled asyncio wait does); the other parties are released all the same."""
        return await self._wait(None)

    async def _wait(self, timeout):
        """wait() with the server's timeout (None: forever): None when it passes (the wait
        left the barrier, not broken)."""
        client = self._client
        req = client._request("barrier_wait")
        req.barrier_wait.name = self._wire_name
        req.barrier_wait.parties = self._parties
        if timeout is not None:
            req.barrier_wait.timeout.seconds = max(timeout, 0.0)
        resets = self._resets
        self._n_waiting += 1
        try:
            resp, cancelled = await client._call_cancellable(req)
        finally:
            self._n_waiting -= 1
        if resp is not None:
            if resp.status == pb.STATUS_OK:
                self._broken = False
            elif resp.status == pb.STATUS_BROKEN and self._resets == resets:
                # (a reset() of this object sent since broke it: not left broken)
                self._broken = True
        if cancelled:
            raise asyncio.CancelledError()
        if resp.status == pb.STATUS_TIMEOUT and timeout is not None:
            return None
        client._check(resp)
        return resp.barrier_wait.index

    async def reset(self):
        """Answers every pending wait BrokenBarrierError and leaves the barrier empty and
        usable (also after abort()). Returns how many waits it broke (asyncio: None)."""
        self._resets += 1
        resp = await self._simple("barrier_reset")
        self._broken = False
        return resp.barrier_reset.broken

    async def abort(self):
        """Answers every pending wait BrokenBarrierError and leaves the barrier broken, for
        every user, until reset(). Returns how many waits it broke (asyncio: None).
        condd.LimitExceeded if the server's cap of broken barriers is reached."""
        resp = await self._simple("barrier_abort")
        self._broken = True
        return resp.barrier_abort.broken

    async def state(self):
        """The server's view of the barrier (BarrierState): a BarrierState(exists, parties,
        n_waiting, broken) namedtuple, counting every process's waits. Updates `broken`."""
        req = self._client._request("barrier_state")
        req.barrier_state.name = self._wire_name
        resp = await self._client._call(req)
        self._client._check(resp)
        r = resp.barrier_state
        self._broken = r.broken
        return BarrierState(r.exists, r.parties, r.n_waiting, r.broken)

    # ------------------------------------------------------------ inside

    async def _simple(self, kind):
        req = self._client._request(kind)
        body = getattr(req, kind)
        body.name = self._wire_name
        body.parties = self._parties
        resp = await self._client._call(req)
        self._client._check(resp)
        return resp
