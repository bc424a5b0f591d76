#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Authentication and permissions end to end (condd --auth-file, condctl --token-file and
# CONDD_TOKEN_FILE): --new-token and --hash-token; a right, wrong and missing token (wrong and
# missing exit 3 with the reason, after --auth-fail-delay, and are logged without the token);
# read/use/admin on each kind of object (denied requests exit 4 with PERMISSION_DENIED and have
# no effect); List shows only readable names; the Unix socket's peer uid as a credential; a bad
# auth file refused at start with its line; SIGHUP reloading the rules for open sessions
# without taking away what they hold, and a bad file at reload keeping the old rules.
. "$(dirname "$0")/condctl-lib.sh"

note "--new-token makes distinct 256-bit tokens; --hash-token prints the auth file line"
"$CONDD" --new-token >"$T/alice.tok" || fail "--new-token failed"
"$CONDD" --new-token >"$T/bob.tok" || fail "--new-token failed"
grep -qx 'condd_[A-Za-z0-9_-]\{43\}' "$T/alice.tok" || fail "bad token: $(cat "$T/alice.tok")"
cmp -s "$T/alice.tok" "$T/bob.tok" && fail "two --new-token runs gave the same token"
"$CONDD" --hash-token alice <"$T/alice.tok" >"$T/alice.line" || fail "--hash-token failed"
grep -qx 'principal alice token b2:[0-9a-f]\{64\}' "$T/alice.line" ||
    fail "bad line: $(cat "$T/alice.line")"
grep -q "$(cat "$T/alice.tok")" "$T/alice.line" && fail "the line contains the token itself"
printf 'condd_0123456789abcdef\n' | "$CONDD" --hash-token v >"$T/v.line"
[ "$(cat "$T/v.line")" = \
  "principal v token b2:29287fff6710b4dd49724d4f2c22170d5bf770109fcc4ff476d5533c2a90a7a7" ] ||
    fail "the documented test vector changed: $(cat "$T/v.line")"
echo short | run_rc 2 "$CONDD" --hash-token alice
grep -q "at least 16" "$T/err" || fail "short token: $(cat "$T/err")"
echo "$(cat "$T/alice.tok")" | run_rc 2 "$CONDD" --hash-token 'a b'
grep -q "bad principal name" "$T/err" || fail "bad principal: $(cat "$T/err")"

"$CONDD" --hash-token bob <"$T/bob.tok" >"$T/bob.line"
printf 'short-one-but-16b' >"$T/carol.tok"
"$CONDD" --hash-token carol <"$T/carol.tok" >"$T/carol.line"
write_rules() {
    {
        cat "$T/alice.line" "$T/bob.line" "$T/carol.line"
        echo "principal root uid $(id -u)"
        echo "allow alice use lock jobs/"
        echo "allow alice use cond jobs/"
        echo "allow alice read * \"\""
        echo "allow bob use sem pool."
        echo "allow bob use event ev."
        echo "allow bob use barrier bar."
        echo "allow bob read lock jobs/"
        echo "allow root admin *"
        echo "$1"
    } >"$T/auth"
}
write_rules "# carol has no rules"

note "a bad auth file stops condd at start with its line"
printf 'principal x uid 1\nallow y read *\n' >"$T/bad-auth"
run_rc 2 "$CONDD" --listen 127.0.0.1:0 --auth-file "$T/bad-auth"
grep -q "bad-auth:2: no principal 'y'" "$T/err" || fail "bad file: $(cat "$T/err")"
run_rc 2 "$CONDD" --listen 127.0.0.1:0 --auth-file "$T/missing-auth"
grep -q "missing-auth: No such file or directory" "$T/err" || fail "missing: $(cat "$T/err")"

chmod 755 "$T"
start_daemon --auth-file "$T/auth" --auth-fail-delay 0 --unix "$T/sock"
A="--token-file $T/alice.tok"

note "no token, a wrong token, an unreadable token file"
run_rc 3 "$CONDCTL" ping
grep -q "no credential was given" "$T/err" || fail "no token: $(cat "$T/err")"
# The library's "authentication failed (...)" and the server's "authentication failed: why"
# make one message: the reason once, and no "is condd running?" (it is, and it said no).
[ "$(grep -o "authentication failed" "$T/err" | wc -l)" = 1 ] ||
    fail "'authentication failed' not exactly once: $(cat "$T/err")"
