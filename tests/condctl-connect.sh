#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Connecting: -T bounds connecting and the Hello handshake too (exit 124, or -E's value, after
# about the -T time against a server that accepts but never answers), --connect-timeout and
# $CONDD_CONNECT_TIMEOUT bound it on their own (exit 3; the option wins over the environment;
# the earlier of -T and the connect timeout ends it), connection errors name the OS reason, the
# address and a hint, and `-s /path` is a Unix socket.
. "$(dirname "$0")/condctl-lib.sh"

# A server that accepts and never answers: a condd stopped with SIGSTOP (the kernel still
# completes TCP handshakes into its listen backlog, so condctl hangs in Hello, not connect()).
start_daemon
HUNG=127.0.0.1:$PORT
kill -STOP "$DAEMON_PID"
unset CONDD_SERVER

# now_ms: monotonic enough wall-clock milliseconds.
now_ms() {
    date +%s%3N
}

# timed WANT_RC MIN_MS MAX_MS CMD [ARG...]: CMD exits WANT_RC after MIN_MS..MAX_MS.
timed() {
    _want=$1
    _min=$2
    _max=$3
    shift 3
    _t0=$(now_ms)
    "$@" >"$T/out" 2>"$T/err" </dev/null
    _rc=$?
    _ms=$(($(now_ms) - _t0))
    [ "$_rc" = "$_want" ] || fail "'$*' exited $_rc, expected $_want (stderr: $(cat "$T/err"))"
    [ "$_ms" -ge "$_min" ] && [ "$_ms" -le "$_max" ] ||
        fail "'$*' took $_ms ms, expected $_min..$_max ms"
}

note "-T covers connecting and Hello: 124 after about 1 s (not the 10 s connect timeout)"
timed 124 900 4000 "$CONDCTL" -s "$HUNG" -T 1 lock x -- touch "$T/ran"
[ ! -e "$T/ran" ] || fail "CMD ran without the lock"
grep -q "deadline passed while connecting to $HUNG" "$T/err" || fail "message: $(cat "$T/err")"
timed 124 900 4000 "$CONDCTL" -s "$HUNG" -T 1 ping
timed 124 400 4000 "$CONDCTL" -s "$HUNG" hold x -T 0.5

note "-E applies to a deadline that passed while connecting too"
timed 42 900 4000 "$CONDCTL" -s "$HUNG" -T 1 -E 42 lock x -- true

note "--connect-timeout alone: exit 3 with the reason and a hint"
timed 3 400 4000 "$CONDCTL" -s "$HUNG" --connect-timeout 0.5 ping
grep -q "^condctl: cannot connect to $HUNG: timed out .*Hello.*--connect-timeout" "$T/err" ||
    fail "message: $(cat "$T/err")"

note "CONDD_CONNECT_TIMEOUT sets it; the option wins over it"
CONDD_CONNECT_TIMEOUT=0.5 timed 3 400 4000 "$CONDCTL" -s "$HUNG" ping
CONDD_CONNECT_TIMEOUT=30 timed 3 400 4000 "$CONDCTL" -s "$HUNG" --connect-timeout 0.5 ping
CONDD_CONNECT_TIMEOUT=0.5 timed 3 400 4000 "$CONDCTL" -s "$HUNG" --connect-timeout=0.5 ping

note "both given: the earlier one ends connecting (and decides the exit status)"
timed 3 400 4000 "$CONDCTL" -s "$HUNG" --connect-timeout 0.5 -T 30 lock x -- true
timed 124 400 4000 "$CONDCTL" -s "$HUNG" --connect-timeout 30 -T 0.5 lock x -- true
CONDD_CONNECT_TIMEOUT=30 timed 124 400 4000 "$CONDCTL" -s "$HUNG" -T 0.5 lock x -- true

note "-T 0 (try the lock once) still connects, within the connect timeout"
timed 3 400 4000 "$CONDCTL" -s "$HUNG" --connect-timeout 0.5 -T 0 lock x -- true

kill -CONT "$DAEMON_PID"
kill_daemon

note "connection refused: the OS reason, the address, a hint; exit 3"
start_daemon --unix "$T/condd.sock"
run_rc 0 "$CONDCTL" -s "unix:$T/condd.sock" ping
kill_daemon
dead=$PORT
unset CONDD_SERVER
run_rc 3 "$CONDCTL" -s "127.0.0.1:$dead" ping
[ "$(cat "$T/err")" = "condctl: cannot connect to 127.0.0.1:$dead: Connection refused (is condd running? see CONDD_SERVER or -s)" ] ||
    fail "refused: $(cat "$T/err")"
CONDD_SERVER=127.0.0.1:$dead run_rc 3 "$CONDCTL" lock x -- true
grep -q "^condctl: cannot connect to 127.0.0.1:$dead: Connection refused (" "$T/err" ||
    fail "refused via CONDD_SERVER: $(cat "$T/err")"

note "no such socket: No such file or directory"
run_rc 3 "$CONDCTL" -s "unix:$T/no-such.sock" ping
[ "$(cat "$T/err")" = "condctl: cannot connect to unix:$T/no-such.sock: No such file or directory (is condd running? see CONDD_SERVER or -s)" ] ||
    fail "missing socket: $(cat "$T/err")"

note "-s /path is a Unix socket (also in CONDD_SERVER)"
run_rc 3 "$CONDCTL" -s "$T/no-such.sock" ping
grep -q "^condctl: cannot connect to unix:$T/no-such.sock: No such file or directory" "$T/err" ||
    fail "-s /path: $(cat "$T/err")"
start_daemon --unix "$T/live.sock"
run_rc 0 "$CONDCTL" -s "$T/live.sock" ping
CONDD_SERVER=$T/live.sock run_rc 0 "$CONDCTL" ping
run_rc 0 "$CONDCTL" -s "$T/live.sock" lock viapath -- true

note "ok"
