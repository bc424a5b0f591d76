# SPDX-License-Identifier: BSD-2-Clause
"""condd.sync, the blocking API, against a live condd: threading's signatures and return
values for Lock, Condition, Semaphore, BoundedSemaphore, Event and Barrier; timeouts that are
the server's (False returned, nothing queued, no Cancel sent); a kill -9 of a holder process;
an interrupted blocking call that leaves nothing held; and the client's life cycle."""

import os
import signal
import subprocess
import sys
import threading
import time
import unittest

import condd
import condd.sync
from daemon import Daemon, DaemonPerClass
from test_condd import HERE


def until(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


class SyncTestCase(DaemonPerClass, unittest.TestCase):
    def setUp(self):
        self.clients = []
        self.prefix = self.id().rsplit(".", 1)[-1]

    def tearDown(self):
        for c in self.clients:
            c.close()

    def client(self):
        c = condd.sync.connect(self.daemon.address)
        self.clients.append(c)
        return c

    def name(self, what):
        return "%s.%s" % (self.prefix, what)

    def stats_until(self, client, field, want):
        until(lambda: getattr(client.stats(), field) == want, what="%s == %d" % (field, want))

    def cancels(self, client):
        return sum(op.count for op in client.stats().ops if op.op == "cancel")

    def in_thread(self, fn, *args):
        """Runs fn in a thread; returns a function that joins it and returns its result."""
        out = {}

        def run():
            try:
                out["value"] = fn(*args)
            except BaseException as e:  # handed to the joining test
                out["error"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()

        def join():
            t.join(20)
            self.assertFalse(t.is_alive(), "thread did not finish")
            if "error" in out:
                raise out["error"]
            return out.get("value")
        return join


class ClientTests(SyncTestCase):
    def test_connect_ping_close_and_with(self):
        with condd.sync.connect(self.daemon.address) as c:
            self.assertGreater(c.session_id, 0)
            self.assertGreater(c.session_timeout, 0)
            c.ping()
            self.assertFalse(c.closed)
        self.assertTrue(c.closed)
        with self.assertRaises(condd.ConnectionLost):
            c.ping()
        c.close()  # idempotent

    def test_connect_failure_raises_oserror_and_leaves_no_thread(self):
        before = threading.active_count()
        d = Daemon()
        address = d.address
        d.stop()
        with self.assertRaises(OSError):
            condd.sync.connect(address)
        self.assertEqual(threading.active_count(), before)

    def test_server_error_maps_to_exception(self):
        c = self.client()
        with self.assertRaises(condd.BadRequest):
            condd.sync.Lock(c, "").acquire()


class LockTests(SyncTestCase):
    def test_acquire_release_locked_and_with(self):
        c = self.client()
        lock = condd.sync.Lock(c, self.name("L"))
        self.assertFalse(lock.locked())
        self.assertIs(lock.acquire(), True)
        self.assertTrue(lock.locked())
        self.assertTrue(lock.locked_remote())
        first = lock.token
        lock.release()
        self.assertFalse(lock.locked_remote())
        with self.assertRaises(RuntimeError):
            lock.release()
        with lock as got:
            self.assertIs(got, True)
            self.assertGreater(lock.token, first)
        self.assertFalse(lock.locked())

    def test_non_blocking_and_timeout_return_false_without_cancel(self):
        a, b = self.client(), self.client()
        holder = condd.sync.Lock(a, self.name("L"))
        holder.acquire()
        lock = condd.sync.Lock(b, self.name("L"))
        cancels = self.cancels(a)
        self.assertIs(lock.acquire(False), False)
        t0 = time.monotonic()
        self.assertIs(lock.acquire(timeout=0.2), False)
        self.assertGreaterEqual(time.monotonic() - t0, 0.15)
        self.assertFalse(lock.locked())
        # the server's timeout: nothing queued, no Cancel was needed
        self.assertEqual(a.stats().lock_waiters, 0)
        self.assertEqual(self.cancels(a), cancels)
        holder.release()
        self.assertIs(lock.acquire(timeout=5), True)
        lock.release()

    def test_threading_argument_checks(self):
        c = self.client()
        lock = condd.sync.Lock(c, self.name("L"))
        with self.assertRaises(ValueError):
            lock.acquire(False, 1)
        with self.assertRaises(ValueError):
            lock.acquire(timeout=-2)

    def test_fifo_handoff_between_threads_and_clients(self):
        a, b = self.client(), self.client()
        holder = condd.sync.Lock(a, self.name("L"))
        holder.acquire()
        lock = condd.sync.Lock(b, self.name("L"))
        join = self.in_thread(lock.acquire)
        self.stats_until(a, "lock_waiters", 1)
        holder.release()
        self.assertIs(join(), True)
        self.assertTrue(lock.locked())
        lock.release()

    def test_release_remote_raises_not_owner(self):
        c = self.client()
        lock = condd.sync.Lock(c, self.name("L"))
        lock.acquire()
        lock.release_remote()
        self.assertFalse(lock.locked_remote())
        stray = condd.sync.Lock(c, self.name("L"))
        stray._lock._granted(c._aclient._new_owner(), None)  # white box: a forged grant
        with self.assertRaises(condd.NotOwner):
            stray.release_remote()

    def test_killed_holder_process_frees_the_lock(self):
        name = self.name("L")
        child = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "holder.py"), self.daemon.address, name],
            stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        try:
            self.assertEqual(child.stdout.readline().strip(), b"held")
            c = self.client()
            lock = condd.sync.Lock(c, name)
            self.assertIs(lock.acquire(False), False)
            join = self.in_thread(lock.acquire, True, 20)
            self.stats_until(c, "lock_waiters", 1)
            os.kill(child.pid, signal.SIGKILL)
            self.assertIs(join(), True)
            lock.release()
        finally:
            child.kill()
            child.wait()
            child.stdout.close()

    def test_interrupted_acquire_leaves_nothing_held_or_queued(self):
        a, b = self.client(), self.client()
        holder = condd.sync.Lock(a, self.name("L"))
        holder.acquire()
        lock = condd.sync.Lock(b, self.name("L"))

        class Interrupt(Exception):
            pass

        def handler(signum, frame):
            raise Interrupt()
        old = signal.signal(signal.SIGUSR1, handler)  # our own disposition, restored below
        try:
            def interrupt_when_queued():
                until(lambda: a.stats().lock_waiters == 1, what="the acquire queued")
                os.kill(os.getpid(), signal.SIGUSR1)
            join = self.in_thread(interrupt_when_queued)
            with self.assertRaises(Interrupt):
                lock.acquire()
            join()
        finally:
            signal.signal(signal.SIGUSR1, old)
        self.assertFalse(lock.locked())
        self.assertEqual(a.stats().lock_waiters, 0)  # the Cancel was answered before raising
        holder.release()
        self.assertFalse(holder.locked_remote())


