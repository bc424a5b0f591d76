#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condd over TLS against condd in plaintext and Redis over TLS, with the same certificates
# (tests/tls-certs.sh): uncontended lock cycles per second at each -c given (default 1 and 32),
# the daemon's CPU per cycle (user+system from /proc/PID/stat over the run), and the cost of a
# TLS handshake (new connections per second with `openssl s_time -new`, and condd's CPU per
# handshake). Redis runs the lock condbench's redis target runs (SET key tok NX PX 30000, then
# the compare-and-delete script by EVALSHA), but through redis-benchmark --tls, as condbench's
# hiredis has no TLS here: one redis-benchmark run per command at the same -c, and the cycle
# rate is 1 / (1/set_rate + 1/release_rate), each cycle being the two round trips in turn.
#
# Usage: bench/tls-compare.sh [-d SECONDS] [-e ROUNDS] [CONNS...]     (from a build directory, or with
# CONDD, CONDBENCH and top_srcdir set). Prints one line per measurement.
set -eu

dur=5
rounds=0
while [ $# -gt 0 ]; do
    case $1 in
    -d) dur=$2; shift 2 ;;
    -e) rounds=$2; shift 2 ;;
    *) break ;;
    esac
done
[ $# -gt 0 ] || set -- 1 32
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${CONDD:=./daemon/condd}"
: "${CONDBENCH:=./bench/condbench}"
REDIS_SERVER=${REDIS_SERVER:-redis-server}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tls-compare.XXXXXX")
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

sh "$top_srcdir/tests/tls-certs.sh" "$tmp/c"
C=$tmp/c
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$CONDD" --listen 127.0.0.1:0 --port-file "$tmp/port" --listen-tls 127.0.0.1:0 \
    --tls-port-file "$tmp/tlsport" --tls-cert "$C/server.pem" --tls-key "$C/server.key" \
    --log-level warning 2>"$tmp/condd.log" &
condd_pid=$!
pids="$pids $condd_pid"
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
PLAIN=127.0.0.1:$(cat "$tmp/port")
TLS=tls:127.0.0.1:$(cat "$tmp/tlsport")

rport=$(free_port)
"$REDIS_SERVER" --port 0 --tls-port "$rport" --tls-cert-file "$C/server.pem" \
    --tls-key-file "$C/server.key" --tls-ca-cert-file "$C/ca.pem" --tls-auth-clients no \
    --save '' --appendonly no --daemonize no --logfile "$tmp/redis.log" &
redis_pid=$!
pids="$pids $redis_pid"
i=0
until redis-cli --tls --cacert "$C/ca.pem" -p "$rport" ping 2>/dev/null | grep -q PONG; do
    i=$((i + 1))
    [ $i -lt 200 ] || { echo "redis-server did not start" >&2; exit 1; }
    sleep 0.05
done
sha=$(redis-cli --tls --cacert "$C/ca.pem" -p "$rport" script load \
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end")

# condd_run NAME ADDR CONNS [RATE]: cycles/s and condd's CPU microseconds per cycle (RATE: the
# cycles/s condbench offers, --rate). Prints the line and keeps cycles/s and CPU in $last_rate
# and $last_cpu.
condd_run() {
    pace=
    [ -z "${4:-}" ] || pace="--rate $4"
    before=$(cpu_ticks $condd_pid)
    # shellcheck disable=SC2086 # $pace is empty or two words
    "$CONDBENCH" -t condd -m uncontended -a "$2" --ca "$C/ca.pem" -c "$3" -d "$dur" -q $pace \
        >"$tmp/out" 2>&1
    after=$(cpu_ticks $condd_pid)
    line=$(grep '^condbench target=' "$tmp/out" | tail -n 1 | awk -v name="$1" -v c="$3" \
        -v d="$((after - before))" -v hz="$clk_tck" '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%-12s c=%-3s %10.0f cycles/s  p50 %s us  p99 %s us  daemon %.2f us CPU/cycle\n",
            name, c, v["ops_per_s"], v["p50_us"], v["p99_us"], d / hz * 1e6 / v["ops"] }')
    echo "$line"
    last_rate=$(echo "$line" | awk '{ print $3 }')
    last_cpu=$(echo "$line" | awk '{ for (i = 1; i <= NF; i++) if ($i == "daemon") print $(i + 1) }')
}

# redis_rate CONNS COMMAND...: requests/s of redis-benchmark --tls for one command.
redis_rate() {
    c=$1
    shift
    n=$((c * 4000 * dur / 5))
    [ $n -ge 20000 ] || n=20000
    redis-benchmark --tls --cacert "$C/ca.pem" -h 127.0.0.1 -p "$rport" -c "$c" -n "$n" \
        -r 100000000 --csv "$@" 2>/dev/null | tail -n 1 | awk -F'"' '{ print $4 }'
}

# The load the numbers were taken under (CPU times swell on a busy machine).
echo "load         $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"

# -e ROUNDS: only the equal-load comparison, ROUNDS times per CONNS, plaintext and TLS in turn
# at one fixed offered rate (80 % of a first unpaced TLS run), then the medians: the ratio the
# noise of a shared machine blurs in a single pair.
if [ "$rounds" -gt 0 ]; then
    for c in "$@"; do
        condd_run "condd-tls" "$TLS" "$c" >/dev/null
        rate=$(echo "$last_rate" | awk '{ printf "%d", $1 * 0.8 }')
        : >"$tmp/pairs"
        i=0
        while [ $i -lt "$rounds" ]; do
            condd_run "plain@rate" "$PLAIN" "$c" "$rate"
            p=$last_cpu
            condd_run "tls@rate" "$TLS" "$c" "$rate"
            echo "$p $last_cpu" >>"$tmp/pairs"
            i=$((i + 1))
        done
        sort -n -k1,1 "$tmp/pairs" | awk '{ print $1 }' >"$tmp/p"
        sort -n -k2,2 "$tmp/pairs" | awk '{ print $2 }' >"$tmp/t"
        awk '{ print $2 / $1 }' "$tmp/pairs" | sort -n >"$tmp/r"
        med() { awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' "$1"; }
        echo "$(med "$tmp/p") $(med "$tmp/t") $(med "$tmp/r") $(head -n 1 "$tmp/r") $(tail -n 1 "$tmp/r")" |
            awk -v c="$c" -v r="$rate" -v n="$rounds" '{
            printf "%-12s c=%-3s %10d cycles/s, %d pairs: daemon us CPU/cycle median plaintext %.2f, TLS %.2f; TLS / plaintext median of pairs %.2fx (%.2f..%.2f)\n",
                "equal-load", c, r, n, $1, $2, $3, $4, $5 }'
    done
    echo "load         $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the end"
    exit 0
fi
for c in "$@"; do
    condd_run "condd-plain" "$PLAIN" "$c"
    condd_run "condd-tls" "$TLS" "$c"
    # The same load for both: as fast as they go, a TLS client (condbench's libcondd through
    # libevent's OpenSSL filter) offers fewer cycles than a plaintext one, so the daemon finds
    # fewer requests per wake-up and pays more per cycle for waking, which is not TLS's work.
    # Both again at 80 % of the TLS rate, each connection paced (condbench --rate).
    rate=$(echo "$last_rate" | awk '{ printf "%d", $1 * 0.8 }')
    condd_run "plain@rate" "$PLAIN" "$c" "$rate"
    plain_cpu=$last_cpu
    condd_run "tls@rate" "$TLS" "$c" "$rate"
    echo "$plain_cpu $last_cpu" | awk -v c="$c" -v r="$rate" '{
        printf "%-12s c=%-3s %10d cycles/s offered to both: daemon CPU per cycle TLS / plaintext %.2fx\n",
            "equal-load", c, r, $2 / $1 }'
    before=$(cpu_ticks $redis_pid)
    set_rate=$(redis_rate "$c" SET "lock:__rand_int__" tok NX PX 30000)
    del_rate=$(redis_rate "$c" EVALSHA "$sha" 1 "lock:__rand_int__" tok)
    after=$(cpu_ticks $redis_pid)
    echo "$set_rate $del_rate" | awk -v c="$c" '{
        printf "%-12s c=%-3s %10.0f cycles/s  (SET NX %s/s, EVALSHA release %s/s)\n",
            "redis-tls", c, 1 / (1 / $1 + 1 / $2), $1, $2 }'
done

# Handshakes: full TLS 1.3 handshakes, one connection at a time.
before=$(cpu_ticks $condd_pid)
openssl s_time -connect "127.0.0.1:$(cat "$tmp/tlsport")" -CAfile "$C/ca.pem" -new \
    -time "$dur" >"$tmp/stime" 2>&1 || true
after=$(cpu_ticks $condd_pid)
conns=$(sed -n 's/^\([0-9]*\) connections in \([0-9.]*\)s.*/\1 \2/p' "$tmp/stime" | head -n 1)
echo "$conns" | awk -v d="$((after - before))" -v hz="$clk_tck" '{
    printf "handshakes   %10.0f new TLS connections/s (openssl s_time -new)  daemon %.0f us CPU each\n",
        $1 / $2, d / hz * 1e6 / $1 }'
echo "load         $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the end"
