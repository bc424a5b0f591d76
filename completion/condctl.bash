# SPDX-License-Identifier: BSD-2-Clause
#
# bash completion for condctl(1): commands, global and per-command options, and lock and
# condition names from the running server (`condctl list --json` with the -s given on the line,
# else $CONDD_SERVER; at most about a second, silent when no server answers). Installed as
# "condctl" in bash-completion's completions directory, or sourced by hand:
#     . /path/to/condctl.bash
# Works with or without the bash-completion package (its helpers are used when present).

# _condctl_server_args WORD...: prints "-s ADDR" (one per line) for the last -s/--server among
# the words, so that names come from the server the command line talks to.
_condctl_server_args()
{
    local addr= w
    while (($# > 0)); do
        w=$1
        shift
        case $w in
        -s | --server)
            addr=${1-}
            (($# > 0)) && shift
            ;;
        --server=*) addr=${w#--server=} ;;
        -s?*) addr=${w#-s} ;;
        esac
    done
    [[ -n $addr ]] && printf '%s\n' -s "$addr"
    return 0
}

# _condctl_names BIN KIND [WORD...]: the lock names (KIND=locks: listed locks and the locks of
# listed conditions) or every name (all) the server lists, one per line. WORDs are the command
# line so far (for -s). Names holding '"' or '\' (escaped in JSON) are skipped.
_condctl_names()
{
    local bin=$1 kind=$2 json locks conds
    shift 2
    local -a server
    mapfile -t server < <(_condctl_server_args "$@")
    json=$("$bin" "${server[@]}" --connect-timeout 1 -T 1 list --json 2>/dev/null) || return 0
    locks=${json%%\"conditions\":*}
    conds=${json#*\"conditions\":}
    {
        printf '%s\n' "$locks" | grep -o '"name":"[^"\\]*"'
        if [[ $kind == locks ]]; then
            printf '%s\n' "$conds" | grep -o '"lock":"[^"\\]*"'
        else
            printf '%s\n' "$conds" | grep -o '"\(name\|lock\)":"[^"\\]*"'
        fi
    } | sed 's/^"[a-z]*":"\(.*\)"$/\1/' | sort -u
}

_condctl()
{
    local cur prev words cword
    if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
        _get_comp_words_by_ref -n =: cur prev words cword
    else
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
    fi
    local bin=${words[0]:-condctl}
    [[ $bin == condctl || $bin == */* ]] || bin=condctl
    bin=${bin/#\~/$HOME}

    local commands="ping lock sem hold locked wait wait-for notify notify-all list stats event
        barrier break kill-session"
    local global="-s --server -T --timeout --connect-timeout --name --session-timeout --grace
        --token-file --ca --cert --key --json -h --help -V --version"
    local takes_value="-s|--server|-T|--timeout|--connect-timeout|--name|--session-timeout|--grace|--token-file|--ca|--cert|--key|--lock|-n|--count|-k|--kill-after|-E|--conflict-exit-code|-p|--parties"

    # The command (the first word that is neither an option nor an option's value) and `--`.
    local i w cmd= dashdash=0
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ $w == -- ]]; then
            dashdash=$i
            break
        fi
        if [[ $w == -* ]]; then
            [[ $w == @($takes_value) ]] && ((i++))
            continue
        fi
        [[ -z $cmd ]] && cmd=$w
    done

    COMPREPLY=()
    # After `--` of lock / wait-for: CMD and its arguments.
    if ((dashdash > 0)); then
        if [[ $cmd == lock || $cmd == sem || $cmd == wait-for ]]; then
            if declare -F _command_offset >/dev/null 2>&1; then
                _command_offset $((dashdash + 1))
            elif ((cword == dashdash + 1)); then
                mapfile -t COMPREPLY < <(compgen -c -- "$cur")
            else
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            fi
            return 0
        fi
    fi

    local kind=
    case $prev in
    --lock) kind=locks ;;
    --token-file | --ca | --cert | --key)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return 0
        ;;
    -s | --server)
        [[ $cur == /* ]] && mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        [[ $cur == unix:/* ]] && mapfile -t COMPREPLY < <(compgen -P unix: -f -- "${cur#unix:}")
        return 0
        ;;
    -T | --timeout | --connect-timeout | --name | --session-timeout | --grace | -n | --count | -k | \
        --kill-after | -E | --conflict-exit-code | -p | --parties)
        return 0
        ;;
    esac

    if [[ -z $kind && $cur == -* ]]; then
        local opts=$global
        case $cmd in
        lock) opts+=" -S --shared -E --conflict-exit-code -k --kill-after" ;;
        sem) opts+=" -n --count --bounded -E --conflict-exit-code -k --kill-after" ;;
        hold) opts+=" -S --shared --until-signal" ;;
        break) opts+=" --sem" ;;
        barrier) opts+=" -p --parties --reset --abort --state" ;;
        wait | notify-all) opts+=" --lock" ;;
        wait-for) opts+=" --lock -k --kill-after" ;;
        notify) opts+=" --lock -n --count" ;;
        esac
        # shellcheck disable=SC2207
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return 0
    fi

    if [[ -z $kind ]]; then
        if [[ -z $cmd ]]; then
            # shellcheck disable=SC2207
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
            return 0
        fi
        # Only the first argument of a command is a name.
        local nargs=0
        for ((i = 1; i < cword; i++)); do
            w=${words[i]}
            [[ $w == -* ]] && { [[ $w == @($takes_value) ]] && ((i++)); continue; }
            ((nargs++))
        done
        if [[ $cmd == event ]]; then
            # event SUB NAME: the subcommand (event names are not completed)
            # shellcheck disable=SC2207
            ((nargs == 1)) && COMPREPLY=($(compgen -W "set clear is-set wait" -- "$cur"))
            return 0
        fi
        ((nargs == 1)) || return 0
        case $cmd in
        lock | hold | locked | break) kind=locks ;;
        wait | wait-for | notify | notify-all) kind=all ;;
        list | sem) kind=all ;;
        *) return 0 ;;
        esac
    fi

    local name
    while IFS= read -r name; do
        [[ -n $name && $name == "$cur"* ]] && COMPREPLY+=("$name")
    done < <(_condctl_names "$bin" "$kind" "${words[@]:1:cword-1}")
    declare -F __ltrim_colon_completions >/dev/null 2>&1 && __ltrim_colon_completions "$cur"
    return 0
}

complete -F _condctl condctl
