# SPDX-License-Identifier: BSD-2-Clause
"""condd.sync after os.fork() (the outside audit's F1; libcondd's rule, docs/client.md): a
client belongs to the process that opened it. In the child nothing is written on an inherited
client (not the parent's queued release at the child's exit or at its first request on a
client of its own, not a Goodbye at close()), every call on it raises ConnectionLost naming the
parent's pid, and close() closes only the child's copy of the socket. The parent keeps its
session, its grants, and a Semaphore's count stays right (List). Each child is waited for with
a deadline, and killed past it: a test that would hang fails instead."""

import json
import os
import select
import signal
import threading
import time
import unittest

import condd.sync
from condd import _syncconn
from test_sync import SyncTestCase
from test_sync_fast import FastTestCase

CHILD_DEADLINE = 20.0


def run_child(fn):
    """Forks; the child runs fn() and sends its result (JSON) through a pipe, then leaves with
    os._exit (no unittest machinery runs there). Returns the result; fails if the child does
    not end within CHILD_DEADLINE (it is killed and reaped) or fn raised."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            try:
                out = {"ok": fn()}
            except BaseException as e:  # reported, for the parent's assertion
                out = {"raised": "%s: %s" % (type(e).__name__, e)}
            os.write(w, json.dumps(out).encode())
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    os.close(w)
    deadline = time.monotonic() + CHILD_DEADLINE
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError("the child blocked for %g s" % CHILD_DEADLINE)
            time.sleep(0.01)
        data = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
    if os.waitstatus_to_exitcode(status) != 0 or not data:
        raise AssertionError("the child failed (status %#x)" % status)
    out = json.loads(data)
    if "raised" in out:
        raise AssertionError("in the child: " + out["raised"])
    return out["ok"]


def foreign_message():
    return ("client opened by another process (pid %d); connect again after fork()"
            % os.getpid())


def try_call(fn, *args):
    """In the child: what fn(*args) raised ("Class: message"), or "returned"."""
    try:
        fn(*args)
    except BaseException as e:
        return "%s: %s" % (type(e).__name__, e)
    return "returned"


class ForkMixin:
    def semaphore_state(self, client, name):
        """[(counter, value)] of the semaphore name as List shows it (none while at rest)."""
        client.ping()
        return [(i.counter, i.value) for i in client.list(name).semaphores]

    def lock_holder(self, client, name):
        """[(held, holder session)] of the lock name as List shows it (none while free)."""
        return [(i.held, i.holder_session) for i in client.list(name).locks]

    def parent_holds(self, c):
        """c's session holds a lock and a Semaphore(1) whose permit is taken and released,
        the release still queued (the background's flush is held off by setUp)."""
        lk = condd.sync.Lock(c, self.name("L"))
        self.assertTrue(lk.acquire(timeout=10))
        sem = condd.sync.Semaphore(c, self.name("S"), 1)
        self.assertTrue(sem.acquire(timeout=10))
        sem.release()
        return lk, sem

    def assert_parent_unaffected(self, c, lk):
        c.ping()
        self.assertFalse(c.closed)
        self.assertEqual(self.lock_holder(c, self.name("L")), [(True, c.session_id)])
        # the parent's release went out once: the Semaphore(1) is at rest (a second one
        # would show it with 2 permits free), and anyone else gets exactly one permit
        self.assertEqual(self.semaphore_state(c, self.name("S")), [])
        other = self.client()
        sem = condd.sync.Semaphore(other, self.name("S"), 1)
        self.assertIs(sem.acquire(timeout=10), True)
        self.assertEqual(self.semaphore_state(c, self.name("S")), [(0, 1)])
        self.assertIs(sem.acquire(timeout=0.2), False)
        sem.release()
        lk.release()
        c.ping()
        self.assertEqual(self.lock_holder(c, self.name("L")), [])


class ForkFastTests(ForkMixin, FastTestCase):
    """The fast path (_syncconn.Conn)."""

    def setUp(self):
        super().setUp()
        # the background thread writes no queued frame by itself while a test runs: a release
        # is surely still queued at the fork (a request, the parent's next, carries it)
        old = _syncconn.FLUSH_MIN
        _syncconn.FLUSH_MIN = 3600.0
        self.addCleanup(setattr, _syncconn, "FLUSH_MIN", old)

    def test_child_exit_writes_no_queued_release(self):
        c = self.client()
        lk, _ = self.parent_holds(c)
        self.assertTrue(c._aclient._wbuf, "the release is queued at the fork")

        def child():
            _syncconn._flush_at_exit()  # what the interpreter's exit runs (atexit)
            condd.sync._flush_at_exit()
            return c._aclient._wbuf
        self.assertEqual(run_child(child), [])
        self.assert_parent_unaffected(c, lk)

    def test_child_own_client_writes_no_queued_release(self):
        c = self.client()
        lk, _ = self.parent_holds(c)
        addr = self.daemon.address
        name = self.name("S")

        def child():
            with condd.sync.connect(addr) as own:
                own.ping()
                (info,) = own.list(name).semaphores
                return info.counter
        # the parent's release is not on the wire yet, and the child did not write it either
        self.assertEqual(run_child(child), 0)
        self.assert_parent_unaffected(c, lk)

    def test_child_close_leaves_the_parents_session(self):
        c = self.client()
        lk, _ = self.parent_holds(c)

        def child():
            c.close()
            c.close()  # idempotent
            return [c.closed, try_call(c.ping)]
        self.assertEqual(run_child(child), [True, "ConnectionLost: " + foreign_message()])
        self.assert_parent_unaffected(c, lk)

    def test_child_calls_on_the_inherited_client_raise_and_write_nothing(self):
        c = self.client()
        lk, sem = self.parent_holds(c)
        other = condd.sync.Lock(c, self.name("other"))

        def child():
            out = [try_call(c.ping), try_call(c.stats), try_call(c.list, ""),
                   try_call(lk.release), try_call(sem.release), try_call(sem.acquire, True, 1),
                   try_call(other.acquire, True, 1)]
            out.append(c.closed)  # (not closed by the child: every call raises)
            c.close()
            out += [c.closed, try_call(lk.release)]  # (closed: the grant forgotten, here only)
            return out
        want = "ConnectionLost: " + foreign_message()
        self.assertEqual(run_child(child), [want] * 7 + [False, True, "returned"])
        self.assertTrue(lk.locked())  # the parent's own view: nothing forgotten here
        self.assert_parent_unaffected(c, lk)
        self.assertEqual(self.lock_holder(c, self.name("other")), [])

    def test_parent_and_child_both_calling_never_block(self):
        c = self.client()
        lk, _ = self.parent_holds(c)
        r, w = os.pipe()
        self.addCleanup(os.close, r)

        def child():
            os.close(r)
            out = [try_call(c.ping) for _ in range(200)]
            os.close(w)
            return sorted(set(out))
        # the parent pings while the child calls (its pipe closes when the child is done)
        pid_result = {}

        def parent_pings():
            n = 0
            while True:
                c.ping()
                n += 1
                if select.select([r], [], [], 0)[0] and n >= 200:
                    return n
        t = threading.Thread(target=lambda: pid_result.setdefault("n", parent_pings()),
                             daemon=True)
        t.start()
        self.assertEqual(run_child(child), ["ConnectionLost: " + foreign_message()])
        os.close(w)
        t.join(CHILD_DEADLINE)
        self.assertFalse(t.is_alive(), "the parent's pings blocked")
        self.assertGreaterEqual(pid_result["n"], 200)
        self.assert_parent_unaffected(c, lk)


class ForkLoopTests(ForkMixin, SyncTestCase):
    """A client with a grace: the asyncio client on its own loop thread, none in the child."""

    def client(self, **kw):
        c = condd.sync.connect(self.daemon.address, **kw)
        self.clients.append(c)
        return c

    def grace_client(self):
        c = self.client(grace=5)
        self.assertFalse(c._fast)
        return c

    def test_child_calls_raise_and_close_sends_nothing(self):
        c = self.grace_client()
        lk = condd.sync.Lock(c, self.name("L"))
        self.assertTrue(lk.acquire(timeout=10))
        sem = condd.sync.Semaphore(c, self.name("S"), 1)
        self.assertTrue(sem.acquire(timeout=10))
        sem.release()

        def child():
            out = [try_call(c.ping), try_call(lk.release), try_call(sem.acquire, True, 1),
                   try_call(sem.release), c.closed]
            condd.sync._flush_at_exit()  # (what the interpreter's exit runs: nothing here)
            c.close()
            c.close()
            out += [c.closed, try_call(c.ping)]
            return out
        want = "ConnectionLost: " + foreign_message()
        self.assertEqual(run_child(child), [want] * 4 + [False, True, want])
        self.assert_parent_unaffected(c, lk)


if __name__ == "__main__":
    unittest.main()
