#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condctl -T: one deadline for a command's waiting. When it passes the exit status is 124 and
# nothing is left behind in the server (checked with `list --json`): not for lock, hold, wait
# (both while waiting for the lock and for the notification), wait-for and notify. -T 0 does not
# wait at all but still succeeds when nothing is in the way; the time CMD runs under lock does
# not count.
. "$(dirname "$0")/condctl-lib.sh"

start_daemon

# no_waiters: no condition waiter and no queued lock request anywhere (held locks are fine).
no_waiters() {
    ! list_json | grep -q '"waiters":[1-9]'
}

note "-T 0 and -T N succeed when nothing is in the way"
within 0 20 "$CONDCTL" -T 0 lock free -- true
within 0 20 "$CONDCTL" --timeout=0.5 lock free -- true
within 0 20 "$CONDCTL" lock free -T 0 -- true
within 0 20 "$CONDCTL" -T 0 notify free
within 0 20 "$CONDCTL" -T 0 wait-for free -- true
# (stdin a pipe that ends at once: hold releases at its end)
within 0 20 sh -c ': | exec "$0" -T 0 hold free' "$CONDCTL"

note "the time CMD runs under lock does not count"
within 0 20 "$CONDCTL" -T 0.2 lock free -- sh -c \
    'i=0; while [ $i -lt 5 ]; do sleep 0.1; i=$((i + 1)); done'

note "a lock held elsewhere: 124 for lock, hold, notify, wait; no waiter left"
mkfifo "$T/h.in"
SPAWN_IN="$T/h.in" spawn holder "$CONDCTL" hold busy
exec 5>"$T/h.in"
wait_until 20 test -s "$T/holder.out" || fail "hold printed no token"

within 124 20 "$CONDCTL" -T 0 lock busy -- touch "$T/ran"
within 124 20 "$CONDCTL" -T 0.3 lock busy -- touch "$T/ran"
[ ! -e "$T/ran" ] || fail "lock ran CMD after its deadline"
grep -q 'timed out' "$T/bg.err" || fail "no message: $(cat "$T/bg.err")"
wait_until 10 no_waiters || fail "a timed-out lock left a waiter: $(list_json)"
within 124 20 "$CONDCTL" -T 0.3 hold busy
within 124 20 "$CONDCTL" -T 0.3 notify busy
[ ! -s "$T/bg.out" ] || fail "a timed-out notify printed $(cat "$T/bg.out")"
within 124 20 "$CONDCTL" -T 0.3 notify-all busy
within 124 20 "$CONDCTL" -T 0.3 wait cv --lock busy
within 124 20 "$CONDCTL" -T 0.3 wait-for cv --lock busy -- touch "$T/ran"
[ ! -e "$T/ran" ] || fail "wait-for ran CMD without the lock"
wait_until 10 no_waiters || fail "timed-out requests left waiters: $(list_json)"
exec 5>&-
expect_rc holder 0

note "no notification before the deadline: 124 for wait and wait-for; nothing left"
within 124 20 "$CONDCTL" -T 0.3 wait quiet
within 124 20 "$CONDCTL" wait quiet -T 0
within 124 20 "$CONDCTL" --timeout 0.3 wait quiet --lock ql
: >"$T/runs"
within 124 20 "$CONDCTL" -T 0.5 wait-for quiet -- sh -c 'echo run >>"$1/runs"; false' sh "$T"
[ "$(wc -l <"$T/runs")" = 1 ] || fail "CMD ran $(wc -l <"$T/runs") times without a notify"
within 124 20 "$CONDCTL" -T 0 wait-for quiet -- false
wait_until 10 nothing_left || fail "timed-out waits left something: $(list_json)"

note "a wait that cannot get its lock back after the deadline: 124, nothing left"
spawn late "$CONDCTL" -T 0.5 wait lc --lock ll
wait_until 20 has_cond_waiters lc 1 || fail "the wait is not waiting: $(list_json)"
mkfifo "$T/h2.in"
SPAWN_IN="$T/h2.in" spawn holder2 "$CONDCTL" hold ll
exec 6>"$T/h2.in"
wait_until 20 test -s "$T/holder2.out" || fail "hold printed no token"
expect_rc late 124 20
wait_until 10 no_waiters || fail "the late wait left something: $(list_json)"
exec 6>&-
expect_rc holder2 0
wait_until 10 nothing_left || fail "something left: $(list_json)"

note "-T is one deadline for wait-for across notifies"
: >"$T/runs"
spawn wf "$CONDCTL" -T 6 wait-for tick -- sh -c 'echo run >>"$1/runs"; false' sh "$T"
wait_until 20 has_cond_waiters tick 1 || fail "wait-for is not waiting: $(list_json)"
run_rc 0 "$CONDCTL" notify tick
[ "$(cat "$T/out")" = 1 ] || fail "notify woke $(cat "$T/out")"
expect_rc wf 124 20
[ "$(wc -l <"$T/runs")" = 2 ] || fail "CMD ran $(wc -l <"$T/runs") times, expected 2"
wait_until 10 nothing_left || fail "wait-for left something: $(list_json)"

note "ok"
