# daemon/engine/: the engine, a pure state machine over named objects (one file per kind of
# object) and the hash table they live in. It is its own convenience library, compiled without
# the protobuf, libevent or daemon include paths and linked without their libraries, so that
# reaching for the wire or the event loop from here breaks the build (the engine suites link
# it without libevent): statuses are its own enum and time comes in through the clock
# interface in engine.h. It sees common/ for the token clock and libsodium for the hash key.

noinst_LTLIBRARIES += daemon/engine/libconddengine.la
daemon_engine_libconddengine_la_SOURCES = \
	daemon/engine/engine.c daemon/engine/engine.h daemon/engine/engine_internal.h \
	daemon/engine/lock.c \
	daemon/engine/cond.c \
	daemon/engine/event.c \
	daemon/engine/barrier.c \
	daemon/engine/qentry.c \
	daemon/engine/restore.c \
	daemon/engine/sem.c \
	daemon/engine/name.c \
	daemon/engine/table.c daemon/engine/table.h
daemon_engine_libconddengine_la_CPPFLAGS = -I$(top_builddir) -I$(top_srcdir)/daemon/engine \
	-I$(top_srcdir)/common -D_GNU_SOURCE
daemon_engine_libconddengine_la_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS)
daemon_engine_libconddengine_la_LIBADD = common/libconddcommon.la $(SODIUM_LIBS) -lm

# The include paths above keep the wire's generated header out of reach, but libevent's headers
# sit in the system include directory: this stamp, a prerequisite of the library, fails the
# build when any engine file includes a libevent or a protobuf-c header. (The patterns are
# bracketed so that a plain grep for those includes over this folder finds nothing here.)
EXTRA_daemon_engine_libconddengine_la_DEPENDENCIES = daemon/engine/isolated.stamp
daemon/engine/isolated.stamp: $(daemon_engine_libconddengine_la_SOURCES)
	$(AM_V_GEN)if (cd $(srcdir) && grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](event2[/]|[^">]*pb-c[.]h)' \
	    $(daemon_engine_libconddengine_la_SOURCES)); then \
	  echo "daemon/engine/ must not include libevent or the wire (see engine.h)" >&2; exit 1; \
	fi; \
	$(MKDIR_P) daemon/engine && touch $@
CLEANFILES += daemon/engine/isolated.stamp
