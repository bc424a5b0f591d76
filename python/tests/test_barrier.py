# SPDX-License-Identifier: BSD-2-Clause
"""condd.Barrier against a live condd: unique indices across clients, reuse across generations,
reset and abort breaking the waiters, abort staying broken until reset, a cancelled wait leaving
without breaking (also when the release raced the Cancel), parties mismatch, local versus server
state, and a killed waiting process."""

import asyncio
import os
import subprocess
import sys
import unittest

import condd
from daemon import until
from test_condd import HERE, DaemonTestCase


class BarrierTests(DaemonTestCase):
    async def waiting_until(self, barrier, want):
        async def ok():
            return (await barrier.state()).n_waiting == want
        await until(ok, what="%s n_waiting == %d" % (barrier.name, want))

    async def test_bad_parties_raise_before_sending(self):
        c = await self.client()
        for bad in (0, -1, 2 ** 31 + 1):
            with self.assertRaises(ValueError, msg=bad):
                condd.Barrier(c, "x", bad)
        with self.assertRaises(TypeError):
            condd.Barrier(c, "x", 1.5)

    async def test_one_party_and_async_with_return_index(self):
        c = await self.client()
        b = condd.Barrier(c, self.name("B"), 1)
        self.assertEqual(await b.wait(), 0)
        async with b as index:
            self.assertEqual(index, 0)
        self.assertEqual(await b.state(), condd.BarrierState(False, 0, 0, False))

    async def test_indices_unique_across_clients_and_generations(self):
        n = 5
        clients = [await self.client() for _ in range(n)]
        name = self.name("B")
        barriers = [condd.Barrier(c, name, n) for c in clients]
        for generation in range(3):
            indices = await asyncio.wait_for(
                asyncio.gather(*(b.wait() for b in barriers)), 10)
            self.assertEqual(sorted(indices), list(range(n)), generation)
            self.assertEqual(await barriers[0].state(), (False, 0, 0, False))

    async def test_local_and_server_state(self):
        a, b = await self.client(), await self.client()
        name = self.name("B")
        ba, bb = condd.Barrier(a, name, 3), condd.Barrier(b, name, 3)
        self.assertEqual((ba.parties, ba.n_waiting, ba.broken), (3, 0, False))
        task = asyncio.create_task(bb.wait())
        await self.waiting_until(ba, 1)
        self.assertEqual(bb.n_waiting, 1)
        self.assertEqual(ba.n_waiting, 0)  # local: another object's waits are not seen
        self.assertEqual(await ba.state(), condd.BarrierState(True, 3, 1, False))
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        self.assertEqual(bb.n_waiting, 0)

    async def test_reset_breaks_waiters_and_leaves_barrier_usable(self):
        a, b, d = await self.client(), await self.client(), await self.client()
        name = self.name("B")
        waiters = [asyncio.create_task(condd.Barrier(c, name, 3).wait()) for c in (a, b)]
        resetter = condd.Barrier(d, name, 3)
        await self.waiting_until(resetter, 2)
        self.assertEqual(await resetter.reset(), 2)
        for t in waiters:
            with self.assertRaises(condd.BrokenBarrierError) as cm:
                await asyncio.wait_for(t, 10)
            self.assertIsInstance(cm.exception, asyncio.BrokenBarrierError)
            self.assertIsInstance(cm.exception, condd.CondDError)
        self.assertFalse(resetter.broken)
        self.assertEqual(await resetter.state(), (False, 0, 0, False))
        indices = await asyncio.wait_for(asyncio.gather(
            *(condd.Barrier(c, name, 3).wait() for c in (a, b, d))), 10)
        self.assertEqual(sorted(indices), [0, 1, 2])

    async def test_abort_breaks_waiters_and_stays_broken_until_reset(self):
        a, b = await self.client(), await self.client()
        name = self.name("B")
        bw = condd.Barrier(a, name, 2)
        task = asyncio.create_task(bw.wait())
        ctl = condd.Barrier(b, name, 2)
        await self.waiting_until(ctl, 1)
        self.assertEqual(await ctl.abort(), 1)
        self.assertTrue(ctl.broken)
        with self.assertRaises(condd.BrokenBarrierError):
            await asyncio.wait_for(task, 10)
        self.assertTrue(bw.broken)
        for _ in range(2):  # new waits, from either client, are refused at once
            for barrier in (bw, ctl):
                with self.assertRaises(asyncio.BrokenBarrierError):
                    await barrier.wait()
        self.assertEqual(await ctl.state(), condd.BarrierState(True, 2, 0, True))
        self.assertEqual(await ctl.abort(), 0)  # aborting a broken barrier: nothing more
        await bw.reset()
        self.assertFalse(bw.broken)
        self.assertEqual(sorted(await asyncio.wait_for(
            asyncio.gather(bw.wait(), ctl.wait()), 10)), [0, 1])
        self.assertFalse(bw.broken)

    async def test_abort_of_absent_barrier_breaks_it(self):
        c = await self.client()
        b = condd.Barrier(c, self.name("B"), 4)
        self.assertEqual(await b.abort(), 0)
        self.assertEqual(await b.state(), (True, 4, 0, True))
        with self.assertRaises(condd.BrokenBarrierError):
            await b.wait()
        await b.reset()
        self.assertEqual(await b.state(), (False, 0, 0, False))

    async def test_cancel_leaves_without_breaking(self):
        a, b = await self.client(), await self.client()
        name = self.name("B")
        others = [condd.Barrier(a, name, 3), condd.Barrier(b, name, 3)]
        first = asyncio.create_task(others[0].wait())
        await self.waiting_until(others[1], 1)
        cancelled = asyncio.create_task(condd.Barrier(b, name, 3).wait())
        await self.waiting_until(others[1], 2)
        cancelled.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await cancelled
        self.assertEqual(await others[1].state(), (True, 3, 1, False))
        # asyncio.wait_for's timeout is a cancellation too
        with self.assertRaises(TimeoutError):
            await asyncio.wait_for(condd.Barrier(b, name, 3).wait(), 0.05)
        self.assertEqual(await others[1].state(), (True, 3, 1, False))
        second = asyncio.create_task(others[1].wait())
        third = condd.Barrier(await self.client(), name, 3)
        await self.waiting_until(third, 2)
        index = await third.wait()
        self.assertEqual(sorted([await first, await second, index]), [0, 1, 2])

    async def test_release_racing_cancel_raises_cancelled_and_releases_the_others(self):
        # One connection keeps requests in order: the filling BarrierWait is processed before
        # the Cancel, which finds nothing pending. As a cancelled asyncio wait, the cancelled
        # task raises CancelledError; its index is spent, the other party is released.
        c = await self.client()
        name = self.name("B")
        b1, b2 = condd.Barrier(c, name, 2), condd.Barrier(c, name, 2)
        t1 = asyncio.create_task(b1.wait())
        await self.waiting_until(b1, 1)
        t2 = asyncio.create_task(b2.wait())
        # One yield: t2 takes its first step (it was scheduled first) and writes its
        # BarrierWait; no answer can be read before this task resumes in the same loop turn.
        await asyncio.sleep(0)
        self.assertEqual(b2.n_waiting, 1)
        t1.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await t1
        self.assertEqual(await asyncio.wait_for(t2, 10), 1)
        self.assertFalse(b1.broken)
        self.assertEqual(await b1.state(), (False, 0, 0, False))

    async def test_parties_mismatch_raises_value_mismatch(self):
        a, b = await self.client(), await self.client()
        name = self.name("B")
        task = asyncio.create_task(condd.Barrier(a, name, 2).wait())
        other = condd.Barrier(b, name, 3)
        await self.waiting_until(other, 1)
        for call in (other.wait, other.reset, other.abort):
            with self.assertRaises(condd.ValueMismatch) as cm:
                await call()
            self.assertIsInstance(cm.exception, ValueError)
        self.assertEqual(await other.state(), (True, 2, 1, False))  # nothing changed
        self.assertEqual(await condd.Barrier(b, name, 2).wait(), 1)
        self.assertEqual(await asyncio.wait_for(task, 10), 0)
        # Once gone, the barrier may be used with other parties.
        self.assertEqual(await condd.Barrier(b, name, 1).wait(), 0)

    async def test_killed_waiting_process_leaves_barrier_unbroken(self):
        name = self.name("B")
        child = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "holder.py"), self.daemon.address, name,
             "barrier:3"],
            stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        try:
            line = await asyncio.to_thread(child.stdout.readline)
            self.assertEqual(line.strip(), b"held")
            c = await self.client()
            barrier = condd.Barrier(c, name, 3)
            mine = asyncio.create_task(barrier.wait())
            await self.waiting_until(barrier, 2)
            child.kill()  # SIGKILL
            await self.waiting_until(barrier, 1)
            self.assertEqual(await barrier.state(), (True, 3, 1, False))
            others = [condd.Barrier(await self.client(), name, 3) for _ in range(2)]
            indices = await asyncio.wait_for(
                asyncio.gather(mine, *(b.wait() for b in others)), 10)
            self.assertEqual(sorted(indices), [0, 1, 2])
        finally:
            child.kill()
            child.wait()
            child.stdout.close()


if __name__ == "__main__":
    unittest.main()
