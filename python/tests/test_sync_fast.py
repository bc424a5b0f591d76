# SPDX-License-Identifier: BSD-2-Clause
"""condd.sync's fast path (condd/_syncconn.py: no event loop, leader/follower reading between
threads) against a live condd: several threads blocking at once on one client, each getting its
own answer; an answer for one thread read by another thread's leader; interrupts of a leader,
of a follower, and one racing a grant; the background thread's pings keeping a short session
alive while idle and while a thread blocks; queued fire-and-forget frames written when no
request follows; a lost connection with and without a grace. States are waited for with
deadlines (Stats, the connection's own state), never slept for."""

import os
import signal
import threading
import unittest

import condd
import condd.sync
from daemon import Proxy
from test_sync import SyncTestCase, until


class Interrupt(Exception):
    pass


def ops(client, op):
    """How many requests of kind op the server has handled, every session together."""
    return sum(o.count for o in client.stats().ops if o.op == op)


class FastTestCase(SyncTestCase):
    def client(self, **kw):
        c = condd.sync.connect(self.daemon.address, **kw)
        self.clients.append(c)
        self.assertTrue(c._fast)
        return c

    def install_interrupt(self):
        """SIGUSR1 raises Interrupt (our own handler, restored at cleanup)."""
        def handler(signum, frame):
            raise Interrupt()
        old = signal.signal(signal.SIGUSR1, handler)
        self.addCleanup(signal.signal, signal.SIGUSR1, old)

    def interrupt_main_when(self, predicate, what):
        """Starts a thread that raises Interrupt in the main thread once predicate() holds."""
        self.install_interrupt()

        def run():
            until(predicate, what=what)
            os.kill(os.getpid(), signal.SIGUSR1)
        return self.in_thread(run)


