# SPDX-License-Identifier: BSD-2-Clause
"""Several servers from Python (protocol.md §21; condd/route.py, condd/cluster.py): the §21.3
test vectors, the server-list grammar and its errors, rendezvous hashing moving names only to
an added server, and against three daemons on ephemeral loopback ports: every primitive's name
on the server the rule picks (checked with each daemon's List), a Condition on its lock's
server, connections opened lazily, one per server, a failure of one server failing only its
names, a blip of one server resumed by its session alone, List and Stats fanned out, condd.sync; and all of it again against daemons started
with --cluster LIST --cluster-self ADDR (which refuse a name routed to the wrong server), with
WrongServer, naming the right server, for a client whose list differs."""

import asyncio
import os
import signal
import threading
import time
import unittest
from unittest import mock

import condd
import condd.sync
from condd import route
from daemon import Daemon, Proxy, cluster, until

# protocol.md §21.3
VECTOR_SERVERS = ("10.0.0.1:7380", "10.0.0.2:7380", "10.0.0.3:7380")
VECTORS = [
    ("jobs", ("98bdc91934f26c41", "3c996f9e0d31aa9f", "76c2b6f7543c179b"), 0),
    ("orders/42", ("2cfc4f9fcebc21d2", "b368c6d2a1b1c1e8", "3901b34576772f16"), 1),
    ("x", ("2a2d586f9f0c6264", "acaad778f2fa6437", "07297c5293752506"), 1),
    ("\u00e9t\u00e9", ("46fb22b52d41ac70", "192c08cda4bf3068", "37cf3db1e6beeb02"), 0),
    ("lock-0001", ("100d3f5006883212", "da9e0ece2b5968db", "102bffe34390b196"), 1),
]


