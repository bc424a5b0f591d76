# proto/: the wire schema (compiled by protoc-c during the build) and the frame codec.
# Both the daemon core and libcondd link this convenience library.

PROTO_GEN = proto/condd.pb-c.c proto/condd.pb-c.h
BUILT_SOURCES += $(PROTO_GEN)
CLEANFILES += $(PROTO_GEN)
EXTRA_DIST += proto/condd.proto

# One protoc-c run writes both files; the header hangs off the .c so parallel make runs it once.
proto/condd.pb-c.c: proto/condd.proto
	$(AM_V_GEN)$(MKDIR_P) proto && \
	$(PROTOC_C) --proto_path=$(top_srcdir)/proto --c_out=proto $(top_srcdir)/proto/condd.proto
proto/condd.pb-c.h: proto/condd.pb-c.c
	@test -f $@ || { rm -f proto/condd.pb-c.c; $(MAKE) $(AM_MAKEFLAGS) proto/condd.pb-c.c; }

noinst_LTLIBRARIES += proto/libconddproto.la
proto_libconddproto_la_SOURCES = proto/frame.c proto/frame.h
nodist_proto_libconddproto_la_SOURCES = $(PROTO_GEN)
proto_libconddproto_la_CPPFLAGS = -I$(top_builddir) -I$(top_builddir)/proto -I$(top_srcdir)/proto
proto_libconddproto_la_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS)
proto_libconddproto_la_LIBADD = $(PROTOBUF_C_LIBS)

# The daemon's saved state for the live restart (daemon/snapshot.c): never on the wire, so it
# is its own library, linked by the daemon core only (libcondd does not carry it).
STATE_GEN = proto/state.pb-c.c proto/state.pb-c.h
BUILT_SOURCES += $(STATE_GEN)
CLEANFILES += $(STATE_GEN)
EXTRA_DIST += proto/state.proto

proto/state.pb-c.c: proto/state.proto
	$(AM_V_GEN)$(MKDIR_P) proto && \
	$(PROTOC_C) --proto_path=$(top_srcdir)/proto --c_out=proto $(top_srcdir)/proto/state.proto
proto/state.pb-c.h: proto/state.pb-c.c
	@test -f $@ || { rm -f proto/state.pb-c.c; $(MAKE) $(AM_MAKEFLAGS) proto/state.pb-c.c; }

noinst_LTLIBRARIES += proto/libconddstate.la
nodist_proto_libconddstate_la_SOURCES = $(STATE_GEN)
proto_libconddstate_la_CPPFLAGS = -I$(top_builddir) -I$(top_builddir)/proto -I$(top_srcdir)/proto
proto_libconddstate_la_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS)
proto_libconddstate_la_LIBADD = $(PROTOBUF_C_LIBS)
