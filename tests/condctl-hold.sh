#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condctl hold NAME: prints the fencing token and holds the lock until stdin ends or SIGINT /
# SIGTERM (exit 0, lock released); `kill -9` of the holder hands the lock to the next waiter
# (with a larger token); -T while held by another gives 124 and leaves no waiter; a lost
# connection gives 3; the session is kept alive while holding.
. "$(dirname "$0")/condctl-lib.sh"

# A short session timeout: hold must keep its session alive.
start_daemon --session-timeout 1

# start_hold NAME LOCK FD: `condctl hold LOCK` as NAME, stdin a fifo kept open on FD by the test.
start_hold() {
    mkfifo "$T/$1.in"
    SPAWN_IN="$T/$1.in" spawn "$1" "$CONDCTL" hold "$2"
    eval "exec $3>\"\$T/\$1.in\""
}

# token_of NAME: waits for NAME's token line and prints it.
token_of() {
    wait_until 20 grep -q '^[0-9][0-9]*$' "$T/$1.out" || fail "$1 printed no token"
    cat "$T/$1.out"
}

note "hold prints the token and holds the lock"
start_hold h1 door 5
t1=$(token_of h1)
run_rc 0 "$CONDCTL" locked door
# Deliberately outlive the 1 s session timeout: the hold must keep the lock.
sleep 2.5
[ "$(lock_token door)" = "$t1" ] || fail "the hold lost its lock: $(list_json)"

note "kill -9 of the holder hands the lock to the next waiter"
start_hold h2 door 6
wait_until 20 has_lock_waiters door 1 || fail "h2 is not queued: $(list_json)"
[ ! -s "$T/h2.out" ] || fail "h2 printed a token while h1 holds the lock"
kill -9 "$(pid_of h1)"
expect_rc h1 137
t2=$(token_of h2)
[ "$t2" -gt "$t1" ] || fail "token $t2 of the next holder is not above $t1"
list_json | grep -q "{\"name\":\"door\",\"holder\":\"condctl/$(pid_of h2)@[^\"]*\",\"token\":$t2," ||
    fail "h2 is not listed as the holder: $(list_json)"
exec 5>&-

note "SIGTERM ends hold: release, exit 0"
kill -TERM "$(pid_of h2)"
expect_rc h2 0
run_rc 1 "$CONDCTL" locked door

note "SIGINT ends hold: release, exit 0"
start_hold h3 door 7
token_of h3 >/dev/null
kill -INT "$(pid_of h3)"
expect_rc h3 0
run_rc 1 "$CONDCTL" locked door
exec 6>&- 7>&-

note "end of stdin ends hold at once"
within 0 20 "$CONDCTL" hold door
grep -q '^[0-9][0-9]*$' "$T/bg.out" || fail "hold printed: $(cat "$T/bg.out")"
run_rc 1 "$CONDCTL" locked door

note "-T while another holds: 124 and no waiter left"
start_hold h4 door 5
token_of h4 >/dev/null
within 124 20 "$CONDCTL" -T 0 hold door
[ ! -s "$T/bg.out" ] || fail "a timed-out hold printed $(cat "$T/bg.out")"
within 124 20 "$CONDCTL" hold door -T 0.3
wait_until 10 has_lock_waiters door 0 || fail "a timed-out hold left a waiter: $(list_json)"
exec 5>&-
expect_rc h4 0

note "connection lost while holding: 3"
start_hold h5 door 5
token_of h5 >/dev/null
kill_daemon
expect_rc h5 3
exec 5>&-

note "ok"
