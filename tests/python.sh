#!/bin/sh
# The Python package's unittest suites (python/tests/test_*.py, and cpython_test_locks.py: CPython's
# own asyncio lock tests, skipped with a message when libpython3.11-testsuite is absent) against the
# condd of this build, then the asyncio ones again on uvloop's event loop (uvloop_suites.py):
# the sources from the source tree, the generated condd_pb2 from the build tree. Each suite starts
# and kills its own condd on an ephemeral loopback port (and test_resume.py its tests/blipproxy).
# SPDX-License-Identifier: BSD-2-Clause
set -eu
: "${CONDD:?CONDD must name the condd binary}"
src=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${top_builddir:-.}
unset CONDD_SERVER CONDD_TOKEN_FILE
BLIPPROXY=${BLIPPROXY:-$(cd "$build" && pwd)/tests/blipproxy}
export BLIPPROXY
PYTHONPATH="$src/python:$build/python:$src/python/tests"
PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH PYTHONDONTWRITEBYTECODE
"${PYTHON:-python3}" -m unittest discover -v -s "$src/python/tests" -p '*test_*.py'
# The asyncio suites again on uvloop's loop (skipped, saying so, without python3-uvloop).
exec "${PYTHON:-python3}" "$src/python/tests/uvloop_suites.py"
