# tests/: every suite `make check` runs. Check suites link the code they test as internal
# libraries (the daemon core, the engine, the client library); shell tests drive the built
# programs, each starting its own condd on an ephemeral loopback port.

# Each group of suites sees only the folders it tests.
TEST_CPPFLAGS = -I$(top_builddir) -I$(top_builddir)/proto -I$(top_srcdir)/proto \
	-I$(top_srcdir)/common -I$(top_srcdir)/tests -D_GNU_SOURCE
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(PROTOBUF_C_CFLAGS) $(LIBEVENT_CORE_CFLAGS)
# The engine suites, like the engine, see neither the wire nor libevent.
ENGINE_TEST_CPPFLAGS = -I$(top_builddir) -I$(top_srcdir)/common -I$(top_srcdir)/tests \
	-I$(top_srcdir)/daemon/engine -D_GNU_SOURCE
ENGINE_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(SODIUM_CFLAGS)
CLIENT_TEST_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/client/include

# ---------------------------------------------------------------- shared helpers
noinst_LTLIBRARIES += tests/libtestutil.la
tests_libtestutil_la_SOURCES = tests/testutil.c tests/testutil.h tests/wireclient.c tests/wireclient.h \
	tests/proxy_util.c tests/proxy_util.h tests/wire_expect.h
tests_libtestutil_la_CPPFLAGS = $(TEST_CPPFLAGS)
tests_libtestutil_la_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS)
tests_libtestutil_la_LIBADD = proto/libconddproto.la common/libconddcommon.la

# ---------------------------------------------------------------- layout rules (docs/hacking.md)
dist_check_SCRIPTS += tests/layout.sh
TESTS += tests/layout.sh

# ---------------------------------------------------------------- codec and shared helpers
check_PROGRAMS += tests/check_frame tests/check_common
TESTS += tests/check_frame tests/check_common
tests_check_frame_SOURCES = tests/check_frame.c
tests_check_frame_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_frame_CFLAGS = $(TEST_CFLAGS)
tests_check_frame_LDADD = proto/libconddproto.la $(CHECK_LIBS)

tests_check_common_SOURCES = tests/check_common.c
tests_check_common_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_common_CFLAGS = $(TEST_CFLAGS)
tests_check_common_LDADD = common/libconddcommon.la $(CHECK_LIBS) -lm

# ---------------------------------------------------------------- the engine, without sockets
# engine_fixture.c and the fake clock are compiled into each engine suite. They link neither
# libevent nor protobuf-c: the engine must not need them.
ENGINE_TEST_LDADD = daemon/engine/libconddengine.la $(CHECK_LIBS)
ENGINE_FIXTURE = tests/engine_fixture.c tests/engine_fixture.h tests/fake_clock.c \
	tests/fake_clock.h

check_PROGRAMS += tests/check_table tests/check_lock tests/check_cond tests/check_engine_random
TESTS += tests/check_table tests/check_lock tests/check_cond tests/check_engine_random
check_PROGRAMS += tests/check_sem
TESTS += tests/check_sem

check_PROGRAMS += tests/check_event
TESTS += tests/check_event
tests_check_event_SOURCES = tests/check_event.c $(ENGINE_FIXTURE)
tests_check_event_CPPFLAGS = $(ENGINE_TEST_CPPFLAGS)
tests_check_event_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_check_event_LDADD = $(ENGINE_TEST_LDADD)

check_PROGRAMS += tests/check_barrier
TESTS += tests/check_barrier
tests_check_barrier_SOURCES = tests/check_barrier.c $(ENGINE_FIXTURE)
tests_check_barrier_CPPFLAGS = $(ENGINE_TEST_CPPFLAGS)
tests_check_barrier_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_check_barrier_LDADD = $(ENGINE_TEST_LDADD)

tests_check_table_SOURCES = tests/check_table.c
tests_check_table_CPPFLAGS = $(ENGINE_TEST_CPPFLAGS)
tests_check_table_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_check_table_LDADD = $(ENGINE_TEST_LDADD)

tests_check_lock_SOURCES = tests/check_lock.c $(ENGINE_FIXTURE)
tests_check_lock_CPPFLAGS = $(ENGINE_TEST_CPPFLAGS)
tests_check_lock_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_check_lock_LDADD = $(ENGINE_TEST_LDADD)

