# python/: the condd package for asyncio. Its message classes (condd/condd_pb2.py) are generated
# by protoc from proto/condd.proto into the build tree, never committed; the package spans the
# source and build trees until it is installed (see python/condd/__init__.py).

pkgpython_PYTHON = python/condd/__init__.py python/condd/_proto.py python/condd/client.py \
	python/condd/errors.py python/condd/locks.py python/condd/sync.py python/condd/route.py \
	python/condd/cluster.py python/condd/_syncconn.py
nodist_pkgpython_PYTHON = python/condd/condd_pb2.py
BUILT_SOURCES += python/condd/condd_pb2.py
CLEANFILES += python/condd/condd_pb2.py
EXTRA_DIST += python/pyproject.toml python/setup.py python/README.md
# The benchmark against multiprocessing's SyncManager (docs/python.md, bench/RESULTS.md): data
# for the dist; make check runs only its smoke run (python/tests/test_bench.py).
EXTRA_DIST += python/bench/pybench.py
# What acknowledged delivery costs the client (bench/RESULTS.md); not run by make check.
EXTRA_DIST += python/bench/ackbench.py
# What a bare round trip costs a Python process here, blocking and on asyncio's and uvloop's
# loops, beside a SyncManager lock cycle: the ceiling of the goal above (bench/RESULTS.md);
# not run by make check.
EXTRA_DIST += python/bench/rtfloor.py

python/condd/condd_pb2.py: proto/condd.proto
	$(AM_V_GEN)$(MKDIR_P) python/condd && \
	$(PROTOC) --proto_path=$(top_srcdir)/proto --python_out=python/condd $(top_srcdir)/proto/condd.proto

# The unittest suites run against a condd they start themselves (tests/python.sh).
PYTHON_TESTS = python/tests/test_condd.py python/tests/test_semaphore.py python/tests/test_barrier.py \
	python/tests/test_remote.py python/tests/test_sync.py python/tests/test_bench.py \
	python/tests/test_shared.py python/tests/test_auth.py python/tests/test_resume.py python/tests/test_acks.py \
	python/tests/test_cluster.py python/tests/test_sync_fast.py \
	python/tests/daemon.py \
	python/tests/holder.py python/tests/cpython_test_locks.py python/tests/CPYTHON_CHANGES.md \
	python/tests/uvloop_suites.py
# condd.sync against the outside audit's findings (a silent server, shared locks in threads,
# exit, signal handlers, refusal frames)
PYTHON_TESTS += python/tests/test_sync_audit.py
# condd.sync under a storm of signal-handler exceptions (issue 16)
PYTHON_TESTS += python/tests/test_sync_interrupts.py
# pip's build of condd_pb2.py (python/setup.py)
PYTHON_TESTS += python/tests/test_setup.py
# where make install puts the package (configure.ac): python/tests/test_install_dir.py
PYTHON_TESTS += python/tests/test_install_dir.py
# the asyncio client's edges (a silent server, names, connect timeout, refusals, shutdown)
PYTHON_TESTS += python/tests/test_edges.py
AM_TESTS_ENVIRONMENT += CONDD_PYTHONDIR='$(pythondir)' CONDD_PREFIX='$(prefix)'; \
	export CONDD_PYTHONDIR CONDD_PREFIX;
EXTRA_DIST += $(PYTHON_TESTS)
dist_check_SCRIPTS += tests/python.sh
TESTS += tests/python.sh
AM_TESTS_ENVIRONMENT += PYTHON='$(PYTHON)'; export PYTHON;
tests/python.sh.log tests/python.log: python/condd/condd_pb2.py daemon/condd tests/blipproxy

# A suite missing from PYTHON_TESTS passes in the tree and fails only in distcheck: refuse the
# dist instead, naming it.
dist-hook: dist-hook-python
dist-hook-python:
	@for f in $(srcdir)/python/tests/*.py $(srcdir)/python/tests/*.md; do \
	  test -f "$(distdir)/python/tests/$${f##*/}" || \
	    { echo "$${f##*/} is missing from PYTHON_TESTS (python/local.mk)" >&2; exit 1; }; \
	done
.PHONY: dist-hook-python

clean-local: clean-local-python
clean-local-python:
	-rm -rf python/condd/__pycache__ python/tests/__pycache__
.PHONY: clean-local-python
# condd.sync after os.fork(): inherited clients are the parent's (the audit's F1)
PYTHON_TESTS += python/tests/test_fork.py
