#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condctl lock NAME -- CMD: CMD's environment (CONDD_LOCK, CONDD_TOKEN), its exit status passed
# through (126 not executable, 127 not found, 128+N killed by signal N), the lock held exactly
# while CMD runs, several concurrent scripts serialised (their critical sections never overlap,
# tokens strictly increase), INT/TERM/HUP forwarded to CMD, the connection lost while CMD runs
# (SIGTERM at once, SIGKILL after --kill-after, exit 3), CMD not inheriting the connection, and
# the session kept alive while CMD runs longer than the session timeout.
. "$(dirname "$0")/condctl-lib.sh"

# A short session timeout (3 s, not 1: a loaded machine may starve a client for over a second).
# condctl must keep its session alive while CMD runs.
start_daemon --session-timeout 3

note "CMD gets CONDD_LOCK and CONDD_TOKEN; its status is condctl's"
run_rc 0 "$CONDCTL" lock env1 -- sh -c 'printf "%s %s\n" "$CONDD_LOCK" "$CONDD_TOKEN"'
grep -q '^env1 [0-9][0-9]*$' "$T/out" || fail "CMD saw: $(cat "$T/out")"
run_rc 7 "$CONDCTL" lock st -- sh -c 'exit 7'
run_rc 1 "$CONDCTL" lock st -- false
run_rc 0 "$CONDCTL" lock st -- true
run_rc 137 "$CONDCTL" lock st -- sh -c 'kill -KILL $$'
run_rc 127 "$CONDCTL" lock st -- "$T/no-such-program"
grep -q 'no-such-program' "$T/err" || fail "no reason for 127 on stderr"
printf '#!/bin/sh\nexit 0\n' >"$T/not-executable"
chmod 644 "$T/not-executable"
run_rc 126 "$CONDCTL" lock st -- "$T/not-executable"
run_rc 0 "$CONDCTL" -T 0 lock st -- true
run_rc 0 "$CONDCTL" lock st -T 5 -- true
# Options after `--` belong to CMD.
run_rc 0 "$CONDCTL" lock st -- sh -c 'test "$1" = "-T"' sh -T
run_rc 1 "$CONDCTL" locked st

note "the lock is held while CMD runs and released after"
run_rc 0 "$CONDCTL" lock held -- "$CONDCTL" locked held
[ "$(cat "$T/out")" = locked ] || fail "inside CMD the lock was $(cat "$T/out")"
run_rc 1 "$CONDCTL" locked held
run_rc 124 "$CONDCTL" lock held -- sh -c '"$0" -T 0 lock held -- true; exit $?' "$CONDCTL"

note "the session (and the lock) outlives the session timeout while CMD runs"
# The sleep is the workload: CMD deliberately runs longer than the 3 s session timeout.
run_rc 0 "$CONDCTL" lock ka -- sh -c 'sleep 4.5; "$0" locked ka' "$CONDCTL"
[ "$(cat "$T/out")" = locked ] || fail "the lock was lost while CMD ran: $(cat "$T/out")"

note "concurrent scripts are serialised"
cat >"$T/critical.sh" <<'SH'
#!/bin/sh
# The critical section: nobody else may be inside.
if ! mkdir "$1/inside" 2>/dev/null; then
    echo overlap >>"$1/overlaps"
fi
echo "$CONDD_TOKEN" >>"$1/tokens"
n=0
while [ $n -lt 200 ]; do n=$((n + 1)); done
rmdir "$1/inside" 2>/dev/null
exit 0
SH
chmod +x "$T/critical.sh"
cat >"$T/worker.sh" <<'SH'
#!/bin/sh
i=0
while [ $i -lt 5 ]; do
    "$CONDCTL" lock ser -- "$1/critical.sh" "$1" || exit 1
    i=$((i + 1))
done
SH
chmod +x "$T/worker.sh"
for w in 1 2 3 4 5 6; do
    spawn "worker$w" "$T/worker.sh" "$T"
done
for w in 1 2 3 4 5 6; do
    expect_rc "worker$w" 0 60
done
[ ! -e "$T/overlaps" ] || fail "critical sections overlapped $(wc -l <"$T/overlaps") times"
[ "$(wc -l <"$T/tokens")" -eq 30 ] || fail "$(wc -l <"$T/tokens") critical sections, expected 30"
sort -n -u -c "$T/tokens" || fail "tokens do not strictly increase in grant order"
run_rc 1 "$CONDCTL" locked ser