tests_check_cond_SOURCES = tests/check_cond.c $(ENGINE_FIXTURE)
tests_check_cond_CPPFLAGS = $(ENGINE_TEST_CPPFLAGS)
tests_check_cond_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_check_cond_LDADD = $(ENGINE_TEST_LDADD)

tests_check_sem_SOURCES = tests/check_sem.c $(ENGINE_FIXTURE)
tests_check_sem_CPPFLAGS = $(ENGINE_TEST_CPPFLAGS)
tests_check_sem_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_check_sem_LDADD = $(ENGINE_TEST_LDADD)

# shared (reader) locks, issue 13
check_PROGRAMS += tests/check_rwlock
TESTS += tests/check_rwlock
tests_check_rwlock_SOURCES = tests/check_rwlock.c $(ENGINE_FIXTURE)
tests_check_rwlock_CPPFLAGS = $(ENGINE_TEST_CPPFLAGS)
tests_check_rwlock_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_check_rwlock_LDADD = $(ENGINE_TEST_LDADD)

tests_check_engine_random_SOURCES = tests/check_engine_random.c tests/engine_random.h \
	tests/engine_random_model.c tests/engine_random_check.c tests/engine_random_ops.c \
	$(ENGINE_FIXTURE)
tests_check_engine_random_CPPFLAGS = $(ENGINE_TEST_CPPFLAGS)
tests_check_engine_random_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_check_engine_random_LDADD = $(ENGINE_TEST_LDADD)

# ---------------------------------------------------------------- the daemon over loopback
check_PROGRAMS += tests/check_daemon
TESTS += tests/check_daemon
tests_check_daemon_SOURCES = tests/check_daemon.c
tests_check_daemon_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_daemon_CFLAGS = $(TEST_CFLAGS)
tests_check_daemon_LDADD = tests/libtestutil.la proto/libconddproto.la $(CHECK_LIBS)

# Session resume and Goodbye through the wire (protocol.md §5.5-§5.7).
check_PROGRAMS += tests/check_resume
TESTS += tests/check_resume
tests_check_resume_SOURCES = tests/check_resume.c
tests_check_resume_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_resume_CFLAGS = $(TEST_CFLAGS)
tests_check_resume_LDADD = tests/libtestutil.la proto/libconddproto.la $(CHECK_LIBS)

# ---------------------------------------------------------------- the live restart's state
# A real server on socketpairs, saved to a memfd and loaded into a new one (daemon/snapshot.c).
check_PROGRAMS += tests/check_snapshot
TESTS += tests/check_snapshot
tests_check_snapshot_SOURCES = tests/check_snapshot.c
tests_check_snapshot_CPPFLAGS = $(DAEMON_CPPFLAGS) -I$(top_srcdir)/tests
tests_check_snapshot_CFLAGS = $(daemon_libconddcore_la_CFLAGS) $(CHECK_CFLAGS)
tests_check_snapshot_LDADD = daemon/libconddcore.la tests/libtestutil.la $(LIBEVENT_CORE_LIBS) \
	$(PROTOBUF_C_LIBS) $(SODIUM_LIBS) $(CHECK_LIBS)

# The engine half of the live restart, with exact timeouts on the fake clock.
check_PROGRAMS += tests/check_snapshot_engine
TESTS += tests/check_snapshot_engine
tests_check_snapshot_engine_SOURCES = tests/check_snapshot_engine.c $(ENGINE_FIXTURE)
tests_check_snapshot_engine_CPPFLAGS = $(ENGINE_TEST_CPPFLAGS)
tests_check_snapshot_engine_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_check_snapshot_engine_LDADD = $(ENGINE_TEST_LDADD)

# blipproxy: the test proxy that drops, resets or stalls connections on command (a helper of
# the suites, not a test), and the blips through it.
check_PROGRAMS += tests/blipproxy tests/check_blip
TESTS += tests/check_blip
tests_blipproxy_SOURCES = tests/blipproxy.c
tests_blipproxy_CPPFLAGS = $(TEST_CPPFLAGS)
tests_blipproxy_CFLAGS = $(AM_CFLAGS)
tests_check_blip_SOURCES = tests/check_blip.c
tests_check_blip_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_blip_CFLAGS = $(TEST_CFLAGS)
tests_check_blip_LDADD = tests/libtestutil.la proto/libconddproto.la $(CHECK_LIBS)

