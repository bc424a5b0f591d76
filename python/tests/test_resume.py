# SPDX-License-Identifier: BSD-2-Clause
"""Session resume from Python (protocol.md §5.5-§5.7; connect(grace=..., reconnect=True))
through tests/blipproxy, which breaks connections on command: a lock held across a drop, an
acquire granted and a Condition.wait notified during the blip delivered after the resume,
requests made during the blip sent behind the resume Hello, a blip longer than the grace losing
the session, a refused resume, close() freeing the lock at once, condd.sync, and three cases
of requests around a break: none runs twice behind an unanswered resume Hello, the request a
break cut in the middle of a write is sent again, and a resume refused at the connection limit
is retried. ResumeWithoutAcksTests runs them all again with a client that does not ask for
acknowledged delivery (protocol.md §5.6.2), as against a condd that predates it; test_acks.py
tests acknowledged delivery itself."""

import asyncio
import socket
import threading
import time
import unittest

import condd
import condd.sync
from condd import _proto
from daemon import Daemon, DaemonPerClass, Proxy, until


def peek_end(transport):
    """True if the peer has closed transport's connection and its end waits unread (through
    a duplicate of the descriptor: uvloop's get_extra_info("socket") cannot recv)."""
    sock = transport.get_extra_info("socket")
    with socket.fromfd(sock.fileno(), sock.family, sock.type) as dup:
        return dup.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""


class _Recording:
    """A transport that appends every write() to a list while it is the client's, and
    passes everything on to the real one."""

    def __init__(self, transport, written):
        self._real = transport
        self._written = written

    def write(self, data):
        self._written.append(bytes(data))
        self._real.write(data)

    def __getattr__(self, name):
        return getattr(self._real, name)


