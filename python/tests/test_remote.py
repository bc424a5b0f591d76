# SPDX-License-Identifier: BSD-2-Clause
"""The *_remote() twins of asyncio's synchronous methods against a live condd: Lock and
Condition release_remote(), Condition notify_remote() and notify_all_remote() (woken counts),
Event set_remote() (woken count) and clear_remote(), Semaphore and BoundedSemaphore
release_remote(): each returns the server's answer, and raises the package's exception for the
server's error, after the same local checks as its synchronous twin."""

import asyncio
import unittest

import condd
from daemon import listing
from test_condd import DaemonTestCase


class LockReleaseRemoteTests(DaemonTestCase):
    async def test_release_remote_releases_before_returning(self):
        a, b = await self.client(), await self.client()
        lock = condd.Lock(a, self.name("L"))
        await lock.acquire()
        self.assertTrue(await condd.Lock(b, self.name("L")).locked_remote())
        self.assertIsNone(await lock.release_remote())
        self.assertFalse(lock.locked())
        # The answer came back: another connection sees the lock free with no round trip of a.
        self.assertFalse(await condd.Lock(b, self.name("L")).locked_remote())

    async def test_release_remote_hands_over_to_the_next_waiter(self):
        a, b = await self.client(), await self.client()
        lock = condd.Lock(a, self.name("L"))
        await lock.acquire()
        waiter = asyncio.create_task(condd.Lock(b, self.name("L")).acquire())
        await self.stats_until(a, "lock_waiters", 1)
        await lock.release_remote()
        self.assertTrue(await asyncio.wait_for(waiter, 10))

    async def test_release_remote_local_checks(self):
        c = await self.client()
        lock = condd.Lock(c, self.name("L"))
        with self.assertRaises(RuntimeError):
            await lock.release_remote()
        await lock.acquire()
        await c.close()
        with self.assertRaises(condd.ConnectionLost):
            await lock.release_remote()

    async def test_release_remote_raises_the_servers_not_owner(self):
        c = await self.client()
        lock = condd.Lock(c, self.name("L"))
        await lock.acquire()
        # An object that believes it holds a grant the server never gave (white box: the only
        # way a live session can send a Release the server refuses).
        stray = condd.Lock(c, self.name("L"))
        stray._granted(c._new_owner(), None)
        with self.assertRaises(condd.NotOwner) as cm:
            await stray.release_remote()
        self.assertEqual(cm.exception.status, condd.NotOwner.status)
        self.assertTrue(await lock.locked_remote())  # the real holder still holds it
        await lock.release_remote()

    async def test_condition_release_remote_is_its_locks(self):
        c = await self.client()
        cond = condd.Condition(c, self.name("C"))
        await cond.acquire()
        await cond.release_remote()
        self.assertFalse(await cond.lock.locked_remote())
        with self.assertRaises(RuntimeError):
            await cond.release_remote()


class NotifyRemoteTests(DaemonTestCase):
    async def waiters(self, client, n):
        cond = condd.Condition(client, self.name("C"))

        async def waiter():
            async with cond:
                await cond.wait()
        return [asyncio.create_task(waiter()) for _ in range(n)]

    async def test_notify_remote_returns_woken_count(self):
        a, b = await self.client(), await self.client()
        tasks = await self.waiters(b, 3)
        await self.stats_until(a, "condition_waiters", 3)
        cond = condd.Condition(a, self.name("C"))
        async with cond:
            self.assertEqual(await cond.notify_remote(2), 2)
            self.assertEqual(await cond.notify_remote(5), 1)
            self.assertEqual(await cond.notify_remote(), 0)
        await asyncio.wait_for(asyncio.gather(*tasks), 10)

    async def test_notify_all_remote_returns_woken_count(self):
        a, b = await self.client(), await self.client()
        tasks = await self.waiters(b, 2)
        await self.stats_until(a, "condition_waiters", 2)
        cond = condd.Condition(a, self.name("C"))
        async with cond:
            self.assertEqual(await cond.notify_all_remote(), 2)
            self.assertEqual(await cond.notify_all_remote(), 0)
        await asyncio.wait_for(asyncio.gather(*tasks), 10)

    async def test_notify_remote_without_lock_raises_before_sending(self):
        c = await self.client()
        cond = condd.Condition(c, self.name("C"))
        with self.assertRaises(RuntimeError):
            await cond.notify_remote()
        with self.assertRaises(RuntimeError):
            await cond.notify_all_remote()

    async def test_notify_remote_raises_the_servers_lock_mismatch(self):
        a, b = await self.client(), await self.client()
        tasks = await self.waiters(b, 1)  # binds the condition to its default lock
        await self.stats_until(a, "condition_waiters", 1)
        other = condd.Condition(a, self.name("C"), condd.Lock(a, self.name("other")))
        async with other:
            with self.assertRaises(condd.LockMismatch):
                await other.notify_remote()
            with self.assertRaises(condd.LockMismatch):
                await other.notify_all_remote()
        # Nothing was woken: the waiter is still queued.
        self.assertEqual((await listing(a, self.name("C")))[1].waiters, 1)
        cond = condd.Condition(a, self.name("C"))
        async with cond:
            self.assertEqual(await cond.notify_remote(), 1)
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


