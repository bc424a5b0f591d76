# SPDX-License-Identifier: BSD-2-Clause
"""The cross-language routing test behind tests/shard-cross.sh (protocol.md §21, issue 17).

Three condd on ephemeral loopback ports, each started with --cluster LIST --cluster-self ADDR.
The ports are bound here first and handed to the daemons by socket activation (LISTEN_FDS), as
tests/cluster_util.c does, so the list names every port before any daemon starts and no port is
ever released and bound again. A few hundred names, ASCII and not (accents, Cyrillic, CJK, an
emoji, spaces), are placed by a reference implementation of §21.2 written here from the text
(hashlib's keyed BLAKE2b), and then:

1. the Python package (condd.connect(LIST)) routes every name to that server;
2. names held from Python are held on that daemon (its own List shows them, the other daemons'
   Lists do not), seen held by condctl through the list, and refused WRONG_SERVER by the other
   daemons, to Python and to condctl;
3. names held from C (tests/shard_cross_hold: libcondd's blocking API with the list) likewise,
   and libcondd reports the reference's server as the one that answered each;
4. names held by condctl (hold, one process per name, in batches) likewise: on the right
   daemon's List only, held for Python through the list, WRONG_SERVER from the others;
5. a client with a different list (two of the three servers) gets WRONG_SERVER, naming the
   right server, for every name its list sends to the wrong place, from Python and condctl;
6. every daemon's Stats counts exactly the refusals this test provoked on it (wrong_server).

Every daemon and condctl started here is stopped on every exit path (they also get SIGTERM if
this process dies: PR_SET_PDEATHSIG). Exit 0: all passed; 1: a check failed; 99: set-up failed.
"""

import argparse
import asyncio
import ctypes
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import condd

KEY = b"condd.v1 routing"
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


def ok(msg):
    print("ok: " + msg, flush=True)


# ------------------------------------------------------------------ the rule, from the text

def weight(name, ident):
    """§21.2: the first 8 bytes, little-endian, of BLAKE2b-128 keyed with KEY of
    name || 0x00 || identity."""
    d = hashlib.blake2b(name + b"\0" + ident.encode("utf-8"), digest_size=16, key=KEY).digest()
    return int.from_bytes(d[:8], "little")


def pick(name, idents):
    """The heaviest server; the first listed on a tie."""
    best = 0
    for i in range(1, len(idents)):
        if weight(name, idents[i]) > weight(name, idents[best]):
            best = i
    return best


def check_vectors():
    """§21.3's table, so that the reference itself is right before it judges anyone."""
    servers = ["10.0.0.1:7380", "10.0.0.2:7380", "10.0.0.3:7380"]
    vectors = [(b"jobs", "98bdc91934f26c41", 0), (b"orders/42", "b368c6d2a1b1c1e8", 1),
               (b"x", "acaad778f2fa6437", 1), ("été".encode(), "46fb22b52d41ac70", 0),
               (b"lock-0001", "da9e0ece2b5968db", 1)]
    for name, w, where in vectors:
        if "%016x" % weight(name, servers[where]) != w or pick(name, servers) != where:
            fail("the reference does not reproduce §21.3 for %r" % name)
            return
    ok("the reference routing reproduces the §21.3 test vectors")


def make_names(count):
    """count names, a sixth of them ASCII, the rest spread over other scripts."""
    forms = ["cross/ascii-%d", "cross/été-%d", "cross/ключ-%d", "cross/日本語-%d", "cross/🔒-%d",
             "cross/with space %d"]
    return [forms[i % len(forms)] % i for i in range(count)]


# ------------------------------------------------------------------ processes

children = []


def _pdeathsig():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop_children(tmp=None):
    """SIGTERM to every daemon; each must exit 0 (a clean shutdown: under the sanitizers a leak
    or an error changes the status) unless it had already died, which is a failure too."""
    early = [p for p in children if p.poll() is not None]
    for p in children:
        if p.poll() is None:
            p.terminate()
    for i, p in enumerate(children):
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            fail("daemon %d did not stop within 30 s of SIGTERM" % i)
            continue
        if p in early or p.returncode != 0:
            log = ""
            if tmp is not None:
                with open(os.path.join(tmp, "d%d.log" % i), "rb") as f:
                    log = f.read().decode(errors="replace")[-3000:]
            fail("daemon %d %s (status %d): %s" % (
                i, "died during the test" if p in early else "did not stop cleanly",
                p.returncode, log))
    children.clear()


