# tests/fuzz/: two fuzz targets, the frame codec (fuzz_frame) and the daemon's connection path
# over socketpairs on the real event loop (fuzz_conn), with their seed corpus. configure
# --enable-fuzzer (clang) builds them as libFuzzer programs and make check runs each for a
# bounded time; otherwise the same sources link with standalone.c, and make check replays the
# corpus plus fixed pseudo-random mutations of it through them. See docs/hacking.md, "Fuzzing".

FUZZ_CPPFLAGS = -I$(top_srcdir)/tests/fuzz
noinst_HEADERS += tests/fuzz/fuzz.h
# The corpus folder goes into the tarball whole; make-corpus.py regenerates the seed- files,
# the others (regress-*, crash-*) are inputs fuzzing found, kept as regression tests.
EXTRA_DIST += tests/fuzz/corpus tests/fuzz/make-corpus.py tests/fuzz/libfuzzer-lib.sh
dist_check_SCRIPTS += tests/fuzz/libfuzzer-frame.sh tests/fuzz/libfuzzer-conn.sh

if ENABLE_FUZZER
# Built by make, so that a long run needs no make check first.
noinst_PROGRAMS += tests/fuzz/fuzz_frame tests/fuzz/fuzz_conn
FUZZ_MAIN =
FUZZ_LINK = $(FUZZER_LDFLAGS)
TESTS += tests/fuzz/libfuzzer-frame.sh tests/fuzz/libfuzzer-conn.sh
else
check_PROGRAMS += tests/fuzz/fuzz_frame tests/fuzz/fuzz_conn
FUZZ_MAIN = tests/fuzz/standalone.c
FUZZ_LINK =
TESTS += tests/fuzz/fuzz_frame tests/fuzz/fuzz_conn
endif
EXTRA_DIST += tests/fuzz/standalone.c

tests_fuzz_fuzz_frame_SOURCES = tests/fuzz/fuzz_frame.c $(FUZZ_MAIN)
tests_fuzz_fuzz_frame_CPPFLAGS = $(TEST_CPPFLAGS) $(FUZZ_CPPFLAGS) -DFUZZ_TARGET='"frame"' \
	-DFUZZ_DEFAULT_MUTATIONS=20000
tests_fuzz_fuzz_frame_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS)
tests_fuzz_fuzz_frame_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_frame_LDADD = proto/libconddproto.la common/libconddcommon.la $(PROTOBUF_C_LIBS)

tests_fuzz_fuzz_conn_SOURCES = tests/fuzz/fuzz_conn.c tests/fuzz/fuzz_conn_empty.c \
	tests/fuzz/fuzz_conn_empty.h tests/fuzz/fuzz_conn_ops.c tests/fuzz/fuzz_conn_ops.h $(FUZZ_MAIN)
tests_fuzz_fuzz_conn_CPPFLAGS = $(DAEMON_CPPFLAGS) $(FUZZ_CPPFLAGS) -DFUZZ_TARGET='"conn"' \
	-DFUZZ_DEFAULT_MUTATIONS=8000
tests_fuzz_fuzz_conn_CFLAGS = $(daemon_libconddcore_la_CFLAGS)
tests_fuzz_fuzz_conn_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_conn_LDADD = daemon/libconddcore.la $(LIBEVENT_CORE_LIBS) $(PROTOBUF_C_LIBS)