class RoutingRuleTests(unittest.TestCase):
    def test_vectors(self):
        for spelling in (",".join(VECTOR_SERVERS), "10.0.0.1:7380, 10.0.0.2,tls:10.0.0.3:7380",
                         list(VECTOR_SERVERS)):
            servers = route.parse_list(spelling)
            self.assertEqual(servers.identities, VECTOR_SERVERS)
            for name, weights, want in VECTORS:
                for ident, w in zip(VECTOR_SERVERS, weights):
                    self.assertEqual("%016x" % route.weight(name, ident), w, (name, ident))
                    self.assertEqual(route.weight(name.encode("utf-8"), ident), int(w, 16))
                self.assertEqual(servers.pick(name), want, name)
                self.assertEqual(servers.server_for(name), VECTOR_SERVERS[want])
        self.assertEqual("\u00e9t\u00e9".encode("utf-8"), bytes.fromhex("c3a974c3a9"))

    def test_full_digest_of_jobs(self):
        import hashlib
        h = hashlib.blake2b(b"jobs\x0010.0.0.1:7380", digest_size=16, key=route.KEY)
        self.assertEqual(h.hexdigest(), "416cf23419c9bd983c326917d2b236a6")
        self.assertEqual(route.weight("jobs", "10.0.0.1:7380"),
                         int.from_bytes(h.digest()[:8], "little"))

    def test_order_of_the_list_does_not_matter(self):
        fwd = route.parse_list(list(VECTOR_SERVERS))
        back = route.parse_list(list(reversed(VECTOR_SERVERS)))
        for i in range(300):
            name = "name-%d" % i
            self.assertEqual(fwd.server_for(name), back.server_for(name))

    def test_canonical_identities(self):
        for spelling, ident in [
                ("Alpha.Example", "alpha.example:7380"),
                ("alpha.example:7380", "alpha.example:7380"),
                ("tls:ALPHA.example:7380", "alpha.example:7380"),
                ("[::1]", "[::1]:7380"),
                ("[FE80::1]:99", "[fe80::1]:99"),
                ("unix:/run/Condd.sock", "unix:/run/Condd.sock"),
                ("localhost:7380", "localhost:7380"),
                ("127.0.0.1:7380", "127.0.0.1:7380"),
                ("H\u00c9:1", "h\u00c9:1"),  # only ASCII letters are lowered
        ]:
            self.assertEqual(route.identity(spelling), ident, spelling)

    def test_list_errors(self):
        cases = [
            ("", "empty server list"),
            ([], "empty server list"),
            ("a:1,,b:2", "empty entry"),
            ("a:1, ", "empty entry"),
            (",a:1", "empty entry"),
            (["a:1", " "], "empty entry"),
            ("a:1,b:0", "bad address 'b:0'"),
            ("a:1,b:65536", "bad address"),
            ("a:1,::1", "bad address"),
            ("a:1,[a.b]:1", "bad address"),
            ("a:1,h/x:1", "bad address"),
            ("a:1,unix:", "bad address"),
            ("a:1,b:x", "bad address"),
            ("Alpha:7380, alpha", "server 'alpha' is twice in the list"),
            ("a, tls:a:7380", "is twice in the list"),
            (",".join("h%d:1" % i for i in range(65)), "more than 64 servers"),
        ]
        for servers, why in cases:
            with self.assertRaises(ValueError, msg=repr(servers)) as cm:
                route.parse_list(servers)
            self.assertIn(why, str(cm.exception), servers)
        self.assertEqual(len(route.parse_list(",".join("h%d:1" % i for i in range(64)))), 64)
        self.assertEqual(route.parse_list(" a:1 ,  b ").addresses, ("a:1", "b"))
        with self.assertRaises(TypeError):
            route.parse_list(["a:1", 7])

    def test_adding_a_server_moves_names_only_to_it(self):
        three = route.parse_list("s1:7380,s2:7380,s3:7380")
        four = route.parse_list("s1:7380,s2:7380,s3:7380,s4:7380")
        moved = 0
        n = 4000
        for i in range(n):
            name = "orders/%d" % i
            before, after = three.server_for(name), four.server_for(name)
            if before != after:
                self.assertEqual(after, "s4:7380", name)
                moved += 1
        # about 1/4 of the names move (deterministic: the names and the hash are fixed)
        self.assertGreater(moved, n * 0.2)
        self.assertLess(moved, n * 0.3)

    def test_connect_refuses_a_bad_list(self):
        async def go(address):
            await condd.connect(address)
        for bad in ("127.0.0.1:1,", "127.0.0.1:1,127.0.0.1:1", ["127.0.0.1:1", ""]):
            with self.assertRaises(ValueError, msg=repr(bad)):
                asyncio.run(go(bad))
        with self.assertRaisesRegex(ValueError, "TLS"):
            asyncio.run(go("127.0.0.1:1,tls:127.0.0.1:2"))


class ThreeServers:
    """Three condds on ephemeral loopback ports (extra arguments per daemon from
    daemon_args(i, ...)) and a direct Client to each, for checking placement."""

    @classmethod
    def start(cls, args_for=None):
        cls.daemons = []
        try:
            for i in range(3):
                cls.daemons.append(Daemon(*(args_for(i) if args_for else ())))
        except BaseException:
            cls.stop()
            raise
        cls.addresses = [d.address for d in cls.daemons]

    @classmethod
    def stop(cls):
        for d in cls.daemons:
            d.stop()


