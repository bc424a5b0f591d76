# SPDX-License-Identifier: BSD-2-Clause
"""The suites of the asyncio client run again on uvloop's event loop (python3-uvloop), as many
asyncio programs run in production (docs/python.md, "On uvloop"): tests/python.sh runs this
after the discovery on asyncio's own loop. It installs uvloop's event loop policy, so every
IsolatedAsyncioTestCase (and every loop a test makes) runs on a uvloop.Loop, which
UvloopTests checks. Left out: test_bench (a benchmark smoke, with its own --loop option) and
the suites of the blocking client (test_sync, test_sync_fast), which use no event loop or a
private one of their own. Without uvloop it says so and exits 0: skipped, not failed."""

import asyncio
import sys
import unittest

SUITES = ("test_condd", "test_resume", "test_acks", "test_remote", "test_semaphore",
          "test_barrier", "test_shared", "test_auth", "test_cluster", "cpython_test_locks",
          "test_edges")


class UvloopTests(unittest.IsolatedAsyncioTestCase):
    async def test_the_suites_run_on_uvloops_loop(self):
        import uvloop
        self.assertIsInstance(asyncio.get_running_loop(), uvloop.Loop)


def main():
    try:
        import uvloop
    except ImportError as e:
        print("uvloop_suites: SKIPPED: uvloop is not importable (%s; Debian: apt-get install "
              "python3-uvloop)" % e, file=sys.stderr)
        return 0
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    print("uvloop_suites: the asyncio suites again on uvloop %s" % uvloop.__version__,
          file=sys.stderr)
    loader = unittest.defaultTestLoader
    suite = unittest.TestSuite([loader.loadTestsFromTestCase(UvloopTests),
                                loader.loadTestsFromNames(SUITES)])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