class ThreadTests(FastTestCase):
    def test_threads_blocking_at_once_each_get_their_own_answer(self):
        a, b = self.client(), self.client()
        names = [self.name("L%d" % i) for i in range(5)]
        holders = [condd.sync.Lock(a, n) for n in names]
        for h in holders:
            self.assertTrue(h.acquire())
        locks = [condd.sync.Lock(b, n) for n in names]
        joins = [self.in_thread(lock.acquire, True, 20) for lock in locks]
        self.stats_until(a, "lock_waiters", len(names))
        # released in an order unlike the order of the calls: each thread gets its own grant
        for i in (3, 0, 4, 1, 2):
            holders[i].release()
            self.assertIs(joins[i](), True)
            self.assertTrue(locks[i].locked())
            self.assertGreater(locks[i].token, holders[i].token)
        for lock in locks:
            lock.release()
        a.ping()
        self.assertEqual(a.stats().lock_waiters, 0)
        for n in names:
            self.assertFalse(condd.sync.Lock(a, n).locked_remote())

    def test_answer_for_one_thread_read_by_another_threads_leader(self):
        a, b = self.client(), self.client()
        conn = b._aclient
        first, second = condd.sync.Lock(a, self.name("A")), condd.sync.Lock(a, self.name("B"))
        first.acquire()
        second.acquire()
        leader_lock = condd.sync.Lock(b, self.name("A"))
        follower_lock = condd.sync.Lock(b, self.name("B"))
        leader = self.in_thread(leader_lock.acquire)
        self.stats_until(a, "lock_waiters", 1)
        until(lambda: conn._leading, what="the first thread reading the socket")
        follower = self.in_thread(follower_lock.acquire)
        until(lambda: len(conn._followers) == 1, what="the second thread sleeping as a follower")
        self.stats_until(a, "lock_waiters", 2)
        second.release()  # the grant for the follower: read by the leader, handed over
        self.assertIs(follower(), True)
        self.assertTrue(follower_lock.locked())
        self.assertFalse(leader_lock.locked())
        self.assertEqual(a.stats().lock_waiters, 1)  # the leader still waits
        first.release()
        self.assertIs(leader(), True)
        leader_lock.release()
        follower_lock.release()

    def test_leadership_passes_on_when_the_leader_returns(self):
        # the leader's answer comes first; the thread still waiting then reads its own
        a, b = self.client(), self.client()
        conn = b._aclient
        h1, h2 = condd.sync.Lock(a, self.name("A")), condd.sync.Lock(a, self.name("B"))
        h1.acquire()
        h2.acquire()
        l1, l2 = condd.sync.Lock(b, self.name("A")), condd.sync.Lock(b, self.name("B"))
        j1 = self.in_thread(l1.acquire)
        self.stats_until(a, "lock_waiters", 1)
        j2 = self.in_thread(l2.acquire)
        until(lambda: len(conn._followers) == 1, what="a follower")
        h1.release()
        self.assertIs(j1(), True)
        until(lambda: conn._leading and not conn._followers, what="the follower leading")
        h2.release()
        self.assertIs(j2(), True)
        l1.release()
        l2.release()

    def test_one_batch_of_answers_for_many_threads(self):
        # the barrier's release answers every party at once: the leader hands each its own
        c = self.client()
        barrier = condd.sync.Barrier(c, self.name("B"), 5)
        joins = [self.in_thread(barrier.wait, 20) for _ in range(4)]
        until(lambda: len(c._aclient._followers) == 3, what="three followers and a leader")
        index = barrier.wait(20)
        self.assertEqual(sorted([index] + [j() for j in joins]), [0, 1, 2, 3, 4])

    def test_close_fails_the_blocked_threads(self):
        a, b = self.client(), condd.sync.connect(self.daemon.address)
        self.addCleanup(b.close)  # (idempotent)
        holder = condd.sync.Lock(a, self.name("L"))
        holder.acquire()
        joins = [self.in_thread(condd.sync.Lock(b, self.name("L")).acquire) for _ in range(3)]
        self.stats_until(a, "lock_waiters", 3)
        b.close()  # Goodbye: the session ends, the blocked calls fail
        for j in joins:
            with self.assertRaises(condd.ConnectionLost):
                j()
        self.assertEqual(a.stats().lock_waiters, 0)
        self.assertFalse(b._aclient._bg.is_alive())
        holder.release()

    def test_an_answer_larger_than_one_read(self):
        # a List of about 480 KB arrives over many recv() calls: the read buffer grows
        c = self.client()
        prefix = self.name("big.") + "x" * 80
        locks = [condd.sync.Lock(c, "%s.%05d" % (prefix, i)) for i in range(3000)]
        for lock in locks:
            lock.acquire()
        listing = c.list(prefix, 100000)
        self.assertGreater(listing.ByteSize(), 8 * 65536)
        self.assertEqual(sorted(e.name.decode() for e in listing.locks),
                         [lock.name for lock in locks])
        for lock in locks:
            lock.release()
        c.ping()  # the stream is in step after it
        self.assertEqual(len(c.list(prefix, 100000).locks), 0)

    def test_ping_and_calls_from_many_threads(self):
        c = self.client()
        lock = condd.sync.Lock(c, self.name("L"))
        counts = []

        def work():
            n = 0
            for _ in range(50):
                c.ping()
                with lock:
                    n += 1
            counts.append(n)
        joins = [self.in_thread(work) for _ in range(6)]
        for j in joins:
            j()
        self.assertEqual(counts, [50] * 6)
        self.assertFalse(lock.locked_remote())