class ResumeTests(DaemonPerClass, unittest.IsolatedAsyncioTestCase):
    acks = True  # a client on a resumable connection has acknowledged delivery

    async def asyncSetUp(self):
        self.proxy = Proxy(self.daemon.address)
        self.addCleanup(self.proxy.stop)
        self.prefix = self.id().rsplit(".", 1)[-1]
        self.direct = await self.connect(self.daemon.address)
        self.states = []

    def name(self, what):
        return "%s.%s" % (self.prefix, what)

    async def connect(self, address, **kw):
        c = await condd.connect(address, **kw)
        self.addAsyncCleanup(self.end, c)
        return c

    async def end(self, c):
        """Closes c; a session close() could not end (closed while resuming, or lost without
        reconnect: the server keeps it detached for its grace) is killed, so that a test that
        failed there does not leave it to the next tests, which count detached sessions."""
        left = (c.session_id is not None and c.session_state in ("resuming", "lost")
                and c.address in (self.proxy.address, self.daemon.address)
                and c is not self.direct)
        await c.close()
        if left and not self.direct.closed:
            req = self.direct._request("kill_session")
            req.kill_session.session = c.session_id
            await self.direct._call(req)  # NOT_FOUND if it had ended after all

    async def resumable(self, grace=30.0):
        c = await self.connect(self.proxy.address, grace=grace, on_session=(
            lambda c, state, exc: self.states.append(state)))
        self.assertEqual(c.acks, self.acks)
        if not self.acks:
            # it writes the connection itself, through a socket of its own (a duplicate of
            # the descriptor), on asyncio's loop and uvloop's alike
            self.assertIsInstance(c._sock, socket.socket)
        return c

    async def stat_is(self, field, want):
        async def ok():
            return getattr(await self.direct.stats(), field) == want
        await until(ok, what="%s == %d" % (field, want))

    async def blip_until_detached(self):
        """Refuses reconnects, drops every proxied connection, and waits until the server
        holds the session detached."""
        await self.proxy.cmd("refuse")
        await self.proxy.cmd("drop")
        await self.stat_is("detached_sessions", 1)

    async def test_lock_held_across_a_drop(self):
        a = await self.resumable()
        self.assertGreater(a.grace, 0)
        secret = a._secret
        self.assertEqual(len(secret), 32)
        self.assertNotIn(repr(secret)[2:-1], repr(a))
        sid = a.session_id
        lock = condd.Lock(self.direct, self.name("L"))
        held = condd.Lock(a, self.name("L"))
        await held.acquire()
        token = held.token
        await self.blip_until_detached()
        await until(lambda: asyncio.sleep(0, a.session_state == "resuming"), what="resuming")
        self.assertFalse(await lock._acquire(0))
        ping = asyncio.create_task(a.ping())  # made during the blip: sent behind the resume
        await asyncio.sleep(0.2)  # a few refused reconnects
        self.assertFalse(ping.done())
        self.assertFalse(await lock._acquire(0))
        await self.proxy.cmd("accept")
        await asyncio.wait_for(ping, 10)
        self.assertEqual(a.session_state, "open")
        self.assertEqual(a.session_id, sid)
        self.assertEqual(self.states, ["resuming", "resumed"])
        self.assertTrue(held.locked())
        self.assertEqual(held.token, token)
        self.assertFalse(await lock._acquire(0))
        await held.release_remote()
        self.assertTrue(await lock._acquire(0))
        lock.release()

    async def test_request_right_after_a_drop_is_not_lost(self):
        a = await self.resumable()
        for _ in range(3):
            # the loop does not run from the drop to the write: the Ping is written before it
            # has read the end of the connection. The socket is checked first, so the Ping
            # goes behind the resume Hello, not into the dead socket (where it would be lost)
            self.proxy.cmd_blocking("drop")
            time.sleep(0.002)  # past the "answer in the last millisecond" shortcut
            fut = a._send(a._request("ping"))
            resp = await asyncio.wait_for(fut, 10)
            self.assertEqual(resp.status, 0)
            self.assertEqual(a.session_state, "open")
        self.assertEqual(self.states, ["resuming", "resumed"] * 3)

    async def test_silent_server_is_noticed_and_resumed(self):
        # a stalled path: no end-of-file, no reset; the client notices the silence after its
        # session timeout (its pings go unanswered) and resumes once bytes flow again
        a = await self.connect(self.proxy.address, grace=30.0, session_timeout=1.0,
                               on_session=lambda c, state, exc: self.states.append(state))
        held = condd.Lock(a, self.name("L"))
        await held.acquire()
        await self.proxy.cmd("stall")
        await until(lambda: asyncio.sleep(0, a.session_state == "resuming"),
                    what="the silence noticed")
        await self.proxy.cmd("flow")
        await until(lambda: asyncio.sleep(0, a.session_state == "open"), what="resumed")
        await a.ping()
        self.assertTrue(held.locked())
        self.assertFalse(await condd.Lock(self.direct, self.name("L"))._acquire(0))
        await held.release_remote()
        self.assertEqual(self.states, ["resuming", "resumed"])

    async def test_acquire_granted_during_the_blip(self):
        a = await self.resumable()
        blocker = condd.Lock(self.direct, self.name("L"))
        await blocker.acquire()
        lock = condd.Lock(a, self.name("L"))
        task = asyncio.create_task(lock.acquire())
        await self.stat_is("lock_waiters", 1)
        await self.blip_until_detached()
        blocker.release()  # granted to the detached session; the answer is kept
        await self.stat_is("lock_waiters", 0)
        self.assertFalse(task.done())
        await self.proxy.cmd("accept")
        self.assertTrue(await asyncio.wait_for(task, 10))
        self.assertTrue(lock.locked())
        self.assertGreater(lock.token, blocker.token)
        self.assertFalse(await blocker._acquire(0))
        lock.release()
        self.assertTrue(await asyncio.wait_for(blocker.acquire(), 10))
        blocker.release()

    async def test_condition_wait_notified_during_the_blip(self):
        a = await self.resumable()
        cond = condd.Condition(a, self.name("C"))
        await cond.acquire()
        waiter = asyncio.create_task(cond.wait())
        await self.stat_is("condition_waiters", 1)
        await self.blip_until_detached()
        other = condd.Condition(self.direct, self.name("C"))
        async with other:
            other.notify()
        await self.proxy.cmd("accept")
        self.assertTrue(await asyncio.wait_for(waiter, 10))
        self.assertTrue(cond.locked())
        self.assertFalse(await other.lock._acquire(0))  # a holds it again
        cond.release()
        self.assertTrue(await asyncio.wait_for(other.acquire(), 10))
        other.release()

    async def test_blip_longer_than_the_grace_loses_the_session(self):
        a = await self.resumable(grace=0.5)
        held = condd.Lock(a, self.name("L"))
        await held.acquire()
        blocker = condd.Lock(self.direct, self.name("M"))
        await blocker.acquire()
        pending = asyncio.create_task(condd.Lock(a, self.name("M")).acquire())
        await self.stat_is("lock_waiters", 1)
        await self.blip_until_detached()
        with self.assertRaises(condd.SessionLost):
            await asyncio.wait_for(pending, 20)
        self.assertEqual(a.session_state, "lost")
        self.assertTrue(a.closed)
        self.assertEqual(self.states, ["resuming", "lost"])
        self.assertFalse(held.locked())
        with self.assertRaises(condd.SessionLost):
            held.release()
        with self.assertRaises(condd.ConnectionLost):
            await a.ping()
        await self.stat_is("detached_sessions", 0)
        self.assertTrue(await condd.Lock(self.direct, self.name("L"))._acquire(0))
        blocker.release()

    async def test_refused_resume_loses_the_session(self):
        a = await self.resumable()
        held = condd.Lock(a, self.name("L"))
        await held.acquire()
        await self.blip_until_detached()
        req = self.direct._request("kill_session")
        req.kill_session.session = a.session_id
        await self.direct._call_checked(req)  # the detached session ends: no resume
        await self.proxy.cmd("accept")
        await until(lambda: asyncio.sleep(0, a.closed), what="the resume refused")
        self.assertEqual(self.states, ["resuming", "lost"])
        with self.assertRaises(condd.ResumeFailed):
            held.release()
        self.assertTrue(await condd.Lock(self.direct, self.name("L"))._acquire(0))

    async def test_close_frees_the_lock_at_once(self):
        a = await self.resumable()
        await condd.Lock(a, self.name("L")).acquire()
        await a.close()
        self.assertTrue(await condd.Lock(self.direct, self.name("L"))._acquire(0))
        self.assertEqual((await self.direct.stats()).detached_sessions, 0)
        self.assertEqual(self.states, [])

    async def test_without_reconnect_a_drop_is_a_loss(self):
        a = await self.connect(self.proxy.address, grace=30.0, reconnect=False)
        held = condd.Lock(a, self.name("L"))
        await held.acquire()
        await self.proxy.cmd("drop")
        await until(lambda: asyncio.sleep(0, a.closed), what="the loss")
        self.assertFalse(held.locked())
        self.assertFalse(await condd.Lock(self.direct, self.name("L"))._acquire(0))  # grace
        self.assertEqual((await self.direct.stats()).detached_sessions, 1)
        req = self.direct._request("kill_session")  # not left detached for the next tests
        req.kill_session.session = a.session_id
        await self.direct._call_checked(req)
        await self.stat_is("detached_sessions", 0)

    async def test_requests_behind_an_unanswered_resume_hello_run_once(self):
        # A resume attempt whose answer never reaches the client although the server took
        # the session over on it (drop-client: the server keeps that connection, silent). A
        # request made during the blip must not have gone out behind that Hello and then
        # again behind the next one: the server would see its id twice
        a = await self.resumable()
        blocker = condd.Lock(self.direct, self.name("L"))
        await blocker.acquire()
        await self.blip_until_detached()
        lock = condd.Lock(a, self.name("L"))
        task = asyncio.create_task(lock.acquire())  # made during the blip
        await asyncio.sleep(0)
        self.assertFalse(task.done())
        attach = a._attach
        attempts = []  # frames written with the resume Hello of the attempt made to fail
        errors = []
        busy = []  # the task making an attempt fail, while it runs
        resumes = (await self.direct.stats()).resumes

        def refused(transport):
            """True if the proxy closed this connection (it accepted it while refusing): the
            end read before the attach (the transport is closed), not read yet, or a reset
            (the proxy closed it with the Hello unread, as when it accepts after the write
            under load). Not yet known: False; the caller asks again."""
            if transport.is_closing():
                return True
            try:
                return peek_end(transport)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                return True

        def attach_and_lose_the_answer(transport, proto):
            written = []
            # the transport seen through a wrapper that records what attach() writes (uvloop's
            # transports do not let an attribute be replaced)
            attach(_Recording(transport, written), proto)
            if attempts or busy or transport.is_closing():
                return
            # The client must not read the answer: its reading is paused while the loop goes
            # on (a loop blocked here until the server took the resume would do on asyncio's
            # loop, which writes at once, but not on uvloop's, which writes at the end of the
            # loop's turn: the Hello would never leave)
            transport.pause_reading()
            busy.append(asyncio.create_task(lose_the_answer(transport, list(written))))

        async def lose_the_answer(transport, written):
            data = b"".join(written)
            frames = 0
            while data:
                frames += 1
                data = data[4 + int.from_bytes(data[:4], "big"):]
            try:
                # the server takes the session over and runs whatever came with the Hello
                deadline = time.monotonic() + 20
                while True:
                    st = await self.direct.stats()
                    if st.resumes > resumes and st.lock_waiters == (frames > 1):
                        break
                    if refused(transport):  # the client reads the end: the next attempt
                        transport.resume_reading()
                        return
                    if time.monotonic() > deadline:
                        raise AssertionError("the resume attempt was not taken")
                    await asyncio.sleep(0.01)
                attempts.append(frames)
                await self.proxy.cmd("drop-client")  # the server keeps it, silent
                transport.abort()  # and its answer is never read: failed, for the client
            except Exception as e:
                errors.append(e)
            finally:
                busy.clear()

        a._attach = attach_and_lose_the_answer
        await self.proxy.cmd("accept")
        await until(lambda: asyncio.sleep(0, a.session_state == "open" or errors),
                    what="resumed")
        self.assertEqual(errors, [])
        self.assertEqual(len(attempts), 1)
        await a.ping()
        self.assertEqual((await self.direct.stats()).lock_waiters, 1)
        blocker.release()
        self.assertTrue(await asyncio.wait_for(task, 10))
        self.assertTrue(lock.locked())
        self.assertEqual(self.states, ["resuming", "resumed"])
        await lock.release_remote()
        self.assertTrue(await blocker._acquire(0))
        blocker.release()

    async def test_the_tail_of_a_write_cut_by_a_break_is_sent_again(self):
        # The kernel takes part of a write and the transport holds the rest when the
        # connection breaks: that request must be sent again, whole, after the resume (it
        # never left whole), as must the ones held behind it
        a = await self.resumable()
        sock = a._transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        await self.proxy.cmd("stall")  # the proxy reads nothing: the kernel buffers fill
        name = self.name("x" * 400).encode()
        cut = None
        # from here to the drop the loop does not run, so the transport cannot write more
        for _ in range(100000):
            req = a._request("locked")
            req.locked.lock = name
            fut = a._send(req)
            if a._proto.paused:  # this write filled the kernel's buffer: it was cut
                cut = fut
                break
        self.assertIsNotNone(cut, "the kernel's buffer never filled")
        after = [a._send(a._request("ping")) for _ in range(3)]  # held back, never written
        self.proxy.cmd_blocking("refuse")
        self.proxy.cmd_blocking("drop")
        self.assertGreater(a._transport.get_write_buffer_size(), 0)  # the tail, still here
        await self.proxy.cmd("flow")
        await self.stat_is("detached_sessions", 1)
        await self.proxy.cmd("accept")
        resp = await asyncio.wait_for(cut, 10)
        self.assertEqual(resp.status, 0)
        self.assertFalse(resp.locked.locked)
        for fut in after:
            self.assertEqual((await asyncio.wait_for(fut, 10)).status, 0)
        self.assertEqual(a.session_state, "open")
        self.assertEqual(self.states, ["resuming", "resumed"])
        # the requests the kernel took whole were lost with it (protocol.md §5.6): never
        # sent twice, they stay unanswered; close() fails them

    async def test_resume_at_the_connection_limit_is_retried(self):
        # After an outage the server may still count the old connections: a resume refused
        # at its connection limit (id-0 LIMIT_EXCEEDED) is a blip, retried within the grace
        daemon = Daemon("--max-connections", "2")
        self.addCleanup(daemon.stop)
        proxy = Proxy(daemon.address)
        self.addCleanup(proxy.stop)
        a = await self.connect(proxy.address, grace=30.0, on_session=(
            lambda c, state, exc: self.states.append(state)))
        held = condd.Lock(a, self.name("L"))
        await held.acquire()
        b = await self.connect(daemon.address)  # the second and last connection it takes
        attempts = []
        attach = a._attach

        def counting_attach(transport, proto):
            attempts.append(1)
            attach(transport, proto)
        a._attach = counting_attach
        # the first attempt's refusal waits in the proxy until that attempt has sent its
        # Hello (else it could come before, with the connection itself)
        await proxy.cmd("stall")
        await proxy.cmd("drop-client")  # the server keeps a's old connection: it is full
        await until(lambda: asyncio.sleep(0, len(attempts) >= 1), 20, what="a resume attempt")
        self.assertEqual(self.states, ["resuming"])
        await proxy.cmd("flow")
        # every attempt meets the full server; a second one comes only if the refusal of the
        # first was taken as a blip
        await until(lambda: asyncio.sleep(0, len(attempts) >= 2), 20,
                    what="a second resume attempt")
        self.assertEqual(a.session_state, "resuming")
        self.assertEqual(self.states, ["resuming"])
        await b.close()  # a slot: the next attempt resumes
        await until(lambda: asyncio.sleep(0, a.session_state == "open"), 20, what="resumed")
        self.assertEqual(self.states, ["resuming", "resumed"])
        self.assertTrue(held.locked())
        await held.release_remote()  # still the holder: the session survived


