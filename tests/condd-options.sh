#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condd checks every value it can check without side effects before it opens anything: an
# unknown unix-group, a listen, listen-tls or metrics host that does not resolve, a Unix socket
# or port file that cannot be created (no such directory, not a directory, not writable, a
# directory in its place, a file that is not a socket, a path too long), two listeners on one
# fixed port: each exits 2 with one line naming the option (and "try 'condd --help'"), or the
# config file's line, and leaves no port file and no socket file behind. What can only fail
# when done (a port in use) exits 1, and SIGUSR2 is refused when the successor would fail.
. "$(dirname "$0")/condctl-lib.sh"

# bad_start WHY [condd options...]: condd with a TCP listener, a Unix socket and a port file
# beside the options given must exit 2 having opened nothing; $T/err holds what it said.
bad_start() {
    _why=$1
    shift
    rm -f "$T/port" "$T/sock"
    run_rc 2 "$CONDD" --listen 127.0.0.1:0 --unix "$T/sock" --port-file "$T/port" "$@"
    [ ! -e "$T/port" ] || fail "$_why: the port file was written"
    [ ! -e "$T/sock" ] && [ ! -L "$T/sock" ] || fail "$_why: the Unix socket was created"
}

# said_option OPTION REASON: condd's stderr is exactly "condd: --OPTION: REASON" and the
# pointer to --help.
said_option() {
    printf "condd: --%s: %s\ntry 'condd --help'\n" "$1" "$2" >"$T/want"
    cmp -s "$T/want" "$T/err" || fail "expected: $(cat "$T/want")
got: $(cat "$T/err")"
}

note "an unknown unix-group: exit 2 before any listener"
bad_start unix-group --unix-group condd-no-such-group
said_option unix-group "no group 'condd-no-such-group'"

note "a metrics, listen or listen-tls host that does not resolve: exit 2"
bad_start metrics --metrics nosuch.invalid:0
grep -q "^condd: --metrics: cannot resolve 'nosuch.invalid' in 'nosuch.invalid:0': " "$T/err" ||
    fail "metrics: $(cat "$T/err")"
[ "$(wc -l <"$T/err")" -eq 2 ] && [ "$(tail -n 1 "$T/err")" = "try 'condd --help'" ] ||
    fail "metrics: not one line and the --help pointer: $(cat "$T/err")"
rm -f "$T/port"
run_rc 2 "$CONDD" --listen 127.0.0.1:0 --listen nosuch.invalid:0 --port-file "$T/port"
grep -q "^condd: --listen: cannot resolve 'nosuch.invalid' in 'nosuch.invalid:0': " "$T/err" ||
    fail "listen: $(cat "$T/err")"
[ ! -e "$T/port" ] || fail "listen: the port file was written"
bad_start listen-tls --listen-tls nosuch.invalid:0
grep -q "^condd: --listen-tls: cannot resolve 'nosuch.invalid'" "$T/err" ||
    fail "listen-tls: $(cat "$T/err")"

note "two listeners on the same host and fixed port: exit 2 (nothing is bound)"
bad_start metrics --listen 127.0.0.1:1 --metrics 127.0.0.1:1
said_option metrics "'127.0.0.1:1' is also a listen address; each listener needs its own port"
bad_start listen --listen 127.0.0.1:1 --listen 127.0.0.1:1
said_option listen "'127.0.0.1:1' is also a listen address; each listener needs its own port"

note "a port file that cannot be created: exit 2 before any listener"
: >"$T/afile"
mkdir "$T/adir"
bad_start port-file --port-file "$T/nodir/port"
said_option port-file "cannot create '$T/nodir/port' in $T/nodir: No such file or directory"
bad_start port-file --port-file "$T/afile/port"
said_option port-file "cannot create '$T/afile/port' in $T/afile: Not a directory"
bad_start port-file --port-file "$T/adir"
said_option port-file "'$T/adir' is a directory"
bad_start tls-port-file --tls-port-file "$T/nodir/tlsport"
said_option tls-port-file "cannot create '$T/nodir/tlsport' in $T/nodir: No such file or directory"

note "a Unix socket that cannot be created: exit 2 before any listener"
rm -f "$T/port"
run_rc 2 "$CONDD" --listen 127.0.0.1:0 --port-file "$T/port" --unix "$T/nodir/sock"
said_option unix "cannot create '$T/nodir/sock' in $T/nodir: No such file or directory"
[ ! -e "$T/port" ] || fail "unix: the port file was written"
run_rc 2 "$CONDD" --listen 127.0.0.1:0 --port-file "$T/port" --unix "$T/afile"
said_option unix "'$T/afile' exists and is not a socket; not replacing it"
[ -f "$T/afile" ] || fail "unix: the file in the way was replaced"
long=$T/$(printf '%0120d' 0)
run_rc 2 "$CONDD" --listen 127.0.0.1:0 --port-file "$T/port" --unix "$long"
grep -q "^condd: --unix: '$long' is longer than 107 bytes" "$T/err" || fail "long: $(cat "$T/err")"
[ ! -e "$T/port" ] || fail "unix: the port file was written"

note "a directory condd may not write to: exit 2 (checked as an unprivileged user)"
mkdir "$T/ro"
chmod 0555 "$T/ro"
if [ "$(id -u)" = 0 ]; then
    # root may write anywhere: run condd as nobody, who may reach $T but not write in $T/ro.
    chmod 0755 "$T"
    as_user="setpriv --reuid=65534 --regid=65534 --clear-groups"
    $as_user "$CONDD" --version >/dev/null 2>&1 ||
        fail "cannot run condd as nobody (setpriv, or a build tree nobody may read)"
else
    as_user=
