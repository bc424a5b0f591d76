#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# SIGTERM, SIGINT and SIGHUP end a waiting condctl cleanly: `wait`, `event wait`, `barrier` (and
# `hold` and `notify` still waiting for their lock) exit 128 plus the signal number after saying
# Goodbye, so their session ends at once instead of staying detached for the default 10 s resume
# grace: the waiter leaves its queue and an interrupted barrier party no longer counts as
# arrived. Each "gone" is polled with a 3 s deadline, far shorter than the grace. Every condctl
# is spawned with the default signal dispositions (spawn), so nothing depends on how the suite
# was started.
. "$(dirname "$0")/condctl-lib.sh"

start_daemon

# no_detached: no session is waiting out a resume grace.
no_detached() {
    "$CONDCTL" stats >"$T/stats" 2>&1 && grep -q '^detached_sessions  *0$' "$T/stats"
}

# gone WHAT CHECK [ARG...]: CHECK holds within 3 s and no session was left detached.
gone() {
    _what=$1
    shift
    wait_until 3 "$@" || fail "$_what is still there 3 s after condctl exited: $(list_json)"
    no_detached || fail "$_what left its session detached: $(cat "$T/stats")"
}

for sig in TERM INT HUP; do
    case $sig in
    TERM) want=143 ;;
    INT) want=130 ;;
    HUP) want=129 ;;
    esac

    note "SIG$sig: wait leaves the condition's queue at once and exits $want"
    spawn w "$CONDCTL" wait "cv$sig"
    wait_until 20 has_cond_waiters "cv$sig" 1 || fail "w is not waiting: $(list_json)"
    kill -s "$sig" "$(pid_of w)"
    expect_rc w "$want"
    gone "the waiter of cv$sig" has_cond_waiters "cv$sig" 0
    # Nothing is notified in its place: a notify now finds nobody.
    run_rc 0 "$CONDCTL" notify "cv$sig"
    [ "$(cat "$T/out")" = 0 ] || fail "notify woke $(cat "$T/out") after the waiter left"

    note "SIG$sig: event wait leaves the event's queue at once and exits $want"
    spawn e "$CONDCTL" event wait "ev$sig"
    wait_until 20 has_event_waiters "ev$sig" 1 || fail "e is not waiting: $(list_json)"
    kill -s "$sig" "$(pid_of e)"
    expect_rc e "$want"
    gone "the waiter of ev$sig" has_event_waiters "ev$sig" 0
    run_rc 0 "$CONDCTL" event set "ev$sig"
    [ "$(cat "$T/out")" = 0 ] || fail "event set woke $(cat "$T/out") after the waiter left"
    run_rc 0 "$CONDCTL" event clear "ev$sig"

    note "SIG$sig: an interrupted barrier party leaves at once; the barrier does not trip short"
    spawn b1 "$CONDCTL" barrier "bar$sig" -p 2
    wait_until 20 has_barrier_waiting "bar$sig" 1 || fail "b1 is not waiting: $(list_json)"
    kill -s "$sig" "$(pid_of b1)"
    expect_rc b1 "$want"
    gone "b1's arrival at bar$sig" has_barrier_waiting "bar$sig" 0
    spawn b2 "$CONDCTL" barrier "bar$sig" -p 2
    wait_until 20 has_barrier_waiting "bar$sig" 1 || fail "b2 is not waiting: $(list_json)"
    # The list above came back after b2 arrived: had b1 still counted, b2 would be released.
    running b2 || fail "b2 passed a barrier of 2 alone (rc $(cat "$T/b2.rc"), $(cat "$T/b2.out"))"
    run_rc 0 "$CONDCTL" barrier "bar$sig" -p 2
    [ "$(cat "$T/out")" = 1 ] || fail "the second live party printed $(cat "$T/out")"
    expect_rc b2 0
    [ "$(cat "$T/b2.out")" = 0 ] || fail "b2 printed $(cat "$T/b2.out")"
    run_rc 0 "$CONDCTL" barrier "bar$sig" --reset

    note "SIG$sig: hold waiting for its lock leaves the lock's queue at once and exits $want"
    spawn h1 "$CONDCTL" hold "L$sig" --until-signal
    wait_until 20 is_locked "L$sig" || fail "h1 did not take L$sig"
    spawn h2 "$CONDCTL" hold "L$sig" --until-signal
    wait_until 20 has_lock_waiters "L$sig" 1 || fail "h2 is not queued: $(list_json)"
    kill -s "$sig" "$(pid_of h2)"
    expect_rc h2 "$want"
    gone "h2's request for L$sig" has_lock_waiters "L$sig" 0
    # notify waits for its lock too (here L$sig, held by h1).
    spawn n "$CONDCTL" notify "cv$sig" --lock "L$sig"
    wait_until 20 has_lock_waiters "L$sig" 1 || fail "n is not queued: $(list_json)"
    kill -s "$sig" "$(pid_of n)"
    expect_rc n "$want"
    gone "n's request for L$sig" has_lock_waiters "L$sig" 0
    # A signal still ends a granted hold with 0, as before.
    kill -s "$sig" "$(pid_of h1)"
    expect_rc h1 0
    wait_until 10 is_free "L$sig" || fail "h1's hold of L$sig was not released"

    wait_until 10 nothing_left || fail "SIG$sig: something left: $(list_json)"
done
