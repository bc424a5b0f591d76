#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# bench-smoke.sh: keeps condbench working. Starts condd and echo-server on loopback ephemeral
# ports, runs condbench for about one second in every mode (and the echo target once), and checks
# that each run exits 0 and ends with the final line with ops > 0, that the new modes print their
# figures (fairness, barrier generations with correct arrival indices, names kept per --kind),
# and that a daemon with a small --max-pending refuses a flood of set events and barrier waiters
# past its limit with LIMIT_EXCEEDED and goes on serving. Across three servers (protocol.md §21)
# every routed mode runs and, with --balance, every server answers cycles; bench/shard-bench.sh
# runs once on clusters of 1 and 3 (with --cluster when the daemon has it, so a misrouted name
# would fail the run) and prints its table. No speed is asserted: the numbers depend on the
# machine; bench/compare.sh and bench/shard-bench.sh are where they are measured.

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
# A second daemon whose pending-request limit (which also caps set events server-wide) is 300:
# a flood of 1000 set events must be refused past the cap, and the daemon must keep serving.
start limited "$CONDD" --listen 127.0.0.1:0 --log-level warning --max-pending 300
limited_addr=127.0.0.1:$port
start echo "$ECHO_SERVER" --listen 127.0.0.1:0
echo_addr=127.0.0.1:$port
# Three more daemons for the server-list runs, made a cluster once their ports are known: each
# reads a config file that then gets "cluster" and "cluster-self" lines, and a SIGHUP reloads it
# (no port is released and bound again). From the reload on, every name condbench sends to the
# wrong server is refused with WRONG_SERVER, and the run fails.
list=
shard_pids=
for i in 0 1 2; do
    : >"$tmp/shard$i.conf"
    start shard$i "$CONDD" --listen 127.0.0.1:0 --log-level notice --config "$tmp/shard$i.conf"
    shard_pids="$shard_pids $pid"
    list="$list${list:+,}127.0.0.1:$port"
done
i=0
for p in $shard_pids; do
    printf 'cluster = %s\ncluster-self = %s\n' "$list" "$(echo "$list" | cut -d, -f$((i + 1)))" \
        >"$tmp/shard$i.conf"
    kill -HUP "$p"
    i=$((i + 1))
done
# Wait (10 s at most) until each has logged the reload of its cluster setting.
i=0
for p in $shard_pids; do
    n=0
    until grep -q 'reload: cluster-self changed' "$tmp/shard$i.log"; do
        if ! kill -0 "$p" 2>/dev/null || [ $n -gt 200 ] || grep -q 'reload failed' "$tmp/shard$i.log"; then
            echo "bench-smoke: shard$i did not take its cluster settings:" >&2
            cat "$tmp/shard$i.log" >&2
            exit 99
        fi
        n=$((n + 1))
        sleep 0.05
    done
    i=$((i + 1))
done

failures=0
# expect_line PATTERN: the last run printed a line matching PATTERN (grep -E), else a failure.
expect_line() {
    if grep -Eq "$1" "$tmp/out"; then
        echo "ok:   ... and it printed /$1/"
    else
        echo "FAIL: the last run printed no line matching /$1/"
        sed 's/^/  | /' "$tmp/out" "$tmp/err"
        failures=$((failures + 1))
    fi
}