fi
run_rc 2 $as_user "$CONDD" --listen 127.0.0.1:0 --port-file "$T/ro/port"
said_option port-file "cannot create '$T/ro/port' in $T/ro: Permission denied"

note "the config file's bad value names its line, without the --help pointer"
printf 'log-level = info\nunix = %s\nunix-group = condd-no-such-group\n' "$T/sock" >"$T/conf"
rm -f "$T/port"
run_rc 2 "$CONDD" --config "$T/conf" --listen 127.0.0.1:0 --port-file "$T/port"
printf "condd: %s:3: unix-group: no group 'condd-no-such-group'\n" "$T/conf" >"$T/want"
cmp -s "$T/want" "$T/err" || fail "config file: $(cat "$T/err")"
[ ! -e "$T/port" ] && [ ! -e "$T/sock" ] || fail "config file: something was created"
printf 'port-file = %s/nodir/port\n' "$T" >"$T/conf"
run_rc 2 "$CONDD" --config "$T/conf" --listen 127.0.0.1:0
printf "condd: %s:1: port-file: cannot create '%s/nodir/port' in %s/nodir: %s\n" "$T/conf" "$T" \
    "$T" "No such file or directory" >"$T/want"
cmp -s "$T/want" "$T/err" || fail "config file: $(cat "$T/err")"
# Of a list of several values the file's line is not known: the file and the key.
printf 'listen = 127.0.0.1:0\nlisten = nosuch.invalid:0\n' >"$T/conf"
run_rc 2 "$CONDD" --config "$T/conf"
grep -q "^condd: $T/conf: listen: cannot resolve 'nosuch.invalid' in 'nosuch.invalid:0': " \
    "$T/err" || fail "config file, listen: $(cat "$T/err")"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "config file, listen: more than one line: $(cat "$T/err")"

note "a group by name or number that exists, a port file in a writable directory: starts"
printf 'unix-mode = 0660\n' >"$T/live.conf"
start_daemon --config "$T/live.conf" --unix "$T/sock" --unix-group "$(id -g)" \
    --metrics 127.0.0.1:0
[ -S "$T/sock" ] || fail "no Unix socket"
run_rc 0 "$CONDCTL" -s "unix:$T/sock" ping

note "SIGUSR2 when the successor would fail these checks: refused, still serving"
printf 'tls-port-file = %s/nodir/tlsport\n' "$T" >"$T/live.conf"
kill -USR2 "$DAEMON_PID"
wait_until 20 grep -q "restart refused: the new process could not start: $T/live.conf:1: \
tls-port-file: cannot create '$T/nodir/tlsport' in $T/nodir: No such file or directory; still \
serving here" "$T/condd.log" || fail "no refusal logged"
run_rc 0 "$CONDCTL" -s "unix:$T/sock" ping
kill -0 "$DAEMON_PID" || fail "condd ended"

note "metrics on the default listener's port, no listen given: exit 2 (nothing is bound)"
rm -f "$T/port"
run_rc 2 "$CONDD" --metrics 127.0.0.1:7380 --port-file "$T/port"
said_option metrics "'127.0.0.1:7380' is also a listen address; each listener needs its own port"
[ ! -e "$T/port" ] || fail "metrics on 7380: the port file was written"

note "socket-activated: listen, unix and unix-group are ignored at start and in a live restart"
# systemd's part played by a small program: a listening socket as descriptor 3, LISTEN_FDS and
# LISTEN_PID set for condd, which it becomes by exec (same pid). The configuration names a
# group that does not exist, which activation ignores: the start and every live restart (whose
# successor finds LISTEN_FDS gone) must serve on with the state, not exit on that setting.
printf 'unix = %s/asock\nunix-group = condd-no-such-group\n' "$T" >"$T/act.conf"
rm -f "$T/aport"
/usr/bin/env python3 -c '
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)  # dup2 onto itself (fileno 3) keeps it close-on-exec
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % s.getsockname()[1])
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execv(sys.argv[2], sys.argv[2:])
' "$T/aport" "$CONDD" --config "$T/act.conf" --log-level notice 2>"$T/act.log" &
APID=$!
KILL_PIDS="$KILL_PIDS $APID"
wait_until 20 grep -q '^[0-9][0-9]*$' "$T/aport" 2>/dev/null || fail "no activation port"
ASERVER=127.0.0.1:$(cat "$T/aport")
wait_until 20 "$CONDCTL" -s "$ASERVER" ping >/dev/null 2>&1 ||
    fail "the socket-activated condd does not serve: $(tail -n 5 "$T/act.log")"
[ ! -e "$T/asock" ] || fail "socket-activated: the unix setting was not ignored"
run_rc 0 "$CONDCTL" -s "$ASERVER" event set act-kept
arestarts() {
    "$CONDCTL" -s "$ASERVER" stats 2>/dev/null | awk '$1 == "restarts" { print $2 }'
}
for n in 1 2; do
    kill -USR2 "$APID"
    wait_until 20 test "$(arestarts)" = "$n" ||
        fail "live restart $n of the socket-activated condd: $(tail -n 5 "$T/act.log")"
    kill -0 "$APID" || fail "the socket-activated condd ended at restart $n"
    run_rc 0 "$CONDCTL" -s "$ASERVER" event is-set act-kept
done
! grep -q "restart refused" "$T/act.log" || fail "a restart was refused: $(cat "$T/act.log")"

note "a port in use can only fail when bound: exit 1"
rm -f "$T/port2"
run_rc 1 "$CONDD" --listen "127.0.0.1:$PORT" --port-file "$T/port2"
grep -q "cannot listen on 127.0.0.1:$PORT: Address already in use" "$T/err" ||
    fail "port in use: $(cat "$T/err")"
[ ! -e "$T/port2" ] || fail "port in use: the port file was written"

note "ok"
