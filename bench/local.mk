# bench/: condbench (the benchmark client), echo-server (the loopback floor) and compare.sh,
# which runs condbench against condd, Redis and echo-server and prints the README's table.
# SPDX-License-Identifier: BSD-2-Clause

noinst_PROGRAMS += bench/condbench bench/echo-server

bench_condbench_SOURCES = \
	bench/condbench.c bench/condbench.h \
	bench/condbench_loop.c \
	bench/condbench_hist.c \
	bench/condbench_condd.c bench/condbench_condd.h \
	bench/condbench_prims.c \
	bench/condbench_rw.c \
	bench/condbench_echo.c
bench_condbench_CPPFLAGS = -I$(top_builddir) -I$(top_srcdir)/client/include -I$(top_srcdir)/common \
	-D_GNU_SOURCE
bench_condbench_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CORE_CFLAGS) -pthread
bench_condbench_LDADD = client/libcondd.la common/libconddcommon.la $(LIBEVENT_CORE_LIBS) -lpthread -lm
if HAVE_HIREDIS
bench_condbench_SOURCES += bench/condbench_redis.c
bench_condbench_CFLAGS += $(HIREDIS_CFLAGS)
bench_condbench_LDADD += $(HIREDIS_LIBS)
endif

bench_echo_server_SOURCES = bench/echo-server.c
bench_echo_server_CPPFLAGS = -I$(top_builddir) -I$(top_srcdir)/common -D_GNU_SOURCE
bench_echo_server_LDADD = common/libconddcommon.la

# snapbench: save and load time and size of the live restart's state (daemon/snapshot.c) at
# 1,000 sessions, 100,000 held locks and 10,000 condition waiters (RESULTS.md).
noinst_PROGRAMS += bench/snapbench
bench_snapbench_SOURCES = bench/snapbench.c
bench_snapbench_CPPFLAGS = $(DAEMON_CPPFLAGS)
bench_snapbench_CFLAGS = $(daemon_libconddcore_la_CFLAGS)
bench_snapbench_LDADD = daemon/libconddcore.la $(LIBEVENT_CORE_LIBS) $(PROTOBUF_C_LIBS)

dist_noinst_SCRIPTS += bench/compare.sh bench/partial-frames.py
dist_noinst_SCRIPTS += bench/tls-compare.sh
dist_noinst_SCRIPTS += bench/tls-instructions.sh
# grace-instructions.sh: instructions per cycle with and without a resume grace (RESULTS.md).
dist_noinst_SCRIPTS += bench/grace-instructions.sh

# shard-bench.sh: cycles/s and daemon CPU across clusters of 1, 2 and 3 servers (RESULTS.md).
dist_noinst_SCRIPTS += bench/shard-bench.sh
EXTRA_DIST += bench/README.md bench/RESULTS.md

# stallprobe: the longest event-loop stall while a session holding N locks ends (RESULTS.md).
noinst_PROGRAMS += bench/stallprobe
bench_stallprobe_SOURCES = bench/stallprobe.c
bench_stallprobe_CPPFLAGS = -I$(top_srcdir)/client/include -I$(top_srcdir)/common -D_GNU_SOURCE
bench_stallprobe_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CORE_CFLAGS)
bench_stallprobe_LDADD = client/libcondd.la common/libconddcommon.la $(LIBEVENT_CORE_LIBS)

# restart-bench: a live restart (SIGUSR2) with 100,000 held locks, 10,000 condition waiters and
# 1,000 sessions: the gap seen by a pinging client, the time until every session resumed, the
# size of the state (RESULTS.md, "Live restart").
noinst_PROGRAMS += bench/restart-bench
bench_restart_bench_SOURCES = bench/restart_bench.c
bench_restart_bench_CPPFLAGS = -I$(top_builddir) -I$(top_srcdir)/client/include -D_GNU_SOURCE
bench_restart_bench_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CORE_CFLAGS)
bench_restart_bench_LDADD = client/libcondd.la $(LIBEVENT_CORE_LIBS)
