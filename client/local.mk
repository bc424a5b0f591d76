# client/: libcondd, the installed client library (shared with a version script, and static),
# its public headers under $(includedir)/condd/, and libcondd.pc.
# The code is built once as a convenience library so the unit tests can reach internals
# (the pending table, the response decoding); libcondd.la wraps it and exports only condd_*.

CLIENT_CPPFLAGS = -I$(top_builddir) -I$(top_builddir)/proto -I$(top_srcdir)/proto \
	-I$(top_srcdir)/common -I$(top_srcdir)/client/include -D_GNU_SOURCE

noinst_LTLIBRARIES += client/libconddclient.la
client_libconddclient_la_SOURCES = \
	client/internal.h \
	client/errors.c \
	client/options.c \
	client/address.c \
	client/ptable.c \
	client/conn.c \
	client/cluster.c \
	client/reconnect.c \
	client/ops.c \
	client/waitfor.c \
	client/admin.c \
	client/event.c \
	client/sem.c \
	client/barrier.c \
	client/results.c \
	client/blocking.c \
	client/tls.c \
	client/acks.c \
	client/fork.c
client_libconddclient_la_CPPFLAGS = $(CLIENT_CPPFLAGS)
client_libconddclient_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CORE_CFLAGS) $(PROTOBUF_C_CFLAGS) \
	$(OPENSSL_CFLAGS)
client_libconddclient_la_LIBADD = proto/libconddproto.la common/libconddcommon.la \
	$(LIBEVENT_CORE_LIBS) $(PROTOBUF_C_LIBS) $(OPENSSL_LIBS) -lm

lib_LTLIBRARIES += client/libcondd.la
client_libcondd_la_SOURCES =
client_libcondd_la_LIBADD = client/libconddclient.la
client_libcondd_la_LDFLAGS = $(AM_LDFLAGS) -no-undefined -version-info $(LIBCONDD_LT_VERSION) \
	-Wl,--version-script=$(top_srcdir)/client/libcondd.sym
EXTRA_client_libcondd_la_DEPENDENCIES = client/libcondd.sym
EXTRA_DIST += client/libcondd.sym

condddir = $(includedir)/condd
condd_HEADERS = client/include/condd/condd.h client/include/condd/condd_async.h

pkgconfig_DATA += client/libcondd.pc

# After `make install` as root into a directory the dynamic linker searches (/usr/local/lib on
# Debian), refresh its cache as a distribution's maintainer scripts would; otherwise condctl
# fails with "libcondd.so.1: cannot open shared object file" until someone runs ldconfig.
# Staged (DESTDIR) and private-prefix installs are left alone.
install-exec-hook:
	@if test -z "$(DESTDIR)" && test "$$(id -u)" = 0 && command -v ldconfig >/dev/null 2>&1 && \
	   ldconfig -v -N 2>/dev/null | grep -q '^$(libdir):'; then \
	  echo "ldconfig (libcondd installed into $(libdir))"; ldconfig; \
	fi