class ClusterTests(ThreeServers, unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.start()

    @classmethod
    def tearDownClass(cls):
        cls.stop()

    async def asyncSetUp(self):
        self.prefix = self.id().rsplit(".", 1)[-1]
        self.direct = {}
        for a in self.addresses:
            self.direct[a] = await condd.connect(a)
            self.addAsyncCleanup(self.direct[a].close)

    def name(self, what):
        return "%s.%s" % (self.prefix, what)

    async def cluster(self, servers=None, **kw):
        c = await condd.connect(servers or ",".join(self.addresses), **kw)
        self.addAsyncCleanup(c.close)
        return c

    async def where(self, name):
        """The servers whose List has an entry of any kind named exactly name."""
        found = []
        want = name.encode("utf-8")
        for a, d in self.direct.items():
            r = await d.list(name)
            if any(e.name == want for e in (*r.locks, *r.conditions, *r.semaphores,
                                            *r.events, *r.barriers)):
                found.append(a)
        return found

    def names_on_every_server(self, c, what, count=3):
        """Names of the form what-N, at least count routed to each server."""
        names = {a: [] for a in self.addresses}
        i = 0
        while min(len(v) for v in names.values()) < count:
            n = self.name("%s-%d" % (what, i))
            names[c.server_for(n)].append(n)
            i += 1
        return names

    async def test_single_address_is_a_plain_client(self):
        a = self.addresses[0]
        for spelling in (a, [a], [" %s " % a]):
            c = await self.cluster(spelling)
            self.assertIsInstance(c, condd.Client)
            self.assertEqual(c.server, a)
            self.assertEqual(c.server_for("anything"), a)
            lock = condd.Lock(c, self.name("L"))
            self.assertEqual(lock.server, a)
            await lock.acquire()
            self.assertEqual(await self.where(self.name("L")), [a])
            lock.release()
            await c.close()

    async def test_every_primitive_lands_on_its_server(self):
        c = await self.cluster()
        self.assertIsInstance(c, condd.Cluster)
        self.assertEqual(list(c.servers.identities), self.addresses)
        names = self.names_on_every_server(c, "obj", 2)
        held = []
        for server, ns in names.items():
            for n in ns:
                lock = condd.Lock(c, n + ".lock")
                sem = condd.Semaphore(c, n + ".sem", 2)
                event = condd.Event(c, n + ".event")
                barrier = condd.Barrier(c, n + ".barrier", 2)
                shared = condd.Lock(c, n + ".shared", shared=True)
                await lock.acquire()
                await sem.acquire()
                await event.set_remote()
                await shared.acquire()
                wait = asyncio.create_task(barrier.wait())
                held += [lock, sem, shared, wait]
                for obj in (lock, sem, event, barrier, shared):
                    self.assertEqual(obj.server, c.server_for(obj.name))
                    await asyncio.sleep(0)
                    if obj is barrier:
                        state = await barrier.state()  # a round trip: the wait is queued
                        self.assertEqual(state.n_waiting, 1)
                    self.assertEqual(await self.where(obj.name), [obj.server], obj.name)
        for n in [n for ns in names.values() for n in ns]:
            await condd.Barrier(c, n + ".barrier", 2).wait()
        for obj in held:
            if isinstance(obj, asyncio.Task):
                self.assertIn(await obj, (0, 1))
            else:
                await obj.release_remote()

    async def test_condition_goes_to_its_locks_server(self):
        c = await self.cluster()
        # a condition whose own name routes elsewhere than its lock's
        i = 0
        while True:
            cname, lname = self.name("cond-%d" % i), self.name("guard-%d" % i)
            if c.server_for(cname) != c.server_for(lname):
                break
            i += 1
        lock = condd.Lock(c, lname)
        cond = condd.Condition(c, cname, lock)
        self.assertEqual(cond.server, c.server_for(lname))
        self.assertEqual(cond.server, lock.server)
        await cond.acquire()
        waiter = asyncio.create_task(cond.wait())
        async def queued():
            r = await self.direct[lock.server].list(cname)
            return any(e.name == cname.encode() and e.waiters == 1 for e in r.conditions)
        while not await queued():
            await asyncio.sleep(0.01)
        self.assertEqual(await self.where(cname), [lock.server])
        other = await self.cluster(list(reversed(self.addresses)))  # same names, same servers
        ocond = condd.Condition(other, cname, condd.Lock(other, lname))
        async with ocond:
            self.assertEqual(await ocond.notify_remote(), 1)
        self.assertTrue(await asyncio.wait_for(waiter, 10))
        self.assertTrue(cond.locked())
        await cond.release_remote()
        # the default lock (named like the condition) too
        dcond = condd.Condition(c, cname)
        self.assertEqual(dcond.lock.name, cname)
        self.assertEqual(dcond.server, c.server_for(cname))

    async def test_connections_open_lazily_one_per_server(self):
        c = await self.cluster()
        self.assertEqual(c.sessions, {})
        for d in self.direct.values():
            self.assertEqual((await d.stats()).sessions, 1)  # the direct client's only
        names = self.names_on_every_server(c, "lazy", 3)
        first = self.addresses[1]
        for n in names[first]:
            await condd.Lock(c, n).acquire()
        self.assertEqual(list(c.sessions), [first])
        for a, d in self.direct.items():
            self.assertEqual((await d.stats()).sessions, 2 if a == first else 1, a)
        for a, ns in names.items():
            for n in ns:
                self.assertTrue(await condd.Event(c, n).set_remote() in (0, 1))
        self.assertEqual(sorted(c.sessions), sorted(self.addresses))
        for a, d in self.direct.items():
            self.assertEqual((await d.stats()).sessions, 2, a)
        sessions = c.sessions
        for a in self.addresses:
            self.assertIs(c.session(a), sessions[a])
            self.assertEqual(sessions[a].server, a)
            self.assertEqual(sessions[a].session_state, "open")
        await c.close()
        self.assertTrue(c.closed)
        for a, d in self.direct.items():
            self.assertEqual((await d.stats()).sessions, 1, a)
        with self.assertRaises(condd.ConnectionLost):
            await condd.Lock(c, names[first][0]).acquire()

    async def test_requests_made_while_opening_leave_in_order(self):
        c = await self.cluster()
        n = self.name("E")
        ev = condd.Event(c, n)
        ev.set()  # fire and forget, before the connection exists
        ev.clear()
        ev.set()
        self.assertTrue(await asyncio.wait_for(condd.Event(c, n).wait(), 10))
        self.assertTrue(await ev.is_set_remote())

    async def test_a_failed_server_fails_only_its_names(self):
        extra = Daemon()
        self.addCleanup(extra.stop)
        servers = self.addresses[:2] + [extra.address]
        states = []
        c = await self.cluster(servers, on_session=lambda s, st, e: states.append(
            (s.server, st)))
        names = {a: [] for a in servers}
        i = 0
        while min(len(v) for v in names.values()) < 2:
            n = self.name("f-%d" % i)
            names[c.server_for(n)].append(n)
            i += 1
        locks = {a: condd.Lock(c, ns[0]) for a, ns in names.items()}
        for lock in locks.values():
            await lock.acquire()
        extra.kill()
        with self.assertRaises(condd.ConnectionLost) as cm:
            await c.ping(server=extra.address)
        self.assertEqual(cm.exception.server, extra.address)
        self.assertEqual(states, [(extra.address, "lost")])
        self.assertFalse(locks[extra.address].locked())
        with self.assertRaises(condd.ConnectionLost) as cm:
            await condd.Lock(c, names[extra.address][1]).acquire()
        self.assertIn("cannot connect to %s" % extra.address, str(cm.exception))
        self.assertEqual(cm.exception.server, extra.address)
        for a in self.addresses[:2]:
            self.assertTrue(locks[a].locked())
            other = condd.Lock(c, names[a][1])
            await other.acquire()
            await other.release_remote()
            await locks[a].release_remote()
        stats = await c.stats()
        self.assertEqual(list(stats), servers)
        self.assertIsInstance(stats[extra.address], condd.ConnectionLost)
        for a in self.addresses[:2]:
            self.assertEqual(stats[a].sessions, 2)
        listing = await c.list(self.prefix)
        self.assertEqual(list(listing.errors), [extra.address])

    async def test_each_server_resumes_on_its_own(self):
        proxy = Proxy(self.addresses[0])
        self.addCleanup(proxy.stop)
        servers = [proxy.address] + self.addresses[1:]
        states = []
        c = await self.cluster(servers, grace=30.0, on_session=lambda s, st, e: states.append(
            (s.server, st)))
        names = {}
        i = 0
        while len(names) < len(servers):
            n = self.name("r-%d" % i)
            names.setdefault(c.server_for(n), n)
            i += 1
        locks = {a: condd.Lock(c, n) for a, n in names.items()}
        for lock in locks.values():
            await lock.acquire()
        ids = {a: s.session_id for a, s in c.sessions.items()}
        await proxy.cmd("drop")
        await until(lambda: asyncio.sleep(0, (proxy.address, "resumed") in states), 20,
                    what="the proxied server's session resumed")
        self.assertEqual(states, [(proxy.address, "resuming"), (proxy.address, "resumed")])
        self.assertEqual({a: s.session_id for a, s in c.sessions.items()}, ids)
        for a, lock in locks.items():
            self.assertTrue(lock.locked(), a)
            await lock.release_remote()  # still the holder: every session survived

    async def test_list_and_stats_fan_out(self):
        c = await self.cluster()
        names = self.names_on_every_server(c, "ls", 2)
        for ns in names.values():
            for n in ns:
                await condd.Lock(c, n).acquire()
        listing = await c.list(self.prefix)
        self.assertIsInstance(listing, condd.ClusterList)
        self.assertEqual(listing.errors, {})
        got = sorted((r.server, r.kind, r.info.name.decode()) for r in listing.rows)
        want = sorted((a, "lock", n) for a, ns in names.items() for n in ns)
        self.assertEqual(got, want)
        one = await c.list(self.prefix, server=self.addresses[2])
        self.assertEqual(sorted(e.name.decode() for e in one.locks),
                         sorted(names[self.addresses[2]]))
        stats = await c.stats()
        self.assertEqual(list(stats), self.addresses)
        for a in self.addresses:
            self.assertEqual(stats[a].locks_held, len(names[a]))
        self.assertEqual((await c.stats(server=self.addresses[0])).locks_held,
                         len(names[self.addresses[0]]))
        with self.assertRaises(ValueError):
            await c.stats(server="127.0.0.1:1")
        await c.ping()

    async def test_condd_server_list_from_the_environment(self):
        with mock.patch.dict(os.environ, {"CONDD_SERVER": ", ".join(self.addresses)}):
            c = await self.cluster()
            self.assertIsInstance(c, condd.Cluster)
            self.assertEqual(list(c.servers.identities), self.addresses)
            c2 = await condd.connect()
            self.addAsyncCleanup(c2.close)
            self.assertIsInstance(c2, condd.Cluster)

    async def test_sync_api_routes_alike(self):
        names = [self.name("s-%d" % i) for i in range(12)]

        def run():
            out = {}
            with condd.sync.connect(self.addresses) as c:
                for n in names:
                    lock = condd.sync.Lock(c, n)
                    self.assertTrue(lock.acquire())
                    out[n] = (lock.server, c.server_for(n))
                    lock.release()
                c.ping()
                self.assertEqual(list(c.stats()), self.addresses)
            return out

        got = await asyncio.get_running_loop().run_in_executor(None, run)
        c = await self.cluster()
        for n in names:
            self.assertEqual(got[n], (c.server_for(n), c.server_for(n)))


class ClusterModeTests(ClusterTests):
    """The same against daemons started with --cluster LIST --cluster-self ADDR: each refuses
    (WRONG_SERVER) a name that does not route to it, so every test above passing here shows
    that this client and the daemons route alike; and clients with another list are caught."""

    @classmethod
    def setUpClass(cls):
        cls.daemons = cluster(3)
        cls.addresses = [d.address for d in cls.daemons]

    # not for a cluster: they send names to a server the daemons' list does not pick
    test_single_address_is_a_plain_client = None
    test_a_failed_server_fails_only_its_names = None
    test_each_server_resumes_on_its_own = None

    def name_on(self, c, server, what):
        i = 0
        while c.server_for(self.name("%s-%d" % (what, i))) != server:
            i += 1
        return self.name("%s-%d" % (what, i))

    async def test_another_list_gets_wrong_server_naming_the_right_one(self):
        full = await self.cluster()
        short = await self.cluster(self.addresses[:2])  # the third server is missing
        name = self.name_on(full, self.addresses[2], "w")
        wrong = short.server_for(name)
        self.assertNotEqual(wrong, self.addresses[2])
        before = (await self.direct[wrong].stats()).wrong_server
        for make in (lambda c: condd.Lock(c, name).acquire(),
                     lambda c: condd.Lock(c, name, shared=True).acquire(),
                     lambda c: condd.Lock(c, name).locked_remote(),
                     lambda c: condd.Semaphore(c, name, 2).acquire(),
                     lambda c: condd.Event(c, name).set_remote(),
                     lambda c: condd.Event(c, name).wait(),
                     lambda c: condd.Barrier(c, name, 2).wait(),
                     lambda c: condd.Barrier(c, name, 2).state()):
            with self.assertRaises(condd.WrongServer) as cm:
                await asyncio.wait_for(make(short), 10)
            e = cm.exception
            self.assertEqual(e.status, 20)
            self.assertEqual(e.server, wrong)  # who answered
            self.assertIn("routes to %s (cluster of 3)" % self.addresses[2], e.message)
        self.assertEqual((await self.direct[wrong].stats()).wrong_server, before + 8)
        await short.ping()  # the session goes on
        self.assertEqual(await self.where(name), [])  # nothing happened anywhere
        # the full list reaches it
        lock = condd.Lock(full, name)
        await lock.acquire()
        self.assertEqual(await self.where(name), [self.addresses[2]])
        await lock.release_remote()

    async def test_condition_routed_by_its_own_name_is_caught(self):
        c = await self.cluster()
        lname = self.name_on(c, self.addresses[0], "guard")
        # one plain client on the lock's server: the Lock works there, and a Wait naming the
        # lock too, wherever the condition's own name would route
        plain = await self.cluster(self.addresses[0])
        cname = self.name_on(c, self.addresses[1], "cond")
        lock = condd.Lock(plain, lname)
        cond = condd.Condition(plain, cname, lock)
        await cond.acquire()
        self.assertFalse(await cond.wait_for(lambda: False, timeout=0.05))
        await cond.release_remote()
        # a plain client on the condition's own server is refused: the lock lives elsewhere
        other = await self.cluster(self.addresses[1])
        with self.assertRaises(condd.WrongServer) as cm:
            await condd.Condition(other, cname, condd.Lock(other, lname)).acquire()
        self.assertIn("routes to %s" % self.addresses[0], cm.exception.message)

    async def test_one_address_on_a_cluster_serves_only_its_names(self):
        plain = await self.cluster(self.addresses[1])
        self.assertIsInstance(plain, condd.Client)
        full = await self.cluster()
        ours = self.name_on(full, self.addresses[1], "mine")
        theirs = self.name_on(full, self.addresses[0], "theirs")
        await condd.Lock(plain, ours).acquire()
        with self.assertRaises(condd.WrongServer) as cm:
            await condd.Lock(plain, theirs).acquire()
        self.assertEqual(cm.exception.server, self.addresses[1])
        self.assertIn("routes to %s" % self.addresses[0], cm.exception.message)


class LiveRestartTests(unittest.IsolatedAsyncioTestCase):
    """Two daemons started with --cluster, live-restarted (SIGUSR2) in turn while a loop opens
    the list, locks a name on each server (each session opened by its lock, which waits
    behind its Hello), unlocks and closes: nothing fails (condd.8 LIVE RESTART). A restart
    closes the connections it accepted but had not read (protocol.md §5.10); the session opens
    again with its held requests. Each restart is waited for (Stats counts it) and the next
    comes GAP s later, so a daemon serves at least twice that between two of its restarts,
    longer than a session's retries of its Hello take: a correct client never fails here,
    wherever the restarts land; how many land in that window only decides how well a wrong
    one is caught."""

    COUNT = 16  # restarts per test (about 2 s) ...
    SECONDS = 4.0  # ... or at most this long on a slow machine
    GAP = 0.1

    @classmethod
    def setUpClass(cls):
        cls.daemons = cluster(2)
        cls.addresses = [d.address for d in cls.daemons]
        cls.servers = ",".join(cls.addresses)

    @classmethod
    def tearDownClass(cls):
        for d in cls.daemons:
            d.stop()

    def restarts_now(self, i):
        """Daemon i's restart count, or None when a restart closed the connection meanwhile."""
        try:
            with condd.sync.connect(self.addresses[i]) as c:
                return c.stats().restarts
        except condd.ConnectionLost:
            return None

    def restarts(self):
        """Starts a thread restarting each daemon in turn; returns (its stop(), a list whose
        length is the restarts done)."""
        done = threading.Event()
        count = []
        failed = []

        def wait_count(i, above):
            end = time.monotonic() + 20
            while not done.is_set():
                n = self.restarts_now(i)
                if n is not None and n > above:
                    return n
                if time.monotonic() > end:
                    failed.append("daemon %d did not restart" % i)
                    done.set()
                done.wait(0.005)
            return None

        def run():
            k = 0
            while not done.is_set():
                i = k % 2
                before = wait_count(i, -1)
                if before is None:
                    return
                os.kill(self.daemons[i].proc.pid, signal.SIGUSR2)
                if wait_count(i, before) is None:
                    return
                count.append(i)
                k += 1
                done.wait(self.GAP)

        t = threading.Thread(target=run)
        t.start()

        def stop():
            done.set()
            t.join()
            self.assertEqual(failed, [])
            for a in self.addresses:  # both serve again
                with condd.sync.connect(a) as c:
                    c.ping()
        return stop, count

    def names(self, c, what):
        """A name routed to each server, in the list's order."""
        out = []
        for a in self.addresses:
            i = 0
            while c.server_for("%s-%d" % (what, i)) != a:
                i += 1
            out.append("%s-%d" % (what, i))
        return out

    async def test_asyncio_list_rides_through_live_restarts_while_opening_sessions(self):
        stop, count = self.restarts()
        cycles = 0
        try:
            end = time.monotonic() + self.SECONDS
            while len(count) < self.COUNT and time.monotonic() < end:
                c = await condd.connect(self.servers, grace=10)
                try:
                    # new names each cycle: a close() that meets a restart can leave the
                    # last cycle's session (and a lock it held) detached for its grace
                    locks = [condd.Lock(c, n) for n in self.names(c, "ars%d" % cycles)]
                    # both queued before either session exists
                    await asyncio.gather(*(lk.acquire() for lk in locks))
                    for lk in locks:
                        lk.release()
                finally:
                    await c.close()
                cycles += 1
        finally:
            await asyncio.to_thread(stop)
        self.assertGreater(cycles, 0)
        self.assertGreaterEqual(len(count), 1)

    def test_sync_list_rides_through_live_restarts_while_opening_sessions(self):
        stop, count = self.restarts()
        cycles = 0
        try:
            end = time.monotonic() + self.SECONDS
            while len(count) < self.COUNT and time.monotonic() < end:
                with condd.sync.connect(self.servers, grace=10) as c:
                    for n in self.names(c, "srs%d" % cycles):
                        with condd.sync.Lock(c, n):
                            pass
                cycles += 1
        finally:
            stop()
        self.assertGreater(cycles, 0)
        self.assertGreaterEqual(len(count), 1)

if __name__ == "__main__":
    unittest.main()
