#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# shard-bench.sh: condd across 1, 2 and 3 servers (protocol.md §21, docs/scaling.md). Starts one
# cluster of each size on loopback (every daemon with --cluster LIST --cluster-self ADDR when the
# daemon has the option, else plain), runs condbench with the cluster's server list at a few
# connection counts, interleaved (every size and count once per round) and repeated, and prints
# a Markdown table of the median run of each: cycles/s in total and per server, grant latency,
# and the daemons' CPU per cycle (user+system of every daemon of the cluster from /proc/PID/stat
# over the run, divided by the cycles). It prints the machine's core count (nproc) and the load
# average before and after: a cluster only scales where it has cores to spare, and condbench's
# own CPU comes out of the same cores.
#
# Usage: bench/shard-bench.sh [-b BUILDDIR] [-m MODE] [-c "CONNS..."] [-n "SIZES..."]
#                             [-d SECONDS] [-r REPEAT] [-T THREADS] [-H] [-- CONDBENCH-OPTIONS...]
# MODE: uncontended (default), handoff, sem or churn. -c: connection counts (default "3 12 48";
# handoff: pairs, so even counts). -n: cluster sizes (default "1 2 3"). -H: let the hash place
# each connection's name (default: condbench --balance spreads the few fixed names of the
# uncontended, sem and handoff modes evenly, so the servers, not the luck of a dozen hashes, are
# measured; churn's many names spread by themselves). The programs come from BUILDDIR, else the
# current directory when it is a build tree, else the source tree's _build/release or
# _build/plain; CONDD and CONDBENCH override them.

set -u

mode=uncontended
conn_list="3 12 48"
sizes="1 2 3"
dur=5
threads=1
repeat=3
balance=1
builddir=
while getopts b:m:c:n:d:r:T:Hh opt; do
    case $opt in
    b) builddir=$OPTARG ;;
    m) mode=$OPTARG ;;
    c) conn_list=$OPTARG ;;
    n) sizes=$OPTARG ;;
    d) dur=$OPTARG ;;
    r) repeat=$OPTARG ;;
    T) threads=$OPTARG ;;
    H) balance=0 ;;
    h) sed -n '4,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
case $mode in
uncontended | handoff | sem) ;;
churn) balance=0 ;;
*)
    echo "shard-bench.sh: -m $mode: expected uncontended, handoff, sem or churn" >&2
    exit 2
    ;;
esac
for n in $sizes; do
    case $n in
    1 | 2 | 3 | 4 | 5 | 6 | 7 | 8) ;;
    *)
        echo "shard-bench.sh: -n: cluster sizes are 1 to 8, got '$n'" >&2
        exit 2
        ;;
    esac
done
for c in $conn_list; do
    case $c in
    '' | *[!0-9]* | 0)
        echo "shard-bench.sh: -c: connection counts are positive integers, got '$c'" >&2
        exit 2
        ;;
    esac
done

if [ -z "$builddir" ]; then
    top=$(cd "$(dirname "$0")/.." && pwd)
    for d in . "$top/_build/release" "$top/_build/plain"; do
        if [ -x "$d/daemon/condd" ] && [ -x "$d/bench/condbench" ]; then
            builddir=$d
            break
        fi
    done
fi
CONDD=${CONDD:-${builddir:-.}/daemon/condd}
CONDBENCH=${CONDBENCH:-${builddir:-.}/bench/condbench}
for p in "$CONDD" "$CONDBENCH"; do
    if [ ! -x "$p" ]; then
        echo "shard-bench.sh: $p not found: build first, pass -b BUILDDIR, or set CONDD/CONDBENCH" >&2
        exit 2
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/condd-shard-bench.XXXXXX") || exit 1
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
trap 'exit 130' INT TERM

ulimit -n "$(ulimit -Hn)" 2>/dev/null
max_conns=0
for c in $conn_list; do
    [ "$c" -gt $max_conns ] && max_conns=$c
done

# Does this daemon check routing itself (--cluster)? Without it the daemons run plain and only
# the clients route: the same load, without the servers' check.
cluster_opt=0
"$CONDD" --help 2>/dev/null | grep -q -- '--cluster-self' && cluster_opt=1

