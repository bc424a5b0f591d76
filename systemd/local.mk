# systemd/: the service and socket units, and the commented example config file (fragment of the
# top-level Makefile.am). condd.service is generated so that ExecStart names the configured
# sbindir; condd.socket has nothing to substitute.

EXTRA_DIST += systemd/condd.service.in systemd/condd.socket
CLEANFILES += systemd/condd.service

systemd/condd.service: $(top_srcdir)/systemd/condd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	$(SED) -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
		-e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
		$(top_srcdir)/systemd/condd.service.in > $@.tmp && mv $@.tmp $@

if INSTALL_SYSTEMD_UNITS
systemdsystemunit_DATA = systemd/condd.service systemd/condd.socket

# The unit's LoadCredential= directory must exist (empty is fine) for condd.service to start;
# root-only, as it holds the TLS key and the auth file.
install-data-local:
	$(MKDIR_P) '$(DESTDIR)$(sysconfdir)/condd/credstore'
	chmod 0700 '$(DESTDIR)$(sysconfdir)/condd/credstore'

uninstall-local:
	-rmdir '$(DESTDIR)$(sysconfdir)/condd/credstore'
endif

# The example goes beside where the real file would be, under its own name, so that an install
# never overwrites an operator's /etc/condd/condd.conf.
conddconfdir = $(sysconfdir)/condd
dist_conddconf_DATA = systemd/condd.conf.example

dist_man_MANS += docs/condd.8
