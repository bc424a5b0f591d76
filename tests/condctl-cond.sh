#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Conditions through condctl: `notify -n 1` wakes exactly the longest waiter, `-n N` wakes N,
# `notify-all` wakes all (with --lock), `wait-for` reruns its predicate after each notify until it
# holds, refusals (LOCK_MISMATCH) give 4, a wait outlives the session timeout, and a wait whose
# connection is lost gives 3.
. "$(dirname "$0")/condctl-lib.sh"

# A short session timeout (3 s, not 1: a loaded machine may starve a client for over a second).
# Waiting condctls must keep their sessions alive.
start_daemon --session-timeout 3

# start_waiters COND N [ARGS...]: N waiters on COND, started one at a time so their order is
# known (w1 waits longest).
start_waiters() {
    _c=$1
    _n=$2
    shift 2
    _i=1
    while [ $_i -le "$_n" ]; do
        spawn "w$_i" "$CONDCTL" wait "$_c" "$@"
        wait_until 20 has_cond_waiters "$_c" $_i || fail "w$_i is not waiting: $(list_json)"
        _i=$((_i + 1))
    done
}

note "notify -n 1 wakes exactly the longest waiter"
start_waiters c 3
run_rc 0 "$CONDCTL" notify c -n 1
[ "$(cat "$T/out")" = 1 ] || fail "notify printed $(cat "$T/out")"
expect_rc w1 0
[ "$(cond_waiters c)" = 2 ] || fail "not 2 waiters left: $(list_json)"
{ running w2 && running w3; } || fail "a later waiter was woken too"
run_rc 0 "$CONDCTL" notify c
expect_rc w2 0
running w3 || fail "w3 was woken by the second notify"
[ "$(cond_waiters c)" = 1 ] || fail "not 1 waiter left: $(list_json)"
run_rc 0 "$CONDCTL" notify c -n 1
expect_rc w3 0
wait_until 10 nothing_left || fail "something left: $(list_json)"

note "a wait outlives the session timeout"
start_waiters long 1
# Deliberately outlive the 3 s session timeout before notifying.
sleep 4.5
run_rc 0 "$CONDCTL" notify long
[ "$(cat "$T/out")" = 1 ] || fail "the waiter was lost: notify woke $(cat "$T/out")"
expect_rc w1 0

note "notify -n 2 wakes two"
start_waiters c 3
run_rc 0 "$CONDCTL" notify c -n 2
[ "$(cat "$T/out")" = 2 ] || fail "notify -n 2 printed $(cat "$T/out")"
expect_rc w1 0
expect_rc w2 0
running w3 || fail "notify -n 2 woke a third waiter"
run_rc 0 "$CONDCTL" notify c --count 5
[ "$(cat "$T/out")" = 1 ] || fail "notify --count 5 with one waiter printed $(cat "$T/out")"
expect_rc w3 0

note "notify-all wakes every waiter (with --lock)"
start_waiters all 4 --lock biglock
run_rc 0 "$CONDCTL" list --json
grep -q '{"name":"all","lock":"biglock","waiters":4}' "$T/out" || fail "list: $(cat "$T/out")"
run_rc 0 "$CONDCTL" notify-all all --lock biglock
[ "$(cat "$T/out")" = 4 ] || fail "notify-all printed $(cat "$T/out")"
for i in 1 2 3 4; do
    expect_rc "w$i" 0
done
wait_until 10 nothing_left || fail "something left: $(list_json)"

note "a condition bound to another lock: 4 (LOCK_MISMATCH)"
start_waiters mm 1 --lock right
run_rc 4 "$CONDCTL" notify mm --lock wrong
grep -q 'LOCK_MISMATCH' "$T/err" || fail "no LOCK_MISMATCH on stderr: $(cat "$T/err")"
run_rc 1 "$CONDCTL" locked wrong
running w1 || fail "the refused notify woke the waiter"
run_rc 0 "$CONDCTL" notify mm --lock right
expect_rc w1 0

note "wait-for reruns CMD after each notify until it succeeds"
: >"$T/count"
: >"$T/runs"
spawn wf "$CONDCTL" wait-for ready -- sh -c \
    'echo "$CONDD_LOCK $CONDD_COND $CONDD_TOKEN" >>"$1/runs"; test "$(wc -l <"$1/count")" -ge 3' \
    sh "$T"
wait_until 20 has_cond_waiters ready 1 || fail "wait-for is not waiting: $(list_json)"
for step in 1 2 3; do
    echo "$step" >>"$T/count"
    run_rc 0 "$CONDCTL" notify ready
    [ "$(cat "$T/out")" = 1 ] || fail "notify $step woke $(cat "$T/out")"
    if [ $step -lt 3 ]; then
        # CMD runs again, fails, and wait-for waits again.
        wait_until 20 has_cond_waiters ready 1 || fail "wait-for did not wait again: $(list_json)"
        running wf || fail "wait-for ended after $step notifies"
    fi
done
expect_rc wf 0
[ "$(wc -l <"$T/runs")" = 4 ] || fail "CMD ran $(wc -l <"$T/runs") times, expected 4"
grep -qv '^ready ready [0-9][0-9]*$' "$T/runs" && fail "CMD's environment: $(cat "$T/runs")"
sort -k3,3n -u -c "$T/runs" || fail "each rerun should hold a newer grant: $(cat "$T/runs")"
wait_until 10 nothing_left || fail "something left: $(list_json)"

note "wait-for with a true CMD does not wait; a missing CMD gives 127"
within 0 20 "$CONDCTL" wait-for ready -- true
within 127 20 "$CONDCTL" wait-for ready -- "$T/no-such-program"
run_rc 1 "$CONDCTL" locked ready

note "wait-for stops (does not loop) when a forwarded signal ends CMD"
rm -f "$T/cmd.pid"
spawn wfsig "$CONDCTL" wait-for sig -- sh -c 'echo $$ >"$1/cmd.pid"; exec sleep 60' sh "$T"
wait_until 10 test -s "$T/cmd.pid" || fail "CMD did not start"
KILL_PIDS="$KILL_PIDS $(cat "$T/cmd.pid")"
kill -TERM "$(pid_of wfsig)"
expect_rc wfsig 143
run_rc 1 "$CONDCTL" locked sig

note "a wait whose connection is lost: 3"
start_waiters lost 1
kill_daemon
expect_rc w1 3

note "ok"
