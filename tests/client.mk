# tests/: libcondd's suite (unit tests of its internals plus both APIs against a real condd) and
# the install test (build a program against the installed library with pkg-config only).

check_PROGRAMS += tests/check_client
tests_check_client_SOURCES = tests/check_client.c tests/client_util.c tests/client_util.h
tests_check_client_CFLAGS = $(TEST_CFLAGS)
tests_check_client_LDADD = client/libconddclient.la tests/libtestutil.la $(CHECK_LIBS) \
	$(LIBEVENT_CORE_LIBS) -lm

TESTS += tests/check_client tests/install-test.sh tests/client-examples.sh
dist_check_SCRIPTS += tests/install-test.sh tests/client-examples.sh

# What install-test.sh needs from configure, written at build time so the script runs the same
# under make check and make distcheck.
tests/install-test.env: Makefile
	$(AM_V_GEN){ \
	  echo "CC='$(CC)'"; \
	  echo "SAN_CFLAGS='$(SAN_CFLAGS)'"; \
	  echo "SAN_LDFLAGS='$(SAN_LDFLAGS)'"; \
	  echo "MAKE_CMD='$(MAKE)'"; \
	  echo "prefix='$(prefix)'"; \
	  echo "libdir='$(libdir)'"; \
	  echo "includedir='$(includedir)'"; \
	} >$@
# (Both log names: tests/X.sh.log now, tests/X.log if .sh ever joins TEST_EXTENSIONS.)
tests/install-test.sh.log tests/install-test.log: tests/install-test.env client/libcondd.la
CLEANFILES += tests/install-test.env
