# SPDX-License-Identifier: BSD-2-Clause
"""Acknowledged delivery from Python (protocol.md §5.6.2; connect(grace=...) asks for it).

Against a scripted server (FakeServer: the frames of the protocol, nothing else), what the
client puts on the wire: the Hello asks for acks only when it may resume; every request acks
the counted Responses received; on a resume the Hello acks alone, and after its HelloResult the
requests numbered above requests_received go out again, in order, with their ids, before those
made while resuming; an older server's HelloResult (no acks) leaves the client as it was; a
count the client cannot have written loses the session.

Against condd through tests/blipproxy: an acquire granted while the proxy stalls returns once
after a reset, holding the lock with the server's token; requests written while stalled (never
read) are sent again and each applied once; a resume refused because the server dropped an
answer the client lacked loses the session once for every pending call."""

import asyncio
import struct
import unittest

import condd
from condd import _proto
from daemon import until

pb = _proto.pb


class FakeServer:
    """A listening socket that speaks only frames: each accepted connection's Requests go to
    self.requests as (connection number, Request); send() answers on the latest connection,
    cut() resets it. Connections are numbered from 1."""

    def __init__(self):
        self.requests = asyncio.Queue()
        self.writers = []
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
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

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

    async def test_a_count_the_client_never_wrote_loses_the_session(self):
        _, client = await self.open(grace=30.0)
        _, fut = self.ping(client)
        await self.server.next()
        self.server.cut()
        resume = await self.server.next(2)
        self.server.hello_result(resume, resumed=True, requests_received=2)
        with self.assertRaises(condd.SessionLost):
            await asyncio.wait_for(fut, 10)
        self.assertEqual(client.session_state, "lost")



if __name__ == "__main__":
    unittest.main()
