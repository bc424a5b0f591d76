#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condctl's documentation agrees with condctl: the ping --json example of condctl(1), as a
# reader sees it rendered, has the server_version condctl really prints; every option and
# environment variable `condctl --help` lists is in the man page; the dates in the headers of
# condctl(1) and condd(8) agree.
. "$(dirname "$0")/condctl-lib.sh"

man1=$top_srcdir/docs/condctl.1
man8=$top_srcdir/docs/condd.8

note "the two man pages carry the same date"
d1=$(sed -n 's/^\.TH [A-Z]* [0-9] "\([^"]*\)".*/\1/p' "$man1")
d8=$(sed -n 's/^\.TH [A-Z]* [0-9] "\([^"]*\)".*/\1/p' "$man8")
[ -n "$d1" ] && [ "$d1" = "$d8" ] || fail "condctl.1 says '$d1', condd.8 says '$d8'"

note "the ping --json example shows what condctl prints"
start_daemon
run_rc 0 "$CONDCTL" ping --json
real=$(sed -n 's/.*"server_version":\("[^"]*"\).*/\1/p' "$T/out")
[ -n "$real" ] || fail "ping --json printed $(cat "$T/out")"
if command -v groff >/dev/null 2>&1; then
    groff -man -Tutf8 -rLL=400n -rHY=0 -P-c -P-b -P-u "$man1" 2>/dev/null >"$T/man.txt" ||
        fail "groff cannot render condctl.1"
    shown=$(tr -d '\n' <"$T/man.txt" | tr -s ' ' | sed -n 's/.*"rtt_ms":[0-9.]*,"server_version":\("[^"]*"\).*/\1/p')
    # The example's version is the package's; only the form matters ("condd X.Y.Z").
    want=$(echo "$real" | sed 's/[0-9][0-9.]*/V/')
    got=$(echo "$shown" | sed 's/[0-9][0-9.]*/V/')
    [ "$got" = "$want" ] || fail "the man page shows server_version $shown, condctl prints $real"
else
    note "groff not found: rendering skipped"
fi

note "every option and variable of --help is in the man page"
run_rc 0 "$CONDCTL" --help
for o in $(grep -o -- '--[a-z][a-z-]*' "$T/out" | sort -u) CONDD_SERVER CONDD_CONNECT_TIMEOUT; do
    roff=$(printf '%s' "$o" | sed 's/-/\\\\-/g')
    grep -q -- "$roff" "$man1" || fail "condctl.1 does not document $o"
done

note "ok"
