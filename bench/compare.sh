#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# compare.sh: runs one condbench mode with one connection count against condd, the standard
# Redis lock (plain and --pipeline) and the echo floor, all on loopback, in one run; stops
# everything it started; prints a Markdown table with ops/s, grant latency, the daemon's CPU time
# per cycle (user+system from /proc/PID/stat over the run), and the ratios condd/redis and
# condd/echo. This is the table of the README's Performance section.
#
# Usage: bench/compare.sh [-b BUILDDIR] [-m MODE] [-c CONNECTIONS] [-d SECONDS] [-T THREADS]
#                         [-r REPEAT] [-- CONDBENCH-OPTIONS...]
# The programs come from BUILDDIR, else the current directory when it is a build tree, else the
# source tree's _build/release (./build.sh run) or _build/plain (./build.sh test); CONDD,
# CONDBENCH, ECHO_SERVER override each (REDIS_SERVER: default redis-server from PATH).
# -r N runs every target N times, interleaved, and reports the run with the median ops/s of
# each (the machine's noise is then visible as a spread).
# Targets that cannot run MODE are skipped (Redis has no conditions; echo only has cycles).
# -m sem and -m sem-contended compare condd with itself: every round runs condd's lock cycle
# (uncontended, or contended) and then the semaphore mode, against the same daemon, and reports
# sem/lock; the arguments after -- (e.g. --value 4) go to the semaphore runs only.
# The load average (uptime) is printed before and after the runs: the machine may be shared.

set -u

mode=uncontended
conns=1
dur=5
threads=1
repeat=1
builddir=
while getopts b:m:c:d:T:r:h opt; do
    case $opt in
    b) builddir=$OPTARG ;;
    m) mode=$OPTARG ;;
    c) conns=$OPTARG ;;
    d) dur=$OPTARG ;;
    T) threads=$OPTARG ;;
    r) repeat=$OPTARG ;;
    h) sed -n '4,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift

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
ECHO_SERVER=${ECHO_SERVER:-${builddir:-.}/bench/echo-server}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
for p in "$CONDD" "$CONDBENCH" "$ECHO_SERVER"; do
    if [ ! -x "$p" ]; then
        echo "compare.sh: $p not found: build first (./build.sh run), pass -b BUILDDIR, or set CONDD/CONDBENCH/ECHO_SERVER" >&2
        exit 2
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/condd-compare.XXXXXX") || exit 1
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

# wait_file FILE PID: until FILE exists (the server listens) or PID died; 10 s at most.
wait_file() {
    i=0
    while [ ! -s "$1" ]; do
        kill -0 "$2" 2>/dev/null || return 1
        i=$((i + 1))
        [ $i -gt 200 ] && return 1
        sleep 0.05
    done
}

# Thousands of connections need descriptors in every process started from here.
ulimit -n "$(ulimit -Hn)" 2>/dev/null

"$CONDD" --listen 127.0.0.1:0 --port-file "$tmp/condd.port" --log-level warning \
    --max-connections $((conns + 100)) >"$tmp/condd.log" 2>&1 &
condd_pid=$!
pids="$pids $condd_pid"
if ! wait_file "$tmp/condd.port" $condd_pid; then
    echo "compare.sh: condd did not start:" >&2
    cat "$tmp/condd.log" >&2
    exit 1
fi
condd_addr=127.0.0.1:$(cat "$tmp/condd.port")

"$ECHO_SERVER" --listen 127.0.0.1:0 --port-file "$tmp/echo.port" >"$tmp/echo.log" 2>&1 &
echo_pid=$!
pids="$pids $echo_pid"
if ! wait_file "$tmp/echo.port" $echo_pid; then
    echo "compare.sh: echo-server did not start" >&2
    exit 1
fi
echo_addr=127.0.0.1:$(cat "$tmp/echo.port")

# Redis: a port away from 6379, bound to loopback, no persistence. Redis cannot pick a free port
# itself, so try a few until one answers PING.
redis_pid=
redis_addr=
if ! command -v "$REDIS_SERVER" >/dev/null 2>&1; then
    echo "compare.sh: $REDIS_SERVER not found: skipping Redis" >&2