# wait_file FILE PID: until FILE is not empty (the daemon listens) or PID died; 10 s at most.
wait_file() {
    i=0
    while [ ! -s "$1" ]; do
        kill -0 "$2" 2>/dev/null || return 1
        i=$((i + 1))
        [ $i -gt 200 ] && return 1
        sleep 0.05
    done
}

# stop_pids PIDS: stops those daemons and drops them from $pids.
stop_pids() {
    for p in $1; do
        kill "$p" 2>/dev/null
    done
    for p in $1; do
        wait "$p" 2>/dev/null
        pids=$(echo " $pids " | sed "s/ $p / /")
    done
}

# start_cluster K: starts K daemons on loopback and sets $list (their server list) and
# $cluster_pids. A daemon of a cluster must know every address before it starts, so the ports
# are taken first from daemons on port 0 (the kernel's ephemeral ports), which are stopped, and
# the cluster is started on them; if another process took one meanwhile, try again.
start_cluster() {
    k=$1
    attempt=0
    while [ $attempt -lt 5 ]; do
        attempt=$((attempt + 1))
        probe=
        list=
        j=0
        while [ $j -lt "$k" ]; do
            rm -f "$tmp/probe$j.port"
            "$CONDD" --listen 127.0.0.1:0 --port-file "$tmp/probe$j.port" --log-level warning \
                >"$tmp/probe$j.log" 2>&1 &
            probe="$probe $!"
            pids="$pids $!"
            j=$((j + 1))
        done
        j=0
        ok=1
        for p in $probe; do
            wait_file "$tmp/probe$j.port" "$p" || ok=0
            [ $ok = 1 ] && list="$list${list:+,}127.0.0.1:$(cat "$tmp/probe$j.port")"
            j=$((j + 1))
        done
        stop_pids "$probe"
        [ $ok = 1 ] || continue
        cluster_pids=
        j=0
        for addr in $(echo "$list" | tr ',' ' '); do
            rm -f "$tmp/k$k-$j.port"
            if [ $cluster_opt = 1 ]; then
                set -- --cluster "$list" --cluster-self "$addr"
            else
                set --
            fi
            "$CONDD" --listen "$addr" --port-file "$tmp/k$k-$j.port" --log-level warning \
                --max-connections $((max_conns + 100)) "$@" >"$tmp/k$k-$j.log" 2>&1 &
            cluster_pids="$cluster_pids $!"
            pids="$pids $!"
            j=$((j + 1))
        done
        j=0
        ok=1
        for p in $cluster_pids; do
            wait_file "$tmp/k$k-$j.port" "$p" || ok=0
            j=$((j + 1))
        done
        [ $ok = 1 ] && return 0
        stop_pids "$cluster_pids"
    done
    echo "shard-bench.sh: could not start a cluster of $k:" >&2
    cat "$tmp"/k"$k"-*.log >&2
    exit 1
}

# The arguments after -- are kept in $extra (start_cluster reuses "$@").
extra="$*"
for n in $sizes; do
    start_cluster "$n"
    eval "list_$n=\$list"
    eval "pids_$n=\$cluster_pids"
done

clk_tck=$(getconf CLK_TCK)
# cpu_ticks PIDS: user+system clock ticks of those processes (all threads), summed.
cpu_ticks() {
    t=0
    for p in $1; do
        t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')))
    done
    echo $t
}

# each_ticks PIDS: every process's user+system ticks, space-separated.
each_ticks() {
    for p in $1; do
        sed 's/^.*) //' "/proc/$p/stat" | awk '{ printf "%d ", $12 + $13 }'
    done
}