class ConditionTests(SyncTestCase):
    def test_wait_notify_across_clients(self):
        a, b = self.client(), self.client()
        ca = condd.sync.Condition(a, self.name("C"))
        cb = condd.sync.Condition(b, self.name("C"))

        def waiter():
            with ca:
                result = ca.wait()
                return result, ca.lock.locked()
        join = self.in_thread(waiter)
        self.stats_until(b, "condition_waiters", 1)
        with cb:
            self.assertEqual(cb.notify_remote(), 1)
        self.assertEqual(join(), (True, True))
        self.assertFalse(ca.lock.locked())

    def test_wait_timeout_returns_false_holding_the_lock_without_cancel(self):
        c = self.client()
        cond = condd.sync.Condition(c, self.name("C"))
        cancels = self.cancels(c)
        with cond:
            self.assertIs(cond.wait(0.1), False)
            self.assertTrue(cond.lock.locked())
            self.assertTrue(cond.lock.locked_remote())
        self.assertEqual(self.cancels(c), cancels)
        with self.assertRaises(RuntimeError):
            cond.wait(0.1)
        with self.assertRaises(RuntimeError):
            cond.notify()

    def test_wait_for_predicate_and_timeout(self):
        a, b = self.client(), self.client()
        ca = condd.sync.Condition(a, self.name("C"))
        cb = condd.sync.Condition(b, self.name("C"))
        box = []
        with ca:
            self.assertEqual(ca.wait_for(lambda: len(box), timeout=0.1), 0)
            self.assertTrue(ca.lock.locked())

        def waiter():
            with ca:
                return ca.wait_for(lambda: len(box) >= 2, timeout=20)
        join = self.in_thread(waiter)
        for _ in range(2):
            self.stats_until(b, "condition_waiters", 1)
            with cb:
                box.append(1)
                cb.notify_all()
        self.assertIs(join(), True)


