# tests/: the condbench smoke test (fragment of the top-level Makefile.am). It runs condbench for
# about a second in every mode against a condd it starts itself; it asserts no speed.
# SPDX-License-Identifier: BSD-2-Clause

dist_check_SCRIPTS += tests/bench-smoke.sh
TESTS += tests/bench-smoke.sh
