# SPDX-License-Identifier: BSD-2-Clause
"""condd.Semaphore and condd.BoundedSemaphore against a live condd: FIFO across clients,
timeouts through asyncio.wait_for, several permits per object, posted permits, the bounded
refusal, value mismatch, a cancel racing a grant, and a killed holder process."""

import asyncio
import os
import subprocess
import sys
import unittest

import condd
from daemon import Daemon, listing, sem_waiters, until
from test_condd import HERE, DaemonTestCase


class SemaphoreTests(DaemonTestCase):
    async def waiters_until(self, client, name, want):
        async def ok():
            return await sem_waiters(client, name) == want
        await until(ok, what="%s waiters == %d" % (name, want))

    async def test_acquire_release_locked_and_tokens(self):
        c = await self.client()
        sem = condd.Semaphore(c, self.name("S"), 2)
        self.assertFalse(sem.locked())
        self.assertIs(await sem.acquire(), True)
        first = sem.token
        self.assertFalse(sem.locked())
        self.assertFalse(await sem.locked_remote())
        self.assertIs(await sem.acquire(), True)
        self.assertGreater(sem.token, first)
        self.assertEqual(sem.held, 2)
        self.assertTrue(sem.locked())
        self.assertTrue(await sem.locked_remote())
        sem.release()
        sem.release()
        self.assertFalse(await sem.locked_remote())
        self.assertEqual(await listing(c, self.name("S")), (None, None, None, None))

    async def test_async_with(self):
        c = await self.client()
        sem = condd.BoundedSemaphore(c, self.name("S"))
        async with sem as value:
            self.assertIsNone(value)
            self.assertTrue(await sem.locked_remote())
        self.assertFalse(await sem.locked_remote())

    async def test_bad_value_raises_before_sending(self):
        c = await self.client()
        for bad in (0, -1, 2 ** 31 + 1):
            with self.assertRaises(ValueError, msg=bad):
                condd.Semaphore(c, "x", bad)

    async def test_fifo_across_clients(self):
        a, b, d = await self.client(), await self.client(), await self.client()
        name = self.name("S")
        holder = condd.Semaphore(a, name, 2)
        await holder.acquire()
        await holder.acquire()
        order = []

        async def take(client, tag):
            sem = condd.Semaphore(client, name, 2)
            await sem.acquire()
            order.append(tag)
            return sem

        # Each keeps its permit until the end: a release by b right after its grant would
        # hand that permit to d at once, and whether d's grant came before this task looked
        # would be a race (lost more often on uvloop's loop)
        t1 = asyncio.create_task(take(b, "b"))
        await self.waiters_until(a, name, 1)
        t2 = asyncio.create_task(take(d, "d"))
        await self.waiters_until(a, name, 2)
        holder.release()
        first = await asyncio.wait_for(t1, 10)
        self.assertEqual(order, ["b"])
        await self.waiters_until(a, name, 1)  # d still waits: no permit is free
        self.assertEqual(order, ["b"])
        holder.release()
        second = await asyncio.wait_for(t2, 10)
        self.assertEqual(order, ["b", "d"])
        first.release()
        second.release()
        await self.waiters_until(a, name, 0)

    async def test_timeout_through_asyncio_wait_for_leaves_nothing_queued(self):
        a, b = await self.client(), await self.client()
        name = self.name("S")
        await condd.Semaphore(a, name).acquire()
        sem = condd.Semaphore(b, name)
        with self.assertRaises(TimeoutError):
            await asyncio.wait_for(sem.acquire(), 0.1)
        self.assertEqual(sem.held, 0)
        await self.waiters_until(a, name, 0)

    async def test_posted_permit_lets_the_next_acquire_through(self):
        a, b = await self.client(), await self.client()
        name = self.name("S")
        holder = condd.Semaphore(a, name)
        await holder.acquire()
        waiter = condd.Semaphore(b, name)
        task = asyncio.create_task(waiter.acquire())
        await self.waiters_until(a, name, 1)
        poster = condd.Semaphore(a, name)
        poster.release()  # holds nothing: posts a permit
        self.assertTrue(await asyncio.wait_for(task, 10))
        self.assertEqual(holder.held, 1)  # the holder's own permit is untouched
        holder.release()
        waiter.release()
        await b.ping()  # b's SemRelease (another connection than a's List) is processed
        info = (await listing(a, name))[2]
        self.assertEqual(info.counter, 2)  # N + the post: exists until acquired back to N
        await condd.Semaphore(a, name).acquire()

    async def test_bounded_release_too_many_times_raises_locally(self):
        c = await self.client()
        sem = condd.BoundedSemaphore(c, self.name("S"), 2)
        with self.assertRaisesRegex(ValueError, "BoundedSemaphore released too many times"):
            sem.release()
        await sem.acquire()
        sem.release()
        with self.assertRaises(ValueError):
            sem.release()
        await c.ping()
        self.assertFalse(await sem.locked_remote())

    async def test_bounded_server_refuses_foreign_release(self):
        # Below the local check: the server's own refusal (NOT_OWNER) for a bounded semaphore.
        c = await self.client()
        name = self.name("S")
        await condd.BoundedSemaphore(c, name).acquire()
        req = c._request("sem_release")
        req.sem_release.name = name.encode()
        req.sem_release.owner = c._new_owner()
        req.sem_release.value = 1
        req.sem_release.bounded = True
        resp = await c._call(req)
        with self.assertRaisesRegex(condd.NotOwner, "released too many times"):
            c._check(resp)

    async def test_value_mismatch_raises_value_error(self):
        c = await self.client()
        name = self.name("S")
        await condd.Semaphore(c, name, 2).acquire()
        for other in (condd.Semaphore(c, name, 3), condd.BoundedSemaphore(c, name, 2)):
            with self.assertRaises(condd.ValueMismatch) as cm:
                await other.acquire()
            self.assertIsInstance(cm.exception, ValueError)
            self.assertEqual(other.held, 0)

    async def test_cancel_queued_acquire_holds_nothing(self):
        a, b = await self.client(), await self.client()
        name = self.name("S")
        holder = condd.Semaphore(a, name)
        await holder.acquire()
        sem = condd.Semaphore(b, name)
        task = asyncio.create_task(sem.acquire())
        await self.waiters_until(a, name, 1)
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        self.assertEqual(sem.held, 0)
        await self.waiters_until(a, name, 0)
        holder.release()
        self.assertFalse(await holder.locked_remote())

    async def test_cancel_racing_a_grant_is_never_leaked(self):
        # One connection keeps requests in order: the SemRelease (granting the queued acquire)
        # is processed before the Cancel, which finds nothing pending: the grant raced it.
        c = await self.client()
        name = self.name("S")
        holder = condd.Semaphore(c, name)
        await holder.acquire()
        sem = condd.Semaphore(c, name)
        task = asyncio.create_task(sem.acquire())
        await self.waiters_until(c, name, 1)
        holder.release()
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        self.assertEqual(sem.held, 0)
        await c.ping()  # the SemRelease of the raced grant is processed
        self.assertFalse(await holder.locked_remote())
        self.assertEqual(await listing(c, name), (None, None, None, None))

    async def test_killed_holder_process_returns_its_permits(self):
        name = self.name("S")
        child = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "holder.py"), self.daemon.address, name,
             "sem:3:2"],
            stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        try:
            line = await asyncio.to_thread(child.stdout.readline)
            self.assertEqual(line.strip(), b"held")
            c = await self.client()
            sem = condd.Semaphore(c, name, 3)
            await sem.acquire()
            self.assertTrue(await sem.locked_remote())
            waiters = [asyncio.create_task(condd.Semaphore(c, name, 3).acquire())
                       for _ in range(2)]
            await self.waiters_until(c, name, 2)
            child.kill()
            self.assertEqual(await asyncio.wait_for(asyncio.gather(*waiters), 10),
                             [True, True])
        finally:
            child.kill()
            child.wait()
            child.stdout.close()

    async def test_connection_lost_while_holding(self):
        daemon = Daemon()
        try:
            c = await condd.connect(daemon.address)
            sem = condd.BoundedSemaphore(c, "S", 2)
            await sem.acquire()
            daemon.kill()
            await until(lambda: asyncio.sleep(0, c.closed), what="the loss is seen")
            self.assertEqual(sem.held, 0)
            with self.assertRaises(condd.ConnectionLost):
                sem.release()
            with self.assertRaises(ValueError):
                sem.release()
            await c.close()
        finally:
            daemon.stop()


if __name__ == "__main__":
    unittest.main()
