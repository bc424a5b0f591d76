#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# bench-smoke.sh: keeps condbench working. Starts condd and echo-server on loopback ephemeral
# ports, runs condbench for about one second in every mode (and the echo target once), and checks
# only that each run exits 0 and ends with the final line with ops > 0. No speed is asserted:
# the numbers depend on the machine; bench/compare.sh is where they are measured.

set -u

top_builddir=${top_builddir:-.}
CONDD=${CONDD:-$top_builddir/daemon/condd}
CONDBENCH=${CONDBENCH:-$top_builddir/bench/condbench}
ECHO_SERVER=${ECHO_SERVER:-$top_builddir/bench/echo-server}
for p in "$CONDD" "$CONDBENCH" "$ECHO_SERVER"; do
    if [ ! -x "$p" ]; then
        echo "bench-smoke: $p not built" >&2
        exit 99
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/condd-bench-smoke.XXXXXX") || exit 99
pids=
cleanup() {
    for p in $pids; do
        kill "$p" 2>/dev/null
    done
    for p in $pids; do
        wait "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' INT TERM

# start NAME PROGRAM ARGS...: runs PROGRAM with --port-file and waits (10 s at most) until it
# listens; sets $port.
start() {
    name=$1
    shift
    "$@" --port-file "$tmp/$name.port" >"$tmp/$name.log" 2>&1 &
    pid=$!
    pids="$pids $pid"
    i=0
    while [ ! -s "$tmp/$name.port" ]; do
        if ! kill -0 $pid 2>/dev/null || [ $i -gt 200 ]; then
            echo "bench-smoke: $name did not start:" >&2
            cat "$tmp/$name.log" >&2
            exit 99
        fi
        i=$((i + 1))
        sleep 0.05
    done
    port=$(cat "$tmp/$name.port")
}

start condd "$CONDD" --listen 127.0.0.1:0 --log-level warning
condd_addr=127.0.0.1:$port
start echo "$ECHO_SERVER" --listen 127.0.0.1:0
echo_addr=127.0.0.1:$port

failures=0
# check ARGS...: one condbench run of about a second.
check() {
    timeout 60 "$CONDBENCH" -d 1 "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    line=$(grep '^condbench target=' "$tmp/out" | tail -n 1)
    ops=$(echo "$line" | sed -n 's/.* ops=\([0-9]*\) .*/\1/p')
    if [ $rc -eq 0 ] && echo "$line" | grep -Eq \
        '^condbench target=[a-z]+ mode=[a-z]+ connections=[0-9]+ ops=[0-9]+ ops_per_s=[0-9]+ p50_us=[0-9.]+ p99_us=[0-9.]+ p999_us=[0-9.]+$' &&
        [ "${ops:-0}" -gt 0 ]; then
        echo "ok: condbench $* -> $line"
    else
        echo "FAIL: condbench $* (exit $rc)"
        sed 's/^/  | /' "$tmp/out" "$tmp/err"
        failures=$((failures + 1))
    fi
}

check -a "$condd_addr" -m uncontended -c 4 -T 2
check -a "$condd_addr" -m contended -c 4
check -a "$condd_addr" -m handoff -c 4
check -a "$condd_addr" -m fanout -c 2 --owners 5
check -a "$condd_addr" -m churn -c 2 --names 1000
check -a "$condd_addr" -m churn -c 2 --names 2000 --hold
check -a "$condd_addr" -m idle -c 16 --json
check -t echo -a "$echo_addr" -m uncontended -c 2

# condd must have survived all of it.
kill -0 $(echo $pids | cut -d' ' -f1) 2>/dev/null || {
    echo "FAIL: condd exited during the runs"
    failures=$((failures + 1))
}
[ $failures -eq 0 ]
