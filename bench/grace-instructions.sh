#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# What keeping resume state costs on the hot path (issue 15: uncontended lock cycles with a
# grace within 5 % of without): instructions per uncontended cycle of the daemon and of the
# client (condbench on libcondd), counted by callgrind, with grace 0 and with a grace asked in
# Hello ($CONDBENCH_GRACE). Instruction counts hold on a loaded machine, where CPU times swell
# with the load. Each case runs twice, for a 1 s and a 4 s condbench run; the difference of the
# totals over the difference of the cycles leaves out start-up and connecting.
#
# Usage: bench/grace-instructions.sh [GRACE]   (default 30; from a build directory, or with CONDD
# and CONDBENCH set). Prints one line per case.
set -eu

grace=${1:-30}
: "${CONDD:=./daemon/condd}"
: "${CONDBENCH:=./bench/condbench}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/grace-instructions.XXXXXX")
pid=
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# total FILES...: the sum of callgrind's totals lines
total() {
    cat "$@" | sed -n 's/^totals: *\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s }'
}

# run GRACE SECONDS: prints "cycles daemon_instructions client_instructions" of one run.
run() {
    rm -f "$tmp/port" "$tmp"/cg.*
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.d" "$CONDD" --listen 127.0.0.1:0 \
        --port-file "$tmp/port" --log-level warning 2>"$tmp/vg.log" &
    pid=$!
    i=0
    while [ ! -s "$tmp/port" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    # --trace-children: condbench runs its client in a child process.
    env CONDBENCH_GRACE="$1" valgrind --tool=callgrind --trace-children=yes \
        --callgrind-out-file="$tmp/cg.c.%p" "$CONDBENCH" -t condd -m uncontended \
        -a "127.0.0.1:$(cat "$tmp/port")" -c 1 -d "$2" -q >"$tmp/out" 2>"$tmp/vgc.log"
    kill "$pid"
    wait "$pid" || true
    pid=
    ops=$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' "$tmp/out" | tail -n 1)
    echo "$ops $(total "$tmp/cg.d") $(total "$tmp"/cg.c.*)"
}

for g in 0 "$grace"; do
    short=$(run "$g" 1)
    long=$(run "$g" 4)
    echo "$short $long" | awk -v g="$g" '{
        if ($4 - $1 < 500) {
            printf "grace %-4s cycles %d and %d: too few more in the long run (a busy machine); run again\n", g, $1, $4
            exit
        }
        printf "grace %-4s cycles %d and %d  daemon %6.0f  client %6.0f instructions per cycle\n",
            g, $1, $4, ($5 - $2) / ($4 - $1), ($6 - $3) / ($4 - $1) }'
done