class InterruptTests(FastTestCase):
    def test_interrupted_follower_cancels_and_the_leader_goes_on(self):
        a, b = self.client(), self.client()
        conn = b._aclient
        h1, h2 = condd.sync.Lock(a, self.name("A")), condd.sync.Lock(a, self.name("B"))
        h1.acquire()
        h2.acquire()
        other = condd.sync.Lock(b, self.name("A"))
        leader = self.in_thread(other.acquire)
        self.stats_until(a, "lock_waiters", 1)
        mine = condd.sync.Lock(b, self.name("B"))
        cancels = ops(a, "cancel")
        join = self.interrupt_main_when(lambda: len(conn._followers) == 1, "a follower")
        with self.assertRaises(Interrupt):
            mine.acquire()
        join()
        self.assertFalse(mine.locked())
        self.assertEqual(ops(a, "cancel"), cancels + 1)
        self.assertEqual(a.stats().lock_waiters, 1)  # only the leader's acquire is left
        h1.release()
        self.assertIs(leader(), True)
        other.release()
        h2.release()
        self.assertFalse(h2.locked_remote())

    def test_interrupted_leader_passes_leadership_to_a_follower(self):
        a, b = self.client(), self.client()
        conn = b._aclient
        h1, h2 = condd.sync.Lock(a, self.name("A")), condd.sync.Lock(a, self.name("B"))
        h1.acquire()
        h2.acquire()
        mine = condd.sync.Lock(b, self.name("A"))
        other = condd.sync.Lock(b, self.name("B"))
        follower = []

        def start_follower():
            until(lambda: conn._leading, what="the main thread leading")
            follower.append(self.in_thread(other.acquire))
        join = self.interrupt_main_when(
            lambda: len(conn._followers) == 1 and a.stats().lock_waiters == 2, "two waiting")
        starter = self.in_thread(start_follower)
        with self.assertRaises(Interrupt):
            mine.acquire()
        join()
        starter()
        self.assertFalse(mine.locked())
        self.stats_until(a, "lock_waiters", 1)
        h2.release()  # read by the follower, leading now
        self.assertIs(follower[0](), True)
        other.release()
        h1.release()
        self.assertFalse(h1.locked_remote())

    def test_interrupt_racing_a_grant_gives_the_grant_back(self):
        a, b = self.client(), self.client()
        conn = b._aclient
        h1, h2 = condd.sync.Lock(a, self.name("A")), condd.sync.Lock(a, self.name("B"))
        h1.acquire()
        h2.acquire()
        other = condd.sync.Lock(b, self.name("A"))
        leader = self.in_thread(other.acquire)
        self.stats_until(a, "lock_waiters", 1)
        # white box: the leader holds back the bytes it read (the grant) until the main
        # thread, interrupted meanwhile, has sent its Cancel
        entered, go = threading.Event(), threading.Event()
        received = conn._received

        def held_back(data):
            entered.set()
            go.wait(20)
            received(data)
        conn._received = held_back
        self.addCleanup(go.set)
        mine = condd.sync.Lock(b, self.name("B"))
        cancels = ops(a, "cancel")

        def race():
            until(lambda: len(conn._followers) == 1, what="the main thread following")
            h2.release()  # the grant for the main thread, read and held back
            self.assertTrue(entered.wait(20))
            os.kill(os.getpid(), signal.SIGUSR1)
            until(lambda: ops(a, "cancel") == cancels + 1, what="the Cancel")
            del conn._received
            go.set()
        self.install_interrupt()
        racer = self.in_thread(race)
        with self.assertRaises(Interrupt):
            mine.acquire()
        racer()
        self.assertFalse(mine.locked())
        # the grant that raced the Cancel was given back: a takes the lock again
        self.assertIs(h2.acquire(timeout=10), True)
        h2.release()
        h1.release()
        self.assertIs(leader(), True)
        other.release()


    def test_interrupts_anywhere_in_blocking_calls_leave_nothing_held(self):
        # a signal handler's exception lands at any step of the client's code in the main
        # thread (a write, a read, the hand-over of an answer) while it is in acquire():
        # whatever it hits, nothing stays held or queued for this session, no thread hangs,
        # and the client is either usable or lost (dropped on an interrupt it could not make
        # safe). The handler raises only inside acquire() (armed): the guarantee is the
        # blocking call's, as threading's
        a, b, c = self.client(), self.client(), self.client()
        name = self.name("L")
        lock = condd.sync.Lock(b, name)
        other = condd.sync.Lock(b, self.name("M"))
        self.assertTrue(other.acquire())  # a second grant, to see it survive
        rival = condd.sync.Lock(c, name)  # contention: some acquires wait, some race
        armed = [False]

        def handler(signum, frame):
            if armed[0]:
                armed[0] = False
                raise Interrupt()
        old = signal.signal(signal.SIGUSR1, handler)
        self.addCleanup(signal.signal, signal.SIGUSR1, old)
        done = threading.Event()
        self.addCleanup(done.set)

        def bombard():
            for _ in range(400):
                if done.is_set():
                    return
                os.kill(os.getpid(), signal.SIGUSR1)
                done.wait(0.001)

        def rival_loop():
            while not done.is_set():
                with rival:
                    pass
        bombarder = threading.Thread(target=bombard, daemon=True)
        bombarder.start()
        self.addCleanup(bombarder.join, 20)
        join_rival = self.in_thread(rival_loop)
        self.addCleanup(done.set)  # (cleanups run last first: this one before the joins)
        interrupts = cycles = 0
        while not b.closed and bombarder.is_alive():
            try:
                armed[0] = True
                try:
                    got = lock.acquire(timeout=10)
                finally:
                    armed[0] = False
                if got:
                    cycles += 1
                    lock.release()
            except Interrupt:
                interrupts += 1
            except condd.ConnectionLost:
                break
        done.set()
        bombarder.join(20)
        self.assertFalse(bombarder.is_alive())
        join_rival()
        self.assertGreater(interrupts, 0)
        self.assertFalse(lock.locked())
        if not b.closed:
            b.ping()  # usable: every answer went where it belonged
            self.assertTrue(other.locked_remote())
            self.assertFalse(b._aclient._leading)
            self.assertEqual(b._aclient._followers, {})
            self.assertEqual([s for s in b._aclient._pending.values() if s.what is None], [])
        self.assertIs(condd.sync.Lock(a, name).acquire(timeout=10), True)
        self.assertEqual(a.stats().lock_waiters, 0)


