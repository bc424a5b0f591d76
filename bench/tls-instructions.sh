#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# The daemon's instructions per uncontended lock cycle, in plaintext and over TLS, counted by
# callgrind: instruction counts hold on a loaded machine, where CPU times swell with the load.
# For each case condd runs under `valgrind --tool=callgrind` twice, for a 1 s and a 5 s
# condbench run; the difference of the two totals over the difference of the cycles
# leaves out the start-up, the certificate load and the handshakes.
#
# Usage: bench/tls-instructions.sh [CONNS...]     (default 1; from a build directory, or with
# CONDD, CONDBENCH and top_srcdir set). Prints one line per case: cycles of each run, and
# instructions per cycle. SIDE=client counts condbench (libcondd's side) instead of the
# daemon, run through LIBTOOL --mode=execute (default ./libtool) so that callgrind sees the
# program rather than libtool's wrapper script.
set -eu

[ $# -gt 0 ] || set -- 1
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${CONDD:=./daemon/condd}"
: "${CONDBENCH:=./bench/condbench}"
: "${SIDE:=daemon}"
: "${LIBTOOL:=./libtool}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tls-instructions.XXXXXX")
pid=
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# The command prefixes of the daemon and of condbench: callgrind on one of them.
vg="valgrind --tool=callgrind --callgrind-out-file=$tmp/cg.out"
if [ "$SIDE" = client ]; then dpre=; cpre="$LIBTOOL --mode=execute $vg"; else dpre=$vg; cpre=; fi

sh "$top_srcdir/tests/tls-certs.sh" "$tmp/c" >/dev/null 2>&1
C=$tmp/c

# run MODE CONNS SECONDS: prints "cycles instructions" of one run.
run() {
    rm -f "$tmp/port" "$tmp/tlsport" "$tmp/cg.out"
    $dpre "$CONDD" \
        --listen 127.0.0.1:0 --port-file "$tmp/port" --listen-tls 127.0.0.1:0 \
        --tls-port-file "$tmp/tlsport" --tls-cert "$C/server.pem" --tls-key "$C/server.key" \
        --log-level warning 2>"$tmp/vg.log" &
    pid=$!
    i=0
    while [ ! -s "$tmp/tlsport" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    if [ "$1" = tls ]; then addr=tls:127.0.0.1:$(cat "$tmp/tlsport"); else addr=127.0.0.1:$(cat "$tmp/port"); fi
    $cpre "$CONDBENCH" -t condd -m uncontended -a "$addr" --ca "$C/ca.pem" -c "$2" -d "$3" -q \
        >"$tmp/out" 2>&1
    kill "$pid"
    wait "$pid" || true
    pid=
    ops=$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' "$tmp/out" | tail -n 1)
    ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$tmp/cg.out" | tail -n 1)
    echo "$ops $ir"
}

for c in "$@"; do
    for mode in plain tls; do
        short=$(run "$mode" "$c" 1)
        long=$(run "$mode" "$c" 5)
        echo "$short $long" | awk -v m="$mode" -v c="$c" -v s="$SIDE" '{
            if ($3 - $1 < 500) {
                printf "condd-%-6s c=%-3s cycles %d and %d: too few more in the long run (a busy machine); run again\n",
                    m, c, $1, $3
                exit
            }
            printf "condd-%-6s c=%-3s cycles %d and %d  %8.0f instructions per cycle%s\n",
                m, c, $1, $3, ($4 - $2) / ($3 - $1), s == "client" ? " (client)" : "" }'
    done
done
