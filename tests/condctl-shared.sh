#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condctl lock --shared / hold --shared (issue 13): CMD's environment and exit status as for
# `lock`, several shared holders at once (each with its own token), an exclusive request
# refused (-T 0: 124, -E N) while readers hold and granted once they have all left, a reader
# arriving behind a waiting writer not barging past it, list (text and JSON) and stats showing
# the mode and every holder, hold --json marking a shared hold, the child killed when the lock
# is lost, and --shared refused where it does not apply (exit 2).
. "$(dirname "$0")/condctl-lib.sh"

start_daemon

note "CMD gets CONDD_LOCK and CONDD_TOKEN; its status is condctl's"
run_rc 0 "$CONDCTL" lock --shared env1 -- sh -c 'printf "%s %s\n" "$CONDD_LOCK" "$CONDD_TOKEN"'
grep -q '^env1 [0-9][0-9]*$' "$T/out" || fail "CMD saw: $(cat "$T/out")"
run_rc 7 "$CONDCTL" lock -S st -- sh -c 'exit 7'
run_rc 127 "$CONDCTL" lock -S st -- "$T/no-such-program"
run_rc 0 "$CONDCTL" -T 0 lock -S st -- true
run_rc 1 "$CONDCTL" locked st

note "two shared holds at once, each with its own token"
spawn r1 "$CONDCTL" hold --shared rd
wait_until 10 test -s "$T/r1.out" || fail "the first reader got no token: $(cat "$T/r1.err")"
spawn r2 "$CONDCTL" --json hold -S rd
wait_until 10 test -s "$T/r2.out" || fail "the second reader got no token: $(cat "$T/r2.err")"
t1=$(cat "$T/r1.out")
t2=$(sed -n 's/^{"name":"rd","token":\([0-9]*\),"shared":true}$/\1/p' "$T/r2.out")
[ -n "$t2" ] || fail "hold --json --shared printed $(cat "$T/r2.out")"
[ "$t2" -gt "$t1" ] || fail "tokens $t1 then $t2 do not increase"
# a third reader runs its CMD under the same lock, at once
run_rc 0 "$CONDCTL" -T 0 lock -S rd -- "$CONDCTL" locked rd
[ "$(cat "$T/out")" = locked ] || fail "inside CMD the lock was $(cat "$T/out")"

note "list and stats show the mode and every holder"
run_rc 0 "$CONDCTL" list rd
head -n 1 "$T/out" | grep -q ' MODE  *HOLDERS$' || fail "list header: $(cat "$T/out")"
grep -q "^rd  *condctl/$(pid_of r1)@[^ ]*  *[0-9][0-9]*  *$t1  *0  *shared  *2\$" "$T/out" ||
    fail "list has no shared row for rd: $(cat "$T/out")"
grep -q "^  *condctl/$(pid_of r2)@[^ ]*  *[0-9][0-9]*  *$t2\$" "$T/out" ||
    fail "list has no line for the second holder: $(cat "$T/out")"
run_rc 0 "$CONDCTL" list --json rd
grep -q "\"token\":$t1,.*\"mode\":\"shared\",\"holders\":\\[{\"session\":[0-9]*,\"client\":\"condctl/$(pid_of r1)@[^\"]*\",\"owner\":0,\"token\":$t1},{\"session\":[0-9]*,\"client\":\"condctl/$(pid_of r2)@[^\"]*\",\"owner\":0,\"token\":$t2}\\]}" "$T/out" ||
    fail "list --json: $(cat "$T/out")"
run_rc 0 "$CONDCTL" stats
grep -q '^locks_shared  *1$' "$T/out" || fail "stats locks_shared: $(cat "$T/out")"
grep -q '^shared_holders  *2$' "$T/out" || fail "stats shared_holders: $(cat "$T/out")"
run_rc 0 "$CONDCTL" stats --json
grep -q '"locks_shared":1,"shared_holders":2' "$T/out" || fail "stats --json: $(cat "$T/out")"

note "an exclusive request waits for every reader; -T 0 and -E say it could not"
run_rc 124 "$CONDCTL" -T 0 lock rd -- true
run_rc 9 "$CONDCTL" -T 0 lock -E 9 rd -- true
run_rc 124 "$CONDCTL" -T 0.2 lock rd -- true
spawn writer "$CONDCTL" lock rd -- sh -c 'echo "$CONDD_TOKEN"'
wait_until 10 has_lock_waiters rd 1 || fail "the writer does not wait"

note "a reader does not barge past the waiting writer"
run_rc 124 "$CONDCTL" -T 0 lock -S rd -- true
run_rc 5 "$CONDCTL" -T 0.2 lock -S -E 5 rd -- true
spawn late "$CONDCTL" lock -S rd -- sh -c 'echo "$CONDD_TOKEN"'
wait_until 10 has_lock_waiters rd 2 || fail "the late reader does not queue"

note "the readers leave: the writer goes first, then the late reader"
kill -TERM "$(pid_of r1)"
expect_rc r1 0
running writer || fail "the writer ran while a reader still held the lock"
kill -TERM "$(pid_of r2)"
expect_rc r2 0
expect_rc writer 0
expect_rc late 0
tw=$(cat "$T/writer.out")
tl=$(cat "$T/late.out")
[ "$tw" -gt "$t2" ] && [ "$tl" -gt "$tw" ] || fail "tokens $t2, writer $tw, late $tl"
wait_until 10 nothing_left || fail "something is left: $(list_json)"

note "--shared applies to lock and hold only"
run_rc 2 "$CONDCTL" locked --shared rd
grep -q 'shared' "$T/err" || fail "no reason given: $(cat "$T/err")"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "not one line: $(cat "$T/err")"
run_rc 2 "$CONDCTL" sem -S p -n 1 -- true
run_rc 2 "$CONDCTL" notify -S c

note "connection lost while CMD runs under a shared lock: SIGTERM to CMD, exit 3"
rm -f "$T/got" "$T/cmd.pid"
spawn lost "$CONDCTL" lock --shared lost -- sh -c \
    'trap "echo term >$1/got; exit 0" TERM; echo $$ >$1/cmd.pid; while :; do sleep 0.05; done' sh "$T"
wait_until 10 test -s "$T/cmd.pid" || fail "CMD did not start"
KILL_PIDS="$KILL_PIDS $(cat "$T/cmd.pid")"
kill_daemon
expect_rc lost 3
[ "$(cat "$T/got" 2>/dev/null)" = term ] || fail "CMD did not get SIGTERM"

note "ok"
