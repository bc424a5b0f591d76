# SPDX-License-Identifier: BSD-2-Clause
"""The Python client against multiprocessing.managers.SyncManager, on one machine, in one run:
the same loops over each backend (docs/python.md, bench/RESULTS.md).

  lock-N      N client processes, each looping acquire(); release() on one shared lock until a
              deadline; the result is the total cycles per second of all N.
  pingpong    two processes hand a condition back and forth: each holds the lock and loops
              notify(); wait(), so every wait() that returns is one handoff; handoffs per second.

Backends (-b): syncmanager (a SyncManager's Lock() and Condition() proxies), condd (the asyncio
client, asyncio's synchronous release()/notify()), condd-remote (the same with release_remote()
and notify_remote(), which await the server's answer as every SyncManager call does),
condd-sync (the blocking API condd.sync, when present) and floor (class Floor: the least any
Python client could do per operation, to tell the client's cost from the system's).

Fairness: every backend runs the same loop text (acquire, release, counter, clock check; notify,
wait), in processes started the same way (multiprocessing "spawn", one fresh interpreter each),
connected before the clock starts (a pipe says "ready", then "go" with a common deadline); the
servers (condd on an ephemeral loopback port, the SyncManager's process on another) are started
once, before everything; one untimed warm-up measurement of every case and backend first; then
--runs rounds, each measuring every case on every backend, the backend order rotating per round
so that no backend always runs first or last; medians per case and backend. The load average is
recorded before every measurement (the machine is shared).

Event loop: the asyncio backends run on asyncio's own loop; --loop uvloop runs them on uvloop's
(python3-uvloop), which many asyncio programs use in production. The others have no loop.

Transport: TCP on loopback by default; --unix runs condd AND the SyncManager each over a Unix
stream socket in a temporary directory (the SyncManager's own default family on Linux), every
backend then connecting over it. The table's title names the transport.

The script starts its own condd: --condd, else $CONDD, else ./daemon/condd of the build tree it
is run from. --smoke: a second or two of each loop (make check), exit 1 unless every loop ran.
"""

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.managers
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_PYTHON = os.path.dirname(HERE)

BACKENDS = ("syncmanager", "condd", "condd-remote", "condd-sync", "floor")


# ---------------------------------------------------------------- the loops (in the children)

def lock_loop_blocking(lock, deadline):
    n = 0
    clock = time.monotonic
    while clock() < deadline:
        lock.acquire()
        lock.release()
        n += 1
    return n


def pingpong_blocking(cond, handoffs):
    """handoffs wait() returns, then one last notify() for the partner's last wait."""
    cond.acquire()
    for _ in range(handoffs):
        cond.notify()
        cond.wait()
    cond.notify()
    cond.release()
    return handoffs


async def lock_loop_async(lock, deadline, remote):
    n = 0
    clock = time.monotonic
    if remote:
        while clock() < deadline:
            await lock.acquire()
            await lock.release_remote()
            n += 1
    else:
        while clock() < deadline:
            await lock.acquire()
            lock.release()
            n += 1
    return n


async def pingpong_async(cond, handoffs, remote):
    await cond.acquire()
    for _ in range(handoffs):
        if remote:
            await cond.notify_remote()
        else:
            cond.notify()
        await cond.wait()
    cond.notify()
    cond.release()
    return handoffs


def wait_start(conn):
    """Blocks for the parent's (start, deadline), sleeps until start; returns deadline."""
    start, deadline = conn.recv()
    time.sleep(max(0.0, start - time.monotonic()))
    return deadline