grep -q "is condd running" "$T/err" && fail "a 'running?' hint for a refusal: $(cat "$T/err")"
"$CONDD" --new-token >"$T/wrong.tok"
run_rc 3 "$CONDCTL" --token-file "$T/wrong.tok" ping
grep -q "the token matches no principal" "$T/err" || fail "wrong token: $(cat "$T/err")"
[ "$(grep -o "authentication failed" "$T/err" | wc -l)" = 1 ] ||
    fail "'authentication failed' not exactly once: $(cat "$T/err")"
run_rc 2 "$CONDCTL" --token-file "$T/nonexistent" ping
grep -q "cannot read the token file" "$T/err" || fail "missing file: $(cat "$T/err")"
: >"$T/empty.tok"
run_rc 2 "$CONDCTL" --token-file "$T/empty.tok" ping
grep -q "has no token" "$T/err" || fail "empty file: $(cat "$T/err")"
grep -q "the token matches no principal" "$T/condd.log" || fail "failure not logged"
grep -q "$(cat "$T/wrong.tok")" "$T/condd.log" && fail "the wrong token was logged"

note "the right token, by option and by CONDD_TOKEN_FILE"
run_rc 0 "$CONDCTL" $A ping
CONDD_TOKEN_FILE=$T/bob.tok run_rc 0 "$CONDCTL" ping

note "use on a lock prefix; read elsewhere; PERMISSION_DENIED exits 4 with no effect"
run_rc 0 "$CONDCTL" $A lock jobs/1 -- true
run_rc 4 "$CONDCTL" $A lock other -- true
grep -q "PERMISSION_DENIED.*principal 'alice' has no use permission on lock 'other'" "$T/err" ||
    fail "denied lock: $(cat "$T/err")"
run_rc 1 "$CONDCTL" $A locked other
run_rc 4 "$CONDCTL" $A event set ev.1
run_rc 1 "$CONDCTL" $A event is-set ev.1
run_rc 4 "$CONDCTL" $A sem pool.a -n 2 -- true
run_rc 4 "$CONDCTL" $A barrier bar.x --abort -p 2
run_rc 0 "$CONDCTL" $A barrier bar.x --state

note "bob: semaphores, events and barriers under his prefixes; read on jobs/ only"
export CONDD_TOKEN_FILE="$T/bob.tok"
run_rc 0 "$CONDCTL" sem pool.a -n 2 -- true
run_rc 4 "$CONDCTL" sem other -n 2 -- true
run_rc 0 "$CONDCTL" event set ev.1
run_rc 0 "$CONDCTL" event is-set ev.1
run_rc 4 "$CONDCTL" event is-set other
run_rc 0 "$CONDCTL" barrier bar.y --abort -p 2
run_rc 1 "$CONDCTL" locked jobs/1
run_rc 4 "$CONDCTL" locked other
grep -q "no read permission on lock 'other'" "$T/err" || fail "read denied: $(cat "$T/err")"
run_rc 4 "$CONDCTL" lock jobs/1 -- true
run_rc 0 "$CONDCTL" stats

note "carol has no rules: stats is denied, list shows nothing"
export CONDD_TOKEN_FILE="$T/carol.tok"
run_rc 4 "$CONDCTL" stats
grep -q "may read nothing" "$T/err" || fail "stats: $(cat "$T/err")"
run_rc 0 "$CONDCTL" --json list
grep -q '"name"' "$T/out" && fail "carol sees names: $(cat "$T/out")"
unset CONDD_TOKEN_FILE

note "list shows only readable names"
run_rc 0 "$CONDCTL" --token-file "$T/bob.tok" --json list
grep -q '"ev.1"' "$T/out" || fail "bob does not see his event: $(cat "$T/out")"
grep -q '"bar.y"' "$T/out" || fail "bob does not see his barrier: $(cat "$T/out")"
run_rc 0 "$CONDCTL" $A --json list
grep -q '"ev.1"' "$T/out" || fail "alice (read *) does not see ev.1: $(cat "$T/out")"