class SemaphoreTests(SyncTestCase):
    def test_permits_timeout_and_release_n(self):
        a, b = self.client(), self.client()
        sem = condd.sync.Semaphore(a, self.name("S"), 2)
        self.assertIs(sem.acquire(), True)
        self.assertIs(sem.acquire(timeout=1), True)
        self.assertEqual(sem.held, 2)
        other = condd.sync.Semaphore(b, self.name("S"), 2)
        self.assertIs(other.acquire(False), False)
        self.assertIs(other.acquire(timeout=0.1), False)
        self.assertEqual(a.stats().semaphore_waiters, 0)
        with self.assertRaises(ValueError):
            other.acquire(False, 1)
        sem.release(2)
        self.assertEqual(sem.held, 0)
        with other:
            self.assertEqual(other.held, 1)
        self.assertFalse(other.locked_remote())

    def test_bounded_release_too_many_and_value_mismatch(self):
        a, b = self.client(), self.client()
        sem = condd.sync.BoundedSemaphore(a, self.name("B"), 1)
        with self.assertRaises(ValueError):
            sem.release()
        sem.acquire()
        with self.assertRaises(condd.ValueMismatch):
            condd.sync.BoundedSemaphore(b, self.name("B"), 3).acquire(timeout=1)
        sem.release_remote()
        with self.assertRaises(ValueError):
            sem.release()


class EventTests(SyncTestCase):
    def test_wait_timeout_set_clear(self):
        a, b = self.client(), self.client()
        ev = condd.sync.Event(a, self.name("E"))
        cancels = self.cancels(a)
        self.assertIs(ev.wait(0.1), False)
        self.assertEqual(self.cancels(a), cancels)
        join = self.in_thread(condd.sync.Event(b, self.name("E")).wait, 20)
        self.stats_until(a, "event_waiters", 1)
        self.assertEqual(ev.set_remote(), 1)
        self.assertIs(join(), True)
        self.assertTrue(ev.is_set())
        self.assertIs(condd.sync.Event(b, self.name("E")).wait(0), True)
        ev.clear()
        self.assertFalse(ev.is_set_remote())
        ev.set()
        self.assertTrue(condd.sync.Event(b, self.name("E")).is_set_remote())


class BarrierTests(SyncTestCase):
    def test_parties_released_with_unique_indices(self):
        a, b = self.client(), self.client()
        join = self.in_thread(condd.sync.Barrier(b, self.name("B"), 2).wait)
        self.stats_until(a, "barrier_waiters", 1)
        index = condd.sync.Barrier(a, self.name("B"), 2).wait()
        self.assertEqual(sorted([index, join()]), [0, 1])

    def test_wait_timeout_breaks_the_barrier_as_threading_does(self):
        a, b = self.client(), self.client()
        barrier = condd.sync.Barrier(a, self.name("B"), 2, timeout=0.1)
        with self.assertRaises(threading.BrokenBarrierError):
            barrier.wait()
        self.assertTrue(barrier.broken)
        other = condd.sync.Barrier(b, self.name("B"), 2)
        with self.assertRaises(condd.BrokenBarrierError):
            other.wait()
        self.assertTrue(other.state().broken)
        other.reset()
        self.assertFalse(other.state().exists)
        with self.assertRaises(TypeError):
            condd.sync.Barrier(a, self.name("B"), 2, action=print)


if __name__ == "__main__":
    unittest.main()
