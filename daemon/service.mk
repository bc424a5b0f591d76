# daemon/: running condd as a service: the config file, systemd notification and socket
# activation, and the Prometheus endpoint (fragment of the top-level Makefile.am).
daemon_libconddcore_la_SOURCES += \
	daemon/conffile.c daemon/conffile.h \
	daemon/metrics.c daemon/metrics.h \
	daemon/sdnotify.c daemon/sdnotify.h
