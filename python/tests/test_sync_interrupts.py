# SPDX-License-Identifier: BSD-2-Clause
"""condd.sync under a storm of signal-handler exceptions (issue 16), against a live condd: a
SIGALRM timer with a small random delay whose handler raises, fired into acquire(), release(),
wait(), notify() and Semaphore calls of one client in the main thread while other threads of
another client contend for the same names. Python runs a handler in the main thread between any
two steps of the client's code, so the interrupts land in writes, reads, the hand-over of
answers, the Cancel path and the bookkeeping around them. Whatever they hit: every call either
completes or raises the handler's exception with the object's state matching the server's (an
interrupted acquire holds nothing; an interrupted wait holds its lock again), nothing stays held
or queued for the session (List), no call hangs, and the connection survives (it is the same
session at the end, and answers a Ping). The handler raises only while a call of the storm runs
(armed), so the guarantee checked is the blocking call's, as for threading. Random delays may
miss a window (luck finds a bug, never fails correct code); nothing here waits for timing.
The storms run on the fast path (one server, no resume) and on the loop path (a grace with
reconnect, a server list: the asyncio client on a private loop thread), where a hang would be
a process that never ends: faulthandler ends it instead, after STORM_LIMIT seconds."""

import faulthandler

import random
import signal
import threading
import time
import unittest

import condd.sync
from daemon import cluster
from test_sync_fast import FastTestCase, Interrupt

STORM_LIMIT = 60  # seconds a test may take before the process is ended (a hang: a failure)


class StormTestCase(FastTestCase):
    def setUp(self):
        super().setUp()
        self.armed = False
        self.interrupts = 0

        def handler(signum, frame):
            if self.armed:
                self.interrupts += 1
                raise Interrupt()
        old = signal.signal(signal.SIGALRM, handler)
        self.addCleanup(signal.signal, signal.SIGALRM, old)
        self.addCleanup(signal.setitimer, signal.ITIMER_REAL, 0)
        self.rng = random.Random()
        faulthandler.dump_traceback_later(STORM_LIMIT, exit=True)
        self.addCleanup(faulthandler.cancel_dump_traceback_later)

    def storm_clients(self):
        """(a, b, c): a lists, b is stormed in the main thread, c contends in threads."""
        return self.client(), self.client(), self.client()

    def listings(self, a):
        """a's List of the test's names: one ListResult per server."""
        if a.servers is None:
            return [a.list(self.prefix + ".")]
        return [a.list(self.prefix + ".", server=s) for s in a.servers.identities]

    @staticmethod
    def sessions(b):
        """The session ids of b (one per server of a list it has opened)."""
        if b.servers is None:
            return {b.session_id}
        return {s.session_id for s in b._aclient._sessions if s is not None}

    def call(self, fn, delay=None):
        """fn() with the timer armed to interrupt it after a random delay: (True, its value),
        or (False, None) if the handler's exception came out of it. fn is a Python function
        called as such (a lambda), so that no handler runs between its return and the
        disarming (Python 3.11 runs them after calls of C functions and at the start of Python
        ones, not after a return): an interrupt of the call is one that came while it ran."""
        if delay is None:
            delay = self.rng.uniform(0.00005, 0.003)
        self.armed = True
        try:
            signal.setitimer(signal.ITIMER_REAL, delay)
            return True, fn()
        except Interrupt:
            return False, None
        finally:
            self.armed = False  # (first: no call before it, so no handler runs armed)
            signal.setitimer(signal.ITIMER_REAL, 0)

    def contend(self, fn):
        """Runs fn() in a loop in a thread until the test stops it; returns the join."""
        def loop():
            while not self.stop.is_set():
                fn()
        return self.in_thread(loop)

    def storm(self, seconds=3.0, rounds=400):
        """The storm: rounds of interrupted calls on client b (main thread) while client c
        contends in threads; then checks nothing is left. Returns the interrupt count."""
        self.stop = threading.Event()
        self.addCleanup(self.stop.set)
        a, b, c = self.storm_clients()
        lock = condd.sync.Lock(b, self.name("L"))
        cond = condd.sync.Condition(b, self.name("C"))
        sem = condd.sync.Semaphore(b, self.name("S"), 2)
        rival = condd.sync.Lock(c, self.name("L"))
        rcond = condd.sync.Condition(c, self.name("C"))
        rsem = condd.sync.Semaphore(c, self.name("S"), 2)
        pause = threading.Event()

        def rival_lock():
            with rival:
                pause.wait(self.rng.uniform(0, 0.001))

        def rival_notify():
            with rcond:
                rcond.notify()
            pause.wait(self.rng.uniform(0, 0.001))

        def rival_sem():
            with rsem:
                pause.wait(self.rng.uniform(0, 0.001))
        joins = [self.contend(f) for f in (rival_lock, rival_notify, rival_sem)]
        deadline = time.monotonic() + seconds
        for _ in range(rounds):
            if time.monotonic() > deadline:
                break
            # a lock: an interrupted acquire holds nothing; an interrupted release has
            # released (or, interrupted before it began, not: then locked() says so)
            done, got = self.call(lambda: lock.acquire(True, 10))
            if not done:
                self.assertFalse(lock.locked(), "an interrupted acquire holds the lock")
            elif got:
                self.call(lambda: lock.release())
                if lock.locked():
                    lock.release()
            # a condition: wait and notify, each perhaps interrupted; the lock is held after
            # a wait however it ended, as threading's
            self.assertTrue(cond.acquire(timeout=10))
            t = self.rng.uniform(0, 0.003)
            self.call(lambda: cond.wait(t))
            self.assertTrue(cond.lock.locked(), "a wait left without its lock")
            self.call(lambda: cond.notify())
            self.call(lambda: cond.release())
            if cond.lock.locked():
                cond.release()
            # a semaphore of two permits, shared with the rival
            done, got = self.call(lambda: sem.acquire(True, 10))
            if not done:
                self.assertEqual(sem.held, 0, "an interrupted acquire holds a permit")
            elif got:
                self.call(lambda: sem.release())
                if sem.held:
                    sem.release()
        self.stop.set()
        # b holds nothing and waits for nothing on the server (the rivals may, for now)
        b.ping()
        sessions = self.sessions(b)
        for listed in self.listings(a):
            for info in listed.locks:
                self.assertFalse(sessions & {h.session for h in info.holders},
                                 "lock %r left held: %s" % (info.name, info))
            for info in listed.semaphores:
                self.assertFalse(sessions & {h.session for h in info.holders},
                                 "semaphore %r left held: %s" % (info.name, info))
        for join in joins:
            join()
        # the same session, usable: every answer went where it belonged
        self.assertFalse(b.closed)
        self.assertEqual(self.sessions(b), sessions)
        b.ping()
        if b._fast:
            conn = b._aclient
            self.assertFalse(conn._leading)
            self.assertEqual(conn._followers, {})
            self.assertEqual([s for s in conn._pending.values() if s.what is None], [])
        self.assertFalse(lock.locked())
        self.assertFalse(cond.lock.locked())
        self.assertEqual(sem.held, 0)
        # nothing held or queued on the server, by anyone (the rivals are done too)
        c.ping()
        for listed in self.listings(a):
            for info in listed.locks:
                self.assertFalse(info.held, "lock %r left held" % info.name)
                self.assertEqual(info.waiters, 0)
            for info in listed.conditions:
                self.assertEqual(info.waiters, 0, "condition %r left with waiters" % info.name)
            for info in listed.semaphores:
                self.assertEqual(info.counter, info.value, "semaphore %r left held" % info.name)
                self.assertEqual(info.waiters, 0)
        # and what the storm used works for an uninterrupted round
        self.assertIs(lock.acquire(timeout=10), True)
        lock.release()
        self.assertIs(sem.acquire(timeout=10), True)
        sem.release()
        b.ping()
        self.assertFalse(b.closed)
        self.assertGreater(self.interrupts, 0)
        return self.interrupts

    def release_storm(self, rounds=300):
        """Interrupts aimed at release() (0-50 us after the call starts) of locks no one
        else uses: an interrupted release() has released, or changed nothing (locked() still
        true), never forgotten a grant the server still counts."""
        b = self.storm_clients()[1]
        hits = 0
        for i in range(rounds):
            lock = condd.sync.Lock(b, self.name("R%d" % i))
            self.assertIs(lock.acquire(True, 10), True)
            done, _ = self.call(lambda: lock.release(), self.rng.uniform(0, 0.00005))
            if not done:
                hits += 1
            # (a request after the Release, on the same session: the server has it by then)
            self.assertEqual(lock.locked_remote(), lock.locked(),
                             "release() interrupted: locked()=%s" % lock.locked())
            if lock.locked():
                lock.release()
        b.ping()
        for listed in self.listings(self.client()):
            for info in listed.locks:
                self.assertFalse(info.held, "lock %r left held" % info.name)
        self.assertGreater(hits, 0)


