#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condctl's one-shot commands and their output formats: ping, locked (0 locked / 1 unlocked),
# list (table, --json shape, prefix filter, JSON escaping of names with quotes, backslashes and
# UTF-8), stats (text and --json keys), notify / notify-all with nobody waiting, the ways to
# name the server (-s, $CONDD_SERVER, unix:, options after the command), and names the server
# would refuse caught as usage errors (exit 2).
. "$(dirname "$0")/condctl-lib.sh"

start_daemon --unix "$T/condd.sock"

note "ping prints the round trip"
run_rc 0 "$CONDCTL" ping
grep -q '^rtt [0-9][0-9.]* ms' "$T/out" || fail "ping output: $(cat "$T/out")"
run_rc 0 "$CONDCTL" --json ping
grep -q '^{"rtt_ms":[0-9][0-9.]*,"server_version":"condd [^"]*","session":[0-9]*}$' "$T/out" ||
    fail "ping --json output: $(cat "$T/out")"

note "the server can be named by -s, \$CONDD_SERVER, unix:, before or after the command"
run_rc 0 env -u CONDD_SERVER "$CONDCTL" -s "127.0.0.1:$PORT" ping
run_rc 0 env -u CONDD_SERVER "$CONDCTL" ping -s "127.0.0.1:$PORT"
run_rc 0 env -u CONDD_SERVER "$CONDCTL" ping --server="127.0.0.1:$PORT"
run_rc 0 env -u CONDD_SERVER "$CONDCTL" --server "unix:$T/condd.sock" ping
run_rc 0 env -u CONDD_SERVER "$CONDCTL" -s"127.0.0.1:$PORT" ping
run_rc 3 "$CONDCTL" ping -s "unix:$T/nothing-here"

note "locked: 1 and unlocked when free"
run_rc 1 "$CONDCTL" locked alpha
[ "$(cat "$T/out")" = unlocked ] || fail "locked on a free lock printed $(cat "$T/out")"
run_rc 1 "$CONDCTL" locked alpha --json
[ "$(cat "$T/out")" = '{"locked":false}' ] || fail "locked --json: $(cat "$T/out")"

note "hold + locked: 0 and locked"
mkfifo "$T/hold.in"
SPAWN_IN="$T/hold.in" spawn holder "$CONDCTL" hold alpha
exec 7>"$T/hold.in"
wait_until 10 test -s "$T/holder.out" || fail "hold printed no token"
token=$(cat "$T/holder.out")
case $token in
'' | *[!0-9]*) fail "hold printed '$token', not a token" ;;
esac
run_rc 0 "$CONDCTL" locked alpha
[ "$(cat "$T/out")" = locked ] || fail "locked on a held lock printed $(cat "$T/out")"
run_rc 0 "$CONDCTL" --json locked alpha
[ "$(cat "$T/out")" = '{"locked":true}' ] || fail "locked --json: $(cat "$T/out")"

note "list: table and JSON"
run_rc 0 "$CONDCTL" list
head -n 1 "$T/out" | grep -q '^LOCK  *HOLDER  *SESSION  *TOKEN  *WAITERS  *MODE  *HOLDERS$' ||
    fail "list table header: $(head -n 1 "$T/out")"
grep -q "^alpha  *condctl/$(pid_of holder)@[^ ]*  *[0-9][0-9]*  *$token  *0  *exclusive  *1\$" "$T/out" ||
    fail "list table has no row for alpha held by the holder: $(cat "$T/out")"
# No condition has waiters: no empty CONDITION section (tests/condctl-list.sh has the rest).
! grep -q '^CONDITION' "$T/out" || fail "list printed an empty condition section: $(cat "$T/out")"
run_rc 0 "$CONDCTL" list --json
want="{\"locks\":\\[{\"name\":\"alpha\",\"holder\":\"condctl/$(pid_of holder)@"
grep -q "^${want}[^\"]*\",\"token\":$token,\"waiters\":0," "$T/out" ||
    fail "list --json: $(cat "$T/out")"
grep -q '"conditions":\[\],"semaphores":\[\],"events":\[\],"barriers":\[\],"truncated":false}$' "$T/out" || fail "list --json tail: $(cat "$T/out")"
[ "$(lock_token alpha)" = "$token" ] || fail "list token differs from hold's"

note "list PREFIX filters"
run_rc 0 "$CONDCTL" list --json alp
grep -q '"name":"alpha"' "$T/out" || fail "list alp misses alpha"
run_rc 0 "$CONDCTL" list --json beta
[ "$(cat "$T/out")" = '{"locks":[],"conditions":[],"semaphores":[],"events":[],"barriers":[],"truncated":false}' ] ||
    fail "list beta: $(cat "$T/out")"

note "list --json escapes names"
weird='we"ird\name é'
mkfifo "$T/weird.in"
SPAWN_IN="$T/weird.in" spawn weird "$CONDCTL" hold "$weird"
exec 8>"$T/weird.in"
wait_until 10 test -s "$T/weird.out" || fail "hold of a weird name printed no token"
run_rc 0 "$CONDCTL" list --json we
grep -qF '{"name":"we\"ird\\name é","holder":"condctl/' "$T/out" ||
    fail "weird name not escaped: $(cat "$T/out")"
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["locks"][0]["name"]==sys.argv[1]' \
        "$weird" <"$T/out" || fail "list --json is not valid JSON: $(cat "$T/out")"
fi
exec 8>&-
expect_rc weird 0

note "stats: text and JSON"
run_rc 0 "$CONDCTL" stats
for k in uptime_s connections locks conditions waiters; do
    grep -q "^$k  *[0-9]" "$T/out" || fail "stats has no $k: $(cat "$T/out")"
done
run_rc 0 "$CONDCTL" stats --json
for k in uptime_s connections locks conditions waiters; do
    grep -q "\"$k\":[0-9]" "$T/out" || fail "stats --json has no $k: $(cat "$T/out")"
done
grep -q '^{.*}$' "$T/out" || fail "stats --json is not one object: $(cat "$T/out")"
grep -q '"locks":1,' "$T/out" || fail "stats --json does not count the held lock: $(cat "$T/out")"

note "notify and notify-all with nobody waiting print 0"
run_rc 0 "$CONDCTL" notify nobody
[ "$(cat "$T/out")" = 0 ] || fail "notify printed $(cat "$T/out")"
run_rc 0 "$CONDCTL" notify-all nobody
[ "$(cat "$T/out")" = 0 ] || fail "notify-all printed $(cat "$T/out")"
run_rc 0 "$CONDCTL" notify nobody --json -n 3
[ "$(cat "$T/out")" = '{"woken":0}' ] || fail "notify --json printed $(cat "$T/out")"

note "names the server would refuse are usage errors (2), caught before sending"
# (tests/condctl-names.sh checks each problem; refusals by the server, exit 4, are in
# tests/condctl-cond.sh.)
run_rc 2 "$CONDCTL" locked "$(printf 'tab\there')"
long=$(printf '%0600d' 0)
run_rc 2 "$CONDCTL" lock "$long" -- true

note "releasing: EOF on stdin ends hold with 0 and frees the lock"
exec 7>&-
expect_rc holder 0
run_rc 1 "$CONDCTL" locked alpha
wait_until 10 nothing_left || fail "something left: $(list_json)"

note "ok"