class BackgroundTests(FastTestCase):
    def test_pings_keep_a_short_session_alive_while_idle(self):
        a, b = self.client(session_timeout=1.0), self.client()
        self.assertEqual(a.session_timeout, 1.0)
        lock = condd.sync.Lock(a, self.name("L"))
        lock.acquire()
        start = ops(b, "ping")
        # four pings take more than the session timeout: only they keep the session
        until(lambda: ops(b, "ping") >= start + 4, what="the idle client's pings")
        self.assertFalse(condd.sync.Lock(b, self.name("L")).acquire(False))
        self.assertFalse(a.closed)
        lock.release_remote()

    def test_pings_keep_a_short_session_alive_while_a_thread_blocks(self):
        a, b = self.client(session_timeout=1.0), self.client()
        holder = condd.sync.Lock(b, self.name("L"))
        holder.acquire()
        mine = condd.sync.Lock(a, self.name("M"))
        mine.acquire()
        waiting = condd.sync.Lock(a, self.name("L"))
        join = self.in_thread(waiting.acquire)
        self.stats_until(b, "lock_waiters", 1)
        start = ops(b, "ping")
        until(lambda: ops(b, "ping") >= start + 4, what="pings while a thread blocks")
        self.assertFalse(a.closed)
        self.assertFalse(condd.sync.Lock(b, self.name("M")).acquire(False))  # still held
        holder.release()
        self.assertIs(join(), True)
        waiting.release()
        mine.release()

    def test_queued_release_is_written_when_no_request_follows(self):
        a, b = self.client(), self.client()
        lock = condd.sync.Lock(a, self.name("L"))
        lock.acquire()
        lock.release()  # queued; a sends nothing after it
        self.assertIs(condd.sync.Lock(b, self.name("L")).acquire(timeout=10), True)
        until(lambda: not a._aclient._wbuf, what="the queue written")

    def test_queued_notify_and_release_are_written_when_no_request_follows(self):
        a, b = self.client(), self.client()
        ca, cb = condd.sync.Condition(a, self.name("C")), condd.sync.Condition(b, self.name("C"))
        out = []

        def waiter():
            with cb:
                out.append(cb.wait(20))
        join = self.in_thread(waiter)
        self.stats_until(a, "condition_waiters", 1)
        with ca:
            ca.notify()  # notify and release both queued; nothing follows
        join()
        self.assertEqual(out, [True])

    def test_queued_event_set_is_written_when_no_request_follows(self):
        a, b = self.client(), self.client()
        ea, eb = condd.sync.Event(a, self.name("E")), condd.sync.Event(b, self.name("E"))
        join = self.in_thread(eb.wait, 20)
        until(lambda: b._aclient._leading, what="the wait sent")
        ea.set()  # queued; nothing follows
        self.assertIs(join(), True)


