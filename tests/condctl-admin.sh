#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Operator controls through condctl: `break NAME` ends every session holding a lock (its
# `condctl lock` loses the connection, exits 3 and its command is killed; a waiter gets the lock;
# a holder in its resume grace is ended too), `break --sem` every session holding permits,
# `kill-session ID` one session; a free lock exits 1, an unknown session 4, a bad id 2; with an
# auth file, break needs admin on the name and kill-session admin on every name, and each action
# is logged with who did it.
. "$(dirname "$0")/condctl-lib.sh"

start_daemon --log-level notice

# holder_session NAME: the session id holding lock NAME, from list --json.
holder_session() {
    list_json | sed -n 's/.*{"name":"'"$1"'"[^}]*"session":\([0-9]*\).*/\1/p'
}

note "break ends the holder's session: its command is killed, the next waiter gets the lock"
spawn holder "$CONDCTL" --grace 30 lock brk -- sh -c 'echo $$ >"$0"; while :; do sleep 1; done' \
    "$T/child.pid"
wait_until 20 test -s "$T/child.pid" || fail "holder's command did not start"
spawn waiter "$CONDCTL" lock brk -- true
wait_until 20 has_lock_waiters brk 1 || fail "no waiter: $(list_json)"
run_rc 0 "$CONDCTL" break brk
[ "$(cat "$T/out")" = 1 ] || fail "break printed $(cat "$T/out")"
expect_rc holder 3
grep -q "operator" "$T/holder.err" || fail "holder's message: $(cat "$T/holder.err")"
wait_until 20 sh -c '! kill -0 "$(cat "$0")" 2>/dev/null' "$T/child.pid" ||
    fail "the holder's command was not killed"
expect_rc waiter 0
grep -q "broke lock 'brk': ended session" "$T/condd.log" || fail "break not logged"

note "break on a free lock prints 0 and exits 1; --json"
run_rc 1 "$CONDCTL" break brk
[ "$(cat "$T/out")" = 0 ] || fail "break of a free lock printed $(cat "$T/out")"
run_rc 1 "$CONDCTL" --json break nothing-here
[ "$(cat "$T/out")" = '{"ended":0}' ] || fail "--json printed $(cat "$T/out")"

note "break --sem ends every session holding permits"
spawn s1 "$CONDCTL" sem pool -n 3 -- sh -c 'while :; do sleep 1; done'
spawn s2 "$CONDCTL" sem pool -n 3 -- sh -c 'while :; do sleep 1; done'
wait_until 20 sh -c '[ "$("$0" --json list | grep -o "\"owner\"" | wc -l)" -ge 2 ]' "$CONDCTL" ||
    fail "two permit holders did not show up: $(list_json)"
run_rc 0 "$CONDCTL" break --sem pool
[ "$(cat "$T/out")" = 2 ] || fail "break --sem printed $(cat "$T/out")"
expect_rc s1 3
expect_rc s2 3
run_rc 1 "$CONDCTL" break pool

note "kill-session: ends one session; unknown ids, bad ids"
spawn h "$CONDCTL" hold --until-signal ks
wait_until 20 test -s "$T/h.out" || fail "hold did not get ks"
sid=$(holder_session ks)
[ -n "$sid" ] || fail "no holder session for ks: $(list_json)"
run_rc 0 "$CONDCTL" kill-session "$sid"
expect_rc h 3
wait_until 20 sh -c '! "$0" locked ks >/dev/null' "$CONDCTL" || fail "ks still held"
grep -q "killed session $sid" "$T/condd.log" || fail "kill not logged"
run_rc 4 "$CONDCTL" kill-session "$sid"
grep -q "NOT_FOUND" "$T/err" || fail "unknown session: $(cat "$T/err")"
run_rc 2 "$CONDCTL" kill-session abc
run_rc 2 "$CONDCTL" kill-session 0
run_rc 2 "$CONDCTL" kill-session
grep -q 'kill-session: missing session ID' "$T/err" || fail "no reason: $(cat "$T/err")"
run_rc 2 "$CONDCTL" break
run_rc 2 "$CONDCTL" locked x --sem
kill_daemon

note "with an auth file: break needs admin on the name, kill-session admin on every name"
"$CONDD" --new-token >"$T/ops.tok"
"$CONDD" --new-token >"$T/team.tok"
"$CONDD" --new-token >"$T/user.tok"
{
    "$CONDD" --hash-token ops <"$T/ops.tok"
    "$CONDD" --hash-token team <"$T/team.tok"
    "$CONDD" --hash-token user <"$T/user.tok"
    echo "allow ops admin *"
    echo "allow team admin lock team/"
    echo "allow user use lock"
    echo "allow * read *"
} >"$T/auth"
start_daemon --log-level notice --auth-file "$T/auth" --auth-fail-delay 0
CONDD_TOKEN_FILE=$T/user.tok spawn u "$CONDCTL" lock team/x -- sh -c 'while :; do sleep 1; done'
wait_until 20 sh -c 'CONDD_TOKEN_FILE=$0 "$1" locked team/x >/dev/null' "$T/ops.tok" "$CONDCTL" ||
    fail "team/x not held"
run_rc 4 "$CONDCTL" --token-file "$T/user.tok" break team/x
grep -q "PERMISSION_DENIED.*no admin permission on lock 'team/x'" "$T/err" ||
    fail "user break: $(cat "$T/err")"
sid=$(CONDD_TOKEN_FILE=$T/ops.tok list_json | sed -n 's/.*{"name":"team\/x"[^}]*"session":\([0-9]*\).*/\1/p')
run_rc 4 "$CONDCTL" --token-file "$T/team.tok" kill-session "${sid:-1}"
grep -q "no admin permission on every" "$T/err" || fail "team kill: $(cat "$T/err")"
run_rc 0 "$CONDCTL" --token-file "$T/team.tok" break team/x
expect_rc u 3
grep -q "team (session [0-9]*) broke lock 'team/x'" "$T/condd.log" ||
    fail "the principal is not in the log: $(cat "$T/condd.log")"
kill_daemon
exit 0