note "the Unix socket: the peer's uid is the credential; an unmapped uid is anonymous"
run_rc 0 "$CONDCTL" -s "unix:$T/sock" lock anything -- true
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    run_rc 3 setpriv --reuid=65534 --regid=65534 --clear-groups "$CONDCTL" -s "unix:$T/sock" ping
    grep -q "no credential was given" "$T/err" || fail "uid 65534: $(cat "$T/err")"
    grep -q "uid 65534" "$T/condd.log" || fail "the uid is not in the log"
else
    note "(not root: the unmapped-uid case needs setpriv as root)"
fi

note "SIGHUP: new rules apply to an open session at its next request; it keeps what it holds"
mkfifo "$T/hold.in"
SPAWN_IN="$T/hold.in" spawn holder "$CONDCTL" $A hold jobs/held
exec 7>"$T/hold.in"
wait_until 20 test -s "$T/holder.out" || fail "holder did not get jobs/held"
write_rules "# alice lost use on jobs/"
sed -i '/allow alice use lock jobs\//d' "$T/auth"
kill -HUP "$DAEMON_PID"
wait_until 20 sh -c '! "$0" $1 lock jobs/2 -- true 2>/dev/null' "$CONDCTL" "$A" ||
    fail "the reload did not take away alice's use on jobs/"
run_rc 4 "$CONDCTL" $A lock jobs/2 -- true
run_rc 0 "$CONDCTL" $A locked jobs/held
running holder || fail "the holder ended at the reload"
exec 7>&-
expect_rc holder 0
run_rc 1 "$CONDCTL" $A locked jobs/held

note "a bad auth file at reload keeps the rules in effect"
echo "allow nobody read *" >>"$T/auth"
kill -HUP "$DAEMON_PID"
wait_until 20 grep -q "reload failed: .*auth:.*no principal 'nobody'" "$T/condd.log" ||
    fail "the bad reload was not logged: $(cat "$T/condd.log")"
run_rc 0 "$CONDCTL" $A ping
run_rc 4 "$CONDCTL" $A lock jobs/2 -- true
kill_daemon

note "--auth-fail-delay holds a refusal back at least that long"
write_rules ""
start_daemon --auth-file "$T/auth" --auth-fail-delay 0.5
t0=$(date +%s%N)
run_rc 3 "$CONDCTL" --token-file "$T/wrong.tok" ping
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -ge 500 ] || fail "refused after $(((t1 - t0) / 1000000)) ms"
kill_daemon

note "a non-loopback listener is warned about (bound in a private network namespace only)"
# ns_log NAME [condd options...]: runs condd in a new network namespace (so 0.0.0.0 reaches
# nothing) until its port file appears, stops it, and leaves its log in $T/NAME.log.
ns_log() {
    _n=$1
    shift
    rm -f "$T/$_n.port"
    unshare -n "$CONDD" --port-file "$T/$_n.port" --log-level notice "$@" 2>"$T/$_n.log" &
    _p=$!
    KILL_PIDS="$KILL_PIDS $_p"
    wait_until 20 test -s "$T/$_n.port" || fail "condd in a namespace did not start: $(cat "$T/$_n.log")"
    kill -TERM "$_p"
    wait "$_p"
}
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
    ns_log open --listen 0.0.0.0:0
    grep -q "listening on 0.0.0.0:0 with neither TLS nor authentication" "$T/open.log" ||
        fail "no warning for an open listener: $(cat "$T/open.log")"
    ns_log authed --listen 0.0.0.0:0 --auth-file "$T/auth"
    grep -q "warning" "$T/authed.log" && fail "warned with an auth file: $(cat "$T/authed.log")"
    grep -q "listening on 0.0.0.0:0 without TLS" "$T/authed.log" ||
        fail "no notice for plaintext with authentication: $(cat "$T/authed.log")"
    ns_log local --listen 127.0.0.1:0
    grep -q "listening on" "$T/local.log" && fail "loopback was warned about: $(cat "$T/local.log")"
else
    note "(needs root and unshare -n: not checked here)"
fi
exit 0