class StormTests(StormTestCase):
    def test_one_interrupt_per_call_at_random_points_leaves_nothing_held(self):
        self.storm()

    def test_a_second_storm_on_the_same_names_finds_them_free(self):
        # the names the first storm used, by new sessions: nothing of an earlier round stays
        self.storm()
        self.storm(rounds=200)

    def test_interrupted_release_has_released_or_changed_nothing(self):
        self.release_storm()


class GraceStormTests(StormTests):
    """The storms on a client with a grace (reconnect=True): the loop path (issue 16 F2, F3:
    an acquire interrupted after its grant came left the lock held; an interrupt inside the
    wait on the loop's answer hung the process; an interrupted release() forgot a grant the
    server still counted)."""

    def storm_clients(self):
        b = condd.sync.connect(self.daemon.address, grace=5.0)
        self.clients.append(b)
        self.assertFalse(b._fast)
        return self.client(), b, self.client()


class ListStormTests(StormTests):
    """The storms on clients of a server list of two daemons (the loop path): the names
    spread over both."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pair = cluster(2)
        for d in cls.pair:
            cls.addClassCleanup(d.stop)
        cls.list_address = ",".join(d.address for d in cls.pair)

    def list_client(self):
        c = condd.sync.connect(self.list_address)
        self.clients.append(c)
        self.assertFalse(c._fast)
        return c

    def storm_clients(self):
        return self.list_client(), self.list_client(), self.list_client()

    def client(self):
        return self.list_client()


if __name__ == "__main__":
    unittest.main()
