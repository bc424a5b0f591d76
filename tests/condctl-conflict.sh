#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# lock -E N / --conflict-exit-code N (flock's option): when the lock could not be taken (the -T
# deadline passed while it was held elsewhere, or -T 0 found it held) condctl exits N instead
# of 124, so a script can tell that from its command's own 124; CMD's status still passes
# through unchanged, N may be 0, and -E without a conflict changes nothing.
. "$(dirname "$0")/condctl-lib.sh"

start_daemon

mkfifo "$T/h.in"
SPAWN_IN="$T/h.in" spawn holder "$CONDCTL" hold busy
exec 5>"$T/h.in"
wait_until 20 test -s "$T/holder.out" || fail "hold printed no token"

note "try once on a held lock: N, CMD not run"
run_rc 75 "$CONDCTL" -T 0 -E 75 lock busy -- touch "$T/ran"
[ ! -e "$T/ran" ] || fail "CMD ran without the lock"
grep -q 'timed out' "$T/err" || fail "no reason on stderr: $(cat "$T/err")"
run_rc 75 "$CONDCTL" lock busy --conflict-exit-code=75 -T 0 -- true
run_rc 0 "$CONDCTL" -T 0 -E 0 lock busy -- false

note "deadline passed while waiting: N, no waiter left"
run_rc 9 "$CONDCTL" -T 0.3 -E 9 lock busy -- true
wait_until 10 has_lock_waiters busy 0 || fail "a waiter was left: $(list_json)"

note "without -E the conflict is 124, as CMD's own 124 would be"
run_rc 124 "$CONDCTL" -T 0 lock busy -- true

exec 5>&-
expect_rc holder 0

note "with the lock free: CMD's status passes through, its own 124 included"
run_rc 124 "$CONDCTL" -T 0 -E 75 lock busy -- sh -c 'exit 124'
run_rc 3 "$CONDCTL" -E 75 lock busy -- sh -c 'exit 3'
run_rc 0 "$CONDCTL" -E 75 lock busy -- true

note "ok"
