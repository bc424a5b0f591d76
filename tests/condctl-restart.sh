#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condctl across a live restart of condd (SIGUSR2, condd(8) LIVE RESTART): `condctl lock x --
# sleep 5` keeps x held the whole time, checked from outside every 50 ms with a try-lock of
# another client (never granted), and the command is not signalled and sees the same token; a
# condition wait, a hold and a barrier party ride through a restart too with condctl's default
# grace; the restart count shows in stats.
. "$(dirname "$0")/condctl-lib.sh"

start_daemon --log-level notice

# held NAME: 0 held (a try-lock from another client times out), 1 free (it was granted),
# 2 unknown (that client's own connection was caught by the restart: it has no grace).
held() {
    "$CONDCTL" -T 0 lock "$1" -- true >/dev/null 2>&1
    case $? in
    124) return 0 ;;
    0) return 1 ;;
    *) return 2 ;;
    esac
}
restarts() {
    "$CONDCTL" stats 2>/dev/null | awk '$1 == "restarts" { print $2 }'
}
restarted() {
    [ "$(restarts)" = "$1" ]
}

note "lock x -- sleep 5: x held throughout a restart, CMD undisturbed"
rm -f "$T/started" "$T/done" "$T/got"
spawn lk "$CONDCTL" lock x -- sh -c \
    'trap "echo signalled >$1/got" TERM HUP INT QUIT USR1 USR2 PIPE
     echo "$CONDD_TOKEN" >$1/started; sleep 5; echo "$CONDD_TOKEN" >$1/done' sh "$T"
wait_until 10 test -s "$T/started" || fail "CMD did not start"
held x || fail "x is not held"
kill -USR2 "$DAEMON_PID" || fail "cannot signal condd"
checks=0
unknown=0
while [ ! -s "$T/done" ]; do
    held x
    case $? in
    0) checks=$((checks + 1)) ;;
    1) [ -s "$T/done" ] || fail "x was free during the restart (after $checks checks)" ;;
    2) unknown=$((unknown + 1)) ;;
    esac
    sleep 0.05
done
expect_rc lk 0
[ ! -e "$T/got" ] || fail "CMD was signalled: $(cat "$T/got")"
[ "$(cat "$T/done")" = "$(cat "$T/started")" ] || fail "the token changed"
[ "$checks" -ge 3 ] || fail "only $checks checks saw x held (a loaded machine runs fewer than 100)"
note "x held at each of $checks checks ($unknown caught by the restart itself)"
wait_until 10 restarted 1 || fail "stats show $(restarts) restarts, expected 1"
wait_until 10 is_free x || fail "x was not released"
grep -q 'restart: loaded' "$T/condd.log" || fail "no 'restart: loaded' in the log"

note "wait (default grace): a restart while waiting; notified afterwards, it returns 0"
spawn waiter "$CONDCTL" wait rc --lock rl
wait_until 10 has_cond_waiters rc 1 || fail "the waiter does not wait: $(list_json)"
kill -USR2 "$DAEMON_PID"
wait_until 10 restarted 2 || fail "the second restart did not happen"
wait_until 10 has_cond_waiters rc 1 || fail "the waiter is gone after the restart: $(list_json)"
run_rc 0 "$CONDCTL" notify rc --lock rl
expect_rc waiter 0

note "hold (default grace): the lock stays held through a restart; TERM ends it as usual"
spawn hd "$CONDCTL" hold --until-signal hh
wait_until 10 is_locked hh || fail "the hold did not take the lock"
kill -USR2 "$DAEMON_PID"
wait_until 10 restarted 3 || fail "the third restart did not happen"
held hh
[ $? != 1 ] || fail "hh was free after the restart"
running hd || fail "the hold ended"
kill -TERM "$(pid_of hd)"
expect_rc hd 0
wait_until 10 is_free hh || fail "the hold did not release"

note "barrier (default grace): a party waiting through a restart is released by the next"
spawn bw "$CONDCTL" barrier rb -p 2
wait_until 10 has_barrier_waiting rb 1 || fail "the party does not wait: $(list_json)"
kill -USR2 "$DAEMON_PID"
wait_until 10 restarted 4 || fail "the fourth restart did not happen"
wait_until 10 has_barrier_waiting rb 1 || fail "the party is gone after the restart: $(list_json)"
run_rc 0 "$CONDCTL" barrier rb -p 2
expect_rc bw 0
wait_until 10 nothing_left || fail "something is left: $(list_json)"
exit 0