elif ! "$CONDBENCH" --help | grep -q 'redis[^(]*or echo'; then
    echo "compare.sh: condbench was built without hiredis: skipping Redis" >&2
else
    port=$((20000 + $$ % 20000))
    for attempt in 1 2 3 4 5 6 7 8; do
        "$REDIS_SERVER" --port $port --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize no --protected-mode yes --logfile "$tmp/redis.log" &
        redis_pid=$!
        i=0
        while kill -0 $redis_pid 2>/dev/null && [ $i -lt 100 ]; do
            redis-cli -p $port ping 2>/dev/null | grep -q PONG && break
            i=$((i + 1))
            sleep 0.05
        done
        if kill -0 $redis_pid 2>/dev/null && redis-cli -p $port ping 2>/dev/null | grep -q PONG
        then
            pids="$pids $redis_pid"
            redis_addr=127.0.0.1:$port
            break
        fi
        kill $redis_pid 2>/dev/null
        wait $redis_pid 2>/dev/null
        redis_pid=
        port=$((port + 101))
    done
    [ -z "$redis_addr" ] && echo "compare.sh: redis-server did not start: skipping Redis" >&2
fi

clk_tck=$(getconf CLK_TCK)
# cpu_ticks PID: user+system clock ticks of the whole process (all threads).
cpu_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# run NAME PID MODE ARGS...: one condbench run; appends "name ops ops_s p50 p99 p999 cpu_us fair"
# to $tmp/results.
run() {
    name=$1
    pid=$2
    run_mode=$3
    shift 3
    before=$(cpu_ticks "$pid")
    "$CONDBENCH" -m "$run_mode" -c "$conns" -d "$dur" -T "$threads" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    after=$(cpu_ticks "$pid")
    line=$(grep '^condbench target=' "$tmp/out" | tail -n 1)
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
        echo "compare.sh: $name run failed (exit $rc):" >&2
        cat "$tmp/out" "$tmp/err" >&2
        return 1
    fi
    grep -E '^(fanout|idle|hold|fairness|barrier):' "$tmp/out" | sed "s/^/  $name: /" \
        >>"$tmp/details"
    # "min-max/range_of_mean_pct/stddev" (one word for the results file)
    fair=$(sed -n 's/^fairness: grants_min=\([0-9]*\) grants_max=\([0-9]*\) .*range_of_mean_pct=\([0-9.]*\) grants_stddev=\([0-9.]*\).*/\1-\2\/\3\/\4/p' "$tmp/out")
    echo "$line" | awk -v name="$name" -v d="$((after - before))" -v hz="$clk_tck" \
        -v fair="${fair:--}" '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        cpu = (v["ops"] > 0 ? d / hz * 1e6 / v["ops"] : 0)
        printf "%s %s %s %s %s %s %.2f %s\n", name, v["ops"], v["ops_per_s"], v["p50_us"],
            v["p99_us"], v["p999_us"], cpu, fair
    }' >>"$tmp/results"
}

# The semaphore modes run condd's own lock cycle first in every round: the reference.
condd_name=condd
lock_ref=
case $mode in
uncontended | churn) with_echo=1 with_redis=1 ;;
contended) with_echo=0 with_redis=1 ;;
sem) with_echo=0 with_redis=0 lock_ref=uncontended condd_name=condd-sem ;;
sem-contended) with_echo=0 with_redis=0 lock_ref=contended condd_name=condd-sem ;;
*) with_echo=0 with_redis=0 ;;
esac
[ -z "$redis_addr" ] && with_redis=0

: >"$tmp/results"
: >"$tmp/details"
load_before=$(uptime | sed 's/.*load average: //')
r=0
while [ $r -lt "$repeat" ]; do
    r=$((r + 1))
    if [ -n "$lock_ref" ]; then
        run condd-lock $condd_pid "$lock_ref" -t condd -a "$condd_addr" || exit 1
    fi
    run $condd_name $condd_pid "$mode" -t condd -a "$condd_addr" "$@" || exit 1
    if [ $with_redis = 1 ]; then
        run redis $redis_pid "$mode" -t redis -a "$redis_addr" "$@" || exit 1
        run redis-pipeline $redis_pid "$mode" -t redis --pipeline -a "$redis_addr" "$@" || exit 1
    fi
    if [ $with_echo = 1 ]; then
        run echo $echo_pid "$mode" -t echo -a "$echo_addr" "$@" || exit 1
    fi
