# SPDX-License-Identifier: BSD-2-Clause
"""Acknowledged delivery from Python (protocol.md §5.6.2; connect(grace=...) asks for it).

Against a scripted server (FakeServer: the frames of the protocol, nothing else), what the
client puts on the wire: the Hello asks for acks only when it may resume; every request acks
the counted Responses received; on a resume the Hello acks alone, and after its HelloResult the
requests numbered above requests_received go out again, in order, with their ids, before those
made while resuming; an older server's HelloResult (no acks) leaves the client as it was, and
a resume without acks turns them off; a count the client cannot have written (above what it
wrote, below what was answered) loses the session, after a Goodbye on the connection the server
resumed it on, and a refused resume loses it with no Goodbye.

Against condd through tests/blipproxy: an acquire granted while the proxy stalls returns once
after a reset, holding the lock with the server's token; requests written while stalled (never
read) are sent again and each applied once; a resume refused because the server dropped an
answer the client lacked loses the session once for every pending call. And without the
proxy: requests written across a live restart (SIGUSR2) each run once."""

import asyncio
import os
import signal
import struct
import unittest

import condd
from condd import _proto
from daemon import Daemon, Proxy, listing, until

pb = _proto.pb


class FakeServer:
    """A listening socket that speaks only frames: each accepted connection's Requests go to
    self.requests as (connection number, Request); send() answers on the latest connection,
    cut() resets it. Connections are numbered from 1."""

    def __init__(self):
        self.requests = asyncio.Queue()
        self.writers = []
        self.ends = {}  # connection number -> "eof" (a FIN after whole frames) or why not
        self.server = None

    async def start(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.address = "127.0.0.1:%d" % self.server.sockets[0].getsockname()[1]

    async def stop(self):
        for w in self.writers:
            w.transport.abort()
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader, writer):
        self.writers.append(writer)
        n = len(self.writers)
        try:
            while True:
                (length,) = struct.unpack(">I", await reader.readexactly(4))
                req = pb.Request.FromString(await reader.readexactly(length))
                await self.requests.put((n, req))
        except asyncio.IncompleteReadError as e:
            self.ends[n] = "a frame cut short" if e.partial else "eof"
        except ConnectionError as e:
            self.ends[n] = repr(e)

    async def next(self, conn=None):
        """The next Request read, checked to come on connection conn (default: the latest)."""
        n, req = await asyncio.wait_for(self.requests.get(), 10)
        assert n == (conn or len(self.writers)), "request on connection %d" % n
        return req

    def send(self, resp, conn=None):
        """Writes resp on connection conn (default: the latest)."""
        payload = resp.SerializeToString()
        self.writers[(conn or len(self.writers)) - 1].write(struct.pack(">I", len(payload))
                                                            + payload)

    def answer(self, req, conn=None):
        """An OK answer of req's kind (a Ping's, here)."""
        resp = pb.Response(id=req.id)
        getattr(resp, req.WhichOneof("body")).SetInParent()
        self.send(resp, conn)

    def hello_result(self, req, acks=True, resumed=False, requests_received=0):
        """The answer to Hello req; acks: offered if asked for (a resume: on)."""
        resp = pb.Response(id=req.id)
        h = resp.hello
        h.session_id = 7
        h.session_timeout_s = 300.0  # no keep-alive ping within a test
        h.server_version = "fake"
        if req.hello.grace_s > 0 or resumed:
            h.resume_secret = b"s" * 32
            h.grace_s = 30.0
        h.acks = acks and (resumed or req.hello.acks)
        h.resumed = resumed
        h.requests_received = requests_received
        self.send(resp)

    def cut(self):
        self.writers[-1].transport.abort()

    async def ended(self, conn):
        """How the client ended connection conn ("eof": closed after whole frames)."""
        await until(lambda: asyncio.sleep(0, conn in self.ends), what="the end of the connection")
        return self.ends[conn]