def start_cluster(condd_path, tmp, n=3):
    """n daemons on sockets bound here; returns their addresses (the list)."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen(128)
        socks.append(s)
    addrs = ["127.0.0.1:%d" % s.getsockname()[1] for s in socks]
    cluster = ",".join(addrs)
    for i, (s, addr) in enumerate(zip(socks, addrs)):
        portfile = os.path.join(tmp, "d%d.port" % i)
        log = open(os.path.join(tmp, "d%d.log" % i), "wb")
        fd = s.fileno()
        env = dict(os.environ, LISTEN_FDS="1")
        env.pop("LISTEN_FDNAMES", None)
        env.pop("NOTIFY_SOCKET", None)
        # The socket must be fd 3 (SD_LISTEN_FDS_START) and LISTEN_PID the daemon's own pid:
        # a shell moves the socket to 3, sets LISTEN_PID to its pid and execs condd (same pid).
        move = "" if fd == 3 else "exec 3<&%d %d<&-; " % (fd, fd)
        script = move + 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"'
        argv = ["/bin/sh", "-c", script, condd_path, "--port-file", portfile, "--log-level",
                "warning", "--cluster", cluster, "--cluster-self", addr]
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                             pass_fds=(fd,), preexec_fn=_pdeathsig)
        children.append(p)
        log.close()
    deadline = time.monotonic() + 30
    for i, p in enumerate(children):
        portfile = os.path.join(tmp, "d%d.port" % i)
        while not (os.path.exists(portfile) and os.path.getsize(portfile) > 0):
            if p.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(tmp, "d%d.log" % i), "rb") as f:
                    sys.stderr.write(f.read().decode(errors="replace"))
                raise RuntimeError("daemon %d did not start" % i)
            time.sleep(0.02)
    for s in socks:
        s.close()
    return addrs


# ------------------------------------------------------------------ condctl

class Condctl:
    """condctl runs on the event loop (asyncio subprocesses), so that the Python sessions keep
    answering their server's pings while condctl works."""

    def __init__(self, path):
        self.path = path
        self.holders = []  # hold processes not reaped yet

    @staticmethod
    def _env():
        env = dict(os.environ)
        env.pop("CONDD_SERVER", None)
        env.pop("CONDD_TOKEN_FILE", None)
        return env

    async def run(self, *args, timeout=60):
        p = await asyncio.create_subprocess_exec(
            self.path, *args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=self._env(), preexec_fn=_pdeathsig)
        try:
            out, err = await asyncio.wait_for(p.communicate(), timeout)
        except asyncio.TimeoutError:
            p.kill()
            await p.wait()
            return -1, "", "timed out"
        return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    async def run_many(self, argvs, limit=6):
        """run() of each argument list, at most limit at once (each condctl mostly waits for
        its connects and round trips); the results in argvs' order."""
        sem = asyncio.Semaphore(limit)

        async def one(argv):
            async with sem:
                return await self.run(*argv)
        return await asyncio.gather(*(one(a) for a in argvs))

    async def hold(self, server, name):
        """`condctl -s server hold NAME --until-signal`, started; returns the process."""
        p = await asyncio.create_subprocess_exec(
            self.path, "-s", server, "hold", name, "--until-signal", stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self._env(),
            preexec_fn=_pdeathsig)
        self.holders.append(p)
        return p

    async def stop_holders(self):
        for p in self.holders:
            if p.returncode is None:
                p.terminate()
        for p in self.holders:
            await p.wait()
        self.holders.clear()


async def first_line(p, timeout=60):
    """The first line p prints (its token once it holds), or "" if it exits or times out."""
    try:
        line = await asyncio.wait_for(p.stdout.readline(), timeout)
    except asyncio.TimeoutError:
        return ""
    return line.decode(errors="replace").strip()


# ------------------------------------------------------------------ the checks

async def held_names(direct, prefix):
    """{server: set of lock names held there} from each daemon's own List."""
    out = {}
    for a, c in direct.items():
        r = await c.list(prefix)
        if r.truncated:
            fail("List on %s was truncated" % a)
        out[a] = {e.name.decode("utf-8") for e in r.locks if e.held}
    return out


def compare_placement(what, held, expected, names):
    want = {a: set() for a in held}
    for n in names:
        want[expected[n]].add(n)
    bad = 0
    for a in held:
        extra, missing = held[a] - want[a], want[a] - held[a]
        if extra or missing:
            bad += 1
            fail("%s: %s's List has %d names it should not and misses %d (e.g. %r)" % (
                what, a, len(extra), len(missing), sorted(extra or missing)[:3]))
    if not bad:
        ok("%s: each of the %d names is held on its server only (%s)" % (
            what, len(names), ", ".join("%s: %d" % (a, len(want[a])) for a in want)))


