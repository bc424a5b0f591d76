# SPDX-License-Identifier: BSD-2-Clause
#
# Shared helpers of the condctl shell tests (sourced, not run): a private scratch directory, a
# condd on an ephemeral loopback port, background processes whose exit status is collected in
# files, polling with a deadline instead of sleeping, and readers for `condctl list --json`.
# Everything started here is killed and the scratch directory removed by the EXIT trap.
# Needs $CONDD and $CONDCTL (set by `make check`).

set -u

: "${CONDD:?CONDD must name the condd binary}"
: "${CONDCTL:?CONDCTL must name the condctl binary}"

T=$(mktemp -d "${TMPDIR:-/tmp}/condctl-test.XXXXXX") || exit 99
DAEMON_PID=
KILL_PIDS=            # extra processes to kill at exit (children of CMDs, ...)
unset CONDD_SERVER

cleanup() {
    set +e
    for f in "$T"/*.pid; do
        [ -e "$f" ] || continue
        kill -9 "$(cat "$f")" 2>/dev/null
    done
    for p in $KILL_PIDS; do
        kill -9 "$p" 2>/dev/null
    done
    if [ -n "$DAEMON_PID" ]; then
        kill -9 "$DAEMON_PID" 2>/dev/null
    fi
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 99' INT TERM HUP

# The test's name, for messages.
TEST_NAME=$(basename "$0" .sh)

fail() {
    echo "FAIL ($TEST_NAME): $*" >&2
    if [ -s "$T/condd.log" ]; then
        echo "--- condd log:" >&2
        tail -n 30 "$T/condd.log" >&2
    fi
    exit 1
}

note() {
    echo "# $*"
}

# wait_until SECONDS CMD [ARG...]: runs CMD every 20 ms until it succeeds (0) or SECONDS pass
# (1). A poll with a deadline: never a bare sleep standing in for a state.
wait_until() {
    _limit=$1
    shift
    _end=$(($(date +%s) + _limit))
    while :; do
        if "$@"; then
            return 0
        fi
        if [ "$(date +%s)" -gt "$_end" ]; then
            "$@"
            return
        fi
        sleep 0.02
    done
}

# start_daemon [condd options...]: condd on 127.0.0.1:0; sets PORT and exports CONDD_SERVER.
start_daemon() {
    rm -f "$T/port"
    "$CONDD" --listen 127.0.0.1:0 --port-file "$T/port" --log-level warning "$@" \
        2>>"$T/condd.log" &
    DAEMON_PID=$!
    wait_until 20 grep -q '^[0-9][0-9]*$' "$T/port" 2>/dev/null || fail "condd did not start"
    PORT=$(cat "$T/port")
    CONDD_SERVER=127.0.0.1:$PORT
    export CONDD_SERVER
}

# kill_daemon: SIGKILL condd and reap it.
kill_daemon() {
    kill -9 "$DAEMON_PID" 2>/dev/null
    wait "$DAEMON_PID" 2>/dev/null
    DAEMON_PID=
}

# spawn NAME CMD [ARG...]: runs CMD in the background with stdin from $SPAWN_IN (default
# /dev/null), stdout to $T/NAME.out, stderr to $T/NAME.err. Its pid goes to $T/NAME.pid and,
# once it has ended, its exit status to $T/NAME.rc.
spawn() {
    _name=$1
    shift
    rm -f "$T/$_name.pid" "$T/$_name.rc" "$T/$_name.out" "$T/$_name.err"
    (
        # A background job of a non-interactive shell starts with INT and QUIT ignored, and
        # nohup ignores HUP: give every spawned program the default dispositions, so that tests
        # of signal handling do not depend on how the suite itself was started.
        env --default-signal=HUP,INT,QUIT,TERM "$@" <"${SPAWN_IN:-/dev/null}" >"$T/$_name.out" \
            2>"$T/$_name.err" &
        echo $! >"$T/$_name.pid.tmp"
        mv "$T/$_name.pid.tmp" "$T/$_name.pid"
        wait $!
        echo $? >"$T/$_name.rc.tmp"
        mv "$T/$_name.rc.tmp" "$T/$_name.rc"
    ) 2>/dev/null &
    wait_until 10 test -s "$T/$_name.pid" || fail "$_name did not start"
}

pid_of() {
    cat "$T/$1.pid"
}

# ended NAME: true once NAME has exited.
ended() {
    test -e "$T/$1.rc"
}

# running NAME: true while NAME runs.
running() {
    ! test -e "$T/$1.rc"
}

# rc_of NAME [SECONDS]: waits (default 20 s) for NAME to end and prints its exit status.
rc_of() {
    wait_until "${2:-20}" ended "$1" || fail "$1 did not end (stderr: $(cat "$T/$1.err"))"
    cat "$T/$1.rc"
}

# expect_rc NAME WANT [SECONDS]: NAME ends with status WANT.
expect_rc() {
    _rc=$(rc_of "$1" "${3:-20}")
    [ "$_rc" = "$2" ] || fail "$1 exited $_rc, expected $2 (stderr: $(cat "$T/$1.err"))"
}

# run_rc WANT CMD [ARG...]: runs CMD in the foreground (stdout to $T/out, stderr to $T/err) and
# checks its exit status.
run_rc() {
    _want=$1
    shift
    "$@" >"$T/out" 2>"$T/err" </dev/null
    _rc=$?
    [ "$_rc" = "$_want" ] || fail "'$*' exited $_rc, expected $_want (stderr: $(cat "$T/err"))"
}

# within WANT SECONDS CMD [ARG...]: runs CMD in the background and checks that it ends within
# SECONDS with status WANT (for commands that could hang if broken). Output in $T/bg.out/.err.
within() {
    _want=$1
    _secs=$2
    shift 2
    spawn bg "$@"
    expect_rc bg "$_want" "$_secs"
}

# ---- reading `condctl list --json` (names used with these must be plain [A-Za-z0-9._-])

list_json() {
    "$CONDCTL" list --json >"$T/list.json" 2>"$T/list.err" || fail "list --json failed: $(cat "$T/list.err")"
    cat "$T/list.json"
}

# cond_waiters NAME: waiters of condition NAME (0 when it is not listed).
cond_waiters() {
    _n=$(list_json | sed -n 's/.*{"name":"'"$1"'","lock":"[^"]*","waiters":\([0-9]*\)}.*/\1/p')
    echo "${_n:-0}"
}