# check ARGS...: one condbench run of about a second.
check() {
    timeout 60 "$CONDBENCH" -d 1 "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    line=$(grep '^condbench target=' "$tmp/out" | tail -n 1)
    ops=$(echo "$line" | sed -n 's/.* ops=\([0-9]*\) .*/\1/p')
    if [ $rc -eq 0 ] && echo "$line" | grep -Eq \
        '^condbench target=[a-z]+ mode=[a-z-]+ connections=[0-9]+ ops=[0-9]+ ops_per_s=[0-9]+ p50_us=[0-9.]+ p99_us=[0-9.]+ p999_us=[0-9.]+$' &&
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
check -a "$condd_addr" -m sem -c 4 -T 2
check -a "$condd_addr" -m sem -c 2 --value 4 --bounded
check -a "$condd_addr" -m sem-contended -c 8 --value 4
expect_line '^fairness: grants_min=[0-9]+ grants_max=[1-9][0-9]* spread_pct=[0-9.]+ grants_mean=[0-9.]+ range_of_mean_pct=[0-9.]+ grants_stddev=[0-9.]+ stddev_of_mean_pct=[0-9.]+$'
check -a "$condd_addr" -m rw -c 8
expect_line '^rw: readers=7 writer_grants=[1-9]'
check -a "$condd_addr" -m barrier -c 10 --parties 50
expect_line '^barrier: parties=50 connections=10 generations=[1-9][0-9]* gen_us_p50=[0-9.]+ gen_us_p99=[0-9.]+ .* bad_generations=0$'
# Memory per name: each kind keeps exactly its 1000 names (a --hold run ends when every name is
# taken, so -d 60 is only a bound). The kinds read different Stats counters, and the runs before
# each are other processes, so no earlier session's teardown can be counted.
for kind in lock sem event barrier cond; do
    check -a "$condd_addr" -m churn -c 2 --names 1000 --hold --kind $kind -d 60
    expect_line "^hold: kind=$kind names_added=1000 refused=0 rss_growth=-?[0-9]+ bytes_per_name=-?[0-9]+ table_growth=[0-9]+ "
done
check -t echo -a "$echo_addr" -m uncontended -c 2
# --rate paces the cycles: a slow machine may offer fewer, never more (1 s at 2,000/s, plus the
# first cycle of each connection, which starts at once).
check -a "$condd_addr" -m uncontended -c 4 --rate 2000
if [ "${ops:-0}" -le 2100 ]; then
    echo "ok:   ... and --rate 2000 ran no more than 2,100 cycles in 1 s ($ops)"
else
    echo "FAIL: --rate 2000 ran $ops cycles in 1 s"
    failures=$((failures + 1))
fi
for bad in "--rate 0" "--rate x" "-m contended --rate 10"; do
    # shellcheck disable=SC2086
    if "$CONDBENCH" -a "$condd_addr" $bad >/dev/null 2>&1; then rc=0; else rc=$?; fi
    if [ $rc -eq 2 ]; then
        echo "ok:   condbench $bad exits 2"
    else
        echo "FAIL: condbench $bad exited $rc, expected 2"
        failures=$((failures + 1))
    fi
done

# expect_shards: the last run printed one shard: line per server of $list, each with cycles.
expect_shards() {
    n=$(grep -Ec '^shard: server=127\.0\.0\.1:[0-9]+ ops=[1-9][0-9]* ops_per_s=[0-9]+ share_pct=[0-9.]+$' "$tmp/out")
    if [ "$n" -eq 3 ]; then
        echo "ok:   ... and each of the 3 servers answered cycles"
    else
        echo "FAIL: the last run printed $n shard: lines with cycles, expected 3"
        sed 's/^/  | /' "$tmp/out" "$tmp/err"
        failures=$((failures + 1))
    fi
}
# Every mode that names objects, routed over the three servers (which refuse misrouted names).
check -s "$list" -m uncontended -c 6 --balance
expect_shards
check -s "$list" -m handoff -c 6 --balance
expect_shards
check -s "$list" -m sem -c 3 --balance -T 3
expect_shards
check -s "$list" -m churn -c 2 --names 3000
expect_shards
check -s "$list" -m churn -c 2 --names 600 --hold --kind cond -d 60
expect_line '^hold: kind=cond names_added=600 refused=0 '
for m in "contended -c 2" "fanout -c 2 --owners 2" "barrier -c 3 --parties 4" "rw -c 3" "idle -c 4 --json"; do
    # shellcheck disable=SC2086
    check -s "$list" -m $m
done
expect_line '"server_ops":\[[0-9]+,[0-9]+,[0-9]+\]\}$'
# The servers do check: a list of only two of them sends some of 300 names to the wrong one,
# which refuses them (WRONG_SERVER, naming the right server), and condbench fails.
short=$(echo "$list" | cut -d, -f1,2)
timeout 60 "$CONDBENCH" -s "$short" -m churn -c 1 --names 300 -d 1 >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "routes to $(echo "$list" | cut -d, -f3) (cluster of 3)" "$tmp/err"; then
    echo "ok: condbench with 2 of the 3 servers listed fails: $(head -n 1 "$tmp/err")"
else
    echo "FAIL: condbench with 2 of the 3 servers listed: exit $rc, expected 1 and WRONG_SERVER"
    sed 's/^/  | /' "$tmp/out" "$tmp/err"
    failures=$((failures + 1))
fi
# The script behind RESULTS.md's sharding section, briefly: its table has the 3-server row.
if [ -n "${top_srcdir:-}" ] && [ -x "$top_srcdir/bench/shard-bench.sh" ]; then
    CONDD=$CONDD CONDBENCH=$CONDBENCH timeout 120 "$top_srcdir/bench/shard-bench.sh" -n "1 3" \
        -c 3 -d 0.5 -r 1 >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ $rc -eq 0 ] && grep -Eq '^\| 3 \| 3 \| [1-9][0-9]* \| [0-9]+/[0-9]+/[0-9]+ \|' "$tmp/out" &&
        grep -q '^machine: nproc=' "$tmp/out"; then
        echo "ok: shard-bench.sh -n '1 3' -c 3 -> $(grep '^| 3 | 3 |' "$tmp/out")"
    else
        echo "FAIL: shard-bench.sh (exit $rc)"
        sed 's/^/  | /' "$tmp/out" "$tmp/err"
        failures=$((failures + 1))
    fi
fi

check -a "$limited_addr" -m churn -c 2 --names 1000 --hold --kind event -d 60
expect_line '^hold: kind=event names_added=300 refused=700 '
check -a "$limited_addr" -m churn -c 1 --names 1000 --hold --kind barrier -d 60
expect_line '^hold: kind=barrier names_added=300 refused=700 '

# Bad arguments: a one-line reason and exit 2, before connecting anywhere.
for bad in "-m uncontended --value 4" "-m sem --value 0" "-m churn --kind lock" \
    "-m churn --hold --kind nosuch" "-m sem --parties 3" "-m barrier --parties 0" \
    "-s 127.0.0.1:1,127.0.0.1:1" "-s 127.0.0.1:1,,127.0.0.1:2" "-m contended --balance" \
    "-t echo -s 127.0.0.1:1,127.0.0.1:2"; do
    # shellcheck disable=SC2086
    "$CONDBENCH" -a "$condd_addr" $bad >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q '^condbench: ' "$tmp/err"; then
        echo "ok: condbench $bad -> exit 2: $(cat "$tmp/err")"
    else
        echo "FAIL: condbench $bad: exit $rc, expected 2 with one line on stderr"
        sed 's/^/  | /' "$tmp/out" "$tmp/err"
        failures=$((failures + 1))
    fi
done

# condd must have survived all of it.
kill -0 $(echo $pids | cut -d' ' -f1) 2>/dev/null || {
    echo "FAIL: condd exited during the runs"
    failures=$((failures + 1))
}
[ $failures -eq 0 ]