# condd as a service: socket activation, sd_notify readiness and watchdog, the config file and
# SIGHUP, SIGTERM with pending requests, the metrics endpoint (check_service), and the systemd
# units under systemd-analyze.
check_PROGRAMS += tests/check_service
tests_check_service_SOURCES = tests/check_service.c tests/service_util.c tests/service_util.h
tests_check_service_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_service_CFLAGS = $(TEST_CFLAGS)
tests_check_service_LDADD = tests/libtestutil.la proto/libconddproto.la $(PROTOBUF_C_LIBS) \
	$(CHECK_LIBS)
dist_check_SCRIPTS += tests/service-units.sh
TESTS += tests/check_service tests/service-units.sh
# condd(8) against condd: the metrics served, every status, the options and config keys, the
# example config; and no doc still calling TLS or authentication missing.
dist_check_SCRIPTS += tests/condd-docs.sh
TESTS += tests/condd-docs.sh
# condd's checks before it opens anything: a value that cannot work exits 2, opening nothing.
dist_check_SCRIPTS += tests/condd-options.sh
TESTS += tests/condd-options.sh

# The settings table and the config file reader, row by row, linking the daemon core (plus the
# condd binary for --help and the usage exit).
check_PROGRAMS += tests/check_settings
TESTS += tests/check_settings
tests_check_settings_SOURCES = tests/check_settings.c
tests_check_settings_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/daemon
tests_check_settings_CFLAGS = $(TEST_CFLAGS)
tests_check_settings_LDADD = daemon/libconddcore.la tests/libtestutil.la $(CHECK_LIBS)

# The auth file grammar, token hashing and the permission rules (daemon/auth.c), directly.
check_PROGRAMS += tests/check_auth
TESTS += tests/check_auth
tests_check_auth_SOURCES = tests/check_auth.c
tests_check_auth_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/daemon
tests_check_auth_CFLAGS = $(TEST_CFLAGS) $(SODIUM_CFLAGS)
tests_check_auth_LDADD = daemon/libconddcore.la $(CHECK_LIBS)

# ---------------------------------------------------------------- libcondd
# Unit tests of its internals plus both APIs against a real condd, and the install test (build
# a program against the installed library with pkg-config only).
check_PROGRAMS += tests/check_client
tests_check_client_SOURCES = tests/check_client.c tests/client_util.c tests/client_util.h
tests_check_client_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_client_CFLAGS = $(TEST_CFLAGS)
tests_check_client_LDADD = client/libconddclient.la tests/libtestutil.la $(CHECK_LIBS) \
	$(LIBEVENT_CORE_LIBS) -lm

check_PROGRAMS += tests/check_client_event
tests_check_client_event_SOURCES = tests/check_client_event.c tests/client_util.c \
	tests/client_util.h
tests_check_client_event_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_client_event_CFLAGS = $(TEST_CFLAGS)
tests_check_client_event_LDADD = client/libconddclient.la tests/libtestutil.la $(CHECK_LIBS) \
	$(LIBEVENT_CORE_LIBS) -lm

check_PROGRAMS += tests/check_client_admin
tests_check_client_admin_SOURCES = tests/check_client_admin.c tests/client_util.c \
	tests/client_util.h
tests_check_client_admin_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_client_admin_CFLAGS = $(TEST_CFLAGS)
tests_check_client_admin_LDADD = client/libconddclient.la tests/libtestutil.la $(CHECK_LIBS) \
	$(LIBEVENT_CORE_LIBS) -lm

check_PROGRAMS += tests/check_client_auth
tests_check_client_auth_SOURCES = tests/check_client_auth.c tests/client_util.c \
	tests/client_util.h
tests_check_client_auth_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_client_auth_CFLAGS = $(TEST_CFLAGS)
tests_check_client_auth_LDADD = client/libconddclient.la tests/libtestutil.la $(CHECK_LIBS) \
	$(LIBEVENT_CORE_LIBS) -lm

check_PROGRAMS += tests/check_client_barrier
tests_check_client_barrier_SOURCES = tests/check_client_barrier.c tests/client_util.c \
	tests/client_util.h
tests_check_client_barrier_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_client_barrier_CFLAGS = $(TEST_CFLAGS)
tests_check_client_barrier_LDADD = client/libconddclient.la tests/libtestutil.la $(CHECK_LIBS) \
	$(LIBEVENT_CORE_LIBS) -lm

