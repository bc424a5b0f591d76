# SPDX-License-Identifier: BSD-2-Clause
"""condd.sync against what an outside audit found (each test fails without its fix): a server
gone silent (stalled by tests/blipproxy) ends the session with ServerTimeout, also while a
thread blocks and while the client is idle; one shared Lock object held by several threads at
once, each thread's release() giving back one grant (fast path and loop client); the queued
fire-and-forget frames of a script that just ends (or calls sys.exit()) reach the server; a
signal handler's exception (TimeoutError, ValueError) raised while the client reads, parses or
writes is an interrupt, not a connection error; the server's id-0 frame (LIMIT_EXCEEDED at its
connection limit, SESSION_KILLED) gives its own class although the write hit a closed socket,
and an idle client sees it (and an end-of-file) between calls; connect() of a listener that never
answers gives up after connect_timeout. States are waited for with deadlines, never slept for."""

import os
import signal
import subprocess
import sys
import tempfile
import shutil
import threading
import time
import unittest

import condd
import condd.sync
from condd import _syncconn
from daemon import Daemon, Proxy
from test_sync import SyncTestCase, until
from test_sync_fast import FastTestCase, ops


class SilentServerTests(FastTestCase):
    """F1: libcondd's CONDD_ERR_SERVER_TIMEOUT on the fast path."""

    def setUp(self):
        super().setUp()
        self.proxy = Proxy(self.daemon.address)
        self.addCleanup(self.proxy.stop)

    def test_silent_server_fails_a_blocked_call_with_server_timeout(self):
        states = []
        a = condd.sync.connect(self.proxy.address, session_timeout=1.0,
                               on_session=lambda c, s, e: states.append((s, type(e))))
        self.clients.append(a)
        self.assertTrue(a._fast)
        b = self.client()
        holder = condd.sync.Lock(b, self.name("L"))
        holder.acquire()
        held = condd.sync.Lock(a, self.name("H"))
        held.acquire()
        join = self.in_thread(condd.sync.Lock(a, self.name("L")).acquire)
        self.stats_until(b, "lock_waiters", 1)
        self.proxy.cmd_blocking("stall")  # nothing passes, no end-of-file either
        with self.assertRaises(condd.ServerTimeout):
            join()
        self.assertTrue(a.closed)
        self.assertEqual(a.session_state, "lost")
        until(lambda: states, what="on_session (run by the thread that saw the loss)")
        self.assertEqual(states, [("lost", condd.ServerTimeout)])
        with self.assertRaises(condd.ServerTimeout):
            held.release()  # lost with the session, with the loss's class
        with self.assertRaises(condd.ServerTimeout):
            a.ping()
        self.assertTrue(issubclass(condd.ServerTimeout, condd.ConnectionLost))

    def test_silent_server_is_noticed_by_an_idle_client(self):
        a = condd.sync.connect(self.proxy.address, session_timeout=1.0)
        self.clients.append(a)
        a.ping()
        self.proxy.cmd_blocking("stall")
        until(lambda: a.closed, timeout=20, what="the silence noticed")
        with self.assertRaises(condd.ServerTimeout):
            a.ping()

    def test_a_busy_but_answering_server_is_not_declared_dead(self):
        # a call blocked longer than the session timeout is no silence: the pings answer
        a = condd.sync.connect(self.proxy.address, session_timeout=1.0)
        self.clients.append(a)
        b = self.client()
        holder = condd.sync.Lock(b, self.name("L"))
        holder.acquire()
        join = self.in_thread(condd.sync.Lock(a, self.name("L")).acquire)
        start = ops(b, "ping")
        until(lambda: ops(b, "ping") >= start + 4, what="pings over a session timeout")
        self.assertFalse(a.closed)
        holder.release()
        self.assertIs(join(), True)


