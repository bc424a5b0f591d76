# tests/: the codec and daemon integration suites, and the helpers other suites share.
# Suites of other parts of the tree are in tests/*.mk beside this file.

noinst_LTLIBRARIES += tests/libtestutil.la
tests_libtestutil_la_SOURCES = tests/testutil.c tests/testutil.h tests/wireclient.c tests/wireclient.h
tests_libtestutil_la_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS)
tests_libtestutil_la_LIBADD = proto/libconddproto.la

TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(PROTOBUF_C_CFLAGS) $(LIBEVENT_CORE_CFLAGS) \
	-I$(top_srcdir)/daemon -I$(top_srcdir)/tests

check_PROGRAMS += tests/check_frame
tests_check_frame_SOURCES = tests/check_frame.c
tests_check_frame_CFLAGS = $(TEST_CFLAGS)
tests_check_frame_LDADD = proto/libconddproto.la $(CHECK_LIBS)

TESTS += tests/check_frame

check_PROGRAMS += tests/check_daemon
tests_check_daemon_SOURCES = tests/check_daemon.c
tests_check_daemon_CFLAGS = $(TEST_CFLAGS)
tests_check_daemon_LDADD = tests/libtestutil.la proto/libconddproto.la $(CHECK_LIBS)
TESTS += tests/check_daemon
