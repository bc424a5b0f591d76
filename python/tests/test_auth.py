# SPDX-License-Identifier: BSD-2-Clause
"""Tokens, permissions and operator controls from Python (protocol.md §5.8-§5.9) against a
condd started with --auth-file (made here with `condd --hash-token`): connect with token,
token_file and $CONDD_TOKEN_FILE; a wrong or missing token is condd.Unauthenticated; a request
the rules forbid is condd.PermissionDenied and has no effect; a session killed by an operator
fails every pending call once with condd.SessionKilled and holds nothing; a resume is
authenticated with the same token."""

import asyncio
import os
import subprocess
import tempfile
import unittest

import condd
import condd.sync
from daemon import Daemon, Proxy, until

ALICE = "alice_token_0123456789abcdef"  # use on every name
BOB = "bob_token_0123456789abcdefgh"  # read on every name, use on "bob." locks
ROOT = "root_token_0123456789abcdefg"  # admin on everything


def hash_line(name, token):
    out = subprocess.run([os.environ["CONDD"], "--hash-token", name], input=token.encode(),
                         stdout=subprocess.PIPE, check=True)
    return out.stdout.decode().strip()


class AuthTests(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="condd-py-auth.")
        cls.auth_file = os.path.join(cls.dir, "auth")
        with open(cls.auth_file, "w") as f:
            f.write("\n".join([
                hash_line("alice", ALICE), hash_line("bob", BOB), hash_line("root", ROOT),
                "anonymous deny",
                "allow alice use *", "allow bob read *", "allow bob use lock bob.",
                "allow root admin *", ""]))
        cls.token_file = os.path.join(cls.dir, "alice.token")
        with open(cls.token_file, "w") as f:
            f.write(ALICE + "\nignored second line\n")
        cls.daemon = Daemon("--auth-file", cls.auth_file, "--auth-fail-delay", "0")

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        for name in os.listdir(cls.dir):
            os.unlink(os.path.join(cls.dir, name))
        os.rmdir(cls.dir)

    async def connect(self, **kw):
        c = await condd.connect(self.daemon.address, **kw)
        self.addAsyncCleanup(c.close)
        return c

    async def test_token_and_token_file(self):
        a = await self.connect(token=ALICE)
        await a.ping()
        b = await self.connect(token=BOB.encode())
        await b.ping()
        c = await self.connect(token_file=self.token_file)
        lock = condd.Lock(c, "tf.L")
        await lock.acquire()
        lock.release()

    async def test_token_file_from_the_environment(self):
        old = os.environ.get("CONDD_TOKEN_FILE")
        os.environ["CONDD_TOKEN_FILE"] = self.token_file
        try:
            c = await self.connect()
            await c.ping()
            with self.assertRaises(condd.Unauthenticated):  # an explicit token wins
                await condd.connect(self.daemon.address, token="wrong_token_0123456789abc")
        finally:
            if old is None:
                del os.environ["CONDD_TOKEN_FILE"]
            else:
                os.environ["CONDD_TOKEN_FILE"] = old

    async def test_bad_token_file(self):
        with self.assertRaises(FileNotFoundError):
            await condd.connect(self.daemon.address, token_file=self.token_file + ".none")
        empty = os.path.join(self.dir, "empty.token")
        open(empty, "w").close()
        with self.assertRaisesRegex(ValueError, "no token"):
            await condd.connect(self.daemon.address, token_file=empty)

    async def test_unauthenticated(self):
        for kw in ({}, {"token": "nobody_token_0123456789abcdef"}):
            with self.assertRaises(condd.Unauthenticated) as cm:
                await condd.connect(self.daemon.address, **kw)
            self.assertIsInstance(cm.exception, PermissionError)
            self.assertEqual(cm.exception.status, condd.Unauthenticated.status)
            self.assertIn("authentication failed", str(cm.exception))
            self.assertNotIn("nobody_token", str(cm.exception))
        with self.assertRaises(condd.Unauthenticated):
            condd.sync.connect(self.daemon.address, token="nobody_token_0123456789abcdef")

    async def test_permission_denied_has_no_effect(self):
        bob = await self.connect(token=BOB)
        alice = await self.connect(token=ALICE)
        denied = condd.Lock(bob, "pd.L")
        with self.assertRaises(condd.PermissionDenied) as cm:
            await denied.acquire()
        self.assertIsInstance(cm.exception, PermissionError)
        self.assertIn("bob", str(cm.exception))
        self.assertFalse(denied.locked())
        self.assertFalse(await denied.locked_remote())  # read is allowed: nobody holds it
        mine = condd.Lock(alice, "pd.L")
        self.assertTrue(await mine._acquire(0))
        mine.release()
        allowed = condd.Lock(bob, "bob.L")  # the session goes on
        await allowed.acquire()
        allowed.release()
        with self.assertRaises(condd.PermissionDenied):
            await condd.Event(bob, "pd.E").set_remote()
        self.assertFalse(await condd.Event(alice, "pd.E").is_set_remote())

    async def test_session_killed_fails_pending_calls_once(self):
        alice = await self.connect(token=ALICE)
        other = await self.connect(token=ALICE)
        root = await self.connect(token=ROOT)
        states = []
        victim = await self.connect(token=ALICE, on_session=lambda c, s, e: states.append(
            (s, type(e))))
        held = condd.Lock(victim, "sk.L")
        await held.acquire()
        blocker = condd.Lock(other, "sk.M")
        await blocker.acquire()
        waiting = asyncio.create_task(condd.Lock(victim, "sk.M").acquire())
        await until(lambda: self.waiters(alice, 1), what="the acquire queued")
        req = root._request("kill_session")
        req.kill_session.session = victim.session_id
        await root._call_checked(req)
        with self.assertRaises(condd.SessionKilled) as cm:
            await asyncio.wait_for(waiting, 10)
        self.assertIsInstance(cm.exception, condd.ConnectionLost)
        with self.assertRaises(condd.SessionKilled):
            held.release()  # the lock was lost with the session
        with self.assertRaises(condd.ConnectionLost):
            await victim.ping()
        self.assertFalse(held.locked())
        self.assertEqual(states, [("lost", condd.SessionKilled)])
        self.assertTrue(await condd.Lock(alice, "sk.L")._acquire(0))
        blocker.release()

    async def test_resume_is_authenticated_with_the_same_token(self):
        # the server authenticates a resume Hello too (protocol.md §5.8): the client keeps the
        # token for it; without it the resume would be refused (anonymous deny)
        proxy = Proxy(self.daemon.address)
        self.addCleanup(proxy.stop)
        states = []
        a = await self.connect(token=ALICE, grace=30.0, on_session=lambda c, s, e:
                               states.append(s))
        b = await condd.connect(proxy.address, token=ALICE, grace=30.0,
                                on_session=lambda c, s, e: states.append(s))
        self.addAsyncCleanup(b.close)
        self.assertNotIn(ALICE, repr(b))
        held = condd.Lock(b, "ra.L")
        await held.acquire()
        await proxy.cmd("drop")
        await until(lambda: asyncio.sleep(0, states == ["resuming", "resumed"]),
                    what="the resume")
        await b.ping()
        self.assertTrue(held.locked())
        self.assertFalse(await condd.Lock(a, "ra.L")._acquire(0))
        await held.release_remote()
        self.assertTrue(await condd.Lock(a, "ra.L")._acquire(0))

    async def waiters(self, client, n):
        return (await client.stats()).lock_waiters == n


if __name__ == "__main__":
    unittest.main()
