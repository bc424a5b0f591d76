#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Runs the multi-process soak (tests/soak.c) against the freshly built condd: workers SIGKILLed
# every ~200 ms, the daemon every few seconds, mutual exclusion, fencing, notifications, condd's
# final state and RSS checked. $SOAK_SECONDS (default 30) and $SOAK_WORKERS (default 8) shorten or
# widen it; extra options go in $SOAK_ARGS. The soak kills everything it started on every exit
# path; its temporary files live in a scratch directory removed here.
set -u

: "${top_builddir:?run through make check}"
: "${CONDD:?CONDD must name the condd binary}"
soak="${SOAK:-$top_builddir/tests/soak}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/condd-soak-sh.XXXXXX") || exit 99
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' INT TERM HUP

# Under ASan the allocator's quarantine (256 MiB by default) would show in condd's RSS as growth;
# cap it so the RSS check measures condd. A quarantine_size_mb already in $ASAN_OPTIONS wins.
ASAN_OPTIONS="quarantine_size_mb=8${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export ASAN_OPTIONS

# In the background, so that a signal to this script reaches its trap at once; --die-with-parent
# stops the soak (and with it condd and the workers) if this script is killed outright.
# shellcheck disable=SC2086
TMPDIR=$tmp "$soak" --die-with-parent --condd "$CONDD" -d "${SOAK_SECONDS:-30}" \
    -w "${SOAK_WORKERS:-8}" ${SOAK_ARGS:-} &
pid=$!
wait "$pid"
rc=$?
pid=
exit "$rc"