note "TERM and HUP are forwarded to CMD"
for sig in TERM HUP; do
    rm -f "$T/got" "$T/cmd.pid"
    spawn fwd "$CONDCTL" lock fwd -- sh -c \
        'trap "echo $1 >$2/got; exit 5" '$sig'; echo $$ >$2/cmd.pid; while :; do sleep 0.05; done' \
        sh "$sig" "$T"
    wait_until 10 test -s "$T/cmd.pid" || fail "CMD did not start"
    KILL_PIDS="$KILL_PIDS $(cat "$T/cmd.pid")"
    kill -s "$sig" "$(pid_of fwd)"
    expect_rc fwd 5
    [ "$(cat "$T/got")" = "$sig" ] || fail "CMD did not get SIG$sig"
    run_rc 1 "$CONDCTL" locked fwd
done

note "a signal ignored when condctl started stays ignored: not forwarded, not fatal"
rm -f "$T/cmd.pid" "$T/sigign"
spawn ign env --ignore-signal=HUP "$CONDCTL" lock ign -- sh -c \
    'grep "^SigIgn:" /proc/$$/status >"$1/sigign"; echo $$ >"$1/cmd.pid"; while :; do sleep 0.05; done' \
    sh "$T"
wait_until 10 test -s "$T/cmd.pid" || fail "CMD did not start"
KILL_PIDS="$KILL_PIDS $(cat "$T/cmd.pid")"
# SigIgn is a hex mask with bit 0 for signal 1 (HUP): CMD inherits the ignored HUP.
ign_mask=$(awk '{print $2}' "$T/sigign")
[ $((0x$ign_mask & 1)) -eq 1 ] || fail "CMD does not ignore HUP (SigIgn $ign_mask)"
# condctl itself keeps HUP ignored (so the kernel discards the signal below at once).
ctl_mask=$(awk '/^SigIgn:/ {print $2}' "/proc/$(pid_of ign)/status")
[ $((0x$ctl_mask & 1)) -eq 1 ] || fail "condctl does not keep HUP ignored (SigIgn $ctl_mask)"
kill -s HUP "$(pid_of ign)"
kill -s HUP "$(cat "$T/cmd.pid")"
# A round trip through the server after the signals: condctl still holds the lock, CMD runs.
run_rc 0 "$CONDCTL" locked ign
running ign || fail "condctl died of an ignored SIGHUP"
kill -0 "$(cat "$T/cmd.pid")" || fail "CMD died of an ignored SIGHUP"
kill -s TERM "$(pid_of ign)"
expect_rc ign 143
run_rc 1 "$CONDCTL" locked ign

note "CMD does not inherit the connection: killing condctl frees the lock"
rm -f "$T/cmd.pid"
spawn orphan "$CONDCTL" lock inh -- sh -c 'echo $$ >"$1/cmd.pid"; exec sleep 60' sh "$T"
wait_until 10 test -s "$T/cmd.pid" || fail "CMD did not start"
KILL_PIDS="$KILL_PIDS $(cat "$T/cmd.pid")"
run_rc 0 "$CONDCTL" locked inh
kill -9 "$(pid_of orphan)"
wait_until 10 is_free inh || fail "the lock outlived condctl (CMD kept the connection?)"
kill -0 "$(cat "$T/cmd.pid")" || fail "CMD died with condctl"
kill "$(cat "$T/cmd.pid")"

note "connection lost while CMD runs: SIGTERM to CMD, exit 3"
# --grace 0: no resume to try (condctl-resume.sh covers the grace).
rm -f "$T/got" "$T/cmd.pid"
spawn lost "$CONDCTL" lock lost --grace 0 -- sh -c \
    'trap "echo term >$1/got; exit 0" TERM; echo $$ >$1/cmd.pid; while :; do sleep 0.05; done' sh "$T"
wait_until 10 test -s "$T/cmd.pid" || fail "CMD did not start"
KILL_PIDS="$KILL_PIDS $(cat "$T/cmd.pid")"
kill_daemon
expect_rc lost 3
[ "$(cat "$T/got" 2>/dev/null)" = term ] || fail "CMD did not get SIGTERM"
grep -q 'lost' "$T/lost.err" || fail "no message about the lost lock: $(cat "$T/lost.err")"

note "a CMD that ignores SIGTERM gets SIGKILL after --kill-after"
start_daemon
rm -f "$T/cmd.pid"
spawn stubborn "$CONDCTL" lock stubborn --grace 0 --kill-after 0.3 -- sh -c \
    'trap "" TERM; echo $$ >$1/cmd.pid; while :; do sleep 0.05; done' sh "$T"
wait_until 10 test -s "$T/cmd.pid" || fail "CMD did not start"
cmd_pid=$(cat "$T/cmd.pid")
KILL_PIDS="$KILL_PIDS $cmd_pid"
kill_daemon
expect_rc stubborn 3 20
! kill -0 "$cmd_pid" 2>/dev/null || fail "CMD still runs after --kill-after"

note "ok"
