#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condctl's command line: bad arguments exit 2 with one line on stderr that names the problem
# and points to --help (before any connection is tried), options that do not apply to the
# command are refused, --help and --version exit 0, and an unreachable server exits 3 with the
# OS reason, the address and a hint.
. "$(dirname "$0")/condctl-lib.sh"

# usage_error ARG...: condctl ARG... exits 2 and prints exactly one line on stderr, starting
# "condctl: " and ending with the pointer to --help (not the whole help); nothing on stdout.
usage_error() {
    run_rc 2 "$CONDCTL" "$@"
    [ "$(wc -l <"$T/err")" -eq 1 ] || fail "'$*': not one line on stderr: $(cat "$T/err")"
    grep -q "^condctl: .* (try 'condctl --help')\$" "$T/err" ||
        fail "'$*': usage error line: $(cat "$T/err")"
    [ ! -s "$T/out" ] || fail "'$*': printed on stdout: $(cat "$T/out")"
}

note "bad arguments give 2"
# The default server is not running during these: 2 proves the check comes before connecting.
CONDD_SERVER=127.0.0.1:1
export CONDD_SERVER
usage_error
usage_error frobnicate
usage_error --frobnicate ping
usage_error -x ping
usage_error ping extra
usage_error stats extra
usage_error list a b
usage_error locked
usage_error locked a b
usage_error locked ""
usage_error hold
usage_error wait
usage_error notify
usage_error notify-all
usage_error lock
usage_error lock name
usage_error lock name --
usage_error lock name cmd
usage_error lock -- cmd
usage_error wait-for cond
usage_error wait-for cond --
usage_error -T abc ping
usage_error -T -1 ping
usage_error -T '' ping
usage_error -T nan lock x -- true
usage_error -T inf lock x -- true
usage_error -T 1x lock x -- true
usage_error ping -T
usage_error -s
usage_error notify c -n 0
usage_error notify c -n -3
usage_error notify c -n x
usage_error notify c --count=1.5
usage_error notify-all c -n 2
usage_error wait c -n 2
usage_error ping --lock L
usage_error locked x --lock L
usage_error lock x --lock L -- true
usage_error hold x --kill-after 1
usage_error lock x --kill-after -1 -- true
usage_error ping --json=yes
usage_error -s 'a:b:c' ping
usage_error -s '127.0.0.1:99999' ping
usage_error -s '127.0.0.1:' ping
usage_error -s ':7380' ping
usage_error -s '[::1' ping
usage_error -s 'unix:' ping
# Malformed however the library would read it: TLS is over TCP only, and a host has no '/'.
usage_error -s 'tls:/tmp/x' ping
grep -q "TLS is over TCP only" "$T/err" || fail "tls:/path: $(cat "$T/err")"
usage_error -s 'tls:unix:/tmp/x' ping
grep -q "TLS is over TCP only" "$T/err" || fail "tls:unix:/path: $(cat "$T/err")"
usage_error -s 'tls:' ping
usage_error -s 'tls:tls:127.0.0.1:7381' ping
usage_error -s 'host/x:7380' ping
usage_error -s '127.0.0.1:7380,tls:/tmp/x' ping
CONDD_SERVER='bad:port:x' usage_error ping
# An empty -s (-s "$VAR" with VAR unset) is not a fall-back to $CONDD_SERVER (a dead port here,
# which would give 3) or the default.
usage_error -s '' ping
grep -q 'empty server address' "$T/err" || fail "not named: $(cat "$T/err")"
usage_error --server= ping
grep -q 'empty server address' "$T/err" || fail "not named: $(cat "$T/err")"
usage_error ping --connect-timeout 0
usage_error ping --connect-timeout -1
usage_error ping --connect-timeout x
CONDD_CONNECT_TIMEOUT=abc usage_error ping
CONDD_CONNECT_TIMEOUT=0 usage_error ping
usage_error ping --session-timeout -2
usage_error ping --session-timeout 1e3
usage_error ping --name ''
usage_error lock x -E 256 -- true
usage_error lock x -E -1 -- true
usage_error lock x --conflict-exit-code=abc -- true
usage_error lock x -E -- true
usage_error hold x -E 3
usage_error wait-for c -E 3 -- true
usage_error notify c --conflict-exit-code 3
usage_error lock x --until-signal -- true
usage_error ping --until-signal
usage_error frobnicate
grep -q "unknown command 'frobnicate'" "$T/err" || fail "the problem is not named: $(cat "$T/err")"
usage_error hold x --kill-after 1
grep -q -- "--kill-after does not apply to hold" "$T/err" || fail "not named: $(cat "$T/err")"

note "an option's value wins over the environment, which is then not even read"
CONDD_CONNECT_TIMEOUT=abc run_rc 3 "$CONDCTL" --connect-timeout 1 ping

note "--help and --version exit 0"
run_rc 0 "$CONDCTL" --help
grep -q '^Usage: condctl' "$T/out" || fail "--help prints no usage on stdout"
for o in --connect-timeout --name --session-timeout --conflict-exit-code --until-signal \
    CONDD_CONNECT_TIMEOUT unix:/path; do
    grep -q -- "$o" "$T/out" || fail "--help does not document $o"
done
for c in ping lock hold locked wait wait-for notify notify-all list stats; do
    grep -q "^  $c" "$T/out" || fail "--help does not document $c"
done
run_rc 0 "$CONDCTL" -h
run_rc 0 "$CONDCTL" ping --help
run_rc 0 "$CONDCTL" --version
grep -q 'condctl' "$T/out" || fail "--version prints no name"
run_rc 0 "$CONDCTL" -V

note "unreachable server gives 3"
# A port that was just listening and is closed now: connection refused.
start_daemon
dead=$PORT
kill_daemon
for cmd in "ping" "stats" "list" "locked x" "hold x" "wait c" "notify c" "notify-all c"; do
    # shellcheck disable=SC2086
    run_rc 3 "$CONDCTL" -s "127.0.0.1:$dead" $cmd
    grep -q . "$T/err" || fail "'$cmd' against a dead server says nothing on stderr"
done
run_rc 3 "$CONDCTL" -s "127.0.0.1:$dead" lock x -- true
run_rc 3 "$CONDCTL" -s "127.0.0.1:$dead" wait-for c -- true
CONDD_SERVER=127.0.0.1:$dead run_rc 3 "$CONDCTL" ping
grep -q "Connection refused (is condd running? see CONDD_SERVER or -s)\$" "$T/err" ||
    fail "refused, no hint: $(cat "$T/err")"
run_rc 3 "$CONDCTL" -s "unix:$T/no-such-socket" ping
grep -q "No such file or directory (is condd running? see CONDD_SERVER or -s)\$" "$T/err" ||
    fail "no socket, no hint: $(cat "$T/err")"
run_rc 3 "$CONDCTL" -s "[::1]:$dead" ping
# An empty $CONDD_SERVER is unset: the default address, not a usage error.
CONDD_SERVER= "$CONDCTL" --connect-timeout 2 ping >"$T/out" 2>"$T/err" </dev/null
case $? in
0) ;;
3) grep -q "127\.0\.0\.1:7380" "$T/err" || fail "empty CONDD_SERVER: $(cat "$T/err")" ;;
*) fail "empty CONDD_SERVER is not the default: $(cat "$T/err")" ;;
esac
# CMD must not run when the lock could not be had.
run_rc 3 "$CONDCTL" -s "127.0.0.1:$dead" lock x -- touch "$T/ran"
[ ! -e "$T/ran" ] || fail "lock ran CMD without the lock"

note "ok"