async def check_refused_python(what, direct, expected, names, refusals):
    """Every other daemon answers Locked for each name with WRONG_SERVER naming its server."""
    bad = 0
    for n in names:
        for a, c in direct.items():
            if a == expected[n]:
                continue
            try:
                await condd.Lock(c, n).locked_remote()
                bad += 1
                if bad <= 3:
                    fail("%s: %s answered Locked(%r) instead of WRONG_SERVER" % (what, a, n))
            except condd.WrongServer as e:
                refusals[a] += 1
                if expected[n] not in str(e):
                    bad += 1
                    if bad <= 3:
                        fail("%s: %s's WRONG_SERVER for %r does not name %s: %s" % (
                            what, a, n, expected[n], e))
    if not bad:
        ok("%s: the 2 other daemons refuse each of the %d names with WRONG_SERVER naming its"
           " server (Python)" % (what, len(names)))


def refused_by_condctl(rc, err, right):
    """condctl's answer to WRONG_SERVER (condctl(1), SERVER LISTS): exit 4 and the server's
    message, which names the right server."""
    return rc == 4 and "WRONG_SERVER" in err and ("routes to " + right + " (cluster of") in err


async def check_refused_condctl(what, cc, expected, names, refusals):
    bad = 0
    asks = [(n, a) for n in names for a in refusals if a != expected[n]]
    results = await cc.run_many([("-s", a, "locked", n) for n, a in asks])
    for (n, a), (rc, out, err) in zip(asks, results):
        refusals[a] += 1
        if not refused_by_condctl(rc, err, expected[n]):
            bad += 1
            if bad <= 3:
                fail("%s: condctl -s %s locked %r: exit %d, %r (want a refusal naming %s)"
                     % (what, a, n, rc, (out + err).strip(), expected[n]))
    if not bad:
        ok("%s: condctl gets WRONG_SERVER (exit 4, naming the right server) from the other"
           " daemons for %d names" % (what, len(names)))


async def check_list_condctl(what, cc, cluster, expected, names):
    """`condctl -s LIST list --json PREFIX` asks every server and marks each row's server:
    each name must come once, from its server."""
    rc, out, err = await cc.run("-s", cluster, "list", "--json", "cross/")
    if rc != 0:
        fail("%s: condctl -s LIST list: exit %d: %s" % (what, rc, err.strip()))
        return
    rows = {}
    try:
        for row in json.loads(out)["locks"]:
            rows.setdefault(row["name"], []).append(row["server"])
    except (ValueError, KeyError, TypeError) as e:
        fail("%s: condctl -s LIST list --json: %s in %r" % (what, e, out[:200]))
        return
    bad = [n for n in names if rows.get(n) != [expected[n]]]
    extra = set(rows) - set(names)
    if bad or extra:
        fail("%s: condctl's merged list shows %d names on other servers or more than once, and"
             " %d names not held (e.g. %r: %s, want %s)" % (
                 what, len(bad), len(extra), (bad or sorted(extra))[0],
                 rows.get((bad or sorted(extra))[0]), expected.get((bad or [""])[0])))
    else:
        ok("%s: condctl -s LIST list merges every server's rows: each of the %d names once,"
           " marked with its server" % (what, len(names)))


async def check_held_condctl(what, cc, cluster, names):
    bad = 0
    results = await cc.run_many([("-s", cluster, "locked", n) for n in names])
    for n, (rc, out, err) in zip(names, results):
        if rc != 0:
            bad += 1
            if bad <= 3:
                fail("%s: condctl -s LIST locked %r: exit %d, %r (want 0: held)" % (
                    what, n, rc, (out + err).strip()))
    if not bad:
        ok("%s: condctl -s LIST sees each of %d names held" % (what, len(names)))