class ConnectTimeoutTests(FastTestCase):
    """connect() of a listener that accepts and never answers the Hello: TimeoutError naming the
    address once connect_timeout passes, on the fast path (TCP and Unix socket) and on the loop
    client (a grace); before the fix each hung for good."""

    def expect_timeout(self, address, **kw):
        box = {}

        def run():
            try:
                box["client"] = condd.sync.connect(address, connect_timeout=0.3, **kw)
            except BaseException as e:  # noqa: B902 (what the thread met, checked below)
                box["error"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(20)
        self.assertFalse(t.is_alive(), "connect() did not time out")
        self.assertNotIn("client", box)
        e = box["error"]
        self.assertIsInstance(e, TimeoutError)
        self.assertIsInstance(e, OSError)
        self.assertIn("connect_timeout=0.3 s", str(e))
        self.assertIn(address, str(e))

    def test_a_tcp_listener_that_never_answers_times_out(self):
        import socket
        with socket.socket() as silent:  # accepts (the backlog), never answers the Hello
            silent.bind(("127.0.0.1", 0))
            silent.listen(4)
            address = "127.0.0.1:%d" % silent.getsockname()[1]
            self.expect_timeout(address)
            self.expect_timeout(address, grace=5)  # the loop client

    def test_a_unix_listener_that_never_answers_times_out(self):
        import socket
        d = tempfile.mkdtemp(prefix="condd-py-silent.")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "s.sock")
        with socket.socket(socket.AF_UNIX) as silent:
            silent.bind(path)
            silent.listen(4)
            self.expect_timeout("unix:" + path)

    def test_connect_timeout_must_be_positive_or_none(self):
        for bad in (0, -1, "5"):
            with self.assertRaisesRegex(ValueError, "connect_timeout"):
                condd.sync.connect(self.daemon.address, connect_timeout=bad)
        c = self.client(connect_timeout=None)  # no limit
        c.ping()
        c = self.client(connect_timeout=0.2)  # a good session outlives its connect_timeout:
        time.sleep(0.4)  # (the Hello's timer was cancelled; nothing may shut the socket now)
        lock = condd.sync.Lock(c, self.name("L"))
        self.assertTrue(lock.acquire())
        lock.release()


class SharedLockThreadTests(SyncTestCase):
    """F2: one shared condd.sync.Lock object held by several threads at once."""

    def check_two_threads_share_one_object(self, a, b):
        name = self.name("R")
        shared = condd.sync.Lock(a, name, shared=True)
        both = threading.Barrier(3, timeout=20)  # the two readers and the test

        def reader():
            with shared:
                both.wait()  # both hold it now
                both.wait()  # the test has looked
        joins = [self.in_thread(reader) for _ in range(2)]
        both.wait()
        self.assertTrue(shared.locked())
        entry = b.list(name).locks
        self.assertEqual(len(entry), 1)
        self.assertEqual(len(entry[0].holders), 2)
        self.assertEqual(len({h.token for h in entry[0].holders}), 2)
        both.wait()
        for j in joins:
            j()  # no RuntimeError from the second release
        self.assertFalse(shared.locked())
        with self.assertRaises(RuntimeError):
            shared.release()
        # no grant leaked: a writer gets the lock
        writer = condd.sync.Lock(b, name)
        self.assertIs(writer.acquire(timeout=10), True)
        writer.release()

    def test_shared_lock_object_held_by_two_threads_fast_path(self):
        a, b = self.client(), self.client()
        self.assertTrue(a._fast)
        self.check_two_threads_share_one_object(a, b)

    def test_shared_lock_object_held_by_two_threads_loop_client(self):
        a = condd.sync.connect(self.daemon.address, grace=30.0)
        self.clients.append(a)
        self.assertFalse(a._fast)
        self.check_two_threads_share_one_object(a, self.client())

    def test_shared_grants_lost_with_the_session_raise_on_release(self):
        proxy = Proxy(self.daemon.address)
        self.addCleanup(proxy.stop)
        a = condd.sync.connect(proxy.address)
        self.clients.append(a)
        shared = condd.sync.Lock(a, self.name("R"), shared=True)
        self.assertTrue(shared.acquire())
        self.assertTrue(shared.acquire())  # a second grant of the same object
        proxy.cmd_blocking("reset")
        with self.assertRaises(condd.ConnectionLost):
            a.ping()
        with self.assertRaises(condd.ConnectionLost):
            shared.release()
        self.assertFalse(shared.locked())

    def test_exclusive_lock_keeps_one_holder(self):
        a = self.client()
        lock = condd.sync.Lock(a, self.name("X"))
        self.assertTrue(lock.acquire())
        self.assertFalse(lock.acquire(False))  # not reentrant, as threading.Lock
        lock.release()
        with self.assertRaises(RuntimeError):
            lock.release()


