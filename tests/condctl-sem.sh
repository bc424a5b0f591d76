#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condctl sem NAME -n N [--bounded] -- CMD: CMD runs holding one permit (CONDD_LOCK,
# CONDD_TOKEN), its status is condctl's, N scripts run at once and the next waits, -T and -E as
# for lock, a value or kind mismatch is refused (exit 4), usage errors, and the semaphore in
# list (text and --json) and stats.
. "$(dirname "$0")/condctl-lib.sh"

start_daemon

note "CMD gets CONDD_LOCK and CONDD_TOKEN; its status is condctl's"
run_rc 0 "$CONDCTL" sem s1 -n 2 -- sh -c 'printf "%s %s\n" "$CONDD_LOCK" "$CONDD_TOKEN"'
grep -q '^s1 [0-9][0-9]*$' "$T/out" || fail "CMD saw: $(cat "$T/out")"
run_rc 7 "$CONDCTL" sem s1 -n 2 -- sh -c 'exit 7'
run_rc 127 "$CONDCTL" sem s1 -n 2 -- "$T/no-such-program"
wait_until 10 nothing_left || fail "something left: $(list_json)"

note "two permits: two holders at once, the third waits (-T 0 times out, -E)"
spawn h1 "$CONDCTL" sem pool -n 2 -- sh -c 'touch "$0/h1.in"; while [ ! -e "$0/go" ]; do sleep 0.05; done' "$T"
spawn h2 "$CONDCTL" sem pool -n 2 -- sh -c 'touch "$0/h2.in"; while [ ! -e "$0/go" ]; do sleep 0.05; done' "$T"
wait_until 10 test -e "$T/h1.in" || fail "h1 did not get a permit"
wait_until 10 test -e "$T/h2.in" || fail "h2 did not get a permit"
run_rc 124 "$CONDCTL" -T 0 sem pool -n 2 -- true
run_rc 9 "$CONDCTL" -T 0.2 sem pool -n 2 -E 9 -- true
list_json | grep -q '"name":"pool","value":2,"bounded":false,"counter":0' ||
    fail "list --json: $(cat "$T/list.json")"
run_rc 0 "$CONDCTL" list pool
grep -q '^SEMAPHORE' "$T/out" || fail "no semaphore table: $(cat "$T/out")"
grep -q '^pool .* plain' "$T/out" || fail "pool not listed: $(cat "$T/out")"
run_rc 0 "$CONDCTL" stats
grep -q '^permits_held  *2$' "$T/out" || fail "stats: $(cat "$T/out")"
grep -q '^semaphores  *1$' "$T/out" || fail "stats: $(cat "$T/out")"

note "a value or kind mismatch is refused while it exists"
run_rc 4 "$CONDCTL" -T 0 sem pool -n 3 -- true
grep -q 'VALUE_MISMATCH' "$T/err" || fail "no status: $(cat "$T/err")"
# The server's message gives the value it has and the one asked (check_client_sem: all of it).
grep -q 'semaphore exists with value 2 (asked 3)' "$T/err" || fail "no values: $(cat "$T/err")"
run_rc 4 "$CONDCTL" -T 0 sem pool -n 2 --bounded -- true
touch "$T/go"
expect_rc h1 0
expect_rc h2 0
wait_until 10 nothing_left || fail "something left: $(list_json)"

note "--bounded works and its permit is back after CMD"
run_rc 0 "$CONDCTL" sem b -n 1 --bounded -- true
run_rc 0 "$CONDCTL" sem b -n 1 --bounded -- sh -c '"$0" -T 0 sem b -n 1 --bounded -- true; test $? = 124' "$CONDCTL"
wait_until 10 nothing_left || fail "something left: $(list_json)"

note "usage errors"
run_rc 2 "$CONDCTL" sem x -- true
run_rc 2 "$CONDCTL" sem x -n 0 -- true
run_rc 2 "$CONDCTL" sem x -n 2147483649 -- true
run_rc 2 "$CONDCTL" lock x --bounded -- true
run_rc 2 "$CONDCTL" sem x -n 2
run_rc 0 "$CONDCTL" --help
grep -q 'sem NAME -n N' "$T/out" || fail "--help does not show sem"
note "ok"
