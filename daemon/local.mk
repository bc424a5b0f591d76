# daemon/: condd. The core (everything but main) is an internal library so tests link it directly.
# Other fragments (table.mk, engine.mk, service.mk) add their sources to the core library.

noinst_LTLIBRARIES += daemon/libconddcore.la
daemon_libconddcore_la_SOURCES = \
	daemon/arena.c daemon/arena.h \
	daemon/conn.c \
	daemon/dispatch.c \
	daemon/engine.h \
	daemon/log.c daemon/log.h \
	daemon/server.c daemon/server.h daemon/server_internal.h \
	daemon/settings.c daemon/settings.h \
	daemon/stats.c daemon/stats.h \
	daemon/table.h
daemon_libconddcore_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CORE_CFLAGS) $(LIBEVENT_EXTRA_CFLAGS) \
	$(PROTOBUF_C_CFLAGS) $(SODIUM_CFLAGS) $(SYSTEMD_CFLAGS)
daemon_libconddcore_la_LIBADD = proto/libconddproto.la $(LIBEVENT_CORE_LIBS) $(LIBEVENT_EXTRA_LIBS) \
	$(PROTOBUF_C_LIBS) $(SODIUM_LIBS) $(SYSTEMD_LIBS) -lm

sbin_PROGRAMS += daemon/condd
daemon_condd_SOURCES = daemon/main.c
daemon_condd_CFLAGS = $(daemon_libconddcore_la_CFLAGS)
daemon_condd_LDADD = daemon/libconddcore.la