async def phase_c(args, cluster, direct, py, cc, expected, names, refusals):
    what = "held from C (libcondd)"
    p = await asyncio.create_subprocess_exec(
        args.c_holder, cluster, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, preexec_fn=_pdeathsig)
    try:
        p.stdin.write(("\n".join(names) + "\ngo\n").encode("utf-8"))
        await p.stdin.drain()
        said = {}
        while True:
            line = await asyncio.wait_for(p.stdout.readline(), 120)
            line = line.decode("utf-8", errors="replace").rstrip("\n")
            if line in ("held", ""):
                break
            name, answered, routed, token = line.split("\t")
            said[name] = (answered, routed)
        if line != "held":
            fail("%s: the program stopped before holding everything: %s" % (
                what, (await p.stderr.read()).decode(errors="replace").strip()))
            return
        bad = [n for n in names if said.get(n) != (expected[n], expected[n])]
        if bad:
            fail("%s: libcondd says %d names were answered by / route to another server than"
                 " the reference (e.g. %r: %s, want %s)" % (what, len(bad), bad[0],
                                                           said.get(bad[0]), expected[bad[0]]))
        else:
            ok("%s: for each of the %d names libcondd reports the reference's server as the"
               " one that answered and as its route" % (what, len(names)))
        compare_placement(what, await held_names(direct, "cross/"), expected, names)
        seen = 0
        for n in names:
            if await condd.Lock(py, n).locked_remote():
                seen += 1
        if seen != len(names):
            fail("%s: Python through the list sees %d of %d names held" % (
                what, seen, len(names)))
        else:
            ok("%s: Python through the list sees each of the %d names held" % (
                what, len(names)))
        await check_refused_python(what, direct, expected, names, refusals)
        await check_held_condctl(what, cc, cluster, names[:: args.condctl_every])
    finally:
        if p.returncode is None:
            p.stdin.close()
            out, err = await asyncio.wait_for(p.communicate(), 60)
            if p.returncode != 0 or not out.decode().endswith("released\n"):
                fail("%s: the program exited %d on releasing: %s" % (
                    what, p.returncode, err.decode(errors="replace").strip()))
    left = await held_names(direct, "cross/")
    if any(left.values()):
        fail("%s: names still held after the program released them: %s" % (
            what, {a: len(v) for a, v in left.items()}))


