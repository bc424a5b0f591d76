# examples/: small programs built on libcondd's public API only (they link the library as a user
# would). Built by `make check` and run against a real condd by tests/client-examples.sh.

# Only the public headers, as for a program built against the installed library.
EXAMPLES_CPPFLAGS = -I$(top_srcdir)/client/include

check_PROGRAMS += examples/workqueue examples/critical
examples_workqueue_SOURCES = examples/workqueue.c
examples_workqueue_CPPFLAGS = $(EXAMPLES_CPPFLAGS)
examples_workqueue_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CORE_CFLAGS)
examples_workqueue_LDADD = client/libcondd.la $(LIBEVENT_CORE_LIBS)
examples_critical_SOURCES = examples/critical.c
examples_critical_CPPFLAGS = $(EXAMPLES_CPPFLAGS)
examples_critical_CFLAGS = $(AM_CFLAGS)
examples_critical_LDADD = client/libcondd.la

# `make examples` builds just these (make check builds them too).
examples: examples/workqueue$(EXEEXT) examples/critical$(EXEEXT)
.PHONY: examples