class ExitTests(SyncTestCase):
    """F3: what a script queued last is sent when it ends."""

    def run_script(self, body):
        env = dict(os.environ, CONDD_SERVER=self.daemon.address)
        subprocess.run([sys.executable, "-c", "import condd.sync as cs, sys\n" + body],
                       check=True, env=env, stdin=subprocess.DEVNULL, timeout=60)

    def test_event_set_last_is_sent_when_the_script_ends(self):
        name = self.name("E")
        self.run_script("c = cs.connect()\ncs.Event(c, %r).set()\n" % name)
        self.assertTrue(condd.sync.Event(self.client(), name).is_set_remote())

    def test_event_set_last_is_sent_on_sys_exit(self):
        name = self.name("E")
        self.run_script("c = cs.connect()\ncs.Event(c, %r).set()\nsys.exit(0)\n" % name)
        self.assertTrue(condd.sync.Event(self.client(), name).is_set_remote())

    def test_semaphore_post_last_is_sent_when_the_script_ends(self):
        name = self.name("S")
        self.run_script("c = cs.connect()\ncs.Semaphore(c, %r, 1).release()\n" % name)
        sem = condd.sync.Semaphore(self.client(), name, 1)
        self.assertTrue(sem.acquire(False))
        self.assertTrue(sem.acquire(False))  # the posted permit, beside the initial one

    def test_release_last_is_sent_by_a_client_whose_session_outlives_it(self):
        # grace without reconnect: the server keeps the session (and its locks) for the grace
        # after the process ends; only the release sent frees the lock
        name = self.name("L")
        self.run_script("c = cs.connect(grace=60, reconnect=False)\nassert c._fast\n"
                        "l = cs.Lock(c, %r)\nl.acquire()\nl.release()\n" % name)
        self.assertIs(condd.sync.Lock(self.client(), name).acquire(False), True)

    def test_close_sends_what_was_queued(self):
        name = self.name("E")
        a = condd.sync.connect(self.daemon.address)
        condd.sync.Event(a, name).set()
        a.close()
        self.assertTrue(condd.sync.Event(self.client(), name).is_set_remote())


class HandlerExceptionTests(FastTestCase):
    """F6: a signal handler's exception in the client's recv, parse or write is an interrupt:
    the request is cancelled, the exception propagates, the session goes on."""

    def blocked_acquire(self, exc, when):
        """b holds L; the main thread's acquire of L on a is interrupted by exc, raised by
        what when(a, b) sets up (a signal handler, or a hook standing for one)."""
        a, b = self.client(), self.client()
        holder = condd.sync.Lock(b, self.name("L"))
        holder.acquire()
        mine = condd.sync.Lock(a, self.name("L"))
        cancels = ops(b, "cancel")
        when(a, b)
        with self.assertRaises(type(exc)) as caught:
            mine.acquire()
        self.assertIs(caught.exception, exc)
        self.assertFalse(a.closed)
        self.assertFalse(mine.locked())
        self.assertEqual(ops(b, "cancel"), cancels + 1)
        a.ping()  # the session goes on
        self.assertEqual(b.stats().lock_waiters, 0)
        holder.release()
        self.assertIs(mine.acquire(timeout=10), True)
        mine.release()

    def waiting(self, a, b):
        """True once the main thread reads a's socket for its queued acquire."""
        return a._aclient._leading and b.stats().lock_waiters == 1

    def handler_raising(self, exc):
        def when(a, b):
            def handler(signum, frame):
                raise exc
            old = signal.signal(signal.SIGUSR1, handler)
            self.addCleanup(signal.signal, signal.SIGUSR1, old)

            def fire():
                until(lambda: self.waiting(a, b), what="the acquire waiting")
                os.kill(os.getpid(), signal.SIGUSR1)
            self.addCleanup(self.in_thread(fire))
        return when

    def test_timeout_error_from_a_handler_during_recv(self):
        # the signal.alarm idiom: TimeoutError is an OSError, with no errno
        exc = TimeoutError("raised-by-signal-handler")
        self.blocked_acquire(exc, self.handler_raising(exc))

    def test_oserror_with_errno_from_a_handler_during_recv(self):
        exc = OSError(5, "raised-by-signal-handler")
        self.blocked_acquire(exc, self.handler_raising(exc))

    def test_value_error_from_a_handler_during_recv(self):
        exc = ValueError("raised-by-signal-handler")
        self.blocked_acquire(exc, self.handler_raising(exc))

    def test_handler_exception_while_parsing(self):
        exc = ValueError("raised-by-signal-handler")
        pinged = []

        def when(a, b):
            # white box: the main thread, reading for its acquire, parses a Ping's answer for
            # another thread; the parse raises, as a handler running in it would
            real = _syncconn.pb
            armed = []

            class Bomb:
                def ParseFromString(self, data):
                    raise exc

            class Pb:
                def __getattr__(self, name):
                    return getattr(real, name)

                def Response(self):
                    if armed and threading.current_thread() is threading.main_thread():
                        armed.clear()
                        return Bomb()
                    return real.Response()
            _syncconn.pb = Pb()
            self.addCleanup(setattr, _syncconn, "pb", real)

            def ping():
                until(lambda: self.waiting(a, b), what="the acquire waiting")
                armed.append(True)
                a.ping()  # its answer is read (and parsed) by the main thread
                pinged.append(True)
            self.addCleanup(self.in_thread(ping))
        self.blocked_acquire(exc, when)
        until(lambda: pinged, what="the ping answered")

    def test_handler_exception_while_writing(self):
        exc = TimeoutError("raised-by-signal-handler")

        def when(a, b):
            conn = a._aclient
            real = conn._sock

            class Sock:  # white box: the first send raises before writing, as a handler would
                armed = True

                def __getattr__(self, name):
                    return getattr(real, name)

                def send(self, data, *flags):
                    if Sock.armed and threading.current_thread() is threading.main_thread():
                        Sock.armed = False
                        raise exc
                    return real.send(data, *flags)
            conn._sock = Sock()
            self.addCleanup(setattr, conn, "_sock", real)
        self.blocked_acquire(exc, when)