check_PROGRAMS += tests/check_client_sem
tests_check_client_sem_SOURCES = tests/check_client_sem.c tests/client_util.c tests/client_util.h
tests_check_client_sem_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_client_sem_CFLAGS = $(TEST_CFLAGS)
tests_check_client_sem_LDADD = $(tests_check_client_LDADD)

check_PROGRAMS += tests/check_client_resume
tests_check_client_resume_SOURCES = tests/check_client_resume.c tests/client_util.c \
	tests/client_util.h
tests_check_client_resume_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_client_resume_CFLAGS = $(TEST_CFLAGS)
tests_check_client_resume_LDADD = $(tests_check_client_LDADD)
TESTS += tests/check_client_resume
# acknowledged delivery in libcondd (protocol.md §5.6.2): a scripted server, and condd behind
# tests/blipproxy
check_PROGRAMS += tests/check_client_acks
tests_check_client_acks_SOURCES = tests/check_client_acks.c tests/client_util.c \
	tests/client_util.h tests/cluster_util.c tests/cluster_util.h
tests_check_client_acks_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_client_acks_CFLAGS = $(TEST_CFLAGS) $(SODIUM_CFLAGS) -pthread
tests_check_client_acks_LDADD = $(tests_check_client_LDADD) common/libconddcommon.la \
	$(SODIUM_LIBS) -lpthread
TESTS += tests/check_client_acks
# shared (reader) locks through both libcondd APIs (issue 13)
check_PROGRAMS += tests/check_client_rwlock
tests_check_client_rwlock_SOURCES = tests/check_client_rwlock.c tests/client_util.c \
	tests/client_util.h
tests_check_client_rwlock_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_client_rwlock_CFLAGS = $(TEST_CFLAGS)
tests_check_client_rwlock_LDADD = $(tests_check_client_LDADD)
TESTS += tests/check_client_rwlock

# libcondd at its edges: fork, failed opens' messages, closing before Hello, threads
check_PROGRAMS += tests/check_client_edges
tests_check_client_edges_SOURCES = tests/check_client_edges.c tests/client_util.c \
	tests/client_util.h
tests_check_client_edges_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_client_edges_CFLAGS = $(TEST_CFLAGS) -pthread
tests_check_client_edges_LDADD = $(tests_check_client_LDADD)
tests_check_client_edges_LDFLAGS = -pthread
TESTS += tests/check_client_edges
# CPython's EventTests, SemaphoreTests and BarrierTests (test_asyncio/test_locks.py) through libcondd
check_PROGRAMS += tests/check_cpython_locks
tests_check_cpython_locks_SOURCES = tests/check_cpython_locks.c tests/client_util.c \
	tests/client_util.h
tests_check_cpython_locks_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_cpython_locks_CFLAGS = $(TEST_CFLAGS)
tests_check_cpython_locks_LDADD = $(tests_check_client_LDADD)
TESTS += tests/check_cpython_locks

# TLS listeners and tls: addresses, with certificates made by tests/tls-certs.sh.
check_PROGRAMS += tests/check_tls
tests_check_tls_SOURCES = tests/check_tls.c tests/tls_util.c tests/tls_util.h
tests_check_tls_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_tls_CFLAGS = $(TEST_CFLAGS) $(OPENSSL_CFLAGS) -pthread
tests_check_tls_LDADD = client/libconddclient.la tests/libtestutil.la $(CHECK_LIBS) \
	$(LIBEVENT_CORE_LIBS) $(OPENSSL_LIBS) -lpthread -lm
TESTS += tests/check_tls
EXTRA_DIST += tests/tls-certs.sh

# Sessions resumed over TLS: blips, takeovers, a raw TLS client and a scripted TLS server.
check_PROGRAMS += tests/check_tls_resume
tests_check_tls_resume_SOURCES = tests/check_tls_resume.c tests/tls_util.c tests/tls_util.h
tests_check_tls_resume_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_tls_resume_CFLAGS = $(TEST_CFLAGS) $(OPENSSL_CFLAGS) -pthread
tests_check_tls_resume_LDADD = $(tests_check_tls_LDADD)
TESTS += tests/check_tls_resume

# libcondd's TLS records against a scripted TLS server: read-ahead, large answers, cut records,
# a reset connection.
check_PROGRAMS += tests/check_tls_records
tests_check_tls_records_SOURCES = tests/check_tls_records.c tests/tls_util.c tests/tls_util.h
tests_check_tls_records_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_tls_records_CFLAGS = $(TEST_CFLAGS) $(OPENSSL_CFLAGS) -pthread
tests_check_tls_records_LDADD = $(tests_check_tls_LDADD)
TESTS += tests/check_tls_records

