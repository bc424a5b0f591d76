# condctl/: the command-line tool for scripts and operators. It is a client of libcondd like any
# other: its include path holds only the installed public headers (and the shared helpers in
# common/), so reaching into the library's internals is a build error.

bin_PROGRAMS += condctl/condctl
condctl_condctl_SOURCES = \
	condctl/condctl.h \
	condctl/condctl.c \
	condctl/condctl_cmd.c \
	condctl/condctl_child.c \
	condctl/condctl_sem.c \
	condctl/condctl_out.c \
	condctl/condctl_event.c \
	condctl/condctl_barrier.c \
	condctl/condctl_admin.c \
	condctl/condctl_cluster.c
condctl_condctl_CPPFLAGS = -I$(top_srcdir)/client/include -I$(top_srcdir)/common -D_GNU_SOURCE \
	-DCONDD_PACKAGE_VERSION='"$(PACKAGE_VERSION)"'
condctl_condctl_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CORE_CFLAGS)
condctl_condctl_LDADD = client/libcondd.la common/libconddcommon.la $(LIBEVENT_CORE_LIBS) -lm

dist_man_MANS += docs/condctl.1
