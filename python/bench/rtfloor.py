# SPDX-License-Identifier: BSD-2-Clause
"""What one round trip costs a Python process on this machine, beside a SyncManager lock cycle:
the ceiling of issue 16's "3x SyncManager" for any client that needs one round trip per lock
cycle (bench/RESULTS.md).

A condd lock cycle is at least one round trip: acquire() returns only once the grant arrived,
and the release leaves with the next Acquire. So no client, however lean, runs cycles faster
than a bare round trip of the same shape: write a frame of the size of a Release and an Acquire
(44 bytes), read the same bytes back from bench/echo-server (C, epoll; it parses nothing and
does nothing but echo). This script measures, in one process and alternating round by round:

  syncmanager  lock.acquire(); lock.release() on a SyncManager's Lock() proxy (two round trips
               to the manager's Python server per cycle)
  echo         a blocking socket: sendall(44 bytes); recv until the 44 came back (the ceiling
               of a blocking client such as condd.sync)
  echo-asyncio the same on an asyncio event loop: transport.write(), then await a future that
               the protocol's data_received() resolves (the ceiling of the asyncio client)
  echo-uvloop  the same on uvloop's event loop, when uvloop is installed (Debian: python3-uvloop)

and prints the medians and each echo / syncmanager: the most any client of that kind can reach
over SyncManager here. All over TCP loopback (echo-server speaks nothing else).

  rtfloor.py [--echo-server PATH] [-d SECONDS] [-r ROUNDS]

PATH defaults to $ECHO_SERVER, else ./bench/echo-server of the build tree it is run from.
"""

import argparse
import asyncio
import multiprocessing
import multiprocessing.managers
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

FRAME = 44  # a Release and an Acquire frame of a short name, as the clients send them


def start_echo(path, tmp):
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen([path, "--listen", "127.0.0.1:0", "--port-file", port_file])
    deadline = time.monotonic() + 10
    while True:
        try:
            with open(port_file) as f:
                text = f.read()
            if text.endswith("\n"):
                return proc, int(text)
        except FileNotFoundError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("rtfloor: %s did not start" % path)
        time.sleep(0.01)


def echo_loop(sock, seconds):
    """Round trips until seconds passed: returns (count, wall seconds, CPU seconds)."""
    msg = b"x" * FRAME
    recv, send = sock.recv, sock.sendall
    clock = time.monotonic
    n, t0, c0 = 0, clock(), time.process_time()
    deadline = t0 + seconds
    while clock() < deadline:
        send(msg)
        got = 0
        while got < FRAME:
            b = recv(65536)
            if not b:
                raise SystemExit("rtfloor: echo-server closed")
            got += len(b)
        n += 1
    return n, clock() - t0, time.process_time() - c0


class _Echo(asyncio.Protocol):
    """Resolves self.fut once FRAME more bytes came back."""

    def __init__(self):
        self.fut, self.got = None, 0

    def data_received(self, data):
        self.got += len(data)
        if self.got >= FRAME and self.fut is not None:
            self.got -= FRAME
            fut, self.fut = self.fut, None
            fut.set_result(None)

    def connection_lost(self, exc):
        if self.fut is not None and not self.fut.done():
            self.fut.set_exception(ConnectionError("echo-server closed"))


def async_echo_loop(port, seconds, new_loop):
    """The asyncio round trip on a loop from new_loop(): (count, wall seconds, CPU seconds)."""
    async def run():
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_connection(_Echo, "127.0.0.1", port)
        msg = b"x" * FRAME
        clock = time.monotonic
        try:
            for timed in (False, True):  # a short untimed warm-up, then the measurement
                n, t0, c0 = 0, clock(), time.process_time()
                deadline = t0 + (seconds if timed else 0.2)
                while clock() < deadline:
                    proto.fut = loop.create_future()
                    transport.write(msg)
                    await proto.fut
                    n += 1
            return n, clock() - t0, time.process_time() - c0
        finally:
            transport.close()

    loop = new_loop()
    try:
        return loop.run_until_complete(run())
    finally:
        loop.close()


def lock_loop(lock, seconds):
    clock = time.monotonic
    n, t0, c0 = 0, clock(), time.process_time()
    deadline = t0 + seconds
    while clock() < deadline:
        lock.acquire()
        lock.release()
        n += 1
    return n, clock() - t0, time.process_time() - c0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--echo-server", help="default $ECHO_SERVER, else ./bench/echo-server")
    ap.add_argument("-d", "--seconds", type=float, default=2.0, help="length of one measurement")
    ap.add_argument("-r", "--rounds", type=int, default=5, help="rounds (medians over them)")
    args = ap.parse_args()
    path = args.echo_server or os.environ.get("ECHO_SERVER") or "./bench/echo-server"
    if not os.access(path, os.X_OK):
        ap.error("no echo-server at %s (use --echo-server or $ECHO_SERVER)" % path)
    if args.seconds <= 0 or args.rounds < 1:
        ap.error("-d must be above 0 and -r at least 1")

    tmp = tempfile.mkdtemp(prefix="condd-rtfloor.")
    echo, port = start_echo(path, tmp)
    manager = multiprocessing.managers.SyncManager(
        address=("127.0.0.1", 0), ctx=multiprocessing.get_context("spawn"))
    manager.start()
    try:
        import uvloop
    except ImportError:
        uvloop = None
    loops = {"echo-asyncio": asyncio.new_event_loop}
    if uvloop is not None:
        loops["echo-uvloop"] = uvloop.new_event_loop
    rows = {"syncmanager": [], "echo": []}
    rows.update({b: [] for b in loops})
    try:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lock = manager.Lock()
        echo_loop(sock, 0.3)  # warm-up, untimed
        lock_loop(lock, 0.3)
        for r in range(args.rounds):
            order = list(rows)
            k = r % len(order)
            for b in order[k:] + order[:k]:  # rotated: no backend always first or last
                if b == "echo":
                    n, wall, cpu = echo_loop(sock, args.seconds)
                elif b == "syncmanager":
                    n, wall, cpu = lock_loop(lock, args.seconds)
                else:
                    n, wall, cpu = async_echo_loop(port, args.seconds, loops[b])
                rows[b].append((n / wall, wall / n * 1e6, cpu / n * 1e6))
                print("round %d %-12s %8.0f /s  %6.1f us each  client CPU %5.1f us  (load %.2f)"
                      % (r, b, n / wall, wall / n * 1e6, cpu / n * 1e6, os.getloadavg()[0]),
                      flush=True)
        sock.close()
    finally:
        manager.shutdown()
        echo.terminate()
        echo.wait()
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)

    med = {b: [statistics.median(x[i] for x in v) for i in range(3)] for b, v in rows.items()}
    print()
    print("TCP loopback, medians of %d rounds of %.1f s:" % (args.rounds, args.seconds))
    print()
    print("| | per second | wall us each | client CPU us each |")
    print("|---|---:|---:|---:|")
    print("| SyncManager lock cycle (two round trips) | %.0f | %.1f | %.1f |" % tuple(
        med["syncmanager"]))
    names = {"echo": "bare round trip, blocking socket",
             "echo-asyncio": "bare round trip, asyncio (Protocol + future)",
             "echo-uvloop": "bare round trip, uvloop (Protocol + future)"}
    for b in rows:
        if b != "syncmanager":
            print("| %s | %.0f | %.1f | %.1f |" % ((names[b],) + tuple(med[b])))
    print()
    for b in rows:
        if b != "syncmanager":
            print("ceiling over SyncManager of a client with one round trip per lock cycle, "
                  "%s: %.2fx" % (names[b].split(", ")[1], med[b][0] / med["syncmanager"][0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
