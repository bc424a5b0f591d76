#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condctl hold NAME: prints the fencing token (--json: an object) and holds the lock until
# stdin ends (a pipe or terminal) or SIGINT / SIGTERM / SIGHUP (exit 0, lock released); stdin
# /dev/null or a regular file, and --until-signal, hold until a signal; an ignored HUP (nohup)
# stays ignored; `kill -9` of the holder hands the lock to the next waiter
# (with a larger token); -T while held by another gives 124 and leaves no waiter; a lost
# connection gives 3; the session is kept alive while holding.
. "$(dirname "$0")/condctl-lib.sh"

# A short session timeout (3 s, not 1: a loaded machine may starve a client for over a second).
# Hold must keep its session alive.
start_daemon --session-timeout 3

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
# Deliberately outlive the 3 s session timeout: the hold must keep the lock.
sleep 4.5
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

note "end of stdin (a pipe) ends hold at once"
within 0 20 sh -c ': | exec "$0" hold door' "$CONDCTL"
grep -q '^[0-9][0-9]*$' "$T/bg.out" || fail "hold printed: $(cat "$T/bg.out")"
run_rc 1 "$CONDCTL" locked door

# holds_until_signal NAME LOCK SIG: NAME holds LOCK although its stdin gives nothing to wait
# for; SIG ends the hold with 0 and frees the lock.
holds_until_signal() {
    token_of "$1" >/dev/null
    # Each `locked` is a round trip that comes after the hold began: a hold that ended at once
    # (the old behaviour with such stdin) would have released the lock before it.
    run_rc 0 "$CONDCTL" locked "$2"
    run_rc 0 "$CONDCTL" ping
    running "$1" || fail "$1 ended by itself (stderr: $(cat "$T/$1.err"))"
    run_rc 0 "$CONDCTL" locked "$2"
    kill "-$3" "$(pid_of "$1")"
    expect_rc "$1" 0
    run_rc 1 "$CONDCTL" locked "$2"
}

note "stdin /dev/null (cron, systemd): hold until a signal"
spawn hnull "$CONDCTL" hold door
holds_until_signal hnull door TERM

note "stdin a regular file: hold until a signal"
echo some input >"$T/file.in"
SPAWN_IN="$T/file.in" spawn hfile "$CONDCTL" hold door
holds_until_signal hfile door INT

note "SIGHUP ends a hold too"
spawn hhup "$CONDCTL" hold door
holds_until_signal hhup door HUP

note "--until-signal ignores stdin: a pipe at its end does not end the hold"
mkfifo "$T/hsig.in"
SPAWN_IN="$T/hsig.in" spawn hsig "$CONDCTL" hold --until-signal door
# Open and close the writer at once: the hold's stdin is at its end before the lock is granted.
exec 9>"$T/hsig.in"
exec 9>&-
holds_until_signal hsig door HUP

note "a HUP ignored at startup (nohup) does not end the hold; TERM does"
spawn hnohup env --ignore-signal=HUP "$CONDCTL" hold door
token_of hnohup >/dev/null
# An ignored signal is discarded when sent: once kill returns, it is gone.
kill -HUP "$(pid_of hnohup)"
run_rc 0 "$CONDCTL" locked door
running hnohup || fail "an ignored HUP ended the hold"
kill -TERM "$(pid_of hnohup)"
expect_rc hnohup 0

note "hold --json prints an object with the name and the token"
mkfifo "$T/hj.in"
SPAWN_IN="$T/hj.in" spawn hj "$CONDCTL" hold --json 'q"uote'
exec 8>"$T/hj.in"
wait_until 20 grep -q '^{' "$T/hj.out" || fail "hold --json printed nothing"
tj=$(lock_token 'q\\"uote')
[ "$(cat "$T/hj.out")" = "{\"name\":\"q\\\"uote\",\"token\":$tj}" ] ||
    fail "hold --json printed $(cat "$T/hj.out") (token $tj)"
exec 8>&-
expect_rc hj 0

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