# run N C: one condbench run against the cluster of N with C connections; appends
# "N C ops ops_s p50 p99 cpu_us_per_cycle per-server-ops/s per-daemon-cpu%" to $tmp/results
# (per-daemon CPU: each daemon's user+system time over the whole condbench run, connects
# included, in percent of one core).
run() {
    n=$1
    c=$2
    eval "list=\$list_$n; cpids=\$pids_$n"
    bal=
    [ $balance = 1 ] && [ "$n" -gt 1 ] && bal=--balance
    before=$(cpu_ticks "$cpids")
    each_before=$(each_ticks "$cpids")
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$CONDBENCH" -m "$mode" -s "$list" -c "$c" -d "$dur" -T "$threads" $bal $extra \
        >"$tmp/out" 2>"$tmp/err"
    rc=$?
    after=$(cpu_ticks "$cpids")
    each_after=$(each_ticks "$cpids")
    t1=$(date +%s.%N)
    line=$(grep '^condbench target=' "$tmp/out" | tail -n 1)
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
        echo "shard-bench.sh: run with $n servers, $c connections failed (exit $rc):" >&2
        cat "$tmp/out" "$tmp/err" >&2
        return 1
    fi
    per=$(sed -n 's/^shard: .* ops_per_s=\([0-9]*\) .*/\1/p' "$tmp/out" | tr '\n' '/' |
        sed 's/\/$//')
    pct=$(echo "$each_before|$each_after|$t0|$t1" | awk -F'|' -v hz="$clk_tck" '{
        k = split($1, b, " "); split($2, a, " "); wall = $4 - $3; out = ""
        for (i = 1; i <= k; i++)
            out = out (i > 1 ? "/" : "") sprintf("%.0f", wall > 0 ? (a[i] - b[i]) / hz / wall * 100 : 0)
        print out }')
    echo "$line" | awk -v n="$n" -v c="$c" -v d="$((after - before))" -v hz="$clk_tck" \
        -v per="${per:--}" -v pct="$pct" '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        cpu = (v["ops"] > 0 ? d / hz * 1e6 / v["ops"] : 0)
        printf "%s %s %s %s %s %s %.2f %s %s\n", n, c, v["ops"], v["ops_per_s"], v["p50_us"],
            v["p99_us"], cpu, per, pct
    }' >>"$tmp/results"
}

: >"$tmp/results"
load_before=$(uptime | sed 's/.*load average: //')
r=0
while [ $r -lt "$repeat" ]; do
    r=$((r + 1))
    for c in $conn_list; do
        for n in $sizes; do
            run "$n" "$c" || exit 1
        done
    done
done
load_after=$(uptime | sed 's/.*load average: //')

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "shard-bench: mode=$mode connections='$conn_list' servers='$sizes' duration=${dur}s" \
    "repeat=$repeat threads=$threads placement=$([ $balance = 1 ] && echo balanced || echo hash)" \
    "daemon-check=$([ $cluster_opt = 1 ] && echo --cluster || echo none) extra='$extra'"
echo "machine: nproc=$(nproc), ${model:-unknown CPU}, Linux $(uname -r), loopback;" \
    "condbench and every daemon share these cores"
echo "load average (1, 5, 15 min): before $load_before; after $load_after"
echo
echo "| servers | connections | cycles/s | per server cycles/s | p50 us | p99 us | daemons' CPU us/cycle | each daemon's CPU % of a core | vs 1 server |"
echo "|---:|---:|---:|---|---:|---:|---:|---|---:|"
for c in $conn_list; do
    base=
    for n in $sizes; do
        # The median run by cycles/s of this size and count.
        m=$(awk -v n="$n" -v c="$c" '$1 == n && $2 == c' "$tmp/results" | sort -k4,4n |
            awk '{ a[NR] = $0 } END { if (NR) print a[int((NR + 1) / 2)] }')
        [ -z "$m" ] && continue
        ops_s=$(echo "$m" | awk '{ print $4 }')
        [ -z "$base" ] && base=$ops_s
        echo "$m" | awk -v base="$base" '{
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %.2fx |\n", $1, $2, $4, $8, $5, $6, $7, $9,
                (base > 0 ? $4 / base : 0) }'
    done
done
echo
echo "all runs (servers connections ops ops/s p50 p99 cpu_us/cycle per-server-ops/s daemon-cpu%):"
sed 's/^/  /' "$tmp/results"