class RefusalFrameTests(unittest.TestCase):
    """F8: the id-0 frame a server sends before closing names the exception, also when the
    client's write found the connection closed (EPIPE on a Unix socket)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="condd-py-sync-audit.")
        cls.unix = os.path.join(cls.dir, "s")
        cls.daemon = Daemon("--unix", cls.unix, "--max-connections", "3")

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()

    def client(self, address, **kw):
        c = condd.sync.connect(address, **kw)
        self.clients.append(c)
        return c

    def test_connection_over_the_limit_raises_limit_exceeded(self):
        for _ in range(3):
            self.client(self.daemon.address)
        for address in ("unix:" + self.unix, self.daemon.address):
            with self.subTest(address=address):
                with self.assertRaises(condd.LimitExceeded) as caught:
                    condd.sync.connect(address)
                self.assertIn("too many connections", str(caught.exception))

    def test_killed_session_is_session_killed_on_the_next_write(self):
        states = []
        a = self.client("unix:" + self.unix,
                        on_session=lambda c, s, e: states.append((s, type(e))))
        b = self.client(self.daemon.address)
        held = condd.sync.Lock(a, "killed.L")
        held.acquire()
        # white box: without the background thread nobody reads a's socket between calls,
        # so a's next write meets the closed connection (EPIPE) before any read
        a._aclient.stop_background()
        a._aclient._bg.join(20)
        self.assertFalse(a._aclient._bg.is_alive())
        req = b._aclient._request("kill_session")
        req.kill_session.session = a.session_id
        b._run(b._aclient._call_checked(req))
        with self.assertRaises(condd.SessionKilled):
            a.ping()
        self.assertEqual(states, [("lost", condd.SessionKilled)])  # (this thread saw it)
        with self.assertRaises(condd.SessionKilled):
            held.release()
        with self.assertRaises(condd.SessionKilled):
            condd.sync.Lock(a, "killed.M").acquire()

    def test_killed_session_is_seen_between_calls(self):
        # nothing asked of the server, nobody reading: the background sees the frame; the
        # pings (every 20 s here) would see it much later
        states = []
        a = self.client(self.daemon.address, session_timeout=60,
                        on_session=lambda c, s, e: states.append((s, type(e))))
        b = self.client(self.daemon.address)
        held = condd.sync.Lock(a, "killed.between.L")
        held.acquire()
        req = b._aclient._request("kill_session")
        req.kill_session.session = a.session_id
        b._run(b._aclient._call_checked(req))
        until(lambda: states, what="the kill seen")
        self.assertTrue(a.closed)
        self.assertEqual(states, [("lost", condd.SessionKilled)])
        with self.assertRaises(condd.SessionKilled):
            held.release()  # the lock was lost: the holder learns it here, as with asyncio

    def test_end_of_file_is_seen_between_calls(self):
        proxy = Proxy(self.daemon.address)
        self.addCleanup(proxy.stop)
        a = self.client(proxy.address, session_timeout=60)
        a.ping()
        proxy.cmd_blocking("drop")
        until(lambda: a.closed, what="the end seen")
        with self.assertRaises(condd.ConnectionLost):
            a.ping()


if __name__ == "__main__":
    unittest.main()
