#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condctl --grace through tests/blipproxy: a lock whose connection drops while CMD runs is kept
# (another condctl cannot take it), condctl resumes and CMD runs on undisturbed; a condition
# wait survives a drop and is notified during it; sem, hold and barrier survive a drop too; a blip longer than the grace loses the lock
# (CMD stopped, exit 3); condctl says goodbye on exit, so the lock is free at once; --grace
# rejects a bad value.
. "$(dirname "$0")/condctl-lib.sh"

BLIPPROXY=${BLIPPROXY:-$top_builddir/tests/blipproxy}
start_daemon
DIRECT=$CONDD_SERVER

"$BLIPPROXY" "$PORT" "$T/proxy.ports" 2>>"$T/condd.log" &
PROXY_PID=$!
KILL_PIDS="$KILL_PIDS $PROXY_PID"
wait_until 20 test -s "$T/proxy.ports" || fail "blipproxy did not start"
PROXIED=127.0.0.1:$(cut -d' ' -f1 "$T/proxy.ports")
CONTROL=$(cut -d' ' -f2 "$T/proxy.ports")

# proxy COMMAND: one command to the proxy, done once it returns.
proxy() {
    "$BLIPPROXY" --send "$CONTROL" "$1" >"$T/proxy.out" || fail "proxy $1: $(cat "$T/proxy.out")"
}
# proxied N: the proxy carries N client connections.
proxied() {
    "$BLIPPROXY" --send "$CONTROL" count >"$T/proxy.count" && [ "$(cat "$T/proxy.count")" = "$1" ]
}
held_directly() {
    CONDD_SERVER=$DIRECT "$CONDCTL" -T 0 lock "$1" -- true >/dev/null 2>&1
    [ $? = 124 ]
}

note "a bad --grace is a usage error"
run_rc 2 "$CONDCTL" --grace -1 ping
run_rc 2 "$CONDCTL" --grace soon ping
[ "$(wc -l <"$T/err")" = 1 ] || fail "more than one line for a bad --grace: $(cat "$T/err")"

note "lock: a dropped connection is resumed, the lock held throughout, CMD undisturbed"
rm -f "$T/go" "$T/started"
spawn blip "$CONDCTL" -s "$PROXIED" lock --grace 20 blip -- sh -c \
    'trap "echo term >$1/got; exit 9" TERM HUP INT; echo "$CONDD_TOKEN" >$1/started
     while [ ! -e $1/go ]; do sleep 0.02; done; echo "$CONDD_TOKEN"' sh "$T"
wait_until 10 test -s "$T/started" || fail "CMD did not start"
wait_until 10 proxied 1 || fail "condctl is not connected through the proxy"
proxy drop
held_directly blip || fail "the lock was free right after the drop"
wait_until 10 proxied 1 || fail "condctl did not reconnect"
held_directly blip || fail "the lock was free after the resume"
touch "$T/go"
expect_rc blip 0
[ ! -e "$T/got" ] || fail "CMD was signalled"
[ "$(cat "$T/blip.out")" = "$(cat "$T/started")" ] || fail "the token changed"
run_rc 1 "$CONDCTL" locked blip

note "wait: a drop while waiting, notified during the blip, still returns 0"
spawn waiter "$CONDCTL" -s "$PROXIED" --grace 20 wait bc --lock bl
wait_until 10 has_cond_waiters bc 1 || fail "the waiter does not wait: $(list_json)"
proxy refuse
proxy drop
run_rc 0 "$CONDCTL" notify bc --lock bl
proxy accept
expect_rc waiter 0

note "a blip longer than the grace: the lock is lost, CMD stopped, exit 3"
rm -f "$T/got" "$T/started"
spawn lost "$CONDCTL" -s "$PROXIED" lock --grace 0.5 lost -- sh -c \
    'trap "echo term >$1/got; exit 0" TERM; echo x >$1/started; while :; do sleep 0.05; done' sh "$T"
wait_until 10 test -s "$T/started" || fail "CMD did not start"
proxy refuse
proxy drop
expect_rc lost 3
[ "$(cat "$T/got" 2>/dev/null)" = term ] || fail "CMD did not get SIGTERM"
grep -q 'lost' "$T/lost.err" || fail "no message about the lost lock: $(cat "$T/lost.err")"
proxy accept
wait_until 10 is_free lost || fail "the lock was not handed on: $(list_json)"

note "sem: the permit is kept through a drop, CMD undisturbed"
rm -f "$T/go" "$T/started" "$T/got"
spawn sblip "$CONDCTL" -s "$PROXIED" sem --grace 20 sm -n 1 -- sh -c \
    'trap "echo term >$1/got; exit 9" TERM HUP INT; echo x >$1/started
     while [ ! -e $1/go ]; do sleep 0.02; done' sh "$T"
wait_until 10 test -s "$T/started" || fail "CMD did not start"
proxy drop
CONDD_SERVER=$DIRECT run_rc 124 "$CONDCTL" -T 0 sem sm -n 1 -- true
wait_until 10 proxied 1 || fail "condctl did not reconnect"
CONDD_SERVER=$DIRECT run_rc 124 "$CONDCTL" -T 0 sem sm -n 1 -- true
touch "$T/go"
expect_rc sblip 0
[ ! -e "$T/got" ] || fail "CMD was signalled"

note "hold: the lock is kept through a drop; TERM ends the hold as usual"
spawn hblip "$CONDCTL" -s "$PROXIED" --grace 20 hold --until-signal hb
wait_until 10 held_directly hb || fail "the hold did not take the lock"
proxy drop
held_directly hb || fail "the lock was free after the drop"
wait_until 10 proxied 1 || fail "condctl did not reconnect"
held_directly hb || fail "the lock was free after the resume"
running hblip || fail "the hold ended"
kill -TERM "$(pid_of hblip)"
expect_rc hblip 0
wait_until 10 is_free hb || fail "the hold did not release"

note "barrier: filled during the blip, the waiter still passes"
spawn bw "$CONDCTL" -s "$PROXIED" --grace 20 barrier bb -p 2
wait_until 10 has_barrier_waiting bb 1 || fail "the barrier waiter does not wait: $(list_json)"
proxy refuse
proxy drop
run_rc 0 "$CONDCTL" barrier bb -p 2
proxy accept
expect_rc bw 0

note "a normal exit says goodbye: the lock is free at once despite the grace"
run_rc 0 "$CONDCTL" lock --grace 60 bye -- true
run_rc 1 "$CONDCTL" locked bye

note "ok"