class LossTests(FastTestCase):
    def setUp(self):
        super().setUp()
        self.proxy = Proxy(self.daemon.address)
        self.addCleanup(self.proxy.stop)

    def test_lost_connection_fails_every_blocked_thread(self):
        states = []
        a = condd.sync.connect(self.proxy.address,
                               on_session=lambda c, s, e: states.append((s, type(e))))
        self.clients.append(a)
        self.assertTrue(a._fast)
        b = self.client()
        holder = condd.sync.Lock(b, self.name("L"))
        holder.acquire()
        held = condd.sync.Lock(a, self.name("H"))
        held.acquire()
        locks = [condd.sync.Lock(a, self.name("L")) for _ in range(3)]
        joins = [self.in_thread(lock.acquire) for lock in locks]
        self.stats_until(b, "lock_waiters", 3)
        until(lambda: len(a._aclient._followers) == 2, what="two followers")
        self.proxy.cmd_blocking("reset")
        for j in joins:
            with self.assertRaises(condd.ConnectionLost):
                j()
        self.assertTrue(a.closed)
        self.assertEqual(a.session_state, "lost")
        self.assertEqual(states, [("lost", condd.ConnectionLost)])
        with self.assertRaises(condd.ConnectionLost):
            held.release()  # lost with the session
        with self.assertRaises(condd.ConnectionLost):
            a.ping()
        self.assertIs(condd.sync.Lock(b, self.name("H")).acquire(timeout=10), True)
        a.close()

    def test_lost_connection_between_calls_is_seen_by_the_pings(self):
        a = condd.sync.connect(self.proxy.address, session_timeout=1.0)
        self.clients.append(a)
        a.ping()
        self.proxy.cmd_blocking("reset")
        until(lambda: a.closed, what="the loss seen")
        with self.assertRaises(condd.ConnectionLost):
            a.ping()

    def test_grace_without_reconnect_is_fast_and_lost(self):
        a = condd.sync.connect(self.proxy.address, grace=30.0, reconnect=False)
        self.clients.append(a)
        self.assertTrue(a._fast)
        self.assertGreater(a.grace, 0)
        a.ping()
        self.proxy.cmd_blocking("reset")
        with self.assertRaises(condd.ConnectionLost):
            condd.sync.Lock(a, self.name("L")).acquire()
        self.assertTrue(a.closed)

    def test_grace_with_reconnect_resumes_with_threads_blocked(self):
        resumed = threading.Event()

        def on_session(client, state, exc):
            if state == "resumed":
                resumed.set()
        a = condd.sync.connect(self.proxy.address, grace=30.0, on_session=on_session)
        self.clients.append(a)
        self.assertFalse(a._fast)  # a session to resume: on the asyncio client
        b = self.client()
        holder = condd.sync.Lock(b, self.name("L"))
        holder.acquire()
        locks = [condd.sync.Lock(a, self.name("L")) for _ in range(2)]
        joins = [self.in_thread(lock.acquire) for lock in locks]
        self.stats_until(b, "lock_waiters", 2)
        self.proxy.cmd_blocking("drop")
        self.assertTrue(resumed.wait(20))
        holder.release()
        until(lambda: any(lock.locked() for lock in locks), what="a grant after the resume")
        first = next(lock for lock in locks if lock.locked())
        first.release()
        for j in joins:
            self.assertIs(j(), True)
        for lock in locks:
            if lock.locked():
                lock.release()


if __name__ == "__main__":
    unittest.main()
