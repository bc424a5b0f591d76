# tests/: condd as a service (fragment of the top-level Makefile.am): socket activation,
# sd_notify readiness and watchdog, the config file and SIGHUP, SIGTERM with pending requests,
# the metrics endpoint (check_service), and the systemd units under systemd-analyze.

check_PROGRAMS += tests/check_service
tests_check_service_SOURCES = tests/check_service.c tests/service_util.c tests/service_util.h
tests_check_service_CFLAGS = $(TEST_CFLAGS)
tests_check_service_LDADD = tests/libtestutil.la proto/libconddproto.la $(PROTOBUF_C_LIBS) \
	$(CHECK_LIBS)

dist_check_SCRIPTS += tests/service-units.sh
TESTS += tests/check_service tests/service-units.sh
