#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Runs the libcondd examples against a real condd on an ephemeral loopback port: the async work
# queue (every item consumed exactly once), and four concurrent copies of the blocking critical
# section example (the shared counter ends exact, so the sections never overlapped).
set -eu

: "${top_builddir:?run through make check}"
condd="${CONDD:-$top_builddir/daemon/condd}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/condd-examples.XXXXXX")
daemon_pid=
cleanup() {
    if [ -n "$daemon_pid" ]; then
        kill "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() {
    echo "client-examples: $*" >&2
    exit 1
}

"$condd" --listen 127.0.0.1:0 --port-file "$tmp/port" --log-level error &
daemon_pid=$!
i=0
while [ ! -s "$tmp/port" ]; do
    i=$((i + 1))
    [ $i -lt 2000 ] || fail "condd did not write its port file"
    kill -0 "$daemon_pid" 2>/dev/null || fail "condd exited"
    sleep 0.01
done
addr="127.0.0.1:$(cat "$tmp/port")"

"$top_builddir/examples/workqueue" -s "$addr" -p 3 -c 4 -n 40 || fail "workqueue failed"

pids=
for n in 1 2 3 4; do
    "$top_builddir/examples/critical" -s "$addr" -n 25 -T 30 "$tmp/count" &
    pids="$pids $!"
done
for p in $pids; do
    wait "$p" || fail "a critical example failed"
done
count=$(cut -d' ' -f1 "$tmp/count")
[ "$count" = 100 ] || fail "counter is $count, want 100: critical sections overlapped"

# With nothing listening, the blocking example reports a connection error (exit 3).
rc=0
"$top_builddir/examples/critical" -s 127.0.0.1:1 -n 1 "$tmp/none" 2>/dev/null || rc=$?
[ "$rc" = 3 ] || fail "critical without a server exited $rc, want 3"
echo "client-examples: ok"
