#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condctl on a server list (-s / CONDD_SERVER "A,B,C", protocol.md §21) against three condd of
# one cluster (--cluster A,B,C --cluster-self X, on Unix sockets so that the list is known
# before they start): every command that names an object reaches the name's server (the
# daemons refuse any other, and each server's own `locked` tells which it is); ping, list and
# stats ask every server and mark each row with its server; a client with a shorter list is
# refused with WRONG_SERVER naming the right server; kill-session and a bad list are usage
# errors; a server that is down fails only its own names, and errors name it.
. "$(dirname "$0")/condctl-lib.sh"

A=unix:$T/a.sock
B=unix:$T/b.sock
C=unix:$T/c.sock
LIST="$A,$B,$C"
PIDS=
for x in a b c; do
    "$CONDD" --listen 127.0.0.1:0 --port-file "$T/$x.port" --unix "$T/$x.sock" --log-level warning \
        --cluster "$LIST" --cluster-self "unix:$T/$x.sock" 2>>"$T/condd.log" &
    echo $! >"$T/condd-$x.pid"
    eval "PID_$x=\$!"
done
for x in a b c; do
    wait_until 20 test -s "$T/$x.port" || fail "condd $x did not start"
done
CONDD_SERVER=$LIST
export CONDD_SERVER

# home NAME: the server (A, B or C) that serves NAME, asked of each server alone: the others
# refuse it (exit 4, WRONG_SERVER).
home() {
    for s in "$A" "$B" "$C"; do
        "$CONDCTL" -s "$s" locked "$1" >/dev/null 2>"$T/home.err"
        case $? in
        0 | 1) echo "$s" ;;
        4) grep -q WRONG_SERVER "$T/home.err" || fail "locked $1 on $s: $(cat "$T/home.err")" ;;
        *) fail "locked $1 on $s: $(cat "$T/home.err")" ;;
        esac
    done
}

note "ping asks every server"
run_rc 0 "$CONDCTL" ping
[ "$(wc -l <"$T/out")" = 3 ] || fail "ping printed $(cat "$T/out")"
for s in "$A" "$B" "$C"; do
    grep -q "^$s: rtt " "$T/out" || fail "no ping line for $s in $(cat "$T/out")"
done
run_rc 0 "$CONDCTL" ping --json
grep -q "\"server\":\"$C\",\"rtt_ms\"" "$T/out" || fail "ping --json: $(cat "$T/out")"

note "every name reaches its server, and only one server serves it"
ON_C=
NOT_C=
i=0
while [ $i -lt 12 ] || [ -z "$ON_C" ] || [ -z "$NOT_C" ]; do
    [ $i -lt 60 ] || fail "60 names and none on $C, or all on it"
    n=name-$i
    h=$(home "$n")
    [ "$(echo "$h" | wc -l)" = 1 ] && [ -n "$h" ] || fail "$n is served by '$h'"
    run_rc 0 "$CONDCTL" lock "$n" -- true
    if [ "$h" = "$C" ]; then ON_C=$n; else NOT_C=$n; fi
    i=$((i + 1))
done
run_rc 0 "$CONDCTL" stats --json
grep -q '"total":{"servers":3,' "$T/out" || fail "stats --json: $(cat "$T/out")"
# home()'s probes are refused by two servers each; the locks by none.
grep -o '"total":{.*' "$T/out" | grep -q "\"wrong_server\":$((2 * i))[,}]" ||
    fail "a lock was refused: $(cat "$T/out")"

note "list merges every server's rows with a SERVER column and a server key"
spawn hold1 "$CONDCTL" hold "$ON_C" --until-signal
wait_until 10 is_locked "$ON_C" || fail "hold $ON_C did not take it"
spawn hold2 "$CONDCTL" hold "$NOT_C" --until-signal
wait_until 10 is_locked "$NOT_C" || fail "hold $NOT_C did not take it"
run_rc 0 "$CONDCTL" list
head -n 1 "$T/out" | grep -q '^SERVER  *LOCK  *HOLDER' || fail "list header: $(cat "$T/out")"
grep -q "^$C  *$ON_C " "$T/out" || fail "no row '$C $ON_C' in $(cat "$T/out")"
grep -q "^$(home "$NOT_C")  *$NOT_C " "$T/out" || fail "$NOT_C not on its server in $(cat "$T/out")"
run_rc 0 "$CONDCTL" list --json
grep -q "{\"server\":\"$C\",\"name\":\"$ON_C\",\"holder\":" "$T/out" ||
    fail "list --json: $(cat "$T/out")"
run_rc 0 "$CONDCTL" stats
grep -q "^server  *$A\$" "$T/out" && grep -q "^server  *total (3 of 3 servers)\$" "$T/out" ||
    fail "stats: $(cat "$T/out")"
grep -q "^locks_held  *2\$" "$T/out" || fail "stats total: $(cat "$T/out")"

note "a second hold of the name waits on the same server"
run_rc 124 "$CONDCTL" lock "$ON_C" -T 0.2 -- true
kill -TERM "$(pid_of hold1)"
expect_rc hold1 0
run_rc 0 "$CONDCTL" lock "$ON_C" -T 5 -- true

note "a client whose list lacks a server is refused, naming the right one"
run_rc 4 "$CONDCTL" -s "$A,$B" lock "$ON_C" -T 0 -- true
grep -q "refused by the server unix:.*: WRONG_SERVER: '$ON_C' routes to $C (cluster of 3)" "$T/err" ||
    fail "stderr: $(cat "$T/err")"

note "kill-session and a bad list are usage errors"
run_rc 2 "$CONDCTL" kill-session 1
grep -q "kill-session: session ids are per server and the list has 3; give the one server" "$T/err" ||
    fail "stderr: $(cat "$T/err")"
run_rc 2 "$CONDCTL" -s "$A,,$B" ping
grep -q "invalid server list .*empty entry" "$T/err" || fail "stderr: $(cat "$T/err")"
run_rc 2 "$CONDCTL" -s "$A,$A" ping
grep -q "is twice in the list" "$T/err" || fail "stderr: $(cat "$T/err")"

note "a server that is down fails only its names, and is named"
kill -TERM "$PID_c"
wait "$PID_c" 2>/dev/null
rm -f "$T/condd-c.pid"
run_rc 3 "$CONDCTL" ping
grep -q "^$A: rtt " "$T/out" && grep -q "^$B: rtt " "$T/out" || fail "ping: $(cat "$T/out")"
grep -q "server $C: cannot connect" "$T/err" || fail "stderr: $(cat "$T/err")"
run_rc 3 "$CONDCTL" lock "$ON_C" -- true
grep -q "cannot connect to $C" "$T/err" || fail "stderr: $(cat "$T/err")"
kill -TERM "$(pid_of hold2)"
expect_rc hold2 0
run_rc 0 "$CONDCTL" lock "$NOT_C" -- true

note "ok"