class ResumeWithoutAcksTests(ResumeTests):
    """ResumeTests with clients that do not ask for acknowledged delivery: what the client
    does against a condd that predates it (the requests the kernel took whole are not sent
    again; those that never left whole are)."""

    acks = False

    async def asyncSetUp(self):
        fill_hello = _proto.fill_hello

        def without_acks(*args, acks=False):
            fill_hello(*args)
        _proto.fill_hello = without_acks
        self.addCleanup(setattr, _proto, "fill_hello", fill_hello)
        await super().asyncSetUp()

    async def test_own_socket_closes_with_its_connection(self):
        # the duplicate descriptor the client writes must not outlive its connection: it
        # would leak, and keep open a connection the client aborted
        a = await self.resumable()
        first = a._sock
        await self.proxy.cmd("drop")
        await until(lambda: asyncio.sleep(0, a.session_state == "open" and a._sock is not None
                                          and a._sock is not first), what="resumed")
        self.assertEqual(first.fileno(), -1)  # closed with the old connection
        second = a._sock
        await a.ping()
        await a.close()
        self.assertEqual(second.fileno(), -1)
        self.assertIsNone(a._sock)
        self.assertEqual(self.states, ["resuming", "resumed"])
        await self.stat_is("connections", 1)  # self.direct's


class SyncResumeTests(unittest.TestCase):
    def test_sync_lock_held_across_a_drop(self):
        daemon = Daemon()
        self.addCleanup(daemon.stop)
        proxy = Proxy(daemon.address)
        self.addCleanup(proxy.stop)
        resumed = threading.Event()

        def on_session(client, state, exc):  # on the client's loop thread
            if state == "resumed":
                resumed.set()

        with condd.sync.connect(proxy.address, grace=30.0, on_session=on_session) as a, \
                condd.sync.connect(daemon.address) as b:
            self.assertGreater(a.grace, 0)
            self.assertTrue(a.acks)
            self.assertFalse(b.acks)
            lock = condd.sync.Lock(a, "L")
            other = condd.sync.Lock(b, "L")
            self.assertTrue(lock.acquire())
            asyncio.run(proxy.cmd("drop"))
            self.assertFalse(other.acquire(blocking=False))
            self.assertTrue(resumed.wait(20))
            a.ping()
            self.assertEqual(a.session_state, "open")
            self.assertTrue(lock.locked())
            lock.release_remote()
            self.assertTrue(other.acquire(timeout=10))
            other.release()


if __name__ == "__main__":
    unittest.main()
