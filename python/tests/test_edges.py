# SPDX-License-Identifier: BSD-2-Clause
"""The asyncio client at the edges of a session: a server that goes silent (a partition, a
stopped process: condd.ServerTimeout, as libcondd's CONDD_ERR_SERVER_TIMEOUT), a listener that
never answers (connect_timeout), names and frames over the protocol's limits, refusals at
connect (LIMIT_EXCEEDED), a server shutting down under a client with a grace, and the errors of
addresses and arguments. One daemon per class (tests/blipproxy where the network must fail)."""

import asyncio
import os
import socket
import unittest
from unittest import mock

import condd
from daemon import Daemon, DaemonPerClass, Proxy, until


class EdgeTestCase(DaemonPerClass, unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.prefix = self.id().rsplit(".", 1)[-1]

    def name(self, what):
        return "%s.%s" % (self.prefix, what)

    async def connect(self, address=None, **kw):
        c = await condd.connect(address or self.daemon.address, **kw)
        self.addAsyncCleanup(c.close)
        return c


class SilentServerTests(EdgeTestCase):
    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.proxy = Proxy(self.daemon.address)
        self.addCleanup(self.proxy.stop)

    async def test_a_partition_fails_every_pending_call_once_with_server_timeout(self):
        # No grace: the client must notice the silence itself (the proxy forwards nothing and
        # closes nothing), as libcondd does after one session timeout of silence.
        c = await self.connect(self.proxy.address, session_timeout=2)
        other = await self.connect()
        self.addCleanup(self.proxy.stop)  # before the closes: a close must not wait on it
        held = condd.Lock(c, self.name("held"))
        await held.acquire()
        blocker = condd.Lock(other, self.name("wanted"))
        await blocker.acquire()
        wanted = condd.Lock(c, self.name("wanted"))
        pending = asyncio.create_task(wanted.acquire())
        await c.ping()  # the Acquire is queued on the server before the partition
        states = []
        c._on_session = lambda client, state, exc: states.append((state, type(exc)))
        await self.proxy.cmd("stall")
        # (not wait_for: its cancel would wait for the Cancel's answer through the partition)
        done, _ = await asyncio.wait([pending], timeout=30)
        self.assertEqual(done, {pending}, "the silence was not noticed")
        with self.assertRaises(condd.ServerTimeout):
            pending.result()
        self.assertTrue(c.closed)
        self.assertEqual(c.session_state, "lost")
        self.assertEqual(states, [("lost", condd.ServerTimeout)])
        self.assertFalse(held.locked())
        with self.assertRaises(condd.ServerTimeout):
            held.release()  # the lock went with the session: said once
        with self.assertRaises(condd.ServerTimeout):
            await c.ping()  # later calls fail at once, the same class
        self.assertIsInstance(condd.ServerTimeout("x"), condd.ConnectionLost)
        await self.proxy.cmd("flow")

    async def test_a_partition_is_a_blip_for_a_client_with_a_grace(self):
        c = await self.connect(self.proxy.address, session_timeout=2, grace=30)
        states = []
        c._on_session = lambda client, state, exc: states.append(state)
        lock = condd.Lock(c, self.name("held"))
        await lock.acquire()
        await self.proxy.cmd("stall")

        async def resuming():
            return "resuming" in states
        await until(resuming, timeout=30, what="the silence noticed")
        await self.proxy.cmd("flow")
        await self.proxy.cmd("drop")  # the stalled connection goes; the next one resumes

        async def resumed():
            return "resumed" in states
        await until(resumed, timeout=30, what="the resume")
        self.assertTrue(lock.locked())
        lock.release()
        await c.ping()


class ConnectTimeoutTests(EdgeTestCase):
    async def test_a_listener_that_never_answers_times_out(self):
        with socket.socket() as silent:  # accepts (the backlog), never answers the Hello
            silent.bind(("127.0.0.1", 0))
            silent.listen(4)
            address = "127.0.0.1:%d" % silent.getsockname()[1]
            opening = asyncio.create_task(condd.connect(address, connect_timeout=0.3))
            done, _ = await asyncio.wait([opening], timeout=20)
            self.assertEqual(done, {opening}, "connect() did not time out")
            with self.assertRaisesRegex(TimeoutError, "connect_timeout=0.3 s") as cm:
                opening.result()
            self.assertIsInstance(cm.exception, OSError)
            self.assertIn(address, str(cm.exception))

    async def test_connect_timeout_must_be_positive_or_none(self):
        for bad in (0, -1, "5"):
            with self.assertRaisesRegex(ValueError, "connect_timeout"):
                await condd.connect(self.daemon.address, connect_timeout=bad)
        c = await self.connect(connect_timeout=None)  # no limit
        await c.ping()

    async def test_a_resume_gives_up_on_a_reconnect_that_never_answers(self):
        proxy = Proxy(self.daemon.address)
        self.addCleanup(proxy.stop)
        c = await self.connect(proxy.address, grace=2, connect_timeout=0.3)
        self.addCleanup(proxy.stop)  # (before the close: it must not wait on the proxy)
        await proxy.cmd("stall")  # each reconnect is accepted, its resume Hello never answered
        pending = asyncio.create_task(c.ping())
        await proxy.cmd("drop")
        done, _ = await asyncio.wait([pending], timeout=30)
        self.assertEqual(done, {pending})
        with self.assertRaisesRegex(condd.SessionLost, "within connect_timeout=0.3 s"):
            pending.result()


class NameAndFrameLimitTests(EdgeTestCase):
    daemon_args = ("--max-frame-bytes", "1024")  # the smallest cap the server takes

    async def test_a_name_over_512_bytes_is_refused_and_the_session_goes_on(self):
        c = await self.connect()
        for cls in (condd.Lock, condd.Event, condd.Semaphore):
            for name in ("x" * 70000, "é" * 257, "", b""):
                with self.assertRaisesRegex(condd.BadRequest, "1 to 512 bytes") as cm:
                    cls(c, name)
                self.assertIsInstance(cm.exception, ValueError)
        with self.assertRaises(condd.BadRequest):
            condd.Condition(c, "c" * 513)
        with self.assertRaises(condd.BadRequest):
            condd.Barrier(c, "b" * 513, 2)
        longest = condd.Lock(c, "é" * 256)  # 512 bytes: valid
        await longest.acquire()
        self.assertTrue(await longest.locked_remote())
        longest.release()
        await c.ping()
        self.assertFalse(c.closed)

    async def test_names_of_bytes_and_of_other_types(self):
        c = await self.connect()
        cond = condd.Condition(c, self.name("C").encode())  # bytes: its lock's name in bytes too
        self.assertEqual(cond.lock.name, self.name("C").encode())
        async with cond:
            self.assertFalse(await cond.wait_for(lambda: False, timeout=0.01))
        with self.assertRaisesRegex(TypeError, "str or bytes, not int"):
            condd.Lock(c, 5)
        with self.assertRaisesRegex(TypeError, "str or bytes"):
            condd.Condition(c, None)

    async def test_a_request_over_max_frame_bytes_is_refused_alone(self):
        # Two long names in one Notify or Wait exceed the server's 1024 bytes: the client
        # refuses that call (the server would end the session for an oversized frame).
        c = await self.connect()
        lock = condd.Lock(c, "l" * 512)
        cond = condd.Condition(c, "c" * 512, lock)
        await cond.acquire()
        with self.assertRaisesRegex(condd.BadRequest, "max_frame_bytes \\(1024\\)"):
            await cond.wait()
        self.assertTrue(cond.locked())  # nothing happened: still held
        with self.assertRaisesRegex(condd.BadRequest, "max_frame_bytes"):
            cond.notify()
        with self.assertRaisesRegex(condd.BadRequest, "max_frame_bytes"):
            await cond.notify_remote()
        await c.ping()
        self.assertFalse(c.closed)
        self.assertTrue(await lock.locked_remote())
        cond.release()
        self.assertFalse(await lock.locked_remote())


class RefusalTests(EdgeTestCase):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.dir = tempfile.TemporaryDirectory(prefix="condd-py-edges.")
        cls.addClassCleanup(cls.dir.cleanup)  # cleanups run last first: after the daemon's stop
        cls.unix = "unix:" + cls.dir.name + "/s"
        cls.daemon_args = ("--max-connections", "1", "--unix", cls.unix[5:])
        super().setUpClass()

    async def test_a_connect_refused_at_max_connections_raises_limit_exceeded(self):
        first = await self.connect()  # the server's one connection
        for address in (self.daemon.address, self.unix):
            for grace in (0, 30):  # (a client that may resume writes its socket itself)
                with self.assertRaises(condd.LimitExceeded, msg=address) as cm:
                    await condd.connect(address, grace=grace)
                self.assertEqual(cm.exception.status, condd.LimitExceeded.status)
        await first.ping()


class ShutdownTests(unittest.IsolatedAsyncioTestCase):
    async def test_after_shutting_down_a_client_with_a_grace_does_not_resume(self):
        # SIGTERM (protocol.md §13): pending waits are answered SHUTTING_DOWN, then the
        # connections close and every lock is gone. A grace cannot bring any of it back: the
        # session ends there, with ShuttingDown, instead of resuming.
        daemon = Daemon()
        self.addCleanup(daemon.stop)
        c = await condd.connect(daemon.address, grace=30)
        self.addAsyncCleanup(c.close)
        other = await condd.connect(daemon.address)
        self.addAsyncCleanup(other.close)
        states = []
        c._on_session = lambda client, state, exc: states.append((state, type(exc)))
        held = condd.Lock(c, "held")
        await held.acquire()
        await condd.Lock(other, "busy").acquire()
        pending = asyncio.create_task(condd.Lock(c, "busy").acquire())
        await other.ping()  # (the task sends its Acquire meanwhile)
        await c.ping()  # the Acquire is queued on the server
        daemon.proc.terminate()
        with self.assertRaises(condd.ShuttingDown):
            await asyncio.wait_for(pending, 20)

        async def lost():
            return c.session_state == "lost"
        await until(lost, timeout=20, what="the session's end")
        self.assertEqual(states, [("lost", condd.ShuttingDown)])  # never "resuming"
        self.assertFalse(held.locked())
        with self.assertRaises(condd.ShuttingDown):
            held.release()  # lost with the server's state: said, not taken for released
        with self.assertRaises(condd.ShuttingDown):
            await c.ping()
        self.assertEqual(await asyncio.to_thread(daemon.proc.wait), 0)


class AddressAndArgumentTests(EdgeTestCase):
    async def test_a_single_tls_address_says_the_client_speaks_no_tls(self):
        for address in ("tls:127.0.0.1:7381", "tls:[::1]:7381"):
            with self.assertRaisesRegex(ValueError, "does not speak TLS"):
                await condd.connect(address)

    async def test_a_missing_unix_socket_is_named(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "nonexistent")
            with self.assertRaises(FileNotFoundError) as cm:
                await condd.connect("unix:" + path)
            self.assertEqual(cm.exception.filename, path)
            self.assertIn(path, str(cm.exception))

    async def test_spaces_around_a_single_address_are_ignored(self):
        with mock.patch.dict(os.environ, {"CONDD_SERVER": " %s " % self.daemon.address}):
            c = await self.connect(None)
        await c.ping()
        self.assertEqual(c.address, self.daemon.address)
        c = await self.connect("  %s\t" % self.daemon.address)
        await c.ping()

    async def test_notify_of_zero_or_less_wakes_none_as_in_asyncio(self):
        a, b = await self.connect(), await self.connect()
        name = self.name("C")
        cond, waiting = condd.Condition(a, name), condd.Condition(b, name)
        with self.assertRaisesRegex(RuntimeError, "un-acquired"):
            cond.notify(-1)  # asyncio's check comes first

        async def waiter():
            async with waiting:
                await waiting.wait()
        tasks = [asyncio.create_task(waiter()) for _ in range(2)]

        async def both_wait():
            return (await a.stats()).condition_waiters == 2
        await until(both_wait, what="two waiters")
        async with cond:
            for n in (0, -1, -2 ** 70):
                cond.notify(n)  # nothing sent, no error
                self.assertEqual(await cond.notify_remote(n), 0)
            await a.ping()
            self.assertEqual((await a.stats()).condition_waiters, 2)  # nobody woken
            self.assertEqual(await cond.notify_remote(1.5), 2)  # a float rounds up, as asyncio
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        async with cond:
            cond.notify(2 ** 70)  # more than the wire carries: everybody
            self.assertEqual(await cond.notify_remote(2 ** 70), 0)


if __name__ == "__main__":
    unittest.main()
