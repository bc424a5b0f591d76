#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Names are checked by condctl before anything is sent, by the server's rule (1..512 bytes of
# UTF-8 without control characters): a name too long, not UTF-8, or with a control character
# is a usage error (exit 2, not the server's refusal 4) whose one-line message names the
# problem; NAME, COND and --lock L are all checked, and names at the limits still work.
. "$(dirname "$0")/condctl-lib.sh"

# A running server, so that a name that slipped through would reach it (and give 4, not 2).
start_daemon

# bad_name WHAT PATTERN ARG...: condctl ARG... exits 2 with one line matching PATTERN.
bad_name() {
    _pat=$1
    shift
    run_rc 2 "$CONDCTL" "$@"
    [ "$(wc -l <"$T/err")" -eq 1 ] || fail "'$*': not one line: $(cat "$T/err")"
    grep -q "$_pat" "$T/err" || fail "'$*': message does not say '$_pat': $(cat "$T/err")"
}

long=$(printf '%0513d' 0)
max=$(printf '%0512d' 0)
ctrl=$(printf 'a\001b')
tab=$(printf 'a\tb')
del=$(printf 'a\177b')
nel=$(printf 'a\302\205b')    # U+0085, a C1 control
badutf=$(printf 'a\377b')
trunc=$(printf 'ok\303')
surrogate=$(printf '\355\240\200')

note "too long"
bad_name 'lock name is too long: 513 bytes (at most 512)' hold "$long"
bad_name 'too long' locked "$long"
bad_name 'too long' lock "$long" -- true
bad_name 'condition name is too long' wait "$long"
bad_name 'condition name is too long' notify "$long"
bad_name '\-\-lock name is too long' notify c --lock "$long"

note "invalid UTF-8"
bad_name 'lock name is not valid UTF-8 (bad byte 0xff at offset 1)' hold "$badutf"
bad_name 'not valid UTF-8' locked "$trunc"
bad_name 'not valid UTF-8' lock "$surrogate" -- true
bad_name 'condition name is not valid UTF-8' wait-for "$badutf" -- true
bad_name '\-\-lock name is not valid UTF-8' wait c --lock "$badutf"

note "control characters"
bad_name 'lock name contains a control character (U+0001 at offset 1)' hold "$ctrl"
bad_name 'U+0009' locked "$tab"
bad_name 'U+007F' lock "$del" -- true
bad_name 'U+0085' notify-all "$nel"
bad_name '\-\-lock name contains a control character' notify-all c --lock "$ctrl"

note "nothing reached the server"
nothing_left || fail "a bad name left state behind: $(list_json)"
run_rc 0 "$CONDCTL" stats --json
grep -q '"op":"acquire"' "$T/out" && fail "an acquire reached the server: $(cat "$T/out")"

note "names at the limits work: 512 bytes, multibyte UTF-8"
run_rc 0 "$CONDCTL" lock "$max" -- true
run_rc 0 "$CONDCTL" lock "$(printf 'r\303\251sum\303\251-\351\224\201')" -- true
run_rc 1 "$CONDCTL" locked "$(printf '\360\237\224\222')"

note "ok"
