# tests/: condctl's shell tests (fragment of the top-level Makefile.am). Each script starts its
# own condd on an ephemeral loopback port; condctl-lib.sh holds what they share.

dist_check_SCRIPTS += \
	tests/condctl-basic.sh \
	tests/condctl-args.sh \
	tests/condctl-lock.sh \
	tests/condctl-hold.sh \
	tests/condctl-cond.sh \
	tests/condctl-timeout.sh
EXTRA_DIST += tests/condctl-lib.sh

TESTS += \
	tests/condctl-basic.sh \
	tests/condctl-args.sh \
	tests/condctl-lock.sh \
	tests/condctl-hold.sh \
	tests/condctl-cond.sh \
	tests/condctl-timeout.sh
