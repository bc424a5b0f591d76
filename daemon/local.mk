# daemon/: condd. Everything but main.c is an internal library so the tests link the real code:
# the network layer (server, conn, dispatch), settings and the config file, logging, stats, the
# systemd integration and the Prometheus endpoint, the engine's clock on libevent (evclock) and
# the engine-to-wire status mapping (status). The engine is in daemon/engine/ (its own
# fragment) and speaks neither protobuf nor libevent.

DAEMON_CPPFLAGS = -I$(top_builddir) -I$(top_builddir)/proto -I$(top_srcdir)/proto \
	-I$(top_srcdir)/common -I$(top_srcdir)/daemon -I$(top_srcdir)/daemon/engine -D_GNU_SOURCE

noinst_LTLIBRARIES += daemon/libconddcore.la
daemon_libconddcore_la_SOURCES = \
	daemon/auth.c daemon/auth.h \
	daemon/authz.c daemon/authz.h \
	daemon/conffile.c daemon/conffile.h \
	daemon/cluster.c daemon/cluster.h \
	daemon/conn.c \
	daemon/dispatch.c daemon/dispatch_internal.h \
	daemon/dispatch_admin.c \
	daemon/dispatch_event.c \
	daemon/dispatch_barrier.c \
	daemon/dispatch_sem.c \
	daemon/evclock.c daemon/evclock.h \
	daemon/log.c daemon/log.h \
	daemon/metrics.c daemon/metrics.h \
	daemon/pool.c daemon/pool.h \
	daemon/restart.c daemon/restart.h \
	daemon/resume.c daemon/resume.h \
	daemon/sdnotify.c daemon/sdnotify.h \
	daemon/server.c daemon/server.h daemon/server_internal.h \
	daemon/settings.c daemon/settings.h \
	daemon/snapshot.c daemon/snapshot.h \
	daemon/stats.c daemon/stats.h \
	daemon/status.c daemon/status.h \
	daemon/tls.c daemon/tls.h
daemon_libconddcore_la_CPPFLAGS = $(DAEMON_CPPFLAGS)
daemon_libconddcore_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CORE_CFLAGS) $(LIBEVENT_EXTRA_CFLAGS) \
	$(PROTOBUF_C_CFLAGS) $(SODIUM_CFLAGS) $(SYSTEMD_CFLAGS) $(OPENSSL_CFLAGS)
daemon_libconddcore_la_LIBADD = daemon/engine/libconddengine.la proto/libconddproto.la \
	proto/libconddstate.la \
	common/libconddcommon.la $(LIBEVENT_CORE_LIBS) $(LIBEVENT_EXTRA_LIBS) $(PROTOBUF_C_LIBS) \
	$(SODIUM_LIBS) $(SYSTEMD_LIBS) $(OPENSSL_LIBS) -lm

sbin_PROGRAMS += daemon/condd
daemon_condd_SOURCES = daemon/main.c
daemon_condd_CPPFLAGS = $(DAEMON_CPPFLAGS)
daemon_condd_CFLAGS = $(daemon_libconddcore_la_CFLAGS)
daemon_condd_LDADD = daemon/libconddcore.la
