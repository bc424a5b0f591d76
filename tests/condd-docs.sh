#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condd's documentation agrees with condd: every metric a running condd serves at /metrics,
# every operation label of condd_requests_total and every wire status (proto/condd.proto) is in
# condd(8) METRICS; every option of `condd --help` is in condd(8) OPTIONS, and is a config file
# key exactly unless CONFIGURATION FILE names it as command-line only (asked of the parser: a
# key with no value is "missing value", a command-line option "only on the command line"); the
# example config shows every key; and no doc still says TLS or authentication are missing.
# protocol.md agrees with condd.proto and condd: every Request body and Response result of the
# proto is in §4.1's / §4.2's tables with its field number, every Status value is in §7's table
# with its number, and every operation and status label condd serves in Stats' ops is in §11.10.
. "$(dirname "$0")/condctl-lib.sh"

man8=$top_srcdir/docs/condd.8
proto=$top_srcdir/proto/condd.proto
protomd=$top_srcdir/docs/protocol.md
command -v curl >/dev/null 2>&1 || fail "curl is needed to read /metrics"

# md_section HEADING: the lines of protocol.md from the heading line starting with HEADING up
# to the next heading of any level.
md_section() {
    awk -v want="$1" 'index($0, want) == 1 { on = 1; print; next } on && /^#/ { exit } on' \
        "$protomd"
}
# oneof_fields MESSAGE ONEOF: "name number" for each field of that oneof in condd.proto.
oneof_fields() {
    awk -v msg="message $1 {" -v one="oneof $2 {" '
        index($0, msg) == 1 { m = 1; next }
        m && index($0, one) { o = 1; next }
        o && /}/ { exit }
        o' "$proto" | sed -n 's/^ *[A-Za-z][A-Za-z0-9]* \([a-z_0-9]*\) = \([0-9]*\);.*/\1 \2/p'
}
# in_md FILE WORD NUMBER: FILE (a section) names field WORD with its number: `WORD` (NUMBER).
in_md() {
    grep -q -F -- "\`$2\` ($3)" "$1"
}

note "every Request body and Response result of condd.proto is in protocol.md §4.1 / §4.2"
md_section "### 4.1 " >"$T/p41.md"
md_section "### 4.2 " >"$T/p42.md"
[ -s "$T/p41.md" ] && [ -s "$T/p42.md" ] || fail "protocol.md lacks §4.1 or §4.2"
oneof_fields Request body >"$T/bodies"
oneof_fields Response result >"$T/results"
[ "$(wc -l <"$T/bodies")" -gt 20 ] && [ "$(wc -l <"$T/results")" -gt 20 ] ||
    fail "too few bodies or results parsed from condd.proto: $(cat "$T/bodies" "$T/results")"
while read -r name num; do
    in_md "$T/p41.md" "$name" "$num" || fail "protocol.md §4.1 does not list body \`$name\` ($num)"
done <"$T/bodies"
while read -r name num; do
    in_md "$T/p42.md" "$name" "$num" || fail "protocol.md §4.2 does not list result \`$name\` ($num)"
done <"$T/results"

note "every Status of condd.proto is in protocol.md §7 with its value"
md_section "## 7. " >"$T/p7.md"
sed -n 's/^ *\(STATUS_[A-Z_]*\) = \([0-9]*\);.*/\1 \2/p' "$proto" >"$T/statuses"
[ "$(wc -l <"$T/statuses")" -gt 15 ] || fail "too few statuses in condd.proto: $(cat "$T/statuses")"
while read -r name num; do
    grep -q -F -- "| $num | \`$name\` |" "$T/p7.md" ||
        fail "protocol.md §7 does not list $name ($num)"
done <"$T/statuses"

# section NAME: the lines of condd.8's .SH NAME section, up to the next .SH.
section() {
    awk -v want=".SH $1" '$0 == want { on = 1; next } /^\.SH / { on = 0 } on' "$man8"
}
section METRICS >"$T/metrics.8"
section OPTIONS >"$T/options.8"
section "CONFIGURATION FILE" >"$T/conffile.8"
[ -s "$T/metrics.8" ] && [ -s "$T/options.8" ] && [ -s "$T/conffile.8" ] ||
    fail "condd.8 lacks METRICS, OPTIONS or CONFIGURATION FILE"

note "every metric served is in condd.8 METRICS"
start_daemon --metrics 127.0.0.1:0 --log-level info
wait_until 20 grep -q "serving metrics on .*(port [0-9]*)" "$T/condd.log" ||
    fail "no metrics port in the log"