TESTS += tests/check_client tests/check_client_event tests/check_client_barrier tests/check_client_sem \
	tests/check_client_auth tests/check_client_admin \
	tests/install-test.sh tests/client-examples.sh
dist_check_SCRIPTS += tests/install-test.sh tests/client-examples.sh

# What install-test.sh needs from configure, written at build time so the script runs the same
# under make check and make distcheck.
tests/install-test.env: Makefile
	$(AM_V_GEN){ \
	  echo "CC='$(CC)'"; \
	  echo "CXX='$(CXX)'"; \
	  echo "SAN_CFLAGS='$(SAN_CFLAGS)'"; \
	  echo "SAN_LDFLAGS='$(SAN_LDFLAGS)'"; \
	  echo "MAKE_CMD='$(MAKE)'"; \
	  echo "prefix='$(prefix)'"; \
	  echo "libdir='$(libdir)'"; \
	  echo "includedir='$(includedir)'"; \
	  echo "build_static='$$($(LIBTOOL) --config | sed -n 's/^build_old_libs=//p')'"; \
	  echo "static_asked='$$($(top_builddir)/config.status --config | grep -q "'--enable-static" && echo yes)'"; \
	} >$@
# (Both log names: tests/X.sh.log now, tests/X.log if .sh ever joins TEST_EXTENSIONS.)
tests/install-test.sh.log tests/install-test.log: tests/install-test.env client/libcondd.la
CLEANFILES += tests/install-test.env

# ---------------------------------------------------------------- condctl
CONDCTL_TESTS = \
	tests/condctl-basic.sh \
	tests/condctl-args.sh \
	tests/condctl-lock.sh \
	tests/condctl-sem.sh \
	tests/condctl-hold.sh \
	tests/condctl-cond.sh \
	tests/condctl-timeout.sh \
	tests/condctl-connect.sh \
	tests/condctl-names.sh \
	tests/condctl-conflict.sh \
	tests/condctl-options.sh \
	tests/condctl-list.sh \
	tests/condctl-event.sh \
	tests/condctl-auth.sh \
	tests/condctl-admin.sh \
	tests/condctl-barrier.sh \
	tests/condctl-complete.sh \
	tests/condctl-docs.sh \
	tests/condctl-resume.sh \
	tests/condctl-shared.sh \
	tests/condctl-tls.sh \
	tests/condctl-cluster.sh \
	tests/condctl-restart.sh
CONDCTL_TESTS += tests/condctl-signals.sh
dist_check_SCRIPTS += $(CONDCTL_TESTS)
EXTRA_DIST += tests/condctl-lib.sh
TESTS += $(CONDCTL_TESTS)

# ---------------------------------------------------------------- condbench
# About a second in every mode against a condd it starts itself; it asserts no speed.
dist_check_SCRIPTS += tests/bench-smoke.sh
TESTS += tests/bench-smoke.sh

# ---------------------------------------------------------------- the soak
# tests/soak forks worker processes on libcondd's public blocking API and SIGKILLs workers and
# the daemon at random while checking mutual exclusion, fencing tokens, lost notifications,
# condd's final state and its RSS (docs/hacking.md, "Soak"). tests/soak.sh runs it for
# $SOAK_SECONDS (default 30).
check_PROGRAMS += tests/soak
tests_soak_SOURCES = tests/soak.c tests/soak.h tests/soak_check.c tests/soak_shared.c \
	tests/soak_worker.c
tests_soak_CPPFLAGS = -I$(top_srcdir)/client/include -I$(top_srcdir)/common -D_GNU_SOURCE
tests_soak_CFLAGS = $(AM_CFLAGS) -pthread
tests_soak_LDADD = client/libcondd.la common/libconddcommon.la -lpthread -lm
dist_check_SCRIPTS += tests/soak.sh
TESTS += tests/soak.sh

# conn_new_tls() with each of libevent's allocations failing in turn (daemon core, directly).
check_PROGRAMS += tests/check_tls_oom
TESTS += tests/check_tls_oom
tests_check_tls_oom_SOURCES = tests/check_tls_oom.c
tests_check_tls_oom_CPPFLAGS = $(DAEMON_CPPFLAGS) -I$(top_srcdir)/tests
tests_check_tls_oom_CFLAGS = $(TEST_CFLAGS) $(SODIUM_CFLAGS)
tests_check_tls_oom_LDADD = daemon/libconddcore.la $(LIBEVENT_CORE_LIBS) $(CHECK_LIBS)

# A server in a cluster (protocol.md §21.5): three daemons on loopback ports bound first and
# handed over by socket activation (cluster_util.c), spoken to on the wire.
check_PROGRAMS += tests/check_cluster
TESTS += tests/check_cluster
tests_check_cluster_SOURCES = tests/check_cluster.c tests/cluster_util.c tests/cluster_util.h \
	tests/service_util.c tests/service_util.h
tests_check_cluster_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_cluster_CFLAGS = $(TEST_CFLAGS) $(SODIUM_CFLAGS)
tests_check_cluster_LDADD = tests/libtestutil.la proto/libconddproto.la \
	common/libconddcommon.la $(PROTOBUF_C_LIBS) $(SODIUM_LIBS) $(CHECK_LIBS)

# libcondd on a server list (issue 17) against three daemons of one cluster.
check_PROGRAMS += tests/check_client_cluster
TESTS += tests/check_client_cluster
tests_check_client_cluster_SOURCES = tests/check_client_cluster.c tests/cluster_util.c \
	tests/cluster_util.h
tests_check_client_cluster_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_client_cluster_CFLAGS = $(TEST_CFLAGS) $(SODIUM_CFLAGS)
tests_check_client_cluster_LDADD = client/libconddclient.la tests/libtestutil.la \
	common/libconddcommon.la $(CHECK_LIBS) $(LIBEVENT_CORE_LIBS) $(SODIUM_LIBS) -lm

# ---------------------------------------------------------------- several servers (issue 17)
# The same names reach the same server from Python, condctl and a reference of protocol.md §21.2
# (three condd with --cluster); the work is in tests/shard-cross.py.
dist_check_SCRIPTS += tests/shard-cross.sh
EXTRA_DIST += tests/shard-cross.py
TESTS += tests/shard-cross.sh
# tests/shard_cross_hold: the C side, on libcondd's public API with a server list.
check_PROGRAMS += tests/shard_cross_hold
tests_shard_cross_hold_SOURCES = tests/shard_cross_hold.c
tests_shard_cross_hold_CPPFLAGS = -I$(top_builddir) -I$(top_srcdir)/client/include
tests_shard_cross_hold_LDADD = client/libcondd.la
tests/shard-cross.sh.log tests/shard-cross.log: python/condd/condd_pb2.py daemon/condd condctl/condctl \
	tests/shard_cross_hold

# ---------------------------------------------------------------- live restart (issue 15)
# check_restart: SIGUSR2 re-exec keeping every primitive, an unreadable state, a failed exec,
# and the systemd fd-store hand-over with the test as the service manager.
check_PROGRAMS += tests/check_restart
tests_check_restart_SOURCES = tests/check_restart.c tests/client_util.c tests/client_util.h
tests_check_restart_CPPFLAGS = $(CLIENT_TEST_CPPFLAGS)
tests_check_restart_CFLAGS = $(TEST_CFLAGS)
tests_check_restart_LDADD = $(tests_check_client_LDADD)
TESTS += tests/check_restart
# restart_storm: 16 workers on locks and conditions while condd re-executes 20 times (never two
# holders, no lost notification, no error but reconnects, nothing left at the end).
check_PROGRAMS += tests/restart_storm
tests_restart_storm_SOURCES = tests/restart_storm.c
tests_restart_storm_CPPFLAGS = -I$(top_srcdir)/client/include -D_GNU_SOURCE
tests_restart_storm_CFLAGS = $(AM_CFLAGS)
tests_restart_storm_LDADD = client/libcondd.la
TESTS += tests/restart_storm
# check_restart_drain: the live restart saves while its half-closed connections drain; a timeout
# passing during the drain fires once in the successor, unwritten answers arrive after the resume.
check_PROGRAMS += tests/check_restart_drain
TESTS += tests/check_restart_drain
tests_check_restart_drain_SOURCES = tests/check_restart_drain.c
tests_check_restart_drain_CPPFLAGS = $(TEST_CPPFLAGS)
tests_check_restart_drain_CFLAGS = $(TEST_CFLAGS)
tests_check_restart_drain_LDADD = tests/libtestutil.la proto/libconddproto.la $(CHECK_LIBS)