# lock_waiters NAME: requests queued for lock NAME (0 when it is not listed).
lock_waiters() {
    _n=$(list_json |
        sed -n 's/.*{"name":"'"$1"'","holder":\(null\|"[^"]*"\),"token":[0-9]*,"waiters":\([0-9]*\),.*/\2/p')
    echo "${_n:-0}"
}

# lock_token NAME: the token of lock NAME's grant as list shows it (empty when not listed).
lock_token() {
    list_json | sed -n 's/.*{"name":"'"$1"'","holder":\(null\|"[^"]*"\),"token":\([0-9]*\),.*/\2/p'
}

# has_cond_waiters NAME N / has_lock_waiters NAME N: for wait_until.
has_cond_waiters() {
    [ "$(cond_waiters "$1")" = "$2" ]
}

has_lock_waiters() {
    [ "$(lock_waiters "$1")" = "$2" ]
}

# barrier_waiting NAME: waiters of barrier NAME (0 when it is not listed);
# has_barrier_waiting NAME N: for wait_until.
barrier_waiting() {
    _n=$(list_json | sed -n 's/.*{"name":"'"$1"'","parties":[0-9]*,"n_waiting":\([0-9]*\),.*/\1/p')
    echo "${_n:-0}"
}

has_barrier_waiting() {
    [ "$(barrier_waiting "$1")" = "$2" ]
}

# event_waiters NAME: waiters of event NAME (0 when it is not listed).
event_waiters() {
    _n=$(list_json | sed -n 's/.*{"name":"'"$1"'","set":[a-z]*,"waiters":\([0-9]*\)}.*/\1/p')
    echo "${_n:-0}"
}

has_event_waiters() {
    [ "$(event_waiters "$1")" = "$2" ]
}

# is_locked NAME / is_free NAME: for wait_until.
is_locked() {
    "$CONDCTL" locked "$1" >/dev/null 2>&1
}

is_free() {
    "$CONDCTL" locked "$1" >/dev/null 2>&1
    [ $? = 1 ]
}

# nothing_left: nothing listed in the whole server (no lock held or waited for, no condition
# waiter, no semaphore, ...), whatever kinds of object list shows.
nothing_left() {
    case $(list_json) in
    *'"name"'* | *'"truncated":true'*) return 1 ;;
    '{"locks":[],"conditions":[],'*) return 0 ;;
    *) return 1 ;;
    esac
}
