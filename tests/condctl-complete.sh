#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# The bash completion of condctl (completion/condctl.bash), sourced into this bash as a user's
# shell would: COMPREPLY for a command prefix, an option prefix (global and per command), the
# values of options, CMD after `--`, and lock and condition names from a live condd (through
# -s on the line, or CONDD_SERVER); silent and quick when no server answers.
. "$(dirname "$0")/condctl-lib.sh"

# shellcheck source=../completion/condctl.bash
. "$top_srcdir/completion/condctl.bash" || fail "cannot source the completion"
complete -p condctl >/dev/null || fail "the completion is not registered for condctl"

# comp LINE: completes the last word of LINE (LINE ends with a space: an empty word), as
# `condctl` typed at a prompt, with the built condctl as the command word; sets REPLY_STR to
# the sorted candidates, one per line.
comp() {
    local line=$1
    read -r -a COMP_WORDS <<<"$line"
    [[ $line == *' ' ]] && COMP_WORDS+=("")
    COMP_WORDS[0]=$CONDCTL
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    _condctl condctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    REPLY_STR=$(printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort)
}

# expect LINE WANT...: the candidates for LINE are exactly WANT (sorted).
expect() {
    local line=$1
    shift
    comp "$line"
    local want
    want=$(printf '%s\n' "$@" | LC_ALL=C sort)
    [[ $REPLY_STR == "$want" ]] || fail "'$line' completes to [$REPLY_STR], expected [$want]"
}

# has LINE WORD: WORD is among the candidates for LINE; lacks: it is not.
has() {
    comp "$1"
    grep -qxF -- "$2" <<<"$REPLY_STR" || fail "'$1' does not offer '$2' (got [$REPLY_STR])"
}
lacks() {
    comp "$1"
    ! grep -qxF -- "$2" <<<"$REPLY_STR" || fail "'$1' offers '$2' (got [$REPLY_STR])"
}

note "no server: commands and options complete, names quietly give nothing"
CONDD_SERVER=127.0.0.1:1
export CONDD_SERVER
expect "condctl no" notify notify-all
expect "condctl lo" lock locked
expect "condctl " event ping lock sem hold locked wait wait-for notify notify-all list stats barrier \
    break kill-session
has "condctl break x --s" --sem
lacks "condctl lock x --s" --sem
expect "condctl barrier x --r" --reset
has "condctl barrier x -" --parties
expect "condctl event " clear is-set set wait
expect "condctl event i" is-set
expect "condctl event set "
expect "condctl -s 127.0.0.1:1 -T 2 st" stats
expect "condctl --con" --connect-timeout
has "condctl --" --session-timeout
lacks "condctl --" --until-signal
expect "condctl hold x --un" --until-signal
expect "condctl lock x --conf" --conflict-exit-code
expect "condctl sem x --bo" --bounded
has "condctl sem x -" -E
has "condctl lock x -" -E
lacks "condctl hold x -" -E
expect "condctl notify c --co" --connect-timeout --count
expect "condctl -T " 
t0=$(date +%s)
expect "condctl hold "
[ $(($(date +%s) - t0)) -le 3 ] || fail "completing against no server took too long"

note "CMD after -- completes as a command"
has "condctl lock x -- tru" true
expect "condctl ping -- tru"

note "lock and condition names from a live server"
start_daemon
unset CONDD_SERVER
mkfifo "$T/h.in"
SPAWN_IN="$T/h.in" CONDD_SERVER=127.0.0.1:$PORT spawn holder "$CONDCTL" hold deploy-lock
exec 5>"$T/h.in"
wait_until 20 test -s "$T/holder.out" || fail "hold printed no token"
CONDD_SERVER=127.0.0.1:$PORT spawn waiter "$CONDCTL" wait jobs-ready --lock jobs
CONDD_SERVER=127.0.0.1:$PORT wait_until 20 has_cond_waiters jobs-ready 1 ||
    fail "the waiter is not listed"

# The server comes from -s on the line (CONDD_SERVER unset).
expect "condctl -s 127.0.0.1:$PORT hold dep" deploy-lock
expect "condctl --server=127.0.0.1:$PORT locked d" deploy-lock
expect "condctl -s 127.0.0.1:$PORT lock deploy-l" deploy-lock
expect "condctl -s 127.0.0.1:$PORT notify jobs-r" jobs-ready
expect "condctl -s 127.0.0.1:$PORT wait jobs-ready --lock jo" jobs
# ... or from CONDD_SERVER.
CONDD_SERVER=127.0.0.1:$PORT
export CONDD_SERVER
expect "condctl hold dep" deploy-lock
expect "condctl list j" jobs jobs-ready
# Only the first argument is a name; nothing after it.
expect "condctl hold deploy-lock "

run_rc 0 "$CONDCTL" notify jobs-ready --lock jobs
expect_rc waiter 0
exec 5>&-
expect_rc holder 0

note "ok"
