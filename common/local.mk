# common/: helpers shared by the daemon, libcondd, condctl and condbench (the message arena, the
# clocks and the seconds-to-timeval rounding rule, the address grammar, the rule for lock and
# condition names, the routing of names over several servers), built once as an internal convenience library. Nothing here does I/O or knows
# about the protocol's meaning.

noinst_LTLIBRARIES += common/libconddcommon.la
common_libconddcommon_la_SOURCES = \
	common/address.c common/address.h \
	common/arena.c common/arena.h \
	common/clock.c common/clock.h \
	common/name.c common/name.h \
	common/route.c common/route.h
common_libconddcommon_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir)
common_libconddcommon_la_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS) $(SODIUM_CFLAGS)
common_libconddcommon_la_LIBADD = $(SODIUM_LIBS) -lm
