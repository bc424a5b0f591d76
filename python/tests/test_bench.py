# SPDX-License-Identifier: BSD-2-Clause
"""The benchmark's smoke run (python/bench/pybench.py --smoke): every loop of every backend
(SyncManager, the asyncio client, its *_remote() twins, condd.sync, the minimal "floor" client)
runs briefly against its own
condd and SyncManager and completes cycles. It checks that the loops work, not their speed
(bench/RESULTS.md has the measurements)."""

import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(os.path.dirname(HERE), "bench", "pybench.py")


class BenchSmokeTests(unittest.TestCase):
    def test_every_loop_of_every_backend_completes(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        run = subprocess.run([sys.executable, BENCH, "--smoke"], env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=600)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        rows = [line for line in run.stdout.splitlines() if line.startswith("run 0 ")]
        # lock (1 process) and ping-pong, each on the five backends
        self.assertEqual(len(rows), 10, run.stdout)
        for backend in ("syncmanager", "condd", "condd-remote", "condd-sync", "floor"):
            self.assertEqual(sum(1 for r in rows if (" %s " % backend) in r), 2, run.stdout)
        self.assertIn("| condition ping-pong: handoffs/s |", run.stdout)


if __name__ == "__main__":
    unittest.main()
