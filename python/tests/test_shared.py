# SPDX-License-Identifier: BSD-2-Clause
"""Shared locks (protocol.md §20) from Python: condd.Lock(..., shared=True) and
condd.sync.Lock(..., shared=True): readers together, a writer waits for all of them, no reader
barges past a queued writer, try and timeout, cancel, a killed reader process, and a Condition
refusing a shared lock."""

import asyncio
import os
import subprocess
import sys
import unittest

import condd
import condd.sync
from daemon import DaemonPerClass, until
from test_condd import HERE, DaemonTestCase


class SharedLockTests(DaemonTestCase):
    async def waiters(self, client, want):
        await self.stats_until(client, "lock_waiters", want)

    async def test_readers_hold_together_with_their_own_tokens(self):
        a, b, c = await self.client(), await self.client(), await self.client()
        name = self.name("L")
        readers = [condd.Lock(x, name, shared=True) for x in (a, b, c)]
        for r in readers:
            self.assertTrue(await asyncio.wait_for(r.acquire(), 10))
            self.assertTrue(r.locked())
        tokens = [r.token for r in readers]
        self.assertEqual(tokens, sorted(set(tokens)))  # distinct, increasing in grant order
        self.assertIn("shared", repr(readers[0]))
        stats = await a.stats()
        self.assertEqual(stats.locks_shared, 1)
        self.assertEqual(stats.shared_holders, 3)
        for r in readers:
            r.release()
            self.assertFalse(r.locked())
        await self.stats_until(a, "locks_held", 0)

    async def test_writer_waits_for_every_reader_and_no_reader_barges(self):
        a, b, c = await self.client(), await self.client(), await self.client()
        name = self.name("L")
        r1, r2 = condd.Lock(a, name, shared=True), condd.Lock(b, name, shared=True)
        await r1.acquire()
        await r2.acquire()
        writer = condd.Lock(c, name)
        w = asyncio.create_task(writer.acquire())
        await self.waiters(a, 1)
        late = condd.Lock(a, name, shared=True)  # a reader arriving behind the writer
        lt = asyncio.create_task(late.acquire())
        await self.waiters(a, 2)
        self.assertFalse(await late._acquire(0))  # try: refused, a writer is queued
        r1.release()
        await b.ping()
        await a.ping()
        self.assertFalse(w.done())  # r2 still reads
        self.assertFalse(lt.done())  # and the late reader does not barge past the writer
        r2.release()
        self.assertTrue(await asyncio.wait_for(w, 10))
        self.assertFalse(lt.done())
        self.assertGreater(writer.token, r2.token)
        writer.release()
        self.assertTrue(await asyncio.wait_for(lt, 10))
        self.assertGreater(late.token, writer.token)
        late.release()

    async def test_try_and_timeout(self):
        a, b = await self.client(), await self.client()
        name = self.name("L")
        writer = condd.Lock(a, name)
        await writer.acquire()
        reader = condd.Lock(b, name, shared=True)
        self.assertFalse(await reader._acquire(0))
        self.assertFalse(await reader._acquire(0.05))
        self.assertFalse(reader.locked())
        await self.waiters(a, 0)
        await writer.release_remote()  # another connection than the try: wait for it
        self.assertTrue(await reader._acquire(0))
        other = condd.Lock(a, name, shared=True)
        self.assertTrue(await other._acquire(0))  # held shared, nobody queued: granted
        self.assertFalse(await writer._acquire(0))
        reader.release()
        other.release()

    async def test_cancel_of_a_queued_reader(self):
        a, b = await self.client(), await self.client()
        name = self.name("L")
        writer = condd.Lock(a, name)
        await writer.acquire()
        reader = condd.Lock(b, name, shared=True)
        t = asyncio.create_task(reader.acquire())
        await self.waiters(a, 1)
        t.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await t
        self.assertFalse(reader.locked())
        await self.waiters(a, 0)
        await writer.release_remote()
        self.assertTrue(await reader._acquire(0))
        reader.release()

    async def test_one_shared_lock_object_serves_several_reader_tasks(self):
        # The asyncio pattern `async with rlock:` in each of several tasks, on one object: each
        # task's grant is its own, every exit releases one, and none is left on the server.
        a, b = await self.client(), await self.client()
        name = self.name("L")
        shared = condd.Lock(a, name, shared=True)
        inside = asyncio.Event()
        both_in = []

        async def reader(i):
            async with shared:
                both_in.append(i)
                if len(both_in) == 2:
                    inside.set()
                await inside.wait()  # both hold it at once
            return i

        self.assertEqual(await asyncio.wait_for(asyncio.gather(reader(1), reader(2)), 10),
                         [1, 2])
        self.assertFalse(shared.locked())
        with self.assertRaisesRegex(RuntimeError, "not acquired"):
            shared.release()  # as many releases as grants, no more
        writer = condd.Lock(b, name)
        self.assertTrue(await asyncio.wait_for(writer.acquire(), 10))  # nothing leaked
        writer.release()

    async def test_several_grants_of_one_shared_object_lost_with_the_session(self):
        a = await condd.connect(self.daemon.address)
        shared = condd.Lock(a, self.name("L"), shared=True)
        await shared.acquire()
        await shared.acquire()
        a._transport.abort()  # the session ends (no grace)
        await until(lambda: asyncio.sleep(0, a.closed), what="the loss")
        self.assertFalse(shared.locked())
        for _ in range(2):  # each holder's release says the grant was lost
            with self.assertRaises(condd.ConnectionLost):
                shared.release()
        with self.assertRaisesRegex(RuntimeError, "not acquired"):
            shared.release()
        await a.close()

    async def test_one_exclusive_lock_object_still_queues_its_tasks(self):
        a = await self.client()
        lock = condd.Lock(a, self.name("L"))
        await lock.acquire()
        second = asyncio.create_task(lock.acquire())
        await self.waiters(a, 1)
        lock.release()  # by any task: the second then holds the object's one grant
        self.assertTrue(await asyncio.wait_for(second, 10))
        self.assertTrue(lock.locked())
        lock.release()
        self.assertFalse(lock.locked())
        with self.assertRaisesRegex(RuntimeError, "not acquired"):
            lock.release()

    async def test_condition_refuses_a_shared_lock(self):
        a = await self.client()
        with self.assertRaisesRegex(ValueError, "exclusive"):
            condd.Condition(a, self.name("C"), condd.Lock(a, self.name("L"), shared=True))

    async def test_killed_reader_process_lets_the_writer_in(self):
        name = self.name("L")
        child = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "holder.py"), self.daemon.address, name,
             "shared"],
            stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        try:
            line = await asyncio.to_thread(child.stdout.readline)
            self.assertEqual(line.strip(), b"held")
            a, b = await self.client(), await self.client()
            reader = condd.Lock(a, name, shared=True)
            await reader.acquire()  # together with the child
            writer = condd.Lock(b, name)
            w = asyncio.create_task(writer.acquire())
            await self.waiters(a, 1)
            reader.release()
            await a.ping()
            self.assertFalse(w.done())  # the child still holds it shared
            child.kill()
            self.assertTrue(await asyncio.wait_for(w, 10))
            writer.release()
        finally:
            child.kill()
            child.wait()
            child.stdout.close()


class SyncSharedLockTests(DaemonPerClass, unittest.TestCase):
    def test_sync_shared_lock(self):
        with condd.sync.connect(self.daemon.address) as a, \
                condd.sync.connect(self.daemon.address) as b:
            r1 = condd.sync.Lock(a, "sync.L", shared=True)
            r2 = condd.sync.Lock(b, "sync.L", shared=True)
            self.assertTrue(r1.shared)
            with r1:
                self.assertTrue(r2.acquire(blocking=False))
                self.assertTrue(r2.locked())
                w = condd.sync.Lock(a, "sync.L")
                self.assertFalse(w.acquire(timeout=0.05))
                r2.release_remote()  # another connection: wait until the server has it
            self.assertTrue(w.acquire(blocking=False))
            self.assertFalse(r2.acquire(blocking=False))
            w.release()
            with self.assertRaisesRegex(ValueError, "exclusive"):
                condd.sync.Condition(a, "sync.C", r1)


if __name__ == "__main__":
    unittest.main()