class EventRemoteTests(DaemonTestCase):
    async def test_set_remote_returns_woken_count_and_clear_remote(self):
        a, b = await self.client(), await self.client()
        ev = condd.Event(a, self.name("E"))
        tasks = [asyncio.create_task(condd.Event(b, self.name("E")).wait()) for _ in range(2)]
        await self.stats_until(a, "event_waiters", 2)
        self.assertEqual(await ev.set_remote(), 2)
        self.assertTrue(ev.is_set())
        self.assertEqual(await ev.set_remote(), 0)  # already set
        self.assertEqual(await asyncio.wait_for(asyncio.gather(*tasks), 10), [True, True])
        self.assertIsNone(await ev.clear_remote())
        self.assertFalse(ev.is_set())
        self.assertFalse(await condd.Event(b, self.name("E")).is_set_remote())

    async def test_set_remote_and_clear_remote_raise_bad_request(self):
        c = await self.client()
        ev = condd.Event(c, "bad\x01name")  # a control character: the server's BAD_REQUEST
        with self.assertRaises(condd.BadRequest):
            await ev.set_remote()
        self.assertFalse(ev.is_set())  # refused: the local state did not change
        with self.assertRaises(condd.BadRequest):
            await ev.clear_remote()


class SemaphoreReleaseRemoteTests(DaemonTestCase):
    async def test_release_remote_returns_a_held_permit(self):
        a, b = await self.client(), await self.client()
        sem = condd.Semaphore(a, self.name("S"), 1)
        await sem.acquire()
        waiter = asyncio.create_task(condd.Semaphore(b, self.name("S"), 1).acquire())
        await self.stats_until(a, "semaphore_waiters", 1)
        self.assertIsNone(await sem.release_remote())
        self.assertEqual(sem.held, 0)
        self.assertTrue(await asyncio.wait_for(waiter, 10))

    async def test_release_remote_posts_when_holding_none(self):
        a, b = await self.client(), await self.client()
        holder = condd.Semaphore(b, self.name("S"), 1)
        await holder.acquire()
        poster = condd.Semaphore(a, self.name("S"), 1)
        self.assertIsNone(await poster.release_remote())
        self.assertFalse(await poster.locked_remote())  # the posted permit is free

    async def test_release_remote_raises_the_servers_value_mismatch(self):
        a, b = await self.client(), await self.client()
        holder = condd.Semaphore(b, self.name("S"), 2)
        await holder.acquire()
        with self.assertRaises(condd.ValueMismatch):
            await condd.Semaphore(a, self.name("S"), 3).release_remote()
        with self.assertRaises(condd.ValueMismatch):  # same value, other kind
            bounded = condd.BoundedSemaphore(a, self.name("S"), 2)
            bounded._owners.append(a._new_owner())  # white box: a permit it does not hold
            await bounded.release_remote()

    async def test_bounded_release_remote_local_checks(self):
        c = await self.client()
        sem = condd.BoundedSemaphore(c, self.name("B"), 2)
        with self.assertRaises(ValueError):
            await sem.release_remote()
        await sem.acquire()
        self.assertIsNone(await sem.release_remote())
        with self.assertRaises(ValueError):
            await sem.release_remote()
        await sem.acquire()
        await c.close()
        with self.assertRaises(condd.ConnectionLost):
            await sem.release_remote()


if __name__ == "__main__":
    unittest.main()