class Floor:
    """The least a Python client can do per operation: a blocking socket, protobuf frames,
    no event loop, no futures, no session pings. A Release goes out with the next Acquire, and
    a notify rides in the Wait (notify_first), as the asyncio client does. Not a client (no
    error handling): the "floor" backend, to tell the client's cost from the system's."""

    def __init__(self, address, name):
        import socket
        from condd import _proto
        self.pb, self.encode = _proto.pb, _proto.encode
        if address.startswith("unix:"):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(address[5:])
        else:
            host, port = address.rsplit(":", 1)
            self.sock = socket.create_connection((host, int(port)))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.next_id = 0
        self.name = name.encode()
        self.lock = self.name  # named like the condition, as condd.Condition and condctl do
        self.queued = b""
        hello = self.request("hello")
        hello.hello.protocol_version = 1
        self.call(hello)

    def request(self, kind):
        self.next_id += 1
        req = self.pb.Request(id=self.next_id)
        getattr(req, kind).SetInParent()
        return req

    def call(self, req):
        """Sends what is queued and req, reads until req's answer."""
        self.sock.sendall(self.queued + self.encode(req))
        self.queued = b""
        while True:
            while len(self.buf) < 4 or len(self.buf) < 4 + int.from_bytes(self.buf[:4], "big"):
                self.buf += self.sock.recv(65536)
            n = int.from_bytes(self.buf[:4], "big")
            resp = self.pb.Response()
            resp.ParseFromString(self.buf[4:4 + n])
            self.buf = self.buf[4 + n:]
            if resp.id == req.id:
                return resp

    def acquire(self, lock):
        req = self.request("acquire")
        req.acquire.lock = lock
        req.acquire.owner = 1
        self.call(req)

    def queue(self, req):
        self.queued += self.encode(req)

    def lock_loop(self, deadline):
        n = 0
        clock = time.monotonic
        while clock() < deadline:
            self.acquire(self.name)
            rel = self.request("release")
            rel.release.lock = self.name
            rel.release.owner = 1
            self.queue(rel)
            n += 1
        return n

    def pingpong(self, handoffs):
        self.acquire(self.lock)
        for _ in range(handoffs):
            req = self.request("wait")
            req.wait.condition = self.name
            req.wait.lock = self.lock
            req.wait.owner = 1
            req.wait.notify_first = 1
            self.call(req)
        req = self.request("notify")
        req.notify.condition, req.notify.lock, req.notify.owner, req.notify.n = (
            self.name, self.lock, 1, 1)
        self.queue(req)
        rel = self.request("release")
        rel.release.lock = self.lock
        rel.release.owner = 1
        self.call(rel)
        return handoffs


def child(backend, target, case, arg, conn):
    """One client process: connect, say ready, wait for the common start, run, send the count
    and the time the loop took."""
    if backend == "syncmanager":
        # target: the proxy itself (pickled with its token; spawn passes the authkey)
        conn.send("ready")
        go = wait_start(conn)
        t0, c0 = time.monotonic(), time.process_time()
        if case == "lock":
            n = lock_loop_blocking(target, go)
        else:
            n = pingpong_blocking(target, arg)
        conn.send((n, time.monotonic() - t0, time.process_time() - c0))
        return
    import condd
    address, name = target
    if backend == "floor":
        floor = Floor(address, name)
        conn.send("ready")
        go = wait_start(conn)
        t0, c0 = time.monotonic(), time.process_time()
        n = floor.lock_loop(go) if case == "lock" else floor.pingpong(arg)
        conn.send((n, time.monotonic() - t0, time.process_time() - c0))
        floor.sock.close()
        return
    if backend == "condd-sync":
        import condd.sync
        client = condd.sync.connect(address)
        obj = (condd.sync.Lock(client, name) if case == "lock"
               else condd.sync.Condition(client, name))
        conn.send("ready")
        go = wait_start(conn)
        t0, c0 = time.monotonic(), time.process_time()
        n = lock_loop_blocking(obj, go) if case == "lock" else pingpong_blocking(obj, arg)
        conn.send((n, time.monotonic() - t0, time.process_time() - c0))
        client.close()
        return

    async def main():
        remote = backend == "condd-remote"
        client = await condd.connect(address)
        obj = condd.Lock(client, name) if case == "lock" else condd.Condition(client, name)
        conn.send("ready")
        go = await asyncio.to_thread(wait_start, conn)
        t0, c0 = time.monotonic(), time.process_time()
        if case == "lock":
            n = await lock_loop_async(obj, go, remote)
        else:
            n = await pingpong_async(obj, arg, remote)
        conn.send((n, time.monotonic() - t0, time.process_time() - c0))
        await client.close()

    if os.environ.get("PYBENCH_LOOP") == "uvloop":  # --loop uvloop (spawn keeps os.environ)
        import uvloop
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    else:
        asyncio.run(main())


# ---------------------------------------------------------------- one measurement (parent)

