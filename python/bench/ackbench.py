# SPDX-License-Identifier: BSD-2-Clause
"""What acknowledged delivery (protocol.md §5.6.2) costs the asyncio client: one process, one
connection, a loop of `await lock.acquire(); lock.release()` on one lock until a deadline, in
three modes: no grace; a grace without acks (the client does not ask for them: as against an
older server); a grace with acks. Cycles per second and the client's CPU time per cycle (the
process's, less exposed to the other loads of a shared machine than the rate), medians of
--runs rounds, the mode order rotating per round; the load average before each measurement.

  flock /work/bench.lock python3 python/bench/ackbench.py      (from a build tree)

--cycles N --mode M runs exactly N cycles in mode M and nothing else (no warm-up, one round), for
counting instructions: under valgrind --tool=callgrind (the condd it starts is not traced), the
difference between two values of N divided by their difference is the client's instructions per
cycle, start-up cancelled out (bench/RESULTS.md).
The script starts its own condd on an ephemeral loopback port: --condd, else $CONDD, else
./daemon/condd of the build tree it is run from."""

import argparse
import asyncio
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = ("no grace", "grace, no acks", "grace, acks")


async def measure(condd, address, mode, seconds, cycles=None):
    fill_hello = condd._proto.fill_hello
    if mode == "grace, no acks":  # as a client that predates acks
        condd._proto.fill_hello = lambda *a, **kw: fill_hello(*a[:5])
    try:
        client = await condd.connect(address, grace=0.0 if mode == "no grace" else 30.0)
    finally:
        condd._proto.fill_hello = fill_hello
    assert client.acks == (mode == "grace, acks"), mode
    lock = condd.Lock(client, "ackbench")
    loop = asyncio.get_running_loop()
    n, deadline, cpu = 0, loop.time() + seconds, time.process_time()
    if cycles is not None:
        for n in range(1, cycles + 1):
            await lock.acquire()
            lock.release()
        await client.ping()  # the last release answered
    while cycles is None and loop.time() < deadline:
        await lock.acquire()
        lock.release()
        n += 1
    cpu = time.process_time() - cpu
    await client.close()
    return n / (seconds or 1), 1e6 * cpu / n


async def run(args):
    import condd
    from daemon import Daemon
    os.environ["CONDD"] = args.condd
    daemon = Daemon()
    if args.cycles is not None:
        try:
            await measure(condd, daemon.address, args.mode, 0, args.cycles)
        finally:
            daemon.stop()
        return
    try:
        for mode in MODES:  # warm-up
            await measure(condd, daemon.address, mode, min(args.seconds, 0.5))
        rates, cpus = {m: [] for m in MODES}, {m: [] for m in MODES}
        for r in range(args.runs):
            for i in range(len(MODES)):
                mode = MODES[(r + i) % len(MODES)]
                load = "%.2f %.2f %.2f" % os.getloadavg()
                rate, cpu = await measure(condd, daemon.address, mode, args.seconds)
                rates[mode].append(rate)
                cpus[mode].append(cpu)
                print("round %d  %-15s %8.0f cycles/s  %6.1f us CPU/cycle  (load %s)"
                      % (r + 1, mode, rate, cpu, load), flush=True)
    finally:
        daemon.stop()
    base = statistics.median(cpus["grace, no acks"])
    print("\nmedians over %d rounds of %g s:" % (args.runs, args.seconds))
    for mode in MODES:
        cpu = statistics.median(cpus[mode])
        print("  %-15s %8.0f cycles/s  %6.1f us CPU/cycle (%+.1f%% against grace, no acks)"
              % (mode, statistics.median(rates[mode]), cpu, 100.0 * (cpu - base) / base))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--condd", help="condd binary (default $CONDD, else ./daemon/condd)")
    ap.add_argument("-d", "--seconds", type=float, default=3.0, help="length of one measurement")
    ap.add_argument("-r", "--runs", type=int, default=5, help="timed rounds (medians over them)")
    ap.add_argument("--cycles", type=int, help="exactly this many cycles of --mode, nothing else")
    ap.add_argument("--mode", choices=MODES, default="grace, acks", help="the mode of --cycles")
    args = ap.parse_args()
    args.condd = os.path.abspath(
        args.condd or os.environ.get("CONDD") or os.path.join(".", "daemon", "condd"))
    if not os.access(args.condd, os.X_OK):
        ap.error("no condd at %s (use --condd or $CONDD)" % args.condd)
    # the package (the source tree's sources, the build tree's condd_pb2) and the tests'
    # daemon helper
    for p in (os.path.join(HERE, "..", "tests"), os.path.join(os.getcwd(), "python"),
              os.path.join(HERE, "..")):
        sys.path.insert(0, os.path.abspath(p))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
