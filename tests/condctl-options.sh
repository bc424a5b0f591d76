#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Global options passed to the library: --name NAME is the client name the server shows as the
# holder in list (default condctl/PID@HOST), --session-timeout SECONDS the session timeout asked
# for in Hello (a short one is kept alive by condctl; a long one is clamped by the server).
. "$(dirname "$0")/condctl-lib.sh"

start_daemon

note "--name: the holder list shows"
mkfifo "$T/h.in"
SPAWN_IN="$T/h.in" spawn holder "$CONDCTL" --name backup-job/7 hold named
exec 5>"$T/h.in"
wait_until 20 test -s "$T/holder.out" || fail "hold printed no token"
list_json | grep -q '{"name":"named","holder":"backup-job/7",' ||
    fail "holder is not backup-job/7: $(list_json)"
run_rc 0 "$CONDCTL" list
grep -q '^named  *backup-job/7  ' "$T/out" || fail "table: $(cat "$T/out")"
exec 5>&-
expect_rc holder 0

note "without --name: condctl/PID@HOST"
mkfifo "$T/h2.in"
SPAWN_IN="$T/h2.in" spawn holder2 "$CONDCTL" hold unnamed
exec 6>"$T/h2.in"
wait_until 20 test -s "$T/holder2.out" || fail "hold printed no token"
list_json | grep -q "{\"name\":\"unnamed\",\"holder\":\"condctl/$(pid_of holder2)@" ||
    fail "default holder name: $(list_json)"
exec 6>&-
expect_rc holder2 0

note "--session-timeout: a 1 s session outlives 2.5 s of holding (condctl keeps it alive)"
mkfifo "$T/h3.in"
SPAWN_IN="$T/h3.in" spawn holder3 "$CONDCTL" --session-timeout 1 --name short hold st
exec 7>"$T/h3.in"
wait_until 20 test -s "$T/holder3.out" || fail "hold printed no token"
t=$(lock_token st)
# Deliberately longer than the session timeout asked for.
sleep 2.5
[ "$(lock_token st)" = "$t" ] || fail "the short session lost its lock: $(list_json)"
exec 7>&-
expect_rc holder3 0

note "--session-timeout reaches the server: a stopped condctl loses its lock after it"
mkfifo "$T/h4.in"
SPAWN_IN="$T/h4.in" spawn holder4 "$CONDCTL" --session-timeout 1 --grace 0 hold expiring
exec 8>"$T/h4.in"
wait_until 20 test -s "$T/holder4.out" || fail "hold printed no token"
kill -STOP "$(pid_of holder4)"
# The server ends the silent session after about 1 s (the default is far longer; no grace).
wait_until 5 is_free expiring || fail "the 1 s session did not expire: $(list_json)"
kill -CONT "$(pid_of holder4)"
expect_rc holder4 3
exec 8>&-
run_rc 0 "$CONDCTL" --session-timeout 0 ping

note "ok"