class Bench:
    def __init__(self, condd_path, seconds, unix=False):
        self.seconds = seconds
        self.ctx = multiprocessing.get_context("spawn")
        self.seq = 0
        self.dir = tempfile.mkdtemp(prefix="condd-pybench.")
        port_file = os.path.join(self.dir, "port")
        unix_path = os.path.join(self.dir, "condd.sock")
        # the Unix socket too, always: --unix only chooses which one the clients use
        self.daemon = subprocess.Popen(
            [condd_path, "--listen", "127.0.0.1:0", "--port-file", port_file,
             "--unix", unix_path, "--log-level", "warning"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not (os.path.exists(port_file) and open(port_file).read().strip().isdigit()
                   and os.path.exists(unix_path)):
            if time.monotonic() > deadline or self.daemon.poll() is not None:
                self.close()
                raise SystemExit("pybench: %s did not start" % condd_path)
            time.sleep(0.02)
        if unix:
            self.address = "unix:" + unix_path
            manager_address = os.path.join(self.dir, "manager.sock")  # family AF_UNIX
        else:
            self.address = "127.0.0.1:" + open(port_file).read().strip()
            manager_address = ("127.0.0.1", 0)
        self.manager = multiprocessing.managers.SyncManager(
            address=manager_address, ctx=self.ctx)
        self.manager.start()
        self.pingpong_handoffs = {}

    def close(self):
        if getattr(self, "manager", None) is not None:
            self.manager.shutdown()
        if self.daemon.poll() is None:
            self.daemon.kill()
        self.daemon.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def target(self, backend, case):
        self.seq += 1
        if backend == "syncmanager":
            return self.manager.Lock() if case == "lock" else self.manager.Condition()
        return (self.address, "pybench.%s.%d" % (case, self.seq))

    def run(self, backend, case, procs, arg=None):
        """Starts procs children, times the loop; returns (rate per second, count, CPU
        microseconds per operation of the clients, of the server)."""
        target = self.target(backend, case)
        pipes, children = [], []
        for _ in range(procs):
            parent_end, child_end = self.ctx.Pipe()
            p = self.ctx.Process(target=child, args=(backend, target, case, arg, child_end))
            p.start()
            child_end.close()
            pipes.append(parent_end)
            children.append(p)
        try:
            for c in pipes:
                if c.recv() != "ready":
                    raise RuntimeError("child not ready")
            start = time.monotonic() + 0.05  # CLOCK_MONOTONIC: one clock for every process
            server0 = self.server_cpu(backend)
            for c in pipes:
                c.send((start, start + self.seconds))
            results = [c.recv() for c in pipes]
            server = self.server_cpu(backend) - server0
        finally:
            for p in children:
                p.join(60)
                if p.is_alive():
                    p.kill()
                    p.join()
        # the time of the slowest child: a lock loop's includes its last acquire past the
        # deadline, a ping-pong's the partner's last wait
        seconds = max(t for _, t, _ in results)
        if case == "lock":
            total = sum(n for n, _, _ in results)
        else:
            total = 2 * results[0][0]
        cpu = sum(c for _, _, c in results)
        per = 1e6 / max(total, 1)
        self.last_counts = sorted(n for n, _, _ in results)
        return total / seconds, total, cpu * per, server * per

    def server_cpu(self, backend):
        """CPU seconds the server process used so far (utime + stime of /proc/PID/stat)."""
        pid = self.manager._process.pid if backend == "syncmanager" else self.daemon.pid
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def measure(self, backend, case, procs):
        if case == "lock":
            return self.run(backend, case, procs, None)
        # pingpong: as many handoffs as fit in the wanted seconds, from a short calibration
        if backend not in self.pingpong_handoffs:
            rate = self.run(backend, case, 2, 200)[0]
            self.pingpong_handoffs[backend] = max(100, int(rate * self.seconds / 2))
        return self.run(backend, case, 2, self.pingpong_handoffs[backend])



def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--condd", help="condd binary (default $CONDD, else ./daemon/condd)")
    ap.add_argument("-b", "--backends", default=None,
                    help="comma-separated, from %s (default: all available)" % ",".join(BACKENDS))
    ap.add_argument("-d", "--seconds", type=float, default=3.0, help="length of one measurement")
    ap.add_argument("-r", "--runs", type=int, default=5, help="timed rounds (medians over them)")
    ap.add_argument("-p", "--procs", default="1,8", help="lock cases: client process counts")
    ap.add_argument("--unix", action="store_true",
                    help="condd and the SyncManager over Unix sockets (default: TCP loopback)")
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                    help="the event loop of the asyncio backends (condd, condd-remote): "
                    "asyncio's own (default) or uvloop's (Debian: python3-uvloop)")
    ap.add_argument("--json", help="also write every measurement to this file")
    ap.add_argument("--smoke", action="store_true",
                    help="check the loops run: short, one round, no warm-up; exit 1 if one did not")
    args = ap.parse_args()

    condd_path = args.condd or os.environ.get("CONDD") or os.path.join(".", "daemon", "condd")
    if not os.access(condd_path, os.X_OK):
        ap.error("no condd at %s (use --condd or $CONDD)" % condd_path)
    # the package: the source tree's sources and the build tree's generated condd_pb2 (the
    # children get this sys.path from spawn)
    for p in (os.path.join(os.getcwd(), "python"), SRC_PYTHON):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        import condd.sync  # noqa: F401
        have_sync = True
    except ImportError:
        have_sync = False
    backends = (args.backends.split(",") if args.backends
                else [b for b in BACKENDS if b != "condd-sync" or have_sync])
    for b in backends:
        if b not in BACKENDS:
            ap.error("unknown backend %r" % b)
    if args.smoke:  # every loop of every backend once, briefly
        args.seconds, args.runs = 0.1, 1
        if args.procs == ap.get_default("procs"):
            args.procs = "1"
    if args.loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            ap.error("--loop uvloop: uvloop is not installed (Debian: python3-uvloop)")
    os.environ["PYBENCH_LOOP"] = args.loop
    procs = [int(x) for x in args.procs.split(",")]
    cases = [("lock", n) for n in procs] + [("pingpong", 2)]

    # SIGTERM ends the run through the finally below (the daemon and the manager stopped)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    transport = "Unix socket" if args.unix else "TCP loopback"
    if args.loop == "uvloop":
        transport += ", the asyncio backends on uvloop"
    bench = Bench(condd_path, args.seconds, unix=args.unix)
    if args.smoke:
        bench.pingpong_handoffs = {b: 20 for b in backends}  # no calibration run
    rows = []
    try:
        if not args.smoke:
            print("warm-up ...", flush=True)
            for case, n in cases:
                for b in backends:
                    bench.seconds = min(args.seconds, 0.5)
                    bench.measure(b, case, n)
            bench.seconds = args.seconds
            bench.pingpong_handoffs.clear()  # calibrate on a warm machine
        for r in range(args.runs):
            for case, n in cases:
                k = r % len(backends)
                for b in backends[k:] + backends[:k]:
                    load = loadavg()
                    rate, count, ccpu, scpu = bench.measure(b, case, n)
                    counts = bench.last_counts
                    rows.append(dict(run=r, case=case, procs=n, backend=b, rate=rate,
                                     transport="unix" if args.unix else "tcp",
                                     count=count, client_us=ccpu, server_us=scpu, load=load,
                                     per_process=counts))
                    print("run %d %-8s %d procs %-12s %8.0f /s  cpu us/op client %6.1f "
                          "server %6.1f  (%d ops, per process %d..%d, load %s)"
                          % (r, case, n, b, rate, ccpu, scpu, count, counts[0], counts[-1],
                             load), flush=True)
    finally:
        bench.close()

    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    print()
    print("%s, medians of %d runs: operations per second (higher is better), then CPU "
          "microseconds per operation, clients + server (lower is better)."
          % (transport, args.runs))
    print()
    print("| case | " + " | ".join(backends) + " | condd / syncmanager |")
    print("|---|" + "---:|" * (len(backends) + 1))
    ok = True
    ratios = []  # (label, {backend: its median rate / syncmanager's})
    for case, n in cases:
        sel = [x for x in rows if x["case"] == case and x["procs"] == n]
        med, cpu = {}, {}
        for b in backends:
            mine = [x for x in sel if x["backend"] == b]
            med[b] = statistics.median(x["rate"] for x in mine)
            cpu[b] = (statistics.median(x["client_us"] for x in mine),
                      statistics.median(x["server_us"] for x in mine))
            if min(x["count"] for x in mine) <= 0:
                ok = False
        label = "lock, %d procs: cycles/s" % n if case == "lock" else \
            "condition ping-pong: handoffs/s"
        ratio = ("**%.2fx**" % (med["condd"] / med["syncmanager"])
                 if "condd" in med and med.get("syncmanager") else "")
        if med.get("syncmanager"):
            ratios.append((label.split(":")[0], {b: med[b] / med["syncmanager"]
                                                 for b in backends if b != "syncmanager"}))
        print("| %s | %s | %s |" % (label, " | ".join("%.0f" % med[b] for b in backends), ratio))
        ratio = ("%.2fx less" % (sum(cpu["syncmanager"]) / sum(cpu["condd"]))
                 if "condd" in cpu and "syncmanager" in cpu and sum(cpu["condd"]) else "")
        print("| &nbsp; CPU us/op | %s | %s |" % (
            " | ".join("%.0f + %.0f" % cpu[b] for b in backends), ratio))
        if case == "lock" and n > 1:
            # FIFO (condd) hands the lock to another process every cycle; a lock that lets
            # the releaser take it again (threading.Lock in the manager) need not
            share = {b: statistics.median(
                x["per_process"][0] / max(x["per_process"][-1], 1)
                for x in sel if x["backend"] == b) for b in backends}
            print("| &nbsp; fewest / most cycles of one process | %s | |" % (
                " | ".join("%.2f" % share[b] for b in backends)))
    if ratios:
        others = list(ratios[0][1])
        print("\nEach backend's rate / syncmanager's (%s; issue 16's goal: 3x):\n" % transport)
        print("| case | " + " | ".join(others) + " |")
        print("|---|" + "---:|" * len(others))
        for label, r in ratios:
            print("| %s | %s |" % (label, " | ".join("%.2fx" % r[b] for b in others)))
    print("\nload averages (1/5/15 min) seen: %s" % ", ".join(sorted({x["load"] for x in rows})))
    if not ok:
        print("pybench: a loop completed no cycle", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
