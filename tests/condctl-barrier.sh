#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Barriers through condctl: `barrier NAME -p N` prints each party's arrival index (all different,
# 0..N-1) once N wait, a -T deadline gives 124 and leaves the barrier unbroken, --abort makes
# the waiters and every new wait exit 5 until --reset, other parties give 4 (VALUE_MISMATCH),
# --state and list/stats show it, a kill -9'd party leaves at once with --grace 0 and counts while
# its session is detached with the default grace, and usage errors give 2.
. "$(dirname "$0")/condctl-lib.sh"

start_daemon

note "three parties: each prints its own index, 0..2"
spawn p1 "$CONDCTL" barrier b -p 3
wait_until 20 has_barrier_waiting b 1 || fail "p1 is not waiting: $(list_json)"
spawn p2 "$CONDCTL" -T 30 barrier b -p 3
wait_until 20 has_barrier_waiting b 2 || fail "p2 is not waiting: $(list_json)"
run_rc 0 "$CONDCTL" barrier b -p 3
[ "$(cat "$T/out")" = 2 ] || fail "the filling wait printed $(cat "$T/out")"
expect_rc p1 0
expect_rc p2 0
[ "$(cat "$T/p1.out")" = 0 ] || fail "p1 printed $(cat "$T/p1.out")"
[ "$(cat "$T/p2.out")" = 1 ] || fail "p2 printed $(cat "$T/p2.out")"
wait_until 10 nothing_left || fail "a filled barrier left something: $(list_json)"

note "a one-party barrier passes at once; --json"
run_rc 0 "$CONDCTL" --json barrier one -p 1
[ "$(cat "$T/out")" = '{"index":0}' ] || fail "--json printed $(cat "$T/out")"

note "-T passes: 124, and the barrier is not broken"
run_rc 124 "$CONDCTL" -T 0.2 barrier t -p 2
run_rc 124 "$CONDCTL" -T 0 barrier t -p 2
run_rc 0 "$CONDCTL" barrier t --state
[ "$(cat "$T/out")" = none ] || fail "--state printed $(cat "$T/out")"
wait_until 10 nothing_left || fail "timed-out waits left something: $(list_json)"

note "other parties: 4 (VALUE_MISMATCH), nothing changes"
spawn w1 "$CONDCTL" barrier m -p 2
wait_until 20 has_barrier_waiting m 1 || fail "w1 is not waiting: $(list_json)"
run_rc 4 "$CONDCTL" barrier m -p 3
grep -q VALUE_MISMATCH "$T/err" || fail "no status: $(cat "$T/err")"
# The server's message gives the parties it has and those asked, also for --reset and --abort.
grep -q 'barrier exists with 2 parties (asked 3)' "$T/err" || fail "no parties: $(cat "$T/err")"
run_rc 4 "$CONDCTL" barrier m --reset -p 5
grep -q 'barrier exists with 2 parties (asked 5)' "$T/err" || fail "--reset: $(cat "$T/err")"
run_rc 4 "$CONDCTL" barrier m --abort -p 4
grep -q 'barrier exists with 2 parties (asked 4)' "$T/err" || fail "--abort: $(cat "$T/err")"
run_rc 0 "$CONDCTL" --json barrier m --state
[ "$(cat "$T/out")" = '{"exists":true,"parties":2,"n_waiting":1,"broken":false}' ] ||
    fail "--state --json printed $(cat "$T/out")"

note "abort: the waiter exits 5, the barrier stays broken, new waits exit 5 at once"
run_rc 0 "$CONDCTL" barrier m --abort
[ "$(cat "$T/out")" = 1 ] || fail "--abort printed $(cat "$T/out")"
expect_rc w1 5
run_rc 5 "$CONDCTL" barrier m -p 2
run_rc 0 "$CONDCTL" barrier m --state
[ "$(cat "$T/out")" = "parties 2 waiting 0 broken" ] || fail "--state printed $(cat "$T/out")"
list_json | grep -q '"barriers":\[{"name":"m","parties":2,"n_waiting":0,"broken":true}\]' ||
    fail "list --json: $(cat "$T/list.json")"
