# client/: condctl, the command-line tool for scripts and operators (fragment of the top-level
# Makefile.am). It is built on the public libcondd API only and links the installed library.

bin_PROGRAMS += client/condctl
client_condctl_SOURCES = \
	client/condctl.h \
	client/condctl.c \
	client/condctl_cmd.c \
	client/condctl_child.c \
	client/condctl_out.c
client_condctl_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CORE_CFLAGS)
client_condctl_LDADD = client/libcondd.la $(LIBEVENT_CORE_LIBS) -lm

dist_man_MANS += docs/condctl.1