mport=$(sed -n 's/.*serving metrics on .*(port \([0-9]*\)).*/\1/p' "$T/condd.log" | head -n 1)
curl -sf "http://127.0.0.1:$mport/metrics" >"$T/metrics" || fail "GET /metrics failed"
names=$(sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' "$T/metrics")
[ "$(echo "$names" | wc -l)" -gt 20 ] || fail "too few metrics served: $names"
for m in $names; do
    grep -q -w -- "$m" "$T/metrics.8" || fail "condd.8 METRICS does not list $m"
done

note "every op label and every wire status is in condd_requests_total's entry"
# The entry: from its .B line to the next .TP.
awk '/^\.B condd_requests_total/ { on = 1 } on && /^\.TP/ { on = 0 } on' "$T/metrics.8" \
    >"$T/requests.8"
ops=$(sed -n 's/^condd_requests_total{op="\([a-z_]*\)",status="ok"}.*/\1/p' "$T/metrics")
[ "$(echo "$ops" | wc -l)" -gt 10 ] || fail "too few op labels served: $ops"
statuses=$(sed -n 's/^ *STATUS_\([A-Z_]*\) = [0-9]*;.*/\1/p' "$top_srcdir/proto/condd.proto" |
    tr 'A-Z' 'a-z')
[ "$(echo "$statuses" | wc -l)" -gt 15 ] || fail "too few statuses in condd.proto: $statuses"
# Only the bold label lists (.RB/.BR lines) count: a label that is an English word (list, break,
# timeout, ok) must not pass by appearing in the entry's prose.
grep -E '^\.(RB|BR) ' "$T/requests.8" >"$T/labels.8"
for w in $ops $statuses; do
    grep -q -w -- "$w" "$T/labels.8" || fail "condd.8's condd_requests_total does not list $w"
done

note "every op and status label served in Stats is in protocol.md §11.10's OpCount"
# Stats' ops and condd_requests_total are the same counters under the same labels: every op is
# served with its ok series; a status label is the wire status's lower-case name (stats.c), so
# every status of the proto is one condd can serve, and those served so far are taken too.
md_section "### 11.10 " | awk '/^\*\*OpCount\*\*/ { on = 1 } on && /^\| status/ { exit } on' \
    >"$T/opcount.md"
[ -s "$T/opcount.md" ] || fail "protocol.md §11.10 has no OpCount paragraph"
served=$(sed -n 's/^condd_requests_total{op="[a-z_]*",status="\([a-z_]*\)"}.*/\1/p' "$T/metrics")
for w in $ops $statuses $served; do
    grep -q -F -- "\`$w\`" "$T/opcount.md" || fail "protocol.md §11.10 OpCount does not name $w"
done

note "every option is documented, and a config key unless the man page says otherwise"
run_rc 0 "$CONDD" --help
opts=$(sed -n 's/^ *\(-[A-Za-z], \)\{0,1\}--\([a-z][a-z-]*\).*/\2/p' "$T/out" | sort -u)
[ "$(echo "$opts" | wc -l)" -gt 20 ] || fail "too few options in --help: $opts"
# The sentence naming the command-line-only options: from "except" to "command line takes".
cli_only=$(tr '\n' ' ' <"$T/conffile.8" | sed -n 's/.* except \(.*\) which only the command line takes.*/\1/p' |
    sed 's/\.BR//g; s/\\-/-/g; s/[",]/ /g; s/ and / /g')
[ -n "$cli_only" ] || fail "CONFIGURATION FILE names no command-line-only option"
for o in $opts; do
    roff=$(printf '%s' "$o" | sed 's/-/\\\\-/g')
    # Followed by neither a letter nor a \-: --listen is not documented by --listen-tls alone.
    grep -q -- "\\\\-\\\\-$roff\\([^a-z\\\\]\\|\$\\)" "$T/options.8" ||
        fail "condd.8 OPTIONS does not document --$o"
    printf '%s =\n' "$o" >"$T/one.conf"
    "$CONDD" --config "$T/one.conf" --listen 127.0.0.1:0 >"$T/out" 2>"$T/err" </dev/null
    rc=$?
    [ "$rc" = 2 ] || fail "a config file '$o =' exited $rc: $(cat "$T/err")"
    named=no
    for c in $cli_only; do [ "$c" = "$o" ] && named=yes; done
    if grep -q "missing value for '$o'" "$T/err"; then
        [ "$named" = no ] || fail "condd.8 says $o is not a config key, but condd takes it"
        grep -q "^#\{0,1\}$o *=" "$top_srcdir/systemd/condd.conf.example" ||
            fail "condd.conf.example does not show the key $o"
    elif grep -q "'$o' can only be given on the command line" "$T/err"; then
        [ "$named" = yes ] || fail "condd.8 does not say $o is command-line only"
    else
        fail "a config file '$o =' said: $(cat "$T/err")"
    fi
done

note "no doc says TLS or authentication are still missing"
for f in "$top_srcdir"/docs/*.md "$top_srcdir"/docs/*.[18] "$top_srcdir"/README.md; do
    if grep -n -i -E "no authentication|no encryption|until TLS|TLS is not (yet )?(available|supported)|authentication is not" "$f"; then
        fail "$f says TLS or authentication are missing (they are not: condd(8), TLS, AUTH FILE)"
    fi
done

note "ok"