done

# The median run (by ops/s) of each target.
median() {
    awk -v t="$1" '$1 == t' "$tmp/results" | sort -k3,3n | awk '{ a[NR] = $0 }
        END { if (NR) print a[int((NR + 1) / 2)] }'
}
for t in condd-lock condd condd-sem redis redis-pipeline echo; do
    median $t
done >"$tmp/median"

load_after=$(uptime | sed 's/.*load average: //')
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "compare: mode=$mode connections=$conns threads=$threads duration=${dur}s repeat=$repeat" \
    "extra='$*'"
echo "machine: $(nproc) CPUs, ${model:-unknown CPU}, Linux $(uname -r), loopback;" \
    "$("$REDIS_SERVER" --version 2>/dev/null | awk '{ print $1, $2, $3 }')"
echo "load average (1, 5, 15 min): before $load_before; after $load_after"
echo
awk -v mode="$mode" -v cn="$condd_name" '
    { n[$1] = $2; ops[$1] = $3; p50[$1] = $4; p99[$1] = $5; p999[$1] = $6; cpu[$1] = $7
      fair[$1] = $8; order[++k] = $1 }
    END {
        fairmode = (mode == "contended" || mode == "sem-contended")
        if (fairmode)
            print "| target | cycles/s | p50 us | p99 us | p99.9 us | daemon CPU us/cycle | grants min-max/(max-min)/mean %/stddev |"
        else
            print "| target | cycles/s | p50 us | p99 us | p99.9 us | daemon CPU us/cycle |"
        print "|---|---:|---:|---:|---:|---:|" (fairmode ? "---:|" : "")
        for (i = 1; i <= k; i++) {
            t = order[i]
            printf "| %s | %d | %.1f | %.1f | %.1f | %.2f |", t, ops[t], p50[t], p99[t], p999[t], cpu[t]
            if (fairmode) printf " %s |", fair[t]
            printf "\n"
        }
        print ""
        if (("condd" in ops) && ("redis" in ops) && ops["redis"] > 0) {
            printf "condd/redis: cycles/s %.2fx, p99 %.3fx, daemon CPU/cycle %.2fx\n",
                ops["condd"] / ops["redis"], (p99["redis"] > 0 ? p99["condd"] / p99["redis"] : 0),
                (cpu["redis"] > 0 ? cpu["condd"] / cpu["redis"] : 0)
        }
        if (("condd" in ops) && ("redis-pipeline" in ops) && ops["redis-pipeline"] > 0)
            printf "condd/redis-pipeline: cycles/s %.2fx, daemon CPU/cycle %.2fx\n",
                ops["condd"] / ops["redis-pipeline"],
                (cpu["redis-pipeline"] > 0 ? cpu["condd"] / cpu["redis-pipeline"] : 0)
        if (("condd" in ops) && ("echo" in ops) && ops["echo"] > 0)
            printf "condd/echo: cycles/s %.2fx\n", ops["condd"] / ops["echo"]
        if (("condd-sem" in ops) && ("condd-lock" in ops) && ops["condd-lock"] > 0)
            printf "condd-sem/condd-lock: cycles/s %.2fx, p99 %.3fx, daemon CPU/cycle %.2fx\n",
                ops["condd-sem"] / ops["condd-lock"],
                (p99["condd-lock"] > 0 ? p99["condd-sem"] / p99["condd-lock"] : 0),
                (cpu["condd-lock"] > 0 ? cpu["condd-sem"] / cpu["condd-lock"] : 0)
    }' "$tmp/median"
if [ -s "$tmp/details" ]; then
    echo
    echo "details (every run, in order):"
    cat "$tmp/details"
fi
if [ "$repeat" -gt 1 ]; then
    echo
    echo "all runs (target ops ops/s p50 p99 p999 cpu_us/cycle grants):"
    sed 's/^/  /' "$tmp/results"
fi