class WireTests(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.server = FakeServer()
        await self.server.start()
        self.addAsyncCleanup(self.server.stop)

    async def open(self, acks=True, **kw):
        task = asyncio.create_task(condd.connect(self.server.address, **kw))
        hello = await self.server.next()
        self.server.hello_result(hello, acks=acks)
        client = await asyncio.wait_for(task, 10)
        self.addAsyncCleanup(self.close, client)
        return hello, client

    async def close(self, client):
        task = asyncio.create_task(client.close())
        while not task.done():  # answer the Goodbye, if one comes
            get = asyncio.create_task(self.server.requests.get())
            await asyncio.wait((task, get), return_when=asyncio.FIRST_COMPLETED)
            if not get.done():
                get.cancel()
            elif get.result()[1].WhichOneof("body") == "goodbye":
                self.server.answer(get.result()[1], get.result()[0])
        await task

    def ping(self, client):
        """Sends a Ping; (its id, the future of its answer)."""
        req = client._request("ping")
        return req.id, client._send(req)

    async def test_open_asks_again_when_the_server_closes_before_answering_hello(self):
        # Not acks, but the same scripted server serves: a live restart closes connections it
        # accepted but had not read; the client opens again with the same Hello, twice at
        # most, then gives up with ConnectionLost.
        task = asyncio.create_task(condd.connect(self.server.address))
        first = await self.server.next()
        self.server.cut()
        again = await self.server.next()
        self.assertEqual(again.WhichOneof("body"), "hello")
        self.assertEqual(again.hello.client_name, first.hello.client_name)
        self.server.hello_result(again, acks=False)
        client = await asyncio.wait_for(task, 10)
        self.addAsyncCleanup(self.close, client)
        self.assertEqual(client.session_id, 7)
        task = asyncio.create_task(condd.connect(self.server.address))
        for _ in range(3):
            self.assertEqual((await self.server.next()).WhichOneof("body"), "hello")
            self.server.cut()
        with self.assertRaises(condd.ConnectionLost) as caught:
            await asyncio.wait_for(task, 10)
        self.assertIs(type(caught.exception), condd.ConnectionLost)

    async def test_hello_asks_for_acks_only_when_it_may_resume(self):
        hello, client = await self.open(grace=30.0)
        self.assertTrue(hello.hello.acks)
        self.assertEqual(hello.hello.grace_s, 30.0)
        self.assertTrue(client.acks)
        for kw in (dict(grace=30.0, reconnect=False), dict()):
            hello, other = await self.open(**kw)
            self.assertFalse(hello.hello.acks, kw)
            self.assertFalse(other.acks, kw)

    async def test_every_request_acks_the_counted_responses_received(self):
        _, client = await self.open(grace=30.0)
        sent = [self.ping(client) for _ in range(3)]
        futs = [f for _, f in sent]
        reqs = [await self.server.next() for _ in range(3)]
        self.assertEqual([r.id for r in reqs], [i for i, _ in sent])
        self.assertEqual([r.ack for r in reqs], [0, 0, 0])  # the HelloResult is not counted
        self.server.answer(reqs[0])
        self.server.answer(reqs[1])
        await asyncio.wait_for(futs[1], 10)
        _, fut = self.ping(client)
        self.assertEqual((await self.server.next()).ack, 2)
        self.server.send(pb.Response(id=reqs[2].id, status=pb.STATUS_NOT_FOUND,
                                     message="an error answer counts too"))
        await asyncio.wait_for(futs[2], 10)
        self.ping(client)
        req = await self.server.next()
        self.assertEqual(req.ack, 3)
        self.server.answer(req)
        self.assertFalse(fut.done())  # the one whose answer never came

    async def test_resume_sends_again_what_the_server_did_not_read(self):
        states = []
        _, client = await self.open(grace=30.0, on_session=lambda c, s, e: states.append(s))
        futs = [self.ping(client)[1] for _ in range(4)]
        reqs = [await self.server.next() for _ in range(4)]
        self.server.answer(reqs[0])
        await asyncio.wait_for(futs[0], 10)
        self.server.cut()  # as if the server had read 2 of the 4 and answered 2
        await until(lambda: asyncio.sleep(0, client.session_state == "resuming"),
                    what="resuming")
        during_id, during = self.ping(client)  # made while resuming: after the ones sent again
        resume = await self.server.next(2)
        self.assertEqual(resume.hello.resume_session, 7)
        self.assertEqual(resume.hello.resume_secret, b"s" * 32)
        self.assertEqual(resume.ack, 1)
        # the resume Hello goes alone: a frame written behind it before its answer would be
        # read before the ones sent again below
        self.server.hello_result(resume, resumed=True, requests_received=2)
        self.server.answer(reqs[1])  # written to the old connection, never delivered
        again = [await self.server.next(2) for _ in range(3)]
        self.assertEqual([r.id for r in again], [reqs[2].id, reqs[3].id, during_id])
        self.assertEqual([r.ack for r in again[:2]], [0, 0])  # the copies, as first written
        self.assertEqual((await asyncio.wait_for(futs[1], 10)).status, pb.STATUS_OK)
        for r in again:
            self.server.answer(r)
        for f in (futs[2], futs[3], during):
            self.assertEqual((await asyncio.wait_for(f, 10)).status, pb.STATUS_OK)
        self.assertEqual(client._written, 5)  # 2 read before, 3 read after the resume
        self.assertEqual(client._acked, 5)
        self.assertEqual(len(client._copies), 0)
        self.ping(client)
        self.assertEqual((await self.server.next(2)).ack, 5)
        self.assertEqual(states, ["resuming", "resumed"])

    async def test_resume_from_a_server_without_acks_sends_nothing_again(self):
        _, client = await self.open(grace=30.0, acks=False)
        self.assertFalse(client.acks)
        first, fut = self.ping(client)
        self.assertEqual((await self.server.next()).ack, 0)
        self.server.cut()
        resume = await self.server.next(2)
        self.assertEqual(resume.ack, 0)
        self.server.hello_result(resume, acks=False, resumed=True)
        self.ping(client)
        after = await self.server.next(2)  # the ping in the old kernel buffer is not resent
        self.assertNotEqual(after.id, first)
        self.assertFalse(fut.done())

    async def test_a_resume_without_acks_turns_them_off(self):
        # a live restart into a condd that predates acks: the session goes on without them
        _, client = await self.open(grace=30.0)
        first, fut = self.ping(client)
        await self.server.next()
        self.server.cut()
        resume = await self.server.next(2)
        with self.assertLogs("condd", "WARNING") as logs:
            self.server.hello_result(resume, acks=False, resumed=True, requests_received=0)
            await until(lambda: asyncio.sleep(0, client.session_state == "open"),
                        what="resumed")
        self.assertIn("without acknowledged delivery", logs.output[0])
        self.assertFalse(client.acks)
        i, after = self.ping(client)
        req = await self.server.next(2)  # the first ping is not sent again: undecided (§5.6)
        self.assertEqual((req.id, req.ack), (i, 0))
        self.server.answer(req)
        await asyncio.wait_for(after, 10)
        self.assertFalse(fut.done())

    async def resume_then_lost(self, answer, answered=False):
        """A client with one ping pending (and, if answered, one answered before it) loses its
        connection; answer(resume Hello) replies on the new one. The session must be lost:
        the pending ping fails with SessionLost, on_session says "lost" once."""
        states = []
        _, client = await self.open(grace=30.0, on_session=lambda c, s, e: states.append(s))
        if answered:
            _, done = self.ping(client)
            self.server.answer(await self.server.next())
            await asyncio.wait_for(done, 10)
        _, fut = self.ping(client)
        await self.server.next()
        self.server.cut()
        resume = await self.server.next(2)
        self.assertEqual(resume.hello.resume_session, 7)
        answer(resume)
        with self.assertRaises(condd.SessionLost):
            await asyncio.wait_for(fut, 10)
        self.assertEqual(client.session_state, "lost")
        self.assertEqual(states, ["resuming", "lost"])
        return client

    async def goodbye_then_eof(self):
        """What a client that refuses a resumed session writes on its connection (2): a
        Goodbye (not waiting for its answer), then end-of-file."""
        bye = await self.server.next(2)
        self.assertEqual(bye.WhichOneof("body"), "goodbye")
        self.assertEqual(await self.server.ended(2), "eof")
        self.assertTrue(self.server.requests.empty())

    async def test_a_count_the_client_never_wrote_loses_the_session(self):
        # the server resumed the session on the new connection: the client that gives it up
        # says Goodbye there, so that the server hands its locks on now, not after the grace
        await self.resume_then_lost(
            lambda hello: self.server.hello_result(hello, resumed=True, requests_received=2))
        await self.goodbye_then_eof()

    async def test_a_count_below_what_was_answered_says_goodbye(self):
        # one ping was answered, so the server read at least 1
        await self.resume_then_lost(
            lambda hello: self.server.hello_result(hello, resumed=True, requests_received=0),
            answered=True)
        await self.goodbye_then_eof()

    async def test_a_refused_resume_closes_without_goodbye(self):
        # RESUME_FAILED: no session on the connection, nothing to end there
        await self.resume_then_lost(lambda hello: self.server.send(pb.Response(
            id=hello.id, status=pb.STATUS_RESUME_FAILED, message="cannot resume")))
        self.assertEqual(await self.server.ended(2), "eof")
        self.assertTrue(self.server.requests.empty())


class DaemonTests(unittest.IsolatedAsyncioTestCase):
    """Against condd through tests/blipproxy: stall holds every byte in the proxy, reset
    then loses them with both connections."""

    async def asyncSetUp(self):
        self.prefix = self.id().rsplit(".", 1)[-1]
        self.states = []

    async def start(self, *args):
        """A condd (with args), a proxy in front of it, and a client on it directly."""
        self.daemon = Daemon(*args)
        self.addCleanup(self.daemon.stop)
        self.proxy = Proxy(self.daemon.address)
        self.addCleanup(self.proxy.stop)
        self.direct = await condd.connect(self.daemon.address)
        self.addAsyncCleanup(self.direct.close)

    def name(self, what):
        return "%s.%s" % (self.prefix, what)

    async def resumable(self):
        """A client through the proxy with a grace, and acks on; the results of the
        Responses it receives, in order, in its .results."""
        c = await condd.connect(self.proxy.address, grace=30.0, on_session=(
            lambda c, state, exc: self.states.append(state)))
        self.addAsyncCleanup(c.close)
        self.assertTrue(c.acks)
        c.results = []
        deliver = c._deliver

        def recording(resp):
            c.results.append(resp.WhichOneof("result") or resp.status)
            return deliver(resp)
        c._deliver = recording
        return c

    async def lock_info(self, name):
        return (await listing(self.direct, self.name(name)))[0]

    async def held_by(self, name, session):
        """Waits until lock name is held by session; its LockInfo."""
        async def held():
            info = await self.lock_info(name)
            return info is not None and info.held and info.holder_session == session
        await until(held, what="%s held by session %d" % (name, session))
        return await self.lock_info(name)

    async def waiters(self, name, n):
        async def queued():
            info = await self.lock_info(name)
            return info is not None and info.waiters == n
        await until(queued, what="%d waiting on %s" % (n, name))

    async def all_written(self, c):
        """Waits until c has handed every request to the kernel."""
        await until(lambda: asyncio.sleep(0, not c._wbuf and not c._held_frames
                                          and c._transport.get_write_buffer_size() == 0),
                    what="the requests written")

    async def outcome(self, task):
        """task's result (or exception) once done; AssertionError if it is not done within
        10 s. Not wait_for(): cancelling an acquire whose answer never comes waits for it."""
        await asyncio.wait([task], timeout=10)
        self.assertTrue(task.done(), "%r not done" % task)
        return task.result()

    async def blip(self):
        """Resets both connections of the stalled proxy and lets the reconnect through."""
        await self.proxy.cmd("reset")
        await self.proxy.cmd("flow")

    async def test_acquire_granted_while_stalled_returns_once_after_a_reset(self):
        await self.start()
        a = await self.resumable()
        blocker = condd.Lock(self.direct, self.name("L"))
        await blocker.acquire()
        lock = condd.Lock(a, self.name("L"))
        task = asyncio.create_task(lock.acquire())
        await self.waiters("L", 1)
        await self.proxy.cmd("stall")
        blocker.release()  # granted; the answer is written to the stalled proxy
        info = await self.held_by("L", a.session_id)
        self.assertGreater(info.token, blocker.token)
        await self.blip()
        self.assertTrue(await self.outcome(task))
        self.assertEqual(self.states, ["resuming", "resumed"])
        self.assertTrue(lock.locked())
        self.assertEqual(lock.token, info.token)  # the server's grant, not another one
        await a.ping()  # a barrier: any second answer to the acquire would be in by now
        self.assertEqual(a.results.count("acquire"), 1)
        self.assertEqual(a._orphans, {})
        info = await self.lock_info("L")
        self.assertEqual((info.holder_session, info.token, len(info.holders)),
                         (a.session_id, lock.token, 1))
        self.assertFalse(await blocker._acquire(0))
        await lock.release_remote()
        self.assertTrue(await blocker._acquire(0))
        blocker.release()

    async def test_requests_written_while_stalled_are_sent_again_and_applied_once(self):
        await self.start()
        a = await self.resumable()
        sem = condd.Semaphore(a, self.name("S"))
        await sem.acquire()  # read and answered before the stall
        token = sem.token
        await self.proxy.cmd("stall")
        for _ in range(3):
            sem.release()  # one permit back, then two posts
        lock = condd.Lock(a, self.name("M"))
        task = asyncio.create_task(lock.acquire())
        ping = asyncio.create_task(a.ping())
        await self.all_written(a)
        # they are in the stalled proxy: none has reached the server
        sinfo = (await listing(self.direct, self.name("S")))[2]
        self.assertEqual((sinfo.counter, len(sinfo.holders)), (0, 1))
        self.assertIsNone(await self.lock_info("M"))
        await self.blip()
        self.assertTrue(await self.outcome(task))
        await self.outcome(ping)
        self.assertEqual(self.states, ["resuming", "resumed"])
        await a.ping()
        self.assertEqual([r for r in a.results if r != "ping"],
                         ["sem_acquire", "hello"] + ["sem_release"] * 3 + ["acquire"])
        sinfo = (await listing(self.direct, self.name("S")))[2]
        self.assertEqual((sinfo.counter, len(sinfo.holders)), (3, 0))  # 1 + 2, each once
        info = await self.lock_info("M")
        self.assertEqual((info.holder_session, info.token, len(info.holders)),
                         (a.session_id, lock.token, 1))
        self.assertGreater(lock.token, token)
        await lock.release_remote()

    async def test_a_dropped_answer_fails_the_resume_once_for_every_pending_call(self):
        # the server keeps at most 2 answers the client has not acked; over that while
        # connected it drops the oldest, and a resume that lacks it must fail
        await self.start("--max-buffered-answers", "2")
        a = await self.resumable()
        names = ["L%d" % i for i in range(4)] + ["X"]
        blockers = [condd.Lock(self.direct, self.name(n)) for n in names]
        for b in blockers:
            await b.acquire()
        tasks = [asyncio.create_task(condd.Lock(a, self.name(n)).acquire()) for n in names]
        for n in names:
            await self.waiters(n, 1)
        await self.proxy.cmd("stall")
        for b in blockers[:4]:
            b.release()  # 4 grants written to the stalled proxy; X stays pending
        for n in names[:4]:
            await self.held_by(n, a.session_id)
        await self.blip()
        for t in tasks:
            with self.assertRaises(condd.ResumeFailed):
                await self.outcome(t)
        self.assertEqual(self.states, ["resuming", "lost"])
        self.assertTrue(a.closed)
        # no answer came before the stall (keep-alive pings aside), nothing after it but this
        self.assertEqual([r for r in a.results if r != "ping"], [pb.STATUS_RESUME_FAILED])
        # the session ended: the grants went back (X's queued acquire left its queue)
        async def ended():
            st = await self.direct.stats()
            return st.detached_sessions == 0 and st.sessions == 1
        await until(ended, what="the session ended")
        for b in blockers[:4]:
            self.assertTrue(await b._acquire(0))
        self.assertEqual((await self.lock_info("X")).waiters, 0)

    async def test_requests_written_across_a_live_restart_each_run_once(self):
        # SIGUSR2 (condd.8, LIVE RESTART): the old process does not wait for an acks client;
        # the requests it wrote after the end of the stream are not read, and the resume says
        # which to send again
        self.daemon = Daemon()
        self.addCleanup(self.daemon.stop)
        a = await condd.connect(self.daemon.address, grace=30.0, on_session=(
            lambda c, state, exc: self.states.append(state)))
        self.addAsyncCleanup(a.close)
        self.assertTrue(a.acks)
        sem = condd.Semaphore(a, self.name("S"))
        await sem.acquire()
        posts = [condd.Semaphore(a, self.name("S")) for _ in range(300)]
        os.kill(self.daemon.proc.pid, signal.SIGUSR2)
        for p in posts:  # written before, during and after the half-close
            p.release()
            await asyncio.sleep(0)
        await until(lambda: asyncio.sleep(0, self.states == ["resuming", "resumed"]), 20,
                    what="resumed after the restart")
        await a.ping()  # every post answered by now
        observer = await condd.connect(self.daemon.address)
        self.addAsyncCleanup(observer.close)
        self.assertEqual((await observer.stats()).restarts, 1)
        info = (await listing(observer, self.name("S")))[2]
        self.assertEqual((info.counter, [h.session for h in info.holders]),
                         (300, [a.session_id]))  # each post once
        await sem.release_remote()


if __name__ == "__main__":
    unittest.main()
