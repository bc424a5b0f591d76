#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Events through condctl: `event set` prints how many waiters woke, `is-set` exits 0 when set and
# 1 when clear, `wait` returns 0 at once on a set event, waits for a set otherwise and exits 124
# on its -T deadline (also -T 0), `clear` empties the server again, usage errors give 2, events
# show in `list` (table and --json) and `stats`, and a waiter whose connection is lost gives 3.
. "$(dirname "$0")/condctl-lib.sh"

start_daemon

note "a clear event: is-set 1, wait -T 0 and -T 0.2 give 124"
run_rc 1 "$CONDCTL" event is-set ev
[ "$(cat "$T/out")" = clear ] || fail "is-set printed $(cat "$T/out")"
run_rc 1 "$CONDCTL" --json event is-set ev
[ "$(cat "$T/out")" = '{"set":false}' ] || fail "is-set --json printed $(cat "$T/out")"
run_rc 124 "$CONDCTL" -T 0 event wait ev
run_rc 124 "$CONDCTL" event wait ev -T 0.2
wait_until 10 nothing_left || fail "timed-out waits left something: $(list_json)"

note "set wakes every waiter and prints how many"
spawn w1 "$CONDCTL" event wait ev
spawn w2 "$CONDCTL" -T 30 event wait ev
wait_until 20 has_event_waiters ev 2 || fail "not 2 waiters: $(list_json)"
run_rc 0 "$CONDCTL" event set ev
[ "$(cat "$T/out")" = 2 ] || fail "set printed $(cat "$T/out")"
expect_rc w1 0
expect_rc w2 0

note "a set event: is-set 0, wait 0 at once, set again wakes nobody, list and stats show it"
run_rc 0 "$CONDCTL" event is-set ev
[ "$(cat "$T/out")" = set ] || fail "is-set printed $(cat "$T/out")"
run_rc 0 "$CONDCTL" -T 0 event wait ev
run_rc 0 "$CONDCTL" --json event set ev
[ "$(cat "$T/out")" = '{"woken":0}' ] || fail "set --json printed $(cat "$T/out")"
list_json | grep -q '"events":\[{"name":"ev","set":true,"waiters":0}\]' ||
    fail "list --json: $(cat "$T/list.json")"
run_rc 0 "$CONDCTL" list
grep -q '^EVENT  *STATE  *WAITERS$' "$T/out" || fail "list table: $(cat "$T/out")"
grep -q '^ev  *set  *0$' "$T/out" || fail "list table: $(cat "$T/out")"
run_rc 0 "$CONDCTL" stats
grep -q '^events_set  *1$' "$T/out" || fail "stats: $(cat "$T/out")"
grep -q '^op.event_set.ok  *2$' "$T/out" || fail "stats ops: $(cat "$T/out")"
run_rc 0 "$CONDCTL" stats --json
grep -q '"events":1,"events_set":1,"event_waiters":0' "$T/out" || fail "stats --json: $(cat "$T/out")"

note "clear: the event is gone"
run_rc 0 "$CONDCTL" event clear ev
[ ! -s "$T/out" ] || fail "clear printed $(cat "$T/out")"
run_rc 1 "$CONDCTL" event is-set ev
run_rc 0 "$CONDCTL" event clear ev
wait_until 10 nothing_left || fail "something left: $(list_json)"

note "a waiter whose connection is lost gives 3"
spawn w3 "$CONDCTL" event wait lost
wait_until 20 has_event_waiters lost 1 || fail "w3 is not waiting: $(list_json)"
kill_daemon
expect_rc w3 3

note "usage errors give 2"
run_rc 2 "$CONDCTL" event
run_rc 2 "$CONDCTL" event frob ev
run_rc 2 "$CONDCTL" event set
run_rc 2 "$CONDCTL" event set a b
run_rc 2 "$CONDCTL" event set ''
grep -q 'empty event name' "$T/err" || fail "no reason: $(cat "$T/err")"
run_rc 2 "$CONDCTL" event wait ev --lock L
exit 0
