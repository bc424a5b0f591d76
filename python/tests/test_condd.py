# SPDX-License-Identifier: BSD-2-Clause
"""The condd package against a live condd: the connection, Lock, Condition and Event, task
cancellation races, and session loss. One daemon per test class, fresh names per test."""

import asyncio
import os
import subprocess
import sys
import unittest

import condd
from daemon import Daemon, DaemonPerClass, until

HERE = os.path.dirname(os.path.abspath(__file__))


class DaemonTestCase(DaemonPerClass, unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.clients = []
        self.prefix = self.id().rsplit(".", 1)[-1]

    async def asyncTearDown(self):
        for c in self.clients:
            await c.close()

    async def client(self):
        c = await condd.connect(self.daemon.address)
        self.clients.append(c)
        return c

    def name(self, what):
        return "%s.%s" % (self.prefix, what)

    async def stats_until(self, client, field, want):
        async def ok():
            return getattr(await client.stats(), field) == want
        await until(ok, what="%s == %d" % (field, want))


class ConnectionTests(DaemonTestCase):
    async def test_connect_and_close(self):
        c = await condd.connect(self.daemon.address)
        self.assertGreater(c.session_id, 0)
        self.assertGreater(c.session_timeout, 0)
        await c.ping()
        await c.close()
        self.assertTrue(c.closed)
        with self.assertRaises(condd.ConnectionLost):
            await c.ping()
        await c.close()  # idempotent

    async def test_a_request_leaves_at_once_with_two_clients_on_the_loop(self):
        # with several clients on the loop a release() is written at once (docs/python.md),
        # and by the kernel, not queued in the transport until the end of the loop's turn
        # (uvloop's transports do that by default, then write the connections in no promised
        # order): whatever the program sends next, on any connection, is on the wire after it
        a, b = await self.client(), await self.client()
        lock = condd.Lock(a, self.name("L"))
        await lock.acquire()
        lock.release()
        self.assertEqual((a._wbuf, a._held_frames), ([], []))
        self.assertEqual(a._transport.get_write_buffer_size(), 0)
        self.assertTrue(await condd.Lock(b, self.name("L"))._acquire(0))

    async def test_async_with_and_env_address(self):
        os.environ["CONDD_SERVER"] = self.daemon.address
        try:
            async with await condd.connect() as c:
                await c.ping()
        finally:
            del os.environ["CONDD_SERVER"]
        self.assertTrue(c.closed)

    async def test_parse_address(self):
        p = condd.parse_address
        self.assertEqual(p("h:1"), ("tcp", "h", 1))
        self.assertEqual(p("h"), ("tcp", "h", 7380))
        self.assertEqual(p("[::1]:9"), ("tcp", "::1", 9))
        self.assertEqual(p("unix:/run/x"), ("unix", "/run/x"))
        self.assertEqual(p("/run/x"), ("unix", "/run/x"))
        for bad in ("::1", "h:0", "h:x", "[h]:1", ":1", "unix:"):
            with self.assertRaises(ValueError, msg=bad):
                p(bad)

    async def test_read_buffer_compacts_and_grows_across_frames(self):
        # a 16-byte read buffer: nearly every answer is split, some need the buffer to grow,
        # and pipelined answers make it compact
        import condd.client
        saved = condd.client._READ_BUFFER
        condd.client._READ_BUFFER = 16
        try:
            c = await self.client()
        finally:
            condd.client._READ_BUFFER = saved
        locks = [condd.Lock(c, self.name("L%03d" % i)) for i in range(50)]
        self.assertEqual(await asyncio.gather(*(lk.acquire() for lk in locks)), [True] * 50)

        async def held():
            req = c._request("list")
            req.list.prefix = self.name("L").encode()
            resp = await c._call_checked(req)  # one frame of several kilobytes
            return sum(1 for info in resp.list.locks if info.held)
        self.assertEqual(await held(), 50)
        for lk in locks:
            lk.release()
        self.assertEqual(await held(), 0)

    async def test_server_status_maps_to_exception(self):
        c = await self.client()
        with self.assertRaises(condd.BadRequest):
            await condd.Lock(c, "bad\x01name").locked_remote()  # the server refuses it


class LockTests(DaemonTestCase):
    async def test_acquire_release_locked(self):
        c = await self.client()
        lock = condd.Lock(c, self.name("L"))
        self.assertFalse(lock.locked())
        self.assertIs(await lock.acquire(), True)
        self.assertTrue(lock.locked())
        self.assertTrue(await lock.locked_remote())
        lock.release()
        self.assertFalse(lock.locked())
        self.assertFalse(await lock.locked_remote())
        with self.assertRaises(RuntimeError):
            lock.release()

    async def test_async_with_and_token_growth(self):
        c = await self.client()
        lock = condd.Lock(c, self.name("L"))
        async with lock as value:
            self.assertIsNone(value)
            first = lock.token
        async with lock:
            self.assertGreater(lock.token, first)

    async def test_fifo_across_two_clients(self):
        a, b, d = await self.client(), await self.client(), await self.client()
        name = self.name("L")
        holder = condd.Lock(a, name)
        await holder.acquire()
        order = []

        async def take(client, tag):
            lock = condd.Lock(client, name)
            await lock.acquire()
            order.append(tag)
            lock.release()

        t1 = asyncio.create_task(take(b, "b"))
        await self.stats_until(a, "lock_waiters", 1)
        t2 = asyncio.create_task(take(d, "d"))
        await self.stats_until(a, "lock_waiters", 2)
        holder.release()
        await asyncio.wait_for(asyncio.gather(t1, t2), 10)
        self.assertEqual(order, ["b", "d"])

    async def test_timeout_through_asyncio_wait_for_leaves_nothing_queued(self):
        a, b = await self.client(), await self.client()
        await condd.Lock(a, self.name("L")).acquire()
        with self.assertRaises(TimeoutError):
            await asyncio.wait_for(condd.Lock(b, self.name("L")).acquire(), 0.1)
        await self.stats_until(a, "lock_waiters", 0)

    async def test_cancel_queued_acquire_holds_nothing(self):
        a, b = await self.client(), await self.client()
        holder = condd.Lock(a, self.name("L"))
        await holder.acquire()
        lock = condd.Lock(b, self.name("L"))
        task = asyncio.create_task(lock.acquire())
        await self.stats_until(a, "lock_waiters", 1)
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        self.assertFalse(lock.locked())
        await self.stats_until(a, "lock_waiters", 0)
        holder.release()
        await a.ping()  # the Release left on a's connection: applied before b asks
        self.assertFalse(await lock.locked_remote())

    async def test_cancel_acquire_while_granted_is_never_leaked(self):
        # One connection makes the race certain: the Release is written before the Cancel, so
        # the server grants the queued acquire first and answers the Cancel NOT_FOUND; the
        # client must then give the grant back. (Over two connections the grant could reach
        # the task before cancel(), and the test would race the scheduler.)
        a = await self.client()
        holder = condd.Lock(a, self.name("L"))
        await holder.acquire()
        lock = condd.Lock(a, self.name("L"))
        task = asyncio.create_task(lock.acquire())
        await self.stats_until(a, "lock_waiters", 1)
        holder.release()  # sent now; no await before the cancel
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        self.assertFalse(lock.locked())
        await a.ping()  # the Release of the grant that won the race is processed
        self.assertFalse(await holder.locked_remote())

    async def test_release_by_another_task(self):
        c = await self.client()
        lock = condd.Lock(c, self.name("L"))
        await lock.acquire()
        await asyncio.get_running_loop().create_task(self._release(lock))
        self.assertFalse(await lock.locked_remote())

    async def _release(self, lock):
        lock.release()
        await lock._client.ping()


class ConditionTests(DaemonTestCase):
    async def test_a_default_condition_meets_condctl_on_its_default_lock(self):
        # Condition(client, name) and condctl's notify-all name both default to the lock named
        # like the condition, so a shell script wakes a Python waiter (the audit's interop case).
        condctl = os.environ.get("CONDCTL")
        if not condctl:
            self.skipTest("CONDCTL (the condctl binary) is not set")
        a, watch = await self.client(), await self.client()
        cond = condd.Condition(a, self.name("C"))
        self.assertEqual(cond.lock.name, self.name("C"))

        async def waiter():
            async with cond:
                return await cond.wait()
        task = asyncio.ensure_future(waiter())

        async def waiting():
            found = (await watch.list(self.name("C"))).conditions
            return any(e.waiters == 1 and e.lock == self.name("C").encode() for e in found)
        await until(waiting, what="the waiter on the condition")
        proc = await asyncio.create_subprocess_exec(
            condctl, "-s", self.daemon.address, "notify-all", self.name("C"),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await proc.communicate()
        self.assertEqual(proc.returncode, 0, err.decode())
        self.assertTrue(await asyncio.wait_for(task, 10))
        self.assertFalse(cond.locked())

    async def test_wait_notify(self):
        a, b = await self.client(), await self.client()
        ca = condd.Condition(a, self.name("C"))
        cb = condd.Condition(b, self.name("C"))
        self.assertEqual(ca.lock.name, self.name("C"))  # named like the condition, as in condctl

        async def waiter():
            async with ca:
                self.assertIs(await ca.wait(), True)
                self.assertTrue(ca.locked())
                return ca.lock.token

        task = asyncio.create_task(waiter())
        await self.stats_until(b, "condition_waiters", 1)
        async with cb:
            cb.notify()
            before = cb.lock.token
        token = await asyncio.wait_for(task, 10)
        self.assertGreater(token, before)
        self.assertFalse(await ca.lock.locked_remote())

    async def test_notify_all_and_shared_lock(self):
        a, b = await self.client(), await self.client()
        lock_a = condd.Lock(a, self.name("L"))
        c1 = condd.Condition(a, self.name("C1"), lock_a)
        woken = []

        async def waiter(client, tag):
            cond = condd.Condition(client, self.name("C1"), condd.Lock(client, self.name("L")))
            async with cond:
                await cond.wait()
                woken.append(tag)

        tasks = [asyncio.create_task(waiter(b, i)) for i in range(3)]
        await self.stats_until(a, "condition_waiters", 3)
        c2 = condd.Condition(a, self.name("C2"), lock_a)  # shares the lock, has no waiters
        async with c1:
            c2.notify_all()
            c1.notify_all()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        self.assertEqual(sorted(woken), [0, 1, 2])

    async def test_notify_then_wait_goes_out_as_one_wait(self):
        # notify(); await wait() sends one Wait with notify_first (protocol.md §9.2): the
        # server counts no Notify for it, and the peer is woken all the same. Requests are
        # queued only while the loop has one client, so the peer runs on condd.sync's loop.
        import condd.sync
        a = await self.client()
        ca = condd.Condition(a, self.name("C"))
        b = await asyncio.to_thread(condd.sync.connect, self.daemon.address)
        try:
            cb = condd.sync.Condition(b, self.name("C"))

            def peer():
                with cb:
                    cb.wait()
                    cb.notify_remote()  # a Notify, counted

            def ops(stats, op):
                return sum(o.count for o in stats.ops if o.op == op)
            before = await a.stats()
            task = asyncio.create_task(asyncio.to_thread(peer))
            await self.stats_until(a, "condition_waiters", 1)
            async with ca, asyncio.timeout(10):  # (wait_for() would run wait() in a new task)
                ca.notify()
                self.assertIs(await ca.wait(), True)
            await asyncio.wait_for(task, 10)
            after = await a.stats()
        finally:
            await asyncio.to_thread(b.close)
        self.assertEqual(ops(after, "notify") - ops(before, "notify"), 1)
        self.assertEqual(ops(after, "wait") - ops(before, "wait"), 2)

    async def test_wait_without_lock_raises(self):
        c = await self.client()
        cond = condd.Condition(c, self.name("C"))
        with self.assertRaises(RuntimeError):
            await cond.wait()
        with self.assertRaises(RuntimeError):
            cond.notify()

    async def test_wait_for_predicate(self):
        a, b = await self.client(), await self.client()
        state = {"n": 0}
        ca = condd.Condition(a, self.name("C"))
        cb = condd.Condition(b, self.name("C"))

        async def waiter():
            async with ca:
                return await ca.wait_for(lambda: state["n"] >= 2 and state["n"])

        task = asyncio.create_task(waiter())
        for i in range(2):
            await self.stats_until(b, "condition_waiters", 1)
            async with cb:
                state["n"] += 1
                cb.notify()
        self.assertEqual(await asyncio.wait_for(task, 10), 2)

    async def test_wait_for_deadline_returns_predicate_holding_lock(self):
        c = await self.client()
        cond = condd.Condition(c, self.name("C"))
        async with cond:
            self.assertIs(await cond.wait_for(lambda: False, timeout=0.05), False)
            self.assertTrue(cond.locked())
            self.assertTrue(await cond.lock.locked_remote())

    async def test_cancelled_wait_holds_lock_when_cancelled_error_propagates(self):
        a, b = await self.client(), await self.client()
        ca = condd.Condition(a, self.name("C"))
        other = condd.Lock(b, ca.lock.name)
        seen = {}

        async def waiter():
            async with ca:
                first = ca.lock.token
                try:
                    await ca.wait()
                except asyncio.CancelledError:
                    seen["locked"] = ca.locked()
                    seen["remote"] = await ca.lock.locked_remote()
                    seen["newer"] = ca.lock.token > first
                    raise

        task = asyncio.create_task(waiter())
        await self.stats_until(b, "condition_waiters", 1)
        await other.acquire()  # the cancelled wait must queue behind this holder
        task.cancel()
        await self.stats_until(b, "lock_waiters", 1)
        self.assertFalse(task.done())
        other.release()
        with self.assertRaises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        self.assertEqual(seen, {"locked": True, "remote": True, "newer": True})
        self.assertFalse(await other.locked_remote())

    async def test_notified_wait_cancelled_before_it_returns_passes_the_notification_on(self):
        # gh-112202 on the client side (protocol.md §9.5): W1 is notified, and its task is
        # cancelled in the very callback that hands it the server's OK, before it runs. W1
        # raises CancelledError holding the lock, and the wake-up it consumed goes to W2.
        a, b, c = await self.client(), await self.client(), await self.client()
        name = self.name("C")
        c1, c2, cn = condd.Condition(a, name), condd.Condition(b, name), condd.Condition(c, name)
        seen = {}

        async def waiter(cond, tag):
            async with cond:
                try:
                    await cond.wait()
                except asyncio.CancelledError:
                    seen[tag] = cond.locked()
                    raise
                return tag

        w1 = asyncio.create_task(waiter(c1, "W1"))
        await self.stats_until(c, "condition_waiters", 1)
        w2 = asyncio.create_task(waiter(c2, "W2"))
        await self.stats_until(c, "condition_waiters", 2)
        deliver = a._deliver

        def cancel_on_delivery(resp):  # the answer arrives and the cancel comes in one turn
            ok = deliver(resp)
            if resp.HasField("wait") and resp.status == 0 and not w1.done():
                w1.cancel()
            return ok
        a._deliver = cancel_on_delivery
        async with cn:
            self.assertEqual(await cn.notify_remote(1), 1)  # W1, the longest waiting
        with self.assertRaises(asyncio.CancelledError):
            await asyncio.wait_for(w1, 10)
        self.assertEqual(seen, {"W1": True})  # cancelled holding the lock, released on exit
        done, _ = await asyncio.wait([w2], timeout=10)
        self.assertEqual(done, {w2}, "the notification W1 consumed was lost")
        self.assertEqual(w2.result(), "W2")
        self.assertFalse(await cn.lock.locked_remote())


class EventTests(DaemonTestCase):
    async def test_set_clear_wait(self):
        a, b = await self.client(), await self.client()
        ea, eb = condd.Event(a, self.name("E")), condd.Event(b, self.name("E"))
        self.assertFalse(ea.is_set())
        self.assertFalse(await eb.is_set_remote())
        task = asyncio.create_task(eb.wait())
        await self.stats_until(a, "event_waiters", 1)
        ea.set()
        self.assertTrue(ea.is_set())
        self.assertIs(await asyncio.wait_for(task, 10), True)
        self.assertTrue(eb.is_set())
        self.assertIs(await eb.wait(), True)  # set: at once
        ea.clear()
        # clear() only queues its frame on a's connection: a round trip on that connection
        # proves the server has applied it before b asks (two connections are not ordered).
        self.assertFalse(await ea.is_set_remote())
        self.assertFalse(await eb.is_set_remote())

    async def test_wait_timeout_through_asyncio_wait_for(self):
        c = await self.client()
        event = condd.Event(c, self.name("E"))
        with self.assertRaises(TimeoutError):
            await asyncio.wait_for(event.wait(), 0.05)
        await self.stats_until(c, "event_waiters", 0)


class SessionLossTests(DaemonTestCase):
    async def test_killed_child_process_frees_its_lock(self):
        name = self.name("L")
        child = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "holder.py"), self.daemon.address, name],
            stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        try:
            line = await asyncio.to_thread(child.stdout.readline)
            self.assertEqual(line.strip(), b"held")
            c = await self.client()
            lock = condd.Lock(c, name)
            self.assertTrue(await lock.locked_remote())
            child.kill()
            self.assertTrue(await asyncio.wait_for(lock.acquire(), 10))
        finally:
            child.kill()
            child.wait()
            child.stdout.close()

    async def test_connection_lost_fails_pending_calls_once(self):
        daemon = Daemon()
        try:
            a = await condd.connect(daemon.address)
            b = await condd.connect(daemon.address)
            held = condd.Lock(a, "L")
            await held.acquire()
            waiting = asyncio.create_task(condd.Lock(b, "L").acquire())
            await self.stats_until(a, "lock_waiters", 1)
            daemon.kill()
            with self.assertRaises(condd.ConnectionLost):
                await asyncio.wait_for(waiting, 10)
            with self.assertRaises(condd.ConnectionLost):
                await b.ping()
            await until(lambda: asyncio.sleep(0, a.closed), what="a sees the loss")
            self.assertFalse(held.locked())
            with self.assertRaises(condd.ConnectionLost):
                held.release()
            await a.close()
            await b.close()
        finally:
            daemon.stop()

    async def test_session_lost_during_wait_leaves_the_lock_lost_not_unacquired(self):
        # The lock is given up for the wait; when the session ends meanwhile, the condition's
        # lock must say it went with the session, so that `async with cond`'s release raises
        # ConnectionLost again rather than RuntimeError("Lock is not acquired.").
        daemon = Daemon()
        try:
            a = await condd.connect(daemon.address)
            cond = condd.Condition(a, "C")

            async def waiter():
                async with cond:
                    await cond.wait()

            task = asyncio.create_task(waiter())
            await self.stats_until(a, "condition_waiters", 1)
            daemon.kill()
            with self.assertRaises(condd.ConnectionLost):
                await asyncio.wait_for(task, 10)
            self.assertFalse(cond.locked())
            await a.close()
        finally:
            daemon.stop()


if __name__ == "__main__":
    unittest.main()
