#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# The text table of `condctl list`: columns aligned by display width, not bytes, so names with
# accents (2 bytes, 1 column) and CJK characters (3 bytes, 2 columns) line up with ASCII ones
# whatever the caller's locale; a section (header and rows) only when it has rows: no empty
# CONDITION section without conditions, no empty LOCK section without locks, nothing at all
# when nothing matches.
. "$(dirname "$0")/condctl-lib.sh"

start_daemon

# hold_in NAME LOCK FD: `condctl hold LOCK` as NAME, its stdin a FIFO held open on FD.
hold_in() {
    mkfifo "$T/$1.in"
    SPAWN_IN="$T/$1.in" spawn "$1" "$CONDCTL" --name "$1" hold "$2"
    eval "exec $3>\"\$T/\$1.in\""
    wait_until 20 test -s "$T/$1.out" || fail "$1 printed no token"
}

# col_of LINE_PATTERN WORD: the display column (0-based, in characters, wide ones counting 2)
# where WORD starts in the line of list's output matching LINE_PATTERN.
col_of() {
    python3 - "$T/out" "$1" "$2" <<'PY'
import re, sys, unicodedata
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
line = next(l for l in lines if re.search(sys.argv[2], l))
i = line.index(sys.argv[3])
print(sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line[:i]))
PY
}

# résumé-锁: 12 bytes, 9 columns (é is 2 bytes and 1 column, 锁 3 bytes and 2 columns).
wide=$(printf 'r\303\251sum\303\251-\351\224\201')
note "nothing matches: no output at all"
for loc in C C.UTF-8; do
    LC_ALL=$loc run_rc 0 "$CONDCTL" list
    [ ! -s "$T/out" ] || fail "list of nothing (LC_ALL=$loc) printed: $(cat "$T/out")"
done

note "locks only: a LOCK section, no CONDITION header"
hold_in ascii plain-lock-name 5
hold_in uni "$wide" 6
for loc in C C.UTF-8 POSIX; do
    LC_ALL=$loc run_rc 0 "$CONDCTL" list
    head -n 1 "$T/out" | grep -q '^LOCK  *HOLDER  *SESSION  *TOKEN  *WAITERS  *MODE  *HOLDERS$' ||
        fail "header (LC_ALL=$loc): $(cat "$T/out")"
    ! grep -q 'CONDITION' "$T/out" || fail "empty condition section (LC_ALL=$loc): $(cat "$T/out")"
    [ "$(grep -c . "$T/out")" -eq 3 ] || fail "not header + 2 rows (LC_ALL=$loc): $(cat "$T/out")"
    if command -v python3 >/dev/null 2>&1; then
        h=$(col_of '^LOCK' HOLDER)
        a=$(col_of '^plain-lock-name' ascii)
        u=$(col_of '^r' uni)
        [ "$h" = "$a" ] && [ "$a" = "$u" ] ||
            fail "HOLDER column not aligned (LC_ALL=$loc): header $h, ascii $a, wide $u: $(cat "$T/out")"
    fi
done
# Without python3: the byte-counted layout would give the wide name fewer padding spaces than
# its byte excess; check the exact padding of the wide row instead: 9 columns in a name column
# of 15 (plain-lock-name), so 6 spaces of padding and the 2 between columns.
LC_ALL=C run_rc 0 "$CONDCTL" list
grep -q "^$wide        uni  " "$T/out" || fail "wide name not padded to 15 columns: $(cat "$T/out")"

note "conditions only: a CONDITION section, no LOCK header"
exec 5>&- 6>&-
expect_rc ascii 0
expect_rc uni 0
spawn waiter "$CONDCTL" wait "$wide"
wait_until 20 has_cond_waiters "$wide" 1 || fail "the waiter is not listed: $(list_json)"
LC_ALL=C run_rc 0 "$CONDCTL" list
head -n 1 "$T/out" | grep -q '^CONDITION  *LOCK  *WAITERS$' || fail "header: $(cat "$T/out")"
! grep -q '^LOCK' "$T/out" || fail "empty lock section: $(cat "$T/out")"
grep -q "^$wide  $wide        1\$" "$T/out" || fail "condition row not aligned: $(cat "$T/out")"
run_rc 0 "$CONDCTL" notify "$wide"
expect_rc waiter 0

note "ok"