run_rc 0 "$CONDCTL" list
grep -q '^BARRIER  *PARTIES  *WAITING  *STATE$' "$T/out" || fail "list table: $(cat "$T/out")"
grep -q '^m  *2  *0  *broken$' "$T/out" || fail "list table: $(cat "$T/out")"
run_rc 0 "$CONDCTL" stats
grep -q '^barriers_broken  *1$' "$T/out" || fail "stats: $(cat "$T/out")"
grep -q '^op.barrier_wait.broken  *2$' "$T/out" || fail "stats ops: $(cat "$T/out")"
run_rc 0 "$CONDCTL" --json barrier m --reset -p 2
[ "$(cat "$T/out")" = '{"broken":0}' ] || fail "--reset --json printed $(cat "$T/out")"
wait_until 10 nothing_left || fail "a reset barrier left something: $(list_json)"

note "abort of a barrier that does not exist needs -p"
run_rc 4 "$CONDCTL" barrier new --abort
run_rc 0 "$CONDCTL" barrier new --abort -p 4
run_rc 5 "$CONDCTL" barrier new -p 4
run_rc 0 "$CONDCTL" barrier new --reset
wait_until 10 nothing_left || fail "something left: $(list_json)"

note "--grace 0: a kill -9'd party leaves at once, and the next arrivals do not trip the barrier"
spawn k1 "$CONDCTL" --grace 0 barrier dead -p 3
wait_until 20 has_barrier_waiting dead 1 || fail "k1 is not waiting: $(list_json)"
spawn k2 "$CONDCTL" --grace 0 barrier dead -p 3
wait_until 20 has_barrier_waiting dead 2 || fail "k2 is not waiting: $(list_json)"
kill -9 "$(pid_of k1)"
expect_rc k1 137
wait_until 20 has_barrier_waiting dead 1 || fail "the killed party still counts: $(list_json)"
spawn k3 "$CONDCTL" --grace 0 barrier dead -p 3
wait_until 20 has_barrier_waiting dead 2 || fail "k3 is not waiting: $(list_json)"
# Two live parties of three: nobody is released (the list above came back after k3 arrived).
running k2 || fail "k2 was released with two live parties: $(cat "$T/k2.out")"
running k3 || fail "k3 was released with two live parties: $(cat "$T/k3.out")"
run_rc 0 "$CONDCTL" barrier dead -p 3
[ "$(cat "$T/out")" = 2 ] || fail "the third live party printed $(cat "$T/out")"
expect_rc k2 0
expect_rc k3 0
[ "$(cat "$T/k2.out")" = 0 ] || fail "k2 printed $(cat "$T/k2.out")"
[ "$(cat "$T/k3.out")" = 1 ] || fail "k3 printed $(cat "$T/k3.out")"
wait_until 10 nothing_left || fail "something left: $(list_json)"

note "the default grace: a kill -9'd party still counts while its session is detached"
spawn g1 "$CONDCTL" barrier kept -p 2
wait_until 20 has_barrier_waiting kept 1 || fail "g1 is not waiting: $(list_json)"
kill -9 "$(pid_of g1)"
expect_rc g1 137
detached() {
    "$CONDCTL" stats >"$T/stats" 2>&1 && grep -q '^detached_sessions  *1$' "$T/stats"
}
wait_until 20 detached || fail "g1's session is not detached: $(cat "$T/stats")"
[ "$(barrier_waiting kept)" = 1 ] || fail "the detached party left: $(list_json)"
run_rc 0 "$CONDCTL" barrier kept --abort
run_rc 0 "$CONDCTL" barrier kept --reset
wait_until 10 nothing_left || fail "something left: $(list_json)"

note "a waiter whose connection is lost gives 3"
spawn w3 "$CONDCTL" barrier lost -p 2
wait_until 20 has_barrier_waiting lost 1 || fail "w3 is not waiting: $(list_json)"
kill_daemon
expect_rc w3 3

note "usage errors give 2"
run_rc 2 "$CONDCTL" barrier
run_rc 2 "$CONDCTL" barrier b
grep -q 'missing -p' "$T/err" || fail "no reason: $(cat "$T/err")"
run_rc 2 "$CONDCTL" barrier b -p 0
run_rc 2 "$CONDCTL" barrier b -p 2147483649
run_rc 2 "$CONDCTL" barrier b --reset --abort
run_rc 2 "$CONDCTL" barrier b --state -p 2
run_rc 2 "$CONDCTL" barrier '' -p 2
grep -q 'empty barrier name' "$T/err" || fail "no reason: $(cat "$T/err")"
run_rc 2 "$CONDCTL" barrier b -p 2 --lock L
run_rc 2 "$CONDCTL" event set ev -p 2
exit 0