async def main_async(args, addrs, cc):
    idents = addrs  # "127.0.0.1:PORT" is its own canonical identity
    cluster = ",".join(addrs)
    names = make_names(args.names)
    expected = {n: idents[pick(n.encode("utf-8"), idents)] for n in names}
    counts = {a: sum(1 for n in names if expected[n] == a) for a in addrs}
    if min(counts.values()) == 0:
        fail("the names do not reach every server: %s" % counts)
    refusals = {a: 0 for a in addrs}
    direct = {a: await condd.connect(a, client_name="shard-cross/direct") for a in addrs}
    py = await condd.connect(cluster, client_name="shard-cross/python")
    try:
        # 1. Where each client says a name goes.
        wrong = [n for n in names if py.server_for(n) != expected[n]]
        if wrong:
            fail("Python routes %d of %d names elsewhere than the reference (e.g. %r)" % (
                len(wrong), len(names), wrong[:3]))
        else:
            ok("Python's condd.route agrees with the reference on %d names" % len(names))

        # 2. Held from Python.
        locks = [condd.Lock(py, n) for n in names]
        for lk in locks:
            await lk.acquire()
        wrong = [lk.name for lk in locks if lk.server != expected[lk.name]]
        if wrong:
            fail("Python: %d locks report another server (e.g. %r)" % (len(wrong), wrong[:3]))
        compare_placement("held from Python", await held_names(direct, "cross/"), expected,
                          names)
        await check_refused_python("held from Python", direct, expected, names, refusals)
        sample = names[:: args.condctl_every]
        await check_held_condctl("held from Python", cc, cluster, sample)
        await check_list_condctl("held from Python", cc, cluster, expected, names)
        await check_refused_condctl("held from Python", cc, expected, sample, refusals)
        for lk in locks:
            await lk.release_remote()
        left = await held_names(direct, "cross/")
        if any(left.values()):
            fail("names still held after Python released them: %s" % {
                a: len(v) for a, v in left.items()})

        # 3. Held from C: a program on libcondd's blocking API with the list.
        if args.c_holder:
            await phase_c(args, cluster, direct, py, cc, expected, names, refusals)

        # 4. Held by condctl, in batches of processes.
        held_by_c = names[:: args.condctl_every]
        all_seen = True
        for i in range(0, len(held_by_c), args.batch):
            batch = held_by_c[i:i + args.batch]
            procs = {n: await cc.hold(cluster, n) for n in batch}
            lines = dict(zip(batch, await asyncio.gather(*(first_line(procs[n])
                                                            for n in batch))))
            notheld = [n for n in batch if not lines[n].isdigit()]
            if notheld:
                fail("condctl hold did not print a token for %d names (e.g. %r: %r)" % (
                    len(notheld), notheld[0], lines[notheld[0]]))
            compare_placement("held by condctl (batch %d)" % (i // args.batch),
                              await held_names(direct, "cross/"), expected, batch)
            seen = 0
            for n in batch:
                if await condd.Lock(py, n).locked_remote():
                    seen += 1
            if seen != len(batch):
                all_seen = False
                fail("Python through the list sees %d of %d condctl-held names held" % (
                    seen, len(batch)))
            await check_refused_python("held by condctl (batch %d)" % (i // args.batch),
                                       direct, expected, batch, refusals)
            for p in procs.values():
                p.send_signal(signal.SIGTERM)
            for n, p in procs.items():
                _, err = await p.communicate()
                if p.returncode != 0:
                    fail("condctl hold %r exited %d after SIGTERM: %s" % (
                        n, p.returncode, err.decode(errors="replace").strip()))
            cc.holders.clear()
        if all_seen:
            ok("Python through the list sees each of the %d condctl-held names held"
               % len(held_by_c))

        # 5. A client whose list differs: two of the three servers.
        short = addrs[:2]
        other = await condd.connect(",".join(short), client_name="shard-cross/short")
        try:
            moved = [n for n in names if idents[pick(n.encode("utf-8"), short)] != expected[n]]
            bad = 0
            for n in moved:
                sent_to = short[pick(n.encode("utf-8"), short)]
                try:
                    await condd.Lock(other, n).acquire()
                    bad += 1
                    fail("a client listing 2 servers was granted %r on %s" % (n, sent_to))
                except condd.WrongServer as e:
                    refusals[sent_to] += 1
                    if expected[n] not in str(e):
                        bad += 1
                        fail("WRONG_SERVER for %r does not name %s: %s" % (n, expected[n], e))
            if not bad and moved:
                ok("a Python client listing 2 of the 3 servers gets WRONG_SERVER for each of"
                   " the %d names it sends elsewhere, naming the right server" % len(moved))
            for n in moved[:: args.condctl_every]:
                sent_to = short[pick(n.encode("utf-8"), short)]
                rc, out, err = await cc.run("-s", ",".join(short), "-T", "0", "lock", n,
                                            "--", "true")
                refusals[sent_to] += 1
                if not refused_by_condctl(rc, err, expected[n]):
                    fail("condctl -s A,B -T 0 lock %r: exit %d, %r (want a refusal naming"
                         " %s)" % (n, rc, (out + err).strip(), expected[n]))
                    break
            else:
                ok("condctl with a 2-server list gets WRONG_SERVER (exit 4) likewise")
        finally:
            await other.close()

        # 6. The daemons counted exactly those refusals.
        counted = True
        for a, c in direct.items():
            st = await c.stats()
            if st.wrong_server != refusals[a]:
                counted = False
                fail("%s counts %d WRONG_SERVER refusals, this test provoked %d" % (
                    a, st.wrong_server, refusals[a]))
        if counted:
            ok("each daemon's Stats wrong_server is the number of refusals provoked on it (%s)"
               % ", ".join(str(v) for v in refusals.values()))
    finally:
        await cc.stop_holders()
        await py.close()
        for c in direct.values():
            await c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--condd", required=True)
    ap.add_argument("--condctl", required=True)
    ap.add_argument("--names", type=int, default=300)
    ap.add_argument("--condctl-every", type=int, default=3,
                    help="condctl checks every Nth name (each is a process)")
    ap.add_argument("--batch", type=int, default=25, help="condctl holders at once")
    ap.add_argument("--c-holder", help="tests/shard_cross_hold (libcondd with a server list)")
    args = ap.parse_args()
    check_vectors()
    cc = Condctl(args.condctl)
    tmp = tempfile.mkdtemp(prefix="condd-shard-cross.")
    try:
        try:
            addrs = start_cluster(args.condd, tmp)
        except (OSError, RuntimeError) as e:
            print("shard-cross: cannot start the cluster: %s" % e, file=sys.stderr)
            return 99
        print("cluster: %s" % ",".join(addrs), flush=True)
        rc, out, err = asyncio.run(cc.run("-s", ",".join(addrs), "ping"))
        if rc != 0 or len(out.splitlines()) != len(addrs):
            fail("condctl -s LIST ping: exit %d, %r (want one line per server)" % (
                rc, (out + err).strip()))
        else:
            ok("condctl -s LIST ping answers from each of the %d servers" % len(addrs))
        asyncio.run(main_async(args, addrs, cc))
    finally:
        stop_children(tmp)
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
